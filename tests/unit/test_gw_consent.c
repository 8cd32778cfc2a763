/* The consent API (gw_consent) against a scratch database, with the guard
 * on: POST /api/v1/consent appends ledger entries (a revoke with a
 * supervisor key, a grant only with an admin key), audited, closing the
 * contacts a revoke leaves with no number on the channels it covers; GET
 * /api/v1/consent/{phone} shows the history and the state per channel,
 * global and per campaign; bad input is a 422 naming the field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_audit.h"
#include "gw_auth.h"
#include "gw_campaigns.h"
#include "gw_consent.h"
#include "gw_dnc.h"
#include "gw_test_support.h"

#define PORT_FIRST 7930
#define PORT_LAST 7949

static int add_guard(ecm_http *h, const gw_app *app)
{
    gw_auth_install(h, app);
    return 0;
}

typedef struct {
    gw_test_api *api;
    char admin[128], supervisor[128], viewer[128];
    char supervisor_id[24];
} fixture;

static void make_key(gw_test_api *t, gw_role role, const char *name, char *key, size_t key_size,
                     char *id, size_t id_size)
{
    volatile sig_atomic_t stop = 0;
    ecm_pg *pg = ecm_pg_new(t->db->dsn, &stop);
    assert_non_null(pg);
    char err[160] = "";
    int rc =
        gw_auth_key_create(pg, name, role, NULL, NULL, id, id_size, key, key_size, err, sizeof err);
    ecm_pg_destroy(pg);
    assert_int_equal(rc, 0);
}

static int setup(void **state)
{
    const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_dnc_register, gw_consent_register,
                                        gw_audit_register,     add_guard,       NULL};
    const gw_app settings = gw_test_settings();
    ecm_test_log_init("test_gw_consent", ECM_LOG_ERROR);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->api = gw_test_api_new("ecm_gw_consent", &settings, PORT_FIRST, PORT_LAST, routes);
    if (f->api) {
        char id[24];
        make_key(f->api, GW_ROLE_ADMIN, "admin", f->admin, sizeof f->admin, id, sizeof id);
        make_key(f->api, GW_ROLE_SUPERVISOR, "supervisor", f->supervisor, sizeof f->supervisor,
                 f->supervisor_id, sizeof f->supervisor_id);
        make_key(f->api, GW_ROLE_VIEWER, "viewer", f->viewer, sizeof f->viewer, id, sizeof id);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gw_test_api_destroy(f->api);
    free(f);
    return 0;
}

/* One request with key and a JSON body (NULL: none). Returns the status;
 * *answer is the JSON answer (NULL when none) for the caller to decref. */
static long call(const fixture *f, const char *key, const char *method, const char *path,
                 const char *body, json_t **answer)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    const char *headers[] = {"Expect:", auth, body ? "Content-Type: application/json" : NULL, NULL};
    ecm_test_http_answer a;
    ecm_test_http_request(&a, f->api->port, method, path, headers, body, body ? strlen(body) : 0,
                          NULL);
    gw_test_log_exchange(method, path, &a);
    *answer = a.len ? json_loads(a.body, 0, NULL) : NULL;
    long status = a.status;
    ecm_test_http_answer_destroy(&a);
    return status;
}

static long status_of(const fixture *f, const char *key, const char *method, const char *path,
                      const char *body)
{
    json_t *a = NULL;
    long st = call(f, key, method, path, body, &a);
    json_decref(a);
    return st;
}

static long long campaign(const fixture *f, int sms)
{
    char body[256];
    if (sms) {
        gw_test_format(body, sizeof body,
                       "{\"name\":\"c\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\"}}");
    } else {
        gw_test_voice_campaign_body(body, sizeof body, "c");
    }
    json_t *a = NULL;
    assert_int_equal(call(f, f->supervisor, "POST", "/api/v1/campaigns", body, &a), 201);
    long long id = gw_test_jint(a, "id");
    json_decref(a);
    ecm_test_pg_exec(f->api->conn, "UPDATE campaigns SET state = 'active' WHERE id = %lld", id);
    return id;
}

static long long contact(const fixture *f, long long cid, const char *phones)
{
    return ecm_test_pg_int(f->api->conn,
                           "INSERT INTO contacts (campaign_id, phones, state) "
                           "VALUES (%lld, '%s', 'pending') RETURNING id",
                           cid, phones);
}

static void expect_contact(const fixture *f, long long id, const char *expected)
{
    char *got = ecm_test_pg_text(f->api->conn,
                                 "SELECT state || '/' || coalesce(outcome, '-') FROM contacts "
                                 "WHERE id = %lld",
                                 id);
    if (strcmp(got, expected) != 0)
        fail_msg("contact %lld: %s, expected %s", id, got, expected);
    free(got);
}

/* "voice sms" states of the list of campaign cid (0: the global one) in a
 * GET /api/v1/consent answer; "" when the list is not shown. */
static void expect_state(const json_t *view, long long cid, const char *expected)
{
    json_t *lists = json_object_get(view, "state"), *l;
    size_t i;
    char got[64] = "";
    json_array_foreach(lists, i, l)
    {
        json_t *c = json_object_get(l, "campaign_id");
        if ((cid == 0 && json_is_null(c)) || (cid > 0 && json_integer_value(c) == cid)) {
            snprintf(got, sizeof got, "%s %s",
                     json_string_value(json_object_get(json_object_get(l, "voice"), "state")),
                     json_string_value(json_object_get(json_object_get(l, "sms"), "state")));
        }
    }
    if (strcmp(got, expected) != 0)
        fail_msg("list %lld: '%s', expected '%s'", cid, got, expected);
}

static void test_consent_entries_history_and_state(void **state)
{
    fixture *f = *state;
    if (!f->api)
        skip();
    long long voice = campaign(f, 0), sms = campaign(f, 1);
    long long kv = contact(f, voice, "{+12125550130}");
    long long ks = contact(f, sms, "{+12125550130}");
    json_t *a = NULL;

    /* A supervisor revokes voice: the voice contact closes, the SMS one stays. */
    assert_int_equal(call(f, f->supervisor, "POST", "/api/v1/consent",
                          "{\"phone\":\"(212) 555-0130\",\"scope\":\"voice\","
                          "\"action\":\"revoke\",\"reason\":\"asked on the phone\"}",
                          &a),
                     201);
    assert_string_equal(gw_test_jstr(a, "phone"), "+12125550130");
    assert_int_equal(gw_test_jint(a, "contacts_closed"), 1);
    long long first = gw_test_jint(a, "entry_id");
    json_decref(a);
    expect_contact(f, kv, "closed/DNC");
    expect_contact(f, ks, "pending/-");

    assert_int_equal(call(f, f->viewer, "GET", "/api/v1/consent/212-555-0130", NULL, &a), 200);
    assert_string_equal(gw_test_jstr(a, "phone_key"), "12125550130");
    json_t *h = json_object_get(a, "history");
    assert_int_equal(json_array_size(h), 1);
    json_t *e = json_array_get(h, 0);
    assert_int_equal(gw_test_jint(e, "id"), first);
    assert_string_equal(gw_test_jstr(e, "action"), "revoke");
    assert_string_equal(gw_test_jstr(e, "scope"), "voice");
    assert_string_equal(gw_test_jstr(e, "source"), "api");
    assert_string_equal(gw_test_jstr(e, "actor"), f->supervisor_id);
    assert_string_equal(gw_test_jstr(e, "reason"), "asked on the phone");
    expect_state(a, 0, "revoked granted");
    json_decref(a);

    /* A grant takes an admin key. */
    static const char GRANT[] =
        "{\"phone\":\"+12125550130\",\"scope\":\"all\",\"action\":\"grant\"}";
    assert_int_equal(status_of(f, f->supervisor, "POST", "/api/v1/consent", GRANT), 403);
    assert_int_equal(status_of(f, f->viewer, "POST", "/api/v1/consent",
                               "{\"phone\":\"+12125550130\",\"scope\":\"all\","
                               "\"action\":\"revoke\"}"),
                     403);
    assert_int_equal(status_of(f, f->admin, "POST", "/api/v1/consent", GRANT), 201);
    /* The campaign's list: SMS revoked on the SMS campaign only. */
    char body[160];
    gw_test_format(body, sizeof body,
                   "{\"phone\":\"+12125550130\",\"scope\":\"sms\",\"action\":\"revoke\","
                   "\"campaign_id\":%lld}",
                   sms);
    assert_int_equal(call(f, f->supervisor, "POST", "/api/v1/consent", body, &a), 201);
    assert_int_equal(gw_test_jint(a, "contacts_closed"), 1);
    json_decref(a);
    expect_contact(f, ks, "closed/DNC");

    assert_int_equal(call(f, f->viewer, "GET", "/api/v1/consent/%2B12125550130", NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "history")), 3);
    expect_state(a, 0, "granted granted");
    expect_state(a, sms, "granted revoked");
    expect_state(a, voice, "");
    json_decref(a);
    /* The DNC routes show the same state. */
    assert_int_equal(status_of(f, f->viewer, "GET", "/api/v1/dnc/%2B12125550130", NULL), 404);
    char path[96];
    gw_test_format(path, sizeof path, "/api/v1/campaigns/%lld/dnc/%%2B12125550130", sms);
    assert_int_equal(call(f, f->viewer, "GET", path, NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "channels")), 1);
    json_decref(a);

    /* Each entry is audited. */
    assert_int_equal(ecm_test_pg_int(f->api->conn,
                                     "SELECT count(*) FROM audit_log WHERE resource = "
                                     "'consent/+12125550130' AND action = 'consent.revoke'"),
                     2);
    assert_int_equal(ecm_test_pg_int(f->api->conn,
                                     "SELECT count(*) FROM audit_log WHERE resource = "
                                     "'consent/+12125550130' AND action = 'consent.grant'"),
                     1);
    /* A number never seen: granted everywhere, no history. */
    assert_int_equal(call(f, f->viewer, "GET", "/api/v1/consent/%2B12125550139", NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "history")), 0);
    expect_state(a, 0, "granted granted");
    json_decref(a);
    assert_int_equal(status_of(f, f->viewer, "GET", "/api/v1/consent/not-a-number", NULL), 404);
}

static void test_consent_bad_input_names_the_field(void **state)
{
    fixture *f = *state;
    if (!f->api)
        skip();
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"scope\":\"all\",\"action\":\"revoke\"}", "phone"},
        {"{\"phone\":\"nope\",\"scope\":\"all\",\"action\":\"revoke\"}", "phone"},
        {"{\"phone\":\"+12125550131\",\"action\":\"revoke\"}", "scope"},
        {"{\"phone\":\"+12125550131\",\"scope\":\"fax\",\"action\":\"revoke\"}", "scope"},
        {"{\"phone\":\"+12125550131\",\"scope\":\"all\"}", "action"},
        {"{\"phone\":\"+12125550131\",\"scope\":\"all\",\"action\":\"delete\"}", "action"},
        {"{\"phone\":\"+12125550131\",\"scope\":\"all\",\"action\":\"revoke\",\"reason\":7}",
         "reason"},
        {"{\"phone\":\"+12125550131\",\"scope\":\"all\",\"action\":\"revoke\","
         "\"campaign_id\":\"x\"}",
         "campaign_id"},
        {"{\"phone\":\"+12125550131\",\"scope\":\"all\",\"action\":\"revoke\","
         "\"campaign_id\":999999}",
         "campaign_id"},
        {"{\"phone\":\"+12125550131\",\"scope\":\"all\",\"action\":\"revoke\","
         "\"region\":\"XX\"}",
         "region"},
        {"{\"phone\":\"+12125550131\",\"scope\":\"all\",\"action\":\"revoke\",\"colour\":1}",
         "body"},
        {"[1]", "body"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *a = NULL;
        long st = call(f, f->admin, "POST", "/api/v1/consent", bad[i].body, &a);
        const char *detail = json_string_value(json_object_get(a, "detail"));
        if (st != 422 || !detail || strncmp(detail, bad[i].field, strlen(bad[i].field)) != 0)
            fail_msg("POST %s: %ld %s", bad[i].body, st, detail ? detail : "");
        json_decref(a);
    }
    assert_int_equal(status_of(f, f->admin, "POST", "/api/v1/consent", "{not json"), 400);
    assert_int_equal(
        ecm_test_pg_int(f->api->conn,
                        "SELECT count(*) FROM consent_ledger WHERE phone_key = '12125550131'"),
        0);
    /* A number written the way its region writes it. */
    assert_int_equal(status_of(f, f->supervisor, "POST", "/api/v1/consent",
                               "{\"phone\":\"020 7946 0958\",\"region\":\"gb\",\"scope\":\"sms\","
                               "\"action\":\"revoke\"}"),
                     201);
    assert_int_equal(ecm_test_pg_int(f->api->conn, "SELECT count(*) FROM dnc WHERE phone = "
                                                   "'+442079460958' AND channel = 'sms'"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consent_entries_history_and_state),
        cmocka_unit_test(test_consent_bad_input_names_the_field),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* gw_dnc and lib/ecm_dnc: numbers normalised to E.164 in the list's region;
 * and, with ECM_TEST_PG_DSN, the DNC API against a scratch database: the
 * global list and a campaign's, add / read / list / remove, and an added
 * number closing at once the open contacts it leaves with no number to
 * call, each with a ContactClosed in the outbox. */
#include <jansson.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_dnc.h"
#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"
#include "gw_campaigns.h"
#include "gw_dnc.h"
#include "gw_test_support.h"

/* This test's ports (gwapi's range 7600-7699). */
#define PORT_FIRST 7650
#define PORT_LAST 7669

/* ---- numbers -------------------------------------------------------------- */

static void test_dnc_numbers_are_normalised_in_the_region(void **state)
{
    (void)state;
    char e164[32], reason[80];
    assert_int_equal(
        gw_dnc_normalize("(212) 555-0100", "US", e164, sizeof(e164), reason, sizeof(reason)), 0);
    assert_string_equal(e164, "+12125550100");
    assert_int_equal(
        gw_dnc_normalize("+1 212.555.0100", "GB", e164, sizeof(e164), reason, sizeof(reason)), 0);
    assert_string_equal(e164, "+12125550100");
    assert_int_equal(
        gw_dnc_normalize("020 7946 0958", "GB", e164, sizeof(e164), reason, sizeof(reason)), 0);
    assert_string_equal(e164, "+442079460958");
    assert_int_equal(
        gw_dnc_normalize("00 33 1 42 68 53 00", "FR", e164, sizeof(e164), reason, sizeof(reason)),
        0);
    assert_string_equal(e164, "+33142685300");

    assert_int_equal(
        gw_dnc_normalize("212 555 O1OO", "US", e164, sizeof(e164), reason, sizeof(reason)), -1);
    assert_non_null(strstr(reason, "letters"));
    assert_string_equal(e164, "");
    assert_int_equal(gw_dnc_normalize("12345", "US", e164, sizeof(e164), reason, sizeof(reason)),
                     -1);
    assert_int_equal(gw_dnc_normalize(NULL, "US", e164, sizeof(e164), reason, sizeof(reason)), -1);
    /* Too small an output is a failure, never a cut number. */
    assert_int_equal(gw_dnc_normalize("(212) 555-0100", "US", e164, 8, reason, sizeof(reason)), -1);
}

static void test_dnc_phone_key_is_the_digits(void **state)
{
    (void)state;
    char key[16];
    assert_int_equal(ecm_dnc_phone_key("+12125550100", key, sizeof(key)), 0);
    assert_string_equal(key, "12125550100");
    assert_int_equal(ecm_dnc_phone_key("+1 (212) 555-0100", key, sizeof(key)), 0);
    assert_string_equal(key, "12125550100");
    assert_int_equal(ecm_dnc_phone_key("+()", key, sizeof(key)), -1);
    assert_int_equal(ecm_dnc_phone_key("+12125550100", key, 5), -1);
    assert_string_equal(key, "");
}

/* ---- the API -------------------------------------------------------------- */

typedef gw_test_api fixture;

static int group_setup(void **state)
{
    ecm_test_log_init("test_gw_dnc", ECM_LOG_ERROR);
    gw_app settings = gw_test_settings();
    static const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_dnc_register, NULL};
    *state = gw_test_api_new("ecm_gwapi_dnc", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

static long long campaign(const fixture *f, const char *region, const char *state)
{
    char body[256];
    gw_test_format(body, sizeof(body),
                   "{\"name\":\"dnc\",\"channel\":\"sms\",\"region\":\"%s\","
                   "\"sms\":{\"template\":\"Hi\"}}",
                   region);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/campaigns", body, &a), 201);
    long long id = gw_test_jint(a, "id");
    json_decref(a);
    ecm_test_pg_exec(f->conn, "UPDATE campaigns SET state = '%s' WHERE id = %lld", state, id);
    return id;
}

/* A contact of campaign cid with phones (a PG array literal) in state. */
static long long contact(const fixture *f, long long cid, const char *phones, const char *state)
{
    return ecm_test_pg_int(f->conn,
                           "INSERT INTO contacts (campaign_id, phones, state, outcome) "
                           "VALUES (%lld, '%s', '%s', %s) RETURNING id",
                           cid, phones, state,
                           strcmp(state, "closed") == 0 ? "'CONNECTED'" : "NULL");
}

static char *contact_state(const fixture *f, long long id)
{
    return ecm_test_pg_text(f->conn,
                            "SELECT state || '/' || coalesce(outcome, '-') "
                            "FROM contacts WHERE id = %lld",
                            id);
}

static void expect_contact(const fixture *f, long long id, const char *expected)
{
    char *got = contact_state(f, id);
    if (strcmp(got, expected) != 0) {
        fail_msg("contact %lld: %s, expected %s", id, got, expected);
    }
    free(got);
}

static void test_api_dnc_global_add_read_list_remove(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = NULL;
    char location[128];
    assert_int_equal(gw_test_send(f, "POST", "/api/v1/dnc", "application/json",
                                  "{\"phone\":\"(212) 555-0100\",\"reason\":"
                                  "\"asked on the phone\"}",
                                  &a, location, sizeof(location)),
                     201);
    assert_string_equal(gw_test_jstr(a, "phone"), "+12125550100");
    assert_true(json_is_null(json_object_get(a, "campaign_id")));
    assert_string_equal(gw_test_jstr(a, "source"), "api");
    assert_int_equal(gw_test_jint(a, "contacts_closed"), 0);
    assert_int_equal(json_array_size(json_object_get(a, "channels")), 2);
    long long id = gw_test_jint(a, "id");
    json_decref(a);
    assert_string_equal(location, "/api/v1/dnc/%2B12125550100");
    /* One revoke in the ledger, derived into a row per channel. */
    assert_int_equal(ecm_test_pg_int(f->conn, "SELECT count(*) FROM dnc WHERE phone = "
                                              "'+12125550100' AND phone_key = '12125550100'"),
                     2);
    assert_int_equal(ecm_test_pg_int(f->conn, "SELECT count(*) FROM consent_ledger WHERE "
                                              "phone_key = '12125550100' AND action = 'revoke' "
                                              "AND scope = 'all' AND source = 'api'"),
                     1);
    /* The same number written another way is the same entry. */
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc", "{\"phone\":\"+1 212 555 0100\"}", &a),
                     200);
    assert_int_equal(gw_test_jint(a, "id"), id);
    json_decref(a);
    /* Read it by its Location, or as a person writes it. */
    assert_int_equal(gw_test_call(f, "GET", location, NULL, &a), 200);
    assert_string_equal(gw_test_jstr(a, "reason"), "asked on the phone");
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/dnc/212-555-0100", NULL, &a), 200);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/dnc?phone=%2B12125550100", NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "items")), 1);
    json_decref(a);

    /* Refusals. */
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"phone\":\"nope\"}", "phone"},
        {"{\"phone\":\"212 555 O1OO\"}", "phone"},
        {"{\"phone\":\"2079460958\",\"region\":\"XX\"}", "region"},
        {"{}", "phone"},
        {"{\"phone\":\"+12125550100\",\"colour\":1}", "body"},
        {"{\"phone\":\"+12125550100\",\"reason\":7}", "reason"},
        {"{\"phone\":\"+12125550100\",\"campaign_id\":\"x\"}", "campaign_id"},
        {"[1]", "body"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long st = gw_test_call(f, "POST", "/api/v1/dnc", bad[i].body, &a);
        const char *detail = json_string_value(json_object_get(a, "detail"));
        if (st != 400 || !detail || strncmp(detail, bad[i].field, strlen(bad[i].field)) != 0) {
            fail_msg("POST %s: %ld %s", bad[i].body, st, detail ? detail : "");
        }
        json_decref(a);
    }
    /* A region for a number written the way its country writes it. */
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc",
                                  "{\"phone\":\"020 7946 0958\",\"region\":\"gb\"}", &a),
                     201);
    assert_string_equal(gw_test_jstr(a, "phone"), "+442079460958");
    json_decref(a);

    assert_int_equal(gw_test_call(f, "DELETE", "/api/v1/dnc/%2B12125550100", NULL, &a), 204);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "DELETE", "/api/v1/dnc/%2B12125550100", NULL, &a), 404);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/dnc/%2B12125550100", NULL, &a), 404);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "DELETE", "/api/v1/dnc/%2B442079460958", NULL, &a), 204);
    json_decref(a);
    assert_int_equal(ecm_test_pg_int(f->conn, "SELECT count(*) FROM dnc"), 0);
}

static void test_api_dnc_campaign_list_reads_numbers_in_its_region(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long gb = campaign(f, "GB", "draft");
    char path[128], one[160];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/dnc", gb);
    json_t *a = NULL;
    char location[128];
    assert_int_equal(gw_test_send(f, "POST", path, "application/json",
                                  "{\"phone\":\"020 7946 0958\"}", &a, location, sizeof(location)),
                     201);
    assert_string_equal(gw_test_jstr(a, "phone"), "+442079460958");
    assert_int_equal(gw_test_jint(a, "campaign_id"), gb);
    json_decref(a);
    gw_test_format(one, sizeof(one), "/api/v1/campaigns/%lld/dnc/%%2B442079460958", gb);
    assert_string_equal(location, one);
    /* The global list goes on too, and is another list. */
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc", "{\"phone\":\"+442079460958\"}", &a),
                     201);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc", "{\"phone\":\"+12125550111\"}", &a),
                     201);
    json_decref(a);

    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "items")), 1);
    assert_int_equal(gw_test_jint(json_array_get(json_object_get(a, "items"), 0), "campaign_id"),
                     gb);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/dnc", NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "items")), 2);
    json_decref(a);
    assert_int_equal(
        gw_test_call(f, "GET", "/api/v1/dnc?scope=all&phone=%2B442079460958", NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "items")), 2);
    json_decref(a);
    /* Paged by cursor: one at a time through the global list. */
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/dnc?limit=1", NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "items")), 1);
    char next[128];
    gw_test_format(next, sizeof(next), "/api/v1/dnc?limit=1&cursor=%s",
                   gw_test_jstr(a, "next_cursor"));
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", next, NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "items")), 1);
    assert_true(json_is_null(json_object_get(a, "next_cursor")));
    json_decref(a);

    /* Read and removed as the campaign's country writes it. */
    gw_test_format(one, sizeof(one), "/api/v1/campaigns/%lld/dnc/020%%207946%%200958", gb);
    assert_int_equal(gw_test_call(f, "GET", one, NULL, &a), 200);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "DELETE", one, NULL, &a), 204);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "DELETE", one, NULL, &a), 404);
    json_decref(a);
    /* The global entry stays. */
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/dnc/%2B442079460958", NULL, &a), 200);
    json_decref(a);

    assert_int_equal(
        gw_test_call(f, "POST", "/api/v1/campaigns/999999/dnc", "{\"phone\":\"+12125550100\"}", &a),
        404);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/campaigns/999999/dnc", NULL, &a), 404);
    json_decref(a);
    /* campaign_id is the path's on these routes. */
    assert_int_equal(
        gw_test_call(f, "POST", path, "{\"phone\":\"+12125550100\",\"campaign_id\":1}", &a), 400);
    json_decref(a);
    ecm_test_pg_exec(f->conn, "TRUNCATE dnc, consent_ledger");
}

/* The ContactClosed events in the outbox for contact id. */
static long long closed_events(const fixture *f, long long id)
{
    return ecm_test_pg_int(f->conn,
                           "SELECT count(*) FROM outbox WHERE msg_key = '%lld' "
                           "AND topic = 'contacts.closed' AND ce_type = 'ecm.v1.ContactClosed'",
                           id);
}

static void test_api_dnc_add_closes_contacts_left_without_a_number(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long ca = campaign(f, "US", "active");
    long long cb = campaign(f, "US", "paused");
    long long cc = campaign(f, "US", "stopped");
    long long only = contact(f, ca, "{+12125550100}", "pending");
    long long two = contact(f, ca, "{+12125550100,+12125550101}", "waiting");
    long long out = contact(f, ca, "{+12125550100}", "dispatched");
    long long done = contact(f, ca, "{+12125550100}", "closed");
    long long other = contact(f, ca, "{+12125550199}", "pending");
    long long queued_b = contact(f, cb, "{+12125550100}", "queued");
    long long due_b = contact(f, cb, "{+12125550100}", "retry_due");
    long long stopped = contact(f, cc, "{+12125550100}", "pending");

    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc", "{\"phone\":\"(212) 555-0100\"}", &a),
                     201);
    assert_int_equal(gw_test_jint(a, "contacts_closed"), 3);
    json_decref(a);
    expect_contact(f, only, "closed/DNC");
    expect_contact(f, queued_b, "closed/DNC");
    expect_contact(f, due_b, "closed/DNC");
    expect_contact(f, two, "waiting/-");    /* its second number is callable */
    expect_contact(f, out, "dispatched/-"); /* the dispatcher checks before the next one */
    expect_contact(f, done, "closed/CONNECTED");
    expect_contact(f, other, "pending/-");
    expect_contact(f, stopped, "pending/-"); /* a finished campaign calls nobody */
    assert_int_equal(ecm_test_pg_int(f->conn,
                                     "SELECT count(*) FROM contacts WHERE id = %lld "
                                     "AND closed_at IS NOT NULL AND next_attempt_at IS NULL",
                                     only),
                     1);
    assert_int_equal(closed_events(f, only), 1);
    assert_int_equal(closed_events(f, queued_b), 1);
    assert_int_equal(closed_events(f, two), 0);
    assert_int_equal(closed_events(f, out), 0);

    /* The event says what happened to whom. */
    char *hex = ecm_test_pg_text(f->conn,
                                 "SELECT encode(payload, 'hex') FROM outbox WHERE msg_key = '%lld' "
                                 "AND topic = 'contacts.closed'",
                                 only);
    size_t n = strlen(hex) / 2;
    uint8_t *bytes = malloc(n);
    assert_non_null(bytes);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        bytes[i] = (uint8_t)v;
    }
    Ecm__V1__ContactClosed *ev = ecm__v1__contact_closed__unpack(NULL, n, bytes);
    assert_non_null(ev);
    assert_int_equal(ev->contact_id, only);
    assert_int_equal(ev->campaign_id, ca);
    assert_int_equal(ev->outcome, ECM__V1__OUTCOME__OUTCOME_DNC);
    assert_true(ev->event_id[0] != '\0');
    ecm__v1__contact_closed__free_unpacked(ev, NULL);
    free(bytes);
    free(hex);

    /* The second number on the campaign's own list closes the last one. */
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/dnc", ca);
    assert_int_equal(gw_test_call(f, "POST", path, "{\"phone\":\"212-555-0101\"}", &a), 201);
    assert_int_equal(gw_test_jint(a, "contacts_closed"), 1);
    json_decref(a);
    expect_contact(f, two, "closed/DNC");
    assert_int_equal(closed_events(f, two), 1);

    /* A campaign's entry touches no other campaign. */
    long long a_shared = contact(f, ca, "{+12125550102}", "pending");
    long long b_shared = contact(f, cb, "{+12125550102}", "pending");
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/dnc", cb);
    assert_int_equal(gw_test_call(f, "POST", path, "{\"phone\":\"+12125550102\"}", &a), 201);
    assert_int_equal(gw_test_jint(a, "contacts_closed"), 1);
    json_decref(a);
    expect_contact(f, b_shared, "closed/DNC");
    expect_contact(f, a_shared, "pending/-");

    /* Adding again closes nothing more and writes no event twice. */
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/dnc", "{\"phone\":\"+12125550100\"}", &a),
                     200);
    assert_int_equal(gw_test_jint(a, "contacts_closed"), 0);
    json_decref(a);
    assert_int_equal(closed_events(f, only), 1);

    /* Removing an entry reopens nobody. */
    assert_int_equal(gw_test_call(f, "DELETE", "/api/v1/dnc/%2B12125550100", NULL, &a), 204);
    json_decref(a);
    expect_contact(f, only, "closed/DNC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dnc_numbers_are_normalised_in_the_region),
        cmocka_unit_test(test_dnc_phone_key_is_the_digits),
        cmocka_unit_test(test_api_dnc_global_add_read_list_remove),
        cmocka_unit_test(test_api_dnc_campaign_list_reads_numbers_in_its_region),
        cmocka_unit_test(test_api_dnc_add_closes_contacts_left_without_a_number),
    };
    return cmocka_run_group_tests(tests, group_setup, gw_test_api_teardown);
}

/* API keys, roles and the audit log (gw_auth, gw_keys, gw_audit) against a
 * scratch database, through the gateway's HTTP routes with the guard on. */
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
#include "gw_keys.h"
#include "gw_test_support.h"

#define PORT_FIRST 7690
#define PORT_LAST 7709

static int add_guard(ecm_http *h, const gw_app *app)
{
    gw_auth_install(h, app);
    return 0;
}

/* A key made the way the command line makes it, straight on the database. */
static void make_key(gw_test_api *t, gw_role role, const char *name, const char *expires, char *key,
                     size_t key_size)
{
    volatile sig_atomic_t stop = 0;
    ecm_pg *pg = ecm_pg_new(t->db->dsn, &stop);
    assert_non_null(pg);
    char id[24], err[160] = "";
    int rc = gw_auth_key_create(pg, name, role, expires, NULL, id, sizeof id, key, key_size, err,
                                sizeof err);
    ecm_pg_destroy(pg);
    assert_int_equal(rc, 0);
}

typedef struct {
    gw_test_api *api;
    char admin[128], supervisor[128], viewer[128];
} fixture;

static int setup(void **state)
{
    const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_keys_register, gw_audit_register,
                                        add_guard, NULL};
    const gw_app settings = gw_test_settings();
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->api = gw_test_api_new("ecm_gw_auth", &settings, PORT_FIRST, PORT_LAST, routes);
    if (f->api) {
        make_key(f->api, GW_ROLE_ADMIN, "admin", NULL, f->admin, sizeof f->admin);
        make_key(f->api, GW_ROLE_SUPERVISOR, "supervisor", NULL, f->supervisor,
                 sizeof f->supervisor);
        make_key(f->api, GW_ROLE_VIEWER, "viewer", NULL, f->viewer, sizeof f->viewer);
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

/* One request with key (NULL: no Authorization) and content type (NULL:
 * none). Returns the status; *answer as gw_test_send. */
static long call(const fixture *f, const char *key, const char *method, const char *path,
                 const char *content_type, const char *body, json_t **answer)
{
    char auth[200], ct[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "");
    const char *headers[4] = {"Expect:"};
    int n = 1;
    if (key) {
        headers[n++] = auth;
    }
    if (content_type) {
        headers[n++] = ct;
    }
    headers[n] = NULL;
    ecm_test_http_answer a;
    ecm_test_http_request(&a, f->api->port, method, path, headers, body, body ? strlen(body) : 0,
                          NULL);
    gw_test_log_exchange(method, path, &a);
    *answer = a.len ? json_loads(a.body, 0, NULL) : NULL;
    long status = a.status;
    ecm_test_http_answer_destroy(&a);
    return status;
}

/* The status alone; the answer is checked to be problem+json when >= 400. */
static long status_of(const fixture *f, const char *key, const char *method, const char *path,
                      const char *content_type, const char *body)
{
    json_t *answer = NULL;
    long status = call(f, key, method, path, content_type, body, &answer);
    if (status >= 400) {
        assert_non_null(answer);
        assert_non_null(json_string_value(json_object_get(answer, "type")));
        assert_int_equal(json_integer_value(json_object_get(answer, "status")), status);
    }
    json_decref(answer);
    return status;
}

static long long count(const fixture *f, const char *sql)
{
    return ecm_test_pg_int(f->api->conn, "%s", sql);
}

static const char *campaign_body = "{\"name\": \"auth\", \"channel\": \"voice_ivr\", "
                                   "\"cisco\": {\"kind\": \"uccx\", \"campaign_id\": \"7\"}}";

static void test_a_request_without_a_valid_key_is_401_and_changes_nothing(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    char wrong[128];
    snprintf(wrong, sizeof wrong, "%s", f->admin);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == '0' ? '1' : '0'; /* the secret */
    char unknown[128];
    snprintf(unknown, sizeof unknown, "%s", f->admin);
    unknown[4] = unknown[4] == '0' ? '1' : '0'; /* the id */
    const char *bad[] = {NULL, "", "nope", wrong, unknown, "ecm_0123_abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *answer = NULL;
        assert_int_equal(call(f, bad[i], "POST", "/api/v1/campaigns", "application/json",
                              campaign_body, &answer),
                         401);
        /* One answer for every reason: nothing tells a wrong secret from
         * an unknown id. */
        assert_string_equal(gw_test_jstr(answer, "detail"),
                            "sign in (POST /api/v1/session) or send a valid API key: "
                            "Authorization: Bearer ecm_...");
        json_decref(answer);
        assert_int_equal(status_of(f, bad[i], "GET", "/api/v1/campaigns", NULL, NULL), 401);
    }
    assert_int_equal(count(f, "SELECT count(*) FROM campaigns"), 0);
    assert_int_equal(count(f, "SELECT count(*) FROM audit_log"), 0);
}

static void test_roles_decide_what_a_key_may_do(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    /* viewer reads, may not change */
    assert_int_equal(status_of(f, f->viewer, "GET", "/api/v1/campaigns", NULL, NULL), 200);
    json_t *answer = NULL;
    assert_int_equal(
        call(f, f->viewer, "POST", "/api/v1/campaigns", "application/json", campaign_body, &answer),
        403);
    assert_string_equal(gw_test_jstr(answer, "type"), "https://ecm.dev/problems/forbidden");
    assert_non_null(strstr(gw_test_jstr(answer, "detail"), "supervisor"));
    json_decref(answer);
    /* supervisor changes campaigns but does not manage keys */
    assert_int_equal(
        status_of(f, f->supervisor, "POST", "/api/v1/campaigns", "application/json", campaign_body),
        201);
    assert_int_equal(status_of(f, f->supervisor, "GET", "/api/v1/keys", NULL, NULL), 403);
    assert_int_equal(status_of(f, f->supervisor, "GET", "/api/v1/audit", NULL, NULL), 403);
    /* admin does all */
    assert_int_equal(status_of(f, f->admin, "GET", "/api/v1/keys", NULL, NULL), 200);
    assert_int_equal(status_of(f, f->admin, "GET", "/api/v1/audit", NULL, NULL), 200);
    assert_int_equal(count(f, "SELECT count(*) FROM campaigns"), 1);
}

static void test_a_json_route_takes_only_application_json(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    /* What an HTML form of another site can send: refused before the
     * handler, nothing created. */
    const char *form_types[] = {"text/plain", "application/x-www-form-urlencoded",
                                "multipart/form-data; boundary=x", "application/jsonx"};
    for (size_t i = 0; i < sizeof form_types / sizeof form_types[0]; i++) {
        assert_int_equal(
            status_of(f, f->admin, "POST", "/api/v1/campaigns", form_types[i], campaign_body), 415);
    }
    assert_int_equal(status_of(f, f->admin, "POST", "/api/v1/campaigns", NULL, campaign_body), 415);
    assert_int_equal(count(f, "SELECT count(*) FROM campaigns"), 0);
    assert_int_equal(status_of(f, f->admin, "POST", "/api/v1/campaigns",
                               "Application/JSON; charset=utf-8", campaign_body),
                     201);
}

static void test_keys_are_made_shown_once_and_revoked_with_audit_rows(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    json_t *answer = NULL;
    assert_int_equal(call(f, f->admin, "POST", "/api/v1/keys", "application/json",
                          "{\"name\": \"robot\", \"role\": \"viewer\"}", &answer),
                     201);
    char key[128], id[24];
    snprintf(key, sizeof key, "%s", gw_test_jstr(answer, "key"));
    snprintf(id, sizeof id, "%s", gw_test_jstr(answer, "id"));
    assert_string_equal(gw_test_jstr(answer, "role"), "viewer");
    assert_int_equal(strlen(key), 4 + 16 + 1 + 64);
    json_decref(answer);
    /* stored only as a hash; the new key works and its last use is kept */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM api_keys WHERE id = '%s' AND last_used_at IS NULL "
             "AND position('%s' in encode(secret_sha256, 'hex')) = 0",
             id, key + 21);
    assert_int_equal(count(f, sql), 1);
    assert_int_equal(status_of(f, key, "GET", "/api/v1/campaigns", NULL, NULL), 200);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM api_keys WHERE id = '%s' AND last_used_at IS NOT NULL", id);
    assert_int_equal(count(f, sql), 1);
    /* the key is never shown again */
    char path[64];
    snprintf(path, sizeof path, "/api/v1/keys/%s", id);
    assert_int_equal(call(f, f->admin, "GET", path, NULL, NULL, &answer), 200);
    assert_null(json_object_get(answer, "key"));
    assert_string_equal(gw_test_jstr(answer, "state"), "active");
    json_decref(answer);
    /* revoked: the same 401 as any bad key */
    assert_int_equal(status_of(f, f->admin, "DELETE", path, NULL, NULL), 204);
    assert_int_equal(status_of(f, key, "GET", "/api/v1/campaigns", NULL, NULL), 401);
    assert_int_equal(call(f, f->admin, "GET", path, NULL, NULL, &answer), 200);
    assert_string_equal(gw_test_jstr(answer, "state"), "revoked");
    json_decref(answer);
    /* one audit row each, naming the admin key that did it */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit_log WHERE resource = 'key/%s' AND actor_kind = 'key' "
             "AND role = 'admin' AND action IN ('key.create', 'key.revoke') "
             "AND route IN ('/api/v1/keys', '/api/v1/keys/{}')",
             id);
    assert_int_equal(count(f, sql), 2);
    assert_int_equal(count(f, "SELECT count(*) FROM audit_log"), 2);
    /* an admin key cannot revoke itself (and lock everyone out) */
    char self[64];
    snprintf(self, sizeof self, "/api/v1/keys/%.16s", f->admin + 4);
    assert_int_equal(status_of(f, f->admin, "DELETE", self, NULL, NULL), 409);
}

static void test_an_expired_key_is_refused(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    char key[128];
    make_key(f->api, GW_ROLE_ADMIN, "old", "2020-01-01T00:00:00Z", key, sizeof key);
    assert_int_equal(status_of(f, key, "GET", "/api/v1/campaigns", NULL, NULL), 401);
    make_key(f->api, GW_ROLE_ADMIN, "later", "2999-01-01T00:00:00Z", key, sizeof key);
    assert_int_equal(status_of(f, key, "GET", "/api/v1/campaigns", NULL, NULL), 200);
    /* a bad key body is a 400 and makes no key */
    const char *bad[] = {"{\"name\": \"x\", \"role\": \"root\"}", "{\"role\": \"viewer\"}",
                         "{\"name\": \"x\", \"role\": \"viewer\", \"expires_at\": \"soon\"}",
                         "{\"name\": \"x\", \"role\": \"viewer\", \"scope\": 1}"};
    long long keys = count(f, "SELECT count(*) FROM api_keys");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(status_of(f, f->admin, "POST", "/api/v1/keys", "application/json", bad[i]),
                         400);
    }
    assert_int_equal(count(f, "SELECT count(*) FROM api_keys"), keys);
}

static void test_the_audit_log_cannot_be_changed(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f->api)) {
        return;
    }
    assert_int_equal(status_of(f, f->admin, "POST", "/api/v1/keys", "application/json",
                               "{\"name\": \"a\", \"role\": \"viewer\"}"),
                     201);
    const char *refused[] = {"UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log",
                             "TRUNCATE audit_log"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        PGresult *r = PQexec(f->api->conn, refused[i]);
        assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
        assert_non_null(strstr(PQresultErrorMessage(r), "append-only"));
        PQclear(r);
    }
    assert_int_equal(count(f, "SELECT count(*) FROM audit_log WHERE action = 'key.create'"), 1);
    /* and reads back through the API, filtered */
    json_t *answer = NULL;
    assert_int_equal(
        call(f, f->admin, "GET", "/api/v1/audit?action=key.create", NULL, NULL, &answer), 200);
    json_t *items = json_object_get(answer, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *actor = json_object_get(json_array_get(items, 0), "actor");
    assert_string_equal(gw_test_jstr(actor, "name"), "admin");
    json_decref(answer);
    assert_int_equal(status_of(f, f->admin, "GET", "/api/v1/audit?since=yesterday-ish", NULL, NULL),
                     400);
}

static void test_every_route_needs_a_known_role(void **state)
{
    (void)state;
    int json = 0;
    assert_int_equal(gw_auth_route_role("GET", "/api/v1/openapi.yaml", &json), GW_ROLE_NONE);
    assert_int_equal(gw_auth_route_role("DELETE", "/api/v1/dnc/{}", &json), GW_ROLE_ADMIN);
    assert_int_equal(gw_auth_route_role("POST", "/api/v1/dnc", &json), GW_ROLE_SUPERVISOR);
    assert_int_equal(json, 1);
    assert_int_equal(gw_auth_route_role("POST", "/api/v1/campaigns/{}/uploads", &json),
                     GW_ROLE_SUPERVISOR);
    assert_int_equal(json, 0);
    /* a route missing from the table is for admins only */
    assert_int_equal(gw_auth_route_role("POST", "/api/v1/new-thing", &json), GW_ROLE_ADMIN);
    char id[17];
    unsigned char digest[32];
    assert_int_equal(gw_auth_key_parse("ecm_0123456789abcdef_" /* 64 hex */
                                       "0123456789abcdef0123456789abcdef"
                                       "0123456789abcdef0123456789abcdef",
                                       id, digest),
                     0);
    assert_string_equal(id, "0123456789abcdef");
    assert_int_equal(gw_auth_key_parse("ecm_0123456789ABCDEF_"
                                       "0123456789abcdef0123456789abcdef"
                                       "0123456789abcdef0123456789abcdef",
                                       id, digest),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_needs_a_known_role),
        cmocka_unit_test_setup_teardown(
            test_a_request_without_a_valid_key_is_401_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles_decide_what_a_key_may_do, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_json_route_takes_only_application_json, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keys_are_made_shown_once_and_revoked_with_audit_rows,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_expired_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_audit_log_cannot_be_changed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

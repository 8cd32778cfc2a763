/* Scaffolding shared by the gateway's API tests: a scratch database with the
 * gateway's routes served over HTTP on 127.0.0.1, requests with JSON
 * answers, and getters that fail the test when a member is missing.
 *
 * Header-only and static inline for the reasons ecm_test_support.h gives;
 * the same rule holds: helpers that "fail the running test" must be called
 * from a test or a cmocka setup or teardown function. */
#ifndef GW_TEST_SUPPORT_H
#define GW_TEST_SUPPORT_H

#include <signal.h>
#include <stdarg.h>

#include <jansson.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"
#include "gw_auth.h"
#include "ecm_test_support.h"

/* Adds a module's routes to h (gw_campaigns_register, gw_dnc_register...). */
typedef int (*gw_test_routes_fn)(ecm_http *h, const gw_app *app);

/* A gateway under test: the scratch database, a connection for the test's
 * own SQL, the pool the handlers use, and the HTTP server on port. */
typedef struct {
    ecm_test_db *db;
    PGconn *conn;
    ecm_pg_pool *pool;
    ecm_http *http;
    gw_app app;
    gw_upload_lease *lease; /* made when the settings have none */
    int port;
    volatile sig_atomic_t stop;
} gw_test_api;

/* The settings the API tests run the gateway with (the pool is filled in by
 * gw_test_api_new); a test changes what it needs. */
static inline gw_app gw_test_settings(void)
{
    return (gw_app){
        .source = "/ecm/gateway-test",
        .topic_campaigns = "campaigns.changed",
        .topic_uploaded = "contacts.uploaded",
        .topic_closed = "contacts.closed",
        .topic_uploads = "uploads.changed",
        .default_region = "US",
    };
}

/* An HTTP server on the first free port of [port_first, port_last] (into
 * *port) with the routes that each of routes (ending with NULL) adds for
 * app, behind the API's guard when guard is set. Fails the running test
 * when no port is free or a route is refused. */
static inline ecm_http *gw_test_serve(const gw_app *app, int port_first, int port_last,
                                      const gw_test_routes_fn *routes, int guard, int *port)
{
    for (*port = port_first; *port <= port_last; (*port)++) {
        ecm_http *h = ecm_http_new("127.0.0.1", *port, NULL);
        assert_non_null(h);
        for (size_t i = 0; routes[i]; i++) {
            assert_int_equal(routes[i](h, app), 0);
        }
        if (guard) {
            gw_auth_install(h, app);
        }
        if (ecm_http_start(h) == 0) {
            return h;
        }
        ecm_http_destroy(h);
    }
    fail_msg("no free port in %d-%d", port_first, port_last);
    return NULL;
}

/* Creates a migrated scratch database named after db_prefix, a pool of 4
 * connections to it, app = *settings with that pool, and an HTTP server on
 * the first free port of [port_first, port_last] with the routes that each
 * of routes (ending with NULL) adds. Returns the handle for
 * gw_test_api_destroy(), or NULL when ECM_TEST_PG_DSN is unset (the tests
 * then skip through ecm_test_need). Fails the running test on any error. */
static inline gw_test_api *gw_test_api_new(const char *db_prefix, const gw_app *settings,
                                           int port_first, int port_last,
                                           const gw_test_routes_fn *routes)
{
    if (!ecm_test_pg_dsn()) {
        return NULL;
    }
    gw_test_api *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->db = ecm_test_db_new_migrated(db_prefix);
    t->conn = ecm_test_pg_connect(t->db->dsn);
    t->pool = ecm_pg_pool_new(t->db->dsn, 4, &t->stop);
    assert_non_null(t->pool);
    t->app = *settings;
    t->app.pool = t->pool;
    if (!t->app.upload_lease) {
        t->lease = gw_upload_lease_new(GW_UPLOAD_LEASE_S_DEFAULT);
        assert_non_null(t->lease);
        t->app.upload_lease = t->lease;
    }
    t->http = gw_test_serve(&t->app, port_first, port_last, routes, 0, &t->port);
    return t;
}

/* Stops the server, drops the database and frees t; NULL is a no-op. */
static inline void gw_test_api_destroy(gw_test_api *t)
{
    if (!t) {
        return;
    }
    ecm_http_destroy(t->http);
    ecm_pg_pool_destroy(t->pool);
    gw_upload_lease_destroy(t->lease);
    PQfinish(t->conn);
    (void)ecm_test_db_destroy(t->db);
    free(t);
}

/* snprintf for a test's paths, SQL, bodies and expected texts: fails the
 * running test when the text does not fit in out (out_size bytes). Returns
 * its length. */
static inline size_t gw_test_format(char *out, size_t out_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline size_t gw_test_format(char *out, size_t out_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, out_size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= out_size) {
        fail_msg("test text cut to %zu bytes: %s", out_size, fmt);
    }
    return (size_t)n;
}

/* The hard maximum of a test's own buffers (ecm_buf): far above any row or
 * report line a test builds. */
#define GW_TEST_BUF_MAX ((size_t)1 << 24)

/* A cmocka group teardown: gw_test_api_destroy(*state). Returns 0. */
static inline int gw_test_api_teardown(void **state)
{
    gw_test_api_destroy(*state);
    return 0;
}

/* The body of POST /api/v1/campaigns for a voice IVR campaign called name
 * (UCCX campaign 7), into body; fails the running test when it is cut. */
static inline void gw_test_voice_campaign_body(char *body, size_t body_size, const char *name)
{
    (void)gw_test_format(body, body_size,
                         "{\"name\":\"%s\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"uccx\","
                         "\"campaign_id\":\"7\"}}",
                         name);
}

/* A CSV record for the pure row tests, written with fields split on '|' so
 * that commas and tabs can be data: up to 16 fields, 1023 bytes. */
typedef struct {
    char store[1024];
    size_t n;
    const char *f[16];
    size_t l[16];
} gw_test_rec;

/* Splits fields into r (see gw_test_rec); fails the running test when
 * fields is longer than r holds. */
static inline void gw_test_rec_split(gw_test_rec *r, const char *fields)
{
    memset(r, 0, sizeof(*r));
    (void)gw_test_format(r->store, sizeof(r->store), "%s", fields);
    for (char *p = r->store;; p++) {
        char *bar = strchr(p, '|');
        r->f[r->n] = p;
        r->l[r->n] = bar ? (size_t)(bar - p) : strlen(p);
        r->n++;
        if (!bar) {
            break;
        }
        *bar = '\0';
        p = bar;
    }
}

/* When ECM_TEST_API_LOG_DIR names a folder, appends the exchange (method,
 * path, status, the answer's Content-Type and body) as one JSON line to
 * <folder>/<test program>.jsonl, which scripts/test.sh holds to
 * api/openapi.yaml with tests/api/openapi_check.py after the unit tests:
 * every answer the gateway's unit tests receive must be one the document
 * describes. Fails the running test when the line cannot be written. */
static inline void gw_test_log_exchange(const char *method, const char *path,
                                        const ecm_test_http_answer *a)
{
    const char *dir = getenv("ECM_TEST_API_LOG_DIR");
    if (!dir || !*dir) {
        return;
    }
    extern char *program_invocation_short_name;
    char file[4096], ctype[256] = "";
    (void)gw_test_format(file, sizeof(file), "%s/%s.jsonl", dir, program_invocation_short_name);
    (void)ecm_test_http_header(a, "Content-Type", ctype, sizeof(ctype));
    /* The body as text; one that is not UTF-8 is logged as such, and fails
     * the check as it should. */
    json_t *line = json_pack("{ss ss sI ss}", "method", method, "path", path, "status",
                             (json_int_t)a->status, "content_type", ctype);
    assert_non_null(line);
    json_object_set_new(line, "body", json_stringn_nocheck(a->body, a->len));
    char *text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    assert_non_null(text);
    FILE *f = fopen(file, "a");
    assert_non_null(f);
    assert_true(fprintf(f, "%s\n", text) > 0);
    assert_int_equal(fclose(f), 0);
    free(text);
}

/* One request to the gateway: body (NULL: none) sent as content_type (NULL:
 * no Content-Type). Returns the HTTP status; *answer is the answer parsed as
 * JSON, NULL when it had none, for the caller to json_decref. When location
 * is not NULL, the Location header is copied to it ("" when none). Fails the
 * running test when no answer comes. */
static inline long gw_test_send(const gw_test_api *t, const char *method, const char *path,
                                const char *content_type, const char *body, json_t **answer,
                                char *location, size_t location_size)
{
    char ct[128];
    (void)gw_test_format(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "");
    const char *const headers[] = {"Expect:", content_type ? ct : NULL, NULL};
    ecm_test_http_answer a;
    ecm_test_http_request(&a, t->port, method, path, headers, body, body ? strlen(body) : 0, NULL);
    gw_test_log_exchange(method, path, &a);
    *answer = a.len ? json_loads(a.body, 0, NULL) : NULL;
    if (location) {
        (void)ecm_test_http_header(&a, "Location", location, location_size);
    }
    long status = a.status;
    ecm_test_http_answer_destroy(&a);
    return status;
}

/* gw_test_send with a JSON body (or none) and no Location wanted. */
static inline long gw_test_call(const gw_test_api *t, const char *method, const char *path,
                                const char *body, json_t **answer)
{
    return gw_test_send(t, method, path, "application/json", body, answer, NULL, 0);
}

/* The string member key of obj; fails the running test when there is none. */
static inline const char *gw_test_jstr(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    if (!v) {
        char *d = json_dumps(obj, JSON_COMPACT);
        fail_msg("no string %s in %s", key, d ? d : "(null)");
    }
    return v;
}

/* The integer member key of obj; fails the running test when there is
 * none. */
static inline long long gw_test_jint(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        char *d = json_dumps(obj, JSON_COMPACT);
        fail_msg("no integer %s in %s", key, d ? d : "(null)");
    }
    return json_integer_value(v);
}

/* The integer at path of obj, members named from the outside in and split
 * by dots ("progress.bytes_read"); fails the running test when there is
 * none. */
static inline long long gw_test_jint_at(const json_t *obj, const char *path)
{
    const json_t *v = obj;
    for (const char *key = path; v;) {
        const char *dot = strchr(key, '.');
        size_t len = dot ? (size_t)(dot - key) : strlen(key);
        v = json_object_getn(v, key, len);
        if (!dot) {
            break;
        }
        key = dot + 1;
    }
    if (!json_is_integer(v)) {
        char *d = json_dumps(obj, JSON_COMPACT);
        fail_msg("no integer %s in %s", path, d ? d : "(null)");
    }
    return json_integer_value(v);
}

#endif

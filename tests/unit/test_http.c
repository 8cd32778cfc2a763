/* strcasestr */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_test_support.h"

/* Ports from this test's range (20100-20199), one per test so that no test
 * depends on the previous one's socket being gone. */
#define PORT_BASE 20110

typedef ecm_test_http_answer http_answer;

typedef struct {
    size_t total, sent;
    uint32_t seed;
} body_source;

static unsigned char source_byte(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static size_t on_read(char *buf, size_t size, size_t n, void *p)
{
    body_source *s = p;
    size_t room = size * n;
    size_t left = s->total - s->sent;
    size_t k = left < room ? left : room;
    for (size_t i = 0; i < k; i++) {
        buf[i] = (char)source_byte(s->sent + i);
    }
    s->sent += k;
    return k;
}

/* One request; body may be NULL. extra_header may be NULL. */
static void request(const char *method, int port, const char *path, const char *body, size_t len,
                    const char *extra_header, http_answer *a)
{
    const char *headers[] = {extra_header, NULL};
    ecm_test_http_request(a, port, method, path, headers, body, len, NULL);
}

static int has_header(const http_answer *a, const char *line)
{
    return strcasestr(a->headers, line) != NULL;
}

static json_t *answer_json(const http_answer *a)
{
    json_error_t err;
    json_t *j = json_loadb(a->body, a->len, 0, &err);
    if (!j) {
        fail_msg("not JSON (%s): %s", err.text, a->body);
    }
    return j;
}

static void assert_problem(const http_answer *a, long status, const char *type)
{
    char want[256];
    assert_int_equal(a->status, status);
    assert_true(has_header(a, "Content-Type: application/problem+json"));
    json_t *j = answer_json(a);
    snprintf(want, sizeof want, "https://ecm.dev/problems/%s", type);
    assert_string_equal(json_string_value(json_object_get(j, "type")), want);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), status);
    assert_non_null(json_string_value(json_object_get(j, "title")));
    json_decref(j);
}

/* ---- handlers ---- */

static void echo_params(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    const char *q = ecm_http_req_query(req, "limit");
    const char *h = ecm_http_req_header(req, "x-test-header");
    char body[512];
    int n = snprintf(body, sizeof body, "%s|%s|%s|%s|%s|%s", ecm_http_req_method(req),
                     ecm_http_req_path(req), ecm_http_req_param(req, 0), ecm_http_req_param(req, 1),
                     q ? q : "-", h ? h : "-");
    assert_null(ecm_http_req_param(req, 2));
    assert_null(ecm_http_req_param(req, -1));
    ecm_http_add_header(req, "Location", "/somewhere");
    ecm_http_respond(req, 201, "text/plain", body, (size_t)n);
}

static void echo_body(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    size_t len = 99;
    const char *b = ecm_http_req_body(req, &len);
    char out[64];
    int n = snprintf(out, sizeof out, "%zu:%d", len, b[len] == '\0');
    ecm_http_respond(req, 200, "text/plain", out, (size_t)n);
}

static void forgets_to_answer(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    (void)req;
}

static void problem_teapot(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    ecm_http_respond_problem(req, 418, "teapot", "I'm a teapot", "brewing %d cups", 3);
}

typedef struct {
    atomic_int begins, bodies, ends, cleanups;
} stream_counts;

typedef struct {
    uint64_t bytes;
    uint32_t a, b; /* Adler-32 */
    uint64_t chunks;
} stream_state;

static int stream_begin(void *ctx, ecm_http_req *req)
{
    stream_counts *sc = ctx;
    atomic_fetch_add(&sc->begins, 1);
    if (!ecm_http_req_header(req, "X-Allow")) {
        ecm_http_respond_problem(req, 401, "unauthorized", "Unauthorized", NULL);
        return -1;
    }
    stream_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    st->a = 1;
    ecm_http_req_set_state(req, st);
    return 0;
}

static int stream_body(void *ctx, ecm_http_req *req, const char *data, size_t len)
{
    stream_counts *sc = ctx;
    stream_state *st = ecm_http_req_state(req);
    atomic_fetch_add(&sc->bodies, 1);
    for (size_t i = 0; i < len; i++) {
        st->a = (st->a + (unsigned char)data[i]) % 65521;
        st->b = (st->b + st->a) % 65521;
    }
    st->bytes += len;
    st->chunks++;
    if (ecm_http_req_header(req, "X-Fail-Body")) {
        ecm_http_respond_problem(req, 422, "bad-body", "Bad body", "stopped after %zu", len);
        return -1;
    }
    return 0;
}

static void stream_end(void *ctx, ecm_http_req *req)
{
    stream_counts *sc = ctx;
    stream_state *st = ecm_http_req_state(req);
    atomic_fetch_add(&sc->ends, 1);
    char out[128];
    int n = snprintf(out, sizeof out, "{\"bytes\":%llu,\"adler\":%u,\"chunks\":%llu}",
                     (unsigned long long)st->bytes, (st->b << 16) | st->a,
                     (unsigned long long)st->chunks);
    ecm_http_respond(req, 200, "application/json", out, (size_t)n);
}

static void stream_cleanup(void *ctx, ecm_http_req *req)
{
    stream_counts *sc = ctx;
    atomic_fetch_add(&sc->cleanups, 1);
    free(ecm_http_req_state(req));
}

static int ready_flag_fn(void *ctx, char *errstr, size_t errstr_size)
{
    int *ready = ctx;
    if (*ready) {
        return 0;
    }
    snprintf(errstr, errstr_size, "database \"ecm\" unreachable");
    return -1;
}

/* ---- tests ---- */

static ecm_http *server(int port, ecm_metrics *m)
{
    ecm_http *h = ecm_http_new("127.0.0.1", port, m);
    assert_non_null(h);
    return h;
}

static void test_http_healthz_answers_ok(void **state)
{
    (void)state;
    ecm_http *h = server(PORT_BASE, NULL);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    request("GET", PORT_BASE, "/healthz", NULL, 0, NULL, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "{\"status\":\"ok\"}");
    assert_true(has_header(&a, "Content-Type: application/json"));
    ecm_test_http_answer_destroy(&a);
    request("HEAD", PORT_BASE, "/healthz", NULL, 0, NULL, &a);
    assert_int_equal(a.status, 200);
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
}

static void test_http_readyz_follows_ready_fn(void **state)
{
    (void)state;
    int port = PORT_BASE + 1;
    int ready = 0;
    ecm_http *h = server(port, NULL);
    ecm_http_set_ready(h, ready_flag_fn, &ready);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    request("GET", port, "/readyz", NULL, 0, NULL, &a);
    assert_int_equal(a.status, 503);
    json_t *j = answer_json(&a);
    assert_string_equal(json_string_value(json_object_get(j, "reason")),
                        "database \"ecm\" unreachable");
    json_decref(j);
    ecm_test_http_answer_destroy(&a);
    ready = 1;
    /* The verdict is cached for a second: it follows within a generous bound. */
    long status = 0;
    for (int i = 0; i < 300 && status != 200; i++) {
        request("GET", port, "/readyz", NULL, 0, NULL, &a);
        status = a.status;
        ecm_test_http_answer_destroy(&a);
        if (status != 200) {
            assert_int_equal(status, 503);
            usleep(50000);
        }
    }
    assert_int_equal(status, 200);
    ecm_http_destroy(h);
}

static void test_http_readyz_without_fn_is_ready(void **state)
{
    (void)state;
    int port = PORT_BASE + 2;
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    request("GET", port, "/readyz", NULL, 0, NULL, &a);
    assert_int_equal(a.status, 200);
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
}

static void test_http_metrics_counts_requests_by_code(void **state)
{
    (void)state;
    int port = PORT_BASE + 3;
    ecm_metrics *m = ecm_metrics_new();
    ecm_metric_add(ecm_metrics_counter(m, "ecm_custom_total", "custom"), 9);
    ecm_http *h = server(port, m);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    for (int i = 0; i < 3; i++) {
        request("GET", port, "/healthz", NULL, 0, NULL, &a);
        ecm_test_http_answer_destroy(&a);
    }
    request("GET", port, "/nope", NULL, 0, NULL, &a);
    ecm_test_http_answer_destroy(&a);
    request("GET", port, "/metrics", NULL, 0, NULL, &a);
    assert_int_equal(a.status, 200);
    assert_true(has_header(&a, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(a.body, "ecm_custom_total 9\n"));
    assert_non_null(strstr(a.body, "# TYPE ecm_http_requests_total counter\n"));
    assert_non_null(strstr(a.body, "ecm_http_requests_total{code=\"200\"} 3\n"));
    assert_non_null(strstr(a.body, "ecm_http_requests_total{code=\"404\"} 1\n"));
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
    assert_true(ecm_metric_value(
                    ecm_metrics_counter(m, "ecm_http_requests_total{code=\"200\"}", "")) == 4.0);
    ecm_metrics_destroy(m);
}

static void test_http_route_params_query_and_headers(void **state)
{
    (void)state;
    int port = PORT_BASE + 4;
    ecm_http *h = server(port, NULL);
    assert_int_equal(
        ecm_http_route(h, "GET", "/api/v1/campaigns/{}/uploads/{}", 0, echo_params, NULL), 0);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    request("GET", port, "/api/v1/campaigns/42/uploads/abc-7?limit=5", NULL, 0,
            "X-Test-Header: hello", &a);
    assert_int_equal(a.status, 201);
    assert_string_equal(a.body, "GET|/api/v1/campaigns/42/uploads/abc-7|42|abc-7|5|hello");
    assert_true(has_header(&a, "Location: /somewhere"));
    ecm_test_http_answer_destroy(&a);
    /* A different segment count is another path. */
    request("GET", port, "/api/v1/campaigns/42/uploads", NULL, 0, NULL, &a);
    assert_problem(&a, 404, "not-found");
    ecm_test_http_answer_destroy(&a);
    /* Escapes are decoded, but a NUL never cuts the path or a value short:
     * "%00" stays as it was written. */
    request("GET", port, "/api/v1/campaigns/%34%32/uploads/a%41b%00c?limit=%35%00", NULL, 0, NULL,
            &a);
    assert_int_equal(a.status, 201);
    assert_string_equal(a.body, "GET|/api/v1/campaigns/42/uploads/aAb%00c|42|aAb%00c|5%00|-");
    ecm_test_http_answer_destroy(&a);
    request("GET", port, "/api/v1/campaigns/%00/uploads/%00", NULL, 0, NULL, &a);
    assert_int_equal(a.status, 201);
    assert_string_equal(a.body, "GET|/api/v1/campaigns/%00/uploads/%00|%00|%00|-|-");
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
}

static void test_http_unknown_path_is_404_problem(void **state)
{
    (void)state;
    int port = PORT_BASE + 5;
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    request("GET", port, "/does/not/exist", NULL, 0, NULL, &a);
    assert_problem(&a, 404, "not-found");
    ecm_test_http_answer_destroy(&a);
    /* With a body too: the body is read and dropped. */
    request("POST", port, "/does/not/exist", "xyz", 3, NULL, &a);
    assert_problem(&a, 404, "not-found");
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
}

static void test_http_wrong_method_is_405_with_allow(void **state)
{
    (void)state;
    int port = PORT_BASE + 6;
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_route(h, "POST", "/things/{}", 100, echo_body, NULL), 0);
    assert_int_equal(ecm_http_route(h, "PUT", "/things/{}", 100, echo_body, NULL), 0);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    request("DELETE", port, "/things/1", NULL, 0, NULL, &a);
    assert_problem(&a, 405, "method-not-allowed");
    assert_true(has_header(&a, "Allow: POST, PUT"));
    ecm_test_http_answer_destroy(&a);
    request("POST", port, "/healthz", "x", 1, NULL, &a);
    assert_problem(&a, 405, "method-not-allowed");
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
}

static void test_http_duplicate_route_is_refused_and_the_first_stays(void **state)
{
    (void)state;
    int port = PORT_BASE + 23;
    ecm_http *h = server(port, NULL);
    const ecm_http_stream_handler fns = {stream_begin, stream_body, stream_end, stream_cleanup};
    assert_int_equal(ecm_http_route(h, "POST", "/things/{}", 100, echo_body, NULL), 0);
    assert_int_equal(ecm_http_route(h, "POST", "/things/{}", 100, forgets_to_answer, NULL), -1);
    assert_int_equal(ecm_http_route(h, "POST", "//things/{}/", 100, forgets_to_answer, NULL), -1);
    assert_int_equal(ecm_http_route_stream(h, "POST", "/things/{}", 100, &fns, NULL), -1);
    /* another method, or another path, is another route */
    assert_int_equal(ecm_http_route(h, "PUT", "/things/{}", 100, echo_body, NULL), 0);
    assert_int_equal(ecm_http_route(h, "POST", "/things/{}/more", 100, echo_body, NULL), 0);
    assert_int_equal(ecm_http_route(h, "POST", "/things/x", 100, echo_body, NULL), 0);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    request("POST", port, "/things/1", "x", 1, NULL, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "1:1");
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
}

static void test_http_buffered_body_limit_gives_413(void **state)
{
    (void)state;
    int port = PORT_BASE + 7;
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_route(h, "POST", "/small", 1024, echo_body, NULL), 0);
    assert_int_equal(ecm_http_start(h), 0);
    char *big = malloc(300000);
    assert_non_null(big);
    memset(big, 'b', 300000);
    http_answer a;
    request("POST", port, "/small", big, 1024, NULL, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "1024:1");
    ecm_test_http_answer_destroy(&a);
    request("POST", port, "/small", big, 1025, NULL, &a);
    assert_problem(&a, 413, "payload-too-large");
    ecm_test_http_answer_destroy(&a);
    request("POST", port, "/small", big, 300000, NULL, &a);
    assert_problem(&a, 413, "payload-too-large");
    ecm_test_http_answer_destroy(&a);
    request("POST", port, "/small", NULL, 0, NULL, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "0:1");
    ecm_test_http_answer_destroy(&a);
    free(big);
    ecm_http_destroy(h);
}

static void test_http_handler_without_answer_gives_500(void **state)
{
    (void)state;
    int port = PORT_BASE + 8;
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_route(h, "GET", "/silent", 0, forgets_to_answer, NULL), 0);
    assert_int_equal(ecm_http_route(h, "GET", "/teapot", 0, problem_teapot, NULL), 0);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    request("GET", port, "/silent", NULL, 0, NULL, &a);
    assert_problem(&a, 500, "internal");
    ecm_test_http_answer_destroy(&a);
    request("GET", port, "/teapot", NULL, 0, NULL, &a);
    assert_problem(&a, 418, "teapot");
    json_t *j = answer_json(&a);
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "brewing 3 cups");
    json_decref(j);
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
}

static void stream_post(int port, size_t total, const char *extra_header, http_answer *a)
{
    body_source src = {total, 0, 0};
    CURL *c = ecm_test_http_prepare(a, port, "POST", "/upload");
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: text/csv");
    if (extra_header) {
        hs = curl_slist_append(hs, extra_header);
    }
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)total);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = ecm_test_http_perform(c, a);
    curl_slist_free_all(hs);
    if (rc != CURLE_OK) {
        fail_msg("POST 127.0.0.1:%d/upload: %s", port, curl_easy_strerror(rc));
    }
}

/* A started server on port whose POST /upload (64 MiB at most) is the
 * counting stream handler writing into sc. */
static ecm_http *upload_server(int port, stream_counts *sc)
{
    const ecm_http_stream_handler fns = {stream_begin, stream_body, stream_end, stream_cleanup};
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_route_stream(h, "POST", "/upload", 64u << 20, &fns, sc), 0);
    assert_int_equal(ecm_http_start(h), 0);
    return h;
}

static void test_http_stream_route_receives_multi_mb_body_in_chunks(void **state)
{
    (void)state;
    int port = PORT_BASE + 9;
    stream_counts sc = {0};
    ecm_http *h = upload_server(port, &sc);

    size_t total = 8u * 1024 * 1024 + 123;
    uint32_t ea = 1, eb = 0;
    for (size_t i = 0; i < total; i++) {
        ea = (ea + source_byte(i)) % 65521;
        eb = (eb + ea) % 65521;
    }
    http_answer a;
    stream_post(port, total, "X-Allow: 1", &a);
    assert_int_equal(a.status, 200);
    json_t *j = answer_json(&a);
    assert_int_equal(json_integer_value(json_object_get(j, "bytes")), total);
    assert_int_equal(json_integer_value(json_object_get(j, "adler")), (eb << 16) | ea);
    assert_true(json_integer_value(json_object_get(j, "chunks")) > 1);
    json_decref(j);
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h); /* waits for the request to complete */
    assert_int_equal(atomic_load(&sc.begins), 1);
    assert_int_equal(atomic_load(&sc.ends), 1);
    assert_int_equal(atomic_load(&sc.cleanups), 1);
}

static void test_http_stream_rejected_in_begin_skips_body_and_end(void **state)
{
    (void)state;
    int port = PORT_BASE + 10;
    stream_counts sc = {0};
    ecm_http *h = upload_server(port, &sc);
    http_answer a;
    stream_post(port, 2u * 1024 * 1024, NULL, &a);
    assert_problem(&a, 401, "unauthorized");
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
    assert_int_equal(atomic_load(&sc.begins), 1);
    assert_int_equal(atomic_load(&sc.bodies), 0);
    assert_int_equal(atomic_load(&sc.ends), 0);
    assert_int_equal(atomic_load(&sc.cleanups), 1);
}

static void test_http_stream_body_failure_stops_calls(void **state)
{
    (void)state;
    int port = PORT_BASE + 11;
    stream_counts sc = {0};
    ecm_http *h = upload_server(port, &sc);
    http_answer a;
    body_source src = {4u * 1024 * 1024, 0, 0};
    CURL *c = ecm_test_http_prepare(&a, port, "POST", "/upload");
    struct curl_slist *hs = curl_slist_append(NULL, "X-Allow: 1");
    hs = curl_slist_append(hs, "X-Fail-Body: 1");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)src.total);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    assert_int_equal(ecm_test_http_perform(c, &a), CURLE_OK);
    curl_slist_free_all(hs);
    assert_int_equal(a.status, 422);
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
    assert_int_equal(atomic_load(&sc.bodies), 1);
    assert_int_equal(atomic_load(&sc.ends), 0);
    assert_int_equal(atomic_load(&sc.cleanups), 1);
}

typedef struct {
    int port;
    http_answer a;
} bg_request;

static void slow_handler(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    usleep(800000);
    ecm_http_respond(req, 200, "text/plain", "slow", 4);
}

static void *bg_get_slow(void *p)
{
    bg_request *b = p;
    request("GET", b->port, "/slow", NULL, 0, NULL, &b->a);
    return NULL;
}

static void test_http_slow_handler_does_not_block_other_requests(void **state)
{
    (void)state;
    int port = PORT_BASE + 13;
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_route(h, "GET", "/slow", 0, slow_handler, NULL), 0);
    assert_int_equal(ecm_http_start(h), 0);
    bg_request b = {port, {0}};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_get_slow, &b), 0);
    usleep(100000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    http_answer a;
    request("GET", port, "/healthz", NULL, 0, NULL, &a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(a.status, 200);
    ecm_test_http_answer_destroy(&a);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 500);
    pthread_join(th, NULL);
    assert_int_equal(b.a.status, 200);
    assert_string_equal(b.a.body, "slow");
    ecm_test_http_answer_destroy(&b.a);
    ecm_http_destroy(h);
}

static void test_http_start_fails_on_port_in_use(void **state)
{
    (void)state;
    int port = PORT_BASE + 12;
    ecm_http *h1 = server(port, NULL);
    ecm_http *h2 = server(port, NULL);
    assert_int_equal(ecm_http_start(h1), 0);
    assert_int_equal(ecm_http_start(h2), -1);
    ecm_http_destroy(h2);
    ecm_http_destroy(h1);
}

/* ---- limits ---- */

/* A TCP connection to 127.0.0.1:port from source address src (NULL: any). */
static int raw_connect(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (src) {
        struct sockaddr_in s = {.sin_family = AF_INET};
        assert_int_equal(inet_pton(AF_INET, src, &s.sin_addr), 1);
        assert_int_equal(bind(fd, (struct sockaddr *)&s, sizeof s), 0);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void raw_send(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Reads what the server sends until it closes, at most timeout_ms (a
 * generous bound). Returns 1 when it closed, 0 on timeout; out gets the text. */
static int raw_wait_closed(int fd, int timeout_ms, char *out, size_t out_size)
{
    size_t used = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    out[0] = '\0';
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long left = timeout_ms -
                    (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0) {
            return 0;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0) {
            continue;
        }
        char buf[1024];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return 1; /* FIN or reset */
        }
        size_t k = (size_t)n < out_size - 1 - used ? (size_t)n : out_size - 1 - used;
        memcpy(out + used, buf, k);
        used += k;
        out[used] = '\0';
    }
}

/* Sends chunk every 100 ms, as a slow client does, until the server answers
 * and closes (then returns 1 with its text in out), for at most a minute (0). */
static int drip_until_closed(int fd, const char *chunk, char *out, size_t out_size)
{
    out[0] = '\0';
    for (int i = 0; i < 600; i++) {
        (void)send(fd, chunk, strlen(chunk), MSG_NOSIGNAL);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            return raw_wait_closed(fd, 20000, out, out_size);
        }
    }
    return 0;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void hello(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    ecm_http_respond(req, 200, "text/plain", "hello", 5);
}

static ecm_http *limited_server(int port, const ecm_http_limits *l)
{
    ecm_http *h = server(port, NULL);
    ecm_http_set_limits(h, l);
    assert_int_equal(ecm_http_route(h, "GET", "/hello", 0, hello, NULL), 0);
    assert_int_equal(ecm_http_route(h, "POST", "/small", 1024, echo_body, NULL), 0);
    return h;
}

/* A GET from source address src. */
static void get_from(int port, const char *path, const char *src, http_answer *a)
{
    CURL *c = ecm_test_http_prepare(a, port, "GET", path);
    if (src) {
        curl_easy_setopt(c, CURLOPT_INTERFACE, src);
    }
    CURLcode rc = ecm_test_http_perform(c, a);
    if (rc != CURLE_OK) {
        fail_msg("GET %s: %s", path, curl_easy_strerror(rc));
    }
}

static void test_http_per_client_cap_answers_429_then_closes(void **state)
{
    (void)state;
    int port = PORT_BASE + 14;
    ecm_http_limits l;
    ecm_http_limits_default(&l);
    l.max_per_client = 2; /* libmicrohttpd's own cap: 2 + 4 */
    ecm_http *h = limited_server(port, &l);
    assert_int_equal(ecm_http_start(h), 0);
    int fds[6];
    fds[0] = raw_connect(port, NULL);
    fds[1] = raw_connect(port, NULL);
    http_answer a;
    get_from(port, "/hello", NULL, &a);
    assert_problem(&a, 429, "too-many-connections");
    assert_true(has_header(&a, "Retry-After: 2"));
    ecm_test_http_answer_destroy(&a);
    /* Probes still answer; another client is not held back. */
    get_from(port, "/healthz", NULL, &a);
    assert_int_equal(a.status, 200);
    ecm_test_http_answer_destroy(&a);
    get_from(port, "/hello", "127.0.0.2", &a);
    assert_int_equal(a.status, 200);
    ecm_test_http_answer_destroy(&a);
    /* Past libmicrohttpd's cap a connection is closed at accept. */
    for (int i = 2; i < 6; i++) {
        fds[i] = raw_connect(port, NULL);
    }
    int extra = raw_connect(port, NULL);
    char got[256];
    assert_int_equal(raw_wait_closed(extra, 20000, got, sizeof got), 1);
    assert_string_equal(got, "");
    close(extra);
    for (int i = 0; i < 6; i++) {
        close(fds[i]);
    }
    ecm_http_destroy(h);
}

/* GETs /hello from addr until it is served (200), for at most 20 s; while
 * the server is full the answer must be the 503. */
static void get_until_served(int port, const char *addr)
{
    for (int i = 0; i < 400; i++) {
        http_answer a;
        get_from(port, "/hello", addr, &a);
        long status = a.status;
        ecm_test_http_answer_destroy(&a);
        if (status == 200) {
            return;
        }
        assert_int_equal(status, 503);
        usleep(50000);
    }
    fail_msg("GET /hello from %s: still 503 after 20 s", addr ? addr : "127.0.0.1");
}

static void test_http_connection_cap_answers_503(void **state)
{
    (void)state;
    int port = PORT_BASE + 15;
    ecm_http_limits l;
    ecm_http_limits_default(&l);
    l.max_connections = 3;
    l.retry_after_s = 7;
    ecm_http *h = limited_server(port, &l);
    assert_int_equal(ecm_http_start(h), 0);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = raw_connect(port, i == 0 ? NULL : "127.0.0.3");
    }
    http_answer a;
    get_from(port, "/hello", "127.0.0.2", &a);
    assert_problem(&a, 503, "busy");
    assert_true(has_header(&a, "Retry-After: 7"));
    ecm_test_http_answer_destroy(&a);
    close(fds[2]);
    /* Once one is gone, requests are served again (the server counts a
     * connection gone when libmicrohttpd has cleaned it up, a moment after
     * the close; so is each of these requests' own connection). */
    get_until_served(port, "127.0.0.2");
    get_until_served(port, NULL);
    close(fds[0]);
    close(fds[1]);
    ecm_http_destroy(h);
}

static void test_http_slow_drip_headers_cut_at_deadline(void **state)
{
    (void)state;
    int port = PORT_BASE + 16;
    ecm_http_limits l;
    ecm_http_limits_default(&l);
    l.request_timeout_s = 1;
    ecm_metrics *m = ecm_metrics_new();
    ecm_http *h = server(port, m);
    ecm_http_set_limits(h, &l);
    assert_int_equal(ecm_http_start(h), 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = raw_connect(port, NULL);
    raw_send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    /* A header byte every 100 ms keeps libmicrohttpd's idle timer happy;
     * only the deadline can end this. */
    char got[1024];
    int closed = drip_until_closed(fd, "X", got, sizeof got);
    double ms = ms_since(&t0);
    assert_int_equal(closed, 1);
    assert_true(ms >= 1000.0); /* never before the deadline */
    assert_non_null(strstr(got, "HTTP/1.1 408"));
    assert_non_null(strstr(got, "request-timeout"));
    close(fd);
    /* Served normally meanwhile and after. */
    http_answer a;
    get_from(port, "/healthz", NULL, &a);
    assert_int_equal(a.status, 200);
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
    assert_true(ecm_metric_value(ecm_metrics_counter(
                    m, "ecm_http_requests_cut_total{reason=\"deadline\"}", "")) == 1.0);
    ecm_metrics_destroy(m);
}

static void test_http_idle_kept_alive_connection_closed_silently_at_deadline(void **state)
{
    (void)state;
    int port = PORT_BASE + 22;
    ecm_http_limits l;
    ecm_http_limits_default(&l);
    l.request_timeout_s = 1;
    ecm_http *h = server(port, NULL);
    ecm_http_set_limits(h, &l);
    assert_int_equal(ecm_http_start(h), 0);
    int fd = raw_connect(port, NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    raw_send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    char got[2048];
    assert_int_equal(raw_wait_closed(fd, 30000, got, sizeof got), 1);
    assert_true(ms_since(&t0) >= 1000.0);
    /* The answer, then the close: no 408 that could be taken for the
     * answer to a request sent at that moment. */
    assert_non_null(strstr(got, "HTTP/1.1 200"));
    assert_null(strstr(got, "408"));
    close(fd);
    ecm_http_destroy(h);
}

static void test_http_slow_drip_body_cut_at_deadline(void **state)
{
    (void)state;
    int port = PORT_BASE + 17;
    ecm_http_limits l;
    ecm_http_limits_default(&l);
    l.request_timeout_s = 1;
    ecm_http *h = limited_server(port, &l);
    assert_int_equal(ecm_http_start(h), 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = raw_connect(port, NULL);
    raw_send(fd, "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    char got[1024];
    int closed = drip_until_closed(fd, "b", got, sizeof got);
    assert_int_equal(closed, 1);
    assert_true(ms_since(&t0) >= 1000.0);
    assert_non_null(strstr(got, "HTTP/1.1 408"));
    close(fd);
    ecm_http_destroy(h);
}

static void test_http_slow_stream_body_cut_below_min_rate(void **state)
{
    (void)state;
    int port = PORT_BASE + 18;
    stream_counts sc = {0};
    const ecm_http_stream_handler fns = {stream_begin, stream_body, stream_end, stream_cleanup};
    ecm_http_limits l;
    ecm_http_limits_default(&l);
    l.request_timeout_s = 1;
    l.stream_min_bytes_per_s = 1000;
    ecm_http *h = server(port, NULL);
    ecm_http_set_limits(h, &l);
    assert_int_equal(ecm_http_route_stream(h, "POST", "/upload", 1u << 20, &fns, &sc), 0);
    assert_int_equal(ecm_http_start(h), 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = raw_connect(port, NULL);
    raw_send(fd,
             "POST /upload HTTP/1.1\r\nHost: x\r\nX-Allow: 1\r\nContent-Length: 100000\r\n\r\n");
    char got[1024];
    int closed = drip_until_closed(fd, "0123456789", got, sizeof got);
    assert_int_equal(closed, 1);
    assert_true(ms_since(&t0) >= 1000.0);
    assert_non_null(strstr(got, "HTTP/1.1 408"));
    assert_non_null(strstr(got, "slower than 1000 bytes/s"));
    close(fd);
    ecm_http_destroy(h); /* waits for the request's end */
    assert_int_equal(atomic_load(&sc.begins), 1);
    assert_int_equal(atomic_load(&sc.ends), 0);
    assert_int_equal(atomic_load(&sc.cleanups), 1);
}

typedef struct {
    atomic_int bodies;
} slow_stream;

static int slow_stream_body(void *ctx, ecm_http_req *req, const char *data, size_t len)
{
    slow_stream *s = ctx;
    (void)req;
    (void)data;
    (void)len;
    atomic_fetch_add(&s->bodies, 1);
    usleep(300000); /* the server, not the client, is slow */
    return 0;
}

static void slow_stream_end(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    ecm_http_respond(req, 200, "text/plain", "done", 4);
}

static void test_http_stream_handler_time_does_not_count_against_the_client(void **state)
{
    (void)state;
    int port = PORT_BASE + 19;
    slow_stream ss = {0};
    const ecm_http_stream_handler fns = {NULL, slow_stream_body, slow_stream_end, NULL};
    ecm_http_limits l;
    ecm_http_limits_default(&l);
    l.request_timeout_s = 1;
    l.stream_min_bytes_per_s = 100000000; /* far above what the handler takes */
    ecm_http *h = server(port, NULL);
    ecm_http_set_limits(h, &l);
    assert_int_equal(ecm_http_route_stream(h, "POST", "/upload", 64u << 20, &fns, &ss), 0);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    stream_post(port, 512u * 1024, NULL, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "done");
    ecm_test_http_answer_destroy(&a);
    assert_true(atomic_load(&ss.bodies) >= 4); /* > 1 s in the handler */
    ecm_http_destroy(h);
}

static void test_http_stream_body_over_cap_gives_413(void **state)
{
    (void)state;
    int port = PORT_BASE + 20;
    stream_counts sc = {0};
    const ecm_http_stream_handler fns = {stream_begin, stream_body, stream_end, stream_cleanup};
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_route_stream(h, "POST", "/upload", 100000, &fns, &sc), 0);
    assert_int_equal(ecm_http_route_stream(h, "POST", "/none", 0, &fns, &sc), -1);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    /* Content-Length over the cap: answered before begin(). */
    stream_post(port, 100001, "X-Allow: 1", &a);
    assert_problem(&a, 413, "payload-too-large");
    ecm_test_http_answer_destroy(&a);
    assert_int_equal(atomic_load(&sc.begins), 0);
    /* Chunked: body() sees at most the cap. */
    body_source src = {300000, 0, 0};
    CURL *c = ecm_test_http_prepare(&a, port, "POST", "/upload");
    struct curl_slist *hs = curl_slist_append(NULL, "X-Allow: 1");
    hs = curl_slist_append(hs, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    assert_int_equal(ecm_test_http_perform(c, &a), CURLE_OK);
    curl_slist_free_all(hs);
    assert_problem(&a, 413, "payload-too-large");
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
    assert_int_equal(atomic_load(&sc.begins), 1);
    assert_int_equal(atomic_load(&sc.ends), 0);
    assert_int_equal(atomic_load(&sc.cleanups), 1);
}

static atomic_int probe_calls, probe_running, probe_overlaps;

static int counting_probe(void *ctx, char *errstr, size_t errstr_size)
{
    (void)ctx;
    (void)errstr;
    (void)errstr_size;
    atomic_fetch_add(&probe_calls, 1);
    if (atomic_fetch_add(&probe_running, 1) != 0) {
        atomic_fetch_add(&probe_overlaps, 1);
    }
    usleep(100000); /* a slow database */
    atomic_fetch_sub(&probe_running, 1);
    return 0;
}

static void *readyz_loop(void *p)
{
    int port = *(int *)p;
    for (int i = 0; i < 15; i++) {
        http_answer a;
        request("GET", port, "/readyz", NULL, 0, NULL, &a);
        assert_int_equal(a.status, 200);
        ecm_test_http_answer_destroy(&a);
    }
    return NULL;
}

static void test_http_readyz_probe_runs_at_most_once_a_second(void **state)
{
    (void)state;
    int port = PORT_BASE + 21;
    ecm_http *h = server(port, NULL);
    ecm_http_set_ready(h, counting_probe, NULL);
    assert_int_equal(ecm_http_start(h), 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, readyz_loop, &port), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
    }
    double s = ms_since(&t0) / 1000.0;
    int calls = atomic_load(&probe_calls);
    /* 120 requests; one probe, then at most one for each second since. */
    assert_true(calls >= 1);
    assert_true((double)calls <= s + 1.0);
    assert_int_equal(atomic_load(&probe_overlaps), 0);
    ecm_http_destroy(h);
}

static int global_setup(void **state)
{
    (void)state;
    ecm_log_init("test_http", ECM_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int global_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_healthz_answers_ok),
        cmocka_unit_test(test_http_readyz_follows_ready_fn),
        cmocka_unit_test(test_http_readyz_without_fn_is_ready),
        cmocka_unit_test(test_http_metrics_counts_requests_by_code),
        cmocka_unit_test(test_http_route_params_query_and_headers),
        cmocka_unit_test(test_http_unknown_path_is_404_problem),
        cmocka_unit_test(test_http_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_http_duplicate_route_is_refused_and_the_first_stays),
        cmocka_unit_test(test_http_buffered_body_limit_gives_413),
        cmocka_unit_test(test_http_handler_without_answer_gives_500),
        cmocka_unit_test(test_http_stream_route_receives_multi_mb_body_in_chunks),
        cmocka_unit_test(test_http_stream_rejected_in_begin_skips_body_and_end),
        cmocka_unit_test(test_http_stream_body_failure_stops_calls),
        cmocka_unit_test(test_http_slow_handler_does_not_block_other_requests),
        cmocka_unit_test(test_http_start_fails_on_port_in_use),
        cmocka_unit_test(test_http_per_client_cap_answers_429_then_closes),
        cmocka_unit_test(test_http_connection_cap_answers_503),
        cmocka_unit_test(test_http_slow_drip_headers_cut_at_deadline),
        cmocka_unit_test(test_http_slow_drip_body_cut_at_deadline),
        cmocka_unit_test(test_http_idle_kept_alive_connection_closed_silently_at_deadline),
        cmocka_unit_test(test_http_slow_stream_body_cut_below_min_rate),
        cmocka_unit_test(test_http_stream_handler_time_does_not_count_against_the_client),
        cmocka_unit_test(test_http_stream_body_over_cap_gives_413),
        cmocka_unit_test(test_http_readyz_probe_runs_at_most_once_a_second),
    };
    return cmocka_run_group_tests(tests, global_setup, global_teardown);
}

#define _GNU_SOURCE /* strcasestr in http_test_support.h */
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

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "ecm_http.h"
#include "ecm_log.h"
#include "http_test_support.h"

/* ecm_http's probes, routing, answers and streamed bodies; its limits,
 * deadlines and slow clients are test_http_limits.c's. Ports from this
 * binary's range (20110-20129), one per test so that no test depends on the
 * previous one's socket being gone. */
#define PORT_BASE 20110

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
    expect_answer("GET", port, "/readyz", NULL, 0, 200, NULL);
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
    expect_problem("GET", port, "/api/v1/campaigns/42/uploads", NULL, 0, 404, "not-found");
    /* Escapes are decoded, but a NUL never cuts the path or a value short:
     * "%00" stays as it was written. */
    expect_answer("GET", port, "/api/v1/campaigns/%34%32/uploads/a%41b%00c?limit=%35%00", NULL, 0,
                  201, "GET|/api/v1/campaigns/42/uploads/aAb%00c|42|aAb%00c|5%00|-");
    expect_answer("GET", port, "/api/v1/campaigns/%00/uploads/%00", NULL, 0, 201,
                  "GET|/api/v1/campaigns/%00/uploads/%00|%00|%00|-|-");
    ecm_http_destroy(h);
}

static void test_http_unknown_path_is_404_problem(void **state)
{
    (void)state;
    int port = PORT_BASE + 5;
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_start(h), 0);
    expect_problem("GET", port, "/does/not/exist", NULL, 0, 404, "not-found");
    /* With a body too: the body is read and dropped. */
    expect_problem("POST", port, "/does/not/exist", "xyz", 3, 404, "not-found");
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
    expect_problem("POST", port, "/healthz", "x", 1, 405, "method-not-allowed");
    ecm_http_destroy(h);
}

static void test_http_duplicate_route_is_refused_and_the_first_stays(void **state)
{
    (void)state;
    int port = PORT_BASE + 7;
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_route(h, "POST", "/things/{}", 100, echo_body, NULL), 0);
    assert_int_equal(ecm_http_route(h, "POST", "/things/{}", 100, forgets_to_answer, NULL), -1);
    assert_int_equal(ecm_http_route(h, "POST", "//things/{}/", 100, forgets_to_answer, NULL), -1);
    assert_int_equal(ecm_http_route_stream(h, "POST", "/things/{}", 100, &counting_stream, NULL),
                     -1);
    /* another method, or another path, is another route */
    assert_int_equal(ecm_http_route(h, "PUT", "/things/{}", 100, echo_body, NULL), 0);
    assert_int_equal(ecm_http_route(h, "POST", "/things/{}/more", 100, echo_body, NULL), 0);
    assert_int_equal(ecm_http_route(h, "POST", "/things/x", 100, echo_body, NULL), 0);
    assert_int_equal(ecm_http_start(h), 0);
    expect_answer("POST", port, "/things/1", "x", 1, 200, "1:1");
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
    expect_problem("GET", port, "/silent", NULL, 0, 500, "internal");
    request("GET", port, "/teapot", NULL, 0, NULL, &a);
    assert_problem(&a, 418, "teapot");
    json_t *j = answer_json(&a);
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "brewing 3 cups");
    json_decref(j);
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
}

static void test_http_stream_route_receives_multi_mb_body_in_chunks(void **state)
{
    (void)state;
    int port = PORT_BASE + 9;
    stream_counts sc = {0};
    ecm_http *h = upload_server(port, 64u << 20, NULL, &counting_stream, &sc);

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
    assert_stream_calls(&sc, 1, 1, 1);
}

static void test_http_stream_rejected_in_begin_skips_body_and_end(void **state)
{
    (void)state;
    int port = PORT_BASE + 10;
    stream_counts sc = {0};
    ecm_http *h = upload_server(port, 64u << 20, NULL, &counting_stream, &sc);
    http_answer a;
    stream_post(port, 2u * 1024 * 1024, NULL, &a);
    assert_problem(&a, 401, "unauthorized");
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
    assert_int_equal(atomic_load(&sc.bodies), 0);
    assert_stream_calls(&sc, 1, 0, 1);
}

static void test_http_stream_body_failure_stops_calls(void **state)
{
    (void)state;
    int port = PORT_BASE + 11;
    stream_counts sc = {0};
    ecm_http *h = upload_server(port, 64u << 20, NULL, &counting_stream, &sc);
    http_answer a;
    const char *headers[] = {"X-Allow: 1", "X-Fail-Body: 1", NULL};
    stream_post_with(port, 4u * 1024 * 1024, 0, headers, &a);
    assert_int_equal(a.status, 422);
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
    assert_int_equal(atomic_load(&sc.bodies), 1);
    assert_stream_calls(&sc, 1, 0, 1);
}

typedef struct {
    int port;
    http_answer a;
} bg_request;

/* The slow handler: says it has started, then holds its worker until the
 * test opens the gate (or 60 s pass, so that a broken server fails the test
 * rather than hanging it). */
static atomic_int slow_entered, slow_gate, slow_done;

static void wait_flag(atomic_int *flag, int polls)
{
    for (int i = 0; i < polls && !atomic_load(flag); i++) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void slow_handler(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    atomic_store(&slow_entered, 1);
    wait_flag(&slow_gate, 60000);
    atomic_store(&slow_done, 1);
    ecm_http_respond(req, 200, "text/plain", "slow", 4);
}

static void *bg_get_slow(void *p)
{
    bg_request *b = p;
    request("GET", b->port, "/slow", NULL, 0, NULL, &b->a);
    return NULL;
}

/* A request is answered while another's handler is still running: the
 * slow handler is held until the fast answer is in. */
static void test_http_slow_handler_does_not_block_other_requests(void **state)
{
    (void)state;
    int port = PORT_BASE + 12;
    atomic_store(&slow_entered, 0);
    atomic_store(&slow_gate, 0);
    atomic_store(&slow_done, 0);
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_route(h, "GET", "/slow", 0, slow_handler, NULL), 0);
    assert_int_equal(ecm_http_start(h), 0);
    bg_request b = {port, {0}};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_get_slow, &b), 0);
    wait_flag(&slow_entered, 60000);
    assert_true(atomic_load(&slow_entered));
    http_answer a;
    request("GET", port, "/healthz", NULL, 0, NULL, &a);
    int slow_still_running = !atomic_load(&slow_done);
    atomic_store(&slow_gate, 1);
    assert_int_equal(a.status, 200);
    ecm_test_http_answer_destroy(&a);
    assert_true(slow_still_running);
    pthread_join(th, NULL);
    assert_int_equal(b.a.status, 200);
    assert_string_equal(b.a.body, "slow");
    ecm_test_http_answer_destroy(&b.a);
    ecm_http_destroy(h);
}

static void test_http_start_fails_on_port_in_use(void **state)
{
    (void)state;
    int port = PORT_BASE + 13;
    ecm_http *h1 = server(port, NULL);
    ecm_http *h2 = server(port, NULL);
    assert_int_equal(ecm_http_start(h1), 0);
    assert_int_equal(ecm_http_start(h2), -1);
    ecm_http_destroy(h2);
    ecm_http_destroy(h1);
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
    int port = PORT_BASE + 14;
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

/* A probe that blocks while hang is set (a SELECT 1 on a connection behind
 * a silent partition), until the test clears it; blocked is 1 meanwhile. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t changed;
    int hang, blocked;
    atomic_int stop; /* ends prober_loop */
    int port;
} hanging_probe;

static int hanging_probe_fn(void *ctx, char *errstr, size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    hanging_probe *p = ctx;
    pthread_mutex_lock(&p->mu);
    p->blocked = p->hang;
    pthread_cond_broadcast(&p->changed);
    while (p->hang)
        pthread_cond_wait(&p->changed, &p->mu);
    p->blocked = 0;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Asks /readyz until told to stop, so that this thread's request is the one
 * that runs (and waits for) the hanging probe, as the kubelet's would. No
 * assertions here: cmocka's belong to the test's thread. */
static void *prober_loop(void *arg)
{
    hanging_probe *p = arg;
    while (!atomic_load(&p->stop)) {
        ecm_test_http_answer a;
        CURL *c = ecm_test_http_prepare(&a, p->port, "GET", "/readyz");
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
        (void)ecm_test_http_perform(c, &a);
        ecm_test_http_answer_destroy(&a);
        usleep(20000);
    }
    return NULL;
}

/* Polls /readyz (15 s at most) until it answers want; returns the last
 * answer's status and its reason in reason. */
static long readyz_until(int port, long want, char *reason, size_t reason_size)
{
    long status = 0;
    reason[0] = '\0';
    for (int i = 0; i < 300 && status != want; i++) {
        http_answer a;
        request("GET", port, "/readyz", NULL, 0, NULL, &a);
        status = a.status;
        if (status == 503) {
            json_t *j = answer_json(&a);
            snprintf(reason, reason_size, "%s", json_string_value(json_object_get(j, "reason")));
            json_decref(j);
        }
        ecm_test_http_answer_destroy(&a);
        if (status != want)
            usleep(50000);
    }
    return status;
}

/* A probe that does not come back means not ready once it has run for the
 * bound, not the last (ready) result forever; ready again once it ends. */
static void test_http_readyz_not_ready_while_a_probe_hangs(void **state)
{
    (void)state;
    hanging_probe p = {.hang = 0, .port = PORT_BASE + 15};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.changed, NULL);
    atomic_init(&p.stop, 0);
    ecm_http *h = server(p.port, NULL);
    ecm_http_set_ready(h, hanging_probe_fn, &p);
    ecm_http_set_ready_bound(h, 200);
    assert_int_equal(ecm_http_start(h), 0);
    char reason[512];
    assert_int_equal(readyz_until(p.port, 200, reason, sizeof reason), 200);

    pthread_mutex_lock(&p.mu);
    p.hang = 1;
    pthread_mutex_unlock(&p.mu);
    pthread_t prober;
    assert_int_equal(pthread_create(&prober, NULL, prober_loop, &p), 0);
    /* The other thread's request runs the probe, which now hangs. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&p.mu);
    while (!p.blocked && pthread_cond_timedwait(&p.changed, &p.mu, &until) == 0)
        ;
    int blocked = p.blocked;
    pthread_mutex_unlock(&p.mu);
    assert_int_equal(blocked, 1);
    assert_int_equal(readyz_until(p.port, 503, reason, sizeof reason), 503);
    assert_non_null(strstr(reason, "readiness check still running"));

    pthread_mutex_lock(&p.mu);
    p.hang = 0;
    pthread_cond_broadcast(&p.changed);
    pthread_mutex_unlock(&p.mu);
    atomic_store(&p.stop, 1);
    pthread_join(prober, NULL);
    assert_int_equal(readyz_until(p.port, 200, reason, sizeof reason), 200);
    ecm_http_destroy(h);
    pthread_cond_destroy(&p.changed);
    pthread_mutex_destroy(&p.mu);
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
        cmocka_unit_test(test_http_handler_without_answer_gives_500),
        cmocka_unit_test(test_http_stream_route_receives_multi_mb_body_in_chunks),
        cmocka_unit_test(test_http_stream_rejected_in_begin_skips_body_and_end),
        cmocka_unit_test(test_http_stream_body_failure_stops_calls),
        cmocka_unit_test(test_http_slow_handler_does_not_block_other_requests),
        cmocka_unit_test(test_http_start_fails_on_port_in_use),
        cmocka_unit_test(test_http_readyz_probe_runs_at_most_once_a_second),
        cmocka_unit_test(test_http_readyz_not_ready_while_a_probe_hangs),
    };
    return cmocka_run_group_tests(tests, http_test_global_setup, http_test_global_teardown);
}

#define _GNU_SOURCE /* strcasestr in http_test_support.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
#include "http_test_support.h"

/* ecm_http's limits: body caps, connection caps, deadlines and slow clients
 * (raw sockets where curl would be too polite). Ports from this binary's
 * range (20170-20189; test_http.c has 20110-20129, test_pg.c counts on
 * nobody listening on 20150-20151), one per test so that no test depends on
 * the previous one's socket being gone. */
#define PORT_BASE 20170

/* ---- raw clients ---- */

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

/* Reads what the server sends until the text holds marker (1) or the server
 * closes (0), for at most 30 s (a generous bound); out gets the text. */
static int raw_read_until(int fd, const char *marker, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    while (!strstr(out, marker) && used < out_size - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 30000) <= 0) {
            return 0;
        }
        ssize_t n = recv(fd, out + used, out_size - 1 - used, 0);
        if (n <= 0) {
            return 0;
        }
        used += (size_t)n;
        out[used] = '\0';
    }
    return strstr(out, marker) != NULL;
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

/* Connects to port, sends head, then drips chunk as a slow client does
 * until the server cuts the request (a 1 s deadline): fails the running test
 * unless the cut comes, not before the deadline, as a 408. got gets what the
 * server sent. */
static void expect_cut_at_deadline(int port, const char *head, const char *chunk, char *got,
                                   size_t got_size)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = raw_connect(port, NULL);
    raw_send(fd, head);
    int closed = drip_until_closed(fd, chunk, got, got_size);
    double ms = ms_since(&t0);
    close(fd);
    assert_int_equal(closed, 1);
    assert_true(ms >= 1000.0); /* never before the deadline */
    assert_non_null(strstr(got, "HTTP/1.1 408"));
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

/* ---- servers and handlers ---- */

static void hello(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    ecm_http_respond(req, 200, "text/plain", "hello", 5);
}

/* The default limits with a request deadline of timeout_s seconds. */
static ecm_http_limits deadline_limits(int timeout_s)
{
    ecm_http_limits l;
    ecm_http_limits_default(&l);
    l.request_timeout_s = timeout_s;
    return l;
}

/* A started server on port, with limits l (NULL: the defaults) and metrics m
 * (may be NULL), GET /hello and a buffered POST /small of 1,024 bytes at
 * most. */
static ecm_http *limited_server(int port, const ecm_http_limits *l, ecm_metrics *m)
{
    ecm_http *h = server(port, m);
    if (l) {
        ecm_http_set_limits(h, l);
    }
    assert_int_equal(ecm_http_route(h, "GET", "/hello", 0, hello, NULL), 0);
    assert_int_equal(ecm_http_route(h, "POST", "/small", 1024, echo_body, NULL), 0);
    assert_int_equal(ecm_http_start(h), 0);
    return h;
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

/* ---- tests ---- */

static void test_http_buffered_body_limit_gives_413(void **state)
{
    (void)state;
    int port = PORT_BASE;
    ecm_http *h = limited_server(port, NULL, NULL);
    char *big = malloc(300000);
    assert_non_null(big);
    memset(big, 'b', 300000);
    expect_answer("POST", port, "/small", big, 1024, 200, "1024:1");
    expect_problem("POST", port, "/small", big, 1025, 413, "payload-too-large");
    expect_problem("POST", port, "/small", big, 300000, 413, "payload-too-large");
    expect_answer("POST", port, "/small", NULL, 0, 200, "0:1");
    free(big);
    ecm_http_destroy(h);
}

static void test_http_per_client_cap_answers_429_then_closes(void **state)
{
    (void)state;
    int port = PORT_BASE + 1;
    ecm_http_limits l;
    ecm_http_limits_default(&l);
    l.max_per_client = 2; /* libmicrohttpd's own cap: 2 + 4 */
    ecm_http *h = limited_server(port, &l, NULL);
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

static void test_http_connection_cap_answers_503(void **state)
{
    (void)state;
    int port = PORT_BASE + 2;
    ecm_http_limits l;
    ecm_http_limits_default(&l);
    l.max_connections = 3;
    l.retry_after_s = 7;
    ecm_http *h = limited_server(port, &l, NULL);
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
    int port = PORT_BASE + 3;
    ecm_http_limits l = deadline_limits(1);
    ecm_metrics *m = ecm_metrics_new();
    ecm_http *h = limited_server(port, &l, m);
    /* A header byte every 100 ms keeps libmicrohttpd's idle timer happy;
     * only the deadline can end this. */
    char got[1024];
    expect_cut_at_deadline(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X", got, sizeof got);
    assert_non_null(strstr(got, "request-timeout"));
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
    int port = PORT_BASE + 4;
    ecm_http_limits l = deadline_limits(1);
    ecm_http *h = limited_server(port, &l, NULL);
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
    int port = PORT_BASE + 5;
    ecm_http_limits l = deadline_limits(1);
    ecm_http *h = limited_server(port, &l, NULL);
    char got[1024];
    expect_cut_at_deadline(port, "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
                           "b", got, sizeof got);
    ecm_http_destroy(h);
}

static void test_http_slow_stream_body_cut_below_min_rate(void **state)
{
    (void)state;
    int port = PORT_BASE + 6;
    stream_counts sc = {0};
    ecm_http_limits l = deadline_limits(1);
    l.stream_min_bytes_per_s = 1000;
    ecm_http *h = upload_server(port, 1u << 20, &l, &counting_stream, &sc);
    char got[1024];
    expect_cut_at_deadline(
        port, "POST /upload HTTP/1.1\r\nHost: x\r\nX-Allow: 1\r\nContent-Length: 100000\r\n\r\n",
        "0123456789", got, sizeof got);
    assert_non_null(strstr(got, "slower than 1000 bytes/s"));
    ecm_http_destroy(h); /* waits for the request's end */
    assert_stream_calls(&sc, 1, 0, 1);
}

static void test_http_stream_handler_time_does_not_count_against_the_client(void **state)
{
    (void)state;
    int port = PORT_BASE + 7;
    slow_stream ss = {0};
    const ecm_http_stream_handler fns = {NULL, slow_stream_body, slow_stream_end, NULL};
    ecm_http_limits l = deadline_limits(1);
    l.stream_min_bytes_per_s = 100000000; /* far above what the handler takes */
    ecm_http *h = upload_server(port, 64u << 20, &l, &fns, &ss);
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
    int port = PORT_BASE + 8;
    stream_counts sc = {0};
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_route_stream(h, "POST", "/upload", 100000, &counting_stream, &sc), 0);
    assert_int_equal(ecm_http_route_stream(h, "POST", "/none", 0, &counting_stream, &sc), -1);
    assert_int_equal(ecm_http_start(h), 0);
    http_answer a;
    /* Content-Length over the cap: answered before begin(). */
    stream_post(port, 100001, "X-Allow: 1", &a);
    assert_problem(&a, 413, "payload-too-large");
    ecm_test_http_answer_destroy(&a);
    assert_int_equal(atomic_load(&sc.begins), 0);
    /* Chunked: body() sees at most the cap. */
    const char *headers[] = {"X-Allow: 1", NULL};
    stream_post_with(port, 300000, 1, headers, &a);
    assert_problem(&a, 413, "payload-too-large");
    ecm_test_http_answer_destroy(&a);
    ecm_http_destroy(h);
    assert_stream_calls(&sc, 1, 0, 1);
}

/* A body over the cap with a Content-Length is read and dropped before the
 * 413, so a client still sending it gets the answer (not a reset) and its
 * connection stays usable: the next request on it is answered. A client
 * that waits for "100 Continue" gets the 413 at once, with no body sent. */
static void test_http_body_over_cap_drained_before_413(void **state)
{
    (void)state;
    int port = PORT_BASE + 9;
    stream_counts sc = {0};
    ecm_http *h = server(port, NULL);
    assert_int_equal(ecm_http_route_stream(h, "POST", "/upload", 100000, &counting_stream, &sc), 0);
    assert_int_equal(ecm_http_start(h), 0);
    size_t total = 100001;
    char *body = malloc(total);
    assert_non_null(body);
    memset(body, 'x', total);
    int fd = raw_connect(port, NULL);
    raw_send(fd, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                 "X-Allow: 1\r\nContent-Length: 100001\r\n\r\n");
    for (size_t sent = 0; sent < total;) {
        ssize_t n = send(fd, body + sent, total - sent, MSG_NOSIGNAL);
        assert_true(n > 0);
        sent += (size_t)n;
    }
    free(body);
    raw_send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    char got[8192];
    assert_int_equal(raw_wait_closed(fd, 30000, got, sizeof got), 1);
    close(fd);
    const char *first = strstr(got, "HTTP/1.1 413");
    assert_non_null(first);
    assert_non_null(strstr(first, "HTTP/1.1 200"));

    fd = raw_connect(port, NULL);
    raw_send(fd, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                 "X-Allow: 1\r\nExpect: 100-continue\r\nContent-Length: 100001\r\n\r\n");
    assert_int_equal(raw_wait_closed(fd, 30000, got, sizeof got), 1);
    close(fd);
    assert_ptr_equal(strstr(got, "HTTP/1.1 413"), got);
    assert_null(strstr(got, "100 Continue"));
    ecm_http_destroy(h);
    assert_stream_calls(&sc, 0, 0, 0);
}

/* A request arriving late in a kept-alive connection's idle time gets the
 * whole deadline for its body from its headers, not what was left of the
 * idle time (it got a 408 half-way through its body). Deadline 3 s: the
 * POST comes after 2 s idle and its body takes 2 s. If the machine stalls
 * so long that the idle connection is closed before the POST, the round is
 * tried again (at most 5). */
static void test_http_kept_alive_request_body_has_its_own_deadline(void **state)
{
    (void)state;
    int port = PORT_BASE + 10;
    ecm_http_limits l = deadline_limits(3);
    ecm_metrics *m = ecm_metrics_new();
    ecm_http *h = limited_server(port, &l, m);
    char got[2048];
    int done = 0;
    for (int round = 0; round < 5 && !done; round++) {
        int fd = raw_connect(port, NULL);
        raw_send(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_int_equal(raw_read_until(fd, "hello", got, sizeof got), 1);
        usleep(2000000); /* sleep-ok: idle time on the kept-alive connection */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0) {
            close(fd); /* closed while idle: the machine stalled; again */
            continue;
        }
        raw_send(fd, "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n");
        for (int i = 0; i < 20; i++) {
            usleep(100000); /* sleep-ok: a client sending its body slowly */
            (void)send(fd, "y", 1, MSG_NOSIGNAL);
        }
        (void)raw_read_until(fd, "20:1", got, sizeof got);
        close(fd);
        done = 1;
    }
    assert_int_equal(done, 1);
    assert_non_null(strstr(got, "HTTP/1.1 200"));
    assert_null(strstr(got, "408"));
    ecm_http_destroy(h);
    assert_true(ecm_metric_value(ecm_metrics_counter(
                    m, "ecm_http_requests_cut_total{reason=\"deadline\"}", "")) == 0.0);
    ecm_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_buffered_body_limit_gives_413),
        cmocka_unit_test(test_http_per_client_cap_answers_429_then_closes),
        cmocka_unit_test(test_http_connection_cap_answers_503),
        cmocka_unit_test(test_http_slow_drip_headers_cut_at_deadline),
        cmocka_unit_test(test_http_slow_drip_body_cut_at_deadline),
        cmocka_unit_test(test_http_idle_kept_alive_connection_closed_silently_at_deadline),
        cmocka_unit_test(test_http_slow_stream_body_cut_below_min_rate),
        cmocka_unit_test(test_http_stream_handler_time_does_not_count_against_the_client),
        cmocka_unit_test(test_http_stream_body_over_cap_gives_413),
        cmocka_unit_test(test_http_body_over_cap_drained_before_413),
        cmocka_unit_test(test_http_kept_alive_request_body_has_its_own_deadline),
    };
    return cmocka_run_group_tests(tests, http_test_global_setup, http_test_global_teardown);
}

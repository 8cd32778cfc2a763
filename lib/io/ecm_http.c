#include "ecm_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "ecm_buf.h"
#include "ecm_http_int.h"
#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_utf8.h"

static void builtin_healthz(void *ctx, ecm_http_req *req);
static void builtin_readyz(void *ctx, ecm_http_req *req);
static void builtin_metrics(void *ctx, ecm_http_req *req);

/* Splits pattern/path into segments (no empty ones). Returns the count, or -1
 * when there are too many. The strings point into buf, which is modified. */
static int split_path(char *buf, char **segs, int max)
{
    int n = 0;
    char *p = buf;
    while (*p) {
        while (*p == '/') {
            *p++ = '\0';
        }
        if (!*p) {
            break;
        }
        if (n == max) {
            return -1;
        }
        segs[n++] = p;
        while (*p && *p != '/') {
            p++;
        }
    }
    return n;
}

/* 1 when h already has a route for method and the path segments of r (not
 * yet counted in h->nroutes), else 0. Slashes do not count ("/a//b/" is
 * "/a/b") and "{}" matches only "{}". */
static int route_taken(const ecm_http *h, const char *method, const http_route *r)
{
    for (int i = 0; i < h->nroutes; i++) {
        const http_route *o = &h->routes[i];
        if (strcmp(o->method, method) != 0 || o->nsegs != r->nsegs)
            continue;
        int same = 1;
        for (int k = 0; k < r->nsegs && same; k++)
            same = strcmp(o->segs[k], r->segs[k]) == 0;
        if (same)
            return 1;
    }
    return 0;
}

static int add_route(ecm_http *h, const char *method, const char *pattern, size_t max_body,
                     ecm_http_handler fn, const ecm_http_stream_handler *sfns, void *ctx)
{
    if (!h || !method || !pattern || h->nroutes >= HTTP_MAX_ROUTES ||
        strlen(method) >= sizeof h->routes[0].method) {
        ecm_log_error("HTTP route not added", "%s %s", method ? method : "?",
                      pattern ? pattern : "?");
        return -1;
    }
    http_route *r = &h->routes[h->nroutes];
    memset(r, 0, sizeof *r);
    r->pattern = strdup(pattern);
    r->spec = strdup(pattern);
    if (!r->pattern || !r->spec) {
        free(r->pattern);
        free(r->spec);
        return -1;
    }
    r->nsegs = split_path(r->pattern, r->segs, HTTP_MAX_SEGMENTS);
    if (r->nsegs < 0) {
        free(r->pattern);
        free(r->spec);
        r->pattern = r->spec = NULL;
        ecm_log_error("HTTP route not added", "%s %s: too many segments", method, pattern);
        return -1;
    }
    if (route_taken(h, method, r)) {
        free(r->pattern);
        free(r->spec);
        r->pattern = r->spec = NULL;
        ecm_log_error("HTTP route not added", "%s %s: a route for it exists already", method,
                      pattern);
        return -1;
    }
    snprintf(r->method, sizeof r->method, "%s", method); /* trunc-ok: length checked above */
    r->max_body = max_body;
    r->fn = fn;
    if (sfns) {
        r->streaming = 1;
        r->sfns = *sfns;
    }
    r->ctx = ctx;
    h->nroutes++;
    return 0;
}

ecm_http *ecm_http_new(const char *bind_addr, int port, ecm_metrics *metrics)
{
    ecm_http *h = calloc(1, sizeof *h);
    if (!h) {
        return NULL;
    }
    if (bind_addr && !(h->bind_addr = strdup(bind_addr))) {
        free(h);
        return NULL;
    }
    h->port = port;
    h->metrics = metrics;
    ecm_http_limits_default(&h->limits);
    int woke = ecm_clock_cond_init(&h->wake) == 0;
    if (!woke || ecm_clock_cond_init(&h->ready.done) != 0) {
        if (woke)
            pthread_cond_destroy(&h->wake);
        free(h->bind_addr);
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->ready.mu, NULL);
    h->ready.stall_ms = HTTP_READY_STALL_MS;
    if (add_route(h, "GET", "/healthz", 0, builtin_healthz, NULL, h) != 0 ||
        add_route(h, "GET", "/readyz", 0, builtin_readyz, NULL, h) != 0 ||
        add_route(h, "GET", "/metrics", 0, builtin_metrics, NULL, h) != 0) {
        ecm_http_destroy(h);
        return NULL;
    }
    for (int i = 0; i < h->nroutes; i++) {
        h->routes[i].builtin = 1;
    }
    if (metrics) {
        const char *cut_help =
            "HTTP requests closed by the server before they were complete, by reason";
        const char *shed_help = "HTTP requests answered 503/429 at a connection cap, by cap";
        h->m_open =
            ecm_metrics_gauge(metrics, "ecm_http_connections_open", "HTTP connections open now");
        h->m_cut_deadline = ecm_metrics_counter(
            metrics, "ecm_http_requests_cut_total{reason=\"deadline\"}", cut_help);
        h->m_cut_slow = ecm_metrics_counter(
            metrics, "ecm_http_requests_cut_total{reason=\"slow_body\"}", cut_help);
        h->m_busy = ecm_metrics_counter(
            metrics, "ecm_http_requests_shed_total{cap=\"connections\"}", shed_help);
        h->m_client_busy = ecm_metrics_counter(
            metrics, "ecm_http_requests_shed_total{cap=\"per_client\"}", shed_help);
    }
    return h;
}

void ecm_http_limits_default(ecm_http_limits *l)
{
    l->max_connections = 1000;
    l->max_per_client = 64;
    l->request_timeout_s = 30;
    l->stream_min_bytes_per_s = 1024;
    l->retry_after_s = 2;
}

void ecm_http_set_limits(ecm_http *h, const ecm_http_limits *l)
{
    ecm_http_limits d;
    ecm_http_limits_default(&d);
    h->limits.max_connections = l->max_connections > 0 ? l->max_connections : d.max_connections;
    h->limits.max_per_client = l->max_per_client > 0 ? l->max_per_client : d.max_per_client;
    h->limits.request_timeout_s =
        l->request_timeout_s > 0 ? l->request_timeout_s : d.request_timeout_s;
    h->limits.stream_min_bytes_per_s =
        l->stream_min_bytes_per_s > 0 ? l->stream_min_bytes_per_s : d.stream_min_bytes_per_s;
    h->limits.retry_after_s = l->retry_after_s > 0 ? l->retry_after_s : d.retry_after_s;
}

void ecm_http_set_guard(ecm_http *h, const ecm_http_guard *g, void *ctx)
{
    h->guard = *g;
    h->guard_ctx = ctx;
}

void *ecm_http_req_principal(const ecm_http_req *r)
{
    return r->principal;
}

const char *ecm_http_req_route(const ecm_http_req *r)
{
    return r->route ? r->route->spec : NULL;
}

void ecm_http_set_ready(ecm_http *h, ecm_http_ready_fn fn, void *ctx)
{
    h->ready_fn = fn;
    h->ready_ctx = ctx;
}

void ecm_http_set_ready_bound(ecm_http *h, long ms)
{
    h->ready.stall_ms = ms > 0 ? ms : HTTP_READY_STALL_MS;
}

int ecm_http_route(ecm_http *h, const char *method, const char *pattern, size_t max_body,
                   ecm_http_handler fn, void *ctx)
{
    if (!fn) {
        return -1;
    }
    return add_route(h, method, pattern, max_body, fn, NULL, ctx);
}

int ecm_http_route_stream(ecm_http *h, const char *method, const char *pattern, size_t max_body,
                          const ecm_http_stream_handler *fns, void *ctx)
{
    if (!fns || !fns->body || !fns->end || max_body == 0) {
        return -1;
    }
    return add_route(h, method, pattern, max_body, NULL, fns, ctx);
}

/* ---- built-in routes ---- */

static void builtin_healthz(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    static const char body[] = "{\"status\":\"ok\"}";
    ecm_http_respond(req, 200, "application/json", body, sizeof body - 1);
}

/* Waits on c->done (c->mu held) until woken or until c->started_ms +
 * c->stall_ms on the monotonic clock. */
static void ready_wait(http_ready_cache *c)
{
    int64_t left = c->started_ms + c->stall_ms - ecm_clock_mono_ms();
    if (left <= 0)
        return;
    struct timespec ts = ecm_clock_mono_after_us(left * 1000);
    (void)pthread_cond_timedwait(&c->done, &c->mu, &ts);
}

/* The readiness verdict: the last probe's while it is less than
 * HTTP_READY_CACHE_MS old; else one caller probes while the others answer
 * from the previous result (or, before the first probe has ended, wait for
 * it). So the probe runs at most once a second, never twice at once, and
 * concurrent /readyz calls do not queue behind it. A probe running for
 * c->stall_ms or more means not ready: its last result says nothing about
 * now. Returns 1 when ready. */
static int ready_verdict(ecm_http *h, char *reason, size_t reason_size)
{
    http_ready_cache *c = &h->ready;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        int64_t now = ecm_clock_mono_ms();
        if (c->running && now - c->started_ms >= c->stall_ms) {
            snprintf(reason, reason_size,
                     "readiness check still running after %lld ms (database or broker not "
                     "answering)",
                     (long long)(now - c->started_ms));
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
        int fresh = c->have && now - c->at_ms < HTTP_READY_CACHE_MS;
        if (fresh || (c->have && c->running)) {
            int ok = c->ok;
            snprintf(reason, reason_size, "%s", c->reason);
            pthread_mutex_unlock(&c->mu);
            return ok;
        }
        if (!c->running) {
            break;
        }
        ready_wait(c);
    }
    c->running = 1;
    c->started_ms = ecm_clock_mono_ms();
    pthread_mutex_unlock(&c->mu);

    char why[sizeof c->reason] = "";
    int ok = h->ready_fn(h->ready_ctx, why, sizeof why) == 0;

    pthread_mutex_lock(&c->mu);
    c->ok = ok;
    snprintf(c->reason, sizeof c->reason, "%s", why);
    c->at_ms = ecm_clock_mono_ms();
    c->have = 1;
    c->running = 0;
    pthread_cond_broadcast(&c->done);
    pthread_mutex_unlock(&c->mu);
    snprintf(reason, reason_size, "%s", why);
    return ok;
}

static void builtin_readyz(void *ctx, ecm_http_req *req)
{
    ecm_http *h = ctx;
    char reason[512] = "";
    if (!h->ready_fn || ready_verdict(h, reason, sizeof reason)) {
        static const char body[] = "{\"status\":\"ok\"}";
        ecm_http_respond(req, 200, "application/json", body, sizeof body - 1);
        return;
    }
    json_t *obj = json_object();
    if (obj) {
        json_object_set_new(obj, "status", json_string("unavailable"));
        const char *why = reason[0] ? reason : "not ready";
        json_t *s = json_string(why);
        json_object_set_new(obj, "reason", s ? s : ecm_http_json_sanitized(why));
    }
    ecm_http_respond_json_obj(req, 503, obj, "application/json");
}

static void builtin_metrics(void *ctx, ecm_http_req *req)
{
    ecm_http *h = ctx;
    char *text = ecm_metrics_render(h->metrics);
    if (!text) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "metrics not rendered");
        return;
    }
    ecm_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
}

/* ---- dispatch ---- */

static int route_matches(const http_route *rt, char **segs, int nsegs)
{
    if (rt->nsegs != nsegs) {
        return 0;
    }
    for (int i = 0; i < nsegs; i++) {
        if (strcmp(rt->segs[i], "{}") != 0 && strcmp(rt->segs[i], segs[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Finds the route for the request; on none sets req->route NULL and fills
 * req->allow with the methods the path accepts (empty: no such path). */
static void match_route(ecm_http_req *req)
{
    char *copy = strdup(req->path);
    char *segs[HTTP_MAX_SEGMENTS];
    int nsegs;
    /* HEAD is answered like GET (MHD leaves the body out). */
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;

    req->route = NULL;
    req->allow[0] = '\0';
    if (!copy) {
        return;
    }
    nsegs = split_path(copy, segs, HTTP_MAX_SEGMENTS);
    for (int i = 0; nsegs >= 0 && i < req->h->nroutes; i++) {
        const http_route *rt = &req->h->routes[i];
        if (!route_matches(rt, segs, nsegs)) {
            continue;
        }
        if (strcmp(rt->method, method) != 0) {
            size_t used = strlen(req->allow);
            if (!strstr(req->allow, rt->method)) {
                snprintf(req->allow + used, sizeof req->allow - used, "%s%s", used ? ", " : "",
                         rt->method);
            }
            continue;
        }
        req->route = rt;
        req->nparams = 0;
        for (int s = 0; s < nsegs; s++) {
            if (strcmp(rt->segs[s], "{}") == 0 && req->nparams < HTTP_MAX_PARAMS) {
                req->params[req->nparams] = strdup(segs[s]);
                if (req->params[req->nparams]) {
                    req->nparams++;
                }
            }
        }
        break;
    }
    free(copy);
}

static void count_request(ecm_http *h, unsigned int status)
{
    char name[96];
    if (!h->metrics) {
        return;
    }
    snprintf(name, sizeof name, "ecm_http_requests_total{code=\"%u\"}", status);
    ecm_metric_add(ecm_metrics_counter(h->metrics, name, "HTTP requests answered, by status"), 1);
}

static enum MHD_Result queue_answer(ecm_http_req *req)
{
    if (!req->resp) {
        ecm_log_error("HTTP handler did not answer", "%s %s", req->method, req->path);
        ecm_http_respond_problem(req, 500, "internal", "Internal error",
                                 "the request was not answered");
        if (!req->resp) {
            return MHD_NO;
        }
    }
    req->phase = REQ_ANSWERED;
    count_request(req->h, req->status);
    return MHD_queue_response(req->conn, req->status, req->resp);
}

/* Content-Length of the request, or -1 when absent or not a number. */
static long long content_length(ecm_http_req *req)
{
    const char *cl = ecm_http_req_header(req, "Content-Length");
    if (!cl || !*cl) {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(cl, &end, 10);
    return errno || *end || v < 0 ? -1 : v;
}

/* 1 when the client waits for "100 Continue" before sending its body: an
 * answer before the body then costs it nothing. */
static int expects_continue(ecm_http_req *req)
{
    const char *e = ecm_http_req_header(req, "Expect");
    return e && strcasecmp(e, "100-continue") == 0;
}

/* Headers are in: decides whether the request is answered at once (no
 * route, a soft cap, a body over the cap, begin() refusing). Returns 1 when
 * an answer is ready, else 0. */
static int request_begin(ecm_http *h, ecm_http_req *req, const char *method, const char *url)
{
    match_route(req);
    if (!req->route) {
        if (req->allow[0]) {
            ecm_http_add_header(req, "Allow", req->allow);
            ecm_http_respond_problem(req, 405, "method-not-allowed", "Method not allowed",
                                     "%s is not allowed on %s", method, url);
        } else {
            ecm_http_respond_problem(req, 404, "not-found", "Not found", "no resource at %s", url);
        }
        return 1;
    }
    int cap = req->route->builtin ? 0 : ecm_http_conn_over_soft_cap(h, req->hc);
    if (cap) {
        char retry[16];
        snprintf(retry, sizeof retry, "%d", h->limits.retry_after_s);
        ecm_http_add_header(req, "Retry-After", retry);
        ecm_http_add_header(req, "Connection", "close");
        if (cap == 503) {
            ecm_metric_add(h->m_busy, 1);
            ecm_http_respond_problem(req, 503, "busy", "Server busy",
                                     "more than %d connections are open; try again later",
                                     h->limits.max_connections);
        } else {
            ecm_metric_add(h->m_client_busy, 1);
            ecm_http_respond_problem(req, 429, "too-many-connections", "Too many connections",
                                     "more than %d connections are open from your address; "
                                     "try again later",
                                     h->limits.max_per_client);
        }
        return 1;
    }
    if (!req->route->builtin && h->guard.check) {
        ecm_http_conn_phase_set(h, req->hc, CONN_HANDLER);
        if (h->guard.check(h->guard_ctx, req, req->route->method, req->route->spec,
                           &req->principal) != 0) {
            return 1;
        }
        req->guarded = 1;
    }
    long long cl = content_length(req);
    if (cl >= 0 && (unsigned long long)cl > req->route->max_body) {
        if (!expects_continue(req) &&
            (unsigned long long)cl <=
                (unsigned long long)req->route->max_body + HTTP_DISCARD_SLACK) {
            /* Read and drop the body, then answer (on_request): closing with
             * the body unread resets the connection, and a client still
             * sending it would get the reset instead of this answer. */
            req->too_big = 1;
            req->phase = REQ_DISCARD;
            ecm_http_conn_phase_set(h, req->hc, CONN_BODY);
            return 0;
        }
        ecm_http_respond_problem(req, 413, "payload-too-large", "Payload too large",
                                 "the body is larger than %zu bytes", req->route->max_body);
        return 1;
    }
    if (req->route->streaming) {
        req->began = 1;
        if (req->route->sfns.begin) {
            ecm_http_conn_phase_set(h, req->hc, CONN_HANDLER);
            if (req->route->sfns.begin(req->route->ctx, req) != 0) {
                return 1;
            }
        }
        ecm_http_conn_phase_set(h, req->hc, CONN_STREAM);
        return 0;
    }
    ecm_http_conn_phase_set(h, req->hc, CONN_BODY);
    return 0;
}

/* A chunk of the body. Returns MHD_NO to close the connection (a dropped
 * body that goes on too far past the cap). */
static enum MHD_Result request_chunk(ecm_http *h, ecm_http_req *req, const char *data, size_t n)
{
    const http_route *rt = req->route;
    req->received += n;
    if (req->phase != REQ_READING) {
        if (rt && rt->streaming) {
            ecm_http_conn_stream_busy(h, req->hc, 0, n); /* keeps up the rate while dropped */
        }
        size_t cap = rt ? rt->max_body : 0;
        return req->received > (uint64_t)cap + HTTP_DISCARD_SLACK ? MHD_NO : MHD_YES;
    }
    if (rt->streaming) {
        if (req->received > rt->max_body) {
            req->too_big = 1;
            req->phase = REQ_DISCARD;
            ecm_http_conn_stream_busy(h, req->hc, 0, n);
            return MHD_YES;
        }
        ecm_http_conn_stream_busy(h, req->hc, 1, 0);
        int rc = rt->sfns.body(rt->ctx, req, data, n);
        ecm_http_conn_stream_busy(h, req->hc, 0, n);
        if (rc != 0) {
            req->phase = REQ_DISCARD;
        }
        return MHD_YES;
    }
    if (ecm_buf_len(&req->body) + n > rt->max_body) {
        req->too_big = 1;
        req->phase = REQ_DISCARD;
        ecm_buf_destroy(&req->body);
        return MHD_YES;
    }
    if (!ecm_buf_ptr(&req->body))
        ecm_buf_init(&req->body, rt->max_body + 1);
    if (ecm_buf_add(&req->body, data, n) != 0) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error",
                                 "out of memory reading the body");
        req->phase = REQ_DISCARD;
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    ecm_http *h = cls;
    ecm_http_req *req = *con_cls;
    (void)version;

    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req) {
            return MHD_NO;
        }
        req->h = h;
        req->conn = conn;
        req->hc = ecm_http_conn_record(conn);
        req->method = strdup(method);
        req->path = strdup(url);
        *con_cls = req;
        if (!req->method || !req->path) {
            return MHD_NO;
        }
        if (request_begin(h, req, method, url)) {
            /* Answered before the body: libmicrohttpd drops any body and
             * closes the connection after the answer. */
            req->phase = REQ_DISCARD;
            ecm_http_conn_phase_set(h, req->hc, CONN_HANDLER);
            return queue_answer(req);
        }
        return MHD_YES;
    }

    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return request_chunk(h, req, upload_data, n);
    }

    /* The body is complete. */
    if (req->phase == REQ_ANSWERED) {
        return MHD_YES;
    }
    ecm_http_conn_phase_set(h, req->hc, CONN_HANDLER);
    if (req->too_big) {
        if (req->resp) {
            MHD_destroy_response(req->resp);
            req->resp = NULL;
        }
        ecm_http_respond_problem(req, 413, "payload-too-large", "Payload too large",
                                 "the body is larger than %zu bytes", req->route->max_body);
    } else if (req->phase == REQ_READING) {
        if (req->route->streaming) {
            req->route->sfns.end(req->route->ctx, req);
        } else {
            req->route->fn(req->route->ctx, req);
        }
    }
    return queue_answer(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ecm_http *h = cls;
    ecm_http_req *req = *con_cls;
    (void)toe;
    /* The connection waits for its next request: the deadline starts over. */
    ecm_http_conn_phase_set(h, ecm_http_conn_record(conn), CONN_WAITING);
    if (!req) {
        return;
    }
    if (req->began && req->route && req->route->sfns.cleanup) {
        req->route->sfns.cleanup(req->route->ctx, req);
    }
    if (req->guarded && h->guard.release) {
        h->guard.release(h->guard_ctx, req->principal);
    }
    for (int i = 0; i < req->nparams; i++) {
        free(req->params[i]);
    }
    ecm_http_req_free_headers(req);
    if (req->resp) {
        MHD_destroy_response(req->resp);
    }
    ecm_buf_destroy(&req->body);
    free(req->method);
    free(req->path);
    free(req);
    *con_cls = NULL;
}

/* 0..15 for a hex digit, else -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* libmicrohttpd's unescaping of the path and the query, but for "%00": a
 * NUL would cut the string short, and "/api/v1/campaigns/%00/activate"
 * would reach the route of "/api/v1/campaigns/". It stays the three
 * characters "%00", which no route or parameter takes. */
static size_t unescape_keeping_nul(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (r[0] == '%' && (hi = hex_value(r[1])) >= 0 && (lo = hex_value(r[2])) >= 0 &&
            (hi | lo) != 0) {
            *w++ = (char)(hi << 4 | lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* libmicrohttpd's hard caps: a little above the soft ones, so that the
 * requests between them get an answer (503/429) instead of a closed or
 * queued connection. */
static unsigned int hard_cap(int soft, int min_margin)
{
    int margin = soft / 8 > min_margin ? soft / 8 : min_margin;
    return (unsigned int)(soft + margin);
}

/* Makes room for the connections under RLIMIT_NOFILE (raising the soft
 * limit towards the hard one when needed). Returns the hard connection cap
 * that fits. */
static unsigned int fit_fd_limit(unsigned int want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return want;
    }
    rlim_t need = (rlim_t)want + HTTP_FD_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            rl.rlim_cur = old;
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        unsigned int fit = rl.rlim_cur > 2 * HTTP_FD_RESERVE
                               ? (unsigned int)(rl.rlim_cur - HTTP_FD_RESERVE)
                               : (unsigned int)(rl.rlim_cur / 2);
        ecm_log_hint(ECM_LOG_WARN, "HTTP connection cap lowered to fit the open-file limit",
                     "raise the process's open-file limit (ulimit -n)", "%u instead of %u", fit,
                     want);
        return fit;
    }
    return want;
}

int ecm_http_start(ecm_http *h)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa = NULL;
    /* Thread per connection: handlers block on the database, and a thread
     * waiting in poll() costs little; the caps and the reaper keep their
     * number bounded. poll(), not select(): descriptors past 1023 work. */
    unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION;

    if (!h || h->daemon) {
        return -1;
    }
    if (h->port < 1 || h->port > 65535) {
        ecm_log_error("HTTP server not started", "port %d is out of range", h->port);
        return -1;
    }
    if (h->bind_addr && h->bind_addr[0]) {
        memset(&sin, 0, sizeof sin);
        memset(&sin6, 0, sizeof sin6);
        if (inet_pton(AF_INET, h->bind_addr, &sin.sin_addr) == 1) {
            sin.sin_family = AF_INET;
            sin.sin_port = htons((uint16_t)h->port);
            sa = (struct sockaddr *)&sin;
        } else if (inet_pton(AF_INET6, h->bind_addr, &sin6.sin6_addr) == 1) {
            sin6.sin6_family = AF_INET6;
            sin6.sin6_port = htons((uint16_t)h->port);
            sa = (struct sockaddr *)&sin6;
            flags |= MHD_USE_IPv6;
        } else {
            ecm_log_error("HTTP server not started", "bind address '%s' is not an IP address",
                          h->bind_addr);
            return -1;
        }
    }
    unsigned int total = fit_fd_limit(hard_cap(h->limits.max_connections, 16));
    unsigned int per_client = hard_cap(h->limits.max_per_client, 4);
    if ((unsigned int)h->limits.max_connections >= total) {
        h->limits.max_connections = (int)(total * 7 / 8);
    }
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)ecm_http_conn_opened, h},
        {MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONNECTION_TIMEOUT_S, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)total, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)per_client, NULL},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_keeping_nul, NULL},
        {sa ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, 0, sa},
        {MHD_OPTION_END, 0, NULL},
    };
    h->daemon = MHD_start_daemon(flags, (uint16_t)h->port, NULL, NULL, on_request, h,
                                 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!h->daemon) {
        ecm_log_hint(ECM_LOG_ERROR, "HTTP server not started", "is another process using the port?",
                     "%s:%d", h->bind_addr ? h->bind_addr : "0.0.0.0", h->port);
        return -1;
    }
    h->reaper_stop = 0;
    if (pthread_create(&h->reaper, NULL, ecm_http_conn_reaper, h) != 0) {
        ecm_log_error("HTTP server not started", "the request reaper thread did not start");
        MHD_stop_daemon(h->daemon);
        h->daemon = NULL;
        return -1;
    }
    h->reaper_running = 1;
    ecm_log_info("HTTP server listening",
                 "%s:%d; at most %d connections (%d per client), requests within %d s",
                 h->bind_addr ? h->bind_addr : "0.0.0.0", h->port, h->limits.max_connections,
                 h->limits.max_per_client, h->limits.request_timeout_s);
    return 0;
}

void ecm_http_destroy(ecm_http *h)
{
    if (!h) {
        return;
    }
    if (h->reaper_running) {
        pthread_mutex_lock(&h->mu);
        h->reaper_stop = 1;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->reaper, NULL);
        h->reaper_running = 0;
    }
    if (h->daemon) {
        MHD_stop_daemon(h->daemon); /* closes every connection: h->conns is empty after */
    }
    for (int i = 0; i < HTTP_CLIENT_BUCKETS; i++) {
        while (h->clients[i]) {
            http_client *next = h->clients[i]->next;
            free(h->clients[i]);
            h->clients[i] = next;
        }
    }
    for (int i = 0; i < h->nroutes; i++) {
        free(h->routes[i].pattern);
        free(h->routes[i].spec);
    }
    pthread_cond_destroy(&h->ready.done);
    pthread_mutex_destroy(&h->ready.mu);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->mu);
    free(h->bind_addr);
    free(h);
}

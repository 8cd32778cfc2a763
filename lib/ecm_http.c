#include "ecm_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "ecm_log.h"
#include "ecm_utf8.h"

#define HTTP_MAX_ROUTES 128
#define HTTP_MAX_SEGMENTS 16
#define HTTP_MAX_PARAMS 8
#define HTTP_CONNECTION_TIMEOUT_S 60
#define HTTP_PROBLEM_BASE "https://ecm.dev/problems/"

typedef struct {
    char method[8];
    char *pattern;
    char *segs[HTTP_MAX_SEGMENTS]; /* "{}" for a parameter */
    int nsegs;
    size_t max_body;
    int streaming;
    ecm_http_handler fn;
    ecm_http_stream_handler sfns;
    void *ctx;
} http_route;

struct ecm_http {
    struct MHD_Daemon *daemon;
    char *bind_addr;
    int port;
    ecm_metrics *metrics;
    ecm_http_ready_fn ready_fn;
    void *ready_ctx;
    http_route routes[HTTP_MAX_ROUTES];
    int nroutes;
};

typedef struct http_header {
    struct http_header *next;
    char *name, *value;
} http_header;

typedef enum {
    REQ_READING,  /* body goes to the buffer or to body() */
    REQ_DISCARD,  /* an answer is decided; the rest of the body is ignored */
    REQ_ANSWERED, /* the response was queued */
} req_phase;

struct ecm_http_req {
    ecm_http *h;
    struct MHD_Connection *conn;
    const http_route *route;
    char *method;
    char *path;
    char *params[HTTP_MAX_PARAMS];
    int nparams;
    req_phase phase;
    int too_big;
    int began; /* begin() was called, so cleanup() is due */
    char *body;
    size_t body_len, body_cap;
    void *state;
    http_header *headers; /* added before the answer */
    struct MHD_Response *resp;
    unsigned int status;
    int allow_len;
    char allow[64];
};

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
    if (!r->pattern) {
        return -1;
    }
    r->nsegs = split_path(r->pattern, r->segs, HTTP_MAX_SEGMENTS);
    if (r->nsegs < 0) {
        free(r->pattern);
        r->pattern = NULL;
        ecm_log_error("HTTP route not added", "%s %s: too many segments", method, pattern);
        return -1;
    }
    snprintf(r->method, sizeof r->method, "%s", method);
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
    if (add_route(h, "GET", "/healthz", 0, builtin_healthz, NULL, h) != 0 ||
        add_route(h, "GET", "/readyz", 0, builtin_readyz, NULL, h) != 0 ||
        add_route(h, "GET", "/metrics", 0, builtin_metrics, NULL, h) != 0) {
        ecm_http_destroy(h);
        return NULL;
    }
    return h;
}

void ecm_http_set_ready(ecm_http *h, ecm_http_ready_fn fn, void *ctx)
{
    h->ready_fn = fn;
    h->ready_ctx = ctx;
}

int ecm_http_route(ecm_http *h, const char *method, const char *pattern, size_t max_body,
                   ecm_http_handler fn, void *ctx)
{
    if (!fn) {
        return -1;
    }
    return add_route(h, method, pattern, max_body, fn, NULL, ctx);
}

int ecm_http_route_stream(ecm_http *h, const char *method, const char *pattern,
                          const ecm_http_stream_handler *fns, void *ctx)
{
    if (!fns || !fns->body || !fns->end) {
        return -1;
    }
    return add_route(h, method, pattern, 0, NULL, fns, ctx);
}

/* ---- answers ---- */

static void free_headers(ecm_http_req *r)
{
    for (http_header *x = r->headers; x;) {
        http_header *next = x->next;
        free(x->name);
        free(x->value);
        free(x);
        x = next;
    }
    r->headers = NULL;
}

void ecm_http_add_header(ecm_http_req *r, const char *name, const char *value)
{
    if (!r || !name || !value) {
        return;
    }
    if (r->resp) {
        MHD_add_response_header(r->resp, name, value);
        return;
    }
    http_header *x = calloc(1, sizeof *x);
    if (!x) {
        return;
    }
    x->name = strdup(name);
    x->value = strdup(value);
    if (!x->name || !x->value) {
        free(x->name);
        free(x->value);
        free(x);
        return;
    }
    /* Kept in call order so that repeated headers come out as added. */
    http_header **tail = &r->headers;
    while (*tail) {
        tail = &(*tail)->next;
    }
    *tail = x;
}

void ecm_http_respond(ecm_http_req *r, int status, const char *content_type, const char *body,
                      size_t len)
{
    if (!r) {
        return;
    }
    if (r->resp) {
        ecm_log_warn("HTTP handler answered twice", "%s %s: second status %d ignored", r->method,
                     r->path, status);
        return;
    }
    r->resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!r->resp) {
        ecm_log_error("HTTP response not created", "%s %s", r->method, r->path);
        return;
    }
    r->status = (unsigned int)status;
    if (content_type) {
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    }
    for (http_header *x = r->headers; x; x = x->next) {
        MHD_add_response_header(r->resp, x->name, x->value);
    }
    free_headers(r);
}

static void respond_json(ecm_http_req *r, int status, json_t *obj, const char *content_type)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (text) {
        ecm_http_respond(r, status, content_type, text, strlen(text));
    } else {
        ecm_http_respond(r, status, content_type, "{}", 2);
    }
    free(text);
    json_decref(obj);
}

/* A JSON string of s with ill-formed UTF-8 replaced by U+FFFD. */
static json_t *json_string_sanitized(const char *s)
{
    char fixed[4096];
    ecm_utf8_copy(fixed, sizeof fixed, s, strlen(s));
    json_t *v = json_string(fixed);
    return v ? v : json_string("");
}

void ecm_http_respond_problem(ecm_http_req *r, int status, const char *type, const char *title,
                              const char *detail_fmt, ...)
{
    char type_uri[256];
    snprintf(type_uri, sizeof type_uri, "%s%s", HTTP_PROBLEM_BASE, type ? type : "about:blank");
    json_t *obj = json_object();
    if (obj) {
        json_object_set_new(obj, "type", json_string(type_uri));
        json_object_set_new(obj, "title", json_string(title ? title : ""));
        json_object_set_new(obj, "status", json_integer(status));
        if (detail_fmt) {
            char detail[2048];
            va_list ap;
            va_start(ap, detail_fmt);
            vsnprintf(detail, sizeof detail, detail_fmt, ap);
            va_end(ap);
            /* json_string rejects invalid UTF-8; keep the problem valid anyway. */
            json_t *d = json_string(detail);
            if (!d) {
                d = json_string_sanitized(detail);
            }
            json_object_set_new(obj, "detail", d);
        }
    }
    respond_json(r, status, obj, "application/problem+json");
}

/* ---- built-in routes ---- */

static void builtin_healthz(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    static const char body[] = "{\"status\":\"ok\"}";
    ecm_http_respond(req, 200, "application/json", body, sizeof body - 1);
}

static void builtin_readyz(void *ctx, ecm_http_req *req)
{
    ecm_http *h = ctx;
    char reason[512] = "";
    if (!h->ready_fn || h->ready_fn(h->ready_ctx, reason, sizeof reason) == 0) {
        static const char body[] = "{\"status\":\"ok\"}";
        ecm_http_respond(req, 200, "application/json", body, sizeof body - 1);
        return;
    }
    json_t *obj = json_object();
    if (obj) {
        json_object_set_new(obj, "status", json_string("unavailable"));
        const char *why = reason[0] ? reason : "not ready";
        json_t *s = json_string(why);
        json_object_set_new(obj, "reason", s ? s : json_string_sanitized(why));
    }
    respond_json(req, 503, obj, "application/json");
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

/* ---- request accessors ---- */

const char *ecm_http_req_method(const ecm_http_req *r)
{
    return r->method;
}

const char *ecm_http_req_path(const ecm_http_req *r)
{
    return r->path;
}

const char *ecm_http_req_param(const ecm_http_req *r, int n)
{
    if (n < 0 || n >= r->nparams) {
        return NULL;
    }
    return r->params[n];
}

const char *ecm_http_req_query(ecm_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *ecm_http_req_header(ecm_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int ecm_http_req_client_addr(ecm_http_req *r, char *out, size_t out_size)
{
    if (out_size > 0)
        out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa == NULL || out_size == 0)
        return -1;
    const void *bytes = NULL;
    if (sa->sa_family == AF_INET)
        bytes = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        bytes = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (bytes == NULL || inet_ntop(sa->sa_family, bytes, out, (socklen_t)out_size) == NULL) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

const char *ecm_http_req_body(const ecm_http_req *r, size_t *len)
{
    if (len) {
        *len = r->body ? r->body_len : 0;
    }
    return r->body ? r->body : "";
}

void ecm_http_req_set_state(ecm_http_req *r, void *state)
{
    r->state = state;
}

void *ecm_http_req_state(const ecm_http_req *r)
{
    return r->state;
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
        req->method = strdup(method);
        req->path = strdup(url);
        *con_cls = req;
        if (!req->method || !req->path) {
            return MHD_NO;
        }
        match_route(req);
        if (!req->route) {
            if (req->allow[0]) {
                ecm_http_add_header(req, "Allow", req->allow);
                ecm_http_respond_problem(req, 405, "method-not-allowed", "Method not allowed",
                                         "%s is not allowed on %s", method, url);
            } else {
                ecm_http_respond_problem(req, 404, "not-found", "Not found", "no resource at %s",
                                         url);
            }
            req->phase = REQ_DISCARD;
        } else if (req->route->streaming) {
            if (req->route->sfns.begin) {
                req->began = 1;
                if (req->route->sfns.begin(req->route->ctx, req) != 0) {
                    req->phase = REQ_DISCARD;
                }
            } else {
                req->began = 1;
            }
        }
        return MHD_YES;
    }

    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->phase != REQ_READING) {
            return MHD_YES;
        }
        if (req->route->streaming) {
            if (req->route->sfns.body(req->route->ctx, req, upload_data, n) != 0) {
                req->phase = REQ_DISCARD;
            }
            return MHD_YES;
        }
        if (req->body_len + n > req->route->max_body) {
            req->too_big = 1;
            req->phase = REQ_DISCARD;
            free(req->body);
            req->body = NULL;
            req->body_len = req->body_cap = 0;
            return MHD_YES;
        }
        if (req->body_len + n + 1 > req->body_cap) {
            size_t ncap = req->body_cap ? req->body_cap : 4096;
            while (ncap < req->body_len + n + 1) {
                ncap *= 2;
            }
            if (ncap > req->route->max_body + 1) {
                ncap = req->route->max_body + 1;
            }
            char *grown = realloc(req->body, ncap);
            if (!grown) {
                ecm_http_respond_problem(req, 500, "internal", "Internal error",
                                         "out of memory reading the body");
                req->phase = REQ_DISCARD;
                return MHD_YES;
            }
            req->body = grown;
            req->body_cap = ncap;
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        req->body[req->body_len] = '\0';
        return MHD_YES;
    }

    /* The body is complete. */
    if (req->phase == REQ_ANSWERED) {
        return MHD_YES;
    }
    if (req->too_big) {
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
    ecm_http_req *req = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (!req) {
        return;
    }
    if (req->began && req->route && req->route->sfns.cleanup) {
        req->route->sfns.cleanup(req->route->ctx, req);
    }
    for (int i = 0; i < req->nparams; i++) {
        free(req->params[i]);
    }
    free_headers(req);
    if (req->resp) {
        MHD_destroy_response(req->resp);
    }
    free(req->body);
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

int ecm_http_start(ecm_http *h)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa = NULL;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;

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
    if (sa) {
        h->daemon = MHD_start_daemon(
            flags, (uint16_t)h->port, NULL, NULL, on_request, h, MHD_OPTION_NOTIFY_COMPLETED,
            on_completed, h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONNECTION_TIMEOUT_S,
            MHD_OPTION_UNESCAPE_CALLBACK, unescape_keeping_nul, NULL, MHD_OPTION_SOCK_ADDR, sa,
            MHD_OPTION_END);
    } else {
        h->daemon = MHD_start_daemon(
            flags, (uint16_t)h->port, NULL, NULL, on_request, h, MHD_OPTION_NOTIFY_COMPLETED,
            on_completed, h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONNECTION_TIMEOUT_S,
            MHD_OPTION_UNESCAPE_CALLBACK, unescape_keeping_nul, NULL, MHD_OPTION_END);
    }
    if (!h->daemon) {
        ecm_log_hint(ECM_LOG_ERROR, "HTTP server not started", "is another process using the port?",
                     "%s:%d", h->bind_addr ? h->bind_addr : "0.0.0.0", h->port);
        return -1;
    }
    ecm_log_info("HTTP server listening", "%s:%d", h->bind_addr ? h->bind_addr : "0.0.0.0",
                 h->port);
    return 0;
}

void ecm_http_destroy(ecm_http *h)
{
    if (!h) {
        return;
    }
    if (h->daemon) {
        MHD_stop_daemon(h->daemon);
    }
    for (int i = 0; i < h->nroutes; i++) {
        free(h->routes[i].pattern);
    }
    free(h->bind_addr);
    free(h);
}

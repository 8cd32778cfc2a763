/* A small HTTP server on libmicrohttpd: every service's side port
 * (/healthz, /readyz, /metrics) and the routes a service adds (the gateway's
 * API, the simulators, DLR callbacks). One thread per connection, so a
 * handler may block on the database; the number of connections is capped
 * (in all and per client address) and every request has a deadline, so
 * slow or idle clients cannot hold the threads (see ecm_http_limits). */
#ifndef ECM_HTTP_H
#define ECM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_metrics.h"

typedef struct ecm_http ecm_http;
typedef struct ecm_http_req ecm_http_req;

/* Buffered handler: called once with the whole body (at most the route's
 * max_body bytes; a bigger body is answered 413 without calling it). Must
 * answer with one of the ecm_http_respond* functions. */
typedef void (*ecm_http_handler)(void *ctx, ecm_http_req *req);

/* Streaming handler, for bodies that must not be held in memory. */
typedef struct {
    /* Headers are in. Return 0 to accept the body, or answer and return -1. */
    int (*begin)(void *ctx, ecm_http_req *req);
    /* One chunk of the body. Return 0, or answer and return -1 (the rest of
     * the body is then discarded). */
    int (*body)(void *ctx, ecm_http_req *req, const char *data, size_t len);
    /* The body is complete: answer. Not called after a -1. */
    void (*end)(void *ctx, ecm_http_req *req);
    /* Always called last, to free what begin() put in ecm_http_req_set_state(). */
    void (*cleanup)(void *ctx, ecm_http_req *req);
} ecm_http_stream_handler;

/* Returns 0 when ready, or -1 with a reason in errstr (reported by /readyz).
 * Called at most once a second, never twice at once: /readyz answers from the
 * last result while it is less than a second old. */
typedef int (*ecm_http_ready_fn)(void *ctx, char *errstr, size_t errstr_size);

/* What the server lets clients take. Over a soft cap a request is answered
 * at once, with Retry-After, and its connection closed: 503 over
 * max_connections, 429 over max_per_client. libmicrohttpd's own caps sit a
 * little above (no answer is possible there: past the total one new
 * connections wait in the kernel's backlog, past the per-client one they are
 * closed at accept). /healthz, /readyz and /metrics are exempt from the soft
 * caps, so that probes still answer while the server sheds load. */
typedef struct {
    int max_connections;        /* open connections in all */
    int max_per_client;         /* open connections from one client address */
    int request_timeout_s;      /* headers and a buffered body, from the first byte (or
                                 * from the end of the previous request on a kept-alive
                                 * connection); then the connection is closed (408) */
    int stream_min_bytes_per_s; /* streaming bodies: after request_timeout_s, the body
                                 * must have come at least this fast on average (time
                                 * the handler itself takes does not count) */
    int retry_after_s;          /* Retry-After of the 429/503 above */
} ecm_http_limits;

/* The defaults: 1000 connections, 64 per client, 30 s, 1024 bytes/s, 2 s.
 * Can't fail. */
void ecm_http_limits_default(ecm_http_limits *l);

/* Creates a server on 0.0.0.0:port (bind_addr may be "127.0.0.1"; NULL for
 * all). metrics may be NULL. Routes are added before ecm_http_start(). */
ecm_http *ecm_http_new(const char *bind_addr, int port, ecm_metrics *metrics)
    __attribute__((warn_unused_result));
void ecm_http_set_ready(ecm_http *h, ecm_http_ready_fn fn, void *ctx);
/* While a probe has been running for ms or more (a query hanging on a
 * silent network partition), /readyz answers not ready instead of the last
 * result; a first probe is not waited for longer. 4000 ms unless set; ms
 * <= 0 restores it. Call before ecm_http_start(). Can't fail. */
void ecm_http_set_ready_bound(ecm_http *h, long ms);
/* Who may use a route, decided before its handler runs (and before a
 * streaming route's begin()). check() is called for every route added with
 * ecm_http_route*(), never for /healthz, /readyz, /metrics; method and
 * pattern are the route's as added. It returns 0 to let the request go on,
 * with *principal (may stay NULL) then readable by the handler through
 * ecm_http_req_principal() and handed to release() when the request ends;
 * or it answers (ecm_http_respond*) and returns -1, and nothing else runs.
 * Called on many threads at once. */
typedef struct {
    int (*check)(void *ctx, ecm_http_req *req, const char *method, const char *pattern,
                 void **principal);
    void (*release)(void *ctx, void *principal); /* may be NULL */
} ecm_http_guard;

/* Sets the guard (copied); before ecm_http_start(). Without one every route
 * is open. Can't fail. */
void ecm_http_set_guard(ecm_http *h, const ecm_http_guard *g, void *ctx);

/* Replaces the limits (ecm_http_new starts from ecm_http_limits_default);
 * before ecm_http_start(). Values below 1 keep the default. */
void ecm_http_set_limits(ecm_http *h, const ecm_http_limits *l);

/* Pattern: exact path segments and "{}" for one segment, e.g.
 * "/api/v1/campaigns/{}/uploads". Methods: "GET", "POST", "PUT", "DELETE".
 * max_body caps the body (0: none allowed): a bigger one is answered 413
 * (at once when Content-Length says so; a chunked one is read and dropped
 * up to 1 MiB past the cap, then its connection is closed). Returns 0, or
 * -1 with an error log line when the route table is full, the pattern has
 * too many segments, or the method already has a route for the same pattern
 * (buffered or streaming; slashes do not count): the first one stays. */
int ecm_http_route(ecm_http *h, const char *method, const char *pattern, size_t max_body,
                   ecm_http_handler fn, void *ctx) __attribute__((warn_unused_result));
/* A streaming route; max_body (at least 1) caps the whole body as above:
 * past it body() is not called again and the answer is 413. */
int ecm_http_route_stream(ecm_http *h, const char *method, const char *pattern, size_t max_body,
                          const ecm_http_stream_handler *fns, void *ctx)
    __attribute__((warn_unused_result));

/* Starts listening. Returns 0, or -1 (port in use...) with a log line. */
int ecm_http_start(ecm_http *h) __attribute__((warn_unused_result));
/* Stops accepting, waits for running handlers, frees everything. */
void ecm_http_destroy(ecm_http *h);

/* Request accessors; strings are valid until the request ends. */
const char *ecm_http_req_method(const ecm_http_req *r);
const char *ecm_http_req_path(const ecm_http_req *r);
/* The n-th "{}" segment of the matched pattern (0-based), or NULL. */
const char *ecm_http_req_param(const ecm_http_req *r, int n);
/* The matched route's pattern as added ("/api/v1/campaigns/{}"), or NULL. */
const char *ecm_http_req_route(const ecm_http_req *r);
/* What the guard's check() gave for this request, or NULL. */
void *ecm_http_req_principal(const ecm_http_req *r);
/* Query string argument, or NULL. */
const char *ecm_http_req_query(ecm_http_req *r, const char *name);
/* Request header (case-insensitive), or NULL. */
const char *ecm_http_req_header(ecm_http_req *r, const char *name);
/* The client's address as text ("127.0.0.1", "::1") into out (46 bytes
 * hold any). Returns 0, or -1 with out "" when it is unknown or does not
 * fit. */
int ecm_http_req_client_addr(ecm_http_req *r, char *out, size_t out_size)
    __attribute__((warn_unused_result));
/* Buffered body (NUL-terminated; len may be 0) for ecm_http_route handlers. */
const char *ecm_http_req_body(const ecm_http_req *r, size_t *len);
void ecm_http_req_set_state(ecm_http_req *r, void *state);
void *ecm_http_req_state(const ecm_http_req *r);

/* Answers. Each may be called once per request; body is copied. */
void ecm_http_respond(ecm_http_req *r, int status, const char *content_type, const char *body,
                      size_t len);
/* A streamed answer, for bodies that must not be held in memory (exports):
 * read() fills buf with up to max bytes from offset pos and returns how
 * many (0 is allowed when nothing is ready yet: it is asked again), or
 * ECM_HTTP_READER_END after the last byte, or ECM_HTTP_READER_ERROR, which
 * closes the connection mid-body so that the client sees a broken answer,
 * never a short one taken for whole. Called on the connection's thread as
 * the client reads, after the handler has returned; free_fn(ctx) is called
 * exactly once, when the answer is done or abandoned (also when this
 * fails). The headers added before go out with it. */
#define ECM_HTTP_READER_END (-1)
#define ECM_HTTP_READER_ERROR (-2)
typedef long (*ecm_http_reader_fn)(void *ctx, uint64_t pos, char *buf, size_t max);
typedef void (*ecm_http_reader_free_fn)(void *ctx);
void ecm_http_respond_reader(ecm_http_req *r, int status, const char *content_type,
                             ecm_http_reader_fn read, ecm_http_reader_free_fn free_fn, void *ctx);
/* Adds a response header to the answer given next (e.g. Location). */
void ecm_http_add_header(ecm_http_req *r, const char *name, const char *value);
/* RFC 9457 problem+json: {"type":"https://ecm.dev/problems/<type>","title":...,
 * "status":...,"detail":...}. */
void ecm_http_respond_problem(ecm_http_req *r, int status, const char *type, const char *title,
                              const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));

#endif

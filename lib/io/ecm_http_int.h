/* Private to lib/io/ecm_http*.c: the server's and a request's layout, shared
 * by the server (ecm_http.c: routes, connections, dispatch) and the answers
 * and request accessors (ecm_http_answer.c). */
#ifndef ECM_HTTP_INT_H
#define ECM_HTTP_INT_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "ecm_buf.h"
#include "ecm_http.h"

#define HTTP_MAX_ROUTES 128
#define HTTP_MAX_SEGMENTS 16
#define HTTP_MAX_PARAMS 8
/* libmicrohttpd's idle timeout; the request deadline is usually shorter. */
#define HTTP_CONNECTION_TIMEOUT_S 60
#define HTTP_PROBLEM_BASE "https://ecm.dev/problems/"
/* A body over its route's cap is read and dropped this far, so that the 413
 * can be answered; past it the connection is closed. */
#define HTTP_DISCARD_SLACK (1u << 20)
/* How often the reaper looks for requests past their deadline. */
#define HTTP_REAPER_TICK_MS 200
/* /readyz answers from a probe this recent. */
#define HTTP_READY_CACHE_MS 1000
/* A probe still running this long makes /readyz answer not ready (under the
 * 5-s timeoutSeconds of deploy/k8s's readiness probes; a service's probe
 * normally ends in 2 s even with the broker gone). */
#define HTTP_READY_STALL_MS 4000
#define HTTP_CLIENT_BUCKETS 256
/* File descriptors kept for everything but the connections (DB, Kafka, logs). */
#define HTTP_FD_RESERVE 128

typedef struct {
    char method[8];
    char *pattern;                 /* split into segs in place */
    char *spec;                    /* the pattern as added, "/api/v1/campaigns/{}" */
    char *segs[HTTP_MAX_SEGMENTS]; /* "{}" for a parameter */
    int nsegs;
    size_t max_body;
    int streaming;
    ecm_http_handler fn;
    ecm_http_stream_handler sfns;
    void *ctx;
    int builtin; /* /healthz, /readyz, /metrics: exempt from the soft caps */
} http_route;

/* Open connections from one client address. */
typedef struct http_client {
    struct http_client *next;
    int family;
    unsigned char addr[16];
    int count;
} http_client;

/* Where a connection's request is, for the reaper. */
typedef enum {
    CONN_WAITING, /* for the headers (or idle between kept-alive requests) */
    CONN_BODY,    /* reading a buffered (or dropped) body: the same deadline */
    CONN_STREAM,  /* reading a streaming body: a minimum rate */
    CONN_HANDLER, /* the request is in; the handler runs or the answer goes out */
} conn_phase;

/* One open connection (libmicrohttpd's socket context), in h->conns. Its
 * fields are under h->mu: the connection's thread moves it on, the reaper
 * reads it. */
typedef struct http_conn {
    struct http_conn *prev, *next;
    http_client *client;
    int fd;
    conn_phase phase;
    int64_t since_ms;        /* CONN_WAITING/CONN_BODY: the connect, the end of the last
                              * answer, or a kept-alive request's headers */
    int64_t stream_start_ms; /* CONN_STREAM */
    uint64_t stream_bytes;
    int64_t busy_ms;    /* time in the stream's handlers */
    int64_t busy_since; /* 0: not in a handler now */
    int served;         /* requests answered on it (kept alive) */
    int cut;            /* the reaper closed it */
} http_conn;

/* The last /readyz probe (under mu). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t done;
    int have, running, ok;
    int64_t at_ms;      /* when the last probe ended */
    int64_t started_ms; /* when the running probe started */
    long stall_ms;      /* ecm_http_set_ready_bound() */
    char reason[512];
} http_ready_cache;

struct ecm_http {
    struct MHD_Daemon *daemon;
    char *bind_addr;
    int port;
    ecm_metrics *metrics;
    ecm_http_ready_fn ready_fn;
    void *ready_ctx;
    http_ready_cache ready;
    ecm_http_limits limits;
    ecm_http_guard guard; /* check NULL: every route is open */
    void *guard_ctx;
    http_route routes[HTTP_MAX_ROUTES];
    int nroutes;

    /* Connections and the reaper. */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    http_conn *conns;
    int nconns;
    http_client *clients[HTTP_CLIENT_BUCKETS];
    pthread_t reaper;
    int reaper_running, reaper_stop;
    ecm_metric *m_open, *m_cut_deadline, *m_cut_slow, *m_busy, *m_client_busy;
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
    http_conn *hc;     /* NULL when its record could not be allocated */
    uint64_t received; /* body bytes, dropped ones included */
    const http_route *route;
    char *method;
    char *path;
    char *params[HTTP_MAX_PARAMS];
    int nparams;
    req_phase phase;
    int too_big;
    int began;    /* begin() was called, so cleanup() is due */
    ecm_buf body; /* buffered routes: max_body + 1, set at the first chunk */
    void *state;
    void *principal;      /* from the guard; released when the request ends */
    int guarded;          /* check() said yes: release() is due */
    http_header *headers; /* added before the answer */
    struct MHD_Response *resp;
    unsigned int status;
    int allow_len;
    char allow[64];
};

/* Frees the headers added to r (ecm_http_add_header). */
void ecm_http_req_free_headers(ecm_http_req *r);

/* Answers r with obj as compact JSON ("{}" when obj is NULL or can't be
 * written) as content_type, and releases obj. */
void ecm_http_respond_json_obj(ecm_http_req *r, int status, json_t *obj, const char *content_type);

/* A JSON string of s (at most 4,095 bytes of it) with ill-formed UTF-8
 * replaced by U+FFFD; "" when that can't be made. Never NULL unless out of
 * memory. */
json_t *ecm_http_json_sanitized(const char *s);

/* ---- connections (ecm_http_conn.c) ---- */

/* libmicrohttpd's connection notifications (cls: the ecm_http): keeps the
 * connection's record that the caps and the reaper work from. */
void ecm_http_conn_opened(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code);

/* The record of conn, or NULL when it could not be allocated. */
http_conn *ecm_http_conn_record(struct MHD_Connection *conn);

/* Moves the connection's request on (the connection's own thread). */
void ecm_http_conn_phase_set(ecm_http *h, http_conn *hc, conn_phase phase);

/* A streaming handler call begins (busy) or ends, having taken n bytes. */
void ecm_http_conn_stream_busy(ecm_http *h, http_conn *hc, int busy, size_t n);

/* The reaper thread (arg: the ecm_http): closes the connections past their
 * deadline until h->reaper_stop. Returns NULL. */
void *ecm_http_conn_reaper(void *arg);

/* Whether the soft caps turn this request away: 0, 503 or 429. */
int ecm_http_conn_over_soft_cap(ecm_http *h, const http_conn *hc);

#endif

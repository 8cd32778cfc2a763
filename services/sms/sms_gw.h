/* SMS gateways behind one interface: Kannel's sendsms (HTTP GET) and a
 * generic HTTP/JSON gateway (URL, method, body template, Authorization
 * header). Requests run concurrently on one libcurl multi handle per gateway
 * (keep-alive connections are reused), at most `concurrency` at a time;
 * each finished request is classified as accepted, rejected (final) or to
 * be retried, and reported through a callback. Not thread-safe: one thread
 * drives a gateway. */
#ifndef SMS_GW_H
#define SMS_GW_H

#include <stddef.h>

#include "ecm_sms.h"

typedef enum {
    SMS_GW_KANNEL = 0,
    SMS_GW_HTTP = 1,
} sms_gw_kind;

typedef struct {
    sms_gw_kind kind;
    const char *name; /* the attempts' target: "kannel" or "http" */
    const char *url;  /* Kannel: .../cgi-bin/sendsms; HTTP: the endpoint */
    const char *user; /* Kannel */
    const char *password;
    const char *method;            /* HTTP: POST, PUT or PATCH */
    const char *body_template;     /* HTTP: JSON with {message_id} {to} {from} {text} {dlr_url} */
    const char *auth;              /* HTTP: Authorization header value ("" for none) */
    const char *callback_base_url; /* DLR URLs point at <base>/sms/dlr */
    const char *callback_secret;   /* ECM_SMS_CALLBACK_SECRET: DLR URL tokens (required) */
    long timeout_ms;               /* bound on one request */
    int concurrency;               /* requests in flight at most */
} sms_gw_config;

typedef struct {
    const char *message_id; /* ECM's id, carried in the DLR URL */
    const char *to;         /* E.164 as stored ("+15551230001") */
    const char *from;       /* sender id; "" or NULL for the gateway's default */
    const char *text;       /* UTF-8 */
    ecm_sms_encoding encoding;
} sms_gw_msg;

typedef enum {
    SMS_GW_ACCEPTED = 0, /* the gateway took it (Kannel 202 "0:"/"3:", HTTP 2xx) */
    SMS_GW_REJECTED = 1, /* final: a 4xx about the message */
    SMS_GW_RETRY = 2,    /* 5xx, timeout, refused, throttled, bad credentials */
} sms_gw_verdict;

typedef struct {
    sms_gw_verdict verdict;
    long http_status;      /* 0 when there was no answer */
    const char *reason;    /* retry reason (metric label): "unavailable", "timeout",
                              "connect", "network", "throttled", "auth", "http" */
    char gateway_ref[128]; /* the gateway's own id when it gives one */
    char detail[256];      /* start of the answer or the transport error */
} sms_gw_result;

/* Called from sms_gw_poll() for each finished request with the opaque
 * pointer given to sms_gw_submit(). */
typedef void (*sms_gw_done_fn)(void *ctx, void *opaque, const sms_gw_result *res);

typedef struct sms_gw sms_gw;

/* Creates a gateway; copies every string of cfg. Returns NULL (logged) on a
 * bad configuration or allocation failure. */
sms_gw *sms_gw_new(const sms_gw_config *cfg, sms_gw_done_fn done, void *done_ctx)
    __attribute__((warn_unused_result));

/* Aborts what is in flight (without calling done) and frees everything. */
void sms_gw_destroy(sms_gw *gw);

const char *sms_gw_name(const sms_gw *gw);
/* Requests in flight, and how many more may start now. */
int sms_gw_inflight(const sms_gw *gw);
int sms_gw_room(const sms_gw *gw);

/* Starts one request for m (strings copied). Returns 0, or -1 when there is
 * no room or the request can't be built (logged); done is then not called. */
int sms_gw_submit(sms_gw *gw, const sms_gw_msg *m, void *opaque)
    __attribute__((warn_unused_result));

/* Drives the transfers, waiting up to timeout_ms for activity when
 * something is in flight, and calls done for every request that finished.
 * Returns the number finished. */
int sms_gw_poll(sms_gw *gw, int timeout_ms);

/* sms_gw_poll(), but it also waits (up to timeout_ms) with nothing in
 * flight, and returns as soon as the descriptor fd is readable too: the
 * sender's connection to the database, while a statement of its own runs
 * there (sms_pace_idle). */
int sms_gw_poll_fd(sms_gw *gw, int fd, int timeout_ms);

/* ---- pure parts, exposed for tests ---- */

/* Percent-encodes s (RFC 3986 unreserved characters kept). malloc'd, or
 * NULL on allocation failure. */
char *sms_gw_urlencode(const char *s);

/* The DLR callback URL for a message:
 * "<base>/sms/dlr?msgid=<urlencoded id>&token=<token>&status=%d" (token:
 * sms_auth_token() of the id under callback_secret; "%d" is Kannel's
 * placeholder for the DLR type; the generic gateway's simulator substitutes
 * it the same way). malloc'd, or NULL (also when callback_secret is empty). */
char *sms_gw_dlr_url(const char *callback_base_url, const char *callback_secret,
                     const char *message_id);

/* The full sendsms GET URL for m. malloc'd, or NULL. */
char *sms_gw_kannel_url(const sms_gw_config *cfg, const sms_gw_msg *m);

/* The generic gateway's body: the template with {message_id} {to} {from}
 * {text} {dlr_url} replaced by their values JSON-escaped (without quotes:
 * the template has them). Any other brace is JSON and copied as is, except
 * "{identifier}" with an unknown name, which is an error. Returns the
 * malloc'd body, or NULL with a reason in errstr. */
char *sms_gw_http_body(const char *body_template, const sms_gw_msg *m, const char *dlr_url,
                       char *errstr, size_t errstr_size);

/* Classifies an answer. curl_code is the transfer's CURLcode (0 when an
 * answer came); body may be NULL. Fills every field of out. */
void sms_gw_classify(sms_gw_kind kind, int curl_code, long http_status, const char *body,
                     sms_gw_result *out);

#endif

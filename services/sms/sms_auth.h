/* Authentication of the gateways' callbacks. A DLR URL carries a token, the
 * HMAC-SHA256 of the message id under a secret only this service holds
 * (ECM_SMS_CALLBACK_SECRET), cut to 128 bits and written in hex: it
 * authorises DLRs of that one message and nothing else. The MO URL carries
 * a shared key (ECM_SMS_MO_KEY) that the operator writes into Kannel's
 * sms-service get-url or the gateway's callback URL (or the X-ECM-Key
 * header). Each may have a previous value, accepted too while a rotation
 * is under way. Comparisons take constant time. A refused callback is
 * answered 403, counted in ecm_sms_callbacks_rejected_total{endpoint,reason}
 * and logged at most once per source address and SMS_AUTH_LOG_EVERY_MS
 * (a table of SMS_AUTH_LOG_SOURCES addresses: a flood can't flood the log,
 * nor grow memory). Thread-safe. */
#ifndef SMS_AUTH_H
#define SMS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_http.h"
#include "ecm_metrics.h"

/* Shortest secret or key accepted (characters). */
#define SMS_AUTH_SECRET_MIN 32
/* A DLR token: 16 bytes of HMAC-SHA256 in lower-case hex. */
#define SMS_AUTH_TOKEN_LEN 32
/* Sources remembered for the log, and how long one stays quiet. */
#define SMS_AUTH_LOG_SOURCES 64
#define SMS_AUTH_LOG_EVERY_MS 300000

typedef enum {
    SMS_AUTH_OK = 0,
    SMS_AUTH_MISSING,   /* no token or key at all */
    SMS_AUTH_BAD_TOKEN, /* one that is not right */
} sms_auth_verdict;

typedef struct {
    const char *dlr_secret;          /* required, >= SMS_AUTH_SECRET_MIN characters */
    const char *dlr_secret_previous; /* NULL or "": none */
    const char *mo_key;              /* required, >= SMS_AUTH_SECRET_MIN characters */
    const char *mo_key_previous;     /* NULL or "": none */
    ecm_metrics *metrics;            /* may be NULL */
} sms_auth_config;

typedef struct sms_auth sms_auth;

/* Checks a secret's value for the configuration table: "" is refused, and
 * so is anything shorter than SMS_AUTH_SECRET_MIN. Returns 0, or -1 with a
 * reason in errstr. */
int sms_auth_validate_secret(const char *value, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));
/* The same for a previous secret, which may also be "". */
int sms_auth_validate_previous(const char *value, char *errstr, size_t errstr_size);

/* Copies the secrets. Returns NULL (logged) when a required one is missing
 * or short, or memory runs out. */
sms_auth *sms_auth_new(const sms_auth_config *cfg) __attribute__((warn_unused_result));
void sms_auth_destroy(sms_auth *a);

/* The DLR token of message_id under secret into out (at least
 * SMS_AUTH_TOKEN_LEN + 1 bytes). Returns 0, or -1 when secret is empty,
 * out is too small or libcrypto fails. Pure. */
int sms_auth_token(const char *secret, const char *message_id, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* Whether token is message_id's under the current or the previous secret.
 * token NULL or "" is SMS_AUTH_MISSING; message_id NULL never passes. */
sms_auth_verdict sms_auth_check_dlr(const sms_auth *a, const char *message_id, const char *token);

/* Whether key is the current or the previous MO key. */
sms_auth_verdict sms_auth_check_mo(const sms_auth *a, const char *key);

/* Answers req 403 (problem type "forbidden"), counts
 * ecm_sms_callbacks_rejected_total{endpoint="<endpoint>",reason="missing"|"bad_token"}
 * and logs a warning unless this source was logged less than
 * SMS_AUTH_LOG_EVERY_MS ago (the next line says how many were not). */
void sms_auth_reject(sms_auth *a, ecm_http_req *req, const char *endpoint, sms_auth_verdict v);

/* The log-once decision, exposed for tests: 1 when a refusal from source
 * at now_ms is to be logged (*suppressed gets how many from it were not
 * since its last line), else 0. */
int sms_auth_should_log(sms_auth *a, const char *source, int64_t now_ms, uint64_t *suppressed);

#endif

#include "sms_auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "ecm_clock.h"
#include "ecm_log.h"

#define ADDR_MAX 64

typedef struct {
    char addr[ADDR_MAX]; /* "" when the slot is free */
    int64_t logged_ms;
    uint64_t suppressed;
} log_slot;

struct sms_auth {
    char *dlr_secret, *dlr_previous; /* dlr_previous NULL: none */
    /* The MO keys are kept as SHA-256 digests: comparing digests takes the
     * same time whatever the length of what was presented. */
    unsigned char mo_key[SHA256_DIGEST_LENGTH], mo_previous[SHA256_DIGEST_LENGTH];
    int has_mo_previous;
    ecm_metrics *metrics;
    pthread_mutex_t mu; /* guards log */
    log_slot log[SMS_AUTH_LOG_SOURCES];
};

int sms_auth_validate_secret(const char *value, char *errstr, size_t errstr_size)
{
    size_t n = value != NULL ? strlen(value) : 0;
    if (n >= SMS_AUTH_SECRET_MIN)
        return 0;
    (void)snprintf(errstr, errstr_size,
                   "%s: at least %d characters of a random value are required (got %zu)",
                   n == 0 ? "must not be empty" : "too short", SMS_AUTH_SECRET_MIN, n);
    return -1;
}

int sms_auth_validate_previous(const char *value, char *errstr, size_t errstr_size)
{
    if (value == NULL || value[0] == '\0')
        return 0;
    return sms_auth_validate_secret(value, errstr, errstr_size);
}

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

sms_auth *sms_auth_new(const sms_auth_config *cfg)
{
    char why[160];
    if (sms_auth_validate_secret(cfg->dlr_secret, why, sizeof(why)) != 0 ||
        sms_auth_validate_secret(cfg->mo_key, why, sizeof(why)) != 0 ||
        sms_auth_validate_previous(cfg->dlr_secret_previous, why, sizeof(why)) != 0 ||
        sms_auth_validate_previous(cfg->mo_key_previous, why, sizeof(why)) != 0) {
        ecm_log_error("callback authentication not set up", "%s", why);
        return NULL;
    }
    sms_auth *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->dlr_secret = strdup(cfg->dlr_secret);
    a->dlr_previous = dup_or_null(cfg->dlr_secret_previous);
    if (a->dlr_secret == NULL ||
        (cfg->dlr_secret_previous != NULL && cfg->dlr_secret_previous[0] && !a->dlr_previous)) {
        sms_auth_destroy(a);
        return NULL;
    }
    SHA256((const unsigned char *)cfg->mo_key, strlen(cfg->mo_key), a->mo_key);
    if (cfg->mo_key_previous != NULL && cfg->mo_key_previous[0] != '\0') {
        SHA256((const unsigned char *)cfg->mo_key_previous, strlen(cfg->mo_key_previous),
               a->mo_previous);
        a->has_mo_previous = 1;
    }
    a->metrics = cfg->metrics;
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void sms_auth_destroy(sms_auth *a)
{
    if (a == NULL)
        return;
    if (a->dlr_secret != NULL) {
        OPENSSL_cleanse(a->dlr_secret, strlen(a->dlr_secret));
        free(a->dlr_secret);
    }
    if (a->dlr_previous != NULL) {
        OPENSSL_cleanse(a->dlr_previous, strlen(a->dlr_previous));
        free(a->dlr_previous);
    }
    pthread_mutex_destroy(&a->mu);
    OPENSSL_cleanse(a, sizeof(*a));
    free(a);
}

int sms_auth_token(const char *secret, const char *message_id, char *out, size_t out_size)
{
    if (out_size > 0)
        out[0] = '\0';
    if (secret == NULL || secret[0] == '\0' || message_id == NULL ||
        out_size < SMS_AUTH_TOKEN_LEN + 1)
        return -1;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)message_id,
             strlen(message_id), mac, &len) == NULL ||
        len < SMS_AUTH_TOKEN_LEN / 2)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < SMS_AUTH_TOKEN_LEN / 2; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[SMS_AUTH_TOKEN_LEN] = '\0';
    return 0;
}

/* 1 when token is message_id's under secret (constant time in the token). */
static int token_matches(const char *secret, const char *message_id, const char *token)
{
    char want[SMS_AUTH_TOKEN_LEN + 1];
    if (secret == NULL || sms_auth_token(secret, message_id, want, sizeof(want)) != 0)
        return 0;
    /* The length is no secret: every token has the same one. */
    return strlen(token) == SMS_AUTH_TOKEN_LEN &&
           CRYPTO_memcmp(want, token, SMS_AUTH_TOKEN_LEN) == 0;
}

sms_auth_verdict sms_auth_check_dlr(const sms_auth *a, const char *message_id, const char *token)
{
    if (token == NULL || token[0] == '\0')
        return SMS_AUTH_MISSING;
    if (message_id == NULL)
        return SMS_AUTH_BAD_TOKEN;
    /* Both are computed, so the answer takes as long either way. */
    int cur = token_matches(a->dlr_secret, message_id, token);
    int prev = token_matches(a->dlr_previous, message_id, token);
    return cur | prev ? SMS_AUTH_OK : SMS_AUTH_BAD_TOKEN;
}

sms_auth_verdict sms_auth_check_mo(const sms_auth *a, const char *key)
{
    if (key == NULL || key[0] == '\0')
        return SMS_AUTH_MISSING;
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, strlen(key), d);
    int cur = CRYPTO_memcmp(d, a->mo_key, sizeof(d)) == 0;
    int prev = a->has_mo_previous && CRYPTO_memcmp(d, a->mo_previous, sizeof(d)) == 0;
    return cur | prev ? SMS_AUTH_OK : SMS_AUTH_BAD_TOKEN;
}

int sms_auth_should_log(sms_auth *a, const char *source, int64_t now_ms, uint64_t *suppressed)
{
    *suppressed = 0;
    pthread_mutex_lock(&a->mu);
    log_slot *found = NULL, *victim = NULL;
    for (size_t i = 0; i < SMS_AUTH_LOG_SOURCES; i++) {
        log_slot *s = &a->log[i];
        if (s->addr[0] != '\0' && strcmp(s->addr, source) == 0) {
            found = s;
            break;
        }
        /* A free slot, else the one logged longest ago, makes room. */
        if (victim == NULL ||
            (victim->addr[0] != '\0' && (s->addr[0] == '\0' || s->logged_ms < victim->logged_ms)))
            victim = s;
    }
    int log = 1;
    if (found != NULL && now_ms - found->logged_ms < SMS_AUTH_LOG_EVERY_MS &&
        now_ms >= found->logged_ms) {
        found->suppressed++;
        log = 0;
    } else if (found != NULL) {
        *suppressed = found->suppressed;
        found->suppressed = 0;
        found->logged_ms = now_ms;
    } else {
        (void)snprintf(victim->addr, sizeof(victim->addr), "%s", source);
        victim->logged_ms = now_ms;
        victim->suppressed = 0;
    }
    pthread_mutex_unlock(&a->mu);
    return log;
}

void sms_auth_reject(sms_auth *a, ecm_http_req *req, const char *endpoint, sms_auth_verdict v)
{
    const char *reason = v == SMS_AUTH_MISSING ? "missing" : "bad_token";
    if (a->metrics != NULL) {
        char name[128];
        (void)snprintf(name, sizeof(name),
                       "ecm_sms_callbacks_rejected_total{endpoint=\"%s\",reason=\"%s\"}", endpoint,
                       reason);
        ecm_metric_add(ecm_metrics_counter(a->metrics, name,
                                           "gateway callbacks refused 403: no or a wrong token"),
                       1);
    }
    char addr[ADDR_MAX];
    if (ecm_http_req_client_addr(req, addr, sizeof(addr)) != 0)
        (void)snprintf(addr, sizeof(addr), "unknown");
    uint64_t quiet = 0;
    if (sms_auth_should_log(a, addr, ecm_clock_wall_ms(), &quiet))
        ecm_log_warn("callback refused: not authenticated",
                     "endpoint=%s reason=%s source=%s refused_unlogged_since_last=%llu", endpoint,
                     reason, addr, (unsigned long long)quiet);
    ecm_http_respond_problem(req, 403, "forbidden", "Callback not authenticated",
                             v == SMS_AUTH_MISSING ? "the callback carries no token or key"
                                                   : "the callback's token or key is not valid");
}

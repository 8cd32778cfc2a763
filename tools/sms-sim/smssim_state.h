/* What the simulator remembers, in memory only (it is a simulator: a restart
 * forgets everything): the set of message ids it accepted, so that a message
 * received twice is counted, the counters behind GET /sim/stats, and the
 * window during which /send answers 503. Thread-safe. */
#ifndef SMSSIM_STATE_H
#define SMSSIM_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "smssim_mix.h"

typedef enum {
    SMSSIM_CTR_RECEIVED = 0, /* /send requests that got an outcome */
    SMSSIM_CTR_UNAVAILABLE,  /* /send answered 503 by the switch */
    SMSSIM_CTR_UNAUTHORIZED, /* /send answered 401 */
    SMSSIM_CTR_INVALID,      /* /send answered 400 for a bad request */
    SMSSIM_CTR_DLRS_SENT,    /* DLR callbacks answered 2xx */
    SMSSIM_CTR_DLRS_FAILED,  /* DLR callbacks given up after every retry */
    SMSSIM_CTR_DLR_RETRIES,  /* DLR callback attempts that failed and were retried */
    SMSSIM_CTR_MO_FORWARDED, /* /sim/mo answered 2xx by the MO URL */
    SMSSIM_CTR_MO_FAILED,    /* /sim/mo that the MO URL did not take */
    SMSSIM_CTR_UNTRACKED,    /* ids not remembered: the id set was full */
    SMSSIM_CTR_COUNT
} smssim_counter;

typedef struct smssim_state smssim_state;

/* A new, empty state remembering at most max_ids distinct message ids.
 * Returns NULL when out of memory. */
smssim_state *smssim_state_new(size_t max_ids) __attribute__((warn_unused_result));

/* Frees the state; NULL is ignored. */
void smssim_state_destroy(smssim_state *s);

/* Records one /send of message_id with its outcome: counts it as received,
 * by outcome, and as a duplicate when the id was seen before. Returns how
 * many times the id had been seen before this call (0 the first time), or -1
 * when it could not be remembered (set full or out of memory; counted as
 * untracked, the message itself still counts as received). */
long smssim_state_record(smssim_state *s, const char *message_id, smssim_outcome outcome);

/* Adds n to a counter. Can't fail. */
void smssim_state_add(smssim_state *s, smssim_counter c, uint64_t n);
uint64_t smssim_state_get(smssim_state *s, smssim_counter c);

/* Distinct ids remembered, and ids received more than once. */
uint64_t smssim_state_unique_ids(smssim_state *s);
uint64_t smssim_state_duplicate_ids(smssim_state *s);
uint64_t smssim_state_outcome_count(smssim_state *s, smssim_outcome o);

/* /send answers 503 until now_ms + seconds * 1000 (0 ends the window at
 * once). now_ms is a monotonic clock in milliseconds. */
void smssim_state_set_unavailable(smssim_state *s, int64_t now_ms, long long seconds);

/* 1 while the 503 window is open at now_ms, else 0. */
int smssim_state_unavailable(smssim_state *s, int64_t now_ms);

/* GET /sim/stats as a malloc'd JSON text (caller frees), with dlrs_pending
 * as given; NULL when out of memory. */
char *smssim_state_stats_json(smssim_state *s, uint64_t dlrs_pending)
    __attribute__((warn_unused_result));

/* A monotonic clock in milliseconds. Can't fail. */
int64_t smssim_now_ms(void);

#endif

/* Results into the ECM DB: call.results and sms.results are decoded, each is
 * recorded on its attempts row and, when it is the result of the contact's
 * current attempt, the strategy decides whether the contact waits for a retry
 * or closes (with a ContactClosed event through the outbox, same
 * transaction). Idempotent on (contact_id, attempt): an attempt whose outcome
 * is already set is never applied twice. "Now" is the business clock
 * (ecm_clock_now_ms); a retry lands at the first opening of the campaign's
 * calling window in the contact's zone (ecm_decide.h, step 8).
 *
 * Callbacks: Cisco's results say that a callback was requested, not when;
 * the time comes from the agent desktop or CRM through POST
 * /api/v1/contacts/{id}/callback, stored in contacts.callback_at. The
 * decision's callback time is the result's callback_at when it is ahead of
 * now, else contacts.callback_at when that is ahead, else none (ecm_decide.h
 * step 7: CALLBACK_REQUESTED retries at it, any other retry not before it,
 * a close closes). Every decision clears contacts.callback_at: a requested
 * time is used once. A result for an older attempt leaves it alone.
 *
 * Personal callbacks (UCCE): a result with CallResult 14 or 15 that names
 * an agent, on an attempt whose target is ucce_api or ucce_db, that the
 * decision retries, flags the contact for that agent (contacts.pcb_agent,
 * pcb_at = the callback time asked for, or the later retry time the calling
 * window moved it to): the feeder
 * then writes its next attempt to Cisco's personal callback interface.
 * Every other decision clears the flag. UCCX has no personal callback
 * interface ECM can write: there the callback stays ECM's own retry. */
#ifndef ST_RESULTS_H
#define ST_RESULTS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ecm_calling.h"
#include "ecm_rules.h"
#include "ecm_kafka.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"
#include "ecm/v1/events.pb-c.h"
#include "ecm_decide.h"

typedef struct {
    const char *topic_call_results;
    const char *topic_sms_results;
    const char *topic_closed;
    const char *source;   /* CloudEvents source, "/ecm/strategy" */
    ecm_metrics *metrics; /* may be NULL */
    /* campaign windows, used by the one thread that applies results; NULL:
     * retries are not moved into the calling window (tests of other rules) */
    ecm_calling_cache *calling;
    /* campaigns' contact rules, same thread; NULL: none applied */
    ecm_rules_cache *rules;
} st_results_ctx;

/* One result, whatever channel it came from. */
typedef struct {
    char event_id[64];
    int64_t campaign_id;
    int64_t contact_id;
    int attempt;
    Ecm__V1__Outcome outcome;
    int counts_as_attempt;
    int64_t callback_at_ms; /* 0: none */
    int64_t result_at_ms;   /* 0: now */
    int raw_code;
    int has_raw_detail;
    int raw_detail;
    /* The agent who scheduled a personal callback (CallResult.agent_id),
     * "" when none. */
    char agent[32];
} st_result;

/* Fills out from a CallResult / SmsResult. Returns 0, or -1 with a reason when
 * the event can never be applied (no contact id, attempt < 1). */
int st_result_from_call(const Ecm__V1__CallResult *m, st_result *out, char *reason,
                        size_t reason_size) __attribute__((warn_unused_result));
int st_result_from_sms(const Ecm__V1__SmsResult *m, st_result *out, char *reason,
                       size_t reason_size) __attribute__((warn_unused_result));

/* Decodes a Kafka payload by topic (ctx->topic_call_results or
 * ctx->topic_sms_results). Returns 0, or -1 with a reason (bytes that don't
 * decode, unknown topic, invalid fields). */
int st_results_decode(const st_results_ctx *ctx, const char *topic, const void *data, size_t len,
                      st_result *out, char *reason, size_t reason_size)
    __attribute__((warn_unused_result));

typedef enum {
    ST_APPLY_DB_ERROR = -1, /* rolled back; retry the same result later */
    ST_APPLY_DECIDED = 0,   /* the contact now waits for a retry or is closed */
    ST_APPLY_RECORDED,      /* recorded on an older attempt; contact unchanged */
    ST_APPLY_DUPLICATE,     /* the attempt already had an outcome: nothing changed */
    ST_APPLY_REJECT,        /* can never apply (unknown contact or attempt): dead-letter */
} st_apply_status;

/* What st_results_apply() decided, for tests and logs. */
typedef struct {
    int closed; /* 1 closed, 0 waiting (ST_APPLY_DECIDED only) */
    Ecm__V1__Outcome outcome;
    int64_t next_attempt_at_ms;
    int phone_index;
    int personal;                  /* waiting for a personal callback (contacts.pcb_agent set) */
    ecm_decide_channel channel;    /* waiting: the channel of the next attempt */
    ecm_decide_channel switch_to;  /* a rule's channel switch made (ECM_DECIDE_CH_NONE: none) */
    ecm_decide_channel skipped_to; /* a rule's channel switch skipped (ECM_DECIDE_CH_NONE: none) */
} st_apply_info;

/* Applies one result in its own transaction on pg: locks the contact, records
 * the attempt, decides and writes the contact (and a ContactClosed outbox row
 * on ctx->topic_closed when it closes), commits. Counts
 * ecm_strategy_results_total{outcome}, ecm_strategy_closed_total and
 * ecm_strategy_retries_scheduled_total after the commit. info may be NULL.
 * On ST_APPLY_REJECT reason says why; on ST_APPLY_DB_ERROR everything was
 * rolled back (reason has the SQLSTATE). */
st_apply_status st_results_apply(ecm_pg *pg, const st_results_ctx *ctx, const st_result *r,
                                 st_apply_info *info, char *reason, size_t reason_size)
    __attribute__((warn_unused_result));

/* Size of each reason buffer of st_results_apply_batch(). */
#define ST_REASON_MAX 256

/* Applies rs[0..n) in ONE transaction on pg, set-based in rounds
 * (st_round.h: a handful of statements a round, not a dozen a result), with
 * the outcome of applying them in order one at a time: the same per result
 * work and idempotency as st_results_apply() (a result for an attempt that
 * an earlier one of the batch already decided is a duplicate). Returns
 * 0 after the commit, with each result's status in st[i]: ST_APPLY_DECIDED,
 * ST_APPLY_RECORDED, ST_APPLY_DUPLICATE, or ST_APPLY_REJECT with the reason
 * in reasons[i] (rejects and duplicates wrote nothing). Counts the metrics
 * after the commit. Returns -1 after a rollback when any statement failed:
 * nothing of the batch was applied. */
int st_results_apply_batch(ecm_pg *pg, const st_results_ctx *ctx, const st_result *rs, size_t n,
                           st_apply_status *st, char (*reasons)[ST_REASON_MAX])
    __attribute__((warn_unused_result));

/* Most lanes st_results_run() uses. */
#define ST_RESULTS_LANES_MAX 8

/* A lane applying results: its own connection and its own context (the
 * calling and rules caches are single-threaded: one each). */
typedef struct {
    ecm_pg *pg;
    const st_results_ctx *ctx;
} st_results_lane;

/* The consumer loop: polls batches from c, decodes them, and splits each
 * batch's results by contact among lanes[0..nlanes) (at most
 * ST_RESULTS_LANES_MAX), which apply their shares at once, each on its own
 * connection, in transactions of up to 100 results (st_results_apply_batch();
 * when one fails, st_results_apply() per result, where a DB failure backs
 * off, capped, and retries the same result). A contact's results are
 * applied in one lane, in order. Then what can never apply is dead-lettered
 * and offsets are stored in order, each only after its work is committed
 * (or dead-lettered); nothing is skipped. Returns when *stop is set. */
void st_results_run(ecm_kafka_consumer *c, const st_results_lane *lanes, size_t nlanes,
                    volatile sig_atomic_t *stop);

#endif

/* The retry scheduler: a thread that, every tick, takes the contacts whose
 * next attempt is due (waiting, next_attempt_at <= now, campaign active),
 * marks them retry_due and emits one ContactRetry each through the outbox,
 * in one transaction. FOR UPDATE SKIP LOCKED lets replicas share the work.
 * The same transaction expires campaigns past end_at and closes their open
 * contacts, and marks an active campaign whose contacts are all closed
 * 'completed', with CampaignChanged / ContactClosed events. "Now" is the
 * business clock (ecm_clock_now_ms), passed to the SQL. */
#ifndef ST_SCHED_H
#define ST_SCHED_H

#include <signal.h>

#include "ecm_metrics.h"
#include "ecm_pg.h"

typedef struct {
    const char *topic_retry;
    const char *topic_campaigns;
    const char *topic_closed;
    const char *source;   /* CloudEvents source, "/ecm/strategy" */
    ecm_metrics *metrics; /* may be NULL */
    int batch;            /* most contacts one tick takes, > 0 */
} st_sched_ctx;

/* What one tick did. */
typedef struct {
    int retries;          /* ContactRetry events emitted (== batch: more may be due) */
    int completed;        /* campaigns completed */
    int expired;          /* campaigns expired */
    int expired_contacts; /* open contacts closed EXPIRED (== batch: more may be left) */
} st_sched_counts;

/* One tick in one transaction on pg, by the business clock:
 *  1. active or paused campaigns with end_at <= now -> 'expired', one
 *     CampaignChanged each on ctx->topic_campaigns (previous_state: the old
 *     state);
 *  2. up to ctx->batch open contacts of expired campaigns that are not out
 *     with the dialer (pending, queued, waiting, retry_due) -> closed
 *     EXPIRED, one ContactClosed each on ctx->topic_closed ('dispatched'
 *     ones close when their result arrives);
 *  3. up to ctx->batch due contacts of active campaigns -> retry_due +
 *     ContactRetry (attempt = attempts + 1, the contact's phone_index, the
 *     campaign's channel) on ctx->topic_retry;
 *  4. active campaigns whose contacts are all closed -> 'completed' +
 *     CampaignChanged.
 * Returns the number of retries emitted, with everything in *counts (may be
 * NULL); or -1 after a DB failure, everything rolled back. */
int st_sched_tick(ecm_pg *pg, const st_sched_ctx *ctx, st_sched_counts *counts)
    __attribute__((warn_unused_result));

typedef struct st_sched st_sched;

/* Starts the scheduler thread with its own connection to dsn. ctx is copied
 * (its strings must outlive the scheduler). The thread ticks every tick_ms,
 * at once again while a tick finds a full batch (retries or expiries), and backs off (capped) on
 * DB failures. It ends when *stop is set or st_sched_stop() is called.
 * Returns NULL (logged) when the thread can't start. */
st_sched *st_sched_start(const char *dsn, const st_sched_ctx *ctx, long tick_ms,
                         volatile sig_atomic_t *stop) __attribute__((warn_unused_result));

/* Ends the thread after its current tick, joins it, frees everything. NULL
 * is ignored. */
void st_sched_stop(st_sched *s);

#endif

/* The retry scheduler: a thread that, every tick, takes the contacts whose
 * next attempt is due (waiting, next_attempt_at <= now, campaign active),
 * marks them retry_due and emits one ContactRetry each through the outbox,
 * in one transaction. FOR UPDATE SKIP LOCKED lets replicas share the work.
 * The same transaction marks an active campaign whose contacts are all closed
 * 'completed' and emits CampaignChanged. */
#ifndef ST_SCHED_H
#define ST_SCHED_H

#include <signal.h>

#include "ecm_metrics.h"
#include "ecm_pg.h"

typedef struct {
    const char *topic_retry;
    const char *topic_campaigns;
    const char *source;   /* CloudEvents source, "/ecm/strategy" */
    ecm_metrics *metrics; /* may be NULL */
    int batch;            /* most contacts one tick takes, > 0 */
} st_sched_ctx;

/* One tick in one transaction on pg: due contacts -> retry_due + ContactRetry
 * (attempt = attempts + 1, the contact's phone_index, the campaign's channel)
 * on ctx->topic_retry; then campaign completion. Returns the number of
 * retries emitted (== ctx->batch means more may be due), or -1 after a DB
 * failure, everything rolled back. *completed (may be NULL) gets the number
 * of campaigns completed. */
int st_sched_tick(ecm_pg *pg, const st_sched_ctx *ctx, int *completed);

typedef struct st_sched st_sched;

/* Starts the scheduler thread with its own connection to dsn. ctx is copied
 * (its strings must outlive the scheduler). The thread ticks every tick_ms,
 * at once again while a tick finds a full batch, and backs off (capped) on
 * DB failures. It ends when *stop is set or st_sched_stop() is called.
 * Returns NULL (logged) when the thread can't start. */
st_sched *st_sched_start(const char *dsn, const st_sched_ctx *ctx, long tick_ms,
                         volatile sig_atomic_t *stop);

/* Ends the thread after its current tick, joins it, frees everything. NULL
 * is ignored. */
void st_sched_stop(st_sched *s);

#endif

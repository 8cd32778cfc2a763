/* The recycle schedules (issue 17): a thread of the strategy service that
 * re-opens, for every enabled campaign_recycle_schedules row, the
 * campaign's closed contacts that its outcomes, older_than_s and
 * max_rounds select (lib/dispatch/ecm_recycle), once per interval of
 * business time (ECM_RECYCLE_INTERVAL_S). Each schedule runs in a
 * transaction of its own that locks its row (FOR UPDATE SKIP LOCKED) and
 * moves last_run_at, so of two replicas one runs it; ecm_recycle_run's
 * campaign and contact locks keep a contact from being re-opened twice
 * whatever else runs at the same time (an API recycle). "Now" is the
 * business clock (ecm_clock_now_ms), passed to the SQL. */
#ifndef ST_RECYCLE_H
#define ST_RECYCLE_H

#include <signal.h>
#include <stdint.h>

#include "ecm_metrics.h"
#include "ecm_pg.h"

typedef struct {
    const char *topic_recycled;  /* ContactsRecycled; NULL: contacts.recycled */
    const char *topic_campaigns; /* CampaignChanged (a completed campaign active again) */
    const char *source;          /* CloudEvents source, "/ecm/strategy" */
    ecm_metrics *metrics;        /* may be NULL */
    int64_t interval_s;          /* business seconds between two runs of a schedule, > 0 */
} st_recycle_ctx;

/* What one tick did. */
typedef struct {
    int runs;         /* schedules run (their last_run_at moved) */
    int64_t reopened; /* contacts re-opened by them */
    int refused;      /* schedules whose campaign is not recyclable now (skipped) */
} st_recycle_counts;

/* Runs every due schedule once on pg, by the business clock: a schedule is
 * due when enabled and never run, or last run at least ctx->interval_s ago.
 * A schedule whose campaign is draft, stopped or expired is not run (its
 * last_run_at moves, so it is looked at again an interval later). Returns
 * the number of schedules run with everything in *counts (may be NULL); or
 * -1 after a DB failure (the schedule in hand rolled back, the ones before it
 * kept). */
int st_recycle_tick(ecm_pg *pg, const st_recycle_ctx *ctx, st_recycle_counts *counts)
    __attribute__((warn_unused_result));

typedef struct st_recycle st_recycle;

/* Starts the thread with its own connection to dsn; it ticks every poll_ms
 * of real time (the schedules themselves are due by business time) and
 * backs off (capped) on DB failures. ctx is copied (its strings must
 * outlive the thread). Returns NULL (logged) when it can't start. */
st_recycle *st_recycle_start(const char *dsn, const st_recycle_ctx *ctx, long poll_ms,
                             volatile sig_atomic_t *stop) __attribute__((warn_unused_result));

/* Ends the thread after its current tick, joins it, frees everything. NULL
 * is ignored. */
void st_recycle_stop(st_recycle *r);

#endif

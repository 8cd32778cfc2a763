#include "st_recycle.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_recycle.h"

#define ST_RECYCLE_BACKOFF_MIN_MS 100
#define ST_RECYCLE_BACKOFF_MAX_MS 5000
/* $1 business now (ms), $2 interval (s). Due: enabled, never run or last
 * run an interval ago. Read without locks: each is locked and checked again
 * in its own transaction. At most 100 a tick; the rest wait for the next. */
static const char SQL_DUE[] =
    "SELECT campaign_id FROM campaign_recycle_schedules"
    " WHERE enabled AND (last_run_at IS NULL OR last_run_at <= 'epoch'::timestamptz"
    "  + ($1::bigint - $2::bigint * 1000) * interval '1 millisecond')"
    " ORDER BY last_run_at NULLS FIRST, campaign_id LIMIT 100";

/* The same test on one schedule, its row locked; a replica that holds it
 * is skipped. */
static const char SQL_TAKE[] =
    "SELECT campaign_id, outcomes, older_than_s, coalesce(max_rounds, 0)"
    " FROM campaign_recycle_schedules WHERE campaign_id = $3::bigint AND enabled"
    " AND (last_run_at IS NULL OR last_run_at <= 'epoch'::timestamptz"
    "  + ($1::bigint - $2::bigint * 1000) * interval '1 millisecond')"
    " FOR UPDATE SKIP LOCKED";

static const char SQL_DONE[] =
    "UPDATE campaign_recycle_schedules SET last_run_at = 'epoch'::timestamptz"
    " + $1::bigint * interval '1 millisecond' WHERE campaign_id = $2::bigint";

/* Runs schedule row 0 of s (locked) in the open transaction. Returns 0
 * (run or refused, counted), or -1 on a DB failure. */
static int run_one(ecm_pg *pg, const st_recycle_ctx *ctx, const PGresult *s, int64_t now_ms,
                   st_recycle_counts *c)
{
    int n = 0;
    char **outcomes = ecm_pgarr_parse(PQgetvalue(s, 0, 1), &n);
    if (outcomes == NULL)
        return -1;
    const ecm_recycle_select sel = {
        .campaign_id = ecm_pgval_ll(s, 0, 0, 0),
        .outcomes = (const char *const *)outcomes,
        .n_outcomes = (size_t)n,
        .older_than_s = ecm_pgval_ll(s, 0, 2, 0),
        .max_rounds = (int)ecm_pgval_ll(s, 0, 3, 0),
        .now_ms = now_ms,
    };
    const ecm_recycle_actor actor = {
        .actor = "schedule",
        .source = ctx->source,
        .topic_recycled = ctx->topic_recycled,
        .topic_campaigns = ctx->topic_campaigns,
    };
    ecm_recycle_result r;
    char reason[256] = "";
    ecm_recycle_status st = ecm_recycle_run(pg, &sel, &actor, &r, reason, sizeof(reason));
    free(outcomes);
    if (st == ECM_RECYCLE_ERR_DB)
        return -1;
    if (st != ECM_RECYCLE_OK) {
        /* A stored schedule passed the API's checks; what is left is the
         * campaign's state (draft, stopped, expired). */
        ecm_log_debug("recycle schedule skipped", "%s", reason);
        c->refused++;
        return 0;
    }
    c->runs++;
    c->reopened += r.total;
    return 0;
}

/* Locks and runs the schedule of campaign id_s if it is still due, in a
 * transaction of its own. Returns 0 or -1 (rolled back). */
static int take_one(ecm_pg *pg, const st_recycle_ctx *ctx, const char *now_s,
                    const char *interval_s, const char *id_s, int64_t now_ms, st_recycle_counts *c)
{
    if (ecm_pg_begin_timeout(pg, ECM_RECYCLE_RUN_TIMEOUT_MS) != 0)
        return -1;
    const char *p[] = {now_s, interval_s, id_s};
    PGresult *s = ecm_pg_exec(pg, SQL_TAKE, 3, p);
    if (s == NULL)
        goto fail;
    int rc = 0;
    if (PQntuples(s) == 1) {
        rc = run_one(pg, ctx, s, now_ms, c);
        const char *d[] = {now_s, id_s};
        if (rc == 0)
            rc = ecm_pg_cmd(pg, SQL_DONE, 2, d);
    }
    PQclear(s);
    if (rc != 0 || ecm_pg_commit(pg) != 0)
        goto fail;
    return 0;
fail:
    ecm_pg_rollback(pg);
    ecm_pg_check_broken(pg);
    return -1;
}

int st_recycle_tick(ecm_pg *pg, const st_recycle_ctx *ctx, st_recycle_counts *counts)
{
    st_recycle_counts c = {0};
    if (counts != NULL)
        *counts = c;
    int64_t now_ms = ecm_clock_now_ms();
    char now_s[24], interval_s[24];
    if ((size_t)snprintf(now_s, sizeof(now_s), "%" PRId64, now_ms) >= sizeof(now_s) ||
        (size_t)snprintf(interval_s, sizeof(interval_s), "%" PRId64,
                         ctx->interval_s > 0 ? ctx->interval_s : 1) >= sizeof(interval_s))
        return -1;
    const char *p[] = {now_s, interval_s};
    PGresult *due = ecm_pg_exec(pg, SQL_DUE, 2, p);
    if (due == NULL) {
        ecm_pg_check_broken(pg);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(due) && rc == 0; i++)
        rc = take_one(pg, ctx, now_s, interval_s, PQgetvalue(due, i, 0), now_ms, &c);
    PQclear(due);
    if (ctx->metrics != NULL && c.runs > 0)
        ecm_metric_add(ecm_metrics_counter(ctx->metrics, "ecm_strategy_recycle_runs_total",
                                           "recycle schedules run"),
                       (uint64_t)c.runs);
    if (ctx->metrics != NULL && c.reopened > 0)
        ecm_metric_add(ecm_metrics_counter(ctx->metrics, "ecm_strategy_recycled_total",
                                           "contacts re-opened by recycle schedules"),
                       (uint64_t)c.reopened);
    if (counts != NULL)
        *counts = c;
    return rc == 0 ? c.runs : -1;
}

/* ---- thread ---- */

struct st_recycle {
    st_recycle_ctx ctx;
    long poll_ms;
    ecm_pg *pg;
    volatile sig_atomic_t *stop; /* the service's */
    volatile sig_atomic_t quit;  /* st_recycle_stop(); also ends the pg's reconnect waits */
    pthread_t thread;
};

static int should_stop(const st_recycle *r)
{
    return *r->stop || r->quit;
}

static void sleep_ms(const st_recycle *r, long ms)
{
    while (ms > 0 && !should_stop(r)) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void *recycle_main(void *arg)
{
    st_recycle *r = arg;
    long backoff = ST_RECYCLE_BACKOFF_MIN_MS;
    while (!should_stop(r)) {
        if (st_recycle_tick(r->pg, &r->ctx, NULL) < 0) {
            ecm_log_warn("recycle tick failed, retrying", "in %ld ms", backoff);
            sleep_ms(r, backoff);
            backoff =
                backoff * 2 > ST_RECYCLE_BACKOFF_MAX_MS ? ST_RECYCLE_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = ST_RECYCLE_BACKOFF_MIN_MS;
        sleep_ms(r, r->poll_ms);
    }
    return NULL;
}

st_recycle *st_recycle_start(const char *dsn, const st_recycle_ctx *ctx, long poll_ms,
                             volatile sig_atomic_t *stop)
{
    st_recycle *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        ecm_log_error("recycle schedules can't start", "out of memory");
        return NULL;
    }
    r->ctx = *ctx;
    if (ctx->metrics != NULL) {
        ecm_metrics_counter(ctx->metrics, "ecm_strategy_recycle_runs_total",
                            "recycle schedules run");
        ecm_metrics_counter(ctx->metrics, "ecm_strategy_recycled_total",
                            "contacts re-opened by recycle schedules");
    }
    r->poll_ms = poll_ms > 0 ? poll_ms : 1;
    r->stop = stop;
    r->pg = ecm_pg_new(dsn, &r->quit);
    if (r->pg == NULL) {
        ecm_log_error("recycle schedules can't start", "no DB handle");
        free(r);
        return NULL;
    }
    int err = pthread_create(&r->thread, NULL, recycle_main, r);
    if (err != 0) {
        char buf[128];
        strerror_r(err, buf, sizeof(buf));
        ecm_log_error("recycle schedules can't start", "pthread_create: %s", buf);
        ecm_pg_destroy(r->pg);
        free(r);
        return NULL;
    }
    return r;
}

void st_recycle_stop(st_recycle *r)
{
    if (r == NULL)
        return;
    r->quit = 1;
    pthread_join(r->thread, NULL);
    ecm_pg_destroy(r->pg);
    free(r);
}

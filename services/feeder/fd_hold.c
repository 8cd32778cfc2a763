#include "fd_hold.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_pgval.h"

#define TARGET_MAX 160

/* The results of the target in the window before its latest one; both
 * read from attempts_target_result. */
static const char RATE_SQL[] =
    "SELECT count(*) FROM attempts WHERE target = $1 AND result_at >= "
    "(SELECT max(result_at) FROM attempts WHERE target = $1 AND result_at IS NOT NULL) "
    "- $2::bigint * interval '1 second'";

/* The target's attempts at Cisco counted, and its feeder_dispatches row in
 * the same snapshot (fd_inflight_of()). */
static const char COUNT_SQL[] =
    "SELECT (SELECT count(*) FROM attempts WHERE target = $1 AND status IN ('sending', 'sent')), "
    "coalesce((SELECT dispatched FROM feeder_dispatches WHERE target = $1), 0)";
static const char DISPATCHED_SQL[] =
    "SELECT coalesce((SELECT dispatched FROM feeder_dispatches WHERE target = $1), 0)";
static const char RECORDED_SQL[] =
    "INSERT INTO feeder_dispatches AS f (target, dispatched) VALUES ($1, $2::bigint) "
    "ON CONFLICT (target) DO UPDATE SET dispatched = f.dispatched + excluded.dispatched";

struct fd_hold_cache {
    struct fd_hold_cache *next;
    char target[TARGET_MAX];
    long long results;
    long long read_at; /* ecm_clock_mono_ms() */
    ecm_metric *gauge;
    int counted;          /* count and count_mark are set */
    long long count;      /* attempts 'sending' + 'sent' at the last exact count */
    long long count_mark; /* feeder_dispatches.dispatched in the same snapshot */
};

long long fd_hold_limit(long long batch, long long capacity, long long hold_minutes,
                        long long results, long long window_s)
{
    if (capacity < 1)
        capacity = 1;
    if (hold_minutes <= 0)
        return capacity;
    if (window_s <= 0)
        window_s = 1;
    if (results < 0)
        results = 0;
    /* rate per minute x minutes = results x 60 x minutes / window_s; the
     * operands are bounded by config (and a window's results), no overflow. */
    long long hold = results * 60 * hold_minutes / window_s;
    if (hold < batch)
        hold = batch;
    if (hold > capacity)
        hold = capacity;
    return hold < 1 ? 1 : hold;
}

static struct fd_hold_cache *cache_of(fd_ctx *ctx, const char *target)
{
    for (struct fd_hold_cache *c = ctx->holds; c; c = c->next) {
        if (strcmp(c->target, target) == 0)
            return c;
    }
    struct fd_hold_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if ((size_t)snprintf(c->target, sizeof c->target, "%s", target) >= sizeof c->target) {
        free(c);
        return NULL;
    }
    char name[TARGET_MAX + 40];
    if (ctx->metrics.registry &&
        (size_t)snprintf(name, sizeof name, "ecm_feeder_hold{target=\"%s\"}", target) < sizeof name)
        c->gauge = ecm_metrics_gauge(ctx->metrics.registry, name,
                                     "records the feeder lets a Cisco target hold (the hold)");
    c->read_at = -1;
    c->next = ctx->holds;
    ctx->holds = c;
    return c;
}

long long fd_hold_of(fd_ctx *ctx, const char *target)
{
    const fd_options *o = &ctx->opt;
    if (o->hold_minutes <= 0)
        return fd_hold_limit(o->batch, o->capacity, 0, 0, 1);
    struct fd_hold_cache *c = cache_of(ctx, target);
    long long now = ecm_clock_mono_ms();
    if (!c || c->read_at < 0 || now - c->read_at >= FD_HOLD_REFRESH_MS) {
        char window[24];
        snprintf(window, sizeof window, "%ld", o->hold_window_s);
        const char *p[2] = {target, window};
        PGresult *r = ecm_pg_exec(ctx->pg, RATE_SQL, 2, p);
        if (!r)
            return -1;
        long long results = ecm_pgval_ll(r, 0, 0, 0);
        PQclear(r);
        if (!c)
            return fd_hold_limit(o->batch, o->capacity, o->hold_minutes, results, o->hold_window_s);
        c->results = results;
        c->read_at = now;
    }
    long long hold =
        fd_hold_limit(o->batch, o->capacity, o->hold_minutes, c->results, o->hold_window_s);
    ecm_metric_set(c->gauge, (double)hold);
    return hold;
}

/* target's feeder_dispatches.dispatched (0 without a row), or -1 (DB). */
static long long dispatched_of(fd_ctx *ctx, const char *target)
{
    const char *p[1] = {target};
    PGresult *r = ecm_pg_exec(ctx->pg, DISPATCHED_SQL, 1, p);
    if (!r)
        return -1;
    long long v = ecm_pgval_ll(r, 0, 0, -1);
    PQclear(r);
    return v;
}

long long fd_inflight_of(fd_ctx *ctx, const char *target, long long enough)
{
    struct fd_hold_cache *c = cache_of(ctx, target);
    /* The bound is never below the last count: when that leaves no room,
     * reading the row can't spare the count. */
    if (c && c->counted && c->count <= enough) {
        long long now = dispatched_of(ctx, target);
        if (now < 0)
            return -1;
        /* A row behind the mark (dropped, restored) proves nothing: count. */
        if (now >= c->count_mark && c->count + (now - c->count_mark) <= enough)
            return c->count + (now - c->count_mark);
    }
    const char *p[1] = {target};
    PGresult *r = ecm_pg_exec(ctx->pg, COUNT_SQL, 1, p);
    if (!r)
        return -1;
    long long count = ecm_pgval_ll(r, 0, 0, -1), mark = ecm_pgval_ll(r, 0, 1, -1);
    PQclear(r);
    if (count < 0 || mark < 0)
        return -1;
    ecm_metric_add(ctx->metrics.inflight_counts, 1);
    if (c) {
        c->counted = 1;
        c->count = count;
        c->count_mark = mark;
    }
    return count;
}

int fd_hold_recorded(fd_ctx *ctx, const char *target, long long n)
{
    if (n <= 0)
        return 0;
    char ns[24];
    if ((size_t)snprintf(ns, sizeof ns, "%lld", n) >= sizeof ns)
        return -1;
    const char *p[2] = {target, ns};
    PGresult *r = ecm_pg_exec(ctx->pg, RECORDED_SQL, 2, p);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

void fd_hold_forget(fd_ctx *ctx)
{
    while (ctx->holds) {
        struct fd_hold_cache *c = ctx->holds;
        ctx->holds = c->next;
        free(c);
    }
}

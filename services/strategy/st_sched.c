#include "st_sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_gate.h"
#include "ecm_uuid.h"

#define ST_SCHED_BACKOFF_MIN_MS 100
#define ST_SCHED_BACKOFF_MAX_MS 5000

/* The ContactRetry's channel is the next attempt's (ECM_ATTEMPT_CHANNEL_SQL_OF:
 * sms, or the campaign's voice_ivr/voice_agent, voice_agent for a call of
 * an SMS campaign), so that the intake of the right service queues it.
 * Due by the business clock ($2, ecm_clock_now_ms), never the database's
 * now(), so a test that moves the clock moves the schedule. ORDER BY
 * next_attempt_at serves the longest-waiting contacts first when
 * more are due than one batch takes. */
static const char SQL_TAKE_DUE[] =
    "WITH due AS ("
    " SELECT k.id FROM contacts k JOIN campaigns c ON c.id = k.campaign_id"
    " WHERE k.state = 'waiting' AND c.state = 'active'"
    " AND k.next_attempt_at <= 'epoch'::timestamptz + $2::bigint * interval '1 millisecond'"
    " ORDER BY k.next_attempt_at LIMIT $1"
    " FOR UPDATE OF k SKIP LOCKED)"
    " UPDATE contacts k SET state = 'retry_due', updated_at = now()"
    " FROM due, campaigns c"
    " WHERE k.id = due.id AND c.id = k.campaign_id"
    " RETURNING k.id, k.campaign_id, k.attempts, k.phone_index,"
    " " ECM_ATTEMPT_CHANNEL_SQL_OF("k", "c");

/* A campaign is complete when it has contacts, none of them open, and no
 * upload of it is running (more contacts are coming between two of its
 * batches). 'closed' sorts first of the contact states (contacts_state_check:
 * closed < dispatched < pending < queued < retry_due < waiting), so the
 * greatest state of its contacts is 'closed' exactly when it has contacts
 * and all are closed: one backward probe of the (campaign_id, state) index,
 * 0.25 ms on a million contacts mid-run. As two EXISTS tests the planner
 * made them a sequential scan of contacts (anti-join) and a hash of every
 * contact, 40-200 ms a tick at a million (docs/performance.md). */
#define SQL_CAMPAIGN_DONE                                                                          \
    " (SELECT k.state FROM contacts k WHERE k.campaign_id = c.id"                                  \
    "  ORDER BY k.state DESC LIMIT 1) = 'closed'"                                                  \
    " AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.campaign_id = c.id"                          \
    "  AND u.state = 'running')"

/* Two statements, because a statement's subqueries read the snapshot it
 * began with: an UPDATE that waited for a recycle (ecm_recycle locks the
 * campaign row, then re-opens contacts) would re-check the campaign row
 * after the recycle's commit but still see the re-opened contacts closed,
 * and complete a campaign with queued contacts. So the candidates are
 * locked first (a campaign a recycle or a replica holds is skipped, to be
 * looked at next tick), and the second statement, with a snapshot taken
 * after those locks, decides. One CampaignChanged per completion. */
static const char SQL_COMPLETE_LOCK[] =
    "SELECT c.id FROM campaigns c WHERE c.state = 'active' AND" SQL_CAMPAIGN_DONE
    " FOR NO KEY UPDATE OF c SKIP LOCKED";

static const char SQL_COMPLETE[] =
    "UPDATE campaigns c SET state = 'completed', updated_at = now()"
    " WHERE c.id = ANY ($1::bigint[]) AND c.state = 'active' AND" SQL_CAMPAIGN_DONE
    " RETURNING c.id";

/* Campaigns past end_at by the business clock ($1). Paused ones expire too:
 * a pause holds the dispatch, not the end. SKIP LOCKED: a campaign row
 * being edited (paused, resumed) right now is taken on the next tick, and of
 * two replicas only one sees each campaign, so one CampaignChanged is
 * emitted. */
static const char SQL_EXPIRE_CAMPAIGNS[] =
    "WITH e AS ("
    " SELECT id, state FROM campaigns"
    " WHERE state IN ('active', 'paused') AND end_at IS NOT NULL"
    " AND end_at <= 'epoch'::timestamptz + $1::bigint * interval '1 millisecond'"
    " FOR UPDATE SKIP LOCKED)"
    " UPDATE campaigns c SET state = 'expired', updated_at = now()"
    " FROM e WHERE c.id = e.id RETURNING c.id, e.state";

/* Open contacts of expired campaigns that are not out with the dialer, a
 * batch per tick (a campaign may hold millions). 'dispatched' ones stay: the
 * result closes them, EXPIRED since no retry fits before end_at. Contacts an
 * upload still adds to an expired campaign are closed by later ticks.
 * Driven from the (few) expired campaigns through the (campaign_id, state)
 * index: "state > 'dispatched'" is that list as one index range (the states
 * sort closed < dispatched < pending < queued < retry_due < waiting), and
 * the ORDER BY makes the index the cheap way to the LIMIT. Joined the plain
 * way, the planner read every contact of every campaign on each tick. */
static const char SQL_EXPIRE_CONTACTS[] =
    "WITH x AS ("
    " SELECT o.id FROM campaigns c CROSS JOIN LATERAL ("
    "  SELECT k.id FROM contacts k WHERE k.campaign_id = c.id AND k.state > 'dispatched'"
    "  AND k.state IN ('pending', 'queued', 'waiting', 'retry_due')"
    "  ORDER BY k.state LIMIT $1 FOR UPDATE OF k SKIP LOCKED) o"
    " WHERE c.state = 'expired' LIMIT $1)"
    " UPDATE contacts k SET state = 'closed', outcome = 'EXPIRED', next_attempt_at = NULL,"
    " closed_at = now(), updated_at = now()"
    " FROM x WHERE k.id = x.id RETURNING k.id, k.campaign_id, k.attempts";

static void count(const st_sched_ctx *ctx, const char *name, const char *help, int n)
{
    if (ctx->metrics != NULL && n > 0)
        ecm_metric_add(ecm_metrics_counter(ctx->metrics, name, help), (uint64_t)n);
}

static int emit_retries(ecm_pg *pg, const st_sched_ctx *ctx, const PGresult *due)
{
    int n = PQntuples(due);
    if (n == 0)
        return 0;
    if (ecm_outbox_copy_begin(pg) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        char id[ECM_UUID_LEN];
        ecm_uuid_new(id);
        Ecm__V1__ContactRetry ev = ECM__V1__CONTACT_RETRY__INIT;
        ev.event_id = id;
        ev.occurred_at = ecm_clock_wall_ms();
        ev.contact_id = ecm_pgval_ll(due, i, 0, 0);
        ev.campaign_id = ecm_pgval_ll(due, i, 1, 0);
        ev.attempt = (int32_t)ecm_pgval_ll(due, i, 2, 0) + 1;
        ev.phone_index = (int32_t)ecm_pgval_ll(due, i, 3, 0);
        ev.channel = ecm_event_channel_from_name(PQgetvalue(due, i, 4));
        if (ecm_outbox_copy_add(pg, ctx->topic_retry, PQgetvalue(due, i, 0), ctx->source, id,
                                ev.occurred_at, &ev.base) != 0) {
            /* The COPY must still be ended for the connection to be usable;
             * its result doesn't matter, the transaction is rolled back. */
            (void)ecm_outbox_copy_end(pg);
            return -1;
        }
    }
    return ecm_outbox_copy_end(pg);
}

static int campaign_changed(ecm_pg *pg, const st_sched_ctx *ctx, const PGresult *res, int row,
                            const char *state, const char *previous)
{
    char id[ECM_UUID_LEN];
    ecm_uuid_new(id);
    Ecm__V1__CampaignChanged ev = ECM__V1__CAMPAIGN_CHANGED__INIT;
    ev.event_id = id;
    ev.occurred_at = ecm_clock_wall_ms();
    ev.campaign_id = ecm_pgval_ll(res, row, 0, 0);
    ev.state = (char *)state;
    ev.previous_state = (char *)previous;
    ev.actor = "strategy";
    return ecm_outbox_add(pg, ctx->topic_campaigns, PQgetvalue(res, row, 0), ctx->source, id,
                          ev.occurred_at, &ev.base);
}

/* Returns the number of campaigns expired, or -1. */
static int expire_campaigns(ecm_pg *pg, const st_sched_ctx *ctx, const char *now_s)
{
    const char *p[] = {now_s};
    PGresult *res = ecm_pg_exec(pg, SQL_EXPIRE_CAMPAIGNS, 1, p);
    if (res == NULL)
        return -1;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        if (campaign_changed(pg, ctx, res, i, "expired", PQgetvalue(res, i, 1)) != 0) {
            PQclear(res);
            return -1;
        }
        ecm_log_info("campaign expired", "campaign %s: end_at reached while %s",
                     PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    }
    PQclear(res);
    return n;
}

/* Closes up to ctx->batch open contacts of expired campaigns, one
 * ContactClosed (EXPIRED) each. Returns how many, or -1. */
static int expire_contacts(ecm_pg *pg, const st_sched_ctx *ctx, const char *batch_s)
{
    const char *p[] = {batch_s};
    PGresult *res = ecm_pg_exec(pg, SQL_EXPIRE_CONTACTS, 1, p);
    if (res == NULL)
        return -1;
    int n = PQntuples(res);
    if (n > 0 && ecm_outbox_copy_begin(pg) != 0) {
        PQclear(res);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const ecm_outbox_closed c = {
            .contact_id = ecm_pgval_ll(res, i, 0, 0),
            .campaign_id = ecm_pgval_ll(res, i, 1, 0),
            .attempts = (int32_t)ecm_pgval_ll(res, i, 2, 0),
            .outcome = ECM__V1__OUTCOME__OUTCOME_EXPIRED,
        };
        if (ecm_outbox_copy_add_closed(pg, ctx->topic_closed, ctx->source, &c) != 0) {
            (void)ecm_outbox_copy_end(pg);
            PQclear(res);
            return -1;
        }
    }
    PQclear(res);
    if (n > 0 && ecm_outbox_copy_end(pg) != 0)
        return -1;
    if (n > 0)
        ecm_log_info("contacts expired", "%d open contacts closed EXPIRED", n);
    return n;
}

static int complete_campaigns(ecm_pg *pg, const st_sched_ctx *ctx)
{
    PGresult *cand = ecm_pg_exec(pg, SQL_COMPLETE_LOCK, 0, NULL);
    if (cand == NULL)
        return -1;
    if (PQntuples(cand) == 0) {
        PQclear(cand);
        return 0;
    }
    ecm_pgarr ids;
    ecm_pgarr_init(&ids);
    for (int i = 0; i < PQntuples(cand); i++)
        ecm_pgarr_add_int(&ids, ecm_pgval_ll(cand, i, 0, 0));
    PQclear(cand);
    const char *p[] = {ecm_pgarr_finish(&ids)};
    PGresult *res = p[0] == NULL ? NULL : ecm_pg_exec(pg, SQL_COMPLETE, 1, p);
    ecm_pgarr_destroy(&ids);
    if (res == NULL)
        return -1;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        if (campaign_changed(pg, ctx, res, i, "completed", "active") != 0) {
            PQclear(res);
            return -1;
        }
        ecm_log_info("campaign completed", "campaign %s: every contact is closed",
                     PQgetvalue(res, i, 0));
    }
    PQclear(res);
    return n;
}

int st_sched_tick(ecm_pg *pg, const st_sched_ctx *ctx, st_sched_counts *counts)
{
    char batch_s[16], now_s[24];
    st_sched_counts c = {0};
    if (counts != NULL)
        *counts = c;
    if ((size_t)snprintf(batch_s, sizeof(batch_s), "%d", ctx->batch > 0 ? ctx->batch : 1) >=
            sizeof(batch_s) ||
        (size_t)snprintf(now_s, sizeof(now_s), "%lld", (long long)ecm_clock_now_ms()) >=
            sizeof(now_s))
        return -1;

    if (ecm_pg_begin(pg) != 0)
        goto fail;
    /* Expiry first: a campaign that ends now emits no more retries. */
    c.expired = expire_campaigns(pg, ctx, now_s);
    if (c.expired < 0)
        goto fail;
    c.expired_contacts = expire_contacts(pg, ctx, batch_s);
    if (c.expired_contacts < 0)
        goto fail;
    const char *p[] = {batch_s, now_s};
    PGresult *due = ecm_pg_exec(pg, SQL_TAKE_DUE, 2, p);
    if (due == NULL)
        goto fail;
    c.retries = PQntuples(due);
    int rc = emit_retries(pg, ctx, due);
    PQclear(due);
    if (rc != 0)
        goto fail;
    c.completed = complete_campaigns(pg, ctx);
    if (c.completed < 0)
        goto fail;
    if (ecm_pg_commit(pg) != 0)
        goto fail;

    count(ctx, "ecm_strategy_retries_emitted_total", "ContactRetry events emitted", c.retries);
    count(ctx, "ecm_strategy_campaigns_completed_total", "campaigns completed", c.completed);
    count(ctx, "ecm_strategy_campaigns_expired_total", "campaigns expired", c.expired);
    count(ctx, "ecm_strategy_contacts_expired_total",
          "open contacts closed EXPIRED with their campaign", c.expired_contacts);
    if (c.retries > 0)
        ecm_log_debug("retries emitted", "%d contacts due", c.retries);
    if (counts != NULL)
        *counts = c;
    return c.retries;

fail:
    ecm_pg_rollback(pg);
    ecm_pg_check_broken(pg);
    return -1;
}

/* ---- thread ---- */

struct st_sched {
    st_sched_ctx ctx;
    long tick_ms;
    ecm_pg *pg;
    volatile sig_atomic_t *stop; /* the service's */
    volatile sig_atomic_t quit;  /* st_sched_stop(); also ends the pg's reconnect waits */
    pthread_t thread;
};

static int should_stop(const st_sched *s)
{
    return *s->stop || s->quit;
}

static void sleep_ms(const st_sched *s, long ms)
{
    while (ms > 0 && !should_stop(s)) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void *sched_main(void *arg)
{
    st_sched *s = arg;
    long backoff = ST_SCHED_BACKOFF_MIN_MS;
    while (!should_stop(s)) {
        st_sched_counts c;
        int n = st_sched_tick(s->pg, &s->ctx, &c);
        if (n < 0) {
            ecm_log_warn("scheduler tick failed, retrying", "in %ld ms", backoff);
            sleep_ms(s, backoff);
            backoff = backoff * 2 > ST_SCHED_BACKOFF_MAX_MS ? ST_SCHED_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = ST_SCHED_BACKOFF_MIN_MS;
        if (c.retries >= s->ctx.batch || c.expired_contacts >= s->ctx.batch)
            continue;
        sleep_ms(s, s->tick_ms);
    }
    return NULL;
}

st_sched *st_sched_start(const char *dsn, const st_sched_ctx *ctx, long tick_ms,
                         volatile sig_atomic_t *stop)
{
    st_sched *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        ecm_log_error("scheduler can't start", "out of memory");
        return NULL;
    }
    s->ctx = *ctx;
    if (ctx->metrics != NULL) {
        ecm_metrics_counter(ctx->metrics, "ecm_strategy_retries_emitted_total",
                            "ContactRetry events emitted");
        ecm_metrics_counter(ctx->metrics, "ecm_strategy_campaigns_completed_total",
                            "campaigns completed");
        ecm_metrics_counter(ctx->metrics, "ecm_strategy_campaigns_expired_total",
                            "campaigns expired");
        ecm_metrics_counter(ctx->metrics, "ecm_strategy_contacts_expired_total",
                            "open contacts closed EXPIRED with their campaign");
    }
    if (s->ctx.batch <= 0)
        s->ctx.batch = 1;
    s->tick_ms = tick_ms > 0 ? tick_ms : 1;
    s->stop = stop;
    s->pg = ecm_pg_new(dsn, &s->quit);
    if (s->pg == NULL) {
        ecm_log_error("scheduler can't start", "no DB handle");
        free(s);
        return NULL;
    }
    int err = pthread_create(&s->thread, NULL, sched_main, s);
    if (err != 0) {
        char buf[128];
        strerror_r(err, buf, sizeof(buf));
        ecm_log_error("scheduler can't start", "pthread_create: %s", buf);
        ecm_pg_destroy(s->pg);
        free(s);
        return NULL;
    }
    return s;
}

void st_sched_stop(st_sched *s)
{
    if (s == NULL)
        return;
    s->quit = 1;
    pthread_join(s->thread, NULL);
    ecm_pg_destroy(s->pg);
    free(s);
}

#include "sms_sender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "sms_answer.h"
#include "sms_held.h"
#include "sms_lease.h"
#include "sms_pace.h"
#include "sms_recheck.h"
#include "sms_recover.h"
#include "sms_state.h"
#include "sms_take.h"

#define BACKOFF_MIN_MS 200
#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 5000
/* How long a lane whose take found nothing waits before it asks again. Once
 * every queued contact is taken, the campaign list's EXISTS walks the index
 * entries the taken contacts left behind (6 ms and ~480 buffers a call near
 * the end of a 20,000-message run) and the sender asked on every pass, some
 * 260 times a run (docs/performance.md, session 27). New work (an upload, a
 * retry queued by the intake, a resume) is then picked up this much later
 * at most: less than a dispatch tick. */
#define SMS_TAKE_IDLE_MS 100

static void nap_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static sms_lane *lane_by_name(sms_sender *s, const char *name)
{
    for (size_t i = 0; i < s->nlanes; i++) {
        if (name && strcmp(s->lanes[i].name, name) == 0)
            return &s->lanes[i];
    }
    return NULL;
}

/* Sets the defaults of the fields of cfg left at zero. Can't fail. */
static void config_defaults(sms_sender_config *cfg)
{
    if (cfg->batch < 1)
        cfg->batch = 500;
    if (cfg->tick_ms < 1)
        cfg->tick_ms = 200;
    if (cfg->stale_s < 1)
        cfg->stale_s = 60;
    if (cfg->resend_after_s < 1)
        cfg->resend_after_s = 600;
    if (cfg->resend_after_s < cfg->stale_s)
        cfg->resend_after_s = cfg->stale_s;
    if (cfg->backoff_max_ms < BACKOFF_MIN_MS)
        cfg->backoff_max_ms = 30000;
    if (cfg->take_idle_ms < 1)
        cfg->take_idle_ms = SMS_TAKE_IDLE_MS;
    if (cfg->legal.start_min == 0 && cfg->legal.end_min == 0)
        cfg->legal =
            (ecm_legal_hours){ECM_WINDOW_LEGAL_START_DEFAULT, ECM_WINDOW_LEGAL_END_DEFAULT};
}

/* Sets up lane i of s (its gateway, bucket started full at now, hold and
 * metric) from s->cfg.lanes[i]. Returns 0, or -1 when the gateway can't be
 * made. */
static int lane_init(sms_sender *s, size_t i, int64_t now)
{
    const sms_lane_config *lc = &s->cfg.lanes[i];
    sms_lane *ln = &s->lanes[i];
    ln->owner = s;
    ln->gw = sms_gw_new(&lc->gw, sms_answer_on_done, ln);
    if (!ln->gw)
        return -1;
    s->nlanes++;
    ln->name = sms_gw_name(ln->gw);
    /* Only the generic gateway deduplicates by message id (sms_gw.h). */
    ln->resend_after_s = lc->gw.kind == SMS_GW_KANNEL ? s->cfg.resend_after_s : s->cfg.stale_s;
    double rate = lc->rate > 0 ? lc->rate : 1;
    /* Half a second's worth may go at once: a pass of the loop that
     * takes longer than a token's interval loses nothing, and the rate
     * holds over any longer stretch. */
    sms_bucket_init(&ln->bucket, rate, rate / 2 > 1 ? rate / 2 : 1, now);
    size_t hold = (size_t)rate;
    size_t floor_hold = (size_t)lc->gw.concurrency * 2;
    if (hold < floor_hold)
        hold = floor_hold;
    if (hold > (size_t)s->cfg.batch)
        hold = (size_t)s->cfg.batch;
    ln->hold = hold;
    ecm_metrics *m = s->cfg.ctx->metrics;
    char name[128];
    if (m && (size_t)snprintf(name, sizeof name, "ecm_sms_sent_total{gateway=\"%s\"}", ln->name) <
                 sizeof name)
        ln->sent = ecm_metrics_counter(m, name, "messages the gateway accepted");
    return 0;
}

/* Creates the sender's own metrics in m (NULL: none). Can't fail. */
static void metrics_init(sms_sender *s, ecm_metrics *m)
{
    if (!m)
        return;
    s->rejected = ecm_metrics_counter(m, "ecm_sms_rejected_total",
                                      "messages a gateway rejected for good (4xx)");
    s->inflight = ecm_metrics_gauge(m, "ecm_sms_inflight", "requests to gateways in flight");
    s->recovered = ecm_metrics_counter(
        m, "ecm_sms_recovered_total",
        "messages sent again after a sender stopped mid-send (each may be a duplicate)");
    s->dnc_blocked = ecm_metrics_counter(m, "ecm_sms_dnc_blocked_total",
                                         "messages not sent because the number is on DNC");
    s->render_failed = ecm_metrics_counter(m, "ecm_sms_render_failed_total",
                                           "contacts closed because the text can't be rendered");
    /* Created at start so that dashboards see 0 rather than nothing. */
    ecm_metrics_counter(m, "ecm_sms_retries_total{reason=\"unavailable\"}",
                        "sends to be retried (same attempt, same message id)");
}

sms_sender *sms_sender_new(ecm_pg *pg, const sms_sender_config *cfg)
{
    if (cfg->nlanes == 0 || cfg->nlanes > SMS_SENDER_MAX_GATEWAYS) {
        ecm_log_error("no SMS gateway configured", NULL);
        return NULL;
    }
    sms_sender *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->pg = pg;
    s->cfg = *cfg;
    config_defaults(&s->cfg);
    ecm_metrics *m = cfg->ctx->metrics;
    ecm_gate_config gcfg = {
        .topic_closed = cfg->ctx->common->topic_closed,
        .source = cfg->ctx->source,
        .metrics = m,
        .legal = s->cfg.legal,
    };
    s->gate = ecm_gate_new(&gcfg);
    if (!s->gate) {
        free(s);
        return NULL;
    }
    int64_t now = ecm_clock_mono_ms();
    for (size_t i = 0; i < cfg->nlanes; i++) {
        if (lane_init(s, i, now) < 0) {
            sms_sender_destroy(s);
            return NULL;
        }
    }
    if (!lane_by_name(s, cfg->default_gateway))
        ecm_log_warn("the default SMS gateway is not configured; campaigns without a gateway "
                     "wait",
                     "default_gateway=%s", cfg->default_gateway ? cfg->default_gateway : "");
    s->system_lane = lane_by_name(s, cfg->system_gateway);
    if (!s->system_lane)
        s->system_lane = &s->lanes[0];
    metrics_init(s, m);
    return s;
}

void sms_sender_destroy(sms_sender *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nlanes; i++)
        sms_gw_destroy(s->lanes[i].gw); /* in-flight items are freed below */
    while (s->all)
        sms_held_destroy(s, s->all);
    ecm_gate_destroy(s->gate);
    free(s);
}

size_t sms_sender_pending(const sms_sender *s)
{
    return s->nall;
}

/* Records the answers that came in, and renews leases and recovers stale
 * attempts when due at now. Returns the number of messages recorded or
 * taken over, or -1 when the DB failed. */
static int upkeep(sms_sender *s, int64_t now)
{
    int work = 0;
    if (s->ndone > 0) {
        int r = sms_answer_record(s);
        if (r < 0)
            return -1;
        work += r;
    }
    if (now >= s->next_lease_ms) {
        if (sms_lease_renew(s) < 0)
            return -1;
        s->next_lease_ms = now + s->cfg.stale_s * 1000 / 3;
    }
    if (!s->draining && now >= s->next_recover_ms) {
        for (size_t i = 0; i < s->nlanes; i++) {
            int r = sms_recover_lane(s, &s->lanes[i], s->cfg.batch);
            if (r < 0)
                return -1;
            work += r;
        }
        s->next_recover_ms = now + s->cfg.stale_s * 1000 / 3;
    }
    return work;
}

/* Takes more work for each lane that is at most half full and not paused
 * at now (system messages on the system lane first). Returns the number
 * taken; sets *failed when a take failed. */
static int take_work(sms_sender *s, int64_t now, int *failed)
{
    int work = 0;
    /* The messages already waiting go on out while the takes' statements
     * run (their answers are recorded by the next upkeep). */
    ecm_pg_set_idle(s->pg, sms_pace_idle, s);
    for (size_t i = 0; !s->draining && i < s->nlanes; i++) {
        sms_lane *ln = &s->lanes[i];
        if (ln->nwait * 2 > ln->hold || now < ln->paused_until_ms)
            continue;
        if (ln == s->system_lane) {
            int r = sms_take_system(s, ln, (long)(ln->hold - ln->nwait));
            if (r < 0)
                *failed = 1;
            else
                work += r;
        }
        if (ln->nwait < ln->hold && now >= ln->idle_until_ms) {
            int r = sms_take_contacts(s, ln, (long)(ln->hold - ln->nwait));
            if (r < 0)
                *failed = 1;
            else
                work += r;
            ln->idle_until_ms = r == 0 ? now + s->cfg.take_idle_ms : 0;
        }
    }
    ecm_pg_set_idle(s->pg, NULL, NULL);
    return work;
}

/* Re-checks and submits the waiting messages of each lane not paused at
 * now. Returns when a waiting message may go next (-1: none); sets *failed
 * when a re-check failed. */
static int64_t send_ready(sms_sender *s, int64_t now, int *failed)
{
    int64_t next_ms = -1;
    for (size_t i = 0; i < s->nlanes; i++) {
        sms_lane *ln = &s->lanes[i];
        if (ln->wait_head && now >= ln->paused_until_ms) {
            if (sms_recheck_held(s, ln) < 0) {
                *failed = 1;
                continue;
            }
            sms_pace_submit(ln, now);
        }
        if (ln->wait_head && sms_gw_room(ln->gw) > 0) {
            int64_t at = now < ln->paused_until_ms ? ln->paused_until_ms
                                                   : now + sms_bucket_wait_ms(&ln->bucket, now);
            if (next_ms < 0 || at < next_ms)
                next_ms = at;
        }
    }
    return next_ms;
}

/* Waits up to wait_ms (and no later than next_ms, when >= 0) for answers to
 * requests in flight; with none in flight, naps until next_ms (at most
 * wait_ms). Returns the number of answers. */
static int await_answers(sms_sender *s, int wait_ms, int64_t now, int64_t next_ms)
{
    int work = 0;
    if (sms_pace_inflight(s) > 0) {
        int per = wait_ms / (int)s->nlanes;
        if (next_ms >= 0 && next_ms - now < per)
            per = (int)(next_ms - now);
        for (size_t i = 0; i < s->nlanes; i++) {
            sms_lane *ln = &s->lanes[i];
            work += sms_gw_poll(ln->gw, sms_gw_inflight(ln->gw) > 0 ? (per > 0 ? per : 0) : 0);
        }
    } else if (next_ms >= 0) {
        long nap = (long)(next_ms - now);
        nap_ms(nap < wait_ms ? nap : wait_ms);
    }
    return work;
}

int sms_sender_step(sms_sender *s, int wait_ms)
{
    int failed = 0;
    int64_t now = ecm_clock_mono_ms();
    int work = upkeep(s, now);
    if (work < 0)
        return -1;
    work += take_work(s, now, &failed);
    now = ecm_clock_mono_ms();
    int64_t next_ms = send_ready(s, now, &failed);
    work += await_answers(s, wait_ms, now, next_ms);
    sms_pace_refill(s);
    ecm_metric_set(s->inflight, sms_pace_inflight(s));
    if (s->ndone > 0) {
        int r = sms_answer_record(s);
        if (r < 0)
            return -1;
        work += r;
    }
    return failed ? -1 : work;
}

void sms_sender_drain(sms_sender *s, long timeout_ms)
{
    s->draining = 1;
    int64_t until = ecm_clock_mono_ms() + timeout_ms;
    while ((sms_pace_inflight(s) > 0 || s->ndone > 0) && ecm_clock_mono_ms() < until) {
        /* Nothing new goes out; only answers are awaited and recorded. */
        for (size_t i = 0; i < s->nlanes; i++)
            s->lanes[i].paused_until_ms = until;
        if (sms_sender_step(s, 100) < 0)
            nap_ms(100);
    }
    if (sms_pace_inflight(s) > 0 || s->ndone > 0)
        ecm_log_warn("SMS sender stopped with messages unrecorded; they will be recovered",
                     "inflight=%d unrecorded=%zu", sms_pace_inflight(s), s->ndone);
    int released = sms_lease_release_unsent(s);
    if (released > 0)
        ecm_log_info("SMS sender stopped: messages never sent handed back for recovery",
                     "messages=%d", released);
}

void sms_sender_run(sms_sender *s, volatile sig_atomic_t *stop, long drain_timeout_ms)
{
    long backoff = 0;
    while (!*stop) {
        int rc = sms_sender_step(s, (int)s->cfg.tick_ms);
        if (rc < 0) {
            backoff = backoff ? backoff * 2 : DB_BACKOFF_MIN_MS;
            if (backoff > DB_BACKOFF_MAX_MS)
                backoff = DB_BACKOFF_MAX_MS;
            for (long t = 0; t < backoff && !*stop; t += 50)
                nap_ms(50);
            continue;
        }
        backoff = 0;
        if (rc == 0 && s->nall == 0) {
            for (long t = 0; t < s->cfg.tick_ms && !*stop; t += 50)
                nap_ms(50);
        }
    }
    sms_sender_drain(s, drain_timeout_ms);
}

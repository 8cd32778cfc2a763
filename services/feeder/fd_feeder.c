#include "fd_feeder.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_service.h"
#include "ecm_uuid.h"
#include "fd_dispatch.h"
#include "fd_reconcile.h"
#include "fd_withdraw.h"
#include "ecm_pgval.h"

#define BACKOFF_MIN_MS 200
/* For the DB and UCCX alike: a retry while UCCX is down re-tries the one
 * batch left 'sending' (fd_dispatch_tick), it records no new one. */
#define BACKOFF_MAX_MS 5000
#define GAUGE_EVERY_MS 1000

/* One counter a kind: name{kind="<kind>"[,extra]}. */
static void per_kind(ecm_metrics *m, ecm_metric **out, const char *name, const char *extra,
                     const char *help)
{
    for (int k = 0; k < FD_KIND_N; k++) {
        char full[160];
        if ((size_t)snprintf(full, sizeof full, "%s{kind=\"%s\"%s%s}", name,
                             fd_kind_name((fd_kind)k), extra ? "," : "",
                             extra ? extra : "") < sizeof full)
            out[k] = ecm_metrics_counter(m, full, help);
    }
}

void fd_metrics_init(fd_metrics *fm, ecm_metrics *m)
{
    memset(fm, 0, sizeof *fm);
    if (!m)
        return;
    static const char errors_help[] = "dialer calls that failed, by target kind and error";
    static const char reconciled_help[] = "attempts reconciled after being left 'sending'";
    per_kind(m, fm->dispatched, "ecm_feeder_dispatched_total", NULL,
             "attempts the dialer accepted (marked sent)");
    per_kind(m, fm->unavailable, "ecm_feeder_errors_total", "error=\"unavailable\"", errors_help);
    per_kind(m, fm->rejected, "ecm_feeder_errors_total", "error=\"rejected\"", errors_help);
    per_kind(m, fm->failed, "ecm_feeder_errors_total", "error=\"local\"", errors_help);
    per_kind(m, fm->reconciled_present, "ecm_feeder_reconciled_total", "result=\"present\"",
             reconciled_help);
    per_kind(m, fm->reconciled_resent, "ecm_feeder_reconciled_total", "result=\"resent\"",
             reconciled_help);
    per_kind(m, fm->unconfigured, "ecm_feeder_unconfigured_targets_total", NULL,
             "targets skipped because their kind's writer is not configured");
    fm->inflight = ecm_metrics_gauge(m, "ecm_feeder_inflight",
                                     "attempts 'sending' or 'sent' on Cisco targets");
    fm->inflight_counts = ecm_metrics_counter(
        m, "ecm_feeder_inflight_counts_total",
        "exact counts of a target's attempts at Cisco before a batch (the other batches go by "
        "the bound of feeder_dispatches)");
    static const char withdraw_help[] =
        "attempts of paused or stopped campaigns: taken back from the dialer, or left with it";
    per_kind(m, fm->withdrawn, "ecm_feeder_withdrawals_total", "result=\"withdrawn\"",
             withdraw_help);
    per_kind(m, fm->withdraw_kept, "ecm_feeder_withdrawals_total", "result=\"kept\"",
             withdraw_help);
    fm->registry = m;
}

void fd_count_error(fd_ctx *ctx, fd_kind kind, fd_uccx_status st)
{
    if (kind < 0 || kind >= FD_KIND_N)
        return;
    switch (st) {
    case FD_UCCX_OK:
        break;
    case FD_UCCX_UNAVAILABLE:
        ecm_metric_add(ctx->metrics.unavailable[kind], 1);
        break;
    case FD_UCCX_REJECTED:
        ecm_metric_add(ctx->metrics.rejected[kind], 1);
        break;
    case FD_UCCX_FAILED:
        ecm_metric_add(ctx->metrics.failed[kind], 1);
        break;
    }
}

/* ---- targets of kinds without a writer ---- */

struct fd_skipped {
    struct fd_skipped *next;
    char target[FD_CISCO_ID_MAX + 16];
};

fd_writer *fd_writer_for(fd_ctx *ctx, const fd_target *t)
{
    if (t->kind < 0 || t->kind >= FD_KIND_N)
        return NULL;
    if (ctx->writers[t->kind])
        return ctx->writers[t->kind];
    char name[FD_CISCO_ID_MAX + 16];
    if (fd_target_format(t, name, sizeof name) < 0)
        return NULL;
    for (struct fd_skipped *s = ctx->skipped; s; s = s->next) {
        if (strcmp(s->target, name) == 0)
            return NULL;
    }
    ecm_log_warn("target skipped: its kind's writer is not configured", "target=%s kind=%s", name,
                 fd_kind_name(t->kind));
    ecm_metric_add(ctx->metrics.unconfigured[t->kind], 1);
    struct fd_skipped *s = calloc(1, sizeof *s);
    if (s) {
        memcpy(s->target, name, sizeof s->target);
        s->next = ctx->skipped;
        ctx->skipped = s;
    }
    return NULL;
}

void fd_skipped_forget(fd_ctx *ctx)
{
    while (ctx->skipped) {
        struct fd_skipped *s = ctx->skipped;
        ctx->skipped = s->next;
        free(s);
    }
}

/* ---- marking sent ---- */

int fd_mark_sent(fd_ctx *ctx, const char *const *accounts, size_t n, size_t *marked)
{
    if (marked)
        *marked = 0;
    if (n == 0)
        return 0;
    ecm_pgarr a;
    ecm_pgarr_init(&a);
    for (size_t i = 0; i < n; i++)
        ecm_pgarr_add_str(&a, accounts[i]);
    const char *params[1] = {ecm_pgarr_finish(&a)};
    if (!params[0]) {
        ecm_pgarr_destroy(&a);
        return -1;
    }
    PGresult *r = ecm_pg_exec(ctx->pg,
                              "UPDATE attempts SET status = 'sent', sent_at = now() "
                              "WHERE account_number = ANY($1::text[]) AND status = 'sending' "
                              "RETURNING contact_id, attempt, campaign_id, channel, "
                              "account_number, phone, target",
                              1, params);
    ecm_pgarr_destroy(&a);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    int rc = 0;
    if (rows > 0 && ecm_outbox_copy_begin(ctx->pg) < 0)
        rc = -1;
    for (int i = 0; rc == 0 && i < rows; i++) {
        Ecm__V1__ContactDispatched ev = ECM__V1__CONTACT_DISPATCHED__INIT;
        char event_id[ECM_UUID_LEN];
        ecm_uuid_new(event_id);
        ev.event_id = event_id;
        ev.occurred_at = ecm_clock_wall_ms();
        ev.contact_id = ecm_pgval_ll(r, i, 0, -1);
        ev.attempt = (int32_t)ecm_pgval_ll(r, i, 1, -1);
        ev.campaign_id = ecm_pgval_ll(r, i, 2, -1);
        ev.channel = ecm_event_channel_from_name(PQgetvalue(r, i, 3));
        ev.account_number = PQgetvalue(r, i, 4);
        ev.phone = PQgetvalue(r, i, 5);
        ev.target = PQgetvalue(r, i, 6);
        if (ecm_outbox_copy_add(ctx->pg, ctx->opt.topic_dispatched, PQgetvalue(r, i, 0),
                                ctx->opt.source, event_id, ev.occurred_at, &ev.base) < 0)
            rc = -1;
    }
    if (rc == 0 && rows > 0 && ecm_outbox_copy_end(ctx->pg) < 0)
        rc = -1;
    PQclear(r);
    if (rc == 0 && marked)
        *marked = (size_t)rows;
    return rc;
}

int fd_update_inflight(fd_ctx *ctx)
{
    PGresult *r = ecm_pg_exec(ctx->pg,
                              "SELECT count(*) FROM attempts "
                              "WHERE status IN ('sending', 'sent') "
                              "AND target LIKE ANY (ARRAY['uccx:%', 'ucce_api:%', 'ucce_db:%'])",
                              0, NULL);
    if (!r)
        return -1;
    ecm_metric_set(ctx->metrics.inflight, (double)ecm_pgval_ll(r, 0, 0, -1));
    PQclear(r);
    return 0;
}

/* ---- the loop ---- */

void fd_feeder_run(fd_ctx *ctx, long tick_ms, volatile sig_atomic_t *stop)
{
    long long next_reconcile = 0, next_gauge = 0, next_withdraw = 0, resume_at = 0;
    long backoff = 0;
    while (!*stop) {
        long long now = ecm_clock_mono_ms();
        if (now >= next_reconcile) {
            size_t present = 0, resent = 0;
            if (fd_reconcile_run(ctx, &present, &resent) == 0 && present + resent > 0)
                ecm_log_info("reconciled attempts left sending", "present=%zu resent=%zu", present,
                             resent);
            next_reconcile = now + ctx->opt.reconcile_every_ms;
        }
        int full = 0;
        if (now >= resume_at) {
            int rc = fd_dispatch_tick(ctx, NULL, &full);
            if (rc < 0) {
                backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
                if (backoff > BACKOFF_MAX_MS)
                    backoff = BACKOFF_MAX_MS;
                resume_at = now + backoff;
                full = 0;
                ecm_log_warn("dispatch paused after a failure", "backoff_ms=%ld", backoff);
            } else {
                backoff = 0;
            }
        }
        if (now >= next_withdraw) {
            if (fd_withdraw_run(ctx, NULL, NULL) < 0)
                ecm_log_debug("withdrawal pass incomplete; the next one tries again", NULL);
            next_withdraw = now + FD_WITHDRAW_EVERY_MS;
        }
        if (now >= next_gauge) {
            (void)fd_update_inflight(ctx);
            next_gauge = now + GAUGE_EVERY_MS;
        }
        if (!full)
            ecm_service_sleep_ms(tick_ms);
    }
}

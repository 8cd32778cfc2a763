#include "fd_feeder.h"

#include <errno.h>
#include <stdint.h>
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
#include "ecm_pgval.h"

#define BACKOFF_MIN_MS 200
/* For the DB and UCCX alike: a retry while UCCX is down re-tries the one
 * batch left 'sending' (fd_dispatch_tick), it records no new one. */
#define BACKOFF_MAX_MS 5000
#define GAUGE_EVERY_MS 1000

void fd_metrics_init(fd_metrics *fm, ecm_metrics *m)
{
    memset(fm, 0, sizeof *fm);
    if (!m)
        return;
    static const char errors_help[] = "UCCX calls that failed, by kind";
    static const char reconciled_help[] = "attempts reconciled after being left 'sending'";
    fm->dispatched = ecm_metrics_counter(m, "ecm_feeder_dispatched_total",
                                         "attempts UCCX accepted (marked sent)");
    fm->uccx_unavailable =
        ecm_metrics_counter(m, "ecm_feeder_uccx_errors_total{kind=\"unavailable\"}", errors_help);
    fm->uccx_rejected =
        ecm_metrics_counter(m, "ecm_feeder_uccx_errors_total{kind=\"rejected\"}", errors_help);
    fm->uccx_failed =
        ecm_metrics_counter(m, "ecm_feeder_uccx_errors_total{kind=\"local\"}", errors_help);
    fm->inflight =
        ecm_metrics_gauge(m, "ecm_feeder_inflight", "attempts 'sending' or 'sent' on UCCX targets");
    fm->reconciled_present =
        ecm_metrics_counter(m, "ecm_feeder_reconciled_total{result=\"present\"}", reconciled_help);
    fm->reconciled_resent =
        ecm_metrics_counter(m, "ecm_feeder_reconciled_total{result=\"resent\"}", reconciled_help);
}

void fd_count_uccx_error(fd_ctx *ctx, fd_uccx_status st)
{
    switch (st) {
    case FD_UCCX_OK:
        break;
    case FD_UCCX_UNAVAILABLE:
        ecm_metric_add(ctx->metrics.uccx_unavailable, 1);
        break;
    case FD_UCCX_REJECTED:
        ecm_metric_add(ctx->metrics.uccx_rejected, 1);
        break;
    case FD_UCCX_FAILED:
        ecm_metric_add(ctx->metrics.uccx_failed, 1);
        break;
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
                              "WHERE status IN ('sending', 'sent') AND target LIKE 'uccx:%'",
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
    long long next_reconcile = 0, next_gauge = 0, resume_at = 0;
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
        if (now >= next_gauge) {
            (void)fd_update_inflight(ctx);
            next_gauge = now + GAUGE_EVERY_MS;
        }
        if (!full)
            ecm_service_sleep_ms(tick_ms);
    }
}

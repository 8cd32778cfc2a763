/* What the feeder's dispatcher and reconciler share: options, metrics, the
 * step that marks attempts 'sent' with their ContactDispatched events, and
 * the main loop that runs both. */
#ifndef FD_FEEDER_H
#define FD_FEEDER_H

#include <signal.h>
#include <stddef.h>

#include "ecm_gate.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"
#include "ecm_pgarray.h"
#include "fd_uccx.h"
#include "fd_writer.h"

typedef struct {
    const char *topic_dispatched; /* ContactDispatched events go here */
    const char *source;           /* CloudEvents source, "/ecm/feeder" */
    long batch;                   /* most records per POST */
    long capacity;                /* UCCX's active records per campaign */
    long hold_minutes;            /* dialling kept at Cisco per target (fd_hold.h); 0: off */
    long hold_window_s;           /* the window the dial rate is measured over */
    long reconcile_after_s;       /* an attempt 'sending' longer than this is reconciled */
    /* ucce_api: how long an import may wait in Cisco's queue for its answer;
     * a missing attempt is re-sent only once older than this plus
     * reconcile_after_s (a crashed feeder's import may still be queued). */
    long ucce_import_timeout_s;
    long reconcile_every_ms; /* how often the reconciler looks */
} fd_options;

/* Per target kind (label kind="uccx|ucce_api|ucce_db"), and one gauge. */
typedef struct {
    ecm_metric *dispatched[FD_KIND_N];
    ecm_metric *unavailable[FD_KIND_N];
    ecm_metric *rejected[FD_KIND_N];
    ecm_metric *failed[FD_KIND_N];
    ecm_metric *reconciled_present[FD_KIND_N];
    ecm_metric *reconciled_resent[FD_KIND_N];
    ecm_metric *unconfigured[FD_KIND_N]; /* targets skipped: no writer for their kind */
    ecm_metric *inflight;
    ecm_metric *inflight_counts;      /* exact counts of a target's attempts at Cisco (fd_hold.h) */
    ecm_metric *withdrawn[FD_KIND_N]; /* attempts taken back from the dialer (fd_withdraw.h) */
    ecm_metric *withdraw_kept[FD_KIND_N]; /* attempts of a paused campaign left with it */
    ecm_metrics *registry;                /* for the per-target gauges (fd_hold.h); may be NULL */
} fd_metrics;

/* A batch whose POST failed while UCCX was unavailable (fd_dispatch.c). */
typedef struct fd_pending fd_pending;

typedef struct {
    ecm_pg *pg;
    /* The writer of each kind (owned by the caller); NULL: that kind is not
     * configured and its targets are skipped (one warning per target). */
    fd_writer *writers[FD_KIND_N];
    ecm_gate *gate; /* DNC, calling window and schedule of each contact taken */
    fd_options opt;
    fd_metrics metrics;
    fd_pending *pending;         /* NULL at start; freed by fd_dispatch_forget() */
    struct fd_skipped *skipped;  /* targets warned about; freed by fd_dispatch_forget() */
    struct fd_hold_cache *holds; /* rates read per target; freed by fd_dispatch_forget() */
} fd_ctx;

/* Creates the feeder's metrics in m (NULL leaves every handle NULL, which the
 * metric functions ignore). Can't fail beyond leaving handles NULL. */
void fd_metrics_init(fd_metrics *fm, ecm_metrics *m);

/* Counts one failed dialer call in
 * ecm_feeder_errors_total{kind=...,error="unavailable|rejected|local"}. */
void fd_count_error(fd_ctx *ctx, fd_kind kind, fd_uccx_status st);

/* The writer for target t's kind, or NULL when that kind is not configured:
 * then logs one warning per target (the first time) and counts it in
 * ecm_feeder_unconfigured_targets_total{kind=...}. */
fd_writer *fd_writer_for(fd_ctx *ctx, const fd_target *t);

/* Forgets the targets fd_writer_for() warned about. Can't fail. */
void fd_skipped_forget(fd_ctx *ctx);

/* Inside the caller's open transaction: marks the attempts with these
 * account numbers 'sent' (only those still 'sending', so a second call
 * changes nothing) and writes one ContactDispatched event per attempt marked
 * into the outbox, keyed by contact id. *marked (may be NULL) gets the count.
 * Counts them in ecm_feeder_dispatched_total only once the caller commits,
 * so the caller adds them itself. Returns 0, or -1 (roll back). */
int fd_mark_sent(fd_ctx *ctx, const char *const *accounts, size_t n, size_t *marked)
    __attribute__((warn_unused_result));

/* Refreshes the ecm_feeder_inflight gauge from the DB. Returns 0 or -1 (a
 * caller may ignore it: the gauge is refreshed again on the next pass). */
int fd_update_inflight(fd_ctx *ctx);

/* The main loop: reconciles at start and every opt.reconcile_every_ms,
 * withdraws from the dialer what paused and stopped campaigns have there
 * (fd_withdraw.h) every FD_WITHDRAW_EVERY_MS, dispatches every tick_ms (at once again after a full
 * batch), backs off (capped at 5 s) after a failure. Returns when *stop is set; the batch in flight
 * then is finished first. */
void fd_feeder_run(fd_ctx *ctx, long tick_ms, volatile sig_atomic_t *stop);

#endif

/* Retention of the SMS records that grow with traffic: sms_dlrs and
 * sms_inbound rows older than the configured number of days are deleted in
 * small batches (one short transaction each, oldest first), so that a
 * purge never holds many locks or a long transaction. A DLR of an attempt
 * still open (not 'done') is kept whatever its age: it is that attempt's
 * record until it closes (the attempt row itself, which makes DLRs
 * idempotent, is never touched here). Rows of the reply limits that can no
 * longer limit anything go too. Ages are PostgreSQL's now() against
 * received_at (the clock that wrote it); the reply rows use the business
 * clock they were written with. One replica purges at a time (a session
 * advisory lock); batches are safe without it (SKIP LOCKED). */
#ifndef SMS_PURGE_H
#define SMS_PURGE_H

#include <signal.h>

#include "ecm_metrics.h"
#include "ecm_pg.h"

typedef struct {
    long long retention_days;   /* >= 1 */
    long long batch;            /* rows per transaction, >= 1 */
    long long interval_ms;      /* pause between runs of the thread */
    long long reply_interval_s; /* sms_ctx.reply_interval_s: older reply rows go */
    ecm_metrics *metrics;       /* ecm_sms_purged_total{table}; may be NULL */
} sms_purge_config;

typedef struct {
    long long dlrs, inbound, replies; /* rows deleted */
    int batches;                      /* DELETE statements that removed rows */
} sms_purge_stats;

/* One purge on pg: batches until each table has no more to purge or *stop
 * (may be NULL) is set. Returns 0 (st filled, may be NULL), 1 when another
 * session holds the purge lock (nothing done), or -1 on a DB error (logged;
 * the batches committed so far stay done). */
int sms_purge_run(ecm_pg *pg, const sms_purge_config *cfg, volatile sig_atomic_t *stop,
                  sms_purge_stats *st);

typedef struct sms_purge sms_purge;

/* Starts a thread that runs sms_purge_run() at once and then every
 * cfg->interval_ms on its own connection to dsn, until *stop or
 * sms_purge_stop(). cfg is copied. Returns NULL (logged) on failure. */
sms_purge *sms_purge_start(const char *dsn, const sms_purge_config *cfg,
                           volatile sig_atomic_t *stop);

/* Ends the thread (after the batch under way), joins it and frees. NULL is
 * ignored. */
void sms_purge_stop(sms_purge *p);

#endif

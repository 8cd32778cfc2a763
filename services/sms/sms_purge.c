#include "sms_purge.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_clock.h"
#include "ecm_log.h"

#define SMS_PURGE_BACKOFF_MS 5000

/* pg_try_advisory_lock key: "ECM SMS purge", any constant not used elsewhere. */
#define SMS_PURGE_LOCK "7308291055"

static const char SQL_DLRS[] =
    "DELETE FROM sms_dlrs WHERE id IN (SELECT d.id FROM sms_dlrs d"
    " WHERE d.received_at < now() - $1::int * interval '1 day'"
    " AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.message_id = d.message_id"
    "  AND a.status <> 'done')"
    " ORDER BY d.received_at LIMIT $2::int FOR UPDATE OF d SKIP LOCKED)";

static const char SQL_INBOUND[] = "DELETE FROM sms_inbound WHERE id IN (SELECT id FROM sms_inbound"
                                  " WHERE received_at < now() - $1::int * interval '1 day'"
                                  " ORDER BY received_at LIMIT $2::int FOR UPDATE SKIP LOCKED)";

/* $1: business time (ms) less the reply interval: a reply older than that
 * limits nothing any more. */
static const char SQL_REPLIES[] =
    "DELETE FROM sms_reply_log WHERE (phone_key, kind) IN (SELECT phone_key, kind"
    " FROM sms_reply_log WHERE last_at < 'epoch'::timestamptz + $1::bigint * interval"
    " '1 millisecond' LIMIT $2::int FOR UPDATE SKIP LOCKED)";

/* Past minutes of the global cap; one row a minute, so one statement. */
static const char SQL_WINDOWS[] = "DELETE FROM sms_reply_window WHERE minute < $1::bigint";

static void count(const sms_purge_config *cfg, const char *table, long long n)
{
    if (cfg->metrics == NULL || n <= 0)
        return;
    char name[96];
    (void)snprintf(name, sizeof(name), "ecm_sms_purged_total{table=\"%s\"}", table);
    ecm_metric_add(ecm_metrics_counter(cfg->metrics, name, "rows deleted by the retention purge"),
                   (uint64_t)n);
}

/* Runs one batch statement until it deletes fewer than a batch. Returns the
 * rows deleted, or -1. */
static long long drain(ecm_pg *pg, const char *sql, const char *first, const char *batch_s,
                       long long batch, volatile sig_atomic_t *stop, sms_purge_stats *st)
{
    long long total = 0;
    for (;;) {
        if (stop != NULL && *stop)
            return total;
        const char *p[] = {first, batch_s};
        PGresult *r = ecm_pg_exec(pg, sql, 2, p);
        if (r == NULL)
            return -1;
        long long n = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        total += n;
        if (n > 0)
            st->batches++;
        if (n < batch)
            return total;
    }
}

int sms_purge_run(ecm_pg *pg, const sms_purge_config *cfg, volatile sig_atomic_t *stop,
                  sms_purge_stats *st)
{
    sms_purge_stats local;
    if (st == NULL)
        st = &local;
    memset(st, 0, sizeof(*st));
    PGresult *l = ecm_pg_exec(pg, "SELECT pg_try_advisory_lock(" SMS_PURGE_LOCK ")", 0, NULL);
    if (l == NULL) {
        ecm_log_warn("retention purge failed", "sqlstate=%s", ecm_pg_last_sqlstate(pg));
        return -1;
    }
    int locked = PQntuples(l) == 1 && PQgetvalue(l, 0, 0)[0] == 't';
    PQclear(l);
    if (!locked)
        return 1;
    char days_s[24], batch_s[24], replies_s[24], minute_s[24];
    long long batch = cfg->batch > 0 ? cfg->batch : 1000;
    int64_t now = ecm_clock_now_ms();
    (void)snprintf(days_s, sizeof(days_s), "%lld", cfg->retention_days);
    (void)snprintf(batch_s, sizeof(batch_s), "%lld", batch);
    (void)snprintf(replies_s, sizeof(replies_s), "%lld",
                   (long long)now - cfg->reply_interval_s * 1000);
    /* An hour of minutes is kept: more than any clock skew between replicas. */
    (void)snprintf(minute_s, sizeof(minute_s), "%lld", (long long)(now / 60000) - 60);
    int rc = 0;
    st->dlrs = drain(pg, SQL_DLRS, days_s, batch_s, batch, stop, st);
    if (st->dlrs >= 0)
        st->inbound = drain(pg, SQL_INBOUND, days_s, batch_s, batch, stop, st);
    if (st->dlrs >= 0 && st->inbound >= 0)
        st->replies = drain(pg, SQL_REPLIES, replies_s, batch_s, batch, stop, st);
    const char *pw[] = {minute_s};
    if (st->dlrs < 0 || st->inbound < 0 || st->replies < 0 ||
        ecm_pg_cmd(pg, SQL_WINDOWS, 1, pw) != 0) {
        ecm_log_warn("retention purge failed", "sqlstate=%s", ecm_pg_last_sqlstate(pg));
        rc = -1;
    }
    /* A broken connection has dropped the lock with the session. */
    if (!ecm_pg_check_broken(pg) &&
        ecm_pg_cmd(pg, "SELECT pg_advisory_unlock(" SMS_PURGE_LOCK ")", 0, NULL) != 0)
        ecm_log_debug("retention purge: unlock failed; the lock goes with the session", NULL);
    count(cfg, "sms_dlrs", st->dlrs);
    count(cfg, "sms_inbound", st->inbound);
    count(cfg, "sms_reply_log", st->replies);
    if (st->dlrs > 0 || st->inbound > 0)
        ecm_log_info("old SMS records purged",
                     "sms_dlrs=%lld sms_inbound=%lld batches=%d retention_days=%lld", st->dlrs,
                     st->inbound, st->batches, cfg->retention_days);
    return rc;
}

/* ---- the thread ---- */

struct sms_purge {
    pthread_t thread;
    sms_purge_config cfg;
    ecm_pg *pg;
    volatile sig_atomic_t *stop; /* the service's */
    volatile sig_atomic_t quit;  /* ours: sms_purge_stop(), also ends reconnect waits */
};

static int stopping(const sms_purge *p)
{
    return p->quit || (p->stop != NULL && *p->stop);
}

static void nap(const sms_purge *p, long long ms)
{
    while (ms > 0 && !stopping(p)) {
        long long step = ms < 100 ? ms : 100;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void *purge_main(void *arg)
{
    sms_purge *p = arg;
    while (!stopping(p)) {
        if (ecm_pg_conn(p->pg) == NULL)
            break; /* stop came while reconnecting */
        int rc = sms_purge_run(p->pg, &p->cfg, &p->quit, NULL);
        nap(p, rc < 0 ? SMS_PURGE_BACKOFF_MS : p->cfg.interval_ms);
    }
    return NULL;
}

sms_purge *sms_purge_start(const char *dsn, const sms_purge_config *cfg,
                           volatile sig_atomic_t *stop)
{
    sms_purge *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        ecm_log_error("retention purge not started", "out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    p->stop = stop;
    p->pg = ecm_pg_new(dsn, &p->quit);
    if (p->pg == NULL) {
        ecm_log_error("retention purge not started", "could not create a DB handle");
        free(p);
        return NULL;
    }
    int rc = pthread_create(&p->thread, NULL, purge_main, p);
    if (rc != 0) {
        char buf[128];
        ecm_log_error("retention purge not started", "pthread_create: %s",
                      strerror_r(rc, buf, sizeof(buf)) == 0 ? buf : "error");
        ecm_pg_destroy(p->pg);
        free(p);
        return NULL;
    }
    return p;
}

void sms_purge_stop(sms_purge *p)
{
    if (p == NULL)
        return;
    p->quit = 1;
    pthread_join(p->thread, NULL);
    ecm_pg_destroy(p->pg);
    free(p);
}

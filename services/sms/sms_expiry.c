#include "sms_expiry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "sms_dlr.h"

#define SMS_EXPIRY_BACKOFF_MAX_MS 5000

struct sms_expiry {
    pthread_t thread;
    const sms_ctx *ctx;
    ecm_pg *pg;
    volatile sig_atomic_t *stop; /* the service's */
    volatile sig_atomic_t quit;  /* ours: sms_expiry_stop(), also ends reconnect waits */
};

/* The outcome (SMS_EXPIRED) travels in the SmsResult; the strategy writes
 * it on the attempt, as for every result. Oldest first, so a backlog drains in the order the
 * messages went out; SKIP LOCKED lets replicas (and a DLR holding one row) pass each other. */
static const char SQL_EXPIRE[] =
    "WITH due AS ("
    " SELECT a.contact_id, a.attempt FROM attempts a JOIN campaigns c ON c.id = a.campaign_id"
    " WHERE a.channel = 'sms' AND a.status = 'sent'"
    " AND a.sent_at < now() - c.dlr_timeout_s * interval '1 second'"
    " ORDER BY a.sent_at LIMIT $1 FOR UPDATE OF a SKIP LOCKED)"
    " UPDATE attempts a SET status = 'done', raw_code = a.dlr_status,"
    " result_at = 'epoch'::timestamptz + $2::bigint * interval '1 millisecond'"
    " FROM due WHERE a.contact_id = due.contact_id AND a.attempt = due.attempt"
    " RETURNING a.contact_id, a.attempt, a.campaign_id, a.message_id, a.segments, a.dlr_status";

static long long field_ll(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int sms_expiry_scan(ecm_pg *pg, const sms_ctx *ctx, int batch)
{
    char batch_s[16], now_s[24];
    int64_t now = ecm_clock_wall_ms();
    (void)snprintf(batch_s, sizeof(batch_s), "%d", batch > 0 ? batch : SMS_EXPIRY_BATCH);
    (void)snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
    if (ecm_pg_begin(pg) != 0)
        return -1;
    const char *p[] = {batch_s, now_s};
    PGresult *r = ecm_pg_exec(pg, SQL_EXPIRE, 2, p);
    if (r == NULL)
        goto fail;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        if (sms_dlr_add_result(pg, ctx, field_ll(r, i, 2), field_ll(r, i, 0),
                               (int)field_ll(r, i, 1), PQgetvalue(r, i, 3),
                               ECM__V1__OUTCOME__OUTCOME_SMS_EXPIRED, (int)field_ll(r, i, 5),
                               "no final DLR within the campaign's DLR timeout",
                               (int)field_ll(r, i, 4), now) != 0) {
            PQclear(r);
            goto fail;
        }
    }
    PQclear(r);
    if (ecm_pg_commit(pg) != 0)
        goto fail;
    if (n > 0) {
        ecm_log_info("SMS attempts expired", "count=%d", n);
        if (ctx->metrics != NULL)
            ecm_metric_add(ecm_metrics_counter(ctx->metrics, "ecm_sms_expired_total",
                                               "SMS attempts closed SMS_EXPIRED (no final DLR)"),
                           (uint64_t)n);
    }
    return n;
fail:
    ecm_log_warn("DLR timeout scan failed", "sqlstate=%s", ecm_pg_last_sqlstate(pg));
    ecm_pg_rollback(pg);
    ecm_pg_check_broken(pg);
    return -1;
}

static int stopping(const sms_expiry *e)
{
    return e->quit || (e->stop != NULL && *e->stop);
}

static void nap(const sms_expiry *e, long long ms)
{
    while (ms > 0 && !stopping(e)) {
        long long step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void *expiry_main(void *arg)
{
    sms_expiry *e = arg;
    long long backoff = 100;
    long long interval = e->ctx->dlr_scan_ms > 0 ? e->ctx->dlr_scan_ms : 1000;
    while (!stopping(e)) {
        if (ecm_pg_conn(e->pg) == NULL)
            break; /* stop came while reconnecting */
        int n = sms_expiry_scan(e->pg, e->ctx, SMS_EXPIRY_BATCH);
        if (n < 0) {
            nap(e, backoff);
            backoff =
                backoff * 2 > SMS_EXPIRY_BACKOFF_MAX_MS ? SMS_EXPIRY_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = 100;
        if (n < SMS_EXPIRY_BATCH)
            nap(e, interval); /* a full batch means more are due: go on at once */
    }
    return NULL;
}

sms_expiry *sms_expiry_start(const char *dsn, const sms_ctx *ctx, volatile sig_atomic_t *stop)
{
    sms_expiry *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        ecm_log_error("DLR timeout scanner not started", "out of memory");
        return NULL;
    }
    e->ctx = ctx;
    e->stop = stop;
    e->pg = ecm_pg_new(dsn, &e->quit);
    if (e->pg == NULL) {
        ecm_log_error("DLR timeout scanner not started", "could not create a DB handle");
        free(e);
        return NULL;
    }
    int rc = pthread_create(&e->thread, NULL, expiry_main, e);
    if (rc != 0) {
        char buf[128];
        ecm_log_error("DLR timeout scanner not started", "pthread_create: %s",
                      strerror_r(rc, buf, sizeof(buf)) == 0 ? buf : "error");
        ecm_pg_destroy(e->pg);
        free(e);
        return NULL;
    }
    return e;
}

void sms_expiry_stop(sms_expiry *e)
{
    if (e == NULL)
        return;
    e->quit = 1;
    pthread_join(e->thread, NULL);
    ecm_pg_destroy(e->pg);
    free(e);
}

/* The strategy's results consumer (st_results_run, declared in
 * st_results.h): polled batches applied in one transaction each, offsets
 * stored once the work is durable. */
#include "st_results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_log.h"

#define ST_RESULTS_BATCH 500
/* Results applied in one transaction: enough to spread its fixed costs,
 * few enough that the attempt and contact locks it holds (which DLRs and the
 * SMS sender may wait for) are held only briefly. */
#define ST_RESULTS_TX_MAX 100
#define ST_RESULTS_POLL_MS 200
#define ST_BACKOFF_MIN_MS 100
#define ST_BACKOFF_MAX_MS 5000
/* A non-transient DB error on one message is retried this often before the
 * message is dead-lettered, so one poisoned event can't stall a partition. */
#define ST_PERMANENT_ERROR_TRIES 5

static void sleep_ms(long ms, volatile sig_atomic_t *stop)
{
    while (ms > 0 && !*stop) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* Worth retrying without limit: connection lost (no SQLSTATE or class 08),
 * serialization/deadlock (40), resources (53), operator intervention (57),
 * lock not available (55P03). */
static int transient_sqlstate(const char *s)
{
    return s[0] == '\0' || strncmp(s, "08", 2) == 0 || strncmp(s, "40", 2) == 0 ||
           strncmp(s, "53", 2) == 0 || strncmp(s, "57", 2) == 0 || strcmp(s, "55P03") == 0;
}

/* Dead-letters m, retrying until the broker takes it. Returns 0, or -1 when a
 * stop came first (the offset must then not be stored). */
static int deadletter(ecm_kafka_consumer *c, const rd_kafka_message_t *m, const char *reason,
                      volatile sig_atomic_t *stop)
{
    long backoff = ST_BACKOFF_MIN_MS;
    while (ecm_kafka_consumer_deadletter(c, m, reason) != 0) {
        if (*stop)
            return -1;
        ecm_log_warn("dead-letter publish failed, retrying", "reason %s", reason);
        sleep_ms(backoff, stop);
        backoff = backoff * 2 > ST_BACKOFF_MAX_MS ? ST_BACKOFF_MAX_MS : backoff * 2;
    }
    ecm_log_warn("result dead-lettered", "%s", reason);
    return 0;
}

/* Processes one message until its work is durable. Returns 0 when its offset
 * may be stored, -1 when a stop interrupted it. */
static int process_one(ecm_kafka_consumer *c, ecm_pg *pg, const st_results_ctx *ctx,
                       const rd_kafka_message_t *m, volatile sig_atomic_t *stop)
{
    char reason[256];
    st_result r;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
    if (st_results_decode(ctx, topic, m->payload, m->len, &r, reason, sizeof(reason)) != 0)
        return deadletter(c, m, reason, stop);

    long backoff = ST_BACKOFF_MIN_MS;
    int permanent_failures = 0;
    for (;;) {
        st_apply_status st = st_results_apply(pg, ctx, &r, NULL, reason, sizeof(reason));
        if (st == ST_APPLY_DECIDED || st == ST_APPLY_RECORDED || st == ST_APPLY_DUPLICATE)
            return 0;
        if (st == ST_APPLY_REJECT)
            return deadletter(c, m, reason, stop);

        if (!transient_sqlstate(reason) && ++permanent_failures >= ST_PERMANENT_ERROR_TRIES) {
            char why[300];
            snprintf(why, sizeof(why), "database rejected the result (SQLSTATE %s)", reason);
            return deadletter(c, m, why, stop);
        }
        ecm_log_warn("applying result failed, retrying", "contact %lld attempt %d SQLSTATE %s",
                     (long long)r.contact_id, r.attempt, reason);
        if (*stop)
            return -1;
        sleep_ms(backoff, stop);
        backoff = backoff * 2 > ST_BACKOFF_MAX_MS ? ST_BACKOFF_MAX_MS : backoff * 2;
    }
}

/* Applies a polled batch in one transaction (results decoded first; what
 * can't decode or can never apply is dead-lettered after the commit). When
 * the batch transaction fails, every message goes through process_one()
 * instead, with its retries and dead-letter path. Stores offsets in order,
 * each only once its work is committed or dead-lettered. Returns the number
 * of messages done (offset stored); fewer than n only on a stop. */
static size_t process_batch(ecm_kafka_consumer *c, ecm_pg *pg, const st_results_ctx *ctx,
                            rd_kafka_message_t **msgs, size_t n, volatile sig_atomic_t *stop)
{
    st_result *rs = calloc(n, sizeof(*rs));
    st_apply_status *st = calloc(n, sizeof(*st));
    char(*reasons)[ST_REASON_MAX] = calloc(n, sizeof(*reasons));
    size_t *idx = calloc(n, sizeof(*idx)); /* rs[k] is msgs[idx[k]] */
    int *undecodable = calloc(n, sizeof(*undecodable));
    size_t i = 0;
    if (rs == NULL || st == NULL || reasons == NULL || idx == NULL || undecodable == NULL)
        goto one_by_one;
    size_t nr = 0;
    for (i = 0; i < n; i++) {
        const char *topic = msgs[i]->rkt ? rd_kafka_topic_name(msgs[i]->rkt) : NULL;
        if (st_results_decode(ctx, topic, msgs[i]->payload, msgs[i]->len, &rs[nr], reasons[i],
                              ST_REASON_MAX) != 0) {
            undecodable[i] = 1;
            continue;
        }
        idx[nr++] = i;
    }
    i = 0;
    if (nr > 0) {
        st_apply_status *rst = calloc(nr, sizeof(*rst));
        char(*rreasons)[ST_REASON_MAX] = calloc(nr, sizeof(*rreasons));
        int ok = rst != NULL && rreasons != NULL &&
                 st_results_apply_batch(pg, ctx, rs, nr, rst, rreasons) == 0;
        for (size_t k = 0; ok && k < nr; k++) {
            st[idx[k]] = rst[k];
            memcpy(reasons[idx[k]], rreasons[k], ST_REASON_MAX);
        }
        free(rst);
        free(rreasons);
        if (!ok)
            goto one_by_one;
    }
    for (; i < n; i++) {
        if ((undecodable[i] || st[i] == ST_APPLY_REJECT) &&
            deadletter(c, msgs[i], reasons[i], stop) != 0)
            break;
        ecm_kafka_consumer_store(c, &msgs[i], 1);
    }
    goto out;
one_by_one:
    for (i = 0; i < n; i++) {
        if (process_one(c, pg, ctx, msgs[i], stop) != 0)
            break;
        ecm_kafka_consumer_store(c, &msgs[i], 1);
    }
out:
    free(rs);
    free(st);
    free(reasons);
    free(idx);
    free(undecodable);
    return i;
}

void st_results_run(ecm_kafka_consumer *c, ecm_pg *pg, const st_results_ctx *ctx,
                    volatile sig_atomic_t *stop)
{
    rd_kafka_message_t *msgs[ST_RESULTS_BATCH];
    /* Present from the start so that rates work from the first scrape. */
    if (ctx->metrics != NULL) {
        ecm_metrics_counter(ctx->metrics, "ecm_strategy_closed_total", "contacts closed");
        ecm_metrics_counter(ctx->metrics, "ecm_strategy_retries_scheduled_total",
                            "retries scheduled (contact waiting)");
    }
    while (!*stop) {
        size_t n = ecm_kafka_consumer_poll_batch(c, msgs, ST_RESULTS_BATCH, ST_RESULTS_POLL_MS);
        size_t i = 0;
        while (i < n) {
            size_t chunk = n - i < ST_RESULTS_TX_MAX ? n - i : ST_RESULTS_TX_MAX;
            size_t done = process_batch(c, pg, ctx, msgs + i, chunk, stop);
            i += done;
            if (done < chunk)
                break;
        }
        if (i < n)
            ecm_log_info("stopping with results not applied", "%zu left for redelivery", n - i);
        for (size_t j = 0; j < n; j++)
            rd_kafka_message_destroy(msgs[j]);
    }
}

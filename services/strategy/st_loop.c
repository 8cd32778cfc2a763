/* The strategy's results consumer (st_results_run, declared in
 * st_results.h): each polled batch split by contact among the lanes, each
 * lane applying its share in transactions of up to ST_RESULTS_TX_MAX on its
 * own connection; offsets stored in order once the work is durable. */
#include "st_results.h"

#include <pthread.h>
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
/* After a poll's first result, how long others may join it. SMS results
 * come a few at a time (each DLR batch's commit): polled as they came, a
 * transaction held ~8 of them, and its fixed statements cost PostgreSQL
 * ~190 us a result; 25 ms gathers ~26 (docs/performance.md, session 27). */
#define ST_RESULTS_LINGER_MS 25
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

/* What became of one polled message. */
typedef enum {
    MSG_PENDING = 0, /* not done: a stop came first */
    MSG_DONE,        /* applied (or a duplicate): its offset may be stored */
    MSG_DEADLETTER,  /* can never apply: dead-letter it with its reason */
} msg_state;

/* One polled batch, shared by the lanes: each lane writes the entries of
 * its own messages only. */
typedef struct {
    size_t n;
    st_result *rs;                  /* decoded results; rs[i] is msgs[i]'s */
    msg_state *state;               /* state[i] is msgs[i]'s */
    char (*reasons)[ST_REASON_MAX]; /* why msgs[i] is dead-lettered */
} batch;

/* One lane's share of a batch: positions in the batch, in poll order. */
typedef struct {
    const st_results_lane *lane;
    batch *b;
    size_t *pos;
    size_t n;
    volatile sig_atomic_t *stop;
    pthread_t thread;
} share;

/* Applies result r alone until its work is durable, retrying a DB failure
 * with backoff. Returns MSG_DONE, MSG_DEADLETTER with the reason, or
 * MSG_PENDING when a stop interrupted it. */
static msg_state apply_one(const st_results_lane *lane, const st_result *r, char *reason,
                           volatile sig_atomic_t *stop)
{
    long backoff = ST_BACKOFF_MIN_MS;
    int permanent_failures = 0;
    for (;;) {
        st_apply_status st = st_results_apply(lane->pg, lane->ctx, r, NULL, reason, ST_REASON_MAX);
        if (st == ST_APPLY_DECIDED || st == ST_APPLY_RECORDED || st == ST_APPLY_DUPLICATE)
            return MSG_DONE;
        if (st == ST_APPLY_REJECT)
            return MSG_DEADLETTER;

        if (!transient_sqlstate(reason) && ++permanent_failures >= ST_PERMANENT_ERROR_TRIES) {
            char sqlstate[16];
            snprintf(sqlstate, sizeof(sqlstate), "%s", reason);
            snprintf(reason, ST_REASON_MAX, "database rejected the result (SQLSTATE %s)", sqlstate);
            return MSG_DEADLETTER;
        }
        ecm_log_warn("applying result failed, retrying", "contact %lld attempt %d SQLSTATE %s",
                     (long long)r->contact_id, r->attempt, reason);
        if (*stop)
            return MSG_PENDING;
        sleep_ms(backoff, stop);
        backoff = backoff * 2 > ST_BACKOFF_MAX_MS ? ST_BACKOFF_MAX_MS : backoff * 2;
    }
}

/* Applies the results at pos[0..n) in ONE transaction (st_results_apply_batch);
 * when that fails, each alone through apply_one(). Returns 0, or -1 when a
 * stop came first (what was done is marked). */
static int apply_chunk(share *sh, const size_t *pos, size_t n)
{
    batch *b = sh->b;
    st_result *rs = calloc(n, sizeof(*rs));
    st_apply_status *st = calloc(n, sizeof(*st));
    char(*reasons)[ST_REASON_MAX] = calloc(n, sizeof(*reasons));
    int ok = rs != NULL && st != NULL && reasons != NULL;
    for (size_t k = 0; ok && k < n; k++)
        rs[k] = b->rs[pos[k]];
    ok = ok && st_results_apply_batch(sh->lane->pg, sh->lane->ctx, rs, n, st, reasons) == 0;
    for (size_t k = 0; ok && k < n; k++) {
        b->state[pos[k]] = st[k] == ST_APPLY_REJECT ? MSG_DEADLETTER : MSG_DONE;
        memcpy(b->reasons[pos[k]], reasons[k], ST_REASON_MAX);
    }
    free(rs);
    free(st);
    free(reasons);
    for (size_t k = 0; !ok && k < n; k++) {
        b->state[pos[k]] = apply_one(sh->lane, &b->rs[pos[k]], b->reasons[pos[k]], sh->stop);
        if (b->state[pos[k]] == MSG_PENDING)
            return -1;
    }
    return 0;
}

/* A lane's work on one batch: its share, ST_RESULTS_TX_MAX a transaction,
 * in order, until done or a stop. */
static void *share_run(void *arg)
{
    share *sh = arg;
    for (size_t i = 0; i < sh->n && !*sh->stop;) {
        size_t chunk = sh->n - i < ST_RESULTS_TX_MAX ? sh->n - i : ST_RESULTS_TX_MAX;
        if (apply_chunk(sh, sh->pos + i, chunk) != 0)
            break;
        i += chunk;
    }
    return NULL;
}

/* Applies a polled batch: decodes it (what can't decode is dead-lettered),
 * splits the results by contact among the lanes (a contact's results stay
 * in one lane, in order; lanes touch disjoint contacts and attempts, so they
 * never wait for each other's locks) and runs the lanes at once, one on
 * this thread. Then, in poll order, dead-letters what can never apply and
 * stores each offset, up to the first message not done (a stop). Returns
 * the number of messages done; fewer than n only on a stop or when out of
 * memory. */
static size_t process_batch(ecm_kafka_consumer *c, const st_results_lane *lanes, size_t nlanes,
                            rd_kafka_message_t **msgs, size_t n, volatile sig_atomic_t *stop)
{
    batch b = {.n = n};
    b.rs = calloc(n, sizeof(*b.rs));
    b.state = calloc(n, sizeof(*b.state));
    b.reasons = calloc(n, sizeof(*b.reasons));
    size_t *pos = calloc(n, sizeof(*pos));
    share sh[ST_RESULTS_LANES_MAX];
    size_t done = 0;
    if (b.rs == NULL || b.state == NULL || b.reasons == NULL || pos == NULL) {
        ecm_log_error("out of memory applying results", "%zu left for redelivery", n);
        goto out;
    }
    size_t per[ST_RESULTS_LANES_MAX] = {0};
    for (size_t i = 0; i < n; i++) {
        const char *topic = msgs[i]->rkt ? rd_kafka_topic_name(msgs[i]->rkt) : NULL;
        if (st_results_decode(lanes[0].ctx, topic, msgs[i]->payload, msgs[i]->len, &b.rs[i],
                              b.reasons[i], ST_REASON_MAX) != 0) {
            b.state[i] = MSG_DEADLETTER;
            continue;
        }
        per[(uint64_t)b.rs[i].contact_id % nlanes]++;
    }
    size_t at = 0;
    for (size_t l = 0; l < nlanes; l++) {
        sh[l] = (share){.lane = &lanes[l], .b = &b, .pos = pos + at, .n = 0, .stop = stop};
        at += per[l];
    }
    for (size_t i = 0; i < n; i++) {
        if (b.state[i] != MSG_DEADLETTER) {
            share *s = &sh[(uint64_t)b.rs[i].contact_id % nlanes];
            s->pos[s->n++] = i;
        }
    }
    int started[ST_RESULTS_LANES_MAX] = {0};
    for (size_t l = 1; l < nlanes; l++) {
        started[l] = sh[l].n > 0 && pthread_create(&sh[l].thread, NULL, share_run, &sh[l]) == 0;
    }
    (void)share_run(&sh[0]);
    for (size_t l = 1; l < nlanes; l++) {
        if (started[l])
            (void)pthread_join(sh[l].thread, NULL);
        else
            (void)share_run(&sh[l]); /* no thread: this one does it */
    }
    for (; done < n && b.state[done] != MSG_PENDING; done++) {
        if (b.state[done] == MSG_DEADLETTER &&
            deadletter(c, msgs[done], b.reasons[done], stop) != 0)
            break;
        ecm_kafka_consumer_store(c, &msgs[done], 1);
    }
out:
    free(b.rs);
    free(b.state);
    free(b.reasons);
    free(pos);
    return done;
}

void st_results_run(ecm_kafka_consumer *c, const st_results_lane *lanes, size_t nlanes,
                    volatile sig_atomic_t *stop)
{
    rd_kafka_message_t *msgs[ST_RESULTS_BATCH];
    if (nlanes > ST_RESULTS_LANES_MAX)
        nlanes = ST_RESULTS_LANES_MAX;
    /* Present from the start so that rates work from the first scrape. */
    if (lanes[0].ctx->metrics != NULL) {
        ecm_metrics_counter(lanes[0].ctx->metrics, "ecm_strategy_closed_total", "contacts closed");
        ecm_metrics_counter(lanes[0].ctx->metrics, "ecm_strategy_retries_scheduled_total",
                            "retries scheduled (contact waiting)");
    }
    while (!*stop) {
        size_t n = ecm_kafka_consumer_poll_batch(c, msgs, ST_RESULTS_BATCH, ST_RESULTS_POLL_MS,
                                                 ST_RESULTS_LINGER_MS);
        size_t done = 0;
        while (done < n && !*stop) {
            done += process_batch(c, lanes, nlanes, msgs + done, n - done, stop);
            if (done < n)
                sleep_ms(ST_BACKOFF_MIN_MS, stop); /* out of memory: again, in a moment */
        }
        if (done < n)
            ecm_log_info("stopping with results not applied", "%zu left for redelivery", n - done);
        for (size_t j = 0; j < n; j++)
            rd_kafka_message_destroy(msgs[j]);
    }
}

#include "sms_dlrq.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ecm_clock.h"
#include "sms_dlr_batch.h"

/* Each waiting thread sleeps on its own condition variable: a batch wakes
 * only the threads whose DLRs it applied, plus the next one to lead. One
 * variable for all woke every callback thread (hundreds when smsbox opens
 * many connections) at the end of every batch, and the sms service spent
 * a third of its CPU switching to threads that went back to sleep. */
typedef struct waiter {
    struct waiter *next;
    pthread_cond_t cv;
    sms_dlr_item item;
    int done;
} waiter;

/* A second batch starts beside a running one only when this many DLRs
 * wait: else it would start with the first DLR to come (a batch of one,
 * which then waits for the running batch's locks of the same attempts) and
 * every transaction would carry a few DLRs. Below it the next batch fills
 * while the running one commits. */
#define SMS_DLRQ_SECOND_LEADER_AT 64

/* A leader with fewer than SMS_DLRQ_FILL DLRs waiting first lets more
 * come for up to SMS_DLRQ_LINGER_US. A batch's fixed cost (its transaction
 * and five statements, ~0.5 ms of PostgreSQL's CPU) was spread over ~8
 * DLRs at 2,000 DLRs/s: each callback waits for its batch, so the batch
 * holds about what arrives while the previous one is applied. Waiting 3 ms
 * more per callback (smsbox keeps dozens of callbacks open) makes batches
 * larger and PostgreSQL's work a DLR smaller (docs/performance.md,
 * session 27). */
#define SMS_DLRQ_FILL 32
#define SMS_DLRQ_LINGER_US 3000

struct sms_dlrq {
    pthread_mutex_t mu;
    waiter *head, *tail;
    size_t nwait; /* DLRs in the queue */
    int leaders, max_leaders;
    waiter *lingering; /* a leader letting more come, woken at SMS_DLRQ_FILL */
};

/* With q->mu held: whether a waiting thread should lead a batch now. */
static int may_lead(const sms_dlrq *q)
{
    if (!q->head || q->leaders >= q->max_leaders)
        return 0;
    return q->leaders == 0 || q->nwait >= SMS_DLRQ_SECOND_LEADER_AT;
}

sms_dlrq *sms_dlrq_new(int leaders)
{
    sms_dlrq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->max_leaders = leaders > 0 ? leaders : 1;
    if (pthread_mutex_init(&q->mu, NULL) != 0) {
        free(q);
        return NULL;
    }
    return q;
}

void sms_dlrq_destroy(sms_dlrq *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* Applies the n items on a pooled connection of ctx (outside the lock). */
static void lead(const sms_ctx *ctx, sms_dlr_item *items, size_t n)
{
    ecm_pg *pg = ecm_pg_pool_get(ctx->pool);
    if (!pg) {
        for (size_t i = 0; i < n; i++)
            items[i].result = SMS_DLR_BUSY;
    } else {
        /* The batch's few statements run on every callback burst: parsed
         * and planned once a connection, not once a batch. */
        ecm_pg_set_prepare(pg, 1);
        (void)sms_dlr_batch_apply(pg, ctx, items, n);
        ecm_pg_pool_put(ctx->pool, pg);
    }
    for (size_t i = 0; i < n; i++)
        sms_dlr_note(ctx, &items[i]);
}

/* With q->mu held: takes the waiting DLRs (at most SMS_DLR_BATCH_MAX) into
 * batch/items, applies them with the lock released, marks them done and
 * wakes their threads, and the thread first in line to lead the next batch.
 * Returns with q->mu held. */
static void lead_batch(sms_dlrq *q, const sms_ctx *ctx, waiter **batch, sms_dlr_item *items)
{
    size_t n = 0;
    while (q->head && n < SMS_DLR_BATCH_MAX) {
        waiter *w = q->head;
        q->head = w->next;
        q->nwait--;
        items[n] = w->item;
        batch[n++] = w;
    }
    if (!q->head)
        q->tail = NULL;
    q->leaders++;
    pthread_mutex_unlock(&q->mu);
    lead(ctx, items, n);
    pthread_mutex_lock(&q->mu);
    q->leaders--;
    for (size_t i = 0; i < n; i++) {
        batch[i]->item.result = items[i].result;
        batch[i]->done = 1;
        /* Its thread may return (and its waiter be gone) once we unlock. */
        pthread_cond_signal(&batch[i]->cv);
    }
    if (q->head)
        pthread_cond_signal(&q->head->cv);
}

/* Called with q->mu held by me, about to lead: lets DLRs come until
 * SMS_DLRQ_FILL wait or SMS_DLRQ_LINGER_US passed, counted as a leader
 * meanwhile so that no other thread starts a small batch. */
static void linger(sms_dlrq *q, waiter *me)
{
    if (q->nwait >= SMS_DLRQ_FILL)
        return;
    struct timespec until = ecm_clock_mono_after_us(SMS_DLRQ_LINGER_US);
    q->leaders++;
    q->lingering = me;
    while (q->nwait < SMS_DLRQ_FILL && !me->done &&
           pthread_cond_timedwait(&me->cv, &q->mu, &until) == 0) {
    }
    q->lingering = NULL;
    q->leaders--;
}

sms_dlr_result sms_dlrq_apply(sms_dlrq *q, const sms_ctx *ctx, const char *message_id, int status,
                              const char *detail)
{
    waiter me = {.item = {message_id, status, detail, SMS_DLR_DB_ERROR, -1}};
    /* On the monotonic clock: linger's deadline. */
    if (ecm_clock_cond_init(&me.cv) != 0)
        return SMS_DLR_BUSY;
    /* ~20 KB of this thread's stack, used only when it leads a batch. */
    waiter *batch[SMS_DLR_BATCH_MAX];
    sms_dlr_item items[SMS_DLR_BATCH_MAX];
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = &me;
    else
        q->head = &me;
    q->tail = &me;
    q->nwait++;
    if (q->lingering && q->nwait >= SMS_DLRQ_FILL)
        pthread_cond_signal(&q->lingering->cv);
    int lingered = 0;
    while (!me.done) {
        if (!may_lead(q)) {
            pthread_cond_wait(&me.cv, &q->mu);
        } else if (!lingered && q->leaders == 0) {
            lingered = 1;
            linger(q, &me);
        } else {
            lead_batch(q, ctx, batch, items);
        }
    }
    pthread_mutex_unlock(&q->mu);
    pthread_cond_destroy(&me.cv);
    return me.item.result;
}

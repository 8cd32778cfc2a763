#include "ecm_intake.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_log.h"
#include "ecm_pgarray.h"

#define INTAKE_BATCH 500
#define POLL_MS 500
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static void item_bad(ecm_intake_item *out, const char *fmt_type, const char *why)
{
    out->kind = ECM_INTAKE_BAD;
    snprintf(out->reason, sizeof out->reason, "%s%s", fmt_type, why);
}

static int is_voice(Ecm__V1__Channel c)
{
    return c == ECM__V1__CHANNEL__CHANNEL_VOICE_IVR || c == ECM__V1__CHANNEL__CHANNEL_VOICE_AGENT;
}

/* 1 when the event is another service's to handle. */
static int not_ours(ecm_intake_channel channel, Ecm__V1__Channel c)
{
    if (channel == ECM_INTAKE_SMS)
        return c != ECM__V1__CHANNEL__CHANNEL_SMS;
    return c == ECM__V1__CHANNEL__CHANNEL_SMS;
}

static void decode_retry(ecm_intake_channel channel, const void *payload, size_t len,
                         ecm_intake_item *out)
{
    static const char what[] = "ecm.v1.ContactRetry: ";
    Ecm__V1__ContactRetry *ev = ecm__v1__contact_retry__unpack(NULL, len, (const uint8_t *)payload);
    if (!ev) {
        char why[64];
        snprintf(why, sizeof why, "not a valid protobuf message (%zu bytes)", len);
        out->kind = ECM_INTAKE_BAD;
        snprintf(out->reason, sizeof out->reason, "undecodable %s%s", what, why);
        return;
    }
    if (not_ours(channel, ev->channel)) {
        out->kind = ECM_INTAKE_IGNORE;
    } else if (ev->contact_id <= 0) {
        item_bad(out, "invalid ecm.v1.ContactRetry: ", "no contact_id");
    } else if (channel == ECM_INTAKE_VOICE && !is_voice(ev->channel)) {
        item_bad(out, "invalid ecm.v1.ContactRetry: ", "channel unspecified");
    } else if (ev->attempt < 1) {
        /* 1 is a first attempt deferred to its calling window. */
        item_bad(out, "invalid ecm.v1.ContactRetry: ", "attempt must be 1 or more");
    } else if (ev->phone_index < 0) {
        item_bad(out, "invalid ecm.v1.ContactRetry: ", "negative phone_index");
    } else {
        out->kind = ECM_INTAKE_RETRY;
        out->contact_id = ev->contact_id;
        out->attempt = ev->attempt;
        out->phone_index = ev->phone_index;
    }
    ecm__v1__contact_retry__free_unpacked(ev, NULL);
}

void ecm_intake_decode(ecm_intake_channel channel, const char *topic, const char *topic_retry,
                       const void *payload, size_t len, ecm_intake_item *out)
{
    memset(out, 0, sizeof *out);
    if (!payload)
        len = 0;
    if (topic && strcmp(topic, topic_retry) == 0)
        decode_retry(channel, payload, len, out);
    else
        item_bad(out, "unexpected topic ", topic ? topic : "(none)");
}

static const char QUEUE_RETRY_SQL[] =
    "UPDATE contacts c SET state = 'queued', phone_index = r.phone_index, updated_at = now() "
    "FROM unnest($1::bigint[], $2::int[], $3::int[]) AS r (id, attempt, phone_index) "
    "WHERE c.id = r.id AND c.state = 'retry_due' AND c.attempts + 1 = r.attempt";

static const char UNKNOWN_SQL[] = "SELECT u.id FROM unnest($1::bigint[]) AS u (id) "
                                  "WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = u.id)";

static long long parse_ll(const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return end == s || *end != '\0' ? -1 : v;
}

static int run_update(ecm_pg *pg, const char *sql, int nparams, const char *const *params,
                      size_t *rows)
{
    PGresult *r = ecm_pg_exec(pg, sql, nparams, params);
    if (!r)
        return -1;
    long long k = parse_ll(PQcmdTuples(r));
    if (k > 0)
        *rows += (size_t)k;
    PQclear(r);
    return 0;
}

int ecm_intake_apply(ecm_pg *pg, ecm_intake_item *items, size_t n, size_t *queued)
{
    size_t moved = 0;
    if (queued)
        *queued = 0;
    ecm_pgarr rt_id, rt_att, rt_ph, all;
    ecm_pgarr_init(&rt_id);
    ecm_pgarr_init(&rt_att);
    ecm_pgarr_init(&rt_ph);
    ecm_pgarr_init(&all);
    for (size_t i = 0; i < n; i++) {
        items[i].unknown = 0;
        if (items[i].kind != ECM_INTAKE_RETRY)
            continue;
        ecm_pgarr_add_int(&rt_id, items[i].contact_id);
        ecm_pgarr_add_int(&rt_att, items[i].attempt);
        ecm_pgarr_add_int(&rt_ph, items[i].phone_index);
        ecm_pgarr_add_int(&all, items[i].contact_id);
    }
    int n_rt = rt_id.n, n_all = all.n;
    const char *rt[3] = {ecm_pgarr_finish(&rt_id), ecm_pgarr_finish(&rt_att),
                         ecm_pgarr_finish(&rt_ph)};
    const char *all_s = ecm_pgarr_finish(&all);
    int rc = -1;
    if (!rt[0] || !rt[1] || !rt[2] || !all_s)
        goto out;
    if (n_all == 0) {
        rc = 0;
        goto out;
    }
    if (ecm_pg_begin(pg) < 0)
        goto fail;
    if (n_rt > 0 && run_update(pg, QUEUE_RETRY_SQL, 3, rt, &moved) < 0)
        goto fail;
    PGresult *r = ecm_pg_exec(pg, UNKNOWN_SQL, 1, &all_s);
    if (!r)
        goto fail;
    for (int k = 0; k < PQntuples(r); k++) {
        long long id = parse_ll(PQgetvalue(r, k, 0));
        for (size_t i = 0; i < n; i++) {
            if (items[i].kind == ECM_INTAKE_RETRY && items[i].contact_id == id)
                items[i].unknown = 1;
        }
    }
    PQclear(r);
    if (ecm_pg_commit(pg) < 0)
        goto fail;
    if (queued)
        *queued = moved;
    rc = 0;
    goto out;
fail:
    ecm_pg_rollback(pg);
    ecm_pg_check_broken(pg);
out:
    ecm_pgarr_destroy(&rt_id);
    ecm_pgarr_destroy(&rt_att);
    ecm_pgarr_destroy(&rt_ph);
    ecm_pgarr_destroy(&all);
    return rc;
}

/* ---- the thread ---- */

struct ecm_intake {
    ecm_intake_config cfg;
    ecm_pg *pg;
    pthread_t thread;
    atomic_int quit;
    ecm_metric *queued;
    ecm_metric *deadlettered;
};

static int stopping(ecm_intake *in)
{
    return atomic_load(&in->quit) || (in->cfg.stop && *in->cfg.stop);
}

static void nap(ecm_intake *in, long ms)
{
    while (ms > 0 && !stopping(in)) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static long next_backoff(long b)
{
    b = b ? b * 2 : BACKOFF_MIN_MS;
    return b > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b;
}

/* Makes the batch durable, dead-letters what can't be used, then stores the
 * offsets. Returns without storing if a stop comes while the DB or the
 * broker is failing: the batch is redelivered after the restart. */
static void process_batch(ecm_intake *in, rd_kafka_message_t **msgs, ecm_intake_item *items,
                          size_t n)
{
    size_t work = 0;
    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        ecm_intake_decode(in->cfg.channel, topic, in->cfg.topic_retry, msgs[i]->payload,
                          msgs[i]->len, &items[i]);
        if (items[i].kind == ECM_INTAKE_RETRY)
            work++;
    }
    long backoff = 0;
    size_t queued = 0;
    while (work > 0 && ecm_intake_apply(in->pg, items, n, &queued) < 0) {
        if (stopping(in)) {
            ecm_log_warn("intake stopped with a batch not yet durable; it will be redelivered",
                         "messages=%zu", n);
            return;
        }
        backoff = next_backoff(backoff);
        ecm_log_warn("intake batch failed; retrying the same batch", "messages=%zu backoff_ms=%ld",
                     n, backoff);
        nap(in, backoff);
    }
    for (size_t i = 0; i < n; i++) {
        char reason[240];
        if (items[i].kind == ECM_INTAKE_BAD)
            snprintf(reason, sizeof reason, "%s", items[i].reason);
        else if (items[i].unknown)
            snprintf(reason, sizeof reason, "unknown contact %lld", (long long)items[i].contact_id);
        else
            continue;
        backoff = 0;
        while (ecm_kafka_consumer_deadletter(in->cfg.consumer, msgs[i], reason) < 0) {
            if (stopping(in))
                return;
            backoff = next_backoff(backoff);
            nap(in, backoff);
        }
        ecm_metric_add(in->deadlettered, 1);
        ecm_log_warn("message dead-lettered", "reason=%s", reason);
    }
    ecm_kafka_consumer_store(in->cfg.consumer, msgs, n);
    ecm_metric_add(in->queued, queued);
}

static void *intake_main(void *arg)
{
    ecm_intake *in = arg;
    rd_kafka_message_t *msgs[INTAKE_BATCH];
    ecm_intake_item *items = calloc(INTAKE_BATCH, sizeof *items);
    if (!items) {
        ecm_log_error("intake: out of memory", NULL);
        return NULL;
    }
    while (!stopping(in)) {
        size_t n = ecm_kafka_consumer_poll_batch(in->cfg.consumer, msgs, INTAKE_BATCH, POLL_MS, 0);
        if (n == 0)
            continue;
        process_batch(in, msgs, items, n);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    free(items);
    return NULL;
}

ecm_intake *ecm_intake_start(const ecm_intake_config *cfg)
{
    ecm_intake *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->cfg = *cfg;
    atomic_init(&in->quit, 0);
    in->pg = ecm_pg_new(cfg->pg_dsn, cfg->stop);
    if (!in->pg) {
        free(in);
        return NULL;
    }
    if (cfg->metrics) {
        in->queued = ecm_metrics_counter(cfg->metrics, "ecm_intake_queued_total",
                                         "contacts moved to queued by intake");
        in->deadlettered = ecm_metrics_counter(cfg->metrics, "ecm_intake_deadlettered_total",
                                               "intake messages sent to the dead-letter topic");
    }
    if (pthread_create(&in->thread, NULL, intake_main, in) != 0) {
        ecm_log_error("could not start the intake thread", NULL);
        ecm_pg_destroy(in->pg);
        free(in);
        return NULL;
    }
    return in;
}

void ecm_intake_stop(ecm_intake *in)
{
    if (!in)
        return;
    atomic_store(&in->quit, 1);
    pthread_join(in->thread, NULL);
    ecm_pg_destroy(in->pg);
    free(in);
}

/* Kafka through librdkafka: see ecm_kafka.h for the contracts. */
#include "ecm_kafka.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <jansson.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_utf8.h"

extern char **environ;

#define ECM_KAFKA_ENV_PREFIX "ECM_KAFKA_"
#define ECM_METRIC_NAME_MAX 256
/* A dead letter must be on the broker before the offset is stored; this bounds
 * how long one bad message may hold the consumer. */
#define ECM_DEADLETTER_TIMEOUT_MS 30000

struct ecm_kafka_producer {
    rd_kafka_t *rk;
    ecm_metrics *metrics;
    ecm_kafka_delivery_fn dr;
    void *dr_ctx;
    ecm_metric *errors;
};

struct ecm_kafka_consumer {
    rd_kafka_t *rk;
    rd_kafka_t *dlq; /* internal producer for dead letters */
    ecm_metrics *metrics;
    char *group_id;
    char *deadletter_topic;
    char *source;
    ecm_metric *lag;
    ecm_metric *errors;
    ecm_metric *deadletters;
};

/* ---- shared helpers ---- */

static ecm_metric *kafka_topic_counter(ecm_metrics *m, const char *base, const char *topic,
                                       const char *help)
{
    char name[ECM_METRIC_NAME_MAX];
    if (!m)
        return NULL;
    int n = snprintf(name, sizeof name, "%s{topic=\"%s\"}", base, topic);
    if (n < 0 || (size_t)n >= sizeof name)
        return NULL;
    return ecm_metrics_counter(m, name, help);
}

static ecm_metric *kafka_errors_metric(ecm_metrics *m)
{
    if (!m)
        return NULL;
    return ecm_metrics_counter(m, "ecm_kafka_errors_total",
                               "librdkafka errors (connection, broker, fatal)");
}

/* librdkafka logs with syslog levels. Its LOG_ERR lines are mostly failed
 * connections, which it retries and error_cb reports too: warn level. */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    ecm_log_level lvl = ECM_LOG_DEBUG;
    if (level <= LOG_CRIT)
        lvl = ECM_LOG_ERROR;
    else if (level == LOG_ERR)
        lvl = ECM_LOG_WARN;
    else if (level == LOG_WARNING)
        lvl = ECM_LOG_WARN;
    else if (level <= LOG_INFO)
        lvl = ECM_LOG_INFO;
    ecm_log(lvl, "librdkafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static void kafka_report_error(rd_kafka_t *rk, int err, const char *reason, ecm_metric *errors)
{
    ecm_metric_add(errors, 1);
    /* Transient connection errors are retried by librdkafka itself. */
    ecm_log_level lvl = ECM_LOG_WARN;
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        lvl = ECM_LOG_ERROR;
    ecm_log(lvl, "kafka error", "%s: %s: %s", rd_kafka_name(rk),
            rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                     size_t errstr_size)
{
    char rderr[512];
    if (rd_kafka_conf_set(conf, name, value, rderr, sizeof rderr) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "%s=%s: %s", name, value, rderr);
        return -1;
    }
    return 0;
}

int ecm_kafka_conf_from_env(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
    const size_t plen = strlen(ECM_KAFKA_ENV_PREFIX);
    for (char **env = environ; env && *env; env++) {
        const char *var = *env;
        if (strncmp(var, ECM_KAFKA_ENV_PREFIX, plen) != 0)
            continue;
        const char *eq = strchr(var, '=');
        if (!eq)
            continue;
        size_t varlen = (size_t)(eq - var);
        size_t proplen = varlen - plen;
        if (proplen == strlen("BROKERS") && strncmp(var + plen, "BROKERS", proplen) == 0)
            continue;
        char prop[256];
        if (proplen == 0 || proplen >= sizeof prop) {
            snprintf(errstr, errstr_size, "%.*s: not a librdkafka property name", (int)varlen, var);
            return -1;
        }
        memcpy(prop, var + plen, proplen);
        prop[proplen] = '\0';
        if (!memchr(prop, '.', proplen)) {
            for (size_t i = 0; i < proplen; i++)
                prop[i] = prop[i] == '_' ? '.' : (char)tolower((unsigned char)prop[i]);
        }
        char rderr[512];
        if (rd_kafka_conf_set(conf, prop, eq + 1, rderr, sizeof rderr) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "%.*s: %s", (int)varlen, var, rderr);
            return -1;
        }
    }
    return 0;
}

/* Builds a conf: our defaults, then the environment, then what ECM relies on
 * and must not be overridden. Returns NULL with errstr. */
static rd_kafka_conf_t *kafka_conf_new(const char *brokers, const char *const *defaults,
                                       const char *const *forced, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!brokers || !*brokers) {
        snprintf(errstr, errstr_size, "no Kafka bootstrap servers given");
        goto fail;
    }
    if (kafka_set(conf, "bootstrap.servers", brokers, errstr, errstr_size) < 0)
        goto fail;
    for (size_t i = 0; defaults && defaults[i]; i += 2)
        if (kafka_set(conf, defaults[i], defaults[i + 1], errstr, errstr_size) < 0)
            goto fail;
    if (ecm_kafka_conf_from_env(conf, errstr, errstr_size) < 0)
        goto fail;
    for (size_t i = 0; forced && forced[i]; i += 2)
        if (kafka_set(conf, forced[i], forced[i + 1], errstr, errstr_size) < 0)
            goto fail;
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* rd_kafka_new() of conf, which it takes (also on failure). Returns the
 * handle, or NULL with errstr "<what>: <librdkafka's reason>". */
static rd_kafka_t *kafka_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                                    char *errstr, size_t errstr_size)
{
    char rderr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, rderr, sizeof rderr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "%s: %s", what, rderr);
    }
    return rk;
}

/* ---- producer ---- */

/* The producer handle's opaque is its ecm_kafka_producer. */
static void producer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ecm_kafka_producer *p = (ecm_kafka_producer *)opaque;
    kafka_report_error(rk, err, reason, p ? p->errors : NULL);
}

static void producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ecm_kafka_producer *p = (ecm_kafka_producer *)opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ecm_metric_add(kafka_topic_counter(p->metrics, "ecm_events_out_total",
                                           rd_kafka_topic_name(m->rkt),
                                           "events delivered to Kafka"),
                       1);
    } else {
        ecm_metric_add(p->errors, 1);
        ecm_log_warn("kafka delivery failed", "topic %s: %s", rd_kafka_topic_name(m->rkt),
                     rd_kafka_err2str(m->err));
    }
    if (p->dr)
        p->dr(p->dr_ctx, m->_private, m->err);
}

ecm_kafka_producer *ecm_kafka_producer_new(const char *brokers, ecm_metrics *metrics,
                                           ecm_kafka_delivery_fn dr, void *dr_ctx, char *errstr,
                                           size_t errstr_size)
{
    static const char *const defaults[] = {
        "linger.ms", "5", "message.timeout.ms", "30000", "client.id", "ecm-producer", NULL};
    static const char *const forced[] = {"enable.idempotence", "true", "acks", "all", NULL};
    ecm_kafka_producer *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->metrics = metrics;
    p->dr = dr;
    p->dr_ctx = dr_ctx;
    p->errors = kafka_errors_metric(metrics);
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, defaults, forced, errstr, errstr_size);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_error_cb(conf, producer_error_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
    p->rk = kafka_client_new(RD_KAFKA_PRODUCER, conf, "kafka producer", errstr, errstr_size);
    if (!p->rk)
        goto fail;
    return p;
fail:
    free(p);
    return NULL;
}

/* Milliseconds from now to deadline (monotonic), 0 when it has passed. */
static int kafka_left_ms(int64_t deadline)
{
    int64_t left = deadline - ecm_clock_mono_ms();
    return left > 0 ? (left > INT32_MAX ? INT32_MAX : (int)left) : 0;
}

/* Flushes rk until deadline; what is still queued then is purged (its
 * delivery reports say so) and 0 is returned, else 1 when all was delivered. */
static int kafka_flush_or_purge(rd_kafka_t *rk, int64_t deadline)
{
    if (rd_kafka_flush(rk, kafka_left_ms(deadline)) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 1;
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                           RD_KAFKA_PURGE_F_NON_BLOCKING);
    rd_kafka_poll(rk, 0); /* serves the purged messages' reports */
    return 0;
}

int ecm_kafka_producer_close(ecm_kafka_producer *p, int timeout_ms)
{
    if (!p)
        return 0;
    int64_t deadline = ecm_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int left = rd_kafka_outq_len(p->rk);
    int delivered = kafka_flush_or_purge(p->rk, deadline);
    if (!delivered)
        ecm_log_warn("kafka producer closed with undelivered messages",
                     "%d queued at close, not delivered within %d ms", left, timeout_ms);
    rd_kafka_destroy(p->rk);
    free(p);
    return delivered ? 0 : -1;
}

void ecm_kafka_producer_destroy(ecm_kafka_producer *p)
{
    (void)ecm_kafka_producer_close(p, ECM_KAFKA_CLOSE_DEFAULT_MS);
}

int ecm_kafka_producer_send(ecm_kafka_producer *p, const char *topic, const char *key,
                            const void *payload, size_t len, const ecm_kafka_ce *ce, void *opaque)
{
    char time_buf[40];
    ecm_clock_format_ms(ce->time_ms, time_buf, sizeof time_buf);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_VALUE((void *)payload, len),
        RD_KAFKA_V_HEADER("ce_specversion", ECM_CE_SPECVERSION, -1),
        RD_KAFKA_V_HEADER("ce_id", ce->id, -1), RD_KAFKA_V_HEADER("ce_type", ce->type, -1),
        RD_KAFKA_V_HEADER("ce_source", ce->source, -1), RD_KAFKA_V_HEADER("ce_time", time_buf, -1),
        RD_KAFKA_V_HEADER("content-type", ECM_CONTENT_TYPE_PROTOBUF, -1), RD_KAFKA_V_OPAQUE(opaque),
        RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            ecm_metric_add(p->errors, 1);
        ecm_log_debug("kafka produce refused", "topic %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

int ecm_kafka_producer_poll(ecm_kafka_producer *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

int ecm_kafka_producer_flush(ecm_kafka_producer *p, int timeout_ms)
{
    return rd_kafka_flush(p->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

static int kafka_reachable(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    int ok = md->broker_cnt > 0;
    rd_kafka_metadata_destroy(md);
    return ok;
}

int ecm_kafka_producer_reachable(ecm_kafka_producer *p, int timeout_ms)
{
    return kafka_reachable(p->rk, timeout_ms);
}

rd_kafka_t *ecm_kafka_producer_handle(ecm_kafka_producer *p)
{
    return p->rk;
}

/* ---- consumer ---- */

/* 1 when a statistics partition object is one this client fetches: a real
 * partition (not the internal -1 "UA" one) whose fetcher runs. A partition
 * revoked by a rebalance stays in the document with its last offsets, but
 * its fetch state is none, stopping or stopped. */
static int stats_partition_assigned(const char *pname, json_t *part)
{
    if (strcmp(pname, "-1") == 0)
        return 0;
    const char *state = json_string_value(json_object_get(part, "fetch_state"));
    if (!state)
        return 1; /* an older librdkafka without the field: as before */
    return strcmp(state, "none") != 0 && strcmp(state, "stopping") != 0 &&
           strcmp(state, "stopped") != 0;
}

long long ecm_kafka_stats_consumer_lag(const char *json, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root)
        return -1;
    long long sum = 0;
    json_t *topics = json_object_get(root, "topics");
    const char *tname;
    json_t *topic;
    json_object_foreach(topics, tname, topic)
    {
        json_t *parts = json_object_get(topic, "partitions");
        const char *pname;
        json_t *part;
        json_object_foreach(parts, pname, part)
        {
            json_t *lag = json_object_get(part, "consumer_lag");
            if (!stats_partition_assigned(pname, part) || !json_is_integer(lag) ||
                json_integer_value(lag) < 0)
                continue;
            sum += (long long)json_integer_value(lag);
        }
    }
    json_decref(root);
    return sum;
}

/* Sets the lag gauge on every statistics document: to 0 when no assigned
 * partition reports a lag, so that a replica that lost its partitions does
 * not keep its last figure (the per-group sum would count it twice). */
static int consumer_stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    (void)opaque;
    ecm_kafka_consumer *c = (ecm_kafka_consumer *)rd_kafka_opaque(rk);
    long long lag = ecm_kafka_stats_consumer_lag(json, json_len);
    if (c && lag >= 0)
        ecm_metric_set(c->lag, (double)lag);
    return 0; /* librdkafka frees json */
}

/* The opaque of the consumer and of its dead-letter producer is the
 * ecm_kafka_consumer. */
static void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ecm_kafka_consumer *c = (ecm_kafka_consumer *)opaque;
    kafka_report_error(rk, err, reason, c ? c->errors : NULL);
}

static void dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    rd_kafka_resp_err_t *result = (rd_kafka_resp_err_t *)m->_private;
    if (result)
        *result = m->err;
}

static char *kafka_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Registers the consumer's metrics: lag of the group, dead letters sent and
 * the shared error counter. Nothing to register without metrics. */
static void consumer_metrics(ecm_kafka_consumer *c, ecm_metrics *metrics, const char *group_id)
{
    c->errors = kafka_errors_metric(metrics);
    if (!metrics)
        return;
    char name[ECM_METRIC_NAME_MAX];
    int n = snprintf(name, sizeof name, "ecm_kafka_consumer_lag{group=\"%s\"}", group_id);
    if (n > 0 && (size_t)n < sizeof name)
        c->lag = ecm_metrics_gauge(metrics, name, "messages not yet consumed by the group");
    c->deadletters = ecm_metrics_counter(metrics, "ecm_deadletter_total",
                                         "messages sent to the dead-letter topic");
}

/* Creates c->rk, the group member: offsets stored only by
 * ecm_kafka_consumer_store(), committed automatically. Returns 0, or -1 with
 * errstr. */
static int consumer_open_group(ecm_kafka_consumer *c, const char *brokers, const char *group_id,
                               char *errstr, size_t errstr_size)
{
    /* session.timeout.ms 10 s (librdkafka < 2.0's default): a replica killed
     * with SIGKILL hands its partitions over quickly, and the dev broker
     * (mock cluster) holds a rejoining group for a session timeout.
     * fetch.wait.max.ms 100 (librdkafka: 500): the mock cluster holds a fetch
     * that found nothing for the whole wait even when events arrive meanwhile,
     * which put up to half a second on the strategy's decision delay
     * (docs/performance.md, "The fourth step"). A real broker answers as soon
     * as data arrives; there the value only sets how often an idle consumer
     * asks. */
    static const char *const defaults[] = {"statistics.interval.ms",
                                           "5000",
                                           "fetch.wait.max.ms",
                                           "100",
                                           "session.timeout.ms",
                                           "10000",
                                           "heartbeat.interval.ms",
                                           "3000",
                                           "client.id",
                                           "ecm-consumer",
                                           NULL};
    const char *forced[] = {"group.id",
                            group_id,
                            "enable.auto.offset.store",
                            "false",
                            "enable.auto.commit",
                            "true",
                            "auto.offset.reset",
                            "earliest",
                            NULL};
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, defaults, forced, errstr, errstr_size);
    if (!conf)
        return -1;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    rd_kafka_conf_set_stats_cb(conf, consumer_stats_cb);
    c->rk = kafka_client_new(RD_KAFKA_CONSUMER, conf, "kafka consumer", errstr, errstr_size);
    if (!c->rk)
        return -1;
    rd_kafka_poll_set_consumer(c->rk);
    return 0;
}

/* Creates c->dlq, the idempotent producer of dead letters. Returns 0, or -1
 * with errstr. */
static int consumer_open_deadletter(ecm_kafka_consumer *c, const char *brokers, char *errstr,
                                    size_t errstr_size)
{
    static const char *const dlq_defaults[] = {
        "linger.ms", "0", "message.timeout.ms", "25000", "client.id", "ecm-deadletter", NULL};
    static const char *const dlq_forced[] = {"enable.idempotence", "true", "acks", "all", NULL};
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, dlq_defaults, dlq_forced, errstr, errstr_size);
    if (!conf)
        return -1;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, dlq_dr_cb);
    c->dlq = kafka_client_new(RD_KAFKA_PRODUCER, conf, "kafka dead-letter producer", errstr,
                              errstr_size);
    return c->dlq ? 0 : -1;
}

ecm_kafka_consumer *ecm_kafka_consumer_new(const char *brokers, const char *group_id,
                                           const char *const *topics, size_t ntopics,
                                           const char *deadletter_topic, const char *source,
                                           ecm_metrics *metrics, char *errstr, size_t errstr_size)
{
    ecm_kafka_consumer *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    c->metrics = metrics;
    c->group_id = kafka_strdup(group_id);
    c->deadletter_topic = kafka_strdup(deadletter_topic ? deadletter_topic : "ecm.deadletter");
    c->source = kafka_strdup(source ? source : "/ecm");
    if (!c->group_id || !c->deadletter_topic || !c->source) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    consumer_metrics(c, metrics, group_id);
    if (consumer_open_group(c, brokers, group_id, errstr, errstr_size) != 0 ||
        consumer_open_deadletter(c, brokers, errstr, errstr_size) != 0)
        goto fail;

    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "kafka subscribe: %s", rd_kafka_err2str(err));
        goto fail;
    }
    ecm_log_info("kafka consumer subscribed", "group %s, %zu topics", group_id, ntopics);
    return c;
fail:
    if (c->dlq)
        rd_kafka_destroy(c->dlq);
    if (c->rk) {
        rd_kafka_consumer_close(c->rk);
        rd_kafka_destroy(c->rk);
    }
    free(c->group_id);
    free(c->deadletter_topic);
    free(c->source);
    free(c);
    return NULL;
}

size_t ecm_kafka_consumer_poll_batch(ecm_kafka_consumer *c, rd_kafka_message_t **msgs, size_t max,
                                     int timeout_ms, int linger_ms)
{
    size_t n = 0;
    int64_t deadline = ecm_clock_mono_ms() + timeout_ms;
    int64_t linger_until = 0; /* set by the first message */
    while (n < max) {
        int wait = 0;
        int64_t now = ecm_clock_mono_ms();
        if (n == 0)
            wait = deadline > now ? (int)(deadline - now) : 0;
        else if (linger_until > now)
            wait = (int)(linger_until - now);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, wait);
        if (!m) {
            if (n > 0 || wait == 0)
                break;
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                ecm_metric_add(c->errors, 1);
                ecm_log_warn("kafka consume error", "%s: %s",
                             m->rkt ? rd_kafka_topic_name(m->rkt) : "-",
                             rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            if (n == 0 && ecm_clock_mono_ms() >= deadline)
                break;
            continue;
        }
        ecm_metric_add(kafka_topic_counter(c->metrics, "ecm_events_in_total",
                                           rd_kafka_topic_name(m->rkt), "events consumed"),
                       1);
        if (n == 0 && linger_ms > 0)
            linger_until = ecm_clock_mono_ms() + linger_ms;
        msgs[n++] = m;
    }
    return n;
}

int ecm_kafka_consumer_deadletter(ecm_kafka_consumer *c, const rd_kafka_message_t *m,
                                  const char *reason)
{
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        hdrs = rd_kafka_headers_copy(orig);
    else
        hdrs = rd_kafka_headers_new(8);
    const char *topic = rd_kafka_topic_name(m->rkt);
    char part[16], off[32];
    snprintf(part, sizeof part, "%" PRId32, m->partition);
    snprintf(off, sizeof off, "%" PRId64, m->offset);
    /* The reason may quote the bad message itself: a header is text, so
     * ill-formed UTF-8 in it becomes U+FFFD. */
    char why[1024];
    size_t why_len =
        ecm_utf8_copy(why, sizeof why, reason ? reason : "", reason ? strlen(reason) : 0);
    rd_kafka_header_add(hdrs, ECM_DEADLETTER_REASON_HEADER, -1, why, (ssize_t)why_len);
    rd_kafka_header_add(hdrs, "ecm_original_topic", -1, topic, -1);
    rd_kafka_header_add(hdrs, "ecm_original_partition", -1, part, -1);
    rd_kafka_header_add(hdrs, "ecm_original_offset", -1, off, -1);
    rd_kafka_header_add(hdrs, "ecm_deadletter_source", -1, c->source, -1);

    rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        c->dlq, RD_KAFKA_V_TOPIC(c->deadletter_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&result), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(hdrs); /* not taken over on failure */
        ecm_metric_add(c->errors, 1);
        ecm_log_error("dead letter not queued", "%s [%" PRId32 "] @%" PRId64 ": %s", topic,
                      m->partition, m->offset, rd_kafka_err2str(err));
        return -1;
    }
    /* message.timeout.ms < ECM_DEADLETTER_TIMEOUT_MS: a report always comes
     * back within the flush, so result is never read after the return. */
    int64_t deadline = ecm_clock_mono_ms() + ECM_DEADLETTER_TIMEOUT_MS;
    while (result == RD_KAFKA_RESP_ERR__IN_PROGRESS && ecm_clock_mono_ms() < deadline)
        rd_kafka_flush(c->dlq, 100);
    if (result == RD_KAFKA_RESP_ERR__IN_PROGRESS) {
        rd_kafka_purge(c->dlq, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(c->dlq, 1000);
        if (result == RD_KAFKA_RESP_ERR__IN_PROGRESS)
            result = RD_KAFKA_RESP_ERR__TIMED_OUT;
    }
    if (result != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ecm_metric_add(c->errors, 1);
        ecm_log_error("dead letter not delivered", "%s [%" PRId32 "] @%" PRId64 ": %s", topic,
                      m->partition, m->offset, rd_kafka_err2str(result));
        return -1;
    }
    ecm_metric_add(c->deadletters, 1);
    ecm_log_warn("message sent to dead-letter topic", "%s [%" PRId32 "] @%" PRId64 " -> %s: %s",
                 topic, m->partition, m->offset, c->deadletter_topic, reason ? reason : "");
    return 0;
}

void ecm_kafka_consumer_store(ecm_kafka_consumer *c, rd_kafka_message_t *const *msgs, size_t n)
{
    if (n == 0)
        return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(list, topic, m->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(list, topic, m->partition);
        if (tp->offset < m->offset + 1)
            tp->offset = m->offset + 1;
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* After a rebalance the partition may be someone else's: the new
         * owner re-reads from the last commit (at-least-once). */
        ecm_log_warn("kafka offsets not stored", "%s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(list);
}

int ecm_kafka_consumer_reachable(ecm_kafka_consumer *c, int timeout_ms)
{
    return kafka_reachable(c->rk, timeout_ms);
}

/* Commits the stored offsets, waiting for the broker's answer until
 * deadline. Returns 0 when committed (or nothing to commit), else -1 logged. */
static int consumer_commit_until(ecm_kafka_consumer *c, int64_t deadline)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(c->rk, NULL, q, NULL, NULL);
    while (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        int left = kafka_left_ms(deadline);
        if (left == 0) {
            err = RD_KAFKA_RESP_ERR__TIMED_OUT;
            break;
        }
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left);
        if (!ev)
            continue;
        int done = rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT;
        if (done)
            err = rd_kafka_event_error(ev);
        rd_kafka_event_destroy(ev);
        if (done)
            break;
    }
    rd_kafka_queue_destroy(q);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        ecm_log_warn("kafka commit at close failed",
                     "group %s: %s (uncommitted messages are redelivered)", c->group_id,
                     rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* A revocation while leaving the group is acknowledged by giving the
 * partitions up, as librdkafka does by itself when no rebalance callback is
 * set; an assignment while leaving is not taken. */
static void consumer_close_rebalance(rd_kafka_t *rk, rd_kafka_event_t *ev)
{
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        return;
    if (strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0) {
        rd_kafka_error_t *e =
            rd_kafka_incremental_unassign(rk, rd_kafka_event_topic_partition_list(ev));
        if (e)
            rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* Leaves the group in the background and serves its events until it is done
 * or deadline passes. Returns 0 when closed, -1 when the deadline passed. */
static int consumer_leave_until(ecm_kafka_consumer *c, int64_t deadline)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(c->rk, q);
    int rc = 0;
    if (e) {
        ecm_log_warn("kafka consumer close", "group %s: %s", c->group_id, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rc = -1;
    }
    while (rc == 0 && !rd_kafka_consumer_closed(c->rk)) {
        int left = kafka_left_ms(deadline);
        if (left == 0) {
            ecm_log_warn("kafka consumer close timed out",
                         "group %s: left without the broker's answer (the group "
                         "rebalances after its session timeout)",
                         c->group_id);
            rc = -1;
            break;
        }
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left < 100 ? left : 100);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            consumer_close_rebalance(c->rk, ev);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return rc;
}

/* rd_kafka_destroy of a consumer whose broker is gone may still wait for
 * its group's outstanding requests. The reaper destroys it on a thread of
 * its own; whoever gives up waiting leaves the reaper to free itself. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rd_kafka_t *rk;
    int done;      /* under mu */
    int abandoned; /* under mu */
} kafka_reaper;

static void kafka_reaper_free(kafka_reaper *r)
{
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void *kafka_reaper_main(void *arg)
{
    kafka_reaper *r = arg;
    rd_kafka_destroy_flags(r->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    int abandoned = r->abandoned;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (abandoned)
        kafka_reaper_free(r);
    return NULL;
}

/* Destroys rk (without consumer close) until deadline. Returns 0 when it is
 * destroyed, -1 when the deadline passed first (it goes on in the
 * background; a process that exits then loses nothing by it). */
static int consumer_destroy_until(rd_kafka_t *rk, int64_t deadline)
{
    kafka_reaper *r = calloc(1, sizeof *r);
    pthread_t th;
    if (!r) {
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return 0;
    }
    r->rk = rk;
    if (ecm_clock_cond_init(&r->cv) != 0) {
        free(r);
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return 0;
    }
    pthread_mutex_init(&r->mu, NULL);
    if (pthread_create(&th, NULL, kafka_reaper_main, r) != 0) {
        kafka_reaper_free(r);
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return 0;
    }
    pthread_detach(th);
    struct timespec ts = ecm_clock_mono_after_us((int64_t)kafka_left_ms(deadline) * 1000);
    pthread_mutex_lock(&r->mu);
    while (!r->done && pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0)
        ;
    int done = r->done;
    r->abandoned = !done;
    pthread_mutex_unlock(&r->mu);
    if (done)
        kafka_reaper_free(r);
    return done ? 0 : -1;
}

int ecm_kafka_consumer_close(ecm_kafka_consumer *c, int timeout_ms)
{
    if (!c)
        return 0;
    int64_t deadline = ecm_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int rc = consumer_commit_until(c, deadline);
    if (consumer_leave_until(c, deadline) != 0)
        rc = -1;
    /* Closed above, or given up on: destroy must not wait for the broker. */
    if (consumer_destroy_until(c->rk, deadline) != 0) {
        ecm_log_warn("kafka consumer left to close in the background",
                     "group %s: librdkafka still waits for the broker", c->group_id);
        rc = -1;
    }
    if (!kafka_flush_or_purge(c->dlq, deadline))
        rc = -1;
    rd_kafka_destroy(c->dlq);
    ecm_log_info("kafka consumer closed", "group %s%s", c->group_id,
                 rc == 0 ? "" : " (not all within the deadline)");
    free(c->group_id);
    free(c->deadletter_topic);
    free(c->source);
    free(c);
    return rc;
}

void ecm_kafka_consumer_destroy(ecm_kafka_consumer *c)
{
    (void)ecm_kafka_consumer_close(c, ECM_KAFKA_CLOSE_DEFAULT_MS);
}

int ecm_kafka_header(const rd_kafka_message_t *m, const char *name, char *out, size_t out_size)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    if (out_size == 0)
        return -1;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
        return -1;
    if (rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (size >= out_size)
        return -1;
    if (size)
        memcpy(out, val, size);
    out[size] = '\0';
    return 0;
}

/* Kafka through librdkafka: an idempotent producer that puts CloudEvents
 * headers on every message, and a consumer that stores offsets only after the
 * caller's work is durable and sends what it can never process to the
 * dead-letter topic. */
#ifndef ECM_KAFKA_H
#define ECM_KAFKA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "ecm_metrics.h"

/* CloudEvents attributes of one message (Kafka binary binding). */
typedef struct {
    const char *id;     /* ce_id: the event_id (UUID) */
    const char *type;   /* ce_type, e.g. "ecm.v1.ContactUploaded" */
    const char *source; /* ce_source, e.g. "/ecm/gateway" */
    int64_t time_ms;    /* ce_time, written as RFC 3339 UTC with ms */
} ecm_kafka_ce;

#define ECM_CE_SPECVERSION "1.0"
#define ECM_CONTENT_TYPE_PROTOBUF "application/protobuf"
#define ECM_DEADLETTER_REASON_HEADER "ecm_deadletter_reason"

/* Applies librdkafka properties from the environment to conf: every
 * ECM_KAFKA_<property> except ECM_KAFKA_BROKERS; "<property>" is used as is
 * when it contains a dot (ECM_KAFKA_session.timeout.ms), else lower-cased with
 * '_' -> '.' (ECM_KAFKA_SESSION_TIMEOUT_MS). Returns 0, or -1 with errstr
 * naming the variable. */
int ecm_kafka_conf_from_env(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* ---- producer ---- */

typedef struct ecm_kafka_producer ecm_kafka_producer;

/* Called from ecm_kafka_producer_poll()/flush() for each message: err is
 * RD_KAFKA_RESP_ERR_NO_ERROR when the broker has it. */
typedef void (*ecm_kafka_delivery_fn)(void *ctx, void *opaque, rd_kafka_resp_err_t err);

/* enable.idempotence=true, acks=all. dr may be NULL. Returns NULL with errstr. */
ecm_kafka_producer *ecm_kafka_producer_new(const char *brokers, ecm_metrics *metrics,
                                           ecm_kafka_delivery_fn dr, void *dr_ctx, char *errstr,
                                           size_t errstr_size) __attribute__((warn_unused_result));
/* Bound of ecm_kafka_producer_destroy() and ecm_kafka_consumer_destroy(). */
#define ECM_KAFKA_CLOSE_DEFAULT_MS 10000

/* Waits up to timeout_ms for the queued messages to be delivered, purges
 * what is left (its delivery reports say RD_KAFKA_RESP_ERR__PURGE_*), frees
 * p. Never blocks much past timeout_ms, even with no broker reachable.
 * Returns 0 when everything was delivered, else -1 (logged). NULL: 0. */
int ecm_kafka_producer_close(ecm_kafka_producer *p, int timeout_ms);
/* ecm_kafka_producer_close() within ECM_KAFKA_CLOSE_DEFAULT_MS. */
void ecm_kafka_producer_destroy(ecm_kafka_producer *p);

/* Queues one message with the CloudEvents headers and
 * content-type: application/protobuf. key may be NULL. Returns 0, or -1 when
 * the local queue is full or the topic is unknown (poll and retry). */
int ecm_kafka_producer_send(ecm_kafka_producer *p, const char *topic, const char *key,
                            const void *payload, size_t len, const ecm_kafka_ce *ce, void *opaque)
    __attribute__((warn_unused_result));

/* Serves delivery reports. Returns the number served. */
int ecm_kafka_producer_poll(ecm_kafka_producer *p, int timeout_ms);
/* Waits until everything queued is delivered or failed. 0, or -1 on timeout. */
int ecm_kafka_producer_flush(ecm_kafka_producer *p, int timeout_ms)
    __attribute__((warn_unused_result));
/* 1 when the cluster answered a metadata request within timeout_ms. */
int ecm_kafka_producer_reachable(ecm_kafka_producer *p, int timeout_ms);
rd_kafka_t *ecm_kafka_producer_handle(ecm_kafka_producer *p);

/* ---- consumer ---- */

typedef struct ecm_kafka_consumer ecm_kafka_consumer;

/* Subscribes group_id to topics. enable.auto.offset.store=false: an offset is
 * committed only after ecm_kafka_consumer_store(). Dead letters go to
 * deadletter_topic. Returns NULL with errstr. */
ecm_kafka_consumer *ecm_kafka_consumer_new(const char *brokers, const char *group_id,
                                           const char *const *topics, size_t ntopics,
                                           const char *deadletter_topic, const char *source,
                                           ecm_metrics *metrics, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Waits up to timeout_ms for the first message, then takes what is already
 * there or comes within linger_ms of the first (0: what is there), up to
 * max. Fills msgs (caller frees each with rd_kafka_message_destroy)
 * and returns the count (0 on timeout). Errors that are only informational
 * (partition EOF) are skipped; other errors are logged and skipped. */
size_t ecm_kafka_consumer_poll_batch(ecm_kafka_consumer *c, rd_kafka_message_t **msgs, size_t max,
                                     int timeout_ms, int linger_ms);

/* Publishes m unchanged to the dead-letter topic, with its original headers
 * plus ecm_deadletter_reason, ecm_original_topic, ecm_original_partition and
 * ecm_original_offset, and waits for the delivery report. Returns 0, or -1
 * if the broker did not take it (the caller must then not store the offset). */
int ecm_kafka_consumer_deadletter(ecm_kafka_consumer *c, const rd_kafka_message_t *m,
                                  const char *reason) __attribute__((warn_unused_result));

/* Marks msgs as processed: their offsets (+1) are stored and committed by the
 * next auto-commit or by ecm_kafka_consumer_destroy(). */
void ecm_kafka_consumer_store(ecm_kafka_consumer *c, rd_kafka_message_t *const *msgs, size_t n);

/* 1 while the group coordinator and brokers answer. */
int ecm_kafka_consumer_reachable(ecm_kafka_consumer *c, int timeout_ms);

/* Commits the stored offsets, leaves the group, flushes the dead-letter
 * producer and frees everything, all within timeout_ms: with the broker gone
 * it gives up at the deadline (offsets not committed are redelivered to the
 * next member; the group rebalances after its session timeout), and the
 * librdkafka handle's destroy, which may wait longer for the gone broker,
 * then finishes on a thread of its own. Returns 0 when every step finished,
 * else -1 (logged). NULL: 0. */
int ecm_kafka_consumer_close(ecm_kafka_consumer *c, int timeout_ms);
/* ecm_kafka_consumer_close() within ECM_KAFKA_CLOSE_DEFAULT_MS. */
void ecm_kafka_consumer_destroy(ecm_kafka_consumer *c);

/* Header value of m as a NUL-terminated copy in out. Returns 0, or -1 when
 * absent or when it does not fit in out (never truncated). */
int ecm_kafka_header(const rd_kafka_message_t *m, const char *name, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* The consumer lag in a librdkafka statistics document (JSON, len bytes):
 * the sum of consumer_lag over the partitions this client is fetching (the
 * ones it was assigned), 0 when none of them reports a lag (no assignment
 * left after a rebalance, or no committed offset yet). Returns -1 when the
 * document does not parse. The consumer's stats callback sets
 * ecm_kafka_consumer_lag{group} to it. Can't fail otherwise. */
long long ecm_kafka_stats_consumer_lag(const char *json, size_t len);

#endif

/* What every ECM service does the same way: the common configuration
 * variables, --help, logging set-up, signals, migrations, the side port with
 * /healthz /readyz /metrics, the producer and the outbox relay, and an orderly
 * stop on SIGTERM. main() of each service wires its own parts on top. */
#ifndef ECM_SERVICE_H
#define ECM_SERVICE_H

#include <signal.h>
#include <stddef.h>

#include "ecm_config.h"
#include "ecm_http.h"
#include "ecm_kafka.h"
#include "ecm_metrics.h"
#include "ecm_outbox.h"
#include "ecm_pg.h"

/* Set by SIGTERM/SIGINT; the only mutable global (STYLE.md). */
extern volatile sig_atomic_t ecm_stop_requested;

typedef struct {
    char *pg_dsn;
    char *kafka_brokers;
    char *http_bind;
    long long http_port;
    long long http_max_connections;
    long long http_max_per_client;
    long long http_request_timeout_s;
    long long http_stream_min_rate;
    long long pg_statement_timeout_ms;
    long long pg_pool_wait_ms;
    char *log_level;
    int migrate;
    long long shutdown_timeout_s;
    long long outbox_poll_ms;
    char *topic_uploaded;
    char *topic_dispatched;
    char *topic_call_results;
    char *topic_sms_results;
    char *topic_retry;
    char *topic_closed;
    char *topic_campaigns;
    char *topic_deadletter;
} ecm_common_config;

/* Table entries for ecm_common_config, embedded in a service's own config
 * struct as member `member`. http_port_default is the service's default port;
 * per_client_default its default ECM_HTTP_MAX_CONNECTIONS_PER_CLIENT (a
 * service whose clients are a few gateways, each with many connections from
 * one address, such as the sms service's callbacks, needs a high one). */
/* clang-format off */
#define ECM_COMMON_CONFIG_ENTRIES(type, member, http_port_default, per_client_default)                             \
    {"ECM_PG_DSN", ECM_CFG_STRING, offsetof(type, member.pg_dsn), NULL, 0, -1,                    \
     "libpq connection string of the ECM DB; ECM sets keepalives=1 keepalives_idle=15 "           \
     "keepalives_interval=5 keepalives_count=3 tcp_user_timeout=20000 (a silent network "         \
     "partition ends a query instead of hanging it) unless the string sets them",                \
     ecm_service_validate_pg_dsn, 1},                                                            \
    {"ECM_KAFKA_BROKERS", ECM_CFG_STRING, offsetof(type, member.kafka_brokers), NULL, 0, -1,      \
     "Kafka bootstrap servers (host:port,...); other ECM_KAFKA_<property> pass to librdkafka",    \
     NULL, 0},                                                                                   \
    {"ECM_HTTP_BIND", ECM_CFG_STRING, offsetof(type, member.http_bind), "0.0.0.0", 0, -1,         \
     "address of the HTTP port", NULL, 0},                                                       \
    {"ECM_HTTP_PORT", ECM_CFG_INT, offsetof(type, member.http_port), http_port_default, 1, 65535, \
     "HTTP port: /healthz, /readyz, /metrics and the service's own routes", NULL, 0},            \
    {"ECM_HTTP_MAX_CONNECTIONS", ECM_CFG_INT, offsetof(type, member.http_max_connections),        \
     "1000", 1, 100000,                                                                          \
     "open HTTP connections in all; over it requests get 503 with Retry-After (a thread each; "  \
     "the open-file limit is raised to fit)", NULL, 0},                                          \
    {"ECM_HTTP_MAX_CONNECTIONS_PER_CLIENT", ECM_CFG_INT,                                         \
     offsetof(type, member.http_max_per_client), per_client_default, 1, 100000,                  \
     "open HTTP connections from one client address; over it 429 with Retry-After (raise it "    \
     "behind a proxy, where every client has the proxy's address)", NULL, 0},                    \
    {"ECM_HTTP_REQUEST_TIMEOUT_S", ECM_CFG_INT, offsetof(type, member.http_request_timeout_s),    \
     "30", 1, 3600,                                                                              \
     "deadline for a request's headers and buffered body (slow clients are cut with 408); "      \
     "streamed uploads must instead keep up ECM_HTTP_STREAM_MIN_BYTES_PER_S after it", NULL, 0}, \
    {"ECM_HTTP_STREAM_MIN_BYTES_PER_S", ECM_CFG_INT, offsetof(type, member.http_stream_min_rate), \
     "1024", 1, 1000000000,                                                                      \
     "streamed uploads: the least average rate once ECM_HTTP_REQUEST_TIMEOUT_S has passed "      \
     "(time the server spends on the data does not count)", NULL, 0},                            \
    {"ECM_PG_STATEMENT_TIMEOUT_MS", ECM_CFG_INT, offsetof(type, member.pg_statement_timeout_ms),  \
     "30000", 0, 86400000,                                                                       \
     "statement_timeout of the pooled DB connections HTTP handlers use (0: none)", NULL, 0},     \
    {"ECM_PG_POOL_WAIT_MS", ECM_CFG_INT, offsetof(type, member.pg_pool_wait_ms), "5000", 1,       \
     600000,                                                                                     \
     "longest wait of an HTTP handler for a pooled DB connection; then 503 with Retry-After",    \
     NULL, 0},                                                                                   \
    {"ECM_LOG_LEVEL", ECM_CFG_STRING, offsetof(type, member.log_level), "info", 0, -1,            \
     "debug, info, warn or error", ecm_service_validate_log_level, 0},                           \
    {"ECM_MIGRATE", ECM_CFG_BOOL, offsetof(type, member.migrate), "true", 0, -1,                  \
     "apply DB migrations at start (advisory-locked); false: /readyz fails while the DB's "      \
     "schema is older than this version's", NULL, 0},                                            \
    {"ECM_SHUTDOWN_TIMEOUT_S", ECM_CFG_INT, offsetof(type, member.shutdown_timeout_s), "20", 1,   \
     600, "bound on the stop after SIGTERM (drain, Kafka commit and flush); a stop still "        \
     "running then ends with exit status 70", NULL, 0},                                           \
    {"ECM_OUTBOX_POLL_MS", ECM_CFG_INT, offsetof(type, member.outbox_poll_ms), "1000", 1, 60000,  \
     "outbox relay: longest wait between scans when idle (a committed event wakes it at once "   \
     "through LISTEN/NOTIFY; this is the fallback where LISTEN is unavailable)",                 \
     NULL, 0},                                                                                   \
    {"ECM_TOPIC_CONTACTS_UPLOADED", ECM_CFG_STRING, offsetof(type, member.topic_uploaded),        \
     "contacts.uploaded", 0, -1, "topic name", NULL, 0},                                         \
    {"ECM_TOPIC_CONTACTS_DISPATCHED", ECM_CFG_STRING, offsetof(type, member.topic_dispatched),    \
     "contacts.dispatched", 0, -1, "topic name", NULL, 0},                                       \
    {"ECM_TOPIC_CALL_RESULTS", ECM_CFG_STRING, offsetof(type, member.topic_call_results),         \
     "call.results", 0, -1, "topic name", NULL, 0},                                              \
    {"ECM_TOPIC_SMS_RESULTS", ECM_CFG_STRING, offsetof(type, member.topic_sms_results),           \
     "sms.results", 0, -1, "topic name", NULL, 0},                                               \
    {"ECM_TOPIC_CONTACTS_RETRY", ECM_CFG_STRING, offsetof(type, member.topic_retry),              \
     "contacts.retry", 0, -1, "topic name", NULL, 0},                                            \
    {"ECM_TOPIC_CONTACTS_CLOSED", ECM_CFG_STRING, offsetof(type, member.topic_closed),            \
     "contacts.closed", 0, -1, "topic name", NULL, 0},                                           \
    {"ECM_TOPIC_CAMPAIGNS_CHANGED", ECM_CFG_STRING, offsetof(type, member.topic_campaigns),       \
     "campaigns.changed", 0, -1, "topic name", NULL, 0},                                         \
    {"ECM_TOPIC_DEADLETTER", ECM_CFG_STRING, offsetof(type, member.topic_deadletter),             \
     "ecm.deadletter", 0, -1, "topic name", NULL, 0}
/* clang-format on */

int ecm_service_validate_log_level(const char *value, char *errstr, size_t errstr_size);
/* ECM_PG_DSN: a libpq connection string (ecm_pg_dsn_check()). */
int ecm_service_validate_pg_dsn(const char *value, char *errstr, size_t errstr_size);

/* Handles argv (--help prints the table and exits 0; anything else unknown
 * exits 2) and loads the table into cfg. On a bad value prints one line
 * "<prog>: <VARIABLE>: <reason>" to stderr and exits 2. Returns only on
 * success. */
void ecm_service_configure(int argc, char **argv, const char *prog, const char *summary,
                           const ecm_cfg_entry *table, size_t n, void *cfg);

typedef struct {
    const char *name;   /* "feeder" */
    const char *source; /* CloudEvents source: "/ecm/feeder" */
    const ecm_common_config *common;
    ecm_metrics *metrics;
    ecm_http *http;               /* routes may be added before ecm_service_start_http() */
    ecm_kafka_producer *producer; /* feeds the outbox relay */
    ecm_outbox_relay *relay;
    ecm_pg *pg;                   /* the service's main-thread connection */
    ecm_kafka_consumer *consumer; /* set by the service if it consumes; checked by /readyz */
    struct ecm_service_internal *internal; /* owned by ecm_service.c */
} ecm_service;

/* Starts the log as name at log_level ("debug", "info", "warn", "error";
 * anything else means info: ecm_service_validate_log_level() has refused it
 * at configuration). For tools; ecm_service_init() does it for services.
 * Can't fail. */
void ecm_service_log_init(const char *name, const char *log_level);

/* Installs the SIGTERM/SIGINT handlers that set ecm_stop_requested and
 * ignores SIGPIPE. ecm_service_init() does it; tools that don't use
 * ecm_service_init() call it directly. Can't fail. */
void ecm_service_install_signals(void);

/* Logging, signal handlers, DB connection (waits for the DB with backoff),
 * migrations, metrics, HTTP server object (not started), producer and relay.
 * Returns 0, or -1 (logged) when something can't start. */
int ecm_service_init(ecm_service *s, const char *name, const ecm_common_config *common)
    __attribute__((warn_unused_result));

/* Starts the HTTP server (after the service added its routes). 0 or -1. */
int ecm_service_start_http(ecm_service *s) __attribute__((warn_unused_result));

/* A pool of size DB connections for the service's HTTP handlers, with the
 * common limits: ECM_PG_POOL_WAIT_MS and ECM_PG_STATEMENT_TIMEOUT_MS.
 * Returns NULL when out of memory. Freed with ecm_pg_pool_destroy(). */
ecm_pg_pool *ecm_service_pg_pool_new(const ecm_service *s, int size)
    __attribute__((warn_unused_result));

/* /readyz stops failing on the producer's broker: for a service that writes
 * events only through the outbox (the gateway), so that a Kafka outage leaves
 * it ready; the outbox keeps the events until the relay reaches the broker
 * again. The consumer, when there is one, is still checked. The broker is
 * still probed: ecm_kafka_reachable{client="producer"} shows the outage.
 * /healthz never depends on Kafka. May be called while the HTTP server runs.
 * Can't fail. */
void ecm_service_ready_without_producer(ecm_service *s);

/* As ecm_service_ready_without_producer(), and /readyz does not fail on the
 * consumer's cluster either: for a service whose HTTP routes need only the
 * database (the sms service's DLRs and inbound messages, written through
 * the outbox), so that a Kafka outage does not take it out of a Kubernetes
 * Service's endpoints. Both clients are still probed and reported in
 * ecm_kafka_reachable{client="producer"|"consumer"}. Can't fail. */
void ecm_service_ready_without_kafka(ecm_service *s);

/* Creates s's consumer (s->consumer) in group group_id of the ntopics
 * topics, with the common brokers and dead-letter topic. Returns 0, or -1
 * (logged) with s->consumer NULL. */
int ecm_service_consumer_start(ecm_service *s, const char *group_id, const char *const *topics,
                               size_t ntopics) __attribute__((warn_unused_result));

/* Orderly stop: HTTP down, relay drains, consumer commits and leaves its
 * group, producer flushes, DB closes. Every step shares one deadline,
 * shutdown_timeout_s after the stop request, so an unreachable broker cannot
 * stretch it; a watchdog started by ecm_service_init() ends the process
 * (status ECM_WATCHDOG_EXIT_STATUS, logged) if the stop is still going at the
 * deadline, whatever is stuck. */
void ecm_service_shutdown(ecm_service *s);

/* Sleeps up to ms, returning early when a stop is requested. */
void ecm_service_sleep_ms(long ms);

#endif

/* The common runtime of every ECM service: see ecm_service.h. */
#include "ecm_service.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_watchdog.h"

volatile sig_atomic_t ecm_stop_requested = 0;

#define SERVICE_SOURCE_MAX 96
/* Each Kafka probe of /readyz: two of them stay well inside the readiness
 * probe's timeoutSeconds (5 s in deploy/k8s). */
#define SERVICE_READY_KAFKA_TIMEOUT_MS 1000
/* The orderly steps end this long before the watchdog fires (at most a
 * quarter of the bound): freeing what is left and the last log line. */
#define SERVICE_STOP_MARGIN_MS 1000

struct ecm_service_internal {
    char source[SERVICE_SOURCE_MAX];
    /* /readyz's own DB handle; ecm_http runs the check once at a time. */
    ecm_pg *ready_pg;
    /* Ends the process when the stop overruns ECM_SHUTDOWN_TIMEOUT_S. */
    ecm_watchdog *watchdog;
    /* ecm_ready: the last /readyz answer (1 ready, 0 not), for alerts on
     * readiness flapping without kube-state-metrics. */
    ecm_metric *ready;
    /* ECM_MIGRATE=false: 1 once the DB's schema was seen at least at the
     * newest migration compiled in. Migrations are forward-only, so it stays
     * true and /readyz goes back to a plain SELECT 1. */
    int schema_current;
    /* SERVICE_READY_* bits: the Kafka clients whose broker /readyz does not
     * wait for (ecm_service_ready_without_producer/_kafka). */
    atomic_int ready_optional;
    /* ecm_kafka_reachable{client="producer"}: 1 when the last /readyz probe
     * reached the cluster, whether or not readiness depends on it. */
    ecm_metric *producer_reachable;
};

#define SERVICE_READY_PRODUCER_OPTIONAL 1
#define SERVICE_READY_CONSUMER_OPTIONAL 2
#define SERVICE_KAFKA_REACHABLE_HELP                                                               \
    "1 when the last /readyz probe reached the Kafka cluster, else 0 (also where readiness does "  \
    "not depend on it)"

static void service_on_signal(int sig)
{
    (void)sig;
    ecm_stop_requested = 1;
}

void ecm_service_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = service_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, NULL);
}

int ecm_service_validate_log_level(const char *value, char *errstr, size_t errstr_size)
{
    ecm_log_level lvl;
    if (ecm_log_level_parse(value, &lvl) != 0) {
        snprintf(errstr, errstr_size, "'%s' is not one of debug, info, warn, error", value);
        return -1;
    }
    return 0;
}

int ecm_service_validate_pg_dsn(const char *value, char *errstr, size_t errstr_size)
{
    return ecm_pg_dsn_check(value, errstr, errstr_size);
}

void ecm_service_configure(int argc, char **argv, const char *prog, const char *summary,
                           const ecm_cfg_entry *table, size_t n, void *cfg)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            ecm_config_print_help(stdout, prog, summary, table, n);
            exit(0);
        }
        fprintf(stderr, "%s: unknown argument '%s' (configuration is by environment; see --help)\n",
                prog, argv[i]);
        exit(2);
    }
    char errstr[512];
    if (ecm_config_load(table, n, cfg, errstr, sizeof errstr) != 0 ||
        ecm_clock_check_env(errstr, sizeof errstr) != 0) {
        fprintf(stderr, "%s: %s\n", prog, errstr);
        exit(2);
    }
    /* A bad librdkafka pass-through stops the service here, not at first use. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = ecm_kafka_conf_from_env(conf, errstr, sizeof errstr);
    rd_kafka_conf_destroy(conf);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, errstr);
        exit(2);
    }
}

/* The database part of /readyz: one query. Until the schema was seen current
 * (or when the service migrated it itself), the query reads the applied
 * migration version, so that pods of a new version stay NotReady until the
 * migration Job ran. Returns 0, or -1 with the reason in errstr. */
static int service_check_db(ecm_service *s, char *errstr, size_t errstr_size)
{
    struct ecm_service_internal *in = s->internal;
    PGconn *conn = ecm_pg_try_conn(in->ready_pg);
    if (!conn) {
        snprintf(errstr, errstr_size, "database unreachable");
        return -1;
    }
    if (s->common->migrate || in->schema_current) {
        PGresult *res = PQexec(conn, "SELECT 1");
        int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        if (ok)
            return 0;
        ecm_pg_check_broken(in->ready_pg);
        snprintf(errstr, errstr_size, "database unreachable");
        return -1;
    }
    int want = ecm_migrate_latest(ecm_migrations, ecm_migrations_count);
    int applied = 0;
    int rc = ecm_migrate_schema_current(conn, want, &applied);
    if (rc == -2) {
        snprintf(errstr, errstr_size,
                 "database permission denied on schema_migrations (grant the services' role: "
                 "ECM_MIGRATE_APP_ROLE of the migration Job)");
        return -1;
    }
    if (rc < 0) {
        ecm_pg_check_broken(in->ready_pg);
        snprintf(errstr, errstr_size, "database unreachable");
        return -1;
    }
    if (rc == 0) {
        snprintf(errstr, errstr_size,
                 "database schema at migration %d, this version needs %d (run the migration Job)",
                 applied, want);
        return -1;
    }
    in->schema_current = 1;
    return 0;
}

/* Probes the producer's and the consumer's (when there is one) cluster and
 * records both in ecm_kafka_reachable. Returns 0, or -1 with the reason in
 * errstr when a client readiness depends on did not reach its cluster. */
static int service_check_kafka(ecm_service *s, char *errstr, size_t errstr_size)
{
    struct ecm_service_internal *in = s->internal;
    int optional = atomic_load(&in->ready_optional);
    int rc = 0;
    int up = ecm_kafka_producer_reachable(s->producer, SERVICE_READY_KAFKA_TIMEOUT_MS);
    ecm_metric_set(in->producer_reachable, up ? 1.0 : 0.0);
    if (!up && !(optional & SERVICE_READY_PRODUCER_OPTIONAL)) {
        snprintf(errstr, errstr_size, "Kafka broker unreachable");
        rc = -1;
    }
    if (!s->consumer)
        return rc;
    up = ecm_kafka_consumer_reachable(s->consumer, SERVICE_READY_KAFKA_TIMEOUT_MS);
    ecm_metric_set(ecm_metrics_gauge(s->metrics, "ecm_kafka_reachable{client=\"consumer\"}",
                                     SERVICE_KAFKA_REACHABLE_HELP),
                   up ? 1.0 : 0.0);
    if (!up && !(optional & SERVICE_READY_CONSUMER_OPTIONAL) && rc == 0) {
        snprintf(errstr, errstr_size, "Kafka consumer cannot reach the cluster");
        rc = -1;
    }
    return rc;
}

/* The readiness answer, without the gauge (service_ready). The Kafka probe
 * runs even when the database failed, so that ecm_kafka_reachable stays
 * current. */
static int service_check_ready(ecm_service *s, char *errstr, size_t errstr_size)
{
    if (ecm_stop_requested) {
        snprintf(errstr, errstr_size, "stopping");
        return -1;
    }
    char kafka_err[256] = "";
    int kafka_rc = service_check_kafka(s, kafka_err, sizeof kafka_err);
    if (service_check_db(s, errstr, errstr_size) != 0)
        return -1;
    if (!ecm_outbox_relay_healthy(s->relay)) {
        snprintf(errstr, errstr_size, "outbox relay cannot reach the database");
        return -1;
    }
    if (kafka_rc != 0) {
        snprintf(errstr, errstr_size, "%s", kafka_err);
        return -1;
    }
    return 0;
}

void ecm_service_ready_without_producer(ecm_service *s)
{
    atomic_fetch_or(&s->internal->ready_optional, SERVICE_READY_PRODUCER_OPTIONAL);
}

void ecm_service_ready_without_kafka(ecm_service *s)
{
    atomic_fetch_or(&s->internal->ready_optional,
                    SERVICE_READY_PRODUCER_OPTIONAL | SERVICE_READY_CONSUMER_OPTIONAL);
}

static int service_ready(void *ctx, char *errstr, size_t errstr_size)
{
    ecm_service *s = ctx;
    int rc = service_check_ready(s, errstr, errstr_size);
    ecm_metric_set(s->internal->ready, rc == 0 ? 1.0 : 0.0);
    return rc;
}

static void service_free_internal(ecm_service *s)
{
    struct ecm_service_internal *in = s->internal;
    if (!in)
        return;
    if (in->ready_pg)
        ecm_pg_destroy(in->ready_pg);
    ecm_watchdog_stop(in->watchdog);
    free(in);
    s->internal = NULL;
}

void ecm_service_log_init(const char *name, const char *log_level)
{
    ecm_log_level lvl = ECM_LOG_INFO;
    if (ecm_log_level_parse(log_level, &lvl) != 0)
        lvl = ECM_LOG_INFO;
    ecm_log_init(name, lvl);
}

/* Starts the log at the configured level and installs the signal handlers.
 * Can't fail. */
static void service_start_log(const char *name, const ecm_common_config *common)
{
    ecm_service_log_init(name, common->log_level);
    ecm_service_install_signals();
    /* A clock a test can hold (lib/ecm_clock.h) says so in every service's log. */
    const char *clock_control = getenv("ECM_CLOCK_CONTROL_FILE");
    if (clock_control != NULL && clock_control[0] != '\0') {
        ecm_log_warn("business clock under test control (dev/test only)",
                     "ECM_CLOCK_CONTROL_FILE=%s", clock_control);
    }
}

/* Opens s->pg and the readiness probe's handle, waits for the database and
 * applies the migrations when asked. Returns 0, or -1 logged. */
static int service_open_db(ecm_service *s, const ecm_common_config *common)
{
    s->pg = ecm_pg_new(common->pg_dsn, &ecm_stop_requested);
    s->internal->ready_pg = ecm_pg_new(common->pg_dsn, &ecm_stop_requested);
    if (!s->pg || !s->internal->ready_pg) {
        ecm_log_error("service start failed", "out of memory");
        return -1;
    }
    PGconn *conn = ecm_pg_conn(s->pg); /* waits for the DB with backoff */
    if (!conn) {
        ecm_log_error("service start failed", "stopped while waiting for the database");
        return -1;
    }
    if (common->migrate && ecm_migrate_apply(conn, ecm_migrations, ecm_migrations_count) < 0) {
        ecm_log_error("service start failed", "database migrations did not apply");
        return -1;
    }
    return 0;
}

/* Creates s->http with the readiness probe and the configured limits
 * (started later by ecm_service_start_http). Returns 0, or -1 logged. */
static int service_open_http(ecm_service *s, const ecm_common_config *common)
{
    s->http = ecm_http_new(common->http_bind, (int)common->http_port, s->metrics);
    if (!s->http) {
        ecm_log_error("service start failed", "HTTP server could not be created");
        return -1;
    }
    ecm_http_set_ready(s->http, service_ready, s);
    const ecm_http_limits limits = {
        .max_connections = (int)common->http_max_connections,
        .max_per_client = (int)common->http_max_per_client,
        .request_timeout_s = (int)common->http_request_timeout_s,
        .stream_min_bytes_per_s = (int)common->http_stream_min_rate,
    };
    ecm_http_set_limits(s->http, &limits);
    return 0;
}

int ecm_service_init(ecm_service *s, const char *name, const ecm_common_config *common)
{
    char errstr[512];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->common = common;
    service_start_log(name, common);

    s->internal = calloc(1, sizeof *s->internal);
    if (!s->internal) {
        ecm_log_error("service start failed", "out of memory");
        return -1;
    }
    int n = snprintf(s->internal->source, sizeof s->internal->source, "/ecm/%s", name);
    if (n < 0 || (size_t)n >= sizeof s->internal->source) {
        ecm_log_error("service start failed", "service name too long: %s", name);
        goto fail;
    }
    s->source = s->internal->source;
    s->internal->watchdog = ecm_watchdog_start(
        &ecm_stop_requested, common->shutdown_timeout_s * 1000, ECM_WATCHDOG_EXIT_STATUS);
    if (!s->internal->watchdog)
        goto fail;

    s->metrics = ecm_metrics_new();
    if (!s->metrics) {
        ecm_log_error("service start failed", "out of memory");
        goto fail;
    }
    s->internal->ready = ecm_metrics_gauge(
        s->metrics, "ecm_ready", "1 when the last /readyz answered ready, else 0 (0 until probed)");
    s->internal->producer_reachable = ecm_metrics_gauge(
        s->metrics, "ecm_kafka_reachable{client=\"producer\"}", SERVICE_KAFKA_REACHABLE_HELP);

    if (service_open_db(s, common) != 0)
        goto fail;

    s->producer = ecm_kafka_producer_new(common->kafka_brokers, s->metrics,
                                         ecm_outbox_relay_delivery, NULL, errstr, sizeof errstr);
    if (!s->producer) {
        ecm_log_error("service start failed", "%s", errstr);
        goto fail;
    }
    s->relay = ecm_outbox_relay_start(common->pg_dsn, s->producer, s->metrics,
                                      (int)common->outbox_poll_ms, &ecm_stop_requested);
    if (!s->relay) {
        ecm_log_error("service start failed", "outbox relay did not start");
        goto fail;
    }
    if (service_open_http(s, common) != 0)
        goto fail;
    ecm_log_info("service initialised", "%s", s->source);
    return 0;
fail:
    if (s->http)
        ecm_http_destroy(s->http);
    if (s->relay)
        ecm_outbox_relay_stop(s->relay, 0);
    if (s->producer)
        ecm_kafka_producer_destroy(s->producer);
    if (s->pg)
        ecm_pg_destroy(s->pg);
    if (s->metrics)
        ecm_metrics_destroy(s->metrics);
    service_free_internal(s);
    memset(s, 0, sizeof *s);
    return -1;
}

int ecm_service_start_http(ecm_service *s)
{
    if (ecm_http_start(s->http) != 0)
        return -1;
    ecm_log_info("HTTP port open", "%s:%lld", s->common->http_bind, s->common->http_port);
    return 0;
}

ecm_pg_pool *ecm_service_pg_pool_new(const ecm_service *s, int size)
{
    ecm_pg_pool *p = ecm_pg_pool_new(s->common->pg_dsn, size, &ecm_stop_requested);
    if (p) {
        ecm_pg_pool_set_limits(p, (long)s->common->pg_pool_wait_ms,
                               (long)s->common->pg_statement_timeout_ms);
    }
    return p;
}

int ecm_service_consumer_start(ecm_service *s, const char *group_id, const char *const *topics,
                               size_t ntopics)
{
    char errstr[512];
    s->consumer = ecm_kafka_consumer_new(s->common->kafka_brokers, group_id, topics, ntopics,
                                         s->common->topic_deadletter, s->source, s->metrics, errstr,
                                         sizeof errstr);
    if (!s->consumer) {
        ecm_log_error("could not create the Kafka consumer", "%s", errstr);
        return -1;
    }
    return 0;
}

static int service_left_ms(int64_t deadline, int64_t reserve)
{
    int64_t left = deadline - ecm_clock_mono_ms() - reserve;
    return left > 0 ? (int)left : 0;
}

/* The Kafka and outbox steps of the stop, each bounded by what is left of
 * deadline: the relay drains (keeping reserve back for the others), the
 * consumer commits and leaves its group, the producer flushes. */
static void service_stop_kafka(ecm_service *s, int64_t deadline, int64_t reserve)
{
    if (s->relay) {
        ecm_outbox_relay_stop(s->relay, service_left_ms(deadline, reserve));
        s->relay = NULL;
    }
    if (s->consumer) {
        (void)ecm_kafka_consumer_close(s->consumer, service_left_ms(deadline, reserve / 2));
        s->consumer = NULL;
    }
    if (s->producer) {
        /* Undelivered outbox rows are still in the DB: they go out next start. */
        (void)ecm_kafka_producer_close(s->producer, service_left_ms(deadline, 0));
        s->producer = NULL;
    }
}

void ecm_service_shutdown(ecm_service *s)
{
    if (!s->internal)
        return;
    int64_t start = ecm_clock_mono_ms();
    int64_t bound_ms = s->common->shutdown_timeout_s * 1000;
    int64_t margin = bound_ms / 4 < SERVICE_STOP_MARGIN_MS ? bound_ms / 4 : SERVICE_STOP_MARGIN_MS;
    /* Counted from the stop request (the watchdog's), not from this call. */
    int64_t deadline = ecm_watchdog_deadline(s->internal->watchdog) - margin;
    /* Kept back from the relay's drain for the consumer's commit and the flush. */
    int64_t reserve = bound_ms / 4;
    ecm_log_info("service stopping", "within %lld ms", (long long)(deadline - start));
    ecm_metric_set(s->internal->ready, 0.0);

    if (s->http) {
        ecm_http_destroy(s->http);
        s->http = NULL;
    }
    service_stop_kafka(s, deadline, reserve);
    if (s->pg) {
        ecm_pg_destroy(s->pg);
        s->pg = NULL;
    }
    ecm_log_info("service stopped", "in %lld ms", (long long)(ecm_clock_mono_ms() - start));
    if (s->metrics) {
        ecm_metrics_destroy(s->metrics);
        s->metrics = NULL;
    }
    service_free_internal(s);
}

void ecm_service_sleep_ms(long ms)
{
    int64_t until = ecm_clock_mono_ms() + ms;
    while (!ecm_stop_requested) {
        int64_t left = until - ecm_clock_mono_ms();
        if (left <= 0)
            break;
        if (left > 50)
            left = 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !ecm_stop_requested)
            ;
    }
}

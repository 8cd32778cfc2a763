/* ecm_service: configuration exits, signals, the stop-aware sleep, and a whole
 * init / readyz / shutdown cycle against a scratch DB (ECM_TEST_PG_DSN) and
 * librdkafka's in-process mock cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_service.h"
#include "ecm_test_support.h"
#include "ecm_uuid.h"

/* Side port of the init test (the libkafka helper's range). */
#define TEST_HTTP_PORT 20210

typedef struct {
    ecm_common_config common;
    long long extra;
} test_config;

static const ecm_cfg_entry test_table[] = {
    ECM_COMMON_CONFIG_ENTRIES(test_config, common, "8080", "64"),
    {"ECM_TEST_EXTRA", ECM_CFG_INT, offsetof(test_config, extra), "3", 1, 10, "test value", NULL,
     0},
};
#define TEST_TABLE_N (sizeof test_table / sizeof test_table[0])

/* Runs ecm_service_configure in a child with argv; returns its exit status
 * and what it wrote to stderr. */
static int run_configure(char **argv, int argc, char *err, size_t err_size)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        test_config cfg;
        memset(&cfg, 0, sizeof cfg);
        ecm_service_configure(argc, argv, "ecm-test", "test", test_table, TEST_TABLE_N, &cfg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < err_size && (r = read(fds[0], err + len, err_size - 1 - len)) > 0)
        len += (size_t)r;
    err[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_service_configure_exit_codes(void **state)
{
    (void)state;
    char err[1024];
    setenv("ECM_PG_DSN", "dbname=x", 1);
    setenv("ECM_KAFKA_BROKERS", "127.0.0.1:1", 1);

    char *help[] = {"ecm-test", "--help", NULL};
    assert_int_equal(run_configure(help, 2, err, sizeof err), 0);

    char *bogus[] = {"ecm-test", "--bogus", NULL};
    assert_int_equal(run_configure(bogus, 2, err, sizeof err), 2);
    assert_non_null(strstr(err, "ecm-test: "));

    char *none[] = {"ecm-test", NULL};
    assert_int_equal(run_configure(none, 1, err, sizeof err), 0);

    setenv("ECM_HTTP_PORT", "70000", 1);
    assert_int_equal(run_configure(none, 1, err, sizeof err), 2);
    assert_non_null(strstr(err, "ecm-test: ECM_HTTP_PORT"));
    assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* one line */
    unsetenv("ECM_HTTP_PORT");

    setenv("ECM_LOG_LEVEL", "loud", 1);
    assert_int_equal(run_configure(none, 1, err, sizeof err), 2);
    assert_non_null(strstr(err, "ECM_LOG_LEVEL"));
    unsetenv("ECM_LOG_LEVEL");

    setenv("ECM_KAFKA_NO_SUCH_PROPERTY", "1", 1);
    assert_int_equal(run_configure(none, 1, err, sizeof err), 2);
    assert_non_null(strstr(err, "ECM_KAFKA_NO_SUCH_PROPERTY"));
    unsetenv("ECM_KAFKA_NO_SUCH_PROPERTY");

    /* Not a libpq connection string: refused at start, not at first use. */
    setenv("ECM_PG_DSN", "host=db no_such_option=1", 1);
    assert_int_equal(run_configure(none, 1, err, sizeof err), 2);
    assert_non_null(strstr(err, "ecm-test: ECM_PG_DSN"));
    assert_non_null(strstr(err, "no_such_option"));

    unsetenv("ECM_PG_DSN");
    assert_int_equal(run_configure(none, 1, err, sizeof err), 2);
    assert_non_null(strstr(err, "ECM_PG_DSN"));
    unsetenv("ECM_KAFKA_BROKERS");
}

static void test_service_sigterm_sets_stop_flag_and_cuts_sleep_short(void **state)
{
    (void)state;
    ecm_stop_requested = 0;
    ecm_service_install_signals();
    int64_t t0 = ecm_clock_wall_ms();
    ecm_service_sleep_ms(120);
    assert_true(ecm_clock_wall_ms() - t0 >= 100);
    assert_int_equal(raise(SIGTERM), 0);
    assert_int_equal(ecm_stop_requested, 1);
    t0 = ecm_clock_wall_ms();
    ecm_service_sleep_ms(5000);
    assert_true(ecm_clock_wall_ms() - t0 < 200);
    assert_int_equal(raise(SIGPIPE), 0); /* ignored, or we would be dead */
    ecm_stop_requested = 0;
}

static long http_status(const char *path)
{
    ecm_test_http_answer a;
    CURL *c = ecm_test_http_prepare(&a, TEST_HTTP_PORT, "GET", path);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    long code = ecm_test_http_perform(c, &a) == CURLE_OK ? a.status : 0;
    ecm_test_http_answer_destroy(&a);
    return code;
}

static long wait_status(const char *path, long want)
{
    long code = 0;
    int64_t until = ecm_clock_wall_ms() + 20000;
    while ((code = http_status(path)) != want && ecm_clock_wall_ms() < until)
        ecm_test_sleep_ms(100);
    return code;
}

/* 1 when /metrics has the line "<metric> <value>" after a /readyz probe
 * (which sets the readiness gauges, as the kubelet's do). */
static int metric_is(const char *metric, const char *value)
{
    (void)http_status("/readyz");
    char line[256];
    snprintf(line, sizeof line, "\n%s %s\n", metric, value);
    ecm_test_http_answer a;
    CURL *c = ecm_test_http_prepare(&a, TEST_HTTP_PORT, "GET", "/metrics");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    int found =
        ecm_test_http_perform(c, &a) == CURLE_OK && a.status == 200 && strstr(a.body, line) != NULL;
    ecm_test_http_answer_destroy(&a);
    return found;
}

/* Waits (20 s at most) for metric_is(metric, value); returns its last answer. */
static int wait_metric(const char *metric, const char *value)
{
    int64_t until = ecm_clock_wall_ms() + 20000;
    while (!metric_is(metric, value) && ecm_clock_wall_ms() < until)
        ecm_test_sleep_ms(100);
    return metric_is(metric, value);
}

/* The environment of a service on db and kafka (TEST_HTTP_PORT, a 5-s stop
 * bound), read into cfg as ecm_service_configure() does at start; the
 * caller's own ECM_* variables set before count too. */
static void configure(test_config *cfg, const ecm_test_db *db, const ecm_test_kafka *kafka)
{
    char port[16];
    snprintf(port, sizeof port, "%d", TEST_HTTP_PORT);
    setenv("ECM_PG_DSN", db->dsn, 1);
    setenv("ECM_KAFKA_BROKERS", kafka->bootstraps, 1);
    setenv("ECM_HTTP_BIND", "127.0.0.1", 1);
    setenv("ECM_HTTP_PORT", port, 1);
    setenv("ECM_SHUTDOWN_TIMEOUT_S", "5", 1);
    setenv("ECM_LOG_LEVEL", "error", 1);
    memset(cfg, 0, sizeof *cfg);
    char *argv[] = {"ecm-test", NULL};
    ecm_service_configure(1, argv, "ecm-test", "test", test_table, TEST_TABLE_N, cfg);
}

/* A service test's database, dev-broker cluster (topic svc.events) and
 * configuration; the environment the test set before is read by configure. */
typedef struct {
    ecm_test_db *db;
    ecm_test_kafka kafka;
    test_config cfg;
} svc_fixture;

static const char *svc_topics[] = {"svc.events"};

static void fixture_start(svc_fixture *f, const char *dbname)
{
    f->db = ecm_test_need(ecm_test_db_new(dbname));
    assert_int_equal(ecm_test_kafka_start(&f->kafka, svc_topics, 1), 0);
    configure(&f->cfg, f->db, &f->kafka);
}

static void fixture_stop(svc_fixture *f)
{
    ecm_config_destroy(test_table, TEST_TABLE_N, &f->cfg);
    ecm_test_kafka_stop(&f->kafka);
    assert_int_equal(ecm_test_db_destroy(f->db), 0);
}

static void test_service_init_serves_readyz_and_stops_within_bound(void **state)
{
    (void)state;
    setenv("ECM_KAFKA_RECONNECT_BACKOFF_MAX_MS", "500", 1);
    svc_fixture f;
    fixture_start(&f, "ecm_test_service");

    ecm_service s;
    assert_int_equal(ecm_service_init(&s, "test", &f.cfg.common), 0);
    assert_string_equal(s.source, "/ecm/test");
    assert_int_equal(ecm_service_start_http(&s), 0);
    assert_int_equal(wait_status("/healthz", 200), 200);
    assert_int_equal(wait_status("/readyz", 200), 200);

    /* Migrations ran: the outbox exists, and the relay publishes from it. */
    Ecm__V1__ContactRetry m = ECM__V1__CONTACT_RETRY__INIT;
    char id[ECM_UUID_LEN];
    ecm_uuid_new(id);
    m.event_id = id;
    m.contact_id = 5;
    assert_int_equal(ecm_pg_begin(s.pg), 0);
    assert_int_equal(
        ecm_outbox_add(s.pg, "svc.events", "5", s.source, id, ecm_clock_wall_ms(), &m.base), 0);
    assert_int_equal(ecm_pg_commit(s.pg), 0);
    int64_t until = ecm_clock_wall_ms() + 20000;
    while (ecm_outbox_relay_published(s.relay) < 1 && ecm_clock_wall_ms() < until)
        ecm_service_sleep_ms(20);
    assert_int_equal(ecm_outbox_relay_published(s.relay), 1);

    assert_int_equal(rd_kafka_mock_broker_set_down(f.kafka.mock, 1), 0);
    assert_int_equal(wait_status("/readyz", 503), 503);
    /* An outbox-only service (the gateway) stays ready without the broker. */
    ecm_service_ready_without_producer(&s);
    assert_int_equal(wait_status("/readyz", 200), 200);
    assert_int_equal(rd_kafka_mock_broker_set_up(f.kafka.mock, 1), 0);
    assert_int_equal(wait_status("/readyz", 200), 200);

    ecm_stop_requested = 1;
    assert_int_equal(wait_status("/readyz", 503), 503);
    int64_t t0 = ecm_clock_wall_ms();
    ecm_service_shutdown(&s);
    assert_true(ecm_clock_wall_ms() - t0 < 5000 + 1000);
    assert_int_equal(http_status("/healthz"), 0); /* port closed */
    ecm_stop_requested = 0;
    fixture_stop(&f);
}

/* A service whose routes need only the database (the sms service) stays
 * ready and healthy with the broker gone, its consumer's included, while
 * ecm_kafka_reachable shows the outage; with only the producer optional the
 * consumer still fails /readyz. */
static void test_service_ready_without_kafka_ready_with_broker_gone(void **state)
{
    (void)state;
    setenv("ECM_KAFKA_RECONNECT_BACKOFF_MAX_MS", "500", 1);
    svc_fixture f;
    fixture_start(&f, "ecm_test_service_nokafka");

    ecm_service s;
    assert_int_equal(ecm_service_init(&s, "test", &f.cfg.common), 0);
    assert_int_equal(ecm_service_consumer_start(&s, "svc-test", svc_topics, 1), 0);
    ecm_service_ready_without_producer(&s);
    assert_int_equal(ecm_service_start_http(&s), 0);
    assert_int_equal(wait_status("/readyz", 200), 200);
    assert_true(wait_metric("ecm_kafka_reachable{client=\"producer\"}", "1"));
    assert_true(wait_metric("ecm_kafka_reachable{client=\"consumer\"}", "1"));

    assert_int_equal(rd_kafka_mock_broker_set_down(f.kafka.mock, 1), 0);
    assert_int_equal(wait_status("/readyz", 503), 503); /* the consumer's cluster */
    ecm_service_ready_without_kafka(&s);
    assert_int_equal(wait_status("/readyz", 200), 200);
    assert_true(wait_metric("ecm_kafka_reachable{client=\"producer\"}", "0"));
    assert_true(wait_metric("ecm_kafka_reachable{client=\"consumer\"}", "0"));
    /* Still down, still ready: the gauges above came from probes that
     * answered ready. */
    assert_int_equal(http_status("/readyz"), 200);
    assert_int_equal(http_status("/healthz"), 200);

    assert_int_equal(rd_kafka_mock_broker_set_up(f.kafka.mock, 1), 0);
    assert_true(wait_metric("ecm_kafka_reachable{client=\"producer\"}", "1"));
    assert_true(wait_metric("ecm_kafka_reachable{client=\"consumer\"}", "1"));
    assert_int_equal(http_status("/readyz"), 200);

    ecm_stop_requested = 1;
    ecm_service_shutdown(&s);
    ecm_stop_requested = 0;
    unsetenv("ECM_KAFKA_RECONNECT_BACKOFF_MAX_MS");
    fixture_stop(&f);
}

/* ECM_MIGRATE=false (the services in Kubernetes): not ready while the DB's
 * schema is older than the newest migration compiled in, ready once the
 * migration ran elsewhere (the Job). */
static void test_service_no_migrate_not_ready_until_schema_current(void **state)
{
    (void)state;
    setenv("ECM_MIGRATE", "false", 1);
    svc_fixture f;
    fixture_start(&f, "ecm_test_service_nomig");
    unsetenv("ECM_MIGRATE");

    ecm_service s;
    assert_int_equal(ecm_service_init(&s, "test", &f.cfg.common), 0);
    assert_int_equal(ecm_service_start_http(&s), 0);
    assert_int_equal(wait_status("/healthz", 200), 200);
    assert_int_equal(http_status("/readyz"), 503);

    PGconn *c = ecm_test_pg_connect(f.db->dsn);
    /* One migration short of this build's schema: still not ready. */
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count - 1),
                     (int)ecm_migrations_count - 1);
    assert_int_equal(http_status("/readyz"), 503);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count), 1);
    PQfinish(c);
    assert_int_equal(wait_status("/readyz", 200), 200);

    ecm_stop_requested = 1;
    ecm_service_shutdown(&s);
    ecm_stop_requested = 0;
    fixture_stop(&f);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_configure_exit_codes),
        cmocka_unit_test(test_service_sigterm_sets_stop_flag_and_cuts_sleep_short),
        cmocka_unit_test(test_service_init_serves_readyz_and_stops_within_bound),
        cmocka_unit_test(test_service_no_migrate_not_ready_until_schema_current),
        cmocka_unit_test(test_service_ready_without_kafka_ready_with_broker_gone),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

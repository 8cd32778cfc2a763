/* ecm_outbox against a scratch PostgreSQL database (ECM_TEST_PG_DSN) and
 * librdkafka's in-process mock cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ecm_event.h"
#include "ecm_kafka.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_migrate.h"
#include "ecm_outbox.h"
#include "ecm_pg.h"

#define WAIT_MS 30000

typedef struct {
    char admin_dsn[2048];
    char scratch_dsn[2048];
    char scratch_db[128];
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mock;
    const char *bootstraps;
    int ready;
} outbox_env;

static outbox_env g_env;

/* Rebuilds dsn (key=value or URI) as key='value' pairs, with dbname
 * replaced when dbname is non-NULL. Returns 0 or -1. */
static int dsn_with_db(const char *dsn, const char *dbname, char *out, size_t out_size)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &err);
    if (!opts) {
        PQfreemem(err);
        return -1;
    }
    size_t len = 0;
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        const char *val = o->val;
        if (strcmp(o->keyword, "dbname") == 0 && dbname)
            val = dbname;
        if (!val)
            continue;
        char quoted[512];
        size_t q = 0;
        for (const char *c = val; *c && q + 2 < sizeof quoted; c++) {
            if (*c == '\'' || *c == '\\')
                quoted[q++] = '\\';
            quoted[q++] = *c;
        }
        quoted[q] = '\0';
        int n =
            snprintf(out + len, out_size - len, "%s%s='%s'", len ? " " : "", o->keyword, quoted);
        if (n < 0 || (size_t)n >= out_size - len) {
            PQconninfoFree(opts);
            return -1;
        }
        len += (size_t)n;
    }
    if (dbname && !strstr(out, "dbname=")) {
        int n = snprintf(out + len, out_size - len, " dbname='%s'", dbname);
        if (n < 0 || (size_t)n >= out_size - len) {
            PQconninfoFree(opts);
            return -1;
        }
    }
    PQconninfoFree(opts);
    return 0;
}

static int admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(g_env.admin_dsn);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "admin: %s", PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "admin connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    char err[256];
    ecm_log_level lvl = ECM_LOG_ERROR;
    if (getenv("ECM_LOG_LEVEL"))
        (void)ecm_log_level_parse(getenv("ECM_LOG_LEVEL"), &lvl);
    ecm_log_init("test_outbox", lvl);
    const char *dsn = getenv("ECM_TEST_PG_DSN");
    if (!dsn || !*dsn)
        return 0; /* every test skips */

    /* The DSN's own database may not exist yet: fall back to postgres. */
    PGconn *probe = PQconnectdb(dsn);
    int direct = PQstatus(probe) == CONNECTION_OK;
    const char *base = direct ? PQdb(probe) : "ecm_test";
    snprintf(g_env.scratch_db, sizeof g_env.scratch_db, "%s_outbox_%ld", base, (long)getpid());
    PQfinish(probe);
    if (dsn_with_db(dsn, direct ? NULL : "postgres", g_env.admin_dsn, sizeof g_env.admin_dsn) !=
            0 ||
        dsn_with_db(dsn, g_env.scratch_db, g_env.scratch_dsn, sizeof g_env.scratch_dsn) != 0)
        return -1;
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\"", g_env.scratch_db);
    if (admin_exec(sql) != 0)
        return -1;
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", g_env.scratch_db);
    if (admin_exec(sql) != 0)
        return -1;
    PGconn *c = PQconnectdb(g_env.scratch_dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return -1;
    }
    int applied = ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count);
    PQfinish(c);
    if (applied < 1)
        return -1;

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    g_env.host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!g_env.host)
        return -1;
    g_env.mock = rd_kafka_mock_cluster_new(g_env.host, 1);
    if (!g_env.mock)
        return -1;
    g_env.bootstraps = rd_kafka_mock_cluster_bootstraps(g_env.mock);
    const char *topics[] = {"ob.events", "ob.down", "ob.drain"};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        if (rd_kafka_mock_topic_create(g_env.mock, topics[i], 1, 1) != 0)
            return -1;
    /* Reconnect quickly after the fault test brings the broker back. */
    setenv("ECM_KAFKA_RECONNECT_BACKOFF_MAX_MS", "500", 1);
    setenv("ECM_KAFKA_SESSION_TIMEOUT_MS", "3000", 1);
    setenv("ECM_KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
    g_env.ready = 1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_env.mock)
        rd_kafka_mock_cluster_destroy(g_env.mock);
    if (g_env.host)
        rd_kafka_destroy(g_env.host);
    if (g_env.ready) {
        char sql[256];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", g_env.scratch_db);
        (void)admin_exec(sql);
    }
    return 0;
}

static void need_env(void)
{
    if (!g_env.ready)
        skip();
}

static long long outbox_count(void)
{
    PGconn *c = PQconnectdb(g_env.scratch_dsn);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "SELECT count(*) FROM outbox");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *end = NULL;
    long long n = strtoll(PQgetvalue(r, 0, 0), &end, 10);
    PQclear(r);
    PQfinish(c);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Adds the event of one contact; copy selects the COPY path. */
static int add_event(ecm_pg *pg, const char *topic, int64_t contact_id, int copy)
{
    Ecm__V1__ContactUploaded m = ECM__V1__CONTACT_UPLOADED__INIT;
    char id[ECM_UUID_LEN];
    char key[24];
    ecm_uuid_new(id);
    m.event_id = id;
    m.occurred_at = ecm_now_ms();
    m.campaign_id = 9;
    m.contact_id = contact_id;
    m.attempt = 1;
    snprintf(key, sizeof key, "%lld", (long long)contact_id);
    if (copy)
        return ecm_outbox_copy_add(pg, topic, key, "/ecm/test", id, m.occurred_at, &m.base);
    return ecm_outbox_add(pg, topic, key, "/ecm/test", id, m.occurred_at, &m.base);
}

static ecm_consumer *new_consumer(const char *group, const char *topic)
{
    char err[512] = "";
    const char *topics[] = {topic};
    ecm_consumer *c = ecm_consumer_new(g_env.bootstraps, group, topics, 1, "ob.dlq", "/ecm/test",
                                       NULL, err, sizeof err);
    if (!c)
        fail_msg("consumer: %s", err);
    return c;
}

/* Consumes until want messages arrived (or WAIT_MS); checks each carries
 * its CloudEvents headers and that contact ids come in order first..; a
 * message past want fails the test. Returns the count. */
static size_t consume_in_order(ecm_consumer *c, int64_t first, size_t want)
{
    rd_kafka_message_t *msgs[64];
    size_t got = 0;
    int64_t until = ecm_now_ms() + WAIT_MS;
    int64_t quiet_until = 0;
    for (;;) {
        int64_t now = ecm_now_ms();
        if (got < want && now >= until)
            break;
        if (got >= want) {
            if (!quiet_until)
                quiet_until = now + 1000; /* any duplicate would show up now */
            if (now >= quiet_until)
                break;
        }
        size_t n = ecm_consumer_poll_batch(c, msgs, 64, 200);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            Ecm__V1__ContactUploaded *ev =
                ecm__v1__contact_uploaded__unpack(NULL, m->len, (const uint8_t *)m->payload);
            assert_non_null(ev);
            assert_true(got < want);
            assert_int_equal(ev->contact_id, first + (int64_t)got);
            char buf[64];
            assert_int_equal(ecm_kafka_header(m, "ce_id", buf, sizeof buf), 0);
            assert_string_equal(buf, ev->event_id);
            assert_int_equal(ecm_kafka_header(m, "ce_type", buf, sizeof buf), 0);
            assert_string_equal(buf, "ecm.v1.ContactUploaded");
            assert_int_equal(ecm_kafka_header(m, "ce_source", buf, sizeof buf), 0);
            assert_string_equal(buf, "/ecm/test");
            assert_int_equal(ecm_kafka_header(m, "ce_specversion", buf, sizeof buf), 0);
            assert_string_equal(buf, "1.0");
            assert_int_equal(ecm_kafka_header(m, "content-type", buf, sizeof buf), 0);
            assert_string_equal(buf, "application/protobuf");
            char want_time[40];
            ecm_time_format_ms(ev->occurred_at, want_time, sizeof want_time);
            assert_int_equal(ecm_kafka_header(m, "ce_time", buf, sizeof buf), 0);
            assert_string_equal(buf, want_time);
            char key[24];
            snprintf(key, sizeof key, "%lld", (long long)ev->contact_id);
            assert_int_equal(m->key_len, strlen(key));
            assert_memory_equal(m->key, key, strlen(key));
            ecm__v1__contact_uploaded__free_unpacked(ev, NULL);
            rd_kafka_message_destroy(m);
            got++;
        }
    }
    return got;
}

static ecm_producer *relay_producer(ecm_metrics *metrics)
{
    char err[512] = "";
    ecm_producer *p = ecm_producer_new(g_env.bootstraps, metrics, ecm_outbox_relay_delivery, NULL,
                                       err, sizeof err);
    if (!p)
        fail_msg("producer: %s", err);
    return p;
}

static void wait_published(ecm_outbox_relay *r, uint64_t n)
{
    int64_t until = ecm_now_ms() + WAIT_MS;
    while (ecm_outbox_relay_published(r) < n && ecm_now_ms() < until)
        sleep_ms(20);
    assert_int_equal(ecm_outbox_relay_published(r), n);
}

static void test_outbox_relay_publishes_committed_rows_once_in_id_order(void **state)
{
    (void)state;
    need_env();
    volatile sig_atomic_t stop = 0;
    ecm_metrics *metrics = ecm_metrics_new();
    ecm_pg *pg = ecm_pg_new(g_env.scratch_dsn, &stop);
    assert_int_equal(outbox_count(), 0);

    /* Outside a transaction the event would be committed alone: refused. */
    assert_int_equal(add_event(pg, "ob.events", 999, 0), -1);

    assert_int_equal(ecm_pg_begin(pg), 0);
    for (int64_t id = 1; id <= 20; id++)
        assert_int_equal(add_event(pg, "ob.events", id, 0), 0);
    assert_int_equal(ecm_pg_commit(pg), 0);

    /* A rolled-back transaction's events never existed. */
    assert_int_equal(ecm_pg_begin(pg), 0);
    for (int64_t id = 1001; id <= 1003; id++)
        assert_int_equal(add_event(pg, "ob.events", id, 0), 0);
    ecm_pg_rollback(pg);

    assert_int_equal(ecm_pg_begin(pg), 0);
    assert_int_equal(ecm_outbox_copy_begin(pg), 0);
    for (int64_t id = 21; id <= 35; id++)
        assert_int_equal(add_event(pg, "ob.events", id, 1), 0);
    assert_int_equal(ecm_outbox_copy_end(pg), 0);
    assert_int_equal(ecm_pg_commit(pg), 0);
    assert_int_equal(outbox_count(), 35);

    ecm_producer *p = relay_producer(metrics);
    ecm_outbox_relay *r = ecm_outbox_relay_start(g_env.scratch_dsn, p, metrics, 20, &stop);
    assert_non_null(r);
    ecm_consumer *c = new_consumer("g.ob.events", "ob.events");
    assert_int_equal(consume_in_order(c, 1, 35), 35);
    wait_published(r, 35);
    assert_int_equal(outbox_count(), 0);
    assert_int_equal(ecm_outbox_relay_healthy(r), 1);
    assert_true(ecm_metric_value(ecm_metrics_counter(metrics, "ecm_outbox_published_total", "x")) ==
                35.0);
    ecm_outbox_relay_stop(r, 5000);
    ecm_consumer_close(c);
    ecm_producer_destroy(p);
    ecm_pg_destroy(pg);
    ecm_metrics_destroy(metrics);
}

static void test_outbox_rows_wait_while_broker_is_down_then_publish(void **state)
{
    (void)state;
    need_env();
    volatile sig_atomic_t stop = 0;
    ecm_metrics *metrics = ecm_metrics_new();
    ecm_pg *pg = ecm_pg_new(g_env.scratch_dsn, &stop);
    assert_int_equal(outbox_count(), 0);
    ecm_producer *p = relay_producer(metrics);
    ecm_outbox_relay *r = ecm_outbox_relay_start(g_env.scratch_dsn, p, metrics, 20, &stop);
    assert_non_null(r);

    assert_int_equal(rd_kafka_mock_broker_set_down(g_env.mock, 1), 0);
    assert_int_equal(ecm_pg_begin(pg), 0);
    for (int64_t id = 1; id <= 5; id++)
        assert_int_equal(add_event(pg, "ob.down", id, 0), 0);
    assert_int_equal(ecm_pg_commit(pg), 0);
    sleep_ms(2500);
    assert_int_equal(outbox_count(), 5);
    assert_int_equal(ecm_outbox_relay_published(r), 0);

    assert_int_equal(rd_kafka_mock_broker_set_up(g_env.mock, 1), 0);
    wait_published(r, 5);
    assert_int_equal(outbox_count(), 0);
    ecm_consumer *c = new_consumer("g.ob.down", "ob.down");
    assert_int_equal(consume_in_order(c, 1, 5), 5);
    ecm_outbox_relay_stop(r, 5000);
    ecm_consumer_close(c);
    ecm_producer_destroy(p);
    ecm_pg_destroy(pg);
    ecm_metrics_destroy(metrics);
}

static void test_outbox_relay_stop_drains_waiting_rows(void **state)
{
    (void)state;
    need_env();
    volatile sig_atomic_t stop = 0;
    ecm_metrics *metrics = ecm_metrics_new();
    ecm_pg *pg = ecm_pg_new(g_env.scratch_dsn, &stop);
    assert_int_equal(outbox_count(), 0);
    ecm_producer *p = relay_producer(metrics);
    /* A long idle wait: only the stop can make it publish promptly. */
    ecm_outbox_relay *r = ecm_outbox_relay_start(g_env.scratch_dsn, p, metrics, 10000, &stop);
    assert_non_null(r);
    int64_t until = ecm_now_ms() + WAIT_MS;
    while (!ecm_outbox_relay_healthy(r) && ecm_now_ms() < until)
        sleep_ms(20);
    sleep_ms(200); /* the relay is asleep now */

    assert_int_equal(ecm_pg_begin(pg), 0);
    for (int64_t id = 1; id <= 10; id++)
        assert_int_equal(add_event(pg, "ob.drain", id, 0), 0);
    assert_int_equal(ecm_pg_commit(pg), 0);
    int64_t t0 = ecm_now_ms();
    ecm_outbox_relay_stop(r, 8000);
    assert_true(ecm_now_ms() - t0 < 8000);
    assert_int_equal(outbox_count(), 0);
    ecm_producer_destroy(p);

    ecm_consumer *c = new_consumer("g.ob.drain", "ob.drain");
    assert_int_equal(consume_in_order(c, 1, 10), 10);
    ecm_consumer_close(c);
    ecm_pg_destroy(pg);
    ecm_metrics_destroy(metrics);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbox_relay_publishes_committed_rows_once_in_id_order),
        cmocka_unit_test(test_outbox_rows_wait_while_broker_is_down_then_publish),
        cmocka_unit_test(test_outbox_relay_stop_drains_waiting_rows),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

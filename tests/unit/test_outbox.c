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

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_kafka.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_migrate.h"
#include "ecm_outbox.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"
#include "ecm_uuid.h"

#define WAIT_MS 30000

typedef struct {
    ecm_test_db *db;
    ecm_test_kafka kafka;
} outbox_env;

static outbox_env g_env;

static int group_setup(void **state)
{
    (void)state;
    ecm_test_log_init("test_outbox", ECM_LOG_ERROR);
    g_env.db = ecm_test_db_new_migrated("ecm_test_outbox");
    if (!g_env.db)
        return 0; /* every test skips */
    const char *topics[] = {"ob.events",  "ob.down", "ob.drain", "ob.wake",
                            "ob.standby", "ob.late", "ob.dead",  "ob.pages"};
    if (ecm_test_kafka_start(&g_env.kafka, topics, sizeof topics / sizeof topics[0]) != 0)
        return -1;
    /* Reconnect quickly after the fault test brings the broker back. */
    setenv("ECM_KAFKA_RECONNECT_BACKOFF_MAX_MS", "500", 1);
    setenv("ECM_KAFKA_SESSION_TIMEOUT_MS", "3000", 1);
    setenv("ECM_KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ecm_test_kafka_stop(&g_env.kafka);
    (void)ecm_test_db_destroy(g_env.db);
    g_env.db = NULL;
    return 0;
}

static long long outbox_count(void)
{
    PGconn *c = ecm_test_pg_connect(g_env.db->dsn);
    long long n = ecm_test_pg_int(c, "SELECT count(*) FROM outbox");
    PQfinish(c);
    return n;
}

/* Adds the event of one contact; copy selects the COPY path. */
static int add_event(ecm_pg *pg, const char *topic, int64_t contact_id, int copy)
{
    Ecm__V1__ContactRetry m = ECM__V1__CONTACT_RETRY__INIT;
    char id[ECM_UUID_LEN];
    char key[24];
    ecm_uuid_new(id);
    m.event_id = id;
    m.occurred_at = ecm_clock_wall_ms();
    m.campaign_id = 9;
    m.contact_id = contact_id;
    m.attempt = 1;
    snprintf(key, sizeof key, "%lld", (long long)contact_id);
    if (copy)
        return ecm_outbox_copy_add(pg, topic, key, "/ecm/test", id, m.occurred_at, &m.base);
    return ecm_outbox_add(pg, topic, key, "/ecm/test", id, m.occurred_at, &m.base);
}

/* Consumes until want messages arrived (or WAIT_MS); checks each carries
 * its CloudEvents headers and that contact ids come in order first..; a
 * message past want fails the test. Returns the count. */
static size_t consume_in_order(ecm_kafka_consumer *c, int64_t first, size_t want)
{
    rd_kafka_message_t *msgs[64];
    size_t got = 0;
    int64_t until = ecm_clock_wall_ms() + WAIT_MS;
    int64_t quiet_until = 0;
    for (;;) {
        int64_t now = ecm_clock_wall_ms();
        if (got < want && now >= until)
            break;
        if (got >= want) {
            if (!quiet_until)
                quiet_until = now + 1000; /* any duplicate would show up now */
            if (now >= quiet_until)
                break;
        }
        size_t n = ecm_kafka_consumer_poll_batch(c, msgs, 64, 200, 0);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            Ecm__V1__ContactRetry *ev =
                ecm__v1__contact_retry__unpack(NULL, m->len, (const uint8_t *)m->payload);
            assert_non_null(ev);
            assert_true(got < want);
            assert_int_equal(ev->contact_id, first + (int64_t)got);
            char buf[64];
            assert_int_equal(ecm_kafka_header(m, "ce_id", buf, sizeof buf), 0);
            assert_string_equal(buf, ev->event_id);
            assert_int_equal(ecm_kafka_header(m, "ce_type", buf, sizeof buf), 0);
            assert_string_equal(buf, "ecm.v1.ContactRetry");
            assert_int_equal(ecm_kafka_header(m, "ce_source", buf, sizeof buf), 0);
            assert_string_equal(buf, "/ecm/test");
            assert_int_equal(ecm_kafka_header(m, "ce_specversion", buf, sizeof buf), 0);
            assert_string_equal(buf, "1.0");
            assert_int_equal(ecm_kafka_header(m, "content-type", buf, sizeof buf), 0);
            assert_string_equal(buf, "application/protobuf");
            char want_time[40];
            ecm_clock_format_ms(ev->occurred_at, want_time, sizeof want_time);
            assert_int_equal(ecm_kafka_header(m, "ce_time", buf, sizeof buf), 0);
            assert_string_equal(buf, want_time);
            char key[24];
            snprintf(key, sizeof key, "%lld", (long long)ev->contact_id);
            assert_int_equal(m->key_len, strlen(key));
            assert_memory_equal(m->key, key, strlen(key));
            ecm__v1__contact_retry__free_unpacked(ev, NULL);
            rd_kafka_message_destroy(m);
            got++;
        }
    }
    return got;
}

/* Adds events first..last of topic to the outbox in one committed
 * transaction. */
static void commit_events(ecm_pg *pg, const char *topic, int64_t first, int64_t last)
{
    assert_int_equal(ecm_pg_begin(pg), 0);
    for (int64_t id = first; id <= last; id++)
        assert_int_equal(add_event(pg, topic, id, 0), 0);
    assert_int_equal(ecm_pg_commit(pg), 0);
}

static ecm_kafka_producer *relay_producer(ecm_metrics *metrics)
{
    char err[512] = "";
    ecm_kafka_producer *p = ecm_kafka_producer_new(
        g_env.kafka.bootstraps, metrics, ecm_outbox_relay_delivery, NULL, err, sizeof err);
    if (!p)
        fail_msg("producer: %s", err);
    return p;
}

static void wait_published(ecm_outbox_relay *r, uint64_t n)
{
    int64_t until = ecm_clock_wall_ms() + WAIT_MS;
    while (ecm_outbox_relay_published(r) < n && ecm_clock_wall_ms() < until)
        ecm_test_sleep_ms(20);
    assert_int_equal(ecm_outbox_relay_published(r), n);
}

/* What a relay test holds: its stop flag, metrics, a writer's pool, the
 * relay's producer, and the relay and a consumer once made (NULL until
 * then); relay_fixture_close() stops and frees whatever is there. */
typedef struct {
    volatile sig_atomic_t stop;
    ecm_metrics *metrics;
    ecm_pg *pg;
    ecm_kafka_producer *producer;
    ecm_outbox_relay *relay;
    ecm_kafka_consumer *consumer;
} relay_fixture;

/* Opens a fixture on the empty outbox. */
static void relay_fixture_open(relay_fixture *f)
{
    memset(f, 0, sizeof *f);
    f->metrics = ecm_metrics_new();
    f->pg = ecm_pg_new(g_env.db->dsn, &f->stop);
    assert_int_equal(outbox_count(), 0);
    f->producer = relay_producer(f->metrics);
}

static void relay_fixture_start(relay_fixture *f, int poll_ms)
{
    f->relay = ecm_outbox_relay_start(g_env.db->dsn, f->producer, f->metrics, poll_ms, &f->stop);
    assert_non_null(f->relay);
}

/* Starts a relay and returns once it has scanned the empty outbox and is
 * idle, waiting up to poll_ms. */
static void relay_fixture_start_idle(relay_fixture *f, int poll_ms)
{
    relay_fixture_start(f, poll_ms);
    int64_t until = ecm_clock_wall_ms() + WAIT_MS;
    while (!ecm_outbox_relay_healthy(f->relay) && ecm_clock_wall_ms() < until)
        ecm_test_sleep_ms(20);
    ecm_test_sleep_ms(300);
}

/* A consumer of topic from its start, in group "g.<topic>". */
static void relay_fixture_consume(relay_fixture *f, const char *topic)
{
    char group[64];
    snprintf(group, sizeof group, "g.%s", topic);
    f->consumer = ecm_test_kafka_consumer(&g_env.kafka, NULL, group, topic, "ob.dlq");
}

static void relay_fixture_close(relay_fixture *f)
{
    if (f->relay)
        ecm_outbox_relay_stop(f->relay, 5000);
    if (f->consumer)
        ecm_kafka_consumer_destroy(f->consumer);
    ecm_kafka_producer_destroy(f->producer);
    ecm_pg_destroy(f->pg);
    ecm_metrics_destroy(f->metrics);
}

static void test_outbox_relay_publishes_committed_rows_once_in_id_order(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    relay_fixture f;
    relay_fixture_open(&f);

    /* Outside a transaction the event would be committed alone: refused. */
    assert_int_equal(add_event(f.pg, "ob.events", 999, 0), -1);

    commit_events(f.pg, "ob.events", 1, 20);

    /* A rolled-back transaction's events never existed. */
    assert_int_equal(ecm_pg_begin(f.pg), 0);
    for (int64_t id = 1001; id <= 1003; id++)
        assert_int_equal(add_event(f.pg, "ob.events", id, 0), 0);
    ecm_pg_rollback(f.pg);

    assert_int_equal(ecm_pg_begin(f.pg), 0);
    assert_int_equal(ecm_outbox_copy_begin(f.pg), 0);
    for (int64_t id = 21; id <= 35; id++)
        assert_int_equal(add_event(f.pg, "ob.events", id, 1), 0);
    assert_int_equal(ecm_outbox_copy_end(f.pg), 0);
    assert_int_equal(ecm_pg_commit(f.pg), 0);
    assert_int_equal(outbox_count(), 35);

    relay_fixture_start(&f, 20);
    relay_fixture_consume(&f, "ob.events");
    assert_int_equal(consume_in_order(f.consumer, 1, 35), 35);
    wait_published(f.relay, 35);
    assert_int_equal(outbox_count(), 0);
    assert_int_equal(ecm_outbox_relay_healthy(f.relay), 1);
    assert_true(ecm_metric_value(
                    ecm_metrics_counter(f.metrics, "ecm_outbox_published_total", "x")) == 35.0);
    /* Each scan that published rows timed its wait for the acks and itself. */
    const double bound = 1.0;
    double scans = ecm_metric_value(
        ecm_metrics_histogram(f.metrics, "ecm_outbox_scan_seconds", "x", &bound, 1));
    assert_true(scans >= 1.0);
    assert_true(ecm_metric_value(ecm_metrics_histogram(f.metrics, "ecm_outbox_ack_wait_seconds",
                                                       "x", &bound, 1)) == scans);
    relay_fixture_close(&f);
}

/* 4,500 committed rows: a scan reads and sends up to four pages of 1,000
 * before it waits for their acks, so two scans publish them all (one page a
 * scan took five), once each, in id order. */
static void test_outbox_relay_sends_pages_before_waiting_for_acks(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    relay_fixture f;
    relay_fixture_open(&f);
    commit_events(f.pg, "ob.pages", 1, 4500);

    relay_fixture_start(&f, 20);
    relay_fixture_consume(&f, "ob.pages");
    assert_int_equal(consume_in_order(f.consumer, 1, 4500), 4500);
    wait_published(f.relay, 4500);
    assert_int_equal(outbox_count(), 0);
    const double bound = 1.0;
    assert_true(ecm_metric_value(ecm_metrics_histogram(f.metrics, "ecm_outbox_scan_seconds", "x",
                                                       &bound, 1)) == 2.0);
    relay_fixture_close(&f);
}

static void test_outbox_rows_wait_while_broker_is_down_then_publish(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    relay_fixture f;
    relay_fixture_open(&f);
    relay_fixture_start(&f, 20);

    assert_int_equal(rd_kafka_mock_broker_set_down(g_env.kafka.mock, 1), 0);
    commit_events(f.pg, "ob.down", 1, 5);
    ecm_test_sleep_ms(2500);
    assert_int_equal(outbox_count(), 5);
    assert_int_equal(ecm_outbox_relay_published(f.relay), 0);

    assert_int_equal(rd_kafka_mock_broker_set_up(g_env.kafka.mock, 1), 0);
    wait_published(f.relay, 5);
    assert_int_equal(outbox_count(), 0);
    relay_fixture_consume(&f, "ob.down");
    assert_int_equal(consume_in_order(f.consumer, 1, 5), 5);
    relay_fixture_close(&f);
}

static void test_outbox_relay_stop_drains_waiting_rows(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    relay_fixture f;
    relay_fixture_open(&f);
    /* A long idle wait and no notification (the trigger is off, as where
     * LISTEN is unavailable): only the stop can make it publish promptly. */
    PGconn *admin = ecm_test_pg_connect(g_env.db->dsn);
    ecm_test_pg_exec(admin, "ALTER TABLE outbox DISABLE TRIGGER outbox_notify");
    relay_fixture_start_idle(&f, 10000);

    commit_events(f.pg, "ob.drain", 1, 10);
    int64_t t0 = ecm_clock_wall_ms();
    ecm_outbox_relay_stop(f.relay, 8000);
    f.relay = NULL;
    assert_true(ecm_clock_wall_ms() - t0 < 8000);
    assert_int_equal(outbox_count(), 0);

    relay_fixture_consume(&f, "ob.drain");
    assert_int_equal(consume_in_order(f.consumer, 1, 10), 10);
    ecm_test_pg_exec(admin, "ALTER TABLE outbox ENABLE TRIGGER outbox_notify");
    PQfinish(admin);
    relay_fixture_close(&f);
}

/* An idle relay waits on the outbox's notification, not on its poll: rows
 * committed while it sleeps a minute go out at once. */
static void test_outbox_idle_relay_wakes_on_commit(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    relay_fixture f;
    relay_fixture_open(&f);
    relay_fixture_start_idle(&f, 60000);

    relay_fixture_consume(&f, "ob.wake");
    int64_t t0 = ecm_clock_wall_ms();
    commit_events(f.pg, "ob.wake", 1, 5);
    /* Well inside the minute the poll would take. */
    while (ecm_outbox_relay_published(f.relay) < 5 && ecm_clock_wall_ms() - t0 < 30000)
        ecm_test_sleep_ms(20);
    assert_int_equal(ecm_outbox_relay_published(f.relay), 5);
    assert_int_equal(consume_in_order(f.consumer, 1, 5), 5);
    assert_int_equal(outbox_count(), 0);
    relay_fixture_close(&f);
}

static double standby_count(ecm_metrics *metrics)
{
    return ecm_metric_value(ecm_metrics_counter(metrics, "ecm_outbox_standby_total", "x"));
}

/* A connection holding the outbox's lock, as a relay draining it does. */
static PGconn *hold_outbox_lock(void)
{
    PGconn *c = ecm_test_pg_connect(g_env.db->dsn);
    ecm_test_pg_exec(c, "BEGIN");
    PQclear(
        ecm_test_pg_query(c, "SELECT pg_advisory_xact_lock(%lld)", (long long)ECM_OUTBOX_LOCK_KEY));
    return c;
}

/* While another relay holds the outbox, a relay stands by for its poll
 * instead of trying the lock again on every commit's notification; once
 * the holder is gone, it takes over without a notification. */
static void test_outbox_relay_stands_by_while_another_drains(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    relay_fixture f;
    relay_fixture_open(&f);
    PGconn *holder = hold_outbox_lock();
    relay_fixture_start(&f, 3000);
    int64_t until = ecm_clock_wall_ms() + WAIT_MS;
    while (standby_count(f.metrics) < 1 && ecm_clock_wall_ms() < until)
        ecm_test_sleep_ms(10);
    double base = standby_count(f.metrics);
    assert_true(base >= 1);

    /* Ten commits, ten notifications, well inside the 3 s standby: no new
     * try (a run slower than that proves nothing and asserts nothing). */
    int64_t t0 = ecm_clock_wall_ms();
    for (int64_t id = 1; id <= 10; id++)
        commit_events(f.pg, "ob.standby", id, id);
    ecm_test_sleep_ms(200);
    if (ecm_clock_wall_ms() - t0 < 1000)
        assert_true(standby_count(f.metrics) == base);
    assert_int_equal(ecm_outbox_relay_published(f.relay), 0);
    assert_int_equal(outbox_count(), 10);

    ecm_test_pg_exec(holder, "COMMIT");
    PQfinish(holder);
    wait_published(f.relay, 10);
    assert_int_equal(outbox_count(), 0);
    relay_fixture_consume(&f, "ob.standby");
    assert_int_equal(consume_in_order(f.consumer, 1, 10), 10);
    relay_fixture_close(&f);
}

/* Waits until the relay's floor reaches at least id; returns the floor. */
static int64_t wait_floor(ecm_outbox_relay *r, int64_t id)
{
    int64_t until = ecm_clock_wall_ms() + WAIT_MS;
    while (ecm_outbox_relay_floor(r) < id && ecm_clock_wall_ms() < until)
        ecm_test_sleep_ms(20);
    return ecm_outbox_relay_floor(r);
}

/* Waits until the backend pid waits for an advisory lock. */
static void wait_advisory_waiter(PGconn *c, int pid)
{
    int64_t until = ecm_clock_wall_ms() + WAIT_MS;
    while (ecm_test_pg_int(c,
                           "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT "
                           "granted AND pid = %d",
                           pid) == 0 &&
           ecm_clock_wall_ms() < until)
        ecm_test_sleep_ms(20);
}

/* Writer a draws the lower id, then waits inside its INSERT (a BEFORE
 * trigger blocked on an advisory lock), before it has a transaction id;
 * writer b draws the next id and commits. The relay publishes b's row and
 * must still publish a's once a commits: a cursor past the highest id read
 * would skip it, and so would a bound from pg_snapshot_xmin(), which a
 * writer without an xid does not hold back. */
static void test_outbox_relay_delivers_lower_id_committed_after_higher(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    relay_fixture f;
    relay_fixture_open(&f);
    PGconn *admin = ecm_test_pg_connect(g_env.db->dsn);
    ecm_test_pg_exec(admin, "CREATE FUNCTION ob_test_gate() RETURNS trigger LANGUAGE plpgsql AS "
                            "$$ BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; "
                            "END $$");
    ecm_test_pg_exec(admin, "CREATE TRIGGER ob_test_gate BEFORE INSERT ON outbox FOR EACH ROW "
                            "WHEN (NEW.msg_key = 'gated') EXECUTE FUNCTION ob_test_gate()");
    ecm_test_pg_exec(admin, "SELECT pg_advisory_lock(4242)");
    relay_fixture_start_idle(&f, 20);

    PGconn *a = ecm_test_pg_connect(g_env.db->dsn);
    /* A nextval() that has to WAL-log the sequence (its first after a
     * checkpoint, or every 32nd) gives its transaction an xid; other tests'
     * DROP DATABASE checkpoints the shared server at any time. One drawn
     * here, in its own transaction, logs ahead, so that a's INSERT below
     * draws an id without an xid unless a checkpoint falls in between. */
    ecm_test_pg_exec(a, "SELECT nextval('outbox_id_seq')");
    ecm_test_pg_exec(a, "BEGIN");
    assert_int_equal(PQsendQuery(a, "INSERT INTO outbox (topic, msg_key, ce_id, ce_type, "
                                    "ce_source, payload) VALUES ('ob.late', 'gated', "
                                    "gen_random_uuid(), 'ecm.v1.ContactRetry', '/ecm/test', "
                                    "'\\x0801')"),
                     1);
    wait_advisory_waiter(admin, PQbackendPID(a));
    assert_int_equal(ecm_test_pg_int(admin,
                                     "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND "
                                     "backend_xid IS NULL",
                                     PQbackendPID(a)),
                     1);
    long long id_a = ecm_test_pg_int(admin, "SELECT last_value FROM outbox_id_seq");

    commit_events(f.pg, "ob.late", 2, 2);
    wait_published(f.relay, 1);
    assert_int_equal(outbox_count(), 0);
    assert_true(ecm_outbox_relay_floor(f.relay) < id_a);

    ecm_test_pg_exec(admin, "SELECT pg_advisory_unlock(4242)");
    PGresult *res;
    while ((res = PQgetResult(a)) != NULL) {
        assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
        PQclear(res);
    }
    ecm_test_pg_exec(a, "COMMIT");
    PQfinish(a);
    wait_published(f.relay, 2);
    assert_int_equal(outbox_count(), 0);
    assert_true(wait_floor(f.relay, id_a + 1) >= id_a + 1);

    ecm_outbox_relay_stop(f.relay, 5000);
    f.relay = NULL;
    ecm_test_pg_exec(admin, "DROP TRIGGER ob_test_gate ON outbox");
    ecm_test_pg_exec(admin, "DROP FUNCTION ob_test_gate()");
    PQfinish(admin);
    relay_fixture_close(&f);
}

static double horizon_reads(const relay_fixture *f)
{
    return ecm_metric_value(ecm_metrics_counter(f->metrics, "ecm_outbox_horizon_reads_total", "x"));
}

/* Commits one after another leave no gap in the ids: the floor follows the
 * rows the relay deleted without reading pg_locks again after its first
 * scan. An id no row will ever have (its writer rolled back) holds the
 * floor until the relay reads the horizon, which then steps over it. */
static void test_outbox_relay_floor_follows_its_rows_and_steps_over_gaps(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    relay_fixture f;
    relay_fixture_open(&f);
    relay_fixture_start_idle(&f, 20);
    double first = horizon_reads(&f);
    assert_true(first >= 1.0);

    PGconn *c = ecm_test_pg_connect(g_env.db->dsn);
    for (int i = 0; i < 10; i++) {
        commit_events(f.pg, "ob.follow", 10 * i + 1, 10 * i + 10);
        wait_published(f.relay, (uint64_t)(10 * i + 10));
    }
    long long last = ecm_test_pg_int(c, "SELECT last_value FROM outbox_id_seq");
    assert_true(wait_floor(f.relay, last) >= last);
    assert_true(horizon_reads(&f) == first);

    ecm_test_pg_exec(c, "BEGIN");
    ecm_test_pg_exec(c, "INSERT INTO outbox (topic, msg_key, ce_id, ce_type, ce_source, payload) "
                        "VALUES ('ob.follow', 'aborted', gen_random_uuid(), "
                        "'ecm.v1.ContactRetry', '/ecm/test', '\\x0801')");
    ecm_test_pg_exec(c, "ROLLBACK");
    long long aborted = ecm_test_pg_int(c, "SELECT last_value FROM outbox_id_seq");
    commit_events(f.pg, "ob.follow", 101, 110);
    wait_published(f.relay, 110);
    last = ecm_test_pg_int(c, "SELECT last_value FROM outbox_id_seq");
    assert_true(last > aborted);
    assert_true(wait_floor(f.relay, last) >= last);
    assert_true(horizon_reads(&f) > first);
    assert_int_equal(outbox_count(), 0);
    PQfinish(c);
    relay_fixture_close(&f);
}

/* After a failover to a server whose sequence is behind the ids the relay
 * saw (a replica that had not received them, a restore), ids at or below
 * the relay's floor are handed out again: a new session starts the floor
 * again, so their rows are published. Played here by rewinding the
 * sequence and ending every other session of the database. */
static void test_outbox_relay_floor_starts_again_on_a_new_session(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    relay_fixture f;
    relay_fixture_open(&f);
    relay_fixture_start_idle(&f, 20);
    commit_events(f.pg, "ob.failover", 1, 10);
    wait_published(f.relay, 10);
    PGconn *c = ecm_test_pg_connect(g_env.db->dsn);
    long long last = ecm_test_pg_int(c, "SELECT last_value FROM outbox_id_seq");
    assert_true(wait_floor(f.relay, last) >= last);

    ecm_test_pg_exec(c, "ALTER SEQUENCE outbox_id_seq RESTART WITH %lld", last - 4);
    assert_true(ecm_test_pg_int(c, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
                                   "pg_stat_activity WHERE datname = current_database() AND "
                                   "pid <> pg_backend_pid()) t") >= 1);
    /* A writer of its own: the fixture's lost its session too. */
    ecm_pg *w = ecm_pg_new(g_env.db->dsn, NULL);
    commit_events(w, "ob.failover", 11, 15);
    ecm_pg_destroy(w);
    assert_true(ecm_test_pg_int(c, "SELECT last_value FROM outbox_id_seq") <= last);
    wait_published(f.relay, 15);
    assert_int_equal(outbox_count(), 0);
    PQfinish(c);
    relay_fixture_close(&f);
}

/* Shared buffers (hit + read) that EXPLAIN ANALYZE counts for the query. */
static long long explain_buffers(PGconn *c, const char *query)
{
    char *plan = ecm_test_pg_text(c, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) %s", query);
    const char *params[1] = {plan};
    PGresult *res = PQexecParams(c,
                                 "SELECT (p->>'Shared Hit Blocks')::bigint + "
                                 "(p->>'Shared Read Blocks')::bigint FROM "
                                 "(SELECT $1::json->0->'Plan' AS p) s",
                                 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    long long n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    free(plan);
    return n;
}

/* Under a snapshot older than the deletes (vacuum can remove nothing, a
 * scan can mark no index entry dead: the worst case, as under a long
 * transaction), the relay publishes and deletes 20,000 rows; its floor
 * then passes them, so its read touches a few buffers where a read from
 * the lowest id touches every leaf page of their index entries. */
static void test_outbox_relay_reads_above_the_rows_it_deleted(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    relay_fixture f;
    relay_fixture_open(&f);
    PGconn *holder = ecm_test_pg_connect(g_env.db->dsn);
    ecm_test_pg_exec(holder, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    ecm_test_pg_exec(holder, "SELECT 1");
    PGconn *c = ecm_test_pg_connect(g_env.db->dsn);
    ecm_test_pg_exec(c, "INSERT INTO outbox (topic, msg_key, ce_id, ce_type, ce_source, payload) "
                        "SELECT 'ob.dead', g::text, gen_random_uuid(), 'ecm.v1.ContactRetry', "
                        "'/ecm/test', '\\x0801' FROM generate_series(1, 20000) g");
    long long last = ecm_test_pg_int(c, "SELECT last_value FROM outbox_id_seq");
    relay_fixture_start(&f, 20);
    wait_published(f.relay, 20000);
    assert_int_equal(outbox_count(), 0);
    int64_t floor = wait_floor(f.relay, last);
    assert_true(floor >= last);

    char from_floor[160];
    snprintf(from_floor, sizeof from_floor,
             "SELECT id FROM outbox WHERE id > (SELECT %lld::bigint) ORDER BY id LIMIT 1000",
             (long long)floor);
    long long at_floor = explain_buffers(c, from_floor);
    long long at_head = explain_buffers(c, "SELECT id FROM outbox ORDER BY id LIMIT 1000");
    /* A leaf page of the primary key holds at most about 400 entries: the
     * 20,000 dead ones span 50 pages or more (343 buffers with the heap
     * pages when written); the read from the floor is a descent, 5. */
    assert_true(at_floor < 20);
    assert_true(at_head >= 50);
    assert_true(at_head > 10 * at_floor);

    ecm_outbox_relay_stop(f.relay, 5000);
    f.relay = NULL;
    ecm_test_pg_exec(holder, "ROLLBACK");
    PQfinish(holder);
    PQfinish(c);
    relay_fixture_close(&f);
}

/* Unpacks the ContactClosed of contact key on topic "ob.closed" and checks
 * its CloudEvents type, ids and what it tells; returns its occurred_at. */
static int64_t check_closed(PGconn *c, long long key, long long campaign_id, int attempts,
                            Ecm__V1__Outcome outcome)
{
    size_t len;
    char ce_type[64];
    unsigned char *bytes =
        ecm_test_outbox_payload(c, "ob.closed", key, &len, ce_type, sizeof ce_type);
    assert_string_equal(ce_type, "ecm.v1.ContactClosed");
    Ecm__V1__ContactClosed *ev = ecm__v1__contact_closed__unpack(NULL, len, bytes);
    PQfreemem(bytes);
    assert_non_null(ev);
    assert_int_equal(ev->contact_id, key);
    assert_int_equal(ev->campaign_id, campaign_id);
    assert_int_equal(ev->attempts, attempts);
    assert_int_equal(ev->outcome, outcome);
    assert_int_equal(strlen(ev->event_id), ECM_UUID_LEN - 1);
    assert_int_equal(ecm_test_pg_int(c,
                                     "SELECT count(*) FROM outbox WHERE msg_key = '%lld' AND "
                                     "ce_id = '%s' AND ce_source = '/ecm/test'",
                                     key, ev->event_id),
                     1);
    int64_t at = ev->occurred_at;
    ecm__v1__contact_closed__free_unpacked(ev, NULL);
    return at;
}

static void test_outbox_contact_closed_both_ways(void **state)
{
    (void)state;
    ecm_test_need(g_env.db);
    volatile sig_atomic_t stop = 0;
    ecm_pg *pg = ecm_pg_new(g_env.db->dsn, &stop);
    int64_t t0 = ecm_clock_wall_ms();
    assert_int_equal(ecm_pg_begin(pg), 0);
    const ecm_outbox_closed now = {.campaign_id = 7,
                                   .contact_id = 41,
                                   .attempts = 3,
                                   .outcome = ECM__V1__OUTCOME__OUTCOME_DNC};
    assert_int_equal(ecm_outbox_add_closed(pg, "ob.closed", "/ecm/test", &now), 0);
    assert_int_equal(ecm_outbox_copy_begin(pg), 0);
    const ecm_outbox_closed given = {.campaign_id = 8,
                                     .contact_id = 42,
                                     .attempts = 0,
                                     .outcome = ECM__V1__OUTCOME__OUTCOME_EXPIRED,
                                     .occurred_at_ms = 1234567};
    assert_int_equal(ecm_outbox_copy_add_closed(pg, "ob.closed", "/ecm/test", &given), 0);
    assert_int_equal(ecm_outbox_copy_end(pg), 0);
    assert_int_equal(ecm_pg_commit(pg), 0);
    int64_t t1 = ecm_clock_wall_ms();

    PGconn *c = ecm_test_pg_connect(g_env.db->dsn);
    int64_t at = check_closed(c, 41, 7, 3, ECM__V1__OUTCOME__OUTCOME_DNC);
    assert_true(at >= t0 && at <= t1);
    assert_int_equal(check_closed(c, 42, 8, 0, ECM__V1__OUTCOME__OUTCOME_EXPIRED), 1234567);
    ecm_test_pg_exec(c, "DELETE FROM outbox WHERE topic = 'ob.closed'");
    PQfinish(c);
    ecm_pg_destroy(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbox_relay_publishes_committed_rows_once_in_id_order),
        cmocka_unit_test(test_outbox_relay_sends_pages_before_waiting_for_acks),
        cmocka_unit_test(test_outbox_rows_wait_while_broker_is_down_then_publish),
        cmocka_unit_test(test_outbox_relay_stop_drains_waiting_rows),
        cmocka_unit_test(test_outbox_idle_relay_wakes_on_commit),
        cmocka_unit_test(test_outbox_relay_stands_by_while_another_drains),
        cmocka_unit_test(test_outbox_relay_delivers_lower_id_committed_after_higher),
        cmocka_unit_test(test_outbox_relay_floor_follows_its_rows_and_steps_over_gaps),
        cmocka_unit_test(test_outbox_relay_floor_starts_again_on_a_new_session),
        cmocka_unit_test(test_outbox_relay_reads_above_the_rows_it_deleted),
        cmocka_unit_test(test_outbox_contact_closed_both_ways),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

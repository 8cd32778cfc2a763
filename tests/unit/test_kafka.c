/* ecm_kafka against librdkafka's in-process mock cluster. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ecm_clock.h"
#include "ecm_kafka.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_test_support.h"

#define WAIT_MS 20000

static ecm_test_kafka g_mock;

static int group_setup(void **state)
{
    (void)state;
    ecm_test_log_init("test_kafka", ECM_LOG_ERROR);
    const char *topics[] = {"t.headers", "t.resume", "t.dl.in", "t.dl.out",
                            "t.lag",     "t.gone",   "t.close", "t.linger"};
    return ecm_test_kafka_start(&g_mock, topics, sizeof topics / sizeof topics[0]);
}

static int group_teardown(void **state)
{
    (void)state;
    ecm_test_kafka_stop(&g_mock);
    return 0;
}

typedef struct {
    int reports;
    void *last_opaque;
    rd_kafka_resp_err_t last_err;
} dr_seen;

static void record_dr(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    dr_seen *s = ctx;
    s->reports++;
    s->last_opaque = opaque;
    s->last_err = err;
}

/* Polls until want messages are in or WAIT_MS passes; returns the count. */
static size_t consume(ecm_kafka_consumer *c, rd_kafka_message_t **msgs, size_t want)
{
    size_t n = 0;
    int64_t until = ecm_clock_wall_ms() + WAIT_MS;
    while (n < want && ecm_clock_wall_ms() < until)
        n += ecm_kafka_consumer_poll_batch(c, msgs + n, want - n, 200, 0);
    return n;
}

static void destroy_msgs(rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rd_kafka_message_destroy(msgs[i]);
}

static void produce_plain(ecm_kafka_producer *p, const char *topic, const char *key,
                          const char *value, const char *id)
{
    ecm_kafka_ce ce = {.id = id, .type = "ecm.v1.Test", .source = "/ecm/test", .time_ms = 0};
    assert_int_equal(ecm_kafka_producer_send(p, topic, key, value, strlen(value), &ce, NULL), 0);
}

static void assert_header(const rd_kafka_message_t *m, const char *name, const char *want)
{
    char buf[256];
    if (ecm_kafka_header(m, name, buf, sizeof buf) != 0)
        fail_msg("header %s missing", name);
    assert_string_equal(buf, want);
}

static double metric(ecm_metrics *m, const char *name)
{
    return ecm_metric_value(ecm_metrics_counter(m, name, "x"));
}

static void test_producer_puts_cloudevents_headers_and_key_on_message(void **state)
{
    (void)state;
    char err[512] = "";
    dr_seen seen = {0};
    ecm_metrics *m = ecm_metrics_new();
    ecm_kafka_producer *p =
        ecm_kafka_producer_new(g_mock.bootstraps, m, record_dr, &seen, err, sizeof err);
    assert_non_null(p);

    int tag = 7;
    const int64_t when = 1795493627123; /* 2026-11-24T04:13:47.123Z */
    ecm_kafka_ce ce = {.id = "6f1c1d52-2b7e-4c1e-9a53-8d5f1f0e9a01",
                       .type = "ecm.v1.ContactsUploaded",
                       .source = "/ecm/gateway",
                       .time_ms = when};
    assert_int_equal(
        ecm_kafka_producer_send(p, "t.headers", "4242", "\x01\x02\x00\x03", 4, &ce, &tag), 0);
    assert_int_equal(ecm_kafka_producer_flush(p, 10000), 0);
    assert_int_equal(seen.reports, 1);
    assert_ptr_equal(seen.last_opaque, &tag);
    assert_int_equal(seen.last_err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(metric(m, "ecm_events_out_total{topic=\"t.headers\"}") == 1.0);
    assert_int_equal(ecm_kafka_producer_reachable(p, 5000), 1);

    ecm_kafka_consumer *c =
        ecm_test_kafka_consumer(&g_mock, m, "g.headers", "t.headers", "t.dl.out");
    rd_kafka_message_t *msgs[4];
    size_t n = consume(c, msgs, 1);
    assert_int_equal(n, 1);
    char want_time[40];
    ecm_clock_format_ms(when, want_time, sizeof want_time);
    assert_string_equal(want_time, "2026-11-24T04:13:47.123Z");
    assert_header(msgs[0], "ce_specversion", "1.0");
    assert_header(msgs[0], "ce_id", ce.id);
    assert_header(msgs[0], "ce_type", "ecm.v1.ContactsUploaded");
    assert_header(msgs[0], "ce_source", "/ecm/gateway");
    assert_header(msgs[0], "ce_time", want_time);
    assert_header(msgs[0], "content-type", "application/protobuf");
    assert_int_equal(msgs[0]->key_len, 4);
    assert_memory_equal(msgs[0]->key, "4242", 4);
    assert_int_equal(msgs[0]->len, 4);
    assert_memory_equal(msgs[0]->payload, "\x01\x02\x00\x03", 4);
    char small[4];
    assert_int_equal(ecm_kafka_header(msgs[0], "ce_type", small, sizeof small), -1);
    assert_int_equal(ecm_kafka_header(msgs[0], "no-such-header", small, sizeof small), -1);
    assert_true(metric(m, "ecm_events_in_total{topic=\"t.headers\"}") == 1.0);
    assert_int_equal(ecm_kafka_consumer_reachable(c, 5000), 1);
    destroy_msgs(msgs, n);
    ecm_kafka_consumer_destroy(c);
    ecm_kafka_producer_destroy(p);
    ecm_metrics_destroy(m);
}

/* A producer on the mock cluster counting into m, without delivery
 * reports. */
static ecm_kafka_producer *plain_producer(ecm_metrics *m)
{
    char err[512] = "";
    ecm_kafka_producer *p =
        ecm_kafka_producer_new(g_mock.bootstraps, m, NULL, NULL, err, sizeof err);
    if (!p)
        fail_msg("producer: %s", err);
    return p;
}

static void test_consumer_resumes_right_after_the_stored_offset(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    ecm_kafka_producer *p = plain_producer(m);
    for (int i = 0; i < 10; i++) {
        char v[8];
        snprintf(v, sizeof v, "m%d", i);
        produce_plain(p, "t.resume", "k", v, "00000000-0000-4000-8000-000000000000");
    }
    assert_int_equal(ecm_kafka_producer_flush(p, 10000), 0);

    /* The mock coordinator waits a session timeout (less 1 s) after the
     * last member left before it lets a new one in: keep it short. */
    setenv("ECM_KAFKA_SESSION_TIMEOUT_MS", "3000", 1);
    setenv("ECM_KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
    rd_kafka_message_t *msgs[16];
    ecm_kafka_consumer *a = ecm_test_kafka_consumer(&g_mock, m, "g.resume", "t.resume", "t.dl.out");
    size_t n = consume(a, msgs, 10);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(msgs[i]->offset, (int64_t)i);
    /* Work on m0..m3 is durable; m4..m9 was not finished when we stopped. */
    ecm_kafka_consumer_store(a, msgs, 4);
    destroy_msgs(msgs, n);
    ecm_kafka_consumer_destroy(a);

    ecm_kafka_consumer *b = ecm_test_kafka_consumer(&g_mock, m, "g.resume", "t.resume", "t.dl.out");
    unsetenv("ECM_KAFKA_SESSION_TIMEOUT_MS");
    unsetenv("ECM_KAFKA_HEARTBEAT_INTERVAL_MS");
    n = consume(b, msgs, 6);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(msgs[i]->offset, (int64_t)(4 + i));
        char want[8];
        snprintf(want, sizeof want, "m%zu", 4 + i);
        assert_int_equal(msgs[i]->len, strlen(want));
        assert_memory_equal(msgs[i]->payload, want, strlen(want));
    }
    destroy_msgs(msgs, n);
    assert_int_equal(ecm_kafka_consumer_poll_batch(b, msgs, 16, 500, 0), 0);
    ecm_kafka_consumer_destroy(b);
    ecm_kafka_producer_destroy(p);
    ecm_metrics_destroy(m);
}

static void test_deadletter_republishes_message_with_reason_headers(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    ecm_kafka_producer *p = plain_producer(m);
    const char *id = "11111111-2222-4333-8444-555555555555";
    produce_plain(p, "t.dl.in", "77", "\xff\xfegarbage", id);
    assert_int_equal(ecm_kafka_producer_flush(p, 10000), 0);

    rd_kafka_message_t *msgs[4];
    ecm_kafka_consumer *c = ecm_test_kafka_consumer(&g_mock, m, "g.dl", "t.dl.in", "t.dl.out");
    size_t n = consume(c, msgs, 1);
    assert_int_equal(n, 1);
    assert_int_equal(ecm_kafka_consumer_deadletter(c, msgs[0], "protobuf decode failed"), 0);
    ecm_kafka_consumer_store(c, msgs, 1);
    destroy_msgs(msgs, n);
    assert_true(metric(m, "ecm_deadletter_total") == 1.0);
    ecm_kafka_consumer_destroy(c);

    ecm_kafka_consumer *check =
        ecm_test_kafka_consumer(&g_mock, m, "g.dl.check", "t.dl.out", "t.dl.none");
    n = consume(check, msgs, 1);
    assert_int_equal(n, 1);
    assert_int_equal(msgs[0]->key_len, 2);
    assert_memory_equal(msgs[0]->key, "77", 2);
    assert_int_equal(msgs[0]->len, 9);
    assert_memory_equal(msgs[0]->payload, "\xff\xfegarbage", 9);
    assert_header(msgs[0], ECM_DEADLETTER_REASON_HEADER, "protobuf decode failed");
    assert_header(msgs[0], "ecm_original_topic", "t.dl.in");
    assert_header(msgs[0], "ecm_original_partition", "0");
    assert_header(msgs[0], "ecm_original_offset", "0");
    assert_header(msgs[0], "ce_id", id);
    assert_header(msgs[0], "ce_type", "ecm.v1.Test");
    destroy_msgs(msgs, n);
    ecm_kafka_consumer_destroy(check);
    ecm_kafka_producer_destroy(p);
    ecm_metrics_destroy(m);
}

static void test_consumer_lag_gauge_sums_uncommitted_messages(void **state)
{
    (void)state;
    setenv("ECM_KAFKA_STATISTICS_INTERVAL_MS", "100", 1);
    setenv("ECM_KAFKA_AUTO_COMMIT_INTERVAL_MS", "100", 1);
    ecm_metrics *m = ecm_metrics_new();
    ecm_kafka_producer *p = plain_producer(m);
    for (int i = 0; i < 10; i++)
        produce_plain(p, "t.lag", "k", "v", "00000000-0000-4000-8000-000000000000");
    assert_int_equal(ecm_kafka_producer_flush(p, 10000), 0);

    ecm_kafka_consumer *c = ecm_test_kafka_consumer(&g_mock, m, "g.lag", "t.lag", "t.dl.out");
    unsetenv("ECM_KAFKA_STATISTICS_INTERVAL_MS");
    unsetenv("ECM_KAFKA_AUTO_COMMIT_INTERVAL_MS");
    rd_kafka_message_t *msgs[16];
    size_t n = consume(c, msgs, 10);
    assert_int_equal(n, 10);
    ecm_kafka_consumer_store(c, msgs, 4);
    destroy_msgs(msgs, n);
    ecm_metric *lag = ecm_metrics_gauge(m, "ecm_kafka_consumer_lag{group=\"g.lag\"}", "x");
    int64_t until = ecm_clock_wall_ms() + WAIT_MS;
    while (ecm_metric_value(lag) != 6.0 && ecm_clock_wall_ms() < until)
        assert_int_equal(ecm_kafka_consumer_poll_batch(c, msgs, 16, 100, 0), 0);
    assert_true(ecm_metric_value(lag) == 6.0);
    ecm_kafka_consumer_destroy(c);
    ecm_kafka_producer_destroy(p);
    ecm_metrics_destroy(m);
}

/* The lag read from librdkafka's statistics counts only the partitions the
 * consumer fetches, and is 0, not "unknown", when none reports one: a
 * replica that lost its partitions in a rebalance reports 0 instead of its
 * last figure. */
static void test_stats_lag_counts_assigned_partitions_and_zero_without_any(void **state)
{
    (void)state;
    static const char assigned[] =
        "{\"topics\":{\"a\":{\"partitions\":{"
        "\"0\":{\"fetch_state\":\"active\",\"consumer_lag\":5},"
        "\"1\":{\"fetch_state\":\"offset-query\",\"consumer_lag\":7},"
        "\"-1\":{\"fetch_state\":\"none\",\"consumer_lag\":3}}},"
        "\"b\":{\"partitions\":{\"0\":{\"fetch_state\":\"active\",\"consumer_lag\":1}}}}}";
    assert_int_equal(ecm_kafka_stats_consumer_lag(assigned, strlen(assigned)), 13);

    /* After the rebalance: the partitions are still listed with their last
     * offsets, but no longer fetched (partition 0 as librdkafka 2.0.2 lists
     * it after its revocation, seen on the mock cluster: its lag kept). */
    static const char revoked[] =
        "{\"topics\":{\"a\":{\"partitions\":{"
        "\"0\":{\"desired\":false,\"fetch_state\":\"stopped\",\"consumer_lag\":5},"
        "\"1\":{\"fetch_state\":\"none\",\"consumer_lag\":7},"
        "\"2\":{\"fetch_state\":\"stopping\",\"consumer_lag\":2}}}}}";
    assert_int_equal(ecm_kafka_stats_consumer_lag(revoked, strlen(revoked)), 0);

    static const char unknown[] = "{\"topics\":{\"a\":{\"partitions\":{"
                                  "\"0\":{\"fetch_state\":\"active\",\"consumer_lag\":-1}}}}}";
    assert_int_equal(ecm_kafka_stats_consumer_lag(unknown, strlen(unknown)), 0);

    static const char no_topics[] = "{\"name\":\"rdkafka#consumer-1\",\"topics\":{}}";
    assert_int_equal(ecm_kafka_stats_consumer_lag(no_topics, strlen(no_topics)), 0);

    static const char garbage[] = "{\"topics\":";
    assert_int_equal(ecm_kafka_stats_consumer_lag(garbage, strlen(garbage)), -1);
}

static void test_conf_from_env_maps_variable_names_to_properties(void **state)
{
    (void)state;
    char err[512] = "";
    char buf[64];
    size_t sz;
    setenv("ECM_KAFKA_SESSION_TIMEOUT_MS", "7000", 1);
    setenv("ECM_KAFKA_socket.keepalive.enable", "true", 1);
    setenv("ECM_KAFKA_BROKERS", "not-a-property-but-ignored", 1);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = ecm_kafka_conf_from_env(conf, err, sizeof err);
    unsetenv("ECM_KAFKA_SESSION_TIMEOUT_MS");
    unsetenv("ECM_KAFKA_socket.keepalive.enable");
    unsetenv("ECM_KAFKA_BROKERS");
    assert_int_equal(rc, 0);
    sz = sizeof buf;
    assert_int_equal(rd_kafka_conf_get(conf, "session.timeout.ms", buf, &sz), RD_KAFKA_CONF_OK);
    assert_string_equal(buf, "7000");
    sz = sizeof buf;
    assert_int_equal(rd_kafka_conf_get(conf, "socket.keepalive.enable", buf, &sz),
                     RD_KAFKA_CONF_OK);
    assert_string_equal(buf, "true");
    sz = sizeof buf;
    buf[0] = '\0';
    rd_kafka_conf_get(conf, "bootstrap.servers", buf, &sz);
    assert_null(strstr(buf, "not-a-property"));
    rd_kafka_conf_destroy(conf);
}

static void test_conf_from_env_error_names_the_variable(void **state)
{
    (void)state;
    char err[512] = "";
    setenv("ECM_KAFKA_NO_SUCH_PROPERTY", "1", 1);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = ecm_kafka_conf_from_env(conf, err, sizeof err);
    unsetenv("ECM_KAFKA_NO_SUCH_PROPERTY");
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "ECM_KAFKA_NO_SUCH_PROPERTY"));

    err[0] = '\0';
    setenv("ECM_KAFKA_SESSION_TIMEOUT_MS", "soon", 1);
    rc = ecm_kafka_conf_from_env(conf, err, sizeof err);
    unsetenv("ECM_KAFKA_SESSION_TIMEOUT_MS");
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "ECM_KAFKA_SESSION_TIMEOUT_MS"));
    rd_kafka_conf_destroy(conf);

    /* The producer refuses to start on the same mistake. */
    setenv("ECM_KAFKA_NO_SUCH_PROPERTY", "1", 1);
    ecm_kafka_producer *p =
        ecm_kafka_producer_new(g_mock.bootstraps, NULL, NULL, NULL, err, sizeof err);
    unsetenv("ECM_KAFKA_NO_SUCH_PROPERTY");
    assert_null(p);
    assert_non_null(strstr(err, "ECM_KAFKA_NO_SUCH_PROPERTY"));
}

/* The stop's Kafka steps keep their bound when the broker is gone (issue
 * 20): commit, leave the group, flush, each given up at the deadline. */
#define CLOSE_BOUND_MS 1500
#define CLOSE_SLACK_MS 5000

/* A producer (into *p) that has put n messages on topic, and a consumer of
 * group (returned) that has consumed and stored all n. */
static ecm_kafka_consumer *consumed_and_stored(ecm_metrics *m, const char *topic, const char *group,
                                               size_t n, ecm_kafka_producer **p)
{
    *p = plain_producer(m);
    for (size_t i = 0; i < n; i++)
        produce_plain(*p, topic, "k", "before", "00000000-0000-4000-8000-000000000001");
    assert_int_equal(ecm_kafka_producer_flush(*p, 10000), 0);
    ecm_kafka_consumer *c = ecm_test_kafka_consumer(&g_mock, m, group, topic, "t.dl.out");
    rd_kafka_message_t *msgs[8];
    assert_true(n <= 8);
    assert_int_equal(consume(c, msgs, n), n);
    ecm_kafka_consumer_store(c, msgs, n);
    destroy_msgs(msgs, n);
    return c;
}

static void test_close_with_broker_gone_returns_within_its_bound(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    ecm_kafka_producer *p = NULL;
    ecm_kafka_consumer *c = consumed_and_stored(m, "t.gone", "g.gone", 3, &p);

    assert_int_equal(rd_kafka_mock_broker_set_down(g_mock.mock, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    produce_plain(p, "t.gone", "k", "never", "00000000-0000-4000-8000-000000000002");
    int64_t t0 = ecm_clock_mono_ms();
    assert_int_equal(ecm_kafka_consumer_close(c, CLOSE_BOUND_MS), -1);
    int64_t consumer_ms = ecm_clock_mono_ms() - t0;
    t0 = ecm_clock_mono_ms();
    assert_int_equal(ecm_kafka_producer_close(p, CLOSE_BOUND_MS), -1);
    int64_t producer_ms = ecm_clock_mono_ms() - t0;
    assert_int_equal(rd_kafka_mock_broker_set_up(g_mock.mock, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    print_message("consumer close %lld ms, producer close %lld ms (bound %d ms)\n",
                  (long long)consumer_ms, (long long)producer_ms, CLOSE_BOUND_MS);
    assert_true(consumer_ms < CLOSE_BOUND_MS + CLOSE_SLACK_MS);
    assert_true(producer_ms < CLOSE_BOUND_MS + CLOSE_SLACK_MS);
    ecm_metrics_destroy(m);
}

static void test_close_with_broker_up_commits_what_was_stored(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    ecm_kafka_producer *p = NULL;
    ecm_kafka_consumer *c = consumed_and_stored(m, "t.close", "g.close", 4, &p);
    rd_kafka_message_t *msgs[8];
    size_t n = 0;
    assert_int_equal(ecm_kafka_consumer_close(c, 10000), 0);
    produce_plain(p, "t.close", "k", "after", "00000000-0000-4000-8000-000000000004");
    assert_int_equal(ecm_kafka_producer_close(p, 10000), 0);
    /* The four were committed: the group's next member starts after them. */
    c = ecm_test_kafka_consumer(&g_mock, m, "g.close", "t.close", "t.dl.out");
    n = consume(c, msgs, 1);
    assert_int_equal(n, 1);
    assert_int_equal(msgs[0]->len, 5);
    assert_memory_equal(msgs[0]->payload, "after", 5);
    destroy_msgs(msgs, n);
    assert_int_equal(ecm_kafka_consumer_close(c, 10000), 0);
    ecm_metrics_destroy(m);
}

typedef struct {
    ecm_kafka_producer *p;
    int flushed; /* ecm_kafka_producer_flush()'s answer */
} late_arg;

/* Produces the second message of the linger test a moment after it starts. */
static void *produce_late(void *arg)
{
    late_arg *a = arg;
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    produce_plain(a->p, "t.linger", "k", "second", "00000000-0000-4000-8000-000000000012");
    a->flushed = ecm_kafka_producer_flush(a->p, 10000);
    return NULL;
}

/* Without a linger a poll takes what is there; with one it waits after its
 * first message for more, up to its max (a round of the strategy spreads
 * its transaction over the results that come within the linger). */
static void test_poll_batch_lingers_after_the_first_message_up_to_its_max(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    ecm_kafka_producer *p = plain_producer(m);
    ecm_kafka_consumer *c = ecm_test_kafka_consumer(&g_mock, m, "g.linger", "t.linger", "t.dl.out");
    produce_plain(p, "t.linger", "k", "zeroth", "00000000-0000-4000-8000-000000000010");
    assert_int_equal(ecm_kafka_producer_flush(p, 10000), 0);
    rd_kafka_message_t *msgs[4];
    assert_int_equal(consume(c, msgs, 1), 1);
    destroy_msgs(msgs, 1);

    produce_plain(p, "t.linger", "k", "first", "00000000-0000-4000-8000-000000000011");
    assert_int_equal(ecm_kafka_producer_flush(p, 10000), 0);
    late_arg a = {p, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, produce_late, &a), 0);
    /* The second comes 300 ms after the first is there: one poll takes both,
     * and returns as soon as the max is reached, long before the linger. */
    size_t n = ecm_kafka_consumer_poll_batch(c, msgs, 2, WAIT_MS, WAIT_MS);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(a.flushed, 0);
    assert_int_equal(n, 2);
    assert_memory_equal(msgs[0]->payload, "first", 5);
    assert_memory_equal(msgs[1]->payload, "second", 6);
    destroy_msgs(msgs, n);
    assert_int_equal(ecm_kafka_consumer_close(c, 10000), 0);
    assert_int_equal(ecm_kafka_producer_close(p, 10000), 0);
    ecm_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_from_env_maps_variable_names_to_properties),
        cmocka_unit_test(test_conf_from_env_error_names_the_variable),
        cmocka_unit_test(test_producer_puts_cloudevents_headers_and_key_on_message),
        cmocka_unit_test(test_consumer_resumes_right_after_the_stored_offset),
        cmocka_unit_test(test_deadletter_republishes_message_with_reason_headers),
        cmocka_unit_test(test_consumer_lag_gauge_sums_uncommitted_messages),
        cmocka_unit_test(test_stats_lag_counts_assigned_partitions_and_zero_without_any),
        cmocka_unit_test(test_close_with_broker_up_commits_what_was_stored),
        cmocka_unit_test(test_close_with_broker_gone_returns_within_its_bound),
        cmocka_unit_test(test_poll_batch_lingers_after_the_first_message_up_to_its_max),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

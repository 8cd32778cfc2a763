/* The strategy's consumer loop (st_results_run) against librdkafka's mock
 * cluster and PostgreSQL: results applied in lanes, bad messages
 * dead-lettered, offsets stored. Runs in a scratch database created from
 * ECM_TEST_PG_DSN; skipped when it is unset. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ecm_event.h"
#include "ecm_kafka.h"
#include "ecm_log.h"
#include "ecm_pg.h"
#include "st_results.h"
#include "st_test_support.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x

typedef struct {
    st_test_db d;
    st_results_ctx rctx;
    int seq;
} fixture;

static fixture fx;

#define q(...) ecm_test_pg_query(fx.d.check, __VA_ARGS__)
#define q_ll(...) ecm_test_pg_int(fx.d.check, __VA_ARGS__)
#define q_text(...) ecm_test_pg_text(fx.d.check, __VA_ARGS__)

static int group_setup(void **state)
{
    (void)state;
    return st_test_group_open("test_st_loop", &fx.d, "ecm_st_loop_test", &fx.rctx, 0);
}

static int group_teardown(void **state)
{
    (void)state;
    st_test_group_close(&fx.d, &fx.rctx);
    return 0;
}

typedef struct {
    ecm_kafka_consumer *c;
    const st_results_lane *lanes;
    size_t nlanes;
    volatile sig_atomic_t stop;
} run_arg;

static void *run_main(void *p)
{
    run_arg *a = p;
    st_results_run(a->c, a->lanes, a->nlanes, &a->stop);
    return NULL;
}

/* Sends one CallResult for contact's attempt; result_at_ms (occurred_at) 0: now. */
static void send_result(ecm_kafka_producer *p, long long camp, long long contact, int attempt,
                        Ecm__V1__Outcome outcome, int64_t result_at_ms)
{
    char id[32];
    snprintf(id, sizeof(id), "e-%d", ++fx.seq);
    Ecm__V1__CallResult m = ECM__V1__CALL_RESULT__INIT;
    m.event_id = id;
    m.campaign_id = camp;
    m.contact_id = contact;
    m.attempt = attempt;
    m.outcome = outcome;
    m.counts_as_attempt = 1;
    m.occurred_at = result_at_ms;
    size_t len = 0;
    uint8_t *buf = ecm_event_pack(&m.base, &len);
    assert_non_null(buf);
    char key[24];
    snprintf(key, sizeof(key), "%lld", contact);
    ecm_kafka_ce ce = {.id = id, .type = "ecm.v1.CallResult", .source = "/ecm/test"};
    assert_int_equal(ecm_kafka_producer_send(p, "call.results", key, buf, len, &ce, NULL), 0);
    free(buf);
}

/* Messages on topic for a new member of group, until want have come (or
 * 60 s); the first one's payload in first when first is not NULL. */
static size_t consume_count(const ecm_test_kafka *k, const char *group, const char *topic,
                            size_t want, char *first, size_t first_size)
{
    ecm_kafka_consumer *c = ecm_test_kafka_consumer(k, NULL, group, topic, "dlq");
    size_t got = 0;
    for (int i = 0; i < 120 && got < want; i++) {
        rd_kafka_message_t *msgs[64];
        size_t n = ecm_kafka_consumer_poll_batch(c, msgs, 64, 500, 0);
        for (size_t j = 0; j < n; j++) {
            if (got == 0 && first != NULL)
                snprintf(first, first_size, "%.*s", (int)msgs[j]->len,
                         (const char *)msgs[j]->payload);
            got++;
            rd_kafka_message_destroy(msgs[j]);
        }
    }
    ecm_kafka_consumer_destroy(c);
    return got;
}

/* Results of 40 contacts through the consumer loop with two lanes, each
 * result sent twice (a redelivery), one message that doesn't decode and
 * one result the database refuses: each contact decided once (a close
 * writes one ContactClosed), the two bad messages dead-lettered, the rest
 * of their batch applied, and every offset stored (the group's next member
 * starts after them). Contact ids alternate between the lanes. */
static void test_run_two_lanes_decide_each_contact_once_and_store_every_offset(void **state)
{
    (void)state;
    ecm_test_need(fx.d.pg);
    enum { N = 40 };
    long long strategy = st_test_make_strategy(fx.d.check, ++fx.seq, 5);
    long long camp = st_test_make_campaign(fx.d.check, ++fx.seq, strategy, "NULL");
    long long ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = st_test_make_dispatched(fx.d.check, camp, 1);
    long long refused = st_test_make_dispatched(fx.d.check, camp, 1);
    ecm_test_kafka k;
    const char *topics[] = {"call.results", "dlq"};
    assert_int_equal(ecm_test_kafka_start(&k, topics, 2), 0);
    char err[256];
    ecm_kafka_producer *p =
        ecm_kafka_producer_new(k.bootstraps, NULL, NULL, NULL, err, sizeof(err));
    assert_non_null(p);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            send_result(p, camp, ids[i], 1, i % 2 ? O(CONNECTED) : O(NO_ANSWER), 0);
            if (round == 0 && i == N / 2) {
                ecm_kafka_ce ce = {.id = "garbage", .type = "ecm.v1.CallResult", .source = "/t"};
                assert_int_equal(
                    ecm_kafka_producer_send(p, "call.results", "1", "\xff\xff\xff", 3, &ce, NULL),
                    0);
                /* a result time past timestamptz's range: refused every time */
                send_result(p, camp, refused, 1, O(NO_ANSWER), INT64_MAX / 2);
            }
        }
    }
    assert_int_equal(ecm_kafka_producer_flush(p, 10000), 0);

    ecm_pg *second = ecm_pg_new(fx.d.db->dsn, NULL);
    assert_non_null(second);
    st_results_ctx ctx2 = fx.rctx;
    const st_results_lane lanes[2] = {{fx.d.pg, &fx.rctx}, {second, &ctx2}};
    run_arg a = {.c = ecm_test_kafka_consumer(&k, NULL, "st-lanes", "call.results", "dlq"),
                 .lanes = lanes,
                 .nlanes = 2};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_main, &a), 0);
    /* Both dead letters out means the batch that had them is done. */
    size_t dead = consume_count(&k, "st-lanes-dlq", "dlq", 2, NULL, 0);
    for (int i = 0; i < 600; i++) {
        if (q_ll("SELECT count(*) FROM attempts WHERE campaign_id = %lld AND outcome IS NOT NULL",
                 camp) == N)
            break;
        usleep(100000);
    }
    a.stop = 1;
    assert_int_equal(pthread_join(t, NULL), 0);
    ecm_kafka_consumer_destroy(a.c); /* commits the stored offsets */
    ecm_pg_destroy(second);

    assert_int_equal(dead, 2);
    assert_int_equal(
        q_ll("SELECT count(*) FROM attempts WHERE campaign_id = %lld AND outcome IS NOT NULL",
             camp),
        N);
    assert_int_equal(q_ll("SELECT count(*) FROM contacts WHERE campaign_id = %lld AND state = "
                          "'closed' AND outcome = 'CONNECTED'",
                          camp),
                     N / 2);
    assert_int_equal(q_ll("SELECT count(*) FROM contacts WHERE campaign_id = %lld AND state = "
                          "'waiting' AND attempts = 1",
                          camp),
                     N / 2);
    char in[64];
    snprintf(in, sizeof(in), "%lld AND %lld", ids[0], ids[N - 1]);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE msg_key::bigint BETWEEN %s", in),
                     N / 2);
    char *st = q_text("SELECT state FROM contacts WHERE id = %lld", refused);
    assert_string_equal(st, "dispatched");
    free(st);
    /* Every offset stored: the group's next member gets only what comes
     * after. */
    ecm_kafka_ce ce = {.id = "after", .type = "ecm.v1.Test", .source = "/t"};
    assert_int_equal(ecm_kafka_producer_send(p, "call.results", "1", "after", 5, &ce, NULL), 0);
    assert_int_equal(ecm_kafka_producer_flush(p, 10000), 0);
    char first[16] = "";
    assert_int_equal(consume_count(&k, "st-lanes", "call.results", 1, first, sizeof(first)), 1);
    assert_string_equal(first, "after");
    ecm_kafka_producer_destroy(p);
    ecm_test_kafka_stop(&k);
    PQclear(q("DELETE FROM outbox"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_two_lanes_decide_each_contact_once_and_store_every_offset),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* Callbacks in the strategy: a result applied to a contact whose requested
 * callback time was stored through the API (contacts.callback_at) retries at
 * that time (inside the calling window), any other retry not before it, a
 * close closes; the stored time is cleared by the decision that used it.
 * Runs in a scratch database from ECM_TEST_PG_DSN; skipped when it is
 * unset. Business time is fixed with ECM_CLOCK_FIXED: Wednesday 2026-03-04,
 * 12:00 in New York, a campaign open 09:00-20:00 there. */
#include "ecm_calling.h"
#include "ecm_log.h"
#include "st_results.h"
#include "st_test_support.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x
#define NOW_NY "2026-03-04T12:00:00-05:00"

typedef struct {
    st_test_db d;
    st_results_ctx ctx; /* with the calling window step */
    int seq;
} fixture;

static fixture fx;

#define q(...) ecm_test_pg_query(fx.d.check, __VA_ARGS__)
#define q_ll(...) ecm_test_pg_int(fx.d.check, __VA_ARGS__)
#define q_text(...) ecm_test_pg_text(fx.d.check, __VA_ARGS__)

/* CALLBACK_REQUESTED and NO_ANSWER retry after 1 h and 2 h, CONNECTED
 * closes: each rule's own time is easy to tell from a callback time. */
static long long make_strategy(void)
{
    long long id = q_ll("INSERT INTO strategies (name, max_attempts, max_attempts_per_day)"
                        " VALUES ('cb-%d', 10, 10) RETURNING id",
                        ++fx.seq);
    PQclear(q("INSERT INTO strategy_rules"
              " (strategy_id, outcome, action, delay_seconds, max_attempts, next_phone) VALUES"
              " (%lld, 'CONNECTED', 'close', 0, 1, false),"
              " (%lld, 'CALLBACK_REQUESTED', 'retry', 3600, 3, false),"
              " (%lld, 'NO_ANSWER', 'retry', 7200, 3, false)",
              id, id, id));
    return id;
}

static long long make_campaign(void)
{
    return q_ll("INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                " cisco_campaign_id, time_zone, call_window)"
                " VALUES ('cb-%d', 'voice_ivr', 'active', %lld, 'uccx', '7',"
                " 'America/New_York', " ST_TEST_WINDOW_9_TO_20 ") RETURNING id",
                ++fx.seq, make_strategy());
}

/* A New York contact dispatched on attempt `attempts` (one attempts row
 * each), with callback_at set to callback (SQL, "NULL" for none). */
static long long make_contact(long long campaign_id, int attempts, const char *callback)
{
    long long id = q_ll("INSERT INTO contacts (campaign_id, phones, state, attempts, time_zone,"
                        " callback_at) VALUES (%lld, '{+12125550100}', 'dispatched', %d,"
                        " 'America/New_York', %s) RETURNING id",
                        campaign_id, attempts, callback);
    for (int a = 1; a <= attempts; a++)
        PQclear(q("INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone,"
                  " account_number, status, sent_at, dispatched_at)"
                  " VALUES (%lld, %d, %lld, 'voice_ivr', '+12125550100', '%lld-%d', 'sent',"
                  " now(), '2026-03-04T11:00:00-05:00')",
                  id, a, campaign_id, id, a));
    return id;
}

static st_result result(long long campaign_id, long long contact_id, int attempt,
                        Ecm__V1__Outcome outcome)
{
    st_result r = st_test_result(++fx.seq, campaign_id, contact_id, attempt, outcome);
    r.raw_code = outcome == O(CALLBACK_REQUESTED) ? 14 : 8;
    return r;
}

static st_apply_status apply(const st_result *r, st_apply_info *info)
{
    char reason[256];
    return st_results_apply(fx.d.pg, &fx.ctx, r, info, reason, sizeof(reason));
}

static long long next_attempt_ms(long long contact)
{
    return st_test_next_attempt_ms(fx.d.check, contact);
}

static int callback_cleared(long long contact)
{
    return q_ll("SELECT count(*) FROM contacts WHERE id = %lld AND callback_at IS NULL", contact) ==
           1;
}

static int group_setup(void **state)
{
    (void)state;
    return st_test_group_open("test_st_callback", &fx.d, "ecm_callback_st", &fx.ctx, 1);
}

static int group_teardown(void **state)
{
    (void)state;
    st_test_group_close(&fx.d, &fx.ctx);
    return 0;
}

static int fix_clock(void **state)
{
    (void)state;
    setenv("ECM_CLOCK_FIXED", NOW_NY, 1);
    return 0;
}

static int free_clock(void **state)
{
    (void)state;
    unsetenv("ECM_CLOCK_FIXED");
    return 0;
}

#define NEED_DB() ecm_test_need(fx.d.pg)

/* ---- tests ---- */

static void test_callback_requested_retries_at_stored_time_not_rule_delay(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    long long k = make_contact(camp, 1, "'2026-03-04T15:30:00-05:00'");
    st_result r = result(camp, k, 1, O(CALLBACK_REQUESTED));
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 0);
    /* the rule alone would have said 13:00 */
    assert_int_equal(info.next_attempt_at_ms, ecm_test_time_ms("2026-03-04T15:30:00-05:00"));
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-04T15:30:00-05:00"));
    char *st = q_text("SELECT state FROM contacts WHERE id = %lld", k);
    assert_string_equal(st, "waiting");
    free(st);
    assert_true(callback_cleared(k));
}

static void test_callback_requested_earlier_than_rule_delay_still_used(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    long long k = make_contact(camp, 1, "'2026-03-04T12:20:00-05:00'");
    st_result r = result(camp, k, 1, O(CALLBACK_REQUESTED));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-04T12:20:00-05:00"));
    assert_true(callback_cleared(k));
}

static void test_callback_outside_window_waits_for_next_opening(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    long long k = make_contact(camp, 1, "'2026-03-04T22:00:00-05:00'");
    st_result r = result(camp, k, 1, O(CALLBACK_REQUESTED));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-05T09:00:00-05:00"));
    assert_true(callback_cleared(k));
}

static void test_callback_time_in_result_wins_over_stored_one(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    long long k = make_contact(camp, 1, "'2026-03-04T15:30:00-05:00'");
    st_result r = result(camp, k, 1, O(CALLBACK_REQUESTED));
    r.callback_at_ms = ecm_test_time_ms("2026-03-04T14:00:00-05:00");
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-04T14:00:00-05:00"));
    assert_true(callback_cleared(k));
}

static void test_stored_callback_already_past_is_ignored_and_cleared(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    long long k = make_contact(camp, 1, "'2026-03-04T11:30:00-05:00'");
    st_result r = result(camp, k, 1, O(CALLBACK_REQUESTED));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-04T13:00:00-05:00"));
    assert_true(callback_cleared(k));
}

static void test_without_stored_callback_rule_delay_applies(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    long long k = make_contact(camp, 1, "NULL");
    st_result r = result(camp, k, 1, O(CALLBACK_REQUESTED));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-04T13:00:00-05:00"));
}

static void test_other_retry_outcome_waits_for_later_stored_callback(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    long long k = make_contact(camp, 1, "'2026-03-04T16:00:00-05:00'");
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-04T16:00:00-05:00"));
    assert_true(callback_cleared(k));
}

static void test_other_retry_outcome_keeps_its_longer_delay(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    /* NO_ANSWER's 2 h pause ends at 14:00, after the 12:30 asked for */
    long long k = make_contact(camp, 1, "'2026-03-04T12:30:00-05:00'");
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-04T14:00:00-05:00"));
    assert_true(callback_cleared(k));
}

static void test_closing_outcome_closes_despite_stored_callback(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    long long k = make_contact(camp, 1, "'2026-03-04T15:30:00-05:00'");
    st_result r = result(camp, k, 1, O(CONNECTED));
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 1);
    char *st = q_text("SELECT state || ' ' || outcome FROM contacts WHERE id = %lld", k);
    assert_string_equal(st, "closed CONNECTED");
    free(st);
    assert_true(callback_cleared(k));
}

static void test_result_for_older_attempt_keeps_stored_callback(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    long long k = make_contact(camp, 2, "'2026-03-04T15:30:00-05:00'");
    st_result r = result(camp, k, 1, O(CALLBACK_REQUESTED));
    assert_int_equal(apply(&r, NULL), ST_APPLY_RECORDED);
    assert_false(callback_cleared(k));
    /* the current attempt's result then uses it */
    st_result r2 = result(camp, k, 2, O(CALLBACK_REQUESTED));
    assert_int_equal(apply(&r2, NULL), ST_APPLY_DECIDED);
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-04T15:30:00-05:00"));
    assert_true(callback_cleared(k));
}

static void test_batch_apply_uses_stored_callback_too(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign();
    long long k1 = make_contact(camp, 1, "'2026-03-04T17:00:00-05:00'");
    long long k2 = make_contact(camp, 1, "NULL");
    st_result rs[2] = {result(camp, k1, 1, O(CALLBACK_REQUESTED)),
                       result(camp, k2, 1, O(CALLBACK_REQUESTED))};
    st_apply_status st[2];
    char reasons[2][ST_REASON_MAX];
    assert_int_equal(st_results_apply_batch(fx.d.pg, &fx.ctx, rs, 2, st, reasons), 0);
    assert_int_equal(st[0], ST_APPLY_DECIDED);
    assert_int_equal(st[1], ST_APPLY_DECIDED);
    assert_int_equal(next_attempt_ms(k1), ecm_test_time_ms("2026-03-04T17:00:00-05:00"));
    assert_int_equal(next_attempt_ms(k2), ecm_test_time_ms("2026-03-04T13:00:00-05:00"));
    assert_true(callback_cleared(k1));
}

#define DB_TEST(f) cmocka_unit_test_setup_teardown(f, fix_clock, free_clock)

int main(void)
{
    const struct CMUnitTest tests[] = {
        DB_TEST(test_callback_requested_retries_at_stored_time_not_rule_delay),
        DB_TEST(test_callback_requested_earlier_than_rule_delay_still_used),
        DB_TEST(test_callback_outside_window_waits_for_next_opening),
        DB_TEST(test_callback_time_in_result_wins_over_stored_one),
        DB_TEST(test_stored_callback_already_past_is_ignored_and_cleared),
        DB_TEST(test_without_stored_callback_rule_delay_applies),
        DB_TEST(test_other_retry_outcome_waits_for_later_stored_callback),
        DB_TEST(test_other_retry_outcome_keeps_its_longer_delay),
        DB_TEST(test_closing_outcome_closes_despite_stored_callback),
        DB_TEST(test_result_for_older_attempt_keeps_stored_callback),
        DB_TEST(test_batch_apply_uses_stored_callback_too),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* The strategy decision (services/strategy/st_decide.h): every rule and its
 * boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "st_decide.h"

#define NOW ((int64_t)1700000000000)
#define SEC ((int64_t)1000)

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x

/* A contact on its first attempt (phone 0 of 2) under a strategy of 5
 * attempts, 3 a day; NO_ANSWER retries after 60 s, at most 3 times. */
static st_decide_in base(void)
{
    st_decide_in in = {0};
    in.max_attempts = 5;
    in.max_attempts_per_day = 3;
    in.rule.action = ST_RULE_RETRY;
    in.rule.delay_seconds = 60;
    in.rule.max_attempts = 3;
    in.rule.next_phone = 0;
    in.counted_attempts = 0;
    in.outcome_attempts = 0;
    in.phone_index = 0;
    in.phone_count = 2;
    in.outcome = O(NO_ANSWER);
    in.counts_as_attempt = 1;
    in.now_ms = NOW;
    return in;
}

static st_decision decide(const st_decide_in *in)
{
    st_decision d;
    st_decide(in, &d);
    return d;
}

static void test_decide_retry_after_delay_on_same_phone(void **state)
{
    (void)state;
    st_decide_in in = base();
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
    assert_int_equal(d.phone_index, 0);
    assert_int_equal(d.counted_attempts, 1);
}

static void test_decide_zero_delay_retries_now(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.rule.delay_seconds = 0;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW);
}

static void test_decide_outcome_without_rule_closes_with_that_outcome(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.rule.action = ST_RULE_NONE;
    in.outcome = O(WRONG_PARTY);
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(WRONG_PARTY));
    assert_int_equal(d.counted_attempts, 1);
}

static void test_decide_close_rule_closes_with_outcome(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.rule.action = ST_RULE_CLOSE;
    in.outcome = O(CONNECTED);
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(CONNECTED));
    assert_int_equal(d.counted_attempts, 1);
}

static void test_decide_not_attempted_does_not_count(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.outcome = O(NOT_ATTEMPTED);
    in.counts_as_attempt = 0;
    in.counted_attempts = 2;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.counted_attempts, 2);
}

static void test_decide_closes_when_counted_attempts_reach_strategy_max(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.counted_attempts = 4; /* this one is the 5th of 5 */
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(NO_ANSWER));
    assert_int_equal(d.counted_attempts, 5);
}

static void test_decide_retries_one_below_strategy_max(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.counted_attempts = 3; /* this one is the 4th of 5 */
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.counted_attempts, 4);
}

static void test_decide_not_attempted_at_strategy_max_minus_one_retries(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.counted_attempts = 4;
    in.outcome = O(NOT_ATTEMPTED);
    in.counts_as_attempt = 0;
    in.rule.max_attempts = 10;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.counted_attempts, 4);
}

static void test_decide_closes_when_outcome_attempts_reach_rule_max(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.counted_attempts = 2;
    in.outcome_attempts = 2; /* this one is the 3rd NO_ANSWER of 3 */
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(NO_ANSWER));
}

static void test_decide_retries_one_below_rule_max(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
}

static void test_decide_rule_max_one_closes_on_first(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.rule.max_attempts = 1;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
}

static void test_decide_not_attempted_counts_against_its_own_rule(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.outcome = O(NOT_ATTEMPTED);
    in.counts_as_attempt = 0;
    in.rule.max_attempts = 5;
    in.outcome_attempts = 4;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(NOT_ATTEMPTED));
    assert_int_equal(d.counted_attempts, 0);
}

static void test_decide_next_phone_moves_to_next_index(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.outcome = O(INVALID_NUMBER);
    in.rule.next_phone = 1;
    in.rule.max_attempts = 1;
    in.rule.delay_seconds = 0;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 1);
    assert_int_equal(d.next_attempt_at_ms, NOW);
}

static void test_decide_next_phone_cap_counts_per_phone_not_in_all(void **state)
{
    (void)state;
    /* INVALID_NUMBER on phones 0 and 1 already; phone 1 of 3 now */
    st_decide_in in = base();
    in.outcome = O(INVALID_NUMBER);
    in.rule.next_phone = 1;
    in.rule.max_attempts = 1;
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    in.phone_outcome_attempts = 0;
    in.phone_index = 1;
    in.phone_count = 3;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 2);
}

static void test_decide_next_phone_below_phone_cap_stays_on_phone(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.rule.next_phone = 1;
    in.rule.max_attempts = 2;
    in.phone_outcome_attempts = 0;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 0);

    in.phone_outcome_attempts = 1; /* the 2nd on this phone */
    in.outcome_attempts = 1;
    in.counted_attempts = 1;
    d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 1);
}

static void test_decide_next_phone_on_last_phone_closes(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.rule.next_phone = 1;
    in.rule.max_attempts = 1;
    in.phone_index = 1; /* the second of 2 */
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(NO_ANSWER));
}

static void test_decide_next_phone_with_single_phone_closes(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.rule.next_phone = 1;
    in.rule.max_attempts = 1;
    in.phone_count = 1;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
}

static void test_decide_without_next_phone_keeps_last_phone(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.phone_index = 1;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 1);
}

static void test_decide_callback_uses_callback_time(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.outcome = O(CALLBACK_REQUESTED);
    in.rule.delay_seconds = 3600;
    in.callback_at_ms = NOW + 10 * SEC; /* earlier than the delay: still used */
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW + 10 * SEC);

    in.callback_at_ms = NOW + 7200 * SEC;
    d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW + 7200 * SEC);
}

static void test_decide_callback_not_after_now_uses_delay(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.outcome = O(CALLBACK_REQUESTED);
    in.callback_at_ms = NOW;
    st_decision d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);

    in.callback_at_ms = NOW - 5 * SEC;
    d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);

    in.callback_at_ms = 0;
    d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
}

static void test_decide_callback_time_ignored_for_other_outcomes(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.callback_at_ms = NOW + 10 * SEC;
    st_decision d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
}

static void test_decide_daily_cap_not_reached_keeps_delay(void **state)
{
    (void)state;
    int64_t day[] = {NOW - 3600 * SEC, NOW - 60 * SEC};
    st_decide_in in = base();
    in.counted_attempts = 1;
    in.day_attempts_ms = day;
    in.day_attempts = 2; /* cap 3 */
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
}

static void test_decide_daily_cap_reached_waits_for_first_plus_24h(void **state)
{
    (void)state;
    int64_t day[] = {NOW - 3600 * SEC, NOW - 1800 * SEC, NOW - 60 * SEC};
    st_decide_in in = base();
    in.counted_attempts = 2;
    in.day_attempts_ms = day;
    in.day_attempts = 3; /* cap 3 */
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW - 3600 * SEC + ST_DAY_MS);
}

static void test_decide_daily_cap_release_earlier_than_delay_keeps_delay(void **state)
{
    (void)state;
    /* the first of the day leaves the window in 30 s, the delay is 60 s */
    int64_t day[] = {NOW - ST_DAY_MS + 30 * SEC, NOW - 1800 * SEC, NOW - 60 * SEC};
    st_decide_in in = base();
    in.counted_attempts = 2;
    in.day_attempts_ms = day;
    in.day_attempts = 3;
    st_decision d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
}

static void test_decide_daily_cap_exceeded_waits_for_enough_to_leave(void **state)
{
    (void)state;
    /* 4 in the window under a cap of 3 (the cap was lowered): the 2nd must
     * leave the window too */
    int64_t day[] = {NOW - 4000 * SEC, NOW - 3000 * SEC, NOW - 2000 * SEC, NOW - 60 * SEC};
    st_decide_in in = base();
    in.counted_attempts = 3;
    in.day_attempts_ms = day;
    in.day_attempts = 4;
    st_decision d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW - 3000 * SEC + ST_DAY_MS);
}

static void test_decide_daily_cap_applies_to_callback(void **state)
{
    (void)state;
    int64_t day[] = {NOW - 3600 * SEC, NOW - 1800 * SEC, NOW - 60 * SEC};
    st_decide_in in = base();
    in.outcome = O(CALLBACK_REQUESTED);
    in.callback_at_ms = NOW + 600 * SEC;
    in.counted_attempts = 2;
    in.day_attempts_ms = day;
    in.day_attempts = 3;
    st_decision d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW - 3600 * SEC + ST_DAY_MS);
}

static void test_decide_next_time_at_end_at_retries(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.end_at_ms = NOW + 60 * SEC;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
}

static void test_decide_next_time_past_end_at_closes_expired(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.end_at_ms = NOW + 60 * SEC - 1;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(EXPIRED));
    assert_int_equal(d.counted_attempts, 1);
}

static void test_decide_without_end_at_never_expires(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.rule.delay_seconds = 365 * 24 * 3600;
    in.end_at_ms = 0;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_RETRY);
}

static void test_decide_callback_past_end_at_closes_expired(void **state)
{
    (void)state;
    st_decide_in in = base();
    in.outcome = O(CALLBACK_REQUESTED);
    in.callback_at_ms = NOW + 7200 * SEC;
    in.end_at_ms = NOW + 3600 * SEC;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(EXPIRED));
}

static void test_decide_daily_cap_pushing_past_end_at_closes_expired(void **state)
{
    (void)state;
    int64_t day[] = {NOW - 3600 * SEC, NOW - 1800 * SEC, NOW - 60 * SEC};
    st_decide_in in = base();
    in.counted_attempts = 2;
    in.day_attempts_ms = day;
    in.day_attempts = 3;
    in.end_at_ms = NOW + 3600 * SEC;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(EXPIRED));
}

static void test_decide_caps_close_before_expiry_check(void **state)
{
    (void)state;
    /* at the strategy cap and past the end: the real outcome wins */
    st_decide_in in = base();
    in.counted_attempts = 4;
    in.end_at_ms = NOW;
    st_decision d = decide(&in);
    assert_int_equal(d.action, ST_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(NO_ANSWER));
}

/* Wherever the history isn't needed, no history can change the decision. */
static void test_decide_without_history_needs_only_closes_the_same(void **state)
{
    (void)state;
    int64_t day[3] = {NOW - 3 * SEC, NOW - 2 * SEC, NOW - SEC};
    int skipped = 0, needed = 0;
    for (int action = ST_RULE_NONE; action <= ST_RULE_CLOSE; action++) {
        for (int counted = 0; counted < 7; counted++) {
            for (int counts = 0; counts < 2; counts++) {
                st_decide_in in = base();
                in.rule.action = (st_rule_action)action;
                in.counted_attempts = counted;
                in.counts_as_attempt = counts;
                if (st_decide_needs_history(&in)) {
                    needed++;
                    continue;
                }
                skipped++;
                st_decision bare = decide(&in);
                in.outcome_attempts = 2;
                in.phone_outcome_attempts = 2;
                in.day_attempts_ms = day;
                in.day_attempts = 3;
                st_decision full = decide(&in);
                assert_int_equal(bare.action, ST_DECIDE_CLOSE);
                assert_int_equal(full.action, bare.action);
                assert_int_equal(full.outcome, bare.outcome);
                assert_int_equal(full.counted_attempts, bare.counted_attempts);
                assert_int_equal(full.phone_index, bare.phone_index);
            }
        }
    }
    assert_true(skipped > 0);
    assert_true(needed > 0);
    /* A retry rule under the cap reads the history. */
    st_decide_in in = base();
    assert_int_equal(st_decide_needs_history(&in), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_without_history_needs_only_closes_the_same),
        cmocka_unit_test(test_decide_retry_after_delay_on_same_phone),
        cmocka_unit_test(test_decide_zero_delay_retries_now),
        cmocka_unit_test(test_decide_outcome_without_rule_closes_with_that_outcome),
        cmocka_unit_test(test_decide_close_rule_closes_with_outcome),
        cmocka_unit_test(test_decide_not_attempted_does_not_count),
        cmocka_unit_test(test_decide_closes_when_counted_attempts_reach_strategy_max),
        cmocka_unit_test(test_decide_retries_one_below_strategy_max),
        cmocka_unit_test(test_decide_not_attempted_at_strategy_max_minus_one_retries),
        cmocka_unit_test(test_decide_closes_when_outcome_attempts_reach_rule_max),
        cmocka_unit_test(test_decide_retries_one_below_rule_max),
        cmocka_unit_test(test_decide_rule_max_one_closes_on_first),
        cmocka_unit_test(test_decide_not_attempted_counts_against_its_own_rule),
        cmocka_unit_test(test_decide_next_phone_moves_to_next_index),
        cmocka_unit_test(test_decide_next_phone_cap_counts_per_phone_not_in_all),
        cmocka_unit_test(test_decide_next_phone_below_phone_cap_stays_on_phone),
        cmocka_unit_test(test_decide_next_phone_on_last_phone_closes),
        cmocka_unit_test(test_decide_next_phone_with_single_phone_closes),
        cmocka_unit_test(test_decide_without_next_phone_keeps_last_phone),
        cmocka_unit_test(test_decide_callback_uses_callback_time),
        cmocka_unit_test(test_decide_callback_not_after_now_uses_delay),
        cmocka_unit_test(test_decide_callback_time_ignored_for_other_outcomes),
        cmocka_unit_test(test_decide_daily_cap_not_reached_keeps_delay),
        cmocka_unit_test(test_decide_daily_cap_reached_waits_for_first_plus_24h),
        cmocka_unit_test(test_decide_daily_cap_release_earlier_than_delay_keeps_delay),
        cmocka_unit_test(test_decide_daily_cap_exceeded_waits_for_enough_to_leave),
        cmocka_unit_test(test_decide_daily_cap_applies_to_callback),
        cmocka_unit_test(test_decide_next_time_at_end_at_retries),
        cmocka_unit_test(test_decide_next_time_past_end_at_closes_expired),
        cmocka_unit_test(test_decide_without_end_at_never_expires),
        cmocka_unit_test(test_decide_callback_past_end_at_closes_expired),
        cmocka_unit_test(test_decide_daily_cap_pushing_past_end_at_closes_expired),
        cmocka_unit_test(test_decide_caps_close_before_expiry_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The strategy decision (lib/dispatch/ecm_decide.h): every rule and its
 * boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ecm_calling.h"
#include "ecm_test_support.h"
#include "ecm_decide.h"

#define NOW ((int64_t)1700000000000)
#define SEC ((int64_t)1000)

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x

/* A contact on its first attempt (phone 0 of 2) under a strategy of 5
 * attempts, 3 a day; NO_ANSWER retries after 60 s, at most 3 times. */
static ecm_decide_in base(void)
{
    ecm_decide_in in = {0};
    in.max_attempts = 5;
    in.max_attempts_per_day = 3;
    in.rule.action = ECM_DECIDE_RULE_RETRY;
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

static ecm_decide_out decide(const ecm_decide_in *in)
{
    ecm_decide_out d;
    ecm_decide(in, &d);
    return d;
}

static void test_decide_retry_after_delay_on_same_phone(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
    assert_int_equal(d.phone_index, 0);
    assert_int_equal(d.counted_attempts, 1);
}

static void test_decide_zero_delay_retries_now(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.delay_seconds = 0;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW);
}

static void test_decide_outcome_without_rule_closes_with_that_outcome(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.action = ECM_DECIDE_RULE_NONE;
    in.outcome = O(WRONG_PARTY);
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(WRONG_PARTY));
    assert_int_equal(d.counted_attempts, 1);
}

static void test_decide_close_rule_closes_with_outcome(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.action = ECM_DECIDE_RULE_CLOSE;
    in.outcome = O(CONNECTED);
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(CONNECTED));
    assert_int_equal(d.counted_attempts, 1);
}

static void test_decide_not_attempted_does_not_count(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.outcome = O(NOT_ATTEMPTED);
    in.counts_as_attempt = 0;
    in.counted_attempts = 2;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.counted_attempts, 2);
}

static void test_decide_closes_when_counted_attempts_reach_strategy_max(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.counted_attempts = 4; /* this one is the 5th of 5 */
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(NO_ANSWER));
    assert_int_equal(d.counted_attempts, 5);
}

static void test_decide_retries_one_below_strategy_max(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.counted_attempts = 3; /* this one is the 4th of 5 */
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.counted_attempts, 4);
}

static void test_decide_not_attempted_at_strategy_max_minus_one_retries(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.counted_attempts = 4;
    in.outcome = O(NOT_ATTEMPTED);
    in.counts_as_attempt = 0;
    in.rule.max_attempts = 10;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.counted_attempts, 4);
}

static void test_decide_closes_when_outcome_attempts_reach_rule_max(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.counted_attempts = 2;
    in.outcome_attempts = 2; /* this one is the 3rd NO_ANSWER of 3 */
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(NO_ANSWER));
}

static void test_decide_retries_one_below_rule_max(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
}

static void test_decide_rule_max_one_closes_on_first(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.max_attempts = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
}

static void test_decide_not_attempted_counts_against_its_own_rule(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.outcome = O(NOT_ATTEMPTED);
    in.counts_as_attempt = 0;
    in.rule.max_attempts = 5;
    in.outcome_attempts = 4;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(NOT_ATTEMPTED));
    assert_int_equal(d.counted_attempts, 0);
}

static void test_decide_next_phone_moves_to_next_index(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.outcome = O(INVALID_NUMBER);
    in.rule.next_phone = 1;
    in.rule.max_attempts = 1;
    in.rule.delay_seconds = 0;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 1);
    assert_int_equal(d.next_attempt_at_ms, NOW);
}

static void test_decide_next_phone_cap_counts_per_phone_not_in_all(void **state)
{
    (void)state;
    /* INVALID_NUMBER on phones 0 and 1 already; phone 1 of 3 now */
    ecm_decide_in in = base();
    in.outcome = O(INVALID_NUMBER);
    in.rule.next_phone = 1;
    in.rule.max_attempts = 1;
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    in.phone_outcome_attempts = 0;
    in.phone_index = 1;
    in.phone_count = 3;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 2);
}

static void test_decide_next_phone_below_phone_cap_stays_on_phone(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.next_phone = 1;
    in.rule.max_attempts = 2;
    in.phone_outcome_attempts = 0;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 0);

    in.phone_outcome_attempts = 1; /* the 2nd on this phone */
    in.outcome_attempts = 1;
    in.counted_attempts = 1;
    d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 1);
}

static void test_decide_next_phone_on_last_phone_closes(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.next_phone = 1;
    in.rule.max_attempts = 1;
    in.phone_index = 1; /* the second of 2 */
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(NO_ANSWER));
}

static void test_decide_next_phone_with_single_phone_closes(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.next_phone = 1;
    in.rule.max_attempts = 1;
    in.phone_count = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
}

static void test_decide_without_next_phone_keeps_last_phone(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.phone_index = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 1);
}

static void test_decide_callback_uses_callback_time(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.outcome = O(CALLBACK_REQUESTED);
    in.rule.delay_seconds = 3600;
    in.callback_at_ms = NOW + 10 * SEC; /* earlier than the delay: still used */
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW + 10 * SEC);

    in.callback_at_ms = NOW + 7200 * SEC;
    d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW + 7200 * SEC);
}

static void test_decide_callback_not_after_now_uses_delay(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.outcome = O(CALLBACK_REQUESTED);
    in.callback_at_ms = NOW;
    ecm_decide_out d = decide(&in);
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
    ecm_decide_in in = base();
    in.callback_at_ms = NOW + 10 * SEC;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
}

/* NOW is 2023-11-14T22:13:20Z; base() has no window and no zone, so the
 * contact's day is the UTC day, which ends here. */
#define UTC_DAY_END ((int64_t)1700006400000)

static void test_decide_daily_cap_not_reached_keeps_delay(void **state)
{
    (void)state;
    int64_t day[] = {NOW - 3600 * SEC, NOW - 60 * SEC};
    ecm_decide_in in = base();
    in.counted_attempts = 1;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 2; /* cap 3 */
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
}

static void test_decide_daily_cap_reached_waits_for_next_local_day(void **state)
{
    (void)state;
    int64_t day[] = {NOW - 3600 * SEC, NOW - 1800 * SEC, NOW - 60 * SEC};
    ecm_decide_in in = base();
    in.counted_attempts = 2;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 3; /* cap 3 */
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, UTC_DAY_END);
}

static void test_decide_daily_cap_ignores_attempts_of_the_previous_local_day(void **state)
{
    (void)state;
    /* three within 24 h, but one of them yesterday: today holds two */
    int64_t day[] = {NOW - 23 * 3600 * SEC, NOW - 1800 * SEC, NOW - 60 * SEC};
    ecm_decide_in in = base();
    in.counted_attempts = 2;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 3;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
}

static void test_decide_daily_cap_exceeded_waits_for_next_local_day(void **state)
{
    (void)state;
    /* 4 today under a cap of 3 (the cap was lowered) */
    int64_t day[] = {NOW - 4000 * SEC, NOW - 3000 * SEC, NOW - 2000 * SEC, NOW - 60 * SEC};
    ecm_decide_in in = base();
    in.counted_attempts = 3;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 4;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, UTC_DAY_END);
}

static void test_decide_delay_into_next_day_is_not_held_by_todays_cap(void **state)
{
    (void)state;
    /* the cap counts the day the next attempt falls on */
    int64_t day[] = {NOW - 3600 * SEC, NOW - 1800 * SEC, NOW - 60 * SEC};
    ecm_decide_in in = base();
    in.rule.delay_seconds = 3 * 3600;
    in.counted_attempts = 2;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 3;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, NOW + 3 * 3600 * SEC);
}

static void test_decide_daily_cap_applies_to_callback(void **state)
{
    (void)state;
    int64_t day[] = {NOW - 3600 * SEC, NOW - 1800 * SEC, NOW - 60 * SEC};
    ecm_decide_in in = base();
    in.outcome = O(CALLBACK_REQUESTED);
    in.callback_at_ms = NOW + 600 * SEC;
    in.counted_attempts = 2;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 3;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, UTC_DAY_END);
}

static void test_decide_next_time_at_end_at_retries(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.end_at_ms = NOW + 60 * SEC;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
}

static void test_decide_next_time_past_end_at_closes_expired(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.end_at_ms = NOW + 60 * SEC - 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(EXPIRED));
    assert_int_equal(d.counted_attempts, 1);
}

static void test_decide_without_end_at_never_expires(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.delay_seconds = 365 * 24 * 3600;
    in.end_at_ms = 0;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
}

static void test_decide_callback_past_end_at_closes_expired(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.outcome = O(CALLBACK_REQUESTED);
    in.callback_at_ms = NOW + 7200 * SEC;
    in.end_at_ms = NOW + 3600 * SEC;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(EXPIRED));
}

static void test_decide_daily_cap_pushing_past_end_at_closes_expired(void **state)
{
    (void)state;
    int64_t day[] = {NOW - 3600 * SEC, NOW - 1800 * SEC, NOW - 60 * SEC};
    ecm_decide_in in = base();
    in.counted_attempts = 2;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 3;
    in.end_at_ms = NOW + 3600 * SEC;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(EXPIRED));
}

static void test_decide_caps_close_before_expiry_check(void **state)
{
    (void)state;
    /* at the strategy cap and past the end: the real outcome wins */
    ecm_decide_in in = base();
    in.counted_attempts = 4;
    in.end_at_ms = NOW;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(NO_ANSWER));
}

/* Wherever the history isn't needed, no history can change the decision. */
static void test_decide_without_history_needs_only_closes_the_same(void **state)
{
    (void)state;
    int64_t day[3] = {NOW - 3 * SEC, NOW - 2 * SEC, NOW - SEC};
    int skipped = 0, needed = 0;
    for (int action = ECM_DECIDE_RULE_NONE; action <= ECM_DECIDE_RULE_CLOSE; action++) {
        for (int counted = 0; counted < 7; counted++) {
            for (int counts = 0; counts < 2; counts++) {
                ecm_decide_in in = base();
                in.rule.action = (ecm_decide_rule_action)action;
                in.counted_attempts = counted;
                in.counts_as_attempt = counts;
                if (ecm_decide_needs_history(&in)) {
                    needed++;
                    continue;
                }
                skipped++;
                ecm_decide_out bare = decide(&in);
                in.outcome_attempts = 2;
                in.phone_outcome_attempts = 2;
                in.counted_dispatch_ms = day;
                in.counted_dispatches = 3;
                ecm_decide_out full = decide(&in);
                assert_int_equal(bare.action, ECM_DECIDE_CLOSE);
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
    ecm_decide_in in = base();
    assert_int_equal(ecm_decide_needs_history(&in), 1);
}

/* ---- calling window and local day (ICU zones) ---- */

#define EVERY_DAY_9_TO_20                                                                          \
    "{\"mon\": [[\"09:00\", \"20:00\"]], \"tue\": [[\"09:00\", \"20:00\"]],"                       \
    " \"wed\": [[\"09:00\", \"20:00\"]], \"thu\": [[\"09:00\", \"20:00\"]],"                       \
    " \"fri\": [[\"09:00\", \"20:00\"]], \"sat\": [[\"09:00\", \"20:00\"]],"                       \
    " \"sun\": [[\"09:00\", \"20:00\"]]}"

/* A campaign window (legal hours 08:00-21:00); end_at "" for none. */
static ecm_window *window(const char *json, const char *end_at)
{
    ecm_legal_hours legal = {8 * 60, 21 * 60};
    ecm_window *w = NULL;
    char err[256];
    assert_int_equal(ecm_calling_window(json, NULL, end_at, &legal, &w, err, sizeof(err)), 0);
    return w;
}

/* base() in New York at now, with the campaign's window. */
static ecm_decide_in in_zone(const ecm_window *w, const char *contact_tz, int64_t now)
{
    ecm_decide_in in = base();
    in.now_ms = now;
    in.calling.window = w;
    in.calling.contact_tz = contact_tz;
    in.calling.campaign_tz = "America/New_York";
    return in;
}

static void test_decide_retry_due_at_22_new_york_waits_for_9(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_20, NULL);
    ecm_decide_in in =
        in_zone(w, "America/New_York", ecm_test_time_ms("2026-03-04T21:59:00-05:00"));
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-05T09:00:00-05:00"));
    assert_string_equal(d.zone, "America/New_York");
    ecm_window_destroy(w);
}

static void test_decide_retry_inside_window_keeps_delay(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_20, NULL);
    ecm_decide_in in =
        in_zone(w, "America/New_York", ecm_test_time_ms("2026-03-04T12:00:00-05:00"));
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-04T12:01:00-05:00"));
    ecm_window_destroy(w);
}

static void test_decide_retry_in_karachi_from_phone_zone(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_20, NULL);
    /* no contact zone: the number's (+92) zone, not the campaign's */
    const char *zones[] = {"Asia/Karachi", "Asia/Karachi"};
    ecm_decide_in in = in_zone(w, NULL, ecm_test_time_ms("2026-03-05T21:59:00+05:00"));
    in.calling.phone_zones = zones;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-06T09:00:00+05:00"));
    assert_string_equal(d.zone, "Asia/Karachi");
    ecm_window_destroy(w);
}

static void test_decide_retry_in_sydney_waits_for_local_morning(void **state)
{
    (void)state;
    /* 21:30 AEDT is 05:30 in New York, the campaign's zone: still closed
     * there too, but the answer must be Sydney's 09:00 */
    ecm_window *w = window(EVERY_DAY_9_TO_20, NULL);
    ecm_decide_in in =
        in_zone(w, "Australia/Sydney", ecm_test_time_ms("2026-03-05T21:29:00+11:00"));
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-06T09:00:00+11:00"));
    ecm_window_destroy(w);
}

static void test_decide_next_phone_uses_the_next_phones_zone(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_20, NULL);
    /* 12:00 in London is open, but the next phone is in Karachi (17:00 ->
     * with delay 0 still open); at 19:30 London it is 00:30 in Karachi */
    const char *zones[] = {"Europe/London", "Asia/Karachi"};
    ecm_decide_in in = in_zone(w, NULL, ecm_test_time_ms("2026-03-05T19:30:00Z"));
    in.calling.phone_zones = zones;
    in.outcome = O(INVALID_NUMBER);
    in.rule.next_phone = 1;
    in.rule.max_attempts = 1;
    in.rule.delay_seconds = 0;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.phone_index, 1);
    assert_string_equal(d.zone, "Asia/Karachi");
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-06T09:00:00+05:00"));
    ecm_window_destroy(w);
}

static void test_decide_contact_zone_wins_over_phone_zone(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_20, NULL);
    const char *zones[] = {"Asia/Karachi", "Asia/Karachi"};
    ecm_decide_in in =
        in_zone(w, "America/New_York", ecm_test_time_ms("2026-03-04T21:59:00-05:00"));
    in.calling.phone_zones = zones;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-05T09:00:00-05:00"));
    ecm_window_destroy(w);
}

static void test_decide_callback_at_22_waits_for_the_window(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_20, NULL);
    ecm_decide_in in =
        in_zone(w, "America/New_York", ecm_test_time_ms("2026-03-04T15:00:00-05:00"));
    in.outcome = O(CALLBACK_REQUESTED);
    in.callback_at_ms = ecm_test_time_ms("2026-03-04T22:00:00-05:00");
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-05T09:00:00-05:00"));
    ecm_window_destroy(w);
}

static void test_decide_local_day_cap_across_spring_forward(void **state)
{
    (void)state;
    /* 2026-03-08 is 23 h long in New York: it ends at 04:00Z, not 05:00Z */
    int64_t day[] = {ecm_test_time_ms("2026-03-07T20:00:00-05:00"),
                     ecm_test_time_ms("2026-03-08T09:00:00-04:00"),
                     ecm_test_time_ms("2026-03-08T15:00:00-04:00")};
    ecm_decide_in in =
        in_zone(NULL, "America/New_York", ecm_test_time_ms("2026-03-08T15:01:00-04:00"));
    in.max_attempts_per_day = 2;
    in.counted_attempts = 2;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 3;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-09T00:00:00-04:00"));
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-09T04:00:00Z"));
}

static void test_decide_local_day_cap_then_window_opens_next_morning(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_20, NULL);
    int64_t day[] = {ecm_test_time_ms("2026-03-08T09:00:00-04:00"),
                     ecm_test_time_ms("2026-03-08T10:00:00-04:00")};
    ecm_decide_in in =
        in_zone(w, "America/New_York", ecm_test_time_ms("2026-03-08T10:01:00-04:00"));
    in.max_attempts_per_day = 2;
    in.counted_attempts = 1;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 2;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-09T09:00:00-04:00"));
    /* held by the cap, not by the window that then waits for 09:00 */
    assert_int_equal(d.held_rule_id, -1);
    assert_string_equal(d.held_why, "the strategy's cap of 2 attempts a day is reached on the "
                                    "contact's local day (America/New_York); it is called again "
                                    "on the next one");
    ecm_window_destroy(w);
}

static void test_decide_local_day_cap_counts_in_the_contacts_zone(void **state)
{
    (void)state;
    /* Two calls on Monday in Sydney (Sunday evening in New York, the
     * campaign's zone): the next goes Tuesday 09:00 Sydney */
    ecm_window *w = window(EVERY_DAY_9_TO_20, NULL);
    int64_t day[] = {ecm_test_time_ms("2026-03-09T09:00:00+11:00"),
                     ecm_test_time_ms("2026-03-09T10:00:00+11:00")};
    ecm_decide_in in =
        in_zone(w, "Australia/Sydney", ecm_test_time_ms("2026-03-09T10:01:00+11:00"));
    in.max_attempts_per_day = 2;
    in.counted_attempts = 1;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 2;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-10T09:00:00+11:00"));
    ecm_window_destroy(w);
}

static void test_decide_no_opening_before_end_at_closes_expired(void **state)
{
    (void)state;
    /* due 22:00, the campaign ends at 08:59 next morning */
    ecm_window *w = window(EVERY_DAY_9_TO_20, "2026-03-05T08:59:00-05:00");
    ecm_decide_in in =
        in_zone(w, "America/New_York", ecm_test_time_ms("2026-03-04T21:59:00-05:00"));
    in.end_at_ms = ecm_test_time_ms("2026-03-05T08:59:00-05:00");
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(EXPIRED));
    assert_int_equal(d.counted_attempts, 1);
    ecm_window_destroy(w);
}

static void test_decide_opening_before_end_at_retries(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_20, "2026-03-05T09:30:00-05:00");
    ecm_decide_in in =
        in_zone(w, "America/New_York", ecm_test_time_ms("2026-03-04T21:59:00-05:00"));
    in.end_at_ms = ecm_test_time_ms("2026-03-05T09:30:00-05:00");
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.next_attempt_at_ms, ecm_test_time_ms("2026-03-05T09:00:00-05:00"));
    ecm_window_destroy(w);
}

static void test_decide_daily_cap_pushing_past_window_end_closes_expired(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_20, "2026-03-08T23:00:00-04:00");
    int64_t day[] = {ecm_test_time_ms("2026-03-08T09:00:00-04:00"),
                     ecm_test_time_ms("2026-03-08T10:00:00-04:00")};
    ecm_decide_in in =
        in_zone(w, "America/New_York", ecm_test_time_ms("2026-03-08T10:01:00-04:00"));
    in.end_at_ms = ecm_test_time_ms("2026-03-08T23:00:00-04:00");
    in.max_attempts_per_day = 2;
    in.counted_attempts = 1;
    in.counted_dispatch_ms = day;
    in.counted_dispatches = 2;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(EXPIRED));
    ecm_window_destroy(w);
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
        cmocka_unit_test(test_decide_daily_cap_reached_waits_for_next_local_day),
        cmocka_unit_test(test_decide_daily_cap_ignores_attempts_of_the_previous_local_day),
        cmocka_unit_test(test_decide_daily_cap_exceeded_waits_for_next_local_day),
        cmocka_unit_test(test_decide_delay_into_next_day_is_not_held_by_todays_cap),
        cmocka_unit_test(test_decide_daily_cap_applies_to_callback),
        cmocka_unit_test(test_decide_next_time_at_end_at_retries),
        cmocka_unit_test(test_decide_next_time_past_end_at_closes_expired),
        cmocka_unit_test(test_decide_without_end_at_never_expires),
        cmocka_unit_test(test_decide_callback_past_end_at_closes_expired),
        cmocka_unit_test(test_decide_daily_cap_pushing_past_end_at_closes_expired),
        cmocka_unit_test(test_decide_caps_close_before_expiry_check),
        cmocka_unit_test(test_decide_retry_due_at_22_new_york_waits_for_9),
        cmocka_unit_test(test_decide_retry_inside_window_keeps_delay),
        cmocka_unit_test(test_decide_retry_in_karachi_from_phone_zone),
        cmocka_unit_test(test_decide_retry_in_sydney_waits_for_local_morning),
        cmocka_unit_test(test_decide_next_phone_uses_the_next_phones_zone),
        cmocka_unit_test(test_decide_contact_zone_wins_over_phone_zone),
        cmocka_unit_test(test_decide_callback_at_22_waits_for_the_window),
        cmocka_unit_test(test_decide_local_day_cap_across_spring_forward),
        cmocka_unit_test(test_decide_local_day_cap_then_window_opens_next_morning),
        cmocka_unit_test(test_decide_local_day_cap_counts_in_the_contacts_zone),
        cmocka_unit_test(test_decide_no_opening_before_end_at_closes_expired),
        cmocka_unit_test(test_decide_opening_before_end_at_retries),
        cmocka_unit_test(test_decide_daily_cap_pushing_past_window_end_closes_expired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

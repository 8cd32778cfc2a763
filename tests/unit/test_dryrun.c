/* A strategy's dry run (lib/dispatch/ecm_dryrun.h): the projected attempts
 * of a sample contact, to the minute, across a DST change, with the daily
 * cap, the window, a contact rule's cap and the closes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_calling.h"
#include "ecm_dryrun.h"
#include "ecm_test_support.h"
#include "ecm_zone.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x

#define EVERY_DAY_9_TO_17                                                                          \
    "{\"mon\": [[\"09:00\", \"17:00\"]], \"tue\": [[\"09:00\", \"17:00\"]],"                       \
    " \"wed\": [[\"09:00\", \"17:00\"]], \"thu\": [[\"09:00\", \"17:00\"]],"                       \
    " \"fri\": [[\"09:00\", \"17:00\"]], \"sat\": [[\"09:00\", \"17:00\"]],"                       \
    " \"sun\": [[\"09:00\", \"17:00\"]]}"

static ecm_window *window(const char *json)
{
    ecm_legal_hours legal = {8 * 60, 21 * 60};
    ecm_window *w = NULL;
    char err[200];
    assert_int_equal(ecm_calling_window(json, NULL, NULL, &legal, &w, err, sizeof(err)), 0);
    return w;
}

/* Max 10 attempts, 2 a day; NO_ANSWER retries after 3 h (at most 5 such),
 * BUSY after 30 min. */
static const ecm_dryrun_rule RULES[] = {
    {O(NO_ANSWER), {ECM_DECIDE_RULE_RETRY, 3 * 3600, 5, 0, ECM_DECIDE_CH_NONE, 1}},
    {O(BUSY), {ECM_DECIDE_RULE_RETRY, 1800, 5, 0, ECM_DECIDE_CH_NONE, 1}},
    {O(CONNECTED), {ECM_DECIDE_RULE_CLOSE, 0, 1, 0, ECM_DECIDE_CH_NONE, 1}},
};

static ecm_dryrun_in base(const ecm_window *w, const Ecm__V1__Outcome *outcomes, size_t n)
{
    ecm_dryrun_in in = {0};
    in.max_attempts = 10;
    in.max_attempts_per_day = 2;
    in.rules = RULES;
    in.nrules = sizeof(RULES) / sizeof(RULES[0]);
    in.channel = ECM_DECIDE_CH_VOICE;
    in.window = w;
    in.campaign_tz = "America/New_York";
    in.has_voice = 1;
    in.contact_tz = "Australia/Sydney";
    in.phone_count = 1;
    in.outcomes = outcomes;
    in.noutcomes = n;
    return in;
}

static void assert_local(const char *zone, int64_t at, const char *want)
{
    char got[40];
    assert_int_equal(ecm_dryrun_local_time(zone, at, got, sizeof got), 0);
    assert_string_equal(got, want);
}

/* Sydney leaves DST on Sunday 2026-04-05 at 03:00 AEDT (+11), back to 02:00
 * AEST (+10): the window opens at 09:00 wall clock on both sides, an hour
 * later in UTC after the change, and that Sunday is 25 hours long. */
static void test_dryrun_sydney_across_the_april_dst_change(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_17);
    const Ecm__V1__Outcome outcomes[] = {O(NO_ANSWER), O(NO_ANSWER), O(BUSY),
                                         O(NO_ANSWER), O(NO_ANSWER), O(NO_ANSWER)};
    ecm_dryrun_in in = base(w, outcomes, 6);
    in.start_ms = ecm_test_time_ms("2026-04-04T07:00:00+11:00"); /* Saturday, before 09:00 */
    static ecm_dryrun_out out;
    char err[200];
    assert_int_equal(ecm_dryrun_run(&in, &out, err, sizeof err), 0);
    assert_true(out.dispatched);
    assert_string_equal(out.first_moved.kind, "window");
    assert_int_equal(out.nsteps, 6);

    /* 1: Saturday 09:00 AEDT, when the window opens. */
    assert_int_equal(out.steps[0].at_ms, ecm_test_time_ms("2026-04-03T22:00:00Z"));
    assert_local("Australia/Sydney", out.steps[0].at_ms, "2026-04-04T09:00:00+11:00");
    assert_string_equal(out.steps[0].zone, "Australia/Sydney");
    /* 2: three hours later, same day (1 of 2 used). */
    assert_int_equal(out.steps[0].action, ECM_DECIDE_RETRY);
    assert_string_equal(out.steps[0].moved.kind, "");
    assert_int_equal(out.steps[1].at_ms, ecm_test_time_ms("2026-04-04T01:00:00Z"));
    assert_local("Australia/Sydney", out.steps[1].at_ms, "2026-04-04T12:00:00+11:00");
    /* 3: Saturday's two are used: Sunday 09:00, now AEST (+10). */
    assert_string_equal(out.steps[1].moved.kind, "daily_cap");
    assert_int_equal(out.steps[1].asked_ms, ecm_test_time_ms("2026-04-04T04:00:00Z"));
    assert_int_equal(out.steps[2].at_ms, ecm_test_time_ms("2026-04-04T23:00:00Z"));
    assert_local("Australia/Sydney", out.steps[2].at_ms, "2026-04-05T09:00:00+10:00");
    assert_int_equal(out.steps[2].outcome, O(BUSY));
    /* 4: BUSY, 30 minutes later. */
    assert_string_equal(out.steps[2].moved.kind, "");
    assert_int_equal(out.steps[3].at_ms, ecm_test_time_ms("2026-04-04T23:30:00Z"));
    assert_local("Australia/Sydney", out.steps[3].at_ms, "2026-04-05T09:30:00+10:00");
    /* 5: Sunday's two used (the 25-hour day): Monday 09:00 AEST. */
    assert_string_equal(out.steps[3].moved.kind, "daily_cap");
    assert_int_equal(out.steps[4].at_ms, ecm_test_time_ms("2026-04-05T23:00:00Z"));
    assert_local("Australia/Sydney", out.steps[4].at_ms, "2026-04-06T09:00:00+10:00");
    /* 6: three hours later. */
    assert_int_equal(out.steps[5].at_ms, ecm_test_time_ms("2026-04-06T02:00:00Z"));
    assert_local("Australia/Sydney", out.steps[5].at_ms, "2026-04-06T12:00:00+10:00");
    for (int i = 0; i < 6; i++) {
        assert_int_equal(out.steps[i].attempt, i + 1);
        assert_int_equal(out.steps[i].channel, ECM_DECIDE_CH_VOICE);
        assert_int_equal(out.steps[i].phone_index, 0);
    }
    /* The fifth NO_ANSWER reaches the rule's 5: closed NO_ANSWER. */
    assert_int_equal(out.steps[5].action, ECM_DECIDE_CLOSE);
    assert_int_equal(out.steps[5].close_outcome, O(NO_ANSWER));
    assert_string_equal(out.steps[5].reason, "max attempts for outcome reached");
    ecm_window_destroy(w);
}

/* A retry asked for after the window closes waits for the next opening, and
 * says the window moved it. */
static void test_dryrun_retry_after_closing_time_waits_for_the_window(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_17);
    const Ecm__V1__Outcome outcomes[] = {O(NO_ANSWER), O(CONNECTED)};
    ecm_dryrun_in in = base(w, outcomes, 2);
    in.start_ms = ecm_test_time_ms("2026-04-07T15:00:00+10:00"); /* Tuesday, inside */
    static ecm_dryrun_out out;
    char err[200];
    assert_int_equal(ecm_dryrun_run(&in, &out, err, sizeof err), 0);
    assert_string_equal(out.first_moved.kind, "");
    assert_int_equal(out.steps[0].at_ms, in.start_ms);
    assert_int_equal(out.steps[0].asked_ms, ecm_test_time_ms("2026-04-07T18:00:00+10:00"));
    assert_string_equal(out.steps[0].moved.kind, "window");
    assert_true(out.steps[0].moved.why[0] != '\0');
    assert_int_equal(out.steps[1].at_ms, ecm_test_time_ms("2026-04-08T09:00:00+10:00"));
    assert_int_equal(out.steps[1].action, ECM_DECIDE_CLOSE);
    assert_int_equal(out.steps[1].close_outcome, O(CONNECTED));
    assert_int_equal(out.nsteps, 2);
    ecm_window_destroy(w);
}

/* A contact rule's cap counts the projected attempts: 3 calls in 7 days
 * holds the fourth until the first leaves the rolling window. */
static void test_dryrun_rule_cap_counts_projected_attempts(void **state)
{
    (void)state;
    ecm_rules *r = ecm_rules_new();
    char err[200];
    assert_non_null(r);
    assert_int_equal(ecm_rules_add_set(r, 1, "Reg F", "US", err, sizeof err), 0);
    assert_int_equal(ecm_rules_add_cap(r, 1, 7, "7 calls in 7 days", ECM_RULES_VOICE,
                                       ECM_RULES_SAME_CONTACT, 3, 7 * 24 * 3600, err, sizeof err),
                     0);
    const Ecm__V1__Outcome outcomes[] = {O(BUSY), O(BUSY), O(BUSY), O(BUSY)};
    ecm_dryrun_in in = base(NULL, outcomes, 4);
    in.max_attempts_per_day = 10;
    in.rules_set = r;
    in.region = "US-NY";
    in.contact_tz = "America/New_York";
    in.start_ms = ecm_test_time_ms("2026-06-01T10:00:00-04:00");
    static ecm_dryrun_out out;
    assert_int_equal(ecm_dryrun_run(&in, &out, err, sizeof err), 0);
    assert_int_equal(out.nsteps, 4);
    assert_int_equal(out.steps[1].at_ms, ecm_test_time_ms("2026-06-01T10:30:00-04:00"));
    assert_int_equal(out.steps[2].at_ms, ecm_test_time_ms("2026-06-01T11:00:00-04:00"));
    assert_string_equal(out.steps[2].moved.kind, "rule");
    assert_int_equal(out.steps[2].moved.rule_id, 7);
    /* seven days after the first attempt */
    assert_int_equal(out.steps[3].at_ms, ecm_test_time_ms("2026-06-08T10:00:00-04:00"));
    ecm_rules_destroy(r);
}

/* A rule with switch_channel sms moves to the first number that may be
 * mobile; without one the switch is skipped and says why. */
static void test_dryrun_switch_to_sms_needs_a_mobile_number(void **state)
{
    (void)state;
    static const ecm_dryrun_rule rules[] = {
        {O(NO_ANSWER), {ECM_DECIDE_RULE_RETRY, 600, 5, 0, ECM_DECIDE_CH_SMS, 1}},
    };
    const Ecm__V1__Outcome outcomes[] = {O(NO_ANSWER)};
    const int mobile[] = {0, 1};
    ecm_dryrun_in in = base(NULL, outcomes, 1);
    in.rules = rules;
    in.nrules = 1;
    in.has_sms = 1;
    in.phone_count = 2;
    in.phone_mobile = mobile;
    in.start_ms = ecm_test_time_ms("2026-06-01T10:00:00-04:00");
    static ecm_dryrun_out out;
    char err[200];
    assert_int_equal(ecm_dryrun_run(&in, &out, err, sizeof err), 0);
    assert_int_equal(out.steps[0].action, ECM_DECIDE_RETRY);
    assert_int_equal(out.steps[0].next_channel, ECM_DECIDE_CH_SMS);
    assert_int_equal(out.steps[0].next_phone_index, 1);
    assert_true(out.steps[0].switched);

    const int landlines[] = {0, 0};
    in.phone_mobile = landlines;
    assert_int_equal(ecm_dryrun_run(&in, &out, err, sizeof err), 0);
    assert_int_equal(out.steps[0].next_channel, ECM_DECIDE_CH_VOICE);
    assert_string_equal(out.steps[0].channel_note, "SMS step skipped: no mobile number");
}

/* No opening before the campaign's end: no attempt at all. */
static void test_dryrun_nothing_before_end_dispatches_nothing(void **state)
{
    (void)state;
    ecm_legal_hours legal = {8 * 60, 21 * 60};
    ecm_window *w = NULL;
    char err[200];
    assert_int_equal(ecm_calling_window(EVERY_DAY_9_TO_17, NULL, "2026-04-04T08:00:00+11:00",
                                        &legal, &w, err, sizeof err),
                     0);
    const Ecm__V1__Outcome outcomes[] = {O(NO_ANSWER)};
    ecm_dryrun_in in = base(w, outcomes, 1);
    in.start_ms = ecm_test_time_ms("2026-04-04T07:00:00+11:00");
    in.end_at_ms = ecm_test_time_ms("2026-04-04T08:00:00+11:00");
    static ecm_dryrun_out out;
    assert_int_equal(ecm_dryrun_run(&in, &out, err, sizeof err), 0);
    assert_false(out.dispatched);
    assert_int_equal(out.nsteps, 0);
    assert_string_equal(out.first_moved.kind, "end");
    ecm_window_destroy(w);
}

/* The most outcomes a run takes: every attempt later than the one before,
 * inside the window, and never more than the daily cap in one local day
 * (Sydney, across the April change). */
static void test_dryrun_hundred_outcomes_keep_the_window_and_the_daily_cap(void **state)
{
    (void)state;
    ecm_window *w = window(EVERY_DAY_9_TO_17);
    Ecm__V1__Outcome outcomes[ECM_DRYRUN_MAX_STEPS];
    for (size_t i = 0; i < ECM_DRYRUN_MAX_STEPS; i++)
        outcomes[i] = O(BUSY);
    static const ecm_dryrun_rule rules[] = {
        {O(BUSY), {ECM_DECIDE_RULE_RETRY, 1800, 1000, 0, ECM_DECIDE_CH_NONE, 1}},
    };
    ecm_dryrun_in in = base(w, outcomes, ECM_DRYRUN_MAX_STEPS);
    in.rules = rules;
    in.nrules = 1;
    in.max_attempts = 1000;
    in.max_attempts_per_day = 3;
    in.start_ms = ecm_test_time_ms("2026-04-03T09:00:00+11:00");
    static ecm_dryrun_out out;
    char err[200];
    assert_int_equal(ecm_dryrun_run(&in, &out, err, sizeof err), 0);
    assert_int_equal(out.nsteps, ECM_DRYRUN_MAX_STEPS);
    int per_day[64] = {0};
    for (size_t i = 0; i < out.nsteps; i++) {
        const ecm_dryrun_step *s = &out.steps[i];
        if (i > 0)
            assert_true(s->at_ms > out.steps[i - 1].at_ms);
        assert_true(ecm_window_is_open(w, "Australia/Sydney", s->at_ms));
        int f[6];
        assert_int_equal(ecm_zone_utc_to_local("Australia/Sydney", s->at_ms, f), 0);
        int day = (f[1] - 4) * 30 + f[2]; /* April and May: distinct per day */
        assert_true(day >= 0 && day < 64);
        assert_true(++per_day[day] <= 3);
    }
    ecm_window_destroy(w);
}

static void test_dryrun_refuses_bad_input(void **state)
{
    (void)state;
    static ecm_dryrun_out out;
    char err[200];
    ecm_dryrun_in in = base(NULL, NULL, 0);
    assert_int_equal(ecm_dryrun_run(&in, &out, err, sizeof err), -1);
    const Ecm__V1__Outcome outcomes[] = {O(NO_ANSWER)};
    in = base(NULL, outcomes, 1);
    in.phone_count = 11;
    assert_int_equal(ecm_dryrun_run(&in, &out, err, sizeof err), -1);
    assert_string_equal(err, "phones: 1 to 10 numbers");
}

static void test_dryrun_local_time_has_the_offset(void **state)
{
    (void)state;
    assert_local("Australia/Sydney", ecm_test_time_ms("2026-04-04T15:59:00Z"),
                 "2026-04-05T02:59:00+11:00");
    assert_local("Australia/Sydney", ecm_test_time_ms("2026-04-04T16:00:00Z"),
                 "2026-04-05T02:00:00+10:00");
    assert_local("Asia/Kolkata", 0, "1970-01-01T05:30:00+05:30");
    assert_local("America/St_Johns", ecm_test_time_ms("2026-01-01T12:00:00Z"),
                 "2026-01-01T08:30:00-03:30");
    char buf[40];
    assert_int_equal(ecm_dryrun_local_time("Not/AZone", 0, buf, sizeof buf), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dryrun_sydney_across_the_april_dst_change),
        cmocka_unit_test(test_dryrun_retry_after_closing_time_waits_for_the_window),
        cmocka_unit_test(test_dryrun_rule_cap_counts_projected_attempts),
        cmocka_unit_test(test_dryrun_switch_to_sms_needs_a_mobile_number),
        cmocka_unit_test(test_dryrun_nothing_before_end_dispatches_nothing),
        cmocka_unit_test(test_dryrun_hundred_outcomes_keep_the_window_and_the_daily_cap),
        cmocka_unit_test(test_dryrun_refuses_bad_input),
        cmocka_unit_test(test_dryrun_local_time_has_the_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

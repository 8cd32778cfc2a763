/* The strategy decision's channel steps (lib/dispatch/ecm_decide.h,
 * steps 4a-4b): switch_channel/switch_after, per-channel caps, the order
 * against the other rules, and the note of a skipped switch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_test_support.h"
#include "ecm_decide.h"

#define NOW ((int64_t)1700000000000)
#define SEC ((int64_t)1000)

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x

/* A voice attempt ended BUSY: the strategy allows 10 attempts, 5 a day;
 * BUSY retries after 60 s at most 3 times, and switches to SMS after 2. The
 * contact has 3 numbers, its first mobile one is index 2. */
static ecm_decide_in base(void)
{
    ecm_decide_in in = {0};
    in.max_attempts = 10;
    in.max_attempts_per_day = 5;
    in.rule.action = ECM_DECIDE_RULE_RETRY;
    in.rule.delay_seconds = 60;
    in.rule.max_attempts = 3;
    in.rule.switch_to = ECM_DECIDE_CH_SMS;
    in.rule.switch_after = 2;
    in.channel = ECM_DECIDE_CH_VOICE;
    in.phone_index = 0;
    in.phone_count = 3;
    in.switch_phone_index = 2;
    in.outcome = O(BUSY);
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

static void test_switch_below_switch_after_retries_on_same_channel(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.counted_attempts = 0;
    in.outcome_attempts = 0;
    in.channel_attempts[ECM_DECIDE_CH_VOICE] = 0;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_VOICE);
    assert_int_equal(d.switched, 0);
    assert_int_equal(d.phone_index, 0);
    assert_int_equal(d.skipped_to, ECM_DECIDE_CH_NONE);
    assert_string_equal(d.channel_note, "");
    assert_int_equal(ecm_decide_next_channel(&in), ECM_DECIDE_CH_VOICE);
}

static void test_switch_at_switch_after_retries_on_sms_first_mobile(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    in.channel_attempts[ECM_DECIDE_CH_VOICE] = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_SMS);
    assert_int_equal(d.switched, 1);
    assert_int_equal(d.phone_index, 2);
    assert_int_equal(d.next_attempt_at_ms, NOW + 60 * SEC);
    assert_int_equal(d.counted_attempts, 2);
    assert_string_equal(d.channel_note, "");
    assert_int_equal(ecm_decide_next_channel(&in), ECM_DECIDE_CH_SMS);
}

static void test_switch_comes_before_the_rules_own_cap(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.max_attempts = 2; /* this BUSY would close by the rule's cap */
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_SMS);
}

static void test_close_rule_never_switches(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.action = ECM_DECIDE_RULE_CLOSE;
    in.outcome_attempts = 5;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(BUSY));
    assert_int_equal(d.skipped_to, ECM_DECIDE_CH_NONE);
    assert_int_equal(ecm_decide_next_channel(&in), ECM_DECIDE_CH_VOICE);
}

static void test_strategy_max_attempts_closes_before_switch(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.max_attempts = 2;
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_string_equal(d.reason, "max attempts reached");
    assert_string_equal(d.channel_note, "");
}

static void test_switch_skipped_without_mobile_keeps_voice_and_notes(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    in.switch_blocked = "no mobile number";
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_VOICE);
    assert_int_equal(d.switched, 0);
    assert_int_equal(d.phone_index, 0);
    assert_int_equal(d.skipped_to, ECM_DECIDE_CH_SMS);
    assert_string_equal(d.channel_note, "SMS step skipped: no mobile number");
    assert_int_equal(ecm_decide_next_channel(&in), ECM_DECIDE_CH_VOICE);
}

static void test_switch_skipped_then_rule_cap_closes_with_note(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.counted_attempts = 2;
    in.outcome_attempts = 2; /* this is the rule's third BUSY: its cap */
    in.switch_blocked = "every mobile number is on the SMS do-not-contact list";
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(BUSY));
    assert_int_equal(d.skipped_to, ECM_DECIDE_CH_SMS);
    assert_string_equal(d.channel_note, "SMS step skipped: every mobile number is on the SMS "
                                        "do-not-contact list");
}

static void test_switch_skipped_when_target_cap_reached(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.max_sms_attempts = 1;
    in.counted_attempts = 3;
    in.outcome_attempts = 1;
    in.channel_attempts[ECM_DECIDE_CH_VOICE] = 2;
    in.channel_attempts[ECM_DECIDE_CH_SMS] = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_VOICE);
    assert_string_equal(d.channel_note, "SMS step skipped: SMS cap of 1 reached");
}

static void test_switch_below_target_cap_goes(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.max_sms_attempts = 2;
    in.counted_attempts = 3;
    in.outcome_attempts = 1;
    in.channel_attempts[ECM_DECIDE_CH_SMS] = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_SMS);
}

static void test_own_channel_cap_closes_without_switch_rule(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.switch_to = ECM_DECIDE_CH_NONE;
    in.max_voice_attempts = 2;
    in.counted_attempts = 1;
    in.outcome_attempts = 0;
    in.channel_attempts[ECM_DECIDE_CH_VOICE] = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(BUSY));
    assert_string_equal(d.reason, "voice cap reached");
}

static void test_own_channel_cap_below_retries(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.switch_to = ECM_DECIDE_CH_NONE;
    in.max_voice_attempts = 3;
    in.counted_attempts = 1;
    in.channel_attempts[ECM_DECIDE_CH_VOICE] = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_VOICE);
}

static void test_own_channel_cap_switches_before_switch_after(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.switch_after = 5;
    in.max_voice_attempts = 2;
    in.counted_attempts = 1;
    in.outcome_attempts = 0;
    in.channel_attempts[ECM_DECIDE_CH_VOICE] = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_SMS);
    assert_int_equal(d.phone_index, 2);
}

static void test_own_channel_cap_with_impossible_switch_closes_with_note(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.switch_after = 5;
    in.max_voice_attempts = 1;
    in.switch_blocked = "campaign has no SMS template";
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_string_equal(d.reason, "voice cap reached");
    assert_string_equal(d.channel_note, "SMS step skipped: campaign has no SMS template");
    assert_int_equal(ecm_decide_next_channel(&in), ECM_DECIDE_CH_VOICE);
}

static void test_not_attempted_does_not_count_against_channel_cap(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.switch_to = ECM_DECIDE_CH_NONE;
    in.outcome = O(NOT_ATTEMPTED);
    in.counts_as_attempt = 0;
    in.max_voice_attempts = 2;
    in.counted_attempts = 1;
    in.channel_attempts[ECM_DECIDE_CH_VOICE] = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_VOICE);
}

static void test_switch_to_own_channel_is_no_switch(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.switch_to = ECM_DECIDE_CH_VOICE;
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_VOICE);
    assert_int_equal(d.switched, 0);
    assert_string_equal(d.channel_note, "");
}

static void test_sms_undelivered_switches_to_voice_on_same_phone(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.channel = ECM_DECIDE_CH_SMS;
    in.outcome = O(SMS_UNDELIVERED);
    in.rule.switch_to = ECM_DECIDE_CH_VOICE;
    in.rule.switch_after = 1;
    in.phone_index = 1;
    in.switch_phone_index = 0; /* not read for voice */
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_VOICE);
    assert_int_equal(d.switched, 1);
    assert_int_equal(d.phone_index, 1);
    assert_string_equal(d.reason, "retry on another channel");
}

static void test_voice_switch_skipped_without_cisco(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.channel = ECM_DECIDE_CH_SMS;
    in.outcome = O(SMS_UNDELIVERED);
    in.rule.switch_to = ECM_DECIDE_CH_VOICE;
    in.rule.switch_after = 1;
    in.rule.max_attempts = 1;
    in.switch_blocked = "campaign has no Cisco target";
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.skipped_to, ECM_DECIDE_CH_VOICE);
    assert_string_equal(d.channel_note, "voice step skipped: campaign has no Cisco target");
}

static void test_switch_retry_past_end_at_closes_expired_on_old_channel(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    in.end_at_ms = NOW + 10 * SEC;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_CLOSE);
    assert_int_equal(d.outcome, O(EXPIRED));
    assert_int_equal(d.channel, ECM_DECIDE_CH_VOICE);
    assert_int_equal(d.switched, 0);
    assert_int_equal(d.phone_index, 0);
}

static void test_switch_ignores_next_phone(void **state)
{
    (void)state;
    ecm_decide_in in = base();
    in.rule.next_phone = 1;
    in.rule.max_attempts = 1;
    in.counted_attempts = 1;
    in.outcome_attempts = 1;
    in.phone_outcome_attempts = 1;
    ecm_decide_out d = decide(&in);
    assert_int_equal(d.action, ECM_DECIDE_RETRY);
    assert_int_equal(d.channel, ECM_DECIDE_CH_SMS);
    assert_int_equal(d.phone_index, 2);
}

static void test_channel_names(void **state)
{
    (void)state;
    assert_string_equal(ecm_decide_channel_name(ECM_DECIDE_CH_VOICE), "voice");
    assert_string_equal(ecm_decide_channel_name(ECM_DECIDE_CH_SMS), "sms");
    assert_string_equal(ecm_decide_channel_name(ECM_DECIDE_CH_NONE), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch_below_switch_after_retries_on_same_channel),
        cmocka_unit_test(test_switch_at_switch_after_retries_on_sms_first_mobile),
        cmocka_unit_test(test_switch_comes_before_the_rules_own_cap),
        cmocka_unit_test(test_close_rule_never_switches),
        cmocka_unit_test(test_strategy_max_attempts_closes_before_switch),
        cmocka_unit_test(test_switch_skipped_without_mobile_keeps_voice_and_notes),
        cmocka_unit_test(test_switch_skipped_then_rule_cap_closes_with_note),
        cmocka_unit_test(test_switch_skipped_when_target_cap_reached),
        cmocka_unit_test(test_switch_below_target_cap_goes),
        cmocka_unit_test(test_own_channel_cap_closes_without_switch_rule),
        cmocka_unit_test(test_own_channel_cap_below_retries),
        cmocka_unit_test(test_own_channel_cap_switches_before_switch_after),
        cmocka_unit_test(test_own_channel_cap_with_impossible_switch_closes_with_note),
        cmocka_unit_test(test_not_attempted_does_not_count_against_channel_cap),
        cmocka_unit_test(test_switch_to_own_channel_is_no_switch),
        cmocka_unit_test(test_sms_undelivered_switches_to_voice_on_same_phone),
        cmocka_unit_test(test_voice_switch_skipped_without_cisco),
        cmocka_unit_test(test_switch_retry_past_end_at_closes_expired_on_old_channel),
        cmocka_unit_test(test_switch_ignores_next_phone),
        cmocka_unit_test(test_channel_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

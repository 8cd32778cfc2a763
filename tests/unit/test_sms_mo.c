/* Inbound SMS keywords (sms_mo_parse), sender numbers and the argument
 * decoding of gateway callbacks: pure functions, no database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sms_args.h"
#include "sms_mo.h"

static void expect_keyword(const char *text, sms_mo_action action, const char *keyword)
{
    const char *got = "unset";
    sms_mo_action a = sms_mo_parse(text, &got);
    const char *shown = text ? text : "(null)";
    if (a != action) {
        fail_msg("'%s': expected action %s, got %s", shown, sms_mo_action_name(action),
                 sms_mo_action_name(a));
    }
    if (keyword == NULL) {
        if (got != NULL) {
            fail_msg("'%s': expected no keyword, got %s", shown, got);
        }
    } else if (got == NULL || strcmp(got, keyword) != 0) {
        fail_msg("'%s': expected keyword %s, got %s", shown, keyword, got ? got : "(none)");
    }
}

static void test_mo_every_opt_out_keyword_is_opt_out(void **state)
{
    (void)state;
    static const char *const words[] = {"STOP",        "STOPALL", "END",    "CANCEL",
                                        "UNSUBSCRIBE", "QUIT",    "REVOKE", "OPTOUT"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        expect_keyword(words[i], SMS_MO_OPT_OUT, words[i]);
    }
}

static void test_mo_opt_in_and_help_keywords(void **state)
{
    (void)state;
    expect_keyword("START", SMS_MO_OPT_IN, "START");
    expect_keyword("YES", SMS_MO_OPT_IN, "YES");
    expect_keyword("UNSTOP", SMS_MO_OPT_IN, "UNSTOP");
    expect_keyword("HELP", SMS_MO_HELP, "HELP");
    expect_keyword("INFO", SMS_MO_HELP, "INFO");
}

static void test_mo_keywords_ignore_case(void **state)
{
    (void)state;
    expect_keyword("stop", SMS_MO_OPT_OUT, "STOP");
    expect_keyword("Stop", SMS_MO_OPT_OUT, "STOP");
    expect_keyword("sToPaLl", SMS_MO_OPT_OUT, "STOPALL");
    expect_keyword("unsubscribe", SMS_MO_OPT_OUT, "UNSUBSCRIBE");
    expect_keyword("OptOut", SMS_MO_OPT_OUT, "OPTOUT");
    expect_keyword("start", SMS_MO_OPT_IN, "START");
    expect_keyword("yes", SMS_MO_OPT_IN, "YES");
    expect_keyword("Help", SMS_MO_HELP, "HELP");
}

static void test_mo_keywords_ignore_surrounding_spaces_and_punctuation(void **state)
{
    (void)state;
    expect_keyword("  STOP  ", SMS_MO_OPT_OUT, "STOP");
    expect_keyword("\tstop\r\n", SMS_MO_OPT_OUT, "STOP");
    expect_keyword("Stop!", SMS_MO_OPT_OUT, "STOP");
    expect_keyword(" stop. ", SMS_MO_OPT_OUT, "STOP");
    expect_keyword("!!!Stop!!!", SMS_MO_OPT_OUT, "STOP");
    expect_keyword("\"cancel\"", SMS_MO_OPT_OUT, "CANCEL");
    expect_keyword("(quit)", SMS_MO_OPT_OUT, "QUIT");
    expect_keyword("end...", SMS_MO_OPT_OUT, "END");
    expect_keyword("*REVOKE*", SMS_MO_OPT_OUT, "REVOKE");
    expect_keyword("start?", SMS_MO_OPT_IN, "START");
    expect_keyword("help?!", SMS_MO_HELP, "HELP");
}

static void test_mo_other_texts_are_no_keyword(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "stop it",   "STOPPED", "please stop", "Stop now!", "S T O P", "STO P",
        "s.t.o.p",   "",        "   ",         "!!!",       "yes no",  "helpful",
        "unstopped", "optout2", "2stop",       "STOP✋",     "thanks",  "opt out",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        expect_keyword(texts[i], SMS_MO_NONE, NULL);
    }
    expect_keyword(NULL, SMS_MO_NONE, NULL);
    /* The out-parameter is optional. */
    assert_int_equal(sms_mo_parse("stop", NULL), SMS_MO_OPT_OUT);
}

static void test_mo_action_names_are_the_db_values(void **state)
{
    (void)state;
    assert_string_equal(sms_mo_action_name(SMS_MO_OPT_OUT), "opt_out");
    assert_string_equal(sms_mo_action_name(SMS_MO_OPT_IN), "opt_in");
    assert_string_equal(sms_mo_action_name(SMS_MO_HELP), "help");
    assert_string_equal(sms_mo_action_name(SMS_MO_NONE), "none");
}

static void test_mo_sender_number_is_normalised_or_refused(void **state)
{
    (void)state;
    char out[24];
    assert_int_equal(sms_mo_phone_normalize("+1 555-123-0001", out, sizeof(out)), 0);
    assert_string_equal(out, "+15551230001");
    assert_int_equal(sms_mo_phone_normalize("15551230001", out, sizeof(out)), 0);
    assert_string_equal(out, "15551230001");
    assert_int_equal(sms_mo_phone_normalize("(555) 123.0001", out, sizeof(out)), 0);
    assert_string_equal(out, "5551230001");
    static const char *const bad[] = {
        "VODAFONE", "12345", "+1+5551230001", "555123000x", "123456789012345678901", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sms_mo_phone_normalize(bad[i], out, sizeof(out)) != -1) {
            fail_msg("'%s' was accepted as '%s'", bad[i], out);
        }
        assert_string_equal(out, "");
    }
    assert_int_equal(sms_mo_phone_normalize(NULL, out, sizeof(out)), -1);
    /* Too small an output is a failure, never a truncated number. */
    assert_int_equal(sms_mo_phone_normalize("15551230001", out, 8), -1);
}

static void test_args_form_decode_plus_and_percent(void **state)
{
    (void)state;
    char s1[] = "Stop.+now%21";
    assert_int_equal(sms_args_form_decode(s1), 0);
    assert_string_equal(s1, "Stop. now!");
    char s2[] = "%2B15551230001";
    assert_int_equal(sms_args_form_decode(s2), 0);
    assert_string_equal(s2, "+15551230001");
    char s3[] = "100%";
    assert_int_equal(sms_args_form_decode(s3), -1);
    assert_string_equal(s3, "100%");
    char s4[] = "%e2%9c%8b";
    assert_int_equal(sms_args_form_decode(s4), 0);
    assert_string_equal(s4, "✋");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mo_every_opt_out_keyword_is_opt_out),
        cmocka_unit_test(test_mo_opt_in_and_help_keywords),
        cmocka_unit_test(test_mo_keywords_ignore_case),
        cmocka_unit_test(test_mo_keywords_ignore_surrounding_spaces_and_punctuation),
        cmocka_unit_test(test_mo_other_texts_are_no_keyword),
        cmocka_unit_test(test_mo_action_names_are_the_db_values),
        cmocka_unit_test(test_mo_sender_number_is_normalised_or_refused),
        cmocka_unit_test(test_args_form_decode_plus_and_percent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

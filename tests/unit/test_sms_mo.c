/* Inbound SMS keywords (sms_mo_parse), sender numbers, the argument
 * decoding of gateway callbacks and their authentication (sms_auth): pure
 * functions, no database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sms_args.h"
#include "sms_auth.h"
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

#define SECRET "test-callback-secret-0123456789abcdef"
#define OLD_SECRET "test-callback-secret-before-rotation-0123"
#define MO_KEY "test-mo-key-0123456789abcdef0123456789"
#define OLD_MO_KEY "test-mo-key-before-rotation-0123456789"

static sms_auth *new_auth(const char *dlr_previous, const char *mo_previous)
{
    sms_auth_config c = {SECRET, dlr_previous, MO_KEY, mo_previous, NULL};
    sms_auth *a = sms_auth_new(&c);
    assert_non_null(a);
    return a;
}

static void test_auth_dlr_token_is_hmac_sha256_of_the_message_id(void **state)
{
    (void)state;
    char t[SMS_AUTH_TOKEN_LEN + 1];
    /* Known answer: `printf 'a b' | openssl dgst -sha256 -hmac SECRET`. */
    assert_int_equal(sms_auth_token(SECRET, "a b", t, sizeof(t)), 0);
    assert_string_equal(t, "a6b87a3c35cdbdfa2f41fe62d5efe5fb");
    assert_int_equal(sms_auth_token("", "a b", t, sizeof(t)), -1);
    assert_int_equal(sms_auth_token(SECRET, "a b", t, SMS_AUTH_TOKEN_LEN), -1);
}

static void test_auth_dlr_token_only_fits_its_own_message(void **state)
{
    (void)state;
    sms_auth *a = new_auth(OLD_SECRET, NULL);
    char t[SMS_AUTH_TOKEN_LEN + 1], other[SMS_AUTH_TOKEN_LEN + 1], old[SMS_AUTH_TOKEN_LEN + 1];
    assert_int_equal(sms_auth_token(SECRET, "m-1", t, sizeof(t)), 0);
    assert_int_equal(sms_auth_token(SECRET, "m-2", other, sizeof(other)), 0);
    assert_int_equal(sms_auth_token(OLD_SECRET, "m-1", old, sizeof(old)), 0);
    assert_int_equal(sms_auth_check_dlr(a, "m-1", t), SMS_AUTH_OK);
    assert_int_equal(sms_auth_check_dlr(a, "m-1", old), SMS_AUTH_OK); /* rotation */
    assert_int_equal(sms_auth_check_dlr(a, "m-1", other), SMS_AUTH_BAD_TOKEN);
    assert_int_equal(sms_auth_check_dlr(a, "m-1", NULL), SMS_AUTH_MISSING);
    assert_int_equal(sms_auth_check_dlr(a, "m-1", ""), SMS_AUTH_MISSING);
    assert_int_equal(sms_auth_check_dlr(a, NULL, t), SMS_AUTH_BAD_TOKEN);
    char longer[SMS_AUTH_TOKEN_LEN + 2];
    snprintf(longer, sizeof(longer), "%s0", t);
    assert_int_equal(sms_auth_check_dlr(a, "m-1", longer), SMS_AUTH_BAD_TOKEN);
    t[SMS_AUTH_TOKEN_LEN - 1] = '\0';
    assert_int_equal(sms_auth_check_dlr(a, "m-1", t), SMS_AUTH_BAD_TOKEN);
    sms_auth_destroy(a);
    /* Without a previous secret, the old token is refused. */
    a = new_auth("", NULL);
    assert_int_equal(sms_auth_check_dlr(a, "m-1", old), SMS_AUTH_BAD_TOKEN);
    sms_auth_destroy(a);
}

static void test_auth_mo_key_current_or_previous(void **state)
{
    (void)state;
    sms_auth *a = new_auth(NULL, OLD_MO_KEY);
    assert_int_equal(sms_auth_check_mo(a, MO_KEY), SMS_AUTH_OK);
    assert_int_equal(sms_auth_check_mo(a, OLD_MO_KEY), SMS_AUTH_OK);
    assert_int_equal(sms_auth_check_mo(a, MO_KEY "x"), SMS_AUTH_BAD_TOKEN);
    assert_int_equal(sms_auth_check_mo(a, "test-mo-key"), SMS_AUTH_BAD_TOKEN);
    assert_int_equal(sms_auth_check_mo(a, SECRET), SMS_AUTH_BAD_TOKEN);
    assert_int_equal(sms_auth_check_mo(a, ""), SMS_AUTH_MISSING);
    assert_int_equal(sms_auth_check_mo(a, NULL), SMS_AUTH_MISSING);
    sms_auth_destroy(a);
    a = new_auth(NULL, NULL);
    assert_int_equal(sms_auth_check_mo(a, OLD_MO_KEY), SMS_AUTH_BAD_TOKEN);
    sms_auth_destroy(a);
}

static void test_auth_secrets_must_be_long_enough(void **state)
{
    (void)state;
    char err[160];
    assert_int_equal(sms_auth_validate_secret("", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "must not be empty"));
    assert_int_equal(sms_auth_validate_secret("0123456789abcdef0123456789abcde", err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "too short"));
    assert_int_equal(sms_auth_validate_secret("0123456789abcdef0123456789abcdef", err, sizeof(err)),
                     0);
    assert_int_equal(sms_auth_validate_previous("", err, sizeof(err)), 0);
    assert_int_equal(sms_auth_validate_previous("short", err, sizeof(err)), -1);
    sms_auth_config c = {"short", NULL, MO_KEY, NULL, NULL};
    assert_null(sms_auth_new(&c));
    sms_auth_config d = {SECRET, NULL, "", NULL, NULL};
    assert_null(sms_auth_new(&d));
}

static void test_auth_refusals_are_logged_once_per_source_and_period(void **state)
{
    (void)state;
    sms_auth *a = new_auth(NULL, NULL);
    uint64_t quiet = 99;
    int64_t t0 = 1000000;
    assert_int_equal(sms_auth_should_log(a, "192.0.2.1", t0, &quiet), 1);
    assert_int_equal(quiet, 0);
    /* A flood from that source: silent for the period. */
    for (int i = 1; i <= 1000; i++)
        assert_int_equal(sms_auth_should_log(a, "192.0.2.1", t0 + i, &quiet), 0);
    /* Another source is logged at once. */
    assert_int_equal(sms_auth_should_log(a, "192.0.2.2", t0 + 5, &quiet), 1);
    /* After the period, one line again, telling how many went unlogged. */
    assert_int_equal(sms_auth_should_log(a, "192.0.2.1", t0 + SMS_AUTH_LOG_EVERY_MS, &quiet), 1);
    assert_int_equal(quiet, 1000);
    assert_int_equal(sms_auth_should_log(a, "192.0.2.1", t0 + SMS_AUTH_LOG_EVERY_MS + 1, &quiet),
                     0);
    /* The table is bounded: many sources push the oldest out, which is then
     * logged again (a line, not memory, is what a wide flood costs). */
    char addr[32];
    for (int i = 0; i < SMS_AUTH_LOG_SOURCES * 4; i++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.1", i / 250, i % 250);
        assert_int_equal(sms_auth_should_log(a, addr, t0 + 10 + i, &quiet), 1);
    }
    assert_int_equal(sms_auth_should_log(a, "192.0.2.2", t0 + 20000, &quiet), 1);
    sms_auth_destroy(a);
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
        cmocka_unit_test(test_auth_dlr_token_is_hmac_sha256_of_the_message_id),
        cmocka_unit_test(test_auth_dlr_token_only_fits_its_own_message),
        cmocka_unit_test(test_auth_mo_key_current_or_previous),
        cmocka_unit_test(test_auth_secrets_must_be_long_enough),
        cmocka_unit_test(test_auth_refusals_are_logged_once_per_source_and_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

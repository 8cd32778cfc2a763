#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_window.h"

#define FIXED "ECM_CLOCK_FIXED"
#define OFFSET "ECM_CLOCK_OFFSET_MS"
#define RATE "ECM_CLOCK_RATE"
#define EPOCH "ECM_CLOCK_EPOCH_MS"
/* Slack for "about now": a loaded CI machine may pause us. */
#define SLACK_MS 5000

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int reset_env(void **state)
{
    (void)state;
    unsetenv(FIXED);
    unsetenv(OFFSET);
    unsetenv(RATE);
    unsetenv(EPOCH);
    return 0;
}

static int64_t parsed(const char *s)
{
    int64_t ms = -12345;
    if (ecm_clock_parse_time(s, &ms) != 0) {
        fail_msg("'%s' did not parse", s);
    }
    return ms;
}

static void test_clock_parse_rfc3339_forms(void **state)
{
    (void)state;
    assert_int_equal(parsed("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parsed("2026-03-10T00:55:00Z"), 1773104100000LL);
    assert_int_equal(parsed("2026-03-09T20:55:00-04:00"), 1773104100000LL);
    assert_int_equal(parsed("2026-03-10T05:55:00+05:00"), 1773104100000LL);
    assert_int_equal(parsed("2026-03-10 00:55:00z"), 1773104100000LL);
    assert_int_equal(parsed("2026-03-10t00:55:00Z"), 1773104100000LL);
    assert_int_equal(parsed("2026-03-10T00:55:00.5Z"), 1773104100500LL);
    assert_int_equal(parsed("2026-03-10T00:55:00.123456Z"), 1773104100123LL);
    assert_int_equal(parsed("2028-02-29T00:00:00Z"), 1835395200000LL);
    assert_int_equal(parsed("1969-12-31T23:59:59.999Z"), -1);
}

static void test_clock_parse_milliseconds(void **state)
{
    (void)state;
    assert_int_equal(parsed("1773104100000"), 1773104100000LL);
    assert_int_equal(parsed("0"), 0);
    assert_int_equal(parsed("-1000"), -1000);
}

static void test_clock_parse_refuses_what_is_not_an_instant(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "monday",
        "12abc",
        "+5",
        " 5",
        "99999999999999999999999",
        "2026-03-09",
        "2026-03-09T20:55:00",
        "2026-03-09T20:55Z",
        "2026-02-30T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-03-09T24:00:00Z",
        "2026-03-09T23:60:00Z",
        "2026-03-09T23:59:60Z",
        "2026-03-09T20:55:00+5:00",
        "2026-03-09T20:55:00+05:00x",
        "2026-03-09T20:55:00.Z",
        "2026-03-09X20:55:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        if (ecm_clock_parse_time(bad[i], &ms) != -1) {
            fail_msg("'%s' parsed as %lld", bad[i], (long long)ms);
        }
        assert_int_equal(ms, 42);
    }
    int64_t ms;
    assert_int_equal(ecm_clock_parse_time(NULL, &ms), -1);
}

static void test_clock_unset_is_the_real_clock(void **state)
{
    (void)state;
    int64_t before = real_ms();
    int64_t now = ecm_clock_now_ms();
    int64_t after = real_ms();
    assert_true(now >= before && now <= after);

    setenv(FIXED, "", 1);
    setenv(OFFSET, "", 1);
    now = ecm_clock_now_ms();
    assert_true(now >= before && now <= real_ms());
    char err[128] = "";
    assert_int_equal(ecm_clock_check_env(err, sizeof err), 0);
}

static void test_clock_fixed_stands_still(void **state)
{
    (void)state;
    setenv(FIXED, "2026-03-09T20:55:00-04:00", 1);
    assert_int_equal(ecm_clock_now_ms(), 1773104100000LL);
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    assert_int_equal(ecm_clock_now_ms(), 1773104100000LL);

    setenv(FIXED, "1773104100000", 1);
    assert_int_equal(ecm_clock_now_ms(), 1773104100000LL);
    char err[128] = "";
    assert_int_equal(ecm_clock_check_env(err, sizeof err), 0);
}

static void test_clock_offset_shifts_a_running_clock(void **state)
{
    (void)state;
    const int64_t day = 24LL * 3600 * 1000;
    setenv(OFFSET, "-86400000", 1);
    int64_t a = ecm_clock_now_ms();
    int64_t diff = real_ms() - a;
    assert_true(diff >= day && diff < day + SLACK_MS);
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    assert_true(ecm_clock_now_ms() >= a + 20);

    setenv(OFFSET, "3600000", 1);
    diff = ecm_clock_now_ms() - real_ms();
    assert_true(diff > 3600000 - SLACK_MS && diff <= 3600000);
}

static void test_clock_fixed_wins_over_offset(void **state)
{
    (void)state;
    setenv(OFFSET, "3600000", 1);
    setenv(FIXED, "2026-03-10T00:55:00Z", 1);
    assert_int_equal(ecm_clock_now_ms(), 1773104100000LL);
}

static void test_clock_bad_values_are_reported_and_ignored(void **state)
{
    (void)state;
    char err[128] = "";
    setenv(FIXED, "monday", 1);
    assert_int_equal(ecm_clock_check_env(err, sizeof err), -1);
    assert_string_equal(err, "ECM_CLOCK_FIXED: 'monday' is not an RFC 3339 time or milliseconds");
    /* The business clock never stops working: it falls back to real time. */
    int64_t before = real_ms();
    int64_t now = ecm_clock_now_ms();
    assert_true(now >= before && now <= real_ms());

    unsetenv(FIXED);
    const char *bad_offsets[] = {"1h", "1e3", "+5", "10000000000001", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_offsets / sizeof bad_offsets[0]; i++) {
        setenv(OFFSET, bad_offsets[i], 1);
        if (ecm_clock_check_env(err, sizeof err) != -1) {
            fail_msg("offset '%s' accepted", bad_offsets[i]);
        }
        assert_non_null(strstr(err, "ECM_CLOCK_OFFSET_MS: '"));
        before = real_ms();
        now = ecm_clock_now_ms();
        assert_true(now >= before && now <= real_ms());
    }
    setenv(OFFSET, "-10000000000000", 1);
    assert_int_equal(ecm_clock_check_env(err, sizeof err), 0);
}

static void test_clock_does_not_move_event_time(void **state)
{
    (void)state;
    /* Deadlines run on ecm_now_ms(): a frozen business clock must not
     * freeze them. */
    setenv(FIXED, "2026-03-10T00:55:00Z", 1);
    int64_t before = real_ms();
    int64_t now = ecm_now_ms();
    assert_true(now >= before && now <= real_ms());
}

static void test_clock_monday_2055_in_new_york(void **state)
{
    (void)state;
    /* What a test of a campaign "on Monday at 20:55 in New York" does. */
    setenv(FIXED, "2026-03-09T20:55:00-04:00", 1);
    ecm_window *w = NULL;
    char err[128];
    assert_int_equal(
        ecm_window_parse_json_text("{\"mon\":[[\"09:00\",\"22:00\"]]}", &w, err, sizeof err), 0);
    assert_int_equal(ecm_window_is_open(w, "America/New_York", ecm_clock_now_ms()), 1);
    /* Five minutes later the legal hours (21:00) close it until next Monday. */
    setenv(FIXED, "2026-03-09T21:00:00-04:00", 1);
    assert_int_equal(ecm_window_is_open(w, "America/New_York", ecm_clock_now_ms()), 0);
    assert_int_equal(ecm_window_next_open(w, "America/New_York", ecm_clock_now_ms()),
                     parsed("2026-03-16T09:00:00-04:00"));
    ecm_window_destroy(w);
}

static void test_clock_rate_runs_business_time_faster(void **state)
{
    (void)state;
    char epoch[32];
    int64_t start = real_ms();
    (void)snprintf(epoch, sizeof epoch, "%lld", (long long)start);
    setenv(EPOCH, epoch, 1);
    setenv(RATE, "1000", 1);
    /* With the epoch now and an offset, business time starts at the offset. */
    setenv(OFFSET, "-86400000", 1);
    char err[160] = "";
    assert_int_equal(ecm_clock_check_env(err, sizeof err), 0);
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    int64_t now = ecm_clock_now_ms();
    int64_t real_elapsed = real_ms() - start;
    int64_t business_elapsed = now - (start - 86400000);
    /* 50 ms of real time are at least 50 s of business time, and never more
     * than 1000 times what really passed. */
    assert_true(business_elapsed >= 50 * 1000);
    assert_true(business_elapsed <= real_elapsed * 1000);
}

static void test_clock_rate_needs_an_epoch_and_a_sane_value(void **state)
{
    (void)state;
    char err[200] = "";
    setenv(RATE, "60", 1);
    assert_int_equal(ecm_clock_check_env(err, sizeof err), -1);
    assert_non_null(strstr(err, "ECM_CLOCK_EPOCH_MS: must be integer milliseconds"));
    /* Without its epoch the rate is not used: the real clock runs. */
    int64_t before = real_ms();
    int64_t now = ecm_clock_now_ms();
    assert_true(now >= before && now <= real_ms());

    setenv(EPOCH, "1773104100000", 1);
    const char *bad[] = {"0", "-2", "fast", "1e9", "nan", "inf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(RATE, bad[i], 1);
        if (ecm_clock_check_env(err, sizeof err) != -1) {
            fail_msg("rate '%s' accepted", bad[i]);
        }
        assert_non_null(strstr(err, "ECM_CLOCK_RATE: '"));
    }
    setenv(RATE, "0.5", 1);
    assert_int_equal(ecm_clock_check_env(err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clock_parse_rfc3339_forms, reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_parse_milliseconds, reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_parse_refuses_what_is_not_an_instant, reset_env,
                                        reset_env),
        cmocka_unit_test_setup_teardown(test_clock_unset_is_the_real_clock, reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_fixed_stands_still, reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_offset_shifts_a_running_clock, reset_env,
                                        reset_env),
        cmocka_unit_test_setup_teardown(test_clock_fixed_wins_over_offset, reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_bad_values_are_reported_and_ignored, reset_env,
                                        reset_env),
        cmocka_unit_test_setup_teardown(test_clock_does_not_move_event_time, reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_monday_2055_in_new_york, reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_rate_runs_business_time_faster, reset_env,
                                        reset_env),
        cmocka_unit_test_setup_teardown(test_clock_rate_needs_an_epoch_and_a_sane_value, reset_env,
                                        reset_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ecm_clock.h"
#include "ecm_window.h"

#define FIXED "ECM_CLOCK_FIXED"
#define OFFSET "ECM_CLOCK_OFFSET_MS"
#define RATE "ECM_CLOCK_RATE"
#define EPOCH "ECM_CLOCK_EPOCH_MS"
#define CONTROL "ECM_CLOCK_CONTROL_FILE"
/* Slack for "about now": a loaded CI machine may pause us. */
#define SLACK_MS 5000

/* clock_gettime(id) in ms: what the clock under test is checked against. */
static int64_t os_clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_ms(void)
{
    return os_clock_ms(CLOCK_REALTIME);
}

static int64_t raw_mono_ms(void)
{
    return os_clock_ms(CLOCK_MONOTONIC);
}

static int reset_env(void **state)
{
    (void)state;
    unsetenv(FIXED);
    unsetenv(OFFSET);
    unsetenv(RATE);
    unsetenv(EPOCH);
    unsetenv(CONTROL);
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
    /* Deadlines run on ecm_clock_wall_ms(): a frozen business clock must not
     * freeze them. */
    setenv(FIXED, "2026-03-10T00:55:00Z", 1);
    int64_t before = real_ms();
    int64_t now = ecm_clock_wall_ms();
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

/* ---- ECM_CLOCK_CONTROL_FILE ---- */

#define B_MS 1773104100000LL /* 2026-03-10T00:55:00Z */

/* A fresh control file path for each test (the process's cache and its
 * floor belong to one path), exported as ECM_CLOCK_CONTROL_FILE. */
static const char *control_path(void)
{
    static char path[128];
    static int n;
    snprintf(path, sizeof path, "%s/ecm-test-clock-%ld-%d",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), ++n);
    setenv(CONTROL, path, 1);
    return path;
}

/* Replaces the control file atomically with text, as scripts/lib.sh does,
 * and makes the clock look at it at once. */
static void write_control(const char *path, const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
    ecm_clock_reload();
}

static void write_controlf(const char *path, const char *mode, int64_t business, int64_t real,
                           const char *rate, int64_t until)
{
    char text[128];
    if (until >= 0) {
        snprintf(text, sizeof text, "%s %lld %lld %s %lld\n", mode, (long long)business,
                 (long long)real, rate, (long long)until);
    } else {
        snprintf(text, sizeof text, "%s %lld %lld %s\n", mode, (long long)business, (long long)real,
                 rate);
    }
    write_control(path, text);
}

/* Waits (bounded, 10 s) until the real clock is past ms. */
static void real_past(int64_t ms)
{
    int64_t give_up = ecm_clock_wall_ms() + 10000;
    while (real_ms() <= ms) {
        assert_true(ecm_clock_wall_ms() < give_up);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void test_clock_control_held_stands_still(void **state)
{
    (void)state;
    const char *path = control_path();
    int64_t w = real_ms();
    write_controlf(path, "held", B_MS, w, "1800", -1);
    char err[256] = "";
    assert_int_equal(ecm_clock_check_env(err, sizeof err), 0);
    assert_int_equal(ecm_clock_now_ms(), B_MS);
    real_past(w + 5);
    ecm_clock_reload();
    assert_int_equal(ecm_clock_now_ms(), B_MS);
    unlink(path);
}

static void test_clock_control_release_continues_from_the_held_instant(void **state)
{
    (void)state;
    const char *path = control_path();
    write_controlf(path, "held", B_MS, real_ms(), "1800", -1);
    assert_int_equal(ecm_clock_now_ms(), B_MS);

    /* The release: business time B at real instant w, running at 1800. */
    int64_t w = real_ms();
    write_controlf(path, "run", B_MS, w, "1800", -1);
    int64_t r1 = real_ms();
    int64_t v = ecm_clock_now_ms();
    int64_t r2 = real_ms();
    assert_true(v >= B_MS + (r1 - w) * 1800 && v <= B_MS + (r2 - w) * 1800);

    /* The rate is applied: 10 real ms later, 18 business seconds more. */
    real_past(r2 + 10);
    r1 = real_ms();
    int64_t v2 = ecm_clock_now_ms();
    r2 = real_ms();
    assert_true(v2 >= B_MS + (r1 - w) * 1800 && v2 <= B_MS + (r2 - w) * 1800);
    assert_true(v2 - v >= 10 * 1800);
    unlink(path);
}

static void test_clock_control_run_until_stops_there(void **state)
{
    (void)state;
    const char *path = control_path();
    int64_t w = real_ms();
    write_controlf(path, "run", B_MS, w, "1800", B_MS + 1000);
    /* 1 real ms is 1.8 business seconds: past the stop. */
    real_past(w + 2);
    assert_int_equal(ecm_clock_now_ms(), B_MS + 1000);
    assert_int_equal(ecm_clock_now_ms(), B_MS + 1000);
    unlink(path);
}

static void test_clock_control_bad_file_keeps_the_last_good_value(void **state)
{
    (void)state;
    const char *path = control_path();
    write_controlf(path, "held", B_MS, real_ms(), "1800", -1);
    assert_int_equal(ecm_clock_now_ms(), B_MS);

    const char *bad[] = {
        "",
        "held",
        "hold 1 2 3\n",
        "held x 2 3\n",
        "held 1 2 0\n",
        "held 1 2 100001\n",
        "held 1 2 3 4\n",
        "run 100 2 3 99\n",
        "run 1 2 3 4 5\n",
        "held 1 2 nan\n",
        "held 99999999999999999 2 3\n",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_control(path, bad[i]);
        if (ecm_clock_now_ms() != B_MS) {
            fail_msg("control file '%s' moved the clock", bad[i]);
        }
        err[0] = '\0';
        if (ecm_clock_check_env(err, sizeof err) != -1) {
            fail_msg("control file '%s' accepted at start-up", bad[i]);
        }
        assert_non_null(strstr(err, "ECM_CLOCK_CONTROL_FILE: '"));
    }
    /* A file that vanished: the same. */
    unlink(path);
    ecm_clock_reload();
    assert_int_equal(ecm_clock_now_ms(), B_MS);
    assert_int_equal(ecm_clock_check_env(err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot be opened"));
    /* A good one again is taken. */
    write_controlf(path, "held", B_MS + 60000, real_ms(), "1800", -1);
    assert_int_equal(ecm_clock_now_ms(), B_MS + 60000);
    unlink(path);
}

static void test_clock_control_never_goes_backwards(void **state)
{
    (void)state;
    const char *path = control_path();
    int64_t w = real_ms();
    write_controlf(path, "run", B_MS, w, "1800", -1);
    real_past(w + 5);
    int64_t v1 = ecm_clock_now_ms();
    assert_true(v1 >= B_MS + 5 * 1800);
    /* Held an hour earlier (a writer that got "now" wrong): it stays put. */
    write_controlf(path, "held", B_MS - 3600000, real_ms(), "1800", -1);
    assert_int_equal(ecm_clock_now_ms(), v1);
    assert_int_equal(ecm_clock_now_ms(), v1);
    /* Later than that is taken. */
    write_controlf(path, "held", v1 + 60000, real_ms(), "1800", -1);
    assert_int_equal(ecm_clock_now_ms(), v1 + 60000);
    unlink(path);
}

static void test_clock_control_change_is_seen_without_reload(void **state)
{
    (void)state;
    const char *path = control_path();
    write_controlf(path, "held", B_MS, real_ms(), "1800", -1);
    assert_int_equal(ecm_clock_now_ms(), B_MS);
    /* Written behind the clock's back (no reload): seen within the recheck
     * period; waited for, bounded. */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, "held %lld 0 1\n", (long long)(B_MS + 7000));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
    int64_t give_up = ecm_clock_wall_ms() + 10000;
    while (ecm_clock_now_ms() != B_MS + 7000) {
        assert_true(ecm_clock_wall_ms() < give_up);
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    unlink(path);
}

static void test_clock_control_unset_or_combined(void **state)
{
    (void)state;
    /* Empty: the environment's clock, unchanged. */
    setenv(CONTROL, "", 1);
    setenv(OFFSET, "3600000", 1);
    int64_t before = real_ms();
    int64_t now = ecm_clock_now_ms();
    assert_true(now >= before + 3600000 && now <= real_ms() + 3600000);
    char err[256] = "";
    assert_int_equal(ecm_clock_check_env(err, sizeof err), 0);

    /* Set with another clock variable: refused, naming both. */
    const char *path = control_path();
    write_controlf(path, "held", B_MS, real_ms(), "1800", -1);
    assert_int_equal(ecm_clock_check_env(err, sizeof err), -1);
    assert_non_null(
        strstr(err, "ECM_CLOCK_CONTROL_FILE: cannot be combined with ECM_CLOCK_OFFSET_MS"));
    unsetenv(OFFSET);
    assert_int_equal(ecm_clock_check_env(err, sizeof err), 0);
    assert_int_equal(ecm_clock_now_ms(), B_MS);
    /* ECM_CLOCK_FIXED still wins (unit tests and one-shot tools). */
    setenv(FIXED, "1000", 1);
    assert_int_equal(ecm_clock_now_ms(), 1000);
    unlink(path);
}

static void test_clock_mono_ms_ignores_business_time(void **state)
{
    (void)state;
    setenv(OFFSET, "86400000", 1);
    int64_t before = raw_mono_ms();
    int64_t m1 = ecm_clock_mono_ms();
    int64_t m2 = ecm_clock_mono_ms();
    int64_t after = raw_mono_ms();
    assert_true(m1 >= before && m1 <= after);
    assert_true(m2 >= m1 && m2 <= after);
    setenv(FIXED, "2026-03-09T20:55:00Z", 1);
    int64_t m3 = ecm_clock_mono_ms();
    assert_true(m3 >= m2 && m3 <= raw_mono_ms());
}

static int64_t timespec_ns(struct timespec ts)
{
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The deadline is now + us on CLOCK_MONOTONIC (nanoseconds normalised, a
 * carry across the second taken), whatever the business clock says. */
static void test_clock_mono_after_us_is_a_monotonic_deadline(void **state)
{
    (void)state;
    setenv(OFFSET, "86400000", 1);
    const int64_t spans[] = {0, -5, 1, 999, 999999, 1000000, 1500000, 3000000001LL};
    for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        struct timespec d = ecm_clock_mono_after_us(spans[i]);
        clock_gettime(CLOCK_MONOTONIC, &b);
        int64_t us = spans[i] > 0 ? spans[i] : 0;
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
        assert_true(timespec_ns(d) >= timespec_ns(a) + us * 1000);
        assert_true(timespec_ns(d) <= timespec_ns(b) + us * 1000);
    }
}

/* A condition variable from ecm_clock_cond_init() times out at a deadline
 * from ecm_clock_mono_after_us(): not before it, and not a wall-clock
 * reading away from it (a CLOCK_REALTIME condition variable would take the
 * monotonic deadline, decades in the past, as passed at once). */
static void test_clock_cond_waits_until_a_monotonic_deadline(void **state)
{
    (void)state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    assert_int_equal(ecm_clock_cond_init(&cv), 0);
    pthread_mutex_lock(&mu);
    int64_t t0 = raw_mono_ms();
    struct timespec until = ecm_clock_mono_after_us(50000);
    int rc = 0;
    while (rc == 0)
        rc = pthread_cond_timedwait(&cv, &mu, &until);
    int64_t waited = raw_mono_ms() - t0;
    pthread_mutex_unlock(&mu);
    assert_int_equal(rc, ETIMEDOUT);
    assert_true(waited >= 49);
    assert_true(waited < 3600 * 1000);
    pthread_cond_destroy(&cv);
}

static void test_clock_wall_ms_is_current_wall_clock(void **state)
{
    (void)state;
    int64_t a = ecm_clock_wall_ms();
    /* 2024-01-01 .. 2100-01-01 */
    assert_true(a > 1704067200000LL);
    assert_true(a < 4102444800000LL);
    int64_t b = ecm_clock_wall_ms();
    assert_true(b >= a);
}

static void test_clock_format_is_rfc3339_utc_with_ms(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(ecm_clock_format_ms(0, out, sizeof out), "1970-01-01T00:00:00.000Z");
    assert_string_equal(ecm_clock_format_ms(1795492800123LL, out, sizeof out),
                        "2026-11-24T04:00:00.123Z");
    assert_string_equal(ecm_clock_format_ms(-1, out, sizeof out), "1969-12-31T23:59:59.999Z");
    assert_string_equal(ecm_clock_format_ms(951782400999LL, out, sizeof out),
                        "2000-02-29T00:00:00.999Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_wall_ms_is_current_wall_clock),
        cmocka_unit_test(test_clock_format_is_rfc3339_utc_with_ms),
        cmocka_unit_test_setup_teardown(test_clock_mono_after_us_is_a_monotonic_deadline, reset_env,
                                        reset_env),
        cmocka_unit_test(test_clock_cond_waits_until_a_monotonic_deadline),
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
        cmocka_unit_test_setup_teardown(test_clock_control_held_stands_still, reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_control_release_continues_from_the_held_instant,
                                        reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_control_run_until_stops_there, reset_env,
                                        reset_env),
        cmocka_unit_test_setup_teardown(test_clock_control_bad_file_keeps_the_last_good_value,
                                        reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_control_never_goes_backwards, reset_env,
                                        reset_env),
        cmocka_unit_test_setup_teardown(test_clock_control_change_is_seen_without_reload, reset_env,
                                        reset_env),
        cmocka_unit_test_setup_teardown(test_clock_control_unset_or_combined, reset_env, reset_env),
        cmocka_unit_test_setup_teardown(test_clock_mono_ms_ignores_business_time, reset_env,
                                        reset_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

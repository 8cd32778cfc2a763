/* rs_logger_time: a UCCE Logger's local wall-clock time into UTC, across
 * DST changes, and the zone validator. Pure: no database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rs_logger_time.h"

static int64_t utc(const char *zone, int y, int mo, int d, int h, int mi, int s)
{
    int64_t ms = 0;
    assert_int_equal(rs_logger_time_utc_ms(zone, y, mo, d, h, mi, s, &ms), 0);
    return ms;
}

static void test_rs_logger_time_converts_across_dst(void **state)
{
    (void)state;
    /* UTC is UTC. */
    assert_int_equal(utc("UTC", 2026, 7, 1, 16, 0, 0), 1782921600000LL);
    /* New York in summer (EDT, -4): 12:00 local is 16:00 UTC. */
    assert_int_equal(utc("America/New_York", 2026, 7, 1, 12, 0, 0), 1782921600000LL);
    /* The skipped hour of 2026-03-08: 02:30 read with EST, 07:30 UTC. */
    assert_int_equal(utc("America/New_York", 2026, 3, 8, 2, 30, 0), 1772955000000LL);
    /* The repeated hour of 2026-11-01: 01:30 is the later one (EST), 06:30 UTC. */
    assert_int_equal(utc("America/New_York", 2026, 11, 1, 1, 30, 0), 1793514600000LL);
}

static void test_rs_logger_time_refuses_bad_zone_and_fields(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(rs_logger_time_utc_ms("Mars/Olympus", 2026, 1, 1, 0, 0, 0, &ms), -1);
    assert_int_equal(rs_logger_time_utc_ms("", 2026, 1, 1, 0, 0, 0, &ms), -1);
    assert_int_equal(rs_logger_time_utc_ms("UTC", 2026, 13, 1, 0, 0, 0, &ms), -1);
    assert_int_equal(rs_logger_time_utc_ms("UTC", 2026, 1, 1, 24, 0, 0, &ms), -1);
    char err[128];
    assert_int_equal(rs_logger_time_validate_zone("Europe/Paris", err, sizeof err), 0);
    assert_int_equal(rs_logger_time_validate_zone("Europe/Pariss", err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs_logger_time_converts_across_dst),
        cmocka_unit_test(test_rs_logger_time_refuses_bad_zone_and_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

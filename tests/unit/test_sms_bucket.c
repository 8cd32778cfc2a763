/* The SMS gateways' token bucket (services/sms/sms_bucket.h), on a clock
 * the test moves by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sms_bucket.h"

#define T0 ((int64_t)1000000)

static int drain(sms_bucket *b, int64_t now)
{
    int n = 0;
    while (sms_bucket_take(b, now))
        n++;
    return n;
}

static void test_bucket_starts_full_and_gives_burst_at_once(void **state)
{
    (void)state;
    sms_bucket b;
    sms_bucket_init(&b, 100, 10, T0);
    assert_int_equal(drain(&b, T0), 10);
    assert_int_equal(sms_bucket_take(&b, T0), 0);
}

static void test_bucket_refills_at_rate(void **state)
{
    (void)state;
    sms_bucket b;
    sms_bucket_init(&b, 100, 10, T0);
    drain(&b, T0);
    assert_int_equal(drain(&b, T0 + 50), 5); /* 50 ms at 100/s */
    assert_int_equal(drain(&b, T0 + 59), 0); /* 0.9 of a token */
    assert_int_equal(drain(&b, T0 + 60), 1);
}

static void test_bucket_never_holds_more_than_burst(void **state)
{
    (void)state;
    sms_bucket b;
    sms_bucket_init(&b, 100, 10, T0);
    drain(&b, T0);
    assert_int_equal(drain(&b, T0 + 60000), 10);
}

static void test_bucket_rate_over_a_long_run(void **state)
{
    (void)state;
    sms_bucket b;
    sms_bucket_init(&b, 37, 4, T0);
    int n = 0;
    for (int64_t t = T0; t < T0 + 10000; t += 7)
        n += drain(&b, t);
    /* 10 s at 37/s plus the initial burst; polling every 7 ms loses nothing
     * while the bucket has room for what accrues between polls. */
    assert_in_range(n, 372, 374);
}

static void test_bucket_wait_says_when_next_token_comes(void **state)
{
    (void)state;
    sms_bucket b;
    sms_bucket_init(&b, 4, 1, T0);
    assert_int_equal(sms_bucket_wait_ms(&b, T0), 0);
    assert_int_equal(sms_bucket_take(&b, T0), 1);
    assert_int_equal(sms_bucket_wait_ms(&b, T0), 250);
    assert_int_equal(sms_bucket_wait_ms(&b, T0 + 100), 150);
    assert_int_equal(sms_bucket_take(&b, T0 + 249), 0);
    assert_int_equal(sms_bucket_take(&b, T0 + 250), 1);
}

static void test_bucket_ignores_clock_going_backwards(void **state)
{
    (void)state;
    sms_bucket b;
    sms_bucket_init(&b, 10, 1, T0);
    assert_int_equal(sms_bucket_take(&b, T0), 1);
    assert_int_equal(sms_bucket_take(&b, T0 - 5000), 0);
    assert_int_equal(sms_bucket_take(&b, T0 + 100), 1);
}

static void test_bucket_fixes_nonsense_settings(void **state)
{
    (void)state;
    sms_bucket b;
    sms_bucket_init(&b, 0, 0, T0);
    assert_int_equal(drain(&b, T0), 1);
    assert_int_equal(drain(&b, T0 + 1000), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_starts_full_and_gives_burst_at_once),
        cmocka_unit_test(test_bucket_refills_at_rate),
        cmocka_unit_test(test_bucket_never_holds_more_than_burst),
        cmocka_unit_test(test_bucket_rate_over_a_long_run),
        cmocka_unit_test(test_bucket_wait_says_when_next_token_comes),
        cmocka_unit_test(test_bucket_ignores_clock_going_backwards),
        cmocka_unit_test(test_bucket_fixes_nonsense_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

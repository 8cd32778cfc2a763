/* The upload's duplicate filter: never a false "not added", a false
 * "maybe" rate near the theory, and graceful saturation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_bloom.h"

static int e164(char *out, size_t size, long long n)
{
    return snprintf(out, size, "+1%010lld", 2000000000LL + n);
}

static void test_bloom_added_keys_are_always_maybe(void **state)
{
    (void)state;
    ecm_bloom *b = ecm_bloom_new(20);
    assert_non_null(b);
    char k[24];
    for (long long i = 0; i < 100000; i++) {
        int n = e164(k, sizeof k, i * 7);
        ecm_bloom_add(b, k, (size_t)n);
    }
    assert_int_equal(ecm_bloom_count(b), 100000);
    for (long long i = 0; i < 100000; i++) {
        int n = e164(k, sizeof k, i * 7);
        assert_int_equal(ecm_bloom_maybe(b, k, (size_t)n), 1);
    }
    ecm_bloom_destroy(b);
}

/* 2^23 bits, 4 probes, 200,000 keys: theory (1 - e^(-4n/m))^4 = 0.0068 %,
 * about 14 of 200,000 keys never added; allowed up to 12x that. */
static void test_bloom_false_maybe_rate_is_low(void **state)
{
    (void)state;
    ecm_bloom *b = ecm_bloom_new(23);
    assert_non_null(b);
    char k[24];
    for (long long i = 0; i < 200000; i++) {
        int n = e164(k, sizeof k, i * 2); /* even numbers added */
        ecm_bloom_add(b, k, (size_t)n);
    }
    int maybe = 0;
    for (long long i = 0; i < 200000; i++) {
        int n = e164(k, sizeof k, i * 2 + 1); /* odd ones never */
        maybe += ecm_bloom_maybe(b, k, (size_t)n);
    }
    assert_true(maybe <= 170);
    ecm_bloom_destroy(b);
}

/* Far past its size it answers "maybe" more and more, never "no" for an
 * added key. */
static void test_bloom_saturated_still_never_misses(void **state)
{
    (void)state;
    ecm_bloom *b = ecm_bloom_new(10); /* 1,024 bits */
    assert_non_null(b);
    char k[24];
    for (long long i = 0; i < 5000; i++) {
        int n = e164(k, sizeof k, i);
        ecm_bloom_add(b, k, (size_t)n);
    }
    int maybe = 0;
    for (long long i = 0; i < 5000; i++) {
        int n = e164(k, sizeof k, i);
        assert_int_equal(ecm_bloom_maybe(b, k, (size_t)n), 1);
        n = e164(k, sizeof k, 1000000 + i);
        maybe += ecm_bloom_maybe(b, k, (size_t)n);
    }
    assert_true(maybe > 4000); /* nearly every bit set: nearly all "maybe" */
    ecm_bloom_destroy(b);
}

static void test_bloom_empty_says_no(void **state)
{
    (void)state;
    ecm_bloom *b = ecm_bloom_new(16);
    assert_non_null(b);
    assert_int_equal(ecm_bloom_maybe(b, "+12125550100", 12), 0);
    assert_int_equal(ecm_bloom_count(b), 0);
    ecm_bloom_add(b, "+12125550100", 12);
    assert_int_equal(ecm_bloom_maybe(b, "+12125550100", 12), 1);
    assert_int_equal(ecm_bloom_maybe(b, "+12125550101", 12), 0);
    ecm_bloom_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bloom_empty_says_no),
        cmocka_unit_test(test_bloom_added_keys_are_always_maybe),
        cmocka_unit_test(test_bloom_false_maybe_rate_is_low),
        cmocka_unit_test(test_bloom_saturated_still_never_misses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

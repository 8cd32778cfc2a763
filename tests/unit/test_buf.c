#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_buf.h"

static void test_buf_starts_empty_with_no_contents(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 64);
    assert_null(ecm_buf_ptr(&b));
    assert_int_equal(ecm_buf_len(&b), 0);
    assert_int_equal(ecm_buf_failed(&b), 0);
    ecm_buf_destroy(&b);
}

static void test_buf_add_keeps_bytes_and_a_nul(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 64);
    assert_int_equal(ecm_buf_adds(&b, "abc"), 0);
    assert_int_equal(ecm_buf_add(&b, "d\0e", 3), 0);
    assert_int_equal(ecm_buf_len(&b), 6);
    assert_memory_equal(ecm_buf_ptr(&b), "abcd\0e", 7);
    ecm_buf_destroy(&b);
}

static void test_buf_add_of_nothing_gives_an_empty_string(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 8);
    assert_int_equal(ecm_buf_add(&b, "", 0), 0);
    assert_non_null(ecm_buf_ptr(&b));
    assert_string_equal(ecm_buf_ptr(&b), "");
    ecm_buf_destroy(&b);
}

static void test_buf_grows_past_the_first_allocation(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 100000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(ecm_buf_add(&b, &"0123456789"[i % 10], 1), 0);
    assert_int_equal(ecm_buf_len(&b), 10000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(ecm_buf_ptr(&b)[i], '0' + i % 10);
    assert_int_equal(ecm_buf_ptr(&b)[10000], '\0');
    ecm_buf_destroy(&b);
}

static void test_buf_maximum_counts_the_nul(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 4);
    assert_int_equal(ecm_buf_adds(&b, "abc"), 0);
    assert_string_equal(ecm_buf_ptr(&b), "abc");
    assert_int_equal(ecm_buf_adds(&b, "d"), -1);
    ecm_buf_destroy(&b);
}

static void test_buf_failure_is_sticky_until_reset(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 8);
    assert_int_equal(ecm_buf_adds(&b, "abcd"), 0);
    assert_int_equal(ecm_buf_adds(&b, "efghijkl"), -1);
    assert_int_equal(ecm_buf_failed(&b), 1);
    assert_null(ecm_buf_ptr(&b));
    assert_int_equal(ecm_buf_len(&b), 0);
    /* fits on its own, but the buffer has failed */
    assert_int_equal(ecm_buf_adds(&b, "x"), -1);
    assert_int_equal(ecm_buf_addf(&b, "%d", 1), -1);
    assert_null(ecm_buf_take(&b));
    /* take after a failure resets */
    assert_int_equal(ecm_buf_failed(&b), 0);
    assert_int_equal(ecm_buf_adds(&b, "x"), 0);
    assert_string_equal(ecm_buf_ptr(&b), "x");
    ecm_buf_reset(&b);
    assert_int_equal(ecm_buf_len(&b), 0);
    assert_int_equal(ecm_buf_adds(&b, "y"), 0);
    assert_string_equal(ecm_buf_ptr(&b), "y");
    ecm_buf_destroy(&b);
}

static void test_buf_reset_clears_a_failure(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 4);
    assert_int_equal(ecm_buf_adds(&b, "toolong"), -1);
    ecm_buf_reset(&b);
    assert_int_equal(ecm_buf_failed(&b), 0);
    assert_int_equal(ecm_buf_adds(&b, "ok"), 0);
    assert_string_equal(ecm_buf_ptr(&b), "ok");
    ecm_buf_destroy(&b);
}

static void test_buf_addf_formats_short_and_long_text(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 4096);
    assert_int_equal(ecm_buf_addf(&b, "id=%d;", 42), 0);
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(ecm_buf_addf(&b, "%s!", big), 0);
    assert_int_equal(ecm_buf_len(&b), 6 + 999 + 1);
    assert_memory_equal(ecm_buf_ptr(&b), "id=42;zzz", 9);
    assert_string_equal(ecm_buf_ptr(&b) + 6 + 999, "!");
    ecm_buf_destroy(&b);
}

static void test_buf_addf_over_the_maximum_fails(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 300);
    char big[400];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(ecm_buf_addf(&b, "%s", big), -1);
    assert_int_equal(ecm_buf_failed(&b), 1);
    ecm_buf_destroy(&b);
}

static void test_buf_take_hands_over_and_empties(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 64);
    assert_int_equal(ecm_buf_adds(&b, "hello"), 0);
    char *s = ecm_buf_take(&b);
    assert_string_equal(s, "hello");
    free(s);
    assert_null(ecm_buf_ptr(&b));
    assert_int_equal(ecm_buf_len(&b), 0);
    s = ecm_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    /* the maximum survives a take */
    assert_int_equal(
        ecm_buf_adds(&b, "0123456789012345678901234567890123456789012345678901234567890123"), -1);
    ecm_buf_destroy(&b);
}

static void test_buf_free_twice_is_safe(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 64);
    assert_int_equal(ecm_buf_adds(&b, "x"), 0);
    ecm_buf_destroy(&b);
    ecm_buf_destroy(&b);
    assert_null(ecm_buf_ptr(&b));
}

static void test_buf_huge_add_does_not_wrap(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, SIZE_MAX);
    assert_int_equal(ecm_buf_adds(&b, "ab"), 0);
    assert_int_equal(ecm_buf_add(&b, "x", SIZE_MAX - 1), -1);
    assert_int_equal(ecm_buf_failed(&b), 1);
    ecm_buf_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_starts_empty_with_no_contents),
        cmocka_unit_test(test_buf_add_keeps_bytes_and_a_nul),
        cmocka_unit_test(test_buf_add_of_nothing_gives_an_empty_string),
        cmocka_unit_test(test_buf_grows_past_the_first_allocation),
        cmocka_unit_test(test_buf_maximum_counts_the_nul),
        cmocka_unit_test(test_buf_failure_is_sticky_until_reset),
        cmocka_unit_test(test_buf_reset_clears_a_failure),
        cmocka_unit_test(test_buf_addf_formats_short_and_long_text),
        cmocka_unit_test(test_buf_addf_over_the_maximum_fails),
        cmocka_unit_test(test_buf_take_hands_over_and_empties),
        cmocka_unit_test(test_buf_free_twice_is_safe),
        cmocka_unit_test(test_buf_huge_add_does_not_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

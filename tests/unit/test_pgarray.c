#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ecm_pgarray.h"

static void test_pgarray_empty_is_braces(void **state)
{
    (void)state;
    ecm_pgarr a;
    ecm_pgarr_init(&a);
    assert_string_equal(ecm_pgarr_finish(&a), "{}");
    ecm_pgarr_destroy(&a);
}

static void test_pgarray_integers_are_comma_separated(void **state)
{
    (void)state;
    ecm_pgarr a;
    ecm_pgarr_init(&a);
    ecm_pgarr_add_int(&a, 1);
    ecm_pgarr_add_int(&a, -20);
    ecm_pgarr_add_int(&a, 9223372036854775807LL);
    assert_string_equal(ecm_pgarr_finish(&a), "{1,-20,9223372036854775807}");
    ecm_pgarr_destroy(&a);
}

static void test_pgarray_strings_are_quoted_and_escaped(void **state)
{
    (void)state;
    ecm_pgarr a;
    ecm_pgarr_init(&a);
    ecm_pgarr_add_str(&a, "plain");
    ecm_pgarr_add_str(&a, "with \"quote\" and \\ backslash, comma");
    ecm_pgarr_add_str(&a, NULL);
    ecm_pgarr_add_str(&a, "");
    assert_string_equal(ecm_pgarr_finish(&a),
                        "{\"plain\",\"with \\\"quote\\\" and \\\\ backslash, comma\",NULL,\"\"}");
    ecm_pgarr_destroy(&a);
}

static void test_pgarray_grows_past_its_first_buffer(void **state)
{
    (void)state;
    ecm_pgarr a;
    ecm_pgarr_init(&a);
    for (int i = 0; i < 10000; i++) {
        ecm_pgarr_add_int(&a, i);
    }
    const char *s = ecm_pgarr_finish(&a);
    assert_non_null(s);
    assert_int_equal(a.n, 10000);
    assert_memory_equal(s, "{0,1,2,", 7);
    ecm_pgarr_destroy(&a);
}

static void test_pgarray_parse_reads_postgres_text_arrays(void **state)
{
    (void)state;
    int n = -1;
    char **a = ecm_pgarr_parse("{+12125550100,\"(212) 555-0101\",NULL,\"a\\\"b\",\"\"}", &n);
    assert_non_null(a);
    assert_int_equal(n, 5);
    assert_string_equal(a[0], "+12125550100");
    assert_string_equal(a[1], "(212) 555-0101");
    assert_null(a[2]);
    assert_string_equal(a[3], "a\"b");
    assert_string_equal(a[4], "");
    free(a);
    a = ecm_pgarr_parse("{}", &n);
    assert_non_null(a);
    assert_int_equal(n, 0);
    free(a);
    a = ecm_pgarr_parse(NULL, &n);
    assert_non_null(a);
    assert_int_equal(n, 0);
    free(a);
    a = ecm_pgarr_parse("[0:1]={x,y}", &n);
    assert_non_null(a);
    assert_int_equal(n, 2);
    assert_string_equal(a[1], "y");
    free(a);
    assert_null(ecm_pgarr_parse("{\"open", &n));
    assert_null(ecm_pgarr_parse("x,y", &n));
    assert_null(ecm_pgarr_parse("{a,,b}", &n));
}

static void test_pgarray_over_its_maximum_fails_at_finish(void **state)
{
    (void)state;
    ecm_pgarr a;
    ecm_pgarr_init_max(&a, 9);
    ecm_pgarr_add_int(&a, 123);
    ecm_pgarr_add_int(&a, 45);
    assert_string_equal(ecm_pgarr_finish(&a), "{123,45}");
    ecm_pgarr_destroy(&a);
    ecm_pgarr_init_max(&a, 9);
    ecm_pgarr_add_int(&a, 123);
    ecm_pgarr_add_int(&a, 456);
    assert_null(ecm_pgarr_finish(&a));
    ecm_pgarr_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgarray_over_its_maximum_fails_at_finish),
        cmocka_unit_test(test_pgarray_parse_reads_postgres_text_arrays),
        cmocka_unit_test(test_pgarray_empty_is_braces),
        cmocka_unit_test(test_pgarray_integers_are_comma_separated),
        cmocka_unit_test(test_pgarray_strings_are_quoted_and_escaped),
        cmocka_unit_test(test_pgarray_grows_past_its_first_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

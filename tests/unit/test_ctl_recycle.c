/* ecmctl recycle's pure part: --outcome lists split into the API's array,
 * and empty names refused (so "NO_ANSWER," is a usage error, not a request
 * for an outcome called ""). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_recycle.h"

static void test_ctl_recycle_outcomes_split_on_commas(void **state)
{
    (void)state;
    json_t *a = ctl_recycle_outcomes("NO_ANSWER,BUSY");
    assert_non_null(a);
    assert_int_equal(json_array_size(a), 2);
    assert_string_equal(json_string_value(json_array_get(a, 0)), "NO_ANSWER");
    assert_string_equal(json_string_value(json_array_get(a, 1)), "BUSY");
    json_decref(a);
    a = ctl_recycle_outcomes("BUSY");
    assert_non_null(a);
    assert_int_equal(json_array_size(a), 1);
    json_decref(a);
}

static void test_ctl_recycle_outcomes_refuse_empty_names(void **state)
{
    (void)state;
    const char *bad[] = {"", ",", "NO_ANSWER,", ",BUSY", "NO_ANSWER,,BUSY"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *a = ctl_recycle_outcomes(bad[i]);
        if (a != NULL)
            fail_msg("'%s' was split", bad[i]);
    }
    assert_null(ctl_recycle_outcomes(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_recycle_outcomes_split_on_commas),
        cmocka_unit_test(test_ctl_recycle_outcomes_refuse_empty_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

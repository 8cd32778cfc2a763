#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_account.h"

static void test_account_number_formats_and_parses_back(void **state)
{
    (void)state;
    char out[64];
    int64_t id;
    int att;
    assert_int_equal(ecm_account_format(out, sizeof out, 42, 3), 0);
    assert_string_equal(out, "42-3");
    assert_int_equal(ecm_account_parse(out, &id, &att), 0);
    assert_int_equal(id, 42);
    assert_int_equal(att, 3);

    /* The longest possible one is exactly 30 characters. */
    assert_int_equal(ecm_account_format(out, 31, INT64_MAX, INT32_MAX), 0);
    assert_string_equal(out, "9223372036854775807-2147483647");
    assert_int_equal(strlen(out), 30);
    assert_int_equal(ecm_account_parse(out, &id, &att), 0);
    assert_true(id == INT64_MAX);
    assert_int_equal(att, INT32_MAX);

    assert_int_equal(ecm_account_format(out, sizeof out, 0, 1), 0);
    assert_string_equal(out, "0-1");
}

static void test_account_number_rejects_bad_input(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(ecm_account_format(out, 30, 1, 1), -1);
    assert_int_equal(ecm_account_format(out, sizeof out, 1, 0), -1);
    assert_int_equal(ecm_account_format(out, sizeof out, 1, -2), -1);
    assert_int_equal(ecm_account_format(out, sizeof out, -5, 1), -1);
}

static void test_account_number_parse_is_strict(void **state)
{
    (void)state;
    int64_t id = 77;
    int att = 77;
    static const char *const bad[] = {
        "",
        "-",
        "1-",
        "-1",
        "1-0",
        "12",
        "a-1",
        "1-a",
        "1-2-3",
        " 1-2",
        "1-2 ",
        "+1-2",
        "1-+2",
        "1--2",
        "01-2",
        "1-02",
        "9223372036854775808-1",  /* int64 overflow */
        "99999999999999999999-1", /* 20 digits */
        "1-2147483648",           /* int overflow */
        "1-99999999999",
        "12345678901234567890123456789-1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ecm_account_parse(bad[i], &id, &att) != -1) {
            fail_msg("'%s' was accepted", bad[i]);
        }
    }
    assert_int_equal(ecm_account_parse(NULL, &id, &att), -1);
    assert_int_equal(id, 77);
    assert_int_equal(att, 77);
    assert_int_equal(ecm_account_parse("0-1", &id, &att), 0);
    assert_int_equal(id, 0);
    assert_int_equal(att, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_number_formats_and_parses_back),
        cmocka_unit_test(test_account_number_rejects_bad_input),
        cmocka_unit_test(test_account_number_parse_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* rs_odbc: what may reach the SQL text, and handle creation bounds. The
 * reads themselves are exercised over psqlODBC in test_rs_sync.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_log.h"
#include "rs_odbc.h"

static void test_rs_odbc_table_name_accepts_plain_and_schema_names(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(rs_odbc_validate_table("Dialer_Detail", err, sizeof(err)), 0);
    assert_int_equal(rs_odbc_validate_table("dbo.Dialer_Detail", err, sizeof(err)), 0);
    assert_int_equal(rs_odbc_validate_table("_t1", err, sizeof(err)), 0);
}

static void test_rs_odbc_table_name_rejects_anything_that_is_not_an_identifier(void **state)
{
    (void)state;
    char err[128];
    const char *bad[] = {"", "Dialer_Detail; DROP TABLE x", "1abc", ".x", "a b", "a\"b", "a--"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (rs_odbc_validate_table(bad[i], err, sizeof(err)) != -1)
            fail_msg("accepted '%s'", bad[i]);
        assert_true(strlen(err) > 0);
    }
    char long_name[200];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(rs_odbc_validate_table(long_name, err, sizeof(err)), -1);
}

static void test_rs_odbc_new_rejects_bad_page_size_and_table(void **state)
{
    (void)state;
    const char *cs = "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=1;";
    assert_null(rs_odbc_new(cs, "Dialer_Detail", 0));
    assert_null(rs_odbc_new(cs, "Dialer_Detail", RS_ODBC_PAGE_MAX + 1));
    assert_null(rs_odbc_new(cs, "x;y", 10));
    rs_odbc *o = rs_odbc_new(cs, "Dialer_Detail", RS_ODBC_PAGE_MAX);
    assert_non_null(o);
    assert_int_equal(rs_odbc_connected(o), 0);
    assert_int_equal(rs_odbc_backoff_ms(o), 0);
    rs_odbc_destroy(o);
}

int main(void)
{
    ecm_log_init("test_rs_odbc", ECM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs_odbc_table_name_accepts_plain_and_schema_names),
        cmocka_unit_test(test_rs_odbc_table_name_rejects_anything_that_is_not_an_identifier),
        cmocka_unit_test(test_rs_odbc_new_rejects_bad_page_size_and_table),
    };
    return cmocka_run_group_tests_name("rs_odbc", tests, NULL, NULL);
}

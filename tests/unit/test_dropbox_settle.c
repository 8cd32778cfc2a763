/* When a dropped file is complete: unchanged size and mtime for the settle
 * time, by a clock the test drives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "dbx_settle.h"

/* One scan that sees path alone at now. */
static int see_alone(dbx_settle *s, const char *path, long long size, long long mtime, int64_t now,
                     int *first)
{
    dbx_settle_begin_scan(s);
    int st = dbx_settle_see(s, path, size, mtime, now, first);
    dbx_settle_end_scan(s);
    return st;
}

static void test_dropbox_settles_after_quiet_time(void **state)
{
    (void)state;
    dbx_settle *s = dbx_settle_new(5000);
    assert_non_null(s);
    int first = 0;
    assert_int_equal(see_alone(s, "1/a.csv", 100, 1, 1000, &first), DBX_SETTLE_NEW);
    assert_int_equal(first, 1);
    assert_int_equal(see_alone(s, "1/a.csv", 100, 1, 5999, &first), DBX_SETTLE_UNSETTLED);
    assert_int_equal(first, 0);
    assert_int_equal(see_alone(s, "1/a.csv", 100, 1, 6000, &first), DBX_SETTLE_SETTLED);
    dbx_settle_destroy(s);
}

static void test_dropbox_growing_file_waits_again(void **state)
{
    (void)state;
    dbx_settle *s = dbx_settle_new(5000);
    assert_non_null(s);
    int first = 0;
    assert_int_equal(see_alone(s, "1/a.csv", 100, 1, 0, &first), DBX_SETTLE_NEW);
    /* Written on (size), then touched only (mtime): each change restarts
     * the wait, even long after the first sight. */
    assert_int_equal(see_alone(s, "1/a.csv", 200, 1, 4000, &first), DBX_SETTLE_NEW);
    assert_int_equal(first, 1);
    assert_int_equal(see_alone(s, "1/a.csv", 200, 2, 8000, &first), DBX_SETTLE_NEW);
    assert_int_equal(see_alone(s, "1/a.csv", 200, 2, 12999, &first), DBX_SETTLE_UNSETTLED);
    assert_int_equal(see_alone(s, "1/a.csv", 200, 2, 13000, &first), DBX_SETTLE_SETTLED);
    dbx_settle_destroy(s);
}

static void test_dropbox_settle_zero_trusts_rename(void **state)
{
    (void)state;
    dbx_settle *s = dbx_settle_new(0);
    assert_non_null(s);
    int first = 0;
    assert_int_equal(see_alone(s, "a", 1, 1, 0, &first), DBX_SETTLE_SETTLED);
    assert_int_equal(first, 1);
    assert_int_equal(see_alone(s, "a", 1, 1, 0, &first), DBX_SETTLE_SETTLED);
    assert_int_equal(first, 0);
    dbx_settle_destroy(s);
}

static void test_dropbox_gone_file_is_forgotten(void **state)
{
    (void)state;
    dbx_settle *s = dbx_settle_new(1000);
    assert_non_null(s);
    dbx_settle_begin_scan(s);
    assert_int_equal(dbx_settle_see(s, "a", 1, 1, 0, NULL), DBX_SETTLE_NEW);
    assert_int_equal(dbx_settle_see(s, "b", 1, 1, 0, NULL), DBX_SETTLE_NEW);
    dbx_settle_end_scan(s);
    assert_int_equal(dbx_settle_count(s), 2);
    dbx_settle_begin_scan(s);
    assert_int_equal(dbx_settle_see(s, "b", 1, 1, 2000, NULL), DBX_SETTLE_SETTLED);
    dbx_settle_end_scan(s);
    assert_int_equal(dbx_settle_count(s), 1);
    /* "a" back (another file under its name): its wait starts afresh. */
    int first = 0;
    assert_int_equal(see_alone(s, "a", 1, 1, 2500, &first), DBX_SETTLE_NEW);
    assert_int_equal(first, 1);
    dbx_settle_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropbox_settles_after_quiet_time),
        cmocka_unit_test(test_dropbox_growing_file_waits_again),
        cmocka_unit_test(test_dropbox_settle_zero_trusts_rename),
        cmocka_unit_test(test_dropbox_gone_file_is_forgotten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

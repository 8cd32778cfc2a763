/* The drop folder's names: which are writers' temporary names (never
 * read), and which campaign a file belongs to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dbx_name.h"

static void test_dropbox_temp_names_are_skipped(void **state)
{
    (void)state;
    static const char *const temp[] = {
        "",
        ".hidden",
        ".contacts.csv.Xa12bC", /* rsync */
        "a.tmp",
        "a.csv.TMP",
        "a.part",
        "a.csv.partial",
        "a.csv.filepart",   /* WinSCP */
        "a.csv.crdownload", /* Chrome */
        "a.csv~",
        ".",
        "..",
    };
    for (size_t i = 0; i < sizeof(temp) / sizeof(temp[0]); i++) {
        if (!dbx_name_is_temp(temp[i])) {
            fail_msg("'%s' should be a temporary name", temp[i]);
        }
    }
    static const char *const real[] = {"contacts.csv", "a.json",  "partial.csv", "tmp",
                                       "a.csv.bak",    "a.parts", "42_x.csv"};
    for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++) {
        if (dbx_name_is_temp(real[i])) {
            fail_msg("'%s' should not be a temporary name", real[i]);
        }
    }
}

static void test_dropbox_campaign_from_folder_or_name(void **state)
{
    (void)state;
    long long id = 0;
    char why[256];
    assert_int_equal(dbx_name_campaign("42/contacts.csv", &id, why, sizeof(why)), 0);
    assert_int_equal(id, 42);
    assert_int_equal(dbx_name_campaign("7_monday list.csv", &id, why, sizeof(why)), 0);
    assert_int_equal(id, 7);
    /* A folder's name wins: the file's own digits do not matter there. */
    assert_int_equal(dbx_name_campaign("9/12_x.csv", &id, why, sizeof(why)), 0);
    assert_int_equal(id, 9);
    assert_string_equal(dbx_name_base("9/12_x.csv"), "12_x.csv");
    assert_string_equal(dbx_name_base("12_x.csv"), "12_x.csv");
}

static void test_dropbox_not_a_campaign_says_why(void **state)
{
    (void)state;
    long long id = 0;
    char why[256];
    assert_int_equal(dbx_name_campaign("abc/contacts.csv", &id, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "folder 'abc' is not a campaign id"));
    assert_int_equal(dbx_name_campaign("contacts.csv", &id, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "does not start with a campaign id"));
    assert_int_equal(dbx_name_campaign("0_contacts.csv", &id, why, sizeof(why)), -1);
    assert_int_equal(dbx_name_campaign("12x_contacts.csv", &id, why, sizeof(why)), -1);
    assert_int_equal(dbx_name_campaign("99999999999999999999_a.csv", &id, why, sizeof(why)), -1);
    assert_int_equal(dbx_name_campaign("/a.csv", &id, why, sizeof(why)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropbox_temp_names_are_skipped),
        cmocka_unit_test(test_dropbox_campaign_from_folder_or_name),
        cmocka_unit_test(test_dropbox_not_a_campaign_says_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

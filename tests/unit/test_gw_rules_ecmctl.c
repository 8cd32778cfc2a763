/* ecmctl's rule-set text (the table row, one line a rule, durations) and
 * the campaign create flags --blackout, pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ctl_campaigns.h"
#include "ctl_rules.h"

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_ctl_rules_duration_takes_the_largest_whole_unit(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(ctl_rules_duration(b, sizeof(b), 604800), "7 d");
    assert_string_equal(ctl_rules_duration(b, sizeof(b), 86400), "1 d");
    assert_string_equal(ctl_rules_duration(b, sizeof(b), 259200), "3 d");
    assert_string_equal(ctl_rules_duration(b, sizeof(b), 90000), "25 h");
    assert_string_equal(ctl_rules_duration(b, sizeof(b), 5400), "90 min");
    assert_string_equal(ctl_rules_duration(b, sizeof(b), 45), "45 s");
}

static void test_ctl_rules_rule_lines_say_what_each_kind_does(void **state)
{
    (void)state;
    static const struct {
        const char *rule, *line;
    } cases[] = {
        {"{\"kind\":\"hours\",\"wdays\":[1,2,3,4,5],\"start\":\"08:00\",\"end\":\"20:00\","
         "\"channel\":\"all\"}",
         "hours    Mon-Fri 08:00-20:00"},
        {"{\"kind\":\"hours\",\"wdays\":[0,1,2,3,4,5,6],\"start\":\"08:00\",\"end\":\"21:00\","
         "\"channel\":\"voice\"}",
         "hours    every day 08:00-21:00 [voice]"},
        {"{\"kind\":\"hours\",\"wdays\":[0,6],\"start\":\"10:00\",\"end\":\"24:00\"}",
         "hours    Sun,Sat 10:00-24:00"},
        {"{\"kind\":\"hours\",\"wdays\":[0,2,3,4],\"start\":\"10:00\",\"end\":\"12:00\"}",
         "hours    Sun,Tue-Thu 10:00-12:00"},
        {"{\"kind\":\"hours\",\"wdays\":[1,2],\"start\":\"10:00\",\"end\":\"12:00\"}",
         "hours    Mon,Tue 10:00-12:00"},
        {"{\"kind\":\"day_off\",\"day\":\"2026-12-25\",\"channel\":\"all\"}",
         "day_off  2026-12-25"},
        {"{\"kind\":\"cap\",\"max_attempts\":3,\"window_s\":86400,\"scope\":\"subject\","
         "\"channel\":\"all\"}",
         "cap      3 in 1 d, per subject"},
        {"{\"kind\":\"quiet\",\"after_outcome\":\"ABANDONED\",\"quiet_s\":259200,"
         "\"scope\":\"phone\",\"channel\":\"sms\"}",
         "quiet    3 d after ABANDONED, per phone [sms]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *r = parse(cases[i].rule);
        char line[256];
        assert_string_equal(ctl_rules_rule_line(line, sizeof(line), r), cases[i].line);
        json_decref(r);
    }
}

static void test_ctl_rules_row_and_header_line_up(void **state)
{
    (void)state;
    json_t *s = parse("{\"id\":12,\"name\":\"US-FL Florida Telephone Solicitation Act\","
                      "\"jurisdiction\":\"US-FL\",\"shipped\":true,\"rule_count\":2,"
                      "\"campaigns\":3}");
    char row[512];
    assert_string_equal(ctl_rules_row(row, sizeof(row), s),
                        "    12  US-FL         shipped      2          3  US-FL Florida Telephone "
                        "Solicitation Act");
    /* The columns of the header start where the row's do. */
    const char *h = ctl_rules_header();
    assert_int_equal(strstr(h, "NAME") - h, strstr(row, "US-FL Florida") - row);
    assert_int_equal(strstr(h, "KIND") - h, strstr(row, "shipped") - row);
    /* A small buffer cuts, never overruns. */
    char small[8];
    assert_int_equal(strlen(ctl_rules_row(small, sizeof(small), s)) < sizeof(small), 1);
    json_decref(s);
}

static void test_ctl_campaigns_blackout_flag(void **state)
{
    (void)state;
    json_t *list = json_array();
    char err[256];
    assert_int_equal(ctl_campaigns_blackout_add(list, "2026-12-24:office closed", err, sizeof(err)),
                     0);
    assert_int_equal(ctl_campaigns_blackout_add(list, "2026-12-31", err, sizeof(err)), 0);
    assert_int_equal(ctl_campaigns_blackout_add(list, "2027-01-02:", err, sizeof(err)), 0);
    char *text = json_dumps(list, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "[{\"date\":\"2026-12-24\",\"reason\":\"office closed\"},"
                              "{\"date\":\"2026-12-31\"},{\"date\":\"2027-01-02\"}]");
    free(text);
    static const char *const bad[] = {
        "", "2026-12", "24.12.2026", "2026/12/24", "2026-12-24x", ":reason", "2026-1-24:x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ctl_campaigns_blackout_add(list, bad[i], err, sizeof(err)), -1);
        assert_non_null(strstr(err, "--blackout"));
    }
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_rules_duration_takes_the_largest_whole_unit),
        cmocka_unit_test(test_ctl_rules_rule_lines_say_what_each_kind_does),
        cmocka_unit_test(test_ctl_rules_row_and_header_line_up),
        cmocka_unit_test(test_ctl_campaigns_blackout_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ecmctl's pure parts: counting rows as a file's bytes go by, the
 * progress bar's text, ids and counts on the command line, table cells,
 * the counts line of "watch", when a campaign is done, and --window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_bar.h"
#include "ctl_campaigns.h"
#include "ctl_cli.h"
#include "ctl_rows.h"
#include "ctl_table.h"

/* Feeds text to a fresh counter in pieces of step bytes. */
static long long rows_of(const char *text, bool json, size_t step, bool at_end)
{
    ctl_rows r;
    ctl_rows_init(&r, json);
    size_t n = strlen(text);
    for (size_t o = 0; o < n; o += step) {
        ctl_rows_feed(&r, text + o, n - o < step ? n - o : step);
    }
    return ctl_rows_count(&r, at_end);
}

static void test_ecmctl_rows_csv_counts_records_not_lines(void **state)
{
    (void)state;
    const char *csv = "account_number,first_name,phone1\r\n"
                      "A1,\"Ann\non two lines\",2125550100\r\n"
                      "\r\n"
                      "A2,\"say \"\"hi\"\"\",2125550101\n"
                      "A3,Bo,2125550102";
    for (size_t step = 1; step <= strlen(csv); step++) {
        assert_int_equal(rows_of(csv, false, step, false), 2); /* A3 not ended yet */
        assert_int_equal(rows_of(csv, false, step, true), 3);
    }
    assert_int_equal(rows_of("phone\n", false, 1, true), 0); /* the header alone */
    assert_int_equal(rows_of("", false, 1, true), 0);
    assert_int_equal(rows_of("phone\n1\n2\n\n\n", false, 3, true), 2);
}

static void test_ecmctl_rows_json_counts_top_level_objects(void **state)
{
    (void)state;
    const char *json = "[{\"phone1\": \"1\", \"custom\": {\"a\": [1, {\"b\": 2}]}},\n"
                       " {\"first_name\": \"brace { in \\\"text\\\" }\"},\n"
                       " {\"x\": \"\\\\\"}, {}]";
    for (size_t step = 1; step <= strlen(json); step++) {
        assert_int_equal(rows_of(json, true, step, true), 4);
    }
    assert_int_equal(rows_of("[]", true, 1, true), 0);
}

static void test_ecmctl_bar_text_shows_bytes_percent_and_rows(void **state)
{
    (void)state;
    char buf[160];
    assert_string_equal(ctl_bar_text(buf, sizeof(buf), 4200000, 8400000, 41230, -1),
                        "[###############...............]  50%  4.2 / 8.4 MB  41,230 rows sent");
    assert_string_equal(ctl_bar_text(buf, sizeof(buf), 0, 0, 0, -1),
                        "[##############################] 100%  0.0 / 0.0 kB  0 rows sent");
    assert_string_equal(ctl_bar_text(buf, sizeof(buf), 1500, 3000, 7, -1),
                        "[###############...............]  50%  1.5 / 3.0 kB  7 rows sent");
    /* The server's rejected count, once it is known. */
    assert_string_equal(
        ctl_bar_text(buf, sizeof(buf), 4200000, 8400000, 41230, 1234),
        "[###############...............]  50%  4.2 / 8.4 MB  41,230 rows sent, 1,234 rejected");
    ctl_bar_text(buf, 10, 1, 2, 3, 4); /* cut, never overrun */
    assert_int_equal(strlen(buf), 9);
}

static void test_ecmctl_bar_draws_each_whole_percent(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    static char file[100 * 20];
    for (size_t i = 0; i < 100; i++) {
        memcpy(file + i * 20, "A,Bob,+1212555010x\r\n", 20);
    }
    ctl_bar b;
    ctl_bar_init(&b, true, out, sizeof(file), false);
    for (size_t o = 0; o < sizeof(file); o += 20) {
        ctl_bar_feed(&b, file + o, 20); /* fast: all within 200 ms */
    }
    ctl_bar_finish(&b);
    fclose(out);
    assert_true(b.draws >= 100); /* one a percent, and the last */
    assert_non_null(strstr(text, "\r[##############################] 100%"));
    assert_non_null(strstr(text, "99 rows sent\n")); /* 100 records, the first a header */
    free(text);
    ctl_bar_init(&b, false, stderr, 10, false);
    ctl_bar_feed(&b, "a\nb\n", 4);
    ctl_bar_finish(&b);
    assert_int_equal(b.draws, 0);
    assert_int_equal(b.sent, 4);
}

static void test_ecmctl_parse_id_takes_positive_decimals_only(void **state)
{
    (void)state;
    long long v = 7;
    assert_int_equal(ctl_cli_parse_id("42", &v), 0);
    assert_int_equal(v, 42);
    static const char *const bad[] = {"",   "0",  "-1",   "+1",
                                      " 1", "1x", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ctl_cli_parse_id(bad[i], &v), -1);
        assert_int_equal(v, 42);
    }
    assert_int_equal(ctl_cli_parse_id(NULL, &v), -1);
}

static FILE *g_usage_to;

static void note_usage(FILE *out)
{
    g_usage_to = out;
}

static void test_ecmctl_help_words_and_usage_exits(void **state)
{
    (void)state;
    assert_true(ctl_cli_is_help("--help"));
    assert_true(ctl_cli_is_help("-h"));
    assert_true(ctl_cli_is_help("help"));
    assert_false(ctl_cli_is_help(""));
    assert_false(ctl_cli_is_help("--helpx"));
    assert_false(ctl_cli_is_help("list"));
    g_usage_to = NULL;
    assert_int_equal(ctl_cli_usage(note_usage, true), -1);
    assert_ptr_equal(g_usage_to, stdout);
    assert_int_equal(ctl_cli_usage(note_usage, false), CTL_EXIT_USAGE);
    assert_ptr_equal(g_usage_to, stderr);
}

static void test_ecmctl_count_groups_thousands(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(ctl_cli_count(b, sizeof(b), 0), "0");
    assert_string_equal(ctl_cli_count(b, sizeof(b), 999), "999");
    assert_string_equal(ctl_cli_count(b, sizeof(b), 1000), "1,000");
    assert_string_equal(ctl_cli_count(b, sizeof(b), 1234567), "1,234,567");
    assert_string_equal(ctl_cli_count(b, sizeof(b), -100000), "-100,000");
    assert_string_equal(ctl_cli_count(b, 4, 1234567), "1,2");
}

static void test_ecmctl_fit_counts_characters_and_never_splits_one(void **state)
{
    (void)state;
    char b[64];
    assert_string_equal(ctl_table_fit(b, sizeof(b), "abc", 5, false), "abc  ");
    assert_string_equal(ctl_table_fit(b, sizeof(b), "abc", 5, true), "  abc");
    assert_string_equal(ctl_table_fit(b, sizeof(b), NULL, 3, false), "-  ");
    /* "Zoë Ünal" is 8 characters, 10 bytes */
    assert_string_equal(ctl_table_fit(b, sizeof(b), "Zo\xC3\xAB \xC3\x9Cnal", 10, false),
                        "Zo\xC3\xAB \xC3\x9Cnal  ");
    assert_string_equal(ctl_table_fit(b, sizeof(b), "Zo\xC3\xAB \xC3\x9Cnal", 5, false),
                        "Zo\xC3\xAB ~");
    assert_string_equal(ctl_table_fit(b, sizeof(b), "bad\xFF", 4, false), "bad\xEF\xBF\xBD");
    ctl_table_fit(b, 4, "abcdef", 6, false);
    assert_int_equal(strlen(b), 3);
}

static json_t *campaign(const char *state, int contacts, int closed)
{
    return json_pack("{sI ss ss ss s{s{si si si si si si} s{si} si si s{}}}", "id", (json_int_t)12,
                     "name", "Nov\xC3\xA9mbre", "channel", "voice_ivr", "state", state, "counts",
                     "by_state", "pending", 1, "queued", 2, "dispatched", 3, "waiting", 4,
                     "retry_due", 5, "closed", closed, "by_outcome", "CONNECTED", closed,
                     "contacts", contacts, "attempts", 77, "attempts_by_outcome");
}

static void test_ecmctl_campaign_row_and_counts_line(void **state)
{
    (void)state;
    json_t *c = campaign("active", 100, 85);
    char b[512];
    assert_string_equal(ctl_table_campaign_row(b, sizeof(b), c),
                        "    12  Nov\xC3\xA9mbre                      voice_ivr    active          "
                        "100        85        77");
    assert_int_equal(strlen(ctl_table_campaign_header()),
                     strlen(b) - 1); /* é is two bytes, one column */
    assert_string_equal(ctl_table_counts_line(b, sizeof(b), c),
                        "active contacts=100 pending=1 queued=2 dispatched=3 waiting=4 "
                        "retry_due=5 closed=85 attempts=77 | CONNECTED=85");
    json_decref(c);
}

static void test_ecmctl_campaign_done_when_ended_or_all_closed(void **state)
{
    (void)state;
    struct {
        const char *state;
        int contacts, closed;
        bool done;
    } cases[] = {{"active", 100, 85, false}, {"active", 100, 100, true}, {"draft", 0, 0, false},
                 {"paused", 5, 5, true},     {"stopped", 5, 0, true},    {"completed", 5, 5, true},
                 {"expired", 5, 1, true}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *c = campaign(cases[i].state, cases[i].contacts, cases[i].closed);
        assert_int_equal(ctl_table_campaign_done(c), cases[i].done);
        json_decref(c);
    }
}

static void test_ecmctl_window_days_ranges_and_lists(void **state)
{
    (void)state;
    json_t *w = json_object();
    char err[256];
    assert_int_equal(ctl_campaigns_window_add(w, "mon-fri=09:00-17:00", err, sizeof(err)), 0);
    assert_int_equal(ctl_campaigns_window_add(w, "sat,sun,fri=10:00-12:30", err, sizeof(err)), 0);
    char *text = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"fri\":[[\"09:00\",\"17:00\"],[\"10:00\",\"12:30\"]],"
                              "\"mon\":[[\"09:00\",\"17:00\"]],\"sat\":[[\"10:00\",\"12:30\"]],"
                              "\"sun\":[[\"10:00\",\"12:30\"]],\"thu\":[[\"09:00\",\"17:00\"]],"
                              "\"tue\":[[\"09:00\",\"17:00\"]],\"wed\":[[\"09:00\",\"17:00\"]]}");
    free(text);
    static const char *const bad[] = {"mon",
                                      "=09:00-17:00",
                                      "fri-mon=09:00-17:00",
                                      "xyz=09:00-17:00",
                                      "mon=9:00-17:00",
                                      "mon=17:00-09:00",
                                      "mon=09:00",
                                      "mon=09:60-10:00",
                                      "mon,=09:00-10:00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ctl_campaigns_window_add(w, bad[i], err, sizeof(err)), -1);
        assert_non_null(strstr(err, "--window"));
    }
    assert_int_equal(json_object_size(w), 7);
    json_decref(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ecmctl_rows_csv_counts_records_not_lines),
        cmocka_unit_test(test_ecmctl_rows_json_counts_top_level_objects),
        cmocka_unit_test(test_ecmctl_bar_text_shows_bytes_percent_and_rows),
        cmocka_unit_test(test_ecmctl_bar_draws_each_whole_percent),
        cmocka_unit_test(test_ecmctl_parse_id_takes_positive_decimals_only),
        cmocka_unit_test(test_ecmctl_help_words_and_usage_exits),
        cmocka_unit_test(test_ecmctl_count_groups_thousands),
        cmocka_unit_test(test_ecmctl_fit_counts_characters_and_never_splits_one),
        cmocka_unit_test(test_ecmctl_campaign_row_and_counts_line),
        cmocka_unit_test(test_ecmctl_campaign_done_when_ended_or_all_closed),
        cmocka_unit_test(test_ecmctl_window_days_ranges_and_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

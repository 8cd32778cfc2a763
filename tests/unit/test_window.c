/* Calling windows in New York, London, Karachi and Sydney, across the 2026
 * DST changes: US 03-08 / 11-01, EU 03-29 / 10-25, Sydney 04-05 / 10-04.
 * Expected instants are written as local time with the offset in force
 * there, so each line reads like a wall clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_clock.h"
#include "ecm_utf8.h"
#include "ecm_window.h"

#define NY "America/New_York"
#define LONDON "Europe/London"
#define KARACHI "Asia/Karachi"
#define SYDNEY "Australia/Sydney"
#define MS 1LL

static int64_t T(const char *rfc3339)
{
    int64_t ms;
    if (ecm_clock_parse_time(rfc3339, &ms) != 0) {
        fail_msg("bad test time %s", rfc3339);
    }
    return ms;
}

static ecm_window *window_from(const char *json)
{
    ecm_window *w = NULL;
    char err[256] = "";
    if (ecm_window_parse_json_text(json, &w, err, sizeof err) != 0) {
        fail_msg("window %s: %s", json, err);
    }
    return w;
}

/* Mon-Fri 09:00-20:00. */
static ecm_window *weekdays(void)
{
    return window_from("{\"mon\":[[\"09:00\",\"20:00\"]],\"tue\":[[\"09:00\",\"20:00\"]],"
                       "\"wed\":[[\"09:00\",\"20:00\"]],\"thu\":[[\"09:00\",\"20:00\"]],"
                       "\"fri\":[[\"09:00\",\"20:00\"]]}");
}

/* Every day 09:00-20:00. */
static ecm_window *every_day(void)
{
    return window_from("{\"mon\":[[\"09:00\",\"20:00\"]],\"tue\":[[\"09:00\",\"20:00\"]],"
                       "\"wed\":[[\"09:00\",\"20:00\"]],\"thu\":[[\"09:00\",\"20:00\"]],"
                       "\"fri\":[[\"09:00\",\"20:00\"]],\"sat\":[[\"09:00\",\"20:00\"]],"
                       "\"sun\":[[\"09:00\",\"20:00\"]]}");
}

static void no_legal_limit(ecm_window *w)
{
    char err[128];
    assert_int_equal(ecm_window_set_legal_hours(w, 0, 1440, err, sizeof err), 0);
}

/* Prints both instants on failure, which a bare integer compare does not. */
static void assert_instant(int64_t got, int64_t want)
{
    if (got != want) {
        char a[40], b[40];
        fail_msg("got %s (%lld), want %s", got < 0 ? "none" : ecm_clock_format_ms(got, a, sizeof a),
                 (long long)got, ecm_clock_format_ms(want, b, sizeof b));
    }
}

static void expect_parse_error(const char *json, const char *reason)
{
    ecm_window *w = (ecm_window *)1;
    char err[256] = "";
    assert_int_equal(ecm_window_parse_json_text(json, &w, err, sizeof err), -1);
    assert_null(w);
    assert_string_equal(err, reason);
}

static void expect_parse_error_prefix(const char *json, const char *prefix)
{
    ecm_window *w = (ecm_window *)1;
    char err[256] = "";
    assert_int_equal(ecm_window_parse_json_text(json, &w, err, sizeof err), -1);
    assert_null(w);
    if (strncmp(err, prefix, strlen(prefix)) != 0) {
        fail_msg("'%s' does not start with '%s'", err, prefix);
    }
}

static void test_window_parse_json_round_trips(void **state)
{
    (void)state;
    ecm_window *w = window_from("{\"tue\":[[\"13:00\",\"20:00\"],[\"9:00\",\"12:00\"]],"
                                "\"sat\":[],\"sun\":[[\"20:00\",\"24:00\"]]}");
    json_t *got = ecm_window_to_json(w);
    json_error_t jerr;
    json_t *want = json_loads("{\"mon\":[],\"tue\":[[\"09:00\",\"12:00\"],[\"13:00\",\"20:00\"]],"
                              "\"wed\":[],\"thu\":[],\"fri\":[],\"sat\":[],"
                              "\"sun\":[[\"20:00\",\"24:00\"]]}",
                              0, &jerr);
    assert_non_null(got);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *text = json_dumps(got, JSON_SORT_KEYS);
        fail_msg("round trip gave %s", text);
    }
    json_decref(got);
    json_decref(want);
    ecm_window_destroy(w);
}

static void test_window_parse_errors_name_the_field(void **state)
{
    (void)state;
    expect_parse_error("{\"tue\":[[\"09:00\",\"12:00\"],[\"25:00\",\"26:00\"]]}",
                       "tue[1][0]: '25:00' is not a time (HH:MM)");
    expect_parse_error("{\"fri\":[[\"20:00\",\"09:00\"]]}",
                       "fri[0]: start 20:00 is not before end 09:00");
    expect_parse_error("{\"fri\":[[\"09:00\",\"09:00\"]]}",
                       "fri[0]: start 09:00 is not before end 09:00");
    expect_parse_error("{\"funday\":[]}",
                       "funday: unknown field (expected mon, tue, wed, thu, fri, sat, sun)");
    expect_parse_error("{\"mon\":\"09:00-20:00\"}",
                       "mon: expected a list of [\"HH:MM\", \"HH:MM\"] ranges");
    expect_parse_error("{\"mon\":[[\"09:00\"]]}", "mon[0]: expected [\"HH:MM\", \"HH:MM\"]");
    expect_parse_error("{\"mon\":[[9,20]]}", "mon[0][0]: expected a string \"HH:MM\"");
    expect_parse_error("{\"wed\":[[\"09:00\",\"24:01\"]]}",
                       "wed[0][1]: '24:01' is not a time (HH:MM)");
    expect_parse_error("{\"wed\":[[\"09:60\",\"10:00\"]]}",
                       "wed[0][0]: '09:60' is not a time (HH:MM)");
    expect_parse_error("[]", "window: expected an object of weekdays");
    /* jansson's own wording varies by version: check only our part. */
    expect_parse_error_prefix("{\"mon\":", "window: invalid JSON at line 1 column 7: ");
    expect_parse_error_prefix("{\"mon\":[],\"mon\":[]}", "window: invalid JSON at line 1 ");
    expect_parse_error(
        "{\"mon\":[[\"00:00\",\"00:30\"],[\"01:00\",\"01:30\"],[\"02:00\",\"02:30\"],"
        "[\"03:00\",\"03:30\"],[\"04:00\",\"04:30\"],[\"05:00\",\"05:30\"],"
        "[\"06:00\",\"06:30\"],[\"07:00\",\"07:30\"],[\"08:00\",\"08:30\"]]}",
        "mon: more than 8 ranges");
}

/* A reason quotes a key or a time cut to a few bytes: the cut never splits
 * a character (found by fuzz_api_body). */
static void test_window_parse_errors_stay_valid_utf8(void **state)
{
    (void)state;
    const char *docs[] = {
        /* 'a' then 20 two-byte characters: 32 bytes end inside one */
        "{\"a\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
        "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\":[]}",
        "{\"mon\":[[\"0\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\",\"10:00\"]]}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        ecm_window *w = (ecm_window *)1;
        char err[256] = "";
        assert_int_equal(ecm_window_parse_json_text(docs[i], &w, err, sizeof err), -1);
        assert_null(w);
        assert_true(err[0] != '\0');
        if (!ecm_utf8_valid(err, strlen(err))) {
            fail_msg("reason %zu is not valid UTF-8: %s", i, err);
        }
    }
}

static void test_window_parse_hhmm(void **state)
{
    (void)state;
    int m = -1;
    assert_int_equal(ecm_window_parse_hhmm("00:00", &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(ecm_window_parse_hhmm("9:05", &m), 0);
    assert_int_equal(m, 545);
    assert_int_equal(ecm_window_parse_hhmm("24:00", &m), 0);
    assert_int_equal(m, 1440);
    const char *bad[] = {"",     "9",      "24:30", "25:00",  "12:60", "1200",
                         "12:0", "123:00", "-1:00", "12:00 ", "ab:cd"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = -7;
        assert_int_equal(ecm_window_parse_hhmm(bad[i], &m), -1);
        assert_int_equal(m, -7);
    }
    assert_int_equal(ecm_window_parse_hhmm(NULL, &m), -1);
}

static void test_window_overlapping_ranges_merge(void **state)
{
    (void)state;
    ecm_window *w = ecm_window_new();
    char err[128];
    assert_int_equal(ecm_window_add_range(w, 1, 13 * 60, 15 * 60, err, sizeof err), 0);
    assert_int_equal(ecm_window_add_range(w, 1, 9 * 60, 10 * 60, err, sizeof err), 0);
    assert_int_equal(ecm_window_add_range(w, 1, 9 * 60 + 30, 13 * 60, err, sizeof err), 0);
    assert_int_equal(ecm_window_add_range(w, 1, 17 * 60, 18 * 60, err, sizeof err), 0);
    json_t *j = ecm_window_to_json(w);
    char *text = json_dumps(json_object_get(j, "mon"), JSON_COMPACT);
    assert_string_equal(text, "[[\"09:00\",\"15:00\"],[\"17:00\",\"18:00\"]]");
    free(text);
    json_decref(j);
    ecm_window_destroy(w);
}

static void test_window_add_range_refuses_bad_input(void **state)
{
    (void)state;
    ecm_window *w = ecm_window_new();
    char err[128];
    assert_int_equal(ecm_window_add_range(w, 7, 0, 60, err, sizeof err), -1);
    assert_string_equal(err, "weekday 7 is not 0..6");
    assert_int_equal(ecm_window_add_range(w, 1, 600, 600, err, sizeof err), -1);
    assert_int_equal(ecm_window_add_range(w, 1, -1, 60, err, sizeof err), -1);
    assert_int_equal(ecm_window_add_range(w, 1, 60, 1441, err, sizeof err), -1);
    assert_string_equal(err, "mon: range 60-1441 is not within 0..1440 with start < end");
    assert_int_equal(ecm_window_set_legal_hours(w, 21 * 60, 8 * 60, err, sizeof err), -1);
    assert_false(ecm_window_has_open_time(w));
    ecm_window_destroy(w);
}

static void test_window_zone_names_are_checked(void **state)
{
    (void)state;
    char canon[64];
    assert_int_equal(ecm_window_tz_canonical(NY, canon, sizeof canon), 0);
    assert_string_equal(canon, NY);
    assert_int_equal(ecm_window_tz_canonical("US/Eastern", canon, sizeof canon), 0);
    assert_string_equal(canon, NY);
    assert_int_equal(ecm_window_tz_canonical(KARACHI, NULL, 0), 0);
    assert_int_equal(ecm_window_tz_canonical(SYDNEY, NULL, 0), 0);
    assert_int_equal(ecm_window_tz_canonical(LONDON, NULL, 0), 0);
    assert_int_equal(ecm_window_tz_canonical("UTC", NULL, 0), 0);
    const char *bad[] = {
        "Mars/Olympus",  "",        "america/new_york",   "GMT+05:00", "America/New York",
        "../etc/passwd", "Factory", "America/New_York\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ecm_window_tz_canonical(bad[i], canon, sizeof canon) != -1) {
            fail_msg("'%s' accepted as a zone", bad[i]);
        }
    }
    assert_int_equal(ecm_window_tz_canonical(NULL, NULL, 0), -1);
    assert_int_equal(ecm_window_tz_canonical(NY, canon, 5), -1);

    ecm_window *w = every_day();
    int64_t t = T("2026-03-09T13:30:00Z");
    assert_int_equal(ecm_window_is_open(w, "Mars/Olympus", t), -1);
    assert_int_equal(ecm_window_next_open(w, "Mars/Olympus", t), ECM_WINDOW_BAD_ZONE);
    assert_int_equal(ecm_window_is_open(w, NULL, t), -1);
    ecm_window_destroy(w);
}

static void test_window_open_and_closed_at_exact_edges(void **state)
{
    (void)state;
    ecm_window *w = weekdays();
    int64_t open = T("2026-03-02T09:00:00-05:00"); /* Monday */
    int64_t close = T("2026-03-02T20:00:00-05:00");
    assert_int_equal(ecm_window_is_open(w, NY, open - 1 * MS), 0);
    assert_int_equal(ecm_window_is_open(w, NY, open), 1);
    assert_int_equal(ecm_window_is_open(w, NY, close - 1 * MS), 1);
    assert_int_equal(ecm_window_is_open(w, NY, close), 0);
    /* Open now: next_open is now, to the millisecond. */
    assert_instant(ecm_window_next_open(w, NY, open + 12345), open + 12345);
    assert_instant(ecm_window_next_open(w, NY, open - 1), open);
    /* Saturday is closed all day. */
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-07T12:00:00-05:00")), 0);
    ecm_window_destroy(w);
}

static void test_window_friday_evening_waits_for_monday_across_us_dst(void **state)
{
    (void)state;
    ecm_window *w = weekdays();
    /* Spring: the clocks go forward on the Sunday in between. */
    assert_instant(ecm_window_next_open(w, NY, T("2026-03-06T21:30:00-05:00")),
                   T("2026-03-09T09:00:00-04:00"));
    /* Autumn: they go back. */
    assert_instant(ecm_window_next_open(w, NY, T("2026-10-30T21:30:00-04:00")),
                   T("2026-11-02T09:00:00-05:00"));
    /* An ordinary weekend. */
    assert_instant(ecm_window_next_open(w, NY, T("2026-06-12T21:30:00-04:00")),
                   T("2026-06-15T09:00:00-04:00"));
    ecm_window_destroy(w);
}

static void test_window_legal_hours_cut_a_wider_window(void **state)
{
    (void)state;
    ecm_window *w = window_from("{\"mon\":[[\"06:00\",\"23:30\"]]}");
    assert_true(ecm_window_has_open_time(w));
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-02T07:59:59.999-05:00")), 0);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-02T08:00:00-05:00")), 1);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-02T20:59:59.999-05:00")), 1);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-02T21:00:00-05:00")), 0);
    assert_instant(ecm_window_next_open(w, NY, T("2026-03-02T06:00:00-05:00")),
                   T("2026-03-02T08:00:00-05:00"));
    /* After 21:00 Monday, the next opening is next Monday 08:00. */
    assert_instant(ecm_window_next_open(w, NY, T("2026-03-02T21:00:00-05:00")),
                   T("2026-03-09T08:00:00-04:00"));

    char err[128];
    assert_int_equal(ecm_window_set_legal_hours(w, 9 * 60, 17 * 60, err, sizeof err), 0);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-02T08:30:00-05:00")), 0);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-02T16:59:00-05:00")), 1);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-02T17:00:00-05:00")), 0);
    ecm_window_destroy(w);
}

static void test_window_outside_legal_hours_never_opens(void **state)
{
    (void)state;
    ecm_window *w =
        window_from("{\"mon\":[[\"21:00\",\"23:00\"]],\"tue\":[[\"05:00\",\"08:00\"]]}");
    assert_false(ecm_window_has_open_time(w));
    assert_int_equal(ecm_window_next_open(w, NY, T("2026-03-02T12:00:00Z")), ECM_WINDOW_NONE);
    ecm_window_destroy(w);

    w = ecm_window_new();
    assert_false(ecm_window_has_open_time(w));
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-02T12:00:00Z")), 0);
    assert_int_equal(ecm_window_next_open(w, NY, T("2026-03-02T12:00:00Z")), ECM_WINDOW_NONE);
    ecm_window_destroy(w);
}

static void test_window_four_cities_at_one_instant(void **state)
{
    (void)state;
    ecm_window *w = every_day();
    int64_t t = T("2026-03-09T13:30:00Z");
    assert_int_equal(ecm_window_is_open(w, NY, t), 1);      /* 09:30 EDT, day 1 of DST */
    assert_int_equal(ecm_window_is_open(w, LONDON, t), 1);  /* 13:30 GMT */
    assert_int_equal(ecm_window_is_open(w, KARACHI, t), 1); /* 18:30 PKT */
    assert_int_equal(ecm_window_is_open(w, SYDNEY, t), 0);  /* 00:30 AEDT, Tuesday */
    assert_instant(ecm_window_next_open(w, SYDNEY, t), T("2026-03-10T09:00:00+11:00"));

    /* One hour earlier New York was still closed: 08:30 EDT is before 09:00. */
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-09T12:30:00Z")), 0);
    /* Karachi closes at 20:00 PKT. */
    assert_int_equal(ecm_window_is_open(w, KARACHI, T("2026-03-09T15:00:00Z")), 0);
    assert_instant(ecm_window_next_open(w, KARACHI, T("2026-03-09T15:00:00Z")),
                   T("2026-03-10T09:00:00+05:00"));
    ecm_window_destroy(w);
}

static void test_window_us_spring_forward_day(void **state)
{
    (void)state;
    ecm_window *w = every_day();
    /* 09:00 on the change day is already EDT. */
    assert_instant(ecm_window_next_open(w, NY, T("2026-03-08T01:00:00-05:00")),
                   T("2026-03-08T09:00:00-04:00"));
    ecm_window_destroy(w);

    /* A window that starts in the skipped hour opens when the clock jumps. */
    w = window_from("{\"sun\":[[\"02:30\",\"04:00\"]]}");
    no_legal_limit(w);
    int64_t jump = T("2026-03-08T03:00:00-04:00");
    assert_int_equal(ecm_window_is_open(w, NY, jump - 1), 0); /* 01:59:59.999 EST */
    assert_int_equal(ecm_window_is_open(w, NY, jump), 1);
    assert_instant(ecm_window_next_open(w, NY, T("2026-03-08T01:00:00-05:00")), jump);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-08T04:00:00-04:00")), 0);
    ecm_window_destroy(w);

    /* A window entirely inside the skipped hour does not happen that day. */
    w = window_from("{\"sun\":[[\"02:10\",\"02:50\"]]}");
    no_legal_limit(w);
    assert_instant(ecm_window_next_open(w, NY, T("2026-03-08T00:00:00-05:00")),
                   T("2026-03-15T02:10:00-04:00"));
    ecm_window_destroy(w);
}

static void test_window_us_fall_back_day(void **state)
{
    (void)state;
    ecm_window *w = every_day();
    assert_instant(ecm_window_next_open(w, NY, T("2026-11-01T00:30:00-04:00")),
                   T("2026-11-01T09:00:00-05:00"));
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-11-01T19:59:00-05:00")), 1);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-11-01T20:00:00-05:00")), 0);
    ecm_window_destroy(w);

    /* The repeated hour: 01:30-02:00 happens twice and is open both times. */
    w = window_from("{\"sun\":[[\"01:30\",\"02:00\"]]}");
    no_legal_limit(w);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-11-01T01:29:59.999-04:00")), 0);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-11-01T01:30:00-04:00")), 1);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-11-01T01:59:59.999-04:00")), 1);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-11-01T01:00:00-05:00")), 0);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-11-01T01:30:00-05:00")), 1);
    assert_int_equal(ecm_window_is_open(w, NY, T("2026-11-01T02:00:00-05:00")), 0);
    assert_instant(ecm_window_next_open(w, NY, T("2026-11-01T01:00:00-05:00")),
                   T("2026-11-01T01:30:00-05:00"));
    ecm_window_destroy(w);
}

static void test_window_london_eu_changes(void **state)
{
    (void)state;
    ecm_window *w = every_day();
    assert_instant(ecm_window_next_open(w, LONDON, T("2026-03-28T00:00:00Z")),
                   T("2026-03-28T09:00:00+00:00"));
    assert_instant(ecm_window_next_open(w, LONDON, T("2026-03-28T20:00:00Z")),
                   T("2026-03-29T09:00:00+01:00"));
    assert_instant(ecm_window_next_open(w, LONDON, T("2026-10-24T00:00:00Z")),
                   T("2026-10-24T09:00:00+01:00"));
    assert_instant(ecm_window_next_open(w, LONDON, T("2026-10-24T19:00:00Z")),
                   T("2026-10-25T09:00:00+00:00"));
    /* 20:00 BST on Saturday is 19:00 UTC: closed; 19:59 BST open. */
    assert_int_equal(ecm_window_is_open(w, LONDON, T("2026-10-24T18:59:00Z")), 1);
    assert_int_equal(ecm_window_is_open(w, LONDON, T("2026-10-24T19:00:00Z")), 0);
    ecm_window_destroy(w);

    /* 01:00-02:00 does not exist on 2026-03-29 in London. */
    w = window_from("{\"sun\":[[\"01:15\",\"01:45\"]]}");
    no_legal_limit(w);
    assert_instant(ecm_window_next_open(w, LONDON, T("2026-03-29T00:30:00Z")),
                   T("2026-04-05T01:15:00+01:00"));
    ecm_window_destroy(w);

    /* ...and happens twice on 2026-10-25. */
    w = window_from("{\"sun\":[[\"01:00\",\"01:30\"]]}");
    no_legal_limit(w);
    assert_instant(ecm_window_next_open(w, LONDON, T("2026-10-24T23:00:00Z")),
                   T("2026-10-25T01:00:00+01:00"));
    assert_instant(ecm_window_next_open(w, LONDON, T("2026-10-25T00:30:00Z")),
                   T("2026-10-25T01:00:00+00:00"));
    ecm_window_destroy(w);
}

static void test_window_sydney_changes(void **state)
{
    (void)state;
    ecm_window *w = every_day();
    /* April: AEDT (+11) ends on Sunday 2026-04-05 at 03:00. */
    assert_instant(ecm_window_next_open(w, SYDNEY, T("2026-04-03T12:00:00Z")),
                   T("2026-04-04T09:00:00+11:00"));
    assert_instant(ecm_window_next_open(w, SYDNEY, T("2026-04-04T12:00:00Z")),
                   T("2026-04-05T09:00:00+10:00"));
    /* October: AEDT starts on Sunday 2026-10-04 at 02:00. */
    assert_instant(ecm_window_next_open(w, SYDNEY, T("2026-10-02T12:00:00Z")),
                   T("2026-10-03T09:00:00+10:00"));
    assert_instant(ecm_window_next_open(w, SYDNEY, T("2026-10-03T21:00:00+10:00")),
                   T("2026-10-04T09:00:00+11:00"));
    assert_int_equal(ecm_window_is_open(w, SYDNEY, T("2026-10-04T19:59:00+11:00")), 1);
    assert_int_equal(ecm_window_is_open(w, SYDNEY, T("2026-10-04T20:00:00+11:00")), 0);
    ecm_window_destroy(w);
}

static void test_window_karachi_has_no_dst(void **state)
{
    (void)state;
    ecm_window *w = weekdays();
    const char *mondays[] = {"2026-01-05", "2026-03-30", "2026-07-06", "2026-11-02"};
    for (size_t i = 0; i < 4; i++) {
        char local[40], utc[40];
        snprintf(local, sizeof local, "%sT08:00:00+05:00", mondays[i]);
        snprintf(utc, sizeof utc, "%sT04:00:00Z", mondays[i]);
        assert_instant(ecm_window_next_open(w, KARACHI, T(local)), T(utc));
    }
    ecm_window_destroy(w);
}

static void test_window_start_and_end_bound_the_window(void **state)
{
    (void)state;
    ecm_window *w = weekdays();
    int64_t start = T("2026-03-04T12:00:00-05:00"); /* Wednesday noon */
    int64_t end = T("2026-03-06T10:00:00-05:00");   /* Friday 10:00 */
    ecm_window_set_bounds(w, start, end);

    assert_int_equal(ecm_window_is_open(w, NY, T("2026-03-04T11:00:00-05:00")), 0);
    assert_int_equal(ecm_window_is_open(w, NY, start), 1);
    assert_instant(ecm_window_next_open(w, NY, T("2026-03-02T09:00:00-05:00")), start);
    assert_int_equal(ecm_window_is_open(w, NY, end - 1), 1);
    assert_int_equal(ecm_window_is_open(w, NY, end), 0);
    /* Thursday evening: Friday 09:00 is before end_at. */
    assert_instant(ecm_window_next_open(w, NY, T("2026-03-05T20:00:00-05:00")),
                   T("2026-03-06T09:00:00-05:00"));
    /* Friday after end_at: nothing, the contact expires. */
    assert_int_equal(ecm_window_next_open(w, NY, end), ECM_WINDOW_NONE);

    /* end_at inside a closed stretch: nothing either. */
    ecm_window_set_bounds(w, ECM_WINDOW_NO_START, T("2026-03-09T08:00:00-04:00"));
    assert_int_equal(ecm_window_next_open(w, NY, T("2026-03-06T21:30:00-05:00")), ECM_WINDOW_NONE);
    ecm_window_destroy(w);
}

static void test_window_extreme_instants_are_closed(void **state)
{
    (void)state;
    ecm_window *w = every_day();
    no_legal_limit(w);
    assert_int_equal(ecm_window_is_open(w, NY, INT64_MAX), 0);
    assert_int_equal(ecm_window_is_open(w, NY, INT64_MIN), 0);
    assert_int_equal(ecm_window_next_open(w, NY, INT64_MAX - 1), ECM_WINDOW_NONE);
    assert_int_equal(ecm_window_next_open(w, SYDNEY, INT64_MIN), ECM_WINDOW_NONE);
    ecm_window_destroy(w);
}

static void test_window_midnight_end(void **state)
{
    (void)state;
    ecm_window *w =
        window_from("{\"sat\":[[\"20:00\",\"24:00\"]],\"sun\":[[\"00:00\",\"01:00\"]]}");
    no_legal_limit(w);
    assert_int_equal(ecm_window_is_open(w, LONDON, T("2026-07-04T23:59:59.999+01:00")), 1);
    assert_int_equal(ecm_window_is_open(w, LONDON, T("2026-07-05T00:00:00+01:00")), 1);
    assert_int_equal(ecm_window_is_open(w, LONDON, T("2026-07-05T01:00:00+01:00")), 0);
    assert_instant(ecm_window_next_open(w, LONDON, T("2026-07-05T01:00:00+01:00")),
                   T("2026-07-11T20:00:00+01:00"));
    ecm_window_destroy(w);
}

static void test_window_local_day_is_23_24_or_25_hours(void **state)
{
    (void)state;
    int64_t a = 0, b = 0;
    /* US fall back, Sunday 2026-11-01: a 25-hour day in New York. */
    assert_int_equal(ecm_window_local_day(NY, T("2026-11-01T15:00:00-05:00"), &a, &b), 0);
    assert_instant(a, T("2026-11-01T00:00:00-04:00"));
    assert_instant(b, T("2026-11-02T00:00:00-05:00"));
    assert_true(b - a == 25LL * 3600 * 1000);
    /* US spring forward, 2026-03-08: 23 hours. */
    assert_int_equal(ecm_window_local_day(NY, T("2026-03-08T01:30:00-05:00"), &a, &b), 0);
    assert_true(b - a == 23LL * 3600 * 1000);
    /* The last instant of a day belongs to it; midnight starts the next. */
    assert_int_equal(ecm_window_local_day(KARACHI, T("2026-07-01T23:59:59.999+05:00"), &a, &b), 0);
    assert_instant(a, T("2026-07-01T00:00:00+05:00"));
    assert_int_equal(ecm_window_local_day(KARACHI, T("2026-07-02T00:00:00+05:00"), &a, &b), 0);
    assert_instant(a, T("2026-07-02T00:00:00+05:00"));
    /* Sydney's day is a UTC evening-to-evening. */
    assert_int_equal(ecm_window_local_day(SYDNEY, T("2026-07-01T20:00:00Z"), &a, &b), 0);
    assert_instant(a, T("2026-07-02T00:00:00+10:00"));
    int64_t keep = 42;
    assert_int_equal(ecm_window_local_day("Mars/Olympus", 0, &keep, &keep), -1);
    assert_int_equal(keep, 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_parse_json_round_trips),
        cmocka_unit_test(test_window_parse_errors_name_the_field),
        cmocka_unit_test(test_window_parse_errors_stay_valid_utf8),
        cmocka_unit_test(test_window_parse_hhmm),
        cmocka_unit_test(test_window_overlapping_ranges_merge),
        cmocka_unit_test(test_window_add_range_refuses_bad_input),
        cmocka_unit_test(test_window_zone_names_are_checked),
        cmocka_unit_test(test_window_open_and_closed_at_exact_edges),
        cmocka_unit_test(test_window_friday_evening_waits_for_monday_across_us_dst),
        cmocka_unit_test(test_window_legal_hours_cut_a_wider_window),
        cmocka_unit_test(test_window_outside_legal_hours_never_opens),
        cmocka_unit_test(test_window_four_cities_at_one_instant),
        cmocka_unit_test(test_window_us_spring_forward_day),
        cmocka_unit_test(test_window_us_fall_back_day),
        cmocka_unit_test(test_window_london_eu_changes),
        cmocka_unit_test(test_window_sydney_changes),
        cmocka_unit_test(test_window_karachi_has_no_dst),
        cmocka_unit_test(test_window_start_and_end_bound_the_window),
        cmocka_unit_test(test_window_midnight_end),
        cmocka_unit_test(test_window_extreme_instants_are_closed),
        cmocka_unit_test(test_window_local_day_is_23_24_or_25_hours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_calling.h"
#include "ecm_test_support.h"

#define NY "America/New_York"
#define LONDON "Europe/London"
#define KARACHI "Asia/Karachi"
#define SYDNEY "Australia/Sydney"

static const ecm_legal_hours TCPA = {8 * 60, 21 * 60};

static void test_calling_legal_hours_parse(void **state)
{
    (void)state;
    ecm_legal_hours h = {0, 0};
    char err[128];
    assert_int_equal(ecm_calling_legal_parse("08:00-21:00", &h, err, sizeof err), 0);
    assert_int_equal(h.start_min, 480);
    assert_int_equal(h.end_min, 1260);
    assert_int_equal(ecm_calling_legal_parse("9:30-24:00", &h, err, sizeof err), 0);
    assert_int_equal(h.start_min, 570);
    assert_int_equal(h.end_min, 1440);
    const char *bad[] = {"", "08:00", "21:00-08:00", "8-21", "08:00-25:00", "08:00-21:00x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h.start_min = -7;
        if (ecm_calling_legal_parse(bad[i], &h, err, sizeof err) != -1) {
            fail_msg("'%s' accepted", bad[i]);
        }
        assert_int_equal(h.start_min, -7);
    }
    assert_int_equal(ecm_calling_validate_legal("21:00-08:00", err, sizeof err), -1);
    assert_non_null(strstr(err, "not before the end"));
}

static void test_calling_no_window_means_legal_hours_every_day(void **state)
{
    (void)state;
    ecm_window *w = NULL;
    char err[128];
    assert_int_equal(ecm_calling_window(NULL, NULL, NULL, &TCPA, &w, err, sizeof err), 0);
    /* Sunday 07:59 closed, 08:00 open, 20:59 open, 21:00 closed. */
    assert_int_equal(ecm_window_is_open(w, NY, ecm_test_time_ms("2026-11-22T07:59:00-05:00")), 0);
    assert_int_equal(ecm_window_is_open(w, NY, ecm_test_time_ms("2026-11-22T08:00:00-05:00")), 1);
    assert_int_equal(ecm_window_is_open(w, NY, ecm_test_time_ms("2026-11-22T20:59:59-05:00")), 1);
    assert_int_equal(ecm_window_is_open(w, NY, ecm_test_time_ms("2026-11-22T21:00:00-05:00")), 0);
    ecm_window_destroy(w);
}

static void test_calling_window_bounds_from_pg_text(void **state)
{
    (void)state;
    ecm_window *w = NULL;
    char err[160];
    assert_int_equal(ecm_calling_window("{\"mon\":[[\"09:00\",\"17:00\"]]}",
                                        "2026-11-23 09:00:00-05", "2026-11-30 12:00:00+05:30",
                                        &TCPA, &w, err, sizeof err),
                     0);
    /* Before start_at: waits for it. */
    int64_t until = 0;
    assert_int_equal(
        ecm_calling_check(w, NY, ecm_test_time_ms("2026-11-16T10:00:00-05:00"), &until),
        ECM_CALLING_WAIT);
    assert_int_equal(until, ecm_test_time_ms("2026-11-23T09:00:00-05:00"));
    /* After the last Monday window before end_at: expires. */
    assert_int_equal(
        ecm_calling_check(w, NY, ecm_test_time_ms("2026-11-23T17:00:00-05:00"), &until),
        ECM_CALLING_EXPIRE);
    ecm_window_destroy(w);

    assert_int_equal(ecm_calling_window("{\"funday\":[]}", NULL, NULL, &TCPA, &w, err, sizeof err),
                     -1);
    assert_null(w);
    assert_non_null(strstr(err, "funday"));
    assert_int_equal(ecm_calling_window(NULL, "yesterday", NULL, &TCPA, &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "start_at/end_at"));
}

static void test_calling_four_cities_one_instant(void **state)
{
    (void)state;
    ecm_window *w = NULL;
    char err[128];
    assert_int_equal(ecm_calling_window("{\"mon\":[[\"09:00\",\"17:00\"]],"
                                        "\"tue\":[[\"09:00\",\"17:00\"]]}",
                                        NULL, NULL, &TCPA, &w, err, sizeof err),
                     0);
    /* Monday 2026-11-23 14:00 UTC: 09:00 in New York (open), 14:00 in
     * London (open), 19:00 in Karachi (closed: after 17:00), Tuesday 01:00
     * in Sydney (closed: waits for 09:00 there). */
    int64_t now = ecm_test_time_ms("2026-11-23T14:00:00Z"), until = 0;
    assert_int_equal(ecm_calling_check(w, NY, now, &until), ECM_CALLING_GO);
    assert_int_equal(ecm_calling_check(w, LONDON, now, &until), ECM_CALLING_GO);
    assert_int_equal(ecm_calling_check(w, KARACHI, now, &until), ECM_CALLING_WAIT);
    assert_int_equal(until, ecm_test_time_ms("2026-11-24T09:00:00+05:00"));
    assert_int_equal(ecm_calling_check(w, SYDNEY, now, &until), ECM_CALLING_WAIT);
    assert_int_equal(until, ecm_test_time_ms("2026-11-24T09:00:00+11:00"));
    /* An unknown zone is read as UTC rather than losing the contact. */
    assert_int_equal(ecm_calling_check(w, "Mars/Olympus", now, &until), ECM_CALLING_GO);
    ecm_window_destroy(w);
}

static void test_calling_margin_holds_back_what_the_dialer_may_dial_late(void **state)
{
    (void)state;
    ecm_window *w = NULL;
    char err[128];
    assert_int_equal(
        ecm_calling_window(NULL, NULL, "2026-11-26T21:00:00-05:00", &TCPA, &w, err, sizeof err), 0);
    const int64_t ten_min = 10LL * 60 * 1000;
    int64_t until = 0;
    /* 20:45 in New York: open, but a dialer holding the record ten minutes
     * could dial at 20:55+; with the margin it waits for 08:00. */
    int64_t t = ecm_test_time_ms("2026-11-24T20:45:00-05:00");
    assert_int_equal(ecm_calling_check_margin(w, NY, t, 0, &until), ECM_CALLING_GO);
    assert_int_equal(ecm_calling_check_margin(w, NY, t, ten_min, &until), ECM_CALLING_GO);
    t = ecm_test_time_ms("2026-11-24T20:51:00-05:00");
    assert_int_equal(ecm_calling_check(w, NY, t, &until), ECM_CALLING_GO);
    assert_int_equal(ecm_calling_check_margin(w, NY, t, ten_min, &until), ECM_CALLING_WAIT);
    assert_int_equal(until, ecm_test_time_ms("2026-11-25T08:00:00-05:00"));
    /* On the last evening before end_at there is no later opening. */
    t = ecm_test_time_ms("2026-11-26T20:55:00-05:00");
    assert_int_equal(ecm_calling_check_margin(w, NY, t, ten_min, &until), ECM_CALLING_EXPIRE);
    /* Closed now: the margin changes nothing. */
    t = ecm_test_time_ms("2026-11-24T22:00:00-05:00");
    assert_int_equal(ecm_calling_check_margin(w, NY, t, ten_min, &until), ECM_CALLING_WAIT);
    assert_int_equal(until, ecm_test_time_ms("2026-11-25T08:00:00-05:00"));
    ecm_window_destroy(w);
}

static void test_calling_zone_order(void **state)
{
    (void)state;
    assert_string_equal(ecm_calling_zone("Asia/Karachi", "Europe/London", NY), "Asia/Karachi");
    assert_string_equal(ecm_calling_zone("", "Europe/London", NY), "Europe/London");
    assert_string_equal(ecm_calling_zone(NULL, "", NY), NY);
    assert_string_equal(ecm_calling_zone("Mars/Olympus", NULL, SYDNEY), SYDNEY);
    assert_string_equal(ecm_calling_zone(NULL, NULL, NULL), "UTC");
}

static void test_calling_pick_phone_skips_blocked_and_wraps(void **state)
{
    (void)state;
    int none[3] = {0, 0, 0};
    int first[3] = {1, 0, 0};
    int last_two[3] = {0, 1, 1};
    int all[3] = {1, 1, 1};
    assert_int_equal(ecm_calling_pick_phone(none, 3, 1), 1);
    assert_int_equal(ecm_calling_pick_phone(first, 3, 0), 1);
    assert_int_equal(ecm_calling_pick_phone(last_two, 3, 1), 0);
    assert_int_equal(ecm_calling_pick_phone(last_two, 3, 7), 0);
    assert_int_equal(ecm_calling_pick_phone(all, 3, 0), -1);
    assert_int_equal(ecm_calling_pick_phone(none, 0, 0), -1);
}

static void test_calling_cache_rebuilds_on_new_version(void **state)
{
    (void)state;
    ecm_calling_cache *c = ecm_calling_cache_new(&TCPA);
    assert_non_null(c);
    char err[128];
    const ecm_window *a = ecm_calling_cache_get(c, 7, "v1", "{\"mon\":[[\"09:00\",\"10:00\"]]}",
                                                NULL, NULL, err, sizeof err);
    assert_non_null(a);
    int64_t mon_930 = ecm_test_time_ms("2026-11-23T09:30:00-05:00");
    assert_int_equal(ecm_window_is_open(a, NY, mon_930), 1);
    /* Same version: the stored window, even if the row text differs. */
    const ecm_window *b = ecm_calling_cache_get(c, 7, "v1", NULL, NULL, NULL, err, sizeof err);
    assert_ptr_equal(a, b);
    /* A new version (the campaign was edited) is built again. */
    const ecm_window *d = ecm_calling_cache_get(c, 7, "v2", "{\"tue\":[[\"09:00\",\"10:00\"]]}",
                                                NULL, NULL, err, sizeof err);
    assert_non_null(d);
    assert_int_equal(ecm_window_is_open(d, NY, mon_930), 0);
    /* A bad stored window is reported, not cached. */
    assert_null(ecm_calling_cache_get(c, 8, "v1", "[]", NULL, NULL, err, sizeof err));
    /* Many campaigns: the cache stays bounded and still answers. */
    for (int64_t id = 100; id < 700; id++) {
        assert_non_null(ecm_calling_cache_get(c, id, "v", NULL, NULL, NULL, err, sizeof err));
    }
    ecm_calling_cache_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calling_legal_hours_parse),
        cmocka_unit_test(test_calling_no_window_means_legal_hours_every_day),
        cmocka_unit_test(test_calling_window_bounds_from_pg_text),
        cmocka_unit_test(test_calling_four_cities_one_instant),
        cmocka_unit_test(test_calling_margin_holds_back_what_the_dialer_may_dial_late),
        cmocka_unit_test(test_calling_zone_order),
        cmocka_unit_test(test_calling_pick_phone_skips_blocked_and_wraps),
        cmocka_unit_test(test_calling_cache_rebuilds_on_new_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

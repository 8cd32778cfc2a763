/* Contact rules (lib/rules/ecm_rules): each rule kind, which sets apply to a
 * contact's jurisdictions, intersections, caps at their boundary, quiet
 * periods, blackouts, DST days in New York (2026-03-08 is 23 hours,
 * 2026-11-01 25 hours), the dispatch margin, channel and scope filtering,
 * and the words of the verdict. Expected instants are written as local time
 * with the offset in force, so each line reads like a wall clock. No
 * database: the PG loader is exercised by test_rules_oracle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_clock.h"
#include "ecm_rules.h"
#include "ecm_utf8.h"

#define NY "America/New_York"
#define TOKYO "Asia/Tokyo"
#define ALL_DAYS 0x7fu
#define MON_FRI 0x3eu
#define HOUR_S 3600LL
#define DAY_S (24 * HOUR_S)
#define HOUR_MS (HOUR_S * 1000)
#define DAY_MS (DAY_S * 1000)

static int64_t T(const char *rfc3339)
{
    int64_t ms;
    if (ecm_clock_parse_time(rfc3339, &ms) != 0) {
        fail_msg("bad test time %s", rfc3339);
    }
    return ms;
}

static void check(int rc, const char *err)
{
    if (rc != 0) {
        fail_msg("builder: %s", err);
    }
}

static ecm_rules *with_set(int64_t id, const char *name, const char *jur)
{
    ecm_rules *r = ecm_rules_new();
    assert_non_null(r);
    char err[256] = "";
    check(ecm_rules_add_set(r, id, name, jur, err, sizeof err), err);
    return r;
}

static void add_set(ecm_rules *r, int64_t id, const char *name, const char *jur)
{
    char err[256] = "";
    check(ecm_rules_add_set(r, id, name, jur, err, sizeof err), err);
}

static void hours(ecm_rules *r, int64_t set, int64_t id, unsigned ch, unsigned wdays, int start,
                  int end)
{
    char err[256] = "";
    check(ecm_rules_add_hours(r, set, id, "calls only within these hours", ch, wdays, start, end,
                              err, sizeof err),
          err);
}

static void cap(ecm_rules *r, int64_t set, int64_t id, unsigned ch, unsigned scope, int max,
                int64_t window_s)
{
    char err[256] = "";
    check(ecm_rules_add_cap(r, set, id, "no more than this many calls", ch, scope, max, window_s,
                            err, sizeof err),
          err);
}

static void quiet(ecm_rules *r, int64_t set, int64_t id, unsigned ch, unsigned scope,
                  const char *outcome, int64_t quiet_s)
{
    char err[256] = "";
    check(ecm_rules_add_quiet(r, set, id, "leave them alone after this", ch, scope, outcome,
                              quiet_s, err, sizeof err),
          err);
}

/* A voice contact in zone with jurisdictions j (NULL-terminated list of
 * up to two) at now. */
typedef struct {
    const char *jur[2];
    ecm_rules_in in;
} contact;

static contact who(const char *zone, const char *j0, const char *j1, int64_t now)
{
    contact c = {.jur = {j0, j1}};
    c.in.zone = zone;
    c.in.njurisdictions = j0 ? (j1 ? 2 : 1) : 0;
    c.in.channel = ECM_RULES_VOICE;
    c.in.now_ms = now;
    return c;
}

static int allows(const ecm_rules *r, contact *c, ecm_rules_block *b)
{
    c->in.jurisdictions = c->jur;
    return ecm_rules_allows(r, &c->in, b);
}

static void assert_blocked_until(const ecm_rules *r, contact *c, int64_t until, ecm_rules_block *b)
{
    int rc = allows(r, c, b);
    if (rc != 0) {
        fail_msg("expected blocked, got %d", rc);
    }
    if (b->until_ms != until) {
        char got[40], want[40];
        fail_msg("until %s, expected %s (%s)", ecm_clock_format_ms(b->until_ms, got, sizeof got),
                 ecm_clock_format_ms(until, want, sizeof want), b->why);
    }
    assert_true(ecm_utf8_valid(b->why, strlen(b->why)));
}

static void assert_go(const ecm_rules *r, contact *c)
{
    ecm_rules_block b;
    int rc = allows(r, c, &b);
    if (rc != 1) {
        fail_msg("expected allowed, got %d: %s", rc, rc == 0 ? b.why : "bad input");
    }
}

/* ---- hours -------------------------------------------------------------- */

static void test_rules_hours_allow_only_their_range(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "US-FL Florida Telephone Solicitation Act", "US-FL");
    hours(r, 1, 11, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 8 * 60, 20 * 60);
    ecm_rules_block b;
    contact c = who(NY, "US-FL", NULL, T("2026-03-05T07:59:00-05:00"));
    assert_blocked_until(r, &c, T("2026-03-05T08:00:00-05:00"), &b);
    assert_int_equal(b.rule_id, 11);
    assert_string_equal(b.kind, "hours");
    assert_string_equal(b.set_name, "US-FL Florida Telephone Solicitation Act");
    assert_string_equal(b.says, "calls only within these hours");
    c.in.now_ms = T("2026-03-05T08:00:00-05:00");
    assert_go(r, &c);
    c.in.now_ms = T("2026-03-05T19:59:59.999-05:00");
    assert_go(r, &c);
    c.in.now_ms = T("2026-03-05T20:00:00-05:00");
    assert_blocked_until(r, &c, T("2026-03-06T08:00:00-05:00"), &b);
    ecm_rules_destroy(r);
}

static void test_rules_hours_close_weekdays_without_a_range(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "weekdays", "US");
    hours(r, 1, 5, ECM_RULES_ANY_CHANNEL, MON_FRI, 9 * 60, 17 * 60);
    ecm_rules_block b;
    /* Saturday noon waits for Monday 09:00. */
    contact c = who(NY, "US", NULL, T("2026-03-07T12:00:00-05:00"));
    assert_blocked_until(r, &c, T("2026-03-09T09:00:00-04:00"), &b);
    assert_int_equal(b.rule_id, 5);
    ecm_rules_destroy(r);
}

static void test_rules_hours_of_one_set_are_a_union(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "split day", "*");
    hours(r, 1, 1, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 9 * 60, 12 * 60);
    hours(r, 1, 2, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 13 * 60, 18 * 60);
    ecm_rules_block b;
    contact c = who(NY, NULL, NULL, T("2026-03-05T11:00:00-05:00"));
    assert_go(r, &c);
    c.in.now_ms = T("2026-03-05T12:30:00-05:00");
    assert_blocked_until(r, &c, T("2026-03-05T13:00:00-05:00"), &b);
    c.in.now_ms = T("2026-03-05T14:00:00-05:00");
    assert_go(r, &c);
    ecm_rules_destroy(r);
}

static void test_rules_sets_intersect(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "A 8-20", "US");
    hours(r, 1, 1, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 8 * 60, 20 * 60);
    add_set(r, 2, "B 9-21", "US-FL");
    hours(r, 2, 2, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 9 * 60, 21 * 60);
    ecm_rules_block b;
    contact c = who(NY, "US-FL", NULL, T("2026-03-05T08:30:00-05:00"));
    assert_blocked_until(r, &c, T("2026-03-05T09:00:00-05:00"), &b);
    assert_int_equal(b.rule_id, 2);
    assert_string_equal(b.set_name, "B 9-21");
    c.in.now_ms = T("2026-03-05T20:30:00-05:00");
    assert_blocked_until(r, &c, T("2026-03-06T09:00:00-05:00"), &b);
    assert_int_equal(b.rule_id, 1);
    c.in.now_ms = T("2026-03-05T19:59:00-05:00");
    assert_go(r, &c);
    ecm_rules_destroy(r);
}

static void test_rules_hours_that_never_meet_give_no_instant(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "Mondays", "US");
    hours(r, 1, 1, ECM_RULES_ANY_CHANNEL, 1u << 1, 8 * 60, 12 * 60);
    add_set(r, 2, "Tuesdays", "US-FL");
    hours(r, 2, 2, ECM_RULES_ANY_CHANNEL, 1u << 2, 8 * 60, 12 * 60);
    ecm_rules_block b;
    contact c = who(NY, "US-FL", NULL, T("2026-03-09T09:00:00-04:00"));
    assert_blocked_until(r, &c, ECM_WINDOW_NONE, &b);
    assert_int_equal(b.rule_id, 2);
    assert_non_null(strstr(b.why, "none within 400 days"));
    ecm_rules_destroy(r);
}

/* ---- jurisdictions ------------------------------------------------------ */

static void test_rules_jurisdictions_of_a_contact(void **state)
{
    (void)state;
    const char *out[ECM_RULES_MAX_JURISDICTIONS];
    assert_int_equal(ecm_rules_jurisdictions("US-FL", "US-TX", "US", out), 2);
    assert_string_equal(out[0], "US-FL");
    assert_string_equal(out[1], "US-TX");
    assert_int_equal(ecm_rules_jurisdictions("US-FL", "US-FL", "US", out), 1);
    assert_int_equal(ecm_rules_jurisdictions(NULL, "GB", "US", out), 1);
    assert_string_equal(out[0], "GB");
    assert_int_equal(ecm_rules_jurisdictions("", NULL, "CA", out), 1);
    assert_string_equal(out[0], "CA");
    assert_int_equal(ecm_rules_jurisdictions(NULL, NULL, NULL, out), 0);
}

static void test_rules_which_sets_apply(void **state)
{
    (void)state;
    const char *fl[] = {"US-FL"};
    const char *us[] = {"US"};
    const char *both[] = {"US-FL", "US-TX"};
    const char *gb[] = {"GB"};
    assert_true(ecm_rules_set_applies("*", fl, 1));
    assert_true(ecm_rules_set_applies("*", NULL, 0));
    assert_true(ecm_rules_set_applies("US", fl, 1));     /* country of the state */
    assert_true(ecm_rules_set_applies("US-FL", fl, 1));  /* the state itself */
    assert_false(ecm_rules_set_applies("US-TX", fl, 1)); /* another state */
    assert_true(ecm_rules_set_applies("US-TX", us, 1));  /* state unknown: strictest */
    assert_true(ecm_rules_set_applies("US", us, 1));
    assert_false(ecm_rules_set_applies("CA-ON", us, 1));
    assert_true(ecm_rules_set_applies("US-TX", both, 2));
    assert_false(ecm_rules_set_applies("US", gb, 1));
    assert_false(ecm_rules_set_applies("GB", NULL, 0));
    assert_true(ecm_rules_jurisdiction_valid("US-FL"));
    assert_true(ecm_rules_jurisdiction_valid("GB"));
    assert_true(ecm_rules_jurisdiction_valid("*"));
    assert_true(ecm_rules_jurisdiction_valid("FR-75C"));
    assert_false(ecm_rules_jurisdiction_valid("us"));
    assert_false(ecm_rules_jurisdiction_valid("US-"));
    assert_false(ecm_rules_jurisdiction_valid("US-FLOR"));
    assert_false(ecm_rules_jurisdiction_valid("USA"));
    assert_false(ecm_rules_jurisdiction_valid(""));
}

static void test_rules_explicit_and_number_jurisdictions_both_apply(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "FL 8-20", "US-FL");
    hours(r, 1, 1, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 8 * 60, 20 * 60);
    add_set(r, 2, "TX 9-21", "US-TX");
    hours(r, 2, 2, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 9 * 60, 21 * 60);
    add_set(r, 3, "UK", "GB");
    hours(r, 3, 3, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 10 * 60, 11 * 60);
    ecm_rules_block b;
    /* Address in Florida, number from Texas: both states, 09:00-20:00. */
    contact c = who(NY, "US-FL", "US-TX", T("2026-03-05T08:30:00-05:00"));
    assert_blocked_until(r, &c, T("2026-03-05T09:00:00-05:00"), &b);
    assert_int_equal(b.rule_id, 2);
    c.in.now_ms = T("2026-03-05T20:30:00-05:00");
    assert_blocked_until(r, &c, T("2026-03-06T09:00:00-05:00"), &b);
    assert_int_equal(b.rule_id, 1);
    /* Only Florida: 08:30 is fine (Texas and UK sets do not apply). */
    contact fl = who(NY, "US-FL", NULL, T("2026-03-05T08:30:00-05:00"));
    assert_go(r, &fl);
    /* State unknown ("US"): both states' sets apply, the UK's does not. */
    contact us = who(NY, "US", NULL, T("2026-03-05T08:30:00-05:00"));
    assert_blocked_until(r, &us, T("2026-03-05T09:00:00-05:00"), &b);
    us.in.now_ms = T("2026-03-05T09:30:00-05:00");
    assert_go(r, &us);
    ecm_rules_destroy(r);
}

/* ---- days off and blackouts --------------------------------------------- */

static void test_rules_day_off_closes_the_local_day(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "US holidays", "US");
    char err[256] = "";
    check(ecm_rules_add_day_off(r, 1, 40, "Christmas Day", ECM_RULES_ANY_CHANNEL, 2026, 12, 25, err,
                                sizeof err),
          err);
    ecm_rules_block b;
    contact c = who(NY, "US", NULL, T("2026-12-25T00:00:00-05:00"));
    assert_blocked_until(r, &c, T("2026-12-26T00:00:00-05:00"), &b);
    assert_string_equal(b.kind, "day_off");
    assert_int_equal(b.rule_id, 40);
    assert_string_equal(b.says, "Christmas Day");
    assert_non_null(strstr(b.why, "2026-12-25"));
    c.in.now_ms = T("2026-12-24T23:59:59.999-05:00");
    assert_go(r, &c);
    c.in.now_ms = T("2026-12-26T00:00:00-05:00");
    assert_go(r, &c);
    /* Tokyo's Christmas is another stretch of UTC. */
    contact tokyo = who(TOKYO, "US", NULL, T("2026-12-25T10:00:00-05:00"));
    assert_go(r, &tokyo);
    tokyo.in.now_ms = T("2026-12-25T23:00:00+09:00");
    assert_blocked_until(r, &tokyo, T("2026-12-26T00:00:00+09:00"), &b);
    ecm_rules_destroy(r);
}

static void test_rules_consecutive_days_off_and_blackouts_chain(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "holidays", "*");
    char err[256] = "";
    check(ecm_rules_add_day_off(r, 1, 1, "Christmas Day", ECM_RULES_ANY_CHANNEL, 2026, 12, 25, err,
                                sizeof err),
          err);
    check(ecm_rules_add_blackout(r, 2026, 12, 24, "office party", err, sizeof err), err);
    check(ecm_rules_add_blackout(r, 2026, 12, 26, "inventory", err, sizeof err), err);
    ecm_rules_block b;
    contact c = who(NY, NULL, NULL, T("2026-12-24T10:00:00-05:00"));
    assert_blocked_until(r, &c, T("2026-12-27T00:00:00-05:00"), &b);
    assert_string_equal(b.kind, "blackout");
    assert_int_equal(b.rule_id, 0);
    assert_string_equal(b.set_name, "campaign");
    assert_string_equal(b.says, "office party");
    assert_non_null(strstr(b.why, "2026-12-24"));
    ecm_rules_destroy(r);
}

static void test_rules_blackout_applies_without_any_set(void **state)
{
    (void)state;
    ecm_rules *r = ecm_rules_new();
    assert_non_null(r);
    char err[256] = "";
    check(ecm_rules_add_blackout(r, 2026, 7, 4, NULL, err, sizeof err), err);
    ecm_rules_block b;
    contact c = who(NY, "GB", NULL, T("2026-07-04T12:00:00-04:00"));
    assert_blocked_until(r, &c, T("2026-07-05T00:00:00-04:00"), &b);
    ecm_rules_destroy(r);
}

/* ---- DST ------------------------------------------------------------------ */

static void test_rules_day_off_on_dst_days_is_23_or_25_hours(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "DST Sundays", "*");
    char err[256] = "";
    check(ecm_rules_add_day_off(r, 1, 1, "spring", ECM_RULES_ANY_CHANNEL, 2026, 3, 8, err,
                                sizeof err),
          err);
    check(ecm_rules_add_day_off(r, 1, 2, "autumn", ECM_RULES_ANY_CHANNEL, 2026, 11, 1, err,
                                sizeof err),
          err);
    ecm_rules_block b;
    contact c = who(NY, NULL, NULL, T("2026-03-08T00:00:00-05:00"));
    assert_blocked_until(r, &c, T("2026-03-09T00:00:00-04:00"), &b);
    assert_int_equal(b.until_ms - c.in.now_ms, 23 * HOUR_MS);
    c.in.now_ms = T("2026-03-07T23:59:59-05:00");
    assert_go(r, &c);
    c.in.now_ms = T("2026-11-01T00:00:00-04:00");
    assert_blocked_until(r, &c, T("2026-11-02T00:00:00-05:00"), &b);
    assert_int_equal(b.until_ms - c.in.now_ms, 25 * HOUR_MS);
    /* 01:30 happens twice that night; both are on the day off. */
    c.in.now_ms = T("2026-11-01T01:30:00-05:00");
    assert_blocked_until(r, &c, T("2026-11-02T00:00:00-05:00"), &b);
    ecm_rules_destroy(r);
}

static void test_rules_hours_across_the_skipped_and_repeated_hour(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "night owls", "*");
    /* 02:30-04:00: on 2026-03-08 02:30 does not exist; it opens at the jump. */
    hours(r, 1, 1, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 2 * 60 + 30, 4 * 60);
    ecm_rules_block b;
    contact c = who(NY, NULL, NULL, T("2026-03-08T01:00:00-05:00"));
    assert_blocked_until(r, &c, T("2026-03-08T03:00:00-04:00"), &b);
    c.in.now_ms = T("2026-03-08T03:59:00-04:00");
    assert_go(r, &c);
    ecm_rules_destroy(r);

    r = with_set(1, "one o'clock", "*");
    hours(r, 1, 1, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 60, 2 * 60);
    /* 01:00-02:00 on 2026-11-01 is open on both passes: two hours. */
    c.in.now_ms = T("2026-11-01T01:30:00-04:00");
    assert_go(r, &c);
    c.in.now_ms = T("2026-11-01T01:30:00-05:00");
    assert_go(r, &c);
    c.in.now_ms = T("2026-11-01T02:00:00-05:00");
    assert_blocked_until(r, &c, T("2026-11-02T01:00:00-05:00"), &b);
    ecm_rules_destroy(r);
}

/* ---- margin --------------------------------------------------------------- */

static void test_rules_margin_needs_hours_and_days_at_its_end(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "FL", "US-FL");
    hours(r, 1, 1, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 8 * 60, 20 * 60);
    ecm_rules_block b;
    contact c = who(NY, "US-FL", NULL, T("2026-03-05T19:50:00-05:00"));
    c.in.margin_ms = 5 * 60 * 1000;
    assert_go(r, &c);
    c.in.margin_ms = 15 * 60 * 1000;
    assert_blocked_until(r, &c, T("2026-03-06T08:00:00-05:00"), &b);
    assert_non_null(strstr(b.why, "margin"));
    ecm_rules_destroy(r);

    r = with_set(1, "holidays", "*");
    char err[256] = "";
    check(ecm_rules_add_day_off(r, 1, 9, "Christmas Day", ECM_RULES_ANY_CHANNEL, 2026, 12, 25, err,
                                sizeof err),
          err);
    c = who(NY, NULL, NULL, T("2026-12-24T23:50:00-05:00"));
    c.in.margin_ms = 15 * 60 * 1000;
    /* The hand-off may reach the called party on Christmas: wait for the
     * day after (the margin's end is pushed past it, and then now itself
     * is on the day off until midnight). */
    assert_blocked_until(r, &c, T("2026-12-26T00:00:00-05:00"), &b);
    assert_int_equal(b.rule_id, 9);
    c.in.margin_ms = 5 * 60 * 1000;
    assert_go(r, &c);
    ecm_rules_destroy(r);
}

/* ---- caps ----------------------------------------------------------------- */

static void test_rules_cap_allows_the_nth_and_refuses_the_next(void **state)
{
    (void)state;
    ecm_rules *r = with_set(7, "US-FL Florida Telephone Solicitation Act", "US-FL");
    cap(r, 7, 70, ECM_RULES_ANY_CHANNEL, ECM_RULES_SAME_SUBJECT, 3, DAY_S);
    int64_t now = T("2026-03-05T14:00:00Z");
    ecm_rules_attempt h[4] = {
        {.dispatched_ms = now - 20 * HOUR_MS,
         .channel = ECM_RULES_VOICE,
         .same = ECM_RULES_SAME_CONTACT},
        {.dispatched_ms = now - 5 * HOUR_MS,
         .channel = ECM_RULES_VOICE,
         .same = ECM_RULES_SAME_SUBJECT},
        {.dispatched_ms = now - HOUR_MS,
         .channel = ECM_RULES_VOICE,
         .same = ECM_RULES_SAME_CONTACT},
        {.dispatched_ms = now - 30 * 60 * 1000,
         .channel = ECM_RULES_VOICE,
         .same = ECM_RULES_SAME_CONTACT},
    };
    contact c = who(NY, "US-FL", NULL, now);
    c.in.history = h;
    c.in.nhistory = 2; /* two earlier: the third is allowed */
    assert_go(r, &c);
    c.in.nhistory = 3; /* three earlier: the fourth is refused */
    ecm_rules_block b;
    assert_blocked_until(r, &c, now - 20 * HOUR_MS + DAY_MS, &b);
    assert_string_equal(b.kind, "cap");
    assert_int_equal(b.rule_id, 70);
    assert_non_null(strstr(b.why, "3 attempts in 24 h"));
    assert_non_null(strstr(b.why, "US-FL Florida Telephone Solicitation Act"));
    assert_non_null(strstr(b.why, "2026-03-04T18:00:00.000Z")); /* the one that frees it */
    assert_non_null(strstr(b.why, "next allowed 2026-03-05T18:00:00.000Z"));
    /* Four earlier: the two oldest must leave the window. */
    c.in.nhistory = 4;
    assert_blocked_until(r, &c, now - 5 * HOUR_MS + DAY_MS, &b);
    /* An attempt exactly one window ago no longer counts: (t - W, t]. */
    h[0].dispatched_ms = now - DAY_MS;
    c.in.nhistory = 3;
    assert_go(r, &c);
    ecm_rules_destroy(r);
}

static void test_rules_cap_counts_only_its_scope_and_channel(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "voice per contact", "*");
    cap(r, 1, 1, ECM_RULES_VOICE, ECM_RULES_SAME_CONTACT, 1, DAY_S);
    int64_t now = T("2026-03-05T14:00:00Z");
    ecm_rules_attempt h[1] = {
        {.dispatched_ms = now - HOUR_MS, .channel = ECM_RULES_SMS, .same = ECM_RULES_SAME_CONTACT}};
    contact c = who(NY, NULL, NULL, now);
    c.in.history = h;
    c.in.nhistory = 1;
    assert_go(r, &c); /* an SMS does not count for a voice cap */
    h[0].channel = ECM_RULES_VOICE;
    h[0].same = ECM_RULES_SAME_PHONE | ECM_RULES_SAME_SUBJECT; /* another contact's */
    assert_go(r, &c);
    h[0].same = ECM_RULES_SAME_CONTACT;
    ecm_rules_block b;
    assert_blocked_until(r, &c, now - HOUR_MS + DAY_MS, &b);
    c.in.channel = ECM_RULES_SMS; /* a voice cap does not hold an SMS */
    assert_go(r, &c);
    ecm_rules_destroy(r);

    r = with_set(1, "per number", "*");
    cap(r, 1, 2, ECM_RULES_ANY_CHANNEL, ECM_RULES_SAME_PHONE, 1, DAY_S);
    c.in.channel = ECM_RULES_VOICE;
    h[0].same = ECM_RULES_SAME_CONTACT; /* the contact's other number */
    assert_go(r, &c);
    h[0].same = ECM_RULES_SAME_PHONE;
    h[0].channel = ECM_RULES_SMS; /* 'all' counts every channel */
    assert_blocked_until(r, &c, now - HOUR_MS + DAY_MS, &b);
    ecm_rules_destroy(r);
}

/* ---- quiet periods ------------------------------------------------------- */

static void test_rules_quiet_period_after_an_outcome(void **state)
{
    (void)state;
    ecm_rules *r = with_set(3, "US federal Regulation F", "US");
    quiet(r, 3, 31, ECM_RULES_VOICE, ECM_RULES_SAME_SUBJECT, "CONNECTED", 7 * DAY_S);
    int64_t connected = T("2026-03-02T15:00:00Z");
    ecm_rules_attempt h[1] = {{.dispatched_ms = connected - 60 * 1000,
                               .result_ms = connected,
                               .outcome = "CONNECTED",
                               .channel = ECM_RULES_VOICE,
                               .same = ECM_RULES_SAME_SUBJECT}};
    contact c = who(NY, "US-NY", NULL, connected + HOUR_MS);
    c.in.history = h;
    c.in.nhistory = 1;
    ecm_rules_block b;
    assert_blocked_until(r, &c, connected + 7 * DAY_MS, &b);
    assert_string_equal(b.kind, "quiet");
    assert_int_equal(b.rule_id, 31);
    assert_non_null(strstr(b.why, "7 d after CONNECTED"));
    assert_non_null(strstr(b.why, "2026-03-02T15:00:00.000Z"));
    c.in.now_ms = connected + 7 * DAY_MS - 1;
    assert_blocked_until(r, &c, connected + 7 * DAY_MS, &b);
    c.in.now_ms = connected + 7 * DAY_MS;
    assert_go(r, &c);
    /* Another outcome, or an SMS contact, is not held. */
    c.in.now_ms = connected + HOUR_MS;
    h[0].outcome = "NO_ANSWER";
    assert_go(r, &c);
    h[0].outcome = "CONNECTED";
    c.in.channel = ECM_RULES_SMS;
    assert_go(r, &c);
    /* Without a result time the period runs from the dispatch. */
    c.in.channel = ECM_RULES_VOICE;
    h[0].result_ms = 0;
    assert_blocked_until(r, &c, connected - 60 * 1000 + 7 * DAY_MS, &b);
    ecm_rules_destroy(r);
}

static void test_rules_blocking_rules_chain_to_the_first_instant_all_allow(void **state)
{
    (void)state;
    /* UK: no re-dial within 72 h of an abandoned call, 09:00-20:00 on
     * weekdays. The quiet period ends on Saturday 10:00; Monday 09:00. */
    ecm_rules *r = with_set(4, "GB Ofcom abandoned calls", "GB");
    quiet(r, 4, 41, ECM_RULES_ANY_CHANNEL, ECM_RULES_SAME_PHONE, "ABANDONED", 72 * HOUR_S);
    hours(r, 4, 42, ECM_RULES_ANY_CHANNEL, MON_FRI, 9 * 60, 20 * 60);
    int64_t abandoned = T("2026-03-04T10:00:00Z"); /* a Wednesday; London is on GMT */
    ecm_rules_attempt h[1] = {{.dispatched_ms = abandoned,
                               .result_ms = abandoned,
                               .outcome = "ABANDONED",
                               .channel = ECM_RULES_VOICE,
                               .same = ECM_RULES_SAME_PHONE}};
    contact c = who("Europe/London", "GB", NULL, abandoned + HOUR_MS);
    c.in.history = h;
    c.in.nhistory = 1;
    ecm_rules_block b;
    assert_blocked_until(r, &c, T("2026-03-09T09:00:00Z"), &b);
    assert_int_equal(b.rule_id, 41);
    ecm_rules_destroy(r);
}

/* ---- the rest ------------------------------------------------------------- */

static void test_rules_channel_filters_hours(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "texts by day", "*");
    hours(r, 1, 1, ECM_RULES_SMS, ALL_DAYS, 9 * 60, 18 * 60);
    ecm_rules_block b;
    contact c = who(NY, NULL, NULL, T("2026-03-05T19:00:00-05:00"));
    assert_go(r, &c);
    c.in.channel = ECM_RULES_SMS;
    assert_blocked_until(r, &c, T("2026-03-06T09:00:00-05:00"), &b);
    ecm_rules_destroy(r);
}

static void test_rules_no_sets_allow_everything(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "GB hours", "GB");
    hours(r, 1, 1, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 9 * 60, 10 * 60);
    contact c = who(NY, "US", NULL, T("2026-03-05T03:00:00-05:00"));
    assert_go(r, &c);
    ecm_rules_destroy(r);
    r = ecm_rules_new();
    assert_go(r, &c);
    ecm_rules_destroy(r);
}

static void test_rules_bad_input_is_refused(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "x", "*");
    hours(r, 1, 1, ECM_RULES_ANY_CHANNEL, ALL_DAYS, 9 * 60, 10 * 60);
    ecm_rules_block b;
    contact c = who("Mars/Olympus", NULL, NULL, T("2026-03-05T03:00:00Z"));
    assert_int_equal(allows(r, &c, &b), -1);
    c.in.zone = NY;
    c.in.channel = 0;
    assert_int_equal(allows(r, &c, &b), -1);
    c.in.channel = ECM_RULES_VOICE;
    c.in.margin_ms = -1;
    assert_int_equal(allows(r, &c, &b), -1);
    c.in.margin_ms = 0;
    c.in.nhistory = 1; /* history NULL */
    assert_int_equal(allows(r, &c, &b), -1);
    ecm_rules_destroy(r);
}

static void test_rules_builders_refuse_bad_rules(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "x", "*");
    char err[256] = "";
    assert_int_equal(ecm_rules_add_set(r, 1, "again", "US", err, sizeof err), -1);
    assert_int_equal(ecm_rules_add_set(r, 2, "bad", "usa", err, sizeof err), -1);
    assert_non_null(strstr(err, "usa"));
    assert_int_equal(ecm_rules_add_hours(r, 9, 1, "", 3, ALL_DAYS, 0, 60, err, sizeof err), -1);
    assert_non_null(strstr(err, "rule set 9"));
    assert_int_equal(ecm_rules_add_hours(r, 1, 1, "", 3, 0, 0, 60, err, sizeof err), -1);
    assert_int_equal(ecm_rules_add_hours(r, 1, 1, "", 3, 0x80, 0, 60, err, sizeof err), -1);
    assert_int_equal(ecm_rules_add_hours(r, 1, 1, "", 3, ALL_DAYS, 60, 60, err, sizeof err), -1);
    assert_int_equal(ecm_rules_add_hours(r, 1, 1, "", 0, ALL_DAYS, 0, 60, err, sizeof err), -1);
    assert_int_equal(ecm_rules_add_day_off(r, 1, 1, "", 3, 2026, 2, 29, err, sizeof err), -1);
    assert_int_equal(
        ecm_rules_add_cap(r, 1, 1, "", 3, ECM_RULES_SAME_CONTACT, 0, 60, err, sizeof err), -1);
    assert_int_equal(ecm_rules_add_cap(r, 1, 1, "", 3, 3, 1, 60, err, sizeof err), -1);
    assert_int_equal(
        ecm_rules_add_quiet(r, 1, 1, "", 3, ECM_RULES_SAME_CONTACT, NULL, 60, err, sizeof err), -1);
    assert_int_equal(
        ecm_rules_add_quiet(r, 1, 1, "", 3, ECM_RULES_SAME_CONTACT, "BUSY", 0, err, sizeof err),
        -1);
    /* Eight separate ranges fit a day (ecm_window's limit); a ninth does not,
     * and leaves the set as it was. */
    for (int i = 0; i < 8; i++) {
        hours(r, 1, 100 + i, ECM_RULES_ANY_CHANNEL, 1u, i * 120, i * 120 + 60);
    }
    assert_int_equal(
        ecm_rules_add_hours(r, 1, 108, "", 3, 1u, 20 * 60, 20 * 60 + 30, err, sizeof err), -1);
    contact c = who(NY, NULL, NULL, T("2026-03-08T20:10:00-04:00")); /* a Sunday */
    ecm_rules_block b;
    assert_blocked_until(r, &c, T("2026-03-15T00:00:00-04:00"), &b);
    ecm_rules_destroy(r);
}

static void test_rules_lookback_and_history_need(void **state)
{
    (void)state;
    ecm_rules *r = with_set(1, "FL", "US-FL");
    cap(r, 1, 1, ECM_RULES_VOICE, ECM_RULES_SAME_SUBJECT, 3, DAY_S);
    add_set(r, 2, "Reg F", "US");
    quiet(r, 2, 2, ECM_RULES_ANY_CHANNEL, ECM_RULES_SAME_PHONE, "CONNECTED", 7 * DAY_S);
    add_set(r, 3, "UK", "GB");
    cap(r, 3, 3, ECM_RULES_ANY_CHANNEL, ECM_RULES_SAME_CONTACT, 1, 30 * DAY_S);
    assert_int_equal(ecm_rules_lookback_s(r), 30 * DAY_S);
    assert_int_equal(ecm_rules_nsets(r), 3);
    ecm_rules_need need;
    const char *fl[] = {"US-FL"};
    ecm_rules_history_need(r, fl, 1, ECM_RULES_VOICE, &need);
    assert_int_equal(need.scopes,
                     ECM_RULES_SAME_SUBJECT | ECM_RULES_SAME_CONTACT | ECM_RULES_SAME_PHONE);
    assert_int_equal(need.channels, ECM_RULES_ANY_CHANNEL);
    assert_int_equal(need.lookback_s, 7 * DAY_S);
    assert_false(need.outcomes_only);
    ecm_rules_history_need(r, fl, 1, ECM_RULES_SMS, &need);
    assert_int_equal(need.scopes, ECM_RULES_SAME_PHONE);
    assert_true(need.outcomes_only);
    const char *de[] = {"DE"};
    ecm_rules_history_need(r, de, 1, ECM_RULES_VOICE, &need);
    assert_int_equal(need.scopes, 0);
    assert_int_equal(need.lookback_s, 0);
    ecm_rules_destroy(r);
}

static void test_rules_long_words_are_cut_after_the_instant(void **state)
{
    (void)state;
    char says[600];
    size_t n = 0;
    while (n + 3 < sizeof says) { /* "é" is two bytes: cut inside one, the text breaks */
        says[n++] = 'a';
        says[n++] = (char)0xc3;
        says[n++] = (char)0xa9;
    }
    says[n] = '\0';
    ecm_rules *r = with_set(1, "long", "*");
    char err[256] = "";
    check(
        ecm_rules_add_day_off(r, 1, 3, says, ECM_RULES_ANY_CHANNEL, 2026, 12, 25, err, sizeof err),
        err);
    ecm_rules_block b;
    contact c = who(NY, NULL, NULL, T("2026-12-25T12:00:00-05:00"));
    assert_blocked_until(r, &c, T("2026-12-26T00:00:00-05:00"), &b);
    assert_string_equal(b.says, says);
    assert_non_null(strstr(b.why, "next allowed 2026-12-26T05:00:00.000Z"));
    assert_true(strlen(b.why) < sizeof b.why);
    ecm_rules_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_hours_allow_only_their_range),
        cmocka_unit_test(test_rules_hours_close_weekdays_without_a_range),
        cmocka_unit_test(test_rules_hours_of_one_set_are_a_union),
        cmocka_unit_test(test_rules_sets_intersect),
        cmocka_unit_test(test_rules_hours_that_never_meet_give_no_instant),
        cmocka_unit_test(test_rules_jurisdictions_of_a_contact),
        cmocka_unit_test(test_rules_which_sets_apply),
        cmocka_unit_test(test_rules_explicit_and_number_jurisdictions_both_apply),
        cmocka_unit_test(test_rules_day_off_closes_the_local_day),
        cmocka_unit_test(test_rules_consecutive_days_off_and_blackouts_chain),
        cmocka_unit_test(test_rules_blackout_applies_without_any_set),
        cmocka_unit_test(test_rules_day_off_on_dst_days_is_23_or_25_hours),
        cmocka_unit_test(test_rules_hours_across_the_skipped_and_repeated_hour),
        cmocka_unit_test(test_rules_margin_needs_hours_and_days_at_its_end),
        cmocka_unit_test(test_rules_cap_allows_the_nth_and_refuses_the_next),
        cmocka_unit_test(test_rules_cap_counts_only_its_scope_and_channel),
        cmocka_unit_test(test_rules_quiet_period_after_an_outcome),
        cmocka_unit_test(test_rules_blocking_rules_chain_to_the_first_instant_all_allow),
        cmocka_unit_test(test_rules_channel_filters_hours),
        cmocka_unit_test(test_rules_no_sets_allow_everything),
        cmocka_unit_test(test_rules_bad_input_is_refused),
        cmocka_unit_test(test_rules_builders_refuse_bad_rules),
        cmocka_unit_test(test_rules_lookback_and_history_need),
        cmocka_unit_test(test_rules_long_words_are_cut_after_the_instant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* "Why is this contact (not) being contacted now?" (lib/ecm_eligibility)
 * against a scratch PostgreSQL database. The first test generates a few
 * hundred contacts (zones, windows, DNC per number and channel, caps,
 * quiet periods, days off, hours, blackouts, closed, out, paused and
 * other campaigns) at several instants, and holds every explanation to
 * the verdict the dispatchers' own batch (ecm_gate_judge) gives the same
 * contact: they must agree on every one. The others check the answers a
 * supervisor reads, one situation each. Needs ECM_TEST_PG_DSN. */
#include <string.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_clock.h"
#include "ecm_eligibility.h"
#include "ecm_event.h"
#include "ecm_gate.h"
#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"

#define NY "America/New_York"
#define KARACHI "Asia/Karachi"
#define NINE_TO_SIX                                                                                \
    "{\"mon\": [[\"09:00\", \"18:00\"]], \"tue\": [[\"09:00\", \"18:00\"]], "                      \
    "\"wed\": [[\"09:00\", \"18:00\"]], \"thu\": [[\"09:00\", \"18:00\"]], "                       \
    "\"fri\": [[\"09:00\", \"18:00\"]], \"sat\": [[\"09:00\", \"18:00\"]], "                       \
    "\"sun\": [[\"09:00\", \"18:00\"]]}"
#define WEEKDAYS_TEN_TO_EIGHT                                                                      \
    "{\"mon\": [[\"10:00\", \"20:00\"]], \"tue\": [[\"10:00\", \"20:00\"]], "                      \
    "\"wed\": [[\"10:00\", \"12:00\"], [\"14:00\", \"20:00\"]], \"thu\": [[\"10:00\", "            \
    "\"20:00\"]], \"fri\": [[\"10:00\", \"20:00\"]]}"

/* The feeder's default margin (ECM_FEEDER_WINDOW_MARGIN_S): voice judged
 * with it, SMS without, as the two dispatchers do. */
#define VOICE_MARGIN_MS (600LL * 1000)

/* The dispatchers' take statements, reduced to what the gate needs: every
 * queued contact of an active campaign on one channel, locked. */
#define TAKE_SQL_ON(channel)                                                                       \
    "SELECT " ECM_GATE_COLUMNS " FROM contacts ct JOIN campaigns c ON c.id = ct.campaign_id "      \
    "WHERE ct.state = 'queued' AND c.state = 'active' AND " ECM_CONTACT_CHANNEL_SQL " = '" channel \
    "' ORDER BY ct.id FOR UPDATE OF ct FOR SHARE OF c"

typedef struct {
    ecm_test_db *db;
    ecm_pg *pg;
    ecm_eligibility_config cfg;
} fixture;

static int64_t T(const char *rfc3339)
{
    return ecm_test_time_ms(rfc3339);
}

static PGconn *conn(fixture *f)
{
    return ecm_pg_conn(f->pg);
}

static int group_setup(void **state)
{
    *state = NULL;
    if (!ecm_test_pg_dsn())
        return 0;
    ecm_test_log_init("test", ECM_LOG_ERROR);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->db = ecm_test_db_new_migrated("ecm_elig");
    f->pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(f->pg);
    f->cfg = (ecm_eligibility_config){
        .legal = {8 * 60, 21 * 60},
        .voice_margin_ms = VOICE_MARGIN_MS,
        .sms_margin_ms = 0,
    };
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    ecm_pg_destroy(f->pg);
    (void)ecm_test_db_destroy(f->db);
    free(f);
    return 0;
}

static void reset(fixture *f)
{
    ecm_test_pg_exec(conn(f), "TRUNCATE attempts, outbox, contacts, dnc, consent_ledger, "
                              "campaign_blackouts, campaign_rule_sets, campaigns "
                              "RESTART IDENTITY CASCADE");
    ecm_test_pg_exec(conn(f), "DELETE FROM rule_sets WHERE NOT shipped");
}

static int test_setup(void **state)
{
    fixture *f = *state;
    if (f)
        reset(f);
    return 0;
}

#define NEED_DB(f) ((void)ecm_test_need(f))

/* A campaign: channel voice_ivr or sms, its state, window (SQL literal or
 * NULL), zone, start and end (SQL: NULL or a time). Returns its id. */
static long long campaign_full(fixture *f, const char *channel, const char *state,
                               const char *window, const char *tz, const char *start_at,
                               const char *end_at)
{
    return ecm_test_pg_int(
        conn(f),
        "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind, "
        "cisco_campaign_id, sms_template, time_zone, call_window, start_at, end_at, region) "
        "SELECT 'c-' || '%s', '%s', '%s', id, 'uccx', '7', 'hi', '%s', %s, %s, %s, 'US' "
        "FROM strategies WHERE name = 'Default' RETURNING id",
        state, channel, state, tz, window, start_at, end_at);
}

static long long campaign(fixture *f, const char *state, const char *window, const char *tz)
{
    char w[1024];
    if (window)
        snprintf(w, sizeof w, "'%s'", window);
    else
        snprintf(w, sizeof w, "NULL");
    return campaign_full(f, "voice_ivr", state, w, tz, "NULL", "NULL");
}

/* A contact in state, numbers as SQL, its zone as SQL. Returns its id. */
static long long contact(fixture *f, long long campaign_id, const char *state,
                         const char *phones_sql, const char *tz_sql)
{
    return ecm_test_pg_int(conn(f),
                           "INSERT INTO contacts (campaign_id, phones, time_zone, state) "
                           "VALUES (%lld, %s, %s, '%s') RETURNING id",
                           campaign_id, phones_sql, tz_sql, state);
}

static ecm_eligibility *explain(fixture *f, long long id, int64_t now)
{
    ecm_eligibility *e = NULL;
    assert_int_equal(ecm_eligibility_explain(f->pg, &f->cfg, id, now, &e), 0);
    assert_non_null(e);
    assert_non_null(e->reason);
    assert_true(e->reason[0] != '\0');
    return e;
}

/* ---- the generated agreement ------------------------------------------- */

static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static const char *pick(uint32_t *s, const char *const *from, size_t n)
{
    return from[rnd(s) % n];
}

#define NCONTACTS 160
#define NCAMPAIGNS 9

/* Campaigns of every kind, two rule sets and a blackout at business time
 * now (ms); fills ids[NCAMPAIGNS] and *sms_campaign. */
static void populate_campaigns(fixture *f, int64_t now, long long *ids)
{
    char start[64], end[64];
    snprintf(start, sizeof start, "to_timestamp(%lld / 1000.0)", (long long)(now + 3 * 3600000));
    snprintf(end, sizeof end, "to_timestamp(%lld / 1000.0)", (long long)(now + 5 * 3600000));
    ids[0] = campaign_full(f, "voice_ivr", "active", "'" NINE_TO_SIX "'", "UTC", "NULL", "NULL");
    ids[1] = campaign_full(f, "voice_ivr", "active", "NULL", NY, "NULL", "NULL");
    ids[2] = campaign_full(f, "voice_ivr", "active", "'" WEEKDAYS_TEN_TO_EIGHT "'",
                           "Australia/Sydney", "NULL", "NULL");
    ids[3] =
        campaign_full(f, "sms", "active", "'" NINE_TO_SIX "'", "Europe/London", "NULL", "NULL");
    ids[4] = campaign_full(f, "voice_ivr", "active", "NULL", "UTC", start, "NULL");
    ids[5] = campaign_full(f, "voice_ivr", "active", "'" NINE_TO_SIX "'", "UTC", "NULL", end);
    ids[6] = campaign_full(f, "voice_ivr", "paused", "NULL", "UTC", "NULL", "NULL");
    ids[7] = campaign_full(f, "sms", "draft", "NULL", "UTC", "NULL", "NULL");
    ids[8] = campaign_full(f, "voice_ivr", "stopped", "NULL", "UTC", "NULL", "NULL");
    long long all = ecm_test_pg_int(
        conn(f), "INSERT INTO rule_sets (name, jurisdiction) VALUES ('gen all', '*') RETURNING id");
    long long us = ecm_test_pg_int(
        conn(f), "INSERT INTO rule_sets (name, jurisdiction) VALUES ('gen FL', 'US-FL') "
                 "RETURNING id");
    ecm_test_pg_exec(
        conn(f),
        "INSERT INTO rules (rule_set_id, kind, says, max_attempts, window_s, scope, channel) "
        "VALUES (%lld, 'cap', 'two a day per debt', 2, 86400, 'subject', 'all'), "
        "(%lld, 'cap', 'one an hour per number', 1, 3600, 'phone', 'voice')",
        all, us);
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO rules (rule_set_id, kind, says, after_outcome, quiet_s, scope, "
                     "channel) VALUES (%lld, 'quiet', 'three days after a talk', 'CONNECTED', "
                     "259200, 'contact', 'all')",
                     all);
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO rules (rule_set_id, kind, says, wdays, start_min, end_min, "
                     "channel) VALUES (%lld, 'hours', 'texts 09-19 on weekdays', '{1,2,3,4,5}', "
                     "540, 1140, 'sms')",
                     all);
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO rules (rule_set_id, kind, says, day, channel) VALUES "
                     "(%lld, 'day_off', 'state holiday', "
                     "(to_timestamp(%lld / 1000.0) AT TIME ZONE 'America/New_York')::date + 1, "
                     "'all')",
                     us, (long long)now);
    for (int k = 0; k < 6; k++) {
        ecm_test_pg_exec(conn(f),
                         "INSERT INTO campaign_rule_sets (campaign_id, rule_set_id) VALUES "
                         "(%lld, %lld)",
                         ids[k], k % 2 ? us : all);
        if (k == 2 || k == 3)
            ecm_test_pg_exec(conn(f),
                             "INSERT INTO campaign_rule_sets (campaign_id, rule_set_id) VALUES "
                             "(%lld, %lld)",
                             ids[k], k % 2 ? all : us);
    }
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO campaign_blackouts (campaign_id, day, reason) VALUES "
                     "(%lld, (to_timestamp(%lld / 1000.0) AT TIME ZONE 'UTC')::date, 'audit day')",
                     ids[1], (long long)now);
}

/* About a third of the numbers on a DNC list: voice, sms or all, global or
 * campaign cid's. */
static void list_numbers(fixture *f, uint32_t *s, long long cid, char numbers[][20], int nphones)
{
    char campaign_sql[24];
    snprintf(campaign_sql, sizeof campaign_sql, "%lld", cid);
    for (int i = 0; i < nphones; i++) {
        uint32_t r = rnd(s) % 10;
        if (r >= 3)
            continue;
        static const char *const chans[] = {"'voice'", "'sms'", "NULL"};
        ecm_test_pg_exec(conn(f),
                         "INSERT INTO dnc (phone, campaign_id, channel, reason) VALUES "
                         "('%s', %s, %s, 'generated')",
                         numbers[i], rnd(s) % 2 ? "NULL" : campaign_sql, chans[r]);
    }
}

/* One generated contact of campaign cid at now; its numbers from *phone_no
 * on (unique: no two contacts share a number or a subject, so that a
 * batch's own dispatches cannot change another contact's verdict). */
static void populate_contact(fixture *f, uint32_t *s, long long cid, int sms, int64_t now, int k,
                             int *phone_no)
{
    static const char *const zones[] = {
        "'America/New_York'",    "'Europe/London'", "'Asia/Karachi'",   "'Australia/Sydney'",
        "'America/Los_Angeles'", "'Asia/Kolkata'",  "'Asia/Kathmandu'", "NULL",
    };
    static const char *const regions[] = {"NULL", "'US-FL'", "'US-NY'", "'US'"};
    static const char *const types[] = {"mobile", "fixed_line", "fixed_line_or_mobile"};
    static const char *const states[] = {"queued", "queued",  "queued", "queued",    "queued",
                                         "queued", "waiting", "closed", "dispatched"};
    static const char *const outcomes[] = {"'NO_ANSWER'", "'CONNECTED'", "'BUSY'", "NULL"};
    int nphones = 1 + (int)(rnd(s) % 3);
    char phones[200] = "ARRAY[", ptypes[200] = "ARRAY[", pregions[200] = "ARRAY[";
    char numbers[3][20];
    for (int i = 0; i < nphones; i++) {
        snprintf(numbers[i], sizeof numbers[i], "+1305555%04d", (*phone_no)++);
        size_t len = strlen(phones);
        snprintf(phones + len, sizeof phones - len, "%s'%s'", i ? ", " : "", numbers[i]);
        len = strlen(ptypes);
        snprintf(ptypes + len, sizeof ptypes - len, "%s'%s'", i ? ", " : "", pick(s, types, 3));
        len = strlen(pregions);
        snprintf(pregions + len, sizeof pregions - len, "%s%s", i ? ", " : "",
                 rnd(s) % 2 ? "'US-FL'" : "NULL");
    }
    snprintf(phones + strlen(phones), sizeof phones - strlen(phones), "]");
    snprintf(ptypes + strlen(ptypes), sizeof ptypes - strlen(ptypes), "]");
    snprintf(pregions + strlen(pregions), sizeof pregions - strlen(pregions), "]::text[]");
    const char *state = pick(s, states, sizeof states / sizeof states[0]);
    /* Some contacts of voice campaigns were switched to SMS and back. */
    const char *channel = rnd(s) % 6 == 0 ? (sms ? "'voice'" : "'sms'") : "NULL";
    long long next = now + ((long long)(rnd(s) % 72) - 12) * 3600000;
    long long id = ecm_test_pg_int(
        conn(f),
        "INSERT INTO contacts (campaign_id, phones, phone_types, phone_regions, time_zone, "
        "region, subject_key, state, phone_index, channel, next_attempt_at, outcome, closed_at) "
        "VALUES (%lld, %s, %s, %s, %s, %s, 'debt-%d', '%s', %d, %s, %s, %s, %s) RETURNING id",
        cid, phones, ptypes, pregions, pick(s, zones, sizeof zones / sizeof zones[0]),
        pick(s, regions, 4), k, state, (int)(rnd(s) % 3), channel, "NULL",
        strcmp(state, "closed") == 0 ? "'NO_ANSWER'" : "NULL",
        strcmp(state, "closed") == 0 ? "now()" : "NULL");
    if (strcmp(state, "waiting") == 0)
        ecm_test_pg_exec(conn(f),
                         "UPDATE contacts SET next_attempt_at = to_timestamp(%lld / 1000.0) "
                         "WHERE id = %lld",
                         next, id);
    /* Its own earlier attempts, and a closed sibling's with its subject. */
    int own = (int)(rnd(s) % 3);
    for (int a = 1; a <= own; a++) {
        long long at = now - (long long)(rnd(s) % (96 * 60)) * 60000;
        ecm_test_pg_exec(conn(f),
                         "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                         "account_number, status, dispatched_at, outcome, result_at, outcome_at) "
                         "VALUES (%lld, %d, %lld, '%s', '%s', '%lld-%d', '%s', "
                         "to_timestamp(%lld / 1000.0), %s, to_timestamp(%lld / 1000.0), "
                         "to_timestamp(%lld / 1000.0))",
                         id, a, cid, rnd(s) % 2 ? "sms" : "voice_ivr", numbers[0], id, a,
                         strcmp(state, "dispatched") == 0 && a == own ? "sent" : "done", at,
                         pick(s, outcomes, 4), at + 60000, at + 60000);
    }
    ecm_test_pg_exec(conn(f), "UPDATE contacts SET attempts = %d WHERE id = %lld", own, id);
    if (rnd(s) % 3 == 0) {
        long long sib = ecm_test_pg_int(conn(f),
                                        "INSERT INTO contacts (campaign_id, phones, state, "
                                        "subject_key) VALUES (%lld, ARRAY['+4420794600%02d'], "
                                        "'closed', 'debt-%d') RETURNING id",
                                        cid, k % 100, k);
        long long at = now - (long long)(rnd(s) % (30 * 60)) * 60000;
        ecm_test_pg_exec(conn(f),
                         "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                         "account_number, status, dispatched_at, outcome) VALUES (%lld, 1, %lld, "
                         "'voice_ivr', '+44207946000', '%lld-1', 'done', "
                         "to_timestamp(%lld / 1000.0), 'NO_ANSWER')",
                         sib, cid, sib, at);
    }
    list_numbers(f, s, cid, numbers, nphones);
}

typedef struct {
    int go, window, rule, by_kind[4], closed_dnc, closed_other, closed, out, inactive,
        waiting_later;
} tally;

static const char *const RULE_KINDS[4] = {"hours", "day_off", "cap", "quiet"};

static int rule_kind(const char *k)
{
    return strcmp(k, "hours") == 0 || strcmp(k, "day_off") == 0 || strcmp(k, "cap") == 0 ||
           strcmp(k, "quiet") == 0;
}

/* e, computed at now, agrees with the gate's verdict v judged at t. */
static void agree(const ecm_gate_row *v, const ecm_eligibility *e, int64_t t, int64_t now, tally *n)
{
    char what[200];
    snprintf(what, sizeof what, "contact %lld: %s: %s", (long long)v->contact_id,
             ecm_eligibility_state_name(e->state), e->reason);
    switch (v->action) {
    case ECM_GATE_GO:
        if (t == now) {
            if (e->state != ECM_ELIG_ELIGIBLE_NOW)
                fail_msg("gate GO, %s", what);
            n->go++;
        } else {
            if (e->state != ECM_ELIG_WAITING && e->state != ECM_ELIG_HELD)
                fail_msg("gate GO at its next attempt, %s", what);
            assert_int_equal(e->until_ms, t);
            n->waiting_later++;
        }
        assert_non_null(e->phone);
        assert_string_equal(e->phone, v->phone);
        assert_int_equal(e->phone_index, v->phone_index);
        break;
    case ECM_GATE_WAIT:
        if (e->state != (rule_kind(v->held_by) ? ECM_ELIG_HELD : ECM_ELIG_WAITING))
            fail_msg("gate WAIT (%s), %s", v->held_by, what);
        assert_int_equal(e->until_ms, v->until_ms);
        if (rule_kind(v->held_by)) {
            assert_int_equal(e->rule_id, v->rule_id);
            assert_string_equal(e->rule_kind, v->held_by);
            n->rule++;
            for (int k = 0; k < 4; k++)
                n->by_kind[k] += strcmp(v->held_by, RULE_KINDS[k]) == 0;
        } else {
            n->window++;
        }
        break;
    case ECM_GATE_CLOSE:
        if (e->state != ECM_ELIG_BLOCKED)
            fail_msg("gate CLOSE %s, %s", ecm_event_outcome_name(v->outcome), what);
        assert_string_equal(e->outcome, ecm_event_outcome_name(v->outcome));
        if (v->outcome == ECM__V1__OUTCOME__OUTCOME_DNC)
            n->closed_dnc++;
        else
            n->closed_other++;
        break;
    }
}

/* The dispatchers' batch on one channel at now, rolled back; each verdict
 * held to the explanation of its contact (es indexed by contact id). */
static void batch_agrees(fixture *f, const char *take_sql, int64_t margin_ms, int64_t now,
                         ecm_eligibility **es, int nes, tally *n, int *seen)
{
    ecm_gate_config gcfg = {
        .topic_closed = "contacts.closed",
        .source = "/ecm/test",
        .legal = f->cfg.legal,
        .margin_ms = margin_ms,
    };
    ecm_gate *g = ecm_gate_new(&gcfg);
    assert_non_null(g);
    assert_int_equal(ecm_pg_begin(f->pg), 0);
    PGresult *t = ecm_pg_exec(f->pg, take_sql, 0, NULL);
    assert_non_null(t);
    int rows = PQntuples(t);
    ecm_gate_row *v = rows ? ecm_gate_judge(g, f->pg, t, 0, now) : NULL;
    assert_true(rows == 0 || v != NULL);
    for (int i = 0; i < rows; i++) {
        long long id = v[i].contact_id;
        assert_true(id > 0 && id < nes && es[id]);
        agree(&v[i], es[id], now, now, n);
        seen[id] = 1;
    }
    ecm_gate_rows_destroy(v, rows);
    PQclear(t);
    ecm_pg_rollback(f->pg);
    ecm_gate_destroy(g);
}

/* A waiting contact: queued at its next_attempt_at or now, the later (as
 * the scheduler does), the batch's verdict then, rolled back. */
static void later_agrees(fixture *f, const ecm_eligibility *e, tally *n)
{
    int sms = strcmp(e->channel, "sms") == 0;
    ecm_gate_config gcfg = {
        .topic_closed = "contacts.closed",
        .source = "/ecm/test",
        .legal = f->cfg.legal,
        .margin_ms = sms ? 0 : VOICE_MARGIN_MS,
    };
    ecm_gate *g = ecm_gate_new(&gcfg);
    assert_non_null(g);
    assert_int_equal(ecm_pg_begin(f->pg), 0);
    ecm_test_pg_exec(conn(f), "UPDATE contacts SET state = 'queued' WHERE id = %lld",
                     (long long)e->contact_id);
    PGresult *t =
        ecm_pg_exec(f->pg, sms ? TAKE_SQL_ON("sms") " " : TAKE_SQL_ON("voice") " ", 0, NULL);
    assert_non_null(t);
    int rows = PQntuples(t);
    int64_t at = e->next_attempt_ms > e->at_ms ? e->next_attempt_ms : e->at_ms;
    ecm_gate_row *v = ecm_gate_judge(g, f->pg, t, 0, at);
    assert_non_null(v);
    int found = 0;
    for (int i = 0; i < rows; i++) {
        if (v[i].contact_id != e->contact_id)
            continue;
        agree(&v[i], e, at, e->at_ms, n);
        found = 1;
    }
    assert_true(found);
    ecm_gate_rows_destroy(v, rows);
    PQclear(t);
    ecm_pg_rollback(f->pg);
    ecm_gate_destroy(g);
}

static void generated_round(fixture *f, uint32_t seed, int64_t now, tally *n)
{
    reset(f);
    long long ids[NCAMPAIGNS];
    populate_campaigns(f, now, ids);
    uint32_t s = seed;
    int phone_no = 0;
    for (int k = 0; k < NCONTACTS; k++) {
        int c = (int)(rnd(&s) % NCAMPAIGNS);
        populate_contact(f, &s, ids[c], c == 3 || c == 7, now, k, &phone_no);
    }
    int nes = (int)ecm_test_pg_int(conn(f), "SELECT max(id) + 1 FROM contacts");
    ecm_eligibility **es = calloc((size_t)nes, sizeof *es);
    int *seen = calloc((size_t)nes, sizeof *seen);
    assert_non_null(es);
    assert_non_null(seen);
    PGresult *all = ecm_test_pg_query(conn(f), "SELECT id FROM contacts ORDER BY id");
    for (int i = 0; i < PQntuples(all); i++) {
        long long id = strtoll(PQgetvalue(all, i, 0), NULL, 10);
        es[id] = explain(f, id, now);
    }
    /* The explanations first, then the batches: explaining changed nothing. */
    batch_agrees(f, TAKE_SQL_ON("voice"), VOICE_MARGIN_MS, now, es, nes, n, seen);
    batch_agrees(f, TAKE_SQL_ON("sms"), 0, now, es, nes, n, seen);
    for (int i = 0; i < PQntuples(all); i++) {
        long long id = strtoll(PQgetvalue(all, i, 0), NULL, 10);
        ecm_eligibility *e = es[id];
        if (seen[id])
            continue;
        if (strcmp(e->contact_state, "closed") == 0) {
            assert_int_equal(e->state, ECM_ELIG_CLOSED);
            n->closed++;
        } else if (strcmp(e->contact_state, "dispatched") == 0) {
            assert_int_equal(e->state, ECM_ELIG_OUT_WITH_DIALER);
            n->out++;
        } else if (strcmp(e->campaign_state, "active") != 0) {
            assert_int_equal(e->state, ECM_ELIG_CAMPAIGN_NOT_ACTIVE);
            n->inactive++;
        } else {
            assert_string_equal(e->contact_state, "waiting");
            later_agrees(f, e, n);
        }
    }
    PQclear(all);
    for (int i = 0; i < nes; i++)
        ecm_eligibility_destroy(es[i]);
    free(es);
    free(seen);
}

/* Four instants: a Monday afternoon in Europe, a night in the Americas, the
 * night Sydney leaves daylight saving time, five minutes before a Saturday
 * window closes in London (the feeder's margin holds voice back). */
static void test_eligibility_agrees_with_the_gate_batch(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    const char *const instants[] = {"2026-03-09T14:00:00Z", "2026-03-10T02:30:00Z",
                                    "2026-04-04T15:50:00Z", "2026-03-14T17:55:00Z"};
    tally n = {0};
    for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++)
        generated_round(f, 7919u * (uint32_t)(i + 1), T(instants[i]), &n);
    /* The generator reached every kind of answer. */
    assert_true(n.go > 0);
    assert_true(n.window > 0);
    for (int k = 0; k < 4; k++)
        assert_true(n.by_kind[k] > 0);
    assert_true(n.closed_dnc > 0);
    assert_true(n.closed_other > 0);
    assert_true(n.closed > 0);
    assert_true(n.out > 0);
    assert_true(n.inactive > 0);
    assert_true(n.waiting_later > 0);
    print_message("agreed: go %d window %d rule %d (hours %d day_off %d cap %d quiet %d) dnc %d "
                  "other-close %d closed %d out %d "
                  "inactive %d later %d\n",
                  n.go, n.window, n.rule, n.by_kind[0], n.by_kind[1], n.by_kind[2], n.by_kind[3],
                  n.closed_dnc, n.closed_other, n.closed, n.out, n.inactive, n.waiting_later);
}

/* ---- one situation each ------------------------------------------------ */

/* 14:00 UTC is 19:00 in Karachi, past the 09:00-18:00 window: it says when
 * the window opens there, in UTC and in the contact's own time. */
static void test_eligibility_window_closed_says_when_it_opens_in_its_zone(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, "active", NINE_TO_SIX, "UTC");
    long long k = contact(f, c, "queued", "ARRAY['+922134567890']", "'" KARACHI "'");
    ecm_eligibility *e = explain(f, k, T("2026-03-09T14:00:00Z"));
    assert_int_equal(e->state, ECM_ELIG_WAITING);
    assert_int_equal(e->until_ms, T("2026-03-10T09:00:00+05:00"));
    assert_string_equal(e->zone, KARACHI);
    assert_int_equal(e->rule_id, -1);
    assert_non_null(strstr(e->reason, "Mon 2026-03-09 19:00 (Asia/Karachi)"));
    assert_non_null(strstr(e->reason, "Tue 2026-03-10 09:00 (Asia/Karachi)"));
    json_t *j = ecm_eligibility_json(e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "waiting");
    assert_string_equal(json_string_value(json_object_get(j, "until")), "2026-03-10T04:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(j, "until_local")),
                        "2026-03-10T09:00:00+05:00");
    assert_string_equal(json_string_value(json_object_get(j, "local_time")),
                        "2026-03-09T19:00:00+05:00");
    assert_string_equal(json_string_value(json_object_get(j, "phone")), "+922134567890");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "campaign"), "state")),
                        "active");
    assert_true(json_is_null(json_object_get(j, "rule")));
    json_decref(j);
    ecm_eligibility_destroy(e);
}

/* The first number on the campaign's voice list: the call goes to the
 * second, and the list entry is shown with its source and time. Both on
 * lists: blocked, it would close DNC, and says which lists. */
static void test_eligibility_dnc_names_the_list_and_since(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, "active", NULL, "UTC");
    long long k =
        contact(f, c, "queued", "ARRAY['+12125550100', '+12125550199']", "'America/New_York'");
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO consent_ledger (phone, campaign_id, scope, action, source, "
                     "reason, actor, at) VALUES ('+12125550100', %lld, 'voice', 'revoke', 'api', "
                     "'asked on the phone', 'tester', '2026-03-01T10:00:00Z')",
                     c);
    int64_t now = T("2026-03-09T12:00:00-04:00");
    ecm_eligibility *e = explain(f, k, now);
    assert_int_equal(e->state, ECM_ELIG_ELIGIBLE_NOW);
    assert_int_equal(e->until_ms, now);
    assert_string_equal(e->phone, "+12125550199");
    assert_int_equal(e->phone_index, 1);
    assert_int_equal(e->ndnc, 4); /* two numbers, two channels, one list each at most */
    assert_int_equal(e->dnc[0].phone_index, 0);
    assert_string_equal(e->dnc[0].channel, "voice");
    assert_true(e->dnc[0].listed);
    assert_string_equal(e->dnc[0].scope, "campaign");
    assert_int_equal(e->dnc[0].since_ms, T("2026-03-01T10:00:00Z"));
    assert_string_equal(e->dnc[0].source, "api");
    assert_string_equal(e->dnc[0].reason, "asked on the phone");
    assert_string_equal(e->dnc[1].channel, "sms");
    assert_false(e->dnc[1].listed);
    assert_false(e->dnc[2].listed);
    ecm_eligibility_destroy(e);

    ecm_test_pg_exec(conn(f), "INSERT INTO dnc (phone, channel, source) VALUES ('+12125550199', "
                              "'voice', 'upload')");
    e = explain(f, k, now);
    assert_int_equal(e->state, ECM_ELIG_BLOCKED);
    assert_string_equal(e->outcome, "DNC");
    assert_int_equal(e->until_ms, -1);
    assert_non_null(strstr(e->reason, "+12125550100 on the campaign list for voice since "
                                      "2026-03-01T10:00:00.000Z (api: \"asked on the phone\")"));
    assert_non_null(strstr(e->reason, "+12125550199 on the global list for voice"));
    assert_true(e->dnc[2].listed);
    assert_string_equal(e->dnc[2].scope, "global");
    assert_string_equal(e->dnc[2].source, "upload");
    ecm_eligibility_destroy(e);
}

static void test_eligibility_paused_campaign_says_paused(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, "paused", NULL, "UTC");
    long long k = contact(f, c, "queued", "ARRAY['+12125550100']", "'America/New_York'");
    ecm_eligibility *e = explain(f, k, T("2026-03-09T12:00:00-04:00"));
    assert_int_equal(e->state, ECM_ELIG_CAMPAIGN_NOT_ACTIVE);
    assert_string_equal(e->campaign_state, "paused");
    assert_non_null(strstr(e->reason, "is paused"));
    assert_int_equal(e->until_ms, -1);
    assert_string_equal(e->phone, "+12125550100"); /* the number it would use */
    ecm_eligibility_destroy(e);
}

static void test_eligibility_closed_says_its_outcome(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, "active", NULL, "UTC");
    long long k = contact(f, c, "queued", "ARRAY['+12125550100']", "NULL");
    ecm_test_pg_exec(conn(f),
                     "UPDATE contacts SET state = 'closed', outcome = 'CONNECTED', attempts = 2, "
                     "closed_at = '2026-03-09T15:00:00Z' WHERE id = %lld",
                     k);
    ecm_eligibility *e = explain(f, k, T("2026-03-09T16:00:00Z"));
    assert_int_equal(e->state, ECM_ELIG_CLOSED);
    assert_string_equal(e->outcome, "CONNECTED");
    assert_non_null(strstr(e->reason, "Closed with outcome CONNECTED at 2026-03-09T15:00:00.000Z "
                                      "after 2 attempt(s)"));
    assert_null(e->phone);
    ecm_eligibility_destroy(e);
    /* With its last attempt's outcome: when ECM learnt it, business time. */
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                     "account_number, status, dispatched_at, outcome, outcome_at) VALUES (%lld, "
                     "2, %lld, 'voice_ivr', '+12125550100', 'a-2', 'done', "
                     "'2026-03-09T14:50:00Z', 'CONNECTED', '2026-03-09T14:55:00Z')",
                     k, c);
    e = explain(f, k, T("2026-03-09T16:00:00Z"));
    assert_non_null(strstr(e->reason, "Closed with outcome CONNECTED at 2026-03-09T14:55:00.000Z"));
    ecm_eligibility_destroy(e);

    /* Closed DNC: the lists that hold its numbers; once the entry is gone,
     * it says so rather than naming none. */
    ecm_test_pg_exec(conn(f), "UPDATE contacts SET outcome = 'DNC' WHERE id = %lld", k);
    ecm_test_pg_exec(conn(f), "INSERT INTO dnc (phone, channel, source) VALUES ('+12125550100', "
                              "'all', 'api')");
    e = explain(f, k, T("2026-03-09T16:00:00Z"));
    assert_non_null(strstr(e->reason, "On the do-not-contact lists: +12125550100 on the global"));
    ecm_eligibility_destroy(e);
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO consent_ledger (phone, scope, action, source, actor, at) "
                     "VALUES ('+12125550100', 'all', 'grant', 'api', 'tester', now())");
    assert_int_equal(ecm_test_pg_int(conn(f), "SELECT count(*) FROM dnc WHERE phone = "
                                              "'+12125550100'"),
                     0);
    e = explain(f, k, T("2026-03-09T16:00:00Z"));
    assert_null(strstr(e->reason, "lists:."));
    assert_non_null(strstr(e->reason, "Its numbers are on no do-not-contact list now."));
    ecm_eligibility_destroy(e);
}

/* A cap of the campaign's rule set holds the contact: the rule is named
 * with its set and what it says, until the oldest counted attempt leaves
 * the cap's window. */
static void test_eligibility_held_by_a_rule_names_it(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, "active", NULL, NY);
    long long set = ecm_test_pg_int(
        conn(f), "INSERT INTO rule_sets (name, jurisdiction) VALUES ('one a day', '*') "
                 "RETURNING id");
    ecm_test_pg_exec(
        conn(f), "INSERT INTO campaign_rule_sets (campaign_id, rule_set_id) VALUES (%lld, %lld)", c,
        set);
    long long cap = ecm_test_pg_int(
        conn(f),
        "INSERT INTO rules (rule_set_id, kind, says, max_attempts, window_s, scope, channel) "
        "VALUES (%lld, 'cap', 'at most one call a day', 1, 86400, 'contact', 'voice') "
        "RETURNING id",
        set);
    long long k = contact(f, c, "queued", "ARRAY['+12125550100']", "NULL");
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                     "account_number, status, dispatched_at, outcome) VALUES (%lld, 1, %lld, "
                     "'voice_ivr', '+12125550100', 'a-1', 'done', '2026-03-09T13:00:00Z', "
                     "'NO_ANSWER')",
                     k, c);
    ecm_test_pg_exec(conn(f), "UPDATE contacts SET attempts = 1 WHERE id = %lld", k);
    ecm_eligibility *e = explain(f, k, T("2026-03-09T15:00:00Z"));
    assert_int_equal(e->state, ECM_ELIG_HELD);
    assert_int_equal(e->until_ms, T("2026-03-10T13:00:00Z"));
    assert_int_equal(e->rule_id, cap);
    assert_string_equal(e->rule_set, "one a day");
    assert_string_equal(e->rule_kind, "cap");
    assert_string_equal(e->rule_says, "at most one call a day");
    assert_non_null(strstr(e->reason, "Held by a contact rule until Tue 2026-03-10 09:00 "
                                      "(America/New_York)"));
    json_t *j = ecm_eligibility_json(e);
    json_t *rule = json_object_get(j, "rule");
    assert_int_equal(json_integer_value(json_object_get(rule, "id")), cap);
    assert_string_equal(json_string_value(json_object_get(rule, "set")), "one a day");
    assert_string_equal(json_string_value(json_object_get(rule, "says")), "at most one call a day");
    json_decref(j);
    ecm_eligibility_destroy(e);
}

static void test_eligibility_out_with_dialer(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, "active", NULL, "UTC");
    long long k = contact(f, c, "dispatched", "ARRAY['+12125550100', '+12125550199']", "NULL");
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                     "account_number, status, dispatched_at) VALUES (%lld, 1, %lld, "
                     "'voice_ivr', '+12125550199', 'a-1', 'sent', '2026-03-09T13:00:00Z')",
                     k, c);
    ecm_eligibility *e = explain(f, k, T("2026-03-09T13:05:00Z"));
    assert_int_equal(e->state, ECM_ELIG_OUT_WITH_DIALER);
    assert_string_equal(e->phone, "+12125550199");
    assert_int_equal(e->phone_index, 1);
    assert_non_null(strstr(e->reason, "Attempt 1 went out as a call to +12125550199 at "
                                      "2026-03-09T13:00:00.000Z and is with the dialer"));
    ecm_eligibility_destroy(e);
}

/* Waiting for the strategy's retry time, open then: waiting until it,
 * with what the strategy wrote; past it, eligible now. */
static void test_eligibility_waiting_for_its_retry_time(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, "active", NULL, "UTC");
    long long k = contact(f, c, "waiting", "ARRAY['+12125550100']", "'America/New_York'");
    ecm_test_pg_exec(
        conn(f), "UPDATE contacts SET next_attempt_at = '2026-03-09T16:00:00Z' WHERE id = %lld", k);
    ecm_eligibility *e = explain(f, k, T("2026-03-09T14:00:00Z"));
    assert_int_equal(e->state, ECM_ELIG_WAITING);
    assert_int_equal(e->until_ms, T("2026-03-09T16:00:00Z"));
    assert_int_equal(e->next_attempt_ms, T("2026-03-09T16:00:00Z"));
    assert_non_null(strstr(e->reason, "Next attempt planned for Mon 2026-03-09 12:00 "
                                      "(America/New_York): the strategy's delay before a retry"));
    ecm_eligibility_destroy(e);
    e = explain(f, k, T("2026-03-09T16:30:00Z"));
    assert_int_equal(e->state, ECM_ELIG_ELIGIBLE_NOW);
    assert_non_null(strstr(e->reason, "scheduler"));
    ecm_eligibility_destroy(e);
}

/* The gate made it wait for its window (next_attempt_at at the opening):
 * the answer is the window's, not a retry's. */
static void test_eligibility_waiting_for_its_window_says_so(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, "active", NINE_TO_SIX, "UTC");
    long long k = contact(f, c, "waiting", "ARRAY['+922134567890']", "'" KARACHI "'");
    ecm_test_pg_exec(conn(f),
                     "UPDATE contacts SET next_attempt_at = '2026-03-10T04:00:00Z', hold_reason = "
                     "'outside', hold_rule_id = 0 WHERE id = %lld",
                     k);
    ecm_eligibility *e = explain(f, k, T("2026-03-09T14:00:00Z"));
    assert_int_equal(e->state, ECM_ELIG_WAITING);
    assert_int_equal(e->until_ms, T("2026-03-10T04:00:00Z"));
    assert_non_null(strstr(e->reason, "Outside its calling window"));
    assert_non_null(strstr(e->reason, "Tue 2026-03-10 09:00 (Asia/Karachi)"));
    ecm_eligibility_destroy(e);
}

/* A campaign that has not started yet, and one whose end comes before the
 * contact's next opening. */
static void test_eligibility_campaign_start_and_end(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long later =
        campaign_full(f, "voice_ivr", "active", "NULL", "UTC", "'2026-03-10T15:00:00Z'", "NULL");
    long long k = contact(f, later, "queued", "ARRAY['+12125550100']", "'America/New_York'");
    ecm_eligibility *e = explain(f, k, T("2026-03-09T14:00:00Z"));
    assert_int_equal(e->state, ECM_ELIG_WAITING);
    assert_int_equal(e->until_ms, T("2026-03-10T15:00:00Z"));
    assert_non_null(strstr(e->reason, "The campaign starts at 2026-03-10T15:00:00.000Z"));
    ecm_eligibility_destroy(e);
    long long ending = campaign_full(f, "voice_ivr", "active", "'" NINE_TO_SIX "'", "UTC", "NULL",
                                     "'2026-03-09T20:00:00Z'");
    k = contact(f, ending, "queued", "ARRAY['+922134567890']", "'" KARACHI "'");
    e = explain(f, k, T("2026-03-09T14:00:00Z"));
    assert_int_equal(e->state, ECM_ELIG_BLOCKED);
    assert_string_equal(e->outcome, "EXPIRED");
    assert_non_null(strstr(e->reason, "the campaign's end (2026-03-09T20:00:00.000Z)"));
    ecm_eligibility_destroy(e);
}

static void test_eligibility_unknown_contact(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    ecm_eligibility *e = (ecm_eligibility *)1;
    assert_int_equal(ecm_eligibility_explain(f->pg, &f->cfg, 424242, T("2026-03-09T14:00:00Z"), &e),
                     1);
    assert_null(e);
}

/* A dispatcher holding the contact and its campaign (FOR UPDATE / FOR
 * SHARE, and the advisory locks of its history) does not make the answer
 * wait: it reads, it never locks. lock_timeout turns a wait into a failure
 * instead of a hang. */
static void test_eligibility_reads_past_a_dispatchers_locks(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, "active", NULL, "UTC");
    long long k = contact(f, c, "queued", "ARRAY['+12125550100']", "'America/New_York'");
    PGconn *other = ecm_test_pg_connect(f->db->dsn);
    ecm_test_pg_exec(other, "BEGIN");
    ecm_test_pg_exec(other,
                     "SELECT 1 FROM contacts ct JOIN campaigns c ON c.id = ct.campaign_id "
                     "WHERE ct.id = %lld FOR UPDATE OF ct FOR SHARE OF c",
                     k);
    ecm_test_pg_exec(other, "LOCK TABLE attempts IN EXCLUSIVE MODE");
    ecm_test_pg_exec(conn(f), "SET lock_timeout = '20s'");
    ecm_eligibility *e = explain(f, k, T("2026-03-09T12:00:00-04:00"));
    assert_int_equal(e->state, ECM_ELIG_ELIGIBLE_NOW);
    ecm_eligibility_destroy(e);
    ecm_test_pg_exec(conn(f), "SET lock_timeout = 0");
    ecm_test_pg_exec(other, "ROLLBACK");
    PQfinish(other);
    assert_int_equal(ecm_test_pg_int(conn(f), "SELECT count(*) FROM pg_locks l JOIN pg_database "
                                              "d ON d.oid = l.database WHERE d.datname = "
                                              "current_database() AND locktype = 'advisory'"),
                     0);
}

int main(void)
{
#define T_(name) cmocka_unit_test_setup(name, test_setup)
    const struct CMUnitTest tests[] = {
        T_(test_eligibility_agrees_with_the_gate_batch),
        T_(test_eligibility_window_closed_says_when_it_opens_in_its_zone),
        T_(test_eligibility_dnc_names_the_list_and_since),
        T_(test_eligibility_paused_campaign_says_paused),
        T_(test_eligibility_closed_says_its_outcome),
        T_(test_eligibility_held_by_a_rule_names_it),
        T_(test_eligibility_out_with_dialer),
        T_(test_eligibility_waiting_for_its_retry_time),
        T_(test_eligibility_waiting_for_its_window_says_so),
        T_(test_eligibility_campaign_start_and_end),
        T_(test_eligibility_unknown_contact),
        T_(test_eligibility_reads_past_a_dispatchers_locks),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* The dispatch gate (lib/ecm_gate) against a scratch PostgreSQL database:
 * the verdicts of contacts in New York, London, Karachi and Sydney at one
 * instant, deferral to the exact next opening, legal hours, DST, DNC per
 * number, expiry at end_at, and what ecm_gate_apply() writes. The services'
 * own tests (test_fd_dispatch, test_sms_sender) check that they use it.
 * Needs ECM_TEST_PG_DSN for all but the array parser. */
#include "ecm/v1/events.pb-c.h"
#include "ecm_clock.h"
#include "ecm_gate.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"

#define NY "America/New_York"
#define LONDON "Europe/London"
#define KARACHI "Asia/Karachi"
#define SYDNEY "Australia/Sydney"
#define NINE_TO_SIX                                                                                \
    "{\"mon\": [[\"09:00\", \"18:00\"]], \"tue\": [[\"09:00\", \"18:00\"]], "                      \
    "\"wed\": [[\"09:00\", \"18:00\"]], \"thu\": [[\"09:00\", \"18:00\"]], "                       \
    "\"fri\": [[\"09:00\", \"18:00\"]], \"sat\": [[\"09:00\", \"18:00\"]], "                       \
    "\"sun\": [[\"09:00\", \"18:00\"]]}"

static const char TAKE_SQL[] =
    "SELECT " ECM_GATE_COLUMNS " FROM contacts ct JOIN campaigns c ON c.id = ct.campaign_id "
    "WHERE ct.state = 'queued' ORDER BY ct.id FOR UPDATE OF ct";

typedef struct {
    ecm_test_db *db;
    ecm_pg *pg;
    ecm_metrics *metrics;
    ecm_gate *gate;
} fixture;

static int64_t T(const char *rfc3339)
{
    int64_t ms = 0;
    if (ecm_clock_parse_time(rfc3339, &ms) != 0)
        fail_msg("bad time %s", rfc3339);
    return ms;
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
    f->db = ecm_test_db_new_migrated("ecm_gate");
    f->pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(f->pg);
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

static int test_setup(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    ecm_test_pg_exec(conn(f), "TRUNCATE attempts, outbox, contacts, dnc, campaigns "
                              "RESTART IDENTITY CASCADE");
    ecm_test_pg_exec(conn(f), "DELETE FROM rule_sets WHERE NOT shipped");
    f->metrics = ecm_metrics_new();
    ecm_gate_config cfg = {
        .topic_closed = "contacts.closed",
        .source = "/ecm/test",
        .metrics = f->metrics,
        .legal = {8 * 60, 21 * 60},
    };
    f->gate = ecm_gate_new(&cfg);
    assert_non_null(f->gate);
    return 0;
}

static int test_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    ecm_gate_destroy(f->gate);
    ecm_metrics_destroy(f->metrics);
    return 0;
}

/* A voice campaign; window NULL for none, tz its zone, end_at NULL or a
 * time. Returns its id. */
static long long campaign(fixture *f, const char *window, const char *tz, const char *end_at)
{
    char w[1024], e[128];
    if (window)
        snprintf(w, sizeof w, "'%s'", window);
    else
        snprintf(w, sizeof w, "NULL");
    if (end_at)
        snprintf(e, sizeof e, "'%s'", end_at);
    else
        snprintf(e, sizeof e, "NULL");
    return ecm_test_pg_int(conn(f),
                           "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind, "
                           "cisco_campaign_id, time_zone, call_window, end_at) "
                           "SELECT 'g', 'voice_ivr', 'active', id, 'uccx', '7', '%s', %s, %s "
                           "FROM strategies WHERE name = 'Default' RETURNING id",
                           tz, w, e);
}

/* A queued contact; tz and zones ("ARRAY[...]" or "NULL") as SQL. */
static long long contact(fixture *f, long long campaign_id, const char *phones_sql,
                         const char *tz_sql, const char *zones_sql, int phone_index)
{
    return ecm_test_pg_int(conn(f),
                           "INSERT INTO contacts (campaign_id, phones, time_zone, phone_zones, "
                           "phone_index, state) VALUES (%lld, %s, %s, %s, %d, 'queued') "
                           "RETURNING id",
                           campaign_id, phones_sql, tz_sql, zones_sql, phone_index);
}

/* The sequential scans of contacts pg's open transaction has made so far. */
static long long contacts_seq_scans(ecm_pg *pg)
{
    PGresult *r = ecm_pg_exec(
        pg, "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'contacts'", 0, NULL);
    assert_non_null(r);
    long long n = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return n;
}

/* Takes every queued contact, judges them at now and applies the verdicts
 * in one transaction. Returns the verdicts (ecm_gate_rows_destroy) and *n. */
static ecm_gate_row *run_gate(fixture *f, int64_t now, int *n)
{
    assert_int_equal(ecm_pg_begin(f->pg), 0);
    PGresult *t = ecm_pg_exec(f->pg, TAKE_SQL, 0, NULL);
    assert_non_null(t);
    *n = PQntuples(t);
    ecm_gate_row *rows = ecm_gate_judge(f->gate, f->pg, t, 0, now);
    PQclear(t);
    assert_non_null(rows);
    /* Every run checks that the apply finds its contacts by id: no
     * sequential scan of contacts (the planner's choice for these small
     * tables otherwise), and sequential scans on again after. */
    long long scans = contacts_seq_scans(f->pg);
    assert_int_equal(ecm_gate_apply(f->gate, f->pg, rows, *n), 0);
    assert_int_equal(contacts_seq_scans(f->pg), scans);
    PGresult *on = ecm_pg_exec(f->pg, "SHOW enable_seqscan", 0, NULL);
    assert_non_null(on);
    assert_string_equal(PQgetvalue(on, 0, 0), "on");
    PQclear(on);
    assert_int_equal(ecm_pg_commit(f->pg), 0);
    ecm_gate_count(f->gate, rows, *n);
    return rows;
}

static long long next_attempt_ms(fixture *f, long long id)
{
    return ecm_test_pg_int(conn(f),
                           "SELECT (extract(epoch FROM next_attempt_at) * 1000)::bigint "
                           "FROM contacts WHERE id = %lld AND state = 'waiting'",
                           id);
}

static double metric(fixture *f, const char *name)
{
    return ecm_metric_value(ecm_metrics_counter(f->metrics, name, "x"));
}

#define NEED_DB(f) ((void)ecm_test_need(f))

/* Monday 2026-03-09 14:00 UTC, window 09:00-18:00 every day: 10:00 in New
 * York (EDT since the day before), 14:00 in London, 19:00 in Karachi, 01:00
 * Tuesday in Sydney. */
static void test_gate_four_cities_at_one_instant(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NINE_TO_SIX, "UTC", NULL);
    long long ny = contact(f, c, "ARRAY['+12125550100']", "'" NY "'", "NULL", 0);
    long long ldn = contact(f, c, "ARRAY['+442079460958']", "'" LONDON "'", "NULL", 0);
    long long khi = contact(f, c, "ARRAY['+922134567890']", "'" KARACHI "'", "NULL", 0);
    long long syd = contact(f, c, "ARRAY['+61291234567']", "'" SYDNEY "'", "NULL", 0);
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T14:00:00Z"), &n);
    assert_int_equal(n, 4);
    assert_int_equal(rows[0].action, ECM_GATE_GO);
    assert_string_equal(rows[0].phone, "+12125550100");
    assert_int_equal(rows[1].action, ECM_GATE_GO);
    assert_int_equal(rows[2].action, ECM_GATE_WAIT);
    assert_int_equal(rows[3].action, ECM_GATE_WAIT);
    ecm_gate_rows_destroy(rows, n);
    ecm_test_pg_exec(conn(f), "SELECT 1"); /* the connection is fine after apply */
    assert_int_equal(ecm_test_pg_int(conn(f),
                                     "SELECT count(*) FROM contacts WHERE id IN (%lld, %lld) "
                                     "AND state = 'dispatched' AND attempts = 1",
                                     ny, ldn),
                     2);
    /* The next opening, to the minute: 09:00 local the next morning. */
    assert_int_equal(next_attempt_ms(f, khi), T("2026-03-10T09:00:00+05:00"));
    assert_int_equal(next_attempt_ms(f, syd), T("2026-03-10T09:00:00+11:00"));
    assert_int_equal(ecm_test_pg_int(conn(f),
                                     "SELECT count(*) FROM contacts WHERE state = 'waiting' "
                                     "AND attempts = 0"),
                     2);
    assert_int_equal(metric(f, "ecm_gate_deferred_total"), 2);
    assert_int_equal(ecm_test_pg_int(conn(f), "SELECT count(*) FROM outbox"), 0);
}

/* No window: only the legal hours, 08:00-21:00 at the called party. */
static void test_gate_legal_hours_close_at_21_local(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NULL, "UTC", NULL);
    contact(f, c, "ARRAY['+12125550100']", "'" NY "'", "NULL", 0);
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T20:55:00-04:00"), &n);
    assert_int_equal(rows[0].action, ECM_GATE_GO);
    ecm_gate_rows_destroy(rows, n);
    long long late = contact(f, c, "ARRAY['+12125550101']", "'" NY "'", "NULL", 0);
    rows = run_gate(f, T("2026-03-09T21:00:00-04:00"), &n);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].action, ECM_GATE_WAIT);
    assert_int_equal(rows[0].until_ms, T("2026-03-10T08:00:00-04:00"));
    ecm_gate_rows_destroy(rows, n);
    assert_int_equal(next_attempt_ms(f, late), T("2026-03-10T08:00:00-04:00"));
}

/* The same UTC time of day on both sides of New York's spring change: 08:30
 * EST (before the window) on Saturday, 09:30 EDT (inside) on Sunday. */
static void test_gate_follows_the_dst_change(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NINE_TO_SIX, NY, NULL);
    long long sat = contact(f, c, "ARRAY['+12125550100']", "NULL", "NULL", 0);
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-07T13:30:00Z"), &n);
    assert_int_equal(rows[0].action, ECM_GATE_WAIT);
    ecm_gate_rows_destroy(rows, n);
    assert_int_equal(next_attempt_ms(f, sat), T("2026-03-07T09:00:00-05:00"));
    contact(f, c, "ARRAY['+12125550101']", "NULL", "NULL", 0);
    rows = run_gate(f, T("2026-03-08T13:30:00Z"), &n);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].action, ECM_GATE_GO);
    ecm_gate_rows_destroy(rows, n);
}

/* Without its own time_zone the contact is called in its number's zone,
 * else the campaign's; phone_zones NULL (older rows) is the campaign's. */
static void test_gate_zone_from_the_number_then_the_campaign(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NINE_TO_SIX, LONDON, NULL);
    contact(f, c, "ARRAY['+922134567890']", "NULL", "ARRAY['" KARACHI "']", 0);
    contact(f, c, "ARRAY['+12125550100']", "NULL", "ARRAY['']", 0);
    contact(f, c, "ARRAY['2125550100']", "NULL", "NULL", 0);
    int n = 0;
    /* 17:30 in London, 22:30 in Karachi. */
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T17:30:00Z"), &n);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].action, ECM_GATE_WAIT);
    assert_int_equal(rows[0].until_ms, T("2026-03-10T09:00:00+05:00"));
    assert_int_equal(rows[1].action, ECM_GATE_GO);
    assert_int_equal(rows[2].action, ECM_GATE_GO);
    assert_string_equal(rows[2].phone, "2125550100");
    ecm_gate_rows_destroy(rows, n);
}

static void test_gate_dnc_on_first_number_moves_to_the_second(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NULL, "UTC", NULL);
    long long id = contact(f, c, "ARRAY['+12125550100', '+12125550199']", "'" NY "'", "NULL", 0);
    /* The number as someone typed it: compared by its digits. */
    ecm_test_pg_exec(conn(f), "INSERT INTO dnc (phone) VALUES ('+1 (212) 555-0100')");
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T12:00:00-04:00"), &n);
    assert_int_equal(rows[0].action, ECM_GATE_GO);
    assert_int_equal(rows[0].phone_index, 1);
    assert_string_equal(rows[0].phone, "+12125550199");
    ecm_gate_rows_destroy(rows, n);
    assert_int_equal(
        ecm_test_pg_int(conn(f), "SELECT phone_index FROM contacts WHERE id = %lld", id), 1);
}

static void test_gate_campaign_dnc_list_applies_to_its_campaign_only(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long a = campaign(f, NULL, "UTC", NULL);
    long long b = campaign(f, NULL, "UTC", NULL);
    contact(f, a, "ARRAY['+12125550100']", "'" NY "'", "NULL", 0);
    contact(f, b, "ARRAY['+12125550100']", "'" NY "'", "NULL", 0);
    ecm_test_pg_exec(conn(f), "INSERT INTO dnc (phone, campaign_id) VALUES ('+12125550100', %lld)",
                     a);
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T12:00:00-04:00"), &n);
    assert_int_equal(rows[0].action, ECM_GATE_CLOSE);
    assert_int_equal(rows[0].outcome, ECM__V1__OUTCOME__OUTCOME_DNC);
    assert_int_equal(rows[1].action, ECM_GATE_GO);
    ecm_gate_rows_destroy(rows, n);
}

static void test_gate_all_numbers_on_dnc_closes_dnc_with_event(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NULL, "UTC", NULL);
    long long id = contact(f, c, "ARRAY['+12125550100', '+12125550199']", "'" NY "'", "NULL", 1);
    ecm_test_pg_exec(conn(f), "UPDATE contacts SET attempts = 2 WHERE id = %lld", id);
    ecm_test_pg_exec(conn(f), "INSERT INTO dnc (phone) VALUES ('12125550100'), ('12125550199')");
    int n = 0;
    /* At night: a DNC close does not wait for the window. */
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T23:00:00-04:00"), &n);
    assert_int_equal(rows[0].action, ECM_GATE_CLOSE);
    ecm_gate_rows_destroy(rows, n);
    assert_int_equal(ecm_test_pg_int(conn(f),
                                     "SELECT count(*) FROM contacts WHERE id = %lld AND state = "
                                     "'closed' AND outcome = 'DNC' AND closed_at IS NOT NULL "
                                     "AND attempts = 2",
                                     id),
                     1);
    PGresult *r = ecm_test_pg_query(conn(f), "SELECT msg_key, payload, topic, ce_type FROM outbox");
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 2), "contacts.closed");
    assert_string_equal(PQgetvalue(r, 0, 3), "ecm.v1.ContactClosed");
    size_t len = 0;
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 1), &len);
    Ecm__V1__ContactClosed *ev = ecm__v1__contact_closed__unpack(NULL, len, bytes);
    assert_non_null(ev);
    assert_int_equal(ev->contact_id, id);
    assert_int_equal(ev->campaign_id, c);
    assert_int_equal(ev->attempts, 2);
    assert_int_equal(ev->outcome, ECM__V1__OUTCOME__OUTCOME_DNC);
    ecm__v1__contact_closed__free_unpacked(ev, NULL);
    PQfreemem(bytes);
    PQclear(r);
    assert_int_equal(metric(f, "ecm_gate_closed_total{outcome=\"DNC\"}"), 1);
}

static void test_gate_past_end_at_closes_expired(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NINE_TO_SIX, NY, "2026-03-09T17:00:00-04:00");
    long long late = contact(f, c, "ARRAY['+12125550100']", "NULL", "NULL", 0);
    int n = 0;
    /* 17:30: past end_at. */
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T17:30:00-04:00"), &n);
    assert_int_equal(rows[0].action, ECM_GATE_CLOSE);
    assert_int_equal(rows[0].outcome, ECM__V1__OUTCOME__OUTCOME_EXPIRED);
    ecm_gate_rows_destroy(rows, n);
    assert_int_equal(ecm_test_pg_int(conn(f),
                                     "SELECT count(*) FROM contacts WHERE id = %lld AND outcome = "
                                     "'EXPIRED' AND state = 'closed'",
                                     late),
                     1);
    assert_int_equal(ecm_test_pg_int(conn(f), "SELECT count(*) FROM outbox WHERE topic = "
                                              "'contacts.closed'"),
                     1);
    assert_int_equal(metric(f, "ecm_gate_closed_total{outcome=\"EXPIRED\"}"), 1);

    /* 08:00, before the window, on the last day: the opening at 09:00 is
     * before end_at, so it waits. */
    long long early = contact(f, c, "ARRAY['+12125550101']", "NULL", "NULL", 0);
    rows = run_gate(f, T("2026-03-09T08:00:00-04:00"), &n);
    assert_int_equal(rows[0].action, ECM_GATE_WAIT);
    ecm_gate_rows_destroy(rows, n);
    assert_int_equal(next_attempt_ms(f, early), T("2026-03-09T09:00:00-04:00"));
}

/* An edited end_at (updated_at moves) is seen at once: the window cache is
 * keyed by the campaign row's version. */
static void test_gate_sees_an_edited_campaign(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NULL, NY, NULL);
    contact(f, c, "ARRAY['+12125550100']", "NULL", "NULL", 0);
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T12:00:00-04:00"), &n);
    assert_int_equal(rows[0].action, ECM_GATE_GO);
    ecm_gate_rows_destroy(rows, n);
    ecm_test_pg_exec(conn(f),
                     "UPDATE campaigns SET end_at = '2026-03-09T11:00:00-04:00', "
                     "updated_at = clock_timestamp() WHERE id = %lld",
                     c);
    contact(f, c, "ARRAY['+12125550101']", "NULL", "NULL", 0);
    rows = run_gate(f, T("2026-03-09T12:00:00-04:00"), &n);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].action, ECM_GATE_CLOSE);
    assert_int_equal(rows[0].outcome, ECM__V1__OUTCOME__OUTCOME_EXPIRED);
    ecm_gate_rows_destroy(rows, n);
}

static void test_gate_contact_without_numbers_closes_invalid(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NULL, "UTC", NULL);
    contact(f, c, "ARRAY[]::text[]", "NULL", "NULL", 0);
    contact(f, c, "ARRAY['']", "NULL", "NULL", 0);
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T12:00:00Z"), &n);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++) {
        assert_int_equal(rows[i].action, ECM_GATE_CLOSE);
        assert_int_equal(rows[i].outcome, ECM__V1__OUTCOME__OUTCOME_INVALID_NUMBER);
    }
    ecm_gate_rows_destroy(rows, n);
}

/* A window edited by hand into something unreadable: nobody is called and
 * nobody closed; they look again in five minutes. */
static void test_gate_unreadable_window_waits(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, "{\"funday\": []}", "UTC", NULL);
    contact(f, c, "ARRAY['+12125550100']", "NULL", "NULL", 0);
    int n = 0;
    int64_t now = T("2026-03-09T12:00:00Z");
    ecm_gate_row *rows = run_gate(f, now, &n);
    assert_int_equal(rows[0].action, ECM_GATE_WAIT);
    assert_int_equal(rows[0].until_ms, now + 5 * 60 * 1000);
    ecm_gate_rows_destroy(rows, n);
}

/* ---- contact rules (issue 16) ------------------------------------------ */

/* A customer's rule set for jurisdiction jur picked by campaign; returns
 * its id. */
static long long rule_set(fixture *f, long long campaign, const char *name, const char *jur)
{
    long long id = ecm_test_pg_int(conn(f),
                                   "INSERT INTO rule_sets (name, jurisdiction) VALUES ('%s', '%s') "
                                   "RETURNING id",
                                   name, jur);
    ecm_test_pg_exec(
        conn(f), "INSERT INTO campaign_rule_sets (campaign_id, rule_set_id) VALUES (%lld, %lld)",
        campaign, id);
    return id;
}

/* A rule of set: cols and vals are the kind's columns as SQL. Returns its id. */
static long long rule(fixture *f, long long set, const char *kind, const char *cols,
                      const char *vals)
{
    return ecm_test_pg_int(conn(f),
                           "INSERT INTO rules (rule_set_id, kind, says, %s) "
                           "VALUES (%lld, '%s', 'test rule', %s) RETURNING id",
                           cols, set, kind, vals);
}

/* An earlier attempt of contact (closed) dispatched at `at`, with outcome
 * (SQL: NULL or 'X') and result time result_at (SQL). */
static void attempt(fixture *f, long long contact_id, int n, const char *phone, const char *at,
                    const char *outcome, const char *result_at)
{
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                     "account_number, status, dispatched_at, outcome, result_at) "
                     "SELECT id, %d, campaign_id, 'voice_ivr', '%s', id || '-' || %d, 'done', "
                     "'%s', %s, %s FROM contacts WHERE id = %lld",
                     n, phone, n, at, outcome, result_at, contact_id);
}

static void contact_is(fixture *f, long long id, const char *region, const char *subject)
{
    ecm_test_pg_exec(conn(f), "UPDATE contacts SET region = %s, subject_key = %s WHERE id = %lld",
                     region, subject, id);
}

static char *hold_reason(fixture *f, long long id)
{
    return ecm_test_pg_text(conn(f),
                            "SELECT hold_reason || ' #' || coalesce(hold_rule_id::text, 'window') "
                            "FROM contacts WHERE id = %lld",
                            id);
}

/* A cap counts the subject's earlier attempts in any campaign and the
 * dispatches of the same batch; it applies only in its jurisdiction, and
 * the wait ends when the oldest counted attempt leaves the window. */
static void test_gate_rules_cap_counts_history_and_batch(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NULL, NY, NULL);
    long long set = rule_set(f, c, "FL 3 a day", "US-FL");
    long long cap = rule(f, set, "cap", "max_attempts, window_s, scope, channel",
                         "3, 86400, 'subject', 'voice'");
    long long old = contact(f, c, "ARRAY['+13055550100']", "NULL", "NULL", 0);
    ecm_test_pg_exec(conn(f), "UPDATE contacts SET state = 'closed' WHERE id = %lld", old);
    contact_is(f, old, "'US-FL'", "'debt-1'");
    attempt(f, old, 1, "+13055550100", "2026-03-09T12:00:00Z", "'NO_ANSWER'", "NULL");
    attempt(f, old, 2, "+13055550100", "2026-03-09T13:00:00Z", "'NO_ANSWER'", "NULL");
    long long a = contact(f, c, "ARRAY['+13055550101']", "NULL", "NULL", 0);
    long long b = contact(f, c, "ARRAY['+13055550102']", "NULL", "NULL", 0);
    long long ny = contact(f, c, "ARRAY['+12125550103']", "NULL", "NULL", 0);
    contact_is(f, a, "'US-FL'", "'debt-1'");
    contact_is(f, b, "'US-FL'", "'debt-1'");
    contact_is(f, ny, "'US-NY'", "'debt-1'");
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T14:00:00Z"), &n);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].action, ECM_GATE_GO); /* 2 earlier: the 3rd may go */
    assert_int_equal(rows[1].action, ECM_GATE_WAIT);
    assert_int_equal(rows[1].until_ms, T("2026-03-10T12:00:00Z"));
    assert_int_equal(rows[1].rule_id, cap);
    assert_string_equal(rows[1].held_by, "cap");
    assert_int_equal(rows[2].action, ECM_GATE_GO); /* New York: the set does not apply */
    ecm_gate_rows_destroy(rows, n);
    char *why = hold_reason(f, b);
    char want[32];
    snprintf(want, sizeof want, "#%lld", cap);
    assert_non_null(strstr(why, want));
    assert_non_null(strstr(why, "FL 3 a day"));
    free(why);
    assert_int_equal(next_attempt_ms(f, b), T("2026-03-10T12:00:00Z"));
}

/* An attempt taken back from the dialer before it was dialled (status
 * 'withdrawn', after a pause) was no call: a cap does not count it. */
static void test_gate_rules_cap_does_not_count_a_withdrawn_attempt(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NULL, NY, NULL);
    long long set = rule_set(f, c, "FL 3 a day", "US-FL");
    rule(f, set, "cap", "max_attempts, window_s, scope, channel", "3, 86400, 'subject', 'voice'");
    long long old = contact(f, c, "ARRAY['+13055550100']", "NULL", "NULL", 0);
    ecm_test_pg_exec(conn(f), "UPDATE contacts SET state = 'closed' WHERE id = %lld", old);
    contact_is(f, old, "'US-FL'", "'debt-1'");
    attempt(f, old, 1, "+13055550100", "2026-03-09T12:00:00Z", "'NO_ANSWER'", "NULL");
    attempt(f, old, 2, "+13055550100", "2026-03-09T13:00:00Z", "NULL", "NULL");
    attempt(f, old, 3, "+13055550100", "2026-03-09T13:30:00Z", "'NO_ANSWER'", "NULL");
    ecm_test_pg_exec(conn(f),
                     "UPDATE attempts SET status = 'withdrawn' WHERE contact_id = %lld "
                     "AND attempt = 2",
                     old);
    long long a = contact(f, c, "ARRAY['+13055550101']", "NULL", "NULL", 0);
    contact_is(f, a, "'US-FL'", "'debt-1'");
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T14:00:00Z"), &n);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].action, ECM_GATE_GO); /* 2 calls made: the 3rd may go */
    ecm_gate_rows_destroy(rows, n);
}

/* Hours of a set everywhere ("*") and a campaign blackout: 20:30 in New
 * York waits for 08:00, and the blackout day after moves it a day on. */
static void test_gate_rules_hours_and_blackout(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NULL, NY, NULL);
    long long set = rule_set(f, c, "eight to eight", "*");
    long long hours =
        rule(f, set, "hours", "wdays, start_min, end_min", "'{0,1,2,3,4,5,6}', 480, 1200");
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO campaign_blackouts (campaign_id, day, reason) "
                     "VALUES (%lld, '2026-03-10', 'office closed')",
                     c);
    long long k = contact(f, c, "ARRAY['+12125550100']", "NULL", "NULL", 0);
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-10T00:30:00Z"), &n); /* 20:30 EDT */
    assert_int_equal(rows[0].action, ECM_GATE_WAIT);
    assert_int_equal(rows[0].until_ms, T("2026-03-11T08:00:00-04:00"));
    assert_int_equal(rows[0].rule_id, hours);
    assert_string_equal(rows[0].held_by, "hours");
    ecm_gate_rows_destroy(rows, n);
    assert_int_equal(next_attempt_ms(f, k), T("2026-03-11T08:00:00-04:00"));
}

/* A quiet period after a conversation, counted over the subject in another
 * campaign, from the result's time. */
static void test_gate_rules_quiet_after_connected(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long first = campaign(f, NULL, NY, NULL);
    long long c = campaign(f, NULL, NY, NULL);
    long long set = rule_set(f, c, "Reg F like", "US");
    long long quiet = rule(f, set, "quiet", "after_outcome, quiet_s, scope, channel",
                           "'CONNECTED', 604800, 'subject', 'voice'");
    long long talked = contact(f, first, "ARRAY['+12125550100']", "NULL", "NULL", 0);
    ecm_test_pg_exec(conn(f), "UPDATE contacts SET state = 'closed' WHERE id = %lld", talked);
    contact_is(f, talked, "NULL", "'loan-9'");
    attempt(f, talked, 1, "+12125550100", "2026-03-09T14:00:00Z", "'CONNECTED'",
            "'2026-03-09T14:05:00Z'");
    long long k = contact(f, c, "ARRAY['+12125550199']", "NULL", "NULL", 0);
    contact_is(f, k, "NULL", "'loan-9'");
    long long other = contact(f, c, "ARRAY['+12125550198']", "NULL", "NULL", 0);
    contact_is(f, other, "NULL", "'loan-10'");
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-10T14:00:00Z"), &n);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].action, ECM_GATE_WAIT);
    assert_int_equal(rows[0].until_ms, T("2026-03-16T14:05:00Z"));
    assert_int_equal(rows[0].rule_id, quiet);
    assert_int_equal(rows[1].action, ECM_GATE_GO);
    ecm_gate_rows_destroy(rows, n);
}

/* A campaign whose stored rules can't be used (nine hours ranges on one
 * weekday, written past the API, which refuses them): its contacts wait
 * and say why; the rest of the batch goes. */
static void test_gate_rules_unreadable_wait(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long bad = campaign(f, NULL, NY, NULL);
    long long good = campaign(f, NULL, NY, NULL);
    long long set = rule_set(f, bad, "too many ranges", "*");
    for (int k = 0; k < 9; k++) {
        char vals[64];
        snprintf(vals, sizeof vals, "'{1}', %d, %d", 480 + 60 * k, 510 + 60 * k);
        (void)rule(f, set, "hours", "wdays, start_min, end_min", vals);
    }
    contact(f, bad, "ARRAY['+12125550100']", "NULL", "NULL", 0);
    contact(f, good, "ARRAY['+12125550101']", "NULL", "NULL", 0);
    int64_t now = T("2026-03-09T14:00:00Z");
    int n = 0;
    ecm_gate_row *rows = run_gate(f, now, &n);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].action, ECM_GATE_WAIT);
    assert_int_equal(rows[0].until_ms, now + 5 * 60 * 1000);
    assert_non_null(strstr(rows[0].reason, "could not be loaded"));
    assert_int_equal(rows[1].action, ECM_GATE_GO);
    ecm_gate_rows_destroy(rows, n);
}

/* A contact of a voice campaign switched to SMS (contacts.channel 'sms'):
 * the gate picks from phone_index on the first number that may be mobile
 * and is not on the SMS do-not-contact list; a voice-only DNC entry does
 * not block the SMS, an SMS-only one does not block the call of another
 * contact still on voice. */
static void test_gate_sms_channel_picks_first_unblocked_mobile(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NULL, "UTC", NULL);
    long long sms = ecm_test_pg_int(
        conn(f),
        "INSERT INTO contacts (campaign_id, phones, phone_types, time_zone, phone_index, state, "
        "channel) VALUES (%lld, ARRAY['+12125550100', '+12125550101', '+12125550102', "
        "'+12125550103'], ARRAY['fixed_line', 'mobile', 'fixed_line_or_mobile', 'mobile'], '" NY
        "', 0, 'queued', 'sms') RETURNING id",
        c);
    long long voice = ecm_test_pg_int(
        conn(f),
        "INSERT INTO contacts (campaign_id, phones, phone_types, time_zone, phone_index, state) "
        "VALUES (%lld, ARRAY['+12125550101'], ARRAY['mobile'], '" NY "', 0, 'queued') "
        "RETURNING id",
        c);
    /* +1...0101 may not be texted; +1...0102 may not be called. */
    ecm_test_pg_exec(conn(f), "INSERT INTO dnc (phone, channel) VALUES ('+12125550101', 'sms'), "
                              "('+12125550102', 'voice')");
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T12:00:00-04:00"), &n);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].contact_id, sms);
    assert_int_equal(rows[0].action, ECM_GATE_GO);
    assert_int_equal(rows[0].phone_index, 2);
    assert_string_equal(rows[0].phone, "+12125550102");
    assert_int_equal(rows[1].contact_id, voice);
    assert_int_equal(rows[1].action, ECM_GATE_GO);
    assert_string_equal(rows[1].phone, "+12125550101");
    ecm_gate_rows_destroy(rows, n);
}

/* On SMS a contact with only fixed-line numbers has nothing to text:
 * closed INVALID_NUMBER; one whose only mobile is on the SMS list: DNC. */
static void test_gate_sms_channel_without_usable_mobile_closes(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = campaign(f, NULL, "UTC", NULL);
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO contacts (campaign_id, phones, phone_types, time_zone, state, "
                     "channel) VALUES (%lld, ARRAY['+12125550100'], ARRAY['fixed_line'], '" NY
                     "', 'queued', 'sms'), (%lld, ARRAY['+12125550100', '+12125550101'], "
                     "ARRAY['fixed_line', 'mobile'], '" NY "', 'queued', 'sms')",
                     c, c);
    ecm_test_pg_exec(conn(f), "INSERT INTO dnc (phone, channel) VALUES ('+12125550101', 'sms')");
    int n = 0;
    ecm_gate_row *rows = run_gate(f, T("2026-03-09T12:00:00-04:00"), &n);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].action, ECM_GATE_CLOSE);
    assert_int_equal(rows[0].outcome, ECM__V1__OUTCOME__OUTCOME_INVALID_NUMBER);
    assert_int_equal(rows[1].action, ECM_GATE_CLOSE);
    assert_int_equal(rows[1].outcome, ECM__V1__OUTCOME__OUTCOME_DNC);
    ecm_gate_rows_destroy(rows, n);
}

/* The effective channel in SQL: contacts.channel, else the campaign's home
 * channel; the attempt channel of a call of an SMS campaign is voice_agent. */
static void test_gate_channel_sql_macros(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long v = campaign(f, NULL, "UTC", NULL);
    long long s =
        ecm_test_pg_int(conn(f), "INSERT INTO campaigns (name, channel, state, strategy_id, "
                                 "time_zone, sms_template) SELECT 's', 'sms', 'active', id, "
                                 "'UTC', 'hi' FROM strategies WHERE name = 'Default' RETURNING id");
    ecm_test_pg_exec(conn(f),
                     "INSERT INTO contacts (campaign_id, phones, state, channel) VALUES "
                     "(%lld, ARRAY['+12125550100'], 'queued', NULL), "
                     "(%lld, ARRAY['+12125550100'], 'queued', 'sms'), "
                     "(%lld, ARRAY['+12125550100'], 'queued', NULL), "
                     "(%lld, ARRAY['+12125550100'], 'queued', 'voice')",
                     v, v, s, s);
    PGresult *r = ecm_test_pg_query(
        conn(f),
        "SELECT string_agg(" ECM_CONTACT_CHANNEL_SQL " || '/' || " ECM_ATTEMPT_CHANNEL_SQL_OF(
            "ct", "c") ", ',' ORDER BY ct.id) "
                       "FROM contacts ct JOIN campaigns c ON c.id = ct.campaign_id");
    assert_string_equal(PQgetvalue(r, 0, 0), "voice/voice_ivr,sms/sms,sms/sms,voice/voice_agent");
    PQclear(r);
}

int main(void)
{
#define T_(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        T_(test_gate_four_cities_at_one_instant),
        T_(test_gate_legal_hours_close_at_21_local),
        T_(test_gate_follows_the_dst_change),
        T_(test_gate_zone_from_the_number_then_the_campaign),
        T_(test_gate_dnc_on_first_number_moves_to_the_second),
        T_(test_gate_campaign_dnc_list_applies_to_its_campaign_only),
        T_(test_gate_all_numbers_on_dnc_closes_dnc_with_event),
        T_(test_gate_past_end_at_closes_expired),
        T_(test_gate_sees_an_edited_campaign),
        T_(test_gate_contact_without_numbers_closes_invalid),
        T_(test_gate_unreadable_window_waits),
        T_(test_gate_rules_cap_counts_history_and_batch),
        T_(test_gate_rules_cap_does_not_count_a_withdrawn_attempt),
        T_(test_gate_rules_hours_and_blackout),
        T_(test_gate_rules_quiet_after_connected),
        T_(test_gate_rules_unreadable_wait),
        T_(test_gate_sms_channel_picks_first_unblocked_mobile),
        T_(test_gate_sms_channel_without_usable_mobile_closes),
        T_(test_gate_channel_sql_macros),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

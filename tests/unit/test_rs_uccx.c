/* rs_uccx against real databases: an ECM DB (migrations, a uccx campaign,
 * attempts) and a db_cra-like DB with dialinglist and dialinglisthistory
 * (the contract's columns) reached over ODBC through psqlODBC. Needs
 * ECM_TEST_PG_DSN; skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_odbc.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"
#include "rs_uccx.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x
#define SOURCE "uccx:db_cra"
#define TOPIC "call.results"
#define PAGE 7 /* small, so that a pass takes several pages */
/* Nothing listens here: inside this test's assigned port range. */
#define DEAD_PORT "20602"
/* 2026-12-01T10:00:00.250Z */
#define UPDATED "2026-12-01 10:00:00.25"
#define UPDATED_MS 1796119200250LL
#define CALLBACK_AT "2026-12-02 08:30:00"
#define CALLBACK_MS 1796200200000LL

typedef struct {
    ecm_test_db *ecm_db;
    ecm_test_db *sim_db;
    char odbc[1200];
    char odbc_dead[1200];
    PGconn *ecm;
    PGconn *sim;
    int64_t campaign_id;
} fixture;

static int setup(void **state)
{
    *state = NULL;
    const char *dsn = ecm_test_pg_dsn();
    if (!dsn)
        return 0;
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    *state = f;
    f->ecm_db = ecm_test_db_new_migrated("ecm_resultsync_uccx");
    f->sim_db = ecm_test_db_new("sim_resultsync_uccx");
    if (ecm_test_odbc_string(dsn, f->sim_db->name, NULL, f->odbc, sizeof(f->odbc)) != 0 ||
        ecm_test_odbc_string(dsn, f->sim_db->name, DEAD_PORT, f->odbc_dead, sizeof(f->odbc_dead)) !=
            0)
        return -1;
    f->ecm = ecm_test_pg_connect(f->ecm_db->dsn);
    f->sim = ecm_test_pg_connect(f->sim_db->dsn);
    f->campaign_id = ecm_test_pg_int(f->ecm, "INSERT INTO campaigns (name, channel, strategy_id, "
                                             "cisco_kind, cisco_campaign_id) SELECT 'uccx test', "
                                             "'voice_ivr', id, 'uccx', '7' FROM strategies "
                                             "WHERE name = 'Default' RETURNING id");
    /* db_cra's tables as the contract names them (the simulator's DDL). */
    for (int t = 0; t < 2; t++)
        ecm_test_pg_exec(f->sim,
                         "CREATE TABLE %s (dialinglistid serial, campaignid int, "
                         "accountnumber varchar(25), firstname varchar(50), lastname varchar(50), "
                         "phone01 varchar(28), phone02 varchar(28), phone03 varchar(28), "
                         "callstatus smallint, callresult smallint, lastnumberdialed smallint, "
                         "callsmadetophone01 smallint, callsmadetophone02 smallint, "
                         "callsmadetophone03 smallint, callresult01 smallint, "
                         "callresult02 smallint, callresult03 smallint, "
                         "callbackdatetime timestamp, dateadded timestamp, lastupdated timestamp)",
                         t == 0 ? "dialinglist" : "dialinglisthistory");
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    if (f->ecm)
        PQfinish(f->ecm);
    if (f->sim)
        PQfinish(f->sim);
    (void)ecm_test_db_destroy(f->ecm_db);
    (void)ecm_test_db_destroy(f->sim_db);
    free(f);
    return 0;
}

/* n new contacts, each with attempt 1 'sent' to target sent_ago before
 * now. Returns the first contact's id (ids are consecutive). */
static int64_t add_attempts(fixture *f, int n, const char *target, const char *status,
                            const char *sent_ago)
{
    int64_t before = ecm_test_pg_int(f->ecm, "SELECT coalesce(max(id), 0) FROM contacts");
    ecm_test_pg_exec(f->ecm,
                     "INSERT INTO contacts (campaign_id, phones, attempts) SELECT %lld, "
                     "ARRAY['+1555' || g], 1 FROM generate_series(1, %d) g",
                     (long long)f->campaign_id, n);
    ecm_test_pg_exec(f->ecm,
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, "
                     "phone, account_number, status, sent_at) SELECT c.id, 1, c.campaign_id, "
                     "'voice_ivr', '%s', c.phones[1], c.id || '-1', '%s', now() - interval '%s' "
                     "FROM contacts c WHERE c.id > %lld",
                     target, status, sent_ago, (long long)before);
    return before + 1;
}

/* One db_cra record in table for account contact-1. */
static void add_record(fixture *f, const char *table, int64_t contact, int status, int result,
                       int last_number, const char *callback)
{
    ecm_test_pg_exec(f->sim,
                     "INSERT INTO %s (campaignid, accountnumber, phone01, phone02, phone03, "
                     "callstatus, callresult, lastnumberdialed, callbackdatetime, dateadded, "
                     "lastupdated) VALUES (7, '%lld-1', '+1001%lld', '+1002%lld', '+1003%lld', "
                     "%d, %d, %d, %s, now(), '" UPDATED "')",
                     table, (long long)contact, (long long)contact, (long long)contact,
                     (long long)contact, status, result, last_number, callback);
}

typedef struct {
    ecm_pg *pg;
    ecm_odbc *odbc;
    rs_uccx *uccx;
    ecm_metrics *metrics;
} reader;

static void reader_start_paged(reader *r, const char *ecm_dsn, const char *odbc,
                               long history_after_s, int page, volatile sig_atomic_t *stop)
{
    r->metrics = ecm_metrics_new();
    r->pg = ecm_pg_new(ecm_dsn, stop);
    r->odbc = ecm_odbc_new(odbc, 1, "db_cra");
    assert_non_null(r->metrics);
    assert_non_null(r->pg);
    assert_non_null(r->odbc);
    rs_uccx_config cfg = {.source = SOURCE,
                          .topic = TOPIC,
                          .ce_source = "/ecm/result-sync",
                          .page_size = page,
                          .history_after_s = history_after_s};
    r->uccx = rs_uccx_new(&cfg, r->pg, r->odbc, r->metrics);
    assert_non_null(r->uccx);
}

static void reader_start(reader *r, const char *ecm_dsn, const char *odbc, long history_after_s,
                         volatile sig_atomic_t *stop)
{
    reader_start_paged(r, ecm_dsn, odbc, history_after_s, PAGE, stop);
}

static void reader_stop(reader *r)
{
    rs_uccx_destroy(r->uccx);
    ecm_odbc_destroy(r->odbc);
    ecm_pg_destroy(r->pg);
    ecm_metrics_destroy(r->metrics);
}

/* Runs one whole pass of pages of page_size (until one is not full).
 * Returns the number of outstanding attempts it went through. */
static int pass_paged(reader *r, int page_size)
{
    int total = 0;
    for (int guard = 0; guard < 1000; guard++) {
        int n = rs_uccx_page(r->uccx);
        assert_true(n >= 0);
        total += n;
        if (n < page_size)
            return total;
    }
    fail_msg("the pass does not end");
    return -1;
}

static int pass(reader *r)
{
    return pass_paged(r, PAGE);
}

static double metric(reader *r, const char *name)
{
    return ecm_metric_value(ecm_metrics_counter(r->metrics, name, "x"));
}

static int64_t outbox_count(fixture *f)
{
    return ecm_test_pg_int(f->ecm, "SELECT count(*) FROM outbox");
}

static int64_t seen_count(fixture *f)
{
    return ecm_test_pg_int(f->ecm,
                           "SELECT count(*) FROM attempts WHERE result_seen_at IS NOT NULL");
}

/* The CallResult events in the outbox, by contact id (index contact -
 * first), each checked for the fields every event must carry. */
static void load_events(fixture *f, int64_t first, int n, Ecm__V1__CallResult **by_contact)
{
    PGresult *res = PQexecParams(f->ecm, "SELECT payload, msg_key FROM outbox ORDER BY id", 0, NULL,
                                 NULL, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(res); i++) {
        Ecm__V1__CallResult *ev = ecm__v1__call_result__unpack(
            NULL, (size_t)PQgetlength(res, i, 0), (const uint8_t *)PQgetvalue(res, i, 0));
        assert_non_null(ev);
        assert_true(ev->contact_id >= first && ev->contact_id < first + n);
        assert_null(by_contact[ev->contact_id - first]); /* once */
        assert_string_equal(ev->source, SOURCE);
        assert_int_equal(ev->campaign_id, f->campaign_id);
        assert_int_equal(ev->attempt, 1);
        char account[32];
        snprintf(account, sizeof(account), "%lld-1", (long long)ev->contact_id);
        assert_string_equal(ev->account_number, account);
        assert_int_equal(strlen(ev->event_id), 36);
        by_contact[ev->contact_id - first] = ev;
    }
    PQclear(res);
}

static void free_events(Ecm__V1__CallResult **by_contact, int n)
{
    for (int i = 0; i < n; i++)
        if (by_contact[i])
            ecm__v1__call_result__free_unpacked(by_contact[i], NULL);
}

static void test_rs_uccx_parse_time(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(rs_uccx_parse_time(UPDATED, &ms), 0);
    assert_int_equal(ms, UPDATED_MS);
    assert_int_equal(rs_uccx_parse_time("2026-12-01 10:00:00", &ms), 0);
    assert_int_equal(ms, UPDATED_MS - 250);
    assert_int_equal(rs_uccx_parse_time("2026-12-01 10:00:00.123456", &ms), 0);
    assert_int_equal(ms, UPDATED_MS - 250 + 123);
    assert_int_equal(rs_uccx_parse_time(NULL, &ms), -1);
    assert_int_equal(rs_uccx_parse_time("", &ms), -1);
    assert_int_equal(rs_uccx_parse_time("2026-13-01 10:00:00", &ms), -1);
    assert_int_equal(rs_uccx_parse_time("2026-12-01 10:00:00.", &ms), -1);
    assert_int_equal(rs_uccx_parse_time("2026-12-01 10:00:00+01", &ms), -1);
}

/* Contacts 0..17 (offsets from first) carry UCCX codes 1..18 closed (13 is
 * never stored, so offset 12 stays pending); lastnumberdialed cycles 1..3.
 * Then records that are not final, and attempts that are not outstanding. */
enum { N_CODES = 18, N = 30 };

static void seed_finals(fixture *f, int64_t first)
{
    for (int i = 0; i < N_CODES; i++) {
        int code = i + 1;
        if (code == 13)
            add_record(f, "dialinglist", first + i, 1, 0, 0, "NULL");
        else if (code == 8) /* a callback UCCX did not place (closed) */
            add_record(f, "dialinglist", first + i, 3, 8, 1 + i % 3, "'" CALLBACK_AT "'");
        else
            add_record(f, "dialinglist", first + i, code == 5 ? 5 : 3, code, 1 + i % 3, "NULL");
    }
    add_record(f, "dialinglist", first + 18, 2, 0, 0, "NULL");  /* active, no result yet */
    add_record(f, "dialinglist", first + 19, 8, 11, 1, "NULL"); /* busy, retry with delay */
    add_record(f, "dialinglist", first + 20, 6, 15, 2, "NULL"); /* retry */
    add_record(f, "dialinglist", first + 21, 7, 1, 1, "NULL");  /* unknown */
    add_record(f, "dialinglist", first + 22, 3, 0, 1, "NULL");  /* closed, no result */
    /* a callback UCCX will place itself: its later result is the one */
    add_record(f, "dialinglist", first + 23, 4, 8, 1, "'" CALLBACK_AT "'");
    /* offsets 24..29: no record at all (not imported yet) */
}

static void check_final_event(const Ecm__V1__CallResult *ev, int64_t contact, int code)
{
    static const Ecm__V1__Outcome outcome[19] = {
        0,
        O(CONNECTED),
        O(FAX),
        O(ANSWERING_MACHINE),
        O(INVALID_NUMBER),
        O(DNC),
        O(WRONG_PARTY),
        O(WRONG_PARTY),
        O(CALLBACK_REQUESTED),
        O(AGENT_REJECTED),
        O(AGENT_REJECTED),
        O(BUSY),
        O(AGENT_REJECTED),
        0,
        O(NOT_ATTEMPTED),
        O(NO_ANSWER),
        O(ABANDONED),
        O(NETWORK_ERROR),
        O(ABANDONED),
    };
    assert_non_null(ev);
    assert_int_equal(ev->call_result, code);
    if (ev->outcome != outcome[code])
        fail_msg("code %d: %s", code, ecm_event_outcome_name(ev->outcome));
    assert_int_equal(ev->counts_as_attempt, !(code == 9 || code == 10 || code == 12 || code == 14));
    char phone[40];
    snprintf(phone, sizeof(phone), "+100%d%lld", 1 + (code - 1) % 3, (long long)contact);
    assert_string_equal(ev->phone, phone);
    assert_int_equal(ev->dialed_at, UPDATED_MS);
    assert_int_equal(ev->callback_at, code == 8 ? CALLBACK_MS : 0);
}

static void test_rs_uccx_emits_final_records_once(void **state)
{
    fixture *f = ecm_test_need(*state);
    int64_t first = add_attempts(f, N, "uccx:7", "sent", "1 minute");
    seed_finals(f, first);
    /* Final records whose attempts are not outstanding: another kind's
     * target, a result already handled, an attempt still 'sending'; and a
     * record that is not ECM's. */
    int64_t other = add_attempts(f, 1, "ucce_db:5002", "sent", "1 minute");
    int64_t done = add_attempts(f, 1, "uccx:7", "done", "1 minute");
    int64_t sending = add_attempts(f, 1, "uccx:7", "sending", "1 minute");
    add_record(f, "dialinglist", other, 3, 1, 1, "NULL");
    add_record(f, "dialinglist", done, 3, 1, 1, "NULL");
    add_record(f, "dialinglist", sending, 3, 1, 1, "NULL");
    ecm_test_pg_exec(f->sim, "INSERT INTO dialinglist (accountnumber, callstatus, callresult) "
                             "VALUES ('ACME-1', 3, 1)");

    volatile sig_atomic_t stop = 0;
    reader r;
    reader_start(&r, f->ecm_db->dsn, f->odbc, RS_UCCX_HISTORY_AFTER_DEFAULT_S, &stop);
    assert_int_equal(pass(&r), N);
    assert_int_equal(outbox_count(f), N_CODES - 1);
    assert_int_equal(seen_count(f), N_CODES - 1);
    assert_true(metric(&r, "ecm_resultsync_emitted_total") == N_CODES - 1);
    assert_true(metric(&r, "ecm_resultsync_unknown_call_result_total") == 0);
    /* recent attempts only: history is not asked */
    assert_true(metric(&r, "ecm_resultsync_uccx_queries_total{table=\"dialinglisthistory\"}") == 0);
    assert_true(ecm_metric_value(ecm_metrics_gauge(r.metrics, "ecm_resultsync_outstanding", "x")) ==
                N - (N_CODES - 1));
    char err[128];
    assert_int_equal(rs_uccx_ready(r.uccx, err, sizeof(err)), 0);

    Ecm__V1__CallResult *ev[N] = {0};
    load_events(f, first, N, ev);
    for (int i = 0; i < N; i++) {
        if (i < N_CODES && i + 1 != 13)
            check_final_event(ev[i], first + i, i + 1);
        else if (ev[i])
            fail_msg("offset %d emitted, its record is not final", i);
    }
    free_events(ev, N);

    /* Another pass emits nothing; a restart neither. */
    assert_int_equal(pass(&r), N - (N_CODES - 1));
    reader_stop(&r);
    reader_start(&r, f->ecm_db->dsn, f->odbc, RS_UCCX_HISTORY_AFTER_DEFAULT_S, &stop);
    assert_int_equal(pass(&r), N - (N_CODES - 1));
    assert_int_equal(outbox_count(f), N_CODES - 1);

    /* The busy retry closes as busy: emitted on the next pass, once. */
    ecm_test_pg_exec(f->sim, "UPDATE dialinglist SET callstatus = 3 WHERE accountnumber = '%lld-1'",
                     (long long)(first + 19));
    assert_int_equal(pass(&r), N - (N_CODES - 1));
    assert_int_equal(outbox_count(f), N_CODES);
    assert_int_equal(ecm_test_pg_int(f->ecm,
                                     "SELECT count(*) FROM attempts WHERE result_seen_at IS NOT "
                                     "NULL AND contact_id = %lld",
                                     (long long)(first + 19)),
                     1);
    assert_int_equal(pass(&r), N - N_CODES);
    assert_int_equal(outbox_count(f), N_CODES);
    reader_stop(&r);
}

static void test_rs_uccx_reads_history_only_for_old_attempts(void **state)
{
    fixture *f = ecm_test_need(*state);
    /* Sent two days ago: closed, then moved to history at UCCX's midnight. */
    int64_t old = add_attempts(f, 3, "uccx:7", "sent", "2 days");
    add_record(f, "dialinglisthistory", old, 3, 11, 2, "NULL");
    add_record(f, "dialinglisthistory", old + 1, 5, 15, 1, "NULL");
    /* Re-imported: final in both tables; the active table wins. */
    add_record(f, "dialinglist", old + 2, 3, 1, 3, "NULL");
    add_record(f, "dialinglisthistory", old + 2, 3, 17, 1, "NULL");
    /* Sent a minute ago: history is not asked about it. */
    int64_t recent = add_attempts(f, 1, "uccx:7", "sent", "1 minute");
    add_record(f, "dialinglisthistory", recent, 3, 2, 1, "NULL");

    volatile sig_atomic_t stop = 0;
    reader r;
    reader_start(&r, f->ecm_db->dsn, f->odbc, RS_UCCX_HISTORY_AFTER_DEFAULT_S, &stop);
    assert_int_equal(pass(&r), 4);
    assert_int_equal(outbox_count(f), 3);
    Ecm__V1__CallResult *ev[4] = {0};
    load_events(f, old, 4, ev);
    assert_non_null(ev[0]);
    assert_int_equal(ev[0]->call_result, 11);
    assert_int_equal(ev[0]->outcome, O(BUSY));
    char phone[40];
    snprintf(phone, sizeof(phone), "+1002%lld", (long long)old); /* lastnumberdialed 2 */
    assert_string_equal(ev[0]->phone, phone);
    assert_non_null(ev[1]);
    assert_int_equal(ev[1]->outcome, O(NO_ANSWER));
    assert_non_null(ev[2]);
    assert_int_equal(ev[2]->call_result, 1);
    assert_int_equal(ev[2]->outcome, O(CONNECTED));
    assert_null(ev[3]);
    free_events(ev, 4);
    assert_true(metric(&r, "ecm_resultsync_uccx_queries_total{table=\"dialinglisthistory\"}") == 1);

    /* With a threshold of 0 every outstanding attempt is old enough. */
    reader_stop(&r);
    reader_start(&r, f->ecm_db->dsn, f->odbc, 0, &stop);
    assert_int_equal(pass(&r), 1);
    assert_int_equal(outbox_count(f), 4);
    assert_int_equal(pass(&r), 0);
    reader_stop(&r);
}

/* A failure after the events were written but before the commit (here the
 * attempts' mark fails, as a crash there would end): nothing is left, and
 * the next reader emits each result once. */
static void test_rs_uccx_failure_before_commit_loses_and_doubles_nothing(void **state)
{
    fixture *f = ecm_test_need(*state);
    int64_t first = add_attempts(f, 10, "uccx:7", "sent", "1 minute");
    for (int i = 0; i < 10; i++)
        add_record(f, "dialinglist", first + i, 3, i % 2 ? 11 : 1, 1, "NULL");
    ecm_test_pg_exec(f->ecm, "CREATE FUNCTION rs_fail() RETURNS trigger LANGUAGE plpgsql AS "
                             "$$BEGIN RAISE EXCEPTION 'injected'; END$$");
    ecm_test_pg_exec(f->ecm, "CREATE TRIGGER rs_fail BEFORE UPDATE OF result_seen_at ON attempts "
                             "FOR EACH ROW EXECUTE FUNCTION rs_fail()");
    volatile sig_atomic_t stop = 0;
    reader r;
    reader_start(&r, f->ecm_db->dsn, f->odbc, RS_UCCX_HISTORY_AFTER_DEFAULT_S, &stop);
    assert_int_equal(rs_uccx_page(r.uccx), -1);
    assert_int_equal(outbox_count(f), 0);
    assert_int_equal(seen_count(f), 0);
    char err[128];
    assert_int_equal(rs_uccx_ready(r.uccx, err, sizeof(err)), -1);
    assert_true(metric(&r, "ecm_resultsync_emitted_total") == 0);
    reader_stop(&r);

    ecm_test_pg_exec(f->ecm, "DROP TRIGGER rs_fail ON attempts");
    reader_start(&r, f->ecm_db->dsn, f->odbc, RS_UCCX_HISTORY_AFTER_DEFAULT_S, &stop);
    assert_int_equal(pass(&r), 10);
    assert_int_equal(pass(&r), 0);
    assert_int_equal(outbox_count(f), 10);
    assert_int_equal(seen_count(f), 10);
    Ecm__V1__CallResult *ev[10] = {0};
    load_events(f, first, 10, ev); /* each once */
    for (int i = 0; i < 10; i++)
        assert_int_equal(ev[i]->outcome, i % 2 ? O(BUSY) : O(CONNECTED));
    free_events(ev, 10);
    assert_int_equal(rs_uccx_ready(r.uccx, err, sizeof(err)), 0);
    reader_stop(&r);
}

static void test_rs_uccx_odbc_down_is_not_ready_and_marks_nothing(void **state)
{
    fixture *f = ecm_test_need(*state);
    int64_t first = add_attempts(f, 2, "uccx:7", "sent", "1 minute");
    add_record(f, "dialinglist", first, 3, 1, 1, "NULL");
    volatile sig_atomic_t stop = 0;
    reader r;
    reader_start(&r, f->ecm_db->dsn, f->odbc_dead, RS_UCCX_HISTORY_AFTER_DEFAULT_S, &stop);
    assert_int_equal(rs_uccx_page(r.uccx), -1);
    long backoff = ecm_odbc_backoff_ms(r.odbc);
    assert_true(backoff > 0);
    assert_int_equal(rs_uccx_page(r.uccx), -1);
    assert_true(ecm_odbc_backoff_ms(r.odbc) > backoff);
    char err[128];
    assert_int_equal(rs_uccx_ready(r.uccx, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ODBC"));
    assert_int_equal(outbox_count(f), 0);
    assert_int_equal(seen_count(f), 0);
    assert_true(metric(&r, "ecm_resultsync_errors_total{kind=\"odbc\"}") == 2);
    reader_stop(&r);
}

/* db_cra failing in the middle of a page (its table is gone): the ECM
 * transaction is rolled back, nothing is marked, not ready. */
static void test_rs_uccx_query_failure_rolls_back(void **state)
{
    fixture *f = ecm_test_need(*state);
    int64_t first = add_attempts(f, 2, "uccx:7", "sent", "1 minute");
    add_record(f, "dialinglist", first, 3, 1, 1, "NULL");
    ecm_test_pg_exec(f->sim, "ALTER TABLE dialinglist RENAME TO dialinglist_gone");
    volatile sig_atomic_t stop = 0;
    reader r;
    reader_start(&r, f->ecm_db->dsn, f->odbc, RS_UCCX_HISTORY_AFTER_DEFAULT_S, &stop);
    assert_int_equal(rs_uccx_page(r.uccx), -1);
    char err[128];
    assert_int_equal(rs_uccx_ready(r.uccx, err, sizeof(err)), -1);
    assert_int_equal(outbox_count(f), 0);
    assert_int_equal(seen_count(f), 0);
    /* The attempts' row locks went with the rollback. */
    assert_int_equal(ecm_test_pg_int(f->ecm, "SELECT count(*) FROM (SELECT 1 FROM attempts "
                                             "FOR UPDATE NOWAIT) x"),
                     2);
    ecm_test_pg_exec(f->sim, "ALTER TABLE dialinglist_gone RENAME TO dialinglist");
    assert_int_equal(pass(&r), 2);
    assert_int_equal(outbox_count(f), 1);
    assert_int_equal(rs_uccx_ready(r.uccx, err, sizeof(err)), 0);
    reader_stop(&r);
}

static void test_rs_uccx_ecm_db_down_is_not_ready(void **state)
{
    fixture *f = ecm_test_need(*state);
    char dead[sizeof f->ecm_db->dsn + 16];
    snprintf(dead, sizeof(dead), "%s port=" DEAD_PORT, f->ecm_db->dsn);
    volatile sig_atomic_t stop = 0;
    reader r;
    reader_start(&r, dead, f->odbc, RS_UCCX_HISTORY_AFTER_DEFAULT_S, &stop);
    assert_int_equal(rs_uccx_page(r.uccx), -1);
    char err[128];
    assert_int_equal(rs_uccx_ready(r.uccx, err, sizeof(err)), -1);
    assert_true(metric(&r, "ecm_resultsync_errors_total{kind=\"db\"}") >= 1);
    reader_stop(&r);
}

static void test_rs_uccx_run_returns_on_stop(void **state)
{
    fixture *f = ecm_test_need(*state);
    volatile sig_atomic_t stop = 1;
    reader r;
    reader_start(&r, f->ecm_db->dsn, f->odbc, RS_UCCX_HISTORY_AFTER_DEFAULT_S, &stop);
    assert_int_equal(rs_uccx_run(r.uccx, 10, &stop), 0);
    reader_stop(&r);
}

/* Pages of 1,000 and lookups in chunks: every final record of 5,000
 * outstanding attempts is found whatever chunk it falls in. */
static void test_rs_uccx_big_pass_finds_every_final_record(void **state)
{
    fixture *f = ecm_test_need(*state);
    enum { BIG = 5000, BIG_PAGE = 1000 };
    int64_t first = add_attempts(f, BIG, "uccx:7", "sent", "1 minute");
    /* even offsets closed busy (11), odd ones pending */
    ecm_test_pg_exec(f->sim,
                     "INSERT INTO dialinglist (campaignid, accountnumber, phone01, callstatus, "
                     "callresult, lastnumberdialed, lastupdated) SELECT 7, (%lld + g) || '-1', "
                     "'+1', CASE WHEN g %% 2 = 0 THEN 3 ELSE 1 END, "
                     "CASE WHEN g %% 2 = 0 THEN 11 ELSE 0 END, 1, now() "
                     "FROM generate_series(0, %d) g",
                     (long long)first, BIG - 1);
    volatile sig_atomic_t stop = 0;
    reader r;
    reader_start_paged(&r, f->ecm_db->dsn, f->odbc, RS_UCCX_HISTORY_AFTER_DEFAULT_S, BIG_PAGE,
                       &stop);
    int64_t t0 = ecm_clock_mono_ms();
    assert_int_equal(pass_paged(&r, BIG_PAGE), BIG);
    int64_t t1 = ecm_clock_mono_ms();
    assert_int_equal(outbox_count(f), BIG / 2);
    assert_int_equal(ecm_test_pg_int(f->ecm,
                                     "SELECT count(*) FROM attempts WHERE result_seen_at IS NOT "
                                     "NULL AND (contact_id - %lld) %% 2 = 0",
                                     (long long)first),
                     BIG / 2);
    /* 5 pages, each 1,000 accounts in chunks of 200 */
    assert_true(metric(&r, "ecm_resultsync_uccx_queries_total{table=\"dialinglist\"}") == 25);
    assert_int_equal(pass_paged(&r, BIG_PAGE), BIG / 2);
    int64_t t2 = ecm_clock_mono_ms();
    /* A figure, not an assertion. */
    print_message("uccx pass: %d outstanding, %d emitted in %lld ms; next pass %d in %lld ms\n",
                  BIG, BIG / 2, (long long)(t1 - t0), BIG / 2, (long long)(t2 - t1));
    reader_stop(&r);
}

int main(void)
{
    ecm_log_init("test_rs_uccx", ECM_LOG_ERROR);
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_rs_uccx_parse_time),
    };
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test_setup_teardown(test_rs_uccx_emits_final_records_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rs_uccx_reads_history_only_for_old_attempts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_rs_uccx_failure_before_commit_loses_and_doubles_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rs_uccx_odbc_down_is_not_ready_and_marks_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rs_uccx_query_failure_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rs_uccx_ecm_db_down_is_not_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rs_uccx_run_returns_on_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rs_uccx_big_pass_finds_every_final_record, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests_name("rs_uccx", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("rs_uccx_db", with_db, NULL, NULL);
    return failed;
}

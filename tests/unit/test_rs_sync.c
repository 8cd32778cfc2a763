/* rs_sync against real databases: an ECM DB (migrations, campaign, contacts,
 * attempts) and a Cisco-like DB with Dialer_Detail reached over ODBC through
 * psqlODBC. Needs ECM_TEST_PG_DSN; skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"
#include "rs_odbc.h"
#include "rs_sync.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x
#define SOURCE "ucce:Dialer_Detail"
#define TOPIC "call.results"
#define PAGE 1000
/* Nothing listens here: inside this test's assigned port range. */
#define DEAD_PORT "20601"

/* Dialer_Detail row g (1-based) has RecoveryKey 100 + 2g; rows 1..2000 are
 * ECM's attempts, 2001..2500 foreign: by g % 4, 0 "ACME-g" (not ours in form),
 * 1 "999999g-1" (ours in form, no attempts row), 2 NULL, 3 "". */
#define OURS 2000
#define ROWS 2500
#define FOREIGN_FORM 375
#define FOREIGN_ATTEMPT 125
#define KEY(g) (100 + 2 * (int64_t)(g))

typedef struct {
    ecm_test_db *ecm_db; /* migrated: ECM's schema */
    ecm_test_db *sim_db; /* the Cisco side, reached over ODBC */
    char odbc[1200];
    char odbc_dead[1200];
    PGconn *ecm;
    PGconn *sim;
    int64_t campaign_id;
    int64_t first_contact;
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
    f->ecm_db = ecm_test_db_new_migrated("ecm_resultsync_sync");
    f->sim_db = ecm_test_db_new("sim_resultsync_sync");
    if (ecm_test_odbc_string(dsn, f->sim_db->name, NULL, f->odbc, sizeof(f->odbc)) != 0 ||
        ecm_test_odbc_string(dsn, f->sim_db->name, DEAD_PORT, f->odbc_dead, sizeof(f->odbc_dead)) !=
            0)
        return -1;
    f->ecm = ecm_test_pg_connect(f->ecm_db->dsn);
    f->sim = ecm_test_pg_connect(f->sim_db->dsn);

    f->campaign_id = ecm_test_pg_int(f->ecm, "INSERT INTO campaigns (name, channel, strategy_id, "
                                             "cisco_kind, cisco_campaign_id) SELECT 'rs test', "
                                             "'voice_ivr', id, 'uccx', '42' FROM strategies "
                                             "WHERE name = 'Default' RETURNING id");
    ecm_test_pg_exec(f->ecm,
                     "INSERT INTO contacts (campaign_id, phones, attempts) SELECT %lld, "
                     "ARRAY['+1555' || g], 2 FROM generate_series(1, %d) g",
                     (long long)f->campaign_id, OURS / 2);
    f->first_contact = ecm_test_pg_int(f->ecm, "SELECT min(id) FROM contacts");
    ecm_test_pg_exec(
        f->ecm, "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone, "
                "account_number, status) SELECT c.id, n, c.campaign_id, 'voice_ivr', 'uccx:42', "
                "c.phones[1], c.id || '-' || n, 'sent' FROM contacts c, generate_series(1, 2) n");

    /* The simulator's DDL: unquoted identifiers, as on SQL Server. */
    ecm_test_pg_exec(f->sim,
                     "CREATE TABLE Dialer_Detail (RecoveryKey bigint PRIMARY KEY, "
                     "DateTime timestamp, CampaignID int, CallResult int, CallResultDetail int, "
                     "CallStatusZone1 char(1), Phone varchar(20), AccountNumber varchar(30), "
                     "DialingMode int, CallGUID varchar(32), CallDuration int, "
                     "AgentPeripheralNumber varchar(32), CallbackDateTime timestamp)");
    /* Row g of ours is contact first + (g-1)/2, attempt 1 + (g-1)%2; codes
     * cycle through 2..33, and row 50 carries a code nobody knows. */
    ecm_test_pg_exec(f->sim,
                     "INSERT INTO Dialer_Detail SELECT 100 + 2 * g, "
                     "timestamp '2026-01-02 03:04:05.678' + g * interval '1 second', 42, "
                     "CASE WHEN g = 50 THEN 99 ELSE 2 + g %% 32 END, g, 'C', '+1555' || g, "
                     "CASE WHEN g <= %d THEN (%lld + (g - 1) / 2) || '-' || (1 + (g - 1) %% 2) "
                     "WHEN g %% 4 = 0 THEN 'ACME-' || g WHEN g %% 4 = 1 THEN '999999' || g || '-1' "
                     "WHEN g %% 4 = 2 THEN NULL ELSE '' END, "
                     "1, md5(g::text), g %% 300 FROM generate_series(1, %d) g",
                     OURS, (long long)f->first_contact, ROWS);
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

/* The Logger's zone syncer_start() gives (NULL: the default, UTC). */
static const char *logger_zone;

/* A freshly started result-sync: new handles, nothing carried over. */
typedef struct {
    ecm_pg *pg;
    rs_odbc *odbc;
    rs_sync *sync;
    ecm_metrics *metrics;
} syncer;

static void syncer_start(syncer *s, const char *ecm_dsn, const char *odbc,
                         volatile sig_atomic_t *stop)
{
    s->metrics = ecm_metrics_new();
    s->pg = ecm_pg_new(ecm_dsn, stop);
    s->odbc = rs_odbc_new(odbc, "Dialer_Detail", PAGE);
    assert_non_null(s->metrics);
    assert_non_null(s->pg);
    assert_non_null(s->odbc);
    rs_sync_config cfg = {.source = SOURCE,
                          .topic = TOPIC,
                          .ce_source = "/ecm/result-sync",
                          .page_size = PAGE,
                          .logger_zone = logger_zone};
    s->sync = rs_sync_new(&cfg, s->pg, s->odbc, s->metrics);
    assert_non_null(s->sync);
}

static void syncer_stop(syncer *s)
{
    rs_sync_destroy(s->sync);
    rs_odbc_destroy(s->odbc);
    ecm_pg_destroy(s->pg);
    ecm_metrics_destroy(s->metrics);
}

static double metric(syncer *s, const char *name)
{
    return ecm_metric_value(ecm_metrics_counter(s->metrics, name, "x"));
}

static int64_t outbox_count(fixture *f)
{
    return ecm_test_pg_int(f->ecm, "SELECT count(*) FROM outbox");
}

static int64_t watermark(fixture *f)
{
    return ecm_test_pg_int(f->ecm, "SELECT coalesce((SELECT position FROM sync_watermarks "
                                   "WHERE source = '" SOURCE "'), -1)");
}

/* Reads every outbox row's CallResult; calls check(ev, ctx) for each. */
static void for_each_event(fixture *f, const char *where,
                           void (*check)(const Ecm__V1__CallResult *, PGresult *, int, void *),
                           void *ctx)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT payload, topic, msg_key, ce_type, ce_source FROM outbox %s ORDER BY id",
             where);
    /* binary results: the payload as raw bytes */
    PGresult *res = PQexecParams(f->ecm, sql, 0, NULL, NULL, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(res); i++) {
        Ecm__V1__CallResult *ev = ecm__v1__call_result__unpack(
            NULL, (size_t)PQgetlength(res, i, 0), (const uint8_t *)PQgetvalue(res, i, 0));
        assert_non_null(ev);
        check(ev, res, i, ctx);
        ecm__v1__call_result__free_unpacked(ev, NULL);
    }
    PQclear(res);
}

typedef struct {
    fixture *f;
    int64_t min_key;
    int seen;
    unsigned char *keys_seen; /* by g */
} check_ctx;

static void check_event(const Ecm__V1__CallResult *ev, PGresult *res, int row, void *vctx)
{
    check_ctx *c = vctx;
    char key[32];
    assert_string_equal(PQgetvalue(res, row, 1), TOPIC);
    snprintf(key, sizeof(key), "%lld", (long long)ev->contact_id);
    assert_string_equal(PQgetvalue(res, row, 2), key);
    assert_string_equal(PQgetvalue(res, row, 3), "ecm.v1.CallResult");
    assert_string_equal(PQgetvalue(res, row, 4), "/ecm/result-sync");
    assert_true(ev->recovery_key > c->min_key);
    assert_int_equal(ev->campaign_id, c->f->campaign_id);
    assert_string_equal(ev->source, SOURCE);
    char account[32];
    snprintf(account, sizeof(account), "%lld-%d", (long long)ev->contact_id, ev->attempt);
    assert_string_equal(ev->account_number, account);
    assert_int_equal(strlen(ev->event_id), 36);
    c->seen++;
    if (ev->recovery_key > KEY(ROWS))
        return;
    int64_t g = (ev->recovery_key - 100) / 2;
    assert_true(g >= 1 && g <= OURS);
    assert_int_equal(c->keys_seen[g], 0); /* each row once */
    c->keys_seen[g] = 1;
    assert_int_equal(ev->contact_id, c->f->first_contact + (g - 1) / 2);
    assert_int_equal(ev->attempt, 1 + (g - 1) % 2);
    assert_int_equal(ev->call_result_detail, g);
    assert_int_equal(ev->duration_s, g % 300);
    /* 2026-01-02T03:04:05.678Z is 1767323045678 ms */
    assert_int_equal(ev->dialed_at, 1767323045678LL + g * 1000);
    char phone[32];
    snprintf(phone, sizeof(phone), "+1555%lld", (long long)g);
    assert_string_equal(ev->phone, phone);
    assert_int_equal(strlen(ev->call_guid), 32);
    if (g == 50) {
        assert_int_equal(ev->call_result, 99);
        assert_int_equal(ev->outcome, O(NETWORK_ERROR));
    } else {
        assert_int_equal(ev->call_result, 2 + g % 32);
    }
    if (ev->call_result == 25) {
        assert_int_equal(ev->outcome, O(NOT_ATTEMPTED));
        assert_false(ev->counts_as_attempt);
    } else {
        assert_true(ev->counts_as_attempt);
    }
    if (ev->call_result == 9)
        assert_int_equal(ev->outcome, O(BUSY));
    if (ev->call_result == 10)
        assert_int_equal(ev->outcome, O(CONNECTED));
}

static void test_rs_sync_emits_our_rows_once_and_resumes_after_restart(void **state)
{
    fixture *f = ecm_test_need(*state);
    volatile sig_atomic_t stop = 0;
    syncer s;
    syncer_start(&s, f->ecm_db->dsn, f->odbc, &stop);

    assert_int_equal(rs_sync_page(s.sync), PAGE);
    assert_int_equal(watermark(f), KEY(PAGE));
    assert_int_equal(rs_sync_page(s.sync), PAGE);
    assert_int_equal(rs_sync_page(s.sync), ROWS - 2 * PAGE);
    assert_int_equal(rs_sync_page(s.sync), 0);

    assert_int_equal(outbox_count(f), OURS);
    assert_int_equal(watermark(f), KEY(ROWS));
    assert_int_equal(rs_sync_watermark(s.sync), KEY(ROWS));
    assert_true(metric(&s, "ecm_resultsync_rows_total") == ROWS);
    assert_true(metric(&s, "ecm_resultsync_emitted_total") == OURS);
    assert_true(metric(&s, "ecm_resultsync_skipped_total{reason=\"foreign_account_number\"}") ==
                FOREIGN_FORM);
    assert_true(metric(&s, "ecm_resultsync_skipped_total{reason=\"unknown_attempt\"}") ==
                FOREIGN_ATTEMPT);
    assert_true(metric(&s, "ecm_resultsync_unknown_call_result_total") == 1);
    assert_true(ecm_metric_value(ecm_metrics_gauge(s.metrics, "ecm_resultsync_watermark", "x")) ==
                (double)KEY(ROWS));
    char err[128];
    assert_int_equal(rs_sync_ready(s.sync, err, sizeof(err)), 0);

    check_ctx ctx = {.f = f, .min_key = 0, .keys_seen = calloc(OURS + 1, 1)};
    assert_non_null(ctx.keys_seen);
    for_each_event(f, "", check_event, &ctx);
    assert_int_equal(ctx.seen, OURS);
    for (int g = 1; g <= OURS; g++)
        assert_int_equal(ctx.keys_seen[g], 1);
    free(ctx.keys_seen);

    /* Nothing new: another pass emits nothing. */
    assert_int_equal(rs_sync_page(s.sync), 0);
    assert_int_equal(outbox_count(f), OURS);
    syncer_stop(&s);

    /* New results arrive while we are down: 10 ours (third attempts of the
     * first 10 contacts), 20 foreign. A restart emits only those. */
    ecm_test_pg_exec(f->ecm,
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                     "account_number) SELECT id, 3, campaign_id, 'voice_ivr', phones[1], id || "
                     "'-3' FROM contacts ORDER BY id LIMIT 10");
    ecm_test_pg_exec(f->sim,
                     "INSERT INTO Dialer_Detail SELECT 10000 + g, now(), 42, 10, 0, 'C', '+1', "
                     "CASE WHEN g <= 10 THEN (%lld + g - 1) || '-3' ELSE 'X' || g END, "
                     "1, 'guid', 5 FROM generate_series(1, 30) g",
                     (long long)f->first_contact);

    syncer_start(&s, f->ecm_db->dsn, f->odbc, &stop);
    assert_int_equal(rs_sync_page(s.sync), 30);
    assert_int_equal(rs_sync_page(s.sync), 0);
    assert_int_equal(outbox_count(f), OURS + 10);
    assert_int_equal(watermark(f), 10030);
    check_ctx late = {.f = f, .min_key = KEY(ROWS)};
    for_each_event(f, "WHERE id > (SELECT max(id) - 10 FROM outbox)", check_event, &late);
    assert_int_equal(late.seen, 10);
    assert_int_equal(ecm_test_pg_int(f->ecm, "SELECT count(*) FROM outbox WHERE msg_key::bigint < "
                                             "(SELECT min(id) FROM contacts)"),
                     0);
    syncer_stop(&s);
}

typedef struct {
    char account[32];
    int seen, others;
} pcb_ctx;

static void check_pcb_event(const Ecm__V1__CallResult *ev, PGresult *res, int row, void *vctx)
{
    (void)res;
    (void)row;
    pcb_ctx *c = vctx;
    if (strcmp(ev->account_number, c->account) != 0) {
        /* Rows without the columns carry neither. */
        assert_string_equal(ev->agent_id, "");
        assert_int_equal(ev->callback_at, 0);
        c->others++;
        return;
    }
    c->seen++;
    assert_string_equal(ev->agent_id, "1001");
    /* 02:30 on the night New York springs forward: read with the offset
     * before the change (EST), 07:30 UTC. */
    assert_int_equal(ev->callback_at, 1772955000000LL);
}

/* A personal callback's agent and time reach the event, the time turned
 * from the Logger's zone into UTC. Runs after the first test (shared
 * fixture): one new row after the watermark. */
static void test_rs_sync_personal_callback_agent_and_time(void **state)
{
    fixture *f = ecm_test_need(*state);
    ecm_test_pg_exec(f->ecm,
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                     "account_number) SELECT id, 4, campaign_id, 'voice_ivr', phones[1], id || "
                     "'-4' FROM contacts ORDER BY id LIMIT 1");
    ecm_test_pg_exec(f->sim,
                     "INSERT INTO Dialer_Detail VALUES (15000, now(), 42, 14, 0, 'B', '+1', "
                     "'%lld-4', 1, 'guid', 5, '1001', '2026-03-08 02:30:00')",
                     (long long)f->first_contact);
    volatile sig_atomic_t stop = 0;
    syncer s;
    logger_zone = "America/New_York";
    syncer_start(&s, f->ecm_db->dsn, f->odbc, &stop);
    logger_zone = NULL;
    int64_t before = outbox_count(f);
    assert_int_equal(rs_sync_page(s.sync), 1);
    assert_int_equal(outbox_count(f), before + 1);
    pcb_ctx c;
    memset(&c, 0, sizeof c);
    snprintf(c.account, sizeof c.account, "%lld-4", (long long)f->first_contact);
    for_each_event(f, "WHERE id > (SELECT max(id) - 11 FROM outbox)", check_pcb_event, &c);
    assert_int_equal(c.seen, 1);
    assert_int_equal(c.others, 10); /* the 10 rows of the first test's restart */
    syncer_stop(&s);
}

static void test_rs_sync_failed_outbox_write_commits_nothing(void **state)
{
    fixture *f = ecm_test_need(*state);
    int64_t before_outbox = outbox_count(f);
    int64_t before_mark = watermark(f);
    ecm_test_pg_exec(f->sim,
                     "INSERT INTO Dialer_Detail VALUES (20000, now(), 42, 9, 0, 'C', '+1', "
                     "(SELECT min(AccountNumber) FROM Dialer_Detail WHERE RecoveryKey = 102), "
                     "1, 'g', 1)");
    /* The 1st outbox insert of the page fails: the page must leave no trace. */
    ecm_test_pg_exec(f->ecm, "CREATE FUNCTION rs_fail() RETURNS trigger LANGUAGE plpgsql AS "
                             "$$BEGIN RAISE EXCEPTION 'injected'; END$$");
    ecm_test_pg_exec(f->ecm, "CREATE TRIGGER rs_fail BEFORE INSERT ON outbox FOR EACH ROW "
                             "EXECUTE FUNCTION rs_fail()");
    volatile sig_atomic_t stop = 0;
    syncer s;
    syncer_start(&s, f->ecm_db->dsn, f->odbc, &stop);
    assert_int_equal(rs_sync_page(s.sync), -1);
    assert_int_equal(outbox_count(f), before_outbox);
    assert_int_equal(watermark(f), before_mark);
    char err[128];
    assert_int_equal(rs_sync_ready(s.sync, err, sizeof(err)), -1);

    ecm_test_pg_exec(f->ecm, "DROP TRIGGER rs_fail ON outbox");
    assert_int_equal(rs_sync_page(s.sync), 1);
    assert_int_equal(outbox_count(f), before_outbox + 1);
    assert_int_equal(watermark(f), 20000);
    assert_int_equal(rs_sync_ready(s.sync, err, sizeof(err)), 0);
    syncer_stop(&s);
}

static void test_rs_sync_odbc_down_is_not_ready_and_skips_nothing(void **state)
{
    fixture *f = ecm_test_need(*state);
    int64_t before_outbox = outbox_count(f);
    int64_t before_mark = watermark(f);
    volatile sig_atomic_t stop = 0;
    syncer s;
    syncer_start(&s, f->ecm_db->dsn, f->odbc_dead, &stop);
    assert_int_equal(rs_sync_page(s.sync), -1);
    long first = rs_odbc_backoff_ms(s.odbc);
    assert_true(first > 0);
    assert_int_equal(rs_sync_page(s.sync), -1);
    assert_true(rs_odbc_backoff_ms(s.odbc) > first);
    char err[128];
    assert_int_equal(rs_sync_ready(s.sync, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ODBC"));
    assert_int_equal(outbox_count(f), before_outbox);
    assert_int_equal(watermark(f), before_mark);
    assert_true(metric(&s, "ecm_resultsync_errors_total{kind=\"odbc\"}") == 2);
    syncer_stop(&s);
}

static void test_rs_sync_ecm_db_down_is_not_ready(void **state)
{
    fixture *f = ecm_test_need(*state);
    char dead[sizeof f->ecm_db->dsn + 16];
    snprintf(dead, sizeof(dead), "%s port=" DEAD_PORT, f->ecm_db->dsn);
    volatile sig_atomic_t stop = 0;
    syncer s;
    syncer_start(&s, dead, f->odbc, &stop);
    assert_int_equal(rs_sync_page(s.sync), -1);
    char err[128];
    assert_int_equal(rs_sync_ready(s.sync, err, sizeof(err)), -1);
    assert_true(metric(&s, "ecm_resultsync_errors_total{kind=\"db\"}") >= 1);
    syncer_stop(&s);
}

static void test_rs_sync_run_returns_on_stop(void **state)
{
    fixture *f = ecm_test_need(*state);
    volatile sig_atomic_t stop = 1;
    syncer s;
    syncer_start(&s, f->ecm_db->dsn, f->odbc, &stop);
    assert_int_equal(rs_sync_run(s.sync, 10, &stop), 0);
    syncer_stop(&s);
}

int main(void)
{
    ecm_log_init("test_rs_sync", ECM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs_sync_emits_our_rows_once_and_resumes_after_restart),
        cmocka_unit_test(test_rs_sync_personal_callback_agent_and_time),
        cmocka_unit_test(test_rs_sync_failed_outbox_write_commits_nothing),
        cmocka_unit_test(test_rs_sync_odbc_down_is_not_ready_and_skips_nothing),
        cmocka_unit_test(test_rs_sync_ecm_db_down_is_not_ready),
        cmocka_unit_test(test_rs_sync_run_returns_on_stop),
    };
    return cmocka_run_group_tests_name("rs_sync", tests, setup, teardown);
}

/* Pause and stop that reach the dialer (fd_withdraw): against a scratch ECM
 * database, a Cisco-shaped scratch database read over psqlODBC (db_cra's
 * dialinglist, an import table, a dialing list, Dialer_Detail) and a fake
 * UCCX / Outbound API that deletes what it holds undialled. Each interface's
 * withdrawal (UCCX DELETE contacts and Outbound API DELETE import only when
 * the target is not shared with an active campaign; ucce_db rows not yet
 * imported, shared or not), the decision after it (dialled records stay,
 * the others are withdrawn and their contacts queued again, uncounted),
 * failures that decide nothing, and a resume that sends each withdrawn
 * contact once more under a new account number. Needs ECM_TEST_PG_DSN;
 * skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ecm_gate.h"
#include "ecm_metrics.h"
#include "ecm_odbc.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"
#include "fd_test_support.h"
#include "fd_dispatch.h"
#include "fd_feeder.h"
#include "fd_ucce_api.h"
#include "fd_ucce_db.h"
#include "fd_withdraw.h"
#include "fd_writer.h"
#include "test_fd_fake_uccx.h"

/* Ports of this binary, inside the feeder's 20500-20599. */
#define PORT_LO 20560
#define PORT_HI 20569
#define MIDDAY "2026-03-09T12:00:00Z"

typedef struct {
    ecm_test_db *db;    /* ECM */
    ecm_test_db *cisco; /* the Logger/HDS and db_cra shapes */
    ecm_pg *pg;
    PGconn *cpg;
    char odbc[1200];
    fake_uccx *fake;
    ecm_metrics *metrics;
    fd_ctx ctx;
} fixture;

#define q_int(f, ...) ecm_test_pg_int(ecm_pg_conn((f)->pg), __VA_ARGS__)
#define q_cmd(f, ...) ecm_test_pg_exec(ecm_pg_conn((f)->pg), __VA_ARGS__)
#define c_int(f, ...) ecm_test_pg_int((f)->cpg, __VA_ARGS__)
#define c_cmd(f, ...) ecm_test_pg_exec((f)->cpg, __VA_ARGS__)

static const char CISCO_TABLES[] =
    "CREATE TABLE Import_5002 (AccountNumber varchar(30) NOT NULL, FirstName varchar(50), "
    "LastName varchar(50), Phone01 varchar(20), Phone02 varchar(20), Phone03 varchar(20), "
    "Phone04 varchar(20), Phone05 varchar(20), Phone06 varchar(20), Phone07 varchar(20), "
    "Phone08 varchar(20), Phone09 varchar(20), Phone10 varchar(20), TimeZoneBias integer, "
    "DstObserved smallint);"
    "CREATE TABLE Dialer_Detail (RecoveryKey serial, CampaignID integer, "
    "AccountNumber varchar(30), CallResult smallint);"
    "CREATE TABLE dialinglist (dialinglistid serial, campaignid integer, "
    "accountnumber varchar(25), callstatus smallint);"
    "CREATE TABLE dialinglisthistory (dialinglistid integer, campaignid integer, "
    "accountnumber varchar(25), callstatus smallint)";

static int group_setup(void **state)
{
    *state = NULL;
    const char *dsn = ecm_test_pg_dsn();
    if (!dsn)
        return 0;
    setenv("ECM_CLOCK_FIXED", MIDDAY, 1);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->db = ecm_test_db_new_migrated("ecm_fd_withdraw");
    f->cisco = ecm_test_db_new("fd_withdraw_cisco");
    assert_int_equal(ecm_test_odbc_string(dsn, f->cisco->name, NULL, f->odbc, sizeof f->odbc), 0);
    f->pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(f->pg);
    f->cpg = ecm_test_pg_connect(f->cisco->dsn);
    c_cmd(f, "%s", CISCO_TABLES);
    f->fake = fake_start(PORT_LO, PORT_HI);
    assert_non_null(f->fake);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    fake_stop(f->fake);
    PQfinish(f->cpg);
    ecm_pg_destroy(f->pg);
    (void)ecm_test_db_destroy(f->db);
    (void)ecm_test_db_destroy(f->cisco);
    free(f);
    return 0;
}

static int test_setup(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    q_cmd(f, "TRUNCATE attempts, outbox, contacts, uploads, dnc, campaigns RESTART IDENTITY "
             "CASCADE");
    c_cmd(f, "TRUNCATE Import_5002, Dialer_Detail, dialinglist, dialinglisthistory;"
             "DROP TABLE IF EXISTS DL_5002_1");
    fake_reset(f->fake);
    f->metrics = ecm_metrics_new();
    f->ctx = (fd_ctx){
        .pg = f->pg,
        .opt =
            {
                .topic_dispatched = "contacts.dispatched",
                .source = "/ecm/feeder",
                .batch = 500,
                .capacity = 10000,
                .reconcile_after_s = 30,
                .reconcile_every_ms = 5000,
            },
    };
    char url[64];
    fake_url(f->fake, url, sizeof url);
    f->ctx.writers[FD_KIND_UCCX] =
        fd_writer_uccx_new(fd_uccx_new(url, FAKE_UCCX_USER, FAKE_UCCX_PASSWORD, 2000),
                           ecm_odbc_new(f->odbc, 1, "db_cra"));
    f->ctx.writers[FD_KIND_UCCE_API] =
        fd_ucce_api_writer_new(fd_uccx_new(url, FAKE_UCCX_USER, FAKE_UCCX_PASSWORD, 2000),
                               ecm_odbc_new(f->odbc, 1, "HDS"), "Dialer_Detail");
    f->ctx.writers[FD_KIND_UCCE_DB] =
        fd_ucce_db_writer_new(ecm_odbc_new(f->odbc, 0, "Logger"), "Dialer_Detail");
    for (int k = 0; k < FD_KIND_N; k++)
        assert_non_null(f->ctx.writers[k]);
    fd_test_ctx_arm(&f->ctx, f->metrics);
    return 0;
}

static int test_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    fd_test_ctx_release(&f->ctx);
    ecm_metrics_destroy(f->metrics);
    return 0;
}

#define NEED_DB(f) ((void)ecm_test_need(f))

/* An active campaign of kind on cisco_id with n queued contacts, all of
 * them dispatched (their attempts 'sent'). Returns the campaign id. */
static long long seed_sent(fixture *f, const char *kind, const char *cisco_id, int n)
{
    long long id = q_int(f,
                         "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind, "
                         "cisco_campaign_id, cisco_import_table) SELECT 'c', 'voice_ivr', "
                         "'active', id, '%s', '%s', %s FROM strategies WHERE name = 'Default' "
                         "RETURNING id",
                         kind, cisco_id, strcmp(kind, "ucce_db") == 0 ? "'Import_5002'" : "NULL");
    q_cmd(f,
          "INSERT INTO contacts (campaign_id, first_name, last_name, phones, state) "
          "SELECT %lld, 'First' || g, 'Last' || g, ARRAY['+1555000' || lpad(g::text, 4, '0')], "
          "'queued' FROM generate_series(1, %d) g",
          id, n);
    char target[64];
    snprintf(target, sizeof target, "%s:%s", kind, cisco_id);
    fd_kind k;
    assert_int_equal(fd_kind_parse(kind, strlen(kind), &k), 0);
    size_t sent = 0;
    assert_int_equal(fd_dispatch_target(&f->ctx, k, cisco_id, &sent, NULL), 0);
    assert_int_equal(sent, (size_t)n);
    return id;
}

static void set_state(fixture *f, long long campaign, const char *state)
{
    q_cmd(f, "UPDATE campaigns SET state = '%s' WHERE id = %lld", state, campaign);
}

static double metric(fixture *f, const char *name)
{
    return ecm_metric_value(ecm_metrics_counter(f->metrics, name, "x"));
}

/* The count of campaign's attempts in status (and kept when kept >= 0). */
static long long attempts_in(fixture *f, long long campaign, const char *status, int kept)
{
    return q_int(f,
                 "SELECT count(*) FROM attempts WHERE campaign_id = %lld AND status = '%s' "
                 "AND (%d < 0 OR withdraw_kept = (%d = 1))",
                 campaign, status, kept, kept);
}

static void test_uccx_sole_campaign_withdraws_undialled_then_resends_on_resume(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = seed_sent(f, "uccx", "7", 10);
    assert_int_equal(f->fake->n, 10);
    /* UCCX dialled contacts 1-3 before the delete: db_cra has them. */
    c_cmd(f, "INSERT INTO dialinglist (campaignid, accountnumber, callstatus) "
             "VALUES (7, '1-1', 3), (7, '2-1', 2), (8, '3-1', 3)");
    c_cmd(f, "INSERT INTO dialinglisthistory (campaignid, accountnumber, callstatus) "
             "VALUES (7, '3-1', 3)");
    /* Active: nothing is withdrawn. */
    size_t gone = 99, kept = 99;
    assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), 0);
    assert_int_equal(gone + kept, 0);
    assert_int_equal(f->fake->deletes, 0);

    set_state(f, c, "paused");
    assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), 0);
    assert_int_equal(f->fake->deletes, 1);
    assert_int_equal(gone, 7);
    assert_int_equal(kept, 3);
    assert_int_equal(attempts_in(f, c, "withdrawn", 0), 7);
    assert_int_equal(attempts_in(f, c, "sent", 1), 3);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent' AND "
                              "account_number IN ('1-1', '2-1', '3-1')"),
                     3);
    /* Back in the queue, attempts counter kept, nothing counted. */
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued' AND "
                              "attempts = 1 AND counted_attempts = 0"),
                     7);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'dispatched'"), 3);
    assert_int_equal(metric(f, "ecm_feeder_withdrawals_total{kind=\"uccx\",result=\"withdrawn\"}"),
                     7);
    assert_int_equal(metric(f, "ecm_feeder_withdrawals_total{kind=\"uccx\",result=\"kept\"}"), 3);

    /* Idempotent: looked at once, nothing asked again. */
    assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), 0);
    assert_int_equal(gone + kept, 0);
    assert_int_equal(f->fake->deletes, 1);

    /* Resume: each withdrawn contact is sent once more, on a new account. */
    set_state(f, c, "active");
    size_t sent = 0;
    assert_int_equal(fd_dispatch_target(&f->ctx, FD_KIND_UCCX, "7", &sent, NULL), 0);
    assert_int_equal(sent, 7);
    assert_int_equal(f->fake->duplicates, 0);
    assert_true(fake_has(f->fake, "4-2"));
    assert_false(fake_has(f->fake, "1-2"));
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE attempt = 2 AND status = "
                              "'sent'"),
                     7);
}

/* A target shared with an active campaign: UCCX and the Outbound API can
 * only delete a whole Cisco campaign, so nothing is asked and every attempt
 * of the paused campaign stays with the dialer, looked at once. */
static void test_shared_target_withdraws_nothing_via_api(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    static const char *const kinds[2][2] = {{"uccx", "7"}, {"ucce_api", "5001"}};
    for (int i = 0; i < 2; i++) {
        const char *kind = kinds[i][0], *id = kinds[i][1];
        long long a = seed_sent(f, kind, id, 5);
        long long b = seed_sent(f, kind, id, 5);
        set_state(f, a, "paused");
        size_t gone = 0, kept = 0;
        assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), 0);
        assert_int_equal(f->fake->deletes, 0);
        assert_int_equal(gone, 0);
        assert_int_equal(kept, 5);
        assert_int_equal(attempts_in(f, a, "sent", 1), 5);
        assert_int_equal(attempts_in(f, b, "sent", 0), 5);
        assert_int_equal(f->fake->n, 10);
        /* The other campaign pauses too: now the target is nobody's to
         * keep dialling, and every 'sent' attempt there is decided. */
        set_state(f, b, "stopped");
        assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), 0);
        assert_int_equal(f->fake->deletes, 1);
        assert_int_equal(gone, 10);
        assert_int_equal(kept, 0);
        assert_int_equal(attempts_in(f, a, "withdrawn", -1) + attempts_in(f, b, "withdrawn", -1),
                         10);
        set_state(f, a, "completed");
        set_state(f, b, "completed");
        q_cmd(f, "UPDATE attempts SET status = 'done'");
        fake_reset(f->fake);
    }
}

/* ucce_api, the Cisco campaign's only user: DELETE …/import, then the
 * dialled records (Dialer_Detail) stay. */
static void test_ucce_api_sole_campaign_deletes_import(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = seed_sent(f, "ucce_api", "5001", 6);
    c_cmd(f, "INSERT INTO Dialer_Detail (CampaignID, AccountNumber, CallResult) "
             "VALUES (5001, '2-1', 10), (5001, '5-1', 8), (5099, '6-1', 10)");
    set_state(f, c, "stopped");
    size_t gone = 0, kept = 0;
    assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), 0);
    assert_int_equal(f->fake->deletes, 1);
    assert_int_equal(gone, 4);
    assert_int_equal(kept, 2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent' AND "
                              "account_number IN ('2-1', '5-1')"),
                     2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 4);
}

/* ucce_db: the rows still in the import table are deleted (shared or not);
 * rows the Campaign Manager already moved to the dialing list can't be
 * withdrawn and stay, as do dialled ones. */
static void test_ucce_db_deletes_rows_not_imported(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long a = seed_sent(f, "ucce_db", "5002", 8);
    long long b = seed_sent(f, "ucce_db", "5002", 2); /* shares the target, stays active */
    assert_int_equal(c_int(f, "SELECT count(*) FROM Import_5002"), 10);
    /* The import rule took contacts 1-3 into the dialing list; 3 dialled. */
    c_cmd(f, "CREATE TABLE DL_5002_1 (AccountNumber varchar(30), CallStatusZone1 char(1));"
             "INSERT INTO DL_5002_1 SELECT AccountNumber, 'P' FROM Import_5002 "
             "WHERE AccountNumber IN ('1-1', '2-1', '3-1');"
             "DELETE FROM Import_5002 WHERE AccountNumber IN ('1-1', '2-1', '3-1');"
             "INSERT INTO Dialer_Detail (CampaignID, AccountNumber, CallResult) "
             "VALUES (5002, '3-1', 10)");
    set_state(f, a, "paused");
    size_t gone = 0, kept = 0;
    assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), 0);
    assert_int_equal(gone, 5);
    assert_int_equal(kept, 3);
    assert_int_equal(attempts_in(f, a, "withdrawn", 0), 5);
    assert_int_equal(attempts_in(f, a, "sent", 1), 3);
    assert_int_equal(attempts_in(f, b, "sent", 0), 2);
    /* Only the paused campaign's rows left the import table. */
    assert_int_equal(c_int(f, "SELECT count(*) FROM Import_5002"), 2);
    assert_int_equal(c_int(f, "SELECT count(*) FROM Import_5002 WHERE AccountNumber "
                              "IN ('9-1', '10-1')"),
                     2);
    assert_int_equal(c_int(f, "SELECT count(*) FROM DL_5002_1"), 3);
    assert_int_equal(
        metric(f, "ecm_feeder_withdrawals_total{kind=\"ucce_db\",result=\"withdrawn\"}"), 5);
}

/* A delete the dialer refuses, or a lookup that fails after it, decides
 * nothing: the attempts stay 'sent' and the next pass deletes and decides
 * again. A record dialled after ECM chose the attempts but before the
 * delete is found dialled and stays. */
static void test_failures_decide_nothing_and_a_late_dial_stays(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = seed_sent(f, "uccx", "7", 4);
    set_state(f, c, "paused");
    fake_set(f->fake, 202, 200, 0);
    f->fake->delete_status = 503;
    size_t gone = 0, kept = 0;
    assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), -2);
    assert_int_equal(gone + kept, 0);
    assert_int_equal(attempts_in(f, c, "sent", 0), 4);
    assert_int_equal(f->fake->n, 4);

    /* The delete works, the pending list does not answer. */
    f->fake->delete_status = 200;
    fake_set(f->fake, 202, 500, 0);
    assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), -2);
    assert_int_equal(f->fake->deletes, 1);
    assert_int_equal(attempts_in(f, c, "sent", 0), 4);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'dispatched'"), 4);

    /* Meanwhile UCCX dialled contact 2 (the delete leaves it). */
    c_cmd(f,
          "INSERT INTO dialinglist (campaignid, accountnumber, callstatus) VALUES (7, '2-1', 3)");
    fake_set(f->fake, 202, 200, 0);
    assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), 0);
    assert_int_equal(gone, 3);
    assert_int_equal(kept, 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE account_number = '2-1' AND "
                              "status = 'sent' AND withdraw_kept"),
                     1);
    assert_true(metric(f, "ecm_feeder_errors_total{kind=\"uccx\",error=\"unavailable\"}") >= 2);
}

/* An attempt whose result the strategy already applied, or one still
 * 'sending', is not the withdrawal's: only 'sent' attempts are decided. */
static void test_only_sent_attempts_are_decided(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = seed_sent(f, "uccx", "7", 3);
    q_cmd(f, "UPDATE attempts SET status = 'done', outcome = 'CONNECTED', result_at = now() "
             "WHERE account_number = '1-1'");
    q_cmd(f, "UPDATE attempts SET status = 'sending' WHERE account_number = '2-1'");
    set_state(f, c, "paused");
    size_t gone = 0, kept = 0;
    assert_int_equal(fd_withdraw_run(&f->ctx, &gone, &kept), 0);
    assert_int_equal(gone, 1);
    assert_int_equal(kept, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'withdrawn' AND "
                              "account_number = '3-1'"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'done'"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_uccx_sole_campaign_withdraws_undialled_then_resends_on_resume, test_setup,
            test_teardown),
        cmocka_unit_test_setup_teardown(test_shared_target_withdraws_nothing_via_api, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_ucce_api_sole_campaign_deletes_import, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_ucce_db_deletes_rows_not_imported, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_failures_decide_nothing_and_a_late_dial_stays,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_only_sent_attempts_are_decided, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

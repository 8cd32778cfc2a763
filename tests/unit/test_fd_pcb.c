/* The feeder's personal callbacks (fd_pcb.h): the Logger-zone time (ICU,
 * across DST), the late-callback rule, the API body (read back by the
 * simulator's own parser, which applies Cisco's rules), and, with
 * ECM_TEST_PG_DSN, the whole path against the simulator in-process: a due
 * contact flagged for an agent written to Personal_Callback_List (table) or
 * the Personal Callback API (api) while its unflagged neighbours are
 * imported, the reconciliation of a batch left 'sending' (a callback Cisco
 * has is not written twice), and the dispatch gate on a due callback (DNC
 * closes it, no row; a closed window waits, no row). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libxml/parser.h>

#include "ecm_gate.h"
#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_odbc.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"
#include "fd_test_support.h"
#include "fd_dispatch.h"
#include "fd_feeder.h"
#include "fd_pcb.h"
#include "fd_reconcile.h"
#include "fd_ucce_api.h"
#include "fd_writer.h"
#include "sim_pcb.h"
#include "sim_store.h"
#include "sim_ucce_api.h"

/* Ports of this binary, inside the feeder's 20500-20599. */
#define PORT_LO 20560
#define PORT_HI 20568
#define DEAD_PORT "20569"
/* Monday 2026-03-09 12:00 UTC: 08:00 in New York (EDT since the 8th). */
#define NOW "2026-03-09T12:00:00Z"
#define NOW_MS 1773057600000LL
#define ZONE "America/New_York"
#define USER "administrator"
#define PASSWORD "pw"

/* ---- pure ---- */

static void expect_time(int64_t ms, const char *zone, const char *want)
{
    char out[FD_PCB_TIME_LEN + 1];
    assert_int_equal(fd_pcb_logger_time(ms, zone, out), 0);
    assert_string_equal(out, want);
}

static void test_logger_time_in_zone_across_dst(void **state)
{
    (void)state;
    expect_time(NOW_MS, "UTC", "2026-03-09T12:00:00");
    expect_time(NOW_MS, ZONE, "2026-03-09T08:00:00");
    /* The night New York springs forward: 06:59:59Z is 01:59:59 EST, one
     * second later it is 03:00:00 EDT. */
    expect_time(1772953199000LL, ZONE, "2026-03-08T01:59:59");
    expect_time(1772953200000LL, ZONE, "2026-03-08T03:00:00");
    /* A Logger in Paris, winter. */
    expect_time(1767268800000LL, "Europe/Paris", "2026-01-01T13:00:00");
    char out[FD_PCB_TIME_LEN + 1];
    assert_int_equal(fd_pcb_logger_time(NOW_MS, "Mars/Olympus", out), -1);
    char err[128];
    assert_int_equal(fd_pcb_validate_zone("Europe/Paris", err, sizeof err), 0);
    assert_int_equal(fd_pcb_validate_zone("Nowhere", err, sizeof err), -1);
}

static void test_late_callback_written_for_now(void **state)
{
    (void)state;
    int64_t min = 60000;
    assert_int_equal(fd_pcb_callback_ms(NOW_MS + 30 * min, NOW_MS), NOW_MS + 30 * min);
    assert_int_equal(fd_pcb_callback_ms(NOW_MS - 9 * min, NOW_MS), NOW_MS - 9 * min);
    assert_int_equal(fd_pcb_callback_ms(NOW_MS - 11 * min, NOW_MS), NOW_MS);
}

static void test_api_body_passes_ciscos_rules(void **state)
{
    (void)state;
    fd_pcb_record r = {.campaign_id = "5001",
                       .agent = "1001",
                       .phone = "15550001",
                       .account = "42-3",
                       .first_name = "Ann & <Bo>",
                       .last_name = "O'Neil",
                       .max_attempts = 3,
                       .callback = "2026-03-09T08:30:00"};
    size_t len = 0;
    char *body = fd_pcb_build_body(&r, &len);
    assert_non_null(body);
    sim_pcb p;
    char err[256] = "";
    if (sim_pcb_parse(body, len, &p, err, sizeof err) != 0)
        fail_msg("the simulator refused the body: %s", err);
    assert_int_equal(p.campaign_id, 5001);
    assert_int_equal(p.agent_id, 1001);
    assert_string_equal(p.phone, "15550001");
    assert_string_equal(p.account, "42-3");
    assert_int_equal(p.max_attempts, 3);
    assert_string_equal(p.callback, "2026-03-09T08:30:00");
    assert_string_equal(p.first_name, "Ann & <Bo>");
    assert_string_equal(p.last_name, "O'Neil");
    free(body);
}

/* ---- against PostgreSQL and the simulator ---- */

typedef struct {
    ecm_test_db *db;    /* ECM */
    ecm_test_db *cisco; /* the simulator's DB: Logger/HDS shapes */
    ecm_pg *pg;
    PGconn *cpg;
    char odbc[1200], odbc_dead[1200], url[64];
    volatile sig_atomic_t stop;
    sim_store *store;
    sim_ucce_api *ucce;
    ecm_http *http;
    ecm_metrics *metrics;
    fd_ctx ctx;
} fixture;

#define q_int(f, ...) ecm_test_pg_int(ecm_pg_conn((f)->pg), __VA_ARGS__)
#define q_cmd(f, ...) ecm_test_pg_exec(ecm_pg_conn((f)->pg), __VA_ARGS__)
#define c_int(f, ...) ecm_test_pg_int((f)->cpg, __VA_ARGS__)
#define c_cmd(f, ...) ecm_test_pg_exec((f)->cpg, __VA_ARGS__)

static const sim_pcb_api_config SIM_PCB = {USER, PASSWORD, ZONE};

static void serve_sim(fixture *f)
{
    sim_ucce_api_config ecfg = {USER, PASSWORD, 100000};
    f->ucce = sim_ucce_api_new(&ecfg, f->store);
    assert_non_null(f->ucce);
    for (int port = PORT_LO; port <= PORT_HI; port++) {
        f->http = ecm_http_new("127.0.0.1", port, NULL);
        assert_non_null(f->http);
        assert_int_equal(sim_ucce_api_add_routes(f->ucce, f->http), 0);
        assert_int_equal(sim_pcb_add_routes(f->http, &SIM_PCB, f->store), 0);
        if (ecm_http_start(f->http) == 0) {
            snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", port);
            return;
        }
        ecm_http_destroy(f->http);
        f->http = NULL;
    }
    fail_msg("no free port in %d..%d", PORT_LO, PORT_HI);
}

static int group_setup(void **state)
{
    *state = NULL;
    const char *dsn = ecm_test_pg_dsn();
    if (!dsn)
        return 0;
    setenv("ECM_CLOCK_FIXED", NOW, 1);
    xmlInitParser();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->db = ecm_test_db_new_migrated("ecm_fd_pcb");
    f->cisco = ecm_test_db_new("fd_pcb_cisco");
    assert_int_equal(ecm_test_odbc_string(dsn, f->cisco->name, NULL, f->odbc, sizeof f->odbc), 0);
    assert_int_equal(
        ecm_test_odbc_string(dsn, f->cisco->name, DEAD_PORT, f->odbc_dead, sizeof f->odbc_dead), 0);
    f->pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(f->pg);
    f->cpg = ecm_test_pg_connect(f->cisco->dsn);
    f->store = sim_store_new(f->cisco->dsn, 2, &f->stop);
    assert_non_null(f->store);
    assert_int_equal(sim_store_init_schema(f->store), 0);
    serve_sim(f);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    f->stop = 1;
    sim_ucce_api_stop(f->ucce);
    ecm_http_destroy(f->http);
    sim_ucce_api_destroy(f->ucce);
    sim_store_destroy(f->store);
    PQfinish(f->cpg);
    ecm_pg_destroy(f->pg);
    (void)ecm_test_db_destroy(f->db);
    (void)ecm_test_db_destroy(f->cisco);
    free(f);
    curl_global_cleanup();
    return 0;
}

/* The ucce_api writer on the simulator, wrapped for personal callbacks in
 * mode, its Logger connection over odbc. */
static void make_writer(fixture *f, fd_pcb_mode mode, const char *odbc)
{
    fd_writer_destroy(f->ctx.writers[FD_KIND_UCCE_API]);
    fd_uccx *api = fd_uccx_new(f->url, USER, PASSWORD, 2000);
    fd_writer *inner =
        fd_ucce_api_writer_new(api, ecm_odbc_new(f->odbc, 1, "HDS"), "Dialer_Detail");
    fd_pcb_config cfg = {.mode = mode, .logger_zone = ZONE, .max_attempts = 3};
    f->ctx.writers[FD_KIND_UCCE_API] =
        mode == FD_PCB_API
            ? fd_pcb_writer_new(inner, &cfg, fd_uccx_new(f->url, USER, PASSWORD, 2000), NULL)
            : fd_pcb_writer_new(inner, &cfg, NULL, ecm_odbc_new(odbc, 0, "Logger"));
    assert_non_null(f->ctx.writers[FD_KIND_UCCE_API]);
}

static int test_setup(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    q_cmd(f, "TRUNCATE attempts, outbox, contacts, uploads, dnc, campaigns RESTART IDENTITY "
             "CASCADE");
    c_cmd(f, "TRUNCATE Personal_Callback_List, Dialer_Detail, sim_contacts, sim_duplicates;"
             "DROP TABLE IF EXISTS DL_5001_1");
    f->metrics = ecm_metrics_new();
    f->ctx = (fd_ctx){
        .pg = f->pg,
        .opt = {.topic_dispatched = "contacts.dispatched",
                .source = "/ecm/feeder",
                .batch = 500,
                .capacity = 10000,
                .reconcile_after_s = 30,
                .reconcile_every_ms = 5000},
    };
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

/* A ucce_api campaign on 5001 with n queued UTC contacts; the first `pcb`
 * flagged for agent 1001 at now + minutes. */
static void seed(fixture *f, int n, int pcb, int minutes)
{
    long long id = q_int(f, "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                            " cisco_campaign_id) SELECT 'c', 'voice_ivr', 'active', id, 'ucce_api',"
                            " '5001' FROM strategies WHERE name = 'Default' RETURNING id");
    q_cmd(f,
          "INSERT INTO contacts (campaign_id, first_name, phones, state, pcb_agent, pcb_at)"
          " SELECT %lld, 'F' || g, ARRAY['+1555000' || lpad(g::text, 4, '0')], 'queued',"
          " CASE WHEN g <= %d THEN '1001' END,"
          " CASE WHEN g <= %d THEN timestamptz '" NOW "' + make_interval(mins => %d) END"
          " FROM generate_series(1, %d) g",
          id, pcb, pcb, minutes, n);
}

/* Rows of Personal_Callback_List as Cisco wants new ones, for account. */
static long long pcb_rows(fixture *f, const char *account, const char *callback)
{
    return c_int(f,
                 "SELECT count(*) FROM Personal_Callback_List WHERE AccountNumber = '%s'"
                 " AND AgentID = 1001 AND CampaignID = 5001 AND CallStatus = 'P'"
                 " AND MaxAttempts = 3 AND SentToDialerDateTime IS NULL"
                 " AND InsertedIntoDBDateTime = '2026-03-09 08:00:00'"
                 " AND CallbackDateTime = '%s'",
                 account, callback);
}

static void check_split(fixture *f)
{
    /* the unflagged contact was imported, the flagged ones were not */
    assert_int_equal(c_int(f, "SELECT count(*) FROM sim_contacts"), 1);
    assert_int_equal(c_int(f, "SELECT count(*) FROM sim_contacts WHERE account_number = '3-1'"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 3);
    assert_int_equal(c_int(f, "SELECT count(*) FROM Personal_Callback_List"), 2);
}

static void test_table_writes_callbacks_and_imports_the_rest(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    make_writer(f, FD_PCB_TABLE, f->odbc);
    seed(f, 3, 2, 30);
    size_t sent = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 3);
    check_split(f);
    assert_int_equal(pcb_rows(f, "1-1", "2026-03-09 08:30:00"), 1);
    assert_int_equal(pcb_rows(f, "2-1", "2026-03-09 08:30:00"), 1);
}

/* The API; a callback taken 20 minutes after its time (Cisco would refuse
 * it) is written for now. */
static void test_api_writes_callbacks_and_imports_the_rest(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    make_writer(f, FD_PCB_API, NULL);
    seed(f, 3, 2, -20);
    size_t sent = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 3);
    check_split(f);
    assert_int_equal(pcb_rows(f, "1-1", "2026-03-09 08:00:00"), 1);
    assert_int_equal(pcb_rows(f, "2-1", "2026-03-09 08:00:00"), 1);
}

/* A batch whose callbacks could not be confirmed stays 'sending'; the
 * reconciler finds what Cisco has (table, or the API's list, which
 * searches by "contains": 1-1 must not pass for 11-1) and writes only the
 * rest, once. */
static void reconcile_once(fixture *f, fd_pcb_mode mode)
{
    make_writer(f, mode, f->odbc_dead);
    if (mode == FD_PCB_API) {
        /* the API down: the dead port */
        fd_writer_destroy(f->ctx.writers[FD_KIND_UCCE_API]);
        fd_uccx *api = fd_uccx_new(f->url, USER, PASSWORD, 2000);
        fd_writer *inner =
            fd_ucce_api_writer_new(api, ecm_odbc_new(f->odbc, 1, "HDS"), "Dialer_Detail");
        fd_pcb_config cfg = {.mode = FD_PCB_API, .logger_zone = ZONE, .max_attempts = 3};
        f->ctx.writers[FD_KIND_UCCE_API] = fd_pcb_writer_new(
            inner, &cfg, fd_uccx_new("http://127.0.0.1:" DEAD_PORT, USER, PASSWORD, 2000), NULL);
    }
    seed(f, 12, 12, 30);
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), -2);
    fd_dispatch_forget(&f->ctx);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 12);
    /* Cisco got 11-1 (its commit's answer was lost) */
    c_cmd(f, "INSERT INTO Personal_Callback_List (AgentID, CampaignID, Phone, AccountNumber,"
             " MaxAttempts, CallbackDateTime, CallStatus, InsertedIntoDBDateTime)"
             " VALUES (1001, 5001, '15550011', '11-1', 3, '2026-03-09 08:30:00', 'P',"
             " '2026-03-09 08:00:00')");
    make_writer(f, mode, f->odbc);
    q_cmd(f, "UPDATE attempts SET sending_at = now() - interval '1 hour'");
    size_t present = 0, resent = 0;
    assert_int_equal(fd_reconcile_run(&f->ctx, &present, &resent), 0);
    assert_int_equal(present, 1);
    assert_int_equal(resent, 11);
    assert_int_equal(c_int(f, "SELECT count(*) FROM Personal_Callback_List"), 12);
    assert_int_equal(c_int(f, "SELECT count(DISTINCT AccountNumber) FROM Personal_Callback_List"),
                     12);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 12);
}

static void test_table_reconciliation_writes_once(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    reconcile_once(f, FD_PCB_TABLE);
}

static void test_api_reconciliation_writes_once(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    reconcile_once(f, FD_PCB_API);
}

/* The gate on a due callback: a number on DNC closes the contact DNC and
 * writes nothing; one outside its window waits and writes nothing. */
static void test_gate_applies_to_a_due_callback(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    make_writer(f, FD_PCB_TABLE, f->odbc);
    seed(f, 2, 2, 0);
    q_cmd(f, "INSERT INTO dnc (phone) VALUES ('+15550000001')");
    /* contact 2 lives in Tokyo: 21:00 there, past the legal hours */
    q_cmd(f, "UPDATE contacts SET time_zone = 'Asia/Tokyo' WHERE id = 2");
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), 0);
    assert_int_equal(c_int(f, "SELECT count(*) FROM Personal_Callback_List"), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE id = 1 AND state = 'closed'"
                              " AND outcome = 'DNC'"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE id = 2 AND state = 'waiting'"
                              " AND pcb_agent = '1001'"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 0);
}

int main(void)
{
    ecm_log_init("test_fd_pcb", ECM_LOG_ERROR);
#define DB_TEST(t) cmocka_unit_test_setup_teardown(t, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logger_time_in_zone_across_dst),
        cmocka_unit_test(test_late_callback_written_for_now),
        cmocka_unit_test(test_api_body_passes_ciscos_rules),
        DB_TEST(test_table_writes_callbacks_and_imports_the_rest),
        DB_TEST(test_api_writes_callbacks_and_imports_the_rest),
        DB_TEST(test_table_reconciliation_writes_once),
        DB_TEST(test_api_reconciliation_writes_once),
        DB_TEST(test_gate_applies_to_a_due_callback),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

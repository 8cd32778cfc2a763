/* The simulator's personal callbacks: the API body and Cisco's validation,
 * the ECM_SIM_PERSONAL_CALLBACKS rules, and, with ECM_TEST_PG_DSN, the API
 * over HTTP (15-minute rule in the Logger's zone, search), the dialer
 * dialling a due callback (and not one still ahead) with its Dialer_Detail
 * row, and a scheduled callback's Dialer_Detail columns. */
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
#include <libpq-fe.h>
#include <libxml/parser.h>

#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_test_support.h"
#include "sim_dialer.h"
#include "sim_mix.h"
#include "sim_pcb.h"
#include "sim_store.h"

#define PORT_FIRST 20600
#define PORT_LAST 20699
#define AUTH "admin:s3cret"
#define ZONE "America/New_York"

static char *pcb_body(const char *phone, const char *account, const char *max, const char *at,
                      const char *agent)
{
    char *b = malloc(1024);
    assert_non_null(b);
    snprintf(b, 1024,
             "<personalCallback><campaign><refURL>/unifiedconfig/config/campaign/5001</refURL>"
             "</campaign><agent><refURL>/unifiedconfig/config/agent/%s</refURL></agent>"
             "<phone>%s</phone><accountNumber>%s</accountNumber><maxAttempts>%s</maxAttempts>"
             "<callbackDateTime>%s</callbackDateTime><firstName>Zo\xc3\xab</firstName>"
             "</personalCallback>",
             agent, phone, account, max, at);
    return b;
}

static int parse(const char *phone, const char *account, const char *max, const char *at,
                 const char *agent, sim_pcb *p, char *err, size_t err_size)
{
    char *b = pcb_body(phone, account, max, at, agent);
    int rc = sim_pcb_parse(b, strlen(b), p, err, err_size);
    free(b);
    return rc;
}

static void expect_refused(const char *phone, const char *account, const char *max, const char *at,
                           const char *agent, const char *needle)
{
    sim_pcb p;
    char err[256] = "";
    if (parse(phone, account, max, at, agent, &p, err, sizeof err) != -1) {
        fail_msg("accepted phone=%s account=%s max=%s at=%s agent=%s", phone, account, max, at,
                 agent);
    }
    if (!strstr(err, needle)) {
        fail_msg("error '%s' lacks '%s'", err, needle);
    }
}

static void test_sim_pcb_parses_a_callback(void **state)
{
    (void)state;
    sim_pcb p;
    char err[256];
    assert_int_equal(
        parse("0612#34*", "77-2", "3", "2026-03-08T02:30:00", "1001", &p, err, sizeof err), 0);
    assert_int_equal(p.campaign_id, 5001);
    assert_int_equal(p.agent_id, 1001);
    assert_string_equal(p.phone, "0612#34*");
    assert_string_equal(p.account, "77-2");
    assert_int_equal(p.max_attempts, 3);
    assert_string_equal(p.callback, "2026-03-08T02:30:00");
    assert_string_equal(p.first_name, "Zo\xc3\xab");
    assert_int_equal(p.call_status, 'P');
}

static void test_sim_pcb_refuses_what_cisco_refuses(void **state)
{
    (void)state;
    const char *at = "2026-03-08T02:30:00";
    expect_refused("+33612", "1-1", "3", at, "1001", "phone");
    expect_refused("061234567890123456789", "1-1", "3", at, "1001", "phone");
    expect_refused("", "1-1", "3", at, "1001", "phone");
    expect_refused("0612", "1234567890123456789012345678901", "3", at, "1001", "30 bytes");
    expect_refused("0612", "1-1", "0", at, "1001", "maxAttempts");
    expect_refused("0612", "1-1", "x", at, "1001", "maxAttempts");
    expect_refused("0612", "1-1", "3", "2026-02-30T10:00:00", "1001", "callbackDateTime");
    expect_refused("0612", "1-1", "3", "2026-03-08 10:00:00", "1001", "callbackDateTime");
    expect_refused("0612", "1-1", "3", at, "x", "agent");
    sim_pcb p;
    char err[256];
    const char *no_time = "<personalCallback><campaign><refURL>/unifiedconfig/config/campaign/"
                          "1</refURL></campaign><agent><refURL>/unifiedconfig/config/agent/1"
                          "</refURL></agent><phone>1</phone><maxAttempts>1</maxAttempts>"
                          "</personalCallback>";
    assert_int_equal(sim_pcb_parse(no_time, strlen(no_time), &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "required"));
    assert_int_equal(sim_pcb_parse("<import/>", 9, &p, err, sizeof err), -1);
}

static void test_sim_pcb_rules_config_is_validated(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(sim_dialer_validate_personal_callbacks("", err, sizeof err), 0);
    assert_int_equal(sim_dialer_validate_personal_callbacks("0007:1001:30, 9:2:0", err, sizeof err),
                     0);
    assert_int_equal(sim_dialer_validate_personal_callbacks("0007:1001", err, sizeof err), -1);
    assert_int_equal(sim_dialer_validate_personal_callbacks("0007:a:3", err, sizeof err), -1);
    assert_int_equal(sim_dialer_validate_personal_callbacks("0007:1:-3", err, sizeof err), -1);
    assert_int_equal(sim_dialer_validate_personal_callbacks("0007:1:3;", err, sizeof err), -1);
}

/* A number with a rule gets 14 with the agent; dialled as a personal
 * callback it never gets 14/15 again. */
static void test_sim_pcb_rule_schedules_a_callback_once(void **state)
{
    (void)state;
    sim_mix *mix = NULL;
    char err[256];
    assert_int_equal(sim_mix_parse("14:1", &mix, err, sizeof err), 0);
    sim_dialer_config cfg = {.pg_dsn = "", .rate_per_s = 1, .tick_ms = 100, .seed = 1, .mix = mix};
    volatile sig_atomic_t stop = 0;
    sim_dialer *d = sim_dialer_new(&cfg, NULL, &stop);
    assert_non_null(d);
    assert_int_equal(
        sim_dialer_set_personal_callbacks(d, "0007:1001:30,10007:1002:5", err, sizeof err), 0);
    sim_dial_outcome o;
    sim_dialer_outcome(d, "1-1", "+33 6 00 00 00 07", 0, &o);
    assert_int_equal(o.call_result, 14);
    assert_string_equal(o.agent, "1001");
    assert_int_equal(o.callback_minutes, 30);
    sim_dialer_outcome(d, "1-1", "0610007", 0, &o); /* the longest suffix wins */
    assert_string_equal(o.agent, "1002");
    assert_int_equal(o.callback_minutes, 5);
    sim_dialer_outcome(d, "1-2", "0600000007", 1, &o);
    assert_int_equal(o.call_result, 10);
    assert_string_equal(o.agent, "");
    sim_dialer_outcome(d, "1-3", "0600000008", 0, &o); /* the mix's 14: no agent */
    assert_int_equal(o.call_result, 14);
    assert_string_equal(o.agent, "");
    sim_dialer_destroy(d);
    sim_mix_destroy(mix);
}

/* --- with a database ---------------------------------------------------- */

typedef struct {
    ecm_test_db *db;
    volatile sig_atomic_t stop;
    sim_store *store;
    ecm_http *http;
    sim_mix *mix;
    sim_dialer *dialer;
    PGconn *c;
    int port;
} pcb_env;

static int env_setup(void **state)
{
    *state = NULL;
    ecm_test_db *db = ecm_test_db_new("sim_pcb_t");
    if (!db) {
        return 0;
    }
    pcb_env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->db = db;
    *state = e;
    e->store = sim_store_new(db->dsn, 2, &e->stop);
    assert_non_null(e->store);
    assert_int_equal(sim_store_init_schema(e->store), 0);
    char err[256];
    assert_int_equal(sim_mix_parse("9:1", &e->mix, err, sizeof err), 0);
    sim_dialer_config dcfg = {.pg_dsn = db->dsn,
                              .rate_per_s = 100,
                              .tick_ms = 100,
                              .seed = 1,
                              .mix = e->mix,
                              .logger_zone = ZONE};
    e->dialer = sim_dialer_new(&dcfg, NULL, &e->stop);
    assert_non_null(e->dialer);
    static const sim_pcb_api_config pcfg = {"admin", "s3cret", ZONE};
    for (int port = PORT_FIRST + (int)(getpid() % 50); port <= PORT_LAST; port++) {
        e->http = ecm_http_new("127.0.0.1", port, NULL);
        assert_non_null(e->http);
        assert_int_equal(sim_pcb_add_routes(e->http, &pcfg, e->store), 0);
        if (ecm_http_start(e->http) == 0) {
            e->port = port;
            break;
        }
        ecm_http_destroy(e->http);
        e->http = NULL;
    }
    assert_non_null(e->http);
    e->c = PQconnectdb(db->dsn);
    assert_int_equal(PQstatus(e->c), CONNECTION_OK);
    return 0;
}

static int env_teardown(void **state)
{
    pcb_env *e = *state;
    if (!e) {
        return 0;
    }
    e->stop = 1;
    ecm_http_destroy(e->http);
    sim_dialer_destroy(e->dialer);
    sim_store_destroy(e->store);
    sim_mix_destroy(e->mix);
    PQfinish(e->c);
    (void)ecm_test_db_destroy(e->db);
    free(e);
    return 0;
}

/* Now in the Logger's zone plus minutes, as "yyyy-MM-ddTHH:mm:ss". */
static char *logger_time(pcb_env *e, int minutes)
{
    return ecm_test_pg_text(e->c,
                            "SELECT to_char(now() AT TIME ZONE '%s' + make_interval(mins => %d),"
                            " 'YYYY-MM-DD\"T\"HH24:MI:SS')",
                            ZONE, minutes);
}

static int post_pcb(pcb_env *e, const char *account, const char *at, ecm_test_http_answer *a)
{
    char *b = pcb_body("0612345678", account, "3", at, "1001");
    const char *headers[] = {"Content-Type: application/xml", NULL};
    ecm_test_http_request(a, e->port, "POST", "/unifiedconfig/config/personalcallback", headers, b,
                          strlen(b), AUTH);
    free(b);
    return a->status;
}

static void test_sim_pcb_api_checks_time_in_logger_zone_and_lists(void **state)
{
    pcb_env *e = ecm_test_need(*state);
    ecm_test_http_answer a;
    char *past = logger_time(e, -16), *recent = logger_time(e, -14), *ahead = logger_time(e, 30);
    assert_int_equal(post_pcb(e, "500-1", past, &a), 400);
    assert_non_null(strstr(a.body, "15 minutes"));
    ecm_test_http_answer_destroy(&a);
    assert_int_equal(post_pcb(e, "500-2", recent, &a), 201);
    ecm_test_http_answer_destroy(&a);
    assert_int_equal(post_pcb(e, "1500-2", ahead, &a), 201);
    assert_non_null(strstr(a.body, "<callStatus>P</callStatus>"));
    ecm_test_http_answer_destroy(&a);
    ecm_test_http_request(&a, e->port, "POST", "/unifiedconfig/config/personalcallback", NULL, "x",
                          1, "admin:wrong");
    assert_int_equal(a.status, 401);
    ecm_test_http_answer_destroy(&a);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM Personal_Callback_List WHERE"
                                           " CallStatus = 'P' AND SentToDialerDateTime IS NULL"
                                           " AND InsertedIntoDBDateTime IS NOT NULL"),
                     2);
    /* Cisco's search is "contains": ECM must compare the accounts itself. */
    ecm_test_http_request(&a, e->port, "GET",
                          "/unifiedconfig/config/personalcallback?q=accountNumber:500-2", NULL,
                          NULL, 0, AUTH);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "<accountNumber>500-2</accountNumber>"));
    assert_non_null(strstr(a.body, "<accountNumber>1500-2</accountNumber>"));
    assert_non_null(strstr(a.body, "<totalResults>2</totalResults>"));
    ecm_test_http_answer_destroy(&a);
    free(past);
    free(recent);
    free(ahead);
}

static void test_sim_pcb_dialler_dials_due_callbacks_only(void **state)
{
    pcb_env *e = ecm_test_need(*state);
    ecm_test_http_answer a;
    char *due = logger_time(e, -1), *ahead = logger_time(e, 30);
    assert_int_equal(post_pcb(e, "600-2", due, &a), 201);
    ecm_test_http_answer_destroy(&a);
    assert_int_equal(post_pcb(e, "601-2", ahead, &a), 201);
    ecm_test_http_answer_destroy(&a);
    assert_int_equal(sim_dialer_tick(e->dialer, 10), 1);
    assert_int_equal(sim_dialer_tick(e->dialer, 10), 0); /* dialled once */
    assert_int_equal(
        ecm_test_pg_int(e->c,
                        "SELECT count(*) FROM Dialer_Detail d JOIN Personal_Callback_List p"
                        " ON p.PersonalCallbackListID = d.DialingListID"
                        " WHERE d.AccountNumber = '600-2' AND d.AgentPeripheralNumber = '1001'"
                        " AND d.CampaignID = 5001 AND d.CallResult = 9 AND p.CallStatus = 'C'"
                        " AND p.MaxAttempts = 2 AND p.CallResult = 9"
                        " AND p.SentToDialerDateTime IS NOT NULL"),
        1);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM Dialer_Detail WHERE"
                                           " AccountNumber = '601-2'"),
                     0);
    sim_stats st;
    assert_int_equal(sim_store_stats(e->store, &st), 0);
    assert_int_equal(st.pcb_rows, 2);
    assert_int_equal(st.pcb_pending, 1);
    assert_int_equal(st.pcb_dialed, 1);
    assert_int_equal(st.pcb_duplicate_accounts, 0);
    assert_int_equal(st.duplicate_accounts, 0);
    /* the same account written twice is a duplicate, like an import's */
    assert_int_equal(post_pcb(e, "601-2", ahead, &a), 201);
    ecm_test_http_answer_destroy(&a);
    assert_int_equal(sim_store_stats(e->store, &st), 0);
    assert_int_equal(st.pcb_duplicate_accounts, 1);
    assert_int_equal(st.duplicate_accounts, 1);
    free(due);
    free(ahead);
}

/* A record whose number has a rule: Dialer_Detail says 14 with the agent
 * and the callback time, in the Logger's zone. */
static void test_sim_pcb_scheduled_callback_in_dialer_detail(void **state)
{
    pcb_env *e = ecm_test_need(*state);
    char err[256];
    assert_int_equal(sim_dialer_set_personal_callbacks(e->dialer, "0007:1001:30", err, sizeof err),
                     0);
    sim_contact c = {.account_number = "700-1", .phone = {"0600000007"}};
    sim_import_req req = {
        .iface = SIM_IF_UCCE_API, .campaign_id = 5001, .rows = &c, .n = 1, .total_rows = 1};
    sim_import_result r;
    assert_int_equal(sim_store_import(e->store, &req, &r), 0);
    assert_int_equal(sim_dialer_tick(e->dialer, 10), 1);
    assert_int_equal(
        ecm_test_pg_int(
            e->c,
            "SELECT count(*) FROM Dialer_Detail WHERE AccountNumber = '700-1'"
            " AND CallResult = 14 AND AgentPeripheralNumber = '1001'"
            " AND CallbackDateTime BETWEEN (now() AT TIME ZONE '%s') + interval '29 min'"
            " AND (now() AT TIME ZONE '%s') + interval '30 min'",
            ZONE, ZONE),
        1);
}

static int group_setup(void **state)
{
    (void)state;
    ecm_log_init("test_sim_pcb", ECM_LOG_ERROR);
    xmlInitParser();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    xmlCleanupParser();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_pcb_parses_a_callback),
        cmocka_unit_test(test_sim_pcb_refuses_what_cisco_refuses),
        cmocka_unit_test(test_sim_pcb_rules_config_is_validated),
        cmocka_unit_test(test_sim_pcb_rule_schedules_a_callback_once),
        cmocka_unit_test_setup_teardown(test_sim_pcb_api_checks_time_in_logger_zone_and_lists,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sim_pcb_dialler_dials_due_callbacks_only, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_sim_pcb_scheduled_callback_in_dialer_detail, env_setup,
                                        env_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* The simulator's UCCE side: the Outbound API import body and Cisco's
 * record rules, and, with ECM_TEST_PG_DSN, the API over real HTTP (queue of
 * 30, 10,000 records, dialing lists, Dialer_Detail, delete, campaign
 * enable with changeStamp) and the import rules of the Campaign Manager. */
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
#include <jansson.h>
#include <libpq-fe.h>
#include <libxml/parser.h>

#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_test_support.h"
#include "sim_cm.h"
#include "sim_dialer.h"
#include "sim_mix.h"
#include "sim_rec.h"
#include "sim_stats.h"
#include "sim_store.h"
#include "sim_ucce_api.h"
#include "sim_uccx.h"

#define PORT_FIRST 20400
#define PORT_LAST 20499
#define AUTH "admin:s3cret"

/* An <import> body around csv, with extra elements before </import>. */
static char *import_body(const char *csv, const char *extra)
{
    size_t n = strlen(csv) + strlen(extra) + 128;
    char *b = malloc(n);
    assert_non_null(b);
    snprintf(b, n, "<import><fileContent><![CDATA[%s]]></fileContent>%s</import>", csv, extra);
    return b;
}

static int parse_csv(const char *csv, const char *extra, sim_ucce_batch *b, char *err,
                     size_t err_size)
{
    char *body = import_body(csv, extra);
    int rc = sim_ucce_parse_import(body, strlen(body), SIM_UCCE_MAX_RECORDS, b, err, err_size);
    free(body);
    return rc;
}

static void expect_refused(const char *csv, const char *extra, const char *needle)
{
    sim_ucce_batch b;
    char err[256] = "";
    if (parse_csv(csv, extra, &b, err, sizeof err) != -1) {
        fail_msg("accepted: %s", csv);
    }
    if (!strstr(err, needle)) {
        fail_msg("error '%s' lacks '%s'", err, needle);
    }
    assert_int_equal(b.n, 0);
}

/* --- parsing ------------------------------------------------------------ */

static void test_sim_ucce_parses_records_and_time_zones(void **state)
{
    (void)state;
    sim_ucce_batch b;
    char err[256];
    char *body = malloc(1024);
    snprintf(body, 1024,
             "<import><fileContent><![CDATA["
             "accountnumber|FirstName|LastName|Phone01|Phone10|TimeZoneBias|DstObserved\n"
             "5-1|Zo\xc3\xab|O'Neil, Jr|0612345678|#12*|300|true\n"
             "5-2||||5551|-330|\n"
             "]]></fileContent><delimiter>|</delimiter><overwriteData>false</overwriteData>"
             "</import>");
    assert_int_equal(sim_ucce_parse_import(body, strlen(body), 10, &b, err, sizeof err), 0);
    free(body);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.rows[0].account_number, "5-1");
    assert_string_equal(b.rows[0].first_name, "Zo\xc3\xab");
    assert_string_equal(b.rows[0].last_name, "O'Neil, Jr");
    assert_string_equal(b.rows[0].phone[0], "0612345678");
    assert_string_equal(b.rows[0].phone[9], "#12*");
    assert_int_equal(b.rows[0].has_tz, 1);
    assert_int_equal(b.rows[0].tz_bias, 300);
    assert_int_equal(b.rows[0].dst_observed, 1);
    assert_int_equal(b.rows[1].tz_bias, -330);
    assert_int_equal(b.rows[1].dst_observed, 0);
    assert_int_equal(sim_rec_gmt_offset(300), 1140); /* Cisco's example: UTC-5 */
    assert_int_equal(sim_rec_gmt_offset(-330), 330);
    assert_int_equal(sim_rec_gmt_offset(0), 0);
    sim_ucce_batch_destroy(&b);
}

static void test_sim_ucce_refuses_each_bad_record_with_its_line(void **state)
{
    (void)state;
    static const char h[] = "AccountNumber,FirstName,Phone01,TimeZoneBias,DstObserved\n";
    char csv[1024];
    static const struct {
        const char *row, *why;
    } bad[] = {
        {"1234567890123456789012345678901,A,1,,", "line 3: AccountNumber longer than 30 bytes"},
        {"1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,1,,", "longer than 50 characters"},
        {"1,A,555-0100,,", "character other than 0-9 # *"},
        {"1,A,123456789012345678901,,", "phone longer than 20 bytes"},
        {"1,A,1,721,", "TimeZoneBias outside -780..720"},
        {"1,A,1,-781,", "TimeZoneBias outside -780..720"},
        {"1,A,1,5h,", "TimeZoneBias is not an integer"},
        {"1,A,1,,true", "DstObserved without TimeZoneBias"},
        {"1,A,1,60,yes", "DstObserved is neither true nor false"},
        {",A,1,,", "account number is empty"},
        {"1,A,,,", "no phone number"},
        {"1,A,1,", "field count differs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(csv, sizeof csv, "%sok-1,B,2,,\n%s\n", h, bad[i].row);
        char why[160];
        snprintf(why, sizeof why, "%s", bad[i].why);
        expect_refused(csv, "", why);
        if (!strstr(why, "line")) {
            expect_refused(csv, "", "line 3: ");
        }
    }
    /* 50 characters of two bytes each are fine: the limit counts characters. */
    size_t used = (size_t)snprintf(csv, sizeof csv, "%s1,", h);
    for (int i = 0; i < 50; i++) {
        used += (size_t)snprintf(csv + used, sizeof csv - used, "\xc3\xa9");
    }
    snprintf(csv + used, sizeof csv - used, ",1,,\n");
    sim_ucce_batch b;
    char err[256];
    assert_int_equal(parse_csv(csv, "", &b, err, sizeof err), 0);
    sim_ucce_batch_destroy(&b);
}

static void test_sim_ucce_refuses_bad_bodies_with_reason(void **state)
{
    (void)state;
    expect_refused("AccountNumber,Phone01\n1,1\n", "<delimiter>;</delimiter>",
                   "delimiter must be ',' or '|'");
    expect_refused("AccountNumber,Phone01\n1,1\n", "<overwriteData>true</overwriteData>",
                   "overwriteData true is not supported");
    expect_refused("AccountNumber,Phone01\n1,1\n", "<overwriteData>maybe</overwriteData>",
                   "overwriteData must be true or false");
    expect_refused("AccountNumber,Phone01\n1,1\n", "<campaign/>", "unknown element");
    expect_refused("AccountNumber,FirstName\n1,A\n", "", "no Phone column");
    expect_refused("FirstName,Phone01\nA,1\n", "", "lacks AccountNumber");
    expect_refused("AccountNumber,Phone1\n1,1\n", "", "unknown column 'Phone1'");
    expect_refused("AccountNumber,Phone11\n1,1\n", "", "unknown column 'Phone11'");
    expect_refused("Account Number,Phone01\n1,1\n", "", "unknown column 'Account Number'");
    expect_refused("AccountNumber,Phone01,phone01\n1,1,2\n", "", "given twice");
    sim_ucce_batch b;
    char err[256];
    const char *nofile = "<import><delimiter>,</delimiter></import>";
    assert_int_equal(sim_ucce_parse_import(nofile, strlen(nofile), 10, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing <fileContent>"));
    const char *root = "<campaignContacts/>";
    assert_int_equal(sim_ucce_parse_import(root, strlen(root), 10, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "root element must be <import>"));
}

/* A CSV of n records a-<i> with Phone01 i. */
static char *records_csv(int n, const char *prefix)
{
    size_t cap = (size_t)n * 40 + 64;
    char *csv = malloc(cap);
    assert_non_null(csv);
    size_t used = (size_t)snprintf(csv, cap, "AccountNumber,Phone01\n");
    for (int i = 0; i < n; i++) {
        used += (size_t)snprintf(csv + used, cap - used, "%s%d,%d\n", prefix, i, 1000 + i);
    }
    return csv;
}

static void test_sim_ucce_more_than_10000_records_refused(void **state)
{
    (void)state;
    sim_ucce_batch b;
    char err[256];
    char *csv = records_csv(10000, "a-");
    assert_int_equal(parse_csv(csv, "", &b, err, sizeof err), 0);
    assert_int_equal(b.n, 10000);
    sim_ucce_batch_destroy(&b);
    free(csv);
    csv = records_csv(10001, "a-");
    assert_int_equal(parse_csv(csv, "", &b, err, sizeof err), -1);
    assert_int_equal(b.too_many, 1);
    assert_non_null(strstr(err, "more than 10000 records"));
    free(csv);
}

static void test_sim_ucce_import_rules_config_is_validated(void **state)
{
    (void)state;
    sim_cm_rule r[SIM_CM_MAX_RULES];
    char err[256];
    assert_int_equal(sim_cm_parse_rules("", r, SIM_CM_MAX_RULES, err, sizeof err), 0);
    assert_int_equal(
        sim_cm_parse_rules("Import_5002:5002,imp2:7", r, SIM_CM_MAX_RULES, err, sizeof err), 2);
    assert_string_equal(r[0].table, "Import_5002");
    assert_int_equal(r[0].campaign_id, 5002);
    assert_int_equal(r[1].campaign_id, 7);
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"Import_5002", "expected <table>:<campaign_id>"},
        {"Import-5002:1", "not a plain SQL identifier"},
        {"x;DROP TABLE y:1", "not a plain SQL identifier"},
        {"9abc:1", "not a plain SQL identifier"},
        {"s.t:1", "not a plain SQL identifier"},
        {"t:0", "1..2147483647"},
        {"t:2147483648", "1..2147483647"},
        {"t:12x", "1..2147483647"},
        {"t:1,T:2", "given twice"},
        {"t:1,", "trailing comma"},
        {":1", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (sim_cm_validate_rules(bad[i].text, err, sizeof err) != -1 || !strstr(err, bad[i].why)) {
            fail_msg("'%s': '%s' lacks '%s'", bad[i].text, err, bad[i].why);
        }
    }
}

/* --- over HTTP, with a database ----------------------------------------- */

typedef struct {
    ecm_test_db *db;
    volatile sig_atomic_t stop;
    sim_store *store;
    ecm_metrics *metrics;
    ecm_http *http;
    sim_uccx *uccx;
    sim_ucce_api *ucce;
    sim_mix *mix;
    sim_dialer *dialer;
    sim_cm *cm;
    PGconn *c;
    int port;
} sim_env;

static int env_setup(void **state)
{
    *state = NULL;
    ecm_test_db *db = ecm_test_db_new("sim_ucce_t");
    if (!db) {
        return 0;
    }
    sim_env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->db = db;
    *state = e;
    e->store = sim_store_new(e->db->dsn, 4, &e->stop);
    assert_non_null(e->store);
    assert_int_equal(sim_store_init_schema(e->store), 0);
    e->metrics = ecm_metrics_new();
    char err[256];
    assert_int_equal(sim_mix_parse("10:40,8:25,9:10,12:10,3:5,25:5,14:5", &e->mix, err, sizeof err),
                     0);
    e->c = PQconnectdb(e->db->dsn);
    assert_int_equal(PQstatus(e->c), CONNECTION_OK);
    return 0;
}

static int env_teardown(void **state)
{
    sim_env *e = *state;
    if (!e) {
        return 0;
    }
    e->stop = 1;
    sim_ucce_api_stop(e->ucce);
    ecm_http_destroy(e->http);
    sim_cm_destroy(e->cm);
    sim_ucce_api_destroy(e->ucce);
    sim_dialer_destroy(e->dialer);
    sim_uccx_destroy(e->uccx);
    sim_store_destroy(e->store);
    sim_mix_destroy(e->mix);
    ecm_metrics_destroy(e->metrics);
    PQfinish(e->c);
    (void)ecm_test_db_destroy(e->db);
    free(e);
    return 0;
}

/* Serves both APIs on a port of this test's range with the UCCE import
 * rate, and makes a dialer; skips the test without a database. */
static sim_env *env_serve(void **state, double rate)
{
    sim_env *e = ecm_test_need(*state);
    sim_uccx_config ucfg = {"admin", "s3cret", 10000};
    e->uccx = sim_uccx_new(&ucfg, e->store, e->metrics);
    sim_ucce_api_config ecfg = {"admin", "s3cret", rate};
    e->ucce = sim_ucce_api_new(&ecfg, e->store);
    assert_non_null(e->uccx);
    assert_non_null(e->ucce);
    for (int port = PORT_FIRST + (int)(getpid() % 50); port <= PORT_LAST; port++) {
        e->http = ecm_http_new("127.0.0.1", port, e->metrics);
        assert_non_null(e->http);
        assert_int_equal(sim_uccx_add_routes(e->uccx, e->http), 0);
        assert_int_equal(sim_ucce_api_add_routes(e->ucce, e->http), 0);
        assert_int_equal(sim_stats_add_route(e->http, e->store), 0);
        if (ecm_http_start(e->http) == 0) {
            e->port = port;
            break;
        }
        ecm_http_destroy(e->http);
        e->http = NULL;
    }
    assert_non_null(e->http);
    sim_dialer_config dcfg = {e->db->dsn, 100, 0, 100, 42, e->mix, NULL};
    e->dialer = sim_dialer_new(&dcfg, e->metrics, &e->stop);
    assert_non_null(e->dialer);
    return e;
}

typedef ecm_test_http_answer http_answer;

static void http_call(const sim_env *e, const char *method, const char *path, const char *body,
                      const char *auth, http_answer *a)
{
    const char *headers[] = {"Content-Type: application/xml", NULL};
    if (!body && (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0)) {
        body = "";
    }
    ecm_test_http_request(a, e->port, method, path, headers, body, body ? strlen(body) : 0, auth);
}

/* POSTs an import of csv to campaign id; returns the status, body in a. */
static int post_import(const sim_env *e, int id, const char *csv, http_answer *a)
{
    char path[96];
    snprintf(path, sizeof path, "/unifiedconfig/config/campaign/%d/import", id);
    char *body = import_body(csv, "<delimiter>,</delimiter><overwriteData>false</overwriteData>");
    http_call(e, "POST", path, body, AUTH, a);
    free(body);
    return a->status;
}

static json_t *get_stats(const sim_env *e)
{
    http_answer a;
    http_call(e, "GET", "/sim/stats", NULL, NULL, &a);
    assert_int_equal(a.status, 200);
    json_t *o = json_loads(a.body, 0, NULL);
    assert_non_null(o);
    free(a.body);
    return o;
}

/* stats.interfaces.<iface>.<name>, or stats.refusals.<iface>.<name>. */
static long long sub_stat(json_t *o, const char *group, const char *iface, const char *name)
{
    json_t *v = json_object_get(json_object_get(json_object_get(o, group), iface), name);
    return v ? (long long)json_integer_value(v) : 0;
}

static const char *csv3 = "AccountNumber,FirstName,LastName,Phone01,Phone02,TimeZoneBias,"
                          "DstObserved\n"
                          "5001-1,Ann,Lee,15550001,,300,true\n"
                          "5002-1,Bob,Ray,15550002,15550012,-60,false\n"
                          "5003-1,Cy,Ng,15550003,,,\n";

static void test_sim_ucce_import_fills_dialing_list_then_dialer_detail(void **state)
{
    sim_env *e = env_serve(state, 50000);
    http_answer a;
    http_call(e, "POST", "/unifiedconfig/config/campaign/5001/import", "x", NULL, &a);
    assert_int_equal(a.status, 401);
    free(a.body);
    assert_int_equal(post_import(e, 5001, csv3, &a), 200);
    assert_non_null(strstr(a.body, "<importedRecords>3</importedRecords>"));
    free(a.body);

    /* The Dialing_List shape ECM reads over ODBC. */
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM DL_5001_1 WHERE"
                                           " CallStatusZone1 = 'P' AND CallResult = 0"
                                           " AND CallsMadeToZone1 = 0"
                                           " AND ImportRuleDate IS NOT NULL"),
                     3);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT GMTPhone01 FROM DL_5001_1"
                                           " WHERE AccountNumber = '5001-1'"),
                     1140);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT DSTPhone01 FROM DL_5001_1"
                                           " WHERE AccountNumber = '5001-1'"),
                     1);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT GMTPhone02 FROM DL_5001_1"
                                           " WHERE AccountNumber = '5002-1'"),
                     60);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM DL_5001_1"
                                           " WHERE GMTPhone01 IS NULL"),
                     1);

    /* Search and paging. */
    http_call(e, "GET", "/unifiedconfig/config/campaign/5001/import?q=accountNumber:5002-1", NULL,
              AUTH, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "<accountNumber>5002-1</accountNumber>"));
    assert_non_null(strstr(a.body, "<callStatus>P</callStatus>"));
    assert_non_null(strstr(a.body, "<totalResults>1</totalResults>"));
    assert_null(strstr(a.body, "5001-1"));
    free(a.body);
    http_call(e, "GET", "/unifiedconfig/config/campaign/5001/import?startIndex=2&resultsPerPage=1",
              NULL, AUTH, &a);
    assert_non_null(strstr(a.body, "<accountNumber>5003-1</accountNumber>"));
    assert_non_null(strstr(a.body, "<totalResults>3</totalResults>"));
    free(a.body);

    /* Dialled: Dialer_Detail rows (UCCE only) and the dialing list updated. */
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 3);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM Dialer_Detail"
                                           " WHERE CampaignID = 5001"),
                     3);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM DL_5001_1 d JOIN Dialer_Detail x"
                                           " ON x.AccountNumber = d.AccountNumber"
                                           " WHERE d.CallStatusZone1 = 'C'"
                                           " AND d.CallResult = x.CallResult"
                                           " AND d.CallsMadeToZone1 = 1"),
                     3);
    http_call(e, "GET", "/unifiedconfig/config/campaign/5001/import?q=accountNumber:5001-1", NULL,
              AUTH, &a);
    assert_non_null(strstr(a.body, "<callStatus>C</callStatus>"));
    assert_non_null(strstr(a.body, "<callsMade>1</callsMade>"));
    free(a.body);
}

static void test_sim_ucce_account_received_twice_is_a_duplicate_never_redialled(void **state)
{
    sim_env *e = env_serve(state, 50000);
    http_answer a;
    assert_int_equal(post_import(e, 5001, csv3, &a), 200);
    free(a.body);
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 3);
    /* The same account again, through either interface: a duplicate. */
    assert_int_equal(post_import(e, 5009, "AccountNumber,Phone01\n5001-1,1\n", &a), 200);
    assert_non_null(strstr(a.body, "<duplicateRecords>1</duplicateRecords>"));
    free(a.body);
    http_call(e, "POST", "/adminapi/campaign/7/contacts",
              "<campaignContacts><csvdata>Account Number,Phone1\n5002-1,1\n</csvdata>"
              "</campaignContacts>",
              AUTH, &a);
    assert_int_equal(a.status, 202);
    free(a.body);
    json_t *s = get_stats(e);
    assert_int_equal(json_integer_value(json_object_get(s, "duplicate_accounts")), 2);
    assert_int_equal(json_integer_value(json_object_get(s, "dialed")), 3);
    assert_int_equal(sub_stat(s, "interfaces", "ucce_api", "received_rows"), 4);
    assert_int_equal(sub_stat(s, "interfaces", "ucce_api", "duplicate_accounts"), 1);
    assert_int_equal(sub_stat(s, "interfaces", "ucce_api", "dialed"), 3);
    assert_int_equal(sub_stat(s, "interfaces", "uccx", "duplicate_accounts"), 1);
    json_decref(s);
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 0); /* never dialled twice */
}

static void test_sim_ucce_queue_of_30_then_503(void **state)
{
    sim_env *e = env_serve(state, 0.001); /* one record takes 1000 s */
    for (int i = 0; i < SIM_UCCE_MAX_QUEUED; i++) {
        char csv[64];
        snprintf(csv, sizeof csv, "AccountNumber,Phone01\nq-%d,1\n", i);
        sim_ucce_batch b;
        char err[256];
        assert_int_equal(parse_csv(csv, "", &b, err, sizeof err), 0);
        assert_int_equal(sim_ucce_api_enqueue(e->ucce, 5001, &b), 0);
        sim_ucce_batch_destroy(&b);
    }
    assert_int_equal(sim_ucce_api_queued(e->ucce), SIM_UCCE_MAX_QUEUED);
    http_answer a;
    assert_int_equal(post_import(e, 5001, "AccountNumber,Phone01\nq-31,1\n", &a), 503);
    assert_non_null(strstr(a.body, "Request processing queue is at capacity"));
    free(a.body);
    /* Validation still comes first: a bad body is a 400, not a 503. */
    char *big = records_csv(10001, "b-");
    assert_int_equal(post_import(e, 5001, big, &a), 400);
    free(big);
    assert_non_null(strstr(a.body, "more than 10000 records"));
    free(a.body);
    json_t *s = get_stats(e);
    assert_int_equal(sub_stat(s, "refusals", "ucce_api", "queue_full"), 1);
    assert_int_equal(sub_stat(s, "refusals", "ucce_api", "too_many_records"), 1);
    assert_int_equal(json_integer_value(json_object_get(s, "received_rows")), 0);
    json_decref(s);
}

static void test_sim_ucce_campaign_enable_needs_current_change_stamp(void **state)
{
    sim_env *e = env_serve(state, 50000);
    http_answer a;
    const char *path = "/unifiedconfig/config/campaign/5001";
    http_call(e, "GET", path, NULL, AUTH, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "<enabled>true</enabled>"));
    assert_non_null(strstr(a.body, "<changeStamp>0</changeStamp>"));
    free(a.body);
    http_call(e, "PUT", path,
              "<campaign><enabled>false</enabled><changeStamp>7</changeStamp>"
              "</campaign>",
              AUTH, &a);
    assert_int_equal(a.status, 409);
    free(a.body);
    http_call(e, "PUT", path, "<campaign><enabled>false</enabled></campaign>", AUTH, &a);
    assert_int_equal(a.status, 400);
    free(a.body);
    http_call(e, "PUT", path,
              "<campaign><enabled>false</enabled><changeStamp>0</changeStamp>"
              "</campaign>",
              AUTH, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "<changeStamp>1</changeStamp>"));
    free(a.body);

    assert_int_equal(post_import(e, 5001, csv3, &a), 200);
    free(a.body);
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 0); /* disabled: not dialled */
    http_call(e, "DELETE", "/unifiedconfig/config/campaign/5001/import", NULL, AUTH, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "<deletedRecords>3</deletedRecords>"));
    free(a.body);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM DL_5001_1"), 0);
    http_call(e, "PUT", path,
              "<campaign><enabled>true</enabled><changeStamp>1</changeStamp>"
              "</campaign>",
              AUTH, &a);
    assert_int_equal(a.status, 200);
    free(a.body);
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 0); /* nothing left to dial */
    /* Withdrawn, then sent again: not a duplicate. */
    assert_int_equal(post_import(e, 5001, csv3, &a), 200);
    assert_non_null(strstr(a.body, "<duplicateRecords>0</duplicateRecords>"));
    free(a.body);
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 3);
    http_call(e, "DELETE", "/unifiedconfig/config/campaign/5001/import", NULL, AUTH, &a);
    assert_non_null(strstr(a.body, "<deletedRecords>0</deletedRecords>")); /* dialled stay */
    free(a.body);
}

static void test_sim_ucce_import_rule_moves_rows_into_dialing_list(void **state)
{
    sim_env *e = env_serve(state, 50000);
    sim_cm_config ccfg = {e->db->dsn, "Import_5002:5002", 1000, 86400};
    e->cm = sim_cm_new(&ccfg, &e->stop);
    assert_non_null(e->cm);
    assert_int_equal(sim_cm_create_tables(e->cm), 0);
    assert_int_equal(sim_cm_create_tables(e->cm), 0); /* idempotent */
    assert_int_equal(sim_cm_poll(e->cm), 0);
    /* What the ucce_db writer sends, portable SQL. */
    ecm_test_pg_exec(e->c, "INSERT INTO Import_5002 (AccountNumber, FirstName, LastName, Phone01,"
                           " Phone02, TimeZoneBias, DstObserved) VALUES"
                           " ('d-1', 'Ann', 'Lee', '15550001', NULL, 300, 1),"
                           " ('d-2', NULL, NULL, NULL, '15550002', -60, 0),"
                           " ('d-3', NULL, NULL, '555-0100', NULL, NULL, NULL),"
                           " ('d-4', NULL, NULL, '15550004', NULL, NULL, 1),"
                           " ('d-5', NULL, NULL, '15550005', NULL, 900, 0),"
                           " ('d-1', NULL, NULL, '15550001', NULL, NULL, NULL)");
    assert_int_equal(sim_cm_poll(e->cm), 6);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM Import_5002"), 0);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM DL_5002_1"
                                           " WHERE CallStatusZone1 = 'P'"),
                     2);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT GMTPhone02 FROM DL_5002_1"
                                           " WHERE AccountNumber = 'd-2'"),
                     60);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT failed_rows FROM sim_imports"
                                           " WHERE interface = 'ucce_db'"),
                     3);
    json_t *s = get_stats(e);
    assert_int_equal(sub_stat(s, "interfaces", "ucce_db", "received_rows"), 3);
    assert_int_equal(sub_stat(s, "interfaces", "ucce_db", "duplicate_accounts"), 1);
    json_decref(s);
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 2);
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM Dialer_Detail"
                                           " WHERE CampaignID = 5002"),
                     2);
    /* The thread polls by itself: wait for the state, with a generous bound. */
    assert_int_equal(sim_cm_start(e->cm), 0);
    ecm_test_pg_exec(e->c, "INSERT INTO Import_5002 (AccountNumber, Phone01) VALUES ('d-9', '9')");
    for (int i = 0; i < 3000 && ecm_test_pg_int(e->c, "SELECT count(*) FROM DL_5002_1"
                                                      " WHERE AccountNumber = 'd-9'") == 0;
         i++) {
        ecm_test_sleep_ms(10);
    }
    assert_int_equal(ecm_test_pg_int(e->c, "SELECT count(*) FROM DL_5002_1"
                                           " WHERE AccountNumber = 'd-9'"),
                     1);
}

static int group_setup(void **state)
{
    (void)state;
    ecm_log_init("test_sim_ucce", ECM_LOG_ERROR);
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
        cmocka_unit_test(test_sim_ucce_parses_records_and_time_zones),
        cmocka_unit_test(test_sim_ucce_refuses_each_bad_record_with_its_line),
        cmocka_unit_test(test_sim_ucce_refuses_bad_bodies_with_reason),
        cmocka_unit_test(test_sim_ucce_more_than_10000_records_refused),
        cmocka_unit_test(test_sim_ucce_import_rules_config_is_validated),
        cmocka_unit_test_setup_teardown(test_sim_ucce_import_fills_dialing_list_then_dialer_detail,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(
            test_sim_ucce_account_received_twice_is_a_duplicate_never_redialled, env_setup,
            env_teardown),
        cmocka_unit_test_setup_teardown(test_sim_ucce_queue_of_30_then_503, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_sim_ucce_campaign_enable_needs_current_change_stamp,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sim_ucce_import_rule_moves_rows_into_dialing_list,
                                        env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

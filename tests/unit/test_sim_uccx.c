/* The simulator's UCCX API: parsing of the import body (XML with CSV inside)
 * and, with ECM_TEST_PG_DSN, the routes and the dialer against a scratch
 * database over real HTTP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <libxml/parser.h>

#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_test_support.h"
#include "sim_dialer.h"
#include "sim_mix.h"
#include "sim_rec.h"
#include "sim_stats.h"
#include "sim_store.h"
#include "sim_uccx.h"

#define PORT_FIRST 20300
#define PORT_LAST 20399

static int parse(const char *xml, sim_uccx_batch *b, char *err, size_t err_size)
{
    return sim_uccx_parse_contacts(xml, strlen(xml), 1000, b, err, err_size);
}

static void expect_malformed(const char *xml, const char *needle)
{
    sim_uccx_batch b;
    char err[256] = "";
    assert_int_equal(parse(xml, &b, err, sizeof err), -1);
    if (!strstr(err, needle)) {
        fail_msg("error '%s' lacks '%s'", err, needle);
    }
    assert_int_equal(b.n, 0);
    assert_null(b.rows);
}

/* --- parsing ------------------------------------------------------------ */

static void test_sim_uccx_parses_cisco_example_body(void **state)
{
    (void)state;
    const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<campaignContacts xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
                      "  <campaign name=\"Campaign1\">\n"
                      "    <refURL>https://uccx/adminapi/campaign/200</refURL>\n"
                      "  </campaign>\n"
                      "  <csvdata>\n"
                      "Account Number, First Name, Last Name ,Phone1, Phone2, Phone3, Dial Time\n"
                      "ABCD1234, John , Doe, 1401111, 1402222, 1403333, 12:35\n"
                      "ABCD1235, Jane , Smith, 1504444, 1505555, 1506666, 12:35\n"
                      "    </csvdata>\n"
                      "</campaignContacts>\n";
    sim_uccx_batch b;
    char err[256];
    assert_int_equal(parse(xml, &b, err, sizeof err), 0);
    assert_string_equal(b.campaign_name, "Campaign1");
    assert_int_equal(b.n, 2);
    assert_int_equal(b.total_rows, 2);
    assert_int_equal(b.failed_rows, 0);
    assert_string_equal(b.rows[0].account_number, "ABCD1234");
    assert_string_equal(b.rows[0].first_name, "John");
    assert_string_equal(b.rows[0].last_name, "Doe");
    assert_string_equal(b.rows[0].phone[0], "1401111");
    assert_string_equal(b.rows[0].phone[2], "1403333");
    assert_string_equal(b.rows[1].last_name, "Smith");
    assert_string_equal(b.rows[1].phone[1], "1505555");
    sim_uccx_batch_destroy(&b);
}

static void test_sim_uccx_csv_quoted_fields_keep_commas_quotes_and_newlines(void **state)
{
    (void)state;
    const char *xml = "<campaignContacts><csvdata>Account Number,First Name,Last Name,Phone1\r\n"
                      "\"1-1\",\"Smith, Jr.\",\"O\"\"Brien\",\"+15551234\"\r\n"
                      "2-1,\"two\nlines\",&amp;co,5552\r\n"
                      "</csvdata></campaignContacts>";
    sim_uccx_batch b;
    char err[256];
    assert_int_equal(parse(xml, &b, err, sizeof err), 0);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.rows[0].account_number, "1-1");
    assert_string_equal(b.rows[0].first_name, "Smith, Jr.");
    assert_string_equal(b.rows[0].last_name, "O\"Brien");
    assert_string_equal(b.rows[0].phone[0], "+15551234");
    assert_string_equal(b.rows[1].first_name, "two\nlines");
    assert_string_equal(b.rows[1].last_name, "&co");
    assert_string_equal(b.rows[1].phone[1], "");
    sim_uccx_batch_destroy(&b);
}

static void test_sim_uccx_header_names_match_ignoring_case_spaces_and_order(void **state)
{
    (void)state;
    const char *xml = "<campaignContacts><csvdata><![CDATA[\n\n"
                      "  PHONE1 ,Extra Column, account_number ,LASTNAME\n"
                      "555001,ignored,A-1,Lee\n"
                      "]]></csvdata></campaignContacts>";
    sim_uccx_batch b;
    char err[256];
    assert_int_equal(parse(xml, &b, err, sizeof err), 0);
    assert_int_equal(b.n, 1);
    assert_string_equal(b.rows[0].account_number, "A-1");
    assert_string_equal(b.rows[0].phone[0], "555001");
    assert_string_equal(b.rows[0].last_name, "Lee");
    assert_string_equal(b.rows[0].first_name, "");
    assert_string_equal(b.campaign_name, "");
    sim_uccx_batch_destroy(&b);
}

static void test_sim_uccx_invalid_rows_are_counted_and_the_rest_kept(void **state)
{
    (void)state;
    const char *xml = "<campaignContacts><csvdata>Account Number,Phone1\n"
                      "ok-1,5551\n"
                      ",5552\n"
                      "0123456789012345678901234567890,5553\n"
                      "ok-2,\n"
                      "ok-3,5554,surplus\n"
                      "ok-4,55555555555555555555555555555\n"
                      "ok-5,5555\n"
                      "</csvdata></campaignContacts>";
    sim_uccx_batch b;
    char err[256];
    assert_int_equal(parse(xml, &b, err, sizeof err), 0);
    assert_int_equal(b.total_rows, 7);
    assert_int_equal(b.failed_rows, 5);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.rows[0].account_number, "ok-1");
    assert_string_equal(b.rows[1].account_number, "ok-5");
    assert_non_null(strstr(b.first_error, "row 2"));
    assert_non_null(strstr(b.first_error, "account number is empty"));
    sim_uccx_batch_destroy(&b);
}

static void test_sim_uccx_rejects_malformed_bodies_with_reason(void **state)
{
    (void)state;
    expect_malformed("", "empty body");
    expect_malformed("<campaignContacts><csvdata>x</csvdata>", "malformed XML");
    expect_malformed("not xml at all", "malformed XML");
    expect_malformed("<contacts><csvdata>Account Number,Phone1\n1,2\n</csvdata></contacts>",
                     "<campaignContacts>");
    expect_malformed("<campaignContacts><campaign name=\"c\"/></campaignContacts>",
                     "missing <csvdata>");
    expect_malformed("<campaignContacts><csvdata>\n  \n</csvdata></campaignContacts>",
                     "no header line");
    expect_malformed("<campaignContacts><csvdata>First Name,Phone1\nA,1\n</csvdata>"
                     "</campaignContacts>",
                     "Account Number");
    expect_malformed("<campaignContacts><csvdata>Account Number,First Name\n1,A\n</csvdata>"
                     "</campaignContacts>",
                     "Phone1");
    expect_malformed("<campaignContacts><csvdata>Account Number,Phone1,phone 1\n</csvdata>"
                     "</campaignContacts>",
                     "twice");
    expect_malformed("<campaignContacts><csvdata>Account Number,Phone1\n\"1-1,555\n"
                     "</csvdata></campaignContacts>",
                     "not valid CSV");
    expect_malformed("<campaignContacts><csvdata>Account Number,Phone1\n1\"x,555\n"
                     "</csvdata></campaignContacts>",
                     "not valid CSV");
    expect_malformed("<campaignContacts><csvdata>a</csvdata><csvdata>b</csvdata>"
                     "</campaignContacts>",
                     "more than one");
}

static void test_sim_uccx_rejects_more_rows_than_the_limit(void **state)
{
    (void)state;
    const char *xml = "<campaignContacts><csvdata>Account Number,Phone1\n1,1\n2,2\n3,3\n"
                      "</csvdata></campaignContacts>";
    sim_uccx_batch b;
    char err[256];
    assert_int_equal(sim_uccx_parse_contacts(xml, strlen(xml), 2, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 2 rows"));
    assert_int_equal(sim_uccx_parse_contacts(xml, strlen(xml), 3, &b, err, sizeof err), 0);
    assert_int_equal(b.n, 3);
    sim_uccx_batch_destroy(&b);
}

static void test_sim_uccx_does_not_expand_external_entities(void **state)
{
    (void)state;
    const char *xml = "<?xml version=\"1.0\"?>\n"
                      "<!DOCTYPE campaignContacts [<!ENTITY leak SYSTEM \"file:///etc/passwd\">]>\n"
                      "<campaignContacts><csvdata>Account Number,Phone1\n&leak;x,1\n"
                      "</csvdata></campaignContacts>";
    sim_uccx_batch b;
    char err[256];
    if (parse(xml, &b, err, sizeof err) == 0) {
        for (size_t i = 0; i < b.n; i++) {
            assert_null(strstr(b.rows[i].account_number, "root"));
        }
        sim_uccx_batch_destroy(&b);
    }
}

static void test_sim_uccx_translates_ucce_results_to_uccx_codes(void **state)
{
    (void)state;
    /* The contract's table, UCCE CallResult -> UCCX callResult. */
    static const int pairs[][2] = {
        {10, 1},  {11, 2},  {12, 3},  {22, 3},  {3, 4},   {5, 4},   {7, 4},   {26, 5},
        {23, 6},  {24, 7},  {14, 8},  {15, 8},  {18, 9},  {19, 10}, {9, 11},  {8, 15},
        {28, 15}, {13, 16}, {16, 16}, {20, 16}, {2, 17},  {4, 17},  {6, 17},  {27, 17},
        {29, 17}, {30, 17}, {31, 17}, {32, 17}, {21, 18}, {25, 17}, {17, 17}, {33, 12},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if (sim_rec_uccx_result(pairs[i][0]) != pairs[i][1]) {
            fail_msg("UCCE %d -> %d, expected %d", pairs[i][0], sim_rec_uccx_result(pairs[i][0]),
                     pairs[i][1]);
        }
    }
    for (int code = -5; code < 100; code++) {
        int x = sim_rec_uccx_result(code);
        assert_true(x >= 1 && x <= 18);
    }
}

static void test_sim_uccx_limits_are_ciscos(void **state)
{
    (void)state;
    sim_uccx_batch b;
    char err[256];
    const char *xml = "<campaignContacts><csvdata>Account Number,Phone1,Phone2\n"
                      "1234567890123456789012345,+441234567890123456789012345,1\n"
                      "12345678901234567890123456,1,2\n"
                      "ok,12-34,\n"
                      "</csvdata><allowDuplicateContacts>true</allowDuplicateContacts>"
                      "</campaignContacts>";
    assert_int_equal(parse(xml, &b, err, sizeof err), 0);
    assert_int_equal(b.n, 1); /* 25 characters, a 28-character E.164 number */
    assert_int_equal(b.failed_rows, 2);
    assert_non_null(strstr(b.first_error, "row 2: Account Number longer than 25"));
    assert_int_equal(b.allow_duplicates, 1);
    sim_uccx_batch_destroy(&b);
    expect_malformed("<campaignContacts><allowDuplicateContacts>yes</allowDuplicateContacts>"
                     "<csvdata>Account Number,Phone1\n1,1\n</csvdata></campaignContacts>",
                     "allowDuplicateContacts must be true or false");
    expect_malformed("<campaignContacts><allowDuplicateContacts>true</allowDuplicateContacts>"
                     "<allowDuplicateContacts>true</allowDuplicateContacts>"
                     "<csvdata>Account Number,Phone1\n1,1\n</csvdata></campaignContacts>",
                     "more than one <allowDuplicateContacts>");
}

/* --- over HTTP, with a database ----------------------------------------- */

typedef struct {
    ecm_test_db *db;
    volatile sig_atomic_t stop;
    sim_store *store;
    ecm_metrics *metrics;
    ecm_http *http;
    sim_uccx *uccx;
    sim_mix *mix;
    sim_dialer *dialer;
    int port;
} sim_env;

/* Per test: a scratch database and a store on it; torn down even when the
 * test fails. */
static int env_setup(void **state)
{
    *state = NULL;
    ecm_test_db *db = ecm_test_db_new("sim_ciscosim_t");
    if (!db) {
        return 0;
    }
    sim_env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->db = db;
    *state = e;

    e->store = sim_store_new(e->db->dsn, 2, &e->stop);
    assert_non_null(e->store);
    assert_int_equal(sim_store_init_schema(e->store), 0);
    assert_int_equal(sim_store_init_schema(e->store), 0); /* idempotent */
    e->metrics = ecm_metrics_new();
    char err[256];
    assert_int_equal(sim_mix_parse("10:40,8:25,9:10,12:10,3:5,25:5,14:5", &e->mix, err, sizeof err),
                     0);
    return 0;
}

static int env_teardown(void **state)
{
    sim_env *e = *state;
    if (!e) {
        return 0;
    }
    e->stop = 1;
    ecm_http_destroy(e->http);
    sim_dialer_destroy(e->dialer);
    sim_uccx_destroy(e->uccx);
    sim_store_destroy(e->store);
    sim_mix_destroy(e->mix);
    ecm_metrics_destroy(e->metrics);
    (void)ecm_test_db_destroy(e->db);
    free(e);
    return 0;
}

/* Serves the API on a port of this test's range and makes a dialer; skips
 * the test when there is no database. */
static sim_env *env_serve(void **state, long long capacity, long long delay_ms)
{
    sim_env *e = ecm_test_need(*state);
    sim_uccx_config ucfg = {"admin", "s3cret:pw", capacity};
    e->uccx = sim_uccx_new(&ucfg, e->store, e->metrics);
    assert_non_null(e->uccx);
    /* Another run of this test may hold a port of the range: try the next. */
    for (int port = PORT_FIRST + (int)(getpid() % 50); port <= PORT_LAST; port++) {
        e->http = ecm_http_new("127.0.0.1", port, e->metrics);
        assert_non_null(e->http);
        assert_int_equal(sim_uccx_add_routes(e->uccx, e->http), 0);
        assert_int_equal(sim_stats_add_route(e->http, e->store), 0);
        if (ecm_http_start(e->http) == 0) {
            e->port = port;
            break;
        }
        ecm_http_destroy(e->http);
        e->http = NULL;
    }
    assert_non_null(e->http);
    sim_dialer_config dcfg = {e->db->dsn, 100, delay_ms, 100, 42, e->mix, NULL};
    e->dialer = sim_dialer_new(&dcfg, e->metrics, &e->stop);
    assert_non_null(e->dialer);
    return e;
}

/* The <csvdata> of an answer read back by the import parser: what a
 * reconciling client would read. */
static void listed_contacts(const char *body, sim_uccx_batch *out)
{
    char err[256];
    if (sim_uccx_parse_contacts(body, strlen(body), 100000, out, err, sizeof err) != 0) {
        fail_msg("contact list unreadable: %s", err);
    }
}

typedef ecm_test_http_answer http_answer;

/* One request; auth is "user:password" or NULL. The caller frees a->body. */
static void http_call(const sim_env *e, const char *method, const char *path, const char *body,
                      const char *auth, http_answer *a)
{
    const char *headers[] = {"Content-Type: application/xml", NULL};
    /* A PUT without a body still says Content-Length: 0. */
    if (!body && strcmp(method, "PUT") == 0) {
        body = "";
    }
    ecm_test_http_request(a, e->port, method, path, headers, body, body ? strlen(body) : 0, auth);
}

static json_t *get_stats(const sim_env *e)
{
    http_answer a;
    http_call(e, "GET", "/sim/stats", NULL, NULL, &a);
    assert_int_equal(a.status, 200);
    json_error_t jerr;
    json_t *o = json_loads(a.body, 0, &jerr);
    if (!o) {
        fail_msg("stats not JSON: %s", a.body);
    }
    free(a.body);
    return o;
}

static long long stat(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_integer(v)) {
        fail_msg("stats lack %s", name);
    }
    return (long long)json_integer_value(v);
}

#define AUTH "admin:s3cret:pw"

static const char *batch3 =
    "<campaignContacts><campaign name=\"Spring\"><refURL>x</refURL></campaign>"
    "<csvdata>Account Number,First Name,Last Name,Phone1,Phone2,Phone3\n"
    "100-1,Ann,Lee,15550001,,\n"
    "101-1,Bob,\"Ray, Jr\",15550002,15550012,\n"
    "102-1,Cy,Ng,15550003,,\n"
    "</csvdata></campaignContacts>";

static void test_sim_uccx_import_requires_basic_auth(void **state)
{
    sim_env *e = env_serve(state, 100, 0);
    http_answer a;
    http_call(e, "POST", "/adminapi/campaign/7/contacts", batch3, NULL, &a);
    assert_int_equal(a.status, 401);
    char www_auth[256];
    ecm_test_http_header(&a, "WWW-Authenticate", www_auth, sizeof www_auth);
    assert_non_null(strstr(www_auth, "Basic"));
    free(a.body);
    http_call(e, "POST", "/adminapi/campaign/7/contacts", batch3, "admin:wrong", &a);
    assert_int_equal(a.status, 401);
    free(a.body);
    http_call(e, "GET", "/adminapi/campaign/7/contacts/status", NULL, "admin:s3cret:p", &a);
    assert_int_equal(a.status, 401);
    free(a.body);
    json_t *s = get_stats(e);
    assert_int_equal(stat(s, "received_rows"), 0);
    json_decref(s);
}

static void test_sim_uccx_import_then_resend_counts_one_duplicate_account(void **state)
{
    sim_env *e = env_serve(state, 100, 0);
    http_answer a;
    http_call(e, "POST", "/adminapi/campaign/7/contacts", batch3, AUTH, &a);
    assert_int_equal(a.status, 202);
    char expect[128];
    snprintf(expect, sizeof expect, "http://127.0.0.1:%d/adminapi/campaign/7/contacts/status",
             e->port);
    char location[512];
    ecm_test_http_header(&a, "Location", location, sizeof location);
    assert_string_equal(location, expect);
    assert_non_null(strstr(a.body, "<statusURL>"));
    assert_non_null(strstr(a.body, expect));
    free(a.body);

    json_t *s = get_stats(e);
    assert_int_equal(stat(s, "received_rows"), 3);
    assert_int_equal(stat(s, "unique_accounts"), 3);
    assert_int_equal(stat(s, "duplicate_accounts"), 0);
    assert_int_equal(stat(s, "pending"), 3);
    assert_int_equal(stat(s, "imports"), 1);
    json_decref(s);

    /* The same account again, even to another campaign, is a duplicate. */
    const char *again = "<campaignContacts><csvdata>Account Number,Phone1\n101-1,15550002\n"
                        "</csvdata></campaignContacts>";
    http_call(e, "POST", "/adminapi/campaign/8/contacts", again, AUTH, &a);
    assert_int_equal(a.status, 202);
    free(a.body);
    s = get_stats(e);
    assert_int_equal(stat(s, "received_rows"), 4);
    assert_int_equal(stat(s, "unique_accounts"), 3);
    assert_int_equal(stat(s, "duplicate_accounts"), 1);
    assert_int_equal(stat(s, "duplicate_receipts"), 1);
    assert_int_equal(stat(s, "pending"), 3);
    assert_int_equal(stat(s, "imports"), 2);
    json_decref(s);

    http_call(e, "GET", "/adminapi/campaign/8/contacts/status", NULL, AUTH, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "<state>COMPLETED</state>"));
    assert_non_null(strstr(a.body, "<numContactsTotal>1</numContactsTotal>"));
    assert_non_null(strstr(a.body, "<numContactsDuplicate>1</numContactsDuplicate>"));
    free(a.body);
    http_call(e, "GET", "/adminapi/campaign/9/contacts/status", NULL, AUTH, &a);
    assert_int_equal(a.status, 404);
    free(a.body);

    /* A client reconciling sees every account that arrived. */
    http_call(e, "GET", "/adminapi/campaign/7/contacts", NULL, AUTH, &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "100-1,Ann,Lee,15550001,,,pending\n"));
    sim_uccx_batch listed;
    listed_contacts(a.body, &listed);
    free(a.body);
    assert_string_equal(listed.campaign_name, "Spring");
    assert_int_equal(listed.n, 3);
    assert_string_equal(listed.rows[0].account_number, "100-1");
    assert_string_equal(listed.rows[0].phone[0], "15550001");
    assert_string_equal(listed.rows[1].account_number, "101-1");
    assert_string_equal(listed.rows[1].last_name, "Ray, Jr");
    assert_string_equal(listed.rows[1].phone[1], "15550012");
    assert_string_equal(listed.rows[2].account_number, "102-1");
    sim_uccx_batch_destroy(&listed);
    http_call(e, "GET", "/adminapi/campaign/99/contacts", NULL, AUTH, &a);
    assert_int_equal(a.status, 404);
    free(a.body);

    http_call(e, "POST", "/adminapi/campaign/7/contacts", "<campaignContacts>", AUTH, &a);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(a.body, "malformed XML"));
    free(a.body);
    http_call(e, "POST", "/adminapi/campaign/abc/contacts", batch3, AUTH, &a);
    assert_int_equal(a.status, 404);
    free(a.body);
}

static void test_sim_uccx_import_over_capacity_is_rejected_whole_and_counted(void **state)
{
    sim_env *e = env_serve(state, 4, 0);
    http_answer a;
    http_call(e, "POST", "/adminapi/campaign/7/contacts", batch3, AUTH, &a);
    assert_int_equal(a.status, 202);
    free(a.body);
    const char *two = "<campaignContacts><csvdata>Account Number,Phone1\n200-1,1\n201-1,2\n"
                      "</csvdata></campaignContacts>";
    http_call(e, "POST", "/adminapi/campaign/7/contacts", two, AUTH, &a);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(a.body, "over capacity"));
    free(a.body);
    /* Capacity is per campaign: another campaign still takes them. */
    http_call(e, "POST", "/adminapi/campaign/8/contacts", two, AUTH, &a);
    assert_int_equal(a.status, 202);
    free(a.body);
    json_t *s = get_stats(e);
    assert_int_equal(stat(s, "over_capacity_rejections"), 1);
    assert_int_equal(stat(s, "unique_accounts"), 5);
    assert_int_equal(stat(s, "imports"), 2);
    json_decref(s);
    http_call(e, "GET", "/adminapi/campaign/7/contacts/status", NULL, AUTH, &a);
    assert_non_null(strstr(a.body, "<state>REJECTED</state>"));
    free(a.body);

    /* Dialling frees capacity again. */
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 5);
    http_call(e, "POST", "/adminapi/campaign/7/contacts",
              "<campaignContacts><csvdata>Account Number,Phone1\n300-1,1\n301-1,2\n"
              "</csvdata></campaignContacts>",
              AUTH, &a);
    assert_int_equal(a.status, 202);
    free(a.body);
}

/* /sim/stats after the three contacts of batch3 were dialled. */
static void expect_dial_stats(const sim_env *e, const int by_code[SIM_STATS_MAX_CODES])
{
    json_t *s = get_stats(e);
    assert_int_equal(stat(s, "dialed"), 3);
    assert_int_equal(stat(s, "pending"), 0);
    json_t *by = json_object_get(s, "by_call_result");
    for (int code = 0; code < SIM_STATS_MAX_CODES; code++) {
        char key[8];
        snprintf(key, sizeof key, "%d", code);
        json_t *v = json_object_get(by, key);
        assert_int_equal(v ? json_integer_value(v) : 0, by_code[code]);
    }
    json_t *uccx = json_object_get(json_object_get(s, "interfaces"), "uccx");
    assert_int_equal(json_integer_value(json_object_get(uccx, "dialed")), 3);
    assert_int_equal(json_integer_value(json_object_get(uccx, "received_rows")), 3);
    json_decref(s);
}

static void test_sim_uccx_dialer_tick_closes_dialinglist_records_without_dialer_detail(void **state)
{
    sim_env *e = env_serve(state, 100, 0);
    http_answer a;
    http_call(e, "PUT", "/adminapi/campaign/7/state/disable", NULL, AUTH, &a);
    assert_int_equal(a.status, 200);
    free(a.body);
    http_call(e, "POST", "/adminapi/campaign/7/contacts", batch3, AUTH, &a);
    assert_int_equal(a.status, 202);
    free(a.body);
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 0); /* disabled: not dialled */
    http_call(e, "PUT", "/adminapi/campaign/7/state/enable", NULL, AUTH, &a);
    assert_int_equal(a.status, 200);
    free(a.body);
    http_call(e, "PUT", "/adminapi/campaign/7/state/sideways", NULL, AUTH, &a);
    assert_int_equal(a.status, 400);
    free(a.body);

    assert_int_equal(sim_dialer_tick(e->dialer, 2), 2); /* the tick's limit holds */
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 1);
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 0);

    /* UCCX has no Dialer_Detail: the results are in db_cra's dialinglist, as
     * the uccx reader asks for them over ODBC. */
    PGconn *c = PQconnectdb(e->db->dsn);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "SELECT count(*) FROM Dialer_Detail");
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    r = PQexec(c, "SELECT accountnumber, callstatus, callresult, lastnumberdialed,"
                  " callsmadetophone01, callresult01, lastupdated >= dateadded"
                  " FROM dialinglist WHERE campaignid = 7 ORDER BY accountnumber");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 3);
    const char *accounts[] = {"100-1", "101-1", "102-1"};
    sim_dialer_config dcfg = {e->db->dsn, 100, 0, 100, 42, e->mix, NULL};
    int by_code[SIM_STATS_MAX_CODES] = {0};
    for (int i = 0; i < 3; i++) {
        assert_string_equal(PQgetvalue(r, i, 0), accounts[i]);
        sim_dial_outcome o;
        sim_dialer_decide(&dcfg, accounts[i], &o);
        int uccx = sim_rec_uccx_result(o.call_result);
        assert_string_equal(PQgetvalue(r, i, 1), "3"); /* closed */
        assert_int_equal(strtol(PQgetvalue(r, i, 2), NULL, 10), uccx);
        assert_string_equal(PQgetvalue(r, i, 3), "1");
        assert_string_equal(PQgetvalue(r, i, 4), "1");
        assert_int_equal(strtol(PQgetvalue(r, i, 5), NULL, 10), uccx);
        assert_string_equal(PQgetvalue(r, i, 6), "t");
        by_code[o.call_result]++;
    }
    PQclear(r);
    PQfinish(c);

    expect_dial_stats(e, by_code);

    /* As Cisco: dialled records are no longer listed, pending or not. */
    http_call(e, "GET", "/adminapi/campaign/7/contacts", NULL, AUTH, &a);
    assert_int_equal(a.status, 200);
    assert_null(strstr(a.body, "100-1"));
    free(a.body);

    /* The counters live in the database: a new store sees the same. */
    sim_store *again = sim_store_new(e->db->dsn, 1, &e->stop);
    sim_stats st;
    assert_int_equal(sim_store_stats(again, &st), 0);
    assert_int_equal(st.dialed, 3);
    assert_int_equal(st.received_rows, 3);
    sim_store_destroy(again);
}

static void test_sim_uccx_dialer_waits_for_the_dial_delay(void **state)
{
    sim_env *e = env_serve(state, 100, 60000);
    http_answer a;
    http_call(e, "POST", "/adminapi/campaign/7/contacts", batch3, AUTH, &a);
    assert_int_equal(a.status, 202);
    free(a.body);
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 0);
}

/* GET …/contacts[?q=] answer body, or fails. */
static char *list_body(const sim_env *e, const char *path, int expect_status)
{
    http_answer a;
    http_call(e, "GET", path, NULL, AUTH, &a);
    assert_int_equal(a.status, expect_status);
    return a.body;
}

static void test_sim_uccx_lists_only_pending_records(void **state)
{
    sim_env *e = env_serve(state, 100, 0);
    http_answer a;
    http_call(e, "POST", "/adminapi/campaign/7/contacts", batch3, AUTH, &a);
    assert_int_equal(a.status, 202);
    free(a.body);
    assert_int_equal(sim_dialer_tick(e->dialer, 1), 1); /* 100-1 dialled and closed */
    char *body = list_body(e, "/adminapi/campaign/7/contacts", 200);
    assert_null(strstr(body, "100-1"));
    assert_non_null(strstr(body, "101-1"));
    assert_non_null(strstr(body, "102-1"));
    free(body);
    body = list_body(e, "/adminapi/campaign/7/contacts?q=PENDING", 200);
    assert_non_null(strstr(body, "102-1"));
    free(body);
    const char *none[] = {"CALLBACK", "RETRY", "RETRIES_WITH_DELAY", "MAX_CALLS", "UNKNOWN"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/adminapi/campaign/7/contacts?q=%s", none[i]);
        body = list_body(e, path, 200);
        assert_null(strstr(body, "-1,"));
        free(body);
    }
    body = list_body(e, "/adminapi/campaign/7/contacts?q=CLOSED", 400);
    free(body);

    /* DELETE withdraws what is not dialled; the dialled record stays. */
    http_answer a2;
    http_call(e, "DELETE", "/adminapi/campaign/7/contacts", NULL, AUTH, &a2);
    assert_int_equal(a2.status, 200);
    free(a2.body);
    body = list_body(e, "/adminapi/campaign/7/contacts", 200);
    assert_null(strstr(body, "-1,"));
    free(body);
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 0);
    json_t *s = get_stats(e);
    assert_int_equal(stat(s, "dialed"), 1);
    assert_int_equal(stat(s, "pending"), 0);
    json_decref(s);
    PGconn *c = PQconnectdb(e->db->dsn);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM dialinglist"), 1);
    PQfinish(c);
}

/* POSTs one record (account, phone) to campaign 7; allow: the
 * allowDuplicateContacts element ("" none). Returns numContactsImported. */
static int post_one(const sim_env *e, const char *account, const char *phone, const char *allow)
{
    char xml[512];
    snprintf(xml, sizeof xml,
             "<campaignContacts>%s%s%s<csvdata>Account Number,Phone1\n%s,%s\n</csvdata>"
             "</campaignContacts>",
             allow[0] ? "<allowDuplicateContacts>" : "", allow,
             allow[0] ? "</allowDuplicateContacts>" : "", account, phone);
    http_answer a;
    http_call(e, "POST", "/adminapi/campaign/7/contacts", xml, AUTH, &a);
    assert_int_equal(a.status, 202);
    const char *p = strstr(a.body, "<numContactsImported>");
    assert_non_null(p);
    int n = (int)strtol(p + strlen("<numContactsImported>"), NULL, 10);
    free(a.body);
    return n;
}

static void test_sim_uccx_phone_duplicates_are_not_imported(void **state)
{
    sim_env *e = env_serve(state, 100, 0);
    assert_int_equal(post_one(e, "a-1", "5550100", ""), 1);
    /* Same phone, pending in the campaign: not imported, counted. */
    assert_int_equal(post_one(e, "a-2", "5550100", "false"), 0);
    http_answer a;
    http_call(e, "GET", "/adminapi/campaign/7/contacts/status", NULL, AUTH, &a);
    assert_non_null(strstr(a.body, "<numContactsPhoneDuplicate>1</numContactsPhoneDuplicate>"));
    free(a.body);
    /* allowDuplicateContacts true: no phone check. */
    assert_int_equal(post_one(e, "a-3", "5550100", "true"), 1);
    /* Twice in one import: the later row is not imported. */
    http_call(e, "POST", "/adminapi/campaign/7/contacts",
              "<campaignContacts><csvdata>Account Number,Phone1,Phone2\nb-1,1,5550200\n"
              "b-2,5550200,\n</csvdata></campaignContacts>",
              AUTH, &a);
    assert_non_null(strstr(a.body, "<numContactsImported>1</numContactsImported>"));
    free(a.body);
    /* Dialled since the last midnight still counts ... */
    assert_int_equal(sim_dialer_tick(e->dialer, 100), 3);
    assert_int_equal(post_one(e, "a-4", "5550100", ""), 0);
    /* ... dialled before it does not. */
    ecm_pg *pg = ecm_pg_new(e->db->dsn, &e->stop);
    long long moved = -1;
    assert_int_equal(sim_store_uccx_midnight(pg, 86400, &moved), 0);
    assert_int_equal(moved, 0); /* closed less than a day ago: stays */
    ecm_pg_destroy(pg);
    assert_int_equal(post_one(e, "a-5", "5550100", ""), 1);
    json_t *s = get_stats(e);
    assert_int_equal(stat(s, "phone_duplicates"), 3);
    assert_int_equal(stat(s, "duplicate_accounts"), 0);
    json_decref(s);
}

static void test_sim_uccx_midnight_moves_closed_records_to_history(void **state)
{
    sim_env *e = env_serve(state, 100, 0);
    http_answer a;
    http_call(e, "POST", "/adminapi/campaign/7/contacts", batch3, AUTH, &a);
    free(a.body);
    assert_int_equal(sim_dialer_tick(e->dialer, 2), 2);
    ecm_pg *pg = ecm_pg_new(e->db->dsn, &e->stop);
    long long moved = -1;
    assert_int_equal(sim_store_uccx_midnight(pg, 0, &moved), 0);
    assert_int_equal(moved, 2);
    ecm_pg_destroy(pg);
    PGconn *c = PQconnectdb(e->db->dsn);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM dialinglist"), 1);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM dialinglist WHERE callstatus = 1"),
                     1);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM dialinglisthistory"
                                        " WHERE callstatus = 3 AND callresult > 0"
                                        " AND accountnumber IN ('100-1', '101-1')"),
                     2);
    PQfinish(c);
}

static void test_sim_uccx_more_than_100000_rows_refused(void **state)
{
    sim_env *e = env_serve(state, 200000, 0);
    size_t cap = 100001 * 16 + 256;
    char *xml = malloc(cap);
    assert_non_null(xml);
    size_t used = (size_t)snprintf(xml, cap, "<campaignContacts><csvdata>Account Number,Phone1\n");
    for (int i = 0; i < 100001; i++) {
        used += (size_t)snprintf(xml + used, cap - used, "r%d,%d\n", i, i);
    }
    snprintf(xml + used, cap - used, "</csvdata></campaignContacts>");
    http_answer a;
    http_call(e, "POST", "/adminapi/campaign/7/contacts", xml, AUTH, &a);
    free(xml);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(a.body, "more than 100000 rows"));
    free(a.body);
    json_t *s = get_stats(e);
    json_t *r = json_object_get(json_object_get(s, "refusals"), "uccx");
    assert_int_equal(json_integer_value(json_object_get(r, "too_many_rows")), 1);
    assert_int_equal(stat(s, "received_rows"), 0);
    json_decref(s);
}

static int group_setup(void **state)
{
    (void)state;
    ecm_log_init("test_sim_uccx", ECM_LOG_ERROR);
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
        cmocka_unit_test(test_sim_uccx_parses_cisco_example_body),
        cmocka_unit_test(test_sim_uccx_csv_quoted_fields_keep_commas_quotes_and_newlines),
        cmocka_unit_test(test_sim_uccx_header_names_match_ignoring_case_spaces_and_order),
        cmocka_unit_test(test_sim_uccx_invalid_rows_are_counted_and_the_rest_kept),
        cmocka_unit_test(test_sim_uccx_rejects_malformed_bodies_with_reason),
        cmocka_unit_test(test_sim_uccx_rejects_more_rows_than_the_limit),
        cmocka_unit_test(test_sim_uccx_does_not_expand_external_entities),
        cmocka_unit_test(test_sim_uccx_translates_ucce_results_to_uccx_codes),
        cmocka_unit_test(test_sim_uccx_limits_are_ciscos),
        cmocka_unit_test_setup_teardown(test_sim_uccx_lists_only_pending_records, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_sim_uccx_phone_duplicates_are_not_imported, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_sim_uccx_midnight_moves_closed_records_to_history,
                                        env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sim_uccx_more_than_100000_rows_refused, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_sim_uccx_import_requires_basic_auth, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(
            test_sim_uccx_import_then_resend_counts_one_duplicate_account, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(
            test_sim_uccx_import_over_capacity_is_rejected_whole_and_counted, env_setup,
            env_teardown),
        cmocka_unit_test_setup_teardown(
            test_sim_uccx_dialer_tick_closes_dialinglist_records_without_dialer_detail, env_setup,
            env_teardown),
        cmocka_unit_test_setup_teardown(test_sim_uccx_dialer_waits_for_the_dial_delay, env_setup,
                                        env_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* The feeder's UCCE writers and the reconciliation of every kind from all
 * the dialer can tell: the Outbound API's import body (read back with
 * libxml2), TimeZoneBias/DstObserved from ICU, the ucce_db INSERT with
 * parameter arrays and its lookups over psqlODBC (Cisco-shaped tables the
 * test creates in its own scratch database), the 503 back-pressure path
 * against a fake Outbound API, and attempts left 'sending' that the dialer
 * already dialled (Dialer_Detail, db_cra's history) marked 'sent', not
 * re-sent. The pure tests run always; the rest needs ECM_TEST_PG_DSN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ecm_gate.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_odbc.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"
#include "fd_test_support.h"
#include "fd_dispatch.h"
#include "fd_feeder.h"
#include "fd_reconcile.h"
#include "fd_ucce.h"
#include "fd_ucce_api.h"
#include "fd_ucce_db.h"
#include "fd_writer.h"
#include "test_fd_fake_uccx.h"

/* Ports of this binary, inside the feeder's 20500-20599. */
#define PORT_LO 20540
#define PORT_HI 20548
#define DEAD_PORT "20549"
/* 2026-03-09 12:00 UTC (winter in both hemispheres' northern half). */
#define MIDDAY_MS 1773057600000LL
#define MIDDAY "2026-03-09T12:00:00Z"

/* ---- pure: the import body and the time fields ---- */

static void test_tz_bias_and_dst_from_icu(void **state)
{
    (void)state;
    int bias = 99, dst = 99;
    assert_int_equal(fd_ucce_tz("America/New_York", MIDDAY_MS, &bias, &dst), 0);
    assert_int_equal(bias, 300);
    assert_int_equal(dst, 1);
    assert_int_equal(fd_ucce_tz("Asia/Kolkata", MIDDAY_MS, &bias, &dst), 0);
    assert_int_equal(bias, -330);
    assert_int_equal(dst, 0);
    assert_int_equal(fd_ucce_tz("Europe/London", MIDDAY_MS, &bias, &dst), 0);
    assert_int_equal(bias, 0);
    assert_int_equal(dst, 1);
    /* In summer too the bias is the standard one (DST is DstObserved's). */
    assert_int_equal(fd_ucce_tz("America/New_York", MIDDAY_MS + 120LL * 86400000, &bias, &dst), 0);
    assert_int_equal(bias, 300);
    /* UTC+14: bias -840 is outside -780..720, Cisco can't take it. */
    assert_int_equal(fd_ucce_tz("Pacific/Kiritimati", MIDDAY_MS, &bias, &dst), -2);
    assert_int_equal(bias, -840);
    assert_int_equal(dst, 0);
    assert_int_equal(fd_ucce_tz("Pacific/Tongatapu", MIDDAY_MS, &bias, &dst), 0);
    assert_int_equal(bias, -780);
    assert_int_equal(fd_ucce_tz("Mars/Olympus", MIDDAY_MS, &bias, &dst), -1);
    assert_int_equal(fd_ucce_tz(NULL, MIDDAY_MS, &bias, &dst), -1);
}

static void test_record_cleans_fields_for_the_import(void **state)
{
    (void)state;
    fd_ucce_record r;
    fd_contact c = {.account_number = "12-1",
                    .first_name = "Ann, \"Jr\"\n",
                    .last_name = "\xEF\xBF\xBEX",
                    .phone = "+1 (555) 010-0#*",
                    .time_zone = "Pacific/Kiritimati"};
    assert_int_equal(fd_ucce_record_make(&c, MIDDAY_MS, &r), 0);
    assert_string_equal(r.account, "12-1");
    assert_string_equal(r.first_name, "Ann  \"Jr\" ");
    assert_string_equal(r.last_name, "\xEF\xBF\xBDX");
    assert_string_equal(r.phone, "15550100#*");
    assert_int_equal(r.has_bias, 0); /* UTC+14: both time fields left empty */
    /* 60 characters of a name become 50. */
    c.first_name = "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3"
                   "\xA9"
                   "0123456789012345678901234567890123456789012345678901234567890";
    c.time_zone = "Asia/Kolkata";
    assert_int_equal(fd_ucce_record_make(&c, MIDDAY_MS, &r), 0);
    assert_int_equal(strlen(r.first_name), 10 * 2 + 40);
    assert_int_equal(r.has_bias, 1);
    assert_string_equal(r.bias_text, "-330");
    assert_string_equal(r.dst_text, "0");
    c.phone = "+";
    assert_int_equal(fd_ucce_record_make(&c, MIDDAY_MS, &r), -1);
    c.phone = "123456789012345678901"; /* 21 digits */
    assert_int_equal(fd_ucce_record_make(&c, MIDDAY_MS, &r), -1);
    c.phone = "1";
    c.account_number = "0123456789012345678901234567890"; /* 31 bytes */
    assert_int_equal(fd_ucce_record_make(&c, MIDDAY_MS, &r), -1);
}

/* The text of the root's child `name`, or NULL (xmlFree). */
static xmlChar *child_text(xmlNodePtr root, const char *name)
{
    for (xmlNodePtr n = root->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST name) == 0)
            return xmlNodeGetContent(n);
    }
    return NULL;
}

static void test_import_body_reads_back_exactly(void **state)
{
    (void)state;
    fd_ucce_record r[3];
    fd_contact c[3] = {
        {.account_number = "1-1",
         .first_name = "Ann",
         .last_name = "Lee",
         .phone = "+15550001",
         .time_zone = "America/New_York"},
        {.account_number = "2-1",
         .first_name = "a]]>b",
         .last_name = "<&>",
         .phone = "15550002",
         .time_zone = "Asia/Kolkata"},
        {.account_number = "3-2",
         .first_name = NULL,
         .last_name = "x]]>]]>",
         .phone = "3",
         .time_zone = "Pacific/Kiritimati"},
    };
    for (int i = 0; i < 3; i++)
        assert_int_equal(fd_ucce_record_make(&c[i], MIDDAY_MS, &r[i]), 0);
    size_t len = 0;
    char *xml = fd_ucce_api_build_import(r, 3, &len);
    assert_non_null(xml);
    assert_int_equal(strlen(xml), len);
    /* The "]]>" of the data never ends a CDATA section early. */
    assert_non_null(strstr(xml, "<![CDATA[AccountNumber,"));
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "import.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_string_equal((const char *)root->name, "import");
    xmlChar *csv = child_text(root, "fileContent");
    xmlChar *delim = child_text(root, "delimiter");
    xmlChar *over = child_text(root, "overwriteData");
    assert_string_equal((const char *)csv,
                        "AccountNumber,FirstName,LastName,Phone01,TimeZoneBias,DstObserved\n"
                        "1-1,Ann,Lee,15550001,300,true\n"
                        "2-1,a]]>b,<&>,15550002,-330,false\n"
                        "3-2,,x]]>]]>,3,,\n");
    assert_string_equal((const char *)delim, ",");
    assert_string_equal((const char *)over, "false");
    xmlFree(csv);
    xmlFree(delim);
    xmlFree(over);
    xmlFreeDoc(doc);
    free(xml);
}

static void test_import_body_refuses_more_than_10000_records(void **state)
{
    (void)state;
    fd_ucce_record *r = calloc(FD_UCCE_API_MAX_RECORDS + 1, sizeof *r);
    assert_non_null(r);
    for (size_t i = 0; i <= FD_UCCE_API_MAX_RECORDS; i++) {
        snprintf(r[i].account, sizeof r[i].account, "%zu-1", i);
        snprintf(r[i].phone, sizeof r[i].phone, "1555%zu", i);
    }
    char *xml = fd_ucce_api_build_import(r, FD_UCCE_API_MAX_RECORDS, NULL);
    assert_non_null(xml);
    free(xml);
    assert_null(fd_ucce_api_build_import(r, FD_UCCE_API_MAX_RECORDS + 1, NULL));
    free(r);
}

static void test_target_parse_and_insert_sql(void **state)
{
    (void)state;
    fd_target t;
    char out[64];
    assert_int_equal(fd_target_parse("ucce_db:5002", &t), 0);
    assert_int_equal(t.kind, FD_KIND_UCCE_DB);
    assert_string_equal(t.cisco_id, "5002");
    assert_int_equal(fd_target_format(&t, out, sizeof out), 0);
    assert_string_equal(out, "ucce_db:5002");
    assert_int_equal(fd_target_parse("ucce_api:5001", &t), 0);
    assert_int_equal(t.kind, FD_KIND_UCCE_API);
    assert_int_equal(fd_target_parse("uccx:7", &t), 0);
    assert_int_equal(t.kind, FD_KIND_UCCX);
    assert_int_equal(fd_target_parse("cce:7", &t), -1);
    assert_int_equal(fd_target_parse("uccx:", &t), -1);
    assert_int_equal(fd_target_parse("uccx", &t), -1);
    char sql[512];
    assert_int_equal(fd_ucce_db_insert_sql("dbo.Import_5002", sql, sizeof sql), 0);
    assert_string_equal(sql, "INSERT INTO dbo.Import_5002 (AccountNumber, FirstName, LastName, "
                             "Phone01, Phone02, Phone03, Phone04, Phone05, Phone06, Phone07, "
                             "Phone08, Phone09, Phone10, TimeZoneBias, DstObserved) VALUES (?, ?, "
                             "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
}

/* ---- against PostgreSQL (ECM's DB and a Cisco-shaped one) ---- */

typedef struct {
    ecm_test_db *db;    /* ECM */
    ecm_test_db *cisco; /* the Logger/HDS and db_cra shapes */
    ecm_pg *pg;
    PGconn *cpg;
    char odbc[1200], odbc_dead[1200];
    fake_uccx *fake;
    ecm_metrics *metrics;
    fd_ctx ctx;
    fd_uccx *api_http; /* owned by ctx.writers[FD_KIND_UCCE_API] */
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
    f->db = ecm_test_db_new_migrated("ecm_fd_ucce");
    f->cisco = ecm_test_db_new("fd_ucce_cisco");
    assert_int_equal(ecm_test_odbc_string(dsn, f->cisco->name, NULL, f->odbc, sizeof f->odbc), 0);
    assert_int_equal(
        ecm_test_odbc_string(dsn, f->cisco->name, DEAD_PORT, f->odbc_dead, sizeof f->odbc_dead), 0);
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

/* Every writer: uccx (REST fake + db_cra), ucce_api (fake + Dialer_Detail),
 * ucce_db (the scratch tables), all over odbc. */
static void make_writers(fixture *f, const char *odbc)
{
    char url[64];
    fake_url(f->fake, url, sizeof url);
    fd_uccx *u = fd_uccx_new(url, FAKE_UCCX_USER, FAKE_UCCX_PASSWORD, 500);
    f->ctx.writers[FD_KIND_UCCX] = fd_writer_uccx_new(u, ecm_odbc_new(odbc, 1, "db_cra"));
    f->api_http = fd_uccx_new(url, FAKE_UCCX_USER, FAKE_UCCX_PASSWORD, 500);
    f->ctx.writers[FD_KIND_UCCE_API] =
        fd_ucce_api_writer_new(f->api_http, ecm_odbc_new(odbc, 1, "HDS"), "Dialer_Detail");
    f->ctx.writers[FD_KIND_UCCE_DB] =
        fd_ucce_db_writer_new(ecm_odbc_new(odbc, 0, "Logger"), "Dialer_Detail");
    for (int k = 0; k < FD_KIND_N; k++)
        assert_non_null(f->ctx.writers[k]);
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
    make_writers(f, f->odbc);
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

/* A campaign of kind on cisco id with n queued contacts (the first in
 * America/New_York, the others in the campaign's UTC). Returns its id. */
static long long seed(fixture *f, const char *kind, const char *cisco_id, int n)
{
    long long id = q_int(f,
                         "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind, "
                         "cisco_campaign_id, cisco_import_table) SELECT 'c', 'voice_ivr', "
                         "'active', id, '%s', '%s', %s FROM strategies WHERE name = 'Default' "
                         "RETURNING id",
                         kind, cisco_id, strcmp(kind, "ucce_db") == 0 ? "'Import_5002'" : "NULL");
    q_cmd(f,
          "INSERT INTO contacts (campaign_id, first_name, last_name, phones, state, time_zone) "
          "SELECT %lld, 'First' || g, 'Last' || g, ARRAY['+1555000' || lpad(g::text, 4, '0')], "
          "'queued', CASE WHEN g = 1 THEN 'America/New_York' END FROM generate_series(1, %d) g",
          id, n);
    return id;
}

static double metric(fixture *f, const char *name)
{
    return ecm_metric_value(ecm_metrics_counter(f->metrics, name, "x"));
}

static void test_ucce_db_inserts_one_batch_with_bias(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "ucce_db", "5002", 30);
    size_t sent = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 30);
    assert_int_equal(c_int(f, "SELECT count(*) FROM Import_5002"), 30);
    assert_int_equal(c_int(f, "SELECT count(*) FROM Import_5002 WHERE AccountNumber = '1-1' AND "
                              "FirstName = 'First1' AND Phone01 = '15550000001' AND Phone02 IS "
                              "NULL AND TimeZoneBias = 300 AND DstObserved = 1"),
                     1);
    assert_int_equal(c_int(f, "SELECT count(*) FROM Import_5002 WHERE TimeZoneBias = 0 AND "
                              "DstObserved = 0"),
                     29);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent' AND "
                              "target = 'ucce_db:5002'"),
                     30);
    assert_int_equal(metric(f, "ecm_feeder_dispatched_total{kind=\"ucce_db\"}"), 30);
    assert_int_equal(f->fake->posts, 0);
}

/* Attempts left 'sending' (a crash after the commit, before marking them):
 * some still in the import table, some already moved to the dialing list,
 * some dialled (Dialer_Detail only), the rest never written. Only the last
 * are written again. */
static void test_ucce_db_reconciles_from_every_table(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "ucce_db", "5002", 40);
    /* The writer fails (Logger down): the batch stays 'sending'. */
    fd_writer_destroy(f->ctx.writers[FD_KIND_UCCE_DB]);
    f->ctx.writers[FD_KIND_UCCE_DB] =
        fd_ucce_db_writer_new(ecm_odbc_new(f->odbc_dead, 0, "Logger"), "Dialer_Detail");
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), -2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 40);
    fd_dispatch_forget(&f->ctx);
    /* What a Logger that took it would hold: 1-10 not imported yet, 11-20
     * in the dialing list, 21-30 dialled. */
    c_cmd(f, "INSERT INTO Import_5002 (AccountNumber, Phone01) SELECT g || '-1', '1' "
             "FROM generate_series(1, 10) g");
    c_cmd(f,
          "CREATE TABLE DL_5002_1 (DialingListID serial, AccountNumber varchar(30));"
          "INSERT INTO DL_5002_1 (AccountNumber) SELECT g || '-1' FROM generate_series(11, 20) g");
    c_cmd(f, "INSERT INTO Dialer_Detail (CampaignID, AccountNumber, CallResult) "
             "SELECT 5002, g || '-1', 10 FROM generate_series(21, 30) g");
    q_cmd(f, "UPDATE attempts SET sending_at = now() - interval '1 hour'");

    /* Logger unreachable: nothing decided, nothing written. */
    size_t present = 0, resent = 0;
    assert_int_equal(fd_reconcile_run(&f->ctx, &present, &resent), -1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 40);

    fd_writer_destroy(f->ctx.writers[FD_KIND_UCCE_DB]);
    f->ctx.writers[FD_KIND_UCCE_DB] =
        fd_ucce_db_writer_new(ecm_odbc_new(f->odbc, 0, "Logger"), "Dialer_Detail");
    assert_int_equal(fd_reconcile_run(&f->ctx, &present, &resent), 0);
    assert_int_equal(present, 30);
    assert_int_equal(resent, 10);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 40);
    /* 10 rows from before and the 10 missing ones: no account twice. */
    assert_int_equal(c_int(f, "SELECT count(*) FROM Import_5002"), 20);
    assert_int_equal(c_int(f, "SELECT count(DISTINCT AccountNumber) FROM Import_5002"), 20);
    assert_int_equal(c_int(f, "SELECT count(*) FROM Import_5002 WHERE AccountNumber IN "
                              "('31-1', '40-1')"),
                     2);
    assert_int_equal(metric(f, "ecm_feeder_reconciled_total{kind=\"ucce_db\",result=\"present\"}"),
                     30);
}

/* Before Cisco's first import there is no dialing list: an answer (none of
 * ours is there), not a failure. */
static void test_ucce_db_missing_dialing_list_is_empty(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    fd_target t;
    assert_int_equal(fd_target_parse("ucce_db:5002", &t), 0);
    snprintf(t.import_table, sizeof t.import_table, "Import_5002");
    snprintf(t.dialing_list, sizeof t.dialing_list, "DL_5002_1");
    c_cmd(f, "INSERT INTO Import_5002 (AccountNumber, Phone01) VALUES ('5-1', '1')");
    const char *acc[2] = {"5-1", "6-1"};
    int present[2] = {9, 9};
    fd_uccx_result res;
    assert_int_equal(fd_writer_find(f->ctx.writers[FD_KIND_UCCE_DB], &t, acc, 2, present, &res),
                     FD_UCCX_OK);
    assert_int_equal(present[0], 1);
    assert_int_equal(present[1], 0);
}

/* More accounts than one statement's markers: asked in chunks, all found. */
static void test_lookup_in_chunks(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    enum { N = 1203 };
    c_cmd(f,
          "INSERT INTO Dialer_Detail (CampaignID, AccountNumber) SELECT 5001, g || '-1' "
          "FROM generate_series(1, %d) g WHERE g %% 3 = 0",
          N);
    c_cmd(f, "INSERT INTO Dialer_Detail (CampaignID, AccountNumber) VALUES (9999, '1-1')");
    static char names[N][16];
    const char *acc[N];
    int present[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "%d-1", i + 1);
        acc[i] = names[i];
        present[i] = 0;
    }
    ecm_odbc *o = ecm_odbc_new(f->odbc, 1, "HDS");
    assert_int_equal(
        fd_lookup_odbc(o, "Dialer_Detail", "AccountNumber", "CampaignID", "5001", acc, N, present),
        0);
    int found = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(present[i], (i + 1) % 3 == 0);
        found += present[i];
    }
    assert_int_equal(found, N / 3);
    ecm_odbc_destroy(o);
}

/* 503: the queue is full. The batch stays 'sending', is retried once the
 * Outbound API takes requests again, and reaches it once. */
static void test_ucce_api_503_backs_off_and_sends_once(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "ucce_api", "5001", 25);
    fake_set(f->fake, 503, 200, 0);
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), -2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending' AND "
                              "target = 'ucce_api:5001'"),
                     25);
    assert_int_equal(metric(f, "ecm_feeder_errors_total{kind=\"ucce_api\",error=\"unavailable\"}"),
                     1);
    /* Still full: retried, still not taken, nothing new recorded. */
    seed(f, "ucce_api", "5001", 5);
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), -2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 25);
    fake_set(f->fake, 200, 200, 0);
    size_t sent = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 30);
    assert_int_equal(f->fake->rows, 30);
    assert_int_equal(f->fake->duplicates, 0);
    assert_int_equal(f->fake->posts, 2); /* the retried batch, then the 5 new */
    assert_non_null(strstr(f->fake->last_body, "<import><fileContent><![CDATA[AccountNumber,"));
    assert_string_equal(f->fake->last_campaign, "5001");
    assert_int_equal(f->fake->unauthorized, 0);
}

/* Attempts left 'sending' whose accounts were dialled and are gone from the
 * pending list: found in Dialer_Detail (ucce_api) and db_cra's list and
 * history (uccx), marked 'sent', not sent again; only the one no source
 * has is re-sent. */
static void test_dialled_and_gone_are_marked_not_resent(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "ucce_api", "5001", 10);
    seed(f, "uccx", "7", 10);
    fake_set(f->fake, 503, 200, 0);
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), -2);
    fd_dispatch_forget(&f->ctx);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 20);
    c_cmd(f,
          "INSERT INTO Dialer_Detail (CampaignID, AccountNumber, CallResult) "
          "SELECT 5001, account_number, 10 FROM (VALUES %s) v (account_number)",
          "('1-1'), ('2-1'), ('3-1'), ('4-1'), ('5-1'), ('6-1'), ('7-1'), ('8-1'), ('9-1'), "
          "('10-1')");
    /* uccx: closed records in the list, older ones moved to its history;
     * another Cisco campaign's record with one of our keys is not ours. */
    c_cmd(f, "INSERT INTO dialinglist (campaignid, accountnumber, callstatus) "
             "SELECT 7, g || '-1', 3 FROM generate_series(12, 15) g");
    c_cmd(f, "INSERT INTO dialinglisthistory (campaignid, accountnumber, callstatus) "
             "SELECT 7, g || '-1', 3 FROM generate_series(16, 20) g");
    c_cmd(f, "INSERT INTO dialinglist (campaignid, accountnumber, callstatus) "
             "VALUES (8, '11-1', 3)");
    fake_set(f->fake, 202, 200, 0);
    q_cmd(f, "UPDATE attempts SET sending_at = now() - interval '1 hour'");
    size_t present = 0, resent = 0;
    assert_int_equal(fd_reconcile_run(&f->ctx, &present, &resent), 0);
    assert_int_equal(present, 19);
    assert_int_equal(resent, 1);
    assert_int_equal(f->fake->rows, 1);
    assert_true(fake_has(f->fake, "11-1"));
    assert_int_equal(f->fake->duplicates, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 20);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched'"),
                     20);
}

/* An Outbound API import whose answer was lost (a feeder killed while it
 * waited in Cisco's queue) may still be imported later: an attempt found
 * 'sending' and missing at Cisco is re-sent only once older than the import
 * timeout plus ECM_FEEDER_RECONCILE_AFTER_S; before that it is deferred. */
static void test_ucce_api_stale_attempt_waits_out_the_import_queue(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "ucce_api", "5001", 10);
    fake_set(f->fake, 503, 200, 0);
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), -2);
    fd_dispatch_forget(&f->ctx); /* as a restarted feeder: no memory of the batch */
    f->ctx.opt.ucce_import_timeout_s = 300;
    fake_set(f->fake, 200, 200, 0);
    q_cmd(f, "UPDATE attempts SET sending_at = now() - interval '60 seconds'");
    size_t present = 0, resent = 0;
    assert_int_equal(fd_reconcile_run(&f->ctx, &present, &resent), -1);
    assert_int_equal(resent, 0);
    assert_int_equal(f->fake->rows, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 10);
    q_cmd(f, "UPDATE attempts SET sending_at = now() - interval '331 seconds'");
    assert_int_equal(fd_reconcile_run(&f->ctx, &present, &resent), 0);
    assert_int_equal(resent, 10);
    assert_int_equal(f->fake->rows, 10);
    assert_int_equal(f->fake->duplicates, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 10);
}

/* A kind without a writer: its targets are skipped (one warning, one count
 * a target), the others go on. */
static void test_unconfigured_kind_is_skipped(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    fd_writer_destroy(f->ctx.writers[FD_KIND_UCCE_DB]);
    f->ctx.writers[FD_KIND_UCCE_DB] = NULL;
    seed(f, "ucce_db", "5002", 3);
    seed(f, "uccx", "7", 3);
    size_t sent = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), 0);
    assert_int_equal(sent, 3);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 3);
    assert_int_equal(metric(f, "ecm_feeder_unconfigured_targets_total{kind=\"ucce_db\"}"), 1);
}

int main(void)
{
    ecm_log_init("test_fd_ucce", ECM_LOG_ERROR);
#define DB_TEST(t) cmocka_unit_test_setup_teardown(t, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tz_bias_and_dst_from_icu),
        cmocka_unit_test(test_record_cleans_fields_for_the_import),
        cmocka_unit_test(test_import_body_reads_back_exactly),
        cmocka_unit_test(test_import_body_refuses_more_than_10000_records),
        cmocka_unit_test(test_target_parse_and_insert_sql),
        DB_TEST(test_ucce_db_inserts_one_batch_with_bias),
        DB_TEST(test_ucce_db_reconciles_from_every_table),
        DB_TEST(test_ucce_db_missing_dialing_list_is_empty),
        DB_TEST(test_lookup_in_chunks),
        DB_TEST(test_ucce_api_503_backs_off_and_sends_once),
        DB_TEST(test_ucce_api_stale_attempt_waits_out_the_import_queue),
        DB_TEST(test_dialled_and_gone_are_marked_not_resent),
        DB_TEST(test_unconfigured_kind_is_skipped),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

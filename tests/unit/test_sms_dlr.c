/* The sms service's callbacks against PostgreSQL: delivery reports
 * (sms_dlr), DLR timeouts (sms_expiry) and inbound keywords (sms_mo), called
 * directly and through a real ecm_http with libcurl. Runs in a scratch
 * database created from ECM_TEST_PG_DSN; skipped when it is unset. The
 * strategy's st_results_apply() is run on the SmsResults produced here to
 * hold the two services to one contract. */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "ecm_service.h"
#include "sms_auth.h"
#include "sms_ctx.h"
#include "sms_dlr.h"
#include "sms_expiry.h"
#include "sms_mo.h"
#include "sms_purge.h"
#include "st_results.h"
#include "ecm_test_support.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x
/* This test's ports (smsdlr's range 22400-22599). */
#define PORT_FIRST 22400
#define PORT_LAST 22449

#define OPTOUT_TEXT "You are unsubscribed. Reply START to subscribe again."
#define OPTIN_TEXT "You are subscribed again. Reply STOP to unsubscribe."
#define HELP_TEXT "ECM test: reply STOP to unsubscribe."
#define SECRET "test-callback-secret-0123456789abcdef"
#define OLD_SECRET "test-callback-secret-before-rotation-0123"
#define MO_KEY "test-mo-key-0123456789abcdef0123456789"
#define MO "/sms/mo?key=" MO_KEY "&"
#define REPLY_INTERVAL_S 600

typedef struct {
    ecm_test_db *db;
    const char *dsn; /* db->dsn */
    ecm_pg *pg;      /* used by the code under test */
    PGconn *check;   /* the test's own view */
    ecm_pg_pool *pool;
    ecm_metrics *metrics;
    ecm_http *http;
    sms_auth *auth;
    int port;
    volatile sig_atomic_t stop;
    ecm_common_config common;
    sms_ctx ctx;
    st_results_ctx rctx;
    int seq;
} fixture;

static fixture fx;

/* ---- SQL helpers ---- */

#define q(...) ecm_test_pg_query(fx.check, __VA_ARGS__)
#define q_ll(...) ecm_test_pg_int(fx.check, __VA_ARGS__)
#define q_text(...) ecm_test_pg_text(fx.check, __VA_ARGS__)

static void expect_text(const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void expect_text(const char *expected, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    char *got = q_text("%s", sql);
    if (strcmp(got, expected) != 0)
        fail_msg("expected '%s', got '%s' from %s", expected, got, sql);
    free(got);
}

static long long outbox_count(const char *topic, long long key)
{
    return q_ll("SELECT count(*) FROM outbox WHERE topic = '%s' AND msg_key = '%lld'", topic, key);
}

/* The only SmsResult for contact key; fails unless there is exactly one. */
static Ecm__V1__SmsResult *sms_result_of(long long key)
{
    size_t len = 0;
    char ce_type[64];
    unsigned char *bytes =
        ecm_test_outbox_payload(fx.check, "sms.results", key, &len, ce_type, sizeof(ce_type));
    assert_string_equal(ce_type, "ecm.v1.SmsResult");
    Ecm__V1__SmsResult *m = ecm__v1__sms_result__unpack(NULL, len, bytes);
    PQfreemem(bytes);
    assert_non_null(m);
    return m;
}

/* ---- data ---- */

static long long make_campaign(int dlr_timeout_s)
{
    return q_ll("INSERT INTO campaigns (name, channel, state, strategy_id, sms_template,"
                " dlr_timeout_s)"
                " SELECT 'sms-%d', 'sms', 'active', id, 'Hi {first_name}', %d"
                " FROM strategies WHERE name = 'Default' RETURNING id",
                ++fx.seq, dlr_timeout_s);
}

/* A contact on its first attempt: status 'sending', 'sent' (sent_ago_s
 * seconds ago) or NULL for none (the contact is then pending). Writes the
 * attempt's message id into mid. */
static long long make_contact(long long campaign_id, const char *phones, const char *status,
                              int sent_ago_s, char *mid, size_t mid_size)
{
    /* Its numbers' digits in contact_phones, as an upload or migration 025
     * writes them (what a STOP finds contacts by); a number once a campaign. */
    long long id =
        q_ll("WITH k AS (INSERT INTO contacts (campaign_id, phones, state, attempts)"
             " VALUES (%lld, '%s', '%s', %d) RETURNING id, campaign_id, phones),"
             " p AS (INSERT INTO contact_phones (campaign_id, phone, contact_id)"
             " SELECT k.campaign_id, regexp_replace(u.p, '[^0-9]', '', 'g')::bigint, k.id"
             " FROM k, unnest(k.phones) u (p) ON CONFLICT DO NOTHING)"
             " SELECT id FROM k",
             campaign_id, phones, status ? "dispatched" : "pending", status ? 1 : 0);
    if (status != NULL) {
        snprintf(mid, mid_size, "m-%d-%lld", ++fx.seq, id);
        PQclear(q("INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone,"
                  " account_number, status, message_id, encoding, segments, sending_at, sent_at)"
                  " VALUES (%lld, 1, %lld, 'sms', 'kannel', '+15550100001', '%lld-1', '%s', '%s',"
                  " 'GSM7', 2, now() - interval '%d seconds',"
                  " CASE WHEN '%s' = 'sent' THEN now() - interval '%d seconds' END)",
                  id, campaign_id, id, status, mid, sent_ago_s, status, sent_ago_s));
    }
    return id;
}

static st_apply_status strategy_applies(long long contact_id)
{
    Ecm__V1__SmsResult *m = sms_result_of(contact_id);
    st_result r;
    char reason[256];
    assert_int_equal(st_result_from_sms(m, &r, reason, sizeof(reason)), 0);
    ecm__v1__sms_result__free_unpacked(m, NULL);
    return st_results_apply(fx.pg, &fx.rctx, &r, NULL, reason, sizeof(reason));
}

/* ---- HTTP ---- */

/* One request to the test server with one extra header line (may be
 * NULL); body NULL is a GET. Returns the status; *answer_len gets the
 * answer's length. */
static long http_h(const char *path_and_query, const char *content_type, const char *body,
                   const char *header, size_t *answer_len)
{
    char ct[128];
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "");
    const char *headers[] = {"Expect:", header, content_type ? ct : NULL, NULL};
    if (header == NULL) {
        headers[1] = headers[2];
        headers[2] = NULL;
    }
    ecm_test_http_answer a;
    ecm_test_http_request(&a, fx.port, body ? "POST" : "GET", path_and_query, headers, body,
                          body ? strlen(body) : 0, NULL);
    if (answer_len)
        *answer_len = a.len;
    long status = a.status;
    ecm_test_http_answer_destroy(&a);
    return status;
}

static long http(const char *path_and_query, const char *content_type, const char *body,
                 size_t *answer_len)
{
    return http_h(path_and_query, content_type, body, NULL, answer_len);
}

/* "/sms/dlr?msgid=<mid>&token=<mid's token under secret>&<rest>" into out,
 * as the gateway gets it. */
static const char *dlr_path(char *out, size_t size, const char *secret, const char *mid,
                            const char *rest)
{
    char token[SMS_AUTH_TOKEN_LEN + 1];
    assert_int_equal(sms_auth_token(secret, mid, token, sizeof(token)), 0);
    snprintf(out, size, "/sms/dlr?msgid=%s&token=%s&%s", mid, token, rest);
    return out;
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    (void)state;
    if (ecm_test_pg_dsn() == NULL)
        return 0;
    ecm_log_init("test_sms_dlr", ECM_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fx.db = ecm_test_db_new_migrated("ecm_smsdlr");
    fx.dsn = fx.db->dsn;
    fx.pg = ecm_pg_new(fx.dsn, NULL);
    if (fx.pg == NULL)
        return -1;
    fx.check = ecm_test_pg_connect(fx.dsn);
    fx.pool = ecm_pg_pool_new(fx.dsn, 4, &fx.stop);
    fx.metrics = ecm_metrics_new();
    if (fx.pool == NULL || fx.metrics == NULL)
        return -1;

    fx.common.topic_sms_results = "sms.results";
    fx.common.topic_closed = "contacts.closed";
    fx.common.topic_dispatched = "contacts.dispatched";
    fx.common.topic_retry = "contacts.retry";
    sms_auth_config acfg = {
        .dlr_secret = SECRET,
        .dlr_secret_previous = OLD_SECRET,
        .mo_key = MO_KEY,
        .metrics = fx.metrics,
    };
    fx.auth = sms_auth_new(&acfg);
    if (fx.auth == NULL)
        return -1;
    fx.ctx = (sms_ctx){
        .common = &fx.common,
        .source = "/ecm/sms-test",
        .metrics = fx.metrics,
        .pool = fx.pool,
        .callback_base_url = "http://127.0.0.1",
        .help_text = HELP_TEXT,
        .optout_text = OPTOUT_TEXT,
        .optin_text = OPTIN_TEXT,
        .system_sender = "12345",
        .dlr_scan_ms = 50,
        .auth = fx.auth,
        .reply_interval_s = REPLY_INTERVAL_S,
    };
    fx.rctx = (st_results_ctx){
        .topic_call_results = "call.results",
        .topic_sms_results = "sms.results",
        .topic_closed = "contacts.closed",
        .source = "/ecm/strategy-test",
    };
    for (fx.port = PORT_FIRST; fx.port <= PORT_LAST; fx.port++) {
        fx.http = ecm_http_new("127.0.0.1", fx.port, fx.metrics);
        if (fx.http == NULL || sms_dlr_register(fx.http, &fx.ctx) != 0 ||
            sms_mo_register(fx.http, &fx.ctx) != 0)
            return -1;
        if (ecm_http_start(fx.http) == 0)
            break;
        ecm_http_destroy(fx.http);
        fx.http = NULL;
    }
    return fx.http != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (fx.pg == NULL)
        return 0;
    ecm_http_destroy(fx.http);
    sms_auth_destroy(fx.auth);
    ecm_pg_pool_destroy(fx.pool);
    ecm_metrics_destroy(fx.metrics);
    ecm_pg_destroy(fx.pg);
    PQfinish(fx.check);
    (void)ecm_test_db_destroy(fx.db);
    curl_global_cleanup();
    return 0;
}

/* cmocka can't skip from a setup function, so each DB test starts here. */
#define NEED_DB()                                                                                  \
    do {                                                                                           \
        if (fx.pg == NULL)                                                                         \
            skip();                                                                                \
    } while (0)

/* ---- pure ---- */

static void test_dlr_codes_final_and_intermediate(void **state)
{
    (void)state;
    Ecm__V1__Outcome o = O(UNSPECIFIED);
    assert_int_equal(sms_dlr_classify(1, &o), 1);
    assert_int_equal(o, O(SMS_DELIVERED));
    assert_int_equal(sms_dlr_classify(2, &o), 1);
    assert_int_equal(o, O(SMS_UNDELIVERED));
    assert_int_equal(sms_dlr_classify(16, &o), 1);
    assert_int_equal(o, O(SMS_REJECTED));
    o = O(UNSPECIFIED);
    assert_int_equal(sms_dlr_classify(4, &o), 0);
    assert_int_equal(sms_dlr_classify(8, &o), 0);
    assert_int_equal(o, O(UNSPECIFIED));
    assert_int_equal(sms_dlr_classify(0, &o), -1);
    assert_int_equal(sms_dlr_classify(3, &o), -1);
    assert_int_equal(sms_dlr_classify(32, &o), -1);
}

/* ---- DLRs ---- */

static void test_dlr_final_closes_attempt_with_one_sms_result(void **state)
{
    (void)state;
    NEED_DB();
    char mid[64];
    long long camp = make_campaign(86400);
    long long k = make_contact(camp, "{+15550100001}", "sent", 5, mid, sizeof(mid));
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 1, "delivered"), SMS_DLR_APPLIED);

    expect_text("done 1 1 true true",
                "SELECT status || ' ' || raw_code || ' ' || dlr_status || ' '"
                " || (result_at IS NOT NULL) || ' ' || (dlr_at IS NOT NULL)"
                " FROM attempts WHERE contact_id = %lld",
                k);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs WHERE message_id = '%s'", mid), 1);
    Ecm__V1__SmsResult *m = sms_result_of(k);
    assert_int_equal(m->contact_id, k);
    assert_int_equal(m->campaign_id, camp);
    assert_int_equal(m->attempt, 1);
    assert_string_equal(m->message_id, mid);
    assert_int_equal(m->outcome, O(SMS_DELIVERED));
    assert_int_equal(m->gateway_status, 1);
    assert_int_equal(m->segments, 2);
    assert_string_equal(m->detail, "delivered");
    assert_true(m->occurred_at > 0 && strlen(m->event_id) == 36);
    ecm__v1__sms_result__free_unpacked(m, NULL);

    /* The strategy decides on it: Default closes a delivered SMS. */
    assert_int_equal(strategy_applies(k), ST_APPLY_DECIDED);
    expect_text("closed SMS_DELIVERED",
                "SELECT state || ' ' || outcome FROM contacts WHERE id = %lld", k);
    expect_text("SMS_DELIVERED", "SELECT outcome FROM attempts WHERE contact_id = %lld", k);
}

static void test_dlr_resent_final_changes_nothing(void **state)
{
    (void)state;
    NEED_DB();
    char mid[64];
    long long camp = make_campaign(86400);
    long long k = make_contact(camp, "{+15550100001}", "sent", 5, mid, sizeof(mid));
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 2, NULL), SMS_DLR_APPLIED);
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 2, NULL), SMS_DLR_DUPLICATE);
    /* A different final code later does not reopen or change it either. */
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 1, NULL), SMS_DLR_DUPLICATE);
    assert_int_equal(outbox_count("sms.results", k), 1);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs WHERE message_id = '%s'", mid), 3);
    expect_text("done 2 2",
                "SELECT status || ' ' || raw_code || ' ' || dlr_status FROM attempts"
                " WHERE contact_id = %lld",
                k);
    Ecm__V1__SmsResult *m = sms_result_of(k);
    assert_int_equal(m->outcome, O(SMS_UNDELIVERED));
    ecm__v1__sms_result__free_unpacked(m, NULL);
}

static void test_dlr_intermediate_then_final(void **state)
{
    (void)state;
    NEED_DB();
    char mid[64];
    long long camp = make_campaign(86400);
    long long k = make_contact(camp, "{+15550100001}", "sent", 5, mid, sizeof(mid));
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 8, "ACK/"), SMS_DLR_INTERMEDIATE);
    expect_text("sent 8 true",
                "SELECT status || ' ' || dlr_status || ' ' || (dlr_at IS NOT NULL)"
                " FROM attempts WHERE contact_id = %lld",
                k);
    assert_int_equal(outbox_count("sms.results", k), 0);
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 4, NULL), SMS_DLR_INTERMEDIATE);
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 16, NULL), SMS_DLR_APPLIED);
    assert_int_equal(outbox_count("sms.results", k), 1);
    Ecm__V1__SmsResult *m = sms_result_of(k);
    assert_int_equal(m->outcome, O(SMS_REJECTED));
    assert_int_equal(m->gateway_status, 16);
    ecm__v1__sms_result__free_unpacked(m, NULL);
    /* Kannel was seen to send the 8 after the 1: it must not touch a closed attempt. */
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 8, NULL), SMS_DLR_DUPLICATE);
    expect_text("done 16",
                "SELECT status || ' ' || dlr_status FROM attempts"
                " WHERE contact_id = %lld",
                k);
}

/* The strategy holds the closed attempt's row lock while it applies the
 * result; Kannel's late intermediate DLR must not wait for it. */
static void test_dlr_late_intermediate_does_not_wait_for_a_closed_attempts_lock(void **state)
{
    (void)state;
    NEED_DB();
    char mid[64];
    long long camp = make_campaign(86400);
    long long k = make_contact(camp, "{+15550100001}", "sent", 5, mid, sizeof(mid));
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 1, NULL), SMS_DLR_APPLIED);
    PQclear(q("BEGIN"));
    PQclear(q("SELECT 1 FROM attempts WHERE contact_id = %lld FOR UPDATE", k));
    /* Waiting would end in a timeout, i.e. SMS_DLR_DB_ERROR, not a hang. */
    assert_int_equal(ecm_pg_cmd(fx.pg, "SET statement_timeout = 2000", 0, NULL), 0);
    sms_dlr_result r = sms_dlr_apply(fx.pg, &fx.ctx, mid, 8, NULL);
    assert_int_equal(ecm_pg_cmd(fx.pg, "SET statement_timeout = 0", 0, NULL), 0);
    PQclear(q("COMMIT"));
    assert_int_equal(r, SMS_DLR_DUPLICATE);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs WHERE message_id = '%s'", mid), 2);
    expect_text("done 1",
                "SELECT status || ' ' || dlr_status FROM attempts WHERE contact_id = %lld", k);
}

/* Holds the final DLR's transaction (fx.check, attempt already 'done')
 * open until the DLR under test waits for the attempt's lock, then commits. */
static void *commit_once_waited_for(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        if (q_ll("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                 " AND datname = current_database()") > 0)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    PQclear(q("COMMIT"));
    return NULL;
}

/* Kannel sends the 8 and the 1 at once: the 8 waits for the lock the 1's
 * transaction holds and finds the attempt closed when it gets it. A
 * duplicate, not a database error (which Kannel would send again). */
static void test_dlr_intermediate_racing_the_final_is_a_duplicate(void **state)
{
    (void)state;
    NEED_DB();
    char mid[64];
    long long camp = make_campaign(86400);
    long long k = make_contact(camp, "{+15550100001}", "sent", 5, mid, sizeof(mid));
    PQclear(q("BEGIN"));
    PQclear(q("UPDATE attempts SET status = 'done', dlr_status = 1 WHERE contact_id = %lld", k));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, commit_once_waited_for, NULL), 0);
    sms_dlr_result r = sms_dlr_apply(fx.pg, &fx.ctx, mid, 8, NULL);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r, SMS_DLR_DUPLICATE);
    expect_text("done 1",
                "SELECT status || ' ' || dlr_status FROM attempts WHERE contact_id = %lld", k);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs WHERE message_id = '%s'", mid), 1);
}

static void test_dlr_for_attempt_still_sending_is_applied(void **state)
{
    (void)state;
    NEED_DB();
    char mid[64];
    long long camp = make_campaign(86400);
    long long k = make_contact(camp, "{+15550100001}", "sending", 0, mid, sizeof(mid));
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 1, NULL), SMS_DLR_APPLIED);
    expect_text("done", "SELECT status FROM attempts WHERE contact_id = %lld", k);
    assert_int_equal(outbox_count("sms.results", k), 1);
}

static void test_dlr_unknown_id_and_code_are_recorded_only(void **state)
{
    (void)state;
    NEED_DB();
    long long before = q_ll("SELECT count(*) FROM outbox");
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, "never-issued", 1, NULL), SMS_DLR_UNKNOWN_ID);
    char mid[64];
    long long camp = make_campaign(86400);
    long long k = make_contact(camp, "{+15550100001}", "sent", 5, mid, sizeof(mid));
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 3, NULL), SMS_DLR_UNKNOWN_CODE);
    expect_text("sent",
                "SELECT status || coalesce(dlr_status::text, '') FROM attempts"
                " WHERE contact_id = %lld",
                k);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox"), before);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs WHERE message_id = 'never-issued'"), 1);

    /* Through HTTP an unknown id is still a 200, so a gateway stops retrying. */
    size_t len = 99;
    char path[256];
    assert_int_equal(
        http(dlr_path(path, sizeof(path), SECRET, "never-issued-2", "status=1"), NULL, NULL, &len),
        200);
    assert_int_equal(len, 0);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs WHERE message_id = 'never-issued-2'"), 1);
    assert_true(ecm_metric_value(ecm_metrics_counter(
                    fx.metrics, "ecm_sms_dlrs_total{result=\"unknown_id\"}", "")) >= 2);
}

static void test_dlr_of_system_message_is_recorded_only(void **state)
{
    (void)state;
    NEED_DB();
    PQclear(q("INSERT INTO sms_system_messages (to_phone, body, message_id, state)"
              " VALUES ('+15550109999', 'x', 'sys-test-1', 'sent')"));
    long long before = q_ll("SELECT count(*) FROM outbox");
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, "sys-test-1", 1, NULL), SMS_DLR_SYSTEM);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox"), before);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs WHERE message_id = 'sys-test-1'"), 1);
}

static void test_dlr_over_http_get_form_and_json(void **state)
{
    (void)state;
    NEED_DB();
    char m1[64], m2[64], m3[64];
    long long camp = make_campaign(86400);
    long long k1 = make_contact(camp, "{+15550100001}", "sent", 5, m1, sizeof(m1));
    long long k2 = make_contact(camp, "{+15550100002}", "sent", 5, m2, sizeof(m2));
    long long k3 = make_contact(camp, "{+15550100003}", "sent", 5, m3, sizeof(m3));
    char path[256], body[256];
    size_t len = 99;
    assert_int_equal(http(dlr_path(path, sizeof(path), SECRET, m1, "status=1&detail=ok%20done"),
                          NULL, NULL, &len),
                     200);
    assert_int_equal(len, 0);
    /* The generic gateway POSTs to the URL it was given (token in the query). */
    char token[SMS_AUTH_TOKEN_LEN + 1];
    assert_int_equal(sms_auth_token(SECRET, m2, token, sizeof(token)), 0);
    snprintf(body, sizeof(body), "msgid=%s&status=2&token=%s", m2, token);
    assert_int_equal(http("/sms/dlr", "application/x-www-form-urlencoded", body, NULL), 200);
    snprintf(body, sizeof(body), "{\"message_id\":\"%s\",\"status\":16}", m3);
    assert_int_equal(
        http(dlr_path(path, sizeof(path), SECRET, m3, "x=1"), "application/json", body, NULL), 200);

    Ecm__V1__SmsResult *m = sms_result_of(k1);
    assert_int_equal(m->outcome, O(SMS_DELIVERED));
    assert_string_equal(m->detail, "ok done");
    ecm__v1__sms_result__free_unpacked(m, NULL);
    m = sms_result_of(k2);
    assert_int_equal(m->outcome, O(SMS_UNDELIVERED));
    ecm__v1__sms_result__free_unpacked(m, NULL);
    m = sms_result_of(k3);
    assert_int_equal(m->outcome, O(SMS_REJECTED));
    ecm__v1__sms_result__free_unpacked(m, NULL);

    /* Malformed callbacks are refused; nothing is recorded for them. */
    long long dlrs = q_ll("SELECT count(*) FROM sms_dlrs");
    assert_int_equal(
        http("/sms/dlr?status=1&token=0123456789abcdef0123456789abcdef", NULL, NULL, NULL), 403);
    assert_int_equal(
        http(dlr_path(path, sizeof(path), SECRET, "x", "status=%25d"), NULL, NULL, NULL), 400);
    assert_int_equal(http(dlr_path(path, sizeof(path), SECRET, "x", "status=1x"), NULL, NULL, NULL),
                     400);
    assert_int_equal(http("/sms/dlr", "application/json", "[1,2]", NULL), 400);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs"), dlrs);
}

static long long rejected(const char *endpoint, const char *reason)
{
    char name[128];
    snprintf(name, sizeof(name), "ecm_sms_callbacks_rejected_total{endpoint=\"%s\",reason=\"%s\"}",
             endpoint, reason);
    return (long long)ecm_metric_value(ecm_metrics_counter(fx.metrics, name, ""));
}

/* What a forged DLR could change: the attempt, sms_dlrs, the outbox. */
static char *dlr_state(long long contact_id, const char *mid)
{
    return q_text("SELECT a.status || ' ' || coalesce(a.dlr_status::text, '-') || ' '"
                  " || coalesce(a.raw_code::text, '-') || ' ' || (a.result_at IS NULL)"
                  " || ' ' || (SELECT count(*) FROM sms_dlrs WHERE message_id = '%s')"
                  " || ' ' || (SELECT count(*) FROM outbox)"
                  " FROM attempts a WHERE a.contact_id = %lld",
                  mid, contact_id);
}

static void test_dlr_forged_is_refused_403_and_changes_nothing(void **state)
{
    (void)state;
    NEED_DB();
    char mid[64], other[64];
    long long camp = make_campaign(86400);
    long long k = make_contact(camp, "{+15550100001}", "sent", 5, mid, sizeof(mid));
    make_contact(camp, "{+15550100002}", "sent", 5, other, sizeof(other));
    char *before = dlr_state(k, mid);
    long long missing0 = rejected("dlr", "missing"), bad0 = rejected("dlr", "bad_token");

    char path[256], token[SMS_AUTH_TOKEN_LEN + 1], body[256];
    /* No token. */
    snprintf(path, sizeof(path), "/sms/dlr?msgid=%s&status=1", mid);
    assert_int_equal(http(path, NULL, NULL, NULL), 403);
    snprintf(body, sizeof(body), "{\"message_id\":\"%s\",\"status\":2}", mid);
    assert_int_equal(http("/sms/dlr", "application/json", body, NULL), 403);
    /* A wrong token, of the right shape and not. */
    snprintf(path, sizeof(path), "/sms/dlr?msgid=%s&token=%s&status=1", mid,
             "00000000000000000000000000000000");
    assert_int_equal(http(path, NULL, NULL, NULL), 403);
    snprintf(path, sizeof(path), "/sms/dlr?msgid=%s&token=guess&status=1", mid);
    assert_int_equal(http(path, NULL, NULL, NULL), 403);
    /* The token of another message (one that a gateway legitimately saw). */
    assert_int_equal(sms_auth_token(SECRET, other, token, sizeof(token)), 0);
    snprintf(path, sizeof(path), "/sms/dlr?msgid=%s&token=%s&status=1", mid, token);
    assert_int_equal(http(path, NULL, NULL, NULL), 403);
    snprintf(body, sizeof(body), "msgid=%s&token=%s&status=16", mid, token);
    assert_int_equal(http("/sms/dlr", "application/x-www-form-urlencoded", body, NULL), 403);
    /* A token under some other secret. */
    assert_int_equal(
        http(dlr_path(path, sizeof(path), "another-secret-0123456789abcdef0123", mid, "status=1"),
             NULL, NULL, NULL),
        403);
    /* The right token with a character changed is not the token either. */
    assert_int_equal(sms_auth_token(SECRET, mid, token, sizeof(token)), 0);
    token[SMS_AUTH_TOKEN_LEN - 1] = token[SMS_AUTH_TOKEN_LEN - 1] == '0' ? '1' : '0';
    snprintf(path, sizeof(path), "/sms/dlr?msgid=%s&token=%s&status=1", mid, token);
    assert_int_equal(http(path, NULL, NULL, NULL), 403);

    char *after = dlr_state(k, mid);
    assert_string_equal(after, before);
    free(after);
    assert_int_equal(rejected("dlr", "missing") - missing0, 2);
    assert_int_equal(rejected("dlr", "bad_token") - bad0, 6);

    /* The real token still works afterwards, and so does one under the
     * previous secret (rotation). */
    assert_int_equal(http(dlr_path(path, sizeof(path), SECRET, mid, "status=8"), NULL, NULL, NULL),
                     200);
    assert_int_equal(
        http(dlr_path(path, sizeof(path), OLD_SECRET, mid, "status=1"), NULL, NULL, NULL), 200);
    expect_text("done 1",
                "SELECT status || ' ' || dlr_status FROM attempts WHERE contact_id = %lld", k);
    free(before);
}

/* Every pooled connection busy: the DLR is refused 503 "busy" with
 * Retry-After after the pool's bounded wait (the gateway sends it again),
 * nothing changes, and the same DLR is applied once a connection is free. */
static void test_dlr_with_the_pool_busy_is_refused_503_and_applies_later(void **state)
{
    (void)state;
    NEED_DB();
    char mid[64], path[256];
    long long camp = make_campaign(86400);
    long long k = make_contact(camp, "{+15550100005}", "sent", 5, mid, sizeof(mid));
    char *before = dlr_state(k, mid);
    ecm_pg_pool_set_limits(fx.pool, 200, 0);
    ecm_pg *held[4];
    for (int i = 0; i < 4; i++) {
        held[i] = ecm_pg_pool_get(fx.pool);
        assert_non_null(held[i]);
    }
    assert_int_equal(http(dlr_path(path, sizeof(path), SECRET, mid, "status=1"), NULL, NULL, NULL),
                     503);
    for (int i = 0; i < 4; i++) {
        ecm_pg_pool_put(fx.pool, held[i]);
    }
    ecm_pg_pool_set_limits(fx.pool, 5000, 0);
    char *after = dlr_state(k, mid);
    assert_string_equal(after, before);
    free(after);
    free(before);
    assert_int_equal(http(dlr_path(path, sizeof(path), SECRET, mid, "status=1"), NULL, NULL, NULL),
                     200);
    expect_text("done 1",
                "SELECT status || ' ' || dlr_status FROM attempts WHERE contact_id = %lld", k);
}

/* ---- expiry ---- */

static void test_expiry_closes_old_sent_attempt_as_sms_expired(void **state)
{
    (void)state;
    NEED_DB();
    /* Nothing else in this database may be overdue for the counts below. */
    PQclear(q("UPDATE attempts SET status = 'done' WHERE status = 'sent'"));
    char m_old[64], m_new[64], m_other[64], m_sending[64];
    long long short_camp = make_campaign(60);
    long long long_camp = make_campaign(86400);
    long long k_old = make_contact(short_camp, "{+15550100001}", "sent", 120, m_old, sizeof(m_old));
    long long k_new = make_contact(short_camp, "{+15550100002}", "sent", 10, m_new, sizeof(m_new));
    long long k_other =
        make_contact(long_camp, "{+15550100003}", "sent", 120, m_other, sizeof(m_other));
    long long k_sending =
        make_contact(short_camp, "{+15550100004}", "sending", 120, m_sending, sizeof(m_sending));
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, m_old, 8, NULL), SMS_DLR_INTERMEDIATE);

    assert_int_equal(sms_expiry_scan(fx.pg, &fx.ctx, 100), 1);
    expect_text("done", "SELECT status FROM attempts WHERE contact_id = %lld", k_old);
    Ecm__V1__SmsResult *m = sms_result_of(k_old);
    assert_int_equal(m->outcome, O(SMS_EXPIRED));
    assert_int_equal(m->gateway_status, 8); /* the last DLR seen */
    assert_string_equal(m->message_id, m_old);
    ecm__v1__sms_result__free_unpacked(m, NULL);
    assert_int_equal(outbox_count("sms.results", k_new), 0);
    assert_int_equal(outbox_count("sms.results", k_other), 0);
    assert_int_equal(outbox_count("sms.results", k_sending), 0);

    /* Nothing twice; a late DLR is recorded only. */
    assert_int_equal(sms_expiry_scan(fx.pg, &fx.ctx, 100), 0);
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, m_old, 1, NULL), SMS_DLR_DUPLICATE);
    assert_int_equal(outbox_count("sms.results", k_old), 1);

    /* The strategy retries an expired SMS (Default: retry after 3600 s). */
    assert_int_equal(strategy_applies(k_old), ST_APPLY_DECIDED);
    expect_text("waiting", "SELECT state FROM contacts WHERE id = %lld", k_old);
    expect_text("SMS_EXPIRED", "SELECT outcome FROM attempts WHERE contact_id = %lld", k_old);
}

static void test_expiry_thread_closes_overdue_attempts_until_stopped(void **state)
{
    (void)state;
    NEED_DB();
    PQclear(q("UPDATE attempts SET status = 'done' WHERE status = 'sent'"));
    char mid[64];
    long long camp = make_campaign(1);
    long long k = make_contact(camp, "{+15550100001}", "sent", 0, mid, sizeof(mid));
    volatile sig_atomic_t stop = 0;
    sms_expiry *e = sms_expiry_start(fx.dsn, &fx.ctx, &stop);
    assert_non_null(e);
    /* Due after 1 s; scanned every 50 ms. */
    long long n = 0;
    for (int i = 0; i < 100 && n == 0; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        n = outbox_count("sms.results", k);
    }
    sms_expiry_stop(e);
    assert_int_equal(n, 1);
    expect_text("done", "SELECT status FROM attempts WHERE contact_id = %lld", k);
    sms_expiry_stop(NULL);
}

/* ---- MO ---- */

static long long system_messages_to(const char *phone, const char *body)
{
    return q_ll("SELECT count(*) FROM sms_system_messages WHERE to_phone = '%s' AND body = '%s'",
                phone, body);
}

static void test_mo_stop_start_through_http(void **state)
{
    (void)state;
    NEED_DB();
    char mid[64], unused[64];
    long long camp1 = make_campaign(86400);
    long long camp2 = q_ll("INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                           " cisco_campaign_id) SELECT 'voice', 'voice_ivr', 'active', id, 'uccx',"
                           " '1' FROM strategies WHERE name = 'Default' RETURNING id");
    /* The number in three spellings, and one contact with it as second phone;
     * a number is once in a campaign (the upload refuses a duplicate). */
    long long camp3 = make_campaign(86400);
    long long pending = make_contact(camp1, "{+15550170001}", NULL, 0, unused, sizeof(unused));
    long long in_flight = make_contact(camp3, "{15550170001}", "sent", 5, mid, sizeof(mid));
    long long voice =
        make_contact(camp2, "{+15550179999,+1-555-017-0001}", NULL, 0, unused, sizeof(unused));
    long long closed = make_contact(camp1, "{+15550170001}", NULL, 0, unused, sizeof(unused));
    PQclear(q("UPDATE contacts SET state = 'closed', outcome = 'SMS_DELIVERED' WHERE id = %lld",
              closed));
    long long other = make_contact(camp1, "{+15550170002}", NULL, 0, unused, sizeof(unused));

    size_t len = 99;
    assert_int_equal(http(MO "from=%2B15550170001&to=12345&text=Stop.", NULL, NULL, &len), 200);
    assert_int_equal(len, 0);
    expect_text(
        "+15550170001 stop_keyword",
        "SELECT phone || ' ' || source FROM dnc WHERE channel = 'voice' AND campaign_id IS NULL"
        " AND phone_key = '15550170001'");
    long long ids[] = {pending, in_flight, voice};
    for (size_t i = 0; i < 3; i++) {
        expect_text("closed DNC true",
                    "SELECT state || ' ' || outcome || ' ' || (closed_at IS NOT NULL)"
                    " FROM contacts WHERE id = %lld",
                    ids[i]);
        assert_int_equal(outbox_count("contacts.closed", ids[i]), 1);
    }
    expect_text("closed SMS_DELIVERED",
                "SELECT state || ' ' || outcome FROM contacts WHERE id = %lld", closed);
    assert_int_equal(outbox_count("contacts.closed", closed), 0);
    expect_text("pending", "SELECT state FROM contacts WHERE id = %lld", other);
    assert_int_equal(system_messages_to("+15550170001", OPTOUT_TEXT), 1);
    expect_text("opt_out STOP Stop. 12345",
                "SELECT action || ' ' || keyword || ' ' || body || ' ' || to_phone"
                " FROM sms_inbound WHERE from_phone = '+15550170001' ORDER BY id LIMIT 1");

    /* The SMS in flight still gets its DLR; the strategy records it only. */
    assert_int_equal(sms_dlr_apply(fx.pg, &fx.ctx, mid, 1, NULL), SMS_DLR_APPLIED);
    assert_int_equal(strategy_applies(in_flight), ST_APPLY_RECORDED);
    expect_text("closed DNC", "SELECT state || ' ' || outcome FROM contacts WHERE id = %lld",
                in_flight);

    /* STOP again: recorded, no second confirmation, no second entry. */
    assert_int_equal(http(MO "from=%2B15550170001&to=12345&text=stop", NULL, NULL, NULL), 200);
    assert_int_equal(system_messages_to("+15550170001", OPTOUT_TEXT), 1);
    assert_int_equal(
        q_ll("SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '15550170001'"), 1);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_inbound WHERE from_phone = '+15550170001'"), 2);

    /* START (POSTed as a form): off the list, one confirmation; contacts stay closed. */
    assert_int_equal(http("/sms/mo", "application/x-www-form-urlencoded",
                          "key=" MO_KEY "&from=%2B15550170001&to=12345&text=+START+", NULL),
                     200);
    assert_int_equal(
        q_ll("SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '15550170001'"), 0);
    assert_int_equal(system_messages_to("+15550170001", OPTIN_TEXT), 1);
    expect_text("closed", "SELECT state FROM contacts WHERE id = %lld", pending);
    /* A YES from a number that is not opted out is no opt-in to confirm. */
    assert_int_equal(http_h("/sms/mo", "application/json",
                            "{\"from\":\"+15550170001\",\"to\":\"12345\",\"text\":\"yes\"}",
                            "X-ECM-Key: " MO_KEY, NULL),
                     200);
    assert_int_equal(system_messages_to("+15550170001", OPTIN_TEXT), 1);

    /* HELP is answered every time; other text is recorded only. */
    assert_int_equal(http(MO "from=15550170002&text=help%3F", NULL, NULL, NULL), 200);
    assert_int_equal(system_messages_to("15550170002", HELP_TEXT), 1);
    assert_int_equal(http(MO "from=15550170002&text=stop+it", NULL, NULL, NULL), 200);
    expect_text("none (null)",
                "SELECT action || ' ' || coalesce(keyword, '(null)') FROM sms_inbound"
                " WHERE body = 'stop it'");
    expect_text("pending", "SELECT state FROM contacts WHERE id = %lld", other);
    assert_int_equal(
        q_ll("SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '15550170002'"), 0);

    /* A sender that is no number can't be opted out; the message is kept. */
    assert_int_equal(http(MO "from=ALPHA&text=STOP", NULL, NULL, NULL), 200);
    expect_text("none STOP",
                "SELECT action || ' ' || keyword FROM sms_inbound WHERE from_phone = 'ALPHA'");
    assert_int_equal(http(MO "text=STOP", NULL, NULL, NULL), 400);
}

static void test_mo_apply_reports_what_it_did(void **state)
{
    (void)state;
    NEED_DB();
    char unused[64];
    long long camp = make_campaign(86400), camp2 = make_campaign(86400);
    make_contact(camp, "{+15550180001}", NULL, 0, unused, sizeof(unused));
    make_contact(camp2, "{+15550180001}", NULL, 0, unused, sizeof(unused));
    sms_mo_info info;
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550180001", NULL, " QUIT! ", &info), 0);
    assert_int_equal(info.action, SMS_MO_OPT_OUT);
    assert_int_equal(info.dnc_changed, 1);
    assert_int_equal(info.closed, 2);
    assert_int_equal(info.replies, 1);
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550180001", NULL, "REVOKE", &info), 0);
    assert_int_equal(info.dnc_changed, 0);
    assert_int_equal(info.closed, 0);
    assert_int_equal(info.replies, 0);
    /* An entry put there by an administrator is not lifted by START. */
    PQclear(q("INSERT INTO dnc (phone, source) VALUES ('+15550180002', 'api')"));
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550180002", NULL, "START", &info), 0);
    assert_int_equal(info.action, SMS_MO_OPT_IN);
    assert_int_equal(info.dnc_changed, 0);
    assert_int_equal(info.replies, 0);
    assert_int_equal(
        q_ll("SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '15550180002'"), 1);
}

/* What a forged MO could change: DNC, contacts, inbound records, replies. */
static char *mo_state(const char *digits)
{
    return q_text(
        "SELECT (SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '%s') || ' '"
        " || (SELECT count(*) FROM contacts WHERE state = 'closed') || ' '"
        " || (SELECT count(*) FROM sms_inbound) || ' '"
        " || (SELECT count(*) FROM sms_system_messages) || ' '"
        " || (SELECT count(*) FROM outbox)",
        digits);
}

static void test_mo_forged_is_refused_403_and_changes_nothing(void **state)
{
    (void)state;
    NEED_DB();
    char unused[64];
    long long camp = make_campaign(86400);
    long long k = make_contact(camp, "{+15550190001}", NULL, 0, unused, sizeof(unused));
    PQclear(q("INSERT INTO dnc (phone, source) VALUES ('+15550190002', 'sms_optout')"));
    char *before = mo_state("15550190001");
    char *before2 = mo_state("15550190002");
    long long missing0 = rejected("mo", "missing"), bad0 = rejected("mo", "bad_token");

    /* STOP (would close k), START (would lift a real opt-out), HELP (would
     * queue a reply): without the key, with a wrong one, in every place. */
    assert_int_equal(http("/sms/mo?from=%2B15550190001&text=STOP", NULL, NULL, NULL), 403);
    assert_int_equal(http("/sms/mo?key=&from=%2B15550190001&text=STOP", NULL, NULL, NULL), 403);
    assert_int_equal(http("/sms/mo?key=wrong&from=%2B15550190002&text=START", NULL, NULL, NULL),
                     403);
    assert_int_equal(
        http("/sms/mo?key=" MO_KEY "x&from=%2B15550190001&text=HELP", NULL, NULL, NULL), 403);
    assert_int_equal(http("/sms/mo", "application/x-www-form-urlencoded",
                          "key=" SECRET "&from=%2B15550190001&text=STOP", NULL),
                     403);
    assert_int_equal(http_h("/sms/mo", "application/json",
                            "{\"from\":\"+15550190001\",\"text\":\"STOP\"}",
                            "X-ECM-Key: not-the-key", NULL),
                     403);
    assert_int_equal(
        http("/sms/mo", "application/json", "{\"from\":\"+15550190002\",\"text\":\"START\"}", NULL),
        403);
    char *after = mo_state("15550190001");
    char *after2 = mo_state("15550190002");
    assert_string_equal(after, before);
    assert_string_equal(after2, before2);
    expect_text("pending", "SELECT state FROM contacts WHERE id = %lld", k);
    assert_int_equal(rejected("mo", "missing") - missing0, 3);
    assert_int_equal(rejected("mo", "bad_token") - bad0, 4);
    free(before);
    free(before2);
    free(after);
    free(after2);

    /* With the key (in the header this time) the STOP does its work. */
    assert_int_equal(http_h("/sms/mo", "application/json",
                            "{\"from\":\"+15550190001\",\"text\":\"STOP\"}", "X-ECM-Key: " MO_KEY,
                            NULL),
                     200);
    expect_text("closed DNC", "SELECT state || ' ' || outcome FROM contacts WHERE id = %lld", k);
}

static long long replies_to(const char *phone)
{
    return q_ll("SELECT count(*) FROM sms_system_messages WHERE to_phone = '%s'", phone);
}

static void test_mo_help_flood_from_one_number_gets_one_reply(void **state)
{
    (void)state;
    NEED_DB();
    const char *name = "ecm_sms_replies_suppressed_total{kind=\"help\",reason=\"per_number\"}";
    long long suppressed0 = (long long)ecm_metric_value(ecm_metrics_counter(fx.metrics, name, ""));
    long long inbound0 = q_ll("SELECT count(*) FROM sms_inbound");
    for (int i = 0; i < 1000; i++) {
        long st = http(MO "from=%2B15550200001&text=HELP", NULL, NULL, NULL);
        if (st != 200)
            fail_msg("HELP %d answered %ld", i, st);
    }
    assert_int_equal(replies_to("+15550200001"), 1);
    expect_text(HELP_TEXT, "SELECT body FROM sms_system_messages WHERE to_phone = '+15550200001'");
    /* Every message is still recorded; only the replies are held back. */
    assert_int_equal(q_ll("SELECT count(*) FROM sms_inbound") - inbound0, 1000);
    assert_int_equal(
        (long long)ecm_metric_value(ecm_metrics_counter(fx.metrics, name, "")) - suppressed0, 999);

    /* STOP and START in turns: each takes effect every time (compliance),
     * each confirmation goes once per interval. */
    sms_mo_info info;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550200002", NULL, "STOP", &info), 0);
        assert_int_equal(info.dnc_changed, 1);
        assert_int_equal(
            q_ll("SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '15550200002'"),
            1);
        assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550200002", NULL, "START", &info), 0);
        assert_int_equal(info.dnc_changed, 1);
        assert_int_equal(info.reply, i == 0 ? SMS_MO_REPLY_SENT : SMS_MO_REPLY_PER_NUMBER);
        assert_int_equal(
            q_ll("SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '15550200002'"),
            0);
    }
    assert_int_equal(system_messages_to("+15550200002", OPTOUT_TEXT), 1);
    assert_int_equal(system_messages_to("+15550200002", OPTIN_TEXT), 1);

    /* A reply is due again once the interval has passed (business clock). */
    char fixed[32];
    snprintf(fixed, sizeof(fixed), "%lld",
             (long long)ecm_clock_now_ms() + (REPLY_INTERVAL_S + 1) * 1000LL);
    setenv("ECM_CLOCK_FIXED", fixed, 1);
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550200001", NULL, "help", &info), 0);
    unsetenv("ECM_CLOCK_FIXED");
    assert_int_equal(info.reply, SMS_MO_REPLY_SENT);
    assert_int_equal(replies_to("+15550200001"), 2);
}

static void test_mo_help_flood_from_many_numbers_stops_at_the_global_cap(void **state)
{
    (void)state;
    NEED_DB();
    /* A frozen business minute, so the cap is exact. */
    setenv("ECM_CLOCK_FIXED", "2031-05-06T10:00:30Z", 1);
    fx.ctx.reply_max_per_minute = 7;
    long long replies0 = q_ll("SELECT count(*) FROM sms_system_messages");
    for (int i = 0; i < 1000; i++) {
        char path[128];
        snprintf(path, sizeof(path), MO "from=%%2B1555021%04d&text=HELP", i);
        long st = http(path, NULL, NULL, NULL);
        if (st != 200)
            fail_msg("HELP %d answered %ld", i, st);
    }
    assert_int_equal(q_ll("SELECT count(*) FROM sms_system_messages") - replies0, 7);
    /* Over the cap an opt-out still happens, without its confirmation; and
     * the number's interval is not used up by the reply it did not get. */
    sms_mo_info info;
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550220001", NULL, "STOP", &info), 0);
    assert_int_equal(info.dnc_changed, 1);
    assert_int_equal(info.reply, SMS_MO_REPLY_GLOBAL);
    assert_int_equal(
        q_ll("SELECT count(*) FROM dnc WHERE channel = 'voice' AND phone_key = '15550220001'"), 1);
    assert_int_equal(replies_to("+15550220001"), 0);
    /* The next minute has room again. */
    setenv("ECM_CLOCK_FIXED", "2031-05-06T10:01:30Z", 1);
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550229999", NULL, "HELP", &info), 0);
    assert_int_equal(info.reply, SMS_MO_REPLY_SENT);
    unsetenv("ECM_CLOCK_FIXED");
    fx.ctx.reply_max_per_minute = 0;
    assert_true(ecm_metric_value(ecm_metrics_counter(
                    fx.metrics, "ecm_sms_replies_suppressed_total{kind=\"help\",reason=\"global\"}",
                    "")) >= 993);
}

/* ---- retention ---- */

static void test_purge_deletes_only_old_rows_in_batches(void **state)
{
    (void)state;
    NEED_DB();
    PQclear(q("DELETE FROM sms_dlrs"));
    PQclear(q("DELETE FROM sms_inbound"));
    char open_mid[64], done_mid[64];
    long long camp = make_campaign(86400);
    make_contact(camp, "{+15550230001}", "sent", 5, open_mid, sizeof(open_mid));
    long long kd = make_contact(camp, "{+15550230002}", "sent", 5, done_mid, sizeof(done_mid));
    PQclear(q("UPDATE attempts SET status = 'done' WHERE contact_id = %lld", kd));
    /* 25 old DLRs of closed or unknown messages, 1 old of an open attempt,
     * 5 recent; 7 old inbound messages, 2 recent. */
    PQclear(q("INSERT INTO sms_dlrs (message_id, status, received_at) SELECT"
              " CASE WHEN i %% 2 = 0 THEN '%s' ELSE 'gone-' || i END, 1,"
              " now() - interval '100 days' - i * interval '1 minute'"
              " FROM generate_series(1, 25) i",
              done_mid));
    PQclear(q("INSERT INTO sms_dlrs (message_id, status, received_at)"
              " VALUES ('%s', 8, now() - interval '100 days')",
              open_mid));
    PQclear(q("INSERT INTO sms_dlrs (message_id, status, received_at) SELECT 'new-' || i, 1,"
              " now() - interval '89 days' FROM generate_series(1, 5) i"));
    PQclear(q("INSERT INTO sms_inbound (from_phone, body, action, received_at) SELECT"
              " '+15550230009', 'old', 'none', now() - interval '91 days'"
              " FROM generate_series(1, 7)"));
    PQclear(q("INSERT INTO sms_inbound (from_phone, body, action) SELECT"
              " '+15550230009', 'new', 'none' FROM generate_series(1, 2)"));

    sms_purge_config cfg = {
        .retention_days = 90, .batch = 10, .reply_interval_s = 600, .metrics = fx.metrics};
    /* Another replica purging: this one leaves it alone. */
    PQclear(q("SELECT pg_advisory_lock(7308291055)"));
    sms_purge_stats st;
    assert_int_equal(sms_purge_run(fx.pg, &cfg, NULL, &st), 1);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs"), 31);
    PQclear(q("SELECT pg_advisory_unlock(7308291055)"));

    assert_int_equal(sms_purge_run(fx.pg, &cfg, NULL, &st), 0);
    assert_int_equal(st.dlrs, 25);
    assert_int_equal(st.inbound, 7);
    /* 25 rows in batches of 10: 10, 10, 5; 7 inbound: one batch. */
    assert_true(st.batches >= 4);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs WHERE message_id LIKE 'new-%%'"), 5);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs WHERE message_id = '%s'", open_mid), 1);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs"), 6);
    expect_text("new 2", "SELECT min(body) || ' ' || count(*) FROM sms_inbound");
    /* Nothing more to do. */
    assert_int_equal(sms_purge_run(fx.pg, &cfg, NULL, &st), 0);
    assert_int_equal(st.dlrs + st.inbound, 0);
    assert_int_equal(st.batches, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dlr_codes_final_and_intermediate),
        cmocka_unit_test(test_dlr_final_closes_attempt_with_one_sms_result),
        cmocka_unit_test(test_dlr_resent_final_changes_nothing),
        cmocka_unit_test(test_dlr_intermediate_then_final),
        cmocka_unit_test(test_dlr_late_intermediate_does_not_wait_for_a_closed_attempts_lock),
        cmocka_unit_test(test_dlr_intermediate_racing_the_final_is_a_duplicate),
        cmocka_unit_test(test_dlr_for_attempt_still_sending_is_applied),
        cmocka_unit_test(test_dlr_unknown_id_and_code_are_recorded_only),
        cmocka_unit_test(test_dlr_of_system_message_is_recorded_only),
        cmocka_unit_test(test_dlr_over_http_get_form_and_json),
        cmocka_unit_test(test_dlr_forged_is_refused_403_and_changes_nothing),
        cmocka_unit_test(test_dlr_with_the_pool_busy_is_refused_503_and_applies_later),
        cmocka_unit_test(test_expiry_closes_old_sent_attempt_as_sms_expired),
        cmocka_unit_test(test_expiry_thread_closes_overdue_attempts_until_stopped),
        cmocka_unit_test(test_mo_stop_start_through_http),
        cmocka_unit_test(test_mo_apply_reports_what_it_did),
        cmocka_unit_test(test_mo_forged_is_refused_403_and_changes_nothing),
        cmocka_unit_test(test_mo_help_flood_from_one_number_gets_one_reply),
        cmocka_unit_test(test_mo_help_flood_from_many_numbers_stops_at_the_global_cap),
        cmocka_unit_test(test_purge_deletes_only_old_rows_in_batches),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* Scaffolding shared by the tests of the sms service's callbacks against
 * PostgreSQL (test_sms_dlr.c: DLRs and their timeouts; test_sms_mo_db.c:
 * inbound keywords; test_sms_purge.c: retention): a scratch database created
 * from ECM_TEST_PG_DSN (each test skipped when it is unset), the connection
 * the code under test uses and the test's own, a real ecm_http serving the
 * DLR and inbound routes, and the strategy's results context, so that the
 * SmsResults produced here are held to the strategy's contract.
 *
 * Header-only and static inline, like ecm_test_support.h: each test binary
 * includes it once and uses what it needs. */
#ifndef SMS_CB_TEST_SUPPORT_H
#define SMS_CB_TEST_SUPPORT_H

#include <signal.h>

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
#include "sms_dlr_batch.h"
#include "sms_dlrq.h"
#include "sms_expiry.h"
#include "sms_mo.h"
#include "sms_purge.h"
#include "st_results.h"
#include "ecm_test_support.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x

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
    sms_dlrq *dlrq; /* the HTTP DLRs go through it, as in the service */
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

static inline void expect_text(const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void expect_text(const char *expected, const char *fmt, ...)
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

static inline long long outbox_count(const char *topic, long long key)
{
    return q_ll("SELECT count(*) FROM outbox WHERE topic = '%s' AND msg_key = '%lld'", topic, key);
}

/* The only SmsResult for contact key; fails unless there is exactly one. */
static inline Ecm__V1__SmsResult *sms_result_of(long long key)
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

static inline long long make_campaign(int dlr_timeout_s)
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
static inline long long make_contact(long long campaign_id, const char *phones, const char *status,
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

static inline st_apply_status strategy_applies(long long contact_id)
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
static inline long http_h(const char *path_and_query, const char *content_type, const char *body,
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

static inline long http(const char *path_and_query, const char *content_type, const char *body,
                        size_t *answer_len)
{
    return http_h(path_and_query, content_type, body, NULL, answer_len);
}

/* "/sms/dlr?msgid=<mid>&token=<mid's token under secret>&<rest>" into out,
 * as the gateway gets it. */
static inline const char *dlr_path(char *out, size_t size, const char *secret, const char *mid,
                                   const char *rest)
{
    char token[SMS_AUTH_TOKEN_LEN + 1];
    assert_int_equal(sms_auth_token(secret, mid, token, sizeof(token)), 0);
    snprintf(out, size, "/sms/dlr?msgid=%s&token=%s&%s", mid, token, rest);
    return out;
}

/* ---- fixtures ---- */

static inline int sms_cb_setup(const char *db_name, int port_first, int port_last)
{
    if (ecm_test_pg_dsn() == NULL)
        return 0;
    ecm_log_init(db_name, ECM_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fx.db = ecm_test_db_new_migrated(db_name);
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
    fx.dlrq = sms_dlrq_new(2);
    if (fx.dlrq == NULL)
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
        .dlrq = fx.dlrq,
    };
    fx.rctx = (st_results_ctx){
        .topic_call_results = "call.results",
        .topic_sms_results = "sms.results",
        .topic_closed = "contacts.closed",
        .source = "/ecm/strategy-test",
    };
    for (fx.port = port_first; fx.port <= port_last; fx.port++) {
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

static inline int sms_cb_teardown(void)
{
    if (fx.pg == NULL)
        return 0;
    ecm_http_destroy(fx.http);
    sms_dlrq_destroy(fx.dlrq);
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

static inline long long rejected(const char *endpoint, const char *reason)
{
    char name[128];
    snprintf(name, sizeof(name), "ecm_sms_callbacks_rejected_total{endpoint=\"%s\",reason=\"%s\"}",
             endpoint, reason);
    return (long long)ecm_metric_value(ecm_metrics_counter(fx.metrics, name, ""));
}

#endif

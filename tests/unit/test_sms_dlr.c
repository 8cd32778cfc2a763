/* The sms service's delivery reports against PostgreSQL: sms_dlr called
 * directly and through a real ecm_http with libcurl, and the DLR timeouts
 * (sms_expiry). Scaffolding in sms_cb_test_support.h. */
#include <pthread.h>
#include <time.h>

#include "sms_cb_test_support.h"

/* This test's ports (smsdlr's range 22400-22599). */
#define PORT_FIRST 22400
#define PORT_LAST 22449

static int group_setup(void **state)
{
    (void)state;
    return sms_cb_setup("ecm_smsdlr", PORT_FIRST, PORT_LAST);
}

static int group_teardown(void **state)
{
    (void)state;
    return sms_cb_teardown();
}

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
 * open until the DLR under test waits for the attempt's lock, then commits.
 * pg_stat_activity is read once per transaction unless its snapshot is
 * cleared, and fx.check is inside one. */
static void *commit_once_waited_for(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3000; i++) {
        PQclear(q("SELECT pg_stat_clear_snapshot()"));
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

/* One batch takes effect in its order, as the same DLRs one by one would:
 * an intermediate code then a final one, a final one then a late
 * intermediate (a duplicate), a resent final, an unknown code, an unknown
 * id, a system message's id; one SmsResult a closed attempt. */
static void test_dlr_batch_applies_in_order_as_one_by_one(void **state)
{
    (void)state;
    NEED_DB();
    char m1[64], m2[64], m3[64];
    long long camp = make_campaign(86400);
    long long k1 = make_contact(camp, "{+15550100011}", "sent", 5, m1, sizeof(m1));
    long long k2 = make_contact(camp, "{+15550100012}", "sending", 5, m2, sizeof(m2));
    long long k3 = make_contact(camp, "{+15550100013}", "sent", 5, m3, sizeof(m3));
    PQclear(q("INSERT INTO sms_system_messages (to_phone, body, message_id, state)"
              " VALUES ('+15550100019', 'HELP text', 'sys-batch-1', 'sent')"));
    sms_dlr_item it[] = {
        {m1, 8, "ACK/", SMS_DLR_DB_ERROR, -1},
        {m2, 1, NULL, SMS_DLR_DB_ERROR, -1},
        {m1, 2, "gone", SMS_DLR_DB_ERROR, -1},
        {m2, 8, NULL, SMS_DLR_DB_ERROR, -1},
        {m2, 1, NULL, SMS_DLR_DB_ERROR, -1},
        {m3, 3, NULL, SMS_DLR_DB_ERROR, -1},
        {"no-such-batch-id", 1, NULL, SMS_DLR_DB_ERROR, -1},
        {"sys-batch-1", 1, NULL, SMS_DLR_DB_ERROR, -1},
    };
    assert_int_equal(sms_dlr_batch_apply(fx.pg, &fx.ctx, it, 8), 0);
    sms_dlr_result want[] = {SMS_DLR_INTERMEDIATE, SMS_DLR_APPLIED,   SMS_DLR_APPLIED,
                             SMS_DLR_DUPLICATE,    SMS_DLR_DUPLICATE, SMS_DLR_UNKNOWN_CODE,
                             SMS_DLR_UNKNOWN_ID,   SMS_DLR_SYSTEM};
    for (int i = 0; i < 8; i++) {
        if (it[i].result != want[i])
            fail_msg("item %d: result %d, expected %d", i, it[i].result, want[i]);
    }
    expect_text("done 2 2",
                "SELECT status || ' ' || raw_code || ' ' || dlr_status FROM attempts"
                " WHERE contact_id = %lld",
                k1);
    expect_text("done 1 1",
                "SELECT status || ' ' || raw_code || ' ' || dlr_status FROM attempts"
                " WHERE contact_id = %lld",
                k2);
    expect_text("sent -",
                "SELECT status || ' ' || coalesce(dlr_status::text, '-') FROM attempts"
                " WHERE contact_id = %lld",
                k3);
    assert_int_equal(outbox_count("sms.results", k1), 1);
    assert_int_equal(outbox_count("sms.results", k2), 1);
    assert_int_equal(outbox_count("sms.results", k3), 0);
    Ecm__V1__SmsResult *m = sms_result_of(k1);
    assert_int_equal(m->outcome, O(SMS_UNDELIVERED));
    assert_string_equal(m->detail, "gone");
    assert_int_equal(m->segments, 2);
    ecm__v1__sms_result__free_unpacked(m, NULL);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs WHERE message_id IN ('%s', '%s', '%s',"
                          " 'no-such-batch-id', 'sys-batch-1')",
                          m1, m2, m3),
                     8);
    assert_int_equal(strategy_applies(k2), ST_APPLY_DECIDED);
}

/* The index entries of attempts' message ids that pg's session has read
 * (pg_stat_user_indexes, after its pending figures are flushed). */
static long long message_id_reads(ecm_pg *pg)
{
    PQclear(ecm_pg_exec(pg, "SELECT pg_stat_force_next_flush()", 0, NULL));
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT idx_tup_read FROM pg_stat_user_indexes"
                              " WHERE indexrelname = 'attempts_message_id_key'",
                              0, NULL);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 1);
    long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* The check of the ids no open attempt has (a DLR for an attempt already
 * done, an id never issued) finds each id by its key whatever the table's
 * statistics said when it was prepared: as EXISTS subqueries, a statement
 * prepared while attempts was small kept a hashed subplan that read every
 * attempt's message id at each call as the table grew (24 ms a call, 4.9 s
 * of a 20,000-message run). */
static void test_dlr_unknown_ids_are_looked_up_by_key_whatever_the_statistics(void **state)
{
    (void)state;
    NEED_DB();
    /* The statistics of the table as it is now, and no analyze later. */
    PQclear(q("ALTER TABLE attempts SET (autovacuum_enabled = false)"));
    PQclear(q("ANALYZE attempts"));
    ecm_pg *pg = ecm_pg_new(fx.dsn, NULL);
    assert_non_null(pg);
    ecm_pg_set_prepare(pg, 1);
    sms_dlr_item first = {"never-issued-stats-1", 1, NULL, SMS_DLR_DB_ERROR, -1};
    assert_int_equal(sms_dlr_batch_apply(pg, &fx.ctx, &first, 1), 0);
    assert_int_equal(first.result, SMS_DLR_UNKNOWN_ID);

    long long camp = make_campaign(86400);
    PQclear(q("WITH k AS (INSERT INTO contacts (campaign_id, phones, state, attempts)"
              " SELECT %lld, ARRAY['+1555030' || lpad(g::text, 4, '0')], 'closed', 1"
              " FROM generate_series(1, 5000) g RETURNING id)"
              " INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone,"
              " account_number, status, message_id)"
              " SELECT id, 1, %lld, 'sms', 'kannel', '+15550300000', 'stats-' || id, 'done',"
              " 'stats-' || id FROM k",
              camp, camp));
    long long before = message_id_reads(pg);
    char done_id[64];
    snprintf(done_id, sizeof done_id, "stats-%lld",
             q_ll("SELECT max(contact_id) FROM attempts WHERE campaign_id = %lld", camp));
    sms_dlr_item again[] = {
        {"never-issued-stats-2", 1, NULL, SMS_DLR_DB_ERROR, -1},
        {done_id, 1, NULL, SMS_DLR_DB_ERROR, -1},
    };
    assert_int_equal(sms_dlr_batch_apply(pg, &fx.ctx, again, 2), 0);
    long long read = message_id_reads(pg) - before;
    ecm_pg_destroy(pg);
    PQclear(q("ALTER TABLE attempts RESET (autovacuum_enabled)"));
    assert_int_equal(again[0].result, SMS_DLR_UNKNOWN_ID);
    assert_int_equal(again[1].result, SMS_DLR_DUPLICATE);
    /* Two ids: a lookup each for the open attempts, one for the known
     * check; the whole index is 5,000 entries more. */
    if (read > 100)
        fail_msg("the batch read %lld message id index entries for 2 ids", read);
}

#define PARALLEL_THREADS 16
#define PARALLEL_ATTEMPTS 40

typedef struct {
    char (*mids)[64];
    int first;
} parallel_arg;

/* Sends the 8 and the 1 of every attempt, starting at a different one in
 * each thread, so that the same DLRs race in different batches. */
static void *send_dlrs(void *p)
{
    const parallel_arg *a = p;
    for (int j = 0; j < PARALLEL_ATTEMPTS; j++) {
        const char *mid = a->mids[(a->first + j) % PARALLEL_ATTEMPTS];
        (void)sms_dlrq_apply(fx.dlrq, &fx.ctx, mid, 8, NULL);
        (void)sms_dlrq_apply(fx.dlrq, &fx.ctx, mid, 1, NULL);
    }
    return NULL;
}

/* Many handler threads at once, each DLR resent by several of them: every
 * attempt closed once, one SmsResult each, every DLR kept, none failed. */
static void test_dlr_group_commit_from_many_threads_closes_each_attempt_once(void **state)
{
    (void)state;
    NEED_DB();
    static char mids[PARALLEL_ATTEMPTS][64];
    long long camp = make_campaign(86400);
    long long first = 0;
    for (int i = 0; i < PARALLEL_ATTEMPTS; i++) {
        char phones[32];
        snprintf(phones, sizeof(phones), "{+1555020%04d}", i);
        long long k = make_contact(camp, phones, "sent", 5, mids[i], sizeof(mids[i]));
        if (i == 0)
            first = k;
    }
    double errors_before = ecm_metric_value(
        ecm_metrics_counter(fx.metrics, "ecm_sms_dlrs_total{result=\"db_error\"}", ""));
    pthread_t th[PARALLEL_THREADS];
    parallel_arg args[PARALLEL_THREADS];
    for (int t = 0; t < PARALLEL_THREADS; t++) {
        args[t] = (parallel_arg){mids, t * 7};
        assert_int_equal(pthread_create(&th[t], NULL, send_dlrs, &args[t]), 0);
    }
    for (int t = 0; t < PARALLEL_THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    assert_int_equal(q_ll("SELECT count(*) FROM attempts WHERE campaign_id = %lld"
                          " AND status = 'done' AND dlr_status = 1",
                          camp),
                     PARALLEL_ATTEMPTS);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE topic = 'sms.results'"
                          " AND msg_key::bigint BETWEEN %lld AND %lld",
                          first, first + PARALLEL_ATTEMPTS - 1),
                     PARALLEL_ATTEMPTS);
    assert_int_equal(q_ll("SELECT count(*) FROM sms_dlrs d JOIN attempts a USING (message_id)"
                          " WHERE a.campaign_id = %lld",
                          camp),
                     2 * PARALLEL_THREADS * PARALLEL_ATTEMPTS);
    assert_true(ecm_metric_value(ecm_metrics_counter(
                    fx.metrics, "ecm_sms_dlrs_total{result=\"db_error\"}", "")) == errors_before);
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
        cmocka_unit_test(test_dlr_batch_applies_in_order_as_one_by_one),
        cmocka_unit_test(test_dlr_unknown_ids_are_looked_up_by_key_whatever_the_statistics),
        cmocka_unit_test(test_dlr_group_commit_from_many_threads_closes_each_attempt_once),
        cmocka_unit_test(test_expiry_closes_old_sent_attempt_as_sms_expired),
        cmocka_unit_test(test_expiry_thread_closes_overdue_attempts_until_stopped),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* Recovery of a crashed sender's SMS without sending any message twice,
 * against a scratch PostgreSQL database and a fake gateway: on the Kannel
 * lane (Kannel can't be asked whether it took a message) an attempt left
 * 'sending' is not sent again before its lease is resend_after_s old, is
 * sent once after; a final DLR arriving in between closes it and nothing
 * is sent; an intermediate DLR proves the gateway took it, so it is
 * recorded 'sent' (one ContactDispatched) and never sent again; the generic
 * gateway (which recognises a message id it has) keeps the short lease; a
 * Kannel system message waits the same; an orderly stop hands back what it
 * never submitted, for recovery at once. Time passes on the database's
 * clock: the tests age the leases (sending_at, sent_at) with UPDATEs, and
 * each "not sent" is asserted after a recovery pass that sent a control
 * message taken by the same statement. Needs ECM_TEST_PG_DSN. */
#include "ecm/v1/events.pb-c.h"
#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "sms_ctx.h"
#include "sms_dlr.h"
#include "sms_sender.h"
#include "ecm_test_support.h"
#include "sms_sender_test_support.h"

#define PORT_FIRST 22600
#define PORT_LAST 22619
#define SECRET "test-callback-secret-0123456789abcdef"
#define BODY                                                                                       \
    "{\"message_id\":\"{message_id}\",\"to\":\"{to}\",\"from\":\"{from}\",\"text\":\"{text}\","    \
    "\"dlr_url\":\"{dlr_url}\"}"
/* Leases go stale after 1 s, so that recovery passes run every third of a
 * second; Kannel's attempts wait 600 s (database time) on top. */
#define STALE_S 1
#define RESEND_AFTER_S 600

static int group_setup(void **state)
{
    return sms_fixture_setup(state, "ecm_smsrecover", PORT_FIRST, PORT_LAST);
}

static int group_teardown(void **state)
{
    return sms_fixture_teardown(state);
}

/* A sender with both lanes: Kannel (also for system messages) and the
 * generic gateway, both on the fake. */
static sms_sender *make_sender(fixture *f)
{
    sms_gw_config common = {
        .callback_base_url = "http://127.0.0.1:8084",
        .callback_secret = SECRET,
        .timeout_ms = 2000,
        .concurrency = 4,
    };
    sms_gw_config kannel = common, http = common;
    kannel.kind = SMS_GW_KANNEL;
    kannel.name = "kannel";
    kannel.url = f->kannel_url;
    kannel.user = "ecm";
    kannel.password = "pw";
    http.kind = SMS_GW_HTTP;
    http.name = "http";
    http.url = f->http_url;
    http.method = "POST";
    http.body_template = BODY;
    http.auth = "";
    sms_sender_config cfg = {
        .ctx = &f->ctx,
        .lanes = {{.gw = kannel, .rate = 1000}, {.gw = http, .rate = 1000}},
        .nlanes = 2,
        .default_gateway = "kannel",
        .system_gateway = "kannel",
        .batch = 100,
        .tick_ms = 20,
        .stale_s = STALE_S,
        .resend_after_s = RESEND_AFTER_S,
        .backoff_max_ms = 300,
    };
    return sms_sender_new(f->pg, &cfg);
}

static int test_setup(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    q_cmd(f, "TRUNCATE attempts, outbox, contacts, uploads, dnc, sms_system_messages, sms_dlrs, "
             "campaigns RESTART IDENTITY CASCADE");
    setenv("ECM_CLOCK_FIXED", "2026-03-09T12:00:00Z", 1);
    fake_reset(f->fake);
    f->metrics = ecm_metrics_new();
    f->ctx = (sms_ctx){
        .common = &f->common,
        .source = "/ecm/sms",
        .metrics = f->metrics,
        .callback_base_url = "http://127.0.0.1:8084",
        .system_sender = "ECM",
    };
    f->sender = make_sender(f);
    assert_non_null(f->sender);
    return 0;
}

static int test_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    sms_sender_destroy(f->sender);
    ecm_metrics_destroy(f->metrics);
    return 0;
}

#define NEED_DB(f) ((void)ecm_test_need(f))

/* The gateway's DLRs have caught up to now on `target`: a closed contact
 * (id 900) whose attempt (message id mark) was accepted now and whose DLR
 * just came. Recovery sends a Kannel message without a DLR again only once
 * the DLRs have come for messages accepted after it. */
static void dlr_caught_up(fixture *f, const char *target)
{
    char sql[1024];
    q_cmd(f, "INSERT INTO contacts (id, campaign_id, first_name, phones, state, attempts, outcome) "
             "VALUES (900, 1, 'Mark', ARRAY['+15550000099'], 'closed', 1, 'SMS_DELIVERED')");
    snprintf(sql, sizeof sql,
             "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone, "
             "account_number, status, message_id, encoding, segments, sent_at, dlr_status) "
             "VALUES (900, 1, 1, 'sms', '%s', '+15550000099', 'mark', 'done', 'mark', 'GSM7', 1, "
             "now(), 1)",
             target);
    q_cmd(f, sql);
    q_cmd(f, "INSERT INTO sms_dlrs (message_id, status) VALUES ('mark', 1)");
}

/* An active SMS campaign with two dispatched contacts (+15550000001 and
 * +15550000002) whose attempt 1 a sender that died left 'sending' through
 * `target`, message id crash-<contact id>, its lease (sending_at) age1 and
 * age2 old (SQL intervals). */
static void crash_leftovers(fixture *f, const char *target, const char *age1, const char *age2)
{
    q_cmd(f, "INSERT INTO campaigns (name, channel, state, strategy_id, sms_template, sms_sender) "
             "SELECT 's', 'sms', 'active', id, 'Hi {first_name}', 'ECMBANK' FROM strategies "
             "WHERE name = 'Default'");
    q_cmd(f, "INSERT INTO contacts (campaign_id, first_name, phones, state, attempts) "
             "SELECT 1, 'First' || g, ARRAY['+155500000' || lpad(g::text, 2, '0')], "
             "'dispatched', 1 FROM generate_series(1, 2) g");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone, "
             "account_number, status, message_id, encoding, segments, sending_at) "
             "SELECT id, 1, 1, 'sms', '%s', phones[1], id || '-1', 'sending', 'crash-' || id, "
             "'GSM7', 1, now() - CASE id WHEN 1 THEN interval '%s' ELSE interval '%s' END "
             "FROM contacts",
             target, age1, age2);
    q_cmd(f, sql);
    dlr_caught_up(f, target);
}

/* Steps the sender for ms of real time: an idle step returns at once, and
 * leases run on the database's clock. */
static void step_real(fixture *f, int ms)
{
    int64_t until = ecm_clock_wall_ms() + ms;
    while (ecm_clock_wall_ms() < until) {
        sms_sender_step(f->sender, 20);
        ecm_test_sleep_ms(20); /* an idle step does not wait */
    }
}

/* Steps the sender until sql gives want, for up to 10 s of real time. */
static void step_until(fixture *f, const char *sql, long long want)
{
    int64_t until = ecm_clock_wall_ms() + 10000;
    long long got = -1;
    while (ecm_clock_wall_ms() < until) {
        step_real(f, 20);
        got = q_int(f, sql);
        if (got == want)
            return;
    }
    fail_msg("%s: got %lld, want %lld", sql, got, want);
}

static double metric(fixture *f, const char *name)
{
    return ecm_metric_value(ecm_metrics_counter(f->metrics, name, "x"));
}

static long long status_count(fixture *f, const char *message_id, const char *status)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM attempts WHERE message_id = '%s' AND status = '%s'", message_id,
             status);
    return q_int(f, sql);
}

/* crash-1 crashed 5 minutes ago: stale, but inside the resend wait; crash-2
 * 11 minutes ago goes at once (same recovery statement), crash-1 not. Ten
 * minutes after its crash, crash-1 goes, once. */
static void test_recover_kannel_attempt_waits_the_resend_wait_then_resent_once(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    crash_leftovers(f, "kannel", "5 minutes", "11 minutes");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    step_real(f, 1500); /* several recovery passes */
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_string_equal(f->fake->message_id, "crash-2");
    assert_int_equal(status_count(f, "crash-1", "sending"), 1);
    assert_int_equal((int)metric(f, "ecm_sms_recovered_total"), 1);

    q_cmd(f, "UPDATE attempts SET sending_at = now() - interval '601 seconds' "
             "WHERE message_id = 'crash-1'");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 2);
    step_real(f, 1000);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 2);
    assert_int_equal(fake_get(f->fake, &f->fake->duplicates), 0);
    assert_string_equal(f->fake->message_id, "crash-1");
    assert_string_equal(f->fake->to, "+15550000001");
    assert_int_equal((int)metric(f, "ecm_sms_recovered_total"), 2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched'"),
                     2);
}

/* Kannel's DLRs flow but run behind: the newest came now, for a message
 * accepted 15 minutes ago. crash-2 (lease 20 minutes old) went before that
 * and goes again; crash-1 (11 minutes), past the resend wait but not yet
 * reached by the DLRs, is not sent (Kannel may have it, its DLR queued).
 * When the DLRs stop (none for an hour: a quiet lane, not a late one),
 * crash-1 goes after the plain wait, once. */
static void test_recover_kannel_attempt_waits_for_the_dlrs_to_catch_up(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    crash_leftovers(f, "kannel", "11 minutes", "20 minutes");
    q_cmd(f,
          "UPDATE attempts SET sent_at = now() - interval '15 minutes' WHERE message_id = 'mark'");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    step_real(f, 1500); /* several recovery passes */
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_string_equal(f->fake->message_id, "crash-2");
    assert_int_equal(status_count(f, "crash-1", "sending"), 1);

    q_cmd(f, "UPDATE sms_dlrs SET received_at = now() - interval '1 hour'");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 2);
    step_real(f, 1000);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 2);
    assert_int_equal(fake_get(f->fake, &f->fake->duplicates), 0);
    assert_string_equal(f->fake->message_id, "crash-1");
    assert_int_equal((int)metric(f, "ecm_sms_recovered_total"), 2);
}

/* 1 when the fake gateway accepted message id. */
static int fake_took(fixture *f, const char *id)
{
    int took = 0;
    pthread_mutex_lock(&f->fake->mu);
    for (int i = 0; i < f->fake->naccepted; i++)
        took |= strcmp(f->fake->accepted[i], id) == 0;
    pthread_mutex_unlock(&f->fake->mu);
    return took;
}

/* Kannel took crash-1 before its sender died. Recovery finds it stale and
 * leaves it (crash-2, past the wait, goes); its final DLR comes 90 s after
 * the crash (smsbox retrying while the service restarted), inside the
 * resend wait: the attempt is closed, one SmsResult, and it is never sent
 * again, not even once its lease is far past the resend wait (crash-3,
 * added then, is sent by the same recovery statement: a pass ran). */
static void test_recover_kannel_attempt_closed_by_late_final_dlr_never_resent(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    crash_leftovers(f, "kannel", "90 seconds", "11 minutes");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    step_real(f, 1000); /* several recovery passes */
    assert_int_equal(status_count(f, "crash-1", "sending"), 1);
    assert_false(fake_took(f, "crash-1"));

    assert_int_equal(sms_dlr_apply(f->pg, &f->ctx, "crash-1", 1, "DELIVRD"), SMS_DLR_APPLIED);
    assert_int_equal(status_count(f, "crash-1", "done"), 1);
    q_cmd(f, "UPDATE attempts SET sending_at = now() - interval '1 hour' "
             "WHERE message_id = 'crash-1'");
    q_cmd(f, "INSERT INTO contacts (campaign_id, first_name, phones, state, attempts) "
             "VALUES (1, 'First3', ARRAY['+15550000003'], 'dispatched', 1)");
    q_cmd(f, "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone, "
             "account_number, status, message_id, encoding, segments, sending_at) "
             "VALUES (3, 1, 1, 'sms', 'kannel', '+15550000003', '3-1', 'sending', 'crash-3', "
             "'GSM7', 1, now() - interval '1 hour')");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 2);
    step_real(f, 1000);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 2);
    assert_true(fake_took(f, "crash-3"));
    assert_false(fake_took(f, "crash-1"));
    assert_int_equal(status_count(f, "crash-1", "done"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'sms.results'"), 1);
    assert_int_equal((int)metric(f, "ecm_sms_recovered_total"), 2);
}

/* Kannel took crash-1 and its SMSC acknowledged it (DLR 8) before the final
 * DLR: the gateway has it, so recovery records it 'sent' (one
 * ContactDispatched) without waiting the resend wait and without sending
 * it; the final DLR then closes it. */
static void test_recover_attempt_with_intermediate_dlr_recorded_sent_not_resent(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    crash_leftovers(f, "kannel", "5 minutes", "1 second");
    assert_int_equal(sms_dlr_apply(f->pg, &f->ctx, "crash-1", 8, "ACK"), SMS_DLR_INTERMEDIATE);
    assert_int_equal(sms_dlr_apply(f->pg, &f->ctx, "crash-2", 8, "ACK"), SMS_DLR_INTERMEDIATE);
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 2);
    step_real(f, 1000);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched'"),
                     2);
    assert_int_equal(
        q_int(f,
              "SELECT count(*) FROM attempts WHERE sent_at IS NOT NULL AND message_id <> 'mark'"),
        2);
    assert_int_equal((int)metric(f, "ecm_sms_recovered_total"), 0);
    assert_int_equal((int)metric(f, "ecm_sms_sent_total{gateway=\"kannel\"}"), 2);
    assert_int_equal(sms_dlr_apply(f->pg, &f->ctx, "crash-1", 1, "DELIVRD"), SMS_DLR_APPLIED);
    assert_int_equal(status_count(f, "crash-1", "done"), 1);
    assert_int_equal(sms_sender_pending(f->sender), 0);
}

/* The generic gateway recognises a message id it already has: its crashed
 * attempts go again once the lease is stale, without the resend wait. */
static void test_recover_http_attempt_resent_after_the_lease_alone(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    crash_leftovers(f, "http", "5 seconds", "5 minutes");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 2);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 2);
    assert_int_equal(fake_get(f->fake, &f->fake->duplicates), 0);
    assert_non_null(strstr(f->fake->body, "\"message_id\":\"crash-"));
    assert_int_equal((int)metric(f, "ecm_sms_recovered_total"), 2);
}

/* A system message (opt-out confirmation) claimed on the Kannel lane by a
 * sender that died 5 minutes ago is not claimed again before the resend
 * wait (a queued one, claimed by the same statement, goes meanwhile); ten
 * minutes after, it goes once. */
static void test_recover_kannel_system_message_waits_the_resend_wait(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    q_cmd(f, "INSERT INTO sms_system_messages (to_phone, body, message_id, state, attempts, "
             "sent_at) VALUES ('+15550000009', 'You are unsubscribed.', 'sys-1', 'sending', 1, "
             "now() - interval '5 minutes'), ('+15550000008', 'Help.', 'sys-2', 'queued', 0, "
             "NULL)");
    step_until(f, "SELECT count(*) FROM sms_system_messages WHERE state = 'sent'", 1);
    step_real(f, 1000);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_string_equal(f->fake->message_id, "sys-2");
    q_cmd(f, "UPDATE sms_system_messages SET sent_at = now() - interval '601 seconds' "
             "WHERE message_id = 'sys-1'");
    step_until(f, "SELECT count(*) FROM sms_system_messages WHERE state = 'sent'", 2);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 2);
    assert_string_equal(f->fake->message_id, "sys-1");
    assert_int_equal(q_int(f, "SELECT attempts FROM sms_system_messages WHERE id = 1"), 2);
}

/* An orderly stop with 10 messages taken and 4 in flight (the fake answers
 * slowly): the 4 are answered and recorded, the 6 never submitted are
 * handed back, and the next sender (another replica) sends them at once,
 * without the resend wait; nothing twice. */
static void test_drain_hands_back_unsent_messages_for_recovery_at_once(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    q_cmd(f, "INSERT INTO campaigns (name, channel, state, strategy_id, sms_template, sms_sender) "
             "SELECT 's', 'sms', 'active', id, 'Hi {first_name}', 'ECMBANK' FROM strategies "
             "WHERE name = 'Default'");
    q_cmd(f, "INSERT INTO contacts (campaign_id, first_name, phones, state) "
             "SELECT 1, 'First' || g, ARRAY['+155500000' || lpad(g::text, 2, '0')], 'queued' "
             "FROM generate_series(1, 10) g");
    f->fake->delay_ms = 300;
    int64_t until = ecm_clock_wall_ms() + 10000;
    while (fake_get(f->fake, &f->fake->requests) < 4 && ecm_clock_wall_ms() < until)
        sms_sender_step(f->sender, 20);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 4);
    sms_sender_drain(f->sender, 5000);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 4);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending' "
                              "AND sending_at <= now() - interval '600 seconds'"),
                     6);
    sms_sender_destroy(f->sender);
    f->fake->delay_ms = 0;
    f->sender = make_sender(f);
    assert_non_null(f->sender);
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 10);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 10);
    assert_int_equal(fake_get(f->fake, &f->fake->duplicates), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 10);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_recover_kannel_attempt_waits_the_resend_wait_then_resent_once),
        T(test_recover_kannel_attempt_waits_for_the_dlrs_to_catch_up),
        T(test_recover_kannel_attempt_closed_by_late_final_dlr_never_resent),
        T(test_recover_attempt_with_intermediate_dlr_recorded_sent_not_resent),
        T(test_recover_http_attempt_resent_after_the_lease_alone),
        T(test_recover_kannel_system_message_waits_the_resend_wait),
        T(test_drain_hands_back_unsent_messages_for_recovery_at_once),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

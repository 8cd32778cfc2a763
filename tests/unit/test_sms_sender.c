/* The SMS sender against a scratch PostgreSQL database and a fake gateway:
 * queued -> sending -> sent with ContactDispatched, DNC numbers closed and
 * never sent, 503 then 202 sent once with the same message id, 4xx ->
 * SmsResult(SMS_REJECTED), render failures, crash recovery, system
 * messages, UCS-2, the dispatch gate (calling windows, a DNC number
 * skipped, end_at), a message held for a retry judged again before it goes
 * (window closed, campaign paused, end_at passed meanwhile) and intake
 * idempotence. The business clock is fixed at midday UTC unless a test says
 * otherwise. Needs ECM_TEST_PG_DSN. */
#include <pthread.h>
#include <stdatomic.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "sms_ctx.h"
#include "ecm_intake.h"
#include "sms_sender.h"
#include "ecm_test_support.h"
#include "sms_sender_test_support.h"

#define PORT_LO 22320
#define PORT_HI 22339
#define MIDDAY "2026-03-09T12:00:00Z"

static int group_setup(void **state)
{
    return sms_fixture_setup(state, "ecm_smssend", PORT_LO, PORT_HI);
}

static int group_teardown(void **state)
{
    return sms_fixture_teardown(state);
}

static sms_sender *make_sender_idle(fixture *f, long stale_s, long take_idle_ms)
{
    sms_sender_config cfg = {
        .ctx = &f->ctx,
        .lanes = {{.gw =
                       {
                           .kind = SMS_GW_KANNEL,
                           .name = "kannel",
                           .url = f->kannel_url,
                           .user = "ecm",
                           .password = "pw",
                           .callback_base_url = "http://127.0.0.1:8084",
                           .callback_secret = "test-callback-secret-0123456789abcdef",
                           .timeout_ms = 2000,
                           .concurrency = 4,
                       },
                   .rate = 1000}},
        .nlanes = 1,
        .default_gateway = "kannel",
        .system_gateway = "kannel",
        .batch = 100,
        .tick_ms = 20,
        .stale_s = stale_s,
        /* Recovery here is about the gate; Kannel's longer resend wait is
         * test_sms_recover.c's. */
        .resend_after_s = stale_s,
        .backoff_max_ms = 300,
        .take_idle_ms = take_idle_ms,
    };
    return sms_sender_new(f->pg, &cfg);
}

static sms_sender *make_sender(fixture *f, long stale_s)
{
    return make_sender_idle(f, stale_s, 0);
}

static int test_setup(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    q_cmd(f, "TRUNCATE attempts, outbox, contacts, uploads, dnc, sms_system_messages, campaigns "
             "RESTART IDENTITY CASCADE");
    setenv("ECM_CLOCK_FIXED", MIDDAY, 1);
    fake_reset(f->fake);
    f->metrics = ecm_metrics_new();
    f->ctx = (sms_ctx){
        .common = &f->common,
        .source = "/ecm/sms",
        .metrics = f->metrics,
        .callback_base_url = "http://127.0.0.1:8084",
        .system_sender = "ECM",
    };
    f->sender = make_sender(f, 60);
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

/* The sender replaced by one whose leases go stale after 1 s, so that a
 * test sees recovery without waiting a minute. */
static void restart_with_short_lease(fixture *f)
{
    sms_sender_destroy(f->sender);
    f->sender = make_sender(f, 1);
    assert_non_null(f->sender);
}

#define NEED_DB(f) ((void)ecm_test_need(f))

/* An SMS campaign in `state` with n contacts in `contact_state`; contact g
 * has phone +1555000000g and custom {"due": "<g> May"}. Returns its id. */
static long long seed(fixture *f, const char *state, const char *tmpl, int n,
                      const char *contact_state)
{
    char sql[1024];
    char *lit = PQescapeLiteral(ecm_pg_conn(f->pg), tmpl, strlen(tmpl));
    snprintf(sql, sizeof sql,
             "INSERT INTO campaigns (name, channel, state, strategy_id, sms_template, sms_sender) "
             "SELECT 's', 'sms', '%s', id, %s, 'ECMBANK' FROM strategies WHERE name = 'Default' "
             "RETURNING id",
             state, lit);
    PQfreemem(lit);
    long long id = q_int(f, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO contacts (campaign_id, first_name, last_name, phones, custom, state) "
             "SELECT %lld, 'First' || g, 'Last' || g, ARRAY['+1555000' || lpad(g::text, 4, '0')], "
             "jsonb_build_object('due', g || ' May'), '%s' FROM generate_series(1, %d) g",
             id, contact_state, n);
    q_cmd(f, sql);
    return id;
}

/* Steps the sender until sql gives want (or ~5 s pass). */
static void step_until(fixture *f, const char *sql, long long want)
{
    long long got = -1;
    for (int i = 0; i < 250; i++) {
        sms_sender_step(f->sender, 20);
        got = q_int(f, sql);
        if (got == want)
            return;
    }
    fail_msg("%s: got %lld, want %lld", sql, got, want);
}

static void step_for(fixture *f, int ms)
{
    for (int t = 0; t < ms; t += 20)
        sms_sender_step(f->sender, 20);
}

/* Steps the sender for ms of real time: an idle step returns at once, and
 * leases run on the database's clock. */
static void step_real(fixture *f, int ms)
{
    int64_t until = ecm_clock_wall_ms() + ms;
    while (ecm_clock_wall_ms() < until) {
        sms_sender_step(f->sender, 20);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* step_until() over real time, up to ms. */
static void step_real_until(fixture *f, const char *sql, long long want, int ms)
{
    int64_t until = ecm_clock_wall_ms() + ms;
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

static void test_sender_queued_contacts_sent_with_events(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hi {first_name}, pay by {due}.", 3, "queued");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 3);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent' AND "
                              "sent_at IS NOT NULL AND channel = 'sms' AND target = 'kannel' AND "
                              "attempt = 1 AND account_number = contact_id || '-1' AND "
                              "encoding = 'GSM7' AND segments = 1 AND message_id IS NOT NULL"),
                     3);
    assert_int_equal(
        q_int(f, "SELECT count(*) FROM contacts WHERE state = 'dispatched' AND attempts = 1"), 3);
    assert_int_equal(q_int(f,
                           "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched' "
                           "AND ce_type = 'ecm.v1.ContactDispatched' AND ce_source = '/ecm/sms'"),
                     3);
    assert_int_equal(fake_get(f->fake, &f->fake->naccepted), 3);
    assert_int_equal(fake_get(f->fake, &f->fake->duplicates), 0);
    assert_string_equal(f->fake->from, "ECMBANK");
    assert_true(strncmp(f->fake->text, "Hi First", 8) == 0);
    assert_non_null(strstr(f->fake->text, " May."));
    /* Requests run concurrently: the last one the fake saw is any of them. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM attempts WHERE message_id = '%s'",
             f->fake->message_id);
    assert_int_equal(q_int(f, sql), 1);
    assert_int_equal((int)metric(f, "ecm_sms_sent_total{gateway=\"kannel\"}"), 3);
    assert_int_equal(sms_sender_pending(f->sender), 0);
}

/* A lane whose take found nothing asks again only take_idle_ms later:
 * contacts queued right after an empty pass wait for it (an hour here, so
 * however many passes run they are not taken), and a sender that has not
 * looked yet takes them at once. */
static void test_sender_empty_take_waits_before_asking_again(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    sms_sender_destroy(f->sender);
    f->sender = make_sender_idle(f, 60, 3600 * 1000L);
    assert_non_null(f->sender);
    long long id = seed(f, "active", "Hi {first_name}", 0, "queued");
    step_for(f, 100);
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO contacts (campaign_id, first_name, phones, state) "
             "SELECT %lld, 'F' || g, ARRAY['+1555000' || lpad(g::text, 4, '0')], 'queued' "
             "FROM generate_series(1, 2) g",
             id);
    q_cmd(f, sql);
    step_for(f, 200);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 2);
    sms_sender_destroy(f->sender);
    f->sender = make_sender(f, 60);
    assert_non_null(f->sender);
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 2);
}

static void test_sender_dnc_number_closed_dnc_never_sent(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = seed(f, "active", "Hi {first_name}", 3, "queued");
    long long other = seed(f, "active", "x", 0, "queued");
    char sql[256];
    /* Global entry, formatted differently; a campaign entry; another
     * campaign's entry, which must not block. */
    q_cmd(f, "INSERT INTO dnc (phone) VALUES ('+1 (555) 000-0001')");
    snprintf(sql, sizeof sql, "INSERT INTO dnc (phone, campaign_id) VALUES ('+15550000002', %lld)",
             c);
    q_cmd(f, sql);
    snprintf(sql, sizeof sql, "INSERT INTO dnc (phone, campaign_id) VALUES ('+15550000003', %lld)",
             other);
    q_cmd(f, sql);
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    step_for(f, 100);
    assert_int_equal(
        q_int(f, "SELECT count(*) FROM contacts WHERE state = 'closed' AND outcome = 'DNC' "
                 "AND closed_at IS NOT NULL AND phones[1] IN ('+15550000001', '+15550000002')"),
        2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE phone = '+15550000003'"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.closed' AND "
                              "ce_type = 'ecm.v1.ContactClosed'"),
                     2);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_string_equal(f->fake->to, "+15550000003");
    assert_int_equal((int)metric(f, "ecm_sms_dnc_blocked_total"), 2);
}

static void test_sender_503_then_202_sends_once_with_same_message_id(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hi {first_name}", 1, "queued");
    int script[] = {503, 503};
    fake_script(f->fake, script, 2);
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 3);
    assert_int_equal(fake_get(f->fake, &f->fake->naccepted), 1);
    assert_int_equal(fake_get(f->fake, &f->fake->duplicates), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 1);
    char *mid = q_str(f, "SELECT message_id FROM attempts");
    assert_string_equal(f->fake->message_id, mid);
    free(mid);
    assert_int_equal((int)metric(f, "ecm_sms_retries_total{reason=\"unavailable\"}"), 2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched'"),
                     1);
}

/* Decodes the one SmsResult in the outbox. */
static Ecm__V1__SmsResult *outbox_sms_result(fixture *f)
{
    PGresult *r = q(f, "SELECT encode(payload, 'hex') FROM outbox WHERE topic = 'sms.results'");
    assert_int_equal(PQntuples(r), 1);
    const char *hex = PQgetvalue(r, 0, 0);
    size_t n = strlen(hex) / 2;
    uint8_t *buf = malloc(n);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        buf[i] = (uint8_t)v;
    }
    PQclear(r);
    Ecm__V1__SmsResult *m = ecm__v1__sms_result__unpack(NULL, n, buf);
    free(buf);
    assert_non_null(m);
    return m;
}

static void test_sender_4xx_is_final_and_emits_sms_rejected(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hi {first_name}", 1, "queued");
    int script[] = {400};
    fake_script(f->fake, script, 1);
    step_until(f, "SELECT count(*) FROM outbox WHERE topic = 'sms.results'", 1);
    step_for(f, 100);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    /* The strategy records the outcome when it applies the result. */
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'done' AND "
                              "raw_code = 400 AND outcome IS NULL AND result_at IS NOT NULL"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'dispatched'"), 1);
    Ecm__V1__SmsResult *m = outbox_sms_result(f);
    assert_int_equal(m->outcome, ECM__V1__OUTCOME__OUTCOME_SMS_REJECTED);
    assert_int_equal(m->attempt, 1);
    assert_int_equal(m->gateway_status, 400);
    assert_int_equal(m->segments, 1);
    assert_true(m->contact_id > 0 && m->campaign_id > 0);
    char *mid = q_str(f, "SELECT message_id FROM attempts");
    assert_string_equal(m->message_id, mid);
    free(mid);
    ecm__v1__sms_result__free_unpacked(m, NULL);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched'"),
                     0);
    assert_int_equal((int)metric(f, "ecm_sms_rejected_total"), 1);
}

static void test_sender_render_failure_closes_rejected_without_sending(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hi {first_name}, your {nickname}", 2, "queued");
    step_until(f,
               "SELECT count(*) FROM contacts WHERE state = 'closed' AND "
               "outcome = 'SMS_REJECTED'",
               2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 0);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.closed'"), 2);
}

static void test_sender_unicode_text_goes_as_ucs2_with_segment_count(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    /* 40 Arabic letters + " {first_name}" (7 letters) = 48 units: 1 part;
     * repeated twice in the template -> 95 units: 2 parts. */
    char tmpl[512] = "";
    size_t k = 0;
    for (int i = 0; i < 40; i++) {
        memcpy(tmpl + k, "\xD8\xB3", 2);
        k += 2;
    }
    tmpl[k] = '\0';
    char twice[1100];
    snprintf(twice, sizeof twice, "%s {first_name} %s", tmpl, tmpl);
    seed(f, "active", twice, 1, "queued");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE encoding = 'UCS2' AND "
                              "segments = 2"),
                     1);
    assert_string_equal(f->fake->coding, "2");
    assert_string_equal(f->fake->charset, "UTF-8");
    assert_non_null(strstr(f->fake->text, " First1 "));
}

/* Contacts are loaded 'queued' whatever their campaign's state: a paused
 * campaign's wait, and go out once it is active, with no event needed. */
static void test_sender_paused_campaign_sends_nothing_until_active(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "paused", "Hi", 2, "queued");
    step_for(f, 200);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 0);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 2);
    q_cmd(f, "UPDATE campaigns SET state = 'active'");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent' AND attempt = 1", 2);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 2);
}

static int64_t instant(const char *rfc3339)
{
    int64_t ms = 0;
    if (ecm_clock_parse_time(rfc3339, &ms) != 0)
        fail_msg("bad time %s", rfc3339);
    return ms;
}

/* At 21:05 in New York the New York contact waits for 08:00 (nothing sent,
 * no attempt) while the Sydney one (12:05 there) is sent. */
static void test_sender_defers_contact_outside_its_window_to_the_next_opening(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    setenv("ECM_CLOCK_FIXED", "2026-03-09T21:05:00-04:00", 1);
    seed(f, "active", "Hi {first_name}", 2, "queued");
    q_cmd(f, "UPDATE contacts SET time_zone = CASE id WHEN 1 THEN 'America/New_York' "
             "ELSE 'Australia/Sydney' END");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    step_for(f, 100);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE contact_id = 1"), 0);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_string_equal(f->fake->to, "+15550000002");
    assert_int_equal(q_int(f, "SELECT (extract(epoch FROM next_attempt_at) * 1000)::bigint "
                              "FROM contacts WHERE id = 1 AND state = 'waiting' AND attempts = 0"),
                     instant("2026-03-10T08:00:00-04:00"));
    assert_int_equal(q_int(f, "SELECT (extract(epoch FROM dispatched_at) * 1000)::bigint "
                              "FROM attempts WHERE contact_id = 2"),
                     instant("2026-03-09T21:05:00-04:00"));
    assert_int_equal((int)metric(f, "ecm_gate_deferred_total"), 1);
}

static void test_sender_dnc_on_first_number_sends_to_the_second(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hi {first_name}", 1, "queued");
    q_cmd(f, "UPDATE contacts SET phones = ARRAY['+15550000001', '+15550000099']");
    q_cmd(f, "INSERT INTO dnc (phone) VALUES ('+15550000001')");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    assert_string_equal(f->fake->to, "+15550000099");
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE phone = '+15550000099'"), 1);
    assert_int_equal(q_int(f, "SELECT phone_index FROM contacts WHERE id = 1"), 1);
}

static void test_sender_closes_expired_past_end_at(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hi", 2, "queued");
    q_cmd(f, "UPDATE campaigns SET end_at = '2026-03-09T11:00:00Z', updated_at = now()");
    step_until(f, "SELECT count(*) FROM contacts WHERE state = 'closed' AND outcome = 'EXPIRED'",
               2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 0);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.closed'"), 2);
}

static void test_sender_resends_stale_sending_attempt_with_same_message_id(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = seed(f, "active", "Hi {first_name}", 2, "dispatched");
    char sql[768];
    /* What a sender that died after its commit leaves behind: one attempt
     * stale, one fresh (another live sender's, not to be touched). */
    snprintf(sql, sizeof sql,
             "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone, "
             "account_number, status, message_id, encoding, segments, sending_at) "
             "SELECT id, 1, %lld, 'sms', 'kannel', phones[1], id || '-1', 'sending', "
             "'crash-' || id, 'GSM7', 1, CASE WHEN id = 1 THEN now() - interval '1 hour' "
             "ELSE now() END FROM contacts",
             c);
    q_cmd(f, sql);
    q_cmd(f, "UPDATE contacts SET attempts = 1");
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    step_for(f, 200);
    assert_string_equal(f->fake->message_id, "crash-1");
    assert_string_equal(f->fake->text, "Hi First1");
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_int_equal(
        q_int(f, "SELECT count(*) FROM attempts WHERE message_id = 'crash-1' AND status = 'sent'"),
        1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE message_id = 'crash-2' AND "
                              "status = 'sending'"),
                     1);
    assert_int_equal((int)metric(f, "ecm_sms_recovered_total"), 1);
}

static void test_sender_does_not_resend_to_number_that_opted_out_meanwhile(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hi {first_name}", 1, "queued");
    f->fake->default_status = 503;
    for (int i = 0; i < 250 && fake_get(f->fake, &f->fake->requests) == 0; i++)
        sms_sender_step(f->sender, 20);
    q_cmd(f, "INSERT INTO dnc (phone, source) VALUES ('+15550000001', 'sms_optout')");
    f->fake->default_status = 202;
    step_until(f, "SELECT count(*) FROM contacts WHERE state = 'closed' AND outcome = 'DNC'", 1);
    step_for(f, 400);
    assert_int_equal(fake_get(f->fake, &f->fake->naccepted), 0);
    assert_int_equal(
        q_int(f, "SELECT count(*) FROM attempts WHERE status = 'done' AND outcome = 'DNC'"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.closed'"), 1);
    assert_int_equal(sms_sender_pending(f->sender), 0);
}

/* What a sender that died after its commit leaves behind: attempt 1 of
 * every contact of campaign, 'sending' under a lease an hour old, message
 * id crash-<contact id>. */
static void crash_leftovers(fixture *f, long long campaign)
{
    char sql[768];
    snprintf(sql, sizeof sql,
             "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone, "
             "account_number, status, message_id, encoding, segments, sending_at) "
             "SELECT id, 1, %lld, 'sms', 'kannel', phones[1], id || '-1', 'sending', "
             "'crash-' || id, 'GSM7', 1, now() - interval '1 hour' FROM contacts "
             "WHERE campaign_id = %lld",
             campaign, campaign);
    q_cmd(f, sql);
    snprintf(sql, sizeof sql, "UPDATE contacts SET attempts = 1 WHERE campaign_id = %lld",
             campaign);
    q_cmd(f, sql);
}

/* Crashed at 20:59 New York time, recovered at 21:05: the New York contact
 * gets nothing until 08:00 there (not at 07:59 either, though its lease has
 * run out by then), then its message once, with the same id; the Sydney
 * contact (12:05 there) gets its message at once. */
static void test_sender_recovered_attempt_outside_window_sent_at_opening_once(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    restart_with_short_lease(f);
    setenv("ECM_CLOCK_FIXED", "2026-03-09T21:05:00-04:00", 1);
    long long c = seed(f, "active", "Hi {first_name}", 2, "dispatched");
    q_cmd(f, "UPDATE contacts SET time_zone = CASE id WHEN 1 THEN 'America/New_York' "
             "ELSE 'Australia/Sydney' END");
    crash_leftovers(f, c);
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    step_real(f, 1500);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_string_equal(f->fake->message_id, "crash-2");
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE message_id = 'crash-1' AND "
                              "status = 'sending' AND sending_at > now() - interval '1 minute'"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE id = 1 AND state = "
                              "'dispatched' AND attempts = 1"),
                     1);
    assert_int_equal(sms_sender_pending(f->sender), 0);

    setenv("ECM_CLOCK_FIXED", "2026-03-10T07:59:00-04:00", 1);
    step_real(f, 1500);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);

    setenv("ECM_CLOCK_FIXED", "2026-03-10T08:00:00-04:00", 1);
    step_real_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 2, 5000);
    step_real(f, 1500);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 2);
    assert_int_equal(fake_get(f->fake, &f->fake->duplicates), 0);
    assert_string_equal(f->fake->message_id, "crash-1");
    assert_string_equal(f->fake->to, "+15550000001");
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched'"),
                     2);
    assert_int_equal((int)metric(f, "ecm_sms_recovered_total"), 2);
}

/* Recovered after the campaign's end_at (still 'active': the scheduler has
 * not expired it yet) or in a campaign already 'expired': not sent, the
 * attempt done EXPIRED, the contact closed EXPIRED with one ContactClosed. */
static void test_sender_recovered_attempt_past_end_at_closes_expired(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long c = seed(f, "active", "Hi", 1, "dispatched");
    long long x = seed(f, "expired", "Hi", 1, "dispatched");
    q_cmd(f, "UPDATE campaigns SET end_at = '2026-03-09T11:00:00Z', updated_at = now()");
    crash_leftovers(f, c);
    crash_leftovers(f, x);
    step_until(f, "SELECT count(*) FROM contacts WHERE state = 'closed' AND outcome = 'EXPIRED'",
               2);
    step_for(f, 200);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'done' AND outcome = "
                              "'EXPIRED' AND result_at IS NOT NULL"),
                     2);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.closed'"), 2);
    assert_int_equal((int)metric(f, "ecm_gate_closed_total{outcome=\"EXPIRED\"}"), 2);
    assert_int_equal((int)metric(f, "ecm_sms_recovered_total"), 0);
    assert_int_equal(sms_sender_pending(f->sender), 0);
}

/* A paused campaign's crashed attempt is left as it is (a stopped one's
 * too, like its other open contacts) and sent once the campaign resumes. */
static void test_sender_recovered_attempt_of_paused_campaign_sent_after_resume(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    restart_with_short_lease(f);
    long long c = seed(f, "paused", "Hi", 1, "dispatched");
    long long x = seed(f, "stopped", "Hi", 1, "dispatched");
    crash_leftovers(f, c);
    crash_leftovers(f, x);
    step_real(f, 1500);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending' AND "
                              "sending_at < now() - interval '30 minutes'"),
                     2);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE campaigns SET state = 'active' WHERE id = %lld", c);
    q_cmd(f, sql);
    step_real_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1, 5000);
    step_real(f, 1500);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_string_equal(f->fake->message_id, "crash-1");
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE message_id = 'crash-2' AND "
                              "status = 'sending'"),
                     1);
}

/* Sends the campaign's one contact into a 503 and steps until the sender
 * holds its message in memory for the retry (answered, not re-sent yet).
 * The next request is answered 202. */
static void hold_one_on_503(fixture *f)
{
    int script[] = {503};
    fake_script(f->fake, script, 1);
    for (int i = 0; i < 250 && metric(f, "ecm_sms_retries_total{reason=\"unavailable\"}") < 1; i++)
        sms_sender_step(f->sender, 20);
    assert_int_equal((int)metric(f, "ecm_sms_retries_total{reason=\"unavailable\"}"), 1);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_int_equal(sms_sender_pending(f->sender), 1);
}

/* The one attempt's message id was the last one the fake accepted. */
static void assert_last_sent_is_the_attempt(fixture *f)
{
    char *mid = q_str(f, "SELECT message_id FROM attempts");
    assert_string_equal(f->fake->message_id, mid);
    free(mid);
}

/* A message held by a 503 went on its second request, accepted once, never
 * as a duplicate, with the attempt's message id. */
static void assert_sent_once_on_second_request(fixture *f)
{
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 2);
    assert_int_equal(fake_get(f->fake, &f->fake->naccepted), 1);
    assert_int_equal(fake_get(f->fake, &f->fake->duplicates), 0);
    assert_last_sent_is_the_attempt(f);
}

/* Held by a 503 at 20:59:50 in New York, its retry due at 21:00:10: not
 * sent then, the attempt left 'sending' (contact still out with it) until
 * 08:00, when recovery sends it once, with the same message id. */
static void test_sender_retry_held_past_window_end_not_sent_until_opening(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    restart_with_short_lease(f);
    setenv("ECM_CLOCK_FIXED", "2026-03-09T20:59:50-04:00", 1);
    seed(f, "active", "Hi {first_name}", 1, "queued");
    q_cmd(f, "UPDATE contacts SET time_zone = 'America/New_York'");
    hold_one_on_503(f);
    setenv("ECM_CLOCK_FIXED", "2026-03-09T21:00:10-04:00", 1);
    step_real(f, 1500);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_int_equal(fake_get(f->fake, &f->fake->naccepted), 0);
    assert_int_equal(sms_sender_pending(f->sender), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending' AND "
                              "sent_at IS NULL AND outcome IS NULL"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'dispatched' AND "
                              "attempts = 1"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched'"),
                     0);

    setenv("ECM_CLOCK_FIXED", "2026-03-10T08:00:00-04:00", 1);
    step_real_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1, 5000);
    step_real(f, 500);
    assert_sent_once_on_second_request(f);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched'"),
                     1);
}

/* Paused while its message is held for a retry: not sent, dropped from
 * memory, the attempt left 'sending'; sent once, same message id, after the
 * campaign resumes. */
static void test_sender_retry_held_of_paused_campaign_not_sent_until_resumed(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    restart_with_short_lease(f);
    long long c = seed(f, "active", "Hi {first_name}", 1, "queued");
    hold_one_on_503(f);
    q_cmd(f, "UPDATE campaigns SET state = 'paused'");
    step_real(f, 1500);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_int_equal(fake_get(f->fake, &f->fake->naccepted), 0);
    assert_int_equal(sms_sender_pending(f->sender), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending' AND "
                              "sent_at IS NULL AND outcome IS NULL"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'dispatched'"), 1);

    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE campaigns SET state = 'active' WHERE id = %lld", c);
    q_cmd(f, sql);
    step_real_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1, 5000);
    step_real(f, 500);
    assert_sent_once_on_second_request(f);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched'"),
                     1);
}

/* Held at 20:59:00 in New York, retried at 20:59:30: still inside the
 * window, so it goes at once, once, with the same message id. */
static void test_sender_retry_held_inside_window_sent_once(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    setenv("ECM_CLOCK_FIXED", "2026-03-09T20:59:00-04:00", 1);
    seed(f, "active", "Hi {first_name}", 1, "queued");
    q_cmd(f, "UPDATE contacts SET time_zone = 'America/New_York'");
    hold_one_on_503(f);
    setenv("ECM_CLOCK_FIXED", "2026-03-09T20:59:30-04:00", 1);
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 1);
    step_for(f, 200);
    assert_sent_once_on_second_request(f);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'dispatched' AND "
                              "attempts = 1"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched'"),
                     1);
    assert_int_equal(sms_sender_pending(f->sender), 0);
}

/* The campaign's end_at passes while its message is held: not sent, the
 * attempt done EXPIRED, the contact closed EXPIRED with one ContactClosed. */
static void test_sender_retry_held_past_end_at_closes_expired(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hi {first_name}", 1, "queued");
    hold_one_on_503(f);
    q_cmd(f, "UPDATE campaigns SET end_at = '2026-03-09T11:00:00Z', updated_at = now()");
    step_until(f, "SELECT count(*) FROM contacts WHERE state = 'closed' AND outcome = 'EXPIRED'",
               1);
    step_for(f, 200);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 1);
    assert_int_equal(fake_get(f->fake, &f->fake->naccepted), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'done' AND outcome = "
                              "'EXPIRED' AND result_at IS NOT NULL"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.closed'"), 1);
    assert_int_equal(sms_sender_pending(f->sender), 0);
}

static void test_sender_sends_system_messages(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    q_cmd(f, "INSERT INTO sms_system_messages (to_phone, body, message_id) VALUES "
             "('+15550000009', 'You are unsubscribed.', 'sys-1')");
    step_until(f, "SELECT count(*) FROM sms_system_messages WHERE state = 'sent'", 1);
    assert_string_equal(f->fake->to, "+15550000009");
    assert_string_equal(f->fake->from, "ECM");
    assert_string_equal(f->fake->text, "You are unsubscribed.");
    assert_string_equal(f->fake->message_id, "sys-1");
    assert_int_equal(q_int(f, "SELECT attempts FROM sms_system_messages"), 1);
}

static void test_sender_drain_waits_for_answers(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hi", 2, "queued");
    f->fake->delay_ms = 200;
    for (int i = 0; i < 50 && fake_get(f->fake, &f->fake->requests) < 2; i++)
        sms_sender_step(f->sender, 5);
    sms_sender_drain(f->sender, 3000);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 2);
}

static void test_intake_queues_sms_retries_once(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hi", 2, "retry_due");
    q_cmd(f, "UPDATE contacts SET attempts = 1");
    Ecm__V1__ContactRetry ev = ECM__V1__CONTACT_RETRY__INIT;
    ev.contact_id = 1;
    ev.attempt = 2;
    ev.channel = ECM__V1__CHANNEL__CHANNEL_SMS;
    size_t len = 0;
    uint8_t *buf = ecm_event_pack(&ev.base, &len);
    ecm_intake_item items[3];
    ecm_intake_decode(ECM_INTAKE_SMS, "contacts.retry", "contacts.retry", buf, len, &items[0]);
    assert_int_equal(items[0].kind, ECM_INTAKE_RETRY);
    free(buf);
    ev.contact_id = 2;
    ev.channel = ECM__V1__CHANNEL__CHANNEL_VOICE_IVR;
    buf = ecm_event_pack(&ev.base, &len);
    ecm_intake_decode(ECM_INTAKE_SMS, "contacts.retry", "contacts.retry", buf, len, &items[1]);
    assert_int_equal(items[1].kind, ECM_INTAKE_IGNORE);
    free(buf);
    ecm_intake_decode(ECM_INTAKE_SMS, "contacts.retry", "contacts.retry", "\xff\xff", 2, &items[2]);
    assert_int_equal(items[2].kind, ECM_INTAKE_BAD);
    size_t queued = 0;
    assert_int_equal(ecm_intake_apply(f->pg, items, 3, &queued), 0);
    assert_int_equal(queued, 1);
    assert_int_equal(ecm_intake_apply(f->pg, items, 3, &queued), 0);
    assert_int_equal(queued, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE id = 2 AND state = 'retry_due'"),
                     1);
}

typedef struct {
    fixture *f;
    atomic_int stop;
} stepper;

static void *step_until_stopped(void *arg)
{
    stepper *st = arg;
    while (!atomic_load(&st->stop))
        sms_sender_step(st->f->sender, 20);
    return NULL;
}

/* Another session, in an open transaction, holding the row locks sql
 * takes. */
static PGconn *hold_locks(fixture *f, const char *sql)
{
    PGconn *other = PQconnectdb(f->db->dsn);
    assert_int_equal(PQstatus(other), CONNECTION_OK);
    ecm_test_pg_exec(other, "BEGIN");
    ecm_test_pg_exec(other, "%s", sql);
    return other;
}

/* Steps the sender on a thread while `other` holds its locks, until the
 * fake's *field reaches want (up to 30 s: far more than it needs when the
 * messages go out, and the test's answer when they don't). Then counts the
 * sessions waiting for a lock (*waiting), ends other's transaction and the
 * stepping. Returns the field's last value. */
static int step_while_locked(fixture *f, PGconn *other, const int *field, int want,
                             long long *waiting)
{
    stepper st = {.f = f};
    atomic_init(&st.stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, step_until_stopped, &st), 0);
    int got = 0;
    for (int i = 0; i < 3000 && (got = fake_get(f->fake, field)) < want; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    *waiting = ecm_test_pg_int(other, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                      "current_database() AND wait_event_type = 'Lock'");
    ecm_test_pg_exec(other, "COMMIT");
    PQfinish(other);
    atomic_store(&st.stop, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    return got;
}

/* Messages already waiting keep going out while the sender's next take
 * waits on the database. Campaign A's contacts are taken and queued; the
 * take of campaign B then waits for B's row, locked by another session.
 * While it waits, A's messages must reach the gateway; before ecm_pg's idle
 * work they only left once the lock was gone (the gateway idled through
 * every take: ~80 ms a batch of 280, a fifth of a 20,000-message run). */
static void test_sender_sends_waiting_messages_while_its_take_waits(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long a = seed(f, "active", "Hello {{first_name}}", 40, "queued");
    long long b = seed(f, "active", "Hello {{first_name}}", 40, "queued");
    assert_true(a < b); /* taken in id order: A first */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT 1 FROM campaigns WHERE id = %lld FOR UPDATE", b);
    long long waiting = 0;
    int sent = step_while_locked(f, hold_locks(f, sql), &f->fake->requests, 40, &waiting);
    assert_int_equal(sent, 40);
    assert_int_equal(waiting, 1); /* sent while B's take still waited */
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 80);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 80);
    assert_int_equal(fake_get(f->fake, &f->fake->duplicates), 0);
}

/* Answers that come while the sender records earlier ones are kept for the
 * next record, never dropped with them. The gateway answers after 50 ms;
 * once the first messages are out, every attempt still 'sending' is locked
 * by another session, so the next record of answers waits. While it waits
 * the rest go out (sms_pace_idle) and their answers join the done list
 * behind the ones being recorded; after the lock is gone all 40 are 'sent',
 * each sent once. */
static void test_sender_keeps_answers_that_come_while_it_records(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", "Hello {{first_name}}", 40, "queued");
    f->fake->delay_ms = 50;
    sms_sender_step(f->sender, 20); /* takes the 40, sends the first */
    assert_true(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'") >= 20);
    PGconn *other = hold_locks(f, "SELECT 1 FROM attempts WHERE status = 'sending' FOR UPDATE");
    long long waiting = 0;
    int answered = step_while_locked(f, other, &f->fake->naccepted, 40, &waiting);
    assert_int_equal(answered, 40);
    assert_int_equal(waiting, 1); /* all 40 answered while a record waited */
    step_until(f, "SELECT count(*) FROM attempts WHERE status = 'sent'", 40);
    assert_int_equal(fake_get(f->fake, &f->fake->requests), 40);
    assert_int_equal(fake_get(f->fake, &f->fake->duplicates), 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sender_queued_contacts_sent_with_events),
        T(test_sender_empty_take_waits_before_asking_again),
        T(test_sender_dnc_number_closed_dnc_never_sent),
        T(test_sender_503_then_202_sends_once_with_same_message_id),
        T(test_sender_4xx_is_final_and_emits_sms_rejected),
        T(test_sender_render_failure_closes_rejected_without_sending),
        T(test_sender_unicode_text_goes_as_ucs2_with_segment_count),
        T(test_sender_paused_campaign_sends_nothing_until_active),
        T(test_sender_defers_contact_outside_its_window_to_the_next_opening),
        T(test_sender_dnc_on_first_number_sends_to_the_second),
        T(test_sender_closes_expired_past_end_at),
        T(test_sender_resends_stale_sending_attempt_with_same_message_id),
        T(test_sender_does_not_resend_to_number_that_opted_out_meanwhile),
        T(test_sender_recovered_attempt_outside_window_sent_at_opening_once),
        T(test_sender_recovered_attempt_past_end_at_closes_expired),
        T(test_sender_recovered_attempt_of_paused_campaign_sent_after_resume),
        T(test_sender_retry_held_past_window_end_not_sent_until_opening),
        T(test_sender_retry_held_of_paused_campaign_not_sent_until_resumed),
        T(test_sender_retry_held_inside_window_sent_once),
        T(test_sender_retry_held_past_end_at_closes_expired),
        T(test_sender_sends_system_messages),
        T(test_sender_drain_waits_for_answers),
        T(test_intake_queues_sms_retries_once),
        T(test_sender_sends_waiting_messages_while_its_take_waits),
        T(test_sender_keeps_answers_that_come_while_it_records),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

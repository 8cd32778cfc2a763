/* The strategy's channel switch against PostgreSQL (st_results_apply,
 * st_sched_tick): a BUSY rule that switches to SMS after 2, what is written
 * with the retry (contacts.channel, phone_index, channel_note), the counts
 * over the round only (round_first_attempt), the per-channel caps, and the
 * ContactRetry's channel. Skipped when ECM_TEST_PG_DSN is unset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"
#include "st_results.h"
#include "st_sched.h"
#include "st_test_support.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x

typedef struct {
    st_test_db d;
    st_results_ctx rctx;
    st_sched_ctx sctx;
    ecm_metrics *metrics;
    int seq;
} fixture;

static fixture fx;

#define q(...) ecm_test_pg_query(fx.d.check, __VA_ARGS__)
#define q_ll(...) ecm_test_pg_int(fx.d.check, __VA_ARGS__)
#define q_text(...) ecm_test_pg_text(fx.d.check, __VA_ARGS__)
#define NEED_DB() ecm_test_need(fx.d.pg)

/* BUSY retries (60 s, at most 5), switching to switch_to after 2;
 * SMS_UNDELIVERED retries switching to voice after 1; caps as given (0:
 * NULL). */
static long long make_strategy(int max_voice, int max_sms)
{
    char mv[16] = "NULL", ms[16] = "NULL";
    if (max_voice > 0)
        snprintf(mv, sizeof mv, "%d", max_voice);
    if (max_sms > 0)
        snprintf(ms, sizeof ms, "%d", max_sms);
    long long id = q_ll("INSERT INTO strategies (name, max_attempts, max_attempts_per_day,"
                        " max_voice_attempts, max_sms_attempts)"
                        " VALUES ('sw-%d', 10, 10, %s, %s) RETURNING id",
                        ++fx.seq, mv, ms);
    PQclear(q("INSERT INTO strategy_rules (strategy_id, outcome, action, delay_seconds,"
              " max_attempts, next_phone, switch_channel, switch_after) VALUES"
              " (%lld, 'BUSY', 'retry', 60, 5, false, 'sms', 2),"
              " (%lld, 'NO_ANSWER', 'retry', 60, 5, false, NULL, 1),"
              " (%lld, 'SMS_UNDELIVERED', 'retry', 0, 3, false, 'voice', 1)",
              id, id, id));
    return id;
}

/* A voice campaign; template NULL for none. */
static long long make_campaign(long long strategy, const char *template_sql)
{
    return q_ll("INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                " cisco_campaign_id, sms_template)"
                " VALUES ('sw-%d', 'voice_ivr', 'active', %lld, 'uccx', '7', %s) RETURNING id",
                ++fx.seq, strategy, template_sql);
}

/* A contact dispatched on its attempt n (earlier attempts done with
 * outcome `earlier` on channel `chan`), numbers and types as SQL arrays. */
static long long make_contact(long long camp, const char *phones, const char *types, int n,
                              const char *earlier, const char *chan)
{
    long long id = q_ll("INSERT INTO contacts (campaign_id, phones, phone_types, state, attempts,"
                        " counted_attempts) VALUES (%lld, %s, %s, 'dispatched', %d, %d)"
                        " RETURNING id",
                        camp, phones, types, n, n - 1);
    for (int a = 1; a <= n; a++)
        PQclear(q("INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone,"
                  " account_number, status, sent_at, outcome)"
                  " VALUES (%lld, %d, %lld, '%s', '+15550100001', '%lld-%d', '%s', now(), %s)",
                  id, a, camp, chan, id, a, a < n ? "done" : "sent", a < n ? earlier : "NULL"));
    return id;
}

static st_apply_status apply(long long camp, long long k, int attempt, Ecm__V1__Outcome o,
                             st_apply_info *info)
{
    char reason[256];
    st_result r = st_test_result(++fx.seq, camp, k, attempt, o);
    return st_results_apply(fx.d.pg, &fx.rctx, &r, info, reason, sizeof(reason));
}

static double metric(const char *name)
{
    return ecm_metric_value(ecm_metrics_counter(fx.metrics, name, "x"));
}

static int group_setup(void **state)
{
    (void)state;
    if (st_test_group_open("test_st_switch", &fx.d, "ecm_st_switch", &fx.rctx, 0) != 0)
        return -1;
    fx.metrics = ecm_metrics_new();
    fx.rctx.metrics = fx.metrics;
    fx.sctx = st_test_sched_ctx();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ecm_metrics_destroy(fx.metrics);
    st_test_group_close(&fx.d, &fx.rctx);
    return 0;
}

static int retire_campaigns(void **state)
{
    (void)state;
    if (fx.d.check != NULL)
        PQclear(q("UPDATE campaigns SET state = 'stopped' WHERE state = 'active'"));
    return 0;
}

#define MOBILE2 "'{+15550100001,+15550100002}'", "'{fixed_line,mobile}'"

static void test_first_busy_stays_on_voice(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(0, 0), "'hi'");
    long long k = make_contact(camp, MOBILE2, 1, NULL, "voice_ivr");
    st_apply_info info;
    assert_int_equal(apply(camp, k, 1, O(BUSY), &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 0);
    assert_int_equal(info.channel, ECM_DECIDE_CH_VOICE);
    char *s = q_text("SELECT state || ' ' || channel || ' ' || phone_index || ' '"
                     " || coalesce(channel_note, '-') FROM contacts WHERE id = %lld",
                     k);
    assert_string_equal(s, "waiting voice 0 -");
    free(s);
}

static void test_second_busy_switches_to_sms_on_the_mobile(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(0, 0), "'hi'");
    long long k = make_contact(camp, MOBILE2, 2, "'BUSY'", "voice_ivr");
    double before = metric("ecm_strategy_switch_total{to=\"sms\",result=\"switched\"}");
    st_apply_info info;
    assert_int_equal(apply(camp, k, 2, O(BUSY), &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 0);
    assert_int_equal(info.channel, ECM_DECIDE_CH_SMS);
    assert_int_equal(info.switch_to, ECM_DECIDE_CH_SMS);
    char *s = q_text("SELECT state || ' ' || channel || ' ' || phone_index FROM contacts"
                     " WHERE id = %lld",
                     k);
    assert_string_equal(s, "waiting sms 1");
    free(s);
    assert_true(metric("ecm_strategy_switch_total{to=\"sms\",result=\"switched\"}") == before + 1);

    /* The scheduler's ContactRetry says sms, so the sms service queues it. */
    PQclear(q("UPDATE contacts SET next_attempt_at = now() - interval '1 minute'"
              " WHERE id = %lld",
              k));
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, NULL), 1);
    size_t len = 0;
    char ce_type[64];
    unsigned char *bytes =
        ecm_test_outbox_payload(fx.d.check, "contacts.retry", k, &len, ce_type, sizeof(ce_type));
    Ecm__V1__ContactRetry *ev = ecm__v1__contact_retry__unpack(NULL, len, bytes);
    assert_non_null(ev);
    assert_int_equal(ev->channel, ECM__V1__CHANNEL__CHANNEL_SMS);
    assert_int_equal(ev->phone_index, 1);
    assert_int_equal(ev->attempt, 3);
    ecm__v1__contact_retry__free_unpacked(ev, NULL);
    PQfreemem(bytes);
}

static void test_switch_skipped_without_mobile_notes_and_stays(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(0, 0), "'hi'");
    long long k =
        make_contact(camp, "'{+15550100001}'", "'{fixed_line}'", 2, "'BUSY'", "voice_ivr");
    double before = metric("ecm_strategy_switch_total{to=\"sms\",result=\"skipped\"}");
    st_apply_info info;
    assert_int_equal(apply(camp, k, 2, O(BUSY), &info), ST_APPLY_DECIDED);
    assert_int_equal(info.channel, ECM_DECIDE_CH_VOICE);
    assert_int_equal(info.skipped_to, ECM_DECIDE_CH_SMS);
    char *s = q_text("SELECT state || ' ' || channel || ' ' || channel_note FROM contacts"
                     " WHERE id = %lld",
                     k);
    assert_string_equal(s, "waiting voice SMS step skipped: no mobile number");
    free(s);
    assert_true(metric("ecm_strategy_switch_total{to=\"sms\",result=\"skipped\"}") == before + 1);
}

static void test_switch_skipped_when_mobile_on_sms_dnc(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(0, 0), "'hi'");
    long long k = make_contact(camp, MOBILE2, 2, "'BUSY'", "voice_ivr");
    /* the campaign's own list, so that the other tests' contacts are free */
    PQclear(q("INSERT INTO dnc (phone, channel, campaign_id) VALUES ('+15550100002', 'sms', %lld)",
              camp));
    st_apply_info info;
    assert_int_equal(apply(camp, k, 2, O(BUSY), &info), ST_APPLY_DECIDED);
    char *s = q_text("SELECT channel || ' ' || channel_note FROM contacts WHERE id = %lld", k);
    assert_string_equal(s, "voice SMS step skipped: every mobile number is on the SMS "
                           "do-not-contact list");
    free(s);
}

static void test_switch_skipped_without_template(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(0, 0), "NULL");
    long long k = make_contact(camp, MOBILE2, 2, "'BUSY'", "voice_ivr");
    st_apply_info info;
    assert_int_equal(apply(camp, k, 2, O(BUSY), &info), ST_APPLY_DECIDED);
    char *s = q_text("SELECT channel_note FROM contacts WHERE id = %lld", k);
    assert_string_equal(s, "SMS step skipped: campaign has no SMS template");
    free(s);
}

/* A recycled contact: the BUSY of the earlier round does not count toward
 * switch_after. */
static void test_switch_counts_the_round_only(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(0, 0), "'hi'");
    long long k = make_contact(camp, MOBILE2, 2, "'BUSY'", "voice_ivr");
    PQclear(q("UPDATE contacts SET round_first_attempt = 2 WHERE id = %lld", k));
    st_apply_info info;
    assert_int_equal(apply(camp, k, 2, O(BUSY), &info), ST_APPLY_DECIDED);
    assert_int_equal(info.channel, ECM_DECIDE_CH_VOICE);
    assert_int_equal(info.switch_to, ECM_DECIDE_CH_NONE);
}

/* max_voice_attempts 2 reached by a NO_ANSWER (no switch in its rule):
 * closed. */
static void test_voice_cap_closes(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(2, 0), "'hi'");
    long long k = make_contact(camp, MOBILE2, 2, "'NO_ANSWER'", "voice_ivr");
    st_apply_info info;
    assert_int_equal(apply(camp, k, 2, O(NO_ANSWER), &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 1);
    assert_int_equal(info.outcome, O(NO_ANSWER));
}

/* SMS undelivered switches back to voice on the same number; the call of
 * the retry is voice (ContactRetry VOICE_IVR from the campaign). */
static void test_sms_undelivered_switches_to_voice(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(0, 0), "'hi'");
    long long k = make_contact(camp, MOBILE2, 3, "'BUSY'", "voice_ivr");
    PQclear(q("UPDATE attempts SET channel = 'sms' WHERE contact_id = %lld AND attempt = 3", k));
    PQclear(q("UPDATE contacts SET channel = 'sms', phone_index = 1 WHERE id = %lld", k));
    st_apply_info info;
    assert_int_equal(apply(camp, k, 3, O(SMS_UNDELIVERED), &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 0);
    assert_int_equal(info.channel, ECM_DECIDE_CH_VOICE);
    char *s = q_text("SELECT channel || ' ' || phone_index FROM contacts WHERE id = %lld", k);
    assert_string_equal(s, "voice 1");
    free(s);
}

/* The SMS cap counts the round's SMS attempts: the second switch is
 * skipped with the cap in the note. */
static void test_sms_cap_skips_second_switch(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(0, 1), "'hi'");
    long long k = make_contact(camp, MOBILE2, 4, "'BUSY'", "voice_ivr");
    PQclear(q("UPDATE attempts SET channel = 'sms', outcome = 'SMS_UNDELIVERED'"
              " WHERE contact_id = %lld AND attempt = 2",
              k));
    st_apply_info info;
    assert_int_equal(apply(camp, k, 4, O(BUSY), &info), ST_APPLY_DECIDED);
    assert_int_equal(info.channel, ECM_DECIDE_CH_VOICE);
    char *s = q_text("SELECT channel_note FROM contacts WHERE id = %lld", k);
    assert_string_equal(s, "SMS step skipped: SMS cap of 1 reached");
    free(s);
}

int main(void)
{
#define T_(name) cmocka_unit_test_teardown(name, retire_campaigns)
    const struct CMUnitTest tests[] = {
        T_(test_first_busy_stays_on_voice),
        T_(test_second_busy_switches_to_sms_on_the_mobile),
        T_(test_switch_skipped_without_mobile_notes_and_stays),
        T_(test_switch_skipped_when_mobile_on_sms_dnc),
        T_(test_switch_skipped_without_template),
        T_(test_switch_counts_the_round_only),
        T_(test_voice_cap_closes),
        T_(test_sms_undelivered_switches_to_voice),
        T_(test_sms_cap_skips_second_switch),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

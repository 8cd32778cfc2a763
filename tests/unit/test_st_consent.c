/* st_consent: a call result with outcome DNC (the agent's "do not call")
 * enters the consent ledger in the result's transaction, revoking the
 * attempt's number on every channel and campaign (source
 * agent_disposition, actor strategy, at the result's time), and closes the
 * other open contacts it leaves with no number, voice and SMS; the result's
 * own contact is closed once, by its decision. SMS results and other
 * outcomes write nothing; a duplicate result writes nothing again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "st_consent.h"
#include "st_test_support.h"

static struct {
    st_test_db d;
    int seq;
} fx;

#define q(...) ecm_test_pg_query(fx.d.check, __VA_ARGS__)
#define q_ll(...) ecm_test_pg_int(fx.d.check, __VA_ARGS__)
#define q_text(...) ecm_test_pg_text(fx.d.check, __VA_ARGS__)

static int group_setup(void **state)
{
    (void)state;
    ecm_test_log_init("test_st_consent", ECM_LOG_ERROR);
    return st_test_db_open(&fx.d, "ecm_st_consent");
}

static int group_teardown(void **state)
{
    (void)state;
    st_test_db_close(&fx.d);
    return 0;
}

static long long make_campaign(const char *channel)
{
    int sms = strcmp(channel, "sms") == 0;
    long long strategy = q_ll("INSERT INTO strategies (name, max_attempts, max_attempts_per_day)"
                              " VALUES ('consent-%d', 5, 5) RETURNING id",
                              ++fx.seq);
    PQclear(q("INSERT INTO strategy_rules (strategy_id, outcome, action, delay_seconds,"
              " max_attempts, next_phone) VALUES (%lld, 'DNC', 'close', 0, 1, false),"
              " (%lld, 'NO_ANSWER', 'retry', 1, 3, false)",
              strategy, strategy));
    return q_ll("INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                " cisco_campaign_id, sms_template)"
                " VALUES ('c-%d', '%s', 'active', %lld, %s, %s, %s) RETURNING id",
                ++fx.seq, channel, strategy, sms ? "NULL" : "'uccx'", sms ? "NULL" : "'7'",
                sms ? "'Hi'" : "NULL");
}

/* A contact of campaign with phones in state; when dispatched, with its
 * attempt 1 on phones' first number on channel. */
static long long make_contact(long long campaign, const char *phones, const char *state,
                              const char *channel)
{
    int dispatched = strcmp(state, "dispatched") == 0;
    long long id = q_ll("INSERT INTO contacts (campaign_id, phones, state, attempts)"
                        " VALUES (%lld, '%s', '%s', %d) RETURNING id",
                        campaign, phones, state, dispatched);
    if (dispatched)
        PQclear(q("INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone,"
                  " account_number, status, sent_at)"
                  " SELECT id, 1, campaign_id, '%s', phones[1], 'acct-' || id, 'sent', now()"
                  " FROM contacts WHERE id = %lld",
                  channel, id));
    return id;
}

static void expect_contact(long long id, const char *expected)
{
    char *got = q_text("SELECT state || '/' || coalesce(outcome, '-') FROM contacts"
                       " WHERE id = %lld",
                       id);
    if (strcmp(got, expected) != 0)
        fail_msg("contact %lld: %s, expected %s", id, got, expected);
    free(got);
}

static st_apply_status apply(const st_result *r)
{
    st_results_ctx ctx = st_test_results_ctx();
    char reason[ST_REASON_MAX];
    return st_results_apply(fx.d.pg, &ctx, r, NULL, reason, sizeof reason);
}

static void test_agent_dnc_revokes_every_channel(void **state)
{
    (void)state;
    ecm_test_need(fx.d.pg);
    long long voice = make_campaign("voice_agent"), sms = make_campaign("sms");
    long long called = make_contact(voice, "{+15550170001}", "dispatched", "voice_agent");
    long long other = make_contact(voice, "{+15550170001}", "pending", NULL);
    long long texted = make_contact(sms, "{+1 555 017 0001}", "waiting", NULL);
    long long two = make_contact(voice, "{+15550170001,+15550170002}", "pending", NULL);

    st_result r = st_test_result(++fx.seq, voice, called, 1, ECM__V1__OUTCOME__OUTCOME_DNC);
    r.raw_code = 26;
    r.result_at_ms = ecm_test_time_ms("2026-03-04T15:00:00Z");
    assert_int_equal(apply(&r), ST_APPLY_DECIDED);

    char *entry =
        q_text("SELECT phone || ' ' || coalesce(campaign_id::text, '-') || ' ' || scope"
               " || ' ' || action || ' ' || source || ' ' || actor || ' ' ||"
               " to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM consent_ledger");
    assert_string_equal(entry,
                        "+15550170001 - all revoke agent_disposition strategy 2026-03-04 15:00");
    free(entry);
    assert_int_equal(q_ll("SELECT count(*) FROM dnc WHERE phone_key = '15550170001'"
                          " AND campaign_id IS NULL"),
                     2);
    expect_contact(called, "closed/DNC");
    expect_contact(other, "closed/DNC");
    expect_contact(texted, "closed/DNC");
    expect_contact(two, "pending/-");
    /* The result's own contact is closed once: one ContactClosed. */
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE topic = 'contacts.closed'"
                          " AND msg_key = '%lld'",
                          called),
                     1);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE topic = 'contacts.closed'"
                          " AND msg_key IN ('%lld', '%lld')",
                          other, texted),
                     2);
    /* The same result again: a duplicate, nothing written. */
    assert_int_equal(apply(&r), ST_APPLY_DUPLICATE);
    assert_int_equal(q_ll("SELECT count(*) FROM consent_ledger"), 1);
}

static void test_other_results_write_no_consent(void **state)
{
    (void)state;
    ecm_test_need(fx.d.pg);
    long long before = q_ll("SELECT count(*) FROM consent_ledger");
    long long voice = make_campaign("voice_ivr"), sms = make_campaign("sms");
    long long called = make_contact(voice, "{+15550170011}", "dispatched", "voice_ivr");
    long long texted = make_contact(sms, "{+15550170012}", "dispatched", "sms");
    st_result no_answer =
        st_test_result(++fx.seq, voice, called, 1, ECM__V1__OUTCOME__OUTCOME_NO_ANSWER);
    assert_int_equal(apply(&no_answer), ST_APPLY_DECIDED);
    /* An SMS attempt recorded DNC is no agent's disposition. */
    st_result sms_dnc = st_test_result(++fx.seq, sms, texted, 1, ECM__V1__OUTCOME__OUTCOME_DNC);
    assert_int_equal(apply(&sms_dnc), ST_APPLY_DECIDED);
    expect_contact(texted, "closed/DNC");
    assert_int_equal(q_ll("SELECT count(*) FROM consent_ledger"), before);
    assert_int_equal(q_ll("SELECT count(*) FROM dnc WHERE phone_key IN ('15550170011',"
                          " '15550170012')"),
                     0);
    /* st_consent_on_result alone ignores what is not DNC. */
    st_results_ctx ctx = st_test_results_ctx();
    assert_int_equal(st_consent_on_result(fx.d.pg, &ctx, &no_answer), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_dnc_revokes_every_channel),
        cmocka_unit_test(test_other_results_write_no_consent),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

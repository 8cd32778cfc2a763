/* SMS keywords on the consent ledger (sms_mo_apply): a STOP revokes the
 * number on every channel (source stop_keyword, actor sms-mo) and closes
 * its open voice and SMS contacts; each STOP is in the history, only the
 * first changes the state; a START grants back only the channels whose
 * revokes since their last grant all came from STOP keywords, so that a
 * number an administrator listed for voice stays listed for voice. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_dnc.h"
#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_service.h"
#include "sms_ctx.h"
#include "sms_mo.h"
#include "ecm_test_support.h"

static struct {
    ecm_test_db *db;
    ecm_pg *pg;
    PGconn *check;
    ecm_common_config common;
    sms_ctx ctx;
    int seq;
} fx;

#define q_ll(...) ecm_test_pg_int(fx.check, __VA_ARGS__)
#define q_text(...) ecm_test_pg_text(fx.check, __VA_ARGS__)

static int group_setup(void **state)
{
    (void)state;
    if (!ecm_test_pg_dsn())
        return 0;
    ecm_test_log_init("test_dnc_sms_keywords", ECM_LOG_ERROR);
    fx.db = ecm_test_db_new_migrated("ecm_dnc_sms_kw");
    fx.pg = ecm_pg_new(fx.db->dsn, NULL);
    fx.check = ecm_test_pg_connect(fx.db->dsn);
    fx.common.topic_closed = "contacts.closed";
    fx.ctx = (sms_ctx){
        .common = &fx.common,
        .source = "/ecm/sms-test",
        .optout_text = "unsubscribed",
        .optin_text = "subscribed",
    };
    return fx.pg ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (!fx.db)
        return 0;
    ecm_pg_destroy(fx.pg);
    PQfinish(fx.check);
    (void)ecm_test_db_destroy(fx.db);
    return 0;
}

static long long campaign(const char *channel)
{
    int sms = strcmp(channel, "sms") == 0;
    return q_ll("INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                " cisco_campaign_id, sms_template) SELECT 'c-%d', '%s', 'active', id, %s, %s, %s"
                " FROM strategies WHERE name = 'Default' RETURNING id",
                ++fx.seq, channel, sms ? "NULL" : "'uccx'", sms ? "NULL" : "'7'",
                sms ? "'Hi'" : "NULL");
}

/* A contact with its numbers in contact_phones, as an upload writes them
 * (E.164 digits; a number once per campaign). */
static long long contact(long long cid, const char *phones, const char *state)
{
    return q_ll(
        "WITH k AS (INSERT INTO contacts (campaign_id, phones, state)"
        " VALUES (%lld, '%s', '%s') RETURNING id, campaign_id, phones),"
        " p AS (INSERT INTO contact_phones (campaign_id, phone, contact_id)"
        " SELECT k.campaign_id, substr(u.p, 2)::bigint, k.id FROM k, unnest(k.phones) u (p))"
        " SELECT id FROM k",
        cid, phones, state);
}

static void expect_text(const char *expected, char *got, const char *what)
{
    if (strcmp(got, expected) != 0)
        fail_msg("%s: '%s', expected '%s'", what, got, expected);
    free(got);
}

/* The global dnc rows of key: "channel:source,..." (voice first). */
static char *state_of(const char *key)
{
    return q_text("SELECT coalesce(string_agg(channel || ':' || source, ',' ORDER BY channel DESC),"
                  " '') FROM dnc WHERE phone_key = '%s' AND campaign_id IS NULL",
                  key);
}

static void test_stop_revokes_every_channel_and_closes_voice(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    long long voice = campaign("voice_ivr"), sms = campaign("sms"), voice2 = campaign("voice_ivr");
    long long kv = contact(voice, "{+15550230001}", "pending");
    /* The number as a contact's second one, in another campaign. */
    long long kw = contact(voice2, "{+15550230003,+15550230001}", "waiting");
    long long ks = contact(sms, "{+15550230001}", "retry_due");
    long long other = contact(voice, "{+15550230002}", "pending");
    /* Numbers that hold the digits without being them stay open. */
    long long longer = contact(voice2, "{+155502300011}", "pending");
    long long shorter = contact(sms, "{+1555023000}", "pending");
    sms_mo_info info;
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550230001", NULL, "STOP", &info), 0);
    assert_int_equal(info.dnc_changed, 1);
    assert_int_equal(info.closed, 3);
    expect_text("voice:stop_keyword,sms:stop_keyword", state_of("15550230001"), "after STOP");
    expect_text("all revoke stop_keyword sms-mo SMS keyword STOP",
                q_text("SELECT string_agg(scope || ' ' || action || ' ' || source || ' ' || actor"
                       " || ' ' || reason, '; ') FROM consent_ledger"
                       " WHERE phone_key = '15550230001'"),
                "the ledger");
    expect_text("closed/DNC closed/DNC closed/DNC pending/- pending/- pending/-",
                q_text("SELECT string_agg(state || '/' || coalesce(outcome, '-'), ' ' ORDER BY id)"
                       " FROM contacts WHERE id IN (%lld, %lld, %lld, %lld, %lld, %lld)",
                       kv, kw, ks, other, longer, shorter),
                "contacts");
    /* A sender no E.164 number matches (20 digits; a leading 0) closes
     * nothing, and is still recorded. */
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+12345678901234567890", NULL, "STOP", &info), 0);
    assert_int_equal(info.closed, 0);
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "0015550230002", NULL, "STOP", &info), 0);
    assert_int_equal(info.closed, 0);
    expect_text(
        "pending/-",
        q_text("SELECT state || '/' || coalesce(outcome, '-') FROM contacts WHERE id = %lld",
               other),
        "a contact of another number");
    /* A second STOP: in the history, no change, no second confirmation. */
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550230001", NULL, "stop", &info), 0);
    assert_int_equal(info.dnc_changed, 0);
    assert_int_equal(info.replies, 0);
    assert_int_equal(q_ll("SELECT count(*) FROM consent_ledger WHERE phone_key = '15550230001'"),
                     2);
    /* START: both channels back (every revoke was a STOP); contacts stay closed. */
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550230001", NULL, "START", &info), 0);
    assert_int_equal(info.dnc_changed, 1);
    assert_int_equal(info.replies, 1);
    expect_text("", state_of("15550230001"), "after START");
    expect_text("all grant start_keyword",
                q_text("SELECT scope || ' ' || action || ' ' || source FROM consent_ledger"
                       " WHERE phone_key = '15550230001' ORDER BY at DESC, id DESC LIMIT 1"),
                "the START entry");
    assert_int_equal(q_ll("SELECT count(*) FROM contacts WHERE id IN (%lld, %lld, %lld)"
                          " AND state = 'closed'",
                          kv, kw, ks),
                     3);
    /* A START with nothing to grant records nothing. */
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550230001", NULL, "START", &info), 0);
    assert_int_equal(info.dnc_changed, 0);
    assert_int_equal(q_ll("SELECT count(*) FROM consent_ledger WHERE phone_key = '15550230001'"),
                     3);
}

static void test_start_leaves_what_an_administrator_revoked(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    /* The API revoked voice; then STOP (all); then START: SMS only comes back. */
    const ecm_dnc_entry api = {
        .phone = "+15550230011",
        .scope = "voice",
        .action = "revoke",
        .source = "api",
        .actor = "key",
        .at_ms = ecm_clock_now_ms() - 1000,
    };
    assert_int_equal(ecm_pg_begin(fx.pg), 0);
    assert_true(ecm_dnc_record(fx.pg, &api) > 0);
    assert_int_equal(ecm_pg_commit(fx.pg), 0);
    sms_mo_info info;
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550230011", NULL, "STOP", &info), 0);
    assert_int_equal(info.dnc_changed, 1);
    expect_text("voice:stop_keyword,sms:stop_keyword", state_of("15550230011"), "after STOP");
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550230011", NULL, "START", &info), 0);
    assert_int_equal(info.dnc_changed, 1);
    expect_text("voice:stop_keyword", state_of("15550230011"), "after START");
    expect_text("sms grant start_keyword",
                q_text("SELECT scope || ' ' || action || ' ' || source FROM consent_ledger"
                       " WHERE phone_key = '15550230011' ORDER BY at DESC, id DESC LIMIT 1"),
                "the START entry");
    /* An agent's DNC (all) is not lifted by START at all. */
    const ecm_dnc_entry agent = {
        .phone = "+15550230012",
        .scope = "all",
        .action = "revoke",
        .source = "agent_disposition",
        .actor = "strategy",
        .at_ms = ecm_clock_now_ms() - 1000,
    };
    assert_int_equal(ecm_pg_begin(fx.pg), 0);
    assert_true(ecm_dnc_record(fx.pg, &agent) > 0);
    assert_int_equal(ecm_pg_commit(fx.pg), 0);
    assert_int_equal(sms_mo_apply(fx.pg, &fx.ctx, "+15550230012", NULL, "START", &info), 0);
    assert_int_equal(info.dnc_changed, 0);
    expect_text("voice:agent_disposition,sms:agent_disposition", state_of("15550230012"),
                "agent's DNC after START");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_revokes_every_channel_and_closes_voice),
        cmocka_unit_test(test_start_leaves_what_an_administrator_revoked),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* The sms service's inbound messages against PostgreSQL: STOP, START and
 * HELP (sms_mo) called directly and through a real ecm_http with libcurl,
 * forged callbacks, and the reply limits. Scaffolding in
 * sms_cb_test_support.h. */
#include "sms_cb_test_support.h"

/* This test's ports (smsdlr's range 22400-22599). */
#define PORT_FIRST 22500
#define PORT_LAST 22549

static int group_setup(void **state)
{
    (void)state;
    return sms_cb_setup("ecm_smsmo", PORT_FIRST, PORT_LAST);
}

static int group_teardown(void **state)
{
    (void)state;
    return sms_cb_teardown();
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mo_stop_start_through_http),
        cmocka_unit_test(test_mo_apply_reports_what_it_did),
        cmocka_unit_test(test_mo_forged_is_refused_403_and_changes_nothing),
        cmocka_unit_test(test_mo_help_flood_from_one_number_gets_one_reply),
        cmocka_unit_test(test_mo_help_flood_from_many_numbers_stops_at_the_global_cap),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* The sms service's retention purge (sms_purge) against PostgreSQL.
 * Scaffolding in sms_cb_test_support.h. */
#include "sms_cb_test_support.h"

/* This test's ports (smsdlr's range 22400-22599). */
#define PORT_FIRST 22550
#define PORT_LAST 22599

static int group_setup(void **state)
{
    (void)state;
    return sms_cb_setup("ecm_smspurge", PORT_FIRST, PORT_LAST);
}

static int group_teardown(void **state)
{
    (void)state;
    return sms_cb_teardown();
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
        cmocka_unit_test(test_purge_deletes_only_old_rows_in_batches),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

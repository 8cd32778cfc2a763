/* Personal callbacks in the strategy: a CallResult 14/15 that names an
 * agent, on an attempt sent to a UCCE target, waits until the callback time
 * flagged for that agent (contacts.pcb_agent, pcb_at); on UCCX, or without
 * an agent, it is ECM's own retry; the next decision clears the flag.
 * Scratch database from ECM_TEST_PG_DSN (skipped when unset); business time
 * fixed at Wednesday 2026-03-04 12:00 in New York, window 09:00-20:00. */
#include "ecm_calling.h"
#include "ecm_log.h"
#include "st_results.h"
#include "st_test_support.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x
#define NOW_NY "2026-03-04T12:00:00-05:00"

typedef struct {
    st_test_db d;
    st_results_ctx ctx;
    int seq;
} fixture;

static fixture fx;

#define q(...) ecm_test_pg_query(fx.d.check, __VA_ARGS__)
#define q_ll(...) ecm_test_pg_int(fx.d.check, __VA_ARGS__)
#define q_text(...) ecm_test_pg_text(fx.d.check, __VA_ARGS__)

static long long make_campaign(const char *kind)
{
    long long strategy = q_ll("INSERT INTO strategies (name, max_attempts, max_attempts_per_day)"
                              " VALUES ('pcb-%d', 10, 10) RETURNING id",
                              ++fx.seq);
    PQclear(q("INSERT INTO strategy_rules"
              " (strategy_id, outcome, action, delay_seconds, max_attempts, next_phone) VALUES"
              " (%lld, 'CONNECTED', 'close', 0, 1, false),"
              " (%lld, 'CALLBACK_REQUESTED', 'retry', 3600, 3, false),"
              " (%lld, 'NO_ANSWER', 'retry', 7200, 3, false)",
              strategy, strategy, strategy));
    /* ucce_db campaigns must name their import table */
    return q_ll("INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                " cisco_campaign_id, cisco_import_table, time_zone, call_window)"
                " VALUES ('pcb-%d', 'voice_ivr', 'active', %lld, '%s', '5001', %s,"
                " 'America/New_York', " ST_TEST_WINDOW_9_TO_20 ") RETURNING id",
                ++fx.seq, strategy, kind, strcmp(kind, "ucce_db") == 0 ? "'Import_5001'" : "NULL");
}

/* A New York contact dispatched on attempt 1 to target kind:5001. */
static long long make_contact(long long campaign_id, const char *kind)
{
    long long id = q_ll("INSERT INTO contacts (campaign_id, phones, state, attempts, time_zone)"
                        " VALUES (%lld, '{+12125550100}', 'dispatched', 1, 'America/New_York')"
                        " RETURNING id",
                        campaign_id);
    PQclear(q("INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone,"
              " account_number, status, sent_at, dispatched_at)"
              " VALUES (%lld, 1, %lld, 'voice_ivr', '%s:5001', '+12125550100', '%lld-1', 'sent',"
              " now(), '2026-03-04T11:00:00-05:00')",
              id, campaign_id, kind, id));
    return id;
}

/* CallResult 14 with agent (may be "") asking for at (RFC 3339). */
static st_result pcb_result(long long campaign_id, long long contact_id, int attempt,
                            const char *agent, const char *at)
{
    st_result r = st_test_result(++fx.seq, campaign_id, contact_id, attempt, O(CALLBACK_REQUESTED));
    r.raw_code = 14;
    snprintf(r.agent, sizeof r.agent, "%s", agent);
    r.callback_at_ms = ecm_test_time_ms(at);
    return r;
}

static st_apply_status apply(const st_result *r, st_apply_info *info)
{
    char reason[256];
    return st_results_apply(fx.d.pg, &fx.ctx, r, info, reason, sizeof(reason));
}

/* contacts.pcb_agent ("" when NULL), malloc'd. */
static char *pcb_agent(long long contact)
{
    return q_text("SELECT coalesce(pcb_agent, '') FROM contacts WHERE id = %lld", contact);
}

static long long pcb_at_ms(long long contact)
{
    return q_ll("SELECT coalesce(floor(extract(epoch FROM pcb_at) * 1000)::bigint, 0)"
                " FROM contacts WHERE id = %lld",
                contact);
}

static int group_setup(void **state)
{
    (void)state;
    return st_test_group_open("test_st_pcb", &fx.d, "ecm_pcb_st", &fx.ctx, 1);
}

static int group_teardown(void **state)
{
    (void)state;
    st_test_group_close(&fx.d, &fx.ctx);
    return 0;
}

static int fix_clock(void **state)
{
    (void)state;
    setenv("ECM_CLOCK_FIXED", NOW_NY, 1);
    return 0;
}

static int free_clock(void **state)
{
    (void)state;
    unsetenv("ECM_CLOCK_FIXED");
    return 0;
}

#define NEED_DB() ecm_test_need(fx.d.pg)

static void test_pcb_on_ucce_waits_flagged_for_the_agent(void **state)
{
    (void)state;
    NEED_DB();
    const char *kinds[] = {"ucce_api", "ucce_db"};
    for (int i = 0; i < 2; i++) {
        long long camp = make_campaign(kinds[i]);
        long long k = make_contact(camp, kinds[i]);
        st_result r = pcb_result(camp, k, 1, "1001", "2026-03-04T12:30:00-05:00");
        st_apply_info info;
        assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
        assert_int_equal(info.closed, 0);
        assert_int_equal(info.personal, 1);
        assert_int_equal(info.next_attempt_at_ms, ecm_test_time_ms("2026-03-04T12:30:00-05:00"));
        char *agent = pcb_agent(k);
        assert_string_equal(agent, "1001");
        free(agent);
        assert_int_equal(pcb_at_ms(k), ecm_test_time_ms("2026-03-04T12:30:00-05:00"));
        assert_int_equal(q_ll("SELECT count(*) FROM contacts WHERE id = %lld"
                              " AND state = 'waiting'",
                              k),
                         1);
    }
}

/* Outside the window the callback waits for the next opening, and that is
 * the time written to Cisco. */
static void test_pcb_outside_window_moves_to_opening(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign("ucce_api");
    long long k = make_contact(camp, "ucce_api");
    st_result r = pcb_result(camp, k, 1, "1001", "2026-03-04T22:00:00-05:00");
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.personal, 1);
    assert_int_equal(pcb_at_ms(k), ecm_test_time_ms("2026-03-05T09:00:00-05:00"));
}

static void test_pcb_on_uccx_or_without_agent_is_ecm_retry(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign("uccx");
    long long k = make_contact(camp, "uccx");
    st_result r = pcb_result(camp, k, 1, "1001", "2026-03-04T12:30:00-05:00");
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.personal, 0);
    assert_int_equal(info.next_attempt_at_ms, ecm_test_time_ms("2026-03-04T12:30:00-05:00"));
    char *agent = pcb_agent(k);
    assert_string_equal(agent, "");
    free(agent);

    long long camp2 = make_campaign("ucce_db");
    long long k2 = make_contact(camp2, "ucce_db");
    r = pcb_result(camp2, k2, 1, "", "2026-03-04T12:30:00-05:00");
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.personal, 0);
    r = pcb_result(camp2, k2, 1, "10a1", "2026-03-04T12:30:00-05:00");
    k2 = make_contact(camp2, "ucce_db");
    r.contact_id = k2;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.personal, 0); /* not a peripheral number */
}

/* The personal callback's own result decides like any other and clears
 * the flag: a retry is ECM's own, a close closes. */
static void test_pcb_next_decision_clears_flag(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign("ucce_api");
    long long k = make_contact(camp, "ucce_api");
    st_result r = pcb_result(camp, k, 1, "1001", "2026-03-04T12:30:00-05:00");
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    /* the feeder sends attempt 2 (the personal callback) */
    PQclear(q("UPDATE contacts SET state = 'dispatched', attempts = 2 WHERE id = %lld", k));
    PQclear(q("INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone,"
              " account_number, status, sent_at, dispatched_at)"
              " VALUES (%lld, 2, %lld, 'voice_ivr', 'ucce_api:5001', '+12125550100', '%lld-2',"
              " 'sent', now(), '2026-03-04T11:30:00-05:00')",
              k, camp, k));
    st_result na = st_test_result(++fx.seq, camp, k, 2, O(NO_ANSWER));
    na.raw_code = 8;
    st_apply_info info;
    assert_int_equal(apply(&na, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.personal, 0);
    assert_int_equal(pcb_at_ms(k), 0);
    char *agent = pcb_agent(k);
    assert_string_equal(agent, "");
    free(agent);
}

#define DB_TEST(f) cmocka_unit_test_setup_teardown(f, fix_clock, free_clock)

int main(void)
{
    const struct CMUnitTest tests[] = {
        DB_TEST(test_pcb_on_ucce_waits_flagged_for_the_agent),
        DB_TEST(test_pcb_outside_window_moves_to_opening),
        DB_TEST(test_pcb_on_uccx_or_without_agent_is_ecm_retry),
        DB_TEST(test_pcb_next_decision_clears_flag),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

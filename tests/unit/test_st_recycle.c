/* The strategy's recycle schedules (st_recycle_tick) against PostgreSQL, on
 * a fixed business clock: a due schedule re-opens its campaign's aged
 * contacts and is not run again before its interval has passed by business
 * time; max_rounds 1 re-opens a contact only once however often it runs;
 * a disabled schedule and a stopped campaign's do nothing; a completed
 * campaign becomes active again. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_test_support.h"
#include "st_recycle.h"

typedef struct {
    ecm_test_db *db;
    PGconn *check;
    ecm_pg *pg;
    volatile sig_atomic_t stop;
} fixture;

static fixture fx;

static const st_recycle_ctx CTX = {
    .topic_recycled = "contacts.recycled",
    .topic_campaigns = "campaigns.changed",
    .source = "/ecm/strategy-test",
    .interval_s = 3600,
};

static long long campaign(const char *state)
{
    return ecm_test_pg_int(fx.check,
                           "INSERT INTO campaigns (name, channel, strategy_id, cisco_kind,"
                           " cisco_campaign_id, state) SELECT 's', 'voice_ivr', id, 'uccx', '1',"
                           " '%s' FROM strategies WHERE name = 'Default' RETURNING id",
                           state);
}

/* A contact closed with outcome at the business instant at (RFC 3339). */
static long long closed(long long camp, const char *outcome, const char *at)
{
    return ecm_test_pg_int(fx.check,
                           "INSERT INTO contacts (campaign_id, phones, state, outcome, closed_at)"
                           " VALUES (%lld, '{+12125550100}', 'closed', '%s', '%s') RETURNING id",
                           camp, outcome, at);
}

static void schedule(long long camp, const char *outcomes, long long older_than_s,
                     const char *max_rounds, int enabled)
{
    ecm_test_pg_exec(fx.check,
                     "INSERT INTO campaign_recycle_schedules (campaign_id, outcomes, older_than_s,"
                     " max_rounds, enabled) VALUES (%lld, '%s', %lld, %s, %s)",
                     camp, outcomes, older_than_s, max_rounds, enabled ? "true" : "false");
}

/* Closes every open contact of camp again (as its strategy would after the
 * new round), with the outcome at business instant at. */
static void close_again(long long camp, const char *outcome, const char *at)
{
    ecm_test_pg_exec(fx.check,
                     "UPDATE contacts SET state = 'closed', outcome = '%s', closed_at = '%s'"
                     " WHERE campaign_id = %lld AND state <> 'closed'",
                     outcome, at, camp);
}

static long long open_count(long long camp)
{
    return ecm_test_pg_int(fx.check,
                           "SELECT count(*) FROM contacts WHERE campaign_id = %lld"
                           " AND state = 'queued'",
                           camp);
}

static st_recycle_counts tick_at(const char *now)
{
    setenv("ECM_CLOCK_FIXED", now, 1);
    st_recycle_counts c;
    assert_true(st_recycle_tick(fx.pg, &CTX, &c) >= 0);
    return c;
}

static void test_st_recycle_runs_once_per_interval_of_business_time(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    long long camp = campaign("completed");
    closed(camp, "NO_ANSWER", "2026-03-01T12:00:00Z");
    closed(camp, "NO_ANSWER", "2026-03-04T12:30:00Z"); /* 3 days old at 03-07 12:30 */
    closed(camp, "CONNECTED", "2026-03-01T12:00:00Z");
    schedule(camp, "{NO_ANSWER}", 3 * 86400, "NULL", 1);

    st_recycle_counts c = tick_at("2026-03-07T12:00:00Z");
    assert_int_equal(c.runs, 1);
    assert_int_equal(c.reopened, 1);
    assert_int_equal(open_count(camp), 1);
    char *st = ecm_test_pg_text(fx.check, "SELECT state FROM campaigns WHERE id = %lld", camp);
    assert_string_equal(st, "active");
    free(st);
    assert_int_equal(ecm_test_pg_int(fx.check,
                                     "SELECT count(*) FROM recycles WHERE campaign_id = %lld"
                                     " AND actor = 'schedule' AND contacts = 1",
                                     camp),
                     1);

    /* 59 business minutes later the schedule is not due: the second contact,
     * now old enough, waits. */
    c = tick_at("2026-03-07T12:59:00Z");
    assert_int_equal(c.runs, 0);
    assert_int_equal(open_count(camp), 1);
    /* An interval after the first run it is. */
    c = tick_at("2026-03-07T13:00:00Z");
    assert_int_equal(c.runs, 1);
    assert_int_equal(c.reopened, 1);
    assert_int_equal(open_count(camp), 2);
}

static void test_st_recycle_max_rounds_one_reopens_only_once(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    long long camp = campaign("active");
    long long k = closed(camp, "BUSY", "2026-04-01T00:00:00Z");
    schedule(camp, "{BUSY}", 86400, "1", 1);
    st_recycle_counts c = tick_at("2026-04-03T00:00:00Z");
    assert_int_equal(c.reopened, 1);
    close_again(camp, "BUSY", "2026-04-03T01:00:00Z");
    c = tick_at("2026-04-06T00:00:00Z");
    assert_int_equal(c.runs, 1);
    assert_int_equal(c.reopened, 0);
    assert_int_equal(ecm_test_pg_int(fx.check, "SELECT recycled FROM contacts WHERE id = %lld", k),
                     1);
    assert_int_equal(open_count(camp), 0);
}

static void test_st_recycle_disabled_and_stopped_do_nothing(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    long long off = campaign("active"), stopped = campaign("stopped");
    closed(off, "BUSY", "2026-05-01T00:00:00Z");
    closed(stopped, "BUSY", "2026-05-01T00:00:00Z");
    schedule(off, "{BUSY}", 0, "NULL", 0);
    schedule(stopped, "{BUSY}", 0, "NULL", 1);
    st_recycle_counts c = tick_at("2026-05-09T00:00:00Z");
    assert_int_equal(c.refused, 1);
    assert_int_equal(open_count(off), 0);
    assert_int_equal(open_count(stopped), 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    if (!ecm_test_pg_dsn())
        return 0;
    ecm_test_log_init("test_st_recycle", ECM_LOG_ERROR);
    fx.db = ecm_test_db_new_migrated("ecm_st_recycle");
    fx.check = ecm_test_pg_connect(fx.db->dsn);
    fx.pg = ecm_pg_new(fx.db->dsn, &fx.stop);
    return fx.pg ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv("ECM_CLOCK_FIXED");
    if (!fx.db)
        return 0;
    ecm_pg_destroy(fx.pg);
    PQfinish(fx.check);
    (void)ecm_test_db_destroy(fx.db);
    return 0;
}

/* Each test sees only its own schedules. */
static int retire(void **state)
{
    (void)state;
    if (fx.check)
        ecm_test_pg_exec(fx.check, "UPDATE campaign_recycle_schedules SET enabled = false");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_st_recycle_runs_once_per_interval_of_business_time, retire),
        cmocka_unit_test_teardown(test_st_recycle_max_rounds_one_reopens_only_once, retire),
        cmocka_unit_test_teardown(test_st_recycle_disabled_and_stopped_do_nothing, retire),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

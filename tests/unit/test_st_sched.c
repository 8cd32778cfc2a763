/* The retry scheduler (services/strategy/st_sched.h) against PostgreSQL, by
 * the business clock: due contacts, campaign expiry at end_at (open contacts
 * closed EXPIRED with events, in batches; dispatched ones closed by their
 * result), paused campaigns. Runs in a scratch database created from
 * ECM_TEST_PG_DSN; skipped when it is unset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ecm_calling.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_pg.h"
#include "st_results.h"
#include "st_sched.h"
#include "st_test_support.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x

typedef struct {
    st_test_db d;
    st_results_ctx rctx;
    st_sched_ctx sctx;
    int seq;
} fixture;

static fixture fx;

#define q(...) ecm_test_pg_query(fx.d.check, __VA_ARGS__)
#define q_ll(...) ecm_test_pg_int(fx.d.check, __VA_ARGS__)
#define q_text(...) ecm_test_pg_text(fx.d.check, __VA_ARGS__)

static void clock_at(const char *rfc3339)
{
    setenv("ECM_CLOCK_FIXED", rfc3339, 1);
}

static long long make_campaign(const char *state, const char *end_at)
{
    long long strat = q_ll("INSERT INTO strategies (name, max_attempts, max_attempts_per_day)"
                           " VALUES ('sched-%d', 5, 10) RETURNING id",
                           ++fx.seq);
    PQclear(q("INSERT INTO strategy_rules (strategy_id, outcome, action, delay_seconds,"
              " max_attempts) VALUES (%lld, 'NO_ANSWER', 'retry', 60, 3)",
              strat));
    return q_ll("INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                " cisco_campaign_id, time_zone, end_at)"
                " VALUES ('s-%d', 'voice_ivr', '%s', %lld, 'uccx', '7', 'America/New_York', %s)"
                " RETURNING id",
                ++fx.seq, state, strat, end_at);
}

/* A contact in state with `attempts` attempts rows (the last one 'sent'). */
static long long make_contact(long long camp, const char *state, int attempts,
                              const char *next_attempt_at)
{
    long long id = q_ll("INSERT INTO contacts (campaign_id, phones, state, attempts,"
                        " next_attempt_at, outcome)"
                        " VALUES (%lld, '{+12125550100}', '%s', %d, %s, %s) RETURNING id",
                        camp, state, attempts, next_attempt_at,
                        strcmp(state, "closed") == 0 ? "'CONNECTED'" : "NULL");
    for (int a = 1; a <= attempts; a++)
        PQclear(q("INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone,"
                  " account_number, status, dispatched_at)"
                  " VALUES (%lld, %d, %lld, 'voice_ivr', '+12125550100', '%lld-%d', 'sent',"
                  " '2026-03-04T12:00:00-05:00')",
                  id, a, camp, id, a));
    return id;
}

static char *contact_state(long long k)
{
    return q_text("SELECT state || ' ' || coalesce(outcome, '-') FROM contacts WHERE id = %lld", k);
}

static void assert_contact(long long k, const char *want)
{
    char *st = contact_state(k);
    assert_string_equal(st, want);
    free(st);
}

/* The ContactClosed outcome of contact k's only event on contacts.closed. */
static Ecm__V1__Outcome closed_event_outcome(long long k)
{
    size_t len = 0;
    unsigned char *bytes = ecm_test_outbox_payload(fx.d.check, "contacts.closed", k, &len, NULL, 0);
    Ecm__V1__ContactClosed *ev = ecm__v1__contact_closed__unpack(NULL, len, bytes);
    assert_non_null(ev);
    assert_int_equal(ev->contact_id, k);
    Ecm__V1__Outcome o = ev->outcome;
    ecm__v1__contact_closed__free_unpacked(ev, NULL);
    PQfreemem(bytes);
    return o;
}

static void assert_campaign_state(long long camp, const char *want)
{
    char *st = q_text("SELECT state FROM campaigns WHERE id = %lld", camp);
    assert_string_equal(st, want);
    free(st);
}

/* Campaign camp is expired, with its one CampaignChanged saying so. */
static void assert_campaign_expired_from(long long camp, const char *previous)
{
    assert_campaign_state(camp, "expired");
    size_t len = 0;
    unsigned char *bytes =
        ecm_test_outbox_payload(fx.d.check, "campaigns.changed", camp, &len, NULL, 0);
    Ecm__V1__CampaignChanged *ev = ecm__v1__campaign_changed__unpack(NULL, len, bytes);
    assert_non_null(ev);
    assert_string_equal(ev->state, "expired");
    assert_string_equal(ev->previous_state, previous);
    ecm__v1__campaign_changed__free_unpacked(ev, NULL);
    PQfreemem(bytes);
}

static int group_setup(void **state)
{
    (void)state;
    if (st_test_group_open("test_st_sched", &fx.d, "ecm_strategy_sched", &fx.rctx, 1) != 0)
        return -1;
    fx.sctx = st_test_sched_ctx();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    st_test_group_close(&fx.d, &fx.rctx);
    return 0;
}

#define NEED_DB() ecm_test_need(fx.d.pg)

/* Each test sees only its own campaigns: the others are stopped. */
static int retire(void **state)
{
    (void)state;
    if (fx.d.check != NULL)
        PQclear(q("UPDATE campaigns SET state = 'stopped' WHERE state IN ('active', 'paused')"));
    unsetenv("ECM_CLOCK_FIXED");
    fx.sctx.batch = 100;
    return 0;
}

static void test_sched_due_by_business_clock_not_database_now(void **state)
{
    (void)state;
    NEED_DB();
    /* due in 2030 by the row; the database's now() is earlier */
    long long camp = make_campaign("active", "NULL");
    long long k = make_contact(camp, "waiting", 1, "'2030-01-07T14:00:00Z'");
    clock_at("2030-01-07T13:59:59Z");
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, NULL), 0);
    assert_contact(k, "waiting -");
    clock_at("2030-01-07T14:00:00Z");
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, NULL), 1);
    assert_contact(k, "retry_due -");
}

static void test_sched_expires_campaign_and_closes_open_contacts(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign("active", "'2026-03-05T00:00:00Z'");
    long long open[4] = {
        make_contact(camp, "pending", 0, "NULL"),
        make_contact(camp, "queued", 0, "NULL"),
        make_contact(camp, "waiting", 1, "'2026-03-06T14:00:00Z'"),
        make_contact(camp, "retry_due", 1, "'2026-03-04T14:00:00Z'"),
    };
    long long out = make_contact(camp, "dispatched", 1, "NULL");
    long long done = make_contact(camp, "closed", 1, "NULL");

    clock_at("2026-03-04T23:59:59Z");
    st_sched_counts c;
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &c), 0);
    assert_int_equal(c.expired, 0);
    assert_int_equal(c.expired_contacts, 0);

    clock_at("2026-03-05T00:00:00Z");
    fx.sctx.batch = 3; /* two ticks to close the four */
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &c), 0);
    assert_int_equal(c.expired, 1);
    assert_int_equal(c.expired_contacts, 3);
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &c), 0);
    assert_int_equal(c.expired, 0);
    assert_int_equal(c.expired_contacts, 1);
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &c), 0);
    assert_int_equal(c.expired_contacts, 0);

    assert_campaign_expired_from(camp, "active");

    for (int i = 0; i < 4; i++) {
        assert_contact(open[i], "closed EXPIRED");
        assert_int_equal(closed_event_outcome(open[i]), O(EXPIRED));
    }
    assert_int_equal(q_ll("SELECT count(*) FROM contacts WHERE campaign_id = %lld"
                          " AND state = 'closed' AND next_attempt_at IS NOT NULL",
                          camp),
                     0);
    assert_contact(out, "dispatched -");
    assert_contact(done, "closed CONNECTED");
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE topic = 'contacts.retry' AND msg_key"
                          " IN (SELECT id::text FROM contacts WHERE campaign_id = %lld)",
                          camp),
                     0);

    /* the call that was out comes back: no retry fits, it closes EXPIRED */
    st_result r;
    memset(&r, 0, sizeof(r));
    r.campaign_id = camp;
    r.contact_id = out;
    r.attempt = 1;
    r.outcome = O(NO_ANSWER);
    r.counts_as_attempt = 1;
    r.raw_code = 8;
    char reason[256];
    assert_int_equal(st_results_apply(fx.d.pg, &fx.rctx, &r, NULL, reason, sizeof(reason)),
                     ST_APPLY_DECIDED);
    assert_contact(out, "closed EXPIRED");
    assert_int_equal(closed_event_outcome(out), O(EXPIRED));
}

static void test_sched_expired_campaign_emits_no_retry_for_due_contact(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign("active", "'2026-03-05T00:00:00Z'");
    long long k = make_contact(camp, "waiting", 1, "'2026-03-04T23:00:00Z'");
    clock_at("2026-03-05T00:00:01Z");
    st_sched_counts c;
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &c), 0);
    assert_int_equal(c.expired_contacts, 1);
    assert_contact(k, "closed EXPIRED");
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE topic = 'contacts.retry'"
                          " AND msg_key = '%lld'",
                          k),
                     0);
}

static void test_sched_paused_campaign_waits_until_end_at_then_expires(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign("paused", "'2026-03-05T00:00:00Z'");
    long long k = make_contact(camp, "waiting", 1, "'2026-03-04T14:00:00Z'");
    clock_at("2026-03-04T23:00:00Z");
    st_sched_counts c;
    /* due, but paused: neither emitted nor expired */
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &c), 0);
    assert_int_equal(c.expired, 0);
    assert_contact(k, "waiting -");
    assert_campaign_state(camp, "paused");

    clock_at("2026-03-05T00:00:00Z");
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &c), 0);
    assert_int_equal(c.expired, 1);
    assert_contact(k, "closed EXPIRED");
    assert_campaign_expired_from(camp, "paused");
}

static void test_sched_campaign_without_end_at_never_expires(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign("active", "NULL");
    long long k = make_contact(camp, "pending", 0, "NULL");
    clock_at("2099-01-01T00:00:00Z");
    st_sched_counts c;
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &c), 0);
    assert_int_equal(c.expired, 0);
    assert_contact(k, "pending -");
}

static void test_sched_stopped_campaign_past_end_at_is_left_alone(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign("stopped", "'2026-03-05T00:00:00Z'");
    long long k = make_contact(camp, "waiting", 1, "'2026-03-04T14:00:00Z'");
    clock_at("2026-03-06T00:00:00Z");
    st_sched_counts c;
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &c), 0);
    assert_int_equal(c.expired, 0);
    assert_contact(k, "waiting -");
}

#define DB_TEST(t) cmocka_unit_test_teardown(t, retire)

int main(void)
{
    const struct CMUnitTest tests[] = {
        DB_TEST(test_sched_due_by_business_clock_not_database_now),
        DB_TEST(test_sched_expires_campaign_and_closes_open_contacts),
        DB_TEST(test_sched_expired_campaign_emits_no_retry_for_due_contact),
        DB_TEST(test_sched_paused_campaign_waits_until_end_at_then_expires),
        DB_TEST(test_sched_campaign_without_end_at_never_expires),
        DB_TEST(test_sched_stopped_campaign_past_end_at_is_left_alone),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* The strategy service against PostgreSQL: results applied to contacts
 * (st_results_apply), the retry scheduler and campaign completion
 * (st_sched_tick). Runs in a scratch database created from ECM_TEST_PG_DSN;
 * skipped when it is unset. Decoding is tested without a database. */
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
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "st_results.h"
#include "st_sched.h"
#include "st_test_support.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x

typedef struct {
    st_test_db d;
    st_results_ctx rctx; /* without windows: retries at now + delay */
    st_results_ctx wctx; /* with the calling window step */
    st_sched_ctx sctx;
    int seq;
} fixture;

static fixture fx;

/* ---- SQL helpers: one-liners on the test's own connection ---- */

#define q(...) ecm_test_pg_query(fx.d.check, __VA_ARGS__)
#define q_ll(...) ecm_test_pg_int(fx.d.check, __VA_ARGS__)
#define q_text(...) ecm_test_pg_text(fx.d.check, __VA_ARGS__)

/* ---- fixtures ---- */

static long long make_strategy(int max_attempts)
{
    return st_test_make_strategy(fx.d.check, ++fx.seq, max_attempts);
}

static long long make_campaign(long long strategy_id, const char *end_at_sql)
{
    return st_test_make_campaign(fx.d.check, ++fx.seq, strategy_id, end_at_sql);
}

static long long make_contact(long long campaign_id, int attempts)
{
    return st_test_make_dispatched(fx.d.check, campaign_id, attempts);
}

static st_result result(long long campaign_id, long long contact_id, int attempt,
                        Ecm__V1__Outcome outcome)
{
    st_result r = st_test_result(++fx.seq, campaign_id, contact_id, attempt, outcome);
    r.has_raw_detail = 1;
    r.raw_detail = 0;
    return r;
}

static st_apply_status apply(const st_result *r, st_apply_info *info)
{
    char reason[256];
    return st_results_apply(fx.d.pg, &fx.rctx, r, info, reason, sizeof(reason));
}

static int group_setup(void **state)
{
    (void)state;
    if (st_test_group_open("test_st_results", &fx.d, "ecm_strategy_test", &fx.wctx, 1) != 0)
        return -1;
    /* The same context without the calling window: retries at now + delay. */
    fx.rctx = fx.wctx;
    fx.rctx.calling = NULL;
    fx.sctx = st_test_sched_ctx();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    st_test_group_close(&fx.d, &fx.wctx);
    return 0;
}

/* cmocka can't skip from a setup function, so each DB test starts here. */
#define NEED_DB() ecm_test_need(fx.d.pg)

/* Each test owns the only active campaigns, so the scheduler's scans see its
 * contacts alone. */
static int retire_campaigns(void **state)
{
    (void)state;
    if (fx.d.check != NULL)
        PQclear(q("UPDATE campaigns SET state = 'stopped' WHERE state = 'active'"));
    unsetenv("ECM_CLOCK_FIXED");
    return 0;
}

/* ---- tests ---- */

static void test_results_retry_outcome_sets_contact_waiting(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 1);
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 0);

    char *st = q_text("SELECT state || ' ' || counted_attempts || ' ' || phone_index"
                      " FROM contacts WHERE id = %lld",
                      k);
    assert_string_equal(st, "waiting 1 0");
    free(st);
    /* delay 1 s from the apply's now(), which is before this query's now() */
    long long ms = q_ll("SELECT (extract(epoch FROM next_attempt_at - now()) * 1000)::bigint"
                        " FROM contacts WHERE id = %lld",
                        k);
    assert_in_range(ms, 0, 1000);
    char *att = q_text("SELECT status || ' ' || outcome || ' ' || raw_code || ' '"
                       " || (result_at IS NOT NULL) FROM attempts"
                       " WHERE contact_id = %lld AND attempt = 1",
                       k);
    assert_string_equal(att, "done NO_ANSWER 8 true");
    free(att);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE msg_key = '%lld'", k), 0);
}

static void test_results_redelivered_result_changes_nothing(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 1);
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    char *before = q_text("SELECT row_to_json(c)::text FROM contacts c WHERE id = %lld", k);
    char *att_before =
        q_text("SELECT row_to_json(a)::text FROM attempts a WHERE contact_id = %lld", k);

    /* same event again, and the same attempt with another outcome */
    assert_int_equal(apply(&r, NULL), ST_APPLY_DUPLICATE);
    st_result other = result(camp, k, 1, O(CONNECTED));
    assert_int_equal(apply(&other, NULL), ST_APPLY_DUPLICATE);

    char *after = q_text("SELECT row_to_json(c)::text FROM contacts c WHERE id = %lld", k);
    char *att_after =
        q_text("SELECT row_to_json(a)::text FROM attempts a WHERE contact_id = %lld", k);
    assert_string_equal(before, after);
    assert_string_equal(att_before, att_after);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE msg_key = '%lld'", k), 0);
    free(before);
    free(after);
    free(att_before);
    free(att_after);
}

static void test_sched_tick_emits_exactly_one_contact_retry(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 1);
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);

    /* not due yet: nothing emitted */
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, NULL), 0);
    PQclear(q("UPDATE contacts SET next_attempt_at = now() - interval '1 second'"
              " WHERE id = %lld",
              k));
    st_sched_counts sc;
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &sc), 1);
    assert_int_equal(sc.completed, 0);
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, NULL), 0);

    char *st = q_text("SELECT state FROM contacts WHERE id = %lld", k);
    assert_string_equal(st, "retry_due");
    free(st);
    size_t len = 0;
    char ce_type[64];
    unsigned char *bytes =
        ecm_test_outbox_payload(fx.d.check, "contacts.retry", k, &len, ce_type, sizeof(ce_type));
    assert_string_equal(ce_type, "ecm.v1.ContactRetry");
    Ecm__V1__ContactRetry *ev = ecm__v1__contact_retry__unpack(NULL, len, bytes);
    assert_non_null(ev);
    assert_int_equal(ev->contact_id, k);
    assert_int_equal(ev->campaign_id, camp);
    assert_int_equal(ev->attempt, 2);
    assert_int_equal(ev->phone_index, 0);
    assert_int_equal(ev->channel, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR);
    assert_int_equal(strlen(ev->event_id), 36);
    ecm__v1__contact_retry__free_unpacked(ev, NULL);
    PQfreemem(bytes);
}

static void test_sched_skips_due_contacts_of_paused_campaigns(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 1);
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    PQclear(q("UPDATE contacts SET next_attempt_at = now() - interval '1 second'"
              " WHERE id = %lld",
              k));
    PQclear(q("UPDATE campaigns SET state = 'paused' WHERE id = %lld", camp));
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, NULL), 0);
    PQclear(q("UPDATE campaigns SET state = 'active' WHERE id = %lld", camp));
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, NULL), 1);
}

static void test_results_connected_closes_with_one_contact_closed(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 1);
    PQclear(
        q("INSERT INTO contacts (campaign_id, phones, state) VALUES (%lld, '{+1555}', 'pending')",
          camp)); /* keeps the campaign open */
    st_result r = result(camp, k, 1, O(CONNECTED));
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 1);
    assert_int_equal(info.outcome, O(CONNECTED));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DUPLICATE);

    char *st = q_text("SELECT state || ' ' || outcome || ' ' || (closed_at IS NOT NULL)"
                      " || ' ' || (next_attempt_at IS NULL) FROM contacts WHERE id = %lld",
                      k);
    assert_string_equal(st, "closed CONNECTED true true");
    free(st);
    size_t len = 0;
    char ce_type[64];
    unsigned char *bytes =
        ecm_test_outbox_payload(fx.d.check, "contacts.closed", k, &len, ce_type, sizeof(ce_type));
    assert_string_equal(ce_type, "ecm.v1.ContactClosed");
    Ecm__V1__ContactClosed *ev = ecm__v1__contact_closed__unpack(NULL, len, bytes);
    assert_non_null(ev);
    assert_int_equal(ev->contact_id, k);
    assert_int_equal(ev->campaign_id, camp);
    assert_int_equal(ev->attempts, 1);
    assert_int_equal(ev->outcome, O(CONNECTED));
    ecm__v1__contact_closed__free_unpacked(ev, NULL);
    PQfreemem(bytes);

    st_sched_counts sc;
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &sc), 0);
    assert_int_equal(sc.completed, 0);
}

static void test_sched_completes_campaign_when_last_contact_closes(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k1 = make_contact(camp, 1);
    long long k2 = make_contact(camp, 1);
    st_result r1 = result(camp, k1, 1, O(CONNECTED));
    assert_int_equal(apply(&r1, NULL), ST_APPLY_DECIDED);
    st_sched_counts sc;
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &sc), 0);
    assert_int_equal(sc.completed, 0);
    char *st = q_text("SELECT state FROM campaigns WHERE id = %lld", camp);
    assert_string_equal(st, "active");
    free(st);

    st_result r2 = result(camp, k2, 1, O(CONNECTED));
    assert_int_equal(apply(&r2, NULL), ST_APPLY_DECIDED);
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &sc), 0);
    assert_int_equal(sc.completed, 1);
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &sc), 0);
    assert_int_equal(sc.completed, 0);

    st = q_text("SELECT state FROM campaigns WHERE id = %lld", camp);
    assert_string_equal(st, "completed");
    free(st);
    size_t len = 0;
    char ce_type[64];
    unsigned char *bytes = ecm_test_outbox_payload(fx.d.check, "campaigns.changed", camp, &len,
                                                   ce_type, sizeof(ce_type));
    assert_string_equal(ce_type, "ecm.v1.CampaignChanged");
    Ecm__V1__CampaignChanged *ev = ecm__v1__campaign_changed__unpack(NULL, len, bytes);
    assert_non_null(ev);
    assert_int_equal(ev->campaign_id, camp);
    assert_string_equal(ev->state, "completed");
    assert_string_equal(ev->previous_state, "active");
    ecm__v1__campaign_changed__free_unpacked(ev, NULL);
    PQfreemem(bytes);
}

/* The completion test reads the greatest state of a campaign's contacts:
 * each open state, beside a closed contact, must keep the campaign active. */
static void test_sched_never_completes_campaign_with_an_open_contact(void **state)
{
    (void)state;
    NEED_DB();
    static const char *const open_states[] = {"pending", "queued", "dispatched", "waiting",
                                              "retry_due"};
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long closed = make_contact(camp, 1);
    long long open = make_contact(camp, 1);
    PQclear(
        q("UPDATE contacts SET state = 'closed', outcome = 'CONNECTED' WHERE id = %lld", closed));
    st_sched_counts sc;
    for (size_t i = 0; i < sizeof open_states / sizeof open_states[0]; i++) {
        PQclear(q("UPDATE contacts SET state = '%s', next_attempt_at = now() + interval '1 day'"
                  " WHERE id = %lld",
                  open_states[i], open));
        assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &sc), 0);
        assert_int_equal(sc.completed, 0);
        char *st = q_text("SELECT state FROM campaigns WHERE id = %lld", camp);
        assert_string_equal(st, "active");
        free(st);
    }
    PQclear(q("UPDATE contacts SET state = 'closed', outcome = 'CONNECTED', next_attempt_at = NULL"
              " WHERE id = %lld",
              open));
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &sc), 0);
    assert_int_equal(sc.completed, 1);
}

static void test_sched_never_completes_campaign_without_contacts(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    st_sched_counts sc;
    assert_int_equal(st_sched_tick(fx.d.pg, &fx.sctx, &sc), 0);
    assert_int_equal(sc.completed, 0);
    char *st = q_text("SELECT state FROM campaigns WHERE id = %lld", camp);
    assert_string_equal(st, "active");
    free(st);
}

static void test_results_unknown_attempt_is_rejected(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 1);
    st_result r = result(camp, k, 2, O(NO_ANSWER));
    char reason[256];
    assert_int_equal(st_results_apply(fx.d.pg, &fx.rctx, &r, NULL, reason, sizeof(reason)),
                     ST_APPLY_REJECT);
    assert_string_equal(reason, "unknown attempt");
    st_result u = result(camp, k + 100000, 1, O(NO_ANSWER));
    assert_int_equal(st_results_apply(fx.d.pg, &fx.rctx, &u, NULL, reason, sizeof(reason)),
                     ST_APPLY_REJECT);
    char *st = q_text("SELECT state FROM contacts WHERE id = %lld", k);
    assert_string_equal(st, "dispatched");
    free(st);
}

static void test_results_older_attempt_is_only_recorded(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 2);
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    assert_int_equal(apply(&r, NULL), ST_APPLY_RECORDED);
    char *st = q_text("SELECT state || ' ' || counted_attempts FROM contacts WHERE id = %lld", k);
    assert_string_equal(st, "dispatched 0");
    free(st);
    char *att = q_text("SELECT status || ' ' || outcome FROM attempts"
                       " WHERE contact_id = %lld AND attempt = 1",
                       k);
    assert_string_equal(att, "done NO_ANSWER");
    free(att);
}

/* The feeder withdrew attempt 1 (judged undialled) and queued the contact
 * again; the dialer had dialled it after all: its result decides the contact
 * as the current attempt, counted once. */
static void test_results_withdrawn_attempt_result_decides_queued_contact(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 1);
    PQclear(q("UPDATE attempts SET status = 'withdrawn' WHERE contact_id = %lld", k));
    PQclear(q("UPDATE contacts SET state = 'queued' WHERE id = %lld", k));
    st_result r = result(camp, k, 1, O(CONNECTED));
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 1);
    char *st = q_text("SELECT state || ' ' || counted_attempts || ' ' || attempts"
                      " FROM contacts WHERE id = %lld",
                      k);
    assert_string_equal(st, "closed 1 1");
    free(st);
    char *att = q_text("SELECT status || ' ' || outcome FROM attempts WHERE contact_id = %lld", k);
    assert_string_equal(att, "done CONNECTED");
    free(att);
    /* Delivered again: nothing more is counted. */
    assert_int_equal(apply(&r, NULL), ST_APPLY_DUPLICATE);
    assert_int_equal(q_ll("SELECT counted_attempts FROM contacts WHERE id = %lld", k), 1);
}

/* The withdrawn attempt's contact was already taken again (attempt 2 in
 * flight): the late result is recorded and counts against the caps once,
 * but decides nothing; a redelivery counts nothing more. An older attempt
 * that was not withdrawn still counts nothing (as before). */
static void test_results_withdrawn_attempt_late_result_counts_once(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 2);
    PQclear(
        q("UPDATE attempts SET status = 'withdrawn' WHERE contact_id = %lld AND attempt = 1", k));
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    assert_int_equal(apply(&r, NULL), ST_APPLY_RECORDED);
    char *st = q_text("SELECT state || ' ' || counted_attempts FROM contacts WHERE id = %lld", k);
    assert_string_equal(st, "dispatched 1");
    free(st);
    assert_int_equal(apply(&r, NULL), ST_APPLY_DUPLICATE);
    assert_int_equal(q_ll("SELECT counted_attempts FROM contacts WHERE id = %lld", k), 1);
    /* Attempt 2's own result then decides, counting it too. */
    st_result r2 = result(camp, k, 2, O(NO_ANSWER));
    assert_int_equal(apply(&r2, NULL), ST_APPLY_DECIDED);
    assert_int_equal(q_ll("SELECT counted_attempts FROM contacts WHERE id = %lld", k), 2);
    /* A not-attempted late result (25: returned undialled) never counts. */
    long long k2 = make_contact(camp, 2);
    PQclear(
        q("UPDATE attempts SET status = 'withdrawn' WHERE contact_id = %lld AND attempt = 1", k2));
    st_result r3 = result(camp, k2, 1, O(NOT_ATTEMPTED));
    r3.counts_as_attempt = 0;
    assert_int_equal(apply(&r3, NULL), ST_APPLY_RECORDED);
    assert_int_equal(q_ll("SELECT counted_attempts FROM contacts WHERE id = %lld", k2), 0);
}

static void test_results_not_attempted_does_not_count(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 1);
    st_result r = result(camp, k, 1, O(NOT_ATTEMPTED));
    assert_int_equal(apply(&r, NULL), ST_APPLY_DECIDED);
    char *st = q_text("SELECT state || ' ' || counted_attempts FROM contacts WHERE id = %lld", k);
    assert_string_equal(st, "waiting 0");
    free(st);
}

static void test_results_next_phone_rule_moves_phone_index(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long k = make_contact(camp, 1);
    st_result r = result(camp, k, 1, O(INVALID_NUMBER));
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 0);
    assert_int_equal(info.phone_index, 1);
    assert_int_equal(q_ll("SELECT phone_index FROM contacts WHERE id = %lld", k), 1);
}

static void test_results_strategy_max_attempts_closes_with_last_outcome(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(2), "NULL");
    long long k = make_contact(camp, 2);
    PQclear(q("UPDATE contacts SET counted_attempts = 1 WHERE id = %lld", k));
    PQclear(q("UPDATE attempts SET status = 'done', outcome = 'BUSY'"
              " WHERE contact_id = %lld AND attempt = 1",
              k));
    st_result r = result(camp, k, 2, O(NO_ANSWER));
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 1);
    char *st = q_text("SELECT state || ' ' || outcome || ' ' || counted_attempts"
                      " FROM contacts WHERE id = %lld",
                      k);
    assert_string_equal(st, "closed NO_ANSWER 2");
    free(st);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE topic = 'contacts.closed'"
                          " AND msg_key = '%lld'",
                          k),
                     1);
}

static void test_results_rule_max_counts_earlier_attempts_with_outcome(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(10), "NULL");
    long long k = make_contact(camp, 3);
    PQclear(q("UPDATE contacts SET counted_attempts = 2 WHERE id = %lld", k));
    PQclear(q("UPDATE attempts SET status = 'done', outcome = 'NO_ANSWER'"
              " WHERE contact_id = %lld AND attempt < 3",
              k));
    st_result r = result(camp, k, 3, O(NO_ANSWER)); /* the 3rd of 3 */
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 1);
    assert_int_equal(info.outcome, O(NO_ANSWER));
}

static void test_results_retry_past_campaign_end_closes_expired(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "now() + interval '200 milliseconds'");
    long long k = make_contact(camp, 1);
    st_result r = result(camp, k, 1, O(NO_ANSWER)); /* delay 1 s */
    st_apply_info info;
    assert_int_equal(apply(&r, &info), ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 1);
    assert_int_equal(info.outcome, O(EXPIRED));
    char *st = q_text("SELECT state || ' ' || outcome FROM contacts WHERE id = %lld", k);
    assert_string_equal(st, "closed EXPIRED");
    free(st);
}

/* ---- calling window and local day, by the business clock ---- */

static long long next_attempt_ms(long long contact)
{
    return st_test_next_attempt_ms(fx.d.check, contact);
}

/* A New York campaign open 09:00-20:00 every day. */
static long long make_ny_campaign(long long strategy_id)
{
    long long camp = make_campaign(strategy_id, "NULL");
    PQclear(q(
        "UPDATE campaigns SET time_zone = 'America/New_York', call_window = " ST_TEST_WINDOW_9_TO_20
        " WHERE id = %lld",
        camp));
    return camp;
}

static void test_results_retry_due_at_22_lands_at_next_window_opening(void **state)
{
    (void)state;
    NEED_DB();
    setenv("ECM_CLOCK_FIXED", "2026-03-04T21:59:59-05:00", 1);
    long long camp = make_ny_campaign(make_strategy(5));
    long long k = make_contact(camp, 1);
    PQclear(q("UPDATE contacts SET time_zone = 'America/New_York' WHERE id = %lld", k));
    st_result r = result(camp, k, 1, O(NO_ANSWER)); /* delay 1 s: 22:00 */
    st_apply_info info;
    char reason[256];
    assert_int_equal(st_results_apply(fx.d.pg, &fx.wctx, &r, &info, reason, sizeof(reason)),
                     ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 0);
    assert_int_equal(info.next_attempt_at_ms, ecm_test_time_ms("2026-03-05T09:00:00-05:00"));
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-05T09:00:00-05:00"));
}

static void test_results_retry_uses_the_numbers_zone_without_contact_zone(void **state)
{
    (void)state;
    NEED_DB();
    /* open in New York (12:59), 22:59 in Karachi */
    setenv("ECM_CLOCK_FIXED", "2026-03-05T22:59:59+05:00", 1);
    long long camp = make_ny_campaign(make_strategy(5));
    long long k = make_contact(camp, 1);
    PQclear(
        q("UPDATE contacts SET phone_zones = '{Asia/Karachi,Asia/Karachi}' WHERE id = %lld", k));
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    char reason[256];
    assert_int_equal(st_results_apply(fx.d.pg, &fx.wctx, &r, NULL, reason, sizeof(reason)),
                     ST_APPLY_DECIDED);
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-06T09:00:00+05:00"));
}

static void test_results_retry_inside_window_keeps_the_delay(void **state)
{
    (void)state;
    NEED_DB();
    setenv("ECM_CLOCK_FIXED", "2026-03-04T12:00:00-05:00", 1);
    long long camp = make_ny_campaign(make_strategy(5));
    long long k = make_contact(camp, 1);
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    char reason[256];
    assert_int_equal(st_results_apply(fx.d.pg, &fx.wctx, &r, NULL, reason, sizeof(reason)),
                     ST_APPLY_DECIDED);
    /* the business clock, not the database's now() */
    assert_int_equal(next_attempt_ms(k), ecm_test_time_ms("2026-03-04T12:00:01-05:00"));
}

/* Contact k with two earlier counted attempts of its own on phone 1, both
 * dispatched (business time) at the given instants, the second current. */
static long long contact_with_dispatches(long long camp, const char *first, const char *second)
{
    long long k = make_contact(camp, 2);
    PQclear(q("UPDATE contacts SET time_zone = 'America/New_York', counted_attempts = 1"
              " WHERE id = %lld",
              k));
    PQclear(q("UPDATE attempts SET dispatched_at = '%s', status = 'done', outcome = 'BUSY'"
              " WHERE contact_id = %lld AND attempt = 1",
              first, k));
    PQclear(q("UPDATE attempts SET dispatched_at = '%s' WHERE contact_id = %lld AND attempt = 2",
              second, k));
    return k;
}

/* At 11:01 New York time on 2026-03-04, with at most two attempts a day: a
 * contact dispatched at first (withdrawn from the dialer undialled when
 * first_withdrawn) and at second answers NO_ANSWER on attempt 2. Returns
 * when its retry is due, in ms. */
static long long retry_ms_with_two_a_day(const char *first, const char *second, int first_withdrawn)
{
    setenv("ECM_CLOCK_FIXED", "2026-03-04T11:01:00-05:00", 1);
    long long strat = make_strategy(5);
    PQclear(q("UPDATE strategies SET max_attempts_per_day = 2 WHERE id = %lld", strat));
    long long camp = make_ny_campaign(strat);
    long long k = contact_with_dispatches(camp, first, second);
    if (first_withdrawn) {
        PQclear(q("UPDATE attempts SET status = 'withdrawn', outcome = NULL"
                  " WHERE contact_id = %lld AND attempt = 1",
                  k));
        PQclear(q("UPDATE contacts SET counted_attempts = 0 WHERE id = %lld", k));
    }
    st_result r = result(camp, k, 2, O(NO_ANSWER));
    char reason[256];
    assert_int_equal(st_results_apply(fx.d.pg, &fx.wctx, &r, NULL, reason, sizeof(reason)),
                     ST_APPLY_DECIDED);
    return next_attempt_ms(k);
}

static void test_results_daily_cap_reached_waits_for_next_local_morning(void **state)
{
    (void)state;
    NEED_DB();
    assert_int_equal(
        retry_ms_with_two_a_day("2026-03-04T10:00:00-05:00", "2026-03-04T11:00:00-05:00", 0),
        ecm_test_time_ms("2026-03-05T09:00:00-05:00"));
}

static void test_results_daily_cap_does_not_count_yesterdays_late_call(void **state)
{
    (void)state;
    NEED_DB();
    /* 19:30 yesterday is within 24 h but on another local day */
    assert_int_equal(
        retry_ms_with_two_a_day("2026-03-03T19:30:00-05:00", "2026-03-04T11:00:00-05:00", 0),
        ecm_test_time_ms("2026-03-04T11:01:01-05:00"));
}

/* An attempt the feeder took back from the dialer before it was dialled
 * (a pause) was no call: the day's cap does not count it (it kept a
 * contact waiting for the next morning after a pause and resume). */
static void test_results_daily_cap_does_not_count_a_withdrawn_attempt(void **state)
{
    (void)state;
    NEED_DB();
    assert_int_equal(
        retry_ms_with_two_a_day("2026-03-04T10:00:00-05:00", "2026-03-04T11:00:00-05:00", 1),
        ecm_test_time_ms("2026-03-04T11:01:01-05:00"));
}

static void test_results_no_opening_before_end_at_closes_expired(void **state)
{
    (void)state;
    NEED_DB();
    setenv("ECM_CLOCK_FIXED", "2026-03-04T21:59:59-05:00", 1);
    long long camp = make_ny_campaign(make_strategy(5));
    PQclear(q("UPDATE campaigns SET end_at = '2026-03-05T08:30:00-05:00' WHERE id = %lld", camp));
    long long k = make_contact(camp, 1);
    st_result r = result(camp, k, 1, O(NO_ANSWER));
    st_apply_info info;
    char reason[256];
    assert_int_equal(st_results_apply(fx.d.pg, &fx.wctx, &r, &info, reason, sizeof(reason)),
                     ST_APPLY_DECIDED);
    assert_int_equal(info.closed, 1);
    assert_int_equal(info.outcome, O(EXPIRED));
    char *st = q_text("SELECT state || ' ' || outcome FROM contacts WHERE id = %lld", k);
    assert_string_equal(st, "closed EXPIRED");
    free(st);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE topic = 'contacts.closed'"
                          " AND msg_key = '%lld'",
                          k),
                     1);
}

/* ---- decoding (no DB) ---- */

static const st_results_ctx decode_ctx = {
    "call.results", "sms.results", "contacts.closed", "/ecm/strategy", NULL, NULL, NULL};

static void test_decode_call_result(void **state)
{
    (void)state;
    Ecm__V1__CallResult m = ECM__V1__CALL_RESULT__INIT;
    m.event_id = "e1";
    m.campaign_id = 3;
    m.contact_id = 42;
    m.attempt = 2;
    m.call_result = 14;
    m.call_result_detail = 5;
    m.outcome = O(CALLBACK_REQUESTED);
    m.counts_as_attempt = 1;
    m.callback_at = 1700000000000;
    size_t len = 0;
    uint8_t *buf = ecm_event_pack(&m.base, &len);
    assert_non_null(buf);
    st_result r;
    char reason[128];
    assert_int_equal(
        st_results_decode(&decode_ctx, "call.results", buf, len, &r, reason, sizeof(reason)), 0);
    free(buf);
    assert_int_equal(r.contact_id, 42);
    assert_int_equal(r.campaign_id, 3);
    assert_int_equal(r.attempt, 2);
    assert_int_equal(r.outcome, O(CALLBACK_REQUESTED));
    assert_int_equal(r.counts_as_attempt, 1);
    assert_int_equal(r.callback_at_ms, 1700000000000);
    assert_int_equal(r.raw_code, 14);
    assert_int_equal(r.raw_detail, 5);
    assert_true(r.has_raw_detail);
    assert_string_equal(r.event_id, "e1");
}

static void test_decode_sms_result_counts_as_attempt(void **state)
{
    (void)state;
    Ecm__V1__SmsResult m = ECM__V1__SMS_RESULT__INIT;
    m.contact_id = 7;
    m.attempt = 1;
    m.outcome = O(SMS_UNDELIVERED);
    m.gateway_status = 2;
    size_t len = 0;
    uint8_t *buf = ecm_event_pack(&m.base, &len);
    st_result r;
    char reason[128];
    assert_int_equal(
        st_results_decode(&decode_ctx, "sms.results", buf, len, &r, reason, sizeof(reason)), 0);
    free(buf);
    assert_int_equal(r.contact_id, 7);
    assert_int_equal(r.outcome, O(SMS_UNDELIVERED));
    assert_int_equal(r.counts_as_attempt, 1);
    assert_int_equal(r.raw_code, 2);
    assert_false(r.has_raw_detail);
}

static void test_decode_garbage_bytes_fails_with_reason(void **state)
{
    (void)state;
    const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    st_result r;
    char reason[128] = "";
    assert_int_equal(st_results_decode(&decode_ctx, "call.results", junk, sizeof(junk), &r, reason,
                                       sizeof(reason)),
                     -1);
    assert_true(strlen(reason) > 0);
}

static void test_decode_result_without_attempt_fails(void **state)
{
    (void)state;
    Ecm__V1__CallResult m = ECM__V1__CALL_RESULT__INIT;
    m.contact_id = 42;
    size_t len = 0;
    uint8_t *buf = ecm_event_pack(&m.base, &len);
    st_result r;
    char reason[128] = "";
    assert_int_equal(
        st_results_decode(&decode_ctx, "call.results", buf, len, &r, reason, sizeof(reason)), -1);
    free(buf);
    assert_true(strlen(reason) > 0);
}

static void test_decode_unknown_topic_fails(void **state)
{
    (void)state;
    st_result r;
    char reason[128] = "";
    assert_int_equal(
        st_results_decode(&decode_ctx, "other.topic", "", 0, &r, reason, sizeof(reason)), -1);
    assert_true(strlen(reason) > 0);
}

static void test_results_batch_applies_each_once_and_rejects_unknown(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long a = make_contact(camp, 1);
    long long b = make_contact(camp, 1);
    st_result rs[4] = {
        result(camp, a, 1, O(CONNECTED)),
        result(camp, b, 2, O(NO_ANSWER)), /* b has no attempt 2 */
        result(camp, a, 1, O(NO_ANSWER)), /* same attempt again in the batch */
        result(camp, b, 1, O(NO_ANSWER)),
    };
    st_apply_status st[4];
    char reasons[4][ST_REASON_MAX];
    assert_int_equal(st_results_apply_batch(fx.d.pg, &fx.rctx, rs, 4, st, reasons), 0);
    assert_int_equal(st[0], ST_APPLY_DECIDED);
    assert_int_equal(st[1], ST_APPLY_REJECT);
    assert_string_equal(reasons[1], "unknown attempt");
    assert_int_equal(st[2], ST_APPLY_DUPLICATE);
    assert_int_equal(st[3], ST_APPLY_DECIDED);

    char *sa = q_text("SELECT state || ' ' || outcome FROM contacts WHERE id = %lld", a);
    assert_string_equal(sa, "closed CONNECTED");
    free(sa);
    char *sb = q_text("SELECT state FROM contacts WHERE id = %lld", b);
    assert_string_equal(sb, "waiting");
    free(sb);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE msg_key = '%lld'", a), 1);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE msg_key = '%lld'", b), 0);

    /* The whole batch redelivered: nothing changes. */
    assert_int_equal(st_results_apply_batch(fx.d.pg, &fx.rctx, rs, 4, st, reasons), 0);
    assert_int_equal(st[0], ST_APPLY_DUPLICATE);
    assert_int_equal(st[2], ST_APPLY_DUPLICATE);
    assert_int_equal(st[3], ST_APPLY_DUPLICATE);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE msg_key = '%lld'", a), 1);
}

/* The round's statements keep one plan each whatever the batch's size:
 * with PostgreSQL's automatic choice, batches of two results (the sms
 * service at its default 100 msg/s) had them planned again at every call
 * (8.6 s of planning in a 20,000-message run, more than their execution).
 * Checked on a connection of its own, as a lane of the service has. */
static void test_results_small_batches_keep_generic_plans(void **state)
{
    (void)state;
    NEED_DB();
    ecm_pg *pg = ecm_pg_new(fx.d.db->dsn, NULL);
    assert_non_null(pg);
    ecm_pg_set_prepare(pg, 1);
    long long camp = make_campaign(make_strategy(5), "NULL");
    for (int i = 0; i < 8; i++) {
        long long a = make_contact(camp, 1);
        long long b = make_contact(camp, 1);
        st_result rs[2] = {result(camp, a, 1, O(CONNECTED)), result(camp, b, 1, O(NO_ANSWER))};
        st_apply_status st[2];
        char reasons[2][ST_REASON_MAX];
        assert_int_equal(st_results_apply_batch(pg, &fx.rctx, rs, 2, st, reasons), 0);
        assert_int_equal(st[0], ST_APPLY_DECIDED);
        assert_int_equal(st[1], ST_APPLY_DECIDED);
    }
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT count(*), coalesce(sum(custom_plans), 0),"
                              " coalesce(sum(generic_plans), 0) FROM pg_prepared_statements"
                              " WHERE statement NOT LIKE '%pg_prepared_statements%'",
                              0, NULL);
    assert_non_null(r);
    long long statements = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    long long custom = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    long long generic = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    ecm_pg_destroy(pg);
    /* The contacts' and attempts' locks, the record, the decision's writes. */
    assert_true(statements >= 4);
    if (custom != 0)
        fail_msg("%lld custom plans of %lld statements in 8 batches", custom, statements);
    assert_true(generic >= 8 * 4);
}

/* Two identical sets of contacts, one given its results one at a time and
 * the other the same results in one batch (set-based rounds): every
 * contact ends the same, with as many ContactClosed events. */
static void test_results_batch_decides_as_one_at_a_time(void **state)
{
    (void)state;
    NEED_DB();
    static const struct {
        int attempts, earlier_no_answer, attempt;
        Ecm__V1__Outcome outcome;
    } cases[] = {
        {1, 0, 1, O(CONNECTED)},     {1, 0, 1, O(NO_ANSWER)},
        {3, 2, 3, O(NO_ANSWER)}, /* the third NO_ANSWER: the rule's cap closes */
        {2, 1, 2, O(NO_ANSWER)},     {1, 0, 1, O(INVALID_NUMBER)}, /* retried on the next number */
        {1, 0, 1, O(NOT_ATTEMPTED)}, {2, 0, 1, O(NO_ANSWER)}, /* an older attempt: recorded only */
        {1, 0, 1, O(BUSY)},                                   /* no rule for it */
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    long long strat = make_strategy(5);
    long long ids[2][N];
    st_result rs[2][N];
    for (int set = 0; set < 2; set++) {
        long long camp = make_campaign(strat, "NULL");
        for (int i = 0; i < N; i++) {
            ids[set][i] = make_contact(camp, cases[i].attempts);
            PQclear(q("UPDATE attempts SET outcome = 'NO_ANSWER', status = 'done'"
                      " WHERE contact_id = %lld AND attempt <= %d",
                      ids[set][i], cases[i].earlier_no_answer));
            rs[set][i] = result(camp, ids[set][i], cases[i].attempt, cases[i].outcome);
        }
    }
    for (int i = 0; i < N; i++)
        assert_true(apply(&rs[0][i], NULL) != ST_APPLY_DB_ERROR);
    st_apply_status st[N];
    char reasons[N][ST_REASON_MAX];
    assert_int_equal(st_results_apply_batch(fx.d.pg, &fx.rctx, rs[1], N, st, reasons), 0);

    static const char contact_sql[] =
        "SELECT state || ' ' || coalesce(outcome, '-') || ' ' || counted_attempts || ' ' ||"
        " phone_index || ' ' || (next_attempt_at IS NULL)"
        " || ' ' || (SELECT string_agg(coalesce(outcome, '-'), ',' ORDER BY attempt)"
        "  FROM attempts WHERE contact_id = %lld)"
        " || ' ' || (SELECT count(*) FROM outbox WHERE msg_key = '%lld')"
        " FROM contacts WHERE id = %lld";
    for (int i = 0; i < N; i++) {
        char *one = q_text(contact_sql, ids[0][i], ids[0][i], ids[0][i]);
        char *batch = q_text(contact_sql, ids[1][i], ids[1][i], ids[1][i]);
        assert_string_equal(one, batch);
        free(one);
        free(batch);
        /* retry times a few seconds apart at most (each path's own now) */
        assert_true(q_ll("SELECT coalesce(abs(extract(epoch FROM a.next_attempt_at"
                         " - b.next_attempt_at)), 0)::int FROM contacts a, contacts b"
                         " WHERE a.id = %lld AND b.id = %lld",
                         ids[0][i], ids[1][i]) <= 2);
    }
    char *capped =
        q_text("SELECT state || ' ' || outcome FROM contacts WHERE id = %lld", ids[1][2]);
    assert_string_equal(capped, "closed NO_ANSWER");
    free(capped);
    assert_int_equal(q_ll("SELECT phone_index FROM contacts WHERE id = %lld", ids[1][4]), 1);
    assert_int_equal(st[6], ST_APPLY_RECORDED);
}

static void test_results_batch_db_error_rolls_back_everything(void **state)
{
    (void)state;
    NEED_DB();
    long long camp = make_campaign(make_strategy(5), "NULL");
    long long a = make_contact(camp, 1);
    long long b = make_contact(camp, 1);
    st_result rs[2] = {result(camp, a, 1, O(CONNECTED)), result(camp, b, 1, O(NO_ANSWER))};
    /* A result time past timestamptz's range makes the second one fail. */
    rs[1].result_at_ms = INT64_MAX / 2;
    st_apply_status st[2];
    char reasons[2][ST_REASON_MAX];
    assert_int_equal(st_results_apply_batch(fx.d.pg, &fx.rctx, rs, 2, st, reasons), -1);
    char *sa = q_text("SELECT state FROM contacts WHERE id = %lld", a);
    assert_string_equal(sa, "dispatched");
    free(sa);
    assert_int_equal(q_ll("SELECT count(*) FROM outbox WHERE msg_key = '%lld'", a), 0);
    assert_int_equal(
        q_ll("SELECT count(*) FROM attempts WHERE contact_id = %lld AND outcome IS NULL", a), 1);
    /* The connection is usable again for the one-at-a-time path. */
    assert_int_equal(apply(&rs[0], NULL), ST_APPLY_DECIDED);
}

#define DB_TEST(t) cmocka_unit_test_teardown(t, retire_campaigns)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_call_result),
        cmocka_unit_test(test_decode_sms_result_counts_as_attempt),
        cmocka_unit_test(test_decode_garbage_bytes_fails_with_reason),
        cmocka_unit_test(test_decode_result_without_attempt_fails),
        cmocka_unit_test(test_decode_unknown_topic_fails),
        DB_TEST(test_results_retry_outcome_sets_contact_waiting),
        DB_TEST(test_results_redelivered_result_changes_nothing),
        DB_TEST(test_sched_tick_emits_exactly_one_contact_retry),
        DB_TEST(test_sched_skips_due_contacts_of_paused_campaigns),
        DB_TEST(test_results_connected_closes_with_one_contact_closed),
        DB_TEST(test_sched_completes_campaign_when_last_contact_closes),
        DB_TEST(test_sched_never_completes_campaign_without_contacts),
        DB_TEST(test_sched_never_completes_campaign_with_an_open_contact),
        DB_TEST(test_results_unknown_attempt_is_rejected),
        DB_TEST(test_results_older_attempt_is_only_recorded),
        DB_TEST(test_results_not_attempted_does_not_count),
        DB_TEST(test_results_withdrawn_attempt_result_decides_queued_contact),
        DB_TEST(test_results_withdrawn_attempt_late_result_counts_once),
        DB_TEST(test_results_next_phone_rule_moves_phone_index),
        DB_TEST(test_results_strategy_max_attempts_closes_with_last_outcome),
        DB_TEST(test_results_rule_max_counts_earlier_attempts_with_outcome),
        DB_TEST(test_results_retry_past_campaign_end_closes_expired),
        DB_TEST(test_results_retry_due_at_22_lands_at_next_window_opening),
        DB_TEST(test_results_retry_uses_the_numbers_zone_without_contact_zone),
        DB_TEST(test_results_retry_inside_window_keeps_the_delay),
        DB_TEST(test_results_daily_cap_reached_waits_for_next_local_morning),
        DB_TEST(test_results_daily_cap_does_not_count_yesterdays_late_call),
        DB_TEST(test_results_daily_cap_does_not_count_a_withdrawn_attempt),
        DB_TEST(test_results_no_opening_before_end_at_closes_expired),
        DB_TEST(test_results_batch_applies_each_once_and_rejects_unknown),
        DB_TEST(test_results_batch_decides_as_one_at_a_time),
        DB_TEST(test_results_small_batches_keep_generic_plans),
        DB_TEST(test_results_batch_db_error_rolls_back_everything),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* ecm_recycle against PostgreSQL: which closed contacts a recycle matches
 * (outcome, the age boundary to the millisecond by the last attempt's
 * outcome_at or else closed_at, max_rounds, other campaigns untouched, DNC
 * refused), that a dry run counts what a run then re-opens, what a re-open
 * writes, a completed campaign going back to active with a CampaignChanged,
 * ContactsRecycled batches of 20,000, and two concurrent runs never
 * re-opening a contact twice; a campaign past its end_at refused. Plus the
 * pure checks (outcomes, ages). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_recycle.h"
#include "ecm_test_support.h"

#define DAY_MS (86400LL * 1000)
/* The business "now" of every run here: 2026-03-10T12:00:00Z. */
#define NOW_MS 1773144000000LL

typedef struct {
    ecm_test_db *db;
    PGconn *check;
    ecm_pg *pg;
    volatile sig_atomic_t stop;
} fixture;

static fixture fx;

static const ecm_recycle_actor ACTOR = {
    .actor = "tester",
    .actor_key_id = "00000000000000aa",
    .source = "/ecm/test",
    .topic_recycled = "contacts.recycled",
    .topic_campaigns = "campaigns.changed",
};

static long long campaign(const char *state)
{
    return ecm_test_pg_int(fx.check,
                           "INSERT INTO campaigns (name, channel, strategy_id, cisco_kind,"
                           " cisco_campaign_id, state) SELECT 'r', 'voice_ivr', id, 'uccx', '1',"
                           " '%s' FROM strategies WHERE name = 'Default' RETURNING id",
                           state);
}

/* A closed contact with outcome and `attempts` attempts, the last one's
 * outcome known at business instant outcome_ms (0: no attempts; the contact
 * then closed at closed_ms). */
static long long closed_contact(long long camp, const char *outcome, int attempts,
                                long long outcome_ms, long long closed_ms)
{
    long long id = ecm_test_pg_int(
        fx.check,
        "INSERT INTO contacts (campaign_id, phones, state, outcome, attempts, counted_attempts,"
        " phone_index, closed_at, channel, channel_note, hold_reason, next_attempt_at)"
        " VALUES (%lld, '{+12125550100,+12125550101}', 'closed', '%s', %d, %d, 1,"
        " 'epoch'::timestamptz + %lld * interval '1 millisecond', 'sms', 'a note', 'window',"
        " now()) RETURNING id",
        camp, outcome, attempts, attempts, closed_ms);
    for (int a = 1; a <= attempts; a++)
        ecm_test_pg_exec(fx.check,
                         "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone,"
                         " account_number, status, outcome, outcome_at) VALUES (%lld, %d, %lld,"
                         " 'voice_ivr', '+12125550100', '%lld-%d', 'done', '%s',"
                         " 'epoch'::timestamptz + %lld * interval '1 millisecond')",
                         id, a, camp, id, a, outcome,
                         a == attempts ? outcome_ms : outcome_ms - DAY_MS);
    return id;
}

static ecm_recycle_select sel_of(long long camp, const char *const *outcomes, size_t n,
                                 long long older_than_s, int max_rounds)
{
    return (ecm_recycle_select){.campaign_id = camp,
                                .outcomes = outcomes,
                                .n_outcomes = n,
                                .older_than_s = older_than_s,
                                .max_rounds = max_rounds,
                                .now_ms = NOW_MS};
}

static char *contact_state(long long id)
{
    return ecm_test_pg_text(fx.check, "SELECT state FROM contacts WHERE id = %lld", id);
}

static void assert_state(long long id, const char *want)
{
    char *got = contact_state(id);
    if (strcmp(got, want) != 0)
        fail_msg("contact %lld is %s, expected %s", id, got, want);
    free(got);
}

/* Runs sel in a transaction of its own on fx.pg and commits. */
static ecm_recycle_status run_committed(const ecm_recycle_select *sel, ecm_recycle_result *out)
{
    char reason[200] = "";
    assert_int_equal(ecm_pg_begin(fx.pg), 0);
    ecm_recycle_status st = ecm_recycle_run(fx.pg, sel, &ACTOR, out, reason, sizeof(reason));
    if (st == ECM_RECYCLE_OK)
        assert_int_equal(ecm_pg_commit(fx.pg), 0);
    else
        ecm_pg_rollback(fx.pg);
    return st;
}

/* ---- pure checks ---------------------------------------------------------- */

static void test_recycle_check_refuses_dnc_unknown_and_empty(void **state)
{
    (void)state;
    char field[32], reason[160];
    const char *dnc[] = {"NO_ANSWER", "DNC"};
    ecm_recycle_select s = sel_of(1, dnc, 2, 0, 0);
    assert_int_equal(ecm_recycle_check(&s, field, sizeof field, reason, sizeof reason), -1);
    assert_string_equal(field, "outcomes");
    assert_non_null(strstr(reason, "DNC"));
    const char *unknown[] = {"NOPE"};
    s = sel_of(1, unknown, 1, 0, 0);
    assert_int_equal(ecm_recycle_check(&s, field, sizeof field, reason, sizeof reason), -1);
    assert_non_null(strstr(reason, "NOPE"));
    const char *unspecified[] = {"UNSPECIFIED"};
    s = sel_of(1, unspecified, 1, 0, 0);
    assert_int_equal(ecm_recycle_check(&s, field, sizeof field, reason, sizeof reason), -1);
    s = sel_of(1, unknown, 0, 0, 0);
    assert_int_equal(ecm_recycle_check(&s, field, sizeof field, reason, sizeof reason), -1);
    const char *twice[] = {"BUSY", "BUSY"};
    s = sel_of(1, twice, 2, 0, 0);
    assert_int_equal(ecm_recycle_check(&s, field, sizeof field, reason, sizeof reason), -1);
    const char *ok[] = {"NO_ANSWER", "BUSY"};
    s = sel_of(1, ok, 2, -1, 0);
    assert_int_equal(ecm_recycle_check(&s, field, sizeof field, reason, sizeof reason), -1);
    assert_string_equal(field, "older_than");
    s = sel_of(1, ok, 2, 0, -1);
    assert_int_equal(ecm_recycle_check(&s, field, sizeof field, reason, sizeof reason), -1);
    assert_string_equal(field, "max_rounds");
    s = sel_of(1, ok, 2, 3 * 86400, 2);
    assert_int_equal(ecm_recycle_check(&s, field, sizeof field, reason, sizeof reason), 0);
}

static void test_recycle_parse_age_takes_one_unit(void **state)
{
    (void)state;
    int64_t s = -1;
    assert_int_equal(ecm_recycle_parse_age("3d", &s), 0);
    assert_int_equal(s, 3 * 86400);
    assert_int_equal(ecm_recycle_parse_age("72h", &s), 0);
    assert_int_equal(s, 72 * 3600);
    assert_int_equal(ecm_recycle_parse_age("90m", &s), 0);
    assert_int_equal(s, 5400);
    assert_int_equal(ecm_recycle_parse_age("0s", &s), 0);
    assert_int_equal(s, 0);
    const char *bad[] = {"", "3", "d", "-3d", "3 d", "3dd", "3w", "1.5d", "99999999999d", " 3d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ecm_recycle_parse_age(bad[i], &s) == 0)
            fail_msg("'%s' was read as %lld s", bad[i], (long long)s);
    }
    char buf[32];
    assert_string_equal(ecm_recycle_format_age(3 * 86400, buf, sizeof buf), "3d");
    assert_string_equal(ecm_recycle_format_age(36 * 3600, buf, sizeof buf), "36h");
    assert_string_equal(ecm_recycle_format_age(90, buf, sizeof buf), "90s");
    assert_string_equal(ecm_recycle_format_age(0, buf, sizeof buf), "0s");
}

/* ---- against the DB ------------------------------------------------------- */

static void test_recycle_matches_outcome_age_rounds_and_campaign(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    long long camp = campaign("active"), other = campaign("active");
    long long edge = closed_contact(camp, "NO_ANSWER", 2, NOW_MS - 3 * DAY_MS, NOW_MS);
    long long young = closed_contact(camp, "NO_ANSWER", 2, NOW_MS - 3 * DAY_MS + 1, 0);
    long long busy = closed_contact(camp, "BUSY", 1, NOW_MS - 4 * DAY_MS, 0);
    long long connected = closed_contact(camp, "CONNECTED", 1, NOW_MS - 9 * DAY_MS, 0);
    long long no_attempt = closed_contact(camp, "NO_ANSWER", 0, 0, NOW_MS - 5 * DAY_MS);
    long long dnc = closed_contact(camp, "DNC", 0, 0, NOW_MS - 9 * DAY_MS);
    long long again = closed_contact(camp, "NO_ANSWER", 1, NOW_MS - 9 * DAY_MS, 0);
    ecm_test_pg_exec(fx.check, "UPDATE contacts SET recycled = 1 WHERE id = %lld", again);
    long long elsewhere = closed_contact(other, "NO_ANSWER", 1, NOW_MS - 9 * DAY_MS, 0);
    long long open = ecm_test_pg_int(fx.check,
                                     "INSERT INTO contacts (campaign_id, phones, state, outcome)"
                                     " VALUES (%lld, '{+12125550199}', 'waiting', 'NO_ANSWER')"
                                     " RETURNING id",
                                     camp);

    const char *outcomes[] = {"NO_ANSWER", "BUSY"};
    ecm_recycle_select sel = sel_of(camp, outcomes, 2, 3 * 86400, 1);
    ecm_recycle_result dry;
    char reason[200];
    assert_int_equal(ecm_recycle_count(fx.pg, &sel, &dry, reason, sizeof reason), ECM_RECYCLE_OK);
    assert_int_equal(dry.total, 3);
    assert_int_equal(dry.n, 2);
    assert_string_equal(dry.by_outcome[0].outcome, "NO_ANSWER");
    assert_int_equal(dry.by_outcome[0].contacts, 2);
    assert_string_equal(dry.by_outcome[1].outcome, "BUSY");
    assert_int_equal(dry.by_outcome[1].contacts, 1);
    assert_string_equal(dry.campaign_state, "active");
    assert_int_equal(ecm_test_pg_int(fx.check,
                                     "SELECT count(*) FROM contacts WHERE campaign_id = %lld"
                                     " AND state = 'closed'",
                                     camp),
                     7); /* the dry run changed nothing */

    ecm_recycle_result run;
    assert_int_equal(run_committed(&sel, &run), ECM_RECYCLE_OK);
    assert_int_equal(run.total, dry.total);
    assert_int_equal(run.by_outcome[0].contacts, 2);
    assert_int_equal(run.by_outcome[1].contacts, 1);
    assert_true(run.recycle_id > 0);
    assert_state(edge, "queued");
    assert_state(busy, "queued");
    assert_state(no_attempt, "queued");
    assert_state(young, "closed");
    assert_state(connected, "closed");
    assert_state(dnc, "closed");
    assert_state(again, "closed");
    assert_state(elsewhere, "closed");
    assert_state(open, "waiting");
    /* Its log row says who, what and how many, at the business instant. */
    char *row = ecm_test_pg_text(
        fx.check,
        "SELECT actor || ' ' || actor_key_id || ' ' || array_to_string(outcomes, ',') || ' ' ||"
        " older_than_s || ' ' || max_rounds || ' ' || contacts || ' ' ||"
        " (extract(epoch FROM at) * 1000)::bigint FROM recycles WHERE id = %lld",
        (long long)run.recycle_id);
    char want[200];
    snprintf(want, sizeof want, "tester 00000000000000aa NO_ANSWER,BUSY 259200 1 3 %lld", NOW_MS);
    assert_string_equal(row, want);
    free(row);
    /* Nothing left to match: a second run re-opens nothing. */
    assert_int_equal(run_committed(&sel, &run), ECM_RECYCLE_OK);
    assert_int_equal(run.total, 0);
}

static void test_recycle_reopen_keeps_history_and_starts_a_round(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    long long camp = campaign("active");
    long long k = closed_contact(camp, "NO_ANSWER", 3, NOW_MS - 5 * DAY_MS, 0);
    ecm_test_pg_exec(fx.check, "UPDATE contacts SET callback_at = now() WHERE id = %lld", k);
    const char *outcomes[] = {"NO_ANSWER"};
    ecm_recycle_select sel = sel_of(camp, outcomes, 1, 86400, 0);
    ecm_recycle_result run;
    assert_int_equal(run_committed(&sel, &run), ECM_RECYCLE_OK);
    assert_int_equal(run.total, 1);
    char *row = ecm_test_pg_text(
        fx.check,
        "SELECT concat_ws(' ', state, coalesce(outcome, '-'), coalesce(closed_at::text, '-'),"
        " coalesce(next_attempt_at::text, '-'), coalesce(hold_reason, '-'),"
        " coalesce(channel, '-'), coalesce(channel_note, '-'), coalesce(callback_at::text, '-'),"
        " attempts, counted_attempts, phone_index, round_first_attempt, recycled)"
        " FROM contacts WHERE id = %lld",
        k);
    assert_string_equal(row, "queued - - - - - - - 3 0 0 4 1");
    free(row);
    assert_int_equal(
        ecm_test_pg_int(fx.check, "SELECT count(*) FROM attempts WHERE contact_id = %lld", k), 3);
    /* A paused campaign stays paused; an active one emits no CampaignChanged. */
    assert_int_equal(ecm_test_pg_int(fx.check,
                                     "SELECT count(*) FROM outbox WHERE topic ="
                                     " 'campaigns.changed' AND msg_key = '%lld'",
                                     camp),
                     0);
    long long paused = campaign("paused");
    closed_contact(paused, "NO_ANSWER", 1, NOW_MS - 5 * DAY_MS, 0);
    sel.campaign_id = paused;
    assert_int_equal(run_committed(&sel, &run), ECM_RECYCLE_OK);
    assert_int_equal(run.total, 1);
    assert_string_equal(run.campaign_state_now, "paused");
    char *st = ecm_test_pg_text(fx.check, "SELECT state FROM campaigns WHERE id = %lld", paused);
    assert_string_equal(st, "paused");
    free(st);
}

static void test_recycle_completed_campaign_goes_back_to_active(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    long long camp = campaign("completed");
    long long a = closed_contact(camp, "NO_ANSWER", 1, NOW_MS - 5 * DAY_MS, 0);
    long long b = closed_contact(camp, "NO_ANSWER", 1, NOW_MS - 5 * DAY_MS, 0);
    const char *outcomes[] = {"NO_ANSWER"};
    ecm_recycle_select sel = sel_of(camp, outcomes, 1, 86400, 0);
    ecm_recycle_result run;
    assert_int_equal(run_committed(&sel, &run), ECM_RECYCLE_OK);
    assert_int_equal(run.total, 2);
    assert_string_equal(run.campaign_state, "completed");
    assert_string_equal(run.campaign_state_now, "active");
    char *st = ecm_test_pg_text(fx.check, "SELECT state FROM campaigns WHERE id = %lld", camp);
    assert_string_equal(st, "active");
    free(st);
    size_t len = 0;
    char ce_type[64];
    unsigned char *bytes =
        ecm_test_outbox_payload(fx.check, "campaigns.changed", camp, &len, ce_type, sizeof ce_type);
    Ecm__V1__CampaignChanged *cc = ecm__v1__campaign_changed__unpack(NULL, len, bytes);
    assert_non_null(cc);
    assert_string_equal(cc->state, "active");
    assert_string_equal(cc->previous_state, "completed");
    assert_string_equal(cc->actor, "tester");
    ecm__v1__campaign_changed__free_unpacked(cc, NULL);
    PQfreemem(bytes);
    bytes =
        ecm_test_outbox_payload(fx.check, "contacts.recycled", camp, &len, ce_type, sizeof ce_type);
    assert_string_equal(ce_type, "ecm.v1.ContactsRecycled");
    Ecm__V1__ContactsRecycled *ev = ecm__v1__contacts_recycled__unpack(NULL, len, bytes);
    assert_non_null(ev);
    assert_int_equal(ev->campaign_id, camp);
    assert_int_equal(ev->recycle_id, run.recycle_id);
    assert_int_equal(ev->n_contact_ids, 2);
    assert_int_equal(ev->contact_ids[0], a < b ? a : b);
    assert_int_equal(ev->contact_ids[1], a < b ? b : a);
    assert_int_equal(ev->n_outcomes, 1);
    assert_string_equal(ev->outcomes[0], "NO_ANSWER");
    assert_int_equal(ev->older_than_s, 86400);
    assert_int_equal(ev->batch, 1);
    assert_int_equal(ev->batches, 1);
    ecm__v1__contacts_recycled__free_unpacked(ev, NULL);
    PQfreemem(bytes);
}

static void test_recycle_refuses_draft_stopped_expired_ended_and_missing(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    const char *outcomes[] = {"NO_ANSWER"};
    const char *states[] = {"draft", "stopped", "expired"};
    char reason[200];
    for (size_t i = 0; i < 3; i++) {
        long long camp = campaign(states[i]);
        long long k = closed_contact(camp, "NO_ANSWER", 1, NOW_MS - 5 * DAY_MS, 0);
        ecm_recycle_select sel = sel_of(camp, outcomes, 1, 0, 0);
        ecm_recycle_result out;
        assert_int_equal(ecm_recycle_count(fx.pg, &sel, &out, reason, sizeof reason),
                         ECM_RECYCLE_ERR_STATE);
        assert_non_null(strstr(reason, states[i]));
        assert_int_equal(run_committed(&sel, &out), ECM_RECYCLE_ERR_STATE);
        assert_state(k, "closed");
    }
    /* A completed campaign past its end would only expire again. */
    long long ended = campaign("completed");
    ecm_test_pg_exec(fx.check,
                     "UPDATE campaigns SET end_at = 'epoch'::timestamptz + %lld *"
                     " interval '1 millisecond' WHERE id = %lld",
                     NOW_MS, ended);
    long long late = closed_contact(ended, "NO_ANSWER", 1, NOW_MS - 5 * DAY_MS, 0);
    ecm_recycle_select past = sel_of(ended, outcomes, 1, 0, 0);
    ecm_recycle_result r;
    assert_int_equal(run_committed(&past, &r), ECM_RECYCLE_ERR_STATE);
    assert_state(late, "closed");
    ecm_test_pg_exec(fx.check,
                     "UPDATE campaigns SET end_at = end_at + interval '1 millisecond'"
                     " WHERE id = %lld",
                     ended);
    assert_int_equal(run_committed(&past, &r), ECM_RECYCLE_OK);
    assert_state(late, "queued");
    ecm_recycle_select sel = sel_of(999999999, outcomes, 1, 0, 0);
    ecm_recycle_result out;
    assert_int_equal(run_committed(&sel, &out), ECM_RECYCLE_ERR_NO_CAMPAIGN);
    const char *dnc[] = {"DNC"};
    long long camp = campaign("active");
    long long k = closed_contact(camp, "DNC", 0, 0, NOW_MS - 9 * DAY_MS);
    sel = sel_of(camp, dnc, 1, 0, 0);
    assert_int_equal(run_committed(&sel, &out), ECM_RECYCLE_ERR_INVALID);
    assert_state(k, "closed");
}

static void test_recycle_events_list_20000_contacts_each(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    long long camp = campaign("active");
    ecm_test_pg_exec(fx.check,
                     "INSERT INTO contacts (campaign_id, phones, state, outcome, closed_at)"
                     " SELECT %lld, '{+12125550100}', 'closed', 'BUSY',"
                     " 'epoch'::timestamptz + %lld * interval '1 millisecond'"
                     " FROM generate_series(1, 20001)",
                     camp, NOW_MS - 2 * DAY_MS);
    const char *outcomes[] = {"BUSY"};
    ecm_recycle_select sel = sel_of(camp, outcomes, 1, 86400, 0);
    ecm_recycle_result run;
    assert_int_equal(run_committed(&sel, &run), ECM_RECYCLE_OK);
    assert_int_equal(run.total, 20001);
    assert_int_equal(run.events, 2);
    PGresult *r = ecm_test_pg_query(fx.check,
                                    "SELECT payload FROM outbox WHERE topic = 'contacts.recycled'"
                                    " AND msg_key = '%lld' ORDER BY id",
                                    camp);
    assert_int_equal(PQntuples(r), 2);
    size_t sizes[2];
    long long last = 0;
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 0), &len);
        Ecm__V1__ContactsRecycled *ev = ecm__v1__contacts_recycled__unpack(NULL, len, bytes);
        assert_non_null(ev);
        sizes[i] = ev->n_contact_ids;
        assert_int_equal(ev->batch, i + 1);
        assert_int_equal(ev->batches, 2);
        for (size_t j = 0; j < ev->n_contact_ids; j++) {
            assert_true(ev->contact_ids[j] > last);
            last = ev->contact_ids[j];
        }
        ecm__v1__contacts_recycled__free_unpacked(ev, NULL);
        PQfreemem(bytes);
    }
    PQclear(r);
    assert_int_equal(sizes[0], 20000);
    assert_int_equal(sizes[1], 1);
}

/* The second run of the race: a transaction of its own on its own
 * connection, which blocks on the first run's campaign lock. */
typedef struct {
    const ecm_recycle_select *sel;
    ecm_recycle_status st;
    ecm_recycle_result out;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    volatile sig_atomic_t stop = 0;
    ecm_pg *pg = ecm_pg_new(fx.db->dsn, &stop);
    char reason[200];
    r->st = ECM_RECYCLE_ERR_DB;
    if (pg != NULL && ecm_pg_begin(pg) == 0) {
        r->st = ecm_recycle_run(pg, r->sel, &ACTOR, &r->out, reason, sizeof reason);
        if (r->st != ECM_RECYCLE_OK || ecm_pg_commit(pg) != 0) {
            ecm_pg_rollback(pg);
            r->st = ECM_RECYCLE_ERR_DB;
        }
    }
    ecm_pg_destroy(pg);
    return NULL;
}

static void test_recycle_two_concurrent_runs_reopen_each_contact_once(void **state)
{
    (void)state;
    ecm_test_need(fx.pg);
    long long camp = campaign("completed");
    for (int i = 0; i < 50; i++)
        closed_contact(camp, "NO_ANSWER", 1, NOW_MS - 5 * DAY_MS, 0);
    const char *outcomes[] = {"NO_ANSWER"};
    ecm_recycle_select sel = sel_of(camp, outcomes, 1, 86400, 0);
    ecm_recycle_result first;
    char reason[200];
    assert_int_equal(ecm_pg_begin(fx.pg), 0);
    assert_int_equal(ecm_recycle_run(fx.pg, &sel, &ACTOR, &first, reason, sizeof reason),
                     ECM_RECYCLE_OK);
    racer second = {.sel = &sel};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, race, &second), 0);
    /* Until the second run waits for the first one's lock (bounded). */
    int waiting = 0;
    for (int i = 0; i < 600 && !waiting; i++) {
        waiting = ecm_test_pg_int(fx.check, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                                            " current_database() AND wait_event_type = 'Lock'") > 0;
        if (!waiting)
            ecm_test_sleep_ms(50);
    }
    assert_true(waiting);
    assert_int_equal(ecm_pg_commit(fx.pg), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(second.st, ECM_RECYCLE_OK);
    assert_int_equal(first.total, 50);
    assert_int_equal(second.out.total, 0);
    assert_int_equal(ecm_test_pg_int(fx.check,
                                     "SELECT count(*) FROM contacts WHERE campaign_id = %lld"
                                     " AND state = 'queued' AND recycled = 1",
                                     camp),
                     50);
    assert_int_equal(ecm_test_pg_int(fx.check,
                                     "SELECT count(*) FROM outbox WHERE topic ="
                                     " 'campaigns.changed' AND msg_key = '%lld'",
                                     camp),
                     1);
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    if (!ecm_test_pg_dsn())
        return 0;
    ecm_test_log_init("test_recycle", ECM_LOG_ERROR);
    fx.db = ecm_test_db_new_migrated("ecm_recycle");
    fx.check = ecm_test_pg_connect(fx.db->dsn);
    fx.pg = ecm_pg_new(fx.db->dsn, &fx.stop);
    return fx.pg ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (!fx.db)
        return 0;
    ecm_pg_destroy(fx.pg);
    PQfinish(fx.check);
    (void)ecm_test_db_destroy(fx.db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recycle_check_refuses_dnc_unknown_and_empty),
        cmocka_unit_test(test_recycle_parse_age_takes_one_unit),
        cmocka_unit_test(test_recycle_matches_outcome_age_rounds_and_campaign),
        cmocka_unit_test(test_recycle_reopen_keeps_history_and_starts_a_round),
        cmocka_unit_test(test_recycle_completed_campaign_goes_back_to_active),
        cmocka_unit_test(test_recycle_refuses_draft_stopped_expired_ended_and_missing),
        cmocka_unit_test(test_recycle_events_list_20000_contacts_each),
        cmocka_unit_test(test_recycle_two_concurrent_runs_reopen_each_contact_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

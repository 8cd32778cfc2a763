/* Scaffolding shared by the strategy's tests (test_st_*.c): a scratch
 * database with the connection the code under test uses and the test's
 * own, the results context the service runs with, call results to apply,
 * and business times.
 *
 * Header-only and static inline for the reasons ecm_test_support.h gives;
 * helpers that "fail the running test" must be called from a test or a
 * cmocka setup or teardown function. */
#ifndef ST_TEST_SUPPORT_H
#define ST_TEST_SUPPORT_H

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"
#include "ecm_calling.h"
#include "st_results.h"
#include "st_sched.h"

/* A campaign window open 09:00-20:00 every day, as SQL text for
 * campaigns.call_window. */
#define ST_TEST_WINDOW_9_TO_20                                                                     \
    "'{\"mon\": [[\"09:00\", \"20:00\"]], \"tue\": [[\"09:00\", \"20:00\"]],"                      \
    " \"wed\": [[\"09:00\", \"20:00\"]], \"thu\": [[\"09:00\", \"20:00\"]],"                       \
    " \"fri\": [[\"09:00\", \"20:00\"]], \"sat\": [[\"09:00\", \"20:00\"]],"                       \
    " \"sun\": [[\"09:00\", \"20:00\"]]}'"

/* A migrated scratch database, the connection the code under test uses and
 * the test's own view of the same database. */
typedef struct {
    ecm_test_db *db;
    ecm_pg *pg;
    PGconn *check;
} st_test_db;

/* Fills t with a migrated scratch database named after prefix and its two
 * connections. Returns 0, or -1 when the code's connection fails; with
 * ECM_TEST_PG_DSN unset t stays zeroed and it returns 0 (the tests then skip
 * through ecm_test_need(t->pg)). Fails the running test on other errors. */
static inline int st_test_db_open(st_test_db *t, const char *prefix)
{
    if (ecm_test_pg_dsn() == NULL) {
        return 0;
    }
    t->db = ecm_test_db_new_migrated(prefix);
    t->pg = ecm_pg_new(t->db->dsn, NULL);
    t->check = ecm_test_pg_connect(t->db->dsn);
    return t->pg == NULL || ecm_pg_conn(t->pg) == NULL ? -1 : 0;
}

/* Closes both connections and drops the database; a zeroed t is a no-op. */
static inline void st_test_db_close(st_test_db *t)
{
    if (t->db == NULL) {
        return;
    }
    ecm_pg_destroy(t->pg);
    PQfinish(t->check);
    (void)ecm_test_db_destroy(t->db);
}

/* The results context with the topics and source the strategy runs with,
 * and no calling window (retries at now + delay) until the test sets
 * calling. */
static inline st_results_ctx st_test_results_ctx(void)
{
    st_results_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.topic_call_results = "call.results";
    ctx.topic_sms_results = "sms.results";
    ctx.topic_closed = "contacts.closed";
    ctx.source = "/ecm/strategy";
    return ctx;
}

/* The scheduler context with the topics, source and batch (100) the tests
 * run it with. */
static inline st_sched_ctx st_test_sched_ctx(void)
{
    st_sched_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.topic_retry = "contacts.retry";
    ctx.topic_campaigns = "campaigns.changed";
    ctx.topic_closed = "contacts.closed";
    ctx.source = "/ecm/strategy";
    ctx.batch = 100;
    return ctx;
}

/* A calling-window cache with the default legal hours (08:00-21:00), or
 * NULL when memory runs out; ecm_calling_cache_destroy() it. */
static inline ecm_calling_cache *st_test_calling_cache(void)
{
    ecm_legal_hours legal = {8 * 60, 21 * 60};
    return ecm_calling_cache_new(&legal);
}

/* What a strategy test group's setup does: the log at ERROR as name, the
 * scratch database d (see st_test_db_open) and the results context ctx,
 * with a calling-window cache when with_calling. Returns 0 (also when
 * ECM_TEST_PG_DSN is unset: d stays zeroed and the tests skip) or -1. */
static inline int st_test_group_open(const char *name, st_test_db *d, const char *prefix,
                                     st_results_ctx *ctx, int with_calling)
{
    ecm_test_log_init(name, ECM_LOG_ERROR);
    if (ecm_test_pg_dsn() == NULL) {
        return 0;
    }
    if (st_test_db_open(d, prefix) != 0) {
        return -1;
    }
    *ctx = st_test_results_ctx();
    if (with_calling) {
        ctx->calling = st_test_calling_cache();
        if (ctx->calling == NULL) {
            return -1;
        }
    }
    return 0;
}

/* Undoes st_test_group_open(): ctx's calling cache, if any, and d. */
static inline void st_test_group_close(st_test_db *d, st_results_ctx *ctx)
{
    if (d->db == NULL) {
        return;
    }
    if (ctx->calling != NULL) {
        ecm_calling_cache_destroy(ctx->calling);
        ctx->calling = NULL;
    }
    st_test_db_close(d);
}

/* A call result for attempt of contact_id, with event id number seq (unique
 * per test database), raw code 8, counted unless NOT_ATTEMPTED, at the
 * wall-clock now. Can't fail. */
static inline st_result st_test_result(int seq, long long campaign_id, long long contact_id,
                                       int attempt, Ecm__V1__Outcome outcome)
{
    st_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.event_id, sizeof(r.event_id), "00000000-0000-4000-8000-%012d", seq);
    r.campaign_id = campaign_id;
    r.contact_id = contact_id;
    r.attempt = attempt;
    r.outcome = outcome;
    r.counts_as_attempt = outcome != ECM__V1__OUTCOME__OUTCOME_NOT_ATTEMPTED;
    r.raw_code = 8;
    r.result_at_ms = ecm_clock_wall_ms();
    return r;
}

/* contacts.next_attempt_at of contact as ms since the epoch, read on check. */
static inline long long st_test_next_attempt_ms(PGconn *check, long long contact)
{
    return ecm_test_pg_int(check,
                           "SELECT floor(extract(epoch FROM next_attempt_at) * 1000)::bigint"
                           " FROM contacts WHERE id = %lld",
                           contact);
}

/* A strategy named after seq (unique per test database) of at most
 * max_attempts attempts (10 a day) with the rules the results tests decide
 * by: CONNECTED closes; NO_ANSWER retries after 1 s, 3 times; INVALID_NUMBER
 * moves to the next phone; NOT_ATTEMPTED retries at once, 5 times. Its id. */
static inline long long st_test_make_strategy(PGconn *check, int seq, int max_attempts)
{
    long long id =
        ecm_test_pg_int(check,
                        "INSERT INTO strategies (name, max_attempts, max_attempts_per_day)"
                        " VALUES ('test-%d', %d, 10) RETURNING id",
                        seq, max_attempts);
    PQclear(ecm_test_pg_query(
        check,
        "INSERT INTO strategy_rules"
        " (strategy_id, outcome, action, delay_seconds, max_attempts, next_phone) VALUES"
        " (%lld, 'CONNECTED', 'close', 0, 1, false),"
        " (%lld, 'NO_ANSWER', 'retry', 1, 3, false),"
        " (%lld, 'INVALID_NUMBER', 'retry', 0, 1, true),"
        " (%lld, 'NOT_ATTEMPTED', 'retry', 0, 5, false)",
        id, id, id, id));
    return id;
}

/* An active UCCX voice campaign named after seq, ending at end_at_sql (SQL:
 * "NULL" for never). Its id. */
static inline long long st_test_make_campaign(PGconn *check, int seq, long long strategy_id,
                                              const char *end_at_sql)
{
    return ecm_test_pg_int(check,
                           "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                           " cisco_campaign_id, end_at)"
                           " VALUES ('c-%d', 'voice_ivr', 'active', %lld, 'uccx', '7', %s)"
                           " RETURNING id",
                           seq, strategy_id, end_at_sql);
}

/* A dispatched contact with two phones on its attempt `attempts`, with a
 * sent attempts row for each attempt so far. Its id. */
static inline long long st_test_make_dispatched(PGconn *check, long long campaign_id, int attempts)
{
    long long id = ecm_test_pg_int(check,
                                   "INSERT INTO contacts (campaign_id, phones, state, attempts)"
                                   " VALUES (%lld, '{+15550100001,+15550100002}', 'dispatched', %d)"
                                   " RETURNING id",
                                   campaign_id, attempts);
    for (int a = 1; a <= attempts; a++)
        PQclear(ecm_test_pg_query(
            check,
            "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone,"
            " account_number, status, sent_at)"
            " VALUES (%lld, %d, %lld, 'voice_ivr', '+15550100001', '%lld-%d', 'sent', now())",
            id, a, campaign_id, id, a));
    return id;
}

#endif

/* The consent ledger (db/017, lib/rules/ecm_dnc) against a scratch
 * PostgreSQL database: the derivation of dnc from the ledger (latest entry
 * per channel wins, global vs campaign lists, grant after revoke, scope all
 * vs one channel, an older entry recorded late), ECM_DNC_BLOCKED_SQL,
 * closing contacts only on the channels an entry covers, the append-only
 * refusals, older writers' INSERT INTO dnc read as a revoke, and the
 * migration of dnc rows that exist when 017 runs. */
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_dnc.h"
#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"

typedef struct {
    ecm_test_db *db;
    ecm_pg *pg;
} fixture;

static PGconn *conn(fixture *f)
{
    return ecm_pg_conn(f->pg);
}

static int group_setup(void **state)
{
    *state = NULL;
    if (!ecm_test_pg_dsn())
        return 0;
    ecm_test_log_init("test_dnc_ledger", ECM_LOG_ERROR);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->db = ecm_test_db_new_migrated("ecm_dnc_ledger");
    f->pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(f->pg);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    ecm_pg_destroy(f->pg);
    (void)ecm_test_db_destroy(f->db);
    free(f);
    return 0;
}

static int test_setup(void **state)
{
    fixture *f = *state;
    if (f)
        ecm_test_pg_exec(conn(f), "TRUNCATE outbox, attempts, contacts, dnc, consent_ledger, "
                                  "campaigns RESTART IDENTITY CASCADE");
    return 0;
}

static long long campaign(fixture *f, const char *channel)
{
    int sms = strcmp(channel, "sms") == 0;
    return ecm_test_pg_int(conn(f),
                           "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind, "
                           "cisco_campaign_id, sms_template) "
                           "SELECT 'c', '%s', 'active', id, %s, %s, %s "
                           "FROM strategies WHERE name = 'Default' RETURNING id",
                           channel, sms ? "NULL" : "'uccx'", sms ? "NULL" : "'7'",
                           sms ? "'Hi'" : "NULL");
}

static long long contact(fixture *f, long long cid, const char *phones)
{
    return ecm_test_pg_int(conn(f),
                           "INSERT INTO contacts (campaign_id, phones, state) "
                           "VALUES (%lld, '%s', 'pending') RETURNING id",
                           cid, phones);
}

/* Appends an entry through ecm_dnc_record in its own transaction. */
static long long record(fixture *f, const char *phone, long long cid, const char *scope,
                        const char *action, const char *at)
{
    const ecm_dnc_entry e = {
        .phone = phone,
        .campaign_id = cid,
        .scope = scope,
        .action = action,
        .source = "api",
        .reason = "test",
        .actor = "test",
        .at_ms = ecm_test_time_ms(at),
    };
    assert_int_equal(ecm_pg_begin(f->pg), 0);
    long long id = ecm_dnc_record(f->pg, &e);
    assert_true(id > 0);
    assert_int_equal(ecm_pg_commit(f->pg), 0);
    return id;
}

/* The derived state of phone_key on a list: "voice,sms", "voice", "sms" or
 * "" (string_agg of dnc's channels, voice first). */
static void expect_state(fixture *f, const char *key, long long cid, const char *expected)
{
    char *got;
    char cids[24];
    snprintf(cids, sizeof cids, "%lld", cid);
    got = ecm_test_pg_text(conn(f),
                           "SELECT coalesce(string_agg(channel, ',' ORDER BY channel DESC), '') "
                           "FROM dnc WHERE phone_key = '%s' AND campaign_id IS NOT DISTINCT FROM "
                           "%s",
                           key, cid > 0 ? cids : "NULL::bigint");
    if (strcmp(got, expected) != 0)
        fail_msg("%s on list %lld: '%s', expected '%s'", key, cid, got, expected);
    free(got);
}

static void test_latest_entry_per_channel_wins(void **state)
{
    fixture *f = ecm_test_need(*state);
    const char *k = "12125550100";
    long long r1 = record(f, "+12125550100", 0, "all", "revoke", "2026-03-01T10:00:00Z");
    expect_state(f, k, 0, "voice,sms");
    assert_int_equal(
        ecm_test_pg_int(conn(f),
                        "SELECT count(*) FROM dnc WHERE ledger_id = %lld "
                        "AND source = 'api' AND reason = 'test' AND "
                        "created_at = (SELECT recorded_at FROM consent_ledger WHERE id = %lld)",
                        r1, r1),
        2);
    /* A grant of one channel after the revoke of all: that channel only. */
    record(f, "+12125550100", 0, "sms", "grant", "2026-03-02T10:00:00Z");
    expect_state(f, k, 0, "voice");
    /* A revoke of voice alone over a revoked voice: the row follows it. */
    long long r3 = record(f, "+12125550100", 0, "voice", "revoke", "2026-03-03T10:00:00Z");
    assert_int_equal(ecm_test_pg_int(conn(f),
                                     "SELECT ledger_id FROM dnc WHERE phone_key = '%s' "
                                     "AND channel = 'voice'",
                                     k),
                     r3);
    /* An entry recorded late with an older business time changes nothing:
     * the latest by time covering the channel decides. */
    record(f, "+12125550100", 0, "all", "grant", "2026-03-01T12:00:00Z");
    expect_state(f, k, 0, "voice");
    /* grant all after: both free; revoke all after: both listed again. */
    record(f, "+12125550100", 0, "all", "grant", "2026-03-04T10:00:00Z");
    expect_state(f, k, 0, "");
    record(f, "+1 (212) 555-0100", 0, "all", "revoke", "2026-03-05T10:00:00Z");
    expect_state(f, k, 0, "voice,sms");
    /* Same instant: the later entry (id) wins. */
    record(f, "+12125550100", 0, "voice", "grant", "2026-03-05T10:00:00Z");
    expect_state(f, k, 0, "sms");
    assert_int_equal(ecm_test_pg_int(conn(f), "SELECT count(*) FROM consent_ledger"), 7);
}

static void test_campaign_list_is_apart_from_the_global_one(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long voice = campaign(f, "voice_ivr"), sms = campaign(f, "sms");
    const char *k = "12125550101";
    record(f, "+12125550101", voice, "all", "revoke", "2026-03-01T10:00:00Z");
    expect_state(f, k, voice, "voice,sms");
    expect_state(f, k, 0, "");
    expect_state(f, k, sms, "");
    /* A global grant does not lift the campaign's revoke. */
    record(f, "+12125550101", 0, "all", "grant", "2026-03-02T10:00:00Z");
    expect_state(f, k, voice, "voice,sms");
    record(f, "+12125550101", 0, "voice", "revoke", "2026-03-03T10:00:00Z");
    expect_state(f, k, 0, "voice");

    /* ECM_DNC_BLOCKED_SQL: the campaign's list or the global one, on the
     * channel asked. */
    static const char SQL[] = "SELECT (" ECM_DNC_BLOCKED_SQL("$1", "$2::bigint", "$3") ")::int";
    static const struct {
        const char *phone;
        int voice_campaign; /* 1: voice, 0: sms */
        const char *channel;
        int blocked;
    } cases[] = {
        {"+12125550101", 1, "voice", 1}, {"+12125550101", 1, "sms", 1},
        {"+12125550101", 0, "voice", 1}, /* the global voice revoke */
        {"+12125550101", 0, "sms", 0},   {"12125550101", 0, "voice", 1},
        {"+12125550199", 1, "voice", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cid[24];
        snprintf(cid, sizeof cid, "%lld", cases[i].voice_campaign ? voice : sms);
        const char *p[] = {cases[i].phone, cid, cases[i].channel};
        PGresult *r = ecm_pg_exec(f->pg, SQL, 3, p);
        assert_non_null(r);
        int got = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if (got != cases[i].blocked)
            fail_msg("case %zu: %s campaign %s channel %s: %d", i, cases[i].phone, cid,
                     cases[i].channel, got);
    }
}

static char *contact_state(fixture *f, long long id)
{
    return ecm_test_pg_text(conn(f),
                            "SELECT state || '/' || coalesce(outcome, '-') FROM contacts "
                            "WHERE id = %lld",
                            id);
}

static void expect_contact(fixture *f, long long id, const char *expected)
{
    char *got = contact_state(f, id);
    if (strcmp(got, expected) != 0)
        fail_msg("contact %lld: %s, expected %s", id, got, expected);
    free(got);
}

static int close_blocked(fixture *f, const char *key, long long cid, const char *scope,
                         long long except)
{
    const char *keys[] = {key};
    assert_int_equal(ecm_pg_begin(f->pg), 0);
    int n = ecm_dnc_close_blocked_on(f->pg, keys, 1, cid, scope, except, "contacts.closed",
                                     "/ecm/test");
    assert_true(n >= 0);
    assert_int_equal(ecm_pg_commit(f->pg), 0);
    return n;
}

static void test_closing_follows_the_channels_revoked(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long voice = campaign(f, "voice_agent"), sms = campaign(f, "sms");
    long long v1 = contact(f, voice, "{+12125550102}");
    long long v2 = contact(f, voice, "{+12125550102}");
    long long s1 = contact(f, sms, "{+12125550102}");
    long long vtwo = contact(f, voice, "{+12125550102,+12125550103}");

    /* Voice revoked: the voice contacts go, the SMS one stays. */
    record(f, "+12125550102", 0, "voice", "revoke", "2026-03-01T10:00:00Z");
    assert_int_equal(close_blocked(f, "12125550102", 0, "voice", v2), 1);
    expect_contact(f, v1, "closed/DNC");
    expect_contact(f, v2, "pending/-"); /* excepted: its caller decides it */
    expect_contact(f, s1, "pending/-");
    expect_contact(f, vtwo, "pending/-"); /* its second number is callable */
    assert_int_equal(ecm_test_pg_int(conn(f),
                                     "SELECT count(*) FROM outbox WHERE msg_key = '%lld' "
                                     "AND topic = 'contacts.closed'",
                                     v1),
                     1);
    /* Scope sms over a voice-only state closes nothing (sms is free). */
    assert_int_equal(close_blocked(f, "12125550102", 0, "sms", 0), 0);
    expect_contact(f, s1, "pending/-");
    /* A STOP (all): the SMS contact goes too. */
    record(f, "+12125550102", 0, "all", "revoke", "2026-03-02T10:00:00Z");
    assert_int_equal(close_blocked(f, "12125550102", 0, "all", 0), 2);
    expect_contact(f, s1, "closed/DNC");
    expect_contact(f, v2, "closed/DNC");
    const char *keys[] = {"12125550102"};
    assert_int_equal(ecm_dnc_close_blocked_on(f->pg, keys, 1, 0, "fax", 0, "t", "/ecm/test"), -1);
}

static void test_append_only_and_derived_only(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = record(f, "+12125550104", 0, "all", "revoke", "2026-03-01T10:00:00Z");
    static const char *const refused[] = {
        "UPDATE consent_ledger SET action = 'grant'",
        "DELETE FROM consent_ledger",
        "UPDATE dnc SET channel = 'sms' WHERE channel = 'voice'",
        "DELETE FROM dnc",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        PGresult *r = ecm_pg_exec(f->pg, refused[i], 0, NULL);
        if (r != NULL)
            fail_msg("%s was allowed", refused[i]);
        assert_string_equal(ecm_pg_last_sqlstate(f->pg), "42501");
    }
    assert_int_equal(ecm_test_pg_int(conn(f),
                                     "SELECT count(*) FROM consent_ledger WHERE id = %lld "
                                     "AND action = 'revoke'",
                                     id),
                     1);
    assert_int_equal(ecm_test_pg_int(conn(f), "SELECT count(*) FROM dnc"), 2);
    /* An older writer's INSERT INTO dnc becomes a revoke in the ledger (an
     * SMS opt-out is a STOP), whose derivation writes the rows. */
    ecm_test_pg_exec(conn(f), "INSERT INTO dnc (phone, source) VALUES ('+12125550105', "
                              "'sms_optout')");
    assert_int_equal(ecm_test_pg_int(conn(f), "SELECT count(*) FROM consent_ledger WHERE "
                                              "phone_key = '12125550105' AND scope = 'all' AND "
                                              "action = 'revoke' AND source = 'stop_keyword'"),
                     1);
    expect_state(f, "12125550105", 0, "voice,sms");
    ecm_test_pg_exec(conn(f), "INSERT INTO dnc (phone, channel) VALUES ('+12125550106', 'sms')");
    expect_state(f, "12125550106", 0, "sms");
    /* The rows of a deleted campaign go with it (the cascade is allowed). */
    long long cid = campaign(f, "sms");
    record(f, "+12125550107", cid, "all", "revoke", "2026-03-01T10:00:00Z");
    ecm_test_pg_exec(conn(f), "DELETE FROM campaigns WHERE id = %lld", cid);
    assert_int_equal(ecm_test_pg_int(conn(f), "SELECT count(*) FROM consent_ledger "
                                              "WHERE phone_key = '12125550107'"),
                     0);
    assert_int_equal(
        ecm_test_pg_int(conn(f), "SELECT count(*) FROM dnc WHERE phone_key = '12125550107'"), 0);
    /* Bad values are refused by the table. */
    const ecm_dnc_entry bad = {.phone = "+12125550108",
                               .scope = "fax",
                               .action = "revoke",
                               .source = "api",
                               .actor = "t",
                               .at_ms = 1};
    assert_int_equal(ecm_pg_begin(f->pg), 0);
    assert_int_equal(ecm_dnc_record(f->pg, &bad), -1);
    assert_string_equal(ecm_pg_last_sqlstate(f->pg), "23514");
    ecm_pg_rollback(f->pg);
    assert_true(ecm_dnc_scope_valid("voice") && ecm_dnc_scope_valid("sms") &&
                ecm_dnc_scope_valid("all"));
    assert_false(ecm_dnc_scope_valid("fax") || ecm_dnc_scope_valid(NULL) ||
                 ecm_dnc_scope_valid("ALL"));
}

/* Two transactions writing entries for one number: the later one derives
 * after the earlier one commits, so the state follows the ledger. The
 * second INSERT is sent while the first transaction is open; the result
 * is read after the first commits (no timing involved). */
static void test_concurrent_entries_of_one_number(void **state)
{
    fixture *f = ecm_test_need(*state);
    PGconn *other = ecm_test_pg_connect(f->db->dsn);
    ecm_test_pg_exec(conn(f), "BEGIN");
    ecm_test_pg_exec(conn(f), "INSERT INTO consent_ledger (phone, scope, action, source, actor, at)"
                              " VALUES ('+12125550120', 'all', 'revoke', 'api', 't',"
                              " '2026-03-01T10:00:00Z')");
    assert_int_equal(PQsendQuery(other, "INSERT INTO consent_ledger (phone, scope, action, source,"
                                        " actor, at) VALUES ('+12125550120', 'all', 'grant',"
                                        " 'api', 't', '2026-03-01T11:00:00Z')"),
                     1);
    ecm_test_pg_exec(conn(f), "COMMIT");
    PGresult *r;
    while ((r = PQgetResult(other)) != NULL) {
        assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
        PQclear(r);
    }
    PQfinish(other);
    expect_state(f, "12125550120", 0, "");
}

/* A database at the schema before 017 with the old dnc rows, then 017 and
 * the rest: each row is a revoke of all channels in the ledger, its source
 * mapped, at its created_at, and dnc holds it per channel. */
static void test_migration_of_existing_rows(void **state)
{
    (void)state;
    ecm_test_db *db = ecm_test_db_new("ecm_dnc_migrate");
    if (!db)
        skip();
    PGconn *c = ecm_test_pg_connect(db->dsn);
    size_t before = 0;
    while (before < ecm_migrations_count && ecm_migrations[before].version < 17)
        before++;
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, before), (int)before);
    long long cid = ecm_test_pg_int(c, "INSERT INTO campaigns (name, channel, strategy_id, "
                                       "sms_template) SELECT 'c', 'sms', id, 'Hi' FROM "
                                       "strategies WHERE name = 'Default' RETURNING id");
    ecm_test_pg_exec(c,
                     "INSERT INTO dnc (phone, campaign_id, source, reason, created_at) VALUES "
                     "('+12125550110', NULL, 'api', 'asked', '2025-01-02T03:04:05Z'), "
                     "('+12125550111', NULL, 'sms_optout', 'SMS keyword STOP', "
                     "'2025-02-02T03:04:05Z'), "
                     "('+12125550110', %lld, 'upload', NULL, '2025-03-02T03:04:05Z')",
                     cid);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count),
                     (int)(ecm_migrations_count - before));
    char *ledger = ecm_test_pg_text(
        c, "SELECT string_agg(phone || ' ' || coalesce(campaign_id::text, '-') || ' ' || scope || "
           "' ' || action || ' ' || source || ' ' || actor || ' ' || "
           "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), '; ' ORDER BY id) FROM consent_ledger");
    char expected[512];
    snprintf(expected, sizeof expected,
             "+12125550110 - all revoke api migration 2025-01-02; "
             "+12125550111 - all revoke stop_keyword migration 2025-02-02; "
             "+12125550110 %lld all revoke upload migration 2025-03-02",
             cid);
    assert_string_equal(ledger, expected);
    free(ledger);
    char *dnc = ecm_test_pg_text(
        c, "SELECT string_agg(d.phone_key || ' ' || coalesce(d.campaign_id::text, '-') || ' ' || "
           "d.channel || ' ' || d.source || ' ' || (l.id = d.ledger_id)::text, '; ' ORDER BY "
           "d.phone_key, "
           "d.campaign_id NULLS FIRST, d.channel DESC) FROM dnc d JOIN consent_ledger l "
           "ON l.id = d.ledger_id");
    snprintf(expected, sizeof expected,
             "12125550110 - voice api true; 12125550110 - sms api true; "
             "12125550110 %lld voice upload true; 12125550110 %lld sms upload true; "
             "12125550111 - voice stop_keyword true; 12125550111 - sms stop_keyword true",
             cid, cid);
    assert_string_equal(dnc, expected);
    free(dnc);
    /* The derivation runs on the migrated rows: a grant lifts them. */
    ecm_test_pg_exec(c, "INSERT INTO consent_ledger (phone, scope, action, source, actor, at) "
                        "VALUES ('+12125550111', 'sms', 'grant', 'start_keyword', 't', now())");
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM dnc WHERE phone_key = '12125550111'"),
                     1);
    PQfinish(c);
    assert_int_equal(ecm_test_db_destroy(db), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_latest_entry_per_channel_wins, test_setup),
        cmocka_unit_test_setup(test_campaign_list_is_apart_from_the_global_one, test_setup),
        cmocka_unit_test_setup(test_closing_follows_the_channels_revoked, test_setup),
        cmocka_unit_test_setup(test_append_only_and_derived_only, test_setup),
        cmocka_unit_test_setup(test_concurrent_entries_of_one_number, test_setup),
        cmocka_unit_test(test_migration_of_existing_rows),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

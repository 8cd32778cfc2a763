#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_test_support.h"

/* Each test gets its own database: advisory locks and schema_migrations are
 * per database, so runs can overlap. */
static int scratch_setup(void **state)
{
    *state = ecm_test_db_new("ecm_libcore_mig");
    return 0;
}

#define NEED_DB(state) ecm_test_db *db = ecm_test_need(*(state))

/* 1 when another session can take the migration lock, i.e. it was released. */
static int lock_is_free(const ecm_test_db *db)
{
    PGconn *c = ecm_test_pg_connect(db->dsn);
    int free_ = (int)ecm_test_pg_int(c, "SELECT pg_try_advisory_lock(%lld)::int",
                                     (long long)ECM_MIGRATE_LOCK_KEY);
    PQfinish(c);
    return free_;
}

static const ecm_migration two[] = {
    {1, "001_first",
     "CREATE TABLE a (x int);\n"
     "CREATE TABLE b (y text);\n"
     "INSERT INTO a VALUES (1), (2);\n"},
    {2, "002_second", "ALTER TABLE a ADD COLUMN z text; INSERT INTO a (x) VALUES (3);"},
};

static void test_migrate_applies_then_is_up_to_date(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    assert_int_equal(ecm_migrate_apply(c, two, 2), 2);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM a"), 3);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM schema_migrations"), 2);
    assert_int_equal(ecm_test_pg_int(c, "SELECT max(version) FROM schema_migrations"), 2);
    assert_int_equal(
        ecm_test_pg_int(c, "SELECT count(*) FROM schema_migrations WHERE name = '002_second' AND "
                           "applied_at > now() - interval '1 minute'"),
        1);
    assert_int_equal(ecm_migrate_apply(c, two, 2), 0);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM a"), 3);
    assert_int_equal(lock_is_free(db), 1);
    /* The connection is left outside any transaction. */
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    PQfinish(c);
}

static void test_migrate_schema_current_reads_applied_version(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    int applied = -7;
    /* Never migrated: no schema_migrations yet, older than anything. */
    assert_int_equal(ecm_migrate_schema_current(c, 2, &applied), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(ecm_migrate_apply(c, two, 1), 1);
    assert_int_equal(ecm_migrate_schema_current(c, 2, &applied), 0);
    assert_int_equal(applied, 1);
    assert_int_equal(ecm_migrate_apply(c, two, 2), 1);
    assert_int_equal(ecm_migrate_schema_current(c, 2, &applied), 1);
    assert_int_equal(applied, 2);
    /* A newer schema than the binary's (an older pod during a roll) is fine. */
    assert_int_equal(ecm_migrate_schema_current(c, 1, &applied), 1);
    assert_int_equal(ecm_migrate_latest(two, 2), 2);
    assert_int_equal(ecm_migrate_latest(two, 0), 0);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    PQfinish(c);
    assert_int_equal(ecm_migrate_schema_current(NULL, 1, &applied), -1);
}

static void test_migrate_applies_only_newer_versions(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    assert_int_equal(ecm_migrate_apply(c, two, 1), 1);
    assert_int_equal(ecm_migrate_apply(c, two, 2), 1);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM schema_migrations"), 2);
    PQfinish(c);
}

static void test_migrate_failure_rolls_back_and_releases_lock(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    const ecm_migration list[] = {
        two[0],
        two[1],
        {3, "003_broken", "CREATE TABLE c (x int); INSERT INTO c VALUES (1); SELECT 1/0;"},
        {4, "004_never", "CREATE TABLE d (x int);"},
    };
    assert_int_equal(ecm_migrate_apply(c, list, 4), -1);
    /* 1 and 2 committed, 3 rolled back entirely, 4 not attempted. */
    assert_int_equal(ecm_test_pg_int(c, "SELECT max(version) FROM schema_migrations"), 2);
    assert_int_equal(
        ecm_test_pg_int(c, "SELECT count(*) FROM pg_class WHERE relname IN ('c', 'd')"), 0);
    assert_int_equal(lock_is_free(db), 1);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    PQfinish(c);
}

static void test_migrate_rejects_unordered_list_and_bad_conn(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    const ecm_migration list[] = {two[1], two[0]};
    assert_int_equal(ecm_migrate_apply(c, list, 2), -1);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM pg_class WHERE relname = 'a'"), 0);
    assert_int_equal(ecm_migrate_apply(NULL, two, 2), -1);
    PQfinish(c);
}

typedef struct {
    const ecm_test_db *db;
    const ecm_migration *list;
    size_t n;
    int result;
} migrate_arg;

static void *migrate_thread(void *p)
{
    migrate_arg *a = p;
    PGconn *c = PQconnectdb(a->db->dsn);
    a->result = PQstatus(c) == CONNECTION_OK ? ecm_migrate_apply(c, a->list, a->n) : -2;
    PQfinish(c);
    return NULL;
}

static void test_migrate_concurrent_runs_apply_once(void **state)
{
    NEED_DB(state);
    /* The sleep makes the runs overlap: without the lock both would try. */
    const ecm_migration list[] = {
        {1, "001_slow", "SELECT pg_sleep(0.5); CREATE TABLE a (x int); INSERT INTO a VALUES (1);"},
        {2, "002_more", "INSERT INTO a VALUES (2);"},
    };
    pthread_t th[2];
    migrate_arg args[2];
    for (int i = 0; i < 2; i++) {
        args[i] = (migrate_arg){db, list, 2, -3};
        assert_int_equal(pthread_create(&th[i], NULL, migrate_thread, &args[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
    assert_true((args[0].result == 2 && args[1].result == 0) ||
                (args[0].result == 0 && args[1].result == 2));
    PGconn *c = ecm_test_pg_connect(db->dsn);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM a"), 2);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM schema_migrations"), 2);
    PQfinish(c);
}

static void test_migrate_embedded_ecm_schema_applies(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    assert_true(ecm_migrations_count >= 1);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count),
                     (int)ecm_migrations_count);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count), 0);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM pg_class WHERE relname = 'contacts'"),
                     1);
    PQfinish(c);
}

/* 025: open contacts written without contact_phones rows get their numbers'
 * digits there (what the SMS STOP finds contacts by); closed contacts, a
 * number that can't be E.164 and one already keyed in the campaign don't. */
static void test_migrate_025_keys_open_contacts_numbers(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    size_t before = 0;
    while (before < ecm_migrations_count && ecm_migrations[before].version < 25) {
        before++;
    }
    assert_true(before < ecm_migrations_count);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, before), (int)before);
    long long cid =
        ecm_test_pg_int(c, "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                           " cisco_campaign_id) SELECT 'm', 'voice_ivr', 'active', id, 'uccx', '1'"
                           " FROM strategies WHERE name = 'Default' RETURNING id");
    ecm_test_pg_exec(c,
                     "INSERT INTO contacts (id, campaign_id, phones, state) VALUES"
                     " (1, %lld, '{+15550250001,+1-555-025-0002}', 'queued'),"
                     " (2, %lld, '{+15550250003}', 'closed'),"
                     " (3, %lld, '{0123456,+15550250001}', 'waiting')",
                     cid, cid, cid);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count),
                     (int)(ecm_migrations_count - before));
    char *got = ecm_test_pg_text(
        c, "SELECT string_agg(contact_id || ':' || phone, ' ' ORDER BY phone) FROM contact_phones");
    assert_string_equal(got, "1:15550250001 1:15550250002");
    free(got);
    PQfinish(c);
}

/* A throwaway role for the grant tests (roles are cluster-wide: named after
 * the process). Skips the test when the test role may not create roles. */
static void app_role_new(PGconn *c, char *role, size_t size)
{
    snprintf(role, size, "ecm_test_app_%ld", (long)getpid());
    PQclear(PQexec(c, "RESET ROLE"));
    char sql[160];
    snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s", role);
    PQclear(PQexec(c, sql));
    snprintf(sql, sizeof sql, "CREATE ROLE %s NOLOGIN", role);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        PQfinish(c);
        skip();
    }
}

/* Drops role's privileges in this database, then the role. */
static void app_role_drop(PGconn *c, const char *role)
{
    ecm_test_pg_exec(c, "RESET ROLE");
    ecm_test_pg_exec(c, "DROP OWNED BY %s", role);
    ecm_test_pg_exec(c, "DROP ROLE %s", role);
}

/* The SQLSTATE of sql run on c, "" when it succeeded; the caller frees it. */
static char *sqlstate_of(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    char *out = strdup(st ? st : "");
    PQclear(r);
    return out;
}

static void assert_sqlstate(PGconn *c, const char *sql, const char *want)
{
    char *got = sqlstate_of(c, sql);
    assert_string_equal(got, want);
    free(got);
}

/* ECM_MIGRATE_APP_ROLE on ECM's own schema: before the grant the readiness
 * query is refused as a permission (not an unreachable database); after it
 * the role reads the version, selects and inserts (sequences included) and
 * may not create or alter a table. */
static void test_migrate_grant_gives_app_role_dml_only(void **state)
{
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    char role[64];
    app_role_new(c, role, sizeof role);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count),
                     (int)ecm_migrations_count);
    int want = ecm_migrate_latest(ecm_migrations, ecm_migrations_count), applied = -7;

    ecm_test_pg_exec(c, "SET ROLE %s", role);
    assert_int_equal(ecm_migrate_schema_current(c, want, &applied), -2);
    assert_sqlstate(c, "SELECT count(*) FROM campaigns", "42501");
    ecm_test_pg_exec(c, "RESET ROLE");

    assert_int_equal(ecm_migrate_grant(c, role), 0);
    assert_int_equal(ecm_migrate_grant(c, role), 0); /* idempotent: runs every time */
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    assert_int_equal(lock_is_free(db), 1);

    ecm_test_pg_exec(c, "SET ROLE %s", role);
    assert_int_equal(ecm_migrate_schema_current(c, want, &applied), 1);
    assert_int_equal(applied, want);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM campaigns"), 0);
    assert_true(ecm_test_pg_int(c, "INSERT INTO campaigns (name, channel, state, strategy_id,"
                                   " cisco_kind, cisco_campaign_id) SELECT 'g', 'voice_ivr',"
                                   " 'draft', id, 'uccx', '1' FROM strategies"
                                   " WHERE name = 'Default' RETURNING id") > 0);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM campaigns"), 1);
    assert_sqlstate(c, "CREATE TABLE app_made (x int)", "42501");
    assert_sqlstate(c, "ALTER TABLE campaigns ADD COLUMN app_made int", "42501");
    assert_sqlstate(c, "DROP TABLE campaigns", "42501");
    app_role_drop(c, role);
    PQfinish(c);
}

/* A table a later migration adds is the role's too (default privileges),
 * before the grant runs again. */
static void test_migrate_grant_covers_later_tables(void **state)
{
    static const ecm_migration later[] = {
        {1, "001_first", "CREATE TABLE a (x int); INSERT INTO a VALUES (1);"},
        {2, "002_later", "CREATE TABLE c (id bigserial PRIMARY KEY, w int);"},
    };
    NEED_DB(state);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    char role[64];
    app_role_new(c, role, sizeof role);
    assert_int_equal(ecm_migrate_apply(c, later, 1), 1);
    assert_int_equal(ecm_migrate_grant(c, role), 0);
    assert_int_equal(ecm_migrate_apply(c, later, 2), 1);
    ecm_test_pg_exec(c, "SET ROLE %s", role);
    assert_int_equal(ecm_test_pg_int(c, "INSERT INTO c (w) VALUES (5) RETURNING id"), 1);
    assert_int_equal(ecm_test_pg_int(c, "UPDATE a SET x = 2 RETURNING x"), 2);
    assert_sqlstate(c, "DELETE FROM c", "");
    assert_sqlstate(c, "TRUNCATE a", "42501");
    app_role_drop(c, role);
    PQfinish(c);
}

/* ECM_MIGRATE_APP_ROLE's check, and a role that does not exist. */
static void test_migrate_grant_refuses_bad_or_unknown_role(void **state)
{
    NEED_DB(state);
    char err[160];
    assert_int_equal(ecm_migrate_role_valid("ecm_app", err, sizeof err), 1);
    assert_int_equal(ecm_migrate_role_valid("ecm-app$2", err, sizeof err), 1);
    assert_int_equal(ecm_migrate_role_valid("", err, sizeof err), 0);
    assert_int_equal(ecm_migrate_role_valid("1ecm", err, sizeof err), 0);
    assert_int_equal(ecm_migrate_role_valid("ecm; DROP TABLE a", err, sizeof err), 0);
    assert_non_null(strstr(err, "';'"));
    assert_int_equal(ecm_migrate_role_valid("ecm\"app", err, sizeof err), 0);
    assert_int_equal(ecm_migrate_role_valid("PUBLIC", err, sizeof err), 0);
    assert_int_equal(ecm_migrate_role_valid("pg_monitor", err, sizeof err), 0);
    char long_name[80];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_int_equal(ecm_migrate_role_valid(long_name, err, sizeof err), 0);
    long_name[63] = '\0';
    assert_int_equal(ecm_migrate_role_valid(long_name, err, sizeof err), 1);

    PGconn *c = ecm_test_pg_connect(db->dsn);
    assert_int_equal(ecm_migrate_apply(c, two, 2), 2);
    assert_int_equal(ecm_migrate_grant(c, "ecm_test_no_such_role"), -1);
    assert_int_equal(ecm_migrate_grant(c, "bad;role"), -1);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    assert_int_equal(lock_is_free(db), 1);
    assert_int_equal(ecm_migrate_grant(NULL, "ecm_app"), -1);
    PQfinish(c);
}

int main(void)
{
    ecm_log_init("test_migrate", ECM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_applies_then_is_up_to_date, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_schema_current_reads_applied_version,
                                        scratch_setup, ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_applies_only_newer_versions, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_failure_rolls_back_and_releases_lock,
                                        scratch_setup, ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_rejects_unordered_list_and_bad_conn,
                                        scratch_setup, ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_concurrent_runs_apply_once, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_025_keys_open_contacts_numbers, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_embedded_ecm_schema_applies, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_grant_gives_app_role_dml_only, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_grant_covers_later_tables, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_grant_refuses_bad_or_unknown_role,
                                        scratch_setup, ecm_test_db_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

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

/* Each test gets its own database: advisory locks and schema_migrations are
 * per database, so runs can overlap. */
typedef struct {
    PGconn *admin;
    char name[64];
    char dsn[1024];
} scratch_db;

static int scratch_setup(void **state)
{
    const char *base = getenv("ECM_TEST_PG_DSN");
    if (!base) {
        *state = NULL;
        return 0;
    }
    static int seq;
    scratch_db *db = calloc(1, sizeof *db);
    assert_non_null(db);
    db->admin = PQconnectdb(base);
    if (PQstatus(db->admin) != CONNECTION_OK) {
        fail_msg("ECM_TEST_PG_DSN: %s", PQerrorMessage(db->admin));
    }
    snprintf(db->name, sizeof db->name, "ecm_libcore_mig_%d_%d_%ld", (int)getpid(), seq++,
             (long)time(NULL) % 100000);
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db->name);
    PGresult *r = PQexec(db->admin, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
    snprintf(db->dsn, sizeof db->dsn, "%s dbname=%s", base, db->name);
    *state = db;
    return 0;
}

static int scratch_teardown(void **state)
{
    scratch_db *db = *state;
    if (!db) {
        return 0;
    }
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
    PQclear(PQexec(db->admin, sql));
    PQfinish(db->admin);
    free(db);
    return 0;
}

#define NEED_DB(state)                                                                             \
    scratch_db *db = *(state);                                                                     \
    if (!db) {                                                                                     \
        skip();                                                                                    \
    }

static PGconn *connect_db(const scratch_db *db)
{
    PGconn *c = PQconnectdb(db->dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        fail_msg("%s", PQerrorMessage(c));
    }
    return c;
}

static long long scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* 1 when another session can take the migration lock, i.e. it was released. */
static int lock_is_free(const scratch_db *db)
{
    PGconn *c = connect_db(db);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)::int",
             (long long)ECM_MIGRATE_LOCK_KEY);
    int free_ = (int)scalar(c, sql);
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
    PGconn *c = connect_db(db);
    assert_int_equal(ecm_migrate_apply(c, two, 2), 2);
    assert_int_equal(scalar(c, "SELECT count(*) FROM a"), 3);
    assert_int_equal(scalar(c, "SELECT count(*) FROM schema_migrations"), 2);
    assert_int_equal(scalar(c, "SELECT max(version) FROM schema_migrations"), 2);
    assert_int_equal(scalar(c,
                            "SELECT count(*) FROM schema_migrations WHERE name = '002_second' AND "
                            "applied_at > now() - interval '1 minute'"),
                     1);
    assert_int_equal(ecm_migrate_apply(c, two, 2), 0);
    assert_int_equal(scalar(c, "SELECT count(*) FROM a"), 3);
    assert_int_equal(lock_is_free(db), 1);
    /* The connection is left outside any transaction. */
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    PQfinish(c);
}

static void test_migrate_applies_only_newer_versions(void **state)
{
    NEED_DB(state);
    PGconn *c = connect_db(db);
    assert_int_equal(ecm_migrate_apply(c, two, 1), 1);
    assert_int_equal(ecm_migrate_apply(c, two, 2), 1);
    assert_int_equal(scalar(c, "SELECT count(*) FROM schema_migrations"), 2);
    PQfinish(c);
}

static void test_migrate_failure_rolls_back_and_releases_lock(void **state)
{
    NEED_DB(state);
    PGconn *c = connect_db(db);
    const ecm_migration list[] = {
        two[0],
        two[1],
        {3, "003_broken", "CREATE TABLE c (x int); INSERT INTO c VALUES (1); SELECT 1/0;"},
        {4, "004_never", "CREATE TABLE d (x int);"},
    };
    assert_int_equal(ecm_migrate_apply(c, list, 4), -1);
    /* 1 and 2 committed, 3 rolled back entirely, 4 not attempted. */
    assert_int_equal(scalar(c, "SELECT max(version) FROM schema_migrations"), 2);
    assert_int_equal(scalar(c, "SELECT count(*) FROM pg_class WHERE relname IN ('c', 'd')"), 0);
    assert_int_equal(lock_is_free(db), 1);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    PQfinish(c);
}

static void test_migrate_rejects_unordered_list_and_bad_conn(void **state)
{
    NEED_DB(state);
    PGconn *c = connect_db(db);
    const ecm_migration list[] = {two[1], two[0]};
    assert_int_equal(ecm_migrate_apply(c, list, 2), -1);
    assert_int_equal(scalar(c, "SELECT count(*) FROM pg_class WHERE relname = 'a'"), 0);
    assert_int_equal(ecm_migrate_apply(NULL, two, 2), -1);
    PQfinish(c);
}

typedef struct {
    const scratch_db *db;
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
    PGconn *c = connect_db(db);
    assert_int_equal(scalar(c, "SELECT count(*) FROM a"), 2);
    assert_int_equal(scalar(c, "SELECT count(*) FROM schema_migrations"), 2);
    PQfinish(c);
}

static void test_migrate_embedded_ecm_schema_applies(void **state)
{
    NEED_DB(state);
    PGconn *c = connect_db(db);
    assert_true(ecm_migrations_count >= 1);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count),
                     (int)ecm_migrations_count);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count), 0);
    assert_int_equal(scalar(c, "SELECT count(*) FROM pg_class WHERE relname = 'contacts'"), 1);
    PQfinish(c);
}

int main(void)
{
    ecm_log_init("test_migrate", ECM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_applies_then_is_up_to_date, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_applies_only_newer_versions, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_failure_rolls_back_and_releases_lock,
                                        scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_rejects_unordered_list_and_bad_conn,
                                        scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_concurrent_runs_apply_once, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_embedded_ecm_schema_applies, scratch_setup,
                                        scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

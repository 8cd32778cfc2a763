#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"

/* Each test gets its own database, so that runs can overlap. */
static int scratch_setup(void **state)
{
    *state = ecm_test_db_new("ecm_libcore_pg");
    return 0;
}

#define NEED_DB(state) ecm_test_db *db = ecm_test_need(*(state))

static char *value(ecm_pg *pg, const char *sql)
{
    PGresult *r = ecm_pg_exec(pg, sql, 0, NULL);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 1);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void test_pg_exec_with_params_and_errors(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    assert_non_null(ecm_pg_conn(pg));
    assert_int_equal(ecm_pg_cmd(pg, "CREATE TABLE t (id int PRIMARY KEY, s text)", 0, NULL), 0);
    const char *p1[] = {"1", "it's \"quoted\""};
    assert_int_equal(ecm_pg_cmd(pg, "INSERT INTO t VALUES ($1, $2)", 2, p1), 0);
    assert_string_equal(ecm_pg_last_sqlstate(pg), "");
    const char *id[] = {"1"};
    PGresult *r = ecm_pg_exec(pg, "SELECT s FROM t WHERE id = $1", 1, id);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "it's \"quoted\"");
    PQclear(r);

    assert_int_equal(ecm_pg_cmd(pg, "INSERT INTO t VALUES ($1, $2)", 2, p1), -1);
    assert_string_equal(ecm_pg_last_sqlstate(pg), "23505");
    assert_int_equal(ecm_pg_check_broken(pg), 0);
    assert_null(ecm_pg_exec(pg, "SELECT * FROM missing_table", 0, NULL));
    assert_string_equal(ecm_pg_last_sqlstate(pg), "42P01");
    assert_int_equal(ecm_pg_check_broken(pg), 0);
    /* A success clears the last SQLSTATE. */
    assert_int_equal(ecm_pg_cmd(pg, "SELECT 1", 0, NULL), 0);
    assert_string_equal(ecm_pg_last_sqlstate(pg), "");
    ecm_pg_destroy(pg);
}

static void test_pg_transactions_commit_and_rollback(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    assert_int_equal(ecm_pg_cmd(pg, "CREATE TABLE t (id int)", 0, NULL), 0);
    assert_int_equal(ecm_pg_begin(pg), 0);
    assert_int_equal(ecm_pg_cmd(pg, "INSERT INTO t VALUES (1)", 0, NULL), 0);
    ecm_pg_rollback(pg);
    char *n = value(pg, "SELECT count(*) FROM t");
    assert_string_equal(n, "0");
    free(n);
    assert_int_equal(ecm_pg_begin(pg), 0);
    assert_int_equal(ecm_pg_cmd(pg, "INSERT INTO t VALUES (1)", 0, NULL), 0);
    assert_int_equal(ecm_pg_commit(pg), 0);
    n = value(pg, "SELECT count(*) FROM t");
    assert_string_equal(n, "1");
    free(n);
    /* Rollback outside a transaction is harmless. */
    ecm_pg_rollback(pg);
    ecm_pg_destroy(pg);
}

static void test_pg_reconnects_after_backend_is_terminated(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    assert_non_null(ecm_pg_conn(pg));
    char *pid = value(pg, "SELECT pg_backend_pid()");
    const char *params[] = {pid};
    PGresult *r = PQexecParams(db->admin, "SELECT pg_terminate_backend($1::int)", 1, NULL, params,
                               NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    /* The backend is gone. The handle moves to a new connection: before
     * the next command when it sees the loss while idle, else after one
     * failed command that ecm_pg_check_broken() reports. Either way a later
     * command runs on another backend. */
    char *pid2 = NULL;
    for (int tries = 0; tries < 50 && !pid2; tries++) {
        PGresult *q = ecm_pg_exec(pg, "SELECT pg_backend_pid()", 0, NULL);
        if (q && strcmp(PQgetvalue(q, 0, 0), pid) != 0) {
            pid2 = strdup(PQgetvalue(q, 0, 0));
        } else if (!q) {
            assert_int_equal(ecm_pg_check_broken(pg), 1);
        }
        PQclear(q);
        if (!pid2) {
            usleep(20000);
        }
    }
    assert_non_null(pid2);
    assert_string_not_equal(pid, pid2);
    free(pid);
    free(pid2);
    ecm_pg_destroy(pg);
}

static long long prepared_count(ecm_pg *pg)
{
    char *v = value(pg, "SELECT count(*) FROM pg_prepared_statements");
    long long n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

/* ecm_pg_set_prepare: a statement with parameters is prepared once by its
 * text and run by name; errors come back as before; a statement that does
 * not prepare is not kept; a new connection prepares again; past
 * ECM_PG_PREPARED_MAX texts statements run unnamed. */
static void test_pg_prepared_statements(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    ecm_pg_set_prepare(pg, 1);
    assert_int_equal(ecm_pg_cmd(pg, "CREATE TABLE t (id int PRIMARY KEY, s text)", 0, NULL), 0);
    char sql[64];
    snprintf(sql, sizeof sql, "INSERT INTO t VALUES ($1, $2)");
    const char *a[] = {"1", "one"}, *b[] = {"2", "two"};
    assert_int_equal(ecm_pg_cmd(pg, sql, 2, a), 0);
    /* The same text in another buffer is the same statement. */
    char copy[64];
    snprintf(copy, sizeof copy, "%s", sql);
    assert_int_equal(ecm_pg_cmd(pg, copy, 2, b), 0);
    assert_int_equal(prepared_count(pg), 1);
    assert_int_equal(ecm_pg_cmd(pg, sql, 2, a), -1);
    assert_string_equal(ecm_pg_last_sqlstate(pg), "23505");
    const char *id[] = {"2"};
    PGresult *r = ecm_pg_exec(pg, "SELECT s FROM t WHERE id = $1", 1, id);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "two");
    PQclear(r);
    assert_null(ecm_pg_exec(pg, "SELECT s FROM missing_table WHERE id = $1", 1, id));
    assert_string_equal(ecm_pg_last_sqlstate(pg), "42P01");
    assert_int_equal(prepared_count(pg), 2);
    /* Inside a transaction that is rolled back: the statement stays
     * prepared (PostgreSQL's prepared statements are not transactional). */
    assert_int_equal(ecm_pg_begin(pg), 0);
    assert_int_equal(ecm_pg_cmd(pg, "DELETE FROM t WHERE id = $1", 1, id), 0);
    ecm_pg_rollback(pg);
    assert_int_equal(ecm_pg_cmd(pg, "DELETE FROM t WHERE id = $1", 1, id), 0);
    assert_int_equal(prepared_count(pg), 3);

    /* A new connection: prepared again. */
    char *pid = value(pg, "SELECT pg_backend_pid()");
    const char *params[] = {pid};
    PQclear(PQexecParams(db->admin, "SELECT pg_terminate_backend($1::int)", 1, NULL, params, NULL,
                         NULL, 0));
    int ok = 0;
    for (int tries = 0; tries < 50 && !ok; tries++) {
        const char *one[] = {"1"};
        r = ecm_pg_exec(pg, "SELECT s FROM t WHERE id = $1", 1, one);
        if (r) {
            assert_string_equal(PQgetvalue(r, 0, 0), "one");
            ok = 1;
        } else {
            (void)ecm_pg_check_broken(pg);
            usleep(20000);
        }
        PQclear(r);
    }
    assert_true(ok);
    free(pid);
    assert_int_equal(prepared_count(pg), 1);

    /* Past the limit: still run, not kept. */
    for (int i = 0; i < ECM_PG_PREPARED_MAX + 5; i++) {
        snprintf(sql, sizeof sql, "SELECT %d + $1::int", i);
        r = ecm_pg_exec(pg, sql, 1, id);
        assert_non_null(r);
        assert_int_equal(strtol(PQgetvalue(r, 0, 0), NULL, 10), i + 2);
        PQclear(r);
    }
    assert_int_equal(prepared_count(pg), ECM_PG_PREPARED_MAX);
    ecm_pg_destroy(pg);
}

/* ecm_pg_begin_by_key turns sequential scans and custom plans off for its
 * transaction only;
 * ecm_pg_begin_timeout's setting is tested with the pool's (below). */
static void test_pg_begin_by_key_sets_its_transaction_only(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    assert_int_equal(ecm_pg_begin_by_key(pg), 0);
    char *v = value(pg, "SHOW enable_seqscan");
    assert_string_equal(v, "off");
    free(v);
    v = value(pg, "SHOW plan_cache_mode");
    assert_string_equal(v, "force_generic_plan");
    free(v);
    assert_int_equal(ecm_pg_commit(pg), 0);
    v = value(pg, "SHOW enable_seqscan");
    assert_string_equal(v, "on");
    free(v);
    v = value(pg, "SHOW plan_cache_mode");
    assert_string_equal(v, "auto");
    free(v);
    /* In a transaction a failed statement aborted: it fails and leaves
     * nothing open. */
    assert_int_equal(ecm_pg_begin(pg), 0);
    assert_int_equal(ecm_pg_cmd(pg, "SELECT 1/0", 0, NULL), -1);
    assert_int_equal(ecm_pg_begin_by_key(pg), -1);
    assert_int_equal(PQtransactionStatus(ecm_pg_conn(pg)), PQTRANS_IDLE);
    ecm_pg_destroy(pg);
}

/* The one value sql (prepared through pg's cache) answers with p, or NULL
 * when it fails. Owned by the caller. */
static char *prepared_value(ecm_pg *pg, const char *sql, const char *p)
{
    const char *params[1] = {p};
    PGresult *r = ecm_pg_exec(pg, sql, 1, params);
    if (!r)
        return NULL;
    assert_int_equal(PQntuples(r), 1);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

#define assert_prepared_value(pg, sql, p, want)                                                    \
    do {                                                                                           \
        char *v_ = prepared_value(pg, sql, p);                                                     \
        assert_non_null(v_);                                                                       \
        assert_string_equal(v_, want);                                                             \
        free(v_);                                                                                  \
    } while (0)

/* The server's prepared statements are not what the cache says: dropped
 * (a pooler's DISCARD ALL, or another session handed over: 26000), a name
 * taken by a statement the cache does not know (42P05), a plan whose
 * columns changed under it (0A000, a migration). Outside a transaction the
 * statement is prepared again and runs; inside one it fails with the
 * transaction, and the next transaction prepares anew. */
static void test_pg_prepared_statements_recover_when_the_server_changed(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    ecm_pg_set_prepare(pg, 1);
    const char *sql = "SELECT $1::int + 1";
    /* A name taken before the first prepare (the cache's first is
     * "ecm_p0_0"). */
    assert_int_equal(ecm_pg_cmd(pg, "PREPARE ecm_p0_0 AS SELECT 2", 0, NULL), 0);
    assert_prepared_value(pg, sql, "41", "42");
    assert_int_equal(prepared_count(pg), 2);

    assert_int_equal(ecm_pg_cmd(pg, "DEALLOCATE ALL", 0, NULL), 0);
    assert_prepared_value(pg, sql, "41", "42");
    assert_int_equal(prepared_count(pg), 1);

    assert_int_equal(ecm_pg_begin(pg), 0);
    assert_int_equal(ecm_pg_cmd(pg, "DEALLOCATE ALL", 0, NULL), 0);
    assert_null(prepared_value(pg, sql, "41"));
    assert_string_equal(ecm_pg_last_sqlstate(pg), "26000");
    ecm_pg_rollback(pg);
    assert_prepared_value(pg, sql, "41", "42");

    assert_int_equal(ecm_pg_cmd(pg, "CREATE TABLE rt (a int)", 0, NULL), 0);
    assert_int_equal(ecm_pg_cmd(pg, "INSERT INTO rt VALUES (7)", 0, NULL), 0);
    const char *rsql = "SELECT a FROM rt WHERE a = $1";
    assert_prepared_value(pg, rsql, "7", "7");
    assert_int_equal(ecm_pg_cmd(pg, "ALTER TABLE rt ALTER a TYPE bigint", 0, NULL), 0);
    assert_prepared_value(pg, rsql, "7", "7");
    ecm_pg_destroy(pg);
}

/* Custom plans the prepared statement sql has been given on pg's
 * connection (pg_prepared_statements). */
static long custom_plans(ecm_pg *pg, const char *sql)
{
    const char *p[1] = {sql};
    PGresult *r = ecm_pg_exec(
        pg, "SELECT custom_plans FROM pg_prepared_statements WHERE statement = $1", 1, p);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 1);
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* A join with unnest($1) over a few ids: PostgreSQL's automatic choice
 * plans it again at every call (its generic estimate, 10 rows, loses to
 * the custom plan's 2, and makes it a hash join over the whole table); in
 * a by-key transaction it keeps the generic plan.
 * The same statement in plain transactions first, to show that it would be
 * planned again: the test could not fail otherwise. */
static void test_pg_begin_by_key_keeps_generic_plans(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    ecm_pg_set_prepare(pg, 1);
    assert_int_equal(ecm_pg_cmd(pg, "CREATE TABLE bykey (id int PRIMARY KEY, v int)", 0, NULL), 0);
    assert_int_equal(
        ecm_pg_cmd(pg, "INSERT INTO bykey SELECT g, g FROM generate_series(1, 20000) g", 0, NULL),
        0);
    assert_int_equal(ecm_pg_cmd(pg, "ANALYZE bykey", 0, NULL), 0);
    static const char *const sqls[2] = {
        "UPDATE bykey t SET v = t.v + 1 FROM unnest($1::int[]) AS u (id) WHERE t.id = u.id",
        "UPDATE bykey t SET v = t.v + 2 FROM unnest($1::int[]) AS u (id) WHERE t.id = u.id"};
    const char *p[1] = {"{3,7}"};
    for (int by_key = 0; by_key < 2; by_key++) {
        for (int i = 0; i < 8; i++) {
            assert_int_equal(by_key ? ecm_pg_begin_by_key(pg) : ecm_pg_begin(pg), 0);
            assert_int_equal(ecm_pg_cmd(pg, sqls[by_key], 1, p), 0);
            assert_int_equal(ecm_pg_commit(pg), 0);
        }
    }
    char *n = value(pg, "SELECT v FROM bykey WHERE id = 3");
    assert_string_equal(n, "27"); /* 3 + 8 * 1 + 8 * 2 */
    free(n);
    assert_true(custom_plans(pg, sqls[0]) >= 6);
    assert_int_equal(custom_plans(pg, sqls[1]), 0);
    char *v = value(pg, "SHOW plan_cache_mode");
    assert_string_equal(v, "auto");
    free(v);
    ecm_pg_destroy(pg);
}

/* ecm_pg_exec_binary: columns in binary format, prepared or not. */
static void test_pg_exec_binary_returns_binary_columns(void **state)
{
    NEED_DB(state);
    for (int prepare = 0; prepare < 2; prepare++) {
        ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
        ecm_pg_set_prepare(pg, prepare);
        const char *p[] = {"258", "\\x00ff"};
        for (int i = 0; i < 2; i++) {
            PGresult *r = ecm_pg_exec_binary(pg, "SELECT $1::bigint, $2::bytea", 2, p);
            assert_non_null(r);
            assert_int_equal(PQfformat(r, 0), 1);
            assert_int_equal(PQgetlength(r, 0, 0), 8);
            const unsigned char *n = (const unsigned char *)PQgetvalue(r, 0, 0);
            assert_int_equal(n[6], 1);
            assert_int_equal(n[7], 2);
            assert_int_equal(PQgetlength(r, 0, 1), 2);
            assert_memory_equal(PQgetvalue(r, 0, 1), "\x00\xff", 2);
            PQclear(r);
        }
        /* The same text in text format: the prepared statement serves both. */
        PGresult *r = ecm_pg_exec(pg, "SELECT $1::bigint, $2::bytea", 2, p);
        assert_non_null(r);
        assert_string_equal(PQgetvalue(r, 0, 0), "258");
        PQclear(r);
        assert_int_equal(prepared_count(pg), prepare);
        assert_null(ecm_pg_exec_binary(pg, "SELECT $1::int FROM missing_table", 1, p));
        assert_string_equal(ecm_pg_last_sqlstate(pg), "42P01");
        ecm_pg_destroy(pg);
    }
}

static void test_pg_broken_connection_is_not_replaced_silently(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    assert_int_equal(ecm_pg_begin(pg), 0);
    char *pid = value(pg, "SELECT pg_backend_pid()");
    const char *params[] = {pid};
    PQclear(PQexecParams(db->admin, "SELECT pg_terminate_backend($1::int)", 1, NULL, params, NULL,
                         NULL, 0));
    usleep(100000);
    assert_int_equal(ecm_pg_cmd(pg, "SELECT 1", 0, NULL), -1);
    /* Still failing: the transaction was lost and the caller must hear it. */
    assert_int_equal(ecm_pg_cmd(pg, "SELECT 1", 0, NULL), -1);
    assert_int_equal(ecm_pg_check_broken(pg), 1);
    assert_int_equal(ecm_pg_cmd(pg, "SELECT 1", 0, NULL), 0);
    free(pid);
    ecm_pg_destroy(pg);
}

static volatile sig_atomic_t stop_flag;

static void *set_stop_later(void *arg)
{
    (void)arg;
    usleep(700000);
    stop_flag = 1;
    return NULL;
}

static void test_pg_conn_retries_until_stop(void **state)
{
    (void)state;
    /* Nothing listens on this port of the test's range. */
    ecm_pg *pg =
        ecm_pg_new("host=127.0.0.1 port=20150 user=x dbname=x connect_timeout=2", &stop_flag);
    stop_flag = 0;
    pthread_t th;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pthread_create(&th, NULL, set_stop_later, NULL), 0);
    assert_null(ecm_pg_conn(pg));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(th, NULL);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* It kept retrying (100 + 200 + 400 ms...) until the stop, then gave up promptly. */
    assert_true(secs >= 0.6);
    assert_true(secs < 2.0);
    assert_null(ecm_pg_try_conn(pg));
    assert_null(ecm_pg_exec(pg, "SELECT 1", 0, NULL));
    assert_string_equal(ecm_pg_last_sqlstate(pg), "08006");
    assert_int_equal(ecm_pg_check_broken(pg), 1);
    ecm_pg_destroy(pg);
}

static void test_pg_copy_round_trips_escaped_text(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    assert_int_equal(ecm_pg_cmd(pg, "CREATE TABLE c (id int, s text)", 0, NULL), 0);
    static const char *const vals[] = {"plain",       "tab\there", "line\nbreak", "cr\rhere",
                                       "back\\slash", "\\N",       NULL,          "",
                                       "caf\xc3\xa9"};
    size_t n = sizeof vals / sizeof vals[0];
    ecm_buf b;
    ecm_buf_init(&b, 1u << 20);
    for (size_t i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "%zu", i);
        assert_int_equal(ecm_pg_copy_escape(&b, id), 0);
        assert_int_equal(ecm_buf_add(&b, "\t", 1), 0);
        assert_int_equal(ecm_pg_copy_escape(&b, vals[i]), 0);
        assert_int_equal(ecm_buf_add(&b, "\n", 1), 0);
    }
    const char *buf = ecm_buf_ptr(&b);
    size_t len = ecm_buf_len(&b);
    assert_int_equal(ecm_pg_begin(pg), 0);
    assert_int_equal(ecm_pg_copy_begin(pg, "COPY c (id, s) FROM STDIN"), 0);
    /* Split the data to test several puts. */
    assert_int_equal(ecm_pg_copy_put(pg, buf, len / 2), 0);
    assert_int_equal(ecm_pg_copy_put(pg, buf + len / 2, len - len / 2), 0);
    assert_int_equal(ecm_pg_copy_end(pg), 0);
    assert_int_equal(ecm_pg_commit(pg), 0);
    ecm_buf_destroy(&b);

    PGresult *r = ecm_pg_exec(pg, "SELECT id, s FROM c ORDER BY id", 0, NULL);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), (int)n);
    for (size_t i = 0; i < n; i++) {
        if (!vals[i]) {
            assert_true(PQgetisnull(r, (int)i, 1));
        } else {
            assert_false(PQgetisnull(r, (int)i, 1));
            assert_string_equal(PQgetvalue(r, (int)i, 1), vals[i]);
        }
    }
    PQclear(r);
    ecm_pg_destroy(pg);
}

static void test_pg_copy_bad_row_fails_with_sqlstate(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    assert_int_equal(ecm_pg_cmd(pg, "CREATE TABLE c (id int, s text)", 0, NULL), 0);
    assert_int_equal(ecm_pg_begin(pg), 0);
    assert_int_equal(ecm_pg_copy_begin(pg, "COPY c (id, s) FROM STDIN"), 0);
    const char rows[] = "1\tok\nnot-a-number\tbad\n";
    assert_int_equal(ecm_pg_copy_put(pg, rows, sizeof rows - 1), 0);
    assert_int_equal(ecm_pg_copy_end(pg), -1);
    assert_string_equal(ecm_pg_last_sqlstate(pg), "22P02");
    ecm_pg_rollback(pg);
    char *cnt = value(pg, "SELECT count(*) FROM c");
    assert_string_equal(cnt, "0");
    free(cnt);
    /* A COPY into a missing table fails at begin. */
    assert_int_equal(ecm_pg_copy_begin(pg, "COPY nope FROM STDIN"), -1);
    assert_string_equal(ecm_pg_last_sqlstate(pg), "42P01");
    assert_int_equal(ecm_pg_cmd(pg, "SELECT 1", 0, NULL), 0);
    ecm_pg_destroy(pg);
}

static void test_pg_copy_escape_forms(void **state)
{
    (void)state;
    ecm_buf b;
    ecm_buf_init(&b, 1u << 20);
    assert_int_equal(ecm_pg_copy_escape(&b, "a\\b\tc\nd\re"), 0);
    assert_string_equal(ecm_buf_ptr(&b), "a\\\\b\\tc\\nd\\re");
    assert_int_equal(ecm_pg_copy_escape(&b, NULL), 0);
    assert_string_equal(ecm_buf_ptr(&b), "a\\\\b\\tc\\nd\\re\\N");
    assert_int_equal(ecm_buf_len(&b), strlen(ecm_buf_ptr(&b)));
    /* Growth over many appends keeps everything. */
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(ecm_pg_copy_escape(&b, "xy"), 0);
    }
    assert_int_equal(ecm_buf_len(&b), strlen("a\\\\b\\tc\\nd\\re\\N") + 20000);
    assert_int_equal(ecm_buf_ptr(&b)[ecm_buf_len(&b)], '\0');
    ecm_buf_destroy(&b);
}

typedef struct {
    ecm_pg_pool *pool;
    int done;
} pool_arg;

static void *pool_worker(void *p)
{
    pool_arg *a = p;
    for (int i = 0; i < 25; i++) {
        ecm_pg *pg = ecm_pg_pool_get(a->pool);
        if (ecm_pg_cmd(pg, "INSERT INTO hits VALUES (1)", 0, NULL) == 0) {
            a->done++;
        }
        ecm_pg_pool_put(a->pool, pg);
    }
    return NULL;
}

static void test_pg_pool_shares_handles_between_threads(void **state)
{
    NEED_DB(state);
    ecm_pg_pool *pool = ecm_pg_pool_new(db->dsn, 3, NULL);
    assert_non_null(pool);
    ecm_pg *pg = ecm_pg_pool_get(pool);
    assert_int_equal(ecm_pg_cmd(pg, "CREATE TABLE hits (x int)", 0, NULL), 0);
    ecm_pg_pool_put(pool, pg);
    pthread_t th[8];
    pool_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i].pool = pool;
        args[i].done = 0;
        assert_int_equal(pthread_create(&th[i], NULL, pool_worker, &args[i]), 0);
    }
    int done = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        done += args[i].done;
    }
    assert_int_equal(done, 200);
    pg = ecm_pg_pool_get(pool);
    char *n = value(pg, "SELECT count(*) FROM hits");
    assert_string_equal(n, "200");
    free(n);
    /* Only the pool's 3 connections were ever opened. */
    n = value(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()");
    assert_true(strtol(n, NULL, 10) <= 3);
    free(n);
    ecm_pg_pool_put(pool, pg);
    ecm_pg_pool_destroy(pool);
}

typedef struct {
    ecm_pg_pool *pool;
    volatile int got;
} blocker_arg;

static void *pool_blocker(void *p)
{
    blocker_arg *a = p;
    ecm_pg *pg = ecm_pg_pool_get(a->pool);
    a->got = 1;
    ecm_pg_pool_put(a->pool, pg);
    return NULL;
}

static void test_pg_pool_get_blocks_until_put(void **state)
{
    (void)state;
    ecm_pg_pool *pool = ecm_pg_pool_new("host=127.0.0.1 port=20151", 1, NULL);
    ecm_pg *pg = ecm_pg_pool_get(pool);
    blocker_arg a = {pool, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pool_blocker, &a), 0);
    usleep(200000);
    assert_int_equal(a.got, 0);
    ecm_pg_pool_put(pool, pg);
    pthread_join(th, NULL);
    assert_int_equal(a.got, 1);
    ecm_pg_pool_destroy(pool);
}

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void test_pg_pool_wait_bound_returns_null_after_the_wait(void **state)
{
    (void)state;
    ecm_pg_pool *pool = ecm_pg_pool_new("host=127.0.0.1 port=20151", 1, NULL);
    assert_non_null(pool);
    ecm_pg_pool_set_limits(pool, 300, 0);
    ecm_pg *held = ecm_pg_pool_get(pool);
    assert_non_null(held);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(ecm_pg_pool_get(pool));
    /* Not before the configured wait (the upper side is the scheduler's). */
    assert_true(elapsed_ms(&t0) >= 299.0);
    /* What a handler does with it: every call fails like a DB that is down. */
    assert_null(ecm_pg_exec(NULL, "SELECT 1", 0, NULL));
    assert_int_equal(ecm_pg_begin(NULL), -1);
    ecm_pg_pool_put(pool, NULL);
    /* A handle given back is taken at once again. */
    ecm_pg_pool_put(pool, held);
    ecm_pg *again = ecm_pg_pool_get(pool);
    assert_ptr_equal(again, held);
    ecm_pg_pool_put(pool, again);
    ecm_pg_pool_destroy(pool);
}

static void test_pg_pool_sets_statement_timeout(void **state)
{
    NEED_DB(state);
    ecm_pg_pool *pool = ecm_pg_pool_new(db->dsn, 1, NULL);
    assert_non_null(pool);
    ecm_pg_pool_set_limits(pool, 1000, 150);
    ecm_pg *pg = ecm_pg_pool_get(pool);
    char *v = value(pg, "SHOW statement_timeout");
    assert_string_equal(v, "150ms");
    free(v);
    ecm_pg_expect_sqlstate(pg, "57014");
    assert_null(ecm_pg_exec(pg, "SELECT pg_sleep(10)", 0, NULL));
    assert_string_equal(ecm_pg_last_sqlstate(pg), "57014"); /* query_canceled */
    ecm_pg_expect_sqlstate(pg, NULL);
    /* A transaction may raise it for statements that rightly wait longer. */
    assert_int_equal(ecm_pg_begin_timeout(pg, 5000), 0);
    v = value(pg, "SHOW statement_timeout");
    assert_string_equal(v, "5s");
    free(v);
    assert_int_equal(ecm_pg_cmd(pg, "SELECT pg_sleep(0.3)", 0, NULL), 0);
    assert_int_equal(ecm_pg_commit(pg), 0);
    v = value(pg, "SHOW statement_timeout");
    assert_string_equal(v, "150ms");
    free(v);
    /* After a reconnect too. */
    assert_int_equal(ecm_pg_cmd(pg, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL), -1);
    ecm_pg_check_broken(pg);
    assert_non_null(ecm_pg_conn(pg));
    v = value(pg, "SHOW statement_timeout");
    assert_string_equal(v, "150ms");
    free(v);
    ecm_pg_pool_put(pool, pg);
    ecm_pg_pool_destroy(pool);
}

/* The value of keyword among conn's connection options (PQconninfo), or ""
 * when it has none; freed by the caller. */
static char *conn_option(PGconn *conn, const char *keyword)
{
    PQconninfoOption *opts = PQconninfo(conn);
    assert_non_null(opts);
    char *v = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, keyword) == 0)
            v = strdup(o->val ? o->val : "");
    }
    PQconninfoFree(opts);
    assert_non_null(v);
    return v;
}

static void assert_option(PGconn *conn, const char *keyword, const char *want)
{
    char *v = conn_option(conn, keyword);
    if (strcmp(v, want) != 0) {
        free(v);
        fail_msg("%s: want '%s'", keyword, want);
    }
    free(v);
}

/* Keepalives and tcp_user_timeout reach every connection, so that a silent
 * partition ends a query; the DSN's own values win over ECM's. */
static void test_pg_connections_get_keepalives_unless_the_dsn_sets_them(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    PGconn *conn = ecm_pg_conn(pg);
    assert_non_null(conn);
    assert_option(conn, "keepalives", "1");
    assert_option(conn, "keepalives_idle", "15");
    assert_option(conn, "keepalives_interval", "5");
    assert_option(conn, "keepalives_count", "3");
    assert_option(conn, "tcp_user_timeout", "20000");
    assert_option(conn, "connect_timeout", "10");
    ecm_pg_destroy(pg);

    char dsn[sizeof db->dsn + 128];
    snprintf(dsn, sizeof dsn, "%s keepalives_idle=77 tcp_user_timeout=4321 keepalives=0", db->dsn);
    pg = ecm_pg_new(dsn, NULL);
    conn = ecm_pg_conn(pg);
    assert_non_null(conn);
    assert_option(conn, "keepalives", "0");
    assert_option(conn, "keepalives_idle", "77");
    assert_option(conn, "tcp_user_timeout", "4321");
    assert_option(conn, "keepalives_count", "3"); /* not in the DSN: ECM's */
    ecm_pg_destroy(pg);
}

/* The server's application_name of a session on pg (owned by the caller). */
static char *app_name_of(ecm_pg *pg)
{
    PGresult *r = ecm_pg_exec(pg, "SELECT current_setting('application_name')", 0, NULL);
    assert_non_null(r);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* A session is named after its service in pg_stat_activity ("ecm-" and the
 * log's service name) unless the DSN names it. */
static void test_pg_sessions_are_named_after_the_service_unless_the_dsn_names_them(void **state)
{
    NEED_DB(state);
    unsetenv("PGAPPNAME");
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    char *name = app_name_of(pg);
    assert_string_equal(name, "ecm-test_pg");
    free(name);
    ecm_pg_destroy(pg);

    char dsn[sizeof db->dsn + 64];
    snprintf(dsn, sizeof dsn, "%s application_name=ops-console", db->dsn);
    pg = ecm_pg_new(dsn, NULL);
    name = app_name_of(pg);
    assert_string_equal(name, "ops-console");
    free(name);
    ecm_pg_destroy(pg);
}

static void test_pg_dsn_check_accepts_strings_and_uris_and_refuses_garbage(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(ecm_pg_dsn_check("host=db dbname=ecm keepalives_idle=5", err, sizeof err), 0);
    assert_int_equal(
        ecm_pg_dsn_check("postgresql://u@db:5432/ecm?tcp_user_timeout=1", err, sizeof err), 0);
    assert_int_equal(ecm_pg_dsn_check("host=db no_such_option=1", err, sizeof err), -1);
    assert_non_null(strstr(err, "no_such_option"));
    assert_int_equal(ecm_pg_dsn_check("host='unterminated", err, sizeof err), -1);
    assert_non_null(strstr(err, "not a libpq connection string"));
}

/* The idle work of test_pg_idle_work_runs_while_the_server_works: counts
 * its calls, waits on the connection's socket as the sms sender does, and
 * on its second call ends the other session's transaction, whose lock the
 * statement waits for (so the statement can only finish after the work
 * ran). */
typedef struct {
    PGconn *holder;
    int calls;
    int fd_ok;
} idle_probe;

static void idle_probe_fn(void *arg, int fd)
{
    idle_probe *p = arg;
    p->calls++;
    p->fd_ok += fd >= 0;
    if (p->calls == 2)
        ecm_test_pg_exec(p->holder, "COMMIT");
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    (void)poll(&pfd, 1, 20);
}

static void test_pg_idle_work_runs_while_the_server_works(void **state)
{
    NEED_DB(state);
    ecm_pg *pg = ecm_pg_new(db->dsn, NULL);
    assert_int_equal(ecm_pg_cmd(pg, "CREATE TABLE t (id int PRIMARY KEY, n int)", 0, NULL), 0);
    assert_int_equal(ecm_pg_cmd(pg, "INSERT INTO t VALUES (1, 0), (2, 0)", 0, NULL), 0);
    for (int prepared = 0; prepared < 2; prepared++) {
        ecm_pg_set_prepare(pg, prepared);
        idle_probe probe = {.holder = PQconnectdb(db->dsn)};
        assert_int_equal(PQstatus(probe.holder), CONNECTION_OK);
        ecm_test_pg_exec(probe.holder, "BEGIN");
        ecm_test_pg_exec(probe.holder, "UPDATE t SET n = n + 10 WHERE id = 1");
        ecm_pg_set_idle(pg, idle_probe_fn, &probe);
        const char *id[] = {"1"};
        PGresult *r = ecm_pg_exec(pg, "UPDATE t SET n = n + 1 WHERE id = $1 RETURNING n", 1, id);
        assert_non_null(r);
        /* after the other session's +10 was committed by the idle work */
        assert_int_equal(strtol(PQgetvalue(r, 0, 0), NULL, 10), 11 * (prepared + 1));
        PQclear(r);
        assert_true(probe.calls >= 2);
        assert_int_equal(probe.fd_ok, probe.calls);
        /* Errors come back as without idle work. */
        const char *zero[] = {"0"};
        assert_null(ecm_pg_exec(pg, "SELECT 1 / $1::int", 1, zero));
        assert_string_equal(ecm_pg_last_sqlstate(pg), "22012");
        assert_int_equal(ecm_pg_check_broken(pg), 0);
        /* Cleared: the handle waits as before and calls nothing. */
        ecm_pg_set_idle(pg, NULL, NULL);
        int calls = probe.calls;
        assert_int_equal(ecm_pg_cmd(pg, "SELECT pg_sleep($1::float8)", 1, (const char *[]){"0.05"}),
                         0);
        assert_int_equal(probe.calls, calls);
        PQfinish(probe.holder);
    }
    ecm_pg_destroy(pg);
}

int main(void)
{
    ecm_log_init("test_pg", ECM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pg_exec_with_params_and_errors, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_transactions_commit_and_rollback, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_idle_work_runs_while_the_server_works,
                                        scratch_setup, ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_begin_by_key_sets_its_transaction_only,
                                        scratch_setup, ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_prepared_statements_recover_when_the_server_changed,
                                        scratch_setup, ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_begin_by_key_keeps_generic_plans, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_exec_binary_returns_binary_columns, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_reconnects_after_backend_is_terminated,
                                        scratch_setup, ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_prepared_statements, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_broken_connection_is_not_replaced_silently,
                                        scratch_setup, ecm_test_db_teardown),
        cmocka_unit_test(test_pg_conn_retries_until_stop),
        cmocka_unit_test_setup_teardown(test_pg_copy_round_trips_escaped_text, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_copy_bad_row_fails_with_sqlstate, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test(test_pg_copy_escape_forms),
        cmocka_unit_test_setup_teardown(test_pg_pool_shares_handles_between_threads, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test(test_pg_pool_get_blocks_until_put),
        cmocka_unit_test(test_pg_pool_wait_bound_returns_null_after_the_wait),
        cmocka_unit_test_setup_teardown(test_pg_pool_sets_statement_timeout, scratch_setup,
                                        ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(test_pg_connections_get_keepalives_unless_the_dsn_sets_them,
                                        scratch_setup, ecm_test_db_teardown),
        cmocka_unit_test_setup_teardown(
            test_pg_sessions_are_named_after_the_service_unless_the_dsn_names_them, scratch_setup,
            ecm_test_db_teardown),
        cmocka_unit_test(test_pg_dsn_check_accepts_strings_and_uris_and_refuses_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ecm_odbc against a real server: PostgreSQL through psqlODBC, as the
 * simulator's database is reached in development. Needs ECM_TEST_PG_DSN;
 * skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ecm_log.h"
#include "ecm_odbc.h"
#include "ecm_test_support.h"

#define ROWS 2500 /* more than one chunk of the parameter array */
/* Nothing listens here: inside this test's assigned port range. */
#define DEAD_PORT "20611"

typedef struct {
    ecm_test_db *db;
    PGconn *pg;
    char odbc[1200];
    char odbc_dead[1200];
} fixture;

static int setup(void **state)
{
    *state = NULL;
    const char *dsn = ecm_test_pg_dsn();
    if (!dsn)
        return 0;
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    f->db = ecm_test_db_new("ecm_odbc");
    if (ecm_test_odbc_string(dsn, f->db->name, NULL, f->odbc, sizeof f->odbc) != 0 ||
        ecm_test_odbc_string(dsn, f->db->name, DEAD_PORT, f->odbc_dead, sizeof f->odbc_dead) != 0)
        return -1;
    f->pg = ecm_test_pg_connect(f->db->dsn);
    ecm_test_pg_exec(f->pg, "CREATE TABLE Import_T (AccountNumber varchar(30) PRIMARY KEY, "
                            "FirstName varchar(50), TimeZoneBias integer, DstObserved smallint)");
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    if (f->pg)
        PQfinish(f->pg);
    int rc = ecm_test_db_destroy(f->db);
    free(f);
    return rc;
}

static void test_ecm_odbc_identifier(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(0, ecm_odbc_validate_identifier("Import_5002", err, sizeof err));
    assert_int_equal(0, ecm_odbc_validate_identifier("dbo.DL_5002_1", err, sizeof err));
    assert_int_equal(-1, ecm_odbc_validate_identifier("", err, sizeof err));
    assert_int_equal(-1, ecm_odbc_validate_identifier("1abc", err, sizeof err));
    assert_int_equal(-1, ecm_odbc_validate_identifier("t; DROP TABLE x", err, sizeof err));
    assert_non_null(strstr(err, "letters"));
}

/* The parameter arrays of ROWS rows: column-wise, with NULLs. */
typedef struct {
    char acct[ROWS][16], name[ROWS][16], bias[ROWS][8];
    const char *cols[4][ROWS];
} batch;

static void batch_fill(batch *b, const char *prefix)
{
    for (int r = 0; r < ROWS; r++) {
        snprintf(b->acct[r], sizeof b->acct[r], "%s%d", prefix, r);
        snprintf(b->name[r], sizeof b->name[r], "N%d", r);
        snprintf(b->bias[r], sizeof b->bias[r], "%d", r % 2 ? 300 : -330);
        b->cols[0][r] = b->acct[r];
        b->cols[1][r] = r % 10 == 0 ? NULL : b->name[r];
        b->cols[2][r] = b->bias[r];
        b->cols[3][r] = r % 2 ? "1" : "0";
    }
}

static int count_rows(void *ctx, const char *const *cols, int ncols)
{
    long *sum = ctx;
    assert_int_equal(2, ncols);
    assert_non_null(cols[0]);
    *sum += strtol(cols[0], NULL, 10);
    if (!cols[1])
        *sum += 1000000;
    return 0;
}

static void test_ecm_odbc_array_insert_and_query(void **state)
{
    fixture *f = ecm_test_need(*state);
    ecm_odbc *o = ecm_odbc_new(f->odbc, 0, "test");
    assert_non_null(o);
    static batch b;
    batch_fill(&b, "A-");
    const char *const *vals[4] = {b.cols[0], b.cols[1], b.cols[2], b.cols[3]};
    assert_int_equal(0, ecm_odbc_exec_array(o,
                                            "INSERT INTO Import_T (AccountNumber, FirstName, "
                                            "TimeZoneBias, DstObserved) VALUES (?, ?, ?, ?)",
                                            vals, 4, ROWS));
    assert_int_equal(ROWS, ecm_test_pg_int(f->pg, "SELECT count(*) FROM Import_T"));
    assert_int_equal(ROWS / 10, ecm_test_pg_int(f->pg, "SELECT count(*) FROM Import_T "
                                                       "WHERE FirstName IS NULL"));
    assert_int_equal(-330, ecm_test_pg_int(f->pg, "SELECT TimeZoneBias FROM Import_T "
                                                  "WHERE AccountNumber = 'A-0'"));

    /* Text parameters; a NULL column reaches the callback as NULL. */
    long sum = 0;
    const char *p[2] = {"A-0", "A-10"};
    assert_int_equal(2, ecm_odbc_query(o,
                                       "SELECT TimeZoneBias, FirstName FROM Import_T "
                                       "WHERE AccountNumber IN (?, ?) ORDER BY AccountNumber",
                                       p, 2, count_rows, &sum));
    assert_int_equal(-330 - 330 + 2 * 1000000, sum);
    assert_int_equal(0, ecm_odbc_query(o,
                                       "SELECT TimeZoneBias, FirstName FROM Import_T "
                                       "WHERE AccountNumber = ?",
                                       (const char *[]){"nobody"}, 1, count_rows, &sum));
    ecm_odbc_destroy(o);
}

/* One bad row (a duplicate key in the last chunk) and nothing is written. */
static void test_ecm_odbc_array_all_or_nothing(void **state)
{
    fixture *f = ecm_test_need(*state);
    ecm_odbc *o = ecm_odbc_new(f->odbc, 0, "test");
    assert_non_null(o);
    static batch b;
    batch_fill(&b, "B-");
    b.cols[0][ROWS - 1] = b.acct[3]; /* duplicate of row 3 */
    const char *const *vals[4] = {b.cols[0], b.cols[1], b.cols[2], b.cols[3]};
    long long before = ecm_test_pg_int(f->pg, "SELECT count(*) FROM Import_T");
    assert_int_equal(-1, ecm_odbc_exec_array(o,
                                             "INSERT INTO Import_T (AccountNumber, FirstName, "
                                             "TimeZoneBias, DstObserved) VALUES (?, ?, ?, ?)",
                                             vals, 4, ROWS));
    assert_int_equal(before, ecm_test_pg_int(f->pg, "SELECT count(*) FROM Import_T"));
    assert_int_equal(0, ecm_test_pg_int(f->pg, "SELECT count(*) FROM Import_T "
                                               "WHERE AccountNumber LIKE 'B-%%'"));
    assert_false(ecm_odbc_connected(o));
    assert_true(ecm_odbc_backoff_ms(o) > 0);
    /* The handle reconnects and works again. */
    assert_int_equal(1, ecm_odbc_query(o, "SELECT 1", NULL, 0, NULL, NULL));
    assert_int_equal(0, ecm_odbc_backoff_ms(o));
    ecm_odbc_destroy(o);
}

static void test_ecm_odbc_unreachable(void **state)
{
    fixture *f = ecm_test_need(*state);
    ecm_odbc *o = ecm_odbc_new(f->odbc_dead, 1, "dead");
    assert_non_null(o);
    assert_int_equal(-1, ecm_odbc_connect(o));
    assert_int_equal(100, ecm_odbc_backoff_ms(o));
    assert_int_equal(-1, ecm_odbc_query(o, "SELECT 1", NULL, 0, NULL, NULL));
    assert_int_equal(200, ecm_odbc_backoff_ms(o));
    assert_null(ecm_odbc_dbc(o));
    ecm_odbc_destroy(o);
}

/* ecm_odbc_row_fn: counts rows whose first column is not NULL. */
static int count_nonnull(void *ctx, const char *const *cols, int ncols)
{
    int *n = ctx;
    *n += ncols > 0 && cols[0] != NULL;
    return 0;
}

/* An IN list of keys bigger than the column limit: every '?' is bound, and
 * one past the documented maximum is refused. */
static void test_ecm_odbc_query_long_in_list(void **state)
{
    fixture *f = ecm_test_need(*state);
    enum { K = 700 };
    static char keys[ECM_ODBC_PARAMS_MAX + 1][16];
    static const char *params[ECM_ODBC_PARAMS_MAX + 1];
    static char sql[ECM_ODBC_PARAMS_MAX * 3 + 128];
    size_t len = (size_t)snprintf(sql, sizeof sql,
                                  "SELECT g FROM generate_series(1, %d) g WHERE g::text IN (?", K);
    for (int i = 1; i < K; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, ",?");
    snprintf(sql + len, sizeof sql - len, ")");
    for (int i = 0; i <= ECM_ODBC_PARAMS_MAX; i++) {
        snprintf(keys[i], sizeof keys[i], "%d", 2 * i + 1); /* odd numbers */
        params[i] = keys[i];
    }
    ecm_odbc *o = ecm_odbc_new(f->odbc, 1, "test");
    assert_non_null(o);
    int seen = 0;
    /* the odd numbers among 1..K that are among the first K odd numbers */
    assert_int_equal(ecm_odbc_query(o, sql, params, K, count_nonnull, &seen), K / 2);
    assert_int_equal(seen, K / 2);
    assert_int_equal(ecm_odbc_query(o, "SELECT 1", params, ECM_ODBC_PARAMS_MAX + 1, NULL, NULL),
                     -1);
    ecm_odbc_destroy(o);
}

int main(void)
{
    ecm_test_log_init("test_ecm_odbc", ECM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ecm_odbc_identifier),
        cmocka_unit_test(test_ecm_odbc_array_insert_and_query),
        cmocka_unit_test(test_ecm_odbc_array_all_or_nothing),
        cmocka_unit_test(test_ecm_odbc_unreachable),
        cmocka_unit_test(test_ecm_odbc_query_long_in_list),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

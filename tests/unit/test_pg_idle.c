/* ecm_pg and a server that closes connections (a restart, an administrator,
 * an idle timeout): a connection lost while idle is replaced before the next
 * command instead of failing it; one lost inside a transaction is not
 * replaced silently. The server side is played by pg_terminate_backend().
 * Reads only, so no scratch database. Needs ECM_TEST_PG_DSN; skipped without
 * it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <poll.h>

#include <cmocka.h>

#include "ecm_log.h"
#include "ecm_pg.h"

typedef struct {
    PGconn *admin;
    char dsn[1024];
} fixture;

static int setup(void **state)
{
    const char *base = getenv("ECM_TEST_PG_DSN");
    *state = NULL;
    if (!base)
        return 0;
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dsn, sizeof f->dsn, "%s", base);
    f->admin = PQconnectdb(f->dsn);
    if (PQstatus(f->admin) != CONNECTION_OK)
        fail_msg("ECM_TEST_PG_DSN: %s", PQerrorMessage(f->admin));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f) {
        PQfinish(f->admin);
        free(f);
    }
    return 0;
}

static long long backend_pid(ecm_pg *pg)
{
    PGresult *r = ecm_pg_exec(pg, "SELECT pg_backend_pid()", 0, NULL);
    assert_non_null(r);
    long long pid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return pid;
}

/* Terminates the backend of pg's connection and waits until the client side
 * has seen the server close it (its goodbye is readable on the socket), as
 * after any real loss while idle. Under load the backend can leave
 * pg_stat_activity well before its last bytes reach us. */
static void terminate(fixture *f, ecm_pg *pg, long long pid)
{
    int fd = PQsocket(ecm_pg_conn(pg));
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", pid);
    PQclear(PQexec(f->admin, sql));
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 10000) != 1) {
        fail_msg("the server did not close backend %lld within 10 s", pid);
    }
}

static void test_pg_replaces_a_connection_lost_while_idle(void **state)
{
    fixture *f = *state;
    if (!f)
        skip();
    ecm_pg *pg = ecm_pg_new(f->dsn, NULL);
    assert_non_null(ecm_pg_conn(pg));
    long long first = backend_pid(pg);
    terminate(f, pg, first);

    /* The next command runs, on a new connection. */
    long long second = backend_pid(pg);
    assert_true(second != first);
    assert_string_equal(ecm_pg_last_sqlstate(pg), "");

    /* The same through ecm_pg_conn() and a transaction. */
    terminate(f, pg, second);
    PGconn *c = ecm_pg_conn(pg);
    assert_non_null(c);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    assert_int_equal(ecm_pg_begin(pg), 0);
    assert_true(backend_pid(pg) != second);
    assert_int_equal(ecm_pg_commit(pg), 0);
    ecm_pg_destroy(pg);
}

static void test_pg_reports_a_connection_lost_inside_a_transaction(void **state)
{
    fixture *f = *state;
    if (!f)
        skip();
    ecm_pg *pg = ecm_pg_new(f->dsn, NULL);
    assert_int_equal(ecm_pg_begin(pg), 0);
    long long pid = backend_pid(pg);
    terminate(f, pg, pid);

    /* The transaction is lost: the caller must hear it, not get a new
     * connection that would run the rest of the work on its own. */
    assert_null(ecm_pg_exec(pg, "SELECT 1", 0, NULL));
    assert_null(ecm_pg_exec(pg, "SELECT 1", 0, NULL));
    assert_int_equal(ecm_pg_check_broken(pg), 1);

    /* After the caller has seen it, the handle reconnects. */
    assert_true(backend_pid(pg) != pid);
    ecm_pg_destroy(pg);
}

/* What else an idle connection is sent is no loss: a listening
 * connection's notifications stay for its reader, on the same connection. */
static void test_pg_keeps_a_listening_connection_and_its_notifications(void **state)
{
    fixture *f = *state;
    if (!f)
        skip();
    ecm_pg *pg = ecm_pg_new(f->dsn, NULL);
    assert_int_equal(ecm_pg_cmd(pg, "LISTEN ecm_test_idle", 0, NULL), 0);
    long long pid = backend_pid(pg);
    PGconn *c = ecm_pg_conn(pg);
    PQclear(PQexec(f->admin, "NOTIFY ecm_test_idle"));
    struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
    if (poll(&pfd, 1, 10000) != 1)
        fail_msg("the notification did not arrive within 10 s");

    assert_ptr_equal(ecm_pg_try_conn(pg), c);
    PGnotify *n = PQnotifies(c);
    assert_non_null(n);
    assert_string_equal(n->relname, "ecm_test_idle");
    PQfreemem(n);
    assert_true(backend_pid(pg) == pid);
    ecm_pg_destroy(pg);
}

int main(void)
{
    ecm_log_init("test_pg_idle", ECM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_replaces_a_connection_lost_while_idle),
        cmocka_unit_test(test_pg_keeps_a_listening_connection_and_its_notifications),
        cmocka_unit_test(test_pg_reports_a_connection_lost_inside_a_transaction),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

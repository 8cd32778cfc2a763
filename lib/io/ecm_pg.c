#include "ecm_pg.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_clock.h"
#include "ecm_log.h"

#define PG_BACKOFF_START_MS 100
#define PG_BACKOFF_MAX_MS 5000
#define PG_CONNECT_TIMEOUT_S "10"
/* TCP keepalives and TCP_USER_TIMEOUT on every connection: behind a silent
 * partition (no RST, no FIN) a command would otherwise wait for the
 * kernel's retransmissions to give up (~15 min), and an idle connection
 * would look alive forever. A command's unacknowledged bytes end the
 * connection after PG_TCP_USER_TIMEOUT_MS; an idle one is found dead after
 * PG_KEEPALIVES_IDLE_S + PG_KEEPALIVES_COUNT * PG_KEEPALIVES_INTERVAL_S.
 * A long-running statement is not cut: the server's kernel acknowledges
 * what it was sent. */
#define PG_KEEPALIVES_IDLE_S "15"
#define PG_KEEPALIVES_INTERVAL_S "5"
#define PG_KEEPALIVES_COUNT "3"
#define PG_TCP_USER_TIMEOUT_MS "20000"
#define PG_SQL_LOG_MAX 120

struct ecm_pg {
    char *dsn;
    volatile sig_atomic_t *stop;
    PGconn *conn;
    int connected_once; /* to tell a reconnect from the first connect */
    char sqlstate[6];
    char expected[6];          /* a SQLSTATE the caller handles: logged at debug */
    long statement_timeout_ms; /* set on each new connection; 0: none */
    int prepare;               /* ecm_pg_set_prepare() */
    int goodbye;               /* the server sent FATAL on conn while it was idle */
    ecm_pg_idle_fn idle;       /* ecm_pg_set_idle() */
    void *idle_arg;            /* its argument */
    size_t nprepared;          /* statements prepared on conn */
    unsigned prepared_gen;     /* in their names: a cache dropped never reuses one */
    struct {
        uint64_t hash;
        char *sql;
    } prepared[ECM_PG_PREPARED_MAX];
};

static void pg_message(const char *in, char *out, size_t size);

/* Forgets the statements prepared on the connection (closed or replaced:
 * a new session has none). */
static void prepared_forget(ecm_pg *pg)
{
    for (size_t i = 0; i < pg->nprepared; i++) {
        free(pg->prepared[i].sql);
    }
    pg->nprepared = 0;
}

ecm_pg *ecm_pg_new(const char *dsn, volatile sig_atomic_t *stop)
{
    ecm_pg *pg = calloc(1, sizeof *pg);
    if (!pg) {
        return NULL;
    }
    pg->dsn = strdup(dsn ? dsn : "");
    if (!pg->dsn) {
        free(pg);
        return NULL;
    }
    pg->stop = stop;
    return pg;
}

int ecm_pg_dsn_check(const char *dsn, char *errstr, size_t errstr_size)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn ? dsn : "", &err);
    if (!opts) {
        char msg[512];
        pg_message(err ? err : "out of memory", msg, sizeof msg);
        snprintf(errstr, errstr_size, "not a libpq connection string: %s", msg);
        PQfreemem(err);
        return -1;
    }
    PQconninfoFree(opts);
    return 0;
}

void ecm_pg_destroy(ecm_pg *pg)
{
    if (!pg) {
        return;
    }
    if (pg->conn) {
        PQfinish(pg->conn);
    }
    prepared_forget(pg);
    free(pg->dsn);
    free(pg);
}

static int stop_requested(const ecm_pg *pg)
{
    return pg->stop && *pg->stop;
}

/* A libpq message on one line (runs of whitespace become one space), for logs. */
static void pg_message(const char *in, char *out, size_t size)
{
    size_t o = 0;
    int space = 1; /* drops leading whitespace */
    if (size == 0) {
        return;
    }
    for (const char *p = in ? in : ""; *p && o + 1 < size; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            if (!space) {
                out[o++] = ' ';
            }
            space = 1;
        } else {
            out[o++] = *p;
            space = 0;
        }
    }
    while (o > 0 && out[o - 1] == ' ') {
        o--;
    }
    out[o] = '\0';
}

/* Server NOTICEs go to the JSON log instead of libpq's default printing to
 * stderr. libpq passes here too the error a server sends on an idle
 * connection before it closes it (a restart, pg_terminate_backend, an idle
 * timeout): FATAL, which marks the handle's connection as going away
 * (conn_usable). */
static void notice_receive(void *arg, const PGresult *res)
{
    ecm_pg *pg = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    /* 57P01-57P05: an administrator's or a crash's shutdown, cannot
     * connect now, idle session timeout (a crash's is a WARNING). */
    if ((severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0)) ||
        (st && strncmp(st, "57P0", 4) == 0 && st[4] >= '1' && st[4] <= '5' && st[5] == '\0'))
        pg->goodbye = 1;
    char msg[1024];
    pg_message(PQresultErrorMessage(res), msg, sizeof msg);
    ecm_log_debug("PostgreSQL notice", "%s", msg);
}

/* Sets the handle's statement_timeout on a new connection. Returns 0 or -1. */
static int set_statement_timeout(const ecm_pg *pg, PGconn *c)
{
    if (pg->statement_timeout_ms <= 0) {
        return 0;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "SET statement_timeout = %ld", pg->statement_timeout_ms);
    PGresult *res = PQexec(c, sql);
    int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? 0 : -1;
}

void ecm_pg_set_statement_timeout(ecm_pg *pg, long ms)
{
    if (pg) {
        pg->statement_timeout_ms = ms > 0 ? ms : 0;
    }
}

/* One connection attempt. Returns 0 and sets pg->conn, or -1 with a warn log. */
static int connect_once(ecm_pg *pg, long next_wait_ms)
{
    /* ECM's defaults before the DSN (dbname, expanded), so that a value
     * given in the DSN wins: libpq keeps the last value of a repeated
     * keyword. The service's name ("ecm-sms") names the session in
     * pg_stat_activity unless the DSN or PGAPPNAME names it. */
    char app[80];
    (void)snprintf(app, sizeof app, "ecm-%s", ecm_log_service());
    const char *const keys[] = {"connect_timeout",           "keepalives",       "keepalives_idle",
                                "keepalives_interval",       "keepalives_count", "tcp_user_timeout",
                                "fallback_application_name", "dbname",           NULL};
    const char *const vals[] = {PG_CONNECT_TIMEOUT_S,
                                "1",
                                PG_KEEPALIVES_IDLE_S,
                                PG_KEEPALIVES_INTERVAL_S,
                                PG_KEEPALIVES_COUNT,
                                PG_TCP_USER_TIMEOUT_MS,
                                app,
                                pg->dsn,
                                NULL};
    char err[512];

    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    prepared_forget(pg);
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK && set_statement_timeout(pg, c) != 0) {
        pg_message(PQerrorMessage(c), err, sizeof err);
        ecm_log_warn("PostgreSQL statement_timeout not set", "%s", err);
        PQfinish(c);
        return -1;
    }
    if (c && PQstatus(c) == CONNECTION_OK) {
        pg->conn = c;
        pg->goodbye = 0;
        PQsetNoticeReceiver(c, notice_receive, pg);
        if (pg->connected_once) {
            ecm_log_info("reconnected to PostgreSQL", "host=%s port=%s db=%s", PQhost(c), PQport(c),
                         PQdb(c));
        } else {
            ecm_log_info("connected to PostgreSQL", "host=%s port=%s db=%s", PQhost(c), PQport(c),
                         PQdb(c));
        }
        pg->connected_once = 1;
        return 0;
    }
    pg_message(c ? PQerrorMessage(c) : "out of memory", err, sizeof err);
    if (next_wait_ms > 0) {
        ecm_log_warn("PostgreSQL connection failed", "%s; retrying in %ld ms", err, next_wait_ms);
    } else {
        ecm_log_warn("PostgreSQL connection failed", "%s", err);
    }
    if (c) {
        PQfinish(c);
    }
    return -1;
}

static void sleep_ms_interruptible(const ecm_pg *pg, long ms)
{
    while (ms > 0 && !stop_requested(pg)) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* 1 when the handle's connection can take a command. A connection the
 * server closed while it sat idle (a restart, an idle timeout) still looks
 * OK until it is used; reading what the server left on it tells, without
 * blocking. Such a connection is dropped here, so that the caller gets a
 * fresh one instead of a failed command: nothing was in flight on it and no
 * transaction was open, so no work is lost. One that broke inside a
 * transaction is kept, for ecm_pg_check_broken() to report the lost unit of
 * work. */
static int conn_usable(ecm_pg *pg)
{
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        return 0;
    }
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE) {
        return 1;
    }
    /* A closing server sends its FATAL message (notice_receive), then the
     * end of the stream, which may trail it by a moment: either tells. What
     * else an idle connection is sent (a NOTIFY, a parameter's new value) is
     * left for its reader, without waiting for more: a listening
     * connection is sent notifications all the time. */
    int lost = pg->goodbye; /* parsed by an earlier call (PQnotifies) */
    struct pollfd pfd = {.fd = PQsocket(pg->conn), .events = POLLIN};
    if (!lost && poll(&pfd, 1, 0) > 0) {
        lost = !PQconsumeInput(pg->conn);
        /* Parses what was read: a FATAL goes to notice_receive, a NOTIFY to
         * the queue PQnotifies reads. */
        (void)PQisBusy(pg->conn);
        lost = lost || PQstatus(pg->conn) != CONNECTION_OK || pg->goodbye;
    }
    if (lost) {
        char err[512];
        pg_message(PQerrorMessage(pg->conn), err, sizeof err);
        ecm_log_warn("PostgreSQL connection lost while idle; reconnecting", "%s", err);
        PQfinish(pg->conn);
        pg->conn = NULL;
        return 0;
    }
    return 1;
}

PGconn *ecm_pg_conn(ecm_pg *pg)
{
    long wait = PG_BACKOFF_START_MS;
    if (!pg) {
        return NULL;
    }
    if (conn_usable(pg)) {
        return pg->conn;
    }
    for (;;) {
        if (connect_once(pg, stop_requested(pg) ? 0 : wait) == 0) {
            return pg->conn;
        }
        if (stop_requested(pg)) {
            return NULL;
        }
        sleep_ms_interruptible(pg, wait);
        if (stop_requested(pg)) {
            return NULL;
        }
        wait = wait * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : wait * 2;
    }
}

PGconn *ecm_pg_try_conn(ecm_pg *pg)
{
    if (!pg) {
        return NULL;
    }
    if (conn_usable(pg)) {
        return pg->conn;
    }
    return connect_once(pg, 0) == 0 ? pg->conn : NULL;
}

/* Class 08 is "connection exception"; 57P01..57P03 are the server going
 * away (admin shutdown, crash shutdown, cannot connect now). */
static int sqlstate_is_connection(const char *st)
{
    return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
           strcmp(st, "57P03") == 0;
}

int ecm_pg_check_broken(ecm_pg *pg)
{
    if (!pg) {
        return 0;
    }
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK || sqlstate_is_connection(pg->sqlstate)) {
        if (pg->conn) {
            PQfinish(pg->conn);
            pg->conn = NULL;
        }
        return 1;
    }
    return 0;
}

const char *ecm_pg_last_sqlstate(const ecm_pg *pg)
{
    return pg ? pg->sqlstate : "";
}

/* Records the SQLSTATE of a failed result (or of a lost connection) and logs. */
static void note_failure(ecm_pg *pg, PGresult *res, const char *what)
{
    char err[1024];
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!st || !st[0]) {
        /* No server error: the connection itself failed. */
        st = (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) ? "08006" : "XX000";
    }
    snprintf(pg->sqlstate, sizeof pg->sqlstate, "%s", st);
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary) {
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        char joined[1024];
        snprintf(joined, sizeof joined, "%s%s%s", primary, detail ? " " : "", detail ? detail : "");
        pg_message(joined, err, sizeof err);
    } else {
        const char *msg = res ? PQresultErrorMessage(res) : NULL;
        if (!msg || !msg[0]) {
            msg = pg->conn ? PQerrorMessage(pg->conn) : "no connection";
        }
        pg_message(msg, err, sizeof err);
    }
    if (pg->expected[0] && strcmp(pg->expected, pg->sqlstate) == 0) {
        ecm_log_debug("PostgreSQL command failed as the caller allows", "SQLSTATE %s: %s (%.*s)",
                      pg->sqlstate, err, PG_SQL_LOG_MAX, what);
        return;
    }
    ecm_log_error("PostgreSQL command failed", "SQLSTATE %s: %s (%.*s)", pg->sqlstate, err,
                  PG_SQL_LOG_MAX, what);
}

void ecm_pg_expect_sqlstate(ecm_pg *pg, const char *sqlstate)
{
    if (pg) {
        snprintf(pg->expected, sizeof pg->expected, "%s", sqlstate ? sqlstate : "");
    }
}

/* The connection to run a command on. A handle without one makes one
 * attempt, so that a handler fails fast while the DB is down. A broken one
 * is not silently replaced: it may have been inside a transaction, and the
 * caller must learn (ecm_pg_check_broken) that the unit of work was lost. */
static PGconn *command_conn(ecm_pg *pg)
{
    PGconn *c = pg->conn && conn_usable(pg) ? pg->conn : NULL;
    if (!c && !pg->conn) {
        c = ecm_pg_try_conn(pg);
    }
    if (c && PQstatus(c) != CONNECTION_OK) {
        c = NULL;
    }
    if (!c) {
        snprintf(pg->sqlstate, sizeof pg->sqlstate, "08006");
    }
    return c;
}

void ecm_pg_set_prepare(ecm_pg *pg, int on)
{
    if (pg) {
        pg->prepare = on != 0;
    }
}

void ecm_pg_set_idle(ecm_pg *pg, ecm_pg_idle_fn fn, void *arg)
{
    if (pg) {
        pg->idle = fn;
        pg->idle_arg = fn ? arg : NULL;
    }
}

/* The answer to the statement just sent on c, as PQexec() gives it (the
 * first error, else the last result), running the handle's idle work
 * while it has not come. NULL only when c is gone. */
static PGresult *await_answer(ecm_pg *pg, PGconn *c)
{
    PGresult *answer = NULL;
    for (;;) {
        while (PQisBusy(c)) {
            pg->idle(pg->idle_arg, PQsocket(c));
            if (!PQconsumeInput(c)) {
                break; /* PQgetResult() reports it */
            }
        }
        PGresult *r = PQgetResult(c);
        if (!r) {
            return answer;
        }
        ExecStatusType st = answer ? PQresultStatus(answer) : PGRES_COMMAND_OK;
        if (answer && (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR)) {
            PQclear(r);
        } else {
            PQclear(answer);
            answer = r;
        }
    }
}

/* PQexecPrepared(), or its send and await_answer() when the handle has
 * idle work. */
static PGresult *run_prepared(ecm_pg *pg, PGconn *c, const char *name, int nparams,
                              const char *const *params, int binary)
{
    if (!pg->idle) {
        return PQexecPrepared(c, name, nparams, params, NULL, NULL, binary);
    }
    if (!PQsendQueryPrepared(c, name, nparams, params, NULL, NULL, binary)) {
        return NULL;
    }
    return await_answer(pg, c);
}

/* PQexecParams(), or its send and await_answer() when the handle has idle
 * work. */
static PGresult *run_params(ecm_pg *pg, PGconn *c, const char *sql, int nparams,
                            const char *const *params, int binary)
{
    if (!pg->idle) {
        return PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, binary);
    }
    if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, binary)) {
        return NULL;
    }
    return await_answer(pg, c);
}

/* FNV-1a of the statement's text. */
static uint64_t sql_hash(const char *sql)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }
    return h;
}

/* Whether res says the server no longer runs the statements this handle
 * prepared as they were: one is gone (26000: a pooler handed the session
 * over or ran DISCARD ALL), a name is taken (42P05: by a statement the
 * cache does not know of), or a plan's columns changed under it (0A000:
 * "cached plan must not change result type", a migration altered a table
 * it reads). */
static int prepared_stale(const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return st && (!strcmp(st, "26000") || !strcmp(st, "42P05") || !strcmp(st, "0A000"));
}

/* Runs sql as a statement prepared on c (named "ecm_p<generation>_<index>"),
 * preparing it the first time. Sets *res to the result (NULL or an error
 * result on failure) and returns 1; returns 0 when sql is not to be
 * prepared (the handle's list is full, or out of memory): the caller runs
 * it unnamed. */
static int exec_prepared_once(ecm_pg *pg, PGconn *c, const char *sql, int nparams,
                              const char *const *params, int binary, PGresult **res)
{
    uint64_t h = sql_hash(sql);
    size_t i = 0;
    while (i < pg->nprepared && (pg->prepared[i].hash != h || strcmp(pg->prepared[i].sql, sql))) {
        i++;
    }
    char name[40];
    snprintf(name, sizeof name, "ecm_p%u_%zu", pg->prepared_gen, i);
    if (i == pg->nprepared) {
        if (pg->nprepared == ECM_PG_PREPARED_MAX) {
            return 0;
        }
        char *copy = strdup(sql);
        if (!copy) {
            return 0;
        }
        PGresult *p = PQprepare(c, name, sql, nparams, NULL);
        if (!p || PQresultStatus(p) != PGRES_COMMAND_OK) {
            free(copy);
            *res = p;
            return 1;
        }
        PQclear(p);
        pg->prepared[i].hash = h;
        pg->prepared[i].sql = copy;
        pg->nprepared++;
    }
    *res = run_prepared(pg, c, name, nparams, params, binary);
    return 1;
}

/* exec_prepared_once(); when the server's prepared statements are not what
 * the cache says (prepared_stale), the cache is dropped (new names from
 * then on) and, outside a transaction, sql prepared and run again at once.
 * In a transaction the error stands (the transaction is aborted); the
 * caller's next one prepares anew. */
static int exec_prepared(ecm_pg *pg, PGconn *c, const char *sql, int nparams,
                         const char *const *params, int binary, PGresult **res)
{
    if (!exec_prepared_once(pg, c, sql, nparams, params, binary, res)) {
        return 0;
    }
    if (!prepared_stale(*res)) {
        return 1;
    }
    ecm_log_warn("PostgreSQL's prepared statements changed under the session: preparing again",
                 "SQLSTATE %s (%.*s)", PQresultErrorField(*res, PG_DIAG_SQLSTATE), PG_SQL_LOG_MAX,
                 sql);
    prepared_forget(pg);
    pg->prepared_gen++;
    if (PQtransactionStatus(c) != PQTRANS_IDLE) {
        return 1;
    }
    PQclear(*res);
    *res = NULL;
    return exec_prepared_once(pg, c, sql, nparams, params, binary, res);
}

/* ecm_pg_exec() with results in text (binary 0) or binary format. */
static PGresult *exec_format(ecm_pg *pg, const char *sql, int nparams, const char *const *params,
                             int binary)
{
    if (!pg || !sql) {
        return NULL;
    }
    pg->sqlstate[0] = '\0';
    PGconn *c = command_conn(pg);
    if (!c) {
        ecm_log_error("PostgreSQL command failed", "SQLSTATE 08006: no connection (%.*s)",
                      PG_SQL_LOG_MAX, sql);
        return NULL;
    }
    PGresult *res = NULL;
    if (!pg->prepare || nparams == 0 || !exec_prepared(pg, c, sql, nparams, params, binary, &res)) {
        res = run_params(pg, c, sql, nparams, params, binary);
    }
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        return res;
    }
    note_failure(pg, res, sql);
    PQclear(res);
    return NULL;
}

PGresult *ecm_pg_exec(ecm_pg *pg, const char *sql, int nparams, const char *const *params)
{
    return exec_format(pg, sql, nparams, params, 0);
}

PGresult *ecm_pg_exec_binary(ecm_pg *pg, const char *sql, int nparams, const char *const *params)
{
    return exec_format(pg, sql, nparams, params, 1);
}

int ecm_pg_cmd(ecm_pg *pg, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = ecm_pg_exec(pg, sql, nparams, params);
    if (!res) {
        return -1;
    }
    PQclear(res);
    return 0;
}

int ecm_pg_seqscan(ecm_pg *pg, int on)
{
    return ecm_pg_cmd(
        pg, on ? "SET LOCAL enable_seqscan TO DEFAULT" : "SET LOCAL enable_seqscan = off", 0, NULL);
}

int ecm_pg_begin(ecm_pg *pg)
{
    return ecm_pg_cmd(pg, "BEGIN", 0, NULL);
}

/* Runs sql through the simple protocol (statements separated by ';', or a
 * COPY): 0 when its last result's status is want, else -1 after logging
 * the failure as msg (what the caller left to clean up stays). */
static int exec_simple(ecm_pg *pg, const char *sql, ExecStatusType want, const char *msg)
{
    pg->sqlstate[0] = '\0';
    PGconn *c = command_conn(pg);
    if (!c) {
        ecm_log_error(msg, "SQLSTATE 08006: no connection (%.*s)", PG_SQL_LOG_MAX, sql);
        return -1;
    }
    PGresult *res = PQexec(c, sql);
    int ok = res && PQresultStatus(res) == want;
    if (!ok) {
        note_failure(pg, res, sql);
    }
    PQclear(res);
    return ok ? 0 : -1;
}

/* Runs "BEGIN; <set_local>" as one message: one round trip where BEGIN and
 * then the SET LOCAL would be two. 0, or -1 with nothing left open. */
static int begin_with(ecm_pg *pg, const char *set_local)
{
    char sql[128];
    int n = snprintf(sql, sizeof sql, "BEGIN; %s", set_local);
    if (!pg || n < 0 || (size_t)n >= sizeof sql) {
        return -1;
    }
    if (exec_simple(pg, sql, PGRES_COMMAND_OK, "PostgreSQL command failed") != 0) {
        ecm_pg_rollback(pg);
        return -1;
    }
    return 0;
}

int ecm_pg_begin_timeout(ecm_pg *pg, long ms)
{
    char set[64];
    snprintf(set, sizeof set, "SET LOCAL statement_timeout = %ld", ms > 0 ? ms : 0);
    return begin_with(pg, set);
}

/* Generic plans only (ecm_pg.h): the strategy's round, whose statements
 * join a batch of keys but also read small tables whole. */
int ecm_pg_begin_generic(ecm_pg *pg)
{
    return begin_with(pg, "SET LOCAL plan_cache_mode = force_generic_plan");
}

/* A statement prepared through the cache keeps one generic plan only while
 * that plan's estimate is not worse than the custom plans' (plan_cache_mode
 * auto). A join with unnest($1) is estimated at 10 rows generic and at the
 * array's length custom: with the ~6 ids a DLR batch carries, PostgreSQL
 * planned the batch's update again at every call (3,718 plans in 3,717
 * calls, 1.5 s of planning in a 20,000-message run). Statements that find
 * their rows by key have one plan whatever the values: the generic one. */
int ecm_pg_begin_by_key(ecm_pg *pg)
{
    return begin_with(
        pg, "SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan");
}

int ecm_pg_commit(ecm_pg *pg)
{
    return ecm_pg_cmd(pg, "COMMIT", 0, NULL);
}

void ecm_pg_rollback(ecm_pg *pg)
{
    if (!pg || !pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        return;
    }
    if (PQtransactionStatus(pg->conn) == PQTRANS_IDLE) {
        return;
    }
    PQclear(PQexec(pg->conn, "ROLLBACK"));
}

/* ---- COPY ---- */

/* Ends a COPY that went wrong and drains its results. */
static void copy_abort(ecm_pg *pg, const char *why)
{
    PGresult *res;
    PQputCopyEnd(pg->conn, why);
    while ((res = PQgetResult(pg->conn)) != NULL) {
        PQclear(res);
    }
}

int ecm_pg_copy_begin(ecm_pg *pg, const char *copy_sql)
{
    if (!pg || !copy_sql) {
        return -1;
    }
    if (exec_simple(pg, copy_sql, PGRES_COPY_IN, "PostgreSQL COPY failed") == 0) {
        return 0;
    }
    /* A COPY TO would leave rows coming; drain whatever is pending. */
    PGresult *res;
    while (pg->conn && (res = PQgetResult(pg->conn)) != NULL) {
        PQclear(res);
    }
    return -1;
}

int ecm_pg_copy_put(ecm_pg *pg, const char *data, size_t len)
{
    if (!pg || !pg->conn) {
        return -1;
    }
    while (len > 0) {
        /* PQputCopyData takes an int length. */
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        if (PQputCopyData(pg->conn, data, chunk) != 1) {
            note_failure(pg, NULL, "COPY data");
            copy_abort(pg, "sending COPY data failed");
            return -1;
        }
        data += chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

int ecm_pg_copy_end(ecm_pg *pg)
{
    PGresult *res;
    int rc = 0;
    if (!pg || !pg->conn) {
        return -1;
    }
    if (PQputCopyEnd(pg->conn, NULL) != 1) {
        note_failure(pg, NULL, "COPY end");
        rc = -1;
    }
    while ((res = PQgetResult(pg->conn)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            note_failure(pg, res, "COPY");
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

int ecm_pg_copy_escape_n(ecm_buf *b, const char *s, size_t n)
{
    if (!s)
        return ecm_buf_add(b, "\\N", 2);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc;
        switch (s[i]) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue;
        }
        if (ecm_buf_add(b, s + start, i - start) != 0 || ecm_buf_add(b, esc, 2) != 0)
            return -1;
        start = i + 1;
    }
    return ecm_buf_add(b, s + start, n - start);
}

int ecm_pg_copy_escape(ecm_buf *b, const char *s)
{
    return ecm_pg_copy_escape_n(b, s, s ? strlen(s) : 0);
}

/* ---- pool ---- */

struct ecm_pg_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed;
    ecm_pg **all;
    ecm_pg **idle; /* stack of free handles */
    int size, nidle;
    long wait_ms; /* 0: no bound */
    /* Waits that ran out, and when that was last logged. */
    long timeouts;
    int64_t logged_ms;
};

ecm_pg_pool *ecm_pg_pool_new(const char *dsn, int size, volatile sig_atomic_t *stop)
{
    if (size < 1) {
        return NULL;
    }
    ecm_pg_pool *p = calloc(1, sizeof *p);
    if (!p) {
        return NULL;
    }
    p->all = calloc((size_t)size, sizeof *p->all);
    p->idle = calloc((size_t)size, sizeof *p->idle);
    if (!p->all || !p->idle) {
        goto fail_arrays;
    }
    for (int i = 0; i < size; i++) {
        p->all[i] = ecm_pg_new(dsn, stop);
        if (!p->all[i]) {
            goto fail_handles;
        }
        p->idle[i] = p->all[i];
    }
    p->size = p->nidle = size;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        goto fail_handles;
    }
    if (ecm_clock_cond_init(&p->freed) != 0) {
        pthread_mutex_destroy(&p->mu);
        goto fail_handles;
    }
    return p;

fail_handles:
    for (int i = 0; i < size; i++) {
        ecm_pg_destroy(p->all[i]);
    }
fail_arrays:
    free(p->all);
    free(p->idle);
    free(p);
    return NULL;
}

void ecm_pg_pool_destroy(ecm_pg_pool *p)
{
    if (!p) {
        return;
    }
    for (int i = 0; i < p->size; i++) {
        ecm_pg_destroy(p->all[i]);
    }
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    free(p->all);
    free(p->idle);
    free(p);
}

void ecm_pg_pool_set_limits(ecm_pg_pool *p, long wait_ms, long statement_timeout_ms)
{
    if (!p) {
        return;
    }
    p->wait_ms = wait_ms > 0 ? wait_ms : 0;
    for (int i = 0; i < p->size; i++) {
        ecm_pg_set_statement_timeout(p->all[i], statement_timeout_ms);
    }
}

ecm_pg *ecm_pg_pool_get(ecm_pg_pool *p)
{
    return ecm_pg_pool_get_within(p, p->wait_ms);
}

ecm_pg *ecm_pg_pool_get_within(ecm_pg_pool *p, long wait_ms)
{
    struct timespec until = ecm_clock_mono_after_us((int64_t)wait_ms * 1000);
    pthread_mutex_lock(&p->mu);
    while (p->nidle == 0) {
        if (wait_ms <= 0) {
            pthread_cond_wait(&p->freed, &p->mu);
        } else if (pthread_cond_timedwait(&p->freed, &p->mu, &until) == ETIMEDOUT &&
                   p->nidle == 0) {
            long n = ++p->timeouts;
            int64_t now = ecm_clock_mono_ms();
            int log = now - p->logged_ms >= 10000;
            if (log) {
                p->logged_ms = now;
                p->timeouts = 0;
            }
            pthread_mutex_unlock(&p->mu);
            if (log) {
                ecm_log_hint(ECM_LOG_WARN, "no DB connection free in time",
                             "raise the pool size, or look for slow queries",
                             "%ld requests waited %ld ms for one of %d pooled connections", n,
                             wait_ms, p->size);
            }
            return NULL;
        }
    }
    ecm_pg *pg = p->idle[--p->nidle];
    pthread_mutex_unlock(&p->mu);
    return pg;
}

void ecm_pg_pool_put(ecm_pg_pool *p, ecm_pg *pg)
{
    if (!p || !pg) {
        return;
    }
    /* A handle goes back clean: a transaction left open by a failed
     * handler must not leak into the next one's work. */
    ecm_pg_rollback(pg);
    if (pg->conn && PQstatus(pg->conn) != CONNECTION_OK) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    pthread_mutex_lock(&p->mu);
    if (p->nidle < p->size) {
        p->idle[p->nidle++] = pg;
    }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
}

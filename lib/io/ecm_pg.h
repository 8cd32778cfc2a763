/* PostgreSQL through libpq: one connection with capped-backoff reconnect, and
 * a small pool for HTTP handlers. Parameterised SQL only. */
#ifndef ECM_PG_H
#define ECM_PG_H

#include <signal.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "ecm_buf.h"

typedef struct ecm_pg ecm_pg;

/* Creates a handle; does not connect. stop (may be NULL) ends reconnect
 * waits early when it becomes non-zero. Its connections have TCP
 * keepalives (idle 15 s, interval 5 s, count 3) and tcp_user_timeout
 * 20000 ms, so that a silent network partition ends a command instead of
 * hanging it; each of these given in dsn wins. */
ecm_pg *ecm_pg_new(const char *dsn, volatile sig_atomic_t *stop)
    __attribute__((warn_unused_result));

/* Checks that dsn parses as a libpq connection string (key=value or URI),
 * without connecting. Returns 0, or -1 with libpq's reason in errstr. */
int ecm_pg_dsn_check(const char *dsn, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));
void ecm_pg_destroy(ecm_pg *pg);

/* Returns a live connection, (re)connecting first if needed: retries with
 * capped exponential backoff (100 ms doubling to 5 s, logged) until it
 * connects or *stop is set, in which case it returns NULL. */
PGconn *ecm_pg_conn(ecm_pg *pg);

/* Like ecm_pg_conn() but makes one attempt only; NULL when the DB is down. */
PGconn *ecm_pg_try_conn(ecm_pg *pg);

/* Call after a failed command: if the connection is broken it is dropped so
 * that the next ecm_pg_conn() reconnects. Returns 1 when the failure was a
 * connection-level one (worth retrying the whole unit of work), else 0. */
int ecm_pg_check_broken(ecm_pg *pg);

/* Runs sql with text parameters (params may be NULL when nparams is 0).
 * Returns the result when its status is COMMAND_OK or TUPLES_OK; otherwise
 * logs the error (msg + SQLSTATE), clears it and returns NULL. */
PGresult *ecm_pg_exec(ecm_pg *pg, const char *sql, int nparams, const char *const *params);

/* Like ecm_pg_exec() with the result's columns in binary format (a bytea
 * arrives as its raw bytes, a bigint as 8 bytes in network order). */
PGresult *ecm_pg_exec_binary(ecm_pg *pg, const char *sql, int nparams, const char *const *params);

/* Like ecm_pg_exec() for commands without rows: returns 0 or -1. */
int ecm_pg_cmd(ecm_pg *pg, const char *sql, int nparams, const char *const *params)
    __attribute__((warn_unused_result));

/* Inside a transaction, for its remaining statements (SET LOCAL): with on 0
 * the planner avoids sequential scans, for work whose statements all find
 * their rows by a key or a ctid. A prepared statement's generic plan made
 * while a table was nearly empty (a fresh database before its first
 * analyze) can otherwise scan the whole table at every call. on 1 restores
 * the default. 0 or -1. */
int ecm_pg_seqscan(ecm_pg *pg, int on) __attribute__((warn_unused_result));

int ecm_pg_begin(ecm_pg *pg); /* 0 or -1 */
/* BEGIN with statement_timeout ms for this transaction only (SET LOCAL): for
 * work whose statements may rightly wait longer than the connection's bound
 * (an upload batch waiting for the campaign's lock). 0 or -1. */
int ecm_pg_begin_timeout(ecm_pg *pg, long ms) __attribute__((warn_unused_result));
/* BEGIN with sequential scans off for the transaction (ecm_pg_seqscan(pg,
 * 0)) and prepared statements on their generic plan (plan_cache_mode), in
 * one round trip, for a transaction whose statements all find their rows by
 * a key or a ctid: their plan does not depend on the values. 0 or -1. */
int ecm_pg_begin_by_key(ecm_pg *pg) __attribute__((warn_unused_result));
/* BEGIN with prepared statements on their generic plan (plan_cache_mode)
 * only, sequential scans left to the planner: for a transaction whose
 * statements join a batch of keys to their rows but also read small tables
 * (campaigns, strategies, rules) whole. PostgreSQL's automatic choice
 * plans such a statement again at every call while batches are smaller
 * than its generic estimate of 10 rows. 0 or -1. */
int ecm_pg_begin_generic(ecm_pg *pg) __attribute__((warn_unused_result));
int ecm_pg_commit(ecm_pg *pg);    /* 0 or -1 */
void ecm_pg_rollback(ecm_pg *pg); /* best effort, can't fail */

/* Until called again with NULL, a failure with this SQLSTATE (e.g.
 * "23505", a unique violation the caller recovers from) is logged at debug
 * level instead of error. It is still a failure, with its SQLSTATE kept. */
void ecm_pg_expect_sqlstate(ecm_pg *pg, const char *sqlstate);

/* SQLSTATE of the last failed ecm_pg_exec/cmd on this handle ("" if none). */
const char *ecm_pg_last_sqlstate(const ecm_pg *pg);

/* COPY in: starts "COPY ... FROM STDIN" on the handle's connection, then
 * ecm_pg_copy_put() any number of times, then ecm_pg_copy_end(). On any
 * failure the COPY is aborted and -1 returned (the transaction is then
 * failed; roll back). */
int ecm_pg_copy_begin(ecm_pg *pg, const char *copy_sql) __attribute__((warn_unused_result));
int ecm_pg_copy_put(ecm_pg *pg, const char *data, size_t len);
int ecm_pg_copy_end(ecm_pg *pg);

/* Appends s to b escaped for COPY text format (backslash, tab, newline,
 * carriage return). NULL writes \N. Returns 0, or -1 when b is full, out of
 * memory or already failed (b is then failed, see ecm_buf.h). */
int ecm_pg_copy_escape(ecm_buf *b, const char *s) __attribute__((warn_unused_result));

/* ecm_pg_copy_escape() of the n bytes at s (which need no NUL); NULL s
 * writes \N. */
int ecm_pg_copy_escape_n(ecm_buf *b, const char *s, size_t n) __attribute__((warn_unused_result));

/* Statements with parameters run by ecm_pg_exec()/ecm_pg_cmd() on the
 * handle are prepared on its connection the first time (by their text) and
 * executed by name after that, so that PostgreSQL parses and analyses each
 * once a session instead of at every call; after five executions it may
 * plan it once too (plan_cache_mode). For a handle that runs the same
 * statements per row (the strategy's results); up to ECM_PG_PREPARED_MAX
 * texts, the next run unnamed. A new connection prepares them again, and
 * so does a session whose statements the server dropped or whose plans a
 * migration changed (outside a transaction at once; inside, the statement
 * fails with the transaction and the next one prepares anew). Off by
 * default. Can't fail. */
#define ECM_PG_PREPARED_MAX 128
void ecm_pg_set_prepare(ecm_pg *pg, int on);

/* Work to do while the server runs a statement of ecm_pg_exec() or
 * ecm_pg_cmd() (their parameterised form): called with the connection's
 * socket again and again until the answer has come. It must return soon
 * after fd becomes readable (wait on it with its own work, with a bound of
 * a few tens of milliseconds) and must not touch this handle. */
typedef void (*ecm_pg_idle_fn)(void *arg, int fd);

/* Sets (or, with fn NULL, clears) the handle's idle work: the sms sender
 * keeps its gateways busy while its own transaction waits on the
 * database. Can't fail. */
void ecm_pg_set_idle(ecm_pg *pg, ecm_pg_idle_fn fn, void *arg);

/* statement_timeout (ms) the handle sets on every connection it makes from
 * now on (0: the server's). Can't fail. */
void ecm_pg_set_statement_timeout(ecm_pg *pg, long ms);

/* Fixed-size pool for handlers that run on many threads. */
typedef struct ecm_pg_pool ecm_pg_pool;
ecm_pg_pool *ecm_pg_pool_new(const char *dsn, int size, volatile sig_atomic_t *stop)
    __attribute__((warn_unused_result));
void ecm_pg_pool_destroy(ecm_pg_pool *p);
/* Bounds ecm_pg_pool_get()'s wait to wait_ms (0: no bound, the default) and
 * sets statement_timeout_ms on every handle (see above). Before the pool is
 * used. Can't fail. */
void ecm_pg_pool_set_limits(ecm_pg_pool *p, long wait_ms, long statement_timeout_ms);
/* Waits for a free handle: at most the pool's wait bound, then returns NULL
 * (logged, at most every 10 s). Every ecm_pg_* function takes that NULL as
 * a database that cannot be reached (ecm_pg_exec returns NULL, ...), so a
 * handler answers 503 on its usual path. Without a bound, never NULL. */
ecm_pg *ecm_pg_pool_get(ecm_pg_pool *p);
/* Like ecm_pg_pool_get() with its own bound: wait_ms 0 waits as long as it
 * takes (for work already admitted, e.g. the next batch of an upload under
 * way: every holder is bounded by statement_timeout). */
ecm_pg *ecm_pg_pool_get_within(ecm_pg_pool *p, long wait_ms);
/* Gives a handle back; pg may be NULL (nothing happens). */
void ecm_pg_pool_put(ecm_pg_pool *p, ecm_pg *pg);

#endif

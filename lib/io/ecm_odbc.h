/* A connection to a Cisco database over ODBC (unixODBC): UCCE's Logger/HDS
 * (SQL Server through FreeTDS in production), UCCX's db_cra (Informix), and
 * the simulator's PostgreSQL (psqlODBC) in development. It connects lazily,
 * backs off after failures (100 ms doubling to 5 s), logs the driver's
 * diagnostics as one JSON line each, and closes the connection after any
 * failed statement so that the next call starts clean.
 *
 * Statements take and give text: parameters are bound as SQL_C_CHAR (the
 * driver converts to the column's type, which SQL Server, Informix and
 * PostgreSQL all do for integers and strings), columns are fetched as text.
 * Keep the SQL in the subset those servers share (no LIMIT, no RETURNING, no
 * ON CONFLICT; OFFSET ... FETCH NEXT for paging).
 *
 * Not thread-safe: one thread uses a handle. */
#ifndef ECM_ODBC_H
#define ECM_ODBC_H

#include <stddef.h>

typedef struct ecm_odbc ecm_odbc;

/* Longest identifier ecm_odbc_validate_identifier() accepts. */
#define ECM_ODBC_IDENT_MAX 128

/* Validator (ecm_cfg_validator shape) for a table name that goes into SQL
 * text (a table can't be a bound parameter): letters, digits, '_' and '.',
 * not starting with a digit or a dot, at most ECM_ODBC_IDENT_MAX bytes.
 * Returns 0, or -1 with a reason in errstr. */
int ecm_odbc_validate_identifier(const char *value, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* A handle for connection string conn_str (copied), e.g. "Driver={PostgreSQL
 * Unicode};Server=...;". read_only: ask the driver for a read-only
 * connection (Cisco's result tables are read, never written). what names
 * the database in logs ("UCCE Logger"). Does not connect. NULL when memory
 * runs out or conn_str is NULL. */
ecm_odbc *ecm_odbc_new(const char *conn_str, int read_only, const char *what)
    __attribute__((warn_unused_result));

/* Closes the connection and frees the handle; NULL is ignored. */
void ecm_odbc_destroy(ecm_odbc *o);

/* One connection attempt when not connected. Returns 0 when connected, -1
 * after logging the diagnostics and doubling the backoff. */
int ecm_odbc_connect(ecm_odbc *o) __attribute__((warn_unused_result));

/* 1 while a connection is open. */
int ecm_odbc_connected(const ecm_odbc *o);

/* How long to wait before the next attempt: 0 after a success, else the
 * capped backoff. */
long ecm_odbc_backoff_ms(const ecm_odbc *o);

/* Closes the connection (the next call reconnects). Can't fail. */
void ecm_odbc_disconnect(ecm_odbc *o);

/* Marks the handle failed after an error on a statement the caller drove
 * itself through ecm_odbc_dbc(): logs the diagnostics of (type, handle)
 * under msg, closes the connection and bumps the backoff. Returns -1. */
int ecm_odbc_fail(ecm_odbc *o, const char *msg, short type, void *handle);

/* The connection's SQLHDBC (NULL when not connected), for a caller that
 * binds typed columns itself (result-sync's page reader). */
void *ecm_odbc_dbc(ecm_odbc *o);

/* Called once per fetched row with ncols column values as NUL-terminated
 * text (NULL for SQL NULL; CHAR padding trimmed); values live until the
 * call returns. Return 0 to go on, non-zero to stop fetching. */
typedef int (*ecm_odbc_row_fn)(void *ctx, const char *const *cols, int ncols);

/* Most '?' parameters ecm_odbc_query() binds (an IN list of keys). */
#define ECM_ODBC_PARAMS_MAX 1000

/* Runs sql (connecting first when needed) with nparams (0..ECM_ODBC_PARAMS_MAX)
 * text parameters for its '?' markers (a NULL parameter is SQL NULL) and calls row() for each
 * row (row may be NULL for a statement without rows). A column value longer
 * than 4,095 bytes fails the statement. Returns the number of rows fetched,
 * or -1 (logged; the connection is closed). In autocommit mode. */
long ecm_odbc_query(ecm_odbc *o, const char *sql, const char *const *params, int nparams,
                    ecm_odbc_row_fn row, void *ctx) __attribute__((warn_unused_result));

/* Executes sql once for nrows rows with a column-wise parameter array
 * (SQL_ATTR_PARAMSET_SIZE): values[p][r] is parameter p of row r (NULL is SQL
 * NULL). All rows in ONE transaction: committed when every row succeeded,
 * else rolled back (nothing written). Rows go to the driver in chunks of at
 * most 1,000 inside that transaction. Returns 0, or -1 (logged; the
 * connection is closed). */
int ecm_odbc_exec_array(ecm_odbc *o, const char *sql, const char *const *const *values, int nparams,
                        size_t nrows) __attribute__((warn_unused_result));

#endif

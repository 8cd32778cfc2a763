#include "ecm_odbc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sql.h>
#include <sqlext.h>

#include "ecm_log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define LOGIN_TIMEOUT_S 5
#define QUERY_TIMEOUT_S 30
#define DIAG_MAX 5
#define COL_MAX 4096
#define ROW_COLS_MAX 64
#define ARRAY_CHUNK 1000

struct ecm_odbc {
    char *conn_str;
    char *what;
    int read_only;
    SQLHENV env;
    SQLHDBC dbc;
    int connected;
    long backoff_ms;
};

int ecm_odbc_validate_identifier(const char *value, char *errstr, size_t errstr_size)
{
    size_t len = value ? strlen(value) : 0;
    if (len == 0 || len > ECM_ODBC_IDENT_MAX) {
        snprintf(errstr, errstr_size, "a table name must be 1 to %d bytes", ECM_ODBC_IDENT_MAX);
        return -1;
    }
    if ((value[0] >= '0' && value[0] <= '9') || value[0] == '.') {
        snprintf(errstr, errstr_size, "'%s' must start with a letter or '_'", value);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.';
        if (!ok) {
            snprintf(errstr, errstr_size, "'%s' may hold only letters, digits, '_' and '.'", value);
            return -1;
        }
    }
    return 0;
}

/* Logs every diagnostic record of (type, handle) as one line each. */
static void log_diag(const char *what, const char *msg, SQLSMALLINT type, SQLHANDLE handle)
{
    int logged = 0;
    for (SQLSMALLINT i = 1; handle != SQL_NULL_HANDLE && i <= DIAG_MAX; i++) {
        SQLCHAR state[6] = {0};
        SQLCHAR text[512] = {0};
        SQLINTEGER native = 0;
        SQLSMALLINT len = 0;
        if (!SQL_SUCCEEDED(SQLGetDiagRec(type, handle, i, state, &native, text,
                                         (SQLSMALLINT)sizeof text, &len)))
            break;
        /* Drivers end messages with newlines; the log wants one line. */
        size_t n = strnlen((const char *)text, sizeof text - 1);
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
            text[--n] = '\0';
        for (size_t j = 0; j < n; j++)
            if (text[j] == '\n' || text[j] == '\t')
                text[j] = ' ';
        ecm_log_error(msg, "db=%s sqlstate=%s native=%d %s", what, (const char *)state, (int)native,
                      (const char *)text);
        logged = 1;
    }
    if (!logged)
        ecm_log_error(msg, "db=%s the driver gave no diagnostics", what);
}

static void backoff_bump(ecm_odbc *o)
{
    if (o->backoff_ms == 0)
        o->backoff_ms = BACKOFF_MIN_MS;
    else
        o->backoff_ms = o->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : o->backoff_ms * 2;
}

ecm_odbc *ecm_odbc_new(const char *conn_str, int read_only, const char *what)
{
    if (!conn_str)
        return NULL;
    ecm_odbc *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->conn_str = strdup(conn_str);
    o->what = strdup(what ? what : "ODBC");
    if (!o->conn_str || !o->what) {
        ecm_odbc_destroy(o);
        return NULL;
    }
    o->read_only = read_only;
    return o;
}

void ecm_odbc_disconnect(ecm_odbc *o)
{
    if (o->dbc != SQL_NULL_HANDLE) {
        if (o->connected)
            SQLDisconnect(o->dbc);
        SQLFreeHandle(SQL_HANDLE_DBC, o->dbc);
        o->dbc = SQL_NULL_HANDLE;
    }
    o->connected = 0;
}

void ecm_odbc_destroy(ecm_odbc *o)
{
    if (!o)
        return;
    ecm_odbc_disconnect(o);
    if (o->env != SQL_NULL_HANDLE)
        SQLFreeHandle(SQL_HANDLE_ENV, o->env);
    free(o->conn_str);
    free(o->what);
    free(o);
}

int ecm_odbc_fail(ecm_odbc *o, const char *msg, short type, void *handle)
{
    log_diag(o->what, msg, (SQLSMALLINT)type, (SQLHANDLE)handle);
    ecm_odbc_disconnect(o);
    backoff_bump(o);
    return -1;
}

int ecm_odbc_connect(ecm_odbc *o)
{
    if (o->connected)
        return 0;
    if (o->env == SQL_NULL_HANDLE) {
        if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &o->env))) {
            ecm_log_error("cannot allocate the ODBC environment", "db=%s", o->what);
            o->env = SQL_NULL_HANDLE;
            backoff_bump(o);
            return -1;
        }
        SQLSetEnvAttr(o->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
    }
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, o->env, &o->dbc))) {
        log_diag(o->what, "cannot allocate an ODBC connection", SQL_HANDLE_ENV, o->env);
        o->dbc = SQL_NULL_HANDLE;
        backoff_bump(o);
        return -1;
    }
    SQLSetConnectAttr(o->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(uintptr_t)LOGIN_TIMEOUT_S, 0);
    if (o->read_only)
        SQLSetConnectAttr(o->dbc, SQL_ATTR_ACCESS_MODE, (SQLPOINTER)SQL_MODE_READ_ONLY, 0);
    SQLRETURN r = SQLDriverConnect(o->dbc, NULL, (SQLCHAR *)o->conn_str, SQL_NTS, NULL, 0, NULL,
                                   SQL_DRIVER_NOPROMPT);
    if (!SQL_SUCCEEDED(r))
        return ecm_odbc_fail(o, "cannot connect over ODBC", SQL_HANDLE_DBC, o->dbc);
    o->connected = 1;
    if (o->backoff_ms > 0)
        ecm_log_info("ODBC database reachable again", "db=%s", o->what);
    o->backoff_ms = 0;
    return 0;
}

int ecm_odbc_connected(const ecm_odbc *o)
{
    return o->connected;
}

long ecm_odbc_backoff_ms(const ecm_odbc *o)
{
    return o->backoff_ms;
}

void *ecm_odbc_dbc(ecm_odbc *o)
{
    return o->connected ? (void *)o->dbc : NULL;
}

/* A statement on the open connection with the query timeout set, or
 * SQL_NULL_HANDLE (logged, connection closed). */
static SQLHSTMT new_stmt(ecm_odbc *o)
{
    SQLHSTMT st = SQL_NULL_HANDLE;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, &st))) {
        ecm_odbc_fail(o, "cannot allocate an ODBC statement", SQL_HANDLE_DBC, o->dbc);
        return SQL_NULL_HANDLE;
    }
    /* Best effort: not every driver honours a query timeout. */
    SQLSetStmtAttr(st, SQL_ATTR_QUERY_TIMEOUT, (SQLPOINTER)(uintptr_t)QUERY_TIMEOUT_S, 0);
    return st;
}

/* Fails the statement st: logs, frees it, closes the connection. */
static int stmt_fail(ecm_odbc *o, SQLHSTMT st, const char *msg)
{
    log_diag(o->what, msg, SQL_HANDLE_STMT, st);
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    ecm_odbc_disconnect(o);
    backoff_bump(o);
    return -1;
}

/* Reads the current row's ncols columns as text into bufs (COL_MAX each),
 * vals[i] pointing at them or NULL. Returns 0, or -1 when a value does not
 * fit or the driver fails. */
static int read_row(SQLHSTMT st, int ncols, char (*bufs)[COL_MAX], const char **vals)
{
    for (int c = 0; c < ncols; c++) {
        SQLLEN ind = 0;
        SQLRETURN r = SQLGetData(st, (SQLUSMALLINT)(c + 1), SQL_C_CHAR, bufs[c], COL_MAX, &ind);
        if (!SQL_SUCCEEDED(r))
            return -1;
        if (ind == SQL_NULL_DATA) {
            vals[c] = NULL;
            continue;
        }
        if (r == SQL_SUCCESS_WITH_INFO && (ind == SQL_NO_TOTAL || ind >= COL_MAX))
            return -1;
        size_t len = strnlen(bufs[c], COL_MAX - 1);
        while (len > 0 && bufs[c][len - 1] == ' ')
            len--;
        bufs[c][len] = '\0';
        vals[c] = bufs[c];
    }
    return 0;
}

/* Binds nparams text parameters (each NUL-terminated; NULL = SQL NULL). */
static int bind_text_params(SQLHSTMT st, const char *const *params, int nparams, SQLLEN *inds)
{
    for (int i = 0; i < nparams; i++) {
        size_t len = params[i] ? strlen(params[i]) : 0;
        inds[i] = params[i] ? SQL_NTS : SQL_NULL_DATA;
        SQLRETURN r = SQLBindParameter(st, (SQLUSMALLINT)(i + 1), SQL_PARAM_INPUT, SQL_C_CHAR,
                                       SQL_VARCHAR, len > 0 ? len : 1, 0,
                                       (SQLPOINTER)(params[i] ? params[i] : ""), 0, &inds[i]);
        if (!SQL_SUCCEEDED(r))
            return -1;
    }
    return 0;
}

/* Fetches every row of st into row(). Returns the count, or -1. */
static long fetch_rows(SQLHSTMT st, ecm_odbc_row_fn row, void *ctx)
{
    SQLSMALLINT ncols = 0;
    if (!SQL_SUCCEEDED(SQLNumResultCols(st, &ncols)) || ncols < 0 || ncols > ROW_COLS_MAX)
        return -1;
    if (ncols == 0)
        return 0;
    char(*bufs)[COL_MAX] = malloc((size_t)ncols * COL_MAX);
    const char **vals = calloc((size_t)ncols, sizeof *vals);
    long n = 0;
    for (;;) {
        if (!bufs || !vals) {
            n = -1;
            break;
        }
        SQLRETURN r = SQLFetch(st);
        if (r == SQL_NO_DATA)
            break;
        if (!SQL_SUCCEEDED(r) || read_row(st, ncols, bufs, vals) != 0) {
            n = -1;
            break;
        }
        n++;
        if (row && row(ctx, vals, ncols) != 0)
            break;
    }
    free(vals);
    free(bufs);
    return n;
}

long ecm_odbc_query(ecm_odbc *o, const char *sql, const char *const *params, int nparams,
                    ecm_odbc_row_fn row, void *ctx)
{
    if (nparams < 0 || nparams > ECM_ODBC_PARAMS_MAX || ecm_odbc_connect(o) != 0)
        return -1;
    /* The indicators must live until the statement is done with them. */
    SQLLEN *inds = calloc(nparams > 0 ? (size_t)nparams : 1, sizeof *inds);
    if (!inds)
        return -1;
    SQLHSTMT st = new_stmt(o);
    long n = -1;
    if (st == SQL_NULL_HANDLE)
        goto out;
    if (bind_text_params(st, params, nparams, inds) != 0) {
        n = stmt_fail(o, st, "cannot bind ODBC parameters");
        goto out;
    }
    /* Executed directly, not prepared: the statement runs once, and
     * psqlODBC leaks a result when a prepared statement fails. */
    SQLRETURN r = SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS);
    if (!SQL_SUCCEEDED(r) && r != SQL_NO_DATA) {
        n = stmt_fail(o, st, "ODBC statement failed");
        goto out;
    }
    n = r == SQL_NO_DATA ? 0 : fetch_rows(st, row, ctx);
    if (n < 0)
        n = stmt_fail(o, st, "ODBC fetch failed");
    else
        SQLFreeHandle(SQL_HANDLE_STMT, st);
out:
    free(inds);
    return n;
}

/* Column-wise buffers for one chunk of a parameter array. */
typedef struct {
    char *buf;   /* width bytes per row */
    SQLLEN *ind; /* per row: SQL_NTS or SQL_NULL_DATA */
    size_t width;
} param_col;

/* Fills cols for rows [off, off + k) of values and binds them to st.
 * Returns 0 or -1. */
static int bind_chunk(SQLHSTMT st, param_col *cols, const char *const *const *values, int nparams,
                      size_t off, size_t k)
{
    for (int p = 0; p < nparams; p++) {
        param_col *c = &cols[p];
        size_t width = 2;
        for (size_t r = 0; r < k; r++) {
            const char *v = values[p][off + r];
            if (v && strlen(v) + 1 > width)
                width = strlen(v) + 1;
        }
        free(c->buf);
        free(c->ind);
        c->buf = calloc(k, width);
        c->ind = calloc(k, sizeof *c->ind);
        c->width = width;
        if (!c->buf || !c->ind)
            return -1;
        for (size_t r = 0; r < k; r++) {
            const char *v = values[p][off + r];
            c->ind[r] = v ? SQL_NTS : SQL_NULL_DATA;
            if (v)
                memcpy(c->buf + r * width, v, strlen(v) + 1);
        }
        if (!SQL_SUCCEEDED(SQLBindParameter(st, (SQLUSMALLINT)(p + 1), SQL_PARAM_INPUT, SQL_C_CHAR,
                                            SQL_VARCHAR, width - 1, 0, c->buf, (SQLLEN)width,
                                            c->ind)))
            return -1;
    }
    return 0;
}

/* Executes the chunks of the array on st, inside the open transaction.
 * Returns 0, or -1 (diagnostics on st). */
static int exec_chunks(SQLHSTMT st, const char *const *const *values, int nparams, size_t nrows)
{
    param_col *cols = calloc((size_t)nparams, sizeof *cols);
    SQLUSMALLINT *status = calloc(ARRAY_CHUNK, sizeof *status);
    SQLULEN processed = 0;
    int rc = cols && status ? 0 : -1;
    for (size_t off = 0; rc == 0 && off < nrows; off += ARRAY_CHUNK) {
        size_t k = nrows - off < ARRAY_CHUNK ? nrows - off : ARRAY_CHUNK;
        if (bind_chunk(st, cols, values, nparams, off, k) != 0 ||
            !SQL_SUCCEEDED(
                SQLSetStmtAttr(st, SQL_ATTR_PARAMSET_SIZE, (SQLPOINTER)(uintptr_t)k, 0)) ||
            !SQL_SUCCEEDED(SQLSetStmtAttr(st, SQL_ATTR_PARAM_STATUS_PTR, status, 0)) ||
            !SQL_SUCCEEDED(SQLSetStmtAttr(st, SQL_ATTR_PARAMS_PROCESSED_PTR, &processed, 0))) {
            rc = -1;
            break;
        }
        SQLRETURN r = SQLExecute(st);
        if (!SQL_SUCCEEDED(r) || processed != k)
            rc = -1;
        for (size_t i = 0; rc == 0 && i < k; i++)
            if (status[i] == SQL_PARAM_ERROR || status[i] == SQL_PARAM_UNUSED)
                rc = -1;
    }
    for (int p = 0; cols && p < nparams; p++) {
        free(cols[p].buf);
        free(cols[p].ind);
    }
    free(cols);
    free(status);
    return rc;
}

int ecm_odbc_exec_array(ecm_odbc *o, const char *sql, const char *const *const *values, int nparams,
                        size_t nrows)
{
    if (nrows == 0)
        return 0;
    if (nparams < 1 || nparams > ROW_COLS_MAX || ecm_odbc_connect(o) != 0)
        return -1;
    if (!SQL_SUCCEEDED(
            SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_OFF, 0)))
        return ecm_odbc_fail(o, "cannot open an ODBC transaction", SQL_HANDLE_DBC, o->dbc);
    SQLHSTMT st = new_stmt(o);
    if (st == SQL_NULL_HANDLE)
        return -1;
    if (!SQL_SUCCEEDED(SQLSetStmtAttr(st, SQL_ATTR_PARAM_BIND_TYPE,
                                      (SQLPOINTER)SQL_PARAM_BIND_BY_COLUMN, 0)) ||
        !SQL_SUCCEEDED(SQLPrepare(st, (SQLCHAR *)sql, SQL_NTS)) ||
        exec_chunks(st, values, nparams, nrows) != 0) {
        log_diag(o->what, "ODBC batch failed; rolled back", SQL_HANDLE_STMT, st);
        SQLFreeHandle(SQL_HANDLE_STMT, st);
        SQLEndTran(SQL_HANDLE_DBC, o->dbc, SQL_ROLLBACK);
        ecm_odbc_disconnect(o);
        backoff_bump(o);
        return -1;
    }
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    if (!SQL_SUCCEEDED(SQLEndTran(SQL_HANDLE_DBC, o->dbc, SQL_COMMIT)))
        return ecm_odbc_fail(o, "ODBC commit failed", SQL_HANDLE_DBC, o->dbc);
    SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
    return 0;
}

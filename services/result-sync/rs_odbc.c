#include "rs_odbc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sql.h>
#include <sqlext.h>

#include "ecm_log.h"

#define RS_ODBC_TABLE_MAX 128
#define RS_ODBC_BACKOFF_MIN_MS 100
#define RS_ODBC_BACKOFF_MAX_MS 5000
#define RS_ODBC_LOGIN_TIMEOUT_S 5
#define RS_ODBC_QUERY_TIMEOUT_S 30
#define RS_ODBC_DIAG_MAX 5

enum {
    COL_RECOVERY_KEY,
    COL_DATE_TIME,
    COL_CAMPAIGN_ID,
    COL_CALL_RESULT,
    COL_CALL_RESULT_DETAIL,
    COL_CALL_STATUS_ZONE1,
    COL_PHONE,
    COL_ACCOUNT_NUMBER,
    COL_DIALING_MODE,
    COL_CALL_GUID,
    COL_CALL_DURATION,
    COL_COUNT
};

/* Column buffers bound once per prepared statement; each fetch overwrites
 * them and read_page copies them out. */
typedef struct {
    SQLBIGINT recovery_key;
    SQL_TIMESTAMP_STRUCT date_time;
    SQLBIGINT campaign_id;
    SQLINTEGER call_result;
    SQLINTEGER call_result_detail;
    SQLCHAR call_status_zone1[8];
    SQLCHAR phone[64];
    SQLCHAR account_number[64];
    SQLINTEGER dialing_mode;
    SQLCHAR call_guid[64];
    SQLINTEGER call_duration;
    SQLLEN ind[COL_COUNT];
} row_buf;

struct rs_odbc {
    char *conn_str;
    char table[RS_ODBC_TABLE_MAX + 1];
    int page_size;
    SQLHENV env;
    SQLHDBC dbc;
    SQLHSTMT page_stmt;
    int connected;
    long backoff_ms;
    SQLBIGINT param_after;
    SQLLEN param_ind;
    row_buf buf;
};

int rs_odbc_validate_table(const char *value, char *errstr, size_t errstr_size)
{
    size_t len = value ? strlen(value) : 0;
    if (len == 0 || len > RS_ODBC_TABLE_MAX) {
        snprintf(errstr, errstr_size, "table name must be 1 to %d bytes", RS_ODBC_TABLE_MAX);
        return -1;
    }
    /* The name goes into the SQL text (a table can't be a bound parameter),
     * so only plain identifiers, optionally schema-qualified, are allowed. */
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

static void log_diag(const char *msg, SQLSMALLINT type, SQLHANDLE handle)
{
    int logged = 0;
    for (SQLSMALLINT i = 1; handle != SQL_NULL_HANDLE && i <= RS_ODBC_DIAG_MAX; i++) {
        SQLCHAR state[6] = {0};
        SQLCHAR text[512] = {0};
        SQLINTEGER native = 0;
        SQLSMALLINT len = 0;
        SQLRETURN r =
            SQLGetDiagRec(type, handle, i, state, &native, text, (SQLSMALLINT)sizeof(text), &len);
        if (!SQL_SUCCEEDED(r))
            break;
        /* Drivers end messages with newlines; the log wants one line. */
        size_t n = strnlen((const char *)text, sizeof(text) - 1);
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
            text[--n] = '\0';
        for (size_t j = 0; j < n; j++)
            if (text[j] == '\n' || text[j] == '\t')
                text[j] = ' ';
        ecm_log_error(msg, "sqlstate=%s native=%d %s", (const char *)state, (int)native,
                      (const char *)text);
        logged = 1;
    }
    if (!logged)
        ecm_log_error(msg, "the driver gave no diagnostics");
}

static void backoff_bump(rs_odbc *o)
{
    if (o->backoff_ms == 0)
        o->backoff_ms = RS_ODBC_BACKOFF_MIN_MS;
    else if (o->backoff_ms * 2 > RS_ODBC_BACKOFF_MAX_MS)
        o->backoff_ms = RS_ODBC_BACKOFF_MAX_MS;
    else
        o->backoff_ms *= 2;
}

rs_odbc *rs_odbc_new(const char *conn_str, const char *table, int page_size)
{
    char err[256];
    if (!conn_str || page_size < 1 || page_size > RS_ODBC_PAGE_MAX) {
        ecm_log_error("bad result source settings", "page size %d, 1..%d", page_size,
                      RS_ODBC_PAGE_MAX);
        return NULL;
    }
    if (rs_odbc_validate_table(table, err, sizeof(err)) != 0) {
        ecm_log_error("bad result source table", "%s", err);
        return NULL;
    }
    rs_odbc *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->conn_str = strdup(conn_str);
    if (!o->conn_str) {
        free(o);
        return NULL;
    }
    memcpy(o->table, table, strlen(table) + 1);
    o->page_size = page_size;
    return o;
}

void rs_odbc_disconnect(rs_odbc *o)
{
    if (o->page_stmt != SQL_NULL_HANDLE) {
        SQLFreeHandle(SQL_HANDLE_STMT, o->page_stmt);
        o->page_stmt = SQL_NULL_HANDLE;
    }
    if (o->dbc != SQL_NULL_HANDLE) {
        if (o->connected)
            SQLDisconnect(o->dbc);
        SQLFreeHandle(SQL_HANDLE_DBC, o->dbc);
        o->dbc = SQL_NULL_HANDLE;
    }
    o->connected = 0;
}

void rs_odbc_destroy(rs_odbc *o)
{
    if (!o)
        return;
    rs_odbc_disconnect(o);
    if (o->env != SQL_NULL_HANDLE)
        SQLFreeHandle(SQL_HANDLE_ENV, o->env);
    free(o->conn_str);
    free(o);
}

static SQLHSTMT new_stmt(rs_odbc *o)
{
    SQLHSTMT st = SQL_NULL_HANDLE;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, &st))) {
        log_diag("cannot allocate an ODBC statement", SQL_HANDLE_DBC, o->dbc);
        return SQL_NULL_HANDLE;
    }
    /* Best effort: not every driver honours a query timeout. */
    SQLSetStmtAttr(st, SQL_ATTR_QUERY_TIMEOUT, (SQLPOINTER)(uintptr_t)RS_ODBC_QUERY_TIMEOUT_S, 0);
    return st;
}

static int bind_page_columns(rs_odbc *o)
{
    row_buf *b = &o->buf;
    SQLHSTMT st = o->page_stmt;
    struct {
        SQLSMALLINT c_type;
        SQLPOINTER ptr;
        SQLLEN len;
    } cols[COL_COUNT] = {
        [COL_RECOVERY_KEY] = {SQL_C_SBIGINT, &b->recovery_key, 0},
        [COL_DATE_TIME] = {SQL_C_TYPE_TIMESTAMP, &b->date_time, sizeof(b->date_time)},
        [COL_CAMPAIGN_ID] = {SQL_C_SBIGINT, &b->campaign_id, 0},
        [COL_CALL_RESULT] = {SQL_C_SLONG, &b->call_result, 0},
        [COL_CALL_RESULT_DETAIL] = {SQL_C_SLONG, &b->call_result_detail, 0},
        [COL_CALL_STATUS_ZONE1] = {SQL_C_CHAR, b->call_status_zone1, sizeof(b->call_status_zone1)},
        [COL_PHONE] = {SQL_C_CHAR, b->phone, sizeof(b->phone)},
        [COL_ACCOUNT_NUMBER] = {SQL_C_CHAR, b->account_number, sizeof(b->account_number)},
        [COL_DIALING_MODE] = {SQL_C_SLONG, &b->dialing_mode, 0},
        [COL_CALL_GUID] = {SQL_C_CHAR, b->call_guid, sizeof(b->call_guid)},
        [COL_CALL_DURATION] = {SQL_C_SLONG, &b->call_duration, 0},
    };
    for (int i = 0; i < COL_COUNT; i++) {
        SQLRETURN r = SQLBindCol(st, (SQLUSMALLINT)(i + 1), cols[i].c_type, cols[i].ptr,
                                 cols[i].len, &b->ind[i]);
        if (!SQL_SUCCEEDED(r)) {
            log_diag("cannot bind a result source column", SQL_HANDLE_STMT, st);
            return -1;
        }
    }
    return 0;
}

static int prepare_page(rs_odbc *o)
{
    char sql[768];
    /* OFFSET/FETCH is the portable paging form of SQL Server and PostgreSQL;
     * the page size is fixed per handle, so it is part of the text. */
    int n = snprintf(sql, sizeof(sql),
                     "SELECT RecoveryKey, DateTime, CampaignID, CallResult, CallResultDetail, "
                     "CallStatusZone1, Phone, AccountNumber, DialingMode, CallGUID, CallDuration "
                     "FROM %s WHERE RecoveryKey > ? ORDER BY RecoveryKey "
                     "OFFSET 0 ROWS FETCH NEXT %d ROWS ONLY",
                     o->table, o->page_size);
    if (n < 0 || (size_t)n >= sizeof(sql)) {
        ecm_log_error("result source query too long", "table %s", o->table);
        return -1;
    }
    o->page_stmt = new_stmt(o);
    if (o->page_stmt == SQL_NULL_HANDLE)
        return -1;
    if (!SQL_SUCCEEDED(SQLPrepare(o->page_stmt, (SQLCHAR *)sql, SQL_NTS))) {
        log_diag("cannot prepare the result source query", SQL_HANDLE_STMT, o->page_stmt);
        return -1;
    }
    o->param_ind = 0;
    if (!SQL_SUCCEEDED(SQLBindParameter(o->page_stmt, 1, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT,
                                        0, 0, &o->param_after, 0, &o->param_ind))) {
        log_diag("cannot bind the watermark parameter", SQL_HANDLE_STMT, o->page_stmt);
        return -1;
    }
    return bind_page_columns(o);
}

int rs_odbc_connect(rs_odbc *o)
{
    if (o->connected)
        return 0;
    if (o->env == SQL_NULL_HANDLE) {
        if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &o->env))) {
            ecm_log_error("cannot allocate the ODBC environment", NULL);
            o->env = SQL_NULL_HANDLE;
            backoff_bump(o);
            return -1;
        }
        SQLSetEnvAttr(o->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
    }
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, o->env, &o->dbc))) {
        log_diag("cannot allocate an ODBC connection", SQL_HANDLE_ENV, o->env);
        o->dbc = SQL_NULL_HANDLE;
        backoff_bump(o);
        return -1;
    }
    SQLSetConnectAttr(o->dbc, SQL_ATTR_LOGIN_TIMEOUT,
                      (SQLPOINTER)(uintptr_t)RS_ODBC_LOGIN_TIMEOUT_S, 0);
    /* Cisco's result tables are read, never written. */
    SQLSetConnectAttr(o->dbc, SQL_ATTR_ACCESS_MODE, (SQLPOINTER)SQL_MODE_READ_ONLY, 0);
    SQLRETURN r = SQLDriverConnect(o->dbc, NULL, (SQLCHAR *)o->conn_str, SQL_NTS, NULL, 0, NULL,
                                   SQL_DRIVER_NOPROMPT);
    if (!SQL_SUCCEEDED(r)) {
        log_diag("cannot connect to the result source", SQL_HANDLE_DBC, o->dbc);
        rs_odbc_disconnect(o);
        backoff_bump(o);
        return -1;
    }
    o->connected = 1;
    if (prepare_page(o) != 0) {
        rs_odbc_disconnect(o);
        backoff_bump(o);
        return -1;
    }
    if (o->backoff_ms > 0)
        ecm_log_info("result source reachable again", "table %s", o->table);
    o->backoff_ms = 0;
    return 0;
}

int rs_odbc_connected(const rs_odbc *o)
{
    return o->connected;
}

long rs_odbc_backoff_ms(const rs_odbc *o)
{
    return o->backoff_ms;
}

/* Copies a bound string column, trimming the blanks a CHAR(n) column pads
 * with. Returns 1 when the driver had more than the buffer holds. */
static int copy_text(char *dst, size_t dst_size, const SQLCHAR *src, size_t src_size, SQLLEN ind)
{
    dst[0] = '\0';
    if (ind == SQL_NULL_DATA)
        return 0;
    int truncated = ind == SQL_NO_TOTAL || ind < 0 || (size_t)ind >= src_size;
    size_t len = strnlen((const char *)src, src_size - 1);
    if (len >= dst_size) {
        len = dst_size - 1;
        truncated = 1;
    }
    while (len > 0 && src[len - 1] == ' ')
        len--;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return truncated;
}

static int64_t timestamp_ms(const SQL_TIMESTAMP_STRUCT *ts)
{
    struct tm tm = {0};
    tm.tm_year = ts->year - 1900;
    tm.tm_mon = ts->month - 1;
    tm.tm_mday = ts->day;
    tm.tm_hour = ts->hour;
    tm.tm_min = ts->minute;
    tm.tm_sec = ts->second;
    time_t t = timegm(&tm);
    /* fraction is in billionths of a second */
    return (int64_t)t * 1000 + (int64_t)(ts->fraction / 1000000u);
}

static void copy_row(const rs_odbc *o, rs_odbc_row *row)
{
    const row_buf *b = &o->buf;
    memset(row, 0, sizeof(*row));
#define INT_OR_ZERO(col, v) (b->ind[col] == SQL_NULL_DATA ? 0 : (v))
    row->recovery_key = INT_OR_ZERO(COL_RECOVERY_KEY, (int64_t)b->recovery_key);
    row->date_time_ms = INT_OR_ZERO(COL_DATE_TIME, timestamp_ms(&b->date_time));
    row->campaign_id = INT_OR_ZERO(COL_CAMPAIGN_ID, (int64_t)b->campaign_id);
    row->call_result = INT_OR_ZERO(COL_CALL_RESULT, (int)b->call_result);
    row->call_result_detail = INT_OR_ZERO(COL_CALL_RESULT_DETAIL, (int)b->call_result_detail);
    row->dialing_mode = INT_OR_ZERO(COL_DIALING_MODE, (int)b->dialing_mode);
    row->call_duration = INT_OR_ZERO(COL_CALL_DURATION, (int)b->call_duration);
#undef INT_OR_ZERO
    copy_text(row->call_status_zone1, sizeof(row->call_status_zone1), b->call_status_zone1,
              sizeof(b->call_status_zone1), b->ind[COL_CALL_STATUS_ZONE1]);
    copy_text(row->phone, sizeof(row->phone), b->phone, sizeof(b->phone), b->ind[COL_PHONE]);
    row->account_number_truncated =
        copy_text(row->account_number, sizeof(row->account_number), b->account_number,
                  sizeof(b->account_number), b->ind[COL_ACCOUNT_NUMBER]);
    copy_text(row->call_guid, sizeof(row->call_guid), b->call_guid, sizeof(b->call_guid),
              b->ind[COL_CALL_GUID]);
}

static int fail_closed(rs_odbc *o, const char *msg, SQLSMALLINT type, SQLHANDLE h)
{
    log_diag(msg, type, h);
    rs_odbc_disconnect(o);
    backoff_bump(o);
    return -1;
}

int rs_odbc_read_page(rs_odbc *o, int64_t after, rs_odbc_row *rows)
{
    if (rs_odbc_connect(o) != 0)
        return -1;
    o->param_after = (SQLBIGINT)after;
    SQLRETURN r = SQLExecute(o->page_stmt);
    if (!SQL_SUCCEEDED(r) && r != SQL_NO_DATA)
        return fail_closed(o, "result source query failed", SQL_HANDLE_STMT, o->page_stmt);
    int n = 0;
    while (n < o->page_size) {
        r = SQLFetch(o->page_stmt);
        if (r == SQL_NO_DATA)
            break;
        if (!SQL_SUCCEEDED(r))
            return fail_closed(o, "result source fetch failed", SQL_HANDLE_STMT, o->page_stmt);
        copy_row(o, &rows[n]);
        n++;
    }
    SQLFreeStmt(o->page_stmt, SQL_CLOSE);
    return n;
}

int rs_odbc_count_after(rs_odbc *o, int64_t after, int64_t *count)
{
    if (rs_odbc_connect(o) != 0)
        return -1;
    char sql[256];
    int len = snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE RecoveryKey > ?", o->table);
    if (len < 0 || (size_t)len >= sizeof(sql))
        return -1;
    SQLHSTMT st = new_stmt(o);
    if (st == SQL_NULL_HANDLE)
        return fail_closed(o, "cannot count result source rows", SQL_HANDLE_DBC, o->dbc);
    SQLBIGINT param = (SQLBIGINT)after;
    SQLLEN param_ind = 0;
    SQLBIGINT value = 0;
    SQLLEN value_ind = 0;
    int rc = -1;
    if (SQL_SUCCEEDED(SQLPrepare(st, (SQLCHAR *)sql, SQL_NTS)) &&
        SQL_SUCCEEDED(SQLBindParameter(st, 1, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0,
                                       &param, 0, &param_ind)) &&
        SQL_SUCCEEDED(SQLExecute(st)) && SQL_SUCCEEDED(SQLFetch(st)) &&
        SQL_SUCCEEDED(SQLGetData(st, 1, SQL_C_SBIGINT, &value, 0, &value_ind))) {
        *count = value_ind == SQL_NULL_DATA ? 0 : (int64_t)value;
        rc = 0;
    }
    if (rc != 0) {
        log_diag("cannot count result source rows", SQL_HANDLE_STMT, st);
        SQLFreeHandle(SQL_HANDLE_STMT, st);
        rs_odbc_disconnect(o);
        backoff_bump(o);
        return -1;
    }
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return 0;
}

#include "rs_odbc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sql.h>
#include <sqlext.h>

#include "ecm_log.h"
#include "ecm_odbc.h"

#define RS_ODBC_QUERY_TIMEOUT_S 30

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
    COL_AGENT,
    COL_CALLBACK,
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
    SQLCHAR agent[32];
    SQL_TIMESTAMP_STRUCT callback;
    SQLLEN ind[COL_COUNT];
} row_buf;

/* The connection (backoff, diagnostics) is ecm_odbc's; this handle adds the
 * page statement prepared on it. page_stmt is valid only while db is
 * connected: closing a connection frees its statements (SQLDisconnect), so
 * a closed db means page_stmt must be prepared again, never freed. */
struct rs_odbc {
    ecm_odbc *db;
    char table[ECM_ODBC_IDENT_MAX + 1];
    int page_size;
    SQLHSTMT page_stmt;
    SQLBIGINT param_after;
    SQLLEN param_ind;
    row_buf buf;
};

int rs_odbc_validate_table(const char *value, char *errstr, size_t errstr_size)
{
    return ecm_odbc_validate_identifier(value, errstr, errstr_size);
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
    /* Cisco's result tables are read, never written. */
    o->db = ecm_odbc_new(conn_str, 1, "result source");
    if (!o->db) {
        free(o);
        return NULL;
    }
    memcpy(o->table, table, strlen(table) + 1);
    o->page_size = page_size;
    return o;
}

void rs_odbc_disconnect(rs_odbc *o)
{
    if (o->page_stmt != SQL_NULL_HANDLE && ecm_odbc_connected(o->db))
        SQLFreeHandle(SQL_HANDLE_STMT, o->page_stmt);
    o->page_stmt = SQL_NULL_HANDLE;
    ecm_odbc_disconnect(o->db);
}

void rs_odbc_destroy(rs_odbc *o)
{
    if (!o)
        return;
    rs_odbc_disconnect(o);
    ecm_odbc_destroy(o->db);
    free(o);
}

/* Logs the diagnostics of (type, h) under msg, closes the connection (which
 * frees the page statement) and bumps the backoff. Returns -1. */
static int fail_closed(rs_odbc *o, const char *msg, SQLSMALLINT type, SQLHANDLE h)
{
    ecm_odbc_fail(o->db, msg, type, h);
    o->page_stmt = SQL_NULL_HANDLE;
    return -1;
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
        [COL_AGENT] = {SQL_C_CHAR, b->agent, sizeof(b->agent)},
        [COL_CALLBACK] = {SQL_C_TYPE_TIMESTAMP, &b->callback, sizeof(b->callback)},
    };
    for (int i = 0; i < COL_COUNT; i++) {
        SQLRETURN r = SQLBindCol(st, (SQLUSMALLINT)(i + 1), cols[i].c_type, cols[i].ptr,
                                 cols[i].len, &b->ind[i]);
        if (!SQL_SUCCEEDED(r))
            return fail_closed(o, "cannot bind a result source column", SQL_HANDLE_STMT, st);
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
                     "CallStatusZone1, Phone, AccountNumber, DialingMode, CallGUID, CallDuration, "
                     "AgentPeripheralNumber, CallbackDateTime FROM %s WHERE RecoveryKey > ? ORDER "
                     "BY RecoveryKey "
                     "OFFSET 0 ROWS FETCH NEXT %d ROWS ONLY",
                     o->table, o->page_size);
    if (n < 0 || (size_t)n >= sizeof(sql)) {
        ecm_log_error("result source query too long", "table %s", o->table);
        return -1;
    }
    SQLHDBC dbc = ecm_odbc_dbc(o->db);
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, dbc, &o->page_stmt))) {
        o->page_stmt = SQL_NULL_HANDLE;
        return fail_closed(o, "cannot allocate an ODBC statement", SQL_HANDLE_DBC, dbc);
    }
    /* Best effort: not every driver honours a query timeout. */
    SQLSetStmtAttr(o->page_stmt, SQL_ATTR_QUERY_TIMEOUT,
                   (SQLPOINTER)(uintptr_t)RS_ODBC_QUERY_TIMEOUT_S, 0);
    if (!SQL_SUCCEEDED(SQLPrepare(o->page_stmt, (SQLCHAR *)sql, SQL_NTS)))
        return fail_closed(o, "cannot prepare the result source query", SQL_HANDLE_STMT,
                           o->page_stmt);
    o->param_ind = 0;
    if (!SQL_SUCCEEDED(SQLBindParameter(o->page_stmt, 1, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT,
                                        0, 0, &o->param_after, 0, &o->param_ind)))
        return fail_closed(o, "cannot bind the watermark parameter", SQL_HANDLE_STMT, o->page_stmt);
    return bind_page_columns(o);
}

int rs_odbc_connect(rs_odbc *o)
{
    if (!ecm_odbc_connected(o->db))
        o->page_stmt = SQL_NULL_HANDLE; /* went with the closed connection */
    else if (o->page_stmt != SQL_NULL_HANDLE)
        return 0;
    if (ecm_odbc_connect(o->db) != 0)
        return -1;
    return prepare_page(o);
}

int rs_odbc_connected(const rs_odbc *o)
{
    return ecm_odbc_connected(o->db) && o->page_stmt != SQL_NULL_HANDLE;
}

long rs_odbc_backoff_ms(const rs_odbc *o)
{
    return ecm_odbc_backoff_ms(o->db);
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
    copy_text(row->agent, sizeof(row->agent), b->agent, sizeof(b->agent), b->ind[COL_AGENT]);
    row->has_callback = b->ind[COL_CALLBACK] != SQL_NULL_DATA;
    if (row->has_callback) {
        row->callback.year = b->callback.year;
        row->callback.month = b->callback.month;
        row->callback.day = b->callback.day;
        row->callback.hour = b->callback.hour;
        row->callback.minute = b->callback.minute;
        row->callback.second = b->callback.second;
    }
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

/* ecm_odbc_row_fn: the one COUNT(*) value into *(int64_t *)ctx. */
static int count_row(void *ctx, const char *const *cols, int ncols)
{
    int64_t *count = ctx;
    *count = ncols > 0 && cols[0] ? strtoll(cols[0], NULL, 10) : 0;
    return 0;
}

int rs_odbc_count_after(rs_odbc *o, int64_t after, int64_t *count)
{
    char sql[256];
    char after_text[24];
    int len = snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE RecoveryKey > ?", o->table);
    if (len < 0 || (size_t)len >= sizeof(sql))
        return -1;
    snprintf(after_text, sizeof(after_text), "%lld", (long long)after);
    const char *params[1] = {after_text};
    int64_t value = 0;
    /* A failed query closes the connection, and the page statement with it:
     * rs_odbc_connect() sees that and prepares it again. */
    long n = ecm_odbc_query(o->db, sql, params, 1, count_row, &value);
    if (n != 1)
        return -1;
    *count = value;
    return 0;
}

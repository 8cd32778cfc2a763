/* The Cisco result source over ODBC (unixODBC): a Dialer_Detail-shaped table
 * read in pages by RecoveryKey with a prepared statement, portable SQL that
 * works on SQL Server (Logger/HDS) and PostgreSQL (the simulator). The
 * connection, its backoff and the driver's diagnostics are lib/io/ecm_odbc's;
 * this module adds the typed page reader. Not thread-safe: one thread uses a
 * handle. */
#ifndef RS_ODBC_H
#define RS_ODBC_H

#include <stddef.h>
#include <stdint.h>

typedef struct rs_odbc rs_odbc;

#define RS_ODBC_PAGE_MAX 10000

/* One Dialer_Detail row. Strings are NUL-terminated; NULL columns read as 0
 * or "". A string longer than its buffer sets its *_truncated flag. */
typedef struct {
    int64_t recovery_key;
    int64_t date_time_ms; /* DateTime taken as UTC, ms since the epoch; 0 if NULL */
    int64_t campaign_id;
    int call_result;
    int call_result_detail;
    char call_status_zone1[8];
    char phone[64];
    char account_number[64];
    int account_number_truncated;
    int dialing_mode;
    char call_guid[64];
    int call_duration;
    /* A personal callback (CallResult 14/15 with an agent): the agent's
     * peripheral number ("" when NULL) and CallbackDateTime as written, in
     * the Logger's local time (has_callback 0 when NULL). */
    char agent[32];
    int has_callback;
    struct {
        int year, month, day, hour, minute, second;
    } callback;
} rs_odbc_row;

/* Validator (ecm_cfg_validator shape) for the table name, which is put into
 * the SQL text: letters, digits, '_' and '.', not starting with a digit or a
 * dot, at most 128 bytes. Returns 0, or -1 with a reason in errstr. */
int rs_odbc_validate_table(const char *value, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Creates a handle for connection string conn_str (copied) reading pages of
 * page_size rows (1..RS_ODBC_PAGE_MAX) from table. Does not connect. Returns
 * NULL on a bad argument (logged) or allocation failure. */
rs_odbc *rs_odbc_new(const char *conn_str, const char *table, int page_size)
    __attribute__((warn_unused_result));
void rs_odbc_destroy(rs_odbc *o);

/* Makes one connection attempt if not connected, and prepares the page
 * statement. Returns 0 when connected. On failure logs the driver's
 * diagnostics, doubles the reconnect backoff (100 ms up to 5 s) and returns
 * -1. */
int rs_odbc_connect(rs_odbc *o) __attribute__((warn_unused_result));

/* 1 while a connection is open. */
int rs_odbc_connected(const rs_odbc *o);

/* How long to wait before the next rs_odbc_connect() after failures: 0 when
 * the last attempt succeeded, else the capped backoff. */
long rs_odbc_backoff_ms(const rs_odbc *o);

/* Closes the connection (it will be reopened by the next rs_odbc_connect). */
void rs_odbc_disconnect(rs_odbc *o);

/* Reads up to the page size rows with RecoveryKey > after, in RecoveryKey
 * order, into rows (room for the page size). Connects first if needed.
 * Returns the count (0..page size), or -1 after logging the diagnostics;
 * on -1 the connection is closed so that the next call starts clean. */
int rs_odbc_read_page(rs_odbc *o, int64_t after, rs_odbc_row *rows)
    __attribute__((warn_unused_result));

/* Counts the rows with RecoveryKey > after into *count. Returns 0 or -1
 * (logged; the connection is closed). */
int rs_odbc_count_after(rs_odbc *o, int64_t after, int64_t *count)
    __attribute__((warn_unused_result));

#endif

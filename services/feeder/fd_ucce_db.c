#include "fd_ucce_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "fd_ucce.h"

#define ACCOUNT_COL "AccountNumber"
#define DD_CAMPAIGN_COL "CampaignID"
#define SQL_MAX (ECM_ODBC_IDENT_MAX + 256)

int fd_ucce_db_insert_sql(const char *table, char *out, size_t out_size)
{
    int n = snprintf(out, out_size,
                     "INSERT INTO %s (AccountNumber, FirstName, LastName, Phone01, Phone02, "
                     "Phone03, Phone04, Phone05, Phone06, Phone07, Phone08, Phone09, Phone10, "
                     "TimeZoneBias, DstObserved) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     table);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

typedef struct {
    ecm_odbc *logger;
    char dd_table[ECM_ODBC_IDENT_MAX + 1];
    fd_answering answering;
} db_writer;

static fd_uccx_status result(fd_uccx_result *res, fd_uccx_status st, const char *detail)
{
    if (res) {
        *res = (fd_uccx_result){.settled = 1};
        snprintf(res->detail, sizeof res->detail, "%s", detail);
    }
    return st;
}

/* Column-wise parameter arrays for the n records (values[p][r]). Returns
 * the array of FD_UCCE_DB_NCOLS columns (free each, then it), or NULL. */
static const char ***columns_of(const fd_ucce_record *r, size_t n)
{
    const char ***v = calloc(FD_UCCE_DB_NCOLS, sizeof *v);
    for (int p = 0; v && p < FD_UCCE_DB_NCOLS; p++) {
        v[p] = calloc(n ? n : 1, sizeof *v[p]); /* Phone02..Phone10 stay NULL */
        if (!v[p]) {
            for (int q = 0; q < p; q++)
                free(v[q]);
            free(v);
            return NULL;
        }
    }
    for (size_t i = 0; v && i < n; i++) {
        v[0][i] = r[i].account;
        v[1][i] = r[i].first_name;
        v[2][i] = r[i].last_name;
        v[3][i] = r[i].phone;
        v[13][i] = r[i].has_bias ? r[i].bias_text : NULL;
        v[14][i] = r[i].has_bias ? r[i].dst_text : NULL;
    }
    return v;
}

static void columns_free(const char ***v)
{
    for (int p = 0; v && p < FD_UCCE_DB_NCOLS; p++)
        free(v[p]);
    free(v);
}

static fd_uccx_status db_post(void *impl, const fd_target *t, const fd_contact *c, size_t n,
                              fd_uccx_result *res)
{
    db_writer *w = impl;
    char sql[SQL_MAX];
    if (!t->import_table[0] || fd_ucce_db_insert_sql(t->import_table, sql, sizeof sql) < 0)
        return result(res, FD_UCCX_FAILED, "no import table");
    fd_ucce_record *r = calloc(n ? n : 1, sizeof *r);
    if (!r)
        return result(res, FD_UCCX_FAILED, "out of memory");
    int64_t now = ecm_clock_wall_ms();
    for (size_t i = 0; i < n; i++) {
        if (fd_ucce_record_make(&c[i], now, &r[i]) < 0) {
            ecm_log_error("contact UCCE can't import; batch refused", "account_number=%s",
                          c[i].account_number ? c[i].account_number : "");
            free(r);
            return result(res, FD_UCCX_REJECTED, "a record UCCE can't import");
        }
    }
    const char ***v = columns_of(r, n);
    fd_uccx_status st = FD_UCCX_FAILED;
    if (v) {
        int rc =
            ecm_odbc_exec_array(w->logger, sql, (const char *const *const *)v, FD_UCCE_DB_NCOLS, n);
        fd_answering_note(&w->answering, rc == 0);
        st = rc == 0 ? FD_UCCX_OK : FD_UCCX_UNAVAILABLE;
    }
    columns_free(v);
    free(r);
    if (st == FD_UCCX_UNAVAILABLE) {
        /* The commit's answer may be what was lost: not settled. */
        if (res)
            *res = (fd_uccx_result){.settled = 0, .detail = "import table insert failed"};
        return st;
    }
    return st == FD_UCCX_OK ? result(res, st, "") : result(res, st, "out of memory");
}

/* 1 when table exists, 0 when not, -1 when unknown. Cisco's Campaign
 * Manager creates a dialing list when the campaign first gets contacts:
 * before that there is none, which is an answer, not a failure. */
static int table_exists(ecm_odbc *o, const char *table)
{
    const char *dot = strrchr(table, '.');
    char schema[ECM_ODBC_IDENT_MAX + 1] = "";
    if (dot)
        snprintf(schema, sizeof schema, "%.*s", (int)(dot - table), table);
    const char *params[2] = {dot ? dot + 1 : table, schema};
    long rows = ecm_odbc_query(o,
                               dot ? "SELECT 1 FROM INFORMATION_SCHEMA.TABLES WHERE "
                                     "LOWER(TABLE_NAME) = LOWER(?) AND LOWER(TABLE_SCHEMA) = "
                                     "LOWER(?)"
                                   : "SELECT 1 FROM INFORMATION_SCHEMA.TABLES WHERE "
                                     "LOWER(TABLE_NAME) = LOWER(?)",
                               params, dot ? 2 : 1, NULL, NULL);
    return rows < 0 ? -1 : rows > 0;
}

static fd_uccx_status db_find(void *impl, const fd_target *t, const char *const *accounts, size_t n,
                              int *present, fd_uccx_result *res)
{
    db_writer *w = impl;
    memset(present, 0, n * sizeof *present);
    if (!t->import_table[0] || !t->dialing_list[0])
        return result(res, FD_UCCX_FAILED, "no import table");
    /* In the order rows move (import table -> dialing list -> a call in
     * Dialer_Detail), so a row moving while we ask is seen in one of them. */
    int ok = fd_lookup_odbc(w->logger, t->import_table, ACCOUNT_COL, NULL, NULL, accounts, n,
                            present) == 0;
    int dl = ok ? table_exists(w->logger, t->dialing_list) : -1;
    ok = ok && dl >= 0 &&
         (dl == 0 || fd_lookup_odbc(w->logger, t->dialing_list, ACCOUNT_COL, NULL, NULL, accounts,
                                    n, present) == 0) &&
         fd_lookup_odbc(w->logger, w->dd_table, ACCOUNT_COL, DD_CAMPAIGN_COL, t->cisco_id, accounts,
                        n, present) == 0;
    fd_answering_note(&w->answering, ok);
    if (!ok)
        return result(res, FD_UCCX_UNAVAILABLE, "the Logger/HDS could not be read");
    return result(res, FD_UCCX_OK, "");
}

/* "DELETE FROM table WHERE AccountNumber IN (?,...)" with k markers into
 * out. Returns 0, or -1 when it does not fit. */
static int delete_sql(const char *table, size_t k, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "DELETE FROM %s WHERE " ACCOUNT_COL " IN (", table);
    for (size_t i = 0; n >= 0 && (size_t)n < out_size && i < k; i++)
        n += snprintf(out + n, out_size - (size_t)n, i ? ",?" : "?");
    if (n >= 0 && (size_t)n < out_size)
        n += snprintf(out + n, out_size - (size_t)n, ")");
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

/* The import table's rows of the accounts (not imported yet: the Campaign
 * Manager moves a row into the dialing list and deletes it from the import
 * table in one transaction, so a row is either here or there). Imported
 * records can't be withdrawn: Cisco gives no delete of dialing list rows.
 * In chunks, each its own statement; a row deleted by a chunk that then
 * failed to answer is found absent by find() all the same. */
static fd_uccx_status db_withdraw(void *impl, const fd_target *t, const char *const *accounts,
                                  size_t n, int whole, int *withdrew, fd_uccx_result *res)
{
    db_writer *w = impl;
    (void)whole;
    *withdrew = 0;
    if (!t->import_table[0])
        return result(res, FD_UCCX_FAILED, "no import table");
    *withdrew = 1;
    char sql[SQL_MAX + 4 * FD_LOOKUP_CHUNK];
    for (size_t off = 0; off < n; off += FD_LOOKUP_CHUNK) {
        size_t k = n - off < FD_LOOKUP_CHUNK ? n - off : FD_LOOKUP_CHUNK;
        if (delete_sql(t->import_table, k, sql, sizeof sql) < 0)
            return result(res, FD_UCCX_FAILED, "statement too long");
        long rc = ecm_odbc_query(w->logger, sql, accounts + off, (int)k, NULL, NULL);
        fd_answering_note(&w->answering, rc >= 0);
        if (rc < 0)
            return result(res, FD_UCCX_UNAVAILABLE, "the import table could not be written");
    }
    return result(res, FD_UCCX_OK, "");
}

static long long db_answering_ms(const void *impl)
{
    const db_writer *w = impl;
    return fd_answering_ms(&w->answering);
}

static void db_destroy(void *impl)
{
    db_writer *w = impl;
    if (!w)
        return;
    ecm_odbc_destroy(w->logger);
    free(w);
}

static const fd_writer_ops DB_OPS = {
    .post = db_post,
    .find = db_find,
    .withdraw = db_withdraw,
    .answering_ms = db_answering_ms,
    .destroy = db_destroy,
};

fd_writer *fd_ucce_db_writer_new(ecm_odbc *logger, const char *dialer_detail)
{
    char err[128];
    db_writer *w = calloc(1, sizeof *w);
    if (!w || !logger || ecm_odbc_validate_identifier(dialer_detail, err, sizeof err) != 0) {
        ecm_odbc_destroy(logger);
        free(w);
        return NULL;
    }
    w->logger = logger;
    snprintf(w->dd_table, sizeof w->dd_table, "%s", dialer_detail);
    return fd_writer_new(FD_KIND_UCCE_DB, &DB_OPS, w);
}

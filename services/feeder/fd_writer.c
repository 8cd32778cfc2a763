#include "fd_writer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_buf.h"
#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_pgval.h"
#include "fd_reconcile.h"

static const char *const KIND_NAMES[FD_KIND_N] = {"uccx", "ucce_api", "ucce_db"};

const char *fd_kind_name(fd_kind k)
{
    return k >= 0 && k < FD_KIND_N ? KIND_NAMES[k] : "?";
}

int fd_kind_parse(const char *s, size_t len, fd_kind *out)
{
    for (int k = 0; k < FD_KIND_N; k++) {
        if (strlen(KIND_NAMES[k]) == len && memcmp(s, KIND_NAMES[k], len) == 0) {
            *out = (fd_kind)k;
            return 0;
        }
    }
    return -1;
}

int fd_target_parse(const char *target, fd_target *t)
{
    memset(t, 0, sizeof *t);
    const char *colon = strchr(target, ':');
    if (!colon || fd_kind_parse(target, (size_t)(colon - target), &t->kind) < 0)
        return -1;
    size_t n = strlen(colon + 1);
    if (n == 0 || n > FD_CISCO_ID_MAX)
        return -1;
    memcpy(t->cisco_id, colon + 1, n + 1);
    return 0;
}

int fd_target_format(const fd_target *t, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%s:%s", fd_kind_name(t->kind), t->cisco_id);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

/* The campaigns of a ucce_db target name its import table; an active one
 * first, then the oldest. */
static const char TABLES_SQL[] =
    "SELECT cisco_import_table, cisco_dialing_list FROM campaigns "
    "WHERE cisco_kind = 'ucce_db' AND cisco_campaign_id = $1 AND cisco_import_table IS NOT NULL "
    "ORDER BY state = 'active' DESC, id LIMIT 1";

int fd_target_load(ecm_pg *pg, fd_target *t)
{
    t->import_table[0] = t->dialing_list[0] = '\0';
    if (t->kind != FD_KIND_UCCE_DB)
        return 0;
    const char *p[1] = {t->cisco_id};
    PGresult *r = ecm_pg_exec(pg, TABLES_SQL, 1, p);
    if (!r)
        return -1;
    int rc = -2;
    char err[160];
    if (PQntuples(r) == 1) {
        const char *imp = PQgetvalue(r, 0, 0);
        const char *dl = ecm_pgval_str(r, 0, 1);
        int ok = (size_t)snprintf(t->import_table, sizeof t->import_table, "%s", imp) <
                 sizeof t->import_table;
        if (dl && *dl)
            ok = ok && (size_t)snprintf(t->dialing_list, sizeof t->dialing_list, "%s", dl) <
                           sizeof t->dialing_list;
        else
            ok = ok && (size_t)snprintf(t->dialing_list, sizeof t->dialing_list, "DL_%s_1",
                                        t->cisco_id) < sizeof t->dialing_list;
        if (ok && ecm_odbc_validate_identifier(t->import_table, err, sizeof err) == 0 &&
            ecm_odbc_validate_identifier(t->dialing_list, err, sizeof err) == 0)
            rc = 0;
    }
    PQclear(r);
    if (rc < 0)
        ecm_log_error("ucce_db target without a usable import table or dialing list",
                      "cisco_campaign_id=%s import_table=%s dialing_list=%s", t->cisco_id,
                      t->import_table, t->dialing_list);
    return rc;
}

/* ---- the interface ---- */

struct fd_writer {
    fd_kind kind;
    const fd_writer_ops *ops;
    void *impl;
};

fd_writer *fd_writer_new(fd_kind kind, const fd_writer_ops *ops, void *impl)
{
    fd_writer *w = calloc(1, sizeof *w);
    if (!w) {
        ops->destroy(impl);
        return NULL;
    }
    w->kind = kind;
    w->ops = ops;
    w->impl = impl;
    return w;
}

void fd_writer_destroy(fd_writer *w)
{
    if (!w)
        return;
    w->ops->destroy(w->impl);
    free(w);
}

fd_kind fd_writer_kind(const fd_writer *w)
{
    return w->kind;
}

fd_uccx_status fd_writer_post(fd_writer *w, const fd_target *t, const fd_contact *c, size_t n,
                              fd_uccx_result *res)
{
    return w->ops->post(w->impl, t, c, n, res);
}

fd_uccx_status fd_writer_find(fd_writer *w, const fd_target *t, const char *const *accounts,
                              size_t n, int *present, fd_uccx_result *res)
{
    return w->ops->find(w->impl, t, accounts, n, present, res);
}

fd_uccx_status fd_writer_withdraw(fd_writer *w, const fd_target *t, const char *const *accounts,
                                  size_t n, int whole, int *withdrew, fd_uccx_result *res)
{
    *withdrew = 0;
    if (!w->ops->withdraw)
        return FD_UCCX_OK;
    return w->ops->withdraw(w->impl, t, accounts, n, whole, withdrew, res);
}

long long fd_writer_answering_ms(const fd_writer *w)
{
    return w->ops->answering_ms(w->impl);
}

/* ---- lookups over ODBC ---- */

typedef struct {
    const char *const *accounts;
    size_t n;
    int *present;
} lookup_ctx;

static int on_lookup_row(void *ctx, const char *const *cols, int ncols)
{
    lookup_ctx *lc = ctx;
    if (ncols < 1 || !cols[0])
        return 0;
    for (size_t i = 0; i < lc->n; i++) {
        if (strcmp(lc->accounts[i], cols[0]) == 0)
            lc->present[i] = 1;
    }
    return 0;
}

/* "SELECT column FROM table WHERE [filter_col = ? AND ]column IN (?,...)"
 * with k markers. Returns the malloc'd text, or NULL. */
static char *lookup_sql(const char *table, const char *column, const char *filter_col, size_t k)
{
    ecm_buf b;
    ecm_buf_init(&b, 64 + 3 * ECM_ODBC_IDENT_MAX + 2 * k);
    int ok = ecm_buf_adds(&b, "SELECT ") == 0 && ecm_buf_adds(&b, column) == 0 &&
             ecm_buf_adds(&b, " FROM ") == 0 && ecm_buf_adds(&b, table) == 0 &&
             ecm_buf_adds(&b, " WHERE ") == 0;
    if (ok && filter_col)
        ok = ecm_buf_adds(&b, filter_col) == 0 && ecm_buf_adds(&b, " = ? AND ") == 0;
    ok = ok && ecm_buf_adds(&b, column) == 0 && ecm_buf_adds(&b, " IN (") == 0;
    for (size_t i = 0; ok && i < k; i++)
        ok = ecm_buf_adds(&b, i ? ",?" : "?") == 0;
    ok = ok && ecm_buf_adds(&b, ")") == 0;
    if (!ok) {
        ecm_buf_destroy(&b);
        return NULL;
    }
    return ecm_buf_take(&b);
}

int fd_lookup_odbc(ecm_odbc *o, const char *table, const char *column, const char *filter_col,
                   const char *filter_val, const char *const *accounts, size_t n, int *present)
{
    const char *params[FD_LOOKUP_CHUNK + 1];
    for (size_t off = 0; off < n; off += FD_LOOKUP_CHUNK) {
        size_t k = n - off < FD_LOOKUP_CHUNK ? n - off : FD_LOOKUP_CHUNK;
        char *sql = lookup_sql(table, column, filter_col, k);
        if (!sql)
            return -1;
        int np = 0;
        if (filter_col)
            params[np++] = filter_val;
        for (size_t i = 0; i < k; i++)
            params[np++] = accounts[off + i];
        lookup_ctx lc = {.accounts = accounts + off, .n = k, .present = present + off};
        long rows = ecm_odbc_query(o, sql, params, np, on_lookup_row, &lc);
        free(sql);
        if (rows < 0)
            return -1;
    }
    return 0;
}

void fd_answering_note(fd_answering *a, int ok)
{
    if (ok) {
        if (a->answering_since == 0)
            a->answering_since = ecm_clock_mono_ms();
        return;
    }
    a->doubted = 1;
    a->answering_since = 0;
}

long long fd_answering_ms(const fd_answering *a)
{
    if (!a->doubted)
        return LLONG_MAX;
    if (a->answering_since == 0)
        return -1;
    return ecm_clock_mono_ms() - a->answering_since;
}

/* ---- uccx ---- */

/* db_cra's outbound record tables and columns (names inferred from Cisco's
 * documents, docs/cisco-research.md §1.2: kept here, in one place). */
#define CRA_LIST_TABLE "dialinglist"
#define CRA_HISTORY_TABLE "dialinglisthistory"
#define CRA_ACCOUNT_COL "accountnumber"
#define CRA_CAMPAIGN_COL "campaignid"

typedef struct {
    fd_uccx *u;
    ecm_odbc *cra;
} uccx_writer;

static fd_uccx_status uccx_post(void *impl, const fd_target *t, const fd_contact *c, size_t n,
                                fd_uccx_result *res)
{
    uccx_writer *w = impl;
    fd_uccx_contact *uc = calloc(n ? n : 1, sizeof *uc);
    if (!uc) {
        if (res)
            *res = (fd_uccx_result){.settled = 1, .detail = "out of memory"};
        return FD_UCCX_FAILED;
    }
    for (size_t i = 0; i < n; i++)
        uc[i] = (fd_uccx_contact){
            .account_number = c[i].account_number,
            .first_name = c[i].first_name,
            .last_name = c[i].last_name,
            .phone1 = c[i].phone,
        };
    fd_uccx_status st = fd_uccx_post_contacts(w->u, t->cisco_id, uc, n, res);
    free(uc);
    return st;
}

static fd_uccx_status uccx_find(void *impl, const fd_target *t, const char *const *accounts,
                                size_t n, int *present, fd_uccx_result *res)
{
    uccx_writer *w = impl;
    fd_uccx_list *list = NULL;
    fd_uccx_status st = fd_uccx_list_contacts(w->u, t->cisco_id, &list, res);
    if (st != FD_UCCX_OK)
        return st;
    (void)fd_reconcile_partition(list, accounts, n, present);
    fd_uccx_list_destroy(list);
    if (!w->cra)
        return FD_UCCX_OK;
    /* The REST list shows pending records only: what was dialled is in
     * db_cra, in the list or, after the nightly move, its history. */
    if (fd_lookup_odbc(w->cra, CRA_LIST_TABLE, CRA_ACCOUNT_COL, CRA_CAMPAIGN_COL, t->cisco_id,
                       accounts, n, present) < 0 ||
        fd_lookup_odbc(w->cra, CRA_HISTORY_TABLE, CRA_ACCOUNT_COL, CRA_CAMPAIGN_COL, t->cisco_id,
                       accounts, n, present) < 0) {
        if (res)
            *res = (fd_uccx_result){.settled = 1, .detail = "db_cra could not be read"};
        return FD_UCCX_UNAVAILABLE;
    }
    return FD_UCCX_OK;
}

/* UCCX can delete a campaign's records, not chosen ones: only whole. */
static fd_uccx_status uccx_withdraw(void *impl, const fd_target *t, const char *const *accounts,
                                    size_t n, int whole, int *withdrew, fd_uccx_result *res)
{
    uccx_writer *w = impl;
    (void)accounts;
    (void)n;
    *withdrew = 0;
    if (!whole)
        return FD_UCCX_OK;
    char path[FD_CISCO_ID_MAX + 64];
    if (!t->cisco_id[0] || strspn(t->cisco_id, "0123456789") != strlen(t->cisco_id) ||
        (size_t)snprintf(path, sizeof path, "/adminapi/campaign/%s/contacts", t->cisco_id) >=
            sizeof path) {
        if (res)
            *res = (fd_uccx_result){.settled = 1, .detail = "Cisco campaign id is not a number"};
        return FD_UCCX_FAILED;
    }
    *withdrew = 1;
    return fd_uccx_delete(w->u, path, res);
}

static long long uccx_answering_ms(const void *impl)
{
    const uccx_writer *w = impl;
    return fd_uccx_answering_ms(w->u);
}

static void uccx_destroy(void *impl)
{
    uccx_writer *w = impl;
    if (!w)
        return;
    fd_uccx_destroy(w->u);
    ecm_odbc_destroy(w->cra);
    free(w);
}

static const fd_writer_ops UCCX_OPS = {
    .post = uccx_post,
    .find = uccx_find,
    .withdraw = uccx_withdraw,
    .answering_ms = uccx_answering_ms,
    .destroy = uccx_destroy,
};

fd_writer *fd_writer_uccx_new(fd_uccx *u, ecm_odbc *cra)
{
    uccx_writer *w = calloc(1, sizeof *w);
    if (!w) {
        fd_uccx_destroy(u);
        ecm_odbc_destroy(cra);
        return NULL;
    }
    w->u = u;
    w->cra = cra;
    return fd_writer_new(FD_KIND_UCCX, &UCCX_OPS, w);
}

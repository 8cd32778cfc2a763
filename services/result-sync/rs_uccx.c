#include "rs_uccx.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_uuid.h"
#include "rs_loop.h"
#include "rs_map.h"

#define RS_UCCX_MAP_RELOAD_MS 60000
/* Account numbers per db_cra query ('?' markers of one IN list). */
#define RS_UCCX_CHUNK 200

/* db_cra's names, in this one place. Cisco's Schema Guide is not reachable,
 * so these are inferred (docs/cisco-research.md 1.2) and the simulator uses
 * the same. The query is plain SQL that Informix and PostgreSQL both take:
 * no LIMIT, no RETURNING, an IN list of bound parameters. */
static const char *const rs_uccx_tables[2] = {"dialinglist", "dialinglisthistory"};
#define RS_UCCX_COLUMNS                                                                            \
    "accountnumber, callresult, lastnumberdialed, phone01, phone02, phone03, lastupdated, "        \
    "callbackdatetime"
/* A record is final when closed (3) or max calls (5) with a result
 * (callresult 0 is "not called yet"). Not a callback (4): UCCX places that
 * call itself, and its result closes the record later; an ECM retry now
 * would call the customer twice. */
#define RS_UCCX_FINAL "callstatus IN (3, 5) AND callresult > 0"
enum { C_ACCOUNT, C_RESULT, C_LAST_NUMBER, C_PHONE01, C_PHONE02, C_PHONE03, C_UPDATED, C_CALLBACK };
#define RS_UCCX_NCOLS 8
/* UCCX's callResult for "customer requested callback" (1.4). */
#define RS_UCCX_CALLBACK_REQUESTED 8

/* One outstanding attempt of the page, and its final record once found. */
typedef struct {
    int64_t contact_id;
    int attempt;
    int64_t campaign_id;
    char account[64];
    int old; /* sent before the last possible move to history */
    int found;
    int code;
    char phone[32];
    int64_t dialed_at_ms;   /* 0 when db_cra had no time */
    int64_t callback_at_ms; /* 0 unless a callback was asked for */
} outstanding;

struct rs_uccx {
    char *source;
    char *topic;
    char *ce_source;
    int page_size;
    long history_after_s;
    ecm_pg *pg;
    ecm_odbc *odbc;
    rs_map *map;
    int64_t map_loaded_ms;
    outstanding *page;
    outstanding **sorted; /* the page by account number, for lookups */
    int n;
    /* Keyset position of the pass: the last attempt of the last committed
     * page, in (sent_at, contact_id, attempt) order. */
    char cursor_sent[64];
    char page_last_sent[64]; /* sent_at of the page's last attempt */
    int64_t cursor_contact;
    int cursor_attempt;
    int64_t pass_waiting; /* attempts of this pass with no final record yet */
    _Atomic int db_ok;
    _Atomic int odbc_ok;
    ecm_metric *m_rows;
    ecm_metric *m_emitted;
    ecm_metric *m_unknown_code;
    ecm_metric *m_outstanding;
    ecm_metric *m_queries[2];
    ecm_metric *m_err_odbc;
    ecm_metric *m_err_db;
};

static void cursor_reset(rs_uccx *u)
{
    snprintf(u->cursor_sent, sizeof(u->cursor_sent), "-infinity");
    u->cursor_contact = 0;
    u->cursor_attempt = 0;
    u->pass_waiting = 0;
}

static void register_metrics(rs_uccx *u, ecm_metrics *metrics)
{
    u->m_rows = ecm_metrics_counter(metrics, "ecm_resultsync_rows_total",
                                    "final UCCX records read for outstanding attempts");
    u->m_emitted = ecm_metrics_counter(metrics, "ecm_resultsync_emitted_total",
                                       "CallResult events written to the outbox");
    u->m_unknown_code = ecm_metrics_counter(metrics, "ecm_resultsync_unknown_call_result_total",
                                            "CallResult codes not in call_result_map");
    u->m_outstanding = ecm_metrics_gauge(
        metrics, "ecm_resultsync_outstanding",
        "uccx attempts sent with no final UCCX record yet, as of the last full pass");
    u->m_queries[0] =
        ecm_metrics_counter(metrics, "ecm_resultsync_uccx_queries_total{table=\"dialinglist\"}",
                            "db_cra lookups (one per chunk of account numbers)");
    u->m_queries[1] = ecm_metrics_counter(
        metrics, "ecm_resultsync_uccx_queries_total{table=\"dialinglisthistory\"}",
        "db_cra lookups (one per chunk of account numbers)");
    u->m_err_odbc =
        ecm_metrics_counter(metrics, "ecm_resultsync_errors_total{kind=\"odbc\"}", "failed pages");
    u->m_err_db =
        ecm_metrics_counter(metrics, "ecm_resultsync_errors_total{kind=\"db\"}", "failed pages");
}

rs_uccx *rs_uccx_new(const rs_uccx_config *cfg, ecm_pg *pg, ecm_odbc *odbc, ecm_metrics *metrics)
{
    if (!cfg || !cfg->source || !cfg->topic || !cfg->ce_source || !pg || !odbc ||
        cfg->page_size < 1 || cfg->page_size > RS_UCCX_PAGE_MAX || cfg->history_after_s < 0) {
        ecm_log_error("bad uccx result reader settings", NULL);
        return NULL;
    }
    rs_uccx *u = calloc(1, sizeof(*u));
    if (!u)
        goto oom;
    u->source = strdup(cfg->source);
    u->topic = strdup(cfg->topic);
    u->ce_source = strdup(cfg->ce_source);
    u->page = calloc((size_t)cfg->page_size, sizeof(*u->page));
    u->sorted = calloc((size_t)cfg->page_size, sizeof(*u->sorted));
    if (!u->source || !u->topic || !u->ce_source || !u->page || !u->sorted)
        goto oom;
    u->page_size = cfg->page_size;
    u->history_after_s = cfg->history_after_s;
    u->pg = pg;
    u->odbc = odbc;
    cursor_reset(u);
    if (metrics)
        register_metrics(u, metrics);
    return u;
oom:
    ecm_log_error("cannot create the uccx result reader", "out of memory");
    rs_uccx_destroy(u);
    return NULL;
}

void rs_uccx_destroy(rs_uccx *u)
{
    if (!u)
        return;
    rs_map_destroy(u->map);
    free(u->sorted);
    free(u->page);
    free(u->ce_source);
    free(u->topic);
    free(u->source);
    free(u);
}

int rs_uccx_parse_time(const char *text, int64_t *ms)
{
    int y, mo, d, h, mi, s, used = 0;
    if (!text || sscanf(text, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return -1;
    int64_t frac_ms = 0;
    const char *p = text + used;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    if (*p != '\0')
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    *ms = (int64_t)timegm(&tm) * 1000 + frac_ms;
    return 0;
}

static int parse_i64(const char *str, int64_t *out)
{
    char *end = NULL;
    if (!str)
        return -1;
    long long v = strtoll(str, &end, 10);
    if (end == str || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

static void db_failed(rs_uccx *u)
{
    ecm_pg_check_broken(u->pg);
    atomic_store(&u->db_ok, 0);
    ecm_metric_add(u->m_err_db, 1);
}

static void odbc_failed(rs_uccx *u)
{
    atomic_store(&u->odbc_ok, 0);
    ecm_metric_add(u->m_err_odbc, 1);
}

/* The 'uccx' rows of call_result_map, re-read now and then (a deployment
 * may edit them); a failed re-read keeps the map we have. */
static int ensure_map(rs_uccx *u)
{
    int64_t now = ecm_clock_wall_ms();
    if (u->map && now - u->map_loaded_ms < RS_UCCX_MAP_RELOAD_MS)
        return 0;
    rs_map *m = rs_map_load(u->pg, RS_MAP_KIND_UCCX);
    if (!m) {
        if (u->map)
            return 0;
        db_failed(u);
        return -1;
    }
    if (!u->map)
        ecm_log_info("call_result_map loaded", "source_kind %s, %zu codes", RS_MAP_KIND_UCCX,
                     rs_map_size(m));
    rs_map_destroy(u->map);
    u->map = m;
    u->map_loaded_ms = now;
    return 0;
}

/* Fills page entry i from row i of res (the outstanding query's columns).
 * Returns 0 or -1 (a value ECM wrote is not what it should be). */
static int take_outstanding(rs_uccx *u, PGresult *res, int i)
{
    outstanding *o = &u->page[i];
    int64_t attempt = 0;
    memset(o, 0, sizeof(*o));
    if (parse_i64(PQgetvalue(res, i, 0), &o->contact_id) != 0 ||
        parse_i64(PQgetvalue(res, i, 1), &attempt) != 0 ||
        parse_i64(PQgetvalue(res, i, 2), &o->campaign_id) != 0)
        return -1;
    o->attempt = (int)attempt;
    /* A key too long for UCCX's 25 characters can't be in db_cra: it stays
     * outstanding and is never matched. */
    const char *account = PQgetvalue(res, i, 3);
    if (strlen(account) < sizeof(o->account))
        memcpy(o->account, account, strlen(account) + 1);
    o->old = strcmp(PQgetvalue(res, i, 5), "t") == 0;
    return 0;
}

/* Inside the open transaction: locks and loads the next page of ECM's
 * outstanding uccx attempts after the cursor, oldest sent first. A replica
 * skips the attempts another holds. Returns the count, or -1. */
static int load_outstanding(rs_uccx *u)
{
    char contact[24], attempt[16], limit[16], hist[24];
    snprintf(contact, sizeof(contact), "%" PRId64, u->cursor_contact);
    snprintf(attempt, sizeof(attempt), "%d", u->cursor_attempt);
    snprintf(limit, sizeof(limit), "%d", u->page_size);
    snprintf(hist, sizeof(hist), "%ld", u->history_after_s);
    const char *params[5] = {u->cursor_sent, contact, attempt, limit, hist};
    PGresult *res = ecm_pg_exec(
        u->pg,
        "SELECT a.contact_id, a.attempt, a.campaign_id, a.account_number, a.sent_at, "
        "a.sent_at < now() - $5::bigint * interval '1 second' FROM attempts a "
        "WHERE a.status = 'sent' AND a.result_seen_at IS NULL AND a.target LIKE 'uccx:%' "
        "AND (a.sent_at, a.contact_id, a.attempt) > ($1::timestamptz, $2::bigint, $3::int) "
        "ORDER BY a.sent_at, a.contact_id, a.attempt LIMIT $4::int FOR UPDATE OF a SKIP LOCKED",
        5, params);
    if (!res)
        return -1;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        if (take_outstanding(u, res, i) != 0) {
            ecm_log_error("unexpected attempts row", "row %d", i);
            PQclear(res);
            return -1;
        }
    }
    /* The next page starts after this one's last attempt: kept apart from
     * the cursor until the page commits. */
    if (n > 0)
        snprintf(u->page_last_sent, sizeof(u->page_last_sent), "%s", PQgetvalue(res, n - 1, 4));
    u->n = n;
    PQclear(res);
    return n;
}

static int by_account(const void *a, const void *b)
{
    const outstanding *x = *(const outstanding *const *)a;
    const outstanding *y = *(const outstanding *const *)b;
    return strcmp(x->account, y->account);
}

static outstanding *find_account(rs_uccx *u, const char *account)
{
    outstanding key = {0};
    const outstanding *pkey = &key;
    if (!account || strlen(account) >= sizeof(key.account))
        return NULL;
    memcpy(key.account, account, strlen(account) + 1);
    outstanding **hit = bsearch(&pkey, u->sorted, (size_t)u->n, sizeof(*u->sorted), by_account);
    return hit ? *hit : NULL;
}

/* ecm_odbc_row_fn: one final db_cra record; the first one found for an
 * attempt wins (dialinglist is read before its history). */
static int take_record(void *ctx, const char *const *cols, int ncols)
{
    rs_uccx *u = ctx;
    int64_t code = 0;
    if (ncols != RS_UCCX_NCOLS)
        return 1;
    outstanding *o = find_account(u, cols[C_ACCOUNT]);
    if (!o || o->found)
        return 0;
    if (parse_i64(cols[C_RESULT], &code) != 0 || code <= 0 || code > 32767) {
        ecm_log_warn("db_cra record ignored: bad callresult", "accountnumber=%s", cols[C_ACCOUNT]);
        return 0;
    }
    o->found = 1;
    o->code = (int)code;
    int64_t last = 0;
    const char *phone = NULL;
    if (parse_i64(cols[C_LAST_NUMBER], &last) == 0 && last >= 1 && last <= 3)
        phone = cols[C_PHONE01 + (int)(last - 1)];
    snprintf(o->phone, sizeof(o->phone), "%s", phone ? phone : "");
    if (rs_uccx_parse_time(cols[C_UPDATED], &o->dialed_at_ms) != 0)
        o->dialed_at_ms = 0;
    /* UCCX stores the callback time in GMT (Admin Guide). */
    if (o->code != RS_UCCX_CALLBACK_REQUESTED ||
        rs_uccx_parse_time(cols[C_CALLBACK], &o->callback_at_ms) != 0)
        o->callback_at_ms = 0;
    return 0;
}

/* The lookup of k account numbers in table into sql (size bytes). Returns 0,
 * or -1 when it does not fit. Pure. */
static int lookup_sql(char *sql, size_t size, const char *table, int k)
{
    int len = snprintf(
        sql, size,
        "SELECT " RS_UCCX_COLUMNS " FROM %s WHERE " RS_UCCX_FINAL " AND accountnumber IN (", table);
    if (len < 0 || (size_t)len + 2 * (size_t)k + 1 > size)
        return -1;
    for (int p = 0; p < k; p++) {
        sql[len++] = p == 0 ? '?' : ',';
        if (p > 0)
            sql[len++] = '?';
    }
    sql[len++] = ')';
    sql[len] = '\0';
    return 0;
}

/* Looks up the accounts of the page entries that want() in table t, in
 * chunks. Returns 0, or -1 (logged by ecm_odbc; the connection is closed). */
static int lookup_table(rs_uccx *u, int t, int (*want)(const outstanding *))
{
    char sql[256 + 2 * RS_UCCX_CHUNK];
    const char *params[RS_UCCX_CHUNK];
    int i = 0;
    while (i < u->n) {
        int k = 0;
        for (; i < u->n && k < RS_UCCX_CHUNK; i++)
            if (want(&u->page[i]) && u->page[i].account[0] != '\0')
                params[k++] = u->page[i].account;
        if (k == 0)
            break;
        if (lookup_sql(sql, sizeof(sql), rs_uccx_tables[t], k) != 0) {
            ecm_log_error("db_cra lookup too long", "table %s", rs_uccx_tables[t]);
            return -1;
        }
        ecm_metric_add(u->m_queries[t], 1);
        if (ecm_odbc_query(u->odbc, sql, params, k, take_record, u) < 0)
            return -1;
    }
    return 0;
}

static int want_any(const outstanding *o)
{
    (void)o;
    return 1;
}

static int want_history(const outstanding *o)
{
    return o->old && !o->found;
}

/* Finds the final records of the page: dialinglist for all, history for
 * the old ones not found there. Returns 0 or -1 (db_cra failed). */
static int lookup_final(rs_uccx *u)
{
    for (int i = 0; i < u->n; i++)
        u->sorted[i] = &u->page[i];
    qsort(u->sorted, (size_t)u->n, sizeof(*u->sorted), by_account);
    if (lookup_table(u, 0, want_any) != 0)
        return -1;
    return lookup_table(u, 1, want_history);
}

/* Inside the open transaction, between ecm_outbox_copy_begin() and
 * ecm_outbox_copy_end(): the CallResult event of o. Sets *unknown when its
 * code is not in the map. Returns 0 or -1. */
static int emit(rs_uccx *u, const outstanding *o, int64_t now, int *unknown)
{
    Ecm__V1__CallResult ev = ECM__V1__CALL_RESULT__INIT;
    char event_id[ECM_UUID_LEN];
    char msg_key[24];
    Ecm__V1__Outcome outcome;
    int counts = 1;

    ecm_uuid_new(event_id);
    *unknown = !rs_map_resolve(u->map, o->code, NULL, &outcome, &counts);
    if ((size_t)snprintf(msg_key, sizeof(msg_key), "%" PRId64, o->contact_id) >= sizeof(msg_key))
        return -1;
    /* The message only reads these strings; the casts drop const for
     * protobuf-c's char * fields. */
    ev.event_id = event_id;
    ev.occurred_at = now;
    ev.campaign_id = o->campaign_id;
    ev.contact_id = o->contact_id;
    ev.attempt = o->attempt;
    ev.account_number = (char *)o->account;
    ev.call_result = o->code;
    ev.outcome = outcome;
    ev.counts_as_attempt = counts ? 1 : 0;
    ev.phone = (char *)o->phone;
    ev.dialed_at = o->dialed_at_ms > 0 ? o->dialed_at_ms : now;
    ev.source = u->source;
    ev.callback_at = o->callback_at_ms;
    return ecm_outbox_copy_add(u->pg, u->topic, msg_key, u->ce_source, event_id, now, &ev.base);
}

/* What became of a page. */
typedef struct {
    int emitted, unknown_codes;
} page_counts;

/* Inside the open transaction: an event for each found record and the
 * attempts marked seen, both or neither. Returns 0 or -1. */
static int emit_found(rs_uccx *u, page_counts *c)
{
    ecm_pgarr ids, nums;
    ecm_pgarr_init(&ids);
    ecm_pgarr_init(&nums);
    int64_t now = ecm_clock_wall_ms();
    int rc = -1, found = 0;
    for (int i = 0; i < u->n; i++)
        found += u->page[i].found != 0;
    if (found == 0) {
        rc = 0;
        goto out;
    }
    /* The page's events in one COPY, not an INSERT each. */
    if (ecm_outbox_copy_begin(u->pg) != 0)
        goto out;
    for (int i = 0; i < u->n; i++) {
        const outstanding *o = &u->page[i];
        int unknown = 0;
        if (!o->found)
            continue;
        if (emit(u, o, now, &unknown) != 0) {
            (void)ecm_outbox_copy_end(u->pg);
            goto out;
        }
        c->unknown_codes += unknown;
        c->emitted++;
        ecm_pgarr_add_int(&ids, (long long)o->contact_id);
        ecm_pgarr_add_int(&nums, (long long)o->attempt);
    }
    if (ecm_outbox_copy_end(u->pg) != 0)
        goto out;
    const char *params[2] = {ecm_pgarr_finish(&ids), ecm_pgarr_finish(&nums)};
    rc = params[0] && params[1] &&
                 ecm_pg_cmd(u->pg,
                            "UPDATE attempts a SET result_seen_at = now() "
                            "FROM unnest($1::bigint[], $2::int[]) AS k (contact_id, attempt) "
                            "WHERE a.contact_id = k.contact_id AND a.attempt = k.attempt",
                            2, params) == 0
             ? 0
             : -1;
out:
    ecm_pgarr_destroy(&nums);
    ecm_pgarr_destroy(&ids);
    return rc;
}

/* After the commit of a page: cursor, counts and, at the end of a pass, the
 * outstanding gauge. */
static void page_committed(rs_uccx *u, const page_counts *c)
{
    const outstanding *last = &u->page[u->n - 1];
    ecm_metric_add(u->m_rows, (uint64_t)c->emitted);
    ecm_metric_add(u->m_emitted, (uint64_t)c->emitted);
    ecm_metric_add(u->m_unknown_code, (uint64_t)c->unknown_codes);
    if (c->unknown_codes > 0)
        ecm_log_warn("unknown UCCX callResult codes, taken as NETWORK_ERROR", "%d in this page",
                     c->unknown_codes);
    u->pass_waiting += u->n - c->emitted;
    ecm_log_debug("uccx result page committed", "source %s outstanding %d emitted %d", u->source,
                  u->n, c->emitted);
    if (u->n < u->page_size) {
        ecm_metric_set(u->m_outstanding, (double)u->pass_waiting);
        cursor_reset(u);
        return;
    }
    snprintf(u->cursor_sent, sizeof(u->cursor_sent), "%s", u->page_last_sent);
    u->cursor_contact = last->contact_id;
    u->cursor_attempt = last->attempt;
}

int rs_uccx_page(rs_uccx *u)
{
    page_counts counts = {0};
    if (ensure_map(u) != 0)
        return -1;
    /* Connect before the transaction so that no row lock waits on a login. */
    if (ecm_odbc_connect(u->odbc) != 0) {
        odbc_failed(u);
        return -1;
    }
    atomic_store(&u->odbc_ok, 1);
    if (ecm_pg_begin(u->pg) != 0) {
        db_failed(u);
        return -1;
    }
    int n = load_outstanding(u);
    if (n < 0)
        goto db_fail;
    atomic_store(&u->db_ok, 1);
    if (n == 0) {
        ecm_pg_rollback(u->pg);
        ecm_metric_set(u->m_outstanding, (double)u->pass_waiting);
        cursor_reset(u);
        return 0;
    }
    if (lookup_final(u) != 0) {
        ecm_pg_rollback(u->pg);
        odbc_failed(u);
        return -1;
    }
    if (emit_found(u, &counts) != 0)
        goto db_fail;
    if (ecm_pg_commit(u->pg) != 0) {
        db_failed(u);
        return -1;
    }
    /* Counted only once committed, so a retried page isn't counted twice. */
    page_committed(u, &counts);
    return n;

db_fail:
    ecm_pg_rollback(u->pg);
    db_failed(u);
    return -1;
}

static int loop_page(void *reader)
{
    return rs_uccx_page(reader);
}

static long loop_backoff(void *reader)
{
    rs_uccx *u = reader;
    return ecm_odbc_backoff_ms(u->odbc);
}

int rs_uccx_run(rs_uccx *u, long poll_ms, volatile sig_atomic_t *stop)
{
    rs_loop_run(u, loop_page, loop_backoff, u->page_size, poll_ms, stop);
    return 0;
}

int rs_uccx_ready(const rs_uccx *u, char *errstr, size_t errstr_size)
{
    if (!atomic_load(&u->odbc_ok)) {
        snprintf(errstr, errstr_size, "UCCX db_cra (ODBC) unreachable");
        return -1;
    }
    if (!atomic_load(&u->db_ok)) {
        snprintf(errstr, errstr_size, "ECM DB unreachable");
        return -1;
    }
    return 0;
}

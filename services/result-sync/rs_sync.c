#include "rs_sync.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "ecm_account.h"
#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_uuid.h"
#include "rs_logger_time.h"
#include "rs_loop.h"
#include "rs_map.h"

#define RS_SYNC_MAP_RELOAD_MS 60000
#define RS_SYNC_LAG_EVERY_MS 10000

/* Per-row verdict of a page. */
typedef struct {
    int64_t contact_id;
    int attempt;
    int parsed; /* the account number is ours in form */
    int64_t campaign_id;
    int found; /* an attempts row exists */
} row_key;

/* An attempts row found for the page, sorted for bsearch. */
typedef struct {
    int64_t contact_id;
    int attempt;
    int64_t campaign_id;
} attempt_ref;

struct rs_sync {
    char *source;
    char *topic;
    char *ce_source;
    char *logger_zone;
    int page_size;
    ecm_pg *pg;
    rs_odbc *odbc;
    rs_map *map;
    int64_t map_loaded_ms;
    int64_t lag_checked_ms;
    rs_odbc_row *rows;
    row_key *keys;
    _Atomic int db_ok;
    _Atomic int odbc_ok;
    _Atomic int64_t watermark;
    ecm_metric *m_rows;
    ecm_metric *m_emitted;
    ecm_metric *m_skip_foreign;
    ecm_metric *m_skip_no_attempt;
    ecm_metric *m_unknown_code;
    ecm_metric *m_watermark;
    ecm_metric *m_lag;
    ecm_metric *m_err_odbc;
    ecm_metric *m_err_db;
};

rs_sync *rs_sync_new(const rs_sync_config *cfg, ecm_pg *pg, rs_odbc *odbc, ecm_metrics *metrics)
{
    if (!cfg || !cfg->source || !cfg->topic || !cfg->ce_source || !pg || !odbc ||
        cfg->page_size < 1 || cfg->page_size > RS_ODBC_PAGE_MAX) {
        ecm_log_error("bad result-sync settings", NULL);
        return NULL;
    }
    rs_sync *s = calloc(1, sizeof(*s));
    if (!s)
        goto oom;
    s->source = strdup(cfg->source);
    s->topic = strdup(cfg->topic);
    s->ce_source = strdup(cfg->ce_source);
    s->logger_zone = strdup(cfg->logger_zone && cfg->logger_zone[0] ? cfg->logger_zone : "UTC");
    s->rows = calloc((size_t)cfg->page_size, sizeof(*s->rows));
    s->keys = calloc((size_t)cfg->page_size, sizeof(*s->keys));
    if (!s->source || !s->topic || !s->ce_source || !s->logger_zone || !s->rows || !s->keys)
        goto oom;
    s->page_size = cfg->page_size;
    s->pg = pg;
    s->odbc = odbc;
    if (metrics) {
        s->m_rows = ecm_metrics_counter(metrics, "ecm_resultsync_rows_total",
                                        "result rows read from the Cisco source");
        s->m_emitted = ecm_metrics_counter(metrics, "ecm_resultsync_emitted_total",
                                           "CallResult events written to the outbox");
        s->m_skip_foreign = ecm_metrics_counter(
            metrics, "ecm_resultsync_skipped_total{reason=\"foreign_account_number\"}",
            "result rows skipped as not ECM's");
        s->m_skip_no_attempt =
            ecm_metrics_counter(metrics, "ecm_resultsync_skipped_total{reason=\"unknown_attempt\"}",
                                "result rows skipped as not ECM's");
        s->m_unknown_code = ecm_metrics_counter(metrics, "ecm_resultsync_unknown_call_result_total",
                                                "CallResult codes not in call_result_map");
        s->m_watermark =
            ecm_metrics_gauge(metrics, "ecm_resultsync_watermark", "last RecoveryKey committed");
        s->m_lag = ecm_metrics_gauge(metrics, "ecm_resultsync_lag_rows",
                                     "result rows after the watermark (sampled)");
        s->m_err_odbc = ecm_metrics_counter(metrics, "ecm_resultsync_errors_total{kind=\"odbc\"}",
                                            "failed pages");
        s->m_err_db = ecm_metrics_counter(metrics, "ecm_resultsync_errors_total{kind=\"db\"}",
                                          "failed pages");
    }
    return s;
oom:
    ecm_log_error("cannot create the result syncer", "out of memory");
    rs_sync_destroy(s);
    return NULL;
}

void rs_sync_destroy(rs_sync *s)
{
    if (!s)
        return;
    rs_map_destroy(s->map);
    free(s->keys);
    free(s->rows);
    free(s->ce_source);
    free(s->logger_zone);
    free(s->topic);
    free(s->source);
    free(s);
}

static int parse_i64(const char *str, int64_t *out)
{
    char *end = NULL;
    long long v = strtoll(str, &end, 10);
    if (end == str || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

static void db_failed(rs_sync *s)
{
    ecm_pg_check_broken(s->pg);
    atomic_store(&s->db_ok, 0);
    ecm_metric_add(s->m_err_db, 1);
}

/* The map is data a deployment may edit, so it is re-read now and then; a
 * failed re-read keeps the map we have. */
static int ensure_map(rs_sync *s)
{
    int64_t now = ecm_clock_wall_ms();
    if (s->map && now - s->map_loaded_ms < RS_SYNC_MAP_RELOAD_MS)
        return 0;
    rs_map *m = rs_map_load(s->pg, RS_MAP_KIND_UCCE);
    if (!m) {
        if (s->map)
            return 0;
        db_failed(s);
        return -1;
    }
    if (!s->map)
        ecm_log_info("call_result_map loaded", "source_kind %s, %zu codes", RS_MAP_KIND_UCCE,
                     rs_map_size(m));
    rs_map_destroy(s->map);
    s->map = m;
    s->map_loaded_ms = now;
    return 0;
}

/* Locks this source's watermark row for the page's transaction, so replicas
 * take pages one after the other instead of emitting the same rows twice. */
static int lock_watermark(rs_sync *s, int64_t *position)
{
    const char *params[1] = {s->source};
    if (ecm_pg_cmd(s->pg,
                   "INSERT INTO sync_watermarks (source, position) VALUES ($1, 0) "
                   "ON CONFLICT (source) DO NOTHING",
                   1, params) != 0)
        return -1;
    PGresult *res = ecm_pg_exec(
        s->pg, "SELECT position FROM sync_watermarks WHERE source = $1 FOR UPDATE", 1, params);
    if (!res)
        return -1;
    int rc = PQntuples(res) == 1 ? parse_i64(PQgetvalue(res, 0, 0), position) : -1;
    PQclear(res);
    if (rc != 0)
        ecm_log_error("cannot read the watermark", "source %s", s->source);
    return rc;
}

static int attempt_cmp(const void *a, const void *b)
{
    const attempt_ref *x = a;
    const attempt_ref *y = b;
    if (x->contact_id != y->contact_id)
        return (x->contact_id > y->contact_id) - (x->contact_id < y->contact_id);
    return (x->attempt > y->attempt) - (x->attempt < y->attempt);
}

/* Finds which parsed rows have an attempts row, with one query for the whole
 * page. Returns 0 or -1 (ECM DB failed). */
static int find_attempts(rs_sync *s, int nrows)
{
    int nparsed = 0;
    for (int i = 0; i < nrows; i++)
        nparsed += s->keys[i].parsed;
    if (nparsed == 0)
        return 0;
    ecm_pgarr ids, nums;
    ecm_pgarr_init(&ids);
    ecm_pgarr_init(&nums);
    attempt_ref *found = NULL;
    int rc = -1;
    for (int i = 0; i < nrows; i++) {
        if (!s->keys[i].parsed)
            continue;
        ecm_pgarr_add_int(&ids, (long long)s->keys[i].contact_id);
        ecm_pgarr_add_int(&nums, (long long)s->keys[i].attempt);
    }
    const char *params[2] = {ecm_pgarr_finish(&ids), ecm_pgarr_finish(&nums)};
    if (!params[0] || !params[1])
        goto out;
    PGresult *res = ecm_pg_exec(s->pg,
                                "SELECT a.contact_id, a.attempt, a.campaign_id FROM attempts a "
                                "JOIN unnest($1::bigint[], $2::int[]) AS k (contact_id, attempt) "
                                "ON a.contact_id = k.contact_id AND a.attempt = k.attempt",
                                2, params);
    if (!res)
        goto out;
    int nfound = PQntuples(res);
    found = calloc(nfound > 0 ? (size_t)nfound : 1, sizeof(*found));
    if (!found) {
        PQclear(res);
        goto out;
    }
    for (int i = 0; i < nfound; i++) {
        int64_t attempt = 0;
        if (parse_i64(PQgetvalue(res, i, 0), &found[i].contact_id) != 0 ||
            parse_i64(PQgetvalue(res, i, 1), &attempt) != 0 ||
            parse_i64(PQgetvalue(res, i, 2), &found[i].campaign_id) != 0) {
            PQclear(res);
            goto out;
        }
        found[i].attempt = (int)attempt;
    }
    PQclear(res);
    qsort(found, (size_t)nfound, sizeof(*found), attempt_cmp);
    for (int i = 0; i < nrows; i++) {
        if (!s->keys[i].parsed)
            continue;
        attempt_ref key = {.contact_id = s->keys[i].contact_id, .attempt = s->keys[i].attempt};
        const attempt_ref *hit =
            nfound > 0 ? bsearch(&key, found, (size_t)nfound, sizeof(*found), attempt_cmp) : NULL;
        if (hit) {
            s->keys[i].found = 1;
            s->keys[i].campaign_id = hit->campaign_id;
        }
    }
    rc = 0;
out:
    free(found);
    ecm_pgarr_destroy(&nums);
    ecm_pgarr_destroy(&ids);
    return rc;
}

static int emit(rs_sync *s, const rs_odbc_row *row, const row_key *key, int64_t now,
                int *unknown_code)
{
    Ecm__V1__CallResult ev = ECM__V1__CALL_RESULT__INIT;
    char event_id[ECM_UUID_LEN];
    char msg_key[24];
    Ecm__V1__Outcome outcome;
    int counts = 1;

    ecm_uuid_new(event_id);
    if (!rs_map_resolve(s->map, row->call_result, NULL, &outcome, &counts))
        *unknown_code = 1;
    if ((size_t)snprintf(msg_key, sizeof(msg_key), "%" PRId64, key->contact_id) >= sizeof(msg_key))
        return -1;
    /* The message only reads these strings; the casts drop const for
     * protobuf-c's char * fields. */
    ev.event_id = event_id;
    ev.occurred_at = now;
    ev.campaign_id = key->campaign_id;
    ev.contact_id = key->contact_id;
    ev.attempt = key->attempt;
    ev.account_number = (char *)row->account_number;
    ev.call_result = row->call_result;
    ev.call_result_detail = row->call_result_detail;
    ev.outcome = outcome;
    ev.counts_as_attempt = counts ? 1 : 0;
    ev.phone = (char *)row->phone;
    ev.dialed_at = row->date_time_ms;
    ev.duration_s = row->call_duration;
    ev.call_guid = (char *)row->call_guid;
    ev.source = s->source;
    ev.recovery_key = row->recovery_key;
    /* A personal callback: who asked for it and when (the Logger's local
     * time; a time that can't be read is left out, logged). */
    ev.agent_id = (char *)row->agent;
    if (row->has_callback &&
        rs_logger_time_utc_ms(s->logger_zone, row->callback.year, row->callback.month,
                              row->callback.day, row->callback.hour, row->callback.minute,
                              row->callback.second, &ev.callback_at) != 0) {
        ecm_log_warn("CallbackDateTime not understood; left out", "recovery_key %lld zone %s",
                     (long long)row->recovery_key, s->logger_zone);
        ev.callback_at = 0;
    }
    return ecm_outbox_copy_add(s->pg, s->topic, msg_key, s->ce_source, event_id, now, &ev.base);
}

static void sample_lag(rs_sync *s, int nrows, int64_t position)
{
    if (!s->m_lag)
        return;
    if (nrows < s->page_size) {
        ecm_metric_set(s->m_lag, 0);
        return;
    }
    /* Behind by at least a page: count now and then, never every page, since
     * a count over a big Dialer_Detail is not free. */
    int64_t now = ecm_clock_wall_ms();
    if (now - s->lag_checked_ms < RS_SYNC_LAG_EVERY_MS)
        return;
    s->lag_checked_ms = now;
    int64_t lag = 0;
    if (rs_odbc_count_after(s->odbc, position, &lag) == 0)
        ecm_metric_set(s->m_lag, (double)lag);
}

/* What became of a page's rows. */
typedef struct {
    int emitted, foreign, no_attempt, unknown_codes;
} page_counts;

/* Inside the open transaction: finds the attempts of the page's n rows and
 * emits an event for each row of ours, counting in *c. Returns 0 or -1 (the
 * DB failed). */
static int emit_page(rs_sync *s, int n, page_counts *c)
{
    for (int i = 0; i < n; i++) {
        row_key *k = &s->keys[i];
        memset(k, 0, sizeof(*k));
        k->parsed = !s->rows[i].account_number_truncated &&
                    ecm_account_parse(s->rows[i].account_number, &k->contact_id, &k->attempt) == 0;
    }
    if (find_attempts(s, n) != 0)
        return -1;
    int64_t now = ecm_clock_wall_ms();
    int ours = 0;
    for (int i = 0; i < n; i++)
        ours += s->keys[i].parsed && s->keys[i].found;
    /* The page's events in one COPY, not an INSERT each. */
    if (ours > 0 && ecm_outbox_copy_begin(s->pg) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (!s->keys[i].parsed) {
            c->foreign++;
            continue;
        }
        if (!s->keys[i].found) {
            c->no_attempt++;
            continue;
        }
        int unknown = 0;
        if (emit(s, &s->rows[i], &s->keys[i], now, &unknown) != 0) {
            (void)ecm_outbox_copy_end(s->pg);
            return -1;
        }
        c->unknown_codes += unknown;
        c->emitted++;
    }
    return ours > 0 && ecm_outbox_copy_end(s->pg) != 0 ? -1 : 0;
}

/* Inside the open transaction: the watermark moved to last. Returns 0 or
 * -1. */
static int save_watermark(rs_sync *s, int64_t last)
{
    char last_text[24];
    if ((size_t)snprintf(last_text, sizeof(last_text), "%" PRId64, last) >= sizeof(last_text))
        return -1;
    const char *params[2] = {s->source, last_text};
    return ecm_pg_cmd(s->pg,
                      "INSERT INTO sync_watermarks (source, position, updated_at) "
                      "VALUES ($1, $2::bigint, now()) ON CONFLICT (source) DO UPDATE "
                      "SET position = EXCLUDED.position, updated_at = now()",
                      2, params) != 0
               ? -1
               : 0;
}

/* After the commit of a page of n rows up to last: the watermark and the
 * counts published. Can't fail. */
static void page_committed(rs_sync *s, int n, int64_t last, const page_counts *c)
{
    atomic_store(&s->watermark, last);
    ecm_metric_set(s->m_watermark, (double)last);
    ecm_metric_add(s->m_rows, (uint64_t)n);
    ecm_metric_add(s->m_emitted, (uint64_t)c->emitted);
    ecm_metric_add(s->m_skip_foreign, (uint64_t)c->foreign);
    ecm_metric_add(s->m_skip_no_attempt, (uint64_t)c->no_attempt);
    ecm_metric_add(s->m_unknown_code, (uint64_t)c->unknown_codes);
    ecm_log_debug("result page committed",
                  "source %s rows %d emitted %d foreign %d unknown_attempt %d watermark %" PRId64,
                  s->source, n, c->emitted, c->foreign, c->no_attempt, last);
    sample_lag(s, n, last);
}

int rs_sync_page(rs_sync *s)
{
    int64_t position = 0;
    int n = 0;
    page_counts counts = {0};

    if (ensure_map(s) != 0)
        return -1;
    /* Connect before the transaction so that no row lock waits on a login. */
    if (rs_odbc_connect(s->odbc) != 0) {
        atomic_store(&s->odbc_ok, 0);
        ecm_metric_add(s->m_err_odbc, 1);
        return -1;
    }
    if (ecm_pg_begin(s->pg) != 0) {
        db_failed(s);
        return -1;
    }
    if (lock_watermark(s, &position) != 0)
        goto db_fail;
    atomic_store(&s->db_ok, 1);
    atomic_store(&s->watermark, position);
    ecm_metric_set(s->m_watermark, (double)position);

    n = rs_odbc_read_page(s->odbc, position, s->rows);
    if (n < 0) {
        ecm_pg_rollback(s->pg);
        atomic_store(&s->odbc_ok, 0);
        ecm_metric_add(s->m_err_odbc, 1);
        return -1;
    }
    atomic_store(&s->odbc_ok, 1);
    if (n == 0) {
        ecm_pg_rollback(s->pg);
        sample_lag(s, 0, position);
        return 0;
    }
    if (emit_page(s, n, &counts) != 0)
        goto db_fail;

    /* The page's events and the watermark that covers them commit together:
     * after a crash or restart the next page starts right after the last
     * committed RecoveryKey, so no row is lost and none is emitted twice. */
    int64_t last = s->rows[n - 1].recovery_key;
    if (save_watermark(s, last) != 0)
        goto db_fail;
    if (ecm_pg_commit(s->pg) != 0) {
        db_failed(s);
        return -1;
    }
    /* Counted only once committed, so a retried page isn't counted twice. */
    page_committed(s, n, last, &counts);
    return n;

db_fail:
    ecm_pg_rollback(s->pg);
    db_failed(s);
    return -1;
}

static int loop_page(void *reader)
{
    return rs_sync_page(reader);
}

static long loop_backoff(void *reader)
{
    rs_sync *s = reader;
    return rs_odbc_backoff_ms(s->odbc);
}

int rs_sync_run(rs_sync *s, long poll_ms, volatile sig_atomic_t *stop)
{
    rs_loop_run(s, loop_page, loop_backoff, s->page_size, poll_ms, stop);
    return 0;
}

int rs_sync_ready(const rs_sync *s, char *errstr, size_t errstr_size)
{
    if (!atomic_load(&s->odbc_ok)) {
        snprintf(errstr, errstr_size, "result source (ODBC) unreachable");
        return -1;
    }
    if (!atomic_load(&s->db_ok)) {
        snprintf(errstr, errstr_size, "ECM DB unreachable");
        return -1;
    }
    return 0;
}

int64_t rs_sync_watermark(const rs_sync *s)
{
    return atomic_load(&s->watermark);
}

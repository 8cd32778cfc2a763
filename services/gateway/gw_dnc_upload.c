#include "gw_dnc_upload.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ecm_clock.h"
#include "ecm_dnc.h"
#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_phone.h"
#include "ecm_utf8.h"
#include "gw_auth.h"
#include "gw_csv.h"
#include "gw_json.h"
#include "gw_upload.h"
#include "gw_upload_http.h"
#include "gw_upload_lease.h"
#include "gw_upload_limits.h"
#include "gw_upload_report.h"

#define DNC_REASON_MAX_CHARS 200
#define DNC_PHONE_MAX_BYTES 64
#define DNC_FLUSH_TRIES 3
#define DNC_STAGE_LINE_MAX (64 + 2 * 4 * DNC_REASON_MAX_CHARS)

typedef struct {
    const gw_app *app;
    long long campaign_id; /* 0: the global list */
    long long upload_id;
    char actor[24]; /* the uploader's key id ("upload" without one): the ledger's actor */
    char region[16];
    gw_csv *csv;
    int have_header;
    int col_phone, col_reason;
    size_t ncols;

    /* The batch: staging COPY lines (line_no, phone, reason) and the report
     * lines of its rejected rows. */
    ecm_buf stage, report;
    size_t nrows, nstaged;
    long long rejected_in_batch;

    long long rows_read, rows_loaded, rows_rejected, rows_duplicate;
    long long contacts_closed; /* open contacts the new entries closed */
    long long bytes_read, bytes_total;
    json_t *errors;

    int fail_status;
    const char *fail_title;
    char fail_detail[320];
    long long fail_line;
    char fail_reason[256];
    int finished;
    int admitted; /* holds a gw_upload_limits slot, given back by dnc_destroy */
    int fenced;   /* marked 'interrupted' by a gateway (its lease ran out) */
} dnc_upload;

static void dnc_fail(dnc_upload *d, int status, const char *title, const char *detail)
{
    if (d->fail_status) {
        return;
    }
    d->fail_status = status;
    d->fail_title = title;
    (void)ecm_utf8_format(d->fail_detail, sizeof(d->fail_detail), "%s", detail);
}

/* Writes the counts and state (NULL: the lease is renewed; else it ends)
 * on pg, inside or outside a transaction. Fenced: only while the upload is
 * 'running' and owned by this process, so an upload marked interrupted
 * keeps that state. Returns 0, 1 when fenced (nothing written) or -1.
 * DNC uploads are not resumable: sending the file again reports the
 * numbers already listed as duplicates. */
static int dnc_save(ecm_pg *pg, const dnc_upload *d, long long loaded, long long rejected,
                    long long duplicate, const char *state)
{
    char v[6][24];
    gw_ll_text(v[0], d->upload_id);
    gw_ll_text(v[1], d->rows_read);
    gw_ll_text(v[2], loaded);
    gw_ll_text(v[3], rejected);
    gw_ll_text(v[4], duplicate);
    gw_ll_text(v[5], d->bytes_read);
    const gw_upload_lease *l = d->app->upload_lease;
    const char *params[] = {v[0],
                            v[1],
                            v[2],
                            v[3],
                            v[4],
                            v[5],
                            state,
                            gw_upload_lease_interval(l),
                            gw_upload_lease_owner(l)};
    PGresult *r = ecm_pg_exec(pg,
                              "UPDATE uploads SET rows_read = $2, rows_loaded = $3, "
                              "rows_rejected = $4, rows_duplicate = $5, bytes_read = $6, "
                              "state = coalesce($7, state), "
                              "finished_at = CASE WHEN $7 IS NULL THEN NULL ELSE now() END, "
                              "lease_until = CASE WHEN $7 IS NULL THEN now() + $8::interval END "
                              "WHERE id = $1 AND owner = $9 AND state = 'running' RETURNING id",
                              9, params);
    int rc = !r ? -1 : PQntuples(r) == 1 ? 0 : 1;
    PQclear(r);
    return rc;
}

/* Revokes in the consent ledger (every channel, this list, source upload,
 * actor $3, business time $4 ms) the staged numbers that are not revoked
 * on both channels of the list yet, and reports the others as duplicates:
 * the first line of a number in the batch is the one loaded, later lines
 * of it are duplicates of that line. The ledger's trigger writes dnc. */
static const char SQL_MERGE[] =
    "WITH first AS (SELECT DISTINCT ON (phone) phone, line_no, reason FROM dnc_stage "
    "               ORDER BY phone, line_no), "
    "ins AS (INSERT INTO consent_ledger (phone, campaign_id, scope, action, source, reason, "
    "                                    actor, at) "
    "        SELECT phone, $2::bigint, 'all', 'revoke', 'upload', reason, $3, "
    "               'epoch'::timestamptz + $4::bigint * interval '1 millisecond' FROM first f "
    "        WHERE (SELECT count(*) FROM dnc d "
    "               WHERE d.phone_key = regexp_replace(f.phone, '[^0-9]', '', 'g') "
    "               AND d.campaign_id IS NOT DISTINCT FROM $2::bigint) < 2 "
    "        RETURNING phone), "
    "dup AS (INSERT INTO upload_rows (upload_id, line_no, kind, reason) "
    "        SELECT $1, s.line_no, 'duplicate', "
    "               CASE WHEN NOT EXISTS (SELECT 1 FROM ins WHERE ins.phone = s.phone) "
    "                    THEN s.phone || ' is already on the DNC list' "
    "                    ELSE s.phone || ' is already on line ' || f.line_no || ' of this file' "
    "               END "
    "        FROM dnc_stage s JOIN first f USING (phone) "
    "        WHERE s.line_no > f.line_no "
    "           OR NOT EXISTS (SELECT 1 FROM ins WHERE ins.phone = s.phone) "
    "        RETURNING 1) "
    "SELECT (SELECT count(*) FROM dup), substr(i.phone, 2) FROM (SELECT 1) one "
    "LEFT JOIN ins i ON true";

static int dnc_load_once(dnc_upload *d, ecm_pg *pg, long long *loaded, long long *duplicate,
                         long long *contacts_closed)
{
    char uid[24], cid[24], at[24];
    gw_ll_text(uid, d->upload_id);
    gw_ll_text(cid, d->campaign_id);
    gw_ll_text(at, (long long)ecm_clock_now_ms());
    const char *params[] = {uid, d->campaign_id > 0 ? cid : NULL, d->actor, at};
    *loaded = *duplicate = *contacts_closed = 0;
    if (ecm_pg_begin_timeout(pg, GW_UPLOAD_STATEMENT_TIMEOUT_MS) != 0) {
        return -1;
    }
    if (d->nstaged > 0) {
        if (ecm_pg_cmd(pg,
                       "CREATE TEMP TABLE dnc_stage (line_no bigint, phone text, reason text) "
                       "ON COMMIT DROP",
                       0, NULL) != 0 ||
            ecm_pg_copy_begin(pg, "COPY dnc_stage (line_no, phone, reason) FROM STDIN") != 0 ||
            ecm_pg_copy_put(pg, ecm_buf_ptr(&d->stage), ecm_buf_len(&d->stage)) != 0 ||
            ecm_pg_copy_end(pg) != 0) {
            goto fail;
        }
        PGresult *r = ecm_pg_exec(pg, SQL_MERGE, 4, params);
        int n = r ? PQntuples(r) : 0;
        const char **keys = n > 0 ? calloc((size_t)n, sizeof(*keys)) : NULL;
        if (!keys) {
            PQclear(r);
            goto fail;
        }
        *duplicate = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        for (int i = 0; i < n; i++) {
            if (!PQgetisnull(r, i, 1)) {
                keys[(*loaded)++] = PQgetvalue(r, i, 1);
            }
        }
        /* Contacts all of whose numbers are now listed close at once, in
         * this transaction, as with an entry added by the API. */
        int closed = ecm_dnc_close_blocked(
            pg, keys, (size_t)*loaded, d->campaign_id,
            d->app->topic_closed ? d->app->topic_closed : "contacts.closed", d->app->source);
        free(keys);
        PQclear(r);
        if (closed < 0) {
            goto fail;
        }
        *contacts_closed = closed;
    }
    if (gw_upload_report_copy(pg, &d->report) != 0) {
        goto fail;
    }
    int saved = dnc_save(pg, d, d->rows_loaded + *loaded, d->rows_rejected + d->rejected_in_batch,
                         d->rows_duplicate + *duplicate, NULL);
    if (saved == 1) {
        d->fenced = 1; /* the fence: another gateway marked it interrupted */
    }
    if (saved != 0 || ecm_pg_commit(pg) != 0) {
        goto fail;
    }
    return 0;
fail:
    ecm_pg_rollback(pg);
    return -1;
}

static int dnc_flush(dnc_upload *d)
{
    if (d->nrows == 0) {
        return 0;
    }
    long long loaded = 0, duplicate = 0, closed = 0;
    int ok = 0;
    for (int t = 0; t < DNC_FLUSH_TRIES && !ok; t++) {
        ecm_pg *pg = ecm_pg_pool_get_within(d->app->pool, 0); /* admitted: no bound */
        ok = dnc_load_once(d, pg, &loaded, &duplicate, &closed) == 0;
        int broken = ok || d->fenced ? 0 : ecm_pg_check_broken(pg);
        ecm_pg_pool_put(d->app->pool, pg);
        if (!ok && !broken) {
            break;
        }
    }
    /* A retry after an unseen COMMIT is harmless here: the INSERT is
     * idempotent, and the report rows' key refuses a second copy, which
     * fails the upload rather than count twice. */
    if (!ok && d->fenced) {
        char detail[200];
        (void)snprintf(detail, sizeof(detail),
                       "upload %lld was marked interrupted (this gateway did not renew its lease "
                       "in time); %lld numbers were loaded; send the file again",
                       d->upload_id, d->rows_loaded);
        dnc_fail(d, 409, "Upload interrupted", detail);
        return -1;
    }
    if (!ok) {
        char detail[160];
        (void)snprintf(detail, sizeof(detail),
                       "the database did not take the numbers; %lld were loaded before",
                       d->rows_loaded);
        dnc_fail(d, 503, "Database unavailable", detail);
        return -1;
    }
    d->rows_loaded += loaded;
    d->rows_duplicate += duplicate;
    d->contacts_closed += closed;
    d->rows_rejected += d->rejected_in_batch;
    d->rejected_in_batch = 0;
    ecm_buf_reset(&d->stage);
    ecm_buf_reset(&d->report);
    d->nrows = d->nstaged = 0;
    return 0;
}

static int dnc_reject(dnc_upload *d, long long line, const char *reason)
{
    d->rejected_in_batch++;
    gw_upload_report_answer(d->errors, line, reason);
    return gw_upload_report_add(&d->report, d->upload_id, line, "rejected", reason);
}

static int dnc_header(dnc_upload *d, long long line, size_t nfields, const char *const *fields,
                      const size_t *lens)
{
    d->have_header = 1;
    d->ncols = nfields;
    d->col_phone = d->col_reason = -1;
    for (size_t i = 0; i < nfields; i++) {
        const char *s = fields[i];
        size_t n = lens[i];
        while (n > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
            n--;
        }
        if (n == 5 && strncasecmp(s, "phone", 5) == 0 && d->col_phone < 0) {
            d->col_phone = (int)i;
        } else if (n == 6 && strncasecmp(s, "reason", 6) == 0 && d->col_reason < 0) {
            d->col_reason = (int)i;
        }
    }
    if (d->col_phone < 0) {
        d->fail_line = line;
        (void)ecm_utf8_format(d->fail_reason, sizeof(d->fail_reason), "header: no 'phone' column");
        char detail[96];
        (void)snprintf(detail, sizeof(detail), "line %lld: header: no 'phone' column", line);
        gw_upload_report_answer(d->errors, line, d->fail_reason);
        dnc_fail(d, 422, "Unusable CSV header", detail);
        return -1;
    }
    return 0;
}

int gw_dnc_upload_row(const char *region, size_t ncols, int col_phone, int col_reason,
                      long long line, size_t nfields, const char *const *fields, const size_t *lens,
                      ecm_buf *stage, char *reason, size_t reason_size)
{
    if (nfields != ncols) {
        (void)ecm_utf8_format(reason, reason_size, "expected %zu fields, found %zu", ncols,
                              nfields);
        return 1;
    }
    const char *raw = fields[col_phone];
    size_t n = lens[col_phone];
    const char *why_text = NULL;
    char why[96];
    ecm_phone_info info;
    if (n > DNC_PHONE_MAX_BYTES || memchr(raw, '\0', n)) {
        why_text = "is not a phone number";
    } else if (ecm_phone_normalize(raw, region, &info, why, sizeof(why)) != 0) {
        why_text = why;
    }
    const char *rs = col_reason >= 0 ? fields[col_reason] : "";
    size_t rn = col_reason >= 0 ? lens[col_reason] : 0;
    size_t chars = ecm_utf8_chars(rs, rn);
    if (why_text) {
        char shown[GW_UPLOAD_EXCERPT_SIZE];
        ecm_utf8_excerpt(shown, sizeof(shown), raw, n, GW_UPLOAD_EXCERPT_CHARS);
        (void)ecm_utf8_format(reason, reason_size, "phone: '%s' %s", shown, why_text);
        return 1;
    }
    if (!ecm_utf8_text_ok(rs, rn)) {
        (void)ecm_utf8_format(reason, reason_size, "reason: not valid UTF-8 text");
        return 1;
    }
    if (chars > DNC_REASON_MAX_CHARS) {
        (void)ecm_utf8_format(reason, reason_size, "reason: longer than %d characters",
                              DNC_REASON_MAX_CHARS);
        return 1;
    }
    char num[32];
    int nn = snprintf(num, sizeof(num), "%lld\t", line);
    if (nn < 0 || (size_t)nn >= sizeof(num)) {
        (void)ecm_utf8_format(reason, reason_size, "out of memory");
        return -1;
    }
    if (ecm_buf_add(stage, num, (size_t)nn) || ecm_buf_add(stage, info.e164, strlen(info.e164)) ||
        ecm_buf_add(stage, "\t", 1) || ecm_pg_copy_escape_n(stage, rn ? rs : NULL, rn) ||
        ecm_buf_add(stage, "\n", 1)) {
        (void)ecm_utf8_format(reason, reason_size, "out of memory");
        return -1;
    }
    return 0;
}

static int dnc_on_record(void *ctx, long long line, size_t nfields, const char *const *fields,
                         const size_t *lens)
{
    dnc_upload *d = ctx;
    if (!d->have_header) {
        return dnc_header(d, line, nfields, fields, lens);
    }
    d->rows_read++;
    d->nrows++;
    char reason[256];
    int rc = gw_dnc_upload_row(d->region, d->ncols, d->col_phone, d->col_reason, line, nfields,
                               fields, lens, &d->stage, reason, sizeof(reason));
    if (rc == 0) {
        d->nstaged++;
    } else if (rc == 1) {
        rc = dnc_reject(d, line, reason);
    }
    if (rc != 0) {
        dnc_fail(d, 500, "Internal error", "out of memory while reading the file");
        return -1;
    }
    return d->nrows >= d->app->upload_batch ? dnc_flush(d) : 0;
}

static void dnc_destroy(dnc_upload *d)
{
    if (!d) {
        return;
    }
    if (d->admitted) {
        gw_upload_limits_leave(d->app->upload_limits);
    }
    if (d->upload_id > 0) {
        gw_upload_lease_drop(d->app->upload_lease, d->upload_id);
    }
    gw_csv_destroy(d->csv);
    ecm_buf_destroy(&d->stage);
    ecm_buf_destroy(&d->report);
    json_decref(d->errors);
    free(d);
}

static int dnc_begin(ecm_http_req *req, const gw_app *app, long long campaign_id)
{
    char shown[256];
    const char *ct = ecm_http_req_header(req, "Content-Type");
    if (gw_upload_body_kind(ct) != GW_BODY_CSV) {
        ecm_http_respond_problem(req, 415, "unsupported-media-type", "Unsupported media type",
                                 "send the list as the request body with Content-Type: text/csv "
                                 "(UTF-8) and a 'phone' column; got '%s'",
                                 ecm_utf8_quote(shown, sizeof(shown), ct, 60));
        return -1;
    }
    if (!gw_upload_limits_admit(app->upload_limits, req)) {
        return -1;
    }
    dnc_upload *d = calloc(1, sizeof(*d));
    if (d) {
        d->app = app;
        const gw_principal *who = gw_auth_principal(req);
        (void)snprintf(d->actor, sizeof(d->actor), "%s", who && who->id[0] ? who->id : "upload");
        d->admitted = 1; /* given back by dnc_destroy */
        /* A batch stages at most upload_batch lines (line, E.164 and a
         * reason of 200 characters escaped: under DNC_STAGE_LINE_MAX) and
         * reports as many rows, plus the header's. */
        ecm_buf_init(&d->stage, (app->upload_batch + 1) * DNC_STAGE_LINE_MAX);
        ecm_buf_init(&d->report, (app->upload_batch + 2) * (96 + 2 * GW_UPLOAD_REASON_MAX));
    } else {
        gw_upload_limits_leave(app->upload_limits);
    }
    if (!d || !(d->errors = json_array()) ||
        !(d->csv = gw_csv_new(app->upload_max_record, dnc_on_record, d))) {
        dnc_destroy(d);
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return -1;
    }
    d->app = app;
    d->campaign_id = campaign_id;
    int region_cut =
        gw_format(d->region, sizeof(d->region), "%s",
                  app->default_region ? app->default_region : GW_DNC_UPLOAD_GLOBAL_REGION);
    char cid[24];
    gw_ll_text(cid, campaign_id);
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    if (campaign_id > 0) {
        const char *p[] = {cid};
        PGresult *c = ecm_pg_exec(pg, "SELECT region FROM campaigns WHERE id = $1", 1, p);
        if (!c || PQntuples(c) == 0) {
            if (c) {
                ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                         "campaign %lld does not exist", campaign_id);
            } else {
                char what[48];
                (void)snprintf(what, sizeof(what), "read campaign %lld", campaign_id);
                gw_respond_db_down(req, pg, what);
            }
            ecm_pg_pool_put(app->pool, pg);
            dnc_destroy(d);
            PQclear(c);
            return -1;
        }
        region_cut = gw_format(d->region, sizeof(d->region), "%s", PQgetvalue(c, 0, 0));
        PQclear(c);
    }
    if (region_cut) {
        ecm_pg_pool_put(app->pool, pg);
        dnc_destroy(d);
        ecm_http_respond_problem(req, 500, "internal", "Internal error",
                                 "the list's region is no region code");
        return -1;
    }
    d->upload_id = gw_upload_start(req, app, pg, "dnc", campaign_id, ct, &d->bytes_total);
    ecm_pg_pool_put(app->pool, pg);
    if (d->upload_id <= 0) {
        dnc_destroy(d);
        return -1;
    }
    ecm_log_info("dnc upload started", "upload_id=%lld campaign_id=%lld", d->upload_id,
                 campaign_id);
    ecm_http_req_set_state(req, d);
    return 0;
}

static int begin_global(void *ctx, ecm_http_req *req)
{
    return dnc_begin(req, ctx, 0);
}

static int begin_campaign(void *ctx, ecm_http_req *req)
{
    long long campaign_id;
    if (gw_path_id(req, "campaign", &campaign_id) != 0) {
        return -1;
    }
    return dnc_begin(req, ctx, campaign_id);
}

static void dnc_mark_failed(dnc_upload *d)
{
    if (d->finished || d->upload_id <= 0) {
        return;
    }
    if (d->fenced) {
        d->finished = 1; /* no longer this process's to write */
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get_within(d->app->pool, 0); /* admitted: no bound */
    int rc = 0;
    if (d->fail_line > 0) {
        rc = gw_upload_report_reject(pg, d->upload_id, d->fail_line, d->fail_reason);
        if (rc == 0) {
            d->rows_rejected++;
        }
    }
    if (rc != 0 ||
        dnc_save(pg, d, d->rows_loaded, d->rows_rejected, d->rows_duplicate, "failed") < 0) {
        ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(d->app->pool, pg);
    d->finished = 1;
    ecm_log_warn("dnc upload failed", "upload_id=%lld loaded=%lld reason=%s", d->upload_id,
                 d->rows_loaded, d->fail_status ? d->fail_detail : "request ended early");
}

static void dnc_respond_failure(dnc_upload *d, ecm_http_req *req)
{
    dnc_mark_failed(d);
    const char *type = d->fail_status == 422   ? "validation"
                       : d->fail_status == 503 ? "unavailable"
                       : d->fail_status == 409 ? "conflict"
                                               : "internal";
    ecm_http_respond_problem(req, d->fail_status, type, d->fail_title, "%s (upload %lld)",
                             d->fail_detail, d->upload_id);
}

static void reader_failed(dnc_upload *d, const char *err)
{
    if (d->fail_status) {
        return;
    }
    long long line = gw_csv_error_line(d->csv);
    if (line > 0 && d->fail_line == 0) {
        d->fail_line = line;
        (void)ecm_utf8_format(d->fail_reason, sizeof(d->fail_reason), "%s", err);
    }
    gw_upload_report_answer(d->errors, line, err);
    if (dnc_flush(d) == 0) {
        char detail[300];
        (void)snprintf(detail, sizeof(detail), "%s; %lld numbers before it were loaded", err,
                       d->rows_loaded);
        dnc_fail(d, 422, "Unreadable CSV", detail);
    }
}

static int dnc_body(void *ctx, ecm_http_req *req, const char *data, size_t len)
{
    (void)ctx;
    dnc_upload *d = ecm_http_req_state(req);
    char err[200];
    d->bytes_read += (long long)len;
    if (gw_csv_feed(d->csv, data, len, err, sizeof(err)) != 0) {
        reader_failed(d, err);
        dnc_respond_failure(d, req);
        return -1;
    }
    return 0;
}

static void dnc_end(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    dnc_upload *d = ecm_http_req_state(req);
    char err[200];
    if (gw_csv_finish(d->csv, err, sizeof(err)) != 0) {
        reader_failed(d, err);
    }
    if (!d->fail_status && !d->have_header) {
        dnc_fail(d, 422, "Empty file", "the file has no header row");
    }
    if (!d->fail_status) {
        (void)dnc_flush(d);
    }
    ecm_pg *pg = d->fail_status ? NULL : ecm_pg_pool_get_within(d->app->pool, 0);
    if (pg) {
        int saved = dnc_save(pg, d, d->rows_loaded, d->rows_rejected, d->rows_duplicate, "done");
        if (saved == 1) {
            d->fenced = 1;
            dnc_fail(d, 409, "Upload interrupted",
                     "the upload was marked interrupted (this gateway did not renew its lease in "
                     "time); send the file again");
        } else if (saved != 0) {
            ecm_pg_check_broken(pg);
            dnc_fail(d, 503, "Database unavailable",
                     "the numbers were loaded but the upload could not be closed");
        }
        ecm_pg_pool_put(d->app->pool, pg);
    }
    if (d->fail_status) {
        dnc_respond_failure(d, req);
        return;
    }
    d->finished = 1;
    ecm_log_info("dnc upload done",
                 "upload_id=%lld read=%lld loaded=%lld rejected=%lld "
                 "duplicate=%lld",
                 d->upload_id, d->rows_read, d->rows_loaded, d->rows_rejected, d->rows_duplicate);
    char url[64];
    if (gw_format(url, sizeof(url), "/api/v1/uploads/%lld", d->upload_id) != 0) {
        url[0] = '\0'; /* cannot be: an id takes at most 20 bytes */
    }
    json_t *body =
        json_pack("{sI ss so ss ss sI sI sI sI sI s{sI sI sf} sO}", "upload_id",
                  (json_int_t)d->upload_id, "kind", "dnc", "campaign_id",
                  d->campaign_id > 0 ? json_integer((json_int_t)d->campaign_id) : json_null(),
                  "state", "done", "report_url", url, "rows_read", (json_int_t)d->rows_read,
                  "rows_loaded", (json_int_t)d->rows_loaded, "rows_rejected",
                  (json_int_t)d->rows_rejected, "rows_duplicate", (json_int_t)d->rows_duplicate,
                  "rows_dnc", (json_int_t)0, "progress", "bytes_read", (json_int_t)d->bytes_read,
                  "bytes_total", (json_int_t)d->bytes_read, "fraction", 1.0, "errors", d->errors);
    if (body) {
        json_object_set_new(body, "contacts_closed", json_integer((json_int_t)d->contacts_closed));
    }
    gw_json_respond(req, 202, body);
}

static void dnc_cleanup(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    dnc_upload *d = ecm_http_req_state(req);
    if (!d) {
        return;
    }
    dnc_mark_failed(d);
    ecm_http_req_set_state(req, NULL);
    dnc_destroy(d);
}

int gw_dnc_upload_register(ecm_http *h, const gw_app *app)
{
    static const ecm_http_stream_handler global = {
        .begin = begin_global,
        .body = dnc_body,
        .end = dnc_end,
        .cleanup = dnc_cleanup,
    };
    static const ecm_http_stream_handler campaign = {
        .begin = begin_campaign,
        .body = dnc_body,
        .end = dnc_end,
        .cleanup = dnc_cleanup,
    };
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    size_t cap = gw_upload_limits_max_bytes(app);
    if (ecm_http_route_stream(h, "POST", "/api/v1/dnc/uploads", cap, &global, ctx) != 0 ||
        ecm_http_route_stream(h, "POST", "/api/v1/campaigns/{}/dnc/uploads", cap, &campaign, ctx) !=
            0) {
        return -1;
    }
    return 0;
}

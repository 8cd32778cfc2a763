#include "gw_upload_report.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ecm_pgval.h"
#include "ecm_utf8.h"
#include "gw_app.h"
#include "gw_json.h"

#define GW_REPORT_PAGE_DEFAULT 100
#define GW_REPORT_PAGE_MAX 1000

void gw_upload_report_answer(json_t *errors, long long line, const char *reason)
{
    if (json_array_size(errors) < GW_UPLOAD_ERRORS_ANSWER) {
        json_array_append_new(errors,
                              json_pack("{so ss}", "line",
                                        line > 0 ? json_integer((json_int_t)line) : json_null(),
                                        "reason", reason));
    }
}

int gw_upload_report_add(ecm_buf *rows, long long upload_id, long long line, const char *kind,
                         const char *reason)
{
    char head[80];
    int n = snprintf(head, sizeof(head), "%lld\t%lld\t%s\t", upload_id, line, kind);
    if (n < 0 || (size_t)n >= sizeof(head)) {
        return -1;
    }
    /* PostgreSQL refuses ill-formed UTF-8, and the refusal would roll back
     * the batch: a reason is made valid here whatever built it. */
    char text[GW_UPLOAD_REASON_MAX];
    size_t len = ecm_utf8_copy(text, sizeof(text), reason, strlen(reason));
    return ecm_buf_add(rows, head, (size_t)n) || ecm_pg_copy_escape_n(rows, text, len) ||
                   ecm_buf_add(rows, "\n", 1)
               ? -1
               : 0;
}

int gw_upload_report_reject(ecm_pg *pg, long long upload_id, long long line, const char *reason)
{
    char id[24], line_text[24];
    gw_ll_text(id, upload_id);
    gw_ll_text(line_text, line);
    const char *params[] = {id, line_text, reason};
    return ecm_pg_cmd(pg,
                      "INSERT INTO upload_rows (upload_id, line_no, kind, reason) "
                      "VALUES ($1, $2, 'rejected', $3) ON CONFLICT DO NOTHING",
                      3, params);
}

int gw_upload_report_copy(ecm_pg *pg, const ecm_buf *rows)
{
    if (ecm_buf_len(rows) == 0) {
        return 0;
    }
    if (ecm_pg_copy_begin(pg, "COPY upload_rows (upload_id, line_no, kind, reason) FROM STDIN") !=
            0 ||
        ecm_pg_copy_put(pg, ecm_buf_ptr(rows), ecm_buf_len(rows)) != 0 ||
        ecm_pg_copy_end(pg) != 0) {
        return -1;
    }
    return 0;
}

/* The upload's answer: counts, progress and the report's address. */
json_t *gw_upload_report_json(long long upload_id, const char *kind, long long campaign_id,
                              const char *state, const long long counts[5], long long bytes_read,
                              long long bytes_total)
{
    char url[64];
    if (gw_format(url, sizeof(url), "/api/v1/uploads/%lld", upload_id) != 0) {
        return NULL; /* cannot be: an id takes at most 20 bytes */
    }
    json_t *fraction = json_null();
    if (bytes_total > 0) {
        double f = (double)bytes_read / (double)bytes_total;
        fraction = json_real(f > 1.0 ? 1.0 : f);
    } else if (bytes_total == 0) {
        fraction = json_real(1.0);
    }
    return json_pack("{sI ss so ss ss sI sI sI sI sI s{sI so so}}", "upload_id",
                     (json_int_t)upload_id, "kind", kind, "campaign_id",
                     campaign_id > 0 ? json_integer((json_int_t)campaign_id) : json_null(), "state",
                     state, "report_url", url, "rows_read", (json_int_t)counts[0], "rows_loaded",
                     (json_int_t)counts[1], "rows_rejected", (json_int_t)counts[2],
                     "rows_duplicate", (json_int_t)counts[3], "rows_dnc", (json_int_t)counts[4],
                     "progress", "bytes_read", (json_int_t)bytes_read, "bytes_total",
                     bytes_total >= 0 ? json_integer((json_int_t)bytes_total) : json_null(),
                     "fraction", fraction);
}

#define UPLOAD_SELECT_SQL                                                                          \
    "SELECT kind, campaign_id, state, rows_read, rows_loaded, rows_rejected, rows_duplicate, "     \
    "rows_dnc, bytes_read, bytes_total, content_type, " GW_SQL_TIME(                               \
        "created_at") ", " GW_SQL_TIME("finished_at") ", committed_line, committed_bytes, owner, " \
                                                      "resumes, " GW_SQL_TIME(                     \
                                                          "interrupted_at") ", " GW_SQL_TIME("lea" \
                                                                                             "se_" \
                                                                                             "unt" \
                                                                                             "il") " FROM uploads WHERE id = $1"

#define UPLOAD_ROWS_SQL                                                                            \
    "SELECT line_no, kind, reason FROM upload_rows WHERE upload_id = $1 AND line_no > $2 "         \
    "AND ($3::text IS NULL OR kind = $3) ORDER BY line_no LIMIT $4"

/* Absent counts and ids (SQL NULL) read as -1. */
static long long col_ll(const PGresult *r, int row, int col)
{
    return ecm_pgval_ll(r, row, col, -1);
}

/* The upload row r's fields beyond the counts, into body: content type,
 * times, resume point, owner and lease, and the resume's address when the
 * upload is interrupted. */
static void report_details(json_t *body, const PGresult *r, long long id)
{
    json_object_set_new(body, "content_type",
                        gw_json_text_or_null(PQgetvalue(r, 0, 10), PQgetisnull(r, 0, 10)));
    json_object_set_new(body, "created_at", json_string(PQgetvalue(r, 0, 11)));
    json_object_set_new(body, "finished_at",
                        gw_json_text_or_null(PQgetvalue(r, 0, 12), PQgetisnull(r, 0, 12)));
    /* Where a resume goes on from: the last line (item) loaded and the
     * bytes of the file read by then. */
    json_object_set_new(body, "committed_line", json_integer((json_int_t)col_ll(r, 0, 13)));
    json_object_set_new(body, "committed_bytes", json_integer((json_int_t)col_ll(r, 0, 14)));
    json_object_set_new(body, "owner",
                        gw_json_text_or_null(PQgetvalue(r, 0, 15), PQgetisnull(r, 0, 15)));
    json_object_set_new(body, "resumes", json_integer((json_int_t)col_ll(r, 0, 16)));
    json_object_set_new(body, "interrupted_at",
                        gw_json_text_or_null(PQgetvalue(r, 0, 17), PQgetisnull(r, 0, 17)));
    json_object_set_new(body, "lease_until",
                        gw_json_text_or_null(PQgetvalue(r, 0, 18), PQgetisnull(r, 0, 18)));
    if (strcmp(PQgetvalue(r, 0, 2), "interrupted") == 0) {
        char resume[64];
        if (gw_format(resume, sizeof(resume), "/api/v1/uploads/%lld/resume", id) == 0) {
            json_object_set_new(body, "resume_url", json_string(resume));
        }
    }
}

void gw_upload_report_get(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id, after, limit;
    if (gw_path_id(req, "upload", &id) != 0) {
        return;
    }
    /* ?cursor (from next_cursor, as every list pages) or ?after (a line:
     * the rows after it; the older name, kept for clients that use it). */
    const char *cursor = ecm_http_req_query(req, "cursor");
    if (cursor && gw_parse_id(cursor, &after) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query",
                                 "cursor: '%s' is not a cursor from next_cursor",
                                 GW_QUOTE(cursor, 40));
        return;
    }
    if ((!cursor && gw_query_int(req, "after", 0, 0, INT64_MAX / 2, &after) != 0) ||
        gw_query_int(req, "limit", GW_REPORT_PAGE_DEFAULT, 1, GW_REPORT_PAGE_MAX, &limit) != 0) {
        return;
    }
    const char *kind = ecm_http_req_query(req, "kind");
    if (kind && strcmp(kind, "rejected") != 0 && strcmp(kind, "duplicate") != 0 &&
        strcmp(kind, "dnc") != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query",
                                 "kind: must be rejected, duplicate or dnc");
        return;
    }
    char sid[24], safter[24], slimit[24];
    gw_ll_text(sid, id);
    gw_ll_text(safter, after);
    gw_ll_text(slimit, limit + 1);
    const char *params[] = {sid, safter, kind, slimit};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg, UPLOAD_SELECT_SQL, 1, params);
    PGresult *rows = r && PQntuples(r) == 1 ? ecm_pg_exec(pg, UPLOAD_ROWS_SQL, 4, params) : NULL;
    if (!r || (PQntuples(r) == 1 && !rows)) {
        char what[48];
        (void)snprintf(what, sizeof(what), "read upload %lld", id);
        gw_respond_db_down(req, pg, what);
        ecm_pg_pool_put(app->pool, pg);
        PQclear(r);
        return;
    }
    ecm_pg_pool_put(app->pool, pg);
    if (PQntuples(r) == 0) {
        PQclear(r);
        ecm_http_respond_problem(req, 404, "not-found", "No such upload",
                                 "upload %lld does not exist", id);
        return;
    }
    const long long counts[5] = {col_ll(r, 0, 3), col_ll(r, 0, 4), col_ll(r, 0, 5), col_ll(r, 0, 6),
                                 col_ll(r, 0, 7)};
    json_t *body =
        gw_upload_report_json(id, PQgetvalue(r, 0, 0), col_ll(r, 0, 1), PQgetvalue(r, 0, 2), counts,
                              col_ll(r, 0, 8), col_ll(r, 0, 9));
    json_t *items = json_array();
    int n = PQntuples(rows);
    int shown = n > (int)limit ? (int)limit : n;
    for (int i = 0; i < shown; i++) {
        json_array_append_new(items, json_pack("{sI ss ss}", "line", (json_int_t)col_ll(rows, i, 0),
                                               "kind", PQgetvalue(rows, i, 1), "reason",
                                               PQgetvalue(rows, i, 2)));
    }
    json_t *next =
        n > (int)limit ? json_integer((json_int_t)col_ll(rows, shown - 1, 0)) : json_null();
    if (body && items) {
        report_details(body, r, id);
        json_object_set_new(body, "rows", items);
        json_object_set_new(body, "next_cursor",
                            json_is_null(next)
                                ? json_null()
                                : json_sprintf("%lld", (long long)json_integer_value(next)));
        json_object_set_new(body, "next_after", next);
    } else {
        json_decref(items);
        json_decref(next);
    }
    PQclear(rows);
    PQclear(r);
    gw_json_respond(req, 200, body);
}

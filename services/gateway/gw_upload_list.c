#include "gw_upload_list.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ecm_pgval.h"
#include "gw_json.h"

/* clang-format off */
static const char LIST_SQL[] =
    "SELECT id, kind, campaign_id, state, content_type, rows_read, rows_loaded, rows_rejected, "
    "rows_duplicate, rows_dnc, bytes_read, bytes_total, committed_line, resumes, "
    GW_SQL_TIME("created_at") ", " GW_SQL_TIME("finished_at") ", "
    GW_SQL_TIME("interrupted_at") ", client_ref "
    "FROM uploads WHERE ($1::bigint = 0 OR id < $1::bigint) "
    "AND ($3::bigint IS NULL OR campaign_id = $3::bigint) "
    "AND ($4::text IS NULL OR state = $4) AND ($5::text IS NULL OR kind = $5) "
    "AND ($6::text IS NULL OR client_ref = $6) "
    "ORDER BY id DESC LIMIT $2::int";
/* clang-format on */

static json_t *int_or_null(const PGresult *r, int i, int c)
{
    return PQgetisnull(r, i, c) ? json_null() : json_integer(ecm_pgval_ll(r, i, c, 0));
}

static json_t *upload_row_json(const PGresult *r, int i)
{
#define TEXT(c) gw_json_text_or_null(PQgetvalue(r, i, c), PQgetisnull(r, i, c))
#define INT(c) int_or_null(r, i, c)
    json_t *row = json_pack("{so ss so ss so so so so so so so so so so so so so}", "id", INT(0),
                            "kind", PQgetvalue(r, i, 1), "campaign_id", INT(2), "state",
                            PQgetvalue(r, i, 3), "content_type", TEXT(4), "rows_read", INT(5),
                            "rows_loaded", INT(6), "rows_rejected", INT(7), "rows_duplicate",
                            INT(8), "rows_dnc", INT(9), "bytes_read", INT(10), "bytes_total",
                            INT(11), "committed_line", INT(12), "resumes", INT(13), "created_at",
                            TEXT(14), "finished_at", TEXT(15), "interrupted_at", TEXT(16));
    if (row) {
        json_object_set_new(row, "client_ref", TEXT(17));
    }
#undef TEXT
#undef INT
    char url[64];
    if (row && strcmp(PQgetvalue(r, i, 3), "interrupted") == 0 &&
        snprintf(url, sizeof url, "/api/v1/uploads/%s/resume", PQgetvalue(r, i, 0)) <
            (int)sizeof url) {
        json_object_set_new(row, "resume_url", json_string(url));
    }
    return row;
}

/* ?name, when given, is one of allowed (NULL-terminated). 0, or -1 after
 * answering 400. */
static int check_one_of(ecm_http_req *req, const char *name, const char *const *allowed,
                        const char *list)
{
    const char *v = ecm_http_req_query(req, name);
    if (!v) {
        return 0;
    }
    for (size_t i = 0; allowed[i]; i++) {
        if (strcmp(v, allowed[i]) == 0) {
            return 0;
        }
    }
    ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                             "%s: '%s' is not one of %s", name, GW_QUOTE(v, 40), list);
    return -1;
}

static void list_uploads(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    static const char *const states[] = {"running", "done", "failed", "interrupted", NULL};
    static const char *const kinds[] = {"contacts", "dnc", NULL};
    gw_page page;
    long long campaign = 0;
    if (gw_page_args(req, GW_UPLOAD_LIST_DEFAULT, GW_UPLOAD_LIST_MAX, &page) != 0 ||
        (ecm_http_req_query(req, "campaign_id") &&
         gw_query_int(req, "campaign_id", 0, 1, INT64_MAX, &campaign) != 0) ||
        check_one_of(req, "state", states, "running, done, failed, interrupted") != 0 ||
        check_one_of(req, "kind", kinds, "contacts, dnc") != 0) {
        return;
    }
    char scampaign[24];
    (void)snprintf(scampaign, sizeof scampaign, "%lld", campaign);
    const char *params[] = {page.cursor_param,
                            page.limit_param,
                            campaign ? scampaign : NULL,
                            ecm_http_req_query(req, "state"),
                            ecm_http_req_query(req, "kind"),
                            ecm_http_req_query(req, "client_ref")};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg, LIST_SQL, 6, params);
    if (!r) {
        gw_respond_db_down(req, pg, "list uploads");
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    json_t *answer = gw_page_json(r, &page, upload_row_json);
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    gw_json_respond(req, 200, answer);
}

int gw_upload_list_register(ecm_http *h, const gw_app *app)
{
    return ecm_http_route(h, "GET", "/api/v1/uploads", 0, list_uploads, (void *)(uintptr_t)app);
}

#include "gw_upload_http.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_utf8.h"
#include "gw_dnc_upload.h"
#include "gw_json.h"
#include "gw_upload.h"
#include "gw_upload_lease.h"
#include "gw_upload_limits.h"
#include "gw_upload_load.h"
#include "gw_upload_report.h"
#include "gw_upload_resume.h"
#include "gw_upload_state.h"

gw_body_kind gw_upload_body_kind(const char *ct)
{
    if (!ct) {
        return GW_BODY_UNSUPPORTED;
    }
    while (*ct == ' ') {
        ct++;
    }
    size_t n = strcspn(ct, ";");
    size_t m = n;
    while (m > 0 && ct[m - 1] == ' ') {
        m--;
    }
    gw_body_kind kind = GW_BODY_UNSUPPORTED;
    if ((m == 8 && strncasecmp(ct, "text/csv", 8) == 0) ||
        (m == 15 && strncasecmp(ct, "application/csv", 15) == 0)) {
        kind = GW_BODY_CSV;
    } else if (m == 16 && strncasecmp(ct, "application/json", 16) == 0) {
        kind = GW_BODY_JSON;
    } else {
        return GW_BODY_UNSUPPORTED;
    }
    const char *cs = NULL;
    for (const char *p = ct + n; *p && !cs; p++) {
        if (strncasecmp(p, "charset=", 8) == 0) {
            cs = p;
        }
    }
    if (!cs) {
        return kind;
    }
    cs += 8;
    if (*cs == '"') {
        cs++;
    }
    return strncasecmp(cs, "utf-8", 5) == 0 || strncasecmp(cs, "utf8", 4) == 0 ||
                   strncasecmp(cs, "us-ascii", 8) == 0
               ? kind
               : GW_BODY_UNSUPPORTED;
}

/* The Content-Type of an upload: CSV or JSON, or 415 answered. */
static gw_body_kind upload_http_kind(ecm_http_req *req, const char **ct)
{
    char shown[256];
    *ct = ecm_http_req_header(req, "Content-Type");
    gw_body_kind kind = gw_upload_body_kind(*ct);
    if (kind == GW_BODY_UNSUPPORTED) {
        ecm_http_respond_problem(req, 415, "unsupported-media-type", "Unsupported media type",
                                 "send the file as the request body with Content-Type: text/csv "
                                 "(UTF-8) or application/json (an array of objects); got '%s'. "
                                 "multipart/form-data is not supported yet",
                                 ecm_utf8_quote(shown, sizeof(shown), *ct, 60));
    }
    return kind;
}

gw_body_kind gw_upload_http_target(ecm_http_req *req, const char *param, long long *id,
                                   const char **ct)
{
    if (gw_path_id(req, param, id) != 0) {
        return GW_BODY_UNSUPPORTED;
    }
    return upload_http_kind(req, ct);
}

static int upload_begin(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long campaign_id;
    const char *ct;
    gw_body_kind kind = gw_upload_http_target(req, "campaign", &campaign_id, &ct);
    if (kind == GW_BODY_UNSUPPORTED) {
        return -1;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    gw_upload *u = gw_upload_open(app, req, pg, campaign_id, kind);
    if (!u) {
        ecm_pg_pool_put(app->pool, pg);
        return -1;
    }
    u->upload_id = gw_upload_start(req, app, pg, "contacts", campaign_id, ct, &u->bytes_total);
    ecm_pg_pool_put(app->pool, pg);
    if (u->upload_id <= 0) {
        gw_upload_destroy(u);
        return -1;
    }
    u->held = 1;
    ecm_log_info("upload started", "upload_id=%lld campaign_id=%lld format=%s owner=%s",
                 u->upload_id, campaign_id, u->json ? "json" : "csv",
                 gw_upload_lease_owner(app->upload_lease));
    ecm_http_req_set_state(req, u);
    return 0;
}

/* The report reads 'failed' before the client hears so: a client that asks
 * for it right after the answer sees the same thing. */
static void respond_failure(gw_upload *u, ecm_http_req *req)
{
    gw_upload_mark_failed(u);
    ecm_http_respond_problem(req, u->fail_status, u->fail_type, u->fail_title, "%s (upload %lld)",
                             u->fail_detail, u->upload_id);
}

static int upload_body(void *ctx, ecm_http_req *req, const char *data, size_t len)
{
    (void)ctx;
    gw_upload *u = ecm_http_req_state(req);
    char err[200];
    if (gw_upload_resume_hash(u, data, len) != 0) {
        respond_failure(u, req);
        return -1;
    }
    u->bytes_read += (long long)len;
    int rc = u->json ? gw_jsonarr_feed(u->jarr, data, len, err, sizeof(err))
                     : gw_csv_feed(u->csv, data, len, err, sizeof(err));
    if (rc == 0 && u->flush_due && u->resume_verified && gw_upload_flush(u, 0) != 0) {
        respond_failure(u, req);
        return -1;
    }
    if (rc != 0 && u->fail_status) {
        respond_failure(u, req); /* the record callback failed the upload */
        return -1;
    }
    if (rc != 0) {
        if (!u->fail_status) {
            /* The reader itself gave up (a record too long): keep what came
             * before it, as the report says. */
            gw_upload_fail_line(u, gw_upload_reader_error_line(u), err);
            if (gw_upload_flush(u, 1) == 0) {
                char detail[300];
                (void)ecm_utf8_format(detail, sizeof(detail), "%s; %lld rows before it were loaded",
                                      err, u->rows_loaded);
                gw_upload_fail(u, 422, "validation", u->json ? "Unreadable JSON" : "Unreadable CSV",
                               detail);
            }
        }
        respond_failure(u, req);
        return -1;
    }
    return 0;
}

static void upload_end(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    gw_upload *u = ecm_http_req_state(req);
    char err[200];
    int rc = u->json ? gw_jsonarr_finish(u->jarr, err, sizeof(err))
                     : gw_csv_finish(u->csv, err, sizeof(err));
    if (rc != 0 && !u->fail_status) {
        gw_upload_fail_line(u, gw_upload_reader_error_line(u), err);
        gw_upload_fail(u, 422, "validation", u->json ? "Unreadable JSON" : "Unreadable CSV", err);
    }
    if (!u->fail_status && !u->json && !u->header) {
        gw_upload_fail(u, 422, "validation", "Empty file", "the file has no header row");
    }
    if (!u->fail_status && u->resumed && !u->resume_verified) {
        char detail[300];
        (void)ecm_utf8_format(detail, sizeof(detail),
                              "this is not the file upload %lld read: it has %lld bytes, fewer "
                              "than the %lld bytes already loaded; nothing was loaded",
                              u->upload_id, u->bytes_read, u->resume_bytes);
        u->refused = 1;
        gw_upload_fail(u, 409, "conflict", "Not the same file", detail);
    }
    /* Rows before a reader failure are kept, as the report says; after a
     * database failure the batch is not tried again here. */
    if ((u->fail_status == 0 || u->fail_status == 422) && gw_upload_flush(u, 1) != 0) {
        /* the failure is recorded in u, and answered below */
    }
    if (u->fail_status) {
        respond_failure(u, req);
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get_within(u->app->pool, 0);
    rc = gw_upload_load_save(pg, u, u->rows_read, u->bytes_read, NULL, "done", NULL);
    if (rc < 0) {
        ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(u->app->pool, pg);
    if (rc > 0) {
        u->fenced = 1;
        gw_upload_fail_fenced(u);
        respond_failure(u, req);
        return;
    }
    if (rc != 0) {
        gw_upload_fail(u, 503, "unavailable", "Database unavailable",
                       "the contacts were loaded but the upload could not be closed");
        respond_failure(u, req);
        return;
    }
    u->finished = 1;
    ecm_log_info("upload done",
                 "upload_id=%lld read=%lld loaded=%lld rejected=%lld duplicate=%lld dnc=%lld "
                 "numbers_looked_up=%lld batches_rechecked=%lld",
                 u->upload_id, u->rows_read, u->rows_loaded, u->rows_rejected, u->rows_duplicate,
                 u->rows_dnc, u->seen_lookups, u->seen_rechecks);
    const long long counts[5] = {u->rows_read, u->rows_loaded, u->rows_rejected, u->rows_duplicate,
                                 u->rows_dnc};
    json_t *body =
        gw_upload_report_json(u->upload_id, "contacts", u->campaign_id, "done", counts,
                              u->bytes_read, u->bytes_total >= 0 ? u->bytes_total : u->bytes_read);
    if (body) {
        json_object_set(body, "errors", u->errors);
    }
    gw_json_respond(req, 202, body);
}

static void upload_cleanup(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    gw_upload *u = ecm_http_req_state(req);
    if (!u) {
        return;
    }
    gw_upload_mark_failed(u); /* the client went away mid-file */
    ecm_http_req_set_state(req, NULL);
    gw_upload_destroy(u);
}

int gw_upload_register(ecm_http *h, const gw_app *app)
{
    static const ecm_http_stream_handler fns = {
        .begin = upload_begin,
        .body = upload_body,
        .end = upload_end,
        .cleanup = upload_cleanup,
    };
    static const ecm_http_stream_handler resume_fns = {
        .begin = gw_upload_resume_begin,
        .body = upload_body,
        .end = upload_end,
        .cleanup = upload_cleanup,
    };
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route_stream(h, "POST", "/api/v1/campaigns/{}/uploads",
                              gw_upload_limits_max_bytes(app), &fns, ctx) != 0 ||
        ecm_http_route_stream(h, "POST", "/api/v1/uploads/{}/resume",
                              gw_upload_limits_max_bytes(app), &resume_fns, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/uploads/{}", 0, gw_upload_report_get, ctx) != 0) {
        return -1;
    }
    return gw_dnc_upload_register(h, app);
}

#include "gw_upload_resume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_pgval.h"
#include "ecm_utf8.h"
#include "gw_audit.h"
#include "gw_json.h"
#include "gw_upload_lease.h"

/* Writes into hex the SHA-256 of the body hashed so far. Returns 0 or -1. */
int gw_upload_resume_digest(const gw_upload *u, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_MD_CTX_copy_ex(c, u->sha) == 1 && EVP_DigestFinal_ex(c, md, &n) == 1;
    EVP_MD_CTX_free(c);
    static const char digits[] = "0123456789abcdef";
    for (unsigned int i = 0; ok && i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    if (ok) {
        hex[2 * n] = '\0';
    }
    return ok ? 0 : -1;
}

#define RESUME_TAKE_SQL                                                                            \
    "UPDATE uploads SET state = 'running', owner = $2, lease_until = now() + $3::interval, "       \
    "interrupted_at = NULL, resumes = resumes + 1, bytes_read = 0, "                               \
    "bytes_total = coalesce($4::bigint, bytes_total) "                                             \
    "WHERE id = $1 AND state = 'interrupted' AND kind = 'contacts' "                               \
    "AND (committed_sha256 IS NOT NULL OR rows_read = 0) "                                         \
    "RETURNING campaign_id, committed_line, committed_bytes, coalesce(committed_sha256, ''), "     \
    "rows_read, rows_loaded, rows_rejected, rows_duplicate, rows_dnc, content_type"

/* Why upload id cannot be resumed, answered (404 or 409). */
static void resume_refuse(ecm_http_req *req, ecm_pg *pg, long long id)
{
    char sid[24];
    gw_ll_text(sid, id);
    const char *params[] = {sid};
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT state, kind, committed_sha256 IS NULL AND rows_read > 0 "
                              "FROM uploads WHERE id = $1",
                              1, params);
    if (!r) {
        gw_respond_db_down(req, pg, "read the upload");
    } else if (PQntuples(r) == 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such upload",
                                 "upload %lld does not exist", id);
    } else if (strcmp(PQgetvalue(r, 0, 1), "contacts") != 0) {
        ecm_http_respond_problem(req, 409, "conflict", "Upload cannot be resumed",
                                 "upload %lld is a DNC list upload; those are not resumed: send "
                                 "the file again (numbers already listed are reported as "
                                 "duplicates)",
                                 id);
    } else if (strcmp(PQgetvalue(r, 0, 0), "interrupted") == 0 &&
               strcmp(PQgetvalue(r, 0, 2), "t") == 0) {
        ecm_http_respond_problem(req, 409, "conflict", "Upload cannot be resumed",
                                 "upload %lld was cut off before this version of the gateway: it "
                                 "has no resume point. Send the file as a new upload (the rows "
                                 "already loaded are reported as duplicates)",
                                 id);
    } else {
        ecm_http_respond_problem(req, 409, "conflict", "Upload cannot be resumed",
                                 "upload %lld is %s; only an interrupted upload can be resumed", id,
                                 PQgetvalue(r, 0, 0));
    }
    PQclear(r);
}

/* POST /api/v1/uploads/{id}/resume: the same file again, whole. Its first
 * committed_bytes bytes are hashed, not validated, and must match; the
 * lines up to committed_line are parsed (for the header and the line
 * numbers) but neither validated nor loaded; the rest loads as in the
 * first upload, the counts going on from the recorded ones. */
/* The campaign of interrupted upload id, sent as kind the first time.
 * Returns it (0 when the row has none), or -1 after answering (404, 409,
 * 503). */
static long long resume_campaign(ecm_http_req *req, ecm_pg *pg, long long id, gw_body_kind kind)
{
    char sid[24];
    gw_ll_text(sid, id);
    const char *p1[] = {sid};
    PGresult *r = ecm_pg_exec(
        pg,
        "SELECT campaign_id, content_type FROM uploads WHERE id = $1 AND state = 'interrupted' "
        "AND kind = 'contacts' AND (committed_sha256 IS NOT NULL OR rows_read = 0)",
        1, p1);
    if (!r || PQntuples(r) == 0) {
        PQclear(r);
        resume_refuse(req, pg, id);
        return -1;
    }
    long long campaign_id = ecm_pgval_ll(r, 0, 0, 0);
    gw_body_kind was = gw_upload_body_kind(PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1));
    PQclear(r);
    if (was != kind) {
        ecm_http_respond_problem(req, 409, "conflict", "Not the same file",
                                 "upload %lld was sent as %s; resume it with the same file and "
                                 "Content-Type",
                                 id, was == GW_BODY_JSON ? "application/json" : "text/csv");
        return -1;
    }
    return campaign_id;
}

/* Takes upload id for u (one UPDATE: of two resumes at once, one gets it)
 * and sets u's resume point and counts from it. Returns 0, or -1 after
 * answering (404, 409, 503). */
static int resume_take(ecm_http_req *req, ecm_pg *pg, gw_upload *u, long long id)
{
    const gw_app *app = u->app;
    char sid[24], total_text[24];
    gw_ll_text(sid, id);
    long long total = gw_upload_content_length(req);
    u->bytes_total = total;
    gw_ll_text(total_text, total);
    const char *p2[] = {sid, gw_upload_lease_owner(app->upload_lease),
                        gw_upload_lease_interval(app->upload_lease),
                        total >= 0 ? total_text : NULL};
    /* The take and its audit row commit together. */
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "resume the upload");
        return -1;
    }
    PGresult *r = ecm_pg_exec(pg, RESUME_TAKE_SQL, 4, p2);
    if (!r || PQntuples(r) == 0) {
        PQclear(r);
        ecm_pg_rollback(pg);
        resume_refuse(req, pg, id);
        return -1;
    }
    json_t *summary = json_pack("{sI sI}", "committed_line", (json_int_t)ecm_pgval_ll(r, 0, 1, 0),
                                "rows_loaded", (json_int_t)ecm_pgval_ll(r, 0, 5, 0));
    int audited = summary ? gw_audit_add_id(pg, req, "upload.resume", "upload", id, summary) : -1;
    json_decref(summary);
    if (audited != 0 || ecm_pg_commit(pg) != 0) {
        PQclear(r);
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "resume the upload");
        return -1;
    }
    u->upload_id = id;
    u->resumed = 1;
    u->resume_line = ecm_pgval_ll(r, 0, 1, 0);
    u->resume_bytes = ecm_pgval_ll(r, 0, 2, 0);
    if (gw_format(u->resume_sha, sizeof(u->resume_sha), "%s", PQgetvalue(r, 0, 3)) != 0) {
        /* No SHA-256 in hex: a checkpoint no file matches, so the resume is
         * refused once its bytes are hashed. */
        u->resume_sha[0] = '\0';
    }
    u->resume_verified = u->resume_bytes == 0;
    u->rows_read = ecm_pgval_ll(r, 0, 4, 0);
    u->rows_loaded = ecm_pgval_ll(r, 0, 5, 0);
    u->rows_rejected = ecm_pgval_ll(r, 0, 6, 0);
    u->rows_duplicate = ecm_pgval_ll(r, 0, 7, 0);
    u->rows_dnc = ecm_pgval_ll(r, 0, 8, 0);
    PQclear(r);
    return 0;
}

int gw_upload_resume_begin(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id;
    const char *ct;
    gw_body_kind kind = gw_upload_http_target(req, "upload", &id, &ct);
    if (kind == GW_BODY_UNSUPPORTED) {
        return -1;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    long long campaign_id = resume_campaign(req, pg, id, kind);
    gw_upload *u = campaign_id >= 0 ? gw_upload_open(app, req, pg, campaign_id, kind) : NULL;
    if (!u || resume_take(req, pg, u, id) != 0) {
        ecm_pg_pool_put(app->pool, pg);
        gw_upload_destroy(u);
        return -1;
    }
    if (gw_upload_lease_hold(app->upload_lease, id) != 0) {
        if (gw_upload_mark(pg, app, id, "interrupted") != 0) {
            ecm_pg_check_broken(pg); /* best effort: the sweep marks it later */
        }
        ecm_pg_pool_put(app->pool, pg);
        gw_upload_destroy(u);
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return -1;
    }
    ecm_pg_pool_put(app->pool, pg);
    u->held = 1;
    ecm_log_info("upload resumed",
                 "upload_id=%lld campaign_id=%lld after_line=%lld after_bytes=%lld owner=%s", id,
                 campaign_id, u->resume_line, u->resume_bytes,
                 gw_upload_lease_owner(app->upload_lease));
    ecm_http_req_set_state(req, u);
    return 0;
}

/* Adds the chunk to the body's hash before it is parsed. On a resume,
 * once the checkpoint's bytes are in, compares their hash with the one
 * recorded. Returns 0, or -1 with the upload failed (another file, or the
 * hash failing). */
int gw_upload_resume_hash(gw_upload *u, const char *data, size_t len)
{
    size_t first = len;
    if (u->resumed && !u->resume_verified && u->hashed + (long long)len >= u->resume_bytes) {
        first = (size_t)(u->resume_bytes - u->hashed);
    }
    if (EVP_DigestUpdate(u->sha, data, first) != 1) {
        gw_upload_fail(u, 500, "internal", "Internal error", "could not hash the file");
        return -1;
    }
    u->hashed += (long long)first;
    if (first < len || (u->resumed && !u->resume_verified && u->hashed == u->resume_bytes)) {
        char hex[sizeof(u->resume_sha)];
        if (gw_upload_resume_digest(u, hex) != 0) {
            gw_upload_fail(u, 500, "internal", "Internal error", "could not hash the file");
            return -1;
        }
        if (strcmp(hex, u->resume_sha) != 0) {
            char detail[300];
            (void)ecm_utf8_format(detail, sizeof(detail),
                                  "this is not the file upload %lld read: the SHA-256 of its first "
                                  "%lld bytes differs from the one recorded when they were loaded; "
                                  "nothing was loaded",
                                  u->upload_id, u->resume_bytes);
            u->refused = 1;
            gw_upload_fail(u, 409, "conflict", "Not the same file", detail);
            return -1;
        }
        u->resume_verified = 1;
        if (EVP_DigestUpdate(u->sha, data + first, len - first) != 1) {
            gw_upload_fail(u, 500, "internal", "Internal error", "could not hash the file");
            return -1;
        }
        u->hashed += (long long)(len - first);
    }
    return 0;
}

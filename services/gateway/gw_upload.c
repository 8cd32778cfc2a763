#include "gw_upload.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_pgval.h"
#include "ecm_sms.h"
#include "ecm_utf8.h"
#include "gw_audit.h"
#include "gw_json.h"
#include "gw_upload_lease.h"
#include "gw_upload_limits.h"
#include "gw_upload_load.h"
#include "gw_upload_pool.h"
#include "gw_upload_report.h"
#include "gw_upload_resume.h"
#include "gw_upload_state.h"

void gw_upload_fail(gw_upload *u, int status, const char *type, const char *title,
                    const char *detail)
{
    if (u->fail_status) {
        return; /* the first failure is the one to report */
    }
    u->fail_status = status;
    u->fail_type = type;
    u->fail_title = title;
    (void)ecm_utf8_format(u->fail_detail, sizeof(u->fail_detail), "%s", detail);
}

/* Gives back loader l's extra connection, if it holds one. */
static void loader_give_extra(gw_upload *u, gw_upload_loader *l)
{
    if (l->extra) {
        gw_upload_limits_loader_give(u->app->upload_limits);
        l->extra = 0;
    }
}

/* Waits for loader l's thread and gives back one extra connection: l's,
 * or, when l ran on the upload's own connection, a loader's still running
 * (which then runs on the upload's own). An upload holds one extra
 * connection fewer than it has loaders running. */
static void loader_join(gw_upload *u, gw_upload_loader *l)
{
    if (!l->running) {
        return;
    }
    (void)pthread_join(l->thread, NULL);
    l->running = 0;
    gw_upload_loader *giver = l;
    for (int i = 0; !l->extra && i < GW_UPLOAD_LOADERS; i++) {
        if (u->loaders[i].running && u->loaders[i].extra) {
            giver = &u->loaders[i];
            break;
        }
    }
    loader_give_extra(u, giver);
}

/* The running loader with the earliest batch, or NULL. */
static gw_upload_loader *loader_oldest(gw_upload *u)
{
    gw_upload_loader *oldest = NULL;
    for (int i = 0; i < GW_UPLOAD_LOADERS; i++) {
        gw_upload_loader *l = &u->loaders[i];
        if (l->running && (!oldest || l->seq < oldest->seq)) {
            oldest = l;
        }
    }
    return oldest;
}

static int loaders_running(const gw_upload *u)
{
    int n = 0;
    for (int i = 0; i < GW_UPLOAD_LOADERS; i++) {
        n += u->loaders[i].running;
    }
    return n;
}

static int load_rc_get(gw_upload *u)
{
    if (!u->load_sync) {
        return u->load_rc;
    }
    pthread_mutex_lock(&u->load_mu);
    int rc = u->load_rc;
    pthread_mutex_unlock(&u->load_mu);
    return rc;
}

/* Waits for every batch being loaded. Returns 0, or -1 when a batch could
 * not be loaded (that stays so). Afterwards the counts and errors are the
 * caller's to read. */
static int loader_wait(gw_upload *u)
{
    gw_upload_loader *l;
    while ((l = loader_oldest(u)) != NULL) {
        loader_join(u, l);
    }
    return load_rc_get(u);
}

/* A loader for the next batch: a free one while fewer than
 * GW_UPLOAD_LOADERS load and an extra connection is free (the first needs
 * none: an admitted upload always has one), else once the earliest batch
 * is in (*joined then says so). */
static gw_upload_loader *loader_free(gw_upload *u, int *joined)
{
    *joined = 0;
    pthread_mutex_lock(&u->load_mu);
    int one = u->one_loader;
    pthread_mutex_unlock(&u->load_mu);
    for (;;) {
        int n = loaders_running(u);
        int extra = n > 0;
        if (n == 0 || (!one && n < GW_UPLOAD_LOADERS &&
                       gw_upload_limits_loader_take(u->app->upload_limits))) {
            for (int i = 0; i < GW_UPLOAD_LOADERS; i++) {
                if (!u->loaders[i].running) {
                    u->loaders[i].extra = extra;
                    return &u->loaders[i];
                }
            }
        }
        loader_join(u, loader_oldest(u));
        *joined = 1;
    }
}

/* A batch no loader holds, for the next rows. */
static gw_upload_batch *batch_free(gw_upload *u)
{
    for (int i = 0; i < GW_UPLOAD_LOADERS + 1; i++) {
        gw_upload_batch *b = &u->batches[i];
        int held = 0;
        for (int k = 0; k < GW_UPLOAD_LOADERS; k++) {
            held = held || (u->loaders[k].running && u->loaders[k].b == b);
        }
        if (!held) {
            return b;
        }
    }
    return NULL; /* not reached: more batches than loaders */
}

/* A failure that belongs to a line of the file (a header that cannot be
 * used, a record the reader cannot get past): reported like a rejected row. */
void gw_upload_fail_line(gw_upload *u, long long line, const char *reason)
{
    if (u->fail_line == 0 && line > 0) {
        u->fail_line = line;
        (void)ecm_utf8_format(u->fail_reason, sizeof(u->fail_reason), "%s", reason);
    }
    (void)loader_wait(u); /* errors are the loader's while it runs */
    gw_upload_report_answer(u->errors, line, reason);
}

void gw_upload_fail_fenced(gw_upload *u)
{
    char detail[200];
    (void)ecm_utf8_format(detail, sizeof(detail),
                          "upload %lld was marked interrupted (this gateway did not renew its "
                          "lease in time); %lld rows were loaded; resume it with POST "
                          "/api/v1/uploads/%lld/resume",
                          u->upload_id, u->rows_loaded, u->upload_id);
    gw_upload_fail(u, 409, "conflict", "Upload interrupted", detail);
}

/* Validates the batch being read and hands it to the loader thread once
 * the previous one is in; with wait, also waits for it to be loaded.
 * Returns 0, or -1 with the failure recorded in u. */
int gw_upload_flush(gw_upload *u, int wait)
{
    gw_upload_batch *b = u->cur;
    if (b->nrows > 0) {
        int64_t started = ecm_clock_mono_ms();
        if (gw_upload_pool_validate(u, b) != 0) {
            gw_upload_fail(u, 500, "internal", "Internal error",
                           "out of memory while reading the file");
            return -1;
        }
        b->validate_ms = ecm_clock_mono_ms() - started;
        b->rows_read = u->rows_read;
        b->bytes_read = u->bytes_read;
        b->last_line = b->rows[b->nrows - 1].line;
        if (gw_upload_resume_digest(u, b->sha) != 0) {
            gw_upload_fail(u, 500, "internal", "Internal error", "could not hash the file");
            return -1;
        }
    }
    u->flush_due = 0;
    int rc = 0;
    if (b->nrows > 0) {
        int64_t wait_from = ecm_clock_mono_ms();
        int joined;
        gw_upload_loader *l = loader_free(u, &joined);
        rc = load_rc_get(u);
        if (joined) {
            gw_upload_pool_pace(u, b, ecm_clock_mono_ms() - wait_from);
        }
        if (rc == 0) {
            l->u = u;
            l->b = b;
            l->seq = u->next_seq++;
            l->in_turn = 0;
            if (pthread_create(&l->thread, NULL, gw_upload_load_run, l) == 0) {
                l->running = 1;
            } else {
                loader_give_extra(u, l);
                (void)gw_upload_load_run(l);
            }
            u->cur = batch_free(u);
            u->cur->nrows = 0;
            ecm_buf_reset(&u->cur->raw);
        } else {
            loader_give_extra(u, l);
        }
    } else {
        rc = loader_wait(u);
    }
    if (rc != 0 || wait) {
        rc = loader_wait(u); /* the counts and fenced are the loaders' until then */
    }
    if (rc != 0 && u->fenced) {
        gw_upload_fail_fenced(u);
        return -1;
    }
    if (rc != 0) {
        char detail[160];
        (void)ecm_utf8_format(
            detail, sizeof(detail),
            "the database did not take the contacts; %lld rows were loaded before", u->rows_loaded);
        gw_upload_fail(u, 503, "unavailable", "Database unavailable", detail);
        return -1;
    }
    return 0;
}

/* Keeps one raw row in the batch; hands the batch on when it is full. */
static int batch_add(gw_upload *u, long long line, size_t nfields, const char *const *fields,
                     const size_t *lens, const char *text, size_t len)
{
    gw_upload_batch *b = u->cur;
    if (b->nrows == b->cap) {
        /* A full batch waiting for a resume's checksum (flush_due). */
        size_t cap = b->cap * 2;
        gw_upload_raw_row *rows = realloc(b->rows, cap * sizeof(*rows));
        if (rows) {
            b->rows = rows;
        }
        gw_upload_result *res = rows ? realloc(b->res, cap * sizeof(*res)) : NULL;
        if (!res) {
            gw_upload_fail(u, 500, "internal", "Internal error",
                           "out of memory while reading the file");
            return -1;
        }
        b->res = res;
        b->cap = cap;
    }
    gw_upload_raw_row *r = &b->rows[b->nrows];
    r->line = line;
    r->off = ecm_buf_len(&b->raw);
    r->nfields = nfields;
    int rc = 0;
    if (text) {
        rc = ecm_buf_add(&b->raw, text, len) || ecm_buf_add(&b->raw, "", 1);
    } else {
        for (size_t i = 0; i < nfields && rc == 0; i++) {
            rc = ecm_buf_add(&b->raw, (const char *)&lens[i], sizeof(lens[i])) ||
                 ecm_buf_add(&b->raw, fields[i], lens[i]) || ecm_buf_add(&b->raw, "", 1);
        }
    }
    if (rc != 0) {
        gw_upload_fail(u, 500, "internal", "Internal error",
                       "out of memory while reading the file");
        return -1;
    }
    r->len = text ? len : ecm_buf_len(&b->raw) - r->off;
    b->nrows++;
    u->rows_read++;
    if (b->nrows >= u->app->upload_batch || ecm_buf_len(&b->raw) >= GW_BATCH_MAX_BYTES) {
        if (!u->resumed || u->resume_verified) {
            return gw_upload_flush(u, 0);
        }
        /* Rows after the resume point that come before the checksum is
         * verified (those the first upload read in the same chunk as its
         * last loaded line) wait for it: nothing of another file may
         * load. The same file has at most one chunk's worth of them. */
        u->flush_due = 1;
        if (ecm_buf_len(&b->raw) >= 2 * GW_BATCH_MAX_BYTES) {
            char detail[300];
            (void)ecm_utf8_format(detail, sizeof(detail),
                                  "this is not the file upload %lld read: its line %lld comes "
                                  "after line %lld, where the loaded part ended, long before "
                                  "byte %lld; nothing was loaded",
                                  u->upload_id, line, u->resume_line, u->resume_bytes);
            u->refused = 1;
            gw_upload_fail(u, 409, "conflict", "Not the same file", detail);
            return -1;
        }
    }
    return 0;
}

/* A resume skips the lines (items) the upload loaded before: parsed (for
 * the header and the line numbers) but neither validated nor reported.
 * Returns 1 to skip the line, 0 to take it. */
static int resume_skip(const gw_upload *u, long long line)
{
    return u->resumed && line <= u->resume_line;
}

static int upload_on_record(void *ctx, long long line, size_t nfields, const char *const *fields,
                            const size_t *lens)
{
    gw_upload *u = ctx;
    char reason[256];
    if (!u->header) {
        u->header = gw_upload_header_parse(nfields, fields, lens, reason, sizeof(reason));
        if (!u->header) {
            char detail[300];
            (void)ecm_utf8_format(detail, sizeof(detail), "line %lld: %s", line, reason);
            gw_upload_fail_line(u, line, reason);
            gw_upload_fail(u, 422, "validation", "Unusable CSV header", detail);
            return -1;
        }
        if (u->sms_template) {
            int rc =
                gw_upload_header_use_template(u->header, u->sms_template, reason, sizeof(reason));
            if (rc != 0) {
                char detail[300];
                (void)ecm_utf8_format(detail, sizeof(detail), "line %lld: %s", line, reason);
                gw_upload_fail_line(u, line, reason);
                gw_upload_fail(u, 422, "validation",
                               rc > 0 ? "Template field missing from the file"
                                      : "Unusable message template",
                               detail);
                return -1;
            }
            if (!u->rules.sms) {
                gw_upload_header_unrequire(u->header);
            }
        }
        return 0;
    }
    return resume_skip(u, line) ? 0 : batch_add(u, line, nfields, fields, lens, NULL, 0);
}

static int upload_on_item(void *ctx, long long index, const char *text, size_t len)
{
    return resume_skip(ctx, index) ? 0 : batch_add(ctx, index, 0, NULL, NULL, text, len);
}

void gw_upload_destroy(gw_upload *u)
{
    if (!u) {
        return;
    }
    (void)loader_wait(u);
    if (u->admitted) {
        gw_upload_limits_leave(u->app->upload_limits);
    }
    if (u->held) {
        gw_upload_lease_drop(u->app->upload_lease, u->upload_id);
    }
    EVP_MD_CTX_free(u->sha);
    ecm_bloom_destroy(u->seen);
    gw_csv_destroy(u->csv);
    gw_jsonarr_destroy(u->jarr);
    gw_upload_header_destroy(u->header);
    free(u->sms_template);
    for (size_t i = 0; i < u->nrequired; i++) {
        free(u->required[i]);
    }
    free(u->required);
    if (u->load_sync) {
        pthread_mutex_destroy(&u->load_mu);
        pthread_cond_destroy(&u->load_cv);
        pthread_mutex_destroy(&u->seen_mu);
    }
    for (int i = 0; i < GW_UPLOAD_LOADERS + 1; i++) {
        gw_upload_batch *b = &u->batches[i];
        ecm_buf_destroy(&b->raw);
        free(b->rows);
        free(b->res);
        for (int k = 0; k < GW_UPLOAD_THREADS_MAX; k++) {
            ecm_buf_destroy(&b->out[k]);
        }
    }
    for (int k = 0; k < GW_UPLOAD_THREADS_MAX; k++) {
        gw_upload_worker *w = &u->workers[k];
        gw_upload_scratch_destroy(w->scratch);
        free(w->fields);
        free(w->lens);
    }
    json_decref(u->errors);
    free(u);
}

static int collect_placeholder(void *ctx, const char *name)
{
    gw_upload *u = ctx;
    for (size_t i = 0; i < u->nrequired; i++) {
        if (strcmp(u->required[i], name) == 0) {
            return 0;
        }
    }
    char **grown = realloc(u->required, (u->nrequired + 1) * sizeof(*grown));
    if (!grown) {
        return -1;
    }
    u->required = grown;
    if (!(u->required[u->nrequired] = strdup(name))) {
        return -1;
    }
    u->nrequired++;
    return 0;
}

/* Allocates the upload's reader and batch. Returns NULL when out of
 * memory. */
static gw_upload *upload_new(const gw_app *app, int json)
{
    gw_upload *u = calloc(1, sizeof(*u));
    if (!u) {
        return NULL;
    }
    u->app = app;
    u->json = json;
    u->bytes_total = -1;
    u->nworkers = gw_upload_pool_threads(app);
    u->nvalidate = u->nworkers;
    u->cur = &u->batches[0];
    int ok = (u->errors = json_array()) != NULL && (u->sha = EVP_MD_CTX_new()) != NULL &&
             EVP_DigestInit_ex(u->sha, EVP_sha256(), NULL) == 1;
    if (pthread_mutex_init(&u->load_mu, NULL) == 0) {
        if (pthread_cond_init(&u->load_cv, NULL) == 0) {
            if (pthread_mutex_init(&u->seen_mu, NULL) == 0) {
                u->load_sync = 1;
            } else {
                pthread_cond_destroy(&u->load_cv);
                pthread_mutex_destroy(&u->load_mu);
            }
        } else {
            pthread_mutex_destroy(&u->load_mu);
        }
    }
    ok = ok && u->load_sync;
    for (int i = 0; i < GW_UPLOAD_LOADERS + 1; i++) {
        ecm_buf_init(&u->batches[i].raw, gw_upload_raw_max(app));
        for (int k = 0; k < GW_UPLOAD_THREADS_MAX; k++) {
            ecm_buf_init(&u->batches[i].out[k], GW_UPLOAD_OUT_MAX);
        }
    }
    for (int i = 0; ok && i < GW_UPLOAD_LOADERS + 1; i++) {
        gw_upload_batch *b = &u->batches[i];
        b->cap = app->upload_batch;
        ok = (b->rows = calloc(b->cap, sizeof(*b->rows))) != NULL &&
             (b->res = calloc(b->cap, sizeof(*b->res))) != NULL;
    }
    for (int k = 0; ok && k < u->nworkers; k++) {
        u->workers[k].u = u;
        ok = (u->workers[k].scratch = gw_upload_scratch_new()) != NULL;
    }
    if (ok) {
        ok = json ? (u->jarr = gw_jsonarr_new(app->upload_max_record, upload_on_item, u)) != NULL
                  : (u->csv = gw_csv_new(app->upload_max_record, upload_on_record, u)) != NULL;
    }
    if (!ok) {
        gw_upload_destroy(u);
        return NULL;
    }
    return u;
}

long long gw_upload_content_length(ecm_http_req *req)
{
    const char *cl = ecm_http_req_header(req, "Content-Length");
    char *end = NULL;
    long long total = cl ? strtoll(cl, &end, 10) : -1;
    if (cl && (end == cl || *end != '\0' || total < 0)) {
        total = -1;
    }
    return total;
}

/* Ends upload_id owned by this process in state, best effort. Returns 0 or
 * -1. */
int gw_upload_mark(ecm_pg *pg, const gw_app *app, long long upload_id, const char *state)
{
    char id[24];
    gw_ll_text(id, upload_id);
    const char *params[] = {id, state, gw_upload_lease_owner(app->upload_lease)};
    return ecm_pg_cmd(pg,
                      "UPDATE uploads SET state = $2, lease_until = NULL, "
                      "finished_at = CASE WHEN $2 IN ('done', 'failed') THEN now() END, "
                      "interrupted_at = CASE WHEN $2 = 'interrupted' THEN now() END "
                      "WHERE id = $1 AND owner = $3 AND state = 'running'",
                      3, params);
}

long long gw_upload_start(ecm_http_req *req, const gw_app *app, ecm_pg *pg, const char *kind,
                          long long campaign_id, const char *content_type, long long *bytes_total)
{
    const char *ref = ecm_http_req_header(req, "ECM-Upload-Ref");
    if (ref && (!*ref || strlen(ref) > 64 ||
                strspn(ref, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                    strlen(ref))) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid upload reference",
                                 "ECM-Upload-Ref: 1 to 64 letters, digits, '.', '_' or '-'");
        return 0;
    }
    long long total = gw_upload_content_length(req);
    *bytes_total = total;
    char cid[24], total_text[24];
    gw_ll_text(cid, campaign_id);
    gw_ll_text(total_text, total);
    const char *params[] = {kind,
                            campaign_id > 0 ? cid : NULL,
                            content_type,
                            total >= 0 ? total_text : NULL,
                            gw_upload_lease_owner(app->upload_lease),
                            gw_upload_lease_interval(app->upload_lease),
                            ref};
    /* The upload's row and its audit row commit together. */
    PGresult *r = ecm_pg_begin(pg) == 0
                      ? ecm_pg_exec(pg,
                                    "INSERT INTO uploads (kind, campaign_id, content_type, "
                                    "bytes_total, owner, lease_until, client_ref) VALUES ($1, $2, "
                                    "$3, $4, $5, now() + $6::interval, $7) RETURNING id",
                                    7, params)
                      : NULL;
    long long id = r ? ecm_pgval_ll(r, 0, 0, 0) : 0;
    PQclear(r);
    json_t *summary =
        json_pack("{ss so ss so}", "kind", kind, "campaign_id",
                  campaign_id > 0 ? json_integer(campaign_id) : json_null(), "content_type",
                  content_type, "bytes_total", total >= 0 ? json_integer(total) : json_null());
    int audited =
        id > 0 && summary ? gw_audit_add_id(pg, req, "upload.create", "upload", id, summary) : -1;
    json_decref(summary);
    if (id <= 0 || audited != 0 || ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "create the upload");
        return 0;
    }
    if (gw_upload_lease_hold(app->upload_lease, id) != 0) {
        /* Unheld, the lease would run out under a slow client: refuse. */
        if (gw_upload_mark(pg, app, id, "failed") != 0) {
            ecm_pg_check_broken(pg); /* best effort: the sweep marks it later */
        }
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return 0;
    }
    return id;
}

/* The campaign checks, admission and reader of a contact upload (or
 * resume) to campaign_id sent as kind, on pg (kept). Returns the upload
 * (admitted), or NULL after answering (404, 409, 429, 500, 503). */
gw_upload *gw_upload_open(const gw_app *app, ecm_http_req *req, ecm_pg *pg, long long campaign_id,
                          gw_body_kind kind)
{
    char cid[24];
    gw_ll_text(cid, campaign_id);
    const char *p1[] = {cid};
    PGresult *c = ecm_pg_exec(
        pg, "SELECT channel, state, region, sms_template FROM campaigns WHERE id = $1", 1, p1);
    if (!c) {
        char what[48];
        (void)snprintf(what, sizeof(what), "read campaign %lld", campaign_id);
        gw_respond_db_down(req, pg, what);
        return NULL;
    }
    if (PQntuples(c) == 0) {
        PQclear(c);
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "campaign %lld does not exist", campaign_id);
        return NULL;
    }
    const char *state = PQgetvalue(c, 0, 1);
    if (strcmp(state, "draft") != 0 && strcmp(state, "active") != 0 &&
        strcmp(state, "paused") != 0) {
        ecm_http_respond_problem(req, 409, "conflict", "Campaign does not take uploads",
                                 "campaign %lld is %s; uploads need a draft, active or paused "
                                 "campaign",
                                 campaign_id, state);
        PQclear(c);
        return NULL;
    }
    if (!gw_upload_limits_admit(app->upload_limits, req)) {
        PQclear(c);
        return NULL;
    }
    gw_upload *u = upload_new(app, kind == GW_BODY_JSON);
    if (u) {
        u->admitted = 1;
    } else {
        gw_upload_limits_leave(app->upload_limits);
    }
    int oom = !u, bad_region = 0;
    if (u) {
        u->campaign_id = campaign_id;
        u->channel = ecm_event_channel_from_name(PQgetvalue(c, 0, 0));
        bad_region = gw_format(u->region, sizeof(u->region), "%s", PQgetvalue(c, 0, 2)) != 0;
        if (!PQgetisnull(c, 0, 3) && !(u->sms_template = strdup(PQgetvalue(c, 0, 3)))) {
            oom = 1;
        }
        u->rules.region = u->region;
        u->rules.sms = u->channel == ECM__V1__CHANNEL__CHANNEL_SMS;
    }
    PQclear(c);
    if (!oom && u->json && u->sms_template && u->rules.sms) {
        char err[200];
        if (ecm_sms_template_foreach(u->sms_template, collect_placeholder, u, err, sizeof(err)) !=
            0) {
            /* The campaign API validated the template; only memory fails. */
            oom = 1;
        }
        u->rules.required = (const char *const *)u->required;
        u->rules.nrequired = u->nrequired;
    }
    if (oom || bad_region) {
        gw_upload_destroy(u);
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "%s",
                                 oom ? "out of memory" : "the campaign's region is no region code");
        return NULL;
    }
    return u;
}

void gw_upload_mark_failed(gw_upload *u)
{
    if (u->finished || u->upload_id <= 0) {
        return;
    }
    (void)loader_wait(u); /* a batch in flight may yet commit: count it */
    if (u->fenced) {
        u->finished = 1;
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get_within(u->app->pool, 0);
    if (!u->fail_status) {
        /* Nothing wrong with the file: the client went away (or was cut
         * off, or this gateway is stopping). What committed stays, and the
         * upload can be resumed from there, as after a crash. */
        int marked =
            gw_upload_lease_interrupt(u->app->upload_lease, pg, u->upload_id, u->app->topic_uploads,
                                      u->app->source, "the request ended before the file did");
        if (marked < 0) {
            ecm_pg_check_broken(pg); /* the sweep marks it once its lease is past */
        }
        ecm_pg_pool_put(u->app->pool, pg);
        u->finished = 1;
        return;
    }
    if (u->refused) {
        if (gw_upload_mark(pg, u->app, u->upload_id, "interrupted") != 0) {
            ecm_pg_check_broken(pg);
        }
        ecm_pg_pool_put(u->app->pool, pg);
        u->finished = 1;
        ecm_log_warn("upload resume refused", "upload_id=%lld reason=%s", u->upload_id,
                     u->fail_detail);
        return;
    }
    int rc = 0;
    if (u->fail_line > 0) {
        rc = gw_upload_report_reject(pg, u->upload_id, u->fail_line, u->fail_reason);
        if (rc == 0) {
            u->rows_rejected++;
        }
    }
    if (rc != 0 ||
        gw_upload_load_save(pg, u, u->rows_read, u->bytes_read, NULL, "failed", NULL) < 0) {
        ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(u->app->pool, pg);
    u->finished = 1;
    ecm_log_warn("upload failed", "upload_id=%lld loaded=%lld reason=%s", u->upload_id,
                 u->rows_loaded, u->fail_status ? u->fail_detail : "request ended early");
}

long long gw_upload_reader_error_line(const gw_upload *u)
{
    return u->json ? gw_jsonarr_error_item(u->jarr) : gw_csv_error_line(u->csv);
}

#include "dbx_drop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbx_claim.h"
#include "dbx_move.h"
#include "dbx_name.h"
#include "dbx_settle.h"
#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_utf8.h"

/* What became of one file's turn. */
typedef enum {
    FILE_DONE,      /* archived, failed, or someone else's */
    FILE_TRANSIENT, /* the gateway or database did not answer: later */
} file_result;

struct dbx_drop {
    dbx_drop_config cfg;
    ecm_pg *pg;
    dbx_api *api;
    dbx_settle *settle;
    dev_t archive_dev, failed_dev;
    ino_t archive_ino, failed_ino;
    ecm_metric *m_seen, *m_unsettled, *m_uploaded, *m_failed, *m_bytes, *m_resumed;
};

/* A file of one scan found complete. */
typedef struct {
    char rel[1024];
    long long size, mtime_ns;
} candidate;

/* The claim in hand while its file streams: the lease is renewed from the
 * transfer's progress callback. */
typedef struct {
    dbx_drop *d;
    long long claim_id;
    int64_t renewed_ms;
    int lost;
} streaming;

dbx_drop *dbx_drop_new(const dbx_drop_config *cfg, ecm_pg *pg, dbx_api *api)
{
    dbx_drop *d = calloc(1, sizeof(*d));
    if (!d) {
        return NULL;
    }
    d->cfg = *cfg;
    d->pg = pg;
    d->api = api;
    d->settle = dbx_settle_new(cfg->settle_ms);
    if (!d->settle) {
        free(d);
        return NULL;
    }
    ecm_metrics *m = cfg->metrics;
    d->m_seen = ecm_metrics_counter(m, "ecm_drop_files_seen_total",
                                    "files found in the drop folder (each version of a file once)");
    d->m_unsettled = ecm_metrics_counter(
        m, "ecm_drop_files_unsettled_total",
        "scans that saw a file not complete yet (changed within ECM_DROP_SETTLE_S)");
    d->m_uploaded = ecm_metrics_counter(m, "ecm_drop_files_uploaded_total",
                                        "files uploaded and moved to the archive folder");
    d->m_failed =
        ecm_metrics_counter(m, "ecm_drop_files_failed_total", "files moved to the failed folder");
    d->m_bytes = ecm_metrics_counter(m, "ecm_drop_bytes_total", "file bytes sent to the gateway");
    d->m_resumed = ecm_metrics_counter(m, "ecm_drop_uploads_resumed_total",
                                       "uploads resumed after a crash (ours or the gateway's)");
    return d;
}

void dbx_drop_destroy(dbx_drop *d)
{
    if (!d) {
        return;
    }
    dbx_settle_destroy(d->settle);
    free(d);
}

/* ---- moving a finished file ---- */

/* The absolute path of rel. Returns 0 or -1 (too long). */
static int abs_path(const dbx_drop *d, const char *rel, char *out, size_t out_size)
{
    return snprintf(out, out_size, "%s/%s", d->cfg.dir, rel) < (int)out_size ? 0 : -1;
}

/* Moves the file of done claim c to the archive or the failed folder (with
 * its reason file) and records the move. Logged; can't fail otherwise (a
 * move left undone is tried again at the next scan). */
static void move_done(dbx_drop *d, const char *rel, const dbx_claim *c)
{
    char src[4096], to[4096], why[512], name[1200];
    const char *base = dbx_name_base(rel);
    if (abs_path(d, rel, src, sizeof(src)) != 0) {
        return;
    }
    int rc;
    if (c->failed) {
        rc = dbx_move_file(src, d->cfg.failed_dir, base, c->id, to, sizeof(to), why, sizeof(why));
    } else {
        (void)snprintf(name, sizeof(name), "%lld_%s", c->upload_id, base); /* trunc-ok: NAME_MAX */
        rc = dbx_move_file(src, d->cfg.archive_dir, name, c->id, to, sizeof(to), why, sizeof(why));
    }
    if (rc < 0) {
        ecm_log_error("drop file not moved", "file=%s drop_id=%lld: %s", rel, c->id, why);
        return;
    }
    if (rc == 0 && c->failed) {
        char text[2048], report[256] = "";
        if (c->upload_id > 0) {
            (void)snprintf(report, sizeof(report), "\nupload: %lld\nreport: %s/api/v1/uploads/%lld",
                           c->upload_id, d->cfg.api_url, c->upload_id); /* trunc-ok: a message */
        }
        (void)snprintf(text, sizeof(text), "file: %s\nreason: %s%s", rel, c->reason,
                       report); /* trunc-ok: a message */
        if (dbx_move_write_reason(to, text, why, sizeof(why)) != 0) {
            ecm_log_error("reason file not written", "file=%s: %s", to, why);
        }
    }
    if (dbx_claim_moved(d->pg, c->id, rc == 0 ? to : NULL) != 0) {
        ecm_log_warn("drop file move not recorded", "drop_id=%lld (done again harmlessly)", c->id);
    }
    if (rc == 0) {
        ecm_log_info(c->failed ? "drop file failed" : "drop file archived",
                     "file=%s drop_id=%lld upload_id=%lld moved_to=%s%s%s", rel, c->id,
                     c->upload_id, to, c->failed ? " reason=" : "", c->failed ? c->reason : "");
        ecm_metric_add(c->failed ? d->m_failed : d->m_uploaded, 1);
    }
}

/* Ends claim c (ours) archived or failed, then moves its file. */
static void finish(dbx_drop *d, const char *rel, dbx_claim *c, int failed, long long upload_id,
                   const char *reason)
{
    int rc = dbx_claim_finish(d->pg, c->id, d->cfg.owner, failed, upload_id, reason);
    if (rc <= 0) {
        ecm_log_warn("drop file not finished", "file=%s drop_id=%lld: %s", rel, c->id,
                     rc == 0 ? "another replica took it over" : "database error");
        return;
    }
    c->failed = failed;
    c->upload_id = upload_id > 0 ? upload_id : c->upload_id;
    (void)ecm_utf8_copy(c->reason, sizeof(c->reason), reason ? reason : "",
                        reason ? strlen(reason) : 0);
    move_done(d, rel, c);
}

/* Gives claim c up so that it is tried again (by anyone). */
static void release(dbx_drop *d, const dbx_claim *c)
{
    if (dbx_claim_release(d->pg, c->id, d->cfg.owner) < 0) {
        ecm_log_warn("drop claim not released", "drop_id=%lld: its lease runs out instead", c->id);
    }
}

/* ---- the gateway's answers ---- */

/* The integer member key of the answer's body (0 when absent). */
static long long body_ll(const dbx_api_answer *a, const char *key)
{
    return (long long)json_integer_value(json_object_get(a->body, key));
}

/* A problem answer in plain words: "<title>: <detail>" or the status. */
static void problem_text(const dbx_api_answer *a, char *out, size_t out_size)
{
    const char *title = json_string_value(json_object_get(a->body, "title"));
    const char *detail = json_string_value(json_object_get(a->body, "detail"));
    if (title && detail) {
        (void)snprintf(out, out_size, "%s: %s", title, detail); /* trunc-ok: a message */
    } else {
        (void)snprintf(out, out_size, "the gateway answered HTTP %ld", a->status);
    }
}

/* The upload the gateway made for claim id (ECM-Upload-Ref drop-<id>), or
 * for upload_id when known: *found 1 with its id, state (state_size) and
 * rows loaded, or 0. Returns 0, or -1 when the gateway did not answer. */
static int find_upload(dbx_drop *d, long long claim_id, long long upload_id, int *found,
                       long long *id, char *state, size_t state_size, long long *loaded)
{
    char path[128];
    if (upload_id > 0) {
        (void)snprintf(path, sizeof(path), "/api/v1/uploads/%lld", upload_id);
    } else {
        (void)snprintf(path, sizeof(path), "/api/v1/uploads?client_ref=drop-%lld&limit=1",
                       claim_id);
    }
    dbx_api_answer a;
    *found = 0;
    if (dbx_api_get(d->api, path, &a) != 0 || a.status != 200 || !a.body) {
        ecm_log_warn("upload lookup failed", "GET %s: %s (HTTP %ld)", path,
                     a.error[0] ? a.error : "no JSON answer", a.status);
        dbx_api_answer_clear(&a);
        return -1;
    }
    json_t *items = json_object_get(a.body, "items");
    const json_t *u = items ? json_array_get(items, 0) : a.body;
    const char *st = u ? json_string_value(json_object_get(u, "state")) : NULL;
    if (st) {
        json_t *v = json_object_get(u, "id");
        if (!v) {
            v = json_object_get(u, "upload_id");
        }
        *id = (long long)json_integer_value(v);
        *found = *id > 0;
        *loaded = (long long)json_integer_value(json_object_get(u, "rows_loaded"));
        (void)snprintf(state, state_size, "%s", st); /* trunc-ok: a state word */
    }
    dbx_api_answer_clear(&a);
    return 0;
}

/* ---- streaming ---- */

static int on_progress(void *ctx, long long sent)
{
    (void)sent;
    streaming *s = ctx;
    dbx_drop *d = s->d;
    if (*d->cfg.stop) {
        return 1; /* cut: the gateway marks the upload interrupted */
    }
    int64_t now = ecm_clock_mono_ms();
    if (now - s->renewed_ms >= (int64_t)d->cfg.lease_s * 1000 / 3) {
        int rc = dbx_claim_renew(d->pg, s->claim_id, d->cfg.owner, d->cfg.lease_s);
        if (rc == 0) {
            s->lost = 1;
            return 1; /* another replica has it now: stop writing */
        }
        if (rc > 0) {
            s->renewed_ms = now;
        }
    }
    return 0;
}

/* The Content-Type of a file by its name. */
static const char *content_type(const char *rel)
{
    size_t n = strlen(rel);
    return n > 5 && strcasecmp(rel + n - 5, ".json") == 0 ? "application/json"
                                                          : "text/csv; charset=utf-8";
}

/* Streams the file fd (size bytes) as a new upload of campaign_id, or as the
 * resume of upload resume_id (> 0), then ends claim c by the answer.
 * Returns a file_result. */
static file_result stream(dbx_drop *d, const char *rel, dbx_claim *c, int fd, long long size,
                          long long campaign_id, long long resume_id)
{
    char path[128], ref[40];
    if (resume_id > 0) {
        (void)snprintf(path, sizeof(path), "/api/v1/uploads/%lld/resume", resume_id);
    } else {
        (void)snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", campaign_id);
    }
    (void)snprintf(ref, sizeof(ref), "drop-%lld", c->id);
    streaming s = {.d = d, .claim_id = c->id, .renewed_ms = ecm_clock_mono_ms()};
    ecm_log_info(resume_id > 0 ? "drop file resuming" : "drop file uploading",
                 "file=%s drop_id=%lld campaign_id=%lld bytes=%lld upload_id=%lld", rel, c->id,
                 campaign_id, size, resume_id);
    dbx_api_answer a;
    long long sent = 0;
    int rc = dbx_api_post_file(d->api, path, fd, size, content_type(rel),
                               resume_id > 0 ? NULL : ref, on_progress, &s, &sent, &a);
    ecm_metric_add(d->m_bytes, (uint64_t)(sent > 0 ? sent : 0));
    file_result res = FILE_DONE;
    char why[700];
    if (rc != 0) {
        ecm_log_warn(*d->cfg.stop ? "drop file cut by the stop" : "drop file upload cut",
                     "file=%s drop_id=%lld sent=%lld of %lld: %s%s", rel, c->id, sent, size,
                     s.lost ? "another replica took the file over" : a.error,
                     *d->cfg.stop || s.lost ? "" : " (resumed at a later scan)");
        if (!s.lost) {
            release(d, c);
        }
        res = FILE_TRANSIENT;
    } else if (a.status == 202) {
        long long up = body_ll(&a, "upload_id");
        ecm_log_info("drop file loaded",
                     "file=%s drop_id=%lld upload_id=%lld rows_read=%lld loaded=%lld "
                     "rejected=%lld duplicate=%lld dnc=%lld",
                     rel, c->id, up, body_ll(&a, "rows_read"), body_ll(&a, "rows_loaded"),
                     body_ll(&a, "rows_rejected"), body_ll(&a, "rows_duplicate"),
                     body_ll(&a, "rows_dnc"));
        finish(d, rel, c, 0, up > 0 ? up : resume_id, NULL);
    } else if (a.status == 400 || a.status == 404 || a.status == 409 || a.status == 413 ||
               a.status == 415 || a.status == 422) {
        problem_text(&a, why, sizeof(why));
        long long up = resume_id, loaded = 0;
        char state[32] = "";
        int found = 0;
        if (up <= 0 && find_upload(d, c->id, 0, &found, &up, state, sizeof(state), &loaded) == 0 &&
            !found) {
            up = 0;
        }
        if (resume_id > 0 && a.status == 409 &&
            find_upload(d, c->id, resume_id, &found, &up, state, sizeof(state), &loaded) == 0 &&
            strcmp(state, "running") == 0) {
            /* Another client resumed it first: it is not ours to end. */
            release(d, c);
            res = FILE_TRANSIENT;
        } else {
            finish(d, rel, c, 1, up, why);
        }
    } else {
        problem_text(&a, why, sizeof(why));
        ecm_log_warn("drop file not taken now", "file=%s drop_id=%lld HTTP %ld: %s%s", rel, c->id,
                     a.status, why,
                     a.status == 401 || a.status == 403
                         ? " (check ECM_DROP_API_KEY: a supervisor's key)"
                         : " (tried again at a later scan)");
        release(d, c);
        res = FILE_TRANSIENT;
    }
    dbx_api_answer_clear(&a);
    return res;
}

/* Our claim c of the file rel (identity size, mtime_ns): checks, then
 * uploads it, or goes on with the upload a former claimant left. */
static file_result handle_claimed(dbx_drop *d, const char *rel, dbx_claim *c, int taken,
                                  long long size, long long mtime_ns)
{
    char why[512], src[4096];
    long long campaign_id = 0;
    if (dbx_name_campaign(rel, &campaign_id, why, sizeof(why)) != 0) {
        finish(d, rel, c, 1, 0, why);
        return FILE_DONE;
    }
    if (size > d->cfg.max_bytes) {
        (void)snprintf(why, sizeof(why),
                       "the file has %lld bytes; the gateway takes at most %lld in one upload "
                       "(ECM_GATEWAY_UPLOAD_MAX_BYTES): split it",
                       size, d->cfg.max_bytes);
        finish(d, rel, c, 1, 0, why);
        return FILE_DONE;
    }
    struct stat st;
    int fd = abs_path(d, rel, src, sizeof(src)) == 0 ? open(src, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0 || fstat(fd, &st) != 0 || (long long)st.st_size != size ||
        (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec != mtime_ns) {
        /* Changed or gone since the scan: this version of it is never
         * read; a changed one is a new identity at the next scan. */
        if (fd >= 0) {
            close(fd);
        }
        if (dbx_claim_finish(d->pg, c->id, d->cfg.owner, 1, 0,
                             "the file changed or went away before it was read") > 0 &&
            dbx_claim_moved(d->pg, c->id, NULL) != 0) {
            ecm_log_warn("drop file move not recorded", "drop_id=%lld", c->id);
        }
        return FILE_DONE;
    }
    long long resume_id = 0;
    if (taken || c->upload_id > 0) {
        int found = 0;
        long long up = 0, loaded = 0;
        char state[32] = "";
        if (find_upload(d, c->id, c->upload_id, &found, &up, state, sizeof(state), &loaded) != 0) {
            close(fd);
            release(d, c);
            return FILE_TRANSIENT;
        }
        if (found && dbx_claim_set_upload(d->pg, c->id, d->cfg.owner, up) < 0) {
            ecm_log_warn("drop upload id not recorded", "drop_id=%lld upload_id=%lld", c->id, up);
        }
        if (found && strcmp(state, "done") == 0) {
            close(fd);
            finish(d, rel, c, 0, up, NULL);
            return FILE_DONE;
        }
        if (found && strcmp(state, "failed") == 0) {
            close(fd);
            /* The gateway ends an upload 'failed' on a row that stops the
             * file or a database fault; what it loaded stays. Not retried:
             * a new upload of the file would load those rows twice. */
            (void)snprintf(why, sizeof(why),
                           "upload %lld failed after loading %lld rows (they stay loaded; its "
                           "report says why)",
                           up, loaded);
            finish(d, rel, c, 1, up, why);
            return FILE_DONE;
        }
        if (found && strcmp(state, "interrupted") != 0) {
            /* Still 'running' at the gateway: it has not yet seen its
             * client gone (or its own lease run out). Later. */
            ecm_log_info("drop upload still running", "file=%s drop_id=%lld upload_id=%lld", rel,
                         c->id, up);
            close(fd);
            release(d, c);
            return FILE_TRANSIENT;
        }
        if (found) {
            resume_id = up;
            ecm_metric_add(d->m_resumed, 1);
        }
    }
    file_result r = stream(d, rel, c, fd, size, campaign_id, resume_id);
    close(fd);
    return r;
}

/* One complete file's turn. */
static file_result handle(dbx_drop *d, const candidate *f)
{
    long long campaign_id = 0;
    char why[256];
    if (dbx_name_campaign(f->rel, &campaign_id, why, sizeof(why)) != 0) {
        campaign_id = 0;
    }
    const dbx_file_id id = {.rel_path = f->rel, .size = f->size, .mtime_ns = f->mtime_ns};
    dbx_claim c;
    int kind = dbx_claim_take(d->pg, &id, campaign_id, d->cfg.owner, d->cfg.lease_s, &c);
    switch (kind) {
    case DBX_CLAIM_NEW:
    case DBX_CLAIM_TAKEN:
        return handle_claimed(d, f->rel, &c, kind == DBX_CLAIM_TAKEN, f->size, f->mtime_ns);
    case DBX_CLAIM_DONE:
        if (!c.moved) {
            move_done(d, f->rel, &c); /* a crash between "done" and the move */
        } else {
            /* The same name, size and time again after it was moved: a
             * copy of a file already loaded. Not loaded twice. */
            char reason[512];
            (void)snprintf(reason, sizeof(reason),
                           "this file (same name, size and modification time) was handled "
                           "already as drop file %lld%s",
                           c.id, c.failed ? ", which failed" : "");
            ecm_log_warn("drop file seen again", "file=%s drop_id=%lld: not loaded twice", f->rel,
                         c.id);
            char src[4096], to[4096], mwhy[512];
            if (abs_path(d, f->rel, src, sizeof(src)) == 0 &&
                dbx_move_file(src, d->cfg.failed_dir, dbx_name_base(f->rel), c.id, to, sizeof(to),
                              mwhy, sizeof(mwhy)) == 0 &&
                dbx_move_write_reason(to, reason, mwhy, sizeof(mwhy)) == 0) {
                ecm_metric_add(d->m_failed, 1);
            }
        }
        return FILE_DONE;
    case DBX_CLAIM_BUSY:
        return FILE_DONE;
    default:
        return FILE_TRANSIENT;
    }
}

/* ---- scanning ---- */

typedef struct {
    candidate *v;
    size_t n, cap;
    int oom;
} candidates;

/* 1 when st is the archive or the failed folder (skipped by the scan). */
static int is_out_dir(const dbx_drop *d, const struct stat *st)
{
    return (st->st_dev == d->archive_dev && st->st_ino == d->archive_ino) ||
           (st->st_dev == d->failed_dev && st->st_ino == d->failed_ino);
}

/* The file rel (st) was seen at now_ms: tracked, and kept in out when it
 * is complete. */
static void see_file(dbx_drop *d, const char *rel, const struct stat *st, int64_t now_ms,
                     candidates *out)
{
    long long mtime_ns = (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    int first = 0;
    int state = dbx_settle_see(d->settle, rel, (long long)st->st_size, mtime_ns, now_ms, &first);
    if (first) {
        ecm_metric_add(d->m_seen, 1);
    }
    if (state == DBX_SETTLE_NEW || state == DBX_SETTLE_UNSETTLED) {
        ecm_metric_add(d->m_unsettled, 1);
        ecm_log_debug("drop file not complete yet", "file=%s bytes=%lld", rel,
                      (long long)st->st_size);
        return;
    }
    if (state != DBX_SETTLE_SETTLED) {
        return;
    }
    if (out->n == out->cap) {
        size_t cap = out->cap ? 2 * out->cap : 16;
        candidate *v = realloc(out->v, cap * sizeof(*v));
        if (!v) {
            out->oom = 1;
            return;
        }
        out->v = v;
        out->cap = cap;
    }
    candidate *c = &out->v[out->n];
    if (snprintf(c->rel, sizeof(c->rel), "%s", rel) >= (int)sizeof(c->rel)) {
        return;
    }
    c->size = (long long)st->st_size;
    c->mtime_ns = mtime_ns;
    out->n++;
}

/* Lists the complete files of folder rel_dir ("" for the top) into out;
 * sub-folders of the top are listed one level down. Returns 0 or -1. */
static int list_dir(dbx_drop *d, const char *rel_dir, int64_t now_ms, candidates *out)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s%s%s", d->cfg.dir, rel_dir[0] ? "/" : "", rel_dir) >=
        (int)sizeof(path)) {
        return -1;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        char text[128];
        if (strerror_r(errno, text, sizeof(text)) != 0) {
            (void)snprintf(text, sizeof(text), "error %d", errno);
        }
        ecm_log_error("drop folder unreadable", "%s: %s", path, text);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (dbx_name_is_temp(e->d_name)) {
            continue; /* ".", "..", dot files and writers' temporary names */
        }
        struct stat st;
        if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            continue; /* gone since readdir */
        }
        char rel[1024];
        if (snprintf(rel, sizeof(rel), "%s%s%s", rel_dir, rel_dir[0] ? "/" : "", e->d_name) >=
            (int)sizeof(rel)) {
            continue;
        }
        if (S_ISDIR(st.st_mode) && rel_dir[0] == '\0' && !is_out_dir(d, &st)) {
            (void)list_dir(d, rel, now_ms, out);
        } else if (S_ISREG(st.st_mode)) {
            see_file(d, rel, &st, now_ms, out);
        }
    }
    closedir(dir);
    return 0;
}

/* Notes the archive and failed folders' identities (created when
 * missing), so the scan skips them wherever they are. */
static void note_out_dirs(dbx_drop *d)
{
    struct stat st;
    char why[512];
    if (dbx_move_mkdirs(d->cfg.archive_dir, why, sizeof(why)) == 0 &&
        stat(d->cfg.archive_dir, &st) == 0) {
        d->archive_dev = st.st_dev;
        d->archive_ino = st.st_ino;
    }
    if (dbx_move_mkdirs(d->cfg.failed_dir, why, sizeof(why)) == 0 &&
        stat(d->cfg.failed_dir, &st) == 0) {
        d->failed_dev = st.st_dev;
        d->failed_ino = st.st_ino;
    }
}

int dbx_drop_scan(dbx_drop *d, int64_t now_ms)
{
    note_out_dirs(d);
    candidates found = {0};
    dbx_settle_begin_scan(d->settle);
    int rc = list_dir(d, "", now_ms, &found);
    dbx_settle_end_scan(d->settle);
    if (found.oom) {
        ecm_log_error("out of memory", "drop folder scan");
    }
    int transient = 0;
    for (size_t i = 0; rc == 0 && i < found.n && !*d->cfg.stop; i++) {
        if (handle(d, &found.v[i]) == FILE_TRANSIENT) {
            transient = 1;
        }
    }
    free(found.v);
    return rc < 0 ? -1 : transient;
}

/* The state of one streamed contact upload, shared by the files that make
 * it up (gw_upload*.c, see gw_upload.h) and by nothing else: the upload
 * itself (gw_upload.c) owns it; the validating threads (gw_upload_pool.c),
 * the loader thread (gw_upload_load.c), the resume (gw_upload_resume.c)
 * and the HTTP handlers (gw_upload_http.c) work on it as each function's
 * contract says. */
#ifndef GW_UPLOAD_STATE_H
#define GW_UPLOAD_STATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_bloom.h"
#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"
#include "ecm_buf.h"
#include "gw_csv.h"
#include "gw_jsonarr.h"
#include "gw_upload_http.h"
#include "gw_upload_row.h"

/* Validation threads per upload: libphonenumber costs tens of microseconds
 * a number, far more than the COPY of the row. */
#define GW_UPLOAD_THREADS_MAX 16

/* A batch is loaded when it holds upload_batch rows or this many bytes of
 * raw rows, whichever comes first, so memory stays bounded even for rows
 * near the record limit. */
#define GW_BATCH_MAX_BYTES (8u << 20)

/* The hard maximum of a batch's raw rows (ecm_buf): GW_BATCH_MAX_BYTES, or
 * twice that while a resume's checksum is awaited, plus the record that
 * crossed it, each of its fields with a length and a NUL (at most ten bytes
 * a byte of the record). */
static inline size_t gw_upload_raw_max(const gw_app *app)
{
    return 2 * (size_t)GW_BATCH_MAX_BYTES + 10 * app->upload_max_record + 64;
}

/* The hard maximum of what one validating thread writes for a batch
 * (fragments, numbers, reasons): a batch of 20,000 rows of 1 KiB
 * fragments is 20 MiB; past this a batch fails as when memory runs out. */
#define GW_UPLOAD_OUT_MAX ((size_t)1 << 30)

/* A row as it arrived: CSV fields (each a size_t length, the bytes and a
 * NUL) or a JSON item's text, at off in the raw arena. */
typedef struct {
    long long line;
    size_t off, len;
    size_t nfields; /* CSV only */
} gw_upload_raw_row;

/* What validation made of row i: its fragment (gw_upload_row) in worker w's
 * output of the batch, or a rejection with the reason at reason_off there. */
typedef struct {
    int rejected;
    int w;
    gw_upload_row row;
    size_t reason_off;
} gw_upload_result;

/* A batch of raw rows and what validation made of them. */
typedef struct {
    ecm_buf raw;
    gw_upload_raw_row *rows;
    gw_upload_result *res;
    size_t nrows, cap;
    ecm_buf out[GW_UPLOAD_THREADS_MAX]; /* per worker: fragments, numbers, reasons */
    /* The upload's totals once this batch is in, written with it, and its
     * checkpoint: the last line it holds and the SHA-256 (hex) of the
     * body's first bytes_read bytes. */
    long long rows_read, bytes_read;
    long long last_line;
    char sha[EVP_MAX_MD_SIZE * 2 + 1];
    int64_t validate_ms;
    int threads; /* that validated it */
} gw_upload_batch;

typedef struct gw_upload gw_upload;

/* Batches loaded at once, each on its own connection: one commits while
 * the next writes its contacts, so the database works on two cores. */
#define GW_UPLOAD_LOADERS 2

/* A loader thread and the batch it loads. */
typedef struct {
    gw_upload *u;
    gw_upload_batch *b;
    long long seq; /* the batch's place in the file: commits go in this order */
    int running;   /* thread started, not yet joined */
    int extra;     /* took an extra connection (gw_upload_limits_loader_take) */
    int in_turn;   /* the loader holds the turn (its batch's order to commit) */
    pthread_t thread;
} gw_upload_loader;

typedef struct {
    gw_upload *u;
    gw_upload_batch *b;
    size_t first, count;
    gw_upload_scratch *scratch;
    const char **fields;
    size_t *lens;
    size_t fcap;
    int failed; /* out of memory */
    pthread_t thread;
} gw_upload_worker;

struct gw_upload {
    const gw_app *app;
    long long campaign_id;
    long long upload_id;
    Ecm__V1__Channel channel;
    char region[16];
    /* The campaign's message template (sms campaigns, and voice campaigns
     * whose strategy may switch to SMS): its placeholders must be columns
     * of a CSV file. Only an sms campaign's rows must fill them (a voice
     * campaign's row without one is still called). */
    char *sms_template;
    char **required; /* JSON uploads of an sms campaign: the placeholders */
    size_t nrequired;
    gw_upload_rules rules;
    int json;
    gw_csv *csv;
    gw_jsonarr *jarr;
    gw_upload_header *header;

    /* Up to GW_UPLOAD_LOADERS batches load at once, each on a loader
     * thread and connection of its own, while the request's thread reads
     * and validates the next into the batch left over: so memory holds
     * GW_UPLOAD_LOADERS + 1 batches whatever the file size. Batches commit
     * in file order (gw_upload_load.c: a loader waits for its turn before
     * the part that must see the batches before it). */
    gw_upload_batch batches[GW_UPLOAD_LOADERS + 1];
    gw_upload_batch *cur; /* the one being read */
    gw_upload_worker workers[GW_UPLOAD_THREADS_MAX];
    int nworkers;
    /* The threads the next batch is validated with, 1 to nworkers: fewer
     * while validation stays well ahead of the loader (gw_upload_pool_pace),
     * so that the database, on the same cores, is not slowed by threads
     * whose work would only wait. */
    int nvalidate;
    gw_upload_loader loaders[GW_UPLOAD_LOADERS];
    long long next_seq; /* the sequence number of the next batch handed on */
    /* After a batch had to be loaded again (a number loaded meanwhile by
     * the batch before it or by another upload), the rest of the upload
     * loads one batch at a time, as a file with duplicates close together
     * would otherwise load many batches twice. */
    int one_loader;
    /* The order of commits: the batch whose turn it is (by seq), and
     * load_rc, set by a batch that failed before passing the turn on.
     * Under load_mu; load_cv is signalled when the turn moves. */
    pthread_mutex_t load_mu;
    pthread_cond_t load_cv;
    int load_sync; /* load_mu and load_cv were initialised */
    long long turn;
    int load_rc; /* 0, or -1 once a batch could not be loaded */
    /* Guards seen: loaders read it while the one in turn adds to it. */
    pthread_mutex_t seen_mu;

    /* The loader's filter of the numbers the campaign may already have
     * (filled from contact_phones before the first batch, then with every
     * number loaded): only the numbers it says "maybe" are looked up. A
     * number another upload loads meanwhile is not in it; the unique index
     * of contact_phones refuses that batch and it is loaded again with
     * every number looked up. NULL until the first batch. */
    ecm_bloom *seen;
    int seen_tried; /* under seen_mu: filled once (NULL when that failed) */
    long long seen_lookups, seen_skipped, seen_rechecks;

    /* rows_read and bytes_read belong to the request's thread; the other
     * counts and errors to the loader whose turn it is while loaders run (gw_upload_destroy,
     * gw_upload_flush and gw_upload_fail_line wait for it first). */
    long long rows_read, rows_loaded, rows_rejected, rows_duplicate, rows_dnc;
    long long bytes_read, bytes_total; /* bytes_total -1: unknown */
    json_t *errors;                    /* the first GW_UPLOAD_ERRORS_ANSWER rejected rows */

    /* A failure that ends the upload, answered by body() or end(); a line
     * of its own (a CSV that cannot be read on) goes into the report. */
    int fail_status;
    const char *fail_type;
    const char *fail_title;
    char fail_detail[320];
    long long fail_line;
    char fail_reason[256];
    int finished;
    int admitted; /* holds a gw_upload_limits slot, given back by gw_upload_destroy */
    int held;     /* its lease is renewed by the process (gw_upload_lease_hold) */

    /* The body's SHA-256 so far (hashed bytes: all of it, the chunk being
     * parsed included), for each batch's checkpoint: the bytes read when
     * the batch is handed on and the last line it holds. */
    EVP_MD_CTX *sha;
    long long hashed;
    /* A batch is full but waits for a resume's checksum to be verified. */
    int flush_due;
    /* A resume: lines (items) up to resume_line are skipped; the first
     * resume_bytes bytes must hash to resume_sha (verified once hashed).
     * refused: the file is not the one read; the upload goes back to
     * 'interrupted'. fenced: another gateway marked the upload
     * 'interrupted' (this one's lease ran out); nothing more is written. */
    int resumed;
    long long resume_line, resume_bytes;
    char resume_sha[EVP_MAX_MD_SIZE * 2 + 1];
    int resume_verified;
    int refused;
    int fenced;
};

/* ---- what gw_upload.c offers the other files ---- */

/* Records the failure that ends u, answered by the body or end handler;
 * only the first one counts. detail is copied. Can't fail. */
void gw_upload_fail(gw_upload *u, int status, const char *type, const char *title,
                    const char *detail);

/* A failure that belongs to a line of the file (a header that cannot be
 * used, a record the reader cannot get past): reported like a rejected row
 * (in the answer now, in the report by gw_upload_mark_failed). Waits for
 * the loader first. Can't fail. */
void gw_upload_fail_line(gw_upload *u, long long line, const char *reason);

/* The failure of an upload another gateway marked 'interrupted' (409).
 * Can't fail. */
void gw_upload_fail_fenced(gw_upload *u);

/* Validates the batch being read and hands it to the loader thread once
 * the previous one is in; with wait, also waits for it to be loaded.
 * Returns 0, or -1 with the failure recorded in u. */
int gw_upload_flush(gw_upload *u, int wait) __attribute__((warn_unused_result));

/* The campaign checks, admission and reader of a contact upload (or
 * resume) to campaign_id sent as kind, on pg (kept). Returns the upload
 * (admitted), or NULL after answering (404, 409, 429, 500, 503). */
gw_upload *gw_upload_open(const gw_app *app, ecm_http_req *req, ecm_pg *pg, long long campaign_id,
                          gw_body_kind kind) __attribute__((warn_unused_result));

/* Waits for the loader, gives back the admission slot and the lease, frees
 * u. NULL is a no-op. */
void gw_upload_destroy(gw_upload *u);

/* Ends upload_id owned by this process in state, best effort. Returns 0 or
 * -1. */
int gw_upload_mark(ecm_pg *pg, const gw_app *app, long long upload_id, const char *state)
    __attribute__((warn_unused_result));

/* Ends an upload that will not finish here. One that failed (a row that
 * stops it, the database) is marked 'failed': what was loaded stays and the
 * row says so, with the line that stopped it in the report. One with
 * nothing wrong (its client went away, was cut off, or the gateway is
 * stopping) is marked 'interrupted' with an UploadInterrupted event, so it
 * can be resumed after its last committed line. A resume refused for
 * another file goes back to 'interrupted' as it was; a fenced upload is no
 * longer this process's to write. Best effort (the database may be what
 * failed); done once. */
void gw_upload_mark_failed(gw_upload *u);

/* The line (CSV) or item (JSON) where the reader gave up. */
long long gw_upload_reader_error_line(const gw_upload *u);

/* The request's Content-Length: its value, or -1 when absent or not a
 * number. */
long long gw_upload_content_length(ecm_http_req *req);

#endif

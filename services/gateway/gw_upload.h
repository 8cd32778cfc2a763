/* Contact upload: POST /api/v1/campaigns/{id}/uploads (text/csv or a JSON
 * array, streamed) and GET /api/v1/uploads/{id} (counts, progress and the
 * row report, paged). The body goes chunk by chunk through gw_csv or
 * gw_jsonarr into a batch of raw rows, bounded in rows and bytes. A full
 * batch is validated and normalised (phone numbers through libphonenumber,
 * on a few threads: rows keep their order) and then loaded in one
 * transaction under a per-campaign advisory lock: numbers already in the
 * campaign (contact_phones) or earlier in the file make a row a duplicate,
 * numbers all on the DNC list load it closed 'DNC', the rest load queued
 * (the feeder or sms service takes them from there); contacts,
 * contact_phones, one ContactsUploaded event for the batch (plus a
 * ContactClosed per DNC row), the report rows (upload_rows) and the
 * upload's counts are written with COPY in that same transaction. Only the
 * numbers the upload's filter (lib/ecm_bloom) cannot rule out are looked up
 * in contact_phones; its unique index catches the rest. The load runs on a
 * thread of its own while the request's thread reads and validates the next
 * batch, one batch in flight: so memory holds two batches whatever the file
 * size, and a GET shows progress batch by batch.
 * The pure parts (header mapping, row validation) are exposed for tests. */
#ifndef GW_UPLOAD_H
#define GW_UPLOAD_H

#include <stddef.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"

#define GW_PHONE_COLUMNS 10
/* Outside text quoted in a report reason: at most this many characters
 * (not bytes: a character is never split), then "...". */
#define GW_UPLOAD_EXCERPT_CHARS 40
#define GW_UPLOAD_EXCERPT_SIZE (GW_UPLOAD_EXCERPT_CHARS * 4 + 4)
/* The longest reason a report row keeps, in bytes. */
#define GW_UPLOAD_REASON_MAX 1024

/* Report lines kept in the POST answer's "errors" (rejected rows only); the
 * whole report is in GET /api/v1/uploads/{id}. */
#define GW_UPLOAD_ERRORS_ANSWER 100

/* A growable byte buffer, always NUL-terminated after len. */
typedef struct {
    char *s;
    size_t len, cap;
} gw_buf;

/* Appends n bytes; returns 0 or -1 (out of memory; buf unchanged). */
int gw_buf_add(gw_buf *b, const char *data, size_t n);
/* Appends s[0..n) escaped for COPY text format (backslash, tab, LF, CR);
 * n == 0 with as_null writes \N. Returns 0 or -1. */
int gw_buf_add_copy(gw_buf *b, const char *s, size_t n, int as_null);
void gw_buf_free(gw_buf *b);

typedef struct gw_upload_header gw_upload_header;

/* Maps the header record's columns by name (trimmed, case-insensitive):
 * account_number, first_name, last_name, phone1..phone10, time_zone; any
 * other column is a custom field. Returns NULL with errstr when the header
 * is unusable (no phone column, a name twice, an empty name, bad UTF-8). */
gw_upload_header *gw_upload_header_parse(size_t nfields, const char *const *fields,
                                         const size_t *lens, char *errstr, size_t errstr_size);
void gw_upload_header_free(gw_upload_header *h);

/* For an sms campaign: every placeholder of the message template tmpl must
 * be a column of the file (account_number, first_name, last_name or a
 * custom column, custom names compared exactly); those columns are then
 * required in every row, so a row where one is empty is rejected rather
 * than let the message go out with a blank. Returns 0; 1 when a placeholder
 * is no column (errstr names it); -1 on a template syntax error or out of
 * memory (errstr says why). */
int gw_upload_header_use_template(gw_upload_header *h, const char *tmpl, char *errstr,
                                  size_t errstr_size);

/* Per-thread state of row validation: caches of time-zone checks and of the
 * zone of each number region (ICU lookups cost far more than a row). */
typedef struct gw_upload_scratch gw_upload_scratch;
gw_upload_scratch *gw_upload_scratch_new(void); /* NULL when out of memory */
void gw_upload_scratch_free(gw_upload_scratch *s);

/* How rows of one campaign are checked. */
typedef struct {
    const char *region; /* the campaign's, for numbers without '+' */
    int sms;            /* an sms campaign: a row needs a number that may be mobile */
    /* JSON items of an sms campaign: the template's placeholders, each
     * required non-empty in every item (CSV files use the header's marks). */
    const char *const *required;
    size_t nrequired;
} gw_upload_rules;

/* A validated row: its COPY fragment and its numbers, both in the caller's
 * buffer (offsets, since the buffer may move as it grows). The fragment is
 * the columns line_no, account_number, first_name, last_name, phones,
 * custom, time_zone, phone_types, phone_zones, tab-separated, without a
 * final line break; the numbers are nphones E.164 strings, each followed by
 * a NUL, first-seen order, a number repeated within the row kept once. */
typedef struct {
    size_t copy_off, copy_len;
    size_t phones_off;
    int nphones;
} gw_upload_row;

/* Validates one CSV record against the header and appends its fragment and
 * numbers to out. Returns 0 when appended, 1 when the row is rejected
 * (reason names the column and why, e.g. "phone2: '212 555 O1OO' contains
 * letters"; out unchanged), -1 on allocation failure (reason "out of
 * memory"). */
int gw_upload_row_csv(const gw_upload_header *h, const gw_upload_rules *rules, gw_upload_scratch *s,
                      long long line, size_t nfields, const char *const *fields, const size_t *lens,
                      gw_buf *out, gw_upload_row *row, char *reason, size_t reason_size);

/* The same for one JSON array item (raw text, len bytes): an object whose
 * keys are the CSV header names; values strings or numbers, null or ""
 * empty. Returns 0, 1 (reason says why, e.g. "not a JSON object") or -1. */
int gw_upload_row_json(const gw_upload_rules *rules, gw_upload_scratch *s, long long line,
                       const char *text, size_t len, gw_buf *out, gw_upload_row *row, char *reason,
                       size_t reason_size);

/* What a Content-Type asks for. */
typedef enum { GW_BODY_UNSUPPORTED, GW_BODY_CSV, GW_BODY_JSON } gw_body_kind;
/* text/csv or application/csv (charset utf-8/us-ascii or none) is CSV;
 * application/json is JSON; anything else (NULL too) unsupported. */
gw_body_kind gw_upload_body_kind(const char *content_type);

/* Writes report rows (COPY text lines "upload_id\tline\tkind\treason\n"
 * in rows) into upload_rows on pg, inside the caller's transaction. Returns
 * 0 or -1. Empty rows is a no-op. */
int gw_upload_report_copy(ecm_pg *pg, const gw_buf *rows);

/* Appends one report line for upload_id to rows, the reason made valid
 * UTF-8 (ill-formed bytes as U+FFFD) and cut to GW_UPLOAD_REASON_MAX bytes
 * at a character boundary. Returns 0 or -1 (out of memory). */
int gw_upload_report_add(gw_buf *rows, long long upload_id, long long line, const char *kind,
                         const char *reason);

/* Records on pg the start of an upload of kind ("contacts" or "dnc") for
 * campaign_id (0: none) sent as content_type, with the request's
 * Content-Length as its expected size (*bytes_total, -1 when absent or not
 * a number), owned by app's upload_lease with a fresh lease, and holds it
 * there (the caller drops it with gw_upload_lease_drop when the upload
 * ends). Returns the new upload's id, or 0 after answering 503 (or 500). */
long long gw_upload_start(ecm_http_req *req, const gw_app *app, ecm_pg *pg, const char *kind,
                          long long campaign_id, const char *content_type, long long *bytes_total);

/* Adds the upload routes to h (also POST .../dnc/uploads, see
 * gw_dnc_upload.h). Returns 0, or -1 when the route table is full. */
int gw_upload_register(ecm_http *h, const gw_app *app);

#endif

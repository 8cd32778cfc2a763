/* An upload's row report and its answers, shared by contact and DNC uploads:
 * the report lines written (COPY into upload_rows, in a batch's
 * transaction), the first rejected rows kept for the POST answer, the
 * answer's counts and progress, and GET /api/v1/uploads/{id} (counts,
 * progress and the report, paged). */
#ifndef GW_UPLOAD_REPORT_H
#define GW_UPLOAD_REPORT_H

#include <jansson.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "ecm_buf.h"

/* Outside text quoted in a report reason: at most this many characters
 * (not bytes: a character is never split), then "...". */
#define GW_UPLOAD_EXCERPT_CHARS 40
#define GW_UPLOAD_EXCERPT_SIZE (GW_UPLOAD_EXCERPT_CHARS * 4 + 4)
/* The longest reason a report row keeps, in bytes. */
#define GW_UPLOAD_REASON_MAX 1024

/* Report lines kept in the POST answer's "errors" (rejected rows only); the
 * whole report is in GET /api/v1/uploads/{id}. */
#define GW_UPLOAD_ERRORS_ANSWER 100

/* Writes report rows (COPY text lines "upload_id\tline\tkind\treason\n"
 * in rows) into upload_rows on pg, inside the caller's transaction. Returns
 * 0 or -1. Empty rows is a no-op. */
int gw_upload_report_copy(ecm_pg *pg, const ecm_buf *rows) __attribute__((warn_unused_result));

/* Appends one report line for upload_id to rows, the reason made valid
 * UTF-8 (ill-formed bytes as U+FFFD) and cut to GW_UPLOAD_REASON_MAX bytes
 * at a character boundary. Returns 0 or -1 (out of memory). */
int gw_upload_report_add(ecm_buf *rows, long long upload_id, long long line, const char *kind,
                         const char *reason) __attribute__((warn_unused_result));

/* Writes one 'rejected' report row for upload_id on pg, outside a batch
 * (the line that stopped an upload); a row already there for that line
 * stays. Returns 0 or -1. */
int gw_upload_report_reject(ecm_pg *pg, long long upload_id, long long line, const char *reason)
    __attribute__((warn_unused_result));

/* Appends {"line", "reason"} to errors (a JSON array) while it holds fewer
 * than GW_UPLOAD_ERRORS_ANSWER items; line <= 0 is written null. Failures
 * (out of memory) leave errors as it was. */
void gw_upload_report_answer(json_t *errors, long long line, const char *reason);

/* The body of an upload's answer: kind, campaign (0: none), state, counts
 * {read, loaded, rejected, duplicate, dnc}, progress (bytes_total -1:
 * unknown) and the report's address. Returns NULL when out of memory. */
json_t *gw_upload_report_json(long long upload_id, const char *kind, long long campaign_id,
                              const char *state, const long long counts[5], long long bytes_read,
                              long long bytes_total) __attribute__((warn_unused_result));

/* GET /api/v1/uploads/{id}: the upload's answer plus its report rows, paged
 * by ?after=<line>&limit=<n> and filtered by ?kind=; ctx is the gw_app. */
void gw_upload_report_get(void *ctx, ecm_http_req *req);

#endif

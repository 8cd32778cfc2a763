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
 *
 * The upload's files, one concept each:
 *   gw_upload.c         the upload itself: rows read into batches, a full
 *                       batch validated then handed to the loader, failures
 *   gw_upload_header.c  the CSV header mapped to columns (pure)
 *   gw_upload_row.c     one row's validation and normalisation (pure)
 *   gw_upload_pool.c    a batch validated on a few threads
 *   gw_upload_load.c    a batch loaded in one transaction (the loader thread)
 *   gw_phone_set.c      the batch's numbers and what is known of each
 *   gw_upload_resume.c  the body's checksum and POST /api/v1/uploads/{id}/resume
 *   gw_upload_http.c    the POST handlers and their answers
 *   gw_upload_report.c  the row report and GET /api/v1/uploads/{id}
 *   gw_upload_state.h   the upload's state, shared by these files only */
#ifndef GW_UPLOAD_H
#define GW_UPLOAD_H

#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"

/* Records on pg the start of an upload of kind ("contacts" or "dnc") for
 * campaign_id (0: none) sent as content_type, with the request's
 * Content-Length as its expected size (*bytes_total, -1 when absent or not
 * a number), owned by app's upload_lease with a fresh lease, and holds it
 * there (the caller drops it with gw_upload_lease_drop when the upload
 * ends). Returns the new upload's id, or 0 after answering 503 (or 500). */
long long gw_upload_start(ecm_http_req *req, const gw_app *app, ecm_pg *pg, const char *kind,
                          long long campaign_id, const char *content_type, long long *bytes_total)
    __attribute__((warn_unused_result));

/* Adds the upload routes to h: POST /api/v1/campaigns/{id}/uploads, POST
 * /api/v1/uploads/{id}/resume, GET /api/v1/uploads/{id}, and the DNC
 * uploads' (gw_dnc_upload_register). Defined in gw_upload_http.c. Returns 0,
 * or -1 when the route table is full. */
int gw_upload_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

/* DNC list upload: POST /api/v1/dnc/uploads (the global list) and
 * POST /api/v1/campaigns/{id}/dnc/uploads (one campaign's list), a text/csv
 * body with a `phone` column and an optional `reason` column, streamed.
 * Every number goes through libphonenumber (region: the campaign's; the
 * gateway's default region for the global list) and is stored E.164 with source 'upload'. Batches
 * are loaded idempotently: COPY into a temporary staging table, then one INSERT
 * ... ON CONFLICT DO NOTHING on dnc_unique, so a number already on the list
 * (or twice in the file) is reported as a duplicate, never an error; open
 * contacts left with no number off the lists close in the same transaction
 * (ecm_dnc_close_blocked, ContactClosed DNC). The
 * upload is an uploads row of kind 'dnc' with the same counts and row report
 * as a contact upload (GET /api/v1/uploads/{id}). */
#ifndef GW_DNC_UPLOAD_H
#define GW_DNC_UPLOAD_H

#include "ecm_http.h"
#include "gw_app.h"
#include "ecm_buf.h"

/* Region for numbers without '+' on the global list when the gateway's
 * app->default_region is NULL. */
#define GW_DNC_UPLOAD_GLOBAL_REGION "US"

/* Checks one data row of a DNC list (the pure part of the upload, exposed
 * for tests and fuzzing): nfields must be ncols; fields[col_phone] a number
 * libphonenumber reads in region; fields[col_reason] (col_reason -1: none)
 * valid UTF-8 text of at most 200 characters. Returns 0 with the staging
 * COPY line "line\tE.164\treason\n" appended to stage (reason \N when
 * empty), 1 with a one-line reason (stage unchanged), -1 when out of memory. */
int gw_dnc_upload_row(const char *region, size_t ncols, int col_phone, int col_reason,
                      long long line, size_t nfields, const char *const *fields, const size_t *lens,
                      ecm_buf *stage, char *reason, size_t reason_size)
    __attribute__((warn_unused_result));

/* Adds the two routes to h (gw_upload_register calls it). Returns 0, or -1
 * when the route table is full. */
int gw_dnc_upload_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

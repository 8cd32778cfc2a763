/* Contact upload: POST /api/v1/campaigns/{id}/uploads (text/csv, streamed)
 * and GET /api/v1/uploads/{id}. The body goes chunk by chunk through gw_csv;
 * each record is validated and turned into one COPY line; good rows are
 * loaded a batch at a time (ids, COPY contacts, COPY outbox with one
 * ContactUploaded each, upload counts, all in one transaction), so memory
 * holds one batch whatever the file size. The pure parts (header mapping,
 * row validation, phone check) are exposed for tests. */
#ifndef GW_UPLOAD_H
#define GW_UPLOAD_H

#include <stddef.h>

#include "ecm_http.h"
#include "gw_app.h"

#define GW_PHONE_COLUMNS 10

/* Normalises one phone number written by a person into out. For now: drops
 * spaces, dashes, dots and parentheses, keeps one optional leading '+', and
 * requires 7 to 20 digits. region (ISO 3166 alpha-2 of the campaign) is unused
 * until libphonenumber does E.164 here. Returns 0, or -1 when raw is not a
 * phone number (or out_size is too small); out is then "". */
int gw_phone_normalize(const char *raw, const char *region, char *out, size_t out_size);

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
 * required in every row, so gw_upload_row_copy() rejects a row where one is
 * empty rather than let the message go out with a blank. Returns 0; 1 when
 * a placeholder is no column (errstr names it); -1 on a template syntax
 * error or out of memory (errstr says why). */
int gw_upload_header_use_template(gw_upload_header *h, const char *tmpl, char *errstr,
                                  size_t errstr_size);

/* Validates one data record against the header and, when it is good,
 * appends its COPY text line to the growable buffer buf/len/cap: the columns
 * line_no, account_number, first_name, last_name, phones, custom, time_zone,
 * tab-separated, ending in '\n' (the caller prefixes id, campaign_id,
 * upload_id). Returns 0 when appended, 1 when the row is rejected (reason
 * says why, naming the column; buf unchanged), -1 on allocation failure. */
int gw_upload_row_copy(const gw_upload_header *h, const char *region, long long line,
                       size_t nfields, const char *const *fields, const size_t *lens, char **buf,
                       size_t *len, size_t *cap, char *reason, size_t reason_size);

/* Adds the upload routes to h. Returns 0, or -1 when the route table is
 * full. */
int gw_upload_register(ecm_http *h, const gw_app *app);

#endif

/* The pure part of a contact upload: one row (a CSV record mapped by its
 * header, gw_upload_header, or a JSON array item) checked and normalised
 * into its COPY fragment and its numbers. No I/O: exposed for tests and fuzzing,
 * and called by the validating threads (gw_upload_pool). */
#ifndef GW_UPLOAD_ROW_H
#define GW_UPLOAD_ROW_H

#include <stddef.h>

#include "ecm_buf.h"
#include "gw_upload_header.h"

/* Per-thread state of row validation: caches of time-zone checks and of the
 * zone of each number region (ICU lookups cost far more than a row). */
typedef struct gw_upload_scratch gw_upload_scratch;
gw_upload_scratch *gw_upload_scratch_new(void)
    __attribute__((warn_unused_result)); /* NULL when out of memory */
void gw_upload_scratch_destroy(gw_upload_scratch *s);

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
 * custom, time_zone, phone_types, phone_zones, phone_regions, region,
 * subject_key, tab-separated, without a final line break; the numbers are
 * nphones E.164 strings, each followed by a NUL, first-seen order, a number
 * repeated within the row kept once. phone_regions: each number's
 * jurisdiction (ecm_phone_subdivision), NULL for a number without a place;
 * region: the state / region / province column read as a jurisdiction code
 * (a bare "FL" in the campaign's region: "US-FL"); subject_key: the
 * subject_key / debt_id column, trimmed. */
typedef struct {
    size_t copy_off, copy_len;
    size_t phones_off;
    int nphones;
} gw_upload_row;

/* Validates one CSV record against the header and appends its fragment and
 * numbers to out. Returns 0 when appended, 1 when the row is rejected
 * (reason names the column and why, e.g. "phone2: '212 555 O1OO' contains
 * letters", "state: unknown state or province 'ZZ' in US", "debt_id: longer
 * than 100 characters"; out unchanged), -1 on allocation failure (reason
 * "out of memory"). */
int gw_upload_row_csv(const gw_upload_header *h, const gw_upload_rules *rules, gw_upload_scratch *s,
                      long long line, size_t nfields, const char *const *fields, const size_t *lens,
                      ecm_buf *out, gw_upload_row *row, char *reason, size_t reason_size)
    __attribute__((warn_unused_result));

/* The same for one JSON array item (raw text, len bytes): an object whose
 * keys are the CSV header names; values strings or numbers, null or ""
 * empty. Returns 0, 1 (reason says why, e.g. "not a JSON object") or -1. */
int gw_upload_row_json(const gw_upload_rules *rules, gw_upload_scratch *s, long long line,
                       const char *text, size_t len, ecm_buf *out, gw_upload_row *row, char *reason,
                       size_t reason_size) __attribute__((warn_unused_result));

#endif

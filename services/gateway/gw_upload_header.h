/* The header record of a contact upload's CSV mapped to columns: the known
 * fields (account_number, first_name, last_name, time_zone, phone1 ..
 * phone10, the contact's jurisdiction and subject, by trimmed,
 * case-insensitive name) and the custom ones, and
 * which columns an SMS campaign's message template needs. Pure: exposed for
 * tests and fuzzing; gw_upload_row reads rows through it. */
#ifndef GW_UPLOAD_HEADER_H
#define GW_UPLOAD_HEADER_H

#include <stddef.h>

#define GW_PHONE_COLUMNS 10

typedef struct gw_upload_header gw_upload_header;

/* Maps the header record's columns by name (trimmed, case-insensitive):
 * account_number, first_name, last_name, phone1..phone10, time_zone; the
 * contact's jurisdiction from one of state, region or province; its
 * subject from subject_key or debt_id. Those last two stay custom fields
 * as well (a message template or an export may use them as written); any
 * other column is a custom field. Returns NULL with errstr when the header
 * is unusable (no phone column, a name twice, two names of one field, an
 * empty name, bad UTF-8). */
gw_upload_header *gw_upload_header_parse(size_t nfields, const char *const *fields,
                                         const size_t *lens, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));
void gw_upload_header_destroy(gw_upload_header *h);

/* For a campaign with a message template: every placeholder of tmpl must
 * be a column of the file (account_number, first_name, last_name or a
 * custom column, custom names compared exactly); those columns are then
 * required in every row, so a row where one is empty is rejected rather
 * than let the message go out with a blank. Returns 0; 1 when a placeholder
 * is no column (errstr names it); -1 on a template syntax error or out of
 * memory (errstr says why). */
int gw_upload_header_use_template(gw_upload_header *h, const char *tmpl, char *errstr,
                                  size_t errstr_size) __attribute__((warn_unused_result));

/* Drops the per-row requirement gw_upload_header_use_template() set (a
 * voice campaign's file must have the template's columns, but a row with
 * one empty is still loaded: it is called, and texted only if the strategy
 * switches it). Can't fail. */
void gw_upload_header_unrequire(gw_upload_header *h);

/* The known fields other than the numbers. */
typedef enum {
    GW_FIELD_ACCOUNT,
    GW_FIELD_FIRST,
    GW_FIELD_LAST,
    GW_FIELD_TZ,
    GW_FIELD_REGION,  /* state, region or province */
    GW_FIELD_SUBJECT, /* subject_key or debt_id */
} gw_upload_field;

/* The field a column or JSON key name[0..len) gives among the aliased ones
 * (GW_FIELD_REGION, GW_FIELD_SUBJECT), case-insensitively, or -1. Can't
 * fail. */
int gw_upload_header_alias(const char *name, size_t len);

/* Columns of the file. Can't fail. */
size_t gw_upload_header_columns(const gw_upload_header *h);

/* The column of field f, or -1 when the file has none. Can't fail. */
int gw_upload_header_field(const gw_upload_header *h, gw_upload_field f);

/* The column of phone k + 1 (k in 0 .. GW_PHONE_COLUMNS - 1), or -1. Can't
 * fail. */
int gw_upload_header_phone(const gw_upload_header *h, int k) __attribute__((warn_unused_result));

/* The custom field name of column col (trimmed, as written), or NULL when
 * col is a known field. Can't fail. */
const char *gw_upload_header_custom(const gw_upload_header *h, size_t col);

/* 1 when the message template uses column col (it must then be non-empty in
 * every row), else 0. Can't fail. */
int gw_upload_header_required(const gw_upload_header *h, size_t col);

/* The name of phone column k + 1: "phone1" .. "phone10". Can't fail. */
const char *gw_upload_header_phone_name(int k);

/* 1 when s[0..len) is name, case-insensitively: how header names (and a
 * JSON item's keys) are matched. Can't fail. */
int gw_upload_header_name_is(const char *s, size_t len, const char *name);

/* Steps *s and *len over the blanks (spaces, tabs) around s[0..len): how
 * header names and known values are read. Can't fail. */
void gw_upload_header_trim(const char **s, size_t *len);

#endif

/* SMS text: message templates ({first_name}, custom fields, {{ and }} for
 * literal braces), the encoding a text needs (GSM 03.38 7-bit default
 * alphabet with its extension table, else UCS-2) and how many segments it
 * takes. Pure functions: the gateway checks templates at upload time with
 * the same code the sms service renders them with at send time. */
#ifndef ECM_SMS_TEXT_H
#define ECM_SMS_TEXT_H

#include <stddef.h>

typedef enum {
    ECM_SMS_GSM7 = 0, /* GSM 03.38 default alphabet + extension table */
    ECM_SMS_UCS2 = 1, /* UTF-16 code units */
} ecm_sms_encoding;

/* Single-message and per-part capacities (a concatenated message loses 7
 * septets / 3 UTF-16 units per part to the UDH). */
#define ECM_SMS_GSM7_SINGLE 160
#define ECM_SMS_GSM7_PART 153
#define ECM_SMS_UCS2_SINGLE 70
#define ECM_SMS_UCS2_PART 67

typedef struct {
    ecm_sms_encoding encoding;
    size_t chars; /* Unicode code points */
    size_t units; /* GSM-7 septets (extension characters count 2) or UTF-16 units */
    int segments; /* 1 for an empty text */
} ecm_sms_info;

/* "GSM7" or "UCS2", the names stored in attempts.encoding. */
const char *ecm_sms_encoding_name(ecm_sms_encoding e);

/* Measures a NUL-terminated UTF-8 text: GSM-7 when every character is in
 * the default alphabet or its extension table, else UCS-2; then counts
 * units and segments. A part never splits an extension character's escape
 * or a surrogate pair, so those may push a boundary one unit early.
 * Returns 0, or -1 when text is not valid UTF-8 (out untouched). */
int ecm_sms_measure(const char *text, ecm_sms_info *out) __attribute__((warn_unused_result));

/* Segments for `units` of `encoding` when no character straddles a part
 * boundary (plain arithmetic: <= single -> 1, else ceil(units / part)). */
int ecm_sms_segments(ecm_sms_encoding encoding, size_t units);

/* Looks up a template field. Returns the value (NUL-terminated, valid until
 * the render call returns), or NULL when the contact has no such field. */
typedef const char *(*ecm_sms_field_fn)(void *ctx, const char *name);

/* Called once per placeholder in template order. Return 0 to go on, any
 * other value to stop (ecm_sms_template_foreach then returns it). */
typedef int (*ecm_sms_placeholder_fn)(void *ctx, const char *name);

/* Longest placeholder name accepted (bytes). */
#define ECM_SMS_FIELD_MAX 128

/* Walks the placeholders of tmpl. Syntax: "{name}" is a field; "{{" and
 * "}}" are literal braces; a name is 1..ECM_SMS_FIELD_MAX bytes of anything
 * but braces and control characters, surrounding spaces ignored. Returns 0
 * when every placeholder was visited, the callback's non-zero value if it
 * stopped, or -1 on a syntax error (unclosed "{", stray "}", empty or too
 * long name, invalid UTF-8) with a reason in errstr. */
int ecm_sms_template_foreach(const char *tmpl, ecm_sms_placeholder_fn fn, void *ctx, char *errstr,
                             size_t errstr_size) __attribute__((warn_unused_result));

/* Upload-time check: every placeholder of tmpl must be one of `fields`
 * (e.g. the standard columns plus the upload's custom column names).
 * Returns 0 when all are known, 1 with the first unknown name in errstr
 * ("unknown field 'x'"), or -1 on a syntax error (reason in errstr). */
int ecm_sms_template_check(const char *tmpl, const char *const *fields, size_t nfields,
                           char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Renders tmpl, each placeholder replaced by lookup()'s value as is (an SMS
 * is plain text: nothing is escaped). On success *out is a malloc'd UTF-8
 * string (caller frees) and 0 is returned. Returns -1 with *out NULL and a
 * reason in errstr on a syntax error, a field lookup() does not know (never
 * rendered as a blank), or out of memory. */
int ecm_sms_render(const char *tmpl, ecm_sms_field_fn lookup, void *ctx, char **out, char *errstr,
                   size_t errstr_size) __attribute__((warn_unused_result));

#endif

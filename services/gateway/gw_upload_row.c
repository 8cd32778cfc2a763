#include "gw_upload_row.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ecm_pg.h"
#include "ecm_phone.h"
#include "ecm_utf8.h"
#include "ecm_window.h"
#include "gw_upload_report.h"

#define GW_NAME_MAX_CHARS 50
#define GW_SUBJECT_MAX_CHARS 100
#define GW_TZ_MAX_BYTES 64
#define GW_PHONE_MAX_BYTES 64
/* The scratch's buffers' hard maxima. A JSON item's numbers as text: an
 * item is at most 16 MiB (ECM_GATEWAY_UPLOAD_MAX_RECORD's maximum), a
 * number takes at least 5 of its bytes ("a":1,) and at most 25 as text. A
 * row's numbers, types and zones: ten of at most GW_TZ_MAX_BYTES + 1. */
#define GW_SCRATCH_NUM_MAX ((size_t)128 << 20)
#define GW_SCRATCH_LIST_MAX ((size_t)GW_PHONE_COLUMNS * (GW_TZ_MAX_BYTES + 1) + 1)

/* ---- text helpers ---------------------------------------------------- */

/* PostgreSQL text can hold neither malformed UTF-8 nor NUL, and one bad row
 * must not fail a whole COPY batch. */

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

/* ---- rows ------------------------------------------------------------- */

typedef struct {
    const char *s;
    size_t n;
} span;

#define TZ_CACHE 16
#define ZONE_CACHE 32

struct gw_upload_scratch {
    /* Time-zone names already checked (most files use a handful). */
    struct {
        char name[GW_TZ_MAX_BYTES + 1];
        int ok;
    } tz[TZ_CACHE];
    size_t ntz, tz_next;
    /* Zone of each number region: "" when the region has several or none. */
    struct {
        char region[ECM_PHONE_REGION_LEN];
        char zone[GW_TZ_MAX_BYTES + 1];
    } zone[ZONE_CACHE];
    size_t nzone, zone_next;

    /* The custom fields of the row being built. */
    const char **cname;
    span *cval;
    unsigned char *creq; /* the message template needs it */
    size_t ccap;
    /* JSON items: values turned into text (numbers), NUL-separated. */
    ecm_buf num;
    ecm_buf phones, types, zones, regions;
    char value[GW_PHONE_MAX_BYTES + 1];
};

gw_upload_scratch *gw_upload_scratch_new(void)
{
    gw_upload_scratch *s = calloc(1, sizeof(gw_upload_scratch));
    if (s) {
        ecm_buf_init(&s->num, GW_SCRATCH_NUM_MAX);
        ecm_buf_init(&s->phones, GW_SCRATCH_LIST_MAX);
        ecm_buf_init(&s->types, GW_SCRATCH_LIST_MAX);
        ecm_buf_init(&s->zones, GW_SCRATCH_LIST_MAX);
        ecm_buf_init(&s->regions, GW_SCRATCH_LIST_MAX);
    }
    return s;
}

void gw_upload_scratch_destroy(gw_upload_scratch *s)
{
    if (!s) {
        return;
    }
    free(s->cname);
    free(s->cval);
    free(s->creq);
    ecm_buf_destroy(&s->num);
    ecm_buf_destroy(&s->phones);
    ecm_buf_destroy(&s->types);
    ecm_buf_destroy(&s->zones);
    ecm_buf_destroy(&s->regions);
    free(s);
}

static int scratch_custom_room(gw_upload_scratch *s, size_t n)
{
    if (n <= s->ccap) {
        return 0;
    }
    size_t c = s->ccap ? s->ccap : 16;
    while (c < n) {
        c *= 2;
    }
    const char **names = realloc(s->cname, c * sizeof(*names));
    if (!names) {
        return -1;
    }
    s->cname = names;
    span *vals = realloc(s->cval, c * sizeof(*vals));
    if (!vals) {
        return -1;
    }
    s->cval = vals;
    unsigned char *req = realloc(s->creq, c);
    if (!req) {
        return -1;
    }
    s->creq = req;
    s->ccap = c;
    return 0;
}

/* 1 when tz (trimmed, at most GW_TZ_MAX_BYTES) names a zone. */
static int tz_known(gw_upload_scratch *s, const char *tz, size_t n)
{
    for (size_t i = 0; i < s->ntz; i++) {
        if (strlen(s->tz[i].name) == n && memcmp(s->tz[i].name, tz, n) == 0) {
            return s->tz[i].ok;
        }
    }
    char name[GW_TZ_MAX_BYTES + 1];
    memcpy(name, tz, n);
    name[n] = '\0';
    int ok = ecm_window_tz_canonical(name, NULL, 0) == 0;
    size_t slot = s->ntz < TZ_CACHE ? s->ntz++ : (s->tz_next++ % TZ_CACHE);
    memcpy(s->tz[slot].name, name, n + 1);
    s->tz[slot].ok = ok;
    return ok;
}

/* The zone of the number's region when it has exactly one, else "". */
static const char *zone_of(gw_upload_scratch *s, const ecm_phone_info *info)
{
    for (size_t i = 0; i < s->nzone; i++) {
        if (strcmp(s->zone[i].region, info->region) == 0) {
            return s->zone[i].zone;
        }
    }
    size_t slot = s->nzone < ZONE_CACHE ? s->nzone++ : (s->zone_next++ % ZONE_CACHE);
    /* Both are ECM_PHONE_REGION_LEN: the region always fits. */
    memcpy(s->zone[slot].region, info->region, sizeof(s->zone[slot].region));
    s->zone[slot].region[sizeof(s->zone[slot].region) - 1] = '\0';
    if (ecm_phone_time_zone(info->e164, s->zone[slot].zone, sizeof(s->zone[slot].zone)) != 0) {
        s->zone[slot].zone[0] = '\0';
    }
    /* A non-geographic region ("001") is no region: never cache its answer
     * for another number of it, which could differ. */
    if (strcmp(info->region, "001") == 0 || info->region[0] == '\0') {
        s->zone[slot].region[0] = '\x01';
    }
    return s->zone[slot].zone;
}

static void quote_raw(char *out, size_t out_size, const char *s, size_t len)
{
    ecm_utf8_excerpt(out, out_size, s, len, GW_UPLOAD_EXCERPT_CHARS);
}

/* One row, whatever it came from. Known columns are trimmed; a span with
 * s == NULL is a column the file does not have. */
typedef struct {
    span account, first, last, tz;
    span phone[GW_PHONE_COLUMNS];
    size_t ncustom;     /* in the scratch's cname/cval/creq */
    unsigned req_known; /* bit k: known_names[k] is needed by the message template */
    /* The custom fields that are also the contact's jurisdiction (state,
     * region, province) and subject (subject_key, debt_id), or -1. */
    long region_c, subject_c;
    char region[ECM_PHONE_JURISDICTION_LEN]; /* its code, "" for none */
} row_view;

static span trimmed(const char *s, size_t n)
{
    gw_upload_header_trim(&s, &n);
    return (span){s, n};
}

static const char *const known_names[] = {"account_number", "first_name", "last_name", "time_zone"};

static int check_text(const span *v, const char *label, char *reason, size_t reason_size)
{
    if (v->s && !ecm_utf8_text_ok(v->s, v->n)) {
        char shown[GW_UPLOAD_EXCERPT_SIZE];
        (void)ecm_utf8_format(reason, reason_size, "%s: not valid UTF-8 text",
                              ecm_utf8_quote(shown, sizeof(shown), label, GW_UPLOAD_EXCERPT_CHARS));
        return 1;
    }
    return 0;
}

/* Appends span v escaped for COPY; empty is \N. */
static int copy_field(ecm_buf *out, const span *v)
{
    return ecm_pg_copy_escape_n(out, v->n ? v->s : NULL, v->n);
}

/* Appends "{a,b}" with each element double-quoted; with empty_null, an
 * empty element is NULL. */
static int add_array_literal_of(ecm_buf *b, const ecm_buf *items, int n, int empty_null)
{
    if (ecm_buf_add(b, "{", 1) != 0) {
        return -1;
    }
    const char *p = ecm_buf_ptr(items);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(p);
        if (i && ecm_buf_add(b, ",", 1) != 0) {
            return -1;
        }
        if (len == 0 && empty_null) {
            if (ecm_buf_add(b, "NULL", 4) != 0) {
                return -1;
            }
        } else if (ecm_buf_add(b, "\"", 1) != 0 || ecm_buf_add(b, p, len) != 0 ||
                   ecm_buf_add(b, "\"", 1) != 0) {
            return -1;
        }
        p += len + 1;
    }
    return ecm_buf_add(b, "}", 1);
}

static int add_array_literal(ecm_buf *b, const ecm_buf *items, int n)
{
    return add_array_literal_of(b, items, n, 0);
}

static int add_custom(gw_upload_scratch *s, const row_view *v, ecm_buf *out)
{
    if (v->ncustom == 0) {
        return ecm_buf_add(out, "{}", 2);
    }
    json_t *obj = json_object();
    int rc = obj ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < v->ncustom; i++) {
        rc = json_object_set_new(obj, s->cname[i], json_stringn(s->cval[i].s, s->cval[i].n));
    }
    char *text = rc == 0 ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text) {
        return -1;
    }
    rc = ecm_pg_copy_escape(out, text);
    free(text);
    return rc;
}

/* The text checks of a row: valid UTF-8 everywhere, names not too long,
 * the template's fields present, a time zone that exists. Returns 0, or 1
 * with reason. */
static int row_check_text(gw_upload_scratch *s, const row_view *v, char *reason, size_t reason_size)
{
    const span *known[] = {&v->account, &v->first, &v->last, &v->tz};
    for (size_t k = 0; k < 4; k++) {
        if (check_text(known[k], known_names[k], reason, reason_size)) {
            return 1;
        }
    }
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        if (check_text(&v->phone[k], gw_upload_header_phone_name(k), reason, reason_size)) {
            return 1;
        }
    }
    for (size_t i = 0; i < v->ncustom; i++) {
        if (check_text(&s->cval[i], s->cname[i], reason, reason_size)) {
            return 1;
        }
    }
    for (int k = 1; k <= 2; k++) {
        if (utf8_chars(known[k]->s, known[k]->n) > GW_NAME_MAX_CHARS) {
            (void)ecm_utf8_format(reason, reason_size, "%s: longer than %d characters",
                                  known_names[k], GW_NAME_MAX_CHARS);
            return 1;
        }
    }
    for (size_t k = 0; k < 3 + v->ncustom; k++) {
        int needed = k < 3 ? (v->req_known >> k) & 1 : s->creq[k - 3];
        const char *name = k < 3 ? known_names[k] : s->cname[k - 3];
        span val = k < 3 ? *known[k] : trimmed(s->cval[k - 3].s, s->cval[k - 3].n);
        if (needed && val.n == 0) {
            char shown[GW_UPLOAD_EXCERPT_SIZE];
            ecm_utf8_quote(shown, sizeof(shown), name, GW_UPLOAD_EXCERPT_CHARS);
            (void)ecm_utf8_format(reason, reason_size,
                                  "%s: empty, but the message template uses {%s}", shown, shown);
            return 1;
        }
    }
    if (v->tz.n > 0) {
        int ok = v->tz.n <= GW_TZ_MAX_BYTES && tz_known(s, v->tz.s, v->tz.n);
        if (!ok) {
            char shown[GW_UPLOAD_EXCERPT_SIZE];
            quote_raw(shown, sizeof(shown), v->tz.s, v->tz.n);
            (void)ecm_utf8_format(reason, reason_size, "time_zone: '%s' is not a time zone name",
                                  shown);
            return 1;
        }
    }
    return 0;
}

/* The row's jurisdiction column read into v->region (a bare "FL" in the
 * campaign's country), and its subject's length checked. Runs after
 * row_check_text (the values are valid UTF-8). Returns 0, or 1 with
 * reason. */
static int row_check_region(const gw_upload_rules *rules, gw_upload_scratch *s, row_view *v,
                            char *reason, size_t reason_size)
{
    char label[GW_UPLOAD_EXCERPT_SIZE];
    v->region[0] = '\0';
    if (v->region_c >= 0) {
        span r = trimmed(s->cval[v->region_c].s, s->cval[v->region_c].n);
        char why[128] = "";
        if (r.n > 0 && ecm_phone_jurisdiction_read(r.s, r.n, rules->region, v->region,
                                                   sizeof(v->region), why, sizeof(why)) != 0) {
            v->region[0] = '\0';
            (void)ecm_utf8_format(reason, reason_size, "%s: %s",
                                  ecm_utf8_quote(label, sizeof(label), s->cname[v->region_c],
                                                 GW_UPLOAD_EXCERPT_CHARS),
                                  why[0] ? why : "not a region code");
            return 1;
        }
    }
    if (v->subject_c >= 0) {
        span k = trimmed(s->cval[v->subject_c].s, s->cval[v->subject_c].n);
        if (utf8_chars(k.s, k.n) > GW_SUBJECT_MAX_CHARS) {
            (void)ecm_utf8_format(reason, reason_size, "%s: longer than %d characters",
                                  ecm_utf8_quote(label, sizeof(label), s->cname[v->subject_c],
                                                 GW_UPLOAD_EXCERPT_CHARS),
                                  GW_SUBJECT_MAX_CHARS);
            return 1;
        }
    }
    return 0;
}

/* Reads phone column k's number p through libphonenumber (region: the
 * campaign's; "00..." read as "+..." where the region would refuse it).
 * Returns 0 with *info, 1 with reason, -1 when out of memory. */
static int row_number(const gw_upload_rules *rules, gw_upload_scratch *s, int k, const span *p,
                      ecm_phone_info *info, char *reason, size_t reason_size)
{
    char shown[GW_UPLOAD_EXCERPT_SIZE], why[96];
    quote_raw(shown, sizeof(shown), p->s, p->n);
    if (p->n > GW_PHONE_MAX_BYTES) {
        (void)ecm_utf8_format(reason, reason_size, "phone%d: '%s' too long", k + 1, shown);
        return 1;
    }
    memcpy(s->value, p->s, p->n);
    s->value[p->n] = '\0';
    int prc = ecm_phone_normalize(s->value, rules->region, info, why, sizeof(why));
    if (prc != 0 && p->n > 2 && p->s[0] == '0' && p->s[1] == '0') {
        /* "00" is the international prefix of most of the world; where
         * it is not the region's own (US: 011), a national number
         * cannot start with it either, so read it as '+'. */
        char plus[GW_PHONE_MAX_BYTES + 1], why2[96];
        int n = snprintf(plus, sizeof(plus), "+%s", s->value + 2); /* one byte shorter */
        if (n > 0 && (size_t)n < sizeof(plus)) {
            prc = ecm_phone_normalize(plus, NULL, info, why2, sizeof(why2)) == 0 ? 0 : prc;
        }
    }
    if (prc != 0) {
        if (strcmp(why, "out of memory") == 0) {
            return -1;
        }
        (void)ecm_utf8_format(reason, reason_size, "phone%d: '%s' %s", k + 1, shown, why);
        return 1;
    }
    return 0;
}

/* The row's numbers, normalised, into s->phones, s->types and s->zones
 * (each NUL-terminated, first-seen order, a number twice kept once).
 * Returns how many (at least 1), 0 with reason when the row has none or
 * (sms) none that may be mobile, or -1 when out of memory. */
static int row_numbers(const gw_upload_rules *rules, gw_upload_scratch *s, const row_view *v,
                       char *reason, size_t reason_size)
{
    ecm_buf_reset(&s->phones);
    ecm_buf_reset(&s->types);
    ecm_buf_reset(&s->zones);
    ecm_buf_reset(&s->regions);
    int nphones = 0, may_be_mobile = 0;
    ecm_phone_info first_info;
    int first_col = 0;
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        const span *p = &v->phone[k];
        if (p->n == 0) {
            continue;
        }
        ecm_phone_info info;
        int prc = row_number(rules, s, k, p, &info, reason, reason_size);
        if (prc != 0) {
            return prc > 0 ? 0 : -1;
        }
        /* The same number twice in one row is one number. */
        int seen = 0;
        for (const char *q = ecm_buf_ptr(&s->phones);
             q && q < ecm_buf_ptr(&s->phones) + ecm_buf_len(&s->phones); q += strlen(q) + 1) {
            seen = seen || strcmp(q, info.e164) == 0;
        }
        if (seen) {
            continue;
        }
        if (nphones == 0) {
            first_info = info;
            first_col = k + 1;
        }
        const char *tname = ecm_phone_type_name(info.type);
        const char *zone = zone_of(s, &info);
        /* A number without a place (+800...) has no jurisdiction: "". */
        char where[ECM_PHONE_JURISDICTION_LEN];
        if (ecm_phone_subdivision_of(&info, where, sizeof(where)) != 0) {
            where[0] = '\0';
        }
        if (ecm_buf_add(&s->phones, info.e164, strlen(info.e164) + 1) != 0 ||
            ecm_buf_add(&s->types, tname, strlen(tname) + 1) != 0 ||
            ecm_buf_add(&s->zones, zone, strlen(zone) + 1) != 0 ||
            ecm_buf_add(&s->regions, where, strlen(where) + 1) != 0) {
            return -1;
        }
        may_be_mobile = may_be_mobile || ecm_phone_type_may_be_mobile(info.type);
        nphones++;
    }
    if (nphones == 0) {
        (void)ecm_utf8_format(reason, reason_size, "no phone number (phone1 .. phone10 are empty)");
        return 0;
    }
    if (rules->sms && !may_be_mobile) {
        (void)ecm_utf8_format(reason, reason_size, "no number that can take SMS (phone%d %s is %s)",
                              first_col, first_info.e164, ecm_phone_type_name(first_info.type));
        return 0;
    }
    return nphones;
}

/* Appends the row's COPY fragment and its numbers to out (see
 * gw_upload_row). Returns 0, or -1 when out of memory (out unchanged). */
static int row_append(gw_upload_scratch *s, long long line, const row_view *v, int nphones,
                      ecm_buf *out, gw_upload_row *row)
{
    const span *known[] = {&v->account, &v->first, &v->last};
    size_t start = ecm_buf_len(out);
    char num[32];
    int n = snprintf(num, sizeof(num), "%lld\t", line);
    int rc = n < 0 || (size_t)n >= sizeof(num) ? -1 : ecm_buf_add(out, num, (size_t)n);
    for (size_t k = 0; rc == 0 && k < 3; k++) {
        rc = copy_field(out, known[k]) || ecm_buf_add(out, "\t", 1);
    }
    if (rc == 0) {
        rc = add_array_literal(out, &s->phones, nphones) || ecm_buf_add(out, "\t", 1) ||
             add_custom(s, v, out) || ecm_buf_add(out, "\t", 1) || copy_field(out, &v->tz) ||
             ecm_buf_add(out, "\t", 1) || add_array_literal(out, &s->types, nphones) ||
             ecm_buf_add(out, "\t", 1) || add_array_literal(out, &s->zones, nphones) ||
             ecm_buf_add(out, "\t", 1) || add_array_literal_of(out, &s->regions, nphones, 1);
    }
    if (rc == 0) {
        span region = {v->region, strlen(v->region)};
        span subject = {NULL, 0};
        if (v->subject_c >= 0) {
            subject = trimmed(s->cval[v->subject_c].s, s->cval[v->subject_c].n);
        }
        rc = ecm_buf_add(out, "\t", 1) || copy_field(out, &region) || ecm_buf_add(out, "\t", 1) ||
             copy_field(out, &subject);
    }
    size_t copy_len = ecm_buf_len(out) - start;
    size_t phones_off = ecm_buf_len(out);
    if (rc == 0) {
        rc = ecm_buf_add(out, ecm_buf_ptr(&s->phones), ecm_buf_len(&s->phones));
    }
    if (rc != 0) {
        return -1;
    }
    row->copy_off = start;
    row->copy_len = copy_len;
    row->phones_off = phones_off;
    row->nphones = nphones;
    return 0;
}

/* Validates v and appends the fragment and numbers to out (see
 * gw_upload_row). Returns 0, 1 (reason) or -1. */
static int row_build(const gw_upload_rules *rules, gw_upload_scratch *s, long long line,
                     row_view *v, ecm_buf *out, gw_upload_row *row, char *reason,
                     size_t reason_size)
{
    if (row_check_text(s, v, reason, reason_size) ||
        row_check_region(rules, s, v, reason, reason_size)) {
        return 1;
    }
    int nphones = row_numbers(rules, s, v, reason, reason_size);
    if (nphones <= 0) {
        return nphones < 0 ? -1 : 1;
    }
    if (row_append(s, line, v, nphones, out, row) != 0) {
        (void)ecm_utf8_format(reason, reason_size, "out of memory");
        return -1;
    }
    return 0;
}

int gw_upload_row_csv(const gw_upload_header *h, const gw_upload_rules *rules, gw_upload_scratch *s,
                      long long line, size_t nfields, const char *const *fields, const size_t *lens,
                      ecm_buf *out, gw_upload_row *row, char *reason, size_t reason_size)
{
    size_t ncols = gw_upload_header_columns(h);
    if (nfields != ncols) {
        (void)ecm_utf8_format(reason, reason_size, "expected %zu fields, found %zu", ncols,
                              nfields);
        return 1;
    }
    row_view v;
    memset(&v, 0, sizeof(v));
    v.region_c = v.subject_c = -1;
    span *known[] = {&v.account, &v.first, &v.last, &v.tz};
    const int idx[] = {
        gw_upload_header_field(h, GW_FIELD_ACCOUNT), gw_upload_header_field(h, GW_FIELD_FIRST),
        gw_upload_header_field(h, GW_FIELD_LAST), gw_upload_header_field(h, GW_FIELD_TZ)};
    for (size_t k = 0; k < 4; k++) {
        if (idx[k] >= 0) {
            *known[k] = trimmed(fields[idx[k]], lens[idx[k]]);
        }
    }
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        int col = gw_upload_header_phone(h, k);
        if (col >= 0) {
            v.phone[k] = trimmed(fields[col], lens[col]);
        }
    }
    if (scratch_custom_room(s, ncols) != 0) {
        (void)ecm_utf8_format(reason, reason_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nfields; i++) {
        const char *name = gw_upload_header_custom(h, i);
        if (name) {
            if ((int)i == gw_upload_header_field(h, GW_FIELD_REGION)) {
                v.region_c = (long)v.ncustom;
            } else if ((int)i == gw_upload_header_field(h, GW_FIELD_SUBJECT)) {
                v.subject_c = (long)v.ncustom;
            }
            s->creq[v.ncustom] = (unsigned char)gw_upload_header_required(h, i);
            s->cname[v.ncustom] = name;
            s->cval[v.ncustom++] = (span){fields[i], lens[i]};
        }
    }
    for (size_t k = 0; k < 3; k++) {
        if (idx[k] >= 0 && gw_upload_header_required(h, (size_t)idx[k])) {
            v.req_known |= 1u << k;
        }
    }
    return row_build(rules, s, line, &v, out, row, reason, reason_size);
}

/* The text of a JSON value in *out; numbers are written into s->num.
 * Returns 0, or 1 when the value is no string, number or null. */
static int json_value_span(gw_upload_scratch *s, json_t *val, span *out)
{
    char tmp[64];
    int n;
    switch (json_typeof(val)) {
    case JSON_STRING:
        *out = (span){json_string_value(val), json_string_length(val)};
        return 0;
    case JSON_NULL:
        *out = (span){"", 0};
        return 0;
    case JSON_INTEGER:
        n = snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(val));
        break;
    case JSON_REAL:
        n = snprintf(tmp, sizeof(tmp), "%.17g", json_real_value(val));
        break;
    default:
        return 1;
    }
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return 1;
    }
    /* Offsets, not pointers: s->num may move while the row is read. */
    size_t off = ecm_buf_len(&s->num);
    if (ecm_buf_add(&s->num, tmp, (size_t)n + 1) != 0) {
        return -1;
    }
    *out = (span){(const char *)(uintptr_t)off, (size_t)n};
    return 2;
}

/* Which slot of v the key names: known[k] (*idx k) or phone column k
 * (*idx 4 + k); NULL for a custom field. */
static span *json_slot(row_view *v, const char *key, int *idx)
{
    span *known[] = {&v->account, &v->first, &v->last, &v->tz};
    size_t klen = strlen(key);
    for (size_t k = 0; k < 4; k++) {
        if (gw_upload_header_name_is(key, klen, known_names[k])) {
            *idx = (int)k;
            return known[k];
        }
    }
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        if (gw_upload_header_name_is(key, klen, gw_upload_header_phone_name(k))) {
            *idx = 4 + k;
            return &v->phone[k];
        }
    }
    return NULL;
}

/* The object's members into v and the scratch's custom fields; a value
 * made from a number holds an offset into s->num, marked in from_num
 * (known slots) or custom_num (custom fields). Returns 0, 1 (reason) or
 * -1. */
static int json_fill_view(gw_upload_scratch *s, json_t *obj, row_view *v, unsigned char *from_num,
                          unsigned char *custom_num, char *reason, size_t reason_size)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        int slot_idx = -1;
        span *slot = json_slot(v, key, &slot_idx);
        char shown[GW_UPLOAD_EXCERPT_SIZE];
        if (slot && slot->s) {
            (void)ecm_utf8_format(
                reason, reason_size, "'%s' appears twice",
                ecm_utf8_quote(shown, sizeof(shown), key, GW_UPLOAD_EXCERPT_CHARS));
            return 1;
        }
        span sp;
        int vr = json_value_span(s, val, &sp);
        if (vr < 0) {
            return -1;
        }
        if (vr == 1) {
            (void)ecm_utf8_format(
                reason, reason_size, "%s: must be a string or a number",
                ecm_utf8_quote(shown, sizeof(shown), key, GW_UPLOAD_EXCERPT_CHARS));
            return 1;
        }
        if (slot) {
            *slot = sp;
            from_num[slot_idx] = vr == 2;
        } else {
            int alias = gw_upload_header_alias(key, strlen(key));
            long *ac = alias == GW_FIELD_REGION    ? &v->region_c
                       : alias == GW_FIELD_SUBJECT ? &v->subject_c
                                                   : NULL;
            if (ac && *ac >= 0) {
                char other[GW_UPLOAD_EXCERPT_SIZE];
                (void)ecm_utf8_format(
                    reason, reason_size, "'%s' and '%s' name one field",
                    ecm_utf8_quote(other, sizeof(other), s->cname[*ac], GW_UPLOAD_EXCERPT_CHARS),
                    ecm_utf8_quote(shown, sizeof(shown), key, GW_UPLOAD_EXCERPT_CHARS));
                return 1;
            }
            if (ac) {
                *ac = (long)v->ncustom;
            }
            custom_num[v->ncustom] = vr == 2;
            s->creq[v->ncustom] = 0;
            s->cname[v->ncustom] = key;
            s->cval[v->ncustom++] = sp;
        }
    }
    return 0;
}

/* Once s->num no longer moves: offsets become pointers, known values are
 * trimmed. */
static void json_resolve_view(gw_upload_scratch *s, row_view *v, const unsigned char *from_num,
                              const unsigned char *custom_num)
{
    span *known[] = {&v->account, &v->first, &v->last, &v->tz};
    for (size_t k = 0; k < 4; k++) {
        if (from_num[k]) {
            known[k]->s = ecm_buf_ptr(&s->num) + (uintptr_t)known[k]->s;
        }
        if (known[k]->s) {
            *known[k] = trimmed(known[k]->s, known[k]->n);
        }
    }
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        if (from_num[4 + k]) {
            v->phone[k].s = ecm_buf_ptr(&s->num) + (uintptr_t)v->phone[k].s;
        }
        if (v->phone[k].s) {
            v->phone[k] = trimmed(v->phone[k].s, v->phone[k].n);
        }
    }
    for (size_t i = 0; i < v->ncustom; i++) {
        if (custom_num[i]) {
            s->cval[i].s = ecm_buf_ptr(&s->num) + (uintptr_t)s->cval[i].s;
        }
    }
}

/* The template's placeholders (rules->required) marked needed in v, and at
 * least one phone key present. Returns 0, or 1 with reason. */
static int json_check_keys(const gw_upload_rules *rules, gw_upload_scratch *s, row_view *v,
                           char *reason, size_t reason_size)
{
    for (size_t r = 0; r < rules->nrequired; r++) {
        const char *name = rules->required[r];
        int found = 0;
        for (size_t k = 0; k < 3 && !found; k++) {
            if (strcmp(name, known_names[k]) == 0) {
                v->req_known |= 1u << k;
                found = 1;
            }
        }
        for (size_t i = 0; i < v->ncustom && !found; i++) {
            if (strcmp(name, s->cname[i]) == 0) {
                s->creq[i] = 1;
                found = 1;
            }
        }
        if (!found) {
            char shown[GW_UPLOAD_EXCERPT_SIZE];
            ecm_utf8_quote(shown, sizeof(shown), name, GW_UPLOAD_EXCERPT_CHARS);
            (void)ecm_utf8_format(reason, reason_size,
                                  "%s: missing, but the message template uses {%s}", shown, shown);
            return 1;
        }
    }
    int any_phone_column = 0;
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        any_phone_column = any_phone_column || v->phone[k].s != NULL;
    }
    if (!any_phone_column) {
        (void)ecm_utf8_format(reason, reason_size,
                              "no phone number (phone1 .. phone10 are missing)");
        return 1;
    }
    return 0;
}

int gw_upload_row_json(const gw_upload_rules *rules, gw_upload_scratch *s, long long line,
                       const char *text, size_t len, ecm_buf *out, gw_upload_row *row, char *reason,
                       size_t reason_size)
{
    json_error_t jerr;
    json_t *obj =
        json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (!obj) {
        (void)ecm_utf8_format(reason, reason_size, "not valid JSON: %s", jerr.text);
        return 1;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        (void)ecm_utf8_format(reason, reason_size, "not a JSON object");
        return 1;
    }
    row_view v;
    memset(&v, 0, sizeof(v));
    v.region_c = v.subject_c = -1;
    unsigned char from_num[4 + GW_PHONE_COLUMNS] = {0};
    unsigned char *custom_num = NULL;
    ecm_buf_reset(&s->num);
    int rc = scratch_custom_room(s, json_object_size(obj) + 1) != 0 ||
                     !(custom_num = calloc(json_object_size(obj) + 1, 1))
                 ? -1
                 : 0;
    if (rc == 0) {
        rc = json_fill_view(s, obj, &v, from_num, custom_num, reason, reason_size);
    }
    if (rc == 0) {
        json_resolve_view(s, &v, from_num, custom_num);
        rc = json_check_keys(rules, s, &v, reason, reason_size);
    }
    if (rc == 0) {
        rc = row_build(rules, s, line, &v, out, row, reason, reason_size);
    }
    if (rc < 0) {
        (void)ecm_utf8_format(reason, reason_size, "out of memory");
    }
    free(custom_num);
    json_decref(obj);
    return rc;
}

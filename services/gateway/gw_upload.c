#include "gw_upload.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ecm_bloom.h"
#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pg.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_phone.h"
#include "ecm_sms_text.h"
#include "ecm_utf8.h"
#include "ecm_window.h"
#include "gw_csv.h"
#include "gw_dnc_upload.h"
#include "gw_json.h"
#include "gw_jsonarr.h"
#include "gw_upload_lease.h"

#define GW_NAME_MAX_CHARS 50
#define GW_TZ_MAX_BYTES 64
#define GW_PHONE_MAX_BYTES 64
#define GW_HEADER_MAX_COLUMNS 1000
#define GW_FLUSH_TRIES 3
/* The duplicate filter of an upload: 2^26 bits = 8 MiB, whatever the file
 * (about 1 number in 6,000 looked up for nothing at 2 M numbers). */
#define GW_UPLOAD_FILTER_LOG2_BITS 26
/* A batch is loaded when it holds upload_batch rows or this many bytes of
 * raw rows, whichever comes first, so memory stays bounded even for rows
 * near the record limit. */
#define GW_BATCH_MAX_BYTES (8u << 20)
/* Validation threads per upload: libphonenumber costs tens of microseconds
 * a number, far more than the COPY of the row. */
#define GW_UPLOAD_THREADS_MAX 16
#define GW_ROWS_PER_THREAD_MIN 256
#define GW_REPORT_PAGE_DEFAULT 100
#define GW_REPORT_PAGE_MAX 1000
/* pg_advisory_xact_lock(classid, campaign) that serialises the loading of
 * batches into one campaign ("ECUP"), so that two uploads cannot both load
 * one number. */
#define GW_UPLOAD_LOCK_CLASS 0x45435550
#define GW_TOPIC_CLOSED_DEFAULT "contacts.closed"

/* ---- buffers ---------------------------------------------------------- */

int gw_buf_add(gw_buf *b, const char *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->len + n + 1) {
            c *= 2;
        }
        char *s = realloc(b->s, c);
        if (!s) {
            return -1;
        }
        b->s = s;
        b->cap = c;
    }
    if (n) {
        memcpy(b->s + b->len, data, n);
    }
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static int buf_str(gw_buf *b, const char *s)
{
    return gw_buf_add(b, s, strlen(s));
}

int gw_buf_add_copy(gw_buf *b, const char *s, size_t n, int as_null)
{
    if (n == 0 && as_null) {
        return gw_buf_add(b, "\\N", 2);
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = NULL;
        switch (s[i]) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue;
        }
        if (gw_buf_add(b, s + start, i - start) != 0 || gw_buf_add(b, esc, 2) != 0) {
            return -1;
        }
        start = i + 1;
    }
    return gw_buf_add(b, s + start, n - start);
}

void gw_buf_free(gw_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

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

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) {
        (*len)--;
    }
}

/* ---- header ----------------------------------------------------------- */

enum { COL_CUSTOM = -1 };

struct gw_upload_header {
    size_t ncols;
    int account, first, last, tz; /* column index or -1 */
    int phone[GW_PHONE_COLUMNS];
    char **custom;           /* per column: the custom field name, or NULL when known */
    unsigned char *required; /* per column: the message template uses it; NULL: none */
};

void gw_upload_header_free(gw_upload_header *h)
{
    if (!h) {
        return;
    }
    if (h->custom) {
        for (size_t i = 0; i < h->ncols; i++) {
            free(h->custom[i]);
        }
    }
    free(h->custom);
    free(h->required);
    free(h);
}

static int name_is(const char *s, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(s, name, len) == 0;
}

/* Writes the reason, frees h; returns NULL for the caller to pass on. */
static gw_upload_header *header_fail(gw_upload_header *h, char *errstr, size_t errstr_size,
                                     const char *msg)
{
    if (errstr_size) {
        (void)snprintf(errstr, errstr_size, "header: %s", msg);
    }
    gw_upload_header_free(h);
    return NULL;
}

gw_upload_header *gw_upload_header_parse(size_t nfields, const char *const *fields,
                                         const size_t *lens, char *errstr, size_t errstr_size)
{
    char msg[128];
    if (nfields > GW_HEADER_MAX_COLUMNS) {
        (void)ecm_utf8_format(msg, sizeof(msg), "more than %d columns", GW_HEADER_MAX_COLUMNS);
        return header_fail(NULL, errstr, errstr_size, msg);
    }
    gw_upload_header *h = calloc(1, sizeof(*h));
    if (!h || !(h->custom = calloc(nfields ? nfields : 1, sizeof(char *)))) {
        return header_fail(h, errstr, errstr_size, "out of memory");
    }
    h->ncols = nfields;
    h->account = h->first = h->last = h->tz = -1;
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        h->phone[k] = -1;
    }
    int nphones = 0;
    for (size_t i = 0; i < nfields; i++) {
        const char *s = fields[i];
        size_t len = lens[i];
        trim(&s, &len);
        if (!ecm_utf8_text_ok(s, len)) {
            (void)ecm_utf8_format(msg, sizeof(msg), "column %zu is not valid UTF-8", i + 1);
            return header_fail(h, errstr, errstr_size, msg);
        }
        if (len == 0) {
            (void)ecm_utf8_format(msg, sizeof(msg), "column %zu has no name", i + 1);
            return header_fail(h, errstr, errstr_size, msg);
        }
        for (size_t j = 0; j < i; j++) {
            const char *t = fields[j];
            size_t tlen = lens[j];
            trim(&t, &tlen);
            if (tlen == len && strncasecmp(s, t, len) == 0) {
                char shown[GW_UPLOAD_EXCERPT_SIZE];
                ecm_utf8_excerpt(shown, sizeof(shown), s, len, GW_UPLOAD_EXCERPT_CHARS);
                (void)ecm_utf8_format(msg, sizeof(msg), "column %zu: '%s' appears twice", i + 1,
                                      shown);
                return header_fail(h, errstr, errstr_size, msg);
            }
        }
        int *slot = NULL;
        if (name_is(s, len, "account_number")) {
            slot = &h->account;
        } else if (name_is(s, len, "first_name")) {
            slot = &h->first;
        } else if (name_is(s, len, "last_name")) {
            slot = &h->last;
        } else if (name_is(s, len, "time_zone")) {
            slot = &h->tz;
        } else {
            for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
                char pname[16];
                (void)snprintf(pname, sizeof(pname), "phone%d", k + 1);
                if (name_is(s, len, pname)) {
                    slot = &h->phone[k];
                    nphones++;
                    break;
                }
            }
        }
        if (slot) {
            *slot = (int)i;
        } else if (!(h->custom[i] = strndup(s, len))) {
            return header_fail(h, errstr, errstr_size, "out of memory");
        }
    }
    if (nphones == 0) {
        return header_fail(h, errstr, errstr_size, "no phone column (expected phone1 .. phone10)");
    }
    return h;
}

typedef struct {
    gw_upload_header *h;
    char *errstr;
    size_t errstr_size;
} template_ctx;

static int template_field(void *vctx, const char *name)
{
    template_ctx *t = vctx;
    gw_upload_header *h = t->h;
    int col = -1;
    if (strcmp(name, "account_number") == 0) {
        col = h->account;
    } else if (strcmp(name, "first_name") == 0) {
        col = h->first;
    } else if (strcmp(name, "last_name") == 0) {
        col = h->last;
    } else {
        for (size_t i = 0; i < h->ncols && col < 0; i++) {
            if (h->custom[i] && strcmp(h->custom[i], name) == 0) {
                col = (int)i;
            }
        }
    }
    if (col < 0) {
        char shown[GW_UPLOAD_EXCERPT_SIZE];
        (void)ecm_utf8_format(t->errstr, t->errstr_size,
                              "the message template uses {%s}, which is not a column of the file",
                              ecm_utf8_quote(shown, sizeof(shown), name, GW_UPLOAD_EXCERPT_CHARS));
        return 1;
    }
    h->required[col] = 1;
    return 0;
}

int gw_upload_header_use_template(gw_upload_header *h, const char *tmpl, char *errstr,
                                  size_t errstr_size)
{
    if (!h->required && !(h->required = calloc(h->ncols ? h->ncols : 1, 1))) {
        (void)snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    template_ctx t = {h, errstr, errstr_size};
    int rc = ecm_sms_template_foreach(tmpl, template_field, &t, errstr, errstr_size);
    return rc < 0 ? -1 : rc > 0 ? 1 : 0;
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
    gw_buf num;
    gw_buf phones, types, zones;
    char value[GW_PHONE_MAX_BYTES + 1];
};

gw_upload_scratch *gw_upload_scratch_new(void)
{
    return calloc(1, sizeof(gw_upload_scratch));
}

void gw_upload_scratch_free(gw_upload_scratch *s)
{
    if (!s) {
        return;
    }
    free(s->cname);
    free(s->cval);
    free(s->creq);
    gw_buf_free(&s->num);
    gw_buf_free(&s->phones);
    gw_buf_free(&s->types);
    gw_buf_free(&s->zones);
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
    (void)snprintf(s->zone[slot].region, sizeof(s->zone[slot].region), "%s", info->region);
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
} row_view;

static span trimmed(const char *s, size_t n)
{
    trim(&s, &n);
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

/* Appends "{a,b}" with each element double-quoted. */
static int add_array_literal(gw_buf *b, const gw_buf *items, int n)
{
    if (gw_buf_add(b, "{", 1) != 0) {
        return -1;
    }
    const char *p = items->s;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(p);
        if ((i && gw_buf_add(b, ",", 1) != 0) || gw_buf_add(b, "\"", 1) != 0 ||
            gw_buf_add(b, p, len) != 0 || gw_buf_add(b, "\"", 1) != 0) {
            return -1;
        }
        p += len + 1;
    }
    return gw_buf_add(b, "}", 1);
}

static int add_custom(gw_upload_scratch *s, const row_view *v, gw_buf *out)
{
    if (v->ncustom == 0) {
        return gw_buf_add(out, "{}", 2);
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
    rc = gw_buf_add_copy(out, text, strlen(text), 0);
    free(text);
    return rc;
}

/* Validates v and appends the fragment and numbers to out (see
 * gw_upload_row). Returns 0, 1 (reason) or -1. */
static int row_build(const gw_upload_rules *rules, gw_upload_scratch *s, long long line,
                     const row_view *v, gw_buf *out, gw_upload_row *row, char *reason,
                     size_t reason_size)
{
    const span *known[] = {&v->account, &v->first, &v->last, &v->tz};
    for (size_t k = 0; k < 4; k++) {
        if (check_text(known[k], known_names[k], reason, reason_size)) {
            return 1;
        }
    }
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        char label[16];
        (void)snprintf(label, sizeof(label), "phone%d", k + 1);
        if (check_text(&v->phone[k], label, reason, reason_size)) {
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

    s->phones.len = s->types.len = s->zones.len = 0;
    int nphones = 0, may_be_mobile = 0;
    ecm_phone_info first_info;
    int first_col = 0;
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        const span *p = &v->phone[k];
        if (p->n == 0) {
            continue;
        }
        char shown[GW_UPLOAD_EXCERPT_SIZE], why[96];
        quote_raw(shown, sizeof(shown), p->s, p->n);
        if (p->n > GW_PHONE_MAX_BYTES) {
            (void)ecm_utf8_format(reason, reason_size, "phone%d: '%s' too long", k + 1, shown);
            return 1;
        }
        memcpy(s->value, p->s, p->n);
        s->value[p->n] = '\0';
        ecm_phone_info info;
        int prc = ecm_phone_normalize(s->value, rules->region, &info, why, sizeof(why));
        if (prc != 0 && p->n > 2 && p->s[0] == '0' && p->s[1] == '0') {
            /* "00" is the international prefix of most of the world; where
             * it is not the region's own (US: 011), a national number
             * cannot start with it either, so read it as '+'. */
            char plus[GW_PHONE_MAX_BYTES + 1], why2[96];
            (void)snprintf(plus, sizeof(plus), "+%s", s->value + 2);
            prc = ecm_phone_normalize(plus, NULL, &info, why2, sizeof(why2)) == 0 ? 0 : prc;
        }
        if (prc != 0) {
            if (strcmp(why, "out of memory") == 0) {
                return -1;
            }
            (void)ecm_utf8_format(reason, reason_size, "phone%d: '%s' %s", k + 1, shown, why);
            return 1;
        }
        /* The same number twice in one row is one number. */
        int seen = 0;
        for (const char *q = s->phones.s; q && q < s->phones.s + s->phones.len;
             q += strlen(q) + 1) {
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
        if (gw_buf_add(&s->phones, info.e164, strlen(info.e164) + 1) != 0 ||
            gw_buf_add(&s->types, tname, strlen(tname) + 1) != 0 ||
            gw_buf_add(&s->zones, zone, strlen(zone) + 1) != 0) {
            return -1;
        }
        may_be_mobile = may_be_mobile || ecm_phone_type_may_be_mobile(info.type);
        nphones++;
    }
    if (nphones == 0) {
        (void)ecm_utf8_format(reason, reason_size, "no phone number (phone1 .. phone10 are empty)");
        return 1;
    }
    if (rules->sms && !may_be_mobile) {
        (void)ecm_utf8_format(reason, reason_size, "no number that can take SMS (phone%d %s is %s)",
                              first_col, first_info.e164, ecm_phone_type_name(first_info.type));
        return 1;
    }

    size_t start = out->len;
    char num[32];
    (void)snprintf(num, sizeof(num), "%lld\t", line);
    int rc = buf_str(out, num);
    for (size_t k = 0; rc == 0 && k < 3; k++) {
        rc = gw_buf_add_copy(out, known[k]->s, known[k]->n, 1) || gw_buf_add(out, "\t", 1);
    }
    if (rc == 0) {
        rc = add_array_literal(out, &s->phones, nphones) || gw_buf_add(out, "\t", 1) ||
             add_custom(s, v, out) || gw_buf_add(out, "\t", 1) ||
             gw_buf_add_copy(out, v->tz.s, v->tz.n, 1) || gw_buf_add(out, "\t", 1) ||
             add_array_literal(out, &s->types, nphones) || gw_buf_add(out, "\t", 1) ||
             add_array_literal(out, &s->zones, nphones);
    }
    size_t copy_len = out->len - start;
    size_t phones_off = out->len;
    if (rc == 0) {
        rc = gw_buf_add(out, s->phones.s, s->phones.len);
    }
    if (rc != 0) {
        out->len = start;
        out->s[start] = '\0';
        (void)ecm_utf8_format(reason, reason_size, "out of memory");
        return -1;
    }
    row->copy_off = start;
    row->copy_len = copy_len;
    row->phones_off = phones_off;
    row->nphones = nphones;
    return 0;
}

int gw_upload_row_csv(const gw_upload_header *h, const gw_upload_rules *rules, gw_upload_scratch *s,
                      long long line, size_t nfields, const char *const *fields, const size_t *lens,
                      gw_buf *out, gw_upload_row *row, char *reason, size_t reason_size)
{
    if (nfields != h->ncols) {
        (void)ecm_utf8_format(reason, reason_size, "expected %zu fields, found %zu", h->ncols,
                              nfields);
        return 1;
    }
    row_view v;
    memset(&v, 0, sizeof(v));
    span *known[] = {&v.account, &v.first, &v.last, &v.tz};
    const int idx[] = {h->account, h->first, h->last, h->tz};
    for (size_t k = 0; k < 4; k++) {
        if (idx[k] >= 0) {
            *known[k] = trimmed(fields[idx[k]], lens[idx[k]]);
        }
    }
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        if (h->phone[k] >= 0) {
            v.phone[k] = trimmed(fields[h->phone[k]], lens[h->phone[k]]);
        }
    }
    if (scratch_custom_room(s, h->ncols) != 0) {
        (void)ecm_utf8_format(reason, reason_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nfields; i++) {
        if (h->custom[i]) {
            s->creq[v.ncustom] = h->required ? h->required[i] : 0;
            s->cname[v.ncustom] = h->custom[i];
            s->cval[v.ncustom++] = (span){fields[i], lens[i]};
        }
    }
    for (size_t k = 0; h->required && k < 3; k++) {
        if (idx[k] >= 0 && h->required[idx[k]]) {
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
    size_t off = s->num.len;
    if (gw_buf_add(&s->num, tmp, (size_t)n + 1) != 0) {
        return -1;
    }
    *out = (span){(const char *)(uintptr_t)off, (size_t)n};
    return 2;
}

int gw_upload_row_json(const gw_upload_rules *rules, gw_upload_scratch *s, long long line,
                       const char *text, size_t len, gw_buf *out, gw_upload_row *row, char *reason,
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
    span *known[] = {&v.account, &v.first, &v.last, &v.tz};
    unsigned char from_num[4 + GW_PHONE_COLUMNS] = {0};
    int rc = 0;
    s->num.len = 0;
    if (scratch_custom_room(s, json_object_size(obj) + 1) != 0) {
        rc = -1;
    }
    unsigned char *custom_num = NULL;
    if (rc == 0 && !(custom_num = calloc(json_object_size(obj) + 1, 1))) {
        rc = -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        if (rc != 0) {
            break;
        }
        size_t klen = strlen(key);
        span *slot = NULL;
        int slot_idx = -1;
        for (size_t k = 0; k < 4 && !slot; k++) {
            if (name_is(key, klen, known_names[k])) {
                slot = known[k];
                slot_idx = (int)k;
            }
        }
        for (int k = 0; k < GW_PHONE_COLUMNS && !slot; k++) {
            char pname[16];
            (void)snprintf(pname, sizeof(pname), "phone%d", k + 1);
            if (name_is(key, klen, pname)) {
                slot = &v.phone[k];
                slot_idx = 4 + k;
            }
        }
        if (slot && slot->s) {
            char shown[GW_UPLOAD_EXCERPT_SIZE];
            (void)ecm_utf8_format(
                reason, reason_size, "'%s' appears twice",
                ecm_utf8_quote(shown, sizeof(shown), key, GW_UPLOAD_EXCERPT_CHARS));
            rc = 1;
            break;
        }
        span sp;
        int vr = json_value_span(s, val, &sp);
        if (vr < 0) {
            rc = -1;
            break;
        }
        if (vr == 1) {
            char shown[GW_UPLOAD_EXCERPT_SIZE];
            (void)ecm_utf8_format(
                reason, reason_size, "%s: must be a string or a number",
                ecm_utf8_quote(shown, sizeof(shown), key, GW_UPLOAD_EXCERPT_CHARS));
            rc = 1;
            break;
        }
        if (slot) {
            *slot = sp;
            from_num[slot_idx] = vr == 2;
        } else {
            custom_num[v.ncustom] = vr == 2;
            s->creq[v.ncustom] = 0;
            s->cname[v.ncustom] = key;
            s->cval[v.ncustom++] = sp;
        }
    }
    if (rc == 0) {
        /* Now that s->num no longer moves, offsets become pointers. */
        for (size_t k = 0; k < 4; k++) {
            if (from_num[k]) {
                known[k]->s = s->num.s + (uintptr_t)known[k]->s;
            }
            if (known[k]->s) {
                *known[k] = trimmed(known[k]->s, known[k]->n);
            }
        }
        for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
            if (from_num[4 + k]) {
                v.phone[k].s = s->num.s + (uintptr_t)v.phone[k].s;
            }
            if (v.phone[k].s) {
                v.phone[k] = trimmed(v.phone[k].s, v.phone[k].n);
            }
        }
        for (size_t i = 0; i < v.ncustom; i++) {
            if (custom_num[i]) {
                s->cval[i].s = s->num.s + (uintptr_t)s->cval[i].s;
            }
        }
        for (size_t r = 0; rc == 0 && r < rules->nrequired; r++) {
            const char *name = rules->required[r];
            int found = 0;
            for (size_t k = 0; k < 3 && !found; k++) {
                if (strcmp(name, known_names[k]) == 0) {
                    v.req_known |= 1u << k;
                    found = 1;
                }
            }
            for (size_t i = 0; i < v.ncustom && !found; i++) {
                if (strcmp(name, s->cname[i]) == 0) {
                    s->creq[i] = 1;
                    found = 1;
                }
            }
            if (!found) {
                char shown[GW_UPLOAD_EXCERPT_SIZE];
                ecm_utf8_quote(shown, sizeof(shown), name, GW_UPLOAD_EXCERPT_CHARS);
                (void)ecm_utf8_format(reason, reason_size,
                                      "%s: missing, but the message template uses {%s}", shown,
                                      shown);
                rc = 1;
            }
        }
        int any_phone_column = 0;
        for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
            any_phone_column = any_phone_column || v.phone[k].s != NULL;
        }
        if (rc == 0 && !any_phone_column) {
            (void)ecm_utf8_format(reason, reason_size,
                                  "no phone number (phone1 .. phone10 are missing)");
            rc = 1;
        }
        if (rc == 0) {
            rc = row_build(rules, s, line, &v, out, row, reason, reason_size);
        }
    }
    if (rc < 0) {
        (void)ecm_utf8_format(reason, reason_size, "out of memory");
    }
    free(custom_num);
    json_decref(obj);
    return rc;
}

/* ---- report and content type (shared with gw_dnc_upload) ------------- */

int gw_upload_report_add(gw_buf *rows, long long upload_id, long long line, const char *kind,
                         const char *reason)
{
    char head[80];
    int n = snprintf(head, sizeof(head), "%lld\t%lld\t%s\t", upload_id, line, kind);
    if (n < 0 || (size_t)n >= sizeof(head)) {
        return -1;
    }
    /* PostgreSQL refuses ill-formed UTF-8, and the refusal would roll back
     * the batch: a reason is made valid here whatever built it. */
    char text[GW_UPLOAD_REASON_MAX];
    size_t len = ecm_utf8_copy(text, sizeof(text), reason, strlen(reason));
    return gw_buf_add(rows, head, (size_t)n) || gw_buf_add_copy(rows, text, len, 0) ||
                   gw_buf_add(rows, "\n", 1)
               ? -1
               : 0;
}

int gw_upload_report_copy(ecm_pg *pg, const gw_buf *rows)
{
    if (rows->len == 0) {
        return 0;
    }
    if (ecm_pg_copy_begin(pg, "COPY upload_rows (upload_id, line_no, kind, reason) FROM STDIN") !=
            0 ||
        ecm_pg_copy_put(pg, rows->s, rows->len) != 0 || ecm_pg_copy_end(pg) != 0) {
        return -1;
    }
    return 0;
}

gw_body_kind gw_upload_body_kind(const char *ct)
{
    if (!ct) {
        return GW_BODY_UNSUPPORTED;
    }
    while (*ct == ' ') {
        ct++;
    }
    size_t n = strcspn(ct, ";");
    size_t m = n;
    while (m > 0 && ct[m - 1] == ' ') {
        m--;
    }
    gw_body_kind kind = GW_BODY_UNSUPPORTED;
    if ((m == 8 && strncasecmp(ct, "text/csv", 8) == 0) ||
        (m == 15 && strncasecmp(ct, "application/csv", 15) == 0)) {
        kind = GW_BODY_CSV;
    } else if (m == 16 && strncasecmp(ct, "application/json", 16) == 0) {
        kind = GW_BODY_JSON;
    } else {
        return GW_BODY_UNSUPPORTED;
    }
    const char *cs = NULL;
    for (const char *p = ct + n; *p && !cs; p++) {
        if (strncasecmp(p, "charset=", 8) == 0) {
            cs = p;
        }
    }
    if (!cs) {
        return kind;
    }
    cs += 8;
    if (*cs == '"') {
        cs++;
    }
    return strncasecmp(cs, "utf-8", 5) == 0 || strncasecmp(cs, "utf8", 4) == 0 ||
                   strncasecmp(cs, "us-ascii", 8) == 0
               ? kind
               : GW_BODY_UNSUPPORTED;
}

/* ---- the streamed upload ---------------------------------------------- */

#define COPY_CONTACTS_SQL                                                                          \
    "COPY contacts (id, campaign_id, upload_id, line_no, account_number, first_name, last_name, "  \
    "phones, custom, time_zone, phone_types, phone_zones, state, outcome, closed_at) FROM STDIN"

/* A row as it arrived: CSV fields (each a size_t length, the bytes and a
 * NUL) or a JSON item's text, at off in the raw arena. */
typedef struct {
    long long line;
    size_t off, len;
    size_t nfields; /* CSV only */
} raw_row;

/* What validation made of row i: its fragment (gw_upload_row) in worker w's
 * output of the batch, or a rejection with the reason at reason_off there. */
typedef struct {
    int rejected;
    int w;
    gw_upload_row row;
    size_t reason_off;
} row_result;

/* A batch of raw rows and what validation made of them. */
typedef struct {
    gw_buf raw;
    raw_row *rows;
    row_result *res;
    size_t nrows, cap;
    gw_buf out[GW_UPLOAD_THREADS_MAX]; /* per worker: fragments, numbers, reasons */
    /* The upload's totals once this batch is in, written with it, and its
     * checkpoint: the last line it holds and the SHA-256 (hex) of the
     * body's first bytes_read bytes. */
    long long rows_read, bytes_read;
    long long last_line;
    char sha[EVP_MAX_MD_SIZE * 2 + 1];
    int64_t validate_ms;
} batch;

typedef struct upload upload;

typedef struct {
    upload *u;
    batch *b;
    size_t first, count;
    gw_upload_scratch *scratch;
    const char **fields;
    size_t *lens;
    size_t fcap;
    int failed; /* out of memory */
    pthread_t thread;
} worker;

struct upload {
    const gw_app *app;
    long long campaign_id;
    long long upload_id;
    Ecm__V1__Channel channel;
    char region[16];
    char *sms_template; /* sms campaigns: placeholders must be columns */
    char **required;    /* JSON uploads of an sms campaign: the placeholders */
    size_t nrequired;
    gw_upload_rules rules;
    int json;
    gw_csv *csv;
    gw_jsonarr *jarr;
    gw_upload_header *header;

    /* Two batches: while the loader thread writes one to the database, the
     * request's thread reads and validates the next into the other. So
     * memory holds two batches whatever the file size. */
    batch batches[2];
    batch *cur; /* the one being read */
    worker workers[GW_UPLOAD_THREADS_MAX];
    int nworkers;
    pthread_t loader;
    int loader_running;
    batch *loading; /* the loader's batch */
    int load_rc;    /* 0, or -1 once a batch could not be loaded */

    /* The loader's filter of the numbers the campaign may already have
     * (filled from contact_phones before the first batch, then with every
     * number loaded): only the numbers it says "maybe" are looked up. A
     * number another upload loads meanwhile is not in it; the unique index
     * of contact_phones refuses that batch and it is loaded again with
     * every number looked up. NULL until the first batch. */
    ecm_bloom *seen;
    long long seen_lookups, seen_skipped, seen_rechecks;

    /* rows_read and bytes_read belong to the request's thread; the other
     * counts and errors to the loader while it runs (loader_wait first). */
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
    int admitted; /* holds a gw_upload_limits slot, given back by upload_free */
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

static void upload_error_answer(upload *u, long long line, const char *reason)
{
    if (json_array_size(u->errors) < GW_UPLOAD_ERRORS_ANSWER) {
        json_array_append_new(u->errors,
                              json_pack("{so ss}", "line",
                                        line > 0 ? json_integer((json_int_t)line) : json_null(),
                                        "reason", reason));
    }
}

static void upload_fail(upload *u, int status, const char *type, const char *title,
                        const char *detail)
{
    if (u->fail_status) {
        return; /* the first failure is the one to report */
    }
    u->fail_status = status;
    u->fail_type = type;
    u->fail_title = title;
    (void)ecm_utf8_format(u->fail_detail, sizeof(u->fail_detail), "%s", detail);
}

/* Waits for the batch being loaded, if any. Returns 0, or -1 when a batch
 * could not be loaded (that stays so). Afterwards the counts and errors
 * are the caller's to read. */
static int loader_wait(upload *u)
{
    if (u->loader_running) {
        (void)pthread_join(u->loader, NULL);
        u->loader_running = 0;
    }
    return u->load_rc;
}

/* A failure that belongs to a line of the file (a header that cannot be
 * used, a record the reader cannot get past): reported like a rejected row. */
static void upload_fail_line(upload *u, long long line, const char *reason)
{
    if (u->fail_line == 0 && line > 0) {
        u->fail_line = line;
        (void)ecm_utf8_format(u->fail_reason, sizeof(u->fail_reason), "%s", reason);
    }
    (void)loader_wait(u); /* errors are the loader's while it runs */
    upload_error_answer(u, line, reason);
}

/* ---- validation, on a few threads ---- */

static int worker_fields_room(worker *w, size_t n)
{
    if (n <= w->fcap) {
        return 0;
    }
    size_t c = w->fcap ? w->fcap : 16;
    while (c < n) {
        c *= 2;
    }
    const char **f = realloc(w->fields, c * sizeof(*f));
    if (!f) {
        return -1;
    }
    w->fields = f;
    size_t *l = realloc(w->lens, c * sizeof(*l));
    if (!l) {
        return -1;
    }
    w->lens = l;
    w->fcap = c;
    return 0;
}

static int validate_one(worker *w, size_t i)
{
    upload *u = w->u;
    batch *b = w->b;
    const raw_row *r = &b->rows[i];
    row_result *res = &b->res[i];
    int wi = (int)(w - u->workers);
    gw_buf *out = &b->out[wi];
    char reason[256];
    int rc;
    const char *p = b->raw.s + r->off;
    res->w = wi;
    if (u->json) {
        rc = gw_upload_row_json(&u->rules, w->scratch, r->line, p, r->len, out, &res->row, reason,
                                sizeof(reason));
    } else {
        if (worker_fields_room(w, r->nfields ? r->nfields : 1) != 0) {
            return -1;
        }
        for (size_t k = 0; k < r->nfields; k++) {
            size_t n;
            memcpy(&n, p, sizeof(n));
            w->fields[k] = p + sizeof(n);
            w->lens[k] = n;
            p += sizeof(n) + n + 1;
        }
        rc = gw_upload_row_csv(u->header, &u->rules, w->scratch, r->line, r->nfields, w->fields,
                               w->lens, out, &res->row, reason, sizeof(reason));
    }
    if (rc < 0) {
        return -1;
    }
    res->rejected = rc;
    if (rc > 0) {
        res->reason_off = out->len;
        if (gw_buf_add(out, reason, strlen(reason) + 1) != 0) {
            return -1;
        }
    }
    return 0;
}

static void *worker_run(void *arg)
{
    worker *w = arg;
    for (size_t i = w->first; i < w->first + w->count && !w->failed; i++) {
        if (validate_one(w, i) != 0) {
            w->failed = 1;
        }
    }
    return NULL;
}

/* Validates batch b, contiguous slices on up to nworkers threads (the
 * calling thread takes the first). Returns 0 or -1 (out of memory). */
static int validate_batch(upload *u, batch *b)
{
    size_t n = b->nrows;
    size_t want = (n + GW_ROWS_PER_THREAD_MIN - 1) / GW_ROWS_PER_THREAD_MIN;
    int nw = (int)(want < (size_t)u->nworkers ? want : (size_t)u->nworkers);
    if (nw < 1) {
        nw = 1;
    }
    /* Helpers come from the process's budget, shared with other uploads. */
    int helpers = gw_upload_limits_threads_take(u->app->upload_limits, nw - 1);
    nw = 1 + helpers;
    size_t per = (n + (size_t)nw - 1) / (size_t)nw, first = 0;
    int started[GW_UPLOAD_THREADS_MAX] = {0};
    for (int k = 0; k < nw; k++) {
        worker *w = &u->workers[k];
        w->b = b;
        b->out[k].len = 0;
        w->failed = 0;
        w->first = first;
        w->count = first + per <= n ? per : n - first;
        first += w->count;
        if (k > 0 && pthread_create(&w->thread, NULL, worker_run, w) == 0) {
            started[k] = 1;
        }
    }
    for (int k = 0; k < nw; k++) {
        if (!started[k]) {
            (void)worker_run(&u->workers[k]);
        }
    }
    int failed = 0;
    for (int k = 0; k < nw; k++) {
        if (started[k]) {
            (void)pthread_join(u->workers[k].thread, NULL);
        }
        failed = failed || u->workers[k].failed;
    }
    gw_upload_limits_threads_give(u->app->upload_limits, helpers);
    return failed ? -1 : 0;
}

/* ---- loading a batch ---- */

/* Open addressing set of the batch's numbers: what the DB and the batch
 * itself say about each. */
typedef struct {
    const char *phone;
    long long upload_id; /* of the contact that has it; 0: none */
    long long line;
    int dnc;
} phone_entry;

typedef struct {
    phone_entry *slots;
    size_t mask;
} phone_set;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return h;
}

static int phone_set_init(phone_set *ps, size_t n)
{
    size_t cap = 64;
    while (cap < 2 * n + 1) {
        cap *= 2;
    }
    ps->slots = calloc(cap, sizeof(*ps->slots));
    ps->mask = cap - 1;
    return ps->slots ? 0 : -1;
}

/* The entry of phone, made (empty) if it is not there yet. */
static phone_entry *phone_set_get(phone_set *ps, const char *phone)
{
    for (size_t i = hash_str(phone) & ps->mask;; i = (i + 1) & ps->mask) {
        phone_entry *e = &ps->slots[i];
        if (!e->phone) {
            e->phone = phone;
            return e;
        }
        if (strcmp(e->phone, phone) == 0) {
            return e;
        }
    }
}

enum { ROW_REJECTED, ROW_DUPLICATE, ROW_LOAD, ROW_LOAD_DNC };

typedef struct {
    long long loaded, rejected, duplicate, dnc;
    /* Where the load's time went, for the debug log (ms). */
    long long ms_lookup, ms_contacts, ms_phones, ms_outbox, ms_commit;
    long long looked_up; /* numbers looked up in contact_phones */
} batch_counts;

static const char *row_phones(const batch *b, const row_result *r)
{
    return b->out[r->w].s + r->row.phones_off;
}

/* Decides each row of the batch (duplicate, DNC, load) against what the DB
 * holds, writing the report lines; fills decision[] and the counts. */
static int decide_rows(const upload *u, const batch *b, phone_set *ps, unsigned char *decision,
                       gw_buf *report, batch_counts *bc)
{
    char reason[256];
    for (size_t i = 0; i < b->nrows; i++) {
        const row_result *r = &b->res[i];
        long long line = b->rows[i].line;
        if (r->rejected) {
            decision[i] = ROW_REJECTED;
            bc->rejected++;
            if (gw_upload_report_add(report, u->upload_id, line, "rejected",
                                     b->out[r->w].s + r->reason_off) != 0) {
                return -1;
            }
            continue;
        }
        const char *p = row_phones(b, r);
        const phone_entry *dup = NULL;
        int all_dnc = 1;
        for (int k = 0; k < r->row.nphones; k++, p += strlen(p) + 1) {
            phone_entry *e = phone_set_get(ps, p);
            if (e->line > 0 && !dup) {
                dup = e;
            }
            all_dnc = all_dnc && e->dnc;
        }
        if (dup) {
            decision[i] = ROW_DUPLICATE;
            bc->duplicate++;
            if (dup->upload_id == u->upload_id) {
                (void)ecm_utf8_format(reason, sizeof(reason),
                                      "%s is already on line %lld of this file", dup->phone,
                                      dup->line);
            } else {
                (void)ecm_utf8_format(
                    reason, sizeof(reason),
                    "%s is already a contact of this campaign (upload %lld, line %lld)", dup->phone,
                    dup->upload_id, dup->line);
            }
            if (gw_upload_report_add(report, u->upload_id, line, "duplicate", reason) != 0) {
                return -1;
            }
            continue;
        }
        p = row_phones(b, r);
        for (int k = 0; k < r->row.nphones; k++, p += strlen(p) + 1) {
            phone_entry *e = phone_set_get(ps, p);
            e->upload_id = u->upload_id;
            e->line = line;
        }
        bc->loaded++;
        decision[i] = all_dnc ? ROW_LOAD_DNC : ROW_LOAD;
        if (all_dnc) {
            bc->dnc++;
            size_t used = (size_t)snprintf(reason, sizeof(reason), "on the DNC list:");
            p = row_phones(b, r);
            for (int k = 0; k < r->row.nphones && used < sizeof(reason); k++) {
                used += (size_t)snprintf(reason + used, sizeof(reason) - used, "%s %s",
                                         k ? "," : "", p);
                p += strlen(p) + 1;
            }
            if (gw_upload_report_add(report, u->upload_id, line, "dnc", reason) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* Writes the counts of u plus the batch's bc (may be NULL), rows_read,
 * bytes_read and state (when not NULL: the lease ends with it; NULL: the
 * lease is renewed) on pg, inside or outside a transaction; with cp, the
 * checkpoint of that batch too. Fenced: only while the upload is
 * 'running' and this process owns it. Returns 0, 1 when fenced (nothing
 * written) or -1. */
static int upload_save(ecm_pg *pg, const upload *u, long long rows_read, long long bytes_read,
                       const batch_counts *bc, const char *state, const batch *cp)
{
    static const batch_counts none = {0};
    if (!bc) {
        bc = &none;
    }
    char v[9][24];
    (void)snprintf(v[0], sizeof(v[0]), "%lld", u->upload_id);
    (void)snprintf(v[1], sizeof(v[1]), "%lld", rows_read);
    (void)snprintf(v[2], sizeof(v[2]), "%lld", u->rows_loaded + bc->loaded);
    (void)snprintf(v[3], sizeof(v[3]), "%lld", u->rows_rejected + bc->rejected);
    (void)snprintf(v[4], sizeof(v[4]), "%lld", u->rows_duplicate + bc->duplicate);
    (void)snprintf(v[5], sizeof(v[5]), "%lld", u->rows_dnc + bc->dnc);
    (void)snprintf(v[6], sizeof(v[6]), "%lld", bytes_read);
    (void)snprintf(v[7], sizeof(v[7]), "%lld", cp ? cp->last_line : 0);
    (void)snprintf(v[8], sizeof(v[8]), "%lld", cp ? cp->bytes_read : 0);
    const gw_upload_lease *l = u->app->upload_lease;
    const char *params[] = {v[0],
                            v[1],
                            v[2],
                            v[3],
                            v[4],
                            v[5],
                            v[6],
                            state,
                            gw_upload_lease_owner(l),
                            gw_upload_lease_interval(l),
                            cp ? v[7] : NULL,
                            cp ? v[8] : NULL,
                            cp ? cp->sha : NULL};
    PGresult *r = ecm_pg_exec(
        pg,
        "UPDATE uploads SET rows_read = $2, rows_loaded = $3, rows_rejected = $4, "
        "rows_duplicate = $5, rows_dnc = $6, bytes_read = $7, state = coalesce($8, state), "
        "finished_at = CASE WHEN $8 IN ('done', 'failed') THEN now() END, "
        "interrupted_at = CASE WHEN $8 = 'interrupted' THEN now() END, "
        "lease_until = CASE WHEN $8 IS NULL THEN now() + $10::interval END, "
        "committed_line = coalesce($11::bigint, committed_line), "
        "committed_bytes = coalesce($12::bigint, committed_bytes), "
        "committed_sha256 = coalesce($13, committed_sha256) "
        "WHERE id = $1 AND owner = $9 AND state = 'running' RETURNING id",
        13, params);
    int rc = !r ? -1 : PQntuples(r) == 1 ? 0 : 1;
    PQclear(r);
    return rc;
}

/* The batch's first round trip: the campaign's upload lock, JIT off for
 * the transaction (a lookup of thousands of numbers is costed high enough
 * for JIT, whose compiling takes longer than the probes) and an id for each
 * row that may load ($3: the rows validation kept; duplicates leave gaps in
 * the sequence, as sequences do), and whether any DNC list applies to the
 * campaign at all (if none, the batch's numbers are not looked up there).
 * Round trips, not rows, are what a batch waits on when the machine is
 * busy. */
static const char SQL_LOCK_IDS[] =
    "SELECT nextval('contacts_id_seq'), l.dnc FROM "
    "(SELECT pg_advisory_xact_lock($1::int, ($2::bigint % 2147483647)::int), "
    "set_config('jit', 'off', true), EXISTS (SELECT 1 FROM dnc "
    "WHERE campaign_id IS NULL OR campaign_id = $2::bigint) AS dnc) l, "
    "generate_series(1, $3::int)";

/* One probe of the campaign's unique index a number, in index order; the
 * LIMIT keeps the planner from a hash join that reads every number of the
 * campaign (which it picks as the campaign grows), and from a scan of all
 * the campaign's numbers with the batch as a filter (which it picks for
 * "phone = ANY($2)" while the campaign's statistics still say it is small). */
static const char SQL_EXISTING[] =
    "SELECT '+' || p.phone, x.upload_id, x.line_no "
    "FROM (SELECT unnest($2::bigint[]) AS phone ORDER BY 1) p CROSS JOIN LATERAL ("
    "SELECT coalesce(c.upload_id, 0) AS upload_id, coalesce(c.line_no, 0) AS line_no "
    "FROM contact_phones cp LEFT JOIN contacts c ON c.id = cp.contact_id "
    "WHERE cp.campaign_id = $1 AND cp.phone = p.phone LIMIT 1) x";

/* DNC entries are keyed by digits: $2 holds the batch's numbers without
 * their '+'. Joined to the unnested array rather than "= ANY($2)", which
 * the planner estimates element by element (milliseconds for a batch). */
static const char SQL_DNC[] =
    "SELECT DISTINCT '+' || d.phone_key FROM unnest($2::text[]) AS p (k) "
    "JOIN dnc d ON d.phone_key = p.k WHERE d.campaign_id IS NULL OR d.campaign_id = $1";

static int add_closed_event(ecm_pg *pg, const upload *u, const char *key, long long contact_id,
                            int64_t now)
{
    char event_id[ECM_UUID_LEN];
    ecm_uuid_new(event_id);
    Ecm__V1__ContactClosed ev = ECM__V1__CONTACT_CLOSED__INIT;
    ev.event_id = event_id;
    ev.occurred_at = now;
    ev.campaign_id = u->campaign_id;
    ev.contact_id = contact_id;
    ev.attempts = 0;
    ev.outcome = ECM__V1__OUTCOME__OUTCOME_DNC;
    const char *topic = u->app->topic_closed ? u->app->topic_closed : GW_TOPIC_CLOSED_DEFAULT;
    return ecm_outbox_copy_add(pg, topic, key, u->app->source, event_id, now, &ev.base);
}

/* The batch's ContactsUploaded: the contacts it loaded queued, by id (ids
 * holds one id per loaded row, DNC rows included, in decision order). */
static int add_uploaded_event(ecm_pg *pg, const upload *u, const batch *b,
                              const unsigned char *decision, const PGresult *ids, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        n += decision[i] == ROW_LOAD;
    }
    if (n == 0) {
        return 0;
    }
    int64_t *contact_ids = malloc(n * sizeof(*contact_ids));
    if (!contact_ids) {
        return -1;
    }
    size_t k = 0, j = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        if (decision[i] >= ROW_LOAD) {
            const char *id = PQgetvalue(ids, (int)j++, 0);
            if (decision[i] == ROW_LOAD) {
                contact_ids[k++] = strtoll(id, NULL, 10);
            }
        }
    }
    char event_id[ECM_UUID_LEN], key[24];
    ecm_uuid_new(event_id);
    (void)snprintf(key, sizeof(key), "%lld", u->campaign_id);
    Ecm__V1__ContactsUploaded msg = ECM__V1__CONTACTS_UPLOADED__INIT;
    msg.event_id = event_id;
    msg.occurred_at = now;
    msg.campaign_id = u->campaign_id;
    msg.upload_id = u->upload_id;
    msg.channel = u->channel;
    msg.n_contact_ids = n;
    msg.contact_ids = contact_ids;
    msg.first_line = b->rows[0].line;
    msg.last_line = b->rows[b->nrows - 1].line;
    int rc = ecm_outbox_copy_add(pg, u->app->topic_uploaded, key, u->app->source, event_id, now,
                                 &msg.base);
    free(contact_ids);
    return rc;
}

/* A row of contact_phones: the number's E.164 digits (without the '+'). */
typedef struct {
    long long phone;
    long long contact_id;
} phone_pair;

static int phone_pair_cmp(const void *a, const void *b)
{
    long long x = ((const phone_pair *)a)->phone, y = ((const phone_pair *)b)->phone;
    return (x > y) - (x < y);
}

/* The COPY text of a batch's contact_phones rows, in number order: each
 * lands at a random place of the campaign's index, and in order the
 * insertions of a batch walk that index one way instead of jumping about
 * (a 2 M-number COPY in batches of 10,000: 7.5-10.1 s as they come,
 * 5.8 s sorted a batch at a time). Sorts pairs. */
static int phone_pairs_copy_text(phone_pair *pairs, size_t n, long long campaign_id, gw_buf *out)
{
    qsort(pairs, n, sizeof(*pairs), phone_pair_cmp);
    char line[80];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(line, sizeof(line), "%lld\t%lld\t%lld\n", campaign_id, pairs[i].phone,
                           pairs[i].contact_id);
        if (len < 0 || (size_t)len >= sizeof(line) || gw_buf_add(out, line, (size_t)len) != 0) {
            return -1;
        }
    }
    return 0;
}

/* 1 when the number must be looked up in contact_phones. */
static int seen_maybe(const upload *u, const char *phone, int probe_all)
{
    return probe_all || !u->seen || ecm_bloom_maybe(u->seen, phone, strlen(phone));
}

/* The batch's whole transaction; with probe_all every number is looked up,
 * else only those u->seen does not rule out. Returns 0 with *bc set, -1
 * (rolled back), or 1 (rolled back: a number the filter ruled out is in
 * contact_phones after all, loaded by another upload since the filter was
 * filled; load again with probe_all). After -1 u->fenced tells whether
 * the upload was no longer this process's to load. */
static int load_once(upload *u, const batch *b, ecm_pg *pg, batch_counts *bc, int probe_all)
{
    int rc = -1;
    PGresult *existing = NULL, *dnc = NULL, *ids = NULL;
    phone_set ps = {NULL, 0};
    gw_buf report = {0}, phones = {0};
    unsigned char *decision = malloc(b->nrows ? b->nrows : 1);
    phone_pair *pairs = NULL;
    size_t npairs = 0;
    ecm_pgarr all, digits;
    ecm_pgarr_init(&all);
    ecm_pgarr_init(&digits);
    memset(bc, 0, sizeof(*bc));
    size_t nphones = 0, ncand = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        const row_result *r = &b->res[i];
        if (r->rejected) {
            continue;
        }
        ncand++;
        const char *p = row_phones(b, r);
        for (int k = 0; k < r->row.nphones; k++, p += strlen(p) + 1) {
            if (seen_maybe(u, p, probe_all)) {
                ecm_pgarr_add_str(&all, p + 1); /* contact_phones keeps the digits */
                bc->looked_up++;
            }
            ecm_pgarr_add_str(&digits, p + 1);
            nphones++;
        }
    }
    const char *all_lit = ecm_pgarr_finish(&all);
    const char *digits_lit = ecm_pgarr_finish(&digits);
    char cid[24], lock_class[24];
    (void)snprintf(cid, sizeof(cid), "%lld", u->campaign_id);
    (void)snprintf(lock_class, sizeof(lock_class), "%d", GW_UPLOAD_LOCK_CLASS);
    pairs = malloc((nphones ? nphones : 1) * sizeof(*pairs));
    if (!decision || !pairs || !all_lit || !digits_lit || phone_set_init(&ps, nphones) != 0) {
        goto out_free;
    }
    int64_t t = ecm_now_ms();
    if (ecm_pg_begin_timeout(pg, GW_UPLOAD_STATEMENT_TIMEOUT_MS) != 0) {
        goto out_free;
    }
    char ncand_s[24];
    (void)snprintf(ncand_s, sizeof(ncand_s), "%zu", ncand);
    const char *lock_params[] = {lock_class, cid, ncand_s};
    const char *lookup_params[] = {cid, all_lit};
    const char *dnc_params[] = {cid, digits_lit};
    if (ncand > 0) {
        ids = ecm_pg_exec(pg, SQL_LOCK_IDS, 3, lock_params);
        if (!ids || PQntuples(ids) != (int)ncand) {
            goto fail;
        }
    }
    if (nphones > 0) {
        existing = bc->looked_up > 0 ? ecm_pg_exec(pg, SQL_EXISTING, 2, lookup_params) : NULL;
        int dnc_any = ids && PQgetvalue(ids, 0, 1)[0] == 't';
        dnc = dnc_any ? ecm_pg_exec(pg, SQL_DNC, 2, dnc_params) : NULL;
        if ((bc->looked_up > 0 && !existing) || (dnc_any && !dnc)) {
            goto fail;
        }
        for (int i = 0; existing && i < PQntuples(existing); i++) {
            phone_entry *e = phone_set_get(&ps, PQgetvalue(existing, i, 0));
            e->upload_id = strtoll(PQgetvalue(existing, i, 1), NULL, 10);
            e->line = strtoll(PQgetvalue(existing, i, 2), NULL, 10);
            if (e->line <= 0) {
                e->line = 1; /* a contact without a line is still a contact */
            }
        }
        for (int i = 0; dnc && i < PQntuples(dnc); i++) {
            phone_set_get(&ps, PQgetvalue(dnc, i, 0))->dnc = 1;
        }
    }
    if (decide_rows(u, b, &ps, decision, &report, bc) != 0) {
        goto fail;
    }
    bc->ms_lookup = ecm_now_ms() - t;
    t = ecm_now_ms();
    int64_t now = ecm_clock_now_ms();
    char closed_at[40];
    ecm_time_format_ms(now, closed_at, sizeof(closed_at));
    if (bc->loaded > 0) {
        if (ecm_pg_copy_begin(pg, COPY_CONTACTS_SQL) != 0) {
            goto fail;
        }
        char prefix[96], suffix[64];
        int k = 0;
        for (size_t i = 0; i < b->nrows; i++) {
            if (decision[i] < ROW_LOAD) {
                continue;
            }
            const row_result *r = &b->res[i];
            const char *id = PQgetvalue(ids, k++, 0);
            int pn = snprintf(prefix, sizeof(prefix), "%s\t%lld\t%lld\t", id, u->campaign_id,
                              u->upload_id);
            int sn = decision[i] == ROW_LOAD_DNC
                         ? snprintf(suffix, sizeof(suffix), "\tclosed\tDNC\t%s\n", closed_at)
                         : snprintf(suffix, sizeof(suffix), "\tqueued\t\\N\t\\N\n");
            if (pn < 0 || (size_t)pn >= sizeof(prefix) || sn < 0 || (size_t)sn >= sizeof(suffix) ||
                ecm_pg_copy_put(pg, prefix, (size_t)pn) != 0 ||
                ecm_pg_copy_put(pg, b->out[r->w].s + r->row.copy_off, r->row.copy_len) != 0 ||
                ecm_pg_copy_put(pg, suffix, (size_t)sn) != 0) {
                goto fail;
            }
            const char *p = row_phones(b, r);
            for (int j = 0; j < r->row.nphones; j++, p += strlen(p) + 1) {
                pairs[npairs].phone = strtoll(p + 1, NULL, 10);
                pairs[npairs++].contact_id = strtoll(id, NULL, 10);
            }
        }
        if (ecm_pg_copy_end(pg) != 0) {
            goto fail;
        }
        bc->ms_contacts = ecm_now_ms() - t;
        t = ecm_now_ms();
        if (phone_pairs_copy_text(pairs, npairs, u->campaign_id, &phones) != 0) {
            goto fail;
        }
        ecm_pg_expect_sqlstate(pg, probe_all ? NULL : "23505");
        int prc = ecm_pg_copy_begin(pg, "COPY contact_phones (campaign_id, phone, contact_id) "
                                        "FROM STDIN") != 0 ||
                  ecm_pg_copy_put(pg, phones.s, phones.len) != 0 || ecm_pg_copy_end(pg) != 0;
        ecm_pg_expect_sqlstate(pg, NULL);
        if (prc) {
            if (!probe_all && strcmp(ecm_pg_last_sqlstate(pg), "23505") == 0) {
                rc = 1; /* unique_violation */
            }
            goto fail;
        }
        bc->ms_phones = ecm_now_ms() - t;
        t = ecm_now_ms();
        if (ecm_outbox_copy_begin(pg) != 0 ||
            add_uploaded_event(pg, u, b, decision, ids, now) != 0) {
            goto fail;
        }
        k = 0;
        for (size_t i = 0; i < b->nrows; i++) {
            if (decision[i] < ROW_LOAD) {
                continue;
            }
            const char *key = PQgetvalue(ids, k++, 0);
            if (decision[i] == ROW_LOAD_DNC &&
                add_closed_event(pg, u, key, strtoll(key, NULL, 10), now) != 0) {
                goto fail;
            }
        }
        if (ecm_outbox_copy_end(pg) != 0) {
            goto fail;
        }
        bc->ms_outbox = ecm_now_ms() - t;
        t = ecm_now_ms();
    }
    if (gw_upload_report_copy(pg, &report) != 0) {
        goto fail;
    }
    /* The fence: the batch commits only while the row still names this
     * process as the owner of a running upload (the sweep of another
     * gateway locks the row FOR UPDATE, so one of the two waits). */
    int saved = upload_save(pg, u, b->rows_read, b->bytes_read, bc, NULL, b);
    if (saved == 1) {
        u->fenced = 1;
        ecm_log_warn("upload batch refused",
                     "upload_id=%lld first_line=%lld reason=the upload was "
                     "marked interrupted (this gateway's lease ran out); nothing more is loaded",
                     u->upload_id, b->rows[0].line);
    }
    if (saved != 0 || ecm_pg_commit(pg) != 0) {
        goto fail;
    }
    bc->ms_commit = ecm_now_ms() - t;
    if (u->seen) {
        for (size_t i = 0; i < b->nrows; i++) {
            if (decision[i] >= ROW_LOAD) {
                const row_result *r = &b->res[i];
                const char *p = row_phones(b, r);
                for (int k = 0; k < r->row.nphones; k++, p += strlen(p) + 1) {
                    ecm_bloom_add(u->seen, p, strlen(p));
                }
            }
        }
    }
    rc = 0;
    goto out_free;
fail:
    ecm_pg_rollback(pg);
out_free:
    PQclear(existing);
    PQclear(dnc);
    PQclear(ids);
    free(ps.slots);
    free(decision);
    free(pairs);
    ecm_pgarr_free(&all);
    ecm_pgarr_free(&digits);
    gw_buf_free(&report);
    gw_buf_free(&phones);
    return rc;
}

/* After a lost connection the COMMIT may have gone through unseen: the
 * upload row's rows_read tells, since it is written in the batch's
 * transaction and every batch adds to it. */
static int batch_already_committed(const upload *u, const batch *b, ecm_pg *pg)
{
    char id[24];
    (void)snprintf(id, sizeof(id), "%lld", u->upload_id);
    const char *params[] = {id};
    PGresult *r = ecm_pg_exec(pg, "SELECT rows_read FROM uploads WHERE id = $1", 1, params);
    int done = 0;
    if (r && PQntuples(r) == 1) {
        done = strtoll(PQgetvalue(r, 0, 0), NULL, 10) == b->rows_read;
    }
    PQclear(r);
    return done;
}

/* Fills u->seen with the numbers the campaign has before the upload's
 * first batch, read through a cursor so that memory stays bounded however
 * big the campaign. On failure (out of memory, database trouble) u->seen
 * stays NULL and every number is looked up. */
static void seen_fill(upload *u, ecm_pg *pg)
{
    ecm_bloom *seen = ecm_bloom_new(GW_UPLOAD_FILTER_LOG2_BITS);
    if (!seen) {
        return;
    }
    char cid[24];
    (void)snprintf(cid, sizeof(cid), "%lld", u->campaign_id);
    const char *params[] = {cid};
    int ok = ecm_pg_begin(pg) == 0 &&
             ecm_pg_cmd(pg,
                        "DECLARE gw_seen NO SCROLL CURSOR FOR "
                        "SELECT '+' || phone FROM contact_phones WHERE campaign_id = $1",
                        1, params) >= 0;
    while (ok) {
        PGresult *r = ecm_pg_exec(pg, "FETCH 20000 FROM gw_seen", 0, NULL);
        if (!r) {
            ok = 0;
            break;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            ecm_bloom_add(seen, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
        }
        PQclear(r);
        if (n == 0) {
            break;
        }
    }
    if (ok && ecm_pg_commit(pg) == 0) {
        u->seen = seen;
        ecm_log_debug("upload duplicate filter filled", "upload_id=%lld campaign_numbers=%zu",
                      u->upload_id, ecm_bloom_count(seen));
        return;
    }
    ecm_pg_rollback(pg);
    ecm_bloom_free(seen);
}

/* The loader thread: loads u->loading, retrying when the connection broke,
 * then adds its counts and rejected rows to u. Sets u->load_rc. */
static void *loader_run(void *arg)
{
    upload *u = arg;
    const batch *b = u->loading;
    int64_t started = ecm_now_ms();
    batch_counts bc = {0};
    int ok = 0;
    int probe_all = 0;
    for (int t = 0; t < GW_FLUSH_TRIES && !ok; t++) {
        ecm_pg *pg = ecm_pg_pool_get_within(u->app->pool, 0); /* admitted: no bound */
        if (!u->seen) {
            seen_fill(u, pg);
        }
        int lrc = -1;
        if (t > 0 && batch_already_committed(u, b, pg)) {
            /* Counts of this batch are lost with the answer: recompute
             * them from the decisions the committed try made. */
            ok = 2;
        } else if ((lrc = load_once(u, b, pg, &bc, probe_all)) == 0) {
            ok = 1;
        }
        int broken = ok || lrc == 1 || u->fenced ? 0 : ecm_pg_check_broken(pg);
        ecm_pg_pool_put(u->app->pool, pg);
        if (lrc == 1) {
            u->seen_rechecks++;
            ecm_log_info("upload batch checked again with every number looked up",
                         "upload_id=%lld reason=a number was loaded by another upload meanwhile",
                         u->upload_id);
            probe_all = 1;
            t--; /* not a failure */
        } else if (!ok && !broken) {
            break;
        }
    }
    if (ok == 1) {
        u->seen_lookups += bc.looked_up;
    }
    if (!ok) {
        u->load_rc = -1;
        return NULL;
    }
    if (ok == 2) {
        ecm_pg *pg = ecm_pg_pool_get_within(u->app->pool, 0);
        char id[24];
        (void)snprintf(id, sizeof(id), "%lld", u->upload_id);
        const char *params[] = {id};
        PGresult *r = ecm_pg_exec(pg,
                                  "SELECT rows_loaded, rows_rejected, rows_duplicate, rows_dnc "
                                  "FROM uploads WHERE id = $1",
                                  1, params);
        if (r && PQntuples(r) == 1) {
            bc.loaded = strtoll(PQgetvalue(r, 0, 0), NULL, 10) - u->rows_loaded;
            bc.rejected = strtoll(PQgetvalue(r, 0, 1), NULL, 10) - u->rows_rejected;
            bc.duplicate = strtoll(PQgetvalue(r, 0, 2), NULL, 10) - u->rows_duplicate;
            bc.dnc = strtoll(PQgetvalue(r, 0, 3), NULL, 10) - u->rows_dnc;
        }
        PQclear(r);
        ecm_pg_pool_put(u->app->pool, pg);
    }
    for (size_t i = 0; i < b->nrows; i++) {
        const row_result *r = &b->res[i];
        if (r->rejected) {
            upload_error_answer(u, b->rows[i].line, b->out[r->w].s + r->reason_off);
        }
    }
    u->rows_loaded += bc.loaded;
    u->rows_rejected += bc.rejected;
    u->rows_duplicate += bc.duplicate;
    u->rows_dnc += bc.dnc;
    ecm_log_debug("upload batch loaded",
                  "upload_id=%lld rows=%zu loaded=%lld validate_ms=%lld load_ms=%lld "
                  "lookup_ms=%lld contacts_ms=%lld phones_ms=%lld outbox_ms=%lld commit_ms=%lld "
                  "looked_up=%lld",
                  u->upload_id, b->nrows, bc.loaded, (long long)b->validate_ms,
                  (long long)(ecm_now_ms() - started), bc.ms_lookup, bc.ms_contacts, bc.ms_phones,
                  bc.ms_outbox, bc.ms_commit, bc.looked_up);
    return NULL;
}

/* Writes into hex the SHA-256 of the body hashed so far. Returns 0 or -1. */
static int upload_digest(const upload *u, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_MD_CTX_copy_ex(c, u->sha) == 1 && EVP_DigestFinal_ex(c, md, &n) == 1;
    EVP_MD_CTX_free(c);
    for (unsigned int i = 0; ok && i < n; i++) {
        (void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    return ok ? 0 : -1;
}

static void upload_fail_fenced(upload *u)
{
    char detail[200];
    (void)ecm_utf8_format(detail, sizeof(detail),
                          "upload %lld was marked interrupted (this gateway did not renew its "
                          "lease in time); %lld rows were loaded; resume it with POST "
                          "/api/v1/uploads/%lld/resume",
                          u->upload_id, u->rows_loaded, u->upload_id);
    upload_fail(u, 409, "conflict", "Upload interrupted", detail);
}

/* Validates the batch being read and hands it to the loader thread once
 * the previous one is in; with wait, also waits for it to be loaded.
 * Returns 0, or -1 with the failure recorded in u. */
static int upload_flush(upload *u, int wait)
{
    batch *b = u->cur;
    if (b->nrows > 0) {
        int64_t started = ecm_now_ms();
        if (validate_batch(u, b) != 0) {
            upload_fail(u, 500, "internal", "Internal error",
                        "out of memory while reading the file");
            return -1;
        }
        b->validate_ms = ecm_now_ms() - started;
        b->rows_read = u->rows_read;
        b->bytes_read = u->bytes_read;
        b->last_line = b->rows[b->nrows - 1].line;
        if (upload_digest(u, b->sha) != 0) {
            upload_fail(u, 500, "internal", "Internal error", "could not hash the file");
            return -1;
        }
    }
    u->flush_due = 0;
    int rc = loader_wait(u);
    if (rc == 0 && b->nrows > 0) {
        u->loading = b;
        u->cur = b == &u->batches[0] ? &u->batches[1] : &u->batches[0];
        u->cur->nrows = 0;
        u->cur->raw.len = 0;
        if (pthread_create(&u->loader, NULL, loader_run, u) == 0) {
            u->loader_running = 1;
        } else {
            (void)loader_run(u);
        }
    }
    if (rc == 0 && wait) {
        rc = loader_wait(u);
    }
    if (rc != 0 && u->fenced) {
        upload_fail_fenced(u);
        return -1;
    }
    if (rc != 0) {
        char detail[160];
        (void)ecm_utf8_format(
            detail, sizeof(detail),
            "the database did not take the contacts; %lld rows were loaded before", u->rows_loaded);
        upload_fail(u, 503, "unavailable", "Database unavailable", detail);
        return -1;
    }
    return 0;
}

/* Keeps one raw row in the batch; hands the batch on when it is full. */
static int batch_add(upload *u, long long line, size_t nfields, const char *const *fields,
                     const size_t *lens, const char *text, size_t len)
{
    batch *b = u->cur;
    if (b->nrows == b->cap) {
        /* A full batch waiting for a resume's checksum (flush_due). */
        size_t cap = b->cap * 2;
        raw_row *rows = realloc(b->rows, cap * sizeof(*rows));
        if (rows) {
            b->rows = rows;
        }
        row_result *res = rows ? realloc(b->res, cap * sizeof(*res)) : NULL;
        if (!res) {
            upload_fail(u, 500, "internal", "Internal error",
                        "out of memory while reading the file");
            return -1;
        }
        b->res = res;
        b->cap = cap;
    }
    raw_row *r = &b->rows[b->nrows];
    r->line = line;
    r->off = b->raw.len;
    r->nfields = nfields;
    int rc = 0;
    if (text) {
        rc = gw_buf_add(&b->raw, text, len) || gw_buf_add(&b->raw, "", 1);
    } else {
        for (size_t i = 0; i < nfields && rc == 0; i++) {
            rc = gw_buf_add(&b->raw, (const char *)&lens[i], sizeof(lens[i])) ||
                 gw_buf_add(&b->raw, fields[i], lens[i]) || gw_buf_add(&b->raw, "", 1);
        }
    }
    if (rc != 0) {
        upload_fail(u, 500, "internal", "Internal error", "out of memory while reading the file");
        return -1;
    }
    r->len = text ? len : b->raw.len - r->off;
    b->nrows++;
    u->rows_read++;
    if (b->nrows >= u->app->upload_batch || b->raw.len >= GW_BATCH_MAX_BYTES) {
        if (!u->resumed || u->resume_verified) {
            return upload_flush(u, 0);
        }
        /* Rows after the resume point that come before the checksum is
         * verified (those the first upload read in the same chunk as its
         * last loaded line) wait for it: nothing of another file may
         * load. The same file has at most one chunk's worth of them. */
        u->flush_due = 1;
        if (b->raw.len >= 2 * GW_BATCH_MAX_BYTES) {
            char detail[300];
            (void)ecm_utf8_format(detail, sizeof(detail),
                                  "this is not the file upload %lld read: its line %lld comes "
                                  "after line %lld, where the loaded part ended, long before "
                                  "byte %lld; nothing was loaded",
                                  u->upload_id, line, u->resume_line, u->resume_bytes);
            u->refused = 1;
            upload_fail(u, 409, "conflict", "Not the same file", detail);
            return -1;
        }
    }
    return 0;
}

/* A resume skips the lines (items) the upload loaded before: parsed (for
 * the header and the line numbers) but neither validated nor reported.
 * Returns 1 to skip the line, 0 to take it. */
static int resume_skip(const upload *u, long long line)
{
    return u->resumed && line <= u->resume_line;
}

static int upload_on_record(void *ctx, long long line, size_t nfields, const char *const *fields,
                            const size_t *lens)
{
    upload *u = ctx;
    char reason[256];
    if (!u->header) {
        u->header = gw_upload_header_parse(nfields, fields, lens, reason, sizeof(reason));
        if (!u->header) {
            char detail[300];
            (void)ecm_utf8_format(detail, sizeof(detail), "line %lld: %s", line, reason);
            upload_fail_line(u, line, reason);
            upload_fail(u, 422, "validation", "Unusable CSV header", detail);
            return -1;
        }
        if (u->sms_template) {
            int rc =
                gw_upload_header_use_template(u->header, u->sms_template, reason, sizeof(reason));
            if (rc != 0) {
                char detail[300];
                (void)ecm_utf8_format(detail, sizeof(detail), "line %lld: %s", line, reason);
                upload_fail_line(u, line, reason);
                upload_fail(u, 422, "validation",
                            rc > 0 ? "Template field missing from the file"
                                   : "Unusable message template",
                            detail);
                return -1;
            }
        }
        return 0;
    }
    return resume_skip(u, line) ? 0 : batch_add(u, line, nfields, fields, lens, NULL, 0);
}

static int upload_on_item(void *ctx, long long index, const char *text, size_t len)
{
    return resume_skip(ctx, index) ? 0 : batch_add(ctx, index, 0, NULL, NULL, text, len);
}

static void upload_free(upload *u)
{
    if (!u) {
        return;
    }
    (void)loader_wait(u);
    if (u->admitted) {
        gw_upload_limits_leave(u->app->upload_limits);
    }
    if (u->held) {
        gw_upload_lease_drop(u->app->upload_lease, u->upload_id);
    }
    EVP_MD_CTX_free(u->sha);
    ecm_bloom_free(u->seen);
    gw_csv_free(u->csv);
    gw_jsonarr_free(u->jarr);
    gw_upload_header_free(u->header);
    free(u->sms_template);
    for (size_t i = 0; i < u->nrequired; i++) {
        free(u->required[i]);
    }
    free(u->required);
    for (int i = 0; i < 2; i++) {
        batch *b = &u->batches[i];
        gw_buf_free(&b->raw);
        free(b->rows);
        free(b->res);
        for (int k = 0; k < GW_UPLOAD_THREADS_MAX; k++) {
            gw_buf_free(&b->out[k]);
        }
    }
    for (int k = 0; k < GW_UPLOAD_THREADS_MAX; k++) {
        worker *w = &u->workers[k];
        gw_upload_scratch_free(w->scratch);
        free(w->fields);
        free(w->lens);
    }
    json_decref(u->errors);
    free(u);
}

static int collect_placeholder(void *ctx, const char *name)
{
    upload *u = ctx;
    for (size_t i = 0; i < u->nrequired; i++) {
        if (strcmp(u->required[i], name) == 0) {
            return 0;
        }
    }
    char **grown = realloc(u->required, (u->nrequired + 1) * sizeof(*grown));
    if (!grown) {
        return -1;
    }
    u->required = grown;
    if (!(u->required[u->nrequired] = strdup(name))) {
        return -1;
    }
    u->nrequired++;
    return 0;
}

/* Validating threads of an upload: ECM_GATEWAY_UPLOAD_THREADS, else one a
 * CPU and at least two. */
static int upload_threads(const gw_app *app)
{
    long n = app->upload_threads;
    if (n <= 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 2) {
            n = 2;
        }
    }
    return n > GW_UPLOAD_THREADS_MAX ? GW_UPLOAD_THREADS_MAX : (int)n;
}

/* Allocates the upload's reader and batch. Returns NULL when out of
 * memory. */
static upload *upload_new(const gw_app *app, int json)
{
    upload *u = calloc(1, sizeof(*u));
    if (!u) {
        return NULL;
    }
    u->app = app;
    u->json = json;
    u->bytes_total = -1;
    u->nworkers = upload_threads(app);
    u->cur = &u->batches[0];
    int ok = (u->errors = json_array()) != NULL && (u->sha = EVP_MD_CTX_new()) != NULL &&
             EVP_DigestInit_ex(u->sha, EVP_sha256(), NULL) == 1;
    for (int i = 0; ok && i < 2; i++) {
        batch *b = &u->batches[i];
        b->cap = app->upload_batch;
        ok = (b->rows = calloc(b->cap, sizeof(*b->rows))) != NULL &&
             (b->res = calloc(b->cap, sizeof(*b->res))) != NULL;
    }
    for (int k = 0; ok && k < u->nworkers; k++) {
        u->workers[k].u = u;
        ok = (u->workers[k].scratch = gw_upload_scratch_new()) != NULL;
    }
    if (ok) {
        ok = json ? (u->jarr = gw_jsonarr_new(app->upload_max_record, upload_on_item, u)) != NULL
                  : (u->csv = gw_csv_new(app->upload_max_record, upload_on_record, u)) != NULL;
    }
    if (!ok) {
        upload_free(u);
        return NULL;
    }
    return u;
}

/* Ends upload_id owned by this process in state, best effort. Returns 0 or
 * -1. */
static int upload_mark(ecm_pg *pg, const gw_app *app, long long upload_id, const char *state)
{
    char id[24];
    (void)snprintf(id, sizeof(id), "%lld", upload_id);
    const char *params[] = {id, state, gw_upload_lease_owner(app->upload_lease)};
    return ecm_pg_cmd(pg,
                      "UPDATE uploads SET state = $2, lease_until = NULL, "
                      "finished_at = CASE WHEN $2 IN ('done', 'failed') THEN now() END, "
                      "interrupted_at = CASE WHEN $2 = 'interrupted' THEN now() END "
                      "WHERE id = $1 AND owner = $3 AND state = 'running'",
                      3, params);
}

long long gw_upload_start(ecm_http_req *req, const gw_app *app, ecm_pg *pg, const char *kind,
                          long long campaign_id, const char *content_type, long long *bytes_total)
{
    const char *cl = ecm_http_req_header(req, "Content-Length");
    char *end = NULL;
    long long total = cl ? strtoll(cl, &end, 10) : -1;
    if (cl && (end == cl || *end != '\0' || total < 0)) {
        total = -1;
    }
    *bytes_total = total;
    char cid[24], total_text[24];
    (void)snprintf(cid, sizeof(cid), "%lld", campaign_id);
    (void)snprintf(total_text, sizeof(total_text), "%lld", total);
    const char *params[] = {kind,
                            campaign_id > 0 ? cid : NULL,
                            content_type,
                            total >= 0 ? total_text : NULL,
                            gw_upload_lease_owner(app->upload_lease),
                            gw_upload_lease_interval(app->upload_lease)};
    PGresult *r =
        ecm_pg_exec(pg,
                    "INSERT INTO uploads (kind, campaign_id, content_type, bytes_total, "
                    "owner, lease_until) VALUES ($1, $2, $3, $4, $5, now() + $6::interval) "
                    "RETURNING id",
                    6, params);
    long long id = r ? ecm_pgval_ll(r, 0, 0, 0) : 0;
    PQclear(r);
    if (id <= 0) {
        gw_respond_db_down(req, pg, "create the upload");
        return 0;
    }
    if (gw_upload_lease_hold(app->upload_lease, id) != 0) {
        /* Unheld, the lease would run out under a slow client: refuse. */
        (void)upload_mark(pg, app, id, "failed");
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return 0;
    }
    return id;
}

/* The campaign checks, admission and reader of a contact upload (or
 * resume) to campaign_id sent as kind, on pg (kept). Returns the upload
 * (admitted), or NULL after answering (404, 409, 429, 500, 503). */
static upload *upload_open(const gw_app *app, ecm_http_req *req, ecm_pg *pg, long long campaign_id,
                           gw_body_kind kind)
{
    char cid[24];
    (void)snprintf(cid, sizeof(cid), "%lld", campaign_id);
    const char *p1[] = {cid};
    PGresult *c = ecm_pg_exec(
        pg, "SELECT channel, state, region, sms_template FROM campaigns WHERE id = $1", 1, p1);
    if (!c) {
        char what[48];
        (void)snprintf(what, sizeof(what), "read campaign %lld", campaign_id);
        gw_respond_db_down(req, pg, what);
        return NULL;
    }
    if (PQntuples(c) == 0) {
        PQclear(c);
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "campaign %lld does not exist", campaign_id);
        return NULL;
    }
    const char *state = PQgetvalue(c, 0, 1);
    if (strcmp(state, "draft") != 0 && strcmp(state, "active") != 0 &&
        strcmp(state, "paused") != 0) {
        ecm_http_respond_problem(req, 409, "conflict", "Campaign does not take uploads",
                                 "campaign %lld is %s; uploads need a draft, active or paused "
                                 "campaign",
                                 campaign_id, state);
        PQclear(c);
        return NULL;
    }
    if (!gw_upload_limits_enter(app->upload_limits)) {
        PQclear(c);
        gw_upload_limits_respond_busy(req, app->upload_limits);
        return NULL;
    }
    upload *u = upload_new(app, kind == GW_BODY_JSON);
    if (u) {
        u->admitted = 1;
    } else {
        gw_upload_limits_leave(app->upload_limits);
    }
    int oom = !u;
    if (u) {
        u->campaign_id = campaign_id;
        u->channel = ecm_channel_from_name(PQgetvalue(c, 0, 0));
        (void)snprintf(u->region, sizeof(u->region), "%s", PQgetvalue(c, 0, 2));
        if (u->channel == ECM__V1__CHANNEL__CHANNEL_SMS && !PQgetisnull(c, 0, 3) &&
            !(u->sms_template = strdup(PQgetvalue(c, 0, 3)))) {
            oom = 1;
        }
        u->rules.region = u->region;
        u->rules.sms = u->channel == ECM__V1__CHANNEL__CHANNEL_SMS;
    }
    PQclear(c);
    if (!oom && u->json && u->sms_template) {
        char err[200];
        if (ecm_sms_template_foreach(u->sms_template, collect_placeholder, u, err, sizeof(err)) !=
            0) {
            /* The campaign API validated the template; only memory fails. */
            oom = 1;
        }
        u->rules.required = (const char *const *)u->required;
        u->rules.nrequired = u->nrequired;
    }
    if (oom) {
        upload_free(u);
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return NULL;
    }
    return u;
}

/* The Content-Type of an upload: CSV or JSON, or 415 answered. */
static gw_body_kind upload_kind(ecm_http_req *req, const char **ct)
{
    char shown[256];
    *ct = ecm_http_req_header(req, "Content-Type");
    gw_body_kind kind = gw_upload_body_kind(*ct);
    if (kind == GW_BODY_UNSUPPORTED) {
        ecm_http_respond_problem(req, 415, "unsupported-media-type", "Unsupported media type",
                                 "send the file as the request body with Content-Type: text/csv "
                                 "(UTF-8) or application/json (an array of objects); got '%s'. "
                                 "multipart/form-data is not supported yet",
                                 ecm_utf8_quote(shown, sizeof(shown), *ct, 60));
    }
    return kind;
}

static int upload_begin(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long campaign_id;
    if (gw_path_id(req, "campaign", &campaign_id) != 0) {
        return -1;
    }
    const char *ct;
    gw_body_kind kind = upload_kind(req, &ct);
    if (kind == GW_BODY_UNSUPPORTED) {
        return -1;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    upload *u = upload_open(app, req, pg, campaign_id, kind);
    if (!u) {
        ecm_pg_pool_put(app->pool, pg);
        return -1;
    }
    u->upload_id = gw_upload_start(req, app, pg, "contacts", campaign_id, ct, &u->bytes_total);
    ecm_pg_pool_put(app->pool, pg);
    if (u->upload_id <= 0) {
        upload_free(u);
        return -1;
    }
    u->held = 1;
    ecm_log_info("upload started", "upload_id=%lld campaign_id=%lld format=%s owner=%s",
                 u->upload_id, campaign_id, u->json ? "json" : "csv",
                 gw_upload_lease_owner(app->upload_lease));
    ecm_http_req_set_state(req, u);
    return 0;
}

#define RESUME_TAKE_SQL                                                                            \
    "UPDATE uploads SET state = 'running', owner = $2, lease_until = now() + $3::interval, "       \
    "interrupted_at = NULL, resumes = resumes + 1, bytes_read = 0, "                               \
    "bytes_total = coalesce($4::bigint, bytes_total) "                                             \
    "WHERE id = $1 AND state = 'interrupted' AND kind = 'contacts' "                               \
    "AND (committed_sha256 IS NOT NULL OR rows_read = 0) "                                         \
    "RETURNING campaign_id, committed_line, committed_bytes, coalesce(committed_sha256, ''), "     \
    "rows_read, rows_loaded, rows_rejected, rows_duplicate, rows_dnc, content_type"

/* Why upload id cannot be resumed, answered (404 or 409). */
static void resume_refuse(ecm_http_req *req, ecm_pg *pg, long long id)
{
    char sid[24];
    (void)snprintf(sid, sizeof(sid), "%lld", id);
    const char *params[] = {sid};
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT state, kind, committed_sha256 IS NULL AND rows_read > 0 "
                              "FROM uploads WHERE id = $1",
                              1, params);
    if (!r) {
        gw_respond_db_down(req, pg, "read the upload");
    } else if (PQntuples(r) == 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such upload",
                                 "upload %lld does not exist", id);
    } else if (strcmp(PQgetvalue(r, 0, 1), "contacts") != 0) {
        ecm_http_respond_problem(req, 409, "conflict", "Upload cannot be resumed",
                                 "upload %lld is a DNC list upload; those are not resumed: send "
                                 "the file again (numbers already listed are reported as "
                                 "duplicates)",
                                 id);
    } else if (strcmp(PQgetvalue(r, 0, 0), "interrupted") == 0 &&
               strcmp(PQgetvalue(r, 0, 2), "t") == 0) {
        ecm_http_respond_problem(req, 409, "conflict", "Upload cannot be resumed",
                                 "upload %lld was cut off before this version of the gateway: it "
                                 "has no resume point. Send the file as a new upload (the rows "
                                 "already loaded are reported as duplicates)",
                                 id);
    } else {
        ecm_http_respond_problem(req, 409, "conflict", "Upload cannot be resumed",
                                 "upload %lld is %s; only an interrupted upload can be resumed", id,
                                 PQgetvalue(r, 0, 0));
    }
    PQclear(r);
}

/* POST /api/v1/uploads/{id}/resume: the same file again, whole. Its first
 * committed_bytes bytes are hashed, not validated, and must match; the
 * lines up to committed_line are parsed (for the header and the line
 * numbers) but neither validated nor loaded; the rest loads as in the
 * first upload, the counts going on from the recorded ones. */
static int resume_begin(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id;
    if (gw_path_id(req, "upload", &id) != 0) {
        return -1;
    }
    const char *ct;
    gw_body_kind kind = upload_kind(req, &ct);
    if (kind == GW_BODY_UNSUPPORTED) {
        return -1;
    }
    char sid[24];
    (void)snprintf(sid, sizeof(sid), "%lld", id);
    const char *p1[] = {sid};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(
        pg,
        "SELECT campaign_id, content_type FROM uploads WHERE id = $1 AND state = 'interrupted' "
        "AND kind = 'contacts' AND (committed_sha256 IS NOT NULL OR rows_read = 0)",
        1, p1);
    if (!r || PQntuples(r) == 0) {
        PQclear(r);
        resume_refuse(req, pg, id);
        ecm_pg_pool_put(app->pool, pg);
        return -1;
    }
    long long campaign_id = ecm_pgval_ll(r, 0, 0, 0);
    gw_body_kind was = gw_upload_body_kind(PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1));
    PQclear(r);
    if (was != kind) {
        ecm_pg_pool_put(app->pool, pg);
        ecm_http_respond_problem(req, 409, "conflict", "Not the same file",
                                 "upload %lld was sent as %s; resume it with the same file and "
                                 "Content-Type",
                                 id, was == GW_BODY_JSON ? "application/json" : "text/csv");
        return -1;
    }
    upload *u = upload_open(app, req, pg, campaign_id, kind);
    if (!u) {
        ecm_pg_pool_put(app->pool, pg);
        return -1;
    }
    const char *cl = ecm_http_req_header(req, "Content-Length");
    char *end = NULL;
    long long total = cl ? strtoll(cl, &end, 10) : -1;
    if (cl && (end == cl || *end != '\0' || total < 0)) {
        total = -1;
    }
    u->bytes_total = total;
    char total_text[24];
    (void)snprintf(total_text, sizeof(total_text), "%lld", total);
    const char *p2[] = {sid, gw_upload_lease_owner(app->upload_lease),
                        gw_upload_lease_interval(app->upload_lease),
                        total >= 0 ? total_text : NULL};
    /* Taking it is one UPDATE: of two resumes at once, one gets it. */
    r = ecm_pg_exec(pg, RESUME_TAKE_SQL, 4, p2);
    if (!r || PQntuples(r) == 0) {
        PQclear(r);
        resume_refuse(req, pg, id);
        ecm_pg_pool_put(app->pool, pg);
        upload_free(u);
        return -1;
    }
    u->upload_id = id;
    u->resumed = 1;
    u->resume_line = ecm_pgval_ll(r, 0, 1, 0);
    u->resume_bytes = ecm_pgval_ll(r, 0, 2, 0);
    (void)snprintf(u->resume_sha, sizeof(u->resume_sha), "%s", PQgetvalue(r, 0, 3));
    u->resume_verified = u->resume_bytes == 0;
    u->rows_read = ecm_pgval_ll(r, 0, 4, 0);
    u->rows_loaded = ecm_pgval_ll(r, 0, 5, 0);
    u->rows_rejected = ecm_pgval_ll(r, 0, 6, 0);
    u->rows_duplicate = ecm_pgval_ll(r, 0, 7, 0);
    u->rows_dnc = ecm_pgval_ll(r, 0, 8, 0);
    PQclear(r);
    if (gw_upload_lease_hold(app->upload_lease, id) != 0) {
        (void)upload_mark(pg, app, id, "interrupted");
        ecm_pg_pool_put(app->pool, pg);
        upload_free(u);
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return -1;
    }
    ecm_pg_pool_put(app->pool, pg);
    u->held = 1;
    ecm_log_info("upload resumed",
                 "upload_id=%lld campaign_id=%lld after_line=%lld after_bytes=%lld owner=%s", id,
                 campaign_id, u->resume_line, u->resume_bytes,
                 gw_upload_lease_owner(app->upload_lease));
    ecm_http_req_set_state(req, u);
    return 0;
}

/* Marks an upload that will not finish 'failed': what was loaded stays and
 * the row says so, with the line that stopped it in the report. A resume
 * refused for another file goes back to 'interrupted' as it was; a fenced
 * upload is no longer this process's to write. Best effort (the database
 * may be what failed); done once. */
static void mark_failed(upload *u)
{
    if (u->finished || u->upload_id <= 0) {
        return;
    }
    (void)loader_wait(u); /* a batch in flight may yet commit: count it */
    if (u->fenced) {
        u->finished = 1;
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get_within(u->app->pool, 0);
    if (u->refused) {
        if (upload_mark(pg, u->app, u->upload_id, "interrupted") != 0) {
            ecm_pg_check_broken(pg);
        }
        ecm_pg_pool_put(u->app->pool, pg);
        u->finished = 1;
        ecm_log_warn("upload resume refused", "upload_id=%lld reason=%s", u->upload_id,
                     u->fail_detail);
        return;
    }
    int rc = 0;
    if (u->fail_line > 0) {
        char id[24], line[24];
        (void)snprintf(id, sizeof(id), "%lld", u->upload_id);
        (void)snprintf(line, sizeof(line), "%lld", u->fail_line);
        const char *params[] = {id, line, u->fail_reason};
        rc = ecm_pg_cmd(pg,
                        "INSERT INTO upload_rows (upload_id, line_no, kind, reason) "
                        "VALUES ($1, $2, 'rejected', $3) ON CONFLICT DO NOTHING",
                        3, params);
        if (rc == 0) {
            u->rows_rejected++;
        }
    }
    if (rc != 0 || upload_save(pg, u, u->rows_read, u->bytes_read, NULL, "failed", NULL) < 0) {
        ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(u->app->pool, pg);
    u->finished = 1;
    ecm_log_warn("upload failed", "upload_id=%lld loaded=%lld reason=%s", u->upload_id,
                 u->rows_loaded, u->fail_status ? u->fail_detail : "request ended early");
}

/* The report reads 'failed' before the client hears so: a client that asks
 * for it right after the answer sees the same thing. */
static void respond_failure(upload *u, ecm_http_req *req)
{
    mark_failed(u);
    ecm_http_respond_problem(req, u->fail_status, u->fail_type, u->fail_title, "%s (upload %lld)",
                             u->fail_detail, u->upload_id);
}

static long long reader_error_line(const upload *u)
{
    return u->json ? gw_jsonarr_error_item(u->jarr) : gw_csv_error_line(u->csv);
}

/* Adds the chunk to the body's hash before it is parsed. On a resume,
 * once the checkpoint's bytes are in, compares their hash with the one
 * recorded. Returns 0, or -1 with the upload failed (another file, or the
 * hash failing). */
static int upload_hash(upload *u, const char *data, size_t len)
{
    size_t first = len;
    if (u->resumed && !u->resume_verified && u->hashed + (long long)len >= u->resume_bytes) {
        first = (size_t)(u->resume_bytes - u->hashed);
    }
    if (EVP_DigestUpdate(u->sha, data, first) != 1) {
        upload_fail(u, 500, "internal", "Internal error", "could not hash the file");
        return -1;
    }
    u->hashed += (long long)first;
    if (first < len || (u->resumed && !u->resume_verified && u->hashed == u->resume_bytes)) {
        char hex[sizeof(u->resume_sha)];
        if (upload_digest(u, hex) != 0) {
            upload_fail(u, 500, "internal", "Internal error", "could not hash the file");
            return -1;
        }
        if (strcmp(hex, u->resume_sha) != 0) {
            char detail[300];
            (void)ecm_utf8_format(detail, sizeof(detail),
                                  "this is not the file upload %lld read: the SHA-256 of its first "
                                  "%lld bytes differs from the one recorded when they were loaded; "
                                  "nothing was loaded",
                                  u->upload_id, u->resume_bytes);
            u->refused = 1;
            upload_fail(u, 409, "conflict", "Not the same file", detail);
            return -1;
        }
        u->resume_verified = 1;
        if (EVP_DigestUpdate(u->sha, data + first, len - first) != 1) {
            upload_fail(u, 500, "internal", "Internal error", "could not hash the file");
            return -1;
        }
        u->hashed += (long long)(len - first);
    }
    return 0;
}

static int upload_body(void *ctx, ecm_http_req *req, const char *data, size_t len)
{
    (void)ctx;
    upload *u = ecm_http_req_state(req);
    char err[200];
    if (upload_hash(u, data, len) != 0) {
        respond_failure(u, req);
        return -1;
    }
    u->bytes_read += (long long)len;
    int rc = u->json ? gw_jsonarr_feed(u->jarr, data, len, err, sizeof(err))
                     : gw_csv_feed(u->csv, data, len, err, sizeof(err));
    if (rc == 0 && u->flush_due && u->resume_verified && upload_flush(u, 0) != 0) {
        respond_failure(u, req);
        return -1;
    }
    if (rc != 0 && u->fail_status) {
        respond_failure(u, req); /* the record callback failed the upload */
        return -1;
    }
    if (rc != 0) {
        if (!u->fail_status) {
            /* The reader itself gave up (a record too long): keep what came
             * before it, as the report says. */
            upload_fail_line(u, reader_error_line(u), err);
            if (upload_flush(u, 1) == 0) {
                char detail[300];
                (void)ecm_utf8_format(detail, sizeof(detail), "%s; %lld rows before it were loaded",
                                      err, u->rows_loaded);
                upload_fail(u, 422, "validation", u->json ? "Unreadable JSON" : "Unreadable CSV",
                            detail);
            }
        }
        respond_failure(u, req);
        return -1;
    }
    return 0;
}

/* The upload's answer: counts, progress and the report's address. */
static json_t *upload_json(long long upload_id, const char *kind, long long campaign_id,
                           const char *state, const long long counts[5], long long bytes_read,
                           long long bytes_total)
{
    char url[64];
    (void)snprintf(url, sizeof(url), "/api/v1/uploads/%lld", upload_id);
    json_t *fraction = json_null();
    if (bytes_total > 0) {
        double f = (double)bytes_read / (double)bytes_total;
        fraction = json_real(f > 1.0 ? 1.0 : f);
    } else if (bytes_total == 0) {
        fraction = json_real(1.0);
    }
    return json_pack("{sI ss so ss ss sI sI sI sI sI s{sI so so}}", "upload_id",
                     (json_int_t)upload_id, "kind", kind, "campaign_id",
                     campaign_id > 0 ? json_integer((json_int_t)campaign_id) : json_null(), "state",
                     state, "report_url", url, "rows_read", (json_int_t)counts[0], "rows_loaded",
                     (json_int_t)counts[1], "rows_rejected", (json_int_t)counts[2],
                     "rows_duplicate", (json_int_t)counts[3], "rows_dnc", (json_int_t)counts[4],
                     "progress", "bytes_read", (json_int_t)bytes_read, "bytes_total",
                     bytes_total >= 0 ? json_integer((json_int_t)bytes_total) : json_null(),
                     "fraction", fraction);
}

static void upload_end(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    upload *u = ecm_http_req_state(req);
    char err[200];
    int rc = u->json ? gw_jsonarr_finish(u->jarr, err, sizeof(err))
                     : gw_csv_finish(u->csv, err, sizeof(err));
    if (rc != 0 && !u->fail_status) {
        upload_fail_line(u, reader_error_line(u), err);
        upload_fail(u, 422, "validation", u->json ? "Unreadable JSON" : "Unreadable CSV", err);
    }
    if (!u->fail_status && !u->json && !u->header) {
        upload_fail(u, 422, "validation", "Empty file", "the file has no header row");
    }
    if (!u->fail_status && u->resumed && !u->resume_verified) {
        char detail[300];
        (void)ecm_utf8_format(detail, sizeof(detail),
                              "this is not the file upload %lld read: it has %lld bytes, fewer "
                              "than the %lld bytes already loaded; nothing was loaded",
                              u->upload_id, u->bytes_read, u->resume_bytes);
        u->refused = 1;
        upload_fail(u, 409, "conflict", "Not the same file", detail);
    }
    /* Rows before a reader failure are kept, as the report says; after a
     * database failure the batch is not tried again here. */
    if (u->fail_status == 0 || u->fail_status == 422) {
        (void)upload_flush(u, 1);
    }
    if (u->fail_status) {
        respond_failure(u, req);
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get_within(u->app->pool, 0);
    rc = upload_save(pg, u, u->rows_read, u->bytes_read, NULL, "done", NULL);
    if (rc < 0) {
        ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(u->app->pool, pg);
    if (rc > 0) {
        u->fenced = 1;
        upload_fail_fenced(u);
        respond_failure(u, req);
        return;
    }
    if (rc != 0) {
        upload_fail(u, 503, "unavailable", "Database unavailable",
                    "the contacts were loaded but the upload could not be closed");
        respond_failure(u, req);
        return;
    }
    u->finished = 1;
    ecm_log_info("upload done",
                 "upload_id=%lld read=%lld loaded=%lld rejected=%lld duplicate=%lld dnc=%lld "
                 "numbers_looked_up=%lld batches_rechecked=%lld",
                 u->upload_id, u->rows_read, u->rows_loaded, u->rows_rejected, u->rows_duplicate,
                 u->rows_dnc, u->seen_lookups, u->seen_rechecks);
    const long long counts[5] = {u->rows_read, u->rows_loaded, u->rows_rejected, u->rows_duplicate,
                                 u->rows_dnc};
    json_t *body = upload_json(u->upload_id, "contacts", u->campaign_id, "done", counts,
                               u->bytes_read, u->bytes_total >= 0 ? u->bytes_total : u->bytes_read);
    if (body) {
        json_object_set(body, "errors", u->errors);
    }
    gw_json_respond(req, 202, body);
}

static void upload_cleanup(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    upload *u = ecm_http_req_state(req);
    if (!u) {
        return;
    }
    mark_failed(u); /* the client went away mid-file */
    ecm_http_req_set_state(req, NULL);
    upload_free(u);
}

/* ---- the report ------------------------------------------------------- */

#define UPLOAD_SELECT_SQL                                                                          \
    "SELECT kind, campaign_id, state, rows_read, rows_loaded, rows_rejected, rows_duplicate, "     \
    "rows_dnc, bytes_read, bytes_total, content_type, " GW_SQL_TIME(                               \
        "created_at") ", " GW_SQL_TIME("finished_at") ", committed_line, committed_bytes, owner, " \
                                                      "resumes, " GW_SQL_TIME(                     \
                                                          "interrupted_at") ", " GW_SQL_TIME("lea" \
                                                                                             "se_" \
                                                                                             "unt" \
                                                                                             "il") " FROM uploads WHERE id = $1"

#define UPLOAD_ROWS_SQL                                                                            \
    "SELECT line_no, kind, reason FROM upload_rows WHERE upload_id = $1 AND line_no > $2 "         \
    "AND ($3::text IS NULL OR kind = $3) ORDER BY line_no LIMIT $4"

/* Absent counts and ids (SQL NULL) read as -1. */
static long long col_ll(const PGresult *r, int row, int col)
{
    return ecm_pgval_ll(r, row, col, -1);
}

static void get_upload(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id, after, limit;
    if (gw_path_id(req, "upload", &id) != 0) {
        return;
    }
    if (gw_query_int(req, "after", 0, 0, INT64_MAX / 2, &after) != 0 ||
        gw_query_int(req, "limit", GW_REPORT_PAGE_DEFAULT, 1, GW_REPORT_PAGE_MAX, &limit) != 0) {
        return;
    }
    const char *kind = ecm_http_req_query(req, "kind");
    if (kind && strcmp(kind, "rejected") != 0 && strcmp(kind, "duplicate") != 0 &&
        strcmp(kind, "dnc") != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query",
                                 "kind: must be rejected, duplicate or dnc");
        return;
    }
    char sid[24], safter[24], slimit[24];
    (void)snprintf(sid, sizeof(sid), "%lld", id);
    (void)snprintf(safter, sizeof(safter), "%lld", after);
    (void)snprintf(slimit, sizeof(slimit), "%lld", limit + 1);
    const char *params[] = {sid, safter, kind, slimit};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg, UPLOAD_SELECT_SQL, 1, params);
    PGresult *rows = r && PQntuples(r) == 1 ? ecm_pg_exec(pg, UPLOAD_ROWS_SQL, 4, params) : NULL;
    if (!r || (PQntuples(r) == 1 && !rows)) {
        char what[48];
        (void)snprintf(what, sizeof(what), "read upload %lld", id);
        gw_respond_db_down(req, pg, what);
        ecm_pg_pool_put(app->pool, pg);
        PQclear(r);
        return;
    }
    ecm_pg_pool_put(app->pool, pg);
    if (PQntuples(r) == 0) {
        PQclear(r);
        ecm_http_respond_problem(req, 404, "not-found", "No such upload",
                                 "upload %lld does not exist", id);
        return;
    }
    const long long counts[5] = {col_ll(r, 0, 3), col_ll(r, 0, 4), col_ll(r, 0, 5), col_ll(r, 0, 6),
                                 col_ll(r, 0, 7)};
    json_t *body = upload_json(id, PQgetvalue(r, 0, 0), col_ll(r, 0, 1), PQgetvalue(r, 0, 2),
                               counts, col_ll(r, 0, 8), col_ll(r, 0, 9));
    json_t *items = json_array();
    int n = PQntuples(rows);
    int shown = n > (int)limit ? (int)limit : n;
    for (int i = 0; i < shown; i++) {
        json_array_append_new(items, json_pack("{sI ss ss}", "line", (json_int_t)col_ll(rows, i, 0),
                                               "kind", PQgetvalue(rows, i, 1), "reason",
                                               PQgetvalue(rows, i, 2)));
    }
    json_t *next =
        n > (int)limit ? json_integer((json_int_t)col_ll(rows, shown - 1, 0)) : json_null();
    if (body && items) {
        json_object_set_new(body, "content_type",
                            gw_json_text_or_null(PQgetvalue(r, 0, 10), PQgetisnull(r, 0, 10)));
        json_object_set_new(body, "created_at", json_string(PQgetvalue(r, 0, 11)));
        json_object_set_new(body, "finished_at",
                            gw_json_text_or_null(PQgetvalue(r, 0, 12), PQgetisnull(r, 0, 12)));
        /* Where a resume goes on from: the last line (item) loaded and the
         * bytes of the file read by then. */
        json_object_set_new(body, "committed_line", json_integer((json_int_t)col_ll(r, 0, 13)));
        json_object_set_new(body, "committed_bytes", json_integer((json_int_t)col_ll(r, 0, 14)));
        json_object_set_new(body, "owner",
                            gw_json_text_or_null(PQgetvalue(r, 0, 15), PQgetisnull(r, 0, 15)));
        json_object_set_new(body, "resumes", json_integer((json_int_t)col_ll(r, 0, 16)));
        json_object_set_new(body, "interrupted_at",
                            gw_json_text_or_null(PQgetvalue(r, 0, 17), PQgetisnull(r, 0, 17)));
        json_object_set_new(body, "lease_until",
                            gw_json_text_or_null(PQgetvalue(r, 0, 18), PQgetisnull(r, 0, 18)));
        if (strcmp(PQgetvalue(r, 0, 2), "interrupted") == 0) {
            char resume[64];
            (void)snprintf(resume, sizeof(resume), "/api/v1/uploads/%lld/resume", id);
            json_object_set_new(body, "resume_url", json_string(resume));
        }
        json_object_set_new(body, "rows", items);
        json_object_set_new(body, "next_after", next);
    } else {
        json_decref(items);
        json_decref(next);
    }
    PQclear(rows);
    PQclear(r);
    gw_json_respond(req, 200, body);
}

int gw_upload_register(ecm_http *h, const gw_app *app)
{
    static const ecm_http_stream_handler fns = {
        .begin = upload_begin,
        .body = upload_body,
        .end = upload_end,
        .cleanup = upload_cleanup,
    };
    static const ecm_http_stream_handler resume_fns = {
        .begin = resume_begin,
        .body = upload_body,
        .end = upload_end,
        .cleanup = upload_cleanup,
    };
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route_stream(h, "POST", "/api/v1/campaigns/{}/uploads",
                              gw_upload_limits_max_bytes(app), &fns, ctx) != 0 ||
        ecm_http_route_stream(h, "POST", "/api/v1/uploads/{}/resume",
                              gw_upload_limits_max_bytes(app), &resume_fns, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/uploads/{}", 0, get_upload, ctx) != 0) {
        return -1;
    }
    return gw_dnc_upload_register(h, app);
}

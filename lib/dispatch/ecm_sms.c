#include "ecm_sms.h"

#include "ecm_buf.h"
#include "ecm_utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* GSM 03.38 default alphabet, by septet value; 0x1B is the escape to the
 * extension table, not a character (0 marks it here). */
static const uint16_t GSM7_BASIC[128] = {
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, /* @£$¥èéùì */
    0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5, /* òÇ\nØø\rÅå */
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, /* Δ_ΦΓΛΩΠΨ */
    0x03A3, 0x0398, 0x039E, 0x0000, 0x00C6, 0x00E6, 0x00DF, 0x00C9, /* ΣΘΞ esc ÆæßÉ */
    0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027, /*  !"#¤%&' */
    0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F, /* ()*+,-./ */
    0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037, /* 0-7 */
    0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F, /* 89:;<=>? */
    0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047, /* ¡A-G */
    0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F, /* H-O */
    0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057, /* P-W */
    0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, /* XYZÄÖÑÜ§ */
    0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, /* ¿a-g */
    0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F, /* h-o */
    0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077, /* p-w */
    0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0, /* xyzäöñüà */
};

/* The extension table (each costs the escape septet plus its own). */
static const uint16_t GSM7_EXTENSION[] = {
    0x000C, 0x005E, 0x007B, 0x007D, 0x005C, 0x005B, 0x007E, 0x005D, 0x007C, 0x20AC,
}; /* form feed ^ { } \ [ ~ ] | € */

/* Septets a code point costs in GSM-7: 1, 2 (extension) or 0 (not
 * representable). */
static int gsm7_cost(uint32_t cp)
{
    if (cp == 0 || cp > 0xFFFF)
        return 0; /* 0 would match the escape slot of the table */
    for (size_t i = 0; i < sizeof GSM7_BASIC / sizeof GSM7_BASIC[0]; i++) {
        if (GSM7_BASIC[i] == cp)
            return 1;
    }
    for (size_t i = 0; i < sizeof GSM7_EXTENSION / sizeof GSM7_EXTENSION[0]; i++) {
        if (GSM7_EXTENSION[i] == cp)
            return 2;
    }
    return 0;
}

const char *ecm_sms_encoding_name(ecm_sms_encoding e)
{
    return e == ECM_SMS_GSM7 ? "GSM7" : "UCS2";
}

int ecm_sms_segments(ecm_sms_encoding encoding, size_t units)
{
    size_t single = encoding == ECM_SMS_GSM7 ? ECM_SMS_GSM7_SINGLE : ECM_SMS_UCS2_SINGLE;
    size_t part = encoding == ECM_SMS_GSM7 ? ECM_SMS_GSM7_PART : ECM_SMS_UCS2_PART;
    if (units <= single)
        return 1;
    return (int)((units + part - 1) / part);
}

/* Parts needed when characters of cost 1 or 2 units are packed in order
 * and a 2-unit character never straddles two parts. */
static int pack_parts(const unsigned char *p, size_t len, ecm_sms_encoding enc, size_t units)
{
    size_t single = enc == ECM_SMS_GSM7 ? ECM_SMS_GSM7_SINGLE : ECM_SMS_UCS2_SINGLE;
    size_t part = enc == ECM_SMS_GSM7 ? ECM_SMS_GSM7_PART : ECM_SMS_UCS2_PART;
    if (units <= single)
        return 1;
    int parts = 1;
    size_t used = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t n = ecm_utf8_next((const char *)p + i, len - i, &cp);
        if (n == 0)
            break; /* validated by the caller */
        i += n;
        size_t cost = enc == ECM_SMS_GSM7 ? (size_t)gsm7_cost(cp) : (cp > 0xFFFF ? 2u : 1u);
        if (used + cost > part) {
            parts++;
            used = 0;
        }
        used += cost;
    }
    return parts;
}

int ecm_sms_measure(const char *text, ecm_sms_info *out)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t len = strlen(text);
    size_t chars = 0, septets = 0, utf16 = 0;
    int gsm = 1;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = ecm_utf8_next((const char *)p + i, len - i, &cp);
        if (n == 0)
            return -1;
        i += n;
        chars++;
        utf16 += cp > 0xFFFF ? 2 : 1;
        if (gsm) {
            int cost = gsm7_cost(cp);
            if (cost == 0)
                gsm = 0;
            septets += (size_t)cost;
        }
    }
    out->encoding = gsm ? ECM_SMS_GSM7 : ECM_SMS_UCS2;
    out->chars = chars;
    out->units = gsm ? septets : utf16;
    out->segments = pack_parts(p, len, out->encoding, out->units);
    return 0;
}

/* ---- templates ---- */

static void set_err(char *errstr, size_t errstr_size, const char *a, const char *b)
{
    if (errstr && errstr_size > 0) {
        size_t la = strlen(a), lb = b ? strlen(b) : 0;
        size_t k = 0;
        for (size_t i = 0; i < la && k + 1 < errstr_size; i++)
            errstr[k++] = a[i];
        for (size_t i = 0; i < lb && k + 1 < errstr_size; i++)
            errstr[k++] = b[i];
        errstr[k] = '\0';
    }
}

/* A field name's text between the braces, trimmed of spaces, into name.
 * Returns 0, or -1 with a reason. */
static int take_name(const char *start, size_t len, char name[ECM_SMS_FIELD_MAX + 1], char *errstr,
                     size_t errstr_size)
{
    while (len > 0 && *start == ' ') {
        start++;
        len--;
    }
    while (len > 0 && start[len - 1] == ' ')
        len--;
    if (len == 0) {
        set_err(errstr, errstr_size, "empty placeholder '{}'", NULL);
        return -1;
    }
    if (len > ECM_SMS_FIELD_MAX) {
        set_err(errstr, errstr_size, "placeholder name too long", NULL);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)start[i] < 0x20 || start[i] == 0x7F) {
            set_err(errstr, errstr_size, "control character in a placeholder name", NULL);
            return -1;
        }
    }
    memcpy(name, start, len);
    name[len] = '\0';
    return 0;
}

/* The one parser behind foreach and render: calls on_text for literal runs
 * (may be NULL) and on_field for each placeholder. */
typedef int (*text_fn)(void *ctx, const char *s, size_t len);

static int walk(const char *tmpl, text_fn on_text, ecm_sms_placeholder_fn on_field, void *ctx,
                char *errstr, size_t errstr_size)
{
    size_t len = strlen(tmpl);
    if (!ecm_utf8_valid(tmpl, len)) {
        set_err(errstr, errstr_size, "template is not valid UTF-8", NULL);
        return -1;
    }
    size_t i = 0, lit = 0;
    while (i < len) {
        char c = tmpl[i];
        if (c != '{' && c != '}') {
            i++;
            continue;
        }
        if (on_text && i > lit && on_text(ctx, tmpl + lit, i - lit) != 0)
            return -2;
        if (i + 1 < len && tmpl[i + 1] == c) {
            if (on_text && on_text(ctx, tmpl + i, 1) != 0)
                return -2;
            i += 2;
            lit = i;
            continue;
        }
        if (c == '}') {
            set_err(errstr, errstr_size, "stray '}' (write '}}' for a literal brace)", NULL);
            return -1;
        }
        const char *close = memchr(tmpl + i + 1, '}', len - i - 1);
        const char *open = memchr(tmpl + i + 1, '{', len - i - 1);
        if (!close || (open && open < close)) {
            set_err(errstr, errstr_size, "unclosed '{' (write '{{' for a literal brace)", NULL);
            return -1;
        }
        char name[ECM_SMS_FIELD_MAX + 1];
        if (take_name(tmpl + i + 1, (size_t)(close - tmpl) - i - 1, name, errstr, errstr_size) < 0)
            return -1;
        int rc = on_field(ctx, name);
        if (rc != 0)
            return rc;
        i = (size_t)(close - tmpl) + 1;
        lit = i;
    }
    if (on_text && i > lit && on_text(ctx, tmpl + lit, i - lit) != 0)
        return -2;
    return 0;
}

int ecm_sms_template_foreach(const char *tmpl, ecm_sms_placeholder_fn fn, void *ctx, char *errstr,
                             size_t errstr_size)
{
    if (errstr && errstr_size > 0)
        errstr[0] = '\0';
    return walk(tmpl, NULL, fn, ctx, errstr, errstr_size);
}

typedef struct {
    const char *const *fields;
    size_t n;
    char *errstr;
    size_t errstr_size;
} check_ctx;

static int check_one(void *vctx, const char *name)
{
    check_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        if (c->fields[i] && strcmp(c->fields[i], name) == 0)
            return 0;
    }
    set_err(c->errstr, c->errstr_size, "unknown field '", name);
    size_t l = c->errstr ? strlen(c->errstr) : 0;
    if (c->errstr && l + 1 < c->errstr_size) {
        c->errstr[l] = '\'';
        c->errstr[l + 1] = '\0';
    }
    return 1;
}

int ecm_sms_template_check(const char *tmpl, const char *const *fields, size_t nfields,
                           char *errstr, size_t errstr_size)
{
    check_ctx c = {fields, nfields, errstr, errstr_size};
    return ecm_sms_template_foreach(tmpl, check_one, &c, errstr, errstr_size);
}

/* ---- rendering ---- */

typedef struct {
    ecm_buf buf;
    ecm_sms_field_fn lookup;
    void *lookup_ctx;
    char *errstr;
    size_t errstr_size;
    int oom;
} render_ctx;

/* Hard limit on a rendered text: far beyond any real SMS (Kannel's default
 * max-messages is 10 parts), small enough that a runaway field can't eat
 * memory. */
#define RENDER_MAX (64 * 1024)

static int put(void *vctx, const char *s, size_t n)
{
    render_ctx *r = vctx;
    int too_long = ecm_buf_len(&r->buf) + n + 1 > RENDER_MAX;
    if (ecm_buf_add(&r->buf, s, n) == 0)
        return 0;
    set_err(r->errstr, r->errstr_size, too_long ? "rendered text too long" : "out of memory", NULL);
    r->oom = 1;
    return -1;
}

static int put_field(void *vctx, const char *name)
{
    render_ctx *r = vctx;
    const char *v = r->lookup(r->lookup_ctx, name);
    if (!v) {
        set_err(r->errstr, r->errstr_size, "missing field '", name);
        size_t l = r->errstr ? strlen(r->errstr) : 0;
        if (r->errstr && l + 1 < r->errstr_size) {
            r->errstr[l] = '\'';
            r->errstr[l + 1] = '\0';
        }
        return 1;
    }
    return put(r, v, strlen(v)) == 0 ? 0 : 1;
}

int ecm_sms_render(const char *tmpl, ecm_sms_field_fn lookup, void *ctx, char **out, char *errstr,
                   size_t errstr_size)
{
    *out = NULL;
    if (errstr && errstr_size > 0)
        errstr[0] = '\0';
    render_ctx r = {
        .lookup = lookup, .lookup_ctx = ctx, .errstr = errstr, .errstr_size = errstr_size};
    ecm_buf_init(&r.buf, RENDER_MAX);
    int rc = walk(tmpl, put, put_field, &r, errstr, errstr_size);
    if (rc == 0 && !ecm_buf_ptr(&r.buf))
        rc = put(&r, "", 0);
    if (rc != 0) {
        ecm_buf_destroy(&r.buf);
        return -1;
    }
    if (!ecm_utf8_valid(ecm_buf_ptr(&r.buf), ecm_buf_len(&r.buf))) {
        set_err(errstr, errstr_size, "a field value is not valid UTF-8", NULL);
        ecm_buf_destroy(&r.buf);
        return -1;
    }
    *out = ecm_buf_take(&r.buf);
    return 0;
}

#include "gw_upload.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pg.h"
#include "ecm_sms_text.h"
#include "gw_csv.h"
#include "gw_json.h"

#define GW_NAME_MAX_CHARS 50
#define GW_TZ_MAX_CHARS 64
#define GW_HEADER_MAX_COLUMNS 1000
#define GW_ERRORS_KEPT 1000  /* in uploads.errors */
#define GW_ERRORS_ANSWER 100 /* in the 202 answer */
#define GW_FLUSH_TRIES 3

/* ---- text helpers ---------------------------------------------------- */

/* 1 when s[0..len) is well-formed UTF-8 without NUL bytes (PostgreSQL text
 * can hold neither malformed UTF-8 nor NUL, and one bad row must not fail a
 * whole COPY batch). */
static int text_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char b = p[i];
        size_t n;
        uint32_t cp;
        if (b == 0) {
            return 0;
        } else if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 1;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            n = 3;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (i + n >= len) {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

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

static int buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n + 1) {
            c *= 2;
        }
        char *b = realloc(*buf, c);
        if (!b) {
            return -1;
        }
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

static int buf_append_str(char **buf, size_t *len, size_t *cap, const char *s)
{
    return buf_append(buf, len, cap, s, strlen(s));
}

/* ---- phone ------------------------------------------------------------ */

int gw_phone_normalize(const char *raw, const char *region, char *out, size_t out_size)
{
    (void)region; /* libphonenumber will parse national numbers by region */
    size_t n = 0, digits = 0;
    if (out_size > 0) {
        out[0] = '\0';
    }
    for (const char *p = raw; *p; p++) {
        char ch = *p;
        if (ch == ' ' || ch == '-' || ch == '.' || ch == '(' || ch == ')') {
            continue;
        }
        if (ch == '+' && n == 0) {
            /* only as the first significant character */
        } else if (ch < '0' || ch > '9') {
            goto bad;
        } else {
            digits++;
        }
        if (n + 1 >= out_size) {
            goto bad;
        }
        out[n++] = ch;
    }
    if (digits < 7 || digits > 20) {
        goto bad;
    }
    out[n] = '\0';
    return 0;
bad:
    if (out_size > 0) {
        out[0] = '\0';
    }
    return -1;
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
        (void)snprintf(msg, sizeof(msg), "more than %d columns", GW_HEADER_MAX_COLUMNS);
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
        if (!text_ok(s, len)) {
            (void)snprintf(msg, sizeof(msg), "column %zu is not valid UTF-8", i + 1);
            return header_fail(h, errstr, errstr_size, msg);
        }
        if (len == 0) {
            (void)snprintf(msg, sizeof(msg), "column %zu has no name", i + 1);
            return header_fail(h, errstr, errstr_size, msg);
        }
        for (size_t j = 0; j < i; j++) {
            const char *t = fields[j];
            size_t tlen = lens[j];
            trim(&t, &tlen);
            if (tlen == len && strncasecmp(s, t, len) == 0) {
                (void)snprintf(msg, sizeof(msg), "column %zu: '%.*s' appears twice", i + 1,
                               (int)(len > 40 ? 40 : len), s);
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
        (void)snprintf(t->errstr, t->errstr_size,
                       "the message template uses {%.64s}, which is not a column of the file",
                       name);
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

static void quote_raw(char *out, size_t out_size, const char *s, size_t len)
{
    int shown = (int)(len > 40 ? 40 : len);
    (void)snprintf(out, out_size, "%.*s%s", shown, s, len > 40 ? "..." : "");
}

/* Appends a known column's trimmed value, COPY-escaped (\N when empty). */
static int put_text(char **buf, size_t *len, size_t *cap, const char *s, size_t n, char *scratch)
{
    if (n == 0) {
        return ecm_pg_copy_escape(buf, len, cap, NULL);
    }
    memcpy(scratch, s, n);
    scratch[n] = '\0';
    return ecm_pg_copy_escape(buf, len, cap, scratch);
}

static int tz_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > GW_TZ_MAX_CHARS) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '/' && ch != '_' && ch != '-' && ch != '+') {
            return 0;
        }
    }
    return 1;
}

static const char *const column_names[] = {"account_number", "first_name", "last_name",
                                           "time_zone"};

static const char *column_label(const gw_upload_header *h, size_t col, char *tmp, size_t tmp_size)
{
    const int known[] = {h->account, h->first, h->last, h->tz};
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
        if (known[k] == (int)col) {
            return column_names[k];
        }
    }
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        if (h->phone[k] == (int)col) {
            (void)snprintf(tmp, tmp_size, "phone%d", k + 1);
            return tmp;
        }
    }
    return h->custom[col] ? h->custom[col] : "?";
}

int gw_upload_row_copy(const gw_upload_header *h, const char *region, long long line,
                       size_t nfields, const char *const *fields, const size_t *lens, char **buf,
                       size_t *len, size_t *cap, char *reason, size_t reason_size)
{
    if (nfields != h->ncols) {
        (void)snprintf(reason, reason_size, "expected %zu fields, found %zu", h->ncols, nfields);
        return 1;
    }
    size_t longest = 0;
    for (size_t i = 0; i < nfields; i++) {
        if (!text_ok(fields[i], lens[i])) {
            char tmp[16];
            (void)snprintf(reason, reason_size, "%s: not valid UTF-8 text",
                           column_label(h, i, tmp, sizeof(tmp)));
            return 1;
        }
        if (lens[i] > longest) {
            longest = lens[i];
        }
    }
    const char *name_cols[2] = {"first_name", "last_name"};
    const int name_idx[2] = {h->first, h->last};
    for (int k = 0; k < 2; k++) {
        if (name_idx[k] < 0) {
            continue;
        }
        const char *s = fields[name_idx[k]];
        size_t n = lens[name_idx[k]];
        trim(&s, &n);
        if (utf8_chars(s, n) > GW_NAME_MAX_CHARS) {
            (void)snprintf(reason, reason_size, "%s: longer than %d characters", name_cols[k],
                           GW_NAME_MAX_CHARS);
            return 1;
        }
    }
    for (size_t i = 0; h->required && i < nfields; i++) {
        const char *s = fields[i];
        size_t n = lens[i];
        trim(&s, &n);
        if (h->required[i] && n == 0) {
            char tmp[16];
            const char *label = column_label(h, i, tmp, sizeof(tmp));
            (void)snprintf(reason, reason_size,
                           "%.64s: empty, but the message template uses {%.64s}", label, label);
            return 1;
        }
    }
    if (h->tz >= 0) {
        const char *s = fields[h->tz];
        size_t n = lens[h->tz];
        trim(&s, &n);
        if (n > 0 && !tz_name_ok(s, n)) {
            char shown[64];
            quote_raw(shown, sizeof(shown), s, n);
            (void)snprintf(reason, reason_size, "time_zone: '%s' is not a time zone name", shown);
            return 1;
        }
    }

    char *scratch = malloc(longest + 1);
    char *phones = NULL;
    size_t plen = 0, pcap = 0;
    json_t *custom = json_object();
    char *custom_text = NULL;
    int rc = -1;
    size_t start = *len;
    if (!scratch || !custom || buf_append_str(&phones, &plen, &pcap, "{") != 0) {
        goto out;
    }
    int nphones = 0;
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        if (h->phone[k] < 0) {
            continue;
        }
        const char *s = fields[h->phone[k]];
        size_t n = lens[h->phone[k]];
        trim(&s, &n);
        if (n == 0) {
            continue;
        }
        char norm[32];
        memcpy(scratch, s, n);
        scratch[n] = '\0';
        if (gw_phone_normalize(scratch, region, norm, sizeof(norm)) != 0) {
            char shown[64];
            quote_raw(shown, sizeof(shown), s, n);
            (void)snprintf(reason, reason_size, "phone%d: '%s' is not a phone number", k + 1,
                           shown);
            rc = 1;
            goto out;
        }
        /* Normalised numbers hold only digits and '+', but quote each
         * element so the literal stays valid if that ever changes. */
        if (buf_append_str(&phones, &plen, &pcap, nphones ? ",\"" : "\"") != 0) {
            goto out;
        }
        for (const char *p = norm; *p; p++) {
            if ((*p == '"' || *p == '\\') && buf_append(&phones, &plen, &pcap, "\\", 1) != 0) {
                goto out;
            }
            if (buf_append(&phones, &plen, &pcap, p, 1) != 0) {
                goto out;
            }
        }
        if (buf_append_str(&phones, &plen, &pcap, "\"") != 0) {
            goto out;
        }
        nphones++;
    }
    if (nphones == 0) {
        (void)snprintf(reason, reason_size, "no phone number (phone1 .. phone10 are empty)");
        rc = 1;
        goto out;
    }
    if (buf_append_str(&phones, &plen, &pcap, "}") != 0) {
        goto out;
    }
    for (size_t i = 0; i < nfields; i++) {
        if (h->custom[i] &&
            json_object_set_new(custom, h->custom[i], json_stringn(fields[i], lens[i])) != 0) {
            goto out;
        }
    }
    if (!(custom_text = json_dumps(custom, JSON_COMPACT))) {
        goto out;
    }

    char num[32];
    (void)snprintf(num, sizeof(num), "%lld\t", line);
    const int text_cols[3] = {h->account, h->first, h->last};
    if (buf_append_str(buf, len, cap, num) != 0) {
        goto out;
    }
    for (int k = 0; k < 3; k++) {
        const char *s = "";
        size_t n = 0;
        if (text_cols[k] >= 0) {
            s = fields[text_cols[k]];
            n = lens[text_cols[k]];
            trim(&s, &n);
        }
        if (put_text(buf, len, cap, s, n, scratch) != 0 || buf_append(buf, len, cap, "\t", 1)) {
            goto out;
        }
    }
    if (ecm_pg_copy_escape(buf, len, cap, phones) != 0 || buf_append(buf, len, cap, "\t", 1) ||
        ecm_pg_copy_escape(buf, len, cap, custom_text) != 0 ||
        buf_append(buf, len, cap, "\t", 1) != 0) {
        goto out;
    }
    {
        const char *s = "";
        size_t n = 0;
        if (h->tz >= 0) {
            s = fields[h->tz];
            n = lens[h->tz];
            trim(&s, &n);
        }
        if (put_text(buf, len, cap, s, n, scratch) != 0 || buf_append(buf, len, cap, "\n", 1)) {
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0) {
        *len = start;
        if (*buf) {
            (*buf)[start] = '\0';
        }
    }
    if (rc < 0) {
        (void)snprintf(reason, reason_size, "out of memory");
    }
    free(scratch);
    free(phones);
    free(custom_text);
    json_decref(custom);
    return rc;
}

/* ---- the streamed upload ---------------------------------------------- */

#define COPY_CONTACTS_SQL                                                                          \
    "COPY contacts (id, campaign_id, upload_id, line_no, account_number, first_name, last_name, "  \
    "phones, custom, time_zone) FROM STDIN"

typedef struct {
    const gw_app *app;
    long long campaign_id;
    long long upload_id;
    Ecm__V1__Channel channel;
    char region[16];
    char *sms_template; /* sms campaigns: placeholders must be columns */
    gw_csv *csv;
    gw_upload_header *header;

    /* The batch: COPY lines from line_no on, row i starting at row_off[i]. */
    char *batch;
    size_t blen, bcap;
    size_t *row_off;
    size_t nrows;

    long long rows_read, rows_loaded, rows_rejected;
    json_t *errors; /* the first GW_ERRORS_KEPT {line, reason} */

    /* A failure that ends the upload, answered by body() or end(). */
    int fail_status;
    const char *fail_type;
    const char *fail_title;
    char fail_detail[320];
    int finished;
} upload;

/* line 0: the failure has no line of its own. */
static void upload_error(upload *u, long long line, const char *reason)
{
    if (json_array_size(u->errors) < GW_ERRORS_KEPT) {
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
    (void)snprintf(u->fail_detail, sizeof(u->fail_detail), "%s", detail);
}

/* Writes the counts (and state when not NULL) of u on pg, inside or outside
 * a transaction. loaded is passed so a batch can count itself before its
 * commit. Returns 0 or -1. */
static int upload_save(ecm_pg *pg, const upload *u, long long loaded, const char *state)
{
    char id[24], read[24], ld[24], rej[24];
    (void)snprintf(id, sizeof(id), "%lld", u->upload_id);
    (void)snprintf(read, sizeof(read), "%lld", u->rows_read);
    (void)snprintf(ld, sizeof(ld), "%lld", loaded);
    (void)snprintf(rej, sizeof(rej), "%lld", u->rows_rejected);
    char *errors = json_dumps(u->errors, JSON_COMPACT);
    if (!errors) {
        return -1;
    }
    const char *params[] = {id, read, ld, rej, errors, state};
    int rc = ecm_pg_cmd(pg,
                        "UPDATE uploads SET rows_read = $2, rows_loaded = $3, rows_rejected = $4, "
                        "errors = $5::jsonb, state = coalesce($6, state), "
                        "finished_at = CASE WHEN $6 IS NULL THEN NULL ELSE now() END "
                        "WHERE id = $1",
                        6, params);
    free(errors);
    return rc;
}

static int flush_once(upload *u, ecm_pg *pg)
{
    char n[24], prefix[96];
    (void)snprintf(n, sizeof(n), "%zu", u->nrows);
    const char *params[] = {n};
    PGresult *ids = NULL;
    if (ecm_pg_begin(pg) != 0) {
        return -1;
    }
    ids = ecm_pg_exec(pg, "SELECT nextval('contacts_id_seq') FROM generate_series(1, $1::int)", 1,
                      params);
    if (!ids || PQntuples(ids) != (int)u->nrows) {
        goto fail;
    }
    if (ecm_pg_copy_begin(pg, COPY_CONTACTS_SQL) != 0) {
        goto fail;
    }
    for (size_t i = 0; i < u->nrows; i++) {
        size_t end = i + 1 < u->nrows ? u->row_off[i + 1] : u->blen;
        int pn = snprintf(prefix, sizeof(prefix), "%s\t%lld\t%lld\t", PQgetvalue(ids, (int)i, 0),
                          u->campaign_id, u->upload_id);
        if (pn < 0 || (size_t)pn >= sizeof(prefix) ||
            ecm_pg_copy_put(pg, prefix, (size_t)pn) != 0 ||
            ecm_pg_copy_put(pg, u->batch + u->row_off[i], end - u->row_off[i]) != 0) {
            goto fail;
        }
    }
    if (ecm_pg_copy_end(pg) != 0 || ecm_outbox_copy_begin(pg) != 0) {
        goto fail;
    }
    int64_t now = ecm_now_ms();
    for (size_t i = 0; i < u->nrows; i++) {
        const char *key = PQgetvalue(ids, (int)i, 0);
        char *end = NULL;
        long long contact_id = strtoll(key, &end, 10);
        if (!end || *end != '\0') {
            goto fail;
        }
        char event_id[ECM_UUID_LEN];
        ecm_uuid_new(event_id);
        Ecm__V1__ContactUploaded msg = ECM__V1__CONTACT_UPLOADED__INIT;
        msg.event_id = event_id;
        msg.occurred_at = now;
        msg.campaign_id = u->campaign_id;
        msg.contact_id = contact_id;
        msg.attempt = 1;
        msg.channel = u->channel;
        msg.upload_id = u->upload_id;
        if (ecm_outbox_copy_add(pg, u->app->topic_uploaded, key, u->app->source, event_id, now,
                                &msg.base) != 0) {
            goto fail;
        }
    }
    if (ecm_outbox_copy_end(pg) != 0 ||
        upload_save(pg, u, u->rows_loaded + (long long)u->nrows, NULL) != 0 ||
        ecm_pg_commit(pg) != 0) {
        goto fail;
    }
    PQclear(ids);
    return 0;
fail:
    PQclear(ids);
    ecm_pg_rollback(pg);
    return -1;
}

/* After a lost connection the COMMIT may have gone through unseen: the
 * upload row's count tells, since it is written in the batch's transaction. */
static int batch_already_committed(upload *u, ecm_pg *pg)
{
    char id[24];
    (void)snprintf(id, sizeof(id), "%lld", u->upload_id);
    const char *params[] = {id};
    PGresult *r = ecm_pg_exec(pg, "SELECT rows_loaded FROM uploads WHERE id = $1", 1, params);
    int done = 0;
    if (r && PQntuples(r) == 1) {
        done = strtoll(PQgetvalue(r, 0, 0), NULL, 10) == u->rows_loaded + (long long)u->nrows;
    }
    PQclear(r);
    return done;
}

/* Loads the batch in one transaction, retrying when the connection broke.
 * Returns 0, or -1 with the failure recorded in u. */
static int upload_flush(upload *u)
{
    if (u->nrows == 0) {
        return 0;
    }
    int ok = 0;
    int64_t started = ecm_now_ms();
    for (int t = 0; t < GW_FLUSH_TRIES && !ok; t++) {
        ecm_pg *pg = ecm_pg_pool_get(u->app->pool);
        if ((t > 0 && batch_already_committed(u, pg)) || flush_once(u, pg) == 0) {
            ok = 1;
        }
        int broken = ok ? 0 : ecm_pg_check_broken(pg);
        ecm_pg_pool_put(u->app->pool, pg);
        if (!ok && !broken) {
            break;
        }
    }
    if (!ok) {
        char detail[160];
        (void)snprintf(detail, sizeof(detail),
                       "the database did not take the contacts; %lld rows were loaded before",
                       u->rows_loaded);
        upload_fail(u, 503, "unavailable", "Database unavailable", detail);
        return -1;
    }
    u->rows_loaded += (long long)u->nrows;
    ecm_log_debug("upload batch loaded", "upload_id=%lld rows=%zu ms=%lld", u->upload_id, u->nrows,
                  (long long)(ecm_now_ms() - started));
    u->nrows = 0;
    u->blen = 0;
    return 0;
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
            (void)snprintf(detail, sizeof(detail), "line %lld: %s", line, reason);
            upload_error(u, line, reason);
            upload_fail(u, 422, "validation", "Unusable CSV header", detail);
            return -1;
        }
        if (u->sms_template) {
            int rc =
                gw_upload_header_use_template(u->header, u->sms_template, reason, sizeof(reason));
            if (rc != 0) {
                char detail[300];
                (void)snprintf(detail, sizeof(detail), "line %lld: %s", line, reason);
                upload_error(u, line, reason);
                upload_fail(u, 422, "validation",
                            rc > 0 ? "Template field missing from the file"
                                   : "Unusable message template",
                            detail);
                return -1;
            }
        }
        return 0;
    }
    u->rows_read++;
    size_t before = u->blen;
    int rc = gw_upload_row_copy(u->header, u->region, line, nfields, fields, lens, &u->batch,
                                &u->blen, &u->bcap, reason, sizeof(reason));
    if (rc < 0) {
        upload_fail(u, 500, "internal", "Internal error", "out of memory while reading the file");
        return -1;
    }
    if (rc > 0) {
        u->rows_rejected++;
        upload_error(u, line, reason);
        return 0;
    }
    u->row_off[u->nrows++] = before;
    return u->nrows >= u->app->upload_batch ? upload_flush(u) : 0;
}

static void upload_free(upload *u)
{
    if (!u) {
        return;
    }
    gw_csv_free(u->csv);
    gw_upload_header_free(u->header);
    free(u->sms_template);
    free(u->batch);
    free(u->row_off);
    json_decref(u->errors);
    free(u);
}

/* Media type of a Content-Type value: 1 for CSV in UTF-8 (or unspecified
 * charset), else 0. */
static int content_type_is_csv(const char *ct)
{
    if (!ct) {
        return 0;
    }
    while (*ct == ' ') {
        ct++;
    }
    size_t n = strcspn(ct, ";");
    size_t m = n;
    while (m > 0 && ct[m - 1] == ' ') {
        m--;
    }
    if (!((m == 8 && strncasecmp(ct, "text/csv", 8) == 0) ||
          (m == 15 && strncasecmp(ct, "application/csv", 15) == 0))) {
        return 0;
    }
    const char *cs = NULL;
    for (const char *p = ct + n; *p && !cs; p++) {
        if (strncasecmp(p, "charset=", 8) == 0) {
            cs = p;
        }
    }
    if (!cs) {
        return 1;
    }
    cs += 8;
    if (*cs == '"') {
        cs++;
    }
    return strncasecmp(cs, "utf-8", 5) == 0 || strncasecmp(cs, "utf8", 4) == 0 ||
           strncasecmp(cs, "us-ascii", 8) == 0;
}

static int upload_begin(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long campaign_id;
    if (gw_parse_id(ecm_http_req_param(req, 0), &campaign_id) != 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "'%.40s' is not a campaign id", ecm_http_req_param(req, 0));
        return -1;
    }
    const char *ct = ecm_http_req_header(req, "Content-Type");
    if (!content_type_is_csv(ct)) {
        ecm_http_respond_problem(req, 415, "unsupported-media-type", "Unsupported media type",
                                 "send the file as the request body with Content-Type: text/csv "
                                 "(UTF-8); got '%.60s'. multipart/form-data is not supported yet",
                                 ct ? ct : "");
        return -1;
    }
    char cid[24];
    (void)snprintf(cid, sizeof(cid), "%lld", campaign_id);
    const char *p1[] = {cid};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *c = ecm_pg_exec(
        pg, "SELECT channel, state, region, sms_template FROM campaigns WHERE id = $1", 1, p1);
    if (!c) {
        ecm_pg_check_broken(pg);
        ecm_pg_pool_put(app->pool, pg);
        ecm_http_respond_problem(req, 503, "unavailable", "Database unavailable",
                                 "could not read campaign %lld", campaign_id);
        return -1;
    }
    if (PQntuples(c) == 0) {
        PQclear(c);
        ecm_pg_pool_put(app->pool, pg);
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "campaign %lld does not exist", campaign_id);
        return -1;
    }
    const char *state = PQgetvalue(c, 0, 1);
    if (strcmp(state, "draft") != 0 && strcmp(state, "active") != 0 &&
        strcmp(state, "paused") != 0) {
        ecm_http_respond_problem(req, 409, "conflict", "Campaign does not take uploads",
                                 "campaign %lld is %s; uploads need a draft, active or paused "
                                 "campaign",
                                 campaign_id, state);
        PQclear(c);
        ecm_pg_pool_put(app->pool, pg);
        return -1;
    }
    upload *u = calloc(1, sizeof(*u));
    if (!u || !(u->errors = json_array()) ||
        !(u->row_off = calloc(app->upload_batch, sizeof(size_t))) ||
        !(u->csv = gw_csv_new(app->upload_max_record, upload_on_record, u))) {
        PQclear(c);
        ecm_pg_pool_put(app->pool, pg);
        upload_free(u);
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return -1;
    }
    u->app = app;
    u->campaign_id = campaign_id;
    u->channel = ecm_channel_from_name(PQgetvalue(c, 0, 0));
    (void)snprintf(u->region, sizeof(u->region), "%s", PQgetvalue(c, 0, 2));
    if (u->channel == ECM__V1__CHANNEL__CHANNEL_SMS && !PQgetisnull(c, 0, 3) &&
        !(u->sms_template = strdup(PQgetvalue(c, 0, 3)))) {
        PQclear(c);
        ecm_pg_pool_put(app->pool, pg);
        upload_free(u);
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return -1;
    }
    PQclear(c);

    const char *p2[] = {cid, ct};
    PGresult *r = ecm_pg_exec(
        pg, "INSERT INTO uploads (campaign_id, content_type) VALUES ($1, $2) RETURNING id", 2, p2);
    if (!r) {
        ecm_pg_check_broken(pg);
    } else {
        u->upload_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    if (u->upload_id <= 0) {
        upload_free(u);
        ecm_http_respond_problem(req, 503, "unavailable", "Database unavailable",
                                 "could not create the upload");
        return -1;
    }
    ecm_log_info("upload started", "upload_id=%lld campaign_id=%lld", u->upload_id, campaign_id);
    ecm_http_req_set_state(req, u);
    return 0;
}

/* Marks an upload that will not finish 'failed': what was loaded stays and
 * the row says so. Best effort (the database may be what failed); done once. */
static void mark_failed(upload *u)
{
    if (u->finished || u->upload_id <= 0) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(u->app->pool);
    if (upload_save(pg, u, u->rows_loaded, "failed") != 0) {
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

static int upload_body(void *ctx, ecm_http_req *req, const char *data, size_t len)
{
    (void)ctx;
    upload *u = ecm_http_req_state(req);
    char err[200];
    if (gw_csv_feed(u->csv, data, len, err, sizeof(err)) != 0) {
        if (!u->fail_status) {
            /* The reader itself gave up (a record too long): keep what came
             * before it, as the report says. */
            upload_error(u, gw_csv_error_line(u->csv), err);
            if (upload_flush(u) == 0) {
                char detail[300];
                (void)snprintf(detail, sizeof(detail), "%s; %lld rows before it were loaded", err,
                               u->rows_loaded);
                upload_fail(u, 422, "validation", "Unreadable CSV", detail);
            }
        }
        respond_failure(u, req);
        return -1;
    }
    return 0;
}

static json_t *upload_json(long long upload_id, long long campaign_id, const char *state,
                           long long read, long long loaded, long long rejected, json_t *errors)
{
    char url[64];
    (void)snprintf(url, sizeof(url), "/api/v1/uploads/%lld", upload_id);
    return json_pack("{sI sI ss ss sI sI sI so}", "upload_id", (json_int_t)upload_id, "campaign_id",
                     (json_int_t)campaign_id, "state", state, "report_url", url, "rows_read",
                     (json_int_t)read, "rows_loaded", (json_int_t)loaded, "rows_rejected",
                     (json_int_t)rejected, "errors", errors);
}

static void upload_end(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    upload *u = ecm_http_req_state(req);
    char err[200];
    if (gw_csv_finish(u->csv, err, sizeof(err)) != 0 && !u->fail_status) {
        upload_error(u, gw_csv_error_line(u->csv), err);
        upload_fail(u, 422, "validation", "Unreadable CSV", err);
    }
    if (!u->fail_status && !u->header) {
        upload_fail(u, 422, "validation", "Empty file", "the file has no header row");
    }
    /* Rows before a CSV-level failure are kept, as the report says; after
     * a database failure the batch is not tried again here. */
    if (u->fail_status == 0 || u->fail_status == 422) {
        (void)upload_flush(u);
    }
    if (u->fail_status) {
        respond_failure(u, req);
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(u->app->pool);
    int rc = upload_save(pg, u, u->rows_loaded, "done");
    if (rc != 0) {
        ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(u->app->pool, pg);
    if (rc != 0) {
        upload_fail(u, 503, "unavailable", "Database unavailable",
                    "the contacts were loaded but the upload could not be closed");
        respond_failure(u, req);
        return;
    }
    u->finished = 1;
    ecm_log_info("upload done", "upload_id=%lld read=%lld loaded=%lld rejected=%lld", u->upload_id,
                 u->rows_read, u->rows_loaded, u->rows_rejected);
    json_t *first = json_array();
    for (size_t i = 0; i < json_array_size(u->errors) && i < GW_ERRORS_ANSWER; i++) {
        json_array_append(first, json_array_get(u->errors, i));
    }
    gw_json_respond(req, 202,
                    upload_json(u->upload_id, u->campaign_id, "done", u->rows_read, u->rows_loaded,
                                u->rows_rejected, first));
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

#define UPLOAD_SELECT_SQL                                                                          \
    "SELECT campaign_id, state, rows_read, rows_loaded, rows_rejected, errors::text, "             \
    "content_type, " GW_SQL_TIME("created_at") ", " GW_SQL_TIME(                                   \
        "finished_at") " FROM uploads WHERE id = $1"

static void get_upload(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id, offset, limit;
    if (gw_parse_id(ecm_http_req_param(req, 0), &id) != 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such upload",
                                 "'%.40s' is not an upload id", ecm_http_req_param(req, 0));
        return;
    }
    if (gw_query_int(req, "offset", 0, 0, GW_ERRORS_KEPT, &offset) != 0 ||
        gw_query_int(req, "limit", GW_ERRORS_ANSWER, 1, GW_ERRORS_KEPT, &limit) != 0) {
        return;
    }
    char sid[24];
    (void)snprintf(sid, sizeof(sid), "%lld", id);
    const char *params[] = {sid};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg, UPLOAD_SELECT_SQL, 1, params);
    if (!r) {
        ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(app->pool, pg);
    if (!r) {
        ecm_http_respond_problem(req, 503, "unavailable", "Database unavailable",
                                 "could not read upload %lld", id);
        return;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        ecm_http_respond_problem(req, 404, "not-found", "No such upload",
                                 "upload %lld does not exist", id);
        return;
    }
    json_t *all = json_loads(PQgetvalue(r, 0, 5), 0, NULL);
    json_t *page = json_array();
    size_t total = json_array_size(all);
    for (size_t i = (size_t)offset; i < total && i < (size_t)(offset + limit); i++) {
        json_array_append(page, json_array_get(all, i));
    }
    json_decref(all);
    json_t *body =
        upload_json(id, strtoll(PQgetvalue(r, 0, 0), NULL, 10), PQgetvalue(r, 0, 1),
                    strtoll(PQgetvalue(r, 0, 2), NULL, 10), strtoll(PQgetvalue(r, 0, 3), NULL, 10),
                    strtoll(PQgetvalue(r, 0, 4), NULL, 10), page);
    if (body) {
        json_object_set_new(body, "errors_total", json_integer((json_int_t)total));
        json_object_set_new(body, "errors_offset", json_integer(offset));
        json_object_set_new(body, "content_type",
                            gw_json_text_or_null(PQgetvalue(r, 0, 6), PQgetisnull(r, 0, 6)));
        json_object_set_new(body, "created_at", json_string(PQgetvalue(r, 0, 7)));
        json_object_set_new(body, "finished_at",
                            gw_json_text_or_null(PQgetvalue(r, 0, 8), PQgetisnull(r, 0, 8)));
    }
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
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route_stream(h, "POST", "/api/v1/campaigns/{}/uploads", &fns, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/uploads/{}", 0, get_upload, ctx) != 0) {
        return -1;
    }
    return 0;
}

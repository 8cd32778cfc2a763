/* CSV contact upload: gw_csv (records and their line numbers) and the row
 * validation of gw_upload (header mapping, gw_upload_row_csv), as
 * POST /api/v1/campaigns/{id}/uploads runs them.
 *
 * Input: byte 0 picks the campaign (bits 0-1: region US, GB, FR or none;
 * bit 2: an sms campaign whose template uses {first_name}) and the chunk
 * size the body is fed in (bits 3-7); the rest is the CSV body.
 *
 * Properties:
 * - records do not depend on how the body is cut into chunks (the same
 *   records, lines and errors fed whole or in chunks);
 * - line numbers rise, and for a body without quotes or CR each record's
 *   line is its physical line (empty lines skipped);
 * - every reason (header, row, reader error) is non-empty valid UTF-8, and a
 *   reader error names the line gw_csv_error_line() gives;
 * - a rejected row's report line (gw_upload_report_add) reads back as its
 *   line number and its reason, unchanged, on one line;
 * - an accepted row's COPY fragment has the 9 columns, no raw line break,
 *   its line number first; unescaped, account_number, first_name, last_name
 *   and time_zone are the trimmed fields (NULL when empty or absent), the
 *   custom column is a JSON object of the raw custom fields under their
 *   trimmed header names, every column is
 *   valid UTF-8; its numbers are E.164, distinct, as many as phone types
 *   and zones, and no more than the non-empty phone fields. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ecm_phone.h"
#include "fuzz_support.h"
#include "fuzz_upload_support.h"
#include "gw_csv.h"
#include "gw_upload_report.h"
#include "gw_upload_row.h"

#define MAX_RECORD 2048
#define MAX_LINES 4096

typedef struct {
    ecm_buf trace; /* every record serialised, to compare the two feeds */
    long long prev_line;
    /* validation (the whole feed only) */
    int validate;
    gw_upload_header *header;
    int header_failed;
    gw_upload_rules rules;
    gw_upload_scratch *scratch;
    ecm_buf out;
    /* the header's columns as this harness reads them */
    size_t ncols;
    int known[4]; /* account_number, first_name, last_name, time_zone */
    int phone_col[GW_PHONE_COLUMNS];
    char **cname; /* per column: the trimmed header name */
    long long lines[MAX_LINES];
    size_t nlines;
} run;

static const char *const known_names[] = {"account_number", "first_name", "last_name", "time_zone"};

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) {
        (*n)--;
    }
}

static void map_header(run *r, size_t nfields, const char *const *fields, const size_t *lens)
{
    r->ncols = nfields;
    for (int k = 0; k < 4; k++) {
        r->known[k] = -1;
    }
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        r->phone_col[k] = -1;
    }
    r->cname = calloc(nfields, sizeof(char *));
    FUZZ_CHECK(r->cname != NULL, "oom");
    for (size_t i = 0; i < nfields; i++) {
        const char *s = fields[i];
        size_t n = lens[i];
        trim(&s, &n);
        r->cname[i] = fuzz_strndup((const uint8_t *)s, n);
        for (int k = 0; k < 4; k++) {
            if (strlen(known_names[k]) == n && strncasecmp(s, known_names[k], n) == 0) {
                r->known[k] = (int)i;
            }
        }
        for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
            char name[16];
            (void)fuzz_format(name, sizeof(name), "phone%d", k + 1);
            if (strlen(name) == n && strncasecmp(s, name, n) == 0) {
                r->phone_col[k] = (int)i;
            }
        }
    }
}

static int is_custom(const run *r, size_t col)
{
    for (int k = 0; k < 4; k++) {
        if (r->known[k] == (int)col) {
            return 0;
        }
    }
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        if (r->phone_col[k] == (int)col) {
            return 0;
        }
    }
    return 1;
}

/* The report line of a rejected row reads back as (line, reason). */
static void check_report(long long line, const char *reason)
{
    ecm_buf rows;
    ecm_buf_init(&rows, FUZZ_BUF_MAX);
    FUZZ_CHECK(gw_upload_report_add(&rows, 42, line, "rejected", reason) == 0, "out of memory");
    FUZZ_CHECK(ecm_buf_len(&rows) > 0 && ecm_buf_ptr(&rows)[ecm_buf_len(&rows) - 1] == '\n',
               "report line not ended");
    FUZZ_CHECK(memchr(ecm_buf_ptr(&rows), '\n', ecm_buf_len(&rows) - 1) == NULL &&
                   memchr(ecm_buf_ptr(&rows), '\r', ecm_buf_len(&rows)) == NULL,
               "raw line break inside a report line");
    char head[64];
    int n = (int)fuzz_format(head, sizeof(head), "42\t%lld\trejected\t", line);
    FUZZ_CHECK(
        n > 0 && (size_t)n < ecm_buf_len(&rows) && memcmp(ecm_buf_ptr(&rows), head, (size_t)n) == 0,
        "report line does not start with its line number %lld: %s", line, ecm_buf_ptr(&rows));
    size_t ulen = 0;
    char *back =
        fuzz_copy_unescape(ecm_buf_ptr(&rows) + n, ecm_buf_len(&rows) - 1 - (size_t)n, &ulen);
    FUZZ_CHECK(back && ulen == strlen(reason) && memcmp(back, reason, ulen) == 0,
               "reason does not survive COPY escaping: '%s'", reason);
    free(back);
    ecm_buf_destroy(&rows);
}

/* The COPY column col (0-based) of an accepted row, unescaped; NULL for \N. */
static char *column(const char *frag, size_t len, int col, size_t *out_len, int *is_null)
{
    const char *p = frag, *end = frag + len;
    for (int i = 0; i < col; i++) {
        p = memchr(p, '\t', (size_t)(end - p));
        FUZZ_CHECK(p != NULL, "fragment has fewer than %d columns", col + 1);
        p++;
    }
    const char *stop = memchr(p, '\t', (size_t)(end - p));
    if (!stop) {
        stop = end;
    }
    char *v = fuzz_copy_unescape(p, (size_t)(stop - p), out_len);
    *is_null = v == NULL;
    return v;
}

static void check_accepted(run *r, long long line, const char *const *fields, const size_t *lens,
                           const gw_upload_row *row)
{
    const char *frag = ecm_buf_ptr(&r->out) + row->copy_off;
    size_t len = row->copy_len;
    FUZZ_CHECK(memchr(frag, '\n', len) == NULL && memchr(frag, '\r', len) == NULL,
               "raw line break in a COPY fragment");
    size_t tabs = 0;
    for (size_t i = 0; i < len; i++) {
        tabs += frag[i] == '\t';
    }
    FUZZ_CHECK(tabs == 11, "COPY fragment has %zu columns, not 12", tabs + 1);

    size_t vlen;
    int is_null;
    char *v = column(frag, len, 0, &vlen, &is_null);
    char num[32];
    (void)fuzz_format(num, sizeof(num), "%lld", line);
    FUZZ_CHECK(v && strcmp(v, num) == 0, "line_no column '%s', record line %lld", v ? v : "", line);
    free(v);

    /* account_number, first_name, last_name, time_zone: the trimmed field. */
    const int copy_col[4] = {1, 2, 3, 6};
    for (int k = 0; k < 4; k++) {
        v = column(frag, len, copy_col[k], &vlen, &is_null);
        const char *want = "";
        size_t wn = 0;
        if (r->known[k] >= 0) {
            want = fields[r->known[k]];
            wn = lens[r->known[k]];
            trim(&want, &wn);
        }
        if (wn == 0) {
            FUZZ_CHECK(is_null, "%s: empty field not loaded as NULL", known_names[k]);
        } else {
            FUZZ_CHECK(!is_null && vlen == wn && memcmp(v, want, wn) == 0,
                       "%s does not round-trip through COPY escaping", known_names[k]);
            FUZZ_CHECK(ecm_utf8_valid(v, vlen), "%s: invalid UTF-8 loaded", known_names[k]);
        }
        free(v);
    }

    /* Numbers: E.164, distinct, the phones column lists them in order. */
    FUZZ_CHECK(row->nphones >= 1 && row->nphones <= GW_PHONE_COLUMNS, "nphones %d", row->nphones);
    int nonempty = 0;
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        if (r->phone_col[k] >= 0) {
            const char *s = fields[r->phone_col[k]];
            size_t n = lens[r->phone_col[k]];
            trim(&s, &n);
            nonempty += n > 0;
        }
    }
    FUZZ_CHECK(row->nphones <= nonempty, "%d numbers from %d phone fields", row->nphones, nonempty);
    ecm_buf lit;
    ecm_buf_init(&lit, FUZZ_BUF_MAX);
    FUZZ_CHECK(ecm_buf_add(&lit, "{", 1) == 0, "oom");
    const char *p = ecm_buf_ptr(&r->out) + row->phones_off;
    const char *first = p;
    for (int i = 0; i < row->nphones; i++) {
        FUZZ_CHECK(fuzz_e164_ok(p), "accepted number '%s' is not E.164", p);
        for (const char *q = first; q < p; q += strlen(q) + 1) {
            FUZZ_CHECK(strcmp(q, p) != 0, "number %s twice in one row", p);
        }
        FUZZ_CHECK((i == 0 || ecm_buf_add(&lit, ",", 1) == 0) && ecm_buf_add(&lit, "\"", 1) == 0 &&
                       ecm_buf_add(&lit, p, strlen(p)) == 0 && ecm_buf_add(&lit, "\"", 1) == 0,
                   "oom");
        p += strlen(p) + 1;
    }
    FUZZ_CHECK(ecm_buf_add(&lit, "}", 1) == 0, "oom");
    v = column(frag, len, 4, &vlen, &is_null);
    FUZZ_CHECK(v && strcmp(v, ecm_buf_ptr(&lit)) == 0, "phones column '%s', numbers %s", v ? v : "",
               ecm_buf_ptr(&lit));
    free(v);
    ecm_buf_destroy(&lit);

    /* Types, zones and jurisdictions: one a number, valid UTF-8; types names the API knows. */
    for (int col = 7; col <= 9; col++) {
        v = column(frag, len, col, &vlen, &is_null);
        FUZZ_CHECK(v && vlen >= 2 && v[0] == '{' && v[vlen - 1] == '}', "column %d '%s'", col,
                   v ? v : "");
        FUZZ_CHECK(ecm_utf8_valid(v, vlen), "column %d not valid UTF-8", col);
        int items = 1;
        for (size_t i = 0; i < vlen; i++) {
            items += v[i] == ',';
        }
        FUZZ_CHECK(items == row->nphones, "column %d has %d items for %d numbers", col, items,
                   row->nphones);
        if (col == 7) {
            char *save = NULL;
            v[vlen - 1] = '\0';
            for (char *t = strtok_r(v + 1, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                size_t tn = strlen(t);
                FUZZ_CHECK(tn >= 2 && t[0] == '"' && t[tn - 1] == '"', "type item %s", t);
                t[tn - 1] = '\0';
                FUZZ_CHECK(strcmp(ecm_phone_type_name(ecm_phone_type_from_name(t + 1)), t + 1) == 0,
                           "unknown phone type '%s'", t + 1);
            }
        }
        free(v);
    }

    /* Custom fields: a JSON object of the raw (untrimmed) custom fields. */
    v = column(frag, len, 5, &vlen, &is_null);
    FUZZ_CHECK(v && ecm_utf8_valid(v, vlen), "custom column not valid UTF-8");
    json_error_t jerr;
    json_t *obj = json_loadb(v, vlen, 0, &jerr);
    FUZZ_CHECK(json_is_object(obj), "custom column '%s' is no JSON object: %s", v, jerr.text);
    size_t ncustom = 0;
    for (size_t i = 0; i < r->ncols; i++) {
        if (!is_custom(r, i)) {
            continue;
        }
        ncustom++;
        /* Named by the header's trimmed name, the field as written. */
        json_t *val = json_object_get(obj, r->cname[i]);
        FUZZ_CHECK(json_is_string(val) && json_string_length(val) == lens[i] &&
                       memcmp(json_string_value(val), fields[i], lens[i]) == 0,
                   "custom field %zu ('%s') is not the file's in the custom column '%s'", i + 1,
                   r->cname[i], v);
    }
    FUZZ_CHECK(json_object_size(obj) == ncustom, "custom column has %zu members, file %zu",
               json_object_size(obj), ncustom);
    json_decref(obj);
    free(v);
}

static int on_record(void *ctx, long long line, size_t nfields, const char *const *fields,
                     const size_t *lens)
{
    run *r = ctx;
    FUZZ_CHECK(line >= 1 && line > r->prev_line, "record line %lld after %lld", line, r->prev_line);
    FUZZ_CHECK(nfields >= 1, "record without fields");
    r->prev_line = line;
    if (r->nlines < MAX_LINES) {
        r->lines[r->nlines++] = line;
    }
    char head[64];
    int n = (int)fuzz_format(head, sizeof(head), "%lld:%zu:", line, nfields);
    FUZZ_CHECK(ecm_buf_add(&r->trace, head, (size_t)n) == 0, "oom");
    for (size_t i = 0; i < nfields; i++) {
        FUZZ_CHECK(fields[i][lens[i]] == '\0', "field %zu not NUL-terminated", i);
        n = (int)fuzz_format(head, sizeof(head), "%zu:", lens[i]);
        FUZZ_CHECK(ecm_buf_add(&r->trace, head, (size_t)n) == 0 &&
                       ecm_buf_add(&r->trace, fields[i], lens[i]) == 0,
                   "oom");
    }
    if (!r->validate || r->header_failed) {
        return 0;
    }
    char reason[512];
    if (!r->header) {
        r->header = gw_upload_header_parse(nfields, fields, lens, reason, sizeof(reason));
        if (!r->header) {
            FUZZ_CHECK(reason[0] && fuzz_utf8_ok(reason), "header reason not valid UTF-8");
            r->header_failed = 1;
            return 0;
        }
        map_header(r, nfields, fields, lens);
        if (r->rules.sms) {
            int rc = gw_upload_header_use_template(r->header, "Hello {first_name}", reason,
                                                   sizeof(reason));
            FUZZ_CHECK(rc >= 0, "template: %s", reason);
            FUZZ_CHECK(rc == 0 || fuzz_utf8_ok(reason), "template reason not valid UTF-8");
        }
        return 0;
    }
    gw_upload_row row;
    reason[0] = '\0';
    int rc = gw_upload_row_csv(r->header, &r->rules, r->scratch, line, nfields, fields, lens,
                               &r->out, &row, reason, sizeof(reason));
    FUZZ_CHECK(rc == 0 || rc == 1, "gw_upload_row_csv returned %d (%s)", rc, reason);
    if (rc == 1) {
        FUZZ_CHECK(reason[0] != '\0', "rejected without a reason");
        FUZZ_CHECK(fuzz_utf8_ok(reason), "rejection reason is not valid UTF-8: '%s'", reason);
        check_report(line, reason);
    } else {
        check_accepted(r, line, fields, lens, &row);
    }
    ecm_buf_reset(&r->out);
    return 0;
}

/* Feeds body in chunks of chunk bytes (0: whole). Returns feed/finish rc,
 * errstr set. */
static int feed(run *r, const char *body, size_t len, size_t chunk, char *err, size_t err_size,
                long long *err_line, long long *lines)
{
    gw_csv *c = gw_csv_new(MAX_RECORD, on_record, r);
    FUZZ_CHECK(c != NULL, "oom");
    int rc;
    FUZZ_FEED(rc, c, gw_csv_feed, gw_csv_finish, body, len, chunk, err, err_size);
    *err_line = gw_csv_error_line(c);
    *lines = gw_csv_lines(c);
    gw_csv_destroy(c);
    return rc;
}

static const char *const regions[] = {"US", "GB", "FR", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t opt = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    static run a, b; /* large: keep them off the stack */
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    ecm_buf_init(&a.out, FUZZ_BUF_MAX);
    ecm_buf_init(&a.trace, FUZZ_BUF_MAX);
    ecm_buf_init(&b.out, FUZZ_BUF_MAX);
    ecm_buf_init(&b.trace, FUZZ_BUF_MAX);
    a.validate = 1;
    a.rules.region = regions[opt & 3];
    a.rules.sms = (opt >> 2) & 1;
    a.scratch = gw_upload_scratch_new();
    FUZZ_CHECK(a.scratch != NULL, "oom");

    char err_a[256], err_b[256];
    long long eline_a, eline_b, lines_a, lines_b;
    int rc_a = feed(&a, body, len, 0, err_a, sizeof(err_a), &eline_a, &lines_a);
    int rc_b =
        feed(&b, body, len, 1 + (size_t)(opt >> 3) * 7, err_b, sizeof(err_b), &eline_b, &lines_b);

    FUZZ_CHECK(rc_a == rc_b, "whole feed %d (%s), chunked %d (%s)", rc_a, err_a, rc_b, err_b);
    FUZZ_CHECK(fuzz_buf_equal(&a.trace, &b.trace), "records differ when the body comes in chunks");
    FUZZ_CHECK(eline_a == eline_b && lines_a == lines_b, "error line %lld/%lld, lines %lld/%lld",
               eline_a, eline_b, lines_a, lines_b);
    if (rc_a != 0) {
        FUZZ_CHECK(err_a[0] && fuzz_utf8_ok(err_a), "reader error not valid UTF-8");
        if (eline_a > 0) {
            char want[32];
            int n = (int)fuzz_format(want, sizeof(want), "line %lld: ", eline_a);
            FUZZ_CHECK(strncmp(err_a, want, (size_t)n) == 0, "error '%s' but error line %lld",
                       err_a, eline_a);
            FUZZ_CHECK(eline_a <= lines_a, "error line %lld of %lld lines", eline_a, lines_a);
        }
    } else {
        FUZZ_CHECK(a.prev_line <= lines_a, "record on line %lld of %lld", a.prev_line, lines_a);
        /* Without quotes or CR a record is a non-empty physical line. */
        const char *p = body;
        size_t n = len;
        fuzz_skip_bom(&p, &n);
        if (!memchr(p, '"', n) && !memchr(p, '\r', n) && a.nlines < MAX_LINES) {
            size_t k = 0;
            long long line = 1;
            for (size_t i = 0; i < n; line++) {
                const char *nl = memchr(p + i, '\n', n - i);
                size_t end = nl ? (size_t)(nl - p) : n;
                if (end > i) {
                    FUZZ_CHECK(k < a.nlines && a.lines[k] == line,
                               "record %zu: line %lld, physical line %lld", k + 1,
                               k < a.nlines ? a.lines[k] : -1, line);
                    k++;
                }
                i = end + 1;
            }
            FUZZ_CHECK(k == a.nlines, "%zu records, %zu non-empty lines", a.nlines, k);
        }
    }

    for (size_t i = 0; a.cname && i < a.ncols; i++) {
        free(a.cname[i]);
    }
    free(a.cname);
    gw_upload_header_destroy(a.header);
    gw_upload_scratch_destroy(a.scratch);
    ecm_buf_destroy(&a.out);
    ecm_buf_destroy(&a.trace);
    ecm_buf_destroy(&b.trace);
    return 0;
}

#include "gw_csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#if CSV_MAJOR != 3
#error "gw_csv reads libcsv 3's parser state; check GW_LIBCSV_FIELD_BEGUN"
#endif
#define GW_LIBCSV_FIELD_BEGUN 2

struct gw_csv {
    struct csv_parser parser;
    gw_csv_record_fn fn;
    void *ctx;
    size_t max_record;

    /* Physical line of the next byte fed; a line ends at LF, CRLF or a bare
     * CR. A CR is only known to be bare when the byte after it arrives. */
    long long line;
    int pending_cr;
    int line_has_bytes;

    int record_open;
    long long record_line;
    size_t record_bytes;

    /* Fields of the record being assembled, each NUL-terminated in buf. */
    char *buf;
    size_t buf_len, buf_cap;
    size_t *offs;
    size_t *lens;
    const char **ptrs;
    size_t nfields, fields_cap;

    unsigned char bom[3];
    size_t bom_len;
    int bom_done;

    int oom;
    int stopped;
    int failed;
    long long error_line;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        n *= 2;
    }
    void *q = realloc(*p, n * elem);
    if (!q) {
        return -1;
    }
    *p = q;
    *cap = n;
    return 0;
}

/* RFC 4180: spaces are part of a field; libcsv would trim them by default. */
static int no_space(unsigned char ch)
{
    (void)ch;
    return 0;
}

static int grow_fields(gw_csv *c)
{
    size_t n = c->fields_cap ? c->fields_cap * 2 : 16;
    size_t *offs = realloc(c->offs, n * sizeof(*offs));
    if (!offs) {
        return -1;
    }
    c->offs = offs;
    size_t *lens = realloc(c->lens, n * sizeof(*lens));
    if (!lens) {
        return -1;
    }
    c->lens = lens;
    const char **ptrs = realloc(c->ptrs, n * sizeof(*ptrs));
    if (!ptrs) {
        return -1;
    }
    c->ptrs = ptrs;
    c->fields_cap = n;
    return 0;
}

static void on_field(void *s, size_t len, void *data)
{
    gw_csv *c = data;
    if (c->oom || c->stopped) {
        return;
    }
    if (grow((void **)&c->buf, &c->buf_cap, c->buf_len + len + 1, 1) != 0 ||
        (c->nfields == c->fields_cap && grow_fields(c) != 0)) {
        c->oom = 1;
        return;
    }
    if (len) {
        memcpy(c->buf + c->buf_len, s, len);
    }
    c->buf[c->buf_len + len] = '\0';
    c->offs[c->nfields] = c->buf_len;
    c->lens[c->nfields] = len;
    c->nfields++;
    c->buf_len += len + 1;
}

static void on_record(int term, void *data)
{
    (void)term;
    gw_csv *c = data;
    if (!c->oom && !c->stopped) {
        for (size_t i = 0; i < c->nfields; i++) {
            c->ptrs[i] = c->buf + c->offs[i];
        }
        if (c->fn(c->ctx, c->record_line, c->nfields, c->ptrs, c->lens) != 0) {
            c->stopped = 1;
        }
    }
    c->buf_len = 0;
    c->nfields = 0;
    c->record_open = 0;
    c->record_bytes = 0;
}

gw_csv *gw_csv_new(size_t max_record_bytes, gw_csv_record_fn fn, void *ctx)
{
    gw_csv *c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    /* Not CSV_STRICT: a stray quote inside an unquoted field is kept as a
     * character, as most producers of CSV expect. */
    if (csv_init(&c->parser, 0) != 0) {
        free(c);
        return NULL;
    }
    csv_set_space_func(&c->parser, no_space);
    c->fn = fn;
    c->ctx = ctx;
    c->max_record = max_record_bytes;
    c->line = 1;
    return c;
}

void gw_csv_destroy(gw_csv *c)
{
    if (!c) {
        return;
    }
    csv_free(&c->parser);
    free(c->buf);
    free(c->offs);
    free(c->lens);
    free(c->ptrs);
    free(c);
}

static int fail(gw_csv *c, char *errstr, size_t errstr_size, long long line, const char *msg)
{
    c->failed = 1;
    c->error_line = line;
    if (errstr_size) {
        /* Truncation of a one-line message is harmless. */
        (void)snprintf(errstr, errstr_size, "line %lld: %s", line, msg);
    }
    return -1;
}

static int after_parse(gw_csv *c, char *errstr, size_t errstr_size)
{
    if (c->oom) {
        return fail(c, errstr, errstr_size, c->record_line, "out of memory");
    }
    if (c->stopped) {
        c->failed = 1;
        if (errstr_size) {
            (void)snprintf(errstr, errstr_size, "stopped");
        }
        return -1;
    }
    return 0;
}

/* One piece: non-line-break bytes then at most one CR or LF, so that a
 * record can only end at the piece's last byte and its start line is known
 * before libcsv sees it. */
static int feed_piece(gw_csv *c, const char *s, size_t n, char *errstr, size_t errstr_size)
{
    if (c->pending_cr) {
        c->pending_cr = 0;
        if (s[0] != '\n') {
            c->line++;
            c->line_has_bytes = 0;
        }
    }
    char last = s[n - 1];
    int has_content = n > 1 || (last != '\r' && last != '\n');
    if (!c->record_open && has_content) {
        c->record_open = 1;
        c->record_line = c->line;
        c->record_bytes = 0;
    }
    if (c->record_open) {
        c->record_bytes += n;
        if (c->record_bytes > c->max_record) {
            char msg[96];
            (void)snprintf(msg, sizeof(msg), "record longer than %zu bytes (unterminated quote?)",
                           c->max_record);
            return fail(c, errstr, errstr_size, c->record_line, msg);
        }
    }
    c->line_has_bytes = 1;
    size_t used = csv_parse(&c->parser, s, n, on_field, on_record, c);
    if (used != n) {
        return fail(c, errstr, errstr_size, c->line, csv_strerror(csv_error(&c->parser)));
    }
    if (after_parse(c, errstr, errstr_size) != 0) {
        return -1;
    }
    if (last == '\n') {
        c->line++;
        c->line_has_bytes = 0;
    } else if (last == '\r') {
        c->pending_cr = 1;
    }
    return 0;
}

static int feed_bytes(gw_csv *c, const char *data, size_t len, char *errstr, size_t errstr_size)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n' || data[i] == '\r') {
            if (feed_piece(c, data + start, i + 1 - start, errstr, errstr_size) != 0) {
                return -1;
            }
            start = i + 1;
        }
    }
    if (start < len) {
        return feed_piece(c, data + start, len - start, errstr, errstr_size);
    }
    return 0;
}

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

int gw_csv_feed(gw_csv *c, const char *data, size_t len, char *errstr, size_t errstr_size)
{
    if (c->failed) {
        if (errstr_size) {
            (void)snprintf(errstr, errstr_size, "reader already failed");
        }
        return -1;
    }
    while (!c->bom_done && len > 0) {
        unsigned char b = (unsigned char)data[0];
        if (b != utf8_bom[c->bom_len]) {
            c->bom_done = 1;
            /* Not a BOM after all: the held bytes are data. */
            if (c->bom_len > 0 &&
                feed_bytes(c, (const char *)c->bom, c->bom_len, errstr, errstr_size) != 0) {
                return -1;
            }
            break;
        }
        c->bom[c->bom_len++] = b;
        data++;
        len--;
        if (c->bom_len == sizeof(utf8_bom)) {
            c->bom_done = 1;
        }
    }
    if (len == 0) {
        return 0;
    }
    return feed_bytes(c, data, len, errstr, errstr_size);
}

int gw_csv_finish(gw_csv *c, char *errstr, size_t errstr_size)
{
    if (c->failed) {
        if (errstr_size) {
            (void)snprintf(errstr, errstr_size, "reader already failed");
        }
        return -1;
    }
    if (!c->bom_done) {
        c->bom_done = 1;
        if (c->bom_len > 0 &&
            feed_bytes(c, (const char *)c->bom, c->bom_len, errstr, errstr_size) != 0) {
            return -1;
        }
    }
    /* libcsv reports an open quoted field at the end only in strict mode,
     * so look at its state: FIELD_BEGUN (2 in libcsv.c) inside quotes. */
    if (c->parser.quoted && c->parser.pstate == GW_LIBCSV_FIELD_BEGUN) {
        return fail(c, errstr, errstr_size, c->record_line,
                    "quoted field not closed at end of file");
    }
    if (csv_fini(&c->parser, on_field, on_record, c) != 0) {
        return fail(c, errstr, errstr_size, c->record_line,
                    "quoted field not closed at end of file");
    }
    return after_parse(c, errstr, errstr_size);
}

long long gw_csv_lines(const gw_csv *c)
{
    return c->line - 1 + (c->line_has_bytes ? 1 : 0);
}

long long gw_csv_error_line(const gw_csv *c)
{
    return c->failed ? c->error_line : 0;
}

/* sim_ucce_parse_import: the Outbound API's <import> body (XML, CSV in a
 * CDATA section) with Cisco's UCCE validation. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <csv.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "sim_rec.h"
#include "sim_ucce_api.h"

/* Columns: 0 account, 1 first, 2 last, 10..19 phones, 30 bias, 31 dst. */
#define COL_BIAS 30
#define COL_DST 31
#define PARSE_MAX_COLS 15

typedef struct {
    sim_ucce_batch *b;
    size_t max_records;
    int header_done;
    int col_of[PARSE_MAX_COLS];
    int ncols;
    char *fields[PARSE_MAX_COLS];
    size_t lens[PARSE_MAX_COLS];
    int nf, too_many_fields;
    size_t line; /* CSV line of the current record, header = 1 */
    int fatal;
    char msg[192];
} parse_state;

static void parse_clear_row(parse_state *st)
{
    for (int i = 0; i < st->nf; i++) {
        free(st->fields[i]);
        st->fields[i] = NULL;
    }
    st->nf = 0;
    st->too_many_fields = 0;
}

static void parse_fail(parse_state *st, const char *fmt, const char *arg)
{
    if (!st->fatal) {
        st->fatal = 1;
        snprintf(st->msg, sizeof st->msg, fmt, arg);
    }
}

static void parse_on_field(void *data, size_t len, void *ctx)
{
    parse_state *st = ctx;
    if (st->fatal) {
        return;
    }
    if (st->nf == PARSE_MAX_COLS) {
        st->too_many_fields = 1;
        return;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        parse_fail(st, "%s", "out of memory");
        return;
    }
    memcpy(copy, data, len);
    copy[len] = '\0';
    st->fields[st->nf] = copy;
    st->lens[st->nf++] = len;
}

/* The column number of a header name, or -1. */
static int parse_column(const char *name)
{
    static const struct {
        const char *name;
        int col;
    } known[] = {{"AccountNumber", 0},
                 {"FirstName", 1},
                 {"LastName", 2},
                 {"TimeZoneBias", COL_BIAS},
                 {"DstObserved", COL_DST}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcasecmp(name, known[i].name) == 0) {
            return known[i].col;
        }
    }
    if (strncasecmp(name, "Phone", 5) == 0 && isdigit((unsigned char)name[5]) &&
        isdigit((unsigned char)name[6]) && name[7] == '\0') {
        int p = (name[5] - '0') * 10 + (name[6] - '0');
        return p >= 1 && p <= SIM_UCCE_PHONES ? 9 + p : -1;
    }
    return -1;
}

static void parse_header(parse_state *st)
{
    int seen[32] = {0}, phones = 0;
    if (st->too_many_fields) {
        parse_fail(st, "%s", "header has more columns than Cisco defines");
        return;
    }
    for (int i = 0; i < st->nf; i++) {
        int col = parse_column(st->fields[i]);
        if (col < 0) {
            parse_fail(st, "header: unknown column '%.40s'", st->fields[i]);
            return;
        }
        if (seen[col]++) {
            parse_fail(st, "header: column '%.40s' given twice", st->fields[i]);
            return;
        }
        phones += col >= 10 && col < 20;
        st->col_of[i] = col;
    }
    if (!seen[0]) {
        parse_fail(st, "%s", "header lacks AccountNumber");
    } else if (phones == 0) {
        parse_fail(st, "%s", "header has no Phone column");
    }
    st->ncols = st->nf;
    st->header_done = 1;
}

/* Validates the current record into c. Returns NULL or the reason. */
static const char *parse_record(parse_state *st, sim_contact *c)
{
    memset(c, 0, sizeof *c);
    if (st->too_many_fields || st->nf != st->ncols) {
        return "field count differs from the header's";
    }
    const char *bias = "", *dst = "";
    for (int i = 0; i < st->nf; i++) {
        int col = st->col_of[i];
        if (col == COL_BIAS) {
            bias = st->fields[i];
        } else if (col == COL_DST) {
            dst = st->fields[i];
        } else {
            const char *bad = sim_rec_set_field(SIM_RULES_UCCE, c, col, st->fields[i], st->lens[i]);
            if (bad) {
                return bad;
            }
        }
    }
    const char *bad = sim_rec_set_tz_text(c, bias, dst);
    return bad ? bad : sim_rec_check(SIM_RULES_UCCE, c);
}

static void parse_on_record(int term, void *ctx)
{
    (void)term;
    parse_state *st = ctx;
    st->line++;
    int blank = st->nf <= 1 && (st->nf == 0 || st->lens[0] == 0);
    if (st->fatal || blank) {
        parse_clear_row(st);
        return;
    }
    if (!st->header_done) {
        parse_header(st);
        parse_clear_row(st);
        return;
    }
    sim_ucce_batch *b = st->b;
    if (b->n == st->max_records) {
        b->too_many = 1;
        char n[24];
        snprintf(n, sizeof n, "%zu", st->max_records);
        parse_fail(st, "more than %s records in one request", n);
        parse_clear_row(st);
        return;
    }
    sim_contact c;
    const char *bad = parse_record(st, &c);
    parse_clear_row(st);
    if (bad) {
        char why[192];
        snprintf(why, sizeof why, "line %zu: %s", st->line, bad);
        parse_fail(st, "%s", why);
        return;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        sim_contact *rows = realloc(b->rows, cap * sizeof *rows);
        if (!rows) {
            parse_fail(st, "%s", "out of memory");
            return;
        }
        b->rows = rows;
        b->cap = cap;
    }
    b->rows[b->n++] = c;
}

static int parse_csv(const char *text, size_t len, unsigned char delim, size_t max_records,
                     sim_ucce_batch *b, char *errstr, size_t errstr_size)
{
    struct csv_parser p;
    parse_state st;
    memset(&st, 0, sizeof st);
    st.b = b;
    st.max_records = max_records;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    csv_set_delim(&p, delim);
    int rc = 0;
    if (csv_parse(&p, text, len, parse_on_field, parse_on_record, &st) != len ||
        csv_fini(&p, parse_on_field, parse_on_record, &st) != 0) {
        snprintf(errstr, errstr_size, "fileContent is not valid CSV: %s",
                 csv_strerror(csv_error(&p)));
        rc = -1;
    } else if (st.fatal) {
        snprintf(errstr, errstr_size, "%s", st.msg);
        rc = -1;
    } else if (!st.header_done) {
        snprintf(errstr, errstr_size, "fileContent has no header line");
        rc = -1;
    }
    parse_clear_row(&st);
    csv_free(&p);
    return rc;
}

/* The text of element n (malloc'd by libxml2) or NULL. */
static char *parse_text(xmlNodePtr n)
{
    return (char *)xmlNodeGetContent(n);
}

/* Reads the elements of <import>: *csv, *delim, refusing what Cisco does
 * not take. Returns 0 or -1 with errstr. */
static int parse_elements(xmlNodePtr root, char **csv, unsigned char *delim, char *errstr,
                          size_t errstr_size)
{
    int seen_delim = 0, seen_over = 0;
    for (xmlNodePtr n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        char *v = parse_text(n);
        const char *t = v ? v : "";
        const char *bad = NULL;
        if (xmlStrcmp(n->name, BAD_CAST "fileContent") == 0) {
            bad = *csv ? "more than one <fileContent>" : NULL;
            if (!bad) {
                *csv = v;
                v = NULL;
            }
        } else if (xmlStrcmp(n->name, BAD_CAST "delimiter") == 0) {
            bad = seen_delim++                                 ? "more than one <delimiter>"
                  : strcmp(t, ",") == 0 || strcmp(t, "|") == 0 ? NULL
                                                               : "delimiter must be ',' or '|'";
            *delim = (unsigned char)t[0];
        } else if (xmlStrcmp(n->name, BAD_CAST "overwriteData") == 0) {
            bad = seen_over++               ? "more than one <overwriteData>"
                  : strcmp(t, "true") == 0  ? "overwriteData true is not supported by the simulator"
                  : strcmp(t, "false") == 0 ? NULL
                                            : "overwriteData must be true or false";
        } else {
            bad = "unknown element in <import>";
        }
        xmlFree(v);
        if (bad) {
            snprintf(errstr, errstr_size, "%s", bad);
            return -1;
        }
    }
    if (!*csv) {
        snprintf(errstr, errstr_size, "missing <fileContent>");
        return -1;
    }
    return 0;
}

int sim_ucce_parse_import(const char *body, size_t len, size_t max_records, sim_ucce_batch *out,
                          char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    if (!body || len == 0 || len > INT_MAX) {
        snprintf(errstr, errstr_size, len ? "body too large" : "empty body");
        return -1;
    }
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    /* NONET, no entity expansion: a hostile body reads nothing. */
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, body, (int)len, NULL, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    char *csv = NULL;
    unsigned char delim = ',';
    int rc = -1;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root) {
        snprintf(errstr, errstr_size, "malformed XML");
    } else if (xmlStrcmp(root->name, BAD_CAST "import") != 0) {
        snprintf(errstr, errstr_size, "root element must be <import>");
    } else if (parse_elements(root, &csv, &delim, errstr, errstr_size) == 0) {
        rc = parse_csv(csv, strlen(csv), delim, max_records, out, errstr, errstr_size);
    }
    xmlFree(csv);
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    if (rc != 0) {
        int too_many = out->too_many;
        sim_ucce_batch_destroy(out);
        out->too_many = too_many;
    }
    return rc;
}

void sim_ucce_batch_destroy(sim_ucce_batch *b)
{
    free(b->rows);
    memset(b, 0, sizeof *b);
}

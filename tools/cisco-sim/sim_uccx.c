#include "sim_uccx.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <csv.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "ecm_log.h"
#include "sim_web.h"

/* Cisco: a contacts file holds at most 100,000 records; listings stop at
 * 10,000. The body cap only bounds memory (100,000 full rows fit). */
#define UCCX_MAX_BODY ((size_t)64 * 1024 * 1024)
#define UCCX_MAX_ROWS ((size_t)100000)
#define UCCX_LIST_MAX 10000
#define UCCX_MAX_COLS 64
#define UCCX_REALM "Basic realm=\"UCCX Outbound simulator\""

enum { COL_ACCOUNT, COL_FIRST, COL_LAST, COL_PHONE1, COL_PHONE2, COL_PHONE3, COL_KNOWN };

/* Header names with case, spaces and underscores removed. */
static const char *const uccx_col_names[COL_KNOWN] = {"accountnumber", "firstname", "lastname",
                                                      "phone1",        "phone2",    "phone3"};
static const char *const uccx_col_labels[COL_KNOWN] = {"account number", "first name", "last name",
                                                       "phone1",         "phone2",     "phone3"};

typedef struct {
    sim_uccx_batch *b;
    size_t max_rows;
    int header_done;
    int col_of[UCCX_MAX_COLS]; /* header position -> COL_* or -1 */
    int ncols;
    char *fields[UCCX_MAX_COLS]; /* the current record */
    size_t lens[UCCX_MAX_COLS];
    int nf;
    int too_many_fields;
    int fatal;
    char fatal_msg[160];
} csv_state;

static void csv_state_clear_row(csv_state *st)
{
    for (int i = 0; i < st->nf; i++) {
        free(st->fields[i]);
        st->fields[i] = NULL;
    }
    st->nf = 0;
    st->too_many_fields = 0;
}

static void csv_on_field(void *data, size_t len, void *ctx)
{
    csv_state *st = ctx;
    if (st->fatal) {
        return;
    }
    if (st->nf == UCCX_MAX_COLS) {
        st->too_many_fields = 1;
        return;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        st->fatal = 1;
        snprintf(st->fatal_msg, sizeof st->fatal_msg, "out of memory");
        return;
    }
    if (len > 0) {
        memcpy(copy, data, len);
    }
    copy[len] = '\0';
    st->fields[st->nf] = copy;
    st->lens[st->nf] = len;
    st->nf++;
}

static void csv_normalise_header(const char *in, char *out, size_t out_size)
{
    size_t j = 0;
    for (const char *p = in; *p && j + 1 < out_size; p++) {
        unsigned char c = (unsigned char)*p;
        if (isspace(c) || c == '_') {
            continue;
        }
        out[j++] = (char)tolower(c);
    }
    out[j] = '\0';
}

static void csv_take_header(csv_state *st)
{
    int seen[COL_KNOWN] = {0};
    if (st->too_many_fields) {
        st->fatal = 1;
        snprintf(st->fatal_msg, sizeof st->fatal_msg, "csvdata header has more than %d columns",
                 UCCX_MAX_COLS);
        return;
    }
    for (int i = 0; i < st->nf; i++) {
        char name[64];
        csv_normalise_header(st->fields[i], name, sizeof name);
        st->col_of[i] = -1;
        for (int c = 0; c < COL_KNOWN; c++) {
            if (strcmp(name, uccx_col_names[c]) == 0) {
                if (seen[c]) {
                    st->fatal = 1;
                    snprintf(st->fatal_msg, sizeof st->fatal_msg,
                             "csvdata header names column '%s' twice", uccx_col_labels[c]);
                    return;
                }
                seen[c] = 1;
                st->col_of[i] = c;
            }
        }
    }
    st->ncols = st->nf;
    if (!seen[COL_ACCOUNT] || !seen[COL_PHONE1]) {
        st->fatal = 1;
        snprintf(st->fatal_msg, sizeof st->fatal_msg, "csvdata header lacks the '%s' column",
                 !seen[COL_ACCOUNT] ? "Account Number" : "Phone1");
        return;
    }
    st->header_done = 1;
}

/* Validates one data record into c (Cisco's UCCX limits, sim_rec);
 * returns NULL or the reason it fails. */
static const char *csv_take_contact(csv_state *st, sim_contact *c, char *why, size_t why_size)
{
    static const int field_of[COL_KNOWN] = {0, 1, 2, 10, 11, 12};
    memset(c, 0, sizeof *c);
    if (st->too_many_fields || st->nf > st->ncols) {
        snprintf(why, why_size, "more fields than the header has columns");
        return why;
    }
    for (int i = 0; i < st->nf; i++) {
        int col = st->col_of[i];
        if (col < 0) {
            continue;
        }
        const char *bad =
            sim_rec_set_field(SIM_RULES_UCCX, c, field_of[col], st->fields[i], st->lens[i]);
        if (bad) {
            snprintf(why, why_size, "%s", bad);
            return why;
        }
    }
    const char *bad = sim_rec_check(SIM_RULES_UCCX, c);
    if (bad) {
        snprintf(why, why_size, "%s", bad);
        return why;
    }
    return NULL;
}

static void csv_on_record(int term, void *ctx)
{
    (void)term;
    csv_state *st = ctx;
    int blank = 1;
    for (int i = 0; i < st->nf; i++) {
        if (st->lens[i] > 0) {
            blank = 0;
        }
    }
    if (st->fatal || blank) {
        csv_state_clear_row(st);
        return;
    }
    if (!st->header_done) {
        csv_take_header(st);
        csv_state_clear_row(st);
        return;
    }
    sim_uccx_batch *b = st->b;
    b->total_rows++;
    if (b->total_rows > st->max_rows) {
        st->fatal = 1;
        snprintf(st->fatal_msg, sizeof st->fatal_msg, "csvdata has more than %zu rows",
                 st->max_rows);
        csv_state_clear_row(st);
        return;
    }
    sim_contact c;
    char why[96];
    const char *bad = csv_take_contact(st, &c, why, sizeof why);
    csv_state_clear_row(st);
    if (bad) {
        if (b->failed_rows++ == 0) {
            snprintf(b->first_error, sizeof b->first_error, "row %zu: %s", b->total_rows, bad);
        }
        return;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        sim_contact *rows = realloc(b->rows, cap * sizeof *rows);
        if (!rows) {
            st->fatal = 1;
            snprintf(st->fatal_msg, sizeof st->fatal_msg, "out of memory");
            return;
        }
        b->rows = rows;
        b->cap = cap;
    }
    b->rows[b->n++] = c;
}

static int uccx_parse_csv(const char *text, size_t len, size_t max_rows, sim_uccx_batch *b,
                          char *errstr, size_t errstr_size)
{
    struct csv_parser p;
    csv_state st;
    memset(&st, 0, sizeof st);
    st.b = b;
    st.max_rows = max_rows;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int rc = 0;
    if (csv_parse(&p, text, len, csv_on_field, csv_on_record, &st) != len ||
        csv_fini(&p, csv_on_field, csv_on_record, &st) != 0) {
        snprintf(errstr, errstr_size, "csvdata is not valid CSV: %s", csv_strerror(csv_error(&p)));
        rc = -1;
    } else if (st.fatal) {
        snprintf(errstr, errstr_size, "%s", st.fatal_msg);
        rc = -1;
    } else if (!st.header_done) {
        snprintf(errstr, errstr_size, "csvdata has no header line");
        rc = -1;
    }
    csv_state_clear_row(&st);
    csv_free(&p);
    return rc;
}

/* Why libxml2 could not read the body, as one line into errstr. */
static void uccx_xml_error(xmlParserCtxtPtr ctxt, char *errstr, size_t errstr_size)
{
    const xmlError *e = xmlCtxtGetLastError(ctxt);
    char msg[128] = "unknown error";
    if (e && e->message) {
        snprintf(msg, sizeof msg, "%s", e->message); /* trunc-ok: an error excerpt */
        size_t l = strlen(msg);
        while (l > 0 && isspace((unsigned char)msg[l - 1])) {
            msg[--l] = '\0';
        }
    }
    snprintf(errstr, errstr_size, "malformed XML (line %d): %s", e ? e->line : 0, msg);
}

/* Takes <allowDuplicateContacts> (true/false, at most once) into out.
 * Returns 0, or -1 with errstr. */
static int uccx_take_allow_dups(xmlNodePtr n, sim_uccx_batch *out, char *errstr, size_t errstr_size)
{
    if (out->allow_dups_seen) {
        snprintf(errstr, errstr_size, "more than one <allowDuplicateContacts> element");
        return -1;
    }
    out->allow_dups_seen = 1;
    xmlChar *v = xmlNodeGetContent(n);
    const char *t = v ? (const char *)v : "";
    int rc = 0;
    if (strcmp(t, "true") == 0) {
        out->allow_duplicates = 1;
    } else if (strcmp(t, "false") != 0) {
        snprintf(errstr, errstr_size, "allowDuplicateContacts must be true or false");
        rc = -1;
    }
    xmlFree(v);
    return rc;
}

/* Checks the document is <campaignContacts> with one <csvdata>, takes the
 * campaign's name into out. Returns the <csvdata> element, or NULL with
 * errstr. */
static xmlNodePtr uccx_find_csvdata(xmlDocPtr doc, sim_uccx_batch *out, char *errstr,
                                    size_t errstr_size)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!root || xmlStrcmp(root->name, BAD_CAST "campaignContacts") != 0) {
        snprintf(errstr, errstr_size, "root element must be <campaignContacts>");
        return NULL;
    }
    xmlNodePtr csv_node = NULL;
    for (xmlNodePtr n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (xmlStrcmp(n->name, BAD_CAST "campaign") == 0) {
            xmlChar *name = xmlGetProp(n, BAD_CAST "name");
            if (name) {
                int w = snprintf(out->campaign_name, sizeof out->campaign_name, "%s",
                                 (const char *)name);
                xmlFree(name);
                if (w < 0 || (size_t)w >= sizeof out->campaign_name) {
                    snprintf(errstr, errstr_size, "campaign name longer than %zu bytes",
                             sizeof out->campaign_name - 1);
                    return NULL;
                }
            }
        } else if (xmlStrcmp(n->name, BAD_CAST "allowDuplicateContacts") == 0) {
            if (uccx_take_allow_dups(n, out, errstr, errstr_size) != 0) {
                return NULL;
            }
        } else if (xmlStrcmp(n->name, BAD_CAST "csvdata") == 0) {
            if (csv_node) {
                snprintf(errstr, errstr_size, "more than one <csvdata> element");
                return NULL;
            }
            csv_node = n;
        }
    }
    if (!csv_node) {
        snprintf(errstr, errstr_size, "missing <csvdata> element");
    }
    return csv_node;
}

int sim_uccx_parse_contacts(const char *body, size_t len, size_t max_rows, sim_uccx_batch *out,
                            char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    if (!body || len == 0) {
        snprintf(errstr, errstr_size, "empty body");
        return -1;
    }
    if (len > INT_MAX) {
        snprintf(errstr, errstr_size, "body too large");
        return -1;
    }
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    /* No NOENT, no DTDLOAD, NONET: entities stay unexpanded and nothing is
     * fetched, so a hostile body can't read files or the network. */
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, body, (int)len, NULL, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    int rc = -1;
    xmlChar *csv = NULL;
    if (!doc) {
        uccx_xml_error(ctxt, errstr, errstr_size);
        goto done;
    }
    xmlNodePtr csv_node = uccx_find_csvdata(doc, out, errstr, errstr_size);
    if (!csv_node) {
        goto done;
    }
    csv = xmlNodeGetContent(csv_node);
    if (!csv) {
        snprintf(errstr, errstr_size, "out of memory");
        goto done;
    }
    rc = uccx_parse_csv((const char *)csv, strlen((const char *)csv), max_rows, out, errstr,
                        errstr_size);
done:
    xmlFree(csv);
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    if (rc != 0) {
        sim_uccx_batch_destroy(out);
    }
    return rc;
}

void sim_uccx_batch_destroy(sim_uccx_batch *b)
{
    free(b->rows);
    memset(b, 0, sizeof *b);
}

struct sim_uccx {
    char *user;
    char *password;
    long long capacity;
    sim_store *store;
    ecm_metric *rows_received;
    ecm_metric *rows_failed;
    ecm_metric *duplicate_rows;
    ecm_metric *imports;
    ecm_metric *over_capacity;
    ecm_metric *unauthorized;
    ecm_metric *bad_requests;
};

sim_uccx *sim_uccx_new(const sim_uccx_config *cfg, sim_store *store, ecm_metrics *metrics)
{
    sim_uccx *u = calloc(1, sizeof *u);
    if (!u) {
        return NULL;
    }
    u->user = strdup(cfg->user ? cfg->user : "");
    u->password = strdup(cfg->password ? cfg->password : "");
    if (!u->user || !u->password) {
        sim_uccx_destroy(u);
        return NULL;
    }
    u->capacity = cfg->capacity;
    u->store = store;
    if (metrics) {
        u->rows_received = ecm_metrics_counter(metrics, "ecm_sim_rows_received_total",
                                               "contact rows stored from UCCX imports");
        u->rows_failed = ecm_metrics_counter(metrics, "ecm_sim_rows_failed_total",
                                             "contact rows that failed validation");
        u->duplicate_rows = ecm_metrics_counter(
            metrics, "ecm_sim_duplicate_rows_total",
            "rows whose account number the sim had received before (must stay 0)");
        u->imports = ecm_metrics_counter(metrics, "ecm_sim_imports_total", "accepted imports");
        u->over_capacity = ecm_metrics_counter(metrics, "ecm_sim_over_capacity_rejections_total",
                                               "imports rejected for exceeding capacity");
        u->unauthorized = ecm_metrics_counter(metrics, "ecm_sim_unauthorized_total",
                                              "requests without valid basic auth");
        u->bad_requests = ecm_metrics_counter(metrics, "ecm_sim_bad_requests_total",
                                              "imports rejected as malformed");
    }
    return u;
}

void sim_uccx_destroy(sim_uccx *u)
{
    if (!u) {
        return;
    }
    free(u->user);
    free(u->password);
    free(u);
}

/* Checks auth and parses {id}. Returns the id (> 0), or 0 after answering. */
static int uccx_begin(sim_uccx *u, ecm_http_req *req)
{
    if (!sim_web_authorized(u->user, u->password, req)) {
        ecm_metric_add(u->unauthorized, 1);
        ecm_http_add_header(req, "WWW-Authenticate", UCCX_REALM);
        sim_web_error(req, 401, "UNAUTHORIZED", "valid basic authentication is required");
        return 0;
    }
    int id = sim_web_id_param(req, 0);
    if (id == 0) {
        sim_web_error(req, 404, "NOT_FOUND", "campaign id must be a positive integer");
    }
    return id;
}

/* --- handlers ----------------------------------------------------------- */

/* The 202 answer of an accepted import. */
static void uccx_answer_import(ecm_http_req *req, int id, const sim_uccx_batch *batch,
                               const sim_import_result *r)
{
    char base[256], campaign_url[320], status_url[352];
    sim_web_base_url(req, base, sizeof base);
    snprintf(campaign_url, sizeof campaign_url, "%s/adminapi/campaign/%d", base, id);
    snprintf(status_url, sizeof status_url, "%s/contacts/status", campaign_url);
    sim_xml x;
    if (sim_xml_open(&x) != 0) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    sim_xml_start(&x, "campaignContacts");
    sim_xml_start(&x, "campaign");
    sim_xml_attr(&x, "name", batch->campaign_name);
    sim_xml_text(&x, "refURL", campaign_url);
    sim_xml_end(&x);
    sim_xml_text(&x, "csvdata", "");
    sim_xml_text(&x, "statusURL", status_url);
    sim_xml_int(&x, "numContactsTotal", (long long)batch->total_rows);
    sim_xml_int(&x, "numContactsImported", (long long)batch->n - r->phone_duplicates);
    sim_xml_int(&x, "numContactsFailed", (long long)batch->failed_rows);
    sim_xml_end(&x);
    ecm_http_add_header(req, "Location", status_url);
    sim_xml_respond(&x, req, 202);
}

static void uccx_post_contacts(void *ctx, ecm_http_req *req)
{
    sim_uccx *u = ctx;
    int id = uccx_begin(u, req);
    if (id == 0) {
        return;
    }
    size_t len = 0;
    const char *body = ecm_http_req_body(req, &len);
    sim_uccx_batch batch;
    char err[256];
    if (sim_uccx_parse_contacts(body, len, UCCX_MAX_ROWS, &batch, err, sizeof err) != 0) {
        ecm_metric_add(u->bad_requests, 1);
        ecm_log_warn("import rejected", "campaign_id=%d reason=%s", id, err);
        if (strstr(err, "csvdata has more than")) {
            sim_store_count_refusal(u->store, SIM_IF_UCCX, "too_many_rows");
        }
        sim_web_error(req, 400, "INVALID_INPUT", err);
        return;
    }
    sim_import_result r;
    sim_import_req ir = {SIM_IF_UCCX,
                         id,
                         batch.campaign_name,
                         batch.rows,
                         batch.n,
                         batch.total_rows,
                         batch.failed_rows,
                         batch.first_error,
                         u->capacity,
                         !batch.allow_duplicates};
    if (sim_store_import(u->store, &ir, &r) != 0) {
        sim_uccx_batch_destroy(&batch);
        sim_web_error(req, 500, "INTERNAL_ERROR", "the import could not be stored");
        return;
    }
    if (r.outcome == SIM_IMPORT_OVER_CAPACITY) {
        ecm_metric_add(u->over_capacity, 1);
        snprintf(err, sizeof err,
                 "over capacity: %lld active records plus %lld new exceed %lld per campaign",
                 r.pending_before, r.new_accounts, u->capacity);
        ecm_log_warn("import rejected over capacity", "campaign_id=%d %s", id, err);
        sim_uccx_batch_destroy(&batch);
        sim_web_error(req, 400, "OVER_CAPACITY", err);
        return;
    }
    ecm_metric_add(u->imports, 1);
    ecm_metric_add(u->rows_received, batch.n);
    ecm_metric_add(u->rows_failed, batch.failed_rows);
    ecm_metric_add(u->duplicate_rows, (uint64_t)r.duplicate_rows);
    if (r.duplicate_rows > 0) {
        ecm_log_warn("account numbers received more than once", "campaign_id=%d duplicates=%lld",
                     id, r.duplicate_rows);
    }
    if (r.phone_duplicates > 0) {
        ecm_log_info("rows not imported: phone already in the campaign",
                     "campaign_id=%d phone_duplicates=%lld", id, r.phone_duplicates);
    }
    if (batch.failed_rows > 0) {
        ecm_log_warn("import rows failed validation", "campaign_id=%d failed=%zu first=%s", id,
                     batch.failed_rows, batch.first_error);
    }

    uccx_answer_import(req, id, &batch, &r);
    sim_uccx_batch_destroy(&batch);
}

typedef struct {
    xmlBufferPtr csv;
    int bad;
} list_ctx;

static void list_put_field(list_ctx *l, const char *s, int last)
{
    size_t n = strlen(s);
    if (strpbrk(s, ",\"\r\n") || (n > 0 && (s[0] == ' ' || s[n - 1] == ' '))) {
        /* Fields are at most 50 bytes: doubled quotes + 2 fit in 128. */
        char quoted[128];
        size_t q = csv_write(quoted, sizeof quoted, s, n);
        if (q > sizeof quoted) {
            l->bad = 1;
            return;
        }
        l->bad |= xmlBufferAdd(l->csv, BAD_CAST quoted, (int)q) != 0;
    } else if (n > 0) {
        l->bad |= xmlBufferAdd(l->csv, BAD_CAST s, (int)n) != 0;
    }
    l->bad |= xmlBufferAdd(l->csv, BAD_CAST(last ? "\n" : ","), 1) != 0;
}

static int list_visit(void *ctx, const sim_contact *c, const char *status)
{
    list_ctx *l = ctx;
    list_put_field(l, c->account_number, 0);
    list_put_field(l, c->first_name, 0);
    list_put_field(l, c->last_name, 0);
    for (int p = 0; p < SIM_UCCX_PHONES; p++) {
        list_put_field(l, c->phone[p], 0);
    }
    list_put_field(l, status, 1);
    return l->bad;
}

/* The UCCX callstatus a ?q= names (NULL: PENDING), or 0 when unknown. */
static int uccx_status_of(const char *q)
{
    static const struct {
        const char *name;
        int status;
    } names[] = {{"PENDING", 1}, {"CALLBACK", 4}, {"MAX_CALLS", 5},
                 {"RETRY", 6},   {"UNKNOWN", 7},  {"RETRIES_WITH_DELAY", 8}};
    if (!q) {
        return 1;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(q, names[i].name) == 0) {
            return names[i].status;
        }
    }
    return 0;
}

static void uccx_get_contacts(void *ctx, ecm_http_req *req)
{
    sim_uccx *u = ctx;
    int id = uccx_begin(u, req);
    if (id == 0) {
        return;
    }
    int callstatus = uccx_status_of(ecm_http_req_query(req, "q"));
    if (callstatus == 0) {
        sim_web_error(req, 400, "INVALID_INPUT",
                      "q must be PENDING, CALLBACK, RETRY, RETRIES_WITH_DELAY, MAX_CALLS or "
                      "UNKNOWN");
        return;
    }
    list_ctx l = {xmlBufferCreateSize(64 * 1024), 0};
    if (!l.csv) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    /* The same header an import uses, plus the sim's dialing status. */
    static const char header[] = "Account Number,First Name,Last Name,Phone1,Phone2,Phone3,"
                                 "Status\n";
    l.bad |= xmlBufferAdd(l.csv, BAD_CAST header, (int)(sizeof header - 1)) != 0;
    char *name = NULL;
    int rc =
        sim_store_list_contacts(u->store, id, callstatus, UCCX_LIST_MAX, &name, list_visit, &l);
    if (rc == 2) {
        xmlBufferFree(l.csv);
        sim_web_error(req, 404, "NOT_FOUND", "no such campaign");
        return;
    }
    if (rc != 0 || l.bad) {
        free(name);
        xmlBufferFree(l.csv);
        sim_web_error(req, 500, "INTERNAL_ERROR", "the contacts could not be listed");
        return;
    }
    char base[256], campaign_url[320];
    sim_web_base_url(req, base, sizeof base);
    snprintf(campaign_url, sizeof campaign_url, "%s/adminapi/campaign/%d", base, id);
    sim_xml x;
    if (sim_xml_open(&x) != 0) {
        free(name);
        xmlBufferFree(l.csv);
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    sim_xml_start(&x, "campaignContacts");
    sim_xml_start(&x, "campaign");
    sim_xml_attr(&x, "name", name ? name : "");
    sim_xml_text(&x, "refURL", campaign_url);
    sim_xml_end(&x);
    sim_xml_text(&x, "csvdata", (const char *)xmlBufferContent(l.csv));
    sim_xml_end(&x);
    free(name);
    xmlBufferFree(l.csv);
    sim_xml_respond(&x, req, 200);
}

static void uccx_get_status(void *ctx, ecm_http_req *req)
{
    sim_uccx *u = ctx;
    int id = uccx_begin(u, req);
    if (id == 0) {
        return;
    }
    sim_import_status st;
    int rc = sim_store_last_import(u->store, id, &st);
    if (rc < 0) {
        sim_web_error(req, 500, "INTERNAL_ERROR", "the import status could not be read");
        return;
    }
    if (rc == 1) {
        sim_web_error(req, 404, "NOT_FOUND", "no import for this campaign");
        return;
    }
    char base[256], self[352];
    sim_web_base_url(req, base, sizeof base);
    snprintf(self, sizeof self, "%s/adminapi/campaign/%d/contacts/status", base, id);
    sim_xml x;
    if (sim_xml_open(&x) != 0) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    sim_xml_start(&x, "statusDetails");
    sim_xml_text(&x, "self", self);
    sim_xml_int(&x, "campaignId", id);
    sim_xml_start(&x, "importStatus");
    sim_xml_start(&x, "status");
    sim_xml_attr(&x, "importType", "MANUAL");
    sim_xml_int(&x, "importId", st.import_id);
    sim_xml_text(&x, "state", st.state);
    sim_xml_text(&x, "result", st.result);
    sim_xml_int(&x, "startTime", st.started_ms);
    sim_xml_int(&x, "numContactsTotal", st.total);
    sim_xml_int(&x, "numContactsImported", st.imported);
    sim_xml_int(&x, "numContactsFailed", st.failed);
    sim_xml_int(&x, "numContactsDuplicate", st.duplicates);
    sim_xml_int(&x, "numContactsPhoneDuplicate", st.phone_duplicates);
    if (st.detail[0]) {
        sim_xml_text(&x, "detail", st.detail);
    }
    sim_xml_end(&x);
    sim_xml_end(&x);
    sim_xml_end(&x);
    sim_xml_respond(&x, req, 200);
}

/* DELETE …/contacts: Cisco deletes all of a campaign's contacts [S24];
 * the sim deletes those not dialled yet (dialled ones are history). */
static void uccx_delete_contacts(void *ctx, ecm_http_req *req)
{
    sim_uccx *u = ctx;
    int id = uccx_begin(u, req);
    if (id == 0) {
        return;
    }
    long long deleted = 0;
    if (sim_store_delete_pending(u->store, "uccx", id, &deleted) != 0) {
        sim_web_error(req, 500, "INTERNAL_ERROR", "the contacts could not be deleted");
        return;
    }
    ecm_log_info("contacts deleted", "system=uccx campaign_id=%d deleted=%lld", id, deleted);
    ecm_http_respond(req, 200, "application/xml", "", 0);
}

static void uccx_put_state(void *ctx, ecm_http_req *req)
{
    sim_uccx *u = ctx;
    int id = uccx_begin(u, req);
    if (id == 0) {
        return;
    }
    const char *what = ecm_http_req_param(req, 1);
    int enable = what && strcmp(what, "enable") == 0;
    if (!enable && !(what && strcmp(what, "disable") == 0)) {
        sim_web_error(req, 400, "INVALID_INPUT", "state must be enable or disable");
        return;
    }
    if (sim_store_set_enabled(u->store, "uccx", id, enable) != 0) {
        sim_web_error(req, 500, "INTERNAL_ERROR", "the campaign state could not be changed");
        return;
    }
    ecm_log_info(enable ? "campaign enabled" : "campaign disabled", "campaign_id=%d", id);
    ecm_http_respond(req, 200, "application/xml", "", 0);
}

int sim_uccx_add_routes(sim_uccx *u, ecm_http *h)
{
    int rc = 0;
    rc |= ecm_http_route(h, "POST", "/adminapi/campaign/{}/contacts", UCCX_MAX_BODY,
                         uccx_post_contacts, u);
    rc |= ecm_http_route(h, "GET", "/adminapi/campaign/{}/contacts", 0, uccx_get_contacts, u);
    rc |= ecm_http_route(h, "GET", "/adminapi/campaign/{}/contacts/status", 0, uccx_get_status, u);
    rc |= ecm_http_route(h, "DELETE", "/adminapi/campaign/{}/contacts", 0, uccx_delete_contacts, u);
    rc |= ecm_http_route(h, "PUT", "/adminapi/campaign/{}/state/{}", 4096, uccx_put_state, u);
    return rc == 0 ? 0 : -1;
}

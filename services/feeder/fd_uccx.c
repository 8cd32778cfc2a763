#include "fd_uccx.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <csv.h>
#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/xmlwriter.h>

#include "ecm_buf.h"
#include "ecm_clock.h"
#include "ecm_log.h"

/* ---- the POST body ---- */

#define CSV_MAX_BYTES (64u * 1024u * 1024u)

static int csv_needs_quotes(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return 0;
    if (s[0] == ' ' || s[n - 1] == ' ')
        return 1;
    return strpbrk(s, ",\"\r\n") != NULL;
}

/* Appends one field; what XML 1.0 cannot carry becomes something it can, so
 * one odd name can't spoil a batch: C0 controls other than tab and line
 * breaks become spaces, the noncharacters U+FFFE and U+FFFF (valid UTF-8,
 * so an upload takes them) become U+FFFD. */
static int csv_add_field(ecm_buf *b, const char *s)
{
    if (!s)
        return 0;
    int quote = csv_needs_quotes(s);
    if (quote && ecm_buf_add(b, "\"", 1) < 0)
        return -1;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        char out = (char)ch;
        if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r')
            out = ' ';
        if (ch == 0xEF && (unsigned char)p[1] == 0xBF &&
            ((unsigned char)p[2] == 0xBE || (unsigned char)p[2] == 0xBF)) {
            if (ecm_buf_add(b, "\xEF\xBF\xBD", 3) < 0)
                return -1;
            p += 2;
            continue;
        }
        if (out == '"' && ecm_buf_add(b, "\"", 1) < 0)
            return -1;
        if (ecm_buf_add(b, &out, 1) < 0)
            return -1;
    }
    if (quote && ecm_buf_add(b, "\"", 1) < 0)
        return -1;
    return 0;
}

static int csv_add_row(ecm_buf *b, const fd_uccx_contact *c)
{
    const char *fields[6] = {c->account_number, c->first_name, c->last_name,
                             c->phone1,         c->phone2,     c->phone3};
    for (size_t i = 0; i < 6; i++) {
        if (i > 0 && ecm_buf_add(b, ",", 1) < 0)
            return -1;
        if (csv_add_field(b, fields[i]) < 0)
            return -1;
    }
    return ecm_buf_add(b, "\n", 1);
}

static char *build_csv(const fd_uccx_contact *contacts, size_t n)
{
    ecm_buf b;
    ecm_buf_init(&b, CSV_MAX_BYTES);
    if (ecm_buf_adds(&b, "\n" FD_UCCX_CSV_HEADER "\n") < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (!contacts[i].account_number || csv_add_row(&b, &contacts[i]) < 0)
            goto fail;
    }
    return ecm_buf_ptr(&b);
fail:
    ecm_buf_destroy(&b);
    return NULL;
}

char *fd_uccx_build_contacts_xml(const char *campaign_name, const char *ref_url,
                                 const fd_uccx_contact *contacts, size_t n, size_t *len)
{
    char *csv = build_csv(contacts, n);
    if (!csv)
        return NULL;
    char *out = NULL;
    xmlBufferPtr xb = xmlBufferCreate();
    xmlTextWriterPtr w = xb ? xmlNewTextWriterMemory(xb, 0) : NULL;
    if (!w)
        goto done;
    const xmlChar *name = (const xmlChar *)(campaign_name ? campaign_name : "");
    const xmlChar *ref = (const xmlChar *)(ref_url ? ref_url : "");
    if (xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElement(w, BAD_CAST "campaignContacts") < 0 ||
        xmlTextWriterStartElement(w, BAD_CAST "campaign") < 0 ||
        xmlTextWriterWriteAttribute(w, BAD_CAST "name", name) < 0 ||
        xmlTextWriterWriteElement(w, BAD_CAST "refURL", ref) < 0 ||
        xmlTextWriterEndElement(w) < 0 ||
        /* ECM decides retries and de-duplicates phones itself: a retry of the
         * same number the same day must not be dropped by UCCX's phone rule. */
        xmlTextWriterWriteElement(w, BAD_CAST "allowDuplicateContacts", BAD_CAST "true") < 0 ||
        xmlTextWriterWriteElement(w, BAD_CAST "csvdata", (const xmlChar *)csv) < 0 ||
        xmlTextWriterEndElement(w) < 0 || xmlTextWriterEndDocument(w) < 0)
        goto done;
    xmlFreeTextWriter(w); /* flushes into xb */
    w = NULL;
    size_t n_out = (size_t)xmlBufferLength(xb);
    out = malloc(n_out + 1);
    if (out) {
        memcpy(out, xmlBufferContent(xb), n_out);
        out[n_out] = '\0';
        if (len)
            *len = n_out;
    }
done:
    if (w)
        xmlFreeTextWriter(w);
    if (xb)
        xmlBufferFree(xb);
    free(csv);
    return out;
}

/* ---- the contact list ---- */

#define ACCOUNT_MAX 64

struct fd_uccx_list {
    char **items;
    size_t n, cap;
    int sorted;
};

typedef struct {
    fd_uccx_list *list;
    int in_account; /* inside an accountNumber element */
    char text[ACCOUNT_MAX];
    size_t text_len;
    int in_csv; /* inside csvdata: rows stream through libcsv */
    struct csv_parser csv;
    long csv_row;
    int csv_col;
    int csv_account_col; /* -1 until the header names it */
    int failed;          /* out of memory, or a list we can't read */
} list_parse;

/* Matches accountNumber, AccountNumber, account_number, "Account Number". */
static int is_account_name(const char *name)
{
    static const char want[] = "accountnumber";
    size_t k = 0;
    for (const char *p = name; *p; p++) {
        if (*p == '_' || *p == '-' || *p == ' ')
            continue;
        if (k >= sizeof want - 1 || tolower((unsigned char)*p) != want[k])
            return 0;
        k++;
    }
    return k == sizeof want - 1;
}

static int is_account_element(const xmlChar *name)
{
    return is_account_name((const char *)name);
}

/* UCCX's csvdata, and the Outbound API's fileContent (a list asked for as
 * CSV is wrapped the same way by the simulator). */
static int is_csv_element(const xmlChar *name)
{
    return strcasecmp((const char *)name, "csvdata") == 0 ||
           strcasecmp((const char *)name, "fileContent") == 0;
}

static int list_push(fd_uccx_list *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return -1;
        l->items = items;
        l->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    l->items[l->n++] = copy;
    l->sorted = 0;
    return 0;
}

static void push_trimmed(list_parse *st, const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)s[0])) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n > 0 && list_push(st->list, s, n) < 0)
        st->failed = 1;
}

static void csv_on_field(void *data, size_t len, void *ctx)
{
    list_parse *st = ctx;
    if (st->csv_row == 0) {
        char name[64];
        size_t n = len < sizeof name - 1 ? len : sizeof name - 1;
        memcpy(name, data ? data : "", n);
        name[n] = '\0';
        if (st->csv_account_col < 0 && is_account_name(name))
            st->csv_account_col = st->csv_col;
    } else if (st->csv_col == st->csv_account_col && data) {
        push_trimmed(st, data, len);
    }
    st->csv_col++;
}

static void csv_on_row(int term, void *ctx)
{
    (void)term;
    list_parse *st = ctx;
    /* Data rows without an account column: the list can't be read. */
    if (st->csv_row > 0 && st->csv_account_col < 0)
        st->failed = 1;
    st->csv_row++;
    st->csv_col = 0;
}

static void sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                      const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                      int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    (void)prefix;
    (void)uri;
    (void)nb_namespaces;
    (void)namespaces;
    (void)nb_attributes;
    (void)nb_defaulted;
    (void)attributes;
    list_parse *st = ctx;
    if (is_account_element(localname)) {
        st->in_account = 1;
        st->text_len = 0;
    } else if (is_csv_element(localname) && !st->in_csv) {
        if (csv_init(&st->csv, CSV_STRICT | CSV_STRICT_FINI) != 0) {
            st->failed = 1;
            return;
        }
        st->in_csv = 1;
        st->csv_row = 0;
        st->csv_col = 0;
        st->csv_account_col = -1;
    }
}

static void sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    (void)prefix;
    (void)uri;
    list_parse *st = ctx;
    if (st->in_csv && is_csv_element(localname)) {
        if (csv_fini(&st->csv, csv_on_field, csv_on_row, st) != 0)
            st->failed = 1;
        csv_free(&st->csv);
        st->in_csv = 0;
        return;
    }
    if (!st->in_account || !is_account_element(localname))
        return;
    st->in_account = 0;
    push_trimmed(st, st->text, st->text_len);
}

static void sax_chars(void *ctx, const xmlChar *ch, int len)
{
    list_parse *st = ctx;
    if (len <= 0)
        return;
    if (st->in_csv) {
        if (csv_parse(&st->csv, ch, (size_t)len, csv_on_field, csv_on_row, st) != (size_t)len)
            st->failed = 1;
        return;
    }
    if (!st->in_account)
        return;
    /* Ours are <= 30 bytes; a longer one is foreign and is kept truncated so
     * that it can never match one of ours by accident. */
    size_t room = sizeof st->text - 1 - st->text_len;
    size_t n = (size_t)len < room ? (size_t)len : room;
    memcpy(st->text + st->text_len, ch, n);
    st->text_len += n;
    st->text[st->text_len] = '\0';
}

static void sax_quiet_error(void *ctx, xmlErrorPtr err)
{
    (void)ctx;
    (void)err;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_finish(fd_uccx_list *l)
{
    l->sorted = 1;
    if (l->n == 0)
        return;
    qsort(l->items, l->n, sizeof *l->items, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (w > 0 && strcmp(l->items[w - 1], l->items[i]) == 0) {
            free(l->items[i]);
            continue;
        }
        l->items[w++] = l->items[i];
    }
    l->n = w;
    l->sorted = 1;
}

/* A streaming SAX parser, so a campaign of any size is read without holding
 * the document. */
typedef struct {
    xmlSAXHandler sax;
    list_parse st;
    xmlParserCtxtPtr ctxt;
} list_parser;

static int list_parser_init(list_parser *p)
{
    memset(p, 0, sizeof *p);
    p->st.list = calloc(1, sizeof *p->st.list);
    if (!p->st.list)
        return -1;
    p->sax.initialized = XML_SAX2_MAGIC;
    p->sax.startElementNs = sax_start;
    p->sax.endElementNs = sax_end;
    p->sax.characters = sax_chars;
    p->sax.cdataBlock = sax_chars;
    p->sax.serror = sax_quiet_error;
    p->ctxt = xmlCreatePushParserCtxt(&p->sax, &p->st, NULL, 0, NULL);
    if (!p->ctxt) {
        free(p->st.list);
        p->st.list = NULL;
        return -1;
    }
    xmlCtxtUseOptions(p->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    return 0;
}

static int list_parser_feed(list_parser *p, const char *data, size_t len)
{
    while (len > 0) {
        int n = len > (1u << 20) ? (1 << 20) : (int)len;
        if (xmlParseChunk(p->ctxt, data, n, 0) != 0 || p->st.failed)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Ends the parse; returns the list, or NULL (and frees it) when the document
 * was not well-formed. */
static fd_uccx_list *list_parser_end(list_parser *p, int ok)
{
    if (ok && xmlParseChunk(p->ctxt, NULL, 0, 1) != 0)
        ok = 0;
    if (ok && (!p->ctxt->wellFormed || p->st.failed))
        ok = 0;
    /* A document with a DTD gets a tree for it (entity declarations) even
     * under a SAX parse; the context does not free it. */
    if (p->ctxt->myDoc) {
        xmlFreeDoc(p->ctxt->myDoc);
        p->ctxt->myDoc = NULL;
    }
    xmlFreeParserCtxt(p->ctxt);
    p->ctxt = NULL;
    if (p->st.in_csv) {
        csv_free(&p->st.csv); /* the document ended inside csvdata */
        p->st.in_csv = 0;
    }
    fd_uccx_list *l = p->st.list;
    p->st.list = NULL;
    if (!ok) {
        fd_uccx_list_destroy(l);
        return NULL;
    }
    list_finish(l);
    return l;
}

fd_uccx_list *fd_uccx_list_parse(const char *xml, size_t len)
{
    list_parser p;
    if (list_parser_init(&p) < 0)
        return NULL;
    int ok = list_parser_feed(&p, xml, len) == 0;
    return list_parser_end(&p, ok);
}

size_t fd_uccx_list_count(const fd_uccx_list *l)
{
    return l ? l->n : 0;
}

int fd_uccx_list_contains(const fd_uccx_list *l, const char *account_number)
{
    if (!l || !account_number || l->n == 0)
        return 0;
    return bsearch(&account_number, l->items, l->n, sizeof *l->items, cmp_str) != NULL;
}

void fd_uccx_list_destroy(fd_uccx_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    free(l);
}

/* ---- the HTTP client ---- */

#define ERR_BODY_KEEP 400

struct fd_uccx {
    CURL *curl;
    struct curl_slist *headers;
    char *base;
    char errbuf[CURL_ERROR_SIZE];
    /* Monotonic ms since which UCCX has answered with no request left in
     * doubt (0: not since the last such request); doubted: there was one. */
    long long answering_since;
    int doubted;
    /* The server queues imports (the Outbound API): only a later import it
     * took proves an earlier one in doubt is over. */
    int queueing;
    long timeout_ms;      /* every request but a POST */
    long post_timeout_ms; /* a POST (an import may wait its turn) */
};

void fd_uccx_set_queueing(fd_uccx *u, int on, long post_timeout_ms)
{
    u->queueing = on;
    u->post_timeout_ms = on && post_timeout_ms > 0 ? post_timeout_ms : u->timeout_ms;
}

/* A request that reached UCCX but got no answer may still be carried out
 * later: a frozen UCCX works through what waits in its sockets once it runs
 * again. Such a request restarts the clock of fd_uccx_answering_ms(); an
 * answer (any status) starts it again. A queueing server (fd_uccx_set_
 * queueing) answers 503s and lists while an earlier import still waits in
 * its queue: there only a later POST it took (2xx) starts the clock. */
static void track_outcome(fd_uccx *u, CURLcode rc, long status, int is_post)
{
    if (u->queueing && status > 0 && !(is_post && status >= 200 && status < 300))
        return;
    if (status > 0) {
        if (u->answering_since == 0)
            u->answering_since = ecm_clock_mono_ms();
        return;
    }
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_COULDNT_RESOLVE_PROXY)
        return;
    u->doubted = 1;
    u->answering_since = 0;
}

long long fd_uccx_answering_ms(const fd_uccx *u)
{
    if (!u->doubted)
        return LLONG_MAX;
    if (u->answering_since == 0)
        return -1;
    return ecm_clock_mono_ms() - u->answering_since;
}

fd_uccx *fd_uccx_new(const char *base_url, const char *user, const char *password, long timeout_ms)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ecm_log_error("libcurl initialisation failed", NULL);
        return NULL;
    }
    xmlInitParser();
    fd_uccx *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    u->base = strndup(base_url, n);
    u->curl = curl_easy_init();
    u->headers = curl_slist_append(NULL, "Content-Type: application/xml");
    struct curl_slist *h =
        u->headers ? curl_slist_append(u->headers, "Accept: application/xml") : NULL;
    /* No 100-continue round trip before every large batch. */
    h = h ? curl_slist_append(h, "Expect:") : NULL;
    if (!u->base || !u->curl || !h) {
        ecm_log_error("UCCX client: out of memory", NULL);
        fd_uccx_destroy(u);
        return NULL;
    }
    CURL *c = u->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    u->timeout_ms = timeout_ms;
    u->post_timeout_ms = timeout_ms;
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, u->errbuf);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, u->headers);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (user && *user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, password ? password : "");
    }
    return u;
}

void fd_uccx_destroy(fd_uccx *u)
{
    if (!u)
        return;
    if (u->curl)
        curl_easy_cleanup(u->curl);
    curl_slist_free_all(u->headers);
    free(u->base);
    free(u);
}

static int contacts_url(fd_uccx *u, const char *campaign_id, char *out, size_t out_size)
{
    char *id = curl_easy_escape(u->curl, campaign_id, 0);
    if (!id)
        return -1;
    int n = snprintf(out, out_size, "%s/adminapi/campaign/%s/contacts", u->base, id);
    curl_free(id);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

static void result_set(fd_uccx_result *res, long status, const char *detail)
{
    if (!res)
        return;
    res->http_status = status;
    res->settled = status > 0;
    snprintf(res->detail, sizeof res->detail, "%s", detail ? detail : "");
}

/* A failure before anything was sent. */
static void result_local(fd_uccx_result *res, const char *detail)
{
    result_set(res, 0, detail);
    if (res)
        res->settled = 1;
}

/* Keeps the first bytes of an answer, for the log line of a failure. */
static size_t on_body_keep(char *data, size_t size, size_t nmemb, void *ctx)
{
    ecm_buf *b = ctx;
    size_t n = size * nmemb;
    size_t len = ecm_buf_len(b);
    size_t room = len < ERR_BODY_KEEP ? ERR_BODY_KEEP - len : 0;
    if (room > 0 && ecm_buf_add(b, data, n < room ? n : room) < 0)
        return 0;
    return n;
}

static fd_uccx_status classify(CURLcode rc, long status, const char *errbuf, const char *body,
                               fd_uccx_result *res)
{
    if (rc != CURLE_OK) {
        result_set(res, status, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        /* No connection was made: nothing of the request reached UCCX. */
        if (res && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                    rc == CURLE_COULDNT_RESOLVE_PROXY))
            res->settled = 1;
        return FD_UCCX_UNAVAILABLE;
    }
    result_set(res, status, body);
    /* 201: a create (the Personal Callback API) */
    if (status >= 200 && status <= 202)
        return FD_UCCX_OK;
    if (status >= 400 && status < 500)
        return FD_UCCX_REJECTED;
    return FD_UCCX_UNAVAILABLE;
}

/* {base}{path} into out. Returns 0, or -1 when it does not fit. */
static int path_url(fd_uccx *u, const char *path, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%s%s", u->base, path);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

/* POSTs body to url; classifies the answer. */
static fd_uccx_status post_url(fd_uccx *u, const char *url, const char *body, size_t body_len,
                               fd_uccx_result *res)
{
    ecm_buf answer;
    ecm_buf_init(&answer, ERR_BODY_KEEP + 1);
    CURL *c = u->curl;
    u->errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, u->post_timeout_ms);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    track_outcome(u, rc, status, 1);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, u->timeout_ms);
    fd_uccx_status st = classify(rc, status, u->errbuf, ecm_buf_ptr(&answer), res);
    ecm_buf_destroy(&answer);
    return st;
}

fd_uccx_status fd_uccx_post_body(fd_uccx *u, const char *path, const char *body, size_t len,
                                 fd_uccx_result *res)
{
    char url[1024];
    result_set(res, 0, "");
    if (path_url(u, path, url, sizeof url) < 0) {
        result_local(res, "path does not fit in a URL");
        return FD_UCCX_FAILED;
    }
    return post_url(u, url, body, len, res);
}

fd_uccx_status fd_uccx_delete(fd_uccx *u, const char *path, fd_uccx_result *res)
{
    char url[1024];
    result_set(res, 0, "");
    if (path_url(u, path, url, sizeof url) < 0) {
        result_local(res, "path does not fit in a URL");
        return FD_UCCX_FAILED;
    }
    ecm_buf answer;
    ecm_buf_init(&answer, ERR_BODY_KEEP + 1);
    CURL *c = u->curl;
    u->errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    track_outcome(u, rc, status, 0);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    fd_uccx_status st = classify(rc, status, u->errbuf, ecm_buf_ptr(&answer), res);
    ecm_buf_destroy(&answer);
    return st;
}

fd_uccx_status fd_uccx_post_contacts(fd_uccx *u, const char *campaign_id,
                                     const fd_uccx_contact *contacts, size_t n, fd_uccx_result *res)
{
    char url[1024];
    result_set(res, 0, "");
    if (contacts_url(u, campaign_id, url, sizeof url) < 0) {
        result_local(res, "campaign id does not fit in a URL");
        return FD_UCCX_FAILED;
    }
    /* refURL is the campaign's own URL: the contacts URL without its tail. */
    size_t body_len = 0;
    char ref[1024];
    snprintf(ref, sizeof ref, "%.*s", (int)(strlen(url) - strlen("/contacts")), url);
    char *body = fd_uccx_build_contacts_xml(campaign_id, ref, contacts, n, &body_len);
    if (!body) {
        result_local(res, "could not build the XML body");
        return FD_UCCX_FAILED;
    }
    fd_uccx_status st = post_url(u, url, body, body_len, res);
    free(body);
    return st;
}

typedef struct {
    list_parser *parser;
    ecm_buf head; /* the start of the body, for an error log */
    int failed;
    long status;
    CURL *curl;
} list_fetch;

static size_t on_list_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    list_fetch *f = ctx;
    size_t n = size * nmemb;
    if (f->status == 0)
        curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &f->status);
    if (ecm_buf_len(&f->head) < ERR_BODY_KEEP) {
        size_t room = ERR_BODY_KEEP - ecm_buf_len(&f->head);
        if (ecm_buf_add(&f->head, data, n < room ? n : room) < 0)
            return 0;
    }
    if ((f->status == 200 || f->status == 202) && !f->failed &&
        list_parser_feed(f->parser, data, n) < 0)
        f->failed = 1; /* keep reading: the connection stays reusable */
    return n;
}

/* GETs url and parses the list as it streams in (fd_uccx_list_contacts()). */
static fd_uccx_status get_list_url(fd_uccx *u, const char *url, fd_uccx_list **list,
                                   fd_uccx_result *res)
{
    list_parser parser;
    if (list_parser_init(&parser) < 0) {
        result_local(res, "out of memory");
        return FD_UCCX_FAILED;
    }
    list_fetch f = {.parser = &parser, .curl = u->curl};
    ecm_buf_init(&f.head, ERR_BODY_KEEP + 1);
    CURL *c = u->curl;
    u->errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_list_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    track_outcome(u, rc, status, 0);
    fd_uccx_status st = classify(rc, status, u->errbuf, ecm_buf_ptr(&f.head), res);
    fd_uccx_list *l = list_parser_end(&parser, st == FD_UCCX_OK && !f.failed);
    if (rc == CURLE_OK && status == 404) {
        /* The dialer knows no such campaign, so none of our contacts reached it. */
        st = FD_UCCX_OK;
        l = calloc(1, sizeof *l);
        if (l)
            l->sorted = 1;
    }
    if (st == FD_UCCX_OK && !l) {
        st = FD_UCCX_FAILED;
        if (res)
            snprintf(res->detail, sizeof res->detail, "contact list is not well-formed XML: %.200s",
                     ecm_buf_ptr(&f.head) ? ecm_buf_ptr(&f.head) : "");
    }
    if (st == FD_UCCX_OK)
        *list = l;
    else
        fd_uccx_list_destroy(l);
    ecm_buf_destroy(&f.head);
    return st;
}

fd_uccx_status fd_uccx_get_list(fd_uccx *u, const char *path, fd_uccx_list **list,
                                fd_uccx_result *res)
{
    *list = NULL;
    result_set(res, 0, "");
    char url[1024];
    if (path_url(u, path, url, sizeof url) < 0) {
        result_local(res, "path does not fit in a URL");
        return FD_UCCX_FAILED;
    }
    return get_list_url(u, url, list, res);
}

fd_uccx_status fd_uccx_list_contacts(fd_uccx *u, const char *campaign_id, fd_uccx_list **list,
                                     fd_uccx_result *res)
{
    *list = NULL;
    result_set(res, 0, "");
    char url[1024];
    if (contacts_url(u, campaign_id, url, sizeof url) < 0) {
        result_local(res, "campaign id does not fit in a URL");
        return FD_UCCX_FAILED;
    }
    return get_list_url(u, url, list, res);
}

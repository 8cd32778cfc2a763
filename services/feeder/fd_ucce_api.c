#include "fd_ucce_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "ecm_buf.h"
#include "ecm_clock.h"
#include "ecm_log.h"
#include "fd_reconcile.h"

#define CSV_MAX_BYTES (64u * 1024u * 1024u)
#define DD_ACCOUNT_COL "AccountNumber"
#define DD_CAMPAIGN_COL "CampaignID"

static char *build_csv(const fd_ucce_record *r, size_t n)
{
    ecm_buf b;
    ecm_buf_init(&b, CSV_MAX_BYTES);
    int ok = ecm_buf_adds(&b, FD_UCCE_API_CSV_HEADER "\n") == 0;
    for (size_t i = 0; ok && i < n; i++) {
        const fd_ucce_record *x = &r[i];
        ok = ecm_buf_addf(&b, "%s,%s,%s,%s,%s,%s\n", x->account, x->first_name, x->last_name,
                          x->phone, x->has_bias ? x->bias_text : "",
                          x->has_bias ? (x->dst ? "true" : "false") : "") == 0;
    }
    if (!ok) {
        ecm_buf_destroy(&b);
        return NULL;
    }
    return ecm_buf_take(&b);
}

/* Writes csv as CDATA sections, split after each "]]" that a '>' follows. */
static int write_cdata(xmlTextWriterPtr w, const char *csv)
{
    const char *p = csv;
    for (;;) {
        const char *end = strstr(p, "]]>");
        size_t k = end ? (size_t)(end - p) + 2 : strlen(p);
        if (k > (size_t)INT32_MAX || xmlTextWriterWriteFormatCDATA(w, "%.*s", (int)k, p) < 0)
            return -1;
        if (!end)
            return 0;
        p += k;
    }
}

char *fd_ucce_api_build_import(const fd_ucce_record *records, size_t n, size_t *len)
{
    if (n > FD_UCCE_API_MAX_RECORDS)
        return NULL;
    char *csv = build_csv(records, n);
    if (!csv)
        return NULL;
    char *out = NULL;
    xmlBufferPtr xb = xmlBufferCreate();
    xmlTextWriterPtr w = xb ? xmlNewTextWriterMemory(xb, 0) : NULL;
    if (!w)
        goto done;
    if (xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElement(w, BAD_CAST "import") < 0 ||
        xmlTextWriterStartElement(w, BAD_CAST "fileContent") < 0 || write_cdata(w, csv) < 0 ||
        xmlTextWriterEndElement(w) < 0 ||
        xmlTextWriterWriteElement(w, BAD_CAST "delimiter", BAD_CAST ",") < 0 ||
        xmlTextWriterWriteElement(w, BAD_CAST "overwriteData", BAD_CAST "false") < 0 ||
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

/* ---- the writer ---- */

typedef struct {
    fd_uccx *http;
    ecm_odbc *logger;
    char dd_table[ECM_ODBC_IDENT_MAX + 1];
} api_writer;

/* "/unifiedconfig/config/campaign/<id>/import"; ids are Cisco's integers.
 * Returns 0, or -1 when id is not digits or does not fit. */
static int import_path(const char *id, char *out, size_t out_size)
{
    if (!id[0] || strspn(id, "0123456789") != strlen(id))
        return -1;
    int n = snprintf(out, out_size, "/unifiedconfig/config/campaign/%s/import", id);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

static fd_uccx_status local_failure(fd_uccx_result *res, const char *detail)
{
    if (res) {
        *res = (fd_uccx_result){.settled = 1};
        snprintf(res->detail, sizeof res->detail, "%s", detail);
    }
    return FD_UCCX_FAILED;
}

static fd_uccx_status api_post(void *impl, const fd_target *t, const fd_contact *c, size_t n,
                               fd_uccx_result *res)
{
    api_writer *w = impl;
    char path[128];
    if (import_path(t->cisco_id, path, sizeof path) < 0)
        return local_failure(res, "Cisco campaign id is not a number");
    if (n > FD_UCCE_API_MAX_RECORDS)
        return local_failure(res, "more than 10,000 records in one request");
    fd_ucce_record *r = calloc(n ? n : 1, sizeof *r);
    if (!r)
        return local_failure(res, "out of memory");
    int64_t now = ecm_clock_wall_ms();
    for (size_t i = 0; i < n; i++) {
        if (fd_ucce_record_make(&c[i], now, &r[i]) < 0) {
            ecm_log_error("contact UCCE can't import; batch refused", "account_number=%s",
                          c[i].account_number ? c[i].account_number : "");
            free(r);
            if (res)
                *res = (fd_uccx_result){.settled = 1, .detail = "a record UCCE can't import"};
            return FD_UCCX_REJECTED;
        }
    }
    size_t len = 0;
    char *body = fd_ucce_api_build_import(r, n, &len);
    free(r);
    if (!body)
        return local_failure(res, "could not build the import body");
    fd_uccx_status st = fd_uccx_post_body(w->http, path, body, len, res);
    free(body);
    return st;
}

static fd_uccx_status api_find(void *impl, const fd_target *t, const char *const *accounts,
                               size_t n, int *present, fd_uccx_result *res)
{
    api_writer *w = impl;
    char path[128];
    if (import_path(t->cisco_id, path, sizeof path) < 0)
        return local_failure(res, "Cisco campaign id is not a number");
    fd_uccx_list *list = NULL;
    fd_uccx_status st = fd_uccx_get_list(w->http, path, &list, res);
    if (st != FD_UCCX_OK)
        return st;
    (void)fd_reconcile_partition(list, accounts, n, present);
    fd_uccx_list_destroy(list);
    /* Dialled records may be gone from the import list: Dialer_Detail has
     * a row for each call the dialer made. */
    if (fd_lookup_odbc(w->logger, w->dd_table, DD_ACCOUNT_COL, DD_CAMPAIGN_COL, t->cisco_id,
                       accounts, n, present) < 0) {
        if (res)
            *res = (fd_uccx_result){.settled = 1, .detail = "Dialer_Detail could not be read"};
        return FD_UCCX_UNAVAILABLE;
    }
    return FD_UCCX_OK;
}

/* The Outbound API deletes all of a campaign's imported records not
 * dialled yet, not chosen ones: only whole. */
static fd_uccx_status api_withdraw(void *impl, const fd_target *t, const char *const *accounts,
                                   size_t n, int whole, int *withdrew, fd_uccx_result *res)
{
    api_writer *w = impl;
    (void)accounts;
    (void)n;
    *withdrew = 0;
    if (!whole)
        return FD_UCCX_OK;
    char path[128];
    if (import_path(t->cisco_id, path, sizeof path) < 0)
        return local_failure(res, "Cisco campaign id is not a number");
    *withdrew = 1;
    return fd_uccx_delete(w->http, path, res);
}

static long long api_answering_ms(const void *impl)
{
    const api_writer *w = impl;
    return fd_uccx_answering_ms(w->http);
}

static void api_destroy(void *impl)
{
    api_writer *w = impl;
    if (!w)
        return;
    fd_uccx_destroy(w->http);
    ecm_odbc_destroy(w->logger);
    free(w);
}

static const fd_writer_ops API_OPS = {
    .post = api_post,
    .find = api_find,
    .withdraw = api_withdraw,
    .answering_ms = api_answering_ms,
    .destroy = api_destroy,
};

fd_writer *fd_ucce_api_writer_new(fd_uccx *http, ecm_odbc *logger, const char *dialer_detail)
{
    char err[128];
    api_writer *w = calloc(1, sizeof *w);
    if (!w || !http || !logger ||
        ecm_odbc_validate_identifier(dialer_detail, err, sizeof err) != 0) {
        fd_uccx_destroy(http);
        ecm_odbc_destroy(logger);
        free(w);
        return NULL;
    }
    w->http = http;
    w->logger = logger;
    snprintf(w->dd_table, sizeof w->dd_table, "%s", dialer_detail);
    return fd_writer_new(FD_KIND_UCCE_API, &API_OPS, w);
}

/* A fake UCCX peer for the feeder's unit tests, served in-process with
 * ecm_http: it records every account number POSTed to
 * /adminapi/campaign/{id}/contacts, counts the ones it receives twice, and
 * lists what it has on GET, in the shape the Cisco simulator uses (CSV in
 * csvdata). It also serves the UCCE Outbound API's import the same way
 * (POST /unifiedconfig/config/campaign/{id}/import with the CSV in
 * fileContent; GET lists accountNumber elements), with one account book
 * for both. Its answer (status, delay) is set by the test. Header-only so
 * that each test binary gets its own copy. */
#ifndef TEST_FD_FAKE_UCCX_H
#define TEST_FD_FAKE_UCCX_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "ecm_http.h"
#include "ecm_test_support.h"

#define FAKE_UCCX_USER "ecm"
#define FAKE_UCCX_PASSWORD "s3cret"
/* base64("ecm:s3cret") */
#define FAKE_UCCX_AUTH "Basic ZWNtOnMzY3JldA=="

typedef struct {
    pthread_mutex_t mu;
    ecm_http *http;
    int port;
    int post_status;   /* answer to a POST; 202 unless the test says otherwise */
    int delay_ms;      /* wait before answering */
    int get_status;    /* answer to a GET; 200 unless the test says otherwise */
    int delete_status; /* answer to a DELETE; 200 unless the test says otherwise */
    size_t deletes;    /* DELETEs answered 200 (each forgets every account held) */
    char **accounts;   /* every distinct account number received */
    size_t n, cap;
    size_t posts;      /* POSTs answered 2xx */
    size_t rows;       /* rows received in them */
    size_t duplicates; /* account numbers received more than once */
    size_t unauthorized;
    char last_campaign[32];
    char last_body[4096]; /* the start of the last POST body */
} fake_uccx;

static int fake_has_locked(fake_uccx *f, const char *acct)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->accounts[i], acct) == 0)
            return 1;
    }
    return 0;
}

/* Records one account number as received (the caller holds mu). */
static void fake_add_locked(fake_uccx *f, const char *acct)
{
    if (fake_has_locked(f, acct)) {
        f->duplicates++;
        return;
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->accounts = realloc(f->accounts, f->cap * sizeof *f->accounts);
    }
    f->accounts[f->n++] = strdup(acct);
}

/* What a crash after UCCX took a batch leaves behind: the peer has it. */
static inline void fake_add(fake_uccx *f, const char *acct)
{
    pthread_mutex_lock(&f->mu);
    fake_add_locked(f, acct);
    pthread_mutex_unlock(&f->mu);
}

/* ecm_test_sleep_ms(), for the tests that include this fake. */
static inline void fake_nap(int ms)
{
    ecm_test_sleep_ms(ms);
}

static int fake_authorized(fake_uccx *f, ecm_http_req *req)
{
    const char *auth = ecm_http_req_header(req, "Authorization");
    if (auth && strcmp(auth, FAKE_UCCX_AUTH) == 0)
        return 1;
    pthread_mutex_lock(&f->mu);
    f->unauthorized++;
    pthread_mutex_unlock(&f->mu);
    ecm_http_respond(req, 401, "text/plain", "unauthorized\n", 13);
    return 0;
}

/* The first field of every CSV line after the header; account numbers never
 * need quoting, so a split on ',' is enough for a fake. */
static void fake_take_rows(fake_uccx *f, const char *csv)
{
    int header_seen = 0;
    const char *p = csv;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > 0) {
            if (!header_seen) {
                header_seen = 1;
            } else {
                const char *comma = memchr(p, ',', len);
                size_t k = comma ? (size_t)(comma - p) : len;
                char acct[64];
                snprintf(acct, sizeof acct, "%.*s", (int)k, p);
                fake_add_locked(f, acct);
                f->rows++;
            }
        }
        p += len + (eol ? 1 : 0);
    }
}

static void fake_post(void *ctx, ecm_http_req *req)
{
    fake_uccx *f = ctx;
    if (!fake_authorized(f, req))
        return;
    pthread_mutex_lock(&f->mu);
    int status = f->post_status, delay = f->delay_ms;
    pthread_mutex_unlock(&f->mu);
    if (delay > 0)
        ecm_test_sleep_ms(delay);
    if (status != 200 && status != 202) {
        ecm_http_respond(req, status, "text/plain", "fake says no\n", 13);
        return;
    }
    size_t len = 0;
    const char *body = ecm_http_req_body(req, &len);
    xmlDocPtr doc = xmlReadMemory(body, (int)len, "post.xml", NULL, XML_PARSE_NONET);
    if (!doc) {
        ecm_http_respond(req, 400, "text/plain", "malformed XML\n", 14);
        return;
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr csv = NULL;
    for (xmlNodePtr n = root ? root->children : NULL; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && (xmlStrcmp(n->name, BAD_CAST "csvdata") == 0 ||
                                            xmlStrcmp(n->name, BAD_CAST "fileContent") == 0))
            csv = n;
    }
    if (!csv) {
        xmlFreeDoc(doc);
        ecm_http_respond(req, 400, "text/plain", "no csvdata\n", 11);
        return;
    }
    xmlChar *text = xmlNodeGetContent(csv);
    pthread_mutex_lock(&f->mu);
    snprintf(f->last_campaign, sizeof f->last_campaign, "%s", ecm_http_req_param(req, 0));
    snprintf(f->last_body, sizeof f->last_body, "%.*s", (int)len, body);
    fake_take_rows(f, (const char *)text);
    f->posts++;
    pthread_mutex_unlock(&f->mu);
    xmlFree(text);
    xmlFreeDoc(doc);
    ecm_http_respond(req, status, "application/xml", "<campaignContacts/>", 19);
}

static void fake_get(void *ctx, ecm_http_req *req)
{
    fake_uccx *f = ctx;
    if (!fake_authorized(f, req))
        return;
    pthread_mutex_lock(&f->mu);
    int status = f->get_status, delay = f->delay_ms;
    pthread_mutex_unlock(&f->mu);
    if (delay > 0)
        ecm_test_sleep_ms(delay);
    if (status != 200) {
        ecm_http_respond(req, status, "text/plain", "fake says no\n", 13);
        return;
    }
    const char *head = "<?xml version=\"1.0\"?><campaignContacts><campaign name=\"fake\">"
                       "<refURL>x</refURL></campaign><csvdata>\nAccount Number,First Name,"
                       "Last Name,Phone1,Phone2,Phone3,Status\n";
    const char *tail = "</csvdata></campaignContacts>";
    pthread_mutex_lock(&f->mu);
    size_t cap = strlen(head) + strlen(tail) + f->n * 96 + 1, len = 0;
    char *out = malloc(cap);
    len += (size_t)snprintf(out + len, cap - len, "%s", head);
    for (size_t i = 0; i < f->n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%.60s,,,+15550000000,,,pending\n",
                                f->accounts[i]);
    len += (size_t)snprintf(out + len, cap - len, "%s", tail);
    pthread_mutex_unlock(&f->mu);
    ecm_http_respond(req, 200, "application/xml", out, len);
    free(out);
}

/* The Outbound API's list of imported contacts. */
static void fake_get_import(void *ctx, ecm_http_req *req)
{
    fake_uccx *f = ctx;
    if (!fake_authorized(f, req))
        return;
    pthread_mutex_lock(&f->mu);
    int status = f->get_status;
    size_t cap = 64 + f->n * 128, len = 0;
    char *out = malloc(cap);
    len += (size_t)snprintf(out + len, cap - len, "<importedContacts>");
    for (size_t i = 0; i < f->n; i++)
        len += (size_t)snprintf(out + len, cap - len,
                                "<importedContact><accountNumber>%.60s</accountNumber>"
                                "<callStatus>P</callStatus></importedContact>",
                                f->accounts[i]);
    len += (size_t)snprintf(out + len, cap - len, "</importedContacts>");
    pthread_mutex_unlock(&f->mu);
    if (status != 200)
        ecm_http_respond(req, status, "text/plain", "fake says no\n", 13);
    else
        ecm_http_respond(req, 200, "application/xml", out, len);
    free(out);
}

/* DELETE …/contacts (UCCX) or …/import (Outbound API): the campaign's
 * undialled records go. The fake lists only what it holds undialled (the
 * test keeps dialled records in its db_cra / Dialer_Detail tables), so it
 * forgets every account (posts, rows and duplicates keep counting). */
static void fake_delete(void *ctx, ecm_http_req *req)
{
    fake_uccx *f = ctx;
    if (!fake_authorized(f, req))
        return;
    pthread_mutex_lock(&f->mu);
    int status = f->delete_status;
    if (status == 200) {
        for (size_t i = 0; i < f->n; i++)
            free(f->accounts[i]);
        f->n = 0;
        f->deletes++;
    }
    pthread_mutex_unlock(&f->mu);
    if (status != 200)
        ecm_http_respond(req, status, "text/plain", "fake says no\n", 13);
    else
        ecm_http_respond(req, 200, "application/xml", "", 0);
}

/* Starts a fake on the first free port of [port_lo, port_hi]. */
static fake_uccx *fake_start(int port_lo, int port_hi)
{
    fake_uccx *f = calloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->post_status = 202;
    f->get_status = 200;
    f->delete_status = 200;
    static const ecm_test_route routes[] = {
        {"DELETE", "/adminapi/campaign/{}/contacts", 0, fake_delete},
        {"DELETE", "/unifiedconfig/config/campaign/{}/import", 0, fake_delete},
        {"POST", "/adminapi/campaign/{}/contacts", 16u << 20, fake_post},
        {"GET", "/adminapi/campaign/{}/contacts", 0, fake_get},
        {"POST", "/unifiedconfig/config/campaign/{}/import", 16u << 20, fake_post},
        {"GET", "/unifiedconfig/config/campaign/{}/import", 0, fake_get_import},
    };
    f->http = ecm_test_http_serve(port_lo, port_hi, routes, sizeof routes / sizeof routes[0], f,
                                  &f->port);
    if (!f->http) {
        free(f);
        return NULL;
    }
    return f;
}

static void fake_reset(fake_uccx *f)
{
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++)
        free(f->accounts[i]);
    f->n = 0;
    f->posts = f->rows = f->duplicates = f->unauthorized = f->deletes = 0;
    f->post_status = 202;
    f->get_status = 200;
    f->delete_status = 200;
    f->delay_ms = 0;
    f->last_body[0] = '\0';
    pthread_mutex_unlock(&f->mu);
}

static void fake_set(fake_uccx *f, int post_status, int get_status, int delay_ms)
{
    pthread_mutex_lock(&f->mu);
    f->post_status = post_status;
    f->get_status = get_status;
    f->delay_ms = delay_ms;
    pthread_mutex_unlock(&f->mu);
}

static int fake_has(fake_uccx *f, const char *acct)
{
    pthread_mutex_lock(&f->mu);
    int has = fake_has_locked(f, acct);
    pthread_mutex_unlock(&f->mu);
    return has;
}

static void fake_stop(fake_uccx *f)
{
    if (!f)
        return;
    ecm_http_destroy(f->http);
    fake_reset(f);
    free(f->accounts);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static void fake_url(const fake_uccx *f, char *out, size_t out_size)
{
    snprintf(out, out_size, "http://127.0.0.1:%d", f->port);
}

#endif

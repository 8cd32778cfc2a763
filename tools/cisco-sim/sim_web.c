#include "sim_web.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define WEB_AUTH_MAX 512

/* --- XML answers ---------------------------------------------------------- */

int sim_xml_open(sim_xml *x)
{
    x->bad = 0;
    x->buf = xmlBufferCreate();
    x->w = x->buf ? xmlNewTextWriterMemory(x->buf, 0) : NULL;
    if (!x->w) {
        xmlBufferFree(x->buf);
        x->buf = NULL;
        return -1;
    }
    x->bad |= xmlTextWriterStartDocument(x->w, NULL, "UTF-8", NULL) < 0;
    return 0;
}

void sim_xml_start(sim_xml *x, const char *name)
{
    x->bad |= xmlTextWriterStartElement(x->w, BAD_CAST name) < 0;
}

void sim_xml_end(sim_xml *x)
{
    x->bad |= xmlTextWriterEndElement(x->w) < 0;
}

void sim_xml_attr(sim_xml *x, const char *name, const char *value)
{
    x->bad |= xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value) < 0;
}

void sim_xml_text(sim_xml *x, const char *name, const char *value)
{
    x->bad |= xmlTextWriterWriteElement(x->w, BAD_CAST name, BAD_CAST value) < 0;
}

void sim_xml_int(sim_xml *x, const char *name, long long v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", v);
    sim_xml_text(x, name, num);
}

/* Finishes the document and answers it (500 if writing failed). */
void sim_xml_respond(sim_xml *x, ecm_http_req *req, int status)
{
    x->bad |= xmlTextWriterEndDocument(x->w) < 0;
    xmlFreeTextWriter(x->w); /* flushes into buf */
    x->w = NULL;
    if (x->bad) {
        ecm_http_respond(req, 500, "text/plain", "response could not be written\n", 30);
    } else {
        ecm_http_respond(req, status, "application/xml", (const char *)xmlBufferContent(x->buf),
                         (size_t)xmlBufferLength(x->buf));
    }
    xmlBufferFree(x->buf);
    x->buf = NULL;
}

/* UCCX-style error body: <apiError><errorType/><errorMessage/></apiError>. */
void sim_web_error(ecm_http_req *req, int status, const char *type, const char *message)
{
    sim_xml x;
    if (sim_xml_open(&x) != 0) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    sim_xml_start(&x, "apiError");
    sim_xml_text(&x, "errorType", type);
    sim_xml_text(&x, "errorMessage", message);
    sim_xml_end(&x);
    sim_xml_respond(&x, req, status);
}

/* --- request helpers ---------------------------------------------------- */

int sim_web_authorized(const char *user, const char *password, ecm_http_req *req)
{
    const char *h = ecm_http_req_header(req, "Authorization");
    if (!h || strncasecmp(h, "Basic ", 6) != 0) {
        return 0;
    }
    const char *b64 = h + 6;
    while (*b64 == ' ') {
        b64++;
    }
    size_t len = strlen(b64);
    while (len > 0 && b64[len - 1] == ' ') {
        len--;
    }
    if (len == 0 || len % 4 != 0 || len > WEB_AUTH_MAX) {
        return 0;
    }
    unsigned char decoded[WEB_AUTH_MAX];
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)b64, (int)len);
    if (n < 0) {
        return 0;
    }
    /* EVP_DecodeBlock counts the bytes padding stands for. */
    for (size_t i = len; i > 0 && b64[i - 1] == '='; i--) {
        n--;
    }
    size_t ulen = strlen(user), plen = strlen(password);
    if ((size_t)n != ulen + 1 + plen) {
        return 0;
    }
    int ok = CRYPTO_memcmp(decoded, user, ulen) == 0;
    ok &= decoded[ulen] == ':';
    ok &= CRYPTO_memcmp(decoded + ulen + 1, password, plen) == 0;
    return ok;
}

/* "http://host" from the Host header, so URLs in answers work for the
 * caller; empty (relative URLs) without one. */
void sim_web_base_url(ecm_http_req *req, char *out, size_t out_size)
{
    const char *host = ecm_http_req_header(req, "Host");
    int w = host ? snprintf(out, out_size, "http://%s", host) : -1;
    if (w < 0 || (size_t)w >= out_size) {
        out[0] = '\0';
    }
}

int sim_web_id_param(ecm_http_req *req, int n)
{
    const char *p = ecm_http_req_param(req, n);
    char *end = NULL;
    errno = 0;
    long long id = p ? strtoll(p, &end, 10) : 0;
    if (!p || errno != 0 || end == p || *end != '\0' || id <= 0 || id > INT_MAX) {
        return 0;
    }
    return (int)id;
}

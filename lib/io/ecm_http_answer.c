/* The answers to a request and its accessors (lib/io/ecm_http.h). */
#include "ecm_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "ecm_http_int.h"
#include "ecm_log.h"
#include "ecm_utf8.h"

/* ---- answers ---- */

void ecm_http_req_free_headers(ecm_http_req *r)
{
    for (http_header *x = r->headers; x;) {
        http_header *next = x->next;
        free(x->name);
        free(x->value);
        free(x);
        x = next;
    }
    r->headers = NULL;
}

void ecm_http_add_header(ecm_http_req *r, const char *name, const char *value)
{
    if (!r || !name || !value) {
        return;
    }
    if (r->resp) {
        MHD_add_response_header(r->resp, name, value);
        return;
    }
    http_header *x = calloc(1, sizeof *x);
    if (!x) {
        return;
    }
    x->name = strdup(name);
    x->value = strdup(value);
    if (!x->name || !x->value) {
        free(x->name);
        free(x->value);
        free(x);
        return;
    }
    /* Kept in call order so that repeated headers come out as added. */
    http_header **tail = &r->headers;
    while (*tail) {
        tail = &(*tail)->next;
    }
    *tail = x;
}

/* Gives r->resp (just made) the status, the Content-Type and the headers
 * added before. */
static void answer_with(ecm_http_req *r, int status, const char *content_type)
{
    r->status = (unsigned int)status;
    if (content_type) {
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    }
    for (http_header *x = r->headers; x; x = x->next) {
        MHD_add_response_header(r->resp, x->name, x->value);
    }
    ecm_http_req_free_headers(r);
}

void ecm_http_respond(ecm_http_req *r, int status, const char *content_type, const char *body,
                      size_t len)
{
    if (!r) {
        return;
    }
    if (r->resp) {
        ecm_log_warn("HTTP handler answered twice", "%s %s: second status %d ignored", r->method,
                     r->path, status);
        return;
    }
    r->resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!r->resp) {
        ecm_log_error("HTTP response not created", "%s %s", r->method, r->path);
        return;
    }
    answer_with(r, status, content_type);
}

/* libmicrohttpd's side of an ecm_http_reader. */
typedef struct {
    ecm_http_reader_fn read;
    ecm_http_reader_free_fn free;
    void *ctx;
} http_reader;

static ssize_t reader_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_reader *rd = cls;
    ssize_t n = rd->read(rd->ctx, pos, buf, max);
    if (n == ECM_HTTP_READER_END) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void reader_destroy(void *cls)
{
    http_reader *rd = cls;
    if (rd->free) {
        rd->free(rd->ctx);
    }
    free(rd);
}

void ecm_http_respond_reader(ecm_http_req *r, int status, const char *content_type,
                             ecm_http_reader_fn read, ecm_http_reader_free_fn free_fn, void *ctx)
{
    http_reader *rd = r && !r->resp ? malloc(sizeof *rd) : NULL;
    if (!rd) {
        if (free_fn) {
            free_fn(ctx);
        }
        if (r && !r->resp) {
            ecm_http_respond_problem(r, 500, "internal", "Internal error", "out of memory");
        }
        return;
    }
    *rd = (http_reader){read, free_fn, ctx};
    /* Handed out in blocks of 64 KiB, chunked: the length is not known. */
    r->resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, reader_read, rd,
                                                reader_destroy);
    if (!r->resp) {
        reader_destroy(rd);
        ecm_log_error("HTTP response not created", "%s %s", r->method, r->path);
        return;
    }
    answer_with(r, status, content_type);
}

void ecm_http_respond_json_obj(ecm_http_req *r, int status, json_t *obj, const char *content_type)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (text) {
        ecm_http_respond(r, status, content_type, text, strlen(text));
    } else {
        ecm_http_respond(r, status, content_type, "{}", 2);
    }
    free(text);
    json_decref(obj);
}

json_t *ecm_http_json_sanitized(const char *s)
{
    char fixed[4096];
    ecm_utf8_copy(fixed, sizeof fixed, s, strlen(s));
    json_t *v = json_string(fixed);
    return v ? v : json_string("");
}

void ecm_http_respond_problem(ecm_http_req *r, int status, const char *type, const char *title,
                              const char *detail_fmt, ...)
{
    char type_uri[256];
    /* trunc-ok: type is one of the short problem names the services spell out */
    snprintf(type_uri, sizeof type_uri, "%s%s", HTTP_PROBLEM_BASE, type ? type : "about:blank");
    json_t *obj = json_object();
    if (obj) {
        json_object_set_new(obj, "type", json_string(type_uri));
        json_object_set_new(obj, "title", json_string(title ? title : ""));
        json_object_set_new(obj, "status", json_integer(status));
        if (detail_fmt) {
            char detail[2048];
            va_list ap;
            va_start(ap, detail_fmt);
            vsnprintf(detail, sizeof detail, detail_fmt, ap);
            va_end(ap);
            /* json_string rejects invalid UTF-8; keep the problem valid anyway. */
            json_t *d = json_string(detail);
            if (!d) {
                d = ecm_http_json_sanitized(detail);
            }
            json_object_set_new(obj, "detail", d);
        }
    }
    ecm_http_respond_json_obj(r, status, obj, "application/problem+json");
}

/* ---- request accessors ---- */

const char *ecm_http_req_method(const ecm_http_req *r)
{
    return r->method;
}

const char *ecm_http_req_path(const ecm_http_req *r)
{
    return r->path;
}

const char *ecm_http_req_param(const ecm_http_req *r, int n)
{
    if (n < 0 || n >= r->nparams) {
        return NULL;
    }
    return r->params[n];
}

const char *ecm_http_req_query(ecm_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *ecm_http_req_header(ecm_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int ecm_http_req_client_addr(ecm_http_req *r, char *out, size_t out_size)
{
    if (out_size > 0)
        out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa == NULL || out_size == 0)
        return -1;
    const void *bytes = NULL;
    if (sa->sa_family == AF_INET)
        bytes = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        bytes = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (bytes == NULL || inet_ntop(sa->sa_family, bytes, out, (socklen_t)out_size) == NULL) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

const char *ecm_http_req_body(const ecm_http_req *r, size_t *len)
{
    const char *body = ecm_buf_ptr(&r->body);
    if (len) {
        *len = body ? ecm_buf_len(&r->body) : 0;
    }
    return body ? body : "";
}

void ecm_http_req_set_state(ecm_http_req *r, void *state)
{
    r->state = state;
}

void *ecm_http_req_state(const ecm_http_req *r)
{
    return r->state;
}

#include "sms_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

/* A callback carries a handful of arguments; more is not a gateway. */
#define SMS_ARGS_MAX 32

struct sms_args {
    ecm_http_req *req;
    size_t n;
    char *names[SMS_ARGS_MAX];
    char *values[SMS_ARGS_MAX];
};

/* 1 when needle (lower case) occurs in s, ignoring case. */
static int contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++) {
        if (strncasecmp(s, needle, n) == 0)
            return 1;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sms_args_form_decode(char *s)
{
    char *w = s;
    int rc = 0;
    for (const char *r = s; *r; r++) {
        if (*r == '+') {
            *w++ = ' ';
        } else if (*r == '%') {
            int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
            if (hi < 0 || lo < 0) {
                rc = -1;
                *w++ = *r;
                continue;
            }
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return rc;
}

static int add(sms_args *a, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (a->n >= SMS_ARGS_MAX)
        return 0; /* the rest is ignored, as a gateway adds no such thing */
    char *n = strndup(name, nlen);
    char *v = strndup(value, vlen);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return -1;
    }
    a->names[a->n] = n;
    a->values[a->n] = v;
    a->n++;
    return 0;
}

static int parse_form(sms_args *a, const char *body, size_t len)
{
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (stop > p) {
            const char *vstart = eq ? eq + 1 : stop;
            size_t before = a->n;
            if (add(a, p, (size_t)((eq ? eq : stop) - p), vstart, (size_t)(stop - vstart)) != 0)
                return -1;
            if (a->n > before) {
                (void)sms_args_form_decode(a->names[before]);
                (void)sms_args_form_decode(a->values[before]);
            }
        }
        p = stop + 1;
    }
    return 0;
}

static int parse_json(sms_args *a, const char *body, size_t len, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
        (void)snprintf(errstr, errstr_size, "%s",
                       doc == NULL ? "body is not valid JSON" : "body is not a JSON object");
        json_decref(doc);
        return -1;
    }
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(doc, key, v)
    {
        char num[64];
        const char *s = NULL;
        size_t slen = 0;
        if (json_is_string(v)) {
            s = json_string_value(v);
            slen = json_string_length(v);
        } else if (json_is_integer(v)) {
            slen =
                (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            s = num;
        } else if (json_is_real(v)) {
            slen = (size_t)snprintf(num, sizeof(num), "%.17g", json_real_value(v));
            s = num;
        } else if (json_is_boolean(v)) {
            s = json_is_true(v) ? "true" : "false";
            slen = strlen(s);
        } else {
            continue; /* null, arrays, objects: not an argument */
        }
        /* snprintf's answer is the length it wanted (or negative, cast to a
         * huge one): a number it had to cut is never passed on as a value. */
        if (s == num && slen >= sizeof(num))
            continue;
        if (add(a, key, strlen(key), s, slen) != 0) {
            (void)snprintf(errstr, errstr_size, "out of memory");
            rc = -1;
            break;
        }
    }
    json_decref(doc);
    return rc;
}

sms_args *sms_args_parse_body(const char *content_type, const char *body, size_t len, char *errstr,
                              size_t errstr_size)
{
    if (errstr_size > 0)
        errstr[0] = '\0';
    sms_args *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        (void)snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (body == NULL || len == 0)
        return a;
    size_t skip = 0;
    while (skip < len &&
           (body[skip] == ' ' || body[skip] == '\t' || body[skip] == '\r' || body[skip] == '\n'))
        skip++;
    int json = (content_type != NULL && contains_ci(content_type, "json")) ||
               (skip < len && body[skip] == '{');
    int rc = json ? parse_json(a, body, len, errstr, errstr_size) : parse_form(a, body, len);
    if (rc != 0) {
        if (errstr_size > 0 && errstr[0] == '\0')
            (void)snprintf(errstr, errstr_size, "out of memory");
        sms_args_destroy(a);
        return NULL;
    }
    return a;
}

sms_args *sms_args_parse(ecm_http_req *req, char *errstr, size_t errstr_size)
{
    size_t len = 0;
    const char *body = ecm_http_req_body(req, &len);
    sms_args *a = sms_args_parse_body(ecm_http_req_header(req, "Content-Type"), body, len, errstr,
                                      errstr_size);
    if (a != NULL)
        a->req = req;
    return a;
}

const char *sms_args_get(const sms_args *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->names[i], name) == 0)
            return a->values[i];
    }
    return a->req != NULL ? ecm_http_req_query(a->req, name) : NULL;
}

void sms_args_destroy(sms_args *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->names[i]);
        free(a->values[i]);
    }
    free(a);
}

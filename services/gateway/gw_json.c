#include "gw_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void gw_json_respond(ecm_http_req *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error",
                                 "could not build the response");
        return;
    }
    ecm_http_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

static int parse_ll(const char *s, long long *out)
{
    if (!s || !*s) {
        return -1;
    }
    for (const char *p = *s == '-' ? s + 1 : s; *p; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

int gw_parse_id(const char *s, long long *out)
{
    long long v;
    if (!s || *s == '-' || parse_ll(s, &v) != 0 || v <= 0) {
        return -1;
    }
    *out = v;
    return 0;
}

int gw_query_int(ecm_http_req *req, const char *name, long long def, long long min, long long max,
                 long long *out)
{
    const char *s = ecm_http_req_query(req, name);
    if (!s) {
        *out = def;
        return 0;
    }
    long long v;
    if (parse_ll(s, &v) != 0 || v < min || v > max) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "%s: '%.40s' is not an integer in [%lld, %lld]", name, s, min,
                                 max);
        return -1;
    }
    *out = v;
    return 0;
}

json_t *gw_json_text_or_null(const char *value, int is_null)
{
    return is_null ? json_null() : json_string(value);
}

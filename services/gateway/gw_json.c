#include "gw_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
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

json_t *gw_body_json(ecm_http_req *req, const char *title)
{
    size_t len = 0;
    const char *text = ecm_http_req_body(req, &len);
    json_error_t jerr;
    json_t *body = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        ecm_http_respond_problem(req, 400, "validation", title,
                                 "body: not valid JSON (line %d, column %d: %s)", jerr.line,
                                 jerr.column, jerr.text);
    }
    return body;
}

void gw_respond_db_down(ecm_http_req *req, ecm_pg *pg, const char *what)
{
    if (!pg) {
        /* The pool's wait ran out: every connection is busy. */
        ecm_http_add_header(req, "Retry-After", "1");
        ecm_http_respond_problem(req, 503, "unavailable", "Database busy",
                                 "could not %s: no database connection was free in time", what);
        return;
    }
    ecm_pg_check_broken(pg);
    ecm_http_add_header(req, "Retry-After", "5");
    ecm_http_respond_problem(req, 503, "unavailable", "Database unavailable", "could not %s", what);
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

int gw_path_id(ecm_http_req *req, const char *noun, long long *out)
{
    const char *s = ecm_http_req_param(req, 0);
    if (gw_parse_id(s, out) != 0) {
        char title[64];
        (void)snprintf(title, sizeof(title), "No such %s", noun);
        const char *article = noun[0] && strchr("aeiou", noun[0]) ? "an" : "a";
        ecm_http_respond_problem(req, 404, "not-found", title, "'%s' is not %s %s id",
                                 GW_QUOTE(s, 40), article, noun);
        return -1;
    }
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
                                 "%s: '%s' is not an integer in [%lld, %lld]", name,
                                 GW_QUOTE(s, 40), min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int gw_page_args(ecm_http_req *req, long long def, long long max, gw_page *page)
{
    if (gw_query_int(req, "limit", def, 1, max, &page->limit) != 0) {
        return -1;
    }
    page->cursor = 0;
    const char *cur = ecm_http_req_query(req, "cursor");
    if (cur && gw_parse_id(cur, &page->cursor) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "cursor: '%s' is not a cursor from next_cursor",
                                 GW_QUOTE(cur, 40));
        return -1;
    }
    gw_ll_text(page->limit_param, page->limit + 1);
    gw_ll_text(page->cursor_param, page->cursor);
    return 0;
}

json_t *gw_page_json(const PGresult *r, const gw_page *page,
                     json_t *(*row_json)(const PGresult *r, int row))
{
    int rows = PQntuples(r);
    int shown = rows > page->limit ? (int)page->limit : rows;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++) {
        json_array_append_new(items, row_json(r, i));
    }
    json_t *next = rows > shown ? json_string(PQgetvalue(r, shown - 1, 0)) : json_null();
    return json_pack("{so so}", "items", items, "next_cursor", next);
}

json_t *gw_json_text_or_null(const char *value, int is_null)
{
    return is_null ? json_null() : json_string(value);
}

const char *gw_ll_text(char buf[GW_LL_TEXT], long long v)
{
    int n = snprintf(buf, GW_LL_TEXT, "%lld", v);
    /* LLONG_MIN is 20 characters: never cut. */
    if (n < 0 || n >= GW_LL_TEXT) {
        abort();
    }
    return buf;
}

int gw_format(char *out, size_t out_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, out_size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

int gw_pg_cmd_id_json(ecm_pg *pg, const char *sql, const char *id, const json_t *rows)
{
    char *text = json_dumps(rows, JSON_COMPACT);
    if (!text) {
        return -1;
    }
    const char *params[] = {id, text};
    int rc = ecm_pg_cmd(pg, sql, 2, params);
    free(text);
    return rc;
}

int gw_name_taken(ecm_pg *pg, const char *table, const char *name, const char *id)
{
    char sql[160];
    if (gw_format(sql, sizeof sql,
                  "SELECT 1 FROM %s WHERE name = $1 AND id IS DISTINCT FROM $2::bigint",
                  table) != 0) {
        return -1;
    }
    const char *params[] = {name, id};
    PGresult *r = ecm_pg_exec(pg, sql, 2, params);
    if (!r) {
        return -1;
    }
    int taken = PQntuples(r) > 0;
    PQclear(r);
    return taken;
}

int gw_why_fail(const gw_why *w, const char *field, const char *msg)
{
    (void)snprintf(w->field, w->field_size, "%s", field);
    (void)snprintf(w->reason, w->reason_size, "%s", msg);
    return -1;
}

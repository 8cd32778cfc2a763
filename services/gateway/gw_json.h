/* Small helpers shared by the gateway's handlers: JSON bodies and answers,
 * ids from the path, paging arguments, the answer when the DB is down. */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <jansson.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "ecm_utf8.h"

/* SQL expression rendering timestamptz column c as RFC 3339 UTC with ms. */
/* Outside text quoted in an answer or a reason: at most n characters (never
 * cut inside one), then "...", as valid UTF-8. The buffer is a compound
 * literal: use the result within the call it is an argument of. */
#define GW_QUOTE(s, n) ecm_utf8_quote((char[4 *(n) + 4]){0}, 4 * (n) + 4, (s), (n))

#define GW_SQL_TIME(c) "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Answers status with body as application/json and releases body (takes
 * ownership; NULL answers 500). */
void gw_json_respond(ecm_http_req *req, int status, json_t *body);

/* The request body as one JSON document, duplicate members refused.
 * Returns it (the caller json_decref()s it), or NULL after answering 400
 * with title and where the text stops being JSON. */
json_t *gw_body_json(ecm_http_req *req, const char *title) __attribute__((warn_unused_result));

/* Answers 503 "Database unavailable" ("could not <what>") after letting pg
 * notice a lost connection, so that the pool replaces it; pg NULL (no pooled
 * connection free within ECM_PG_POOL_WAIT_MS) is "Database busy". Both with
 * Retry-After. Can't fail. */
void gw_respond_db_down(ecm_http_req *req, ecm_pg *pg, const char *what);

/* Parses a positive decimal id (a path segment or a cursor). Returns 0, or -1
 * when s is NULL, empty, not all digits, zero or out of range. */
int gw_parse_id(const char *s, long long *out) __attribute__((warn_unused_result));

/* Reads the query argument name as an integer in [min, max]; absent gives
 * def. Returns 0, or -1 (bad or out of range) after answering 400 naming the
 * argument. */
int gw_query_int(ecm_http_req *req, const char *name, long long def, long long min, long long max,
                 long long *out) __attribute__((warn_unused_result));

/* The path's first {} as an id of a noun ("campaign", "upload"). Returns
 * 0, or -1 after answering 404 "No such <noun>". */
int gw_path_id(ecm_http_req *req, const char *noun, long long *out)
    __attribute__((warn_unused_result));

/* One page of a list: ?limit rows after ?cursor, an id a previous page gave
 * as next_cursor (0: the first page). The text forms are the SQL
 * parameters; the query asks for limit + 1 rows, the extra one only saying
 * that there is a next page. */
typedef struct {
    long long limit, cursor;
    char limit_param[24];  /* limit + 1 */
    char cursor_param[24]; /* cursor */
} gw_page;

/* Reads ?limit (absent: def; else in [1, max]) and ?cursor into page.
 * Returns 0, or -1 after answering 400 naming the argument. */
int gw_page_args(ecm_http_req *req, long long def, long long max, gw_page *page)
    __attribute__((warn_unused_result));

/* The answer for a page: {"items": row_json of each row of r up to
 * page->limit, "next_cursor": column 0 (the id) of the last item when r has
 * more rows, else null}. NULL when out of memory. */
json_t *gw_page_json(const PGresult *r, const gw_page *page,
                     json_t *(*row_json)(const PGresult *r, int row))
    __attribute__((warn_unused_result));

/* Room for any long long in decimal: its sign, 19 digits and the NUL. */
#define GW_LL_TEXT 24

/* Writes v in decimal into buf, the text form of an integer SQL parameter,
 * key or path segment. Returns buf. Can't fail: every long long fits. */
const char *gw_ll_text(char buf[GW_LL_TEXT], long long v);

/* snprintf that says whether the text fit, for a text whose cutting would
 * be a bug (a URL, a key, a path, SQL). Returns 0, or -1 when it was cut
 * (out holds the cut text) or could not be formatted. */
int gw_format(char *out, size_t out_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), warn_unused_result)) __attribute__((warn_unused_result));

/* A JSON string from a DB text value, or JSON null for a SQL NULL. */
json_t *gw_json_text_or_null(const char *value, int is_null);

/* Where a body check writes what it refused: the field ("rules[2].start")
 * and the reason, each into the caller's buffer. */
typedef struct {
    char *field, *reason;
    size_t field_size, reason_size;
} gw_why;

/* Writes field and msg into w; returns -1 (the check's answer). */
int gw_why_fail(const gw_why *w, const char *field, const char *msg);

/* Runs sql with $1 = id and $2 = rows as compact JSON text (an insert from
 * json_to_recordset, say). Returns 0, or -1 when memory runs out or the
 * statement fails. */
int gw_pg_cmd_id_json(ecm_pg *pg, const char *sql, const char *id, const json_t *rows)
    __attribute__((warn_unused_result));

/* 1 when a row of table other than id (NULL: any) has name, 0 when none,
 * -1 on a DB failure. table is a constant of the caller's (never input).
 * Asked first so that a taken name is a 409 and not an error in the log;
 * the unique index still decides a race. */
int gw_name_taken(ecm_pg *pg, const char *table, const char *name, const char *id)
    __attribute__((warn_unused_result));

#endif

/* Small helpers shared by the gateway's handlers: JSON answers, ids from the
 * path, paging arguments. */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <jansson.h>

#include "ecm_http.h"

/* SQL expression rendering timestamptz column c as RFC 3339 UTC with ms. */
#define GW_SQL_TIME(c) "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Answers status with body as application/json and releases body (takes
 * ownership; NULL answers 500). */
void gw_json_respond(ecm_http_req *req, int status, json_t *body);

/* Parses a positive decimal id (a path segment or a cursor). Returns 0, or -1
 * when s is NULL, empty, not all digits, zero or out of range. */
int gw_parse_id(const char *s, long long *out);

/* Reads the query argument name as an integer in [min, max]; absent gives
 * def. Returns 0, or -1 (bad or out of range) after answering 400 naming the
 * argument. */
int gw_query_int(ecm_http_req *req, const char *name, long long def, long long min, long long max,
                 long long *out);

/* A JSON string from a DB text value, or JSON null for a SQL NULL. */
json_t *gw_json_text_or_null(const char *value, int is_null);

#endif

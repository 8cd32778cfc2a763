/* ecmctl's HTTP client of the ECM REST API (libcurl): the API's base URL
 * ($ECM_URL), JSON requests, a file streamed from disk as a request body,
 * a body streamed to a file, and how an error answer is told to the user.
 * Every request sends "Authorization: Bearer $ECM_API_KEY" when that is
 * set. One thread; no global state but libcurl's (curl_global_init is
 * main's). */
#ifndef CTL_API_H
#define CTL_API_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#define CTL_API_URL_DEFAULT "http://127.0.0.1:7480"

/* The API base URL: ECM_URL, else CTL_API_URL_DEFAULT; no trailing
 * slash. Never NULL. */
const char *ctl_api_base(void);

/* What a request came back with. */
typedef struct {
    long status;    /* HTTP status; 0 when no answer came */
    json_t *body;   /* the answer parsed as JSON, or NULL; the answer's */
    char *raw;      /* the answer's bytes, NUL-terminated, or NULL; the answer's */
    size_t raw_len; /* bytes in raw */
    char err[2400]; /* when status is 0: why (the URL, curl's words) */
} ctl_api_answer;

/* Sends method to base + path with body (may be NULL) as application/json
 * and fills *out (free it with ctl_api_answer_destroy, whatever happens).
 * Returns 0 when an answer came (any status), -1 otherwise (out->err says
 * why: connection refused, timed out, out of memory, ...). */
int ctl_api_call(const char *method, const char *path, const json_t *body, ctl_api_answer *out)
    __attribute__((warn_unused_result));

/* ctl_api_call(method, path, body, out), then: CTL_EXIT_OK when the
 * answer's status is want or want_too (0: want alone); else why told on
 * stderr by ctl_api_fail(what, out) and its exit code. out is filled
 * either way (free it with ctl_api_answer_destroy). */
int ctl_api_expect(const char *what, const char *method, const char *path, const json_t *body,
                   long want, long want_too, ctl_api_answer *out)
    __attribute__((warn_unused_result));

/* ctl_api_call("GET", path, NULL, out). */
int ctl_api_get(const char *path, ctl_api_answer *out) __attribute__((warn_unused_result));

/* Called with each piece of a streamed request body as it is read from
 * the file, before it goes out. */
typedef void (*ctl_api_chunk_fn)(void *ctx, const char *data, size_t len);

/* POSTs the open file fp (size bytes, read from its current position) to
 * base + path as content_type, with extra_header ("Name: value"; NULL:
 * none), calling on_chunk (may be NULL) with every piece read. Same
 * contract as ctl_api_call. */
int ctl_api_post_file(const char *path, const char *content_type, const char *extra_header,
                      FILE *fp, long long size, ctl_api_chunk_fn on_chunk, void *chunk_ctx,
                      ctl_api_answer *out) __attribute__((warn_unused_result));

/* GETs base + path and writes a 2xx answer's body to sink as it arrives
 * (an error answer is kept in out as by ctl_api_call). Returns 0 when the
 * whole answer came, -1 otherwise (out->err says why, out->status 0; a
 * failed write to sink says so). */
int ctl_api_get_to(const char *path, FILE *sink, ctl_api_answer *out)
    __attribute__((warn_unused_result));

/* GETs every page of the list at base + path (with or without a query,
 * but no limit or cursor in it), following next_cursor, page_limit
 * items a page, until max items (0: all) are in. Returns a new array of
 * the items (the caller's), or NULL when a request failed: then *fail
 * holds that answer (free it). */
json_t *ctl_api_list(const char *path, long long page_limit, long long max, ctl_api_answer *fail)
    __attribute__((warn_unused_result));

/* ctl_api_list(path, page_limit, max) for a verb (what): the items (the
 * caller's), or NULL after ctl_api_fail(what) told why on stderr, with
 * *rc its exit code. */
json_t *ctl_api_list_told(const char *what, const char *path, long long page_limit, long long max,
                          int *rc) __attribute__((warn_unused_result));

/* Prints items as a page of the API ({"items": [...], "next_cursor":
 * null}) on one line to stdout. Returns CTL_EXIT_OK. */
int ctl_api_print_items(const json_t *items);

/* The percent-encoding of s for a path segment (RFC 3986 unreserved bytes
 * kept), in a new string the caller frees, or NULL when out of memory. */
char *ctl_api_escape(const char *s) __attribute__((warn_unused_result));

/* Frees what a has and leaves it empty. Can't fail. */
void ctl_api_answer_destroy(ctl_api_answer *a);

/* Tells the user on stderr why a request (what) failed: curl's words when
 * no answer came, else the status with the problem's title and detail,
 * and for a 401 that ECM_API_KEY must hold a valid key. Returns the exit
 * code for it: CTL_EXIT_LOST without an answer, else CTL_EXIT_REFUSED. */
int ctl_api_fail(const char *what, const ctl_api_answer *a);

/* Prints the answer's JSON as the API sent it to stdout, followed by a
 * newline. Returns CTL_EXIT_OK. */
int ctl_api_print_raw(const ctl_api_answer *a);

#endif

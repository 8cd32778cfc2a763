/* ecmctl's HTTP client of the ECM REST API (libcurl): the API's base URL
 * and one request whose body is a file streamed from disk, with a progress
 * callback, and whose answer is read as JSON. One thread; no global state
 * but libcurl's (curl_global_init is main's). */
#ifndef CTL_API_H
#define CTL_API_H

#include <stdio.h>

#include <jansson.h>

#define CTL_API_URL_DEFAULT "http://127.0.0.1:7480"

/* The API base URL: ECM_URL, else CTL_API_URL_DEFAULT; no trailing
 * slash. Never NULL. */
const char *ctl_api_base(void);

/* Called as the body goes out: bytes sent of total (total 0: unknown). */
typedef void (*ctl_api_progress_fn)(void *ctx, long long sent, long long total);

/* What a request came back with. */
typedef struct {
    long status;    /* HTTP status; 0 when no answer came */
    json_t *body;   /* the answer parsed as JSON, or NULL; the caller's */
    char err[2400]; /* when status is 0: why (the URL, curl's words) */
} ctl_api_answer;

/* POSTs the open file fp (size bytes, read from its current position) to
 * base + path as content_type, calling progress (may be NULL) as it goes.
 * Fills *out; returns 0 when an answer came (any status), -1 otherwise
 * (out->err says why: connection refused, broken, ...). */
int ctl_api_post_file(const char *path, const char *content_type, FILE *fp, long long size,
                      ctl_api_progress_fn progress, void *progress_ctx, ctl_api_answer *out)
    __attribute__((warn_unused_result));

/* GETs base + path. Same contract as ctl_api_post_file. */
int ctl_api_get(const char *path, ctl_api_answer *out);

void ctl_api_answer_free(ctl_api_answer *a);

/* Prints an error answer (problem+json: title and detail; else the status)
 * to stream, prefixed with what. */
void ctl_api_print_problem(FILE *stream, const char *what, const ctl_api_answer *a);

#endif

/* The drop folder's client of the gateway's API (libcurl, one easy handle,
 * one thread): JSON GETs and a file streamed from disk as a POST body, with
 * an API key (Authorization: Bearer). */
#ifndef DBX_API_H
#define DBX_API_H

#include <jansson.h>

typedef struct dbx_api dbx_api;

/* An answer: status 0 when none came (error says why); body the JSON the
 * gateway sent (NULL when it was not JSON). */
typedef struct {
    long status;
    json_t *body;
    char error[256];
} dbx_api_answer;

/* A client of the gateway at base_url ("http://host:port", no trailing
 * path) with API key key (both copied). A transfer that moves no byte for
 * idle_timeout_s seconds is cut. NULL when out of memory. */
dbx_api *dbx_api_new(const char *base_url, const char *key, long idle_timeout_s)
    __attribute__((warn_unused_result));
void dbx_api_destroy(dbx_api *a); /* NULL: no-op */

/* Frees what an answer holds and zeroes it. Can't fail. */
void dbx_api_answer_clear(dbx_api_answer *ans);

/* GET path ("/api/v1/..."). Returns 0 when an answer came (any status), or
 * -1 (ans->error says why). Clear ans afterwards either way. */
int dbx_api_get(dbx_api *a, const char *path, dbx_api_answer *ans)
    __attribute__((warn_unused_result));

/* Called while a body streams, with the bytes sent so far; a non-zero
 * return cuts the transfer (the gateway then sees its client gone). */
typedef int (*dbx_api_progress_fn)(void *ctx, long long sent);

/* POST path with the size bytes of fd (read from its current offset) as
 * the body, Content-Type content_type, and the header "ECM-Upload-Ref: ref"
 * when ref is not NULL. progress (may be NULL) is called as it goes.
 * Returns 0 when an answer came, or -1 (cut, or no answer: ans->error).
 * *sent gets the body bytes sent. Clear ans afterwards either way. */
int dbx_api_post_file(dbx_api *a, const char *path, int fd, long long size,
                      const char *content_type, const char *ref, dbx_api_progress_fn progress,
                      void *ctx, long long *sent, dbx_api_answer *ans)
    __attribute__((warn_unused_result));

#endif

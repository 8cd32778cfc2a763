#include "dbx_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ecm_buf.h"

/* The most of an answer's body kept: a report with its first rows not
 * loaded is far below it. */
#define ANSWER_MAX (4u << 20)

struct dbx_api {
    CURL *curl;
    char *base;
    char *auth; /* "Authorization: Bearer <key>" */
    long idle_timeout_s;
};

dbx_api *dbx_api_new(const char *base_url, const char *key, long idle_timeout_s)
{
    dbx_api *a = calloc(1, sizeof(*a));
    if (!a) {
        return NULL;
    }
    size_t n = strlen(key) + 32;
    a->auth = malloc(n);
    a->base = strdup(base_url);
    a->curl = curl_easy_init();
    if (!a->auth || !a->base || !a->curl) {
        dbx_api_destroy(a);
        return NULL;
    }
    (void)snprintf(a->auth, n, "Authorization: Bearer %s", key);
    size_t len = strlen(a->base);
    while (len > 0 && a->base[len - 1] == '/') {
        a->base[--len] = '\0';
    }
    a->idle_timeout_s = idle_timeout_s;
    return a;
}

void dbx_api_destroy(dbx_api *a)
{
    if (!a) {
        return;
    }
    if (a->curl) {
        curl_easy_cleanup(a->curl);
    }
    if (a->auth) {
        /* The key is a secret: not left in freed memory. */
        memset(a->auth, 0, strlen(a->auth));
    }
    free(a->auth);
    free(a->base);
    free(a);
}

void dbx_api_answer_clear(dbx_api_answer *ans)
{
    json_decref(ans->body);
    memset(ans, 0, sizeof(*ans));
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    ecm_buf *b = ctx;
    return ecm_buf_add(b, data, size * n) == 0 ? size * n : 0;
}

typedef struct {
    int fd;
    long long left, sent;
    int read_error;
    dbx_api_progress_fn progress;
    void *ctx;
} body_src;

static size_t on_read(char *out, size_t size, size_t n, void *ctx)
{
    body_src *src = ctx;
    size_t want = size * n;
    if ((long long)want > src->left) {
        want = (size_t)src->left;
    }
    if (want == 0) {
        return 0;
    }
    ssize_t got;
    do {
        got = read(src->fd, out, want);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
        /* The file shrank or cannot be read: cut rather than send less
         * than the Content-Length promised. */
        src->read_error = got < 0 ? errno : EIO;
        return CURL_READFUNC_ABORT;
    }
    src->left -= got;
    src->sent += got;
    return (size_t)got;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    body_src *src = ctx;
    return src->progress ? src->progress(src->ctx, (long long)ulnow) : 0;
}

/* Runs the prepared request of a, answer into ans. Returns 0 or -1. */
static int perform(dbx_api *a, const char *path, struct curl_slist *headers, dbx_api_answer *ans)
{
    memset(ans, 0, sizeof(*ans));
    char url[2048];
    if (snprintf(url, sizeof(url), "%s%s", a->base, path) >= (int)sizeof(url)) {
        (void)snprintf(ans->error, sizeof(ans->error), "URL too long");
        return -1;
    }
    ecm_buf body;
    ecm_buf_init(&body, ANSWER_MAX);
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = a->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, a->idle_timeout_s);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        (void)snprintf(ans->error, sizeof(ans->error), "%s",
                       errbuf[0] ? errbuf : curl_easy_strerror(rc));
        ecm_buf_destroy(&body);
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ans->status);
    if (ecm_buf_len(&body) > 0) {
        ans->body = json_loadb(ecm_buf_ptr(&body), ecm_buf_len(&body), 0, NULL);
    }
    ecm_buf_destroy(&body);
    return 0;
}

int dbx_api_get(dbx_api *a, const char *path, dbx_api_answer *ans)
{
    struct curl_slist *h = curl_slist_append(NULL, a->auth);
    struct curl_slist *h2 = h ? curl_slist_append(h, "Accept: application/json") : NULL;
    if (!h2) {
        curl_slist_free_all(h);
        memset(ans, 0, sizeof(*ans));
        (void)snprintf(ans->error, sizeof(ans->error), "out of memory");
        return -1;
    }
    curl_easy_reset(a->curl);
    curl_easy_setopt(a->curl, CURLOPT_HTTPGET, 1L);
    int rc = perform(a, path, h2, ans);
    curl_slist_free_all(h2);
    return rc;
}

int dbx_api_post_file(dbx_api *a, const char *path, int fd, long long size,
                      const char *content_type, const char *ref, dbx_api_progress_fn progress,
                      void *ctx, long long *sent, dbx_api_answer *ans)
{
    char ct[160], ref_header[128];
    (void)snprintf(ct, sizeof(ct), "Content-Type: %s", content_type); /* trunc-ok: a literal */
    struct curl_slist *h = curl_slist_append(NULL, a->auth);
    h = h ? curl_slist_append(h, ct) : NULL;
    h = h ? curl_slist_append(h, "Accept: application/json") : NULL;
    if (h && ref) {
        if (snprintf(ref_header, sizeof(ref_header), "ECM-Upload-Ref: %s", ref) >=
            (int)sizeof(ref_header)) {
            curl_slist_free_all(h);
            h = NULL;
        } else {
            h = curl_slist_append(h, ref_header);
        }
    }
    *sent = 0;
    if (!h) {
        memset(ans, 0, sizeof(*ans));
        (void)snprintf(ans->error, sizeof(ans->error), "out of memory");
        return -1;
    }
    body_src src = {.fd = fd, .left = size, .progress = progress, .ctx = ctx};
    CURL *c = a->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &src);
    int rc = perform(a, path, h, ans);
    curl_slist_free_all(h);
    *sent = src.sent;
    if (rc != 0 && src.read_error) {
        char text[128];
        if (strerror_r(src.read_error, text, sizeof(text)) != 0) {
            (void)snprintf(text, sizeof(text), "error %d", src.read_error);
        }
        (void)snprintf(ans->error, sizeof(ans->error), "reading the file: %s", text);
    }
    return rc;
}

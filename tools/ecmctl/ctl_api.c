#include "ctl_api.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ecm_buf.h"

/* An answer's body is grown as it comes; answers are small (a report page
 * is at most a thousand rows), this bounds one gone wrong. */
#define ANSWER_MAX (64u << 20)

typedef struct {
    ctl_api_progress_fn fn;
    void *ctx;
} progress;

const char *ctl_api_base(void)
{
    static char base[1024];
    const char *env = getenv("ECM_URL");
    (void)snprintf(base, sizeof(base), "%s", env && *env ? env : CTL_API_URL_DEFAULT);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        base[--n] = '\0';
    }
    return base;
}

static size_t on_body(char *data, size_t size, size_t n, void *vctx)
{
    ecm_buf *b = vctx;
    size_t k = size * n;
    return ecm_buf_add(b, data, k) == 0 ? k : 0;
}

static size_t on_read(char *buf, size_t size, size_t n, void *vctx)
{
    FILE *fp = vctx;
    size_t k = fread(buf, 1, size * n, fp);
    if (k == 0 && ferror(fp)) {
        return CURL_READFUNC_ABORT;
    }
    return k;
}

static int on_progress(void *vctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    progress *p = vctx;
    p->fn(p->ctx, (long long)ulnow, (long long)ultotal);
    return 0;
}

/* hdrs with "Authorization: Bearer $ECM_API_KEY" added when that is set
 * (appended to hdrs, or a new list when hdrs is NULL); NULL when out of
 * memory. */
static struct curl_slist *with_auth(struct curl_slist *hdrs)
{
    const char *key = getenv("ECM_API_KEY");
    if (!key || !*key) {
        return hdrs;
    }
    char line[512];
    if (snprintf(line, sizeof(line), "Authorization: Bearer %s", key) >= (int)sizeof(line)) {
        return hdrs; /* no key is that long: the API answers 401 */
    }
    return curl_slist_append(hdrs, line);
}

/* Performs c (its URL set from path) and fills out. */
static int perform(CURL *c, const char *path, struct curl_slist *hdrs, ctl_api_answer *out)
{
    memset(out, 0, sizeof(*out));
    struct curl_slist *sent = with_auth(hdrs);
    char url[2048];
    int n = snprintf(url, sizeof(url), "%s%s", ctl_api_base(), path);
    if (n < 0 || (size_t)n >= sizeof(url)) {
        (void)snprintf(out->err, sizeof(out->err), "the URL is longer than %zu bytes",
                       sizeof(url) - 1);
        return -1;
    }
    ecm_buf s;
    ecm_buf_init(&s, ANSWER_MAX);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, sent);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (!hdrs && sent) {
        curl_slist_free_all(sent);
    }
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        out->body = ecm_buf_len(&s) ? json_loads(ecm_buf_ptr(&s), 0, NULL) : NULL;
    } else {
        (void)snprintf(out->err, sizeof(out->err), "%s: %s", url, curl_easy_strerror(rc));
    }
    ecm_buf_free(&s);
    return rc == CURLE_OK ? 0 : -1;
}

int ctl_api_post_file(const char *path, const char *content_type, FILE *fp, long long size,
                      ctl_api_progress_fn progress_fn, void *progress_ctx, ctl_api_answer *out)
{
    CURL *c = curl_easy_init();
    if (!c) {
        memset(out, 0, sizeof(*out));
        (void)snprintf(out->err, sizeof(out->err), "out of memory");
        return -1;
    }
    char ct[160];
    (void)snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    struct curl_slist *hdrs = curl_slist_append(NULL, ct);
    hdrs = curl_slist_append(hdrs, "Expect:");
    progress p = {progress_fn, progress_ctx};
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, fp);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    if (progress_fn) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &p);
    }
    int rc = perform(c, path, hdrs, out);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

int ctl_api_get(const char *path, ctl_api_answer *out)
{
    CURL *c = curl_easy_init();
    if (!c) {
        memset(out, 0, sizeof(*out));
        (void)snprintf(out->err, sizeof(out->err), "out of memory");
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    int rc = perform(c, path, NULL, out);
    curl_easy_cleanup(c);
    return rc;
}

void ctl_api_answer_free(ctl_api_answer *a)
{
    json_decref(a->body);
    a->body = NULL;
}

void ctl_api_print_problem(FILE *stream, const char *what, const ctl_api_answer *a)
{
    if (a->status == 0) {
        fprintf(stream, "ecmctl: %s: %s\n", what, a->err);
        return;
    }
    const char *title = json_string_value(json_object_get(a->body, "title"));
    const char *detail = json_string_value(json_object_get(a->body, "detail"));
    fprintf(stream, "ecmctl: %s: HTTP %ld%s%s%s%s\n", what, a->status, title ? " " : "",
            title ? title : "", detail ? ": " : "", detail ? detail : "");
}

#include "ctl_api.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl_cli.h"
#include "ecm_buf.h"

/* An answer's body is at most this big when kept in memory (the API's
 * JSON answers are far smaller; exports are streamed, not kept). */
#define ANSWER_MAX (64u << 20)

/* A request body read from a file. */
typedef struct {
    FILE *fp;
    ctl_api_chunk_fn fn;
    void *ctx;
} source;

/* Where ctl_api_get_to sends the body: to out when the status is 2xx,
 * else kept in err (the problem). */
typedef struct {
    CURL *c;
    FILE *out;
    ecm_buf err;
    int write_failed;
} tee;

const char *ctl_api_base(void)
{
    static char base[1024];
    const char *env = getenv("ECM_URL");
    /* trunc-ok: a cut URL fails to connect, and says which URL */
    (void)snprintf(base, sizeof(base), "%s", env && *env ? env : CTL_API_URL_DEFAULT);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        base[--n] = '\0';
    }
    return base;
}

/* curl write callback: keeps the body in the buffer; 0 (abort) past
 * ANSWER_MAX or out of memory. */
static size_t on_body(char *data, size_t size, size_t n, void *vctx)
{
    return ecm_buf_add(vctx, data, size * n) == 0 ? size * n : 0;
}

/* curl write callback: a 2xx body goes to the tee's file, any other is
 * kept (the problem); 0 (abort) when the file cannot be written. */
static size_t on_tee(char *data, size_t size, size_t n, void *vctx)
{
    tee *t = vctx;
    size_t k = size * n;
    long status = 0;
    curl_easy_getinfo(t->c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        return ecm_buf_add(&t->err, data, k) == 0 ? k : 0;
    }
    if (fwrite(data, 1, k, t->out) != k) {
        t->write_failed = 1;
        return 0;
    }
    return k;
}

/* curl read callback: the next piece of the file, shown to the chunk
 * function first; aborts on a read error. */
static size_t on_read(char *buf, size_t size, size_t n, void *vctx)
{
    source *src = vctx;
    size_t k = fread(buf, 1, size * n, src->fp);
    if (k == 0 && ferror(src->fp)) {
        return CURL_READFUNC_ABORT;
    }
    if (k > 0 && src->fn) {
        src->fn(src->ctx, buf, k);
    }
    return k;
}

/* hdrs with "Authorization: Bearer $ECM_API_KEY" appended when that is
 * set; NULL (hdrs freed) when out of memory. */
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
    struct curl_slist *more = curl_slist_append(hdrs, line);
    if (!more) {
        curl_slist_free_all(hdrs);
    }
    return more;
}

/* Performs c with its URL base + path, the headers hdrs (taken: freed
 * here) and the body written by write_fn to write_ctx (NULL: kept in
 * out). Fills *out; returns 0 when an answer came, else -1. */
static int perform(CURL *c, const char *path, struct curl_slist *hdrs, curl_write_callback write_fn,
                   void *write_ctx, ctl_api_answer *out)
{
    memset(out, 0, sizeof(*out));
    char url[2048];
    int n = snprintf(url, sizeof(url), "%s%s", ctl_api_base(), path);
    if (n < 0 || (size_t)n >= sizeof(url)) {
        curl_slist_free_all(hdrs);
        (void)snprintf(out->err, sizeof(out->err), "the URL is longer than %zu bytes",
                       sizeof(url) - 1);
        return -1;
    }
    hdrs = with_auth(hdrs);
    ecm_buf s;
    ecm_buf_init(&s, ANSWER_MAX);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_fn ? write_fn : on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, write_fn ? write_ctx : &s);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        out->raw_len = ecm_buf_len(&s);
        out->raw = ecm_buf_take(&s);
        out->body = out->raw && out->raw_len ? json_loadb(out->raw, out->raw_len, 0, NULL) : NULL;
        return 0;
    }
    ecm_buf_destroy(&s);
    (void)snprintf(out->err, sizeof(out->err), "%s: %s", url, curl_easy_strerror(rc));
    return -1;
}

/* Fills out for a request that could not be made (out of memory).
 * Returns -1. */
static int no_handle(ctl_api_answer *out)
{
    memset(out, 0, sizeof(*out));
    (void)snprintf(out->err, sizeof(out->err), "out of memory");
    return -1;
}

int ctl_api_call(const char *method, const char *path, const json_t *body, ctl_api_answer *out)
{
    CURL *c = curl_easy_init();
    if (!c) {
        return no_handle(out);
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *hdrs = NULL;
    if (text) {
        hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    }
    if (body && (!text || !hdrs)) {
        free(text);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        return no_handle(out);
    }
    if (!body && strcmp(method, "POST") == 0) {
        /* An empty POST body, with no form Content-Type curl would add. */
        hdrs = curl_slist_append(NULL, "Content-Type:");
        if (!hdrs) {
            curl_easy_cleanup(c);
            return no_handle(out);
        }
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    int rc = perform(c, path, hdrs, NULL, NULL, out);
    free(text);
    curl_easy_cleanup(c);
    return rc;
}

int ctl_api_get(const char *path, ctl_api_answer *out)
{
    return ctl_api_call("GET", path, NULL, out);
}

int ctl_api_post_file(const char *path, const char *content_type, const char *extra_header,
                      FILE *fp, long long size, ctl_api_chunk_fn on_chunk, void *chunk_ctx,
                      ctl_api_answer *out)
{
    CURL *c = curl_easy_init();
    if (!c) {
        return no_handle(out);
    }
    char ct[160];
    if (snprintf(ct, sizeof(ct), "Content-Type: %s", content_type) >= (int)sizeof(ct)) {
        curl_easy_cleanup(c);
        memset(out, 0, sizeof(*out));
        (void)snprintf(out->err, sizeof(out->err), "the content type is too long");
        return -1;
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, ct);
    struct curl_slist *more = hdrs ? curl_slist_append(hdrs, "Expect:") : NULL;
    if (more && extra_header) {
        more = curl_slist_append(more, extra_header);
    }
    if (!more) {
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        return no_handle(out);
    }
    source src = {fp, on_chunk, chunk_ctx};
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    int rc = perform(c, path, more, NULL, NULL, out);
    curl_easy_cleanup(c);
    return rc;
}

int ctl_api_get_to(const char *path, FILE *sink_fp, ctl_api_answer *out)
{
    CURL *c = curl_easy_init();
    if (!c) {
        return no_handle(out);
    }
    tee t = {.c = c, .out = sink_fp};
    ecm_buf_init(&t.err, ANSWER_MAX);
    int rc = perform(c, path, NULL, on_tee, &t, out);
    curl_easy_cleanup(c);
    if (rc == 0) {
        free(out->raw); /* perform's own, empty: the body went to the tee */
        out->raw_len = ecm_buf_len(&t.err);
        out->raw = ecm_buf_take(&t.err);
        out->body = out->raw && out->raw_len ? json_loadb(out->raw, out->raw_len, 0, NULL) : NULL;
        return 0;
    }
    ecm_buf_destroy(&t.err);
    if (t.write_failed) {
        (void)snprintf(out->err, sizeof(out->err), "could not write the answer out");
    }
    return -1;
}

json_t *ctl_api_list(const char *path, long long page_limit, long long max, ctl_api_answer *fail)
{
    json_t *all = json_array();
    char cursor[64] = "";
    memset(fail, 0, sizeof(*fail));
    do {
        long long want = max > 0 ? max - (long long)json_array_size(all) : page_limit;
        char page[1200];
        if (snprintf(page, sizeof(page), "%s%climit=%lld%s%s", path, strchr(path, '?') ? '&' : '?',
                     want < page_limit ? want : page_limit, cursor[0] ? "&cursor=" : "",
                     cursor) >= (int)sizeof(page)) {
            (void)snprintf(fail->err, sizeof(fail->err), "the path is too long");
            json_decref(all);
            return NULL;
        }
        ctl_api_answer a;
        if (ctl_api_get(page, &a) != 0 || a.status != 200) {
            *fail = a;
            json_decref(all);
            return NULL;
        }
        json_array_extend(all, json_object_get(a.body, "items"));
        const char *next = json_string_value(json_object_get(a.body, "next_cursor"));
        if (!next || strlen(next) >= sizeof(cursor) ||
            (max > 0 && (long long)json_array_size(all) >= max)) {
            cursor[0] = '\0';
        } else {
            memcpy(cursor, next, strlen(next) + 1);
        }
        ctl_api_answer_destroy(&a);
    } while (cursor[0]);
    return all;
}

json_t *ctl_api_list_told(const char *what, const char *path, long long page_limit, long long max,
                          int *rc)
{
    ctl_api_answer fail;
    json_t *items = ctl_api_list(path, page_limit, max, &fail);
    if (!items) {
        *rc = ctl_api_fail(what, &fail);
        ctl_api_answer_destroy(&fail);
    }
    return items;
}

int ctl_api_print_items(const json_t *items)
{
    json_t *page = json_pack("{sO sn}", "items", items, "next_cursor");
    char *text = page ? json_dumps(page, JSON_COMPACT) : NULL;
    printf("%s\n", text ? text : "");
    free(text);
    json_decref(page);
    return CTL_EXIT_OK;
}

char *ctl_api_escape(const char *s)
{
    CURL *c = curl_easy_init();
    if (!c) {
        return NULL;
    }
    char *e = curl_easy_escape(c, s, 0);
    char *copy = e ? strdup(e) : NULL;
    curl_free(e);
    curl_easy_cleanup(c);
    return copy;
}

void ctl_api_answer_destroy(ctl_api_answer *a)
{
    json_decref(a->body);
    free(a->raw);
    a->body = NULL;
    a->raw = NULL;
    a->raw_len = 0;
}

int ctl_api_expect(const char *what, const char *method, const char *path, const json_t *body,
                   long want, long want_too, ctl_api_answer *out)
{
    if (ctl_api_call(method, path, body, out) != 0 ||
        (out->status != want && (want_too == 0 || out->status != want_too))) {
        return ctl_api_fail(what, out);
    }
    return CTL_EXIT_OK;
}

int ctl_api_fail(const char *what, const ctl_api_answer *a)
{
    if (a->status == 0) {
        fprintf(stderr, "ecmctl: %s: %s\n", what, a->err);
        return CTL_EXIT_LOST;
    }
    const char *title = json_string_value(json_object_get(a->body, "title"));
    const char *detail = json_string_value(json_object_get(a->body, "detail"));
    fprintf(stderr, "ecmctl: %s: HTTP %ld%s%s%s%s\n", what, a->status, title ? " " : "",
            title ? title : "", detail ? ": " : "", detail ? detail : "");
    if (a->status == 401) {
        const char *key = getenv("ECM_API_KEY");
        fprintf(stderr, "ecmctl: %s\n",
                key && *key ? "the key in ECM_API_KEY is not valid (wrong, expired or revoked): "
                              "set ECM_API_KEY to a valid key"
                            : "set ECM_API_KEY to an API key");
    }
    return CTL_EXIT_REFUSED;
}

int ctl_api_print_raw(const ctl_api_answer *a)
{
    if (a->raw_len) {
        fwrite(a->raw, 1, a->raw_len, stdout);
        if (a->raw[a->raw_len - 1] != '\n') {
            fputc('\n', stdout);
        }
    }
    return CTL_EXIT_OK;
}

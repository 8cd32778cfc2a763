#include "sms_gw.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ecm_buf.h"
#include "ecm_log.h"
#include "ecm_utf8.h"
#include "sms_auth.h"

/* Answers are short ("0: Accepted for delivery", a small JSON object);
 * more is read and dropped. */
#define ANSWER_MAX 4096
#define CONNECT_TIMEOUT_MAX_MS 5000L

/* ---- appending to an ecm_buf ---- */

/* The builders below append without looking: a failure sticks in the buffer
 * and ecm_buf_take() at the end reports it as NULL. */
static void sb_put(ecm_buf *b, const char *s, size_t n)
{
    if (ecm_buf_add(b, s, n) != 0)
        return;
}

static void sb_puts(ecm_buf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

#define BODY_MAX (256 * 1024)

static void sb_urlencode(ecm_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            sb_put(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sb_put(b, e, 3);
        }
    }
}

static void sb_json_escape(ecm_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        switch (*p) {
        case '"':
            sb_put(b, "\\\"", 2);
            break;
        case '\\':
            sb_put(b, "\\\\", 2);
            break;
        case '\n':
            sb_put(b, "\\n", 2);
            break;
        case '\r':
            sb_put(b, "\\r", 2);
            break;
        case '\t':
            sb_put(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20) {
                snprintf(e, sizeof e, "\\u%04x", *p);
                sb_put(b, e, 6);
            } else {
                sb_put(b, (const char *)p, 1);
            }
        }
    }
}

char *sms_gw_urlencode(const char *s)
{
    ecm_buf b;
    ecm_buf_init(&b, BODY_MAX);
    sb_urlencode(&b, s);
    return ecm_buf_take(&b);
}

char *sms_gw_dlr_url(const char *callback_base_url, const char *callback_secret,
                     const char *message_id)
{
    char token[SMS_AUTH_TOKEN_LEN + 1];
    if (sms_auth_token(callback_secret, message_id, token, sizeof token) != 0)
        return NULL;
    ecm_buf b;
    ecm_buf_init(&b, BODY_MAX);
    size_t n = strlen(callback_base_url);
    while (n > 0 && callback_base_url[n - 1] == '/')
        n--;
    sb_put(&b, callback_base_url, n);
    sb_puts(&b, "/sms/dlr?msgid=");
    sb_urlencode(&b, message_id);
    sb_puts(&b, "&token=");
    sb_puts(&b, token);
    sb_puts(&b, "&status=%d");
    return ecm_buf_take(&b);
}

static void sb_param(ecm_buf *b, const char *name, const char *value)
{
    sb_puts(b, "&");
    sb_puts(b, name);
    sb_puts(b, "=");
    sb_urlencode(b, value);
}

char *sms_gw_kannel_url(const sms_gw_config *cfg, const sms_gw_msg *m)
{
    char *dlr = sms_gw_dlr_url(cfg->callback_base_url, cfg->callback_secret, m->message_id);
    if (!dlr)
        return NULL;
    ecm_buf b;
    ecm_buf_init(&b, BODY_MAX);
    sb_puts(&b, cfg->url);
    sb_puts(&b, strchr(cfg->url, '?') ? "&" : "?");
    sb_puts(&b, "username=");
    sb_urlencode(&b, cfg->user ? cfg->user : "");
    sb_param(&b, "password", cfg->password ? cfg->password : "");
    if (m->from && m->from[0])
        sb_param(&b, "from", m->from);
    sb_param(&b, "to", m->to);
    sb_param(&b, "text", m->text);
    /* Kannel converts from charset to GSM-7 or UCS-2 as coding says. */
    sb_param(&b, "coding", m->encoding == ECM_SMS_UCS2 ? "2" : "0");
    sb_param(&b, "charset", "UTF-8");
    sb_param(&b, "dlr-mask", "31");
    sb_param(&b, "dlr-url", dlr);
    free(dlr);
    return ecm_buf_take(&b);
}

static const char *body_value(const sms_gw_msg *m, const char *dlr_url, const char *name,
                              size_t len)
{
    struct {
        const char *name;
        const char *value;
    } vars[] = {
        {"message_id", m->message_id},
        {"to", m->to},
        {"from", m->from ? m->from : ""},
        {"text", m->text},
        {"dlr_url", dlr_url},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
            return vars[i].value ? vars[i].value : "";
    }
    return NULL;
}

char *sms_gw_http_body(const char *body_template, const sms_gw_msg *m, const char *dlr_url,
                       char *errstr, size_t errstr_size)
{
    ecm_buf b;
    ecm_buf_init(&b, BODY_MAX);
    const char *p = body_template;
    while (*p) {
        const char *open = strchr(p, '{');
        if (!open) {
            sb_puts(&b, p);
            break;
        }
        sb_put(&b, p, (size_t)(open - p));
        const char *q = open + 1;
        while (isalnum((unsigned char)*q) || *q == '_')
            q++;
        if (*q != '}' || q == open + 1) {
            sb_put(&b, "{", 1); /* JSON's own brace */
            p = open + 1;
            continue;
        }
        const char *v = body_value(m, dlr_url, open + 1, (size_t)(q - open - 1));
        if (!v) {
            snprintf(errstr, errstr_size, "unknown placeholder '%.*s' in the body template",
                     (int)(q - open + 1), open);
            ecm_buf_destroy(&b);
            return NULL;
        }
        sb_json_escape(&b, v);
        p = q + 1;
    }
    char *s = ecm_buf_take(&b);
    if (!s)
        snprintf(errstr, errstr_size, "body too long or out of memory");
    return s;
}

/* ---- classification ---- */

/* The gateway's answer as one line of valid UTF-8 (it travels in events
 * and logs), cut at a character boundary to fit. */
static void copy_detail(char *out, size_t out_size, const char *s)
{
    if (out_size == 0)
        return;
    size_t k = ecm_utf8_copy(out, out_size, s ? s : "", s ? strlen(s) : 0);
    for (size_t i = 0; i < k; i++)
        if (out[i] == '\n' || out[i] == '\r' || out[i] == '\t')
            out[i] = ' ';
    while (k > 0 && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

static void json_ref(const char *body, char *out, size_t out_size)
{
    if (!body || body[0] != '{')
        return;
    json_t *j = json_loads(body, 0, NULL);
    if (!j)
        return;
    static const char *const keys[] = {"id", "message_id", "messageId", "ref"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(j, keys[i]);
        if (json_is_string(v)) {
            snprintf(out, out_size, "%s", json_string_value(v));
            break;
        }
        if (json_is_integer(v)) {
            snprintf(out, out_size, "%lld", (long long)json_integer_value(v));
            break;
        }
    }
    json_decref(j);
}

void sms_gw_classify(sms_gw_kind kind, int curl_code, long http_status, const char *body,
                     sms_gw_result *out)
{
    memset(out, 0, sizeof *out);
    out->http_status = http_status;
    copy_detail(out->detail, sizeof out->detail, body);
    if (curl_code != CURLE_OK) {
        out->verdict = SMS_GW_RETRY;
        out->http_status = 0;
        switch ((CURLcode)curl_code) {
        case CURLE_OPERATION_TIMEDOUT:
            out->reason = "timeout";
            break;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
            out->reason = "connect";
            break;
        default:
            out->reason = "network";
        }
        copy_detail(out->detail, sizeof out->detail, curl_easy_strerror((CURLcode)curl_code));
        return;
    }
    if (http_status >= 200 && http_status < 300) {
        out->verdict = SMS_GW_ACCEPTED;
        if (kind == SMS_GW_HTTP)
            json_ref(body, out->gateway_ref, sizeof out->gateway_ref);
        return;
    }
    out->verdict = SMS_GW_RETRY;
    /* Bad credentials are the deployment's fault, not the message's: retry
     * (with backoff) until someone fixes them, rather than reject every
     * contact of the campaign. Kannel says so with 403. */
    if (http_status == 401 || http_status == 407 ||
        (kind == SMS_GW_KANNEL && http_status == 403 && body &&
         strstr(body, "Authorization failed") != NULL)) {
        out->reason = "auth";
    } else if (http_status == 408 || http_status == 429) {
        out->reason = "throttled";
    } else if (http_status >= 500) {
        out->reason = "unavailable";
    } else if (http_status >= 400) {
        out->verdict = SMS_GW_REJECTED;
        out->reason = NULL;
    } else {
        out->reason = "http"; /* 1xx/3xx: not a gateway answer we know */
    }
}

/* ---- the multi engine ---- */

typedef struct xfer {
    struct xfer *prev, *next; /* the gateway's requests in flight */
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    ecm_buf answer;
    void *opaque;
    char errbuf[CURL_ERROR_SIZE];
} xfer;

struct sms_gw {
    sms_gw_config cfg; /* strings owned */
    CURLM *multi;
    sms_gw_done_fn done;
    void *done_ctx;
    int inflight;
    xfer *active;
};

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static void free_cfg(sms_gw_config *c)
{
    free((char *)c->name);
    free((char *)c->url);
    free((char *)c->user);
    free((char *)c->password);
    free((char *)c->method);
    free((char *)c->body_template);
    free((char *)c->auth);
    free((char *)c->callback_base_url);
    if (c->callback_secret) {
        memset((char *)c->callback_secret, 0, strlen(c->callback_secret));
        free((char *)c->callback_secret);
    }
}

sms_gw *sms_gw_new(const sms_gw_config *cfg, sms_gw_done_fn done, void *done_ctx)
{
    if (!cfg->url || !cfg->url[0] || cfg->concurrency < 1 || cfg->timeout_ms < 1 ||
        !cfg->callback_secret || !cfg->callback_secret[0]) {
        ecm_log_error("SMS gateway misconfigured", "gateway=%s", cfg->name ? cfg->name : "?");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ecm_log_error("libcurl initialisation failed", NULL);
        return NULL;
    }
    sms_gw *gw = calloc(1, sizeof *gw);
    if (!gw)
        return NULL;
    gw->cfg = *cfg;
    gw->cfg.name = dup_or_empty(cfg->name);
    gw->cfg.url = dup_or_empty(cfg->url);
    gw->cfg.user = dup_or_empty(cfg->user);
    gw->cfg.password = dup_or_empty(cfg->password);
    gw->cfg.method = dup_or_empty(cfg->method && cfg->method[0] ? cfg->method : "POST");
    gw->cfg.body_template = dup_or_empty(cfg->body_template);
    gw->cfg.auth = dup_or_empty(cfg->auth);
    gw->cfg.callback_base_url = dup_or_empty(cfg->callback_base_url);
    gw->cfg.callback_secret = dup_or_empty(cfg->callback_secret);
    gw->done = done;
    gw->done_ctx = done_ctx;
    gw->multi = curl_multi_init();
    if (!gw->multi || !gw->cfg.name || !gw->cfg.url || !gw->cfg.user || !gw->cfg.password ||
        !gw->cfg.method || !gw->cfg.body_template || !gw->cfg.auth || !gw->cfg.callback_base_url ||
        !gw->cfg.callback_secret) {
        sms_gw_destroy(gw);
        return NULL;
    }
    /* Keep-alive: the multi's connection cache holds one connection per
     * request slot, so steady sending never reconnects. */
    curl_multi_setopt(gw->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cfg->concurrency);
    curl_multi_setopt(gw->multi, CURLMOPT_MAXCONNECTS, (long)cfg->concurrency);
    return gw;
}

static void xfer_destroy(xfer *x)
{
    if (!x)
        return;
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->url);
    free(x->body);
    ecm_buf_destroy(&x->answer);
    free(x);
}

void sms_gw_destroy(sms_gw *gw)
{
    if (!gw)
        return;
    while (gw->active) {
        xfer *x = gw->active;
        gw->active = x->next;
        curl_multi_remove_handle(gw->multi, x->easy);
        xfer_destroy(x);
    }
    if (gw->multi)
        curl_multi_cleanup(gw->multi);
    free_cfg(&gw->cfg);
    free(gw);
}

const char *sms_gw_name(const sms_gw *gw)
{
    return gw->cfg.name;
}

int sms_gw_inflight(const sms_gw *gw)
{
    return gw->inflight;
}

int sms_gw_room(const sms_gw *gw)
{
    int room = gw->cfg.concurrency - gw->inflight;
    return room > 0 ? room : 0;
}

static size_t on_answer(char *data, size_t size, size_t nmemb, void *userdata)
{
    xfer *x = userdata;
    size_t n = size * nmemb;
    if (ecm_buf_len(&x->answer) + n + 1 <= ANSWER_MAX)
        sb_put(&x->answer, data, n);
    return n;
}

static int build_http(sms_gw *gw, const sms_gw_msg *m, xfer *x)
{
    char *dlr = sms_gw_dlr_url(gw->cfg.callback_base_url, gw->cfg.callback_secret, m->message_id);
    if (!dlr)
        return -1;
    char errstr[200];
    x->body = sms_gw_http_body(gw->cfg.body_template, m, dlr, errstr, sizeof errstr);
    free(dlr);
    if (!x->body) {
        ecm_log_error("could not build the gateway request body", "gateway=%s reason=%s",
                      gw->cfg.name, errstr);
        return -1;
    }
    x->url = strdup(gw->cfg.url);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    x->headers = h;
    h = h ? curl_slist_append(h, "Accept: application/json") : NULL;
    h = h ? curl_slist_append(h, "Expect:") : NULL;
    if (h && gw->cfg.auth[0]) {
        ecm_buf a;
        ecm_buf_init(&a, 8192);
        sb_puts(&a, "Authorization: ");
        sb_puts(&a, gw->cfg.auth);
        char *line = ecm_buf_take(&a);
        h = line ? curl_slist_append(h, line) : NULL;
        free(line);
    }
    if (!h || !x->url)
        return -1;
    curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, gw->cfg.method);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(x->body));
    return 0;
}

int sms_gw_submit(sms_gw *gw, const sms_gw_msg *m, void *opaque)
{
    if (sms_gw_room(gw) <= 0)
        return -1;
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    ecm_buf_init(&x->answer, ANSWER_MAX);
    x->opaque = opaque;
    x->easy = curl_easy_init();
    if (!x->easy)
        goto fail;
    if (gw->cfg.kind == SMS_GW_KANNEL) {
        x->url = sms_gw_kannel_url(&gw->cfg, m);
        if (!x->url)
            goto fail;
        curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
        curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
    } else if (build_http(gw, m, x) < 0) {
        goto fail;
    }
    long connect_ms =
        gw->cfg.timeout_ms < CONNECT_TIMEOUT_MAX_MS ? gw->cfg.timeout_ms : CONNECT_TIMEOUT_MAX_MS;
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, gw->cfg.timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
    if (curl_multi_add_handle(gw->multi, x->easy) != CURLM_OK)
        goto fail;
    gw->inflight++;
    x->next = gw->active;
    if (gw->active)
        gw->active->prev = x;
    gw->active = x;
    return 0;
fail:
    ecm_log_error("could not start a gateway request", "gateway=%s message_id=%s", gw->cfg.name,
                  m->message_id);
    xfer_destroy(x);
    return -1;
}

static int collect(sms_gw *gw)
{
    int finished = 0;
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(gw->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(gw->multi, easy);
        gw->inflight--;
        if (x->prev)
            x->prev->next = x->next;
        else
            gw->active = x->next;
        if (x->next)
            x->next->prev = x->prev;
        sms_gw_result res;
        sms_gw_classify(gw->cfg.kind, (int)code, status, ecm_buf_ptr(&x->answer), &res);
        if (code != CURLE_OK && x->errbuf[0])
            copy_detail(res.detail, sizeof res.detail, x->errbuf);
        void *opaque = x->opaque;
        xfer_destroy(x);
        finished++;
        if (gw->done)
            gw->done(gw->done_ctx, opaque, &res);
    }
    return finished;
}

/* Drives the transfers and collects the finished ones; when none has
 * finished, waits up to timeout_ms on the transfers and the nextra
 * descriptors of extra (with none of either, doesn't wait). */
static int poll_with(sms_gw *gw, struct curl_waitfd *extra, unsigned nextra, int timeout_ms)
{
    int running = 0;
    curl_multi_perform(gw->multi, &running);
    int finished = collect(gw);
    if (finished == 0 && (gw->inflight > 0 || nextra > 0) && timeout_ms > 0) {
        curl_multi_poll(gw->multi, extra, nextra, timeout_ms, NULL);
        curl_multi_perform(gw->multi, &running);
        finished = collect(gw);
    }
    return finished;
}

int sms_gw_poll(sms_gw *gw, int timeout_ms)
{
    return poll_with(gw, NULL, 0, timeout_ms);
}

int sms_gw_poll_fd(sms_gw *gw, int fd, int timeout_ms)
{
    struct curl_waitfd w = {.fd = fd, .events = CURL_WAIT_POLLIN, .revents = 0};
    return poll_with(gw, fd >= 0 ? &w : NULL, fd >= 0 ? 1 : 0, timeout_ms);
}

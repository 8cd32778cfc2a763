#include "smssim_dlr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "ecm_log.h"

#define SMSSIM_URL_MAX 8192

typedef struct {
    int64_t due_ms;
    int attempts;
    char *url;
} dlr_item;

struct smssim_dlr {
    smssim_dlr_config cfg;
    smssim_state *state;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    dlr_item *heap; /* min-heap on due_ms */
    size_t n, cap;
    size_t in_flight;
    int stop;
    pthread_t *threads;
    int started;
    ecm_metric *m_sent, *m_failed, *m_retried;
};

/* ------------------------------------------------------------ URL filling */

typedef struct {
    char buf[SMSSIM_URL_MAX];
    size_t len;
    int overflow;
} url_buf;

static void url_put(url_buf *b, const char *s, size_t n)
{
    if (b->overflow || b->len + n >= sizeof b->buf) {
        b->overflow = 1;
        return;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

static void url_put_encoded(url_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            url_put(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            url_put(b, e, 3);
        }
    }
}

char *smssim_url_fill(const char *tmpl, const smssim_url_vals *v)
{
    url_buf *b = calloc(1, sizeof *b);
    if (!b) {
        return NULL;
    }
    for (const char *p = tmpl; *p; p++) {
        if (*p != '%' || !p[1]) {
            url_put(b, p, 1);
            continue;
        }
        char num[16];
        switch (p[1]) {
        case 'd':
            if (v->status >= 0) {
                int k = snprintf(num, sizeof num, "%d", v->status);
                url_put(b, num, (size_t)k);
            }
            break;
        case 'p':
            url_put_encoded(b, v->from);
            break;
        case 'P':
            url_put_encoded(b, v->to);
            break;
        case 'a':
            url_put_encoded(b, v->text);
            break;
        case 'i':
            url_put_encoded(b, v->id);
            break;
        case '%':
            url_put(b, "%", 1);
            break;
        default:
            url_put(b, p, 2);
            break;
        }
        p++;
    }
    char *out = NULL;
    if (!b->overflow) {
        out = malloc(b->len + 1);
        if (out) {
            memcpy(out, b->buf, b->len);
            out[b->len] = '\0';
        }
    }
    free(b);
    return out;
}

/* ------------------------------------------------------------ the heap */

static void heap_swap(dlr_item *a, dlr_item *b)
{
    dlr_item t = *a;
    *a = *b;
    *b = t;
}

/* Caller holds mu and has made room. */
static void heap_push(smssim_dlr *d, dlr_item it)
{
    size_t i = d->n++;
    d->heap[i] = it;
    while (i > 0 && d->heap[(i - 1) / 2].due_ms > d->heap[i].due_ms) {
        heap_swap(&d->heap[(i - 1) / 2], &d->heap[i]);
        i = (i - 1) / 2;
    }
}

/* Caller holds mu; n > 0. */
static dlr_item heap_pop(smssim_dlr *d)
{
    dlr_item top = d->heap[0];
    d->heap[0] = d->heap[--d->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->n && d->heap[l].due_ms < d->heap[m].due_ms) {
            m = l;
        }
        if (r < d->n && d->heap[r].due_ms < d->heap[m].due_ms) {
            m = r;
        }
        if (m == i) {
            break;
        }
        heap_swap(&d->heap[m], &d->heap[i]);
        i = m;
    }
    return top;
}

/* Queues it (taking its url). Returns 0, or -1 (url freed) when full. */
static int dlr_push(smssim_dlr *d, dlr_item it)
{
    pthread_mutex_lock(&d->mu);
    if (d->n + d->in_flight >= d->cfg.max_pending) {
        pthread_mutex_unlock(&d->mu);
        free(it.url);
        return -1;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        dlr_item *h = realloc(d->heap, cap * sizeof *h);
        if (!h) {
            pthread_mutex_unlock(&d->mu);
            free(it.url);
            return -1;
        }
        d->heap = h;
        d->cap = cap;
    }
    heap_push(d, it);
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return 0;
}

int smssim_dlr_enqueue(smssim_dlr *d, const char *url, long delay_ms)
{
    dlr_item it = {smssim_now_ms() + (delay_ms > 0 ? delay_ms : 0), 0, strdup(url)};
    if (!it.url || dlr_push(d, it) != 0) {
        free(it.url);
        smssim_state_add(d->state, SMSSIM_CTR_DLRS_FAILED, 1);
        ecm_metric_add(d->m_failed, 1);
        ecm_log_warn("DLR dropped: queue full or out of memory", "url=%.200s", url);
        return -1;
    }
    return 0;
}

uint64_t smssim_dlr_pending(smssim_dlr *d)
{
    pthread_mutex_lock(&d->mu);
    uint64_t v = d->n + d->in_flight;
    pthread_mutex_unlock(&d->mu);
    return v;
}

/* ------------------------------------------------------------ workers */

static size_t dlr_discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* One POST to the DLR URL ECM gave (its arguments and token in the query,
 * an empty body): a generic gateway changes ECM's state with POST only, GET
 * being Kannel's way. Returns the HTTP status, or 0 when there was none
 * (refused, timeout), with curl's reason in err. */
static long dlr_post(CURL *c, const char *url, long timeout_ms, char *err, size_t err_size)
{
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dlr_discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    if (rc != CURLE_OK) {
        snprintf(err, err_size, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    snprintf(err, err_size, "HTTP %ld", status);
    return status;
}

/* Waits for the next due item. Returns 1 with *it set, 0 on stop. */
static int dlr_next(smssim_dlr *d, dlr_item *it)
{
    pthread_mutex_lock(&d->mu);
    for (;;) {
        if (d->stop) {
            pthread_mutex_unlock(&d->mu);
            return 0;
        }
        int64_t now = smssim_now_ms();
        if (d->n > 0 && d->heap[0].due_ms <= now) {
            *it = heap_pop(d);
            d->in_flight++;
            pthread_mutex_unlock(&d->mu);
            return 1;
        }
        /* Short waits keep the clock arithmetic simple and the stop prompt. */
        int64_t wait_ms = d->n > 0 ? d->heap[0].due_ms - now : 200;
        if (wait_ms > 200) {
            wait_ms = 200;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        ts.tv_sec += (time_t)(wait_ms / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
}

static void *dlr_worker(void *arg)
{
    smssim_dlr *d = arg;
    CURL *c = curl_easy_init();
    if (!c) {
        ecm_log_error("DLR worker: curl_easy_init failed", NULL);
        return NULL;
    }
    dlr_item it;
    while (dlr_next(d, &it)) {
        char err[CURL_ERROR_SIZE + 32];
        long status = dlr_post(c, it.url, d->cfg.timeout_ms, err, sizeof err);
        it.attempts++;
        int done = status >= 200 && status < 300;
        pthread_mutex_lock(&d->mu);
        d->in_flight--;
        pthread_mutex_unlock(&d->mu);
        if (done) {
            smssim_state_add(d->state, SMSSIM_CTR_DLRS_SENT, 1);
            ecm_metric_add(d->m_sent, 1);
            free(it.url);
        } else if (it.attempts >= d->cfg.max_attempts) {
            smssim_state_add(d->state, SMSSIM_CTR_DLRS_FAILED, 1);
            ecm_metric_add(d->m_failed, 1);
            ecm_log_warn("DLR callback given up", "attempts=%d last=%s url=%.200s", it.attempts,
                         err, it.url);
            free(it.url);
        } else {
            long backoff = d->cfg.retry_base_ms * it.attempts;
            if (backoff > d->cfg.retry_max_ms) {
                backoff = d->cfg.retry_max_ms;
            }
            smssim_state_add(d->state, SMSSIM_CTR_DLR_RETRIES, 1);
            ecm_metric_add(d->m_retried, 1);
            ecm_log_debug("DLR callback failed, will retry", "attempt=%d in_ms=%ld last=%s",
                          it.attempts, backoff, err);
            it.due_ms = smssim_now_ms() + backoff;
            if (dlr_push(d, it) != 0) {
                smssim_state_add(d->state, SMSSIM_CTR_DLRS_FAILED, 1);
                ecm_metric_add(d->m_failed, 1);
            }
        }
    }
    curl_easy_cleanup(c);
    return NULL;
}

smssim_dlr *smssim_dlr_new(const smssim_dlr_config *cfg, smssim_state *state, ecm_metrics *metrics)
{
    smssim_dlr *d = calloc(1, sizeof *d);
    if (!d) {
        ecm_log_error("out of memory", NULL);
        return NULL;
    }
    d->cfg = *cfg;
    d->state = state;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->m_sent =
        ecm_metrics_counter(metrics, "ecm_smssim_dlrs_sent_total", "DLR callbacks answered 2xx");
    d->m_failed = ecm_metrics_counter(metrics, "ecm_smssim_dlrs_failed_total",
                                      "DLR callbacks given up or dropped");
    d->m_retried = ecm_metrics_counter(metrics, "ecm_smssim_dlr_retries_total",
                                       "DLR callback attempts that failed and were retried");
    d->threads = calloc((size_t)cfg->workers, sizeof *d->threads);
    if (!d->threads) {
        ecm_log_error("out of memory", NULL);
        smssim_dlr_destroy(d);
        return NULL;
    }
    for (int i = 0; i < cfg->workers; i++) {
        if (pthread_create(&d->threads[i], NULL, dlr_worker, d) != 0) {
            ecm_log_error("DLR worker thread could not start", NULL);
            smssim_dlr_destroy(d);
            return NULL;
        }
        d->started++;
    }
    return d;
}

void smssim_dlr_destroy(smssim_dlr *d)
{
    if (!d) {
        return;
    }
    pthread_mutex_lock(&d->mu);
    d->stop = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    for (int i = 0; i < d->started; i++) {
        pthread_join(d->threads[i], NULL);
    }
    if (d->n > 0) {
        ecm_log_info("DLR callbacks still queued at stop, dropped", "count=%zu", d->n);
    }
    for (size_t i = 0; i < d->n; i++) {
        free(d->heap[i].url);
    }
    free(d->heap);
    free(d->threads);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

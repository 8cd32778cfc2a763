#include "ecm_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_buf.h"
#include "ecm_log.h"

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

struct ecm_metric {
    struct ecm_metric *next;
    metric_type type;
    char *name; /* full name with labels */
    char *base; /* name without labels */
    char *help;
    /* Counters count in integers; gauges keep the bits of a double so that
     * both update without a lock. */
    _Atomic uint64_t count;
    _Atomic uint64_t gauge_bits; /* histograms: the sum of observations */
    /* Histograms: nbounds upper bounds and nbounds + 1 bucket counts (not
     * cumulative; the last one is +Inf). */
    double *bounds;
    size_t nbounds;
    _Atomic uint64_t *buckets;
};

struct ecm_metrics {
    pthread_mutex_t mu;
    ecm_metric *head, *tail; /* creation order, so output is stable */
};

ecm_metrics *ecm_metrics_new(void)
{
    ecm_metrics *m = calloc(1, sizeof *m);
    if (!m) {
        return NULL;
    }
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void metric_destroy(ecm_metric *x)
{
    free(x->name);
    free(x->base);
    free(x->help);
    free(x->bounds);
    free((void *)x->buckets);
    free(x);
}

void ecm_metrics_destroy(ecm_metrics *m)
{
    if (!m) {
        return;
    }
    for (ecm_metric *x = m->head; x;) {
        ecm_metric *next = x->next;
        metric_destroy(x);
        x = next;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static uint64_t double_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double bits_double(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* Gives x its copy of the bounds and its bucket counts. Returns 0 or -1. */
static int metric_init_buckets(ecm_metric *x, const double *bounds, size_t nbounds)
{
    x->bounds = calloc(nbounds ? nbounds : 1, sizeof *x->bounds);
    x->buckets = calloc(nbounds + 1, sizeof *x->buckets);
    if (!x->bounds || !x->buckets)
        return -1;
    if (nbounds)
        memcpy(x->bounds, bounds, nbounds * sizeof *bounds);
    x->nbounds = nbounds;
    for (size_t i = 0; i <= nbounds; i++)
        atomic_init(&x->buckets[i], 0);
    return 0;
}

static ecm_metric *metric_get(ecm_metrics *m, const char *name, const char *help, metric_type type,
                              const double *bounds, size_t nbounds)
{
    if (!m || !name) {
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    for (ecm_metric *x = m->head; x; x = x->next) {
        if (strcmp(x->name, name) == 0) {
            pthread_mutex_unlock(&m->mu);
            if (x->type != type) {
                ecm_log_warn("metric registered twice with different types", "%s", name);
            }
            return x;
        }
    }
    ecm_metric *x = calloc(1, sizeof *x);
    if (!x) {
        pthread_mutex_unlock(&m->mu);
        return NULL;
    }
    size_t base_len = strcspn(name, "{");
    x->type = type;
    x->name = strdup(name);
    x->base = strndup(name, base_len);
    x->help = strdup(help ? help : "");
    if (!x->name || !x->base || !x->help ||
        (type == METRIC_HISTOGRAM && metric_init_buckets(x, bounds, nbounds) != 0)) {
        metric_destroy(x);
        pthread_mutex_unlock(&m->mu);
        return NULL;
    }
    atomic_init(&x->count, 0);
    atomic_init(&x->gauge_bits, double_bits(0.0));
    if (m->tail) {
        m->tail->next = x;
    } else {
        m->head = x;
    }
    m->tail = x;
    pthread_mutex_unlock(&m->mu);
    return x;
}

ecm_metric *ecm_metrics_counter(ecm_metrics *m, const char *name, const char *help)
{
    return metric_get(m, name, help, METRIC_COUNTER, NULL, 0);
}

ecm_metric *ecm_metrics_gauge(ecm_metrics *m, const char *name, const char *help)
{
    return metric_get(m, name, help, METRIC_GAUGE, NULL, 0);
}

ecm_metric *ecm_metrics_histogram(ecm_metrics *m, const char *name, const char *help,
                                  const double *bounds, size_t nbounds)
{
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return NULL;
    }
    return metric_get(m, name, help, METRIC_HISTOGRAM, bounds, nbounds);
}

/* Adds v to the double kept in bits, without a lock. */
static void atomic_add_double(_Atomic uint64_t *bits, double v)
{
    uint64_t old = atomic_load(bits);
    while (!atomic_compare_exchange_weak(bits, &old, double_bits(bits_double(old) + v))) {
    }
}

void ecm_metric_observe(ecm_metric *h, double v)
{
    if (!h || h->type != METRIC_HISTOGRAM || isnan(v))
        return;
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&h->gauge_bits, v);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void ecm_metric_add(ecm_metric *c, uint64_t n)
{
    if (!c) {
        return;
    }
    if (c->type == METRIC_COUNTER) {
        atomic_fetch_add_explicit(&c->count, n, memory_order_relaxed);
        return;
    }
    if (c->type == METRIC_GAUGE)
        atomic_add_double(&c->gauge_bits, (double)n);
}

void ecm_metric_set(ecm_metric *g, double v)
{
    /* Counters only go up; setting one would break rate() in Prometheus. */
    if (!g || g->type != METRIC_GAUGE) {
        return;
    }
    atomic_store(&g->gauge_bits, double_bits(v));
}

double ecm_metric_value(const ecm_metric *x)
{
    if (!x) {
        return 0.0;
    }
    ecm_metric *mx = (ecm_metric *)x;
    if (x->type != METRIC_GAUGE) {
        return (double)atomic_load(&mx->count);
    }
    return bits_double(atomic_load(&mx->gauge_bits));
}

/* A scrape is a few kilobytes; this bounds one gone wrong. */
#define RENDER_MAX (64u << 20)

typedef ecm_buf render_buf;

/* Appends without looking: a failure sticks in the buffer and
 * ecm_metrics_render() reports it. */
static void rb_append(render_buf *rb, const char *s, size_t n)
{
    if (ecm_buf_add(rb, s, n) != 0)
        return;
}

static void rb_str(render_buf *rb, const char *s)
{
    rb_append(rb, s, strlen(s));
}

/* HELP text escapes backslash and newline (exposition format 0.0.4). */
static void rb_help(render_buf *rb, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') {
            rb_str(rb, "\\\\");
        } else if (*s == '\n') {
            rb_str(rb, "\\n");
        } else {
            rb_append(rb, s, 1);
        }
    }
}

static void rb_double(render_buf *rb, double v)
{
    char num[64];
    if (isnan(v)) {
        snprintf(num, sizeof num, "NaN");
    } else if (isinf(v)) {
        snprintf(num, sizeof num, "%s", v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(num, sizeof num, "%.17g", v);
    }
    rb_str(rb, num);
}

static void rb_u64(render_buf *rb, uint64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    rb_str(rb, num);
}

/* The name part of one series line and its space:
 * <base><suffix>{<x's labels>[,<extra>]}. */
static void rb_series(render_buf *rb, const ecm_metric *x, const char *suffix, const char *extra)
{
    const char *labels = x->name + strlen(x->base); /* "" or "{...}" */
    rb_str(rb, x->base);
    rb_str(rb, suffix);
    if (*labels && extra) {
        rb_append(rb, labels, strlen(labels) - 1);
        rb_str(rb, ",");
        rb_str(rb, extra);
        rb_str(rb, "}");
    } else if (extra) {
        rb_str(rb, "{");
        rb_str(rb, extra);
        rb_str(rb, "}");
    } else {
        rb_str(rb, labels);
    }
    rb_str(rb, " ");
}

/* The _bucket (cumulative), _sum and _count lines of histogram x. */
static void rb_histogram(render_buf *rb, const ecm_metric *x)
{
    ecm_metric *mx = (ecm_metric *)x;
    uint64_t cum = 0;
    char le[64];
    for (size_t i = 0; i <= x->nbounds; i++) {
        cum += atomic_load(&mx->buckets[i]);
        if (i < x->nbounds)
            snprintf(le, sizeof le, "le=\"%.17g\"", x->bounds[i]);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        rb_series(rb, x, "_bucket", le);
        rb_u64(rb, cum);
        rb_str(rb, "\n");
    }
    rb_series(rb, x, "_sum", NULL);
    rb_double(rb, bits_double(atomic_load(&mx->gauge_bits)));
    rb_str(rb, "\n");
    rb_series(rb, x, "_count", NULL);
    rb_u64(rb, cum);
    rb_str(rb, "\n");
}

static void rb_value(render_buf *rb, const ecm_metric *x)
{
    if (x->type == METRIC_COUNTER)
        rb_u64(rb, atomic_load(&((ecm_metric *)x)->count));
    else
        rb_double(rb, ecm_metric_value(x));
}

char *ecm_metrics_render(ecm_metrics *m)
{
    render_buf rb;
    ecm_buf_init(&rb, RENDER_MAX);
    if (!m) {
        return ecm_buf_take(&rb);
    }
    pthread_mutex_lock(&m->mu);
    for (ecm_metric *x = m->head; x; x = x->next) {
        int seen = 0;
        for (ecm_metric *y = m->head; y != x; y = y->next) {
            if (strcmp(y->base, x->base) == 0) {
                seen = 1;
                break;
            }
        }
        if (seen) {
            continue;
        }
        rb_str(&rb, "# HELP ");
        rb_str(&rb, x->base);
        rb_str(&rb, " ");
        rb_help(&rb, x->help);
        rb_str(&rb, "\n# TYPE ");
        rb_str(&rb, x->base);
        rb_str(&rb, x->type == METRIC_COUNTER ? " counter\n"
                    : x->type == METRIC_GAUGE ? " gauge\n"
                                              : " histogram\n");
        for (ecm_metric *y = x; y; y = y->next) {
            if (strcmp(y->base, x->base) != 0) {
                continue;
            }
            if (y->type == METRIC_HISTOGRAM) {
                rb_histogram(&rb, y);
                continue;
            }
            rb_str(&rb, y->name);
            rb_str(&rb, " ");
            rb_value(&rb, y);
            rb_str(&rb, "\n");
        }
    }
    pthread_mutex_unlock(&m->mu);
    return ecm_buf_take(&rb);
}

#include "ecm_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_buf.h"
#include "ecm_log.h"

typedef enum { METRIC_COUNTER, METRIC_GAUGE } metric_type;

struct ecm_metric {
    struct ecm_metric *next;
    metric_type type;
    char *name; /* full name with labels */
    char *base; /* name without labels */
    char *help;
    /* Counters count in integers; gauges keep the bits of a double so that
     * both update without a lock. */
    _Atomic uint64_t count;
    _Atomic uint64_t gauge_bits;
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

static ecm_metric *metric_get(ecm_metrics *m, const char *name, const char *help, metric_type type)
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
    if (!x->name || !x->base || !x->help) {
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
    return metric_get(m, name, help, METRIC_COUNTER);
}

ecm_metric *ecm_metrics_gauge(ecm_metrics *m, const char *name, const char *help)
{
    return metric_get(m, name, help, METRIC_GAUGE);
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
    uint64_t old = atomic_load(&c->gauge_bits);
    while (!atomic_compare_exchange_weak(&c->gauge_bits, &old,
                                         double_bits(bits_double(old) + (double)n))) {
    }
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
    if (x->type == METRIC_COUNTER) {
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

static void rb_value(render_buf *rb, const ecm_metric *x)
{
    char num[64];
    if (x->type == METRIC_COUNTER) {
        snprintf(num, sizeof num, "%llu",
                 (unsigned long long)atomic_load(&((ecm_metric *)x)->count));
    } else {
        double v = ecm_metric_value(x);
        if (isnan(v)) {
            snprintf(num, sizeof num, "NaN");
        } else if (isinf(v)) {
            snprintf(num, sizeof num, "%s", v > 0 ? "+Inf" : "-Inf");
        } else {
            snprintf(num, sizeof num, "%.17g", v);
        }
    }
    rb_str(rb, num);
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
        rb_str(&rb, x->type == METRIC_COUNTER ? " counter\n" : " gauge\n");
        for (ecm_metric *y = x; y; y = y->next) {
            if (strcmp(y->base, x->base) != 0) {
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

/* Prometheus metrics: counters, gauges and histograms, safe to update from any thread.
 * A metric name may carry labels: "ecm_events_in_total{topic=\"call.results\"}";
 * HELP and TYPE lines are written once per base name. */
#ifndef ECM_METRICS_H
#define ECM_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ecm_metrics ecm_metrics;
typedef struct ecm_metric ecm_metric;

ecm_metrics *ecm_metrics_new(void) __attribute__((warn_unused_result));
void ecm_metrics_destroy(ecm_metrics *m);

/* Returns the metric with this full name, creating it on first use (the same
 * handle every later call). Returns NULL only on allocation failure. */
ecm_metric *ecm_metrics_counter(ecm_metrics *m, const char *name, const char *help);
ecm_metric *ecm_metrics_gauge(ecm_metrics *m, const char *name, const char *help);

/* A histogram with the given upper bounds (ascending, finite; +Inf is
 * added), rendered as <base>_bucket{...,le="..."}, <base>_sum, <base>_count.
 * The bounds are copied; a later call for the same name returns the first
 * one's handle whatever its bounds. NULL on allocation failure or bad bounds. */
ecm_metric *ecm_metrics_histogram(ecm_metrics *m, const char *name, const char *help,
                                  const double *bounds, size_t nbounds);

void ecm_metric_add(ecm_metric *c, uint64_t n); /* counters; NULL is ignored */
/* Histograms: counts v in its bucket and adds it to the sum. NULL is ignored. */
void ecm_metric_observe(ecm_metric *h, double v);
void ecm_metric_set(ecm_metric *g, double v); /* gauges; NULL is ignored */
/* Counters and gauges: the value; histograms: the count of observations. */
double ecm_metric_value(const ecm_metric *x);

/* Renders the Prometheus text exposition format into a malloc'd string. */
char *ecm_metrics_render(ecm_metrics *m);

#endif

/* Prometheus metrics: counters and gauges, safe to update from any thread.
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

void ecm_metric_add(ecm_metric *c, uint64_t n); /* counters; NULL is ignored */
void ecm_metric_set(ecm_metric *g, double v);   /* gauges; NULL is ignored */
double ecm_metric_value(const ecm_metric *x);

/* Renders the Prometheus text exposition format into a malloc'd string. */
char *ecm_metrics_render(ecm_metrics *m);

#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_metrics.h"

static int count_occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void test_metrics_same_name_returns_same_handle(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    ecm_metric *a = ecm_metrics_counter(m, "ecm_x_total", "x");
    ecm_metric *b = ecm_metrics_counter(m, "ecm_x_total", "x");
    ecm_metric *c = ecm_metrics_counter(m, "ecm_x_total{k=\"v\"}", "x");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    ecm_metrics_destroy(m);
}

static void test_metrics_counter_and_gauge_values(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    ecm_metric *c = ecm_metrics_counter(m, "ecm_sent_total", "sent");
    ecm_metric *g = ecm_metrics_gauge(m, "ecm_lag", "lag");
    ecm_metric_add(c, 3);
    ecm_metric_add(c, 4);
    ecm_metric_set(g, 2.5);
    ecm_metric_set(g, -1.25);
    assert_true(ecm_metric_value(c) == 7.0);
    assert_true(ecm_metric_value(g) == -1.25);
    /* NULL handles are ignored. */
    ecm_metric_add(NULL, 1);
    ecm_metric_set(NULL, 1);
    ecm_metrics_destroy(m);
}

static void test_metrics_render_prometheus_text(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    ecm_metric_add(
        ecm_metrics_counter(m, "ecm_events_in_total{topic=\"call.results\"}", "Events consumed"),
        5);
    ecm_metric_set(ecm_metrics_gauge(m, "ecm_queue_depth", "Contacts queued\nper campaign"), 12);
    ecm_metric_add(
        ecm_metrics_counter(m, "ecm_events_in_total{topic=\"sms.results\"}", "Events consumed"), 2);
    char *text = ecm_metrics_render(m);
    assert_non_null(text);
    assert_int_equal(count_occurrences(text, "# HELP ecm_events_in_total "), 1);
    assert_int_equal(count_occurrences(text, "# TYPE ecm_events_in_total counter\n"), 1);
    assert_non_null(strstr(text, "# HELP ecm_events_in_total Events consumed\n"));
    assert_non_null(strstr(text, "ecm_events_in_total{topic=\"call.results\"} 5\n"));
    assert_non_null(strstr(text, "ecm_events_in_total{topic=\"sms.results\"} 2\n"));
    assert_non_null(strstr(text, "# TYPE ecm_queue_depth gauge\n"));
    assert_non_null(strstr(text, "# HELP ecm_queue_depth Contacts queued\\nper campaign\n"));
    assert_non_null(strstr(text, "ecm_queue_depth 12\n"));
    /* The samples of one family follow its TYPE line, before the next family. */
    const char *type = strstr(text, "# TYPE ecm_events_in_total");
    const char *sms = strstr(text, "ecm_events_in_total{topic=\"sms.results\"}");
    const char *gauge = strstr(text, "# HELP ecm_queue_depth");
    assert_true(type < sms && sms < gauge);
    free(text);
    ecm_metrics_destroy(m);
}

static void test_metrics_render_empty_registry(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    char *text = ecm_metrics_render(m);
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);
    ecm_metrics_destroy(m);
}

typedef struct {
    ecm_metrics *m;
    int id;
} worker_arg;

#define THREADS 8
#define ADDS 20000

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < ADDS; i++) {
        /* Looking up on every add also exercises concurrent creation. */
        ecm_metric_add(ecm_metrics_counter(a->m, "ecm_shared_total", "shared"), 1);
        ecm_metric_add(ecm_metrics_gauge(a->m, "ecm_shared_gauge", "g"), 1);
        if (i % 1000 == 0) {
            char name[64];
            snprintf(name, sizeof name, "ecm_t_total{t=\"%d\"}", a->id);
            ecm_metric_add(ecm_metrics_counter(a->m, name, "per thread"), 1);
            free(ecm_metrics_render(a->m));
        }
    }
    return NULL;
}

static void test_metrics_are_thread_safe(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i].m = m;
        args[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    assert_true(ecm_metric_value(ecm_metrics_counter(m, "ecm_shared_total", "")) ==
                (double)THREADS * ADDS);
    assert_true(ecm_metric_value(ecm_metrics_gauge(m, "ecm_shared_gauge", "")) ==
                (double)THREADS * ADDS);
    char *text = ecm_metrics_render(m);
    assert_int_equal(count_occurrences(text, "# TYPE ecm_t_total counter"), 1);
    assert_int_equal(count_occurrences(text, "ecm_t_total{t="), THREADS);
    free(text);
    ecm_metrics_destroy(m);
}

static void test_metrics_histogram_renders_cumulative_buckets_sum_and_count(void **state)
{
    (void)state;
    ecm_metrics *m = ecm_metrics_new();
    const double bounds[] = {100, 1000};
    ecm_metric *h = ecm_metrics_histogram(m, "ecm_x_delay_milliseconds", "delay", bounds, 2);
    assert_non_null(h);
    assert_ptr_equal(h, ecm_metrics_histogram(m, "ecm_x_delay_milliseconds", "delay", bounds, 2));
    ecm_metric_observe(h, 50);
    ecm_metric_observe(h, 100); /* le is inclusive */
    ecm_metric_observe(h, 500);
    ecm_metric_observe(h, 5000);
    ecm_metric *l =
        ecm_metrics_histogram(m, "ecm_x_delay_milliseconds{kind=\"a\"}", "delay", bounds, 2);
    ecm_metric_observe(l, 7);
    assert_true(ecm_metric_value(h) == 4.0);
    char *text = ecm_metrics_render(m);
    assert_non_null(text);
    assert_int_equal(count_occurrences(text, "# TYPE ecm_x_delay_milliseconds histogram\n"), 1);
    assert_non_null(strstr(text, "ecm_x_delay_milliseconds_bucket{le=\"100\"} 2\n"));
    assert_non_null(strstr(text, "ecm_x_delay_milliseconds_bucket{le=\"1000\"} 3\n"));
    assert_non_null(strstr(text, "ecm_x_delay_milliseconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text, "ecm_x_delay_milliseconds_sum 5650\n"));
    assert_non_null(strstr(text, "ecm_x_delay_milliseconds_count 4\n"));
    assert_non_null(strstr(text, "ecm_x_delay_milliseconds_bucket{kind=\"a\",le=\"100\"} 1\n"));
    assert_non_null(strstr(text, "ecm_x_delay_milliseconds_count{kind=\"a\"} 1\n"));
    free(text);
    const double unordered[] = {10, 5};
    assert_null(ecm_metrics_histogram(m, "ecm_y_milliseconds", "y", unordered, 2));
    ecm_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_same_name_returns_same_handle),
        cmocka_unit_test(test_metrics_counter_and_gauge_values),
        cmocka_unit_test(test_metrics_render_prometheus_text),
        cmocka_unit_test(test_metrics_render_empty_registry),
        cmocka_unit_test(test_metrics_are_thread_safe),
        cmocka_unit_test(test_metrics_histogram_renders_cumulative_buckets_sum_and_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The SMS simulator's memory: duplicate message ids, counters, the 503
 * window, the stats JSON, and the URL templating of DLR and MO callbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "smssim_dlr.h"
#include "smssim_state.h"

static void test_smssim_state_counts_an_id_received_three_times_as_one_duplicate(void **state)
{
    (void)state;
    smssim_state *s = smssim_state_new(100);
    assert_non_null(s);
    assert_int_equal(smssim_state_record(s, "a", SMSSIM_DELIVERED), 0);
    assert_int_equal(smssim_state_record(s, "b", SMSSIM_REJECTED), 0);
    assert_int_equal(smssim_state_record(s, "a", SMSSIM_DELIVERED), 1);
    assert_int_equal(smssim_state_record(s, "a", SMSSIM_DELIVERED), 2);
    assert_int_equal(smssim_state_get(s, SMSSIM_CTR_RECEIVED), 4);
    assert_int_equal(smssim_state_unique_ids(s), 2);
    assert_int_equal(smssim_state_duplicate_ids(s), 1);
    assert_int_equal(smssim_state_outcome_count(s, SMSSIM_DELIVERED), 3);
    assert_int_equal(smssim_state_outcome_count(s, SMSSIM_REJECTED), 1);
    smssim_state_destroy(s);
}

static void test_smssim_state_keeps_every_id_across_table_growth(void **state)
{
    (void)state;
    smssim_state *s = smssim_state_new(1000000);
    char id[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(id, sizeof id, "ecm-%d", i);
        assert_int_equal(smssim_state_record(s, id, SMSSIM_NODLR), 0);
    }
    for (int i = 0; i < 50000; i += 997) {
        snprintf(id, sizeof id, "ecm-%d", i);
        assert_int_equal(smssim_state_record(s, id, SMSSIM_NODLR), 1);
    }
    assert_int_equal(smssim_state_unique_ids(s), 50000);
    assert_int_equal(smssim_state_duplicate_ids(s), 51);
    smssim_state_destroy(s);
}

static void test_smssim_state_full_id_set_counts_untracked_but_still_received(void **state)
{
    (void)state;
    smssim_state *s = smssim_state_new(2);
    assert_int_equal(smssim_state_record(s, "a", SMSSIM_DELIVERED), 0);
    assert_int_equal(smssim_state_record(s, "b", SMSSIM_DELIVERED), 0);
    assert_int_equal(smssim_state_record(s, "c", SMSSIM_DELIVERED), -1);
    assert_int_equal(smssim_state_record(s, "a", SMSSIM_DELIVERED), 1);
    assert_int_equal(smssim_state_get(s, SMSSIM_CTR_RECEIVED), 4);
    assert_int_equal(smssim_state_get(s, SMSSIM_CTR_UNTRACKED), 1);
    assert_int_equal(smssim_state_unique_ids(s), 2);
    smssim_state_destroy(s);
}

static void test_smssim_state_unavailable_window_opens_and_closes(void **state)
{
    (void)state;
    smssim_state *s = smssim_state_new(10);
    assert_int_equal(smssim_state_unavailable(s, 1000), 0);
    smssim_state_set_unavailable(s, 1000, 5);
    assert_int_equal(smssim_state_unavailable(s, 1000), 1);
    assert_int_equal(smssim_state_unavailable(s, 5999), 1);
    assert_int_equal(smssim_state_unavailable(s, 6000), 0);
    smssim_state_set_unavailable(s, 7000, 60);
    assert_int_equal(smssim_state_unavailable(s, 8000), 1);
    smssim_state_set_unavailable(s, 8000, 0);
    assert_int_equal(smssim_state_unavailable(s, 8000), 0);
    smssim_state_destroy(s);
}

static void test_smssim_state_stats_json_carries_the_counts(void **state)
{
    (void)state;
    smssim_state *s = smssim_state_new(10);
    (void)smssim_state_record(s, "x", SMSSIM_UNDELIVERED);
    (void)smssim_state_record(s, "x", SMSSIM_UNDELIVERED);
    smssim_state_add(s, SMSSIM_CTR_DLRS_SENT, 3);
    smssim_state_add(s, SMSSIM_CTR_DLRS_FAILED, 1);
    char *text = smssim_state_stats_json(s, 7);
    assert_non_null(text);
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "received")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "unique_message_ids")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "duplicate_message_ids")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "dlrs_sent")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "dlrs_failed")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "dlrs_pending")), 7);
    json_t *by = json_object_get(o, "by_outcome");
    assert_int_equal(json_integer_value(json_object_get(by, "undelivered")), 2);
    assert_int_equal(json_integer_value(json_object_get(by, "delivered")), 0);
    json_decref(o);
    free(text);
    smssim_state_destroy(s);
}

static void test_smssim_url_fill_replaces_codes_and_encodes_values(void **state)
{
    (void)state;
    smssim_url_vals v = {2, "+1 555", "12345", "Stop it & go", "sim-9"};
    char *u = smssim_url_fill("http://h/dlr?id=ecm-1&s=%d&f=%p&t=%P&x=%a&i=%i&pct=100%%&k=%k", &v);
    assert_non_null(u);
    assert_string_equal(u, "http://h/dlr?id=ecm-1&s=2&f=%2B1%20555&t=12345&x=Stop%20it%20%26%20go"
                           "&i=sim-9&pct=100%&k=%k");
    free(u);
    smssim_url_vals none = {-1, NULL, NULL, NULL, NULL};
    u = smssim_url_fill("s=%d&p=%p&end%", &none);
    assert_string_equal(u, "s=&p=&end%");
    free(u);
}

static void test_smssim_url_fill_refuses_an_oversized_result(void **state)
{
    (void)state;
    char *big = malloc(5000);
    memset(big, 'z', 4999);
    big[4999] = '\0';
    smssim_url_vals v = {-1, NULL, NULL, big, NULL};
    assert_null(smssim_url_fill("%a%a", &v));
    char *one = smssim_url_fill("%a", &v);
    assert_non_null(one);
    assert_int_equal(strlen(one), 4999);
    free(one);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smssim_state_counts_an_id_received_three_times_as_one_duplicate),
        cmocka_unit_test(test_smssim_state_keeps_every_id_across_table_growth),
        cmocka_unit_test(test_smssim_state_full_id_set_counts_untracked_but_still_received),
        cmocka_unit_test(test_smssim_state_unavailable_window_opens_and_closes),
        cmocka_unit_test(test_smssim_state_stats_json_carries_the_counts),
        cmocka_unit_test(test_smssim_url_fill_replaces_codes_and_encodes_values),
        cmocka_unit_test(test_smssim_url_fill_refuses_an_oversized_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

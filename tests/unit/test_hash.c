#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "ecm_hash.h"

static void test_hash_same_input_same_seed_same_value(void **state)
{
    (void)state;
    assert_true(ecm_hash_str("1234-1", 42) == ecm_hash_str("1234-1", 42));
    assert_true(ecm_hash_str("", 0) == ecm_hash_str("", 0));
}

static void test_hash_seed_and_neighbours_change_the_value(void **state)
{
    (void)state;
    assert_true(ecm_hash_str("1234-1", 42) != ecm_hash_str("1234-1", 43));
    assert_true(ecm_hash_str("1234-1", 42) != ecm_hash_str("1234-2", 42));
    /* Neighbouring ids differ in many bits, not just the low ones. */
    uint64_t x = ecm_hash_str("1234-1", 7) ^ ecm_hash_str("1234-2", 7);
    assert_true(__builtin_popcountll(x) > 16);
}

static void test_hash_pick_edges_follow_the_weights(void **state)
{
    (void)state;
    const unsigned w[] = {3, 0, 2};
    assert_int_equal(ecm_hash_pick(0, w, 3, 5), 0);
    assert_int_equal(ecm_hash_pick(2, w, 3, 5), 0);
    assert_int_equal(ecm_hash_pick(3, w, 3, 5), 2); /* a zero weight is never picked */
    assert_int_equal(ecm_hash_pick(4, w, 3, 5), 2);
    assert_int_equal(ecm_hash_pick(5, w, 3, 5), 0); /* wraps by modulo */
}

static void test_hash_pick_distribution_is_close_to_the_weights(void **state)
{
    (void)state;
    const unsigned w[] = {70, 20, 10};
    unsigned counts[3] = {0};
    char id[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "%d-1", i);
        counts[ecm_hash_pick(ecm_hash_str(id, 1), w, 3, 100)]++;
    }
    /* Generous bounds: 20,000 draws put each share within ~1% of its weight. */
    assert_in_range(counts[0], 13400, 14600);
    assert_in_range(counts[1], 3600, 4400);
    assert_in_range(counts[2], 1600, 2400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_same_input_same_seed_same_value),
        cmocka_unit_test(test_hash_seed_and_neighbours_change_the_value),
        cmocka_unit_test(test_hash_pick_edges_follow_the_weights),
        cmocka_unit_test(test_hash_pick_distribution_is_close_to_the_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

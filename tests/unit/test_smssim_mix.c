/* The SMS simulator's outcome mix: parsing, and the deterministic, weighted
 * choice of an outcome per message id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smssim_mix.h"

static void expect_parse_error(const char *text, const char *needle)
{
    smssim_mix *m = NULL;
    char err[256] = "";
    assert_int_equal(smssim_mix_parse(text, &m, err, sizeof err), -1);
    assert_null(m);
    if (!strstr(err, needle)) {
        fail_msg("error for '%s' is '%s', expected it to contain '%s'", text ? text : "(null)", err,
                 needle);
    }
    assert_int_equal(smssim_mix_validate(text, err, sizeof err), -1);
}

static void test_smssim_mix_parses_outcomes_in_any_order_with_spaces(void **state)
{
    (void)state;
    smssim_mix *m = NULL;
    char err[256];
    assert_int_equal(smssim_mix_parse(" nodlr:5, rejected : 5,undelivered:10 ,delivered: 80", &m,
                                      err, sizeof err),
                     0);
    assert_int_equal(smssim_mix_weight(m, SMSSIM_DELIVERED), 80);
    assert_int_equal(smssim_mix_weight(m, SMSSIM_UNDELIVERED), 10);
    assert_int_equal(smssim_mix_weight(m, SMSSIM_REJECTED), 5);
    assert_int_equal(smssim_mix_weight(m, SMSSIM_NODLR), 5);
    assert_int_equal(smssim_mix_total(m), 100);
    smssim_mix_destroy(m);
}

static void test_smssim_mix_absent_outcome_has_weight_zero(void **state)
{
    (void)state;
    smssim_mix *m = NULL;
    char err[256];
    assert_int_equal(smssim_mix_parse("delivered:1", &m, err, sizeof err), 0);
    assert_int_equal(smssim_mix_weight(m, SMSSIM_REJECTED), 0);
    assert_int_equal(smssim_mix_total(m), 1);
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof id, "msg-%d", i);
        assert_int_equal(smssim_mix_pick(m, id, 7), SMSSIM_DELIVERED);
    }
    smssim_mix_destroy(m);
}

static void test_smssim_mix_rejects_bad_text(void **state)
{
    (void)state;
    expect_parse_error(NULL, "empty");
    expect_parse_error("", "empty");
    expect_parse_error("delivered", "expected outcome:weight");
    expect_parse_error("delivered:80,lost:20", "entry 2 'lost:20': unknown outcome");
    expect_parse_error("delivered:x", "weight must be an integer");
    expect_parse_error("delivered:-1", "weight must be an integer");
    expect_parse_error("delivered:1000001", "weight must be an integer");
    expect_parse_error("delivered:1,,nodlr:1", "entry 2");
    expect_parse_error("delivered:1,delivered:2", "given twice");
    expect_parse_error("delivered:0,rejected:0", "every weight is 0");
    expect_parse_error("Delivered:1", "unknown outcome");
}

static void test_smssim_mix_pick_is_deterministic_per_id_and_seed(void **state)
{
    (void)state;
    smssim_mix *m = NULL;
    char err[256];
    assert_int_equal(
        smssim_mix_parse("delivered:25,undelivered:25,rejected:25,nodlr:25", &m, err, sizeof err),
        0);
    int differs_with_seed = 0;
    for (int i = 0; i < 200; i++) {
        char id[32];
        snprintf(id, sizeof id, "c%d-a1", i);
        smssim_outcome a = smssim_mix_pick(m, id, 1);
        assert_int_equal(smssim_mix_pick(m, id, 1), a);
        assert_true((unsigned)a < SMSSIM_OUTCOME_COUNT);
        differs_with_seed += smssim_mix_pick(m, id, 2) != a;
    }
    /* Another seed reshuffles: with 4 equal outcomes about 3/4 change. */
    assert_true(differs_with_seed > 100);
    assert_int_not_equal(smssim_hash("m-1", 1), smssim_hash("m-2", 1));
    assert_int_not_equal(smssim_hash("m-1", 1), smssim_hash("m-1", 2));
    smssim_mix_destroy(m);
}

static void test_smssim_mix_pick_follows_the_weights(void **state)
{
    (void)state;
    smssim_mix *m = NULL;
    char err[256];
    assert_int_equal(
        smssim_mix_parse("delivered:80,undelivered:10,rejected:5,nodlr:5", &m, err, sizeof err), 0);
    enum { N = 100000 };
    unsigned counts[SMSSIM_OUTCOME_COUNT] = {0};
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "%d", 4000000 + i);
        counts[smssim_mix_pick(m, id, 42)]++;
    }
    /* Binomial sd at N=1e5 is under 130 for these shares; 600 is > 4.5 sd. */
    assert_in_range(counts[SMSSIM_DELIVERED], 80000 - 600, 80000 + 600);
    assert_in_range(counts[SMSSIM_UNDELIVERED], 10000 - 600, 10000 + 600);
    assert_in_range(counts[SMSSIM_REJECTED], 5000 - 600, 5000 + 600);
    assert_in_range(counts[SMSSIM_NODLR], 5000 - 600, 5000 + 600);
    smssim_mix_destroy(m);
}

static void test_smssim_outcome_names_match_the_mix_syntax(void **state)
{
    (void)state;
    assert_string_equal(smssim_outcome_name(SMSSIM_DELIVERED), "delivered");
    assert_string_equal(smssim_outcome_name(SMSSIM_UNDELIVERED), "undelivered");
    assert_string_equal(smssim_outcome_name(SMSSIM_REJECTED), "rejected");
    assert_string_equal(smssim_outcome_name(SMSSIM_NODLR), "nodlr");
    assert_string_equal(smssim_outcome_name(SMSSIM_OUTCOME_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smssim_mix_parses_outcomes_in_any_order_with_spaces),
        cmocka_unit_test(test_smssim_mix_absent_outcome_has_weight_zero),
        cmocka_unit_test(test_smssim_mix_rejects_bad_text),
        cmocka_unit_test(test_smssim_mix_pick_is_deterministic_per_id_and_seed),
        cmocka_unit_test(test_smssim_mix_pick_follows_the_weights),
        cmocka_unit_test(test_smssim_outcome_names_match_the_mix_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

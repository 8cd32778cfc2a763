/* The simulator's CallResult mix: parsing, and the deterministic, weighted
 * choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim_dialer.h"
#include "sim_mix.h"

static void expect_parse_error(const char *text, const char *needle)
{
    sim_mix *m = NULL;
    char err[256] = "";
    assert_int_equal(sim_mix_parse(text, &m, err, sizeof err), -1);
    assert_null(m);
    assert_non_null(strstr(err, needle));
    assert_int_equal(sim_mix_validate(text, err, sizeof err), -1);
}

static void test_sim_mix_parses_codes_and_weights_in_order(void **state)
{
    (void)state;
    sim_mix *m = NULL;
    char err[256];
    assert_int_equal(sim_mix_parse(" 10:40, 8 :25,9: 10 ", &m, err, sizeof err), 0);
    assert_int_equal(sim_mix_count(m), 3);
    assert_int_equal(sim_mix_code(m, 0), 10);
    assert_int_equal(sim_mix_weight(m, 0), 40);
    assert_int_equal(sim_mix_code(m, 1), 8);
    assert_int_equal(sim_mix_weight(m, 1), 25);
    assert_int_equal(sim_mix_code(m, 2), 9);
    assert_int_equal(sim_mix_weight(m, 2), 10);
    assert_int_equal(sim_mix_total_weight(m), 75);
    sim_mix_destroy(m);
}

static void test_sim_mix_rejects_bad_input_with_reason(void **state)
{
    (void)state;
    expect_parse_error("", "expected code:weight");
    expect_parse_error("10", "expected code:weight");
    expect_parse_error("10:40,", "entry 2");
    expect_parse_error("10:40,,8:1", "entry 2");
    expect_parse_error("x:40", "code must be");
    expect_parse_error("100:1", "code must be");
    expect_parse_error("-1:1", "code must be");
    expect_parse_error("10:0", "weight must be");
    expect_parse_error("10:abc", "weight must be");
    expect_parse_error("10:4 0", "weight must be");
    expect_parse_error("10:99999999999999999999", "weight must be");
    expect_parse_error("10:1,10:2", "given twice");
}

static void test_sim_mix_default_is_valid(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(sim_mix_validate("10:40,8:25,9:10,12:10,3:5,25:5,14:5", err, sizeof err), 0);
}

static void test_sim_mix_pick_is_deterministic_and_seed_dependent(void **state)
{
    (void)state;
    sim_mix *m = NULL;
    char err[256];
    assert_int_equal(sim_mix_parse("10:1,8:1,9:1,12:1", &m, err, sizeof err), 0);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        char acct[32];
        snprintf(acct, sizeof acct, "%d-1", 1000 + i);
        int a = sim_mix_pick(m, acct, 7);
        assert_int_equal(sim_mix_pick(m, acct, 7), a);
        assert_int_equal(sim_mix_hash(acct, 7), sim_mix_hash(acct, 7));
        differ += sim_mix_pick(m, acct, 8) != a;
    }
    /* With 4 equal codes ~3/4 of picks change with the seed. */
    assert_true(differ > 100);
    sim_mix_destroy(m);
}

static void test_sim_mix_single_entry_always_chosen(void **state)
{
    (void)state;
    sim_mix *m = NULL;
    char err[256];
    assert_int_equal(sim_mix_parse("26:3", &m, err, sizeof err), 0);
    assert_int_equal(sim_mix_pick(m, "anything", 0), 26);
    assert_int_equal(sim_mix_pick(m, "", 12345), 26);
    sim_mix_destroy(m);
}

static void test_sim_mix_distribution_follows_weights_over_10k_accounts(void **state)
{
    (void)state;
    sim_mix *m = NULL;
    char err[256];
    const char *mix = "10:40,8:25,9:10,12:10,3:5,25:5,14:5";
    assert_int_equal(sim_mix_parse(mix, &m, err, sizeof err), 0);
    int counts[SIM_MIX_MAX_CODE + 1] = {0};
    const int n = 10000;
    for (int i = 0; i < n; i++) {
        char acct[32];
        /* ECM's account numbers: <contact_id>-<attempt>, sequential ids. */
        snprintf(acct, sizeof acct, "%d-%d", 500000 + i, 1 + i % 3);
        counts[sim_mix_pick(m, acct, 1)]++;
    }
    int total = 0;
    for (size_t e = 0; e < sim_mix_count(m); e++) {
        int code = sim_mix_code(m, e);
        double expected = n * (double)sim_mix_weight(m, e) / (double)sim_mix_total_weight(m);
        /* Generous: +-25% of expected plus 50 (sd is ~50 at 40%). */
        assert_in_range(counts[code], (int)(expected * 0.75) - 50, (int)(expected * 1.25) + 50);
        total += counts[code];
    }
    assert_int_equal(total, n); /* no code outside the mix */
    sim_mix_destroy(m);
}

static void test_sim_dialer_decides_zone_and_detail_from_the_mix(void **state)
{
    (void)state;
    sim_mix *m = NULL;
    char err[256];
    assert_int_equal(sim_mix_parse("14:1", &m, err, sizeof err), 0);
    sim_dialer_config cfg = {"", 100, 0, 100, 3, m, NULL};
    sim_dial_outcome o;
    memset(&o, 0, sizeof o);
    sim_dialer_decide(&cfg, "42-1", &o);
    assert_int_equal(o.call_result, 14);
    assert_int_equal(o.call_result_detail, 0);
    assert_int_equal(o.call_status_zone1, 'B');
    sim_mix_destroy(m);

    assert_int_equal(sim_mix_parse("10:1", &m, err, sizeof err), 0);
    cfg.mix = m;
    sim_dialer_decide(&cfg, "42-1", &o);
    assert_int_equal(o.call_result, 10);
    assert_int_equal(o.call_status_zone1, 'C');
    assert_true(o.call_duration_s > 0);
    sim_dial_outcome again;
    sim_dialer_decide(&cfg, "42-1", &again);
    assert_int_equal(again.call_duration_s, o.call_duration_s);
    sim_mix_destroy(m);

    assert_int_equal(sim_mix_parse("8:1", &m, err, sizeof err), 0);
    cfg.mix = m;
    sim_dialer_decide(&cfg, "42-1", &o);
    assert_int_equal(o.call_status_zone1, 'R');
    assert_int_equal(o.call_duration_s, 0);
    sim_mix_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_mix_parses_codes_and_weights_in_order),
        cmocka_unit_test(test_sim_mix_rejects_bad_input_with_reason),
        cmocka_unit_test(test_sim_mix_default_is_valid),
        cmocka_unit_test(test_sim_mix_pick_is_deterministic_and_seed_dependent),
        cmocka_unit_test(test_sim_mix_single_entry_always_chosen),
        cmocka_unit_test(test_sim_mix_distribution_follows_weights_over_10k_accounts),
        cmocka_unit_test(test_sim_dialer_decides_zone_and_detail_from_the_mix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* rs_map: Cisco CallResult -> ECM outcome, as DESIGN.md "Cisco side" lists it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"
#include "rs_map.h"

#define O(x) ECM__V1__OUTCOME__OUTCOME_##x

/* DESIGN.md's list, written out independently of db/001_init.sql so that a
 * wrong row in the migration fails here. */
static const struct {
    int code;
    Ecm__V1__Outcome outcome;
} design_codes[] = {
    {2, O(NETWORK_ERROR)},       {3, O(INVALID_NUMBER)},
    {7, O(INVALID_NUMBER)},      {5, O(INVALID_NUMBER)},
    {4, O(NETWORK_ERROR)},       {6, O(NETWORK_ERROR)},
    {27, O(NETWORK_ERROR)},      {8, O(NO_ANSWER)},
    {28, O(NO_ANSWER)},          {9, O(BUSY)},
    {10, O(CONNECTED)},          {11, O(FAX)},
    {12, O(ANSWERING_MACHINE)},  {22, O(ANSWERING_MACHINE)},
    {13, O(ABANDONED)},          {16, O(ABANDONED)},
    {20, O(ABANDONED)},          {21, O(ABANDONED)},
    {14, O(CALLBACK_REQUESTED)}, {15, O(CALLBACK_REQUESTED)},
    {17, O(AGENT_REJECTED)},     {18, O(AGENT_REJECTED)},
    {19, O(AGENT_REJECTED)},     {33, O(AGENT_REJECTED)},
    {23, O(WRONG_PARTY)},        {24, O(WRONG_PARTY)},
    {25, O(NOT_ATTEMPTED)},      {26, O(DNC)},
    {29, O(NETWORK_ERROR)},      {30, O(NETWORK_ERROR)},
    {31, O(NETWORK_ERROR)},      {32, O(NETWORK_ERROR)},
};
#define N_DESIGN_CODES (sizeof(design_codes) / sizeof(design_codes[0]))

/* ---- pure lookup on a small table ---- */

static void test_rs_map_lookup_returns_the_tables_outcome(void **state)
{
    (void)state;
    rs_map_entry e[] = {{9, O(BUSY), 1}, {25, O(NOT_ATTEMPTED), 0}, {10, O(CONNECTED), 1}};
    rs_map *m = rs_map_new(e, 3);
    assert_non_null(m);
    Ecm__V1__Outcome o = O(UNSPECIFIED);
    int counts = -1;
    assert_int_equal(rs_map_lookup(m, 9, &o, &counts), 1);
    assert_int_equal(o, O(BUSY));
    assert_int_equal(counts, 1);
    assert_int_equal(rs_map_lookup(m, 10, &o, &counts), 1);
    assert_int_equal(o, O(CONNECTED));
    assert_int_equal(rs_map_lookup(m, 25, &o, &counts), 1);
    assert_int_equal(o, O(NOT_ATTEMPTED));
    assert_int_equal(counts, 0);
    rs_map_destroy(m);
}

static void test_rs_map_unknown_code_is_network_error_that_counts(void **state)
{
    (void)state;
    rs_map_entry e[] = {{25, O(NOT_ATTEMPTED), 0}};
    rs_map *m = rs_map_new(e, 1);
    assert_non_null(m);
    Ecm__V1__Outcome o = O(UNSPECIFIED);
    int counts = 0;
    assert_int_equal(rs_map_lookup(m, 99, &o, &counts), 0);
    assert_int_equal(o, O(NETWORK_ERROR));
    assert_int_equal(counts, 1);
    /* an empty or missing map behaves the same */
    assert_int_equal(rs_map_lookup(NULL, 9, &o, &counts), 0);
    assert_int_equal(o, O(NETWORK_ERROR));
    rs_map_destroy(m);
}

static void test_rs_map_later_duplicate_replaces_earlier(void **state)
{
    (void)state;
    rs_map_entry e[] = {{8, O(NO_ANSWER), 1}, {9, O(BUSY), 1}, {8, O(BUSY), 0}};
    rs_map *m = rs_map_new(e, 3);
    assert_non_null(m);
    assert_int_equal(rs_map_size(m), 2);
    Ecm__V1__Outcome o;
    int counts;
    assert_int_equal(rs_map_lookup(m, 8, &o, &counts), 1);
    assert_int_equal(o, O(BUSY));
    assert_int_equal(counts, 0);
    rs_map_destroy(m);
}

static void test_rs_map_resolve_counts_only_unknown_codes(void **state)
{
    (void)state;
    ecm_metrics *metrics = ecm_metrics_new();
    assert_non_null(metrics);
    ecm_metric *unknown = ecm_metrics_counter(metrics, "test_unknown_total", "unknown codes");
    rs_map_entry e[] = {{9, O(BUSY), 1}};
    rs_map *m = rs_map_new(e, 1);
    Ecm__V1__Outcome o;
    int counts;
    assert_int_equal(rs_map_resolve(m, 9, unknown, &o, &counts), 1);
    assert_true(ecm_metric_value(unknown) == 0.0);
    assert_int_equal(rs_map_resolve(m, 77, unknown, &o, &counts), 0);
    assert_int_equal(rs_map_resolve(m, 78, unknown, &o, &counts), 0);
    assert_int_equal(o, O(NETWORK_ERROR));
    assert_true(ecm_metric_value(unknown) == 2.0);
    rs_map_destroy(m);
    ecm_metrics_destroy(metrics);
}

/* ---- the map loaded from the migration's data ---- */

typedef struct {
    ecm_test_db *scratch;
    ecm_pg *pg;
} map_db;

static int scratch_setup(void **state)
{
    *state = NULL;
    ecm_test_db *scratch = ecm_test_db_new_migrated("ecm_resultsync_map");
    if (!scratch)
        return 0;
    map_db *db = calloc(1, sizeof(*db));
    assert_non_null(db);
    db->scratch = scratch;
    *state = db;
    db->pg = ecm_pg_new(scratch->dsn, NULL);
    if (!db->pg || !ecm_pg_conn(db->pg))
        return -1;
    return 0;
}

static int scratch_teardown(void **state)
{
    map_db *db = *state;
    if (!db)
        return 0;
    ecm_pg_destroy(db->pg);
    (void)ecm_test_db_destroy(db->scratch);
    free(db);
    return 0;
}

static void test_rs_map_migration_data_maps_every_design_code(void **state)
{
    map_db *db = ecm_test_need(*state);
    rs_map *m = rs_map_load(db->pg, RS_MAP_KIND_UCCE);
    assert_non_null(m);
    assert_int_equal(rs_map_size(m), N_DESIGN_CODES);
    for (size_t i = 0; i < N_DESIGN_CODES; i++) {
        Ecm__V1__Outcome o = O(UNSPECIFIED);
        int counts = -1;
        assert_int_equal(rs_map_lookup(m, design_codes[i].code, &o, &counts), 1);
        if (o != design_codes[i].outcome)
            fail_msg("CallResult %d maps to %s, DESIGN.md says %s", design_codes[i].code,
                     ecm_event_outcome_name(o), ecm_event_outcome_name(design_codes[i].outcome));
        /* only 25 (flushed without an attempt) goes back to pending uncounted */
        assert_int_equal(counts, design_codes[i].code == 25 ? 0 : 1);
    }
    Ecm__V1__Outcome o = O(UNSPECIFIED);
    int counts = 0;
    assert_int_equal(rs_map_lookup(m, 1, &o, &counts), 0);
    assert_int_equal(o, O(NETWORK_ERROR));
    assert_int_equal(counts, 1);
    rs_map_destroy(m);
}

static void test_rs_map_reload_follows_a_deployment_override(void **state)
{
    map_db *db = ecm_test_need(*state);
    assert_int_equal(ecm_pg_cmd(db->pg,
                                "UPDATE call_result_map SET outcome = 'BUSY', "
                                "counts_as_attempt = false WHERE source_kind = 'ucce' "
                                "AND call_result = 8",
                                0, NULL),
                     0);
    /* a row naming no ECM outcome is left out, so its code maps as unknown */
    assert_int_equal(ecm_pg_cmd(db->pg,
                                "INSERT INTO call_result_map (source_kind, call_result, "
                                "outcome, counts_as_attempt, description) VALUES ('ucce', 40, "
                                "'NOT_AN_OUTCOME', false, 'test')",
                                0, NULL),
                     0);
    rs_map *m = rs_map_load(db->pg, RS_MAP_KIND_UCCE);
    assert_non_null(m);
    Ecm__V1__Outcome o;
    int counts;
    assert_int_equal(rs_map_lookup(m, 8, &o, &counts), 1);
    assert_int_equal(o, O(BUSY));
    assert_int_equal(counts, 0);
    assert_int_equal(rs_map_lookup(m, 40, &o, &counts), 0);
    assert_int_equal(o, O(NETWORK_ERROR));
    assert_int_equal(counts, 1);
    rs_map_destroy(m);
}

/* UCCX's callResult codes (docs/cisco-research.md 1.4) and what ECM makes of
 * them; counts is 0 where the customer's phone was not dialled. */
static const struct {
    int code;
    Ecm__V1__Outcome outcome;
    int counts;
} uccx_codes[] = {
    {1, O(CONNECTED), 1},
    {2, O(FAX), 1},
    {3, O(ANSWERING_MACHINE), 1},
    {4, O(INVALID_NUMBER), 1},
    {5, O(DNC), 1},
    {6, O(WRONG_PARTY), 1},
    {7, O(WRONG_PARTY), 1},
    {8, O(CALLBACK_REQUESTED), 1},
    {9, O(AGENT_REJECTED), 0},
    {10, O(AGENT_REJECTED), 0},
    {11, O(BUSY), 1},
    {12, O(AGENT_REJECTED), 0},
    {14, O(NOT_ATTEMPTED), 0},
    {15, O(NO_ANSWER), 1},
    {16, O(ABANDONED), 1},
    {17, O(NETWORK_ERROR), 1},
    {18, O(ABANDONED), 1},
};
#define N_UCCX_CODES (sizeof(uccx_codes) / sizeof(uccx_codes[0]))

static void test_rs_map_uccx_kind_loads_only_the_uccx_codes(void **state)
{
    map_db *db = ecm_test_need(*state);
    rs_map *m = rs_map_load(db->pg, RS_MAP_KIND_UCCX);
    assert_non_null(m);
    assert_int_equal(rs_map_size(m), N_UCCX_CODES);
    for (size_t i = 0; i < N_UCCX_CODES; i++) {
        Ecm__V1__Outcome o = O(UNSPECIFIED);
        int counts = -1;
        assert_int_equal(rs_map_lookup(m, uccx_codes[i].code, &o, &counts), 1);
        if (o != uccx_codes[i].outcome)
            fail_msg("UCCX callResult %d maps to %s, expected %s", uccx_codes[i].code,
                     ecm_event_outcome_name(o), ecm_event_outcome_name(uccx_codes[i].outcome));
        assert_int_equal(counts, uccx_codes[i].counts);
    }
    /* 13 is never written by UCCX, 19.. do not exist: unknown codes */
    Ecm__V1__Outcome o = O(UNSPECIFIED);
    int counts = 0;
    assert_int_equal(rs_map_lookup(m, 13, &o, &counts), 0);
    assert_int_equal(rs_map_lookup(m, 26, &o, &counts), 0);
    rs_map_destroy(m);

    /* The same code means different things per kind: 10 and 11. */
    rs_map *ucce = rs_map_load(db->pg, RS_MAP_KIND_UCCE);
    rs_map *uccx = rs_map_load(db->pg, RS_MAP_KIND_UCCX);
    assert_non_null(ucce);
    assert_non_null(uccx);
    assert_int_equal(rs_map_lookup(ucce, 10, &o, &counts), 1);
    assert_int_equal(o, O(CONNECTED));
    assert_int_equal(rs_map_lookup(uccx, 10, &o, &counts), 1);
    assert_int_equal(o, O(AGENT_REJECTED));
    assert_int_equal(rs_map_lookup(ucce, 11, &o, &counts), 1);
    assert_int_equal(o, O(FAX));
    assert_int_equal(rs_map_lookup(uccx, 11, &o, &counts), 1);
    assert_int_equal(o, O(BUSY));
    rs_map_destroy(ucce);
    rs_map_destroy(uccx);
    /* A kind with no rows loads as an empty map, not as a failure. */
    rs_map *none = rs_map_load(db->pg, "nobody");
    assert_non_null(none);
    assert_int_equal(rs_map_size(none), 0);
    rs_map_destroy(none);
}

static void test_rs_map_override_of_one_kind_leaves_the_other(void **state)
{
    map_db *db = ecm_test_need(*state);
    assert_int_equal(ecm_pg_cmd(db->pg,
                                "UPDATE call_result_map SET outcome = 'NO_ANSWER' "
                                "WHERE source_kind = 'uccx' AND call_result = 11",
                                0, NULL),
                     0);
    rs_map *uccx = rs_map_load(db->pg, RS_MAP_KIND_UCCX);
    rs_map *ucce = rs_map_load(db->pg, RS_MAP_KIND_UCCE);
    assert_non_null(uccx);
    assert_non_null(ucce);
    Ecm__V1__Outcome o;
    int counts;
    assert_int_equal(rs_map_lookup(uccx, 11, &o, &counts), 1);
    assert_int_equal(o, O(NO_ANSWER));
    assert_int_equal(rs_map_lookup(ucce, 11, &o, &counts), 1);
    assert_int_equal(o, O(FAX));
    rs_map_destroy(uccx);
    rs_map_destroy(ucce);
}

/* Migration 013 on a DB that ran the Dialer_Detail reader under its old
 * watermark name: the position carries over to the new name. */
static void test_rs_map_migration_013_renames_the_watermark_keeping_it(void **state)
{
    (void)state;
    if (!ecm_test_pg_dsn())
        skip();
    ecm_test_db *db = ecm_test_db_new("ecm_resultsync_mig");
    assert_non_null(db);
    PGconn *c = ecm_test_pg_connect(db->dsn);
    size_t before = 0;
    while (before < ecm_migrations_count && ecm_migrations[before].version < 13)
        before++;
    assert_true(before < ecm_migrations_count);
    assert_int_equal(ecm_migrate_apply(c, ecm_migrations, before), (int)before);
    ecm_test_pg_exec(c, "INSERT INTO sync_watermarks (source, position) "
                        "VALUES ('uccx:Dialer_Detail', 123456)");
    ecm_test_pg_exec(c, "INSERT INTO call_result_map VALUES (99, 'BUSY', true, 'local row')");
    assert_true(ecm_migrate_apply(c, ecm_migrations, ecm_migrations_count) > 0);
    assert_int_equal(ecm_test_pg_int(c, "SELECT position FROM sync_watermarks "
                                        "WHERE source = 'ucce:Dialer_Detail'"),
                     123456);
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM sync_watermarks "
                                        "WHERE source = 'uccx:Dialer_Detail'"),
                     0);
    /* Rows a deployment added before 013 are UCCE's, as every row was. */
    assert_int_equal(ecm_test_pg_int(c, "SELECT count(*) FROM call_result_map "
                                        "WHERE source_kind = 'ucce' AND call_result = 99"),
                     1);
    PQfinish(c);
    assert_int_equal(ecm_test_db_destroy(db), 0);
}

int main(void)
{
    ecm_log_init("test_rs_map", ECM_LOG_ERROR);
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_rs_map_lookup_returns_the_tables_outcome),
        cmocka_unit_test(test_rs_map_unknown_code_is_network_error_that_counts),
        cmocka_unit_test(test_rs_map_later_duplicate_replaces_earlier),
        cmocka_unit_test(test_rs_map_resolve_counts_only_unknown_codes),
    };
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test(test_rs_map_migration_data_maps_every_design_code),
        cmocka_unit_test(test_rs_map_reload_follows_a_deployment_override),
        cmocka_unit_test(test_rs_map_uccx_kind_loads_only_the_uccx_codes),
        cmocka_unit_test(test_rs_map_override_of_one_kind_leaves_the_other),
    };
    const struct CMUnitTest migration[] = {
        cmocka_unit_test(test_rs_map_migration_013_renames_the_watermark_keeping_it),
    };
    int failed = cmocka_run_group_tests_name("rs_map", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("rs_map_migration", migration, NULL, NULL);
    failed += cmocka_run_group_tests_name("rs_map_db", with_db, scratch_setup, scratch_teardown);
    return failed;
}

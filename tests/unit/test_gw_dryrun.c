/* gw_dryrun: a strategy's dry run through the HTTP routes, with
 * ECM_TEST_PG_DSN against a scratch database: an unsaved strategy for a
 * contact in Sydney across the April DST change (legal hours only), a saved
 * one with a campaign's window, zone and end, and the refusals. */
#include <jansson.h>

#include "ecm_http.h"
#include "gw_app.h"
#include "gw_campaigns.h"
#include "gw_dryrun.h"
#include "gw_strategies.h"
#include "gw_test_support.h"

/* This test's ports. */
#define PORT_FIRST 7790
#define PORT_LAST 7809

typedef gw_test_api fixture;

static int group_setup(void **state)
{
    ecm_test_log_init("test_gw_dryrun", ECM_LOG_ERROR);
    gw_app settings = gw_test_settings();
    static const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_strategies_register,
                                               gw_dryrun_register, NULL};
    *state = gw_test_api_new("ecm_gwapi_dryrun", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

/* Attempt i (0-based) of a dry-run answer. */
static json_t *attempt(const json_t *answer, size_t i)
{
    json_t *a = json_array_get(json_object_get(answer, "attempts"), i);
    if (!a) {
        char *d = json_dumps(answer, JSON_COMPACT);
        fail_msg("no attempt %zu in %s", i, d ? d : "(null)");
    }
    return a;
}

static const char *decision_str(const json_t *answer, size_t i, const char *key)
{
    return gw_test_jstr(json_object_get(attempt(answer, i), "decision"), key);
}

#define STRATEGY                                                                                   \
    "{\"name\": \"Try\", \"max_attempts\": 10, \"max_attempts_per_day\": 2,"                       \
    " \"rules\": [{\"outcome\": \"NO_ANSWER\", \"action\": \"retry\", \"delay_seconds\": 10800,"   \
    " \"max_attempts\": 5}, {\"outcome\": \"BUSY\", \"action\": \"retry\","                        \
    " \"delay_seconds\": 1800, \"max_attempts\": 5}]}"

/* Without a campaign only the legal hours (08:00-21:00) hold the contact:
 * Saturday 08:00 AEDT, 11:00, then Saturday's two are used and Sunday,
 * after the change, opens at 08:00 AEST, an hour later in UTC. */
static void test_dryrun_unsaved_strategy_in_sydney_across_dst(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *answer = NULL;
    long status = gw_test_call(f, "POST", "/api/v1/strategies/dry-run",
                               "{\"strategy\": " STRATEGY ", \"time_zone\": \"Australia/Sydney\","
                               " \"start_at\": \"2026-04-04T07:00:00+11:00\","
                               " \"outcomes\": [\"NO_ANSWER\", \"NO_ANSWER\", \"BUSY\"]}",
                               &answer);
    assert_int_equal(status, 200);
    assert_true(json_is_true(json_object_get(answer, "dispatched")));
    assert_string_equal(gw_test_jstr(answer, "time_zone"), "Australia/Sydney");
    assert_string_equal(
        gw_test_jstr(json_object_get(json_object_get(answer, "first_attempt"), "moved"), "by"),
        "window");
    assert_string_equal(gw_test_jstr(attempt(answer, 0), "at"), "2026-04-03T21:00:00.000Z");
    assert_string_equal(gw_test_jstr(attempt(answer, 0), "local_at"), "2026-04-04T08:00:00+11:00");
    assert_string_equal(gw_test_jstr(attempt(answer, 1), "local_at"), "2026-04-04T11:00:00+11:00");
    assert_string_equal(gw_test_jstr(attempt(answer, 2), "at"), "2026-04-04T22:00:00.000Z");
    assert_string_equal(gw_test_jstr(attempt(answer, 2), "local_at"), "2026-04-05T08:00:00+10:00");
    assert_string_equal(gw_test_jstr(attempt(answer, 2), "outcome"), "BUSY");
    assert_string_equal(gw_test_jstr(json_object_get(attempt(answer, 2), "moved"), "by"),
                        "daily_cap");
    /* after the BUSY: 30 minutes later, same channel and phone */
    assert_string_equal(decision_str(answer, 2, "action"), "retry");
    assert_string_equal(decision_str(answer, 2, "local_at"), "2026-04-05T08:30:00+10:00");
    assert_string_equal(decision_str(answer, 2, "channel"), "voice");
    assert_int_equal(json_array_size(json_object_get(answer, "attempts")), 3);
    assert_int_equal(gw_test_jint(answer, "outcomes_unused"), 0);
    assert_true(json_is_null(json_object_get(answer, "strategy_id")));
    json_decref(answer);
}

/* A saved strategy with a campaign: its window (09:00-17:00) in the
 * campaign's zone, and its end closes the contact EXPIRED. */
static void test_dryrun_saved_strategy_with_a_campaign(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *s = NULL, *c = NULL, *answer = NULL;
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/strategies",
                                  "{\"name\": \"Saved\", \"rules\": [{\"outcome\": \"NO_ANSWER\","
                                  " \"action\": \"retry\", \"delay_seconds\": 86400,"
                                  " \"max_attempts\": 5}, {\"outcome\": \"CONNECTED\","
                                  " \"action\": \"close\"}]}",
                                  &s),
                     201);
    char body[1024], path[128];
    gw_test_format(body, sizeof body,
                   "{\"name\": \"Dry\", \"channel\": \"voice_ivr\", \"strategy_id\": %lld,"
                   " \"cisco\": {\"kind\": \"uccx\", \"campaign_id\": \"7\"},"
                   " \"time_zone\": \"Australia/Sydney\", \"region\": \"AU\","
                   " \"end_at\": \"2027-04-06T12:00:00+10:00\","
                   " \"call_window\": {\"mon\": [[\"09:00\", \"17:00\"]],"
                   " \"tue\": [[\"09:00\", \"17:00\"]], \"sat\": [[\"09:00\", \"17:00\"]],"
                   " \"sun\": [[\"09:00\", \"17:00\"]]}}",
                   gw_test_jint(s, "id"));
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/campaigns", body, &c), 201);
    gw_test_format(path, sizeof path, "/api/v1/strategies/%lld/dry-run", gw_test_jint(s, "id"));
    gw_test_format(body, sizeof body,
                   "{\"campaign_id\": %lld, \"start_at\": \"2027-04-03T18:00:00+11:00\","
                   " \"outcomes\": [\"NO_ANSWER\", \"NO_ANSWER\", \"NO_ANSWER\", \"NO_ANSWER\"]}",
                   gw_test_jint(c, "id"));
    assert_int_equal(gw_test_call(f, "POST", path, body, &answer), 200);
    assert_int_equal(gw_test_jint(answer, "strategy_id"), gw_test_jint(s, "id"));
    /* Saturday 18:00 is after closing: Sunday 09:00 AEST; then 24 h later
     * each day, Monday, Tuesday; Wednesday is past the end. */
    assert_string_equal(gw_test_jstr(attempt(answer, 0), "local_at"), "2027-04-04T09:00:00+10:00");
    assert_string_equal(gw_test_jstr(attempt(answer, 1), "local_at"), "2027-04-05T09:00:00+10:00");
    assert_string_equal(gw_test_jstr(attempt(answer, 2), "local_at"), "2027-04-06T09:00:00+10:00");
    assert_string_equal(decision_str(answer, 2, "action"), "close");
    assert_string_equal(decision_str(answer, 2, "outcome"), "EXPIRED");
    assert_int_equal(gw_test_jint(answer, "outcomes_unused"), 1);
    json_decref(answer);
    json_decref(s);
    json_decref(c);
}

static void test_dryrun_refusals(void **state)
{
    fixture *f = ecm_test_need(*state);
    static const struct {
        const char *path, *body, *detail;
        long status;
    } cases[] = {
        {"/api/v1/strategies/dry-run", "{\"time_zone\": \"UTC\", \"outcomes\": [\"BUSY\"]}",
         "strategy:", 400},
        {"/api/v1/strategies/dry-run",
         "{\"strategy\": " STRATEGY ", \"time_zone\": \"Mars/Olympus\", \"outcomes\": [\"BUSY\"]}",
         "time_zone:", 400},
        {"/api/v1/strategies/dry-run",
         "{\"strategy\": " STRATEGY ", \"time_zone\": \"UTC\", \"outcomes\": [\"EXPIRED\"]}",
         "outcomes[0]:", 400},
        {"/api/v1/strategies/dry-run",
         "{\"strategy\": " STRATEGY ", \"time_zone\": \"UTC\", \"outcomes\": []}",
         "outcomes:", 400},
        {"/api/v1/strategies/dry-run",
         "{\"strategy\": {\"name\": \"x\"}, \"time_zone\": \"UTC\", \"outcomes\": [\"BUSY\"]}",
         "strategy.rules:", 400},
        {"/api/v1/strategies/dry-run",
         "{\"strategy\": " STRATEGY ", \"time_zone\": \"UTC\", \"phones\": [\"pigeon\"],"
         " \"outcomes\": [\"BUSY\"]}",
         "phones:", 400},
        {"/api/v1/strategies/dry-run",
         "{\"strategy\": " STRATEGY ", \"time_zone\": \"UTC\", \"colour\": 1,"
         " \"outcomes\": [\"BUSY\"]}",
         "body:", 400},
        {"/api/v1/strategies/1/dry-run",
         "{\"strategy\": " STRATEGY ", \"time_zone\": \"UTC\", \"outcomes\": [\"BUSY\"]}",
         "body:", 400},
        {"/api/v1/strategies/1/dry-run", "{\"campaign_id\": 999999, \"outcomes\": [\"BUSY\"]}",
         "campaign_id:", 400},
        {"/api/v1/strategies/999999/dry-run", "{\"time_zone\": \"UTC\", \"outcomes\": [\"BUSY\"]}",
         "strategy 999999", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *answer = NULL;
        long status = gw_test_call(f, "POST", cases[i].path, cases[i].body, &answer);
        if (status != cases[i].status) {
            fail_msg("case %zu: status %ld", i, status);
        }
        const char *detail = gw_test_jstr(answer, "detail");
        if (!strstr(detail, cases[i].detail)) {
            fail_msg("case %zu: detail '%s' lacks '%s'", i, detail, cases[i].detail);
        }
        json_decref(answer);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dryrun_unsaved_strategy_in_sydney_across_dst),
        cmocka_unit_test(test_dryrun_saved_strategy_with_a_campaign),
        cmocka_unit_test(test_dryrun_refusals),
    };
    return cmocka_run_group_tests(tests, group_setup, gw_test_api_teardown);
}

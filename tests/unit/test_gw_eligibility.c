/* GET /api/v1/contacts/{id}/eligibility (gw_eligibility) against a scratch
 * database, business time fixed at 2026-03-09T14:00:00Z (ECM_CLOCK_FIXED):
 * the answer of lib/ecm_eligibility as JSON (a contact outside its window
 * in Karachi, one whose campaign is paused, one on a DNC list), 404 for a
 * contact that does not exist. The answers are logged for
 * tests/api/openapi_check.py (scripts/test.sh) like every gateway test's. */
#include <jansson.h>

#include "ecm_pg.h"
#include "gw_app.h"
#include "gw_eligibility.h"
#include "gw_test_support.h"

/* This test's ports. */
#define PORT_FIRST 22500
#define PORT_LAST 22519

#define NOW "2026-03-09T14:00:00Z"
#define NINE_TO_SIX                                                                                \
    "{\"mon\": [[\"09:00\", \"18:00\"]], \"tue\": [[\"09:00\", \"18:00\"]], "                      \
    "\"wed\": [[\"09:00\", \"18:00\"]], \"thu\": [[\"09:00\", \"18:00\"]], "                       \
    "\"fri\": [[\"09:00\", \"18:00\"]], \"sat\": [[\"09:00\", \"18:00\"]], "                       \
    "\"sun\": [[\"09:00\", \"18:00\"]]}"

typedef gw_test_api fixture;

static int group_setup(void **state)
{
    ecm_test_log_init("test_gw_eligibility", ECM_LOG_ERROR);
    setenv("ECM_CLOCK_FIXED", NOW, 1);
    gw_app settings = gw_test_settings();
    static const gw_test_routes_fn routes[] = {gw_eligibility_register, NULL};
    *state = gw_test_api_new("ecm_elig_gw", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

static int group_teardown(void **state)
{
    gw_test_api_destroy(*state);
    unsetenv("ECM_CLOCK_FIXED");
    return 0;
}

static long long make_campaign(const fixture *f, const char *state)
{
    return ecm_test_pg_int(f->conn,
                           "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                           " cisco_campaign_id, time_zone, call_window) SELECT 'el', 'voice_ivr',"
                           " '%s', id, 'uccx', '7', 'UTC', '" NINE_TO_SIX "' FROM strategies"
                           " WHERE name = 'Default' RETURNING id",
                           state);
}

static long long make_contact(const fixture *f, long long campaign, const char *phone,
                              const char *zone)
{
    return ecm_test_pg_int(f->conn,
                           "INSERT INTO contacts (campaign_id, phones, time_zone, state) VALUES "
                           "(%lld, ARRAY['%s'], '%s', 'queued') RETURNING id",
                           campaign, phone, zone);
}

static json_t *get(const fixture *f, long long id, long want)
{
    char path[96];
    (void)gw_test_format(path, sizeof(path), "/api/v1/contacts/%lld/eligibility", id);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), want);
    assert_non_null(a);
    return a;
}

static void test_gw_eligibility_outside_the_window_in_karachi(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long c = make_campaign(f, "active");
    long long k = make_contact(f, c, "+922134567890", "Asia/Karachi");
    json_t *a = get(f, k, 200);
    assert_int_equal(gw_test_jint(a, "contact_id"), k);
    assert_string_equal(gw_test_jstr(a, "state"), "waiting");
    assert_string_equal(gw_test_jstr(a, "at"), "2026-03-09T14:00:00.000Z");
    assert_string_equal(gw_test_jstr(a, "until"), "2026-03-10T04:00:00.000Z");
    assert_string_equal(gw_test_jstr(a, "until_local"), "2026-03-10T09:00:00+05:00");
    assert_string_equal(gw_test_jstr(a, "zone"), "Asia/Karachi");
    assert_string_equal(gw_test_jstr(a, "channel"), "voice");
    assert_int_equal(json_array_size(json_object_get(a, "dnc")), 2);
    json_decref(a);
}

static void test_gw_eligibility_paused_and_dnc(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long paused = make_campaign(f, "paused");
    long long k = make_contact(f, paused, "+12125550100", "America/New_York");
    json_t *a = get(f, k, 200);
    assert_string_equal(gw_test_jstr(a, "state"), "campaign_not_active");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "campaign"), "state")),
                        "paused");
    assert_true(json_is_null(json_object_get(a, "until")));
    json_decref(a);

    long long c = make_campaign(f, "active");
    long long d = make_contact(f, c, "+12125550111", "America/New_York");
    ecm_test_pg_exec(f->conn, "INSERT INTO dnc (phone, reason) VALUES ('+12125550111', 'asked')");
    a = get(f, d, 200);
    assert_string_equal(gw_test_jstr(a, "state"), "blocked");
    assert_string_equal(gw_test_jstr(a, "outcome"), "DNC");
    json_t *first = json_array_get(json_object_get(a, "dnc"), 0);
    assert_true(json_is_true(json_object_get(first, "listed")));
    assert_string_equal(gw_test_jstr(first, "scope"), "global");
    assert_string_equal(gw_test_jstr(first, "reason"), "asked");
    assert_non_null(json_string_value(json_object_get(first, "since")));
    json_decref(a);
}

static void test_gw_eligibility_unknown_contact_404(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = get(f, 987654321, 404);
    assert_string_equal(gw_test_jstr(a, "type"), "https://ecm.dev/problems/not-found");
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_eligibility_outside_the_window_in_karachi),
        cmocka_unit_test(test_gw_eligibility_paused_and_dnc),
        cmocka_unit_test(test_gw_eligibility_unknown_contact_404),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* A campaign's contact rules (issue 16): "rule_sets" and "blackout_dates"
 * checked as pure functions; and, with ECM_TEST_PG_DSN, through the
 * campaigns API: the default picks (the US federal set in the US, none
 * elsewhere), picks by name and by id shown with both, unknown or doubled
 * sets refused naming the item, an active campaign's picks and days changed
 * without a pause (rules_generation moves, one audit row says what
 * changed), a PATCH that changes nothing moving nothing. */
#include <jansson.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"
#include "gw_campaign_check.h"
#include "gw_campaigns.h"
#include "gw_rules.h"
#include "gw_test_support.h"

/* This test's ports. */
#define PORT_FIRST 7770
#define PORT_LAST 7789

#define FL_SET "US-FL Florida Telephone Solicitation Act"
#define REG_F_SET "US Regulation F (debt collection)"

/* ---- validation --------------------------------------------------------- */

/* Validates a voice campaign body with extra members (",\"k\":v" text).
 * Returns 0 or -1 with *field and reason set; the body goes when done. */
static int check_extra(const char *extra, const char **field, char *reason, size_t reason_size,
                       char *field_copy, size_t field_copy_size)
{
    char text[4096];
    gw_test_format(text, sizeof(text),
                   "{\"name\":\"c\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"uccx\","
                   "\"campaign_id\":\"7\"}%s}",
                   extra);
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    gw_campaign_input in;
    *field = NULL;
    int rc = gw_campaign_validate(body, &in, field, reason, reason_size);
    gw_test_format(field_copy, field_copy_size, "%s", *field ? *field : "");
    json_decref(body);
    return rc;
}

static void assert_campaign_refused(const char *extra, const char *want_field)
{
    const char *field;
    char reason[200], copy[64];
    if (check_extra(extra, &field, reason, sizeof(reason), copy, sizeof(copy)) == 0) {
        fail_msg("accepted: %s", extra);
    }
    if (strcmp(copy, want_field) != 0) {
        fail_msg("%s: refused as %s (%s), wanted %s", extra, copy, reason, want_field);
    }
}

static void test_campaign_rule_members_checked(void **state)
{
    (void)state;
    const char *field;
    char reason[200], copy[64];
    assert_int_equal(check_extra(",\"rule_sets\":[\"US federal (TCPA)\",3,{\"id\":4,\"name\":"
                                 "\"x\"}],\"blackout_dates\":[{\"date\":\"2026-12-24\","
                                 "\"reason\":\"closed\"},{\"date\":\"2026-12-31\"}]",
                                 &field, reason, sizeof(reason), copy, sizeof(copy)),
                     0);
    assert_int_equal(check_extra(",\"rule_sets\":[],\"blackout_dates\":null", &field, reason,
                                 sizeof(reason), copy, sizeof(copy)),
                     0);
    assert_campaign_refused(",\"rule_sets\":\"US federal (TCPA)\"", "rule_sets");
    assert_campaign_refused(",\"rule_sets\":[\"a\",\"\"]", "rule_sets[1]");
    assert_campaign_refused(",\"rule_sets\":[0]", "rule_sets[0]");
    assert_campaign_refused(",\"rule_sets\":[{\"name\":\"a\"}]", "rule_sets[0]");
    assert_campaign_refused(",\"rule_sets\":[true]", "rule_sets[0]");
    assert_campaign_refused(",\"blackout_dates\":[\"2026-12-24\"]", "blackout_dates[0]");
    assert_campaign_refused(",\"blackout_dates\":[{\"date\":\"2026-12-32\"}]",
                            "blackout_dates[0].date");
    assert_campaign_refused(",\"blackout_dates\":[{\"date\":\"2026-12-24\"},{\"date\":"
                            "\"2026-12-24\",\"reason\":\"again\"}]",
                            "blackout_dates[1].date");
    assert_campaign_refused(",\"blackout_dates\":[{\"date\":\"2026-12-24\",\"reason\":7}]",
                            "blackout_dates[0].reason");
    assert_campaign_refused(",\"blackout_dates\":[{\"date\":\"2026-12-24\",\"why\":\"x\"}]",
                            "blackout_dates[0]");
    assert_campaign_refused(",\"blackout_dates\":{}", "blackout_dates");
}

static void test_campaign_blackouts_canonical_sorted_with_reasons(void **state)
{
    (void)state;
    json_t *in = json_loads("[{\"date\":\"2026-12-31\"},{\"date\":\"2026-07-04\",\"reason\":"
                            "\"holiday\"},{\"date\":\"2026-12-24\",\"reason\":null}]",
                            0, NULL);
    json_t *want = json_loads("[{\"date\":\"2026-07-04\",\"reason\":\"holiday\"},"
                              "{\"date\":\"2026-12-24\",\"reason\":\"\"},"
                              "{\"date\":\"2026-12-31\",\"reason\":\"\"}]",
                              0, NULL);
    json_t *got = gw_campaign_blackouts_canonical(in);
    assert_true(json_equal(want, got));
    json_decref(got);
    got = gw_campaign_blackouts_canonical(NULL);
    assert_int_equal(json_array_size(got), 0);
    json_decref(got);
    json_decref(in);
    json_decref(want);
}

static void test_campaign_rules_patchable_while_active(void **state)
{
    (void)state;
    json_t *patch = json_loads("{\"rule_sets\":[],\"blackout_dates\":[]}", 0, NULL);
    const char *field = NULL;
    char reason[200];
    assert_int_equal(gw_campaign_patch_check("active", patch, &field, reason, sizeof(reason)), 0);
    assert_int_equal(gw_campaign_patch_check("paused", patch, &field, reason, sizeof(reason)), 0);
    assert_int_equal(gw_campaign_patch_check("stopped", patch, &field, reason, sizeof(reason)), 1);
    json_decref(patch);
}

/* ---- the API -------------------------------------------------------------- */

typedef gw_test_api fixture;

static int group_setup(void **state)
{
    ecm_test_log_init("test_gw_rules_campaigns", ECM_LOG_ERROR);
    gw_app settings = gw_test_settings();
    static const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_rules_register, NULL};
    *state = gw_test_api_new("ecm_gwapi_rulecamp", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

/* Creates a voice campaign with the extra members; returns its answer. */
static json_t *create(const fixture *f, const char *name, const char *extra, long want)
{
    char body[4096];
    gw_test_format(body, sizeof(body),
                   "{\"name\":\"%s\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"uccx\","
                   "\"campaign_id\":\"7\"}%s}",
                   name, extra);
    json_t *a = NULL;
    long status = gw_test_call(f, "POST", "/api/v1/campaigns", body, &a);
    if (status != want) {
        char *d = a ? json_dumps(a, JSON_COMPACT) : NULL;
        fail_msg("POST %s: %ld, wanted %ld: %s", body, status, want, d ? d : "");
    }
    return a;
}

static long long set_id(const fixture *f, const char *name)
{
    return ecm_test_pg_int(f->conn, "SELECT id FROM rule_sets WHERE name = '%s'", name);
}

static long long generation(const fixture *f)
{
    return ecm_test_pg_int(f->conn, "SELECT n FROM rules_generation");
}

/* The names of a campaign answer's rule_sets, joined by '|'. */
static const char *pick_names(const json_t *c, char *out, size_t size)
{
    out[0] = '\0';
    size_t i, len = 0;
    json_t *p;
    json_array_foreach(json_object_get(c, "rule_sets"), i, p)
    {
        assert_true(gw_test_jint(p, "id") > 0);
        len += gw_test_format(out + len, size - len, "%s%s", i ? "|" : "", gw_test_jstr(p, "name"));
    }
    return out;
}

static void test_api_campaign_default_picks_by_region(void **state)
{
    fixture *f = ecm_test_need(*state);
    char names[512];
    json_t *a = create(f, "us default", "", 201);
    assert_string_equal(pick_names(a, names, sizeof(names)), GW_RULES_DEFAULT_US_SET);
    assert_int_equal(gw_test_jint(json_array_get(json_object_get(a, "rule_sets"), 0), "id"),
                     set_id(f, GW_RULES_DEFAULT_US_SET));
    assert_int_equal(json_array_size(json_object_get(a, "blackout_dates")), 0);
    json_decref(a);
    a = create(f, "gb default", ",\"region\":\"GB\"", 201);
    assert_int_equal(json_array_size(json_object_get(a, "rule_sets")), 0);
    json_decref(a);
    /* An explicit empty list is none, in the US too. */
    a = create(f, "us none", ",\"rule_sets\":[]", 201);
    assert_int_equal(json_array_size(json_object_get(a, "rule_sets")), 0);
    json_decref(a);
}

static void test_api_campaign_picks_by_name_and_id(void **state)
{
    fixture *f = ecm_test_need(*state);
    char extra[512], names[512];
    gw_test_format(extra, sizeof(extra),
                   ",\"rule_sets\":[\"" FL_SET "\",%lld],\"blackout_dates\":[{\"date\":"
                   "\"2026-12-31\"},{\"date\":\"2026-12-24\",\"reason\":\"office closed\"}]",
                   set_id(f, REG_F_SET));
    long long gen0 = generation(f);
    json_t *a = create(f, "picks", extra, 201);
    assert_true(generation(f) > gen0);
    /* Shown by name (bytewise order), each with its id. */
    assert_string_equal(pick_names(a, names, sizeof(names)), REG_F_SET "|" FL_SET);
    json_t *want = json_loads("[{\"date\":\"2026-12-24\",\"reason\":\"office closed\"},"
                              "{\"date\":\"2026-12-31\",\"reason\":\"\"}]",
                              0, NULL);
    assert_true(json_equal(want, json_object_get(a, "blackout_dates")));
    long long id = gw_test_jint(a, "id");
    json_decref(a);
    assert_int_equal(ecm_test_pg_int(f->conn,
                                     "SELECT count(*) FROM campaign_blackouts WHERE "
                                     "campaign_id = %lld AND day = '2026-12-24' AND reason = "
                                     "'office closed'",
                                     id),
                     1);
    /* The audit row of the create names the sets. */
    assert_int_equal(ecm_test_pg_int(f->conn,
                                     "SELECT jsonb_array_length(summary->'rule_sets') FROM "
                                     "audit_log WHERE action = 'campaign.create' AND "
                                     "resource = 'campaign/%lld'",
                                     id),
                     2);
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_string_equal(pick_names(a, names, sizeof(names)), REG_F_SET "|" FL_SET);
    assert_true(json_equal(want, json_object_get(a, "blackout_dates")));
    json_decref(a);
    json_decref(want);
}

static void test_api_campaign_unknown_or_doubled_sets_refused(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long before = ecm_test_pg_int(f->conn, "SELECT count(*) FROM campaigns");
    json_t *a = create(f, "unknown", ",\"rule_sets\":[\"" FL_SET "\",\"Atlantis\"]", 400);
    assert_non_null(
        strstr(gw_test_jstr(a, "detail"), "rule_sets[1]: no rule set named 'Atlantis'"));
    json_decref(a);
    a = create(f, "unknown id", ",\"rule_sets\":[987654]", 400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "rule_sets[0]: no rule set 987654"));
    json_decref(a);
    char extra[256];
    gw_test_format(extra, sizeof(extra), ",\"rule_sets\":[\"" FL_SET "\",{\"id\":%lld}]",
                   set_id(f, FL_SET));
    a = create(f, "twice", extra, 400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "rule_sets[1]: names the rule set"));
    json_decref(a);
    assert_int_equal(ecm_test_pg_int(f->conn, "SELECT count(*) FROM campaigns"), before);
}

static void test_api_active_campaign_rules_change_without_pause(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = create(f, "live", "", 201);
    long long id = gw_test_jint(a, "id");
    json_decref(a);
    char path[64], verb[96], body[512], names[512];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    gw_test_format(verb, sizeof(verb), "%s/activate", path);
    assert_int_equal(gw_test_call(f, "POST", verb, "{}", &a), 200);
    assert_string_equal(gw_test_jstr(a, "state"), "active");
    json_decref(a);

    long long gen0 = generation(f);
    gw_test_format(body, sizeof(body),
                   "{\"rule_sets\":[\"" GW_RULES_DEFAULT_US_SET "\",\"" FL_SET "\"],"
                   "\"blackout_dates\":[{\"date\":\"2026-12-25\",\"reason\":\"Christmas\"}]}");
    assert_int_equal(gw_test_call(f, "PATCH", path, body, &a), 200);
    assert_string_equal(gw_test_jstr(a, "state"), "active");
    assert_string_equal(pick_names(a, names, sizeof(names)), GW_RULES_DEFAULT_US_SET "|" FL_SET);
    assert_int_equal(json_array_size(json_object_get(a, "blackout_dates")), 1);
    json_decref(a);
    long long gen1 = generation(f);
    assert_true(gen1 > gen0);
    /* One audit row, saying the picks and days went from what to what. */
    char *summary = ecm_test_pg_text(f->conn,
                                     "SELECT summary::text FROM audit_log WHERE action = "
                                     "'campaign.update' AND resource = 'campaign/%lld'",
                                     id);
    json_t *s = json_loads(summary, 0, NULL);
    free(summary);
    assert_int_equal(json_array_size(json_object_get(json_object_get(s, "rule_sets"), "from")), 1);
    assert_int_equal(json_array_size(json_object_get(json_object_get(s, "rule_sets"), "to")), 2);
    assert_int_equal(json_array_size(json_object_get(json_object_get(s, "blackout_dates"), "to")),
                     1);
    json_decref(s);

    /* The same picks again, by id and in another order: no change at all. */
    gw_test_format(body, sizeof(body), "{\"rule_sets\":[%lld,%lld]}", set_id(f, FL_SET),
                   set_id(f, GW_RULES_DEFAULT_US_SET));
    assert_int_equal(gw_test_call(f, "PATCH", path, body, &a), 200);
    json_decref(a);
    assert_int_equal(generation(f), gen1);
    assert_int_equal(ecm_test_pg_int(f->conn,
                                     "SELECT count(*) FROM audit_log WHERE action = "
                                     "'campaign.update' AND resource = 'campaign/%lld'",
                                     id),
                     1);

    /* null: none; the days alone stay. */
    assert_int_equal(gw_test_call(f, "PATCH", path, "{\"rule_sets\":null}", &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "rule_sets")), 0);
    assert_int_equal(json_array_size(json_object_get(a, "blackout_dates")), 1);
    json_decref(a);
    assert_true(generation(f) > gen1);
    assert_int_equal(
        ecm_test_pg_int(f->conn, "SELECT count(*) FROM campaign_rule_sets WHERE campaign_id = %lld",
                        id),
        0);
    /* A set the campaign no longer uses can go. */
    gw_test_format(body, sizeof(body), "{\"rule_sets\":[\"" REG_F_SET "\"]}");
    assert_int_equal(gw_test_call(f, "PATCH", path, body, &a), 200);
    json_decref(a);
    gw_test_format(verb, sizeof(verb), "/api/v1/rule-sets/%lld", set_id(f, REG_F_SET));
    assert_int_equal(gw_test_call(f, "DELETE", verb, NULL, &a), 409);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "PATCH", path, "{\"rule_sets\":[\"Atlantis\"]}", &a), 400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "rule_sets[0]"));
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_campaign_rule_members_checked),
        cmocka_unit_test(test_campaign_blackouts_canonical_sorted_with_reasons),
        cmocka_unit_test(test_campaign_rules_patchable_while_active),
    };
    const struct CMUnitTest api[] = {
        cmocka_unit_test(test_api_campaign_default_picks_by_region),
        cmocka_unit_test(test_api_campaign_picks_by_name_and_id),
        cmocka_unit_test(test_api_campaign_unknown_or_doubled_sets_refused),
        cmocka_unit_test(test_api_active_campaign_rules_change_without_pause),
    };
    int failed = cmocka_run_group_tests_name("campaign contact rules", pure, NULL, NULL);
    return failed + cmocka_run_group_tests_name("campaign contact rules api", api, group_setup,
                                                gw_test_api_teardown);
}

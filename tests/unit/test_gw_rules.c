/* gw_rule_check: a rule set body validated as a pure function (each refusal
 * names the member, the canonical document fills the defaults); and, with
 * ECM_TEST_PG_DSN, the rule-set API against a scratch database: the shipped
 * files' shape round trip (POST then GET gives the canonical document, and
 * every shipped rules/<name>.json passes the validation and comes back
 * from the table as the validation makes it; rules/<name>.json all of them), a shipped set edited
 * becomes the customer's own, a set in use is not deleted, each change one audit row. */
#include <glob.h>
#include <stdio.h>

#include <jansson.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"
#include "gw_campaigns.h"
#include "gw_rule_check.h"
#include "gw_rules.h"
#include "gw_test_support.h"

/* This test's ports. */
#define PORT_FIRST 7750
#define PORT_LAST 7769

/* ---- validation --------------------------------------------------------- */

/* Validates text. Returns 0 (in filled: clear it) or -1 with the field and
 * reason written. */
static int check(const char *text, gw_rule_set_input *in, char *field, size_t field_size,
                 char *reason, size_t reason_size)
{
    json_error_t jerr;
    json_t *body = json_loads(text, 0, &jerr);
    if (!body) {
        fail_msg("test body is not JSON: %s (%s)", jerr.text, text);
    }
    field[0] = reason[0] = '\0';
    int rc = gw_rule_set_validate(body, in, field, field_size, reason, reason_size);
    if (rc != 0) {
        assert_true(field[0] != '\0');
        assert_true(reason[0] != '\0');
    }
    json_decref(body);
    return rc;
}

/* A set body "{name, jurisdiction, rules: [rule]}" around one rule. */
static void one_rule_set(char *out, size_t size, const char *rule)
{
    gw_test_format(out, size, "{\"name\":\"T\",\"jurisdiction\":\"US-FL\",\"rules\":[%s]}", rule);
}

/* Asserts that the set with the one rule is refused naming field, and that
 * reason contains want (NULL: any reason). */
static void assert_refused(const char *rule, const char *field, const char *want)
{
    char body[2048], got_field[64], reason[320];
    one_rule_set(body, sizeof(body), rule);
    gw_rule_set_input in;
    if (check(body, &in, got_field, sizeof(got_field), reason, sizeof(reason)) == 0) {
        gw_rule_set_input_clear(&in);
        fail_msg("accepted: %s", rule);
    }
    if (strcmp(got_field, field) != 0 || (want && !strstr(reason, want))) {
        fail_msg("%s: refused as %s: %s (wanted %s: %s)", rule, got_field, reason, field,
                 want ? want : "any");
    }
}

static void test_rule_hhmm_and_dates(void **state)
{
    (void)state;
    int m = -1;
    assert_int_equal(gw_rule_hhmm_parse("08:00", 0, &m), 0);
    assert_int_equal(m, 480);
    assert_int_equal(gw_rule_hhmm_parse("23:59", 0, &m), 0);
    assert_int_equal(m, 1439);
    assert_int_equal(gw_rule_hhmm_parse("24:00", 1, &m), 0);
    assert_int_equal(m, 1440);
    assert_int_equal(gw_rule_hhmm_parse("24:00", 0, &m), -1);
    assert_int_equal(gw_rule_hhmm_parse("24:01", 1, &m), -1);
    assert_int_equal(gw_rule_hhmm_parse("25:00", 1, &m), -1);
    assert_int_equal(gw_rule_hhmm_parse("12:60", 0, &m), -1);
    assert_int_equal(gw_rule_hhmm_parse("8:00", 0, &m), -1);
    assert_int_equal(gw_rule_hhmm_parse("08:00 ", 0, &m), -1);
    assert_true(gw_rule_date_valid("2026-12-25"));
    assert_true(gw_rule_date_valid("2028-02-29"));
    assert_true(gw_rule_date_valid("2000-02-29"));
    assert_false(gw_rule_date_valid("2100-02-29"));
    assert_false(gw_rule_date_valid("2026-02-29"));
    assert_false(gw_rule_date_valid("2026-04-31"));
    assert_false(gw_rule_date_valid("2026-13-01"));
    assert_false(gw_rule_date_valid("1999-12-31"));
    assert_false(gw_rule_date_valid("2026-1-5"));
    assert_false(gw_rule_date_valid("2026/01/05"));
    assert_true(gw_rule_jurisdiction_valid("*"));
    assert_true(gw_rule_jurisdiction_valid("US"));
    assert_true(gw_rule_jurisdiction_valid("US-FL"));
    assert_true(gw_rule_jurisdiction_valid("GB-ENG"));
    assert_true(gw_rule_jurisdiction_valid("FR-75"));
    assert_false(gw_rule_jurisdiction_valid("us-fl"));
    assert_false(gw_rule_jurisdiction_valid("USA"));
    assert_false(gw_rule_jurisdiction_valid("US-"));
    assert_false(gw_rule_jurisdiction_valid("US-ABCD"));
    assert_false(gw_rule_jurisdiction_valid("US FL"));
    assert_false(gw_rule_jurisdiction_valid(""));
    long long s = 0;
    assert_int_equal(gw_rule_duration_parse("24 hours", &s), 0);
    assert_int_equal(s, 86400);
    assert_int_equal(gw_rule_duration_parse("7 days", &s), 0);
    assert_int_equal(s, 604800);
    assert_int_equal(gw_rule_duration_parse("1 day 12 hours", &s), 0);
    assert_int_equal(s, 129600);
    assert_int_equal(gw_rule_duration_parse("1 week", &s), 0);
    assert_int_equal(s, 604800);
    assert_int_equal(gw_rule_duration_parse("72 hours", &s), 0);
    assert_int_equal(s, 259200);
    assert_int_equal(gw_rule_duration_parse("", &s), -1);
    assert_int_equal(gw_rule_duration_parse("24", &s), -1);
    assert_int_equal(gw_rule_duration_parse("hours", &s), -1);
    assert_int_equal(gw_rule_duration_parse("1 month", &s), -1);
    assert_int_equal(gw_rule_duration_parse("-1 days", &s), -1);
    assert_int_equal(gw_rule_duration_parse("99999999999999 days", &s), -1);
}

static void test_rule_set_canonical_fills_defaults_in_order(void **state)
{
    (void)state;
    static const char body[] =
        "{\"name\":\"Mine\",\"jurisdiction\":\"US-FL\",\"rules\":["
        "{\"kind\":\"hours\",\"says\":\"weekdays 8 to 8\",\"wdays\":[5,1,3,2,4],"
        "\"start\":\"08:00\",\"end\":\"20:00\"},"
        "{\"kind\":\"day_off\",\"says\":\"Christmas\",\"day\":\"2026-12-25\",\"channel\":\"voice\"}"
        ","
        "{\"kind\":\"cap\",\"says\":\"3 a day\",\"max_attempts\":3,\"window\":\"24 hours\","
        "\"scope\":\"subject\",\"source\":\"Fla. Stat. 501.616\",\"checked_on\":\"2026-12-01\"},"
        "{\"kind\":\"quiet\",\"says\":\"a week after a talk\",\"after_outcome\":\"CONNECTED\","
        "\"quiet_s\":604800}]}";
    static const char want[] =
        "{\"name\":\"Mine\",\"jurisdiction\":\"US-FL\",\"description\":\"\",\"rules\":["
        "{\"kind\":\"hours\",\"says\":\"weekdays 8 to 8\",\"source\":null,\"checked_on\":null,"
        "\"channel\":\"all\",\"wdays\":[1,2,3,4,5],\"start\":\"08:00\",\"end\":\"20:00\"},"
        "{\"kind\":\"day_off\",\"says\":\"Christmas\",\"source\":null,\"checked_on\":null,"
        "\"channel\":\"voice\",\"day\":\"2026-12-25\"},"
        "{\"kind\":\"cap\",\"says\":\"3 a day\",\"source\":\"Fla. Stat. 501.616\","
        "\"checked_on\":\"2026-12-01\",\"channel\":\"all\",\"max_attempts\":3,\"window_s\":86400,"
        "\"scope\":\"subject\"},"
        "{\"kind\":\"quiet\",\"says\":\"a week after a talk\",\"source\":null,\"checked_on\":null,"
        "\"channel\":\"all\",\"after_outcome\":\"CONNECTED\",\"quiet_s\":604800,"
        "\"scope\":\"contact\"}]}";
    gw_rule_set_input in;
    char field[64], reason[320];
    json_t *doc = json_loads(body, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(gw_rule_set_validate(doc, &in, field, sizeof(field), reason, sizeof(reason)),
                     0);
    assert_string_equal(in.name, "Mine");
    assert_string_equal(in.jurisdiction, "US-FL");
    assert_string_equal(in.description, "");
    json_t *expected = json_loads(want, 0, NULL);
    assert_non_null(expected);
    if (!json_equal(expected, in.doc)) {
        char *got = json_dumps(in.doc, JSON_COMPACT);
        fail_msg("canonical document: %s", got);
    }
    json_decref(expected);
    /* The rows carry the table's columns: minutes, seconds. */
    json_t *hours = json_array_get(in.rows, 0);
    assert_int_equal(json_integer_value(json_object_get(hours, "start_min")), 480);
    assert_int_equal(json_integer_value(json_object_get(hours, "end_min")), 1200);
    assert_null(json_object_get(hours, "start"));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(in.rows, 2), "window_s")),
                     86400);
    gw_rule_set_input_clear(&in);
    json_decref(doc);
}

static void test_rule_set_refusals_name_the_member(void **state)
{
    (void)state;
    static const char H[] = "\"kind\":\"hours\",\"says\":\"x\",\"wdays\":[1]";
    char rule[512];
    gw_test_format(rule, sizeof(rule), "{%s,\"start\":\"25:00\",\"end\":\"20:00\"}", H);
    assert_refused(rule, "rules[0].start", "'25:00' is not a time");
    gw_test_format(rule, sizeof(rule), "{%s,\"start\":\"08:00\",\"end\":\"24:30\"}", H);
    assert_refused(rule, "rules[0].end", "'24:30' is not a time");
    gw_test_format(rule, sizeof(rule), "{%s,\"start\":\"09:00\",\"end\":\"09:00\"}", H);
    assert_refused(rule, "rules[0].end", "open no minute");
    gw_test_format(rule, sizeof(rule), "{%s,\"start\":\"20:00\",\"end\":\"08:00\"}", H);
    assert_refused(rule, "rules[0].end", "not after start");
    assert_refused("{\"kind\":\"hours\",\"says\":\"x\",\"wdays\":[],\"start\":\"08:00\","
                   "\"end\":\"20:00\"}",
                   "rules[0].wdays", NULL);
    assert_refused("{\"kind\":\"hours\",\"says\":\"x\",\"wdays\":[1,7],\"start\":\"08:00\","
                   "\"end\":\"20:00\"}",
                   "rules[0].wdays", NULL);
    assert_refused("{\"kind\":\"hours\",\"says\":\"x\",\"wdays\":[1,1],\"start\":\"08:00\","
                   "\"end\":\"20:00\"}",
                   "rules[0].wdays", NULL);
    assert_refused("{\"kind\":\"hours\",\"says\":\"x\",\"wdays\":[\"mon\"],\"start\":\"08:00\","
                   "\"end\":\"20:00\"}",
                   "rules[0].wdays", NULL);
    gw_test_format(rule, sizeof(rule), "{%s,\"start\":\"08:00\",\"end\":\"20:00\",\"day\":\"x\"}",
                   H);
    assert_refused(rule, "rules[0].day", "belongs to a day_off rule");
    gw_test_format(rule, sizeof(rule), "{%s,\"start\":\"08:00\",\"end\":\"20:00\",\"colour\":1}",
                   H);
    assert_refused(rule, "rules[0].colour", "unknown member");
    assert_refused("{\"kind\":\"weekly\",\"says\":\"x\"}", "rules[0].kind", NULL);
    assert_refused("{\"says\":\"x\"}", "rules[0].kind", NULL);
    assert_refused("[1]", "rules[0]", "must be an object");
    assert_refused("{\"kind\":\"day_off\",\"day\":\"2026-12-25\"}", "rules[0].says", NULL);
    assert_refused("{\"kind\":\"day_off\",\"says\":\"\",\"day\":\"2026-12-25\"}", "rules[0].says",
                   NULL);
    assert_refused("{\"kind\":\"day_off\",\"says\":\"x\",\"day\":\"2026-02-30\"}", "rules[0].day",
                   "'2026-02-30' is not a date");
    assert_refused("{\"kind\":\"day_off\",\"says\":\"x\",\"day\":\"2026-12-25\","
                   "\"checked_on\":\"yesterday\"}",
                   "rules[0].checked_on", NULL);
    assert_refused("{\"kind\":\"day_off\",\"says\":\"x\",\"day\":\"2026-12-25\","
                   "\"channel\":\"fax\"}",
                   "rules[0].channel", NULL);
    assert_refused("{\"kind\":\"day_off\",\"says\":\"x\",\"day\":\"2026-12-25\","
                   "\"scope\":\"phone\"}",
                   "rules[0].scope", "belongs to a cap rule");
    assert_refused("{\"kind\":\"cap\",\"says\":\"x\",\"max_attempts\":0,\"window_s\":60}",
                   "rules[0].max_attempts", NULL);
    assert_refused("{\"kind\":\"cap\",\"says\":\"x\",\"max_attempts\":1.5,\"window_s\":60}",
                   "rules[0].max_attempts", NULL);
    assert_refused("{\"kind\":\"cap\",\"says\":\"x\",\"max_attempts\":3}", "rules[0].window_s",
                   NULL);
    assert_refused("{\"kind\":\"cap\",\"says\":\"x\",\"max_attempts\":3,\"window_s\":0}",
                   "rules[0].window_s", NULL);
    assert_refused("{\"kind\":\"cap\",\"says\":\"x\",\"max_attempts\":3,\"window_s\":31622401}",
                   "rules[0].window_s", NULL);
    assert_refused("{\"kind\":\"cap\",\"says\":\"x\",\"max_attempts\":3,\"window\":\"1 month\"}",
                   "rules[0].window", "'1 month' is not a duration");
    assert_refused("{\"kind\":\"cap\",\"says\":\"x\",\"max_attempts\":3,\"window\":\"1 day\","
                   "\"window_s\":86400}",
                   "rules[0].window", "not both");
    assert_refused("{\"kind\":\"cap\",\"says\":\"x\",\"max_attempts\":3,\"window_s\":60,"
                   "\"scope\":\"debt\"}",
                   "rules[0].scope", NULL);
    /* Nine hours rules on Monday: more ranges than a weekday holds. */
    char nine[1024] = "";
    for (int k = 0; k < 9; k++) {
        size_t len = strlen(nine);
        gw_test_format(nine + len, sizeof(nine) - len,
                       "%s{\"kind\":\"hours\",\"says\":\"x\",\"wdays\":[1],"
                       "\"start\":\"%02d:00\",\"end\":\"%02d:30\"}",
                       k ? "," : "", 8 + k, 8 + k);
    }
    assert_refused(nine, "rules[8].wdays", "more than 8 hours rules on one weekday");
    assert_refused("{\"kind\":\"quiet\",\"says\":\"x\",\"after_outcome\":\"HUNG_UP\","
                   "\"quiet_s\":60}",
                   "rules[0].after_outcome", "'HUNG_UP' is not an outcome");
    assert_refused("{\"kind\":\"quiet\",\"says\":\"x\",\"after_outcome\":\"EXPIRED\","
                   "\"quiet_s\":60}",
                   "rules[0].after_outcome", "closes a contact");
    assert_refused("{\"kind\":\"quiet\",\"says\":\"x\",\"after_outcome\":\"ABANDONED\"}",
                   "rules[0].quiet_s", NULL);
    assert_refused("{\"kind\":\"quiet\",\"says\":\"x\",\"after_outcome\":\"ABANDONED\","
                   "\"quiet_s\":60,\"max_attempts\":2}",
                   "rules[0].max_attempts", "belongs to a cap rule");
}

static void test_rule_set_top_level_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"[]", "body"},
        {"{\"name\":\"T\",\"jurisdiction\":\"US\",\"rules\":[],\"extra\":1}", "body"},
        {"{\"jurisdiction\":\"US\",\"rules\":[]}", "name"},
        {"{\"name\":\"\",\"jurisdiction\":\"US\",\"rules\":[]}", "name"},
        {"{\"name\":\" T\",\"jurisdiction\":\"US\",\"rules\":[]}", "name"},
        {"{\"name\":\"T\",\"rules\":[]}", "jurisdiction"},
        {"{\"name\":\"T\",\"jurisdiction\":\"Florida\",\"rules\":[]}", "jurisdiction"},
        {"{\"name\":\"T\",\"jurisdiction\":\"us\",\"rules\":[]}", "jurisdiction"},
        {"{\"name\":\"T\",\"jurisdiction\":\"US\",\"description\":1,\"rules\":[]}", "description"},
        {"{\"name\":\"T\",\"jurisdiction\":\"US\"}", "rules"},
        {"{\"name\":\"T\",\"jurisdiction\":\"US\",\"rules\":[]}", "rules"},
        {"{\"name\":\"T\",\"jurisdiction\":\"US\",\"rules\":{}}", "rules"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_rule_set_input in;
        char field[64], reason[320];
        if (check(cases[i].body, &in, field, sizeof(field), reason, sizeof(reason)) == 0) {
            gw_rule_set_input_clear(&in);
            fail_msg("accepted: %s", cases[i].body);
        }
        if (strcmp(field, cases[i].field) != 0) {
            fail_msg("%s: refused as %s (%s), wanted %s", cases[i].body, field, reason,
                     cases[i].field);
        }
    }
    /* What GET adds is taken back and ignored, so an answer can be edited
     * and sent again. */
    gw_rule_set_input in;
    char field[64], reason[320];
    assert_int_equal(check("{\"id\":4,\"name\":\"T\",\"jurisdiction\":\"*\",\"shipped\":true,"
                           "\"rule_count\":1,\"campaigns\":0,\"created_at\":\"x\","
                           "\"updated_at\":\"x\",\"rules\":[{\"id\":9,\"kind\":\"day_off\","
                           "\"says\":\"x\",\"day\":\"2026-12-25\"}]}",
                           &in, field, sizeof(field), reason, sizeof(reason)),
                     0);
    assert_null(json_object_get(in.doc, "id"));
    assert_null(json_object_get(json_array_get(json_object_get(in.doc, "rules"), 0), "id"));
    gw_rule_set_input_clear(&in);
}

static void test_rule_set_rules_diff_names_what_went_and_came(void **state)
{
    (void)state;
    json_t *before = json_loads("[{\"kind\":\"day_off\",\"day\":\"2026-12-25\"},"
                                "{\"kind\":\"day_off\",\"day\":\"2026-12-25\"},"
                                "{\"kind\":\"cap\",\"max_attempts\":3,\"window_s\":86400},"
                                "{\"kind\":\"day_off\",\"day\":\"2026-07-04\"}]",
                                0, NULL);
    json_t *after = json_loads("[{\"kind\":\"day_off\",\"day\":\"2026-07-04\"},"
                               "{\"window_s\":86400,\"max_attempts\":2,\"kind\":\"cap\"},"
                               "{\"kind\":\"day_off\",\"day\":\"2026-12-25\"},"
                               "{\"kind\":\"day_off\",\"day\":\"2027-01-01\"}]",
                               0, NULL);
    json_t *d = gw_rule_set_rules_diff(before, after);
    json_t *want = json_loads("{\"removed\":[{\"kind\":\"day_off\",\"day\":\"2026-12-25\"},"
                              "{\"kind\":\"cap\",\"max_attempts\":3,\"window_s\":86400}],"
                              "\"added\":[{\"kind\":\"cap\",\"max_attempts\":2,\"window_s\":86400},"
                              "{\"kind\":\"day_off\",\"day\":\"2027-01-01\"}]}",
                              0, NULL);
    if (!json_equal(want, d)) {
        fail_msg("diff: %s", json_dumps(d, JSON_COMPACT));
    }
    json_decref(d);
    json_decref(want);
    /* The same rules in another order: nothing went, nothing came. */
    json_t *shuffled = json_pack("[OOOO]", json_array_get(before, 3), json_array_get(before, 2),
                                 json_array_get(before, 1), json_array_get(before, 0));
    d = gw_rule_set_rules_diff(before, shuffled);
    assert_int_equal(json_array_size(json_object_get(d, "removed")), 0);
    assert_int_equal(json_array_size(json_object_get(d, "added")), 0);
    assert_true(json_is_true(json_object_get(d, "reordered")));
    json_decref(d);
    json_decref(shuffled);
    json_decref(before);
    json_decref(after);
}

/* The text of file (under ECM_SOURCE_DIR) as JSON; fails the test when it
 * can't be read. */
static json_t *source_json(const char *file)
{
    const char *root = getenv("ECM_SOURCE_DIR");
    char path[4096];
    gw_test_format(path, sizeof(path), "%s%s%s",
                   file[0] == '/' ? ""
                   : root         ? root
                                  : ".",
                   file[0] == '/' ? "" : "/", file);
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        fail_msg("%s: %s", path, jerr.text);
    }
    return j;
}

/* Every shipped file, rules/<name>.json, relative to ECM_SOURCE_DIR; at
 * least the five the issue began with. Free with globfree(). */
static void shipped_files(glob_t *g)
{
    const char *root = getenv("ECM_SOURCE_DIR");
    char pattern[4096];
    gw_test_format(pattern, sizeof(pattern), "%s/rules/*.json", root ? root : ".");
    assert_int_equal(glob(pattern, 0, NULL, g), 0);
    assert_true(g->gl_pathc >= 5);
}

static void test_rule_set_shipped_files_validate(void **state)
{
    (void)state;
    glob_t g;
    shipped_files(&g);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        json_t *file = source_json(g.gl_pathv[i]);
        gw_rule_set_input in;
        char field[64], reason[320];
        if (gw_rule_set_validate(file, &in, field, sizeof(field), reason, sizeof(reason)) != 0) {
            fail_msg("%s: %s: %s", g.gl_pathv[i], field, reason);
        }
        assert_int_equal(json_array_size(in.rows), json_array_size(json_object_get(file, "rules")));
        gw_rule_set_input_clear(&in);
        json_decref(file);
    }
    globfree(&g);
}

/* ---- the API -------------------------------------------------------------- */

typedef gw_test_api fixture;

static int group_setup(void **state)
{
    ecm_test_log_init("test_gw_rules", ECM_LOG_ERROR);
    gw_app settings = gw_test_settings();
    static const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_rules_register, NULL};
    *state = gw_test_api_new("ecm_gwapi_rules", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

/* The rules of a set answer with their ids taken out. New reference. */
static json_t *rules_without_ids(const json_t *set)
{
    json_t *rules = json_deep_copy(json_object_get(set, "rules"));
    assert_non_null(rules);
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r)
    {
        assert_true(json_is_integer(json_object_get(r, "id")));
        assert_int_equal(json_object_del(r, "id"), 0);
    }
    return rules;
}

static void assert_json_equal(const json_t *want, const json_t *got, const char *what)
{
    if (!json_equal(want, got)) {
        char *w = json_dumps(want, JSON_COMPACT), *g = json_dumps(got, JSON_COMPACT);
        fail_msg("%s:\n want %s\n got  %s", what, w, g);
    }
}

/* Audit rows of action on rule_set/id. */
static long long audit_rows(const fixture *f, const char *action, long long id)
{
    return ecm_test_pg_int(f->conn,
                           "SELECT count(*) FROM audit_log WHERE action = '%s' "
                           "AND resource = 'rule_set/%lld'",
                           action, id);
}

static void test_api_rule_set_round_trip_and_audit(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *file = source_json("rules/us_fl_ftsa.json");
    /* Another name: the migration loaded the shipped set of this one. */
    json_object_set_new(file, "name", json_string("Florida, our reading"));
    char *text = json_dumps(file, JSON_COMPACT);
    gw_rule_set_input in;
    char field[64], reason[320];
    assert_int_equal(gw_rule_set_validate(file, &in, field, sizeof(field), reason, sizeof(reason)),
                     0);
    long long gen0 = ecm_test_pg_int(f->conn, "SELECT n FROM rules_generation");
    json_t *a = NULL;
    char location[128], path[64];
    assert_int_equal(gw_test_send(f, "POST", "/api/v1/rule-sets", "application/json", text, &a,
                                  location, sizeof(location)),
                     201);
    free(text);
    long long id = gw_test_jint(a, "id");
    gw_test_format(path, sizeof(path), "/api/v1/rule-sets/%lld", id);
    assert_string_equal(location, path);
    assert_false(json_is_true(json_object_get(a, "shipped")));
    assert_int_equal(gw_test_jint(a, "rule_count"), 2);
    assert_int_equal(gw_test_jint(a, "campaigns"), 0);
    json_decref(a);
    assert_true(ecm_test_pg_int(f->conn, "SELECT n FROM rules_generation") > gen0);
    assert_int_equal(audit_rows(f, "rule_set.create", id), 1);

    /* GET gives back the canonical document: the file's rules as stored. */
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    json_t *rules = rules_without_ids(a);
    assert_json_equal(json_object_get(in.doc, "rules"), rules, "rules read back");
    assert_string_equal(gw_test_jstr(a, "jurisdiction"), "US-FL");
    json_decref(rules);

    /* The GET answer, edited, goes back as a PUT. */
    json_t *cap = json_array_get(json_object_get(a, "rules"), 1);
    json_object_set_new(cap, "max_attempts", json_integer(2));
    text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "PUT", path, text, &a), 200);
    free(text);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(a, "rules"), 1), "max_attempts")),
                     2);
    assert_null(json_object_get(a, "notice"));
    json_decref(a);
    assert_int_equal(audit_rows(f, "rule_set.update", id), 1);
    /* The row says what changed: the rules, from and to. */
    char *summary = ecm_test_pg_text(f->conn,
                                     "SELECT summary::text FROM audit_log WHERE action = "
                                     "'rule_set.update' AND resource = 'rule_set/%lld'",
                                     id);
    json_t *s = json_loads(summary, 0, NULL);
    free(summary);
    /* The cap went as it was and came back with 2: one removed, one added. */
    json_t *rd = json_object_get(s, "rules");
    assert_int_equal(json_array_size(json_object_get(rd, "removed")), 1);
    assert_int_equal(json_array_size(json_object_get(rd, "added")), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(rd, "removed"), 0), "max_attempts")),
                     3);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(rd, "added"), 0), "max_attempts")),
                     2);
    assert_null(json_object_get(s, "name"));
    json_decref(s);

    /* The same PUT again changes nothing: no audit row. */
    json_t *again = json_deep_copy(in.doc);
    json_object_set_new(again, "name", json_string("Florida, our reading"));
    json_object_set_new(json_array_get(json_object_get(again, "rules"), 1), "max_attempts",
                        json_integer(2));
    text = json_dumps(again, JSON_COMPACT);
    json_decref(again);
    assert_int_equal(gw_test_call(f, "PUT", path, text, &a), 200);
    free(text);
    json_decref(a);
    assert_int_equal(audit_rows(f, "rule_set.update", id), 1);

    assert_int_equal(gw_test_call(f, "DELETE", path, NULL, &a), 204);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 404);
    json_decref(a);
    assert_int_equal(audit_rows(f, "rule_set.delete", id), 1);
    assert_int_equal(
        ecm_test_pg_int(f->conn, "SELECT count(*) FROM rules WHERE rule_set_id = %lld", id), 0);
    gw_rule_set_input_clear(&in);
    json_decref(file);
}

static void test_api_shipped_sets_read_back_as_validated(void **state)
{
    fixture *f = ecm_test_need(*state);
    /* Every shipped file, loaded by the migration, reads back through the
     * API exactly as the validation makes the file: the two readers of the
     * format agree. */
    glob_t g;
    shipped_files(&g);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        json_t *file = source_json(g.gl_pathv[i]);
        gw_rule_set_input in;
        char field[64], reason[320];
        assert_int_equal(
            gw_rule_set_validate(file, &in, field, sizeof(field), reason, sizeof(reason)), 0);
        long long id = ecm_test_pg_int(
            f->conn, "SELECT id FROM rule_sets WHERE name = '%s' AND shipped", in.name);
        char path[64];
        gw_test_format(path, sizeof(path), "/api/v1/rule-sets/%lld", id);
        json_t *a = NULL;
        assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
        assert_true(json_is_true(json_object_get(a, "shipped")));
        json_t *rules = rules_without_ids(a);
        assert_json_equal(json_object_get(in.doc, "rules"), rules, g.gl_pathv[i]);
        json_decref(rules);
        json_decref(a);
        gw_rule_set_input_clear(&in);
        json_decref(file);
    }
    globfree(&g);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/rule-sets?jurisdiction=US-FL", NULL, &a), 200);
    json_t *items = json_object_get(a, "items");
    assert_true(json_array_size(items) >= 1);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        assert_string_equal(gw_test_jstr(it, "jurisdiction"), "US-FL");
        assert_null(json_object_get(it, "rules"));
    }
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/rule-sets?jurisdiction=fl", NULL, &a), 400);
    json_decref(a);
}

static void test_api_shipped_set_edited_becomes_own(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id =
        ecm_test_pg_int(f->conn, "SELECT id FROM rule_sets WHERE name = "
                                 "'GB Ofcom abandoned and silent calls' OR "
                                 "(jurisdiction = 'GB' AND shipped) ORDER BY id LIMIT 1");
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/rule-sets/%lld", id);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    json_t *rule = json_array_get(json_object_get(a, "rules"), 0);
    json_object_set_new(rule, "says", json_string("our compliance officer's words"));
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "PUT", path, text, &a), 200);
    free(text);
    assert_false(json_is_true(json_object_get(a, "shipped")));
    assert_non_null(strstr(gw_test_jstr(a, "notice"), "will not overwrite"));
    json_decref(a);
    assert_int_equal(ecm_test_pg_int(f->conn,
                                     "SELECT count(*) FROM audit_log WHERE action = "
                                     "'rule_set.update' AND resource = 'rule_set/%lld' AND "
                                     "summary->'shipped'->>'to' = 'false'",
                                     id),
                     1);
}

static void test_api_rule_set_refusals(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = NULL;
    /* 422 naming the member, as the issue asks. */
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/rule-sets",
                                  "{\"name\":\"Bad\",\"jurisdiction\":\"US\",\"rules\":[{\"kind\":"
                                  "\"hours\",\"says\":\"x\",\"wdays\":[1],\"start\":\"08:00\","
                                  "\"end\":\"20:00\"},{\"kind\":\"hours\",\"says\":\"x\","
                                  "\"wdays\":[1],\"start\":\"08:00\",\"end\":\"20:00\"},"
                                  "{\"kind\":\"hours\",\"says\":\"x\",\"wdays\":[1],"
                                  "\"start\":\"25:00\",\"end\":\"20:00\"}]}",
                                  &a),
                     422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "rules[2].start: '25:00' is not a time"));
    json_decref(a);
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/rule-sets", "{not json", &a), 400);
    json_decref(a);
    /* A name taken: 409. */
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/rule-sets",
                                  "{\"name\":\"US federal (TCPA)\",\"jurisdiction\":\"US\","
                                  "\"rules\":[{\"kind\":\"day_off\",\"says\":\"x\","
                                  "\"day\":\"2026-12-25\"}]}",
                                  &a),
                     409);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/rule-sets/999999", NULL, &a), 404);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "DELETE", "/api/v1/rule-sets/999999", NULL, &a), 404);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/rule-sets/abc", NULL, &a), 404);
    json_decref(a);

    /* A set a campaign uses is not deleted. */
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/rule-sets",
                                  "{\"name\":\"Used\",\"jurisdiction\":\"US\",\"rules\":[{\"kind\":"
                                  "\"day_off\",\"says\":\"x\",\"day\":\"2026-12-25\"}]}",
                                  &a),
                     201);
    long long id = gw_test_jint(a, "id");
    json_decref(a);
    long long cid = ecm_test_pg_int(
        f->conn,
        "INSERT INTO campaigns (name, channel, strategy_id, cisco_kind, cisco_campaign_id) "
        "SELECT 'uses', 'voice_ivr', id, 'uccx', '7' FROM strategies WHERE name = 'Default' "
        "RETURNING id");
    ecm_test_pg_exec(f->conn, "INSERT INTO campaign_rule_sets VALUES (%lld, %lld)", cid, id);
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/rule-sets/%lld", id);
    assert_int_equal(gw_test_call(f, "DELETE", path, NULL, &a), 409);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "1 campaign(s)"));
    json_decref(a);
    assert_int_equal(audit_rows(f, "rule_set.delete", id), 0);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_int_equal(gw_test_jint(a, "campaigns"), 1);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_rule_hhmm_and_dates),
        cmocka_unit_test(test_rule_set_canonical_fills_defaults_in_order),
        cmocka_unit_test(test_rule_set_refusals_name_the_member),
        cmocka_unit_test(test_rule_set_top_level_refusals),
        cmocka_unit_test(test_rule_set_shipped_files_validate),
        cmocka_unit_test(test_rule_set_rules_diff_names_what_went_and_came),
    };
    const struct CMUnitTest api[] = {
        cmocka_unit_test(test_api_rule_set_round_trip_and_audit),
        cmocka_unit_test(test_api_shipped_sets_read_back_as_validated),
        cmocka_unit_test(test_api_shipped_set_edited_becomes_own),
        cmocka_unit_test(test_api_rule_set_refusals),
    };
    int failed = cmocka_run_group_tests_name("gw_rule_check", pure, NULL, NULL);
    return failed +
           cmocka_run_group_tests_name("gw_rules api", api, group_setup, gw_test_api_teardown);
}

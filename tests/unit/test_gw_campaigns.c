/* gw_campaigns: body validation (calling window, time zone, region), the
 * PATCH rules, RFC 3339 parsing and the campaign life cycle as pure
 * functions; and, with ECM_TEST_PG_DSN, the API against a scratch database:
 * resume and the final states, PATCH, and activation past end_at on a
 * business clock the test sets. */
#include <jansson.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "ecm_utf8.h"
#include "gw_app.h"
#include "gw_campaigns.h"
#include "gw_dnc.h"
#include "gw_json.h"
#include "gw_strategies.h"
#include "gw_test_support.h"

/* Validates text; returns the offending field or NULL when valid. The
 * document is kept in *doc (in points into it); the caller releases it. */
static const char *invalid_field_doc(const char *text, gw_campaign_input *in, json_t **doc)
{
    json_error_t jerr;
    json_t *body = json_loads(text, 0, &jerr);
    if (!body) {
        fail_msg("test body is not JSON: %s", jerr.text);
    }
    const char *field = NULL;
    char reason[200] = "";
    int rc = gw_campaign_validate(body, in, &field, reason, sizeof(reason));
    *doc = body;
    if (rc == 0) {
        return NULL;
    }
    assert_true(reason[0] != '\0');
    return field;
}

static const char *invalid_field(const char *text, gw_campaign_input *in)
{
    json_t *doc = NULL;
    const char *field = invalid_field_doc(text, in, &doc);
    json_decref(doc);
    return field; /* a string literal of gw_campaigns, not in doc */
}

static void test_campaign_voice_minimal_body_gets_defaults(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"name\":\"Spring\",\"channel\":\"voice_ivr\","
                              "\"cisco\":{\"kind\":\"uccx\",\"campaign_id\":\"7\"}}",
                              0, NULL);
    gw_campaign_input in;
    const char *field = NULL;
    char reason[200];
    assert_int_equal(gw_campaign_validate(body, &in, &field, reason, sizeof(reason)), 0);
    assert_string_equal(in.name, "Spring");
    assert_string_equal(in.channel, "voice_ivr");
    assert_string_equal(in.strategy, "Default");
    assert_string_equal(in.cisco_kind, "uccx");
    assert_string_equal(in.cisco_campaign_id, "7");
    assert_null(in.region); /* the gateway's default region */
    assert_int_equal(in.strategy_id, 0);
    assert_string_equal(in.time_zone, "UTC");
    assert_null(in.start_at);
    assert_null(in.end_at);
    assert_null(in.call_window); /* every day, legal hours only */
    json_decref(body);
}

static void test_campaign_numeric_cisco_id_becomes_text(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"name\":\"x\",\"channel\":\"voice_agent\","
                              "\"cisco\":{\"kind\":\"ucce_api\",\"campaign_id\":5001}}",
                              0, NULL);
    gw_campaign_input in;
    const char *field = NULL;
    char reason[200];
    assert_int_equal(gw_campaign_validate(body, &in, &field, reason, sizeof(reason)), 0);
    assert_string_equal(in.cisco_campaign_id, "5001");
    json_decref(body);
}

static void test_campaign_ucce_db_keeps_its_tables(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"name\":\"x\",\"channel\":\"voice_ivr\","
                              "\"cisco\":{\"kind\":\"ucce_db\",\"campaign_id\":\"5002\","
                              "\"import_table\":\"dbo.Import_5002\"}}",
                              0, NULL);
    gw_campaign_input in;
    const char *field = NULL;
    char reason[200];
    assert_int_equal(gw_campaign_validate(body, &in, &field, reason, sizeof(reason)), 0);
    assert_string_equal(in.cisco_kind, "ucce_db");
    assert_string_equal(in.cisco_import_table, "dbo.Import_5002");
    assert_null(in.cisco_dialing_list);
    json_decref(body);
}

static void test_campaign_sms_needs_no_cisco(void **state)
{
    (void)state;
    gw_campaign_input in;
    json_t *doc = NULL;
    assert_null(invalid_field_doc("{\"name\":\"x\",\"channel\":\"sms\",\"region\":\"GB\","
                                  "\"time_zone\":\"Europe/London\",\"sms\":{\"template\":\"Hi\"}}",
                                  &in, &doc));
    assert_null(in.cisco_kind);
    assert_string_equal(in.region, "GB");
    assert_string_equal(in.time_zone, "Europe/London");
    json_decref(doc);
}

static void test_campaign_validation_names_the_field(void **state)
{
    (void)state;
    gw_campaign_input in;
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"[]", "body"},
        {"{\"channel\":\"sms\"}", "name"},
        {"{\"name\":\"\",\"channel\":\"sms\"}", "name"},
        {"{\"name\":7,\"channel\":\"sms\"}", "name"},
        {"{\"name\":\"x\"}", "channel"},
        {"{\"name\":\"x\",\"channel\":\"fax\"}", "channel"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\"}", "cisco"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":\"uccx\"}", "cisco"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"avaya\","
         "\"campaign_id\":\"1\"}}",
         "cisco.kind"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"uccx\"}}",
         "cisco.campaign_id"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"cce\","
         "\"campaign_id\":\"1\"}}",
         "cisco.kind"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"uccx\","
         "\"campaign_id\":\"7/../8\"}}",
         "cisco.campaign_id"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"uccx\","
         "\"campaign_id\":\"012\"}}",
         "cisco.campaign_id"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"ucce_db\","
         "\"campaign_id\":\"5002\"}}",
         "cisco.import_table"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"ucce_db\","
         "\"campaign_id\":\"5002\",\"import_table\":\"Import; DROP TABLE x\"}}",
         "cisco.import_table"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"ucce_api\","
         "\"campaign_id\":\"5001\",\"import_table\":\"Import_5001\"}}",
         "cisco.import_table"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"ucce_db\","
         "\"campaign_id\":\"5002\",\"import_table\":\"I\",\"dialing_list\":\"9DL\"}}",
         "cisco.dialing_list"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"strategy\":3}", "strategy"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"region\":\"usa\"}", "region"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"time_zone\":\"New York\"}", "time_zone"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"start_at\":\"tomorrow\"}", "start_at"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"end_at\":\"2026-13-01T00:00:00Z\"}", "end_at"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"start_at\":\"2026-11-24T10:00:00Z\","
         "\"end_at\":\"2026-11-24T11:00:00+02:00\"}",
         "end_at"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"colour\":\"red\"}", "body"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"region\":\"XX\"}", "region"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"region\":\"001\"}", "region"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"time_zone\":\"Mars/Olympus\"}", "time_zone"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"time_zone\":\"america/new_york\"}", "time_zone"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"strategy_id\":\"7\"}", "strategy_id"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"strategy_id\":0}", "strategy_id"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"strategy_id\":2,\"strategy\":\"Fast\"}",
         "strategy"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"call_window\":[]}", "call_window"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"call_window\":{\"funday\":[]}}", "call_window"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"call_window\":{\"tue\":[[\"25:00\","
         "\"26:00\"]]}}",
         "call_window"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *field = invalid_field(cases[i].body, &in);
        if (!field || strcmp(field, cases[i].field) != 0) {
            fail_msg("%s: expected field %s, got %s", cases[i].body, cases[i].field,
                     field ? field : "(valid)");
        }
    }
}

/* A key of 45 two-byte characters: the reason quotes it by characters, so
 * it stays valid UTF-8 wherever the check puts it (found by fuzz_api_body). */
static void test_campaign_unknown_multibyte_key_keeps_the_reason_valid_utf8(void **state)
{
    (void)state;
    char key[1 + 45 * 2 + 1] = "a"; /* 'a' first: a cut at 40 bytes splits a character */
    for (int i = 0; i < 45; i++) {
        memcpy(key + 1 + 2 * i, "\xC3\xA9", 2);
    }
    const char *wrappers[][2] = {
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"t\"},\"", "\":1}"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"t\",\"", "\":1}}"},
        {"{\"name\":\"x\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"uccx\",\"", "\":1}}"},
    };
    for (size_t i = 0; i < sizeof(wrappers) / sizeof(wrappers[0]); i++) {
        char text[512];
        gw_test_format(text, sizeof(text), "%s%s%s", wrappers[i][0], key, wrappers[i][1]);
        json_t *body = json_loads(text, 0, NULL);
        assert_non_null(body);
        gw_campaign_input in;
        const char *field = NULL;
        char reason[200] = "";
        assert_int_equal(gw_campaign_validate(body, &in, &field, reason, sizeof(reason)), -1);
        assert_true(ecm_utf8_valid(reason, strlen(reason)));
        assert_non_null(strstr(reason, "unknown member 'a\xC3\xA9"));
        assert_non_null(strstr(reason, "...'"));
        reason[0] = '\0';
        int checked = gw_campaign_patch_check("draft", body, &field, reason, sizeof(reason));
        (void)checked; /* only the reason's UTF-8 is under test here */
        assert_true(ecm_utf8_valid(reason, strlen(reason)));
        json_decref(body);
    }
}

static void test_campaign_schedule_with_offsets_is_compared_in_utc(void **state)
{
    (void)state;
    gw_campaign_input in;
    json_t *doc = NULL;
    /* 10:00+02:00 is 08:00Z, after 07:30Z. */
    assert_null(invalid_field_doc("{\"name\":\"x\",\"channel\":\"sms\","
                                  "\"start_at\":\"2026-11-24T07:30:00Z\","
                                  "\"end_at\":\"2026-11-24T10:00:00+02:00\","
                                  "\"sms\":{\"template\":\"Hi\"}}",
                                  &in, &doc));
    assert_string_equal(in.start_at, "2026-11-24T07:30:00Z");
    json_decref(doc);
}

static void test_campaign_window_errors_name_the_field_and_the_place(void **state)
{
    (void)state;
    gw_campaign_input in;
    json_t *body = json_loads("{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":"
                              "\"Hi\"},\"call_window\":{\"mon\":[[\"09:00\",\"12:00\"]],"
                              "\"fri\":[[\"20:00\",\"09:00\"]]}}",
                              0, NULL);
    const char *field = NULL;
    char reason[200] = "";
    assert_int_equal(gw_campaign_validate(body, &in, &field, reason, sizeof(reason)), -1);
    assert_string_equal(field, "call_window");
    assert_non_null(strstr(reason, "fri[0]"));
    json_decref(body);
}

static void test_campaign_window_closed_in_legal_hours_is_refused(void **state)
{
    (void)state;
    gw_campaign_input in;
    /* 21:00-23:00 and 06:00-08:00 are all outside 08:00-21:00; so is a
     * window open on no day. */
    static const char *const windows[] = {
        "{\"mon\":[[\"21:00\",\"23:00\"]],\"sat\":[[\"06:00\",\"08:00\"]]}",
        "{}",
        "{\"mon\":[],\"tue\":[]}",
    };
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        char text[512];
        gw_test_format(text, sizeof(text),
                       "{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\"},"
                       "\"call_window\":%s}",
                       windows[i]);
        json_t *body = json_loads(text, 0, NULL);
        assert_non_null(body);
        const char *field = NULL;
        char reason[200] = "";
        assert_int_equal(gw_campaign_validate(body, &in, &field, reason, sizeof(reason)), -1);
        assert_string_equal(field, "call_window");
        assert_non_null(strstr(reason, "legal"));
        json_decref(body);
    }
}

static void test_campaign_window_is_checked_against_the_deployments_legal_hours(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"name\":\"x\",\"channel\":\"sms\",\"sms\":{\"template\":"
                              "\"Hi\"},\"call_window\":{\"sat\":[[\"08:00\",\"09:00\"]]}}",
                              0, NULL);
    gw_campaign_input in;
    const char *field = NULL;
    char reason[200] = "";
    assert_int_equal(gw_campaign_validate(body, &in, &field, reason, sizeof(reason)), 0);
    const ecm_legal_hours late = {9 * 60, 20 * 60};
    assert_int_equal(gw_campaign_validate_legal(body, &late, &in, &field, reason, sizeof(reason)),
                     -1);
    assert_string_equal(field, "call_window");
    assert_non_null(strstr(reason, "09:00-20:00"));
    const ecm_legal_hours early = {7 * 60, 21 * 60};
    assert_int_equal(gw_campaign_validate_legal(body, &early, &in, &field, reason, sizeof(reason)),
                     0);
    json_decref(body);
}

static void test_campaign_window_is_kept_canonical_and_region_upper_case(void **state)
{
    (void)state;
    gw_campaign_input in;
    json_t *doc = NULL;
    assert_null(invalid_field_doc("{\"name\":\"x\",\"channel\":\"sms\",\"region\":\"gb\","
                                  "\"time_zone\":\"US/Eastern\",\"sms\":{\"template\":\"Hi\"},"
                                  "\"call_window\":{\"mon\":[[\"09:00\",\"12:00\"],"
                                  "[\"11:00\",\"17:30\"]]}}",
                                  &in, &doc));
    assert_string_equal(in.region, "GB");
    /* Stored as written: PostgreSQL knows the link as well as ICU does. */
    assert_string_equal(in.time_zone, "US/Eastern");
    assert_non_null(in.call_window);
    json_t *w = json_loads(in.call_window, 0, NULL);
    assert_non_null(w);
    /* Overlapping ranges merged, every day present. */
    json_t *mon = json_object_get(w, "mon");
    assert_int_equal(json_array_size(mon), 1);
    assert_string_equal(json_string_value(json_array_get(json_array_get(mon, 0), 1)), "17:30");
    assert_int_equal(json_array_size(json_object_get(w, "sun")), 0);
    json_decref(w);
    json_decref(doc);
}

static void test_campaign_patch_allowed_members_depend_on_state(void **state)
{
    (void)state;
    static const struct {
        const char *state, *patch;
        int rc;
        const char *field;
    } cases[] = {
        {"draft", "{\"name\":\"n\",\"strategy\":\"Fast\",\"sms\":{},\"region\":\"GB\"}", 0, NULL},
        {"paused", "{\"cisco\":{\"campaign_id\":\"9\"},\"strategy_id\":3}", 0, NULL},
        {"active",
         "{\"call_window\":null,\"time_zone\":\"UTC\",\"end_at\":null,\"name\":\"n\","
         "\"start_at\":null}",
         0, NULL},
        {"active", "{\"time_zone\":\"UTC\",\"strategy_id\":3}", 1, "strategy_id"},
        {"active", "{\"sms\":{\"template\":\"x\"}}", 1, "sms"},
        {"active", "{\"region\":\"GB\"}", 1, "region"},
        {"stopped", "{\"name\":\"n\"}", 1, "name"},
        {"completed", "{\"end_at\":null}", 1, "end_at"},
        {"expired", "{\"end_at\":\"2030-01-01T00:00:00Z\"}", 1, "end_at"},
        {"draft", "{\"channel\":\"sms\"}", -1, "channel"},
        {"draft", "{\"colour\":\"red\"}", -1, "body"},
        {"draft", "[]", -1, "body"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *patch = json_loads(cases[i].patch, 0, NULL);
        assert_non_null(patch);
        const char *field = NULL;
        char reason[200] = "";
        int rc = gw_campaign_patch_check(cases[i].state, patch, &field, reason, sizeof(reason));
        if (rc != cases[i].rc || (cases[i].field && strcmp(field, cases[i].field) != 0)) {
            fail_msg("%s %s: rc %d field %s (%s)", cases[i].state, cases[i].patch, rc,
                     field ? field : "-", reason);
        }
        if (rc != 0) {
            assert_true(reason[0] != '\0');
        }
        json_decref(patch);
    }
}

static void test_campaign_merge_keeps_unnamed_members(void **state)
{
    (void)state;
    json_t *cur =
        json_loads("{\"name\":\"a\",\"channel\":\"sms\",\"strategy_id\":4,"
                   "\"sms\":{\"template\":\"Hi\",\"sender\":\"ECM\",\"dlr_timeout_s\":60},"
                   "\"end_at\":\"2030-01-01T00:00:00.000Z\"}",
                   0, NULL);
    json_t *patch = json_loads("{\"sms\":{\"sender\":null},\"strategy\":\"Fast\","
                               "\"end_at\":null}",
                               0, NULL);
    json_t *m = gw_campaign_merge(cur, patch);
    assert_non_null(m);
    json_t *sms = json_object_get(m, "sms");
    assert_string_equal(json_string_value(json_object_get(sms, "template")), "Hi");
    assert_true(json_is_null(json_object_get(sms, "sender")));
    assert_int_equal(json_integer_value(json_object_get(sms, "dlr_timeout_s")), 60);
    assert_null(json_object_get(m, "strategy_id"));
    assert_string_equal(json_string_value(json_object_get(m, "strategy")), "Fast");
    assert_true(json_is_null(json_object_get(m, "end_at")));
    /* The current document is left as it was. */
    assert_string_equal(json_string_value(json_object_get(json_object_get(cur, "sms"), "sender")),
                        "ECM");
    assert_int_equal(json_integer_value(json_object_get(cur, "strategy_id")), 4);
    gw_campaign_input in;
    const char *field = NULL;
    char reason[200];
    assert_int_equal(gw_campaign_validate(m, &in, &field, reason, sizeof(reason)), 0);
    assert_null(in.sms_sender);
    assert_null(in.end_at);
    json_decref(m);
    json_decref(patch);
    json_decref(cur);
}

static void test_rfc3339_parse_known_instants(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(gw_rfc3339_parse("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(gw_rfc3339_parse("2000-03-01T00:00:00.250Z", &ms), 0);
    assert_int_equal(ms, 951868800250LL);
    assert_int_equal(gw_rfc3339_parse("2000-03-01T02:00:00.25+02:00", &ms), 0);
    assert_int_equal(ms, 951868800250LL);
    assert_int_equal(gw_rfc3339_parse("2024-02-29T12:00:00-05:30", &ms), 0);
    assert_int_equal(ms, 1709227800000LL);
    assert_int_equal(gw_rfc3339_parse("2023-02-29T12:00:00Z", &ms), -1);
    assert_int_equal(gw_rfc3339_parse("2024-01-01T24:00:00Z", &ms), -1);
    assert_int_equal(gw_rfc3339_parse("2024-01-01T10:00:00", &ms), -1);
    assert_int_equal(gw_rfc3339_parse("2024-01-01T10:00:00Zjunk", &ms), -1);
    assert_int_equal(gw_rfc3339_parse("2024-01-01", &ms), -1);
}

static void test_campaign_allowed_transitions(void **state)
{
    (void)state;
    assert_string_equal(gw_campaign_next_state("draft", "activate"), "active");
    assert_string_equal(gw_campaign_next_state("active", "pause"), "paused");
    assert_string_equal(gw_campaign_next_state("paused", "activate"), "active");
    assert_string_equal(gw_campaign_next_state("paused", "resume"), "active");
    assert_string_equal(gw_campaign_next_state("active", "stop"), "stopped");
    assert_string_equal(gw_campaign_next_state("paused", "stop"), "stopped");
}

static void test_campaign_refused_transitions(void **state)
{
    (void)state;
    static const char *const states[] = {"draft",   "active",    "paused",
                                         "stopped", "completed", "expired"};
    static const char *const actions[] = {"activate", "resume", "pause", "stop"};
    int allowed = 0;
    for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
        for (size_t a = 0; a < sizeof(actions) / sizeof(actions[0]); a++) {
            if (gw_campaign_next_state(states[s], actions[a])) {
                allowed++;
            }
        }
    }
    /* Exactly the six moves above; nothing leaves stopped, completed or
     * expired, and draft can only be activated (not resumed). */
    assert_int_equal(allowed, 6);
    assert_null(gw_campaign_next_state("draft", "resume"));
    assert_null(gw_campaign_next_state("active", "resume"));
    assert_null(gw_campaign_next_state("expired", "resume"));
    assert_null(gw_campaign_next_state("completed", "activate"));
    assert_null(gw_campaign_next_state("draft", "pause"));
    assert_null(gw_campaign_next_state("draft", "stop"));
    assert_null(gw_campaign_next_state("active", "activate"));
    assert_null(gw_campaign_next_state("stopped", "activate"));
    assert_null(gw_campaign_next_state("active", "delete"));
    assert_null(gw_campaign_next_state(NULL, "stop"));
}

/* ---- the API against a scratch database --------------------------------- */

/* This test's ports (gwapi's range 7600-7699). */
#define PORT_FIRST 7610
#define PORT_LAST 7629

typedef gw_test_api fixture;

static int group_setup(void **state)
{
    ecm_test_log_init("test_gw_campaigns", ECM_LOG_ERROR);
    /* Business time stands still on a Tuesday unless a test moves it. */
    setenv("ECM_CLOCK_FIXED", "2026-11-24T12:00:00Z", 1);
    static const ecm_legal_hours stricter = {9 * 60, 20 * 60}; /* a stricter deployment */
    gw_app settings = gw_test_settings();
    settings.default_region = "GB";
    settings.legal = &stricter;
    settings.upload_batch = 5000;
    settings.upload_max_record = 65536;
    static const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_strategies_register, NULL};
    *state = gw_test_api_new("ecm_gwapi_camp", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

static int group_teardown(void **state)
{
    gw_test_api_destroy(*state);
    unsetenv("ECM_CLOCK_FIXED");
    return 0;
}

/* POST path with body; expects 200 (or 201) and returns the answer's
 * state. */
static void expect_state(const fixture *f, long long id, const char *action, long status,
                         const char *state)
{
    char path[128];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/%s", id, action);
    json_t *a = NULL;
    long st = gw_test_call(f, "POST", path, NULL, &a);
    if (st != status) {
        char *d = a ? json_dumps(a, JSON_COMPACT) : NULL;
        fail_msg("%s: status %ld, expected %ld: %s", path, st, status, d ? d : "");
    }
    if (state) {
        assert_string_equal(gw_test_jstr(a, "state"), state);
    } else {
        assert_non_null(strstr(gw_test_jstr(a, "type"), "conflict"));
    }
    json_decref(a);
}

static long long create(const fixture *f, const char *body)
{
    json_t *a = NULL;
    long st = gw_test_call(f, "POST", "/api/v1/campaigns", body, &a);
    if (st != 201) {
        char *d = a ? json_dumps(a, JSON_COMPACT) : NULL;
        fail_msg("POST /api/v1/campaigns: %ld %s", st, d ? d : "");
    }
    long long id = json_integer_value(json_object_get(a, "id"));
    json_decref(a);
    return id;
}

#define VOICE_BODY(name, extra)                                                                    \
    "{\"name\":\"" name "\",\"channel\":\"voice_ivr\",\"cisco\":{\"kind\":\"uccx\","               \
    "\"campaign_id\":\"7\"}" extra "}"

static void test_api_campaign_resume_and_final_states(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = create(f, VOICE_BODY("Cycle", ""));
    expect_state(f, id, "resume", 409, NULL); /* a draft is activated, not resumed */
    expect_state(f, id, "activate", 200, "active");
    expect_state(f, id, "resume", 409, NULL);
    expect_state(f, id, "pause", 200, "paused");
    expect_state(f, id, "resume", 200, "active");
    expect_state(f, id, "pause", 200, "paused");
    expect_state(f, id, "activate", 200, "active");
    expect_state(f, id, "stop", 200, "stopped");
    static const char *const actions[] = {"activate", "resume", "pause", "stop"};
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        expect_state(f, id, actions[i], 409, NULL);
    }
    /* Completed and expired (set by other services) are as final. */
    long long done = create(f, VOICE_BODY("Done", ""));
    ecm_test_pg_exec(f->conn, "UPDATE campaigns SET state = 'completed' WHERE id = %lld", done);
    long long gone = create(f, VOICE_BODY("Gone", ""));
    ecm_test_pg_exec(f->conn, "UPDATE campaigns SET state = 'expired' WHERE id = %lld", gone);
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        expect_state(f, done, actions[i], 409, NULL);
        expect_state(f, gone, actions[i], 409, NULL);
    }
    /* Creation and the six changes, one CampaignChanged each; refusals
     * write none. */
    assert_int_equal(ecm_test_pg_int(f->conn,
                                     "SELECT count(*) FROM outbox WHERE msg_key = '%lld' "
                                     "AND ce_type = 'ecm.v1.CampaignChanged'",
                                     id),
                     7);
    ;
}

static void test_api_campaign_patch_edits_and_bumps_updated_at(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = create(f, VOICE_BODY("Edit", ",\"time_zone\":\"America/New_York\""));
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    char before[40];
    gw_test_format(before, sizeof(before), "%s", gw_test_jstr(a, "updated_at"));
    assert_true(json_is_null(json_object_get(a, "call_window")));
    assert_string_equal(gw_test_jstr(a, "region"), "GB"); /* the gateway's default */
    assert_int_equal(json_integer_value(json_object_get(a, "strategy_id")), 1);
    json_decref(a);

    ecm_test_pg_exec(f->conn, "INSERT INTO strategies (name) VALUES ('Fast')");
    long long fast = ecm_test_pg_int(f->conn, "SELECT id FROM strategies WHERE name = 'Fast'");
    char body[512];
    gw_test_format(
        body, sizeof(body),
        "{\"name\":\"Edited\",\"strategy_id\":%lld,\"region\":\"US\","
        "\"call_window\":{\"mon\":[[\"09:00\",\"17:00\"]],\"sat\":[[\"10:00\",\"12:00\"]]},"
        "\"start_at\":\"2026-12-01T09:00:00-05:00\",\"end_at\":\"2026-12-20T00:00:00Z\","
        "\"cisco\":{\"campaign_id\":8}}",
        fast);
    assert_int_equal(gw_test_call(f, "PATCH", path, body, &a), 200);
    assert_string_equal(gw_test_jstr(a, "name"), "Edited");
    assert_string_equal(gw_test_jstr(a, "strategy"), "Fast");
    assert_string_equal(gw_test_jstr(a, "region"), "US");
    assert_string_equal(gw_test_jstr(a, "time_zone"), "America/New_York"); /* untouched */
    assert_string_equal(gw_test_jstr(a, "start_at"), "2026-12-01T14:00:00.000Z");
    assert_string_equal(gw_test_jstr(json_object_get(a, "cisco"), "campaign_id"), "8");
    assert_string_equal(gw_test_jstr(json_object_get(a, "cisco"), "kind"), "uccx");
    json_t *sat = json_object_get(json_object_get(a, "call_window"), "sat");
    assert_string_equal(json_string_value(json_array_get(json_array_get(sat, 0), 0)), "10:00");
    assert_true(strcmp(gw_test_jstr(a, "updated_at"), before) > 0);
    gw_test_format(before, sizeof(before), "%s", gw_test_jstr(a, "updated_at"));
    json_decref(a);

    /* Refusals name the field; nothing changes. */
    static const struct {
        const char *patch;
        long status;
        const char *field;
    } bad[] = {
        {"{\"call_window\":{\"mon\":[[\"22:00\",\"23:30\"]]}}", 400, "call_window"},
        {"{\"call_window\":{\"mon\":[[\"9\",\"17:00\"]]}}", 400, "call_window"},
        {"{\"time_zone\":\"Europe/Atlantis\"}", 400, "time_zone"},
        {"{\"end_at\":\"2026-11-01T00:00:00Z\"}", 400, "end_at"},   /* before start_at */
        {"{\"start_at\":\"2026-12-25T00:00:00Z\"}", 400, "end_at"}, /* now after end_at */
        {"{\"strategy_id\":999}", 400, "strategy_id"},
        {"{\"strategy\":\"Nope\"}", 400, "strategy"},
        {"{\"channel\":\"sms\"}", 400, "channel"},
        {"{\"sms\":{\"template\":\"Hi {first_name\"}}", 400, "sms.template"},
        {"{\"name\":null}", 400, "name"},
        {"not json", 400, "body"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long st = gw_test_call(f, "PATCH", path, bad[i].patch, &a);
        const char *detail = json_string_value(json_object_get(a, "detail"));
        if (st != bad[i].status || !detail || strncmp(detail, bad[i].field, strlen(bad[i].field))) {
            fail_msg("PATCH %s: %ld %s", bad[i].patch, st, detail ? detail : "");
        }
        json_decref(a);
    }
    /* An end in the past (business clock: 2026-11-24T12:00Z) is refused. */
    assert_int_equal(gw_test_call(f, "PATCH", path,
                                  "{\"start_at\":null,\"end_at\":\"2026-11-24T11:00:00Z\"}", &a),
                     400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "past"));
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_string_equal(gw_test_jstr(a, "updated_at"), before);
    assert_string_equal(gw_test_jstr(a, "name"), "Edited");
    json_decref(a);

    /* Active: the schedule may change, what the campaign is may not. */
    expect_state(f, id, "activate", 200, "active");
    assert_int_equal(gw_test_call(f, "PATCH", path,
                                  "{\"time_zone\":\"Europe/London\",\"call_window\":null}", &a),
                     200);
    assert_string_equal(gw_test_jstr(a, "time_zone"), "Europe/London");
    assert_true(json_is_null(json_object_get(a, "call_window")));
    json_decref(a);
    assert_int_equal(gw_test_call(f, "PATCH", path, "{\"strategy\":\"Default\"}", &a), 409);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "pause"));
    json_decref(a);
    assert_int_equal(gw_test_call(f, "PATCH", path, "{\"cisco\":{\"campaign_id\":\"9\"}}", &a),
                     409);
    json_decref(a);
    expect_state(f, id, "pause", 200, "paused");
    assert_int_equal(gw_test_call(f, "PATCH", path, "{\"strategy\":\"Default\"}", &a), 200);
    assert_string_equal(gw_test_jstr(a, "strategy"), "Default");
    json_decref(a);
    expect_state(f, id, "stop", 200, "stopped");
    assert_int_equal(gw_test_call(f, "PATCH", path, "{\"name\":\"Later\"}", &a), 409);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "PATCH", "/api/v1/campaigns/999999", "{\"name\":\"x\"}", &a),
                     404);
    json_decref(a);
}

static void test_api_campaign_past_end_at_is_not_activated(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = NULL;
    /* Created with an end in the past: refused. */
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/campaigns",
                                  VOICE_BODY("Late", ",\"end_at\":\"2026-11-24T11:59:00Z\""), &a),
                     400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "end_at"));
    json_decref(a);

    long long id = create(f, VOICE_BODY("Ends", ",\"end_at\":\"2026-11-25T00:00:00Z\""));
    long long paused = create(f, VOICE_BODY("Paused", ",\"end_at\":\"2026-11-25T00:00:00Z\""));
    expect_state(f, paused, "activate", 200, "active");
    expect_state(f, paused, "pause", 200, "paused");
    setenv("ECM_CLOCK_FIXED", "2026-11-25T00:00:00Z", 1);
    expect_state(f, id, "activate", 409, NULL);
    expect_state(f, paused, "resume", 409, NULL);
    expect_state(f, paused, "activate", 409, NULL);
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_string_equal(gw_test_jstr(a, "state"), "draft"); /* left as it was */
    json_decref(a);
    /* Stopping needs no future. */
    expect_state(f, paused, "stop", 200, "stopped");
    /* A later end_at and it runs. */
    assert_int_equal(gw_test_call(f, "PATCH", path, "{\"end_at\":\"2026-11-30T00:00:00Z\"}", &a),
                     200);
    json_decref(a);
    expect_state(f, id, "activate", 200, "active");
    setenv("ECM_CLOCK_FIXED", "2026-11-24T12:00:00Z", 1);
}

static void test_api_campaign_create_takes_strategy_id_and_window(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/campaigns",
                                  "{\"name\":\"W\",\"channel\":\"sms\",\"strategy_id\":1,"
                                  "\"sms\":{\"template\":\"Hi\"},\"region\":\"fr\","
                                  "\"time_zone\":\"Europe/Paris\","
                                  "\"call_window\":{\"mon\":[[\"07:00\",\"10:00\"]]}}",
                                  &a),
                     201);
    assert_string_equal(gw_test_jstr(a, "region"), "FR");
    assert_string_equal(gw_test_jstr(a, "strategy"), "Default");
    json_t *mon = json_object_get(json_object_get(a, "call_window"), "mon");
    assert_string_equal(json_string_value(json_array_get(json_array_get(mon, 0), 0)), "07:00");
    assert_non_null(json_object_get(json_object_get(a, "counts"), "by_state"));
    json_decref(a);
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/campaigns",
                                  "{\"name\":\"W\",\"channel\":\"sms\",\"strategy_id\":424242,"
                                  "\"sms\":{\"template\":\"Hi\"}}",
                                  &a),
                     400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "strategy_id"));
    json_decref(a);
    assert_int_equal(
        gw_test_call(f, "POST", "/api/v1/campaigns",
                     "{\"name\":\"W\",\"channel\":\"sms\",\"sms\":{\"template\":\"Hi\"},"
                     "\"call_window\":{\"sun\":[[\"05:00\",\"09:00\"]]}}",
                     &a),
        400);
    /* Open 05:00-09:00 only: fine at 08:00-21:00, closed at this
     * deployment's 09:00-20:00. */
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "call_window: no open time"));
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "09:00-20:00"));
    json_decref(a);
}

/* Answers quote outside text by characters: 40 e-acutes and "...", never
 * 40 bytes (which would end inside the twentieth-and-a-half). */
/* A campaign whose strategy switches to a channel it lacks is refused
 * (422 naming the member) on create, on PATCH and on activate; with the
 * member it is stored and shown. */
static void test_api_campaign_switch_needs_the_channel(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/strategies",
                                  "{\"name\":\"To SMS\",\"rules\":[{\"outcome\":\"BUSY\","
                                  "\"action\":\"retry\",\"switch_channel\":\"sms\","
                                  "\"switch_after\":2,\"max_attempts\":3}]}",
                                  &a),
                     201);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/campaigns",
                                  VOICE_BODY("No SMS", ",\"strategy\":\"To SMS\""), &a),
                     422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "sms.template"));
    json_decref(a);

    long long id = create(f, VOICE_BODY("With SMS", ",\"strategy\":\"To SMS\",\"sms\":{"
                                                    "\"template\":\"Hi {first_name}\"}"));
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_string_equal(gw_test_jstr(json_object_get(a, "sms"), "template"), "Hi {first_name}");
    assert_string_equal(gw_test_jstr(json_object_get(a, "cisco"), "kind"), "uccx");
    json_decref(a);

    /* An SMS campaign with a Cisco target may switch to voice. */
    long long sms = create(f, "{\"name\":\"SMS and calls\",\"channel\":\"sms\",\"sms\":{"
                              "\"template\":\"Hi\"},\"cisco\":{\"kind\":\"uccx\","
                              "\"campaign_id\":\"8\"}}");
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", sms);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_string_equal(gw_test_jstr(json_object_get(a, "cisco"), "campaign_id"), "8");
    json_decref(a);

    /* A plain SMS campaign moved to a strategy that switches to voice. */
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/strategies",
                                  "{\"name\":\"To voice\",\"rules\":[{\"outcome\":"
                                  "\"SMS_UNDELIVERED\",\"action\":\"retry\","
                                  "\"switch_channel\":\"voice\"}]}",
                                  &a),
                     201);
    json_decref(a);
    long long plain = create(f, "{\"name\":\"Only SMS\",\"channel\":\"sms\",\"sms\":{"
                                "\"template\":\"Hi\"}}");
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", plain);
    assert_int_equal(gw_test_call(f, "PATCH", path, "{\"strategy\":\"To voice\"}", &a), 422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "cisco"));
    json_decref(a);
    /* The strategy changes under a draft campaign: activate refuses. */
    ecm_test_pg_exec(f->conn,
                     "UPDATE strategy_rules SET switch_channel = 'voice' WHERE strategy_id = "
                     "(SELECT id FROM strategies WHERE name = 'Default') AND outcome = "
                     "'SMS_UNDELIVERED' AND action = 'retry'");
    long long dflt = ecm_test_pg_int(f->conn, "SELECT count(*) FROM strategy_rules WHERE "
                                              "switch_channel = 'voice' AND strategy_id = "
                                              "(SELECT id FROM strategies WHERE name = 'Default')");
    assert_int_equal(dflt, 1);
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld/activate", plain);
    assert_int_equal(gw_test_call(f, "POST", path, NULL, &a), 422);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "cisco"));
    json_decref(a);
    ecm_test_pg_exec(f->conn, "UPDATE strategy_rules SET switch_channel = NULL");
    expect_state(f, plain, "activate", 200, "active");
}

static void test_gw_quote_counts_characters_never_bytes(void **state)
{
    (void)state;
    char in[256] = "";
    char want[256] = "";
    size_t nin = 0, nwant = 0;
    for (int k = 0; k < 50; k++) {
        memcpy(in + nin, "\xC3\xA9", 2);
        nin += 2;
        if (k < 40) {
            memcpy(want + nwant, "\xC3\xA9", 2);
            nwant += 2;
        }
    }
    memcpy(want + nwant, "...", 4);
    char got[256];
    gw_test_format(got, sizeof(got), "%s", GW_QUOTE(in, 40));
    assert_string_equal(got, want);
    gw_test_format(got, sizeof(got), "'%s'", GW_QUOTE(NULL, 40));
    assert_string_equal(got, "''");
    gw_test_format(got, sizeof(got), "%s", GW_QUOTE("bad \xFF", 40));
    assert_string_equal(got, "bad \xEF\xBF\xBD");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_quote_counts_characters_never_bytes),
        cmocka_unit_test(test_campaign_voice_minimal_body_gets_defaults),
        cmocka_unit_test(test_campaign_numeric_cisco_id_becomes_text),
        cmocka_unit_test(test_campaign_ucce_db_keeps_its_tables),
        cmocka_unit_test(test_campaign_sms_needs_no_cisco),
        cmocka_unit_test(test_campaign_validation_names_the_field),
        cmocka_unit_test(test_campaign_unknown_multibyte_key_keeps_the_reason_valid_utf8),
        cmocka_unit_test(test_campaign_window_errors_name_the_field_and_the_place),
        cmocka_unit_test(test_campaign_window_closed_in_legal_hours_is_refused),
        cmocka_unit_test(test_campaign_window_is_checked_against_the_deployments_legal_hours),
        cmocka_unit_test(test_campaign_window_is_kept_canonical_and_region_upper_case),
        cmocka_unit_test(test_campaign_patch_allowed_members_depend_on_state),
        cmocka_unit_test(test_campaign_merge_keeps_unnamed_members),
        cmocka_unit_test(test_campaign_schedule_with_offsets_is_compared_in_utc),
        cmocka_unit_test(test_rfc3339_parse_known_instants),
        cmocka_unit_test(test_campaign_allowed_transitions),
        cmocka_unit_test(test_campaign_refused_transitions),
        cmocka_unit_test(test_api_campaign_resume_and_final_states),
        cmocka_unit_test(test_api_campaign_patch_edits_and_bumps_updated_at),
        cmocka_unit_test(test_api_campaign_past_end_at_is_not_activated),
        cmocka_unit_test(test_api_campaign_create_takes_strategy_id_and_window),
        cmocka_unit_test(test_api_campaign_switch_needs_the_channel),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* gw_campaigns: POST body validation, RFC 3339 parsing and the campaign
 * life cycle, as pure functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <jansson.h>

#include "gw_campaigns.h"

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
    assert_string_equal(in.region, "US");
    assert_string_equal(in.time_zone, "UTC");
    assert_null(in.start_at);
    assert_null(in.end_at);
    json_decref(body);
}

static void test_campaign_numeric_cisco_id_becomes_text(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"name\":\"x\",\"channel\":\"voice_agent\","
                              "\"cisco\":{\"kind\":\"cce\",\"campaign_id\":5001}}",
                              0, NULL);
    gw_campaign_input in;
    const char *field = NULL;
    char reason[200];
    assert_int_equal(gw_campaign_validate(body, &in, &field, reason, sizeof(reason)), 0);
    assert_string_equal(in.cisco_campaign_id, "5001");
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
        {"{\"name\":\"x\",\"channel\":\"sms\",\"strategy\":3}", "strategy"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"region\":\"usa\"}", "region"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"time_zone\":\"New York\"}", "time_zone"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"start_at\":\"tomorrow\"}", "start_at"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"end_at\":\"2026-13-01T00:00:00Z\"}", "end_at"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"start_at\":\"2026-11-24T10:00:00Z\","
         "\"end_at\":\"2026-11-24T11:00:00+02:00\"}",
         "end_at"},
        {"{\"name\":\"x\",\"channel\":\"sms\",\"colour\":\"red\"}", "body"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *field = invalid_field(cases[i].body, &in);
        if (!field || strcmp(field, cases[i].field) != 0) {
            fail_msg("%s: expected field %s, got %s", cases[i].body, cases[i].field,
                     field ? field : "(valid)");
        }
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
    assert_string_equal(gw_campaign_next_state("active", "stop"), "stopped");
    assert_string_equal(gw_campaign_next_state("paused", "stop"), "stopped");
}

static void test_campaign_refused_transitions(void **state)
{
    (void)state;
    static const char *const states[] = {"draft",   "active",    "paused",
                                         "stopped", "completed", "expired"};
    static const char *const actions[] = {"activate", "pause", "stop"};
    int allowed = 0;
    for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
        for (size_t a = 0; a < sizeof(actions) / sizeof(actions[0]); a++) {
            if (gw_campaign_next_state(states[s], actions[a])) {
                allowed++;
            }
        }
    }
    /* Exactly the five moves above; nothing leaves stopped, completed or
     * expired, and draft can only be activated. */
    assert_int_equal(allowed, 5);
    assert_null(gw_campaign_next_state("draft", "pause"));
    assert_null(gw_campaign_next_state("draft", "stop"));
    assert_null(gw_campaign_next_state("active", "activate"));
    assert_null(gw_campaign_next_state("stopped", "activate"));
    assert_null(gw_campaign_next_state("active", "delete"));
    assert_null(gw_campaign_next_state(NULL, "stop"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_campaign_voice_minimal_body_gets_defaults),
        cmocka_unit_test(test_campaign_numeric_cisco_id_becomes_text),
        cmocka_unit_test(test_campaign_sms_needs_no_cisco),
        cmocka_unit_test(test_campaign_validation_names_the_field),
        cmocka_unit_test(test_campaign_schedule_with_offsets_is_compared_in_utc),
        cmocka_unit_test(test_rfc3339_parse_known_instants),
        cmocka_unit_test(test_campaign_allowed_transitions),
        cmocka_unit_test(test_campaign_refused_transitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

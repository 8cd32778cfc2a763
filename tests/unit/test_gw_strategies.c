/* gw_strategies: body validation as a pure function; and, with
 * ECM_TEST_PG_DSN, the strategies API against a scratch database: create,
 * list, read, replace (rules in one transaction), delete, Default editable
 * but neither renamed nor deleted, a strategy in use not deleted. */
#include <jansson.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "ecm_utf8.h"
#include "gw_app.h"
#include "gw_campaigns.h"
#include "gw_strategies.h"
#include "gw_test_support.h"

/* This test's ports (gwapi's range 7600-7699). */
#define PORT_FIRST 7630
#define PORT_LAST 7649

/* ---- validation --------------------------------------------------------- */

/* Validates text; returns 0 or -1 with the field in field. */
static int check(const char *text, gw_strategy_input *in, char *field, size_t field_size)
{
    json_error_t jerr;
    json_t *body = json_loads(text, 0, &jerr);
    if (!body) {
        fail_msg("test body is not JSON: %s", jerr.text);
    }
    char reason[200] = "";
    field[0] = '\0';
    int rc = gw_strategy_validate(body, in, field, field_size, reason, sizeof(reason));
    if (rc != 0) {
        assert_true(reason[0] != '\0');
    }
    json_decref(body);
    return rc;
}

static void test_strategy_rules_get_defaults_in_order(void **state)
{
    (void)state;
    json_t *body =
        json_loads("{\"name\":\"Fast\",\"description\":\"for tests\","
                   "\"rules\":[{\"outcome\":\"NO_ANSWER\",\"action\":\"retry\","
                   "\"delay_seconds\":60,\"max_attempts\":4},"
                   "{\"outcome\":\"INVALID_NUMBER\",\"action\":\"retry\","
                   "\"next_phone\":true},{\"outcome\":\"CONNECTED\",\"action\":\"close\"}]}",
                   0, NULL);
    gw_strategy_input in;
    char field[64], reason[200];
    assert_int_equal(gw_strategy_validate(body, &in, field, sizeof(field), reason, sizeof(reason)),
                     0);
    assert_string_equal(in.name, "Fast");
    assert_string_equal(in.description, "for tests");
    assert_int_equal(in.max_attempts, 5);
    assert_int_equal(in.max_attempts_per_day, 3);
    assert_int_equal(json_array_size(in.rules), 3);
    json_t *r0 = json_array_get(in.rules, 0), *r1 = json_array_get(in.rules, 1);
    assert_string_equal(json_string_value(json_object_get(r0, "outcome")), "NO_ANSWER");
    assert_int_equal(json_integer_value(json_object_get(r0, "delay_seconds")), 60);
    assert_int_equal(json_integer_value(json_object_get(r0, "max_attempts")), 4);
    assert_true(json_is_false(json_object_get(r0, "next_phone")));
    assert_int_equal(json_integer_value(json_object_get(r1, "delay_seconds")), 0);
    assert_int_equal(json_integer_value(json_object_get(r1, "max_attempts")), 1);
    assert_true(json_is_true(json_object_get(r1, "next_phone")));
    gw_strategy_input_clear(&in);
    json_decref(body);
}

static void test_strategy_validation_names_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"[]", "body"},
        {"{\"rules\":[]}", "name"},
        {"{\"name\":\"\",\"rules\":[]}", "name"},
        {"{\"name\":\"x\"}", "rules"},
        {"{\"name\":\"x\",\"rules\":{}}", "rules"},
        {"{\"name\":\"x\",\"rules\":[],\"colour\":1}", "body"},
        {"{\"name\":\"x\",\"rules\":[],\"description\":5}", "description"},
        {"{\"name\":\"x\",\"rules\":[],\"max_attempts\":0}", "max_attempts"},
        {"{\"name\":\"x\",\"rules\":[],\"max_attempts\":\"3\"}", "max_attempts"},
        {"{\"name\":\"x\",\"rules\":[],\"max_attempts_per_day\":-1}", "max_attempts_per_day"},
        {"{\"name\":\"x\",\"rules\":[],\"max_attempts_per_day\":1001}", "max_attempts_per_day"},
        {"{\"name\":\"x\",\"rules\":[7]}", "rules[0]"},
        {"{\"name\":\"x\",\"rules\":[{\"action\":\"close\"}]}", "rules[0].outcome"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"no_answer\",\"action\":\"close\"}]}",
         "rules[0].outcome"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"HAPPY\",\"action\":\"close\"}]}",
         "rules[0].outcome"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"UNSPECIFIED\",\"action\":\"close\"}]}",
         "rules[0].outcome"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"EXPIRED\",\"action\":\"close\"}]}",
         "rules[0].outcome"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":\"close\"},"
         "{\"outcome\":\"BUSY\",\"action\":\"retry\"}]}",
         "rules[1].outcome"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":\"wait\"}]}",
         "rules[0].action"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":\"retry\","
         "\"delay_seconds\":-1}]}",
         "rules[0].delay_seconds"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":\"retry\","
         "\"max_attempts\":0}]}",
         "rules[0].max_attempts"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":\"retry\","
         "\"next_phone\":\"yes\"}]}",
         "rules[0].next_phone"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":\"retry\","
         "\"priority\":1}]}",
         "rules[0].priority"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":\"retry\","
         "\"switch_channel\":\"email\"}]}",
         "rules[0].switch_channel"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":\"close\","
         "\"switch_channel\":\"sms\"}]}",
         "rules[0].switch_channel"},
        {"{\"name\":\"x\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":\"retry\","
         "\"switch_channel\":\"sms\",\"switch_after\":0}]}",
         "rules[0].switch_after"},
        {"{\"name\":\"x\",\"rules\":[],\"max_sms_attempts\":0}", "max_sms_attempts"},
        {"{\"name\":\"x\",\"rules\":[],\"max_voice_attempts\":\"2\"}", "max_voice_attempts"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_strategy_input in;
        char field[64];
        int rc = check(cases[i].body, &in, field, sizeof(field));
        if (rc == 0) {
            gw_strategy_input_clear(&in);
        }
        if (rc == 0 || strcmp(field, cases[i].field) != 0) {
            fail_msg("%s: expected field %s, got %s", cases[i].body, cases[i].field,
                     rc == 0 ? "(valid)" : field);
        }
    }
}

/* Keys and outcomes of multibyte characters, longer than the 40 characters
 * a reason quotes: field and reason stay valid UTF-8 (found by
 * fuzz_api_body). */
static void test_strategy_multibyte_text_keeps_field_and_reason_valid_utf8(void **state)
{
    (void)state;
    char word[1 + 45 * 2 + 1] = "a"; /* 'a' first: a cut at 40 bytes splits a character */
    for (int i = 0; i < 45; i++) {
        memcpy(word + 1 + 2 * i, "\xC3\xA9", 2);
    }
    const char *formats[] = {
        "{\"name\":\"x\",\"rules\":[],\"%s\":1}",
        "{\"name\":\"x\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":\"close\",\"%s\":1}]}",
        "{\"name\":\"x\",\"rules\":[{\"outcome\":\"%s\",\"action\":\"close\"}]}",
    };
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        char text[512];
        gw_test_format(text, sizeof(text), formats[i], word);
        gw_strategy_input in;
        char field[64] = "", reason[200] = "";
        json_t *body = json_loads(text, 0, NULL);
        assert_non_null(body);
        assert_int_equal(
            gw_strategy_validate(body, &in, field, sizeof(field), reason, sizeof(reason)), -1);
        assert_true(ecm_utf8_valid(field, strlen(field)));
        assert_true(ecm_utf8_valid(reason, strlen(reason)));
        assert_true(reason[0] != '\0');
        json_decref(body);
    }
}

static void test_strategy_takes_every_result_outcome(void **state)
{
    (void)state;
    /* Every outcome a result can carry, SMS included. */
    static const char *const outcomes[] = {
        "CONNECTED",      "NO_ANSWER",     "BUSY",      "ANSWERING_MACHINE",  "FAX",
        "INVALID_NUMBER", "NETWORK_ERROR", "ABANDONED", "CALLBACK_REQUESTED", "AGENT_REJECTED",
        "WRONG_PARTY",    "NOT_ATTEMPTED", "DNC",       "SMS_DELIVERED",      "SMS_UNDELIVERED",
        "SMS_REJECTED",   "SMS_EXPIRED"};
    json_t *rules = json_array();
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        json_array_append_new(rules,
                              json_pack("{ss ss}", "outcome", outcomes[i], "action", "close"));
    }
    json_t *body = json_pack("{ss so}", "name", "All", "rules", rules);
    gw_strategy_input in;
    char field[64], reason[200];
    assert_int_equal(gw_strategy_validate(body, &in, field, sizeof(field), reason, sizeof(reason)),
                     0);
    assert_int_equal(json_array_size(in.rules), sizeof(outcomes) / sizeof(outcomes[0]));
    gw_strategy_input_clear(&in);
    json_decref(body);
}

/* ---- the API -------------------------------------------------------------- */

typedef gw_test_api fixture;

static int group_setup(void **state)
{
    ecm_test_log_init("test_gw_strategies", ECM_LOG_ERROR);
    gw_app settings = gw_test_settings();
    static const gw_test_routes_fn routes[] = {gw_campaigns_register, gw_strategies_register, NULL};
    *state = gw_test_api_new("ecm_gwapi_strat", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

/* The rule for outcome in a strategy answer, or NULL. */
static json_t *rule_of(const json_t *s, const char *outcome)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(s, "rules"), i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "outcome")), outcome) == 0) {
            return r;
        }
    }
    return NULL;
}

static void test_api_strategy_create_read_replace_delete(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = NULL;
    char location[128];
    assert_int_equal(
        gw_test_send(f, "POST", "/api/v1/strategies", "application/json",
                     "{\"name\":\"Patient\",\"description\":\"wait long\",\"max_attempts\":9,"
                     "\"max_attempts_per_day\":2,\"rules\":[{\"outcome\":\"BUSY\","
                     "\"action\":\"retry\",\"delay_seconds\":7200,\"max_attempts\":4},"
                     "{\"outcome\":\"WRONG_PARTY\",\"action\":\"retry\",\"next_phone\":true}]}",
                     &a, location, sizeof(location)),
        201);
    long long id = gw_test_jint(a, "id");
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/strategies/%lld", id);
    assert_string_equal(location, path);
    assert_int_equal(gw_test_jint(a, "max_attempts"), 9);
    assert_int_equal(gw_test_jint(a, "campaigns"), 0);
    assert_int_equal(json_array_size(json_object_get(a, "rules")), 2);
    assert_int_equal(gw_test_jint(rule_of(a, "BUSY"), "delay_seconds"), 7200);
    assert_true(json_is_true(json_object_get(rule_of(a, "WRONG_PARTY"), "next_phone")));
    json_decref(a);
    /* What the strategy service reads. */
    assert_int_equal(ecm_test_pg_int(f->conn,
                                     "SELECT max_attempts FROM strategy_rules "
                                     "WHERE strategy_id = %lld AND outcome = 'BUSY'",
                                     id),
                     4);

    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_string_equal(gw_test_jstr(a, "description"), "wait long");
    json_decref(a);

    /* PUT replaces everything, rules included. */
    assert_int_equal(
        gw_test_call(f, "PUT", path,
                     "{\"name\":\"Patient 2\",\"max_attempts\":3,\"rules\":[{\"outcome\":"
                     "\"NO_ANSWER\",\"action\":\"close\"}]}",
                     &a),
        200);
    assert_string_equal(gw_test_jstr(a, "name"), "Patient 2");
    assert_true(json_is_null(json_object_get(a, "description")));
    assert_int_equal(gw_test_jint(a, "max_attempts_per_day"), 3);
    assert_int_equal(json_array_size(json_object_get(a, "rules")), 1);
    assert_null(rule_of(a, "BUSY"));
    json_decref(a);

    /* A bad PUT changes nothing, not even half of it. */
    assert_int_equal(
        gw_test_call(f, "PUT", path,
                     "{\"name\":\"Patient 3\",\"rules\":[{\"outcome\":\"BUSY\",\"action\":"
                     "\"retry\"},{\"outcome\":\"BUSY\",\"action\":\"close\"}]}",
                     &a),
        400);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "rules[1].outcome"));
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_string_equal(gw_test_jstr(a, "name"), "Patient 2");
    assert_non_null(rule_of(a, "NO_ANSWER"));
    json_decref(a);

    /* Names are unique. */
    assert_int_equal(
        gw_test_call(f, "POST", "/api/v1/strategies", "{\"name\":\"Default\",\"rules\":[]}", &a),
        409);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "PUT", path, "{\"name\":\"Default\",\"rules\":[]}", &a), 409);
    json_decref(a);

    assert_int_equal(gw_test_call(f, "DELETE", path, NULL, &a), 204);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 404);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "DELETE", path, NULL, &a), 404);
    json_decref(a);
    assert_int_equal(ecm_test_pg_int(f->conn,
                                     "SELECT count(*) FROM strategy_rules WHERE strategy_id = %lld",
                                     id),
                     0);
    assert_int_equal(
        gw_test_call(f, "PUT", "/api/v1/strategies/999999", "{\"name\":\"x\",\"rules\":[]}", &a),
        404);
    json_decref(a);
}

/* A rule's channel switch and the per-channel caps go in, are stored for
 * the strategy service, and come back; null caps stay null. */
static void test_api_strategy_channel_switch_round_trip(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = NULL;
    assert_int_equal(
        gw_test_call(f, "POST", "/api/v1/strategies",
                     "{\"name\":\"Busy to SMS\",\"max_sms_attempts\":1,\"rules\":["
                     "{\"outcome\":\"BUSY\",\"action\":\"retry\",\"switch_channel\":\"sms\","
                     "\"switch_after\":2,\"max_attempts\":3},"
                     "{\"outcome\":\"NO_ANSWER\",\"action\":\"retry\"}]}",
                     &a),
        201);
    long long id = gw_test_jint(a, "id");
    assert_int_equal(gw_test_jint(a, "max_sms_attempts"), 1);
    assert_true(json_is_null(json_object_get(a, "max_voice_attempts")));
    assert_string_equal(gw_test_jstr(rule_of(a, "BUSY"), "switch_channel"), "sms");
    assert_int_equal(gw_test_jint(rule_of(a, "BUSY"), "switch_after"), 2);
    assert_true(json_is_null(json_object_get(rule_of(a, "NO_ANSWER"), "switch_channel")));
    assert_int_equal(gw_test_jint(rule_of(a, "NO_ANSWER"), "switch_after"), 1);
    json_decref(a);
    char *row = ecm_test_pg_text(f->conn,
                                 "SELECT r.switch_channel || ' ' || r.switch_after || ' ' || "
                                 "s.max_sms_attempts || ' ' || coalesce(s.max_voice_attempts, 0) "
                                 "FROM strategy_rules r JOIN strategies s ON s.id = r.strategy_id "
                                 "WHERE s.id = %lld AND r.outcome = 'BUSY'",
                                 id);
    assert_string_equal(row, "sms 2 1 0");
    free(row);
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/strategies/%lld", id);
    assert_int_equal(gw_test_call(f, "PUT", path,
                                  "{\"name\":\"Busy to SMS\",\"max_voice_attempts\":4,\"rules\":"
                                  "[{\"outcome\":\"SMS_UNDELIVERED\",\"action\":\"retry\","
                                  "\"switch_channel\":\"voice\"}]}",
                                  &a),
                     200);
    assert_int_equal(gw_test_jint(a, "max_voice_attempts"), 4);
    assert_true(json_is_null(json_object_get(a, "max_sms_attempts")));
    assert_string_equal(gw_test_jstr(rule_of(a, "SMS_UNDELIVERED"), "switch_channel"), "voice");
    json_decref(a);
    assert_int_equal(gw_test_call(f, "DELETE", path, NULL, &a), 204);
    json_decref(a);
}

static void test_api_default_is_editable_but_kept(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long id = ecm_test_pg_int(f->conn, "SELECT id FROM strategies WHERE name = 'Default'");
    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/strategies/%lld", id);
    json_t *a = NULL;
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "rules")), 17); /* the migration's */
    json_decref(a);
    assert_int_equal(
        gw_test_call(f, "PUT", path,
                     "{\"name\":\"Default\",\"description\":\"house rules\",\"max_attempts\":"
                     "7,\"rules\":[{\"outcome\":\"NO_ANSWER\",\"action\":\"retry\","
                     "\"delay_seconds\":1800,\"max_attempts\":5}]}",
                     &a),
        200);
    assert_int_equal(gw_test_jint(a, "max_attempts"), 7);
    assert_int_equal(gw_test_jint(rule_of(a, "NO_ANSWER"), "delay_seconds"), 1800);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "PUT", path, "{\"name\":\"Old default\",\"rules\":[]}", &a),
                     409);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "renamed"));
    json_decref(a);
    assert_int_equal(gw_test_call(f, "DELETE", path, NULL, &a), 409);
    json_decref(a);
    assert_int_equal(ecm_test_pg_int(f->conn, "SELECT count(*) FROM strategies WHERE name = "
                                              "'Default'"),
                     1);
}

static void test_api_strategy_in_use_is_not_deleted(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = NULL;
    assert_int_equal(
        gw_test_call(f, "POST", "/api/v1/strategies", "{\"name\":\"Used\",\"rules\":[]}", &a), 201);
    long long id = gw_test_jint(a, "id");
    json_decref(a);
    char body[256], path[64];
    gw_test_format(body, sizeof(body),
                   "{\"name\":\"c\",\"channel\":\"sms\",\"strategy_id\":%lld,"
                   "\"sms\":{\"template\":\"Hi\"}}",
                   id);
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/campaigns", body, &a), 201);
    assert_string_equal(gw_test_jstr(a, "strategy"), "Used");
    long long campaign = gw_test_jint(a, "id");
    json_decref(a);
    gw_test_format(path, sizeof(path), "/api/v1/strategies/%lld", id);
    assert_int_equal(gw_test_call(f, "DELETE", path, NULL, &a), 409);
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "1 campaign"));
    json_decref(a);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_int_equal(gw_test_jint(a, "campaigns"), 1);
    json_decref(a);
    /* Once the campaign moves to another strategy it can go. */
    gw_test_format(path, sizeof(path), "/api/v1/campaigns/%lld", campaign);
    assert_int_equal(gw_test_call(f, "PATCH", path, "{\"strategy\":\"Default\"}", &a), 200);
    json_decref(a);
    gw_test_format(path, sizeof(path), "/api/v1/strategies/%lld", id);
    assert_int_equal(gw_test_call(f, "DELETE", path, NULL, &a), 204);
    json_decref(a);
}

static void test_api_strategy_list_pages_by_cursor(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = NULL;
    for (int i = 0; i < 3; i++) {
        char body[128];
        gw_test_format(body, sizeof(body), "{\"name\":\"Page %d\",\"rules\":[]}", i);
        assert_int_equal(gw_test_call(f, "POST", "/api/v1/strategies", body, &a), 201);
        json_decref(a);
    }
    long long total = ecm_test_pg_int(f->conn, "SELECT count(*) FROM strategies");
    long long seen = 0;
    char path[128] = "/api/v1/strategies?limit=2";
    long long last = 0;
    for (int pages = 0; pages < 100; pages++) {
        assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(a, "items"), i, s)
        {
            assert_true(gw_test_jint(s, "id") > last); /* id order, Default first */
            last = gw_test_jint(s, "id");
            seen++;
        }
        json_t *next = json_object_get(a, "next_cursor");
        if (json_is_null(next)) {
            json_decref(a);
            break;
        }
        gw_test_format(path, sizeof(path), "/api/v1/strategies?limit=2&cursor=%s",
                       json_string_value(next));
        json_decref(a);
    }
    assert_int_equal(seen, total);
    assert_int_equal(gw_test_call(f, "GET", "/api/v1/strategies?cursor=x", NULL, &a), 400);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strategy_rules_get_defaults_in_order),
        cmocka_unit_test(test_strategy_validation_names_the_field),
        cmocka_unit_test(test_strategy_multibyte_text_keeps_field_and_reason_valid_utf8),
        cmocka_unit_test(test_strategy_takes_every_result_outcome),
        cmocka_unit_test(test_api_strategy_create_read_replace_delete),
        cmocka_unit_test(test_api_strategy_channel_switch_round_trip),
        cmocka_unit_test(test_api_default_is_editable_but_kept),
        cmocka_unit_test(test_api_strategy_in_use_is_not_deleted),
        cmocka_unit_test(test_api_strategy_list_pages_by_cursor),
    };
    return cmocka_run_group_tests(tests, group_setup, gw_test_api_teardown);
}

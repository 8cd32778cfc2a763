/* gw_contacts: the callback body checks and the action per contact state as
 * pure functions; and, with ECM_TEST_PG_DSN, the API against a scratch
 * database: POST /api/v1/contacts/{id}/callback (422 naming the member, 404,
 * 409 for a closed contact or an ended campaign, a contact not out with the
 * dialer rescheduled to 'waiting' at the time, a dispatched one keeping its
 * state with the time stored, a late contacts.retry changing nothing)
 * and GET /api/v1/contacts/{id} with its attempts. Business time stands
 * still at 2026-03-04T17:00:00Z (ECM_CLOCK_FIXED). */
#include <jansson.h>

#include "ecm_intake.h"
#include "ecm_pg.h"
#include "gw_app.h"
#include "gw_contacts.h"
#include "gw_test_support.h"

/* This test's ports (gwapi's range 7600-7699). */
#define PORT_FIRST 7670
#define PORT_LAST 7689

#define NOW "2026-03-04T17:00:00Z"

/* ---- pure: body checks and actions -------------------------------------- */

/* gw_callback_parse of text at NOW; returns its result, the field in *field. */
static int parse(const char *text, int64_t *at_ms, const char **field)
{
    json_t *body = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!body) {
        fail_msg("test body is not JSON: %s", text);
    }
    char reason[200] = "";
    *field = NULL;
    int rc = gw_callback_parse(body, ecm_test_time_ms(NOW), at_ms, field, reason, sizeof(reason));
    if (rc != 0) {
        assert_non_null(*field);
        assert_true(reason[0] != '\0');
    }
    json_decref(body);
    return rc;
}

static void test_callback_body_checks_name_the_member(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"[]", "body"},
        {"\"2026-03-05T10:00:00Z\"", "body"},
        {"{}", "at"},
        {"{\"at\": null}", "at"},
        {"{\"at\": 1772730000000}", "at"},
        {"{\"at\": \"tomorrow at ten\"}", "at"},
        {"{\"at\": \"2026-02-30T10:00:00Z\"}", "at"},
        {"{\"at\": \"2026-03-04T16:59:59Z\"}", "at"}, /* past */
        {"{\"at\": \"" NOW "\"}", "at"},              /* now is not the future */
        {"{\"at\": \"2026-03-05T10:00:00Z\", \"note\": \"x\"}", "body"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -1;
        const char *field = NULL;
        if (parse(cases[i].body, &ms, &field) == 0) {
            fail_msg("accepted %s", cases[i].body);
        }
        if (strcmp(field, cases[i].field) != 0) {
            fail_msg("%s: field %s, expected %s", cases[i].body, field, cases[i].field);
        }
        assert_int_equal(ms, -1);
    }
}

static void test_callback_body_future_time_with_offset_is_taken(void **state)
{
    (void)state;
    int64_t ms = 0;
    const char *field = NULL;
    assert_int_equal(parse("{\"at\": \"2026-03-04T15:00:00-05:00\"}", &ms, &field), 0);
    assert_int_equal(ms, ecm_test_time_ms("2026-03-04T20:00:00Z"));
    assert_int_equal(parse("{\"at\": \"2026-03-04T17:00:00.001Z\"}", &ms, &field), 0);
    assert_int_equal(ms, ecm_test_time_ms(NOW) + 1);
}

static void test_callback_action_by_contact_state(void **state)
{
    (void)state;
    assert_int_equal(gw_callback_action_for("pending"), GW_CALLBACK_RESCHEDULE);
    assert_int_equal(gw_callback_action_for("queued"), GW_CALLBACK_RESCHEDULE);
    assert_int_equal(gw_callback_action_for("waiting"), GW_CALLBACK_RESCHEDULE);
    assert_int_equal(gw_callback_action_for("retry_due"), GW_CALLBACK_RESCHEDULE);
    assert_int_equal(gw_callback_action_for("dispatched"), GW_CALLBACK_STORE);
    assert_int_equal(gw_callback_action_for("closed"), GW_CALLBACK_REFUSE);
    assert_int_equal(gw_callback_action_for("sleeping"), GW_CALLBACK_REFUSE);
    assert_int_equal(gw_callback_action_for(NULL), GW_CALLBACK_REFUSE);
}

/* ---- the API against a scratch database --------------------------------- */

typedef gw_test_api fixture;

static int group_setup(void **state)
{
    ecm_test_log_init("test_gw_contacts", ECM_LOG_ERROR);
    setenv("ECM_CLOCK_FIXED", NOW, 1);
    gw_app settings = gw_test_settings();
    static const gw_test_routes_fn routes[] = {gw_contacts_register, NULL};
    *state = gw_test_api_new("ecm_callback_gw", &settings, PORT_FIRST, PORT_LAST, routes);
    return 0;
}

static int group_teardown(void **state)
{
    gw_test_api_destroy(*state);
    unsetenv("ECM_CLOCK_FIXED");
    return 0;
}

/* An active voice campaign (end_at: SQL, "NULL" for none) of the Default
 * strategy. */
static long long make_campaign(const fixture *f, const char *end_at)
{
    return ecm_test_pg_int(f->conn,
                           "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind,"
                           " cisco_campaign_id, end_at) SELECT 'cb', 'voice_ivr', 'active', id,"
                           " 'uccx', '7', %s FROM strategies WHERE name = 'Default' RETURNING id",
                           end_at);
}

static long long make_contact(const fixture *f, long long campaign, const char *state, int attempts)
{
    return ecm_test_pg_int(f->conn,
                           "INSERT INTO contacts (campaign_id, phones, state, attempts, outcome,"
                           " account_number) VALUES (%lld, '{+12125550100,+12125550101}', '%s',"
                           " %d, %s, 'acct-1') RETURNING id",
                           campaign, state, attempts,
                           strcmp(state, "closed") == 0 ? "'CONNECTED'" : "NULL");
}

/* POST {"at": at_text} to contact id's callback; returns the status, the
 * answer in *a. */
static long post_callback(const fixture *f, long long id, const char *body, json_t **a)
{
    char path[96];
    gw_test_format(path, sizeof(path), "/api/v1/contacts/%lld/callback", id);
    return gw_test_call(f, "POST", path, body, a);
}

/* Fails unless the answer is problem+json whose detail starts with field. */
static void expect_problem(json_t *a, const char *field)
{
    assert_non_null(a);
    const char *detail = gw_test_jstr(a, "detail");
    size_t n = strlen(field);
    if (strncmp(detail, field, n) != 0 || detail[n] != ':') {
        fail_msg("detail '%s' does not name %s", detail, field);
    }
}

static char *contact_text(const fixture *f, long long id, const char *expr)
{
    return ecm_test_pg_text(f->conn, "SELECT %s FROM contacts WHERE id = %lld", expr, id);
}

static void expect_contact(const fixture *f, long long id, const char *expr, const char *want)
{
    char *got = contact_text(f, id, expr);
    if (strcmp(got, want) != 0) {
        fail_msg("contact %lld: %s is '%s', expected '%s'", id, expr, got, want);
    }
    free(got);
}

#define MS_OF(col) "floor(extract(epoch FROM " col ") * 1000)::bigint::text"

static void test_api_callback_invalid_times_answer_422_naming_at(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long camp = make_campaign(f, "'2026-03-10T00:00:00Z'");
    long long k = make_contact(f, camp, "queued", 0);
    json_t *a = NULL;
    assert_int_equal(post_callback(f, k, "{\"at\": \"2026-03-04T16:00:00Z\"}", &a), 422);
    expect_problem(a, "at");
    json_decref(a);
    assert_int_equal(post_callback(f, k, "{\"at\": \"next tuesday\"}", &a), 422);
    expect_problem(a, "at");
    json_decref(a);
    assert_int_equal(post_callback(f, k, "{}", &a), 422);
    expect_problem(a, "at");
    json_decref(a);
    /* at the end_at and past it */
    assert_int_equal(post_callback(f, k, "{\"at\": \"2026-03-10T00:00:00Z\"}", &a), 422);
    expect_problem(a, "at");
    assert_non_null(strstr(gw_test_jstr(a, "detail"), "end_at"));
    json_decref(a);
    assert_int_equal(post_callback(f, k, "{\"at\": \"2026-03-11T12:00:00+01:00\"}", &a), 422);
    expect_problem(a, "at");
    json_decref(a);
    assert_int_equal(post_callback(f, k, "{\"at\": ", &a), 400);
    json_decref(a);
    /* nothing changed */
    expect_contact(f, k, "state || ' ' || coalesce(callback_at::text, '-')", "queued -");
}

static void test_api_callback_unknown_contact_is_404(void **state)
{
    fixture *f = ecm_test_need(*state);
    json_t *a = NULL;
    assert_int_equal(post_callback(f, 999999999, "{\"at\": \"2026-03-05T15:00:00Z\"}", &a), 404);
    json_decref(a);
    assert_int_equal(gw_test_call(f, "POST", "/api/v1/contacts/abc/callback",
                                  "{\"at\": \"2026-03-05T15:00:00Z\"}", &a),
                     404);
    json_decref(a);
}

static void test_api_callback_closed_contact_is_409(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long camp = make_campaign(f, "NULL");
    long long k = make_contact(f, camp, "closed", 1);
    json_t *a = NULL;
    assert_int_equal(post_callback(f, k, "{\"at\": \"2026-03-05T15:00:00Z\"}", &a), 409);
    assert_string_equal(gw_test_jstr(a, "type"), "https://ecm.dev/problems/conflict");
    json_decref(a);
    expect_contact(f, k, "state || ' ' || coalesce(callback_at::text, '-')", "closed -");
}

static void test_api_callback_in_stopped_campaign_is_409(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long camp = make_campaign(f, "NULL");
    long long k = make_contact(f, camp, "waiting", 1);
    ecm_test_pg_exec(f->conn, "UPDATE campaigns SET state = 'stopped' WHERE id = %lld", camp);
    json_t *a = NULL;
    assert_int_equal(post_callback(f, k, "{\"at\": \"2026-03-05T15:00:00Z\"}", &a), 409);
    json_decref(a);
    expect_contact(f, k, "coalesce(callback_at::text, '-')", "-");
}

static void test_api_callback_reschedules_contact_not_out_with_dialer(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long camp = make_campaign(f, "'2026-03-10T00:00:00Z'");
    /* 'pending': still valid for rows an older gateway loaded (db/005) */
    static const char *const states[] = {"pending", "queued", "waiting", "retry_due"};
    char want[32];
    gw_test_format(want, sizeof(want), "%lld", (long long)ecm_test_time_ms("2026-03-05T15:00:00Z"));
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        long long k = make_contact(f, camp, states[i], strcmp(states[i], "pending") == 0 ? 0 : 1);
        ecm_test_pg_exec(f->conn,
                         "UPDATE contacts SET next_attempt_at = '2026-03-04T17:30:00Z'"
                         " WHERE id = %lld AND state = 'waiting'",
                         k);
        json_t *a = NULL;
        long st = post_callback(f, k, "{\"at\": \"2026-03-05T10:00:00-05:00\"}", &a);
        if (st != 200) {
            fail_msg("%s: status %ld", states[i], st);
        }
        assert_int_equal(gw_test_jint(a, "id"), k);
        assert_string_equal(gw_test_jstr(a, "state"), "waiting");
        assert_string_equal(gw_test_jstr(a, "callback_at"), "2026-03-05T15:00:00.000Z");
        assert_string_equal(gw_test_jstr(a, "next_attempt_at"), "2026-03-05T15:00:00.000Z");
        json_decref(a);
        expect_contact(f, k, "state", "waiting");
        expect_contact(f, k, MS_OF("next_attempt_at"), want);
        expect_contact(f, k, MS_OF("callback_at"), want);
    }
}

/* The strategy made the contact retry_due and published its ContactRetry;
 * the callback comes before the feeder consumes it: the callback wins. */
static void test_api_callback_rescheduled_retry_due_contact_ignores_late_retry_event(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long camp = make_campaign(f, "NULL");
    long long k = make_contact(f, camp, "retry_due", 1);
    json_t *a = NULL;
    assert_int_equal(post_callback(f, k, "{\"at\": \"2026-03-05T15:00:00Z\"}", &a), 200);
    json_decref(a);
    /* the contacts.retry event reaches the feeder now */
    ecm_pg *pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(pg);
    ecm_intake_item item;
    memset(&item, 0, sizeof(item));
    item.kind = ECM_INTAKE_RETRY;
    item.contact_id = k;
    item.attempt = 2;
    size_t queued = 99;
    assert_int_equal(ecm_intake_apply(pg, &item, 1, &queued), 0);
    ecm_pg_destroy(pg);
    assert_int_equal(queued, 0);
    assert_int_equal(item.unknown, 0);
    expect_contact(f, k, "state || ' ' || attempts", "waiting 1");
}

static void test_api_callback_dispatched_contact_keeps_state_and_stores_time(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long camp = make_campaign(f, "NULL");
    long long k = make_contact(f, camp, "dispatched", 2);
    json_t *a = NULL;
    assert_int_equal(post_callback(f, k, "{\"at\": \"2026-03-04T19:30:00Z\"}", &a), 200);
    assert_string_equal(gw_test_jstr(a, "state"), "dispatched");
    assert_string_equal(gw_test_jstr(a, "callback_at"), "2026-03-04T19:30:00.000Z");
    assert_true(json_is_null(json_object_get(a, "next_attempt_at")));
    json_decref(a);
    expect_contact(f, k, "state || ' ' || attempts || ' ' || coalesce(next_attempt_at::text, '-')",
                   "dispatched 2 -");
    char want[32];
    gw_test_format(want, sizeof(want), "%lld", (long long)ecm_test_time_ms("2026-03-04T19:30:00Z"));
    expect_contact(f, k, MS_OF("callback_at"), want);

    /* a second request replaces the time */
    assert_int_equal(post_callback(f, k, "{\"at\": \"2026-03-04T21:00:00Z\"}", &a), 200);
    json_decref(a);
    gw_test_format(want, sizeof(want), "%lld", (long long)ecm_test_time_ms("2026-03-04T21:00:00Z"));
    expect_contact(f, k, MS_OF("callback_at"), want);
}

static void test_api_get_contact_shows_callback_and_attempts(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long camp = make_campaign(f, "NULL");
    long long k = make_contact(f, camp, "dispatched", 2);
    ecm_test_pg_exec(f->conn,
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone,"
                     " account_number, status, dispatched_at, outcome) VALUES"
                     " (%lld, 2, %lld, 'voice_ivr', '+12125550101', '%lld-2', 'sent',"
                     "  '2026-03-04T16:00:00Z', NULL),"
                     " (%lld, 1, %lld, 'voice_ivr', '+12125550100', '%lld-1', 'done',"
                     "  '2026-03-04T14:00:00Z', 'CALLBACK_REQUESTED')",
                     k, camp, k, k, camp, k);
    json_t *a = NULL;
    assert_int_equal(post_callback(f, k, "{\"at\": \"2026-03-04T19:30:00Z\"}", &a), 200);
    json_decref(a);

    char path[64];
    gw_test_format(path, sizeof(path), "/api/v1/contacts/%lld", k);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_int_equal(gw_test_jint(a, "id"), k);
    assert_int_equal(gw_test_jint(a, "campaign_id"), camp);
    assert_string_equal(gw_test_jstr(a, "state"), "dispatched");
    assert_true(json_is_null(json_object_get(a, "outcome")));
    assert_int_equal(gw_test_jint(a, "attempts"), 2);
    assert_string_equal(gw_test_jstr(a, "callback_at"), "2026-03-04T19:30:00.000Z");
    assert_true(json_is_null(json_object_get(a, "next_attempt_at")));
    json_t *phones = json_object_get(a, "phones");
    assert_int_equal(json_array_size(phones), 2);
    assert_string_equal(json_string_value(json_array_get(phones, 1)), "+12125550101");
    json_t *history = json_object_get(a, "history");
    assert_int_equal(json_array_size(history), 2);
    json_t *h1 = json_array_get(history, 0), *h2 = json_array_get(history, 1);
    assert_int_equal(gw_test_jint(h1, "attempt"), 1);
    assert_string_equal(gw_test_jstr(h1, "phone"), "+12125550100");
    assert_string_equal(gw_test_jstr(h1, "dispatched_at"), "2026-03-04T14:00:00.000Z");
    assert_string_equal(gw_test_jstr(h1, "outcome"), "CALLBACK_REQUESTED");
    assert_int_equal(gw_test_jint(h2, "attempt"), 2);
    assert_true(json_is_null(json_object_get(h2, "outcome")));
    assert_string_equal(gw_test_jstr(h2, "channel"), "voice_ivr");
    /* the campaign's home channel, no switch skipped */
    assert_string_equal(gw_test_jstr(a, "channel"), "voice");
    assert_true(json_is_null(json_object_get(a, "channel_note")));
    json_decref(a);

    /* A strategy switched it to SMS, or skipped a switch. */
    ecm_test_pg_exec(f->conn,
                     "UPDATE contacts SET channel = 'sms', channel_note = 'SMS step skipped: "
                     "no mobile number' WHERE id = %lld",
                     k);
    assert_int_equal(gw_test_call(f, "GET", path, NULL, &a), 200);
    assert_string_equal(gw_test_jstr(a, "channel"), "sms");
    assert_string_equal(gw_test_jstr(a, "channel_note"), "SMS step skipped: no mobile number");
    json_decref(a);

    assert_int_equal(gw_test_call(f, "GET", "/api/v1/contacts/999999999", NULL, &a), 404);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callback_body_checks_name_the_member),
        cmocka_unit_test(test_callback_body_future_time_with_offset_is_taken),
        cmocka_unit_test(test_callback_action_by_contact_state),
        cmocka_unit_test(test_api_callback_invalid_times_answer_422_naming_at),
        cmocka_unit_test(test_api_callback_unknown_contact_is_404),
        cmocka_unit_test(test_api_callback_closed_contact_is_409),
        cmocka_unit_test(test_api_callback_in_stopped_campaign_is_409),
        cmocka_unit_test(test_api_callback_reschedules_contact_not_out_with_dialer),
        cmocka_unit_test(test_api_callback_rescheduled_retry_due_contact_ignores_late_retry_event),
        cmocka_unit_test(test_api_callback_dispatched_contact_keeps_state_and_stores_time),
        cmocka_unit_test(test_api_get_contact_shows_callback_and_attempts),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* A campaign's contacts and figures through the API (gw_contact_list):
 * filters, paging, a phone number written any way, and counts over time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_contact_list.h"
#include "gw_test_support.h"

#define PORT_FIRST 7710
#define PORT_LAST 7729

static int setup(void **state)
{
    const gw_test_routes_fn routes[] = {gw_contact_list_register, NULL};
    const gw_app settings = gw_test_settings();
    gw_test_api *t =
        gw_test_api_new("ecm_gw_contact_list", &settings, PORT_FIRST, PORT_LAST, routes);
    if (t) {
        /* Campaign 1 (US): 5 contacts; contact 3 has two numbers, contact 5
         * is closed BUSY from upload 7. Campaign 2: one contact. */
        ecm_test_pg_exec(
            t->conn,
            "INSERT INTO campaigns (name, channel, region, strategy_id, cisco_kind, "
            "cisco_campaign_id) SELECT n, 'voice_ivr', 'US', s.id, 'uccx', '7' "
            "FROM strategies s, unnest(ARRAY['one', 'two']) n WHERE s.name = 'Default' "
            "ORDER BY n;"
            "INSERT INTO uploads (id, campaign_id, state) VALUES (7, 1, 'done');"
            "INSERT INTO contacts (campaign_id, account_number, phones) VALUES "
            "(1, 'A1', '{+12125550101}'), (1, 'A2', '{+12125550102}'), "
            "(1, 'A3', '{+12125550103,+12125550133}'), (1, 'A4', '{+12125550104}'), "
            "(2, 'B1', '{+12125550101}');"
            "INSERT INTO contacts (campaign_id, account_number, phones, state, outcome, upload_id) "
            "VALUES (1, 'A5', '{+12125550105}', 'closed', 'BUSY', 7);"
            "INSERT INTO contact_phones (campaign_id, phone, contact_id) "
            "SELECT campaign_id, substr(p, 2)::bigint, id FROM contacts, unnest(phones) p;");
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    gw_test_api_destroy(*state);
    return 0;
}

/* The account numbers of the answer's items, comma-separated, into out. */
static const char *accounts(const json_t *answer, char *out, size_t size)
{
    out[0] = '\0';
    size_t used = 0;
    json_t *items = json_object_get(answer, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *a = gw_test_jstr(json_array_get(items, i), "account_number");
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "," : "", a);
        assert_true(used < size);
    }
    return out;
}

static void expect_accounts(gw_test_api *t, const char *path, const char *want)
{
    json_t *a = NULL;
    assert_int_equal(gw_test_call(t, "GET", path, NULL, &a), 200);
    char got[256];
    assert_string_equal(accounts(a, got, sizeof got), want);
    json_decref(a);
}

static void test_filters_pick_the_contacts(void **state)
{
    gw_test_api *t = ecm_test_need(*state);
    expect_accounts(t, "/api/v1/campaigns/1/contacts", "A5,A4,A3,A2,A1");
    expect_accounts(t, "/api/v1/campaigns/1/contacts?state=closed", "A5");
    expect_accounts(t, "/api/v1/campaigns/1/contacts?outcome=BUSY", "A5");
    expect_accounts(t, "/api/v1/campaigns/1/contacts?upload_id=7", "A5");
    expect_accounts(t, "/api/v1/campaigns/1/contacts?account_number=A2", "A2");
    /* A number as a person writes it, either of a contact's numbers; only
     * this campaign's contact. */
    expect_accounts(t, "/api/v1/campaigns/1/contacts?phone=(212)%20555-0133", "A3");
    expect_accounts(t, "/api/v1/campaigns/1/contacts?phone=%2B1%20212%20555%200101", "A1");
    expect_accounts(t, "/api/v1/campaigns/1/contacts?phone=2125550199", "");
    expect_accounts(t, "/api/v1/campaigns/2/contacts", "B1");
}

static void test_pages_follow_the_cursor(void **state)
{
    gw_test_api *t = ecm_test_need(*state);
    char path[128] = "/api/v1/campaigns/1/contacts?limit=2", got[64], all[256] = "";
    for (int page = 0; page < 5; page++) {
        json_t *a = NULL;
        assert_int_equal(gw_test_call(t, "GET", path, NULL, &a), 200);
        strncat(all, accounts(a, got, sizeof got), sizeof all - strlen(all) - 1);
        json_t *next = json_object_get(a, "next_cursor");
        if (json_is_null(next)) {
            json_decref(a);
            break;
        }
        strncat(all, ",", sizeof all - strlen(all) - 1);
        snprintf(path, sizeof path, "/api/v1/campaigns/1/contacts?limit=2&cursor=%s",
                 json_string_value(next));
        json_decref(a);
    }
    assert_string_equal(all, "A5,A4,A3,A2,A1");
}

static void test_bad_arguments_are_400_and_a_missing_campaign_404(void **state)
{
    gw_test_api *t = ecm_test_need(*state);
    json_t *a = NULL;
    const char *bad[] = {"?state=gone", "?phone=12-AB", "?limit=0", "?upload_id=x", "?cursor=abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[96];
        snprintf(path, sizeof path, "/api/v1/campaigns/1/contacts%s", bad[i]);
        assert_int_equal(gw_test_call(t, "GET", path, NULL, &a), 400);
        assert_string_equal(gw_test_jstr(a, "type"), "https://ecm.dev/problems/validation");
        json_decref(a);
    }
    assert_int_equal(gw_test_call(t, "GET", "/api/v1/campaigns/99/contacts", NULL, &a), 404);
    json_decref(a);
    assert_int_equal(gw_test_call(t, "GET", "/api/v1/campaigns/99/stats", NULL, &a), 404);
    json_decref(a);
    assert_int_equal(gw_test_call(t, "GET", "/api/v1/campaigns/1/stats?bucket=day", NULL, &a), 400);
    json_decref(a);
}

/* The one value of sql into out. */
static void pg_text_into(PGconn *conn, char *out, size_t size, const char *sql)
{
    char *v = ecm_test_pg_text(conn, "%s", sql);
    assert_non_null(v);
    assert_true(strlen(v) < size);
    snprintf(out, size, "%s", v);
    free(v);
}

static void test_stats_count_by_bucket_and_now(void **state)
{
    gw_test_api *t = ecm_test_need(*state);
    /* Three attempts two minutes ago (two BUSY results), one now. */
    ecm_test_pg_exec(t->conn,
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                     "account_number, status, sending_at, result_at, outcome) "
                     "SELECT id, 1, 1, 'voice', phones[1], 'X' || id, 'done', "
                     "date_trunc('minute', now()) - interval '2 minutes', "
                     "date_trunc('minute', now()) - interval '2 minutes', 'BUSY' "
                     "FROM contacts WHERE account_number IN ('A1', 'A2');"
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                     "account_number, status, sending_at) "
                     "SELECT id, 1, 1, 'voice', phones[1], 'X' || id, 'sent', "
                     "date_trunc('minute', now()) - interval '2 minutes' "
                     "FROM contacts WHERE account_number = 'A3';"
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                     "account_number, status, result_at, outcome) "
                     "SELECT id, 1, 1, 'voice', phones[1], 'X' || id, 'done', now(), "
                     "'CONNECTED' FROM contacts WHERE account_number = 'A4';");
    char two_ago_at[32], now_at[32];
    pg_text_into(t->conn, two_ago_at, sizeof two_ago_at,
                 "SELECT to_char(min(sending_at) AT TIME ZONE 'UTC', "
                 "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM attempts");
    pg_text_into(t->conn, now_at, sizeof now_at,
                 "SELECT to_char(date_trunc('minute', max(sending_at)) AT TIME ZONE "
                 "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM attempts");
    json_t *a = NULL;
    assert_int_equal(gw_test_call(t, "GET", "/api/v1/campaigns/1/stats?minutes=5", NULL, &a), 200);
    json_t *items = json_object_get(json_object_get(a, "series"), "items");
    assert_int_equal(json_array_size(items), 5); /* empty minutes included */
    /* Found by time, not place: the minute may turn between the inserts
     * and the request. */
    json_t *two_ago = NULL, *now = NULL;
    long long attempts = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        attempts += gw_test_jint(it, "attempts");
        if (strcmp(gw_test_jstr(it, "at"), two_ago_at) == 0) {
            two_ago = it;
        } else if (strcmp(gw_test_jstr(it, "at"), now_at) == 0) {
            now = it;
        }
    }
    assert_non_null(two_ago);
    assert_non_null(now);
    assert_int_equal(attempts, 4); /* every other minute is empty */
    assert_int_equal(gw_test_jint(two_ago, "attempts"), 3);
    assert_int_equal(gw_test_jint(two_ago, "results"), 2);
    assert_int_equal(gw_test_jint(json_object_get(two_ago, "outcomes"), "BUSY"), 2);
    assert_int_equal(gw_test_jint(now, "attempts"), 1);
    assert_int_equal(gw_test_jint(json_object_get(now, "outcomes"), "CONNECTED"), 1);
    json_t *rates = json_object_get(a, "rates");
    assert_int_equal(gw_test_jint(rates, "attempts_last_minute"), 1);
    assert_int_equal(gw_test_jint(rates, "attempts_last_5_minutes"), 4);
    assert_int_equal(gw_test_jint(json_object_get(a, "totals"), "attempts"), 4);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_filters_pick_the_contacts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages_follow_the_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments_are_400_and_a_missing_campaign_404,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_count_by_bucket_and_now, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

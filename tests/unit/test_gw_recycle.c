/* The recycle API (gw_recycle) against a scratch database, with the guard
 * on: POST /api/v1/campaigns/{id}/recycle counts (dry run: nothing changes,
 * nothing audited) and re-opens (audited, a completed campaign active
 * again); a bad body is a 422 naming the field (DNC among the outcomes
 * too), a missing campaign 404, a stopped one 409; a viewer may read the
 * schedule but neither recycle nor change it; the schedule is set, read and
 * removed, each change audited. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_audit.h"
#include "gw_auth.h"
#include "gw_recycle.h"
#include "gw_test_support.h"

#define PORT_FIRST 7970
#define PORT_LAST 7989

static int add_guard(ecm_http *h, const gw_app *app)
{
    gw_auth_install(h, app);
    return 0;
}

typedef struct {
    gw_test_api *api;
    char supervisor[128], viewer[128];
} fixture;

static void make_key(gw_test_api *t, gw_role role, const char *name, char *key, size_t key_size)
{
    volatile sig_atomic_t stop = 0;
    ecm_pg *pg = ecm_pg_new(t->db->dsn, &stop);
    assert_non_null(pg);
    char err[160] = "", id[24];
    int rc = gw_auth_key_create(pg, name, role, NULL, NULL, id, sizeof id, key, key_size, err,
                                sizeof err);
    ecm_pg_destroy(pg);
    assert_int_equal(rc, 0);
}

static int setup(void **state)
{
    const gw_test_routes_fn routes[] = {gw_recycle_register, gw_audit_register, add_guard, NULL};
    const gw_app settings = gw_test_settings();
    ecm_test_log_init("test_gw_recycle", ECM_LOG_ERROR);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->api = gw_test_api_new("ecm_gw_recycle", &settings, PORT_FIRST, PORT_LAST, routes);
    if (f->api) {
        make_key(f->api, GW_ROLE_SUPERVISOR, "sup", f->supervisor, sizeof f->supervisor);
        make_key(f->api, GW_ROLE_VIEWER, "view", f->viewer, sizeof f->viewer);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gw_test_api_destroy(f->api);
    free(f);
    return 0;
}

static long call(const fixture *f, const char *key, const char *method, const char *path,
                 const char *body, json_t **answer)
{
    char auth[200];
    gw_test_format(auth, sizeof auth, "Authorization: Bearer %s", key);
    const char *headers[] = {"Expect:", auth, body ? "Content-Type: application/json" : NULL, NULL};
    ecm_test_http_answer a;
    ecm_test_http_request(&a, f->api->port, method, path, headers, body, body ? strlen(body) : 0,
                          NULL);
    gw_test_log_exchange(method, path, &a);
    *answer = a.len ? json_loads(a.body, 0, NULL) : NULL;
    long status = a.status;
    ecm_test_http_answer_destroy(&a);
    return status;
}

static long status_of(const fixture *f, const char *key, const char *method, const char *path,
                      const char *body)
{
    json_t *a = NULL;
    long st = call(f, key, method, path, body, &a);
    json_decref(a);
    return st;
}

static long long campaign(const fixture *f, const char *state)
{
    return ecm_test_pg_int(f->api->conn,
                           "INSERT INTO campaigns (name, channel, strategy_id, cisco_kind,"
                           " cisco_campaign_id, state) SELECT 'r', 'voice_ivr', id, 'uccx', '1',"
                           " '%s' FROM strategies WHERE name = 'Default' RETURNING id",
                           state);
}

/* n contacts closed with outcome days ago (real time: the gateway's
 * business clock is the real one here). */
static void closed(const fixture *f, long long camp, const char *outcome, int n, int days)
{
    ecm_test_pg_exec(f->api->conn,
                     "INSERT INTO contacts (campaign_id, phones, state, outcome, closed_at)"
                     " SELECT %lld, '{+12125550100}', 'closed', '%s', now() - %d * interval '1 day'"
                     " FROM generate_series(1, %d)",
                     camp, outcome, days, n);
}

static long long count_of(const fixture *f, const char *sql)
{
    return ecm_test_pg_int(f->api->conn, "%s", sql);
}

static void test_gw_recycle_dry_run_counts_and_changes_nothing(void **state)
{
    fixture *f = ecm_test_need(((fixture *)*state)->api) ? *state : NULL;
    long long camp = campaign(f, "completed");
    closed(f, camp, "NO_ANSWER", 3, 5);
    closed(f, camp, "BUSY", 2, 5);
    closed(f, camp, "NO_ANSWER", 4, 1); /* too young */
    closed(f, camp, "CONNECTED", 6, 9);
    char path[96];
    gw_test_format(path, sizeof path, "/api/v1/campaigns/%lld/recycle", camp);
    json_t *a = NULL;
    assert_int_equal(call(f, f->supervisor, "POST", path,
                          "{\"outcomes\":[\"NO_ANSWER\",\"BUSY\"],\"older_than\":\"72h\","
                          "\"dry_run\":true}",
                          &a),
                     200);
    assert_int_equal(gw_test_jint(a, "contacts"), 5);
    assert_int_equal(gw_test_jint_at(a, "by_outcome.NO_ANSWER"), 3);
    assert_int_equal(gw_test_jint_at(a, "by_outcome.BUSY"), 2);
    assert_string_equal(gw_test_jstr(a, "older_than"), "3d");
    assert_string_equal(gw_test_jstr(a, "campaign_state"), "completed");
    assert_true(json_is_true(json_object_get(a, "dry_run")));
    json_decref(a);
    char sql[256];
    gw_test_format(sql, sizeof sql,
                   "SELECT count(*) FROM contacts WHERE campaign_id = %lld AND state = 'closed'",
                   camp);
    assert_int_equal(count_of(f, sql), 15);
    assert_int_equal(count_of(f, "SELECT count(*) FROM audit_log WHERE action ="
                                 " 'campaign.recycle'"),
                     0);
    assert_int_equal(count_of(f, "SELECT count(*) FROM recycles"), 0);

    /* The run re-opens exactly what the dry run counted, audited. */
    assert_int_equal(call(f, f->supervisor, "POST", path,
                          "{\"outcomes\":[\"NO_ANSWER\",\"BUSY\"],\"older_than\":\"3d\"}", &a),
                     200);
    assert_int_equal(gw_test_jint(a, "contacts"), 5);
    long long rid = gw_test_jint(a, "recycle_id");
    assert_string_equal(gw_test_jstr(a, "campaign_state"), "active");
    assert_string_equal(gw_test_jstr(a, "previous_state"), "completed");
    json_decref(a);
    assert_int_equal(count_of(f, sql), 10);
    gw_test_format(sql, sizeof sql,
                   "SELECT count(*) FROM audit_log WHERE action = 'campaign.recycle' AND"
                   " resource = 'campaign/%lld' AND actor_name = 'sup'"
                   " AND (summary->>'recycle_id')::bigint = %lld",
                   camp, rid);
    assert_int_equal(count_of(f, sql), 1);
    gw_test_format(sql, sizeof sql,
                   "SELECT count(*) FROM recycles WHERE id = %lld AND actor = 'sup'"
                   " AND contacts = 5",
                   rid);
    assert_int_equal(count_of(f, sql), 1);
}

static void test_gw_recycle_refuses_bad_bodies_missing_and_stopped(void **state)
{
    fixture *f = ecm_test_need(((fixture *)*state)->api) ? *state : NULL;
    long long camp = campaign(f, "active");
    char path[96];
    gw_test_format(path, sizeof path, "/api/v1/campaigns/%lld/recycle", camp);
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"outcomes\":[\"DNC\"],\"older_than\":\"3d\"}", "outcomes"},
        {"{\"outcomes\":[\"NOPE\"],\"older_than\":\"3d\"}", "outcomes"},
        {"{\"outcomes\":[],\"older_than\":\"3d\"}", "outcomes"},
        {"{\"outcomes\":[\"BUSY\"],\"older_than\":\"3 days\"}", "older_than"},
        {"{\"outcomes\":[\"BUSY\"],\"older_than\":3}", "older_than"},
        {"{\"outcomes\":[\"BUSY\"],\"older_than\":\"3d\",\"max_rounds\":0}", "max_rounds"},
        {"{\"outcomes\":[\"BUSY\"],\"older_than\":\"3d\",\"dry_run\":\"yes\"}", "dry_run"},
        {"{\"outcomes\":[\"BUSY\"],\"older_than\":\"3d\",\"when\":1}", "when"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *a = NULL;
        long st = call(f, f->supervisor, "POST", path, bad[i].body, &a);
        if (st != 422)
            fail_msg("%s: %ld, expected 422", bad[i].body, st);
        const char *detail = gw_test_jstr(a, "detail");
        if (strncmp(detail, bad[i].field, strlen(bad[i].field)) != 0)
            fail_msg("%s: detail '%s' does not name %s", bad[i].body, detail, bad[i].field);
        json_decref(a);
    }
    const char *ok = "{\"outcomes\":[\"BUSY\"],\"older_than\":\"3d\"}";
    assert_int_equal(status_of(f, f->supervisor, "POST", "/api/v1/campaigns/99999999/recycle", ok),
                     404);
    long long stopped = campaign(f, "stopped");
    closed(f, stopped, "BUSY", 2, 9);
    gw_test_format(path, sizeof path, "/api/v1/campaigns/%lld/recycle", stopped);
    assert_int_equal(status_of(f, f->supervisor, "POST", path, ok), 409);
    char sql[160];
    gw_test_format(sql, sizeof sql,
                   "SELECT count(*) FROM contacts WHERE campaign_id = %lld AND state = 'closed'",
                   stopped);
    assert_int_equal(count_of(f, sql), 2);
}

static void test_gw_recycle_viewer_reads_but_cannot_recycle(void **state)
{
    fixture *f = ecm_test_need(((fixture *)*state)->api) ? *state : NULL;
    long long camp = campaign(f, "active");
    closed(f, camp, "BUSY", 1, 9);
    char path[96], sched[112];
    gw_test_format(path, sizeof path, "/api/v1/campaigns/%lld/recycle", camp);
    gw_test_format(sched, sizeof sched, "/api/v1/campaigns/%lld/recycle-schedule", camp);
    const char *body = "{\"outcomes\":[\"BUSY\"],\"older_than\":\"1d\"}";
    assert_int_equal(status_of(f, f->viewer, "POST", path, body), 403);
    assert_int_equal(status_of(f, f->viewer, "PUT", sched, body), 403);
    assert_int_equal(status_of(f, f->viewer, "DELETE", sched, NULL), 403);
    assert_int_equal(status_of(f, f->viewer, "GET", sched, NULL), 404);
    assert_int_equal(status_of(f, f->supervisor, "PUT", sched, body), 200);
    assert_int_equal(status_of(f, f->viewer, "GET", sched, NULL), 200);
    char sql[160];
    gw_test_format(sql, sizeof sql,
                   "SELECT count(*) FROM contacts WHERE campaign_id = %lld AND state = 'closed'",
                   camp);
    assert_int_equal(count_of(f, sql), 1);
}

static void test_gw_recycle_schedule_set_read_remove_audited(void **state)
{
    fixture *f = ecm_test_need(((fixture *)*state)->api) ? *state : NULL;
    long long camp = campaign(f, "active");
    char sched[112];
    gw_test_format(sched, sizeof sched, "/api/v1/campaigns/%lld/recycle-schedule", camp);
    json_t *a = NULL;
    assert_int_equal(call(f, f->supervisor, "PUT", sched,
                          "{\"outcomes\":[\"NO_ANSWER\"],\"older_than\":\"48h\","
                          "\"max_rounds\":1}",
                          &a),
                     200);
    assert_string_equal(gw_test_jstr(a, "older_than"), "2d");
    assert_int_equal(gw_test_jint(a, "older_than_s"), 172800);
    assert_int_equal(gw_test_jint(a, "max_rounds"), 1);
    assert_true(json_is_true(json_object_get(a, "enabled")));
    json_decref(a);
    assert_int_equal(call(f, f->supervisor, "PUT", sched,
                          "{\"outcomes\":[\"NO_ANSWER\",\"BUSY\"],\"older_than\":\"1d\","
                          "\"enabled\":false}",
                          &a),
                     200);
    json_decref(a);
    assert_int_equal(call(f, f->viewer, "GET", sched, NULL, &a), 200);
    assert_int_equal(json_array_size(json_object_get(a, "outcomes")), 2);
    assert_true(json_is_null(json_object_get(a, "max_rounds")));
    assert_true(json_is_false(json_object_get(a, "enabled")));
    json_decref(a);
    assert_int_equal(
        status_of(f, f->supervisor, "PUT", sched, "{\"outcomes\":[\"DNC\"],\"older_than\":\"1d\"}"),
        422);
    assert_int_equal(status_of(f, f->supervisor, "PUT",
                               "/api/v1/campaigns/99999999/recycle-schedule",
                               "{\"outcomes\":[\"BUSY\"],\"older_than\":\"1d\"}"),
                     404);
    assert_int_equal(status_of(f, f->supervisor, "DELETE", sched, NULL), 204);
    assert_int_equal(status_of(f, f->supervisor, "DELETE", sched, NULL), 404);
    assert_int_equal(status_of(f, f->viewer, "GET", sched, NULL), 404);
    char sql[200];
    gw_test_format(sql, sizeof sql,
                   "SELECT string_agg(action, ',' ORDER BY id) = 'campaign.recycle_schedule.set,"
                   "campaign.recycle_schedule.set,campaign.recycle_schedule.delete'::text AS ok"
                   " FROM audit_log WHERE resource = 'campaign/%lld'",
                   camp);
    char *ok = ecm_test_pg_text(f->api->conn, "%s", sql);
    assert_string_equal(ok, "t");
    free(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_recycle_dry_run_counts_and_changes_nothing),
        cmocka_unit_test(test_gw_recycle_refuses_bad_bodies_missing_and_stopped),
        cmocka_unit_test(test_gw_recycle_viewer_reads_but_cannot_recycle),
        cmocka_unit_test(test_gw_recycle_schedule_set_read_remove_audited),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#include "gw_recycle.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_recycle.h"
#include "ecm_utf8.h"
#include "gw_audit.h"
#include "gw_auth.h"
#include "gw_json.h"

#define RECYCLE_TITLE "Invalid recycle"
#define SCHEDULE_TITLE "Invalid recycle schedule"
/* max_rounds: a contact re-opened more often than this is a list problem. */
#define MAX_ROUNDS_MAX 1000

/* A recycle or schedule body, read. The outcome names are borrowed from the
 * JSON body, which must outlive it. */
typedef struct {
    const char *outcomes[ECM_RECYCLE_OUTCOMES_MAX];
    size_t n;
    int64_t older_than_s;
    int max_rounds; /* 0: none */
    int dry_run;
    int enabled;
} gw_recycle_req;

/* ---- the body (pure) ---------------------------------------------------- */

static int fail(char *field, size_t fs, char *reason, size_t rs, const char *f, const char *msg)
{
    (void)snprintf(field, fs, "%s", f);
    (void)snprintf(reason, rs, "%s", msg);
    return -1;
}

/* Reads body into rq: the recycle's members, plus dry_run (recycle) or
 * enabled (schedule). Returns 0, or -1 with the field and reason. */
static int parse_body(const json_t *body, int schedule, gw_recycle_req *rq, char *field, size_t fs,
                      char *reason, size_t rs)
{
    memset(rq, 0, sizeof(*rq));
    rq->enabled = 1;
    if (!json_is_object(body))
        return fail(field, fs, reason, rs, "body", "must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        const char *extra = schedule ? "enabled" : "dry_run";
        if (strcmp(key, "outcomes") != 0 && strcmp(key, "older_than") != 0 &&
            strcmp(key, "max_rounds") != 0 && strcmp(key, extra) != 0) {
            (void)ecm_utf8_format(field, fs, "%s", GW_QUOTE(key, 40));
            (void)snprintf(reason, rs, "unknown member (outcomes, older_than, max_rounds, %s)",
                           extra);
            return -1;
        }
    }
    json_t *outcomes = json_object_get(body, "outcomes");
    if (!json_is_array(outcomes) || json_array_size(outcomes) == 0)
        return fail(field, fs, reason, rs, "outcomes", "must be a non-empty array of outcomes");
    if (json_array_size(outcomes) > ECM_RECYCLE_OUTCOMES_MAX)
        return fail(field, fs, reason, rs, "outcomes", "too many outcomes");
    size_t i;
    json_array_foreach(outcomes, i, v)
    {
        if (!json_is_string(v))
            return fail(field, fs, reason, rs, "outcomes", "every outcome must be a string");
        rq->outcomes[rq->n++] = json_string_value(v);
    }
    const char *age = json_string_value(json_object_get(body, "older_than"));
    if (!age || ecm_recycle_parse_age(age, &rq->older_than_s) != 0)
        return fail(field, fs, reason, rs, "older_than",
                    "must be a whole number and a unit, d, h, m or s (\"3d\", \"72h\")");
    v = json_object_get(body, "max_rounds");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > MAX_ROUNDS_MAX)
            return fail(field, fs, reason, rs, "max_rounds", "must be an integer from 1 to 1000");
        rq->max_rounds = (int)json_integer_value(v);
    }
    const char *flag = schedule ? "enabled" : "dry_run";
    v = json_object_get(body, flag);
    if (v && !json_is_boolean(v))
        return fail(field, fs, reason, rs, flag, "must be true or false");
    if (v && schedule)
        rq->enabled = json_is_true(v);
    else if (v)
        rq->dry_run = json_is_true(v);
    return 0;
}

/* The body of req as a recycle request, checked. Returns the JSON body
 * (the caller decrefs it; rq borrows from it), or NULL after answering. */
static json_t *read_request(ecm_http_req *req, int schedule, long long campaign, gw_recycle_req *rq,
                            ecm_recycle_select *sel)
{
    const char *title = schedule ? SCHEDULE_TITLE : RECYCLE_TITLE;
    json_t *body = gw_body_json(req, title);
    if (!body)
        return NULL;
    char field[200], reason[200];
    int bad = parse_body(body, schedule, rq, field, sizeof field, reason, sizeof reason);
    *sel = (ecm_recycle_select){.campaign_id = campaign,
                                .outcomes = rq->outcomes,
                                .n_outcomes = rq->n,
                                .older_than_s = rq->older_than_s,
                                .max_rounds = rq->max_rounds,
                                .now_ms = ecm_clock_now_ms()};
    if (bad == 0)
        bad = ecm_recycle_check(sel, field, sizeof field, reason, sizeof reason);
    if (bad != 0) {
        ecm_http_respond_problem(req, 422, "validation", title, "%s: %s", field, reason);
        json_decref(body);
        return NULL;
    }
    return body;
}

/* ---- POST /api/v1/campaigns/{id}/recycle -------------------------------- */

static json_t *counts_json(const ecm_recycle_result *r)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < r->n; i++)
        json_object_set_new(o, r->by_outcome[i].outcome,
                            json_integer((json_int_t)r->by_outcome[i].contacts));
    return o;
}

static json_t *result_json(long long campaign, const gw_recycle_req *rq,
                           const ecm_recycle_result *r)
{
    char age[32];
    json_t *o = json_pack(
        "{sI sb sI so ss ss sI so}", "campaign_id", (json_int_t)campaign, "dry_run", rq->dry_run,
        "contacts", (json_int_t)r->total, "by_outcome", counts_json(r), "older_than",
        ecm_recycle_format_age(rq->older_than_s, age, sizeof age), "campaign_state",
        r->campaign_state_now, "older_than_s", (json_int_t)rq->older_than_s, "max_rounds",
        rq->max_rounds ? json_integer(rq->max_rounds) : json_null());
    if (o && !rq->dry_run) {
        json_object_set_new(o, "recycle_id", json_integer((json_int_t)r->recycle_id));
        json_object_set_new(o, "previous_state", json_string(r->campaign_state));
    }
    return o;
}

/* Answers a refused recycle (not OK, not a DB failure). */
static void respond_refused(ecm_http_req *req, ecm_recycle_status st, const char *reason)
{
    if (st == ECM_RECYCLE_ERR_INVALID)
        ecm_http_respond_problem(req, 422, "validation", RECYCLE_TITLE, "%s", reason);
    else if (st == ECM_RECYCLE_ERR_NO_CAMPAIGN)
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign", "%s", reason);
    else
        ecm_http_respond_problem(req, 409, "conflict", "Campaign cannot be recycled", "%s", reason);
}

static int audit_run(ecm_pg *pg, ecm_http_req *req, long long campaign, const gw_recycle_req *rq,
                     const ecm_recycle_result *r)
{
    json_t *summary = result_json(campaign, rq, r);
    json_t *asked = json_array();
    for (size_t i = 0; asked && i < rq->n; i++)
        json_array_append_new(asked, json_string(rq->outcomes[i]));
    if (!summary || !asked) {
        json_decref(summary);
        json_decref(asked);
        return -1;
    }
    json_object_set_new(summary, "outcomes", asked);
    int rc = gw_audit_add_id(pg, req, "campaign.recycle", "campaign", campaign, summary);
    json_decref(summary);
    return rc;
}

static void run_recycle(ecm_http_req *req, const gw_app *app, ecm_pg *pg, long long campaign,
                        const gw_recycle_req *rq, const ecm_recycle_select *sel)
{
    const gw_principal *who = gw_auth_principal(req);
    const ecm_recycle_actor actor = {
        .actor = who ? who->name : "api",
        .actor_key_id = who ? who->id : NULL,
        .source = app->source,
        .topic_recycled = app->topic_recycled,
        .topic_campaigns = app->topic_campaigns,
        .log_empty = 1,
    };
    ecm_recycle_result r;
    char reason[256] = "";
    if (!pg || ecm_pg_begin_timeout(pg, ECM_RECYCLE_RUN_TIMEOUT_MS) != 0) {
        gw_respond_db_down(req, pg, "recycle the contacts");
        return;
    }
    ecm_recycle_status st = ecm_recycle_run(pg, sel, &actor, &r, reason, sizeof reason);
    if (st != ECM_RECYCLE_OK && st != ECM_RECYCLE_ERR_DB) {
        ecm_pg_rollback(pg);
        respond_refused(req, st, reason);
        return;
    }
    if (st != ECM_RECYCLE_OK || audit_run(pg, req, campaign, rq, &r) != 0 ||
        ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "recycle the contacts");
        return;
    }
    gw_json_respond(req, 200, result_json(campaign, rq, &r));
}

static void post_recycle(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long campaign;
    if (gw_path_id(req, "campaign", &campaign) != 0)
        return;
    gw_recycle_req rq;
    ecm_recycle_select sel;
    json_t *body = read_request(req, 0, campaign, &rq, &sel);
    if (!body)
        return;
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    if (rq.dry_run) {
        ecm_recycle_result r;
        char reason[256] = "";
        ecm_recycle_status st =
            pg ? ecm_recycle_count(pg, &sel, &r, reason, sizeof reason) : ECM_RECYCLE_ERR_DB;
        if (st == ECM_RECYCLE_OK)
            gw_json_respond(req, 200, result_json(campaign, &rq, &r));
        else if (st == ECM_RECYCLE_ERR_DB)
            gw_respond_db_down(req, pg, "count the contacts");
        else
            respond_refused(req, st, reason);
    } else {
        run_recycle(req, app, pg, campaign, &rq, &sel);
    }
    ecm_pg_pool_put(app->pool, pg);
    json_decref(body);
}

/* ---- /api/v1/campaigns/{id}/recycle-schedule ---------------------------- */

/* clang-format off */
#define SCHEDULE_COLUMNS                                                                           \
    "campaign_id, array_to_json(outcomes)::text, older_than_s, max_rounds, enabled, "             \
    GW_SQL_TIME("last_run_at") ", " GW_SQL_TIME("updated_at")
/* clang-format on */

static const char SQL_SCHEDULE_GET[] =
    "SELECT " SCHEDULE_COLUMNS " FROM campaign_recycle_schedules WHERE campaign_id = $1::bigint";
static const char SQL_SCHEDULE_PUT[] =
    "INSERT INTO campaign_recycle_schedules AS s (campaign_id, outcomes, older_than_s,"
    " max_rounds, enabled) SELECT id, $2::text[], $3::bigint, NULLIF($4::int, 0), $5::boolean"
    " FROM campaigns WHERE id = $1::bigint"
    " ON CONFLICT (campaign_id) DO UPDATE SET outcomes = EXCLUDED.outcomes,"
    " older_than_s = EXCLUDED.older_than_s, max_rounds = EXCLUDED.max_rounds,"
    " enabled = EXCLUDED.enabled, updated_at = now()"
    " RETURNING " SCHEDULE_COLUMNS;
static const char SQL_SCHEDULE_DELETE[] =
    "DELETE FROM campaign_recycle_schedules WHERE campaign_id = $1::bigint RETURNING campaign_id";

static json_t *schedule_json(const PGresult *r)
{
    char age[32];
    json_t *outcomes = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
    if (!outcomes)
        return NULL;
    return json_pack("{sI so ss sI so sb so so}", "campaign_id",
                     (json_int_t)ecm_pgval_ll(r, 0, 0, 0), "outcomes", outcomes, "older_than",
                     ecm_recycle_format_age(ecm_pgval_ll(r, 0, 2, 0), age, sizeof age),
                     "older_than_s", (json_int_t)ecm_pgval_ll(r, 0, 2, 0), "max_rounds",
                     PQgetisnull(r, 0, 3) ? json_null()
                                          : json_integer((json_int_t)ecm_pgval_ll(r, 0, 3, 0)),
                     "enabled", strcmp(PQgetvalue(r, 0, 4), "t") == 0, "last_run_at",
                     gw_json_text_or_null(PQgetvalue(r, 0, 5), PQgetisnull(r, 0, 5)), "updated_at",
                     gw_json_text_or_null(PQgetvalue(r, 0, 6), PQgetisnull(r, 0, 6)));
}

static void get_schedule(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long campaign;
    if (gw_path_id(req, "campaign", &campaign) != 0)
        return;
    char id[GW_LL_TEXT];
    const char *p[] = {gw_ll_text(id, campaign)};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = pg ? ecm_pg_exec(pg, SQL_SCHEDULE_GET, 1, p) : NULL;
    if (!r)
        gw_respond_db_down(req, pg, "read the recycle schedule");
    else if (PQntuples(r) == 0)
        ecm_http_respond_problem(req, 404, "not-found", "No recycle schedule",
                                 "campaign %lld has no recycle schedule", campaign);
    else
        gw_json_respond(req, 200, schedule_json(r));
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
}

/* Writes the schedule of rq in a transaction with its audit row; answers. */
static void write_schedule(ecm_http_req *req, ecm_pg *pg, long long campaign,
                           const gw_recycle_req *rq, const json_t *body)
{
    ecm_pgarr arr;
    ecm_pgarr_init(&arr);
    for (size_t i = 0; i < rq->n; i++)
        ecm_pgarr_add_str(&arr, rq->outcomes[i]);
    const char *lit = ecm_pgarr_finish(&arr);
    char id[GW_LL_TEXT], older[GW_LL_TEXT], rounds[GW_LL_TEXT];
    const char *p[] = {gw_ll_text(id, campaign), lit, gw_ll_text(older, rq->older_than_s),
                       gw_ll_text(rounds, rq->max_rounds), rq->enabled ? "true" : "false"};
    PGresult *r = NULL;
    if (!lit || !pg || ecm_pg_begin(pg) != 0)
        goto db_down;
    r = ecm_pg_exec(pg, SQL_SCHEDULE_PUT, 5, p);
    if (r && PQntuples(r) == 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "campaign %lld does not exist", campaign);
        goto out;
    }
    if (!r ||
        gw_audit_add_id(pg, req, "campaign.recycle_schedule.set", "campaign", campaign, body) !=
            0 ||
        ecm_pg_commit(pg) != 0)
        goto db_down;
    ecm_log_info("recycle schedule set", "campaign %lld", campaign);
    gw_json_respond(req, 200, schedule_json(r));
    goto out;
db_down:
    if (pg)
        ecm_pg_rollback(pg);
    gw_respond_db_down(req, pg, "write the recycle schedule");
out:
    PQclear(r);
    ecm_pgarr_destroy(&arr);
}

static void put_schedule(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long campaign;
    if (gw_path_id(req, "campaign", &campaign) != 0)
        return;
    gw_recycle_req rq;
    ecm_recycle_select sel;
    json_t *body = read_request(req, 1, campaign, &rq, &sel);
    if (!body)
        return;
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    write_schedule(req, pg, campaign, &rq, body);
    ecm_pg_pool_put(app->pool, pg);
    json_decref(body);
}

static void delete_schedule(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long campaign;
    if (gw_path_id(req, "campaign", &campaign) != 0)
        return;
    char id[GW_LL_TEXT];
    const char *p[] = {gw_ll_text(id, campaign)};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = NULL;
    if (!pg || ecm_pg_begin(pg) != 0)
        goto db_down;
    r = ecm_pg_exec(pg, SQL_SCHEDULE_DELETE, 1, p);
    if (r && PQntuples(r) == 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 404, "not-found", "No recycle schedule",
                                 "campaign %lld has no recycle schedule", campaign);
        goto out;
    }
    if (!r ||
        gw_audit_add_id(pg, req, "campaign.recycle_schedule.delete", "campaign", campaign, NULL) !=
            0 ||
        ecm_pg_commit(pg) != 0)
        goto db_down;
    ecm_http_respond(req, 204, NULL, NULL, 0);
    goto out;
db_down:
    if (pg)
        ecm_pg_rollback(pg);
    gw_respond_db_down(req, pg, "remove the recycle schedule");
out:
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
}

int gw_recycle_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)app;
    if (ecm_http_route(h, "POST", "/api/v1/campaigns/{}/recycle", GW_RECYCLE_BODY_MAX, post_recycle,
                       ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/campaigns/{}/recycle-schedule", 0, get_schedule, ctx) !=
            0 ||
        ecm_http_route(h, "PUT", "/api/v1/campaigns/{}/recycle-schedule", GW_RECYCLE_BODY_MAX,
                       put_schedule, ctx) != 0 ||
        ecm_http_route(h, "DELETE", "/api/v1/campaigns/{}/recycle-schedule", 0, delete_schedule,
                       ctx) != 0)
        return -1;
    return 0;
}

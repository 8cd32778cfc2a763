#include "gw_campaigns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pg.h"
#include "ecm_utf8.h"
#include "ecm_uuid.h"
#include "gw_audit.h"
#include "gw_campaign_view.h"
#include "gw_json.h"
#include "gw_rules.h"

#define GW_LIST_DEFAULT 50
#define GW_LIST_MAX 200
#define GW_CAMPAIGN_BODY_MAX (64 * 1024)

static int add_changed_event(const gw_app *app, ecm_pg *pg, long long id, const char *state,
                             const char *previous)
{
    char event_id[ECM_UUID_LEN], key[24];
    ecm_uuid_new(event_id);
    gw_ll_text(key, id);
    Ecm__V1__CampaignChanged msg = ECM__V1__CAMPAIGN_CHANGED__INIT;
    msg.event_id = event_id;
    msg.occurred_at = ecm_clock_wall_ms();
    msg.campaign_id = id;
    msg.state = (char *)state;
    msg.previous_state = (char *)previous;
    msg.actor = "api"; /* API keys and users come with auth */
    return ecm_outbox_add(pg, app->topic_campaigns, key, app->source, event_id, msg.occurred_at,
                          &msg.base);
}

/* The id of the strategy in (by id or by name) into out. Returns 1 when it
 * exists, 0 when not (answered 400), -1 on a DB failure or an id longer
 * than out (not answered). */
static int resolve_strategy(ecm_http_req *req, ecm_pg *pg, const gw_campaign_input *in,
                            const char *title, char *out, size_t out_size)
{
    char sid[24];
    gw_ll_text(sid, in->strategy_id);
    const char *params[] = {in->strategy_id > 0 ? sid : in->strategy};
    PGresult *s = ecm_pg_exec(pg,
                              in->strategy_id > 0 ? "SELECT id FROM strategies WHERE id = $1"
                                                  : "SELECT id FROM strategies WHERE name = $1",
                              1, params);
    if (!s) {
        return -1;
    }
    int found = PQntuples(s) == 1;
    if (found) {
        /* An id that does not fit is no id this gateway can use. */
        found = gw_format(out, out_size, "%s", PQgetvalue(s, 0, 0)) == 0 ? 1 : -1;
    } else if (in->strategy_id > 0) {
        ecm_http_respond_problem(req, 400, "validation", title, "strategy_id: no strategy %lld",
                                 in->strategy_id);
    } else {
        ecm_http_respond_problem(req, 400, "validation", title, "strategy: no strategy named '%s'",
                                 GW_QUOTE(in->strategy, 64));
    }
    PQclear(s);
    return found;
}

static int cmp_pick_name(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

/* [{"id", "name"}] of the rows (id, name) of r, in name order (bytewise,
 * as GET lists them). New reference, or NULL when out of memory. */
static json_t *picks_json(const PGresult *r, int id_col)
{
    int n = PQntuples(r);
    json_t **items = calloc((size_t)(n > 0 ? n : 1), sizeof(*items));
    json_t *out = json_array();
    if (!items || !out) {
        free(items);
        json_decref(out);
        return NULL;
    }
    int ok = 1;
    for (int i = 0; i < n; i++) {
        items[i] =
            json_pack("{sI ss}", "id", (json_int_t)strtoll(PQgetvalue(r, i, id_col), NULL, 10),
                      "name", PQgetvalue(r, i, id_col + 1));
        ok = ok && items[i];
    }
    if (ok) {
        qsort(items, (size_t)n, sizeof(*items), cmp_pick_name);
    }
    for (int i = 0; i < n; i++) {
        if (ok && json_array_append(out, items[i]) != 0) {
            ok = 0;
        }
        json_decref(items[i]);
    }
    free(items);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Each item of a checked rule_sets list (a name, an id, {"id": id}) with
 * the set it names: (ordinality, id or NULL, name). */
static const char RESOLVE_RULE_SETS_SQL[] =
    "SELECT e.ord, rs.id, rs.name, e.v #>> '{}' FROM jsonb_array_elements($1::jsonb) "
    "WITH ORDINALITY AS e (v, ord) LEFT JOIN rule_sets rs ON "
    "rs.name = CASE WHEN jsonb_typeof(e.v) = 'string' THEN e.v #>> '{}' END OR "
    "rs.id = CASE jsonb_typeof(e.v) WHEN 'number' THEN (e.v #>> '{}')::bigint "
    "WHEN 'object' THEN (e.v ->> 'id')::bigint END ORDER BY e.ord";

/* The sets a checked rule_sets list names, as [{"id", "name"}] in name
 * order into *out (the caller's). Returns 1; 0 after answering 400 (a set
 * that does not exist, or one named twice); -1 on a DB failure or out of
 * memory (not answered). */
static int resolve_rule_sets(ecm_http_req *req, ecm_pg *pg, const json_t *list, const char *title,
                             json_t **out)
{
    *out = NULL;
    char *text = json_dumps(list, JSON_COMPACT);
    if (!text) {
        return -1;
    }
    const char *params[] = {text};
    PGresult *r = ecm_pg_exec(pg, RESOLVE_RULE_SETS_SQL, 1, params);
    free(text);
    if (!r) {
        return -1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        json_t *item = json_array_get(list, (size_t)i);
        if (PQgetisnull(r, i, 1)) {
            if (json_is_string(item)) {
                ecm_http_respond_problem(req, 400, "validation", title,
                                         "rule_sets[%d]: no rule set named '%s'", i,
                                         GW_QUOTE(json_string_value(item), 64));
            } else {
                ecm_http_respond_problem(req, 400, "validation", title,
                                         "rule_sets[%d]: no rule set %s", i,
                                         GW_QUOTE(PQgetvalue(r, i, 3), 24));
            }
            PQclear(r);
            return 0;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(PQgetvalue(r, j, 1), PQgetvalue(r, i, 1)) == 0) {
                ecm_http_respond_problem(req, 400, "validation", title,
                                         "rule_sets[%d]: names the rule set rule_sets[%d] names "
                                         "('%s')",
                                         i, j, GW_QUOTE(PQgetvalue(r, i, 2), 64));
                PQclear(r);
                return 0;
            }
        }
    }
    *out = picks_json(r, 1);
    PQclear(r);
    return *out ? 1 : -1;
}

/* The picks of a new campaign created without "rule_sets": the shipped US
 * federal set when its region is US (none when that set is gone), else
 * none. Into *out as resolve_rule_sets() does; 1 or -1. */
static int default_rule_sets(ecm_pg *pg, const char *region, json_t **out)
{
    *out = NULL;
    if (strcmp(region, "US") != 0) {
        *out = json_array();
        return *out ? 1 : -1;
    }
    const char *params[] = {GW_RULES_DEFAULT_US_SET};
    PGresult *r = ecm_pg_exec(pg, "SELECT id, name FROM rule_sets WHERE name = $1", 1, params);
    if (!r) {
        return -1;
    }
    *out = picks_json(r, 0);
    PQclear(r);
    return *out ? 1 : -1;
}

/* Replaces campaign id's picks with picks ([{"id", ...}]) and its blackout
 * dates with blackouts (canonical); a NULL one is kept. Every change moves
 * rules_generation (the tables' triggers), which the dispatchers' caches
 * follow. 0 or -1. */
static int write_contact_rules(ecm_pg *pg, long long id, const json_t *picks,
                               const json_t *blackouts)
{
    char sid[GW_LL_TEXT];
    gw_ll_text(sid, id);
    int rc = 0;
    if (picks) {
        char *text = json_dumps(picks, JSON_COMPACT);
        const char *params[] = {sid, text};
        rc = !text ||
                     ecm_pg_cmd(pg, "DELETE FROM campaign_rule_sets WHERE campaign_id = $1", 1,
                                params) != 0 ||
                     ecm_pg_cmd(
                         pg,
                         "INSERT INTO campaign_rule_sets (campaign_id, rule_set_id) "
                         "SELECT $1, (e ->> 'id')::bigint FROM jsonb_array_elements($2::jsonb) e",
                         2, params) != 0
                 ? -1
                 : 0;
        free(text);
    }
    if (rc == 0 && blackouts) {
        char *text = json_dumps(blackouts, JSON_COMPACT);
        const char *params[] = {sid, text};
        rc = !text ||
                     ecm_pg_cmd(pg, "DELETE FROM campaign_blackouts WHERE campaign_id = $1", 1,
                                params) != 0 ||
                     ecm_pg_cmd(pg,
                                "INSERT INTO campaign_blackouts (campaign_id, day, reason) "
                                "SELECT $1, b.date, b.reason FROM "
                                "jsonb_to_recordset($2::jsonb) AS b (date date, reason text)",
                                2, params) != 0
                 ? -1
                 : 0;
        free(text);
    }
    return rc;
}

/* 0 when in's end_at is absent or still ahead of the business clock; else
 * answers 400 and returns -1. */
static int check_end_ahead(ecm_http_req *req, const gw_campaign_input *in, const char *title)
{
    if (in->end_at && in->end_ms <= ecm_clock_now_ms()) {
        ecm_http_respond_problem(req, 400, "validation", title,
                                 "end_at: %s is in the past; a campaign needs time to run",
                                 GW_QUOTE(in->end_at, 40));
        return -1;
    }
    return 0;
}

/* The 15 column values of in, in the order $2.. of INSERT_SQL and
 * UPDATE_SQL ($1 being the channel or the id). */
#define CAMPAIGN_VALUES 15
static void campaign_values(const gw_campaign_input *in, const char *strategy_id,
                            const char *region, char timeout[GW_LL_TEXT],
                            const char *out[CAMPAIGN_VALUES])
{
    gw_ll_text(timeout, in->dlr_timeout_s > 0 ? in->dlr_timeout_s : GW_DLR_TIMEOUT_DEFAULT);
    const char *v[CAMPAIGN_VALUES] = {in->name,
                                      strategy_id,
                                      in->cisco_kind,
                                      in->cisco_campaign_id,
                                      in->region ? in->region : region,
                                      in->time_zone,
                                      in->start_at,
                                      in->end_at,
                                      in->sms_template,
                                      in->sms_sender,
                                      in->sms_gateway,
                                      timeout,
                                      in->call_window,
                                      in->cisco_import_table,
                                      in->cisco_dialing_list};
    memcpy(out, v, sizeof(v));
}

static const char INSERT_SQL[] =
    "INSERT INTO campaigns (channel, name, strategy_id, cisco_kind, cisco_campaign_id, region, "
    "time_zone, start_at, end_at, sms_template, sms_sender, sms_gateway, dlr_timeout_s, "
    "call_window, cisco_import_table, cisco_dialing_list) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16) "
    "RETURNING id";

/* updated_at strictly increases, even within one transaction's now(): it is
 * the key of the dispatchers' caches of campaign rules. */
#define GW_SQL_BUMP_UPDATED                                                                        \
    "updated_at = greatest(clock_timestamp(), updated_at + interval '1 microsecond')"

static const char UPDATE_SQL[] =
    "UPDATE campaigns SET name = $2, strategy_id = $3, cisco_kind = $4, cisco_campaign_id = $5, "
    "region = $6, time_zone = $7, start_at = $8, end_at = $9, sms_template = $10, "
    "sms_sender = $11, sms_gateway = $12, dlr_timeout_s = $13, call_window = "
    "$14::jsonb, cisco_import_table = $15, cisco_dialing_list = $16, " GW_SQL_BUMP_UPDATED
    " WHERE id = $1";

static const char *region_default(const gw_app *app)
{
    return app->default_region && app->default_region[0] ? app->default_region : "US";
}

/* The contact rules of a new campaign: its picks (resolved, or the
 * default), its blackout dates (canonical, NULL when none given) and the
 * audit summary (body with the picks, the default ones too), all the
 * caller's. Returns 1, or 0 after rolling back and answering (400, 503). */
static int create_rules(ecm_http_req *req, ecm_pg *pg, const gw_app *app,
                        const gw_campaign_input *in, const json_t *body, json_t **picks,
                        json_t **blackouts, json_t **summary)
{
    int found = in->rule_sets
                    ? resolve_rule_sets(req, pg, in->rule_sets, "Invalid campaign", picks)
                    : default_rule_sets(pg, in->region ? in->region : region_default(app), picks);
    *blackouts = in->blackout_dates ? gw_campaign_blackouts_canonical(in->blackout_dates) : NULL;
    *summary = json_deep_copy(body);
    if (found != 1 || (in->blackout_dates && !*blackouts) || !*summary ||
        json_object_set(*summary, "rule_sets", *picks) != 0) {
        ecm_pg_rollback(pg);
        if (found != 0) {
            gw_respond_db_down(req, pg, "read rule sets");
        }
        return 0;
    }
    return 1;
}

/* Channels a campaign's strategy may switch its contacts to, by the
 * strategy's retry rules. */
static const char SWITCHES_SQL[] =
    "SELECT coalesce(bool_or(switch_channel = 'sms'), false), "
    "coalesce(bool_or(switch_channel = 'voice'), false) FROM strategy_rules "
    "WHERE strategy_id = $1 AND action = 'retry'";

/* Inside pg's transaction: whether a campaign on strategy_id with (has_sms)
 * or without an SMS template and (has_cisco) or without a Cisco target can
 * follow its strategy's channel switches. Returns 1 when it can; 0 after
 * rolling back and answering 422 naming the missing member ("sms.template"
 * or "cisco"), or 503. */
static int switches_possible(ecm_http_req *req, ecm_pg *pg, const char *strategy_id, int has_sms,
                             int has_cisco, const char *title)
{
    const char *params[] = {strategy_id};
    PGresult *r = ecm_pg_exec(pg, SWITCHES_SQL, 1, params);
    if (!r) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "read the strategy");
        return 0;
    }
    int to_sms = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    int to_voice = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    if (to_sms && !has_sms) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 422, "validation", title,
                                 "sms.template: the campaign's strategy switches contacts to SMS; "
                                 "give the campaign an sms member with a template");
        return 0;
    }
    if (to_voice && !has_cisco) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 422, "validation", title,
                                 "cisco: the campaign's strategy switches contacts to voice; give "
                                 "the campaign a Cisco target");
        return 0;
    }
    return 1;
}

static void create_campaign(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    json_t *body = gw_body_json(req, "Invalid campaign");
    if (!body) {
        return;
    }
    gw_campaign_input in;
    const char *field = NULL;
    char reason[200];
    if (gw_campaign_validate_legal(body, app->legal, &in, &field, reason, sizeof(reason)) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid campaign", "%s: %s", field,
                                 reason);
        json_decref(body);
        return;
    }
    if (check_end_ahead(req, &in, "Invalid campaign") != 0) {
        json_decref(body);
        return;
    }

    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    long long id = 0;
    PGresult *ins = NULL;
    json_t *picks = NULL, *blackouts = NULL, *summary = NULL;
    char strategy_id[24];
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "create the campaign");
        goto out;
    }
    int found =
        resolve_strategy(req, pg, &in, "Invalid campaign", strategy_id, sizeof(strategy_id));
    if (found != 1) {
        ecm_pg_rollback(pg);
        if (found < 0) {
            gw_respond_db_down(req, pg, "read strategies");
        }
        goto out;
    }
    if (!switches_possible(req, pg, strategy_id, in.sms_template != NULL, in.cisco_kind != NULL,
                           "Invalid campaign")) {
        goto out;
    }
    if (create_rules(req, pg, app, &in, body, &picks, &blackouts, &summary) != 1) {
        goto out;
    }
    char timeout[24];
    const char *params[CAMPAIGN_VALUES + 1];
    params[0] = in.channel;
    campaign_values(&in, strategy_id, region_default(app), timeout, params + 1);
    ins = ecm_pg_exec(pg, INSERT_SQL, CAMPAIGN_VALUES + 1, params);
    if (!ins) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "create the campaign");
        goto out;
    }
    id = strtoll(PQgetvalue(ins, 0, 0), NULL, 10);
    if (write_contact_rules(pg, id, json_array_size(picks) ? picks : NULL, blackouts) != 0 ||
        add_changed_event(app, pg, id, "draft", "") != 0 ||
        gw_audit_add_id(pg, req, "campaign.create", "campaign", id, summary) != 0 ||
        ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "create the campaign");
        goto out;
    }
    int missing;
    json_t *c = gw_campaign_view_load(pg, id, &missing);
    if (!c) {
        gw_respond_db_down(req, pg, "read the new campaign");
        goto out;
    }
    char location[64];
    if (gw_format(location, sizeof(location), "/api/v1/campaigns/%lld", id) == 0) {
        ecm_http_add_header(req, "Location", location);
    }
    ecm_log_info("campaign created", "campaign_id=%lld channel=%s", id, in.channel);
    gw_json_respond(req, 201, c);
out:
    json_decref(picks);
    json_decref(blackouts);
    json_decref(summary);
    PQclear(ins);
    ecm_pg_pool_put(app->pool, pg);
    json_decref(body);
}

/* The editable part of campaign row 0 of r (PATCH_COLUMNS) as the document
 * POST takes, for gw_campaign_merge(). NULL when out of memory. */
#define PATCH_COLUMNS                                                                              \
    "state, name, channel, strategy_id, cisco_kind, cisco_campaign_id, region, "                   \
    "time_zone, " GW_SQL_TIME("start_at") ", " GW_SQL_TIME(                                        \
        "end_at") ", call_window::text, sms_template, "                                            \
                  "sms_sender, sms_gateway, dlr_timeout_s, cisco_import_table, "                   \
                  "cisco_dialing_list, " RULE_SETS_OF("campaigns.id") ", " BLACKOUTS_OF(           \
                      "campaigns.id")

static json_t *campaign_document(const PGresult *r)
{
    json_t *doc =
        json_pack("{ss ss sI ss ss}", "name", PQgetvalue(r, 0, 1), "channel", PQgetvalue(r, 0, 2),
                  "strategy_id", (json_int_t)strtoll(PQgetvalue(r, 0, 3), NULL, 10), "region",
                  PQgetvalue(r, 0, 6), "time_zone", PQgetvalue(r, 0, 7));
    if (!doc) {
        return NULL;
    }
    json_t *cisco = gw_campaign_view_cisco_json(r, 0, 4, 15);
    if (cisco) {
        json_object_set_new(doc, "cisco", cisco);
    }
    if (!PQgetisnull(r, 0, 8)) {
        json_object_set_new(doc, "start_at", json_string(PQgetvalue(r, 0, 8)));
    }
    if (!PQgetisnull(r, 0, 9)) {
        json_object_set_new(doc, "end_at", json_string(PQgetvalue(r, 0, 9)));
    }
    if (!PQgetisnull(r, 0, 10)) {
        json_t *w = json_loads(PQgetvalue(r, 0, 10), 0, NULL);
        if (w) {
            json_object_set_new(doc, "call_window", w);
        }
    }
    json_t *sets = json_loads(PQgetvalue(r, 0, 17), 0, NULL);
    json_t *days = json_loads(PQgetvalue(r, 0, 18), 0, NULL);
    json_object_set_new(doc, "rule_sets", sets ? sets : json_array());
    json_object_set_new(doc, "blackout_dates", days ? days : json_array());
    if (strcmp(PQgetvalue(r, 0, 2), "sms") == 0 || !PQgetisnull(r, 0, 11)) {
        json_t *sms =
            json_pack("{sI}", "dlr_timeout_s", (json_int_t)strtoll(PQgetvalue(r, 0, 14), NULL, 10));
        if (sms && !PQgetisnull(r, 0, 11)) {
            json_object_set_new(sms, "template", json_string(PQgetvalue(r, 0, 11)));
        }
        if (sms && !PQgetisnull(r, 0, 12)) {
            json_object_set_new(sms, "sender", json_string(PQgetvalue(r, 0, 12)));
        }
        if (sms && !PQgetisnull(r, 0, 13)) {
            json_object_set_new(sms, "gateway", json_string(PQgetvalue(r, 0, 13)));
        }
        json_object_set_new(doc, "sms", sms ? sms : json_null());
    }
    return doc;
}

/* The campaign row r (locked) changed by patch: checked against its state,
 * merged (*doc, *merged: the caller frees them) and validated whole into
 * *in. Returns 0, or -1 after rolling back and answering (400, 409, 500). */
static int patch_merge(ecm_http_req *req, ecm_pg *pg, const gw_app *app, const PGresult *r,
                       const json_t *patch, json_t **doc, json_t **merged, gw_campaign_input *in)
{
    const char *field = NULL;
    char reason[200];
    int pc = gw_campaign_patch_check(PQgetvalue(r, 0, 0), patch, &field, reason, sizeof(reason));
    if (pc != 0) {
        ecm_pg_rollback(pg);
        if (pc > 0) {
            ecm_http_respond_problem(req, 409, "conflict", "Change not allowed", "%s: %s", field,
                                     reason);
        } else {
            ecm_http_respond_problem(req, 400, "validation", "Invalid campaign change", "%s: %s",
                                     field, reason);
        }
        return -1;
    }
    *doc = campaign_document(r);
    *merged = *doc ? gw_campaign_merge(*doc, patch) : NULL;
    if (!*merged) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return -1;
    }
    if (gw_campaign_validate_legal(*merged, app->legal, in, &field, reason, sizeof(reason)) != 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 400, "validation", "Invalid campaign change", "%s: %s", field,
                                 reason);
        return -1;
    }
    /* Only a new end_at is held to the clock: an old one already past is
     * the expiry's business, and must not block renaming the campaign. */
    json_t *new_end = json_object_get(patch, "end_at");
    if (new_end && !json_is_null(new_end) &&
        check_end_ahead(req, in, "Invalid campaign change") != 0) {
        ecm_pg_rollback(pg);
        return -1;
    }
    return 0;
}

/* Writes the merged campaign id (locked, in pg's transaction) with its
 * audit row and answers with the campaign; a PATCH that changes no member
 * (empty, or the values the campaign has) is not a change: rolled back, no
 * audit row, updated_at kept, the campaign answered as it is. */
static void patch_write(ecm_http_req *req, ecm_pg *pg, const gw_app *app, long long id,
                        const json_t *doc, const json_t *merged, const gw_campaign_input *in,
                        const char *strategy_id)
{
    /* The contact rules as merged carries them, resolved: written only
     * when they changed, so that rules_generation moves only then. */
    const json_t *picks = json_object_get(merged, "rule_sets");
    const json_t *blackouts = json_object_get(merged, "blackout_dates");
    json_t *changes = gw_audit_diff(doc, merged);
    if (!changes) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return;
    }
    int changed = json_object_size(changes) > 0;
    char sid[24], timeout[24];
    gw_ll_text(sid, id);
    const char *uparams[CAMPAIGN_VALUES + 1];
    uparams[0] = sid;
    campaign_values(in, strategy_id, region_default(app), timeout, uparams + 1);
    if (!changed) {
        ecm_pg_rollback(pg);
    } else if (ecm_pg_cmd(pg, UPDATE_SQL, CAMPAIGN_VALUES + 1, uparams) != 0 ||
               write_contact_rules(pg, id, json_object_get(changes, "rule_sets") ? picks : NULL,
                                   json_object_get(changes, "blackout_dates") ? blackouts : NULL) !=
                   0 ||
               gw_audit_add_id(pg, req, "campaign.update", "campaign", id, changes) != 0 ||
               ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        json_decref(changes);
        gw_respond_db_down(req, pg, "change the campaign");
        return;
    }
    json_decref(changes);
    if (changed) {
        ecm_log_info("campaign changed", "campaign_id=%lld", id);
    }
    int missing;
    json_t *c = gw_campaign_view_load(pg, id, &missing);
    if (c) {
        gw_json_respond(req, 200, c);
    } else {
        gw_respond_db_down(req, pg, "read the campaign");
    }
}

/* The contact rules a PATCH names, resolved into merged as GET shows them
 * (rule_sets [{"id", "name"}] by name, blackout_dates sorted with reasons),
 * so that the audit diff compares like with like; null is none. Returns 1,
 * or 0 after rolling back and answering (400, 503). */
static int patch_rules(ecm_http_req *req, ecm_pg *pg, const json_t *patch,
                       const gw_campaign_input *in, json_t *merged)
{
    static const char TITLE[] = "Invalid campaign change";
    json_t *picks = NULL, *blackouts = NULL;
    int got = 1;
    if (json_object_get(patch, "rule_sets")) {
        got = in->rule_sets ? resolve_rule_sets(req, pg, in->rule_sets, TITLE, &picks)
                            : ((picks = json_array()) ? 1 : -1);
    }
    if (got == 1 && json_object_get(patch, "blackout_dates")) {
        blackouts = gw_campaign_blackouts_canonical(in->blackout_dates);
        got = blackouts ? 1 : -1;
    }
    if (got == 1 && ((picks && json_object_set(merged, "rule_sets", picks) != 0) ||
                     (blackouts && json_object_set(merged, "blackout_dates", blackouts) != 0))) {
        got = -1;
    }
    json_decref(picks);
    json_decref(blackouts);
    if (got != 1) {
        ecm_pg_rollback(pg);
        if (got < 0) {
            gw_respond_db_down(req, pg, "read rule sets");
        }
        return 0;
    }
    return 1;
}

static void patch_campaign(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id;
    if (gw_path_id(req, "campaign", &id) != 0) {
        return;
    }
    json_t *patch = gw_body_json(req, "Invalid campaign change");
    if (!patch) {
        return;
    }
    char sid[24];
    gw_ll_text(sid, id);
    const char *params[] = {sid};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = NULL;
    json_t *doc = NULL, *merged = NULL;
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "change the campaign");
        goto out;
    }
    r = ecm_pg_exec(pg, "SELECT " PATCH_COLUMNS " FROM campaigns WHERE id = $1 FOR UPDATE", 1,
                    params);
    if (!r) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the campaign");
        goto out;
    }
    if (PQntuples(r) == 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "campaign %lld does not exist", id);
        goto out;
    }
    gw_campaign_input in;
    if (patch_merge(req, pg, app, r, patch, &doc, &merged, &in) != 0) {
        goto out;
    }
    char strategy_id[24];
    int found =
        resolve_strategy(req, pg, &in, "Invalid campaign change", strategy_id, sizeof(strategy_id));
    if (found != 1) {
        ecm_pg_rollback(pg);
        if (found < 0) {
            gw_respond_db_down(req, pg, "read strategies");
        }
        goto out;
    }
    if (!switches_possible(req, pg, strategy_id, in.sms_template != NULL, in.cisco_kind != NULL,
                           "Invalid campaign change")) {
        goto out;
    }
    if (patch_rules(req, pg, patch, &in, merged) != 1) {
        goto out;
    }
    patch_write(req, pg, app, id, doc, merged, &in, strategy_id);
out:
    PQclear(r);
    json_decref(doc);
    json_decref(merged);
    json_decref(patch);
    ecm_pg_pool_put(app->pool, pg);
}

static void get_campaign(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id;
    if (gw_path_id(req, "campaign", &id) != 0) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    int missing;
    json_t *c = gw_campaign_view_load(pg, id, &missing);
    if (c) {
        gw_json_respond(req, 200, c);
    } else if (missing) {
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "campaign %lld does not exist", id);
    } else {
        gw_respond_db_down(req, pg, "read the campaign");
    }
    ecm_pg_pool_put(app->pool, pg);
}

static void list_campaigns(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    gw_page page;
    if (gw_page_args(req, GW_LIST_DEFAULT, GW_LIST_MAX, &page) != 0) {
        return;
    }
    const char *params[] = {page.cursor_param, page.limit_param};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r =
        ecm_pg_exec(pg,
                    "SELECT " CAMPAIGN_COLUMNS "WHERE $1::bigint = 0 OR c.id < $1::bigint "
                    "ORDER BY c.id DESC LIMIT $2::int",
                    2, params);
    if (!r) {
        gw_respond_db_down(req, pg, "list campaigns");
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    json_t *answer = gw_page_json(r, &page, gw_campaign_view_row_json);
    PQclear(r);
    if (answer && gw_campaign_view_fill_counts(pg, json_object_get(answer, "items")) != 0) {
        json_decref(answer);
        gw_respond_db_down(req, pg, "count contacts");
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    ecm_pg_pool_put(app->pool, pg);
    gw_json_respond(req, 200, answer);
}

/* The audit row of a state change: action "campaign.<verb>". */
static int audit_state_change(ecm_pg *pg, ecm_http_req *req, long long id, const char *verb,
                              const char *from, const char *to)
{
    char action[48];
    if (snprintf(action, sizeof action, "campaign.%s", verb) >= (int)sizeof action) {
        return -1;
    }
    json_t *summary = json_pack("{ss ss}", "from", from, "to", to);
    int rc = summary ? gw_audit_add_id(pg, req, action, "campaign", id, summary) : -1;
    json_decref(summary);
    return rc;
}

static void change_state(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id;
    if (gw_path_id(req, "campaign", &id) != 0) {
        return;
    }
    const char *path = ecm_http_req_path(req);
    const char *action = strrchr(path, '/');
    action = action ? action + 1 : path;

    char sid[24];
    gw_ll_text(sid, id);
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = NULL;
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "change the campaign");
        goto out;
    }
    char now[24];
    gw_ll_text(now, (long long)ecm_clock_now_ms());
    const char *sparams[] = {sid, now};
    r = ecm_pg_exec(pg,
                    "SELECT state, end_at IS NOT NULL AND end_at <= "
                    "to_timestamp($2::bigint / 1000.0), " GW_SQL_TIME(
                        "end_at") ", strategy_id, sms_template IS NOT NULL, "
                                  "cisco_kind IS NOT NULL AND cisco_campaign_id IS NOT NULL "
                                  "FROM campaigns WHERE id = $1 FOR UPDATE",
                    2, sparams);
    if (!r) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the campaign");
        goto out;
    }
    if (PQntuples(r) == 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "campaign %lld does not exist", id);
        goto out;
    }
    const char *from = PQgetvalue(r, 0, 0);
    const char *to = gw_campaign_next_state(from, action);
    if (!to) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 409, "conflict", "State change not allowed",
                                 "campaign %lld is %s; %s is not allowed from there", id, from,
                                 action);
        goto out;
    }
    if (strcmp(to, "active") == 0 && strcmp(PQgetvalue(r, 0, 1), "t") == 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 409, "conflict", "Campaign has ended",
                                 "campaign %lld ended at %s; PATCH a later end_at to run it again",
                                 id, PQgetvalue(r, 0, 2));
        goto out;
    }
    /* A strategy edited since the campaign was checked may switch to a
     * channel it lacks: checked again before it runs. */
    if (strcmp(to, "active") == 0 &&
        !switches_possible(req, pg, PQgetvalue(r, 0, 3), strcmp(PQgetvalue(r, 0, 4), "t") == 0,
                           strcmp(PQgetvalue(r, 0, 5), "t") == 0, "Campaign can't run")) {
        goto out;
    }
    const char *uparams[] = {sid, to};
    if (ecm_pg_cmd(pg, "UPDATE campaigns SET state = $2, " GW_SQL_BUMP_UPDATED " WHERE id = $1", 2,
                   uparams) != 0 ||
        add_changed_event(app, pg, id, to, from) != 0 ||
        audit_state_change(pg, req, id, action, from, to) != 0 || ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the campaign");
        goto out;
    }
    ecm_log_info("campaign state changed", "campaign_id=%lld from=%s to=%s", id, from, to);
    int missing;
    json_t *c = gw_campaign_view_load(pg, id, &missing);
    if (c) {
        gw_json_respond(req, 200, c);
    } else {
        gw_respond_db_down(req, pg, "read the campaign");
    }
out:
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
}

int gw_campaigns_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "POST", "/api/v1/campaigns", GW_CAMPAIGN_BODY_MAX, create_campaign,
                       ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/campaigns", 0, list_campaigns, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/campaigns/{}", 0, get_campaign, ctx) != 0 ||
        ecm_http_route(h, "PATCH", "/api/v1/campaigns/{}", GW_CAMPAIGN_BODY_MAX, patch_campaign,
                       ctx) != 0 ||
        ecm_http_route(h, "POST", "/api/v1/campaigns/{}/resume", 1024, change_state, ctx) != 0 ||
        ecm_http_route(h, "POST", "/api/v1/campaigns/{}/activate", 1024, change_state, ctx) != 0 ||
        ecm_http_route(h, "POST", "/api/v1/campaigns/{}/pause", 1024, change_state, ctx) != 0 ||
        ecm_http_route(h, "POST", "/api/v1/campaigns/{}/stop", 1024, change_state, ctx) != 0) {
        return -1;
    }
    return 0;
}

#include "gw_rules.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "ecm_pg.h"
#include "gw_audit.h"
#include "gw_json.h"

/* 2000 rules of ~1 KB each would not fit; a year of holidays for many
 * states does, many times over. */
#define GW_RULE_SET_BODY_MAX (1024 * 1024)
#define GW_RULE_SET_LIST_DEFAULT 50
#define GW_RULE_SET_LIST_MAX 200
#define TITLE_INVALID "Invalid rule set"

static const char SHIPPED_NOTICE[] =
    "this set was shipped with ECM; it is now your own (shipped: false): a later shipped update "
    "of the set of this name will not overwrite it";

/* clang-format off */
#define SET_COLUMNS                                                                                \
    "s.id, s.name, s.jurisdiction, s.description, s.shipped, "                                     \
    GW_SQL_TIME("s.created_at") ", " GW_SQL_TIME("s.updated_at") ", "                              \
    "(SELECT count(*) FROM rules r WHERE r.rule_set_id = s.id), "                                  \
    "(SELECT count(*) FROM campaign_rule_sets u WHERE u.rule_set_id = s.id) "                      \
    "FROM rule_sets s "

#define HHMM(col) "lpad((" col " / 60)::text, 2, '0') || ':' || lpad((" col " % 60)::text, 2, '0')"

/* A set's rules in the shape of rules/<name>.json, each with its id, oldest
 * first; the members of the other kinds left out. */
static const char RULES_SQL[] =
    "SELECT coalesce(jsonb_agg(jsonb_build_object('id', r.id, 'kind', r.kind, 'says', r.says, "
    "'source', r.source, 'checked_on', r.checked_on, 'channel', r.channel) "
    "|| jsonb_strip_nulls(jsonb_build_object("
    "'wdays', (SELECT array_agg(d ORDER BY d) FROM unnest(r.wdays) d), "
    "'start', " HHMM("r.start_min") ", 'end', " HHMM("r.end_min") ", 'day', r.day, "
    "'max_attempts', r.max_attempts, 'window_s', r.window_s, "
    "'after_outcome', r.after_outcome, 'quiet_s', r.quiet_s, 'scope', r.scope)) "
    "ORDER BY r.id), '[]')::text FROM rules r WHERE r.rule_set_id = $1";

static const char INSERT_RULES_SQL[] =
    "INSERT INTO rules (rule_set_id, kind, says, source, checked_on, wdays, start_min, end_min, "
    "day, max_attempts, window_s, after_outcome, quiet_s, scope, channel) "
    "SELECT $1, r.kind, r.says, r.source, r.checked_on, r.wdays, r.start_min, r.end_min, r.day, "
    "r.max_attempts, r.window_s, r.after_outcome, r.quiet_s, r.scope, r.channel "
    "FROM ROWS FROM (jsonb_to_recordset($2::jsonb) AS (kind text, says text, source text, "
    "checked_on date, wdays int[], start_min int, end_min int, day date, max_attempts int, "
    "window_s bigint, after_outcome text, quiet_s bigint, scope text, channel text)) "
    "WITH ORDINALITY AS r (kind, says, source, checked_on, wdays, start_min, end_min, day, "
    "max_attempts, window_s, after_outcome, quiet_s, scope, channel, ord) ORDER BY r.ord";
/* clang-format on */

static json_int_t col_int(const PGresult *r, int i, int col)
{
    return (json_int_t)strtoll(PQgetvalue(r, i, col), NULL, 10);
}

/* A row of SET_COLUMNS as the set's summary. NULL when out of memory. */
static json_t *set_row_json(const PGresult *r, int i)
{
    return json_pack("{sI ss ss ss sb sI sI ss ss}", "id", col_int(r, i, 0), "name",
                     PQgetvalue(r, i, 1), "jurisdiction", PQgetvalue(r, i, 2), "description",
                     PQgetvalue(r, i, 3), "shipped", PQgetvalue(r, i, 4)[0] == 't', "rule_count",
                     col_int(r, i, 7), "campaigns", col_int(r, i, 8), "created_at",
                     PQgetvalue(r, i, 5), "updated_at", PQgetvalue(r, i, 6));
}

/* The set id with its rules, or NULL with *missing 1 when there is none (0
 * on a DB failure or out of memory). */
static json_t *load_set(ecm_pg *pg, const char *id, int *missing)
{
    const char *params[] = {id};
    *missing = 0;
    PGresult *r = ecm_pg_exec(pg, "SELECT " SET_COLUMNS "WHERE s.id = $1", 1, params);
    if (!r) {
        return NULL;
    }
    if (PQntuples(r) != 1) {
        *missing = 1;
        PQclear(r);
        return NULL;
    }
    json_t *set = set_row_json(r, 0);
    PQclear(r);
    r = set ? ecm_pg_exec(pg, RULES_SQL, 1, params) : NULL;
    json_t *rules = r ? json_loads(PQgetvalue(r, 0, 0), 0, NULL) : NULL;
    PQclear(r);
    if (!rules || json_object_set_new(set, "rules", rules) != 0) {
        json_decref(set);
        return NULL;
    }
    return set;
}

/* What an audit diff compares: the set as a body would give it (name,
 * jurisdiction, description, rules without their ids). New reference, or
 * NULL when out of memory. */
static json_t *set_document(const json_t *set)
{
    json_t *rules = json_deep_copy(json_object_get(set, "rules"));
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule)
    {
        (void)json_object_del(rule, "id");
    }
    return json_pack("{sO sO sO so}", "name", json_object_get(set, "name"), "jurisdiction",
                     json_object_get(set, "jurisdiction"), "description",
                     json_object_get(set, "description"), "rules", rules ? rules : json_array());
}

/* The {id} of the path, or -1 after answering 404. */
static int path_id(ecm_http_req *req, char out[GW_LL_TEXT])
{
    long long id;
    if (gw_path_id(req, "rule set", &id) != 0) {
        return -1;
    }
    gw_ll_text(out, id);
    return 0;
}

static void respond_missing(ecm_http_req *req, const char *id)
{
    ecm_http_respond_problem(req, 404, "not-found", "No such rule set",
                             "rule set %s does not exist", id);
}

/* Parses and validates the body; on failure answers (400 not JSON, 422 not
 * a rule set) and returns -1 with nothing to release. */
static int read_body(ecm_http_req *req, json_t **body, gw_rule_set_input *in)
{
    *body = gw_body_json(req, TITLE_INVALID);
    if (!*body) {
        return -1;
    }
    char field[64], reason[320];
    if (gw_rule_set_validate(*body, in, field, sizeof(field), reason, sizeof(reason)) != 0) {
        ecm_http_respond_problem(req, 422, "validation", TITLE_INVALID, "%s: %s", field, reason);
        json_decref(*body);
        *body = NULL;
        return -1;
    }
    return 0;
}

static void respond_name_taken(ecm_http_req *req, const char *name)
{
    ecm_http_respond_problem(req, 409, "conflict", "Rule set name taken",
                             "name: a rule set named '%s' exists already", GW_QUOTE(name, 100));
}

/* After a failed write (the caller rolls back after): 409 for a name taken,
 * 422 for a rule the table's CHECKs refuse (the validation is meant to
 * refuse all of them first), else 503. */
static void write_failed(ecm_http_req *req, ecm_pg *pg, const gw_rule_set_input *in)
{
    const char *state = ecm_pg_last_sqlstate(pg);
    if (strcmp(state, "23505") == 0) {
        respond_name_taken(req, in->name);
    } else if (strcmp(state, "23514") == 0 || strcmp(state, "22P02") == 0 ||
               strcmp(state, "22007") == 0 || strcmp(state, "22008") == 0) {
        ecm_http_respond_problem(req, 422, "validation", TITLE_INVALID,
                                 "rules: the database refused a rule (SQLSTATE %s)", state);
    } else {
        gw_respond_db_down(req, pg, "write the rule set");
    }
}

/* Answers 201 or 200 with set id as it is now, and a notice when given. */
static void respond_set(ecm_http_req *req, ecm_pg *pg, const char *id, int status,
                        const char *notice)
{
    int missing;
    json_t *set = load_set(pg, id, &missing);
    if (!set) {
        gw_respond_db_down(req, pg, "read the rule set");
        return;
    }
    if (notice) {
        json_object_set_new(set, "notice", json_string(notice));
    }
    char location[64];
    if (status == 201 && gw_format(location, sizeof(location), "/api/v1/rule-sets/%s", id) == 0) {
        ecm_http_add_header(req, "Location", location);
    }
    gw_json_respond(req, status, set);
}

static void create_set(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    json_t *body;
    gw_rule_set_input in;
    if (read_body(req, &body, &in) != 0) {
        return;
    }
    const char *params[] = {in.name, in.jurisdiction, in.description};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = NULL;
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "create the rule set");
        goto out;
    }
    int taken = gw_name_taken(pg, "rule_sets", in.name, NULL);
    if (taken != 0) {
        ecm_pg_rollback(pg);
        if (taken > 0) {
            respond_name_taken(req, in.name);
        } else {
            gw_respond_db_down(req, pg, "create the rule set");
        }
        goto out;
    }
    r = ecm_pg_exec(pg,
                    "INSERT INTO rule_sets (name, jurisdiction, description, shipped) "
                    "VALUES ($1, $2, $3, false) RETURNING id",
                    3, params);
    if (!r || gw_pg_cmd_id_json(pg, INSERT_RULES_SQL, PQgetvalue(r, 0, 0), in.rows) != 0 ||
        gw_audit_add_id(pg, req, "rule_set.create", "rule_set",
                        strtoll(PQgetvalue(r, 0, 0), NULL, 10), in.doc) != 0 ||
        ecm_pg_commit(pg) != 0) {
        write_failed(req, pg, &in);
        ecm_pg_rollback(pg);
        goto out;
    }
    ecm_log_info("rule set created", "rule_set_id=%s jurisdiction=%s rules=%zu",
                 PQgetvalue(r, 0, 0), in.jurisdiction, json_array_size(in.rows));
    respond_set(req, pg, PQgetvalue(r, 0, 0), 201, NULL);
out:
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    gw_rule_set_input_clear(&in);
    json_decref(body);
}

/* Opens a transaction and locks set id: returns its row (name, shipped,
 * campaigns using it), or NULL after answering (404, 503) and rolling
 * back. */
static PGresult *lock_set(ecm_http_req *req, ecm_pg *pg, const char *id)
{
    const char *params[] = {id};
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "change the rule set");
        return NULL;
    }
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT name, shipped, jurisdiction, "
                              "(SELECT count(*) FROM rules WHERE rule_set_id = s.id), "
                              "(SELECT count(*) FROM campaign_rule_sets WHERE rule_set_id = s.id), "
                              "(SELECT string_agg(campaign_id::text, ', ' ORDER BY campaign_id) "
                              "FROM (SELECT campaign_id FROM campaign_rule_sets "
                              "WHERE rule_set_id = s.id ORDER BY campaign_id LIMIT 10) c) "
                              "FROM rule_sets s WHERE id = $1 FOR UPDATE",
                              1, params);
    if (!r) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the rule set");
        return NULL;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        ecm_pg_rollback(pg);
        respond_missing(req, id);
        return NULL;
    }
    return r;
}

static void replace_set(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    char id[GW_LL_TEXT];
    if (path_id(req, id) != 0) {
        return;
    }
    json_t *body;
    gw_rule_set_input in;
    if (read_body(req, &body, &in) != 0) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    json_t *changes = NULL;
    PGresult *cur = lock_set(req, pg, id);
    if (!cur) {
        goto out;
    }
    int taken = gw_name_taken(pg, "rule_sets", in.name, id);
    if (taken != 0) {
        ecm_pg_rollback(pg);
        if (taken > 0) {
            respond_name_taken(req, in.name);
        } else {
            gw_respond_db_down(req, pg, "change the rule set");
        }
        goto out;
    }
    int missing;
    json_t *before = load_set(pg, id, &missing);
    json_t *doc = before ? set_document(before) : NULL;
    json_decref(before);
    changes = doc ? gw_audit_diff(doc, in.doc) : NULL;
    if (changes && json_object_get(changes, "rules")) {
        /* The rules that went and came, not two copies of the whole set. */
        json_t *rules =
            gw_rule_set_rules_diff(json_object_get(doc, "rules"), json_object_get(in.doc, "rules"));
        if (!rules || json_object_set_new(changes, "rules", rules) != 0) {
            json_decref(changes);
            changes = NULL;
        }
    }
    json_decref(doc);
    if (!changes) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the rule set");
        goto out;
    }
    if (json_object_size(changes) == 0) {
        /* The set as it is: no change, no audit row, shipped kept. */
        ecm_pg_rollback(pg);
        respond_set(req, pg, id, 200, NULL);
        goto out;
    }
    int was_shipped = PQgetvalue(cur, 0, 1)[0] == 't';
    if (was_shipped) {
        json_object_set_new(changes, "shipped", json_pack("{sb sb}", "from", 1, "to", 0));
    }
    const char *params[] = {id, in.name, in.jurisdiction, in.description};
    if (ecm_pg_cmd(pg,
                   "UPDATE rule_sets SET name = $2, jurisdiction = $3, description = $4, "
                   "shipped = false, updated_at = now() WHERE id = $1",
                   4, params) != 0 ||
        ecm_pg_cmd(pg, "DELETE FROM rules WHERE rule_set_id = $1", 1, params) != 0 ||
        gw_pg_cmd_id_json(pg, INSERT_RULES_SQL, id, in.rows) != 0 ||
        gw_audit_add_id(pg, req, "rule_set.update", "rule_set", strtoll(id, NULL, 10), changes) !=
            0 ||
        ecm_pg_commit(pg) != 0) {
        write_failed(req, pg, &in);
        ecm_pg_rollback(pg);
        goto out;
    }
    ecm_log_info("rule set replaced", "rule_set_id=%s rules=%zu was_shipped=%d", id,
                 json_array_size(in.rows), was_shipped);
    respond_set(req, pg, id, 200, was_shipped ? SHIPPED_NOTICE : NULL);
out:
    json_decref(changes);
    PQclear(cur);
    ecm_pg_pool_put(app->pool, pg);
    gw_rule_set_input_clear(&in);
    json_decref(body);
}

static void delete_set(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    char id[GW_LL_TEXT];
    if (path_id(req, id) != 0) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *cur = lock_set(req, pg, id);
    if (!cur) {
        goto out;
    }
    if (strcmp(PQgetvalue(cur, 0, 4), "0") != 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 409, "conflict", "Rule set in use",
                                 "%s campaign(s) use rule set %s (campaign %s%s); take it out of "
                                 "their rule_sets first",
                                 PQgetvalue(cur, 0, 4), id, PQgetvalue(cur, 0, 5),
                                 strtoll(PQgetvalue(cur, 0, 4), NULL, 10) > 10 ? ", ..." : "");
        goto out;
    }
    json_t *summary = json_pack("{ss ss sb sI}", "name", PQgetvalue(cur, 0, 0), "jurisdiction",
                                PQgetvalue(cur, 0, 2), "shipped", PQgetvalue(cur, 0, 1)[0] == 't',
                                "rule_count", col_int(cur, 0, 3));
    const char *params[] = {id};
    int audited = summary ? gw_audit_add_id(pg, req, "rule_set.delete", "rule_set",
                                            strtoll(id, NULL, 10), summary)
                          : -1;
    json_decref(summary);
    if (audited != 0 || ecm_pg_cmd(pg, "DELETE FROM rule_sets WHERE id = $1", 1, params) != 0 ||
        ecm_pg_commit(pg) != 0) {
        int in_use = strcmp(ecm_pg_last_sqlstate(pg), "23503") == 0;
        ecm_pg_rollback(pg);
        if (in_use) {
            ecm_http_respond_problem(req, 409, "conflict", "Rule set in use",
                                     "a campaign uses rule set %s", id);
        } else {
            gw_respond_db_down(req, pg, "delete the rule set");
        }
        goto out;
    }
    ecm_log_info("rule set deleted", "rule_set_id=%s", id);
    ecm_http_respond(req, 204, NULL, NULL, 0);
out:
    PQclear(cur);
    ecm_pg_pool_put(app->pool, pg);
}

static void get_set(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    char id[GW_LL_TEXT];
    if (path_id(req, id) != 0) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    int missing;
    json_t *set = load_set(pg, id, &missing);
    if (set) {
        gw_json_respond(req, 200, set);
    } else if (missing) {
        respond_missing(req, id);
    } else {
        gw_respond_db_down(req, pg, "read the rule set");
    }
    ecm_pg_pool_put(app->pool, pg);
}

static void list_sets(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    gw_page page;
    if (gw_page_args(req, GW_RULE_SET_LIST_DEFAULT, GW_RULE_SET_LIST_MAX, &page) != 0) {
        return;
    }
    const char *jurisdiction = ecm_http_req_query(req, "jurisdiction");
    if (jurisdiction && !gw_rule_jurisdiction_valid(jurisdiction)) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "jurisdiction: '%s' is not \"*\", a country (\"US\") or a "
                                 "subdivision (\"US-FL\")",
                                 GW_QUOTE(jurisdiction, 40));
        return;
    }
    const char *params[] = {page.cursor_param, page.limit_param, jurisdiction};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT " SET_COLUMNS "WHERE s.id > $1::bigint "
                              "AND ($3::text IS NULL OR s.jurisdiction = $3) "
                              "ORDER BY s.id LIMIT $2::int",
                              3, params);
    if (!r) {
        gw_respond_db_down(req, pg, "list rule sets");
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    ecm_pg_pool_put(app->pool, pg);
    json_t *answer = gw_page_json(r, &page, set_row_json);
    PQclear(r);
    gw_json_respond(req, 200, answer);
}

int gw_rules_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "GET", "/api/v1/rule-sets", 0, list_sets, ctx) != 0 ||
        ecm_http_route(h, "POST", "/api/v1/rule-sets", GW_RULE_SET_BODY_MAX, create_set, ctx) !=
            0 ||
        ecm_http_route(h, "GET", "/api/v1/rule-sets/{}", 0, get_set, ctx) != 0 ||
        ecm_http_route(h, "PUT", "/api/v1/rule-sets/{}", GW_RULE_SET_BODY_MAX, replace_set, ctx) !=
            0 ||
        ecm_http_route(h, "DELETE", "/api/v1/rule-sets/{}", 0, delete_set, ctx) != 0) {
        return -1;
    }
    return 0;
}

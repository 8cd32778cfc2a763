#include "gw_strategies.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_utf8.h"
#include "gw_audit.h"
#include "gw_json.h"

#define GW_STRATEGY_NAME_MAX 100
#define GW_STRATEGY_DESCRIPTION_MAX 1000
#define GW_STRATEGY_BODY_MAX (64 * 1024)
#define GW_STRATEGY_LIST_DEFAULT 50
#define GW_STRATEGY_LIST_MAX 200
#define GW_DEFAULT_STRATEGY "Default"

/* ---- validation (pure) ------------------------------------------------ */

/* The field of rule i, "rules[i].member", and the reason msg with what
 * (the value in question) put in front. */
static int rule_fail(const gw_why *w, size_t i, const char *member, const char *what,
                     const char *msg)
{
    /* member and what are the client's text: cut by characters only. */
    char shown[40 * 4 + 4];
    (void)ecm_utf8_format(w->field, w->field_size, "rules[%zu]%s%s", i, member[0] ? "." : "",
                          member);
    (void)ecm_utf8_format(w->reason, w->reason_size, "%s%s",
                          what ? ecm_utf8_quote(shown, sizeof(shown), what, 40) : "", msg);
    return -1;
}

static int known_member(const char *key, const char *const *known, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(known[i], key) == 0) {
            return 1;
        }
    }
    return 0;
}

/* An optional integer member in [min, max]; absent or null gives def.
 * Returns 0 or -1. */
static int opt_int(const json_t *obj, const char *key, long long def, long long min, long long max,
                   long long *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        return -1;
    }
    *out = (long long)json_integer_value(v);
    return 0;
}

static int validate_rule(const json_t *rule, size_t i, json_t *seen, json_t *rules, const gw_why *w)
{
    static const char *const known[] = {"outcome",      "action",     "delay_seconds",
                                        "max_attempts", "next_phone", "switch_channel",
                                        "switch_after"};
    if (!json_is_object(rule)) {
        return rule_fail(w, i, "", NULL,
                         "must be an object {\"outcome\": \"NO_ANSWER\", \"action\": \"retry\"}");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)rule, key, v)
    {
        if (!known_member(key, known, sizeof(known) / sizeof(known[0]))) {
            return rule_fail(w, i, key, NULL,
                             "unknown member (expected outcome, action, delay_seconds, "
                             "max_attempts, next_phone, switch_channel, switch_after)");
        }
    }
    const char *outcome = json_string_value(json_object_get(rule, "outcome"));
    if (!outcome) {
        return rule_fail(w, i, "outcome", NULL, "required: an outcome such as \"NO_ANSWER\"");
    }
    Ecm__V1__Outcome o = ecm_event_outcome_from_name(outcome);
    if (o == ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED) {
        return rule_fail(w, i, "outcome", outcome,
                         " is not an outcome (NO_ANSWER, BUSY, CONNECTED, ...)");
    }
    if (o == ECM__V1__OUTCOME__OUTCOME_EXPIRED || o == ECM__V1__OUTCOME__OUTCOME_MAX_ATTEMPTS) {
        return rule_fail(w, i, "outcome", outcome,
                         " is how ECM closes a contact, not a result a rule can follow");
    }
    if (json_object_get(seen, outcome)) {
        return rule_fail(w, i, "outcome", outcome, " has a rule already: one rule per outcome");
    }
    const char *action = json_string_value(json_object_get(rule, "action"));
    if (!action || (strcmp(action, "retry") != 0 && strcmp(action, "close") != 0)) {
        return rule_fail(w, i, "action", NULL, "required: \"retry\" or \"close\"");
    }
    long long delay, max;
    if (opt_int(rule, "delay_seconds", 0, 0, GW_STRATEGY_MAX_DELAY_S, &delay) != 0) {
        return rule_fail(w, i, "delay_seconds", NULL,
                         "must be a number of seconds from 0 to 31622400 (366 days)");
    }
    if (opt_int(rule, "max_attempts", 1, 1, GW_STRATEGY_MAX_ATTEMPTS, &max) != 0) {
        return rule_fail(w, i, "max_attempts", NULL, "must be an integer from 1 to 1000");
    }
    json_t *np = json_object_get(rule, "next_phone");
    if (np && !json_is_null(np) && !json_is_boolean(np)) {
        return rule_fail(w, i, "next_phone", NULL, "must be true or false");
    }
    json_t *sw = json_object_get(rule, "switch_channel");
    const char *switch_to = NULL;
    if (sw && !json_is_null(sw)) {
        switch_to = json_string_value(sw);
        if (!switch_to || (strcmp(switch_to, "sms") != 0 && strcmp(switch_to, "voice") != 0)) {
            return rule_fail(w, i, "switch_channel", NULL, "must be \"sms\", \"voice\" or null");
        }
        if (strcmp(action, "retry") != 0) {
            return rule_fail(w, i, "switch_channel", NULL,
                             "only a retry rule may switch the channel (a close rule closes)");
        }
    }
    long long after;
    if (opt_int(rule, "switch_after", 1, 1, GW_STRATEGY_MAX_ATTEMPTS, &after) != 0) {
        return rule_fail(w, i, "switch_after", NULL,
                         "must be an integer from 1 to 1000: attempts with this outcome before "
                         "the switch");
    }
    json_object_set_new(seen, outcome, json_true());
    json_t *norm =
        json_pack("{ss ss sI sI sb ss? sI}", "outcome", outcome, "action", action, "delay_seconds",
                  (json_int_t)delay, "max_attempts", (json_int_t)max, "next_phone",
                  json_is_true(np), "switch_channel", switch_to, "switch_after", (json_int_t)after);
    if (!norm || json_array_append_new(rules, norm) != 0) {
        return gw_why_fail(w, "rules", "out of memory");
    }
    return 0;
}

int gw_strategy_validate(const json_t *body, gw_strategy_input *out, char *field, size_t field_size,
                         char *reason, size_t reason_size)
{
    const gw_why w = {field, reason, field_size, reason_size};
    static const char *const known[] = {"name",
                                        "description",
                                        "max_attempts",
                                        "max_attempts_per_day",
                                        "max_voice_attempts",
                                        "max_sms_attempts",
                                        "rules"};
    memset(out, 0, sizeof(*out));
    if (!json_is_object(body)) {
        return gw_why_fail(&w, "body", "must be a JSON object");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (!known_member(key, known, sizeof(known) / sizeof(known[0]))) {
            (void)snprintf(field, field_size, "body");
            char shown[40 * 4 + 4];
            (void)ecm_utf8_format(reason, reason_size, "unknown member '%s'",
                                  ecm_utf8_quote(shown, sizeof(shown), key, 40));
            return -1;
        }
    }
    json_t *name = json_object_get(body, "name");
    if (!json_is_string(name) || json_string_length(name) == 0) {
        return gw_why_fail(&w, "name", "required: a non-empty string");
    }
    out->name = json_string_value(name);
    if (json_string_length(name) > GW_STRATEGY_NAME_MAX || isspace((unsigned char)out->name[0])) {
        return gw_why_fail(&w, "name", "at most 100 bytes, not starting with a space");
    }
    json_t *desc = json_object_get(body, "description");
    if (desc && !json_is_null(desc)) {
        if (!json_is_string(desc) || json_string_length(desc) > GW_STRATEGY_DESCRIPTION_MAX) {
            return gw_why_fail(&w, "description",
                               "must be a string of at most 1000 bytes, or null");
        }
        out->description = json_string_value(desc);
    }
    if (opt_int(body, "max_attempts", 5, 1, GW_STRATEGY_MAX_ATTEMPTS, &out->max_attempts) != 0) {
        return gw_why_fail(&w, "max_attempts",
                           "must be an integer from 1 to 1000: attempts of a contact in all");
    }
    if (opt_int(body, "max_attempts_per_day", 3, 1, GW_STRATEGY_MAX_ATTEMPTS,
                &out->max_attempts_per_day) != 0) {
        return gw_why_fail(&w, "max_attempts_per_day",
                           "must be an integer from 1 to 1000: attempts of a contact per day");
    }
    if (opt_int(body, "max_voice_attempts", 0, 1, GW_STRATEGY_MAX_ATTEMPTS,
                &out->max_voice_attempts) != 0) {
        return gw_why_fail(&w, "max_voice_attempts",
                           "must be an integer from 1 to 1000 (voice attempts of a contact per "
                           "round), or null for no cap");
    }
    if (opt_int(body, "max_sms_attempts", 0, 1, GW_STRATEGY_MAX_ATTEMPTS, &out->max_sms_attempts) !=
        0) {
        return gw_why_fail(&w, "max_sms_attempts",
                           "must be an integer from 1 to 1000 (SMS attempts of a contact per "
                           "round), or null for no cap");
    }
    json_t *rules = json_object_get(body, "rules");
    if (!json_is_array(rules)) {
        return gw_why_fail(&w, "rules",
                           "required: a list of rules [{\"outcome\": \"NO_ANSWER\", \"action\": "
                           "\"retry\", \"delay_seconds\": 3600, \"max_attempts\": 3}]");
    }
    json_t *seen = json_object();
    out->rules = json_array();
    if (!seen || !out->rules) {
        json_decref(seen);
        gw_strategy_input_clear(out);
        return gw_why_fail(&w, "rules", "out of memory");
    }
    size_t i;
    json_array_foreach(rules, i, v)
    {
        if (validate_rule(v, i, seen, out->rules, &w) != 0) {
            json_decref(seen);
            gw_strategy_input_clear(out);
            return -1;
        }
    }
    json_decref(seen);
    return 0;
}

void gw_strategy_input_clear(gw_strategy_input *in)
{
    json_decref(in->rules);
    in->rules = NULL;
}

/* ---- DB and HTTP ------------------------------------------------------ */

/* clang-format off */
#define STRATEGY_COLUMNS                                                                           \
    "s.id, s.name, s.description, s.max_attempts, s.max_attempts_per_day, "                        \
    GW_SQL_TIME("s.created_at") ", " GW_SQL_TIME("s.updated_at") ", "                              \
    "(SELECT count(*) FROM campaigns c WHERE c.strategy_id = s.id), "                              \
    "(SELECT coalesce(json_agg(json_build_object('outcome', r.outcome, 'action', r.action, "       \
    "'delay_seconds', r.delay_seconds, 'max_attempts', r.max_attempts, "                           \
    "'next_phone', r.next_phone, 'switch_channel', r.switch_channel, "                             \
    "'switch_after', r.switch_after) ORDER BY r.outcome), '[]') "                                  \
    "FROM strategy_rules r WHERE r.strategy_id = s.id)::text, "                                    \
    "s.max_voice_attempts, s.max_sms_attempts "                                                    \
    "FROM strategies s "
/* clang-format on */

static const char INSERT_RULES_SQL[] =
    "INSERT INTO strategy_rules (strategy_id, outcome, action, delay_seconds, max_attempts, "
    "next_phone, switch_channel, switch_after) SELECT $1, r.outcome, r.action, r.delay_seconds, "
    "r.max_attempts, r.next_phone, r.switch_channel, r.switch_after "
    "FROM jsonb_to_recordset($2::jsonb) AS r (outcome text, action text, delay_seconds integer, "
    "max_attempts integer, next_phone boolean, switch_channel text, switch_after integer)";

/* A per-channel cap as a parameter: NULL for none. */
static const char *cap_param(char *buf, long long cap)
{
    if (cap <= 0) {
        return NULL;
    }
    gw_ll_text(buf, cap);
    return buf;
}

static json_t *strategy_row_json(const PGresult *r, int i)
{
    json_t *rules = json_loads(PQgetvalue(r, i, 8), 0, NULL);
    return json_pack(
        "{sI ss so sI sI ss ss sI so so so}", "id",
        (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "name", PQgetvalue(r, i, 1),
        "description", gw_json_text_or_null(PQgetvalue(r, i, 2), PQgetisnull(r, i, 2)),
        "max_attempts", (json_int_t)strtoll(PQgetvalue(r, i, 3), NULL, 10), "max_attempts_per_day",
        (json_int_t)strtoll(PQgetvalue(r, i, 4), NULL, 10), "created_at", PQgetvalue(r, i, 5),
        "updated_at", PQgetvalue(r, i, 6), "campaigns",
        (json_int_t)strtoll(PQgetvalue(r, i, 7), NULL, 10), "rules", rules ? rules : json_array(),
        "max_voice_attempts",
        PQgetisnull(r, i, 9) ? json_null() : json_integer(strtoll(PQgetvalue(r, i, 9), NULL, 10)),
        "max_sms_attempts",
        PQgetisnull(r, i, 10) ? json_null()
                              : json_integer(strtoll(PQgetvalue(r, i, 10), NULL, 10)));
}

/* The strategy, or NULL with *missing 1 when there is none (0 on a DB
 * failure). */
static json_t *load_strategy(ecm_pg *pg, const char *id, int *missing)
{
    const char *params[] = {id};
    *missing = 0;
    PGresult *r = ecm_pg_exec(pg, "SELECT " STRATEGY_COLUMNS "WHERE s.id = $1", 1, params);
    if (!r) {
        return NULL;
    }
    json_t *s = NULL;
    if (PQntuples(r) == 1) {
        s = strategy_row_json(r, 0);
    } else {
        *missing = 1;
    }
    PQclear(r);
    return s;
}

/* The {id} of the path, or -1 after answering 404. */
static int path_id(ecm_http_req *req, char *out, size_t out_size)
{
    long long id;
    if (gw_path_id(req, "strategy", &id) != 0) {
        return -1;
    }
    if (gw_format(out, out_size, "%lld", id) != 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such strategy",
                                 "strategy %lld does not exist", id);
        return -1;
    }
    return 0;
}

/* Parses and validates the body; on failure answers 400 and returns -1
 * (nothing to release). */
static int read_body(ecm_http_req *req, json_t **body, gw_strategy_input *in)
{
    *body = gw_body_json(req, "Invalid strategy");
    if (!*body) {
        return -1;
    }
    char field[64], reason[200];
    if (gw_strategy_validate(*body, in, field, sizeof(field), reason, sizeof(reason)) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid strategy", "%s: %s", field,
                                 reason);
        json_decref(*body);
        *body = NULL;
        return -1;
    }
    return 0;
}

static void respond_name_taken(ecm_http_req *req, const gw_strategy_input *in)
{
    ecm_http_respond_problem(req, 409, "conflict", "Strategy name taken",
                             "name: a strategy named '%s' exists already", GW_QUOTE(in->name, 100));
}

/* After a failed write: 409 for a name taken, else 503. */
static void write_failed(ecm_http_req *req, ecm_pg *pg, const gw_strategy_input *in)
{
    if (strcmp(ecm_pg_last_sqlstate(pg), "23505") == 0) {
        respond_name_taken(req, in);
        return;
    }
    gw_respond_db_down(req, pg, "write the strategy");
}

static void create_strategy(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    json_t *body;
    gw_strategy_input in;
    if (read_body(req, &body, &in) != 0) {
        return;
    }
    char smax[24], sday[24], svoice[24], ssms[24];
    gw_ll_text(smax, in.max_attempts);
    gw_ll_text(sday, in.max_attempts_per_day);
    const char *params[] = {in.name,
                            in.description,
                            smax,
                            sday,
                            cap_param(svoice, in.max_voice_attempts),
                            cap_param(ssms, in.max_sms_attempts)};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = NULL;
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "create the strategy");
        goto out;
    }
    int taken = gw_name_taken(pg, "strategies", in.name, NULL);
    if (taken != 0) {
        ecm_pg_rollback(pg);
        if (taken > 0) {
            respond_name_taken(req, &in);
        } else {
            gw_respond_db_down(req, pg, "create the strategy");
        }
        goto out;
    }
    r = ecm_pg_exec(pg,
                    "INSERT INTO strategies (name, description, max_attempts, "
                    "max_attempts_per_day, max_voice_attempts, max_sms_attempts) "
                    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    6, params);
    if (!r || gw_pg_cmd_id_json(pg, INSERT_RULES_SQL, PQgetvalue(r, 0, 0), in.rules) != 0 ||
        gw_audit_add_id(pg, req, "strategy.create", "strategy",
                        strtoll(PQgetvalue(r, 0, 0), NULL, 10), body) != 0 ||
        ecm_pg_commit(pg) != 0) {
        write_failed(req, pg, &in);
        ecm_pg_rollback(pg);
        goto out;
    }
    int missing;
    json_t *s = load_strategy(pg, PQgetvalue(r, 0, 0), &missing);
    if (!s) {
        gw_respond_db_down(req, pg, "read the new strategy");
        goto out;
    }
    char location[64];
    if (gw_format(location, sizeof(location), "/api/v1/strategies/%s", PQgetvalue(r, 0, 0)) == 0) {
        ecm_http_add_header(req, "Location", location);
    }
    ecm_log_info("strategy created", "strategy_id=%s rules=%zu", PQgetvalue(r, 0, 0),
                 json_array_size(in.rules));
    gw_json_respond(req, 201, s);
out:
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    gw_strategy_input_clear(&in);
    json_decref(body);
}

/* Locks strategy id and returns its name (PGresult row 0), or NULL after
 * answering (404, 503) and rolling back. */
static PGresult *lock_strategy(ecm_http_req *req, ecm_pg *pg, const char *id)
{
    const char *params[] = {id};
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "change the strategy");
        return NULL;
    }
    PGresult *r =
        ecm_pg_exec(pg, "SELECT name FROM strategies WHERE id = $1 FOR UPDATE", 1, params);
    if (!r) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the strategy");
        return NULL;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 404, "not-found", "No such strategy",
                                 "strategy %s does not exist", id);
        return NULL;
    }
    return r;
}

static void replace_strategy(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    char id[24];
    if (path_id(req, id, sizeof(id)) != 0) {
        return;
    }
    json_t *body;
    gw_strategy_input in;
    if (read_body(req, &body, &in) != 0) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *cur = lock_strategy(req, pg, id);
    if (!cur) {
        goto out;
    }
    /* Campaigns created without a strategy get Default by name. */
    if (strcmp(PQgetvalue(cur, 0, 0), GW_DEFAULT_STRATEGY) == 0 &&
        strcmp(in.name, GW_DEFAULT_STRATEGY) != 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 409, "conflict", "Default keeps its name",
                                 "name: the Default strategy can be edited but not renamed");
        goto out;
    }
    int taken = gw_name_taken(pg, "strategies", in.name, id);
    if (taken != 0) {
        ecm_pg_rollback(pg);
        if (taken > 0) {
            respond_name_taken(req, &in);
        } else {
            gw_respond_db_down(req, pg, "change the strategy");
        }
        goto out;
    }
    /* The audit row says what the PUT changed. */
    int missing;
    json_t *before = load_strategy(pg, id, &missing);
    json_t *changes = before ? gw_audit_diff(before, body) : NULL;
    json_decref(before);
    if (!changes) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "change the strategy");
        goto out;
    }
    char smax[24], sday[24], svoice[24], ssms[24];
    gw_ll_text(smax, in.max_attempts);
    gw_ll_text(sday, in.max_attempts_per_day);
    const char *params[] = {id,
                            in.name,
                            in.description,
                            smax,
                            sday,
                            cap_param(svoice, in.max_voice_attempts),
                            cap_param(ssms, in.max_sms_attempts)};
    int audited =
        gw_audit_add_id(pg, req, "strategy.update", "strategy", strtoll(id, NULL, 10), changes);
    json_decref(changes);
    if (audited != 0 ||
        ecm_pg_cmd(pg,
                   "UPDATE strategies SET name = $2, description = $3, max_attempts = $4, "
                   "max_attempts_per_day = $5, max_voice_attempts = $6, max_sms_attempts = $7, "
                   "updated_at = now() WHERE id = $1",
                   7, params) != 0 ||
        ecm_pg_cmd(pg, "DELETE FROM strategy_rules WHERE strategy_id = $1", 1, params) != 0 ||
        gw_pg_cmd_id_json(pg, INSERT_RULES_SQL, id, in.rules) != 0 || ecm_pg_commit(pg) != 0) {
        write_failed(req, pg, &in);
        ecm_pg_rollback(pg);
        goto out;
    }
    ecm_log_info("strategy replaced", "strategy_id=%s rules=%zu", id, json_array_size(in.rules));
    json_t *s = load_strategy(pg, id, &missing);
    if (s) {
        gw_json_respond(req, 200, s);
    } else {
        gw_respond_db_down(req, pg, "read the strategy");
    }
out:
    PQclear(cur);
    ecm_pg_pool_put(app->pool, pg);
    gw_strategy_input_clear(&in);
    json_decref(body);
}

static void delete_strategy(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    char id[24];
    if (path_id(req, id, sizeof(id)) != 0) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *users = NULL;
    PGresult *cur = lock_strategy(req, pg, id);
    if (!cur) {
        goto out;
    }
    if (strcmp(PQgetvalue(cur, 0, 0), GW_DEFAULT_STRATEGY) == 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 409, "conflict", "Strategy in use",
                                 "the Default strategy can't be deleted (edit it instead)");
        goto out;
    }
    const char *params[] = {id};
    users = ecm_pg_exec(pg, "SELECT count(*) FROM campaigns WHERE strategy_id = $1", 1, params);
    if (!users) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "delete the strategy");
        goto out;
    }
    if (strcmp(PQgetvalue(users, 0, 0), "0") != 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 409, "conflict", "Strategy in use",
                                 "%s campaign(s) use strategy %s; give them another one first",
                                 PQgetvalue(users, 0, 0), id);
        goto out;
    }
    json_t *summary = json_pack("{ss}", "name", PQgetvalue(cur, 0, 0));
    int audited = summary ? gw_audit_add_id(pg, req, "strategy.delete", "strategy",
                                            strtoll(id, NULL, 10), summary)
                          : -1;
    json_decref(summary);
    if (audited != 0 || ecm_pg_cmd(pg, "DELETE FROM strategies WHERE id = $1", 1, params) != 0 ||
        ecm_pg_commit(pg) != 0) {
        int in_use = strcmp(ecm_pg_last_sqlstate(pg), "23503") == 0;
        ecm_pg_rollback(pg);
        if (in_use) {
            ecm_http_respond_problem(req, 409, "conflict", "Strategy in use",
                                     "a campaign uses strategy %s", id);
        } else {
            gw_respond_db_down(req, pg, "delete the strategy");
        }
        goto out;
    }
    ecm_log_info("strategy deleted", "strategy_id=%s", id);
    ecm_http_respond(req, 204, NULL, NULL, 0);
out:
    PQclear(users);
    PQclear(cur);
    ecm_pg_pool_put(app->pool, pg);
}

static void get_strategy(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    char id[24];
    if (path_id(req, id, sizeof(id)) != 0) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    int missing;
    json_t *s = load_strategy(pg, id, &missing);
    if (s) {
        gw_json_respond(req, 200, s);
    } else if (missing) {
        ecm_http_respond_problem(req, 404, "not-found", "No such strategy",
                                 "strategy %s does not exist", id);
    } else {
        gw_respond_db_down(req, pg, "read the strategy");
    }
    ecm_pg_pool_put(app->pool, pg);
}

static void list_strategies(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    gw_page page;
    if (gw_page_args(req, GW_STRATEGY_LIST_DEFAULT, GW_STRATEGY_LIST_MAX, &page) != 0) {
        return;
    }
    const char *params[] = {page.cursor_param, page.limit_param};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT " STRATEGY_COLUMNS "WHERE s.id > $1::bigint "
                              "ORDER BY s.id LIMIT $2::int",
                              2, params);
    if (!r) {
        gw_respond_db_down(req, pg, "list strategies");
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    ecm_pg_pool_put(app->pool, pg);
    json_t *answer = gw_page_json(r, &page, strategy_row_json);
    PQclear(r);
    gw_json_respond(req, 200, answer);
}

int gw_strategies_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "GET", "/api/v1/strategies", 0, list_strategies, ctx) != 0 ||
        ecm_http_route(h, "POST", "/api/v1/strategies", GW_STRATEGY_BODY_MAX, create_strategy,
                       ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/strategies/{}", 0, get_strategy, ctx) != 0 ||
        ecm_http_route(h, "PUT", "/api/v1/strategies/{}", GW_STRATEGY_BODY_MAX, replace_strategy,
                       ctx) != 0 ||
        ecm_http_route(h, "DELETE", "/api/v1/strategies/{}", 0, delete_strategy, ctx) != 0) {
        return -1;
    }
    return 0;
}

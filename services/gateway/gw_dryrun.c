#include "gw_dryrun.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_calling.h"
#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_pgval.h"
#include "ecm_phone.h"
#include "ecm_rules.h"
#include "ecm_utf8.h"
#include "gw_json.h"
#include "gw_strategies.h"

/* A strategy body (64 KiB at most) and the dry run's own members. */
#define GW_DRYRUN_BODY_MAX (128 * 1024)
/* Outcomes a strategy can have a rule for: fewer than the enum's values. */
#define GW_DRYRUN_MAX_RULES 64
#define GW_DRYRUN_ZONE_MAX 64

/* Everything one dry run reads, owned by the handler. */
typedef struct {
    ecm_dryrun_in in;
    ecm_dryrun_rule rules[GW_DRYRUN_MAX_RULES];
    Ecm__V1__Outcome outcomes[ECM_DRYRUN_MAX_STEPS];
    int mobile[ECM_DRYRUN_MAX_PHONES];
    char contact_tz[GW_DRYRUN_ZONE_MAX], campaign_tz[GW_DRYRUN_ZONE_MAX];
    char region[ECM_RULES_JURISDICTION_MAX + 1], campaign_region[ECM_RULES_JURISDICTION_MAX + 1];
    long long strategy_id, campaign_id; /* 0: none */
    ecm_window *window;
    ecm_rules *rules_set;
} dryrun_req;

static void dryrun_req_clear(dryrun_req *d)
{
    ecm_window_destroy(d->window);
    ecm_rules_destroy(d->rules_set);
    d->window = NULL;
    d->rules_set = NULL;
}

static void respond_invalid(ecm_http_req *req, const char *field, const char *reason)
{
    ecm_http_respond_problem(req, 400, "validation", "Invalid dry run", "%s: %s", field, reason);
}

/* ---- the strategy ---------------------------------------------------- */

static ecm_decide_channel channel_of(const char *name)
{
    if (name && strcmp(name, "voice") == 0)
        return ECM_DECIDE_CH_VOICE;
    if (name && strcmp(name, "sms") == 0)
        return ECM_DECIDE_CH_SMS;
    return ECM_DECIDE_CH_NONE;
}

/* Fills d's rules from rules, a list in gw_strategy_validate()'s normal
 * form (every member present). Returns 0, or -1 when there are too many. */
static int rules_from_json(const json_t *rules, dryrun_req *d)
{
    size_t i;
    json_t *r;
    if (json_array_size(rules) > GW_DRYRUN_MAX_RULES)
        return -1;
    json_array_foreach(rules, i, r)
    {
        ecm_dryrun_rule *x = &d->rules[i];
        x->outcome = ecm_event_outcome_from_name(json_string_value(json_object_get(r, "outcome")));
        const char *action = json_string_value(json_object_get(r, "action"));
        x->rule.action =
            action && strcmp(action, "retry") == 0 ? ECM_DECIDE_RULE_RETRY : ECM_DECIDE_RULE_CLOSE;
        x->rule.delay_seconds = (int)json_integer_value(json_object_get(r, "delay_seconds"));
        x->rule.max_attempts = (int)json_integer_value(json_object_get(r, "max_attempts"));
        x->rule.next_phone = json_is_true(json_object_get(r, "next_phone"));
        x->rule.switch_to = channel_of(json_string_value(json_object_get(r, "switch_channel")));
        x->rule.switch_after = (int)json_integer_value(json_object_get(r, "switch_after"));
        if (x->rule.max_attempts < 1)
            x->rule.max_attempts = 1;
        if (x->rule.switch_after < 1)
            x->rule.switch_after = 1;
    }
    d->in.rules = d->rules;
    d->in.nrules = json_array_size(rules);
    return 0;
}

/* The unsaved strategy of body's "strategy" member. Returns 0, or -1 after
 * answering 400. */
static int strategy_from_body(ecm_http_req *req, const json_t *body, dryrun_req *d)
{
    json_t *s = json_object_get(body, "strategy");
    if (!s) {
        respond_invalid(req, "strategy",
                        "required: the strategy to try, as for POST /api/v1/strategies");
        return -1;
    }
    gw_strategy_input in;
    char field[64], reason[200], where[80];
    if (gw_strategy_validate(s, &in, field, sizeof field, reason, sizeof reason) != 0) {
        (void)snprintf(where, sizeof where, "strategy.%s", field);
        respond_invalid(req, where, reason);
        return -1;
    }
    d->in.max_attempts = (int)in.max_attempts;
    d->in.max_attempts_per_day = (int)in.max_attempts_per_day;
    d->in.max_voice_attempts = (int)in.max_voice_attempts;
    d->in.max_sms_attempts = (int)in.max_sms_attempts;
    int rc = rules_from_json(in.rules, d);
    gw_strategy_input_clear(&in);
    if (rc != 0) {
        respond_invalid(req, "strategy.rules", "too many rules");
        return -1;
    }
    return 0;
}

static const char SQL_STRATEGY[] =
    "SELECT s.max_attempts, s.max_attempts_per_day, coalesce(s.max_voice_attempts, 0),"
    " coalesce(s.max_sms_attempts, 0),"
    " (SELECT coalesce(json_agg(json_build_object('outcome', r.outcome, 'action', r.action,"
    " 'delay_seconds', r.delay_seconds, 'max_attempts', r.max_attempts,"
    " 'next_phone', r.next_phone, 'switch_channel', r.switch_channel,"
    " 'switch_after', r.switch_after)), '[]') FROM strategy_rules r"
    " WHERE r.strategy_id = s.id)::text FROM strategies s WHERE s.id = $1";

/* The saved strategy d->strategy_id. Returns 0, or -1 after answering
 * (404, 503). */
static int strategy_from_db(ecm_http_req *req, ecm_pg *pg, dryrun_req *d)
{
    char id[GW_LL_TEXT];
    const char *params[] = {gw_ll_text(id, d->strategy_id)};
    PGresult *r = ecm_pg_exec(pg, SQL_STRATEGY, 1, params);
    if (!r) {
        gw_respond_db_down(req, pg, "read the strategy");
        return -1;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        ecm_http_respond_problem(req, 404, "not-found", "No such strategy",
                                 "strategy %lld does not exist", d->strategy_id);
        return -1;
    }
    d->in.max_attempts = (int)ecm_pgval_ll(r, 0, 0, 1);
    d->in.max_attempts_per_day = (int)ecm_pgval_ll(r, 0, 1, 1);
    d->in.max_voice_attempts = (int)ecm_pgval_ll(r, 0, 2, 1);
    d->in.max_sms_attempts = (int)ecm_pgval_ll(r, 0, 3, 1);
    json_t *rules = json_loads(PQgetvalue(r, 0, 4), 0, NULL);
    PQclear(r);
    int rc = rules ? rules_from_json(rules, d) : -1;
    json_decref(rules);
    if (rc != 0) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error",
                                 "the strategy's rules could not be read");
        return -1;
    }
    return 0;
}

/* ---- the campaign ---------------------------------------------------- */

static const char SQL_CAMPAIGN[] =
    "SELECT time_zone, region, channel, call_window::text,"
    " floor(extract(epoch FROM start_at) * 1000)::bigint::text,"
    " floor(extract(epoch FROM end_at) * 1000)::bigint::text,"
    " sms_template IS NOT NULL, cisco_kind IS NOT NULL AND cisco_campaign_id IS NOT NULL"
    " FROM campaigns WHERE id = $1";

static const char *value_or_null(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? NULL : PQgetvalue(r, 0, col);
}

/* The window (legal hours, the campaign's weekly window and bounds when
 * there is one). Returns 0, or -1 after answering. */
static int window_of(ecm_http_req *req, const gw_app *app, const char *json, const char *start,
                     const char *end, dryrun_req *d)
{
    static const ecm_legal_hours dflt = {8 * 60, 21 * 60};
    char err[200];
    if (ecm_calling_window(json, start, end, app->legal ? app->legal : &dflt, &d->window, err,
                           sizeof err) != 0) {
        ecm_http_respond_problem(req, 409, "conflict", "Campaign window unusable",
                                 "the campaign's calling window can't be used: %s", err);
        return -1;
    }
    d->in.window = d->window;
    return 0;
}

/* Campaign d->campaign_id's window, rules, zone, region, channels and end.
 * Returns 0, or -1 after answering (400 no such campaign, 409, 503). */
static int campaign_from_db(ecm_http_req *req, const gw_app *app, ecm_pg *pg, dryrun_req *d)
{
    char id[GW_LL_TEXT];
    const char *params[] = {gw_ll_text(id, d->campaign_id)};
    PGresult *r = ecm_pg_exec(pg, SQL_CAMPAIGN, 1, params);
    if (!r) {
        gw_respond_db_down(req, pg, "read the campaign");
        return -1;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        respond_invalid(req, "campaign_id", "no such campaign");
        return -1;
    }
    (void)snprintf(d->campaign_tz, sizeof d->campaign_tz, "%s", PQgetvalue(r, 0, 0));
    (void)snprintf(d->campaign_region, sizeof d->campaign_region, "%s", PQgetvalue(r, 0, 1));
    d->in.channel =
        strcmp(PQgetvalue(r, 0, 2), "sms") == 0 ? ECM_DECIDE_CH_SMS : ECM_DECIDE_CH_VOICE;
    d->in.has_sms = PQgetvalue(r, 0, 6)[0] == 't';
    d->in.has_voice = PQgetvalue(r, 0, 7)[0] == 't';
    d->in.end_at_ms = ecm_pgval_ll(r, 0, 5, 0);
    int rc = window_of(req, app, value_or_null(r, 3), value_or_null(r, 4), value_or_null(r, 5), d);
    PQclear(r);
    if (rc != 0)
        return -1;
    if (ecm_rules_load(pg, d->campaign_id, &d->rules_set) != 0) {
        gw_respond_db_down(req, pg, "read the campaign's contact rules");
        return -1;
    }
    d->in.rules_set = d->rules_set;
    return 0;
}

/* ---- the sample contact and the outcomes ----------------------------- */

static int known_member(const char *key, int unsaved)
{
    static const char *const known[] = {"campaign_id", "time_zone", "region",  "phones",
                                        "channel",     "start_at",  "outcomes"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(key, known[i]) == 0)
            return 1;
    return unsaved && strcmp(key, "strategy") == 0;
}

/* Refuses unknown members; reads campaign_id. Returns 0, or -1 after
 * answering 400. */
static int read_members(ecm_http_req *req, const json_t *body, int unsaved, dryrun_req *d)
{
    const char *key;
    json_t *v;
    if (!json_is_object(body)) {
        respond_invalid(req, "body", "must be a JSON object");
        return -1;
    }
    json_object_foreach((json_t *)body, key, v)
    {
        if (!known_member(key, unsaved)) {
            char shown[40 * 4 + 4], why[240];
            (void)ecm_utf8_format(why, sizeof why, "unknown member '%s'",
                                  ecm_utf8_quote(shown, sizeof shown, key, 40));
            respond_invalid(req, "body", why);
            return -1;
        }
    }
    json_t *c = json_object_get(body, "campaign_id");
    if (c && !json_is_null(c)) {
        if (!json_is_integer(c) || json_integer_value(c) < 1) {
            respond_invalid(req, "campaign_id", "must be a campaign's id, or null");
            return -1;
        }
        d->campaign_id = (long long)json_integer_value(c);
    }
    return 0;
}

/* "phones": the numbers' types. Returns 0, or -1 after answering 400. */
static int read_phones(ecm_http_req *req, const json_t *phones, dryrun_req *d)
{
    d->in.phone_count = 1;
    d->mobile[0] = 1;
    d->in.phone_mobile = d->mobile;
    if (!phones || json_is_null(phones))
        return 0;
    size_t n = json_array_size(phones), i;
    json_t *p;
    if (!json_is_array(phones) || n < 1 || n > ECM_DRYRUN_MAX_PHONES) {
        respond_invalid(req, "phones",
                        "a list of 1 to 10 number types, such as [\"mobile\", \"fixed_line\"]");
        return -1;
    }
    json_array_foreach(phones, i, p)
    {
        const char *name = json_string_value(p);
        ecm_phone_type t = ecm_phone_type_from_name(name ? name : "");
        if (!name || strcmp(ecm_phone_type_name(t), name) != 0) {
            respond_invalid(req, "phones",
                            "each a number type: mobile, fixed_line, fixed_line_or_mobile, voip, "
                            "toll_free, unknown, ...");
            return -1;
        }
        d->mobile[i] = ecm_phone_type_may_be_mobile(t);
    }
    d->in.phone_count = (int)n;
    return 0;
}

/* "outcomes". Returns 0, or -1 after answering 400. */
static int read_outcomes(ecm_http_req *req, const json_t *outcomes, dryrun_req *d)
{
    size_t n = json_array_size(outcomes), i;
    json_t *o;
    if (!json_is_array(outcomes) || n < 1 || n > ECM_DRYRUN_MAX_STEPS) {
        respond_invalid(req, "outcomes",
                        "required: 1 to 100 outcomes in order, such as [\"NO_ANSWER\", \"BUSY\"]");
        return -1;
    }
    json_array_foreach(outcomes, i, o)
    {
        const char *name = json_string_value(o);
        Ecm__V1__Outcome v = ecm_event_outcome_from_name(name ? name : "");
        if (v == ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED || v == ECM__V1__OUTCOME__OUTCOME_EXPIRED ||
            v == ECM__V1__OUTCOME__OUTCOME_MAX_ATTEMPTS) {
            char field[32];
            (void)snprintf(field, sizeof field, "outcomes[%zu]", i);
            respond_invalid(req, field,
                            "not a result of an attempt (NO_ANSWER, BUSY, CONNECTED, ...)");
            return -1;
        }
        d->outcomes[i] = v;
    }
    d->in.outcomes = d->outcomes;
    d->in.noutcomes = n;
    return 0;
}

/* An optional string member of at most size - 1 bytes into out. Returns 1
 * when present, 0 when absent or null, -1 when not a string or too long. */
static int opt_string(const json_t *body, const char *key, char *out, size_t size)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= size)
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 1;
}

/* time_zone, region, channel, start_at. Returns 0, or -1 after answering
 * 400. */
static int read_contact(ecm_http_req *req, const json_t *body, dryrun_req *d)
{
    char canon[GW_DRYRUN_ZONE_MAX], channel[8], start[64];
    int tz = opt_string(body, "time_zone", d->contact_tz, sizeof d->contact_tz);
    if (tz < 0 || (tz > 0 && ecm_window_tz_canonical(d->contact_tz, canon, sizeof canon) != 0) ||
        (tz == 0 && d->campaign_id == 0)) {
        respond_invalid(req, "time_zone",
                        "the sample contact's IANA zone, such as \"Australia/Sydney\" (required "
                        "without a campaign)");
        return -1;
    }
    int rg = opt_string(body, "region", d->region, sizeof d->region);
    if (rg < 0 || (rg > 0 && !ecm_rules_jurisdiction_valid(d->region))) {
        respond_invalid(req, "region", "a jurisdiction such as \"US-FL\", \"US\" or \"GB\"");
        return -1;
    }
    int ch = opt_string(body, "channel", channel, sizeof channel);
    if (ch < 0 || (ch > 0 && channel_of(channel) == ECM_DECIDE_CH_NONE)) {
        respond_invalid(req, "channel", "\"voice\" or \"sms\"");
        return -1;
    }
    if (ch > 0)
        d->in.channel = channel_of(channel);
    int st = opt_string(body, "start_at", start, sizeof start);
    d->in.start_ms = ecm_clock_now_ms();
    if (st < 0 || (st > 0 && ecm_clock_parse_time(start, &d->in.start_ms) != 0)) {
        respond_invalid(req, "start_at", "an RFC 3339 time such as \"2027-04-03T09:00:00+11:00\"");
        return -1;
    }
    return 0;
}

/* ---- the answer ------------------------------------------------------ */

static json_t *time_json(int64_t ms)
{
    char buf[32];
    return json_string(ecm_clock_format_ms(ms, buf, sizeof buf));
}

static json_t *local_json(const char *zone, int64_t ms)
{
    char buf[40];
    return ecm_dryrun_local_time(zone, ms, buf, sizeof buf) == 0 ? json_string(buf) : json_null();
}

/* {"by", "rule_id", "why"}, or null when not moved. */
static json_t *moved_json(const ecm_dryrun_moved *m)
{
    if (m->kind[0] == '\0')
        return json_null();
    return json_pack("{ss so ss}", "by", m->kind, "rule_id",
                     m->rule_id > 0 ? json_integer(m->rule_id) : json_null(), "why", m->why);
}

static json_t *note_json(const char *note)
{
    return note[0] ? json_string(note) : json_null();
}

static json_t *decision_json(const ecm_dryrun_step *s)
{
    if (s->action == ECM_DECIDE_CLOSE)
        return json_pack("{ss ss ss so so}", "action", "close", "outcome",
                         ecm_event_outcome_name(s->close_outcome), "reason", s->reason, "moved",
                         moved_json(&s->moved), "channel_note", note_json(s->channel_note));
    return json_pack("{ss so so ss ss si sb so so ss so}", "action", "retry", "at",
                     time_json(s->next_at_ms), "local_at", local_json(s->next_zone, s->next_at_ms),
                     "time_zone", s->next_zone, "channel", ecm_decide_channel_name(s->next_channel),
                     "phone_index", s->next_phone_index, "switched", s->switched, "asked_at",
                     time_json(s->asked_ms), "moved", moved_json(&s->moved), "reason", s->reason,
                     "channel_note", note_json(s->channel_note));
}

static json_t *step_json(const ecm_dryrun_out *out, size_t i)
{
    const ecm_dryrun_step *s = &out->steps[i];
    int64_t asked = i == 0 ? out->first_asked_ms : out->steps[i - 1].asked_ms;
    const ecm_dryrun_moved *moved = i == 0 ? &out->first_moved : &out->steps[i - 1].moved;
    return json_pack("{si ss si so so ss so so ss so}", "attempt", s->attempt, "channel",
                     ecm_decide_channel_name(s->channel), "phone_index", s->phone_index, "at",
                     time_json(s->at_ms), "local_at", local_json(s->zone, s->at_ms), "time_zone",
                     s->zone, "asked_at", time_json(asked), "moved", moved_json(moved), "outcome",
                     ecm_event_outcome_name(s->outcome), "decision", decision_json(s));
}

json_t *gw_dryrun_json(const ecm_dryrun_out *out, size_t noutcomes)
{
    json_t *steps = json_array();
    for (size_t i = 0; steps && i < out->nsteps; i++)
        if (json_array_append_new(steps, step_json(out, i)) != 0) {
            json_decref(steps);
            return NULL;
        }
    if (!steps)
        return NULL;
    return json_pack("{sb s{so so} so si}", "dispatched", out->dispatched, "first_attempt",
                     "asked_at", time_json(out->first_asked_ms), "moved",
                     moved_json(&out->first_moved), "attempts", steps, "outcomes_unused",
                     (int)(noutcomes - out->nsteps));
}

/* ---- HTTP -------------------------------------------------------------- */

/* Reads everything but the body's members already read, runs and answers. */
static void run_and_answer(ecm_http_req *req, const gw_app *app, ecm_pg *pg, const json_t *body,
                           int unsaved, dryrun_req *d)
{
    if (unsaved ? strategy_from_body(req, body, d) != 0 : strategy_from_db(req, pg, d) != 0)
        return;
    d->in.channel = ECM_DECIDE_CH_VOICE;
    d->in.has_voice = d->in.has_sms = 1;
    if (d->campaign_id ? campaign_from_db(req, app, pg, d) != 0
                       : window_of(req, app, NULL, NULL, NULL, d) != 0)
        return;
    if (read_contact(req, body, d) != 0 ||
        read_phones(req, json_object_get(body, "phones"), d) != 0 ||
        read_outcomes(req, json_object_get(body, "outcomes"), d) != 0)
        return;
    d->in.contact_tz = d->contact_tz[0] ? d->contact_tz : NULL;
    d->in.campaign_tz = d->campaign_tz[0] ? d->campaign_tz : d->in.contact_tz;
    d->in.region = d->region[0] ? d->region : NULL;
    d->in.campaign_region = d->campaign_region[0] ? d->campaign_region : NULL;
    ecm_dryrun_out *out = calloc(1, sizeof *out);
    char err[200];
    if (!out || ecm_dryrun_run(&d->in, out, err, sizeof err) != 0) {
        if (out)
            respond_invalid(req, "body", err);
        else
            ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        free(out);
        return;
    }
    json_t *answer = gw_dryrun_json(out, d->in.noutcomes);
    if (answer) {
        char start[32];
        json_object_set_new(answer, "strategy_id",
                            d->strategy_id ? json_integer(d->strategy_id) : json_null());
        json_object_set_new(answer, "campaign_id",
                            d->campaign_id ? json_integer(d->campaign_id) : json_null());
        json_object_set_new(
            answer, "time_zone",
            json_string(ecm_calling_zone(d->in.contact_tz, NULL, d->in.campaign_tz)));
        json_object_set_new(answer, "start_at",
                            json_string(ecm_clock_format_ms(d->in.start_ms, start, sizeof start)));
    }
    ecm_log_debug("strategy dry run", "strategy_id=%lld campaign_id=%lld steps=%zu", d->strategy_id,
                  d->campaign_id, out->nsteps);
    free(out);
    gw_json_respond(req, 200, answer);
}

static void dry_run(ecm_http_req *req, const gw_app *app, int unsaved)
{
    dryrun_req *d = calloc(1, sizeof *d);
    if (!d) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error", "out of memory");
        return;
    }
    if (!unsaved && gw_path_id(req, "strategy", &d->strategy_id) != 0) {
        free(d);
        return;
    }
    json_t *body = gw_body_json(req, "Invalid dry run");
    if (!body) {
        free(d);
        return;
    }
    if (read_members(req, body, unsaved, d) == 0) {
        ecm_pg *pg = ecm_pg_pool_get(app->pool);
        if (!pg)
            gw_respond_db_down(req, pg, "run the dry run");
        else
            run_and_answer(req, app, pg, body, unsaved, d);
        ecm_pg_pool_put(app->pool, pg);
    }
    json_decref(body);
    dryrun_req_clear(d);
    free(d);
}

static void dry_run_saved(void *ctx, ecm_http_req *req)
{
    dry_run(req, ctx, 0);
}

static void dry_run_unsaved(void *ctx, ecm_http_req *req)
{
    dry_run(req, ctx, 1);
}

int gw_dryrun_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "POST", "/api/v1/strategies/dry-run", GW_DRYRUN_BODY_MAX, dry_run_unsaved,
                       ctx) != 0 ||
        ecm_http_route(h, "POST", "/api/v1/strategies/{}/dry-run", GW_DRYRUN_BODY_MAX,
                       dry_run_saved, ctx) != 0)
        return -1;
    return 0;
}

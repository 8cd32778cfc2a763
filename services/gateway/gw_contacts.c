#include "gw_contacts.h"

#include "ecm_gate.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_pgval.h"
#include "gw_audit.h"
#include "gw_json.h"

#define GW_CALLBACK_BODY_MAX 1024
#define GW_CALLBACK_TITLE "Invalid callback"
/* A contact's attempts in one answer: the strategy's caps keep real
 * contacts far below it; only NOT_ATTEMPTED flushes, which don't count,
 * could ever pile up. */
#define GW_CONTACT_HISTORY_MAX 1000

gw_callback_action gw_callback_action_for(const char *state)
{
    static const char *const reschedule[] = {"pending", "queued", "waiting", "retry_due"};
    if (!state) {
        return GW_CALLBACK_REFUSE;
    }
    for (size_t i = 0; i < sizeof(reschedule) / sizeof(reschedule[0]); i++) {
        if (strcmp(state, reschedule[i]) == 0) {
            return GW_CALLBACK_RESCHEDULE;
        }
    }
    return strcmp(state, "dispatched") == 0 ? GW_CALLBACK_STORE : GW_CALLBACK_REFUSE;
}

/* ms since the epoch as RFC 3339 UTC, for messages; "?" when out of range. */
static void format_ms(int64_t ms, char *out, size_t out_size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        (void)snprintf(out, out_size, "?");
    }
}

static int refuse(const char **field, const char *name, char *reason, size_t reason_size,
                  const char *text)
{
    *field = name;
    (void)snprintf(reason, reason_size, "%s", text);
    return -1;
}

int gw_callback_parse(const json_t *body, int64_t now_ms, int64_t *at_ms, const char **field,
                      char *reason, size_t reason_size)
{
    if (!json_is_object(body)) {
        return refuse(field, "body", reason, reason_size, "must be a JSON object {\"at\": ...}");
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)body, key, value)
    {
        if (strcmp(key, "at") != 0) {
            *field = "body";
            (void)ecm_utf8_format(reason, reason_size, "unknown member '%s'; only \"at\" is taken",
                                  GW_QUOTE(key, 40));
            return -1;
        }
    }
    json_t *at = json_object_get(body, "at");
    if (!at) {
        return refuse(field, "at", reason, reason_size,
                      "required: the requested time, RFC 3339 with an offset");
    }
    if (!json_is_string(at)) {
        return refuse(field, "at", reason, reason_size,
                      "must be a string, RFC 3339 with an offset (\"2026-03-10T15:00:00-04:00\")");
    }
    int64_t ms = 0;
    if (ecm_clock_parse_time(json_string_value(at), &ms) != 0) {
        *field = "at";
        (void)ecm_utf8_format(reason, reason_size,
                              "'%s' is not an RFC 3339 time with an offset "
                              "(\"2026-03-10T15:00:00-04:00\")",
                              GW_QUOTE(json_string_value(at), 40));
        return -1;
    }
    if (ms <= now_ms) {
        char now_s[32];
        format_ms(now_ms, now_s, sizeof(now_s));
        *field = "at";
        (void)ecm_utf8_format(reason, reason_size, "%s is not in the future (now is %s)",
                              GW_QUOTE(json_string_value(at), 40), now_s);
        return -1;
    }
    *at_ms = ms;
    return 0;
}

/* ---- POST /api/v1/contacts/{id}/callback ------------------------------ */

static const char LOCK_SQL[] =
    "SELECT k.state, c.state, floor(extract(epoch FROM c.end_at) * 1000)::bigint, " GW_SQL_TIME(
        "c.end_at") " FROM contacts k JOIN campaigns c ON c.id = k.campaign_id"
                    " WHERE k.id = $1 FOR UPDATE OF k";

#define CALLBACK_TIME "'epoch'::timestamptz + $2::bigint * interval '1 millisecond'"
#define CALLBACK_RETURNING                                                                         \
    " RETURNING id, state, " GW_SQL_TIME("callback_at") ", " GW_SQL_TIME("next_attempt_at")

/* Not out with the dialer: it waits for the time. The scheduler makes it
 * retry_due then, and its next attempt is attempts + 1 as for any retry. */
static const char RESCHEDULE_SQL[] =
    "UPDATE contacts SET state = 'waiting', callback_at = " CALLBACK_TIME
    ", next_attempt_at = " CALLBACK_TIME ", updated_at = now() WHERE id = $1" CALLBACK_RETURNING;

static const char STORE_SQL[] = "UPDATE contacts SET callback_at = " CALLBACK_TIME
                                ", updated_at = now() WHERE id = $1" CALLBACK_RETURNING;

/* Campaign states in which nothing is dispatched any more. */
static int campaign_over(const char *state)
{
    return strcmp(state, "stopped") == 0 || strcmp(state, "completed") == 0 ||
           strcmp(state, "expired") == 0;
}

static json_t *callback_json(const PGresult *r)
{
    return json_pack(
        "{sI ss so so}", "id", (json_int_t)ecm_pgval_ll(r, 0, 0, 0), "state", PQgetvalue(r, 0, 1),
        "callback_at", gw_json_text_or_null(PQgetvalue(r, 0, 2), PQgetisnull(r, 0, 2)),
        "next_attempt_at", gw_json_text_or_null(PQgetvalue(r, 0, 3), PQgetisnull(r, 0, 3)));
}

/* Locks contact id, checks it against at_ms and writes the callback, in one
 * transaction on pg; answers in every case. */
static void apply_callback(ecm_http_req *req, ecm_pg *pg, long long id, const char *at_text,
                           int64_t at_ms)
{
    char sid[24], sat[24];
    gw_ll_text(sid, id);
    gw_ll_text(sat, (long long)at_ms);
    const char *lock_params[] = {sid};
    PGresult *k = NULL;
    PGresult *u = NULL;
    if (ecm_pg_begin(pg) != 0 || !(k = ecm_pg_exec(pg, LOCK_SQL, 1, lock_params))) {
        goto db_down;
    }
    if (PQntuples(k) == 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 404, "not-found", "No such contact",
                                 "contact %lld does not exist", id);
        goto out;
    }
    const char *state = PQgetvalue(k, 0, 0);
    const char *campaign_state = PQgetvalue(k, 0, 1);
    gw_callback_action action = gw_callback_action_for(state);
    if (action == GW_CALLBACK_REFUSE) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 409, "conflict", "Contact is closed",
                                 "contact %lld is %s; a closed contact is not called again", id,
                                 state);
        goto out;
    }
    if (campaign_over(campaign_state)) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 409, "conflict", "Campaign does not dispatch",
                                 "contact %lld belongs to a campaign that is %s", id,
                                 campaign_state);
        goto out;
    }
    int64_t end_ms = ecm_pgval_ll(k, 0, 2, 0);
    if (!PQgetisnull(k, 0, 2) && at_ms >= end_ms) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 422, "validation", GW_CALLBACK_TITLE,
                                 "at: %s is not before the campaign's end_at %s",
                                 GW_QUOTE(at_text, 40), PQgetvalue(k, 0, 3));
        goto out;
    }
    const char *params[] = {sid, sat};
    u = ecm_pg_exec(pg, action == GW_CALLBACK_RESCHEDULE ? RESCHEDULE_SQL : STORE_SQL, 2, params);
    json_t *summary = json_pack("{ss ss}", "at", at_text, "state", state);
    int audited = summary && u && PQntuples(u) == 1
                      ? gw_audit_add_id(pg, req, "contact.callback", "contact", id, summary)
                      : -1;
    json_decref(summary);
    if (audited != 0 || ecm_pg_commit(pg) != 0) {
        goto db_down;
    }
    ecm_log_info("callback requested", "contact_id=%lld state=%s at=%lld %s", id,
                 PQgetvalue(u, 0, 1), (long long)at_ms,
                 action == GW_CALLBACK_RESCHEDULE ? "rescheduled" : "kept for the result");
    gw_json_respond(req, 200, callback_json(u));
    goto out;
db_down:
    ecm_pg_rollback(pg);
    gw_respond_db_down(req, pg, "record the callback");
out:
    PQclear(u);
    PQclear(k);
}

static void post_callback(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id;
    if (gw_path_id(req, "contact", &id) != 0) {
        return;
    }
    json_t *body = gw_body_json(req, GW_CALLBACK_TITLE);
    if (!body) {
        return;
    }
    int64_t at_ms = 0;
    const char *field = "body";
    char reason[200];
    if (gw_callback_parse(body, ecm_clock_now_ms(), &at_ms, &field, reason, sizeof(reason)) != 0) {
        ecm_http_respond_problem(req, 422, "validation", GW_CALLBACK_TITLE, "%s: %s", field,
                                 reason);
        json_decref(body);
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    apply_callback(req, pg, id, json_string_value(json_object_get(body, "at")), at_ms);
    ecm_pg_pool_put(app->pool, pg);
    json_decref(body);
}

/* ---- GET /api/v1/contacts/{id} ---------------------------------------- */

/* One statement, so the contact and its attempts come from one snapshot. */
/* clang-format off */
static const char CONTACT_SQL[] =
    "SELECT k.id, k.campaign_id, k.state, k.outcome, array_to_json(k.phones)::text, k.attempts, "
    GW_SQL_TIME("k.next_attempt_at") ", " GW_SQL_TIME("k.callback_at") ", k.account_number, "
    "k.phone_index, k.time_zone, " GW_SQL_TIME("k.closed_at") ", "
    "(SELECT coalesce(json_agg(json_build_object("
    "  'attempt', a.attempt, 'phone', a.phone, 'channel', a.channel, 'status', a.status, "
    "  'dispatched_at', " GW_SQL_TIME("a.dispatched_at") ", "
    "  'result_at', " GW_SQL_TIME("a.result_at") ", 'outcome', a.outcome, "
    "  'raw_code', a.raw_code, 'raw_detail', a.raw_detail, 'dlr_status', a.dlr_status, "
    "  'account_number', a.account_number) ORDER BY a.attempt), "
    "  '[]') FROM (SELECT * FROM attempts WHERE contact_id = k.id ORDER BY attempt LIMIT $2) a"
    ")::text, k.region, k.subject_key, k.hold_reason, k.hold_rule_id, "
    "(SELECT rs.name FROM rules ru JOIN rule_sets rs ON rs.id = ru.rule_set_id "
    " WHERE ru.id = k.hold_rule_id), "
    ECM_CONTACT_CHANNEL_SQL_OF("k", "c") ", k.channel_note "
    "FROM contacts k JOIN campaigns c ON c.id = k.campaign_id WHERE k.id = $1";
/* clang-format on */

enum {
    C_ID,
    C_CAMPAIGN,
    C_STATE,
    C_OUTCOME,
    C_PHONES,
    C_ATTEMPTS,
    C_NEXT,
    C_CALLBACK,
    C_ACCOUNT,
    C_PHONE_INDEX,
    C_TIME_ZONE,
    C_CLOSED,
    C_HISTORY,
    C_REGION,
    C_SUBJECT,
    C_HOLD_REASON,
    C_HOLD_RULE,
    C_HOLD_SET,
    C_CHANNEL,      /* the effective channel of the next attempt: voice or sms */
    C_CHANNEL_NOTE, /* the last channel switch skipped, in plain words */
};

static json_t *text_or_null(const PGresult *r, int col)
{
    return gw_json_text_or_null(PQgetvalue(r, 0, col), PQgetisnull(r, 0, col));
}

static json_t *contact_json(const PGresult *r)
{
    json_t *phones = json_loads(PQgetvalue(r, 0, C_PHONES), 0, NULL);
    json_t *history = json_loads(PQgetvalue(r, 0, C_HISTORY), 0, NULL);
    if (!phones || !history) {
        json_decref(phones);
        json_decref(history);
        return NULL;
    }
    /* Why the contact waits (or closed EXPIRED): the dispatch gate's or the
     * strategy's answer, naming the contact rule when one held it. */
    json_t *held = json_null();
    if (!PQgetisnull(r, 0, C_HOLD_REASON))
        held = json_pack("{so so so}", "reason", text_or_null(r, C_HOLD_REASON), "rule_id",
                         PQgetisnull(r, 0, C_HOLD_RULE)
                             ? json_null()
                             : json_integer((json_int_t)ecm_pgval_ll(r, 0, C_HOLD_RULE, 0)),
                         "rule_set", text_or_null(r, C_HOLD_SET));
    if (!held) {
        json_decref(phones);
        json_decref(history);
        return NULL;
    }
    return json_pack("{sI sI ss so so sI so so so sI so so so so so so ss so}", "id",
                     (json_int_t)ecm_pgval_ll(r, 0, C_ID, 0), "campaign_id",
                     (json_int_t)ecm_pgval_ll(r, 0, C_CAMPAIGN, 0), "state",
                     PQgetvalue(r, 0, C_STATE), "outcome", text_or_null(r, C_OUTCOME), "phones",
                     phones, "attempts", (json_int_t)ecm_pgval_ll(r, 0, C_ATTEMPTS, 0),
                     "next_attempt_at", text_or_null(r, C_NEXT), "callback_at",
                     text_or_null(r, C_CALLBACK), "account_number", text_or_null(r, C_ACCOUNT),
                     "phone_index", (json_int_t)ecm_pgval_ll(r, 0, C_PHONE_INDEX, 0), "time_zone",
                     text_or_null(r, C_TIME_ZONE), "closed_at", text_or_null(r, C_CLOSED),
                     "history", history, "region", text_or_null(r, C_REGION), "subject_key",
                     text_or_null(r, C_SUBJECT), "held", held, "channel",
                     PQgetvalue(r, 0, C_CHANNEL), "channel_note", text_or_null(r, C_CHANNEL_NOTE));
}

static void get_contact(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id;
    if (gw_path_id(req, "contact", &id) != 0) {
        return;
    }
    char sid[GW_LL_TEXT], limit[GW_LL_TEXT];
    gw_ll_text(sid, id);
    gw_ll_text(limit, GW_CONTACT_HISTORY_MAX);
    const char *params[] = {sid, limit};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg, CONTACT_SQL, 2, params);
    if (!r) {
        gw_respond_db_down(req, pg, "read the contact");
    } else if (PQntuples(r) == 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such contact",
                                 "contact %lld does not exist", id);
    } else {
        /* NULL (out of memory) answers 500. */
        gw_json_respond(req, 200, contact_json(r));
    }
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
}

int gw_contacts_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)app;
    if (ecm_http_route(h, "GET", "/api/v1/contacts/{}", 0, get_contact, ctx) != 0 ||
        ecm_http_route(h, "POST", "/api/v1/contacts/{}/callback", GW_CALLBACK_BODY_MAX,
                       post_callback, ctx) != 0) {
        return -1;
    }
    return 0;
}

#include "st_results.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ecm_calling.h"
#include "ecm_clock.h"
#include "ecm_dnc.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_phone.h"
#include "st_consent.h"
#include "ecm_decide.h"
#include "st_rules.h"
#include "ecm_pgval.h"

#define ST_RESULTS_BATCH 500
/* Results applied in one transaction: enough to spread its fixed costs,
 * few enough that the attempt and contact locks it holds (which DLRs and the
 * SMS sender may wait for) are held only briefly. */
#define ST_RESULTS_TX_MAX 100
#define ST_RESULTS_POLL_MS 200
#define ST_BACKOFF_MIN_MS 100
#define ST_BACKOFF_MAX_MS 5000
/* A non-transient DB error on one message is retried this often before the
 * message is dead-lettered, so one poisoned event can't stall a partition. */
#define ST_PERMANENT_ERROR_TRIES 5

/* The fields every result has, from its event (what names the event in
 * reason). Returns 0, or -1 with a reason when the contact id or attempt
 * is missing (out is zeroed either way). */
static int result_common(st_result *out, const char *what, const char *event_id,
                         int64_t campaign_id, int64_t contact_id, int attempt,
                         Ecm__V1__Outcome outcome, int64_t occurred_at, char *reason,
                         size_t reason_size)
{
    memset(out, 0, sizeof(*out));
    if (contact_id <= 0 || attempt < 1) {
        snprintf(reason, reason_size, "%s result without contact id or attempt", what);
        return -1;
    }
    /* The event id is the key that makes a redelivered result a duplicate:
     * never kept cut. */
    if (event_id != NULL && (size_t)snprintf(out->event_id, sizeof(out->event_id), "%s",
                                             event_id) >= sizeof(out->event_id)) {
        snprintf(reason, reason_size, "%s result with an event id over %zu bytes", what,
                 sizeof(out->event_id) - 1);
        return -1;
    }
    out->campaign_id = campaign_id;
    out->contact_id = contact_id;
    out->attempt = attempt;
    out->outcome = outcome;
    out->result_at_ms = occurred_at;
    return 0;
}

int st_result_from_call(const Ecm__V1__CallResult *m, st_result *out, char *reason,
                        size_t reason_size)
{
    if (result_common(out, "call", m->event_id, m->campaign_id, m->contact_id, m->attempt,
                      m->outcome, m->occurred_at, reason, reason_size) != 0)
        return -1;
    out->counts_as_attempt = m->counts_as_attempt ? 1 : 0;
    out->callback_at_ms = m->callback_at;
    out->raw_code = m->call_result;
    out->has_raw_detail = 1;
    out->raw_detail = m->call_result_detail;
    if (m->agent_id != NULL &&
        (size_t)snprintf(out->agent, sizeof(out->agent), "%s", m->agent_id) >= sizeof(out->agent))
        out->agent[0] = '\0'; /* not a peripheral number: no personal callback */
    return 0;
}

int st_result_from_sms(const Ecm__V1__SmsResult *m, st_result *out, char *reason,
                       size_t reason_size)
{
    if (result_common(out, "sms", m->event_id, m->campaign_id, m->contact_id, m->attempt,
                      m->outcome, m->occurred_at, reason, reason_size) != 0)
        return -1;
    /* Every final SMS state is a real attempt at the number. */
    out->counts_as_attempt = 1;
    out->raw_code = m->gateway_status;
    return 0;
}

int st_results_decode(const st_results_ctx *ctx, const char *topic, const void *data, size_t len,
                      st_result *out, char *reason, size_t reason_size)
{
    if (topic != NULL && strcmp(topic, ctx->topic_call_results) == 0) {
        Ecm__V1__CallResult *m = ecm__v1__call_result__unpack(NULL, len, data);
        if (m == NULL) {
            snprintf(reason, reason_size, "payload is not an ecm.v1.CallResult");
            return -1;
        }
        int rc = st_result_from_call(m, out, reason, reason_size);
        ecm__v1__call_result__free_unpacked(m, NULL);
        return rc;
    }
    if (topic != NULL && strcmp(topic, ctx->topic_sms_results) == 0) {
        Ecm__V1__SmsResult *m = ecm__v1__sms_result__unpack(NULL, len, data);
        if (m == NULL) {
            snprintf(reason, reason_size, "payload is not an ecm.v1.SmsResult");
            return -1;
        }
        int rc = st_result_from_sms(m, out, reason, reason_size);
        ecm__v1__sms_result__free_unpacked(m, NULL);
        return rc;
    }
    snprintf(reason, reason_size, "unexpected topic %s", topic ? topic : "(none)");
    return -1;
}

/* ---- per-result transaction ---- */

static int field_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

static st_apply_status db_failed(ecm_pg *pg, char *reason, size_t reason_size)
{
    snprintf(reason, reason_size, "%s", ecm_pg_last_sqlstate(pg));
    ecm_pg_rollback(pg);
    ecm_pg_check_broken(pg);
    return ST_APPLY_DB_ERROR;
}

/* A statement failed inside apply_in_tx: the caller rolls back. */
static st_apply_status tx_failed(ecm_pg *pg, char *reason, size_t reason_size)
{
    snprintf(reason, reason_size, "%s", ecm_pg_last_sqlstate(pg));
    return ST_APPLY_DB_ERROR;
}

/* The campaign's window comes with its row version (updated_at) so the
 * window cache rebuilds it only after an edit; start_at and end_at as epoch
 * ms, which ecm_calling_window reads whatever the session's DateStyle. */
static const char SQL_LOCK_CONTACT[] =
    "SELECT k.state, k.attempts, k.counted_attempts, k.phone_index,"
    " coalesce(cardinality(k.phones), 0), k.campaign_id,"
    " floor(extract(epoch FROM c.end_at) * 1000)::bigint,"
    " s.max_attempts, s.max_attempts_per_day,"
    " r.action, r.delay_seconds, r.max_attempts, r.next_phone,"
    " c.call_window::text, floor(extract(epoch FROM c.start_at) * 1000)::bigint,"
    " c.updated_at::text, c.time_zone, k.time_zone, array_to_json(k.phone_zones)::text,"
    " floor(extract(epoch FROM k.callback_at) * 1000)::bigint,"
    " s.max_voice_attempts, s.max_sms_attempts, r.switch_channel, r.switch_after,"
    " k.round_first_attempt,"
    " (SELECT a.channel FROM attempts a WHERE a.contact_id = k.id AND a.attempt = $3::int),"
    " c.sms_template IS NOT NULL, c.cisco_kind IS NOT NULL AND c.cisco_campaign_id IS NOT "
    "NULL, " ST_RULES_COLUMNS " FROM contacts k"
    " JOIN campaigns c ON c.id = k.campaign_id"
    " JOIN strategies s ON s.id = c.strategy_id"
    " LEFT JOIN strategy_rules r ON r.strategy_id = s.id AND r.outcome = $2"
    " WHERE k.id = $1 FOR UPDATE OF k";

enum {
    K_STATE,
    K_ATTEMPTS,
    K_COUNTED,
    K_PHONE_INDEX,
    K_PHONE_COUNT,
    K_CAMPAIGN,
    K_END_AT_MS,
    K_MAX_ATTEMPTS,
    K_MAX_PER_DAY,
    K_RULE_ACTION,
    K_RULE_DELAY,
    K_RULE_MAX,
    K_RULE_NEXT_PHONE,
    K_CALL_WINDOW,
    K_START_AT_MS,
    K_VERSION,
    K_CAMPAIGN_TZ,
    K_CONTACT_TZ,
    K_PHONE_ZONES,
    K_CALLBACK_AT_MS,
    K_MAX_VOICE,
    K_MAX_SMS,
    K_RULE_SWITCH_CHANNEL,
    K_RULE_SWITCH_AFTER,
    K_ROUND_FIRST,
    K_ATTEMPT_CHANNEL,
    K_HAS_SMS,
    K_HAS_VOICE,
    K_RULES_FIRST, /* ST_RULES_COLUMNS */
};

static const char SQL_LOCK_ATTEMPT[] =
    "SELECT outcome IS NOT NULL, status = 'withdrawn' FROM attempts"
    " WHERE contact_id = $1 AND attempt = $2 FOR UPDATE";

/* A withdrawn attempt's result once its contact has moved on (queued again
 * and taken, or decided): the call was made, so it counts against the caps
 * once (the withdrawal did not count it), but decides nothing. */
static const char SQL_COUNT_LATE[] =
    "UPDATE contacts SET counted_attempts = counted_attempts + 1, updated_at = now()"
    " WHERE id = $1";

static const char SQL_RECORD_ATTEMPT[] =
    "UPDATE attempts SET status = 'done',"
    " result_at = coalesce('epoch'::timestamptz + $3::bigint * interval '1 millisecond', now()),"
    " raw_code = $4, raw_detail = $5, outcome = $6,"
    " outcome_at = 'epoch'::timestamptz + $7::bigint * interval '1 millisecond'"
    " WHERE contact_id = $1 AND attempt = $2";

/* Earlier attempts of the round ($4: round_first_attempt) with this
 * outcome, in all and on the phone this attempt dialled (attempts keep the
 * number, not its index); and the earlier counted attempts of the round on
 * voice and on sms (NOT_ATTEMPTED never counts). */
static const char SQL_OUTCOME_COUNT[] =
    "SELECT count(*) FILTER (WHERE a.outcome = $2),"
    " count(*) FILTER (WHERE a.outcome = $2 AND a.phone = cur.phone),"
    " count(*) FILTER (WHERE a.channel <> 'sms' AND a.outcome <> 'NOT_ATTEMPTED'),"
    " count(*) FILTER (WHERE a.channel = 'sms' AND a.outcome <> 'NOT_ATTEMPTED')"
    " FROM attempts a, attempts cur"
    " WHERE a.contact_id = $1 AND a.attempt <> $3 AND a.attempt >= $4::int"
    " AND cur.contact_id = $1 AND cur.attempt = $3";

/* Each number of the contact, in order, with its type and whether it is
 * on the SMS do-not-contact list: where an SMS after a switch may go. */
static const char SQL_SMS_NUMBERS[] = "SELECT u.t, " ECM_DNC_BLOCKED_SQL(
    "u.p", "k.campaign_id",
    "'sms'") " FROM contacts k,"
             " unnest(k.phones, k.phone_types) WITH ORDINALITY AS u (p, t, i)"
             " WHERE k.id = $1 AND u.p IS NOT NULL ORDER BY u.i";

/* Business dispatch times of the counted attempts of the last days
 * (ECM_DECIDE_DAY_LOOKBACK_MS before $4, business now): NOT_ATTEMPTED never counts,
 * and this attempt only when its result counts. Rows written before
 * dispatched_at existed fall back to sending_at. */
static const char SQL_DAY_ATTEMPTS[] =
    "SELECT floor(extract(epoch FROM coalesce(dispatched_at, sending_at)) * 1000)::bigint"
    " FROM attempts WHERE contact_id = $1"
    " AND coalesce(dispatched_at, sending_at) >="
    "  'epoch'::timestamptz + ($4::bigint - $5::bigint) * interval '1 millisecond'"
    " AND outcome IS DISTINCT FROM 'NOT_ATTEMPTED'"
    " AND NOT (attempt = $2 AND NOT $3::boolean)";

/* Both clear callback_at: a requested time is used by one decision. The
 * wait flags a personal callback ($5 the agent, NULL when the result asked
 * for none; $6 its time) only when attempt $7 went to a UCCE target; the
 * returned flag says whether it did. */
static const char SQL_CONTACT_WAIT[] =
    "UPDATE contacts k SET state = 'waiting', counted_attempts = $2, phone_index = $3,"
    " next_attempt_at = 'epoch'::timestamptz + $4::bigint * interval '1 millisecond',"
    " callback_at = NULL, pcb_agent = p.agent,"
    " pcb_at = CASE WHEN p.agent IS NOT NULL"
    "  THEN 'epoch'::timestamptz + $6::bigint * interval '1 millisecond' END,"
    " hold_reason = nullif($8, ''), hold_rule_id = nullif($9::bigint, -1),"
    " channel = $10, channel_note = coalesce(nullif($11, ''), k.channel_note), updated_at = now()"
    " FROM (SELECT CASE WHEN $5::text IS NOT NULL AND EXISTS (SELECT 1 FROM attempts a"
    "   WHERE a.contact_id = $1 AND a.attempt = $7::int"
    "   AND split_part(a.target, ':', 1) IN ('ucce_api', 'ucce_db')) THEN $5::text END AS agent) p"
    " WHERE k.id = $1 RETURNING k.pcb_agent IS NOT NULL";

static const char SQL_CONTACT_CLOSE[] =
    "UPDATE contacts SET state = 'closed', counted_attempts = $2, outcome = $3,"
    " next_attempt_at = NULL, callback_at = NULL, pcb_agent = NULL, pcb_at = NULL,"
    " hold_reason = nullif($4, ''), hold_rule_id = nullif($5::bigint, -1),"
    " channel_note = coalesce(nullif($6, ''), channel_note),"
    " closed_at = now(), updated_at = now()"
    " WHERE id = $1";

/* The agent of r when it asks for a personal callback: CallResult 14
 * (customer) or 15 (answering machine) with a peripheral number of digits
 * (contacts_pcb_agent_digits); else NULL. */
static const char *personal_agent(const st_result *r)
{
    size_t n = strlen(r->agent);
    if ((r->raw_code != 14 && r->raw_code != 15) || n == 0 || n > 15 ||
        strspn(r->agent, "0123456789") != n)
        return NULL;
    return r->agent;
}

/* Inside the open transaction on pg: the contact's ContactClosed event on
 * ctx->topic_closed, through the outbox. Returns 0 or -1. */
static int add_closed_event(ecm_pg *pg, const st_results_ctx *ctx, int64_t campaign_id,
                            int64_t contact_id, int attempts, Ecm__V1__Outcome outcome)
{
    const ecm_outbox_closed c = {
        .campaign_id = campaign_id,
        .contact_id = contact_id,
        .attempts = attempts,
        .outcome = outcome,
    };
    return ecm_outbox_add_closed(pg, ctx->topic_closed, ctx->source, &c);
}

static void count_metrics(const st_results_ctx *ctx, Ecm__V1__Outcome outcome, int decided,
                          int closed)
{
    if (ctx->metrics == NULL)
        return;
    char name[128];
    if ((size_t)snprintf(name, sizeof(name), "ecm_strategy_results_total{outcome=\"%s\"}",
                         ecm_event_outcome_name(outcome)) < sizeof(name))
        ecm_metric_add(ecm_metrics_counter(ctx->metrics, name, "results applied, by outcome"), 1);
    if (!decided)
        return;
    if (closed)
        ecm_metric_add(
            ecm_metrics_counter(ctx->metrics, "ecm_strategy_closed_total", "contacts closed"), 1);
    else
        ecm_metric_add(ecm_metrics_counter(ctx->metrics, "ecm_strategy_retries_scheduled_total",
                                           "retries scheduled (contact waiting)"),
                       1);
}

/* The contact's calling data for ecm_decide: the campaign's window from
 * the cache and the zones, which stay valid until zones_destroy(). */
typedef struct {
    json_t *phone_zones_json;
    const char **phone_zones;
    char *contact_tz, *campaign_tz;
} st_zones;

static void zones_destroy(st_zones *z)
{
    json_decref(z->phone_zones_json);
    free(z->phone_zones);
    free(z->contact_tz);
    free(z->campaign_tz);
    memset(z, 0, sizeof(*z));
}

static char *dup_field(const PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : strdup(PQgetvalue(res, 0, col));
}

/* Fills *out from the locked contact row k (which may be cleared after).
 * Without a usable window (no cache, a row edited by hand, out of memory)
 * out->window stays NULL: the retry is then only bounded by end_at, and the
 * dispatcher, which refuses the same window, holds the contact. */
static void calling_of(const st_results_ctx *ctx, const PGresult *k, int64_t campaign_id,
                       int phone_count, ecm_decide_calling *out, st_zones *z)
{
    memset(out, 0, sizeof(*out));
    z->contact_tz = dup_field(k, K_CONTACT_TZ);
    z->campaign_tz = dup_field(k, K_CAMPAIGN_TZ);
    out->contact_tz = z->contact_tz;
    out->campaign_tz = z->campaign_tz;

    if (!PQgetisnull(k, 0, K_PHONE_ZONES) && phone_count > 0) {
        z->phone_zones_json = json_loads(PQgetvalue(k, 0, K_PHONE_ZONES), 0, NULL);
        z->phone_zones = calloc((size_t)phone_count, sizeof(*z->phone_zones));
        if (json_is_array(z->phone_zones_json) && z->phone_zones != NULL) {
            for (int i = 0; i < phone_count && (size_t)i < json_array_size(z->phone_zones_json);
                 i++)
                z->phone_zones[i] = json_string_value(json_array_get(z->phone_zones_json, i));
            out->phone_zones = z->phone_zones;
        }
    }

    if (ctx->calling == NULL)
        return;
    char errstr[256];
    const char *start_at =
        PQgetisnull(k, 0, K_START_AT_MS) ? NULL : PQgetvalue(k, 0, K_START_AT_MS);
    const char *end_at = PQgetisnull(k, 0, K_END_AT_MS) ? NULL : PQgetvalue(k, 0, K_END_AT_MS);
    const char *window_json =
        PQgetisnull(k, 0, K_CALL_WINDOW) ? NULL : PQgetvalue(k, 0, K_CALL_WINDOW);
    out->window = ecm_calling_cache_get(ctx->calling, campaign_id, PQgetvalue(k, 0, K_VERSION),
                                        window_json, start_at, end_at, errstr, sizeof(errstr));
    if (out->window == NULL)
        ecm_log_warn("campaign calling window unusable; retry bounded by end_at only",
                     "campaign %lld: %s", (long long)campaign_id, errstr);
}

/* The callback time for the decision on r: the result's own callback_at
 * when it is ahead of now_ms, else the one stored on the contact (POST
 * /api/v1/contacts/{id}/callback) when that is ahead, else 0 (none). A time
 * already past was used by the dispatch that led to this result, or came
 * too late to matter. */
static int64_t callback_time(const st_result *r, const PGresult *k, int64_t now_ms)
{
    if (r->callback_at_ms > now_ms)
        return r->callback_at_ms;
    int64_t stored = ecm_pgval_ll(k, 0, K_CALLBACK_AT_MS, 0);
    return stored > now_ms ? stored : 0;
}

/* A result's values as statement parameters. */
typedef struct {
    char contact[24], attempt[16], result_at[24], code[16], detail[16];
    const char *outcome;
} result_params;

/* Fills p from r. Returns 0, or -1 when a value does not fit its text
 * (it can't: each buffer holds its type's longest). */
static int result_params_of(const st_result *r, result_params *p)
{
    p->outcome = ecm_event_outcome_name(r->outcome);
    if ((size_t)snprintf(p->contact, sizeof(p->contact), "%lld", (long long)r->contact_id) >=
            sizeof(p->contact) ||
        (size_t)snprintf(p->attempt, sizeof(p->attempt), "%d", r->attempt) >= sizeof(p->attempt) ||
        (size_t)snprintf(p->result_at, sizeof(p->result_at), "%lld", (long long)r->result_at_ms) >=
            sizeof(p->result_at) ||
        (size_t)snprintf(p->code, sizeof(p->code), "%d", r->raw_code) >= sizeof(p->code) ||
        (size_t)snprintf(p->detail, sizeof(p->detail), "%d", r->raw_detail) >= sizeof(p->detail))
        return -1;
    return 0;
}

/* Locks r's attempt and records its result on it; *withdrawn is set when
 * the feeder had withdrawn it from the dialer (fd_withdraw.h: a record it
 * judged undialled that was dialled after all). Returns ST_APPLY_DECIDED
 * when recorded (the decision is still to be made), ST_APPLY_REJECT (unknown
 * attempt), ST_APPLY_DUPLICATE (it had an outcome already) or
 * ST_APPLY_DB_ERROR (reason has the SQLSTATE). */
static st_apply_status record_attempt(ecm_pg *pg, const st_result *r, const result_params *rp,
                                      int *withdrawn, char *reason, size_t reason_size)
{
    const char *p_att[] = {rp->contact, rp->attempt};
    PGresult *a = ecm_pg_exec(pg, SQL_LOCK_ATTEMPT, 2, p_att);
    if (a == NULL)
        return tx_failed(pg, reason, reason_size);
    int attempt_rows = PQntuples(a);
    int already = attempt_rows > 0 && field_bool(a, 0, 0);
    *withdrawn = attempt_rows > 0 && field_bool(a, 0, 1);
    PQclear(a);
    if (attempt_rows == 0) {
        snprintf(reason, reason_size, "unknown attempt");
        return ST_APPLY_REJECT;
    }
    if (already)
        return ST_APPLY_DUPLICATE;
    /* outcome_at: when ECM learnt the outcome, in business time (result_at
     * is the dialer's or the gateway's clock): quiet periods count from it. */
    char outcome_at[24];
    snprintf(outcome_at, sizeof(outcome_at), "%lld", (long long)ecm_clock_now_ms());
    const char *p_rec[] = {rp->contact,
                           rp->attempt,
                           r->result_at_ms > 0 ? rp->result_at : NULL,
                           rp->code,
                           r->has_raw_detail ? rp->detail : NULL,
                           rp->outcome,
                           outcome_at};
    if (ecm_pg_cmd(pg, SQL_RECORD_ATTEMPT, 7, p_rec) != 0)
        return tx_failed(pg, reason, reason_size);
    return ST_APPLY_DECIDED;
}

/* "voice" -> ECM_DECIDE_CH_VOICE, "sms" -> ECM_DECIDE_CH_SMS, else dflt. */
static ecm_decide_channel channel_of(const char *name, ecm_decide_channel dflt)
{
    if (name && strcmp(name, "voice") == 0)
        return ECM_DECIDE_CH_VOICE;
    if (name && strcmp(name, "sms") == 0)
        return ECM_DECIDE_CH_SMS;
    return dflt;
}

/* The decision's input from r and the locked contact row k, at business
 * time now (the history is left for load_history()). Can't fail. */
static void decide_input(const st_result *r, const PGresult *k, ecm_decide_in *in)
{
    memset(in, 0, sizeof(*in));
    in->counted_attempts = (int)ecm_pgval_ll(k, 0, K_COUNTED, 0);
    in->phone_index = (int)ecm_pgval_ll(k, 0, K_PHONE_INDEX, 0);
    in->phone_count = (int)ecm_pgval_ll(k, 0, K_PHONE_COUNT, 0);
    in->end_at_ms = ecm_pgval_ll(k, 0, K_END_AT_MS, 0);
    in->now_ms = ecm_clock_now_ms();
    in->max_attempts = (int)ecm_pgval_ll(k, 0, K_MAX_ATTEMPTS, 1);
    in->max_attempts_per_day = (int)ecm_pgval_ll(k, 0, K_MAX_PER_DAY, 1);
    if (PQgetisnull(k, 0, K_RULE_ACTION))
        in->rule.action = ECM_DECIDE_RULE_NONE;
    else
        in->rule.action = strcmp(PQgetvalue(k, 0, K_RULE_ACTION), "retry") == 0
                              ? ECM_DECIDE_RULE_RETRY
                              : ECM_DECIDE_RULE_CLOSE;
    in->rule.delay_seconds = (int)ecm_pgval_ll(k, 0, K_RULE_DELAY, 0);
    in->rule.max_attempts = (int)ecm_pgval_ll(k, 0, K_RULE_MAX, 1);
    in->rule.next_phone = field_bool(k, 0, K_RULE_NEXT_PHONE);
    in->rule.switch_to = channel_of(ecm_pgval_str(k, 0, K_RULE_SWITCH_CHANNEL), ECM_DECIDE_CH_NONE);
    in->rule.switch_after = (int)ecm_pgval_ll(k, 0, K_RULE_SWITCH_AFTER, 1);
    in->max_voice_attempts = (int)ecm_pgval_ll(k, 0, K_MAX_VOICE, 0);
    in->max_sms_attempts = (int)ecm_pgval_ll(k, 0, K_MAX_SMS, 0);
    /* the attempt's own channel: voice_ivr and voice_agent are voice */
    const char *ach = ecm_pgval_str(k, 0, K_ATTEMPT_CHANNEL);
    in->channel = ach && strcmp(ach, "sms") == 0 ? ECM_DECIDE_CH_SMS : ECM_DECIDE_CH_VOICE;
    in->outcome = r->outcome;
    in->counts_as_attempt = r->counts_as_attempt;
    in->callback_at_ms = callback_time(r, k, in->now_ms);
}

/* The contact's history for the decision: earlier attempts with this
 * outcome and the business dispatch times of the last days (*day, malloc'd,
 * in->counted_dispatch_ms points at it). Returns ST_APPLY_DECIDED when
 * loaded, or ST_APPLY_DB_ERROR (reason says why; *day stays NULL). */
static st_apply_status load_history(ecm_pg *pg, const st_result *r, const result_params *rp,
                                    const char *round_first, ecm_decide_in *in, int64_t **day,
                                    char *reason, size_t reason_size)
{
    const char *p_cnt[] = {rp->contact, rp->outcome, rp->attempt, round_first};
    PGresult *c = ecm_pg_exec(pg, SQL_OUTCOME_COUNT, 4, p_cnt);
    if (c == NULL)
        return tx_failed(pg, reason, reason_size);
    in->outcome_attempts = (int)ecm_pgval_ll(c, 0, 0, 0);
    in->phone_outcome_attempts = (int)ecm_pgval_ll(c, 0, 1, 0);
    in->channel_attempts[ECM_DECIDE_CH_VOICE] = (int)ecm_pgval_ll(c, 0, 2, 0);
    in->channel_attempts[ECM_DECIDE_CH_SMS] = (int)ecm_pgval_ll(c, 0, 3, 0);
    PQclear(c);

    char now_s[24], lookback_s[24];
    if ((size_t)snprintf(now_s, sizeof(now_s), "%lld", (long long)in->now_ms) >= sizeof(now_s) ||
        (size_t)snprintf(lookback_s, sizeof(lookback_s), "%lld",
                         (long long)ECM_DECIDE_DAY_LOOKBACK_MS) >= sizeof(lookback_s)) {
        snprintf(reason, reason_size, "business time too long");
        return ST_APPLY_DB_ERROR;
    }
    const char *p_day[] = {rp->contact, rp->attempt, r->counts_as_attempt ? "true" : "false", now_s,
                           lookback_s};
    PGresult *d = ecm_pg_exec(pg, SQL_DAY_ATTEMPTS, 5, p_day);
    if (d == NULL)
        return tx_failed(pg, reason, reason_size);
    int nday = PQntuples(d);
    if (nday > 0) {
        *day = calloc((size_t)nday, sizeof(**day));
        if (*day == NULL) {
            PQclear(d);
            snprintf(reason, reason_size, "out of memory");
            return ST_APPLY_DB_ERROR;
        }
        for (int i = 0; i < nday; i++)
            (*day)[i] = ecm_pgval_ll(d, i, 0, 0);
    }
    PQclear(d);
    in->counted_dispatch_ms = *day;
    in->counted_dispatches = (size_t)nday;
    return ST_APPLY_DECIDED;
}

/* Whether the rule's switch (in->rule.switch_to, another channel than the
 * attempt's) is possible for the locked contact k, the channel caps aside
 * (ecm_decide checks those): in->switch_blocked NULL, or why not; for sms
 * in->switch_phone_index is the first number that may be mobile
 * (ecm_phone_type_may_be_mobile, the upload's test for SMS campaigns) and
 * is not on the SMS do-not-contact list. Returns 0, or -1 when the
 * statement fails (the caller rolls back). */
static int switch_check(ecm_pg *pg, const result_params *rp, const PGresult *k, ecm_decide_in *in)
{
    in->switch_blocked = NULL;
    in->switch_phone_index = in->phone_index;
    if (in->rule.switch_to == ECM_DECIDE_CH_NONE || in->rule.switch_to == in->channel)
        return 0;
    if (in->rule.switch_to == ECM_DECIDE_CH_VOICE) {
        if (!field_bool(k, 0, K_HAS_VOICE))
            in->switch_blocked = "campaign has no Cisco target";
        return 0;
    }
    if (!field_bool(k, 0, K_HAS_SMS)) {
        in->switch_blocked = "campaign has no SMS template";
        return 0;
    }
    const char *p[] = {rp->contact};
    PGresult *n = ecm_pg_exec(pg, SQL_SMS_NUMBERS, 1, p);
    if (n == NULL)
        return -1;
    int mobiles = 0, first = -1;
    for (int i = 0; i < PQntuples(n); i++) {
        const char *type = ecm_pgval_str(n, i, 0);
        if (!type || !ecm_phone_type_may_be_mobile(ecm_phone_type_from_name(type)))
            continue;
        mobiles++;
        if (!field_bool(n, i, 1)) {
            first = i;
            break;
        }
    }
    PQclear(n);
    if (mobiles == 0)
        in->switch_blocked = "no mobile number";
    else if (first < 0)
        in->switch_blocked = "every mobile number is on the SMS do-not-contact list";
    else
        in->switch_phone_index = first;
    return 0;
}

/* The wait of dec on r's contact (SQL_CONTACT_WAIT); *personal = 1 when it
 * is flagged for a personal callback. Returns 0 or -1 (roll back). */
static int wait_contact(ecm_pg *pg, const st_result *r, const result_params *rp,
                        const char *counted_s, const char *phone_s, const char *next_s,
                        const ecm_decide_out *dec, int *personal)
{
    const char *agent = personal_agent(r);
    char at_s[24];
    snprintf(at_s, sizeof(at_s), "%lld",
             (long long)(r->callback_at_ms > dec->next_attempt_at_ms ? r->callback_at_ms
                                                                     : dec->next_attempt_at_ms));
    char rule_s[24];
    snprintf(rule_s, sizeof(rule_s), "%lld", (long long)dec->held_rule_id);
    const char *p[] = {rp->contact,
                       counted_s,
                       phone_s,
                       next_s,
                       agent,
                       at_s,
                       rp->attempt,
                       dec->held_why,
                       rule_s,
                       ecm_decide_channel_name(dec->channel),
                       dec->channel_note};
    PGresult *res = ecm_pg_exec(pg, SQL_CONTACT_WAIT, 11, p);
    if (res == NULL)
        return -1;
    *personal = PQntuples(res) == 1 && field_bool(res, 0, 0);
    PQclear(res);
    if (*personal)
        ecm_log_info("personal callback scheduled", "contact %lld agent %s at %s",
                     (long long)r->contact_id, agent, at_s);
    return 0;
}

/* Writes dec on the contact of r: closed (with a ContactClosed event; its
 * campaign and attempts given) or waiting for its next attempt. Fills info
 * (may be NULL). Returns ST_APPLY_DECIDED or ST_APPLY_DB_ERROR. */
static st_apply_status write_decision(ecm_pg *pg, const st_results_ctx *ctx, const st_result *r,
                                      const result_params *rp, int64_t campaign_id,
                                      int contact_attempts, const ecm_decide_out *dec,
                                      st_apply_info *info, char *reason, size_t reason_size)
{
    char counted_s[16], phone_s[16], next_s[24];
    if ((size_t)snprintf(counted_s, sizeof(counted_s), "%d", dec->counted_attempts) >=
            sizeof(counted_s) ||
        (size_t)snprintf(phone_s, sizeof(phone_s), "%d", dec->phone_index) >= sizeof(phone_s) ||
        (size_t)snprintf(next_s, sizeof(next_s), "%lld", (long long)dec->next_attempt_at_ms) >=
            sizeof(next_s)) {
        snprintf(reason, reason_size, "decision values too long");
        return ST_APPLY_DB_ERROR;
    }
    int closed = dec->action == ECM_DECIDE_CLOSE, personal = 0;
    if (closed) {
        char rule_s[24];
        snprintf(rule_s, sizeof(rule_s), "%lld", (long long)dec->held_rule_id);
        const char *p[] = {rp->contact,   counted_s, ecm_event_outcome_name(dec->outcome),
                           dec->held_why, rule_s,    dec->channel_note};
        if (ecm_pg_cmd(pg, SQL_CONTACT_CLOSE, 6, p) != 0)
            return tx_failed(pg, reason, reason_size);
        if (add_closed_event(pg, ctx, campaign_id, r->contact_id, contact_attempts, dec->outcome) !=
            0)
            return tx_failed(pg, reason, reason_size);
    } else if (wait_contact(pg, r, rp, counted_s, phone_s, next_s, dec, &personal) != 0) {
        return tx_failed(pg, reason, reason_size);
    }
    ecm_log_debug("result applied", "contact %lld attempt %d outcome %s: %s (%s)",
                  (long long)r->contact_id, r->attempt, rp->outcome, closed ? "closed" : "retry",
                  dec->reason);
    if (dec->switched)
        ecm_log_info("channel switched", "contact %lld attempt %d outcome %s: next attempt on %s",
                     (long long)r->contact_id, r->attempt, rp->outcome,
                     ecm_decide_channel_name(dec->channel));
    if (dec->skipped_to != ECM_DECIDE_CH_NONE)
        ecm_log_info("channel switch skipped", "contact %lld attempt %d outcome %s to %s: %s",
                     (long long)r->contact_id, r->attempt, rp->outcome,
                     ecm_decide_channel_name(dec->skipped_to), dec->channel_note);
    if (info != NULL) {
        info->closed = closed;
        info->outcome = dec->outcome;
        info->next_attempt_at_ms = closed ? 0 : dec->next_attempt_at_ms;
        info->phone_index = dec->phone_index;
        info->personal = personal;
        info->channel = dec->channel;
        info->switch_to = !closed && dec->switched ? dec->channel : ECM_DECIDE_CH_NONE;
        info->skipped_to = dec->skipped_to;
    }
    return ST_APPLY_DECIDED;
}

/* 1 when r decides the contact k: its current attempt, the contact
 * 'dispatched' on it, or 'queued' again after the feeder withdrew it (the
 * dialer dialled it all the same: its result decides, as if never
 * withdrawn, before the contact is taken again). */
static int result_is_current(const st_result *r, const PGresult *k, int withdrawn)
{
    const char *state = PQgetvalue(k, 0, K_STATE);
    if (ecm_pgval_ll(k, 0, K_ATTEMPTS, -1) != (long long)r->attempt)
        return 0;
    return strcmp(state, "dispatched") == 0 || (withdrawn && strcmp(state, "queued") == 0);
}

/* A result recorded on an attempt that no longer decides its contact. A
 * withdrawn one still counts against the caps when it counts as an attempt
 * (the call was made; the withdrawal had not counted it). Returns
 * ST_APPLY_RECORDED or ST_APPLY_DB_ERROR. */
static st_apply_status late_result(ecm_pg *pg, const st_result *r, const result_params *rp,
                                   int withdrawn, char *reason, size_t reason_size)
{
    ecm_log_info("result for an earlier attempt recorded", "contact %lld attempt %d withdrawn %d",
                 (long long)r->contact_id, r->attempt, withdrawn);
    if (withdrawn && r->counts_as_attempt) {
        const char *p[] = {rp->contact};
        if (ecm_pg_cmd(pg, SQL_COUNT_LATE, 1, p) != 0)
            return tx_failed(pg, reason, reason_size);
    }
    return ST_APPLY_RECORDED;
}

/* The work of one result inside the caller's open transaction. On
 * ST_APPLY_REJECT and ST_APPLY_DUPLICATE nothing was written (at most rows
 * were locked); on ST_APPLY_DB_ERROR the transaction is aborted and reason has
 * the SQLSTATE. Never begins, commits or rolls back. *decided_closed is
 * 1 closed, 0 waiting for ST_APPLY_DECIDED. */
static st_apply_status apply_in_tx(ecm_pg *pg, const st_results_ctx *ctx, const st_result *r,
                                   st_apply_info *info, char *reason, size_t reason_size)
{
    result_params rp;
    if (reason_size > 0)
        reason[0] = '\0';
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    if (result_params_of(r, &rp) != 0) {
        snprintf(reason, reason_size, "result values too long");
        return ST_APPLY_REJECT;
    }

    const char *p_lock[] = {rp.contact, rp.outcome, rp.attempt};
    PGresult *k = ecm_pg_exec(pg, SQL_LOCK_CONTACT, 3, p_lock);
    if (k == NULL)
        return tx_failed(pg, reason, reason_size);
    if (PQntuples(k) == 0) {
        PQclear(k);
        snprintf(reason, reason_size, "unknown contact");
        return ST_APPLY_REJECT;
    }
    int withdrawn = 0;
    st_apply_status st = record_attempt(pg, r, &rp, &withdrawn, reason, reason_size);
    if (st != ST_APPLY_DECIDED) {
        PQclear(k);
        return st;
    }
    if (st_consent_on_result(pg, ctx, r) != 0) {
        PQclear(k);
        return tx_failed(pg, reason, reason_size);
    }
    if (!result_is_current(r, k, withdrawn)) {
        PQclear(k);
        return late_result(pg, r, &rp, withdrawn, reason, reason_size);
    }

    ecm_decide_in in;
    decide_input(r, k, &in);
    int contact_attempts = (int)ecm_pgval_ll(k, 0, K_ATTEMPTS, 0);
    int64_t campaign_id = ecm_pgval_ll(k, 0, K_CAMPAIGN, 0);
    /* Most results close (a delivered SMS): their decision can't depend on
     * the history or the calendar, so those queries and lookups are
     * skipped. */
    int64_t *day = NULL;
    st_zones zones = {0};
    st_rules_data rules = {0};
    if (ecm_decide_needs_history(&in)) {
        /* The history and the switch come first: the contact rules are
         * those of the next attempt's channel. */
        st = load_history(pg, r, &rp, ecm_pgval_str(k, 0, K_ROUND_FIRST), &in, &day, reason,
                          reason_size);
        if (st != ST_APPLY_DECIDED) {
            PQclear(k);
            return st;
        }
        calling_of(ctx, k, campaign_id, in.phone_count, &in.calling, &zones);
        if (switch_check(pg, &rp, k, &in) != 0 ||
            st_rules_of(pg, ctx->rules, k, K_RULES_FIRST, r->contact_id, campaign_id, in.now_ms,
                        ecm_decide_next_channel(&in), &in.calling, &rules) != 0) {
            PQclear(k);
            free(day);
            zones_destroy(&zones);
            return tx_failed(pg, reason, reason_size);
        }
    }
    PQclear(k);
    ecm_decide_out dec;
    ecm_decide(&in, &dec);
    free(day);
    st_rules_data_destroy(&rules);
    if (dec.action == ECM_DECIDE_RETRY)
        ecm_log_debug("retry placed", "contact %lld next attempt at %lld in %s",
                      (long long)r->contact_id, (long long)dec.next_attempt_at_ms, dec.zone);
    zones_destroy(&zones);
    return write_decision(pg, ctx, r, &rp, campaign_id, contact_attempts, &dec, info, reason,
                          reason_size);
}

/* ecm_strategy_switch_total{to, result}: a rule's channel switch made or
 * skipped. */
static void count_switch(const st_results_ctx *ctx, ecm_decide_channel to, const char *result)
{
    char name[128];
    if (ctx->metrics == NULL || to == ECM_DECIDE_CH_NONE ||
        (size_t)snprintf(name, sizeof(name), "ecm_strategy_switch_total{to=\"%s\",result=\"%s\"}",
                         ecm_decide_channel_name(to), result) >= sizeof(name))
        return;
    ecm_metric_add(ecm_metrics_counter(ctx->metrics, name,
                                       "channel switches asked for by a strategy rule, made "
                                       "(switched) or not possible (skipped)"),
                   1);
}

static void count_status(const st_results_ctx *ctx, const st_result *r, st_apply_status st,
                         const st_apply_info *info)
{
    if (st == ST_APPLY_DECIDED) {
        count_switch(ctx, info->switch_to, "switched");
        count_switch(ctx, info->skipped_to, "skipped");
    }
    if (st == ST_APPLY_DECIDED)
        count_metrics(ctx, r->outcome, 1, info->closed);
    else if (st == ST_APPLY_RECORDED)
        count_metrics(ctx, r->outcome, 0, 0);
}

st_apply_status st_results_apply(ecm_pg *pg, const st_results_ctx *ctx, const st_result *r,
                                 st_apply_info *info, char *reason, size_t reason_size)
{
    st_apply_info local;
    if (info == NULL)
        info = &local;
    if (reason_size > 0)
        reason[0] = '\0';
    memset(info, 0, sizeof(*info));
    if (ecm_pg_begin(pg) != 0)
        return db_failed(pg, reason, reason_size);
    st_apply_status st = apply_in_tx(pg, ctx, r, info, reason, reason_size);
    if (st == ST_APPLY_DB_ERROR)
        return db_failed(pg, reason, reason_size);
    if (st == ST_APPLY_REJECT || st == ST_APPLY_DUPLICATE) {
        ecm_pg_rollback(pg);
        return st;
    }
    if (ecm_pg_commit(pg) != 0)
        return db_failed(pg, reason, reason_size);
    count_status(ctx, r, st, info);
    return st;
}

int st_results_apply_batch(ecm_pg *pg, const st_results_ctx *ctx, const st_result *rs, size_t n,
                           st_apply_status *st, char (*reasons)[ST_REASON_MAX])
{
    if (n == 0)
        return 0;
    st_apply_info *infos = calloc(n, sizeof(*infos));
    if (infos == NULL)
        return -1;
    char reason[ST_REASON_MAX] = "";
    if (ecm_pg_begin(pg) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        reasons[i][0] = '\0';
        /* A reject or duplicate wrote nothing, so the others go on in the
         * same transaction; any DB error aborts the whole batch. */
        st[i] = apply_in_tx(pg, ctx, &rs[i], &infos[i], reasons[i], ST_REASON_MAX);
        if (st[i] == ST_APPLY_DB_ERROR) {
            snprintf(reason, sizeof(reason), "%s", reasons[i]);
            goto fail;
        }
    }
    if (ecm_pg_commit(pg) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        count_status(ctx, &rs[i], st[i], &infos[i]);
    free(infos);
    return 0;
fail:
    ecm_log_info("batch of results rolled back; applying them one at a time",
                 "%zu results SQLSTATE %s", n, reason[0] ? reason : ecm_pg_last_sqlstate(pg));
    ecm_pg_rollback(pg);
    ecm_pg_check_broken(pg);
    free(infos);
    return -1;
}

/* ---- consumer loop ---- */

static void sleep_ms(long ms, volatile sig_atomic_t *stop)
{
    while (ms > 0 && !*stop) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* Worth retrying without limit: connection lost (no SQLSTATE or class 08),
 * serialization/deadlock (40), resources (53), operator intervention (57),
 * lock not available (55P03). */
static int transient_sqlstate(const char *s)
{
    return s[0] == '\0' || strncmp(s, "08", 2) == 0 || strncmp(s, "40", 2) == 0 ||
           strncmp(s, "53", 2) == 0 || strncmp(s, "57", 2) == 0 || strcmp(s, "55P03") == 0;
}

/* Dead-letters m, retrying until the broker takes it. Returns 0, or -1 when a
 * stop came first (the offset must then not be stored). */
static int deadletter(ecm_kafka_consumer *c, const rd_kafka_message_t *m, const char *reason,
                      volatile sig_atomic_t *stop)
{
    long backoff = ST_BACKOFF_MIN_MS;
    while (ecm_kafka_consumer_deadletter(c, m, reason) != 0) {
        if (*stop)
            return -1;
        ecm_log_warn("dead-letter publish failed, retrying", "reason %s", reason);
        sleep_ms(backoff, stop);
        backoff = backoff * 2 > ST_BACKOFF_MAX_MS ? ST_BACKOFF_MAX_MS : backoff * 2;
    }
    ecm_log_warn("result dead-lettered", "%s", reason);
    return 0;
}

/* Processes one message until its work is durable. Returns 0 when its offset
 * may be stored, -1 when a stop interrupted it. */
static int process_one(ecm_kafka_consumer *c, ecm_pg *pg, const st_results_ctx *ctx,
                       const rd_kafka_message_t *m, volatile sig_atomic_t *stop)
{
    char reason[256];
    st_result r;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
    if (st_results_decode(ctx, topic, m->payload, m->len, &r, reason, sizeof(reason)) != 0)
        return deadletter(c, m, reason, stop);

    long backoff = ST_BACKOFF_MIN_MS;
    int permanent_failures = 0;
    for (;;) {
        st_apply_status st = st_results_apply(pg, ctx, &r, NULL, reason, sizeof(reason));
        if (st == ST_APPLY_DECIDED || st == ST_APPLY_RECORDED || st == ST_APPLY_DUPLICATE)
            return 0;
        if (st == ST_APPLY_REJECT)
            return deadletter(c, m, reason, stop);

        if (!transient_sqlstate(reason) && ++permanent_failures >= ST_PERMANENT_ERROR_TRIES) {
            char why[300];
            snprintf(why, sizeof(why), "database rejected the result (SQLSTATE %s)", reason);
            return deadletter(c, m, why, stop);
        }
        ecm_log_warn("applying result failed, retrying", "contact %lld attempt %d SQLSTATE %s",
                     (long long)r.contact_id, r.attempt, reason);
        if (*stop)
            return -1;
        sleep_ms(backoff, stop);
        backoff = backoff * 2 > ST_BACKOFF_MAX_MS ? ST_BACKOFF_MAX_MS : backoff * 2;
    }
}

/* Applies a polled batch in one transaction (results decoded first; what
 * can't decode or can never apply is dead-lettered after the commit). When
 * the batch transaction fails, every message goes through process_one()
 * instead, with its retries and dead-letter path. Stores offsets in order,
 * each only once its work is committed or dead-lettered. Returns the number
 * of messages done (offset stored); fewer than n only on a stop. */
static size_t process_batch(ecm_kafka_consumer *c, ecm_pg *pg, const st_results_ctx *ctx,
                            rd_kafka_message_t **msgs, size_t n, volatile sig_atomic_t *stop)
{
    st_result *rs = calloc(n, sizeof(*rs));
    st_apply_status *st = calloc(n, sizeof(*st));
    char(*reasons)[ST_REASON_MAX] = calloc(n, sizeof(*reasons));
    size_t *idx = calloc(n, sizeof(*idx)); /* rs[k] is msgs[idx[k]] */
    int *undecodable = calloc(n, sizeof(*undecodable));
    size_t i = 0;
    if (rs == NULL || st == NULL || reasons == NULL || idx == NULL || undecodable == NULL)
        goto one_by_one;
    size_t nr = 0;
    for (i = 0; i < n; i++) {
        const char *topic = msgs[i]->rkt ? rd_kafka_topic_name(msgs[i]->rkt) : NULL;
        if (st_results_decode(ctx, topic, msgs[i]->payload, msgs[i]->len, &rs[nr], reasons[i],
                              ST_REASON_MAX) != 0) {
            undecodable[i] = 1;
            continue;
        }
        idx[nr++] = i;
    }
    i = 0;
    if (nr > 0) {
        st_apply_status *rst = calloc(nr, sizeof(*rst));
        char(*rreasons)[ST_REASON_MAX] = calloc(nr, sizeof(*rreasons));
        int ok = rst != NULL && rreasons != NULL &&
                 st_results_apply_batch(pg, ctx, rs, nr, rst, rreasons) == 0;
        for (size_t k = 0; ok && k < nr; k++) {
            st[idx[k]] = rst[k];
            memcpy(reasons[idx[k]], rreasons[k], ST_REASON_MAX);
        }
        free(rst);
        free(rreasons);
        if (!ok)
            goto one_by_one;
    }
    for (; i < n; i++) {
        if ((undecodable[i] || st[i] == ST_APPLY_REJECT) &&
            deadletter(c, msgs[i], reasons[i], stop) != 0)
            break;
        ecm_kafka_consumer_store(c, &msgs[i], 1);
    }
    goto out;
one_by_one:
    for (i = 0; i < n; i++) {
        if (process_one(c, pg, ctx, msgs[i], stop) != 0)
            break;
        ecm_kafka_consumer_store(c, &msgs[i], 1);
    }
out:
    free(rs);
    free(st);
    free(reasons);
    free(idx);
    free(undecodable);
    return i;
}

void st_results_run(ecm_kafka_consumer *c, ecm_pg *pg, const st_results_ctx *ctx,
                    volatile sig_atomic_t *stop)
{
    rd_kafka_message_t *msgs[ST_RESULTS_BATCH];
    /* Present from the start so that rates work from the first scrape. */
    if (ctx->metrics != NULL) {
        ecm_metrics_counter(ctx->metrics, "ecm_strategy_closed_total", "contacts closed");
        ecm_metrics_counter(ctx->metrics, "ecm_strategy_retries_scheduled_total",
                            "retries scheduled (contact waiting)");
    }
    while (!*stop) {
        size_t n = ecm_kafka_consumer_poll_batch(c, msgs, ST_RESULTS_BATCH, ST_RESULTS_POLL_MS);
        size_t i = 0;
        while (i < n) {
            size_t chunk = n - i < ST_RESULTS_TX_MAX ? n - i : ST_RESULTS_TX_MAX;
            size_t done = process_batch(c, pg, ctx, msgs + i, chunk, stop);
            i += done;
            if (done < chunk)
                break;
        }
        if (i < n)
            ecm_log_info("stopping with results not applied", "%zu left for redelivery", n - i);
        for (size_t j = 0; j < n; j++)
            rd_kafka_message_destroy(msgs[j]);
    }
}

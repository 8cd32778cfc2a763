#include "sms_mo.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecm_clock.h"
#include "ecm_dnc.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_sms.h"
#include "ecm_utf8.h"
#include "ecm_uuid.h"
#include "sms_args.h"

#define SMS_MO_MAX_BODY 16384
#define SMS_MO_TRIES 3
#define SMS_MO_PHONE_MAX 24

/* ---- keywords (pure) ---- */

static const struct {
    const char *word;
    sms_mo_action action;
} keywords[] = {
    {"STOP", SMS_MO_OPT_OUT},   {"STOPALL", SMS_MO_OPT_OUT},     {"END", SMS_MO_OPT_OUT},
    {"CANCEL", SMS_MO_OPT_OUT}, {"UNSUBSCRIBE", SMS_MO_OPT_OUT}, {"QUIT", SMS_MO_OPT_OUT},
    {"REVOKE", SMS_MO_OPT_OUT}, {"OPTOUT", SMS_MO_OPT_OUT},      {"START", SMS_MO_OPT_IN},
    {"YES", SMS_MO_OPT_IN},     {"UNSTOP", SMS_MO_OPT_IN},       {"HELP", SMS_MO_HELP},
    {"INFO", SMS_MO_HELP},
};

/* ASCII only: a byte of a multi-byte UTF-8 character is never trimmed, so
 * "STOP✋" stays what it is. */
static int trimmable(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '!' && c <= '/') ||
           (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

sms_mo_action sms_mo_parse(const char *text, const char **keyword)
{
    if (keyword != NULL)
        *keyword = NULL;
    if (text == NULL)
        return SMS_MO_NONE;
    const char *s = text;
    size_t n = strlen(s);
    while (n > 0 && trimmable((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && trimmable((unsigned char)s[n - 1]))
        n--;
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (strlen(keywords[i].word) == n && strncasecmp(s, keywords[i].word, n) == 0) {
            if (keyword != NULL)
                *keyword = keywords[i].word;
            return keywords[i].action;
        }
    }
    return SMS_MO_NONE;
}

const char *sms_mo_action_name(sms_mo_action a)
{
    switch (a) {
    case SMS_MO_OPT_OUT:
        return "opt_out";
    case SMS_MO_OPT_IN:
        return "opt_in";
    case SMS_MO_HELP:
        return "help";
    default:
        return "none";
    }
}

int sms_mo_phone_normalize(const char *raw, char *out, size_t out_size)
{
    size_t n = 0, digits = 0;
    if (out_size == 0)
        return -1;
    out[0] = '\0';
    if (raw == NULL)
        return -1;
    for (const char *p = raw; *p; p++) {
        char c = *p;
        if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')
            continue;
        if (c == '+' && n == 0) {
            /* only as the first significant character */
        } else if (c >= '0' && c <= '9') {
            digits++;
        } else {
            out[0] = '\0';
            return -1;
        }
        if (n + 1 >= out_size) {
            out[0] = '\0';
            return -1;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    if (digits < 7 || digits > 20) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* ---- the transaction ---- */

/* How many channels the number is revoked on, on the global list (0..2),
 * and of those the ones a START may grant back: the channels whose every
 * revoke since their last grant came from a STOP keyword ("sms", "voice",
 * "sms,voice" or ""). A number listed by the API, an upload or an agent's
 * disposition stays listed on that channel, even after a STOP. Entries are
 * ordered as the derivation orders them (business time, then id). */
static const char SQL_GLOBAL_STATE[] =
    "WITH e AS (SELECT ch.c, x.action, x.source, x.at, x.id"
    "  FROM (VALUES ('voice'), ('sms')) AS ch (c) JOIN consent_ledger x"
    "  ON x.phone_key = $1 AND x.campaign_id IS NULL AND x.scope IN (ch.c, 'all')),"
    " g AS (SELECT DISTINCT ON (c) c, at, id FROM e WHERE action = 'grant'"
    "  ORDER BY c, at DESC, id DESC),"
    " stopped AS (SELECT e.c FROM e LEFT JOIN g USING (c)"
    "  WHERE e.action = 'revoke' AND (g.c IS NULL OR (e.at, e.id) > (g.at, g.id))"
    "  GROUP BY e.c HAVING bool_and(e.source = 'stop_keyword'))"
    " SELECT (SELECT count(*) FROM dnc WHERE campaign_id IS NULL AND phone_key = $1),"
    " coalesce((SELECT string_agg(c, ',' ORDER BY c) FROM stopped), '')";

/* Locked in id order so that two opt-outs touching the same contacts can't
 * deadlock each other. The contacts are found by key, not by reading every
 * contact's numbers: contact_phones holds each number of each contact of a
 * campaign, as the E.164 digits in a bigint, under the key (campaign_id,
 * phone); one probe a campaign ($1: the digits, NULL when they cannot be an
 * E.164 number, which no contact has). "OFFSET 0" keeps the probe a
 * subquery per campaign: joined flat, the planner read all of contact_phones
 * for the number when campaigns were few. Its cost grows with the
 * campaigns, not with their contacts (docs/performance.md). */
static const char SQL_CLOSE[] =
    "UPDATE contacts k SET state = 'closed', outcome = 'DNC', next_attempt_at = NULL,"
    " closed_at = now(), updated_at = now()"
    " WHERE k.id IN (SELECT id FROM contacts WHERE state <> 'closed'"
    " AND id IN (SELECT p.contact_id FROM campaigns g CROSS JOIN LATERAL"
    " (SELECT contact_id FROM contact_phones WHERE campaign_id = g.id AND phone = $1::bigint"
    " OFFSET 0) p)"
    " ORDER BY id FOR UPDATE)"
    " RETURNING k.id, k.campaign_id, k.attempts";

/* digits as contact_phones keys a number, or NULL when no E.164 number
 * (1 to 15 digits, not starting with 0) has them. */
static const char *phone_key_of(const char *digits)
{
    size_t n = strlen(digits);
    return n >= 1 && n <= 15 && digits[0] != '0' ? digits : NULL;
}

/* The global state of digits (SQL_GLOBAL_STATE): *revoked = channels
 * revoked (0..2), stop = the channels a START grants back. Returns 0 or -1
 * (roll back). */
static int global_state(ecm_pg *pg, const char *digits, int *revoked, char *stop, size_t stop_size)
{
    const char *p[] = {digits};
    PGresult *r = ecm_pg_exec(pg, SQL_GLOBAL_STATE, 1, p);
    if (r == NULL || PQntuples(r) != 1) {
        PQclear(r);
        return -1;
    }
    *revoked = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
    (void)snprintf(stop, stop_size, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    return 0;
}

/* Appends the keyword's entry to the consent ledger: every campaign, at
 * the business time now. Returns 0 or -1 (roll back). */
static int record_keyword(ecm_pg *pg, const char *phone, const char *scope, const char *action,
                          const char *source, const char *reason)
{
    const ecm_dnc_entry e = {
        .phone = phone,
        .scope = scope,
        .action = action,
        .source = source,
        .reason = reason,
        .actor = "sms-mo",
        .at_ms = ecm_clock_now_ms(),
    };
    return ecm_dnc_record(pg, &e) > 0 ? 0 : -1;
}

static const char SQL_INBOUND[] =
    "INSERT INTO sms_inbound (from_phone, to_phone, body, keyword, action)"
    " VALUES ($1, $2, $3, $4, $5)";

static const char SQL_REPLY[] =
    "INSERT INTO sms_system_messages (to_phone, body, message_id) VALUES ($1, $2, $3)";

static int queue_reply(ecm_pg *pg, const char *to, const char *body)
{
    char uuid[ECM_UUID_LEN], mid[ECM_UUID_LEN + 8];
    ecm_uuid_new(uuid);
    /* "sys-" keeps system message ids apart from attempts' at a glance. */
    (void)snprintf(mid, sizeof(mid), "sys-%s", uuid);
    const char *p[] = {to, body, mid};
    return ecm_pg_cmd(pg, SQL_REPLY, 3, p);
}

static int has_text(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* One reply of a kind to a number per interval: the row is taken (and
 * stamped with the business time $3) only when the last reply is at least
 * $4 seconds old, or stamped in the future (a clock moved back). The row
 * lock holds a concurrent MO for the same number, on any replica, until
 * this transaction ends; it then sees the new stamp. */
static const char SQL_REPLY_PER_NUMBER[] =
    "INSERT INTO sms_reply_log AS l (phone_key, kind, last_at)"
    " VALUES ($1, $2, 'epoch'::timestamptz + $3::bigint * interval '1 millisecond')"
    " ON CONFLICT (phone_key, kind) DO UPDATE SET last_at = EXCLUDED.last_at"
    " WHERE l.last_at <= EXCLUDED.last_at - $4::bigint * interval '1 second'"
    " OR l.last_at > EXCLUDED.last_at"
    " RETURNING 1";

/* Replies in all per business minute $1: counted up to the cap $2. */
static const char SQL_REPLY_GLOBAL[] =
    "INSERT INTO sms_reply_window AS w (minute, replies) VALUES ($1, 1)"
    " ON CONFLICT (minute) DO UPDATE SET replies = w.replies + 1 WHERE w.replies < $2::int"
    " RETURNING replies";

/* Whether a reply of kind to digits may go now, inside the caller's
 * transaction. Returns SMS_MO_REPLY_SENT, SMS_MO_REPLY_PER_NUMBER or
 * SMS_MO_REPLY_GLOBAL, or -1 on a DB error (the transaction is then to be
 * rolled back). A reply refused by the global cap does not use up the
 * number's interval (savepoint). */
static int reply_allowed(ecm_pg *pg, const sms_ctx *ctx, const char *digits, const char *kind)
{
    int64_t now = ecm_clock_now_ms();
    char now_s[24], interval_s[24], minute_s[24], cap_s[24];
    (void)snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
    (void)snprintf(interval_s, sizeof(interval_s), "%lld", ctx->reply_interval_s);
    (void)snprintf(minute_s, sizeof(minute_s), "%lld", (long long)(now / 60000));
    (void)snprintf(cap_s, sizeof(cap_s), "%lld", ctx->reply_max_per_minute);
    int per_number = ctx->reply_interval_s > 0, global = ctx->reply_max_per_minute > 0;
    if (per_number && global && ecm_pg_cmd(pg, "SAVEPOINT reply_limit", 0, NULL) != 0)
        return -1;
    if (per_number) {
        const char *p[] = {digits, kind, now_s, interval_s};
        PGresult *r = ecm_pg_exec(pg, SQL_REPLY_PER_NUMBER, 4, p);
        if (r == NULL)
            return -1;
        int ok = PQntuples(r) == 1;
        PQclear(r);
        if (!ok)
            return SMS_MO_REPLY_PER_NUMBER;
    }
    if (global) {
        const char *p[] = {minute_s, cap_s};
        PGresult *r = ecm_pg_exec(pg, SQL_REPLY_GLOBAL, 2, p);
        if (r == NULL)
            return -1;
        int ok = PQntuples(r) == 1;
        PQclear(r);
        if (!ok) {
            if (per_number && ecm_pg_cmd(pg, "ROLLBACK TO SAVEPOINT reply_limit", 0, NULL) != 0)
                return -1;
            return SMS_MO_REPLY_GLOBAL;
        }
    }
    return SMS_MO_REPLY_SENT;
}

/* One try; -1 after a rollback. */
static int apply_once(ecm_pg *pg, const sms_ctx *ctx, const char *phone, const char *digits,
                      const char *from, const char *to, const char *body, sms_mo_action action,
                      const char *keyword, sms_mo_info *info)
{
    memset(info, 0, sizeof(*info));
    info->action = action;
    if (ecm_pg_begin(pg) != 0)
        return -1;
    const char *reply = NULL;
    if (phone != NULL && action == SMS_MO_OPT_OUT) {
        /* A STOP revokes consent on every channel: voice too. Each STOP is
         * recorded (the history shows it); only the first is confirmed. */
        char reason[64], stop[16];
        int revoked = 0;
        (void)snprintf(reason, sizeof(reason), "SMS keyword %s", keyword);
        if (global_state(pg, digits, &revoked, stop, sizeof(stop)) != 0 ||
            record_keyword(pg, phone, "all", "revoke", "stop_keyword", reason) != 0)
            goto fail;
        info->dnc_changed = revoked < 2;
        const char *p_close[] = {phone_key_of(digits)};
        PGresult *c = ecm_pg_exec(pg, SQL_CLOSE, 1, p_close);
        if (c == NULL)
            goto fail;
        info->closed = PQntuples(c);
        if (ecm_dnc_add_closed_events(pg, c, ctx->common->topic_closed, ctx->source) != 0) {
            PQclear(c);
            goto fail;
        }
        PQclear(c);
        if (info->dnc_changed)
            reply = ctx->optout_text;
    } else if (phone != NULL && action == SMS_MO_OPT_IN) {
        /* A START grants back what a STOP revoked, on those channels. */
        char reason[64], stop[16];
        int revoked = 0;
        (void)snprintf(reason, sizeof(reason), "SMS keyword %s", keyword);
        if (global_state(pg, digits, &revoked, stop, sizeof(stop)) != 0)
            goto fail;
        const char *scope = strcmp(stop, "sms,voice") == 0 ? "all" : stop[0] ? stop : NULL;
        if (scope != NULL &&
            record_keyword(pg, phone, scope, "grant", "start_keyword", reason) != 0)
            goto fail;
        info->dnc_changed = scope != NULL;
        /* "YES" is also an ordinary answer: only a real opt-in is confirmed. */
        if (info->dnc_changed)
            reply = ctx->optin_text;
    } else if (phone != NULL && action == SMS_MO_HELP) {
        reply = ctx->help_text;
    }
    const char *recorded = phone != NULL ? sms_mo_action_name(action) : "none";
    const char *p_in[] = {from, has_text(to) ? to : NULL, body, keyword, recorded};
    if (ecm_pg_cmd(pg, SQL_INBOUND, 5, p_in) != 0)
        goto fail;
    if (has_text(reply)) {
        /* The state change above stands whatever happens here: only the
         * reply is held back by the limits. */
        int verdict = reply_allowed(pg, ctx, digits, sms_mo_action_name(action));
        if (verdict < 0)
            goto fail;
        info->reply = (sms_mo_reply)verdict;
        if (verdict == SMS_MO_REPLY_SENT) {
            if (queue_reply(pg, phone, reply) != 0)
                goto fail;
            info->replies = 1;
        }
    }
    if (ecm_pg_commit(pg) != 0)
        goto fail;
    return 0;
fail:
    ecm_pg_rollback(pg);
    return -1;
}

/* A copy of s that PostgreSQL text can hold: bytes of an invalid UTF-8
 * text become '?'. NULL on out of memory. */
static char *storable(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL || ecm_utf8_valid(copy, strlen(copy)))
        return copy;
    for (char *p = copy; *p; p++) {
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    }
    return copy;
}

static void count(const sms_ctx *ctx, const char *name, const char *help, uint64_t n)
{
    if (ctx->metrics != NULL && n > 0)
        ecm_metric_add(ecm_metrics_counter(ctx->metrics, name, help), n);
}

int sms_mo_apply(ecm_pg *pg, const sms_ctx *ctx, const char *from, const char *to, const char *text,
                 sms_mo_info *info)
{
    sms_mo_info local;
    if (info == NULL)
        info = &local;
    const char *keyword = NULL;
    sms_mo_action action = sms_mo_parse(text, &keyword);
    char phone[SMS_MO_PHONE_MAX], digits[SMS_MO_PHONE_MAX] = "";
    const char *phone_p = NULL;
    if (sms_mo_phone_normalize(from, phone, sizeof(phone)) == 0) {
        phone_p = phone;
        (void)snprintf(digits, sizeof(digits), "%s", phone[0] == '+' ? phone + 1 : phone);
    } else if (action != SMS_MO_NONE) {
        ecm_log_warn("keyword from a sender that is not a phone number: recorded only",
                     "from=%.40s keyword=%s", from ? from : "", keyword);
    }
    char *from_s = storable(from != NULL ? from : "");
    char *to_s = storable(to != NULL ? to : "");
    char *body_s = storable(text != NULL ? text : "");
    int rc = -1;
    if (from_s != NULL && to_s != NULL && body_s != NULL) {
        for (int t = 0; t < SMS_MO_TRIES && rc != 0; t++) {
            rc = apply_once(pg, ctx, phone_p, digits, from_s, to_s, body_s, action, keyword, info);
            if (rc == 0)
                break;
            const char *state = ecm_pg_last_sqlstate(pg);
            /* Deadlock or serialization failure: the same work may succeed. */
            int again = strncmp(state, "40", 2) == 0 || ecm_pg_check_broken(pg);
            if (!again)
                break;
        }
    }
    if (rc != 0) {
        ecm_log_warn("inbound message not recorded: database error",
                     "from=%.40s action=%s sqlstate=%s", from ? from : "",
                     sms_mo_action_name(action), ecm_pg_last_sqlstate(pg));
    } else {
        if (action == SMS_MO_OPT_OUT || action == SMS_MO_OPT_IN)
            ecm_log_info(action == SMS_MO_OPT_OUT ? "opt-out received" : "opt-in received",
                         "from=%.40s keyword=%s dnc_changed=%d contacts_closed=%d", phone, keyword,
                         info->dnc_changed, info->closed);
        char name[128];
        (void)snprintf(name, sizeof(name), "ecm_sms_mo_total{action=\"%s\"}",
                       sms_mo_action_name(info->action));
        count(ctx, name, "inbound messages, by keyword action", 1);
        count(ctx, "ecm_sms_optout_closed_total", "contacts closed DNC by an SMS opt-out",
              (uint64_t)info->closed);
        if (info->reply == SMS_MO_REPLY_PER_NUMBER || info->reply == SMS_MO_REPLY_GLOBAL) {
            (void)snprintf(name, sizeof(name),
                           "ecm_sms_replies_suppressed_total{kind=\"%s\",reason=\"%s\"}",
                           sms_mo_action_name(info->action),
                           info->reply == SMS_MO_REPLY_GLOBAL ? "global" : "per_number");
            count(ctx, name, "replies (HELP, confirmations) held back by the rate limits", 1);
            ecm_log_debug("reply to an inbound message held back", "from=%.40s action=%s limit=%s",
                          phone, sms_mo_action_name(info->action),
                          info->reply == SMS_MO_REPLY_GLOBAL ? "global" : "per_number");
        }
    }
    free(from_s);
    free(to_s);
    free(body_s);
    return rc;
}

/* ---- HTTP ---- */

static void handle_mo(void *vctx, ecm_http_req *req)
{
    const sms_ctx *ctx = vctx;
    char err[128];
    sms_args *args = sms_args_parse(req, err, sizeof(err));
    if (args == NULL) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid inbound message", "%s", err);
        return;
    }
    const char *key = sms_args_get(args, "key");
    if (key == NULL)
        key = ecm_http_req_header(req, SMS_MO_KEY_HEADER);
    sms_auth_verdict v = sms_auth_check_mo(ctx->auth, key);
    if (v != SMS_AUTH_OK) {
        sms_auth_reject(ctx->auth, req, "mo", v);
        sms_args_destroy(args);
        return;
    }
    const char *from = sms_args_get(args, "from");
    const char *to = sms_args_get(args, "to");
    const char *text = sms_args_get(args, "text");
    if (from == NULL || from[0] == '\0') {
        ecm_log_warn("inbound message refused", "no sender (from)");
        ecm_http_respond_problem(req, 400, "validation", "Invalid inbound message",
                                 "from is required");
        sms_args_destroy(args);
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(ctx->pool);
    int rc = sms_mo_apply(pg, ctx, from, to, text != NULL ? text : "", NULL);
    ecm_pg_pool_put(ctx->pool, pg);
    sms_args_destroy(args);
    if (rc != 0) {
        ecm_http_respond_problem(req, 503, "unavailable", "Database unavailable",
                                 "the message was not recorded; send it again");
        return;
    }
    /* Empty: smsbox would send a non-empty answer back as an SMS. */
    ecm_http_respond(req, 200, "text/plain", "", 0);
}

int sms_mo_register(ecm_http *http, const sms_ctx *ctx)
{
    if (ctx->auth == NULL)
        return -1;                    /* never serve callbacks unauthenticated */
    void *c = (void *)(uintptr_t)ctx; /* handlers only read it */
    if (ecm_http_route(http, "GET", "/sms/mo", 0, handle_mo, c) != 0 ||
        ecm_http_route(http, "POST", "/sms/mo", SMS_MO_MAX_BODY, handle_mo, c) != 0)
        return -1;
    return 0;
}

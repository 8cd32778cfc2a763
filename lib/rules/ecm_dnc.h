/* Do-not-call: the consent ledger, the state derived from it, and what
 * happens to contacts when a number's consent is revoked.
 *
 * consent_ledger (db/017) is the record: append-only entries, each a revoke
 * ("do not contact") or a grant of a number, for a channel scope (voice,
 * sms, all), on every campaign or one. Table dnc is the current state a
 * trigger derives from it: one row per (number, campaign scope, channel)
 * whose latest entry covering that channel is a revoke. phone_key is a
 * number's digits, and a contact's number is blocked on a channel when the
 * digits of the number equal a phone_key of a dnc row of that channel, of
 * the global list (campaign_id NULL) or of the contact's campaign. A contact
 * that can no longer be contacted on any of its numbers is closed at once,
 * outcome DNC, so that nothing is ever dispatched to it again; a contact with
 * one number left off the lists stays open (the dispatcher skips the listed
 * numbers). Contacts already 'dispatched' are left alone: their attempt is
 * out, and the dispatcher checks DNC again before the next one. */
#ifndef ECM_DNC_H
#define ECM_DNC_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "ecm_pg.h"

/* The SQL boolean "the number phone_expr may not be contacted on channel
 * channel_expr ('voice' or 'sms', a text expression) for campaign
 * campaign_expr": a dnc row of that channel for its digits, global or of
 * that campaign. Every dispatch decision tests DNC with this expression.
 * The arguments are SQL expressions pasted in (never user input). */
#define ECM_DNC_BLOCKED_SQL(phone_expr, campaign_expr, channel_expr)                               \
    "EXISTS (SELECT 1 FROM dnc d WHERE d.phone_key = regexp_replace((" phone_expr                  \
    "), '[^0-9]', '', 'g') AND (d.campaign_id IS NULL OR d.campaign_id = (" campaign_expr          \
    ")) AND d.channel = (" channel_expr "))"

/* The consent channel ('voice' or 'sms') of a campaign's or an attempt's
 * channel column (voice_ivr, voice_agent, sms), as a SQL text expression. */
#define ECM_DNC_CHANNEL_SQL(channel_col)                                                           \
    "(CASE WHEN (" channel_col ") = 'sms' THEN 'sms' ELSE 'voice' END)"

/* One ledger entry to append. Strings are borrowed. */
typedef struct {
    const char *phone;     /* the number as stored (E.164 "+12125550100") */
    long long campaign_id; /* 0: every campaign */
    const char *scope;     /* "voice", "sms" or "all" */
    const char *action;    /* "revoke" (do not contact) or "grant" */
    const char *source;    /* stop_keyword, start_keyword, api, upload, agent_disposition */
    const char *reason;    /* NULL: none */
    const char *actor;     /* key id / user, "sms-mo", "strategy" */
    int64_t at_ms;         /* business time, ms since the epoch */
} ecm_dnc_entry;

/* 1 when s is a channel scope: "voice", "sms" or "all"; else 0. Pure. */
int ecm_dnc_scope_valid(const char *s);

/* Inside the caller's open transaction on pg: appends e to consent_ledger;
 * the ledger's trigger updates dnc for the channels e covers. Returns the
 * entry's id (> 0), or -1 on a database failure (logged at debug; the
 * SQLSTATE is ecm_pg_last_sqlstate(pg): 23503 when the campaign does not
 * exist, 23514 for a value out of range; the caller rolls back). */
long long ecm_dnc_record(ecm_pg *pg, const ecm_dnc_entry *e) __attribute__((warn_unused_result));

/* Digits of a stored phone number ("+12125550100" -> "12125550100"), the
 * form dnc.phone_key holds. Returns 0, or -1 (out "" when out_size > 0) when
 * phone has no digit or out is too small. Pure. */
int ecm_dnc_phone_key(const char *phone, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* Inside the caller's open transaction on pg: closes (state closed, outcome
 * DNC, closed_at now) every contact in state pending, queued, waiting or
 * retry_due, of a campaign not yet finished (draft, active, paused), that
 * has a number whose digits are one of keys[0..n-1] and whose numbers are
 * now all on DNC (global list or its campaign's). campaign_id > 0 limits it
 * to that campaign (entries added to its list); 0 means any campaign (entries
 * added to the global list). Contacts are locked in id order, so concurrent
 * calls cannot deadlock each other. One ContactClosed (outcome DNC) per
 * closed contact goes into the outbox, topic topic_closed, key the contact
 * id, CloudEvents source source. Returns the number of contacts closed, or
 * -1 on a database failure (logged; the caller rolls back). n == 0 closes
 * nothing and returns 0. */
int ecm_dnc_close_blocked(ecm_pg *pg, const char *const *keys, size_t n, long long campaign_id,
                          const char *topic_closed, const char *source)
    __attribute__((warn_unused_result));

/* As ecm_dnc_close_blocked, for the contacts of campaigns whose channel
 * scope covers ("voice": voice_ivr and voice_agent campaigns, "sms", "all":
 * every campaign); a contact is closed when each of its numbers is blocked
 * on its campaign's channel (ECM_DNC_BLOCKED_SQL); contact except_contact
 * (0: none) is left alone, for a caller deciding it itself (the strategy
 * applying that contact's result). ecm_dnc_close_blocked is this with
 * scope "all", except none. Returns the number closed, or -1 (bad scope, or a
 * database failure: the caller rolls back). */
int ecm_dnc_close_blocked_on(ecm_pg *pg, const char *const *keys, size_t n, long long campaign_id,
                             const char *scope, long long except_contact, const char *topic_closed,
                             const char *source) __attribute__((warn_unused_result));

/* Inside the caller's open transaction on pg: one ContactClosed (outcome
 * DNC) into the outbox for each row of r, a result whose first three
 * columns are a closed contact's id, campaign id and attempts (RETURNING
 * id, campaign_id, attempts), topic topic_closed, key the contact id,
 * CloudEvents source source. Returns 0, or -1 on a database failure (the
 * caller rolls back). A result with no rows writes nothing and returns 0. */
int ecm_dnc_add_closed_events(ecm_pg *pg, const PGresult *r, const char *topic_closed,
                              const char *source) __attribute__((warn_unused_result));

#endif

/* "Why is this contact (not) being contacted now?" — one answer, for the
 * API (GET /api/v1/contacts/{id}/eligibility), the console, and anyone
 * else who asks.
 *
 * The answer is never a second opinion: the contact's ECM_GATE_COLUMNS row
 * is read (without locking) and judged by ecm_gate_judge_contact(), the
 * very code the dispatchers run on each contact of a batch (numbers and
 * DNC, the calling window in the contact's zone, the contact rules with its
 * history). What the gate does not judge comes first, from the contact's
 * and campaign's rows:
 *
 *   closed                the contact is closed (outcome, when)
 *   out_with_dialer       an attempt is out (dispatched), its result awaited
 *   campaign_not_active   draft, paused, stopped, completed or expired
 *   then the gate, at now; for a contact waiting for a later
 *   next_attempt_at that the judge now does not hold it until exactly (the
 *   window or rule that set it), at next_attempt_at, as the gate judges it
 *   then:
 *   eligible_now          GO: goes with the next batch, on `phone`
 *   waiting               held by the campaign's window or legal hours, or
 *                         by the strategy's retry time, until `until`
 *   held                  held by a contact rule (hours, day off, cap,
 *                         quiet, a campaign blackout) until `until`; `rule`
 *   blocked               the gate would close it: every number on DNC for
 *                         its channel (DNC), no usable number
 *                         (INVALID_NUMBER), no time left before end_at
 *                         (EXPIRED); `outcome` says which
 *
 * Every answer lists the contact's numbers on the DNC lists per channel
 * (global or the campaign's, since when, source, reason), from the same
 * snapshot the verdict was judged on. */
#ifndef ECM_ELIGIBILITY_H
#define ECM_ELIGIBILITY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ecm_calling.h"
#include "ecm_pg.h"

typedef enum {
    ECM_ELIG_ELIGIBLE_NOW = 0,
    ECM_ELIG_WAITING,
    ECM_ELIG_HELD,
    ECM_ELIG_OUT_WITH_DIALER,
    ECM_ELIG_CLOSED,
    ECM_ELIG_CAMPAIGN_NOT_ACTIVE,
    ECM_ELIG_BLOCKED,
} ecm_eligibility_state;

/* The dispatchers' settings the answer must share with them. */
typedef struct {
    ecm_legal_hours legal; /* ECM_LEGAL_HOURS */
    /* ecm_gate_config.margin_ms of the voice dispatcher (the feeder's
     * ECM_FEEDER_WINDOW_MARGIN_S) and of the SMS one (0). */
    int64_t voice_margin_ms, sms_margin_ms;
} ecm_eligibility_config;

/* One (number, channel, list) of the contact: listed 0 means the number is
 * on no list of that channel (scope, source, reason then NULL, since -1). */
typedef struct {
    int phone_index; /* 0-based */
    char *phone;     /* owned */
    char channel[8]; /* "voice" or "sms" */
    int listed;
    const char *scope; /* "global" or "campaign" (static), NULL when not listed */
    int64_t since_ms;  /* business time of the revoke in the consent ledger; -1 */
    char *source;      /* owned: api, upload, stop_keyword, agent_disposition, migration */
    char *reason;      /* owned; NULL when none was given */
} ecm_eligibility_dnc;

typedef struct {
    int64_t contact_id, campaign_id;
    char *campaign_name;     /* owned */
    char campaign_state[16]; /* campaigns.state */
    char contact_state[16];  /* contacts.state */
    int64_t at_ms;           /* the business instant judged (now) */
    ecm_eligibility_state state;
    char *reason;     /* owned: plain words, one paragraph, valid UTF-8 */
    int64_t until_ms; /* when it may go next; -1: not known (null) */
    /* The contact rule that holds it (state held, or waiting for a time a
     * rule moved it to): rule_id > 0 a rule of a set, 0 a campaign
     * blackout, -1 none (the others NULL then). Owned. */
    int64_t rule_id;
    char *rule_set, *rule_kind, *rule_says;
    ecm_eligibility_dnc *dnc; /* owned, ndnc entries */
    size_t ndnc;
    int64_t next_attempt_ms; /* contacts.next_attempt_at; -1 when NULL */
    char channel[8];         /* the next (or out) attempt's channel: "voice" or "sms" */
    char *phone;             /* owned: the number the next attempt uses (or the out one); NULL */
    int phone_index;         /* its index (0-based), -1 when phone is NULL */
    char *zone;              /* owned: the zone its window is read in; NULL when not judged */
    char outcome[32];        /* closed: its outcome; blocked: the one it would close with */
} ecm_eligibility;

/* The name of s ("eligible_now", "waiting", ...). Static; "unknown" for a
 * value outside the enum. Can't fail. */
const char *ecm_eligibility_state_name(ecm_eligibility_state s);

/* The answer for contact contact_id at business time now_ms
 * (ecm_clock_now_ms()), read on pg in one read-only REPEATABLE READ
 * transaction of its own (pg must not be inside one) that writes and locks
 * nothing. Returns 0 with a new answer in *out (ecm_eligibility_destroy), 1
 * when there is no such contact (*out NULL), -1 when a statement fails or
 * memory runs out (*out NULL; the caller answers 503 or 500). */
int ecm_eligibility_explain(ecm_pg *pg, const ecm_eligibility_config *cfg, int64_t contact_id,
                            int64_t now_ms, ecm_eligibility **out)
    __attribute__((warn_unused_result));

/* e as the API's JSON object (api/openapi.yaml, Eligibility): times RFC 3339
 * UTC with milliseconds, until_local and local_time with the zone's offset.
 * Returns a new reference, or NULL when memory runs out. */
json_t *ecm_eligibility_json(const ecm_eligibility *e) __attribute__((warn_unused_result));

/* Frees e and all it owns. e may be NULL. */
void ecm_eligibility_destroy(ecm_eligibility *e);

#endif

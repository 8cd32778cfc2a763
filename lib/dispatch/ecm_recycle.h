/* Recycling: re-opening closed contacts of a campaign for another round under
 * its strategy, without a new upload. One implementation for the gateway's
 * POST /api/v1/campaigns/{id}/recycle and the strategy service's recycle
 * schedule; both run it inside their own transaction.
 *
 * Which contacts: those of the campaign that are 'closed' with one of the
 * outcomes asked for, closed at or before now - older_than by business time,
 * and (with max_rounds) re-opened fewer than max_rounds times. The close
 * time is attempts.outcome_at of the contact's last attempt (the business
 * instant ECM learnt its outcome) when set, else contacts.closed_at (a
 * contact closed without an attempt result: at upload, by a DNC entry, by an
 * expiry). DNC is never recycled.
 *
 * Re-opening a contact: 'queued' with outcome, closed_at, next_attempt_at,
 * hold_reason, hold_rule_id, channel, channel_note, callback_at, pcb_agent
 * and pcb_at cleared, counted_attempts and phone_index 0,
 * round_first_attempt = attempts + 1, recycled + 1. Its attempts stay, and
 * the next one is numbered attempts + 1, so account numbers never repeat.
 * The dispatch gate (DNC, consent, windows, contact rules) judges it like any
 * other queued contact. */
#ifndef ECM_RECYCLE_H
#define ECM_RECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_pg.h"

/* Topic of ContactsRecycled when the caller names none. */
#define ECM_RECYCLE_TOPIC_DEFAULT "contacts.recycled"
/* Contacts listed in one ContactsRecycled event (as ContactsUploaded). */
#define ECM_RECYCLE_EVENT_BATCH 20000
/* Outcomes one recycle may name. */
#define ECM_RECYCLE_OUTCOMES_MAX 24
/* statement_timeout for a run's transaction (ecm_pg_begin_timeout): re-opening
 * 750,000 contacts took 12 s on the development machine, past what a
 * connection's usual bound allows for a campaign of millions. */
#define ECM_RECYCLE_RUN_TIMEOUT_MS (15L * 60 * 1000)
/* The longest age a recycle may ask for: 10 years, in seconds. */
#define ECM_RECYCLE_OLDER_THAN_MAX_S (10LL * 366 * 86400)

/* What to re-open. */
typedef struct {
    int64_t campaign_id;
    const char *const *outcomes; /* outcome names ("NO_ANSWER"), n_outcomes of them */
    size_t n_outcomes;
    int64_t older_than_s; /* closed at least this long ago, >= 0 */
    int max_rounds;       /* only contacts with recycled < max_rounds; 0: no limit */
    int64_t now_ms;       /* the business clock's now (ecm_clock_now_ms) */
} ecm_recycle_select;

/* Who runs it and where its events go. */
typedef struct {
    const char *actor;           /* the API key's name, or "schedule" */
    const char *actor_key_id;    /* the API key's id; NULL for the schedule */
    const char *source;          /* CloudEvents source of the caller */
    const char *topic_recycled;  /* NULL: ECM_RECYCLE_TOPIC_DEFAULT */
    const char *topic_campaigns; /* CampaignChanged; NULL: "campaigns.changed" */
    int log_empty;               /* 1: write the recycles row even when nothing matched */
} ecm_recycle_actor;

/* Why a recycle was refused. */
typedef enum {
    ECM_RECYCLE_OK = 0,
    ECM_RECYCLE_ERR_DB = -1,          /* a DB failure (logged): roll back, 503 */
    ECM_RECYCLE_ERR_INVALID = -2,     /* the request itself (422): reason says which field */
    ECM_RECYCLE_ERR_NO_CAMPAIGN = -3, /* no such campaign (404) */
    ECM_RECYCLE_ERR_STATE = -4,       /* draft, stopped, expired or ended campaign (409) */
} ecm_recycle_status;

/* Contacts that match, for one outcome. */
typedef struct {
    char outcome[32];
    int64_t contacts;
} ecm_recycle_outcome_count;

/* What a dry run found, or what a run re-opened. */
typedef struct {
    ecm_recycle_outcome_count by_outcome[ECM_RECYCLE_OUTCOMES_MAX]; /* in the order asked */
    size_t n;
    int64_t total;
    char campaign_state[16];     /* the campaign's state before */
    char campaign_state_now[16]; /* after a run: 'active' when a completed one re-opened */
    int64_t recycle_id;          /* a run's recycles.id; 0 for a dry run or an unlogged run */
    int events;                  /* ContactsRecycled events written */
} ecm_recycle_result;

/* Checks sel without the DB: at least one outcome, each a known ECM outcome
 * (ecm.v1.Outcome names), none twice, not DNC; older_than_s in
 * [0, ECM_RECYCLE_OLDER_THAN_MAX_S]; max_rounds >= 0. Returns 0, or -1 with
 * the field ("outcomes", "older_than", "max_rounds") in field and the
 * reason in reason (both cut to their sizes). Pure; can't fail otherwise. */
int ecm_recycle_check(const ecm_recycle_select *sel, char *field, size_t field_size, char *reason,
                      size_t reason_size) __attribute__((warn_unused_result));

/* Parses a duration as the API and ecmctl take it: a whole number followed by
 * one unit, d (days), h (hours), m (minutes) or s (seconds): "3d", "72h",
 * "90m", "0s". Returns 0 with the seconds in *seconds, or -1 (no number, no
 * or an unknown unit, anything after it, over ECM_RECYCLE_OLDER_THAN_MAX_S).
 * Pure. */
int ecm_recycle_parse_age(const char *text, int64_t *seconds) __attribute__((warn_unused_result));

/* Writes seconds as the largest whole unit parse_age reads ("3d", "36h",
 * "90s") into out. Returns out. Can't fail (cuts at out_size). */
const char *ecm_recycle_format_age(int64_t seconds, char *out, size_t out_size);

/* Dry run on pg (inside the caller's transaction or not): counts the
 * contacts that ecm_recycle_run() would re-open now, per outcome asked (0
 * for an outcome that matches none), and reads the campaign's state.
 * Changes nothing. Returns ECM_RECYCLE_OK with *out filled; or an error
 * status with a reason (ECM_RECYCLE_ERR_INVALID: sel fails
 * ecm_recycle_check, the field first in reason as "field: why"). */
ecm_recycle_status ecm_recycle_count(ecm_pg *pg, const ecm_recycle_select *sel,
                                     ecm_recycle_result *out, char *reason, size_t reason_size)
    __attribute__((warn_unused_result));

/* Runs the recycle inside the caller's open transaction on pg: locks the
 * campaign row (so runs on one campaign take turns), refuses a draft,
 * stopped or expired campaign and one whose end_at is past (by now_ms), re-opens the matching
 * contacts (row locks, SKIP LOCKED: a contact another transaction holds is not re-opened twice and
 * is left for a later run), writes the recycles row (when any contact was re-opened, or always with
 * actor->log_empty), one ContactsRecycled per ECM_RECYCLE_EVENT_BATCH contacts (ascending ids) and,
 * when a 'completed' campaign got contacts back, sets it 'active' with a CampaignChanged (actor:
 * actor->actor). A paused campaign stays paused. Returns ECM_RECYCLE_OK with *out filled
 * (by_outcome: what was re-opened); or an error status with a reason: the caller rolls back
 * (nothing was left half-done in its transaction but the caller must not commit after
 * ECM_RECYCLE_ERR_DB). */
ecm_recycle_status ecm_recycle_run(ecm_pg *pg, const ecm_recycle_select *sel,
                                   const ecm_recycle_actor *actor, ecm_recycle_result *out,
                                   char *reason, size_t reason_size)
    __attribute__((warn_unused_result));

#endif

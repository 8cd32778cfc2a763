/* The check made just before every dispatch, by every service that contacts
 * people (the feeder for voice, sms for SMS), inside the transaction that
 * locks the queued contacts: which number may be used (not on a DNC list),
 * whether the contact's calling window is open now in its own zone, and what
 * happens otherwise. Per contact:
 *
 *   GO     the window is open: the caller records the attempt on the picked
 *          number; ecm_gate_apply() moves the contact to 'dispatched'.
 *   WAIT   closed now: the contact goes 'waiting' with next_attempt_at at the
 *          next opening (nothing is recorded, attempts unchanged); the
 *          strategy's scheduler queues it again then (contacts.retry).
 *   CLOSE  every number on DNC (outcome DNC), no opening before the
 *          campaign's end_at (EXPIRED), no usable number (INVALID_NUMBER):
 *          closed with a ContactClosed event through the outbox.
 *
 * One statement per step whatever the batch size: the caller's take
 * statement selects ECM_GATE_COLUMNS, the verdicts are computed in memory
 * (windows cached per campaign version), and ecm_gate_apply() writes them
 * with array parameters.
 *
 * One judge: ecm_gate_judge() (a dispatcher's batch) and
 * ecm_gate_judge_contact() (one contact, to explain it: ecm_eligibility)
 * run the same code for each contact, the batch only reading its contacts'
 * history in one statement and locking it. */
#ifndef ECM_GATE_H
#define ECM_GATE_H

#include <stdint.h>

#include <libpq-fe.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_calling.h"
#include "ecm_dnc.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"

/* The effective channel ('voice' or 'sms') of the next attempt of contact
 * alias `contact` of campaign alias `campaign`: contacts.channel, set when a
 * strategy rule switched it, else the campaign's home channel (voice for
 * voice_ivr/voice_agent, sms for sms). The arguments are SQL aliases pasted
 * in (never user input). */
#define ECM_CONTACT_CHANNEL_SQL_OF(contact, campaign)                                              \
    "COALESCE(" contact ".channel, CASE WHEN " campaign ".channel = 'sms' THEN 'sms' ELSE "        \
    "'voice' END)"

/* The ids of the oldest queued contacts of campaign row `campaign` whose
 * next attempt is on `channel` ("voice" or "sms"), at most `limit` (an SQL
 * expression), oldest first: an index-only scan of contacts_queued_next
 * (db/028). A take then locks those rows with its full conditions: asked
 * directly for the oldest queued rows, the planner walked the primary key
 * past every contact taken so far. */
#define ECM_QUEUED_CANDIDATES_SQL(campaign, channel, limit)                                        \
    "SELECT k.id FROM contacts k WHERE k.campaign_id = " campaign ".id AND k.state = 'queued' "    \
    "AND " ECM_CONTACT_CHANNEL_SQL_OF("k", campaign) " = '" channel "' ORDER BY k.id LIMIT " limit

/* The first `limit` (an SQL expression) of those candidates (at most
 * `candidates` looked at) still queued on `channel`, each locked (SKIP
 * LOCKED) in id order: a subquery to put in a LATERAL join to campaign row
 * `campaign`, its rows the contacts' (alias q). Each candidate is fetched
 * and locked in a LATERAL subquery of its own, in the candidates' order, so
 * that the LIMIT stops the fetches at the last row taken: as `id IN
 * (candidates) ... ORDER BY id LIMIT`, PostgreSQL fetched and sorted every
 * candidate, twice to four times the rows taken, before it locked any
 * (docs/performance.md, session 27). The campaign is named in the lookup
 * so that any index the planner may pick for it finds the one row: on a
 * small table it chose contacts_queued_next on the id alone, a walk of the
 * whole index. */
/* clang-format off */
#define ECM_QUEUED_TAKE_SQL(campaign, channel, candidates, limit)                                  \
    "SELECT q.* FROM (" ECM_QUEUED_CANDIDATES_SQL(campaign, channel, candidates) ") k "            \
    "CROSS JOIN LATERAL (SELECT * FROM contacts q WHERE q.id = k.id "                              \
    "AND q.campaign_id = " campaign ".id AND q.state = 'queued' "                                  \
    "AND " ECM_CONTACT_CHANNEL_SQL_OF("q", campaign) " = '" channel "' "                           \
    "OFFSET 0 FOR UPDATE OF q SKIP LOCKED) q ORDER BY k.id LIMIT " limit
/* clang-format on */

/* ECM_CONTACT_CHANNEL_SQL_OF over "contacts ct JOIN campaigns c". */
#define ECM_CONTACT_CHANNEL_SQL ECM_CONTACT_CHANNEL_SQL_OF("ct", "c")

/* The attempts.channel (voice_ivr, voice_agent or sms) of the next attempt
 * of that contact: sms on the sms channel; on voice the campaign's own
 * voice_ivr/voice_agent, or voice_agent when the campaign's home channel is
 * sms (its calls go to a Cisco target's agents). */
/* clang-format off */
#define ECM_ATTEMPT_CHANNEL_SQL_OF(contact, campaign)                                              \
    "(CASE WHEN " ECM_CONTACT_CHANNEL_SQL_OF(contact, campaign) " = 'sms' THEN 'sms' "             \
    "WHEN " campaign ".channel = 'sms' THEN 'voice_agent' ELSE " campaign ".channel END)"
/* clang-format on */

/* Select-list columns of a take statement over "contacts ct JOIN campaigns
 * c", read by ecm_gate_judge(): the contact's numbers, zones and counters,
 * the campaign's window, bounds and version, per number 1 when it is blocked
 * on the contact's effective channel (ECM_CONTACT_CHANNEL_SQL;
 * ECM_DNC_BLOCKED_SQL: a dnc row of that channel, global or the campaign's,
 * derived from the consent ledger), else 0, as one string ("010"), what the
 * contact rules read: the contact's region, its numbers' regions, its
 * subject key, the campaign's region and the effective channel ('voice' or
 * 'sms'), and the numbers' types (on sms only a number that may be mobile
 * is picked).
 * The take statement should lock the contacts (FOR UPDATE OF ct SKIP
 * LOCKED) and share-lock the campaign (FOR SHARE OF c) with c.state =
 * 'active' in its WHERE: a pause then either waits for the batch being taken
 * to commit, or commits first and the batch takes nothing. */
#define ECM_GATE_COLUMNS                                                                           \
    "ct.id, ct.campaign_id, ct.attempts, ct.phone_index, ct.phones::text, ct.time_zone, "          \
    "ct.phone_zones::text, c.time_zone, c.call_window::text, "                                     \
    "(extract(epoch FROM c.start_at) * 1000)::bigint, "                                            \
    "(extract(epoch FROM c.end_at) * 1000)::bigint, c.updated_at::text, "                          \
    "array_to_string(ARRAY(SELECT CASE WHEN " ECM_DNC_BLOCKED_SQL(                                 \
        "u.p", "ct.campaign_id",                                                                   \
        ECM_CONTACT_CHANNEL_SQL) " THEN '1' ELSE '0' END "                                         \
                                 "FROM unnest(ct.phones) WITH ORDINALITY AS u (p, i) ORDER BY "    \
                                 "u.i), ''), "                                                     \
                                 "ct.region, ct.phone_regions::text, ct.subject_key, "             \
                                 "c.region, " ECM_CONTACT_CHANNEL_SQL ", ct.phone_types::text"

/* How many columns ECM_GATE_COLUMNS is. */
#define ECM_GATE_NCOLS 19

typedef struct {
    const char *topic_closed; /* ContactClosed events go here */
    const char *source;       /* CloudEvents source, "/ecm/feeder" */
    ecm_metrics *metrics;     /* may be NULL */
    ecm_legal_hours legal;    /* the deployment's legal hours */
    /* How long after the hand-off the contact may still be reached (a dialer
     * holding records before it dials): a GO needs the window open then too
     * (ecm_calling_check_margin). 0 for a hand-off that contacts at once. */
    int64_t margin_ms;
} ecm_gate_config;

typedef struct ecm_gate ecm_gate;

typedef enum {
    ECM_GATE_GO = 0,
    ECM_GATE_WAIT,
    ECM_GATE_CLOSE,
} ecm_gate_action;

typedef struct {
    int64_t contact_id, campaign_id;
    int attempts;    /* dispatches so far: a GO records attempt attempts + 1 */
    int phone_index; /* 0-based: the number used (GO) or to be used (WAIT) */
    char *phone;     /* GO: that number (owned; ecm_gate_rows_destroy) */
    ecm_gate_action action;
    int64_t until_ms;         /* WAIT: the next opening */
    Ecm__V1__Outcome outcome; /* CLOSE: DNC, EXPIRED, INVALID_NUMBER, or the caller's */
    /* WAIT, CLOSE EXPIRED: what held the contact back, in plain words (owned;
     * NULL for GO and the closes that need none), the rule's id (> 0; 0 the
     * window, -1 none) and its kind ("window", "hours", "day_off", "cap",
     * "quiet"; "" when none). */
    char *reason;
    int64_t rule_id;
    char held_by[16];
} ecm_gate_row;

/* A gate with its own window cache; cfg's strings must outlive it. NULL when
 * out of memory. One per thread (the cache is not shared). */
ecm_gate *ecm_gate_new(const ecm_gate_config *cfg) __attribute__((warn_unused_result));

/* Frees g. g may be NULL. */
void ecm_gate_destroy(ecm_gate *g);

/* The verdict for every row of take, whose ECM_GATE_COLUMNS start at column
 * first_col, at business time now_ms (ecm_clock_now_ms()): the number to use
 * (DNC), then the campaign's window and contact rules together
 * (ecm_calling_decide: hours, days off, blackouts, caps, quiet periods in
 * the contact's jurisdictions). Inside the caller's transaction on pg, it
 * reads the rules generation, any campaign's rules not cached at it, and
 * the earlier attempts the caps and quiet periods count (ecm_history, which
 * locks their subjects and numbers until the caller commits); a GO counts
 * for the contacts after it in the same batch. pg NULL judges the window
 * alone (no rules). Returns an array of PQntuples(take) rows in the same
 * order (ecm_gate_rows_destroy), or NULL when take has no rows, a statement
 * fails (the caller rolls back) or memory runs out. A campaign whose stored window
 * can't be used (edited by hand) is logged and its contacts WAIT five
 * minutes: nobody is called on a window nobody can read, nobody is lost.
 * The caller may turn a GO into a CLOSE with its own outcome (an SMS whose
 * text can't be rendered) before ecm_gate_apply(). */
ecm_gate_row *ecm_gate_judge(ecm_gate *g, ecm_pg *pg, const PGresult *take, int first_col,
                             int64_t now_ms) __attribute__((warn_unused_result));

/* What ecm_gate_judge_contact() judged a contact with, beyond its verdict. */
typedef struct {
    char channel[8]; /* the effective channel of its next attempt: "voice" or "sms" */
    /* The IANA zone its window and rules were read in (ecm_calling_zone on
     * the picked number); "" when the judgement ended before (every number
     * blocked, an unreadable window). */
    char zone[64];
} ecm_gate_detail;

/* The verdict for one contact, row `row` of r (its ECM_GATE_COLUMNS from
 * column first_col, read without locking anything), at business time
 * now_ms: the code ecm_gate_judge() runs for every row of a batch, the
 * number, the window and the rules with the contact's history, read here
 * without the history's locks. Nothing is written; the contact need not be
 * queued nor its campaign active (the verdict is what the gate would say
 * if it took the contact at now_ms). detail (may be NULL) gets what it was
 * judged with. Returns an array of one row (ecm_gate_rows_destroy(rows,
 * 1)), or NULL when row is not in r, a statement fails or memory runs out. */
ecm_gate_row *ecm_gate_judge_contact(ecm_gate *g, ecm_pg *pg, const PGresult *r, int row,
                                     int first_col, int64_t now_ms, ecm_gate_detail *detail)
    __attribute__((warn_unused_result));

/* ecm_gate_judge() for contacts whose attempt is already recorded (an SMS
 * left 'sending' by a crashed sender, about to be sent again): row i is
 * judged on its recorded number phone_index[i] (0-based; negative when that
 * number is no longer among the contact's, judged in the contact's or the
 * campaign's zone) instead of picking one, the DNC flags are not looked at
 * (the caller checks the recorded number itself) and a GO row's phone stays
 * NULL. The rules' hours and days apply; caps and quiet periods do not
 * (the attempt already counted when it was recorded). Returns the rows as
 * ecm_gate_judge() does: GO, WAIT with until_ms, or CLOSE EXPIRED.
 * ecm_gate_apply() must not be given their GO or WAIT rows (the contact is
 * out with its attempt, not queued). */
ecm_gate_row *ecm_gate_judge_recorded(ecm_gate *g, ecm_pg *pg, const PGresult *take, int first_col,
                                      const int *phone_index, int64_t now_ms);

/* Inside the caller's open transaction: WAIT rows to 'waiting' at their
 * next opening (phone_index kept for the retry), CLOSE rows closed with
 * their outcome and one ContactClosed event each, GO rows to 'dispatched'
 * with attempts + 1 and phone_index set to the number used. At most one
 * statement per action, found by id with sequential scans off (the
 * transaction's enable_seqscan is its default after). Returns 0, or -1
 * (the caller rolls back). */
int ecm_gate_apply(ecm_gate *g, ecm_pg *pg, const ecm_gate_row *rows, int n)
    __attribute__((warn_unused_result));

/* After the caller's commit: counts the rows the gate held back in
 * ecm_gate_deferred_total and ecm_gate_closed_total{outcome=...} (DNC,
 * EXPIRED, INVALID_NUMBER). Can't fail. */
void ecm_gate_count(ecm_gate *g, const ecm_gate_row *rows, int n);

/* Frees rows and their numbers. rows may be NULL. */
void ecm_gate_rows_destroy(ecm_gate_row *rows, int n);

#endif

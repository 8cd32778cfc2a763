/* Contact rules as data (issue 16): the rule sets a campaign picked and its
 * own blackout dates, evaluated for one contact at one business instant.
 *
 * A rule set belongs to a jurisdiction ("*", "US", "US-FL", "GB") and holds
 * rules of four kinds:
 *   hours    allowed local [start, end) on some weekdays; a set with hours
 *            rules (for the channel) is closed on every other local time
 *   day_off  a local calendar day with no contact at all
 *   cap      at most N attempts in any rolling window of W seconds
 *   quiet    no attempt for Q seconds after an attempt ended with an outcome
 * A rule has a channel (voice, sms or all); a cap or quiet rule a scope
 * (contact, subject, phone: which earlier attempts count).
 *
 * Which sets apply to a contact (the contract's semantics 2): of the picked
 * sets, those whose jurisdiction is "*", equals one of the contact's, or is
 * the country of one ("US" applies to a "US-FL" contact); a contact
 * jurisdiction that is a bare country ("US", state unknown) also takes the
 * picked sets of that country's subdivisions ("US-*"): ambiguity resolves to
 * the strictest rule that could apply. Applicable sets intersect.
 *
 * Local time is the contact's zone through ICU (ecm_window, ecm_zone): hours
 * are wall-clock times, as in ecm_window.h (on a spring-forward day a range
 * starting in the skipped hour opens when the clock jumps; in the repeated
 * hour a range is open on both passes); a day off closes the whole local
 * calendar day, 23, 24 or 25 hours long.
 *
 * The campaign's weekly window and the deployment's legal hours are not
 * here: the gate (ecm_gate) intersects them with this evaluator's answer.
 * Pure computation over memory; ecm_rules_load() and the cache read the
 * tables of db/016_contact_rules.sql. */
#ifndef ECM_RULES_H
#define ECM_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_pg.h"
#include "ecm_window.h"

typedef struct ecm_rules ecm_rules; /* the picked sets + blackouts of one campaign */

/* The channel of a contact about to be contacted, or of an earlier attempt
 * (attempts.channel voice_ivr / voice_agent are VOICE). As bits, they also
 * make a rule's channel: ECM_RULES_VOICE, ECM_RULES_SMS or
 * ECM_RULES_ANY_CHANNEL ('all'). */
typedef enum { ECM_RULES_VOICE = 1, ECM_RULES_SMS = 2 } ecm_rules_channel;
#define ECM_RULES_ANY_CHANNEL 3u

/* How an earlier attempt relates to the contact being judged (bits), and
 * the scope of a cap or quiet rule (one bit):
 *   SAME_CONTACT  an attempt of this contact (any of its numbers)
 *   SAME_SUBJECT  an attempt of another contact, any campaign, with the same
 *                 non-NULL subject_key (the contact's own attempts count for
 *                 a subject rule through SAME_CONTACT, so a contact without a
 *                 subject key falls back to its own attempts)
 *   SAME_PHONE    an attempt, any contact or campaign, to the number about to
 *                 be used (same phone_key), the contact's own included */
enum { ECM_RULES_SAME_CONTACT = 1, ECM_RULES_SAME_SUBJECT = 2, ECM_RULES_SAME_PHONE = 4 };

/* How far ahead ecm_rules_allows() looks for an instant every rule allows. */
#define ECM_RULES_HORIZON_MS (400LL * 24 * 3600 * 1000)
/* Jurisdictions a contact can have (its own, its number's, or the campaign's). */
#define ECM_RULES_MAX_JURISDICTIONS 2
/* Longest jurisdiction code ("US-FL", "*"): 2 + 1 + 3. */
#define ECM_RULES_JURISDICTION_MAX 7

typedef struct {
    int64_t dispatched_ms, result_ms; /* result_ms 0: none yet */
    const char *outcome;              /* ECM outcome name, NULL while none */
    ecm_rules_channel channel;
    unsigned same; /* ECM_RULES_SAME_* bits */
} ecm_rules_attempt;

typedef struct {
    const char *zone;                 /* IANA zone the contact is called in (ecm_calling_zone) */
    const char *const *jurisdictions; /* ecm_rules_jurisdictions() */
    size_t njurisdictions;
    ecm_rules_channel channel;
    const ecm_rules_attempt *history; /* earlier attempts, any order */
    size_t nhistory;
    int64_t now_ms;    /* business instant of the dispatch */
    int64_t margin_ms; /* >= 0: hours and days off must allow now + margin too */
} ecm_rules_in;

typedef struct {
    int64_t rule_id;                    /* 0 for a campaign blackout */
    const char *set_name, *kind, *says; /* owned by the ecm_rules; set_name "campaign" for
                                           a blackout, says its reason */
    int64_t until_ms;                   /* earliest instant every rule allows, or ECM_WINDOW_NONE */
    char why[320];                      /* one line, valid UTF-8: what blocks, and until when */
} ecm_rules_block;

/* ---- building ------------------------------------------------------------ */

/* An empty rule collection (no sets: everything allowed). NULL when out of
 * memory. */
ecm_rules *ecm_rules_new(void) __attribute__((warn_unused_result));

/* Frees r and all it owns. r may be NULL. */
void ecm_rules_destroy(ecm_rules *r);

/* Adds rule set set_id (unique in r) named name for jurisdiction ("*",
 * "US", "US-FL": ecm_rules_jurisdiction_valid). Returns 0, or -1 with a
 * reason in errstr (r unchanged) on a bad or duplicate argument or out of
 * memory. */
int ecm_rules_add_set(ecm_rules *r, int64_t set_id, const char *name, const char *jurisdiction,
                      char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Adds hours rule rule_id to set set_id: local minutes [start_min,
 * end_min), 0 <= start_min < end_min <= 1440, on the weekdays whose bit is
 * set in wdays (bit 0 Sunday .. bit 6 Saturday, at least one), for the
 * channels bits (ECM_RULES_VOICE, _SMS or ECM_RULES_ANY_CHANNEL). says is
 * the rule's text, copied. The add_* functions return 0, or -1 with a
 * reason in errstr (r unchanged) when the set is unknown, an argument is
 * out of range, or memory runs out. */
int ecm_rules_add_hours(ecm_rules *r, int64_t set_id, int64_t rule_id, const char *says,
                        unsigned channels, unsigned wdays, int start_min, int end_min, char *errstr,
                        size_t errstr_size) __attribute__((warn_unused_result));

/* Adds day_off rule rule_id to set set_id: local calendar day year-month-day
 * (proleptic Gregorian, year 1..9999) closed. */
int ecm_rules_add_day_off(ecm_rules *r, int64_t set_id, int64_t rule_id, const char *says,
                          unsigned channels, int year, int month, int day, char *errstr,
                          size_t errstr_size) __attribute__((warn_unused_result));

/* Adds cap rule rule_id to set set_id: at most max_attempts (> 0) attempts
 * in scope (one ECM_RULES_SAME_* bit) in any window of window_s (> 0, at
 * most 10 years) seconds. */
int ecm_rules_add_cap(ecm_rules *r, int64_t set_id, int64_t rule_id, const char *says,
                      unsigned channels, unsigned scope, int max_attempts, int64_t window_s,
                      char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Adds quiet rule rule_id to set set_id: no attempt for quiet_s (> 0, at
 * most 10 years) seconds after an attempt in scope ended with outcome
 * after_outcome (copied), counted from its result (its dispatch when it has
 * no result time). */
int ecm_rules_add_quiet(ecm_rules *r, int64_t set_id, int64_t rule_id, const char *says,
                        unsigned channels, unsigned scope, const char *after_outcome,
                        int64_t quiet_s, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Adds a campaign blackout: local calendar day year-month-day closed on
 * every channel, whatever the contact's jurisdiction. reason is copied
 * (NULL: ""). */
int ecm_rules_add_blackout(ecm_rules *r, int year, int month, int day, const char *reason,
                           char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* ---- vocabulary ---------------------------------------------------------- */

/* 1 when s is "*", a country "US" or a subdivision "US-FL" (upper-case
 * letters, digits after the dash, 1..3 of them), else 0. */
int ecm_rules_jurisdiction_valid(const char *s);

/* Parses a rule's channel "voice", "sms" or "all" to channel bits. Returns 0,
 * or -1 (*out untouched). */
int ecm_rules_channel_parse(const char *s, unsigned *out) __attribute__((warn_unused_result));

/* Parses a scope "contact", "subject" or "phone" to its ECM_RULES_SAME_* bit.
 * Returns 0, or -1 (*out untouched). */
int ecm_rules_scope_parse(const char *s, unsigned *out) __attribute__((warn_unused_result));

/* The jurisdictions of a contact on one of its numbers (semantics 1): the
 * contact's explicit region when set; plus the number's region when set and
 * different; the campaign's region when neither is set. NULL and "" are
 * unset. Writes up to ECM_RULES_MAX_JURISDICTIONS pointers to the arguments
 * into out and returns how many. Can't fail. */
size_t ecm_rules_jurisdictions(const char *contact_region, const char *phone_region,
                               const char *campaign_region,
                               const char *out[ECM_RULES_MAX_JURISDICTIONS]);

/* 1 when a set of jurisdiction set_jurisdiction applies to a contact with
 * these jurisdictions (semantics 2, above), else 0. Can't fail. */
int ecm_rules_set_applies(const char *set_jurisdiction, const char *const *jurisdictions,
                          size_t njurisdictions);

/* ---- evaluating ---------------------------------------------------------- */

/* Whether the rules of r allow contacting on in->channel at in->now_ms: 1
 * allowed (hours and days off also at now + margin); 0 blocked, with *b
 * naming the rule that blocks now (of several, the one that holds longest)
 * and until_ms the earliest instant >= now at which every rule allows (the
 * iteration stops at ECM_RULES_HORIZON_MS: then ECM_WINDOW_NONE); -1 bad
 * input (unknown zone, channel, NULL pointers, negative margin), *b then
 * untouched. b may be NULL when only the answer matters. Can't fail
 * otherwise; r is not changed (one r may serve several threads). */
int ecm_rules_allows(const ecm_rules *r, const ecm_rules_in *in, ecm_rules_block *b);

/* The lookback the history must cover: the longest cap window or quiet
 * period of r (s), 0 without caps and quiet rules. Can't fail. */
int64_t ecm_rules_lookback_s(const ecm_rules *r);

/* Which earlier attempts matter for a contact with these jurisdictions on
 * channel: scopes (ECM_RULES_SAME_* bits; a subject rule needs SAME_SUBJECT
 * and SAME_CONTACT), channels (ECM_RULES_* bits of the attempts counted),
 * lookback_s (fetch attempts dispatched, or with a result, within it), and
 * outcomes_only (1 when only quiet rules need history: only attempts with
 * one of their outcomes matter). All zero: fetch nothing. */
typedef struct {
    unsigned scopes;
    unsigned channels;
    int64_t lookback_s;
    int outcomes_only;
} ecm_rules_need;

/* Fills *need for these jurisdictions and channel. Can't fail. */
void ecm_rules_history_need(const ecm_rules *r, const char *const *jurisdictions,
                            size_t njurisdictions, ecm_rules_channel channel, ecm_rules_need *need);

/* Number of sets in r. Can't fail. */
size_t ecm_rules_nsets(const ecm_rules *r);

/* ---- from PostgreSQL (ecm_rules_pg.c) ------------------------------------ */

/* The rules of campaign_id: the sets it picked (campaign_rule_sets) with
 * their rules, and its blackouts. Returns 0 and a new ecm_rules in *out; -1
 * with *out NULL when a statement fails (logged) or a stored row cannot be
 * used (logged with its id). Three statements, no transaction of its own. */
int ecm_rules_load(ecm_pg *pg, int64_t campaign_id, ecm_rules **out)
    __attribute__((warn_unused_result));

/* rules_generation.n: changes with every change to the rule tables. Returns
 * 0 and *out, or -1 (logged). */
int ecm_rules_generation(ecm_pg *pg, int64_t *out) __attribute__((warn_unused_result));

/* Rules of campaigns, loaded once per rules generation. One per thread. */
typedef struct ecm_rules_cache ecm_rules_cache;

/* A new empty cache. NULL when out of memory. */
ecm_rules_cache *ecm_rules_cache_new(void) __attribute__((warn_unused_result));

/* Frees c and every ecm_rules in it. c may be NULL. */
void ecm_rules_cache_destroy(ecm_rules_cache *c);

/* The rules of campaign_id at generation (ecm_rules_generation()), loaded
 * when the cache has none or has them from another generation. The pointer
 * stays valid until a call for the same campaign with another generation,
 * a call for a campaign not cached while 1024 others are (the least
 * recently used is dropped), or ecm_rules_cache_destroy(). NULL when
 * loading fails (logged; the caller dispatches nothing for that campaign
 * and retries later). */
const ecm_rules *ecm_rules_cache_get(ecm_rules_cache *c, ecm_pg *pg, int64_t campaign_id,
                                     int64_t generation);

#endif

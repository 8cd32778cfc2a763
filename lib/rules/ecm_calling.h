/* Calling rules at the moment of contact, shared by every service that
 * dispatches (feeder, sms) or schedules (strategy): the deployment's legal
 * hours, a campaign's weekly window and bounds, the zone a contact is called
 * in, which of its numbers may be used, and the verdict for one contact now.
 *
 * Zone of a contact on its phone i: the contact's own time_zone, else the
 * zone of that number's region when it has exactly one (contacts.phone_zones,
 * filled at upload from libphonenumber + ICU), else the campaign's. */
#ifndef ECM_CALLING_H
#define ECM_CALLING_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_config.h"
#include "ecm_rules.h"
#include "ecm_window.h"

/* ECM_LEGAL_HOURS: "HH:MM-HH:MM" local, applied in every zone. */
#define ECM_CALLING_LEGAL_ENV "ECM_LEGAL_HOURS"
#define ECM_CALLING_LEGAL_DEFAULT "08:00-21:00"

/* A config table entry for the legal hours, stored as a string in member
 * of type (parse it again with ecm_calling_legal_parse). */
#define ECM_CALLING_CONFIG_ENTRY(type, member)                                                     \
    {                                                                                              \
        ECM_CALLING_LEGAL_ENV, ECM_CFG_STRING, offsetof(type, member), ECM_CALLING_LEGAL_DEFAULT,  \
            0, -1,                                                                                 \
            "legal calling hours at the called party, local time in every zone (TCPA: "            \
            "08:00-21:00)",                                                                        \
            ecm_calling_validate_legal, 0                                                          \
    }

typedef struct {
    int start_min, end_min; /* local minutes, [start, end) */
} ecm_legal_hours;

/* Parses "08:00-21:00" (start before end, "24:00" allowed as the end).
 * Returns 0 and *out, or -1 with a reason in errstr (*out untouched). */
int ecm_calling_legal_parse(const char *s, ecm_legal_hours *out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* ecm_cfg_validator for ECM_CALLING_CONFIG_ENTRY. */
int ecm_calling_validate_legal(const char *value, char *errstr, size_t errstr_size);

/* A campaign's window from its row: call_window JSON text (NULL or "" is
 * every day, all day, so only the legal hours restrict it), start_at and
 * end_at as PostgreSQL or RFC 3339 text (NULL or "": open side), the legal
 * hours. Returns 0 and a new window in *out (ecm_window_destroy), or -1
 * with a reason in errstr and *out NULL. */
int ecm_calling_window(const char *window_json, const char *start_at, const char *end_at,
                       const ecm_legal_hours *legal, ecm_window **out, char *errstr,
                       size_t errstr_size) __attribute__((warn_unused_result));

/* Windows of campaigns, built once per version of the campaign row (pass
 * campaigns.updated_at as text: any edit changes it). One per thread. */
typedef struct ecm_calling_cache ecm_calling_cache;

/* A new empty cache using these legal hours. NULL when out of memory. */
ecm_calling_cache *ecm_calling_cache_new(const ecm_legal_hours *legal)
    __attribute__((warn_unused_result));

/* Frees c and its windows. c may be NULL. */
void ecm_calling_cache_destroy(ecm_calling_cache *c);

/* The window of campaign_id at version, built from the row values when the
 * cache has none or an older version. The pointer stays valid until the next
 * call for the same campaign or ecm_calling_cache_destroy(). NULL with a reason
 * in errstr when the stored window can't be used (a row edited by hand) or
 * memory runs out: the caller then dispatches nothing for that campaign and
 * says so. */
const ecm_window *ecm_calling_cache_get(ecm_calling_cache *c, int64_t campaign_id,
                                        const char *version, const char *window_json,
                                        const char *start_at, const char *end_at, char *errstr,
                                        size_t errstr_size);

/* The zone a contact is called in on one of its numbers: the first of
 * contact_tz, phone_zone, campaign_tz that is a known zone (NULL and "" are
 * skipped); "UTC" when none is (never happens with validated rows). Returns
 * one of the arguments or the literal "UTC". Can't fail. */
const char *ecm_calling_zone(const char *contact_tz, const char *phone_zone,
                             const char *campaign_tz);

/* Which number the next attempt uses: the first of the n numbers, starting
 * at from (wrapping around), whose blocked[i] is 0 (not on a DNC list).
 * from outside [0, n) starts at 0. Returns its index, or -1 when every
 * number is blocked or n is 0: close the contact DNC. Can't fail. */
int ecm_calling_pick_phone(const int *blocked, int n, int from);

typedef enum {
    ECM_CALLING_GO = 0, /* the window is open in the contact's zone now */
    ECM_CALLING_WAIT,   /* closed now: wait until *until */
    ECM_CALLING_EXPIRE, /* no opening before the campaign's end_at: close EXPIRED */
} ecm_calling_verdict;

/* The verdict for a contact due at now_ms in zone: GO, WAIT with the next
 * opening in *until, or EXPIRE. An unknown zone (rows are validated, so
 * only by hand) is treated as UTC so the contact is not lost; a window that
 * never opens within the legal hours (refused by the API, so only by hand)
 * gives WAIT for a day rather than closing anybody. Can't fail. */
ecm_calling_verdict ecm_calling_check(const ecm_window *w, const char *zone, int64_t now_ms,
                                      int64_t *until);

/* ecm_calling_check() for a hand-off that may reach the called party up to
 * margin_ms later (a dialer that holds records before it dials): GO only
 * when the window is open both now and at now + margin_ms; when it closes
 * in between, WAIT for the first opening after now + margin_ms, or EXPIRE
 * when there is none. A window that closes and reopens within the margin is
 * not seen: keep the margin shorter than any break in a window. margin_ms 0
 * is ecm_calling_check(). Can't fail. */
ecm_calling_verdict ecm_calling_check_margin(const ecm_window *w, const char *zone, int64_t now_ms,
                                             int64_t margin_ms, int64_t *until);

/* What ecm_calling_decide() found. */
typedef struct {
    ecm_calling_verdict verdict;
    int64_t until_ms; /* WAIT: the earliest instant everything allows */
    /* What holds the contact back longest: the rule's id (> 0; 0 for a
     * campaign blackout), 0 for the campaign's window or the legal hours,
     * -1 when nothing does (GO). */
    int64_t rule_id;
    char kind[16]; /* "window", or the rule's kind (hours, day_off, cap, quiet) */
    char why[400]; /* the same in plain words; "" for GO */
} ecm_calling_answer;

/* The one decision before every dispatch and every scheduled retry: the
 * earliest instant at or after now_ms when the campaign's window w (NULL:
 * none; with the legal hours and the campaign's bounds) is open in
 * in->zone for margin_ms more, and the campaign's rules r (NULL: none)
 * allow the contact described by in (jurisdictions, channel, history; its
 * now_ms and margin_ms are set here). GO when that is now_ms itself; WAIT
 * with until_ms; EXPIRE when there is none before end_ms (0: no end) or
 * within the rules' horizon. The answer names what holds the contact
 * longest on the way there (a holiday rather than the night before it). Bounded: after 64 steps
 * that each moved the instant forward, WAIT until the last one reached (the
 * contact is judged again then). Can't fail. */
void ecm_calling_decide(const ecm_window *w, const ecm_rules *r, ecm_rules_in *in, int64_t now_ms,
                        int64_t margin_ms, int64_t end_ms, ecm_calling_answer *out);

#endif

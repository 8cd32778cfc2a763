/* A strategy's dry run: the attempts one sample contact would get for a
 * given sequence of outcomes, computed by the decision the strategy service
 * makes on every result (ecm_decide) and the calling decision the
 * dispatchers make before every dispatch (ecm_calling_decide), never a copy
 * of either. Pure (no DB, no clock): the caller reads the strategy and the
 * campaign and passes them in.
 *
 * The projection, step by step:
 *  - The first attempt goes at the first instant at or after start_ms that
 *    the campaign's window, the legal hours and the contact rules allow
 *    (ecm_calling_decide, as the dispatcher judges a queued contact), on
 *    phone 0 and the campaign's channel. None before end_at: no attempt.
 *  - Each attempt's result is assumed to arrive at its dispatch instant
 *    (a call's length is not known in advance; the strategy's delays are
 *    minutes to days, so this moves nothing by more than a call).
 *  - The result is decided by ecm_decide with what the strategy service
 *    would read from the database at that moment: the counts of the
 *    projected attempts (all in one round), their dispatch times for the
 *    daily cap, and as the contact rules' history the projected attempts
 *    (same contact; same phone when on the number about to be used), so
 *    rule caps and quiet periods count the projected attempts.
 *  - A retry is dispatched at the decided time on the decided channel and
 *    phone; the dispatcher's own check at that instant agrees, since the
 *    decision placed it where ecm_calling_decide allows.
 *  - A switch to sms needs a number that may be mobile (the first one is
 *    used) and a campaign that can send SMS; to voice a campaign with a
 *    Cisco target. DNC lists are not consulted: the dry run is about the
 *    strategy, not about a real number. */
#ifndef ECM_DRYRUN_H
#define ECM_DRYRUN_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_decide.h"
#include "ecm_rules.h"
#include "ecm_window.h"
#include "ecm/v1/events.pb-c.h"

/* The most outcomes one dry run takes (a strategy's max_attempts is at most
 * 1000, but a screen of projected attempts is read, not scrolled). */
#define ECM_DRYRUN_MAX_STEPS 100
/* The most phone numbers of a contact (contacts.phones holds 10). */
#define ECM_DRYRUN_MAX_PHONES 10

/* One strategy_rules row. */
typedef struct {
    Ecm__V1__Outcome outcome;
    ecm_decide_rule rule;
} ecm_dryrun_rule;

typedef struct {
    /* the strategy */
    int max_attempts;         /* > 0 */
    int max_attempts_per_day; /* > 0 */
    int max_voice_attempts;   /* >= 0, 0: no cap */
    int max_sms_attempts;     /* >= 0, 0: no cap */
    const ecm_dryrun_rule *rules;
    size_t nrules;

    /* the campaign */
    ecm_decide_channel channel; /* of the first attempt */
    const ecm_window *window;   /* weekly window, legal hours, bounds; NULL: none */
    const ecm_rules *rules_set; /* the campaign's contact rules; NULL: none */
    const char *campaign_tz;
    const char *campaign_region; /* NULL or "" */
    int has_voice, has_sms;      /* may the campaign switch to this channel */
    int64_t end_at_ms;           /* 0: no end */

    /* the sample contact */
    const char *contact_tz;  /* the zone it is called in; NULL: the campaign's */
    const char *region;      /* its jurisdiction ("US-FL"); NULL or "" */
    int phone_count;         /* 1..ECM_DRYRUN_MAX_PHONES */
    const int *phone_mobile; /* phone_count flags: the number may be mobile; NULL: all may */

    int64_t start_ms; /* when the contact becomes due (business time) */
    const Ecm__V1__Outcome *outcomes;
    size_t noutcomes; /* 1..ECM_DRYRUN_MAX_STEPS */
} ecm_dryrun_in;

/* Why a time is later than asked: "" (not moved), "window" (the campaign's
 * window, the legal hours or a campaign blackout), "rule" (a contact rule),
 * "daily_cap" (the strategy's attempts per local day), "end" (nothing
 * before the campaign's end). */
typedef struct {
    char kind[12];
    int64_t rule_id; /* kind "rule": the rule's id; else -1 */
    char why[400];   /* plain words; "" when not moved */
} ecm_dryrun_moved;

typedef struct {
    int attempt; /* 1-based */
    ecm_decide_channel channel;
    int phone_index;          /* 0-based */
    int64_t at_ms;            /* dispatch instant, UTC */
    const char *zone;         /* the zone it is called in (points into in or static) */
    Ecm__V1__Outcome outcome; /* assumed */

    /* the decision after it */
    ecm_decide_action action;
    Ecm__V1__Outcome close_outcome;  /* CLOSE */
    int64_t next_at_ms;              /* RETRY */
    ecm_decide_channel next_channel; /* RETRY */
    int next_phone_index;            /* RETRY */
    const char *next_zone;           /* RETRY: the zone it is called in */
    int switched;                    /* RETRY on another channel */
    int64_t asked_ms;                /* RETRY: when the rule asked for (result + delay) */
    ecm_dryrun_moved moved;          /* RETRY later than asked, or CLOSE EXPIRED: why */
    const char *reason;              /* static: which rule of ecm_decide.h decided */
    char channel_note[160];          /* a switch skipped: why */
} ecm_dryrun_step;

typedef struct {
    int dispatched; /* 0: no first attempt before end_at (steps empty) */
    int64_t first_asked_ms;
    ecm_dryrun_moved first_moved; /* the first attempt later than start_ms: why */
    size_t nsteps;                /* <= noutcomes: a close ends the run */
    ecm_dryrun_step steps[ECM_DRYRUN_MAX_STEPS];
} ecm_dryrun_out;

/* Projects the attempts of in (above) into *out. Returns 0, or -1 with a
 * reason in errstr when an input is out of range (no outcomes or too many,
 * phone_count outside 1..ECM_DRYRUN_MAX_PHONES, caps not positive) or memory
 * runs out; *out is then unspecified. */
int ecm_dryrun_run(const ecm_dryrun_in *in, ecm_dryrun_out *out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Formats utc_ms as the wall-clock time in zone with its offset,
 * "2027-04-05T09:00:00+10:00", into out (at least 26 bytes). Returns 0, or
 * -1 when the zone is unknown (out then holds ""). */
int ecm_dryrun_local_time(const char *zone, int64_t utc_ms, char *out, size_t out_size)
    __attribute__((warn_unused_result));

#endif

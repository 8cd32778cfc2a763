/* The strategy decision: what happens to a contact after one result. Pure (no
 * DB, no clock): the caller reads the strategy, the rule, the contact's
 * counters and the campaign's calling window inside its transaction and
 * passes them in, so the rules can be tested exhaustively without a
 * database. Time-zone arithmetic goes through lib/ecm_window (ICU).
 * The strategy service decides every result with it (st_results.c) and
 * the gateway's strategy dry run projects attempts with it (ecm_dryrun.h):
 * one copy, so a dry run can't disagree with what the service does.
 *
 * Rules, in the order they are applied:
 *  1. counted_attempts (out) = counted attempts so far + 1 when the result
 *     counts as an attempt (NOT_ATTEMPTED does not), else unchanged. It is
 *     returned with either decision, so the caller always stores it.
 *  2. No rule for the outcome -> close with the outcome.
 *  3. Rule action close -> close with the outcome.
 *  4. counted_attempts (after this one) >= strategy max_attempts -> close
 *     with the outcome (the final outcome is the last one, not MAX_ATTEMPTS).
 *  4a. Channel switch (issue 17). The channels are voice and sms; the attempt
 *     that ended was on `channel`; per-channel counts are the counted
 *     attempts of the round (attempt >= round_first_attempt) on that channel,
 *     this one included when it counts. A switch to X is asked for when the
 *     rule's switch_to is X, X differs from `channel`, and the attempts of
 *     the round that ended with this outcome (this one included) are >=
 *     switch_after. A switch to X is possible when switch_blocked is NULL
 *     (the caller's checks: the campaign can use X; for sms a number that
 *     may be mobile and is not on the SMS do-not-contact list) and the
 *     round's attempts on X are below X's cap (max_voice_attempts /
 *     max_sms_attempts, 0: none). Asked and possible -> RETRY on X (steps
 *     7-9 with the rule's delay, in X's rules channel): for sms on
 *     switch_phone_index, for voice on the same phone_index. Rules 5 and 6
 *     and the cap of `channel` are not applied (the contact leaves the
 *     channel). Asked and not possible -> skipped: channel_note says why
 *     ("SMS step skipped: no mobile number", "... SMS cap of 2 reached"),
 *     and the rules below apply on the same channel.
 *  4b. Cap of `channel` reached (its count after this attempt >= its cap)
 *     -> when the rule names another channel X in switch_to and a switch to
 *     X is possible, RETRY on X as in 4a even before switch_after (the
 *     contact can't stay where it is and the rule says where it may go);
 *     otherwise close with the outcome ("<channel> cap reached"). A skipped
 *     switch here also fills channel_note.
 *     Steps 4a-4b come after 3 (a close rule never switches) and 4 (the
 *     strategy's max_attempts counts every channel).
 *  5. Rule without next_phone: attempts of the round that ended with this
 *     outcome, this one included, >= the rule's max_attempts -> close with
 *     the outcome (a recycled contact starts a new round: its caps count
 *     again from round_first_attempt; the caller passes the round's counts).
 *     Otherwise the retry uses the same phone_index.
 *  6. Rule with next_phone: its max_attempts counts per phone. Attempts on
 *     the current phone that ended with this outcome, this one included,
 *     >= max_attempts -> the retry moves to phone_index + 1, or, when there
 *     is no further phone (phone_index + 1 >= phone_count), close with the
 *     outcome. Below the cap the retry stays on the same phone. (With the
 *     usual max_attempts 1 every such outcome moves to the next phone; a
 *     cap over all phones would close at once and make next_phone
 *     meaningless, as the Default strategy's INVALID_NUMBER and WRONG_PARTY
 *     rules, max 1 with next_phone, show.) A number on a DNC list is not
 *     skipped here: the dispatcher checks DNC at the moment of dispatch.
 *  7. Next time T = now + delay_seconds; for CALLBACK_REQUESTED with a
 *     callback_at later than now, T = callback_at instead. For any other
 *     outcome a callback_at later than now (a time the customer gave
 *     through the API while the attempt was out, and then the call ended
 *     otherwise) is a floor: T = the later of the two, so neither the
 *     customer's time nor the rule's pause is cut short. Rules 2-6 come
 *     first: an outcome that closes the contact closes it, whatever time
 *     was asked for. A callback is not an exemption from the calling
 *     rules: a callback asked for 22:00 goes through step 8 like any retry
 *     and waits for the morning.
 *  8. Zone, window and daily cap, repeated until T stands:
 *     - zone: the zone of the next attempt's phone, ecm_calling_zone(
 *       contact_tz, phone_zones[next phone], campaign_tz).
 *     - window step: T moves to the first instant at or after T when the
 *       campaign's window (weekly ranges cut by the legal hours, bounded by
 *       start_at/end_at) is open in that zone and the campaign's contact
 *       rules allow the contact (hours and days off of its jurisdictions,
 *       blackout dates, caps, quiet periods): ecm_calling_decide, the same
 *       decision the dispatchers make. None before end_at -> close EXPIRED.
 *     - daily cap, per the contact's LOCAL calendar day in that zone
 *       (ecm_window_local_day: 23, 24 or 25 hours across DST): when the
 *       counted attempts dispatched inside the local day that holds T (this
 *       one included when it counts) are >= max_attempts_per_day, T moves to
 *       the start of the next local day and the window step runs again. So
 *       "3 a day" means Monday's three, then Tuesday at the window's
 *       opening, not 24 h after Monday's first call. Dispatch times are
 *       business time (attempts.dispatched_at).
 *     With no window (NULL: the campaign's stored window can't be used) and
 *     no rules the window step is skipped; the dispatcher holds the
 *     contact anyway.
 *  9. end_at set and T > end_at -> close EXPIRED. Otherwise retry at T.
 */
#ifndef ECM_DECIDE_H
#define ECM_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_rules.h"
#include "ecm_window.h"
#include "ecm/v1/events.pb-c.h"

#define ECM_DECIDE_DAY_MS ((int64_t)24 * 3600 * 1000)
/* How far back the caller must look for dispatches (counted_dispatch_ms):
 * the local day holding T starts at most 26 h before now, wherever the
 * contact lives; two days leave room. */
#define ECM_DECIDE_DAY_LOOKBACK_MS (2 * ECM_DECIDE_DAY_MS)

/* The channel of an attempt as the strategy sees it (the campaign's
 * voice_ivr/voice_agent are both voice). */
typedef enum {
    ECM_DECIDE_CH_NONE = -1, /* rule switch_to: no switch */
    ECM_DECIDE_CH_VOICE = 0,
    ECM_DECIDE_CH_SMS = 1,
} ecm_decide_channel;

/* "voice", "sms", or "" for ECM_DECIDE_CH_NONE. Can't fail. */
const char *ecm_decide_channel_name(ecm_decide_channel ch);

/* The contact rules' channel of ch: ECM_RULES_SMS for sms, else
 * ECM_RULES_VOICE. Can't fail. */
ecm_rules_channel ecm_decide_rules_channel(ecm_decide_channel ch);

typedef enum {
    ECM_DECIDE_RULE_NONE = 0, /* the strategy has no rule for this outcome */
    ECM_DECIDE_RULE_RETRY,
    ECM_DECIDE_RULE_CLOSE,
} ecm_decide_rule_action;

/* One strategy_rules row (action ECM_DECIDE_RULE_NONE when there is none). */
typedef struct {
    ecm_decide_rule_action action;
    int delay_seconds;            /* >= 0 */
    int max_attempts;             /* > 0: attempts that may end with this outcome */
    int next_phone;               /* 1: the next attempt uses the next phone */
    ecm_decide_channel switch_to; /* ECM_DECIDE_CH_NONE: the rule never switches (step 4a) */
    int switch_after;             /* >= 1: attempts with this outcome before the switch */
} ecm_decide_rule;

/* Where and when the contact may be called. */
typedef struct {
    const ecm_window *window; /* the campaign's; NULL: no window step */
    const char *contact_tz;   /* contacts.time_zone; NULL or "" when none */
    const char *campaign_tz;  /* campaigns.time_zone */
    /* contacts.phone_zones: phone_count entries (NULL or "" where the
     * number's region has no single zone), or NULL for none */
    const char *const *phone_zones;
    /* The campaign's contact rules (NULL: none) and what they read of the
     * contact: its jurisdictions on the next attempt's number, the channel
     * and the earlier attempts in scope (ecm_history). */
    const ecm_rules *rules;
    const char *const *jurisdictions;
    size_t njurisdictions;
    ecm_rules_channel channel;
    const ecm_rules_attempt *history;
    size_t nhistory;
} ecm_decide_calling;

typedef struct {
    /* strategies row */
    int max_attempts;         /* > 0: counted attempts in all */
    int max_attempts_per_day; /* > 0: counted attempts in one local day */
    int max_voice_attempts;   /* >= 0: counted voice attempts of the round; 0: no cap */
    int max_sms_attempts;     /* >= 0: counted SMS attempts of the round; 0: no cap */
    ecm_decide_rule rule;

    /* channels (steps 4a-4b) */
    ecm_decide_channel channel; /* the channel of the attempt that ended */
    /* counted attempts of the round on each channel (index ecm_decide_channel),
     * this one excluded */
    int channel_attempts[2];
    /* rule.switch_to's feasibility as the caller found it (the cap aside):
     * NULL when possible, else why not in a few plain words ("no mobile
     * number", "campaign has no SMS template"); static or outliving out */
    const char *switch_blocked;
    int switch_phone_index; /* 0-based: the number an SMS after a switch goes to */

    /* the contact, before this result */
    int counted_attempts;       /* attempts that counted so far, this one excluded */
    int outcome_attempts;       /* earlier attempts of the round that ended with this outcome */
    int phone_outcome_attempts; /* of those, the ones on the current phone */
    int phone_index;            /* 0-based phone of this attempt */
    int phone_count;            /* number of phones of the contact */
    /* dispatch times (business time, UTC ms, any order) of the contact's
     * counted attempts dispatched since now_ms - ECM_DECIDE_DAY_LOOKBACK_MS or
     * later, this one included when it counts */
    const int64_t *counted_dispatch_ms;
    size_t counted_dispatches;

    ecm_decide_calling calling;

    /* the result */
    Ecm__V1__Outcome outcome;
    int counts_as_attempt;
    int64_t callback_at_ms; /* 0: none */

    int64_t now_ms;    /* business time (ecm_clock_now_ms) */
    int64_t end_at_ms; /* campaign end_at; 0: no end */
} ecm_decide_in;

typedef enum {
    ECM_DECIDE_CLOSE = 0,
    ECM_DECIDE_RETRY,
} ecm_decide_action;

typedef struct {
    ecm_decide_action action;
    Ecm__V1__Outcome outcome;   /* CLOSE: the final outcome */
    int64_t next_attempt_at_ms; /* RETRY: not before this time */
    int phone_index;            /* RETRY: phone of the next attempt */
    int counted_attempts;       /* both: the contact's new counted_attempts */
    ecm_decide_channel channel; /* RETRY: channel of the next attempt */
    int switched;               /* RETRY: 1 when channel differs from the one that ended */
    /* a switch asked for and skipped (step 4a/4b): its channel (ECM_DECIDE_CH_NONE:
     * none) and why, in plain words, for contacts.channel_note ("" none) */
    ecm_decide_channel skipped_to;
    char channel_note[160];
    const char *zone;   /* RETRY: zone of the next attempt (points into in or static) */
    const char *reason; /* static text for logs: which rule decided */
    /* RETRY placed later than asked, or CLOSE EXPIRED by step 8: what held
     * the contact first (the window, 0, or a contact rule's id) in plain
     * words, for contacts.hold_reason; held_rule_id -1 and "" otherwise. */
    int64_t held_rule_id;
    char held_why[400];
} ecm_decide_out;

/* Applies the rules above to in and writes the decision to out. Can't fail. */
void ecm_decide(const ecm_decide_in *in, ecm_decide_out *out);

/* The channel ecm_decide(in) would retry on when it retries (steps 4a-4b
 * only; later steps may still close): a caller reads the contact rules of
 * that channel before deciding. Reads what ecm_decide reads. Can't fail. */
ecm_decide_channel ecm_decide_next_channel(const ecm_decide_in *in);

/* Returns 1 when ecm_decide(in) may read the contact's history
 * (outcome_attempts, phone_outcome_attempts, counted_dispatch_ms,
 * channel_attempts, switch_blocked, switch_phone_index), 0 when
 * the decision is a close that those fields can't change, so a caller may
 * leave them unset and spare their queries. Reads only the other fields. */
int ecm_decide_needs_history(const ecm_decide_in *in);

#endif

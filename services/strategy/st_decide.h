/* The strategy decision: what happens to a contact after one result. Pure (no
 * DB, no clock): the caller reads the strategy, the rule and the contact's
 * counters inside its transaction and passes them in, so the rules can be
 * tested exhaustively without a database.
 *
 * Rules, in the order they are applied:
 *  1. counted_attempts (out) = counted attempts so far + 1 when the result
 *     counts as an attempt (NOT_ATTEMPTED does not), else unchanged. It is
 *     returned with either decision, so the caller always stores it.
 *  2. No rule for the outcome -> close with the outcome.
 *  3. Rule action close -> close with the outcome.
 *  4. counted_attempts (after this one) >= strategy max_attempts -> close
 *     with the outcome (the final outcome is the last one, not MAX_ATTEMPTS).
 *  5. Rule without next_phone: attempts that ended with this outcome, this
 *     one included, >= the rule's max_attempts -> close with the outcome.
 *     Otherwise the retry uses the same phone_index.
 *  6. Rule with next_phone: its max_attempts counts per phone. Attempts on
 *     the current phone that ended with this outcome, this one included,
 *     >= max_attempts -> the retry moves to phone_index + 1, or, when there
 *     is no further phone (phone_index + 1 >= phone_count), close with the
 *     outcome. Below the cap the retry stays on the same phone. (With the
 *     usual max_attempts 1 every such outcome moves to the next phone; a
 *     cap over all phones would close at once and make next_phone
 *     meaningless, as the Default strategy's INVALID_NUMBER and WRONG_PARTY
 *     rules, max 1 with next_phone, show.)
 *  7. Next time T = now + delay_seconds; for CALLBACK_REQUESTED with a
 *     callback_at later than now, T = callback_at instead.
 *  8. Daily cap: with n counted attempts dispatched in the 24 h before now
 *     (this one included when it counts) and n >= max_attempts_per_day, T is
 *     moved to no earlier than day_attempts_ms[n - max_attempts_per_day] +
 *     24 h, i.e. until enough of them have left the 24 h window that the next
 *     attempt stays within the cap. With n == max_attempts_per_day that is
 *     the first of those attempts + 24 h. (Issue 5 refines this to the
 *     contact's local day.)
 *  9. end_at set and T > end_at -> close EXPIRED. Otherwise retry at T.
 */
#ifndef ST_DECIDE_H
#define ST_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "ecm/v1/events.pb-c.h"

#define ST_DAY_MS ((int64_t)24 * 3600 * 1000)

typedef enum {
    ST_RULE_NONE = 0, /* the strategy has no rule for this outcome */
    ST_RULE_RETRY,
    ST_RULE_CLOSE,
} st_rule_action;

/* One strategy_rules row (action ST_RULE_NONE when there is none). */
typedef struct {
    st_rule_action action;
    int delay_seconds; /* >= 0 */
    int max_attempts;  /* > 0: attempts that may end with this outcome */
    int next_phone;    /* 1: the next attempt uses the next phone */
} st_rule;

typedef struct {
    /* strategies row */
    int max_attempts;         /* > 0: counted attempts in all */
    int max_attempts_per_day; /* > 0: counted attempts in any 24 h */
    st_rule rule;

    /* the contact, before this result */
    int counted_attempts;       /* attempts that counted so far, this one excluded */
    int outcome_attempts;       /* earlier attempts that ended with this outcome */
    int phone_outcome_attempts; /* of those, the ones on the current phone */
    int phone_index;            /* 0-based phone of this attempt */
    int phone_count;            /* number of phones of the contact */
    /* dispatch times (UTC ms, ascending) of the counted attempts dispatched
     * in the 24 h before now_ms, this one included when it counts */
    const int64_t *day_attempts_ms;
    size_t day_attempts;

    /* the result */
    Ecm__V1__Outcome outcome;
    int counts_as_attempt;
    int64_t callback_at_ms; /* 0: none */

    int64_t now_ms;
    int64_t end_at_ms; /* campaign end_at; 0: no end */
} st_decide_in;

typedef enum {
    ST_DECIDE_CLOSE = 0,
    ST_DECIDE_RETRY,
} st_decide_action;

typedef struct {
    st_decide_action action;
    Ecm__V1__Outcome outcome;   /* CLOSE: the final outcome */
    int64_t next_attempt_at_ms; /* RETRY: not before this time */
    int phone_index;            /* RETRY: phone of the next attempt */
    int counted_attempts;       /* both: the contact's new counted_attempts */
    const char *reason;         /* static text for logs: which rule decided */
} st_decision;

/* Applies the rules above to in and writes the decision to out. Can't fail. */
void st_decide(const st_decide_in *in, st_decision *out);

/* Returns 1 when st_decide(in) may read the contact's history
 * (outcome_attempts, phone_outcome_attempts, day_attempts_ms), 0 when the
 * decision is a close that those fields can't change, so a caller may leave
 * them unset and spare their queries. Reads only the other fields. */
int st_decide_needs_history(const st_decide_in *in);

#endif

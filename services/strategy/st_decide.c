#include "st_decide.h"

static void close_with(st_decision *out, Ecm__V1__Outcome outcome, const char *reason)
{
    out->action = ST_DECIDE_CLOSE;
    out->outcome = outcome;
    out->next_attempt_at_ms = 0;
    out->reason = reason;
}

int st_decide_needs_history(const st_decide_in *in)
{
    /* The same early closes as st_decide, in the same order. */
    if (in->rule.action != ST_RULE_RETRY)
        return 0;
    return in->counted_attempts + (in->counts_as_attempt ? 1 : 0) < in->max_attempts;
}

void st_decide(const st_decide_in *in, st_decision *out)
{
    out->counted_attempts = in->counted_attempts + (in->counts_as_attempt ? 1 : 0);
    out->phone_index = in->phone_index;

    if (in->rule.action == ST_RULE_NONE) {
        close_with(out, in->outcome, "no rule for outcome");
        return;
    }
    if (in->rule.action == ST_RULE_CLOSE) {
        close_with(out, in->outcome, "rule closes");
        return;
    }
    if (out->counted_attempts >= in->max_attempts) {
        close_with(out, in->outcome, "max attempts reached");
        return;
    }
    if (!in->rule.next_phone) {
        if (in->outcome_attempts + 1 >= in->rule.max_attempts) {
            close_with(out, in->outcome, "max attempts for outcome reached");
            return;
        }
    } else if (in->phone_outcome_attempts + 1 >= in->rule.max_attempts) {
        if (in->phone_index + 1 >= in->phone_count) {
            close_with(out, in->outcome, "no further phone");
            return;
        }
        out->phone_index = in->phone_index + 1;
    }

    int64_t next = in->now_ms + (int64_t)in->rule.delay_seconds * 1000;
    if (in->outcome == ECM__V1__OUTCOME__OUTCOME_CALLBACK_REQUESTED &&
        in->callback_at_ms > in->now_ms)
        next = in->callback_at_ms;

    /* The attempt at index n - cap must leave the window before the next one
     * may go, or the window would hold more than cap attempts. */
    size_t cap = (size_t)(in->max_attempts_per_day > 0 ? in->max_attempts_per_day : 1);
    if (in->day_attempts_ms != NULL && in->day_attempts >= cap) {
        int64_t release = in->day_attempts_ms[in->day_attempts - cap] + ST_DAY_MS;
        if (release > next)
            next = release;
    }

    if (in->end_at_ms != 0 && next > in->end_at_ms) {
        close_with(out, ECM__V1__OUTCOME__OUTCOME_EXPIRED, "next attempt past campaign end");
        out->phone_index = in->phone_index;
        return;
    }

    out->action = ST_DECIDE_RETRY;
    out->outcome = in->outcome;
    out->next_attempt_at_ms = next;
    out->reason = "retry";
}

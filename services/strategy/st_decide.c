#include "st_decide.h"

#include <string.h>

#include "ecm_calling.h"

/* Each pass of step 8 that hits the daily cap moves T to a later day, and
 * only days with attempts in them can hold it back, so a handful of passes
 * always settle; the bound only guards against a malformed input. */
#define ST_DECIDE_MAX_PASSES 16

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

static const char *next_zone(const st_calling *c, int phone_index, int phone_count)
{
    const char *phone_zone = NULL;
    if (c->phone_zones != NULL && phone_index >= 0 && phone_index < phone_count)
        phone_zone = c->phone_zones[phone_index];
    return ecm_calling_zone(c->contact_tz, phone_zone, c->campaign_tz);
}

static size_t dispatches_between(const st_decide_in *in, int64_t from, int64_t to)
{
    size_t n = 0;
    for (size_t i = 0; in->counted_dispatch_ms != NULL && i < in->counted_dispatches; i++)
        if (in->counted_dispatch_ms[i] >= from && in->counted_dispatch_ms[i] < to)
            n++;
    return n;
}

/* Step 8 of st_decide.h. Returns 0 with *t moved to when the next attempt
 * may go, or -1 when the window has no opening before the campaign's end.
 * What held it first goes to out's held_* fields. */
static int place_in_window(const st_decide_in *in, const char *zone, int64_t *t, st_decision *out)
{
    size_t cap = (size_t)(in->max_attempts_per_day > 0 ? in->max_attempts_per_day : 1);
    for (int pass = 0; pass < ST_DECIDE_MAX_PASSES; pass++) {
        if (in->calling.window != NULL || in->calling.rules != NULL) {
            ecm_rules_in rin = {
                .zone = zone,
                .jurisdictions = in->calling.jurisdictions,
                .njurisdictions = in->calling.njurisdictions,
                .channel = in->calling.channel,
                .history = in->calling.history,
                .nhistory = in->calling.nhistory,
            };
            ecm_calling_answer a;
            ecm_calling_decide(in->calling.window, in->calling.rules, &rin, *t, 0, in->end_at_ms,
                               &a);
            if (a.verdict != ECM_CALLING_GO && out->held_rule_id < 0) {
                out->held_rule_id = a.rule_id;
                memcpy(out->held_why, a.why, sizeof out->held_why);
            }
            if (a.verdict == ECM_CALLING_EXPIRE)
                return -1;
            if (a.verdict == ECM_CALLING_WAIT)
                *t = a.until_ms;
        }
        int64_t day_start, day_end;
        if (ecm_window_local_day(zone, *t, &day_start, &day_end) != 0 &&
            ecm_window_local_day("UTC", *t, &day_start, &day_end) != 0)
            return 0; /* only for instants far outside any calendar */
        if (dispatches_between(in, day_start, day_end) < cap)
            return 0;
        *t = day_end;
    }
    return 0;
}

void st_decide(const st_decide_in *in, st_decision *out)
{
    out->counted_attempts = in->counted_attempts + (in->counts_as_attempt ? 1 : 0);
    out->phone_index = in->phone_index;
    out->zone = NULL;
    out->held_rule_id = -1;
    out->held_why[0] = '\0';

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
    if (in->callback_at_ms > in->now_ms &&
        (in->outcome == ECM__V1__OUTCOME__OUTCOME_CALLBACK_REQUESTED || in->callback_at_ms > next))
        next = in->callback_at_ms;

    const char *zone = next_zone(&in->calling, out->phone_index, in->phone_count);
    if (place_in_window(in, zone, &next, out) != 0 ||
        (in->end_at_ms != 0 && next > in->end_at_ms)) {
        close_with(out, ECM__V1__OUTCOME__OUTCOME_EXPIRED, "no calling time before campaign end");
        out->phone_index = in->phone_index;
        return;
    }

    out->action = ST_DECIDE_RETRY;
    out->outcome = in->outcome;
    out->next_attempt_at_ms = next;
    out->zone = zone;
    out->reason = "retry";
}

#include "ecm_decide.h"

#include <stdio.h>
#include <string.h>

#include "ecm_calling.h"

/* Each pass of step 8 that hits the daily cap moves T to a later day, and
 * only days with attempts in them can hold it back, so a handful of passes
 * always settle; the bound only guards against a malformed input. */
#define ECM_DECIDE_MAX_PASSES 16

static void close_with(ecm_decide_out *out, Ecm__V1__Outcome outcome, const char *reason)
{
    out->action = ECM_DECIDE_CLOSE;
    out->outcome = outcome;
    out->next_attempt_at_ms = 0;
    out->reason = reason;
}

const char *ecm_decide_channel_name(ecm_decide_channel ch)
{
    return ch == ECM_DECIDE_CH_VOICE ? "voice" : ch == ECM_DECIDE_CH_SMS ? "sms" : "";
}

ecm_rules_channel ecm_decide_rules_channel(ecm_decide_channel ch)
{
    return ch == ECM_DECIDE_CH_SMS ? ECM_RULES_SMS : ECM_RULES_VOICE;
}

static int channel_cap(const ecm_decide_in *in, ecm_decide_channel ch)
{
    return ch == ECM_DECIDE_CH_SMS ? in->max_sms_attempts : in->max_voice_attempts;
}

static int channel_count(const ecm_decide_in *in, ecm_decide_channel ch)
{
    return ch == ECM_DECIDE_CH_SMS || ch == ECM_DECIDE_CH_VOICE ? in->channel_attempts[ch] : 0;
}

/* What steps 4a-4b decide about the channel. */
typedef enum {
    SW_STAY = 0, /* the rules below apply on the same channel */
    SW_SWITCH,   /* retry on the rule's switch_to */
    SW_CAP,      /* close: the channel's cap is reached */
} sw_verdict;

/* Steps 4a-4b of ecm_decide.h; a skipped switch is described in note (may
 * be NULL) and *skipped (may be NULL). Pure. */
static sw_verdict switch_step(const ecm_decide_in *in, ecm_decide_channel *skipped, char *note,
                              size_t note_size)
{
    if (skipped)
        *skipped = ECM_DECIDE_CH_NONE;
    if (note && note_size)
        note[0] = '\0';
    ecm_decide_channel to = in->rule.switch_to;
    int other = (to == ECM_DECIDE_CH_VOICE || to == ECM_DECIDE_CH_SMS) && to != in->channel;
    int this_count = channel_count(in, in->channel) + (in->counts_as_attempt ? 1 : 0);
    int this_cap = channel_cap(in, in->channel);
    int capped = this_cap > 0 && this_count >= this_cap;
    int asked = other && (capped || in->outcome_attempts + 1 >=
                                        (in->rule.switch_after > 0 ? in->rule.switch_after : 1));
    if (asked) {
        const char *what = to == ECM_DECIDE_CH_SMS ? "SMS" : "voice";
        int to_cap = channel_cap(in, to);
        if (in->switch_blocked == NULL && (to_cap <= 0 || channel_count(in, to) < to_cap))
            return SW_SWITCH;
        if (skipped)
            *skipped = to;
        if (note && note_size) {
            if (in->switch_blocked != NULL)
                snprintf(note, note_size, "%s step skipped: %s", what, in->switch_blocked);
            else
                snprintf(note, note_size, "%s step skipped: %s cap of %d reached", what, what,
                         to_cap);
        }
    }
    return capped ? SW_CAP : SW_STAY;
}

ecm_decide_channel ecm_decide_next_channel(const ecm_decide_in *in)
{
    if (in->rule.action != ECM_DECIDE_RULE_RETRY ||
        in->counted_attempts + (in->counts_as_attempt ? 1 : 0) >= in->max_attempts)
        return in->channel;
    return switch_step(in, NULL, NULL, 0) == SW_SWITCH ? in->rule.switch_to : in->channel;
}

int ecm_decide_needs_history(const ecm_decide_in *in)
{
    /* The same early closes as ecm_decide, in the same order. */
    if (in->rule.action != ECM_DECIDE_RULE_RETRY)
        return 0;
    return in->counted_attempts + (in->counts_as_attempt ? 1 : 0) < in->max_attempts;
}

static const char *next_zone(const ecm_decide_calling *c, int phone_index, int phone_count)
{
    const char *phone_zone = NULL;
    if (c->phone_zones != NULL && phone_index >= 0 && phone_index < phone_count)
        phone_zone = c->phone_zones[phone_index];
    return ecm_calling_zone(c->contact_tz, phone_zone, c->campaign_tz);
}

static size_t dispatches_between(const ecm_decide_in *in, int64_t from, int64_t to)
{
    size_t n = 0;
    for (size_t i = 0; in->counted_dispatch_ms != NULL && i < in->counted_dispatches; i++)
        if (in->counted_dispatch_ms[i] >= from && in->counted_dispatch_ms[i] < to)
            n++;
    return n;
}

/* Step 8 of ecm_decide.h. Returns 0 with *t moved to when the next attempt
 * may go, or -1 when the window has no opening before the campaign's end.
 * What held it first goes to out's held_* fields. */
static int place_in_window(const ecm_decide_in *in, const char *zone, int64_t *t,
                           ecm_decide_out *out)
{
    size_t cap = (size_t)(in->max_attempts_per_day > 0 ? in->max_attempts_per_day : 1);
    for (int pass = 0; pass < ECM_DECIDE_MAX_PASSES; pass++) {
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
            if (a.verdict != ECM_CALLING_GO && out->held_why[0] == '\0') {
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
        /* The window that then waits for the next morning is not what held
         * the contact: the cap is. */
        if (out->held_why[0] == '\0')
            snprintf(out->held_why, sizeof out->held_why,
                     "the strategy's cap of %zu attempt%s a day is reached on the contact's local "
                     "day (%s); it is called again on the next one",
                     cap, cap == 1 ? "" : "s", zone);
        *t = day_end;
    }
    return 0;
}

void ecm_decide(const ecm_decide_in *in, ecm_decide_out *out)
{
    out->counted_attempts = in->counted_attempts + (in->counts_as_attempt ? 1 : 0);
    out->phone_index = in->phone_index;
    out->zone = NULL;
    out->held_rule_id = -1;
    out->held_why[0] = '\0';
    out->channel = in->channel;
    out->switched = 0;
    out->skipped_to = ECM_DECIDE_CH_NONE;
    out->channel_note[0] = '\0';

    if (in->rule.action == ECM_DECIDE_RULE_NONE) {
        close_with(out, in->outcome, "no rule for outcome");
        return;
    }
    if (in->rule.action == ECM_DECIDE_RULE_CLOSE) {
        close_with(out, in->outcome, "rule closes");
        return;
    }
    if (out->counted_attempts >= in->max_attempts) {
        close_with(out, in->outcome, "max attempts reached");
        return;
    }
    sw_verdict sw = switch_step(in, &out->skipped_to, out->channel_note, sizeof out->channel_note);
    if (sw == SW_CAP) {
        close_with(out, in->outcome,
                   in->channel == ECM_DECIDE_CH_SMS ? "SMS cap reached" : "voice cap reached");
        return;
    }
    if (sw == SW_SWITCH) {
        out->channel = in->rule.switch_to;
        out->switched = 1;
        if (out->channel == ECM_DECIDE_CH_SMS)
            out->phone_index = in->switch_phone_index;
    } else if (!in->rule.next_phone) {
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
        out->channel = in->channel;
        out->switched = 0;
        return;
    }

    out->action = ECM_DECIDE_RETRY;
    out->outcome = in->outcome;
    out->next_attempt_at_ms = next;
    out->zone = zone;
    out->reason = out->switched ? "retry on another channel" : "retry";
}

#include "ecm_dryrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_calling.h"
#include "ecm_event.h"
#include "ecm_zone.h"

int ecm_dryrun_local_time(const char *zone, int64_t utc_ms, char *out, size_t out_size)
{
    int f[6];
    if (out_size > 0)
        out[0] = '\0';
    if (!zone || ecm_zone_utc_to_local(zone, utc_ms, f) != 0)
        return -1;
    struct tm tm = {.tm_year = f[0] - 1900,
                    .tm_mon = f[1] - 1,
                    .tm_mday = f[2],
                    .tm_hour = f[3],
                    .tm_min = f[4],
                    .tm_sec = f[5]};
    /* The wall clock read as if it were UTC, less the instant: the offset. */
    int64_t utc_s = utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000);
    long long off_min = ((long long)timegm(&tm) - utc_s) / 60;
    char sign = off_min < 0 ? '-' : '+';
    if (off_min < 0)
        off_min = -off_min;
    int n = snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02lld:%02lld", f[0], f[1],
                     f[2], f[3], f[4], f[5], sign, off_min / 60, off_min % 60);
    if (n < 0 || (size_t)n >= out_size) {
        if (out_size > 0)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

static void moved_clear(ecm_dryrun_moved *m)
{
    m->kind[0] = '\0';
    m->rule_id = -1;
    m->why[0] = '\0';
}

static void moved_set(ecm_dryrun_moved *m, const char *kind, int64_t rule_id, const char *why)
{
    snprintf(m->kind, sizeof m->kind, "%s", kind);
    m->rule_id = rule_id;
    snprintf(m->why, sizeof m->why, "%s", why);
}

static const ecm_decide_rule *rule_for(const ecm_dryrun_in *in, Ecm__V1__Outcome o)
{
    for (size_t i = 0; i < in->nrules; i++)
        if (in->rules[i].outcome == o)
            return &in->rules[i].rule;
    return NULL;
}

/* What the strategy service's switch check finds (st_results.c), from the
 * campaign's channels and the numbers' types. */
static void switch_check(const ecm_dryrun_in *in, ecm_decide_in *d)
{
    d->switch_blocked = NULL;
    d->switch_phone_index = d->phone_index;
    if (d->rule.switch_to == ECM_DECIDE_CH_NONE || d->rule.switch_to == d->channel)
        return;
    if (d->rule.switch_to == ECM_DECIDE_CH_VOICE) {
        if (!in->has_voice)
            d->switch_blocked = "campaign has no Cisco target";
        return;
    }
    if (!in->has_sms) {
        d->switch_blocked = "campaign has no SMS template";
        return;
    }
    for (int i = 0; i < in->phone_count; i++)
        if (!in->phone_mobile || in->phone_mobile[i]) {
            d->switch_phone_index = i;
            return;
        }
    d->switch_blocked = "no mobile number";
}

static int check_input(const ecm_dryrun_in *in, char *errstr, size_t errstr_size)
{
    const char *bad = NULL;
    if (!in->outcomes || in->noutcomes == 0 || in->noutcomes > ECM_DRYRUN_MAX_STEPS)
        bad = "outcomes: 1 to 100 of them";
    else if (in->phone_count < 1 || in->phone_count > ECM_DRYRUN_MAX_PHONES)
        bad = "phones: 1 to 10 numbers";
    else if (in->max_attempts < 1 || in->max_attempts_per_day < 1 || in->max_voice_attempts < 0 ||
             in->max_sms_attempts < 0)
        bad = "the strategy's caps must be positive";
    else if (in->nrules > 0 && !in->rules)
        bad = "rules missing";
    if (bad) {
        snprintf(errstr, errstr_size, "%s", bad);
        return -1;
    }
    return 0;
}

/* Counted dispatches of the projection inside the local day of t in zone. */
static size_t dispatches_on_day(const int64_t *disp, size_t n, const char *zone, int64_t t)
{
    int64_t start, end;
    if (ecm_window_local_day(zone, t, &start, &end) != 0)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (disp[i] >= start && disp[i] < end)
            k++;
    return k;
}

/* Why the decision d placed a retry later than asked, or closed EXPIRED. */
static void retry_moved(const ecm_dryrun_in *in, const ecm_decide_out *dec, int64_t asked,
                        const int64_t *disp, size_t ndisp, ecm_dryrun_moved *m)
{
    moved_clear(m);
    if (dec->action == ECM_DECIDE_CLOSE) {
        if (dec->outcome == ECM__V1__OUTCOME__OUTCOME_EXPIRED &&
            strcmp(dec->reason, "no calling time before campaign end") == 0)
            moved_set(m, "end", dec->held_rule_id,
                      dec->held_why[0] ? dec->held_why
                                       : "no calling time before the campaign's end");
        return;
    }
    if (dec->next_attempt_at_ms <= asked)
        return;
    size_t cap = (size_t)in->max_attempts_per_day;
    if (dec->zone && dispatches_on_day(disp, ndisp, dec->zone, asked) >= cap) {
        char why[200];
        snprintf(why, sizeof why,
                 "the strategy's cap of %d attempt%s a day is reached on the contact's local day",
                 in->max_attempts_per_day, in->max_attempts_per_day == 1 ? "" : "s");
        moved_set(m, "daily_cap", -1, why);
        return;
    }
    if (dec->held_rule_id > 0)
        moved_set(m, "rule", dec->held_rule_id, dec->held_why);
    else
        moved_set(m, "window", -1, dec->held_why);
}

/* The first attempt: as the dispatcher judges a contact due at start_ms. */
static int first_attempt(const ecm_dryrun_in *in, const char *zone, const char *const *jur,
                         size_t njur, ecm_dryrun_out *out, int64_t *at)
{
    out->first_asked_ms = in->start_ms;
    moved_clear(&out->first_moved);
    *at = in->start_ms;
    if (!in->window && !in->rules_set)
        return 1;
    ecm_rules_in rin = {.zone = zone,
                        .jurisdictions = jur,
                        .njurisdictions = njur,
                        .channel = ecm_decide_rules_channel(in->channel)};
    ecm_calling_answer a;
    ecm_calling_decide(in->window, in->rules_set, &rin, in->start_ms, 0, in->end_at_ms, &a);
    if (a.verdict == ECM_CALLING_EXPIRE) {
        moved_set(&out->first_moved, "end", a.rule_id,
                  a.why[0] ? a.why : "no calling time before the campaign's end");
        return 0;
    }
    if (a.verdict == ECM_CALLING_WAIT) {
        *at = a.until_ms;
        moved_set(&out->first_moved, a.rule_id > 0 ? "rule" : "window",
                  a.rule_id > 0 ? a.rule_id : -1, a.why);
    }
    return 1;
}

/* The projected attempts as the database would hold them. */
typedef struct {
    const char *jur[ECM_RULES_MAX_JURISDICTIONS];
    size_t njur;
    int64_t disp[ECM_DRYRUN_MAX_STEPS]; /* counted dispatches */
    size_t ndisp;
    ecm_rules_attempt hist[ECM_DRYRUN_MAX_STEPS];
    int phone_of[ECM_DRYRUN_MAX_STEPS];
    size_t nhist;
    int counted, channel_counts[2];
} projection;

/* Records attempt s (its result at its dispatch instant) before the
 * decision, as the strategy service records a result before deciding. */
static void record_attempt(projection *p, const ecm_dryrun_step *s)
{
    if (s->outcome != ECM__V1__OUTCOME__OUTCOME_NOT_ATTEMPTED)
        p->disp[p->ndisp++] = s->at_ms;
    p->hist[p->nhist] = (ecm_rules_attempt){.dispatched_ms = s->at_ms,
                                            .result_ms = s->at_ms,
                                            .outcome = ecm_event_outcome_name(s->outcome),
                                            .channel = ecm_decide_rules_channel(s->channel)};
    p->phone_of[p->nhist++] = s->phone_index;
    /* SAME_PHONE: on the number about to be used, the current one. */
    for (size_t j = 0; j < p->nhist; j++)
        p->hist[j].same =
            ECM_RULES_SAME_CONTACT | (p->phone_of[j] == s->phone_index ? ECM_RULES_SAME_PHONE : 0);
}

/* What the strategy service would pass ecm_decide for the result of s
 * (already recorded in p). */
static void decide_input(const ecm_dryrun_in *in, const projection *p, const ecm_dryrun_step *s,
                         ecm_decide_in *d)
{
    memset(d, 0, sizeof *d);
    d->max_attempts = in->max_attempts;
    d->max_attempts_per_day = in->max_attempts_per_day;
    d->max_voice_attempts = in->max_voice_attempts;
    d->max_sms_attempts = in->max_sms_attempts;
    const ecm_decide_rule *r = rule_for(in, s->outcome);
    d->rule.action = ECM_DECIDE_RULE_NONE;
    if (r)
        d->rule = *r;
    d->channel = s->channel;
    d->channel_attempts[ECM_DECIDE_CH_VOICE] = p->channel_counts[ECM_DECIDE_CH_VOICE];
    d->channel_attempts[ECM_DECIDE_CH_SMS] = p->channel_counts[ECM_DECIDE_CH_SMS];
    d->counted_attempts = p->counted;
    const char *name = ecm_event_outcome_name(s->outcome);
    for (size_t j = 0; j + 1 < p->nhist; j++)
        if (p->hist[j].outcome && strcmp(p->hist[j].outcome, name) == 0) {
            d->outcome_attempts++;
            d->phone_outcome_attempts += p->phone_of[j] == s->phone_index;
        }
    d->phone_index = s->phone_index;
    d->phone_count = in->phone_count;
    d->outcome = s->outcome;
    d->counts_as_attempt = s->outcome != ECM__V1__OUTCOME__OUTCOME_NOT_ATTEMPTED;
    d->now_ms = s->at_ms; /* the result arrives at the dispatch instant */
    d->end_at_ms = in->end_at_ms;
    d->counted_dispatch_ms = p->disp;
    d->counted_dispatches = p->ndisp;
    switch_check(in, d);
    d->calling = (ecm_decide_calling){
        .window = in->window, .contact_tz = in->contact_tz, .campaign_tz = in->campaign_tz};
    if (in->rules_set) {
        d->calling.rules = in->rules_set;
        d->calling.jurisdictions = p->jur;
        d->calling.njurisdictions = p->njur;
        d->calling.channel = ecm_decide_rules_channel(ecm_decide_next_channel(d));
        d->calling.history = p->hist;
        d->calling.nhistory = p->nhist;
    }
}

/* Decides the result of s, fills its decision and counts it in p.
 * Returns 1 when the contact retries, 0 when it closes. */
static int decide_step(const ecm_dryrun_in *in, projection *p, ecm_dryrun_step *s)
{
    ecm_decide_in d;
    ecm_decide_out dec;
    record_attempt(p, s);
    decide_input(in, p, s, &d);
    ecm_decide(&d, &dec);
    s->action = dec.action;
    s->reason = dec.reason;
    snprintf(s->channel_note, sizeof s->channel_note, "%s", dec.channel_note);
    s->asked_ms = d.now_ms + (int64_t)d.rule.delay_seconds * 1000;
    retry_moved(in, &dec, s->asked_ms, p->disp, p->ndisp, &s->moved);
    if (d.counts_as_attempt) {
        p->counted++;
        p->channel_counts[s->channel]++;
    }
    if (dec.action == ECM_DECIDE_CLOSE) {
        s->close_outcome = dec.outcome;
        s->asked_ms = 0;
        return 0;
    }
    s->next_at_ms = dec.next_attempt_at_ms;
    s->next_channel = dec.channel;
    s->next_phone_index = dec.phone_index;
    s->switched = dec.switched;
    s->next_zone = dec.zone ? dec.zone : s->zone;
    return 1;
}

int ecm_dryrun_run(const ecm_dryrun_in *in, ecm_dryrun_out *out, char *errstr, size_t errstr_size)
{
    if (check_input(in, errstr, errstr_size) != 0)
        return -1;
    projection *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    out->dispatched = 0;
    out->nsteps = 0;
    p->njur = ecm_rules_jurisdictions(in->region, NULL, in->campaign_region, p->jur);
    const char *zone = ecm_calling_zone(in->contact_tz, NULL, in->campaign_tz);
    int64_t at;
    out->dispatched = first_attempt(in, zone, p->jur, p->njur, out, &at);
    ecm_decide_channel ch =
        in->channel == ECM_DECIDE_CH_SMS ? ECM_DECIDE_CH_SMS : ECM_DECIDE_CH_VOICE;
    int phone = 0, retry = out->dispatched;
    for (size_t i = 0; retry && i < in->noutcomes; i++) {
        ecm_dryrun_step *s = &out->steps[i];
        *s = (ecm_dryrun_step){.attempt = (int)i + 1,
                               .channel = ch,
                               .phone_index = phone,
                               .at_ms = at,
                               .zone = zone,
                               .outcome = in->outcomes[i]};
        retry = decide_step(in, p, s);
        out->nsteps = i + 1;
        at = s->next_at_ms;
        ch = s->next_channel;
        phone = s->next_phone_index;
        zone = s->next_zone;
    }
    free(p);
    return 0;
}

#include "ecm_rules.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_utf8.h"
#include "ecm_rules_int.h"
#include "ecm_zone.h"

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr == NULL || errstr_size == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    (void)ecm_utf8_vformat(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): calendar arithmetic, no zone involved. */
int64_t ecm_rules_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* 1 when y-m-d is a date of years 1..9999, else 0. */
static int valid_date(int y, int m, int d)
{
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) {
        return 0;
    }
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

ecm_rules *ecm_rules_new(void)
{
    return calloc(1, sizeof(ecm_rules));
}

void ecm_rules_destroy(ecm_rules *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->nsets; i++) {
        free(r->sets[i].name);
        ecm_window_destroy(r->sets[i].win[0]);
        ecm_window_destroy(r->sets[i].win[1]);
    }
    for (size_t i = 0; i < r->nrules; i++) {
        free(r->rules[i].says);
        free(r->rules[i].outcome);
    }
    for (size_t i = 0; i < r->nblackouts; i++) {
        free(r->blackouts[i].reason);
    }
    free(r->sets);
    free(r->rules);
    free(r->blackouts);
    free(r);
}

/* Makes room for one more element of size elem in *arr. 0 or -1. */
static int grow(void **arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap) {
        return 0;
    }
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * elem);
    if (p == NULL) {
        return -1;
    }
    *arr = p;
    *cap = ncap;
    return 0;
}

int ecm_rules_jurisdiction_valid(const char *s)
{
    if (s == NULL) {
        return 0;
    }
    if (strcmp(s, "*") == 0) {
        return 1;
    }
    size_t n = strlen(s);
    if (n < 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z') {
        return 0;
    }
    if (n == 2) {
        return 1;
    }
    if (s[2] != '-' || n < 4 || n > 6) {
        return 0;
    }
    for (size_t i = 3; i < n; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) {
            return 0;
        }
    }
    return 1;
}

int ecm_rules_channel_parse(const char *s, unsigned *out)
{
    if (s == NULL) {
        return -1;
    }
    if (strcmp(s, "voice") == 0) {
        *out = ECM_RULES_VOICE;
    } else if (strcmp(s, "sms") == 0) {
        *out = ECM_RULES_SMS;
    } else if (strcmp(s, "all") == 0) {
        *out = ECM_RULES_ANY_CHANNEL;
    } else {
        return -1;
    }
    return 0;
}

int ecm_rules_scope_parse(const char *s, unsigned *out)
{
    if (s == NULL) {
        return -1;
    }
    if (strcmp(s, "contact") == 0) {
        *out = ECM_RULES_SAME_CONTACT;
    } else if (strcmp(s, "subject") == 0) {
        *out = ECM_RULES_SAME_SUBJECT;
    } else if (strcmp(s, "phone") == 0) {
        *out = ECM_RULES_SAME_PHONE;
    } else {
        return -1;
    }
    return 0;
}

/* The index of set set_id in r: 0 and *out, or -1 when r has none. */
static int set_index(const ecm_rules *r, int64_t set_id, size_t *out)
{
    for (size_t i = 0; i < r->nsets; i++) {
        if (r->sets[i].id == set_id) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

int ecm_rules_add_set(ecm_rules *r, int64_t set_id, const char *name, const char *jurisdiction,
                      char *errstr, size_t errstr_size)
{
    size_t dup;
    if (r == NULL || name == NULL) {
        set_err(errstr, errstr_size, "rule set: no name");
        return -1;
    }
    if (!ecm_rules_jurisdiction_valid(jurisdiction)) {
        set_err(errstr, errstr_size, "rule set %lld: jurisdiction '%.16s' is not *, CC or CC-SUB",
                (long long)set_id, jurisdiction ? jurisdiction : "");
        return -1;
    }
    if (set_index(r, set_id, &dup) == 0) {
        set_err(errstr, errstr_size, "rule set %lld: added twice", (long long)set_id);
        return -1;
    }
    char *copy = strdup(name);
    if (copy == NULL || grow((void **)&r->sets, r->nsets, &r->capsets, sizeof(rset)) != 0) {
        free(copy);
        set_err(errstr, errstr_size, "rule set %lld: out of memory", (long long)set_id);
        return -1;
    }
    rset *s = &r->sets[r->nsets];
    memset(s, 0, sizeof *s);
    s->id = set_id;
    s->name = copy;
    snprintf(s->jur, sizeof s->jur, "%s", jurisdiction);
    r->nsets++;
    return 0;
}

/* Appends a rule whose kind fields the caller filled, copying says and
 * outcome. 0 or -1 (r unchanged). */
static int append_rule(ecm_rules *r, rule *ru, const char *says, const char *outcome, char *errstr,
                       size_t errstr_size)
{
    ru->says = strdup(says ? says : "");
    ru->outcome = outcome ? strdup(outcome) : NULL;
    if (ru->says == NULL || (outcome && ru->outcome == NULL) ||
        grow((void **)&r->rules, r->nrules, &r->caprules, sizeof(rule)) != 0) {
        free(ru->says);
        free(ru->outcome);
        set_err(errstr, errstr_size, "rule %lld: out of memory", (long long)ru->id);
        return -1;
    }
    r->rules[r->nrules++] = *ru;
    return 0;
}

/* Common checks of the add_* functions: fills ru's id, set and channels. */
static int start_rule(ecm_rules *r, int64_t set_id, int64_t rule_id, unsigned channels, int kind,
                      rule *ru, char *errstr, size_t errstr_size)
{
    memset(ru, 0, sizeof *ru);
    if (r == NULL) {
        set_err(errstr, errstr_size, "rule %lld: no rules", (long long)rule_id);
        return -1;
    }
    if (set_index(r, set_id, &ru->set) != 0) {
        set_err(errstr, errstr_size, "rule %lld: rule set %lld not added", (long long)rule_id,
                (long long)set_id);
        return -1;
    }
    if (channels == 0 || (channels & ~ECM_RULES_ANY_CHANNEL) != 0) {
        set_err(errstr, errstr_size, "rule %lld: channel bits %u are not voice, sms or all",
                (long long)rule_id, channels);
        return -1;
    }
    ru->id = rule_id;
    ru->kind = kind;
    ru->channels = channels;
    return 0;
}

/* Bit i (a minute of the day) of bits: 0 or 1. */
static int bit_get(const unsigned char *bits, int i)
{
    return (bits[i / 8] >> (i % 8)) & 1;
}

/* Ranges (runs of set bits) in one day's minute bits. */
static int count_runs(const unsigned char *bits)
{
    int runs = 0, prev = 0;
    for (int m = 0; m < DAY_MINUTES; m++) {
        int b = bit_get(bits, m);
        runs += b && !prev;
        prev = b;
    }
    return runs;
}

int ecm_rules_add_hours(ecm_rules *r, int64_t set_id, int64_t rule_id, const char *says,
                        unsigned channels, unsigned wdays, int start_min, int end_min, char *errstr,
                        size_t errstr_size)
{
    rule ru;
    if (start_rule(r, set_id, rule_id, channels, K_HOURS, &ru, errstr, errstr_size) != 0) {
        return -1;
    }
    if (wdays == 0 || (wdays & ~0x7fu) != 0) {
        set_err(errstr, errstr_size, "rule %lld: weekdays must be a non-empty subset of 0..6",
                (long long)rule_id);
        return -1;
    }
    if (start_min < 0 || end_min > DAY_MINUTES || start_min >= end_min) {
        set_err(errstr, errstr_size, "rule %lld: hours %d-%d are not 0 <= start < end <= 1440",
                (long long)rule_id, start_min, end_min);
        return -1;
    }
    rset *s = &r->sets[ru.set];
    /* Check on a copy of the bits first, so that no window is half changed
     * when a day would hold more ranges than ecm_window keeps. */
    unsigned char week[2][7][WEEK_BYTES];
    memcpy(week, s->week, sizeof week);
    for (int c = 0; c < 2; c++) {
        if (!(channels & (1u << c))) {
            continue;
        }
        for (int d = 0; d < 7; d++) {
            if (!(wdays & (1u << d))) {
                continue;
            }
            for (int m = start_min; m < end_min; m++) {
                week[c][d][m / 8] |= (unsigned char)(1u << (m % 8));
            }
            if (count_runs(week[c][d]) > ECM_WINDOW_MAX_RANGES) {
                set_err(errstr, errstr_size, "rule %lld: more than %d hours ranges on weekday %d",
                        (long long)rule_id, ECM_WINDOW_MAX_RANGES, d);
                return -1;
            }
        }
    }
    ecm_window *fresh[2] = {NULL, NULL};
    for (int c = 0; c < 2; c++) {
        if ((channels & (1u << c)) && s->win[c] == NULL) {
            fresh[c] = ecm_window_new();
            if (fresh[c] == NULL ||
                ecm_window_set_legal_hours(fresh[c], 0, DAY_MINUTES, NULL, 0) != 0) {
                ecm_window_destroy(fresh[0]);
                ecm_window_destroy(fresh[1]);
                set_err(errstr, errstr_size, "rule %lld: out of memory", (long long)rule_id);
                return -1;
            }
        }
    }
    ru.wdays = wdays;
    ru.start_min = start_min;
    ru.end_min = end_min;
    if (append_rule(r, &ru, says, NULL, errstr, errstr_size) != 0) {
        ecm_window_destroy(fresh[0]);
        ecm_window_destroy(fresh[1]);
        return -1;
    }
    for (int c = 0; c < 2; c++) {
        if (fresh[c] != NULL) {
            s->win[c] = fresh[c];
        }
        if (!(channels & (1u << c))) {
            continue;
        }
        for (int d = 0; d < 7; d++) {
            /* Checked above on the bits: the range count fits. */
            if ((wdays & (1u << d)) &&
                ecm_window_add_range(s->win[c], d, start_min, end_min, NULL, 0) != 0) {
                set_err(errstr, errstr_size, "rule %lld: hours do not fit the window",
                        (long long)rule_id);
                return -1;
            }
        }
    }
    memcpy(s->week, week, sizeof week);
    return 0;
}

int ecm_rules_add_day_off(ecm_rules *r, int64_t set_id, int64_t rule_id, const char *says,
                          unsigned channels, int year, int month, int day, char *errstr,
                          size_t errstr_size)
{
    rule ru;
    if (start_rule(r, set_id, rule_id, channels, K_DAY_OFF, &ru, errstr, errstr_size) != 0) {
        return -1;
    }
    if (!valid_date(year, month, day)) {
        set_err(errstr, errstr_size, "rule %lld: %d-%d-%d is not a date", (long long)rule_id, year,
                month, day);
        return -1;
    }
    ru.day = ecm_rules_days_from_civil(year, month, day);
    return append_rule(r, &ru, says, NULL, errstr, errstr_size);
}

/* 0 when s is a usable cap window or quiet period, else -1 with the reason. */
static int check_period(int64_t rule_id, const char *what, int64_t s, char *errstr,
                        size_t errstr_size)
{
    if (s <= 0 || s > PERIOD_MAX_S) {
        set_err(errstr, errstr_size, "rule %lld: %s %lld s is not 1 s .. 10 years",
                (long long)rule_id, what, (long long)s);
        return -1;
    }
    return 0;
}

/* 0 when scope is one ECM_RULES_SAME_* bit, else -1 with the reason. */
static int check_scope(int64_t rule_id, unsigned scope, char *errstr, size_t errstr_size)
{
    if (scope != ECM_RULES_SAME_CONTACT && scope != ECM_RULES_SAME_SUBJECT &&
        scope != ECM_RULES_SAME_PHONE) {
        set_err(errstr, errstr_size, "rule %lld: scope %u is not contact, subject or phone",
                (long long)rule_id, scope);
        return -1;
    }
    return 0;
}

int ecm_rules_add_cap(ecm_rules *r, int64_t set_id, int64_t rule_id, const char *says,
                      unsigned channels, unsigned scope, int max_attempts, int64_t window_s,
                      char *errstr, size_t errstr_size)
{
    rule ru;
    if (start_rule(r, set_id, rule_id, channels, K_CAP, &ru, errstr, errstr_size) != 0 ||
        check_scope(rule_id, scope, errstr, errstr_size) != 0 ||
        check_period(rule_id, "window", window_s, errstr, errstr_size) != 0) {
        return -1;
    }
    if (max_attempts <= 0) {
        set_err(errstr, errstr_size, "rule %lld: max_attempts %d is not > 0", (long long)rule_id,
                max_attempts);
        return -1;
    }
    ru.scope = scope;
    ru.max = max_attempts;
    ru.window_ms = window_s * 1000;
    return append_rule(r, &ru, says, NULL, errstr, errstr_size);
}

int ecm_rules_add_quiet(ecm_rules *r, int64_t set_id, int64_t rule_id, const char *says,
                        unsigned channels, unsigned scope, const char *after_outcome,
                        int64_t quiet_s, char *errstr, size_t errstr_size)
{
    rule ru;
    if (start_rule(r, set_id, rule_id, channels, K_QUIET, &ru, errstr, errstr_size) != 0 ||
        check_scope(rule_id, scope, errstr, errstr_size) != 0 ||
        check_period(rule_id, "quiet period", quiet_s, errstr, errstr_size) != 0) {
        return -1;
    }
    if (after_outcome == NULL || after_outcome[0] == '\0') {
        set_err(errstr, errstr_size, "rule %lld: no after_outcome", (long long)rule_id);
        return -1;
    }
    ru.scope = scope;
    ru.quiet_ms = quiet_s * 1000;
    return append_rule(r, &ru, says, after_outcome, errstr, errstr_size);
}

int ecm_rules_add_blackout(ecm_rules *r, int year, int month, int day, const char *reason,
                           char *errstr, size_t errstr_size)
{
    if (r == NULL || !valid_date(year, month, day)) {
        set_err(errstr, errstr_size, "blackout: %d-%d-%d is not a date", year, month, day);
        return -1;
    }
    char *copy = strdup(reason ? reason : "");
    if (copy == NULL ||
        grow((void **)&r->blackouts, r->nblackouts, &r->capblackouts, sizeof(blackout)) != 0) {
        free(copy);
        set_err(errstr, errstr_size, "blackout: out of memory");
        return -1;
    }
    r->blackouts[r->nblackouts++] = (blackout){ecm_rules_days_from_civil(year, month, day), copy};
    return 0;
}

size_t ecm_rules_jurisdictions(const char *contact_region, const char *phone_region,
                               const char *campaign_region,
                               const char *out[ECM_RULES_MAX_JURISDICTIONS])
{
    size_t n = 0;
    if (contact_region && contact_region[0]) {
        out[n++] = contact_region;
    }
    if (phone_region && phone_region[0] && (n == 0 || strcmp(phone_region, out[0]) != 0)) {
        out[n++] = phone_region;
    }
    if (n == 0 && campaign_region && campaign_region[0]) {
        out[n++] = campaign_region;
    }
    return n;
}

int ecm_rules_set_applies(const char *set_jurisdiction, const char *const *jurisdictions,
                          size_t njurisdictions)
{
    if (set_jurisdiction == NULL) {
        return 0;
    }
    if (strcmp(set_jurisdiction, "*") == 0) {
        return 1;
    }
    size_t sl = strlen(set_jurisdiction);
    for (size_t i = 0; jurisdictions && i < njurisdictions; i++) {
        const char *j = jurisdictions[i];
        if (j == NULL) {
            continue;
        }
        size_t jl = strlen(j);
        if (strcmp(j, set_jurisdiction) == 0) {
            return 1;
        }
        /* Set "US" on contact "US-FL". */
        if (sl == 2 && jl > 2 && j[2] == '-' && memcmp(j, set_jurisdiction, 2) == 0) {
            return 1;
        }
        /* Contact "US" (state unknown) takes set "US-FL": the strictest. */
        if (jl == 2 && sl > 2 && set_jurisdiction[2] == '-' &&
            memcmp(j, set_jurisdiction, 2) == 0) {
            return 1;
        }
    }
    return 0;
}

size_t ecm_rules_nsets(const ecm_rules *r)
{
    return r ? r->nsets : 0;
}

int64_t ecm_rules_lookback_s(const ecm_rules *r)
{
    int64_t ms = 0;
    for (size_t i = 0; r && i < r->nrules; i++) {
        const rule *ru = &r->rules[i];
        int64_t p = ru->kind == K_CAP ? ru->window_ms : ru->kind == K_QUIET ? ru->quiet_ms : 0;
        ms = p > ms ? p : ms;
    }
    return ms / 1000;
}

/* Bits of ecm_rules_attempt.same an attempt needs to count for scope. */
unsigned ecm_rules_scope_mask(unsigned scope)
{
    return scope == ECM_RULES_SAME_SUBJECT ? (ECM_RULES_SAME_SUBJECT | ECM_RULES_SAME_CONTACT)
                                           : scope;
}

void ecm_rules_history_need(const ecm_rules *r, const char *const *jurisdictions,
                            size_t njurisdictions, ecm_rules_channel channel, ecm_rules_need *need)
{
    memset(need, 0, sizeof *need);
    int caps = 0;
    int64_t ms = 0;
    for (size_t i = 0; r && i < r->nrules; i++) {
        const rule *ru = &r->rules[i];
        if ((ru->kind != K_CAP && ru->kind != K_QUIET) || !(ru->channels & (unsigned)channel) ||
            !ecm_rules_set_applies(r->sets[ru->set].jur, jurisdictions, njurisdictions)) {
            continue;
        }
        need->scopes |= ecm_rules_scope_mask(ru->scope);
        need->channels |= ru->channels;
        int64_t p = ru->kind == K_CAP ? ru->window_ms : ru->quiet_ms;
        ms = p > ms ? p : ms;
        caps |= ru->kind == K_CAP;
    }
    need->lookback_s = ms / 1000;
    need->outcomes_only = need->scopes != 0 && !caps;
}

#include "ecm_rules.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_utf8.h"
#include "ecm_zone.h"

#define MINUTE_MS 60000LL
#define DAY_MINUTES 1440
#define WEEK_BYTES (DAY_MINUTES / 8)
/* Longest cap window or quiet period: ten years. */
#define PERIOD_MAX_S (3660LL * 24 * 3600)
/* Bound on the steps of the search for an allowed instant; every step moves
 * forward past one blocking rule, so a real rule collection needs a few. */
#define MAX_STEPS 20000

enum { K_HOURS, K_DAY_OFF, K_CAP, K_QUIET, K_BLACKOUT };
static const char *const kind_names[] = {"hours", "day_off", "cap", "quiet", "blackout"};

typedef struct {
    int64_t id;
    char *name;
    char jur[ECM_RULES_JURISDICTION_MAX + 1];
    /* Hours per channel ([0] voice, [1] sms), NULL when no hours rule of the
     * set covers that channel; and the same as minute bits per weekday, to
     * see at once when the sets' hours never meet. */
    ecm_window *win[2];
    unsigned char week[2][7][WEEK_BYTES];
} rset;

typedef struct {
    int64_t id;
    size_t set;
    int kind;
    char *says;
    unsigned channels;
    unsigned wdays;
    int start_min, end_min;
    int64_t day; /* day_off: days since 1970-01-01 */
    unsigned scope;
    int max;
    int64_t window_ms;
    char *outcome;
    int64_t quiet_ms;
} rule;

typedef struct {
    int64_t day;
    char *reason;
} blackout;

struct ecm_rules {
    rset *sets;
    size_t nsets, capsets;
    rule *rules;
    size_t nrules, caprules;
    blackout *blackouts;
    size_t nblackouts, capblackouts;
};

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
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The date of day z since 1970-01-01 (the inverse of days_from_civil). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
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
    ru.day = days_from_civil(year, month, day);
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
    r->blackouts[r->nblackouts++] = (blackout){days_from_civil(year, month, day), copy};
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
static unsigned scope_mask(unsigned scope)
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
        need->scopes |= scope_mask(ru->scope);
        need->channels |= ru->channels;
        int64_t p = ru->kind == K_CAP ? ru->window_ms : ru->quiet_ms;
        ms = p > ms ? p : ms;
        caps |= ru->kind == K_CAP;
    }
    need->lookback_s = ms / 1000;
    need->outcomes_only = need->scopes != 0 && !caps;
}

/* ---- evaluation ---------------------------------------------------------- */

/* What blocks at one instant: the kind, the rule (index in r->rules, or in
 * r->blackouts for K_BLACKOUT), the set for hours, the instant checked
 * (now or now + margin), the earliest instant it could allow, and for caps
 * and quiet rules the attempt that holds it. */
typedef struct {
    int kind;
    size_t index;
    size_t set;
    int64_t at;
    int64_t next;
    int64_t holder_ms;
    int count;
} hit;

typedef struct {
    const ecm_rules *r;
    const ecm_rules_in *in;
    unsigned chbit;
    int ch;                   /* 0 voice, 1 sms */
    const unsigned char *app; /* per set: 1 when it applies */
    int64_t *scratch;         /* nhistory instants */
    int has_days;             /* any applicable day off or blackout */
} ctx;

/* Records that h blocks: *worst keeps the hit that holds longest. */
static void consider(hit *worst, int *blocked, const hit *h)
{
    if (!*blocked || h->next > worst->next) {
        *worst = *h;
    }
    *blocked = 1;
}

/* The day off or blackout that closes the local day of x, if any: 1 and
 * *h, else 0 (-1 when ICU cannot tell the day: the zone was checked, so
 * never in practice). */
static int day_closed(const ctx *c, int64_t x, hit *h)
{
    int f[6];
    if (ecm_zone_utc_to_local(c->in->zone, x, f) != 0) {
        return -1;
    }
    int64_t dn = days_from_civil(f[0], f[1], f[2]);
    const ecm_rules *r = c->r;
    for (size_t i = 0; i < r->nrules; i++) {
        const rule *ru = &r->rules[i];
        if (ru->kind == K_DAY_OFF && ru->day == dn && (ru->channels & c->chbit) &&
            c->app[ru->set]) {
            h->kind = K_DAY_OFF;
            h->index = i;
            h->set = ru->set;
            return 1;
        }
    }
    for (size_t i = 0; i < r->nblackouts; i++) {
        if (r->blackouts[i].day == dn) {
            h->kind = K_BLACKOUT;
            h->index = i;
            return 1;
        }
    }
    return 0;
}

/* Days off at x (now or now + margin, shift = margin): a lower bound for the
 * next allowed instant, recorded in worst. */
static void check_days(const ctx *c, int64_t x, int64_t shift, hit *worst, int *blocked)
{
    hit h = {0};
    if (day_closed(c, x, &h) <= 0) {
        return;
    }
    int64_t start, end;
    if (ecm_window_local_day(c->in->zone, x, &start, &end) != 0) {
        end = x + 24 * 3600 * 1000LL;
    }
    h.at = x;
    h.next = end - shift;
    consider(worst, blocked, &h);
}

/* Hours of each applicable set at x (now or now + margin, shift = margin): a
 * closed set records the instant it opens, minus shift. */
static void check_hours(const ctx *c, int64_t x, int64_t shift, hit *worst, int *blocked)
{
    const ecm_rules *r = c->r;
    for (size_t s = 0; s < r->nsets; s++) {
        const ecm_window *w = r->sets[s].win[c->ch];
        if (!c->app[s] || w == NULL) {
            continue;
        }
        int64_t open = ecm_window_next_open(w, c->in->zone, x);
        if (open == x) {
            continue;
        }
        hit h = {.kind = K_HOURS, .set = s, .at = x};
        h.next = (open >= 0 ? open : x + ECM_WINDOW_HORIZON_MS) - shift;
        consider(worst, blocked, &h);
    }
}

/* qsort order of int64_t, ascending. */
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* 1 when attempt a counts for cap or quiet rule ru (its scope and channel). */
static int attempt_counts(const rule *ru, const ecm_rules_attempt *a)
{
    return (a->same & scope_mask(ru->scope)) != 0 && ((unsigned)a->channel & ru->channels) != 0;
}

/* Caps and quiet rules at t: a cap reached records when its oldest counted
 * attempt that must leave the window does; a quiet rule the end of the latest
 * period that holds t. */
static void check_caps_quiet(const ctx *c, int64_t t, hit *worst, int *blocked)
{
    const ecm_rules *r = c->r;
    const ecm_rules_in *in = c->in;
    for (size_t i = 0; i < r->nrules; i++) {
        const rule *ru = &r->rules[i];
        if ((ru->kind != K_CAP && ru->kind != K_QUIET) || !(ru->channels & c->chbit) ||
            !c->app[ru->set]) {
            continue;
        }
        hit h = {.kind = ru->kind, .index = i, .set = ru->set, .at = t};
        if (ru->kind == K_CAP) {
            size_t n = 0;
            for (size_t k = 0; k < in->nhistory; k++) {
                const ecm_rules_attempt *a = &in->history[k];
                if (attempt_counts(ru, a) && a->dispatched_ms > t - ru->window_ms &&
                    a->dispatched_ms <= t) {
                    c->scratch[n++] = a->dispatched_ms;
                }
            }
            if (n < (size_t)ru->max) {
                continue;
            }
            qsort(c->scratch, n, sizeof c->scratch[0], cmp_i64);
            h.holder_ms = c->scratch[n - (size_t)ru->max];
            h.next = h.holder_ms + ru->window_ms;
            h.count = (int)n;
            consider(worst, blocked, &h);
        } else {
            int found = 0;
            for (size_t k = 0; k < in->nhistory; k++) {
                const ecm_rules_attempt *a = &in->history[k];
                if (!attempt_counts(ru, a) || a->outcome == NULL ||
                    strcmp(a->outcome, ru->outcome) != 0) {
                    continue;
                }
                int64_t at = a->result_ms ? a->result_ms : a->dispatched_ms;
                if (at <= t && t < at + ru->quiet_ms && (!found || at + ru->quiet_ms > h.next)) {
                    h.holder_ms = at;
                    h.next = at + ru->quiet_ms;
                    found = 1;
                }
            }
            if (found) {
                consider(worst, blocked, &h);
            }
        }
    }
}

/* Everything at instant t: 0 allowed, 1 blocked with the rule that holds
 * longest in *worst. */
static int blocked_at(const ctx *c, int64_t t, hit *worst)
{
    int blocked = 0;
    int64_t margin = c->in->margin_ms;
    if (c->has_days) {
        check_days(c, t, 0, worst, &blocked);
        if (margin > 0) {
            check_days(c, t + margin, margin, worst, &blocked);
        }
    }
    check_hours(c, t, 0, worst, &blocked);
    if (margin > 0) {
        check_hours(c, t + margin, margin, worst, &blocked);
    }
    check_caps_quiet(c, t, worst, &blocked);
    return blocked;
}

/* 1 when the hours of the applicable sets meet in some weekday minute for
 * channel c (so a search for an instant they all allow can end), else 0. */
static int hours_can_meet(const ctx *c)
{
    unsigned char acc[7][WEEK_BYTES];
    memset(acc, 0xff, sizeof acc);
    for (size_t s = 0; s < c->r->nsets; s++) {
        if (!c->app[s] || c->r->sets[s].win[c->ch] == NULL) {
            continue;
        }
        for (int d = 0; d < 7; d++) {
            for (int k = 0; k < WEEK_BYTES; k++) {
                acc[d][k] &= c->r->sets[s].week[c->ch][d][k];
            }
        }
    }
    for (int d = 0; d < 7; d++) {
        for (int k = 0; k < WEEK_BYTES; k++) {
            if (acc[d][k]) {
                return 1;
            }
        }
    }
    return 0;
}

/* ms as RFC 3339 UTC, or words for ECM_WINDOW_NONE. */
static void format_instant(int64_t ms, char *out, size_t size)
{
    if (ms == ECM_WINDOW_NONE) {
        snprintf(out, size, "none within 400 days");
        return;
    }
    ecm_clock_format_ms(ms, out, size);
}

/* A duration in the largest whole unit: "7 d", "24 h", "90 min", "61 s". */
static void format_period(int64_t ms, char *out, size_t size)
{
    long long s = (long long)(ms / 1000);
    if (s % 86400 == 0 && s >= 2 * 86400) {
        snprintf(out, size, "%lld d", s / 86400);
    } else if (s % 3600 == 0) {
        snprintf(out, size, "%lld h", s / 3600);
    } else if (s % 60 == 0) {
        snprintf(out, size, "%lld min", s / 60);
    } else {
        snprintf(out, size, "%lld s", s);
    }
}

static const char *const wday_names[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

/* The hours rule to name for set s closed at x: one of its rules for the
 * channel that covers x's local weekday, else its first for the channel. */
static const rule *hours_rule(const ctx *c, size_t s, int wday)
{
    const rule *first = NULL;
    for (size_t i = 0; i < c->r->nrules; i++) {
        const rule *ru = &c->r->rules[i];
        if (ru->kind != K_HOURS || ru->set != s || !(ru->channels & c->chbit)) {
            continue;
        }
        if (wday >= 0 && (ru->wdays & (1u << wday))) {
            return ru;
        }
        if (first == NULL) {
            first = ru;
        }
    }
    return first;
}

/* Fills *b for hit h at the evaluation's now, the search having ended at
 * until. */
static void describe(const ctx *c, const hit *h, int64_t until, ecm_rules_block *b)
{
    const ecm_rules *r = c->r;
    char next[40], at[40], local[40] = "";
    format_instant(until, next, sizeof next);
    format_instant(h->holder_ms, at, sizeof at);
    int f[6];
    int wday = -1;
    if (ecm_zone_utc_to_local(c->in->zone, h->at, f) == 0) {
        wday = (int)(((days_from_civil(f[0], f[1], f[2]) % 7) + 11) % 7);
        snprintf(local, sizeof local, "%04d-%02d-%02d %s %02d:%02d", f[0], f[1], f[2],
                 wday_names[wday], f[3], f[4]);
    }
    const char *margin = h->at != c->in->now_ms ? " (the dispatch margin's end)" : "";
    memset(b, 0, sizeof *b);
    b->until_ms = until;
    b->kind = kind_names[h->kind];
    if (h->kind == K_BLACKOUT) {
        const blackout *bo = &r->blackouts[h->index];
        b->rule_id = 0;
        b->set_name = "campaign";
        b->says = bo->reason;
        int y, m, d;
        civil_from_days(bo->day, &y, &m, &d);
        ecm_utf8_format(b->why, sizeof b->why,
                        "blackout: the campaign's day off %04d-%02d-%02d closes that local day "
                        "in %s%s; next allowed %s: \"%s\"",
                        y, m, d, c->in->zone, margin, next, bo->reason);
        return;
    }
    const rule *ru = h->kind == K_HOURS ? hours_rule(c, h->set, wday) : &r->rules[h->index];
    const rset *s = &r->sets[h->set];
    b->rule_id = ru ? ru->id : 0;
    b->set_name = s->name;
    b->says = ru ? ru->says : "";
    switch (h->kind) {
    case K_HOURS:
        ecm_utf8_format(b->why, sizeof b->why,
                        "hours: %s (rule %lld) does not allow %s local in %s%s; next allowed %s: "
                        "\"%s\"",
                        s->name, (long long)b->rule_id, local, c->in->zone, margin, next, b->says);
        break;
    case K_DAY_OFF: {
        int y, m, d;
        civil_from_days(ru->day, &y, &m, &d);
        ecm_utf8_format(b->why, sizeof b->why,
                        "day off: %s (rule %lld) closes %04d-%02d-%02d local in %s%s; next "
                        "allowed %s: \"%s\"",
                        s->name, (long long)ru->id, y, m, d, c->in->zone, margin, next, ru->says);
        break;
    }
    case K_CAP: {
        char win[24];
        format_period(ru->window_ms, win, sizeof win);
        ecm_utf8_format(b->why, sizeof b->why,
                        "cap: %d attempts in %s (%s, rule %lld) reached with %d, the one that "
                        "frees it dispatched %s; next allowed %s: \"%s\"",
                        ru->max, win, s->name, (long long)ru->id, h->count, at, next, ru->says);
        break;
    }
    default: {
        char q[24];
        format_period(ru->quiet_ms, q, sizeof q);
        ecm_utf8_format(b->why, sizeof b->why,
                        "quiet: %s after %s (%s, rule %lld), that outcome at %s; next allowed %s: "
                        "\"%s\"",
                        q, ru->outcome, s->name, (long long)ru->id, at, next, ru->says);
        break;
    }
    }
}

int ecm_rules_allows(const ecm_rules *r, const ecm_rules_in *in, ecm_rules_block *b)
{
    if (r == NULL || in == NULL || in->zone == NULL || in->margin_ms < 0 ||
        (in->channel != ECM_RULES_VOICE && in->channel != ECM_RULES_SMS) ||
        (in->nhistory > 0 && in->history == NULL) ||
        (in->njurisdictions > 0 && in->jurisdictions == NULL) ||
        ecm_window_tz_canonical(in->zone, NULL, 0) != 0) {
        return -1;
    }
    if (r->nsets == 0 && r->nblackouts == 0) {
        return 1;
    }
    unsigned char app_small[64];
    unsigned char *app = r->nsets <= sizeof app_small ? app_small : malloc(r->nsets);
    int64_t *scratch = in->nhistory ? malloc(in->nhistory * sizeof *scratch) : NULL;
    if (app == NULL || (in->nhistory && scratch == NULL)) {
        /* Out of memory: refuse for a minute rather than allow unchecked. */
        if (app != app_small) {
            free(app);
        }
        free(scratch);
        if (b) {
            memset(b, 0, sizeof *b);
            b->kind = "hours";
            b->set_name = b->says = "";
            b->until_ms = in->now_ms + MINUTE_MS;
            snprintf(b->why, sizeof b->why, "rules: out of memory; try again in a minute");
        }
        return 0;
    }
    ctx c = {.r = r,
             .in = in,
             .chbit = (unsigned)in->channel,
             .ch = in->channel == ECM_RULES_VOICE ? 0 : 1,
             .app = app,
             .scratch = scratch,
             .has_days = r->nblackouts > 0};
    for (size_t s = 0; s < r->nsets; s++) {
        app[s] = (unsigned char)ecm_rules_set_applies(r->sets[s].jur, in->jurisdictions,
                                                      in->njurisdictions);
    }
    for (size_t i = 0; i < r->nrules && !c.has_days; i++) {
        c.has_days = r->rules[i].kind == K_DAY_OFF && app[r->rules[i].set] &&
                     (r->rules[i].channels & c.chbit);
    }
    hit first = {0};
    int rc = 1;
    if (blocked_at(&c, in->now_ms, &first)) {
        rc = 0;
        int64_t until = ECM_WINDOW_NONE;
        if (hours_can_meet(&c)) {
            int64_t t = first.next;
            for (int step = 0; step < MAX_STEPS && t - in->now_ms <= ECM_RULES_HORIZON_MS; step++) {
                hit h = {0};
                if (!blocked_at(&c, t, &h)) {
                    until = t;
                    break;
                }
                /* Every lower bound is after t; never loop in place. */
                t = h.next > t ? h.next : t + 1;
            }
        }
        if (b) {
            describe(&c, &first, until, b);
        }
    }
    if (app != app_small) {
        free(app);
    }
    free(scratch);
    return rc;
}

/* ecm_rules_allows(): the evaluation of a rule collection built by
 * ecm_rules.c (builders) or ecm_rules_pg.c (loader). */
#include "ecm_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_rules_int.h"
#include "ecm_utf8.h"
#include "ecm_zone.h"

/* Bound on the steps of the search for an allowed instant; every step moves
 * forward past one blocking rule, so a real rule collection needs a few. */
#define MAX_STEPS 20000

static const char *const kind_names[] = {"hours", "day_off", "cap", "quiet", "blackout"};

/* The date of day z since 1970-01-01 (the inverse of ecm_rules_days_from_civil). */
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
    int64_t dn = ecm_rules_days_from_civil(f[0], f[1], f[2]);
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
    return (a->same & ecm_rules_scope_mask(ru->scope)) != 0 &&
           ((unsigned)a->channel & ru->channels) != 0;
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
        wday = (int)(((ecm_rules_days_from_civil(f[0], f[1], f[2]) % 7) + 11) % 7);
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

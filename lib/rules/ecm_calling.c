#include "ecm_calling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"

#define VERSION_MAX 64
#define CACHE_MAX 256 /* campaigns remembered; past it the oldest entry goes */

int ecm_calling_legal_parse(const char *s, ecm_legal_hours *out, char *errstr, size_t errstr_size)
{
    char a[8], b[8];
    const char *dash = s ? strchr(s, '-') : NULL;
    if (dash == NULL || (size_t)(dash - s) >= sizeof a || strlen(dash + 1) >= sizeof b) {
        (void)snprintf(errstr, errstr_size, "'%.40s' is not HH:MM-HH:MM", s ? s : "");
        return -1;
    }
    memcpy(a, s, (size_t)(dash - s));
    a[dash - s] = '\0';
    (void)snprintf(b, sizeof b, "%s", dash + 1);
    int start, end;
    if (ecm_window_parse_hhmm(a, &start) != 0 || ecm_window_parse_hhmm(b, &end) != 0) {
        (void)snprintf(errstr, errstr_size, "'%.40s' is not HH:MM-HH:MM", s);
        return -1;
    }
    if (start >= end) {
        (void)snprintf(errstr, errstr_size, "'%.40s': the start is not before the end", s);
        return -1;
    }
    out->start_min = start;
    out->end_min = end;
    return 0;
}

int ecm_calling_validate_legal(const char *value, char *errstr, size_t errstr_size)
{
    ecm_legal_hours h;
    return ecm_calling_legal_parse(value, &h, errstr, errstr_size);
}

/* PostgreSQL prints timestamptz as "2026-03-09 20:55:00-04" or with
 * ":30" minutes and fractions; ecm_clock_parse_time wants ±hh:mm. */
static int parse_pg_time(const char *s, int64_t *ms)
{
    if (ecm_clock_parse_time(s, ms) == 0) {
        return 0;
    }
    size_t n = strlen(s);
    char buf[64];
    if (n >= 3 && n + 4 < sizeof buf && (s[n - 3] == '+' || s[n - 3] == '-')) {
        (void)snprintf(buf, sizeof buf, "%s:00", s);
        return ecm_clock_parse_time(buf, ms);
    }
    return -1;
}

int ecm_calling_window(const char *window_json, const char *start_at, const char *end_at,
                       const ecm_legal_hours *legal, ecm_window **out, char *errstr,
                       size_t errstr_size)
{
    *out = NULL;
    ecm_window *w = NULL;
    if (window_json == NULL || window_json[0] == '\0') {
        w = ecm_window_new();
        for (int d = 0; w != NULL && d < 7; d++) {
            if (ecm_window_add_range(w, d, 0, 1440, errstr, errstr_size) != 0) {
                ecm_window_destroy(w);
                return -1;
            }
        }
        if (w == NULL) {
            (void)snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
    } else if (ecm_window_parse_json_text(window_json, &w, errstr, errstr_size) != 0) {
        return -1;
    }
    if (ecm_window_set_legal_hours(w, legal->start_min, legal->end_min, errstr, errstr_size) != 0) {
        ecm_window_destroy(w);
        return -1;
    }
    int64_t from = ECM_WINDOW_NO_START, to = ECM_WINDOW_NO_END;
    if ((start_at && start_at[0] && parse_pg_time(start_at, &from) != 0) ||
        (end_at && end_at[0] && parse_pg_time(end_at, &to) != 0)) {
        (void)snprintf(errstr, errstr_size, "start_at/end_at: not a time ('%.40s', '%.40s')",
                       start_at ? start_at : "", end_at ? end_at : "");
        ecm_window_destroy(w);
        return -1;
    }
    ecm_window_set_bounds(w, from, to);
    *out = w;
    return 0;
}

typedef struct {
    int64_t campaign_id;
    char version[VERSION_MAX];
    ecm_window *w;
    uint64_t used; /* tick of the last use, for eviction */
} cache_entry;

struct ecm_calling_cache {
    ecm_legal_hours legal;
    cache_entry entries[CACHE_MAX];
    size_t n;
    uint64_t tick;
};

ecm_calling_cache *ecm_calling_cache_new(const ecm_legal_hours *legal)
{
    ecm_calling_cache *c = calloc(1, sizeof *c);
    if (c != NULL) {
        c->legal = *legal;
    }
    return c;
}

void ecm_calling_cache_destroy(ecm_calling_cache *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        ecm_window_destroy(c->entries[i].w);
    }
    free(c);
}

const ecm_window *ecm_calling_cache_get(ecm_calling_cache *c, int64_t campaign_id,
                                        const char *version, const char *window_json,
                                        const char *start_at, const char *end_at, char *errstr,
                                        size_t errstr_size)
{
    c->tick++;
    cache_entry *slot = NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (c->entries[i].campaign_id == campaign_id) {
            slot = &c->entries[i];
            break;
        }
    }
    if (slot != NULL && strcmp(slot->version, version ? version : "") == 0) {
        slot->used = c->tick;
        return slot->w;
    }
    ecm_window *w = NULL;
    if (ecm_calling_window(window_json, start_at, end_at, &c->legal, &w, errstr, errstr_size) !=
        0) {
        return NULL;
    }
    if (slot == NULL) {
        if (c->n < CACHE_MAX) {
            slot = &c->entries[c->n++];
        } else {
            slot = &c->entries[0];
            for (size_t i = 1; i < c->n; i++) {
                if (c->entries[i].used < slot->used) {
                    slot = &c->entries[i];
                }
            }
        }
    }
    ecm_window_destroy(slot->w);
    slot->campaign_id = campaign_id;
    (void)snprintf(slot->version, sizeof slot->version, "%s", version ? version : "");
    slot->w = w;
    slot->used = c->tick;
    return w;
}

const char *ecm_calling_zone(const char *contact_tz, const char *phone_zone,
                             const char *campaign_tz)
{
    const char *order[3] = {contact_tz, phone_zone, campaign_tz};
    for (int i = 0; i < 3; i++) {
        if (order[i] != NULL && order[i][0] != '\0' &&
            ecm_window_tz_canonical(order[i], NULL, 0) == 0) {
            return order[i];
        }
    }
    return "UTC";
}

int ecm_calling_pick_phone(const int *blocked, int n, int from)
{
    if (n <= 0) {
        return -1;
    }
    if (from < 0 || from >= n) {
        from = 0;
    }
    for (int k = 0; k < n; k++) {
        int i = (from + k) % n;
        if (!blocked[i]) {
            return i;
        }
    }
    return -1;
}

ecm_calling_verdict ecm_calling_check(const ecm_window *w, const char *zone, int64_t now_ms,
                                      int64_t *until)
{
    int open = ecm_window_is_open(w, zone, now_ms);
    if (open < 0) {
        zone = "UTC";
        open = ecm_window_is_open(w, zone, now_ms);
    }
    if (open == 1) {
        return ECM_CALLING_GO;
    }
    int64_t next = ecm_window_next_open(w, zone, now_ms);
    if (next < 0 && !ecm_window_has_open_time(w)) {
        /* A window that never opens is refused when saved; one edited by
         * hand must not close every contact: they wait for a fix. */
        *until = now_ms + 24LL * 3600 * 1000;
        return ECM_CALLING_WAIT;
    }
    if (next < 0) {
        return ECM_CALLING_EXPIRE;
    }
    *until = next;
    return ECM_CALLING_WAIT;
}

ecm_calling_verdict ecm_calling_check_margin(const ecm_window *w, const char *zone, int64_t now_ms,
                                             int64_t margin_ms, int64_t *until)
{
    if (ecm_window_tz_canonical(zone, NULL, 0) != 0) {
        zone = "UTC"; /* as ecm_calling_check() reads it */
    }
    ecm_calling_verdict v = ecm_calling_check(w, zone, now_ms, until);
    if (v != ECM_CALLING_GO || margin_ms <= 0) {
        return v;
    }
    int64_t later = now_ms + margin_ms;
    if (ecm_window_is_open(w, zone, later) == 1) {
        return ECM_CALLING_GO;
    }
    /* Closed at `later`: the check from there gives the next opening. */
    return ecm_calling_check(w, zone, later, until);
}

#define DECIDE_MAX_STEPS 64
#define BAD_RULES_WAIT_MS (5LL * 60 * 1000)

/* Keeps in out what holds the contact longest: a step from t to until (the
 * window's opening, or a rule's end; until < 0: never) replaces what out
 * holds when it is longer. *longest is that step's length. */
static void hold(ecm_calling_answer *out, int64_t *longest, int64_t t, int64_t until,
                 int64_t rule_id, const char *kind, const char *why)
{
    int64_t jump = until < 0 ? INT64_MAX : until - t;
    if (out->rule_id >= 0 && jump <= *longest)
        return;
    *longest = jump;
    out->rule_id = rule_id;
    (void)snprintf(out->kind, sizeof out->kind, "%s", kind);
    (void)snprintf(out->why, sizeof out->why, "%s", why);
}

void ecm_calling_decide(const ecm_window *w, const ecm_rules *r, ecm_rules_in *in, int64_t now_ms,
                        int64_t margin_ms, int64_t end_ms, ecm_calling_answer *out)
{
    memset(out, 0, sizeof *out);
    out->rule_id = -1;
    const char *zone =
        in->zone && ecm_window_tz_canonical(in->zone, NULL, 0) == 0 ? in->zone : "UTC";
    int64_t t = now_ms, longest = 0;
    for (int step = 0; step < DECIDE_MAX_STEPS; step++) {
        if (end_ms != 0 && t >= end_ms)
            goto expire;
        if (w) {
            int64_t until = t;
            ecm_calling_verdict v = ecm_calling_check_margin(w, zone, t, margin_ms, &until);
            if (v == ECM_CALLING_EXPIRE)
                goto expire;
            if (v == ECM_CALLING_WAIT) {
                char why[200], at[40];
                (void)snprintf(why, sizeof why,
                               "outside the campaign's calling window or the legal hours in %s; "
                               "opens %s",
                               zone, ecm_clock_format_ms(until, at, sizeof at));
                hold(out, &longest, t, until, 0, "window", why);
                t = until > t ? until : t + 60000;
                continue;
            }
        }
        if (!r)
            goto settle;
        ecm_rules_block b;
        memset(&b, 0, sizeof b);
        in->zone = zone;
        in->now_ms = t;
        in->margin_ms = margin_ms;
        int ok = ecm_rules_allows(r, in, &b);
        if (ok == 1)
            goto settle;
        if (ok < 0) {
            /* Rules that can't be evaluated close nobody: look again later. */
            out->verdict = ECM_CALLING_WAIT;
            out->until_ms = now_ms + BAD_RULES_WAIT_MS;
            out->rule_id = 0;
            (void)snprintf(out->kind, sizeof out->kind, "rules");
            (void)snprintf(
                out->why, sizeof out->why,
                "the campaign's contact rules could not be evaluated; judged again later");
            return;
        }
        hold(out, &longest, t, b.until_ms, b.rule_id, b.kind ? b.kind : "rule", b.why);
        if (b.until_ms < 0)
            goto expire;
        t = b.until_ms > t ? b.until_ms : t + 60000;
    }
settle:
    if (t == now_ms) {
        out->verdict = ECM_CALLING_GO;
        out->rule_id = -1;
        out->kind[0] = '\0';
        out->why[0] = '\0';
    } else {
        out->verdict = ECM_CALLING_WAIT;
        out->until_ms = t;
    }
    return;
expire:
    out->verdict = ECM_CALLING_EXPIRE;
    if (out->rule_id < 0) {
        out->rule_id = 0;
        (void)snprintf(out->kind, sizeof out->kind, "window");
        (void)snprintf(out->why, sizeof out->why,
                       "no time left before the campaign's end when it may be contacted");
    }
}

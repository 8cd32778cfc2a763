#include "ecm_eligibility.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_gate.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_utf8.h"
#include "ecm_zone.h"

#define REASON_MAX 1200
/* DNC entries named in a closed contact's reason; all are in `dnc`. */
#define REASON_DNC_MAX 3

/* The gate's columns first (judged by ecm_gate_judge_contact), then what
 * the gate does not judge. No lock: nothing here decides anything. */
/* clang-format off */
static const char CONTACT_SQL[] =
    "SELECT " ECM_GATE_COLUMNS ", ct.state, c.state, c.name, ct.outcome, "
    "(extract(epoch FROM ct.next_attempt_at) * 1000)::bigint, "
    "(extract(epoch FROM ct.closed_at) * 1000)::bigint, ct.hold_reason, ct.hold_rule_id, "
    "ct.phones::text, " ECM_CONTACT_CHANNEL_SQL ", "
    "a.attempt, a.phone, a.channel, (extract(epoch FROM a.dispatched_at) * 1000)::bigint, "
    "a.status, (extract(epoch FROM c.start_at) * 1000)::bigint, "
    "(extract(epoch FROM c.end_at) * 1000)::bigint, "
    "(extract(epoch FROM a.outcome_at) * 1000)::bigint "
    "FROM contacts ct JOIN campaigns c ON c.id = ct.campaign_id "
    "LEFT JOIN LATERAL (SELECT attempt, phone, channel, dispatched_at, status, outcome_at "
    "FROM attempts "
    "WHERE contact_id = ct.id ORDER BY attempt DESC LIMIT 1) a ON true "
    "WHERE ct.id = $1";
/* clang-format on */

enum {
    E_STATE = ECM_GATE_NCOLS,
    E_CAMPAIGN_STATE,
    E_CAMPAIGN_NAME,
    E_OUTCOME,
    E_NEXT_MS,
    E_CLOSED_MS,
    E_HOLD_REASON,
    E_HOLD_RULE,
    E_PHONES,
    E_CHANNEL,
    E_ATT_N,
    E_ATT_PHONE,
    E_ATT_CHANNEL,
    E_ATT_AT,
    E_ATT_STATUS,
    E_START_MS,
    E_END_MS,
    E_ATT_OUTCOME_MS,
};

/* The dnc rows of the contact's numbers: the match of ECM_DNC_BLOCKED_SQL
 * (digits, global or the contact's campaign), per channel, with the
 * ledger entry's business time. Voice before sms, global before campaign. */
static const char DNC_SQL[] =
    "SELECT u.i - 1, u.p, d.channel, d.campaign_id IS NULL, "
    "(extract(epoch FROM l.at) * 1000)::bigint, d.source, d.reason "
    "FROM contacts ct CROSS JOIN LATERAL unnest(ct.phones) WITH ORDINALITY AS u (p, i) "
    "JOIN dnc d ON d.phone_key = regexp_replace(u.p, '[^0-9]', '', 'g') "
    "AND (d.campaign_id IS NULL OR d.campaign_id = ct.campaign_id) "
    "LEFT JOIN consent_ledger l ON l.id = d.ledger_id "
    "WHERE ct.id = $1 ORDER BY u.i, d.channel DESC, d.campaign_id NULLS FIRST";

static const char RULE_SQL[] = "SELECT rs.name, ru.kind, ru.says FROM rules ru "
                               "JOIN rule_sets rs ON rs.id = ru.rule_set_id WHERE ru.id = $1";

static const char *const STATE_NAMES[] = {
    "eligible_now",        "waiting", "held", "out_with_dialer", "closed",
    "campaign_not_active", "blocked",
};

const char *ecm_eligibility_state_name(ecm_eligibility_state s)
{
    if ((int)s < 0 || (size_t)s >= sizeof STATE_NAMES / sizeof STATE_NAMES[0])
        return "unknown";
    return STATE_NAMES[s];
}

void ecm_eligibility_destroy(ecm_eligibility *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->ndnc; i++) {
        free(e->dnc[i].phone);
        free(e->dnc[i].source);
        free(e->dnc[i].reason);
    }
    free(e->dnc);
    free(e->campaign_name);
    free(e->reason);
    free(e->rule_set);
    free(e->rule_kind);
    free(e->rule_says);
    free(e->phone);
    free(e->zone);
    free(e);
}

/* strdup of s, NULL staying NULL; *failed set when memory runs out. */
static char *dup_or_null(const char *s, int *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = 1;
    return d;
}

/* ---- local time -------------------------------------------------------- */

/* The wall clock of ms in zone as if it were UTC (*wall_ms, whole seconds)
 * and the zone's offset then in minutes. Returns 0, or -1 when the zone is
 * unknown. */
static int local_parts(const char *zone, int64_t ms, int64_t *wall_ms, int *offset_min)
{
    int f[6];
    int64_t wall;
    if (!zone || ecm_zone_utc_to_local(zone, ms, f) != 0 ||
        ecm_zone_local_to_utc_ms("UTC", f[0], f[1], f[2], f[3], f[4], f[5], &wall) != 0)
        return -1;
    int64_t secs_ms = ms - (((ms % 1000) + 1000) % 1000);
    *wall_ms = wall;
    *offset_min = (int)((wall - secs_ms) / 60000);
    return 0;
}

/* ms in zone as RFC 3339 with the zone's offset ("2026-03-10T09:00:00+05:00")
 * into out; "" when the zone is unknown. Returns out. */
static char *format_local(const char *zone, int64_t ms, char *out, size_t size)
{
    int64_t wall;
    int off;
    out[0] = '\0';
    if (local_parts(zone, ms, &wall, &off) != 0)
        return out;
    char utc[40];
    ecm_clock_format_ms(wall, utc, sizeof utc); /* "2026-03-10T09:00:00.000Z" */
    int a = off < 0 ? -off : off;
    (void)snprintf(out, size, "%.19s%c%02d:%02d", utc, off < 0 ? '-' : '+', a / 60, a % 60);
    return out;
}

/* ms in zone for a reader: "Tue 2026-03-10 09:00 (Asia/Karachi)"; the UTC
 * time when the zone is unknown. Returns out. */
static char *say_local(const char *zone, int64_t ms, char *out, size_t size)
{
    static const char *const wdays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    int64_t wall;
    int off;
    char utc[40];
    if (local_parts(zone, ms, &wall, &off) != 0) {
        (void)snprintf(out, size, "%s", ecm_clock_format_ms(ms, utc, sizeof utc));
        return out;
    }
    int64_t day = wall / 86400000 - (wall % 86400000 < 0);
    ecm_clock_format_ms(wall, utc, sizeof utc);
    (void)ecm_utf8_format(out, size, "%s %.10s %.5s (%s)", wdays[((day % 7) + 7) % 7], utc,
                          utc + 11, zone);
    return out;
}

/* ---- DNC --------------------------------------------------------------- */

static int add_dnc(ecm_eligibility *e, size_t cap, int index, const char *phone,
                   const char *channel, const PGresult *d, int row)
{
    if (e->ndnc >= cap)
        return 0;
    ecm_eligibility_dnc *x = &e->dnc[e->ndnc++];
    int failed = 0;
    x->phone_index = index;
    x->phone = dup_or_null(phone ? phone : "", &failed);
    (void)snprintf(x->channel, sizeof x->channel, "%s", channel);
    x->since_ms = -1;
    if (d) {
        x->listed = 1;
        x->scope = strcmp(PQgetvalue(d, row, 3), "t") == 0 ? "global" : "campaign";
        x->since_ms = ecm_pgval_ll(d, row, 4, -1);
        x->source = dup_or_null(ecm_pgval_str(d, row, 5), &failed);
        x->reason = dup_or_null(ecm_pgval_str(d, row, 6), &failed);
    }
    return failed ? -1 : 0;
}

/* Per number (of phones) and channel: its list entries, or one not listed. */
static int fill_dnc(ecm_eligibility *e, char **phones, int n, const PGresult *d)
{
    static const char *const channels[] = {"voice", "sms"};
    int nd = PQntuples(d);
    size_t cap = (size_t)n * 2 + (size_t)nd;
    e->dnc = calloc(cap ? cap : 1, sizeof *e->dnc);
    if (!e->dnc)
        return -1;
    for (int k = 0; k < n; k++) {
        for (size_t c = 0; c < 2; c++) {
            int found = 0;
            for (int r = 0; r < nd; r++) {
                if (ecm_pgval_ll(d, r, 0, -1) != k || strcmp(PQgetvalue(d, r, 2), channels[c]))
                    continue;
                found = 1;
                if (add_dnc(e, cap, k, phones[k], channels[c], d, r) < 0)
                    return -1;
            }
            if (!found && add_dnc(e, cap, k, phones[k], channels[c], NULL, 0) < 0)
                return -1;
        }
    }
    return 0;
}

/* "+12125550100 on the global list for voice since 2026-...Z (api: "why")",
 * for up to REASON_DNC_MAX listed entries, appended to out. */
static void say_dnc(const ecm_eligibility *e, char *out, size_t size)
{
    size_t said = 0;
    for (size_t i = 0; i < e->ndnc && said < REASON_DNC_MAX; i++) {
        const ecm_eligibility_dnc *x = &e->dnc[i];
        if (!x->listed)
            continue;
        char since[40] = "?", q[120];
        if (x->since_ms >= 0)
            ecm_clock_format_ms(x->since_ms, since, sizeof since);
        size_t len = strlen(out);
        (void)ecm_utf8_format(
            out + len, size - len, "%s%s on the %s list for %s since %s (%s%s%s%s)",
            said ? "; " : " ", x->phone, x->scope, x->channel, since, x->source ? x->source : "?",
            x->reason ? ": \"" : "", x->reason ? ecm_utf8_quote(q, sizeof q, x->reason, 80) : "",
            x->reason ? "\"" : "");
        said++;
    }
}

/* ---- the verdict ------------------------------------------------------- */

static const char *campaign_says(const char *state)
{
    if (strcmp(state, "draft") == 0)
        return "has not been activated yet";
    if (strcmp(state, "paused") == 0)
        return "is paused: nothing is sent until it is resumed";
    if (strcmp(state, "stopped") == 0)
        return "was stopped: its contacts are not contacted any more";
    if (strcmp(state, "completed") == 0)
        return "is completed";
    if (strcmp(state, "expired") == 0)
        return "has passed its end";
    return "is not active";
}

static int is_rule_kind(const char *kind)
{
    return strcmp(kind, "hours") == 0 || strcmp(kind, "day_off") == 0 || strcmp(kind, "cap") == 0 ||
           strcmp(kind, "quiet") == 0;
}

/* Looks up rule rule_id (> 0; 0 a campaign blackout of kind) into e. */
static int fill_rule(ecm_eligibility *e, ecm_pg *pg, int64_t rule_id, const char *kind)
{
    int failed = 0;
    e->rule_id = rule_id;
    if (rule_id == 0) {
        e->rule_set = dup_or_null("campaign", &failed);
        e->rule_kind = dup_or_null(kind, &failed);
        return failed ? -1 : 0;
    }
    char sid[24];
    (void)snprintf(sid, sizeof sid, "%lld", (long long)rule_id);
    const char *params[] = {sid};
    PGresult *r = ecm_pg_exec(pg, RULE_SQL, 1, params);
    if (!r)
        return -1;
    if (PQntuples(r) == 1) {
        e->rule_set = dup_or_null(ecm_pgval_str(r, 0, 0), &failed);
        e->rule_kind = dup_or_null(ecm_pgval_str(r, 0, 1), &failed);
        e->rule_says = dup_or_null(ecm_pgval_str(r, 0, 2), &failed);
    } else {
        e->rule_kind = dup_or_null(kind, &failed); /* removed since */
    }
    PQclear(r);
    return failed ? -1 : 0;
}

/* The attempt out with the dialer. */
static void explain_out(ecm_eligibility *e, const PGresult *r, char **phones, int n, char *why,
                        size_t size)
{
    e->state = ECM_ELIG_OUT_WITH_DIALER;
    const char *ach = ecm_pgval_str(r, 0, E_ATT_CHANNEL);
    int sms = ach && strcmp(ach, "sms") == 0;
    (void)snprintf(e->channel, sizeof e->channel, "%s", sms ? "sms" : "voice");
    const char *ph = ecm_pgval_str(r, 0, E_ATT_PHONE);
    for (int k = 0; ph && k < n; k++)
        if (phones[k] && strcmp(phones[k], ph) == 0)
            e->phone_index = k;
    char at[40] = "?";
    if (!PQgetisnull(r, 0, E_ATT_AT))
        ecm_clock_format_ms(ecm_pgval_ll(r, 0, E_ATT_AT, 0), at, sizeof at);
    (void)ecm_utf8_format(why, size,
                          "Attempt %lld went out %s %s at %s and is with the %s (status %s); "
                          "what happens next depends on its result.",
                          ecm_pgval_ll(r, 0, E_ATT_N, 0), sms ? "as a text to" : "as a call to",
                          ph ? ph : "?", at, sms ? "SMS gateway" : "dialer",
                          ph ? PQgetvalue(r, 0, E_ATT_STATUS) : "?");
    if (strcmp(e->campaign_state, "active") != 0) {
        size_t len = strlen(why);
        (void)ecm_utf8_format(why + len, size - len, " The campaign %s.",
                              campaign_says(e->campaign_state));
    }
}

/* A gate WAIT at t: the window (waiting) or a contact rule (held). */
static int explain_wait(ecm_eligibility *e, ecm_pg *pg, const PGresult *r, const ecm_gate_row *v,
                        char *why, size_t size)
{
    char until[80], now[80];
    int rule = is_rule_kind(v->held_by);
    e->state = rule ? ECM_ELIG_HELD : ECM_ELIG_WAITING;
    e->until_ms = v->until_ms;
    say_local(e->zone, v->until_ms, until, sizeof until);
    int64_t start = PQgetisnull(r, 0, E_START_MS) ? -1 : ecm_pgval_ll(r, 0, E_START_MS, -1);
    if (strcmp(v->held_by, "window") == 0 && start > e->at_ms) {
        char at[40];
        (void)ecm_utf8_format(why, size,
                              "The campaign starts at %s; inside its calling window in the "
                              "contact's zone, that is from %s.",
                              ecm_clock_format_ms(start, at, sizeof at), until);
    } else if (strcmp(v->held_by, "window") == 0) {
        (void)ecm_utf8_format(why, size,
                              "Outside its calling window: it is %s where it is called; the "
                              "campaign's window and the legal hours allow it again from %s.",
                              say_local(e->zone, e->at_ms, now, sizeof now), until);
    } else if (rule) {
        (void)ecm_utf8_format(why, size, "Held by a contact rule until %s: %s.", until,
                              v->reason ? v->reason : v->held_by);
        if (fill_rule(e, pg, v->rule_id, v->held_by) < 0)
            return -1;
    } else {
        (void)ecm_utf8_format(why, size, "Waiting until %s: %s.", until,
                              v->reason ? v->reason : "judged again then");
    }
    return 0;
}

/* A gate CLOSE: what the next dispatch does to the contact. */
static void explain_close(ecm_eligibility *e, const PGresult *r, const ecm_gate_row *v, char *why,
                          size_t size)
{
    e->state = ECM_ELIG_BLOCKED;
    (void)snprintf(e->outcome, sizeof e->outcome, "%s", ecm_event_outcome_name(v->outcome));
    int sms = strcmp(e->channel, "sms") == 0;
    if (v->outcome == ECM__V1__OUTCOME__OUTCOME_DNC) {
        (void)ecm_utf8_format(why, size,
                              "Every number it has is on a do-not-contact list for %s, so it is "
                              "closed DNC when its turn comes:",
                              sms ? "texts" : "calls");
        say_dnc(e, why, size);
        size_t len = strlen(why);
        (void)snprintf(why + len, size - len, ".");
    } else if (v->outcome == ECM__V1__OUTCOME__OUTCOME_EXPIRED) {
        char end[40] = "?";
        if (!PQgetisnull(r, 0, E_END_MS))
            ecm_clock_format_ms(ecm_pgval_ll(r, 0, E_END_MS, 0), end, sizeof end);
        (void)ecm_utf8_format(why, size,
                              "No time is left before the campaign's end (%s) when it may be "
                              "contacted (%s), so it is closed EXPIRED when its turn comes.",
                              end, v->reason ? v->reason : "window");
    } else {
        (void)ecm_utf8_format(why, size,
                              "None of its numbers can be used for %s%s, so it is closed %s when "
                              "its turn comes.",
                              sms ? "texts" : "calls",
                              sms ? " (a text needs a number that may be a mobile)" : "",
                              e->outcome);
    }
}

/* The gate's verdict v, judged at t (now, or the contact's later
 * next_attempt_at), as the answer. */
static int explain_gate(ecm_eligibility *e, ecm_pg *pg, const PGresult *r, const ecm_gate_row *v,
                        int64_t t, char *why, size_t size)
{
    int failed = 0;
    if (v->phone) {
        e->phone = dup_or_null(v->phone, &failed);
        e->phone_index = v->phone_index;
    }
    if (failed)
        return -1;
    if (strcmp(e->campaign_state, "active") != 0) {
        e->state = ECM_ELIG_CAMPAIGN_NOT_ACTIVE;
        char name[120];
        (void)ecm_utf8_format(why, size, "The campaign \"%s\" %s.",
                              ecm_utf8_quote(name, sizeof name, e->campaign_name, 60),
                              campaign_says(e->campaign_state));
        return 0;
    }
    switch (v->action) {
    case ECM_GATE_WAIT:
        return explain_wait(e, pg, r, v, why, size);
    case ECM_GATE_CLOSE:
        explain_close(e, r, v, why, size);
        return 0;
    case ECM_GATE_GO:
        break;
    }
    char local[80];
    int sms = strcmp(e->channel, "sms") == 0;
    if (t == e->at_ms) {
        e->state = ECM_ELIG_ELIGIBLE_NOW;
        e->until_ms = t;
        (void)ecm_utf8_format(
            why, size,
            "May be contacted now: it is %s where it is called, inside the calling window, and "
            "no contact rule holds it; %s to %s %s.",
            say_local(e->zone, t, local, sizeof local), sms ? "texted" : "called",
            v->phone ? v->phone : "?",
            strcmp(e->contact_state, "queued") == 0
                ? "with the next batch"
                : "once the strategy's scheduler queues it again (it is due)");
        return 0;
    }
    /* Waiting for its next_attempt_at, open then: what set that time. */
    int64_t hold_rule = PQgetisnull(r, 0, E_HOLD_RULE) ? -1 : ecm_pgval_ll(r, 0, E_HOLD_RULE, -1);
    const char *hold = ecm_pgval_str(r, 0, E_HOLD_REASON);
    e->state = hold_rule > 0 ? ECM_ELIG_HELD : ECM_ELIG_WAITING;
    e->until_ms = t;
    (void)ecm_utf8_format(why, size, "Next attempt planned for %s: %s.",
                          say_local(e->zone, t, local, sizeof local),
                          hold ? hold : "the strategy's delay before a retry");
    if (hold_rule > 0 && fill_rule(e, pg, hold_rule, "") < 0)
        return -1;
    return 0;
}

static void explain_closed(ecm_eligibility *e, const PGresult *r, char *why, size_t size)
{
    e->state = ECM_ELIG_CLOSED;
    const char *outcome = ecm_pgval_str(r, 0, E_OUTCOME);
    (void)snprintf(e->outcome, sizeof e->outcome, "%s", outcome ? outcome : "");
    /* When ECM learnt the last outcome (business time), else when it was
     * closed (the database's clock: a DNC or EXPIRED close). */
    char at[40] = "?";
    if (outcome && !PQgetisnull(r, 0, E_ATT_OUTCOME_MS) && strcmp(outcome, "DNC") != 0 &&
        strcmp(outcome, "EXPIRED") != 0)
        ecm_clock_format_ms(ecm_pgval_ll(r, 0, E_ATT_OUTCOME_MS, 0), at, sizeof at);
    else if (!PQgetisnull(r, 0, E_CLOSED_MS))
        ecm_clock_format_ms(ecm_pgval_ll(r, 0, E_CLOSED_MS, 0), at, sizeof at);
    /* What held it back is why it closed only when it ran out of time. */
    const char *hold =
        outcome && strcmp(outcome, "EXPIRED") == 0 ? ecm_pgval_str(r, 0, E_HOLD_REASON) : NULL;
    (void)ecm_utf8_format(why, size, "Closed with outcome %s at %s after %lld attempt(s)%s%s.",
                          outcome ? outcome : "?", at, ecm_pgval_ll(r, 0, 2, 0), hold ? ": " : "",
                          hold ? hold : "");
    if (outcome && strcmp(outcome, "DNC") == 0) {
        static const char lists[] = " On the do-not-contact lists:";
        size_t len = strlen(why);
        (void)snprintf(why + len, size - len, "%s", lists);
        size_t bare = strlen(why);
        say_dnc(e, why, size);
        if (strlen(why) == bare) {
            /* The entry that closed it has been removed since. */
            (void)snprintf(why + len, size - len, " Its numbers are on no do-not-contact list now");
        }
        len = strlen(why);
        (void)snprintf(why + len, size - len, ".");
    }
}

/* Everything but the verdict, from the contact's row. */
static int fill_base(ecm_eligibility *e, const PGresult *r, int64_t now_ms)
{
    int failed = 0;
    e->contact_id = ecm_pgval_ll(r, 0, 0, -1);
    e->campaign_id = ecm_pgval_ll(r, 0, 1, -1);
    e->campaign_name = dup_or_null(PQgetvalue(r, 0, E_CAMPAIGN_NAME), &failed);
    (void)snprintf(e->campaign_state, sizeof e->campaign_state, "%s",
                   PQgetvalue(r, 0, E_CAMPAIGN_STATE));
    (void)snprintf(e->contact_state, sizeof e->contact_state, "%s", PQgetvalue(r, 0, E_STATE));
    (void)snprintf(e->channel, sizeof e->channel, "%s", PQgetvalue(r, 0, E_CHANNEL));
    e->at_ms = now_ms;
    e->until_ms = -1;
    e->rule_id = -1;
    e->phone_index = -1;
    e->next_attempt_ms = PQgetisnull(r, 0, E_NEXT_MS) ? -1 : ecm_pgval_ll(r, 0, E_NEXT_MS, -1);
    return failed ? -1 : 0;
}

/* The gate's judgement of row 0 of r at t. Returns the verdict (one row)
 * with the zone in e, or NULL. */
static ecm_gate_row *judge(ecm_eligibility *e, ecm_pg *pg, const ecm_eligibility_config *cfg,
                           const PGresult *r, int64_t t)
{
    ecm_gate_config gcfg = {
        .topic_closed = "contacts.closed",
        .source = "/ecm/eligibility",
        .legal = cfg->legal,
        .margin_ms = strcmp(e->channel, "sms") == 0 ? cfg->sms_margin_ms : cfg->voice_margin_ms,
    };
    ecm_gate *g = ecm_gate_new(&gcfg);
    if (!g)
        return NULL;
    ecm_gate_detail d;
    ecm_gate_row *v = ecm_gate_judge_contact(g, pg, r, 0, 0, t, &d);
    ecm_gate_destroy(g);
    int failed = 0;
    if (v && d.zone[0])
        e->zone = dup_or_null(d.zone, &failed);
    if (failed) {
        ecm_gate_rows_destroy(v, 1);
        return NULL;
    }
    return v;
}

/* The answer from the contact's row r and its DNC rows d. */
static int explain(ecm_eligibility *e, ecm_pg *pg, const ecm_eligibility_config *cfg,
                   const PGresult *r, const PGresult *d, int64_t now_ms)
{
    if (fill_base(e, r, now_ms) < 0)
        return -1;
    int n = 0;
    char **phones = ecm_pgarr_parse(ecm_pgval_str(r, 0, E_PHONES), &n);
    if (!phones || fill_dnc(e, phones, n, d) < 0) {
        free(phones);
        return -1;
    }
    char why[REASON_MAX] = "";
    int rc = 0;
    if (strcmp(e->contact_state, "closed") == 0) {
        explain_closed(e, r, why, sizeof why);
    } else if (strcmp(e->contact_state, "dispatched") == 0) {
        explain_out(e, r, phones, n, why, sizeof why);
        int failed = 0;
        if (e->phone_index >= 0)
            e->phone = dup_or_null(phones[e->phone_index], &failed);
        rc = failed ? -1 : 0;
    } else {
        ecm_gate_row *v = judge(e, pg, cfg, r, now_ms);
        int64_t t = now_ms;
        /* Waiting for a later time: when the judge now does not hold it
         * exactly until then (the window or rule that set the time), it is
         * judged at that time, as the gate will judge it then. */
        if (v && strcmp(e->contact_state, "waiting") == 0 && e->next_attempt_ms > now_ms &&
            !(v->action == ECM_GATE_WAIT && v->until_ms == e->next_attempt_ms)) {
            ecm_gate_rows_destroy(v, 1);
            free(e->zone);
            e->zone = NULL;
            t = e->next_attempt_ms;
            v = judge(e, pg, cfg, r, t);
        }
        rc = v ? explain_gate(e, pg, r, v, t, why, sizeof why) : -1;
        ecm_gate_rows_destroy(v, 1);
    }
    free(phones);
    if (rc == 0 && !(e->reason = strdup(why)))
        rc = -1;
    return rc;
}

int ecm_eligibility_explain(ecm_pg *pg, const ecm_eligibility_config *cfg, int64_t contact_id,
                            int64_t now_ms, ecm_eligibility **out)
{
    *out = NULL;
    char sid[24];
    (void)snprintf(sid, sizeof sid, "%lld", (long long)contact_id);
    const char *params[] = {sid};
    /* One snapshot for the verdict, the lists and the rules. */
    if (ecm_pg_cmd(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL) != 0)
        return -1;
    PGresult *r = ecm_pg_exec(pg, CONTACT_SQL, 1, params);
    PGresult *d = NULL;
    ecm_eligibility *e = NULL;
    int rc = -1;
    if (!r)
        goto out;
    if (PQntuples(r) == 0) {
        rc = 1;
        goto out;
    }
    if (!(d = ecm_pg_exec(pg, DNC_SQL, 1, params)) || !(e = calloc(1, sizeof *e)))
        goto out;
    if (explain(e, pg, cfg, r, d, now_ms) < 0)
        goto out;
    rc = 0;
out:
    ecm_pg_rollback(pg); /* read only: nothing to keep */
    PQclear(r);
    PQclear(d);
    if (rc == 0)
        *out = e;
    else
        ecm_eligibility_destroy(e);
    return rc;
}

/* ---- JSON -------------------------------------------------------------- */

static json_t *time_or_null(int64_t ms)
{
    char s[40];
    return ms < 0 ? json_null() : json_string(ecm_clock_format_ms(ms, s, sizeof s));
}

static json_t *local_or_null(const char *zone, int64_t ms)
{
    char s[40];
    if (ms < 0 || !zone || !format_local(zone, ms, s, sizeof s)[0])
        return json_null();
    return json_string(s);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *dnc_json(const ecm_eligibility *e)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < e->ndnc; i++) {
        const ecm_eligibility_dnc *x = &e->dnc[i];
        json_t *o =
            json_pack("{sI ss ss sb so so so so}", "phone_index", (json_int_t)x->phone_index,
                      "phone", x->phone, "channel", x->channel, "listed", x->listed, "scope",
                      str_or_null(x->scope), "since", time_or_null(x->since_ms), "source",
                      str_or_null(x->source), "reason", str_or_null(x->reason));
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Sets o[k] = v (taking v); 1 when v is NULL or memory runs out, else 0. */
static int put(json_t *o, const char *k, json_t *v)
{
    return json_object_set_new(o, k, v) != 0;
}

json_t *ecm_eligibility_json(const ecm_eligibility *e)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_t *rule = json_null();
    if (e->rule_id >= 0)
        rule = json_pack("{so so so so}", "id",
                         e->rule_id > 0 ? json_integer((json_int_t)e->rule_id) : json_null(), "set",
                         str_or_null(e->rule_set), "kind", str_or_null(e->rule_kind), "says",
                         str_or_null(e->rule_says));
    int bad = put(o, "contact_id", json_integer((json_int_t)e->contact_id));
    bad |= put(o, "campaign",
               json_pack("{sI ss ss}", "id", (json_int_t)e->campaign_id, "name",
                         e->campaign_name ? e->campaign_name : "", "state", e->campaign_state));
    bad |= put(o, "contact_state", json_string(e->contact_state));
    bad |= put(o, "at", time_or_null(e->at_ms));
    bad |= put(o, "state", json_string(ecm_eligibility_state_name(e->state)));
    bad |= put(o, "reason", json_string(e->reason ? e->reason : ""));
    bad |= put(o, "until", time_or_null(e->until_ms));
    bad |= put(o, "until_local", local_or_null(e->zone, e->until_ms));
    bad |= put(o, "zone", str_or_null(e->zone));
    bad |= put(o, "local_time", local_or_null(e->zone, e->at_ms));
    bad |= put(o, "rule", rule);
    bad |= put(o, "dnc", dnc_json(e));
    bad |= put(o, "next_attempt_at", time_or_null(e->next_attempt_ms));
    bad |= put(o, "channel", json_string(e->channel));
    bad |= put(o, "phone", str_or_null(e->phone));
    bad |= put(o, "phone_index", e->phone_index >= 0 ? json_integer(e->phone_index) : json_null());
    bad |= put(o, "outcome", e->outcome[0] ? json_string(e->outcome) : json_null());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

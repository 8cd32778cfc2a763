#include "ecm_gate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecm_event.h"
#include "ecm_history.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_phone.h"

/* A campaign whose window can't be read is looked at again this much later. */
#define BAD_WINDOW_WAIT_MS (5LL * 60 * 1000)

enum {
    COL_ID,
    COL_CAMPAIGN,
    COL_ATTEMPTS,
    COL_PHONE_INDEX,
    COL_PHONES,
    COL_CONTACT_TZ,
    COL_PHONE_ZONES,
    COL_CAMPAIGN_TZ,
    COL_WINDOW,
    COL_START_MS,
    COL_END_MS,
    COL_VERSION,
    COL_DNC,
    COL_REGION,
    COL_PHONE_REGIONS,
    COL_SUBJECT,
    COL_CAMPAIGN_REGION,
    COL_CHANNEL,
    COL_PHONE_TYPES,
};

struct ecm_gate {
    ecm_gate_config cfg;
    ecm_calling_cache *cache;
    ecm_rules_cache *rules;
    ecm_metric *deferred, *closed_dnc, *closed_expired, *closed_invalid;
    ecm_metric *held[5]; /* by what held a contact back: HELD_KINDS */
};

/* What may hold a contact back, as ecm_calling_answer.kind names it. */
static const char *const HELD_KINDS[5] = {"window", "hours", "day_off", "cap", "quiet"};

ecm_gate *ecm_gate_new(const ecm_gate_config *cfg)
{
    ecm_gate *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->cfg = *cfg;
    g->cache = ecm_calling_cache_new(&cfg->legal);
    g->rules = ecm_rules_cache_new();
    if (!g->cache || !g->rules) {
        ecm_gate_destroy(g);
        return NULL;
    }
    if (cfg->metrics) {
        static const char closed_help[] = "contacts closed at dispatch instead of contacted";
        g->deferred =
            ecm_metrics_counter(cfg->metrics, "ecm_gate_deferred_total",
                                "contacts due outside their calling window, made to wait for it");
        g->closed_dnc = ecm_metrics_counter(cfg->metrics, "ecm_gate_closed_total{outcome=\"DNC\"}",
                                            closed_help);
        g->closed_expired = ecm_metrics_counter(
            cfg->metrics, "ecm_gate_closed_total{outcome=\"EXPIRED\"}", closed_help);
        g->closed_invalid = ecm_metrics_counter(
            cfg->metrics, "ecm_gate_closed_total{outcome=\"INVALID_NUMBER\"}", closed_help);
        for (size_t k = 0; k < sizeof HELD_KINDS / sizeof HELD_KINDS[0]; k++) {
            char name[80];
            (void)snprintf(name, sizeof name, "ecm_gate_held_total{by=\"%s\"}", HELD_KINDS[k]);
            g->held[k] = ecm_metrics_counter(
                cfg->metrics, name,
                "contacts held back at dispatch (made to wait or closed), by what held them: "
                "the calling window, or a contact rule's kind");
        }
    }
    return g;
}

void ecm_gate_destroy(ecm_gate *g)
{
    if (!g)
        return;
    ecm_calling_cache_destroy(g->cache);
    ecm_rules_cache_destroy(g->rules);
    free(g);
}

void ecm_gate_rows_destroy(ecm_gate_row *rows, int n)
{
    if (!rows)
        return;
    for (int i = 0; i < n; i++) {
        free(rows[i].phone);
        free(rows[i].reason);
    }
    free(rows);
}

/* What phase one learnt of a row for phase two (rules and history). */
typedef struct {
    int pending;                            /* 1: phase two decides (window and rules) */
    const ecm_window *w;                    /* the campaign's, from the cache */
    char *zone;                             /* owned */
    char *jur[ECM_RULES_MAX_JURISDICTIONS]; /* owned */
    int njur;
    const char *subject; /* points into take; NULL when none */
    char *phone_key;     /* owned: the digits of the number to be used */
    int64_t end_ms;
    ecm_rules_channel channel;
    const ecm_rules *rules; /* from the rules cache; NULL: none */
    long key;               /* index in the history keys, -1 when none */
} row_ctx;

static void ctx_free(row_ctx *c, int n)
{
    for (int i = 0; c && i < n; i++) {
        for (int k = 0; k < c[i].njur; k++)
            free(c[i].jur[k]);
        free(c[i].phone_key);
        free(c[i].zone);
    }
    free(c);
}

/* The jurisdictions of the contact on the number it is called on
 * (ecm_rules_jurisdictions), copied. Returns 0 or -1 when memory runs out. */
static int jurisdictions(row_ctx *c, const char *contact, const char *number, const char *campaign)
{
    const char *pick[ECM_RULES_MAX_JURISDICTIONS];
    size_t n = ecm_rules_jurisdictions(contact, number, campaign, pick);
    for (size_t k = 0; k < n; k++) {
        c->jur[c->njur] = strdup(pick[k]);
        if (!c->jur[c->njur])
            return -1;
        c->njur++;
    }
    return 0;
}

/* Phase one for one contact; on its number `recorded` (0-based) when that
 * is not negative: an attempt already made on it, whose number is not
 * picked again (row->phone stays NULL). A `recorded` past the contact's
 * numbers (INT_MAX) has no zone of its own. Decides DNC, no number and an
 * unreadable window at once; leaves the rest to phase two (c->pending).
 * Returns 0, or -1 when memory runs out. */
static int judge_row(ecm_gate *g, const PGresult *t, int i, int c0, int64_t now_ms, int recorded,
                     int64_t *bad_campaign, ecm_gate_row *row, row_ctx *c)
{
    row->contact_id = ecm_pgval_ll(t, i, c0 + COL_ID, -1);
    row->campaign_id = ecm_pgval_ll(t, i, c0 + COL_CAMPAIGN, -1);
    row->attempts = (int)ecm_pgval_ll(t, i, c0 + COL_ATTEMPTS, -1);
    row->phone_index = (int)ecm_pgval_ll(t, i, c0 + COL_PHONE_INDEX, -1);
    row->rule_id = -1;
    c->key = -1;
    int n = 0, nz = 0, nr = 0, nt = 0;
    const char *ch = ecm_pgval_str(t, i, c0 + COL_CHANNEL);
    int sms = ch && strcmp(ch, "sms") == 0;
    const char *types_text = ecm_pgval_str(t, i, c0 + COL_PHONE_TYPES);
    char **types = NULL;
    char **phones = ecm_pgarr_parse(ecm_pgval_str(t, i, c0 + COL_PHONES), &n);
    char **zones = ecm_pgarr_parse(ecm_pgval_str(t, i, c0 + COL_PHONE_ZONES), &nz);
    char **regions = ecm_pgarr_parse(ecm_pgval_str(t, i, c0 + COL_PHONE_REGIONS), &nr);
    int *blocked = calloc((size_t)n + 1, sizeof *blocked);
    int rc = -1;
    if (!phones || !zones || !regions || !blocked)
        goto out;
    /* On sms only numbers that may be mobile (contacts uploaded before
     * phone_types existed have none: every number is tried). */
    if (sms && types_text && !(types = ecm_pgarr_parse(types_text, &nt)))
        goto out;
    const char *dnc = PQgetvalue(t, i, c0 + COL_DNC);
    size_t ndnc = strlen(dnc);
    int any_dnc = 0;
    for (int k = 0; k < n; k++) {
        int on_dnc = (size_t)k < ndnc && dnc[k] == '1';
        any_dnc |= on_dnc;
        blocked[k] = on_dnc || !phones[k] || !phones[k][0];
        if (types && !(k < nt && types[k] &&
                       ecm_phone_type_may_be_mobile(ecm_phone_type_from_name(types[k]))))
            blocked[k] = 1;
    }
    int pick = recorded >= 0 ? recorded : ecm_calling_pick_phone(blocked, n, row->phone_index);
    if (pick < 0) {
        row->action = ECM_GATE_CLOSE;
        row->outcome =
            any_dnc ? ECM__V1__OUTCOME__OUTCOME_DNC : ECM__V1__OUTCOME__OUTCOME_INVALID_NUMBER;
        rc = 0;
        goto out;
    }
    row->phone_index = pick;
    char errstr[256] = "";
    c->w = ecm_calling_cache_get(g->cache, row->campaign_id, ecm_pgval_str(t, i, c0 + COL_VERSION),
                                 ecm_pgval_str(t, i, c0 + COL_WINDOW),
                                 ecm_pgval_str(t, i, c0 + COL_START_MS),
                                 ecm_pgval_str(t, i, c0 + COL_END_MS), errstr, sizeof errstr);
    if (!c->w) {
        if (*bad_campaign != row->campaign_id)
            ecm_log_error("campaign's calling window can't be used; its contacts wait",
                          "campaign_id=%lld reason=%s wait_ms=%lld", (long long)row->campaign_id,
                          errstr, BAD_WINDOW_WAIT_MS);
        *bad_campaign = row->campaign_id;
        row->action = ECM_GATE_WAIT;
        row->until_ms = now_ms + BAD_WINDOW_WAIT_MS;
        rc = 0;
        goto out;
    }
    c->zone = strdup(ecm_calling_zone(ecm_pgval_str(t, i, c0 + COL_CONTACT_TZ),
                                      pick < nz ? zones[pick] : NULL,
                                      ecm_pgval_str(t, i, c0 + COL_CAMPAIGN_TZ)));
    if (!c->zone)
        goto out;
    if (jurisdictions(c, ecm_pgval_str(t, i, c0 + COL_REGION), pick < nr ? regions[pick] : NULL,
                      ecm_pgval_str(t, i, c0 + COL_CAMPAIGN_REGION)) < 0)
        goto out;
    const char *subject = ecm_pgval_str(t, i, c0 + COL_SUBJECT);
    c->subject = subject && subject[0] ? subject : NULL;
    if (pick < n && phones[pick] && !(c->phone_key = ecm_history_phone_key(phones[pick])))
        goto out;
    c->end_ms = ecm_pgval_ll(t, i, c0 + COL_END_MS, 0);
    c->channel = sms ? ECM_RULES_SMS : ECM_RULES_VOICE;
    if (recorded < 0) {
        row->phone = strdup(phones[pick]);
        if (!row->phone)
            goto out;
    }
    c->pending = 1;
    rc = 0;
out:
    free(phones);
    free(zones);
    free(regions);
    free(types);
    free(blocked);
    return rc;
}

/* Phase two's data: the rules of each pending row's campaign and, where
 * they count earlier attempts, the history of those rows (recorded: the
 * attempt is already in it, so caps and quiet periods are not looked at).
 * Returns the history (may be NULL when nothing needs one) with rc 0, or
 * rc -1 (the caller fails the batch). */
static ecm_history *load_rules(ecm_gate *g, ecm_pg *pg, ecm_gate_row *rows, row_ctx *c, int n,
                               int recorded, int lock, int64_t now_ms, int *rc)
{
    *rc = 0;
    if (!pg)
        return NULL;
    int64_t generation;
    if (ecm_rules_generation(pg, &generation) < 0) {
        *rc = -1;
        return NULL;
    }
    ecm_history_key *keys = calloc((size_t)n, sizeof *keys);
    if (!keys) {
        *rc = -1;
        return NULL;
    }
    size_t nkeys = 0;
    int64_t lookback_s = 0;
    for (int i = 0; i < n; i++) {
        if (!c[i].pending)
            continue;
        c[i].rules = ecm_rules_cache_get(g->rules, pg, rows[i].campaign_id, generation);
        if (!c[i].rules) {
            /* Logged by the loader. Nobody is contacted under rules nobody
             * can read, nobody is lost: the contact waits for a fix (a
             * failed statement fails the batch at the caller's next one). */
            c[i].pending = 0;
            rows[i].action = ECM_GATE_WAIT;
            rows[i].until_ms = now_ms + BAD_WINDOW_WAIT_MS;
            rows[i].rule_id = 0;
            (void)snprintf(rows[i].held_by, sizeof rows[i].held_by, "rules");
            rows[i].reason = strdup("the campaign's contact rules could not be loaded; judged "
                                    "again in 5 minutes");
            if (!rows[i].reason) {
                free(keys);
                *rc = -1;
                return NULL;
            }
            continue;
        }
        if (recorded)
            continue;
        ecm_rules_need need;
        ecm_rules_history_need(c[i].rules, (const char *const *)c[i].jur, (size_t)c[i].njur,
                               c[i].channel, &need);
        if (need.scopes == 0 || need.lookback_s <= 0)
            continue;
        if (need.lookback_s > lookback_s)
            lookback_s = need.lookback_s;
        c[i].key = (long)nkeys;
        keys[nkeys++] = (ecm_history_key){
            .contact_id = rows[i].contact_id,
            .subject_key = need.scopes & ECM_RULES_SAME_SUBJECT ? c[i].subject : NULL,
            .phone_key = need.scopes & ECM_RULES_SAME_PHONE ? c[i].phone_key : NULL,
        };
    }
    ecm_history *h = NULL;
    if (nkeys > 0) {
        h = ecm_history_load(pg, keys, nkeys, now_ms - lookback_s * 1000, lock);
        if (!h)
            *rc = -1;
    }
    free(keys);
    return h;
}

/* Phase two for one pending row: the window and the rules together. */
static int decide_row(ecm_gate *g, ecm_history *h, row_ctx *c, int64_t now_ms, ecm_gate_row *row)
{
    ecm_rules_in in = {
        .zone = c->zone,
        .jurisdictions = (const char *const *)c->jur,
        .njurisdictions = (size_t)c->njur,
        .channel = c->channel,
    };
    if (c->key >= 0)
        in.history = ecm_history_of(h, (size_t)c->key, &in.nhistory);
    ecm_calling_answer a;
    ecm_calling_decide(c->w, c->rules, &in, now_ms, g->cfg.margin_ms, c->end_ms, &a);
    row->rule_id = a.rule_id;
    (void)snprintf(row->held_by, sizeof row->held_by, "%s", a.kind);
    if (a.why[0] && !(row->reason = strdup(a.why)))
        return -1;
    switch (a.verdict) {
    case ECM_CALLING_GO:
        row->action = ECM_GATE_GO;
        if (c->key >= 0 && ecm_history_add_dispatch(h, (size_t)c->key, now_ms, c->channel) < 0)
            return -1;
        break;
    case ECM_CALLING_WAIT:
        row->action = ECM_GATE_WAIT;
        row->until_ms = a.until_ms;
        break;
    case ECM_CALLING_EXPIRE:
        row->action = ECM_GATE_CLOSE;
        row->outcome = ECM__V1__OUTCOME__OUTCOME_EXPIRED;
        break;
    }
    return 0;
}

/* What row i of t was judged with, from its columns and phase one. */
static void fill_detail(ecm_gate_detail *d, const PGresult *t, int i, int c0, const row_ctx *c)
{
    memset(d, 0, sizeof *d);
    const char *ch = ecm_pgval_str(t, i, c0 + COL_CHANNEL);
    (void)snprintf(d->channel, sizeof d->channel, "%s",
                   ch && strcmp(ch, "sms") == 0 ? "sms" : "voice");
    if (c->zone)
        (void)snprintf(d->zone, sizeof d->zone, "%s", c->zone);
}

/* The one judge: rows row0 .. row0 + n - 1 of take, each contact through
 * the same two phases (judge_row: its number, window, zone and
 * jurisdictions; decide_row: window and rules with its history), the
 * history of all of them read in one statement between the two, taking the
 * subjects' and numbers' locks when lock is 1. detail (n entries, may be
 * NULL) gets what each row was judged with. */
static ecm_gate_row *judge_range(ecm_gate *g, ecm_pg *pg, const PGresult *take, int row0, int n,
                                 int first_col, int64_t now_ms, const int *recorded, int lock,
                                 ecm_gate_detail *detail)
{
    if (n <= 0 || row0 < 0 || row0 + n > PQntuples(take) ||
        PQnfields(take) < first_col + ECM_GATE_NCOLS)
        return NULL;
    ecm_gate_row *rows = calloc((size_t)n, sizeof *rows);
    row_ctx *c = calloc((size_t)n, sizeof *c);
    ecm_history *h = NULL;
    if (!rows || !c)
        goto fail;
    int64_t bad_campaign = -1;
    for (int i = 0; i < n; i++) {
        int on = recorded ? (recorded[i] >= 0 ? recorded[i] : INT_MAX) : -1;
        if (judge_row(g, take, row0 + i, first_col, now_ms, on, &bad_campaign, &rows[i], &c[i]) < 0)
            goto fail;
    }
    int rc;
    h = load_rules(g, pg, rows, c, n, recorded != NULL, lock, now_ms, &rc);
    if (rc < 0)
        goto fail;
    for (int i = 0; i < n; i++) {
        if (c[i].pending && decide_row(g, h, &c[i], now_ms, &rows[i]) < 0)
            goto fail;
        if (detail)
            fill_detail(&detail[i], take, row0 + i, first_col, &c[i]);
    }
    ecm_history_destroy(h);
    ctx_free(c, n);
    return rows;
fail:
    ecm_history_destroy(h);
    ctx_free(c, n);
    ecm_gate_rows_destroy(rows, n);
    return NULL;
}

ecm_gate_row *ecm_gate_judge(ecm_gate *g, ecm_pg *pg, const PGresult *take, int first_col,
                             int64_t now_ms)
{
    return judge_range(g, pg, take, 0, PQntuples(take), first_col, now_ms, NULL, 1, NULL);
}

ecm_gate_row *ecm_gate_judge_recorded(ecm_gate *g, ecm_pg *pg, const PGresult *take, int first_col,
                                      const int *phone_index, int64_t now_ms)
{
    return judge_range(g, pg, take, 0, PQntuples(take), first_col, now_ms, phone_index, 1, NULL);
}

ecm_gate_row *ecm_gate_judge_contact(ecm_gate *g, ecm_pg *pg, const PGresult *r, int row,
                                     int first_col, int64_t now_ms, ecm_gate_detail *detail)
{
    return judge_range(g, pg, r, row, 1, first_col, now_ms, NULL, 0, detail);
}

/* hold_reason / hold_rule_id: what held the contact back, shown by the
 * API; cleared when it goes. */
static const char WAIT_SQL[] =
    "UPDATE contacts c SET state = 'waiting', next_attempt_at = to_timestamp(r.until::float8 / "
    "1000), phone_index = r.ph, hold_reason = r.why, hold_rule_id = nullif(r.rule, -1), "
    "updated_at = now() "
    "FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::bigint[]) "
    "AS r (id, until, ph, why, rule) WHERE c.id = r.id";

static const char CLOSE_SQL[] =
    "UPDATE contacts c SET state = 'closed', outcome = r.outcome, next_attempt_at = NULL, "
    "hold_reason = r.why, hold_rule_id = nullif(r.rule, -1), closed_at = now(), updated_at = now() "
    "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS r (id, outcome, why, rule) "
    "WHERE c.id = r.id";

static const char GO_SQL[] =
    "UPDATE contacts c SET state = 'dispatched', attempts = c.attempts + 1, phone_index = r.ph, "
    "hold_reason = NULL, hold_rule_id = NULL, updated_at = now() "
    "FROM unnest($1::bigint[], $2::int[]) AS r (id, ph) WHERE c.id = r.id";

static int add_closed_events(ecm_gate *g, ecm_pg *pg, const ecm_gate_row *rows, int n)
{
    if (ecm_outbox_copy_begin(pg) < 0)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (rows[i].action != ECM_GATE_CLOSE)
            continue;
        const ecm_outbox_closed c = {
            .campaign_id = rows[i].campaign_id,
            .contact_id = rows[i].contact_id,
            .attempts = rows[i].attempts,
            .outcome = rows[i].outcome,
        };
        rc = ecm_outbox_copy_add_closed(pg, g->cfg.topic_closed, g->cfg.source, &c);
    }
    /* Ended even after a failure, so that the connection stays usable for
     * the caller's rollback. */
    if (ecm_outbox_copy_end(pg) < 0)
        rc = -1;
    return rc;
}

int ecm_gate_apply(ecm_gate *g, ecm_pg *pg, const ecm_gate_row *rows, int n)
{
    ecm_pgarr w_id, w_until, w_ph, w_why, w_rule, c_id, c_out, c_why, c_rule, g_id, g_ph;
    ecm_pgarr *all[] = {&w_id,  &w_until, &w_ph,   &w_why, &w_rule, &c_id,
                        &c_out, &c_why,   &c_rule, &g_id,  &g_ph};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        ecm_pgarr_init(all[k]);
    for (int i = 0; i < n; i++) {
        const ecm_gate_row *r = &rows[i];
        switch (r->action) {
        case ECM_GATE_GO:
            ecm_pgarr_add_int(&g_id, r->contact_id);
            ecm_pgarr_add_int(&g_ph, r->phone_index);
            break;
        case ECM_GATE_WAIT:
            ecm_pgarr_add_int(&w_id, r->contact_id);
            ecm_pgarr_add_int(&w_until, r->until_ms);
            ecm_pgarr_add_int(&w_ph, r->phone_index);
            ecm_pgarr_add_str(&w_why, r->reason);
            ecm_pgarr_add_int(&w_rule, r->rule_id);
            ecm_log_debug("contact outside its calling window waits", "contact_id=%lld until=%lld",
                          (long long)r->contact_id, (long long)r->until_ms);
            break;
        case ECM_GATE_CLOSE:
            ecm_pgarr_add_int(&c_id, r->contact_id);
            ecm_pgarr_add_str(&c_out, ecm_event_outcome_name(r->outcome));
            ecm_pgarr_add_str(&c_why, r->reason);
            ecm_pgarr_add_int(&c_rule, r->reason ? r->rule_id : -1);
            ecm_log_debug("contact closed at dispatch", "contact_id=%lld outcome=%s",
                          (long long)r->contact_id, ecm_event_outcome_name(r->outcome));
            break;
        }
    }
    int nw = w_id.n, nc = c_id.n, ng = g_id.n;
    const char *pw[5] = {ecm_pgarr_finish(&w_id), ecm_pgarr_finish(&w_until),
                         ecm_pgarr_finish(&w_ph), ecm_pgarr_finish(&w_why),
                         ecm_pgarr_finish(&w_rule)};
    const char *pc[4] = {ecm_pgarr_finish(&c_id), ecm_pgarr_finish(&c_out),
                         ecm_pgarr_finish(&c_why), ecm_pgarr_finish(&c_rule)};
    const char *pg_[2] = {ecm_pgarr_finish(&g_id), ecm_pgarr_finish(&g_ph)};
    int rc = pw[0] && pw[1] && pw[2] && pw[3] && pw[4] && pc[0] && pc[1] && pc[2] && pc[3] &&
                     pg_[0] && pg_[1]
                 ? 0
                 : -1;
    /* The updates find their contacts by id: sequential scans are off
     * around them. Left to the planner, a batch of a campaign just uploaded
     * (statistics counting a fraction of its rows) was a hash join over
     * the whole table: ~18 ms a batch of 280 at 20,000 contacts
     * (docs/performance.md, session 22). Not for the whole take: other
     * statements of it got worse plans then. */
    int any = nw > 0 || nc > 0 || ng > 0;
    if (rc == 0 && any)
        rc = ecm_pg_seqscan(pg, 0);
    if (rc == 0 && nw > 0)
        rc = ecm_pg_cmd(pg, WAIT_SQL, 5, pw);
    if (rc == 0 && nc > 0) {
        rc = ecm_pg_cmd(pg, CLOSE_SQL, 4, pc);
        if (rc == 0)
            rc = add_closed_events(g, pg, rows, n);
    }
    if (rc == 0 && ng > 0)
        rc = ecm_pg_cmd(pg, GO_SQL, 2, pg_);
    if (rc == 0 && any)
        rc = ecm_pg_seqscan(pg, 1);
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        ecm_pgarr_destroy(all[k]);
    return rc;
}

void ecm_gate_count(ecm_gate *g, const ecm_gate_row *rows, int n)
{
    for (int i = 0; rows && i < n; i++) {
        for (size_t k = 0; rows[i].action != ECM_GATE_GO && rows[i].held_by[0] &&
                           k < sizeof HELD_KINDS / sizeof HELD_KINDS[0];
             k++)
            if (strcmp(rows[i].held_by, HELD_KINDS[k]) == 0)
                ecm_metric_add(g->held[k], 1);
        if (rows[i].action == ECM_GATE_WAIT) {
            ecm_metric_add(g->deferred, 1);
        } else if (rows[i].action == ECM_GATE_CLOSE) {
            switch (rows[i].outcome) {
            case ECM__V1__OUTCOME__OUTCOME_DNC:
                ecm_metric_add(g->closed_dnc, 1);
                break;
            case ECM__V1__OUTCOME__OUTCOME_EXPIRED:
                ecm_metric_add(g->closed_expired, 1);
                break;
            case ECM__V1__OUTCOME__OUTCOME_INVALID_NUMBER:
                ecm_metric_add(g->closed_invalid, 1);
                break;
            default:
                break;
            }
        }
    }
}

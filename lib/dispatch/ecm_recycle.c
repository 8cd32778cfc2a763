#include "ecm_recycle.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_uuid.h"

#define TOPIC_CAMPAIGNS_DEFAULT "campaigns.changed"

/* The contacts a recycle matches: $1 campaign, $2 outcomes (text[]), $3 the
 * latest close time that is old enough (business ms), $4 max_rounds (0:
 * none). The close time is the business instant of the last attempt's
 * outcome, else closed_at. The (campaign_id, state) index finds the
 * campaign's closed contacts. */
#define MATCH_FROM                                                                                 \
    " FROM contacts k LEFT JOIN attempts a ON a.contact_id = k.id AND a.attempt = k.attempts"      \
    " WHERE k.campaign_id = $1::bigint AND k.state = 'closed' AND k.outcome = ANY($2::text[])"     \
    " AND k.outcome <> 'DNC'"                                                                      \
    " AND COALESCE(a.outcome_at, k.closed_at)"                                                     \
    "  <= 'epoch'::timestamptz + $3::bigint * interval '1 millisecond'"                            \
    " AND ($4::int = 0 OR k.recycled < $4::int)"

static const char SQL_COUNT[] = "SELECT k.outcome, count(*)" MATCH_FROM " GROUP BY k.outcome";

/* Row locks with SKIP LOCKED: a contact another transaction holds (a
 * concurrent recycle, a DNC entry closing it) is left for a later run, and
 * the WHERE is checked again on the locked row, so no contact is re-opened
 * twice. */
static const char SQL_REOPEN[] =
    "WITH m AS (SELECT k.id, k.outcome" MATCH_FROM " FOR UPDATE OF k SKIP LOCKED),"
    " u AS (UPDATE contacts k SET state = 'queued', outcome = NULL, closed_at = NULL,"
    "  next_attempt_at = NULL, hold_reason = NULL, hold_rule_id = NULL, channel = NULL,"
    "  channel_note = NULL, callback_at = NULL, pcb_agent = NULL, pcb_at = NULL,"
    "  counted_attempts = 0, phone_index = 0, round_first_attempt = k.attempts + 1,"
    "  recycled = k.recycled + 1, updated_at = now()"
    "  FROM m WHERE k.id = m.id RETURNING k.id, m.outcome)"
    " SELECT id, outcome FROM u ORDER BY id";

/* The campaign's state, and whether it has ended by the business clock ($2):
 * a completed campaign past its end_at would only be expired again, its
 * re-opened contacts closed EXPIRED. */
#define SQL_CAMPAIGN_SELECT                                                                        \
    "SELECT state, end_at IS NOT NULL AND end_at <= 'epoch'::timestamptz"                          \
    " + $2::bigint * interval '1 millisecond', end_at FROM campaigns WHERE id = $1::bigint"
static const char SQL_CAMPAIGN[] = SQL_CAMPAIGN_SELECT;
/* FOR NO KEY UPDATE: runs on one campaign take turns (and a state change
 * waits), but the foreign-key checks of the rows others insert meanwhile
 * (the feeder's attempts, an upload's contacts) do not wait for a run. */
static const char SQL_CAMPAIGN_LOCK[] = SQL_CAMPAIGN_SELECT " FOR NO KEY UPDATE";
static const char SQL_ACTIVATE[] = "UPDATE campaigns SET state = 'active', updated_at = now()"
                                   " WHERE id = $1::bigint AND state = 'completed'";
static const char SQL_LOG[] =
    "INSERT INTO recycles (campaign_id, actor, actor_key_id, outcomes, older_than_s,"
    " max_rounds, contacts, at) VALUES ($1::bigint, $2, $3, $4::text[], $5::bigint,"
    " NULLIF($6::int, 0), $7::bigint, 'epoch'::timestamptz + $8::bigint * interval '1 millisecond')"
    " RETURNING id";

static void why(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why(char *out, size_t size, const char *fmt, ...)
{
    if (out == NULL || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

int ecm_recycle_check(const ecm_recycle_select *sel, char *field, size_t field_size, char *reason,
                      size_t reason_size)
{
    const char *f = "outcomes";
    if (sel->n_outcomes == 0 || sel->outcomes == NULL) {
        why(reason, reason_size, "at least one outcome is needed");
        goto bad;
    }
    if (sel->n_outcomes > ECM_RECYCLE_OUTCOMES_MAX) {
        why(reason, reason_size, "at most %d outcomes", ECM_RECYCLE_OUTCOMES_MAX);
        goto bad;
    }
    for (size_t i = 0; i < sel->n_outcomes; i++) {
        const char *o = sel->outcomes[i];
        if (o == NULL || ecm_event_outcome_from_name(o) == ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED) {
            why(reason, reason_size, "'%.40s' is not an ECM outcome", o ? o : "(null)");
            goto bad;
        }
        if (strcmp(o, "DNC") == 0) {
            why(reason, reason_size,
                "DNC contacts are never recycled: the number asked not to be contacted");
            goto bad;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(sel->outcomes[j], o) == 0) {
                why(reason, reason_size, "%s is named twice", o);
                goto bad;
            }
        }
    }
    f = "older_than";
    if (sel->older_than_s < 0 || sel->older_than_s > ECM_RECYCLE_OLDER_THAN_MAX_S) {
        why(reason, reason_size, "must be between 0 and 3660 days");
        goto bad;
    }
    f = "max_rounds";
    if (sel->max_rounds < 0) {
        why(reason, reason_size, "must be at least 1");
        goto bad;
    }
    return 0;
bad:
    why(field, field_size, "%s", f);
    return -1;
}

int ecm_recycle_parse_age(const char *text, int64_t *seconds)
{
    if (text == NULL || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    long long n = strtoll(text, &end, 10);
    if (errno != 0 || end == text || end[0] == '\0' || end[1] != '\0')
        return -1;
    long long unit;
    switch (end[0]) {
    case 'd':
        unit = 86400;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'm':
        unit = 60;
        break;
    case 's':
        unit = 1;
        break;
    default:
        return -1;
    }
    if (n > ECM_RECYCLE_OLDER_THAN_MAX_S / unit)
        return -1;
    *seconds = (int64_t)(n * unit);
    return 0;
}

const char *ecm_recycle_format_age(int64_t seconds, char *out, size_t out_size)
{
    static const struct {
        int64_t unit;
        char suffix;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
    char suffix = 's';
    int64_t n = seconds;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (seconds > 0 && seconds % units[i].unit == 0) {
            n = seconds / units[i].unit;
            suffix = units[i].suffix;
            break;
        }
    }
    if (out_size > 0)
        (void)snprintf(out, out_size, "%" PRId64 "%c", n, suffix);
    return out;
}

/* The statement parameters of sel, as text. */
typedef struct {
    char campaign[24], before[24], rounds[16], now[24];
    ecm_pgarr outcomes;
    const char *outcomes_lit;
} params;

static int params_init(params *p, const ecm_recycle_select *sel)
{
    ecm_pgarr_init(&p->outcomes);
    for (size_t i = 0; i < sel->n_outcomes; i++)
        ecm_pgarr_add_str(&p->outcomes, sel->outcomes[i]);
    p->outcomes_lit = ecm_pgarr_finish(&p->outcomes);
    int64_t before = sel->now_ms - sel->older_than_s * 1000;
    if (p->outcomes_lit == NULL ||
        (size_t)snprintf(p->campaign, sizeof(p->campaign), "%" PRId64, sel->campaign_id) >=
            sizeof(p->campaign) ||
        (size_t)snprintf(p->before, sizeof(p->before), "%" PRId64, before) >= sizeof(p->before) ||
        (size_t)snprintf(p->now, sizeof(p->now), "%" PRId64, sel->now_ms) >= sizeof(p->now) ||
        (size_t)snprintf(p->rounds, sizeof(p->rounds), "%d", sel->max_rounds) >=
            sizeof(p->rounds)) {
        ecm_pgarr_destroy(&p->outcomes);
        return -1;
    }
    return 0;
}

/* Reads (and with lock, locks) the campaign's state into out. Returns OK,
 * or NO_CAMPAIGN / STATE / DB with a reason. */
static ecm_recycle_status campaign_state(ecm_pg *pg, const params *p, int lock,
                                         ecm_recycle_result *out, char *reason, size_t reason_size)
{
    const char *v[] = {p->campaign, p->now};
    PGresult *r = ecm_pg_exec(pg, lock ? SQL_CAMPAIGN_LOCK : SQL_CAMPAIGN, 2, v);
    if (r == NULL) {
        why(reason, reason_size, "could not read the campaign");
        return ECM_RECYCLE_ERR_DB;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        why(reason, reason_size, "campaign %s does not exist", p->campaign);
        return ECM_RECYCLE_ERR_NO_CAMPAIGN;
    }
    (void)snprintf(out->campaign_state, sizeof(out->campaign_state), "%s", PQgetvalue(r, 0, 0));
    (void)snprintf(out->campaign_state_now, sizeof(out->campaign_state_now), "%s",
                   out->campaign_state);
    int ended = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    char end_at[64];
    (void)snprintf(end_at, sizeof(end_at), "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    const char *s = out->campaign_state;
    if (strcmp(s, "active") != 0 && strcmp(s, "paused") != 0 && strcmp(s, "completed") != 0) {
        why(reason, reason_size,
            "campaign %s is %s; only an active, paused or completed campaign is recycled%s",
            p->campaign, s, strcmp(s, "draft") == 0 ? " (a draft has nothing closed yet)" : "");
        return ECM_RECYCLE_ERR_STATE;
    }
    if (ended) {
        why(reason, reason_size, "campaign %s ended at %s; move its end_at first", p->campaign,
            end_at);
        return ECM_RECYCLE_ERR_STATE;
    }
    return ECM_RECYCLE_OK;
}

static void result_init(ecm_recycle_result *out, const ecm_recycle_select *sel)
{
    memset(out, 0, sizeof(*out));
    out->n = sel->n_outcomes;
    for (size_t i = 0; i < sel->n_outcomes; i++)
        (void)snprintf(out->by_outcome[i].outcome, sizeof(out->by_outcome[i].outcome), "%s",
                       sel->outcomes[i]);
}

static void result_add(ecm_recycle_result *out, const char *outcome, int64_t n)
{
    for (size_t i = 0; i < out->n; i++) {
        if (strcmp(out->by_outcome[i].outcome, outcome) == 0) {
            out->by_outcome[i].contacts += n;
            break;
        }
    }
    out->total += n;
}

static ecm_recycle_status checked(const ecm_recycle_select *sel, ecm_recycle_result *out,
                                  char *reason, size_t reason_size)
{
    char field[32], msg[160];
    if (ecm_recycle_check(sel, field, sizeof(field), msg, sizeof(msg)) != 0) {
        why(reason, reason_size, "%s: %s", field, msg);
        return ECM_RECYCLE_ERR_INVALID;
    }
    result_init(out, sel);
    return ECM_RECYCLE_OK;
}

ecm_recycle_status ecm_recycle_count(ecm_pg *pg, const ecm_recycle_select *sel,
                                     ecm_recycle_result *out, char *reason, size_t reason_size)
{
    ecm_recycle_status st = checked(sel, out, reason, reason_size);
    if (st != ECM_RECYCLE_OK)
        return st;
    params p;
    if (params_init(&p, sel) != 0) {
        why(reason, reason_size, "out of memory");
        return ECM_RECYCLE_ERR_DB;
    }
    st = campaign_state(pg, &p, 0, out, reason, reason_size);
    if (st == ECM_RECYCLE_OK) {
        const char *v[] = {p.campaign, p.outcomes_lit, p.before, p.rounds};
        PGresult *r = ecm_pg_exec(pg, SQL_COUNT, 4, v);
        if (r == NULL) {
            why(reason, reason_size, "could not count the contacts");
            st = ECM_RECYCLE_ERR_DB;
        } else {
            for (int i = 0; i < PQntuples(r); i++)
                result_add(out, PQgetvalue(r, i, 0), ecm_pgval_ll(r, i, 1, 0));
            PQclear(r);
        }
    }
    ecm_pgarr_destroy(&p.outcomes);
    return st;
}

/* One ContactsRecycled of ids[from, to) on the outbox. */
static int emit_batch(ecm_pg *pg, const ecm_recycle_select *sel, const ecm_recycle_actor *actor,
                      const ecm_recycle_result *out, int64_t *ids, size_t from, size_t to,
                      int batch, int batches)
{
    char id[ECM_UUID_LEN], key[24];
    ecm_uuid_new(id);
    (void)snprintf(key, sizeof(key), "%" PRId64, sel->campaign_id);
    Ecm__V1__ContactsRecycled ev = ECM__V1__CONTACTS_RECYCLED__INIT;
    ev.event_id = id;
    ev.occurred_at = ecm_clock_wall_ms();
    ev.campaign_id = sel->campaign_id;
    ev.recycle_id = out->recycle_id;
    ev.n_contact_ids = to - from;
    ev.contact_ids = ids + from;
    ev.n_outcomes = sel->n_outcomes;
    ev.outcomes = (char **)sel->outcomes;
    ev.older_than_s = sel->older_than_s;
    ev.actor = (char *)(actor->actor ? actor->actor : "");
    ev.batch = batch;
    ev.batches = batches;
    return ecm_outbox_add(pg,
                          actor->topic_recycled ? actor->topic_recycled : ECM_RECYCLE_TOPIC_DEFAULT,
                          key, actor->source, id, ev.occurred_at, &ev.base);
}

static int emit_events(ecm_pg *pg, const ecm_recycle_select *sel, const ecm_recycle_actor *actor,
                       ecm_recycle_result *out, int64_t *ids, size_t n)
{
    int batches = (int)((n + ECM_RECYCLE_EVENT_BATCH - 1) / ECM_RECYCLE_EVENT_BATCH);
    for (int b = 0; b < batches; b++) {
        size_t from = (size_t)b * ECM_RECYCLE_EVENT_BATCH;
        size_t to = from + ECM_RECYCLE_EVENT_BATCH < n ? from + ECM_RECYCLE_EVENT_BATCH : n;
        if (emit_batch(pg, sel, actor, out, ids, from, to, b + 1, batches) != 0)
            return -1;
        out->events++;
    }
    return 0;
}

static int log_run(ecm_pg *pg, const params *p, const ecm_recycle_select *sel,
                   const ecm_recycle_actor *actor, ecm_recycle_result *out)
{
    char older[24], count[24], at[24];
    (void)snprintf(older, sizeof(older), "%" PRId64, sel->older_than_s);
    (void)snprintf(count, sizeof(count), "%" PRId64, out->total);
    (void)snprintf(at, sizeof(at), "%" PRId64, sel->now_ms);
    const char *v[] = {p->campaign,
                       actor->actor ? actor->actor : "",
                       actor->actor_key_id,
                       p->outcomes_lit,
                       older,
                       p->rounds,
                       count,
                       at};
    PGresult *r = ecm_pg_exec(pg, SQL_LOG, 8, v);
    if (r == NULL)
        return -1;
    out->recycle_id = ecm_pgval_ll(r, 0, 0, 0);
    PQclear(r);
    return 0;
}

static int campaign_changed(ecm_pg *pg, const params *p, const ecm_recycle_select *sel,
                            const ecm_recycle_actor *actor)
{
    char id[ECM_UUID_LEN];
    ecm_uuid_new(id);
    Ecm__V1__CampaignChanged ev = ECM__V1__CAMPAIGN_CHANGED__INIT;
    ev.event_id = id;
    ev.occurred_at = ecm_clock_wall_ms();
    ev.campaign_id = sel->campaign_id;
    ev.state = "active";
    ev.previous_state = "completed";
    ev.actor = (char *)(actor->actor ? actor->actor : "");
    return ecm_outbox_add(pg,
                          actor->topic_campaigns ? actor->topic_campaigns : TOPIC_CAMPAIGNS_DEFAULT,
                          p->campaign, actor->source, id, ev.occurred_at, &ev.base);
}

/* Re-opens the matching contacts and writes what follows from it. */
static ecm_recycle_status reopen(ecm_pg *pg, const params *p, const ecm_recycle_select *sel,
                                 const ecm_recycle_actor *actor, ecm_recycle_result *out,
                                 char *reason, size_t reason_size)
{
    const char *v[] = {p->campaign, p->outcomes_lit, p->before, p->rounds};
    PGresult *r = ecm_pg_exec(pg, SQL_REOPEN, 4, v);
    if (r == NULL) {
        why(reason, reason_size, "could not re-open the contacts");
        return ECM_RECYCLE_ERR_DB;
    }
    size_t n = (size_t)PQntuples(r);
    int64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    if (ids == NULL) {
        PQclear(r);
        why(reason, reason_size, "out of memory");
        return ECM_RECYCLE_ERR_DB;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = ecm_pgval_ll(r, (int)i, 0, 0);
        result_add(out, PQgetvalue(r, (int)i, 1), 1);
    }
    PQclear(r);
    int rc = 0;
    if (n > 0 || actor->log_empty)
        rc = log_run(pg, p, sel, actor, out);
    if (rc == 0)
        rc = emit_events(pg, sel, actor, out, ids, n);
    free(ids);
    if (rc == 0 && n > 0 && strcmp(out->campaign_state, "completed") == 0) {
        rc = ecm_pg_cmd(pg, SQL_ACTIVATE, 1, v);
        if (rc == 0)
            rc = campaign_changed(pg, p, sel, actor);
        if (rc == 0)
            (void)snprintf(out->campaign_state_now, sizeof(out->campaign_state_now), "active");
    }
    if (rc != 0) {
        why(reason, reason_size, "could not record the recycle");
        return ECM_RECYCLE_ERR_DB;
    }
    return ECM_RECYCLE_OK;
}

ecm_recycle_status ecm_recycle_run(ecm_pg *pg, const ecm_recycle_select *sel,
                                   const ecm_recycle_actor *actor, ecm_recycle_result *out,
                                   char *reason, size_t reason_size)
{
    ecm_recycle_status st = checked(sel, out, reason, reason_size);
    if (st != ECM_RECYCLE_OK)
        return st;
    params p;
    if (params_init(&p, sel) != 0) {
        why(reason, reason_size, "out of memory");
        return ECM_RECYCLE_ERR_DB;
    }
    st = campaign_state(pg, &p, 1, out, reason, reason_size);
    if (st == ECM_RECYCLE_OK)
        st = reopen(pg, &p, sel, actor, out, reason, reason_size);
    ecm_pgarr_destroy(&p.outcomes);
    if (st == ECM_RECYCLE_OK && out->total > 0)
        ecm_log_info("contacts recycled",
                     "campaign %" PRId64 ": %" PRId64 " contacts re-opened by %s (recycle %" PRId64
                     ", campaign %s -> %s)",
                     sel->campaign_id, out->total, actor->actor ? actor->actor : "?",
                     out->recycle_id, out->campaign_state, out->campaign_state_now);
    return st;
}

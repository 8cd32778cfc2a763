#include "ecm_gate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"

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
};

struct ecm_gate {
    ecm_gate_config cfg;
    ecm_calling_cache *cache;
    ecm_metric *deferred, *closed_dnc, *closed_expired, *closed_invalid;
};

ecm_gate *ecm_gate_new(const ecm_gate_config *cfg)
{
    ecm_gate *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->cfg = *cfg;
    g->cache = ecm_calling_cache_new(&cfg->legal);
    if (!g->cache) {
        free(g);
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
    }
    return g;
}

void ecm_gate_destroy(ecm_gate *g)
{
    if (!g)
        return;
    ecm_calling_cache_destroy(g->cache);
    free(g);
}

void ecm_gate_rows_destroy(ecm_gate_row *rows, int n)
{
    if (!rows)
        return;
    for (int i = 0; i < n; i++)
        free(rows[i].phone);
    free(rows);
}

/* Judges one contact; on its number `recorded` (0-based) when that is not
 * negative: an attempt already made on it, whose number is not picked again
 * (row->phone stays NULL). A `recorded` past the contact's numbers (INT_MAX)
 * has no zone of its own. Returns 0, or -1 when memory runs out. */
static int judge_row(ecm_gate *g, const PGresult *t, int i, int c0, int64_t now_ms, int recorded,
                     int64_t *bad_campaign, ecm_gate_row *row)
{
    row->contact_id = ecm_pgval_ll(t, i, c0 + COL_ID, -1);
    row->campaign_id = ecm_pgval_ll(t, i, c0 + COL_CAMPAIGN, -1);
    row->attempts = (int)ecm_pgval_ll(t, i, c0 + COL_ATTEMPTS, -1);
    row->phone_index = (int)ecm_pgval_ll(t, i, c0 + COL_PHONE_INDEX, -1);
    int n = 0, nz = 0;
    char **phones = ecm_pgarr_parse(ecm_pgval_str(t, i, c0 + COL_PHONES), &n);
    char **zones = ecm_pgarr_parse(ecm_pgval_str(t, i, c0 + COL_PHONE_ZONES), &nz);
    int *blocked = calloc((size_t)n + 1, sizeof *blocked);
    int rc = -1;
    if (!phones || !zones || !blocked)
        goto out;
    const char *dnc = PQgetvalue(t, i, c0 + COL_DNC);
    size_t ndnc = strlen(dnc);
    int any_dnc = 0;
    for (int k = 0; k < n; k++) {
        int on_dnc = (size_t)k < ndnc && dnc[k] == '1';
        any_dnc |= on_dnc;
        blocked[k] = on_dnc || !phones[k] || !phones[k][0];
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
    const ecm_window *w = ecm_calling_cache_get(
        g->cache, row->campaign_id, ecm_pgval_str(t, i, c0 + COL_VERSION),
        ecm_pgval_str(t, i, c0 + COL_WINDOW), ecm_pgval_str(t, i, c0 + COL_START_MS),
        ecm_pgval_str(t, i, c0 + COL_END_MS), errstr, sizeof errstr);
    if (!w) {
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
    const char *zone =
        ecm_calling_zone(ecm_pgval_str(t, i, c0 + COL_CONTACT_TZ), pick < nz ? zones[pick] : NULL,
                         ecm_pgval_str(t, i, c0 + COL_CAMPAIGN_TZ));
    int64_t until = 0;
    switch (ecm_calling_check_margin(w, zone, now_ms, g->cfg.margin_ms, &until)) {
    case ECM_CALLING_GO:
        row->action = ECM_GATE_GO;
        if (recorded >= 0)
            break;
        row->phone = strdup(phones[pick]);
        if (!row->phone)
            goto out;
        break;
    case ECM_CALLING_WAIT:
        row->action = ECM_GATE_WAIT;
        row->until_ms = until;
        break;
    case ECM_CALLING_EXPIRE:
        row->action = ECM_GATE_CLOSE;
        row->outcome = ECM__V1__OUTCOME__OUTCOME_EXPIRED;
        break;
    }
    rc = 0;
out:
    free(phones);
    free(zones);
    free(blocked);
    return rc;
}

static ecm_gate_row *judge_all(ecm_gate *g, const PGresult *take, int first_col, int64_t now_ms,
                               const int *recorded)
{
    int n = PQntuples(take);
    if (n <= 0 || PQnfields(take) < first_col + ECM_GATE_NCOLS)
        return NULL;
    ecm_gate_row *rows = calloc((size_t)n, sizeof *rows);
    if (!rows)
        return NULL;
    int64_t bad_campaign = -1;
    for (int i = 0; i < n; i++) {
        int on = recorded ? (recorded[i] >= 0 ? recorded[i] : INT_MAX) : -1;
        if (judge_row(g, take, i, first_col, now_ms, on, &bad_campaign, &rows[i]) < 0) {
            ecm_gate_rows_destroy(rows, n);
            return NULL;
        }
    }
    return rows;
}

ecm_gate_row *ecm_gate_judge(ecm_gate *g, const PGresult *take, int first_col, int64_t now_ms)
{
    return judge_all(g, take, first_col, now_ms, NULL);
}

ecm_gate_row *ecm_gate_judge_recorded(ecm_gate *g, const PGresult *take, int first_col,
                                      const int *phone_index, int64_t now_ms)
{
    return judge_all(g, take, first_col, now_ms, phone_index);
}

static const char WAIT_SQL[] =
    "UPDATE contacts c SET state = 'waiting', next_attempt_at = to_timestamp(r.until::float8 / "
    "1000), phone_index = r.ph, updated_at = now() "
    "FROM unnest($1::bigint[], $2::bigint[], $3::int[]) AS r (id, until, ph) WHERE c.id = r.id";

static const char CLOSE_SQL[] =
    "UPDATE contacts c SET state = 'closed', outcome = r.outcome, next_attempt_at = NULL, "
    "closed_at = now(), updated_at = now() "
    "FROM unnest($1::bigint[], $2::text[]) AS r (id, outcome) WHERE c.id = r.id";

static const char GO_SQL[] =
    "UPDATE contacts c SET state = 'dispatched', attempts = c.attempts + 1, phone_index = r.ph, "
    "updated_at = now() FROM unnest($1::bigint[], $2::int[]) AS r (id, ph) WHERE c.id = r.id";

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
    ecm_pgarr w_id, w_until, w_ph, c_id, c_out, g_id, g_ph;
    ecm_pgarr *all[] = {&w_id, &w_until, &w_ph, &c_id, &c_out, &g_id, &g_ph};
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
            ecm_log_debug("contact outside its calling window waits", "contact_id=%lld until=%lld",
                          (long long)r->contact_id, (long long)r->until_ms);
            break;
        case ECM_GATE_CLOSE:
            ecm_pgarr_add_int(&c_id, r->contact_id);
            ecm_pgarr_add_str(&c_out, ecm_event_outcome_name(r->outcome));
            ecm_log_debug("contact closed at dispatch", "contact_id=%lld outcome=%s",
                          (long long)r->contact_id, ecm_event_outcome_name(r->outcome));
            break;
        }
    }
    int nw = w_id.n, nc = c_id.n, ng = g_id.n;
    const char *pw[3] = {ecm_pgarr_finish(&w_id), ecm_pgarr_finish(&w_until),
                         ecm_pgarr_finish(&w_ph)};
    const char *pc[2] = {ecm_pgarr_finish(&c_id), ecm_pgarr_finish(&c_out)};
    const char *pg_[2] = {ecm_pgarr_finish(&g_id), ecm_pgarr_finish(&g_ph)};
    int rc = pw[0] && pw[1] && pw[2] && pc[0] && pc[1] && pg_[0] && pg_[1] ? 0 : -1;
    if (rc == 0 && nw > 0)
        rc = ecm_pg_cmd(pg, WAIT_SQL, 3, pw);
    if (rc == 0 && nc > 0) {
        rc = ecm_pg_cmd(pg, CLOSE_SQL, 2, pc);
        if (rc == 0)
            rc = add_closed_events(g, pg, rows, n);
    }
    if (rc == 0 && ng > 0)
        rc = ecm_pg_cmd(pg, GO_SQL, 2, pg_);
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        ecm_pgarr_destroy(all[k]);
    return rc;
}

void ecm_gate_count(ecm_gate *g, const ecm_gate_row *rows, int n)
{
    for (int i = 0; rows && i < n; i++) {
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

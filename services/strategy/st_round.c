#include "st_round.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "st_consent.h"
#include "st_input.h"
#include "st_item.h"
#include "st_write.h"

/* The round's contacts, locked in id order (so that two transactions
 * locking some of the same contacts can't deadlock on them), each with its
 * campaign, strategy, the rule of its result's outcome and the channel of
 * its result's attempt; the campaign's window comes with its row version
 * (updated_at) so the window cache rebuilds it only after an edit; start_at
 * and end_at as epoch ms, which ecm_calling_window reads whatever the
 * session's DateStyle. The columns are st_item.h's K_*. */
static const char SQL_LOCK_CONTACTS[] =
    "SELECT k.state, k.attempts, k.counted_attempts, k.phone_index,"
    " coalesce(cardinality(k.phones), 0), k.campaign_id,"
    " floor(extract(epoch FROM c.end_at) * 1000)::bigint,"
    " s.max_attempts, s.max_attempts_per_day,"
    " r.action, r.delay_seconds, r.max_attempts, r.next_phone,"
    " c.call_window::text, floor(extract(epoch FROM c.start_at) * 1000)::bigint,"
    " c.updated_at::text, c.time_zone, k.time_zone, array_to_json(k.phone_zones)::text,"
    " floor(extract(epoch FROM k.callback_at) * 1000)::bigint,"
    " s.max_voice_attempts, s.max_sms_attempts, r.switch_channel, r.switch_after,"
    " k.round_first_attempt,"
    " (SELECT a.channel FROM attempts a WHERE a.contact_id = k.id AND a.attempt = u.n),"
    " c.sms_template IS NOT NULL, c.cisco_kind IS NOT NULL AND c.cisco_campaign_id IS NOT "
    "NULL, " ST_RULES_COLUMNS ", u.i"
    " FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[]) AS u (id, o, n, i)"
    " JOIN contacts k ON k.id = u.id"
    " JOIN campaigns c ON c.id = k.campaign_id"
    " JOIN strategies s ON s.id = c.strategy_id"
    " LEFT JOIN strategy_rules r ON r.strategy_id = s.id AND r.outcome = u.o"
    " ORDER BY k.id FOR UPDATE OF k";

/* The attempts of the contacts found, locked in key order: whether each has
 * an outcome already, whether the feeder withdrew it, and its row (ctid)
 * for SQL_RECORD_ATTEMPTS. Each attempt is looked up by its key in a
 * LATERAL subquery (OFFSET 0 keeps it one): a prepared statement's generic
 * plan can't turn into a join over every attempt, whatever the table's
 * size when the plan was made. */
static const char SQL_LOCK_ATTEMPTS[] =
    "SELECT u.i, t.o, t.w, t.tid"
    " FROM (SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[]) AS v (c, n, i)"
    "  ORDER BY c, n) u"
    " CROSS JOIN LATERAL (SELECT a.outcome IS NOT NULL AS o, a.status = 'withdrawn' AS w,"
    "  a.ctid AS tid FROM attempts a WHERE a.contact_id = u.c AND a.attempt = u.n"
    "  OFFSET 0 FOR UPDATE) t";

/* outcome_at ($8): when ECM learnt the outcome, in business time
 * (result_at is the dialer's or the gateway's clock): quiet periods count
 * from it. The rows are found by the ctid SQL_LOCK_ATTEMPTS returned (the
 * row is locked since, so it can't have moved): a TID lookup each, and
 * the key checked as well. */
static const char SQL_RECORD_ATTEMPTS[] =
    "UPDATE attempts t SET status = 'done',"
    " result_at = coalesce('epoch'::timestamptz + u.r * interval '1 millisecond', now()),"
    " raw_code = u.code, raw_detail = u.detail, outcome = u.o,"
    " outcome_at = 'epoch'::timestamptz + $8::bigint * interval '1 millisecond'"
    " FROM unnest($1::tid[], $2::bigint[], $3::int[], $4::bigint[], $5::int[], $6::int[],"
    " $7::text[]) AS u (tid, c, n, r, code, detail, o)"
    " WHERE t.ctid = u.tid AND t.contact_id = u.c AND t.attempt = u.n";

/* A withdrawn attempt's result once its contact has moved on (queued again
 * and taken, or decided): the call was made, so it counts against the caps
 * once (the withdrawal did not count it), but decides nothing. */
static const char SQL_COUNT_LATE[] =
    "UPDATE contacts SET counted_attempts = counted_attempts + 1, updated_at = now()"
    " WHERE id = ANY($1::bigint[])";

size_t st_round_next(const st_result *rs, size_t from, size_t n)
{
    if (from >= n)
        return n;
    if (rs[from].outcome == ECM__V1__OUTCOME__OUTCOME_DNC)
        return from + 1;
    size_t end = from + 1;
    for (; end < n; end++) {
        if (rs[end].outcome == ECM__V1__OUTCOME__OUTCOME_DNC)
            break;
        size_t j = from;
        while (j < end && rs[j].contact_id != rs[end].contact_id)
            j++;
        if (j < end)
            break;
    }
    return end;
}

/* Runs sql with the finished arrays a[0..n) and then the extra text
 * parameters; destroys the arrays. Returns the result or NULL. */
static PGresult *exec_arrays(ecm_pg *pg, const char *sql, ecm_pgarr *a, size_t n, const char *extra)
{
    const char *p[8];
    int ok = n < 8;
    for (size_t i = 0; ok && i < n; i++)
        ok = (p[i] = ecm_pgarr_finish(&a[i])) != NULL;
    if (ok && extra != NULL)
        p[n] = extra;
    PGresult *res = ok ? ecm_pg_exec(pg, sql, (int)(n + (extra != NULL)), p) : NULL;
    for (size_t i = 0; i < n; i++)
        ecm_pgarr_destroy(&a[i]);
    return res;
}

static void init_all(ecm_pgarr *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ecm_pgarr_init(&a[i]);
}

/* Index column col of row of res, checked against n; -1 out of range. */
static long index_at(const PGresult *res, int row, int col, size_t n)
{
    long long i = ecm_pgval_ll(res, row, col, -1);
    return i >= 0 && (size_t)i < n ? (long)i : -1;
}

static void reject(st_item *it, char *reason, const char *why)
{
    it->st = ST_APPLY_REJECT;
    snprintf(reason, ST_REASON_MAX, "%s", why);
}

/* Locks the contacts of items; a result whose contact is unknown is
 * rejected. Returns the locked rows (it->row) or NULL on failure. */
static PGresult *lock_contacts(ecm_pg *pg, st_item *items, size_t n, char (*reasons)[ST_REASON_MAX])
{
    ecm_pgarr a[4];
    init_all(a, 4);
    for (size_t i = 0; i < n; i++) {
        ecm_pgarr_add_int(&a[0], items[i].r->contact_id);
        ecm_pgarr_add_str(&a[1], items[i].outcome);
        ecm_pgarr_add_int(&a[2], items[i].r->attempt);
        ecm_pgarr_add_int(&a[3], (long long)i);
    }
    PGresult *k = exec_arrays(pg, SQL_LOCK_CONTACTS, a, 4, NULL);
    if (k == NULL)
        return NULL;
    for (int row = 0; row < PQntuples(k); row++) {
        long i = index_at(k, row, K_INDEX, n);
        if (i >= 0)
            items[i].row = row;
    }
    for (size_t i = 0; i < n; i++)
        if (items[i].row < 0)
            reject(&items[i], reasons[i], "unknown contact");
    return k;
}

/* Locks the attempts of the items still undecided (ST_APPLY_DECIDED so far)
 * and records their results; an unknown attempt is rejected, one with an
 * outcome already is a duplicate. Returns 0 or -1. */
static int record_attempts(ecm_pg *pg, st_item *items, size_t n, char (*reasons)[ST_REASON_MAX])
{
    ecm_pgarr a[3];
    init_all(a, 3);
    size_t open = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].st != ST_APPLY_DECIDED)
            continue;
        open++;
        ecm_pgarr_add_int(&a[0], items[i].r->contact_id);
        ecm_pgarr_add_int(&a[1], items[i].r->attempt);
        ecm_pgarr_add_int(&a[2], (long long)i);
    }
    if (open == 0) {
        for (size_t j = 0; j < 3; j++)
            ecm_pgarr_destroy(&a[j]);
        return 0;
    }
    PGresult *res = exec_arrays(pg, SQL_LOCK_ATTEMPTS, a, 3, NULL);
    if (res == NULL)
        return -1;
    char *seen = calloc(n ? n : 1, 1);
    if (seen == NULL) {
        PQclear(res);
        return -1;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        long i = index_at(res, row, 0, n);
        if (i < 0)
            continue;
        seen[i] = 1;
        items[i].withdrawn = PQgetvalue(res, row, 2)[0] == 't';
        snprintf(items[i].tid, sizeof items[i].tid, "%s", PQgetvalue(res, row, 3));
        if (PQgetvalue(res, row, 1)[0] == 't')
            items[i].st = ST_APPLY_DUPLICATE;
    }
    PQclear(res);
    for (size_t i = 0; i < n; i++)
        if (items[i].st == ST_APPLY_DECIDED && !seen[i])
            reject(&items[i], reasons[i], "unknown attempt");
    free(seen);

    ecm_pgarr b[7];
    init_all(b, 7);
    size_t rec = 0;
    for (size_t i = 0; i < n; i++) {
        const st_result *r = items[i].r;
        if (items[i].st != ST_APPLY_DECIDED)
            continue;
        rec++;
        ecm_pgarr_add_str(&b[0], items[i].tid);
        ecm_pgarr_add_int(&b[1], r->contact_id);
        ecm_pgarr_add_int(&b[2], r->attempt);
        if (r->result_at_ms > 0)
            ecm_pgarr_add_int(&b[3], r->result_at_ms);
        else
            ecm_pgarr_add_str(&b[3], NULL);
        ecm_pgarr_add_int(&b[4], r->raw_code);
        if (r->has_raw_detail)
            ecm_pgarr_add_int(&b[5], r->raw_detail);
        else
            ecm_pgarr_add_str(&b[5], NULL);
        ecm_pgarr_add_str(&b[6], items[i].outcome);
    }
    if (rec == 0) {
        for (size_t j = 0; j < 7; j++)
            ecm_pgarr_destroy(&b[j]);
        return 0;
    }
    char outcome_at[24];
    snprintf(outcome_at, sizeof(outcome_at), "%lld", (long long)ecm_clock_now_ms());
    res = exec_arrays(pg, SQL_RECORD_ATTEMPTS, b, 7, outcome_at);
    if (res == NULL)
        return -1;
    /* Every attempt locked above is recorded: anything else is a bug,
     * and the transaction is not committed on it. */
    long long updated = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    if (updated < 0 || (size_t)updated != rec) {
        ecm_log_error("attempts not recorded by their rows", "expected=%zu updated=%lld", rec,
                      updated);
        return -1;
    }
    return 0;
}

/* 1 when the result of it decides its contact (row it->row of k): its
 * current attempt, the contact 'dispatched' on it, or 'queued' again after
 * the feeder withdrew it (the dialer dialled it all the same: its result
 * decides, as if never withdrawn, before the contact is taken again). */
static int result_is_current(const st_item *it, const PGresult *k)
{
    const char *state = PQgetvalue(k, it->row, K_STATE);
    if (ecm_pgval_ll(k, it->row, K_ATTEMPTS, -1) != (long long)it->r->attempt)
        return 0;
    return strcmp(state, "dispatched") == 0 || (it->withdrawn && strcmp(state, "queued") == 0);
}

/* The recorded results that no longer decide their contact: recorded only.
 * A withdrawn one still counts against the caps when it counts as an
 * attempt (the call was made; the withdrawal had not counted it). Returns 0
 * or -1. */
static int late_results(ecm_pg *pg, st_item *items, size_t n)
{
    ecm_pgarr ids;
    ecm_pgarr_init(&ids);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        const st_result *r = items[i].r;
        if (items[i].st != ST_APPLY_RECORDED)
            continue;
        ecm_log_info("result for an earlier attempt recorded",
                     "contact %lld attempt %d withdrawn %d", (long long)r->contact_id, r->attempt,
                     items[i].withdrawn);
        if (items[i].withdrawn && r->counts_as_attempt) {
            ecm_pgarr_add_int(&ids, r->contact_id);
            count++;
        }
    }
    int rc = 0;
    if (count > 0) {
        const char *p[] = {ecm_pgarr_finish(&ids)};
        rc = p[0] == NULL || ecm_pg_cmd(pg, SQL_COUNT_LATE, 1, p) != 0 ? -1 : 0;
    }
    ecm_pgarr_destroy(&ids);
    return rc;
}

/* The decisions of the current items: inputs, history, calendar, then
 * ecm_decide for each. Returns 0 or -1. */
static int decide_all(ecm_pg *pg, const st_results_ctx *ctx, st_item *items, size_t n,
                      const PGresult *k)
{
    int64_t now_ms = ecm_clock_now_ms();
    int any_history = 0;
    for (size_t i = 0; i < n; i++) {
        st_item *it = &items[i];
        if (!it->current)
            continue;
        it->contact_attempts = (int)ecm_pgval_ll(k, it->row, K_ATTEMPTS, 0);
        it->campaign_id = ecm_pgval_ll(k, it->row, K_CAMPAIGN, 0);
        /* Most results close (a delivered SMS): their decision can't
         * depend on the history or the calendar, so those are skipped. */
        st_input_base(it, k, now_ms);
        any_history |= it->history;
    }
    if (!any_history)
        goto decide;
    int64_t generation = 0;
    if (st_input_history(pg, items, n, now_ms) != 0 ||
        (ctx->rules != NULL && ecm_rules_generation(pg, &generation) < 0))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (items[i].current && items[i].history &&
            st_input_calendar(pg, ctx, &items[i], k, generation) != 0)
            return -1;
decide:
    for (size_t i = 0; i < n; i++) {
        if (!items[i].current)
            continue;
        ecm_decide(&items[i].in, &items[i].dec);
        if (items[i].dec.action == ECM_DECIDE_RETRY)
            ecm_log_debug("retry placed", "contact %lld next attempt at %lld in %s",
                          (long long)items[i].r->contact_id,
                          (long long)items[i].dec.next_attempt_at_ms, items[i].dec.zone);
    }
    return 0;
}

/* Logs the decision of it and fills info. Can't fail. */
static void report(const st_item *it, st_apply_info *info)
{
    const ecm_decide_out *dec = &it->dec;
    const st_result *r = it->r;
    int closed = dec->action == ECM_DECIDE_CLOSE;
    ecm_log_debug("result applied", "contact %lld attempt %d outcome %s: %s (%s)",
                  (long long)r->contact_id, r->attempt, it->outcome, closed ? "closed" : "retry",
                  dec->reason);
    if (dec->switched)
        ecm_log_info("channel switched", "contact %lld attempt %d outcome %s: next attempt on %s",
                     (long long)r->contact_id, r->attempt, it->outcome,
                     ecm_decide_channel_name(dec->channel));
    if (dec->skipped_to != ECM_DECIDE_CH_NONE)
        ecm_log_info("channel switch skipped", "contact %lld attempt %d outcome %s to %s: %s",
                     (long long)r->contact_id, r->attempt, it->outcome,
                     ecm_decide_channel_name(dec->skipped_to), dec->channel_note);
    info->closed = closed;
    info->outcome = dec->outcome;
    info->next_attempt_at_ms = closed ? 0 : dec->next_attempt_at_ms;
    info->phone_index = dec->phone_index;
    info->personal = it->personal;
    info->channel = dec->channel;
    info->switch_to = !closed && dec->switched ? dec->channel : ECM_DECIDE_CH_NONE;
    info->skipped_to = dec->skipped_to;
}

/* Everything after the contacts are locked (k). Returns 0 or -1. The
 * attempts' lock and record find their rows by key or ctid: sequential
 * scans are off around them (ecm_pg_seqscan; 36 ms a call on a fresh
 * database, docs/performance.md, SMS "Figures, fifth step"). */
static int apply_locked(ecm_pg *pg, const st_results_ctx *ctx, st_item *items, size_t n,
                        const PGresult *k, char (*reasons)[ST_REASON_MAX])
{
    if (ecm_pg_seqscan(pg, 0) != 0 || record_attempts(pg, items, n, reasons) != 0 ||
        ecm_pg_seqscan(pg, 1) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (items[i].st != ST_APPLY_DECIDED)
            continue;
        if (st_consent_on_result(pg, ctx, items[i].r) != 0)
            return -1;
        items[i].current = result_is_current(&items[i], k);
        if (!items[i].current)
            items[i].st = ST_APPLY_RECORDED;
    }
    if (late_results(pg, items, n) != 0 || decide_all(pg, ctx, items, n, k) != 0 ||
        st_write_decisions(pg, ctx, items, n) != 0)
        return -1;
    return 0;
}

int st_round_apply(ecm_pg *pg, const st_results_ctx *ctx, const st_result *rs, size_t n,
                   st_apply_status *st, st_apply_info *infos, char (*reasons)[ST_REASON_MAX],
                   char *reason, size_t reason_size)
{
    if (reason_size > 0)
        reason[0] = '\0';
    if (n == 0)
        return 0;
    st_item *items = calloc(n, sizeof(*items));
    if (items == NULL) {
        snprintf(reason, reason_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        items[i].r = &rs[i];
        items[i].row = -1;
        items[i].st = ST_APPLY_DECIDED;
        items[i].outcome = ecm_event_outcome_name(rs[i].outcome);
        snprintf(items[i].contact, sizeof(items[i].contact), "%lld", (long long)rs[i].contact_id);
        snprintf(items[i].attempt, sizeof(items[i].attempt), "%d", rs[i].attempt);
        reasons[i][0] = '\0';
        memset(&infos[i], 0, sizeof(infos[i]));
    }
    int rc = -1;
    PGresult *k = lock_contacts(pg, items, n, reasons);
    if (k != NULL && apply_locked(pg, ctx, items, n, k, reasons) == 0)
        rc = 0;
    PQclear(k);
    if (rc != 0) /* "" when the connection is lost: transient */
        snprintf(reason, reason_size, "%s", ecm_pg_last_sqlstate(pg));
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            st[i] = items[i].st;
            if (items[i].current)
                report(&items[i], &infos[i]);
        }
        st_item_release(&items[i]);
    }
    free(items);
    return rc;
}

#include "fd_reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "ecm_pgval.h"
#include "fd_writer.h"

static const char STALE_TARGETS_SQL[] =
    "SELECT DISTINCT target FROM attempts "
    "WHERE status = 'sending' AND target LIKE ANY (ARRAY['uccx:%', 'ucce_api:%', 'ucce_db:%']) "
    "AND sending_at < now() - $1::bigint * interval '1 second' ORDER BY 1";

/* Columns 6-7: the personal callback (agent, time) the attempt carries;
 * column 8: old enough to be re-sent when missing ($5, see reconcile_rows). */
static const char STALE_ROWS_SQL[] =
    "SELECT a.account_number, ct.first_name, ct.last_name, a.phone, cp.state = 'active', "
    "COALESCE(ct.time_zone, cp.time_zone), "
    "CASE WHEN ct.attempts = a.attempt THEN ct.pcb_agent END, "
    "floor(extract(epoch FROM greatest(ct.pcb_at, ct.next_attempt_at)) * 1000)::bigint, "
    "a.sending_at < now() - $5::bigint * interval '1 second' "
    "FROM attempts a JOIN contacts ct ON ct.id = a.contact_id "
    "JOIN campaigns cp ON cp.id = a.campaign_id "
    "WHERE a.target = $1 AND a.status = 'sending' "
    "AND a.sending_at < now() - $2::bigint * interval '1 second' "
    "AND ($4::text[] IS NULL OR a.account_number = ANY ($4::text[])) "
    "ORDER BY a.sending_at, a.account_number LIMIT $3 FOR UPDATE OF a SKIP LOCKED";

size_t fd_reconcile_partition(const fd_uccx_list *list, const char *const *accounts, size_t n,
                              int *present)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        present[i] = fd_uccx_list_contains(list, accounts[i]);
        count += (size_t)present[i];
    }
    return count;
}

/* Hands the missing attempts to w in batches; the accepted ones are
 * appended to mark. Returns 0, or -2 at the first batch the dialer did not
 * take. */
static int resend(fd_ctx *ctx, fd_writer *w, const fd_target *tg, const char *target,
                  const fd_contact *missing, size_t n, const char **mark, size_t *nmark)
{
    size_t batch = ctx->opt.batch > 0 ? (size_t)ctx->opt.batch : n;
    for (size_t off = 0; off < n; off += batch) {
        size_t k = n - off < batch ? n - off : batch;
        fd_uccx_result res;
        fd_uccx_status st = fd_writer_post(w, tg, missing + off, k, &res);
        if (st != FD_UCCX_OK) {
            fd_count_error(ctx, tg->kind, st);
            ecm_log_warn("the dialer did not take a reconciled batch; retried later",
                         "target=%s records=%zu status=%ld detail=%s", target, k, res.http_status,
                         res.detail);
            return -2;
        }
        for (size_t i = 0; i < k; i++)
            mark[(*nmark)++] = missing[off + i].account_number;
    }
    return 0;
}

/* One target's stale rows sorted against what the dialer has: those it has
 * (to mark sent), those it lacks and may be re-sent, and those held
 * (campaign paused or stopped). */
typedef struct {
    const char **accounts;
    int *present;
    const char **mark;
    fd_contact *missing;
    size_t nmark, nmissing, npresent, held, young;
} row_split;

/* Room for n rows in sp (zeroed first). Returns 0, or -1 when memory runs
 * out (sp is then for split_destroy()). */
static int split_alloc(row_split *sp, int n)
{
    memset(sp, 0, sizeof *sp);
    sp->accounts = calloc((size_t)n, sizeof *sp->accounts);
    sp->present = calloc((size_t)n, sizeof *sp->present);
    sp->mark = calloc((size_t)n, sizeof *sp->mark);
    sp->missing = calloc((size_t)n, sizeof *sp->missing);
    return sp->accounts && sp->present && sp->mark && sp->missing ? 0 : -1;
}

static void split_destroy(row_split *sp)
{
    free(sp->accounts);
    free(sp->present);
    free(sp->mark);
    free(sp->missing);
}

/* Sorts the n rows of r (STALE_ROWS_SQL's), whose presence at the dialer
 * is in sp->present, into sp; the strings are r's. Can't fail. */
static void split_rows(row_split *sp, const PGresult *r, int n)
{
    for (int i = 0; i < n; i++) {
        if (sp->present[i]) {
            sp->npresent++;
            sp->mark[sp->nmark++] = sp->accounts[i];
        } else if (strcmp(PQgetvalue(r, i, 8), "t") != 0) {
            sp->young++; /* may still be in the dialer's queue: not re-sent yet */
        } else if (strcmp(PQgetvalue(r, i, 4), "t") == 0) {
            sp->missing[sp->nmissing++] = (fd_contact){
                .account_number = sp->accounts[i],
                .first_name = ecm_pgval_str(r, i, 1),
                .last_name = ecm_pgval_str(r, i, 2),
                .phone = ecm_pgval_str(r, i, 3),
                .time_zone = ecm_pgval_str(r, i, 5),
                .pcb_agent = ecm_pgval_str(r, i, 6),
                .pcb_at_ms = ecm_pgval_ll(r, i, 7, 0),
            };
        } else {
            sp->held++; /* campaign paused or stopped: nothing is dispatched for it */
        }
    }
}

/* With the n locked rows of r: asks w what it has, re-sends what it lacks
 * (unless it has not answered long enough), marks both 'sent' and commits.
 * Returns 0, -1 (DB; the caller rolls back) or -2 (dialer: what it has is
 * still marked and committed, unless the question itself failed). */
static int settle_rows(fd_ctx *ctx, fd_writer *w, const fd_target *tg, const char *target,
                       const PGresult *r, int n, size_t *present_out, size_t *resent_out)
{
    row_split sp;
    int rc = 0;
    if (split_alloc(&sp, n) < 0) {
        split_destroy(&sp);
        return -1;
    }
    for (int i = 0; i < n; i++)
        sp.accounts[i] = PQgetvalue(r, i, 0);
    fd_uccx_result res;
    fd_uccx_status st = fd_writer_find(w, tg, sp.accounts, (size_t)n, sp.present, &res);
    if (st != FD_UCCX_OK) {
        fd_count_error(ctx, tg->kind, st);
        ecm_log_warn("could not ask the dialer what it has; reconcile later",
                     "target=%s status=%ld detail=%s", target, res.http_status, res.detail);
        split_destroy(&sp);
        ecm_pg_rollback(ctx->pg);
        return -2;
    }
    split_rows(&sp, r, n);
    /* A request the dialer got but did not answer (a timeout) may still
     * land: what it lacks is re-sent only when it has answered long enough
     * for such a request to be over. */
    size_t deferred = sp.young;
    if (sp.young > 0)
        rc = -2;
    if (sp.nmissing > 0 && fd_writer_answering_ms(w) < ctx->opt.reconcile_after_s * 1000) {
        deferred += sp.nmissing;
        rc = -2;
    } else if (sp.nmissing > 0) {
        rc = resend(ctx, w, tg, target, sp.missing, sp.nmissing, sp.mark, &sp.nmark);
    }
    size_t marked = 0;
    if (fd_mark_sent(ctx, sp.mark, sp.nmark, &marked) < 0 || ecm_pg_commit(ctx->pg) < 0) {
        split_destroy(&sp);
        return -1;
    }
    size_t resent = sp.nmark - sp.npresent;
    ecm_metric_add(ctx->metrics.reconciled_present[tg->kind], sp.npresent);
    ecm_metric_add(ctx->metrics.reconciled_resent[tg->kind], resent);
    ecm_metric_add(ctx->metrics.dispatched[tg->kind], marked);
    *present_out += sp.npresent;
    *resent_out += resent;
    ecm_log_info("reconciled a target", "target=%s present=%zu resent=%zu held=%zu deferred=%zu",
                 target, sp.npresent, resent, sp.held, deferred);
    split_destroy(&sp);
    return rc;
}

/* Reconciles the attempts of target 'sending' for longer than after_s,
 * only those named in the array literal `only` unless it is NULL. over: the
 * caller knows the hand-over of these attempts is over (an answer, or no
 * server reached); else (found stale, e.g. after a crash) a missing
 * Outbound API attempt is re-sent only when no import of it can still wait
 * in Cisco's queue. */
static int reconcile_rows(fd_ctx *ctx, const char *target, long after_s, const char *only, int over,
                          size_t *present_out, size_t *resent_out)
{
    fd_target tg;
    if (fd_target_parse(target, &tg) < 0)
        return -1;
    fd_writer *w = fd_writer_for(ctx, &tg);
    if (!w)
        return 0; /* left 'sending' until that kind is configured */
    char after[32], limit[32], young[32];
    /* An Outbound API import left without an answer may wait in Cisco's
     * queue up to the import timeout: nothing is re-sent before. */
    long young_s = tg.kind == FD_KIND_UCCE_API && !over
                       ? ctx->opt.ucce_import_timeout_s + ctx->opt.reconcile_after_s
                       : 0;
    if ((size_t)snprintf(young, sizeof young, "%ld", young_s) >= sizeof young ||
        (size_t)snprintf(after, sizeof after, "%ld", after_s) >= sizeof after ||
        (size_t)snprintf(limit, sizeof limit, "%ld",
                         ctx->opt.capacity > 0 ? ctx->opt.capacity : 10000) >= sizeof limit)
        return -1;
    if (fd_target_load(ctx->pg, &tg) < 0 || ecm_pg_begin(ctx->pg) < 0)
        goto db_fail;
    const char *params[5] = {target, after, limit, only, young};
    PGresult *r = ecm_pg_exec(ctx->pg, STALE_ROWS_SQL, 5, params);
    if (!r)
        goto db_fail;
    int n = PQntuples(r);
    int rc = 0;
    /* The rows stay locked from here to the commit, across the dialer calls. */
    if (n > 0)
        rc = settle_rows(ctx, w, &tg, target, r, n, present_out, resent_out);
    else
        ecm_pg_rollback(ctx->pg);
    PQclear(r);
    if (rc == -1)
        goto db_fail;
    return rc;
db_fail:
    ecm_pg_rollback(ctx->pg);
    ecm_pg_check_broken(ctx->pg);
    return -1;
}

int fd_reconcile_accounts(fd_ctx *ctx, const char *target, const char *const *accounts, size_t n,
                          size_t *present, size_t *resent)
{
    size_t p = 0, s = 0;
    if (present)
        *present = 0;
    if (resent)
        *resent = 0;
    if (n == 0)
        return 0;
    ecm_pgarr a;
    ecm_pgarr_init(&a);
    for (size_t i = 0; i < n; i++)
        ecm_pgarr_add_str(&a, accounts[i]);
    const char *only = ecm_pgarr_finish(&a);
    int rc = only ? reconcile_rows(ctx, target, 0, only, 1, &p, &s) : -1;
    ecm_pgarr_destroy(&a);
    if (present)
        *present = p;
    if (resent)
        *resent = s;
    return rc;
}

int fd_reconcile_run(fd_ctx *ctx, size_t *present, size_t *resent)
{
    size_t p = 0, s = 0;
    char after[32];
    if ((size_t)snprintf(after, sizeof after, "%ld", ctx->opt.reconcile_after_s) >= sizeof after)
        return -1;
    const char *params[1] = {after};
    PGresult *r = ecm_pg_exec(ctx->pg, STALE_TARGETS_SQL, 1, params);
    if (!r) {
        ecm_pg_check_broken(ctx->pg);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        if (reconcile_rows(ctx, PQgetvalue(r, i, 0), ctx->opt.reconcile_after_s, NULL, 0, &p, &s) <
            0)
            rc = -1;
    }
    PQclear(r);
    if (present)
        *present = p;
    if (resent)
        *resent = s;
    return rc;
}

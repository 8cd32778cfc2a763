#include "fd_withdraw.h"

#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"

/* Targets with 'sent' attempts of paused or stopped campaigns not looked
 * at yet (attempts_withdrawable). */
static const char TARGETS_SQL[] =
    "SELECT DISTINCT a.target FROM campaigns c JOIN attempts a ON a.campaign_id = c.id "
    "WHERE c.state IN ('paused', 'stopped') AND a.status = 'sent' AND NOT a.withdraw_kept "
    "AND a.target LIKE ANY (ARRAY['uccx:%', 'ucce_api:%', 'ucce_db:%']) ORDER BY 1";

/* The dispatcher's lock of the target. */
static const char LOCK_SQL[] = "SELECT pg_try_advisory_xact_lock(hashtext('ecm-feeder:' || $1))";

/* Share-locks the target's campaigns (a resume waits for this withdrawal)
 * and says whether all of them can lose their undialled records: paused or
 * stopped, or neither active nor with attempts in flight on the target. */
static const char WHOLE_SQL[] =
    "SELECT coalesce(bool_and(c.state IN ('paused', 'stopped') OR (c.state <> 'active' AND NOT "
    "EXISTS (SELECT 1 FROM attempts a WHERE a.campaign_id = c.id AND a.target = $1 "
    "AND a.status IN ('sending', 'sent')))), false) FROM (SELECT id, state FROM campaigns "
    "WHERE cisco_kind = $2 AND cisco_campaign_id = $3 ORDER BY id FOR SHARE) c";

/* The attempts to decide, with their contacts locked (the strategy locks a
 * contact before its attempt: rows it holds are skipped, never waited for).
 * With whole ($2) every 'sent' attempt of the target. */
static const char CANDIDATES_SQL[] =
    "SELECT a.account_number FROM attempts a JOIN campaigns c ON c.id = a.campaign_id "
    "JOIN contacts ct ON ct.id = a.contact_id "
    "WHERE a.target = $1 AND a.status = 'sent' "
    "AND ($2::boolean OR (NOT a.withdraw_kept AND c.state IN ('paused', 'stopped'))) "
    "ORDER BY a.account_number FOR UPDATE OF a, ct SKIP LOCKED";

/* Withdrawn: the attempt out of flight and never counted; its contact, if
 * this attempt is still its current one, back in the queue. */
static const char WITHDRAWN_SQL[] =
    "WITH w AS (UPDATE attempts SET status = 'withdrawn', withdraw_kept = false "
    "WHERE account_number = ANY($1::text[]) AND status = 'sent' RETURNING contact_id, attempt), "
    "q AS (UPDATE contacts ct SET state = 'queued', updated_at = now() FROM w "
    "WHERE ct.id = w.contact_id AND ct.attempts = w.attempt AND ct.state = 'dispatched' "
    "RETURNING 1) SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM q)";

static const char KEPT_SQL[] =
    "WITH k AS (UPDATE attempts SET withdraw_kept = true "
    "WHERE account_number = ANY($1::text[]) AND status = 'sent' RETURNING 1) "
    "SELECT count(*) FROM k";

/* Runs sql with the accounts (present[i] == want) as a text[]. *rows gets
 * the first column of its row (the attempts updated). Returns 0 or -1. */
static int update_accounts(fd_ctx *ctx, const char *sql, const char *const *accounts,
                           const int *present, size_t n, int want, long long *rows)
{
    *rows = 0;
    ecm_pgarr a;
    ecm_pgarr_init(&a);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!present || present[i] == want) {
            ecm_pgarr_add_str(&a, accounts[i]);
            k++;
        }
    }
    const char *p[1] = {ecm_pgarr_finish(&a)};
    int rc = p[0] ? 0 : -1;
    if (rc == 0 && k > 0) {
        PGresult *r = ecm_pg_exec(ctx->pg, sql, 1, p);
        if (!r)
            rc = -1;
        else
            *rows = ecm_pgval_ll(r, 0, 0, 0);
        PQclear(r);
    }
    ecm_pgarr_destroy(&a);
    return rc;
}

/* Inside the open transaction: 1 when the target may lose all its
 * undialled records, 0 when not, -1 (DB). */
static int whole_of(fd_ctx *ctx, const fd_target *t, const char *target)
{
    const char *p[3] = {target, fd_kind_name(t->kind), t->cisco_id};
    PGresult *r = ecm_pg_exec(ctx->pg, WHOLE_SQL, 3, p);
    if (!r)
        return -1;
    int whole = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return whole;
}

/* Asks w to withdraw and to tell which accounts it still has; records the
 * decision. Returns 0, -1 (DB) or -2 (the dialer). */
static int withdraw_and_decide(fd_ctx *ctx, fd_writer *w, const fd_target *t, const char *target,
                               const char *const *accounts, size_t n, int whole, size_t *withdrawn,
                               size_t *kept)
{
    int *present = calloc(n, sizeof *present);
    if (!present)
        return -1;
    fd_uccx_result res = {0};
    int withdrew = 0;
    fd_uccx_status st = fd_writer_withdraw(w, t, accounts, n, whole, &withdrew, &res);
    if (st == FD_UCCX_OK && withdrew)
        st = fd_writer_find(w, t, accounts, n, present, &res);
    else
        for (size_t i = 0; i < n; i++)
            present[i] = 1; /* nothing asked: all stay */
    if (st != FD_UCCX_OK) {
        fd_count_error(ctx, t->kind, st);
        ecm_log_warn("withdrawal from the dialer failed; tried again", "target=%s status=%ld %s",
                     target, res.http_status, res.detail);
        free(present);
        return -2;
    }
    long long gone = 0, stay = 0;
    int rc = update_accounts(ctx, WITHDRAWN_SQL, accounts, present, n, 0, &gone) == 0 &&
                     update_accounts(ctx, KEPT_SQL, accounts, present, n, 1, &stay) == 0
                 ? 0
                 : -1;
    free(present);
    *withdrawn = (size_t)gone;
    *kept = (size_t)stay;
    if (rc == 0)
        ecm_log_info("paused campaigns' records withdrawn from the dialer",
                     "target=%s whole=%d asked=%d withdrawn=%lld kept=%lld", target, whole,
                     withdrew, gone, stay);
    return rc;
}

/* Inside the open transaction holding the target's lock: the candidates
 * and the decision. Returns 0, -1 or -2. */
static int withdraw_locked(fd_ctx *ctx, fd_writer *w, const fd_target *t, const char *target,
                           size_t *withdrawn, size_t *kept)
{
    int whole = whole_of(ctx, t, target);
    if (whole < 0)
        return -1;
    const char *p[2] = {target, whole ? "true" : "false"};
    PGresult *r = ecm_pg_exec(ctx->pg, CANDIDATES_SQL, 2, p);
    if (!r)
        return -1;
    size_t n = (size_t)PQntuples(r);
    const char **accounts = calloc(n ? n : 1, sizeof *accounts);
    if (!accounts) {
        PQclear(r);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        accounts[i] = PQgetvalue(r, (int)i, 0);
    int rc =
        n == 0 ? 0 : withdraw_and_decide(ctx, w, t, target, accounts, n, whole, withdrawn, kept);
    free(accounts);
    PQclear(r);
    return rc;
}

int fd_withdraw_target(fd_ctx *ctx, const char *target, size_t *withdrawn, size_t *kept)
{
    size_t gone = 0, stay = 0;
    fd_target t;
    if (fd_target_parse(target, &t) < 0) {
        ecm_log_error("malformed Cisco target", "target=%.60s", target);
        return -1;
    }
    fd_writer *w = fd_writer_for(ctx, &t);
    if (!w)
        return 0;
    int rc = fd_target_load(ctx->pg, &t) < 0 ? -1 : 0;
    if (rc == 0 && ecm_pg_begin(ctx->pg) < 0)
        rc = -1;
    const char *p[1] = {target};
    PGresult *r = rc == 0 ? ecm_pg_exec(ctx->pg, LOCK_SQL, 1, p) : NULL;
    if (rc == 0 && !r)
        rc = -1;
    int locked = r && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (rc == 0 && locked)
        rc = withdraw_locked(ctx, w, &t, target, &gone, &stay);
    if (rc == 0 && locked && ecm_pg_commit(ctx->pg) < 0)
        rc = -1;
    if (rc < 0 || !locked) {
        ecm_pg_rollback(ctx->pg);
        ecm_pg_check_broken(ctx->pg);
        gone = stay = 0;
    }
    ecm_metric_add(ctx->metrics.withdrawn[t.kind], gone);
    ecm_metric_add(ctx->metrics.withdraw_kept[t.kind], stay);
    if (withdrawn)
        *withdrawn += gone;
    if (kept)
        *kept += stay;
    return rc;
}

int fd_withdraw_run(fd_ctx *ctx, size_t *withdrawn, size_t *kept)
{
    if (withdrawn)
        *withdrawn = 0;
    if (kept)
        *kept = 0;
    PGresult *r = ecm_pg_exec(ctx->pg, TARGETS_SQL, 0, NULL);
    if (!r) {
        ecm_pg_check_broken(ctx->pg);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int trc = fd_withdraw_target(ctx, PQgetvalue(r, i, 0), withdrawn, kept);
        if (trc < 0 && (rc == 0 || trc == -1))
            rc = trc;
    }
    PQclear(r);
    return rc;
}

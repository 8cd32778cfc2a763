#include "fd_dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_account.h"
#include "ecm_clock.h"
#include "ecm_log.h"
#include "fd_hold.h"
#include "fd_reconcile.h"
#include "ecm_pgval.h"

#define TARGET_MAX 160
#define ACCOUNT_MAX 32

/* Targets are Cisco campaigns: several ECM campaigns may share one. Any
 * campaign with a Cisco target, whatever its home channel: an SMS campaign
 * whose strategy switches a contact to voice calls it there. Only contacts
 * whose next attempt is on voice (ECM_CONTACT_CHANNEL_SQL) are the
 * feeder's. One probe of contacts_queued_next a campaign: "anything
 * queued?" is the first live entry (an index-only scan). As an EXISTS, the
 * planner turned it into a hash semi-join over a sequential scan of
 * contacts once the statistics saw many queued contacts (171-314 ms a call
 * during a 50,000-contact run, against 0.1-5 ms for this form;
 * docs/performance.md, "The fourth step"); a LATERAL with a LIMIT is not
 * flattened. */
static const char TARGETS_SQL[] =
    "SELECT c.cisco_kind, c.cisco_campaign_id FROM campaigns c "
    "CROSS JOIN LATERAL (SELECT 1 FROM contacts ct WHERE ct.campaign_id = c.id "
    "AND ct.state = 'queued' AND " ECM_CONTACT_CHANNEL_SQL " = 'voice' LIMIT 1) q "
    "WHERE c.state = 'active' AND c.cisco_kind IS NOT NULL AND c.cisco_campaign_id IS NOT NULL "
    "GROUP BY 1, 2 ORDER BY 1, 2";

/* Serialises the capacity arithmetic of one target across replicas; a
 * replica that does not get it leaves the target to the one that did. */
static const char LOCK_SQL[] = "SELECT pg_try_advisory_xact_lock(hashtext('ecm-feeder:' || $1))";

/* The campaign row is share-locked with the contacts: a pause either waits
 * for this batch to commit (it was taken while active) or commits first,
 * and then nothing is taken. The gate picks the number (past phone_index
 * wraps to the first) and judges the calling window.
 * The oldest queued contacts of the target's campaigns: each campaign's
 * first 2 x $2 candidates in id order (ECM_QUEUED_CANDIDATES_SQL), the first
 * $2 of those unlocked, then the first $2 of all. Joined flat, PostgreSQL read and sorted every
 * queued contact of the campaigns for each batch (186 ms at 100,000 queued, growing with the
 * backlog; docs/performance.md). With several campaigns on one target the
 * rows locked but not taken stay queued for the next batch. */
/* clang-format off */
static const char TAKE_SQL[] =
    "SELECT " ECM_GATE_COLUMNS
    ", ct.first_name, ct.last_name, COALESCE(ct.time_zone, c.time_zone), "
    "ct.pcb_agent, floor(extract(epoch FROM greatest(ct.pcb_at, ct.next_attempt_at)) * "
    "1000)::bigint "
    "FROM campaigns c CROSS JOIN LATERAL (" ECM_QUEUED_TAKE_SQL("c", "voice", "$2 * 2", "$2") ") ct "
    "WHERE c.state = 'active' AND c.cisco_kind = $3 AND c.cisco_campaign_id = $1 "
    "ORDER BY ct.id LIMIT $2 FOR SHARE OF c";
/* clang-format on */

#define COL_FIRST_NAME ECM_GATE_NCOLS
#define COL_LAST_NAME (ECM_GATE_NCOLS + 1)
#define COL_TIME_ZONE (ECM_GATE_NCOLS + 2)
/* A personal callback (fd_pcb.h): the agent, and its time, the one asked
 * for or the later one the calling window moved it to. */
#define COL_PCB_AGENT (ECM_GATE_NCOLS + 3)
#define COL_PCB_AT (ECM_GATE_NCOLS + 4)

/* An attempt that already exists (DB out of step) is not recorded twice and
 * not sent twice; the contact still moves on. dispatched_at is business
 * time, what windows and per-day caps are checked against. The attempt's
 * channel is the campaign's voice_ivr/voice_agent, or voice_agent for a call
 * of an SMS campaign (ECM_ATTEMPT_CHANNEL_SQL_OF). */
static const char RECORD_SQL[] =
    "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone, "
    "account_number, status, dispatched_at) "
    "SELECT ct.id, a.attempt, ct.campaign_id, " ECM_ATTEMPT_CHANNEL_SQL_OF(
        "ct",
        "c") ", $5, a.phone, a.account_number, "
             "'sending', to_timestamp($6::float8 / 1000) "
             "FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[]) "
             "AS a (contact_id, attempt, phone, account_number) "
             "JOIN contacts ct ON ct.id = a.contact_id JOIN campaigns c ON c.id = ct.campaign_id "
             "ON CONFLICT DO NOTHING RETURNING account_number";

typedef struct {
    char account[ACCOUNT_MAX];
    int recorded; /* 0 also for contacts the gate held back */
} taken_row;

/* A batch recorded 'sending' whose POST failed while UCCX was unavailable.
 * Until it is settled its target takes no new contacts: while UCCX is down
 * one batch waits, not a target's whole capacity. */
struct fd_pending {
    fd_pending *next;
    char target[TARGET_MAX];
    char (*accounts)[ACCOUNT_MAX];
    size_t n;
    /* ecm_clock_mono_ms() from which it may be reconciled: at once when UCCX
     * answered or was never reached, else once a POST still under way on
     * UCCX's side must be over (the reconciler's own rule). */
    long long not_before;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Marks which rows of the gate's GO got an attempts row (normally all). */
static void mark_recorded(taken_row *rows, int n, int ngo, PGresult *ins)
{
    int m = PQntuples(ins);
    if (m == ngo) {
        for (int i = 0; i < n; i++)
            rows[i].recorded = rows[i].account[0] != '\0';
        return;
    }
    const char **got = calloc((size_t)m + 1, sizeof *got);
    if (!got)
        return; /* none sent now; the reconciler finds them */
    for (int i = 0; i < m; i++)
        got[i] = PQgetvalue(ins, i, 0);
    qsort(got, (size_t)m, sizeof *got, cmp_str);
    for (int i = 0; i < n; i++) {
        const char *key = rows[i].account;
        if (!key[0])
            continue;
        rows[i].recorded = bsearch(&key, got, (size_t)m, sizeof *got, cmp_str) != NULL;
        if (!rows[i].recorded)
            ecm_log_warn("attempt already recorded; not sent again", "account_number=%s", key);
    }
    free(got);
}

/* The taken contacts the gate let through: their attempts recorded on the
 * number it picked, at business time now_ms. Returns 0 or -1. */
static int record_go(fd_ctx *ctx, const char *target, const ecm_gate_row *verdicts, taken_row *rows,
                     int n, int64_t now_ms)
{
    ecm_pgarr ids, atts, phones, accts;
    ecm_pgarr_init(&ids);
    ecm_pgarr_init(&atts);
    ecm_pgarr_init(&phones);
    ecm_pgarr_init(&accts);
    int ok = 1;
    for (int i = 0; ok && i < n; i++) {
        const ecm_gate_row *v = &verdicts[i];
        if (v->action != ECM_GATE_GO)
            continue;
        if (ecm_account_format(rows[i].account, sizeof rows[i].account, v->contact_id,
                               v->attempts + 1) < 0)
            ok = 0;
        ecm_pgarr_add_int(&ids, v->contact_id);
        ecm_pgarr_add_int(&atts, v->attempts + 1);
        ecm_pgarr_add_str(&phones, v->phone);
        ecm_pgarr_add_str(&accts, rows[i].account);
    }
    int ngo = ids.n;
    char now_s[24];
    if ((size_t)snprintf(now_s, sizeof now_s, "%lld", (long long)now_ms) >= sizeof now_s)
        ok = 0;
    const char *p[6] = {ecm_pgarr_finish(&ids),
                        ecm_pgarr_finish(&atts),
                        ecm_pgarr_finish(&phones),
                        ecm_pgarr_finish(&accts),
                        target,
                        now_s};
    ok = ok && p[0] && p[1] && p[2] && p[3];
    if (ok && ngo > 0) {
        PGresult *ins = ecm_pg_exec(ctx->pg, RECORD_SQL, 6, p);
        if (ins) {
            mark_recorded(rows, n, ngo, ins);
            ok = fd_hold_recorded(ctx, target, PQntuples(ins)) == 0;
            PQclear(ins);
        } else {
            ok = 0;
        }
    }
    ecm_pgarr_destroy(&ids);
    ecm_pgarr_destroy(&atts);
    ecm_pgarr_destroy(&phones);
    ecm_pgarr_destroy(&accts);
    return ok ? 0 : -1;
}

/* In one transaction: take up to `room` queued contacts, let the gate judge
 * them (held back: waiting or closed) and record the attempts of the others
 * 'sending'. Fills *taken (rows of the SELECT, caller clears), *verdicts
 * (ecm_gate_rows_destroy) and rows. Returns the number taken (0: nothing to
 * do), or -1. */
static int record_batch(fd_ctx *ctx, const fd_target *tg, const char *target, int *full,
                        PGresult **taken, ecm_gate_row **verdicts_out, taken_row **rows_out)
{
    *taken = NULL;
    *verdicts_out = NULL;
    *rows_out = NULL;
    if (ecm_pg_begin(ctx->pg) < 0)
        return -1;
    const char *p1[1] = {target};
    PGresult *r = ecm_pg_exec(ctx->pg, LOCK_SQL, 1, p1);
    if (!r)
        goto fail;
    int locked = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!locked) {
        ecm_pg_rollback(ctx->pg);
        return 0;
    }
    long long hold = fd_hold_of(ctx, target);
    if (hold < 0)
        goto fail;
    long long inflight = fd_inflight_of(ctx, target, hold - ctx->opt.batch);
    if (inflight < 0)
        goto fail;
    long long room = hold - inflight;
    if (room > ctx->opt.batch)
        room = ctx->opt.batch;
    if (room <= 0) {
        ecm_pg_rollback(ctx->pg);
        return 0;
    }
    char limit[32];
    if ((size_t)snprintf(limit, sizeof limit, "%lld", room) >= sizeof limit)
        goto fail;
    const char *p2[3] = {tg->cisco_id, limit, fd_kind_name(tg->kind)};
    PGresult *t = ecm_pg_exec(ctx->pg, TAKE_SQL, 3, p2);
    if (!t)
        goto fail;
    int n = PQntuples(t);
    if (n == 0) {
        PQclear(t);
        ecm_pg_rollback(ctx->pg);
        return 0;
    }
    *full = n == room && room == ctx->opt.batch;
    int64_t now_ms = ecm_clock_now_ms();
    ecm_gate_row *verdicts = ecm_gate_judge(ctx->gate, ctx->pg, t, 0, now_ms);
    taken_row *rows = calloc((size_t)n, sizeof *rows);
    int ok = verdicts && rows && ecm_gate_apply(ctx->gate, ctx->pg, verdicts, n) == 0 &&
             record_go(ctx, target, verdicts, rows, n, now_ms) == 0;
    if (!ok || ecm_pg_commit(ctx->pg) < 0) {
        ecm_gate_rows_destroy(verdicts, n);
        free(rows);
        PQclear(t);
        goto fail;
    }
    ecm_gate_count(ctx->gate, verdicts, n);
    *taken = t;
    *verdicts_out = verdicts;
    *rows_out = rows;
    return n;
fail:
    ecm_pg_rollback(ctx->pg);
    ecm_pg_check_broken(ctx->pg);
    return -1;
}

static fd_pending *pending_find(fd_ctx *ctx, const char *target)
{
    for (fd_pending *p = ctx->pending; p; p = p->next) {
        if (strcmp(p->target, target) == 0)
            return p;
    }
    return NULL;
}

static void pending_drop(fd_ctx *ctx, fd_pending *p)
{
    for (fd_pending **at = &ctx->pending; *at; at = &(*at)->next) {
        if (*at == p) {
            *at = p->next;
            break;
        }
    }
    free(p->accounts);
    free(p);
}

/* Remembers the batch `accounts` of target, whose POST began at started_ms.
 * Without memory it is only left to the reconciler, as before. */
static void pending_add(fd_ctx *ctx, const char *target, const char *const *accounts, size_t n,
                        int settled, long long started_ms)
{
    fd_pending *p = calloc(1, sizeof *p);
    if (p)
        p->accounts = calloc(n, sizeof *p->accounts);
    if (!p || !p->accounts) {
        free(p);
        ecm_log_warn("out of memory; the failed batch is left to the reconciler", "target=%s",
                     target);
        return;
    }
    /* A cut target or account would settle another batch: such a batch is
     * only left to the reconciler (it can't happen: both come from buffers
     * of these sizes). */
    int fits = (size_t)snprintf(p->target, sizeof p->target, "%s", target) < sizeof p->target;
    for (size_t i = 0; fits && i < n; i++)
        fits = (size_t)snprintf(p->accounts[i], sizeof p->accounts[i], "%s", accounts[i]) <
               sizeof p->accounts[i];
    if (!fits) {
        free(p->accounts);
        free(p);
        ecm_log_warn("batch key too long; the failed batch is left to the reconciler",
                     "target=%.60s", target);
        return;
    }
    p->n = n;
    p->not_before = settled ? 0 : started_ms + ctx->opt.reconcile_after_s * 1000;
    p->next = ctx->pending;
    ctx->pending = p;
}

/* Reconciles a pending batch with UCCX (what it has is marked 'sent', only
 * the rest is POSTed again) and forgets it; *marked gets the attempts marked
 * 'sent'. Returns 1 when it is settled, 0 while it must still wait, -1 (DB)
 * or -2 (UCCX still unavailable). */
static int pending_settle(fd_ctx *ctx, fd_pending *p, size_t *marked)
{
    *marked = 0;
    if (ecm_clock_mono_ms() < p->not_before)
        return 0;
    const char **accounts = calloc(p->n, sizeof *accounts);
    if (!accounts)
        return -1;
    for (size_t i = 0; i < p->n; i++)
        accounts[i] = p->accounts[i];
    size_t present = 0, resent = 0;
    int rc = fd_reconcile_accounts(ctx, p->target, accounts, p->n, &present, &resent);
    free(accounts);
    if (rc < 0)
        return rc;
    ecm_log_info("batch left by a failed POST settled; the target takes contacts again",
                 "target=%s present=%zu resent=%zu", p->target, present, resent);
    *marked = present + resent;
    pending_drop(ctx, p);
    return 1;
}

void fd_dispatch_forget(fd_ctx *ctx)
{
    while (ctx->pending)
        pending_drop(ctx, ctx->pending);
    fd_skipped_forget(ctx);
    fd_hold_forget(ctx);
}

/* Hands the m recorded contacts of target (accounts[i] the account of
 * contacts[i]) to its writer and marks them 'sent' (adding to *dispatched,
 * may be NULL). A batch the dialer did not take or whose marking failed is
 * kept pending (taken at started, ecm_clock_mono_ms()). Returns 0, -2
 * (dialer unavailable: the target waits) or -1. */
static int post_batch(fd_ctx *ctx, fd_writer *w, const fd_target *tg, const char *target,
                      const fd_contact *contacts, const char **accounts, size_t m,
                      long long started, size_t *dispatched)
{
    fd_uccx_result res;
    fd_uccx_status st = fd_writer_post(w, tg, contacts, m, &res);
    if (st != FD_UCCX_OK) {
        fd_count_error(ctx, tg->kind, st);
        if (st == FD_UCCX_REJECTED)
            ecm_log_error("the dialer rejected a batch; left for the reconciler",
                          "target=%s records=%zu status=%ld body=%s", target, m, res.http_status,
                          res.detail);
        else
            ecm_log_warn("the dialer did not take a batch; the target waits until it is reconciled",
                         "target=%s records=%zu status=%ld error=%s", target, m, res.http_status,
                         res.detail);
        if (st == FD_UCCX_UNAVAILABLE) {
            pending_add(ctx, target, accounts, m, res.settled, started);
            return -2;
        }
        return -1;
    }
    size_t marked = 0;
    if (ecm_pg_begin(ctx->pg) < 0 || fd_mark_sent(ctx, accounts, m, &marked) < 0 ||
        ecm_pg_commit(ctx->pg) < 0) {
        ecm_pg_rollback(ctx->pg);
        ecm_pg_check_broken(ctx->pg);
        ecm_log_warn("could not record a batch as sent; settled once the DB is back",
                     "target=%s records=%zu", target, m);
        /* The dialer has it: reconciling marks it 'sent' without sending it again. */
        pending_add(ctx, target, accounts, m, 1, started);
        return -1;
    }
    ecm_metric_add(ctx->metrics.dispatched[tg->kind], marked);
    if (dispatched)
        *dispatched += marked;
    ecm_log_debug("batch dispatched", "target=%s records=%zu", target, marked);
    return 0;
}

/* Hands the n taken rows (those recorded) to w. Returns post_batch()'s. */
static int hand_over(fd_ctx *ctx, fd_writer *w, const fd_target *tg, const char *target,
                     const PGresult *t, const ecm_gate_row *verdicts, const taken_row *rows, int n,
                     long long started, size_t *dispatched)
{
    fd_contact *contacts = calloc((size_t)n, sizeof *contacts);
    const char **accounts = calloc((size_t)n, sizeof *accounts);
    int rc = 0;
    size_t m = 0;
    if (!contacts || !accounts) {
        rc = -1; /* recorded 'sending': the reconciler sends them */
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (!rows[i].recorded)
            continue;
        contacts[m] = (fd_contact){
            .account_number = rows[i].account,
            .first_name = ecm_pgval_str(t, i, COL_FIRST_NAME),
            .last_name = ecm_pgval_str(t, i, COL_LAST_NAME),
            .phone = verdicts[i].phone,
            .time_zone = ecm_pgval_str(t, i, COL_TIME_ZONE),
            .pcb_agent = ecm_pgval_str(t, i, COL_PCB_AGENT),
            .pcb_at_ms = ecm_pgval_ll(t, i, COL_PCB_AT, 0),
        };
        accounts[m++] = rows[i].account;
    }
    if (m > 0)
        rc = post_batch(ctx, w, tg, target, contacts, accounts, m, started, dispatched);
done:
    free(contacts);
    free(accounts);
    return rc;
}

int fd_dispatch_target(fd_ctx *ctx, fd_kind kind, const char *cisco_id, size_t *dispatched,
                       int *full)
{
    if (dispatched)
        *dispatched = 0;
    int full_local = 0;
    fd_target tg = {.kind = kind};
    char target[TARGET_MAX];
    if (strlen(cisco_id) > FD_CISCO_ID_MAX) {
        ecm_log_error("Cisco campaign id too long", "cisco_campaign_id=%.60s", cisco_id);
        return -1;
    }
    memcpy(tg.cisco_id, cisco_id, strlen(cisco_id) + 1);
    if (fd_target_format(&tg, target, sizeof target) < 0)
        return -1;
    fd_writer *w = fd_writer_for(ctx, &tg);
    if (!w)
        return 0;
    fd_pending *pending = pending_find(ctx, target);
    if (pending) {
        size_t marked = 0;
        int settled = pending_settle(ctx, pending, &marked);
        if (dispatched)
            *dispatched = marked;
        if (settled <= 0)
            return settled;
    }
    if (fd_target_load(ctx->pg, &tg) < 0) {
        ecm_pg_check_broken(ctx->pg);
        return -1;
    }
    long long started = ecm_clock_mono_ms();
    PGresult *t = NULL;
    ecm_gate_row *verdicts = NULL;
    taken_row *rows = NULL;
    int n = record_batch(ctx, &tg, target, &full_local, &t, &verdicts, &rows);
    if (n <= 0)
        return n;
    int rc = hand_over(ctx, w, &tg, target, t, verdicts, rows, n, started, dispatched);
    if (full && rc == 0)
        *full = full_local;
    free(rows);
    ecm_gate_rows_destroy(verdicts, n);
    PQclear(t);
    return rc;
}

int fd_dispatch_tick(fd_ctx *ctx, size_t *dispatched, int *full)
{
    if (dispatched)
        *dispatched = 0;
    if (full)
        *full = 0;
    /* Batches left by failed POSTs first, also of targets with nothing
     * queued any more. */
    for (fd_pending *p = ctx->pending, *next = NULL; p; p = next) {
        next = p->next;
        size_t marked = 0;
        int settled = pending_settle(ctx, p, &marked);
        if (dispatched)
            *dispatched += marked;
        if (settled < 0)
            return settled;
    }
    PGresult *r = ecm_pg_exec(ctx->pg, TARGETS_SQL, 0, NULL);
    if (!r) {
        ecm_pg_check_broken(ctx->pg);
        return -1;
    }
    int rc = 0;
    int down[FD_KIND_N] = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        fd_kind kind;
        const char *kname = PQgetvalue(r, i, 0);
        if (fd_kind_parse(kname, strlen(kname), &kind) < 0 || down[kind])
            continue;
        size_t d = 0;
        int f = 0;
        int trc = fd_dispatch_target(ctx, kind, PQgetvalue(r, i, 1), &d, &f);
        if (trc == -2) {
            /* Every target of a kind is on the same dialer: don't record
             * more batches that would only wait for the reconciler. */
            rc = -2;
            down[kind] = 1;
            continue;
        }
        if (trc < 0) {
            rc = rc == -2 ? rc : -1;
            continue;
        }
        if (dispatched)
            *dispatched += d;
        if (full && f)
            *full = 1;
    }
    PQclear(r);
    return rc;
}

#include "sms_dlr_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_uuid.h"

/* A connection lost mid-transaction, or a deadlock with the sender's own
 * update of the same attempts, is retried this many times in all. */
#define SMS_DLR_BATCH_TRIES 3

static const char SQL_RECORD[] = "INSERT INTO sms_dlrs (message_id, status, detail) "
                                 "SELECT * FROM unnest($1::text[], $2::int[], $3::text[])";

/* The open attempts of the batch, locked in attempt key order (contact
 * id, attempt), as the sender's record of its answers (sms_answer.c
 * LOCK_SENT_SQL) and the strategy's record of a result (st_round.c) lock
 * them: no two of them wait for each other in a cycle. The key comes from
 * an unlocked lookup by message id (a row's key never changes). An attempt
 * already 'done' when the statement starts is not locked at all (its late
 * intermediate DLR must not wait for the strategy's transaction); one that
 * turns 'done' while we wait for its lock is left out, its latest version
 * being checked again. Each attempt is looked up by its message id, then by
 * its key, in LATERAL subqueries (OFFSET 0 keeps them so): a prepared
 * statement's generic plan made while the table was nearly empty (a fresh
 * database, before its first analyze) can't turn into a scan of every
 * attempt per batch, as `= ANY($1)` did (2,534 sequential scans reading
 * 14.3 M rows in a 10,000-message run). The sixth column is the
 * milliseconds since the gateway took the message (the database's real
 * clock, never the business clock; NULL when never taken), the last the
 * row for SQL_UPDATE. */
static const char SQL_LOCK[] =
    "SELECT t.message_id, t.contact_id, t.attempt, t.campaign_id, t.segments, t.ms, t.tid "
    "FROM (SELECT k.contact_id, k.attempt FROM (SELECT DISTINCT v.id FROM unnest($1::text[]) "
    "AS v (id)) d CROSS JOIN LATERAL (SELECT a.contact_id, a.attempt FROM attempts a "
    "WHERE a.message_id = d.id AND a.status <> 'done' OFFSET 0) k "
    "ORDER BY k.contact_id, k.attempt) u "
    "CROSS JOIN LATERAL (SELECT a.message_id, a.contact_id, a.attempt, a.campaign_id, "
    "a.segments, floor(extract(epoch FROM clock_timestamp() - a.sent_at) * 1000)::bigint AS ms, "
    "a.ctid AS tid FROM attempts a WHERE a.contact_id = u.contact_id AND a.attempt = u.attempt "
    "AND a.status <> 'done' OFFSET 0 FOR UPDATE) t";

/* For the ids no open attempt has: whether an attempt (then 'done') or a
 * system message has it. Each found by its key in a LATERAL subquery, not
 * by EXISTS: PostgreSQL may plan an EXISTS as a hashed subplan that reads
 * every message id of the table at each call, and a prepared statement
 * planned on a small table kept that plan as the table grew (24 ms a call
 * in a 20,000-message run, 4.9 s of it; docs/performance.md). */
static const char SQL_KNOWN[] =
    "SELECT a.x IS NOT NULL, m.x IS NOT NULL "
    "FROM unnest($1::text[]) WITH ORDINALITY AS u (id, i) "
    "LEFT JOIN LATERAL (SELECT 1 AS x FROM attempts a WHERE a.message_id = u.id LIMIT 1) a "
    "ON true "
    "LEFT JOIN LATERAL (SELECT 1 AS x FROM sms_system_messages m "
    "WHERE m.message_id = u.id LIMIT 1) m ON true "
    "ORDER BY u.i";

/* An intermediate code ($5 false) only notes the code; a final one closes
 * the attempt. The outcome is the strategy's to write when it applies the
 * SmsResult (st_results takes an attempt with an outcome for a duplicate).
 * The rows are found by the ctid SQL_LOCK returned (locked since, so they
 * can't have moved): a TID lookup each, the key checked as well. */
static const char SQL_UPDATE[] =
    "UPDATE attempts t SET dlr_status = u.st, dlr_at = now(), "
    "status = CASE WHEN u.fin THEN 'done' ELSE t.status END, "
    "raw_code = CASE WHEN u.fin THEN u.st ELSE t.raw_code END, "
    "result_at = CASE WHEN u.fin "
    "THEN 'epoch'::timestamptz + $6::bigint * interval '1 millisecond' ELSE t.result_at END "
    "FROM unnest($1::tid[], $2::bigint[], $3::int[], $4::int[], $5::bool[]) "
    "AS u (tid, cid, att, st, fin) "
    "WHERE t.ctid = u.tid AND t.contact_id = u.cid AND t.attempt = u.att";

/* One open attempt of the batch (row of SQL_LOCK's answer) and what the
 * batch's DLRs do to it. */
typedef struct {
    const char *message_id;
    const char *tid; /* its row, as text */
    long long contact_id, campaign_id;
    int attempt, segments;
    int touched;        /* a DLR of the batch is applied to it */
    int status;         /* the last applied code */
    int final;          /* closed by the batch */
    size_t item;        /* the item that closed it */
    long long delay_ms; /* since the gateway took it; -1 when unknown */
} open_attempt;

static open_attempt *find_open(open_attempt *o, int n, const char *message_id)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(o[i].message_id, message_id) == 0)
            return &o[i];
    }
    return NULL;
}

/* Inside the transaction: records every DLR of the batch. Returns 0 or -1. */
static int record_all(ecm_pg *pg, const sms_dlr_item *items, size_t n)
{
    ecm_pgarr ids, st, det;
    ecm_pgarr_init(&ids);
    ecm_pgarr_init(&st);
    ecm_pgarr_init(&det);
    for (size_t i = 0; i < n; i++) {
        ecm_pgarr_add_str(&ids, items[i].message_id);
        ecm_pgarr_add_int(&st, items[i].status);
        ecm_pgarr_add_str(&det, items[i].detail);
    }
    const char *p[3] = {ecm_pgarr_finish(&ids), ecm_pgarr_finish(&st), ecm_pgarr_finish(&det)};
    int rc = p[0] && p[1] && p[2] ? ecm_pg_cmd(pg, SQL_RECORD, 3, p) : -1;
    ecm_pgarr_destroy(&ids);
    ecm_pgarr_destroy(&st);
    ecm_pgarr_destroy(&det);
    return rc < 0 ? -1 : 0;
}

/* Runs sql with one parameter: the message ids of the items for which
 * want[i] is set (all when want is NULL). Returns its answer or NULL. */
static PGresult *exec_ids(ecm_pg *pg, const char *sql, const sms_dlr_item *items, size_t n,
                          const char *want)
{
    ecm_pgarr ids;
    ecm_pgarr_init(&ids);
    for (size_t i = 0; i < n; i++) {
        if (!want || want[i])
            ecm_pgarr_add_str(&ids, items[i].message_id);
    }
    const char *p[1] = {ecm_pgarr_finish(&ids)};
    PGresult *r = p[0] ? ecm_pg_exec(pg, sql, 1, p) : NULL;
    ecm_pgarr_destroy(&ids);
    return r;
}

/* Sets the result of each item, in order, from the open attempts o (nopen)
 * and, for the items without one, SQL_KNOWN's answer. Returns 0 or -1. */
static int judge(ecm_pg *pg, sms_dlr_item *items, size_t n, open_attempt *o, int nopen)
{
    char *missing = calloc(n ? n : 1, 1);
    if (!missing)
        return -1;
    size_t nmissing = 0;
    for (size_t i = 0; i < n; i++) {
        open_attempt *a = find_open(o, nopen, items[i].message_id);
        Ecm__V1__Outcome outcome;
        int kind = sms_dlr_classify(items[i].status, &outcome);
        if (!a) {
            missing[i] = 1;
            nmissing++;
        } else if (a->final) {
            items[i].result = SMS_DLR_DUPLICATE;
        } else if (kind < 0) {
            items[i].result = SMS_DLR_UNKNOWN_CODE;
        } else {
            a->touched = 1;
            a->status = items[i].status;
            a->final = kind == 1;
            a->item = i;
            items[i].result = kind == 1 ? SMS_DLR_APPLIED : SMS_DLR_INTERMEDIATE;
        }
    }
    int rc = 0;
    if (nmissing > 0) {
        PGresult *k = exec_ids(pg, SQL_KNOWN, items, n, missing);
        rc = k && (size_t)PQntuples(k) == nmissing ? 0 : -1;
        for (size_t i = 0, row = 0; rc == 0 && i < n; i++) {
            if (!missing[i])
                continue;
            if (PQgetvalue(k, (int)row, 0)[0] == 't')
                items[i].result = SMS_DLR_DUPLICATE;
            else
                items[i].result =
                    PQgetvalue(k, (int)row, 1)[0] == 't' ? SMS_DLR_SYSTEM : SMS_DLR_UNKNOWN_ID;
            row++;
        }
        PQclear(k);
    }
    free(missing);
    return rc;
}

/* Inside the transaction: writes what the batch does to the open attempts
 * it touched, at business time now_ms; every one of them, or it fails.
 * Returns 0 or -1. */
static int update_touched(ecm_pg *pg, const open_attempt *o, int nopen, int64_t now_ms)
{
    ecm_pgarr tid, cid, att, st, fin;
    ecm_pgarr *arrs[] = {&tid, &cid, &att, &st, &fin};
    for (size_t k = 0; k < 5; k++)
        ecm_pgarr_init(arrs[k]);
    int touched = 0;
    for (int i = 0; i < nopen; i++) {
        if (!o[i].touched)
            continue;
        touched++;
        ecm_pgarr_add_str(&tid, o[i].tid);
        ecm_pgarr_add_int(&cid, o[i].contact_id);
        ecm_pgarr_add_int(&att, o[i].attempt);
        ecm_pgarr_add_int(&st, o[i].status);
        ecm_pgarr_add_str(&fin, o[i].final ? "t" : "f");
    }
    char now_s[24];
    (void)snprintf(now_s, sizeof now_s, "%lld", (long long)now_ms);
    const char *p[6] = {ecm_pgarr_finish(&tid), ecm_pgarr_finish(&cid), ecm_pgarr_finish(&att),
                        ecm_pgarr_finish(&st),  ecm_pgarr_finish(&fin), now_s};
    int rc = 0;
    if (touched > 0) {
        PGresult *r =
            p[0] && p[1] && p[2] && p[3] && p[4] ? ecm_pg_exec(pg, SQL_UPDATE, 6, p) : NULL;
        /* Every attempt locked and touched is updated: anything else is a
         * bug, and the transaction is not committed on it. */
        long long updated = r ? strtoll(PQcmdTuples(r), NULL, 10) : -1;
        if (r && updated != touched)
            ecm_log_error("DLR attempts not updated by their rows", "expected=%d updated=%lld",
                          touched, updated);
        rc = updated == touched ? 0 : -1;
        PQclear(r);
    }
    for (size_t k = 0; k < 5; k++)
        ecm_pgarr_destroy(arrs[k]);
    return rc;
}

/* Inside the transaction: one SmsResult an attempt the batch closed, in one
 * COPY into the outbox. Returns 0 or -1. */
static int queue_results(ecm_pg *pg, const sms_ctx *ctx, const sms_dlr_item *items,
                         const open_attempt *o, int nopen, int64_t now_ms)
{
    int started = 0;
    for (int i = 0; i < nopen; i++) {
        if (!o[i].final)
            continue;
        if (!started && ecm_outbox_copy_begin(pg) < 0)
            return -1;
        started = 1;
        const sms_dlr_item *it = &items[o[i].item];
        Ecm__V1__Outcome outcome = ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED;
        if (sms_dlr_classify(it->status, &outcome) != 1)
            return -1; /* can't be: only a final code closes an attempt */
        char id[ECM_UUID_LEN], key[24];
        ecm_uuid_new(id);
        (void)snprintf(key, sizeof key, "%lld", o[i].contact_id);
        Ecm__V1__SmsResult ev = ECM__V1__SMS_RESULT__INIT;
        ev.event_id = id;
        ev.occurred_at = now_ms;
        ev.campaign_id = o[i].campaign_id;
        ev.contact_id = o[i].contact_id;
        ev.attempt = o[i].attempt;
        ev.message_id = (char *)it->message_id;
        ev.outcome = outcome;
        ev.gateway_status = it->status;
        ev.detail = (char *)(it->detail ? it->detail : "");
        ev.segments = o[i].segments;
        if (ecm_outbox_copy_add(pg, ctx->common->topic_sms_results, key, ctx->source, id, now_ms,
                                &ev.base) < 0)
            return -1;
    }
    return started ? ecm_outbox_copy_end(pg) : 0;
}

/* The open attempts of SQL_LOCK's answer r (rows point into r). NULL when
 * memory runs out; *n gets their number. */
static open_attempt *read_open(const PGresult *r, int *n)
{
    *n = PQntuples(r);
    open_attempt *o = calloc(*n > 0 ? (size_t)*n : 1, sizeof *o);
    for (int i = 0; o && i < *n; i++) {
        o[i].message_id = PQgetvalue(r, i, 0);
        o[i].contact_id = ecm_pgval_ll(r, i, 1, -1);
        o[i].attempt = (int)ecm_pgval_ll(r, i, 2, -1);
        o[i].campaign_id = ecm_pgval_ll(r, i, 3, -1);
        o[i].segments = (int)ecm_pgval_ll(r, i, 4, 0);
        o[i].delay_ms = ecm_pgval_ll(r, i, 5, -1);
        o[i].tid = PQgetvalue(r, i, 6);
    }
    return o;
}

/* One try of the whole batch. Returns 0 (committed), or -1 (rolled back;
 * *deadlock set when the failure was a deadlock or serialization failure). */
static int apply_once(ecm_pg *pg, const sms_ctx *ctx, sms_dlr_item *items, size_t n, int *deadlock)
{
    *deadlock = 0;
    /* Every statement of a batch finds its rows by a key or a ctid: without
     * sequential scans off, 1,964 of them read 10 M rows in a 10,000-message
     * run on a fresh database (ecm_pg_seqscan). */
    if (ecm_pg_begin_by_key(pg) != 0)
        return -1;
    PGresult *locked = NULL;
    open_attempt *o = NULL;
    int nopen = 0, rc = -1;
    int64_t now_ms = ecm_clock_wall_ms();
    if (record_all(pg, items, n) < 0 || !(locked = exec_ids(pg, SQL_LOCK, items, n, NULL)) ||
        !(o = read_open(locked, &nopen)))
        goto out;
    if (judge(pg, items, n, o, nopen) < 0 || update_touched(pg, o, nopen, now_ms) < 0 ||
        queue_results(pg, ctx, items, o, nopen, now_ms) < 0)
        goto out;
    rc = ecm_pg_commit(pg);
    for (size_t i = 0; rc == 0 && i < n; i++)
        items[i].delay_ms = -1;
    for (int i = 0; rc == 0 && i < nopen; i++) {
        if (o[i].final)
            items[o[i].item].delay_ms = o[i].delay_ms;
    }
out:
    if (rc != 0) {
        const char *st = ecm_pg_last_sqlstate(pg);
        *deadlock = st && (strcmp(st, "40P01") == 0 || strcmp(st, "40001") == 0);
        ecm_pg_rollback(pg);
    }
    free(o);
    PQclear(locked);
    return rc;
}

int sms_dlr_batch_apply(ecm_pg *pg, const sms_ctx *ctx, sms_dlr_item *items, size_t n)
{
    if (n == 0)
        return 0;
    int rc = -1;
    for (int t = 0; t < SMS_DLR_BATCH_TRIES && rc != 0; t++) {
        int deadlock = 0;
        rc = apply_once(pg, ctx, items, n, &deadlock);
        if (rc != 0 && !deadlock && !ecm_pg_check_broken(pg))
            break;
    }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            items[i].result = SMS_DLR_DB_ERROR;
    }
    return rc;
}

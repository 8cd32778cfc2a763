#include "sms_take.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_account.h"
#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_uuid.h"
#include "sms_held.h"
#include "sms_render.h"

#define ACCOUNT_MAX 32

/* Any campaign with an SMS template, whatever its home channel: a voice
 * campaign whose strategy switches a contact to SMS texts it here. Only
 * contacts whose next attempt is on sms (ECM_CONTACT_CHANNEL_SQL) are this
 * service's. */
static const char CAMPAIGNS_SQL[] =
    "SELECT c.id FROM campaigns c WHERE c.state = 'active' AND c.sms_template IS NOT NULL "
    "AND COALESCE(NULLIF(c.sms_gateway, ''), $1) = $2 "
    "AND EXISTS (SELECT 1 FROM contacts ct WHERE ct.campaign_id = c.id AND ct.state = 'queued' "
    "AND " ECM_CONTACT_CHANNEL_SQL " = 'sms') "
    "ORDER BY c.id";

/* The gate's columns (numbers, DNC flags, window) come with the contact it
 * locks; the campaign row is share-locked so that a pause waits for this
 * batch or stops it. The candidates are the campaign's oldest 4 x $2 queued
 * SMS contacts (ECM_QUEUED_CANDIDATES_SQL), room for replicas taking the
 * same campaign at once; the first $2 of them unlocked are taken. */
/* clang-format off */
static const char TAKE_SQL[] =
    "SELECT " ECM_GATE_COLUMNS ", ct.first_name, ct.last_name, ct.account_number, "
    "ct.custom::text, c.sms_template, c.sms_sender "
    "FROM campaigns c CROSS JOIN LATERAL (" ECM_QUEUED_TAKE_SQL("c", "sms", "$2 * 4", "$2") ") ct "
    "WHERE c.id = $1 AND c.state = 'active' "
    "ORDER BY ct.id LIMIT $2 FOR SHARE OF c";
/* clang-format on */

enum {
    COL_FIRST_NAME = ECM_GATE_NCOLS,
    COL_LAST_NAME,
    COL_ACCOUNT,
    COL_CUSTOM,
    COL_TEMPLATE,
    COL_SENDER,
};

/* An attempt that already exists (DB out of step) is neither recorded nor
 * sent twice; the contact still moves on, as in the feeder. dispatched_at
 * is business time ($10, ms). */
static const char RECORD_SQL[] =
    "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone, "
    "account_number, status, message_id, encoding, segments, dispatched_at) "
    "SELECT r.contact_id, r.attempt, $1, 'sms', $2, r.phone, r.account, 'sending', r.message_id, "
    "r.encoding, r.segments, to_timestamp($10::float8 / 1000) "
    "FROM unnest($3::bigint[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], "
    "$9::int[]) AS r (contact_id, attempt, phone, account, message_id, encoding, segments) "
    "ON CONFLICT DO NOTHING RETURNING message_id";

/* RECORD_SQL's arrays ($3 to $9), one element an attempt to record. */
typedef struct {
    ecm_pgarr id, att, phone, acct, msg, enc, seg;
} record_params;

#define RECORD_ARRAYS(r)                                                                           \
    {                                                                                              \
        &(r)->id, &(r)->att, &(r)->phone, &(r)->acct, &(r)->msg, &(r)->enc, &(r)->seg              \
    }

static void record_init(record_params *r)
{
    ecm_pgarr *arrs[] = RECORD_ARRAYS(r);
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++)
        ecm_pgarr_init(arrs[k]);
}

static void record_destroy(record_params *r)
{
    ecm_pgarr *arrs[] = RECORD_ARRAYS(r);
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++)
        ecm_pgarr_destroy(arrs[k]);
}

static int item_recorded(PGresult *ins, const char *message_id)
{
    for (int i = 0; i < PQntuples(ins); i++) {
        if (strcmp(PQgetvalue(ins, i, 0), message_id) == 0)
            return 1;
    }
    return 0;
}

/* Renders the message of a contact the gate let through (row i of t) and
 * makes its item in *out. A text that can't be rendered turns the verdict
 * into a close with SMS_REJECTED (*out NULL). Returns 0, or -1 when memory
 * runs out. */
static int prepare_item(sms_sender *s, sms_lane *ln, const PGresult *t, int i, ecm_gate_row *v,
                        sms_item **out)
{
    *out = NULL;
    char *text = NULL;
    char why[200] = "";
    if (sms_render_contact(ecm_pgval_str(t, i, COL_TEMPLATE), ecm_pgval_str(t, i, COL_FIRST_NAME),
                           ecm_pgval_str(t, i, COL_LAST_NAME), ecm_pgval_str(t, i, COL_ACCOUNT),
                           v->phone, ecm_pgval_str(t, i, COL_CUSTOM), &text, why, sizeof why) < 0) {
        v->action = ECM_GATE_CLOSE;
        v->outcome = ECM__V1__OUTCOME__OUTCOME_SMS_REJECTED;
        ecm_metric_add(s->render_failed, 1);
        ecm_log_warn("SMS contact closed without sending", "contact_id=%lld outcome=%s reason=%s",
                     (long long)v->contact_id, ecm_event_outcome_name(v->outcome), why);
        return 0;
    }
    sms_item *it = sms_held_new(s, SMS_ITEM_CONTACT, ln);
    if (!it) {
        free(text);
        return -1;
    }
    if (sms_held_set_text(it, v->phone, ecm_pgval_str(t, i, COL_SENDER), text) < 0) {
        sms_held_destroy(s, it);
        return -1;
    }
    it->contact_id = v->contact_id;
    it->campaign_id = v->campaign_id;
    it->attempt = v->attempts + 1;
    ecm_uuid_new(it->message_id);
    *out = it;
    return 0;
}

/* Makes the item of each contact of t (n rows) the gate let through
 * (items[i] for row i, NULL for the others) and adds its attempt to rec.
 * Returns 0, or -1 when memory runs out or an account number can't be
 * made (the items made so far are in items). */
static int prepare_batch(sms_sender *s, sms_lane *ln, const PGresult *t, ecm_gate_row *verdicts,
                         int n, sms_item **items, record_params *rec)
{
    int ok = 1;
    for (int i = 0; ok && i < n; i++) {
        if (verdicts[i].action != ECM_GATE_GO)
            continue;
        ok = prepare_item(s, ln, t, i, &verdicts[i], &items[i]) == 0;
        sms_item *it = items[i];
        if (!ok || !it)
            continue;
        char acct[ACCOUNT_MAX];
        ok = ecm_account_format(acct, sizeof acct, it->contact_id, it->attempt) == 0;
        ecm_pgarr_add_int(&rec->id, it->contact_id);
        ecm_pgarr_add_int(&rec->att, it->attempt);
        ecm_pgarr_add_str(&rec->phone, it->phone);
        ecm_pgarr_add_str(&rec->acct, acct);
        ecm_pgarr_add_str(&rec->msg, it->message_id);
        ecm_pgarr_add_str(&rec->enc, ecm_sms_encoding_name(it->encoding));
        ecm_pgarr_add_int(&rec->seg, it->segments);
    }
    return ok ? 0 : -1;
}

/* Inside the open transaction: writes the gate's verdicts on the n
 * contacts and records the attempts of rec at business time now_ms (*ins:
 * RECORD_SQL's answer, NULL when there was none to record). Returns 0 or
 * -1. */
static int record_batch(sms_sender *s, sms_lane *ln, const char *campaign_id, int64_t now_ms,
                        ecm_gate_row *verdicts, int n, record_params *rec, PGresult **ins)
{
    int n_rec = rec->id.n;
    char now_s[24];
    if ((size_t)snprintf(now_s, sizeof now_s, "%lld", (long long)now_ms) >= sizeof now_s)
        return -1;
    const char *pr[10] = {campaign_id,
                          ln->name,
                          ecm_pgarr_finish(&rec->id),
                          ecm_pgarr_finish(&rec->att),
                          ecm_pgarr_finish(&rec->phone),
                          ecm_pgarr_finish(&rec->acct),
                          ecm_pgarr_finish(&rec->msg),
                          ecm_pgarr_finish(&rec->enc),
                          ecm_pgarr_finish(&rec->seg),
                          now_s};
    for (int k = 2; k < 9; k++) {
        if (!pr[k])
            return -1;
    }
    if (ecm_gate_apply(s->gate, s->pg, verdicts, n) != 0)
        return -1;
    if (n_rec > 0 && (*ins = ecm_pg_exec(s->pg, RECORD_SQL, 10, pr)) == NULL)
        return -1;
    return 0;
}

/* After the batch: counts the gate's verdicts (when committed) and queues
 * each item whose attempt was recorded on ln; frees the others. */
static void queue_batch(sms_sender *s, sms_lane *ln, int ok, ecm_gate_row *verdicts,
                        sms_item **items, int n, PGresult *ins)
{
    if (ok) {
        ecm_gate_count(s->gate, verdicts, n);
        for (int i = 0; i < n; i++) {
            if (verdicts[i].action == ECM_GATE_CLOSE &&
                verdicts[i].outcome == ECM__V1__OUTCOME__OUTCOME_DNC)
                ecm_metric_add(s->dnc_blocked, 1);
        }
    }
    for (int i = 0; items && i < n; i++) {
        sms_item *it = items[i];
        if (!it)
            continue;
        if (ok && item_recorded(ins, it->message_id)) {
            sms_held_push_back(ln, it);
        } else {
            if (ok)
                ecm_log_warn("attempt already recorded; not sent again",
                             "contact_id=%lld attempt=%d", (long long)it->contact_id, it->attempt);
            sms_held_destroy(s, it);
        }
    }
}

/* In one transaction: take up to `want` queued contacts of one campaign,
 * let the gate judge them, close those whose text can't be rendered,
 * record the others' attempts 'sending' and queue them on the lane.
 * Returns the number taken, or -1 (rolled back). */
static int take_campaign(sms_sender *s, sms_lane *ln, const char *campaign_id, long want)
{
    char limit[24];
    if ((size_t)snprintf(limit, sizeof limit, "%ld", want) >= sizeof limit)
        return -1;
    if (ecm_pg_begin(s->pg) < 0)
        return -1;
    const char *p[2] = {campaign_id, limit};
    PGresult *t = ecm_pg_exec(s->pg, TAKE_SQL, 2, p);
    if (!t) {
        ecm_pg_rollback(s->pg);
        ecm_pg_check_broken(s->pg);
        return -1;
    }
    int n = PQntuples(t);
    if (n == 0) {
        PQclear(t);
        ecm_pg_rollback(s->pg);
        return 0;
    }
    int64_t now_ms = ecm_clock_now_ms();
    ecm_gate_row *verdicts = ecm_gate_judge(s->gate, s->pg, t, 0, now_ms);
    sms_item **items = calloc((size_t)n, sizeof *items);
    record_params rec;
    record_init(&rec);
    PGresult *ins = NULL;
    int ok = verdicts != NULL && items != NULL &&
             prepare_batch(s, ln, t, verdicts, n, items, &rec) == 0 &&
             record_batch(s, ln, campaign_id, now_ms, verdicts, n, &rec, &ins) == 0 &&
             ecm_pg_commit(s->pg) == 0;
    if (!ok) {
        ecm_pg_rollback(s->pg);
        ecm_pg_check_broken(s->pg);
    }
    queue_batch(s, ln, ok, verdicts, items, n, ins);
    PQclear(ins);
    free(items);
    ecm_gate_rows_destroy(verdicts, n);
    PQclear(t);
    record_destroy(&rec);
    return ok ? n : -1;
}

int sms_take_contacts(sms_sender *s, sms_lane *ln, long want)
{
    const char *p[2] = {s->cfg.default_gateway, ln->name};
    PGresult *r = ecm_pg_exec(s->pg, CAMPAIGNS_SQL, 2, p);
    if (!r) {
        ecm_pg_check_broken(s->pg);
        return -1;
    }
    int n = PQntuples(r), got = 0, rc = 0;
    for (int k = 0; k < n && got < want; k++) {
        int i = (int)((ln->rr + (size_t)k) % (size_t)n);
        long share = (want - got) / (n - k);
        if (share < 1)
            share = 1;
        int t = take_campaign(s, ln, PQgetvalue(r, i, 0), share);
        if (t < 0) {
            rc = -1;
            break;
        }
        got += t;
    }
    ln->rr++;
    PQclear(r);
    return rc < 0 && got == 0 ? -1 : got;
}

/* While 'sending', sent_at holds the claim's lease time (the table has no
 * other column for it); it is overwritten with the real time once sent. A
 * crashed sender's claim is taken again once older than the lane's
 * resend_after_s ($2): on Kannel, which can't be asked whether it took the
 * message, a confirmation sent twice is worse than one sent late. */
static const char TAKE_SYSTEM_SQL[] =
    "UPDATE sms_system_messages m SET state = 'sending', attempts = m.attempts + 1, "
    "sent_at = now() FROM (SELECT id FROM sms_system_messages WHERE state = 'queued' "
    "OR (state = 'sending' AND sent_at < now() - $2::int * interval '1 second') "
    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) q "
    "WHERE m.id = q.id RETURNING m.id, m.to_phone, m.body, m.message_id, m.attempts";

int sms_take_system(sms_sender *s, sms_lane *ln, long want)
{
    char limit[24], stale[24];
    if ((size_t)snprintf(limit, sizeof limit, "%ld", want) >= sizeof limit ||
        (size_t)snprintf(stale, sizeof stale, "%ld", ln->resend_after_s) >= sizeof stale)
        return -1;
    const char *p[2] = {limit, stale};
    PGresult *r = ecm_pg_exec(s->pg, TAKE_SYSTEM_SQL, 2, p);
    if (!r) {
        ecm_pg_check_broken(s->pg);
        return -1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        char *body = strdup(PQgetvalue(r, i, 2));
        sms_item *it = body ? sms_held_new(s, SMS_ITEM_SYSTEM, ln) : NULL;
        if (!it ||
            sms_held_set_text(it, PQgetvalue(r, i, 1), s->cfg.ctx->system_sender, body) < 0) {
            /* Left 'sending': taken again once its lease is stale. */
            if (it)
                sms_held_destroy(s, it);
            else
                free(body);
            continue;
        }
        it->system_id = ecm_pgval_ll(r, i, 0, -1);
        if ((size_t)snprintf(it->message_id, sizeof it->message_id, "%s", PQgetvalue(r, i, 3)) >=
            sizeof it->message_id) {
            sms_held_destroy(s, it); /* never sent under a cut id */
            continue;
        }
        if (ecm_pgval_ll(r, i, 4, -1) > 1)
            ecm_metric_add(s->recovered, 1);
        sms_held_push_back(ln, it);
    }
    PQclear(r);
    return n;
}

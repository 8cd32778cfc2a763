#include "sms_answer.h"

#include <stdio.h>
#include <string.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_uuid.h"
#include "sms_held.h"
#include "sms_pace.h"

#define BACKOFF_MIN_MS 200

static void count_retry(sms_sender *s, const char *reason)
{
    if (!s->cfg.ctx->metrics)
        return;
    char name[128];
    if ((size_t)snprintf(name, sizeof name, "ecm_sms_retries_total{reason=\"%s\"}",
                         reason ? reason : "other") >= sizeof name)
        return; /* never counted under a cut name */
    ecm_metric_add(ecm_metrics_counter(s->cfg.ctx->metrics, name,
                                       "sends to be retried (same attempt, same message id)"),
                   1);
}

void sms_answer_on_done(void *ctx, void *opaque, const sms_gw_result *res)
{
    sms_lane *ln = ctx;
    sms_sender *s = ln->owner;
    sms_item *it = opaque;
    int64_t now = ecm_clock_mono_ms();
    if (res->verdict == SMS_GW_RETRY) {
        /* Failures of requests sent before the pause began don't escalate it. */
        if (now >= ln->paused_until_ms) {
            ln->backoff_ms = ln->backoff_ms ? ln->backoff_ms * 2 : BACKOFF_MIN_MS;
            if (ln->backoff_ms > s->cfg.backoff_max_ms)
                ln->backoff_ms = s->cfg.backoff_max_ms;
            ln->paused_until_ms = now + ln->backoff_ms;
            ecm_log_warn("SMS gateway asked us to retry; backing off",
                         "gateway=%s status=%ld reason=%s backoff_ms=%ld detail=%s", ln->name,
                         res->http_status, res->reason ? res->reason : "", ln->backoff_ms,
                         res->detail);
        }
        count_retry(s, res->reason);
        it->tries++;
        it->recheck = it->kind == SMS_ITEM_CONTACT;
        sms_held_push_front(ln, it);
        return;
    }
    ln->backoff_ms = 0;
    it->res = *res;
    sms_held_done(s, it);
}

/* A final DLR can come (and close the attempt) before this commit; the
 * attempt then stays 'done' but still gets its sent_at and its one
 * ContactDispatched event. */
static const char MARK_SENT_SQL[] =
    "UPDATE attempts a SET status = CASE WHEN a.status = 'sending' THEN 'sent' ELSE a.status END, "
    "sent_at = now(), gateway_ref = r.ref "
    "FROM unnest($1::text[], $2::text[]) AS r (message_id, ref) "
    "WHERE a.message_id = r.message_id AND a.sent_at IS NULL "
    "AND a.status IN ('sending', 'done') "
    "RETURNING a.contact_id, a.attempt, a.campaign_id, a.phone, a.account_number, a.target";

/* MARK_SENT_SQL's rows locked first in attempt key order (contact id,
 * attempt), the order the DLR batches (sms_dlr_batch.c SQL_LOCK) and the
 * strategy's record of a result (st_round.c SQL_LOCK_ATTEMPTS) lock them
 * in, so that none of the three waits for another in a cycle. Updated in
 * the unnest's order, the sender and the DLR batches deadlocked 15 times in
 * a 20,000-message run; locked in message id order, the sender and the
 * strategy still did once, each a second's wait (deadlock_timeout) and a
 * batch done again. The key comes from an unlocked lookup by message id (a
 * row's key never changes). A statement of its own, so that MARK_SENT_SQL's
 * snapshot sees the rows' latest versions. */
static const char LOCK_SENT_SQL[] =
    "SELECT 1 FROM (SELECT k.contact_id, k.attempt FROM unnest($1::text[]) AS v (id) "
    "CROSS JOIN LATERAL (SELECT a.contact_id, a.attempt FROM attempts a "
    "WHERE a.message_id = v.id OFFSET 0) k ORDER BY k.contact_id, k.attempt) u "
    "CROSS JOIN LATERAL (SELECT 1 FROM attempts a WHERE a.contact_id = u.contact_id "
    "AND a.attempt = u.attempt AND a.sent_at IS NULL AND a.status IN ('sending', 'done') "
    "OFFSET 0 FOR UPDATE) t";

/* The outcome is left to the strategy, which records it when it applies
 * the SmsResult (it takes an attempt with an outcome for a duplicate). */
static const char MARK_REJECTED_SQL[] =
    "UPDATE attempts a SET status = 'done', result_at = now(), raw_code = r.code "
    "FROM unnest($1::text[], $2::int[]) AS r (message_id, code) "
    "WHERE a.message_id = r.message_id AND a.status = 'sending' "
    "RETURNING a.contact_id, a.attempt, a.campaign_id, a.message_id, a.segments";

static const char SYSTEM_DONE_SQL[] =
    "UPDATE sms_system_messages m SET state = r.state, sent_at = now() "
    "FROM unnest($1::text[], $2::text[]) AS r (message_id, state) "
    "WHERE m.message_id = r.message_id AND m.state = 'sending'";

/* The answer to message_id among the first n answers of the done list (the
 * ones being recorded), or NULL. */
static const sms_gw_result *answer_of(const sms_sender *s, size_t n, const char *message_id)
{
    const sms_item *it = s->done_head;
    for (size_t i = 0; it && i < n; i++, it = it->next) {
        if (strcmp(it->message_id, message_id) == 0)
            return &it->res;
    }
    return NULL;
}

/* The done list as the statements' parameters: accepted (message id,
 * gateway ref), rejected (message id, HTTP status), system (message id,
 * new state). */
typedef struct {
    ecm_pgarr ok_id, ok_ref, rj_id, rj_code, sys_id, sys_state;
} answer_params;

/* The parameters of the first n answers of the done list. */
static void params_fill(answer_params *a, const sms_sender *s, size_t n)
{
    ecm_pgarr *arrs[] = {&a->ok_id, &a->ok_ref, &a->rj_id, &a->rj_code, &a->sys_id, &a->sys_state};
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++)
        ecm_pgarr_init(arrs[k]);
    const sms_item *it = s->done_head;
    for (size_t i = 0; it && i < n; i++, it = it->next) {
        int accepted = it->res.verdict == SMS_GW_ACCEPTED;
        if (it->kind == SMS_ITEM_SYSTEM) {
            ecm_pgarr_add_str(&a->sys_id, it->message_id);
            ecm_pgarr_add_str(&a->sys_state, accepted ? "sent" : "failed");
        } else if (accepted) {
            ecm_pgarr_add_str(&a->ok_id, it->message_id);
            ecm_pgarr_add_str(&a->ok_ref, it->res.gateway_ref[0] ? it->res.gateway_ref : NULL);
        } else {
            ecm_pgarr_add_str(&a->rj_id, it->message_id);
            ecm_pgarr_add_int(&a->rj_code, it->res.http_status);
        }
    }
}

static void params_destroy(answer_params *a)
{
    ecm_pgarr *arrs[] = {&a->ok_id, &a->ok_ref, &a->rj_id, &a->rj_code, &a->sys_id, &a->sys_state};
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++)
        ecm_pgarr_destroy(arrs[k]);
}

/* Inside the open transaction: one SmsResult(SMS_REJECTED) a row of
 * rejected (MARK_REJECTED_SQL's), through the outbox. Returns 0 or -1. */
static int add_rejected_events(sms_sender *s, size_t n, PGresult *rejected)
{
    for (int i = 0; rejected && i < PQntuples(rejected); i++) {
        char id[ECM_UUID_LEN];
        ecm_uuid_new(id);
        const char *contact = PQgetvalue(rejected, i, 0);
        const char *msgid = PQgetvalue(rejected, i, 3);
        const sms_gw_result *res = answer_of(s, n, msgid);
        Ecm__V1__SmsResult ev = ECM__V1__SMS_RESULT__INIT;
        ev.event_id = id;
        ev.occurred_at = ecm_clock_wall_ms();
        ev.contact_id = ecm_pgval_ll(rejected, i, 0, -1);
        ev.attempt = (int32_t)ecm_pgval_ll(rejected, i, 1, -1);
        ev.campaign_id = ecm_pgval_ll(rejected, i, 2, -1);
        ev.message_id = (char *)msgid;
        ev.outcome = ECM__V1__OUTCOME__OUTCOME_SMS_REJECTED;
        ev.gateway_status = res ? (int)res->http_status : 0;
        ev.detail = (char *)(res ? res->detail : "");
        ev.segments = (int32_t)ecm_pgval_ll(rejected, i, 4, 0);
        if (ecm_outbox_add(s->pg, s->cfg.ctx->common->topic_sms_results, contact,
                           s->cfg.ctx->source, id, ev.occurred_at, &ev.base) < 0)
            return -1;
    }
    return 0;
}

/* Inside the open transaction: one ContactDispatched a row of sent
 * (MARK_SENT_SQL's), through the outbox in one COPY. Returns 0 or -1. */
static int add_dispatched_events(sms_sender *s, PGresult *sent)
{
    if (!sent || PQntuples(sent) == 0)
        return 0;
    if (ecm_outbox_copy_begin(s->pg) < 0)
        return -1;
    for (int i = 0; i < PQntuples(sent); i++) {
        char id[ECM_UUID_LEN];
        ecm_uuid_new(id);
        const char *contact = PQgetvalue(sent, i, 0);
        Ecm__V1__ContactDispatched ev = ECM__V1__CONTACT_DISPATCHED__INIT;
        ev.event_id = id;
        ev.occurred_at = ecm_clock_wall_ms();
        ev.contact_id = ecm_pgval_ll(sent, i, 0, -1);
        ev.attempt = (int32_t)ecm_pgval_ll(sent, i, 1, -1);
        ev.campaign_id = ecm_pgval_ll(sent, i, 2, -1);
        ev.channel = ECM__V1__CHANNEL__CHANNEL_SMS;
        ev.phone = PQgetvalue(sent, i, 3);
        ev.account_number = PQgetvalue(sent, i, 4);
        ev.target = PQgetvalue(sent, i, 5);
        if (ecm_outbox_copy_add(s->pg, s->cfg.ctx->common->topic_dispatched, contact,
                                s->cfg.ctx->source, id, ev.occurred_at, &ev.base) < 0)
            return -1;
    }
    return ecm_outbox_copy_end(s->pg);
}

/* After the commit: counts and logs each of the first n answers of the
 * done list (those recorded) and frees it. Can't fail. */
static void release_recorded(sms_sender *s, size_t n)
{
    for (size_t i = 0; i < n && s->done_head; i++) {
        sms_item *it = s->done_head;
        s->done_head = it->next;
        if (it->res.verdict == SMS_GW_ACCEPTED) {
            ecm_metric_add(it->lane->sent, 1);
        } else {
            ecm_metric_add(s->rejected, 1);
            ecm_log_warn("SMS rejected by the gateway", "gateway=%s message_id=%s status=%ld %s",
                         it->lane->name, it->message_id, it->res.http_status, it->res.detail);
        }
        sms_held_destroy(s, it);
        s->ndone--;
    }
    if (!s->done_head)
        s->done_tail = NULL;
}

int sms_answer_record(sms_sender *s)
{
    if (s->ndone == 0)
        return 0;
    /* The answers to record are those done now; the gateways keep going
     * while this transaction waits on the database (sms_pace_idle), and
     * their answers join the list behind these, for the next record. */
    size_t n = s->ndone;
    ecm_pg_set_idle(s->pg, sms_pace_idle, s);
    answer_params a;
    params_fill(&a, s, n);
    int n_ok = a.ok_id.n, n_rj = a.rj_id.n, n_sys = a.sys_id.n;
    const char *p_ok[2] = {ecm_pgarr_finish(&a.ok_id), ecm_pgarr_finish(&a.ok_ref)};
    const char *p_rj[2] = {ecm_pgarr_finish(&a.rj_id), ecm_pgarr_finish(&a.rj_code)};
    const char *p_sys[2] = {ecm_pgarr_finish(&a.sys_id), ecm_pgarr_finish(&a.sys_state)};
    PGresult *sent = NULL, *rejected = NULL;
    int rc = -1;
    if (!p_ok[0] || !p_ok[1] || !p_rj[0] || !p_rj[1] || !p_sys[0] || !p_sys[1])
        goto out;
    if (ecm_pg_begin_by_key(s->pg) < 0) /* its statements find rows by message id */
        goto fail;
    if (n_ok > 0 && (ecm_pg_cmd(s->pg, LOCK_SENT_SQL, 1, p_ok) < 0 ||
                     !(sent = ecm_pg_exec(s->pg, MARK_SENT_SQL, 2, p_ok))))
        goto fail;
    if (n_rj > 0 && !(rejected = ecm_pg_exec(s->pg, MARK_REJECTED_SQL, 2, p_rj)))
        goto fail;
    if (n_sys > 0 && ecm_pg_cmd(s->pg, SYSTEM_DONE_SQL, 2, p_sys) < 0)
        goto fail;
    if (add_rejected_events(s, n, rejected) < 0 || add_dispatched_events(s, sent) < 0)
        goto fail;
    if (ecm_pg_commit(s->pg) < 0)
        goto fail;
    rc = (int)n;
    release_recorded(s, n);
    goto out;
fail:
    ecm_pg_rollback(s->pg);
    ecm_pg_check_broken(s->pg);
    ecm_log_warn("could not record SMS answers; will retry", "messages=%zu", n);
out:
    ecm_pg_set_idle(s->pg, NULL, NULL);
    PQclear(sent);
    PQclear(rejected);
    params_destroy(&a);
    return rc;
}

#include "sms_recheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_clock.h"
#include "ecm_dnc.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "sms_held.h"
#include "sms_judge.h"

/* Inside the open transaction: a ContactClosed event for the contact,
 * through the outbox. Returns 0 or -1. */
static int add_closed(sms_sender *s, int64_t campaign_id, int64_t contact_id, int attempts,
                      Ecm__V1__Outcome outcome)
{
    const ecm_outbox_closed c = {
        .campaign_id = campaign_id,
        .contact_id = contact_id,
        .attempts = attempts,
        .outcome = outcome,
    };
    return ecm_outbox_add_closed(s->pg, s->cfg.ctx->common->topic_closed, s->cfg.ctx->source, &c);
}

/* The attempts still 'sending' of messages about to be sent again (after a
 * retry, or just recovered), with what recovery judges them on plus whether
 * the recorded number is on a DNC list now. The campaign row is
 * share-locked like in RECOVER_SQL, so that a pause either waits for this
 * check or is seen by it. */
static const char RECHECK_SQL[] =
    "SELECT a.contact_id, a.attempt, a.campaign_id, a.phone, a.message_id, c.state, "
    "array_position(ct.phones, a.phone) - 1, "
    "(" ECM_DNC_BLOCKED_SQL(
        "a.phone", "a.campaign_id",
        "'sms'") ")::int, " ECM_GATE_COLUMNS
                 " FROM attempts a JOIN contacts ct ON ct.id = a.contact_id "
                 "JOIN campaigns c ON c.id = a.campaign_id "
                 "WHERE a.message_id = ANY($1::text[]) AND a.status = 'sending' "
                 "FOR UPDATE OF a FOR SHARE OF c";

enum {
    KCOL_STATE = 5,
    KCOL_PHONE_INDEX,
    KCOL_DNC,
    KCOL_GATE,
};

static const char DNC_ATTEMPT_SQL[] =
    "UPDATE attempts SET status = 'done', result_at = now(), outcome = 'DNC' "
    "WHERE message_id = ANY($1::text[]) AND status = 'sending'";
static const char DNC_CONTACT_SQL[] =
    "UPDATE contacts SET state = 'closed', outcome = 'DNC', next_attempt_at = NULL, "
    "closed_at = now(), updated_at = now() WHERE id = ANY($1::bigint[]) AND state <> 'closed' "
    "RETURNING id, campaign_id, attempts";

/* What becomes of a held message after its re-check. */
typedef enum {
    RECHECK_SEND = 0,
    RECHECK_DNC,   /* closed DNC */
    RECHECK_LEAVE, /* campaign paused or stopped: left for recovery */
    RECHECK_HELD,  /* window closed (waits for recovery) or closed EXPIRED */
} recheck_fate;

/* Inside the open transaction: the attempts of the rows whose fate is
 * RECHECK_DNC done DNC, their contacts closed DNC with a ContactClosed event
 * (once: a contact closed already is left as it is). Returns 0 or -1. */
static int close_dnc(sms_sender *s, const PGresult *r, const recheck_fate *fate, int n)
{
    ecm_pgarr mids, cids;
    ecm_pgarr_init(&mids);
    ecm_pgarr_init(&cids);
    for (int i = 0; i < n; i++) {
        if (fate[i] != RECHECK_DNC)
            continue;
        ecm_pgarr_add_str(&mids, PQgetvalue(r, i, SMS_JUDGE_COL_MESSAGE_ID));
        ecm_pgarr_add_int(&cids, ecm_pgval_ll(r, i, SMS_JUDGE_COL_CONTACT, -1));
    }
    int rc = 0;
    PGresult *closed = NULL;
    if (mids.n > 0) {
        const char *pm = ecm_pgarr_finish(&mids), *pcid = ecm_pgarr_finish(&cids);
        rc = pm && pcid && ecm_pg_cmd(s->pg, DNC_ATTEMPT_SQL, 1, &pm) == 0 &&
                     (closed = ecm_pg_exec(s->pg, DNC_CONTACT_SQL, 1, &pcid)) != NULL
                 ? 0
                 : -1;
        for (int i = 0; rc == 0 && i < PQntuples(closed); i++)
            rc = add_closed(s, ecm_pgval_ll(closed, i, 1, -1), ecm_pgval_ll(closed, i, 0, -1),
                            (int)ecm_pgval_ll(closed, i, 2, -1), ECM__V1__OUTCOME__OUTCOME_DNC);
    }
    PQclear(closed);
    ecm_pgarr_destroy(&mids);
    ecm_pgarr_destroy(&cids);
    return rc;
}

/* The fate of row i of r (judged v[i]): a number on DNC is closed DNC
 * whatever the campaign's state (as before any window existed); then, as
 * recovery does, a campaign neither active nor expired leaves the attempt
 * alone, the gate's WAIT and CLOSE hold it back, and GO sends it. A row
 * left alone is turned into a GO so that sms_judge_hold_back() skips it. */
static recheck_fate fate_of(const PGresult *r, int i, ecm_gate_row *v)
{
    if (ecm_pgval_ll(r, i, KCOL_DNC, 0) != 0) {
        v->action = ECM_GATE_GO;
        return RECHECK_DNC;
    }
    const char *state = PQgetvalue(r, i, KCOL_STATE);
    if (strcmp(state, "active") != 0 && strcmp(state, "expired") != 0) {
        v->action = ECM_GATE_GO;
        return RECHECK_LEAVE;
    }
    return v->action == ECM_GATE_GO ? RECHECK_SEND : RECHECK_HELD;
}

/* After the commit: keeps on ln's waiting list the messages whose fate
 * (fate[i] for row i of r's n rows) is RECHECK_SEND, their mark cleared,
 * and frees the others. Can't fail. */
static void keep_judged(sms_sender *s, sms_lane *ln, const PGresult *r, const recheck_fate *fate,
                        int n)
{
    sms_item **pp = &ln->wait_head;
    ln->wait_tail = NULL;
    while (*pp) {
        sms_item *it = *pp;
        /* An attempt no longer 'sending' (a DLR after a timeout that
         * was an accept) is not judged and goes as it always did. */
        recheck_fate f = RECHECK_SEND;
        if (it->recheck) {
            for (int i = 0; i < n; i++) {
                if (strcmp(PQgetvalue(r, i, SMS_JUDGE_COL_MESSAGE_ID), it->message_id) == 0) {
                    f = fate[i];
                    break;
                }
            }
        }
        if (f == RECHECK_SEND) {
            it->recheck = 0;
            ln->wait_tail = it;
            pp = &it->next;
            continue;
        }
        if (f == RECHECK_DNC) {
            ecm_metric_add(s->dnc_blocked, 1);
            ecm_log_info("SMS not re-sent: the number is on the DNC list now",
                         "message_id=%s contact_id=%lld", it->message_id,
                         (long long)it->contact_id);
        } else if (f == RECHECK_LEAVE) {
            ecm_log_info("SMS not re-sent: its campaign is not dispatching; recovered once "
                         "resumed",
                         "message_id=%s contact_id=%lld campaign_id=%lld", it->message_id,
                         (long long)it->contact_id, (long long)it->campaign_id);
        }
        *pp = it->next;
        ln->nwait--;
        sms_held_destroy(s, it);
    }
}

int sms_recheck_held(sms_sender *s, sms_lane *ln)
{
    ecm_pgarr ids;
    ecm_pgarr_init(&ids);
    for (sms_item *it = ln->wait_head; it; it = it->next) {
        if (it->recheck)
            ecm_pgarr_add_str(&ids, it->message_id);
    }
    if (ids.n == 0) {
        ecm_pgarr_destroy(&ids);
        return 0;
    }
    const char *p = ecm_pgarr_finish(&ids);
    PGresult *r = NULL;
    ecm_gate_row *v = NULL;
    recheck_fate *fate = NULL;
    int n = 0, ok = p != NULL && ecm_pg_begin(s->pg) == 0;
    if (ok)
        ok = (r = ecm_pg_exec(s->pg, RECHECK_SQL, 1, &p)) != NULL;
    if (ok && (n = PQntuples(r)) > 0) {
        int64_t now = ecm_clock_now_ms();
        v = sms_judge_recorded(s, r, KCOL_STATE, KCOL_PHONE_INDEX, KCOL_GATE, now);
        fate = calloc((size_t)n, sizeof *fate);
        ok = v != NULL && fate != NULL;
        for (int i = 0; ok && i < n; i++)
            fate[i] = fate_of(r, i, &v[i]);
        ok = ok && close_dnc(s, r, fate, n) == 0 &&
             sms_judge_hold_back(s, ln, r, v, n, now, "retry") == 0;
    }
    ok = ok && ecm_pg_commit(s->pg) == 0;
    if (!ok) {
        ecm_pg_rollback(s->pg);
        ecm_pg_check_broken(s->pg);
    } else {
        keep_judged(s, ln, r, fate, n);
    }
    ecm_gate_rows_destroy(v, n);
    free(fate);
    PQclear(r);
    ecm_pgarr_destroy(&ids);
    return ok ? 0 : -1;
}

#include "sms_recover.h"

#include <stdio.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_pgval.h"
#include "sms_held.h"
#include "sms_judge.h"
#include "sms_render.h"

/* Attempts left 'sending' by a sender that died: taken over (lease renewed
 * in the same statement) once the lease is stale ($2). One that got a DLR
 * (dlr_status: any code, even 4 or 8) was taken by the gateway and is
 * recorded 'sent' as if its accept had come; it is never sent again. The
 * others are judged again by the dispatch gate on the number they were
 * recorded on, and sent again with the SAME message id only when the
 * calling window is open now in the contact's zone. The generic gateway's
 * simulator recognises a message id it already has. Kannel offers no way to
 * ask whether it took a message, and its DLR can come minutes late (smsbox
 * retries a refused callback, docs/replicas.md): on a Kannel lane an
 * attempt without a DLR is sent again only once its lease is older than
 * the lane's resend_after_s ($4), so that a late final DLR closes it
 * meanwhile (a DLR for a 'sending' attempt is applied); every re-send is
 * counted in ecm_sms_recovered_total. The index on (target, sending_at)
 * finds the stale ones; those that wait out the longer lease are few
 * (crashes only) and filtered.
 *
 * Only campaigns that dispatch are looked at: a paused or stopped
 * campaign's attempts stay 'sending' untouched, like its other open
 * contacts, and are recovered once it is resumed. An expired campaign's are
 * closed EXPIRED: nothing else would ever close them. The campaign row is
 * share-locked so that a pause either waits for this pass or stops it. */
/* A wait alone is not proof enough when the gateway's DLR callbacks run
 * minutes behind (smsbox's queue under load: in a 100,000-message chaos run
 * they ran more than 180 s behind, and five messages Kannel had taken were
 * sent again): a message it took has no DLR yet however long we wait. So on
 * a lane that needs it ($5), a message without a DLR is not sent again
 * while the lane's DLRs are visibly behind it: among the newest 100 DLRs
 * received (sms_dlrs_received), those of this lane came within the resend
 * wait ($4: they flow) and the latest acceptance they report is earlier
 * than $2 after this message's lease (they have not reached it). A lane
 * whose DLRs stopped (quiet, or callbacks broken) keeps the plain wait. */
#define RECOVER_DLRS_BEHIND                                                                        \
    "(SELECT coalesce(max(d.received_at) > now() - $4::int * interval '1 second' "                 \
    "AND max(da.sent_at) < sa.sending_at + $2::int * interval '1 second', false) "                 \
    "FROM (SELECT message_id, received_at FROM sms_dlrs ORDER BY received_at DESC LIMIT 100) d "   \
    "JOIN attempts da ON da.message_id = d.message_id AND da.target = $1)"

static const char RECOVER_SQL[] =
    "UPDATE attempts a SET sending_at = now() "
    "FROM (SELECT sa.contact_id, sa.attempt FROM attempts sa JOIN campaigns sc "
    "  ON sc.id = sa.campaign_id WHERE sa.status = 'sending' AND sa.target = $1 "
    "  AND sa.channel = 'sms' AND sa.sending_at < now() - $2::int * interval '1 second' "
    "  AND (sa.dlr_status IS NOT NULL OR (sa.sending_at < now() - $4::int * interval '1 second' "
    "  AND NOT ($5::boolean AND " RECOVER_DLRS_BEHIND "))) "
    "  AND sc.state IN ('active', 'expired') "
    "  ORDER BY sa.sending_at LIMIT $3 FOR UPDATE OF sa SKIP LOCKED FOR SHARE OF sc) q, "
    "contacts ct, campaigns c "
    "WHERE a.contact_id = q.contact_id AND a.attempt = q.attempt AND ct.id = a.contact_id "
    "AND c.id = a.campaign_id "
    "RETURNING a.contact_id, a.attempt, a.campaign_id, a.phone, a.message_id, ct.first_name, "
    "ct.last_name, ct.account_number, ct.custom::text, c.sms_template, c.sms_sender, c.state, "
    "array_position(ct.phones, a.phone) - 1, a.dlr_status IS NOT NULL, " ECM_GATE_COLUMNS;

/* The columns both RECOVER_SQL and RECHECK_SQL start with, as sms_judge_hold_back()
 * reads them: contact, attempt, campaign, number, message id. */

enum {
    RCOL_STATE = 11,
    RCOL_PHONE_INDEX,
    RCOL_TAKEN, /* a DLR came: the gateway took it */
    RCOL_GATE,
};

/* 1 when row i of r is an attempt the gateway took (a DLR came). */
static int taken(const PGresult *r, int i)
{
    return strcmp(PQgetvalue(r, i, RCOL_TAKEN), "t") == 0;
}

/* Records the attempt of row i of r, which the gateway took, as accepted
 * now: it goes to the answers to record ('sent', ContactDispatched), as if
 * the accept the dead sender never recorded had just come. Can't fail. */
static void recover_taken(sms_sender *s, sms_item *it)
{
    memset(&it->res, 0, sizeof it->res);
    it->res.verdict = SMS_GW_ACCEPTED;
    snprintf(it->res.detail, sizeof it->res.detail, "recovered: a DLR came");
    ecm_log_info("SMS left 'sending' by a stopped sender was taken by the gateway (a DLR "
                 "came): recorded sent, not sent again",
                 "gateway=%s message_id=%s contact_id=%lld attempt=%d", it->lane->name,
                 it->message_id, (long long)it->contact_id, it->attempt);
    sms_held_done(s, it);
}

/* Makes the item of a recovered attempt the gate let through (row i of r)
 * and queues it on the lane, or records it sent when the gateway took it.
 * Returns 0, or -1 when memory runs out (the attempt stays 'sending' and
 * is found again). */
static int recover_item(sms_sender *s, sms_lane *ln, const PGresult *r, int i)
{
    sms_item *it = sms_held_new(s, SMS_ITEM_CONTACT, ln);
    if (!it)
        return -1;
    it->contact_id = ecm_pgval_ll(r, i, 0, -1);
    it->attempt = (int)ecm_pgval_ll(r, i, 1, -1);
    it->campaign_id = ecm_pgval_ll(r, i, 2, -1);
    if ((size_t)snprintf(it->message_id, sizeof it->message_id, "%s", PQgetvalue(r, i, 4)) >=
        sizeof it->message_id) {
        ecm_log_warn("SMS left 'sending': its message id is too long", "contact_id=%lld",
                     (long long)ecm_pgval_ll(r, i, 0, -1));
        sms_held_destroy(s, it); /* never sent under a cut id */
        return 0;
    }
    if (taken(r, i)) {
        recover_taken(s, it);
        return 0;
    }
    it->recheck = 1;
    ecm_metric_add(s->recovered, 1);
    char *text = NULL;
    char why[200] = "";
    const char *phone = PQgetvalue(r, i, 3);
    if (sms_render_contact(ecm_pgval_str(r, i, 9), ecm_pgval_str(r, i, 5), ecm_pgval_str(r, i, 6),
                           ecm_pgval_str(r, i, 7), phone, ecm_pgval_str(r, i, 8), &text, why,
                           sizeof why) < 0 ||
        sms_held_set_text(it, phone, ecm_pgval_str(r, i, 10), text) < 0) {
        /* The template changed under a crashed send: final. */
        memset(&it->res, 0, sizeof it->res);
        it->res.verdict = SMS_GW_REJECTED;
        snprintf(it->res.detail, sizeof it->res.detail, "render: %s", why);
        sms_held_done(s, it);
        return 0;
    }
    ecm_log_info("resending an SMS left 'sending' by a stopped sender",
                 "gateway=%s message_id=%s contact_id=%lld attempt=%d", ln->name, it->message_id,
                 (long long)it->contact_id, it->attempt);
    sms_held_push_back(ln, it);
    return 0;
}

int sms_recover_lane(sms_sender *s, sms_lane *ln, long want)
{
    char limit[24], stale[24], resend[24];
    if ((size_t)snprintf(limit, sizeof limit, "%ld", want) >= sizeof limit ||
        (size_t)snprintf(stale, sizeof stale, "%ld", s->cfg.stale_s) >= sizeof stale ||
        (size_t)snprintf(resend, sizeof resend, "%ld", ln->resend_after_s) >= sizeof resend)
        return -1;
    /* Only Kannel can't be asked whether it took a message. */
    const char *p[5] = {ln->name, stale, limit, resend,
                        ln->resend_after_s > s->cfg.stale_s ? "t" : "f"};
    if (ecm_pg_begin(s->pg) < 0) {
        ecm_pg_check_broken(s->pg);
        return -1;
    }
    PGresult *r = ecm_pg_exec(s->pg, RECOVER_SQL, 5, p);
    if (!r) {
        ecm_pg_rollback(s->pg);
        ecm_pg_check_broken(s->pg);
        return -1;
    }
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        ecm_pg_rollback(s->pg);
        return 0;
    }
    int64_t now = ecm_clock_now_ms();
    ecm_gate_row *v = sms_judge_recorded(s, r, RCOL_STATE, RCOL_PHONE_INDEX, RCOL_GATE, now);
    for (int i = 0; v && i < n; i++) {
        /* Already sent: nothing to hold back or close. */
        if (taken(r, i))
            v[i].action = ECM_GATE_GO;
    }
    int ok = v != NULL && sms_judge_hold_back(s, ln, r, v, n, now, "recovery") == 0 &&
             ecm_pg_commit(s->pg) == 0;
    if (!ok) {
        ecm_pg_rollback(s->pg);
        ecm_pg_check_broken(s->pg);
    }
    for (int i = 0; ok && i < n; i++) {
        if (v[i].action == ECM_GATE_GO && recover_item(s, ln, r, i) < 0)
            break; /* the rest stays 'sending' and is found again */
    }
    ecm_gate_rows_destroy(v, n);
    PQclear(r);
    return ok ? n : -1;
}

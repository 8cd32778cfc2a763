#include "sms_judge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"

/* A recovered attempt outside its window gets a lease that runs out at the
 * opening, so that no sender takes it before. The opening is business time
 * and the lease the database's: the two run at different rates in tests and
 * dev stacks (a fixed clock, a fast one), so the lease never runs more than
 * stale_s ahead; the attempt is then judged again, which costs one row
 * update and can't send it early. $4: the lane's resend_after_s, the age at
 * which recovery takes a lease (sms_recover). */
static const char RECOVER_WAIT_SQL[] =
    "UPDATE attempts a SET sending_at = now() - $4::int * interval '1 second' "
    "+ r.wait_ms * interval '1 millisecond' "
    "FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS r (contact_id, attempt, wait_ms) "
    "WHERE a.contact_id = r.contact_id AND a.attempt = r.attempt AND a.status = 'sending'";

/* The contact is closed with the same outcome by ecm_gate_apply(). */
static const char RECOVER_CLOSE_SQL[] =
    "UPDATE attempts a SET status = 'done', result_at = now(), outcome = r.outcome "
    "FROM unnest($1::bigint[], $2::int[], $3::text[]) AS r (contact_id, attempt, outcome) "
    "WHERE a.contact_id = r.contact_id AND a.attempt = r.attempt AND a.status = 'sending'";

ecm_gate_row *sms_judge_recorded(sms_sender *s, const PGresult *r, int col_state,
                                 int col_phone_index, int col_gate, int64_t now)
{
    int n = PQntuples(r);
    int *idx = n > 0 ? calloc((size_t)n, sizeof *idx) : NULL;
    if (!idx)
        return NULL;
    for (int i = 0; i < n; i++)
        idx[i] = (int)ecm_pgval_ll(r, i, col_phone_index, -1);
    ecm_gate_row *v = ecm_gate_judge_recorded(s->gate, s->pg, r, col_gate, idx, now);
    free(idx);
    for (int i = 0; v && i < n; i++) {
        /* Past its end: the gate says so from end_at too, unless the row
         * was edited by hand; the campaign's state settles it. */
        if (strcmp(PQgetvalue(r, i, col_state), "expired") == 0) {
            v[i].action = ECM_GATE_CLOSE;
            v[i].outcome = ECM__V1__OUTCOME__OUTCOME_EXPIRED;
        }
    }
    return v;
}

int sms_judge_hold_back(sms_sender *s, const sms_lane *ln, const PGresult *r, ecm_gate_row *v,
                        int n, int64_t now, const char *from)
{
    ecm_pgarr w_id, w_att, w_ms, c_id, c_att, c_out;
    ecm_pgarr *arrs[] = {&w_id, &w_att, &w_ms, &c_id, &c_att, &c_out};
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++)
        ecm_pgarr_init(arrs[k]);
    ecm_gate_row *closed = calloc((size_t)n, sizeof *closed);
    int nclosed = 0;
    int64_t max_wait = (int64_t)s->cfg.stale_s * 1000;
    for (int i = 0; closed && i < n; i++) {
        int attempt = (int)ecm_pgval_ll(r, i, SMS_JUDGE_COL_ATTEMPT, -1);
        if (v[i].action == ECM_GATE_WAIT) {
            int64_t wait = v[i].until_ms - now;
            ecm_pgarr_add_int(&w_id, v[i].contact_id);
            ecm_pgarr_add_int(&w_att, attempt);
            ecm_pgarr_add_int(&w_ms, wait < 0 ? 0 : wait > max_wait ? max_wait : wait);
            ecm_log_info("SMS attempt not sent now: waits for its calling window",
                         "from=%s message_id=%s contact_id=%lld until=%lld", from,
                         PQgetvalue(r, i, SMS_JUDGE_COL_MESSAGE_ID), (long long)v[i].contact_id,
                         (long long)v[i].until_ms);
        } else if (v[i].action == ECM_GATE_CLOSE) {
            ecm_pgarr_add_int(&c_id, v[i].contact_id);
            ecm_pgarr_add_int(&c_att, attempt);
            ecm_pgarr_add_str(&c_out, ecm_event_outcome_name(v[i].outcome));
            closed[nclosed] = v[i];
            closed[nclosed++].phone = NULL; /* borrowed rows: never freed from here */
            ecm_log_info("SMS attempt not sent: contact closed",
                         "from=%s message_id=%s contact_id=%lld outcome=%s", from,
                         PQgetvalue(r, i, SMS_JUDGE_COL_MESSAGE_ID), (long long)v[i].contact_id,
                         ecm_event_outcome_name(v[i].outcome));
        }
    }
    int nw = w_id.n;
    char lease[24];
    int lease_ok = (size_t)snprintf(lease, sizeof lease, "%ld", ln->resend_after_s) < sizeof lease;
    const char *pw[4] = {ecm_pgarr_finish(&w_id), ecm_pgarr_finish(&w_att), ecm_pgarr_finish(&w_ms),
                         lease};
    const char *pc[3] = {ecm_pgarr_finish(&c_id), ecm_pgarr_finish(&c_att),
                         ecm_pgarr_finish(&c_out)};
    int rc = lease_ok && closed && pw[0] && pw[1] && pw[2] && pc[0] && pc[1] && pc[2] ? 0 : -1;
    if (rc == 0 && nw > 0)
        rc = ecm_pg_cmd(s->pg, RECOVER_WAIT_SQL, 4, pw);
    if (rc == 0 && nclosed > 0) {
        rc = ecm_pg_cmd(s->pg, RECOVER_CLOSE_SQL, 3, pc);
        if (rc == 0)
            rc = ecm_gate_apply(s->gate, s->pg, closed, nclosed);
        if (rc == 0)
            ecm_gate_count(s->gate, closed, nclosed);
    }
    free(closed);
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++)
        ecm_pgarr_destroy(arrs[k]);
    return rc;
}

/* Recorded SMS attempts judged again by the dispatch gate before they are
 * sent again (recovered from a crashed sender, or held for a retry), and
 * the verdicts written for those that may not go now. Shared by
 * sms_recover and sms_recheck, whose queries start with the
 * SMS_JUDGE_COL_ columns. */
#ifndef SMS_JUDGE_H
#define SMS_JUDGE_H

#include <stdint.h>

#include "sms_state.h"

/* The columns the queries of recorded attempts start with, as
 * sms_judge_hold_back() reads them. */
enum {
    SMS_JUDGE_COL_CONTACT = 0,
    SMS_JUDGE_COL_ATTEMPT,
    SMS_JUDGE_COL_CAMPAIGN,
    SMS_JUDGE_COL_PHONE,
    SMS_JUDGE_COL_MESSAGE_ID,
};

/* Judges the recorded attempts of r again (the gate on the recorded number,
 * whose 0-based index among the contact's is column col_phone_index, with
 * ECM_GATE_COLUMNS from col_gate) at business time now. An 'expired'
 * campaign (column col_state) closes EXPIRED whatever its end_at says:
 * nothing else would ever close its attempts. Returns the verdicts
 * (ecm_gate_rows_destroy), or NULL when r has no rows or memory runs out. */
ecm_gate_row *sms_judge_recorded(sms_sender *s, const PGresult *r, int col_state,
                                 int col_phone_index, int col_gate, int64_t now)
    __attribute__((warn_unused_result));

/* Writes the verdicts on recorded attempts of lane ln that are not sent now
 * (n rows of r, which start with the SMS_JUDGE_COL_ columns), inside the
 * open transaction: WAIT -> the attempt stays 'sending' with a lease that
 * runs out, for ln's recovery, at the opening (at most stale_s ahead; it is
 * then recovered and judged again), CLOSE -> attempt 'done' and contact closed with the
 * outcome and a ContactClosed event. GO rows are left alone. `from` names
 * the caller in the logs. Returns 0 or -1. */
int sms_judge_hold_back(sms_sender *s, const sms_lane *ln, const PGresult *r, ecm_gate_row *v,
                        int n, int64_t now, const char *from) __attribute__((warn_unused_result));

#endif

/* Attempts left 'sending' by an SMS sender that died (lease older than
 * stale_s) taken over: recorded 'sent' when a DLR came for them, else (on a
 * Kannel lane only once the lease is older than resend_after_s) judged
 * again (sms_judge) and sent again with the SAME message id when they may
 * go now. Sender's thread only. */
#ifndef SMS_RECOVER_H
#define SMS_RECOVER_H

#include "sms_state.h"

/* One transaction: take over up to `want` stale attempts of ln's gateway
 * (a DLR came: queued as accepted, to be recorded 'sent'), judge the others
 * again (campaign still dispatching, window open in the
 * contact's zone for the recorded number, end_at), hold back or close
 * those that may not go now, and queue the others on ln once committed
 * (one whose text can't be rendered any more goes to the answers to record
 * as rejected). Returns the number taken over, or -1 (rolled back: nothing
 * changed). */
int sms_recover_lane(sms_sender *s, sms_lane *ln, long want) __attribute__((warn_unused_result));

#endif

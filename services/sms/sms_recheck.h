/* Messages held in memory since their last send (a retryable answer) or
 * just recovered are judged again before they go, exactly as recovery
 * judges an attempt. Sender's thread only. */
#ifndef SMS_RECHECK_H
#define SMS_RECHECK_H

#include "sms_state.h"

/* Judges ln's waiting messages marked for a re-check in one transaction: a
 * number that opted out meanwhile -> closed DNC; a campaign paused or
 * stopped meanwhile -> not sent, its attempt left 'sending' for recovery
 * once resumed (the lease is no longer renewed); the calling window closed
 * meanwhile -> not sent, the attempt's lease runs out at the opening and
 * recovery sends it then; past end_at -> closed EXPIRED. Only messages
 * judged GO are kept (their mark cleared); the others are freed. Returns
 * 0, or -1 (rolled back; nothing changed in memory, the check is made
 * again on a later pass). */
int sms_recheck_held(sms_sender *s, sms_lane *ln) __attribute__((warn_unused_result));

#endif

/* Sending at each gateway's pace (on ecm_clock_mono_ms()): waiting messages go while the gateway
 * has room and its token bucket has tokens; answered requests are replaced
 * at once for a short while. Sender's thread only. */
#ifndef SMS_PACE_H
#define SMS_PACE_H

#include <stdint.h>

#include "sms_state.h"

/* Requests in flight on every lane of s. */
int sms_pace_inflight(const sms_sender *s);

/* Submits ln's waiting messages while the gateway has room, the lane is not
 * paused at now and the bucket has tokens. Stops at a message whose
 * re-check is pending: only sms_recheck_held() may clear it. Returns the
 * number submitted. */
int sms_pace_submit(sms_lane *ln, int64_t now);

/* For a short while after the first answers, each answered request is
 * replaced at once by a waiting message, so the gateways stay busy instead
 * of idling through the DB round trips of recording one answer at a time;
 * the answers are then recorded together in one transaction. Bounded in
 * time and count so that answers stay unrecorded (and re-sendable after a
 * crash) only briefly. Does nothing while draining. */
void sms_pace_refill(sms_sender *s);

#endif

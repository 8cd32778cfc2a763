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

/* The sender's idle work (ecm_pg_set_idle, arg: the sms_sender) while its
 * own transaction waits on the database (a take of contacts: ~80 ms for
 * 280; a record of answers: ~15 ms for 100): messages already waiting keep
 * going out as the gateways answer, instead of the gateways idling until
 * the commit. Only the lanes' queues and requests are touched, never the
 * database: answers join the end of the done list (sms_answer_record
 * records the ones it started with), retries go back to the front of
 * their lane. Submits nothing while draining or while SMS_REFILL_MAX_DONE
 * answers wait to be recorded; waits up to SMS_IDLE_WAIT_MS on the first
 * lane with requests in flight and on fd. */
void sms_pace_idle(void *arg, int fd);

#endif

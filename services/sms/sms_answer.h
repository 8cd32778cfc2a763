/* The SMS gateways' answers: taken in as they come (a retryable one puts
 * the message first in line again and pauses its gateway; any other is
 * kept to be recorded) and recorded together in one transaction: accepted
 * -> attempt 'sent' + ContactDispatched; a final reject -> attempt 'done' +
 * SmsResult(SMS_REJECTED) for the strategy; a system message -> 'sent' or
 * 'failed'. Sender's thread only. */
#ifndef SMS_ANSWER_H
#define SMS_ANSWER_H

#include "sms_gw.h"
#include "sms_state.h"

/* The sms_gw_done_fn of every lane (ctx: the lane, opaque: the item):
 * called by the gateway for each answered request. A retryable failure
 * puts the message first in line again and pauses the whole gateway: the
 * failure is almost always the gateway's state, not the message's. Any
 * other answer goes on the sender's list of answers to record. Can't
 * fail. */
void sms_answer_on_done(void *ctx, void *opaque, const sms_gw_result *res);

/* Records every answered message in one transaction. Returns the number
 * recorded, or -1 (rolled back; they stay in the done list and are
 * recorded on a later pass, never sent again). */
int sms_answer_record(sms_sender *s) __attribute__((warn_unused_result));

#endif

/* Taking queued work for a lane, each take one transaction: contacts of
 * the active SMS campaigns routed to the lane's gateway (through the
 * dispatch gate, their attempts recorded 'sending' with a new message id
 * and committed BEFORE anything is sent), and system messages (opt-out
 * confirmations, HELP answers) claimed under a lease. What is taken is
 * queued on the lane's waiting list. Sender's thread only. */
#ifndef SMS_TAKE_H
#define SMS_TAKE_H

#include "sms_state.h"

/* Fills ln up to `want` messages from its campaigns, starting with a
 * different campaign each time so that one big campaign can't starve the
 * others. Each campaign's batch: the gate judges the contacts (held back:
 * waiting, or closed DNC, EXPIRED, INVALID_NUMBER), a contact whose text
 * can't be rendered is closed SMS_REJECTED, the others' attempts are
 * recorded. Returns the number of contacts taken, or -1 when the DB failed
 * before any was. */
int sms_take_contacts(sms_sender *s, sms_lane *ln, long want) __attribute__((warn_unused_result));

/* Claims up to `want` queued system messages (or ones whose claim is older
 * than ln's resend_after_s: a sender died) and queues them on ln. Returns the number
 * claimed, or -1 when the DB failed. */
int sms_take_system(sms_sender *s, sms_lane *ln, long want) __attribute__((warn_unused_result));

#endif

/* The SMS sender's leases: every attempt (and system message) it holds is
 * 'sending' in the DB with a lease time (attempts.sending_at,
 * sms_system_messages.sent_at) that it keeps fresh, so that no other
 * replica takes it for a crashed sender's (sms_recover). */
#ifndef SMS_LEASE_H
#define SMS_LEASE_H

#include "sms_state.h"

/* Renews the lease of every message s holds, however long it has waited in
 * this process (a long 503 stretch). Returns 0 or -1 (the DB failed). */
int sms_lease_renew(sms_sender *s) __attribute__((warn_unused_result));

/* For an orderly stop: the messages s holds that it never submitted (on a
 * waiting list, never tried) certainly never reached a gateway, so their
 * leases are aged for any sender's recovery to take them at once, rather
 * than after a Kannel lane's resend_after_s. Returns how many, or -1 (the
 * DB failed: they are recovered the slow way). */
int sms_lease_release_unsent(sms_sender *s) __attribute__((warn_unused_result));

#endif

/* DLR timeouts: an SMS attempt 'sent' longer ago than its campaign's
 * dlr_timeout_s without a final DLR is closed ('done') with an SmsResult
 * SMS_EXPIRED queued in the same transaction (the strategy writes the
 * outcome on the attempt when it applies it). A thread scans every
 * ctx->dlr_scan_ms; replicas share the work (FOR UPDATE SKIP LOCKED). A
 * final DLR that comes after that is recorded only (sms_dlr sees 'done'). */
#ifndef SMS_EXPIRY_H
#define SMS_EXPIRY_H

#include <signal.h>

#include "ecm_pg.h"
#include "sms_ctx.h"

/* Attempts closed per transaction. */
#define SMS_EXPIRY_BATCH 500

/* Closes at most batch overdue attempts in one transaction on pg. Returns
 * how many it closed, or -1 after a rollback (DB error, logged). Counts
 * ecm_sms_expired_total. */
int sms_expiry_scan(ecm_pg *pg, const sms_ctx *ctx, int batch) __attribute__((warn_unused_result));

typedef struct sms_expiry sms_expiry;

/* Starts the scanning thread with its own connection to dsn; it runs until
 * *stop is set or sms_expiry_stop(). ctx must outlive it. Returns NULL
 * (logged) when the thread can't start. */
sms_expiry *sms_expiry_start(const char *dsn, const sms_ctx *ctx, volatile sig_atomic_t *stop);

/* Ends the thread (at most one scan's time), joins it and frees. NULL is
 * ignored. */
void sms_expiry_stop(sms_expiry *e);

#endif

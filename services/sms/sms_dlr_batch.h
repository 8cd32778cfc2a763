/* Delivery reports applied in batches: what sms_dlr_apply() does for one
 * DLR, done for many in one transaction with a fixed number of statements
 * (record them all, lock their open attempts in key order, update those,
 * queue the SmsResults in one COPY), so that a gateway's burst of callbacks
 * costs a few round trips rather than a transaction each. The DLRs of one
 * batch take effect in their order: an intermediate code after a final one
 * of the same message is a duplicate, as if they had come one by one. */
#ifndef SMS_DLR_BATCH_H
#define SMS_DLR_BATCH_H

#include <stddef.h>

#include "ecm_pg.h"
#include "sms_ctx.h"
#include "sms_dlr.h"

struct sms_dlr_item {
    const char *message_id; /* at most SMS_DLR_MESSAGE_ID_MAX bytes, UTF-8 */
    int status;             /* the gateway's DLR code */
    const char *detail;     /* may be NULL; valid UTF-8 */
    sms_dlr_result result;  /* set by sms_dlr_batch_apply() */
    long long delay_ms;     /* set with result: for an attempt it closed, the
                               milliseconds since the gateway took the
                               message; otherwise -1 */
};

/* Most DLRs applied in one batch. */
#define SMS_DLR_BATCH_MAX 512

/* Applies items[0..n) (n <= SMS_DLR_BATCH_MAX) in one transaction on pg
 * and sets each item's result, as sms_dlr_apply() would have one by one. A
 * deadlock with another writer of the attempts (the sender marking them
 * sent), or a connection lost mid-way, is retried on the same batch. On
 * failure everything is rolled back and every result is SMS_DLR_DB_ERROR.
 * Counts and logs nothing (sms_dlr_note() does). Returns 0 or -1. */
int sms_dlr_batch_apply(ecm_pg *pg, const sms_ctx *ctx, sms_dlr_item *items, size_t n);

#endif

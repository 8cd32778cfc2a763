/* Group commit of delivery reports. Each DLR callback runs on its own HTTP
 * thread; rather than a transaction each, a thread hands its DLR in and
 * waits: one of the waiting threads (at most `leaders` at a time) takes
 * every DLR waiting then (up to SMS_DLR_BATCH_MAX) and applies them in one
 * transaction (sms_dlr_batch), then wakes their threads with their results.
 * A burst of callbacks thus costs a few transactions, and every gateway
 * still gets its answer only once its DLR is durable. */
#ifndef SMS_DLRQ_H
#define SMS_DLRQ_H

#include "sms_ctx.h"
#include "sms_dlr.h"

typedef struct sms_dlrq sms_dlrq;

/* A queue whose batches are applied by at most `leaders` (>= 1) threads at
 * once, each on a connection of the pool of the ctx given to
 * sms_dlrq_apply(). Returns NULL when memory runs out. */
sms_dlrq *sms_dlrq_new(int leaders) __attribute__((warn_unused_result));

/* Frees q; no thread may be in sms_dlrq_apply() on it. NULL is ignored. */
void sms_dlrq_destroy(sms_dlrq *q);

/* Applies one DLR (as sms_dlr_apply() would) together with those handed in
 * meanwhile; blocks until it is applied or has failed, counts and logs it.
 * Returns its result: SMS_DLR_BUSY when no pooled connection was free in
 * time, SMS_DLR_DB_ERROR when the batch was rolled back. The strings need
 * to live until it returns. Thread-safe. */
sms_dlr_result sms_dlrq_apply(sms_dlrq *q, const sms_ctx *ctx, const char *message_id, int status,
                              const char *detail);

#endif

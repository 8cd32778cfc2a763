/* Delivery reports: GET /sms/dlr?msgid=..&token=..&status=.. (Kannel's
 * dlr-url, a GET by Kannel's design) and POST /sms/dlr with the same query
 * string and/or a form or a JSON body {"message_id": "...", "status": 1}
 * (the generic gateway). token is the message's MAC (sms_auth): without
 * the right one the answer is 403 and nothing is recorded. Codes are Kannel's: 1 delivered,
 * 2 undelivered, 16 SMSC reject are final; 4 buffered and 8 SMSC ack are
 * intermediate. Every DLR is kept in sms_dlrs; a final one closes its
 * attempt and queues an SmsResult (outbox) in the same transaction, once:
 * gateways resend, and a resend changes nothing. */
#ifndef SMS_DLR_H
#define SMS_DLR_H

#include <stdint.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_http.h"
#include "ecm_pg.h"
#include "sms_ctx.h"

/* Longest message id accepted (bytes). */
#define SMS_DLR_MESSAGE_ID_MAX 128

/* What a Kannel DLR code means. Returns 1 for a final code with *outcome
 * set (1 SMS_DELIVERED, 2 SMS_UNDELIVERED, 16 SMS_REJECTED), 0 for an
 * intermediate one (4, 8), -1 for a code Kannel does not send. Pure. */
int sms_dlr_classify(int status, Ecm__V1__Outcome *outcome) __attribute__((warn_unused_result));

typedef enum {
    SMS_DLR_BUSY = -2,     /* no DB connection free in time: answer 503 so it comes again */
    SMS_DLR_DB_ERROR = -1, /* rolled back, nothing recorded: answer 503 so it comes again */
    SMS_DLR_APPLIED = 0,   /* final: attempt done, SmsResult queued */
    SMS_DLR_INTERMEDIATE,  /* attempt's dlr_status/dlr_at updated */
    SMS_DLR_DUPLICATE,     /* attempt already done: recorded in sms_dlrs only */
    SMS_DLR_SYSTEM,        /* a system message's DLR: recorded only */
    SMS_DLR_UNKNOWN_ID,    /* no attempt or system message has this id: recorded only */
    SMS_DLR_UNKNOWN_CODE,  /* a code that means nothing to us: recorded only */
} sms_dlr_result;

/* Applies one DLR in one transaction on pg (sms_dlr_batch, a batch of one): inserts it into
 * sms_dlrs, locks the attempt by message id and, for a final code on an attempt not yet 'done'
 * (sent, or still 'sending' when the gateway answered before our commit), sets status 'done',
 * result_at, raw_code and dlr_status/dlr_at, and adds an SmsResult with the outcome on
 * ctx->common->topic_sms_results keyed by the contact id. An intermediate
 * code on an open attempt only sets dlr_status/dlr_at. detail (may be NULL)
 * is the gateway's text, kept with the DLR and sent in the event. Counts
 * ecm_sms_dlrs_total{result} after the commit. attempts.outcome is left
 * to the strategy, which writes it when it applies the SmsResult (as for
 * call results; it takes an attempt with an outcome for a duplicate). */
sms_dlr_result sms_dlr_apply(ecm_pg *pg, const sms_ctx *ctx, const char *message_id, int status,
                             const char *detail);

typedef struct sms_dlr_item sms_dlr_item;

/* Counts item's result in ecm_sms_dlrs_total{result} and logs what needs
 * it (unknown ids and codes, DB errors). Can't fail. */
void sms_dlr_note(const sms_ctx *ctx, const sms_dlr_item *item);

/* Queues one SmsResult inside the caller's open transaction on pg, on
 * ctx->common->topic_sms_results keyed by the contact id (shared with
 * sms_expiry). detail may be NULL. Returns 0 or -1. */
int sms_dlr_add_result(ecm_pg *pg, const sms_ctx *ctx, int64_t campaign_id, int64_t contact_id,
                       int attempt, const char *message_id, Ecm__V1__Outcome outcome,
                       int gateway_status, const char *detail, int segments, int64_t occurred_at_ms)
    __attribute__((warn_unused_result));

/* Adds GET and POST /sms/dlr to http; ctx must outlive it. Returns 0, or -1
 * when the route table is full or ctx->auth is NULL. */
int sms_dlr_register(ecm_http *http, const sms_ctx *ctx) __attribute__((warn_unused_result));

#endif

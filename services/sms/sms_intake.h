/* Kafka -> DB: ContactUploaded and ContactRetry events of SMS campaigns
 * make their contacts 'queued' in the ECM DB; offsets are stored only after
 * that commit. Pacing towards the SMS gateways happens from the DB
 * (sms_sender), so the consumer never parks work in Kafka. Voice events are
 * the feeder's and are skipped. */
#ifndef SMS_INTAKE_H
#define SMS_INTAKE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ecm_kafka.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"

typedef enum {
    SMS_ITEM_IGNORE = 0, /* not ours (a voice contact) */
    SMS_ITEM_UPLOADED,   /* queue if still pending with no attempt */
    SMS_ITEM_RETRY,      /* queue if retry_due and this is its next attempt */
    SMS_ITEM_BAD,        /* dead-letter with reason */
} sms_item_kind;

typedef struct {
    sms_item_kind kind;
    int64_t contact_id;
    int32_t attempt;
    int32_t phone_index;
    int unknown; /* set by sms_intake_apply: no such contact (dead-letter) */
    char reason[200];
} sms_intake_item;

/* Decodes one message's payload by topic (topic_uploaded or topic_retry)
 * into out. Never fails: what can't be used is SMS_ITEM_BAD with a reason
 * ("undecodable ecm.v1.ContactUploaded: ..."). */
void sms_intake_decode(const char *topic, const char *topic_uploaded, const char *topic_retry,
                       const void *payload, size_t len, sms_intake_item *out);

/* Applies the UPLOADED and RETRY items in ONE transaction; a redelivered or
 * stale event changes nothing. Marks items whose contact does not exist
 * (unknown = 1). *queued (may be NULL) gets the contacts moved to 'queued'.
 * Returns 0 after the commit, or -1 (rolled back; the caller retries the
 * same batch). */
int sms_intake_apply(ecm_pg *pg, sms_intake_item *items, size_t n, size_t *queued);

typedef struct sms_intake sms_intake;

typedef struct {
    ecm_consumer *consumer; /* not owned; closed by the service */
    const char *pg_dsn;     /* the intake thread opens its own connection */
    const char *topic_uploaded;
    const char *topic_retry;
    ecm_metrics *metrics;
    volatile sig_atomic_t *stop;
} sms_intake_config;

/* Starts the intake thread (poll, decode, apply, dead-letter, store).
 * Strings in cfg must outlive the thread. Returns NULL on failure (logged). */
sms_intake *sms_intake_start(const sms_intake_config *cfg);

/* Asks the thread to stop after its batch in hand, joins it and frees it.
 * A batch not yet durable is left unstored (redelivered later). */
void sms_intake_stop(sms_intake *in);

#endif

/* Kafka -> DB, shared by the services that contact people (the feeder for
 * voice, sms for SMS): ContactRetry events of their channel make the
 * contacts 'queued' again in the ECM DB; offsets are stored only after that
 * commit. Pacing towards the dialer or gateway happens from the DB, so the
 * consumer never parks work in Kafka. Uploaded contacts need no event: the
 * gateway loads them 'queued' (contacts.uploaded is for subscribers). */
#ifndef ECM_INTAKE_H
#define ECM_INTAKE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ecm_kafka.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"

/* Which contacts a service takes. An event without a channel is the
 * voice side's to dead-letter, so that it is dead-lettered once. */
typedef enum {
    ECM_INTAKE_VOICE, /* voice_ivr, voice_agent */
    ECM_INTAKE_SMS,
} ecm_intake_channel;

typedef enum {
    ECM_INTAKE_IGNORE = 0, /* another channel's contact */
    ECM_INTAKE_RETRY,      /* queue if retry_due and this is its next attempt */
    ECM_INTAKE_BAD,        /* dead-letter with reason */
} ecm_intake_kind;

typedef struct {
    ecm_intake_kind kind;
    int64_t contact_id;
    int32_t attempt;
    int32_t phone_index;
    int unknown; /* set by ecm_intake_apply: no such contact (dead-letter) */
    char reason[200];
} ecm_intake_item;

/* Decodes one message's payload (topic must be topic_retry) into out.
 * Never fails: what can't be used is ECM_INTAKE_BAD with a reason
 * ("undecodable ecm.v1.ContactRetry: ..."). */
void ecm_intake_decode(ecm_intake_channel channel, const char *topic, const char *topic_retry,
                       const void *payload, size_t len, ecm_intake_item *out);

/* Applies the RETRY items in ONE transaction; a redelivered or
 * stale event changes nothing. Marks items whose contact does not exist
 * (unknown = 1). *queued (may be NULL) gets the contacts moved to 'queued'.
 * Returns 0 after the commit, or -1 (rolled back; the caller retries the
 * same batch). */
int ecm_intake_apply(ecm_pg *pg, ecm_intake_item *items, size_t n, size_t *queued)
    __attribute__((warn_unused_result));

typedef struct ecm_intake ecm_intake;

typedef struct {
    ecm_intake_channel channel;
    ecm_kafka_consumer *consumer; /* not owned; closed by the service */
    const char *pg_dsn;           /* the intake thread opens its own connection */
    const char *topic_retry;
    ecm_metrics *metrics;
    volatile sig_atomic_t *stop;
} ecm_intake_config;

/* Starts the intake thread (poll, decode, apply, dead-letter, store).
 * Strings in cfg must outlive the thread. Returns NULL on failure (logged). */
ecm_intake *ecm_intake_start(const ecm_intake_config *cfg);

/* Asks the thread to stop after its batch in hand, joins it and frees it.
 * A batch not yet durable is left unstored (redelivered later). */
void ecm_intake_stop(ecm_intake *in);

#endif

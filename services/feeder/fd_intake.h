/* Kafka -> DB: ContactUploaded and ContactRetry events of voice campaigns
 * make their contacts 'queued' in the ECM DB; offsets are stored only after
 * that commit. Pacing towards UCCX happens from the DB (fd_dispatch), so the
 * consumer never parks work in Kafka. */
#ifndef FD_INTAKE_H
#define FD_INTAKE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ecm_kafka.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"

typedef enum {
    FD_ITEM_IGNORE = 0, /* not ours (an SMS contact) */
    FD_ITEM_UPLOADED,   /* queue if still pending with no attempt */
    FD_ITEM_RETRY,      /* queue if retry_due and this is its next attempt */
    FD_ITEM_BAD,        /* dead-letter with reason */
} fd_item_kind;

typedef struct {
    fd_item_kind kind;
    int64_t contact_id;
    int32_t attempt;
    int32_t phone_index;
    int unknown; /* set by fd_intake_apply: no such contact (dead-letter) */
    char reason[200];
} fd_intake_item;

/* Decodes one message's payload by topic (topic_uploaded or topic_retry)
 * into out. Never fails: what can't be used is FD_ITEM_BAD with a reason
 * ("undecodable ecm.v1.ContactUploaded: ..."). */
void fd_intake_decode(const char *topic, const char *topic_uploaded, const char *topic_retry,
                      const void *payload, size_t len, fd_intake_item *out);

/* Applies the UPLOADED and RETRY items in ONE transaction; a redelivered or
 * stale event changes nothing. Marks items whose contact does not exist
 * (unknown = 1). *queued (may be NULL) gets the contacts moved to 'queued'.
 * Returns 0 after the commit, or -1 (rolled back; the caller retries the
 * same batch). */
int fd_intake_apply(ecm_pg *pg, fd_intake_item *items, size_t n, size_t *queued);

typedef struct fd_intake fd_intake;

typedef struct {
    ecm_consumer *consumer; /* not owned; closed by the service */
    const char *pg_dsn;     /* the intake thread opens its own connection */
    const char *topic_uploaded;
    const char *topic_retry;
    ecm_metrics *metrics;
    volatile sig_atomic_t *stop;
} fd_intake_config;

/* Starts the intake thread (poll, decode, apply, dead-letter, store).
 * Strings in cfg must outlive the thread. Returns NULL on failure (logged). */
fd_intake *fd_intake_start(const fd_intake_config *cfg);

/* Asks the thread to stop after its batch in hand, joins it and frees it.
 * A batch not yet durable is left unstored (redelivered later). */
void fd_intake_stop(fd_intake *in);

#endif

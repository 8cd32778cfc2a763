/* The transactional outbox. A service that changes the ECM DB and emits an
 * event writes the event into table outbox in the same transaction; a relay
 * thread publishes rows in id order and deletes a row only after the broker's
 * delivery report. One relay at a time holds the outbox (advisory lock), so
 * order is kept across replicas; a crash at any instant at worst re-sends.
 * Outbox ids must come from the id column's default (the relay's floor
 * relies on it; see ecm_outbox_floor_read_horizon in ecm_outbox_floor.c). */
#ifndef ECM_OUTBOX_H
#define ECM_OUTBOX_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ecm_event.h"
#include "ecm_kafka.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"

/* Inserts one event inside the caller's open transaction on pg. The CE type
 * is the message's full protobuf name ("ecm.v1.ContactUploaded"); event_id
 * and occurred_at are the message's own fields (given here so the caller
 * sets them once). key may be NULL. Returns 0 or -1. */
int ecm_outbox_add(ecm_pg *pg, const char *topic, const char *key, const char *source,
                   const char *event_id, int64_t occurred_at_ms, const ProtobufCMessage *msg)
    __attribute__((warn_unused_result));

/* Bulk insert for large loads: one COPY into outbox. Begin inside the
 * caller's transaction, add any number of events, end. No other command may
 * run on pg between begin and end. Each returns 0 or -1. */
int ecm_outbox_copy_begin(ecm_pg *pg) __attribute__((warn_unused_result));
int ecm_outbox_copy_add(ecm_pg *pg, const char *topic, const char *key, const char *source,
                        const char *event_id, int64_t occurred_at_ms, const ProtobufCMessage *msg);
int ecm_outbox_copy_end(ecm_pg *pg);

/* What a ContactClosed event tells: the contact closed, with how many
 * attempts it had and why. */
typedef struct {
    int64_t campaign_id;
    int64_t contact_id;
    int attempts;
    Ecm__V1__Outcome outcome;
    int64_t occurred_at_ms; /* 0: now (ecm_clock_wall_ms()) */
} ecm_outbox_closed;

/* One ContactClosed event of c, with a new event id and keyed by the
 * contact id, on topic: ecm_outbox_add_closed() through ecm_outbox_add(),
 * ecm_outbox_copy_add_closed() through ecm_outbox_copy_add() (between
 * ecm_outbox_copy_begin() and ecm_outbox_copy_end()). Each returns 0 or
 * -1. */
int ecm_outbox_add_closed(ecm_pg *pg, const char *topic, const char *source,
                          const ecm_outbox_closed *c) __attribute__((warn_unused_result));
int ecm_outbox_copy_add_closed(ecm_pg *pg, const char *topic, const char *source,
                               const ecm_outbox_closed *c);

typedef struct ecm_outbox_relay ecm_outbox_relay;

/* pg_try_advisory_xact_lock key that makes one relay at a time own the
 * outbox ("ECMO"). */
#define ECM_OUTBOX_LOCK_KEY 0x45434d4f

/* The channel the outbox table's trigger notifies (once per inserting
 * statement, delivered at commit); an idle relay waits on it. */
#define ECM_OUTBOX_CHANNEL "ecm_outbox"

/* Starts the relay thread with its own DB connection (dsn) and the given
 * producer (not owned; the relay serves its delivery reports, so the
 * producer must be created with dr = ecm_outbox_relay_delivery and
 * dr_ctx = NULL — see ecm_service.c). poll_ms: idle wait between scans.
 * Returns NULL on failure. */
ecm_outbox_relay *ecm_outbox_relay_start(const char *dsn, ecm_kafka_producer *producer,
                                         ecm_metrics *metrics, int poll_ms,
                                         volatile sig_atomic_t *stop);
/* Publishes what is left (bounded by timeout_ms), then joins and frees. */
void ecm_outbox_relay_stop(ecm_outbox_relay *r, int timeout_ms);
/* 1 when the last scan reached the DB. */
int ecm_outbox_relay_healthy(const ecm_outbox_relay *r);
/* Rows published since start (for tests and metrics). */
uint64_t ecm_outbox_relay_published(const ecm_outbox_relay *r);
/* The relay's safe floor: no outbox row with an id up to it exists or can
 * still commit, and its scans read from the next id (for tests). */
int64_t ecm_outbox_relay_floor(const ecm_outbox_relay *r);

/* Delivery callback to give ecm_kafka_producer_new() for the relay's producer. */
void ecm_outbox_relay_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t err);

#endif

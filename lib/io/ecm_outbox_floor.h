/* Private to lib/io/ecm_outbox_relay.c: the relay's safe floor. No row with
 * an id up to the floor exists or can still commit, so a scan reads from
 * floor + 1 and never walks the index entries of the rows deleted below it.
 * The floor moves through the ids the relay published and deleted while
 * they follow it without a gap, and over a gap through the horizon (the
 * sequence's last value and the outbox's open writers); see
 * ecm_outbox_floor.c for why both are sound. One thread drives a floor;
 * ecm_outbox_floor_get may be called from any. */
#ifndef ECM_OUTBOX_FLOOR_H
#define ECM_OUTBOX_FLOOR_H

#include <stdint.h>

#include <libpq-fe.h>

#include "ecm_pg.h"

typedef struct ecm_outbox_floor ecm_outbox_floor;

/* What a scan learnt before reading rows: the sequence's last id handed out
 * (0 when unusable) and the outbox's open writers. */
typedef struct {
    int64_t seq_last;
    char *writers; /* text array of virtual transaction ids, owned */
} ecm_outbox_horizon;

/* A floor at 0 that reads the horizon at its first scan; NULL when out of
 * memory. */
ecm_outbox_floor *ecm_outbox_floor_new(void);
void ecm_outbox_floor_free(ecm_outbox_floor *f);

/* The floor now; any thread. */
int64_t ecm_outbox_floor_get(const ecm_outbox_floor *f);

/* Before a scan on conn: a session other than the one the floor was learnt
 * on starts the floor again from 0 and the horizon. Can't fail. */
void ecm_outbox_floor_session(ecm_outbox_floor *f, PGconn *conn);

/* The next scan reads the horizon (after standing by: another relay moved
 * on meanwhile). */
void ecm_outbox_floor_expect_horizon(ecm_outbox_floor *f);

/* 1 when this scan should read the horizon. */
int ecm_outbox_floor_horizon_due(const ecm_outbox_floor *f);

/* Reads the horizon in the scan's transaction, before its rows. Returns 0,
 * or -1 (the transaction left for the caller to roll back; h->writers may
 * be NULL). */
int ecm_outbox_floor_read_horizon(ecm_pg *pg, ecm_outbox_horizon *h);

/* The id up to which a scan saw every visible row: h's sequence value, or
 * last_id (the last row of its last full page) when it stopped before the
 * end (saw_end 0, last_id > 0). */
int64_t ecm_outbox_floor_covered(const ecm_outbox_horizon *h, int saw_end, int64_t last_id);

/* A scan that failed before its commit: takes h->writers and drops the
 * candidate. Can't fail. */
void ecm_outbox_floor_hold(ecm_outbox_floor *f, ecm_outbox_horizon *h);

/* The n ascending ids a committed scan published and deleted (each above
 * the floor it read from). Can't fail. */
void ecm_outbox_floor_seen(ecm_outbox_floor *f, const int64_t *ids, int n);

/* After a scan's commit: complete is 1 when it published and deleted every
 * row it read; horizon 1 when it read h. Takes h->writers. Can't fail. */
void ecm_outbox_floor_settle(ecm_outbox_floor *f, int complete, int horizon, int64_t covered,
                             ecm_outbox_horizon *h);

#endif

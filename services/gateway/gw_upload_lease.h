/* Who streams an upload, and the uploads nobody streams any more.
 *
 * Each gateway process has an owner identity (a random instance id, then
 * host:pid for people). An upload row records its owner and a lease
 * (uploads.lease_until, database clock): the owner renews it with each
 * committed batch and, for every upload it holds, from its timer
 * (gw_upload_lease_renew), so a slow client does not lose its upload. Once
 * a lease is past, any gateway (at start, then periodically) marks the
 * upload 'interrupted' (gw_upload_lease_sweep) with an UploadInterrupted
 * event; the upload can then be resumed. A batch of the former owner that
 * commits afterwards is fenced: its transaction checks the row still names
 * it as owner and 'running', and rolls back otherwise.
 *
 * Thread-safe: handlers hold and drop uploads on many threads while the
 * main loop renews. */
#ifndef GW_UPLOAD_LEASE_H
#define GW_UPLOAD_LEASE_H

#include "ecm_pg.h"

#define GW_UPLOAD_LEASE_S_DEFAULT 60
#define GW_TOPIC_UPLOADS_DEFAULT "uploads.changed"

typedef struct gw_upload_lease gw_upload_lease;

/* A new owner identity whose leases last lease_s seconds (>= 1). Returns
 * NULL when out of memory. */
gw_upload_lease *gw_upload_lease_new(int lease_s) __attribute__((warn_unused_result));
void gw_upload_lease_destroy(gw_upload_lease *l); /* NULL: no-op */

/* The owner text written into uploads.owner ("<uuid> <host>:<pid>"). */
const char *gw_upload_lease_owner(const gw_upload_lease *l);
/* The lease's length as an SQL interval literal ("60 seconds"), for
 * "now() + $n::interval". */
const char *gw_upload_lease_interval(const gw_upload_lease *l);

/* Records that this process streams upload_id (its lease is renewed by
 * gw_upload_lease_renew until dropped). Returns 0 or -1 (out of memory). */
int gw_upload_lease_hold(gw_upload_lease *l, long long upload_id)
    __attribute__((warn_unused_result));
/* Forgets upload_id; unknown ids are ignored. */
void gw_upload_lease_drop(gw_upload_lease *l, long long upload_id);
/* How many uploads are held. */
size_t gw_upload_lease_held(gw_upload_lease *l);

/* Renews on pg the lease of every held upload that is still 'running' and
 * still names l as owner. Returns how many were renewed, or -1 on a
 * database error. */
long long gw_upload_lease_renew(gw_upload_lease *l, ecm_pg *pg);

/* In one transaction on pg: marks 'interrupted' every 'running' upload
 * whose lease is past (rows locked by another transaction, such as the
 * owner's batch, are skipped), keeping its counts and committed line, and
 * adds one ecm.v1.UploadInterrupted event each on topic (keyed by the
 * upload id, CloudEvents source source). Returns how many were marked, or
 * -1 on a database error (nothing marked). */
long long gw_upload_lease_sweep(ecm_pg *pg, const char *topic, const char *source);

/* The owner's own way to give an upload up in the middle (its client went
 * away, or the gateway stops): like the sweep, for upload_id alone, if it
 * is still 'running' and owned by l. Returns 1 (marked, event added), 0
 * (not running or not ours any more), or -1 on a database error. */
int gw_upload_lease_interrupt(gw_upload_lease *l, ecm_pg *pg, long long upload_id,
                              const char *topic, const char *source, const char *why)
    __attribute__((warn_unused_result));

#endif

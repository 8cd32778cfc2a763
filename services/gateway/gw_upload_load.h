/* A validated batch of a contact upload loaded into the database, on the
 * upload's loader thread: in one transaction under the campaign's upload
 * lock, numbers already in the campaign (contact_phones) or earlier in the
 * file make a row a duplicate, numbers all on a DNC list load it closed
 * 'DNC', the rest load queued; contacts, contact_phones, the outbox events
 * (one ContactsUploaded, a ContactClosed per DNC row), the report rows and
 * the upload's counts and checkpoint are written together. Only the numbers
 * the upload's filter (lib ecm_bloom) cannot rule out are looked up. */
#ifndef GW_UPLOAD_LOAD_H
#define GW_UPLOAD_LOAD_H

#include "ecm_pg.h"
#include "gw_upload_state.h"

/* What a batch's load did. */
typedef struct {
    long long loaded, rejected, duplicate, dnc;
    /* Where the load's time went, for the debug log (ms). */
    long long ms_lookup, ms_contacts, ms_turn, ms_phones, ms_outbox, ms_commit;
    long long looked_up; /* numbers looked up in contact_phones */
} gw_upload_counts;

/* The loader thread's body (arg: the gw_upload): loads u->loading, retrying
 * when the connection broke, then adds its counts and rejected rows to u.
 * Sets u->load_rc (0, or -1: not loaded; u->fenced says whether the upload
 * was no longer this process's). Returns NULL. */
void *gw_upload_load_run(void *arg);

/* Writes the counts of u plus the batch's bc (may be NULL), rows_read,
 * bytes_read and state (when not NULL: the lease ends with it; NULL: the
 * lease is renewed) on pg, inside or outside a transaction; with cp, the
 * checkpoint of that batch too. Fenced: only while the upload is
 * 'running' and this process owns it. Returns 0, 1 when fenced (nothing
 * written) or -1. */
int gw_upload_load_save(ecm_pg *pg, const gw_upload *u, long long rows_read, long long bytes_read,
                        const gw_upload_counts *bc, const char *state, const gw_upload_batch *cp)
    __attribute__((warn_unused_result));

#endif

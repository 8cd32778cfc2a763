/* Exactly once per file, across restarts and replicas: the drop_files row of
 * a file identity (db/021_drop_files.sql). A replica claims a file with
 * INSERT ... ON CONFLICT DO NOTHING, or takes it over once the claimant's
 * lease (database clock) is past; the claimant renews its lease while it
 * streams and ends the row archived or failed; the move of the file is
 * recorded after. Every call is one statement on pg (autocommit). */
#ifndef DBX_CLAIM_H
#define DBX_CLAIM_H

#include "ecm_pg.h"

/* A file identity: its path relative to the drop folder, size, mtime. */
typedef struct {
    const char *rel_path;
    long long size;
    long long mtime_ns;
} dbx_file_id;

typedef enum {
    DBX_CLAIM_NEW = 1, /* never seen: ours now */
    DBX_CLAIM_TAKEN,   /* its claimant's lease was past: ours now */
    DBX_CLAIM_BUSY,    /* another claimant's lease runs */
    DBX_CLAIM_DONE,    /* archived or failed already */
} dbx_claim_kind;

typedef struct {
    long long id;        /* drop_files.id */
    long long upload_id; /* 0: none recorded */
    int failed;          /* DONE: 1 failed, 0 archived */
    int done;            /* archived or failed */
    int moved;           /* DONE: the move is recorded */
    char reason[512];    /* DONE and failed: why ("" if none) */
} dbx_claim;

/* Claims f for owner with a lease of lease_s seconds; campaign_id (0: none)
 * is recorded. Returns a dbx_claim_kind with *out filled, or -1 on a
 * database error. */
int dbx_claim_take(ecm_pg *pg, const dbx_file_id *f, long long campaign_id, const char *owner,
                   int lease_s, dbx_claim *out) __attribute__((warn_unused_result));

/* Renews the lease of claim id if owner still holds it. Returns 1 (renewed),
 * 0 (no longer ours: another replica took it over) or -1 (database). */
int dbx_claim_renew(ecm_pg *pg, long long id, const char *owner, int lease_s)
    __attribute__((warn_unused_result));

/* Records the upload of claim id (state 'uploading'). Returns 1, 0 (not
 * ours) or -1. */
int dbx_claim_set_upload(ecm_pg *pg, long long id, const char *owner, long long upload_id)
    __attribute__((warn_unused_result));

/* Ends claim id: archived (failed 0) or failed with reason; upload_id (0:
 * none) recorded. Returns 1, 0 (not ours) or -1. */
int dbx_claim_finish(ecm_pg *pg, long long id, const char *owner, int failed, long long upload_id,
                     const char *reason) __attribute__((warn_unused_result));

/* Gives claim id up now (its lease ends at once, so any replica may take it
 * over at its next scan): for a stop, or a fault worth retrying. Returns 1,
 * 0 or -1. */
int dbx_claim_release(ecm_pg *pg, long long id, const char *owner)
    __attribute__((warn_unused_result));

/* Records that done claim id's file was moved to moved_to (NULL: it was
 * gone). Returns 0 or -1. */
int dbx_claim_moved(ecm_pg *pg, long long id, const char *moved_to)
    __attribute__((warn_unused_result));

#endif

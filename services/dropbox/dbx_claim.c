#include "dbx_claim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_pgval.h"

#define CLAIM_COLS                                                                                 \
    "id, coalesce(upload_id, 0), state, moved_at IS NOT NULL, coalesce(reason, ''), "              \
    "state IN ('archived', 'failed')"

/* Fills out from row 0 of r (CLAIM_COLS). */
static void read_claim(const PGresult *r, dbx_claim *out)
{
    memset(out, 0, sizeof(*out));
    out->id = ecm_pgval_ll(r, 0, 0, 0);
    out->upload_id = ecm_pgval_ll(r, 0, 1, 0);
    out->failed = strcmp(ecm_pgval_str(r, 0, 2), "failed") == 0;
    out->moved = strcmp(ecm_pgval_str(r, 0, 3), "t") == 0;
    (void)snprintf(out->reason, sizeof(out->reason), "%s", ecm_pgval_str(r, 0, 4));
    out->done = strcmp(ecm_pgval_str(r, 0, 5), "t") == 0;
}

/* Runs one statement that returns at most one CLAIM_COLS row. Returns 1
 * (row, *out filled), 0 (none) or -1. */
static int claim_row(ecm_pg *pg, const char *sql, int n, const char *const *params, dbx_claim *out)
{
    PGresult *r = ecm_pg_exec(pg, sql, n, params);
    if (!r) {
        ecm_pg_check_broken(pg);
        return -1;
    }
    int found = PQntuples(r) > 0;
    if (found) {
        read_claim(r, out);
    }
    PQclear(r);
    return found;
}

int dbx_claim_take(ecm_pg *pg, const dbx_file_id *f, long long campaign_id, const char *owner,
                   int lease_s, dbx_claim *out)
{
    char size[24], mtime[24], cid[24], lease[24];
    (void)snprintf(size, sizeof(size), "%lld", f->size);
    (void)snprintf(mtime, sizeof(mtime), "%lld", f->mtime_ns);
    (void)snprintf(cid, sizeof(cid), "%lld", campaign_id);
    (void)snprintf(lease, sizeof(lease), "%d", lease_s);
    const char *params[] = {f->rel_path, size, mtime, campaign_id > 0 ? cid : NULL, owner, lease};
    int rc = claim_row(pg,
                       "INSERT INTO drop_files (rel_path, size, mtime_ns, campaign_id, owner, "
                       "lease_until) VALUES ($1, $2, $3, $4, $5, "
                       "now() + make_interval(secs => $6::int)) "
                       "ON CONFLICT (rel_path, size, mtime_ns) DO NOTHING RETURNING " CLAIM_COLS,
                       6, params, out);
    if (rc != 0) {
        return rc < 0 ? -1 : DBX_CLAIM_NEW;
    }
    const char *take[] = {f->rel_path, size, mtime, owner, lease};
    rc = claim_row(pg,
                   "UPDATE drop_files SET owner = $4, "
                   "lease_until = now() + make_interval(secs => $5::int) "
                   "WHERE rel_path = $1 AND size = $2 AND mtime_ns = $3 "
                   "AND state IN ('claimed', 'uploading') AND lease_until < now() "
                   "RETURNING " CLAIM_COLS,
                   5, take, out);
    if (rc != 0) {
        return rc < 0 ? -1 : DBX_CLAIM_TAKEN;
    }
    rc = claim_row(pg,
                   "SELECT " CLAIM_COLS " FROM drop_files "
                   "WHERE rel_path = $1 AND size = $2 AND mtime_ns = $3",
                   3, take, out);
    if (rc < 0) {
        return -1;
    }
    /* rc 0: the row a concurrent INSERT made is not visible yet; look again
     * at the next scan. */
    return rc > 0 && out->done ? DBX_CLAIM_DONE : DBX_CLAIM_BUSY;
}

/* Runs one statement on the row of id if owner holds it. Returns 1, 0 or
 * -1. */
static int owned_cmd(ecm_pg *pg, const char *sql, int n, const char *const *params)
{
    PGresult *r = ecm_pg_exec(pg, sql, n, params);
    if (!r) {
        ecm_pg_check_broken(pg);
        return -1;
    }
    const char *n_rows = PQcmdTuples(r);
    int rc = n_rows[0] != '0' && n_rows[0] != '\0';
    PQclear(r);
    return rc;
}

int dbx_claim_renew(ecm_pg *pg, long long id, const char *owner, int lease_s)
{
    char idt[24], lease[24];
    (void)snprintf(idt, sizeof(idt), "%lld", id);
    (void)snprintf(lease, sizeof(lease), "%d", lease_s);
    const char *params[] = {idt, owner, lease};
    return owned_cmd(pg,
                     "UPDATE drop_files SET lease_until = now() + make_interval(secs => $3::int) "
                     "WHERE id = $1 AND owner = $2 AND state IN ('claimed', 'uploading')",
                     3, params);
}

int dbx_claim_set_upload(ecm_pg *pg, long long id, const char *owner, long long upload_id)
{
    char idt[24], up[24];
    (void)snprintf(idt, sizeof(idt), "%lld", id);
    (void)snprintf(up, sizeof(up), "%lld", upload_id);
    const char *params[] = {idt, owner, up};
    return owned_cmd(pg,
                     "UPDATE drop_files SET state = 'uploading', upload_id = $3 "
                     "WHERE id = $1 AND owner = $2 AND state IN ('claimed', 'uploading')",
                     3, params);
}

int dbx_claim_finish(ecm_pg *pg, long long id, const char *owner, int failed, long long upload_id,
                     const char *reason)
{
    char idt[24], up[24];
    (void)snprintf(idt, sizeof(idt), "%lld", id);
    (void)snprintf(up, sizeof(up), "%lld", upload_id);
    const char *params[] = {idt, owner, failed ? "failed" : "archived", upload_id > 0 ? up : NULL,
                            reason && *reason ? reason : NULL};
    return owned_cmd(pg,
                     "UPDATE drop_files SET state = $3, upload_id = coalesce($4, upload_id), "
                     "reason = $5, owner = NULL, lease_until = NULL, finished_at = now() "
                     "WHERE id = $1 AND owner = $2 AND state IN ('claimed', 'uploading')",
                     5, params);
}

int dbx_claim_release(ecm_pg *pg, long long id, const char *owner)
{
    char idt[24];
    (void)snprintf(idt, sizeof(idt), "%lld", id);
    const char *params[] = {idt, owner};
    return owned_cmd(pg,
                     "UPDATE drop_files SET lease_until = now() - interval '1 millisecond' "
                     "WHERE id = $1 AND owner = $2 AND state IN ('claimed', 'uploading')",
                     2, params);
}

int dbx_claim_moved(ecm_pg *pg, long long id, const char *moved_to)
{
    char idt[24];
    (void)snprintf(idt, sizeof(idt), "%lld", id);
    const char *params[] = {idt, moved_to};
    int rc = owned_cmd(pg,
                       "UPDATE drop_files SET moved_at = now(), moved_to = $2 "
                       "WHERE id = $1 AND state IN ('archived', 'failed') AND moved_at IS NULL",
                       2, params);
    return rc < 0 ? -1 : 0;
}

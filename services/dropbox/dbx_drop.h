/* The drop folder's work: one scan finds the complete files (dbx_name,
 * dbx_settle), claims each (dbx_claim), streams it to the gateway as an
 * upload or resumes the upload a dead claimant left (dbx_api), and moves it
 * to the archive or failed folder once its row says so (dbx_move).
 *
 * Layout and naming: dbx_name.h. One thread. */
#ifndef DBX_DROP_H
#define DBX_DROP_H

#include <signal.h>

#include "dbx_api.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"

typedef struct {
    const char *dir;         /* the drop folder */
    const char *archive_dir; /* done files, "<upload id>_<name>" */
    const char *failed_dir;  /* failed files, with "<name>.reason.txt" */
    const char *api_url;     /* the gateway, for report URLs in reason files */
    const char *owner;       /* this process's claim owner identity */
    int lease_s;             /* claim lease, renewed while a file streams */
    long long settle_ms;     /* unchanged this long = complete (0: at once) */
    long long max_bytes;     /* the gateway's upload limit: bigger files fail */
    ecm_metrics *metrics;
    volatile sig_atomic_t *stop;
} dbx_drop_config;

typedef struct dbx_drop dbx_drop;

/* The drop folder's worker over pg and api (both kept, not owned); cfg's
 * strings must outlive it. NULL when out of memory. */
dbx_drop *dbx_drop_new(const dbx_drop_config *cfg, ecm_pg *pg, dbx_api *api)
    __attribute__((warn_unused_result));
void dbx_drop_destroy(dbx_drop *d); /* NULL: no-op */

/* One scan of the folder at now_ms (monotonic clock): every complete file is
 * handled (uploaded, resumed, or moved) before it returns, unless a stop is
 * asked for, which cuts the file in hand and gives its claim up (another
 * replica, or the next start, resumes its upload). Returns 0, 1 when a
 * transient fault (gateway or database) is worth a longer wait before the
 * next scan, or -1 when the folder cannot be read (logged). */
int dbx_drop_scan(dbx_drop *d, int64_t now_ms) __attribute__((warn_unused_result));

#endif

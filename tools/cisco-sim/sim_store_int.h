/* Private to the sim_store*.c files: the store's struct and the helpers
 * they share. Not for other modules. */
#ifndef SIM_STORE_INT_H
#define SIM_STORE_INT_H

#include <stddef.h>

#include "ecm_pg.h"
#include "ecm_pgarray.h"
#include "sim_store.h"

/* Bound on one array parameter: a request body is bounded far below this. */
#define STORE_ARRAY_MAX ((size_t)256 * 1024 * 1024)
/* Longest SQL text built at run time (the dialing-list statements). */
#define STORE_SQL_MAX 8192

struct sim_store {
    ecm_pg_pool *pool;
};

/* Rolls back and drops a broken connection so the next use reconnects. */
void store_abort(ecm_pg *pg);
/* Starts n array literals, each under STORE_ARRAY_MAX. */
void store_arrays_begin(ecm_pgarr *cols, int n);
/* Closes n literals into lits. Returns 0, or -1 when one failed to build. */
int store_arrays_finish(ecm_pgarr *cols, int n, const char **lits)
    __attribute__((warn_unused_result));
void store_arrays_destroy(ecm_pgarr *cols, int n);
/* The integer in a result cell; 0 when it is not one. */
long long store_ll(const PGresult *res, int row, int col);
/* Copies src (NULL: "") into dst, truncating. */
void store_copy_field(char *dst, size_t dst_size, const char *src);
/* Appends printf text to sql (a buffer of STORE_SQL_MAX, NUL-terminated).
 * Returns 0, or -1 when it does not fit (sql is then not to be used). */
int store_sql_add(char *sql, const char *fmt, ...) __attribute__((format(printf, 2, 3)))
__attribute__((warn_unused_result));
/* Creates DL_<campaign_id>_1 and its AccountNumber index if missing.
 * Returns 0 or -1. */
int store_ucce_dl_create(ecm_pg *pg, int campaign_id) __attribute__((warn_unused_result));
/* Upserts campaign (system, id), locking its row to the transaction's end.
 * Returns 0 or -1. */
int store_campaign_lock(ecm_pg *pg, const char *system, int campaign_id, const char *name)
    __attribute__((warn_unused_result));

/* The Logger's now, the business clock (ecm_clock_now_ms()), as decimal
 * milliseconds. Can't fail. */
void store_logger_now_ms(char out[24]);

#endif

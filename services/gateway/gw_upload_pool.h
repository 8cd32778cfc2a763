/* A batch of a contact upload validated on a few threads: contiguous slices
 * of its rows, one a worker, the request's thread taking the first; helper
 * threads come from the process's budget (gw_upload_limits), shared by all
 * uploads. Rows keep their order: row i's result is b->res[i]. */
#ifndef GW_UPLOAD_POOL_H
#define GW_UPLOAD_POOL_H

#include "gw_app.h"
#include "gw_upload_state.h"

/* Validates every row of b with u's header and rules into b->res and
 * b->out. Returns 0, or -1 when out of memory. */
int gw_upload_pool_validate(gw_upload *u, gw_upload_batch *b) __attribute__((warn_unused_result));

/* Sets the threads of u's next batch from the last one's pace: b took
 * validate_ms on b->threads threads, then the request's thread waited
 * waited_ms for the loader's batch before it. One thread fewer when the
 * wait would still cover the longer validation; one more (up to nworkers)
 * when the loader was (nearly) waiting for validation instead. Can't fail. */
void gw_upload_pool_pace(gw_upload *u, const gw_upload_batch *b, int64_t waited_ms);

/* Validating threads of an upload: app's upload_threads
 * (ECM_GATEWAY_UPLOAD_THREADS), else one a CPU and at least two; at most
 * GW_UPLOAD_THREADS_MAX. Can't fail. */
int gw_upload_pool_threads(const gw_app *app);

#endif

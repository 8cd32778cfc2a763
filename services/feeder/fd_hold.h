/* How much of a Cisco target's dialling the feeder keeps at Cisco: about
 * opt.hold_minutes of it, measured from the dial rate the feeder observes
 * (results per minute of the target over a sliding window), so that a
 * pause has little left to withdraw or, where it can't be withdrawn, to
 * dial. The hold is a bound on the target's attempts 'sending' + 'sent':
 *   hold = min(capacity, max(batch, rate_per_min x hold_minutes))
 * hold_minutes 0 turns it off (capacity only). Before any result of the
 * target is seen (rate 0) the hold is one batch: the dialer gets a batch,
 * its results give a rate, the hold grows with it.
 *
 * The rate: results (attempts.result_at) of the target within
 * opt.hold_window_s before its latest result, divided by the window. The
 * window ends at the latest result rather than now(): Cisco's clock and
 * ECM's need not agree, and a dialer that stopped dialling keeps its last
 * rate (no more is sent anyway while what it holds is not dialled). Read
 * from the DB at most once every FD_HOLD_REFRESH_MS per target. */
#ifndef FD_HOLD_H
#define FD_HOLD_H

#include "fd_feeder.h"

#define FD_HOLD_REFRESH_MS 5000

/* The arithmetic above. results: results seen in the window; window_s > 0.
 * Can't fail; never below 1 nor above capacity. */
long long fd_hold_limit(long long batch, long long capacity, long long hold_minutes,
                        long long results, long long window_s);

/* The hold of target (its "<kind>:<id>") now: the rate read from the DB
 * (or the cached one younger than FD_HOLD_REFRESH_MS), and the gauge
 * ecm_feeder_hold{target="..."} set. Call inside or outside a transaction
 * on ctx->pg. Returns the hold, or -1 (DB). */
long long fd_hold_of(fd_ctx *ctx, const char *target);

/* What target holds now, its attempts 'sending' and 'sent', or a bound of
 * it not above `enough` (a batch fits under the hold). An attempt enters
 * 'sending' only by the feeder's insert, which adds to the target's
 * feeder_dispatches row in the same transaction (fd_hold_recorded()): the
 * last exact count plus the attempts recorded since (by any replica) bounds
 * what the target holds. When that bound is above `enough` (or there is no
 * count yet) the attempts are counted again (metric
 * ecm_feeder_inflight_counts_total), with the row's value in the same
 * snapshot. Call inside the batch's transaction, holding the target's
 * advisory lock. Returns the count or the bound, or -1 (DB). */
long long fd_inflight_of(fd_ctx *ctx, const char *target, long long enough);

/* Adds n recorded attempts to target's feeder_dispatches row, in the batch's
 * transaction. Returns 0, or -1 (DB). */
int fd_hold_recorded(fd_ctx *ctx, const char *target, long long n);

/* Frees the cached rates and counts. Can't fail. */
void fd_hold_forget(fd_ctx *ctx);

#endif

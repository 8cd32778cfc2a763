/* One round of results applied set-based inside the caller's open
 * transaction: a handful of statements for the whole round (lock the
 * contacts, lock and record the attempts, the histories, the closes, the
 * waits, the ContactClosed events by COPY) instead of a dozen a result.
 * The decision itself stays per result, in C (ecm_decide), with the same
 * inputs as one result alone would have had.
 *
 * A round holds each contact at most once and a DNC result only alone
 * (its consent revoke may close other contacts): st_round_next() cuts a
 * batch into such rounds, so that applying the rounds one after another
 * gives what applying the results one by one gives. */
#ifndef ST_ROUND_H
#define ST_ROUND_H

#include <stddef.h>

#include "st_results.h"

/* The end (exclusive) of the round that starts at rs[from], within
 * rs[0..n): it stops before a contact already in the round and before a DNC
 * result, and a DNC result is a round of one. Returns a value > from when
 * from < n. Can't fail. */
size_t st_round_next(const st_result *rs, size_t from, size_t n);

/* Applies rs[0..n) (one round, see above) inside the caller's open
 * transaction on pg. Each result's status goes to st[i] (ST_APPLY_DECIDED,
 * ST_APPLY_RECORDED, ST_APPLY_DUPLICATE, or ST_APPLY_REJECT with the
 * reason in reasons[i]; rejects and duplicates write nothing) and what was
 * decided to infos[i]. Returns 0, or -1 when a statement failed or memory
 * ran out (reason says why, the SQLSTATE when there is one; the caller
 * rolls back). Never begins, commits or rolls back. */
int st_round_apply(ecm_pg *pg, const st_results_ctx *ctx, const st_result *rs, size_t n,
                   st_apply_status *st, st_apply_info *infos, char (*reasons)[ST_REASON_MAX],
                   char *reason, size_t reason_size) __attribute__((warn_unused_result));

#endif

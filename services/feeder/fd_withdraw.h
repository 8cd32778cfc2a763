/* Pause and stop that reach the dialer. The feeder polls the campaigns
 * table (every FD_WITHDRAW_EVERY_MS; a pause is a state change there, so
 * no event is needed and a feeder started after the pause still sees it):
 * for each Cisco target with attempts 'sent' of a paused or stopped
 * campaign not looked at yet, it
 *   1. takes back from the dialer what it has not dialled yet, where the
 *      interface allows (fd_writer_withdraw): ucce_db always deletes those
 *      attempts' rows still in the import table (not imported yet); uccx
 *      (DELETE …/contacts) and ucce_api (DELETE …/import) delete all of the
 *      Cisco campaign's undialled records, so only when no ECM campaign that
 *      wants its records dialled uses the target ("whole": every campaign
 *      naming it is paused or stopped, or neither active nor with attempts
 *      in flight there); otherwise nothing is asked of the dialer;
 *   2. then decides each attempt from what the dialer can tell (the
 *      reconciler's lookups, fd_writer_find): not there any more → the
 *      attempt is 'withdrawn' and its contact back to 'queued' (its attempts
 *      counter unchanged, counted_attempts untouched); there (dialled, or not
 *      withdrawable) → it stays 'sent' with withdraw_kept set, its result
 *      will come. A record dialled before the delete is not deleted, so it is
 *      found and stays: deleting first and deciding after never loses a dial.
 * With whole, every 'sent' attempt of the target is decided (the delete hit
 * them all). All of a target in one ECM transaction: the target's advisory
 * lock (the dispatcher's, so no batch is taken meanwhile; a replica that
 * does not get it leaves the target to the one that did), the target's
 * campaign rows share-locked (a resume waits for the withdrawal to end) and
 * the attempts and their contacts locked (SKIP LOCKED: rows a result is
 * being applied to are left to it). Idempotent: a pass that fails part way
 * rolls back and the next one deletes and decides again. */
#ifndef FD_WITHDRAW_H
#define FD_WITHDRAW_H

#include <stddef.h>

#include "fd_feeder.h"

#define FD_WITHDRAW_EVERY_MS 1000

/* One pass over every target with attempts to withdraw. *withdrawn and
 * *kept (may be NULL) get the counts. Returns 0, -1 (DB) or -2 (a dialer
 * failed for some target; the others are still done). */
int fd_withdraw_run(fd_ctx *ctx, size_t *withdrawn, size_t *kept)
    __attribute__((warn_unused_result));

/* The same for one target ("<kind>:<id>"); its counts are added to
 * *withdrawn and *kept (may be NULL). A kind without a writer is skipped (0). Returns 0, -1 (DB,
 * malformed target) or -2 (the dialer did not answer the delete or the lookup: nothing decided,
 * tried again). */
int fd_withdraw_target(fd_ctx *ctx, const char *target, size_t *withdrawn, size_t *kept)
    __attribute__((warn_unused_result));

#endif

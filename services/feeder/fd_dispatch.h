/* DB -> Cisco: moves queued contacts of active voice campaigns to their
 * dialer (the writer of the campaign's cisco_kind, fd_writer.h) by
 * capacity. Attempts are recorded 'sending' and committed before the POST,
 * and marked 'sent' (with their ContactDispatched events) only after the
 * dialer accepted them; what fails stays 'sending' for the reconciler.
 *
 * Every contact taken goes through the dispatch gate (ecm_gate) in the same
 * transaction: a number on a DNC list is skipped (all listed: closed DNC),
 * a contact outside its calling window waits for the next opening, one past
 * the campaign's end_at is closed EXPIRED; only the others are recorded, on
 * the number the gate picked, with dispatched_at = business time.
 *
 * Pausing: contacts are taken with their campaign row share-locked and its
 * state 'active' checked in the same statement, so a pause either waits for
 * the batch being taken to commit or commits first and the batch takes
 * nothing. A batch recorded before the pause may still be handed over (or
 * re-handed over by the reconciler) after it: it was taken while the campaign
 * was active. What the dialer holds then is bounded by the hold (about
 * opt.hold_minutes of its dialling, fd_hold.h) and withdrawn where the
 * interface allows (fd_withdraw.h). */
#ifndef FD_DISPATCH_H
#define FD_DISPATCH_H

#include <stddef.h>

#include "fd_feeder.h"

/* One pass over every Cisco target (of a configured kind) with queued
 * contacts: for each, at most one batch of min(hold - inflight, batch)
 * (the hold: fd_hold.h, at most opt.capacity)
 * contacts. *dispatched (may be NULL) gets the number of attempts marked
 * 'sent' (the dialer accepted them); *full is set to 1 when some target had
 * a whole batch (more is probably waiting). Returns 0, -1 when the DB
 * failed, or -2 when a dialer did not take a batch (the other targets of
 * that kind are skipped this pass); the caller backs off.
 *
 * A batch whose hand-over failed because the dialer was unavailable (UCCX
 * or the Outbound API down or answering 503, the Logger unreachable) stays
 * 'sending' and is remembered in ctx: its target takes no new contacts
 * until the batch is reconciled (what the dialer has is marked 'sent', only
 * the rest is handed over again). That is tried at the start of each pass:
 * at once when the dialer answered or was never reached, and only
 * opt.reconcile_after_s after the hand-over began when it timed out (the
 * dialer may still be taking it). So while a dialer is down one batch a
 * target waits, never more. */
int fd_dispatch_tick(fd_ctx *ctx, size_t *dispatched, int *full)
    __attribute__((warn_unused_result));

/* The same for one target ("<kind>:<cisco_campaign_id>"). A kind without a
 * writer is skipped (0). Returns 0, -1 (DB) or -2 (the dialer). */
int fd_dispatch_target(fd_ctx *ctx, fd_kind kind, const char *cisco_campaign_id, size_t *dispatched,
                       int *full) __attribute__((warn_unused_result));

/* Forgets the batches remembered in ctx (they stay 'sending' in the DB for
 * the reconciler) and frees them. Call before ctx goes away. Can't fail. */
void fd_dispatch_forget(fd_ctx *ctx);

#endif

/* Attempts left 'sending' (a crash, a timeout, a refused POST) are
 * reconciled, never re-sent blindly: the feeder asks the target's writer
 * (fd_writer_find) which of them the dialer has, from everything it can
 * tell (its pending list and its records of calls made); what it has is
 * marked 'sent', only what is missing is handed over again. A source that
 * could not be read defers the re-send (a list we could not read never
 * passes for an empty one). Targets of a kind without a writer are left
 * 'sending'. */
#ifndef FD_RECONCILE_H
#define FD_RECONCILE_H

#include <stddef.h>

#include "fd_feeder.h"
#include "fd_uccx.h"

/* The decision: present[i] = 1 when accounts[i] is in the list, else 0.
 * Returns how many are present. Can't fail. */
size_t fd_reconcile_partition(const fd_uccx_list *list, const char *const *accounts, size_t n,
                              int *present);

/* Reconciles every Cisco target with attempts 'sending' for longer than
 * opt.reconcile_after_s. The attempts of a target stay locked (FOR UPDATE
 * SKIP LOCKED) while the dialer is asked, so replicas don't reconcile the same rows.
 * Missing attempts of a campaign that is no longer active are left
 * 'sending' (nothing is dispatched for it). So are all missing attempts
 * while the dialer has answered for less than opt.reconcile_after_s since a
 * request it may still carry out (fd_uccx_answering_ms): re-sent later.
 * *present / *resent (may be NULL) get the counts. Returns 0, or -1 when the
 * DB or the dialer failed or a re-send was deferred for a target (the others are
 * still done). */
int fd_reconcile_run(fd_ctx *ctx, size_t *present, size_t *resent)
    __attribute__((warn_unused_result));

/* The same for the named attempts of one target ("<kind>:<id>") still
 * 'sending', whatever their age: for a batch whose POST is known to be over
 * (the dialer answered, was never reached, or the caller waited long enough), so
 * that no POST of it can still be under way. Rows another replica holds are
 * skipped. Returns 0 when the list was read and every missing attempt of an
 * active campaign re-sent and marked, -1 (DB, or a malformed target) or -2
 * (the dialer did not answer the list, refused a re-send, or has not answered long
 * enough yet for missing attempts to be re-sent; what it has is marked
 * 'sent' all the same). */
int fd_reconcile_accounts(fd_ctx *ctx, const char *target, const char *const *accounts, size_t n,
                          size_t *present, size_t *resent) __attribute__((warn_unused_result));

#endif

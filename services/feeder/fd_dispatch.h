/* DB -> UCCX: moves queued contacts of active voice campaigns to UCCX by
 * capacity. Attempts are recorded 'sending' and committed before the POST,
 * and marked 'sent' (with their ContactDispatched events) only after UCCX
 * accepted them; what fails stays 'sending' for the reconciler. */
#ifndef FD_DISPATCH_H
#define FD_DISPATCH_H

#include <stddef.h>

#include "fd_feeder.h"

/* One pass over every UCCX target with queued contacts: for each, at most
 * one batch of min(capacity - inflight, batch) contacts. *dispatched (may be
 * NULL) gets the number of attempts UCCX accepted; *full is set to 1 when
 * some target had a whole batch (more is probably waiting). Returns 0, -1
 * when the DB failed, or -2 when UCCX did not take a batch (the pass stops
 * there); the caller backs off. */
int fd_dispatch_tick(fd_ctx *ctx, size_t *dispatched, int *full);

/* The same for one Cisco campaign id ("uccx:<id>" is the target). Returns
 * 0, -1 (DB) or -2 (UCCX). */
int fd_dispatch_target(fd_ctx *ctx, const char *cisco_campaign_id, size_t *dispatched, int *full);

#endif

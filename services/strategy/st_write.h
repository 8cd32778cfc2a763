/* The decisions of a round written set-based (st_round.h): one UPDATE for
 * the contacts that close, their ContactClosed events by one COPY into the
 * outbox, one UPDATE for the contacts that wait for a retry. */
#ifndef ST_WRITE_H
#define ST_WRITE_H

#include <stddef.h>

#include "ecm_pg.h"
#include "st_item.h"

/* Writes the decision (it->dec) of every item with current set, inside the
 * caller's transaction; sets it->personal for a wait flagged for a personal
 * callback. Returns 0, or -1 when a statement fails or memory runs out (the
 * caller rolls back). */
int st_write_decisions(ecm_pg *pg, const st_results_ctx *ctx, st_item *items, size_t n)
    __attribute__((warn_unused_result));

#endif

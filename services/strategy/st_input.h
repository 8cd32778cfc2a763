/* The inputs of the strategy's decision for the results of a round
 * (st_round.h): from the locked contact rows, from the contacts' earlier
 * attempts (one statement for all the round's contacts) and from the
 * campaigns' windows and contact rules. */
#ifndef ST_INPUT_H
#define ST_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "ecm_pg.h"
#include "st_item.h"

/* it->in from it->r and row it->row of the locked contacts k at business
 * time now_ms; sets it->history when the decision needs the history (most
 * closes don't). Can't fail. */
void st_input_base(st_item *it, const PGresult *k, int64_t now_ms);

/* The histories of the items with current and history set, one statement
 * each for all: earlier attempts with the outcome, in all and on the
 * dialled number, and per channel, in the round of the contact's attempts;
 * the business dispatch times of the last days. Inside the caller's
 * transaction. Returns 0, or -1 when a statement fails or memory runs out
 * (the caller rolls back). */
int st_input_history(ecm_pg *pg, st_item *items, size_t n, int64_t now_ms)
    __attribute__((warn_unused_result));

/* For one item with history: the calling window and zones, the rule's
 * channel switch (a statement only when it switches to sms) and the
 * contact rules at rules generation (ctx->rules; NULL: none). Returns 0, or
 * -1 when a statement fails (the caller rolls back). */
int st_input_calendar(ecm_pg *pg, const st_results_ctx *ctx, st_item *it, const PGresult *k,
                      int64_t generation) __attribute__((warn_unused_result));

#endif

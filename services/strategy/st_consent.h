/* An agent's "do not call" into the consent ledger: a call result with
 * outcome DNC (UCCE CallResult 26, UCCX 5: the customer asked never to be
 * called again) revokes consent for the attempt's number on every channel
 * and every campaign (db/017: source agent_disposition, actor "strategy",
 * at the result's business time), in the transaction that records the
 * result, and closes the open contacts that number leaves with nothing to
 * contact them on, as a DNC entry added by the API does. */
#ifndef ST_CONSENT_H
#define ST_CONSENT_H

#include "ecm_pg.h"
#include "st_results.h"

/* Inside the caller's open transaction on pg, after r's attempt row has its
 * outcome: when r's outcome is DNC and its attempt was a call (not an SMS),
 * appends the revoke for the attempt's number and closes the contacts it
 * blocks, r's own contact excepted (its result decides it), with
 * ContactClosed events on ctx->topic_closed. Any other result does
 * nothing. Returns 0, or -1 on a database failure (the caller rolls back). */
int st_consent_on_result(ecm_pg *pg, const st_results_ctx *ctx, const st_result *r)
    __attribute__((warn_unused_result));

#endif

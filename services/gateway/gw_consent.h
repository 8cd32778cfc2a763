/* The consent API over the consent ledger (db/017, lib/rules/ecm_dnc.h):
 *
 *   GET  /api/v1/consent/{phone}  viewer+: the number's ledger entries
 *        (history, oldest first) and its current state per channel (voice,
 *        sms), on the global list and on every campaign it has entries for.
 *   POST /api/v1/consent          an entry {phone, scope, action,
 *        campaign_id?, reason?, region?}; supervisor+ for a revoke, admin
 *        for a grant. Source api, actor the caller's key id, at the
 *        business time now; audited (consent.revoke / consent.grant). A
 *        revoke closes the open contacts of the campaigns on the channels it
 *        covers that it leaves with no number (as a DNC entry does). Bad
 *        input answers 422 naming the field.
 *
 * The /api/v1/dnc routes (gw_dnc.h) stay, written on the same ledger. */
#ifndef GW_CONSENT_H
#define GW_CONSENT_H

#include "ecm_http.h"
#include "gw_app.h"

/* Adds the consent routes to h; app must outlive it. Returns 0, or -1 when
 * the route table is full. */
int gw_consent_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

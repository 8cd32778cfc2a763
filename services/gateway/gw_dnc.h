/* The do-not-call list, minimal API (issue 5 grows it):
 *   POST   /api/v1/dnc              {"phone": "...", "campaign_id": 12?, "reason": "..."?}
 *   DELETE /api/v1/dnc/{phone}?campaign_id=12
 *   GET    /api/v1/dnc?phone=...&campaign_id=..&limit=..&cursor=..
 * No campaign_id is the global list, which blocks every campaign, voice
 * included. Numbers are compared by their digits (dnc.phone_key), so
 * "+1 555-010-0001" and "15550100001" are one entry. */
#ifndef GW_DNC_H
#define GW_DNC_H

#include <stddef.h>

#include "ecm_http.h"
#include "gw_app.h"

/* The digits of a phone number as written by a person, the key the DNC
 * list compares. Returns 0, or -1 when raw is not a phone number (see
 * gw_phone_normalize). Pure. */
int gw_dnc_phone_key(const char *raw, char *out, size_t out_size);

/* Adds the DNC routes to h. Returns 0, or -1 when the route table is full. */
int gw_dnc_register(ecm_http *h, const gw_app *app);

#endif

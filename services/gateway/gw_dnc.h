/* The do-not-call lists: the global one, which blocks every campaign, and
 * one per campaign.
 *   POST   /api/v1/dnc                      {"phone", "reason"?, "region"?}
 *   GET    /api/v1/dnc?phone=&limit=&cursor=  the global list (scope=all: every list)
 *   GET    /api/v1/dnc/{phone}
 *   DELETE /api/v1/dnc/{phone}
 *   POST   /api/v1/campaigns/{id}/dnc       {"phone", "reason"?, "region"?}
 *   GET    /api/v1/campaigns/{id}/dnc?phone=&limit=&cursor=
 *   GET    /api/v1/campaigns/{id}/dnc/{phone}
 *   DELETE /api/v1/campaigns/{id}/dnc/{phone}
 * (/api/v1/dnc also takes campaign_id in the body or the query, the first
 * form of this API.) Numbers are stored E.164, normalised by libphonenumber;
 * a number without '+' is read in the campaign's region, or for the global
 * list in the gateway's default region (ECM_DEFAULT_REGION), unless the body
 * names "region". Adding an entry closes, in the same transaction, the open
 * contacts it leaves with no number to call (lib/ecm_dnc.h), and the answer
 * says how many ("contacts_closed"). Removing one reopens nothing. */
#ifndef GW_DNC_H
#define GW_DNC_H

#include <stddef.h>

#include "ecm_http.h"
#include "gw_app.h"

/* raw as written by a person, read in region (ISO alpha-2; numbers with '+'
 * need none), to E.164 in e164. Returns 0, or -1 with the reason
 * ("contains letters", "invalid for region US", ...) in reason. */
int gw_dnc_normalize(const char *raw, const char *region, char *e164, size_t e164_size,
                     char *reason, size_t reason_size) __attribute__((warn_unused_result));

/* Adds the DNC routes to h. Returns 0, or -1 when the route table is full. */
int gw_dnc_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

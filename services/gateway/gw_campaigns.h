/* Campaigns: POST/GET /api/v1/campaigns, GET /api/v1/campaigns/{id} with
 * contact and attempt counts, PATCH /api/v1/campaigns/{id} (edit; updated_at
 * moves, which is what dispatchers' caches of campaign rules key on), and
 * the state changes activate / resume / pause / stop, each written with its
 * CampaignChanged event in one transaction (outbox). A campaign whose end_at
 * has passed (business clock) is not activated: 409, PATCH end_at first.
 * The validation, the PATCH rules and the state machine are pure functions
 * in gw_campaign_check. */
#ifndef GW_CAMPAIGNS_H
#define GW_CAMPAIGNS_H

#include "ecm_http.h"
#include "gw_app.h"
#include "gw_campaign_check.h"

/* Adds the campaign routes to h. Returns 0, or -1 when the route table is
 * full. */
int gw_campaigns_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

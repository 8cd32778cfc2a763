/* Recycling through the API (issue 17): re-opening closed contacts of a
 * campaign for another round under its strategy, without a new upload, and
 * the campaign's recycle schedule, which the strategy service runs
 * (services/strategy/st_recycle.c). The work itself is lib/dispatch's
 * ecm_recycle.
 *
 *   POST   /api/v1/campaigns/{id}/recycle           supervisor
 *     {"outcomes": ["NO_ANSWER", "BUSY"], "older_than": "3d",
 *      "max_rounds": 2, "dry_run": true}
 *     older_than: a whole number and one unit, d, h, m or s ("3d", "72h"),
 *     measured on the business clock against the contact's close time.
 *     dry_run (default false): 200 with the counts by outcome, nothing
 *     changed, nothing audited. Otherwise 200 with the contacts re-opened
 *     and the recycle id, audited (campaign.recycle). 422 names the field
 *     (DNC is never recycled); 404 no campaign; 409 a draft, stopped or
 *     expired campaign, or one past its end_at.
 *   GET    /api/v1/campaigns/{id}/recycle-schedule  viewer (404 when none)
 *   PUT    /api/v1/campaigns/{id}/recycle-schedule  supervisor, audited
 *     {"outcomes": [...], "older_than": "3d", "max_rounds": 1,
 *      "enabled": true}
 *   DELETE /api/v1/campaigns/{id}/recycle-schedule  supervisor, audited, 204
 */
#ifndef GW_RECYCLE_H
#define GW_RECYCLE_H

#include "ecm_http.h"
#include "gw_app.h"

/* Body cap of the recycle routes. */
#define GW_RECYCLE_BODY_MAX 4096

/* Adds the routes above to h. Returns 0, or -1 when the route table is
 * full. */
int gw_recycle_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

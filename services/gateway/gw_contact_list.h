/* Reading a campaign's contacts and its figures:
 *
 * GET /api/v1/campaigns/{id}/contacts — newest first, paged by cursor,
 *   filtered by ?state, ?outcome, ?phone (any way a person writes it: read
 *   as the campaign's region reads it, matched against every number of the
 *   contact), ?account_number and ?upload_id.
 * GET /api/v1/campaigns/{id}/stats — counts over time for charts
 *   (?bucket=minute over ?minutes back, default 60, or ?bucket=hour over
 *   ?hours back, default 48): attempts dispatched and results with their
 *   outcomes per bucket, empty buckets included; and the current rates
 *   (attempts and results in the last minute and the last five). */
#ifndef GW_CONTACT_LIST_H
#define GW_CONTACT_LIST_H

#include "ecm_http.h"
#include "gw_app.h"

#define GW_CONTACT_LIST_DEFAULT 100
#define GW_CONTACT_LIST_MAX 1000

/* Adds both routes. Returns 0, or -1 when the route table is full. */
int gw_contact_list_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

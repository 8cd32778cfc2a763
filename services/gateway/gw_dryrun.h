/* A strategy's dry run over HTTP (viewer; changes nothing, so no audit row):
 *   POST /api/v1/strategies/{id}/dry-run   a saved strategy
 *   POST /api/v1/strategies/dry-run        an unsaved one, {"strategy": {...}}
 *                                          as for POST /api/v1/strategies
 * Body: {"campaign_id" (optional: its window, legal hours, rules, zone,
 * region, channel, end_at), "time_zone" (the sample contact's zone; default
 * the campaign's), "region" (its jurisdiction, "US-FL"; optional),
 * "phones" (optional: the numbers' types, ["mobile", "fixed_line"];
 * default one mobile), "channel" ("voice"|"sms"; default the campaign's,
 * else voice), "start_at" (RFC 3339; default business now), "outcomes"
 * (1..100 outcome names)}. The answer lists the projected attempts
 * (lib/dispatch/ecm_dryrun.h), each with its time in UTC and in the
 * contact's zone, the outcome assumed and the decision after it. */
#ifndef GW_DRYRUN_H
#define GW_DRYRUN_H

#include <stddef.h>

#include <jansson.h>

#include "ecm_dryrun.h"
#include "ecm_http.h"
#include "gw_app.h"

/* The answer for out as JSON (a new reference; NULL when out of memory):
 * {"dispatched", "first_attempt": {"asked_at", "moved"}, "attempts": [...],
 * "outcomes_unused"}. noutcomes is how many outcomes were asked for. */
json_t *gw_dryrun_json(const ecm_dryrun_out *out, size_t noutcomes);

/* Adds the dry-run routes to h. Returns 0, or -1 when the route table is
 * full. */
int gw_dryrun_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

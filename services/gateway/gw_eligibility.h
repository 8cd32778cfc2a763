/* GET /api/v1/contacts/{id}/eligibility (viewer): why the contact is, or is
 * not, being contacted now, at the business clock's now. The answer is
 * ecm_eligibility's (lib/rules/ecm_eligibility.h), which judges the contact
 * with the dispatchers' own gate, so it cannot disagree with what they do;
 * its JSON is api/openapi.yaml's Eligibility. 404 for a contact that does
 * not exist, 503 when the database cannot be read.
 *
 * The voice dispatcher (the feeder) judges with a margin, its
 * ECM_FEEDER_WINDOW_MARGIN_S: a call is handed over only when the window
 * stays open that much longer. The gateway reads the same variable
 * (app->voice_margin_ms; GW_ELIGIBILITY_VOICE_MARGIN_S, the feeder's
 * default, when unset); SMS is judged with none, as the sms service. */
#ifndef GW_ELIGIBILITY_H
#define GW_ELIGIBILITY_H

#include "ecm_http.h"
#include "gw_app.h"

/* The feeder's ECM_FEEDER_WINDOW_MARGIN_S default. */
#define GW_ELIGIBILITY_VOICE_MARGIN_S 600

/* Adds GET /api/v1/contacts/{id}/eligibility to h. Returns 0, or -1 when
 * the route table is full. */
int gw_eligibility_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

/* Contacts one at a time: GET /api/v1/contacts/{id} (the contact and its
 * attempts) and POST /api/v1/contacts/{id}/callback, by which the agent
 * desktop or CRM that took a customer's "call me back at 15:00" tells ECM
 * the time; Cisco's Dialer_Detail says that a callback was requested, never
 * when.
 *
 * POST body {"at": "<RFC 3339>"}; "at" must be after the business clock's
 * now (ecm_clock_now_ms) and before the campaign's end_at when it has one,
 * else 422 naming the member. A closed contact, or one of a campaign that
 * no longer dispatches (stopped, completed, expired), answers 409. In one
 * transaction the contact is locked (FOR UPDATE, so a dispatcher holding it
 * is waited for and its outcome seen) and:
 *  - pending, queued, waiting, retry_due (not out with the dialer): becomes
 *    'waiting' with next_attempt_at = callback_at = at. The dispatchers take
 *    only 'queued' contacts and intake queues only from 'pending' (uploaded)
 *    or 'retry_due' (retry), so an event already on its way for it changes
 *    nothing; the strategy's scheduler makes it due again at "at".
 *  - dispatched (an attempt is out): only callback_at is stored; the
 *    strategy uses it when that attempt's result arrives (st_results.h).
 * The calling window still applies at dispatch: a callback asked for
 * outside the contact's window (or legal hours) waits for the next opening.
 * Answer 200 {"id", "state", "callback_at", "next_attempt_at"}. */
#ifndef GW_CONTACTS_H
#define GW_CONTACTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ecm_http.h"
#include "gw_app.h"

/* What a callback request does to a contact in a given state. */
typedef enum {
    GW_CALLBACK_RESCHEDULE, /* not out with the dialer: waiting until the time */
    GW_CALLBACK_STORE,      /* an attempt is out: kept for its result */
    GW_CALLBACK_REFUSE,     /* closed (or a state this code does not know): 409 */
} gw_callback_action;

/* The action for contacts.state state. Can't fail; an unknown state or NULL
 * is GW_CALLBACK_REFUSE. */
gw_callback_action gw_callback_action_for(const char *state);

/* Checks a callback body against the business time now_ms. Returns 0 with
 * *at_ms, or -1 with *field ("body" or "at") and a one-line reason: not an
 * object, a member other than "at", "at" missing, not a string, not an
 * instant ecm_clock_parse_time reads (RFC 3339 with an offset), or not
 * after now_ms. Whether it is before the campaign's end_at is the caller's
 * to check (it needs the campaign). */
int gw_callback_parse(const json_t *body, int64_t now_ms, int64_t *at_ms, const char **field,
                      char *reason, size_t reason_size) __attribute__((warn_unused_result));

/* Adds GET /api/v1/contacts/{id} and POST /api/v1/contacts/{id}/callback
 * to h. Returns 0, or -1 when the route table is full. */
int gw_contacts_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

/* Do-not-call: what happens to contacts when a number joins a DNC list.
 *
 * Table dnc holds E.164 numbers; phone_key is their digits, and a contact's
 * number is on a list when the digits of the number equal a phone_key of the
 * global list (campaign_id NULL) or of the contact's own campaign. A contact
 * that can no longer be contacted on any of its numbers is closed at once,
 * outcome DNC, so that nothing is ever dispatched to it again; a contact with
 * one number left off the lists stays open (the dispatcher skips the listed
 * numbers). Contacts already 'dispatched' are left alone: their attempt is
 * out, and the dispatcher checks DNC again before the next one. */
#ifndef ECM_DNC_H
#define ECM_DNC_H

#include <stddef.h>

#include <libpq-fe.h>

#include "ecm_pg.h"

/* Digits of a stored phone number ("+12125550100" -> "12125550100"), the
 * form dnc.phone_key holds. Returns 0, or -1 (out "" when out_size > 0) when
 * phone has no digit or out is too small. Pure. */
int ecm_dnc_phone_key(const char *phone, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* Inside the caller's open transaction on pg: closes (state closed, outcome
 * DNC, closed_at now) every contact in state pending, queued, waiting or
 * retry_due, of a campaign not yet finished (draft, active, paused), that
 * has a number whose digits are one of keys[0..n-1] and whose numbers are
 * now all on DNC (global list or its campaign's). campaign_id > 0 limits it
 * to that campaign (entries added to its list); 0 means any campaign (entries
 * added to the global list). Contacts are locked in id order, so concurrent
 * calls cannot deadlock each other. One ContactClosed (outcome DNC) per
 * closed contact goes into the outbox, topic topic_closed, key the contact
 * id, CloudEvents source source. Returns the number of contacts closed, or
 * -1 on a database failure (logged; the caller rolls back). n == 0 closes
 * nothing and returns 0. */
int ecm_dnc_close_blocked(ecm_pg *pg, const char *const *keys, size_t n, long long campaign_id,
                          const char *topic_closed, const char *source)
    __attribute__((warn_unused_result));

/* Inside the caller's open transaction on pg: one ContactClosed (outcome
 * DNC) into the outbox for each row of r, a result whose first three
 * columns are a closed contact's id, campaign id and attempts (RETURNING
 * id, campaign_id, attempts), topic topic_closed, key the contact id,
 * CloudEvents source source. Returns 0, or -1 on a database failure (the
 * caller rolls back). A result with no rows writes nothing and returns 0. */
int ecm_dnc_add_closed_events(ecm_pg *pg, const PGresult *r, const char *topic_closed,
                              const char *source) __attribute__((warn_unused_result));

#endif

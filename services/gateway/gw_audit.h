/* The audit log: one audit_log row for every change made through the API,
 * written by the handler in the transaction of the change, so that a change
 * and its row commit or roll back together. Rows cannot be changed or
 * removed (db/009: a trigger refuses UPDATE, DELETE and TRUNCATE).
 *
 * action names what happened, "<resource kind>.<verb>": campaign.create,
 * campaign.update, campaign.activate, upload.create, dnc.add, dnc.remove,
 * key.create, key.revoke, strategy.update, contact.callback, ...; resource
 * names what it happened to, "<kind>/<id>" ("campaign/12"). */
#ifndef GW_AUDIT_H
#define GW_AUDIT_H

#include <jansson.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"

/* Writes the row for req's change on pg (in the caller's transaction):
 * who (req's principal), from where, the route, action, resource and
 * summary (borrowed; NULL: {}). Returns 0, or -1 when the row was not
 * written: the caller rolls back and answers 503, so no change goes
 * unaudited. */
int gw_audit_add(ecm_pg *pg, ecm_http_req *req, const char *action, const char *resource,
                 const json_t *summary) __attribute__((warn_unused_result));

/* The same, with the resource as "<kind>/<id>". */
int gw_audit_add_id(ecm_pg *pg, ecm_http_req *req, const char *action, const char *kind,
                    long long id, const json_t *summary) __attribute__((warn_unused_result));

/* What changed from before to after (two JSON objects), member by member:
 * {"name": {"from": "A", "to": "B"}, ...}, members only in after with
 * "from": null. {} when nothing changed; NULL when out of memory. The
 * caller json_decref()s it. */
json_t *gw_audit_diff(const json_t *before, const json_t *after)
    __attribute__((warn_unused_result));

/* GET /api/v1/audit: newest first, paged; filters ?actor=<key id>,
 * ?action=, ?resource=, ?since= and ?until= (RFC 3339). Returns 0, or -1
 * when the route table is full. */
int gw_audit_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

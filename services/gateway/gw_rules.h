/* Rule sets: contact rules as data that a compliance officer reads, changes
 * and audits (issue 16; the tables are db/016_contact_rules.sql).
 *   GET    /api/v1/rule-sets?limit=..&cursor=..&jurisdiction=..  viewer+; id order,
 *          each set's summary: id, name, jurisdiction, description, shipped,
 *          rule_count, campaigns (how many use it), created_at, updated_at
 *   GET    /api/v1/rule-sets/{id}       viewer+; the summary and "rules", each
 *          with its id, in the shape of rules/<name>.json (gw_rule_check.h)
 *   POST   /api/v1/rule-sets            admin; 201 + Location
 *   PUT    /api/v1/rule-sets/{id}       admin; replaces the set and its rules
 *   DELETE /api/v1/rule-sets/{id}       admin; 204, 409 while a campaign uses it
 * A body that is not a rule set gets 422 naming the member ("rules[2].start");
 * a name another set has, 409. A shipped set (loaded from rules/ by a
 * migration) may be edited: it becomes shipped: false, so that a later
 * shipped update (a migration that loads the file again) leaves the
 * officer's version alone; the answer says so in "notice". Every change
 * writes one audit_log row in its transaction (rule_set.create with the
 * set, rule_set.update with what changed: members from/to, the rules
 * removed and added, rule_set.delete with what went);
 * the tables' triggers move rules_generation, which the dispatchers'
 * caches follow, so a change applies without a pause. */
#ifndef GW_RULES_H
#define GW_RULES_H

#include "ecm_http.h"
#include "gw_app.h"
#include "gw_rule_check.h"

/* The shipped set a campaign in the US gets when it is created without
 * "rule_sets" (the contract of issue 16). */
#define GW_RULES_DEFAULT_US_SET "US federal (TCPA)"

/* Adds the rule-set routes to h. Returns 0, or -1 when the route table is
 * full. */
int gw_rules_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

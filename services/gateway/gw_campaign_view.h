/* How a campaign reads in the API: the columns of its row, its JSON, and its
 * counts (contacts by state, closed contacts by outcome, attempts by
 * outcome), read from campaign_counts and campaign_count_deltas, which
 * triggers keep (db/026) so that a read costs the same however big the
 * campaign. */
#ifndef GW_CAMPAIGN_VIEW_H
#define GW_CAMPAIGN_VIEW_H

#include <jansson.h>
#include <libpq-fe.h>

#include "ecm_pg.h"
#include "gw_json.h"

/* clang-format off */
/* The rule sets campaign id picked, [{"id", "name"}] by name (bytewise, as
 * strcmp orders them), and its blackout dates [{"date", "reason"}] by date,
 * as JSON text. */
#define RULE_SETS_OF(id)                                                                           \
    "(SELECT coalesce(json_agg(json_build_object('id', rs.id, 'name', rs.name) "                   \
    "ORDER BY rs.name COLLATE \"C\"), '[]') FROM campaign_rule_sets p "                            \
    "JOIN rule_sets rs ON rs.id = p.rule_set_id WHERE p.campaign_id = " id ")::text"
#define BLACKOUTS_OF(id)                                                                           \
    "(SELECT coalesce(json_agg(json_build_object('date', b.day, 'reason', b.reason) "              \
    "ORDER BY b.day), '[]') FROM campaign_blackouts b WHERE b.campaign_id = " id ")::text"

#define CAMPAIGN_COLUMNS                                                                           \
    "c.id, c.name, c.channel, c.state, s.name, c.cisco_kind, c.cisco_campaign_id, c.region, "      \
    "c.time_zone, " GW_SQL_TIME("c.start_at") ", " GW_SQL_TIME("c.end_at") ", "                    \
    GW_SQL_TIME("c.created_at") ", " GW_SQL_TIME("c.updated_at") ", c.sms_template, "              \
    "c.sms_sender, c.sms_gateway, c.dlr_timeout_s, c.strategy_id, c.call_window::text, "          \
    "c.cisco_import_table, c.cisco_dialing_list, " RULE_SETS_OF("c.id") ", "                    \
    BLACKOUTS_OF("c.id") " "                                                                       \
    "FROM campaigns c JOIN strategies s ON s.id = c.strategy_id "
/* clang-format on */

/* The "cisco" member from columns kind, campaign id, import table and
 * dialing list at col, col + 1, ti and ti + 1 of row i; NULL when the row has
 * no Cisco target. */
json_t *gw_campaign_view_cisco_json(const PGresult *r, int i, int col, int ti);

/* The campaign of row i of r (CAMPAIGN_COLUMNS) with zero counts; NULL when
 * out of memory. */
json_t *gw_campaign_view_row_json(const PGresult *r, int i);

/* Fills the "counts" of every campaign in list (a JSON array of campaigns)
 * with one statement, which also folds their deltas into campaign_counts
 * (those no other reader is folding). Returns 0 or -1. */
int gw_campaign_view_fill_counts(ecm_pg *pg, json_t *list) __attribute__((warn_unused_result));

/* The campaign with its counts, or NULL with *missing = 1 when it doesn't
 * exist (0 on a DB failure). */
json_t *gw_campaign_view_load(ecm_pg *pg, long long id, int *missing);

/* Folds the deltas of every campaign into campaign_counts (those no other
 * process is folding), so that the deltas stay few while nobody reads.
 * Returns the deltas folded, or -1 on a DB failure. */
long long gw_campaign_view_fold(ecm_pg *pg);

#endif

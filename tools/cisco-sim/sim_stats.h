/* GET /sim/stats: the simulator's counters as JSON, for tests and demos.
 * Top level as before (received_rows, unique_accounts, duplicate_accounts,
 * duplicate_receipts, dialed, pending, imports, over_capacity_rejections,
 * by_call_result), plus phone_duplicates, "interfaces": {"uccx"|"ucce_api"|
 * "ucce_db": {received_rows, duplicate_accounts, dialed}} and "refusals":
 * {"<interface>": {"<reason>": n}}. No auth (not a Cisco route). */
#ifndef SIM_STATS_H
#define SIM_STATS_H

#include "ecm_http.h"
#include "sim_store.h"

/* Adds the route to h (before ecm_http_start); store must outlive h.
 * Returns 0 or -1 when h's route table is full. */
int sim_stats_add_route(ecm_http *h, sim_store *store) __attribute__((warn_unused_result));

#endif

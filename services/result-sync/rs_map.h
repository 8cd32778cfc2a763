/* Cisco CallResult code -> ECM outcome. The mapping is data: it is loaded
 * from the ECM DB table call_result_map (so a deployment can override a row
 * without a rebuild) and looked up by a pure function. */
#ifndef RS_MAP_H
#define RS_MAP_H

#include <stddef.h>

#include "ecm_event.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"

typedef struct rs_map rs_map;

typedef struct {
    int call_result;
    Ecm__V1__Outcome outcome;
    int counts_as_attempt; /* 0 or 1 */
} rs_map_entry;

/* Builds a map from n entries (copied; a later duplicate code replaces an
 * earlier one). Returns NULL on allocation failure. */
rs_map *rs_map_new(const rs_map_entry *entries, size_t n) __attribute__((warn_unused_result));

/* Source kinds of call_result_map.source_kind: the Cisco system whose code
 * set a reader sees. */
#define RS_MAP_KIND_UCCE "ucce" /* Dialer_Detail (UCCE/PCCE Outbound Option) */
#define RS_MAP_KIND_UCCX "uccx" /* db_cra dialinglist (UCCX Outbound) */

/* Loads the rows of call_result_map whose source_kind is kind (e.g.
 * RS_MAP_KIND_UCCE) from the ECM DB. A row whose outcome name is not an ECM
 * outcome is logged (warn) and left out, so that code maps like an unknown
 * one. Returns the map (empty for a kind without rows), or NULL (logged)
 * when the query failed. */
rs_map *rs_map_load(ecm_pg *pg, const char *kind) __attribute__((warn_unused_result));

void rs_map_destroy(rs_map *m);

/* Number of codes in the map. Can't fail. */
size_t rs_map_size(const rs_map *m);

/* Pure lookup: fills *outcome and *counts_as_attempt for call_result and
 * returns 1; for a code not in the map fills OUTCOME_NETWORK_ERROR and
 * counts_as_attempt = 1 and returns 0. Can't fail; m may be NULL (empty). */
int rs_map_lookup(const rs_map *m, int call_result, Ecm__V1__Outcome *outcome,
                  int *counts_as_attempt);

/* rs_map_lookup() for the sync path: an unknown code is also logged (warn)
 * and counted on unknown_counter (may be NULL). Returns what the lookup
 * returned. */
int rs_map_resolve(const rs_map *m, int call_result, ecm_metric *unknown_counter,
                   Ecm__V1__Outcome *outcome, int *counts_as_attempt);

#endif

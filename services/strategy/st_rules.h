/* What the campaign's contact rules need for a retry decision (ecm_decide.h,
 * step 8): the rules themselves from the per-thread cache at the current
 * generation, the contact's jurisdictions on its current number, the channel
 * and the earlier attempts in scope (lib/rules/ecm_history, not locked: the
 * dispatcher's gate, which does lock, judges again before anything goes).
 * The retry is placed where the dispatcher will find it allowed, so a capped
 * or quiet contact waits in the table instead of being taken, held and
 * written back. */
#ifndef ST_RULES_H
#define ST_RULES_H

#include <stdint.h>

#include "ecm_history.h"
#include "ecm_pg.h"
#include "ecm_rules.h"
#include "ecm_decide.h"

/* The contact's side of the rules, owned (st_rules_data_destroy). */
typedef struct {
    char *jur[ECM_RULES_MAX_JURISDICTIONS];
    int njur;
    ecm_history *history;
} st_rules_data;

/* The columns st_rules_of() reads, appended to the caller's select list
 * over "contacts k JOIN campaigns c": region, the current number's region,
 * subject key, the campaign's region and channel (not read: the caller
 * gives the next attempt's), the current number. */
#define ST_RULES_COLUMNS                                                                           \
    "k.region, k.phone_regions[k.phone_index + 1], k.subject_key, c.region, c.channel, "           \
    "k.phones[k.phone_index + 1]"
#define ST_RULES_NCOLS 6

/* Fills the rules fields of *calling for contact_id of campaign_id from row
 * row of k (ST_RULES_COLUMNS from column first_col) at business time now_ms,
 * for the channel of the contact's next attempt (channel: the calling rules
 * for voice, the texting rules for sms, whatever the campaign's own
 * channel; ecm_decide_next_channel() tells it): the rules (cache, NULL
 * cache: none) at generation (ecm_rules_generation(), read once by the
 * caller), jurisdictions and history kept in *data. Inside the
 * caller's transaction. Returns 0, or -1 when a statement fails (the caller
 * rolls back) or memory runs out. */
int st_rules_of(ecm_pg *pg, ecm_rules_cache *cache, int64_t generation, const PGresult *k, int row,
                int first_col, int64_t contact_id, int64_t campaign_id, int64_t now_ms,
                ecm_decide_channel channel, ecm_decide_calling *calling, st_rules_data *data)
    __attribute__((warn_unused_result));

/* Frees what data holds. Can't fail. */
void st_rules_data_destroy(st_rules_data *data);

#endif

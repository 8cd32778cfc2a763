/* One result on its way through a round (st_round.h): what the round
 * learnt about it and what was decided. Internal to the strategy's result
 * path (st_round.c, st_input.c, st_write.c). */
#ifndef ST_ITEM_H
#define ST_ITEM_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "ecm_decide.h"
#include "st_results.h"
#include "st_rules.h"

/* The columns of the locked contacts (st_round.c's SQL_LOCK_CONTACTS), in
 * order; ST_RULES_COLUMNS from K_RULES_FIRST, the result's index last. */
enum {
    K_STATE,
    K_ATTEMPTS,
    K_COUNTED,
    K_PHONE_INDEX,
    K_PHONE_COUNT,
    K_CAMPAIGN,
    K_END_AT_MS,
    K_MAX_ATTEMPTS,
    K_MAX_PER_DAY,
    K_RULE_ACTION,
    K_RULE_DELAY,
    K_RULE_MAX,
    K_RULE_NEXT_PHONE,
    K_CALL_WINDOW,
    K_START_AT_MS,
    K_VERSION,
    K_CAMPAIGN_TZ,
    K_CONTACT_TZ,
    K_PHONE_ZONES,
    K_CALLBACK_AT_MS,
    K_MAX_VOICE,
    K_MAX_SMS,
    K_RULE_SWITCH_CHANNEL,
    K_RULE_SWITCH_AFTER,
    K_ROUND_FIRST,
    K_ATTEMPT_CHANNEL,
    K_HAS_SMS,
    K_HAS_VOICE,
    K_RULES_FIRST, /* ST_RULES_COLUMNS */
    K_INDEX = K_RULES_FIRST + ST_RULES_NCOLS,
};

/* The contact's calling data for ecm_decide, valid until st_item_release(). */
typedef struct {
    json_t *phone_zones_json;
    const char **phone_zones;
    char *contact_tz, *campaign_tz;
} st_zones;

typedef struct {
    const st_result *r;
    char contact[24], attempt[16]; /* r's ids as statement parameters */
    const char *outcome;           /* r's outcome name */
    st_apply_status st;
    int row;         /* row of the locked contacts; -1: unknown contact */
    int withdrawn;   /* the feeder had withdrawn the attempt */
    char tid[32];    /* the locked attempt's row (ctid), for its record */
    int current;     /* the result decides its contact */
    int history;     /* the decision needs the history and the calendar */
    int round_first; /* contacts.round_first_attempt; -1: NULL */
    int64_t campaign_id;
    int contact_attempts;
    ecm_decide_in in;
    int64_t *day; /* in.counted_dispatch_ms */
    size_t day_cap;
    st_zones zones;
    st_rules_data rules;
    ecm_decide_out dec;
    int personal; /* waiting for a personal callback */
} st_item;

/* Frees what it holds (day, zones, rules). Can't fail. */
void st_item_release(st_item *it);

#endif

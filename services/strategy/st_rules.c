#include "st_rules.h"

#include <stdlib.h>
#include <string.h>

#include "ecm_history.h"
#include "ecm_pgval.h"

enum { C_REGION, C_PHONE_REGION, C_SUBJECT, C_CAMPAIGN_REGION, C_CHANNEL, C_PHONE };

static int add_jur(st_rules_data *d, const char *j)
{
    if (d->njur >= ECM_RULES_MAX_JURISDICTIONS)
        return 0;
    if (!(d->jur[d->njur] = strdup(j)))
        return -1;
    d->njur++;
    return 0;
}

int st_rules_of(ecm_pg *pg, ecm_rules_cache *cache, int64_t generation, const PGresult *k, int row,
                int first_col, int64_t contact_id, int64_t campaign_id, int64_t now_ms,
                ecm_decide_channel channel, ecm_decide_calling *calling, st_rules_data *data)
{
    memset(data, 0, sizeof *data);
    if (!cache)
        return 0;
    const ecm_rules *rules = ecm_rules_cache_get(cache, pg, campaign_id, generation);
    if (!rules)
        return 0; /* logged by the loader; the dispatcher's gate holds the contact */
    const char *pick[ECM_RULES_MAX_JURISDICTIONS];
    size_t nj = ecm_rules_jurisdictions(ecm_pgval_str(k, row, first_col + C_REGION),
                                        ecm_pgval_str(k, row, first_col + C_PHONE_REGION),
                                        ecm_pgval_str(k, row, first_col + C_CAMPAIGN_REGION), pick);
    for (size_t i = 0; i < nj; i++)
        if (add_jur(data, pick[i]) < 0)
            goto fail;
    calling->rules = rules;
    calling->jurisdictions = (const char *const *)data->jur;
    calling->njurisdictions = (size_t)data->njur;
    calling->channel = ecm_decide_rules_channel(channel);
    ecm_rules_need need;
    ecm_rules_history_need(rules, calling->jurisdictions, calling->njurisdictions, calling->channel,
                           &need);
    if (need.scopes == 0 || need.lookback_s <= 0)
        return 0;
    const char *phone = ecm_pgval_str(k, row, first_col + C_PHONE);
    char *phone_key = phone ? ecm_history_phone_key(phone) : NULL;
    if (phone && !phone_key)
        goto fail;
    const ecm_history_key key = {.contact_id = contact_id,
                                 .subject_key = need.scopes & ECM_RULES_SAME_SUBJECT
                                                    ? ecm_pgval_str(k, row, first_col + C_SUBJECT)
                                                    : NULL,
                                 .phone_key =
                                     need.scopes & ECM_RULES_SAME_PHONE ? phone_key : NULL};
    data->history = ecm_history_load(pg, &key, 1, now_ms - need.lookback_s * 1000, 0);
    free(phone_key);
    if (!data->history)
        goto fail;
    calling->history = ecm_history_of(data->history, 0, &calling->nhistory);
    return 0;
fail:
    st_rules_data_destroy(data);
    calling->rules = NULL;
    calling->jurisdictions = NULL;
    calling->njurisdictions = 0;
    return -1;
}

void st_rules_data_destroy(st_rules_data *data)
{
    for (int i = 0; i < data->njur; i++)
        free(data->jur[i]);
    ecm_history_destroy(data->history);
    memset(data, 0, sizeof *data);
}

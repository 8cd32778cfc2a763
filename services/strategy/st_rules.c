#include "st_rules.h"

#include <stdlib.h>
#include <string.h>

#include "ecm_history.h"
#include "ecm_pgval.h"

static const char GENERATION_SQL[] = "SELECT n FROM rules_generation";

enum { C_REGION, C_PHONE_REGION, C_SUBJECT, C_CAMPAIGN_REGION, C_CHANNEL, C_PHONE };

static char *digits_of(const char *s)
{
    char *d = malloc(strlen(s) + 1), *o = d;
    if (!d)
        return NULL;
    for (; *s; s++)
        if (*s >= '0' && *s <= '9')
            *o++ = *s;
    *o = '\0';
    return d;
}

static int add_jur(st_rules_data *d, const char *j)
{
    if (!j || !j[0] || d->njur >= 3)
        return 0;
    for (int i = 0; i < d->njur; i++)
        if (strcmp(d->jur[i], j) == 0)
            return 0;
    if (!(d->jur[d->njur] = strdup(j)))
        return -1;
    d->njur++;
    return 0;
}

int st_rules_of(ecm_pg *pg, ecm_rules_cache *cache, const PGresult *k, int first_col,
                int64_t contact_id, int64_t campaign_id, int64_t now_ms, st_calling *calling,
                st_rules_data *data)
{
    memset(data, 0, sizeof *data);
    if (!cache)
        return 0;
    PGresult *g = ecm_pg_exec(pg, GENERATION_SQL, 0, NULL);
    if (!g)
        return -1;
    int64_t generation = ecm_pgval_ll(g, 0, 0, 0);
    PQclear(g);
    const ecm_rules *rules = ecm_rules_cache_get(cache, pg, campaign_id, generation);
    if (!rules)
        return -1;
    const char *region = ecm_pgval_str(k, 0, first_col + C_REGION);
    const char *number = ecm_pgval_str(k, 0, first_col + C_PHONE_REGION);
    if (add_jur(data, region) < 0 || add_jur(data, number) < 0 ||
        (data->njur == 0 && add_jur(data, ecm_pgval_str(k, 0, first_col + C_CAMPAIGN_REGION)) < 0))
        goto fail;
    const char *ch = ecm_pgval_str(k, 0, first_col + C_CHANNEL);
    calling->rules = rules;
    calling->jurisdictions = (const char *const *)data->jur;
    calling->njurisdictions = (size_t)data->njur;
    calling->channel = ch && strcmp(ch, "sms") == 0 ? ECM_RULES_SMS : ECM_RULES_VOICE;
    int64_t lookback_s = ecm_rules_lookback_s(rules);
    if (lookback_s <= 0)
        return 0;
    const char *phone = ecm_pgval_str(k, 0, first_col + C_PHONE);
    char *phone_key = phone ? digits_of(phone) : NULL;
    if (phone && !phone_key)
        goto fail;
    const ecm_history_key key = {.contact_id = contact_id,
                                 .subject_key = ecm_pgval_str(k, 0, first_col + C_SUBJECT),
                                 .phone_key = phone_key};
    data->history = ecm_history_load(pg, &key, 1, now_ms - lookback_s * 1000, 0);
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

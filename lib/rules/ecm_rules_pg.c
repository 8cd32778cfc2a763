/* Loading a campaign's rules from the tables of db/016_contact_rules.sql,
 * and a per-thread cache keyed by (campaign, rules_generation.n). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "ecm_pgval.h"
#include "ecm_rules.h"

/* Campaigns a cache keeps before it drops the least recently used. */
#define CACHE_MAX 1024

static const char SETS_SQL[] =
    "SELECT rs.id, rs.name, rs.jurisdiction FROM campaign_rule_sets crs "
    "JOIN rule_sets rs ON rs.id = crs.rule_set_id WHERE crs.campaign_id = $1 ORDER BY rs.id";

/* wdays as bits (bit d for weekday d) and day as its fields, so that the
 * C side parses no array or date text. */
static const char RULES_SQL[] =
    "SELECT r.id, r.rule_set_id, r.kind, r.says, r.channel, "
    "(SELECT coalesce(sum(DISTINCT 1 << w), 0) FROM unnest(r.wdays) AS w)::int, "
    "r.start_min, r.end_min, extract(year FROM r.day)::int, extract(month FROM r.day)::int, "
    "extract(day FROM r.day)::int, r.max_attempts, r.window_s, r.after_outcome, r.quiet_s, "
    "r.scope FROM rules r JOIN campaign_rule_sets crs ON crs.rule_set_id = r.rule_set_id "
    "WHERE crs.campaign_id = $1 ORDER BY r.id";

static const char BLACKOUTS_SQL[] =
    "SELECT extract(year FROM day)::int, extract(month FROM day)::int, "
    "extract(day FROM day)::int, reason FROM campaign_blackouts WHERE campaign_id = $1 "
    "ORDER BY day";

enum {
    R_ID,
    R_SET,
    R_KIND,
    R_SAYS,
    R_CHANNEL,
    R_WDAYS,
    R_START,
    R_END,
    R_YEAR,
    R_MONTH,
    R_DAY,
    R_MAX,
    R_WINDOW,
    R_OUTCOME,
    R_QUIET,
    R_SCOPE
};

/* Adds row i of rules result res to r. 0, or -1 with the reason. */
static int add_rule_row(ecm_rules *r, const PGresult *res, int i, char *errstr, size_t errstr_size)
{
    int64_t id = ecm_pgval_ll(res, i, R_ID, 0);
    int64_t set = ecm_pgval_ll(res, i, R_SET, 0);
    const char *kind = ecm_pgval_str(res, i, R_KIND);
    const char *says = ecm_pgval_str(res, i, R_SAYS);
    unsigned channels = 0, scope = 0;
    if (ecm_rules_channel_parse(ecm_pgval_str(res, i, R_CHANNEL), &channels) != 0 || kind == NULL) {
        snprintf(errstr, errstr_size, "rule %lld: unknown kind or channel", (long long)id);
        return -1;
    }
    if (strcmp(kind, "hours") == 0) {
        return ecm_rules_add_hours(r, set, id, says, channels,
                                   (unsigned)ecm_pgval_ll(res, i, R_WDAYS, 0),
                                   (int)ecm_pgval_ll(res, i, R_START, -1),
                                   (int)ecm_pgval_ll(res, i, R_END, -1), errstr, errstr_size);
    }
    if (strcmp(kind, "day_off") == 0) {
        return ecm_rules_add_day_off(r, set, id, says, channels,
                                     (int)ecm_pgval_ll(res, i, R_YEAR, 0),
                                     (int)ecm_pgval_ll(res, i, R_MONTH, 0),
                                     (int)ecm_pgval_ll(res, i, R_DAY, 0), errstr, errstr_size);
    }
    if (ecm_rules_scope_parse(ecm_pgval_str(res, i, R_SCOPE), &scope) != 0) {
        snprintf(errstr, errstr_size, "rule %lld: unknown scope", (long long)id);
        return -1;
    }
    if (strcmp(kind, "cap") == 0) {
        long long max = ecm_pgval_ll(res, i, R_MAX, 0);
        return ecm_rules_add_cap(r, set, id, says, channels, scope,
                                 max > 0 && max <= 1000000 ? (int)max : 0,
                                 ecm_pgval_ll(res, i, R_WINDOW, 0), errstr, errstr_size);
    }
    if (strcmp(kind, "quiet") == 0) {
        return ecm_rules_add_quiet(r, set, id, says, channels, scope,
                                   ecm_pgval_str(res, i, R_OUTCOME),
                                   ecm_pgval_ll(res, i, R_QUIET, 0), errstr, errstr_size);
    }
    snprintf(errstr, errstr_size, "rule %lld: unknown kind '%.16s'", (long long)id, kind);
    return -1;
}

int ecm_rules_load(ecm_pg *pg, int64_t campaign_id, ecm_rules **out)
{
    *out = NULL;
    char idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", (long long)campaign_id);
    const char *params[1] = {idtext};
    char errstr[256] = "";
    ecm_rules *r = ecm_rules_new();
    PGresult *sets = NULL, *rules = NULL, *blackouts = NULL;
    int rc = -1;
    if (r == NULL) {
        snprintf(errstr, sizeof errstr, "out of memory");
        goto out;
    }
    sets = ecm_pg_exec(pg, SETS_SQL, 1, params);
    rules = sets ? ecm_pg_exec(pg, RULES_SQL, 1, params) : NULL;
    blackouts = rules ? ecm_pg_exec(pg, BLACKOUTS_SQL, 1, params) : NULL;
    if (blackouts == NULL) {
        snprintf(errstr, sizeof errstr, "a statement failed");
        goto out;
    }
    for (int i = 0; i < PQntuples(sets); i++) {
        if (ecm_rules_add_set(r, ecm_pgval_ll(sets, i, 0, 0), ecm_pgval_str(sets, i, 1),
                              ecm_pgval_str(sets, i, 2), errstr, sizeof errstr) != 0) {
            goto out;
        }
    }
    for (int i = 0; i < PQntuples(rules); i++) {
        if (add_rule_row(r, rules, i, errstr, sizeof errstr) != 0) {
            goto out;
        }
    }
    for (int i = 0; i < PQntuples(blackouts); i++) {
        if (ecm_rules_add_blackout(r, (int)ecm_pgval_ll(blackouts, i, 0, 0),
                                   (int)ecm_pgval_ll(blackouts, i, 1, 0),
                                   (int)ecm_pgval_ll(blackouts, i, 2, 0),
                                   ecm_pgval_str(blackouts, i, 3), errstr, sizeof errstr) != 0) {
            goto out;
        }
    }
    *out = r;
    r = NULL;
    rc = 0;
out:
    if (rc != 0) {
        ecm_log_error("campaign's contact rules can't be loaded", "campaign_id=%lld reason=%s",
                      (long long)campaign_id, errstr);
    }
    PQclear(sets);
    PQclear(rules);
    PQclear(blackouts);
    ecm_rules_destroy(r);
    return rc;
}

int ecm_rules_generation(ecm_pg *pg, int64_t *out)
{
    PGresult *res = ecm_pg_exec(pg, "SELECT n FROM rules_generation", 0, NULL);
    if (res == NULL) {
        return -1;
    }
    /* No row yet reads as generation 0: nothing was ever changed. */
    *out = PQntuples(res) > 0 ? ecm_pgval_ll(res, 0, 0, 0) : 0;
    PQclear(res);
    return 0;
}

typedef struct {
    int64_t campaign_id, generation;
    ecm_rules *rules;
    uint64_t used;
} cache_entry;

struct ecm_rules_cache {
    cache_entry *entries;
    size_t n, cap;
    uint64_t tick;
};

ecm_rules_cache *ecm_rules_cache_new(void)
{
    return calloc(1, sizeof(ecm_rules_cache));
}

void ecm_rules_cache_destroy(ecm_rules_cache *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        ecm_rules_destroy(c->entries[i].rules);
    }
    free(c->entries);
    free(c);
}

/* The entry for campaign_id: its own, a free one, or the least recently
 * used one (emptied). NULL when out of memory. */
static cache_entry *cache_slot(ecm_rules_cache *c, int64_t campaign_id)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->entries[i].campaign_id == campaign_id) {
            return &c->entries[i];
        }
    }
    if (c->n < c->cap || (c->n == c->cap && c->cap < CACHE_MAX)) {
        if (c->n == c->cap) {
            size_t ncap = c->cap ? c->cap * 2 : 16;
            ncap = ncap > CACHE_MAX ? CACHE_MAX : ncap;
            cache_entry *p = realloc(c->entries, ncap * sizeof *p);
            if (p == NULL) {
                return NULL;
            }
            c->entries = p;
            c->cap = ncap;
        }
        cache_entry *e = &c->entries[c->n++];
        memset(e, 0, sizeof *e);
        e->campaign_id = campaign_id;
        e->generation = -1;
        return e;
    }
    cache_entry *lru = &c->entries[0];
    for (size_t i = 1; i < c->n; i++) {
        if (c->entries[i].used < lru->used) {
            lru = &c->entries[i];
        }
    }
    ecm_rules_destroy(lru->rules);
    memset(lru, 0, sizeof *lru);
    lru->campaign_id = campaign_id;
    lru->generation = -1;
    return lru;
}

const ecm_rules *ecm_rules_cache_get(ecm_rules_cache *c, ecm_pg *pg, int64_t campaign_id,
                                     int64_t generation)
{
    cache_entry *e = cache_slot(c, campaign_id);
    if (e == NULL) {
        return NULL;
    }
    e->used = ++c->tick;
    if (e->rules != NULL && e->generation == generation) {
        return e->rules;
    }
    ecm_rules *fresh = NULL;
    if (ecm_rules_load(pg, campaign_id, &fresh) != 0) {
        return NULL;
    }
    ecm_rules_destroy(e->rules);
    e->rules = fresh;
    e->generation = generation;
    return fresh;
}

#include "gw_campaign_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pg_try_advisory_xact_lock(classid, campaign) held while a campaign's
 * deltas are folded ("ECCN"): one folder a campaign, and readers never wait
 * for it. */
#define GW_COUNTS_LOCK_CLASS "1162036046"

/* The campaigns $1 whose deltas no one else is folding. */
#define FOLDABLE_SQL(ids)                                                                          \
    "WITH l AS (SELECT g.id FROM " ids                                                             \
    " AS g (id) WHERE pg_try_advisory_xact_lock(" GW_COUNTS_LOCK_CLASS                             \
    ", (g.id % 2147483647)::int)), "                                                               \
    "d AS (DELETE FROM campaign_count_deltas x USING l WHERE x.campaign_id = l.id "                \
    "RETURNING x.campaign_id, x.kind, x.key, x.n), "                                               \
    "f AS (INSERT INTO campaign_counts AS c (campaign_id, kind, key, n) "                          \
    "SELECT campaign_id, kind, key, sum(n) FROM d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 "              \
    "ON CONFLICT (campaign_id, kind, key) DO UPDATE SET n = c.n + excluded.n) "

/* Folds the deltas of the campaigns $1 (those no one else is folding) and
 * reads their counts: the folded counts plus the deltas, both as the
 * statement's snapshot has them, which the fold (same snapshot) leaves
 * equal. Kind 'a' with key '' counts attempts without an outcome yet. */
static const char COUNTS_SQL[] = FOLDABLE_SQL(
    "unnest($1::bigint[])") "SELECT x.kind, x.campaign_id, x.key, sum(x.n) FROM ("
                            "SELECT campaign_id, kind, key, n FROM campaign_counts WHERE "
                            "campaign_id = ANY($1::bigint[]) "
                            "UNION ALL SELECT campaign_id, kind, key, n FROM campaign_count_deltas "
                            "WHERE campaign_id = ANY($1::bigint[])) x GROUP BY 1, 2, 3 HAVING "
                            "sum(x.n) <> 0";

static const char FOLD_ALL_SQL[] = FOLDABLE_SQL(
    "(SELECT DISTINCT campaign_id FROM campaign_count_deltas)") "SELECT count(*) FROM d";

static const char *const contact_states[] = {"pending", "queued",    "dispatched",
                                             "waiting", "retry_due", "closed"};

/* The "cisco" member from columns kind, campaign id, import table and
 * dialing list at col, col + 1, ti and ti + 1 of row i; NULL when the row has
 * no Cisco target. */
json_t *gw_campaign_view_cisco_json(const PGresult *r, int i, int col, int ti)
{
    if (PQgetisnull(r, i, col)) {
        return NULL;
    }
    json_t *c = json_pack("{ss ss}", "kind", PQgetvalue(r, i, col), "campaign_id",
                          PQgetvalue(r, i, col + 1));
    if (c && !PQgetisnull(r, i, ti)) {
        json_object_set_new(c, "import_table", json_string(PQgetvalue(r, i, ti)));
    }
    if (c && !PQgetisnull(r, i, ti + 1)) {
        json_object_set_new(c, "dialing_list", json_string(PQgetvalue(r, i, ti + 1)));
    }
    return c;
}

json_t *gw_campaign_view_row_json(const PGresult *r, int i)
{
    json_t *cisco = gw_campaign_view_cisco_json(r, i, 5, 19);
    if (!cisco) {
        cisco = json_null();
    }
    json_t *sms = json_null();
    if (strcmp(PQgetvalue(r, i, 2), "sms") == 0 || !PQgetisnull(r, i, 13)) {
        sms =
            json_pack("{so so so sI}", "template",
                      gw_json_text_or_null(PQgetvalue(r, i, 13), PQgetisnull(r, i, 13)), "sender",
                      gw_json_text_or_null(PQgetvalue(r, i, 14), PQgetisnull(r, i, 14)), "gateway",
                      gw_json_text_or_null(PQgetvalue(r, i, 15), PQgetisnull(r, i, 15)),
                      "dlr_timeout_s", (json_int_t)strtoll(PQgetvalue(r, i, 16), NULL, 10));
    }
    json_t *by_state = json_object();
    for (size_t k = 0; k < sizeof(contact_states) / sizeof(contact_states[0]); k++) {
        json_object_set_new(by_state, contact_states[k], json_integer(0));
    }
    json_t *counts =
        json_pack("{so so sI sI so}", "by_state", by_state, "by_outcome", json_object(), "contacts",
                  (json_int_t)0, "attempts", (json_int_t)0, "attempts_by_outcome", json_object());
    json_t *c = json_pack(
        "{sI ss ss ss ss so ss ss so so ss ss so}", "id",
        (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "name", PQgetvalue(r, i, 1), "channel",
        PQgetvalue(r, i, 2), "state", PQgetvalue(r, i, 3), "strategy", PQgetvalue(r, i, 4), "cisco",
        cisco, "region", PQgetvalue(r, i, 7), "time_zone", PQgetvalue(r, i, 8), "start_at",
        gw_json_text_or_null(PQgetvalue(r, i, 9), PQgetisnull(r, i, 9)), "end_at",
        gw_json_text_or_null(PQgetvalue(r, i, 10), PQgetisnull(r, i, 10)), "created_at",
        PQgetvalue(r, i, 11), "updated_at", PQgetvalue(r, i, 12), "counts", counts);
    json_t *window =
        PQgetisnull(r, i, 18) ? json_null() : json_loads(PQgetvalue(r, i, 18), 0, NULL);
    if (c) {
        json_object_set_new(c, "sms", sms);
        json_object_set_new(c, "strategy_id",
                            json_integer((json_int_t)strtoll(PQgetvalue(r, i, 17), NULL, 10)));
        json_object_set_new(c, "call_window", window ? window : json_null());
        json_t *sets = json_loads(PQgetvalue(r, i, 21), 0, NULL);
        json_t *days = json_loads(PQgetvalue(r, i, 22), 0, NULL);
        json_object_set_new(c, "rule_sets", sets ? sets : json_array());
        json_object_set_new(c, "blackout_dates", days ? days : json_array());
    } else {
        json_decref(sms);
        json_decref(window);
    }
    return c;
}

static void add_count(json_t *obj, const char *key, json_int_t n)
{
    json_t *v = json_object_get(obj, key);
    json_object_set_new(obj, key, json_integer((v ? json_integer_value(v) : 0) + n));
}

/* Fills the "counts" of every campaign in list (a JSON array of campaigns)
 * with one query. Returns 0 or -1. */
int gw_campaign_view_fill_counts(ecm_pg *pg, json_t *list)
{
    size_t n = json_array_size(list);
    if (n == 0) {
        return 0;
    }
    size_t cap = n * 22 + 3, len = 0;
    char *ids = malloc(cap);
    if (!ids) {
        return -1;
    }
    ids[len++] = '{';
    /* Each id takes at most 21 bytes with its comma: the array fits. */
    for (size_t i = 0; i < n; i++) {
        json_t *id = json_object_get(json_array_get(list, i), "id");
        if (gw_format(ids + len, cap - len, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
                      json_integer_value(id)) != 0) {
            free(ids);
            return -1;
        }
        len += strlen(ids + len);
    }
    if (gw_format(ids + len, cap - len, "}") != 0) {
        free(ids);
        return -1;
    }
    const char *params[] = {ids};
    PGresult *r = ecm_pg_exec(pg, COUNTS_SQL, 1, params);
    free(ids);
    if (!r) {
        return -1;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        json_int_t cid = strtoll(PQgetvalue(r, row, 1), NULL, 10);
        json_t *counts = NULL;
        for (size_t i = 0; i < n && !counts; i++) {
            json_t *c = json_array_get(list, i);
            if (json_integer_value(json_object_get(c, "id")) == cid) {
                counts = json_object_get(c, "counts");
            }
        }
        if (!counts) {
            continue;
        }
        char kind = PQgetvalue(r, row, 0)[0];
        json_int_t cnt = strtoll(PQgetvalue(r, row, 3), NULL, 10);
        const char *name = PQgetvalue(r, row, 2);
        if (kind == 's') {
            add_count(json_object_get(counts, "by_state"), name, cnt);
            add_count(counts, "contacts", cnt);
        } else if (kind == 'o') {
            add_count(json_object_get(counts, "by_outcome"), name, cnt);
        } else {
            add_count(counts, "attempts", cnt);
            /* An attempt without a result yet has no outcome to count. */
            if (*name) {
                add_count(json_object_get(counts, "attempts_by_outcome"), name, cnt);
            }
        }
    }
    PQclear(r);
    return 0;
}

/* The campaign with its counts, or NULL with *missing = 1 when it doesn't
 * exist (0 on a DB failure). */
json_t *gw_campaign_view_load(ecm_pg *pg, long long id, int *missing)
{
    char sid[24];
    gw_ll_text(sid, id);
    const char *params[] = {sid};
    *missing = 0;
    PGresult *r = ecm_pg_exec(pg, "SELECT " CAMPAIGN_COLUMNS "WHERE c.id = $1", 1, params);
    if (!r) {
        return NULL;
    }
    if (PQntuples(r) == 0) {
        *missing = 1;
        PQclear(r);
        return NULL;
    }
    json_t *list = json_array();
    json_array_append_new(list, gw_campaign_view_row_json(r, 0));
    PQclear(r);
    if (gw_campaign_view_fill_counts(pg, list) != 0) {
        json_decref(list);
        return NULL;
    }
    json_t *c = json_incref(json_array_get(list, 0));
    json_decref(list);
    return c;
}

long long gw_campaign_view_fold(ecm_pg *pg)
{
    PGresult *r = ecm_pg_exec(pg, FOLD_ALL_SQL, 0, NULL);
    long long n = r && PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return n;
}

/* sim_store: campaigns, listings, counters and the UCCX midnight job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "sim_store.h"
#include "sim_store_int.h"

/* Runs sql on a pool connection; returns the result or NULL (logged by
 * ecm_pg, connection checked). */
static PGresult *read_exec(sim_store *s, const char *sql, int n, const char *const *params)
{
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    PGresult *res = ecm_pg_exec(pg, sql, n, params);
    if (!res) {
        (void)ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(s->pool, pg);
    return res;
}

int sim_store_last_import(sim_store *s, int campaign_id, sim_import_status *out)
{
    char cid[16];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    const char *params[] = {cid};
    PGresult *res = read_exec(s,
                              "SELECT import_id, state, result, total_rows, imported_rows,"
                              " failed_rows, duplicate_rows, phone_duplicate_rows,"
                              " (extract(epoch FROM started_at) * 1000)::bigint,"
                              " coalesce(detail, '')"
                              " FROM sim_imports WHERE system = 'uccx' AND campaign_id = $1"
                              " ORDER BY import_id DESC LIMIT 1",
                              1, params);
    if (!res) {
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 1;
    }
    memset(out, 0, sizeof *out);
    out->import_id = store_ll(res, 0, 0);
    store_copy_field(out->state, sizeof out->state, PQgetvalue(res, 0, 1));
    store_copy_field(out->result, sizeof out->result, PQgetvalue(res, 0, 2));
    out->total = store_ll(res, 0, 3);
    out->imported = store_ll(res, 0, 4);
    out->failed = store_ll(res, 0, 5);
    out->duplicates = store_ll(res, 0, 6);
    out->phone_duplicates = store_ll(res, 0, 7);
    out->started_ms = store_ll(res, 0, 8);
    store_copy_field(out->detail, sizeof out->detail, PQgetvalue(res, 0, 9));
    PQclear(res);
    return 0;
}

int sim_store_set_enabled(sim_store *s, const char *system, int campaign_id, int enabled)
{
    char cid[16];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    const char *params[] = {system, cid, enabled ? "true" : "false"};
    PGresult *res = read_exec(s,
                              "INSERT INTO sim_campaigns (system, campaign_id, enabled)"
                              " VALUES ($1, $2, $3) ON CONFLICT (system, campaign_id) DO UPDATE"
                              " SET enabled = EXCLUDED.enabled,"
                              " change_stamp = sim_campaigns.change_stamp + 1",
                              3, params);
    PQclear(res);
    return res ? 0 : -1;
}

int sim_store_campaign_get(sim_store *s, const char *system, int campaign_id, int *enabled,
                           long long *change_stamp)
{
    char cid[16];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    const char *params[] = {system, cid};
    PGresult *res = read_exec(s,
                              "WITH ins AS (INSERT INTO sim_campaigns (system, campaign_id)"
                              " VALUES ($1, $2) ON CONFLICT DO NOTHING"
                              " RETURNING enabled, change_stamp)"
                              " SELECT enabled, change_stamp FROM ins UNION ALL"
                              " SELECT enabled, change_stamp FROM sim_campaigns"
                              " WHERE system = $1 AND campaign_id = $2",
                              2, params);
    if (!res) {
        return -1;
    }
    int rc = PQntuples(res) > 0 ? 0 : -1;
    if (rc == 0) {
        *enabled = PQgetvalue(res, 0, 0)[0] == 't';
        *change_stamp = store_ll(res, 0, 1);
    }
    PQclear(res);
    return rc;
}

int sim_store_ucce_update(sim_store *s, int campaign_id, int enabled, long long change_stamp,
                          long long *current)
{
    int was;
    if (sim_store_campaign_get(s, "ucce", campaign_id, &was, current) != 0) {
        return -1;
    }
    char cid[16], st[24];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    snprintf(st, sizeof st, "%lld", change_stamp);
    const char *params[] = {cid, enabled ? "true" : "false", st};
    PGresult *res = read_exec(s,
                              "UPDATE sim_campaigns SET enabled = $2,"
                              " change_stamp = change_stamp + 1"
                              " WHERE system = 'ucce' AND campaign_id = $1 AND change_stamp = $3"
                              " RETURNING change_stamp",
                              3, params);
    if (!res) {
        return -1;
    }
    int rc = PQntuples(res) == 1 ? 0 : 1;
    if (rc == 0) {
        *current = store_ll(res, 0, 0);
    }
    PQclear(res);
    return rc;
}

/* The campaign's name (malloc'd into *name, NULL when none). Returns 0, 2
 * when the campaign is unknown, -1. */
static int read_campaign_name(sim_store *s, const char *system, const char *cid, char **name)
{
    const char *params[] = {system, cid};
    PGresult *res = read_exec(
        s, "SELECT name FROM sim_campaigns WHERE system = $1 AND campaign_id = $2", 2, params);
    if (!res) {
        return -1;
    }
    int rc = PQntuples(res) == 0 ? 2 : 0;
    if (rc == 0 && name && !PQgetisnull(res, 0, 0)) {
        *name = strdup(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return rc;
}

int sim_store_list_contacts(sim_store *s, int campaign_id, int callstatus, long long limit,
                            char **campaign_name, sim_contact_visit_fn fn, void *ctx)
{
    char cid[16], st[8], lim[24];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    snprintf(st, sizeof st, "%d", callstatus);
    snprintf(lim, sizeof lim, "%lld", limit);
    if (campaign_name) {
        *campaign_name = NULL;
    }
    int rc = read_campaign_name(s, "uccx", cid, campaign_name);
    if (rc != 0) {
        return rc;
    }
    const char *params[] = {cid, st, lim};
    PGresult *res = read_exec(s,
                              "SELECT accountnumber, coalesce(firstname, ''),"
                              " coalesce(lastname, ''), coalesce(phone01, ''),"
                              " coalesce(phone02, ''), coalesce(phone03, '')"
                              " FROM dialinglist WHERE campaignid = $1 AND callstatus = $2"
                              " ORDER BY accountnumber LIMIT $3",
                              3, params);
    if (!res) {
        return -1;
    }
    static const char *const names[] = {"",       "pending",  "active",
                                        "closed", "callback", "max_calls",
                                        "retry",  "unknown",  "retries_with_delay"};
    const char *status = callstatus >= 1 && callstatus <= 8 ? names[callstatus] : "";
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        sim_contact c;
        memset(&c, 0, sizeof c);
        store_copy_field(c.account_number, sizeof c.account_number, PQgetvalue(res, r, 0));
        store_copy_field(c.first_name, sizeof c.first_name, PQgetvalue(res, r, 1));
        store_copy_field(c.last_name, sizeof c.last_name, PQgetvalue(res, r, 2));
        for (int p = 0; p < SIM_UCCX_PHONES; p++) {
            store_copy_field(c.phone[p], sizeof c.phone[p], PQgetvalue(res, r, 3 + p));
        }
        rc = fn(ctx, &c, status) != 0 ? 1 : 0;
    }
    PQclear(res);
    return rc;
}

/* Fills one listed UCCE row from the result's row r (see the SELECT). */
static void read_ucce_row(const PGresult *res, int r, sim_ucce_listed *o)
{
    memset(o, 0, sizeof *o);
    o->id = store_ll(res, r, 0);
    store_copy_field(o->c.account_number, sizeof o->c.account_number, PQgetvalue(res, r, 1));
    store_copy_field(o->c.first_name, sizeof o->c.first_name, PQgetvalue(res, r, 2));
    store_copy_field(o->c.last_name, sizeof o->c.last_name, PQgetvalue(res, r, 3));
    o->call_status = PQgetvalue(res, r, 4)[0];
    o->call_result = (int)store_ll(res, r, 5);
    o->calls_made = (int)store_ll(res, r, 6);
    store_copy_field(o->import_date, sizeof o->import_date, PQgetvalue(res, r, 7));
    for (int p = 0; p < SIM_UCCE_PHONES; p++) {
        store_copy_field(o->c.phone[p], sizeof o->c.phone[p], PQgetvalue(res, r, 9 + 3 * p));
        if (!PQgetisnull(res, r, 10 + 3 * p)) {
            o->c.has_tz = 1;
            o->c.tz_bias = (int)store_ll(res, r, 10 + 3 * p); /* the gmtOffset */
            o->c.dst_observed = (int)store_ll(res, r, 11 + 3 * p);
        }
    }
}

int sim_store_ucce_list(sim_store *s, int campaign_id, const char *account, long long start,
                        long long count, long long *total, sim_ucce_visit_fn fn, void *ctx)
{
    *total = 0;
    char sql[STORE_SQL_MAX] = "", cols[STORE_SQL_MAX] = "";
    int bad = 0;
    for (int p = 1; p <= SIM_UCCE_PHONES; p++) {
        bad |=
            store_sql_add(cols, ", coalesce(Phone%02d, ''), GMTPhone%02d, DSTPhone%02d", p, p, p);
    }
    bad |= store_sql_add(sql,
                         "SELECT DialingListID, AccountNumber, coalesce(FirstName, ''),"
                         " coalesce(LastName, ''), CallStatusZone1, CallResult, CallsMadeToZone1,"
                         " to_char(ImportRuleDate, 'YYYY-MM-DD\"T\"HH24:MI:SS'), count(*) OVER ()"
                         "%s FROM DL_%d_1 WHERE ($1 = '' OR AccountNumber = $1)"
                         " ORDER BY AccountNumber, DialingListID OFFSET $2 LIMIT $3",
                         cols, campaign_id);
    if (bad) {
        return -1;
    }
    char off[24], lim[24];
    snprintf(off, sizeof off, "%lld", start);
    snprintf(lim, sizeof lim, "%lld", count);
    const char *params[] = {account ? account : "", off, lim};
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    ecm_pg_expect_sqlstate(pg, "42P01"); /* no dialing list yet */
    PGresult *res = ecm_pg_exec(pg, sql, 3, params);
    int missing = !res && strcmp(ecm_pg_last_sqlstate(pg), "42P01") == 0;
    if (!res && !missing) {
        (void)ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(s->pool, pg);
    if (!res) {
        return missing ? 2 : -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        *total = store_ll(res, r, 8);
        sim_ucce_listed o;
        read_ucce_row(res, r, &o);
        if (fn(ctx, &o) != 0) {
            break;
        }
    }
    PQclear(res);
    return 0;
}

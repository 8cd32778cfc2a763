/* sim_store: withdrawals, refusals, counters, the UCCX midnight job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "sim_store.h"
#include "sim_store_int.h"

int sim_store_delete_pending(sim_store *s, const char *system, int campaign_id, long long *deleted)
{
    int uccx = strcmp(system, "uccx") == 0;
    *deleted = 0;
    char cid[16], sql[STORE_SQL_MAX] = "";
    snprintf(cid, sizeof cid, "%d", campaign_id);
    /* The dialer locks the rows it dials (FOR UPDATE): a record being dialled
     * is waited for and then, no longer pending, left alone. */
    int bad = store_sql_add(sql,
                            "WITH gone AS (DELETE FROM sim_contacts WHERE system = '%s'"
                            "  AND campaign_id = $1 AND status = 'pending'"
                            "  RETURNING account_number),",
                            uccx ? "uccx" : "ucce");
    if (uccx) {
        bad |= store_sql_add(sql, " dl AS (DELETE FROM dialinglist d USING gone"
                                  "  WHERE d.accountnumber = gone.account_number"
                                  "  AND d.campaignid = $1 AND d.callstatus = 1 RETURNING 1)");
    } else {
        bad |= store_sql_add(sql,
                             " dl AS (DELETE FROM DL_%d_1 d USING gone"
                             "  WHERE d.AccountNumber = gone.account_number"
                             "  AND d.CallStatusZone1 = 'P' RETURNING 1)",
                             campaign_id);
    }
    bad |= store_sql_add(sql, " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM dl)");
    if (bad) {
        return -1;
    }
    const char *params[] = {cid};
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    ecm_pg_expect_sqlstate(pg, "42P01"); /* no dialing list: nothing imported */
    PGresult *res = ecm_pg_exec(pg, sql, 1, params);
    int rc = 0;
    if (!res) {
        rc = strcmp(ecm_pg_last_sqlstate(pg), "42P01") == 0 ? 0 : -1;
        if (rc != 0) {
            (void)ecm_pg_check_broken(pg);
        }
    } else {
        *deleted = store_ll(res, 0, 0);
        PQclear(res);
    }
    ecm_pg_pool_put(s->pool, pg);
    return rc;
}

void sim_store_count_refusal(sim_store *s, sim_iface iface, const char *reason)
{
    const char *params[] = {sim_iface_name(iface), reason};
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    if (ecm_pg_cmd(pg,
                   "INSERT INTO sim_refusals (interface, reason, n) VALUES ($1, $2, 1)"
                   " ON CONFLICT (interface, reason) DO UPDATE SET n = sim_refusals.n + 1",
                   2, params) != 0) {
        (void)ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(s->pool, pg);
}

/* Per-interface counters into out->iface. */
static int stats_ifaces(ecm_pg *pg, sim_stats *out)
{
    PGresult *res = ecm_pg_exec(
        pg,
        "SELECT i.name,"
        " (SELECT count(*) FROM sim_contacts c WHERE c.interface = i.name)"
        "  + (SELECT coalesce(sum(receipts), 0) FROM sim_duplicates d WHERE d.interface = i.name),"
        " (SELECT count(*) FROM sim_duplicates d WHERE d.interface = i.name),"
        " (SELECT count(*) FROM sim_contacts c WHERE c.interface = i.name AND c.status = 'dialed')"
        " FROM (VALUES ('uccx'), ('ucce_api'), ('ucce_db')) AS i(name)",
        0, NULL);
    if (!res) {
        return -1;
    }
    for (int r = 0; r < PQntuples(res) && r < SIM_IF_N; r++) {
        for (int i = 0; i < SIM_IF_N; i++) {
            if (strcmp(PQgetvalue(res, r, 0), sim_iface_name((sim_iface)i)) == 0) {
                out->iface[i].received_rows = store_ll(res, r, 1);
                out->iface[i].duplicate_accounts = store_ll(res, r, 2);
                out->iface[i].dialed = store_ll(res, r, 3);
            }
        }
    }
    PQclear(res);
    res = ecm_pg_exec(pg, "SELECT interface, reason, n FROM sim_refusals ORDER BY 1, 2", 0, NULL);
    if (!res) {
        return -1;
    }
    for (int r = 0; r < PQntuples(res) && out->nrefusals < SIM_REFUSAL_KINDS; r++) {
        int k = out->nrefusals++;
        store_copy_field(out->refusals[k].iface, sizeof out->refusals[k].iface,
                         PQgetvalue(res, r, 0));
        store_copy_field(out->refusals[k].reason, sizeof out->refusals[k].reason,
                         PQgetvalue(res, r, 1));
        out->refusals[k].n = store_ll(res, r, 2);
    }
    PQclear(res);
    return 0;
}

/* Top-level counters into out. */
static int stats_totals(ecm_pg *pg, sim_stats *out)
{
    PGresult *res = ecm_pg_exec(pg,
                                "SELECT (SELECT count(*) FROM sim_contacts)"
                                "  + (SELECT coalesce(sum(receipts), 0) FROM sim_duplicates),"
                                " (SELECT count(*) FROM sim_contacts),"
                                " (SELECT count(DISTINCT account_number) FROM sim_duplicates),"
                                " (SELECT coalesce(sum(receipts), 0) FROM sim_duplicates),"
                                " (SELECT count(*) FROM sim_contacts WHERE status = 'dialed'),"
                                " (SELECT count(*) FROM sim_contacts WHERE status = 'pending'),"
                                " (SELECT count(*) FROM sim_imports WHERE state = 'COMPLETED'),"
                                " (SELECT count(*) FROM sim_imports WHERE state = 'REJECTED'),"
                                " (SELECT coalesce(sum(phone_duplicate_rows), 0) FROM sim_imports)",
                                0, NULL);
    if (!res) {
        return -1;
    }
    out->received_rows = store_ll(res, 0, 0);
    out->unique_accounts = store_ll(res, 0, 1);
    out->duplicate_accounts = store_ll(res, 0, 2);
    out->duplicate_receipts = store_ll(res, 0, 3);
    out->dialed = store_ll(res, 0, 4);
    out->pending = store_ll(res, 0, 5);
    out->imports = store_ll(res, 0, 6);
    out->over_capacity_rejections = store_ll(res, 0, 7);
    out->phone_duplicates = store_ll(res, 0, 8);
    PQclear(res);
    return 0;
}

/* Dials per UCCE CallResult: the decisions are kept in sim_contacts. */
static int stats_codes(ecm_pg *pg, sim_stats *out)
{
    PGresult *res = ecm_pg_exec(pg,
                                "SELECT call_result, count(*) FROM sim_contacts"
                                " WHERE call_result IS NOT NULL GROUP BY 1",
                                0, NULL);
    if (!res) {
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        long long code = store_ll(res, r, 0);
        if (code >= 0 && code < SIM_STATS_MAX_CODES) {
            out->by_call_result[code] = store_ll(res, r, 1);
        }
    }
    PQclear(res);
    return 0;
}

/* The personal callback counters. Returns 0 or -1. */
static int stats_pcb(ecm_pg *pg, sim_stats *out)
{
    PGresult *res =
        ecm_pg_exec(pg,
                    "SELECT count(*), count(*) FILTER (WHERE CallStatus = 'P'),"
                    " count(*) FILTER (WHERE SentToDialerDateTime IS NOT NULL),"
                    " (SELECT count(*) FROM (SELECT AccountNumber FROM Personal_Callback_List"
                    "   GROUP BY AccountNumber HAVING count(*) > 1"
                    "   OR AccountNumber IN (SELECT account_number FROM sim_contacts)) d)"
                    " FROM Personal_Callback_List",
                    0, NULL);
    if (!res) {
        return -1;
    }
    out->pcb_rows = store_ll(res, 0, 0);
    out->pcb_pending = store_ll(res, 0, 1);
    out->pcb_dialed = store_ll(res, 0, 2);
    out->pcb_duplicate_accounts = store_ll(res, 0, 3);
    out->duplicate_accounts += out->pcb_duplicate_accounts;
    PQclear(res);
    return 0;
}

int sim_store_stats(sim_store *s, sim_stats *out)
{
    memset(out, 0, sizeof *out);
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    int rc = 0;
    if (stats_totals(pg, out) != 0 || stats_ifaces(pg, out) != 0 || stats_codes(pg, out) != 0 ||
        stats_pcb(pg, out) != 0) {
        (void)ecm_pg_check_broken(pg);
        rc = -1;
    }
    ecm_pg_pool_put(s->pool, pg);
    return rc;
}

int sim_store_uccx_midnight(ecm_pg *pg, long long age_s, long long *moved)
{
    *moved = 0;
    char age[24];
    snprintf(age, sizeof age, "%lld", age_s);
    const char *params[] = {age};
    if (ecm_pg_begin(pg) != 0) {
        goto fail;
    }
    PGresult *res =
        ecm_pg_exec(pg,
                    "WITH gone AS (DELETE FROM dialinglist WHERE callstatus IN (3, 5)"
                    "  AND lastupdated <= (now() AT TIME ZONE 'UTC') - make_interval(secs => "
                    "$1::double precision)"
                    "  RETURNING *),"
                    " ins AS (INSERT INTO dialinglisthistory SELECT * FROM gone RETURNING 1),"
                    " mid AS (UPDATE sim_state SET at = now() AT TIME ZONE 'UTC'"
                    "  WHERE name = 'uccx_midnight' RETURNING 1)"
                    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM mid)",
                    1, params);
    if (!res) {
        goto fail;
    }
    *moved = store_ll(res, 0, 0);
    PQclear(res);
    if (ecm_pg_commit(pg) != 0) {
        goto fail;
    }
    return 0;
fail:
    store_abort(pg);
    ecm_log_error("UCCX midnight job rolled back", NULL);
    return -1;
}

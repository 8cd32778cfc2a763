/* sim_store_dial_batch: one dialing tick over both Cisco systems. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "ecm_uuid.h"
#include "sim_pcb.h"
#include "sim_store.h"
#include "sim_store_int.h"

/* Cisco's DialingMode 5 is "progressive only", what an IVR campaign uses. */
#define STORE_DIALING_MODE_DEFAULT 5
/* Columns of a tick's decisions: account, campaign, UCCE code, UCCX code,
 * system. */
#define DIAL_COLS 5

/* CallGUID is 32 hex digits in Cisco's table: a UUID without dashes. */
static void store_call_guid(char out[33])
{
    char text[ECM_UUID_LEN];
    ecm_uuid_new(text);
    size_t j = 0;
    for (size_t i = 0; text[i] && j < 32; i++) {
        if (text[i] != '-') {
            out[j++] = text[i];
        }
    }
    out[j] = '\0';
}

/* Marks up to limit pending contacts of enabled campaigns, received at
 * least delay_ms ago, as dialed, oldest first. Returns their rows
 * (account_number, campaign_id, phone, system) in that order, or NULL. */
static PGresult *dial_pick(ecm_pg *pg, long long limit, long long delay_ms)
{
    char lim[24], delay[24];
    snprintf(lim, sizeof lim, "%lld", limit);
    snprintf(delay, sizeof delay, "%lld", delay_ms);
    const char *pick_params[] = {lim, delay};
    /* SKIP LOCKED: a contact whose row an import is updating right now (a
     * duplicate receipt) simply waits for the next tick. */
    return ecm_pg_exec(
        pg,
        "WITH picked AS ("
        "  SELECT c.account_number FROM sim_contacts c"
        "  JOIN sim_campaigns k ON k.system = c.system AND k.campaign_id = c.campaign_id"
        "  WHERE c.status = 'pending' AND k.enabled"
        "    AND c.received_at <= clock_timestamp()"
        "        - make_interval(secs => $2::double precision / 1000)"
        "  ORDER BY c.received_at, c.account_number"
        "  LIMIT $1 FOR UPDATE OF c SKIP LOCKED),"
        " upd AS ("
        "  UPDATE sim_contacts c SET status = 'dialed', dialed_at = clock_timestamp()"
        "  FROM picked p WHERE c.account_number = p.account_number"
        "  RETURNING c.account_number, c.campaign_id, coalesce(c.phone1, '') AS phone,"
        "            c.received_at, c.system)"
        " SELECT account_number, campaign_id, phone, system FROM upd"
        " ORDER BY received_at, account_number",
        2, pick_params);
}

/* Columns of a tick's Dialer_Detail rows. */
#define DD_COLS 11

/* Decides the outcome of every picked row (decide): UCCE rows into the
 * DD_COLS columns of Dialer_Detail rows, every row into the DIAL_COLS decision
 * columns; counts the call results in picked_codes. Returns the number of
 * UCCE rows. */
static int dial_decide(const PGresult *res, sim_dial_decide_fn decide, void *ctx,
                       ecm_pgarr cols[DD_COLS], ecm_pgarr dec[DIAL_COLS],
                       int picked_codes[SIM_STATS_MAX_CODES])
{
    int rows = PQntuples(res), ucce = 0;
    for (int r = 0; r < rows; r++) {
        const char *account = PQgetvalue(res, r, 0);
        int is_ucce = strcmp(PQgetvalue(res, r, 3), "ucce") == 0;
        sim_dial_outcome o = {.call_status_zone1 = 'C',
                              .dialing_mode = STORE_DIALING_MODE_DEFAULT,
                              .callback_minutes = -1};
        decide(ctx, account, PQgetvalue(res, r, 2), 0, &o);
        ecm_pgarr_add_str(&dec[0], account);
        ecm_pgarr_add_int(&dec[1], store_ll(res, r, 1));
        ecm_pgarr_add_int(&dec[2], o.call_result);
        ecm_pgarr_add_int(&dec[3], sim_rec_uccx_result(o.call_result));
        ecm_pgarr_add_str(&dec[4], PQgetvalue(res, r, 3));
        if (o.call_result >= 0 && o.call_result < SIM_STATS_MAX_CODES) {
            picked_codes[o.call_result]++;
        }
        if (!is_ucce) {
            continue;
        }
        ucce++;
        char zone[2] = {o.call_status_zone1, '\0'};
        char guid[33];
        store_call_guid(guid);
        ecm_pgarr_add_int(&cols[0], store_ll(res, r, 1));
        ecm_pgarr_add_int(&cols[1], o.call_result);
        ecm_pgarr_add_int(&cols[2], o.call_result_detail);
        ecm_pgarr_add_str(&cols[3], zone);
        ecm_pgarr_add_str(&cols[4], PQgetvalue(res, r, 2));
        ecm_pgarr_add_str(&cols[5], account);
        ecm_pgarr_add_int(&cols[6], o.dialing_mode);
        ecm_pgarr_add_str(&cols[7], guid);
        ecm_pgarr_add_int(&cols[8], o.call_duration_s);
        ecm_pgarr_add_str(&cols[9], o.agent);
        ecm_pgarr_add_int(&cols[10], o.agent[0] ? o.callback_minutes : -1);
    }
    return ucce;
}

/* Writes the decisions (dec literals) into sim_contacts, UCCX's
 * dialinglist and each UCCE campaign's dialing list. Returns 0 or -1.
 * dialinglist is found by account number alone ("campaignid + 0" keeps
 * (campaignid, callstatus) out of the plan): with both indexes usable the
 * planner ANDed their bitmaps, reading the campaign's whole index for each
 * account, a cost that grew with the list (docs/performance.md). */
static int dial_update_lists(ecm_pg *pg, const PGresult *picked, const char *const dec[DIAL_COLS])
{
    if (ecm_pg_cmd(pg,
                   "UPDATE sim_contacts c SET call_result = u.cr"
                   " FROM unnest($1::text[], $2::int[]) AS u(a, cr) WHERE c.account_number = u.a",
                   2, (const char *const[]){dec[0], dec[2]}) != 0 ||
        ecm_pg_cmd(pg,
                   "UPDATE dialinglist d SET callstatus = 3, callresult = u.x,"
                   " lastnumberdialed = 1, callsmadetophone01 = d.callsmadetophone01 + 1,"
                   " callresult01 = u.x, lastupdated = now() AT TIME ZONE 'UTC'"
                   " FROM unnest($1::text[], $2::int[], $3::int[], $4::text[])"
                   "  AS u(a, cid, x, sys)"
                   " WHERE u.sys = 'uccx' AND d.accountnumber = u.a AND d.campaignid + 0 = u.cid",
                   4, (const char *const[]){dec[0], dec[1], dec[3], dec[4]}) != 0) {
        return -1;
    }
    int rows = PQntuples(picked);
    for (int r = 0; r < rows; r++) {
        long long cid = store_ll(picked, r, 1);
        int first = strcmp(PQgetvalue(picked, r, 3), "ucce") == 0;
        for (int q = 0; q < r && first; q++) {
            first =
                !(store_ll(picked, q, 1) == cid && strcmp(PQgetvalue(picked, q, 3), "ucce") == 0);
        }
        if (!first) {
            continue; /* not UCCE, or its campaign is done already */
        }
        char sql[512], cids[24];
        snprintf(cids, sizeof cids, "%lld", cid);
        snprintf(sql, sizeof sql,
                 "UPDATE DL_%lld_1 d SET CallStatusZone1 = 'C', CallResult = u.cr,"
                 " CallsMadeToZone1 = d.CallsMadeToZone1 + 1"
                 " FROM unnest($1::text[], $2::int[], $3::int[], $4::text[]) AS u(a, cid, cr, sys)"
                 " WHERE u.sys = 'ucce' AND u.cid = $5::int AND d.AccountNumber = u.a",
                 cid);
        if (ecm_pg_cmd(pg, sql, 5, (const char *const[]){dec[0], dec[1], dec[2], dec[4], cids}) !=
            0) {
            return -1;
        }
    }
    return 0;
}

/* Inserts the Dialer_Detail rows whose columns lits holds (lits[DD_COLS]:
 * the Logger's zone). RecoveryKey comes from the column default in
 * ordinality order, so within a tick keys follow the oldest-first dialing
 * order; lits[DD_COLS + 1] the Logger's now (ms). Returns 0 or -1. */
static int dial_record(ecm_pg *pg, const char *const lits[DD_COLS + 2])
{
    return ecm_pg_cmd(pg,
                      "INSERT INTO Dialer_Detail (DateTime, CampaignID, CallResult,"
                      " CallResultDetail, CallStatusZone1, Phone, AccountNumber, DialingMode,"
                      " CallGUID, CallDuration, AgentPeripheralNumber, CallbackDateTime)"
                      " SELECT now() AT TIME ZONE 'UTC', u.cid, u.cr, u.crd, u.z,"
                      "        NULLIF(u.ph, ''), u.acc, u.dm, u.guid, u.dur, NULLIF(u.ag, ''),"
                      "        CASE WHEN u.cbm >= 0 THEN date_trunc('second',"
                      "             to_timestamp($13::float8 / 1000) AT TIME ZONE $12)"
                      "             + make_interval(mins => u.cbm) END"
                      " FROM unnest($1::int[], $2::int[], $3::int[], $4::text[], $5::text[],"
                      "             $6::text[], $7::int[], $8::text[], $9::int[], $10::text[],"
                      "             $11::int[])"
                      "      WITH ORDINALITY AS u(cid, cr, crd, z, ph, acc, dm, guid, dur, ag, cbm,"
                      "                           ord)"
                      " ORDER BY u.ord",
                      DD_COLS + 2, lits);
}

int sim_store_dial_batch(ecm_pg *pg, long long limit, long long delay_ms, const char *logger_zone,
                         sim_dial_decide_fn decide, void *ctx, size_t *dialed, uint64_t *counts)
{
    *dialed = 0;
    if (limit <= 0) {
        return 0;
    }
    ecm_pgarr cols[DD_COLS], dec[DIAL_COLS];
    store_arrays_begin(cols, DD_COLS);
    store_arrays_begin(dec, DIAL_COLS);
    const char *lits[DD_COLS + 2], *declits[DIAL_COLS];
    char now[24];
    store_logger_now_ms(now);
    lits[DD_COLS] = logger_zone && logger_zone[0] ? logger_zone : "UTC";
    lits[DD_COLS + 1] = now;
    size_t pcbs = 0;
    int picked_codes[SIM_STATS_MAX_CODES] = {0};
    PGresult *res = NULL;
    int rc = -1, rows = 0;

    if (ecm_pg_begin(pg) != 0 || !(res = dial_pick(pg, limit, delay_ms))) {
        goto fail;
    }
    rows = PQntuples(res);
    int ucce = dial_decide(res, decide, ctx, cols, dec, picked_codes);
    if (store_arrays_finish(cols, DD_COLS, lits) != 0 ||
        store_arrays_finish(dec, DIAL_COLS, declits) != 0) {
        ecm_log_error("dial batch too large", "rows=%d", rows);
        goto fail;
    }
    if ((ucce > 0 && dial_record(pg, lits) != 0) ||
        (rows > 0 && dial_update_lists(pg, res, declits) != 0) ||
        store_pcb_dial(pg, limit - rows, lits[DD_COLS], decide, ctx, picked_codes, &pcbs) != 0 ||
        ecm_pg_commit(pg) != 0) {
        goto fail;
    }
    *dialed = (size_t)rows + pcbs;
    if (counts) {
        for (int c = 0; c < SIM_STATS_MAX_CODES; c++) {
            counts[c] += (uint64_t)picked_codes[c];
        }
    }
    rc = 0;
    goto done;
fail:
    store_abort(pg);
    ecm_log_error("dialing tick rolled back", NULL);
done:
    PQclear(res);
    store_arrays_destroy(cols, DD_COLS);
    store_arrays_destroy(dec, DIAL_COLS);
    return rc;
}

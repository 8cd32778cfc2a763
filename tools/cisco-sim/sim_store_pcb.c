/* Personal_Callback_List in the sim's store: Cisco's API insert, the list
 * search, and the dialer's pass over due callbacks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_uuid.h"
#include "sim_pcb.h"
#include "sim_store_int.h"

#define PCB_NUM 24
/* The Logger's clock: the business clock (ecm_clock.h), so that a stack on
 * a moved clock and the sim agree on what is due. */
#define LOGGER_NOW(ms, zone) "(to_timestamp(" ms "::float8 / 1000) AT TIME ZONE " zone ")"

void store_logger_now_ms(char out[24])
{
    snprintf(out, 24, "%lld", (long long)ecm_clock_now_ms());
}

/* Cisco's API refuses a time SIM_PCB_PAST_LIMIT_MIN ($10) minutes or more
 * in the past: then no row is inserted. */
static const char PCB_INSERT_SQL[] =
    "INSERT INTO Personal_Callback_List (CampaignID, AgentID, Phone, AccountNumber,"
    " MaxAttempts, CallbackDateTime, CallStatus, FirstName, LastName, InsertedIntoDBDateTime)"
    " SELECT $1::int, $2::int, $3, $4, $5::int, $6::timestamp, 'P', NULLIF($7, ''),"
    " NULLIF($8, ''), date_trunc('second', " LOGGER_NOW(
        "$11", "$9") ")"
                     " WHERE $6::timestamp > " LOGGER_NOW("$11",
                                                          "$9") " - make_interval(mins => $10::int)"
                                                                " RETURNING PersonalCallbackListID";

int sim_store_pcb_insert(sim_store *s, const sim_pcb *p, const char *logger_zone, long long *id)
{
    char cid[PCB_NUM], agent[PCB_NUM], maxa[PCB_NUM], limit[PCB_NUM], now[PCB_NUM];
    store_logger_now_ms(now);
    snprintf(cid, sizeof cid, "%d", p->campaign_id);
    snprintf(agent, sizeof agent, "%lld", p->agent_id);
    snprintf(maxa, sizeof maxa, "%d", p->max_attempts);
    snprintf(limit, sizeof limit, "%d", SIM_PCB_PAST_LIMIT_MIN);
    const char *zone = logger_zone && logger_zone[0] ? logger_zone : "UTC";
    const char *params[] = {cid,           agent,        p->phone, p->account, maxa, p->callback,
                            p->first_name, p->last_name, zone,     limit,      now};
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    PGresult *res = ecm_pg_exec(pg, PCB_INSERT_SQL, 11, params);
    int rc = -1;
    if (res) {
        rc = PQntuples(res) == 1 ? 0 : 1;
        if (rc == 0) {
            *id = store_ll(res, 0, 0);
        }
        PQclear(res);
    } else {
        (void)ecm_pg_check_broken(pg);
        ecm_log_error("personal callback not stored", "account_number=%s", p->account);
    }
    ecm_pg_pool_put(s->pool, pg);
    return rc;
}

/* Row r of a Personal_Callback_List SELECT of PCB_COLUMNS into *p. */
#define PCB_COLUMNS                                                                                \
    "PersonalCallbackListID, coalesce(CampaignID, 0), AgentID, Phone, AccountNumber,"              \
    " MaxAttempts, coalesce(to_char(CallbackDateTime, 'YYYY-MM-DD\"T\"HH24:MI:SS'), ''),"          \
    " coalesce(FirstName, ''), coalesce(LastName, ''), CallStatus, coalesce(CallResult, 0)"

static void pcb_row(const PGresult *res, int r, sim_pcb *p)
{
    memset(p, 0, sizeof *p);
    p->id = store_ll(res, r, 0);
    p->campaign_id = (int)store_ll(res, r, 1);
    p->agent_id = store_ll(res, r, 2);
    store_copy_field(p->phone, sizeof p->phone, PQgetvalue(res, r, 3));
    store_copy_field(p->account, sizeof p->account, PQgetvalue(res, r, 4));
    p->max_attempts = (int)store_ll(res, r, 5);
    store_copy_field(p->callback, sizeof p->callback, PQgetvalue(res, r, 6));
    store_copy_field(p->first_name, sizeof p->first_name, PQgetvalue(res, r, 7));
    store_copy_field(p->last_name, sizeof p->last_name, PQgetvalue(res, r, 8));
    p->call_status = PQgetvalue(res, r, 9)[0];
    p->call_result = (int)store_ll(res, r, 10);
}

int sim_store_pcb_list(sim_store *s, const char *account, long long start, long long count,
                       long long *total, sim_pcb_visit_fn fn, void *ctx)
{
    char st[PCB_NUM], cnt[PCB_NUM];
    snprintf(st, sizeof st, "%lld", start);
    snprintf(cnt, sizeof cnt, "%lld", count);
    const char *params[] = {account ? account : "", st, cnt};
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    /* Cisco's search is a case-insensitive "contains": LIKE metacharacters
     * in the value are taken literally. */
    PGresult *res =
        ecm_pg_exec(pg,
                    "SELECT " PCB_COLUMNS ", count(*) OVER () FROM Personal_Callback_List"
                    " WHERE strpos(lower(AccountNumber), lower($1)) > 0"
                    " ORDER BY PersonalCallbackListID OFFSET $2::bigint LIMIT $3::bigint",
                    3, params);
    if (!res) {
        (void)ecm_pg_check_broken(pg);
        ecm_pg_pool_put(s->pool, pg);
        ecm_log_error("personal callbacks not listed", NULL);
        return -1;
    }
    *total = PQntuples(res) > 0 ? store_ll(res, 0, 11) : 0;
    for (int r = 0; r < PQntuples(res); r++) {
        sim_pcb p;
        pcb_row(res, r, &p);
        if (fn(ctx, &p) != 0) {
            break;
        }
    }
    PQclear(res);
    ecm_pg_pool_put(s->pool, pg);
    return 0;
}

/* The due callbacks, locked: PCB_COLUMNS. */
static PGresult *pcb_pick(ecm_pg *pg, long long limit, const char *zone)
{
    char lim[PCB_NUM], now[PCB_NUM];
    snprintf(lim, sizeof lim, "%lld", limit);
    store_logger_now_ms(now);
    const char *params[] = {lim, zone, now};
    return ecm_pg_exec(pg,
                       "SELECT " PCB_COLUMNS " FROM Personal_Callback_List"
                       " WHERE CallStatus = 'P' AND MaxAttempts > 0"
                       "   AND CallbackDateTime <= " LOGGER_NOW(
                           "$3", "$2") " ORDER BY CallbackDateTime, PersonalCallbackListID"
                                       " LIMIT $1::bigint FOR UPDATE SKIP LOCKED",
                       3, params);
}

/* Closes the callback and records its call. Returns 0 or -1. */
static int pcb_record(ecm_pg *pg, const sim_pcb *p, const sim_dial_outcome *o, const char *zone)
{
    char id[PCB_NUM], cid[PCB_NUM], cr[PCB_NUM], agent[PCB_NUM], dur[PCB_NUM], dm[PCB_NUM];
    char guid[ECM_UUID_LEN];
    snprintf(id, sizeof id, "%lld", p->id);
    snprintf(cid, sizeof cid, "%d", p->campaign_id);
    snprintf(cr, sizeof cr, "%d", o->call_result);
    snprintf(agent, sizeof agent, "%lld", p->agent_id);
    snprintf(dur, sizeof dur, "%d", o->call_duration_s);
    snprintf(dm, sizeof dm, "%d", o->dialing_mode);
    ecm_uuid_new(guid);
    char hex[33];
    size_t j = 0;
    for (size_t i = 0; guid[i] && j < 32; i++) {
        if (guid[i] != '-') {
            hex[j++] = guid[i];
        }
    }
    hex[j] = '\0';
    char now[PCB_NUM];
    store_logger_now_ms(now);
    const char *up[] = {id, cr, zone, now};
    const char *dd[] = {cid, cr, p->phone, p->account, dm, hex, dur, agent, id};
    return ecm_pg_cmd(pg,
                      "UPDATE Personal_Callback_List SET CallStatus = 'C', CallResult = $2::int,"
                      " MaxAttempts = MaxAttempts - 1,"
                      " SentToDialerDateTime = date_trunc('second', " LOGGER_NOW(
                          "$4", "$3") ")"
                                      " WHERE PersonalCallbackListID = $1::int",
                      4, up) != 0 ||
                   ecm_pg_cmd(pg,
                              "INSERT INTO Dialer_Detail (DateTime, CampaignID, CallResult,"
                              " CallResultDetail, CallStatusZone1, Phone, AccountNumber,"
                              " DialingMode, CallGUID, CallDuration, AgentPeripheralNumber,"
                              " DialingListID)"
                              " VALUES (now() AT TIME ZONE 'UTC', $1::int, $2::int, 0, 'C', $3,"
                              " $4, $5::int, $6, $7::int, $8, $9::int)",
                              9, dd) != 0
               ? -1
               : 0;
}

int store_pcb_dial(ecm_pg *pg, long long limit, const char *logger_zone, sim_dial_decide_fn decide,
                   void *ctx, int codes[SIM_STATS_MAX_CODES], size_t *dialed)
{
    *dialed = 0;
    if (limit <= 0) {
        return 0;
    }
    PGresult *res = pcb_pick(pg, limit, logger_zone);
    if (!res) {
        return -1;
    }
    int rc = 0;
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        sim_pcb p;
        pcb_row(res, r, &p);
        sim_dial_outcome o = {.call_status_zone1 = 'C', .dialing_mode = 5, .callback_minutes = -1};
        decide(ctx, p.account, p.phone, 1, &o);
        rc = pcb_record(pg, &p, &o, logger_zone);
        if (rc == 0 && o.call_result >= 0 && o.call_result < SIM_STATS_MAX_CODES) {
            codes[o.call_result]++;
        }
        (*dialed)++;
    }
    PQclear(res);
    return rc;
}

#include "st_consent.h"

#include <stdio.h>

#include "ecm_clock.h"
#include "ecm_dnc.h"
#include "ecm_log.h"

/* One revoke for the number the attempt dialled; none for an SMS attempt. */
static const char SQL_REVOKE[] =
    "INSERT INTO consent_ledger (phone, campaign_id, scope, action, source, reason, actor, at)"
    " SELECT a.phone, NULL, 'all', 'revoke', 'agent_disposition',"
    " 'agent disposition DNC on attempt ' || a.attempt || ' of contact ' || a.contact_id,"
    " 'strategy', 'epoch'::timestamptz + $3::bigint * interval '1 millisecond'"
    " FROM attempts a WHERE a.contact_id = $1 AND a.attempt = $2 AND a.channel <> 'sms'"
    " AND regexp_replace(a.phone, '[^0-9]', '', 'g') <> ''"
    " RETURNING id, phone_key";

int st_consent_on_result(ecm_pg *pg, const st_results_ctx *ctx, const st_result *r)
{
    if (r->outcome != ECM__V1__OUTCOME__OUTCOME_DNC) {
        return 0;
    }
    char contact[24], attempt[16], at[24];
    int64_t at_ms = r->result_at_ms > 0 ? r->result_at_ms : ecm_clock_now_ms();
    (void)snprintf(contact, sizeof(contact), "%lld", (long long)r->contact_id);
    (void)snprintf(attempt, sizeof(attempt), "%d", r->attempt);
    (void)snprintf(at, sizeof(at), "%lld", (long long)at_ms);
    const char *params[] = {contact, attempt, at};
    PGresult *res = ecm_pg_exec(pg, SQL_REVOKE, 3, params);
    if (res == NULL) {
        return -1;
    }
    int closed = 0;
    if (PQntuples(res) == 1) {
        const char *keys[] = {PQgetvalue(res, 0, 1)};
        closed = ecm_dnc_close_blocked_on(pg, keys, 1, 0, "all", r->contact_id, ctx->topic_closed,
                                          ctx->source);
        if (closed >= 0) {
            ecm_log_info("agent DNC disposition recorded in the consent ledger",
                         "contact %lld attempt %d ledger_id %s contacts_closed %d",
                         (long long)r->contact_id, r->attempt, PQgetvalue(res, 0, 0), closed);
        }
    }
    PQclear(res);
    return closed < 0 ? -1 : 0;
}

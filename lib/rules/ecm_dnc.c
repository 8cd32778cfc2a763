#include "ecm_dnc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_event.h"
#include "ecm_gate.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"

int ecm_dnc_phone_key(const char *phone, char *out, size_t out_size)
{
    size_t n = 0;
    if (!phone || out_size == 0) {
        return -1;
    }
    for (const char *p = phone; *p; p++) {
        if (*p < '0' || *p > '9') {
            continue;
        }
        if (n + 1 >= out_size) {
            out[0] = '\0';
            return -1;
        }
        out[n++] = *p;
    }
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

/* The candidates are the open contacts with one of the new keys; of those,
 * the ones with no number left off the lists are closed. The state is
 * checked again by the outer UPDATE because a row locked by a dispatcher is
 * re-read after the lock is granted and may have moved on. The digits
 * comparison matches however the number was stored. A contact is judged on
 * the channel of its next attempt (a strategy may have switched it). */
#define CLOSE_CHANNEL ECM_CONTACT_CHANNEL_SQL_OF("k", "c")
/* clang-format off */
static const char SQL_CLOSE_BLOCKED[] =
    "WITH blocked AS ("
    " SELECT k.id FROM contacts k JOIN campaigns c ON c.id = k.campaign_id"
    " WHERE k.state IN ('pending', 'queued', 'waiting', 'retry_due')"
    " AND c.state IN ('draft', 'active', 'paused')"
    " AND ($2::bigint IS NULL OR k.campaign_id = $2::bigint)"
    " AND ($3::text = 'all' OR $3::text = " CLOSE_CHANNEL ")"
    " AND k.id <> $4::bigint"
    " AND EXISTS (SELECT 1 FROM unnest(k.phones) p"
    "  WHERE regexp_replace(p, '[^0-9]', '', 'g') = ANY ($1::text[]))"
    " AND NOT EXISTS (SELECT 1 FROM unnest(k.phones) p"
    "  WHERE NOT " ECM_DNC_BLOCKED_SQL("p", "k.campaign_id", CLOSE_CHANNEL) ")"
    " ORDER BY k.id FOR UPDATE OF k)"
    " UPDATE contacts k SET state = 'closed', outcome = 'DNC', next_attempt_at = NULL,"
    " closed_at = now(), updated_at = now()"
    " FROM blocked WHERE k.id = blocked.id"
    " AND k.state IN ('pending', 'queued', 'waiting', 'retry_due')"
    " RETURNING k.id, k.campaign_id, k.attempts";
/* clang-format on */

int ecm_dnc_add_closed_events(ecm_pg *pg, const PGresult *r, const char *topic_closed,
                              const char *source)
{
    if (PQntuples(r) == 0) {
        return 0;
    }
    if (ecm_outbox_copy_begin(pg) != 0) {
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const ecm_outbox_closed c = {
            .contact_id = strtoll(PQgetvalue(r, i, 0), NULL, 10),
            .campaign_id = strtoll(PQgetvalue(r, i, 1), NULL, 10),
            .attempts = (int32_t)strtol(PQgetvalue(r, i, 2), NULL, 10),
            .outcome = ECM__V1__OUTCOME__OUTCOME_DNC,
        };
        if (ecm_outbox_copy_add_closed(pg, topic_closed, source, &c) != 0) {
            (void)ecm_outbox_copy_end(pg);
            return -1;
        }
    }
    return ecm_outbox_copy_end(pg);
}

int ecm_dnc_scope_valid(const char *s)
{
    return s && (strcmp(s, "voice") == 0 || strcmp(s, "sms") == 0 || strcmp(s, "all") == 0);
}

static const char SQL_RECORD[] =
    "INSERT INTO consent_ledger (phone, campaign_id, scope, action, source, reason, actor, at)"
    " VALUES ($1, $2::bigint, $3, $4, $5, $6, $7,"
    " 'epoch'::timestamptz + $8::bigint * interval '1 millisecond') RETURNING id";

long long ecm_dnc_record(ecm_pg *pg, const ecm_dnc_entry *e)
{
    char cid[24], at[24];
    (void)snprintf(cid, sizeof(cid), "%lld", e->campaign_id);
    (void)snprintf(at, sizeof(at), "%lld", (long long)e->at_ms);
    const char *params[] = {e->phone,  e->campaign_id > 0 ? cid : NULL,
                            e->scope,  e->action,
                            e->source, e->reason,
                            e->actor,  at};
    PGresult *r = ecm_pg_exec(pg, SQL_RECORD, 8, params);
    if (!r) {
        ecm_log_debug("consent entry not recorded", "sqlstate=%s", ecm_pg_last_sqlstate(pg));
        return -1;
    }
    long long id = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return id;
}

int ecm_dnc_close_blocked(ecm_pg *pg, const char *const *keys, size_t n, long long campaign_id,
                          const char *topic_closed, const char *source)
{
    return ecm_dnc_close_blocked_on(pg, keys, n, campaign_id, "all", 0, topic_closed, source);
}

int ecm_dnc_close_blocked_on(ecm_pg *pg, const char *const *keys, size_t n, long long campaign_id,
                             const char *scope, long long except_contact, const char *topic_closed,
                             const char *source)
{
    if (!ecm_dnc_scope_valid(scope)) {
        return -1;
    }
    if (n == 0) {
        return 0;
    }
    ecm_pgarr arr;
    ecm_pgarr_init(&arr);
    for (size_t i = 0; i < n; i++) {
        ecm_pgarr_add_str(&arr, keys[i]);
    }
    const char *lit = ecm_pgarr_finish(&arr);
    if (!lit) {
        ecm_pgarr_destroy(&arr);
        ecm_log_error("DNC contacts not closed", "out of memory for %zu numbers", n);
        return -1;
    }
    char cid[24], except[24];
    (void)snprintf(cid, sizeof(cid), "%lld", campaign_id);
    (void)snprintf(except, sizeof(except), "%lld", except_contact);
    const char *params[] = {lit, campaign_id > 0 ? cid : NULL, scope, except};
    PGresult *r = ecm_pg_exec(pg, SQL_CLOSE_BLOCKED, 4, params);
    ecm_pgarr_destroy(&arr);
    if (!r) {
        return -1;
    }
    int closed = PQntuples(r);
    if (ecm_dnc_add_closed_events(pg, r, topic_closed, source) != 0) {
        ecm_log_error("DNC contacts not closed", "could not write %d ContactClosed events", closed);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return closed;
}

#include "st_write.h"

#include <stdio.h>
#include <string.h>

#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"

static const char SQL_CONTACTS_CLOSE[] =
    "UPDATE contacts k SET state = 'closed', counted_attempts = u.n, outcome = u.o,"
    " next_attempt_at = NULL, callback_at = NULL, pcb_agent = NULL, pcb_at = NULL,"
    " hold_reason = nullif(u.why, ''), hold_rule_id = nullif(u.rule, -1),"
    " channel_note = coalesce(nullif(u.note, ''), k.channel_note),"
    " closed_at = now(), updated_at = now()"
    " FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::bigint[], $6::text[])"
    " AS u (id, n, o, why, rule, note)"
    " WHERE k.id = u.id";

/* Both clear callback_at: a requested time is used by one decision. The
 * wait flags a personal callback (u.agent, NULL when the result asked for
 * none; u.at its time) only when attempt u.att went to a UCCE target; the
 * returned flag says whether it did. */
static const char SQL_CONTACTS_WAIT[] =
    "UPDATE contacts k SET state = 'waiting', counted_attempts = u.n, phone_index = u.p,"
    " next_attempt_at = 'epoch'::timestamptz + u.next * interval '1 millisecond',"
    " callback_at = NULL, pcb_agent = u.pcb,"
    " pcb_at = CASE WHEN u.pcb IS NOT NULL"
    "  THEN 'epoch'::timestamptz + u.at * interval '1 millisecond' END,"
    " hold_reason = nullif(u.why, ''), hold_rule_id = nullif(u.rule, -1),"
    " channel = u.ch, channel_note = coalesce(nullif(u.note, ''), k.channel_note),"
    " updated_at = now()"
    " FROM (SELECT u.*, CASE WHEN u.agent IS NOT NULL AND EXISTS (SELECT 1 FROM attempts a"
    "   WHERE a.contact_id = u.id AND a.attempt = u.att"
    "   AND split_part(a.target, ':', 1) IN ('ucce_api', 'ucce_db')) THEN u.agent END AS pcb"
    "  FROM unnest($1::bigint[], $2::int[], $3::int[], $4::bigint[], $5::text[], $6::bigint[],"
    "   $7::int[], $8::text[], $9::bigint[], $10::text[], $11::text[])"
    "  AS u (id, n, p, next, agent, at, att, why, rule, ch, note)) u"
    " WHERE k.id = u.id RETURNING k.id, k.pcb_agent IS NOT NULL";

/* The agent of r when it asks for a personal callback: CallResult 14
 * (customer) or 15 (answering machine) with a peripheral number of digits
 * (contacts_pcb_agent_digits); else NULL. */
static const char *personal_agent(const st_result *r)
{
    size_t n = strlen(r->agent);
    if ((r->raw_code != 14 && r->raw_code != 15) || n == 0 || n > 15 ||
        strspn(r->agent, "0123456789") != n)
        return NULL;
    return r->agent;
}

static int closes(const st_item *it)
{
    return it->current && it->dec.action == ECM_DECIDE_CLOSE;
}

static int waits(const st_item *it)
{
    return it->current && it->dec.action != ECM_DECIDE_CLOSE;
}

static void destroy_all(ecm_pgarr *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ecm_pgarr_destroy(&a[i]);
}

/* Runs sql with the n finished arrays a as its parameters. Returns the
 * result, or NULL when an array could not be built or the statement
 * failed. Destroys the arrays either way. */
static PGresult *exec_arrays(ecm_pg *pg, const char *sql, ecm_pgarr *a, size_t n)
{
    const char *p[16];
    int ok = n <= 16;
    for (size_t i = 0; ok && i < n; i++)
        ok = (p[i] = ecm_pgarr_finish(&a[i])) != NULL;
    PGresult *res = ok ? ecm_pg_exec(pg, sql, (int)n, p) : NULL;
    destroy_all(a, n);
    return res;
}

static int write_closes(ecm_pg *pg, const st_results_ctx *ctx, const st_item *items, size_t n)
{
    ecm_pgarr a[6];
    size_t count = 0;
    for (size_t j = 0; j < 6; j++)
        ecm_pgarr_init(&a[j]);
    for (size_t i = 0; i < n; i++) {
        if (!closes(&items[i]))
            continue;
        const ecm_decide_out *dec = &items[i].dec;
        count++;
        ecm_pgarr_add_int(&a[0], items[i].r->contact_id);
        ecm_pgarr_add_int(&a[1], dec->counted_attempts);
        ecm_pgarr_add_str(&a[2], ecm_event_outcome_name(dec->outcome));
        ecm_pgarr_add_str(&a[3], dec->held_why);
        ecm_pgarr_add_int(&a[4], dec->held_rule_id);
        ecm_pgarr_add_str(&a[5], dec->channel_note);
    }
    if (count == 0) {
        destroy_all(a, 6);
        return 0;
    }
    PGresult *res = exec_arrays(pg, SQL_CONTACTS_CLOSE, a, 6);
    if (res == NULL)
        return -1;
    PQclear(res);
    if (ecm_outbox_copy_begin(pg) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!closes(&items[i]))
            continue;
        const ecm_outbox_closed c = {
            .campaign_id = items[i].campaign_id,
            .contact_id = items[i].r->contact_id,
            .attempts = items[i].contact_attempts,
            .outcome = items[i].dec.outcome,
        };
        rc = ecm_outbox_copy_add_closed(pg, ctx->topic_closed, ctx->source, &c);
    }
    /* The COPY is ended even after a failed row, so that the connection is
     * usable for the rollback. */
    return ecm_outbox_copy_end(pg) != 0 || rc != 0 ? -1 : 0;
}

/* The time a personal callback is due: the one asked for, or the later
 * retry time the calling window moved it to. */
static int64_t pcb_time(const st_item *it)
{
    return it->r->callback_at_ms > it->dec.next_attempt_at_ms ? it->r->callback_at_ms
                                                              : it->dec.next_attempt_at_ms;
}

static void mark_personal(st_item *items, size_t n, const PGresult *res)
{
    for (int row = 0; row < PQntuples(res); row++) {
        if (PQgetvalue(res, row, 1)[0] != 't')
            continue;
        long long id = ecm_pgval_ll(res, row, 0, 0);
        for (size_t i = 0; i < n; i++) {
            if (!waits(&items[i]) || items[i].r->contact_id != id)
                continue;
            items[i].personal = 1;
            ecm_log_info("personal callback scheduled", "contact %lld agent %s at %lld", id,
                         items[i].r->agent, (long long)pcb_time(&items[i]));
        }
    }
}

static int write_waits(ecm_pg *pg, st_item *items, size_t n)
{
    ecm_pgarr a[11];
    size_t count = 0;
    for (size_t j = 0; j < 11; j++)
        ecm_pgarr_init(&a[j]);
    for (size_t i = 0; i < n; i++) {
        if (!waits(&items[i]))
            continue;
        const ecm_decide_out *dec = &items[i].dec;
        count++;
        ecm_pgarr_add_int(&a[0], items[i].r->contact_id);
        ecm_pgarr_add_int(&a[1], dec->counted_attempts);
        ecm_pgarr_add_int(&a[2], dec->phone_index);
        ecm_pgarr_add_int(&a[3], dec->next_attempt_at_ms);
        ecm_pgarr_add_str(&a[4], personal_agent(items[i].r));
        ecm_pgarr_add_int(&a[5], pcb_time(&items[i]));
        ecm_pgarr_add_int(&a[6], items[i].r->attempt);
        ecm_pgarr_add_str(&a[7], dec->held_why);
        ecm_pgarr_add_int(&a[8], dec->held_rule_id);
        ecm_pgarr_add_str(&a[9], ecm_decide_channel_name(dec->channel));
        ecm_pgarr_add_str(&a[10], dec->channel_note);
    }
    if (count == 0) {
        destroy_all(a, 11);
        return 0;
    }
    PGresult *res = exec_arrays(pg, SQL_CONTACTS_WAIT, a, 11);
    if (res == NULL)
        return -1;
    mark_personal(items, n, res);
    PQclear(res);
    return 0;
}

int st_write_decisions(ecm_pg *pg, const st_results_ctx *ctx, st_item *items, size_t n)
{
    if (write_closes(pg, ctx, items, n) != 0 || write_waits(pg, items, n) != 0)
        return -1;
    return 0;
}

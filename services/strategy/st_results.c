#include "st_results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_event.h"
#include "ecm_log.h"
#include "st_round.h"

/* The fields every result has, from its event (what names the event in
 * reason). Returns 0, or -1 with a reason when the contact id or attempt
 * is missing (out is zeroed either way). */
static int result_common(st_result *out, const char *what, const char *event_id,
                         int64_t campaign_id, int64_t contact_id, int attempt,
                         Ecm__V1__Outcome outcome, int64_t occurred_at, char *reason,
                         size_t reason_size)
{
    memset(out, 0, sizeof(*out));
    if (contact_id <= 0 || attempt < 1) {
        snprintf(reason, reason_size, "%s result without contact id or attempt", what);
        return -1;
    }
    /* The event id is the key that makes a redelivered result a duplicate:
     * never kept cut. */
    if (event_id != NULL && (size_t)snprintf(out->event_id, sizeof(out->event_id), "%s",
                                             event_id) >= sizeof(out->event_id)) {
        snprintf(reason, reason_size, "%s result with an event id over %zu bytes", what,
                 sizeof(out->event_id) - 1);
        return -1;
    }
    out->campaign_id = campaign_id;
    out->contact_id = contact_id;
    out->attempt = attempt;
    out->outcome = outcome;
    out->result_at_ms = occurred_at;
    return 0;
}

int st_result_from_call(const Ecm__V1__CallResult *m, st_result *out, char *reason,
                        size_t reason_size)
{
    if (result_common(out, "call", m->event_id, m->campaign_id, m->contact_id, m->attempt,
                      m->outcome, m->occurred_at, reason, reason_size) != 0)
        return -1;
    out->counts_as_attempt = m->counts_as_attempt ? 1 : 0;
    out->callback_at_ms = m->callback_at;
    out->raw_code = m->call_result;
    out->has_raw_detail = 1;
    out->raw_detail = m->call_result_detail;
    if (m->agent_id != NULL &&
        (size_t)snprintf(out->agent, sizeof(out->agent), "%s", m->agent_id) >= sizeof(out->agent))
        out->agent[0] = '\0'; /* not a peripheral number: no personal callback */
    return 0;
}

int st_result_from_sms(const Ecm__V1__SmsResult *m, st_result *out, char *reason,
                       size_t reason_size)
{
    if (result_common(out, "sms", m->event_id, m->campaign_id, m->contact_id, m->attempt,
                      m->outcome, m->occurred_at, reason, reason_size) != 0)
        return -1;
    /* Every final SMS state is a real attempt at the number. */
    out->counts_as_attempt = 1;
    out->raw_code = m->gateway_status;
    return 0;
}

int st_results_decode(const st_results_ctx *ctx, const char *topic, const void *data, size_t len,
                      st_result *out, char *reason, size_t reason_size)
{
    if (topic != NULL && strcmp(topic, ctx->topic_call_results) == 0) {
        Ecm__V1__CallResult *m = ecm__v1__call_result__unpack(NULL, len, data);
        if (m == NULL) {
            snprintf(reason, reason_size, "payload is not an ecm.v1.CallResult");
            return -1;
        }
        int rc = st_result_from_call(m, out, reason, reason_size);
        ecm__v1__call_result__free_unpacked(m, NULL);
        return rc;
    }
    if (topic != NULL && strcmp(topic, ctx->topic_sms_results) == 0) {
        Ecm__V1__SmsResult *m = ecm__v1__sms_result__unpack(NULL, len, data);
        if (m == NULL) {
            snprintf(reason, reason_size, "payload is not an ecm.v1.SmsResult");
            return -1;
        }
        int rc = st_result_from_sms(m, out, reason, reason_size);
        ecm__v1__sms_result__free_unpacked(m, NULL);
        return rc;
    }
    snprintf(reason, reason_size, "unexpected topic %s", topic ? topic : "(none)");
    return -1;
}

/* ---- applying ---- */

static void count_metrics(const st_results_ctx *ctx, Ecm__V1__Outcome outcome, int decided,
                          int closed)
{
    if (ctx->metrics == NULL)
        return;
    char name[128];
    if ((size_t)snprintf(name, sizeof(name), "ecm_strategy_results_total{outcome=\"%s\"}",
                         ecm_event_outcome_name(outcome)) < sizeof(name))
        ecm_metric_add(ecm_metrics_counter(ctx->metrics, name, "results applied, by outcome"), 1);
    if (!decided)
        return;
    if (closed)
        ecm_metric_add(
            ecm_metrics_counter(ctx->metrics, "ecm_strategy_closed_total", "contacts closed"), 1);
    else
        ecm_metric_add(ecm_metrics_counter(ctx->metrics, "ecm_strategy_retries_scheduled_total",
                                           "retries scheduled (contact waiting)"),
                       1);
}

/* ecm_strategy_switch_total{to, result}: a rule's channel switch made or
 * skipped. */
static void count_switch(const st_results_ctx *ctx, ecm_decide_channel to, const char *result)
{
    char name[128];
    if (ctx->metrics == NULL || to == ECM_DECIDE_CH_NONE ||
        (size_t)snprintf(name, sizeof(name), "ecm_strategy_switch_total{to=\"%s\",result=\"%s\"}",
                         ecm_decide_channel_name(to), result) >= sizeof(name))
        return;
    ecm_metric_add(ecm_metrics_counter(ctx->metrics, name,
                                       "channel switches asked for by a strategy rule, made "
                                       "(switched) or not possible (skipped)"),
                   1);
}

static void count_status(const st_results_ctx *ctx, const st_result *r, st_apply_status st,
                         const st_apply_info *info)
{
    if (st == ST_APPLY_DECIDED) {
        count_switch(ctx, info->switch_to, "switched");
        count_switch(ctx, info->skipped_to, "skipped");
        count_metrics(ctx, r->outcome, 1, info->closed);
    } else if (st == ST_APPLY_RECORDED) {
        count_metrics(ctx, r->outcome, 0, 0);
    }
}

st_apply_status st_results_apply(ecm_pg *pg, const st_results_ctx *ctx, const st_result *r,
                                 st_apply_info *info, char *reason, size_t reason_size)
{
    st_apply_info local;
    if (info == NULL)
        info = &local;
    if (reason_size > 0)
        reason[0] = '\0';
    memset(info, 0, sizeof(*info));
    st_apply_status st = ST_APPLY_DB_ERROR;
    char why[ST_REASON_MAX] = "";
    int failed = ecm_pg_begin_generic(pg) != 0;
    if (failed)
        snprintf(reason, reason_size, "%s", ecm_pg_last_sqlstate(pg));
    else
        failed = st_round_apply(pg, ctx, r, 1, &st, info, &why, reason, reason_size) != 0;
    if (failed) { /* reason has the SQLSTATE, "" when the connection is lost */
        ecm_pg_rollback(pg);
        ecm_pg_check_broken(pg);
        return ST_APPLY_DB_ERROR;
    }
    if (st == ST_APPLY_REJECT || st == ST_APPLY_DUPLICATE) {
        snprintf(reason, reason_size, "%s", why);
        ecm_pg_rollback(pg);
        return st;
    }
    if (ecm_pg_commit(pg) != 0) {
        snprintf(reason, reason_size, "%s", ecm_pg_last_sqlstate(pg));
        ecm_pg_rollback(pg);
        ecm_pg_check_broken(pg);
        return ST_APPLY_DB_ERROR;
    }
    count_status(ctx, r, st, info);
    return st;
}

int st_results_apply_batch(ecm_pg *pg, const st_results_ctx *ctx, const st_result *rs, size_t n,
                           st_apply_status *st, char (*reasons)[ST_REASON_MAX])
{
    if (n == 0)
        return 0;
    st_apply_info *infos = calloc(n, sizeof(*infos));
    if (infos == NULL)
        return -1;
    char reason[ST_REASON_MAX] = "";
    /* Generic plans: a batch of two or three results (the sms service at
     * its default rate) had its round's statements planned at every call,
     * which cost more than running them (docs/performance.md, session 23). */
    if (ecm_pg_begin_generic(pg) != 0)
        goto fail;
    /* Rounds one after another: a contact twice in the batch, or a DNC
     * result, starts a new round, so the outcome is the one of applying the
     * results in order; a reject or duplicate wrote nothing, any DB error
     * aborts the whole batch. */
    for (size_t from = 0, end; from < n; from = end) {
        end = st_round_next(rs, from, n);
        if (st_round_apply(pg, ctx, rs + from, end - from, st + from, infos + from, reasons + from,
                           reason, sizeof(reason)) != 0)
            goto fail;
    }
    if (ecm_pg_commit(pg) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        count_status(ctx, &rs[i], st[i], &infos[i]);
    free(infos);
    return 0;
fail:
    ecm_log_info("batch of results rolled back; applying them one at a time",
                 "%zu results SQLSTATE %s", n, reason[0] ? reason : ecm_pg_last_sqlstate(pg));
    ecm_pg_rollback(pg);
    ecm_pg_check_broken(pg);
    free(infos);
    return -1;
}

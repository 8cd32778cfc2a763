#include "sms_dlr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_sms_text.h"
#include "sms_args.h"

#define SMS_DLR_MAX_BODY 8192
#define SMS_DLR_DETAIL_MAX 512
/* A connection lost mid-transaction is retried once on a fresh one before
 * the gateway is told to come back later. */
#define SMS_DLR_TRIES 2

int sms_dlr_classify(int status, Ecm__V1__Outcome *outcome)
{
    switch (status) {
    case 1:
        *outcome = ECM__V1__OUTCOME__OUTCOME_SMS_DELIVERED;
        return 1;
    case 2:
        *outcome = ECM__V1__OUTCOME__OUTCOME_SMS_UNDELIVERED;
        return 1;
    case 16:
        *outcome = ECM__V1__OUTCOME__OUTCOME_SMS_REJECTED;
        return 1;
    case 4:
    case 8:
        return 0;
    default:
        return -1;
    }
}

int sms_dlr_add_result(ecm_pg *pg, const sms_ctx *ctx, int64_t campaign_id, int64_t contact_id,
                       int attempt, const char *message_id, Ecm__V1__Outcome outcome,
                       int gateway_status, const char *detail, int segments, int64_t occurred_at_ms)
{
    char id[ECM_UUID_LEN];
    char key[24];
    ecm_uuid_new(id);
    (void)snprintf(key, sizeof(key), "%lld", (long long)contact_id);
    Ecm__V1__SmsResult ev = ECM__V1__SMS_RESULT__INIT;
    ev.event_id = id;
    ev.occurred_at = occurred_at_ms;
    ev.campaign_id = campaign_id;
    ev.contact_id = contact_id;
    ev.attempt = attempt;
    ev.message_id = (char *)(message_id != NULL ? message_id : "");
    ev.outcome = outcome;
    ev.gateway_status = gateway_status;
    ev.detail = (char *)(detail != NULL ? detail : "");
    ev.segments = segments;
    return ecm_outbox_add(pg, ctx->common->topic_sms_results, key, ctx->source, id, occurred_at_ms,
                          &ev.base);
}

static const char *const result_names[] = {
    "applied", "intermediate", "duplicate", "system", "unknown_id", "unknown_code",
};

static void count(const sms_ctx *ctx, const char *result)
{
    if (ctx->metrics == NULL)
        return;
    char name[96];
    (void)snprintf(name, sizeof(name), "ecm_sms_dlrs_total{result=\"%s\"}", result);
    ecm_metric_add(ecm_metrics_counter(ctx->metrics, name, "delivery reports received, by result"),
                   1);
}

static long long field_ll(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char SQL_RECORD[] =
    "INSERT INTO sms_dlrs (message_id, status, detail) VALUES ($1, $2, $3)";

static const char SQL_LOCK[] = "SELECT contact_id, attempt, campaign_id, status, segments"
                               " FROM attempts WHERE message_id = $1 FOR UPDATE";

static const char SQL_SYSTEM[] = "SELECT 1 FROM sms_system_messages WHERE message_id = $1";

static const char SQL_INTERMEDIATE[] =
    "UPDATE attempts SET dlr_status = $3, dlr_at = now() WHERE contact_id = $1 AND attempt = $2";

/* The outcome itself is the strategy's to write when it applies the
 * SmsResult, as for call results: st_results takes an attempt that already
 * has an outcome for a duplicate and would never decide the contact. */
static const char SQL_FINAL[] =
    "UPDATE attempts SET status = 'done', raw_code = $3, dlr_status = $3, dlr_at = now(),"
    " result_at = 'epoch'::timestamptz + $4::bigint * interval '1 millisecond'"
    " WHERE contact_id = $1 AND attempt = $2";

/* One try. Returns the result, or SMS_DLR_DB_ERROR after a rollback. */
static sms_dlr_result apply_once(ecm_pg *pg, const sms_ctx *ctx, const char *message_id, int status,
                                 const char *detail)
{
    char status_s[16];
    (void)snprintf(status_s, sizeof(status_s), "%d", status);
    Ecm__V1__Outcome outcome = ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED;
    int kind = sms_dlr_classify(status, &outcome);

    if (ecm_pg_begin(pg) != 0)
        return SMS_DLR_DB_ERROR;
    const char *p_rec[] = {message_id, status_s, detail};
    if (ecm_pg_cmd(pg, SQL_RECORD, 3, p_rec) != 0)
        goto fail;
    const char *p_id[] = {message_id};
    PGresult *a = ecm_pg_exec(pg, SQL_LOCK, 1, p_id);
    if (a == NULL)
        goto fail;
    sms_dlr_result result;
    if (PQntuples(a) == 0) {
        PQclear(a);
        PGresult *s = ecm_pg_exec(pg, SQL_SYSTEM, 1, p_id);
        if (s == NULL)
            goto fail;
        result = PQntuples(s) > 0 ? SMS_DLR_SYSTEM : SMS_DLR_UNKNOWN_ID;
        PQclear(s);
    } else if (strcmp(PQgetvalue(a, 0, 3), "done") == 0) {
        PQclear(a);
        result = SMS_DLR_DUPLICATE;
    } else if (kind < 0) {
        PQclear(a);
        result = SMS_DLR_UNKNOWN_CODE;
    } else {
        char contact_s[24], attempt_s[16];
        (void)snprintf(contact_s, sizeof(contact_s), "%s", PQgetvalue(a, 0, 0));
        (void)snprintf(attempt_s, sizeof(attempt_s), "%s", PQgetvalue(a, 0, 1));
        int64_t contact_id = field_ll(a, 0, 0);
        int attempt = (int)field_ll(a, 0, 1);
        int64_t campaign_id = field_ll(a, 0, 2);
        int segments = (int)field_ll(a, 0, 4);
        PQclear(a);
        if (kind == 0) {
            const char *p[] = {contact_s, attempt_s, status_s};
            if (ecm_pg_cmd(pg, SQL_INTERMEDIATE, 3, p) != 0)
                goto fail;
            result = SMS_DLR_INTERMEDIATE;
        } else {
            int64_t now = ecm_now_ms();
            char now_s[24];
            (void)snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
            const char *p[] = {contact_s, attempt_s, status_s, now_s};
            if (ecm_pg_cmd(pg, SQL_FINAL, 4, p) != 0 ||
                sms_dlr_add_result(pg, ctx, campaign_id, contact_id, attempt, message_id, outcome,
                                   status, detail, segments, now) != 0)
                goto fail;
            result = SMS_DLR_APPLIED;
        }
    }
    if (ecm_pg_commit(pg) != 0)
        goto fail;
    return result;
fail:
    ecm_pg_rollback(pg);
    return SMS_DLR_DB_ERROR;
}

sms_dlr_result sms_dlr_apply(ecm_pg *pg, const sms_ctx *ctx, const char *message_id, int status,
                             const char *detail)
{
    sms_dlr_result r = SMS_DLR_DB_ERROR;
    for (int t = 0; t < SMS_DLR_TRIES; t++) {
        r = apply_once(pg, ctx, message_id, status, detail);
        if (r != SMS_DLR_DB_ERROR || !ecm_pg_check_broken(pg))
            break;
    }
    switch (r) {
    case SMS_DLR_DB_ERROR:
        ecm_log_warn("DLR not recorded: database error", "message_id=%.128s status=%d sqlstate=%s",
                     message_id, status, ecm_pg_last_sqlstate(pg));
        count(ctx, "db_error");
        return r;
    case SMS_DLR_UNKNOWN_ID:
        /* Answered 200 all the same: gateways retry a failed callback for
         * ever, and no retry can make an id we never issued known (ids are
         * committed with the 'sending' attempt before the gateway sees
         * them). The DLR is kept in sms_dlrs for support. */
        ecm_log_warn("DLR for an unknown message id", "message_id=%.128s status=%d", message_id,
                     status);
        break;
    case SMS_DLR_UNKNOWN_CODE:
        ecm_log_warn("DLR with an unknown status code recorded only", "message_id=%.128s status=%d",
                     message_id, status);
        break;
    case SMS_DLR_DUPLICATE:
        ecm_log_debug("DLR for a closed attempt recorded only", "message_id=%.128s status=%d",
                      message_id, status);
        break;
    default:
        ecm_log_debug("DLR applied", "message_id=%.128s status=%d result=%s", message_id, status,
                      result_names[r]);
        break;
    }
    count(ctx, result_names[r]);
    return r;
}

/* ---- HTTP ---- */

static int parse_status(const char *s, int *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 0xFFFF)
        return -1;
    *out = (int)v;
    return 0;
}

static void bad_request(const sms_ctx *ctx, ecm_http_req *req, const char *what)
{
    count(ctx, "bad_request");
    ecm_log_warn("DLR refused", "%s", what);
    ecm_http_respond_problem(req, 400, "validation", "Invalid delivery report", "%s", what);
}

static void handle_dlr(void *vctx, ecm_http_req *req)
{
    const sms_ctx *ctx = vctx;
    char err[128];
    sms_args *args = sms_args_parse(req, err, sizeof(err));
    if (args == NULL) {
        bad_request(ctx, req, err);
        return;
    }
    const char *mid = sms_args_get(args, "msgid");
    if (mid == NULL)
        mid = sms_args_get(args, "message_id");
    const char *status_s = sms_args_get(args, "status");
    const char *detail = sms_args_get(args, "detail");
    char detail_buf[SMS_DLR_DETAIL_MAX];
    int status = 0;
    if (mid == NULL || mid[0] == '\0' || strlen(mid) > SMS_DLR_MESSAGE_ID_MAX ||
        !ecm_sms_utf8_valid(mid, strlen(mid))) {
        bad_request(ctx, req, "msgid (or message_id) is required, at most 128 bytes");
    } else if (parse_status(status_s, &status) != 0) {
        bad_request(ctx, req, "status must be a DLR code such as 1, 2, 4, 8 or 16");
    } else {
        /* The DLR matters more than its text: a detail that the text column
         * can't hold is dropped rather than refused. */
        if (detail != NULL && !ecm_sms_utf8_valid(detail, strlen(detail)))
            detail = NULL;
        if (detail != NULL) {
            /* Bounded, and cut on a character boundary: the column is text. */
            size_t n = strlen(detail);
            if (n >= sizeof(detail_buf)) {
                n = sizeof(detail_buf) - 1;
                while (n > 0 && ((unsigned char)detail[n] & 0xC0) == 0x80)
                    n--;
            }
            memcpy(detail_buf, detail, n);
            detail_buf[n] = '\0';
            detail = detail_buf;
        }
        ecm_pg *pg = ecm_pg_pool_get(ctx->pool);
        sms_dlr_result r = sms_dlr_apply(pg, ctx, mid, status, detail);
        ecm_pg_pool_put(ctx->pool, pg);
        if (r == SMS_DLR_DB_ERROR)
            ecm_http_respond_problem(req, 503, "unavailable", "Database unavailable",
                                     "the delivery report was not recorded; send it again");
        else
            ecm_http_respond(req, 200, "text/plain", "", 0);
    }
    sms_args_free(args);
}

int sms_dlr_register(ecm_http *http, const sms_ctx *ctx)
{
    void *c = (void *)(uintptr_t)ctx; /* handlers only read it */
    if (ecm_http_route(http, "GET", "/sms/dlr", 0, handle_dlr, c) != 0 ||
        ecm_http_route(http, "POST", "/sms/dlr", SMS_DLR_MAX_BODY, handle_dlr, c) != 0)
        return -1;
    return 0;
}

#include "sms_dlr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_sms.h"
#include "ecm_utf8.h"
#include "ecm_uuid.h"
#include "sms_args.h"
#include "sms_dlr_batch.h"
#include "sms_dlrq.h"

#define SMS_DLR_MAX_BODY 8192
#define SMS_DLR_DETAIL_MAX 512

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

/* Buckets of ecm_sms_dlr_delay_milliseconds: operators' DLRs come from
 * within a second to days (a phone switched off until the SMSC's validity
 * period ends). */
static const double DLR_DELAY_BOUNDS_MS[] = {
    250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 900000, 3600000, 14400000, 86400000};

/* Observes the time from the gateway's acceptance to this final DLR. */
static void observe_delay(const sms_ctx *ctx, long long delay_ms)
{
    if (ctx->metrics == NULL || delay_ms < 0)
        return;
    ecm_metric *h = ecm_metrics_histogram(
        ctx->metrics, "ecm_sms_dlr_delay_milliseconds",
        "time from the SMS gateway's acceptance to the final delivery report", DLR_DELAY_BOUNDS_MS,
        sizeof DLR_DELAY_BOUNDS_MS / sizeof DLR_DELAY_BOUNDS_MS[0]);
    ecm_metric_observe(h, (double)delay_ms);
}

void sms_dlr_note(const sms_ctx *ctx, const sms_dlr_item *it)
{
    if (it->result == SMS_DLR_APPLIED)
        observe_delay(ctx, it->delay_ms);
    switch (it->result) {
    case SMS_DLR_BUSY:
        count(ctx, "busy");
        return;
    case SMS_DLR_DB_ERROR:
        ecm_log_warn("DLR not recorded: database error", "message_id=%.128s status=%d",
                     it->message_id, it->status);
        count(ctx, "db_error");
        return;
    case SMS_DLR_UNKNOWN_ID:
        /* Answered 200 all the same: gateways retry a failed callback for
         * ever, and no retry can make an id we never issued known (ids are
         * committed with the 'sending' attempt before the gateway sees
         * them). The DLR is kept in sms_dlrs for support. */
        ecm_log_warn("DLR for an unknown message id", "message_id=%.128s status=%d", it->message_id,
                     it->status);
        break;
    case SMS_DLR_UNKNOWN_CODE:
        ecm_log_warn("DLR with an unknown status code recorded only", "message_id=%.128s status=%d",
                     it->message_id, it->status);
        break;
    case SMS_DLR_DUPLICATE:
        ecm_log_debug("DLR for a closed attempt recorded only", "message_id=%.128s status=%d",
                      it->message_id, it->status);
        break;
    default:
        ecm_log_debug("DLR applied", "message_id=%.128s status=%d result=%s", it->message_id,
                      it->status, result_names[it->result]);
        break;
    }
    count(ctx, result_names[it->result]);
}

sms_dlr_result sms_dlr_apply(ecm_pg *pg, const sms_ctx *ctx, const char *message_id, int status,
                             const char *detail)
{
    sms_dlr_item it = {message_id, status, detail, SMS_DLR_DB_ERROR, -1};
    (void)sms_dlr_batch_apply(pg, ctx, &it, 1);
    sms_dlr_note(ctx, &it);
    return it.result;
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

/* One DLR through the group commit (ctx->dlrq), or alone on a pooled
 * connection when the service has none. */
static sms_dlr_result apply_dlr(const sms_ctx *ctx, const char *mid, int status, const char *detail)
{
    if (ctx->dlrq)
        return sms_dlrq_apply(ctx->dlrq, ctx, mid, status, detail);
    ecm_pg *pg = ecm_pg_pool_get(ctx->pool);
    if (pg == NULL) {
        count(ctx, "busy");
        return SMS_DLR_BUSY;
    }
    sms_dlr_result r = sms_dlr_apply(pg, ctx, mid, status, detail);
    ecm_pg_pool_put(ctx->pool, pg);
    return r;
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
    /* Authenticated before anything else is looked at: a DLR without its
     * message's token changes nothing and tells nothing. */
    sms_auth_verdict v = sms_auth_check_dlr(ctx->auth, mid, sms_args_get(args, "token"));
    if (v != SMS_AUTH_OK) {
        sms_auth_reject(ctx->auth, req, "dlr", v);
    } else if (mid == NULL || mid[0] == '\0' || strlen(mid) > SMS_DLR_MESSAGE_ID_MAX ||
               !ecm_utf8_valid(mid, strlen(mid))) {
        bad_request(ctx, req, "msgid (or message_id) is required, at most 128 bytes");
    } else if (parse_status(status_s, &status) != 0) {
        bad_request(ctx, req, "status must be a DLR code such as 1, 2, 4, 8 or 16");
    } else {
        /* The DLR matters more than its text: a detail that the text column
         * can't hold is dropped rather than refused. */
        if (detail != NULL && !ecm_utf8_valid(detail, strlen(detail)))
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
        sms_dlr_result r = apply_dlr(ctx, mid, status, detail);
        if (r == SMS_DLR_BUSY) {
            /* Every pooled connection busy past ECM_PG_POOL_WAIT_MS: the
             * gateway sends the report again (Kannel: http-request-retry). */
            ecm_http_add_header(req, "Retry-After", "1");
            ecm_http_respond_problem(req, 503, "busy", "Database busy",
                                     "the delivery report was not recorded; send it again");
        } else if (r == SMS_DLR_DB_ERROR) {
            ecm_http_respond_problem(req, 503, "unavailable", "Database unavailable",
                                     "the delivery report was not recorded; send it again");
        } else {
            ecm_http_respond(req, 200, "text/plain", "", 0);
        }
    }
    sms_args_destroy(args);
}

int sms_dlr_register(ecm_http *http, const sms_ctx *ctx)
{
    if (ctx->auth == NULL)
        return -1;                    /* never serve callbacks unauthenticated */
    void *c = (void *)(uintptr_t)ctx; /* handlers only read it */
    if (ecm_http_route(http, "GET", "/sms/dlr", 0, handle_dlr, c) != 0 ||
        ecm_http_route(http, "POST", "/sms/dlr", SMS_DLR_MAX_BODY, handle_dlr, c) != 0)
        return -1;
    return 0;
}

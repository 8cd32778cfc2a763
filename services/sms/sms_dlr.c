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

/* The whole DLR in one statement, so that an intermediate DLR (half of all
 * DLRs from Kannel) costs one round trip in its own implicit transaction:
 * the DLR is kept in sms_dlrs, the attempt is locked (FOR UPDATE returns its
 * latest version, so a concurrent final DLR is seen) and, unless it is
 * already 'done' or the code is unknown ($4 < 0), updated. An attempt already
 * 'done' when the statement starts (the late intermediate DLR after a final
 * one) is not locked at all: 'done' is final, and waiting for the lock would
 * stall the gateway's callbacks behind the strategy's transaction. Updates: an intermediate
 * ($4 = 0) only notes the code, a final one ($4 = 1) closes the attempt.
 * The outcome itself is the strategy's to write when it applies the
 * SmsResult, as for call results: st_results takes an attempt that already
 * has an outcome for a duplicate and would never decide the contact.
 * One row: the attempt's fields (NULL when the id is unknown), whether this
 * statement updated it, whether the id is a system message's, and the
 * milliseconds since the gateway took the message (the database's real
 * clock, never the business clock; NULL when never taken). */
static const char SQL_APPLY[] =
    "WITH rec AS (INSERT INTO sms_dlrs (message_id, status, detail) VALUES ($1, $2::int, $3)),"
    " b AS (SELECT contact_id, attempt, campaign_id, status, segments, sent_at FROM attempts"
    "  WHERE message_id = $1),"
    " a AS (SELECT contact_id, attempt, status FROM attempts"
    "  WHERE message_id = $1 AND status <> 'done' FOR UPDATE),"
    " u AS (UPDATE attempts t SET dlr_status = $2::int, dlr_at = now(),"
    "  status = CASE WHEN $4::int = 1 THEN 'done' ELSE t.status END,"
    "  raw_code = CASE WHEN $4::int = 1 THEN $2::int ELSE t.raw_code END,"
    "  result_at = CASE WHEN $4::int = 1"
    "   THEN 'epoch'::timestamptz + $5::bigint * interval '1 millisecond' ELSE t.result_at END"
    "  FROM a WHERE t.contact_id = a.contact_id AND t.attempt = a.attempt"
    "  AND a.status <> 'done' AND $4::int >= 0 RETURNING t.contact_id)"
    " SELECT b.contact_id, b.attempt, b.campaign_id, coalesce(a.status, b.status), b.segments,"
    " EXISTS (SELECT 1 FROM u),"
    " b.contact_id IS NULL AND EXISTS (SELECT 1 FROM sms_system_messages WHERE message_id = $1),"
    " floor(extract(epoch FROM clock_timestamp() - b.sent_at) * 1000)::bigint"
    " FROM (SELECT 1) one LEFT JOIN b ON true LEFT JOIN a ON true";

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

/* One try. Returns the result, or SMS_DLR_DB_ERROR after a rollback. */
static sms_dlr_result apply_once(ecm_pg *pg, const sms_ctx *ctx, const char *message_id, int status,
                                 const char *detail)
{
    char status_s[16], kind_s[8], now_s[24];
    (void)snprintf(status_s, sizeof(status_s), "%d", status);
    Ecm__V1__Outcome outcome = ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED;
    int kind = sms_dlr_classify(status, &outcome);
    (void)snprintf(kind_s, sizeof(kind_s), "%d", kind);
    int64_t now = ecm_clock_wall_ms();
    (void)snprintf(now_s, sizeof(now_s), "%lld", (long long)now);

    /* Only a final DLR writes an outbox row, which must share the
     * transaction; anything else is the one statement alone. */
    int in_tx = kind == 1;
    if (in_tx && ecm_pg_begin(pg) != 0)
        return SMS_DLR_DB_ERROR;
    const char *p[] = {message_id, status_s, detail, kind_s, now_s};
    PGresult *a = ecm_pg_exec(pg, SQL_APPLY, 5, p);
    if (a == NULL || PQntuples(a) != 1) {
        PQclear(a);
        goto fail;
    }
    sms_dlr_result result;
    if (PQgetisnull(a, 0, 0)) {
        result = PQgetvalue(a, 0, 6)[0] == 't' ? SMS_DLR_SYSTEM : SMS_DLR_UNKNOWN_ID;
    } else if (strcmp(PQgetvalue(a, 0, 3), "done") == 0) {
        result = SMS_DLR_DUPLICATE;
    } else if (kind < 0) {
        result = SMS_DLR_UNKNOWN_CODE;
    } else if (PQgetvalue(a, 0, 5)[0] != 't') {
        PQclear(a); /* can't be: the row was locked and not done */
        goto fail;
    } else if (kind == 0) {
        result = SMS_DLR_INTERMEDIATE;
    } else {
        if (sms_dlr_add_result(pg, ctx, field_ll(a, 0, 2), field_ll(a, 0, 0),
                               (int)field_ll(a, 0, 1), message_id, outcome, status, detail,
                               (int)field_ll(a, 0, 4), now) != 0) {
            PQclear(a);
            goto fail;
        }
        result = SMS_DLR_APPLIED;
    }
    long long delay_ms = PQgetisnull(a, 0, 7) ? -1 : field_ll(a, 0, 7);
    PQclear(a);
    if (in_tx && ecm_pg_commit(pg) != 0)
        goto fail;
    if (result == SMS_DLR_APPLIED)
        observe_delay(ctx, delay_ms);
    return result;
fail:
    if (in_tx)
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
        ecm_pg *pg = ecm_pg_pool_get(ctx->pool);
        if (pg == NULL) {
            /* Every pooled connection busy past ECM_PG_POOL_WAIT_MS: the
             * gateway sends the report again (Kannel: http-request-retry). */
            count(ctx, "busy");
            ecm_http_add_header(req, "Retry-After", "1");
            ecm_http_respond_problem(req, 503, "busy", "Database busy",
                                     "the delivery report was not recorded; send it again");
            sms_args_destroy(args);
            return;
        }
        sms_dlr_result r = sms_dlr_apply(pg, ctx, mid, status, detail);
        ecm_pg_pool_put(ctx->pool, pg);
        if (r == SMS_DLR_DB_ERROR)
            ecm_http_respond_problem(req, 503, "unavailable", "Database unavailable",
                                     "the delivery report was not recorded; send it again");
        else
            ecm_http_respond(req, 200, "text/plain", "", 0);
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

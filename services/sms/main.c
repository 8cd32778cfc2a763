/* ecm-sms: SMS contacts from Kafka to the SMS gateways (Kannel, a generic
 * HTTP/JSON gateway), paced from the ECM DB; DLRs and inbound messages
 * (opt-out) over HTTP. main() only wires the parts: intake (ecm_intake),
 * sending (sms_sender, sms_gw*), DLRs (sms_dlr), inbound (sms_mo), their
 * authentication (sms_auth), DLR timeouts (sms_expiry) and the retention
 * purge (sms_purge). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_calling.h"
#include "ecm_log.h"
#include "ecm_service.h"
#include "sms_ctx.h"
#include "sms_dlr.h"
#include "sms_dlrq.h"
#include "sms_expiry.h"
#include "sms_gw.h"
#include "ecm_intake.h"
#include "sms_mo.h"
#include "sms_purge.h"
#include "sms_sender.h"

#define DEFAULT_HTTP_BODY                                                                          \
    "{\"message_id\":\"{message_id}\",\"to\":\"{to}\",\"from\":\"{from}\",\"text\":\"{text}\","    \
    "\"dlr_url\":\"{dlr_url}\"}"

/* Threads that apply batches of DLRs at once (sms_dlrq). */
#define SMS_DLR_LEADERS 2

typedef struct {
    ecm_common_config common;
    char *group;
    char *kannel_url;
    char *kannel_user;
    char *kannel_password;
    char *http_url;
    char *http_method;
    char *http_body;
    char *http_auth;
    double rate_kannel;
    double rate_http;
    long long concurrency;
    char *default_gateway;
    char *system_gateway;
    char *callback_base_url;
    char *callback_secret;
    char *callback_secret_previous;
    char *mo_key;
    char *mo_key_previous;
    long long reply_interval_s;
    long long reply_max_per_minute;
    long long retention_days;
    long long purge_batch;
    long long purge_interval_s;
    char *help_text;
    char *optout_text;
    char *optin_text;
    char *system_sender;
    long long dlr_scan_ms;
    long long send_timeout_s;
    long long stale_s;
    long long resend_after_s;
    long long batch;
    long long tick_ms;
    long long backoff_max_ms;
    long long db_pool;
    char *legal_hours;
} sms_config;

static int validate_method(const char *value, char *errstr, size_t errstr_size)
{
    if (strcmp(value, "POST") == 0 || strcmp(value, "PUT") == 0 || strcmp(value, "PATCH") == 0)
        return 0;
    snprintf(errstr, errstr_size, "'%s' is not POST, PUT or PATCH", value);
    return -1;
}

static int validate_gateway(const char *value, char *errstr, size_t errstr_size)
{
    if (strcmp(value, "kannel") == 0 || strcmp(value, "http") == 0)
        return 0;
    snprintf(errstr, errstr_size, "'%s' is not kannel or http", value);
    return -1;
}

static int validate_body(const char *value, char *errstr, size_t errstr_size)
{
    sms_gw_msg m = {"id", "+1", "x", "t", ECM_SMS_GSM7};
    char *body = sms_gw_http_body(value, &m, "u", errstr, errstr_size);
    free(body);
    return body ? 0 : -1;
}

/* clang-format off */
static const ecm_cfg_entry config_table[] = {
    /* Callbacks come from a few gateways, each with many connections from one
     * address (Kannel's smsbox holds up to max-pending-requests at once, plus
     * idle kept-alive ones): the per-client cap is the total one. */
    ECM_COMMON_CONFIG_ENTRIES(sms_config, common, "8084", "1000"),
    {"ECM_SMS_GROUP", ECM_CFG_STRING, offsetof(sms_config, group), "ecm-sms", 0, -1,
     "Kafka consumer group", NULL, 0},
    {"ECM_SMS_KANNEL_URL", ECM_CFG_STRING, offsetof(sms_config, kannel_url),
     "http://127.0.0.1:13013/cgi-bin/sendsms", 0, -1,
     "Kannel smsbox sendsms URL (empty: no Kannel gateway)", ecm_config_check_url_or_empty, 0},
    {"ECM_SMS_KANNEL_USER", ECM_CFG_STRING, offsetof(sms_config, kannel_user), "ecm", 0, -1,
     "Kannel sendsms username", NULL, 0},
    {"ECM_SMS_KANNEL_PASSWORD", ECM_CFG_STRING, offsetof(sms_config, kannel_password), "", 0, -1,
     "Kannel sendsms password", NULL, 1},
    {"ECM_SMS_HTTP_GATEWAY_URL", ECM_CFG_STRING, offsetof(sms_config, http_url), "", 0, -1,
     "generic HTTP/JSON gateway endpoint (empty: none)", ecm_config_check_url_or_empty, 0},
    {"ECM_SMS_HTTP_GATEWAY_METHOD", ECM_CFG_STRING, offsetof(sms_config, http_method), "POST", 0,
     -1, "generic gateway: POST, PUT or PATCH", validate_method, 0},
    {"ECM_SMS_HTTP_GATEWAY_BODY", ECM_CFG_STRING, offsetof(sms_config, http_body),
     DEFAULT_HTTP_BODY, 0, -1,
     "generic gateway: JSON body with {message_id} {to} {from} {text} {dlr_url} (JSON-escaped)",
     validate_body, 0},
    {"ECM_SMS_HTTP_GATEWAY_AUTH", ECM_CFG_STRING, offsetof(sms_config, http_auth), "", 0, -1,
     "generic gateway: Authorization header value (empty: none)", NULL, 1},
    {"ECM_SMS_RATE_KANNEL", ECM_CFG_DOUBLE, offsetof(sms_config, rate_kannel), "100", 0.01,
     100000, "messages per second to Kannel (token bucket)", NULL, 0},
    {"ECM_SMS_RATE_HTTP", ECM_CFG_DOUBLE, offsetof(sms_config, rate_http), "100", 0.01, 100000,
     "messages per second to the generic gateway (token bucket)", NULL, 0},
    {"ECM_SMS_CONCURRENCY", ECM_CFG_INT, offsetof(sms_config, concurrency), "16", 1, 1024,
     "requests in flight per gateway (keep-alive connections)", NULL, 0},
    {"ECM_SMS_DEFAULT_GATEWAY", ECM_CFG_STRING, offsetof(sms_config, default_gateway), "kannel",
     0, -1, "gateway of campaigns that name none: kannel or http", validate_gateway, 0},
    {"ECM_SMS_SYSTEM_GATEWAY", ECM_CFG_STRING, offsetof(sms_config, system_gateway), "kannel", 0,
     -1, "gateway of system messages (opt-out confirmations, HELP): kannel or http",
     validate_gateway, 0},
    {"ECM_SMS_CALLBACK_BASE_URL", ECM_CFG_STRING, offsetof(sms_config, callback_base_url),
     "http://127.0.0.1:8084", 0, -1,
     "this service's HTTP port as the gateways reach it (DLR URLs)", ecm_config_check_url, 0},
    {"ECM_SMS_CALLBACK_SECRET", ECM_CFG_STRING, offsetof(sms_config, callback_secret), NULL, 0,
     -1, "secret of the DLR URL tokens (HMAC-SHA256 of the message id): a random value of at "
     "least 32 characters, known to this service only", sms_auth_validate_secret, 1},
    {"ECM_SMS_CALLBACK_SECRET_PREVIOUS", ECM_CFG_STRING,
     offsetof(sms_config, callback_secret_previous), "", 0, -1,
     "the secret before a rotation: tokens under it are still accepted (empty: none)",
     sms_auth_validate_previous, 1},
    {"ECM_SMS_MO_KEY", ECM_CFG_STRING, offsetof(sms_config, mo_key), NULL, 0, -1,
     "key that inbound-message callbacks carry (key= in Kannel's get-url or the gateway's "
     "URL, or the X-ECM-Key header): a random value of at least 32 characters",
     sms_auth_validate_secret, 1},
    {"ECM_SMS_MO_KEY_PREVIOUS", ECM_CFG_STRING, offsetof(sms_config, mo_key_previous), "", 0, -1,
     "the MO key before a rotation, still accepted (empty: none)", sms_auth_validate_previous, 1},
    {"ECM_SMS_REPLY_INTERVAL_S", ECM_CFG_INT, offsetof(sms_config, reply_interval_s), "600", 0,
     604800, "at most one reply of a kind (HELP answer, opt-out or opt-in confirmation) to a "
     "number per this many seconds of business time (0: no limit)", NULL, 0},
    {"ECM_SMS_REPLY_MAX_PER_MINUTE", ECM_CFG_INT, offsetof(sms_config, reply_max_per_minute),
     "60", 0, 1000000, "replies to inbound messages in all, per business minute, across "
     "replicas (0: no limit)", NULL, 0},
    {"ECM_SMS_RETENTION_DAYS", ECM_CFG_INT, offsetof(sms_config, retention_days), "90", 1, 36500,
     "DLRs (sms_dlrs) and inbound messages (sms_inbound) older than this are purged", NULL, 0},
    {"ECM_SMS_PURGE_BATCH", ECM_CFG_INT, offsetof(sms_config, purge_batch), "1000", 1, 100000,
     "rows deleted per transaction by the retention purge", NULL, 0},
    {"ECM_SMS_PURGE_INTERVAL_S", ECM_CFG_INT, offsetof(sms_config, purge_interval_s), "3600", 1,
     604800, "pause between two retention purges", NULL, 0},
    {"ECM_SMS_HELP_TEXT", ECM_CFG_STRING, offsetof(sms_config, help_text),
     "ECM messages. Reply STOP to opt out, START to opt back in.", 0, -1,
     "answer to an inbound HELP", NULL, 0},
    {"ECM_SMS_OPTOUT_TEXT", ECM_CFG_STRING, offsetof(sms_config, optout_text),
     "You are unsubscribed and will get no more messages. Reply START to resubscribe.", 0, -1,
     "confirmation sent after STOP and the other opt-out keywords", NULL, 0},
    {"ECM_SMS_OPTIN_TEXT", ECM_CFG_STRING, offsetof(sms_config, optin_text),
     "You are subscribed again. Reply STOP to opt out.", 0, -1,
     "confirmation sent after START, YES or UNSTOP", NULL, 0},
    {"ECM_SMS_SYSTEM_SENDER", ECM_CFG_STRING, offsetof(sms_config, system_sender), "ECM", 0, -1,
     "sender (from) of system messages", NULL, 0},
    {"ECM_SMS_DLR_SCAN_MS", ECM_CFG_INT, offsetof(sms_config, dlr_scan_ms), "5000", 10,
     3600000, "how often attempts without a final DLR are checked for their timeout", NULL, 0},
    {"ECM_SMS_SEND_TIMEOUT_S", ECM_CFG_INT, offsetof(sms_config, send_timeout_s), "10", 1, 300,
     "bound on one request to a gateway", NULL, 0},
    {"ECM_SMS_STALE_S", ECM_CFG_INT, offsetof(sms_config, stale_s), "60", 5, 86400,
     "an attempt left 'sending' this long by a stopped sender is taken over: recorded sent if "
     "a DLR came, else sent again (same message id) through the generic gateway", NULL, 0},
    {"ECM_SMS_RESEND_AFTER_S", ECM_CFG_INT, offsetof(sms_config, resend_after_s), "600", 5,
     604800, "Kannel can't be asked whether it took a message: one left 'sending' by a stopped "
     "sender without a DLR is sent again only this long after its lease (>= ECM_SMS_STALE_S; "
     "longer than Kannel's DLR callback retries: a late DLR closes it meanwhile)", NULL, 0},
    {"ECM_SMS_BATCH", ECM_CFG_INT, offsetof(sms_config, batch), "500", 1, 10000,
     "most contacts taken from the DB in one transaction", NULL, 0},
    {"ECM_SMS_TICK_MS", ECM_CFG_INT, offsetof(sms_config, tick_ms), "200", 10, 60000,
     "idle wait between passes of the sender", NULL, 0},
    {"ECM_SMS_BACKOFF_MAX_MS", ECM_CFG_INT, offsetof(sms_config, backoff_max_ms), "30000", 200,
     600000, "cap on a gateway's backoff after 503, timeout or refused connection", NULL, 0},
    {"ECM_SMS_DB_POOL", ECM_CFG_INT, offsetof(sms_config, db_pool), "8", 1, 256,
     "DB connections for the DLR and inbound handlers", NULL, 0},
    ECM_CALLING_CONFIG_ENTRY(sms_config, legal_hours),
};
/* clang-format on */

#define CONFIG_N (sizeof config_table / sizeof config_table[0])

/* Settings that are only wrong together. Returns 0, or 2 after one line on
 * stderr. */
static int check_combination(const sms_config *cfg)
{
    const char *bad = NULL;
    char why[256];
    if (!cfg->kannel_url[0] && !cfg->http_url[0]) {
        bad = "ECM_SMS_KANNEL_URL";
        snprintf(why, sizeof why, "no gateway: set it or ECM_SMS_HTTP_GATEWAY_URL");
    } else if (cfg->stale_s <= 2 * cfg->send_timeout_s) {
        bad = "ECM_SMS_STALE_S";
        snprintf(why, sizeof why, "must be more than twice ECM_SMS_SEND_TIMEOUT_S (%lld)",
                 cfg->send_timeout_s);
    } else if (cfg->resend_after_s < cfg->stale_s) {
        bad = "ECM_SMS_RESEND_AFTER_S";
        snprintf(why, sizeof why, "must be at least ECM_SMS_STALE_S (%lld)", cfg->stale_s);
    } else {
        const char *names[2] = {"ECM_SMS_DEFAULT_GATEWAY", "ECM_SMS_SYSTEM_GATEWAY"};
        const char *values[2] = {cfg->default_gateway, cfg->system_gateway};
        for (int i = 0; i < 2 && !bad; i++) {
            int kannel = strcmp(values[i], "kannel") == 0;
            if ((kannel && !cfg->kannel_url[0]) || (!kannel && !cfg->http_url[0])) {
                bad = names[i];
                snprintf(why, sizeof why, "gateway '%s' is not configured (its URL is empty)",
                         values[i]);
            }
        }
    }
    if (!bad)
        return 0;
    fprintf(stderr, "ecm-sms: %s: %s\n", bad, why);
    return 2;
}

/* check_combination(), then the legal hours parsed into *legal. Returns 0,
 * or 2 after one line on stderr. */
static int check_config(const sms_config *cfg, ecm_legal_hours *legal)
{
    if (check_combination(cfg) != 0)
        return 2;
    char errstr[512];
    if (ecm_calling_legal_parse(cfg->legal_hours, legal, errstr, sizeof errstr) != 0) {
        /* Not reached: the table's validator has checked the value. */
        fprintf(stderr, "ecm-sms: %s: %s\n", ECM_CALLING_LEGAL_ENV, errstr);
        return 2;
    }
    return 0;
}

/* What main() starts beside the service, stopped by parts_stop(). */
typedef struct {
    ecm_pg_pool *pool;
    ecm_intake *intake;
    sms_expiry *expiry;
    sms_purge *purge;
    sms_sender *sender;
    sms_auth *auth;
    sms_dlrq *dlrq;
} sms_parts;

/* The lanes of scfg: one a gateway whose URL is set (Kannel first). Can't
 * fail: check_combination() has made sure there is one. */
static void add_lanes(const sms_config *cfg, sms_sender_config *scfg)
{
    if (cfg->kannel_url[0]) {
        scfg->lanes[scfg->nlanes++] = (sms_lane_config){
            .gw =
                {
                    .kind = SMS_GW_KANNEL,
                    .name = "kannel",
                    .url = cfg->kannel_url,
                    .user = cfg->kannel_user,
                    .password = cfg->kannel_password,
                    .callback_base_url = cfg->callback_base_url,
                    .callback_secret = cfg->callback_secret,
                    .timeout_ms = (long)cfg->send_timeout_s * 1000,
                    .concurrency = (int)cfg->concurrency,
                },
            .rate = cfg->rate_kannel,
        };
    }
    if (cfg->http_url[0]) {
        scfg->lanes[scfg->nlanes++] = (sms_lane_config){
            .gw =
                {
                    .kind = SMS_GW_HTTP,
                    .name = "http",
                    .url = cfg->http_url,
                    .method = cfg->http_method,
                    .body_template = cfg->http_body,
                    .auth = cfg->http_auth,
                    .callback_base_url = cfg->callback_base_url,
                    .callback_secret = cfg->callback_secret,
                    .timeout_ms = (long)cfg->send_timeout_s * 1000,
                    .concurrency = (int)cfg->concurrency,
                },
            .rate = cfg->rate_http,
        };
    }
}

/* Starts the threads beside the sender (intake of the retry topic, DLR
 * timeouts, retention purge) into p and adds the DLR and inbound routes.
 * Returns 0, or -1 (logged; what was started is in p for parts_stop()). */
static int start_workers(ecm_service *svc, const sms_config *cfg, const sms_ctx *ctx, sms_parts *p)
{
    ecm_intake_config icfg = {
        .channel = ECM_INTAKE_SMS,
        .consumer = svc->consumer,
        .pg_dsn = cfg->common.pg_dsn,
        .topic_retry = cfg->common.topic_retry,
        .metrics = svc->metrics,
        .stop = &ecm_stop_requested,
    };
    p->intake = ecm_intake_start(&icfg);
    if (!p->intake)
        return -1;
    if (sms_dlr_register(svc->http, ctx) < 0 || sms_mo_register(svc->http, ctx) < 0) {
        ecm_log_error("could not add the DLR and inbound routes", NULL);
        return -1;
    }
    p->expiry = sms_expiry_start(cfg->common.pg_dsn, ctx, &ecm_stop_requested);
    if (!p->expiry)
        return -1;
    sms_purge_config pcfg = {
        .retention_days = cfg->retention_days,
        .batch = cfg->purge_batch,
        .interval_ms = cfg->purge_interval_s * 1000,
        .reply_interval_s = cfg->reply_interval_s,
        .metrics = svc->metrics,
    };
    p->purge = sms_purge_start(cfg->common.pg_dsn, &pcfg, &ecm_stop_requested);
    if (!p->purge)
        return -1;
    return 0;
}

/* Creates the DB pool of the HTTP handlers and the callback
 * authentication into p. Returns 0, or -1 (logged). */
static int start_pool_and_auth(ecm_service *svc, const sms_config *cfg, sms_parts *p)
{
    p->pool = ecm_service_pg_pool_new(svc, (int)cfg->db_pool);
    if (!p->pool) {
        ecm_log_error("could not create the DB pool", NULL);
        return -1;
    }
    sms_auth_config acfg = {
        .dlr_secret = cfg->callback_secret,
        .dlr_secret_previous = cfg->callback_secret_previous,
        .mo_key = cfg->mo_key,
        .mo_key_previous = cfg->mo_key_previous,
        .metrics = svc->metrics,
    };
    p->auth = sms_auth_new(&acfg);
    if (!p->auth)
        return -1;
    /* At most two batches of DLRs at a time (the second only for a backlog,
     * sms_dlrq.c), and the rest of the pool stays for the inbound handlers. */
    p->dlrq = sms_dlrq_new(cfg->db_pool < SMS_DLR_LEADERS ? (int)cfg->db_pool : SMS_DLR_LEADERS);
    if (!p->dlrq)
        return -1;
    return 0;
}

/* Stops and frees what p holds, in order: the intake, expiry and purge
 * threads must be gone before the service closes its consumer and the pool
 * goes. Can't fail. */
static void parts_stop(ecm_service *svc, sms_parts *p)
{
    ecm_intake_stop(p->intake);
    sms_expiry_stop(p->expiry);
    sms_purge_stop(p->purge);
    ecm_service_shutdown(svc);
    sms_sender_destroy(p->sender);
    ecm_pg_pool_destroy(p->pool);
    sms_auth_destroy(p->auth);
    sms_dlrq_destroy(p->dlrq);
}

int main(int argc, char **argv)
{
    sms_config cfg;
    memset(&cfg, 0, sizeof cfg);
    ecm_service_configure(argc, argv, "ecm-sms",
                          "Sends SMS campaigns through Kannel or an HTTP/JSON gateway; takes DLRs "
                          "and inbound messages (opt-out) over HTTP.",
                          config_table, CONFIG_N, &cfg);
    ecm_legal_hours legal;
    if (check_config(&cfg, &legal) != 0) {
        ecm_config_destroy(config_table, CONFIG_N, &cfg);
        return 2;
    }

    ecm_service svc;
    memset(&svc, 0, sizeof svc);
    int rc = 1;
    sms_parts parts;
    memset(&parts, 0, sizeof parts);
    if (ecm_service_init(&svc, "sms", &cfg.common) < 0) {
        ecm_config_destroy(config_table, CONFIG_N, &cfg);
        return 1;
    }
    ecm_config_log(config_table, CONFIG_N, &cfg);
    /* DLRs and inbound messages (STOP) need only the database: their events
     * go through the outbox. Ready through a Kafka outage, so that the SMS
     * gateway's callbacks keep reaching a pod instead of a 503 from the
     * Ingress; the outage shows in ecm_kafka_reachable. */
    ecm_service_ready_without_kafka(&svc);

    if (start_pool_and_auth(&svc, &cfg, &parts) < 0)
        goto out;
    sms_ctx ctx = {
        .common = &cfg.common,
        .source = svc.source,
        .metrics = svc.metrics,
        .pool = parts.pool,
        .callback_base_url = cfg.callback_base_url,
        .help_text = cfg.help_text,
        .optout_text = cfg.optout_text,
        .optin_text = cfg.optin_text,
        .system_sender = cfg.system_sender,
        .dlr_scan_ms = cfg.dlr_scan_ms,
        .auth = parts.auth,
        .reply_interval_s = cfg.reply_interval_s,
        .reply_max_per_minute = cfg.reply_max_per_minute,
        .dlrq = parts.dlrq,
    };

    const char *topics[1] = {cfg.common.topic_retry};
    if (ecm_service_consumer_start(&svc, cfg.group, topics, 1) < 0)
        goto out;

    sms_sender_config scfg = {
        .ctx = &ctx,
        .default_gateway = cfg.default_gateway,
        .system_gateway = cfg.system_gateway,
        .batch = (long)cfg.batch,
        .tick_ms = (long)cfg.tick_ms,
        .stale_s = (long)cfg.stale_s,
        .resend_after_s = (long)cfg.resend_after_s,
        .backoff_max_ms = (long)cfg.backoff_max_ms,
        .legal = legal,
    };
    add_lanes(&cfg, &scfg);
    /* The sender runs the same few statements every pass: parsed and
     * planned once a session (docs/performance.md). */
    ecm_pg_set_prepare(svc.pg, 1);
    parts.sender = sms_sender_new(svc.pg, &scfg);
    if (!parts.sender)
        goto out;

    if (start_workers(&svc, &cfg, &ctx, &parts) < 0)
        goto out;
    if (ecm_service_start_http(&svc) < 0)
        goto out;

    ecm_log_info("sms running",
                 "kannel=%s http=%s default_gateway=%s concurrency=%lld legal_hours=%s",
                 cfg.kannel_url[0] ? cfg.kannel_url : "-", cfg.http_url[0] ? cfg.http_url : "-",
                 cfg.default_gateway, cfg.concurrency, cfg.legal_hours);
    sms_sender_run(parts.sender, &ecm_stop_requested,
                   (long)cfg.common.shutdown_timeout_s * 1000 / 2);
    rc = 0;

out:
    parts_stop(&svc, &parts);
    ecm_config_destroy(config_table, CONFIG_N, &cfg);
    return rc;
}

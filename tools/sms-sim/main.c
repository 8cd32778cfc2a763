/* ecm-sms-sim: a generic HTTP/JSON SMS gateway simulator for development and
 * tests. POST /send takes a message and answers with an outcome from a
 * configured mix, DLR callbacks follow after a delay, a switch makes /send
 * answer 503 for a while, and /sim/stats counts what came in (message ids
 * received more than once above all). This file only wires the parts. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "ecm_config.h"
#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_service.h"
#include "smssim_api.h"
#include "smssim_dlr.h"
#include "smssim_mix.h"
#include "smssim_state.h"

typedef struct {
    char *http_bind;
    long long http_port;
    char *log_level;
    char *token;
    char *mix;
    long long seed;
    long long dlr_delay_ms;
    long long dlr_workers;
    long long dlr_timeout_ms;
    long long dlr_attempts;
    long long dlr_retry_ms;
    long long max_ids;
    char *mo_url;
    char *mo_to;
} smssim_config;

static const ecm_cfg_entry smssim_config_table[] = {
    {"ECM_HTTP_BIND", ECM_CFG_STRING, offsetof(smssim_config, http_bind), "0.0.0.0", 0, -1,
     "address of the HTTP port", NULL, 0},
    {"ECM_HTTP_PORT", ECM_CFG_INT, offsetof(smssim_config, http_port), "8771", 1, 65535,
     "HTTP port: POST /send, /sim/*, /healthz, /readyz, /metrics", NULL, 0},
    {"ECM_LOG_LEVEL", ECM_CFG_STRING, offsetof(smssim_config, log_level), "info", 0, -1,
     "debug, info, warn or error", ecm_service_validate_log_level, 0},
    {"ECM_SMSSIM_TOKEN", ECM_CFG_STRING, offsetof(smssim_config, token), NULL, 0, -1,
     "POST /send wants the header Authorization: Bearer <token>", NULL, 1},
    {"ECM_SMSSIM_MIX", ECM_CFG_STRING, offsetof(smssim_config, mix),
     "delivered:85,undelivered:8,rejected:2,nodlr:5", 0, -1,
     "outcome mix, outcome:weight,... of delivered (DLR 1), undelivered (DLR 2), rejected (400 "
     "at send), nodlr (never a DLR); chosen per message id, reproducibly",
     smssim_mix_validate, 0},
    {"ECM_SMSSIM_SEED", ECM_CFG_INT, offsetof(smssim_config, seed), "1", 0, 9007199254740991.0,
     "seed of the outcome choice: same seed and message id, same outcome", NULL, 0},
    {"ECM_SMSSIM_DLR_DELAY_MS", ECM_CFG_INT, offsetof(smssim_config, dlr_delay_ms), "200", 0,
     86400000, "a DLR callback goes out this long after the message was accepted", NULL, 0},
    {"ECM_SMSSIM_DLR_WORKERS", ECM_CFG_INT, offsetof(smssim_config, dlr_workers), "4", 1, 64,
     "threads making DLR callbacks", NULL, 0},
    {"ECM_SMSSIM_DLR_TIMEOUT_MS", ECM_CFG_INT, offsetof(smssim_config, dlr_timeout_ms), "5000", 100,
     600000, "timeout of one DLR callback attempt", NULL, 0},
    {"ECM_SMSSIM_DLR_ATTEMPTS", ECM_CFG_INT, offsetof(smssim_config, dlr_attempts), "20", 1, 1000,
     "attempts of a DLR callback (non-2xx, refused or timed out) before it is given up", NULL, 0},
    {"ECM_SMSSIM_DLR_RETRY_MS", ECM_CFG_INT, offsetof(smssim_config, dlr_retry_ms), "500", 1,
     600000, "backoff after the n-th failed attempt: n times this, at most 10 s", NULL, 0},
    {"ECM_SMSSIM_MAX_IDS", ECM_CFG_INT, offsetof(smssim_config, max_ids), "5000000", 1, 100000000,
     "distinct message ids remembered (in memory) for the duplicate count", NULL, 0},
    {"ECM_SMSSIM_MO_URL", ECM_CFG_STRING, offsetof(smssim_config, mo_url), "", 0, -1,
     "where POST /sim/mo?from=&text= forwards an inbound message (POST; %p from, %P to, %a text, "
     "url-encoded; carries the sms service's MO key); empty disables /sim/mo",
     NULL, 1},
    {"ECM_SMSSIM_MO_TO", ECM_CFG_STRING, offsetof(smssim_config, mo_to), "12345", 0, -1,
     "%P of an inbound message when /sim/mo has no to=", NULL, 0},
};
#define SMSSIM_CONFIG_N (sizeof smssim_config_table / sizeof smssim_config_table[0])

/* The DLR workers, with the configured timeouts and retries. NULL (logged)
 * when they cannot start. */
static smssim_dlr *smssim_start_dlr(const smssim_config *cfg, smssim_state *state,
                                    ecm_metrics *metrics)
{
    smssim_dlr_config dcfg = {(int)cfg->dlr_workers,
                              (long)cfg->dlr_timeout_ms,
                              (int)cfg->dlr_attempts,
                              (long)cfg->dlr_retry_ms,
                              10000,
                              1000000};
    return smssim_dlr_new(&dcfg, state, metrics);
}

/* Creates the gateway API (*api) on *http and starts it. Returns 0, or -1
 * logged (what was created is in *api and *http for the caller to free). */
static int smssim_start_http(const smssim_config *cfg, const smssim_mix *mix, smssim_state *state,
                             smssim_dlr *dlr, ecm_metrics *metrics, smssim_api **api,
                             ecm_http **http)
{
    smssim_api_config acfg = {
        cfg->token, mix,  (uint64_t)cfg->seed, (long)cfg->dlr_delay_ms, cfg->mo_url,
        cfg->mo_to, 10000};
    *api = smssim_api_new(&acfg, state, dlr, metrics);
    *http = *api ? ecm_http_new(cfg->http_bind, (int)cfg->http_port, metrics) : NULL;
    if (!*http) {
        ecm_log_error("out of memory", NULL);
        return -1;
    }
    if (smssim_api_add_routes(*api, *http) != 0 || ecm_http_start(*http) != 0) {
        ecm_log_error("HTTP server could not start", "port=%lld", cfg->http_port);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    smssim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    ecm_service_configure(argc, argv, "ecm-sms-sim",
                          "generic HTTP/JSON SMS gateway simulator, for development and tests "
                          "only: all state (message ids, counters, queued DLRs) is in memory and "
                          "lost at exit",
                          smssim_config_table, SMSSIM_CONFIG_N, &cfg);
    ecm_service_log_init("sms-sim", cfg.log_level);
    ecm_config_log(smssim_config_table, SMSSIM_CONFIG_N, &cfg);

    int rc = 1;
    smssim_mix *mix = NULL;
    smssim_state *state = NULL;
    smssim_dlr *dlr = NULL;
    smssim_api *api = NULL;
    ecm_metrics *metrics = NULL;
    ecm_http *http = NULL;
    char err[256];

    /* Before any thread: curl_global_init is not thread-safe. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ecm_log_error("libcurl could not be initialised", NULL);
        goto out;
    }
    ecm_service_install_signals();
    if (smssim_mix_parse(cfg.mix, &mix, err, sizeof err) != 0) {
        ecm_log_error("bad outcome mix", "%s", err);
        goto out;
    }
    state = smssim_state_new((size_t)cfg.max_ids);
    metrics = state ? ecm_metrics_new() : NULL;
    if (!metrics) {
        ecm_log_error("out of memory", NULL);
        goto out;
    }
    dlr = smssim_start_dlr(&cfg, state, metrics);
    if (!dlr || smssim_start_http(&cfg, mix, state, dlr, metrics, &api, &http) != 0) {
        goto out;
    }
    ecm_log_info("sms-sim ready", "port=%lld mix=%s dlr_delay_ms=%lld", cfg.http_port, cfg.mix,
                 cfg.dlr_delay_ms);

    while (!ecm_stop_requested) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ecm_log_info("stopping", NULL);
    rc = 0;
out:
    /* HTTP first: no /send may queue a DLR while the workers stop. */
    ecm_http_destroy(http);
    smssim_api_destroy(api);
    smssim_dlr_destroy(dlr);
    if (metrics) {
        ecm_metrics_destroy(metrics);
    }
    smssim_state_destroy(state);
    smssim_mix_destroy(mix);
    ecm_config_destroy(smssim_config_table, SMSSIM_CONFIG_N, &cfg);
    curl_global_cleanup();
    if (rc == 0) {
        ecm_log_info("stopped", NULL);
    }
    return rc;
}

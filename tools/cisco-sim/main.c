/* ecm-cisco-sim: the Cisco Outbound Option simulator, the development and
 * test stand-in for UCCX and UCCE/PCCE. Serves the UCCX Outbound REST API
 * and the UCCE Outbound API on one port, runs UCCE import rules over its
 * own database, "dials" what it receives at a set rate with a set
 * CallResult mix, and keeps Cisco-shaped tables (Dialer_Detail, DL_<id>_1,
 * UCCX dialinglist/dialinglisthistory) for ECM to read over ODBC. This file
 * only wires the parts together (docs/cisco-sim.md). */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>

#include "ecm_config.h"
#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_service.h"
#include "ecm_window.h"
#include "sim_pcb.h"
#include "sim_cm.h"
#include "sim_dialer.h"
#include "sim_mix.h"
#include "sim_stats.h"
#include "sim_store.h"
#include "sim_ucce_api.h"
#include "sim_uccx.h"

typedef struct {
    char *http_bind;
    long long http_port;
    char *log_level;
    char *pg_dsn;
    long long pg_pool;
    char *user;
    char *password;
    long long capacity;
    double dial_rate;
    long long dial_delay_ms;
    long long tick_ms;
    char *result_mix;
    char *number_results;
    long long seed;
    double ucce_import_rate;
    char *ucce_import_rules;
    long long import_poll_ms;
    long long uccx_history_s;
    char *logger_zone;
    char *personal_callbacks;
} sim_config;

/* ecm_config validator: an IANA zone the tz database knows. */
static int sim_validate_zone(const char *text, char *errstr, size_t errstr_size)
{
    if (ecm_window_tz_canonical(text, NULL, 0) != 0) {
        snprintf(errstr, errstr_size, "not a time zone of the tz database");
        return -1;
    }
    return 0;
}

static const ecm_cfg_entry sim_config_table[] = {
    {"ECM_HTTP_BIND", ECM_CFG_STRING, offsetof(sim_config, http_bind), "0.0.0.0", 0, -1,
     "address of the HTTP port", NULL, 0},
    {"ECM_HTTP_PORT", ECM_CFG_INT, offsetof(sim_config, http_port), "8700", 1, 65535,
     "HTTP port: the UCCX API, /sim/stats, /healthz, /readyz, /metrics", NULL, 0},
    {"ECM_LOG_LEVEL", ECM_CFG_STRING, offsetof(sim_config, log_level), "info", 0, -1,
     "debug, info, warn or error", ecm_service_validate_log_level, 0},
    {"ECM_SIM_PG_DSN", ECM_CFG_STRING, offsetof(sim_config, pg_dsn), NULL, 0, -1,
     "libpq connection string of the sim's own database (must exist; tables are created)", NULL, 1},
    {"ECM_SIM_PG_POOL", ECM_CFG_INT, offsetof(sim_config, pg_pool), "4", 1, 64,
     "database connections for HTTP handlers", NULL, 0},
    {"ECM_SIM_USER", ECM_CFG_STRING, offsetof(sim_config, user), "administrator", 0, -1,
     "UCCX API basic-auth user", NULL, 0},
    {"ECM_SIM_PASSWORD", ECM_CFG_STRING, offsetof(sim_config, password), NULL, 0, -1,
     "UCCX API basic-auth password", NULL, 1},
    {"ECM_SIM_CAPACITY", ECM_CFG_INT, offsetof(sim_config, capacity), "10000", 1, 10000000,
     "most active (not yet dialled) records per campaign; UCCX's is 10000", NULL, 0},
    {"ECM_SIM_DIAL_RATE", ECM_CFG_DOUBLE, offsetof(sim_config, dial_rate), "100", 0, 1000000,
     "contacts dialled per second (0: never dial)", NULL, 0},
    {"ECM_SIM_DIAL_DELAY_MS", ECM_CFG_INT, offsetof(sim_config, dial_delay_ms), "200", 0, 86400000,
     "a contact is dialled no sooner than this after it arrived", NULL, 0},
    {"ECM_SIM_TICK_MS", ECM_CFG_INT, offsetof(sim_config, tick_ms), "100", 10, 10000,
     "dialer tick: one transaction of Dialer_Detail rows per tick", NULL, 0},
    {"ECM_SIM_RESULT_MIX", ECM_CFG_STRING, offsetof(sim_config, result_mix),
     "10:40,8:25,9:10,12:10,3:5,25:5,14:5", 0, -1,
     "CallResult mix, code:weight,... (chosen per account number, reproducibly)", sim_mix_validate,
     0},
    {"ECM_SIM_NUMBER_RESULTS", ECM_CFG_STRING, offsetof(sim_config, number_results), "", 0, -1,
     "CallResult by number, winning over the mix: suffix:code,... (e.g. 0001:3 makes every "
     "number ending in 0001 not in service; the longest suffix wins)",
     sim_dialer_validate_number_results, 0},
    {"ECM_SIM_SEED", ECM_CFG_INT, offsetof(sim_config, seed), "1", 0, 9007199254740991.0,
     "seed of the CallResult choice: same seed, same results", NULL, 0},
    {"ECM_SIM_UCCE_IMPORT_RATE", ECM_CFG_DOUBLE, offsetof(sim_config, ucce_import_rate), "50000",
     0.001, 10000000,
     "UCCE Outbound API: records imported per second by the import worker (a low rate fills "
     "Cisco's queue of 30)",
     NULL, 0},
    {"ECM_SIM_UCCE_IMPORT_RULES", ECM_CFG_STRING, offsetof(sim_config, ucce_import_rules), "", 0,
     -1,
     "UCCE import rules, <table>:<campaign_id>,... (plain SQL identifiers; each table is created "
     "at start and polled)",
     sim_cm_validate_rules, 0},
    {"ECM_SIM_IMPORT_POLL_MS", ECM_CFG_INT, offsetof(sim_config, import_poll_ms), "1000", 10,
     3600000, "period of the Campaign Manager's poll of the import tables", NULL, 0},
    {"ECM_SIM_UCCX_HISTORY_S", ECM_CFG_INT, offsetof(sim_config, uccx_history_s), "86400", 1,
     31536000,
     "UCCX \"midnight\": every this many seconds, dialinglist records closed longer than this "
     "move to dialinglisthistory",
     NULL, 0},
    {"ECM_SIM_LOGGER_TIME_ZONE", ECM_CFG_STRING, offsetof(sim_config, logger_zone), "UTC", 0, -1,
     "IANA time zone of the UCCE Logger: Personal_Callback_List and Dialer_Detail "
     "CallbackDateTime are in it",
     sim_validate_zone, 0},
    {"ECM_SIM_PERSONAL_CALLBACKS", ECM_CFG_STRING, offsetof(sim_config, personal_callbacks), "", 0,
     -1,
     "personal callbacks agents schedule, winning over number results: suffix:agent:minutes,... "
     "(e.g. 0007:1001:30: numbers ending in 0007 get CallResult 14 with agent 1001, callback 30 "
     "minutes later)",
     sim_dialer_validate_personal_callbacks, 0},
};
#define SIM_CONFIG_N (sizeof sim_config_table / sizeof sim_config_table[0])

static void sim_on_signal(int sig)
{
    (void)sig;
    ecm_stop_requested = 1;
}

static int sim_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sim_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) {
        return -1;
    }
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static int sim_ready(void *ctx, char *errstr, size_t errstr_size)
{
    return sim_store_ping(ctx, errstr, errstr_size);
}

/* Creates *http with the UCCX and UCCE APIs on store and starts it.
 * Returns 0, or -1 logged (what was created is in *http, *uccx and *ucce
 * for the caller to free). */
static int sim_start_http(const sim_config *cfg, sim_store *store, ecm_metrics *metrics,
                          ecm_http **http, sim_uccx **uccx, sim_ucce_api **ucce)
{
    *http = ecm_http_new(cfg->http_bind, (int)cfg->http_port, metrics);
    sim_uccx_config ucfg = {cfg->user, cfg->password, cfg->capacity};
    *uccx = *http ? sim_uccx_new(&ucfg, store, metrics) : NULL;
    sim_ucce_api_config ecfg = {cfg->user, cfg->password, cfg->ucce_import_rate};
    *ucce = *uccx ? sim_ucce_api_new(&ecfg, store) : NULL;
    if (!*ucce) {
        ecm_log_error("out of memory", NULL);
        return -1;
    }
    ecm_http_set_ready(*http, sim_ready, store);
    sim_pcb_api_config pcfg = {cfg->user, cfg->password, cfg->logger_zone};
    if (sim_uccx_add_routes(*uccx, *http) != 0 || sim_ucce_api_add_routes(*ucce, *http) != 0 ||
        sim_pcb_add_routes(*http, &pcfg, store) != 0 || sim_stats_add_route(*http, store) != 0 ||
        ecm_http_start(*http) != 0) {
        ecm_log_error("HTTP server could not start", "port=%lld", cfg->http_port);
        return -1;
    }
    return 0;
}

/* Creates and starts *dialer with the CallResult mix. Returns 0, or -1
 * logged (*dialer, when created, for the caller to free). */
static int sim_start_dialer(const sim_config *cfg, const sim_mix *mix, ecm_metrics *metrics,
                            sim_dialer **dialer)
{
    char err[256];
    sim_dialer_config dcfg = {cfg->pg_dsn,     cfg->dial_rate,      cfg->dial_delay_ms,
                              cfg->tick_ms,    (uint64_t)cfg->seed, mix,
                              cfg->logger_zone};
    *dialer = sim_dialer_new(&dcfg, metrics, &ecm_stop_requested);
    if (*dialer &&
        sim_dialer_set_number_results(*dialer, cfg->number_results, err, sizeof err) != 0) {
        ecm_log_error("bad number results", "%s", err);
        return -1;
    }
    if (*dialer &&
        sim_dialer_set_personal_callbacks(*dialer, cfg->personal_callbacks, err, sizeof err) != 0) {
        ecm_log_error("bad personal callbacks", "%s", err);
        return -1;
    }
    if (!*dialer || sim_dialer_start(*dialer) != 0) {
        ecm_log_error("dialer could not start", NULL);
        return -1;
    }
    return 0;
}

/* Creates the Campaign Manager, its import tables, and starts it. Returns
 * 0, or -1 logged (*cm, when created, for the caller to free). */
static int sim_start_cm(const sim_config *cfg, sim_cm **cm)
{
    sim_cm_config ccfg = {cfg->pg_dsn, cfg->ucce_import_rules, cfg->import_poll_ms,
                          cfg->uccx_history_s};
    *cm = sim_cm_new(&ccfg, &ecm_stop_requested);
    if (!*cm || sim_cm_create_tables(*cm) != 0 || sim_cm_start(*cm) != 0) {
        ecm_log_error("campaign manager could not start", NULL);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    sim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    ecm_service_configure(argc, argv, "ecm-cisco-sim",
                          "Cisco Outbound Option simulator (UCCX REST API, UCCE Outbound API and "
                          "import rules, Dialer_Detail, dialing lists); "
                          "for development and tests only",
                          sim_config_table, SIM_CONFIG_N, &cfg);
    ecm_service_log_init("cisco-sim", cfg.log_level);
    ecm_config_log(sim_config_table, SIM_CONFIG_N, &cfg);

    int rc = 1;
    sim_mix *mix = NULL;
    sim_store *store = NULL;
    ecm_metrics *metrics = NULL;
    ecm_http *http = NULL;
    sim_uccx *uccx = NULL;
    sim_dialer *dialer = NULL;
    sim_ucce_api *ucce = NULL;
    sim_cm *cm = NULL;
    char err[256];

    LIBXML_TEST_VERSION; /* also initialises libxml2 before any thread */
    if (sim_install_signals() != 0) {
        ecm_log_error("signal handlers could not be installed", NULL);
        goto out;
    }
    if (sim_mix_parse(cfg.result_mix, &mix, err, sizeof err) != 0) {
        ecm_log_error("bad CallResult mix", "%s", err);
        goto out;
    }
    store = sim_store_new(cfg.pg_dsn, (int)cfg.pg_pool, &ecm_stop_requested);
    if (!store) {
        ecm_log_error("out of memory", NULL);
        goto out;
    }
    if (sim_store_init_schema(store) != 0) {
        rc = ecm_stop_requested ? 0 : 1;
        goto out;
    }
    metrics = ecm_metrics_new();
    if (!metrics) {
        ecm_log_error("out of memory", NULL);
        goto out;
    }
    if (sim_start_http(&cfg, store, metrics, &http, &uccx, &ucce) != 0 ||
        sim_start_dialer(&cfg, mix, metrics, &dialer) != 0 || sim_start_cm(&cfg, &cm) != 0) {
        goto out;
    }
    ecm_log_info("cisco-sim ready", "port=%lld capacity=%lld", cfg.http_port, cfg.capacity);

    while (!ecm_stop_requested) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ecm_log_info("stopping", NULL);
    rc = 0;
out:
    /* The UCCE worker first (it answers the POSTs waiting on it), then HTTP
     * so no import lands while the dialer finishes its tick. */
    sim_ucce_api_stop(ucce);
    ecm_http_destroy(http);
    sim_cm_destroy(cm);
    sim_ucce_api_destroy(ucce);
    sim_dialer_destroy(dialer);
    sim_uccx_destroy(uccx);
    sim_store_destroy(store);
    if (metrics) {
        ecm_metrics_destroy(metrics);
    }
    sim_mix_destroy(mix);
    ecm_config_destroy(sim_config_table, SIM_CONFIG_N, &cfg);
    xmlCleanupParser();
    if (rc == 0) {
        ecm_log_info("stopped", NULL);
    }
    return rc;
}

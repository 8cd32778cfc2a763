/* ecm-feeder: voice contacts from Kafka to Cisco, paced from the ECM DB.
 * main() only wires the parts: intake (ecm_intake), dispatch (fd_dispatch),
 * reconcile (fd_reconcile) and one writer per Cisco target kind
 * (fd_writer: uccx, ucce_api, ucce_db). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ecm_calling.h"
#include "ecm_gate.h"
#include "ecm_log.h"
#include "ecm_service.h"
#include "fd_dispatch.h"
#include "fd_feeder.h"
#include "ecm_intake.h"
#include "fd_uccx.h"
#include "fd_pcb.h"
#include "fd_ucce_api.h"
#include "fd_ucce_db.h"
#include "fd_writer.h"

typedef struct {
    ecm_common_config common;
    char *uccx_url;
    char *uccx_user;
    char *uccx_password;
    char *uccx_odbc;
    char *ucce_url;
    char *ucce_user;
    char *ucce_password;
    char *ucce_odbc;
    char *dialer_detail;
    char *pcb_mode;
    char *logger_zone;
    long long pcb_max_attempts;
    long long batch;
    long long capacity;
    long long hold_minutes;
    long long hold_window_s;
    long long tick_ms;
    long long http_timeout_s;
    long long reconcile_after_s;
    long long ucce_import_timeout_s;
    char *group;
    char *legal_hours;
    long long window_margin_s;
} feeder_config;

/* ecm_cfg_validator for ECM_UCCE_PERSONAL_CALLBACK. Pure. */
static int check_pcb_mode(const char *value, char *errstr, size_t errstr_size)
{
    if (value && (strcmp(value, "table") == 0 || strcmp(value, "api") == 0))
        return 0;
    snprintf(errstr, errstr_size, "'%s' is not one of table, api", value ? value : "");
    return -1;
}

static const ecm_cfg_entry config_table[] = {
    ECM_COMMON_CONFIG_ENTRIES(feeder_config, common, "8081", "64"),
    {"ECM_UCCX_URL", ECM_CFG_STRING, offsetof(feeder_config, uccx_url), "http://127.0.0.1:8700", 0,
     -1, "base URL of UCCX (its /adminapi)", ecm_config_check_url, 0},
    {"ECM_UCCX_USER", ECM_CFG_STRING, offsetof(feeder_config, uccx_user), "", 0, -1,
     "UCCX user for HTTP basic auth (empty: no auth)", NULL, 0},
    {"ECM_UCCX_PASSWORD", ECM_CFG_STRING, offsetof(feeder_config, uccx_password), "", 0, -1,
     "UCCX password", NULL, 1},
    {"ECM_UCCX_ODBC", ECM_CFG_STRING, offsetof(feeder_config, uccx_odbc), "", 0, -1,
     "ODBC connection string of UCCX's db_cra (dialinglist, dialinglisthistory), asked before "
     "re-sending a uccx batch (empty: only UCCX's REST list, which omits dialled records)",
     NULL, 1},
    {"ECM_UCCE_URL", ECM_CFG_STRING, offsetof(feeder_config, ucce_url), "", 0, -1,
     "base URL of the UCCE/PCCE server of the Outbound API (/unifiedconfig/... is added; "
     "empty: ucce_api targets skipped)",
     ecm_config_check_url_or_empty, 0},
    {"ECM_UCCE_USER", ECM_CFG_STRING, offsetof(feeder_config, ucce_user), "", 0, -1,
     "Outbound API user for HTTP basic auth (empty: no auth)", NULL, 0},
    {"ECM_UCCE_PASSWORD", ECM_CFG_STRING, offsetof(feeder_config, ucce_password), "", 0, -1,
     "Outbound API password", NULL, 1},
    {"ECM_UCCE_ODBC", ECM_CFG_STRING, offsetof(feeder_config, ucce_odbc), "", 0, -1,
     "ODBC connection string of the UCCE Logger/HDS (import tables, dialing lists, "
     "Dialer_Detail; empty: ucce_db and ucce_api targets skipped)",
     NULL, 1},
    {"ECM_UCCE_DIALER_DETAIL_TABLE", ECM_CFG_STRING, offsetof(feeder_config, dialer_detail),
     "Dialer_Detail", 0, -1, "the Dialer_Detail table the reconciler asks (a plain identifier)",
     ecm_odbc_validate_identifier, 0},
    {"ECM_UCCE_PERSONAL_CALLBACK", ECM_CFG_STRING, offsetof(feeder_config, pcb_mode), "table", 0,
     -1,
     "how UCCE personal callbacks are written: table (Personal_Callback_List over "
     "ECM_UCCE_ODBC; Outbound HA off) or api (the Personal Callback API at ECM_UCCE_URL; "
     "required with Outbound HA)",
     check_pcb_mode, 0},
    {"ECM_UCCE_LOGGER_TIME_ZONE", ECM_CFG_STRING, offsetof(feeder_config, logger_zone), "UTC", 0,
     -1, "IANA time zone of the UCCE Logger: personal callback times are written in it",
     fd_pcb_validate_zone, 0},
    {"ECM_UCCE_PCB_MAX_ATTEMPTS", ECM_CFG_INT, offsetof(feeder_config, pcb_max_attempts), "3", 1,
     100, "MaxAttempts of a personal callback written to UCCE", NULL, 0},
    {"ECM_FEEDER_BATCH", ECM_CFG_INT, offsetof(feeder_config, batch), "500", 1, 10000,
     "most records per request to a dialer (the Outbound API takes at most 10,000)", NULL, 0},
    {"ECM_FEEDER_CAPACITY", ECM_CFG_INT, offsetof(feeder_config, capacity), "10000", 1, 1000000,
     "active records a dialer holds per Cisco campaign (sending + sent attempts)", NULL, 0},
    {"ECM_FEEDER_HOLD_MINUTES", ECM_CFG_INT, offsetof(feeder_config, hold_minutes), "5", 0, 1440,
     "minutes of dialling kept at Cisco per target, from the dial rate observed (at least one "
     "batch, at most ECM_FEEDER_CAPACITY; 0: capacity only)",
     NULL, 0},
    {"ECM_FEEDER_HOLD_WINDOW_S", ECM_CFG_INT, offsetof(feeder_config, hold_window_s), "300", 10,
     86400, "the window over which a target's dial rate is measured (its results in it)", NULL, 0},
    {"ECM_FEEDER_TICK_MS", ECM_CFG_INT, offsetof(feeder_config, tick_ms), "200", 10, 60000,
     "wait between dispatch passes", NULL, 0},
    {"ECM_FEEDER_HTTP_TIMEOUT_S", ECM_CFG_INT, offsetof(feeder_config, http_timeout_s), "10", 1,
     300, "bound on one dialer HTTP request", NULL, 0},
    {"ECM_UCCE_IMPORT_TIMEOUT_S", ECM_CFG_INT, offsetof(feeder_config, ucce_import_timeout_s),
     "300", 10, 3600,
     "bound on one Outbound API import: Cisco answers an import in its turn in a queue of up to "
     "30; a missing record is sent again only when older than this plus "
     "ECM_FEEDER_RECONCILE_AFTER_S",
     NULL, 0},
    {"ECM_FEEDER_RECONCILE_AFTER_S", ECM_CFG_INT, offsetof(feeder_config, reconcile_after_s), "30",
     1, 86400, "an attempt left 'sending' longer than this is reconciled with its dialer", NULL, 0},
    {"ECM_FEEDER_GROUP", ECM_CFG_STRING, offsetof(feeder_config, group), "ecm-feeder", 0, -1,
     "Kafka consumer group", NULL, 0},
    ECM_CALLING_CONFIG_ENTRY(feeder_config, legal_hours),
    {"ECM_FEEDER_WINDOW_MARGIN_S", ECM_CFG_INT, offsetof(feeder_config, window_margin_s), "600", 0,
     86400,
     "a contact is handed to UCCX only when its calling window is still open this long after: "
     "UCCX may hold a record before it dials",
     NULL, 0},
};

#define CONFIG_N (sizeof config_table / sizeof config_table[0])

/* Settings that are only wrong together, then the legal hours parsed into
 * *legal. Returns 0, or 2 after one line on stderr. */
static int check_config(const feeder_config *cfg, ecm_legal_hours *legal)
{
    /* Validated against each other only: a reconcile must not race a live POST. */
    if (cfg->reconcile_after_s <= cfg->http_timeout_s) {
        fprintf(stderr,
                "ecm-feeder: ECM_FEEDER_RECONCILE_AFTER_S: must be greater than "
                "ECM_FEEDER_HTTP_TIMEOUT_S (%lld)\n",
                cfg->http_timeout_s);
        return 2;
    }
    char errstr[512];
    if (ecm_calling_legal_parse(cfg->legal_hours, legal, errstr, sizeof errstr) != 0) {
        /* Not reached: the table's validator has checked the value. */
        fprintf(stderr, "ecm-feeder: %s: %s\n", ECM_CALLING_LEGAL_ENV, errstr);
        return 2;
    }
    return 0;
}

/* Wraps the UCCE writer *w with the personal callback writer (fd_pcb.h):
 * table mode writes over its own Logger connection, api mode through its
 * own Outbound API client. Returns 0, or -1 (logged; *w is then NULL). */
static int wrap_pcb(const feeder_config *cfg, long timeout_ms, fd_writer **w)
{
    fd_pcb_config pcfg = {
        .mode = strcmp(cfg->pcb_mode, "api") == 0 ? FD_PCB_API : FD_PCB_TABLE,
        .logger_zone = cfg->logger_zone,
        .max_attempts = (int)cfg->pcb_max_attempts,
    };
    fd_uccx *http = NULL;
    ecm_odbc *logger = NULL;
    if (pcfg.mode == FD_PCB_API) {
        if (!cfg->ucce_url[0]) {
            ecm_log_error("ECM_UCCE_PERSONAL_CALLBACK=api needs ECM_UCCE_URL", NULL);
            fd_writer_destroy(*w);
            *w = NULL;
            return -1;
        }
        http = fd_uccx_new(cfg->ucce_url, cfg->ucce_user, cfg->ucce_password, timeout_ms);
    } else {
        logger = ecm_odbc_new(cfg->ucce_odbc, 0, "UCCE Logger (personal callbacks)");
    }
    *w = fd_pcb_writer_new(*w, &pcfg, http, logger);
    return *w ? 0 : -1;
}

/* One writer per configured kind into w (NULL: not configured, its targets
 * are skipped). uccx always (ECM_UCCX_URL has a default); ucce_api needs
 * ECM_UCCE_URL and ECM_UCCE_ODBC (its reconciliation asks Dialer_Detail);
 * ucce_db needs ECM_UCCE_ODBC. Returns 0, or -1 (logged; what was made is
 * in w for the caller to destroy). */
static int make_writers(const feeder_config *cfg, fd_writer **w)
{
    long timeout_ms = (long)cfg->http_timeout_s * 1000;
    fd_uccx *u = fd_uccx_new(cfg->uccx_url, cfg->uccx_user, cfg->uccx_password, timeout_ms);
    if (!u)
        return -1;
    ecm_odbc *cra = NULL;
    if (cfg->uccx_odbc[0])
        cra = ecm_odbc_new(cfg->uccx_odbc, 1, "UCCX db_cra");
    else
        ecm_log_warn("ECM_UCCX_ODBC is empty: a uccx batch is reconciled from UCCX's pending "
                     "list only, so records already dialled would be sent again",
                     NULL);
    w[FD_KIND_UCCX] = (cfg->uccx_odbc[0] && !cra) ? NULL : fd_writer_uccx_new(u, cra);
    if (!w[FD_KIND_UCCX]) {
        if (cfg->uccx_odbc[0] && !cra)
            fd_uccx_destroy(u);
        return -1;
    }
    if (!cfg->ucce_odbc[0]) {
        ecm_log_warn("ECM_UCCE_ODBC is empty: ucce_db and ucce_api targets are skipped", NULL);
        return 0;
    }
    w[FD_KIND_UCCE_DB] =
        fd_ucce_db_writer_new(ecm_odbc_new(cfg->ucce_odbc, 0, "UCCE Logger"), cfg->dialer_detail);
    if (!w[FD_KIND_UCCE_DB] || wrap_pcb(cfg, timeout_ms, &w[FD_KIND_UCCE_DB]) != 0)
        return -1;
    if (!cfg->ucce_url[0]) {
        ecm_log_warn("ECM_UCCE_URL is empty: ucce_api targets are skipped", NULL);
        return 0;
    }
    fd_uccx *api = fd_uccx_new(cfg->ucce_url, cfg->ucce_user, cfg->ucce_password, timeout_ms);
    if (api)
        fd_uccx_set_queueing(api, 1, (long)cfg->ucce_import_timeout_s * 1000);
    w[FD_KIND_UCCE_API] =
        api ? fd_ucce_api_writer_new(api, ecm_odbc_new(cfg->ucce_odbc, 1, "UCCE Logger/HDS"),
                                     cfg->dialer_detail)
            : NULL;
    if (!w[FD_KIND_UCCE_API])
        return -1;
    return wrap_pcb(cfg, timeout_ms, &w[FD_KIND_UCCE_API]);
}

/* Starts the intake of the retry topic (voice contacts) on svc's consumer.
 * Returns it, or NULL (logged). */
static ecm_intake *start_intake(ecm_service *svc, const feeder_config *cfg)
{
    ecm_intake_config icfg = {
        .channel = ECM_INTAKE_VOICE,
        .consumer = svc->consumer,
        .pg_dsn = cfg->common.pg_dsn,
        .topic_retry = cfg->common.topic_retry,
        .metrics = svc->metrics,
        .stop = &ecm_stop_requested,
    };
    return ecm_intake_start(&icfg);
}

/* The dispatch gate for the feeder's hand-off. NULL when memory runs out. */
static ecm_gate *new_gate(ecm_service *svc, const feeder_config *cfg, ecm_legal_hours legal)
{
    ecm_gate_config gcfg = {
        .topic_closed = cfg->common.topic_closed,
        .source = svc->source,
        .metrics = svc->metrics,
        .legal = legal,
        .margin_ms = cfg->window_margin_s * 1000,
    };
    return ecm_gate_new(&gcfg);
}

/* The start line: what the feeder talks to and its pacing. */
static void log_running(const feeder_config *cfg, fd_writer *const *writers)
{
    ecm_log_info("feeder running",
                 "uccx=%s uccx_db_cra=%d ucce_api=%d ucce_db=%d batch=%lld capacity=%lld "
                 "hold_minutes=%lld",
                 cfg->uccx_url, cfg->uccx_odbc[0] != '\0', writers[FD_KIND_UCCE_API] != NULL,
                 writers[FD_KIND_UCCE_DB] != NULL, cfg->batch, cfg->capacity, cfg->hold_minutes);
}

int main(int argc, char **argv)
{
    feeder_config cfg;
    memset(&cfg, 0, sizeof cfg);
    ecm_service_configure(
        argc, argv, "ecm-feeder",
        "Feeds voice contacts from Kafka to Cisco (UCCX, UCCE API, UCCE import table), "
        "paced by capacity.",
        config_table, CONFIG_N, &cfg);
    ecm_legal_hours legal;
    if (check_config(&cfg, &legal) != 0) {
        ecm_config_destroy(config_table, CONFIG_N, &cfg);
        return 2;
    }

    ecm_service svc;
    memset(&svc, 0, sizeof svc);
    int rc = 1;
    fd_writer *writers[FD_KIND_N] = {NULL};
    ecm_intake *intake = NULL;
    ecm_gate *gate = NULL;
    if (ecm_service_init(&svc, "feeder", &cfg.common) < 0) {
        ecm_config_destroy(config_table, CONFIG_N, &cfg);
        return 1;
    }
    ecm_config_log(config_table, CONFIG_N, &cfg);

    if (make_writers(&cfg, writers) < 0)
        goto out;

    const char *topics[1] = {cfg.common.topic_retry};
    if (ecm_service_consumer_start(&svc, cfg.group, topics, 1) < 0)
        goto out;

    gate = new_gate(&svc, &cfg, legal);
    if (!gate)
        goto out;

    fd_ctx ctx = {
        .pg = svc.pg,
        .gate = gate,
        .opt =
            {
                .topic_dispatched = cfg.common.topic_dispatched,
                .source = svc.source,
                .batch = (long)cfg.batch,
                .capacity = (long)cfg.capacity,
                .hold_minutes = (long)cfg.hold_minutes,
                .hold_window_s = (long)cfg.hold_window_s,
                .reconcile_after_s = (long)cfg.reconcile_after_s,
                .ucce_import_timeout_s = (long)cfg.ucce_import_timeout_s,
                .reconcile_every_ms = 5000,
            },
    };
    /* The same statements run every batch: parsed once a session
     * (docs/performance.md). */
    ecm_pg_set_prepare(svc.pg, 1);
    fd_metrics_init(&ctx.metrics, svc.metrics);
    for (int k = 0; k < FD_KIND_N; k++)
        ctx.writers[k] = writers[k];

    intake = start_intake(&svc, &cfg);
    if (!intake)
        goto out;
    if (ecm_service_start_http(&svc) < 0)
        goto out;

    log_running(&cfg, writers);
    fd_feeder_run(&ctx, (long)cfg.tick_ms, &ecm_stop_requested);
    fd_dispatch_forget(&ctx);
    rc = 0;

out:
    /* The intake thread must be gone before the service closes its consumer. */
    ecm_intake_stop(intake);
    ecm_service_shutdown(&svc);
    for (int k = 0; k < FD_KIND_N; k++)
        fd_writer_destroy(writers[k]);
    ecm_gate_destroy(gate);
    ecm_config_destroy(config_table, CONFIG_N, &cfg);
    return rc;
}

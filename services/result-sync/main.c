/* ecm-result-sync: reads Cisco call results over ODBC and emits call.results
 * through the outbox. One process reads one source, chosen by
 * ECM_RESULTSYNC_KIND: UCCE's Dialer_Detail by watermark (rs_odbc.c,
 * rs_sync.c) or UCCX's db_cra by ECM's outstanding attempts (rs_uccx.c).
 * Wiring only. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ecm_config.h"
#include "ecm_log.h"
#include "ecm_odbc.h"
#include "ecm_service.h"
#include "rs_logger_time.h"
#include "rs_odbc.h"
#include "rs_sync.h"
#include "rs_uccx.h"

#define RS_KIND_DIALER_DETAIL "dialer_detail"
#define RS_KIND_UCCX "uccx"
/* Poll pauses when ECM_RESULTSYNC_POLL_MS is 0. Cisco warns against
 * frequent queries as UCCX's reporting user, so UCCX is asked once a
 * minute; Dialer_Detail is read by an index range and can be polled often. */
#define RS_POLL_DIALER_DETAIL_MS 500
#define RS_POLL_UCCX_MS 60000

typedef struct {
    ecm_common_config common;
    char *kind;
    char *odbc;
    char *source;
    char *table;
    long long page;
    long long poll_ms;
    long long uccx_history_after_s;
    char *logger_zone;
} rs_config;

/* ecm_cfg_validator for ECM_RESULTSYNC_KIND. Pure. */
static int check_kind(const char *value, char *errstr, size_t errstr_size)
{
    if (value && (strcmp(value, RS_KIND_DIALER_DETAIL) == 0 || strcmp(value, RS_KIND_UCCX) == 0))
        return 0;
    snprintf(errstr, errstr_size, "'%s' is not one of " RS_KIND_DIALER_DETAIL ", " RS_KIND_UCCX,
             value ? value : "");
    return -1;
}

static const ecm_cfg_entry rs_config_table[] = {
    ECM_COMMON_CONFIG_ENTRIES(rs_config, common, "8082", "64"),
    {"ECM_RESULTSYNC_KIND", ECM_CFG_STRING, offsetof(rs_config, kind), RS_KIND_DIALER_DETAIL, 0, -1,
     "result source read: " RS_KIND_DIALER_DETAIL
     " (UCCE Dialer_Detail by watermark) or " RS_KIND_UCCX
     " (UCCX db_cra dialinglist/dialinglisthistory, by ECM's outstanding attempts)",
     check_kind, 0},
    {"ECM_RESULTSYNC_ODBC", ECM_CFG_STRING, offsetof(rs_config, odbc), NULL, 0, -1,
     "ODBC connection string of the Cisco result source, e.g. \"Driver={PostgreSQL "
     "Unicode};Server=127.0.0.1;Port=55432;Database=cisco_sim;Uid=ecm;Pwd=ecm;\"",
     NULL, 1},
    {"ECM_RESULTSYNC_SOURCE", ECM_CFG_STRING, offsetof(rs_config, source), "ucce:Dialer_Detail", 0,
     -1,
     "CallResult.source, and for dialer_detail the watermark's name in sync_watermarks; with "
     "ECM_RESULTSYNC_KIND=uccx it must start with 'uccx:' (e.g. uccx:db_cra)",
     NULL, 0},
    {"ECM_RESULTSYNC_TABLE", ECM_CFG_STRING, offsetof(rs_config, table), "Dialer_Detail", 0, -1,
     "dialer_detail: result table read over ODBC (optionally schema-qualified)",
     rs_odbc_validate_table, 0},
    {"ECM_RESULTSYNC_PAGE", ECM_CFG_INT, offsetof(rs_config, page), "1000", 1, RS_ODBC_PAGE_MAX,
     "rows (dialer_detail) or outstanding attempts (uccx) per page and transaction", NULL, 0},
    {"ECM_RESULTSYNC_POLL_MS", ECM_CFG_INT, offsetof(rs_config, poll_ms), "0", 0, 3600000,
     "pause after a page that was not full; 0: the kind's default (dialer_detail 500, uccx "
     "60000: Cisco warns against frequent db_cra queries)",
     NULL, 0},
    {"ECM_RESULTSYNC_UCCX_HISTORY_AFTER_S", ECM_CFG_INT, offsetof(rs_config, uccx_history_after_s),
     "82800", 0, 2592000,
     "uccx: attempts sent longer ago than this are also looked up in dialinglisthistory (UCCX "
     "moves closed records there at midnight, a day after closing; the default is a day less "
     "an hour)",
     NULL, 0},
    {"ECM_UCCE_LOGGER_TIME_ZONE", ECM_CFG_STRING, offsetof(rs_config, logger_zone), "UTC", 0, -1,
     "IANA time zone of the UCCE Logger: Dialer_Detail.CallbackDateTime (a personal callback's "
     "time) is in it",
     rs_logger_time_validate_zone, 0},
};
#define RS_CONFIG_N (sizeof(rs_config_table) / sizeof(rs_config_table[0]))

typedef struct {
    ecm_service *svc;
    rs_sync *sync; /* one of sync and uccx */
    rs_uccx *uccx;
} ready_ctx;

/* /readyz: the result source and the ECM DB as the sync loop last saw them,
 * then the outbox relay and the broker. It replaces the service's own check
 * (static in ecm_service.c), so it repeats that check's parts. */
static int ready_check(void *ctx, char *errstr, size_t errstr_size)
{
    const ready_ctx *r = ctx;
    if (ecm_stop_requested) {
        snprintf(errstr, errstr_size, "stopping");
        return -1;
    }
    if (r->sync && rs_sync_ready(r->sync, errstr, errstr_size) != 0)
        return -1;
    if (r->uccx && rs_uccx_ready(r->uccx, errstr, errstr_size) != 0)
        return -1;
    if (r->svc->relay && !ecm_outbox_relay_healthy(r->svc->relay)) {
        snprintf(errstr, errstr_size, "outbox relay cannot reach the ECM DB");
        return -1;
    }
    if (r->svc->producer && !ecm_kafka_producer_reachable(r->svc->producer, 1000)) {
        snprintf(errstr, errstr_size, "Kafka unreachable");
        return -1;
    }
    return 0;
}

/* The readers and their ODBC handles, whichever the kind needs. */
typedef struct {
    rs_odbc *dd_odbc;
    rs_sync *sync;
    ecm_odbc *uccx_odbc;
    rs_uccx *uccx;
} readers;

/* Creates the reader of cfg->kind into *r. Returns 0 or -1 (logged). */
static int readers_new(readers *r, const rs_config *cfg, ecm_service *svc)
{
    const char *ce_source = svc->source ? svc->source : "/ecm/result-sync";
    if (strcmp(cfg->kind, RS_KIND_UCCX) == 0) {
        rs_uccx_config ucfg = {
            .source = cfg->source,
            .topic = cfg->common.topic_call_results,
            .ce_source = ce_source,
            .page_size = (int)cfg->page,
            .history_after_s = (long)cfg->uccx_history_after_s,
        };
        /* db_cra is read, never written. */
        r->uccx_odbc = ecm_odbc_new(cfg->odbc, 1, "UCCX db_cra");
        if (r->uccx_odbc)
            r->uccx = rs_uccx_new(&ucfg, svc->pg, r->uccx_odbc, svc->metrics);
        return r->uccx ? 0 : -1;
    }
    rs_sync_config scfg = {
        .source = cfg->source,
        .topic = cfg->common.topic_call_results,
        .ce_source = ce_source,
        .page_size = (int)cfg->page,
        .logger_zone = cfg->logger_zone,
    };
    r->dd_odbc = rs_odbc_new(cfg->odbc, cfg->table, (int)cfg->page);
    if (r->dd_odbc)
        r->sync = rs_sync_new(&scfg, svc->pg, r->dd_odbc, svc->metrics);
    return r->sync ? 0 : -1;
}

static void readers_destroy(readers *r)
{
    rs_sync_destroy(r->sync);
    rs_odbc_destroy(r->dd_odbc);
    rs_uccx_destroy(r->uccx);
    ecm_odbc_destroy(r->uccx_odbc);
}

int main(int argc, char **argv)
{
    rs_config cfg = {0};
    ecm_service svc = {0};
    readers r = {0};
    int rc = 1;

    ecm_service_configure(argc, argv, "ecm-result-sync",
                          "Reads Cisco call results over ODBC and emits call.results.",
                          rs_config_table, RS_CONFIG_N, &cfg);
    int uccx = strcmp(cfg.kind, RS_KIND_UCCX) == 0;
    if (uccx && strncmp(cfg.source, "uccx:", 5) != 0) {
        /* The default names the Dialer_Detail watermark: a UCCX reader
         * emitting under it would pass UCCX codes off as UCCE ones. */
        fprintf(stderr,
                "ecm-result-sync: ECM_RESULTSYNC_SOURCE: '%s' is not a uccx source; with "
                "ECM_RESULTSYNC_KIND=uccx set it to e.g. uccx:db_cra\n",
                cfg.source);
        ecm_config_destroy(rs_config_table, RS_CONFIG_N, &cfg);
        return 2;
    }
    long poll_ms =
        cfg.poll_ms > 0 ? (long)cfg.poll_ms : (uccx ? RS_POLL_UCCX_MS : RS_POLL_DIALER_DETAIL_MS);
    if (ecm_service_init(&svc, "result-sync", &cfg.common) != 0)
        goto out_cfg;
    /* The same few statements run every page: parsed once a session
     * (docs/performance.md). */
    ecm_pg_set_prepare(svc.pg, 1);
    if (readers_new(&r, &cfg, &svc) != 0)
        goto out_svc;

    ready_ctx ready = {.svc = &svc, .sync = r.sync, .uccx = r.uccx};
    ecm_http_set_ready(svc.http, ready_check, &ready);
    if (ecm_service_start_http(&svc) != 0)
        goto out_svc;

    ecm_log_info("result-sync started", "kind %s source %s table %s page %lld poll %ld ms",
                 cfg.kind, cfg.source, uccx ? "dialinglist" : cfg.table, cfg.page, poll_ms);
    if (uccx)
        rs_uccx_run(r.uccx, poll_ms, &ecm_stop_requested);
    else
        rs_sync_run(r.sync, poll_ms, &ecm_stop_requested);
    ecm_log_info("result-sync stopping", NULL);
    rc = 0;

out_svc:
    /* HTTP goes down first, so the ready check never sees a freed reader. */
    ecm_service_shutdown(&svc);
    readers_destroy(&r);
out_cfg:
    ecm_config_destroy(rs_config_table, RS_CONFIG_N, &cfg);
    return rc;
}

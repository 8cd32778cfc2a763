/* ecm-result-sync: reads Cisco call results (Dialer_Detail) over ODBC by
 * watermark and emits call.results through the outbox. Wiring only; the work
 * is in rs_odbc.c, rs_map.c and rs_sync.c. */
#include <stddef.h>
#include <stdio.h>

#include "ecm_config.h"
#include "ecm_log.h"
#include "ecm_service.h"
#include "rs_odbc.h"
#include "rs_sync.h"

typedef struct {
    ecm_common_config common;
    char *odbc;
    char *source;
    char *table;
    long long page;
    long long poll_ms;
} rs_config;

static const ecm_cfg_entry rs_config_table[] = {
    ECM_COMMON_CONFIG_ENTRIES(rs_config, common, "8082", "64"),
    {"ECM_RESULTSYNC_ODBC", ECM_CFG_STRING, offsetof(rs_config, odbc), NULL, 0, -1,
     "ODBC connection string of the Cisco result source, e.g. \"Driver={PostgreSQL "
     "Unicode};Server=127.0.0.1;Port=55432;Database=cisco_sim;Uid=ecm;Pwd=ecm;\"",
     NULL, 1},
    {"ECM_RESULTSYNC_SOURCE", ECM_CFG_STRING, offsetof(rs_config, source), "ucce:Dialer_Detail", 0,
     -1, "name of the watermark in sync_watermarks, also CallResult.source", NULL, 0},
    {"ECM_RESULTSYNC_TABLE", ECM_CFG_STRING, offsetof(rs_config, table), "Dialer_Detail", 0, -1,
     "result table read over ODBC (optionally schema-qualified)", rs_odbc_validate_table, 0},
    {"ECM_RESULTSYNC_PAGE", ECM_CFG_INT, offsetof(rs_config, page), "1000", 1, RS_ODBC_PAGE_MAX,
     "rows read and committed per page", NULL, 0},
    {"ECM_RESULTSYNC_POLL_MS", ECM_CFG_INT, offsetof(rs_config, poll_ms), "500", 10, 600000,
     "pause after a page that was not full", NULL, 0},
};
#define RS_CONFIG_N (sizeof(rs_config_table) / sizeof(rs_config_table[0]))

typedef struct {
    ecm_service *svc;
    rs_sync *sync;
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
    if (rs_sync_ready(r->sync, errstr, errstr_size) != 0)
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

int main(int argc, char **argv)
{
    rs_config cfg = {0};
    ecm_service svc = {0};
    rs_odbc *odbc = NULL;
    rs_sync *sync = NULL;
    int rc = 1;

    ecm_service_configure(argc, argv, "ecm-result-sync",
                          "Reads Cisco call results over ODBC and emits call.results.",
                          rs_config_table, RS_CONFIG_N, &cfg);
    if (ecm_service_init(&svc, "result-sync", &cfg.common) != 0)
        goto out_cfg;

    odbc = rs_odbc_new(cfg.odbc, cfg.table, (int)cfg.page);
    rs_sync_config sync_cfg = {
        .source = cfg.source,
        .topic = cfg.common.topic_call_results,
        .ce_source = svc.source ? svc.source : "/ecm/result-sync",
        .page_size = (int)cfg.page,
    };
    if (odbc)
        sync = rs_sync_new(&sync_cfg, svc.pg, odbc, svc.metrics);
    if (!sync)
        goto out_svc;

    ready_ctx ready = {.svc = &svc, .sync = sync};
    ecm_http_set_ready(svc.http, ready_check, &ready);
    if (ecm_service_start_http(&svc) != 0)
        goto out_svc;

    ecm_log_info("result-sync started", "source %s table %s page %lld", cfg.source, cfg.table,
                 cfg.page);
    rs_sync_run(sync, (long)cfg.poll_ms, &ecm_stop_requested);
    ecm_log_info("result-sync stopping", NULL);
    rc = 0;

out_svc:
    /* HTTP goes down first, so the ready check never sees a freed syncer. */
    ecm_service_shutdown(&svc);
    rs_sync_destroy(sync);
    rs_odbc_destroy(odbc);
out_cfg:
    ecm_config_destroy(rs_config_table, RS_CONFIG_N, &cfg);
    return rc;
}

/* ecm-gateway: the REST API. Wiring only; the behaviour is in gw_*.c. */
#include <stddef.h>
#include <stdlib.h>

#include "ecm_log.h"
#include "ecm_service.h"
#include "gw_app.h"
#include "gw_campaigns.h"
#include "gw_dnc.h"
#include "gw_upload.h"

typedef struct {
    ecm_common_config common;
    long long upload_batch;
    long long upload_max_record;
    long long pg_pool_size;
} gateway_config;

static const ecm_cfg_entry config_table[] = {
    ECM_COMMON_CONFIG_ENTRIES(gateway_config, common, "8080"),
    {"ECM_GATEWAY_UPLOAD_BATCH", ECM_CFG_INT, offsetof(gateway_config, upload_batch), "5000", 1,
     100000, "contacts loaded per COPY transaction during an upload", NULL, 0},
    {"ECM_GATEWAY_UPLOAD_MAX_RECORD", ECM_CFG_INT, offsetof(gateway_config, upload_max_record),
     "65536", 1024, 16777216, "bytes one CSV record may take (bounds memory per upload)", NULL, 0},
    {"ECM_GATEWAY_PG_POOL", ECM_CFG_INT, offsetof(gateway_config, pg_pool_size), "8", 1, 256,
     "database connections shared by the HTTP handlers", NULL, 0},
};

int main(int argc, char **argv)
{
    gateway_config cfg = {0};
    const size_t n = sizeof(config_table) / sizeof(config_table[0]);
    ecm_service_configure(argc, argv, "ecm-gateway",
                          "ECM REST gateway: campaigns, contact uploads and the DNC list",
                          config_table, n, &cfg);
    ecm_service svc;
    if (ecm_service_init(&svc, "gateway", &cfg.common) != 0) {
        ecm_config_free(config_table, n, &cfg);
        return 1;
    }
    ecm_config_log(config_table, n, &cfg);
    int rc = 1;
    ecm_pg_pool *pool =
        ecm_pg_pool_new(cfg.common.pg_dsn, (int)cfg.pg_pool_size, &ecm_stop_requested);
    if (!pool) {
        ecm_log_error("gateway start failed", "could not create the DB pool");
        goto out;
    }
    const gw_app app = {
        .pool = pool,
        .source = svc.source,
        .topic_campaigns = cfg.common.topic_campaigns,
        .topic_uploaded = cfg.common.topic_uploaded,
        .upload_batch = (size_t)cfg.upload_batch,
        .upload_max_record = (size_t)cfg.upload_max_record,
    };
    if (gw_campaigns_register(svc.http, &app) != 0 || gw_upload_register(svc.http, &app) != 0 ||
        gw_dnc_register(svc.http, &app) != 0) {
        ecm_log_error("gateway start failed", "HTTP route table is full");
        goto out;
    }
    if (ecm_service_start_http(&svc) != 0) {
        goto out;
    }
    while (!ecm_stop_requested) {
        ecm_service_sleep_ms(1000);
    }
    rc = 0;
out:
    /* HTTP goes down first, so no handler still holds a pool handle. */
    ecm_service_shutdown(&svc);
    ecm_pg_pool_destroy(pool);
    ecm_config_free(config_table, n, &cfg);
    return rc;
}

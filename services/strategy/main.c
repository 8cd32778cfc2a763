/* ecm-strategy: applies each campaign's strategy to call and SMS results and
 * schedules the retries. Wiring only; the work is in st_results.c (Kafka ->
 * DB), ecm_decide.c (the rules) and st_sched.c (due contacts -> retries). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "ecm_recycle.h"
#include "ecm_calling.h"
#include "ecm_config.h"
#include "ecm_log.h"
#include "ecm_service.h"
#include "st_recycle.h"
#include "st_results.h"
#include "st_sched.h"

typedef struct {
    ecm_common_config common;
    char *group;
    long long tick_ms;
    long long sched_batch;
    long long apply_threads;
    char *legal_hours;
    long long recycle_interval_s;
    char *topic_recycled;
} st_config;

static const ecm_cfg_entry st_config_table[] = {
    ECM_COMMON_CONFIG_ENTRIES(st_config, common, "8083", "64"),
    {"ECM_STRATEGY_GROUP", ECM_CFG_STRING, offsetof(st_config, group), "ecm-strategy", 0, -1,
     "Kafka consumer group", NULL, 0},
    {"ECM_STRATEGY_TICK_MS", ECM_CFG_INT, offsetof(st_config, tick_ms), "250", 10, 60000,
     "scheduler: wait between scans for due retries", NULL, 0},
    {"ECM_STRATEGY_SCHED_BATCH", ECM_CFG_INT, offsetof(st_config, sched_batch), "1000", 1, 100000,
     "scheduler: most due contacts taken in one transaction", NULL, 0},
    {"ECM_STRATEGY_APPLY_THREADS", ECM_CFG_INT, offsetof(st_config, apply_threads), "2", 1,
     ST_RESULTS_LANES_MAX,
     "results applied at once, split by contact, each on its own PostgreSQL connection "
     "(a burst of results is decided that many times sooner when cores are free)",
     NULL, 0},
    ECM_CALLING_CONFIG_ENTRY(st_config, legal_hours),
    {"ECM_RECYCLE_INTERVAL_S", ECM_CFG_INT, offsetof(st_config, recycle_interval_s), "3600", 1,
     31622400, "recycle schedules: business seconds between two runs of a campaign's schedule",
     NULL, 0},
    {"ECM_TOPIC_CONTACTS_RECYCLED", ECM_CFG_STRING, offsetof(st_config, topic_recycled),
     ECM_RECYCLE_TOPIC_DEFAULT, 0, -1, "topic name (ContactsRecycled)", NULL, 0},
};
#define ST_CONFIG_N (sizeof(st_config_table) / sizeof(st_config_table[0]))

int main(int argc, char **argv)
{
    st_config cfg = {0};
    ecm_service_configure(argc, argv, "ecm-strategy",
                          "applies campaign strategies to results and schedules retries",
                          st_config_table, ST_CONFIG_N, &cfg);

    ecm_service svc;
    if (ecm_service_init(&svc, "strategy", &cfg.common) != 0) {
        ecm_config_destroy(st_config_table, ST_CONFIG_N, &cfg);
        return 1;
    }

    int rc = 1;
    ecm_calling_cache *calling = NULL;
    /* lane 0 runs on the service's connection with calling and rules;
     * the others have their own (the caches are single-threaded) */
    st_results_lane lanes[ST_RESULTS_LANES_MAX] = {0};
    st_results_ctx lane_ctx[ST_RESULTS_LANES_MAX] = {0};
    size_t nlanes = 0;
    ecm_rules_cache *rules = NULL;
    st_sched *sched = NULL;
    st_recycle *recycle = NULL;
    char errstr[512];
    ecm_legal_hours legal;
    if (ecm_calling_legal_parse(cfg.legal_hours, &legal, errstr, sizeof(errstr)) != 0) {
        /* The config table's validator already refused a bad value. */
        ecm_log_error("bad legal hours", "%s", errstr);
        goto out;
    }
    calling = ecm_calling_cache_new(&legal);
    rules = ecm_rules_cache_new();
    if (calling == NULL || rules == NULL) {
        ecm_log_error("out of memory", NULL);
        goto out;
    }
    const char *topics[] = {cfg.common.topic_call_results, cfg.common.topic_sms_results};
    if (ecm_service_consumer_start(&svc, cfg.group, topics, 2) != 0)
        goto out;

    const st_sched_ctx sched_ctx = {
        .topic_retry = cfg.common.topic_retry,
        .topic_campaigns = cfg.common.topic_campaigns,
        .topic_closed = cfg.common.topic_closed,
        .source = svc.source,
        .metrics = svc.metrics,
        .batch = (int)cfg.sched_batch,
    };
    sched = st_sched_start(cfg.common.pg_dsn, &sched_ctx, (long)cfg.tick_ms, &ecm_stop_requested);
    if (sched == NULL || ecm_service_start_http(&svc) != 0)
        goto out;
    const st_recycle_ctx recycle_ctx = {
        .topic_recycled = cfg.topic_recycled,
        .topic_campaigns = cfg.common.topic_campaigns,
        .source = svc.source,
        .metrics = svc.metrics,
        .interval_s = cfg.recycle_interval_s,
    };
    recycle =
        st_recycle_start(cfg.common.pg_dsn, &recycle_ctx, (long)cfg.tick_ms, &ecm_stop_requested);
    if (recycle == NULL)
        goto out;

    nlanes = (size_t)cfg.apply_threads;
    for (size_t i = 0; i < nlanes; i++) {
        lane_ctx[i] = (st_results_ctx){
            .topic_call_results = cfg.common.topic_call_results,
            .topic_sms_results = cfg.common.topic_sms_results,
            .topic_closed = cfg.common.topic_closed,
            .source = svc.source,
            .metrics = svc.metrics,
            .calling = i == 0 ? calling : ecm_calling_cache_new(&legal),
            .rules = i == 0 ? rules : ecm_rules_cache_new(),
        };
        lanes[i].ctx = &lane_ctx[i];
        lanes[i].pg = i == 0 ? svc.pg : ecm_pg_new(cfg.common.pg_dsn, &ecm_stop_requested);
        if (lane_ctx[i].calling == NULL || lane_ctx[i].rules == NULL || lanes[i].pg == NULL) {
            ecm_log_error("out of memory", NULL);
            nlanes = i + 1;
            goto out;
        }
        /* Each result runs the same dozen statements: parsed once a session
         * (docs/performance.md). */
        ecm_pg_set_prepare(lanes[i].pg, 1);
    }
    ecm_log_info("strategy running", "consuming %s, %s; %zu lanes", topics[0], topics[1], nlanes);
    st_results_run(svc.consumer, lanes, nlanes, &ecm_stop_requested);
    rc = 0;

out:
    for (size_t i = 1; i < nlanes; i++) {
        ecm_pg_destroy(lanes[i].pg);
        ecm_calling_cache_destroy(lane_ctx[i].calling);
        ecm_rules_cache_destroy(lane_ctx[i].rules);
    }
    st_recycle_stop(recycle);
    st_sched_stop(sched);
    ecm_calling_cache_destroy(calling);
    ecm_rules_cache_destroy(rules);
    ecm_service_shutdown(&svc);
    ecm_config_destroy(st_config_table, ST_CONFIG_N, &cfg);
    return rc;
}

/* What the sms service's parts share: configuration, metrics, the DB pool
 * for HTTP handlers, and the names of its topics. Built once by main() and
 * passed down as const; nothing in it changes after start. */
#ifndef SMS_CTX_H
#define SMS_CTX_H

#include "ecm_metrics.h"
#include "ecm_pg.h"
#include "ecm_service.h"
#include "sms_auth.h"

typedef struct {
    const ecm_common_config *common; /* topics: common->topic_sms_results, ... */
    const char *source;              /* CloudEvents source, "/ecm/sms" */
    ecm_metrics *metrics;
    ecm_pg_pool *pool; /* for HTTP handlers (DLR, MO) */
    /* Public base URL of this service's HTTP port as the SMS gateway reaches
     * it, e.g. "http://127.0.0.1:7484": DLR URLs are built from it. */
    const char *callback_base_url;
    const char *help_text;     /* answer to HELP */
    const char *optout_text;   /* confirmation after STOP & co. */
    const char *optin_text;    /* confirmation after START & co. */
    const char *system_sender; /* "from" of system messages */
    long long dlr_scan_ms;     /* how often DLR timeouts are checked */
    /* Callback authentication (DLR tokens, MO key); thread-safe, so the
     * handlers use it through this const struct. */
    sms_auth *auth;
    /* Replies to inbound messages (HELP answers, STOP/START confirmations):
     * at most one of a kind to a number per reply_interval_s (0: no limit)
     * and reply_max_per_minute in all (0: no limit), both in the DB so that
     * they hold across replicas, on the business clock. */
    long long reply_interval_s;
    long long reply_max_per_minute;
    /* Group commit of the DLR callbacks (thread-safe); NULL: each DLR is
     * applied alone. */
    struct sms_dlrq *dlrq;
} sms_ctx;

#endif

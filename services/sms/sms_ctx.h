/* What the sms service's parts share: configuration, metrics, the DB pool
 * for HTTP handlers, and the names of its topics. Built once by main() and
 * passed down as const; nothing in it changes after start. */
#ifndef SMS_CTX_H
#define SMS_CTX_H

#include "ecm_metrics.h"
#include "ecm_pg.h"
#include "ecm_service.h"

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
} sms_ctx;

#endif

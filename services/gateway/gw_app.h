/* What the gateway's HTTP handlers share: the DB pool and the settings they
 * need. Owned by main() (or a test), read-only once routes are registered;
 * handlers run on many threads at once. */
#ifndef GW_APP_H
#define GW_APP_H

#include <stddef.h>

#include "ecm_calling.h"
#include "ecm_pg.h"

typedef struct {
    ecm_pg_pool *pool;
    const char *source;           /* CloudEvents source, "/ecm/gateway" */
    const char *topic_campaigns;  /* campaigns.changed */
    const char *topic_uploaded;   /* contacts.uploaded */
    const char *default_region;   /* how a DNC number without '+' is read; NULL: "US" */
    const char *topic_closed;     /* contacts.closed (DNC closes contacts); NULL: default */
    const ecm_legal_hours *legal; /* ECM_LEGAL_HOURS, windows are checked against; NULL: 08-21 */
    size_t upload_batch;          /* contacts per COPY transaction */
    int upload_threads;           /* validating threads per upload; 0: by CPUs */
    size_t upload_max_record;     /* bytes of one CSV record */
} gw_app;

#endif

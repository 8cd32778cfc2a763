/* What the gateway's HTTP handlers share: the DB pool and the settings they
 * need. Owned by main() (or a test), read-only once routes are registered;
 * handlers run on many threads at once. */
#ifndef GW_APP_H
#define GW_APP_H

#include <stddef.h>

#include "ecm_calling.h"
#include "ecm_pg.h"
#include "gw_upload_lease.h"
#include "gw_upload_limits.h"

typedef struct {
    ecm_pg_pool *pool;
    const char *source;           /* CloudEvents source, "/ecm/gateway" */
    const char *topic_campaigns;  /* campaigns.changed */
    const char *topic_uploaded;   /* contacts.uploaded */
    const char *default_region;   /* how a DNC number without '+' is read; NULL: "US" */
    const char *topic_closed;     /* contacts.closed (DNC closes contacts); NULL: default */
    const ecm_legal_hours *legal; /* ECM_LEGAL_HOURS, windows are checked against; NULL: 08-21 */
    size_t upload_batch;          /* contacts per COPY transaction */
    int upload_threads;           /* validating threads in all; 0: by CPUs */
    size_t upload_max_record;     /* bytes of one CSV record */
    size_t upload_max_bytes;      /* bytes of one upload's body; 0: GW_UPLOAD_MAX_BYTES_DEFAULT */
    gw_upload_limits *upload_limits; /* uploads at once, shared threads; NULL: none */
    gw_upload_lease *upload_lease;   /* this process's owner identity; required */
    const char *topic_uploads;       /* uploads.changed (UploadInterrupted) */
    const char *topic_recycled;      /* contacts.recycled (ContactsRecycled); NULL: default */
    /* ECM_FEEDER_WINDOW_MARGIN_S in ms: what the eligibility answer judges a
     * call with, as the feeder does; -1: none; 0 (a zeroed app): the
     * feeder's default */
    long long voice_margin_ms;
    const char *web_dir; /* ECM_GATEWAY_WEB_DIR: console files read from here; NULL: compiled in */
} gw_app;

/* 2 GiB: a 1M-row contact file is ~100 MB. */
#define GW_UPLOAD_MAX_BYTES_DEFAULT (2048ull * 1024 * 1024)

/* The body cap of app's upload routes. Can't fail. */
static inline size_t gw_upload_limits_max_bytes(const gw_app *app)
{
    return app->upload_max_bytes ? app->upload_max_bytes : (size_t)GW_UPLOAD_MAX_BYTES_DEFAULT;
}

#endif

/* One result-sync step: read a page of Cisco results after the watermark,
 * map each of ours to a CallResult event (UCCE codes: call_result_map's
 * 'ucce' rows), and write the events to the outbox
 * together with the new watermark in one ECM DB transaction. */
#ifndef RS_SYNC_H
#define RS_SYNC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ecm_metrics.h"
#include "ecm_pg.h"
#include "rs_odbc.h"

typedef struct {
    const char *source;    /* watermark name and CallResult.source: "ucce:Dialer_Detail" */
    const char *topic;     /* call.results topic */
    const char *ce_source; /* CloudEvents source: "/ecm/result-sync" */
    int page_size;         /* the rs_odbc handle's page size */
    /* IANA zone of the UCCE Logger: CallbackDateTime is in it (NULL: UTC) */
    const char *logger_zone;
} rs_sync_config;

typedef struct rs_sync rs_sync;

/* Creates a syncer over pg (ECM DB) and odbc (result source); neither is
 * owned and both must outlive it. cfg strings are copied. metrics may be
 * NULL. Returns NULL on a bad argument or allocation failure (logged). */
rs_sync *rs_sync_new(const rs_sync_config *cfg, ecm_pg *pg, rs_odbc *odbc, ecm_metrics *metrics)
    __attribute__((warn_unused_result));
void rs_sync_destroy(rs_sync *s);

/* Processes one page. Returns the number of result rows read (a full page
 * means more may be waiting), or -1 when the ECM DB or the result source
 * failed: then nothing was committed, the watermark is unchanged and the
 * same rows are read again next time. */
int rs_sync_page(rs_sync *s) __attribute__((warn_unused_result));

/* Runs pages until *stop: the next page at once after a full one, else a
 * pause of poll_ms; after a failure a capped backoff (100 ms to 5 s). A stop
 * is seen between pages, so a page's transaction always finishes. Returns 0
 * (always: failures are retried inside). */
int rs_sync_run(rs_sync *s, long poll_ms, volatile sig_atomic_t *stop);

/* Readiness as seen by the last page: 0, or -1 with the reason in errstr
 * (result source or ECM DB unreachable). Safe from any thread. */
int rs_sync_ready(const rs_sync *s, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The watermark last read or committed (0 before the first page). */
int64_t rs_sync_watermark(const rs_sync *s);

#endif

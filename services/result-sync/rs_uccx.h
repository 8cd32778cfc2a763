/* The UCCX result reader: UCCX's db_cra has no documented column to read
 * new results by (docs/cisco-research.md 1.5), so instead of a watermark it
 * asks db_cra, by account number, about ECM's own outstanding uccx attempts
 * (attempts 'sent' to a uccx target whose result was not seen yet). A
 * record is final when its callstatus is closed (3), callback (4) or max
 * calls (5) with a callresult > 0. Records move from dialinglist to
 * dialinglisthistory a day after closing, so attempts sent before the last
 * possible move are also looked up there. Each final record becomes one
 * CallResult event (UCCX code, outcome from call_result_map's 'uccx' rows)
 * in the outbox, and its attempt is marked seen (attempts.result_seen_at)
 * in the same ECM DB transaction: a result is emitted once, and a crash
 * before the commit only makes the next pass read it again. The cost of a
 * pass is bounded by ECM's in-flight attempts, not by db_cra's size.
 *
 * Not thread-safe, except rs_uccx_ready(). */
#ifndef RS_UCCX_H
#define RS_UCCX_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ecm_metrics.h"
#include "ecm_odbc.h"
#include "ecm_pg.h"

typedef struct rs_uccx rs_uccx;

/* Most outstanding attempts in one page. */
#define RS_UCCX_PAGE_MAX 10000
/* Default of history_after_s: a record moves to dialinglisthistory at the
 * first midnight one day after it closed, so never less than a day after
 * its attempt was sent; an hour less than that leaves room for a clock
 * difference between ECM and UCCX. */
#define RS_UCCX_HISTORY_AFTER_DEFAULT_S 82800

typedef struct {
    const char *source;    /* CallResult.source, e.g. "uccx:db_cra" */
    const char *topic;     /* call.results topic */
    const char *ce_source; /* CloudEvents source: "/ecm/result-sync" */
    int page_size;         /* outstanding attempts per page, 1..RS_UCCX_PAGE_MAX */
    long history_after_s;  /* attempts sent longer ago are also looked up in history */
} rs_uccx_config;

/* Creates a reader over pg (ECM DB) and odbc (db_cra); neither is owned and
 * both must outlive it. cfg strings are copied. metrics may be NULL.
 * Returns NULL on a bad argument or allocation failure (logged). */
rs_uccx *rs_uccx_new(const rs_uccx_config *cfg, ecm_pg *pg, ecm_odbc *odbc, ecm_metrics *metrics)
    __attribute__((warn_unused_result));

/* Frees the reader; NULL is ignored. */
void rs_uccx_destroy(rs_uccx *u);

/* Processes the next page of the current pass over the outstanding
 * attempts (oldest sent first): looks their records up in db_cra and emits
 * the final ones. Returns the number of outstanding attempts in the page (a
 * full page means the pass goes on; a shorter one ends the pass and the
 * next call starts a new one), or -1 when the ECM DB or db_cra failed: then
 * nothing was committed, no attempt was marked and the page is read again
 * next time. */
int rs_uccx_page(rs_uccx *u) __attribute__((warn_unused_result));

/* Runs pages until *stop: the next page at once after a full one, else a
 * pause of poll_ms; after a failure a capped backoff (100 ms to 5 s). A
 * stop is seen between pages. Returns 0 (failures are retried inside). */
int rs_uccx_run(rs_uccx *u, long poll_ms, volatile sig_atomic_t *stop);

/* Readiness as seen by the last page: 0, or -1 with the reason in errstr
 * (db_cra or ECM DB unreachable). Safe from any thread. */
int rs_uccx_ready(const rs_uccx *u, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Pure: the time of a db_cra DATETIME / timestamp text ("YYYY-MM-DD
 * HH:MM:SS[.fff...]", taken as UTC: Cisco does not document the zone of
 * these columns) as ms since the epoch into *ms. Returns 0, or -1 when text
 * is NULL or not in that form. */
int rs_uccx_parse_time(const char *text, int64_t *ms) __attribute__((warn_unused_result));

#endif

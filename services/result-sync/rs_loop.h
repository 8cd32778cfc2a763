/* The loop every result reader runs (rs_sync for Dialer_Detail, rs_uccx for
 * UCCX's db_cra): one page at a time; after a failed page it waits the
 * larger of a back-off doubling from 100 ms to 5 s and the source's own
 * reconnect back-off; after a page that was not full, poll_ms. */
#ifndef RS_LOOP_H
#define RS_LOOP_H

#include <signal.h>

/* One page of reader: the rows read (>= 0), or -1 after a failure. */
typedef int (*rs_loop_page_fn)(void *reader);

/* The source's reconnect back-off (ms, 0 when connected). */
typedef long (*rs_loop_backoff_fn)(void *reader);

/* Runs pages until *stop is set. Can't fail. */
void rs_loop_run(void *reader, rs_loop_page_fn page, rs_loop_backoff_fn source_backoff,
                 int page_size, long poll_ms, volatile sig_atomic_t *stop);

#endif

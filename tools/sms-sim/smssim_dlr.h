/* DLR callbacks of the simulator: a queue ordered by due time and worker
 * threads that GET each callback URL, retrying with backoff when the
 * receiver fails (connection refused, timeout, non-2xx), like a real
 * gateway. Also the URL templating shared with the MO forwarder. */
#ifndef SMSSIM_DLR_H
#define SMSSIM_DLR_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_metrics.h"
#include "smssim_state.h"

/* Values for smssim_url_fill; NULL strings and status < 0 expand to "". */
typedef struct {
    int status;       /* %d */
    const char *from; /* %p */
    const char *to;   /* %P */
    const char *text; /* %a */
    const char *id;   /* %i: the simulator's id of the message */
} smssim_url_vals;

/* Expands tmpl into a malloc'd URL: %d, %p, %P, %a, %i are replaced by the
 * values (strings percent-encoded, RFC 3986 unreserved characters kept), %%
 * by %, anything else is copied as is. Returns NULL when out of memory or
 * when the result would exceed 8 KiB. */
char *smssim_url_fill(const char *tmpl, const smssim_url_vals *v);

typedef struct {
    int workers;        /* callback threads, 1..64 */
    long timeout_ms;    /* per attempt */
    int max_attempts;   /* then counted as dlrs_failed */
    long retry_base_ms; /* backoff: base * attempt, capped at retry_max_ms */
    long retry_max_ms;
    size_t max_pending; /* queue bound; beyond it a DLR is dropped and counted failed */
} smssim_dlr_config;

typedef struct smssim_dlr smssim_dlr;

/* Creates the queue and starts the workers. Returns NULL (logged) when out
 * of memory or when a thread can't start. */
smssim_dlr *smssim_dlr_new(const smssim_dlr_config *cfg, smssim_state *state, ecm_metrics *metrics)
    __attribute__((warn_unused_result));

/* Queues a GET of url (copied) in delay_ms. Returns 0, or -1 when the queue
 * is full or out of memory (then counted in dlrs_failed, so a caller may
 * ignore it). */
int smssim_dlr_enqueue(smssim_dlr *d, const char *url, long delay_ms);

/* Callbacks queued or in flight. */
uint64_t smssim_dlr_pending(smssim_dlr *d);

/* Stops the workers (an attempt in flight finishes within its timeout),
 * logs how many callbacks were still queued, frees everything. NULL is
 * ignored. */
void smssim_dlr_destroy(smssim_dlr *d);

#endif

/* The simulator's dialer: one thread that "dials" pending contacts of
 * enabled campaigns of both Cisco systems at a set rate, picks each
 * CallResult from the configured mix, and records it where that system
 * keeps results: UCCE in Dialer_Detail and DL_<id>_1, UCCX in dialinglist
 * (sim_store_dial_batch). */
#ifndef SIM_DIALER_H
#define SIM_DIALER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ecm_metrics.h"
#include "sim_mix.h"
#include "sim_store.h"

typedef struct {
    const char *pg_dsn;
    double rate_per_s;       /* contacts dialled per second */
    long long delay_ms;      /* a contact waits at least this long after receipt */
    long long tick_ms;       /* one transaction per tick (~100) */
    uint64_t seed;           /* with the account number, fixes the CallResult */
    const sim_mix *mix;      /* not owned; must outlive the dialer */
    const char *logger_zone; /* IANA zone of the Logger (NULL: UTC); copied */
} sim_dialer_config;

typedef struct sim_dialer sim_dialer;

/* Creates a dialer with its own DB connection (not yet connected, no thread
 * yet). stop: the process stop flag; the thread ends after the tick in
 * progress once it is set. metrics may be NULL. Returns NULL on allocation
 * failure. */
sim_dialer *sim_dialer_new(const sim_dialer_config *cfg, ecm_metrics *metrics,
                           volatile sig_atomic_t *stop) __attribute__((warn_unused_result));

/* Decides one contact's outcome: CallResult from the mix by hash of
 * (account, seed), CallResultDetail 0, CallStatusZone1 'C' for final results
 * ('R' retry-able, 'B' callback), a call duration for answered calls.
 * Deterministic; can't fail. */
void sim_dialer_decide(const sim_dialer_config *cfg, const char *account_number,
                       sim_dial_outcome *out);

/* Per-number results, which win over the mix: "suffix:code,..." where
 * suffix is the last digits of the dialled number (non-digits ignored, e.g.
 * "0001:3" makes every number ending in 0001 "not in service") and code a
 * CallResult 0..SIM_MIX_MAX_CODE; the longest matching suffix applies. So a
 * test can make a contact's first phone invalid and its second answer.
 * Empty text clears them. Returns 0, or -1 with one line in errstr and the
 * rules unchanged. Call before sim_dialer_start(). */
int sim_dialer_set_number_results(sim_dialer *d, const char *text, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* ecm_config validator for the number results text: 0, or -1 with the
 * reason. */
int sim_dialer_validate_number_results(const char *text, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The CallResult the number results give phone, or -1 when none matches.
 * Can't fail. */
int sim_dialer_number_result(const sim_dialer *d, const char *phone);

/* Personal callbacks the agent schedules, winning over number results and
 * the mix: "suffix:agent:minutes,..." — a number ending in suffix gets
 * CallResult 14 (customer asked to be called back) with AgentPeripheralNumber
 * agent (digits, <= 15) and CallbackDateTime minutes (0..525600) after the
 * call, in the Logger's zone; the longest suffix wins. A personal callback
 * the sim dials never schedules another: its result is the number result or
 * the mix, and 10 (connected) where those would give 14 or 15. Empty text
 * clears them. Returns 0, or -1 with one line in errstr and the rules
 * unchanged. Call before sim_dialer_start(). */
int sim_dialer_set_personal_callbacks(sim_dialer *d, const char *text, char *errstr,
                                      size_t errstr_size) __attribute__((warn_unused_result));

/* ecm_config validator for the personal callbacks text. */
int sim_dialer_validate_personal_callbacks(const char *text, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The decision the dialer makes for (account, phone); pcb as in
 * sim_dial_decide_fn. Deterministic; can't fail. */
void sim_dialer_outcome(const sim_dialer *d, const char *account_number, const char *phone, int pcb,
                        sim_dial_outcome *out);

/* Runs one tick now: dials up to limit contacts in one transaction.
 * Returns the number dialled (>= 0), or -1 (logged) when the tick was rolled
 * back. Used by the thread and by tests. Not thread-safe: one caller. */
long long sim_dialer_tick(sim_dialer *d, long long limit);

/* Starts the dialing thread. Returns 0 or -1. */
int sim_dialer_start(sim_dialer *d) __attribute__((warn_unused_result));

/* Asks the thread to end after the tick in progress, waits for it (a tick
 * that is mid-transaction commits or rolls back first), closes the DB
 * connection and frees everything. NULL is ignored. While the database is
 * down the thread is waiting to reconnect, which only the stop flag given to
 * sim_dialer_new() interrupts: set it first. */
void sim_dialer_destroy(sim_dialer *d);

#endif

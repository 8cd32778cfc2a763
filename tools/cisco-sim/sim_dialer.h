/* The simulator's dialer: one thread that "dials" pending contacts at a set
 * rate, picks each CallResult from the configured mix, and writes
 * Dialer_Detail rows for result-sync to read. */
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
    double rate_per_s;  /* contacts dialled per second */
    long long delay_ms; /* a contact waits at least this long after receipt */
    long long tick_ms;  /* one transaction per tick (~100) */
    uint64_t seed;      /* with the account number, fixes the CallResult */
    const sim_mix *mix; /* not owned; must outlive the dialer */
} sim_dialer_config;

typedef struct sim_dialer sim_dialer;

/* Creates a dialer with its own DB connection (not yet connected, no thread
 * yet). stop: the process stop flag; the thread ends after the tick in
 * progress once it is set. metrics may be NULL. Returns NULL on allocation
 * failure. */
sim_dialer *sim_dialer_new(const sim_dialer_config *cfg, ecm_metrics *metrics,
                           volatile sig_atomic_t *stop);

/* Decides one contact's outcome: CallResult from the mix by hash of
 * (account, seed), CallResultDetail 0, CallStatusZone1 'C' for final results
 * ('R' retry-able, 'B' callback), a call duration for answered calls.
 * Deterministic; can't fail. */
void sim_dialer_decide(const sim_dialer_config *cfg, const char *account_number,
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

/* A bound on the orderly stop that holds whatever is stuck: once a stop is
 * requested, a thread of its own waits for the stop's deadline and, if the
 * process is still there, logs it and ends the process with a non-zero
 * status. Nothing is lost by ending that way: events not yet delivered are
 * still in the outbox, and uncommitted offsets are redelivered to idempotent
 * handlers (docs/architecture.md). */
#ifndef ECM_WATCHDOG_H
#define ECM_WATCHDOG_H

#include <signal.h>
#include <stdint.h>

/* Exit status of a process whose stop overran its bound (sysexits'
 * EX_SOFTWARE): distinct from 0 (orderly) and 137 (SIGKILL). */
#define ECM_WATCHDOG_EXIT_STATUS 70

typedef struct ecm_watchdog ecm_watchdog;

/* Starts the watchdog: it checks *stop every 100 ms and, bound_ms after it
 * first sees it set, logs "shutdown deadline passed" and calls
 * _exit(exit_status). Returns NULL (logged) when the thread can't start. */
ecm_watchdog *ecm_watchdog_start(const volatile sig_atomic_t *stop, int64_t bound_ms,
                                 int exit_status) __attribute__((warn_unused_result));

/* The monotonic time (ecm_clock_mono_ms) at which the watchdog fires. When it
 * has not yet seen the stop, the deadline starts now. Can't fail. */
int64_t ecm_watchdog_deadline(ecm_watchdog *w);

/* Disarms the watchdog, joins its thread and frees it. NULL is a no-op. */
void ecm_watchdog_stop(ecm_watchdog *w);

#endif

/* The stop's deadline keeper: see ecm_watchdog.h. */
#include "ecm_watchdog.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ecm_clock.h"
#include "ecm_log.h"

#define WATCHDOG_TICK_MS 100

struct ecm_watchdog {
    const volatile sig_atomic_t *stop;
    int64_t bound_ms;
    int exit_status;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int disarmed;     /* under mu */
    int64_t deadline; /* under mu; 0 until the stop is seen */
};

/* Sets w->deadline from now if it is not set yet. Caller holds w->mu. */
static int64_t watchdog_arm_locked(ecm_watchdog *w)
{
    if (w->deadline == 0)
        w->deadline = ecm_clock_mono_ms() + w->bound_ms;
    return w->deadline;
}

/* Waits on w->cv for up to ms (CLOCK_MONOTONIC). Caller holds w->mu. */
static void watchdog_wait_locked(ecm_watchdog *w, int64_t ms)
{
    struct timespec ts = ecm_clock_mono_after_us(ms * 1000);
    int rc = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    (void)rc; /* timeouts and wake-ups are both re-checked by the caller */
}

static void *watchdog_main(void *arg)
{
    ecm_watchdog *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->disarmed) {
        int64_t wait = WATCHDOG_TICK_MS;
        if (w->deadline != 0 || *w->stop) {
            int64_t left = watchdog_arm_locked(w) - ecm_clock_mono_ms();
            if (left <= 0) {
                ecm_log_error("shutdown deadline passed",
                              "the orderly stop did not end within %lld ms; exiting with "
                              "status %d (undelivered events stay in the outbox, uncommitted "
                              "offsets are redelivered)",
                              (long long)w->bound_ms, w->exit_status);
                _exit(w->exit_status);
            }
            wait = left;
        }
        watchdog_wait_locked(w, wait);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

ecm_watchdog *ecm_watchdog_start(const volatile sig_atomic_t *stop, int64_t bound_ms,
                                 int exit_status)
{
    ecm_watchdog *w = calloc(1, sizeof *w);
    if (!w) {
        ecm_log_error("watchdog not started", "out of memory");
        return NULL;
    }
    w->stop = stop;
    w->bound_ms = bound_ms;
    w->exit_status = exit_status;
    pthread_mutex_init(&w->mu, NULL);
    if (ecm_clock_cond_init(&w->cv) != 0) {
        ecm_log_error("watchdog not started", "pthread_cond_init failed");
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    int rc = pthread_create(&w->thread, NULL, watchdog_main, w);
    if (rc != 0) {
        ecm_log_error("watchdog not started", "pthread_create: error %d", rc);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

int64_t ecm_watchdog_deadline(ecm_watchdog *w)
{
    pthread_mutex_lock(&w->mu);
    int64_t deadline = watchdog_arm_locked(w);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return deadline;
}

void ecm_watchdog_stop(ecm_watchdog *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->disarmed = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

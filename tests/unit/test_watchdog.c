/* ecm_watchdog: the process ends when its stop overruns the bound, and only
 * then. Each case runs in a child process, which the watchdog may end. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_test_support.h"
#include "ecm_watchdog.h"

#define BOUND_MS 300
#define CHILD_WAIT_MS 20000

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* What a child does: 1 stops the process and gets stuck; 2 stops and
 * disarms in time; 3 never stops. Then it outlives the bound by far. */
static void child_run(int scenario)
{
    static volatile sig_atomic_t stop;
    stop = 0;
    ecm_watchdog *w = ecm_watchdog_start(&stop, BOUND_MS, ECM_WATCHDOG_EXIT_STATUS);
    if (!w)
        _exit(2);
    if (scenario != 3)
        stop = 1;
    if (scenario == 2) {
        int64_t deadline = ecm_watchdog_deadline(w);
        if (deadline - ecm_clock_mono_ms() > BOUND_MS)
            _exit(3);
        ecm_watchdog_stop(w);
        w = NULL;
    }
    int64_t until = ecm_clock_mono_ms() + 4 * BOUND_MS;
    while (ecm_clock_mono_ms() < until)
        nap_ms(20); /* sleep-ok: the child proves it outlives the bound */
    ecm_watchdog_stop(w);
    _exit(0);
}

/* Runs child_run(scenario) in a child; returns its exit status (-1 when it
 * did not exit normally) and its run time in *ms. */
static int run_child(int scenario, int64_t *ms)
{
    int64_t t0 = ecm_clock_mono_ms();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_run(scenario);
    int status = 0;
    pid_t got = 0;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && ecm_clock_mono_ms() - t0 < CHILD_WAIT_MS)
        nap_ms(10);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    *ms = ecm_clock_mono_ms() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_watchdog_ends_a_stuck_stop_at_the_bound(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(run_child(1, &ms), ECM_WATCHDOG_EXIT_STATUS);
    assert_true(ms >= BOUND_MS);
}

static void test_watchdog_disarmed_in_time_lets_the_process_end_itself(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(run_child(2, &ms), 0);
}

static void test_watchdog_without_a_stop_never_fires(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(run_child(3, &ms), 0);
}

int main(void)
{
    ecm_test_log_init("test_watchdog", ECM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watchdog_ends_a_stuck_stop_at_the_bound),
        cmocka_unit_test(test_watchdog_disarmed_in_time_lets_the_process_end_itself),
        cmocka_unit_test(test_watchdog_without_a_stop_never_fires),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

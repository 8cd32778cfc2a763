#include "rs_loop.h"

#include <time.h>

#define RS_LOOP_BACKOFF_MIN_MS 100
#define RS_LOOP_BACKOFF_MAX_MS 5000

/* Sleeps up to ms in short steps so that a stop is seen quickly. */
static void sleep_ms(long ms, volatile sig_atomic_t *stop)
{
    while (ms > 0 && !*stop) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

void rs_loop_run(void *reader, rs_loop_page_fn page, rs_loop_backoff_fn source_backoff,
                 int page_size, long poll_ms, volatile sig_atomic_t *stop)
{
    long backoff = 0;
    while (!*stop) {
        int n = page(reader);
        if (n < 0) {
            backoff = backoff == 0 ? RS_LOOP_BACKOFF_MIN_MS : backoff * 2;
            if (backoff > RS_LOOP_BACKOFF_MAX_MS)
                backoff = RS_LOOP_BACKOFF_MAX_MS;
            long wait = source_backoff(reader);
            sleep_ms(wait > backoff ? wait : backoff, stop);
            continue;
        }
        backoff = 0;
        if (n < page_size)
            sleep_ms(poll_ms, stop);
    }
}

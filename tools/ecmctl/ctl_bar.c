#include "ctl_bar.h"

#include <time.h>

#include "ctl_cli.h"

#define BAR_WIDTH 30
#define REDRAW_MS 200

/* Monotonic milliseconds. Can't fail. */
static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ctl_bar_init(ctl_bar *b, bool on, FILE *out, long long total, bool json)
{
    b->on = on;
    b->out = out;
    b->total = total;
    b->sent = 0;
    ctl_rows_init(&b->rows, json);
    b->last_percent = -1;
    b->last_ms = 0;
    b->draws = 0;
    b->rejected = -1;
    b->poll = NULL;
    b->poll_ctx = NULL;
    b->last_poll_ms = 0;
}

void ctl_bar_set_poll(ctl_bar *b, long long (*poll)(void *ctx), void *ctx)
{
    b->poll = poll;
    b->poll_ctx = ctx;
}

const char *ctl_bar_text(char *buf, size_t size, long long sent, long long total, long long rows,
                         long long rejected)
{
    int percent = total > 0 ? (int)(sent * 100 / total) : 100;
    int fill = total > 0 ? (int)(sent * BAR_WIDTH / total) : BAR_WIDTH;
    char cells[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++) {
        cells[i] = i < fill ? '#' : '.';
    }
    cells[BAR_WIDTH] = '\0';
    char count[32], bad[48] = "";
    if (rejected >= 0) {
        char n[32];
        /* trunc-ok: fits (a count is at most 26 characters) */
        (void)snprintf(bad, sizeof(bad), ", %s rejected", ctl_cli_count(n, sizeof(n), rejected));
    }
    /* trunc-ok: a progress line, cut to the terminal's taste */
    double unit = total >= 1000000 ? 1e6 : 1e3;
    (void)snprintf(buf, size, "[%s] %3d%%  %.1f / %.1f %s  %s rows sent%s", cells, percent,
                   (double)sent / unit, (double)total / unit, unit > 1e3 ? "MB" : "kB",
                   ctl_cli_count(count, sizeof(count), rows), bad);
    return buf;
}

/* Redraws the bar over the current line of b->out. */
static void draw(ctl_bar *b, bool at_end)
{
    char line[160];
    fprintf(b->out, "\r%s",
            ctl_bar_text(line, sizeof(line), b->sent, b->total, ctl_rows_count(&b->rows, at_end),
                         b->rejected));
    fflush(b->out);
    b->draws++;
}

void ctl_bar_feed(void *ctx, const char *data, size_t len)
{
    ctl_bar *b = ctx;
    b->sent += (long long)len;
    ctl_rows_feed(&b->rows, data, len);
    if (!b->on) {
        return;
    }
    int percent = b->total > 0 ? (int)(b->sent * 100 / b->total) : 100;
    long long now = mono_ms();
    if (b->poll && now - b->last_poll_ms >= CTL_BAR_POLL_MS) {
        b->last_poll_ms = now;
        long long rejected = b->poll(b->poll_ctx);
        if (rejected >= 0) {
            b->rejected = rejected;
        }
    }
    if (percent != b->last_percent || now - b->last_ms >= REDRAW_MS) {
        b->last_percent = percent;
        b->last_ms = now;
        draw(b, false);
    }
}

void ctl_bar_finish(ctl_bar *b)
{
    if (!b->on || b->draws == 0) {
        return;
    }
    draw(b, true);
    fputc('\n', b->out);
    fflush(b->out);
}

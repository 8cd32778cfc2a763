/* The progress bar of a file being sent (ecmctl upload, dnc import), on
 * stderr: bytes sent of the file's size and rows sent (counted from the
 * bytes by ctl_rows), redrawn in place with a carriage return whenever the
 * whole percentage moves or 200 ms have passed, so that a fast upload
 * still shows its steps and a slow one still moves. */
#ifndef CTL_BAR_H
#define CTL_BAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ctl_rows.h"

typedef struct {
    bool on;                           /* draw at all */
    FILE *out;                         /* where (stderr) */
    long long total;                   /* the file's size in bytes */
    long long sent;                    /* bytes handed to the connection */
    ctl_rows rows;                     /* rows in those bytes */
    int last_percent;                  /* -1 before the first draw */
    long long last_ms;                 /* monotonic time of the last draw */
    long long draws;                   /* how many times drawn */
    long long rejected;                /* rows the server rejected so far; -1: unknown */
    long long (*poll)(void *poll_ctx); /* asks the server for that count; NULL: never */
    void *poll_ctx;
    long long last_poll_ms;
} ctl_bar;

/* Starts a bar for a file of total bytes (json: a JSON array, else CSV)
 * drawn on out when on. Can't fail. */
void ctl_bar_init(ctl_bar *b, bool on, FILE *out, long long total, bool json);

/* While the file goes, every CTL_BAR_POLL_MS at most, poll(ctx) is asked
 * how many rows the server has rejected so far (-1: not known yet) and the
 * bar shows it. poll runs on the sending thread, between two pieces of the
 * body, so it must be quick (one small GET). Can't fail. */
#define CTL_BAR_POLL_MS 500
void ctl_bar_set_poll(ctl_bar *b, long long (*poll)(void *ctx), void *ctx);

/* A ctl_api_chunk_fn: counts the piece data[0..len) as sent and redraws
 * when due. ctx is the ctl_bar. */
void ctl_bar_feed(void *ctx, const char *data, size_t len);

/* Draws the final state (the last row counted) and ends the line, when
 * anything was drawn. Can't fail. */
void ctl_bar_finish(ctl_bar *b);

/* Writes the bar's text for sent of total bytes, rows rows and rejected
 * rows rejected (< 0: not shown) into buf:
 * "[####......]  42%  3.4 / 8.1 MB  41,230 rows sent, 3 rejected" (kB
 * under 1 MB). Returns buf; cut (NUL-terminated) when size is too small.
 * Can't fail. */
const char *ctl_bar_text(char *buf, size_t size, long long sent, long long total, long long rows,
                         long long rejected);

#endif

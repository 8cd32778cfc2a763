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
    bool on;           /* draw at all */
    FILE *out;         /* where (stderr) */
    long long total;   /* the file's size in bytes */
    long long sent;    /* bytes handed to the connection */
    ctl_rows rows;     /* rows in those bytes */
    int last_percent;  /* -1 before the first draw */
    long long last_ms; /* monotonic time of the last draw */
    long long draws;   /* how many times drawn */
} ctl_bar;

/* Starts a bar for a file of total bytes (json: a JSON array, else CSV)
 * drawn on out when on. Can't fail. */
void ctl_bar_init(ctl_bar *b, bool on, FILE *out, long long total, bool json);

/* A ctl_api_chunk_fn: counts the piece data[0..len) as sent and redraws
 * when due. ctx is the ctl_bar. */
void ctl_bar_feed(void *ctx, const char *data, size_t len);

/* Draws the final state (the last row counted) and ends the line, when
 * anything was drawn. Can't fail. */
void ctl_bar_finish(ctl_bar *b);

/* Writes the bar's text for sent of total bytes and rows rows into buf:
 * "[####......]  42%  3.4 / 8.1 MB  41,230 rows sent" (kB under 1 MB).
 * Returns buf; cut
 * (NUL-terminated) when size is too small. Can't fail. */
const char *ctl_bar_text(char *buf, size_t size, long long sent, long long total, long long rows);

#endif

/* When a file in the drop folder is complete: its size and modification
 * time have stayed the same for settle_ms by the caller's monotonic clock
 * (settle_ms 0: at once, trusting that writers rename a finished file into
 * place). The caller passes the clock, so tests drive it.
 *
 * Polling, not inotify: inotify does not see changes that other NFS or SMB
 * clients make, and a rescan does.
 *
 * Not thread-safe: one scanning thread. */
#ifndef DBX_SETTLE_H
#define DBX_SETTLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dbx_settle dbx_settle;

typedef enum {
    DBX_SETTLE_NEW,       /* first seen now (or changed): not settled */
    DBX_SETTLE_UNSETTLED, /* seen before, unchanged, but not for settle_ms yet */
    DBX_SETTLE_SETTLED,   /* unchanged for settle_ms (or settle_ms is 0) */
} dbx_settle_state;

/* A tracker whose files settle after settle_ms >= 0. NULL when out of
 * memory. */
dbx_settle *dbx_settle_new(int64_t settle_ms) __attribute__((warn_unused_result));
void dbx_settle_destroy(dbx_settle *s); /* NULL: no-op */

/* Starts a scan: files not seen by dbx_settle_see() before the next
 * dbx_settle_end_scan() are forgotten. Can't fail. */
void dbx_settle_begin_scan(dbx_settle *s);

/* The file at path was seen with size and mtime_ns at now_ms. A change of
 * size or mtime starts its wait again (DBX_SETTLE_NEW, or SETTLED at once
 * when settle_ms is 0); *first (may be NULL) is 1 when this version of the
 * file is seen for the first time, else 0. Returns its state, or -1 when
 * out of memory (the file is then not settled). */
int dbx_settle_see(dbx_settle *s, const char *path, long long size, long long mtime_ns,
                   int64_t now_ms, int *first) __attribute__((warn_unused_result));

/* Forgets the files the scan did not see (gone, moved). Can't fail. */
void dbx_settle_end_scan(dbx_settle *s);

/* Files tracked. Can't fail. */
size_t dbx_settle_count(const dbx_settle *s);

#endif

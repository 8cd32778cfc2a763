#include "dbx_settle.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *path;
    long long size, mtime_ns;
    int64_t since_ms; /* when it was last seen changed */
    unsigned scan;    /* the last scan that saw it */
} settle_entry;

struct dbx_settle {
    int64_t settle_ms;
    settle_entry *v;
    size_t n, cap;
    unsigned scan;
};

dbx_settle *dbx_settle_new(int64_t settle_ms)
{
    dbx_settle *s = calloc(1, sizeof(*s));
    if (s) {
        s->settle_ms = settle_ms < 0 ? 0 : settle_ms;
    }
    return s;
}

void dbx_settle_destroy(dbx_settle *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].path);
    }
    free(s->v);
    free(s);
}

void dbx_settle_begin_scan(dbx_settle *s)
{
    s->scan++;
}

/* The entry of path, or NULL. A drop folder holds few files at a time: a
 * linear search is enough. */
static settle_entry *find(dbx_settle *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i].path, path) == 0) {
            return &s->v[i];
        }
    }
    return NULL;
}

int dbx_settle_see(dbx_settle *s, const char *path, long long size, long long mtime_ns,
                   int64_t now_ms, int *first)
{
    int dummy;
    if (!first) {
        first = &dummy;
    }
    *first = 1;
    settle_entry *e = find(s, path);
    if (!e) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 16;
            settle_entry *v = realloc(s->v, cap * sizeof(*v));
            if (!v) {
                return -1;
            }
            s->v = v;
            s->cap = cap;
        }
        char *copy = strdup(path);
        if (!copy) {
            return -1;
        }
        e = &s->v[s->n++];
        *e = (settle_entry){.path = copy, .size = size, .mtime_ns = mtime_ns, .since_ms = now_ms};
        e->scan = s->scan;
        return s->settle_ms == 0 ? DBX_SETTLE_SETTLED : DBX_SETTLE_NEW;
    }
    e->scan = s->scan;
    if (e->size != size || e->mtime_ns != mtime_ns) {
        e->size = size;
        e->mtime_ns = mtime_ns;
        e->since_ms = now_ms;
        return s->settle_ms == 0 ? DBX_SETTLE_SETTLED : DBX_SETTLE_NEW;
    }
    *first = 0;
    return now_ms - e->since_ms >= s->settle_ms ? DBX_SETTLE_SETTLED : DBX_SETTLE_UNSETTLED;
}

void dbx_settle_end_scan(dbx_settle *s)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].scan == s->scan) {
            s->v[kept++] = s->v[i];
        } else {
            free(s->v[i].path);
        }
    }
    s->n = kept;
}

size_t dbx_settle_count(const dbx_settle *s)
{
    return s->n;
}

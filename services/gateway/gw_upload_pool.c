#include "gw_upload_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_upload_limits.h"

#define GW_ROWS_PER_THREAD_MIN 256

static int worker_fields_room(gw_upload_worker *w, size_t n)
{
    if (n <= w->fcap) {
        return 0;
    }
    size_t c = w->fcap ? w->fcap : 16;
    while (c < n) {
        c *= 2;
    }
    const char **f = realloc(w->fields, c * sizeof(*f));
    if (!f) {
        return -1;
    }
    w->fields = f;
    size_t *l = realloc(w->lens, c * sizeof(*l));
    if (!l) {
        return -1;
    }
    w->lens = l;
    w->fcap = c;
    return 0;
}

static int validate_one(gw_upload_worker *w, size_t i)
{
    gw_upload *u = w->u;
    gw_upload_batch *b = w->b;
    const gw_upload_raw_row *r = &b->rows[i];
    gw_upload_result *res = &b->res[i];
    int wi = (int)(w - u->workers);
    ecm_buf *out = &b->out[wi];
    char reason[256];
    int rc;
    const char *p = ecm_buf_ptr(&b->raw) + r->off;
    res->w = wi;
    if (u->json) {
        rc = gw_upload_row_json(&u->rules, w->scratch, r->line, p, r->len, out, &res->row, reason,
                                sizeof(reason));
    } else {
        if (worker_fields_room(w, r->nfields ? r->nfields : 1) != 0) {
            return -1;
        }
        for (size_t k = 0; k < r->nfields; k++) {
            size_t n;
            memcpy(&n, p, sizeof(n));
            w->fields[k] = p + sizeof(n);
            w->lens[k] = n;
            p += sizeof(n) + n + 1;
        }
        rc = gw_upload_row_csv(u->header, &u->rules, w->scratch, r->line, r->nfields, w->fields,
                               w->lens, out, &res->row, reason, sizeof(reason));
    }
    if (rc < 0) {
        return -1;
    }
    res->rejected = rc;
    if (rc > 0) {
        res->reason_off = ecm_buf_len(out);
        if (ecm_buf_add(out, reason, strlen(reason) + 1) != 0) {
            return -1;
        }
    }
    return 0;
}

static void *worker_run(void *arg)
{
    gw_upload_worker *w = arg;
    for (size_t i = w->first; i < w->first + w->count && !w->failed; i++) {
        if (validate_one(w, i) != 0) {
            w->failed = 1;
        }
    }
    return NULL;
}

/* Validates batch b, contiguous slices on up to nworkers threads (the
 * calling thread takes the first). Returns 0 or -1 (out of memory). */
int gw_upload_pool_validate(gw_upload *u, gw_upload_batch *b)
{
    size_t n = b->nrows;
    size_t want = (n + GW_ROWS_PER_THREAD_MIN - 1) / GW_ROWS_PER_THREAD_MIN;
    int cap = u->nvalidate > 0 && u->nvalidate < u->nworkers ? u->nvalidate : u->nworkers;
    int nw = (int)(want < (size_t)cap ? want : (size_t)cap);
    if (nw < 1) {
        nw = 1;
    }
    /* Helpers come from the process's budget, shared with other uploads. */
    int helpers = gw_upload_limits_threads_take(u->app->upload_limits, nw - 1);
    nw = 1 + helpers;
    if (b->threads != nw) {
        /* The workers' shares of the batch change size: what the buffers
         * kept from the last split would add up to more than one batch's
         * output (a peak of 64.2 MiB in one run, against 62.4-62.6). */
        for (int k = 0; k < GW_UPLOAD_THREADS_MAX; k++) {
            ecm_buf_destroy(&b->out[k]);
        }
    }
    b->threads = nw;
    size_t per = (n + (size_t)nw - 1) / (size_t)nw, first = 0;
    int started[GW_UPLOAD_THREADS_MAX] = {0};
    for (int k = 0; k < nw; k++) {
        gw_upload_worker *w = &u->workers[k];
        w->b = b;
        ecm_buf_reset(&b->out[k]);
        w->failed = 0;
        w->first = first;
        w->count = first + per <= n ? per : n - first;
        first += w->count;
        if (k > 0 && pthread_create(&w->thread, NULL, worker_run, w) == 0) {
            started[k] = 1;
        }
    }
    for (int k = 0; k < nw; k++) {
        if (!started[k]) {
            (void)worker_run(&u->workers[k]);
        }
    }
    int failed = 0;
    for (int k = 0; k < nw; k++) {
        if (started[k]) {
            (void)pthread_join(u->workers[k].thread, NULL);
        }
        failed = failed || u->workers[k].failed;
    }
    gw_upload_limits_threads_give(u->app->upload_limits, helpers);
    return failed ? -1 : 0;
}

void gw_upload_pool_pace(gw_upload *u, const gw_upload_batch *b, int64_t waited_ms)
{
    int n = b->threads;
    if (n < 1) {
        return;
    }
    /* With n - 1 threads the same rows take about validate_ms / (n - 1)
     * longer; a tenth of validate_ms more is the margin for the noise of a
     * shared machine. */
    int64_t longer = n > 1 ? b->validate_ms / (n - 1) + b->validate_ms / 10 : 0;
    if (n > 1 && waited_ms > longer) {
        u->nvalidate = n - 1;
    } else if (waited_ms <= b->validate_ms / 10 && n < u->nworkers) {
        u->nvalidate = n + 1;
    } else {
        u->nvalidate = n;
    }
}

/* Validating threads of an upload: ECM_GATEWAY_UPLOAD_THREADS, else one a
 * CPU and at least two. */
int gw_upload_pool_threads(const gw_app *app)
{
    long n = app->upload_threads;
    if (n <= 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 2) {
            n = 2;
        }
    }
    return n > GW_UPLOAD_THREADS_MAX ? GW_UPLOAD_THREADS_MAX : (int)n;
}

/* Upload slots and the shared validation thread budget: see
 * gw_upload_limits.h. Counters under one mutex; nothing here blocks. */
#include "gw_upload_limits.h"

#include <pthread.h>
#include <stdlib.h>

#include "ecm_http.h"

/* Seconds a turned-away upload is told to wait: uploads take a while. */
#define GW_UPLOAD_RETRY_AFTER "10"

struct gw_upload_limits {
    pthread_mutex_t mu;
    int max_uploads, running;
    int helpers, helpers_free; /* threads beyond the uploads' own */
    int loaders, loaders_free; /* connections for uploads' second loaders */
    int loaders_peak;          /* most of them taken at once */
};

gw_upload_limits *gw_upload_limits_new(int max_uploads, int validate_threads)
{
    gw_upload_limits *l = calloc(1, sizeof(*l));
    if (!l) {
        return NULL;
    }
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return NULL;
    }
    l->max_uploads = max_uploads > 0 ? max_uploads : 1;
    l->helpers = validate_threads > 1 ? validate_threads - 1 : 0;
    l->helpers_free = l->helpers;
    return l;
}

void gw_upload_limits_destroy(gw_upload_limits *l)
{
    if (!l) {
        return;
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int gw_upload_limits_enter(gw_upload_limits *l)
{
    if (!l) {
        return 1;
    }
    pthread_mutex_lock(&l->mu);
    int ok = l->running < l->max_uploads;
    if (ok) {
        l->running++;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void gw_upload_limits_leave(gw_upload_limits *l)
{
    if (!l) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    if (l->running > 0) {
        l->running--;
    }
    pthread_mutex_unlock(&l->mu);
}

int gw_upload_limits_threads_take(gw_upload_limits *l, int want)
{
    if (want <= 0) {
        return 0;
    }
    if (!l) {
        return want;
    }
    pthread_mutex_lock(&l->mu);
    int n = want < l->helpers_free ? want : l->helpers_free;
    l->helpers_free -= n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

void gw_upload_limits_threads_give(gw_upload_limits *l, int n)
{
    if (!l || n <= 0) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    l->helpers_free += n;
    if (l->helpers_free > l->helpers) {
        l->helpers_free = l->helpers;
    }
    pthread_mutex_unlock(&l->mu);
}

void gw_upload_limits_set_loaders(gw_upload_limits *l, int n)
{
    if (!l) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    l->loaders = l->loaders_free = n > 0 ? n : 0;
    l->loaders_peak = 0;
    pthread_mutex_unlock(&l->mu);
}

int gw_upload_limits_loader_take(gw_upload_limits *l)
{
    if (!l) {
        return 1;
    }
    pthread_mutex_lock(&l->mu);
    int ok = l->loaders_free > 0;
    l->loaders_free -= ok;
    if (l->loaders - l->loaders_free > l->loaders_peak) {
        l->loaders_peak = l->loaders - l->loaders_free;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

int gw_upload_limits_loaders_peak(gw_upload_limits *l)
{
    if (!l) {
        return 0;
    }
    pthread_mutex_lock(&l->mu);
    int n = l->loaders_peak;
    pthread_mutex_unlock(&l->mu);
    return n;
}

void gw_upload_limits_loader_give(gw_upload_limits *l)
{
    if (!l) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    l->loaders_free++;
    pthread_mutex_unlock(&l->mu);
}

int gw_upload_limits_running(gw_upload_limits *l)
{
    if (!l) {
        return 0;
    }
    pthread_mutex_lock(&l->mu);
    int n = l->running;
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* The 429 of an upload turned away. */
static void respond_busy(struct ecm_http_req *req, gw_upload_limits *l)
{
    int max = 0;
    if (l) {
        pthread_mutex_lock(&l->mu);
        max = l->max_uploads;
        pthread_mutex_unlock(&l->mu);
    }
    ecm_http_add_header(req, "Retry-After", GW_UPLOAD_RETRY_AFTER);
    ecm_http_respond_problem(req, 429, "too-many-uploads", "Too many uploads",
                             "%d uploads are under way on this server (ECM_GATEWAY_MAX_UPLOADS); "
                             "send the file again later",
                             max);
}

int gw_upload_limits_admit(gw_upload_limits *l, struct ecm_http_req *req)
{
    if (gw_upload_limits_enter(l)) {
        return 1;
    }
    respond_busy(req, l);
    return 0;
}

#include "gw_web.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"

/* The console's scripts, styles and API calls come from this origin only;
 * inline script and style are refused (the page builds its DOM from text
 * nodes), and no other site may frame it. */
#define GW_WEB_CSP                                                                                 \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "                    \
    "form-action 'self'; frame-ancestors 'none'"

/* Files bigger than this are not read from a development folder. */
#define GW_WEB_DISK_MAX (4u * 1024 * 1024)

const gw_web_file *gw_web_find(const char *name)
{
    for (size_t i = 0; i < gw_web_files_count; i++) {
        if (strcmp(gw_web_files[i].name, name) == 0) {
            return &gw_web_files[i];
        }
    }
    return NULL;
}

static void add_security_headers(ecm_http_req *req)
{
    ecm_http_add_header(req, "Content-Security-Policy", GW_WEB_CSP);
    ecm_http_add_header(req, "X-Content-Type-Options", "nosniff");
    ecm_http_add_header(req, "X-Frame-Options", "DENY");
    ecm_http_add_header(req, "Referrer-Policy", "no-referrer");
    ecm_http_add_header(req, "Cross-Origin-Opener-Policy", "same-origin");
    ecm_http_add_header(req, "Permissions-Policy", "camera=(), microphone=(), geolocation=()");
}

/* Reads dir/name whole into a malloc'd buffer (*len). Returns it, or NULL
 * (logged). */
static char *read_disk(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        ecm_log_warn("console file path too long", "dir=%s", dir);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        char why[128];
        ecm_log_warn("console file not readable", "path=%s reason=%s", path,
                     strerror_r(err, why, sizeof why) == 0 ? why : "error");
        return NULL;
    }
    char *buf = malloc(GW_WEB_DISK_MAX);
    size_t got = buf ? fread(buf, 1, GW_WEB_DISK_MAX, f) : 0;
    int bad = !buf || ferror(f) || !feof(f);
    (void)fclose(f);
    if (bad) {
        ecm_log_warn("console file not read", "path=%s reason=%s", path,
                     buf ? "read error or over 4 MiB" : "out of memory");
        free(buf);
        return NULL;
    }
    *len = got;
    return buf;
}

static void serve(const gw_app *app, ecm_http_req *req, const char *name)
{
    const gw_web_file *f = gw_web_find(name);
    if (!f) {
        ecm_http_respond_problem(req, 404, "not-found", "Not Found", "no console file '%s'", name);
        return;
    }
    add_security_headers(req);
    if (app->web_dir && app->web_dir[0]) {
        size_t len = 0;
        char *body = read_disk(app->web_dir, f->name, &len);
        if (!body) {
            ecm_http_respond_problem(req, 500, "internal", "Internal Server Error",
                                     "console file '%s' could not be read", name);
            return;
        }
        ecm_http_add_header(req, "Cache-Control", "no-store");
        ecm_http_respond(req, 200, f->content_type, body, len);
        free(body);
        return;
    }
    /* The browser asks again each time (no-cache) and gets 304 while the
     * build is the same. */
    ecm_http_add_header(req, "Cache-Control", "no-cache");
    ecm_http_add_header(req, "ETag", f->etag);
    const char *inm = ecm_http_req_header(req, "If-None-Match");
    if (inm && strstr(inm, f->etag)) {
        ecm_http_respond(req, 304, NULL, "", 0);
        return;
    }
    ecm_http_respond(req, 200, f->content_type, (const char *)f->data, f->len);
}

static void get_index(void *ctx, ecm_http_req *req)
{
    serve(ctx, req, "index.html");
}

static void get_asset(void *ctx, ecm_http_req *req)
{
    char name[128];
    int n = snprintf(name, sizeof(name), "assets/%s", ecm_http_req_param(req, 0));
    if (n < 0 || (size_t)n >= sizeof(name)) {
        ecm_http_respond_problem(req, 404, "not-found", "Not Found", "no such console file");
        return;
    }
    serve(ctx, req, name);
}

int gw_web_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)app;
    if (ecm_http_route(h, "GET", "/", 0, get_index, ctx) != 0 ||
        ecm_http_route(h, "GET", "/assets/{}", 0, get_asset, ctx) != 0) {
        return -1;
    }
    return 0;
}

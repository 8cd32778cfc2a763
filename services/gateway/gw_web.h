/* The supervisor's console: the files of web/ (compiled in by
 * cmake/embed_web.cmake), served at GET / (index.html) and
 * GET /assets/{name} to anyone (the page signs in through the API). Every
 * answer carries a strict Content-Security-Policy (scripts, styles and
 * requests from this origin only, no framing), so that text the page shows
 * cannot run as code. */
#ifndef GW_WEB_H
#define GW_WEB_H

#include <stddef.h>

#include "ecm_http.h"
#include "gw_app.h"

typedef struct {
    const char *name;         /* "index.html", "assets/app.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const char *etag;         /* quoted, from the bytes' SHA-256 */
    const unsigned char *data;
    size_t len;
} gw_web_file;

/* The compiled-in files (generated). */
extern const gw_web_file gw_web_files[];
extern const size_t gw_web_files_count;

/* The compiled-in file called name ("assets/app.js"), or NULL. */
const gw_web_file *gw_web_find(const char *name);

/* Adds GET / and GET /assets/{}. With app->web_dir set, the files are read
 * from that folder at each request instead (console development: edit,
 * reload), and only names that are compiled in are served. Returns 0 or
 * -1. */
int gw_web_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

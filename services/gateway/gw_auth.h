/* Who may use the gateway's API: API keys, roles, and the guard that checks
 * both before any /api/v1 handler runs.
 *
 * A key is "ecm_<id>_<secret>": id, 16 hex digits, names the row of
 * api_keys and is not secret (it appears in logs and the audit log); secret,
 * 64 hex digits (256 random bits), is shown once at creation and stored only
 * as its SHA-256, compared in constant time. A missing, malformed, unknown,
 * wrong, expired or revoked key gets the same 401.
 *
 * People sign in instead (gw_session.h): a request without Authorization
 * but with the session cookie acts as that user (kind "user"), and any
 * method but GET and HEAD must then carry the session's X-CSRF-Token, else
 * 403 and nothing changes.
 *
 * Roles, each including the ones below it: viewer reads; supervisor also
 * changes campaigns, strategies, uploads, callbacks and adds DNC entries;
 * admin also manages keys, reads the audit log and removes DNC entries.
 * Which role a route needs is the table in gw_auth.c (method + pattern). */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stddef.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "gw_app.h"

typedef enum {
    GW_ROLE_NONE = 0, /* open routes: no key needed */
    GW_ROLE_VIEWER,
    GW_ROLE_SUPERVISOR,
    GW_ROLE_ADMIN,
} gw_role;

/* "viewer", "supervisor", "admin" ("none" for GW_ROLE_NONE). Can't fail. */
const char *gw_role_name(gw_role r);

/* The role named s, or GW_ROLE_NONE when s names none of the three. */
gw_role gw_role_parse(const char *s);

/* Who made a request: the key or the console user, and where from. Owned
 * by the request; valid until it ends. */
typedef struct {
    char kind[8];   /* "key" or "user" */
    char id[24];    /* the key id, or the user id (decimal) */
    char name[804]; /* the key's or the user's name (200 characters) */
    gw_role role;
    char addr[46];    /* client address, "" when unknown */
    char session[65]; /* a user's session id (SHA-256 of its token, hex); "" for a key */
} gw_principal;

/* The principal of req, or NULL on an open route (or without a guard, as in
 * the handlers' unit tests). */
const gw_principal *gw_auth_principal(const ecm_http_req *req);

/* Does the principal of req hold at least role? Returns 1, or 0 after
 * answering 403 naming the role needed. A request without a principal (no
 * guard installed) passes: the guard is what enforces keys. */
int gw_auth_require(ecm_http_req *req, gw_role role) __attribute__((warn_unused_result));

/* The role a route needs (method and pattern as registered), and whether it
 * takes a JSON body. Routes missing from the table need admin. */
gw_role gw_auth_route_role(const char *method, const char *pattern, int *json_body);

/* Installs the guard on h: keys and sessions looked up through app->pool.
 * Can't fail. */
void gw_auth_install(ecm_http *h, const gw_app *app);

/* A new key: writes the row (name, role; expires_at an RFC 3339 time or
 * NULL; created_by a key id or NULL for the command line) on pg, inside the
 * caller's transaction if one is open. On success fills id (>= 17 bytes) and
 * key, the whole key to show once (>= 86 bytes), and returns 0; -1 with a
 * reason in err (a database error, an expiry PostgreSQL cannot read). */
int gw_auth_key_create(ecm_pg *pg, const char *name, gw_role role, const char *expires_at,
                       const char *created_by, char *id, size_t id_size, char *key, size_t key_size,
                       char *err, size_t err_size) __attribute__((warn_unused_result));

/* Splits "ecm_<16 hex>_<64 hex>" into id (17 bytes) and the SHA-256 of the
 * secret. Returns 0, or -1 when key does not have that form. */
int gw_auth_key_parse(const char *key, char id[17], unsigned char sha256[32])
    __attribute__((warn_unused_result));

#endif

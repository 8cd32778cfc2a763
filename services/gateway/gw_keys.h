/* API keys as a resource: the admin's routes (/api/v1/keys) and the
 * command line that makes the first admin key, "ecm-gateway keys ...",
 * which needs nothing but the database's settings. Keys themselves (their
 * form, hashing, checking) are gw_auth's. */
#ifndef GW_KEYS_H
#define GW_KEYS_H

#include "ecm_http.h"
#include "gw_app.h"

/* POST /api/v1/keys {"name", "role", "expires_at"?} -> 201 with the key
 * (shown this once); GET /api/v1/keys (paged), GET /api/v1/keys/{id};
 * DELETE /api/v1/keys/{id} revokes (204; a key cannot revoke itself).
 * Returns 0, or -1 when the route table is full. */
int gw_keys_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

/* "ecm-gateway keys create --role ROLE --name NAME [--expires-at TIME]",
 * "keys list", "keys revoke ID": argv[0] is "keys". dsn is ECM_PG_DSN;
 * migrations are applied first, so this works on an empty database. Prints
 * the new key alone on stdout (for $(...)); everything else on stderr.
 * Returns the process exit code: 0, 1 (database), 2 (usage). */
int gw_keys_cli(int argc, char **argv, const char *dsn);

#endif

/* The API's own description: GET /api/v1/openapi.yaml answers
 * api/openapi.yaml as it was when the gateway was built (embedded by
 * cmake/embed_file.cmake), so that a client always reads the document of the
 * server it talks to. The route is open: gw_auth lists it with no role.
 *
 * Content-Type: application/yaml (RFC 9512, the registered YAML media type;
 * it defines no charset parameter, YAML being UTF-8 here). */
#ifndef GW_OPENAPI_H
#define GW_OPENAPI_H

#include <stddef.h>

#include "ecm_http.h"
#include "gw_app.h"

#define GW_OPENAPI_CONTENT_TYPE "application/yaml"

/* The embedded document: gw_openapi_yaml_len bytes, not NUL-terminated.
 * Defined in the build's generated gw_openapi_data.c. */
extern const unsigned char gw_openapi_yaml[];
extern const size_t gw_openapi_yaml_len;

/* Adds GET /api/v1/openapi.yaml. app is not used (the signature is that of
 * every gateway module's register). Returns 0, or -1 when the route table is
 * full. */
int gw_openapi_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

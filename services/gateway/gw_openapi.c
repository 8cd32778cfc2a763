#include "gw_openapi.h"

/* Answers the embedded document. The bytes are static: ecm_http_respond
 * needs them only for the call. */
static void get_openapi(void *ctx, ecm_http_req *req)
{
    (void)ctx;
    ecm_http_add_header(req, "Cache-Control", "no-cache");
    ecm_http_respond(req, 200, GW_OPENAPI_CONTENT_TYPE, (const char *)gw_openapi_yaml,
                     gw_openapi_yaml_len);
}

int gw_openapi_register(ecm_http *h, const gw_app *app)
{
    (void)app;
    return ecm_http_route(h, "GET", "/api/v1/openapi.yaml", 0, get_openapi, NULL);
}

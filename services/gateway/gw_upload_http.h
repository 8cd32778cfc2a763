/* The HTTP side of a contact upload: POST /api/v1/campaigns/{id}/uploads
 * streamed into a gw_upload (begin, body chunk by chunk, end, cleanup), the
 * answers, and the Content-Type check shared with the DNC upload. The
 * routes are added by gw_upload_register (gw_upload.h). */
#ifndef GW_UPLOAD_HTTP_H
#define GW_UPLOAD_HTTP_H

#include "ecm_http.h"

/* What a Content-Type asks for. */
typedef enum { GW_BODY_UNSUPPORTED, GW_BODY_CSV, GW_BODY_JSON } gw_body_kind;
/* text/csv or application/csv (charset utf-8/us-ascii or none) is CSV;
 * application/json is JSON; anything else (NULL too) unsupported. */
gw_body_kind gw_upload_body_kind(const char *content_type);

/* What an upload request names: the id in its path parameter param (*id)
 * and its Content-Type (*ct, NULL when absent), CSV or JSON. Returns the
 * body's kind, or GW_BODY_UNSUPPORTED after answering (a bad id as
 * gw_path_id() does, any other type 415). */
gw_body_kind gw_upload_http_target(ecm_http_req *req, const char *param, long long *id,
                                   const char **ct);

#endif

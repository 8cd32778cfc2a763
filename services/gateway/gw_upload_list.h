/* GET /api/v1/uploads: the uploads, newest first, paged by cursor, filtered
 * by ?campaign_id, ?state (running, done, failed, interrupted) and ?kind
 * (contacts, dnc) and ?client_ref (the ECM-Upload-Ref its client sent) —
 * how a supervisor or a script finds an upload that reads 'interrupted' and
 * its resume_url, and how a client follows its upload's counts while the
 * body still streams (the answer alone gives the id). One upload with its row report is
 * GET /api/v1/uploads/{id} (gw_upload_report). */
#ifndef GW_UPLOAD_LIST_H
#define GW_UPLOAD_LIST_H

#include "ecm_http.h"
#include "gw_app.h"

#define GW_UPLOAD_LIST_DEFAULT 50
#define GW_UPLOAD_LIST_MAX 500

/* Adds the route. Returns 0, or -1 when the route table is full. */
int gw_upload_list_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

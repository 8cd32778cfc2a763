/* What the simulator's Cisco APIs share: HTTP Basic auth, XML answers
 * written with libxml2's writer, and Cisco-style error bodies. */
#ifndef SIM_WEB_H
#define SIM_WEB_H

#include <stddef.h>

#include <libxml/xmlwriter.h>

#include "ecm_http.h"

/* 1 when req carries HTTP Basic credentials equal to user:password
 * (compared in constant time), else 0. */
int sim_web_authorized(const char *user, const char *password, ecm_http_req *req);

/* An XML answer being written; x->bad is set on any writer failure. */
typedef struct {
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
    int bad;
} sim_xml;

/* Starts a document. Returns 0, or -1 out of memory (nothing to free). */
int sim_xml_open(sim_xml *x) __attribute__((warn_unused_result));
void sim_xml_start(sim_xml *x, const char *name);
void sim_xml_end(sim_xml *x);
void sim_xml_attr(sim_xml *x, const char *name, const char *value);
void sim_xml_text(sim_xml *x, const char *name, const char *value);
void sim_xml_int(sim_xml *x, const char *name, long long v);
/* Ends the document and answers it with status (500 if writing failed);
 * frees x's buffers. */
void sim_xml_respond(sim_xml *x, ecm_http_req *req, int status);

/* Error body <apiError><errorType/><errorMessage/></apiError>. */
void sim_web_error(ecm_http_req *req, int status, const char *type, const char *message);

/* "http://host" from the Host header ("" without one). */
void sim_web_base_url(ecm_http_req *req, char *out, size_t out_size);

/* Path parameter n as a campaign id in 1..INT_MAX, or 0. */
int sim_web_id_param(ecm_http_req *req, int n);

#endif

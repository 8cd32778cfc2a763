/* Arguments of a gateway callback (DLR, MO) wherever the gateway puts them:
 * the query string (Kannel's dlr-url and get-url), an
 * application/x-www-form-urlencoded body, or a JSON object body (generic
 * HTTP gateways). Shared by sms_dlr and sms_mo. */
#ifndef SMS_ARGS_H
#define SMS_ARGS_H

#include <stddef.h>

#include "ecm_http.h"

typedef struct sms_args sms_args;

/* Collects the arguments of req (a buffered route). A JSON body is used
 * when Content-Type says json or the body starts with '{'; any other
 * non-empty body is read as a form. Returns the set, or NULL with a reason
 * in errstr when the body can't be read (invalid JSON, not an object) or
 * memory runs out. */
sms_args *sms_args_parse(ecm_http_req *req, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The arguments of a body alone, as sms_args_parse() reads it with its
 * Content-Type (content_type may be NULL); sms_args_get() then finds no
 * query string. Pure; exposed for tests and fuzzing. */
sms_args *sms_args_parse_body(const char *content_type, const char *body, size_t len, char *errstr,
                              size_t errstr_size) __attribute__((warn_unused_result));

/* The value of name: from the body first, else from the query string; NULL
 * when absent. JSON numbers and booleans come back as their text. Valid
 * until sms_args_destroy() and the end of the request. */
const char *sms_args_get(const sms_args *a, const char *name);

void sms_args_destroy(sms_args *a);

/* Decodes a form value in place ('+' is a space, %XX a byte). Returns 0, or
 * -1 when a %-escape is malformed (s is then partly decoded; a caller that
 * takes a malformed value as it comes may ignore the result). Exposed for
 * tests. */
int sms_args_form_decode(char *s);

#endif

/* The checksum of an upload's body and the resume it makes possible. Each
 * batch records its checkpoint (the last line it holds, the bytes read and
 * their SHA-256); POST /api/v1/uploads/{id}/resume takes the same file
 * again, whole: its first committed_bytes bytes are hashed, not validated,
 * and must match; the lines up to committed_line are parsed (for the header
 * and the line numbers) but neither validated nor loaded; the rest loads as
 * in the first upload, the counts going on from the recorded ones. */
#ifndef GW_UPLOAD_RESUME_H
#define GW_UPLOAD_RESUME_H

#include <stddef.h>

#include "ecm_http.h"
#include "gw_upload_state.h"

/* Writes into hex (at least EVP_MAX_MD_SIZE * 2 + 1 bytes) the SHA-256 of
 * the body hashed so far. Returns 0 or -1. */
int gw_upload_resume_digest(const gw_upload *u, char *hex) __attribute__((warn_unused_result));

/* Adds the chunk to the body's hash before it is parsed. On a resume,
 * once the checkpoint's bytes are in, compares their hash with the one
 * recorded. Returns 0, or -1 with the upload failed (another file, or the
 * hash failing). */
int gw_upload_resume_hash(gw_upload *u, const char *data, size_t len)
    __attribute__((warn_unused_result));

/* The begin handler of POST /api/v1/uploads/{id}/resume (ctx: the gw_app):
 * takes the interrupted upload (one UPDATE, so of two resumes one wins)
 * and sets the request's state to it. Returns 0, or -1 after answering
 * (404, 409, 415, 429, 500, 503). */
int gw_upload_resume_begin(void *ctx, ecm_http_req *req) __attribute__((warn_unused_result));

#endif

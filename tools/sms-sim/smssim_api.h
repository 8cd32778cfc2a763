/* The simulator's HTTP routes: POST /send (the generic HTTP/JSON gateway),
 * POST /sim/unavailable, GET /sim/stats and POST /sim/mo. */
#ifndef SMSSIM_API_H
#define SMSSIM_API_H

#include <stdint.h>

#include "ecm_http.h"
#include "ecm_metrics.h"
#include "smssim_dlr.h"
#include "smssim_mix.h"
#include "smssim_state.h"

typedef struct {
    const char *token; /* /send wants "Authorization: Bearer <token>" */
    const smssim_mix *mix;
    uint64_t seed;
    long dlr_delay_ms;
    const char *mo_url; /* template with %p %P %a; "" disables /sim/mo */
    const char *mo_to;  /* %P when /sim/mo has no "to" */
    long mo_timeout_ms;
} smssim_api_config;

typedef struct smssim_api smssim_api;

/* Creates the route handlers; cfg's strings must outlive the api. Returns
 * NULL when out of memory. */
smssim_api *smssim_api_new(const smssim_api_config *cfg, smssim_state *state, smssim_dlr *dlr,
                           ecm_metrics *metrics) __attribute__((warn_unused_result));

/* Adds the routes to h (before ecm_http_start). Returns 0, or -1 when the
 * route table is full. */
int smssim_api_add_routes(smssim_api *a, ecm_http *h) __attribute__((warn_unused_result));

/* Frees the api; NULL is ignored. Call after ecm_http_destroy(). */
void smssim_api_destroy(smssim_api *a);

#endif

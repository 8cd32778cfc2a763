/* The UCCE/PCCE Outbound API as the simulator serves it (HTTP Basic auth):
 *   POST   /unifiedconfig/config/campaign/{id}/import   queued contact import
 *   GET    /unifiedconfig/config/campaign/{id}/import   imported contacts
 *   DELETE /unifiedconfig/config/campaign/{id}/import   delete those not dialled
 *   GET    /unifiedconfig/config/campaign/{id}          enabled, changeStamp
 *   PUT    /unifiedconfig/config/campaign/{id}          enabled (changeStamp)
 * Cisco's rules (docs/cisco-research.md §3.2, §5) and our choices where
 * Cisco is silent are in docs/cisco-sim.md. */
#ifndef SIM_UCCE_API_H
#define SIM_UCCE_API_H

#include <stddef.h>

#include "ecm_http.h"
#include "sim_store.h"

/* Cisco: at most 10,000 records a request, 30 requests queued. */
#define SIM_UCCE_MAX_RECORDS 10000
#define SIM_UCCE_MAX_QUEUED 30

/* One parsed <import> body: valid records only (a bad one refuses all). */
typedef struct {
    sim_contact *rows;
    size_t n, cap;
    int too_many; /* set when refused for more than max_records */
} sim_ucce_batch;

/* Parses <import><fileContent>CSV</fileContent><delimiter>,|</delimiter>
 * <overwriteData>false</overwriteData></import>. The CSV's first line is
 * the header: AccountNumber, FirstName, LastName, Phone01..Phone10,
 * TimeZoneBias, DstObserved, matched ignoring case; an unknown or repeated
 * name, or no Phone column, refuses the body. Each record is checked
 * against Cisco's UCCE limits (sim_rec). Returns 0 with *out (free with
 * sim_ucce_batch_destroy), or -1 with one line in errstr naming the CSV
 * line of the first bad record ("line 3: ..."); *out is then empty except
 * out->too_many. */
int sim_ucce_parse_import(const char *body, size_t len, size_t max_records, sim_ucce_batch *out,
                          char *errstr, size_t errstr_size) __attribute__((warn_unused_result));
void sim_ucce_batch_destroy(sim_ucce_batch *b);

typedef struct {
    const char *user;     /* basic auth */
    const char *password; /* basic auth */
    double rate;          /* records imported per second by the worker */
} sim_ucce_api_config;

typedef struct sim_ucce_api sim_ucce_api;

/* Creates the API over store (not owned) and starts its import worker.
 * Returns NULL on failure. */
sim_ucce_api *sim_ucce_api_new(const sim_ucce_api_config *cfg, sim_store *store)
    __attribute__((warn_unused_result));

/* Ends the worker and answers every waiting POST with 503: call before
 * ecm_http_destroy() (whose handler threads may be waiting). Imports still
 * queued are dropped, as a Cisco server going down would. NULL ignored. */
void sim_ucce_api_stop(sim_ucce_api *a);
void sim_ucce_api_destroy(sim_ucce_api *a);

/* Adds the routes above to h. Returns 0 or -1. */
int sim_ucce_api_add_routes(sim_ucce_api *a, ecm_http *h) __attribute__((warn_unused_result));

/* Queues an import without waiting for it (a client that went away): takes
 * b's rows (b is left empty). Returns 0, 1 when SIM_UCCE_MAX_QUEUED are
 * queued (nothing taken), -1 out of memory. For tests and the POST. */
int sim_ucce_api_enqueue(sim_ucce_api *a, int campaign_id, sim_ucce_batch *b)
    __attribute__((warn_unused_result));

/* Imports queued or in progress right now. */
int sim_ucce_api_queued(sim_ucce_api *a);

#endif

/* The UCCX Outbound REST API as the simulator serves it:
 *   POST /adminapi/campaign/{id}/contacts          import (XML with CSV inside)
 *   GET  /adminapi/campaign/{id}/contacts[?q=S]    pending (or status S) records
 *   DELETE /adminapi/campaign/{id}/contacts        delete those not dialled
 *   GET  /adminapi/campaign/{id}/contacts/status   the last import's status
 *   PUT  /adminapi/campaign/{id}/state/enable|disable
 * /adminapi routes need HTTP basic auth, as on a real UCCX. */
#ifndef SIM_UCCX_H
#define SIM_UCCX_H

#include <stddef.h>

#include "ecm_http.h"
#include "ecm_metrics.h"
#include "sim_store.h"

/* One parsed import body. Rows that fail validation are counted in
 * failed_rows (first_error says which and why) and are not in rows. */
typedef struct {
    char campaign_name[128];
    sim_contact *rows;
    size_t n, cap;
    size_t total_rows; /* non-empty data lines after the header */
    size_t failed_rows;
    char first_error[160];
    int allow_duplicates; /* <allowDuplicateContacts>true</...> */
    int allow_dups_seen;
} sim_uccx_batch;

/* Parses a <campaignContacts> body with libxml2 and its <csvdata> with
 * libcsv. The CSV header is the first non-empty line; its names are matched
 * ignoring case and spaces ("Account Number", "accountnumber", "PHONE1");
 * "Account Number" and "Phone1" are required, unknown columns are ignored.
 * Fields are checked against Cisco's UCCX limits (sim_rec: Account Number
 * <= 25, names <= 50 characters, phones <= 28 digits with an optional
 * leading +, Phone1 required). <allowDuplicateContacts> is taken when
 * present (true/false, at most once).
 * Returns 0 with *out filled (free with sim_uccx_batch_destroy), or -1 with one
 * line in errstr when the XML or the CSV is malformed, a required element or
 * column is missing, or there are more than max_rows data lines; *out is then
 * empty. */
int sim_uccx_parse_contacts(const char *body, size_t len, size_t max_rows, sim_uccx_batch *out,
                            char *errstr, size_t errstr_size) __attribute__((warn_unused_result));
void sim_uccx_batch_destroy(sim_uccx_batch *b);

typedef struct {
    const char *user;     /* basic auth */
    const char *password; /* basic auth */
    long long capacity;   /* active records per campaign */
} sim_uccx_config;

typedef struct sim_uccx sim_uccx;

/* Creates the API over store (not owned; must outlive it). Copies cfg's
 * strings. metrics may be NULL. Returns NULL on allocation failure. */
sim_uccx *sim_uccx_new(const sim_uccx_config *cfg, sim_store *store, ecm_metrics *metrics)
    __attribute__((warn_unused_result));
void sim_uccx_destroy(sim_uccx *u);

/* Adds the routes above to h (before ecm_http_start). Returns 0 or -1 when
 * h's route table is full. */
int sim_uccx_add_routes(sim_uccx *u, ecm_http *h) __attribute__((warn_unused_result));

#endif

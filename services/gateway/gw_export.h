/* Exports of a campaign as CSV, streamed: GET /api/v1/campaigns/{id}/
 * attempts.csv and .../contacts.csv.
 *
 * PostgreSQL writes the CSV (COPY ... TO STDOUT, RFC 4180 quoting, every
 * value quoted) and the answer passes it on row by row as the client reads,
 * so memory stays flat however large the campaign; records end in CRLF as
 * RFC 4180 says. One consistent snapshot: the whole export is one COPY.
 *
 * Spreadsheet formulas: a cell from outside ECM (names, account numbers,
 * custom fields) that starts with =, +, -, @, a tab or a carriage return is
 * prefixed with an apostrophe (OWASP's CSV injection advice), so that a
 * spreadsheet shows it as text instead of running it. Phone numbers are
 * left as they are: ECM stored them as E.164 after validating them
 * ("+" and digits only), which no spreadsheet runs as a formula.
 *
 * At most GW_EXPORT_MAX_AT_ONCE exports run at once (each holds a pooled
 * database connection while it streams); more get 503 with Retry-After. */
#ifndef GW_EXPORT_H
#define GW_EXPORT_H

#include "ecm_http.h"
#include "gw_app.h"

#define GW_EXPORT_MAX_AT_ONCE 2

/* Adds the two export routes. Returns 0, or -1 when the route table is
 * full. */
int gw_export_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

/* The ucce_api writer: contacts to UCCE/PCCE through the Outbound API
 * (POST /unifiedconfig/config/campaign/{id}/import), asked back through the
 * campaign's import list (GET on the same URL) and the Logger/HDS's
 * Dialer_Detail by AccountNumber (records already dialled). */
#ifndef FD_UCCE_API_H
#define FD_UCCE_API_H

#include <stddef.h>

#include "ecm_odbc.h"
#include "fd_ucce.h"
#include "fd_uccx.h"
#include "fd_writer.h"

/* Cisco's limit on records a request. */
#define FD_UCCE_API_MAX_RECORDS 10000

/* The CSV header ECM sends (one phone: ECM hands over one number an
 * attempt, the one the gate picked). */
#define FD_UCCE_API_CSV_HEADER "AccountNumber,FirstName,LastName,Phone01,TimeZoneBias,DstObserved"

/* The import body for n records:
 * <import><fileContent><![CDATA[header + a line a record]]></fileContent>
 * <delimiter>,</delimiter><overwriteData>false</overwriteData></import>.
 * A "]]>" in the data (a name) is split across two CDATA sections
 * ("]]" ends one, ">" starts the next), so the text read back is the CSV
 * unchanged. DstObserved is "true"/"false", both time fields empty for a
 * record without a bias. Returns a malloc'd NUL-terminated string (length
 * in *len when len is not NULL), or NULL (memory, or n above the limit). */
char *fd_ucce_api_build_import(const fd_ucce_record *records, size_t n, size_t *len);

/* A writer over http (base URL of the Outbound API's server, HTTP basic),
 * and logger (ODBC to the Logger/HDS) reading Dialer_Detail from table
 * dialer_detail (a valid identifier, copied). Takes ownership of http and
 * logger, also on failure. NULL when memory runs out or the table name is
 * not a valid identifier. */
fd_writer *fd_ucce_api_writer_new(fd_uccx *http, ecm_odbc *logger, const char *dialer_detail)
    __attribute__((warn_unused_result));

#endif

/* The ucce_db writer: contacts written over ODBC into the import table the
 * customer configured for the campaign (campaigns.cisco_import_table), which
 * the Campaign Manager's import rule moves into the campaign's dialing list.
 * One INSERT with parameter arrays, in one transaction, per batch (never row
 * by row). Asked back through the import table (not imported yet), the
 * dialing list (imported; campaigns.cisco_dialing_list, default
 * DL_<id>_1) and Dialer_Detail (dialled), by AccountNumber, in chunks.
 * Portable SQL only: SQL Server (FreeTDS) in production. */
#ifndef FD_UCCE_DB_H
#define FD_UCCE_DB_H

#include "ecm_odbc.h"
#include "fd_writer.h"

/* The INSERT for import table `table` (a valid identifier) into out:
 * AccountNumber, FirstName, LastName, Phone01..Phone10, TimeZoneBias,
 * DstObserved, 15 '?' markers. Returns 0, or -1 when it does not fit. */
int fd_ucce_db_insert_sql(const char *table, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* Columns of that INSERT. */
#define FD_UCCE_DB_NCOLS 15

/* A writer over logger (ODBC to the Logger/HDS, read-write: it inserts),
 * reading Dialer_Detail from table dialer_detail (a valid identifier,
 * copied). Takes ownership of logger, also on failure. NULL when memory runs
 * out or the table name is not valid. */
fd_writer *fd_ucce_db_writer_new(ecm_odbc *logger, const char *dialer_detail)
    __attribute__((warn_unused_result));

#endif

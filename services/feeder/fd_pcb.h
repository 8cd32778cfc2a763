/* Personal callbacks on UCCE: a contact the strategy flagged for an agent
 * (contacts.pcb_agent, db/015) is handed to Cisco's personal callback
 * interface for that agent instead of the campaign's import, once the
 * dispatch gate (DNC, calling window) let it through:
 *   table  an INSERT into Personal_Callback_List over ODBC (the Logger; not
 *          supported by Cisco with Outbound Option HA), CallStatus 'P',
 *          InsertedIntoDBDateTime = now, SentToDialerDateTime never written;
 *   api    POST /unifiedconfig/config/personalcallback (required with HA).
 * CallbackDateTime is in the Logger's time zone (ECM_UCCE_LOGGER_TIME_ZONE),
 * MaxAttempts from ECM_UCCE_PCB_MAX_ATTEMPTS (docs/cisco-research.md §3.5,
 * §4.3).
 *
 * The writer wraps the target kind's writer (ucce_api or ucce_db): a batch
 * is split, flagged contacts go to the personal callback interface, the
 * others to the wrapped writer; find() asks both (Personal_Callback_List or
 * the API's list searched by accountNumber, and the wrapped writer's
 * sources, Dialer_Detail included), so the reconciler never re-sends a
 * personal callback Cisco has. */
#ifndef FD_PCB_H
#define FD_PCB_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_odbc.h"
#include "fd_uccx.h"
#include "fd_writer.h"

typedef enum { FD_PCB_TABLE = 0, FD_PCB_API = 1 } fd_pcb_mode;

/* "yyyy-MM-ddTHH:mm:ss" */
#define FD_PCB_TIME_LEN 19
/* Cisco's API refuses a time 15 minutes or more in the past; a callback the
 * feeder takes later than this after its time (the calling window moved
 * it, or the feeder was down) is written for now instead. */
#define FD_PCB_LATE_MS (10LL * 60 * 1000)

/* utc_ms as the wall-clock time of IANA zone, "yyyy-MM-ddTHH:mm:ss" (ICU).
 * Returns 0, or -1 when the zone is unknown. */
int fd_pcb_logger_time(int64_t utc_ms, const char *zone, char out[FD_PCB_TIME_LEN + 1])
    __attribute__((warn_unused_result));

/* ecm_config validator for ECM_UCCE_LOGGER_TIME_ZONE. */
int fd_pcb_validate_zone(const char *zone, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The callback time to write for a contact due at at_ms when the feeder
 * takes it at now_ms: at_ms, or now_ms when at_ms is more than
 * FD_PCB_LATE_MS before it. Can't fail. */
int64_t fd_pcb_callback_ms(int64_t at_ms, int64_t now_ms);

/* One personal callback as Cisco takes it. */
typedef struct {
    const char *campaign_id; /* Cisco's, digits */
    const char *agent;       /* peripheral number, digits */
    const char *phone;       /* cleaned: digits, '#', '*', <= 20 */
    const char *account;     /* <= 30 bytes */
    const char *first_name, *last_name;
    int max_attempts;
    char callback[FD_PCB_TIME_LEN + 1]; /* Logger-local */
} fd_pcb_record;

/* The API's body: <personalCallback> with campaign and agent refURLs
 * (/unifiedconfig/config/campaign/{id}, /unifiedconfig/config/agent/{id}),
 * phone, accountNumber, maxAttempts, callbackDateTime, firstName, lastName.
 * Returns a malloc'd document (*len its length), or NULL. */
char *fd_pcb_build_body(const fd_pcb_record *r, size_t *len) __attribute__((warn_unused_result));

typedef struct {
    fd_pcb_mode mode;
    const char *logger_zone; /* copied */
    int max_attempts;
} fd_pcb_config;

/* The wrapper over inner (its kind, owned from now on, also on failure).
 * http: the Outbound API client for mode api (owned; NULL for table);
 * logger: ODBC to the Logger, read-write for table (owned; may be NULL for
 * api, then only the API's list is asked). NULL on bad arguments or memory. */
fd_writer *fd_pcb_writer_new(fd_writer *inner, const fd_pcb_config *cfg, fd_uccx *http,
                             ecm_odbc *logger) __attribute__((warn_unused_result));

#endif

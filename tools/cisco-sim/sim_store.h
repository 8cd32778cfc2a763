/* The simulator's own database (ECM_SIM_PG_DSN): the contacts it received
 * (sim_contacts, one row per account number, with the system and interface
 * that brought it), its campaigns keyed by (system, campaign_id), the
 * import history, and the Cisco-shaped tables ECM reads over ODBC: UCCE
 * Dialer_Detail and DL_<id>_1, UCCX dialinglist and dialinglisthistory.
 * Every counter /sim/stats reports is derived from these tables, so the
 * figures survive a restart of the sim. */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ecm_pg.h"
#include "sim_rec.h"

/* The interface that brought a record, and the Cisco system it belongs to
 * (a campaign id is only unique within its system). */
typedef enum { SIM_IF_UCCX = 0, SIM_IF_UCCE_API = 1, SIM_IF_UCCE_DB = 2, SIM_IF_N = 3 } sim_iface;

/* "uccx", "ucce_api", "ucce_db". */
const char *sim_iface_name(sim_iface i);
/* "uccx" or "ucce". */
const char *sim_iface_system(sim_iface i);

typedef struct sim_store sim_store;

/* Creates a store with a pool of pool_size connections for HTTP handlers;
 * connects lazily. stop ends reconnect waits. Returns NULL on allocation
 * failure. */
sim_store *sim_store_new(const char *dsn, int pool_size, volatile sig_atomic_t *stop)
    __attribute__((warn_unused_result));
void sim_store_destroy(sim_store *s);

/* Creates the tables, indexes and the Dialer_Detail sequence if they do not
 * exist (under an advisory lock, so two sims starting together don't race).
 * Waits for the database like ecm_pg_conn(). Returns 0, or -1 (logged). */
int sim_store_init_schema(sim_store *s) __attribute__((warn_unused_result));

/* Readiness: 0 when a connection answers "SELECT 1", else -1 with a reason. */
int sim_store_ping(sim_store *s, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

typedef enum {
    SIM_IMPORT_ACCEPTED = 0,
    SIM_IMPORT_OVER_CAPACITY = 1,
} sim_import_outcome;

/* One import, whichever interface brought it. */
typedef struct {
    sim_iface iface;
    int campaign_id;
    const char *campaign_name; /* may be NULL */
    const sim_contact *rows;   /* valid rows only */
    size_t n;
    size_t total_rows, failed_rows; /* of the parse */
    const char *detail;             /* first failure, may be NULL */
    long long capacity;             /* UCCX: pending records per campaign; else <= 0: none */
    int check_phones;               /* UCCX without allowDuplicateContacts: Cisco's phone rule */
} sim_import_req;

typedef struct {
    sim_import_outcome outcome;
    long long import_id;
    long long pending_before;   /* the campaign's pending records before */
    long long new_accounts;     /* accounts stored (never received before) */
    long long duplicate_rows;   /* rows whose account number was already known */
    long long phone_duplicates; /* UCCX rows not imported by the phone rule */
} sim_import_result;

/* Stores one import on a pool connection, in one transaction (see
 * sim_store_import_tx). Returns 0 with *out, or -1 (logged), nothing stored. */
int sim_store_import(sim_store *s, const sim_import_req *req, sim_import_result *out)
    __attribute__((warn_unused_result));

/* The import inside the caller's transaction on pg: creates the campaign
 * (system of req->iface; enabled) on first sight and locks its row, so
 * imports of one campaign are serialised. UCCX with check_phones: rows with
 * a phone equal to a phone of the campaign's pending records, of records
 * dialled since the sim's last midnight, or of an earlier row of the same
 * import are not imported (phone_duplicates). Rows whose account number the
 * sim has had before (any system, any interface, or earlier in the batch)
 * are duplicates: counted per interface, never stored twice. New accounts
 * go into sim_contacts and the Cisco-shaped table (UCCX dialinglist, UCCE
 * DL_<id>_1, created on first use). UCCX over capacity: nothing is stored
 * but the REJECTED import row. Returns 0 or -1 (the caller rolls back). */
int sim_store_import_tx(ecm_pg *pg, const sim_import_req *req, sim_import_result *out)
    __attribute__((warn_unused_result));

typedef struct {
    long long import_id;
    char state[16];  /* COMPLETED or REJECTED */
    char result[16]; /* SUCCESS, PARTIAL_SUCCESS or FAILURE */
    long long total, imported, failed, duplicates, phone_duplicates;
    long long started_ms; /* Unix ms */
    char detail[256];
} sim_import_status;

/* The campaign's last import (UCCX system). Returns 0 and fills *out, 1
 * when the campaign has none, -1 (logged) on a database failure. */
int sim_store_last_import(sim_store *s, int campaign_id, sim_import_status *out)
    __attribute__((warn_unused_result));

/* Turns dialing of a campaign of system ("uccx"/"ucce") on or off, creating
 * it if unknown; raises its changeStamp. Returns 0 or -1 (logged). */
int sim_store_set_enabled(sim_store *s, const char *system, int campaign_id, int enabled)
    __attribute__((warn_unused_result));

/* UCCE campaign update with optimistic locking: sets enabled when
 * change_stamp is the campaign's current one (the campaign is created,
 * enabled with changeStamp 0, on first sight) and raises it. Returns 0, 1
 * when the stamp is stale (*current gets the current one), -1 (logged). */
int sim_store_ucce_update(sim_store *s, int campaign_id, int enabled, long long change_stamp,
                          long long *current) __attribute__((warn_unused_result));

/* A campaign's enabled flag and changeStamp (created on first sight, as
 * the Cisco administrator would have made it). Returns 0 or -1 (logged). */
int sim_store_campaign_get(sim_store *s, const char *system, int campaign_id, int *enabled,
                           long long *change_stamp) __attribute__((warn_unused_result));

/* Calls fn once per UCCX record of the campaign in dialinglist whose
 * callstatus is callstatus (1 pending, ...), ordered by account number, at
 * most limit; stops early when fn returns non-zero. *campaign_name (may be
 * NULL) receives the campaign's name, malloc'd, or NULL. Returns 0, 1 when
 * fn stopped it, 2 when the sim has never heard of the campaign (no
 * calls), -1 (logged) on a database failure. */
typedef int (*sim_contact_visit_fn)(void *ctx, const sim_contact *c, const char *status);
int sim_store_list_contacts(sim_store *s, int campaign_id, int callstatus, long long limit,
                            char **campaign_name, sim_contact_visit_fn fn, void *ctx);

/* One UCCE imported contact as the Outbound API lists it. */
typedef struct {
    long long id; /* DialingListID */
    sim_contact c;
    char call_status; /* CallStatusZone1 */
    int call_result;
    int calls_made;
    char import_date[32];
} sim_ucce_listed;

/* Pages through DL_<campaign_id>_1 ordered by AccountNumber: from start
 * (0-based), at most count rows; account non-NULL: only that account
 * number (exact). *total is the number of matching rows. fn is called per
 * row. Returns 0, 2 when the campaign has no dialing list yet (*total 0),
 * -1 (logged). */
typedef int (*sim_ucce_visit_fn)(void *ctx, const sim_ucce_listed *r);
int sim_store_ucce_list(sim_store *s, int campaign_id, const char *account, long long start,
                        long long count, long long *total, sim_ucce_visit_fn fn, void *ctx);

/* Deletes the campaign's records not dialled yet: system "ucce" from
 * sim_contacts and DL_<id>_1, "uccx" from sim_contacts and dialinglist
 * (callstatus 1). A record the dialer is dialling right now is waited for
 * and then left alone. *deleted is how many. Returns 0 or -1 (logged). */
int sim_store_delete_pending(sim_store *s, const char *system, int campaign_id, long long *deleted)
    __attribute__((warn_unused_result));

/* Counts a refused request of iface for reason (e.g. "queue_full"), in
 * the database so /sim/stats survives a restart. Best effort. */
void sim_store_count_refusal(sim_store *s, sim_iface iface, const char *reason);

/* The UCCX "midnight": moves dialinglist records closed (callstatus 3 or 5)
 * more than age_s seconds ago into dialinglisthistory, in one transaction,
 * and records the time as the sim's last midnight. *moved is how many.
 * Returns 0 or -1 (logged). */
int sim_store_uccx_midnight(ecm_pg *pg, long long age_s, long long *moved)
    __attribute__((warn_unused_result));

#define SIM_STATS_MAX_CODES 100

typedef struct {
    long long received_rows;
    long long duplicate_accounts;
    long long dialed;
} sim_iface_stats;

#define SIM_REFUSAL_KINDS 8

typedef struct {
    long long received_rows;
    long long unique_accounts;
    long long duplicate_accounts; /* accounts received more than once */
    long long duplicate_receipts; /* receipts beyond the first */
    long long dialed;
    long long pending;
    long long imports; /* accepted imports */
    long long over_capacity_rejections;
    long long phone_duplicates; /* UCCX rows not imported by the phone rule */
    sim_iface_stats iface[SIM_IF_N];
    struct {
        char iface[16];
        char reason[32];
        long long n;
    } refusals[SIM_REFUSAL_KINDS];
    int nrefusals;
    long long by_call_result[SIM_STATS_MAX_CODES]; /* dials per UCCE CallResult */
    /* Personal_Callback_List: rows, rows still pending, rows dialled, and
     * account numbers it holds more than once or that an import brought
     * too (counted in duplicate_accounts as well). */
    long long pcb_rows, pcb_pending, pcb_dialed, pcb_duplicate_accounts;
} sim_stats;

/* Reads the counters. Returns 0 or -1 (logged). */
int sim_store_stats(sim_store *s, sim_stats *out) __attribute__((warn_unused_result));

/* What the dialer decided for one contact. */
typedef struct {
    int call_result;
    int call_result_detail;
    char call_status_zone1; /* 'C' closed, 'R' retry-able, 'B' callback */
    int dialing_mode;
    int call_duration_s;
    /* A personal callback the agent scheduled (CallResult 14/15 with an
     * agent): the agent's peripheral number ("" none) and the callback time
     * in minutes after the call (Dialer_Detail.AgentPeripheralNumber and
     * CallbackDateTime, in the Logger's zone). */
    char agent[16];
    int callback_minutes;
} sim_dial_outcome;

/* Decides the outcome of dialing one account on phone (the record's first
 * phone). pcb = 1 when the call is a personal callback the sim dials
 * (sim_pcb.h): the decision may not schedule another one. Can't fail. */
typedef void (*sim_dial_decide_fn)(void *ctx, const char *account_number, const char *phone,
                                   int pcb, sim_dial_outcome *out);

/* One dialing tick on the caller's own connection, in ONE transaction: takes
 * up to limit pending contacts of enabled campaigns received at least
 * delay_ms ago, oldest first, asks decide() for each and marks it dialed.
 * UCCE records: one Dialer_Detail row each, and their DL_<id>_1 row gets
 * CallStatusZone1 C, CallResult, CallsMadeToZone1 + 1. UCCX records: no
 * Dialer_Detail; their dialinglist row gets callstatus 3 (closed), the UCCX
 * callResult of the decision (sim_rec_uccx_result), lastnumberdialed 1,
 * callsmadetophone01 1, callresult01, lastupdated. On success *dialed is
 * the number of contacts and counts[code] (if counts is non-NULL, size
 * SIM_STATS_MAX_CODES) is raised per CallResult. A decision with an agent
 * fills Dialer_Detail's AgentPeripheralNumber and CallbackDateTime (now in
 * logger_zone + callback_minutes). In the same transaction, with what is
 * left of limit, the personal callbacks due in logger_zone are dialled
 * (sim_pcb.h; counted in *dialed too). Returns 0, or -1 (logged) with the
 * transaction rolled back and nothing counted. */
int sim_store_dial_batch(ecm_pg *pg, long long limit, long long delay_ms, const char *logger_zone,
                         sim_dial_decide_fn decide, void *ctx, size_t *dialed, uint64_t *counts)
    __attribute__((warn_unused_result));

#endif

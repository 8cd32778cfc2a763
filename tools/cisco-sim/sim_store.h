/* The simulator's own database (ECM_SIM_PG_DSN): the contacts it received,
 * its campaigns, the import history, and the Cisco-shaped Dialer_Detail table
 * that result-sync reads over ODBC. Every counter /sim/stats reports is
 * derived from these tables, so the figures survive a restart of the sim. */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ecm_pg.h"

/* Cisco's limits: AccountNumber <= 30, names <= 50, phones <= 20 bytes. */
#define SIM_ACCOUNT_MAX 30
#define SIM_NAME_MAX 50
#define SIM_PHONE_MAX 20
#define SIM_PHONES 3

typedef struct {
    char account_number[SIM_ACCOUNT_MAX + 1];
    char first_name[SIM_NAME_MAX + 1];
    char last_name[SIM_NAME_MAX + 1];
    char phone[SIM_PHONES][SIM_PHONE_MAX + 1];
} sim_contact;

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

typedef struct {
    sim_import_outcome outcome;
    long long import_id;
    long long pending_before; /* the campaign's active records before the POST */
    long long new_accounts;   /* accounts never received before */
    long long duplicate_rows; /* rows whose account number was already known */
} sim_import_result;

/* Stores one POST: the campaign (created enabled on first sight) and its
 * rows, all or nothing. Rows with an account number received before (in any
 * campaign, or twice in this batch) only raise that account's received
 * count: the sim never dials an account twice, it reports the duplicate.
 * If pending records of the campaign plus the new accounts would exceed
 * capacity nothing is stored, the rejection is counted and recorded as the
 * campaign's last import, and outcome is SIM_IMPORT_OVER_CAPACITY.
 * total_rows/failed_rows/detail describe the parse (rows that failed
 * validation are not in rows). Returns 0 with *out filled, or -1 (logged)
 * on a database failure, with nothing stored. */
int sim_store_import(sim_store *s, int campaign_id, const char *campaign_name,
                     const sim_contact *rows, size_t n, size_t total_rows, size_t failed_rows,
                     const char *detail, long long capacity, sim_import_result *out)
    __attribute__((warn_unused_result));

typedef struct {
    long long import_id;
    char state[16];  /* COMPLETED or REJECTED */
    char result[16]; /* SUCCESS, PARTIAL_SUCCESS or FAILURE */
    long long total, imported, failed, duplicates;
    long long started_ms; /* Unix ms */
    char detail[256];
} sim_import_status;

/* The campaign's last import. Returns 0 and fills *out, 1 when the campaign
 * has none, -1 (logged) on a database failure. */
int sim_store_last_import(sim_store *s, int campaign_id, sim_import_status *out)
    __attribute__((warn_unused_result));

/* Turns dialing of a campaign on or off (creating the campaign if unknown).
 * Returns 0 or -1 (logged). */
int sim_store_set_enabled(sim_store *s, int campaign_id, int enabled)
    __attribute__((warn_unused_result));

/* Calls fn once per contact of the campaign, ordered by account number,
 * with status "pending" or "dialed"; stops early when fn returns non-zero.
 * *campaign_name (may be NULL) receives the campaign's name, malloc'd, or
 * NULL when it has none. Returns 0, 1 when fn stopped it, 2 when the sim has
 * never heard of the campaign (no calls), -1 (logged) on a database
 * failure. */
typedef int (*sim_contact_visit_fn)(void *ctx, const sim_contact *c, const char *status);
int sim_store_list_contacts(sim_store *s, int campaign_id, char **campaign_name,
                            sim_contact_visit_fn fn, void *ctx);

#define SIM_STATS_MAX_CODES 100

typedef struct {
    long long received_rows;
    long long unique_accounts;
    long long duplicate_accounts; /* accounts received more than once */
    long long duplicate_receipts; /* receipts beyond the first */
    long long dialed;
    long long pending;
    long long imports; /* accepted POSTs */
    long long over_capacity_rejections;
    long long by_call_result[SIM_STATS_MAX_CODES]; /* Dialer_Detail rows per CallResult */
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
} sim_dial_outcome;

/* Decides the outcome of dialing one account on phone (the record's Phone1,
 * "" when it has none). Can't fail. */
typedef void (*sim_dial_decide_fn)(void *ctx, const char *account_number, const char *phone,
                                   sim_dial_outcome *out);

/* One dialing tick on the caller's own connection, in ONE transaction: takes
 * up to limit pending contacts of enabled campaigns received at least
 * delay_ms ago, oldest first, asks decide() for each, writes one
 * Dialer_Detail row per contact and marks it dialed. On success *dialed is
 * the number of contacts and counts[code] (if counts is non-NULL, size
 * SIM_STATS_MAX_CODES) is raised per CallResult. Returns 0, or -1 (logged)
 * with the transaction rolled back and nothing counted. */
int sim_store_dial_batch(ecm_pg *pg, long long limit, long long delay_ms, sim_dial_decide_fn decide,
                         void *ctx, size_t *dialed, uint64_t *counts)
    __attribute__((warn_unused_result));

#endif

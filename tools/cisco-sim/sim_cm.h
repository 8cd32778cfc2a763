/* The simulator's Campaign Manager: UCCE import rules (ucce_db) and the
 * UCCX "midnight" job, on one thread with its own DB connection.
 * Import rules: ECM_SIM_UCCE_IMPORT_RULES="<table>:<campaign_id>,...". At
 * start each import table is created with Cisco's import columns (as the
 * customer's DBA would); every poll the rows of each table are taken in
 * one transaction (DELETE ... RETURNING, as Cisco's import renames the
 * file it read), checked like the Outbound API checks a record, and the
 * good ones go into the campaign's dialing list DL_<id>_1; bad ones are
 * counted in the import's failed rows and logged. */
#ifndef SIM_CM_H
#define SIM_CM_H

#include <signal.h>
#include <stddef.h>

#define SIM_CM_MAX_RULES 32
#define SIM_CM_TABLE_MAX 63 /* PostgreSQL's identifier length */

typedef struct {
    char table[SIM_CM_TABLE_MAX + 1];
    int campaign_id;
} sim_cm_rule;

/* Parses the rules text ("" = none): comma-separated <table>:<id>, table a
 * plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 bytes, each
 * table once), id 1..2147483647. Returns the number of rules, or -1 with
 * one line in errstr. */
int sim_cm_parse_rules(const char *text, sim_cm_rule *rules, size_t max, char *errstr,
                       size_t errstr_size) __attribute__((warn_unused_result));

/* ecm_config validator for ECM_SIM_UCCE_IMPORT_RULES. */
int sim_cm_validate_rules(const char *text, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

typedef struct {
    const char *pg_dsn;
    const char *rules;   /* validated text */
    long long poll_ms;   /* import table poll period */
    long long history_s; /* UCCX midnight period and closed-record age */
} sim_cm_config;

typedef struct sim_cm sim_cm;

/* Creates the manager (own DB connection, lazily connected; no thread).
 * stop: the process stop flag. Returns NULL on a bad rules text or
 * allocation failure. */
sim_cm *sim_cm_new(const sim_cm_config *cfg, volatile sig_atomic_t *stop)
    __attribute__((warn_unused_result));

/* Creates every import table that does not exist. Returns 0 or -1 (logged). */
int sim_cm_create_tables(sim_cm *cm) __attribute__((warn_unused_result));

/* One poll of every import table now. Returns the rows taken (good and
 * bad), or -1 (logged; that table's transaction rolled back, rows stay). */
long long sim_cm_poll(sim_cm *cm);

/* Starts the thread: polls every poll_ms, runs the UCCX midnight job every
 * history_s. Returns 0 or -1. */
int sim_cm_start(sim_cm *cm) __attribute__((warn_unused_result));

/* Ends the thread after its current step, closes the connection, frees.
 * NULL ignored. */
void sim_cm_destroy(sim_cm *cm);

#endif

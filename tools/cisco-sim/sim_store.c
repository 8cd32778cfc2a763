#include "sim_store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "sim_store_int.h"

/* Arbitrary constant shared by every sim instance for schema creation. */
#define STORE_SCHEMA_LOCK_KEY 0x45434d53494dLL /* "ECMSIM" */
/* Version of the sim-owned tables below; another one drops and recreates
 * them (the dev DB is disposable). Dialer_Detail is never dropped. */
#define STORE_SCHEMA_VERSION 3

static const char *const store_drop_sql =
    "DROP TABLE IF EXISTS sim_campaigns, sim_contacts, sim_imports, sim_duplicates,"
    " sim_refusals, sim_state, dialinglist, dialinglisthistory,"
    " Personal_Callback_List";

/* The UCCX db_cra columns (names are our inference, docs/cisco-sim.md). */
#define STORE_UCCX_COLUMNS                                                                         \
    " campaignid integer NOT NULL, accountnumber varchar(25) NOT NULL,"                            \
    " firstname varchar(50), lastname varchar(50),"                                                \
    " phone01 varchar(28), phone02 varchar(28), phone03 varchar(28),"                              \
    " callstatus smallint NOT NULL, callresult smallint NOT NULL,"                                 \
    " lastnumberdialed smallint NOT NULL DEFAULT 0,"                                               \
    " callsmadetophone01 smallint NOT NULL DEFAULT 0,"                                             \
    " callsmadetophone02 smallint NOT NULL DEFAULT 0,"                                             \
    " callsmadetophone03 smallint NOT NULL DEFAULT 0,"                                             \
    " callresult01 smallint NOT NULL DEFAULT 0, callresult02 smallint NOT NULL DEFAULT 0,"         \
    " callresult03 smallint NOT NULL DEFAULT 0, callbackdatetime timestamp,"                       \
    " dateadded timestamp NOT NULL, lastupdated timestamp NOT NULL"

static const char *const store_schema_sql[] = {
    "CREATE TABLE IF NOT EXISTS sim_campaigns ("
    " system text NOT NULL CHECK (system IN ('uccx', 'ucce')),"
    " campaign_id integer NOT NULL,"
    " name text,"
    " enabled boolean NOT NULL DEFAULT true,"
    " change_stamp bigint NOT NULL DEFAULT 0,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (system, campaign_id))",

    "CREATE TABLE IF NOT EXISTS sim_contacts ("
    " account_number varchar(30) PRIMARY KEY,"
    " system text NOT NULL,"
    " campaign_id integer NOT NULL,"
    " interface text NOT NULL CHECK (interface IN ('uccx', 'ucce_api', 'ucce_db')),"
    " phone1 varchar(28),"
    " received_at timestamptz NOT NULL DEFAULT now(),"
    " dialed_at timestamptz,"
    " call_result smallint," /* the dialer's decision, UCCE code */
    " status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dialed')))",
    "CREATE INDEX IF NOT EXISTS sim_contacts_pending_idx ON sim_contacts"
    " (received_at, account_number) WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS sim_contacts_campaign_idx ON sim_contacts"
    " (system, campaign_id, status)",

    "CREATE TABLE IF NOT EXISTS sim_duplicates ("
    " account_number varchar(30) NOT NULL,"
    " interface text NOT NULL,"
    " receipts integer NOT NULL,"
    " PRIMARY KEY (account_number, interface))",

    "CREATE TABLE IF NOT EXISTS sim_imports ("
    " import_id bigserial PRIMARY KEY,"
    " system text NOT NULL,"
    " campaign_id integer NOT NULL,"
    " interface text NOT NULL,"
    " state text NOT NULL,"
    " result text NOT NULL,"
    " total_rows integer NOT NULL,"
    " imported_rows integer NOT NULL,"
    " failed_rows integer NOT NULL,"
    " duplicate_rows integer NOT NULL DEFAULT 0,"
    " phone_duplicate_rows integer NOT NULL DEFAULT 0,"
    " detail text,"
    " started_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS sim_imports_campaign_idx ON sim_imports"
    " (system, campaign_id, import_id)",

    "CREATE TABLE IF NOT EXISTS sim_refusals ("
    " interface text NOT NULL, reason text NOT NULL, n bigint NOT NULL,"
    " PRIMARY KEY (interface, reason))",

    "CREATE TABLE IF NOT EXISTS sim_state (name text PRIMARY KEY, at timestamp NOT NULL)",
    "INSERT INTO sim_state (name, at) VALUES ('uccx_midnight', now() AT TIME ZONE 'UTC')"
    " ON CONFLICT (name) DO NOTHING",

    /* Unquoted identifiers: PostgreSQL folds them to lower case, so the
     * portable SQL ECM sends (Dialer_Detail, RecoveryKey, ...) finds them, as
     * it would on SQL Server or Informix. */
    "CREATE TABLE IF NOT EXISTS dialinglist (dialinglistid serial PRIMARY KEY," STORE_UCCX_COLUMNS
    ")",
    "CREATE INDEX IF NOT EXISTS dialinglist_campaign_idx ON dialinglist (campaignid, callstatus)",
    "CREATE INDEX IF NOT EXISTS dialinglist_account_idx ON dialinglist (accountnumber)",
    "CREATE TABLE IF NOT EXISTS dialinglisthistory (dialinglistid integer PRIMARY "
    "KEY," STORE_UCCX_COLUMNS ")",
    "CREATE INDEX IF NOT EXISTS dialinglisthistory_account_idx ON dialinglisthistory"
    " (accountnumber)",

    "CREATE SEQUENCE IF NOT EXISTS Dialer_Detail_RecoveryKey_seq",
    "CREATE TABLE IF NOT EXISTS Dialer_Detail ("
    " RecoveryKey bigint PRIMARY KEY DEFAULT nextval('Dialer_Detail_RecoveryKey_seq'),"
    " DateTime timestamp NOT NULL,"
    " CampaignID integer NOT NULL,"
    " CallResult integer NOT NULL,"
    " CallResultDetail integer NOT NULL DEFAULT 0,"
    " CallStatusZone1 char(1),"
    " Phone varchar(20),"
    " AccountNumber varchar(30),"
    " DialingMode integer,"
    " CallGUID varchar(32),"
    " CallDuration integer)",
    "CREATE INDEX IF NOT EXISTS Dialer_Detail_AccountNumber_idx ON Dialer_Detail (AccountNumber)",
    /* Added for personal callbacks (an older Dialer_Detail is kept). */
    "ALTER TABLE Dialer_Detail ADD COLUMN IF NOT EXISTS DialingListID integer,"
    " ADD COLUMN IF NOT EXISTS AgentPeripheralNumber varchar(32),"
    " ADD COLUMN IF NOT EXISTS CallbackDateTime timestamp",

    /* Cisco's Personal_Callback_List (docs/cisco-research.md §4.3). */
    "CREATE TABLE IF NOT EXISTS Personal_Callback_List ("
    " PersonalCallbackListID integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " DialingListID integer, CampaignID integer, PeripheralID integer,"
    " AgentID integer NOT NULL, CampaignDN varchar(12), GMTZone smallint,"
    " Phone varchar(20) NOT NULL, AccountNumber varchar(32), MaxAttempts integer NOT NULL,"
    " CallbackDateTime timestamp, CallStatus char(1) NOT NULL, CallResult smallint,"
    " LastName varchar(50), FirstName varchar(50), InsertedIntoDBDateTime timestamp,"
    " SentToDialerDateTime timestamp)",
    "CREATE INDEX IF NOT EXISTS Personal_Callback_List_due_idx ON Personal_Callback_List"
    " (CallbackDateTime) WHERE CallStatus = 'P'",
    "CREATE INDEX IF NOT EXISTS Personal_Callback_List_AccountNumber_idx ON"
    " Personal_Callback_List (AccountNumber)",
};

const char *sim_iface_name(sim_iface i)
{
    return i == SIM_IF_UCCX ? "uccx" : i == SIM_IF_UCCE_API ? "ucce_api" : "ucce_db";
}

const char *sim_iface_system(sim_iface i)
{
    return i == SIM_IF_UCCX ? "uccx" : "ucce";
}

sim_store *sim_store_new(const char *dsn, int pool_size, volatile sig_atomic_t *stop)
{
    sim_store *s = calloc(1, sizeof *s);
    if (!s) {
        return NULL;
    }
    s->pool = ecm_pg_pool_new(dsn, pool_size > 0 ? pool_size : 1, stop);
    if (!s->pool) {
        free(s);
        return NULL;
    }
    return s;
}

void sim_store_destroy(sim_store *s)
{
    if (!s) {
        return;
    }
    ecm_pg_pool_destroy(s->pool);
    free(s);
}

void store_abort(ecm_pg *pg)
{
    ecm_pg_rollback(pg);
    (void)ecm_pg_check_broken(pg);
}

/* Drops the sim-owned tables when they are of another schema version (or
 * of none), then records this one. Returns 0 or -1. */
static int store_schema_version(ecm_pg *pg)
{
    if (ecm_pg_cmd(pg, "CREATE TABLE IF NOT EXISTS sim_schema (version integer NOT NULL)", 0,
                   NULL) != 0) {
        return -1;
    }
    PGresult *res = ecm_pg_exec(pg, "SELECT max(version) FROM sim_schema", 0, NULL);
    if (!res) {
        return -1;
    }
    long long v = PQgetisnull(res, 0, 0) ? 0 : store_ll(res, 0, 0);
    PQclear(res);
    if (v == STORE_SCHEMA_VERSION) {
        return 0;
    }
    ecm_log_info("sim schema replaced", "from=%lld to=%d", v, STORE_SCHEMA_VERSION);
    char ver[16];
    snprintf(ver, sizeof ver, "%d", STORE_SCHEMA_VERSION);
    const char *params[] = {ver};
    if (ecm_pg_cmd(pg, store_drop_sql, 0, NULL) != 0 ||
        ecm_pg_cmd(pg, "DELETE FROM sim_schema", 0, NULL) != 0 ||
        ecm_pg_cmd(pg, "INSERT INTO sim_schema (version) VALUES ($1)", 1, params) != 0) {
        return -1;
    }
    return 0;
}

int sim_store_init_schema(sim_store *s)
{
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    if (!ecm_pg_conn(pg)) {
        ecm_pg_pool_put(s->pool, pg);
        return -1;
    }
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)STORE_SCHEMA_LOCK_KEY);
    const char *params[] = {key};
    if (ecm_pg_begin(pg) != 0 ||
        ecm_pg_cmd(pg, "SELECT pg_advisory_xact_lock($1::bigint)", 1, params) != 0 ||
        store_schema_version(pg) != 0) {
        goto fail;
    }
    for (size_t i = 0; i < sizeof store_schema_sql / sizeof store_schema_sql[0]; i++) {
        if (ecm_pg_cmd(pg, store_schema_sql[i], 0, NULL) != 0) {
            goto fail;
        }
    }
    if (ecm_pg_commit(pg) != 0) {
        goto fail;
    }
    ecm_pg_pool_put(s->pool, pg);
    return 0;
fail:
    store_abort(pg);
    ecm_pg_pool_put(s->pool, pg);
    ecm_log_error("sim schema could not be created", NULL);
    return -1;
}

int sim_store_ping(sim_store *s, char *errstr, size_t errstr_size)
{
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    int rc = -1;
    if (!ecm_pg_try_conn(pg)) {
        snprintf(errstr, errstr_size, "sim database unreachable");
    } else if (ecm_pg_cmd(pg, "SELECT 1", 0, NULL) != 0) {
        (void)ecm_pg_check_broken(pg);
        snprintf(errstr, errstr_size, "sim database does not answer");
    } else {
        rc = 0;
    }
    ecm_pg_pool_put(s->pool, pg);
    return rc;
}

void store_arrays_begin(ecm_pgarr *cols, int n)
{
    for (int c = 0; c < n; c++)
        ecm_pgarr_init_max(&cols[c], STORE_ARRAY_MAX);
}

int store_arrays_finish(ecm_pgarr *cols, int n, const char **lits)
{
    int rc = 0;
    for (int c = 0; c < n; c++) {
        lits[c] = ecm_pgarr_finish(&cols[c]);
        if (!lits[c])
            rc = -1;
    }
    return rc;
}

void store_arrays_destroy(ecm_pgarr *cols, int n)
{
    for (int c = 0; c < n; c++)
        ecm_pgarr_destroy(&cols[c]);
}

long long store_ll(const PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v) {
        return 0;
    }
    return x;
}

void store_copy_field(char *dst, size_t dst_size, const char *src)
{
    snprintf(dst, dst_size, "%s", src ? src : "");
}

/* Appends printf text to sql (size STORE_SQL_MAX). Returns 0, or -1 when
 * it does not fit. */
int store_sql_add(char *sql, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int store_sql_add(char *sql, const char *fmt, ...)
{
    size_t used = strlen(sql);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(sql + used, STORE_SQL_MAX - used, fmt, ap);
    va_end(ap);
    return w < 0 || (size_t)w >= STORE_SQL_MAX - used ? -1 : 0;
}

int store_ucce_dl_create(ecm_pg *pg, int campaign_id)
{
    char sql[STORE_SQL_MAX] = "";
    int rc = store_sql_add(sql,
                           "CREATE TABLE IF NOT EXISTS DL_%d_1 ("
                           " DialingListID integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                           " AccountNumber varchar(30) NOT NULL,"
                           " FirstName varchar(50), LastName varchar(50)",
                           campaign_id);
    for (int p = 1; p <= SIM_UCCE_PHONES; p++) {
        rc |= store_sql_add(sql, ", Phone%02d varchar(20)", p);
    }
    for (int p = 1; p <= SIM_UCCE_PHONES; p++) {
        rc |= store_sql_add(sql, ", GMTPhone%02d smallint, DSTPhone%02d smallint", p, p);
    }
    rc |= store_sql_add(sql, ", CallResult smallint NOT NULL DEFAULT 0,"
                             " CallStatusZone1 char(1) NOT NULL DEFAULT 'P',"
                             " CallsMadeToZone1 smallint NOT NULL DEFAULT 0,"
                             " ImportRuleDate timestamp NOT NULL)");
    if (rc != 0 || ecm_pg_cmd(pg, sql, 0, NULL) != 0) {
        return -1;
    }
    sql[0] = '\0';
    if (store_sql_add(
            sql, "CREATE INDEX IF NOT EXISTS DL_%d_1_AccountNumber_idx ON DL_%d_1 (AccountNumber)",
            campaign_id, campaign_id) != 0) {
        return -1;
    }
    return ecm_pg_cmd(pg, sql, 0, NULL);
}

int store_campaign_lock(ecm_pg *pg, const char *system, int campaign_id, const char *name)
{
    char cid[16];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    const char *params[] = {system, cid, name ? name : ""};
    return ecm_pg_cmd(pg,
                      "INSERT INTO sim_campaigns (system, campaign_id, name)"
                      " VALUES ($1, $2, NULLIF($3, ''))"
                      " ON CONFLICT (system, campaign_id) DO UPDATE"
                      " SET name = COALESCE(EXCLUDED.name, sim_campaigns.name)",
                      3, params);
}

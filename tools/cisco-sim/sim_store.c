#include "sim_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "ecm_pgarray.h"
#include "ecm_uuid.h"

/* Arbitrary constant shared by every sim instance for schema creation. */
#define STORE_SCHEMA_LOCK_KEY 0x45434d53494dLL /* "ECMSIM" */
/* Bound on one array parameter: a POST body is bounded far below this. */
#define STORE_ARRAY_MAX ((size_t)256 * 1024 * 1024)
/* Cisco's DialingMode 5 is "progressive only", what an IVR campaign uses. */
#define STORE_DIALING_MODE_DEFAULT 5

struct sim_store {
    ecm_pg_pool *pool;
};

static const char *const store_schema_sql[] = {
    "CREATE TABLE IF NOT EXISTS sim_campaigns ("
    " campaign_id integer PRIMARY KEY,"
    " name text,"
    " enabled boolean NOT NULL DEFAULT true,"
    " created_at timestamptz NOT NULL DEFAULT now())",

    "CREATE TABLE IF NOT EXISTS sim_contacts ("
    " account_number varchar(30) PRIMARY KEY,"
    " campaign_id integer NOT NULL,"
    " first_name varchar(50),"
    " last_name varchar(50),"
    " phone1 varchar(20),"
    " phone2 varchar(20),"
    " phone3 varchar(20),"
    " received_count integer NOT NULL DEFAULT 1,"
    " received_at timestamptz NOT NULL DEFAULT now(),"
    " dialed_at timestamptz,"
    " status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dialed')))",

    "CREATE INDEX IF NOT EXISTS sim_contacts_pending_idx ON sim_contacts"
    " (received_at, account_number) WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS sim_contacts_campaign_idx ON sim_contacts"
    " (campaign_id, account_number)",

    "CREATE TABLE IF NOT EXISTS sim_imports ("
    " import_id bigserial PRIMARY KEY,"
    " campaign_id integer NOT NULL,"
    " state text NOT NULL,"
    " result text NOT NULL,"
    " total_rows integer NOT NULL,"
    " imported_rows integer NOT NULL,"
    " failed_rows integer NOT NULL,"
    " duplicate_rows integer NOT NULL DEFAULT 0,"
    " detail text,"
    " started_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS sim_imports_campaign_idx ON sim_imports (campaign_id, import_id)",

    /* Unquoted identifiers: PostgreSQL folds them to lower case, so the
     * portable SQL result-sync sends (Dialer_Detail, RecoveryKey, ...) finds
     * them, as it would on SQL Server. */
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
};

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

/* Rolls back and drops a broken connection so the next use reconnects. */
static void store_abort(ecm_pg *pg)
{
    ecm_pg_rollback(pg);
    (void)ecm_pg_check_broken(pg);
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
        ecm_pg_cmd(pg, "SELECT pg_advisory_xact_lock($1::bigint)", 1, params) != 0) {
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

/* Starts n array literals for one statement's parameters, each under
 * STORE_ARRAY_MAX. */
static void store_arrays_begin(ecm_pgarr *cols, int n)
{
    for (int c = 0; c < n; c++)
        ecm_pgarr_init_max(&cols[c], STORE_ARRAY_MAX);
}

/* Closes n literals into lits. Returns 0, or -1 when one failed to build
 * (too large or out of memory). */
static int store_arrays_finish(ecm_pgarr *cols, int n, const char **lits)
{
    int rc = 0;
    for (int c = 0; c < n; c++) {
        lits[c] = ecm_pgarr_finish(&cols[c]);
        if (!lits[c])
            rc = -1;
    }
    return rc;
}

static void store_arrays_destroy(ecm_pgarr *cols, int n)
{
    for (int c = 0; c < n; c++)
        ecm_pgarr_destroy(&cols[c]);
}

static long long store_ll(const PGresult *res, int row, int col)
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

static int store_record_import(ecm_pg *pg, int campaign_id, const char *state, const char *result,
                               size_t total, size_t imported, size_t failed, long long dups,
                               const char *detail, long long *import_id)
{
    char cid[16], t[24], i[24], f[24], d[24];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    snprintf(t, sizeof t, "%zu", total);
    snprintf(i, sizeof i, "%zu", imported);
    snprintf(f, sizeof f, "%zu", failed);
    snprintf(d, sizeof d, "%lld", dups);
    const char *params[] = {cid, state, result, t, i, f, d, detail && *detail ? detail : NULL};
    PGresult *res = ecm_pg_exec(pg,
                                "INSERT INTO sim_imports (campaign_id, state, result, total_rows,"
                                " imported_rows, failed_rows, duplicate_rows, detail)"
                                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING import_id",
                                8, params);
    if (!res) {
        return -1;
    }
    *import_id = store_ll(res, 0, 0);
    PQclear(res);
    return 0;
}

static const char *store_import_result(size_t total, size_t imported, size_t failed)
{
    if (failed == 0) {
        return "SUCCESS";
    }
    return imported > 0 || total == 0 ? "PARTIAL_SUCCESS" : "FAILURE";
}

/* The columns of an import batch as six text[] literals: account number,
 * first and last name, the phones. Returns 0, or -1 when too large. */
static int import_columns(const sim_contact *rows, size_t n, ecm_pgarr cols[6], const char *lits[6])
{
    store_arrays_begin(cols, 6);
    for (size_t r = 0; r < n; r++) {
        ecm_pgarr_add_str(&cols[0], rows[r].account_number);
        ecm_pgarr_add_str(&cols[1], rows[r].first_name);
        ecm_pgarr_add_str(&cols[2], rows[r].last_name);
        for (int p = 0; p < SIM_PHONES; p++)
            ecm_pgarr_add_str(&cols[3 + p], rows[r].phone[p]);
    }
    return store_arrays_finish(cols, 6, lits);
}

/* Counts, inside the import's transaction, the campaign's pending contacts
 * and the accounts of the batch not stored yet, into out. Returns 0 or -1. */
static int import_count(ecm_pg *pg, const char *cid, const char *accounts, size_t n,
                        sim_import_result *out)
{
    const char *cap_params[] = {cid, accounts};
    PGresult *res = ecm_pg_exec(pg,
                                "SELECT (SELECT count(*) FROM sim_contacts"
                                "        WHERE campaign_id = $1 AND status = 'pending'),"
                                "       (SELECT count(DISTINCT a) FROM unnest($2::text[]) AS a"
                                "        WHERE NOT EXISTS (SELECT 1 FROM sim_contacts c"
                                "                          WHERE c.account_number = a))",
                                2, cap_params);
    if (!res)
        return -1;
    out->pending_before = store_ll(res, 0, 0);
    out->new_accounts = store_ll(res, 0, 1);
    out->duplicate_rows = (long long)n - out->new_accounts;
    PQclear(res);
    return 0;
}

/* Upserts the batch's contacts (lits from import_columns) as pending.
 * DISTINCT ON keeps the first row of an account repeated inside the batch
 * (ON CONFLICT can't touch one row twice) and counts the repeats; ORDER BY
 * account_number makes concurrent imports lock rows in the same order, so
 * they can't deadlock. Returns 0 or -1. */
static int import_insert(ecm_pg *pg, const char *cid, const char *const lits[6])
{
    const char *ins_params[] = {cid, lits[0], lits[1], lits[2], lits[3], lits[4], lits[5]};
    return ecm_pg_cmd(
        pg,
        "INSERT INTO sim_contacts (account_number, campaign_id, first_name, last_name,"
        " phone1, phone2, phone3, received_count, received_at, status)"
        " SELECT g.a, $1, NULLIF(g.f, ''), NULLIF(g.l, ''), NULLIF(g.p1, ''),"
        "        NULLIF(g.p2, ''), NULLIF(g.p3, ''), g.n, clock_timestamp(), 'pending'"
        " FROM (SELECT DISTINCT ON (u.a) u.a, u.f, u.l, u.p1, u.p2, u.p3,"
        "              count(*) OVER (PARTITION BY u.a) AS n"
        "       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],"
        "                   $6::text[], $7::text[])"
        "            WITH ORDINALITY AS u(a, f, l, p1, p2, p3, ord)"
        "       ORDER BY u.a, u.ord) AS g"
        " ORDER BY g.a"
        " ON CONFLICT (account_number) DO UPDATE"
        " SET received_count = sim_contacts.received_count + EXCLUDED.received_count",
        7, ins_params);
}

int sim_store_import(sim_store *s, int campaign_id, const char *campaign_name,
                     const sim_contact *rows, size_t n, size_t total_rows, size_t failed_rows,
                     const char *detail, long long capacity, sim_import_result *out)
{
    memset(out, 0, sizeof *out);
    ecm_pgarr cols[6];
    const char *lits[6];
    if (import_columns(rows, n, cols, lits) != 0) {
        store_arrays_destroy(cols, 6);
        ecm_log_error("import batch too large to store", "rows=%zu", n);
        return -1;
    }

    char cid[16], cap[24];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    snprintf(cap, sizeof cap, "%lld", capacity);
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    int rc = -1;
    if (ecm_pg_begin(pg) != 0) {
        goto fail;
    }
    /* The upsert locks the campaign row until commit: concurrent POSTs to one
     * campaign queue here, so the capacity check below can't be raced. */
    const char *camp_params[] = {cid, campaign_name ? campaign_name : ""};
    if (ecm_pg_cmd(pg,
                   "INSERT INTO sim_campaigns (campaign_id, name) VALUES ($1, NULLIF($2, ''))"
                   " ON CONFLICT (campaign_id) DO UPDATE"
                   " SET name = COALESCE(EXCLUDED.name, sim_campaigns.name)",
                   2, camp_params) != 0) {
        goto fail;
    }
    if (import_count(pg, cid, lits[0], n, out) != 0) {
        goto fail;
    }

    if (out->pending_before + out->new_accounts > capacity) {
        ecm_pg_rollback(pg);
        char why[256];
        snprintf(why, sizeof why, "over capacity: %lld active records + %lld new would exceed %lld",
                 out->pending_before, out->new_accounts, capacity);
        out->outcome = SIM_IMPORT_OVER_CAPACITY;
        if (store_record_import(pg, campaign_id, "REJECTED", "FAILURE", total_rows, 0, total_rows,
                                0, why, &out->import_id) != 0) {
            (void)ecm_pg_check_broken(pg);
            goto done;
        }
        rc = 0;
        goto done;
    }

    if (import_insert(pg, cid, lits) != 0) {
        goto fail;
    }
    if (store_record_import(pg, campaign_id, "COMPLETED",
                            store_import_result(total_rows, n, failed_rows), total_rows, n,
                            failed_rows, out->duplicate_rows, detail, &out->import_id) != 0) {
        goto fail;
    }
    if (ecm_pg_commit(pg) != 0) {
        goto fail;
    }
    out->outcome = SIM_IMPORT_ACCEPTED;
    rc = 0;
    goto done;
fail:
    store_abort(pg);
    ecm_log_error("import could not be stored", "campaign_id=%d rows=%zu", campaign_id, n);
done:
    ecm_pg_pool_put(s->pool, pg);
    store_arrays_destroy(cols, 6);
    return rc;
}

static void store_copy_field(char *dst, size_t dst_size, const char *src)
{
    snprintf(dst, dst_size, "%s", src ? src : "");
}

int sim_store_last_import(sim_store *s, int campaign_id, sim_import_status *out)
{
    char cid[16];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    const char *params[] = {cid};
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    PGresult *res = ecm_pg_exec(pg,
                                "SELECT import_id, state, result, total_rows, imported_rows,"
                                " failed_rows, duplicate_rows,"
                                " (extract(epoch FROM started_at) * 1000)::bigint,"
                                " coalesce(detail, '')"
                                " FROM sim_imports WHERE campaign_id = $1"
                                " ORDER BY import_id DESC LIMIT 1",
                                1, params);
    if (!res) {
        (void)ecm_pg_check_broken(pg);
        ecm_pg_pool_put(s->pool, pg);
        return -1;
    }
    ecm_pg_pool_put(s->pool, pg);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 1;
    }
    memset(out, 0, sizeof *out);
    out->import_id = store_ll(res, 0, 0);
    store_copy_field(out->state, sizeof out->state, PQgetvalue(res, 0, 1));
    store_copy_field(out->result, sizeof out->result, PQgetvalue(res, 0, 2));
    out->total = store_ll(res, 0, 3);
    out->imported = store_ll(res, 0, 4);
    out->failed = store_ll(res, 0, 5);
    out->duplicates = store_ll(res, 0, 6);
    out->started_ms = store_ll(res, 0, 7);
    store_copy_field(out->detail, sizeof out->detail, PQgetvalue(res, 0, 8));
    PQclear(res);
    return 0;
}

int sim_store_set_enabled(sim_store *s, int campaign_id, int enabled)
{
    char cid[16];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    const char *params[] = {cid, enabled ? "true" : "false"};
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    int rc = ecm_pg_cmd(pg,
                        "INSERT INTO sim_campaigns (campaign_id, enabled) VALUES ($1, $2)"
                        " ON CONFLICT (campaign_id) DO UPDATE SET enabled = EXCLUDED.enabled",
                        2, params);
    if (rc != 0) {
        (void)ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(s->pool, pg);
    return rc;
}

int sim_store_list_contacts(sim_store *s, int campaign_id, char **campaign_name,
                            sim_contact_visit_fn fn, void *ctx)
{
    char cid[16];
    snprintf(cid, sizeof cid, "%d", campaign_id);
    const char *params[] = {cid};
    if (campaign_name) {
        *campaign_name = NULL;
    }
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    PGresult *name =
        ecm_pg_exec(pg, "SELECT name FROM sim_campaigns WHERE campaign_id = $1", 1, params);
    PGresult *res = name ? ecm_pg_exec(pg,
                                       "SELECT account_number, coalesce(first_name, ''),"
                                       " coalesce(last_name, ''), coalesce(phone1, ''),"
                                       " coalesce(phone2, ''), coalesce(phone3, ''), status"
                                       " FROM sim_contacts WHERE campaign_id = $1"
                                       " ORDER BY account_number",
                                       1, params)
                         : NULL;
    if (!res) {
        (void)ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(s->pool, pg);
    if (!res) {
        PQclear(name);
        return -1;
    }
    if (PQntuples(name) == 0) {
        PQclear(name);
        PQclear(res);
        return 2;
    }
    if (campaign_name && !PQgetisnull(name, 0, 0)) {
        *campaign_name = strdup(PQgetvalue(name, 0, 0));
    }
    PQclear(name);
    int rc = 0;
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        sim_contact c;
        store_copy_field(c.account_number, sizeof c.account_number, PQgetvalue(res, r, 0));
        store_copy_field(c.first_name, sizeof c.first_name, PQgetvalue(res, r, 1));
        store_copy_field(c.last_name, sizeof c.last_name, PQgetvalue(res, r, 2));
        for (int p = 0; p < SIM_PHONES; p++) {
            store_copy_field(c.phone[p], sizeof c.phone[p], PQgetvalue(res, r, 3 + p));
        }
        if (fn(ctx, &c, PQgetvalue(res, r, 6)) != 0) {
            rc = 1;
            break;
        }
    }
    PQclear(res);
    return rc;
}

int sim_store_stats(sim_store *s, sim_stats *out)
{
    memset(out, 0, sizeof *out);
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    PGresult *res = ecm_pg_exec(pg,
                                "SELECT coalesce(sum(received_count), 0), count(*),"
                                " count(*) FILTER (WHERE received_count > 1),"
                                " coalesce(sum(received_count - 1), 0),"
                                " count(*) FILTER (WHERE status = 'dialed'),"
                                " count(*) FILTER (WHERE status = 'pending'),"
                                " (SELECT count(*) FROM sim_imports WHERE state = 'COMPLETED'),"
                                " (SELECT count(*) FROM sim_imports WHERE state = 'REJECTED')"
                                " FROM sim_contacts",
                                0, NULL);
    PGresult *codes = res ? ecm_pg_exec(pg,
                                        "SELECT CallResult, count(*) FROM Dialer_Detail"
                                        " GROUP BY CallResult ORDER BY CallResult",
                                        0, NULL)
                          : NULL;
    if (!codes) {
        (void)ecm_pg_check_broken(pg);
    }
    ecm_pg_pool_put(s->pool, pg);
    if (!codes) {
        PQclear(res);
        return -1;
    }
    out->received_rows = store_ll(res, 0, 0);
    out->unique_accounts = store_ll(res, 0, 1);
    out->duplicate_accounts = store_ll(res, 0, 2);
    out->duplicate_receipts = store_ll(res, 0, 3);
    out->dialed = store_ll(res, 0, 4);
    out->pending = store_ll(res, 0, 5);
    out->imports = store_ll(res, 0, 6);
    out->over_capacity_rejections = store_ll(res, 0, 7);
    PQclear(res);
    for (int r = 0; r < PQntuples(codes); r++) {
        long long code = store_ll(codes, r, 0);
        if (code >= 0 && code < SIM_STATS_MAX_CODES) {
            out->by_call_result[code] = store_ll(codes, r, 1);
        }
    }
    PQclear(codes);
    return 0;
}

/* CallGUID is 32 hex digits in Cisco's table: a UUID without dashes. */
static void store_call_guid(char out[33])
{
    char text[ECM_UUID_LEN];
    ecm_uuid_new(text);
    size_t j = 0;
    for (size_t i = 0; text[i] && j < 32; i++) {
        if (text[i] != '-') {
            out[j++] = text[i];
        }
    }
    out[j] = '\0';
}

/* Marks up to limit pending contacts of enabled campaigns, received at
 * least delay_ms ago, as dialed, oldest first. Returns their rows
 * (account_number, campaign_id, phone) in that order, or NULL. */
static PGresult *dial_pick(ecm_pg *pg, long long limit, long long delay_ms)
{
    char lim[24], delay[24];
    snprintf(lim, sizeof lim, "%lld", limit);
    snprintf(delay, sizeof delay, "%lld", delay_ms);
    const char *pick_params[] = {lim, delay};
    /* SKIP LOCKED: a contact whose row an import is updating right now (a
     * duplicate receipt) simply waits for the next tick. */
    return ecm_pg_exec(
        pg,
        "WITH picked AS ("
        "  SELECT c.account_number FROM sim_contacts c"
        "  JOIN sim_campaigns k ON k.campaign_id = c.campaign_id"
        "  WHERE c.status = 'pending' AND k.enabled"
        "    AND c.received_at <= clock_timestamp()"
        "        - make_interval(secs => $2::double precision / 1000)"
        "  ORDER BY c.received_at, c.account_number"
        "  LIMIT $1 FOR UPDATE OF c SKIP LOCKED),"
        " upd AS ("
        "  UPDATE sim_contacts c SET status = 'dialed', dialed_at = clock_timestamp()"
        "  FROM picked p WHERE c.account_number = p.account_number"
        "  RETURNING c.account_number, c.campaign_id, coalesce(c.phone1, '') AS phone,"
        "            c.received_at)"
        " SELECT account_number, campaign_id, phone FROM upd"
        " ORDER BY received_at, account_number",
        2, pick_params);
}

/* Decides the outcome of every picked row (decide) into the nine columns
 * of Dialer_Detail rows, counting the call results in picked_codes. */
static void dial_decide(const PGresult *res, sim_dial_decide_fn decide, void *ctx,
                        ecm_pgarr cols[9], int picked_codes[SIM_STATS_MAX_CODES])
{
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        const char *account = PQgetvalue(res, r, 0);
        sim_dial_outcome o = {0, 0, 'C', STORE_DIALING_MODE_DEFAULT, 0};
        decide(ctx, account, PQgetvalue(res, r, 2), &o);
        char zone[2] = {o.call_status_zone1, '\0'};
        char guid[33];
        store_call_guid(guid);
        ecm_pgarr_add_int(&cols[0], store_ll(res, r, 1));
        ecm_pgarr_add_int(&cols[1], o.call_result);
        ecm_pgarr_add_int(&cols[2], o.call_result_detail);
        ecm_pgarr_add_str(&cols[3], zone);
        ecm_pgarr_add_str(&cols[4], PQgetvalue(res, r, 2));
        ecm_pgarr_add_str(&cols[5], account);
        ecm_pgarr_add_int(&cols[6], o.dialing_mode);
        ecm_pgarr_add_str(&cols[7], guid);
        ecm_pgarr_add_int(&cols[8], o.call_duration_s);
        if (o.call_result >= 0 && o.call_result < SIM_STATS_MAX_CODES) {
            picked_codes[o.call_result]++;
        }
    }
}

/* Inserts the Dialer_Detail rows whose columns lits holds. RecoveryKey comes
 * from the column default in ordinality order, so within a tick keys follow
 * the oldest-first dialing order. Returns 0 or -1. */
static int dial_record(ecm_pg *pg, const char *const lits[9])
{
    return ecm_pg_cmd(pg,
                      "INSERT INTO Dialer_Detail (DateTime, CampaignID, CallResult,"
                      " CallResultDetail, CallStatusZone1, Phone, AccountNumber, DialingMode,"
                      " CallGUID, CallDuration)"
                      " SELECT now() AT TIME ZONE 'UTC', u.cid, u.cr, u.crd, u.z,"
                      "        NULLIF(u.ph, ''), u.acc, u.dm, u.guid, u.dur"
                      " FROM unnest($1::int[], $2::int[], $3::int[], $4::text[], $5::text[],"
                      "             $6::text[], $7::int[], $8::text[], $9::int[])"
                      "      WITH ORDINALITY AS u(cid, cr, crd, z, ph, acc, dm, guid, dur, ord)"
                      " ORDER BY u.ord",
                      9, lits);
}

int sim_store_dial_batch(ecm_pg *pg, long long limit, long long delay_ms, sim_dial_decide_fn decide,
                         void *ctx, size_t *dialed, uint64_t *counts)
{
    *dialed = 0;
    if (limit <= 0) {
        return 0;
    }
    ecm_pgarr cols[9];
    store_arrays_begin(cols, 9);
    const char *lits[9];
    int picked_codes[SIM_STATS_MAX_CODES] = {0};
    PGresult *res = NULL;
    int rc = -1;

    if (ecm_pg_begin(pg) != 0) {
        goto fail;
    }
    res = dial_pick(pg, limit, delay_ms);
    if (!res) {
        goto fail;
    }
    int rows = PQntuples(res);
    dial_decide(res, decide, ctx, cols, picked_codes);
    PQclear(res);
    res = NULL;
    if (store_arrays_finish(cols, 9, lits) != 0) {
        ecm_log_error("dial batch too large", "rows=%d", rows);
        goto fail;
    }
    if (rows > 0 && dial_record(pg, lits) != 0) {
        goto fail;
    }
    if (ecm_pg_commit(pg) != 0) {
        goto fail;
    }
    *dialed = (size_t)rows;
    if (counts) {
        for (int c = 0; c < SIM_STATS_MAX_CODES; c++) {
            counts[c] += (uint64_t)picked_codes[c];
        }
    }
    rc = 0;
    goto done;
fail:
    PQclear(res);
    store_abort(pg);
    ecm_log_error("dialing tick rolled back", NULL);
done:
    store_arrays_destroy(cols, 9);
    return rc;
}

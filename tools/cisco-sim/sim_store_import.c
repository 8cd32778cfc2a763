/* sim_store_import*: one import into the sim's tables, whichever interface
 * brought it (UCCX REST, UCCE Outbound API, UCCE import rule). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_log.h"
#include "sim_store.h"
#include "sim_store_int.h"

/* Import columns: account, first, last, phones 1..10, gmtOffset, dst. */
#define IMP_COLS (3 + SIM_UCCE_PHONES + 2)

/* UCCX phone rule: marks in drop[] the rows with a phone equal to a phone
 * of the campaign's pending records, of its records dialled since the
 * sim's last midnight, or of an earlier row of this import. Returns the
 * number dropped, or -1. */
static long long import_phone_dups(ecm_pg *pg, const char *cid, const sim_contact *rows, size_t n,
                                   unsigned char *drop)
{
    ecm_pgarr cols[3];
    const char *lits[4];
    store_arrays_begin(cols, 3);
    for (size_t r = 0; r < n; r++) {
        for (int p = 0; p < SIM_UCCX_PHONES; p++) {
            ecm_pgarr_add_str(&cols[p], rows[r].phone[p]);
        }
    }
    long long dropped = -1;
    if (store_arrays_finish(cols, 3, lits + 1) != 0) {
        goto done;
    }
    lits[0] = cid;
    PGresult *res = ecm_pg_exec(
        pg,
        "WITH u AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[])"
        "           WITH ORDINALITY AS u(p1, p2, p3, ord)),"
        " ph AS (SELECT u.ord, v.p FROM u CROSS JOIN LATERAL (VALUES (u.p1), (u.p2), (u.p3)) AS "
        "v(p)"
        "        WHERE v.p <> ''),"
        " mid AS (SELECT at FROM sim_state WHERE name = 'uccx_midnight'),"
        " old AS (SELECT v.p FROM dialinglist d"
        "         CROSS JOIN LATERAL (VALUES (d.phone01), (d.phone02), (d.phone03)) AS v(p)"
        "         WHERE d.campaignid = $1 AND v.p IS NOT NULL"
        "           AND (d.callstatus NOT IN (3, 5)"
        "                OR d.lastupdated >= coalesce((SELECT at FROM mid), '-infinity')))"
        " SELECT DISTINCT x.ord FROM (SELECT ph.ord, ph.p,"
        "  min(ph.ord) OVER (PARTITION BY ph.p) AS first FROM ph) AS x"
        " WHERE x.first < x.ord OR x.p IN (SELECT p FROM old)",
        4, lits);
    if (!res) {
        goto done;
    }
    dropped = PQntuples(res);
    for (int r = 0; r < PQntuples(res); r++) {
        long long ord = store_ll(res, r, 0);
        if (ord >= 1 && (size_t)ord <= n) {
            drop[ord - 1] = 1;
        }
    }
    PQclear(res);
done:
    store_arrays_destroy(cols, 3);
    return dropped;
}

/* The kept rows' columns as IMP_COLS text[] literals. */
static int import_columns(const sim_contact *rows, size_t n, const unsigned char *drop,
                          ecm_pgarr *cols, const char **lits)
{
    store_arrays_begin(cols, IMP_COLS);
    for (size_t r = 0; r < n; r++) {
        if (drop && drop[r]) {
            continue;
        }
        const sim_contact *c = &rows[r];
        ecm_pgarr_add_str(&cols[0], c->account_number);
        ecm_pgarr_add_str(&cols[1], c->first_name);
        ecm_pgarr_add_str(&cols[2], c->last_name);
        for (int p = 0; p < SIM_UCCE_PHONES; p++) {
            ecm_pgarr_add_str(&cols[3 + p], c->phone[p]);
        }
        char gmt[16] = "", dst[4] = "";
        if (c->has_tz) {
            snprintf(gmt, sizeof gmt, "%d", sim_rec_gmt_offset(c->tz_bias));
            snprintf(dst, sizeof dst, "%d", c->dst_observed);
        }
        ecm_pgarr_add_str(&cols[3 + SIM_UCCE_PHONES], gmt);
        ecm_pgarr_add_str(&cols[4 + SIM_UCCE_PHONES], dst);
    }
    return store_arrays_finish(cols, IMP_COLS, lits);
}

/* The campaign's pending records and the batch's accounts not stored yet. */
static int import_count(ecm_pg *pg, const char *system, const char *cid, const char *accounts,
                        sim_import_result *out)
{
    const char *params[] = {system, cid, accounts};
    PGresult *res = ecm_pg_exec(pg,
                                "SELECT (SELECT count(*) FROM sim_contacts WHERE system = $1"
                                "        AND campaign_id = $2 AND status = 'pending'),"
                                "       (SELECT count(DISTINCT a) FROM unnest($3::text[]) AS a"
                                "        WHERE NOT EXISTS (SELECT 1 FROM sim_contacts c"
                                "                          WHERE c.account_number = a))",
                                3, params);
    if (!res)
        return -1;
    out->pending_before = store_ll(res, 0, 0);
    out->new_accounts = store_ll(res, 0, 1);
    PQclear(res);
    return 0;
}

/* The INSERT into the Cisco-shaped table of the rows in g that ins stored. */
static int import_cisco_sql(char *sql, size_t size, sim_iface iface, int campaign_id)
{
    size_t used = 0;
    int w;
    if (iface == SIM_IF_UCCX) {
        w = snprintf(sql, size,
                     "INSERT INTO dialinglist (campaignid, accountnumber, firstname, lastname,"
                     " phone01, phone02, phone03, callstatus, callresult, dateadded, lastupdated)"
                     " SELECT $1::int, g.a, NULLIF(g.f, ''), NULLIF(g.l, ''), NULLIF(g.p1, ''),"
                     " NULLIF(g.p2, ''), NULLIF(g.p3, ''), 1, 0, now() AT TIME ZONE 'UTC',"
                     " now() AT TIME ZONE 'UTC'");
        return w < 0 || (size_t)w >= size ? -1 : 0;
    }
    w = snprintf(sql, size, "INSERT INTO DL_%d_1 (AccountNumber, FirstName, LastName", campaign_id);
    for (int p = 1; p <= SIM_UCCE_PHONES && w >= 0 && (used += (size_t)w) < size; p++) {
        w = snprintf(sql + used, size - used, ", Phone%02d, GMTPhone%02d, DSTPhone%02d", p, p, p);
    }
    if (w >= 0 && (used += (size_t)w) < size) {
        w = snprintf(sql + used, size - used,
                     ", ImportRuleDate) SELECT g.a, NULLIF(g.f, ''), NULLIF(g.l, '')");
    }
    for (int p = 1; p <= SIM_UCCE_PHONES && w >= 0 && (used += (size_t)w) < size; p++) {
        w = snprintf(sql + used, size - used,
                     ", NULLIF(g.p%d, ''), CASE WHEN g.p%d <> '' THEN NULLIF(g.gmt, '')::smallint"
                     " END, CASE WHEN g.p%d <> '' THEN NULLIF(g.dst, '')::smallint END",
                     p, p, p);
    }
    if (w >= 0 && (used += (size_t)w) < size) {
        w = snprintf(sql + used, size - used, ", now() AT TIME ZONE 'UTC'");
    }
    return w < 0 || (used += (size_t)w) >= size ? -1 : 0;
}

/* Stores the batch (lits from import_columns): new accounts into
 * sim_contacts and the Cisco table, repeats into sim_duplicates. */
static int import_insert(ecm_pg *pg, const sim_import_req *req, const char *cid,
                         const char *const *lits, sim_import_result *out)
{
    char cisco[STORE_SQL_MAX], sql[STORE_SQL_MAX * 2];
    if (import_cisco_sql(cisco, sizeof cisco, req->iface, req->campaign_id) != 0) {
        return -1;
    }
    int w = snprintf(
        sql, sizeof sql,
        "WITH u AS (SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::text[],"
        "  $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],"
        "  $14::text[], $15::text[], $16::text[], $17::text[], $18::text[])"
        "  WITH ORDINALITY AS u(a, f, l, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, gmt, dst, ord)),"
        " g0 AS (SELECT DISTINCT ON (a) * FROM u ORDER BY a, ord),"
        " ins AS (INSERT INTO sim_contacts (account_number, system, campaign_id, interface,"
        "  phone1, received_at, status)"
        "  SELECT g0.a, $2, $1::int, $3, COALESCE(NULLIF(p1, ''), NULLIF(p2, ''), NULLIF(p3, ''),"
        "   NULLIF(p4, ''), NULLIF(p5, ''), NULLIF(p6, ''), NULLIF(p7, ''), NULLIF(p8, ''),"
        "   NULLIF(p9, ''), NULLIF(p10, '')), clock_timestamp(), 'pending'"
        "  FROM g0 ORDER BY g0.a ON CONFLICT (account_number) DO NOTHING"
        "  RETURNING account_number),"
        " g AS (SELECT g0.* FROM g0 JOIN ins ON ins.account_number = g0.a),"
        " cis AS (%s FROM g ORDER BY g.ord RETURNING 1),"
        " cnt AS (SELECT u.a, count(*) - CASE WHEN EXISTS (SELECT 1 FROM ins"
        "  WHERE ins.account_number = u.a) THEN 1 ELSE 0 END AS d FROM u GROUP BY u.a),"
        " dup AS (INSERT INTO sim_duplicates (account_number, interface, receipts)"
        "  SELECT a, $3, d FROM cnt WHERE d > 0 ORDER BY a"
        "  ON CONFLICT (account_number, interface) DO UPDATE"
        "  SET receipts = sim_duplicates.receipts + EXCLUDED.receipts RETURNING 1)"
        " SELECT (SELECT count(*) FROM ins), (SELECT coalesce(sum(d), 0) FROM cnt WHERE d > 0),"
        "  (SELECT count(*) FROM cis), (SELECT count(*) FROM dup)",
        cisco);
    if (w < 0 || (size_t)w >= sizeof sql) {
        return -1;
    }
    const char *params[3 + IMP_COLS] = {cid, sim_iface_system(req->iface),
                                        sim_iface_name(req->iface)};
    memcpy(params + 3, lits, IMP_COLS * sizeof *lits);
    PGresult *res = ecm_pg_exec(pg, sql, 3 + IMP_COLS, params);
    if (!res) {
        return -1;
    }
    out->new_accounts = store_ll(res, 0, 0);
    out->duplicate_rows = store_ll(res, 0, 1);
    PQclear(res);
    return 0;
}

static int import_record(ecm_pg *pg, const sim_import_req *req, const char *state,
                         const char *result, size_t imported, size_t failed,
                         const sim_import_result *r, const char *detail, long long *import_id)
{
    char cid[16], t[24], i[24], f[24], d[24], pd[24];
    snprintf(cid, sizeof cid, "%d", req->campaign_id);
    snprintf(t, sizeof t, "%zu", req->total_rows);
    snprintf(i, sizeof i, "%zu", imported);
    snprintf(f, sizeof f, "%zu", failed);
    snprintf(d, sizeof d, "%lld", r->duplicate_rows);
    snprintf(pd, sizeof pd, "%lld", r->phone_duplicates);
    const char *params[] = {sim_iface_system(req->iface),
                            cid,
                            sim_iface_name(req->iface),
                            state,
                            result,
                            t,
                            i,
                            f,
                            d,
                            pd,
                            detail && *detail ? detail : NULL};
    PGresult *res = ecm_pg_exec(pg,
                                "INSERT INTO sim_imports (system, campaign_id, interface, state,"
                                " result, total_rows, imported_rows, failed_rows, duplicate_rows,"
                                " phone_duplicate_rows, detail)"
                                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                                " RETURNING import_id",
                                11, params);
    if (!res) {
        return -1;
    }
    *import_id = store_ll(res, 0, 0);
    PQclear(res);
    return 0;
}

static const char *import_result_name(size_t total, size_t imported, size_t failed)
{
    if (failed == 0) {
        return "SUCCESS";
    }
    return imported > 0 || total == 0 ? "PARTIAL_SUCCESS" : "FAILURE";
}

/* Over capacity (UCCX): records the REJECTED import. */
static int import_reject(ecm_pg *pg, const sim_import_req *req, sim_import_result *out)
{
    char why[256];
    snprintf(why, sizeof why, "over capacity: %lld active records + %lld new would exceed %lld",
             out->pending_before, out->new_accounts, req->capacity);
    out->outcome = SIM_IMPORT_OVER_CAPACITY;
    sim_import_result zero = {0};
    return import_record(pg, req, "REJECTED", "FAILURE", 0, req->total_rows, &zero, why,
                         &out->import_id);
}

int sim_store_import_tx(ecm_pg *pg, const sim_import_req *req, sim_import_result *out)
{
    memset(out, 0, sizeof *out);
    char cid[16];
    snprintf(cid, sizeof cid, "%d", req->campaign_id);
    const char *system = sim_iface_system(req->iface);
    unsigned char *drop = req->n ? calloc(req->n, 1) : NULL;
    ecm_pgarr cols[IMP_COLS];
    const char *lits[IMP_COLS];
    int rc = -1, built = 0;
    if ((req->n && !drop) ||
        store_campaign_lock(pg, system, req->campaign_id, req->campaign_name) != 0) {
        goto done;
    }
    if (req->iface != SIM_IF_UCCX && store_ucce_dl_create(pg, req->campaign_id) != 0) {
        goto done;
    }
    if (req->iface == SIM_IF_UCCX && req->check_phones && req->n > 0) {
        out->phone_duplicates = import_phone_dups(pg, cid, req->rows, req->n, drop);
        if (out->phone_duplicates < 0) {
            goto done;
        }
    }
    built = 1;
    if (import_columns(req->rows, req->n, drop, cols, lits) != 0 ||
        import_count(pg, system, cid, lits[0], out) != 0) {
        goto done;
    }
    if (req->capacity > 0 && out->pending_before + out->new_accounts > req->capacity) {
        rc = import_reject(pg, req, out);
        goto done;
    }
    long long phone_dups = out->phone_duplicates;
    if (import_insert(pg, req, cid, lits, out) != 0) {
        goto done;
    }
    out->phone_duplicates = phone_dups;
    size_t kept = req->n - (size_t)phone_dups;
    rc = import_record(pg, req, "COMPLETED",
                       import_result_name(req->total_rows, kept, req->failed_rows), kept,
                       req->failed_rows, out, req->detail, &out->import_id);
    out->outcome = SIM_IMPORT_ACCEPTED;
done:
    if (built) {
        store_arrays_destroy(cols, IMP_COLS);
    }
    free(drop);
    return rc;
}

int sim_store_import(sim_store *s, const sim_import_req *req, sim_import_result *out)
{
    ecm_pg *pg = ecm_pg_pool_get(s->pool);
    int rc = -1;
    /* Over capacity only the campaign and the REJECTED row were written. */
    if (ecm_pg_begin(pg) == 0 && sim_store_import_tx(pg, req, out) == 0) {
        rc = ecm_pg_commit(pg);
    }
    if (rc != 0) {
        store_abort(pg);
        ecm_log_error("import could not be stored", "interface=%s campaign_id=%d rows=%zu",
                      sim_iface_name(req->iface), req->campaign_id, req->n);
    }
    ecm_pg_pool_put(s->pool, pg);
    return rc;
}

#include "gw_upload_load.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_bloom.h"
#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_dnc.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_utf8.h"
#include "ecm_uuid.h"
#include "gw_json.h"
#include "gw_phone_set.h"
#include "gw_upload_lease.h"
#include "gw_upload_limits.h"
#include "gw_upload_report.h"

#define GW_FLUSH_TRIES 3
/* The duplicate filter of an upload: 2^25 bits = 4 MiB, whatever the file
 * (about 1 number in 500 looked up for nothing at 2 M numbers, in the
 * batch's one look-up query). Its pages are all touched within a few
 * batches, so its size adds to the gateway's peak RSS in full (8 MiB made
 * 8 MiB of the peak, docs/performance.md). */
#define GW_UPLOAD_FILTER_LOG2_BITS 25
/* pg_advisory_xact_lock(classid, campaign) that serialises the writing of
 * numbers into one campaign ("ECUP"), from the contact_phones COPY to the
 * commit: a batch looked up numbers before, and the unique index tells it
 * when one came in meanwhile (from the batch before it in the file, or
 * another upload); then it is loaded again with the lock from the start. */
#define GW_UPLOAD_LOCK_CLASS 0x45435550
#define GW_TOPIC_CLOSED_DEFAULT "contacts.closed"

#define COPY_CONTACTS_SQL                                                                          \
    "COPY contacts (id, campaign_id, upload_id, line_no, account_number, first_name, last_name, "  \
    "phones, custom, time_zone, phone_types, phone_zones, phone_regions, region, subject_key, "    \
    "state, outcome, closed_at) FROM STDIN"

/* What the load does with each row of a batch. */
enum { ROW_REJECTED, ROW_DUPLICATE, ROW_LOAD, ROW_LOAD_DNC };

static const char *row_phones(const gw_upload_batch *b, const gw_upload_result *r)
{
    return ecm_buf_ptr(&b->out[r->w]) + r->row.phones_off;
}

/* Decides each row of the batch (duplicate, DNC, load) against what the DB
 * holds, writing the report lines; fills decision[] and the counts. */
static int decide_rows(const gw_upload *u, const gw_upload_batch *b, gw_phone_set *ps,
                       unsigned char *decision, ecm_buf *report, gw_upload_counts *bc)
{
    char reason[256];
    for (size_t i = 0; i < b->nrows; i++) {
        const gw_upload_result *r = &b->res[i];
        long long line = b->rows[i].line;
        if (r->rejected) {
            decision[i] = ROW_REJECTED;
            bc->rejected++;
            if (gw_upload_report_add(report, u->upload_id, line, "rejected",
                                     ecm_buf_ptr(&b->out[r->w]) + r->reason_off) != 0) {
                return -1;
            }
            continue;
        }
        const char *p = row_phones(b, r);
        const gw_phone_entry *dup = NULL;
        int all_dnc = 1;
        for (int k = 0; k < r->row.nphones; k++, p += strlen(p) + 1) {
            gw_phone_entry *e = gw_phone_set_get(ps, p);
            if (e->line > 0 && !dup) {
                dup = e;
            }
            all_dnc = all_dnc && e->dnc;
        }
        if (dup) {
            decision[i] = ROW_DUPLICATE;
            bc->duplicate++;
            if (dup->upload_id == u->upload_id) {
                (void)ecm_utf8_format(reason, sizeof(reason),
                                      "%s is already on line %lld of this file", dup->phone,
                                      dup->line);
            } else {
                (void)ecm_utf8_format(
                    reason, sizeof(reason),
                    "%s is already a contact of this campaign (upload %lld, line %lld)", dup->phone,
                    dup->upload_id, dup->line);
            }
            if (gw_upload_report_add(report, u->upload_id, line, "duplicate", reason) != 0) {
                return -1;
            }
            continue;
        }
        p = row_phones(b, r);
        for (int k = 0; k < r->row.nphones; k++, p += strlen(p) + 1) {
            gw_phone_entry *e = gw_phone_set_get(ps, p);
            e->upload_id = u->upload_id;
            e->line = line;
        }
        bc->loaded++;
        decision[i] = all_dnc ? ROW_LOAD_DNC : ROW_LOAD;
        if (all_dnc) {
            bc->dnc++;
            size_t used = (size_t)snprintf(reason, sizeof(reason), "on the DNC list:");
            p = row_phones(b, r);
            for (int k = 0; k < r->row.nphones && used < sizeof(reason); k++) {
                used += (size_t)snprintf(reason + used, sizeof(reason) - used, "%s %s",
                                         k ? "," : "", p);
                p += strlen(p) + 1;
            }
            if (gw_upload_report_add(report, u->upload_id, line, "dnc", reason) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* Writes the counts of u plus the batch's bc (may be NULL), rows_read,
 * bytes_read and state (when not NULL: the lease ends with it; NULL: the
 * lease is renewed) on pg, inside or outside a transaction; with cp, the
 * checkpoint of that batch too. Fenced: only while the upload is
 * 'running' and this process owns it. Returns 0, 1 when fenced (nothing
 * written) or -1. */
int gw_upload_load_save(ecm_pg *pg, const gw_upload *u, long long rows_read, long long bytes_read,
                        const gw_upload_counts *bc, const char *state, const gw_upload_batch *cp)
{
    static const gw_upload_counts none = {0};
    if (!bc) {
        bc = &none;
    }
    char v[9][24];
    gw_ll_text(v[0], u->upload_id);
    gw_ll_text(v[1], rows_read);
    gw_ll_text(v[2], u->rows_loaded + bc->loaded);
    gw_ll_text(v[3], u->rows_rejected + bc->rejected);
    gw_ll_text(v[4], u->rows_duplicate + bc->duplicate);
    gw_ll_text(v[5], u->rows_dnc + bc->dnc);
    gw_ll_text(v[6], bytes_read);
    gw_ll_text(v[7], cp ? cp->last_line : 0);
    gw_ll_text(v[8], cp ? cp->bytes_read : 0);
    const gw_upload_lease *l = u->app->upload_lease;
    const char *params[] = {v[0],
                            v[1],
                            v[2],
                            v[3],
                            v[4],
                            v[5],
                            v[6],
                            state,
                            gw_upload_lease_owner(l),
                            gw_upload_lease_interval(l),
                            cp ? v[7] : NULL,
                            cp ? v[8] : NULL,
                            cp ? cp->sha : NULL};
    PGresult *r = ecm_pg_exec(
        pg,
        "UPDATE uploads SET rows_read = $2, rows_loaded = $3, rows_rejected = $4, "
        "rows_duplicate = $5, rows_dnc = $6, bytes_read = $7, state = coalesce($8, state), "
        "finished_at = CASE WHEN $8 IN ('done', 'failed') THEN now() END, "
        "interrupted_at = CASE WHEN $8 = 'interrupted' THEN now() END, "
        "lease_until = CASE WHEN $8 IS NULL THEN now() + $10::interval END, "
        "committed_line = coalesce($11::bigint, committed_line), "
        "committed_bytes = coalesce($12::bigint, committed_bytes), "
        "committed_sha256 = coalesce($13, committed_sha256) "
        "WHERE id = $1 AND owner = $9 AND state = 'running' RETURNING id",
        13, params);
    int rc = !r ? -1 : PQntuples(r) == 1 ? 0 : 1;
    PQclear(r);
    return rc;
}

/* The batch's first round trip: JIT off for the transaction (a lookup of
 * thousands of numbers is costed high enough for JIT, whose compiling
 * takes longer than the probes), an id for each row that may load ($3:
 * the rows validation kept; duplicates leave gaps in the sequence, as
 * sequences do), and whether any DNC list applies to the campaign at all
 * (if none, the batch's numbers are not looked up there). Round trips,
 * not rows, are what a batch waits on when the machine is busy. */
static const char SQL_IDS[] = "SELECT nextval('contacts_id_seq'), l.dnc FROM "
                              "(SELECT set_config('jit', 'off', true), EXISTS (SELECT 1 FROM dnc "
                              "WHERE campaign_id IS NULL OR campaign_id = $1::bigint) AS dnc) l, "
                              "generate_series(1, $2::int)";

static const char SQL_LOCK[] =
    "SELECT pg_advisory_xact_lock($1::int, ($2::bigint % 2147483647)::int)";

/* One probe of the campaign's unique index a number, in index order; the
 * LIMIT keeps the planner from a hash join that reads every number of the
 * campaign (which it picks as the campaign grows), and from a scan of all
 * the campaign's numbers with the batch as a filter (which it picks for
 * "phone = ANY($2)" while the campaign's statistics still say it is small). */
static const char SQL_EXISTING[] =
    "SELECT '+' || p.phone, x.upload_id, x.line_no "
    "FROM (SELECT unnest($2::bigint[]) AS phone ORDER BY 1) p CROSS JOIN LATERAL ("
    "SELECT coalesce(c.upload_id, 0) AS upload_id, coalesce(c.line_no, 0) AS line_no "
    "FROM contact_phones cp LEFT JOIN contacts c ON c.id = cp.contact_id "
    "WHERE cp.campaign_id = $1 AND cp.phone = p.phone LIMIT 1) x";

/* DNC entries are keyed by digits: $2 holds the batch's numbers without
 * their '+'. Joined to the unnested array rather than "= ANY($2)", which
 * the planner estimates element by element (milliseconds for a batch). */
static const char SQL_DNC[] =
    "SELECT DISTINCT '+' || d.phone_key FROM unnest($2::text[]) AS p (k) "
    "JOIN dnc d ON d.phone_key = p.k WHERE (d.campaign_id IS NULL OR d.campaign_id = $1) "
    "AND d.channel = (SELECT " ECM_DNC_CHANNEL_SQL(
        "c.channel") " FROM campaigns c WHERE c.id = $1)";

/* The ContactClosed (DNC) of a contact the batch loaded already closed. */
static int add_closed_event(ecm_pg *pg, const gw_upload *u, long long contact_id, int64_t now)
{
    const ecm_outbox_closed c = {
        .campaign_id = u->campaign_id,
        .contact_id = contact_id,
        .attempts = 0,
        .outcome = ECM__V1__OUTCOME__OUTCOME_DNC,
        .occurred_at_ms = now,
    };
    const char *topic = u->app->topic_closed ? u->app->topic_closed : GW_TOPIC_CLOSED_DEFAULT;
    return ecm_outbox_copy_add_closed(pg, topic, u->app->source, &c);
}

/* The batch's ContactsUploaded: the contacts it loaded queued, by id (ids
 * holds one id per loaded row, DNC rows included, in decision order). */
static int add_uploaded_event(ecm_pg *pg, const gw_upload *u, const gw_upload_batch *b,
                              const unsigned char *decision, const PGresult *ids, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        n += decision[i] == ROW_LOAD;
    }
    if (n == 0) {
        return 0;
    }
    int64_t *contact_ids = malloc(n * sizeof(*contact_ids));
    if (!contact_ids) {
        return -1;
    }
    size_t k = 0, j = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        if (decision[i] >= ROW_LOAD) {
            const char *id = PQgetvalue(ids, (int)j++, 0);
            if (decision[i] == ROW_LOAD) {
                contact_ids[k++] = strtoll(id, NULL, 10);
            }
        }
    }
    char event_id[ECM_UUID_LEN], key[24];
    ecm_uuid_new(event_id);
    gw_ll_text(key, u->campaign_id);
    Ecm__V1__ContactsUploaded msg = ECM__V1__CONTACTS_UPLOADED__INIT;
    msg.event_id = event_id;
    msg.occurred_at = now;
    msg.campaign_id = u->campaign_id;
    msg.upload_id = u->upload_id;
    msg.channel = u->channel;
    msg.n_contact_ids = n;
    msg.contact_ids = contact_ids;
    msg.first_line = b->rows[0].line;
    msg.last_line = b->rows[b->nrows - 1].line;
    int rc = ecm_outbox_copy_add(pg, u->app->topic_uploaded, key, u->app->source, event_id, now,
                                 &msg.base);
    free(contact_ids);
    return rc;
}

/* A row of contact_phones: the number's E.164 digits (without the '+'). */
typedef struct {
    long long phone;
    long long contact_id;
} phone_pair;

static int phone_pair_cmp(const void *a, const void *b)
{
    long long x = ((const phone_pair *)a)->phone, y = ((const phone_pair *)b)->phone;
    return (x > y) - (x < y);
}

/* The COPY text of a batch's contact_phones rows, in number order: each
 * lands at a random place of the campaign's index, and in order the
 * insertions of a batch walk that index one way instead of jumping about
 * (a 2 M-number COPY in batches of 10,000: 7.5-10.1 s as they come,
 * 5.8 s sorted a batch at a time). Sorts pairs. */
static int phone_pairs_copy_text(phone_pair *pairs, size_t n, long long campaign_id, ecm_buf *out)
{
    qsort(pairs, n, sizeof(*pairs), phone_pair_cmp);
    char line[80];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(line, sizeof(line), "%lld\t%lld\t%lld\n", campaign_id, pairs[i].phone,
                           pairs[i].contact_id);
        if (len < 0 || (size_t)len >= sizeof(line) || ecm_buf_add(out, line, (size_t)len) != 0) {
            return -1;
        }
    }
    return 0;
}

/* 1 when the number must be looked up in contact_phones. */
static int seen_maybe(const gw_upload *u, const char *phone, int probe_all)
{
    return probe_all || !u->seen || ecm_bloom_maybe(u->seen, phone, strlen(phone));
}

/* One try at loading a batch: what it reads and builds, freed by
 * try_destroy. */
typedef struct {
    gw_upload *u;
    gw_upload_loader *l;
    const gw_upload_batch *b;
    ecm_pg *pg;
    gw_upload_counts *bc;
    int probe_all;
    char cid[24];
    size_t nphones, ncand; /* the numbers of the rows validation kept, those rows */
    ecm_pgarr all;         /* the numbers to look up in contact_phones (digits) */
    ecm_pgarr digits;      /* every number (digits), for the DNC lists */
    PGresult *ids, *existing, *dnc;
    gw_phone_set ps;
    unsigned char *decision;
    phone_pair *pairs;
    size_t npairs;
    ecm_buf report, phones;
    int64_t now;
} load_try;

/* Lists the batch's numbers: all of them (digits) and those to look up. */
static void try_collect(load_try *t)
{
    const gw_upload_batch *b = t->b;
    pthread_mutex_lock(&t->u->seen_mu);
    for (size_t i = 0; i < b->nrows; i++) {
        const gw_upload_result *r = &b->res[i];
        if (r->rejected) {
            continue;
        }
        t->ncand++;
        const char *p = row_phones(b, r);
        for (int k = 0; k < r->row.nphones; k++, p += strlen(p) + 1) {
            if (seen_maybe(t->u, p, t->probe_all)) {
                ecm_pgarr_add_str(&t->all, p + 1); /* contact_phones keeps the digits */
                t->bc->looked_up++;
            }
            ecm_pgarr_add_str(&t->digits, p + 1);
            t->nphones++;
        }
    }
    pthread_mutex_unlock(&t->u->seen_mu);
}

/* Takes the campaign's upload lock. Returns 0 or -1. */
static int try_lock(load_try *t)
{
    char lock_class[GW_LL_TEXT];
    gw_ll_text(lock_class, GW_UPLOAD_LOCK_CLASS);
    const char *params[] = {lock_class, t->cid};
    PGresult *r = ecm_pg_exec(t->pg, SQL_LOCK, 2, params);
    PQclear(r);
    return r ? 0 : -1;
}

/* The ids, and what the database knows of the batch's numbers (already a
 * contact, on a DNC list) into t->ps. Returns 0 or -1. */
static int try_lookup(load_try *t, const char *all_lit, const char *digits_lit)
{
    char ncand_s[GW_LL_TEXT];
    gw_ll_text(ncand_s, (long long)t->ncand);
    const char *ids_params[] = {t->cid, ncand_s};
    const char *lookup_params[] = {t->cid, all_lit};
    const char *dnc_params[] = {t->cid, digits_lit};
    if (t->ncand > 0) {
        t->ids = ecm_pg_exec(t->pg, SQL_IDS, 2, ids_params);
        if (!t->ids || PQntuples(t->ids) != (int)t->ncand) {
            return -1;
        }
    }
    if (t->nphones == 0) {
        return 0;
    }
    int lookup = t->bc->looked_up > 0;
    t->existing = lookup ? ecm_pg_exec(t->pg, SQL_EXISTING, 2, lookup_params) : NULL;
    int dnc_any = t->ids && PQgetvalue(t->ids, 0, 1)[0] == 't';
    t->dnc = dnc_any ? ecm_pg_exec(t->pg, SQL_DNC, 2, dnc_params) : NULL;
    if ((lookup && !t->existing) || (dnc_any && !t->dnc)) {
        return -1;
    }
    for (int i = 0; t->existing && i < PQntuples(t->existing); i++) {
        gw_phone_entry *e = gw_phone_set_get(&t->ps, PQgetvalue(t->existing, i, 0));
        e->upload_id = strtoll(PQgetvalue(t->existing, i, 1), NULL, 10);
        e->line = strtoll(PQgetvalue(t->existing, i, 2), NULL, 10);
        if (e->line <= 0) {
            e->line = 1; /* a contact without a line is still a contact */
        }
    }
    for (int i = 0; t->dnc && i < PQntuples(t->dnc); i++) {
        gw_phone_set_get(&t->ps, PQgetvalue(t->dnc, i, 0))->dnc = 1;
    }
    return 0;
}

/* COPY of the rows that load into contacts, each under its id (queued, or
 * closed 'DNC'); collects their (number, id) pairs and makes their COPY
 * text for contact_phones in t->phones. Returns 0 or -1. */
static int try_copy_contacts(load_try *t)
{
    const gw_upload_batch *b = t->b;
    char closed_at[40];
    ecm_clock_format_ms(t->now, closed_at, sizeof(closed_at));
    if (ecm_pg_copy_begin(t->pg, COPY_CONTACTS_SQL) != 0) {
        return -1;
    }
    char prefix[96], suffix[64];
    int k = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        if (t->decision[i] < ROW_LOAD) {
            continue;
        }
        const gw_upload_result *r = &b->res[i];
        const char *id = PQgetvalue(t->ids, k++, 0);
        int pn = snprintf(prefix, sizeof(prefix), "%s\t%lld\t%lld\t", id, t->u->campaign_id,
                          t->u->upload_id);
        int sn = t->decision[i] == ROW_LOAD_DNC
                     ? snprintf(suffix, sizeof(suffix), "\tclosed\tDNC\t%s\n", closed_at)
                     : snprintf(suffix, sizeof(suffix), "\tqueued\t\\N\t\\N\n");
        if (pn < 0 || (size_t)pn >= sizeof(prefix) || sn < 0 || (size_t)sn >= sizeof(suffix) ||
            ecm_pg_copy_put(t->pg, prefix, (size_t)pn) != 0 ||
            ecm_pg_copy_put(t->pg, ecm_buf_ptr(&b->out[r->w]) + r->row.copy_off, r->row.copy_len) !=
                0 ||
            ecm_pg_copy_put(t->pg, suffix, (size_t)sn) != 0) {
            return -1;
        }
        const char *p = row_phones(b, r);
        for (int j = 0; j < r->row.nphones; j++, p += strlen(p) + 1) {
            t->pairs[t->npairs].phone = strtoll(p + 1, NULL, 10);
            t->pairs[t->npairs++].contact_id = strtoll(id, NULL, 10);
        }
    }
    /* Made while the server still works through the rows sent (the socket
     * holds thousands), not after, when it would wait for them. */
    if (phone_pairs_copy_text(t->pairs, t->npairs, t->u->campaign_id, &t->phones) != 0) {
        (void)ecm_pg_copy_end(t->pg);
        return -1;
    }
    return ecm_pg_copy_end(t->pg) != 0 ? -1 : 0;
}

/* COPY of the loaded numbers (t->phones, made by try_copy_contacts) into
 * contact_phones. Returns 0, -1, or 1 when
 * the unique index refused a number the filter ruled out (not probe_all). */
static int try_copy_phones(load_try *t)
{
    ecm_pg_expect_sqlstate(t->pg, t->probe_all ? NULL : "23505");
    int prc = ecm_pg_copy_begin(t->pg, "COPY contact_phones (campaign_id, phone, contact_id) "
                                       "FROM STDIN") != 0 ||
              ecm_pg_copy_put(t->pg, ecm_buf_ptr(&t->phones), ecm_buf_len(&t->phones)) != 0 ||
              ecm_pg_copy_end(t->pg) != 0;
    ecm_pg_expect_sqlstate(t->pg, NULL);
    if (!prc) {
        return 0;
    }
    /* unique_violation */
    return !t->probe_all && strcmp(ecm_pg_last_sqlstate(t->pg), "23505") == 0 ? 1 : -1;
}

/* The outbox events: the batch's ContactsUploaded and a ContactClosed a DNC
 * row. Returns 0 or -1. */
static int try_events(load_try *t)
{
    const gw_upload_batch *b = t->b;
    if (ecm_outbox_copy_begin(t->pg) != 0 ||
        add_uploaded_event(t->pg, t->u, b, t->decision, t->ids, t->now) != 0) {
        return -1;
    }
    int k = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        if (t->decision[i] < ROW_LOAD) {
            continue;
        }
        const char *key = PQgetvalue(t->ids, k++, 0);
        if (t->decision[i] == ROW_LOAD_DNC &&
            add_closed_event(t->pg, t->u, strtoll(key, NULL, 10), t->now) != 0) {
            return -1;
        }
    }
    return ecm_outbox_copy_end(t->pg) != 0 ? -1 : 0;
}

/* The report rows, the counts and checkpoint, and the commit. The fence:
 * the batch commits only while the row still names this process as the
 * owner of a running upload (the sweep of another gateway locks the row
 * FOR UPDATE, so one of the two waits). Returns 0 or -1 (u->fenced set
 * when fenced). */
static int try_commit(load_try *t)
{
    gw_upload *u = t->u;
    if (gw_upload_report_copy(t->pg, &t->report) != 0) {
        return -1;
    }
    int saved = gw_upload_load_save(t->pg, u, t->b->rows_read, t->b->bytes_read, t->bc, NULL, t->b);
    if (saved == 1) {
        u->fenced = 1;
        ecm_log_warn("upload batch refused",
                     "upload_id=%lld first_line=%lld reason=the upload was "
                     "marked interrupted (this gateway's lease ran out); nothing more is loaded",
                     u->upload_id, t->b->rows[0].line);
    }
    return saved != 0 || ecm_pg_commit(t->pg) != 0 ? -1 : 0;
}

/* Adds the numbers the batch loaded to the upload's filter. */
static void try_seen_add(const load_try *t)
{
    const gw_upload_batch *b = t->b;
    pthread_mutex_lock(&t->u->seen_mu);
    for (size_t i = 0; t->u->seen && i < b->nrows; i++) {
        if (t->decision[i] >= ROW_LOAD) {
            const gw_upload_result *r = &b->res[i];
            const char *p = row_phones(b, r);
            for (int k = 0; k < r->row.nphones; k++, p += strlen(p) + 1) {
                ecm_bloom_add(t->u->seen, p, strlen(p));
            }
        }
    }
    pthread_mutex_unlock(&t->u->seen_mu);
}

static void try_destroy(load_try *t)
{
    PQclear(t->existing);
    PQclear(t->dnc);
    PQclear(t->ids);
    gw_phone_set_destroy(&t->ps);
    free(t->decision);
    free(t->pairs);
    ecm_pgarr_destroy(&t->all);
    ecm_pgarr_destroy(&t->digits);
    ecm_buf_destroy(&t->report);
    ecm_buf_destroy(&t->phones);
}

/* Waits until it is l's batch's turn to commit: every batch before it in
 * the file is in, or one of them failed. Returns 0, or -1 when one failed
 * (this one must not commit either: the checkpoint would pass a batch that
 * is not in). */
static int turn_wait(gw_upload_loader *l)
{
    gw_upload *u = l->u;
    pthread_mutex_lock(&u->load_mu);
    while (u->turn != l->seq) {
        pthread_cond_wait(&u->load_cv, &u->load_mu);
    }
    l->in_turn = 1;
    int rc = u->load_rc;
    pthread_mutex_unlock(&u->load_mu);
    return rc;
}

/* Gives the turn to the next batch, failed when l's batch is not in. */
static void turn_pass(gw_upload_loader *l, int failed)
{
    gw_upload *u = l->u;
    pthread_mutex_lock(&u->load_mu);
    if (failed) {
        u->load_rc = -1;
    }
    u->turn = l->seq + 1;
    l->in_turn = 0;
    pthread_cond_broadcast(&u->load_cv);
    pthread_mutex_unlock(&u->load_mu);
}

/* The writes of a decided batch, timed into bc: its contacts beside the
 * batch before it, then, in its turn and under the campaign's lock, its
 * numbers, events and checkpoint. Returns 0, -1, 1 (see try_copy_phones)
 * or 2 (a batch before it failed). */
static int try_write(load_try *t)
{
    gw_upload_counts *bc = t->bc;
    int64_t ms = ecm_clock_mono_ms();
    t->now = ecm_clock_now_ms();
    if (bc->loaded > 0) {
        if (try_copy_contacts(t) != 0) {
            return -1;
        }
        bc->ms_contacts = ecm_clock_mono_ms() - ms;
        ms = ecm_clock_mono_ms();
    }
    if (!t->l->in_turn && turn_wait(t->l) != 0) {
        return 2;
    }
    if (!t->probe_all && try_lock(t) != 0) {
        return -1;
    }
    bc->ms_turn = ecm_clock_mono_ms() - ms;
    ms = ecm_clock_mono_ms();
    if (bc->loaded > 0) {
        int prc = try_copy_phones(t);
        if (prc != 0) {
            return prc;
        }
        bc->ms_phones = ecm_clock_mono_ms() - ms;
        ms = ecm_clock_mono_ms();
        if (try_events(t) != 0) {
            return -1;
        }
        bc->ms_outbox = ecm_clock_mono_ms() - ms;
        ms = ecm_clock_mono_ms();
    }
    if (try_commit(t) != 0) {
        return -1;
    }
    bc->ms_commit = ecm_clock_mono_ms() - ms;
    return 0;
}

/* The batch's whole transaction; with probe_all every number is looked up
 * (under the campaign's lock from the start: only in its turn), else only
 * those u->seen does not rule out. Returns 0 with *bc set, -1 (rolled
 * back), 1 (rolled back: a number the filter ruled out is in contact_phones
 * after all, loaded by the batch before or another upload since the filter
 * was filled or the batch looked; load again with probe_all) or 2 (rolled
 * back: a batch before it failed). After -1 u->fenced tells whether the
 * upload was no longer this process's to load. */
static int load_once(gw_upload_loader *l, ecm_pg *pg, gw_upload_counts *bc, int probe_all)
{
    gw_upload *u = l->u;
    const gw_upload_batch *b = l->b;
    load_try t = {.u = u, .l = l, .b = b, .pg = pg, .bc = bc, .probe_all = probe_all};
    /* A report line: its head and a reason of GW_UPLOAD_REASON_MAX bytes,
     * each escaped to at most two; a contact_phones line: three integers. */
    ecm_buf_init(&t.report, (b->nrows + 1) * (96 + 2 * GW_UPLOAD_REASON_MAX));
    ecm_pgarr_init(&t.all);
    ecm_pgarr_init(&t.digits);
    memset(bc, 0, sizeof(*bc));
    t.decision = malloc(b->nrows ? b->nrows : 1);
    try_collect(&t);
    ecm_buf_init(&t.phones, (t.nphones + 1) * 64);
    const char *all_lit = ecm_pgarr_finish(&t.all);
    const char *digits_lit = ecm_pgarr_finish(&t.digits);
    gw_ll_text(t.cid, u->campaign_id);
    t.pairs = malloc((t.nphones ? t.nphones : 1) * sizeof(*t.pairs));
    if (!t.decision || !t.pairs || !all_lit || !digits_lit ||
        gw_phone_set_init(&t.ps, t.nphones) != 0) {
        try_destroy(&t);
        return -1;
    }
    int64_t ms = ecm_clock_mono_ms();
    if (ecm_pg_begin_timeout(pg, GW_UPLOAD_STATEMENT_TIMEOUT_MS) != 0) {
        try_destroy(&t);
        return -1;
    }
    int rc = -1;
    if ((!probe_all || try_lock(&t) == 0) && try_lookup(&t, all_lit, digits_lit) == 0 &&
        decide_rows(u, b, &t.ps, t.decision, &t.report, bc) == 0) {
        bc->ms_lookup = ecm_clock_mono_ms() - ms;
        rc = try_write(&t);
    }
    if (rc == 0) {
        try_seen_add(&t);
    } else {
        ecm_pg_rollback(pg);
    }
    try_destroy(&t);
    return rc;
}

/* After a lost connection the COMMIT may have gone through unseen: the
 * upload row's rows_read tells, since it is written in the batch's
 * transaction and every batch adds to it. */
static int batch_already_committed(const gw_upload *u, const gw_upload_batch *b, ecm_pg *pg)
{
    char id[24];
    gw_ll_text(id, u->upload_id);
    const char *params[] = {id};
    PGresult *r = ecm_pg_exec(pg, "SELECT rows_read FROM uploads WHERE id = $1", 1, params);
    int done = 0;
    if (r && PQntuples(r) == 1) {
        done = strtoll(PQgetvalue(r, 0, 0), NULL, 10) == b->rows_read;
    }
    PQclear(r);
    return done;
}

/* Fills u->seen with the numbers the campaign has before the upload's
 * first batch, read through a cursor so that memory stays bounded however
 * big the campaign. On failure (out of memory, database trouble) u->seen
 * stays NULL and every number is looked up. */
static void seen_fill_locked(gw_upload *u, ecm_pg *pg)
{
    ecm_bloom *seen = ecm_bloom_new(GW_UPLOAD_FILTER_LOG2_BITS);
    if (!seen) {
        return;
    }
    char cid[24];
    gw_ll_text(cid, u->campaign_id);
    const char *params[] = {cid};
    int ok = ecm_pg_begin(pg) == 0 &&
             ecm_pg_cmd(pg,
                        "DECLARE gw_seen NO SCROLL CURSOR FOR "
                        "SELECT '+' || phone FROM contact_phones WHERE campaign_id = $1",
                        1, params) >= 0;
    while (ok) {
        PGresult *r = ecm_pg_exec(pg, "FETCH 20000 FROM gw_seen", 0, NULL);
        if (!r) {
            ok = 0;
            break;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            ecm_bloom_add(seen, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
        }
        PQclear(r);
        if (n == 0) {
            break;
        }
    }
    if (ok && ecm_pg_commit(pg) == 0) {
        u->seen = seen;
        ecm_log_debug("upload duplicate filter filled", "upload_id=%lld campaign_numbers=%zu",
                      u->upload_id, ecm_bloom_count(seen));
        return;
    }
    ecm_pg_rollback(pg);
    ecm_bloom_destroy(seen);
}

/* Fills u->seen once: the first loader to come does, the other waits. */
static void seen_fill(gw_upload *u, ecm_pg *pg)
{
    pthread_mutex_lock(&u->seen_mu);
    if (!u->seen && !u->seen_tried) {
        u->seen_tried = 1;
        seen_fill_locked(u, pg);
    }
    pthread_mutex_unlock(&u->seen_mu);
}

/* After the batch committed unseen (a lost connection): its counts, from
 * the upload's row against those of the batches before it. */
static void counts_reread(gw_upload *u, gw_upload_counts *bc)
{
    ecm_pg *pg = ecm_pg_pool_get_within(u->app->pool, 0);
    char id[24];
    gw_ll_text(id, u->upload_id);
    const char *params[] = {id};
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT rows_loaded, rows_rejected, rows_duplicate, rows_dnc "
                              "FROM uploads WHERE id = $1",
                              1, params);
    if (r && PQntuples(r) == 1) {
        bc->loaded = strtoll(PQgetvalue(r, 0, 0), NULL, 10) - u->rows_loaded;
        bc->rejected = strtoll(PQgetvalue(r, 0, 1), NULL, 10) - u->rows_rejected;
        bc->duplicate = strtoll(PQgetvalue(r, 0, 2), NULL, 10) - u->rows_duplicate;
        bc->dnc = strtoll(PQgetvalue(r, 0, 3), NULL, 10) - u->rows_dnc;
    }
    PQclear(r);
    ecm_pg_pool_put(u->app->pool, pg);
}

/* Loads l's batch, retrying when the connection broke. Returns 1 (loaded),
 * 2 (committed by a try whose answer was lost) or 0 (not loaded). */
static int load_tries(gw_upload_loader *l, gw_upload_counts *bc)
{
    gw_upload *u = l->u;
    int ok = 0;
    int probe_all = 0;
    for (int t = 0; t < GW_FLUSH_TRIES && !ok; t++) {
        ecm_pg *pg = ecm_pg_pool_get_within(u->app->pool, 0); /* admitted: no bound */
        seen_fill(u, pg);
        int lrc = -1;
        if (t > 0 && l->in_turn && batch_already_committed(u, l->b, pg)) {
            /* Counts of this batch are lost with the answer: recompute
             * them from the decisions the committed try made. */
            ok = 2;
        } else if ((lrc = load_once(l, pg, bc, probe_all)) == 0) {
            ok = 1;
        }
        /* u->fenced is written in turn only. */
        int fenced = l->in_turn && u->fenced;
        int broken = ok || lrc == 1 || lrc == 2 || fenced ? 0 : ecm_pg_check_broken(pg);
        ecm_pg_pool_put(u->app->pool, pg);
        if (lrc == 1) {
            u->seen_rechecks++;
            ecm_log_info("upload batch checked again with every number looked up",
                         "upload_id=%lld first_line=%lld reason=a number was loaded meanwhile "
                         "(by the batch before it or another upload); the rest of the upload "
                         "loads one batch at a time",
                         u->upload_id, l->b->rows[0].line);
            pthread_mutex_lock(&u->load_mu);
            u->one_loader = 1;
            pthread_mutex_unlock(&u->load_mu);
            probe_all = 1;
            t--; /* not a failure */
        } else if (!ok && !broken) {
            break;
        }
    }
    return ok;
}

/* The loader thread: loads its batch in file order with the other loaders,
 * then adds its counts and rejected rows to u in its turn. */
void *gw_upload_load_run(void *arg)
{
    gw_upload_loader *l = arg;
    gw_upload *u = l->u;
    const gw_upload_batch *b = l->b;
    int64_t started = ecm_clock_mono_ms();
    gw_upload_counts bc = {0};
    int ok = load_tries(l, &bc);
    if (!l->in_turn) {
        (void)turn_wait(l); /* failed before its turn: the counts stay as they are */
    }
    if (!ok) {
        turn_pass(l, 1);
        return NULL;
    }
    if (ok == 1) {
        u->seen_lookups += bc.looked_up;
    } else {
        counts_reread(u, &bc);
    }
    for (size_t i = 0; i < b->nrows; i++) {
        const gw_upload_result *r = &b->res[i];
        if (r->rejected) {
            gw_upload_report_answer(u->errors, b->rows[i].line,
                                    ecm_buf_ptr(&b->out[r->w]) + r->reason_off);
        }
    }
    u->rows_loaded += bc.loaded;
    u->rows_rejected += bc.rejected;
    u->rows_duplicate += bc.duplicate;
    u->rows_dnc += bc.dnc;
    turn_pass(l, 0);
    ecm_log_debug("upload batch loaded",
                  "upload_id=%lld rows=%zu loaded=%lld validate_ms=%lld load_ms=%lld "
                  "lookup_ms=%lld contacts_ms=%lld turn_ms=%lld phones_ms=%lld outbox_ms=%lld "
                  "commit_ms=%lld looked_up=%lld threads=%d",
                  u->upload_id, b->nrows, bc.loaded, (long long)b->validate_ms,
                  (long long)(ecm_clock_mono_ms() - started), bc.ms_lookup, bc.ms_contacts,
                  bc.ms_turn, bc.ms_phones, bc.ms_outbox, bc.ms_commit, bc.looked_up, b->threads);
    return NULL;
}

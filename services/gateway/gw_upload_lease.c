#include "gw_upload_lease.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_utf8.h"
#include "ecm_uuid.h"

struct gw_upload_lease {
    char owner[ECM_UUID_LEN + 300];
    char interval[32];
    pthread_mutex_t mu;
    long long *ids;
    size_t n, cap;
};

gw_upload_lease *gw_upload_lease_new(int lease_s)
{
    gw_upload_lease *l = calloc(1, sizeof(*l));
    if (!l) {
        return NULL;
    }
    char id[ECM_UUID_LEN], host[256];
    ecm_uuid_new(id);
    if (gethostname(host, sizeof(host)) != 0) {
        (void)snprintf(host, sizeof(host), "?");
    }
    host[sizeof(host) - 1] = '\0';
    (void)ecm_utf8_format(l->owner, sizeof(l->owner), "%s %s:%ld", id, host, (long)getpid());
    /* An int's seconds always fit: 11 characters and " seconds". */
    int n = snprintf(l->interval, sizeof(l->interval), "%d seconds", lease_s > 0 ? lease_s : 1);
    if (n < 0 || (size_t)n >= sizeof(l->interval)) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void gw_upload_lease_destroy(gw_upload_lease *l)
{
    if (!l) {
        return;
    }
    pthread_mutex_destroy(&l->mu);
    free(l->ids);
    free(l);
}

const char *gw_upload_lease_owner(const gw_upload_lease *l)
{
    return l->owner;
}

const char *gw_upload_lease_interval(const gw_upload_lease *l)
{
    return l->interval;
}

int gw_upload_lease_hold(gw_upload_lease *l, long long upload_id)
{
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        long long *ids = realloc(l->ids, cap * sizeof(*ids));
        if (ids) {
            l->ids = ids;
            l->cap = cap;
        } else {
            rc = -1;
        }
    }
    if (rc == 0) {
        l->ids[l->n++] = upload_id;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void gw_upload_lease_drop(gw_upload_lease *l, long long upload_id)
{
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++) {
        if (l->ids[i] == upload_id) {
            l->ids[i] = l->ids[--l->n];
            break;
        }
    }
    pthread_mutex_unlock(&l->mu);
}

size_t gw_upload_lease_held(gw_upload_lease *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

long long gw_upload_lease_renew(gw_upload_lease *l, ecm_pg *pg)
{
    ecm_pgarr ids;
    ecm_pgarr_init(&ids);
    pthread_mutex_lock(&l->mu);
    size_t n = l->n;
    for (size_t i = 0; i < l->n; i++) {
        ecm_pgarr_add_int(&ids, l->ids[i]);
    }
    pthread_mutex_unlock(&l->mu);
    if (n == 0) {
        ecm_pgarr_destroy(&ids);
        return 0;
    }
    const char *params[] = {ecm_pgarr_finish(&ids), l->owner, l->interval};
    PGresult *r = params[0] ? ecm_pg_exec(pg,
                                          "UPDATE uploads SET lease_until = now() + $3::interval "
                                          "WHERE id = ANY($1::bigint[]) AND owner = $2 "
                                          "AND state = 'running' RETURNING id",
                                          3, params)
                            : NULL;
    ecm_pgarr_destroy(&ids);
    long long renewed = r ? PQntuples(r) : -1;
    PQclear(r);
    return renewed;
}

/* What an UPDATE ... RETURNING of interrupted uploads gives: id, kind,
 * campaign_id or 0, committed_line, the five counts, owner. */
#define INTERRUPTED_RETURNING                                                                      \
    "RETURNING u.id, u.kind, coalesce(u.campaign_id, 0), u.committed_line, u.rows_read, "          \
    "u.rows_loaded, u.rows_rejected, u.rows_duplicate, u.rows_dnc, coalesce(u.owner, '')"

/* Marks the expired uploads, at most 100 a transaction (the next sweep
 * takes the rest). */
static const char SQL_SWEEP[] =
    "UPDATE uploads u SET state = 'interrupted', interrupted_at = now(), lease_until = NULL "
    "FROM (SELECT id FROM uploads WHERE state = 'running' AND lease_until < now() "
    "      ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED) x "
    "WHERE u.id = x.id " INTERRUPTED_RETURNING;

/* Marks one upload its owner (still 'running') gives up on. */
static const char SQL_INTERRUPT[] =
    "UPDATE uploads u SET state = 'interrupted', interrupted_at = now(), lease_until = NULL "
    "WHERE u.id = $1 AND u.owner = $2 AND u.state = 'running' " INTERRUPTED_RETURNING;

/* Runs sql (an UPDATE ... INTERRUPTED_RETURNING) and adds an
 * UploadInterrupted event for each row, in one transaction on pg; logs each
 * with why. Returns how many, or -1 (nothing marked). */
static long long interrupt_rows(ecm_pg *pg, const char *sql, int nparams, const char *const *params,
                                const char *topic, const char *source, const char *why)
{
    if (ecm_pg_begin(pg) != 0) {
        return -1;
    }
    PGresult *r = ecm_pg_exec(pg, sql, nparams, params);
    if (!r) {
        ecm_pg_rollback(pg);
        return -1;
    }
    int n = PQntuples(r);
    int64_t now = ecm_clock_wall_ms();
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        char event_id[ECM_UUID_LEN];
        ecm_uuid_new(event_id);
        Ecm__V1__UploadInterrupted ev = ECM__V1__UPLOAD_INTERRUPTED__INIT;
        ev.event_id = event_id;
        ev.occurred_at = now;
        ev.upload_id = ecm_pgval_ll(r, i, 0, 0);
        ev.kind = PQgetvalue(r, i, 1);
        ev.campaign_id = ecm_pgval_ll(r, i, 2, 0);
        ev.committed_line = ecm_pgval_ll(r, i, 3, 0);
        ev.rows_read = ecm_pgval_ll(r, i, 4, 0);
        ev.rows_loaded = ecm_pgval_ll(r, i, 5, 0);
        ev.rows_rejected = ecm_pgval_ll(r, i, 6, 0);
        ev.rows_duplicate = ecm_pgval_ll(r, i, 7, 0);
        ev.rows_dnc = ecm_pgval_ll(r, i, 8, 0);
        ev.owner = PQgetvalue(r, i, 9);
        ok = ecm_outbox_add(pg, topic ? topic : GW_TOPIC_UPLOADS_DEFAULT, PQgetvalue(r, i, 0),
                            source, event_id, now, &ev.base) == 0;
    }
    if (!ok || ecm_pg_commit(pg) != 0) {
        if (!ok) {
            ecm_pg_rollback(pg);
        }
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        ecm_log_warn("upload interrupted",
                     "upload_id=%s kind=%s committed_line=%s rows_loaded=%s owner=%s reason=%s",
                     PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 3),
                     PQgetvalue(r, i, 5), PQgetvalue(r, i, 9), why);
    }
    PQclear(r);
    return n;
}

long long gw_upload_lease_sweep(ecm_pg *pg, const char *topic, const char *source)
{
    return interrupt_rows(pg, SQL_SWEEP, 0, NULL, topic, source,
                          "its gateway stopped renewing the lease");
}

int gw_upload_lease_interrupt(gw_upload_lease *l, ecm_pg *pg, long long upload_id,
                              const char *topic, const char *source, const char *why)
{
    char id[24];
    if (snprintf(id, sizeof id, "%lld", upload_id) >= (int)sizeof id) {
        return -1;
    }
    const char *params[] = {id, gw_upload_lease_owner(l)};
    long long n = interrupt_rows(pg, SQL_INTERRUPT, 2, params, topic, source, why);
    return n < 0 ? -1 : (int)n;
}

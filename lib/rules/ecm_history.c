#include "ecm_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_pgarray.h"
#include "ecm_pgval.h"

/* One lock per distinct subject and number, taken in the order of their
 * hashes. The seed keeps these keys apart from the other advisory locks. */
static const char LOCK_SQL[] = "SELECT count(pg_advisory_xact_lock(x.h)) FROM (SELECT DISTINCT "
                               "hashtextextended(v, 1162038600) AS h FROM unnest($1::text[]) AS v "
                               "WHERE v IS NOT NULL AND v <> '' ORDER BY 1) x";

/* Each key's attempts in scope dispatched, or whose outcome came, since $4
 * (epoch ms, business time; a quiet period counts from a result that may
 * come long after its dispatch), with the bits of what they share with the
 * key: 1 contact, 2 subject, 4 number. Each branch is keyed by the contact,
 * the subject or the number first, so the time test filters few rows. An
 * attempt withdrawn from the dialer undialled (status 'withdrawn'; one
 * dialled all the same is 'done' once its result is in) was no call and is
 * left out. */
static const char LOAD_SQL[] =
    "WITH k AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) "
    "  WITH ORDINALITY AS k (cid, subj, pk, i)), "
    "since AS (SELECT 'epoch'::timestamptz + $4::bigint * interval '1 millisecond' AS t) "
    "SELECT k.i - 1, (extract(epoch FROM a.dispatched_at) * 1000)::bigint, "
    "  coalesce((extract(epoch FROM coalesce(a.outcome_at, a.result_at)) * 1000)::bigint, 0), "
    "  a.outcome, a.channel, "
    "  (CASE WHEN a.contact_id = k.cid THEN 1 ELSE 0 END) "
    "  | (CASE WHEN k.subj IS NOT NULL AND ac.subject_key = k.subj THEN 2 ELSE 0 END) "
    "  | (CASE WHEN k.pk IS NOT NULL AND a.phone_key = k.pk THEN 4 ELSE 0 END) "
    "FROM k CROSS JOIN since JOIN LATERAL ("
    "  SELECT a.contact_id, a.attempt FROM attempts a "
    "   WHERE a.contact_id = k.cid AND (a.dispatched_at >= since.t OR a.outcome_at >= since.t) "
    "  UNION SELECT a.contact_id, a.attempt FROM contacts c2 JOIN attempts a ON a.contact_id = "
    "c2.id "
    "   WHERE k.subj IS NOT NULL AND c2.subject_key = k.subj AND (a.dispatched_at >= since.t OR "
    "a.outcome_at >= since.t) "
    "  UNION SELECT a.contact_id, a.attempt FROM attempts a "
    "   WHERE k.pk IS NOT NULL AND a.phone_key = k.pk AND (a.dispatched_at >= since.t OR "
    "a.outcome_at >= since.t)"
    ") m ON true "
    "JOIN attempts a ON a.contact_id = m.contact_id AND a.attempt = m.attempt "
    "JOIN contacts ac ON ac.id = a.contact_id WHERE a.status <> 'withdrawn'";

typedef struct {
    int64_t contact_id;
    char *subject, *phone;
    ecm_rules_attempt *list;
    size_t n, cap;
} key_history;

struct ecm_history {
    key_history *keys;
    size_t n;
    PGresult *rows; /* the outcomes point into it */
};

static int push(key_history *k, const ecm_rules_attempt *a)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 8;
        ecm_rules_attempt *l = realloc(k->list, cap * sizeof *l);
        if (!l)
            return -1;
        k->list = l;
        k->cap = cap;
    }
    k->list[k->n++] = *a;
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

static ecm_rules_channel channel_of(const char *s)
{
    return s && strcmp(s, "sms") == 0 ? ECM_RULES_SMS : ECM_RULES_VOICE;
}

char *ecm_history_phone_key(const char *phone)
{
    char *d = malloc(strlen(phone) + 1), *o = d;
    if (!d)
        return NULL;
    for (; *phone; phone++)
        if (*phone >= '0' && *phone <= '9')
            *o++ = *phone;
    *o = '\0';
    return d;
}

static int same_str(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Reads the rows of LOAD_SQL into h's keys. Returns 0 or -1. */
static int fill(ecm_history *h)
{
    for (int r = 0; r < PQntuples(h->rows); r++) {
        long long i = ecm_pgval_ll(h->rows, r, 0, -1);
        if (i < 0 || (size_t)i >= h->n)
            continue;
        ecm_rules_attempt a = {
            .dispatched_ms = ecm_pgval_ll(h->rows, r, 1, 0),
            .result_ms = ecm_pgval_ll(h->rows, r, 2, 0),
            .outcome = PQgetisnull(h->rows, r, 3) ? NULL : PQgetvalue(h->rows, r, 3),
            .channel = channel_of(PQgetvalue(h->rows, r, 4)),
            .same = (unsigned)ecm_pgval_ll(h->rows, r, 5, 0),
        };
        if (push(&h->keys[i], &a) < 0)
            return -1;
    }
    return 0;
}

static int query(ecm_history *h, ecm_pg *pg, int64_t since_ms, int lock)
{
    ecm_pgarr ids, subj, pk, locks;
    ecm_pgarr *all[] = {&ids, &subj, &pk, &locks};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        ecm_pgarr_init(all[k]);
    char buf[300];
    for (size_t i = 0; i < h->n; i++) {
        const key_history *k = &h->keys[i];
        ecm_pgarr_add_int(&ids, k->contact_id);
        if (k->subject) {
            ecm_pgarr_add_str(&subj, k->subject);
            if ((size_t)snprintf(buf, sizeof buf, "s:%s", k->subject) < sizeof buf)
                ecm_pgarr_add_str(&locks, buf);
        } else {
            ecm_pgarr_add_str(&subj, NULL);
        }
        if (k->phone) {
            ecm_pgarr_add_str(&pk, k->phone);
            if ((size_t)snprintf(buf, sizeof buf, "p:%s", k->phone) < sizeof buf)
                ecm_pgarr_add_str(&locks, buf);
        } else {
            ecm_pgarr_add_str(&pk, NULL);
        }
    }
    char since[32];
    int nlocks = locks.n;
    const char *pl[1] = {ecm_pgarr_finish(&locks)};
    const char *p[4] = {ecm_pgarr_finish(&ids), ecm_pgarr_finish(&subj), ecm_pgarr_finish(&pk),
                        since};
    int rc =
        p[0] && p[1] && p[2] && pl[0] &&
                (size_t)snprintf(since, sizeof since, "%lld", (long long)since_ms) < sizeof since
            ? 0
            : -1;
    if (rc == 0 && lock && nlocks > 0) {
        PGresult *l = ecm_pg_exec(pg, LOCK_SQL, 1, pl);
        rc = l ? 0 : -1;
        PQclear(l);
    }
    if (rc == 0) {
        h->rows = ecm_pg_exec(pg, LOAD_SQL, 4, p);
        rc = h->rows && fill(h) == 0 ? 0 : -1;
    }
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        ecm_pgarr_destroy(all[k]);
    return rc;
}

ecm_history *ecm_history_load(ecm_pg *pg, const ecm_history_key *keys, size_t n, int64_t since_ms,
                              int lock)
{
    ecm_history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->n = n;
    if (n == 0)
        return h;
    h->keys = calloc(n, sizeof *h->keys);
    if (!h->keys)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        key_history *k = &h->keys[i];
        k->contact_id = keys[i].contact_id;
        k->subject = dup_or_null(keys[i].subject_key);
        k->phone = dup_or_null(keys[i].phone_key);
        if ((keys[i].subject_key && keys[i].subject_key[0] && !k->subject) ||
            (keys[i].phone_key && keys[i].phone_key[0] && !k->phone))
            goto fail;
    }
    if (query(h, pg, since_ms, lock) < 0)
        goto fail;
    return h;
fail:
    ecm_history_destroy(h);
    return NULL;
}

const ecm_rules_attempt *ecm_history_of(const ecm_history *h, size_t i, size_t *count)
{
    if (!h || i >= h->n) {
        *count = 0;
        return NULL;
    }
    *count = h->keys[i].n;
    return h->keys[i].list;
}

int ecm_history_add_dispatch(ecm_history *h, size_t i, int64_t at_ms, ecm_rules_channel ch)
{
    if (!h || i >= h->n)
        return 0;
    const key_history *from = &h->keys[i];
    int64_t cid = from->contact_id;
    const char *subject = from->subject, *phone = from->phone;
    for (size_t j = 0; j < h->n; j++) {
        key_history *k = &h->keys[j];
        unsigned same = (k->contact_id == cid ? ECM_RULES_SAME_CONTACT : 0u) |
                        (same_str(k->subject, subject) ? ECM_RULES_SAME_SUBJECT : 0u) |
                        (same_str(k->phone, phone) ? ECM_RULES_SAME_PHONE : 0u);
        if (!same)
            continue;
        ecm_rules_attempt a = {
            .dispatched_ms = at_ms, .result_ms = 0, .outcome = NULL, .channel = ch, .same = same};
        if (push(k, &a) < 0)
            return -1;
    }
    return 0;
}

void ecm_history_destroy(ecm_history *h)
{
    if (!h)
        return;
    for (size_t i = 0; h->keys && i < h->n; i++) {
        free(h->keys[i].subject);
        free(h->keys[i].phone);
        free(h->keys[i].list);
    }
    free(h->keys);
    PQclear(h->rows);
    free(h);
}

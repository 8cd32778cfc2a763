#include "rs_map.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ecm_log.h"

struct rs_map {
    rs_map_entry *entries; /* sorted by call_result, unique */
    size_t n;
};

static int entry_cmp(const void *a, const void *b)
{
    const rs_map_entry *x = a;
    const rs_map_entry *y = b;
    return (x->call_result > y->call_result) - (x->call_result < y->call_result);
}

rs_map *rs_map_new(const rs_map_entry *entries, size_t n)
{
    rs_map *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (n == 0)
        return m;
    m->entries = calloc(n, sizeof(*m->entries));
    if (!m->entries) {
        free(m);
        return NULL;
    }
    /* Insertion keeps "last duplicate wins" simple and n is a few dozen. */
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < m->n && m->entries[j].call_result != entries[i].call_result)
            j++;
        m->entries[j] = entries[i];
        m->entries[j].counts_as_attempt = entries[i].counts_as_attempt ? 1 : 0;
        if (j == m->n)
            m->n++;
    }
    qsort(m->entries, m->n, sizeof(*m->entries), entry_cmp);
    return m;
}

static int parse_int(const char *s, int *out)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < -2147483647LL || v > 2147483647LL)
        return -1;
    *out = (int)v;
    return 0;
}

rs_map *rs_map_load(ecm_pg *pg, const char *kind)
{
    const char *params[1] = {kind};
    PGresult *res = ecm_pg_exec(pg,
                                "SELECT call_result, outcome, counts_as_attempt FROM "
                                "call_result_map WHERE source_kind = $1",
                                1, params);
    if (!res) {
        ecm_log_error("cannot load call_result_map", "source_kind %s", kind);
        return NULL;
    }
    int rows = PQntuples(res);
    rs_map_entry *entries = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*entries));
    if (!entries) {
        PQclear(res);
        ecm_log_error("cannot load call_result_map", "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (int i = 0; i < rows; i++) {
        int code = 0;
        const char *name = PQgetvalue(res, i, 1);
        Ecm__V1__Outcome outcome = ecm_event_outcome_from_name(name);
        if (parse_int(PQgetvalue(res, i, 0), &code) != 0 ||
            outcome == ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED) {
            ecm_log_warn("call_result_map row ignored: unknown outcome",
                         "source_kind=%s call_result=%s outcome=%s", kind, PQgetvalue(res, i, 0),
                         name);
            continue;
        }
        entries[n].call_result = code;
        entries[n].outcome = outcome;
        entries[n].counts_as_attempt = strcmp(PQgetvalue(res, i, 2), "t") == 0;
        n++;
    }
    PQclear(res);
    rs_map *m = rs_map_new(entries, n);
    free(entries);
    if (!m)
        ecm_log_error("cannot load call_result_map", "out of memory");
    return m;
}

void rs_map_destroy(rs_map *m)
{
    if (!m)
        return;
    free(m->entries);
    free(m);
}

size_t rs_map_size(const rs_map *m)
{
    return m ? m->n : 0;
}

int rs_map_lookup(const rs_map *m, int call_result, Ecm__V1__Outcome *outcome,
                  int *counts_as_attempt)
{
    rs_map_entry key = {.call_result = call_result};
    const rs_map_entry *e = NULL;
    if (m && m->n > 0)
        e = bsearch(&key, m->entries, m->n, sizeof(*m->entries), entry_cmp);
    if (!e) {
        /* An unknown code is most likely a dialer or network condition newer
         * than our table: retrying it is the safe reading. */
        *outcome = ECM__V1__OUTCOME__OUTCOME_NETWORK_ERROR;
        *counts_as_attempt = 1;
        return 0;
    }
    *outcome = e->outcome;
    *counts_as_attempt = e->counts_as_attempt;
    return 1;
}

int rs_map_resolve(const rs_map *m, int call_result, ecm_metric *unknown_counter,
                   Ecm__V1__Outcome *outcome, int *counts_as_attempt)
{
    int found = rs_map_lookup(m, call_result, outcome, counts_as_attempt);
    if (!found) {
        ecm_log_warn("unknown CallResult code, taken as NETWORK_ERROR", "call_result=%d",
                     call_result);
        ecm_metric_add(unknown_counter, 1);
    }
    return found;
}

/* gw_campaign_view with ECM_TEST_PG_DSN: a campaign's counts, kept by the
 * triggers of db/026 and folded by the reads, equal a COUNT(*) of its rows
 * after a mixed workload (inserts, batch and single-row updates, campaign
 * moves, deletes, a rollback, two writers of one campaign at once, folds
 * between the steps, TRUNCATE); and a second writer of a campaign does not
 * wait for the first one's commit. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ecm_log.h"
#include "ecm_pg.h"
#include "gw_campaign_view.h"
#include "ecm_test_support.h"

typedef struct {
    ecm_test_db *db;
    PGconn *c;  /* the test's own SQL */
    PGconn *c2; /* a second writer */
    ecm_pg *pg; /* the reads under test */
    volatile sig_atomic_t stop;
} fixture;

static int setup(void **state)
{
    *state = NULL;
    if (!ecm_test_pg_dsn()) {
        return 0;
    }
    fixture *f = calloc(1, sizeof(*f));
    f->db = ecm_test_db_new_migrated("ecm_counts");
    f->c = ecm_test_pg_connect(f->db->dsn);
    f->c2 = ecm_test_pg_connect(f->db->dsn);
    f->pg = ecm_pg_new(f->db->dsn, &f->stop);
    assert_non_null(f->pg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f) {
        ecm_pg_destroy(f->pg);
        PQfinish(f->c);
        PQfinish(f->c2);
        (void)ecm_test_db_destroy(f->db);
        free(f);
    }
    *state = NULL;
    return 0;
}

static long long new_campaign(fixture *f, const char *name)
{
    return ecm_test_pg_int(f->c,
                           "INSERT INTO campaigns (name, channel, strategy_id, cisco_kind, "
                           "cisco_campaign_id) SELECT '%s', 'voice_ivr', id, 'uccx', '1' FROM "
                           "strategies WHERE name = 'Default' RETURNING id",
                           name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends "prefix:key=n" for each non-zero member of obj to lines. */
static void object_lines(json_t *obj, const char *prefix, char **lines, size_t *n)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (json_integer_value(v) != 0) {
            char line[160];
            snprintf(line, sizeof(line), "%s:%s=%lld", prefix, key,
                     (long long)json_integer_value(v));
            lines[(*n)++] = strdup(line);
        }
    }
}

/* The counts of campaign id as gw_campaign_view reads them, as one line
 * ("a:BUSY=3 attempts=5 contacts=9 o:UNKNOWN=1 s:queued=8 ..."), sorted. */
static char *view_counts(fixture *f, long long id)
{
    json_t *list = json_pack("[{sI s{s{} s{} sI sI s{}}}]", "id", (json_int_t)id, "counts",
                             "by_state", "by_outcome", "contacts", (json_int_t)0, "attempts",
                             (json_int_t)0, "attempts_by_outcome");
    assert_non_null(list);
    assert_int_equal(gw_campaign_view_fill_counts(f->pg, list), 0);
    json_t *counts = json_object_get(json_array_get(list, 0), "counts");
    char *lines[128];
    size_t n = 0;
    object_lines(json_object_get(counts, "by_state"), "s", lines, &n);
    object_lines(json_object_get(counts, "by_outcome"), "o", lines, &n);
    object_lines(json_object_get(counts, "attempts_by_outcome"), "a", lines, &n);
    char line[64];
    snprintf(line, sizeof(line), "attempts=%lld",
             (long long)json_integer_value(json_object_get(counts, "attempts")));
    lines[n++] = strdup(line);
    snprintf(line, sizeof(line), "contacts=%lld",
             (long long)json_integer_value(json_object_get(counts, "contacts")));
    lines[n++] = strdup(line);
    json_decref(list);
    qsort(lines, n, sizeof(lines[0]), cmp_str);
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        len += strlen(lines[i]) + 1;
    }
    char *out = calloc(1, len);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(lines[i]);
        memcpy(out + at, lines[i], k);
        at += k;
        if (i + 1 < n) {
            out[at++] = ' ';
        }
        free(lines[i]);
    }
    return out;
}

/* The same line from COUNT(*) over the rows, as conn sees them. */
static char *counted(PGconn *conn, long long id)
{
    return ecm_test_pg_text(
        conn,
        "SELECT string_agg(l, ' ' ORDER BY l COLLATE \"C\") FROM ("
        "SELECT 's:' || state || '=' || count(*) AS l FROM contacts WHERE campaign_id = %lld "
        "GROUP BY state "
        "UNION ALL SELECT 'o:' || coalesce(outcome, 'UNKNOWN') || '=' || count(*) FROM contacts "
        "WHERE campaign_id = %lld AND state = 'closed' GROUP BY coalesce(outcome, 'UNKNOWN') "
        "UNION ALL SELECT 'a:' || outcome || '=' || count(*) FROM attempts "
        "WHERE campaign_id = %lld AND outcome IS NOT NULL GROUP BY outcome "
        "UNION ALL SELECT 'attempts=' || count(*) FROM attempts WHERE campaign_id = %lld "
        "UNION ALL SELECT 'contacts=' || count(*) FROM contacts WHERE campaign_id = %lld) x",
        id, id, id, id, id);
}

/* The counts of campaign id equal COUNT(*) as conn sees the rows (the
 * committed ones unless conn is inside a transaction). */
static void expect_exact_on(fixture *f, PGconn *conn, long long id, const char *step)
{
    char *want = counted(conn, id);
    char *got = view_counts(f, id);
    if (strcmp(want, got) != 0) {
        fail_msg("%s, campaign %lld: counts %s, COUNT(*) %s", step, id, got, want);
    }
    free(want);
    free(got);
}

static void expect_exact(fixture *f, long long id, const char *step)
{
    expect_exact_on(f, f->c, id, step);
}

static void add_contacts(fixture *f, long long cid, int n, const char *state, int first)
{
    ecm_test_pg_exec(f->c,
                     "INSERT INTO contacts (campaign_id, phones, state) SELECT %lld, "
                     "ARRAY['+1555' || lpad(g::text, 7, '0')], '%s' "
                     "FROM generate_series(%d, %d) g",
                     cid, state, first, first + n - 1);
}

/* Attempt 1 (no outcome yet) of the contacts of cid in state, n at most. */
static void add_attempts(fixture *f, long long cid, const char *state, int n)
{
    ecm_test_pg_exec(f->c,
                     "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, phone, "
                     "account_number) SELECT id, attempts + 1, campaign_id, 'voice_ivr', "
                     "phones[1], id || '-' || (attempts + 1) FROM contacts WHERE campaign_id = "
                     "%lld AND state = '%s' ORDER BY id LIMIT %d",
                     cid, state, n);
}

static void test_counts_equal_count_star_after_a_mixed_workload(void **state)
{
    fixture *f = ecm_test_need(*state);
    long long a = new_campaign(f, "A"), b = new_campaign(f, "B");
    add_contacts(f, a, 2000, "queued", 1);
    add_contacts(f, b, 500, "pending", 100000);
    expect_exact(f, a, "after the inserts");
    expect_exact(f, b, "after the inserts");

    /* A batch of dispatches and their attempts, then results: some retried,
     * some closed with an outcome, one closed without. */
    ecm_test_pg_exec(f->c,
                     "UPDATE contacts SET state = 'dispatched', attempts = 1 WHERE id IN "
                     "(SELECT id FROM contacts WHERE campaign_id = %lld ORDER BY id "
                     "LIMIT 300)",
                     a);
    add_attempts(f, a, "dispatched", 300);
    ecm_test_pg_exec(f->c,
                     "UPDATE attempts SET status = 'done', outcome = CASE WHEN contact_id %% 3 = 0 "
                     "THEN 'BUSY' ELSE 'CONNECTED' END "
                     "WHERE campaign_id = %lld AND contact_id %% 2 = 0",
                     a);
    expect_exact(f, a, "after the results");
    ecm_test_pg_exec(f->c,
                     "UPDATE contacts k SET state = CASE WHEN t.outcome = 'BUSY' THEN 'waiting' "
                     "ELSE 'closed' END, outcome = CASE WHEN t.outcome = 'BUSY' THEN NULL "
                     "ELSE t.outcome END FROM attempts t WHERE t.contact_id = k.id "
                     "AND t.outcome IS NOT NULL");
    long long one = ecm_test_pg_int(f->c,
                                    "SELECT min(id) FROM contacts WHERE campaign_id = %lld "
                                    "AND state = 'dispatched'",
                                    a);
    ecm_test_pg_exec(f->c, "UPDATE contacts SET state = 'closed' WHERE id = %lld", one);
    assert_true(gw_campaign_view_fold(f->pg) >= 0);
    expect_exact(f, a, "after the closes and a fold");

    /* Single-row changes, one a no-op, and a rolled-back batch. */
    for (int i = 0; i < 20; i++) {
        ecm_test_pg_exec(f->c,
                         "UPDATE contacts SET state = 'retry_due' WHERE id = (SELECT min(id) "
                         "FROM contacts WHERE campaign_id = %lld AND state = 'waiting')",
                         a);
    }
    ecm_test_pg_exec(f->c, "UPDATE contacts SET updated_at = now() WHERE campaign_id = %lld", a);
    ecm_test_pg_exec(f->c, "BEGIN");
    ecm_test_pg_exec(f->c, "UPDATE contacts SET state = 'closed' WHERE campaign_id = %lld", b);
    ecm_test_pg_exec(f->c, "ROLLBACK");
    expect_exact(f, a, "after single-row changes");
    expect_exact(f, b, "after a rollback");

    /* Two writers of campaign A at once: the second does not wait for the
     * first one's commit (a 5 s statement_timeout fails it if it does). */
    ecm_test_pg_exec(f->c2, "SET statement_timeout = 5000");
    ecm_test_pg_exec(f->c, "BEGIN");
    ecm_test_pg_exec(f->c,
                     "UPDATE contacts SET state = 'pending' WHERE id IN (SELECT id FROM "
                     "contacts WHERE campaign_id = %lld AND state = 'queued' ORDER BY id "
                     "LIMIT 50)",
                     a);
    ecm_test_pg_exec(f->c2, "BEGIN");
    ecm_test_pg_exec(f->c2,
                     "UPDATE contacts SET state = 'closed', outcome = 'DNC' WHERE id IN (SELECT "
                     "id FROM contacts WHERE campaign_id = %lld AND state = 'queued' ORDER BY id "
                     "DESC LIMIT 50)",
                     a);
    ecm_test_pg_exec(f->c2, "COMMIT");
    expect_exact_on(f, f->c2, a, "with a writer in flight");
    ecm_test_pg_exec(f->c, "COMMIT");
    expect_exact(f, a, "after two writers");

    /* A contact moved to another campaign; deletes. */
    ecm_test_pg_exec(f->c,
                     "UPDATE contacts SET campaign_id = %lld WHERE id = (SELECT max(id) FROM "
                     "contacts WHERE campaign_id = %lld AND state = 'queued')",
                     b, a);
    ecm_test_pg_exec(f->c, "DELETE FROM attempts WHERE campaign_id = %lld AND outcome = 'BUSY'", a);
    ecm_test_pg_exec(f->c,
                     "DELETE FROM contacts k WHERE k.campaign_id = %lld AND k.id %% 7 = 0 "
                     "AND NOT EXISTS (SELECT 1 FROM attempts t WHERE t.contact_id = k.id)",
                     a);
    ecm_test_pg_exec(f->c, "DELETE FROM contacts WHERE campaign_id = %lld AND id %% 5 = 0", b);
    expect_exact(f, a, "after a move and deletes");
    expect_exact(f, b, "after a move and deletes");
    assert_true(gw_campaign_view_fold(f->pg) >= 0);
    assert_int_equal(ecm_test_pg_int(f->c, "SELECT count(*) FROM campaign_count_deltas"), 0);
    expect_exact(f, a, "after the last fold");
    expect_exact(f, b, "after the last fold");

    ecm_test_pg_exec(f->c, "TRUNCATE attempts, contacts");
    expect_exact(f, a, "after TRUNCATE");
    expect_exact(f, b, "after TRUNCATE");
    add_contacts(f, b, 10, "queued", 1);
    expect_exact(f, b, "after TRUNCATE and an insert");
}

int main(void)
{
    ecm_test_log_init("test_gw_campaign_view", ECM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts_equal_count_star_after_a_mixed_workload, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

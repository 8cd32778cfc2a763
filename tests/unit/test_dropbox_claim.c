/* Exactly once per dropped file: the drop_files claims on a scratch
 * database. Two claimants of one file identity, one wins; a lease that ran
 * out is taken over; a finished file is reported done until its move is
 * recorded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dbx_claim.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"

typedef struct {
    ecm_test_db *db;
    ecm_pg *pg;
    PGconn *sql;
} fixture;

static int setup(void **state)
{
    *state = NULL;
    ecm_test_log_init("test_dropbox_claim", ECM_LOG_ERROR);
    ecm_test_db *db = ecm_test_db_new_migrated("ecm_dbx_claim");
    if (!db) {
        return 0;
    }
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->db = db;
    f->pg = ecm_pg_new(db->dsn, NULL);
    assert_non_null(f->pg);
    f->sql = ecm_test_pg_connect(db->dsn);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f) {
        PQfinish(f->sql);
        ecm_pg_destroy(f->pg);
        (void)ecm_test_db_destroy(f->db);
        free(f);
    }
    return 0;
}

static const dbx_file_id FILE_A = {.rel_path = "42/a.csv", .size = 1234, .mtime_ns = 1700000000123};

static void test_dropbox_two_claimants_one_wins(void **state)
{
    fixture *f = ecm_test_need(*state);
    dbx_claim a, b;
    assert_int_equal(dbx_claim_take(f->pg, &FILE_A, 42, "owner-a", 60, &a), DBX_CLAIM_NEW);
    assert_true(a.id > 0);
    assert_int_equal(dbx_claim_take(f->pg, &FILE_A, 42, "owner-b", 60, &b), DBX_CLAIM_BUSY);
    /* Another version of the file (new size) is another identity. */
    dbx_file_id other = FILE_A;
    other.size++;
    assert_int_equal(dbx_claim_take(f->pg, &other, 42, "owner-b", 60, &b), DBX_CLAIM_NEW);
    assert_true(b.id != a.id);
    /* Only the holder renews or ends it. */
    assert_int_equal(dbx_claim_renew(f->pg, a.id, "owner-b", 60), 0);
    assert_int_equal(dbx_claim_renew(f->pg, a.id, "owner-a", 60), 1);
    assert_int_equal(dbx_claim_finish(f->pg, a.id, "owner-b", 0, 0, NULL), 0);
    assert_int_equal(
        ecm_test_pg_int(f->sql, "SELECT count(*) FROM drop_files WHERE rel_path = '42/a.csv'"), 2);
}

static void test_dropbox_expired_lease_taken_over(void **state)
{
    fixture *f = ecm_test_need(*state);
    const dbx_file_id file = {.rel_path = "7_b.csv", .size = 10, .mtime_ns = 5};
    dbx_claim a, b;
    assert_int_equal(dbx_claim_take(f->pg, &file, 7, "owner-a", 60, &a), DBX_CLAIM_NEW);
    ecm_test_pg_exec(f->sql, "INSERT INTO uploads (kind, campaign_id, content_type, state) "
                             "SELECT 'dnc', NULL, 'text/csv', 'interrupted'");
    long long up = ecm_test_pg_int(f->sql, "SELECT max(id) FROM uploads");
    assert_int_equal(dbx_claim_set_upload(f->pg, a.id, "owner-a", up), 1);
    /* owner-a dies: its lease runs out (moved into the past here). */
    ecm_test_pg_exec(f->sql,
                     "UPDATE drop_files SET lease_until = now() - interval '1 second' "
                     "WHERE id = %lld",
                     a.id);
    assert_int_equal(dbx_claim_take(f->pg, &file, 7, "owner-b", 60, &b), DBX_CLAIM_TAKEN);
    assert_int_equal(b.id, a.id);
    assert_int_equal(b.upload_id, up); /* so b resumes it rather than upload again */
    /* The former owner is fenced: it can neither renew nor end it. */
    assert_int_equal(dbx_claim_renew(f->pg, a.id, "owner-a", 60), 0);
    assert_int_equal(dbx_claim_finish(f->pg, a.id, "owner-a", 0, up, NULL), 0);
    /* Nobody takes it from b while b's lease runs. */
    dbx_claim c;
    assert_int_equal(dbx_claim_take(f->pg, &file, 7, "owner-c", 60, &c), DBX_CLAIM_BUSY);
    /* b gives it up (a stop): anyone may take it at once. */
    assert_int_equal(dbx_claim_release(f->pg, b.id, "owner-b"), 1);
    assert_int_equal(dbx_claim_take(f->pg, &file, 7, "owner-c", 60, &c), DBX_CLAIM_TAKEN);
}

static void test_dropbox_done_until_moved(void **state)
{
    fixture *f = ecm_test_need(*state);
    const dbx_file_id file = {.rel_path = "x/c.csv", .size = 3, .mtime_ns = 9};
    dbx_claim a, b;
    assert_int_equal(dbx_claim_take(f->pg, &file, 0, "owner-a", 60, &a), DBX_CLAIM_NEW);
    assert_int_equal(
        dbx_claim_finish(f->pg, a.id, "owner-a", 1, 0, "folder 'x' is not a campaign id"), 1);
    /* A crash before the move: whoever sees the file next moves it, with
     * the reason recorded, and never uploads it. */
    assert_int_equal(dbx_claim_take(f->pg, &file, 0, "owner-b", 60, &b), DBX_CLAIM_DONE);
    assert_int_equal(b.id, a.id);
    assert_int_equal(b.failed, 1);
    assert_int_equal(b.moved, 0);
    assert_string_equal(b.reason, "folder 'x' is not a campaign id");
    assert_int_equal(dbx_claim_moved(f->pg, b.id, "/drop/failed/c.csv"), 0);
    assert_int_equal(dbx_claim_take(f->pg, &file, 0, "owner-b", 60, &b), DBX_CLAIM_DONE);
    assert_int_equal(b.moved, 1);
    char *to = ecm_test_pg_text(f->sql,
                                "SELECT state || ' ' || moved_to FROM drop_files "
                                "WHERE id = %lld",
                                a.id);
    assert_string_equal(to, "failed /drop/failed/c.csv");
    free(to);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dropbox_two_claimants_one_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropbox_expired_lease_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropbox_done_until_moved, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

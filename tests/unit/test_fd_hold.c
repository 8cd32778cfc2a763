/* The hold (fd_hold): the arithmetic min(capacity, max(batch, rate x N)),
 * and the dispatcher keeping a target's attempts in flight within it as the
 * target's results (its dial rate) come in, with the per-target gauge. The
 * arithmetic runs always; the rest needs ECM_TEST_PG_DSN (a scratch ECM DB
 * and a fake UCCX). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ecm_gate.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"
#include "ecm_test_support.h"
#include "fd_test_support.h"
#include "fd_dispatch.h"
#include "fd_feeder.h"
#include "fd_hold.h"
#include "fd_writer.h"
#include "test_fd_fake_uccx.h"

#define PORT_LO 20570
#define PORT_HI 20579
#define MIDDAY "2026-03-09T12:00:00Z"

static void test_hold_arithmetic(void **state)
{
    (void)state;
    /* Off: capacity only. */
    assert_int_equal(fd_hold_limit(500, 10000, 0, 12345, 300), 10000);
    /* No rate yet: one batch. */
    assert_int_equal(fd_hold_limit(500, 10000, 5, 0, 300), 500);
    /* 600 results in 300 s = 120/min; 5 minutes = 600. */
    assert_int_equal(fd_hold_limit(500, 10000, 5, 600, 300), 600);
    /* Below a batch: a batch. */
    assert_int_equal(fd_hold_limit(500, 10000, 5, 100, 300), 500);
    /* Never above capacity. */
    assert_int_equal(fd_hold_limit(500, 10000, 60, 100000, 300), 10000);
    /* A capacity below the batch bounds it too. */
    assert_int_equal(fd_hold_limit(500, 200, 5, 0, 300), 200);
    /* 1 result a second over 60 s, 2 minutes: 120. */
    assert_int_equal(fd_hold_limit(10, 10000, 2, 60, 60), 120);
    /* Degenerate inputs stay sane. */
    assert_int_equal(fd_hold_limit(0, 0, 5, -3, 0), 1);
    assert_int_equal(fd_hold_limit(1, 1000000, 1440, 1000000000LL, 10), 1000000);
}

typedef struct {
    ecm_test_db *db;
    ecm_pg *pg;
    fake_uccx *fake;
    ecm_metrics *metrics;
    fd_ctx ctx;
} fixture;

#define q_int(f, ...) ecm_test_pg_int(ecm_pg_conn((f)->pg), __VA_ARGS__)
#define q_cmd(f, ...) ecm_test_pg_exec(ecm_pg_conn((f)->pg), __VA_ARGS__)

static int group_setup(void **state)
{
    *state = NULL;
    if (!ecm_test_pg_dsn())
        return 0;
    setenv("ECM_CLOCK_FIXED", MIDDAY, 1);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->db = ecm_test_db_new_migrated("ecm_fd_hold");
    f->pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(f->pg);
    f->fake = fake_start(PORT_LO, PORT_HI);
    assert_non_null(f->fake);
    f->metrics = ecm_metrics_new();
    char url[64];
    fake_url(f->fake, url, sizeof url);
    f->ctx = (fd_ctx){
        .pg = f->pg,
        .opt =
            {
                .topic_dispatched = "contacts.dispatched",
                .source = "/ecm/feeder",
                .batch = 100,
                .capacity = 1000,
                .hold_minutes = 5,
                .hold_window_s = 60,
                .reconcile_after_s = 30,
                .reconcile_every_ms = 5000,
            },
    };
    f->ctx.writers[FD_KIND_UCCX] =
        fd_writer_uccx_new(fd_uccx_new(url, FAKE_UCCX_USER, FAKE_UCCX_PASSWORD, 2000), NULL);
    assert_non_null(f->ctx.writers[FD_KIND_UCCX]);
    fd_test_ctx_arm(&f->ctx, f->metrics);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    fd_test_ctx_release(&f->ctx);
    ecm_metrics_destroy(f->metrics);
    fake_stop(f->fake);
    ecm_pg_destroy(f->pg);
    (void)ecm_test_db_destroy(f->db);
    free(f);
    return 0;
}

/* Dispatch passes on uccx:7 until one sends nothing; returns the total. */
static size_t dispatch_all(fixture *f)
{
    size_t total = 0;
    for (int i = 0; i < 100; i++) {
        size_t sent = 0;
        assert_int_equal(fd_dispatch_target(&f->ctx, FD_KIND_UCCX, "7", &sent, NULL), 0);
        if (sent == 0)
            return total;
        total += sent;
    }
    fail_msg("dispatch never settled");
    return total;
}

/* n 'sent' attempts of uccx:7 get results, 50 ms apart back from a fixed
 * instant (at most 600 a call: all inside the 60 s window, however long
 * the test takes). */
static void results(fixture *f, int n)
{
    q_cmd(f,
          "UPDATE attempts SET status = 'done', outcome = 'NO_ANSWER', result_at = "
          "'2026-03-09 12:00:00+00'::timestamptz - (r.rn * interval '50 milliseconds') FROM "
          "(SELECT contact_id, attempt, "
          "row_number() OVER (ORDER BY contact_id) rn FROM attempts WHERE status = 'sent' "
          "ORDER BY contact_id LIMIT %d) r WHERE attempts.contact_id = r.contact_id AND "
          "attempts.attempt = r.attempt",
          n);
    q_cmd(f, "UPDATE contacts SET state = 'closed' WHERE id IN (SELECT contact_id FROM attempts "
             "WHERE status = 'done')");
}

static void test_dispatch_keeps_the_hold_as_the_rate_grows(void **state)
{
    fixture *f = *state;
    if (!ecm_test_need(f))
        return;
    long long c = q_int(f, "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind, "
                           "cisco_campaign_id) SELECT 'c', 'voice_ivr', 'active', id, 'uccx', "
                           "'7' FROM strategies WHERE name = 'Default' RETURNING id");
    q_cmd(f,
          "INSERT INTO contacts (campaign_id, phones, state) SELECT %lld, "
          "ARRAY['+1555000' || lpad(g::text, 4, '0')], 'queued' FROM generate_series(1, 3000) g",
          c);
    fake_set(f->fake, 202, 200, 0);
    /* No result yet: one batch in flight, however many passes. */
    assert_int_equal(dispatch_all(f), 100);
    assert_true(fake_has(f->fake, "100-1"));
    assert_false(fake_has(f->fake, "101-1"));
    assert_int_equal(
        ecm_metric_value(ecm_metrics_gauge(f->metrics, "ecm_feeder_hold{target=\"uccx:7\"}", "x")),
        100);
    /* 40 results in the last 60 s: 40/min x 5 min = 200 held; 60 in flight
     * after the results, so 140 more go. */
    results(f, 40);
    fd_hold_forget(&f->ctx); /* the cached rate is FD_HOLD_REFRESH_MS old at most */
    assert_int_equal(dispatch_all(f), 140);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status IN ('sending', 'sent')"),
                     200);
    assert_int_equal(
        ecm_metric_value(ecm_metrics_gauge(f->metrics, "ecm_feeder_hold{target=\"uccx:7\"}", "x")),
        200);
    /* Within FD_HOLD_REFRESH_MS the cached rate is used: more results free
     * room under the same hold (200). */
    results(f, 150);
    assert_int_equal(dispatch_all(f), 150);
    /* 190 results now: 950 held, under the capacity of 1000. */
    fd_hold_forget(&f->ctx);
    assert_int_equal(dispatch_all(f), 750);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status IN ('sending', 'sent')"),
                     950);
    /* A rate beyond capacity: capacity. */
    results(f, 600);
    fd_hold_forget(&f->ctx);
    assert_int_equal(dispatch_all(f), 650);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status IN ('sending', 'sent')"),
                     1000);
    assert_int_equal(f->fake->duplicates, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hold_arithmetic),
        cmocka_unit_test(test_dispatch_keeps_the_hold_as_the_rate_grows),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

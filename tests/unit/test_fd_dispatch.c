/* The feeder's DB side against a scratch PostgreSQL database and a fake UCCX
 * peer: dispatch by capacity ('sending' -> 'sent' + outbox), reconcile after
 * a crash without double sends, paused campaigns, the dispatch gate (DNC per
 * number, calling windows, end_at) and intake idempotence. The business
 * clock is fixed (ECM_CLOCK_FIXED) so that windows don't depend on when the
 * test runs. Needs ECM_TEST_PG_DSN; skipped without it. */
#include <pthread.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_gate.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "fd_dispatch.h"
#include "fd_feeder.h"
#include "ecm_intake.h"
#include "fd_reconcile.h"
#include "fd_uccx.h"
#include "ecm_test_support.h"
#include "fd_test_support.h"
#include "test_fd_fake_uccx.h"

#define PORT_LO 20520
#define PORT_HI 20539
#define CISCO_ID "7"
/* Monday 12:00 UTC: inside the legal hours of campaigns and contacts in UTC. */
#define MIDDAY "2026-03-09T12:00:00Z"

typedef struct {
    ecm_test_db *db;
    ecm_pg *pg;
    fake_uccx *fake;
    ecm_metrics *metrics;
    fd_ctx ctx;
    fd_uccx *uccx; /* owned by ctx.writers[FD_KIND_UCCX] */
} fixture;

/* One-line SQL on the code's own connection, printf-style. */
#define q(f, ...) ecm_test_pg_query(ecm_pg_conn((f)->pg), __VA_ARGS__)
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
    f->db = ecm_test_db_new_migrated("ecm_feeder");
    f->pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(f->pg);
    f->fake = fake_start(PORT_LO, PORT_HI);
    assert_non_null(f->fake);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    fake_stop(f->fake);
    ecm_pg_destroy(f->pg);
    (void)ecm_test_db_destroy(f->db);
    free(f);
    return 0;
}

/* Gives ctx a UCCX writer on f's fake and arms it with metrics m. Returns
 * the writer's client (owned by the writer). */
static fd_uccx *arm_uccx(fixture *f, fd_ctx *ctx, ecm_metrics *m)
{
    char url[64];
    fake_url(f->fake, url, sizeof url);
    fd_uccx *u = fd_uccx_new(url, FAKE_UCCX_USER, FAKE_UCCX_PASSWORD, 500);
    assert_non_null(u);
    ctx->writers[FD_KIND_UCCX] = fd_writer_uccx_new(u, NULL);
    assert_non_null(ctx->writers[FD_KIND_UCCX]);
    fd_test_ctx_arm(ctx, m);
    return u;
}

/* A clean slate for each test: tables emptied, fake forgotten, a fresh
 * client and metrics. */
static int test_setup(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    q_cmd(f, "TRUNCATE attempts, outbox, contacts, uploads, dnc, campaigns, feeder_dispatches "
             "RESTART IDENTITY "
             "CASCADE");
    setenv("ECM_CLOCK_FIXED", MIDDAY, 1);
    fake_reset(f->fake);
    f->metrics = ecm_metrics_new();
    f->ctx = (fd_ctx){
        .pg = f->pg,
        .opt =
            {
                .topic_dispatched = "contacts.dispatched",
                .source = "/ecm/feeder",
                .batch = 500,
                .capacity = 10000,
                .reconcile_after_s = 30,
                .reconcile_every_ms = 5000,
            },
    };
    f->uccx = arm_uccx(f, &f->ctx, f->metrics);
    return 0;
}

static int test_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    fd_test_ctx_release(&f->ctx);
    ecm_metrics_destroy(f->metrics);
    return 0;
}

#define NEED_DB(f) ((void)ecm_test_need(f))

/* Creates a campaign on CISCO_ID with n contacts in state `state`. Returns
 * the campaign id. */
static long long seed(fixture *f, const char *campaign_state, int n, const char *contact_state)
{
    long long id =
        q_int(f,
              "INSERT INTO campaigns (name, channel, state, strategy_id, cisco_kind, "
              "cisco_campaign_id) SELECT 'c', 'voice_ivr', '%s', id, 'uccx', '" CISCO_ID "' "
              "FROM strategies WHERE name = 'Default' RETURNING id",
              campaign_state);
    q_cmd(f,
          "INSERT INTO contacts (campaign_id, first_name, last_name, phones, state) "
          "SELECT %lld, 'First' || g, 'Last, ' || g, ARRAY['+1555000' || lpad(g::text, 4, "
          "'0'), '+1666000' || lpad(g::text, 4, '0')], '%s' FROM generate_series(1, %d) g",
          id, contact_state, n);
    return id;
}

static double metric(fixture *f, const char *name)
{
    return ecm_metric_value(ecm_metrics_counter(f->metrics, name, "x"));
}

static void test_dispatch_records_sending_then_sent_with_events(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", 30, "queued");
    size_t sent = 0;
    int full = -1;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 30);
    assert_int_equal(full, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent' AND "
                              "sent_at IS NOT NULL AND target = 'uccx:" CISCO_ID "' AND "
                              "account_number = contact_id || '-1' AND attempt = 1 AND "
                              "phone LIKE '+1555%%' AND channel = 'voice_ivr'"),
                     30);
    assert_int_equal(
        q_int(f, "SELECT count(*) FROM contacts WHERE state = 'dispatched' AND attempts = 1"), 30);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.dispatched' "
                              "AND ce_type = 'ecm.v1.ContactDispatched' AND ce_source = "
                              "'/ecm/feeder'"),
                     30);
    assert_int_equal(f->fake->rows, 30);
    assert_int_equal(f->fake->duplicates, 0);
    assert_true(fake_has(f->fake, "1-1"));
    /* Quoted for CSV, then escaped for XML (libxml2 writes " as &quot;). */
    assert_true(strstr(f->fake->last_body, "\"Last, 1\"") ||
                strstr(f->fake->last_body, "&quot;Last, 1&quot;"));
    assert_int_equal(metric(f, "ecm_feeder_dispatched_total{kind=\"uccx\"}"), 30);

    /* The event of contact 5 decodes and says what was sent. */
    PGresult *r = q(f, "SELECT msg_key, payload FROM outbox WHERE msg_key = '5'");
    assert_int_equal(PQntuples(r), 1);
    size_t len = 0;
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 1), &len);
    Ecm__V1__ContactDispatched *ev = ecm__v1__contact_dispatched__unpack(NULL, len, bytes);
    assert_non_null(ev);
    assert_int_equal(ev->contact_id, 5);
    assert_int_equal(ev->attempt, 1);
    assert_string_equal(ev->account_number, "5-1");
    assert_string_equal(ev->phone, "+15550000005");
    assert_string_equal(ev->target, "uccx:" CISCO_ID);
    assert_int_equal(ev->channel, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR);
    assert_true(ev->event_id[0] != '\0');
    ecm__v1__contact_dispatched__free_unpacked(ev, NULL);
    PQfreemem(bytes);
    PQclear(r);

    /* Nothing queued any more: a second pass sends nothing. */
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 0);
    assert_int_equal(f->fake->posts, 1);
}

static void test_dispatch_uses_the_phone_of_the_retry(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", 2, "queued");
    q_cmd(f, "UPDATE contacts SET attempts = 2, phone_index = 1 WHERE id = 2");
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE contact_id = 2 AND attempt = 3 "
                              "AND account_number = '2-3' AND phone = '+16660000002'"),
                     1);
    assert_true(fake_has(f->fake, "2-3"));
}

static void test_dispatch_leaves_sending_when_uccx_is_unavailable(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", 20, "queued");
    fake_set(f->fake, 503, 200, 0);
    size_t sent = 99;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), -2);
    assert_int_equal(sent, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 20);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'dispatched'"), 20);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox"), 0);
    assert_int_equal(metric(f, "ecm_feeder_errors_total{kind=\"uccx\",error=\"unavailable\"}"), 1);
}

/* A 4xx is UCCX refusing this batch, not UCCX being down: the batch waits
 * for the reconciler and the target goes on with other contacts. */
static void test_dispatch_leaves_a_rejected_batch_to_the_reconciler(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", 5, "queued");
    fake_set(f->fake, 400, 200, 0);
    size_t sent = 99;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), -1);
    assert_int_equal(sent, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 5);
    assert_int_equal(metric(f, "ecm_feeder_errors_total{kind=\"uccx\",error=\"rejected\"}"), 1);
    assert_int_equal(metric(f, "ecm_feeder_errors_total{kind=\"uccx\",error=\"unavailable\"}"), 0);
    assert_int_equal(f->fake->rows, 0);

    seed(f, "active", 5, "queued");
    fake_set(f->fake, 202, 200, 0);
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 5);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 5);
    assert_int_equal(f->fake->rows, 5);
}

/* Runs passes until nothing is queued or `passes` is used up; returns the
 * attempts UCCX accepted in them. */
static size_t dispatch_until_idle(fixture *f, int passes)
{
    size_t total = 0;
    for (int i = 0; i < passes; i++) {
        size_t sent = 0;
        assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
        total += sent;
        if (q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'") == 0 &&
            q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'") == 0)
            break;
    }
    return total;
}

/* UCCX down for a while: every pass retries the one batch left 'sending'
 * instead of recording a new one; once UCCX is back that batch is
 * reconciled and everything goes exactly once. */
static void test_dispatch_holds_one_batch_while_uccx_is_unavailable(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    f->ctx.opt.batch = 10;
    seed(f, "active", 100, "queued");
    for (int i = 0; i < 6; i++) {
        /* First the list fails too, then only the POSTs. */
        fake_set(f->fake, 503, i < 3 ? 503 : 200, 0);
        size_t sent = 99;
        assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), -2);
        assert_int_equal(sent, 0);
        assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 10);
        assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 10);
        assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 90);
    }
    assert_int_equal(f->fake->rows, 0);
    assert_true(metric(f, "ecm_feeder_errors_total{kind=\"uccx\",error=\"unavailable\"}") >= 6);

    fake_set(f->fake, 202, 200, 0);
    size_t total = dispatch_until_idle(f, 30);
    assert_int_equal(total, 100);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 100);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox"), 100);
    assert_int_equal(f->fake->n, 100);
    assert_int_equal(f->fake->rows, 100);
    assert_int_equal(f->fake->duplicates, 0);
    assert_int_equal(metric(f, "ecm_feeder_reconciled_total{kind=\"uccx\",result=\"resent\"}"), 10);
}

/* A POST that timed out may still land on UCCX: the batch is reconciled
 * only once such a POST must be over (reconcile_after_s), and then found
 * there instead of being sent again. No new batch goes meanwhile. */
static void test_dispatch_waits_out_a_timed_out_post_before_reconciling(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    f->ctx.opt.batch = 10;
    f->ctx.opt.reconcile_after_s = 1;
    seed(f, "active", 30, "queued");
    fake_set(f->fake, 202, 200, 800); /* the client gives up after 500 ms */
    size_t sent = 99;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), -2);
    assert_int_equal(sent, 0);
    fake_set(f->fake, 202, 200, 0);
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 10);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 10);

    fake_nap(1200);
    assert_int_equal(f->fake->n, 10); /* the late POST landed */
    size_t total = dispatch_until_idle(f, 10);
    assert_int_equal(total, 30);
    assert_int_equal(metric(f, "ecm_feeder_reconciled_total{kind=\"uccx\",result=\"present\"}"),
                     10);
    assert_int_equal(metric(f, "ecm_feeder_reconciled_total{kind=\"uccx\",result=\"resent\"}"), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 30);
    assert_int_equal(f->fake->n, 30);
    assert_int_equal(f->fake->rows, 30);
    assert_int_equal(f->fake->duplicates, 0);
}

/* A POST that timed out and never landed: once its time is up the list
 * lacks the batch, but UCCX has only just started answering again, so a
 * request of before could still land. The batch is re-sent only after UCCX
 * has answered for reconcile_after_s. */
static void test_reconcile_defers_resending_until_uccx_has_answered_a_while(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    f->ctx.opt.batch = 10;
    f->ctx.opt.reconcile_after_s = 1;
    seed(f, "active", 20, "queued");
    fake_set(f->fake, 503, 200, 800); /* late, and then a refusal */
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), -2);
    assert_true(fd_uccx_answering_ms(f->uccx) < 0);
    fake_set(f->fake, 202, 200, 0);
    fake_nap(1100);

    size_t sent = 99;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), -2);
    assert_int_equal(sent, 0);
    assert_true(fd_uccx_answering_ms(f->uccx) >= 0);
    assert_int_equal(f->fake->rows, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 10);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 10);

    fake_nap(1100);
    assert_int_equal(dispatch_until_idle(f, 10), 20);
    assert_int_equal(f->fake->rows, 20);
    assert_int_equal(f->fake->duplicates, 0);
    assert_int_equal(metric(f, "ecm_feeder_reconciled_total{kind=\"uccx\",result=\"resent\"}"), 10);
}

/* The crash: attempts 'sending', UCCX already holds half of them. */
static void test_reconcile_resends_only_what_uccx_lacks(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", 40, "queued");
    fake_set(f->fake, 503, 200, 0);
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), -2);
    PGresult *r = q(f, "SELECT account_number FROM attempts WHERE contact_id %% 2 = 0");
    assert_int_equal(PQntuples(r), 20);
    for (int i = 0; i < PQntuples(r); i++)
        fake_add(f->fake, PQgetvalue(r, i, 0));
    PQclear(r);
    fake_set(f->fake, 202, 200, 0);

    /* Too recent: a POST may still be under way, so nothing is touched. */
    size_t present = 9, resent = 9;
    assert_int_equal(fd_reconcile_run(&f->ctx, &present, &resent), 0);
    assert_int_equal(present + resent, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 40);

    q_cmd(f, "UPDATE attempts SET sending_at = now() - interval '1 hour'");
    assert_int_equal(fd_reconcile_run(&f->ctx, &present, &resent), 0);
    assert_int_equal(present, 20);
    assert_int_equal(resent, 20);
    assert_int_equal(f->fake->duplicates, 0);
    assert_int_equal(f->fake->n, 40);
    assert_int_equal(f->fake->rows, 20); /* only the missing half was POSTed */
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sent'"), 40);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox"), 40);
    assert_int_equal(metric(f, "ecm_feeder_reconciled_total{kind=\"uccx\",result=\"present\"}"),
                     20);
    assert_int_equal(metric(f, "ecm_feeder_reconciled_total{kind=\"uccx\",result=\"resent\"}"), 20);

    /* Done means done: a second run finds nothing. */
    assert_int_equal(fd_reconcile_run(&f->ctx, &present, &resent), 0);
    assert_int_equal(present + resent, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox"), 40);
}

static void test_reconcile_keeps_attempts_when_the_list_fails(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", 10, "queued");
    fake_set(f->fake, 503, 503, 0);
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), -2);
    q_cmd(f, "UPDATE attempts SET sending_at = now() - interval '1 hour'");
    assert_int_equal(fd_reconcile_run(&f->ctx, NULL, NULL), -1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 10);
    assert_int_equal(f->fake->rows, 0);
}

static void test_dispatch_respects_capacity(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    f->ctx.opt.capacity = 25;
    f->ctx.opt.batch = 10;
    seed(f, "active", 60, "queued");
    size_t total = 0, sent = 0;
    int full = 0;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
        total += sent;
    }
    assert_int_equal(total, 25);
    assert_int_equal(f->fake->n, 25);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 35);
    /* Results free room: five done, five more go. */
    q_cmd(f, "UPDATE attempts SET status = 'done' WHERE contact_id <= 5");
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 5);
    assert_int_equal(f->fake->n, 30);
    assert_int_equal(f->fake->duplicates, 0);
    /* Oldest first. */
    assert_int_equal(q_int(f, "SELECT max(contact_id) FROM attempts"), 30);
}

/* Attempts of the target at Cisco now ('sending' + 'sent'). */
static long long held(fixture *f)
{
    return q_int(f, "SELECT count(*) FROM attempts WHERE status IN ('sending', 'sent')");
}

/* A second feeder (replica) on its own connection, dispatching the same
 * target through the same fake UCCX. */
typedef struct {
    ecm_pg *pg;
    ecm_metrics *metrics;
    fd_ctx ctx;
} replica;

static void replica_start(fixture *f, replica *r)
{
    r->pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(r->pg);
    r->metrics = ecm_metrics_new();
    r->ctx = (fd_ctx){.pg = r->pg, .opt = f->ctx.opt};
    arm_uccx(f, &r->ctx, r->metrics);
}

static void replica_stop(replica *r)
{
    fd_test_ctx_release(&r->ctx);
    ecm_metrics_destroy(r->metrics);
    ecm_pg_destroy(r->pg);
}

static double counts_of(ecm_metrics *m)
{
    return ecm_metric_value(ecm_metrics_counter(m, "ecm_feeder_inflight_counts_total", "x"));
}

/* The feeder counts what the target holds only when the last count plus the
 * attempts recorded since (by it or another replica, feeder_dispatches)
 * leaves no room for a batch; the target never holds more than its hold. */
static void test_dispatch_bounds_what_the_target_holds_across_replicas(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    f->ctx.opt.capacity = 40;
    f->ctx.opt.batch = 10;
    seed(f, "active", 100, "queued");
    replica b;
    replica_start(f, &b);
    size_t sent = 0;
    int full = 0;
    /* First batch: counted (nothing held). Second: 0 + 10 recorded leaves
     * room for a batch under 40, no count. */
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 10);
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 10);
    assert_true(counts_of(f->metrics) == 1.0);
    /* The replica counts for itself (20 held) and sends 10. */
    assert_int_equal(fd_dispatch_tick(&b.ctx, &sent, &full), 0);
    assert_int_equal(sent, 10);
    assert_true(counts_of(b.metrics) == 1.0);
    assert_int_equal(held(f), 30);
    /* The first feeder's bound includes the replica's batch: 0 + 30 still
     * leaves room for one batch, which it sends without a count... */
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 10);
    assert_true(counts_of(f->metrics) == 1.0);
    assert_int_equal(held(f), 40);
    /* ...then the bound (40) leaves none: it counts, and sends nothing. */
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 0);
    assert_true(counts_of(f->metrics) == 2.0);
    assert_int_equal(fd_dispatch_tick(&b.ctx, &sent, &full), 0);
    assert_int_equal(sent, 0);
    assert_int_equal(held(f), 40);
    /* Results free room; only a count sees it. */
    q_cmd(f, "UPDATE attempts SET status = 'done' WHERE contact_id <= 15");
    assert_int_equal(fd_dispatch_tick(&b.ctx, &sent, &full), 0);
    assert_int_equal(sent, 10);
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 5);
    assert_int_equal(held(f), 40);
    assert_int_equal(f->fake->n, 55);
    assert_int_equal(f->fake->duplicates, 0);
    assert_int_equal(
        q_int(f, "SELECT dispatched FROM feeder_dispatches WHERE target = 'uccx:" CISCO_ID "'") -
            q_int(f, "SELECT count(*) FROM attempts"),
        0);
    replica_stop(&b);
}

static void test_dispatch_reports_a_full_batch(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    f->ctx.opt.batch = 10;
    seed(f, "active", 15, "queued");
    size_t sent = 0;
    int full = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 10);
    assert_int_equal(full, 1);
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 5);
    assert_int_equal(full, 0);
}

/* One tick of the feeder: it succeeds and sends n attempts, those of the
 * contacts ids (a comma-separated list). */
static void tick_sends(fixture *f, size_t n, const char *ids)
{
    size_t sent = 0;
    int full = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, n);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE contact_id IN (%s)", ids),
                     (long long)n);
}

/* The oldest queued contacts across every active campaign of the target,
 * whatever campaign they belong to: neither a paused campaign's nor the
 * ones whose next attempt is an SMS are taken, nor do they hold others back. */
static void test_dispatch_takes_the_oldest_across_campaigns(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    f->ctx.opt.batch = 6;
    long long a = seed(f, "active", 5, "queued"); /* contacts 1-5 */
    seed(f, "paused", 5, "queued");               /* 6-10 */
    seed(f, "active", 5, "queued");               /* 11-15 */
    q_cmd(f,
          "INSERT INTO contacts (campaign_id, first_name, last_name, phones, state) "
          "SELECT %lld, 'F', 'L', ARRAY['+1777000' || lpad(g::text, 4, '0')], 'queued' "
          "FROM generate_series(16, 20) g",
          a); /* 16-20 */
    q_cmd(f, "UPDATE contacts SET channel = 'sms' WHERE id IN (1, 2)");
    size_t sent = 0;
    int full = 0;
    tick_sends(f, 6, "3, 4, 5, 11, 12, 13");
    tick_sends(f, 6, "14, 15, 16, 17, 18, 19");
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 1);
    assert_int_equal(q_int(f, "SELECT max(contact_id) FROM attempts"), 20);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE contact_id IN (1, 2) OR "
                              "contact_id BETWEEN 6 AND 10"),
                     0);
    assert_int_equal(f->fake->duplicates, 0);
}

/* Contacts another session holds (a replica's take, an edit) are skipped,
 * not waited for: the take locks the oldest free ones, in id order, and the
 * held ones go in a later batch once free (ECM_QUEUED_TAKE_SQL). */
static void test_dispatch_skips_held_contacts_and_takes_the_next_in_order(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    f->ctx.opt.batch = 10;
    seed(f, "active", 30, "queued");
    PGconn *other = ecm_test_pg_connect(f->db->dsn);
    ecm_test_pg_exec(other, "BEGIN");
    ecm_test_pg_exec(other, "SELECT id FROM contacts WHERE id IN (1, 2, 3, 7, 9) FOR UPDATE");
    tick_sends(f, 10, "4, 5, 6, 8, 10, 11, 12, 13, 14, 15");
    ecm_test_pg_exec(other, "COMMIT");
    PQfinish(other);
    tick_sends(f, 10, "1, 2, 3, 7, 9, 16, 17, 18, 19, 20");
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 10);
    assert_int_equal(f->fake->duplicates, 0);
}

/* More SMS contacts at the front of the queue than the take's candidates
 * (2 x the batch, ECM_QUEUED_CANDIDATES_SQL): the channel is judged among the
 * candidates, so the voice contacts behind them are still found. */
static void test_dispatch_finds_voice_behind_many_sms_contacts(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    f->ctx.opt.batch = 10;
    seed(f, "active", 45, "queued");
    q_cmd(f, "UPDATE contacts SET channel = 'sms' WHERE id <= 30");
    size_t sent = 0;
    int full = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 10);
    assert_int_equal(q_int(f, "SELECT min(contact_id) FROM attempts"), 31);
    assert_int_equal(q_int(f, "SELECT max(contact_id) FROM attempts"), 40);
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, &full), 0);
    assert_int_equal(sent, 5);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE contact_id <= 30"), 0);
    assert_int_equal(f->fake->duplicates, 0);
}

static void test_dispatch_skips_paused_campaign(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long id = seed(f, "paused", 10, "queued");
    size_t sent = 9;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 0);
    assert_int_equal(f->fake->posts, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 10);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 0);
    q_cmd(f, "UPDATE campaigns SET state = 'active' WHERE id = %lld", id);
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 10);
}

/* One contact of campaign cid; tz: SQL for time_zone. Returns its id. */
static long long add_contact(fixture *f, long long cid, const char *phones_sql, const char *tz_sql)
{
    return q_int(f,
                 "INSERT INTO contacts (campaign_id, first_name, phones, time_zone, state) "
                 "VALUES (%lld, 'X', %s, %s, 'queued') RETURNING id",
                 cid, phones_sql, tz_sql);
}

/* 21:05 in New York is 12:05 in Sydney: the one waits for 08:00 and is not
 * sent, the other goes, with the business time of its dispatch. */
static void test_dispatch_defers_contact_outside_its_window_to_the_next_opening(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    setenv("ECM_CLOCK_FIXED", "2026-03-09T21:05:00-04:00", 1);
    long long cid = seed(f, "active", 0, "queued");
    long long ny = add_contact(f, cid, "ARRAY['+12125550100']", "'America/New_York'");
    long long syd = add_contact(f, cid, "ARRAY['+61291234567']", "'Australia/Sydney'");
    size_t sent = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 1);
    assert_int_equal(f->fake->rows, 1);
    assert_false(strstr(f->fake->last_body, "2125550100"));
    assert_int_equal(q_int(f,
                           "SELECT (extract(epoch FROM next_attempt_at) * 1000)::bigint "
                           "FROM contacts WHERE id = %lld AND state = 'waiting' AND attempts = 0",
                           ny),
                     ecm_test_time_ms("2026-03-10T08:00:00-04:00"));
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE contact_id = %lld", ny), 0);
    assert_int_equal(q_int(f,
                           "SELECT (extract(epoch FROM dispatched_at) * 1000)::bigint "
                           "FROM attempts WHERE contact_id = %lld AND status = 'sent'",
                           syd),
                     ecm_test_time_ms("2026-03-09T21:05:00-04:00"));
    assert_int_equal(metric(f, "ecm_gate_deferred_total"), 1);

    /* At the opening it is taken again (as the scheduler's retry would
     * queue it) and sent. */
    setenv("ECM_CLOCK_FIXED", "2026-03-10T08:00:00-04:00", 1);
    q_cmd(f, "UPDATE contacts SET state = 'queued' WHERE id = %lld", ny);
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 1);
    assert_true(fake_has(f->fake, "1-1"));
}

static void test_dispatch_skips_a_dnc_number_and_calls_the_next(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    seed(f, "active", 1, "queued");
    q_cmd(f, "INSERT INTO dnc (phone) VALUES ('+15550000001')");
    size_t sent = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 1);
    assert_non_null(strstr(f->fake->last_body, "16660000001"));
    assert_null(strstr(f->fake->last_body, "15550000001"));
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE phone = '+16660000001' AND "
                              "status = 'sent'"),
                     1);
    assert_int_equal(q_int(f, "SELECT phone_index FROM contacts WHERE id = 1 AND "
                              "state = 'dispatched'"),
                     1);
}

static void test_dispatch_closes_dnc_when_every_number_is_listed(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long cid = seed(f, "active", 2, "queued");
    q_cmd(f,
          "INSERT INTO dnc (phone, campaign_id) VALUES ('+15550000001', %lld), "
          "('+16660000001', NULL)",
          cid);
    size_t sent = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 1);
    assert_false(fake_has(f->fake, "1-1"));
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE id = 1 AND state = 'closed' "
                              "AND outcome = 'DNC'"),
                     1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE contact_id = 1"), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.closed' AND "
                              "msg_key = '1' AND ce_type = 'ecm.v1.ContactClosed'"),
                     1);
    assert_int_equal(metric(f, "ecm_gate_closed_total{outcome=\"DNC\"}"), 1);
}

static void test_dispatch_closes_expired_past_end_at(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long cid = seed(f, "active", 3, "queued");
    q_cmd(f,
          "UPDATE campaigns SET end_at = '2026-03-09T11:59:00Z', updated_at = now() "
          "WHERE id = %lld",
          cid);
    size_t sent = 9;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 0);
    assert_int_equal(f->fake->posts, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'closed' AND "
                              "outcome = 'EXPIRED'"),
                     3);
    assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE topic = 'contacts.closed'"), 3);
    assert_int_equal(metric(f, "ecm_gate_closed_total{outcome=\"EXPIRED\"}"), 3);
}

typedef struct {
    fd_ctx *ctx;
    size_t sent;
    int rc;
} tick_job;

static void *tick_thread(void *arg)
{
    tick_job *j = arg;
    j->rc = fd_dispatch_tick(j->ctx, &j->sent, NULL);
    return NULL;
}

/* A pause being committed while the feeder takes contacts: the take waits
 * for it on the campaign row, then sees 'paused' and takes nothing. */
static void test_dispatch_takes_nothing_once_a_concurrent_pause_commits(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long cid = seed(f, "active", 5, "queued");
    PGconn *other = ecm_test_pg_connect(f->db->dsn);
    ecm_test_pg_exec(other, "BEGIN");
    ecm_test_pg_exec(other, "UPDATE campaigns SET state = 'paused' WHERE id = %lld", cid);
    tick_job job = {&f->ctx, 99, -9};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, tick_thread, &job), 0);
    ecm_test_sleep_ms(300);
    ecm_test_pg_exec(other, "COMMIT");
    pthread_join(th, NULL);
    PQfinish(other);
    assert_int_equal(job.rc, 0);
    assert_int_equal(job.sent, 0);
    assert_int_equal(f->fake->posts, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts"), 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 5);
}

static void test_reconcile_holds_missing_attempts_of_a_paused_campaign(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long id = seed(f, "active", 6, "queued");
    fake_set(f->fake, 503, 200, 0);
    assert_int_equal(fd_dispatch_tick(&f->ctx, NULL, NULL), -2);
    fake_add(f->fake, "1-1");
    fake_set(f->fake, 202, 200, 0);
    q_cmd(f, "UPDATE campaigns SET state = 'paused' WHERE id = %lld", id);
    q_cmd(f, "UPDATE attempts SET sending_at = now() - interval '1 hour'");
    size_t present = 0, resent = 0;
    assert_int_equal(fd_reconcile_run(&f->ctx, &present, &resent), 0);
    assert_int_equal(present, 1);
    assert_int_equal(resent, 0);
    assert_int_equal(f->fake->rows, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE status = 'sending'"), 5);
}

static void test_intake_queues_due_retries_once_and_ignores_stale_events(void **state)
{
    fixture *f = *state;
    NEED_DB(f);
    long long cid = seed(f, "active", 3, "retry_due");
    q_cmd(f, "UPDATE contacts SET attempts = 1");
    /* Loaded by the gateway: already queued, with no attempt. */
    long long loaded = add_contact(f, cid, "ARRAY['+15550009999']", "NULL");
    assert_int_equal(loaded, 4);
    ecm_intake_item items[6] = {
        {.kind = ECM_INTAKE_RETRY, .contact_id = 1, .attempt = 2, .phone_index = 0},
        {.kind = ECM_INTAKE_RETRY, .contact_id = 2, .attempt = 2, .phone_index = 1},
        {.kind = ECM_INTAKE_RETRY, .contact_id = 3, .attempt = 3, .phone_index = 1}, /* stale */
        {.kind = ECM_INTAKE_RETRY, .contact_id = 4, .attempt = 1},   /* not retry_due */
        {.kind = ECM_INTAKE_RETRY, .contact_id = 999, .attempt = 2}, /* unknown */
        {.kind = ECM_INTAKE_IGNORE},
    };
    size_t queued = 0;
    assert_int_equal(ecm_intake_apply(f->pg, items, 6, &queued), 0);
    assert_int_equal(queued, 2);
    assert_int_equal(items[4].unknown, 1);
    assert_int_equal(items[0].unknown + items[1].unknown + items[2].unknown + items[3].unknown, 0);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE state = 'queued'"), 3);
    assert_int_equal(q_int(f, "SELECT phone_index FROM contacts WHERE id = 2"), 1);
    assert_int_equal(q_int(f, "SELECT (state = 'retry_due')::int FROM contacts WHERE id = 3"), 1);
    assert_int_equal(
        q_int(f, "SELECT (state = 'queued' AND attempts = 0)::int FROM contacts WHERE id = 4"), 1);

    /* Redelivered: nothing changes. The right retry queues contact 3. */
    assert_int_equal(ecm_intake_apply(f->pg, items, 6, &queued), 0);
    assert_int_equal(queued, 0);
    items[2].attempt = 2;
    assert_int_equal(ecm_intake_apply(f->pg, items, 6, &queued), 0);
    assert_int_equal(queued, 1);
    assert_int_equal(q_int(f, "SELECT count(*) FROM contacts WHERE id = 3 AND state = 'queued' AND "
                              "phone_index = 1"),
                     1);
    assert_int_equal(ecm_intake_apply(f->pg, items, 6, &queued), 0);
    assert_int_equal(queued, 0);

    /* Retried and freshly loaded contacts go out alike, each on its number. */
    size_t sent = 0;
    assert_int_equal(fd_dispatch_tick(&f->ctx, &sent, NULL), 0);
    assert_int_equal(sent, 4);
    assert_int_equal(q_int(f, "SELECT count(*) FROM attempts WHERE "
                              "(contact_id = 1 AND attempt = 2 AND phone = '+15550000001') OR "
                              "(contact_id = 2 AND attempt = 2 AND phone = '+16660000002') OR "
                              "(contact_id = 3 AND attempt = 2 AND phone = '+16660000003') OR "
                              "(contact_id = 4 AND attempt = 1 AND phone = '+15550009999')"),
                     4);
}

static void test_intake_decode_dead_letters_garbage_and_skips_sms(void **state)
{
    (void)state;
    ecm_intake_item it;
    const unsigned char garbage[] = {0xff, 0xff, 0xff, 0x01, 0x02};
    ecm_intake_decode(ECM_INTAKE_VOICE, "contacts.retry", "contacts.retry", garbage, sizeof garbage,
                      &it);
    assert_int_equal(it.kind, ECM_INTAKE_BAD);
    assert_non_null(strstr(it.reason, "undecodable ecm.v1.ContactRetry: "));

    Ecm__V1__ContactRetry rt = ECM__V1__CONTACT_RETRY__INIT;
    rt.contact_id = 18;
    rt.attempt = 3;
    rt.phone_index = 2;
    rt.channel = ECM__V1__CHANNEL__CHANNEL_SMS;
    uint8_t buf[128];
    size_t len = ecm__v1__contact_retry__pack(&rt, buf);
    ecm_intake_decode(ECM_INTAKE_VOICE, "contacts.retry", "contacts.retry", buf, len, &it);
    assert_int_equal(it.kind, ECM_INTAKE_IGNORE);

    rt.channel = ECM__V1__CHANNEL__CHANNEL_VOICE_AGENT;
    len = ecm__v1__contact_retry__pack(&rt, buf);
    ecm_intake_decode(ECM_INTAKE_VOICE, "contacts.retry", "contacts.retry", buf, len, &it);
    assert_int_equal(it.kind, ECM_INTAKE_RETRY);
    assert_int_equal(it.contact_id, 18);
    assert_int_equal(it.attempt, 3);
    assert_int_equal(it.phone_index, 2);

    /* The feeder no longer subscribes to contacts.uploaded: a message from
     * there is not work, whatever it holds. */
    ecm_intake_decode(ECM_INTAKE_VOICE, "contacts.uploaded", "contacts.retry", buf, len, &it);
    assert_int_equal(it.kind, ECM_INTAKE_BAD);
    assert_string_equal(it.reason, "unexpected topic contacts.uploaded");
}

int main(void)
{
    ecm_log_init("test_fd_dispatch", ECM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dispatch_records_sending_then_sent_with_events,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_uses_the_phone_of_the_retry, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_leaves_sending_when_uccx_is_unavailable,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_leaves_a_rejected_batch_to_the_reconciler,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_holds_one_batch_while_uccx_is_unavailable,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_waits_out_a_timed_out_post_before_reconciling,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(
            test_reconcile_defers_resending_until_uccx_has_answered_a_while, test_setup,
            test_teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_resends_only_what_uccx_lacks, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_keeps_attempts_when_the_list_fails,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_respects_capacity, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_bounds_what_the_target_holds_across_replicas,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_reports_a_full_batch, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(
            test_dispatch_skips_held_contacts_and_takes_the_next_in_order, test_setup,
            test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_takes_the_oldest_across_campaigns, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_finds_voice_behind_many_sms_contacts,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_skips_paused_campaign, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(
            test_dispatch_defers_contact_outside_its_window_to_the_next_opening, test_setup,
            test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_skips_a_dnc_number_and_calls_the_next,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_closes_dnc_when_every_number_is_listed,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_closes_expired_past_end_at, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_takes_nothing_once_a_concurrent_pause_commits,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_holds_missing_attempts_of_a_paused_campaign,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(
            test_intake_queues_due_retries_once_and_ignores_stale_events, test_setup,
            test_teardown),
        cmocka_unit_test(test_intake_decode_dead_letters_garbage_and_skips_sms),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

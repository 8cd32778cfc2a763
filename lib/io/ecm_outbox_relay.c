/* The outbox's relay: one thread that publishes the outbox's rows in id
 * order and deletes each after its delivery report; see ecm_outbox.h. The
 * writing side is ecm_outbox.c. */
#include "ecm_outbox.h"
#include "ecm_outbox_floor.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <poll.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_pgarray.h"

#define OUTBOX_BATCH 1000
#define OUTBOX_PAGES 4 /* pages a scan reads and sends before it waits for their acks */
#define OUTBOX_BACKOFF_MIN_MS 100
#define OUTBOX_BACKOFF_MAX_MS 5000
/* Margin over message.timeout.ms for the last delivery report to arrive. */
#define OUTBOX_REPORT_MARGIN_MS 5000
#define OUTBOX_WAIT_SLICE_MS 100

/* One produced row. The batch outlives the relay's interest in it when the
 * relay gives up waiting: the last delivery report then frees it. */
typedef struct outbox_batch outbox_batch;
typedef struct {
    outbox_batch *batch;
    atomic_int done;
    atomic_int err; /* rd_kafka_resp_err_t */
} outbox_slot;

struct outbox_batch {
    atomic_int refs; /* one per message in flight, plus one for the relay */
    atomic_int reports;
    size_t n;
    outbox_slot slots[];
};

struct ecm_outbox_relay {
    char *dsn;
    ecm_pg *pg;
    ecm_kafka_producer *producer;
    int poll_ms;
    volatile sig_atomic_t *stop;
    int report_wait_ms;
    ecm_metric *m_published;
    ecm_metric *m_backlog;
    ecm_metric *m_errors;
    ecm_metric *m_busy;
    ecm_metric *m_ack_wait; /* histogram: first send to the last report of a batch */
    ecm_metric *m_scan;     /* histogram: a scan that published rows, BEGIN to COMMIT */
    ecm_metric *m_horizon;  /* scans that read the sequence and the open writers */

    /* The connection LISTENing on ECM_OUTBOX_CHANNEL, or NULL, and its
     * backend's pid: a connection ecm_pg replaced may come back at the same
     * address (relay_listens). */
    PGconn *listening;
    int listening_pid;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int quit;               /* under mu */
    int64_t drain_deadline; /* under mu, monotonic ms */

    atomic_int healthy;
    atomic_uint_least64_t published;

    /* Where a scan starts reading: ecm_outbox_floor.h. */
    ecm_outbox_floor *floor;
    int64_t scan_ids[OUTBOX_PAGES * OUTBOX_BATCH]; /* a scan's delivered ids, ascending */
};

typedef enum {
    SCAN_FAILED = -1,
    SCAN_EMPTY = 0,
    SCAN_PARTIAL = 1, /* published fewer rows than a full batch */
    SCAN_FULL = 2,
    SCAN_LOCKED = 3, /* another relay holds the outbox */
} outbox_scan_result;

static void outbox_batch_unref(outbox_batch *b)
{
    if (atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

void ecm_outbox_relay_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    (void)ctx;
    outbox_slot *slot = (outbox_slot *)opaque;
    if (!slot)
        return;
    outbox_batch *b = slot->batch;
    atomic_store(&slot->err, (int)err);
    atomic_store(&slot->done, 1);
    atomic_fetch_add(&b->reports, 1);
    outbox_batch_unref(b);
}

/* Returns 1 when the relay was told to stop and the drain time is over. */
static int relay_past_deadline(ecm_outbox_relay *r)
{
    pthread_mutex_lock(&r->mu);
    int over = r->quit && ecm_clock_mono_ms() >= r->drain_deadline;
    pthread_mutex_unlock(&r->mu);
    return over;
}

static int relay_quitting(ecm_outbox_relay *r)
{
    pthread_mutex_lock(&r->mu);
    int q = r->quit;
    pthread_mutex_unlock(&r->mu);
    return q;
}

/* Sleeps up to ms; a stop request (relay_stop) ends it early. While
 * draining, never sleeps past the drain deadline. */
static void relay_sleep(ecm_outbox_relay *r, int ms)
{
    pthread_mutex_lock(&r->mu);
    int64_t until = ecm_clock_mono_ms() + ms;
    if (r->quit) {
        if (r->drain_deadline < until)
            until = r->drain_deadline;
    }
    int was_quit = r->quit;
    while (ecm_clock_mono_ms() < until && r->quit == was_quit) {
        struct timespec ts = ecm_clock_mono_after_us((until - ecm_clock_mono_ms()) * 1000);
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&r->mu);
}

static int64_t outbox_be64(const char *p)
{
    uint32_t hi, lo;
    memcpy(&hi, p, 4);
    memcpy(&lo, p + 4, 4);
    return (int64_t)(((uint64_t)ntohl(hi) << 32) | ntohl(lo));
}

/* After a failed command: a lost connection makes the relay unhealthy
 * until a scan reaches the DB again. */
static void relay_db_failed(ecm_outbox_relay *r)
{
    if (ecm_pg_check_broken(r->pg)) {
        atomic_store(&r->healthy, 0);
        r->listening = NULL;
    }
}

static void relay_rollback(ecm_outbox_relay *r, PGconn *conn)
{
    PGresult *res = PQexec(conn, "ROLLBACK");
    PQclear(res);
    relay_db_failed(r);
}

static int relay_exec_ok(PGresult *res, const char *what)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 1;
    ecm_log_warn("outbox relay: query failed", "%s: %s", what, PQresultErrorMessage(res));
    return 0;
}

/* COMMITs the transaction on conn: 1 when it committed. A transaction that
 * had failed answers COMMIT with ROLLBACK's tag, and what it deleted is
 * still there: the ids a scan remembers as deleted rely on this. */
static int relay_commit(PGconn *conn)
{
    PGresult *c = PQexec(conn, "COMMIT");
    int ok = relay_exec_ok(c, "COMMIT") && strcmp(PQcmdStatus(c), "COMMIT") == 0;
    PQclear(c);
    return ok;
}

/* Waits for the reports of a batch: until all are in, the producer's
 * message timeout has passed (it guarantees a report), or the drain
 * deadline when stopping. */
static void relay_wait_reports(ecm_outbox_relay *r, outbox_batch *b, int nsent)
{
    int64_t until = ecm_clock_mono_ms() + r->report_wait_ms;
    while (atomic_load(&b->reports) < nsent && ecm_clock_mono_ms() < until) {
        if (relay_past_deadline(r))
            break;
        ecm_kafka_producer_poll(r->producer, 50);
    }
}

/* The scan's first message: its transaction, the planner settings for its
 * statements and the advisory lock, in one round trip (the simple protocol
 * runs the five in order; BEGIN keeps the transaction open after them).
 * The SET LOCALs keep the outbox's reads on its primary key whatever the
 * statistics say (a sequential scan would read every dead heap page),
 * the prepared statements' first plans included, and each prepared
 * statement on its one generic plan: every statement finds its rows by id,
 * and with PostgreSQL's automatic choice the delete of a scan's few rows
 * (a quiet system) was planned again at 2,649 of 3,152 calls, its planning
 * longer than its run (docs/performance.md, session 23). */
#define OUTBOX_BEGIN_SQL                                                                           \
    "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; "                   \
    "SET LOCAL plan_cache_mode = force_generic_plan; "                                             \
    "SELECT pg_try_advisory_xact_lock(%lld)"

/* Opens the scan's transaction and takes the outbox's advisory lock for it.
 * Returns 0 with the lock held, SCAN_LOCKED when another relay holds it (the
 * transaction is then closed), or SCAN_FAILED (rolled back). */
static int relay_begin_locked(ecm_outbox_relay *r, PGconn *conn)
{
    char sql[sizeof OUTBOX_BEGIN_SQL + 24];
    /* trunc-ok: a 64-bit number fits the room left for it */
    snprintf(sql, sizeof sql, OUTBOX_BEGIN_SQL, (long long)ECM_OUTBOX_LOCK_KEY);
    PGresult *res = PQexec(conn, sql);
    if (!relay_exec_ok(res, "advisory lock") || PQntuples(res) != 1) {
        PQclear(res);
        relay_rollback(r, conn);
        return SCAN_FAILED;
    }
    int got = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!got) {
        res = PQexec(conn, "COMMIT");
        PQclear(res);
        atomic_store(&r->healthy, 1);
        return SCAN_LOCKED;
    }
    return 0;
}

/* Sets the backlog gauge after the select res: exact below a full batch,
 * else a cheap estimate over the primary key instead of count(*): from the
 * batch's first id to max(id), since min(id) would walk the index entries
 * of the rows deleted below the head (what the floor avoids). */
static void relay_measure_backlog(ecm_outbox_relay *r, PGconn *conn, const PGresult *sel)
{
    int nrows = PQntuples(sel);
    if (nrows < OUTBOX_BATCH) {
        ecm_metric_set(r->m_backlog, nrows);
        return;
    }
    PGresult *est = PQexec(conn, "SELECT max(id) FROM outbox");
    if (PQresultStatus(est) == PGRES_TUPLES_OK && PQntuples(est) == 1) {
        char *end = NULL;
        long long v = strtoll(PQgetvalue(est, 0, 0), &end, 10);
        if (end && *end == '\0')
            ecm_metric_set(r->m_backlog, (double)(v - outbox_be64(PQgetvalue(sel, 0, 0)) + 1));
    }
    PQclear(est);
}

/* A page: up to OUTBOX_BATCH rows with ids above after (the floor, or the
 * last id of the scan's previous page) in id order, binary (payload arrives
 * as raw bytes, no hex decoding). The bound is a subquery, not a constant,
 * so the planner does not look up the index's actual lowest id to estimate
 * "id > bound": that lookup walks the dead entries again (12.6 ms, 2,864
 * buffers at 1 M dead rows). NULL on failure. */
static PGresult *relay_select(ecm_outbox_relay *r, int64_t after)
{
    char bound[24], limit[16];
    snprintf(bound, sizeof bound, "%lld", (long long)after);
    snprintf(limit, sizeof limit, "%d", OUTBOX_BATCH);
    const char *params[2] = {bound, limit};
    return ecm_pg_exec_binary(
        r->pg,
        "SELECT id, topic, msg_key, ce_id::text, ce_type, ce_source, "
        "floor(extract(epoch FROM ce_time) * 1000)::bigint, payload "
        "FROM outbox WHERE id > (SELECT $1::bigint) ORDER BY id LIMIT $2::int",
        2, params);
}

/* Queues rows of res (the outbox select) to the producer in order, each
 * with its slot of b for the delivery report. Stops at the first row that
 * cannot be sent (*send_failed = 1), since later rows would overtake it.
 * Returns the number queued. */
static int relay_send_rows(ecm_outbox_relay *r, const PGresult *res, outbox_batch *b,
                           int *send_failed)
{
    int nrows = (int)b->n;
    int nsent = 0;
    for (int i = 0; i < nrows; i++) {
        outbox_slot *slot = &b->slots[i];
        slot->batch = b;
        atomic_init(&slot->done, 0);
        atomic_init(&slot->err, 0);
        if (PQgetlength(res, i, 0) != 8 || PQgetlength(res, i, 6) != 8) {
            *send_failed = 1;
            break;
        }
        ecm_kafka_ce ce = {
            .id = PQgetvalue(res, i, 3),
            .type = PQgetvalue(res, i, 4),
            .source = PQgetvalue(res, i, 5),
            .time_ms = outbox_be64(PQgetvalue(res, i, 6)),
        };
        const char *topic = PQgetvalue(res, i, 1);
        const char *key = PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2);
        atomic_fetch_add(&b->refs, 1);
        int sent = 0;
        /* A full local queue drains as reports come in; give it a moment. */
        for (int tries = 0; tries < 100 && !sent; tries++) {
            if (ecm_kafka_producer_send(r->producer, topic, key, PQgetvalue(res, i, 7),
                                        (size_t)PQgetlength(res, i, 7), &ce, slot) == 0)
                sent = 1;
            else
                ecm_kafka_producer_poll(r->producer, 50);
        }
        if (!sent) {
            atomic_fetch_sub(&b->refs, 1);
            *send_failed = 1;
            break;
        }
        nsent++;
    }
    return nsent;
}

/* Adds to ids, and to r->scan_ids from *ndelivered on, the row ids of the
 * first nsent slots of b whose delivery was reported (res: the page's
 * select), counting them in *ndelivered and the others in *nfailed. */
static void relay_collect_delivered(ecm_outbox_relay *r, ecm_pgarr *ids, const PGresult *res,
                                    outbox_batch *b, int nsent, int *ndelivered, int *nfailed)
{
    for (int i = 0; i < nsent; i++) {
        outbox_slot *slot = &b->slots[i];
        if (!atomic_load(&slot->done) || atomic_load(&slot->err) != 0) {
            (*nfailed)++;
            continue;
        }
        int64_t id = outbox_be64(PQgetvalue(res, i, 0));
        ecm_pgarr_add_int(ids, id);
        r->scan_ids[(*ndelivered)++] = id;
    }
}

/* Deletes the rows of ids (none when ndelivered is 0) and commits, or
 * rolls back. Returns 1 when committed, 0 when the transaction failed (rows
 * published but not deleted go out again: at-least-once). */
static int relay_delete_commit(ecm_outbox_relay *r, PGconn *conn, ecm_pgarr *ids, int ndelivered)
{
    const char *list = ecm_pgarr_finish(ids);
    if (!list) {
        relay_rollback(r, conn);
        return 0;
    }
    int ok = 1;
    if (ndelivered > 0) {
        const char *del_params[1] = {list};
        ok = ecm_pg_cmd(r->pg, "DELETE FROM outbox WHERE id = ANY($1::bigint[])", 1, del_params) ==
             0;
    }
    if (ok) {
        ok = relay_commit(conn);
    } else {
        relay_rollback(r, conn);
    }
    if (!ok)
        relay_db_failed(r);
    return ok;
}

/* A page of a scan: its select, its rows' slots, how many were queued. */
typedef struct {
    PGresult *res;
    outbox_batch *b;
    int nsent;
} relay_page;

/* Frees the scan's pages; reports still missing free their batch when they
 * come in. */
static void relay_pages_free(relay_page *pages, int npages)
{
    for (int i = 0; i < npages; i++) {
        PQclear(pages[i].res);
        outbox_batch_unref(pages[i].b);
    }
}

/* Reads and queues up to OUTBOX_PAGES pages, each read while the previous
 * one's messages are on their way (the acks of a page no longer hold up the
 * read of the next). Stops after a page that was not full, an empty read,
 * or a row the producer refused (*send_failed). Sets *saw_end when the last
 * read found every visible row (a page not full, or empty). Returns the
 * number of pages filled, or -1 when a read or an allocation failed (the
 * pages filled so far are in pages for the caller to free). */
static int relay_fill_pages(ecm_outbox_relay *r, PGconn *conn, relay_page *pages, int *npages,
                            int *send_failed, int *saw_end)
{
    int64_t after = ecm_outbox_floor_get(r->floor);
    *npages = 0;
    *saw_end = 0;
    while (*npages < OUTBOX_PAGES) {
        PGresult *res = relay_select(r, after);
        if (!res)
            return -1;
        int nrows = PQntuples(res);
        if (nrows == 0) {
            PQclear(res);
            *saw_end = 1;
            break;
        }
        if (*npages == 0)
            relay_measure_backlog(r, conn, res);
        outbox_batch *b = calloc(1, sizeof *b + (size_t)nrows * sizeof(outbox_slot));
        if (!b) {
            PQclear(res);
            return -1;
        }
        b->n = (size_t)nrows;
        atomic_init(&b->refs, 1);
        atomic_init(&b->reports, 0);
        relay_page *pg = &pages[(*npages)++];
        pg->res = res;
        pg->b = b;
        pg->nsent = relay_send_rows(r, res, b, send_failed);
        if (*send_failed)
            break;
        if (nrows < OUTBOX_BATCH) {
            *saw_end = 1;
            break;
        }
        after = outbox_be64(PQgetvalue(res, nrows - 1, 0));
    }
    return *npages;
}

/* The last id of the scan's last page, or 0 without pages. */
static int64_t relay_last_id(const relay_page *pages, int npages)
{
    if (npages == 0)
        return 0;
    const PGresult *last = pages[npages - 1].res;
    return outbox_be64(PQgetvalue(last, PQntuples(last) - 1, 0));
}

/* One pass: under the advisory lock, publishes up to OUTBOX_PAGES pages of
 * OUTBOX_BATCH rows in id order, waits for their acks, and deletes those the
 * broker acknowledged, in one transaction. */
static outbox_scan_result relay_scan(ecm_outbox_relay *r)
{
    PGconn *conn = ecm_pg_try_conn(r->pg);
    if (!conn) {
        atomic_store(&r->healthy, 0);
        return SCAN_FAILED;
    }
    ecm_outbox_floor_session(r->floor, conn);
    int64_t began = ecm_clock_mono_ms();
    int locked = relay_begin_locked(r, conn);
    if (locked != 0)
        return (outbox_scan_result)locked;
    ecm_outbox_horizon h = {0, NULL};
    relay_page pages[OUTBOX_PAGES];
    int npages = 0, send_failed = 0, saw_end = 0;
    int horizon = ecm_outbox_floor_horizon_due(r->floor);
    int failed = horizon && ecm_outbox_floor_read_horizon(r->pg, &h) != 0;
    if (horizon && !failed)
        ecm_metric_add(r->m_horizon, 1);
    int64_t sending = ecm_clock_mono_ms();
    if (failed || relay_fill_pages(r, conn, pages, &npages, &send_failed, &saw_end) < 0) {
        relay_pages_free(pages, npages);
        ecm_outbox_floor_hold(r->floor, &h);
        relay_rollback(r, conn);
        return SCAN_FAILED;
    }
    atomic_store(&r->healthy, 1);
    int64_t covered = ecm_outbox_floor_covered(&h, saw_end, relay_last_id(pages, npages));
    if (npages == 0) {
        ecm_metric_set(r->m_backlog, 0);
        ecm_outbox_floor_settle(r->floor, relay_commit(conn), horizon, covered, &h);
        return SCAN_EMPTY;
    }
    for (int i = 0; i < npages; i++)
        relay_wait_reports(r, pages[i].b, pages[i].nsent);
    ecm_metric_observe(r->m_ack_wait, (double)(ecm_clock_mono_ms() - sending) / 1000.0);
    int ndelivered = 0, nfailed = 0;
    ecm_pgarr ids;
    ecm_pgarr_init(&ids);
    for (int i = 0; i < npages; i++)
        relay_collect_delivered(r, &ids, pages[i].res, pages[i].b, pages[i].nsent, &ndelivered,
                                &nfailed);
    int ok = relay_delete_commit(r, conn, &ids, ndelivered);
    ecm_pgarr_destroy(&ids);
    /* Before published moves: whoever waits for it sees the scan timed. */
    ecm_metric_observe(r->m_scan, (double)(ecm_clock_mono_ms() - began) / 1000.0);
    relay_pages_free(pages, npages);
    if (ok)
        ecm_outbox_floor_seen(r->floor, r->scan_ids, ndelivered);
    ecm_outbox_floor_settle(r->floor, ok && nfailed == 0 && !send_failed, horizon, covered, &h);
    if (!ok)
        return SCAN_FAILED;
    atomic_fetch_add(&r->published, (uint64_t)ndelivered);
    ecm_metric_add(r->m_published, (uint64_t)ndelivered);
    if (nfailed > 0 || send_failed) {
        ecm_metric_add(r->m_errors, 1);
        ecm_log_warn("outbox relay: rows not delivered, will retry", "%d delivered, %d failed%s",
                     ndelivered, nfailed, send_failed ? ", producer queue refused" : "");
        return SCAN_FAILED;
    }
    return saw_end ? SCAN_PARTIAL : SCAN_FULL;
}

/* 1 when conn is the connection this relay LISTENs on. */
static int relay_listens(const ecm_outbox_relay *r, PGconn *conn)
{
    return r->listening == conn && r->listening_pid == PQbackendPID(conn);
}

/* Frees the notifications libpq has read on conn; 1 when there was one. */
static int relay_drain_notifies(PGconn *conn)
{
    PGnotify *n;
    int got = 0;
    while ((n = PQnotifies(conn)) != NULL) {
        PQfreemem(n);
        got = 1;
    }
    return got;
}

/* Waits up to ms for a notification that outbox rows were committed (the
 * outbox table's trigger notifies ECM_OUTBOX_CHANNEL), so an idle relay
 * neither polls the database nor lets an event wait for the next poll.
 * Without a listening connection (not yet connected, LISTEN refused, e.g.
 * behind a transaction-pooling proxy) it sleeps ms, the polling fallback.
 * A stop request ends the wait within OUTBOX_WAIT_SLICE_MS. */
static void relay_wait(ecm_outbox_relay *r, int ms)
{
    PGconn *conn = ecm_pg_try_conn(r->pg);
    if (conn && !relay_listens(r, conn)) {
        PGresult *res = PQexec(conn, "LISTEN " ECM_OUTBOX_CHANNEL);
        r->listening = PQresultStatus(res) == PGRES_COMMAND_OK ? conn : NULL;
        r->listening_pid = PQbackendPID(conn);
        PQclear(res);
        /* Rows committed after the caller's scan and before the LISTEN
         * raised no notification this connection hears: scan once more. */
        if (r->listening == conn)
            return;
    }
    if (!conn || !relay_listens(r, conn)) {
        relay_sleep(r, ms);
        return;
    }
    int64_t until = ecm_clock_mono_ms() + ms;
    for (;;) {
        if (PQconsumeInput(conn) != 1) {
            relay_db_failed(r);
            return;
        }
        int got = relay_drain_notifies(conn);
        int64_t left = until - ecm_clock_mono_ms();
        if (got || left <= 0 || relay_quitting(r))
            return;
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
        (void)poll(&pfd, 1, (int)(left < OUTBOX_WAIT_SLICE_MS ? left : OUTBOX_WAIT_SLICE_MS));
    }
}

/* After a scan found the outbox held by another relay (each service has
 * one): that relay hears every commit's notification and drains the
 * outbox, so this one sits out poll_ms instead of trying the lock again on
 * each notification (a transaction each time: 11,740 of them in a
 * 10,000-message SMS run with five relays, more than all other
 * transactions together), then tries again in case the holder stopped.
 * It stops listening while it stands by: PostgreSQL wakes every listening
 * backend at every notifying commit (each writes the notification to its
 * client's socket), so five relays standing by cost five backend wake-ups
 * an outbox commit for notifications nobody reads. relay_wait listens
 * again once this relay holds the outbox and finds it empty. A stop
 * request ends the wait early. */
static void relay_stand_by(ecm_outbox_relay *r)
{
    ecm_metric_add(r->m_busy, 1);
    ecm_outbox_floor_expect_horizon(r->floor); /* the holder moved on meanwhile */
    PGconn *conn = ecm_pg_try_conn(r->pg);
    if (conn && relay_listens(r, conn)) {
        PGresult *res = PQexec(conn, "UNLISTEN " ECM_OUTBOX_CHANNEL);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            r->listening = NULL;
            relay_drain_notifies(conn); /* came before the UNLISTEN: nobody reads it */
        }
        PQclear(res);
    }
    relay_sleep(r, r->poll_ms);
}

static void *relay_main(void *arg)
{
    ecm_outbox_relay *r = arg;
    int backoff = 0;
    int was_healthy = 1;
    for (;;) {
        if (relay_past_deadline(r))
            break;
        outbox_scan_result s = relay_scan(r);
        if (s == SCAN_FAILED) {
            if (was_healthy)
                ecm_log_warn("outbox relay: scan failed, backing off", NULL);
            was_healthy = 0;
            backoff = backoff ? backoff * 2 : OUTBOX_BACKOFF_MIN_MS;
            if (backoff > OUTBOX_BACKOFF_MAX_MS)
                backoff = OUTBOX_BACKOFF_MAX_MS;
            relay_sleep(r, backoff);
            continue;
        }
        if (!was_healthy)
            ecm_log_info("outbox relay: recovered", NULL);
        was_healthy = 1;
        backoff = 0;
        if (s == SCAN_FULL || s == SCAN_PARTIAL)
            continue;
        if (relay_quitting(r))
            break;
        if (s == SCAN_LOCKED) {
            relay_stand_by(r);
            continue;
        }
        relay_wait(r, r->poll_ms);
    }
    return NULL;
}

static int outbox_report_wait_ms(ecm_kafka_producer *p)
{
    char buf[32];
    size_t sz = sizeof buf;
    long long timeout = 300000;
    rd_kafka_t *rk = ecm_kafka_producer_handle(p);
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "message.timeout.ms", buf, &sz) == RD_KAFKA_CONF_OK) {
        char *end = NULL;
        long long v = strtoll(buf, &end, 10);
        if (end != buf && *end == '\0' && v > 0)
            timeout = v;
    }
    if (timeout > 600000)
        timeout = 600000;
    return (int)timeout + OUTBOX_REPORT_MARGIN_MS;
}

ecm_outbox_relay *ecm_outbox_relay_start(const char *dsn, ecm_kafka_producer *producer,
                                         ecm_metrics *metrics, int poll_ms,
                                         volatile sig_atomic_t *stop)
{
    ecm_outbox_relay *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    size_t n = strlen(dsn) + 1;
    r->dsn = malloc(n);
    if (!r->dsn)
        goto fail_alloc;
    memcpy(r->dsn, dsn, n);
    r->producer = producer;
    r->poll_ms = poll_ms > 0 ? poll_ms : 1000;
    r->stop = stop;
    r->report_wait_ms = outbox_report_wait_ms(producer);
    /* ecm_pg_try_conn() only: the relay does its own interruptible backoff. */
    r->pg = ecm_pg_new(dsn, stop);
    r->floor = ecm_outbox_floor_new();
    if (!r->pg || !r->floor)
        goto fail_alloc;
    /* Its statements run at every scan: parsed and planned once a session. */
    ecm_pg_set_prepare(r->pg, 1);
    if (metrics) {
        r->m_published = ecm_metrics_counter(metrics, "ecm_outbox_published_total",
                                             "outbox rows published and deleted");
        r->m_backlog =
            ecm_metrics_gauge(metrics, "ecm_outbox_backlog", "outbox rows waiting (estimate)");
        r->m_errors = ecm_metrics_counter(metrics, "ecm_outbox_errors_total",
                                          "outbox relay scans that failed");
        r->m_busy = ecm_metrics_counter(metrics, "ecm_outbox_standby_total",
                                        "outbox relay scans that found another relay draining the "
                                        "outbox (this one then waits ECM_OUTBOX_POLL_MS)");
        static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
        size_t nb = sizeof bounds / sizeof bounds[0];
        r->m_ack_wait = ecm_metrics_histogram(
            metrics, "ecm_outbox_ack_wait_seconds",
            "time from a batch's first send to the broker's last delivery report", bounds, nb);
        r->m_scan = ecm_metrics_histogram(
            metrics, "ecm_outbox_scan_seconds",
            "a relay scan that published rows, from its BEGIN to its COMMIT", bounds, nb);
        r->m_horizon = ecm_metrics_counter(
            metrics, "ecm_outbox_horizon_reads_total",
            "outbox relay scans that read the outbox's open writers (pg_locks) to move their "
            "floor past a gap in the ids");
    }
    atomic_init(&r->healthy, 0);
    atomic_init(&r->published, 0);
    pthread_mutex_init(&r->mu, NULL);
    if (ecm_clock_cond_init(&r->cv) != 0) {
        ecm_log_error("outbox relay: cannot make its condition variable", NULL);
        pthread_mutex_destroy(&r->mu);
        goto fail_alloc;
    }
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        ecm_log_error("outbox relay: cannot start thread", NULL);
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        goto fail_alloc;
    }
    ecm_log_info("outbox relay started", "poll %d ms", r->poll_ms);
    return r;
fail_alloc:
    if (r->pg)
        ecm_pg_destroy(r->pg);
    ecm_outbox_floor_free(r->floor);
    free(r->dsn);
    free(r);
    return NULL;
}

void ecm_outbox_relay_stop(ecm_outbox_relay *r, int timeout_ms)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->quit = 1;
    r->drain_deadline = ecm_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    ecm_log_info("outbox relay stopped", "%" PRIu64 " rows published",
                 (uint64_t)atomic_load(&r->published));
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    ecm_pg_destroy(r->pg);
    ecm_outbox_floor_free(r->floor);
    free(r->dsn);
    free(r);
}

int64_t ecm_outbox_relay_floor(const ecm_outbox_relay *r)
{
    return ecm_outbox_floor_get(r->floor);
}

int ecm_outbox_relay_healthy(const ecm_outbox_relay *r)
{
    return atomic_load(&((ecm_outbox_relay *)r)->healthy);
}

uint64_t ecm_outbox_relay_published(const ecm_outbox_relay *r)
{
    return (uint64_t)atomic_load(&((ecm_outbox_relay *)r)->published);
}

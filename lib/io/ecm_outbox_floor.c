/* The outbox relay's safe floor; see ecm_outbox_floor.h. */
#include "ecm_outbox_floor.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"

/* Ids published above the floor that the relay remembers (see
 * ecm_outbox_floor_seen), and how long a gap below them may last before a
 * scan reads the horizon to step over it. */
#define FLOOR_SEEN_MAX 16384
#define FLOOR_GAP_MS 500

struct ecm_outbox_floor {
    /* No row with an id up to floor exists or can still commit (see
     * floor_advance). */
    atomic_int_least64_t floor;
    /* A candidate for floor, waiting for the outbox writers that were open
     * when it was read (their virtual transaction ids, "{3/12,5/40}") to
     * end. pending_writers NULL: none. */
    int64_t pending_floor;
    char *pending_writers;
    /* Ids above floor this relay published and deleted, ascending
     * (ecm_outbox_floor_seen); the floor moves through them while they
     * follow it without a gap. gap_since: when seen last became non-empty
     * (monotonic ms). horizon_due: the next scan reads the horizon. */
    int64_t *seen;
    int nseen;
    int64_t gap_since;
    int horizon_due;
    /* The session the floor was learnt on (its connection and backend
     * pid): see ecm_outbox_floor_session. */
    PGconn *floor_conn;
    int floor_pid;
};

ecm_outbox_floor *ecm_outbox_floor_new(void)
{
    ecm_outbox_floor *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->seen = malloc(FLOOR_SEEN_MAX * sizeof f->seen[0]);
    if (!f->seen) {
        free(f);
        return NULL;
    }
    atomic_init(&f->floor, 0);
    f->horizon_due = 1;
    return f;
}

void ecm_outbox_floor_free(ecm_outbox_floor *f)
{
    if (!f)
        return;
    free(f->pending_writers);
    free(f->seen);
    free(f);
}

int64_t ecm_outbox_floor_get(const ecm_outbox_floor *f)
{
    return (int64_t)atomic_load(&((ecm_outbox_floor *)f)->floor);
}

void ecm_outbox_floor_expect_horizon(ecm_outbox_floor *f)
{
    f->horizon_due = 1;
}

/* Why a floor at all: the relay deletes the outbox's head continuously, and
 * a read from the lowest id steps over the index entry of every row deleted
 * since the last vacuum (16.6 ms a call at 1 M contacts, docs/performance.md
 * "The outbox relay's read at 1 M"). Why not "id > last id seen": ids come
 * from a sequence, so a transaction can commit a lower id after a higher one
 * was read. The rule: an id <= seq_last (the sequence's last value, read
 * first) was handed out before that read, by a transaction that held its
 * RowExclusiveLock on outbox from before its nextval (INSERT and COPY take
 * it first) until its end. So a row <= seq_last that the following read did
 * not see belongs to a writer listed next in pg_locks, or to one that
 * aborted. Once every listed writer has ended, every row <= seq_last was
 * visible to a read. Virtual transaction ids, not xids: a writer has no xid
 * between its nextval and the heap insert (COPY draws up to 1,000 ids
 * before inserting them), so pg_snapshot_xmin() cannot bound it. Two
 * prepared statements, in that order (reading pg_locks plans a join over a
 * function and a catalog: 150 us a call when planned each time).
 * pg_sequence_last_value(), not a SELECT from the sequence: that scan
 * waited on the sequence's page behind the writers' nextval (80 ms a call
 * in a 300 k voice run). Returns 0 or -1 (transaction left for the caller
 * to roll back). */
int ecm_outbox_floor_read_horizon(ecm_pg *pg, ecm_outbox_horizon *h)
{
    h->seq_last = 0;
    h->writers = NULL;
    const char *seq[1] = {"outbox_id_seq"};
    PGresult *res =
        ecm_pg_exec(pg,
                    "SELECT CASE WHEN (SELECT seqcache FROM pg_sequence WHERE seqrelid = "
                    "$1::regclass) = 1 THEN coalesce(pg_sequence_last_value("
                    "$1::regclass), 0) ELSE 0 END",
                    1, seq);
    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        char *end = NULL;
        long long last = strtoll(PQgetvalue(res, 0, 0), &end, 10);
        h->seq_last = end && *end == '\0' && last > 0 ? last : 0;
    }
    PQclear(res);
    const char *rel[1] = {"outbox"};
    res = ecm_pg_exec(pg,
                      "SELECT coalesce(array_agg(virtualtransaction), '{}')::text FROM pg_locks "
                      "WHERE locktype = 'relation' AND relation = $1::regclass AND database = "
                      "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                      "AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()",
                      1, rel);
    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        const char *v = PQgetvalue(res, 0, 0);
        size_t n = strlen(v) + 1;
        h->writers = malloc(n);
        if (h->writers)
            memcpy(h->writers, v, n);
    }
    PQclear(res);
    return h->writers ? 0 : -1;
}

/* 1 when virtual transaction id vxid (len bytes) is an element of the text
 * array list ("{3/12,5/40}"). */
static int floor_writer_listed(const char *list, const char *vxid, size_t len)
{
    for (const char *p = list; (p = strstr(p, vxid)) != NULL; p++) {
        if ((p[-1] == '{' || p[-1] == ',') && (p[len] == ',' || p[len] == '}'))
            return 1;
    }
    return 0;
}

/* 1 when no writer of the text array before is in now: all have ended (a
 * transaction keeps its relation lock to its end). */
static int floor_writers_ended(const char *before, const char *now)
{
    const char *p = before + 1; /* past '{' */
    while (*p && *p != '}') {
        size_t len = strcspn(p, ",}");
        char vxid[64];
        if (len == 0 || len >= sizeof vxid)
            return 0;
        memcpy(vxid, p, len);
        vxid[len] = '\0';
        if (floor_writer_listed(now, vxid, len))
            return 0;
        p += len;
        if (*p == ',')
            p++;
    }
    return 1;
}

/* After a scan from floor + 1 published and deleted every row it read:
 * covered is the id up to which that read saw every visible row (seq_last,
 * or the batch's last id when the batch was full). A pending candidate whose
 * writers have all ended before this read becomes the floor (up to covered:
 * the rows its writers committed were visible to this read); with no writer
 * open, covered itself does; else covered waits as the candidate. Takes
 * h->writers. This function can't fail. */
static void floor_advance(ecm_outbox_floor *f, int64_t covered, ecm_outbox_horizon *h)
{
    int64_t floor = atomic_load(&f->floor);
    if (f->pending_writers && floor_writers_ended(f->pending_writers, h->writers)) {
        int64_t to = f->pending_floor < covered ? f->pending_floor : covered;
        if (to > floor)
            floor = to;
        free(f->pending_writers);
        f->pending_writers = NULL;
    }
    if (strcmp(h->writers, "{}") == 0) {
        if (covered > floor)
            floor = covered;
        free(h->writers);
    } else if (!f->pending_writers && covered > floor) {
        f->pending_floor = covered;
        f->pending_writers = h->writers;
    } else {
        free(h->writers);
    }
    h->writers = NULL;
    atomic_store(&f->floor, floor);
}

/* A scan that did not publish all it read: its rows stay above the floor,
 * but a candidate could now cover one of them, so it is dropped. */
void ecm_outbox_floor_hold(ecm_outbox_floor *f, ecm_outbox_horizon *h)
{
    free(h->writers);
    h->writers = NULL;
    free(f->pending_writers);
    f->pending_writers = NULL;
}

/* Merges the n ascending ids (published and deleted by a committed scan,
 * each above the floor it read from) into f->seen. Past FLOOR_SEEN_MAX the
 * highest are left out: the floor then stops below them until a horizon
 * steps over (ecm_outbox_floor_horizon_due). Can't fail. */
void ecm_outbox_floor_seen(ecm_outbox_floor *f, const int64_t *ids, int n)
{
    int i = f->nseen - 1, j = n - 1, k = f->nseen + n - 1;
    while (j >= 0) {
        int64_t v = i >= 0 && f->seen[i] > ids[j] ? f->seen[i--] : ids[j--];
        if (k < FLOOR_SEEN_MAX)
            f->seen[k] = v;
        k--;
    }
    f->nseen = f->nseen + n < FLOOR_SEEN_MAX ? f->nseen + n : FLOOR_SEEN_MAX;
}

/* Moves the floor through the remembered ids that follow it without a gap
 * (every id up to the new floor was published and deleted: ids are
 * unique) and forgets those at or below it. A gap is a writer still open
 * with a lower id (it commits a moment later, then its id closes the gap
 * here) or an id no row will ever have (an aborted writer, a failed
 * insert): only the horizon steps over those, so the floor reads the
 * horizon only when a gap has held it FLOOR_GAP_MS. Can't fail. */
static void floor_follow(ecm_outbox_floor *f)
{
    int64_t floor = atomic_load(&f->floor);
    int64_t was = floor;
    int k = 0;
    while (k < f->nseen && f->seen[k] <= floor)
        k++;
    while (k < f->nseen && f->seen[k] == floor + 1) {
        floor++;
        k++;
    }
    f->nseen -= k;
    memmove(f->seen, f->seen + k, (size_t)f->nseen * sizeof f->seen[0]);
    atomic_store(&f->floor, floor);
    if (f->nseen == 0)
        f->gap_since = 0;
    else if (f->gap_since == 0 || floor != was)
        f->gap_since = ecm_clock_mono_ms();
}

/* 1 when this scan reads the horizon: the first scan, after standing by
 * (another relay moved on meanwhile), while a candidate waits for its
 * writers, and when a gap has held the floor FLOOR_GAP_MS or the
 * remembered ids fill half their room. */
int ecm_outbox_floor_horizon_due(const ecm_outbox_floor *f)
{
    return f->horizon_due || f->pending_writers || f->nseen >= FLOOR_SEEN_MAX / 2 ||
           (f->nseen > 0 && ecm_clock_mono_ms() - f->gap_since >= FLOOR_GAP_MS);
}

/* The id up to which the scan's reads saw every visible row: the
 * sequence's last value, or the last page's last id when the reads stopped
 * at a full page (floor_advance). Pages are read in id order, each above
 * the previous one's last id, so together they cover what one read of all
 * their rows would have. */
int64_t ecm_outbox_floor_covered(const ecm_outbox_horizon *h, int saw_end, int64_t last_id)
{
    int64_t covered = h->seq_last;
    if (!saw_end && last_id > 0 && last_id < covered)
        covered = last_id;
    return covered;
}

/* On a new session the floor starts again from 0 and the horizon: the
 * server may not be the one the floor was learnt on (a failover to a
 * replica that had not received the last ids, a restore), and its sequence
 * can hand out again ids at or below the old floor, which a read above it
 * would never see. One read from the lowest id, then the horizon moves the
 * floor up again. Can't fail. */
void ecm_outbox_floor_session(ecm_outbox_floor *f, PGconn *conn)
{
    int pid = PQbackendPID(conn);
    if (conn == f->floor_conn && pid == f->floor_pid)
        return;
    f->floor_conn = conn;
    f->floor_pid = pid;
    atomic_store(&f->floor, 0);
    f->nseen = 0;
    f->gap_since = 0;
    free(f->pending_writers);
    f->pending_writers = NULL;
    f->horizon_due = 1;
}

/* After a scan's commit: complete is 1 when it published and deleted
 * every row it read. With the horizon read (horizon), covered and h may
 * move the floor (floor_advance); a scan not complete drops the
 * candidate (ecm_outbox_floor_hold). Then the floor follows the remembered ids.
 * Takes h->writers. Can't fail. */
void ecm_outbox_floor_settle(ecm_outbox_floor *f, int complete, int horizon, int64_t covered,
                             ecm_outbox_horizon *h)
{
    if (complete && horizon) {
        floor_advance(f, covered, h);
        f->horizon_due = 0;
    } else if (!complete) {
        ecm_outbox_floor_hold(f, h);
    }
    floor_follow(f);
}

/* The transactional outbox, writing side: see ecm_outbox.h. The relay that
 * publishes and deletes its rows is ecm_outbox_relay.c. */
#include "ecm_outbox.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_log.h"
#include "ecm_uuid.h"

static const char outbox_insert_sql[] =
    "INSERT INTO outbox (topic, msg_key, ce_id, ce_type, ce_source, ce_time, payload) "
    "VALUES ($1, $2, $3, $4, $5, 'epoch'::timestamptz + $6::bigint * interval '1 millisecond', "
    "$7)";

static const char outbox_copy_sql[] =
    "COPY outbox (topic, msg_key, ce_id, ce_type, ce_source, ce_time, payload) FROM STDIN";

/* ---- writing ---- */

/* The connection of the caller's open transaction. An event written outside
 * a transaction (or on a connection lost and remade) would be committed
 * without the state change it belongs to, so that is refused. */
static PGconn *outbox_txn_conn(ecm_pg *pg)
{
    PGconn *conn = ecm_pg_try_conn(pg);
    if (!conn || PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        ecm_log_error("outbox write outside a transaction", NULL);
        return NULL;
    }
    return conn;
}

int ecm_outbox_add(ecm_pg *pg, const char *topic, const char *key, const char *source,
                   const char *event_id, int64_t occurred_at_ms, const ProtobufCMessage *msg)
{
    size_t len = 0;
    uint8_t *payload = ecm_event_pack(msg, &len);
    if (!payload) {
        ecm_log_error("outbox: out of memory", NULL);
        return -1;
    }
    PGconn *conn = outbox_txn_conn(pg);
    if (!conn) {
        free(payload);
        return -1;
    }
    char ms[32];
    snprintf(ms, sizeof ms, "%" PRId64, occurred_at_ms);
    const char *values[7] = {
        topic, key, event_id, msg->descriptor->name, source, ms, (const char *)payload};
    int lengths[7] = {0, 0, 0, 0, 0, 0, (int)len};
    int formats[7] = {0, 0, 0, 0, 0, 0, 1};
    PGresult *res = PQexecParams(conn, outbox_insert_sql, 7, NULL, values, lengths, formats, 0);
    free(payload);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        ecm_log_error("outbox insert failed", "%s", PQresultErrorMessage(res));
        ecm_pg_check_broken(pg);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int ecm_outbox_copy_begin(ecm_pg *pg)
{
    if (!outbox_txn_conn(pg))
        return -1;
    return ecm_pg_copy_begin(pg, outbox_copy_sql);
}

/* PostgreSQL refuses a field over 1 GB, so a longer row could not be stored
 * anyway. */
#define OUTBOX_ROW_MAX (1u << 30)

int ecm_outbox_copy_add(ecm_pg *pg, const char *topic, const char *key, const char *source,
                        const char *event_id, int64_t occurred_at_ms, const ProtobufCMessage *msg)
{
    static const char hex[] = "0123456789abcdef";
    size_t plen = 0;
    uint8_t *payload = ecm_event_pack(msg, &plen);
    if (!payload) {
        ecm_log_error("outbox: out of memory", NULL);
        return -1;
    }
    ecm_buf row;
    ecm_buf_init(&row, OUTBOX_ROW_MAX);
    char when[40];
    ecm_clock_format_ms(occurred_at_ms, when, sizeof when);
    const char *fields[6] = {topic, key, event_id, msg->descriptor->name, source, when};
    int rc = 0;
    for (size_t i = 0; i < 6 && rc == 0; i++)
        rc = ecm_pg_copy_escape(&row, fields[i]) || ecm_buf_add(&row, "\t", 1);
    /* bytea hex input "\x..."; the backslash itself is escaped for COPY. */
    if (rc == 0)
        rc = ecm_buf_add(&row, "\\\\x", 3);
    for (size_t i = 0; i < plen && rc == 0; i++) {
        char two[2] = {hex[payload[i] >> 4], hex[payload[i] & 15]};
        rc = ecm_buf_add(&row, two, 2);
    }
    if (rc == 0)
        rc = ecm_buf_add(&row, "\n", 1);
    free(payload);
    if (rc != 0) {
        ecm_buf_destroy(&row);
        ecm_log_error("outbox: out of memory", NULL);
        return -1;
    }
    rc = ecm_pg_copy_put(pg, ecm_buf_ptr(&row), ecm_buf_len(&row));
    ecm_buf_destroy(&row);
    return rc;
}

int ecm_outbox_copy_end(ecm_pg *pg)
{
    return ecm_pg_copy_end(pg);
}

/* Adds the ContactClosed event of c through ecm_outbox_add() or, when copy,
 * ecm_outbox_copy_add(). Returns 0 or -1. */
static int outbox_add_closed(ecm_pg *pg, int copy, const char *topic, const char *source,
                             const ecm_outbox_closed *c)
{
    char id[ECM_UUID_LEN], key[24];
    ecm_uuid_new(id);
    snprintf(key, sizeof key, "%lld", (long long)c->contact_id);
    Ecm__V1__ContactClosed ev = ECM__V1__CONTACT_CLOSED__INIT;
    ev.event_id = id;
    ev.occurred_at = c->occurred_at_ms ? c->occurred_at_ms : ecm_clock_wall_ms();
    ev.campaign_id = c->campaign_id;
    ev.contact_id = c->contact_id;
    ev.attempts = c->attempts;
    ev.outcome = c->outcome;
    if (copy)
        return ecm_outbox_copy_add(pg, topic, key, source, id, ev.occurred_at, &ev.base);
    return ecm_outbox_add(pg, topic, key, source, id, ev.occurred_at, &ev.base);
}

int ecm_outbox_add_closed(ecm_pg *pg, const char *topic, const char *source,
                          const ecm_outbox_closed *c)
{
    return outbox_add_closed(pg, 0, topic, source, c);
}

int ecm_outbox_copy_add_closed(ecm_pg *pg, const char *topic, const char *source,
                               const ecm_outbox_closed *c)
{
    return outbox_add_closed(pg, 1, topic, source, c);
}

/* The fixture of the sms sender's tests (test_sms_sender.c,
 * test_sms_recover.c): a scratch migrated database, a fake gateway on a
 * port of the test's range, the topics, and query helpers on the fixture's
 * connection. Header-only: each test binary includes it once. */
#ifndef SMS_SENDER_TEST_SUPPORT_H
#define SMS_SENDER_TEST_SUPPORT_H

#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"
#include "sms_ctx.h"
#include "sms_sender.h"
#include "ecm_test_support.h"
#include "test_sms_fake_gw.h"

typedef struct {
    ecm_test_db *db;
    ecm_pg *pg;
    fake_gw *fake;
    ecm_metrics *metrics;
    ecm_common_config common;
    sms_ctx ctx;
    char kannel_url[128], http_url[128]; /* the fake's Kannel and JSON faces */
    sms_sender *sender;
} fixture;

static inline PGresult *q(fixture *f, const char *sql)
{
    return ecm_test_pg_query(ecm_pg_conn(f->pg), "%s", sql);
}

static inline long long q_int(fixture *f, const char *sql)
{
    return ecm_test_pg_int(ecm_pg_conn(f->pg), "%s", sql);
}

static inline char *q_str(fixture *f, const char *sql)
{
    return ecm_test_pg_text(ecm_pg_conn(f->pg), "%s", sql);
}

static inline void q_cmd(fixture *f, const char *sql)
{
    ecm_test_pg_exec(ecm_pg_conn(f->pg), "%s", sql);
}

/* The group set-up: *state gets the fixture, or NULL when ECM_TEST_PG_DSN
 * is unset (each test then skips). The database is named db_name; the fake
 * listens on a port of [port_lo, port_hi]. */
static inline int sms_fixture_setup(void **state, const char *db_name, int port_lo, int port_hi)
{
    *state = NULL;
    if (!ecm_test_pg_dsn())
        return 0;
    ecm_log_init("test", ECM_LOG_ERROR);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->db = ecm_test_db_new_migrated(db_name);
    f->pg = ecm_pg_new(f->db->dsn, NULL);
    assert_non_null(f->pg);
    f->fake = fake_start(port_lo, port_hi);
    assert_non_null(f->fake);
    f->common.topic_dispatched = "contacts.dispatched";
    f->common.topic_sms_results = "sms.results";
    f->common.topic_closed = "contacts.closed";
    f->common.topic_retry = "contacts.retry";
    snprintf(f->kannel_url, sizeof f->kannel_url, "http://127.0.0.1:%d/cgi-bin/sendsms",
             f->fake->port);
    snprintf(f->http_url, sizeof f->http_url, "http://127.0.0.1:%d/send", f->fake->port);
    *state = f;
    return 0;
}

static inline int sms_fixture_teardown(void **state)
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

#endif

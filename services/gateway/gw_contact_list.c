#include "gw_contact_list.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_phone.h"
#include "ecm_pgval.h"
#include "gw_json.h"

/* The campaign's region, to read a ?phone the way its contacts were read.
 * Returns 1 (region filled), 0 (answered 404), -1 (answered 503). */
static int campaign_region(ecm_http_req *req, ecm_pg *pg, long long id, char *region,
                           size_t region_size)
{
    char sid[24];
    (void)snprintf(sid, sizeof sid, "%lld", id);
    const char *params[] = {sid};
    PGresult *r =
        ecm_pg_exec(pg, "SELECT coalesce(region, '') FROM campaigns WHERE id = $1", 1, params);
    if (!r) {
        gw_respond_db_down(req, pg, "read the campaign");
        return -1;
    }
    int found = PQntuples(r) == 1;
    if (found) {
        (void)snprintf(region, region_size, "%s", PQgetvalue(r, 0, 0)); /* trunc-ok: 2 letters */
    } else {
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "no campaign has id %lld", id);
    }
    PQclear(r);
    return found;
}

/* clang-format off */
static const char LIST_SQL[] =
    "SELECT c.id, c.state, c.outcome, array_to_json(c.phones)::text, c.attempts, "
    GW_SQL_TIME("c.next_attempt_at") ", " GW_SQL_TIME("c.callback_at") ", c.account_number, "
    "c.first_name, c.last_name, c.upload_id, c.line_no, " GW_SQL_TIME("c.closed_at") ", "
    GW_SQL_TIME("c.updated_at") " "
    "FROM contacts c WHERE c.campaign_id = $1 "
    "AND ($2::bigint = 0 OR c.id < $2::bigint) "
    "AND ($4::text IS NULL OR c.state = $4) "
    "AND ($5::text IS NULL OR c.outcome = $5) "
    "AND ($6::bigint IS NULL OR c.id = (SELECT p.contact_id FROM contact_phones p "
    "     WHERE p.campaign_id = $1 AND p.phone = $6::bigint)) "
    "AND ($7::text IS NULL OR c.account_number = $7) "
    "AND ($8::bigint IS NULL OR c.upload_id = $8::bigint) "
    "ORDER BY c.id DESC LIMIT $3::int";
/* clang-format on */

static json_t *contact_row_json(const PGresult *r, int i)
{
#define TEXT(c) gw_json_text_or_null(PQgetvalue(r, i, c), PQgetisnull(r, i, c))
    json_t *phones = json_loads(PQgetvalue(r, i, 3), 0, NULL);
    return json_pack(
        "{sI ss so so sI so so so so so so so so so}", "id", (json_int_t)ecm_pgval_ll(r, i, 0, 0),
        "state", PQgetvalue(r, i, 1), "outcome", TEXT(2), "phones", phones ? phones : json_array(),
        "attempts", (json_int_t)ecm_pgval_ll(r, i, 4, 0), "next_attempt_at", TEXT(5), "callback_at",
        TEXT(6), "account_number", TEXT(7), "first_name", TEXT(8), "last_name", TEXT(9),
        "upload_id", PQgetisnull(r, i, 10) ? json_null() : json_integer(ecm_pgval_ll(r, i, 10, 0)),
        "line", PQgetisnull(r, i, 11) ? json_null() : json_integer(ecm_pgval_ll(r, i, 11, 0)),
        "closed_at", TEXT(12), "updated_at", TEXT(13));
#undef TEXT
}

static const char *const contact_states[] = {"pending", "queued",    "dispatched",
                                             "waiting", "retry_due", "closed"};

/* ?state, when given, is one of the states. Returns 0, or -1 after 400. */
static int check_state(ecm_http_req *req, const char *state)
{
    if (!state) {
        return 0;
    }
    for (size_t i = 0; i < sizeof contact_states / sizeof contact_states[0]; i++) {
        if (strcmp(state, contact_states[i]) == 0) {
            return 0;
        }
    }
    ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                             "state: '%s' is not one of pending, queued, dispatched, waiting, "
                             "retry_due, closed",
                             GW_QUOTE(state, 40));
    return -1;
}

/* ?phone as contact_phones keys it (E.164 digits), read with region.
 * Returns 0 (key filled; "" when absent), or -1 after answering 400. */
static int phone_key(ecm_http_req *req, const char *region, char *key, size_t key_size)
{
    key[0] = '\0';
    const char *raw = ecm_http_req_query(req, "phone");
    if (!raw) {
        return 0;
    }
    ecm_phone_info info;
    char why[96];
    if (ecm_phone_normalize(raw, region, &info, why, sizeof why) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "phone: '%s' is not a phone number (%s)", GW_QUOTE(raw, 40), why);
        return -1;
    }
    if (snprintf(key, key_size, "%s", info.e164 + 1) >= (int)key_size) {
        key[0] = '\0'; /* cannot happen: E.164 has at most 15 digits */
        return -1;
    }
    return 0;
}

static void list_contacts(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id, upload = 0;
    gw_page page;
    if (gw_path_id(req, "campaign", &id) != 0 ||
        gw_page_args(req, GW_CONTACT_LIST_DEFAULT, GW_CONTACT_LIST_MAX, &page) != 0 ||
        check_state(req, ecm_http_req_query(req, "state")) != 0 ||
        (ecm_http_req_query(req, "upload_id") &&
         gw_query_int(req, "upload_id", 0, 1, INT64_MAX, &upload) != 0)) {
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    if (!pg) {
        gw_respond_db_down(req, pg, "list contacts");
        return;
    }
    char region[16], key[ECM_PHONE_E164_LEN], sid[24], supload[24];
    if (campaign_region(req, pg, id, region, sizeof region) <= 0 ||
        phone_key(req, region[0] ? region : app->default_region, key, sizeof key) != 0) {
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    (void)snprintf(sid, sizeof sid, "%lld", id);
    (void)snprintf(supload, sizeof supload, "%lld", upload);
    const char *params[] = {
        sid,
        page.cursor_param,
        page.limit_param,
        ecm_http_req_query(req, "state"),
        ecm_http_req_query(req, "outcome"),
        key[0] ? key : NULL,
        ecm_http_req_query(req, "account_number"),
        upload ? supload : NULL,
    };
    PGresult *r = ecm_pg_exec(pg, LIST_SQL, 8, params);
    if (!r) {
        gw_respond_db_down(req, pg, "list contacts");
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    json_t *answer = gw_page_json(r, &page, contact_row_json);
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    gw_json_respond(req, 200, answer);
}

/* ---- stats ---------------------------------------------------------- */

/* $1 campaign, $2 'minute' or 'hour', $3 buckets. One statement: one
 * snapshot. Attempts count by when they were handed to the dialer or
 * gateway (sending_at), results by when they came (result_at): both the
 * database's clock, like now(). */
/* clang-format off */
static const char STATS_SQL[] =
    "WITH span AS (SELECT date_trunc($2, now()) AS last, ('1 ' || $2)::interval AS step, "
    "                     $3::int AS n), "
    "win AS (SELECT last - (n - 1) * step AS first, last, step FROM span), "
    "buckets AS (SELECT generate_series(first, last, step) AS at FROM win), "
    "sent AS (SELECT date_trunc($2, a.sending_at) AS at, count(*) AS n FROM attempts a, win "
    "         WHERE a.campaign_id = $1 AND a.sending_at >= win.first GROUP BY 1), "
    "res AS (SELECT date_trunc($2, a.result_at) AS at, coalesce(a.outcome, 'UNKNOWN') AS outcome, "
    "               count(*) AS n FROM attempts a, win "
    "        WHERE a.campaign_id = $1 AND a.result_at >= win.first GROUP BY 1, 2) "
    "SELECT " GW_SQL_TIME("b.at") ", coalesce(s.n, 0), "
    "       coalesce((SELECT sum(n) FROM res WHERE res.at = b.at), 0), "
    "       coalesce((SELECT json_object_agg(outcome, n) FROM res WHERE res.at = b.at), '{}')::text "
    "FROM buckets b LEFT JOIN sent s ON s.at = b.at ORDER BY b.at";

static const char RATES_SQL[] =
    "SELECT count(*) FILTER (WHERE sending_at >= now() - interval '1 minute'), "
    "       count(*) FILTER (WHERE sending_at >= now() - interval '5 minutes'), "
    "       count(*) FILTER (WHERE result_at >= now() - interval '1 minute'), "
    "       count(*) FILTER (WHERE result_at >= now() - interval '5 minutes'), "
    "       count(*), count(*) FILTER (WHERE result_at IS NOT NULL) "
    "FROM attempts WHERE campaign_id = $1";
/* clang-format on */

static json_t *stats_json(const PGresult *series, const PGresult *rates, const char *unit)
{
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(series); i++) {
        json_t *outcomes = json_loads(PQgetvalue(series, i, 3), 0, NULL);
        json_array_append_new(items,
                              json_pack("{ss sI sI so}", "at", PQgetvalue(series, i, 0), "attempts",
                                        (json_int_t)ecm_pgval_ll(series, i, 1, 0), "results",
                                        (json_int_t)ecm_pgval_ll(series, i, 2, 0), "outcomes",
                                        outcomes ? outcomes : json_object()));
    }
    json_t *rate =
        json_pack("{sI sI sI sI}", "attempts_last_minute", (json_int_t)ecm_pgval_ll(rates, 0, 0, 0),
                  "attempts_last_5_minutes", (json_int_t)ecm_pgval_ll(rates, 0, 1, 0),
                  "results_last_minute", (json_int_t)ecm_pgval_ll(rates, 0, 2, 0),
                  "results_last_5_minutes", (json_int_t)ecm_pgval_ll(rates, 0, 3, 0));
    return json_pack("{so s{sI sI} s{ss so}}", "rates", rate, "totals", "attempts",
                     (json_int_t)ecm_pgval_ll(rates, 0, 4, 0), "results",
                     (json_int_t)ecm_pgval_ll(rates, 0, 5, 0), "series", "bucket", unit, "items",
                     items);
}

static void campaign_stats(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long id, n;
    if (gw_path_id(req, "campaign", &id) != 0) {
        return;
    }
    const char *unit = ecm_http_req_query(req, "bucket");
    unit = unit ? unit : "minute";
    if (strcmp(unit, "minute") == 0) {
        if (gw_query_int(req, "minutes", 60, 1, 1440, &n) != 0) {
            return;
        }
    } else if (strcmp(unit, "hour") == 0) {
        if (gw_query_int(req, "hours", 48, 1, 24 * 31, &n) != 0) {
            return;
        }
    } else {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "bucket: '%s' is not minute or hour", GW_QUOTE(unit, 40));
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    char region[16], sid[24], sn[24];
    if (!pg) {
        gw_respond_db_down(req, pg, "read the campaign's figures");
        return;
    }
    if (campaign_region(req, pg, id, region, sizeof region) <= 0) {
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    (void)snprintf(sid, sizeof sid, "%lld", id);
    (void)snprintf(sn, sizeof sn, "%lld", n);
    const char *params[] = {sid, unit, sn};
    PGresult *series = ecm_pg_exec(pg, STATS_SQL, 3, params);
    PGresult *rates = series ? ecm_pg_exec(pg, RATES_SQL, 1, params) : NULL;
    if (!series || !rates) {
        gw_respond_db_down(req, pg, "read the campaign's figures");
    } else {
        json_t *answer = stats_json(series, rates, unit);
        json_object_set_new(answer, "campaign_id", json_integer(id));
        gw_json_respond(req, 200, answer);
    }
    PQclear(series);
    PQclear(rates);
    ecm_pg_pool_put(app->pool, pg);
}

int gw_contact_list_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "GET", "/api/v1/campaigns/{}/contacts", 0, list_contacts, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/campaigns/{}/stats", 0, campaign_stats, ctx) != 0) {
        return -1;
    }
    return 0;
}

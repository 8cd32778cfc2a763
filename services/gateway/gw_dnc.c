#include "gw_dnc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ecm_log.h"
#include "ecm_pg.h"
#include "gw_json.h"
#include "gw_upload.h"

#define GW_DNC_BODY_MAX 4096
#define GW_DNC_REASON_MAX 200
#define GW_DNC_LIST_DEFAULT 50
#define GW_DNC_LIST_MAX 500
#define GW_PHONE_BUF 32

int gw_dnc_phone_key(const char *raw, char *out, size_t out_size)
{
    char norm[GW_PHONE_BUF];
    if (!raw || gw_phone_normalize(raw, NULL, norm, sizeof(norm)) != 0) {
        if (out_size > 0) {
            out[0] = '\0';
        }
        return -1;
    }
    const char *digits = norm[0] == '+' ? norm + 1 : norm;
    int n = snprintf(out, out_size, "%s", digits);
    if (n < 0 || (size_t)n >= out_size) {
        if (out_size > 0) {
            out[0] = '\0';
        }
        return -1;
    }
    return 0;
}

#define DNC_FIELDS "id, phone, campaign_id, source, reason, " GW_SQL_TIME("created_at")
#define DNC_COLUMNS DNC_FIELDS " FROM dnc "

static json_t *dnc_row_json(const PGresult *r, int i)
{
    json_t *campaign = PQgetisnull(r, i, 2)
                           ? json_null()
                           : json_integer((json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10));
    return json_pack("{sI ss so ss so ss}", "id",
                     (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "phone",
                     PQgetvalue(r, i, 1), "campaign_id", campaign, "source", PQgetvalue(r, i, 3),
                     "reason", gw_json_text_or_null(PQgetvalue(r, i, 4), PQgetisnull(r, i, 4)),
                     "created_at", PQgetvalue(r, i, 5));
}

static void db_down(ecm_http_req *req, ecm_pg *pg, const char *what)
{
    ecm_pg_check_broken(pg);
    ecm_http_respond_problem(req, 503, "unavailable", "Database unavailable", "could not %s", what);
}

/* campaign_id of a JSON body: absent/null is the global list (0). Returns 0
 * or -1 when it is not a positive integer. */
static int body_campaign(const json_t *body, long long *out)
{
    json_t *v = json_object_get(body, "campaign_id");
    *out = 0;
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *out = (long long)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && gw_parse_id(json_string_value(v), out) == 0) {
        return 0;
    }
    return -1;
}

static void add_dnc(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    size_t len = 0;
    const char *text = ecm_http_req_body(req, &len);
    json_error_t jerr;
    json_t *body = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                 "body: must be a JSON object {\"phone\": \"...\"}");
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "phone") != 0 && strcmp(key, "campaign_id") != 0 &&
            strcmp(key, "reason") != 0) {
            ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                     "body: unknown member '%.40s'", key);
            json_decref(body);
            return;
        }
    }
    json_t *jphone = json_object_get(body, "phone");
    char phone[GW_PHONE_BUF];
    if (!json_is_string(jphone) ||
        gw_phone_normalize(json_string_value(jphone), NULL, phone, sizeof(phone)) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                 "phone: required, a phone number of 7 to 20 digits");
        json_decref(body);
        return;
    }
    long long campaign_id;
    if (body_campaign(body, &campaign_id) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                 "campaign_id: must be a campaign id; leave it out for the global "
                                 "list");
        json_decref(body);
        return;
    }
    json_t *jreason = json_object_get(body, "reason");
    const char *reason = NULL;
    if (jreason && !json_is_null(jreason)) {
        if (!json_is_string(jreason) || json_string_length(jreason) > GW_DNC_REASON_MAX) {
            ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                     "reason: must be a string of at most 200 bytes");
            json_decref(body);
            return;
        }
        reason = json_string_value(jreason);
    }
    char cid[24];
    (void)snprintf(cid, sizeof(cid), "%lld", campaign_id);
    const char *params[] = {phone, campaign_id > 0 ? cid : NULL, reason};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = NULL;
    int created = 0;
    if (campaign_id > 0) {
        /* Asked first, so that a client's wrong id is no database error. */
        const char *pc[] = {cid};
        r = ecm_pg_exec(pg, "SELECT 1 FROM campaigns WHERE id = $1", 1, pc);
        if (!r) {
            db_down(req, pg, "read the campaign");
            goto out;
        }
        int exists = PQntuples(r) == 1;
        PQclear(r);
        r = NULL;
        if (!exists) {
            ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                     "campaign %lld does not exist", campaign_id);
            goto out;
        }
    }
    r = ecm_pg_exec(pg,
                    "INSERT INTO dnc (phone, campaign_id, source, reason) "
                    "VALUES ($1, $2, 'api', $3) ON CONFLICT DO NOTHING RETURNING " DNC_FIELDS,
                    3, params);
    created = r && PQntuples(r) == 1;
    if (!r && strcmp(ecm_pg_last_sqlstate(pg), "23503") == 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "campaign %lld does not exist", campaign_id);
        goto out;
    }
    if (r && !created) {
        /* Already listed: answer the entry that is there. */
        PQclear(r);
        const char *p2[] = {phone, campaign_id > 0 ? cid : NULL};
        r = ecm_pg_exec(pg,
                        "SELECT " DNC_COLUMNS "WHERE phone_key = regexp_replace($1, '[^0-9]', '', "
                        "'g') AND campaign_id IS NOT DISTINCT FROM $2::bigint",
                        2, p2);
    }
    if (!r || PQntuples(r) != 1) {
        db_down(req, pg, "write the DNC entry");
        goto out;
    }
    json_t *entry = dnc_row_json(r, 0);
    if (created) {
        char location[64];
        (void)snprintf(location, sizeof(location), "/api/v1/dnc/%s", phone);
        ecm_http_add_header(req, "Location", location);
        ecm_log_info("DNC entry added", "phone=%s campaign_id=%lld", phone, campaign_id);
    }
    gw_json_respond(req, created ? 201 : 200, entry);
out:
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    json_decref(body);
}

/* campaign_id query argument: absent is the global list (0). Returns 0, or
 * -1 after answering 400. */
static int query_campaign(ecm_http_req *req, long long *out)
{
    const char *s = ecm_http_req_query(req, "campaign_id");
    *out = 0;
    if (!s || !*s) {
        return 0;
    }
    if (gw_parse_id(s, out) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "campaign_id: '%.40s' is not a campaign id", s);
        return -1;
    }
    return 0;
}

static void delete_dnc(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    const char *raw = ecm_http_req_param(req, 0);
    char digits[GW_PHONE_BUF];
    if (gw_dnc_phone_key(raw, digits, sizeof(digits)) != 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such DNC entry",
                                 "'%.40s' is not a phone number", raw ? raw : "");
        return;
    }
    long long campaign_id;
    if (query_campaign(req, &campaign_id) != 0) {
        return;
    }
    char cid[24];
    (void)snprintf(cid, sizeof(cid), "%lld", campaign_id);
    const char *params[] = {digits, campaign_id > 0 ? cid : NULL};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg,
                              "DELETE FROM dnc WHERE phone_key = $1 "
                              "AND campaign_id IS NOT DISTINCT FROM $2::bigint RETURNING id",
                              2, params);
    if (!r) {
        db_down(req, pg, "delete the DNC entry");
    } else if (PQntuples(r) == 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such DNC entry",
                                 "%s is not on the %s list", digits,
                                 campaign_id > 0 ? "campaign's" : "global");
    } else {
        ecm_log_info("DNC entry removed", "phone_key=%s campaign_id=%lld", digits, campaign_id);
        ecm_http_respond(req, 204, NULL, NULL, 0);
    }
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
}

static void list_dnc(void *ctx, ecm_http_req *req)
{
    const gw_app *app = ctx;
    long long limit, cursor = 0, campaign_id;
    if (gw_query_int(req, "limit", GW_DNC_LIST_DEFAULT, 1, GW_DNC_LIST_MAX, &limit) != 0 ||
        query_campaign(req, &campaign_id) != 0) {
        return;
    }
    const char *cur = ecm_http_req_query(req, "cursor");
    if (cur && gw_parse_id(cur, &cursor) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "cursor: '%.40s' is not a cursor from next_cursor", cur);
        return;
    }
    const char *phone = ecm_http_req_query(req, "phone");
    char digits[GW_PHONE_BUF];
    if (phone && gw_dnc_phone_key(phone, digits, sizeof(digits)) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "phone: '%.40s' is not a phone number", phone);
        return;
    }
    char scur[24], slim[24], scid[24];
    (void)snprintf(scur, sizeof(scur), "%lld", cursor);
    (void)snprintf(slim, sizeof(slim), "%lld", limit + 1);
    (void)snprintf(scid, sizeof(scid), "%lld", campaign_id);
    const char *params[] = {phone ? digits : NULL, campaign_id > 0 ? scid : NULL, scur, slim};
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT " DNC_COLUMNS "WHERE ($1::text IS NULL OR phone_key = $1) "
                              "AND ($2::bigint IS NULL OR campaign_id = $2::bigint) "
                              "AND ($3::bigint = 0 OR id < $3::bigint) "
                              "ORDER BY id DESC LIMIT $4::int",
                              4, params);
    if (!r) {
        db_down(req, pg, "list the DNC entries");
        ecm_pg_pool_put(app->pool, pg);
        return;
    }
    ecm_pg_pool_put(app->pool, pg);
    int rows = PQntuples(r);
    int shown = rows > limit ? (int)limit : rows;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++) {
        json_array_append_new(items, dnc_row_json(r, i));
    }
    json_t *next = rows > shown ? json_string(PQgetvalue(r, shown - 1, 0)) : json_null();
    PQclear(r);
    gw_json_respond(req, 200, json_pack("{so so}", "items", items, "next_cursor", next));
}

int gw_dnc_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "POST", "/api/v1/dnc", GW_DNC_BODY_MAX, add_dnc, ctx) != 0 ||
        ecm_http_route(h, "GET", "/api/v1/dnc", 0, list_dnc, ctx) != 0 ||
        ecm_http_route(h, "DELETE", "/api/v1/dnc/{}", 0, delete_dnc, ctx) != 0) {
        return -1;
    }
    return 0;
}

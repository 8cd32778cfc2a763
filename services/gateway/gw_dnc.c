#include "gw_dnc.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ecm_clock.h"
#include "ecm_dnc.h"
#include "ecm_log.h"
#include "ecm_pg.h"
#include "ecm_phone.h"
#include "gw_campaigns.h"
#include "gw_audit.h"
#include "gw_auth.h"
#include "gw_json.h"

#define GW_DNC_BODY_MAX 4096
#define GW_DNC_REASON_MAX 200
#define GW_DNC_LIST_DEFAULT 50
#define GW_DNC_LIST_MAX 500
#define GW_DNC_KEY_MAX 24

int gw_dnc_normalize(const char *raw, const char *region, char *e164, size_t e164_size,
                     char *reason, size_t reason_size)
{
    ecm_phone_info info;
    if (e164_size > 0) {
        e164[0] = '\0';
    }
    if (!raw || ecm_phone_normalize(raw, region, &info, reason, reason_size) != 0) {
        if (!raw) {
            (void)snprintf(reason, reason_size, "empty");
        }
        return -1;
    }
    int n = snprintf(e164, e164_size, "%s", info.e164);
    if (n < 0 || (size_t)n >= e164_size) {
        e164[0] = '\0';
        (void)snprintf(reason, reason_size, "too long");
        return -1;
    }
    return 0;
}

/* ---- which list ------------------------------------------------------- */

/* Which routes a handler serves: the global ones (/api/v1/dnc, where a
 * campaign_id argument still names a campaign's list) or a campaign's
 * (/api/v1/campaigns/{id}/dnc). */
typedef enum { DNC_ROUTE_GLOBAL, DNC_ROUTE_CAMPAIGN } dnc_route;

typedef struct {
    long long campaign_id; /* 0: the global list */
    char region[ECM_PHONE_REGION_LEN];
    char cid[24]; /* campaign_id as text, for SQL parameters */
} dnc_list;

static const char *list_param(const dnc_list *l)
{
    return l->campaign_id > 0 ? l->cid : NULL;
}

static const char *default_region(const gw_app *app)
{
    return app->default_region && app->default_region[0] ? app->default_region : "US";
}

/* Fills l for campaign_id (0: global) with the region its numbers are read
 * in. Returns 0, or -1 after answering (404 no such campaign, 503). */
static int open_list(ecm_http_req *req, const gw_app *app, ecm_pg *pg, long long campaign_id,
                     dnc_list *l)
{
    memset(l, 0, sizeof(*l));
    l->campaign_id = campaign_id;
    gw_ll_text(l->cid, campaign_id);
    if (gw_format(l->region, sizeof(l->region), "%s", default_region(app)) != 0) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error",
                                 "the default region is no region code");
        return -1;
    }
    if (campaign_id == 0) {
        return 0;
    }
    const char *params[] = {l->cid};
    PGresult *r = ecm_pg_exec(pg, "SELECT region FROM campaigns WHERE id = $1", 1, params);
    if (!r) {
        gw_respond_db_down(req, pg, "read the campaign");
        return -1;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "campaign %lld does not exist", campaign_id);
        return -1;
    }
    int cut = gw_format(l->region, sizeof(l->region), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (cut) {
        ecm_http_respond_problem(req, 500, "internal", "Internal error",
                                 "campaign %lld's region is no region code", campaign_id);
        return -1;
    }
    return 0;
}

/* The campaign a request names: the path's {id} on campaign routes, else
 * the campaign_id query argument or body member (absent: 0, global).
 * Returns 0, or -1 after answering. */
static int request_campaign(ecm_http_req *req, dnc_route route, const json_t *body, long long *out)
{
    *out = 0;
    if (route == DNC_ROUTE_CAMPAIGN) {
        return gw_path_id(req, "campaign", out);
    }
    json_t *v = body ? json_object_get(body, "campaign_id") : NULL;
    if (v && !json_is_null(v)) {
        if (json_is_integer(v) && json_integer_value(v) > 0) {
            *out = (long long)json_integer_value(v);
            return 0;
        }
        if (json_is_string(v) && gw_parse_id(json_string_value(v), out) == 0) {
            return 0;
        }
        ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                 "campaign_id: must be a campaign id; leave it out for the "
                                 "global list");
        return -1;
    }
    const char *s = ecm_http_req_query(req, "campaign_id");
    if (s && *s && gw_parse_id(s, out) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "campaign_id: '%s' is not a campaign id", GW_QUOTE(s, 40));
        return -1;
    }
    return 0;
}

/* The key (digits) a number given in a path or a query stands for: its
 * E.164 digits when libphonenumber reads it in the list's region, else, for
 * entries stored before numbers were normalised, its digits when it is
 * written with digits, spaces and + - ( ) . only. Returns 0 or -1. Finding
 * or removing by key can only touch entries that exist. */
static int lookup_key(const char *raw, const char *region, char *key, size_t key_size)
{
    char e164[ECM_PHONE_E164_LEN], reason[80];
    if (raw && gw_dnc_normalize(raw, region, e164, sizeof(e164), reason, sizeof(reason)) == 0) {
        return ecm_dnc_phone_key(e164, key, key_size);
    }
    if (!raw) {
        return -1;
    }
    for (const char *p = raw; *p; p++) {
        if (!isdigit((unsigned char)*p) && !strchr(" +-().", *p)) {
            return -1;
        }
    }
    return ecm_dnc_phone_key(raw, key, key_size);
}

/* ---- answers ---------------------------------------------------------- */

/* An entry as the DNC routes show it: the derived state of one number on
 * one list (dnc has a row per channel; they are shown as one entry with
 * its channels, source and reason of the latest ledger entry). Followed by
 * WHERE ... and DNC_GROUP. */
#define DNC_SELECT                                                                                 \
    "SELECT min(id), (array_agg(phone ORDER BY ledger_id DESC))[1], campaign_id, "                 \
    "(array_agg(source ORDER BY ledger_id DESC))[1], "                                             \
    "(array_agg(reason ORDER BY ledger_id DESC))[1], " GW_SQL_TIME(                                \
        "min(created_at)") ", "                                                                    \
                           "string_agg(channel, ',' ORDER BY channel) FROM dnc "
#define DNC_GROUP " GROUP BY phone_key, campaign_id "

static json_t *dnc_row_json(const PGresult *r, int i)
{
    json_t *campaign = PQgetisnull(r, i, 2)
                           ? json_null()
                           : json_integer((json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10));
    json_t *channels = json_array();
    char list[32];
    (void)snprintf(list, sizeof(list), "%s", PQgetvalue(r, i, 6));
    for (char *save = NULL, *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        json_array_append_new(channels, json_string(c));
    }
    return json_pack("{sI ss so ss so ss so}", "id",
                     (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "phone",
                     PQgetvalue(r, i, 1), "campaign_id", campaign, "source", PQgetvalue(r, i, 3),
                     "reason", gw_json_text_or_null(PQgetvalue(r, i, 4), PQgetisnull(r, i, 4)),
                     "created_at", PQgetvalue(r, i, 5), "channels", channels);
}

/* The entry's path into out. Returns 0, or -1 when it does not fit. */
static int entry_path(const dnc_list *l, const char *e164, char *out, size_t out_size)
{
    /* '+' is literal in a path, but %2B survives any client's encoding. */
    const char *digits = e164[0] == '+' ? e164 + 1 : e164;
    if (l->campaign_id > 0) {
        return gw_format(out, out_size, "/api/v1/campaigns/%lld/dnc/%%2B%s", l->campaign_id,
                         digits);
    }
    return gw_format(out, out_size, "/api/v1/dnc/%%2B%s", digits);
}

/* ---- POST ------------------------------------------------------------- */

typedef struct {
    const char *phone;  /* as written */
    const char *reason; /* NULL when absent */
    const char *region; /* NULL: the list's */
    const char *scope;  /* channel: "voice", "sms", "all" (default) */
    char region_buf[4];
} dnc_body;

/* Parses and checks a POST body into *doc and b. Returns 0, or -1 after
 * answering 400. */
static int read_body(ecm_http_req *req, dnc_route route, json_t **doc, dnc_body *b)
{
    size_t len = 0;
    const char *text = ecm_http_req_body(req, &len);
    json_error_t jerr;
    memset(b, 0, sizeof(*b));
    *doc = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*doc || !json_is_object(*doc)) {
        json_decref(*doc);
        *doc = NULL;
        ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                 "body: must be a JSON object {\"phone\": \"...\"}");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(*doc, key, v)
    {
        if (strcmp(key, "phone") != 0 && strcmp(key, "reason") != 0 && strcmp(key, "region") != 0 &&
            strcmp(key, "channel") != 0 &&
            (route != DNC_ROUTE_GLOBAL || strcmp(key, "campaign_id") != 0)) {
            ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                     "body: unknown member '%s'", GW_QUOTE(key, 40));
            goto bad;
        }
    }
    b->phone = json_string_value(json_object_get(*doc, "phone"));
    if (!b->phone) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                 "phone: required, a phone number such as \"+12125550100\"");
        goto bad;
    }
    json_t *jreason = json_object_get(*doc, "reason");
    if (jreason && !json_is_null(jreason)) {
        if (!json_is_string(jreason) || json_string_length(jreason) > GW_DNC_REASON_MAX) {
            ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                     "reason: must be a string of at most 200 bytes");
            goto bad;
        }
        b->reason = json_string_value(jreason);
    }
    json_t *jchannel = json_object_get(*doc, "channel");
    b->scope = "all";
    if (jchannel && !json_is_null(jchannel)) {
        b->scope = json_string_value(jchannel);
        if (!ecm_dnc_scope_valid(b->scope)) {
            ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                     "channel: must be \"voice\", \"sms\" or \"all\"");
            goto bad;
        }
    }
    json_t *jregion = json_object_get(*doc, "region");
    if (jregion && !json_is_null(jregion)) {
        const char *r = json_string_value(jregion);
        if (r && strlen(r) == 2) {
            b->region_buf[0] = (char)toupper((unsigned char)r[0]);
            b->region_buf[1] = (char)toupper((unsigned char)r[1]);
        }
        if (!gw_region_known(b->region_buf)) {
            ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                     "region: must be an ISO 3166 alpha-2 country code such as "
                                     "\"US\"");
            goto bad;
        }
        b->region = b->region_buf;
    }
    return 0;
bad:
    json_decref(*doc);
    *doc = NULL;
    return -1;
}

/* The actor of a ledger entry written for req: its key id ("api" without
 * a principal, as in the handlers' unit tests). */
static const char *actor_of(const ecm_http_req *req)
{
    const gw_principal *p = gw_auth_principal(req);
    return p && p->id[0] ? p->id : "api";
}

/* The entry (DNC_SELECT) of key on l, or NULL on a database failure; no
 * rows when the number is not listed there. */
static PGresult *read_entry(ecm_pg *pg, const dnc_list *l, const char *key)
{
    const char *params[] = {key, list_param(l)};
    return ecm_pg_exec(pg,
                       DNC_SELECT "WHERE phone_key = $1 "
                                  "AND campaign_id IS NOT DISTINCT FROM $2::bigint" DNC_GROUP,
                       2, params);
}

/* Revokes e164 (key: its phone key) on l for the channels of scope, with
 * reason, in the transaction open on pg: one ledger entry, unless every
 * channel of scope is revoked already by the API (*created = 0). A number
 * revoked by a STOP gets the API's own entry, which a START does not lift. Returns the entry's
 * row, or NULL after rolling back and answering (404, 503). */
static PGresult *insert_entry(ecm_http_req *req, ecm_pg *pg, const dnc_list *l, const char *e164,
                              const char *key, const char *reason, const char *scope,
                              long long campaign_id, int *created)
{
    const char *p_state[] = {key, list_param(l), scope};
    PGresult *r = ecm_pg_exec(pg,
                              "SELECT count(*) FROM dnc WHERE phone_key = $1 "
                              "AND campaign_id IS NOT DISTINCT FROM $2::bigint "
                              "AND ($3 = 'all' OR channel = $3) AND source = 'api'",
                              3, p_state);
    long long listed = r && PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    r = NULL;
    *created = listed >= 0 && listed < (strcmp(scope, "all") == 0 ? 2 : 1);
    const ecm_dnc_entry e = {
        .phone = e164,
        .campaign_id = l->campaign_id,
        .scope = scope,
        .action = "revoke",
        .source = "api",
        .reason = reason,
        .actor = actor_of(req),
        .at_ms = ecm_clock_now_ms(),
    };
    if (listed >= 0 && (!*created || ecm_dnc_record(pg, &e) > 0)) {
        r = read_entry(pg, l, key);
    } else if (listed >= 0 && strcmp(ecm_pg_last_sqlstate(pg), "23503") == 0) {
        ecm_pg_rollback(pg);
        ecm_http_respond_problem(req, 404, "not-found", "No such campaign",
                                 "campaign %lld does not exist", campaign_id);
        return NULL;
    }
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "write the DNC entry");
        return NULL;
    }
    return r;
}

/* The audit row of a change to list l: resource "dnc/<e164>" (the global
 * list) or "campaign/<id>/dnc/<e164>". */
static int audit_entry(ecm_pg *pg, ecm_http_req *req, const char *action, const dnc_list *l,
                       const char *e164, const char *reason, int closed)
{
    char resource[96];
    int n = l->campaign_id > 0
                ? snprintf(resource, sizeof resource, "campaign/%lld/dnc/%s", l->campaign_id, e164)
                : snprintf(resource, sizeof resource, "dnc/%s", e164);
    if (n < 0 || n >= (int)sizeof resource) {
        return -1;
    }
    json_t *summary =
        json_pack("{ss so si}", "phone", e164, "reason", reason ? json_string(reason) : json_null(),
                  "contacts_closed", closed);
    int rc = summary ? gw_audit_add(pg, req, action, resource, summary) : -1;
    json_decref(summary);
    return rc;
}

static void add_entry(const gw_app *app, ecm_http_req *req, dnc_route route)
{
    json_t *doc;
    dnc_body b;
    if (read_body(req, route, &doc, &b) != 0) {
        return;
    }
    long long campaign_id;
    if (request_campaign(req, route, doc, &campaign_id) != 0) {
        json_decref(doc);
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = NULL;
    dnc_list l;
    char e164[ECM_PHONE_E164_LEN], why[80], key[GW_DNC_KEY_MAX];
    int created = 0;
    if (open_list(req, app, pg, campaign_id, &l) != 0) {
        goto out;
    }
    const char *region = b.region ? b.region : l.region;
    if (gw_dnc_normalize(b.phone, region, e164, sizeof(e164), why, sizeof(why)) != 0 ||
        ecm_dnc_phone_key(e164, key, sizeof(key)) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid DNC entry",
                                 "phone: '%s' is not a phone number (%s; read in region %s)",
                                 GW_QUOTE(b.phone, 40), why, region);
        goto out;
    }
    if (ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "write the DNC entry");
        goto out;
    }
    r = insert_entry(req, pg, &l, e164, key, b.reason, b.scope, campaign_id, &created);
    if (!r) {
        goto out;
    }
    /* Run for an entry listed already too: it costs one scan and catches a
     * contact that slipped in between (nothing can be closed twice). */
    const char *keys[] = {key};
    int closed = ecm_dnc_close_blocked_on(pg, keys, 1, l.campaign_id, b.scope, 0,
                                          app->topic_closed ? app->topic_closed : "contacts.closed",
                                          app->source);
    /* An entry listed already that closes nobody changed nothing. */
    if (closed < 0 ||
        ((created || closed > 0) &&
         audit_entry(pg, req, "dnc.add", &l, e164, b.reason, closed) != 0) ||
        ecm_pg_commit(pg) != 0) {
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "write the DNC entry");
        goto out;
    }
    json_t *entry = dnc_row_json(r, 0);
    json_object_set_new(entry, "contacts_closed", json_integer(closed));
    if (created) {
        char location[96];
        if (entry_path(&l, e164, location, sizeof(location)) == 0) {
            ecm_http_add_header(req, "Location", location);
        }
        ecm_log_info("DNC entry added", "phone=%s campaign_id=%lld contacts_closed=%d", e164,
                     l.campaign_id, closed);
    }
    gw_json_respond(req, created ? 201 : 200, entry);
out:
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
    json_decref(doc);
}

/* ---- one entry: GET, DELETE ------------------------------------------- */

static void one_entry(const gw_app *app, ecm_http_req *req, dnc_route route, int remove)
{
    long long campaign_id;
    if (request_campaign(req, route, NULL, &campaign_id) != 0) {
        return;
    }
    const char *raw = ecm_http_req_param(req, route == DNC_ROUTE_CAMPAIGN ? 1 : 0);
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = NULL;
    dnc_list l;
    char key[GW_DNC_KEY_MAX];
    if (open_list(req, app, pg, campaign_id, &l) != 0) {
        goto out;
    }
    if (lookup_key(raw, l.region, key, sizeof(key)) != 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such DNC entry",
                                 "'%s' is not a phone number", GW_QUOTE(raw, 40));
        goto out;
    }
    if (remove && ecm_pg_begin(pg) != 0) {
        gw_respond_db_down(req, pg, "delete the DNC entry");
        goto out;
    }
    /* Removing is a grant in the ledger, every channel, on this list; the
     * entry read before it is what the answer and the audit name. */
    r = read_entry(pg, &l, key);
    int removed = 0;
    if (remove && r && PQntuples(r) == 1) {
        const ecm_dnc_entry e = {
            .phone = PQgetvalue(r, 0, 1),
            .campaign_id = l.campaign_id,
            .scope = "all",
            .action = "grant",
            .source = "api",
            .actor = actor_of(req),
            .at_ms = ecm_clock_now_ms(),
        };
        removed = ecm_dnc_record(pg, &e) > 0 &&
                  audit_entry(pg, req, "dnc.remove", &l, PQgetvalue(r, 0, 1), NULL, 0) == 0 &&
                  ecm_pg_commit(pg) == 0;
    }
    if (remove && !removed) {
        ecm_pg_rollback(pg);
    }
    if (!r || (remove && !removed && PQntuples(r) == 1)) {
        gw_respond_db_down(req, pg, remove ? "delete the DNC entry" : "read the DNC entry");
    } else if (PQntuples(r) == 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such DNC entry",
                                 "%s is not on the %s list", GW_QUOTE(raw, 40),
                                 l.campaign_id > 0 ? "campaign's" : "global");
    } else if (remove) {
        ecm_log_info("DNC entry removed", "phone=%s campaign_id=%lld", PQgetvalue(r, 0, 1),
                     l.campaign_id);
        ecm_http_respond(req, 204, NULL, NULL, 0);
    } else {
        gw_json_respond(req, 200, dnc_row_json(r, 0));
    }
out:
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
}

/* ---- list ------------------------------------------------------------- */

static void list_entries(const gw_app *app, ecm_http_req *req, dnc_route route)
{
    gw_page page;
    long long campaign_id;
    if (gw_page_args(req, GW_DNC_LIST_DEFAULT, GW_DNC_LIST_MAX, &page) != 0 ||
        request_campaign(req, route, NULL, &campaign_id) != 0) {
        return;
    }
    const char *scope = ecm_http_req_query(req, "scope");
    int all = 0;
    if (route == DNC_ROUTE_GLOBAL && scope) {
        if (strcmp(scope, "all") != 0 && strcmp(scope, "global") != 0) {
            ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                     "scope: 'global' (the default) or 'all' (every list)");
            return;
        }
        all = strcmp(scope, "all") == 0 && campaign_id == 0;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    PGresult *r = NULL;
    dnc_list l;
    if (open_list(req, app, pg, campaign_id, &l) != 0) {
        goto out;
    }
    const char *phone = ecm_http_req_query(req, "phone");
    char key[GW_DNC_KEY_MAX];
    if (phone && lookup_key(phone, l.region, key, sizeof(key)) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "phone: '%s' is not a phone number", GW_QUOTE(phone, 40));
        goto out;
    }
    const char *params[] = {phone ? key : NULL, list_param(&l), page.cursor_param, page.limit_param,
                            all ? "t" : "f"};
    r = ecm_pg_exec(pg,
                    DNC_SELECT
                    "WHERE ($1::text IS NULL OR phone_key = $1) "
                    "AND ($5::boolean OR campaign_id IS NOT DISTINCT FROM $2::bigint)" DNC_GROUP
                    "HAVING ($3::bigint = 0 OR min(id) < $3::bigint) "
                    "ORDER BY min(id) DESC LIMIT $4::int",
                    5, params);
    if (!r) {
        gw_respond_db_down(req, pg, "list the DNC entries");
        goto out;
    }
    gw_json_respond(req, 200, gw_page_json(r, &page, dnc_row_json));
out:
    PQclear(r);
    ecm_pg_pool_put(app->pool, pg);
}

/* ---- routes ----------------------------------------------------------- */

static void global_add(void *ctx, ecm_http_req *req)
{
    add_entry(ctx, req, DNC_ROUTE_GLOBAL);
}

static void global_get(void *ctx, ecm_http_req *req)
{
    one_entry(ctx, req, DNC_ROUTE_GLOBAL, 0);
}

static void global_delete(void *ctx, ecm_http_req *req)
{
    one_entry(ctx, req, DNC_ROUTE_GLOBAL, 1);
}

static void global_list(void *ctx, ecm_http_req *req)
{
    list_entries(ctx, req, DNC_ROUTE_GLOBAL);
}

static void campaign_add(void *ctx, ecm_http_req *req)
{
    add_entry(ctx, req, DNC_ROUTE_CAMPAIGN);
}

static void campaign_get(void *ctx, ecm_http_req *req)
{
    one_entry(ctx, req, DNC_ROUTE_CAMPAIGN, 0);
}

static void campaign_delete(void *ctx, ecm_http_req *req)
{
    one_entry(ctx, req, DNC_ROUTE_CAMPAIGN, 1);
}

static void campaign_list(void *ctx, ecm_http_req *req)
{
    list_entries(ctx, req, DNC_ROUTE_CAMPAIGN);
}

int gw_dnc_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    static const struct {
        const char *method, *pattern;
        size_t max_body;
        ecm_http_handler fn;
    } routes[] = {
        {"POST", "/api/v1/dnc", GW_DNC_BODY_MAX, global_add},
        {"GET", "/api/v1/dnc", 0, global_list},
        {"GET", "/api/v1/dnc/{}", 0, global_get},
        {"DELETE", "/api/v1/dnc/{}", 0, global_delete},
        {"POST", "/api/v1/campaigns/{}/dnc", GW_DNC_BODY_MAX, campaign_add},
        {"GET", "/api/v1/campaigns/{}/dnc", 0, campaign_list},
        {"GET", "/api/v1/campaigns/{}/dnc/{}", 0, campaign_get},
        {"DELETE", "/api/v1/campaigns/{}/dnc/{}", 0, campaign_delete},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (ecm_http_route(h, routes[i].method, routes[i].pattern, routes[i].max_body, routes[i].fn,
                           ctx) != 0) {
            return -1;
        }
    }
    return 0;
}

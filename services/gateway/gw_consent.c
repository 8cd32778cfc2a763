#include "gw_consent.h"

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
#include "gw_audit.h"
#include "gw_auth.h"
#include "gw_campaign_check.h"
#include "gw_dnc.h"
#include "gw_json.h"

#define GW_CONSENT_BODY_MAX 4096
#define GW_CONSENT_REASON_MAX 200
#define GW_CONSENT_HISTORY_MAX 1000
#define GW_CONSENT_KEY_MAX 24

/* The region numbers are read in when the request names none. */
static const char *default_region(const gw_app *app)
{
    return app->default_region && app->default_region[0] ? app->default_region : "US";
}

/* Reads a 2-letter region code s (any case) into out[3]. Returns 0, or -1
 * when s is no known ISO 3166 alpha-2 code. */
static int read_region(const char *s, char out[3])
{
    if (!s || strlen(s) != 2) {
        return -1;
    }
    out[0] = (char)toupper((unsigned char)s[0]);
    out[1] = (char)toupper((unsigned char)s[1]);
    out[2] = '\0';
    return gw_region_known(out) ? 0 : -1;
}

/* ---- GET /api/v1/consent/{phone} -------------------------------------- */

/* clang-format off */
static const char SQL_HISTORY[] =
    "SELECT id, phone, campaign_id, scope, action, source, reason, actor, "
    GW_SQL_TIME("at") ", " GW_SQL_TIME("recorded_at")
    " FROM (SELECT * FROM consent_ledger WHERE phone_key = $1"
    "       ORDER BY at DESC, id DESC LIMIT $2::int) l ORDER BY at, id";

/* Per list (global, then each campaign with entries) and channel: revoked
 * when dnc (the derived state dispatch reads) has the row, and the latest
 * entry covering the channel, if any. */
static const char SQL_STATE[] =
    "SELECT s.campaign_id, ch.channel,"
    " EXISTS (SELECT 1 FROM dnc d WHERE d.phone_key = $1"
    "         AND d.campaign_id IS NOT DISTINCT FROM s.campaign_id AND d.channel = ch.channel),"
    " e.id, e.action, e.source, " GW_SQL_TIME("e.at")
    " FROM (SELECT NULL::bigint AS campaign_id"
    "       UNION SELECT DISTINCT campaign_id FROM consent_ledger"
    "       WHERE phone_key = $1 AND campaign_id IS NOT NULL) s"
    " CROSS JOIN (VALUES ('voice'), ('sms')) AS ch (channel)"
    " LEFT JOIN LATERAL (SELECT id, action, source, at FROM consent_ledger x"
    "   WHERE x.phone_key = $1 AND x.campaign_id IS NOT DISTINCT FROM s.campaign_id"
    "   AND x.scope IN (ch.channel, 'all') ORDER BY x.at DESC, x.id DESC LIMIT 1) e ON true"
    " ORDER BY s.campaign_id NULLS FIRST, ch.channel DESC";
/* clang-format on */

static json_t *ll_or_null(const PGresult *r, int i, int col)
{
    return PQgetisnull(r, i, col)
               ? json_null()
               : json_integer((json_int_t)strtoll(PQgetvalue(r, i, col), NULL, 10));
}

/* A ledger entry (SQL_HISTORY's columns) as JSON. */
static json_t *entry_json(const PGresult *r, int i)
{
    return json_pack(
        "{so ss so ss ss ss so ss ss ss}", "id", ll_or_null(r, i, 0), "phone", PQgetvalue(r, i, 1),
        "campaign_id", ll_or_null(r, i, 2), "scope", PQgetvalue(r, i, 3), "action",
        PQgetvalue(r, i, 4), "source", PQgetvalue(r, i, 5), "reason",
        gw_json_text_or_null(PQgetvalue(r, i, 6), PQgetisnull(r, i, 6)), "actor",
        PQgetvalue(r, i, 7), "at", PQgetvalue(r, i, 8), "recorded_at", PQgetvalue(r, i, 9));
}

/* The state rows (SQL_STATE) as [{"campaign_id", "voice": {...}, "sms":
 * {...}}], one object per list. */
static json_t *state_json(const PGresult *r)
{
    json_t *lists = json_array(), *cur = NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        int fresh = !cur || i == 0 || PQgetisnull(r, i, 0) != PQgetisnull(r, i - 1, 0) ||
                    strcmp(PQgetvalue(r, i, 0), PQgetvalue(r, i - 1, 0)) != 0;
        if (fresh) {
            cur = json_pack("{so}", "campaign_id", ll_or_null(r, i, 0));
            json_array_append_new(lists, cur);
        }
        int revoked = PQgetvalue(r, i, 2)[0] == 't';
        json_t *ch =
            json_pack("{ss so so so}", "state", revoked ? "revoked" : "granted", "entry_id",
                      ll_or_null(r, i, 3), "source",
                      gw_json_text_or_null(PQgetvalue(r, i, 5), PQgetisnull(r, i, 5)), "since",
                      gw_json_text_or_null(PQgetvalue(r, i, 6), PQgetisnull(r, i, 6)));
        json_object_set_new(cur, PQgetvalue(r, i, 1), ch);
    }
    return lists;
}

/* The key (digits) of a number given in a path: its E.164 digits read in
 * region, else its digits when it is written with digits, spaces and
 * + - ( ) . only (numbers stored before they were normalised). Fills e164
 * ("" for the second case). Returns 0 or -1. */
static int number_key(const char *raw, const char *region, char *e164, size_t e164_size, char *key,
                      size_t key_size)
{
    char reason[80];
    if (raw && gw_dnc_normalize(raw, region, e164, e164_size, reason, sizeof(reason)) == 0) {
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

static void consent_get(void *vctx, ecm_http_req *req)
{
    const gw_app *app = vctx;
    const char *raw = ecm_http_req_param(req, 0);
    const char *qregion = ecm_http_req_query(req, "region");
    char region[3], e164[ECM_PHONE_E164_LEN], key[GW_CONSENT_KEY_MAX];
    if (qregion && read_region(qregion, region) != 0) {
        ecm_http_respond_problem(req, 400, "validation", "Invalid query argument",
                                 "region: must be an ISO 3166 alpha-2 country code such as "
                                 "\"US\"");
        return;
    }
    const char *reg = qregion ? region : default_region(app);
    if (number_key(raw, reg, e164, sizeof(e164), key, sizeof(key)) != 0) {
        ecm_http_respond_problem(req, 404, "not-found", "No such number",
                                 "'%s' is not a phone number (read in region %s)",
                                 GW_QUOTE(raw ? raw : "", 40), reg);
        return;
    }
    char limit[GW_LL_TEXT];
    gw_ll_text(limit, GW_CONSENT_HISTORY_MAX);
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    const char *p_hist[] = {key, limit};
    const char *p_state[] = {key};
    PGresult *h = ecm_pg_exec(pg, SQL_HISTORY, 2, p_hist);
    PGresult *s = h ? ecm_pg_exec(pg, SQL_STATE, 1, p_state) : NULL;
    if (!h || !s) {
        gw_respond_db_down(req, pg, "read the consent ledger");
    } else {
        json_t *history = json_array();
        for (int i = 0; i < PQntuples(h); i++) {
            json_array_append_new(history, entry_json(h, i));
        }
        json_t *body = json_pack("{ss ss so so sb}", "phone", e164[0] ? e164 : raw, "phone_key",
                                 key, "state", state_json(s), "history", history,
                                 "history_truncated", PQntuples(h) >= GW_CONSENT_HISTORY_MAX);
        gw_json_respond(req, 200, body);
    }
    PQclear(h);
    PQclear(s);
    ecm_pg_pool_put(app->pool, pg);
}

/* ---- POST /api/v1/consent --------------------------------------------- */

typedef struct {
    const char *phone, *scope, *action, *reason; /* reason NULL when absent */
    long long campaign_id;                       /* 0: every campaign */
    char region[3];                              /* "" : the default */
} consent_body;

/* Answers 422 naming field. Returns -1. */
static int unprocessable(ecm_http_req *req, const char *field, const char *what)
{
    ecm_http_respond_problem(req, 422, "validation", "Invalid consent entry", "%s: %s", field,
                             what);
    return -1;
}

/* Reads doc into b. Returns 0, or -1 after answering 422. */
static int read_entry(ecm_http_req *req, const json_t *doc, consent_body *b)
{
    memset(b, 0, sizeof(*b));
    if (!json_is_object(doc)) {
        return unprocessable(req, "body", "must be a JSON object");
    }
    static const char *const known[] = {"phone",       "scope",  "action", "reason",
                                        "campaign_id", "region", NULL};
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)doc, name, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], name) != 0) {
            i++;
        }
        if (!known[i]) {
            char what[96];
            (void)snprintf(what, sizeof(what), "unknown member '%s'", GW_QUOTE(name, 40));
            return unprocessable(req, "body", what);
        }
    }
    b->phone = json_string_value(json_object_get(doc, "phone"));
    if (!b->phone) {
        return unprocessable(req, "phone", "required, a phone number such as \"+12125550100\"");
    }
    b->scope = json_string_value(json_object_get(doc, "scope"));
    if (!ecm_dnc_scope_valid(b->scope)) {
        return unprocessable(req, "scope", "required, \"voice\", \"sms\" or \"all\"");
    }
    b->action = json_string_value(json_object_get(doc, "action"));
    if (!b->action || (strcmp(b->action, "revoke") != 0 && strcmp(b->action, "grant") != 0)) {
        return unprocessable(req, "action",
                             "required, \"revoke\" (do not contact) or \"grant\" (may contact)");
    }
    json_t *jr = json_object_get(doc, "reason");
    if (jr && !json_is_null(jr)) {
        if (!json_is_string(jr) || json_string_length(jr) > GW_CONSENT_REASON_MAX) {
            return unprocessable(req, "reason", "must be a string of at most 200 bytes");
        }
        b->reason = json_string_value(jr);
    }
    json_t *jc = json_object_get(doc, "campaign_id");
    if (jc && !json_is_null(jc)) {
        if (!json_is_integer(jc) || json_integer_value(jc) <= 0) {
            return unprocessable(req, "campaign_id",
                                 "must be a campaign id; leave it out for every campaign");
        }
        b->campaign_id = (long long)json_integer_value(jc);
    }
    json_t *jg = json_object_get(doc, "region");
    if (jg && !json_is_null(jg) && read_region(json_string_value(jg), b->region) != 0) {
        return unprocessable(req, "region",
                             "must be an ISO 3166 alpha-2 country code such as "
                             "\"US\"");
    }
    return 0;
}

/* The region b's number is read in: the body's, else the campaign's, else
 * the default. Returns 0, or -1 after answering (422 no such campaign, 503). */
static int entry_region(ecm_http_req *req, const gw_app *app, ecm_pg *pg, const consent_body *b,
                        char *out, size_t out_size)
{
    if (b->campaign_id > 0) {
        char cid[GW_LL_TEXT];
        gw_ll_text(cid, b->campaign_id);
        const char *p[] = {cid};
        PGresult *r = ecm_pg_exec(pg, "SELECT region FROM campaigns WHERE id = $1", 1, p);
        if (!r) {
            gw_respond_db_down(req, pg, "read the campaign");
            return -1;
        }
        int found = PQntuples(r) == 1;
        if (found) {
            (void)snprintf(out, out_size, "%s", b->region[0] ? b->region : PQgetvalue(r, 0, 0));
        }
        PQclear(r);
        if (!found) {
            return unprocessable(req, "campaign_id", "no such campaign");
        }
        return 0;
    }
    (void)snprintf(out, out_size, "%s", b->region[0] ? b->region : default_region(app));
    return 0;
}

static const char *actor_of(const ecm_http_req *req)
{
    const gw_principal *p = gw_auth_principal(req);
    return p && p->id[0] ? p->id : "api";
}

static void consent_post(void *vctx, ecm_http_req *req)
{
    const gw_app *app = vctx;
    json_t *doc = gw_body_json(req, "Invalid consent entry");
    consent_body b;
    if (!doc || read_entry(req, doc, &b) != 0) {
        json_decref(doc);
        return;
    }
    /* Granting consent back needs admin, as removing a DNC entry does. */
    if (strcmp(b.action, "grant") == 0 && !gw_auth_require(req, GW_ROLE_ADMIN)) {
        json_decref(doc);
        return;
    }
    ecm_pg *pg = ecm_pg_pool_get(app->pool);
    char region[8], e164[ECM_PHONE_E164_LEN], why[80], key[GW_CONSENT_KEY_MAX];
    if (entry_region(req, app, pg, &b, region, sizeof(region)) != 0) {
        goto out;
    }
    if (gw_dnc_normalize(b.phone, region, e164, sizeof(e164), why, sizeof(why)) != 0 ||
        ecm_dnc_phone_key(e164, key, sizeof(key)) != 0) {
        char what[200];
        (void)snprintf(what, sizeof(what), "'%s' is not a phone number (%s; read in region %s)",
                       GW_QUOTE(b.phone, 40), why, region);
        unprocessable(req, "phone", what);
        goto out;
    }
    const ecm_dnc_entry e = {
        .phone = e164,
        .campaign_id = b.campaign_id,
        .scope = b.scope,
        .action = b.action,
        .source = "api",
        .reason = b.reason,
        .actor = actor_of(req),
        .at_ms = ecm_clock_now_ms(),
    };
    const char *keys[] = {key};
    long long id = -1;
    int closed = 0;
    if (ecm_pg_begin(pg) != 0 || (id = ecm_dnc_record(pg, &e)) <= 0 ||
        (strcmp(b.action, "revoke") == 0 &&
         (closed = ecm_dnc_close_blocked_on(
              pg, keys, 1, b.campaign_id, b.scope, 0,
              app->topic_closed ? app->topic_closed : "contacts.closed", app->source)) < 0)) {
        int missing = strcmp(ecm_pg_last_sqlstate(pg), "23503") == 0;
        ecm_pg_rollback(pg);
        if (missing) {
            unprocessable(req, "campaign_id", "no such campaign");
        } else {
            gw_respond_db_down(req, pg, "write the consent entry");
        }
        goto out;
    }
    char resource[64], action[24];
    (void)snprintf(resource, sizeof(resource), "consent/%s", e164);
    (void)snprintf(action, sizeof(action), "consent.%s", b.action);
    json_t *summary = json_pack(
        "{sI ss so ss ss so si}", "entry_id", (json_int_t)id, "phone", e164, "campaign_id",
        b.campaign_id > 0 ? json_integer((json_int_t)b.campaign_id) : json_null(), "scope", b.scope,
        "action", b.action, "reason", b.reason ? json_string(b.reason) : json_null(),
        "contacts_closed", closed);
    int audited = summary && gw_audit_add(pg, req, action, resource, summary) == 0;
    if (!audited || ecm_pg_commit(pg) != 0) {
        json_decref(summary);
        ecm_pg_rollback(pg);
        gw_respond_db_down(req, pg, "write the consent entry");
        goto out;
    }
    ecm_log_info("consent entry recorded",
                 "id=%lld phone=%s campaign_id=%lld scope=%s action=%s contacts_closed=%d", id,
                 e164, b.campaign_id, b.scope, b.action, closed);
    char location[96];
    if (gw_format(location, sizeof(location), "/api/v1/consent/%%2B%s", key) == 0) {
        ecm_http_add_header(req, "Location", location);
    }
    gw_json_respond(req, 201, summary);
out:
    ecm_pg_pool_put(app->pool, pg);
    json_decref(doc);
}

int gw_consent_register(ecm_http *h, const gw_app *app)
{
    void *ctx = (void *)(uintptr_t)app; /* handlers only read it */
    if (ecm_http_route(h, "GET", "/api/v1/consent/{}", 0, consent_get, ctx) != 0 ||
        ecm_http_route(h, "POST", "/api/v1/consent", GW_CONSENT_BODY_MAX, consent_post, ctx) != 0) {
        return -1;
    }
    return 0;
}

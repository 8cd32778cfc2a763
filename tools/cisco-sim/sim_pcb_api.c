/* The Personal Callback API as the simulator serves it (sim_pcb.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "ecm_log.h"
#include "ecm_utf8.h"
#include "sim_pcb.h"
#include "sim_web.h"

#define PCB_REALM "Basic realm=\"UCCE\""
#define PCB_MAX_BODY 65536
#define PCB_PAGE_MAX 100

typedef struct {
    const char *user, *password, *zone;
    sim_store *store;
} pcb_api;

/* The trailing id of a refURL ("…/campaign/5001"): 1..INT_MAX, or 0. */
static long long pcb_ref_id(const char *url, const char *kind)
{
    const char *slash = strrchr(url, '/');
    if (!slash || slash == url) {
        return 0;
    }
    size_t klen = strlen(kind);
    if ((size_t)(slash - url) < klen + 1 || strncmp(slash - klen, kind, klen) != 0 ||
        slash[-(long)klen - 1] != '/') {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(slash + 1, &end, 10);
    return errno || end == slash + 1 || *end || v < 1 || v > INT_MAX ? 0 : v;
}

/* 1 when t is "yyyy-MM-ddTHH:mm:ss" naming a real time. */
static int pcb_time_ok(const char *t)
{
    int y, mo, d, h, mi, s;
    char tail;
    if (strlen(t) != SIM_PCB_TIME_LEN || t[10] != 'T' ||
        sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &tail) != 6) {
        return 0;
    }
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    time_t at = timegm(&tm);
    struct tm back;
    return at != (time_t)-1 && gmtime_r(&at, &back) && back.tm_year == y - 1900 &&
           back.tm_mon == mo - 1 && back.tm_mday == d && back.tm_hour == h && back.tm_min == mi &&
           back.tm_sec == s;
}

/* The text of <name><refURL>…</refURL></name>, or of n itself. */
static xmlChar *pcb_value(xmlNodePtr n)
{
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST "refURL") == 0) {
            return xmlNodeGetContent(c);
        }
    }
    return xmlNodeGetContent(n);
}

/* Sets the field named name from t. Returns NULL or the reason. */
static const char *pcb_field(sim_pcb *p, const char *name, const char *t)
{
    size_t len = strlen(t);
    if (strcmp(name, "campaign") == 0) {
        p->campaign_id = (int)pcb_ref_id(t, "campaign");
        return p->campaign_id ? NULL : "campaign must be a refURL …/campaign/{id}";
    }
    if (strcmp(name, "agent") == 0) {
        p->agent_id = pcb_ref_id(t, "agent");
        return p->agent_id ? NULL : "agent must be a refURL …/agent/{id}";
    }
    if (strcmp(name, "phone") == 0) {
        if (len == 0 || len > SIM_PCB_PHONE_MAX || strspn(t, "0123456789#*") != len) {
            return "phone must be 1-20 of 0-9 # *";
        }
        memcpy(p->phone, t, len + 1);
    } else if (strcmp(name, "accountNumber") == 0) {
        if (len > SIM_PCB_ACCOUNT_MAX) {
            return "accountNumber is longer than 30 bytes";
        }
        memcpy(p->account, t, len + 1);
    } else if (strcmp(name, "maxAttempts") == 0) {
        char *end = NULL;
        errno = 0;
        long v = strtol(t, &end, 10);
        if (errno || end == t || *end || v < 1 || v > INT_MAX) {
            return "maxAttempts must be a positive integer";
        }
        p->max_attempts = (int)v;
    } else if (strcmp(name, "callbackDateTime") == 0) {
        if (!pcb_time_ok(t)) {
            return "callbackDateTime must be yyyy-MM-ddTHH:mm:ss";
        }
        memcpy(p->callback, t, len + 1);
    } else if (strcmp(name, "firstName") == 0 || strcmp(name, "lastName") == 0) {
        if (!ecm_utf8_valid(t, len) || ecm_utf8_chars(t, len) > SIM_NAME_CHARS) {
            return "firstName and lastName must be at most 50 characters";
        }
        char *dst = name[0] == 'f' ? p->first_name : p->last_name;
        memcpy(dst, t, len + 1);
    }
    return NULL; /* read-only or unknown fields are ignored */
}

int sim_pcb_parse(const char *body, size_t len, sim_pcb *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    xmlDocPtr doc = len > 0 && len < PCB_MAX_BODY
                        ? xmlReadMemory(body, (int)len, NULL, NULL,
                                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
                        : NULL;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || xmlStrcmp(root->name, BAD_CAST "personalCallback") != 0) {
        xmlFreeDoc(doc);
        snprintf(errstr, errstr_size, "body must be a <personalCallback> document");
        return -1;
    }
    const char *why = NULL;
    for (xmlNodePtr n = root->children; n && !why; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        xmlChar *v = pcb_value(n);
        why = pcb_field(out, (const char *)n->name, v ? (const char *)v : "");
        xmlFree(v);
    }
    xmlFreeDoc(doc);
    if (!why && (!out->campaign_id || !out->agent_id || !out->phone[0] || !out->max_attempts ||
                 !out->callback[0])) {
        why = "campaign, agent, phone, maxAttempts and callbackDateTime are required";
    }
    if (why) {
        snprintf(errstr, errstr_size, "%s", why);
        return -1;
    }
    out->call_status = 'P';
    return 0;
}

/* Writes p as the API shows one record. */
static void pcb_xml(sim_xml *x, const sim_pcb *p)
{
    char ref[64], status[2] = {p->call_status, '\0'};
    sim_xml_start(x, "personalCallback");
    snprintf(ref, sizeof ref, "/unifiedconfig/config/personalcallback/%lld", p->id);
    sim_xml_text(x, "refURL", ref);
    sim_xml_int(x, "campaignId", p->campaign_id);
    sim_xml_int(x, "agentId", p->agent_id);
    sim_xml_text(x, "phone", p->phone);
    sim_xml_text(x, "accountNumber", p->account);
    sim_xml_int(x, "maxAttempts", p->max_attempts);
    sim_xml_text(x, "callbackDateTime", p->callback);
    sim_xml_text(x, "callStatus", status);
    sim_xml_int(x, "callResult", p->call_result);
    sim_xml_text(x, "firstName", p->first_name);
    sim_xml_text(x, "lastName", p->last_name);
    sim_xml_end(x);
}

static int pcb_auth(const pcb_api *a, ecm_http_req *req)
{
    if (sim_web_authorized(a->user, a->password, req)) {
        return 1;
    }
    ecm_http_add_header(req, "WWW-Authenticate", PCB_REALM);
    sim_web_error(req, 401, "AUTHENTICATION_FAILED", "valid basic authentication is required");
    return 0;
}

static void pcb_post(void *ctx, ecm_http_req *req)
{
    pcb_api *a = ctx;
    if (!pcb_auth(a, req)) {
        return;
    }
    size_t len = 0;
    const char *body = ecm_http_req_body(req, &len);
    sim_pcb p;
    char err[256];
    if (sim_pcb_parse(body, len, &p, err, sizeof err) != 0) {
        ecm_log_warn("personal callback refused", "reason=%s", err);
        sim_web_error(req, 400, "INVALID_INPUT", err);
        return;
    }
    int rc = sim_store_pcb_insert(a->store, &p, a->zone, &p.id);
    if (rc == 1) {
        sim_web_error(req, 400, "INVALID_INPUT",
                      "callbackDateTime is 15 minutes or more in the past");
        return;
    }
    if (rc != 0) {
        sim_web_error(req, 500, "INTERNAL_ERROR", "the personal callback could not be stored");
        return;
    }
    char loc[320], base[256];
    sim_web_base_url(req, base, sizeof base);
    snprintf(loc, sizeof loc, "%s/unifiedconfig/config/personalcallback/%lld", base, p.id);
    ecm_http_add_header(req, "Location", loc);
    ecm_log_info("personal callback stored", "id=%lld account_number=%s agent_id=%lld at=%s", p.id,
                 p.account, p.agent_id, p.callback);
    sim_xml x;
    if (sim_xml_open(&x) != 0) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    pcb_xml(&x, &p);
    sim_xml_respond(&x, req, 201);
}

static int pcb_visit(void *ctx, const sim_pcb *p)
{
    sim_xml *x = ctx;
    pcb_xml(x, p);
    return x->bad;
}

/* A query integer in lo..hi, def when absent; -1 when malformed. */
static long long pcb_query_int(ecm_http_req *req, const char *name, long long def, long long hi)
{
    const char *v = ecm_http_req_query(req, name);
    if (!v) {
        return def;
    }
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    return errno || end == v || *end || x < 0 || x > hi ? -1 : x;
}

static void pcb_get(void *ctx, ecm_http_req *req)
{
    pcb_api *a = ctx;
    if (!pcb_auth(a, req)) {
        return;
    }
    static const char key[] = "accountNumber:";
    const char *q = ecm_http_req_query(req, "q");
    long long start = pcb_query_int(req, "startIndex", 0, 1000000000LL);
    long long per = pcb_query_int(req, "resultsPerPage", 25, PCB_PAGE_MAX);
    if ((q && strncmp(q, key, sizeof key - 1) != 0) || start < 0 || per < 1) {
        sim_web_error(req, 400, "INVALID_INPUT",
                      "q must be accountNumber:<value>; startIndex >= 0; resultsPerPage 1..100");
        return;
    }
    sim_xml x;
    if (sim_xml_open(&x) != 0) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    long long total = 0;
    sim_xml_start(&x, "results");
    sim_xml_start(&x, "personalCallbacks");
    if (sim_store_pcb_list(a->store, q ? q + sizeof key - 1 : NULL, start, per, &total, pcb_visit,
                           &x) != 0) {
        x.bad = 1;
    }
    sim_xml_end(&x);
    sim_xml_start(&x, "pageInfo");
    sim_xml_int(&x, "startIndex", start);
    sim_xml_int(&x, "resultsPerPage", per);
    sim_xml_int(&x, "totalResults", total);
    sim_xml_end(&x);
    sim_xml_end(&x);
    sim_xml_respond(&x, req, 200);
}

int sim_pcb_add_routes(ecm_http *h, const sim_pcb_api_config *cfg, sim_store *store)
{
    static pcb_api api; /* one sim, one API: lives as long as the process */
    api = (pcb_api){cfg->user, cfg->password, cfg->logger_zone, store};
    static const char path[] = "/unifiedconfig/config/personalcallback";
    int rc = ecm_http_route(h, "POST", path, PCB_MAX_BODY, pcb_post, &api);
    rc |= ecm_http_route(h, "GET", path, 0, pcb_get, &api);
    return rc == 0 ? 0 : -1;
}

#include "sim_ucce_api.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_log.h"
#include <libxml/parser.h>

#include "sim_web.h"

#define UCCE_MAX_BODY ((size_t)16 * 1024 * 1024)
#define UCCE_REALM "Basic realm=\"UCCE Outbound API simulator\""
/* GET …/import paging: unifiedconfig-style startIndex/resultsPerPage. */
#define UCCE_PAGE_DEFAULT 25
#define UCCE_PAGE_MAX 100

typedef enum { ITEM_QUEUED, ITEM_DONE, ITEM_FAILED } item_state;

typedef struct ucce_item {
    struct ucce_item *next;
    int campaign_id;
    sim_ucce_batch batch;
    item_state state;
    int refs; /* the queue/worker and, while it waits, the POST handler */
    sim_import_result result;
} ucce_item;

struct sim_ucce_api {
    char *user, *password;
    double rate;
    sim_store *store;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* queue changes, items finish, quit */
    ucce_item *head, *tail;
    int queued; /* waiting plus the one in progress */
    int quit;
    int started;
    pthread_t thread;
};

static void item_unref(ucce_item *it)
{
    if (--it->refs == 0) {
        sim_ucce_batch_destroy(&it->batch);
        free(it);
    }
}

/* Waits (mutex held) until deadline or quit. Returns 1 when quitting. */
static int worker_wait_until(sim_ucce_api *a, const struct timespec *deadline)
{
    while (!a->quit) {
        if (pthread_cond_timedwait(&a->cv, &a->mu, deadline) == ETIMEDOUT) {
            return 0;
        }
    }
    return 1;
}

/* Imports one item at the configured rate (mutex held on entry and exit). */
static void worker_import(sim_ucce_api *a, ucce_item *it)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    double secs = a->rate > 0 ? (double)it->batch.n / a->rate : 0;
    if (secs > 1e6) {
        secs = 1e6;
    }
    deadline.tv_sec += (time_t)secs;
    deadline.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    if (worker_wait_until(a, &deadline)) {
        return; /* stop() fails what is left */
    }
    pthread_mutex_unlock(&a->mu);
    sim_import_req req = {SIM_IF_UCCE_API,
                          it->campaign_id,
                          NULL,
                          it->batch.rows,
                          it->batch.n,
                          it->batch.n,
                          0,
                          NULL,
                          0,
                          0};
    sim_import_result r;
    int rc = sim_store_import(a->store, &req, &r);
    pthread_mutex_lock(&a->mu);
    it->result = r;
    it->state = rc == 0 ? ITEM_DONE : ITEM_FAILED;
    if (rc == 0 && r.duplicate_rows > 0) {
        ecm_log_warn("account numbers received more than once",
                     "interface=ucce_api campaign_id=%d "
                     "duplicates=%lld",
                     it->campaign_id, r.duplicate_rows);
    }
    a->head = it->next;
    if (!a->head) {
        a->tail = NULL;
    }
    a->queued--;
    pthread_cond_broadcast(&a->cv);
    item_unref(it);
}

static void *worker_main(void *arg)
{
    sim_ucce_api *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->quit) {
        if (!a->head) {
            pthread_cond_wait(&a->cv, &a->mu);
            continue;
        }
        worker_import(a, a->head);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

sim_ucce_api *sim_ucce_api_new(const sim_ucce_api_config *cfg, sim_store *store)
{
    sim_ucce_api *a = calloc(1, sizeof *a);
    if (!a) {
        return NULL;
    }
    a->user = strdup(cfg->user ? cfg->user : "");
    a->password = strdup(cfg->password ? cfg->password : "");
    a->rate = cfg->rate;
    a->store = store;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (!a->user || !a->password || pthread_create(&a->thread, NULL, worker_main, a) != 0) {
        sim_ucce_api_destroy(a);
        return NULL;
    }
    a->started = 1;
    return a;
}

void sim_ucce_api_stop(sim_ucce_api *a)
{
    if (!a) {
        return;
    }
    pthread_mutex_lock(&a->mu);
    a->quit = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (a->started) {
        pthread_join(a->thread, NULL);
        a->started = 0;
    }
    pthread_mutex_lock(&a->mu);
    while (a->head) {
        ucce_item *it = a->head;
        a->head = it->next;
        it->state = ITEM_FAILED;
        item_unref(it);
    }
    a->tail = NULL;
    a->queued = 0;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

void sim_ucce_api_destroy(sim_ucce_api *a)
{
    if (!a) {
        return;
    }
    sim_ucce_api_stop(a);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a->user);
    free(a->password);
    free(a);
}

/* Queues b's rows; *out (may be NULL) gets the item with a reference for
 * the caller. Returns 0, 1 when full, -1 out of memory or stopped. */
static int api_enqueue(sim_ucce_api *a, int campaign_id, sim_ucce_batch *b, ucce_item **out)
{
    ucce_item *it = calloc(1, sizeof *it);
    if (!it) {
        return -1;
    }
    pthread_mutex_lock(&a->mu);
    int rc = a->quit ? -1 : a->queued >= SIM_UCCE_MAX_QUEUED ? 1 : 0;
    if (rc == 0) {
        it->campaign_id = campaign_id;
        it->batch = *b;
        memset(b, 0, sizeof *b);
        it->refs = out ? 2 : 1;
        if (a->tail) {
            a->tail->next = it;
        } else {
            a->head = it;
        }
        a->tail = it;
        a->queued++;
        pthread_cond_broadcast(&a->cv);
        if (out) {
            *out = it;
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (rc != 0) {
        free(it);
    }
    return rc;
}

int sim_ucce_api_enqueue(sim_ucce_api *a, int campaign_id, sim_ucce_batch *b)
{
    return api_enqueue(a, campaign_id, b, NULL);
}

int sim_ucce_api_queued(sim_ucce_api *a)
{
    pthread_mutex_lock(&a->mu);
    int n = a->queued;
    pthread_mutex_unlock(&a->mu);
    return n;
}

/* --- routes ------------------------------------------------------------- */

/* Checks auth and parses {id}. Returns the id (> 0), or 0 after answering. */
static int ucce_begin(sim_ucce_api *a, ecm_http_req *req)
{
    if (!sim_web_authorized(a->user, a->password, req)) {
        ecm_http_add_header(req, "WWW-Authenticate", UCCE_REALM);
        sim_web_error(req, 401, "AUTHENTICATION_FAILED", "valid basic authentication is required");
        return 0;
    }
    int id = sim_web_id_param(req, 0);
    if (id == 0) {
        sim_web_error(req, 404, "CceDBDataNotFoundException", "no campaign with this id");
    }
    return id;
}

/* Waits for it to be imported, then answers. */
static void ucce_answer_import(sim_ucce_api *a, ecm_http_req *req, ucce_item *it, int id)
{
    pthread_mutex_lock(&a->mu);
    while (it->state == ITEM_QUEUED) {
        pthread_cond_wait(&a->cv, &a->mu);
    }
    item_state st = it->state;
    sim_import_result r = it->result;
    size_t n = it->batch.n;
    item_unref(it);
    pthread_mutex_unlock(&a->mu);
    if (st != ITEM_DONE) {
        sim_web_error(req, 503, "SERVICE_UNAVAILABLE", "the import was not processed");
        return;
    }
    sim_xml x;
    if (sim_xml_open(&x) != 0) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    sim_xml_start(&x, "importResult");
    sim_xml_int(&x, "campaignId", id);
    sim_xml_int(&x, "totalRecords", (long long)n);
    sim_xml_int(&x, "importedRecords", r.new_accounts);
    sim_xml_int(&x, "duplicateRecords", r.duplicate_rows);
    sim_xml_end(&x);
    sim_xml_respond(&x, req, 200);
}

static void ucce_post_import(void *ctx, ecm_http_req *req)
{
    sim_ucce_api *a = ctx;
    int id = ucce_begin(a, req);
    if (id == 0) {
        return;
    }
    size_t len = 0;
    const char *body = ecm_http_req_body(req, &len);
    sim_ucce_batch b;
    char err[256];
    if (sim_ucce_parse_import(body, len, SIM_UCCE_MAX_RECORDS, &b, err, sizeof err) != 0) {
        sim_store_count_refusal(a->store, SIM_IF_UCCE_API,
                                b.too_many ? "too_many_records" : "invalid");
        ecm_log_warn("import refused", "interface=ucce_api campaign_id=%d reason=%s", id, err);
        sim_web_error(req, 400, "INVALID_INPUT", err);
        return;
    }
    ucce_item *it = NULL;
    int rc = api_enqueue(a, id, &b, &it);
    sim_ucce_batch_destroy(&b);
    if (rc == 1) {
        sim_store_count_refusal(a->store, SIM_IF_UCCE_API, "queue_full");
        ecm_http_add_header(req, "Retry-After", "1");
        sim_web_error(req, 503, "SERVICE_UNAVAILABLE", "Request processing queue is at capacity");
        return;
    }
    if (rc != 0) {
        sim_web_error(req, 503, "SERVICE_UNAVAILABLE", "the import could not be queued");
        return;
    }
    ucce_answer_import(a, req, it, id);
}

/* A query integer in lo..hi, def when absent; -1 when malformed. */
static long long ucce_query_int(ecm_http_req *req, const char *name, long long def, long long lo,
                                long long hi)
{
    const char *v = ecm_http_req_query(req, name);
    if (!v) {
        return def;
    }
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    return errno != 0 || end == v || *end != '\0' || x < lo || x > hi ? -1 : x;
}

static int ucce_list_visit(void *ctx, const sim_ucce_listed *r)
{
    sim_xml *x = ctx;
    char status[2] = {r->call_status, '\0'};
    sim_xml_start(x, "importedContact");
    sim_xml_int(x, "id", r->id);
    sim_xml_text(x, "accountNumber", r->c.account_number);
    sim_xml_text(x, "firstName", r->c.first_name);
    sim_xml_text(x, "lastName", r->c.last_name);
    sim_xml_text(x, "callStatus", status);
    sim_xml_int(x, "callsMade", r->calls_made);
    sim_xml_int(x, "callResultOverall", r->call_result);
    sim_xml_text(x, "importDate", r->import_date);
    for (int p = 0; p < SIM_UCCE_PHONES; p++) {
        if (!r->c.phone[p][0]) {
            continue;
        }
        char name[16];
        snprintf(name, sizeof name, "phone%02d", p + 1);
        sim_xml_start(x, name);
        sim_xml_text(x, "number", r->c.phone[p]);
        sim_xml_int(x, "callResult", p == 0 ? r->call_result : 0);
        sim_xml_text(x, "dstObserved", r->c.dst_observed ? "true" : "false");
        sim_xml_int(x, "gmtOffset", r->c.has_tz ? r->c.tz_bias : 0);
        sim_xml_end(x);
    }
    sim_xml_end(x);
    return x->bad;
}

/* ?q=accountNumber:<x> into account (""), or -1 when q is something else. */
static int ucce_search(ecm_http_req *req, char *account, size_t size)
{
    const char *q = ecm_http_req_query(req, "q");
    account[0] = '\0';
    if (!q) {
        return 0;
    }
    static const char key[] = "accountNumber:";
    if (strncmp(q, key, sizeof key - 1) != 0 || strlen(q + sizeof key - 1) >= size) {
        return -1;
    }
    snprintf(account, size, "%s", q + sizeof key - 1);
    return 0;
}

static void ucce_get_import(void *ctx, ecm_http_req *req)
{
    sim_ucce_api *a = ctx;
    int id = ucce_begin(a, req);
    if (id == 0) {
        return;
    }
    char account[SIM_ACCOUNT_BUF + 1];
    long long start = ucce_query_int(req, "startIndex", 0, 0, 1000000000LL);
    long long per = ucce_query_int(req, "resultsPerPage", UCCE_PAGE_DEFAULT, 1, UCCE_PAGE_MAX);
    if (start < 0 || per < 0 || ucce_search(req, account, sizeof account) != 0) {
        sim_web_error(req, 400, "INVALID_INPUT",
                      "q must be accountNumber:<value>; startIndex >= 0; resultsPerPage 1..100");
        return;
    }
    sim_xml x;
    if (sim_xml_open(&x) != 0) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    sim_xml_start(&x, "results");
    sim_xml_start(&x, "importedContacts");
    long long total = 0;
    int rc = sim_store_ucce_list(a->store, id, account[0] ? account : NULL, start, per, &total,
                                 ucce_list_visit, &x);
    sim_xml_end(&x);
    sim_xml_start(&x, "pageInfo");
    sim_xml_int(&x, "startIndex", start);
    sim_xml_int(&x, "resultsPerPage", per);
    sim_xml_int(&x, "totalResults", total);
    sim_xml_end(&x);
    sim_xml_end(&x);
    if (rc < 0) {
        x.bad = 1;
    }
    sim_xml_respond(&x, req, 200);
}

static void ucce_delete_import(void *ctx, ecm_http_req *req)
{
    sim_ucce_api *a = ctx;
    int id = ucce_begin(a, req);
    if (id == 0) {
        return;
    }
    long long deleted = 0;
    if (sim_store_delete_pending(a->store, "ucce", id, &deleted) != 0) {
        sim_web_error(req, 500, "INTERNAL_ERROR", "the contacts could not be deleted");
        return;
    }
    ecm_log_info("imported contacts deleted", "campaign_id=%d deleted=%lld", id, deleted);
    sim_xml x;
    if (sim_xml_open(&x) != 0) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    sim_xml_start(&x, "deleteResult");
    sim_xml_int(&x, "deletedRecords", deleted);
    sim_xml_end(&x);
    sim_xml_respond(&x, req, 200);
}

static void ucce_answer_campaign(ecm_http_req *req, int id, int enabled, long long stamp)
{
    sim_xml x;
    if (sim_xml_open(&x) != 0) {
        ecm_http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    sim_xml_start(&x, "campaign");
    sim_xml_int(&x, "id", id);
    sim_xml_text(&x, "enabled", enabled ? "true" : "false");
    sim_xml_int(&x, "changeStamp", stamp);
    sim_xml_end(&x);
    sim_xml_respond(&x, req, 200);
}

static void ucce_get_campaign(void *ctx, ecm_http_req *req)
{
    sim_ucce_api *a = ctx;
    int id = ucce_begin(a, req);
    if (id == 0) {
        return;
    }
    int enabled = 0;
    long long stamp = 0;
    if (sim_store_campaign_get(a->store, "ucce", id, &enabled, &stamp) != 0) {
        sim_web_error(req, 500, "INTERNAL_ERROR", "the campaign could not be read");
        return;
    }
    ucce_answer_campaign(req, id, enabled, stamp);
}

/* Reads <campaign><enabled/><changeStamp/></campaign>. Returns 0 or -1. */
static int ucce_parse_campaign(const char *body, size_t len, int *enabled, long long *stamp)
{
    xmlDocPtr doc = len > 0 && len < 65536
                        ? xmlReadMemory(body, (int)len, NULL, NULL,
                                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
                        : NULL;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    int have_enabled = 0, have_stamp = 0;
    for (xmlNodePtr n = root && xmlStrcmp(root->name, BAD_CAST "campaign") == 0 ? root->children
                                                                                : NULL;
         n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        xmlChar *v = xmlNodeGetContent(n);
        const char *t = v ? (const char *)v : "";
        char *end = NULL;
        if (xmlStrcmp(n->name, BAD_CAST "enabled") == 0) {
            have_enabled = strcmp(t, "true") == 0 || strcmp(t, "false") == 0;
            *enabled = strcmp(t, "true") == 0;
        } else if (xmlStrcmp(n->name, BAD_CAST "changeStamp") == 0) {
            *stamp = strtoll(t, &end, 10);
            have_stamp = end != t && *end == '\0' && *stamp >= 0;
        }
        xmlFree(v);
    }
    xmlFreeDoc(doc);
    return have_enabled && have_stamp ? 0 : -1;
}

static void ucce_put_campaign(void *ctx, ecm_http_req *req)
{
    sim_ucce_api *a = ctx;
    int id = ucce_begin(a, req);
    if (id == 0) {
        return;
    }
    size_t len = 0;
    const char *body = ecm_http_req_body(req, &len);
    int enabled = 0;
    long long stamp = 0, current = 0;
    if (ucce_parse_campaign(body, len, &enabled, &stamp) != 0) {
        sim_web_error(req, 400, "INVALID_INPUT",
                      "body must be <campaign> with <enabled>true|false</enabled> and "
                      "<changeStamp>");
        return;
    }
    int rc = sim_store_ucce_update(a->store, id, enabled, stamp, &current);
    if (rc < 0) {
        sim_web_error(req, 500, "INTERNAL_ERROR", "the campaign could not be updated");
        return;
    }
    if (rc == 1) {
        sim_web_error(req, 409, "CONFLICT", "changeStamp is not the campaign's current one");
        return;
    }
    ecm_log_info(enabled ? "campaign enabled" : "campaign disabled", "system=ucce campaign_id=%d",
                 id);
    ucce_answer_campaign(req, id, enabled, current);
}

int sim_ucce_api_add_routes(sim_ucce_api *a, ecm_http *h)
{
    static const char imp[] = "/unifiedconfig/config/campaign/{}/import";
    static const char camp[] = "/unifiedconfig/config/campaign/{}";
    int rc = 0;
    rc |= ecm_http_route(h, "POST", imp, UCCE_MAX_BODY, ucce_post_import, a);
    rc |= ecm_http_route(h, "GET", imp, 0, ucce_get_import, a);
    rc |= ecm_http_route(h, "DELETE", imp, 0, ucce_delete_import, a);
    rc |= ecm_http_route(h, "GET", camp, 0, ucce_get_campaign, a);
    rc |= ecm_http_route(h, "PUT", camp, 65536, ucce_put_campaign, a);
    return rc == 0 ? 0 : -1;
}

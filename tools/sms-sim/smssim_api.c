#include "smssim_api.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ecm_log.h"

#define SMSSIM_SEND_MAX_BODY (64 * 1024)

struct smssim_api {
    smssim_api_config cfg;
    smssim_state *state;
    smssim_dlr *dlr;
    atomic_uint_fast64_t next_id;
    ecm_metric *m_received, *m_duplicates, *m_unavailable, *m_rejected;
};

smssim_api *smssim_api_new(const smssim_api_config *cfg, smssim_state *state, smssim_dlr *dlr,
                           ecm_metrics *metrics)
{
    smssim_api *a = calloc(1, sizeof *a);
    if (!a) {
        return NULL;
    }
    a->cfg = *cfg;
    a->state = state;
    a->dlr = dlr;
    atomic_init(&a->next_id, 1);
    a->m_received = ecm_metrics_counter(metrics, "ecm_smssim_received_total",
                                        "/send requests that got an outcome");
    a->m_duplicates = ecm_metrics_counter(metrics, "ecm_smssim_duplicate_sends_total",
                                          "/send of a message id received before");
    a->m_unavailable = ecm_metrics_counter(metrics, "ecm_smssim_unavailable_total",
                                           "/send answered 503 by the switch");
    a->m_rejected = ecm_metrics_counter(metrics, "ecm_smssim_rejected_total",
                                        "/send answered 400 by the outcome mix");
    return a;
}

void smssim_api_destroy(smssim_api *a)
{
    free(a);
}

static void api_json(ecm_http_req *req, int status, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        ecm_http_respond_problem(req, 500, "internal", "Out of memory", "could not render JSON");
        return;
    }
    ecm_http_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

/* Constant-time comparison: the token is a secret. */
static int api_token_ok(const char *header, const char *token)
{
    static const char prefix[] = "Bearer ";
    if (!header || strncmp(header, prefix, sizeof prefix - 1) != 0) {
        return 0;
    }
    const char *got = header + sizeof prefix - 1;
    size_t n = strlen(got), m = strlen(token);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n && i < m; i++) {
        diff |= (unsigned char)(got[i] ^ token[i]);
    }
    return diff == 0;
}

/* A required non-empty string member, or NULL. */
static const char *api_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

static void api_send(void *ctx, ecm_http_req *req)
{
    smssim_api *a = ctx;
    if (!api_token_ok(ecm_http_req_header(req, "Authorization"), a->cfg.token)) {
        smssim_state_add(a->state, SMSSIM_CTR_UNAUTHORIZED, 1);
        ecm_http_add_header(req, "WWW-Authenticate", "Bearer");
        ecm_http_respond_problem(req, 401, "unauthorized", "Unauthorized",
                                 "missing or wrong bearer token");
        return;
    }
    if (smssim_state_unavailable(a->state, smssim_now_ms())) {
        smssim_state_add(a->state, SMSSIM_CTR_UNAVAILABLE, 1);
        ecm_metric_add(a->m_unavailable, 1);
        ecm_http_add_header(req, "Retry-After", "1");
        ecm_http_respond_problem(req, 503, "unavailable", "Service unavailable",
                                 "the simulator's 503 switch is on");
        return;
    }
    size_t len = 0;
    const char *body = ecm_http_req_body(req, &len);
    json_error_t jerr;
    json_t *o = json_loadb(body, len, 0, &jerr);
    const char *mid = o ? api_str(o, "message_id") : NULL;
    const char *to = o ? api_str(o, "to") : NULL;
    json_t *text = o ? json_object_get(o, "text") : NULL;
    json_t *dlr_url = o ? json_object_get(o, "dlr_url") : NULL;
    const char *problem = !o                      ? "body is not JSON"
                          : !json_is_object(o)    ? "body is not a JSON object"
                          : !mid                  ? "message_id is missing"
                          : !to                   ? "to is missing"
                          : !json_is_string(text) ? "text is missing"
                          : dlr_url && !json_is_null(dlr_url) && !json_is_string(dlr_url)
                              ? "dlr_url is not a string"
                              : NULL;
    if (problem) {
        smssim_state_add(a->state, SMSSIM_CTR_INVALID, 1);
        ecm_http_respond_problem(req, 400, "invalid", "Invalid request", "%s", problem);
        json_decref(o);
        return;
    }
    smssim_outcome outcome = smssim_mix_pick(a->cfg.mix, mid, a->cfg.seed);
    long before = smssim_state_record(a->state, mid, outcome);
    ecm_metric_add(a->m_received, 1);
    if (before > 0) {
        ecm_metric_add(a->m_duplicates, 1);
        ecm_log_warn("message id received again", "message_id=%.100s times_before=%ld", mid,
                     before);
    }
    if (outcome == SMSSIM_REJECTED) {
        ecm_metric_add(a->m_rejected, 1);
        api_json(req, 400,
                 json_pack("{s:s, s:s, s:s}", "error", "rejected", "message_id", mid, "detail",
                           "rejected by the simulator's outcome mix"));
        json_decref(o);
        return;
    }
    char sim_id[32];
    snprintf(sim_id, sizeof sim_id, "sim-%llu",
             (unsigned long long)atomic_fetch_add(&a->next_id, 1));
    const char *url = json_string_value(dlr_url);
    if (url && *url && (outcome == SMSSIM_DELIVERED || outcome == SMSSIM_UNDELIVERED)) {
        smssim_url_vals v = {outcome == SMSSIM_DELIVERED ? 1 : 2, api_str(o, "from"), to, NULL,
                             sim_id};
        char *filled = smssim_url_fill(url, &v);
        if (filled) {
            (void)smssim_dlr_enqueue(a->dlr, filled, a->cfg.dlr_delay_ms);
            free(filled);
        } else {
            smssim_state_add(a->state, SMSSIM_CTR_DLRS_FAILED, 1);
            ecm_log_warn("DLR URL too long, no DLR", "message_id=%.100s", mid);
        }
    }
    api_json(req, 202, json_pack("{s:s}", "id", sim_id));
    json_decref(o);
}

/* Parses a non-negative integer query argument. Returns 0, or -1. */
static int api_query_int(ecm_http_req *req, const char *name, long long max, long long *out)
{
    const char *s = ecm_http_req_query(req, name);
    if (!s || !*s) {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static void api_unavailable(void *ctx, ecm_http_req *req)
{
    smssim_api *a = ctx;
    long long seconds = 0;
    if (api_query_int(req, "seconds", 86400, &seconds) != 0) {
        ecm_http_respond_problem(req, 400, "invalid", "Invalid request",
                                 "seconds must be an integer 0..86400");
        return;
    }
    smssim_state_set_unavailable(a->state, smssim_now_ms(), seconds);
    ecm_log_info("503 switch set", "seconds=%lld", seconds);
    api_json(req, 200, json_pack("{s:I}", "unavailable_for_s", (json_int_t)seconds));
}

static void api_stats(void *ctx, ecm_http_req *req)
{
    smssim_api *a = ctx;
    char *text = smssim_state_stats_json(a->state, smssim_dlr_pending(a->dlr));
    if (!text) {
        ecm_http_respond_problem(req, 500, "internal", "Out of memory", "stats");
        return;
    }
    ecm_http_respond(req, 200, "application/json", text, strlen(text));
    free(text);
}

static size_t api_discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static void api_mo(void *ctx, ecm_http_req *req)
{
    smssim_api *a = ctx;
    const char *from = ecm_http_req_query(req, "from");
    const char *text = ecm_http_req_query(req, "text");
    const char *to = ecm_http_req_query(req, "to");
    if (!a->cfg.mo_url || !*a->cfg.mo_url) {
        ecm_http_respond_problem(req, 409, "no-mo-url", "No MO URL",
                                 "ECM_SMSSIM_MO_URL is not configured");
        return;
    }
    if (!from || !*from || !text) {
        ecm_http_respond_problem(req, 400, "invalid", "Invalid request",
                                 "from and text are required query arguments");
        return;
    }
    smssim_url_vals v = {-1, from, to && *to ? to : a->cfg.mo_to, text, NULL};
    char *url = smssim_url_fill(a->cfg.mo_url, &v);
    CURL *c = url ? curl_easy_init() : NULL;
    if (!c) {
        free(url);
        ecm_http_respond_problem(req, 500, "internal", "Out of memory", "MO forward");
        return;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    /* POST, as a generic gateway should (the arguments stay in the URL). */
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, a->cfg.mo_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, api_discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    int ok = status >= 200 && status < 300;
    smssim_state_add(a->state, ok ? SMSSIM_CTR_MO_FORWARDED : SMSSIM_CTR_MO_FAILED, 1);
    /* Without the query: it carries the MO key. */
    ecm_log_info(ok ? "MO forwarded" : "MO forward failed", "status=%ld curl=%s url=%.*s", status,
                 curl_easy_strerror(rc), (int)strcspn(url, "?"), url);
    free(url);
    api_json(req, ok ? 200 : 502,
             json_pack("{s:b, s:I, s:s}", "forwarded", ok, "status", (json_int_t)status, "error",
                       rc == CURLE_OK ? "" : curl_easy_strerror(rc)));
}

int smssim_api_add_routes(smssim_api *a, ecm_http *h)
{
    if (ecm_http_route(h, "POST", "/send", SMSSIM_SEND_MAX_BODY, api_send, a) != 0 ||
        ecm_http_route(h, "POST", "/sim/unavailable", 1024, api_unavailable, a) != 0 ||
        ecm_http_route(h, "GET", "/sim/stats", 0, api_stats, a) != 0 ||
        ecm_http_route(h, "POST", "/sim/mo", 1024, api_mo, a) != 0) {
        return -1;
    }
    return 0;
}

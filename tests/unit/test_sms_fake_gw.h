/* A fake SMS gateway for the sms service's unit tests, served in-process
 * with ecm_http: Kannel's GET /cgi-bin/sendsms and a generic JSON
 * POST /send. It answers from a script of statuses set by the test (then a
 * default), remembers the last request's arguments, and counts the message
 * ids it accepted, and those it accepted more than once. Header-only so
 * that each test binary gets its own copy. */
#ifndef TEST_SMS_FAKE_GW_H
#define TEST_SMS_FAKE_GW_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ecm_http.h"
#include "ecm_test_support.h"

#define FAKE_SCRIPT_MAX 64
#define FAKE_IDS_MAX 4096

typedef struct {
    pthread_mutex_t mu;
    ecm_http *http;
    int port;
    int script[FAKE_SCRIPT_MAX]; /* statuses for the next requests, in order */
    int nscript, script_pos;
    int default_status; /* after the script: 202 unless the test says otherwise */
    int delay_ms;
    int requests; /* every request */
    int active, max_active;
    char *accepted[FAKE_IDS_MAX]; /* distinct message ids answered 2xx */
    int naccepted;
    int duplicates; /* ids answered 2xx more than once */
    /* The last request. */
    char username[64], password[64], from[64], to[64], coding[8], charset[16], dlr_mask[8];
    char text[2048], dlr_url[512], auth[256], body[4096], message_id[128];
} fake_gw;

static void fake_copy(char *out, size_t size, const char *s)
{
    snprintf(out, size, "%s", s ? s : "");
}

/* The next scripted status (the caller holds mu). */
static int fake_next_status(fake_gw *f)
{
    if (f->script_pos < f->nscript)
        return f->script[f->script_pos++];
    return f->default_status;
}

static void fake_accept_locked(fake_gw *f, const char *id)
{
    for (int i = 0; i < f->naccepted; i++) {
        if (strcmp(f->accepted[i], id) == 0) {
            f->duplicates++;
            return;
        }
    }
    if (f->naccepted < FAKE_IDS_MAX)
        f->accepted[f->naccepted++] = strdup(id);
}

/* The msgid argument of a DLR URL. */
static void fake_msgid_of(const char *dlr_url, char *out, size_t size)
{
    out[0] = '\0';
    const char *p = strstr(dlr_url, "msgid=");
    if (!p)
        return;
    p += 6;
    size_t n = strcspn(p, "&");
    snprintf(out, size, "%.*s", (int)n, p);
}

static int fake_begin(fake_gw *f)
{
    pthread_mutex_lock(&f->mu);
    f->requests++;
    f->active++;
    if (f->active > f->max_active)
        f->max_active = f->active;
    int status = fake_next_status(f);
    int delay = f->delay_ms;
    pthread_mutex_unlock(&f->mu);
    if (delay > 0)
        ecm_test_sleep_ms(delay);
    return status;
}

static void fake_end(fake_gw *f, int status, const char *id)
{
    pthread_mutex_lock(&f->mu);
    f->active--;
    if (status >= 200 && status < 300 && id[0])
        fake_accept_locked(f, id);
    pthread_mutex_unlock(&f->mu);
}

static void fake_kannel(void *ctx, ecm_http_req *req)
{
    fake_gw *f = ctx;
    int status = fake_begin(f);
    char id[128];
    pthread_mutex_lock(&f->mu);
    fake_copy(f->username, sizeof f->username, ecm_http_req_query(req, "username"));
    fake_copy(f->password, sizeof f->password, ecm_http_req_query(req, "password"));
    fake_copy(f->from, sizeof f->from, ecm_http_req_query(req, "from"));
    fake_copy(f->to, sizeof f->to, ecm_http_req_query(req, "to"));
    fake_copy(f->text, sizeof f->text, ecm_http_req_query(req, "text"));
    fake_copy(f->coding, sizeof f->coding, ecm_http_req_query(req, "coding"));
    fake_copy(f->charset, sizeof f->charset, ecm_http_req_query(req, "charset"));
    fake_copy(f->dlr_mask, sizeof f->dlr_mask, ecm_http_req_query(req, "dlr-mask"));
    fake_copy(f->dlr_url, sizeof f->dlr_url, ecm_http_req_query(req, "dlr-url"));
    fake_msgid_of(f->dlr_url, id, sizeof id);
    fake_copy(f->message_id, sizeof f->message_id, id);
    pthread_mutex_unlock(&f->mu);
    const char *body = status == 202   ? "0: Accepted for delivery"
                       : status == 403 ? "Authorization failed for sendsms"
                       : status == 503 ? "Temporal failure, try again later."
                                       : "Rejected";
    fake_end(f, status, id);
    ecm_http_respond(req, status, "text/plain", body, strlen(body));
}

static void fake_json(void *ctx, ecm_http_req *req)
{
    fake_gw *f = ctx;
    int status = fake_begin(f);
    size_t len = 0;
    const char *body = ecm_http_req_body(req, &len);
    json_t *j = json_loadb(body, len, 0, NULL);
    char id[128] = "";
    pthread_mutex_lock(&f->mu);
    fake_copy(f->body, sizeof f->body, body);
    fake_copy(f->auth, sizeof f->auth, ecm_http_req_header(req, "Authorization"));
    fake_copy(f->to, sizeof f->to, json_string_value(json_object_get(j, "to")));
    fake_copy(f->from, sizeof f->from, json_string_value(json_object_get(j, "from")));
    fake_copy(f->text, sizeof f->text, json_string_value(json_object_get(j, "text")));
    fake_copy(f->dlr_url, sizeof f->dlr_url, json_string_value(json_object_get(j, "dlr_url")));
    fake_copy(id, sizeof id, json_string_value(json_object_get(j, "message_id")));
    fake_copy(f->message_id, sizeof f->message_id, id);
    pthread_mutex_unlock(&f->mu);
    json_decref(j);
    char answer[256];
    snprintf(answer, sizeof answer, "{\"id\":\"gw-%s\"}", id);
    fake_end(f, status, id);
    ecm_http_respond(req, status, "application/json", answer, strlen(answer));
}

static fake_gw *fake_start(int port_lo, int port_hi)
{
    fake_gw *f = calloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->default_status = 202;
    static const ecm_test_route routes[] = {
        {"GET", "/cgi-bin/sendsms", 0, fake_kannel},
        {"POST", "/send", 1 << 20, fake_json},
    };
    f->http = ecm_test_http_serve(port_lo, port_hi, routes, 2, f, &f->port);
    if (!f->http) {
        free(f);
        return NULL;
    }
    return f;
}

static void fake_reset(fake_gw *f)
{
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->naccepted; i++)
        free(f->accepted[i]);
    f->naccepted = f->duplicates = f->requests = f->active = f->max_active = 0;
    f->nscript = f->script_pos = f->delay_ms = 0;
    f->default_status = 202;
    f->username[0] = f->password[0] = f->from[0] = f->to[0] = f->coding[0] = '\0';
    f->charset[0] = f->dlr_mask[0] = f->text[0] = f->dlr_url[0] = f->auth[0] = '\0';
    f->body[0] = f->message_id[0] = '\0';
    pthread_mutex_unlock(&f->mu);
}

/* Sets the statuses of the next requests. */
static inline void fake_script(fake_gw *f, const int *statuses, int n)
{
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < n && i < FAKE_SCRIPT_MAX; i++)
        f->script[i] = statuses[i];
    f->nscript = n;
    f->script_pos = 0;
    pthread_mutex_unlock(&f->mu);
}

static int fake_get(fake_gw *f, const int *field)
{
    pthread_mutex_lock(&f->mu);
    int v = *field;
    pthread_mutex_unlock(&f->mu);
    return v;
}

static void fake_stop(fake_gw *f)
{
    if (!f)
        return;
    ecm_http_destroy(f->http);
    for (int i = 0; i < f->naccepted; i++)
        free(f->accepted[i]);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

#endif

/* Connections: per-client caps, request deadlines and the reaper that cuts
 * what overstays (lib/io/ecm_http.h, "limits"). */
#include "ecm_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "ecm_clock.h"
#include "ecm_http_int.h"
#include "ecm_log.h"

/* The client key of sa: family and address bytes. Returns 0, or -1 for an
 * address that is not IP. */
static int client_key(const struct sockaddr *sa, int *family, unsigned char addr[16])
{
    memset(addr, 0, 16);
    if (sa && sa->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        memcpy(addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    } else {
        return -1;
    }
    *family = sa->sa_family;
    return 0;
}

static unsigned int client_bucket(int family, const unsigned char addr[16])
{
    uint32_t x = 2166136261u ^ (uint32_t)family;
    for (int i = 0; i < 16; i++) {
        x = (x ^ addr[i]) * 16777619u;
    }
    return x % HTTP_CLIENT_BUCKETS;
}

/* Counts one more connection of sa's client; under h->mu. Returns its
 * record, or NULL (not IP, out of memory: the connection is then not
 * counted per client). */
static http_client *client_ref(ecm_http *h, const struct sockaddr *sa)
{
    int family;
    unsigned char addr[16];
    if (client_key(sa, &family, addr) != 0) {
        return NULL;
    }
    http_client **slot = &h->clients[client_bucket(family, addr)];
    for (http_client *c = *slot; c; c = c->next) {
        if (c->family == family && memcmp(c->addr, addr, 16) == 0) {
            c->count++;
            return c;
        }
    }
    http_client *c = calloc(1, sizeof *c);
    if (!c) {
        return NULL;
    }
    c->family = family;
    memcpy(c->addr, addr, 16);
    c->count = 1;
    c->next = *slot;
    *slot = c;
    return c;
}

/* Counts one connection of c less, freeing it at zero; under h->mu. */
static void client_unref(ecm_http *h, http_client *c)
{
    if (!c || --c->count > 0) {
        return;
    }
    http_client **slot = &h->clients[client_bucket(c->family, c->addr)];
    while (*slot && *slot != c) {
        slot = &(*slot)->next;
    }
    if (*slot) {
        *slot = c->next;
    }
    free(c);
}

/* libmicrohttpd's connection notifications: the record the caps and the
 * reaper work from. CLOSED comes before libmicrohttpd closes the socket, so
 * the reaper never touches a descriptor that was reused. */
void ecm_http_conn_opened(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ecm_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        http_conn *hc = calloc(1, sizeof *hc);
        *socket_context = hc;
        if (!hc) {
            return;
        }
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        hc->fd = fd ? fd->connect_fd : -1;
        hc->phase = CONN_WAITING;
        hc->since_ms = ecm_clock_mono_ms();
        pthread_mutex_lock(&h->mu);
        hc->client = client_ref(h, ad ? ad->client_addr : NULL);
        hc->next = h->conns;
        if (h->conns) {
            h->conns->prev = hc;
        }
        h->conns = hc;
        h->nconns++;
        ecm_metric_set(h->m_open, h->nconns);
        pthread_mutex_unlock(&h->mu);
        return;
    }
    http_conn *hc = *socket_context;
    if (!hc) {
        return;
    }
    pthread_mutex_lock(&h->mu);
    if (hc->prev) {
        hc->prev->next = hc->next;
    } else {
        h->conns = hc->next;
    }
    if (hc->next) {
        hc->next->prev = hc->prev;
    }
    h->nconns--;
    client_unref(h, hc->client);
    ecm_metric_set(h->m_open, h->nconns);
    pthread_mutex_unlock(&h->mu);
    free(hc);
    *socket_context = NULL;
}

http_conn *ecm_http_conn_record(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Moves the connection's request on (the connection's own thread). */
void ecm_http_conn_phase_set(ecm_http *h, http_conn *hc, conn_phase phase)
{
    if (!hc) {
        return;
    }
    pthread_mutex_lock(&h->mu);
    int64_t now = ecm_clock_mono_ms();
    /* The body of a request on a kept-alive connection has the deadline
     * from its headers: since_ms was the end of the previous answer, and a
     * request coming late in the idle time got a 408 before its body could
     * arrive. (A connection's first request keeps the deadline from the
     * connect: the headers and the body together, against slow clients.) */
    if (phase == CONN_BODY && hc->phase == CONN_WAITING && hc->served > 0) {
        hc->since_ms = now;
    }
    hc->phase = phase;
    if (phase == CONN_WAITING) {
        hc->since_ms = now;
        hc->served++; /* only on_completed() comes back to waiting */
    } else if (phase == CONN_STREAM) {
        hc->stream_start_ms = now;
        hc->stream_bytes = 0;
        hc->busy_ms = 0;
        hc->busy_since = 0;
    }
    pthread_mutex_unlock(&h->mu);
}

/* A streaming handler call begins (busy) or ends, having taken n bytes. */
void ecm_http_conn_stream_busy(ecm_http *h, http_conn *hc, int busy, size_t n)
{
    if (!hc) {
        return;
    }
    pthread_mutex_lock(&h->mu);
    int64_t now = ecm_clock_mono_ms();
    if (busy) {
        hc->busy_since = now;
    } else if (hc->busy_since) {
        hc->busy_ms += now - hc->busy_since;
        hc->busy_since = 0;
    }
    hc->stream_bytes += n;
    pthread_mutex_unlock(&h->mu);
}

/* 0 while the connection keeps within its limits; else why it does not
 * (1 past the deadline, 2 a streaming body too slow). Under h->mu. */
static int conn_late(const ecm_http *h, const http_conn *hc, int64_t now)
{
    int64_t deadline_ms = (int64_t)h->limits.request_timeout_s * 1000;
    switch (hc->phase) {
    case CONN_WAITING:
    case CONN_BODY:
        return now - hc->since_ms > deadline_ms ? 1 : 0;
    case CONN_STREAM: {
        if (hc->busy_since) {
            return 0; /* the server is the slow one now */
        }
        int64_t client_ms = now - hc->stream_start_ms - hc->busy_ms;
        int slow = (double)hc->stream_bytes * 1000.0 <
                   (double)h->limits.stream_min_bytes_per_s * (double)client_ms;
        return client_ms > deadline_ms && slow ? 2 : 0;
    }
    case CONN_HANDLER:
        return 0;
    }
    return 0;
}

/* Closes a late connection: a best-effort 408 (the request is not being
 * answered yet, so nothing else writes to it), then shutdown, which
 * libmicrohttpd's thread for it sees as the client going away. Under h->mu,
 * which keeps the descriptor the connection's until NOTIFY_CLOSED. Returns
 * 1 when a request was cut, 0 when an idle kept-alive connection was closed. */
static int conn_cut(ecm_http *h, http_conn *hc, int why)
{
    char detail[96], msg[512];
    if (why == 2) {
        snprintf(detail, sizeof detail, "the body came slower than %d bytes/s",
                 h->limits.stream_min_bytes_per_s);
    } else {
        snprintf(detail, sizeof detail, "the request did not arrive within %d s",
                 h->limits.request_timeout_s);
    }
    char body[256];
    int blen = snprintf(body, sizeof body,
                        "{\"type\":\"%srequest-timeout\",\"title\":\"Request timeout\","
                        "\"status\":408,\"detail\":\"%s\"}",
                        HTTP_PROBLEM_BASE, detail);
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/problem+json\r\n"
                     "Connection: close\r\nContent-Length: %d\r\n\r\n%s",
                     blen, body);
    hc->cut = 1;
    /* A kept-alive connection waiting for its next request is closed
     * without a word, as an idle timeout does: a 408 could cross a request
     * the client sends at that moment and be taken for its answer. It is
     * not a request cut either: not counted as one. */
    int idle = hc->phase == CONN_WAITING && hc->served > 0;
    if (hc->fd >= 0) {
        if (!idle && blen > 0 && (size_t)blen < sizeof body && n > 0 && (size_t)n < sizeof msg) {
            (void)send(hc->fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        (void)shutdown(hc->fd, SHUT_RDWR);
    }
    if (!idle) {
        ecm_metric_add(why == 2 ? h->m_cut_slow : h->m_cut_deadline, 1);
    }
    return !idle;
}

/* The reaper thread: every HTTP_REAPER_TICK_MS, closes the connections
 * past their deadline. Logs a summary at most every 10 s. */
void *ecm_http_conn_reaper(void *arg)
{
    ecm_http *h = arg;
    long cut_deadline = 0, cut_slow = 0;
    int64_t logged_at = 0;
    pthread_mutex_lock(&h->mu);
    while (!h->reaper_stop) {
        struct timespec until = ecm_clock_mono_after_us((int64_t)HTTP_REAPER_TICK_MS * 1000);
        (void)pthread_cond_timedwait(&h->wake, &h->mu, &until);
        if (h->reaper_stop) {
            break;
        }
        int64_t now = ecm_clock_mono_ms();
        for (http_conn *hc = h->conns; hc; hc = hc->next) {
            int why = hc->cut ? 0 : conn_late(h, hc, now);
            if (why && conn_cut(h, hc, why)) {
                *(why == 2 ? &cut_slow : &cut_deadline) += 1;
            }
        }
        if ((cut_deadline || cut_slow) && now - logged_at >= 10000) {
            ecm_log_warn("HTTP requests cut",
                         "%ld past the %d s deadline, %ld bodies slower than %d bytes/s "
                         "(%d connections open)",
                         cut_deadline, h->limits.request_timeout_s, cut_slow,
                         h->limits.stream_min_bytes_per_s, h->nconns);
            cut_deadline = cut_slow = 0;
            logged_at = now;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Whether the soft caps turn this request away: 0, 503 or 429. */
int ecm_http_conn_over_soft_cap(ecm_http *h, const http_conn *hc)
{
    int status = 0;
    pthread_mutex_lock(&h->mu);
    if (h->nconns > h->limits.max_connections) {
        status = 503;
    } else if (hc && hc->client && hc->client->count > h->limits.max_per_client) {
        status = 429;
    }
    pthread_mutex_unlock(&h->mu);
    return status;
}

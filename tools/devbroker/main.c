/* ecm-devbroker: a Kafka-protocol broker for development only. It hosts
 * librdkafka's mock cluster (in memory, nothing survives a restart) and,
 * because the mock only listens on random ports, forwards a fixed loopback
 * port to it so that clients can bootstrap at a known address. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ecm_config.h"
#include "ecm_http.h"
#include "ecm_log.h"
#include "ecm_metrics.h"
#include "ecm_service.h"

#define FWD_BUF_SIZE (64 * 1024)
#define FWD_MAX_CONNS 1024
#define FWD_POLL_MS 200

typedef struct {
    long long port;
    char *bind;
    long long partitions;
    long long brokers;
    char *topics;
    char *http_bind;
    long long http_port;
    char *log_level;
} devbroker_config;

static const ecm_cfg_entry devbroker_table[] = {
    {"ECM_DEVBROKER_PORT", ECM_CFG_INT, offsetof(devbroker_config, port), "9092", 1, 65535,
     "fixed port clients bootstrap at (forwarded to the mock cluster)", NULL, 0},
    {"ECM_DEVBROKER_BIND", ECM_CFG_STRING, offsetof(devbroker_config, bind), "127.0.0.1", 0, -1,
     "address of the fixed port", NULL, 0},
    {"ECM_DEVBROKER_PARTITIONS", ECM_CFG_INT, offsetof(devbroker_config, partitions), "32", 1, 1024,
     "partitions of every topic created at start", NULL, 0},
    {"ECM_DEVBROKER_BROKERS", ECM_CFG_INT, offsetof(devbroker_config, brokers), "1", 1, 9,
     "number of mock brokers", NULL, 0},
    {"ECM_DEVBROKER_TOPICS", ECM_CFG_STRING, offsetof(devbroker_config, topics),
     "contacts.uploaded contacts.dispatched call.results sms.results contacts.retry "
     "contacts.closed campaigns.changed uploads.changed contacts.recycled ecm.deadletter",
     0, -1, "topics created at start (separated by spaces or commas)", NULL, 0},
    {"ECM_HTTP_BIND", ECM_CFG_STRING, offsetof(devbroker_config, http_bind), "127.0.0.1", 0, -1,
     "address of the control port", NULL, 0},
    {"ECM_HTTP_PORT", ECM_CFG_INT, offsetof(devbroker_config, http_port), "9093", 1, 65535,
     "control port: /healthz /readyz /metrics, POST /broker/down|up, GET /bootstrap", NULL, 0},
    {"ECM_LOG_LEVEL", ECM_CFG_STRING, offsetof(devbroker_config, log_level), "info", 0, -1,
     "debug, info, warn or error", ecm_service_validate_log_level, 0},
};
#define DEVBROKER_TABLE_N (sizeof devbroker_table / sizeof devbroker_table[0])

typedef struct {
    rd_kafka_t *host; /* throwaway producer that owns the mock cluster */
    rd_kafka_mock_cluster_t *mock;
    const devbroker_config *cfg;
    char upstream_host[64];
    int upstream_port;
    ecm_metric *m_conns;
    ecm_metric *m_conns_total;
    ecm_metric *m_bytes;
} devbroker;

/* ---- forwarder ---- */

typedef struct {
    char data[FWD_BUF_SIZE];
    size_t len;
} fwd_buf;

typedef struct {
    int fd[2];     /* 0: client, 1: mock broker */
    fwd_buf to[2]; /* to[i]: bytes waiting to be written to fd[i] */
    int closing;
} fwd_conn;

static int fwd_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int fwd_listen(const char *bind_addr, int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        ecm_log_error("devbroker: bad bind address", "%s", bind_addr);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0 ||
        fwd_nonblock(fd) != 0) {
        char err[128];
        strerror_r(errno, err, sizeof err);
        ecm_log_error("devbroker: cannot listen", "%s:%d: %s", bind_addr, port, err);
        close(fd);
        return -1;
    }
    return fd;
}

static int fwd_connect_upstream(const devbroker *b)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)b->upstream_port);
    if (inet_pton(AF_INET, b->upstream_host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Loopback: a blocking connect is immediate (or refused). */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || fwd_nonblock(fd) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void fwd_close(devbroker *b, fwd_conn **conns, size_t *n, size_t i)
{
    close(conns[i]->fd[0]);
    close(conns[i]->fd[1]);
    free(conns[i]);
    conns[i] = conns[*n - 1];
    (*n)--;
    ecm_metric_set(b->m_conns, (double)*n);
}

/* Moves bytes from fd[side] into to[1-side]. Returns -1 on EOF or error. */
static int fwd_read(devbroker *b, fwd_conn *c, int side)
{
    fwd_buf *dst = &c->to[1 - side];
    while (dst->len < FWD_BUF_SIZE) {
        ssize_t r = read(c->fd[side], dst->data + dst->len, FWD_BUF_SIZE - dst->len);
        if (r > 0) {
            dst->len += (size_t)r;
            ecm_metric_add(b->m_bytes, (uint64_t)r);
            continue;
        }
        if (r == 0)
            return -1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
    return 0;
}

static int fwd_write(fwd_conn *c, int side)
{
    fwd_buf *src = &c->to[side];
    size_t off = 0;
    while (off < src->len) {
        ssize_t w = write(c->fd[side], src->data + off, src->len - off);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return -1;
    }
    memmove(src->data, src->data + off, src->len - off);
    src->len -= off;
    return 0;
}

static void fwd_accept(devbroker *b, int lfd, fwd_conn **conns, size_t *n)
{
    for (;;) {
        int cfd = accept(lfd, NULL, NULL);
        if (cfd < 0)
            return;
        if (*n >= FWD_MAX_CONNS) {
            ecm_log_warn("devbroker: too many connections", "limit %d", FWD_MAX_CONNS);
            close(cfd);
            continue;
        }
        int ufd = fwd_connect_upstream(b);
        if (ufd < 0 || fwd_nonblock(cfd) != 0) {
            /* The mock broker is down (fault test): the client retries. */
            if (ufd >= 0)
                close(ufd);
            close(cfd);
            continue;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fwd_conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(cfd);
            close(ufd);
            continue;
        }
        c->fd[0] = cfd;
        c->fd[1] = ufd;
        conns[(*n)++] = c;
        ecm_metric_add(b->m_conns_total, 1);
        ecm_metric_set(b->m_conns, (double)*n);
    }
}

/* Runs until a stop is requested. Returns 0, or -1 if it could not start. */
static int fwd_run(devbroker *b, int lfd)
{
    fwd_conn **conns = calloc(FWD_MAX_CONNS, sizeof *conns);
    struct pollfd *pfds = calloc(1 + 2 * FWD_MAX_CONNS, sizeof *pfds);
    if (!conns || !pfds) {
        free(conns);
        free(pfds);
        return -1;
    }
    size_t n = 0;
    while (!ecm_stop_requested) {
        pfds[0].fd = lfd;
        pfds[0].events = POLLIN;
        for (size_t i = 0; i < n; i++) {
            for (int side = 0; side < 2; side++) {
                struct pollfd *p = &pfds[1 + 2 * i + (size_t)side];
                p->fd = conns[i]->fd[side];
                p->events = 0;
                p->revents = 0;
                if (!conns[i]->closing && conns[i]->to[1 - side].len < FWD_BUF_SIZE)
                    p->events |= POLLIN;
                if (conns[i]->to[side].len > 0)
                    p->events |= POLLOUT;
            }
        }
        int pr = poll(pfds, 1 + 2 * n, FWD_POLL_MS);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        size_t count = n;
        /* Backwards, so that closing (swap with the last) skips nothing. */
        for (size_t k = count; k-- > 0;) {
            fwd_conn *c = conns[k];
            int bad = 0;
            for (int side = 0; side < 2 && !bad; side++) {
                short re = pfds[1 + 2 * k + (size_t)side].revents;
                if (re & (POLLIN | POLLHUP | POLLERR)) {
                    if (fwd_read(b, c, side) < 0)
                        c->closing = 1;
                }
                if (re & POLLOUT) {
                    if (fwd_write(c, side) < 0)
                        bad = 1;
                }
            }
            /* Deliver what is left, then close both ends together: Kafka
             * does not use half-closed connections. */
            if (!bad && c->closing) {
                fwd_write(c, 0);
                fwd_write(c, 1);
                bad = 1;
            }
            if (bad)
                fwd_close(b, conns, &n, k);
        }
        if (pfds[0].revents & POLLIN)
            fwd_accept(b, lfd, conns, &n);
    }
    while (n > 0)
        fwd_close(b, conns, &n, n - 1);
    free(conns);
    free(pfds);
    return 0;
}

/* ---- control port ---- */

static int32_t devbroker_broker_id(ecm_http_req *req)
{
    const char *id = ecm_http_req_query(req, "id");
    if (!id)
        return -1; /* all brokers */
    char *end = NULL;
    long long v = strtoll(id, &end, 10);
    if (end == id || *end != '\0' || v < 1 || v > 9)
        return 0;
    return (int32_t)v;
}

static void devbroker_set_state(devbroker *b, ecm_http_req *req, int down)
{
    int32_t id = devbroker_broker_id(req);
    if (id == 0) {
        ecm_http_respond_problem(req, 400, "bad-broker-id", "Bad broker id",
                                 "id must be between 1 and %lld", b->cfg->brokers);
        return;
    }
    int32_t first = id > 0 ? id : 1;
    int32_t last = id > 0 ? id : (int32_t)b->cfg->brokers;
    for (int32_t i = first; i <= last; i++) {
        rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(b->mock, i)
                                       : rd_kafka_mock_broker_set_up(b->mock, i);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            ecm_http_respond_problem(req, 404, "unknown-broker", "Unknown broker", "broker %d: %s",
                                     (int)i, rd_kafka_err2str(err));
            return;
        }
    }
    ecm_log_warn(down ? "devbroker: broker set DOWN (fault injection)" : "devbroker: broker set up",
                 "broker %s", id > 0 ? "one" : "all");
    char body[64];
    int n = snprintf(body, sizeof body, "{\"broker\":%d,\"state\":\"%s\"}\n", (int)id,
                     down ? "down" : "up");
    ecm_http_respond(req, 200, "application/json", body, (size_t)n);
}

static void devbroker_down(void *ctx, ecm_http_req *req)
{
    devbroker_set_state(ctx, req, 1);
}

static void devbroker_up(void *ctx, ecm_http_req *req)
{
    devbroker_set_state(ctx, req, 0);
}

static void devbroker_bootstrap(void *ctx, ecm_http_req *req)
{
    devbroker *b = ctx;
    const char *bs = rd_kafka_mock_cluster_bootstraps(b->mock);
    char body[512];
    int n = snprintf(body, sizeof body, "%s\n", bs);
    if (n < 0 || (size_t)n >= sizeof body)
        n = 0;
    ecm_http_respond(req, 200, "text/plain", body, (size_t)n);
}

static int devbroker_ready(void *ctx, char *errstr, size_t errstr_size)
{
    devbroker *b = ctx;
    if (!b->mock) {
        snprintf(errstr, errstr_size, "mock cluster not running");
        return -1;
    }
    return 0;
}

/* ---- start-up ---- */

/* The mock host has no bootstrap servers of its own; its notices are noise. */
static void devbroker_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    ecm_log(level <= 3   ? ECM_LOG_ERROR
            : level == 4 ? ECM_LOG_WARN
                         : ECM_LOG_DEBUG,
            "librdkafka", "%s: %s", fac, buf);
}

static void devbroker_banner(const devbroker_config *cfg, const char *bootstraps)
{
    fprintf(stderr,
            "\n"
            "################################################################################\n"
            "#  ECM DEVBROKER - IN-MEMORY, DEVELOPMENT-ONLY KAFKA (librdkafka mock cluster)  #\n"
            "#                                                                              #\n"
            "#  * Everything is LOST when this process stops or restarts.                   #\n"
            "#  * Keeps only the newest ~5 MB (or 100k batches) per partition and silently  #\n"
            "#    DROPS older messages.                                                     #\n"
            "#  * NEVER use it in production: run Apache Kafka there.                       #\n"
            "################################################################################\n"
            "  bootstrap: %s:%lld  (mock brokers at %s)\n\n",
            cfg->bind, cfg->port, bootstraps);
    ecm_log_warn("devbroker is IN-MEMORY and for DEVELOPMENT ONLY",
                 "data is lost on restart, only the newest ~5 MB per partition is kept; never "
                 "use in production");
}

/* Parses "host:port" (the first of a comma-separated list). */
static int devbroker_parse_bootstrap(const char *bs, char *host, size_t host_size, int *port)
{
    const char *comma = strchr(bs, ',');
    size_t len = comma ? (size_t)(comma - bs) : strlen(bs);
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (bs[i] == ':')
            colon = bs + i;
    if (!colon || (size_t)(colon - bs) >= host_size)
        return -1;
    memcpy(host, bs, (size_t)(colon - bs));
    host[colon - bs] = '\0';
    char digits[8];
    size_t dlen = len - (size_t)(colon - bs) - 1;
    if (dlen == 0 || dlen >= sizeof digits)
        return -1;
    memcpy(digits, colon + 1, dlen);
    digits[dlen] = '\0';
    char *end = NULL;
    long long v = strtoll(digits, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    /* The mock listens on loopback; "localhost" is resolved for the forwarder. */
    if (strcmp(host, "localhost") == 0)
        snprintf(host, host_size, "127.0.0.1");
    return 0;
}

static int devbroker_create_topics(devbroker *b)
{
    size_t len = strlen(b->cfg->topics);
    char *list = malloc(len + 1);
    if (!list)
        return -1;
    memcpy(list, b->cfg->topics, len + 1);
    int rc = 0, created = 0;
    char *p = list;
    while (*p && rc == 0) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *start = p;
        while (*p && *p != ' ' && *p != ',' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(b->mock, start, (int)b->cfg->partitions, 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            ecm_log_error("devbroker: topic not created", "%s: %s", start, rd_kafka_err2str(err));
            rc = -1;
        } else {
            created++;
            ecm_log_info("devbroker: topic created", "%s (%lld partitions)", start,
                         b->cfg->partitions);
        }
    }
    free(list);
    return rc == 0 ? created : -1;
}

/* Sets TCP_NODELAY on every listening TCP socket of this process, so that
 * the connections the mock brokers accept inherit it (Linux copies the
 * option from the listener). librdkafka's mock cluster leaves Nagle on:
 * with several produce requests in flight on a connection, each response
 * after the first waited for the client's delayed ACK, and a batch of
 * messages over several partitions took 48 ms to be acknowledged against
 * 5 ms on one partition (the linger). Real brokers set TCP_NODELAY (Kafka's
 * socket server does). Returns the number of listeners set. */
static int devbroker_nodelay_listeners(void)
{
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    int set = 0, one = 1;
    for (int fd = 3; fd < (int)max; fd++) {
        int v = 0;
        socklen_t len = sizeof v;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) != 0 || !v)
            continue;
        len = sizeof v;
        if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) != 0 || v != IPPROTO_TCP)
            continue;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0)
            set++;
    }
    return set;
}

/* Creates the mock cluster (b->host, b->mock) with cfg.brokers brokers,
 * learns its bootstrap address and creates the topics. Returns 0, or -1
 * logged (what was created is in b for the caller to free). */
static int devbroker_open_mock(devbroker *b)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", "ecm-devbroker", errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        ecm_log_error("devbroker: bad librdkafka configuration", "%s", errstr);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, devbroker_rdkafka_log);
    b->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!b->host) {
        rd_kafka_conf_destroy(conf);
        ecm_log_error("devbroker: cannot create the mock host", "%s", errstr);
        return -1;
    }
    b->mock = rd_kafka_mock_cluster_new(b->host, (int)b->cfg->brokers);
    if (!b->mock) {
        ecm_log_error("devbroker: cannot create the mock cluster", NULL);
        return -1;
    }
    ecm_log_info("devbroker: TCP_NODELAY on the mock's listeners", "%d listening sockets",
                 devbroker_nodelay_listeners());
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(b->mock);
    if (devbroker_parse_bootstrap(bootstraps, b->upstream_host, sizeof b->upstream_host,
                                  &b->upstream_port) != 0) {
        ecm_log_error("devbroker: unexpected mock bootstrap address", "%s", bootstraps);
        return -1;
    }
    return devbroker_create_topics(b) < 0 ? -1 : 0;
}

/* Registers the forwarder's metrics. Can't fail. */
static void devbroker_metrics(devbroker *b, ecm_metrics *metrics)
{
    b->m_conns = ecm_metrics_gauge(metrics, "ecm_devbroker_connections",
                                   "client connections open through the fixed port");
    b->m_conns_total = ecm_metrics_counter(metrics, "ecm_devbroker_connections_total",
                                           "client connections accepted on the fixed port");
    b->m_bytes = ecm_metrics_counter(metrics, "ecm_devbroker_forwarded_bytes_total",
                                     "bytes forwarded through the fixed port");
}

/* Starts the control port (/broker/down, /broker/up, /bootstrap and the
 * probes). Returns it, or NULL logged. */
static ecm_http *devbroker_start_control(devbroker *b, ecm_metrics *metrics)
{
    ecm_http *http = ecm_http_new(b->cfg->http_bind, (int)b->cfg->http_port, metrics);
    if (!http || ecm_http_route(http, "POST", "/broker/down", 0, devbroker_down, b) != 0 ||
        ecm_http_route(http, "POST", "/broker/up", 0, devbroker_up, b) != 0 ||
        ecm_http_route(http, "GET", "/bootstrap", 0, devbroker_bootstrap, b) != 0) {
        ecm_log_error("devbroker: cannot set up the control port", NULL);
        if (http)
            ecm_http_destroy(http);
        return NULL;
    }
    ecm_http_set_ready(http, devbroker_ready, b);
    if (ecm_http_start(http) != 0) {
        ecm_http_destroy(http);
        return NULL;
    }
    return http;
}

int main(int argc, char **argv)
{
    devbroker_config cfg;
    memset(&cfg, 0, sizeof cfg);
    ecm_service_configure(argc, argv, "ecm-devbroker",
                          "Development-only Kafka broker: librdkafka's in-memory mock cluster on "
                          "a fixed loopback port. Never for production.",
                          devbroker_table, DEVBROKER_TABLE_N, &cfg);
    ecm_service_log_init("devbroker", cfg.log_level);
    ecm_service_install_signals();
    ecm_config_log(devbroker_table, DEVBROKER_TABLE_N, &cfg);

    int rc = 1;
    devbroker b;
    memset(&b, 0, sizeof b);
    b.cfg = &cfg;
    ecm_metrics *metrics = ecm_metrics_new();
    ecm_http *http = NULL;
    int lfd = -1;
    if (devbroker_open_mock(&b) != 0)
        goto out;
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(b.mock);
    devbroker_metrics(&b, metrics);

    lfd = fwd_listen(cfg.bind, (int)cfg.port);
    if (lfd < 0)
        goto out;
    http = devbroker_start_control(&b, metrics);
    if (!http)
        goto out;

    devbroker_banner(&cfg, bootstraps);
    ecm_log_info("devbroker ready", "bootstrap %s:%lld -> %s, control port %s:%lld", cfg.bind,
                 cfg.port, bootstraps, cfg.http_bind, cfg.http_port);
    if (fwd_run(&b, lfd) == 0)
        rc = 0;
    ecm_log_info("devbroker stopping", NULL);
out:
    if (http)
        ecm_http_destroy(http);
    if (lfd >= 0)
        close(lfd);
    if (b.mock)
        rd_kafka_mock_cluster_destroy(b.mock);
    if (b.host)
        rd_kafka_destroy(b.host);
    ecm_metrics_destroy(metrics);
    ecm_config_destroy(devbroker_table, DEVBROKER_TABLE_N, &cfg);
    return rc;
}

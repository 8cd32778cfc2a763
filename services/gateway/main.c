/* ecm-gateway: the REST API. Wiring only; the behaviour is in gw_*.c. */
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecm_recycle.h"
#include "ecm_calling.h"
#include "ecm_clock.h"
#include "ecm_log.h"
#include "ecm_migrate.h"
#include "ecm_pg.h"
#include "ecm_service.h"
#include "gw_app.h"
#include "gw_audit.h"
#include "gw_auth.h"
#include "gw_campaign_view.h"
#include "gw_campaigns.h"
#include "gw_contact_list.h"
#include "gw_contacts.h"
#include "gw_consent.h"
#include "gw_dnc.h"
#include "gw_eligibility.h"
#include "gw_export.h"
#include "gw_keys.h"
#include "gw_openapi.h"
#include "gw_web.h"
#include "gw_client.h"
#include "gw_recycle.h"
#include "gw_rules.h"
#include "gw_session.h"
#include "gw_strategies.h"
#include "gw_dryrun.h"
#include "gw_upload.h"
#include "gw_upload_list.h"
#include "gw_upload_lease.h"
#include "gw_users.h"

/* Blocks from this size on are mapped (see main). */
#define GW_MMAP_THRESHOLD (256 * 1024)

typedef struct {
    ecm_common_config common;
    long long upload_batch;
    long long upload_threads;
    long long upload_max_record;
    long long upload_max_bytes;
    long long max_uploads;
    long long pg_pool_size;
    char *default_region;
    char *legal_hours;
    long long upload_lease_s;
    long long upload_sweep_s;
    long long voice_margin_s;
    char *topic_uploads;
    char *topic_recycled;
    long long password_opslimit;
    long long password_memlimit;
    long long login_max_failures;
    long long login_lock_s;
    long long login_addr_max_failures;
    long long login_addr_window_s;
    long long session_idle_s;
    long long session_max_s;
    int cookie_secure;
    char *web_dir;
    char *trusted_proxies;
} gateway_config;

static int validate_region(const char *value, char *errstr, size_t errstr_size)
{
    if (gw_region_known(value)) {
        return 0;
    }
    (void)snprintf(errstr, errstr_size,
                   "'%.16s' is not an upper-case ISO 3166 alpha-2 code libphonenumber knows",
                   value);
    return -1;
}

/* ECM_GATEWAY_WEB_DIR: empty, or a folder holding the console's index.html. */
static int validate_web_dir(const char *value, char *errstr, size_t errstr_size)
{
    if (!value[0]) {
        return 0;
    }
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/index.html", value);
    if (n > 0 && (size_t)n < sizeof(path) && access(path, R_OK) == 0) {
        return 0;
    }
    (void)snprintf(errstr, errstr_size, "'%.200s' is not a folder holding the console's index.html",
                   value);
    return -1;
}

static int validate_proxies(const char *value, char *errstr, size_t errstr_size)
{
    return gw_client_check(value, errstr, errstr_size);
}

static const ecm_cfg_entry config_table[] = {
    ECM_COMMON_CONFIG_ENTRIES(gateway_config, common, "8080", "64"),
    {"ECM_GATEWAY_UPLOAD_BATCH", ECM_CFG_INT, offsetof(gateway_config, upload_batch), "6000", 1,
     100000,
     "contacts loaded per COPY transaction during an upload (two batches load at once and the "
     "next is validated meanwhile, so three are in memory: 6000 keeps the gateway's peak RSS "
     "under 64 MB for a 1M-row file; larger batches wait on each other less but each 1000 rows "
     "more raise the peak by about 1 MB)",
     NULL, 0},
    {"ECM_GATEWAY_UPLOAD_THREADS", ECM_CFG_INT, offsetof(gateway_config, upload_threads), "0", 0,
     16,
     "threads that validate upload rows (phone numbers through libphonenumber), shared by the "
     "uploads under way: one upload alone gets them all, more share them; 0: one a CPU, at "
     "least 2 (the database load of the previous batch runs meanwhile)",
     NULL, 0},
    {"ECM_GATEWAY_MAX_UPLOADS", ECM_CFG_INT, offsetof(gateway_config, max_uploads), "4", 1, 256,
     "contact and DNC uploads under way at once in this process; more get 429 with Retry-After",
     NULL, 0},
    {"ECM_GATEWAY_UPLOAD_MAX_BYTES", ECM_CFG_INT, offsetof(gateway_config, upload_max_bytes),
     "2147483648", 1024, 1099511627776LL, "bytes one upload's body may have; a bigger one gets 413",
     NULL, 0},
    {"ECM_GATEWAY_UPLOAD_MAX_RECORD", ECM_CFG_INT, offsetof(gateway_config, upload_max_record),
     "65536", 1024, 16777216, "bytes one CSV record may take (bounds memory per upload)", NULL, 0},
    {"ECM_GATEWAY_PG_POOL", ECM_CFG_INT, offsetof(gateway_config, pg_pool_size), "8", 1, 256,
     "database connections shared by the HTTP handlers", NULL, 0},
    {"ECM_DEFAULT_REGION", ECM_CFG_STRING, offsetof(gateway_config, default_region), "US", 0, -1,
     "region (ISO 3166 alpha-2) a number without '+' is read in when no campaign gives one: "
     "global DNC entries, campaigns created without a region",
     validate_region, 0},
    ECM_CALLING_CONFIG_ENTRY(gateway_config, legal_hours),
    {"ECM_GATEWAY_UPLOAD_LEASE_S", ECM_CFG_INT, offsetof(gateway_config, upload_lease_s), "60", 3,
     3600,
     "seconds an upload's lease lasts: renewed by its gateway at each batch and every third of "
     "it; once past (the gateway died or stalled), any gateway marks the upload 'interrupted'",
     NULL, 0},
    {"ECM_FEEDER_WINDOW_MARGIN_S", ECM_CFG_INT, offsetof(gateway_config, voice_margin_s), "600", 0,
     86400,
     "the feeder's margin (set both to one value): the eligibility answer judges a call as the "
     "feeder does, with the window still open this long after",
     NULL, 0},
    {"ECM_GATEWAY_UPLOAD_SWEEP_S", ECM_CFG_INT, offsetof(gateway_config, upload_sweep_s), "15", 1,
     3600, "seconds between two looks for uploads whose lease is past (also done at start)", NULL,
     0},
    {"ECM_TOPIC_UPLOADS_CHANGED", ECM_CFG_STRING, offsetof(gateway_config, topic_uploads),
     GW_TOPIC_UPLOADS_DEFAULT, 0, -1, "topic name (UploadInterrupted)", NULL, 0},
    {"ECM_TOPIC_CONTACTS_RECYCLED", ECM_CFG_STRING, offsetof(gateway_config, topic_recycled),
     ECM_RECYCLE_TOPIC_DEFAULT, 0, -1, "topic name (ContactsRecycled)", NULL, 0},
    {"ECM_GATEWAY_PASSWORD_OPSLIMIT", ECM_CFG_INT, offsetof(gateway_config, password_opslimit), "2",
     1, 16,
     "Argon2id passes for console users' passwords (libsodium's interactive level: 2); a "
     "sign-in with a hash made at another cost rehashes it",
     NULL, 0},
    {"ECM_GATEWAY_PASSWORD_MEMLIMIT", ECM_CFG_INT, offsetof(gateway_config, password_memlimit),
     "67108864", 8192, 4294967296LL,
     "bytes of memory one Argon2id password hash takes (libsodium's interactive level: 64 MiB)",
     NULL, 0},
    {"ECM_GATEWAY_LOGIN_MAX_FAILURES", ECM_CFG_INT, offsetof(gateway_config, login_max_failures),
     "5", 1, 100, "wrong passwords in a row that lock a console user", NULL, 0},
    {"ECM_GATEWAY_LOGIN_LOCK_S", ECM_CFG_INT, offsetof(gateway_config, login_lock_s), "900", 1,
     604800, "seconds a locked console user cannot sign in (an admin may unlock sooner)", NULL, 0},
    {"ECM_GATEWAY_LOGIN_ADDR_MAX_FAILURES", ECM_CFG_INT,
     offsetof(gateway_config, login_addr_max_failures), "30", 1, 100000,
     "refused sign-ins from one client address (whatever the user names) within "
     "ECM_GATEWAY_LOGIN_ADDR_WINDOW_S after which that address gets 429 until the window is past",
     NULL, 0},
    {"ECM_GATEWAY_LOGIN_ADDR_WINDOW_S", ECM_CFG_INT, offsetof(gateway_config, login_addr_window_s),
     "300", 1, 86400, "seconds over which refused sign-ins from one address are counted", NULL, 0},
    {"ECM_GATEWAY_SESSION_IDLE_S", ECM_CFG_INT, offsetof(gateway_config, session_idle_s), "1800", 1,
     604800, "seconds a console session lasts without a request", NULL, 0},
    {"ECM_GATEWAY_SESSION_MAX_S", ECM_CFG_INT, offsetof(gateway_config, session_max_s), "43200", 1,
     2592000, "seconds a console session lasts in all, however used", NULL, 0},
    {"ECM_GATEWAY_COOKIE_SECURE", ECM_CFG_BOOL, offsetof(gateway_config, cookie_secure), "true", 0,
     0,
     "the session cookie says Secure (sent over HTTPS only); false only for a plain-HTTP dev "
     "stack",
     NULL, 0},
    {"ECM_GATEWAY_TRUSTED_PROXIES", ECM_CFG_STRING, offsetof(gateway_config, trusted_proxies), "",
     0, -1,
     "reverse proxies (ingress) in front of the gateway, comma-separated addresses or CIDR blocks: "
     "from them, the client's address is read from X-Forwarded-For (sign-in throttle, audit "
     "log); empty: the connection's address, and the header is ignored",
     validate_proxies, 0},
    {"ECM_GATEWAY_WEB_DIR", ECM_CFG_STRING, offsetof(gateway_config, web_dir), "", 0, -1,
     "console development only: read the console's files (web/) from this folder at each "
     "request instead of the copy compiled in; empty: the compiled-in copy",
     validate_web_dir, 0},
};

/* The main loop's upload chores: renews the leases this process holds
 * every third of a lease, and marks the uploads whose lease is past every
 * sweep_ms (and folds the campaigns' count deltas then, so that they stay
 * few while no one reads them). Each on a pool handle taken for the moment; a busy or
 * unreachable database skips the turn (logged). */
static void upload_chores(const gw_app *app, int64_t now, int64_t lease_ms, int64_t sweep_ms,
                          int64_t *next_renew, int64_t *next_sweep)
{
    if (now >= *next_renew) {
        *next_renew = now + lease_ms / 3;
        if (gw_upload_lease_held(app->upload_lease) > 0) {
            ecm_pg *pg = ecm_pg_pool_get_within(app->pool, 5000);
            if (gw_upload_lease_renew(app->upload_lease, pg) < 0) {
                ecm_log_warn("upload leases not renewed", "reason=database unavailable");
                ecm_pg_check_broken(pg);
            }
            ecm_pg_pool_put(app->pool, pg);
        }
    }
    if (now >= *next_sweep) {
        *next_sweep = now + sweep_ms;
        ecm_pg *pg = ecm_pg_pool_get_within(app->pool, 5000);
        if (gw_upload_lease_sweep(pg, app->topic_uploads, app->source) < 0) {
            ecm_log_warn("expired upload leases not looked at", "reason=database unavailable");
            ecm_pg_check_broken(pg);
        } else if (gw_campaign_view_fold(pg) < 0) {
            ecm_log_warn("campaign counts not folded", "reason=database unavailable");
            ecm_pg_check_broken(pg);
        }
        ecm_pg_pool_put(app->pool, pg);
    }
}

/* Each module adds its routes (one a line, so that adding one is one line). */
/* clang-format off */
static int (*const route_modules[])(ecm_http *h, const gw_app *app) = {
    gw_campaigns_register,
    gw_upload_register,
    gw_upload_list_register,
    gw_dnc_register,
    gw_consent_register,
    gw_strategies_register,
    gw_dryrun_register,
    gw_rules_register,
    gw_contacts_register,
    gw_contact_list_register,
    gw_keys_register,
    gw_session_register,
    gw_users_register,
    gw_audit_register,
    gw_export_register,
    gw_openapi_register,
    gw_recycle_register,
    gw_eligibility_register,
    gw_web_register,
};
/* clang-format on */

/* 'ecm-gateway keys ...': the first admin key, and keys when no admin key
 * is at hand; only the database's settings are needed. Returns the exit
 * status. */
static int keys_command(int argc, char **argv)
{
    const char *dsn = getenv("ECM_PG_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr, "ecm-gateway keys: ECM_PG_DSN: required but not set\n");
        return 2;
    }
    ecm_log_init("gateway", ECM_LOG_WARN);
    return gw_keys_cli(argc - 1, argv + 1, dsn);
}

/* 'ecm-gateway users ...': the first admin user; only the database's
 * settings (and the password cost) are needed. Returns the exit status. */
static int users_command(int argc, char **argv)
{
    const char *dsn = getenv("ECM_PG_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr, "ecm-gateway users: ECM_PG_DSN: required but not set\n");
        return 2;
    }
    ecm_log_init("gateway", ECM_LOG_WARN);
    return gw_users_cli(argc - 1, argv + 1, dsn);
}

static void migrate_usage(FILE *out)
{
    fprintf(out,
            "usage: ecm-gateway migrate\n"
            "Applies the pending migrations (advisory-locked, forward-only) and exits 0 when the\n"
            "schema is current.\n"
            "  ECM_PG_DSN            the schema owner's connection (required)\n"
            "  ECM_MIGRATE_APP_ROLE  the services' role: after the migrations it gets USAGE on\n"
            "                        the schema, SELECT/INSERT/UPDATE/DELETE on every table,\n"
            "                        USAGE/SELECT on sequences, EXECUTE on functions, and the\n"
            "                        same by default on what the owner creates later; no DDL\n"
            "                        (default empty: no grants, one role for all)\n");
}

/* 'ecm-gateway migrate': applies the pending migrations of ECM_PG_DSN
 * (advisory-locked, forward-only), grants ECM_MIGRATE_APP_ROLE when set, and
 * exits 0 when both are done: the Kubernetes Job and compose's one-shot
 * "migrate" run it before the services, which then run with
 * ECM_MIGRATE=false as the application role. */
static int migrate_command(int argc, char **argv)
{
    if (argc == 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        migrate_usage(stdout);
        return 0;
    }
    if (argc != 2) {
        migrate_usage(stderr);
        return 2;
    }
    const char *dsn = getenv("ECM_PG_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr, "ecm-gateway migrate: ECM_PG_DSN: required but not set\n");
        return 2;
    }
    const char *role = getenv("ECM_MIGRATE_APP_ROLE");
    char err[160];
    if (role && *role && !ecm_migrate_role_valid(role, err, sizeof err)) {
        fprintf(stderr, "ecm-gateway migrate: ECM_MIGRATE_APP_ROLE: %s\n", err);
        return 2;
    }
    ecm_log_init("gateway", ECM_LOG_INFO);
    static volatile sig_atomic_t no_stop = 0;
    ecm_pg *pg = ecm_pg_new(dsn, &no_stop);
    PGconn *conn = pg ? ecm_pg_try_conn(pg) : NULL;
    int rc = conn && ecm_migrate_apply(conn, ecm_migrations, ecm_migrations_count) >= 0 ? 0 : 1;
    if (rc != 0) {
        fprintf(stderr, "ecm-gateway migrate: the database of ECM_PG_DSN is not reachable or its "
                        "migrations did not apply\n");
    } else if (role && *role && ecm_migrate_grant(conn, role) != 0) {
        fprintf(stderr,
                "ecm-gateway migrate: ECM_MIGRATE_APP_ROLE: the grants to %s failed (does "
                "the role exist?)\n",
                role);
        rc = 1;
    }
    ecm_pg_destroy(pg);
    return rc;
}

/* The console's sessions and passwords from cfg (gw_session_configure),
 * and the trusted proxies (gw_client_configure).
 * Returns 0, or -1 (logged) when libsodium refuses the cost. */
static int configure_sessions(const gateway_config *cfg)
{
    const gw_session_settings session = {
        .opslimit = (unsigned long long)cfg->password_opslimit,
        .memlimit = (size_t)cfg->password_memlimit,
        .max_failures = (int)cfg->login_max_failures,
        .lock_s = cfg->login_lock_s,
        .addr_max_failures = (int)cfg->login_addr_max_failures,
        .addr_window_s = cfg->login_addr_window_s,
        .idle_s = cfg->session_idle_s,
        .max_s = cfg->session_max_s,
        .cookie_secure = cfg->cookie_secure,
    };
    if (gw_session_configure(&session) != 0) {
        ecm_log_error("gateway start failed", "ECM_GATEWAY_PASSWORD_*: libsodium refused the cost");
        return -1;
    }
    char err[160];
    if (gw_client_configure(cfg->trusted_proxies, err, sizeof err) != 0) {
        ecm_log_error("gateway start failed", "ECM_GATEWAY_TRUSTED_PROXIES: %s", err);
        return -1;
    }
    return 0;
}

/* Every module's routes on h, then the API's guard. Returns 0, or -1
 * (logged) when a module's routes could not be added. */
static int add_routes(ecm_http *h, const gw_app *app)
{
    for (size_t i = 0; i < sizeof(route_modules) / sizeof(route_modules[0]); i++) {
        if (route_modules[i](h, app) != 0) {
            ecm_log_error("gateway start failed", "HTTP routes not added (module %zu)", i);
            return -1;
        }
    }
    gw_auth_install(h, app);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "keys") == 0) {
        return keys_command(argc, argv);
    }
    if (argc > 1 && strcmp(argv[1], "users") == 0) {
        return users_command(argc, argv);
    }
    if (argc > 1 && strcmp(argv[1], "migrate") == 0) {
        return migrate_command(argc, argv);
    }
    /* An upload's batches allocate and free buffers of megabytes from
     * several threads. glibc raises its mmap threshold to the size of each
     * mapped block freed, so that from the second batch on those buffers
     * come from the heap arenas, where freed space stays resident and
     * fragments; a fixed threshold keeps big blocks mapped and gives them
     * back at free (the gateway's peak RSS, docs/performance.md). */
    (void)mallopt(M_MMAP_THRESHOLD, GW_MMAP_THRESHOLD);
    gateway_config cfg = {0};
    const size_t n = sizeof(config_table) / sizeof(config_table[0]);
    ecm_service_configure(
        argc, argv, "ecm-gateway",
        "ECM REST gateway and the supervisor's console: campaigns, strategies, contact uploads and "
        "the DNC lists. Also: 'ecm-gateway migrate' (apply the migrations, grant the services' "
        "role "
        "ECM_MIGRATE_APP_ROLE when set, and exit; 'ecm-gateway migrate --help'), "
        "'ecm-gateway keys ...', 'ecm-gateway users ...'",
        config_table, n, &cfg);
    ecm_service svc;
    if (ecm_service_init(&svc, "gateway", &cfg.common) != 0) {
        ecm_config_destroy(config_table, n, &cfg);
        return 1;
    }
    ecm_config_log(config_table, n, &cfg);
    /* The gateway's events go through the outbox in PostgreSQL: it serves the
     * API during a Kafka outage (the relay catches up after). */
    ecm_service_ready_without_producer(&svc);
    int rc = 1;
    ecm_pg_pool *pool = ecm_service_pg_pool_new(&svc, (int)cfg.pg_pool_size);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cfg.upload_threads > 0 ? (int)cfg.upload_threads : cpus > 2 ? (int)cpus : 2;
    gw_upload_limits *upload_limits = gw_upload_limits_new((int)cfg.max_uploads, threads);
    /* A second loader an upload for the connections left once each upload
     * has one and the API keeps two (8 and 4 by default: two uploads may
     * load two batches at once). */
    gw_upload_limits_set_loaders(upload_limits, (int)cfg.pg_pool_size - (int)cfg.max_uploads - 2);
    gw_upload_lease *upload_lease = gw_upload_lease_new((int)cfg.upload_lease_s);
    if (!pool || !upload_limits || !upload_lease) {
        ecm_log_error("gateway start failed", "could not create the DB pool");
        goto out;
    }
    ecm_legal_hours legal;
    char err[160];
    if (ecm_calling_legal_parse(cfg.legal_hours, &legal, err, sizeof(err)) != 0) {
        /* The table's validator accepted it already; kept for the contract. */
        ecm_log_error("gateway start failed", "ECM_LEGAL_HOURS: %s", err);
        goto out;
    }
    if (configure_sessions(&cfg) != 0) {
        goto out;
    }
    const gw_app app = {
        .pool = pool,
        .source = svc.source,
        .topic_campaigns = cfg.common.topic_campaigns,
        .topic_uploaded = cfg.common.topic_uploaded,
        .topic_closed = cfg.common.topic_closed,
        .default_region = cfg.default_region,
        .legal = &legal,
        .upload_batch = (size_t)cfg.upload_batch,
        .upload_threads = (int)cfg.upload_threads,
        .upload_max_record = (size_t)cfg.upload_max_record,
        .upload_max_bytes = (size_t)cfg.upload_max_bytes,
        .upload_limits = upload_limits,
        .upload_lease = upload_lease,
        .topic_uploads = cfg.topic_uploads,
        .topic_recycled = cfg.topic_recycled,
        .voice_margin_ms = cfg.voice_margin_s > 0 ? cfg.voice_margin_s * 1000 : -1,
        .web_dir = cfg.web_dir[0] ? cfg.web_dir : NULL,
    };
    ecm_log_info("gateway upload owner", "owner=%s lease_s=%lld sweep_s=%lld",
                 gw_upload_lease_owner(upload_lease), cfg.upload_lease_s, cfg.upload_sweep_s);
    if (add_routes(svc.http, &app) != 0 || ecm_service_start_http(&svc) != 0) {
        goto out;
    }
    int64_t next_renew = 0, next_sweep = 0; /* both at start */
    while (!ecm_stop_requested) {
        upload_chores(&app, ecm_clock_mono_ms(), cfg.upload_lease_s * 1000,
                      cfg.upload_sweep_s * 1000, &next_renew, &next_sweep);
        ecm_service_sleep_ms(1000);
    }
    rc = 0;
out:
    /* HTTP goes down first, so no handler still holds a pool handle. */
    ecm_service_shutdown(&svc);
    ecm_pg_pool_destroy(pool);
    gw_upload_limits_destroy(upload_limits);
    gw_upload_lease_destroy(upload_lease);
    ecm_config_destroy(config_table, n, &cfg);
    return rc;
}

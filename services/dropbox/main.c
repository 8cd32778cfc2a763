/* ecm-dropbox: contact files dropped into a folder are uploaded to their
 * campaign through the gateway's API, exactly once, then archived (or moved
 * to the failed folder with the reason). Wiring only; the work is in
 * dbx_drop.c (scan, claim, upload, move). */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "dbx_api.h"
#include "dbx_drop.h"
#include "ecm_clock.h"
#include "ecm_config.h"
#include "ecm_log.h"
#include "ecm_service.h"
#include "ecm_uuid.h"

/* The wait before the next scan after a transient fault (gateway busy or
 * down, database): longer than ECM_DROP_SCAN_MS, so a folder of files does
 * not hammer a gateway that answers 429/503. */
#define DBX_FAULT_WAIT_MS 2000

typedef struct {
    ecm_common_config common;
    char *dir;
    char *archive_dir;
    char *failed_dir;
    char *api_url;
    char *api_key;
    char *api_key_file;
    long long settle_s;
    long long scan_ms;
    long long lease_s;
    long long max_bytes;
    long long idle_s;
} dbx_config;

static const ecm_cfg_entry dbx_config_table[] = {
    ECM_COMMON_CONFIG_ENTRIES(dbx_config, common, "8086", "64"),
    {"ECM_DROP_DIR", ECM_CFG_STRING, offsetof(dbx_config, dir), NULL, 0, -1,
     "the drop folder: <campaign id>/<file>, or <campaign id>_<anything> at the top", NULL, 0},
    {"ECM_DROP_ARCHIVE_DIR", ECM_CFG_STRING, offsetof(dbx_config, archive_dir), "", 0, -1,
     "where uploaded files go, renamed <upload id>_<name> (empty: $ECM_DROP_DIR/archive)", NULL, 0},
    {"ECM_DROP_FAILED_DIR", ECM_CFG_STRING, offsetof(dbx_config, failed_dir), "", 0, -1,
     "where files that could not be uploaded go, with <name>.reason.txt (empty: "
     "$ECM_DROP_DIR/failed)",
     NULL, 0},
    {"ECM_DROP_API_URL", ECM_CFG_STRING, offsetof(dbx_config, api_url), "http://127.0.0.1:8080", 0,
     -1, "the gateway's base URL", ecm_config_check_url, 0},
    {"ECM_DROP_API_KEY", ECM_CFG_STRING, offsetof(dbx_config, api_key), "", 0, -1,
     "API key (role supervisor) the uploads are made with; or ECM_DROP_API_KEY_FILE", NULL, 1},
    {"ECM_DROP_API_KEY_FILE", ECM_CFG_STRING, offsetof(dbx_config, api_key_file), "", 0, -1,
     "file whose first line is the API key (a mounted secret); wins over ECM_DROP_API_KEY", NULL,
     0},
    {"ECM_DROP_SETTLE_S", ECM_CFG_INT, offsetof(dbx_config, settle_s), "10", 0, 86400,
     "a file is complete once its size and modification time stay the same this long "
     "(0: at once, trusting writers to rename finished files into place)",
     NULL, 0},
    {"ECM_DROP_SCAN_MS", ECM_CFG_INT, offsetof(dbx_config, scan_ms), "2000", 50, 3600000,
     "wait between scans of the folder (polling: inotify misses other NFS/SMB clients' writes)",
     NULL, 0},
    {"ECM_DROP_LEASE_S", ECM_CFG_INT, offsetof(dbx_config, lease_s), "60", 3, 3600,
     "a claimed file's lease, renewed while it streams; another replica takes a file over only "
     "after it",
     NULL, 0},
    {"ECM_DROP_MAX_BYTES", ECM_CFG_INT, offsetof(dbx_config, max_bytes), "2147483648", 1024,
     1099511627776LL,
     "the gateway's ECM_GATEWAY_UPLOAD_MAX_BYTES: a bigger file fails at once, unread", NULL, 0},
    {"ECM_DROP_HTTP_IDLE_S", ECM_CFG_INT, offsetof(dbx_config, idle_s), "300", 5, 86400,
     "a transfer to the gateway that moves no byte this long is cut (and resumed later)", NULL, 0},
};
#define DBX_CONFIG_N (sizeof(dbx_config_table) / sizeof(dbx_config_table[0]))

/* Reads the first line of path into a malloc'd string (*key). Returns 0, or
 * -1 with why. */
static int read_key_file(const char *path, char **key, char *why, size_t why_size)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        char text[128];
        if (strerror_r(errno, text, sizeof(text)) != 0) {
            (void)snprintf(text, sizeof(text), "error %d", errno);
        }
        (void)snprintf(why, why_size, "cannot read %s: %s", path, text); /* trunc-ok: message */
        return -1;
    }
    char line[1024];
    int got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    line[got ? strcspn(line, "\r\n") : 0] = '\0';
    if (!got || !line[0]) {
        (void)snprintf(why, why_size, "%s has no key on its first line", path); /* trunc-ok */
        return -1;
    }
    *key = strdup(line);
    memset(line, 0, sizeof(line));
    if (!*key) {
        (void)snprintf(why, why_size, "out of memory");
        return -1;
    }
    return 0;
}

/* The key from ECM_DROP_API_KEY_FILE or ECM_DROP_API_KEY, and the folder
 * defaults; a bad one stops the start like a bad variable (exit 2). */
static void finish_config(dbx_config *cfg)
{
    char why[600];
    if (cfg->api_key_file[0]) {
        free(cfg->api_key);
        cfg->api_key = NULL;
        if (read_key_file(cfg->api_key_file, &cfg->api_key, why, sizeof(why)) != 0) {
            fprintf(stderr, "ecm-dropbox: ECM_DROP_API_KEY_FILE: %s\n", why);
            exit(2);
        }
    } else if (!cfg->api_key[0]) {
        fprintf(stderr, "ecm-dropbox: ECM_DROP_API_KEY: required (or ECM_DROP_API_KEY_FILE): "
                        "a supervisor's API key\n");
        exit(2);
    }
    char path[PATH_MAX];
    const char *names[2] = {"archive", "failed"};
    char **dirs[2] = {&cfg->archive_dir, &cfg->failed_dir};
    for (int i = 0; i < 2; i++) {
        if ((*dirs[i])[0]) {
            continue;
        }
        if (snprintf(path, sizeof(path), "%s/%s", cfg->dir, names[i]) >= (int)sizeof(path)) {
            fprintf(stderr, "ecm-dropbox: ECM_DROP_DIR: path too long\n");
            exit(2);
        }
        free(*dirs[i]);
        *dirs[i] = strdup(path);
        if (!*dirs[i]) {
            fprintf(stderr, "ecm-dropbox: out of memory\n");
            exit(2);
        }
    }
    if (access(cfg->dir, R_OK | W_OK | X_OK) != 0) {
        fprintf(stderr,
                "ecm-dropbox: ECM_DROP_DIR: '%s' is not a folder this process may read "
                "and write\n",
                cfg->dir);
        exit(2);
    }
}

/* The scan loop, until a stop is asked for. */
static void run(dbx_drop *drop, long long scan_ms)
{
    while (!ecm_stop_requested) {
        int rc = dbx_drop_scan(drop, ecm_clock_mono_ms());
        long wait = (long)scan_ms;
        if (rc != 0 && wait < DBX_FAULT_WAIT_MS) {
            wait = DBX_FAULT_WAIT_MS;
        }
        ecm_service_sleep_ms(wait);
    }
}

int main(int argc, char **argv)
{
    dbx_config cfg = {0};
    ecm_service_configure(argc, argv, "ecm-dropbox",
                          "uploads contact files dropped into a folder, once each, and archives "
                          "them",
                          dbx_config_table, DBX_CONFIG_N, &cfg);
    finish_config(&cfg);
    /* Before any thread: curl_global_init is not thread-safe. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "ecm-dropbox: libcurl did not initialise\n");
        ecm_config_destroy(dbx_config_table, DBX_CONFIG_N, &cfg);
        return 1;
    }
    ecm_service svc;
    if (ecm_service_init(&svc, "dropbox", &cfg.common) != 0) {
        curl_global_cleanup();
        ecm_config_destroy(dbx_config_table, DBX_CONFIG_N, &cfg);
        return 1;
    }
    int rc = 1;
    char uuid[ECM_UUID_LEN], host[128] = "?", owner[ECM_UUID_LEN + 160];
    ecm_uuid_new(uuid);
    (void)gethostname(host, sizeof(host) - 1);
    (void)snprintf(owner, sizeof(owner), "%s %s:%ld", uuid, host, (long)getpid()); /* trunc-ok */
    dbx_api *api = dbx_api_new(cfg.api_url, cfg.api_key, (long)cfg.idle_s);
    const dbx_drop_config dc = {
        .dir = cfg.dir,
        .archive_dir = cfg.archive_dir,
        .failed_dir = cfg.failed_dir,
        .api_url = cfg.api_url,
        .owner = owner,
        .lease_s = (int)cfg.lease_s,
        .settle_ms = cfg.settle_s * 1000,
        .max_bytes = cfg.max_bytes,
        .metrics = svc.metrics,
        .stop = &ecm_stop_requested,
    };
    dbx_drop *drop = api ? dbx_drop_new(&dc, svc.pg, api) : NULL;
    if (!drop) {
        ecm_log_error("out of memory", NULL);
        goto out;
    }
    if (ecm_service_start_http(&svc) != 0) {
        goto out;
    }
    ecm_log_info("dropbox running", "folder %s, archive %s, failed %s, gateway %s, owner %s",
                 cfg.dir, cfg.archive_dir, cfg.failed_dir, cfg.api_url, owner);
    run(drop, cfg.scan_ms);
    rc = 0;
out:
    dbx_drop_destroy(drop);
    dbx_api_destroy(api);
    ecm_service_shutdown(&svc);
    curl_global_cleanup();
    ecm_config_destroy(dbx_config_table, DBX_CONFIG_N, &cfg);
    return rc;
}

/* The personal callback writer (fd_pcb.h): splits batches between Cisco's
 * personal callback interface and the wrapped import writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_log.h"
#include "fd_pcb.h"
#include "fd_ucce.h"

#define PCB_TABLE "Personal_Callback_List"
#define PCB_PATH "/unifiedconfig/config/personalcallback"
#define PCB_NCOLS 9
#define ZONE_MAX 128

static const char PCB_INSERT_SQL[] =
    "INSERT INTO " PCB_TABLE " (CampaignID, AgentID, Phone, AccountNumber, MaxAttempts,"
    " CallbackDateTime, CallStatus, FirstName, LastName, InsertedIntoDBDateTime)"
    " VALUES (?, ?, ?, ?, ?, ?, 'P', ?, ?, ?)";

typedef struct {
    fd_writer *inner;
    fd_pcb_mode mode;
    char zone[ZONE_MAX];
    int max_attempts;
    char max_text[16];
    fd_uccx *http;
    ecm_odbc *logger;
    fd_answering answering; /* table mode's statements */
} pcb_writer;

/* One personal callback being written: the cleaned record and its fields. */
typedef struct {
    fd_ucce_record u;
    fd_pcb_record r;
} pcb_item;

static fd_uccx_status done(fd_uccx_result *res, fd_uccx_status st, int settled, const char *detail)
{
    if (res) {
        *res = (fd_uccx_result){.settled = settled};
        snprintf(res->detail, sizeof res->detail, "%s", detail);
    }
    return st;
}

static int is_pcb(const fd_contact *c)
{
    return c->pcb_agent && c->pcb_agent[0];
}

/* c as Cisco takes it, at business time now. Returns 0, or -1 when it can't
 * be written (account or phone out of Cisco's limits, or the zone). */
static int item_of(const pcb_writer *w, const fd_target *t, const fd_contact *c, int64_t now,
                   pcb_item *it)
{
    if (fd_ucce_record_make(c, now, &it->u) < 0)
        return -1;
    it->r = (fd_pcb_record){.campaign_id = t->cisco_id,
                            .agent = c->pcb_agent,
                            .phone = it->u.phone,
                            .account = it->u.account,
                            .first_name = it->u.first_name,
                            .last_name = it->u.last_name,
                            .max_attempts = w->max_attempts};
    return fd_pcb_logger_time(fd_pcb_callback_ms(c->pcb_at_ms, now), w->zone, it->r.callback);
}

/* Table mode: one INSERT with parameter arrays for the n items. */
static fd_uccx_status post_table(pcb_writer *w, const pcb_item *it, size_t n, int64_t now,
                                 fd_uccx_result *res)
{
    char inserted[FD_PCB_TIME_LEN + 1];
    if (!w->logger || fd_pcb_logger_time(now, w->zone, inserted) < 0)
        return done(res, FD_UCCX_FAILED, 1, "no Logger connection or zone");
    const char **v[PCB_NCOLS];
    int ok = 1;
    for (int p = 0; p < PCB_NCOLS; p++)
        ok = (v[p] = calloc(n, sizeof *v[p])) != NULL && ok;
    for (size_t i = 0; ok && i < n; i++) {
        const fd_pcb_record *r = &it[i].r;
        v[0][i] = r->campaign_id;
        v[1][i] = r->agent;
        v[2][i] = r->phone;
        v[3][i] = r->account;
        v[4][i] = w->max_text;
        v[5][i] = r->callback;
        v[6][i] = r->first_name[0] ? r->first_name : NULL;
        v[7][i] = r->last_name[0] ? r->last_name : NULL;
        v[8][i] = inserted;
    }
    int rc = ok ? ecm_odbc_exec_array(w->logger, PCB_INSERT_SQL, (const char *const *const *)v,
                                      PCB_NCOLS, n)
                : -2;
    for (int p = 0; p < PCB_NCOLS; p++)
        free(v[p]);
    if (rc == -2)
        return done(res, FD_UCCX_FAILED, 1, "out of memory");
    fd_answering_note(&w->answering, rc == 0);
    /* A failed commit may have landed: not settled. */
    return rc == 0 ? done(res, FD_UCCX_OK, 1, "")
                   : done(res, FD_UCCX_UNAVAILABLE, 0, "Personal_Callback_List insert failed");
}

/* API mode: one POST per callback (Cisco's single create), stopping at the
 * first that is not taken. */
static fd_uccx_status post_api(pcb_writer *w, const pcb_item *it, size_t n, fd_uccx_result *res)
{
    fd_uccx_status st = FD_UCCX_OK;
    for (size_t i = 0; i < n && st == FD_UCCX_OK; i++) {
        size_t len = 0;
        char *body = fd_pcb_build_body(&it[i].r, &len);
        if (!body)
            return done(res, FD_UCCX_FAILED, 1, "could not build the personal callback body");
        st = fd_uccx_post_body(w->http, PCB_PATH, body, len, res);
        free(body);
        if (st == FD_UCCX_REJECTED)
            ecm_log_error("personal callback refused", "account_number=%s detail=%s",
                          it[i].r.account, res ? res->detail : "");
    }
    return st;
}

/* The personal callbacks of c[0..n) (those is_pcb()). */
static fd_uccx_status post_pcbs(pcb_writer *w, const fd_target *t, const fd_contact *c, size_t n,
                                fd_uccx_result *res)
{
    pcb_item *it = calloc(n, sizeof *it);
    if (!it)
        return done(res, FD_UCCX_FAILED, 1, "out of memory");
    int64_t now = ecm_clock_now_ms();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_pcb(&c[i]))
            continue;
        if (item_of(w, t, &c[i], now, &it[m]) < 0) {
            ecm_log_error("personal callback Cisco can't take; batch refused", "account_number=%s",
                          c[i].account_number ? c[i].account_number : "");
            free(it);
            return done(res, FD_UCCX_REJECTED, 1, "a personal callback Cisco can't take");
        }
        m++;
    }
    fd_uccx_status st =
        w->mode == FD_PCB_TABLE ? post_table(w, it, m, now, res) : post_api(w, it, m, res);
    if (st == FD_UCCX_OK)
        ecm_log_info("personal callbacks written", "target_kind=%s campaign_id=%s n=%zu via=%s",
                     fd_kind_name(fd_writer_kind(w->inner)), t->cisco_id, m,
                     w->mode == FD_PCB_TABLE ? "table" : "api");
    free(it);
    return st;
}

/* How bad st is: ok 0, failed 1, rejected 2, unavailable 3. */
static int status_rank(fd_uccx_status st)
{
    switch (st) {
    case FD_UCCX_OK:
        return 0;
    case FD_UCCX_FAILED:
        return 1;
    case FD_UCCX_REJECTED:
        return 2;
    default:
        return 3;
    }
}

/* The worse of two outcomes: unavailable (settled only when both are) over
 * rejected over failed over ok. */
static fd_uccx_status worse(fd_uccx_status a, const fd_uccx_result *ra, fd_uccx_status b,
                            const fd_uccx_result *rb, fd_uccx_result *res)
{
    int wa = status_rank(a), wb = status_rank(b);
    fd_uccx_status st = wb > wa ? b : a;
    if (res) {
        *res = wb > wa ? *rb : *ra;
        if (a == FD_UCCX_UNAVAILABLE && b == FD_UCCX_UNAVAILABLE)
            res->settled = ra->settled && rb->settled;
    }
    return st;
}

static fd_uccx_status pcb_post(void *impl, const fd_target *t, const fd_contact *c, size_t n,
                               fd_uccx_result *res)
{
    pcb_writer *w = impl;
    size_t npcb = 0;
    for (size_t i = 0; i < n; i++)
        npcb += is_pcb(&c[i]) ? 1 : 0;
    fd_uccx_result ri = {.settled = 1}, rp = {.settled = 1};
    fd_uccx_status si = FD_UCCX_OK, sp = FD_UCCX_OK;
    if (npcb < n) {
        fd_contact *others = calloc(n - npcb, sizeof *others);
        if (!others)
            return done(res, FD_UCCX_FAILED, 1, "out of memory");
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!is_pcb(&c[i]))
                others[m++] = c[i];
        si = fd_writer_post(w->inner, t, others, m, &ri);
        free(others);
    }
    if (npcb > 0)
        sp = post_pcbs(w, t, c, n, &rp);
    return worse(si, &ri, sp, &rp, res);
}

/* The personal callback side of find: Personal_Callback_List (table) or the
 * API's list searched by accountNumber, for the accounts not yet present. */
static fd_uccx_status find_pcbs(pcb_writer *w, const char *const *accounts, size_t n, int *present,
                                fd_uccx_result *res)
{
    if (w->logger && w->mode == FD_PCB_TABLE) {
        if (fd_lookup_odbc(w->logger, PCB_TABLE, "AccountNumber", NULL, NULL, accounts, n,
                           present) < 0)
            return done(res, FD_UCCX_UNAVAILABLE, 1, "Personal_Callback_List could not be read");
        return FD_UCCX_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (present[i] || strspn(accounts[i], "0123456789-") != strlen(accounts[i]))
            continue; /* ECM's account numbers need no escaping */
        char path[128];
        int len = snprintf(path, sizeof path, "%s?q=accountNumber:%s", PCB_PATH, accounts[i]);
        if (len < 0 || (size_t)len >= sizeof path)
            return done(res, FD_UCCX_FAILED, 1, "account number too long");
        fd_uccx_list *list = NULL;
        fd_uccx_status st = fd_uccx_get_list(w->http, path, &list, res);
        if (st != FD_UCCX_OK)
            return st;
        /* Cisco's search is "contains": only the exact account counts. */
        present[i] = fd_uccx_list_contains(list, accounts[i]);
        fd_uccx_list_destroy(list);
    }
    return FD_UCCX_OK;
}

static fd_uccx_status pcb_find(void *impl, const fd_target *t, const char *const *accounts,
                               size_t n, int *present, fd_uccx_result *res)
{
    pcb_writer *w = impl;
    fd_uccx_status st = fd_writer_find(w->inner, t, accounts, n, present, res);
    return st == FD_UCCX_OK ? find_pcbs(w, accounts, n, present, res) : st;
}

static fd_uccx_status pcb_withdraw(void *impl, const fd_target *t, const char *const *accounts,
                                   size_t n, int whole, int *withdrew, fd_uccx_result *res)
{
    /* A personal callback is not withdrawn: Cisco allows no delete of a
     * record the dialer may be working on; find() then keeps it 'sent'. */
    pcb_writer *w = impl;
    return fd_writer_withdraw(w->inner, t, accounts, n, whole, withdrew, res);
}

static long long pcb_answering_ms(const void *impl)
{
    const pcb_writer *w = impl;
    long long a = fd_writer_answering_ms(w->inner);
    long long b =
        w->mode == FD_PCB_API ? fd_uccx_answering_ms(w->http) : fd_answering_ms(&w->answering);
    return a < b ? a : b;
}

static void pcb_destroy(void *impl)
{
    pcb_writer *w = impl;
    if (!w)
        return;
    fd_writer_destroy(w->inner);
    fd_uccx_destroy(w->http);
    ecm_odbc_destroy(w->logger);
    free(w);
}

static const fd_writer_ops PCB_OPS = {
    .post = pcb_post,
    .find = pcb_find,
    .withdraw = pcb_withdraw,
    .answering_ms = pcb_answering_ms,
    .destroy = pcb_destroy,
};

fd_writer *fd_pcb_writer_new(fd_writer *inner, const fd_pcb_config *cfg, fd_uccx *http,
                             ecm_odbc *logger)
{
    char err[128];
    pcb_writer *w = calloc(1, sizeof *w);
    int bad = !w || !inner || !cfg || cfg->max_attempts < 1 ||
              fd_pcb_validate_zone(cfg->logger_zone, err, sizeof err) != 0 ||
              (cfg->mode == FD_PCB_API && !http) || (cfg->mode == FD_PCB_TABLE && !logger);
    if (bad) {
        fd_writer_destroy(inner);
        fd_uccx_destroy(http);
        ecm_odbc_destroy(logger);
        free(w);
        return NULL;
    }
    w->inner = inner;
    w->mode = cfg->mode;
    snprintf(w->zone, sizeof w->zone, "%s", cfg->logger_zone);
    w->max_attempts = cfg->max_attempts;
    snprintf(w->max_text, sizeof w->max_text, "%d", cfg->max_attempts);
    w->http = http;
    w->logger = logger;
    return fd_writer_new(fd_writer_kind(inner), &PCB_OPS, w);
}

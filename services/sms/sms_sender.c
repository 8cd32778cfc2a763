#include "sms_sender.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_clock.h"
#include "ecm_event.h"
#include "ecm_gate.h"
#include "ecm_log.h"
#include "ecm_outbox.h"
#include "ecm_sms_text.h"
#include "sms_bucket.h"
#include "ecm_pgval.h"

#define BACKOFF_MIN_MS 200
#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 5000
#define MESSAGE_ID_MAX 64
#define ACCOUNT_MAX 32
#define SMS_REFILL_MS 20
#define SMS_REFILL_MAX_DONE 256

/* ---- state ---- */

typedef enum { ITEM_CONTACT, ITEM_SYSTEM } item_kind;

typedef struct lane lane;

/* One message this process holds: waiting for its turn, in flight, or
 * answered and not yet recorded. Its attempt is 'sending' in the DB the
 * whole time, under this process's lease. */
typedef struct item {
    struct item *next;                /* in a lane's waiting list or the done list */
    struct item *all_prev, *all_next; /* every held item (lease renewal) */
    item_kind kind;
    lane *lane;
    int64_t contact_id, campaign_id, system_id;
    int attempt;
    int segments;
    ecm_sms_encoding encoding;
    char message_id[MESSAGE_ID_MAX];
    char *phone, *from, *text;
    int tries;
    /* Before the next send (after a retry, or recovered): judged again,
     * since the number may have opted out, the calling window closed or the
     * campaign been paused meanwhile. */
    int recheck;
    sms_gw_result res;
} item;

struct lane {
    sms_sender *owner;
    sms_gw *gw;
    const char *name;
    sms_bucket bucket;
    int64_t paused_until_ms;
    long backoff_ms;
    item *wait_head, *wait_tail;
    size_t nwait;
    size_t hold; /* messages to keep ready */
    size_t rr;   /* campaign to start with next time (fairness) */
    ecm_metric *sent;
};

struct sms_sender {
    ecm_pg *pg;
    sms_sender_config cfg;
    lane lanes[SMS_SENDER_MAX_GATEWAYS];
    size_t nlanes;
    lane *system_lane;
    item *done_head, *done_tail;
    size_t ndone;
    item *all;
    size_t nall;
    int64_t next_lease_ms, next_recover_ms;
    int draining;
    ecm_metric *rejected, *inflight, *recovered, *dnc_blocked, *render_failed;
    ecm_gate *gate;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static item *item_new(sms_sender *s, item_kind kind, lane *ln)
{
    item *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->kind = kind;
    it->lane = ln;
    it->all_next = s->all;
    if (s->all)
        s->all->all_prev = it;
    s->all = it;
    s->nall++;
    return it;
}

static void item_free(sms_sender *s, item *it)
{
    if (it->all_prev)
        it->all_prev->all_next = it->all_next;
    else
        s->all = it->all_next;
    if (it->all_next)
        it->all_next->all_prev = it->all_prev;
    s->nall--;
    free(it->phone);
    free(it->from);
    free(it->text);
    free(it);
}

static void wait_push_back(lane *ln, item *it)
{
    it->next = NULL;
    if (ln->wait_tail)
        ln->wait_tail->next = it;
    else
        ln->wait_head = it;
    ln->wait_tail = it;
    ln->nwait++;
}

static void wait_push_front(lane *ln, item *it)
{
    it->next = ln->wait_head;
    ln->wait_head = it;
    if (!ln->wait_tail)
        ln->wait_tail = it;
    ln->nwait++;
}

static item *wait_pop(lane *ln)
{
    item *it = ln->wait_head;
    if (!it)
        return NULL;
    ln->wait_head = it->next;
    if (!ln->wait_head)
        ln->wait_tail = NULL;
    ln->nwait--;
    it->next = NULL;
    return it;
}

static void done_push(sms_sender *s, item *it)
{
    it->next = NULL;
    if (s->done_tail)
        s->done_tail->next = it;
    else
        s->done_head = it;
    s->done_tail = it;
    s->ndone++;
}

static lane *lane_by_name(sms_sender *s, const char *name)
{
    for (size_t i = 0; i < s->nlanes; i++) {
        if (name && strcmp(s->lanes[i].name, name) == 0)
            return &s->lanes[i];
    }
    return NULL;
}

static int total_inflight(const sms_sender *s)
{
    int n = 0;
    for (size_t i = 0; i < s->nlanes; i++)
        n += sms_gw_inflight(s->lanes[i].gw);
    return n;
}

/* ---- answers ---- */

static void count_retry(sms_sender *s, const char *reason)
{
    if (!s->cfg.ctx->metrics)
        return;
    char name[128];
    snprintf(name, sizeof name, "ecm_sms_retries_total{reason=\"%s\"}", reason ? reason : "other");
    ecm_metric_add(ecm_metrics_counter(s->cfg.ctx->metrics, name,
                                       "sends to be retried (same attempt, same message id)"),
                   1);
}

/* Called by the gateway for each answered request. A retryable failure
 * puts the message first in line again and pauses the whole gateway: the
 * failure is almost always the gateway's state, not the message's. */
static void on_done(void *ctx, void *opaque, const sms_gw_result *res)
{
    lane *ln = ctx;
    sms_sender *s = ln->owner;
    item *it = opaque;
    int64_t now = now_ms();
    if (res->verdict == SMS_GW_RETRY) {
        /* Failures of requests sent before the pause began don't escalate it. */
        if (now >= ln->paused_until_ms) {
            ln->backoff_ms = ln->backoff_ms ? ln->backoff_ms * 2 : BACKOFF_MIN_MS;
            if (ln->backoff_ms > s->cfg.backoff_max_ms)
                ln->backoff_ms = s->cfg.backoff_max_ms;
            ln->paused_until_ms = now + ln->backoff_ms;
            ecm_log_warn("SMS gateway asked us to retry; backing off",
                         "gateway=%s status=%ld reason=%s backoff_ms=%ld detail=%s", ln->name,
                         res->http_status, res->reason ? res->reason : "", ln->backoff_ms,
                         res->detail);
        }
        count_retry(s, res->reason);
        it->tries++;
        it->recheck = it->kind == ITEM_CONTACT;
        wait_push_front(ln, it);
        return;
    }
    ln->backoff_ms = 0;
    it->res = *res;
    done_push(s, it);
}

/* ---- events ---- */

static int add_closed(sms_sender *s, int64_t campaign_id, int64_t contact_id, int attempts,
                      Ecm__V1__Outcome outcome)
{
    char id[ECM_UUID_LEN], key[24];
    ecm_uuid_new(id);
    snprintf(key, sizeof key, "%lld", (long long)contact_id);
    Ecm__V1__ContactClosed ev = ECM__V1__CONTACT_CLOSED__INIT;
    ev.event_id = id;
    ev.occurred_at = ecm_now_ms();
    ev.campaign_id = campaign_id;
    ev.contact_id = contact_id;
    ev.attempts = attempts;
    ev.outcome = outcome;
    return ecm_outbox_add(s->pg, s->cfg.ctx->common->topic_closed, key, s->cfg.ctx->source, id,
                          ev.occurred_at, &ev.base);
}

/* ---- recording answers ---- */

/* A final DLR can come (and close the attempt) before this commit; the
 * attempt then stays 'done' but still gets its sent_at and its one
 * ContactDispatched event. */
static const char MARK_SENT_SQL[] =
    "UPDATE attempts a SET status = CASE WHEN a.status = 'sending' THEN 'sent' ELSE a.status END, "
    "sent_at = now(), gateway_ref = r.ref "
    "FROM unnest($1::text[], $2::text[]) AS r (message_id, ref) "
    "WHERE a.message_id = r.message_id AND a.sent_at IS NULL "
    "AND a.status IN ('sending', 'done') "
    "RETURNING a.contact_id, a.attempt, a.campaign_id, a.phone, a.account_number, a.target";

/* The outcome is left to the strategy, which records it when it applies
 * the SmsResult (it takes an attempt with an outcome for a duplicate). */
static const char MARK_REJECTED_SQL[] =
    "UPDATE attempts a SET status = 'done', result_at = now(), raw_code = r.code "
    "FROM unnest($1::text[], $2::int[]) AS r (message_id, code) "
    "WHERE a.message_id = r.message_id AND a.status = 'sending' "
    "RETURNING a.contact_id, a.attempt, a.campaign_id, a.message_id, a.segments";

static const char SYSTEM_DONE_SQL[] =
    "UPDATE sms_system_messages m SET state = r.state, sent_at = now() "
    "FROM unnest($1::text[], $2::text[]) AS r (message_id, state) "
    "WHERE m.message_id = r.message_id AND m.state = 'sending'";

static const char *detail_for(const sms_sender *s, const char *message_id)
{
    for (const item *it = s->done_head; it; it = it->next) {
        if (strcmp(it->message_id, message_id) == 0)
            return it->res.detail;
    }
    return "";
}

static int long_of(const sms_sender *s, const char *message_id)
{
    for (const item *it = s->done_head; it; it = it->next) {
        if (strcmp(it->message_id, message_id) == 0)
            return (int)it->res.http_status;
    }
    return 0;
}

/* Records every answered message in one transaction. Returns the number
 * recorded, or -1 (rolled back; they stay in the done list and are
 * recorded on a later pass, never sent again). */
static int apply_done(sms_sender *s)
{
    if (s->ndone == 0)
        return 0;
    ecm_pgarr ok_id, ok_ref, rj_id, rj_code, sys_id, sys_state;
    ecm_pgarr_init(&ok_id);
    ecm_pgarr_init(&ok_ref);
    ecm_pgarr_init(&rj_id);
    ecm_pgarr_init(&rj_code);
    ecm_pgarr_init(&sys_id);
    ecm_pgarr_init(&sys_state);
    for (item *it = s->done_head; it; it = it->next) {
        int accepted = it->res.verdict == SMS_GW_ACCEPTED;
        if (it->kind == ITEM_SYSTEM) {
            ecm_pgarr_add_str(&sys_id, it->message_id);
            ecm_pgarr_add_str(&sys_state, accepted ? "sent" : "failed");
        } else if (accepted) {
            ecm_pgarr_add_str(&ok_id, it->message_id);
            ecm_pgarr_add_str(&ok_ref, it->res.gateway_ref[0] ? it->res.gateway_ref : NULL);
        } else {
            ecm_pgarr_add_str(&rj_id, it->message_id);
            ecm_pgarr_add_int(&rj_code, it->res.http_status);
        }
    }
    int n_ok = ok_id.n, n_rj = rj_id.n, n_sys = sys_id.n;
    const char *p_ok[2] = {ecm_pgarr_finish(&ok_id), ecm_pgarr_finish(&ok_ref)};
    const char *p_rj[2] = {ecm_pgarr_finish(&rj_id), ecm_pgarr_finish(&rj_code)};
    const char *p_sys[2] = {ecm_pgarr_finish(&sys_id), ecm_pgarr_finish(&sys_state)};
    PGresult *sent = NULL, *rejected = NULL;
    int rc = -1;
    if (!p_ok[0] || !p_ok[1] || !p_rj[0] || !p_rj[1] || !p_sys[0] || !p_sys[1])
        goto out;
    if (ecm_pg_begin(s->pg) < 0)
        goto fail;
    if (n_ok > 0 && !(sent = ecm_pg_exec(s->pg, MARK_SENT_SQL, 2, p_ok)))
        goto fail;
    if (n_rj > 0 && !(rejected = ecm_pg_exec(s->pg, MARK_REJECTED_SQL, 2, p_rj)))
        goto fail;
    if (n_sys > 0 && ecm_pg_cmd(s->pg, SYSTEM_DONE_SQL, 2, p_sys) < 0)
        goto fail;
    const ecm_common_config *common = s->cfg.ctx->common;
    for (int i = 0; rejected && i < PQntuples(rejected); i++) {
        char id[ECM_UUID_LEN];
        ecm_uuid_new(id);
        const char *contact = PQgetvalue(rejected, i, 0);
        const char *msgid = PQgetvalue(rejected, i, 3);
        Ecm__V1__SmsResult ev = ECM__V1__SMS_RESULT__INIT;
        ev.event_id = id;
        ev.occurred_at = ecm_now_ms();
        ev.contact_id = ecm_pgval_ll(rejected, i, 0, -1);
        ev.attempt = (int32_t)ecm_pgval_ll(rejected, i, 1, -1);
        ev.campaign_id = ecm_pgval_ll(rejected, i, 2, -1);
        ev.message_id = (char *)msgid;
        ev.outcome = ECM__V1__OUTCOME__OUTCOME_SMS_REJECTED;
        ev.gateway_status = long_of(s, msgid);
        ev.detail = (char *)detail_for(s, msgid);
        ev.segments = (int32_t)ecm_pgval_ll(rejected, i, 4, 0);
        if (ecm_outbox_add(s->pg, common->topic_sms_results, contact, s->cfg.ctx->source, id,
                           ev.occurred_at, &ev.base) < 0)
            goto fail;
    }
    if (sent && PQntuples(sent) > 0) {
        if (ecm_outbox_copy_begin(s->pg) < 0)
            goto fail;
        for (int i = 0; i < PQntuples(sent); i++) {
            char id[ECM_UUID_LEN];
            ecm_uuid_new(id);
            const char *contact = PQgetvalue(sent, i, 0);
            Ecm__V1__ContactDispatched ev = ECM__V1__CONTACT_DISPATCHED__INIT;
            ev.event_id = id;
            ev.occurred_at = ecm_now_ms();
            ev.contact_id = ecm_pgval_ll(sent, i, 0, -1);
            ev.attempt = (int32_t)ecm_pgval_ll(sent, i, 1, -1);
            ev.campaign_id = ecm_pgval_ll(sent, i, 2, -1);
            ev.channel = ECM__V1__CHANNEL__CHANNEL_SMS;
            ev.phone = PQgetvalue(sent, i, 3);
            ev.account_number = PQgetvalue(sent, i, 4);
            ev.target = PQgetvalue(sent, i, 5);
            if (ecm_outbox_copy_add(s->pg, common->topic_dispatched, contact, s->cfg.ctx->source,
                                    id, ev.occurred_at, &ev.base) < 0)
                goto fail;
        }
        if (ecm_outbox_copy_end(s->pg) < 0)
            goto fail;
    }
    if (ecm_pg_commit(s->pg) < 0)
        goto fail;
    rc = (int)s->ndone;
    while (s->done_head) {
        item *it = s->done_head;
        s->done_head = it->next;
        if (it->res.verdict == SMS_GW_ACCEPTED) {
            ecm_metric_add(it->lane->sent, 1);
        } else {
            ecm_metric_add(s->rejected, 1);
            ecm_log_warn("SMS rejected by the gateway", "gateway=%s message_id=%s status=%ld %s",
                         it->lane->name, it->message_id, it->res.http_status, it->res.detail);
        }
        item_free(s, it);
    }
    s->done_tail = NULL;
    s->ndone = 0;
    goto out;
fail:
    ecm_pg_rollback(s->pg);
    ecm_pg_check_broken(s->pg);
    ecm_log_warn("could not record SMS answers; will retry", "messages=%zu", s->ndone);
out:
    PQclear(sent);
    PQclear(rejected);
    ecm_pgarr_free(&ok_id);
    ecm_pgarr_free(&ok_ref);
    ecm_pgarr_free(&rj_id);
    ecm_pgarr_free(&rj_code);
    ecm_pgarr_free(&sys_id);
    ecm_pgarr_free(&sys_state);
    return rc;
}

/* ---- rendering ---- */

typedef struct {
    const char *first_name, *last_name, *account_number, *phone;
    json_t *custom;
    char num[64];
} fields;

static const char *field_lookup(void *ctx, const char *name)
{
    fields *f = ctx;
    if (strcmp(name, "first_name") == 0)
        return f->first_name;
    if (strcmp(name, "last_name") == 0)
        return f->last_name;
    if (strcmp(name, "account_number") == 0)
        return f->account_number;
    if (strcmp(name, "phone") == 0)
        return f->phone;
    json_t *v = f->custom ? json_object_get(f->custom, name) : NULL;
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(f->num, sizeof f->num, "%lld", (long long)json_integer_value(v));
        return f->num;
    }
    if (json_is_real(v)) {
        snprintf(f->num, sizeof f->num, "%g", json_real_value(v));
        return f->num;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL; /* absent or null: never rendered as a blank */
}

/* Renders the template for one contact; *text is malloc'd. Returns 0, or
 * -1 with a reason. */
static int render_contact(const char *tmpl, const char *first, const char *last,
                          const char *account, const char *phone, const char *custom_json,
                          char **text, char *errstr, size_t errstr_size)
{
    fields f = {first, last, account, phone, NULL, {0}};
    if (custom_json)
        f.custom = json_loads(custom_json, 0, NULL);
    int rc = tmpl ? ecm_sms_render(tmpl, field_lookup, &f, text, errstr, errstr_size) : -1;
    if (!tmpl)
        snprintf(errstr, errstr_size, "campaign has no SMS template");
    json_decref(f.custom);
    return rc;
}

static int fill_text(item *it, const char *phone, const char *from, char *text)
{
    ecm_sms_info info;
    if (ecm_sms_measure(text, &info) < 0) {
        free(text);
        return -1;
    }
    it->text = text;
    it->phone = strdup(phone);
    it->from = strdup(from ? from : "");
    it->encoding = info.encoding;
    it->segments = info.segments;
    return it->phone && it->from ? 0 : -1;
}

/* ---- taking queued contacts ---- */

static const char CAMPAIGNS_SQL[] =
    "SELECT c.id FROM campaigns c WHERE c.state = 'active' AND c.channel = 'sms' "
    "AND COALESCE(NULLIF(c.sms_gateway, ''), $1) = $2 "
    "AND EXISTS (SELECT 1 FROM contacts ct WHERE ct.campaign_id = c.id AND ct.state = 'queued') "
    "ORDER BY c.id";

/* The gate's columns (numbers, DNC flags, window) come with the contact it
 * locks; the campaign row is share-locked so that a pause waits for this
 * batch or stops it. */
static const char TAKE_SQL[] =
    "SELECT " ECM_GATE_COLUMNS ", ct.first_name, ct.last_name, ct.account_number, "
    "ct.custom::text, c.sms_template, c.sms_sender "
    "FROM contacts ct JOIN campaigns c ON c.id = ct.campaign_id "
    "WHERE ct.campaign_id = $1 AND ct.state = 'queued' AND c.state = 'active' "
    "ORDER BY ct.id LIMIT $2 FOR UPDATE OF ct SKIP LOCKED FOR SHARE OF c";

enum {
    COL_FIRST_NAME = ECM_GATE_NCOLS,
    COL_LAST_NAME,
    COL_ACCOUNT,
    COL_CUSTOM,
    COL_TEMPLATE,
    COL_SENDER,
};

/* An attempt that already exists (DB out of step) is neither recorded nor
 * sent twice; the contact still moves on, as in the feeder. dispatched_at
 * is business time ($10, ms). */
static const char RECORD_SQL[] =
    "INSERT INTO attempts (contact_id, attempt, campaign_id, channel, target, phone, "
    "account_number, status, message_id, encoding, segments, dispatched_at) "
    "SELECT r.contact_id, r.attempt, $1, 'sms', $2, r.phone, r.account, 'sending', r.message_id, "
    "r.encoding, r.segments, to_timestamp($10::float8 / 1000) "
    "FROM unnest($3::bigint[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], "
    "$9::int[]) AS r (contact_id, attempt, phone, account, message_id, encoding, segments) "
    "ON CONFLICT DO NOTHING RETURNING message_id";

static int item_recorded(PGresult *ins, const char *message_id)
{
    for (int i = 0; i < PQntuples(ins); i++) {
        if (strcmp(PQgetvalue(ins, i, 0), message_id) == 0)
            return 1;
    }
    return 0;
}

/* Renders the message of a contact the gate let through (row i of t) and
 * makes its item in *out. A text that can't be rendered turns the verdict
 * into a close with SMS_REJECTED (*out NULL). Returns 0, or -1 when memory
 * runs out. */
static int prepare_item(sms_sender *s, lane *ln, const PGresult *t, int i, ecm_gate_row *v,
                        item **out)
{
    *out = NULL;
    char *text = NULL;
    char why[200] = "";
    if (render_contact(ecm_pgval_str(t, i, COL_TEMPLATE), ecm_pgval_str(t, i, COL_FIRST_NAME),
                       ecm_pgval_str(t, i, COL_LAST_NAME), ecm_pgval_str(t, i, COL_ACCOUNT),
                       v->phone, ecm_pgval_str(t, i, COL_CUSTOM), &text, why, sizeof why) < 0) {
        v->action = ECM_GATE_CLOSE;
        v->outcome = ECM__V1__OUTCOME__OUTCOME_SMS_REJECTED;
        ecm_metric_add(s->render_failed, 1);
        ecm_log_warn("SMS contact closed without sending", "contact_id=%lld outcome=%s reason=%s",
                     (long long)v->contact_id, ecm_outcome_name(v->outcome), why);
        return 0;
    }
    item *it = item_new(s, ITEM_CONTACT, ln);
    if (!it) {
        free(text);
        return -1;
    }
    if (fill_text(it, v->phone, ecm_pgval_str(t, i, COL_SENDER), text) < 0) {
        item_free(s, it);
        return -1;
    }
    it->contact_id = v->contact_id;
    it->campaign_id = v->campaign_id;
    it->attempt = v->attempts + 1;
    ecm_uuid_new(it->message_id);
    *out = it;
    return 0;
}

/* In one transaction: take up to `want` queued contacts of one campaign,
 * let the gate judge them (held back: waiting, or closed DNC, EXPIRED,
 * INVALID_NUMBER), close those whose text can't be rendered, record the
 * others' attempts 'sending' and queue them on the lane. Returns the number
 * taken, or -1 (rolled back). */
static int take_campaign(sms_sender *s, lane *ln, const char *campaign_id, long want)
{
    char limit[24];
    snprintf(limit, sizeof limit, "%ld", want);
    if (ecm_pg_begin(s->pg) < 0)
        return -1;
    const char *p[2] = {campaign_id, limit};
    PGresult *t = ecm_pg_exec(s->pg, TAKE_SQL, 2, p);
    if (!t)
        goto fail_early;
    int n = PQntuples(t);
    if (n == 0) {
        PQclear(t);
        ecm_pg_rollback(s->pg);
        return 0;
    }
    int64_t now_ms = ecm_clock_now_ms();
    ecm_gate_row *verdicts = ecm_gate_judge(s->gate, t, 0, now_ms);
    item **items = calloc((size_t)n, sizeof *items);
    ecm_pgarr r_id, r_att, r_phone, r_acct, r_msg, r_enc, r_seg;
    ecm_pgarr *arrs[] = {&r_id, &r_att, &r_phone, &r_acct, &r_msg, &r_enc, &r_seg};
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++)
        ecm_pgarr_init(arrs[k]);
    int ok = verdicts != NULL && items != NULL;
    PGresult *ins = NULL;
    for (int i = 0; ok && i < n; i++) {
        if (verdicts[i].action != ECM_GATE_GO)
            continue;
        ok = prepare_item(s, ln, t, i, &verdicts[i], &items[i]) == 0;
        item *it = items[i];
        if (!ok || !it)
            continue;
        char acct[ACCOUNT_MAX];
        ok = ecm_account_number(acct, sizeof acct, it->contact_id, it->attempt) == 0;
        ecm_pgarr_add_int(&r_id, it->contact_id);
        ecm_pgarr_add_int(&r_att, it->attempt);
        ecm_pgarr_add_str(&r_phone, it->phone);
        ecm_pgarr_add_str(&r_acct, acct);
        ecm_pgarr_add_str(&r_msg, it->message_id);
        ecm_pgarr_add_str(&r_enc, ecm_sms_encoding_name(it->encoding));
        ecm_pgarr_add_int(&r_seg, it->segments);
    }
    int n_rec = r_id.n;
    char now_s[24];
    snprintf(now_s, sizeof now_s, "%lld", (long long)now_ms);
    const char *pr[10] = {campaign_id,
                          ln->name,
                          ecm_pgarr_finish(&r_id),
                          ecm_pgarr_finish(&r_att),
                          ecm_pgarr_finish(&r_phone),
                          ecm_pgarr_finish(&r_acct),
                          ecm_pgarr_finish(&r_msg),
                          ecm_pgarr_finish(&r_enc),
                          ecm_pgarr_finish(&r_seg),
                          now_s};
    for (int k = 2; k < 9; k++)
        ok = ok && pr[k];
    ok = ok && ecm_gate_apply(s->gate, s->pg, verdicts, n) == 0;
    if (ok && n_rec > 0)
        ok = (ins = ecm_pg_exec(s->pg, RECORD_SQL, 10, pr)) != NULL;
    if (ok)
        ok = ecm_pg_commit(s->pg) == 0;
    if (!ok) {
        ecm_pg_rollback(s->pg);
        ecm_pg_check_broken(s->pg);
    } else {
        ecm_gate_count(s->gate, verdicts, n);
        for (int i = 0; i < n; i++) {
            if (verdicts[i].action == ECM_GATE_CLOSE &&
                verdicts[i].outcome == ECM__V1__OUTCOME__OUTCOME_DNC)
                ecm_metric_add(s->dnc_blocked, 1);
        }
    }
    for (int i = 0; items && i < n; i++) {
        item *it = items[i];
        if (!it)
            continue;
        if (ok && item_recorded(ins, it->message_id)) {
            wait_push_back(ln, it);
        } else {
            if (ok)
                ecm_log_warn("attempt already recorded; not sent again",
                             "contact_id=%lld attempt=%d", (long long)it->contact_id, it->attempt);
            item_free(s, it);
        }
    }
    PQclear(ins);
    free(items);
    ecm_gate_rows_free(verdicts, n);
    PQclear(t);
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++)
        ecm_pgarr_free(arrs[k]);
    return ok ? n : -1;
fail_early:
    ecm_pg_rollback(s->pg);
    ecm_pg_check_broken(s->pg);
    return -1;
}

/* Fills the lane up to `want` messages from its campaigns, starting with a
 * different campaign each time so that one big campaign can't starve the
 * others. Returns the number taken or -1. */
static int take_contacts(sms_sender *s, lane *ln, long want)
{
    const char *p[2] = {s->cfg.default_gateway, ln->name};
    PGresult *r = ecm_pg_exec(s->pg, CAMPAIGNS_SQL, 2, p);
    if (!r) {
        ecm_pg_check_broken(s->pg);
        return -1;
    }
    int n = PQntuples(r), got = 0, rc = 0;
    for (int k = 0; k < n && got < want; k++) {
        int i = (int)((ln->rr + (size_t)k) % (size_t)n);
        long share = (want - got) / (n - k);
        if (share < 1)
            share = 1;
        int t = take_campaign(s, ln, PQgetvalue(r, i, 0), share);
        if (t < 0) {
            rc = -1;
            break;
        }
        got += t;
    }
    ln->rr++;
    PQclear(r);
    return rc < 0 && got == 0 ? -1 : got;
}

/* ---- system messages ---- */

/* While 'sending', sent_at holds the claim's lease time (the table has no
 * other column for it); it is overwritten with the real time once sent. */
static const char TAKE_SYSTEM_SQL[] =
    "UPDATE sms_system_messages m SET state = 'sending', attempts = m.attempts + 1, "
    "sent_at = now() FROM (SELECT id FROM sms_system_messages WHERE state = 'queued' "
    "OR (state = 'sending' AND sent_at < now() - $2::int * interval '1 second') "
    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) q "
    "WHERE m.id = q.id RETURNING m.id, m.to_phone, m.body, m.message_id, m.attempts";

static int take_system(sms_sender *s, lane *ln, long want)
{
    char limit[24], stale[24];
    snprintf(limit, sizeof limit, "%ld", want);
    snprintf(stale, sizeof stale, "%ld", s->cfg.stale_s);
    const char *p[2] = {limit, stale};
    PGresult *r = ecm_pg_exec(s->pg, TAKE_SYSTEM_SQL, 2, p);
    if (!r) {
        ecm_pg_check_broken(s->pg);
        return -1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        char *body = strdup(PQgetvalue(r, i, 2));
        item *it = body ? item_new(s, ITEM_SYSTEM, ln) : NULL;
        if (!it || fill_text(it, PQgetvalue(r, i, 1), s->cfg.ctx->system_sender, body) < 0) {
            /* Left 'sending': taken again once its lease is stale. */
            if (it)
                item_free(s, it);
            else
                free(body);
            continue;
        }
        it->system_id = ecm_pgval_ll(r, i, 0, -1);
        snprintf(it->message_id, sizeof it->message_id, "%s", PQgetvalue(r, i, 3));
        if (ecm_pgval_ll(r, i, 4, -1) > 1)
            ecm_metric_add(s->recovered, 1);
        wait_push_back(ln, it);
    }
    PQclear(r);
    return n;
}

/* ---- leases and recovery ---- */

static const char LEASE_SQL[] = "UPDATE attempts SET sending_at = now() "
                                "WHERE message_id = ANY($1::text[]) AND status = 'sending'";
static const char LEASE_SYSTEM_SQL[] = "UPDATE sms_system_messages SET sent_at = now() "
                                       "WHERE message_id = ANY($1::text[]) AND state = 'sending'";

/* While a message waits in this process (a long 503 stretch), its attempt's
 * sending_at is kept fresh so that no other replica takes it for a crashed
 * one. Returns 0 or -1. */
static int renew_leases(sms_sender *s)
{
    if (!s->all)
        return 0;
    ecm_pgarr c, y;
    ecm_pgarr_init(&c);
    ecm_pgarr_init(&y);
    for (item *it = s->all; it; it = it->all_next)
        ecm_pgarr_add_str(it->kind == ITEM_SYSTEM ? &y : &c, it->message_id);
    int nc = c.n, ny = y.n;
    const char *pc = ecm_pgarr_finish(&c), *py = ecm_pgarr_finish(&y);
    int rc = pc && py ? 0 : -1;
    if (rc == 0 && nc > 0 && ecm_pg_cmd(s->pg, LEASE_SQL, 1, &pc) < 0)
        rc = -1;
    if (rc == 0 && ny > 0 && ecm_pg_cmd(s->pg, LEASE_SYSTEM_SQL, 1, &py) < 0)
        rc = -1;
    if (rc < 0)
        ecm_pg_check_broken(s->pg);
    ecm_pgarr_free(&c);
    ecm_pgarr_free(&y);
    return rc;
}

/* Attempts left 'sending' by a sender that died: taken over (lease renewed
 * in the same statement), judged again by the dispatch gate on the number
 * they were recorded on, and sent again with the SAME message id only when
 * the calling window is open now in the contact's zone. The generic
 * gateway's simulator recognises a message id it already has. Kannel offers
 * no way to ask whether it took a message, so a crash between Kannel's
 * accept and our commit can at worst send that one message twice; every
 * re-send is counted in ecm_sms_recovered_total.
 *
 * Only campaigns that dispatch are looked at: a paused or stopped
 * campaign's attempts stay 'sending' untouched, like its other open
 * contacts, and are recovered once it is resumed. An expired campaign's are
 * closed EXPIRED: nothing else would ever close them. The campaign row is
 * share-locked so that a pause either waits for this pass or stops it. */
static const char RECOVER_SQL[] =
    "UPDATE attempts a SET sending_at = now() "
    "FROM (SELECT sa.contact_id, sa.attempt FROM attempts sa JOIN campaigns sc "
    "  ON sc.id = sa.campaign_id WHERE sa.status = 'sending' AND sa.target = $1 "
    "  AND sa.channel = 'sms' AND sa.sending_at < now() - $2::int * interval '1 second' "
    "  AND sc.state IN ('active', 'expired') "
    "  ORDER BY sa.sending_at LIMIT $3 FOR UPDATE OF sa SKIP LOCKED FOR SHARE OF sc) q, "
    "contacts ct, campaigns c "
    "WHERE a.contact_id = q.contact_id AND a.attempt = q.attempt AND ct.id = a.contact_id "
    "AND c.id = a.campaign_id "
    "RETURNING a.contact_id, a.attempt, a.campaign_id, a.phone, a.message_id, ct.first_name, "
    "ct.last_name, ct.account_number, ct.custom::text, c.sms_template, c.sms_sender, c.state, "
    "array_position(ct.phones, a.phone) - 1, " ECM_GATE_COLUMNS;

/* The columns both RECOVER_SQL and RECHECK_SQL start with, as hold_back()
 * reads them: contact, attempt, campaign, number, message id. */
enum {
    HCOL_CONTACT = 0,
    HCOL_ATTEMPT,
    HCOL_CAMPAIGN,
    HCOL_PHONE,
    HCOL_MESSAGE_ID,
};

enum {
    RCOL_STATE = 11,
    RCOL_PHONE_INDEX,
    RCOL_GATE,
};

/* A recovered attempt outside its window gets a lease that runs out at the
 * opening, so that no sender takes it before. The opening is business time
 * and the lease the database's: the two run at different rates in tests and
 * dev stacks (a fixed clock, a fast one), so the lease never runs more than
 * stale_s ahead; the attempt is then judged again, which costs one row
 * update and can't send it early. $4: stale_s. */
static const char RECOVER_WAIT_SQL[] =
    "UPDATE attempts a SET sending_at = now() - $4::int * interval '1 second' "
    "+ r.wait_ms * interval '1 millisecond' "
    "FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS r (contact_id, attempt, wait_ms) "
    "WHERE a.contact_id = r.contact_id AND a.attempt = r.attempt AND a.status = 'sending'";

/* The contact is closed with the same outcome by ecm_gate_apply(). */
static const char RECOVER_CLOSE_SQL[] =
    "UPDATE attempts a SET status = 'done', result_at = now(), outcome = r.outcome "
    "FROM unnest($1::bigint[], $2::int[], $3::text[]) AS r (contact_id, attempt, outcome) "
    "WHERE a.contact_id = r.contact_id AND a.attempt = r.attempt AND a.status = 'sending'";

/* Makes the item of a recovered attempt the gate let through (row i of r)
 * and queues it on the lane. Returns 0, or -1 when memory runs out (the
 * attempt stays 'sending' and is found again). */
static int recover_item(sms_sender *s, lane *ln, const PGresult *r, int i)
{
    item *it = item_new(s, ITEM_CONTACT, ln);
    if (!it)
        return -1;
    it->contact_id = ecm_pgval_ll(r, i, 0, -1);
    it->attempt = (int)ecm_pgval_ll(r, i, 1, -1);
    it->campaign_id = ecm_pgval_ll(r, i, 2, -1);
    snprintf(it->message_id, sizeof it->message_id, "%s", PQgetvalue(r, i, 4));
    it->recheck = 1;
    ecm_metric_add(s->recovered, 1);
    char *text = NULL;
    char why[200] = "";
    const char *phone = PQgetvalue(r, i, 3);
    if (render_contact(ecm_pgval_str(r, i, 9), ecm_pgval_str(r, i, 5), ecm_pgval_str(r, i, 6),
                       ecm_pgval_str(r, i, 7), phone, ecm_pgval_str(r, i, 8), &text, why,
                       sizeof why) < 0 ||
        fill_text(it, phone, ecm_pgval_str(r, i, 10), text) < 0) {
        /* The template changed under a crashed send: final. */
        memset(&it->res, 0, sizeof it->res);
        it->res.verdict = SMS_GW_REJECTED;
        snprintf(it->res.detail, sizeof it->res.detail, "render: %s", why);
        done_push(s, it);
        return 0;
    }
    ecm_log_info("resending an SMS left 'sending' by a stopped sender",
                 "gateway=%s message_id=%s contact_id=%lld attempt=%d", ln->name, it->message_id,
                 (long long)it->contact_id, it->attempt);
    wait_push_back(ln, it);
    return 0;
}

/* Judges the recorded attempts of r again (the gate on the recorded number,
 * whose 0-based index among the contact's is column col_phone_index, with
 * ECM_GATE_COLUMNS from col_gate) at business time now. An 'expired'
 * campaign (column col_state) closes EXPIRED whatever its end_at says:
 * nothing else would ever close its attempts. Returns the verdicts
 * (ecm_gate_rows_free), or NULL when r has no rows or memory runs out. */
static ecm_gate_row *judge_recorded(sms_sender *s, const PGresult *r, int col_state,
                                    int col_phone_index, int col_gate, int64_t now)
{
    int n = PQntuples(r);
    int *idx = n > 0 ? calloc((size_t)n, sizeof *idx) : NULL;
    if (!idx)
        return NULL;
    for (int i = 0; i < n; i++)
        idx[i] = (int)ecm_pgval_ll(r, i, col_phone_index, -1);
    ecm_gate_row *v = ecm_gate_judge_recorded(s->gate, r, col_gate, idx, now);
    free(idx);
    for (int i = 0; v && i < n; i++) {
        /* Past its end: the gate says so from end_at too, unless the row
         * was edited by hand; the campaign's state settles it. */
        if (strcmp(PQgetvalue(r, i, col_state), "expired") == 0) {
            v[i].action = ECM_GATE_CLOSE;
            v[i].outcome = ECM__V1__OUTCOME__OUTCOME_EXPIRED;
        }
    }
    return v;
}

/* Writes the verdicts on recorded attempts that are not sent now (rows of r,
 * which start with the HCOL_ columns), inside the open transaction: WAIT ->
 * the attempt stays 'sending' with a lease that runs out at the opening (it
 * is then recovered and judged again), CLOSE -> attempt 'done' and contact
 * closed with the outcome and a ContactClosed event. GO rows are left
 * alone. `from` names the caller in the logs. Returns 0 or -1. */
static int hold_back(sms_sender *s, const PGresult *r, ecm_gate_row *v, int n, int64_t now,
                     const char *from)
{
    ecm_pgarr w_id, w_att, w_ms, c_id, c_att, c_out;
    ecm_pgarr *arrs[] = {&w_id, &w_att, &w_ms, &c_id, &c_att, &c_out};
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++)
        ecm_pgarr_init(arrs[k]);
    ecm_gate_row *closed = calloc((size_t)n, sizeof *closed);
    int nclosed = 0;
    int64_t max_wait = (int64_t)s->cfg.stale_s * 1000;
    for (int i = 0; closed && i < n; i++) {
        int attempt = (int)ecm_pgval_ll(r, i, HCOL_ATTEMPT, -1);
        if (v[i].action == ECM_GATE_WAIT) {
            int64_t wait = v[i].until_ms - now;
            ecm_pgarr_add_int(&w_id, v[i].contact_id);
            ecm_pgarr_add_int(&w_att, attempt);
            ecm_pgarr_add_int(&w_ms, wait < 0 ? 0 : wait > max_wait ? max_wait : wait);
            ecm_log_info("SMS attempt not sent now: waits for its calling window",
                         "from=%s message_id=%s contact_id=%lld until=%lld", from,
                         PQgetvalue(r, i, HCOL_MESSAGE_ID), (long long)v[i].contact_id,
                         (long long)v[i].until_ms);
        } else if (v[i].action == ECM_GATE_CLOSE) {
            ecm_pgarr_add_int(&c_id, v[i].contact_id);
            ecm_pgarr_add_int(&c_att, attempt);
            ecm_pgarr_add_str(&c_out, ecm_outcome_name(v[i].outcome));
            closed[nclosed] = v[i];
            closed[nclosed++].phone = NULL; /* borrowed rows: never freed from here */
            ecm_log_info("SMS attempt not sent: contact closed",
                         "from=%s message_id=%s contact_id=%lld outcome=%s", from,
                         PQgetvalue(r, i, HCOL_MESSAGE_ID), (long long)v[i].contact_id,
                         ecm_outcome_name(v[i].outcome));
        }
    }
    int nw = w_id.n;
    char stale[24];
    snprintf(stale, sizeof stale, "%ld", s->cfg.stale_s);
    const char *pw[4] = {ecm_pgarr_finish(&w_id), ecm_pgarr_finish(&w_att), ecm_pgarr_finish(&w_ms),
                         stale};
    const char *pc[3] = {ecm_pgarr_finish(&c_id), ecm_pgarr_finish(&c_att),
                         ecm_pgarr_finish(&c_out)};
    int rc = closed && pw[0] && pw[1] && pw[2] && pc[0] && pc[1] && pc[2] ? 0 : -1;
    if (rc == 0 && nw > 0)
        rc = ecm_pg_cmd(s->pg, RECOVER_WAIT_SQL, 4, pw);
    if (rc == 0 && nclosed > 0) {
        rc = ecm_pg_cmd(s->pg, RECOVER_CLOSE_SQL, 3, pc);
        if (rc == 0)
            rc = ecm_gate_apply(s->gate, s->pg, closed, nclosed);
        if (rc == 0)
            ecm_gate_count(s->gate, closed, nclosed);
    }
    free(closed);
    for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++)
        ecm_pgarr_free(arrs[k]);
    return rc;
}

/* One transaction: take over up to `want` stale attempts of the lane's
 * gateway, judge each again (campaign still dispatching, window open in the
 * contact's zone for the recorded number, end_at), hold back or close those
 * that may not go now, and queue the others for sending once committed.
 * Returns the number taken over, or -1 (rolled back: nothing changed). */
static int recover_lane(sms_sender *s, lane *ln, long want)
{
    char limit[24], stale[24];
    snprintf(limit, sizeof limit, "%ld", want);
    snprintf(stale, sizeof stale, "%ld", s->cfg.stale_s);
    const char *p[3] = {ln->name, stale, limit};
    if (ecm_pg_begin(s->pg) < 0) {
        ecm_pg_check_broken(s->pg);
        return -1;
    }
    PGresult *r = ecm_pg_exec(s->pg, RECOVER_SQL, 3, p);
    if (!r) {
        ecm_pg_rollback(s->pg);
        ecm_pg_check_broken(s->pg);
        return -1;
    }
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        ecm_pg_rollback(s->pg);
        return 0;
    }
    int64_t now = ecm_clock_now_ms();
    ecm_gate_row *v = judge_recorded(s, r, RCOL_STATE, RCOL_PHONE_INDEX, RCOL_GATE, now);
    int ok = v != NULL && hold_back(s, r, v, n, now, "recovery") == 0 && ecm_pg_commit(s->pg) == 0;
    if (!ok) {
        ecm_pg_rollback(s->pg);
        ecm_pg_check_broken(s->pg);
    }
    for (int i = 0; ok && i < n; i++) {
        if (v[i].action == ECM_GATE_GO && recover_item(s, ln, r, i) < 0)
            break; /* the rest stays 'sending' and is found again */
    }
    ecm_gate_rows_free(v, n);
    PQclear(r);
    return ok ? n : -1;
}

/* ---- re-check before a re-send ---- */

/* The attempts still 'sending' of messages about to be sent again (after a
 * retry, or just recovered), with what recovery judges them on plus whether
 * the recorded number is on a DNC list now. The campaign row is
 * share-locked like in RECOVER_SQL, so that a pause either waits for this
 * check or is seen by it. */
static const char RECHECK_SQL[] =
    "SELECT a.contact_id, a.attempt, a.campaign_id, a.phone, a.message_id, c.state, "
    "array_position(ct.phones, a.phone) - 1, "
    "(EXISTS (SELECT 1 FROM dnc d WHERE d.phone_key = regexp_replace(a.phone, '[^0-9]', '', 'g') "
    "  AND (d.campaign_id IS NULL OR d.campaign_id = a.campaign_id)))::int, " ECM_GATE_COLUMNS
    " FROM attempts a JOIN contacts ct ON ct.id = a.contact_id "
    "JOIN campaigns c ON c.id = a.campaign_id "
    "WHERE a.message_id = ANY($1::text[]) AND a.status = 'sending' "
    "FOR UPDATE OF a FOR SHARE OF c";

enum {
    KCOL_STATE = 5,
    KCOL_PHONE_INDEX,
    KCOL_DNC,
    KCOL_GATE,
};

static const char DNC_ATTEMPT_SQL[] =
    "UPDATE attempts SET status = 'done', result_at = now(), outcome = 'DNC' "
    "WHERE message_id = ANY($1::text[]) AND status = 'sending'";
static const char DNC_CONTACT_SQL[] =
    "UPDATE contacts SET state = 'closed', outcome = 'DNC', next_attempt_at = NULL, "
    "closed_at = now(), updated_at = now() WHERE id = ANY($1::bigint[]) AND state <> 'closed' "
    "RETURNING id, campaign_id, attempts";

/* What becomes of a held message after its re-check. */
typedef enum {
    RECHECK_SEND = 0,
    RECHECK_DNC,   /* closed DNC */
    RECHECK_LEAVE, /* campaign paused or stopped: left for recovery */
    RECHECK_HELD,  /* window closed (waits for recovery) or closed EXPIRED */
} recheck_fate;

/* Inside the open transaction: the attempts of the rows whose fate is
 * RECHECK_DNC done DNC, their contacts closed DNC with a ContactClosed event
 * (once: a contact closed already is left as it is). Returns 0 or -1. */
static int close_dnc(sms_sender *s, const PGresult *r, const recheck_fate *fate, int n)
{
    ecm_pgarr mids, cids;
    ecm_pgarr_init(&mids);
    ecm_pgarr_init(&cids);
    for (int i = 0; i < n; i++) {
        if (fate[i] != RECHECK_DNC)
            continue;
        ecm_pgarr_add_str(&mids, PQgetvalue(r, i, HCOL_MESSAGE_ID));
        ecm_pgarr_add_int(&cids, ecm_pgval_ll(r, i, HCOL_CONTACT, -1));
    }
    int rc = 0;
    PGresult *closed = NULL;
    if (mids.n > 0) {
        const char *pm = ecm_pgarr_finish(&mids), *pcid = ecm_pgarr_finish(&cids);
        rc = pm && pcid && ecm_pg_cmd(s->pg, DNC_ATTEMPT_SQL, 1, &pm) == 0 &&
                     (closed = ecm_pg_exec(s->pg, DNC_CONTACT_SQL, 1, &pcid)) != NULL
                 ? 0
                 : -1;
        for (int i = 0; rc == 0 && i < PQntuples(closed); i++)
            rc = add_closed(s, ecm_pgval_ll(closed, i, 1, -1), ecm_pgval_ll(closed, i, 0, -1),
                            (int)ecm_pgval_ll(closed, i, 2, -1), ECM__V1__OUTCOME__OUTCOME_DNC);
    }
    PQclear(closed);
    ecm_pgarr_free(&mids);
    ecm_pgarr_free(&cids);
    return rc;
}

/* The fate of row i of r (judged v[i]): a number on DNC is closed DNC
 * whatever the campaign's state (as before any window existed); then, as
 * recovery does, a campaign neither active nor expired leaves the attempt
 * alone, the gate's WAIT and CLOSE hold it back, and GO sends it. A row
 * left alone is turned into a GO so that hold_back() skips it. */
static recheck_fate fate_of(const PGresult *r, int i, ecm_gate_row *v)
{
    if (ecm_pgval_ll(r, i, KCOL_DNC, 0) != 0) {
        v->action = ECM_GATE_GO;
        return RECHECK_DNC;
    }
    const char *state = PQgetvalue(r, i, KCOL_STATE);
    if (strcmp(state, "active") != 0 && strcmp(state, "expired") != 0) {
        v->action = ECM_GATE_GO;
        return RECHECK_LEAVE;
    }
    return v->action == ECM_GATE_GO ? RECHECK_SEND : RECHECK_HELD;
}

/* Messages held in memory since their last send (a retryable answer) or
 * just recovered are judged again before they go, exactly as recovery
 * judges an attempt, in one transaction for the whole lane: a number that
 * opted out meanwhile -> closed DNC; a campaign paused or stopped meanwhile
 * -> not sent, its attempt left 'sending' for recovery once resumed (the
 * lease is no longer renewed); the calling window closed meanwhile -> not
 * sent, the attempt's lease runs out at the opening and recovery sends it
 * then; past end_at -> closed EXPIRED. Only messages judged GO are kept.
 * Returns 0, or -1 (rolled back; nothing changed in memory, the check is
 * made again on a later pass). */
static int recheck_held(sms_sender *s, lane *ln)
{
    ecm_pgarr ids;
    ecm_pgarr_init(&ids);
    for (item *it = ln->wait_head; it; it = it->next) {
        if (it->recheck)
            ecm_pgarr_add_str(&ids, it->message_id);
    }
    if (ids.n == 0) {
        ecm_pgarr_free(&ids);
        return 0;
    }
    const char *p = ecm_pgarr_finish(&ids);
    PGresult *r = NULL;
    ecm_gate_row *v = NULL;
    recheck_fate *fate = NULL;
    int n = 0, ok = p != NULL && ecm_pg_begin(s->pg) == 0;
    if (ok)
        ok = (r = ecm_pg_exec(s->pg, RECHECK_SQL, 1, &p)) != NULL;
    if (ok && (n = PQntuples(r)) > 0) {
        int64_t now = ecm_clock_now_ms();
        v = judge_recorded(s, r, KCOL_STATE, KCOL_PHONE_INDEX, KCOL_GATE, now);
        fate = calloc((size_t)n, sizeof *fate);
        ok = v != NULL && fate != NULL;
        for (int i = 0; ok && i < n; i++)
            fate[i] = fate_of(r, i, &v[i]);
        ok = ok && close_dnc(s, r, fate, n) == 0 && hold_back(s, r, v, n, now, "retry") == 0;
    }
    ok = ok && ecm_pg_commit(s->pg) == 0;
    if (!ok) {
        ecm_pg_rollback(s->pg);
        ecm_pg_check_broken(s->pg);
    } else {
        item **pp = &ln->wait_head;
        ln->wait_tail = NULL;
        while (*pp) {
            item *it = *pp;
            /* An attempt no longer 'sending' (a DLR after a timeout that
             * was an accept) is not judged and goes as it always did. */
            recheck_fate f = RECHECK_SEND;
            if (it->recheck) {
                for (int i = 0; i < n; i++) {
                    if (strcmp(PQgetvalue(r, i, HCOL_MESSAGE_ID), it->message_id) == 0) {
                        f = fate[i];
                        break;
                    }
                }
            }
            if (f == RECHECK_SEND) {
                it->recheck = 0;
                ln->wait_tail = it;
                pp = &it->next;
                continue;
            }
            if (f == RECHECK_DNC) {
                ecm_metric_add(s->dnc_blocked, 1);
                ecm_log_info("SMS not re-sent: the number is on the DNC list now",
                             "message_id=%s contact_id=%lld", it->message_id,
                             (long long)it->contact_id);
            } else if (f == RECHECK_LEAVE) {
                ecm_log_info("SMS not re-sent: its campaign is not dispatching; recovered once "
                             "resumed",
                             "message_id=%s contact_id=%lld campaign_id=%lld", it->message_id,
                             (long long)it->contact_id, (long long)it->campaign_id);
            }
            *pp = it->next;
            ln->nwait--;
            item_free(s, it);
        }
    }
    ecm_gate_rows_free(v, n);
    free(fate);
    PQclear(r);
    ecm_pgarr_free(&ids);
    return ok ? 0 : -1;
}

/* ---- sending ---- */

/* Submits waiting messages while the gateway has room and the bucket has
 * tokens. Stops at a message whose re-check is pending: only
 * recheck_held() may clear it. Returns the number submitted. */
static int submit_ready(lane *ln, int64_t now)
{
    int n = 0;
    while (ln->wait_head && !ln->wait_head->recheck && now >= ln->paused_until_ms &&
           sms_gw_room(ln->gw) > 0) {
        if (!sms_bucket_take(&ln->bucket, now))
            break;
        item *it = wait_pop(ln);
        sms_gw_msg m = {it->message_id, it->phone, it->from, it->text, it->encoding};
        if (sms_gw_submit(ln->gw, &m, it) < 0) {
            /* Local failure (memory): try again on a later pass. */
            wait_push_front(ln, it);
            break;
        }
        n++;
    }
    return n;
}

/* For a short while after the first answers, each answered request is
 * replaced at once by a waiting message, so the gateways stay busy instead of
 * idling through the DB round trips of recording one answer at a time; the
 * answers are then recorded together in one transaction. Bounded in time and
 * count so that answers stay unrecorded (and re-sendable after a crash) only
 * briefly. */
static void refill(sms_sender *s)
{
    if (s->draining)
        return;
    int64_t until = now_ms() + SMS_REFILL_MS;
    for (;;) {
        int64_t now = now_ms();
        if (now >= until || s->ndone >= SMS_REFILL_MAX_DONE || total_inflight(s) == 0)
            break;
        for (size_t i = 0; i < s->nlanes; i++)
            submit_ready(&s->lanes[i], now);
        int left = (int)(until - now);
        for (size_t i = 0; i < s->nlanes; i++) {
            lane *ln = &s->lanes[i];
            if (sms_gw_inflight(ln->gw) > 0)
                sms_gw_poll(ln->gw, left / (int)s->nlanes);
        }
    }
}

/* ---- public ---- */

sms_sender *sms_sender_new(ecm_pg *pg, const sms_sender_config *cfg)
{
    if (cfg->nlanes == 0 || cfg->nlanes > SMS_SENDER_MAX_GATEWAYS) {
        ecm_log_error("no SMS gateway configured", NULL);
        return NULL;
    }
    sms_sender *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->pg = pg;
    s->cfg = *cfg;
    if (s->cfg.batch < 1)
        s->cfg.batch = 500;
    if (s->cfg.tick_ms < 1)
        s->cfg.tick_ms = 200;
    if (s->cfg.stale_s < 1)
        s->cfg.stale_s = 60;
    if (s->cfg.backoff_max_ms < BACKOFF_MIN_MS)
        s->cfg.backoff_max_ms = 30000;
    if (s->cfg.legal.start_min == 0 && s->cfg.legal.end_min == 0)
        s->cfg.legal =
            (ecm_legal_hours){ECM_WINDOW_LEGAL_START_DEFAULT, ECM_WINDOW_LEGAL_END_DEFAULT};
    ecm_metrics *m = cfg->ctx->metrics;
    ecm_gate_config gcfg = {
        .topic_closed = cfg->ctx->common->topic_closed,
        .source = cfg->ctx->source,
        .metrics = m,
        .legal = s->cfg.legal,
    };
    s->gate = ecm_gate_new(&gcfg);
    if (!s->gate) {
        free(s);
        return NULL;
    }
    int64_t now = now_ms();
    for (size_t i = 0; i < cfg->nlanes; i++) {
        lane *ln = &s->lanes[i];
        ln->owner = s;
        ln->gw = sms_gw_new(&cfg->lanes[i].gw, on_done, ln);
        if (!ln->gw) {
            sms_sender_destroy(s);
            return NULL;
        }
        s->nlanes++;
        ln->name = sms_gw_name(ln->gw);
        double rate = cfg->lanes[i].rate > 0 ? cfg->lanes[i].rate : 1;
        /* Half a second's worth may go at once: a pass of the loop that
         * takes longer than a token's interval loses nothing, and the rate
         * holds over any longer stretch. */
        sms_bucket_init(&ln->bucket, rate, rate / 2 > 1 ? rate / 2 : 1, now);
        size_t hold = (size_t)rate;
        size_t floor_hold = (size_t)cfg->lanes[i].gw.concurrency * 2;
        if (hold < floor_hold)
            hold = floor_hold;
        if (hold > (size_t)s->cfg.batch)
            hold = (size_t)s->cfg.batch;
        ln->hold = hold;
        if (m) {
            char name[128];
            snprintf(name, sizeof name, "ecm_sms_sent_total{gateway=\"%s\"}", ln->name);
            ln->sent = ecm_metrics_counter(m, name, "messages the gateway accepted");
        }
    }
    if (!lane_by_name(s, cfg->default_gateway))
        ecm_log_warn("the default SMS gateway is not configured; campaigns without a gateway "
                     "wait",
                     "default_gateway=%s", cfg->default_gateway ? cfg->default_gateway : "");
    s->system_lane = lane_by_name(s, cfg->system_gateway);
    if (!s->system_lane)
        s->system_lane = &s->lanes[0];
    if (m) {
        s->rejected = ecm_metrics_counter(m, "ecm_sms_rejected_total",
                                          "messages a gateway rejected for good (4xx)");
        s->inflight = ecm_metrics_gauge(m, "ecm_sms_inflight", "requests to gateways in flight");
        s->recovered = ecm_metrics_counter(
            m, "ecm_sms_recovered_total",
            "messages sent again after a sender stopped mid-send (each may be a duplicate)");
        s->dnc_blocked = ecm_metrics_counter(m, "ecm_sms_dnc_blocked_total",
                                             "messages not sent because the number is on DNC");
        s->render_failed = ecm_metrics_counter(
            m, "ecm_sms_render_failed_total", "contacts closed because the text can't be rendered");
        /* Created at start so that dashboards see 0 rather than nothing. */
        ecm_metrics_counter(m, "ecm_sms_retries_total{reason=\"unavailable\"}",
                            "sends to be retried (same attempt, same message id)");
    }
    return s;
}

void sms_sender_destroy(sms_sender *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nlanes; i++)
        sms_gw_destroy(s->lanes[i].gw); /* in-flight items are freed below */
    while (s->all)
        item_free(s, s->all);
    ecm_gate_free(s->gate);
    free(s);
}

size_t sms_sender_pending(const sms_sender *s)
{
    return s->nall;
}

int sms_sender_step(sms_sender *s, int wait_ms)
{
    int work = 0, failed = 0;
    int64_t now = now_ms();
    if (s->ndone > 0) {
        int r = apply_done(s);
        if (r < 0)
            return -1;
        work += r;
    }
    if (now >= s->next_lease_ms) {
        if (renew_leases(s) < 0)
            return -1;
        s->next_lease_ms = now + s->cfg.stale_s * 1000 / 3;
    }
    if (!s->draining && now >= s->next_recover_ms) {
        for (size_t i = 0; i < s->nlanes; i++) {
            int r = recover_lane(s, &s->lanes[i], s->cfg.batch);
            if (r < 0)
                return -1;
            work += r;
        }
        s->next_recover_ms = now + s->cfg.stale_s * 1000 / 3;
    }
    for (size_t i = 0; !s->draining && i < s->nlanes; i++) {
        lane *ln = &s->lanes[i];
        if (ln->nwait * 2 > ln->hold || now < ln->paused_until_ms)
            continue;
        if (ln == s->system_lane) {
            int r = take_system(s, ln, (long)(ln->hold - ln->nwait));
            if (r < 0)
                failed = 1;
            else
                work += r;
        }
        if (ln->nwait < ln->hold) {
            int r = take_contacts(s, ln, (long)(ln->hold - ln->nwait));
            if (r < 0)
                failed = 1;
            else
                work += r;
        }
    }
    now = now_ms();
    int64_t next_ms = -1; /* when a waiting message may go */
    for (size_t i = 0; i < s->nlanes; i++) {
        lane *ln = &s->lanes[i];
        if (!ln->wait_head || now < ln->paused_until_ms)
            goto wake;
        if (recheck_held(s, ln) < 0) {
            failed = 1;
            continue;
        }
        submit_ready(ln, now);
    wake:
        if (ln->wait_head && sms_gw_room(ln->gw) > 0) {
            int64_t at = now < ln->paused_until_ms ? ln->paused_until_ms
                                                   : now + sms_bucket_wait_ms(&ln->bucket, now);
            if (next_ms < 0 || at < next_ms)
                next_ms = at;
        }
    }
    int inflight = total_inflight(s);
    if (inflight > 0) {
        int per = wait_ms / (int)s->nlanes;
        if (next_ms >= 0 && next_ms - now < per)
            per = (int)(next_ms - now);
        for (size_t i = 0; i < s->nlanes; i++) {
            lane *ln = &s->lanes[i];
            work += sms_gw_poll(ln->gw, sms_gw_inflight(ln->gw) > 0 ? (per > 0 ? per : 0) : 0);
        }
    } else if (next_ms >= 0) {
        long nap = (long)(next_ms - now);
        nap_ms(nap < wait_ms ? nap : wait_ms);
    }
    refill(s);
    ecm_metric_set(s->inflight, total_inflight(s));
    if (s->ndone > 0) {
        int r = apply_done(s);
        if (r < 0)
            return -1;
        work += r;
    }
    return failed ? -1 : work;
}

void sms_sender_drain(sms_sender *s, long timeout_ms)
{
    s->draining = 1;
    int64_t until = now_ms() + timeout_ms;
    while ((total_inflight(s) > 0 || s->ndone > 0) && now_ms() < until) {
        /* Nothing new goes out; only answers are awaited and recorded. */
        for (size_t i = 0; i < s->nlanes; i++)
            s->lanes[i].paused_until_ms = until;
        if (sms_sender_step(s, 100) < 0)
            nap_ms(100);
    }
    if (total_inflight(s) > 0 || s->ndone > 0)
        ecm_log_warn("SMS sender stopped with messages unrecorded; they will be recovered",
                     "inflight=%d unrecorded=%zu", total_inflight(s), s->ndone);
}

void sms_sender_run(sms_sender *s, volatile sig_atomic_t *stop, long drain_timeout_ms)
{
    long backoff = 0;
    while (!*stop) {
        int rc = sms_sender_step(s, (int)s->cfg.tick_ms);
        if (rc < 0) {
            backoff = backoff ? backoff * 2 : DB_BACKOFF_MIN_MS;
            if (backoff > DB_BACKOFF_MAX_MS)
                backoff = DB_BACKOFF_MAX_MS;
            for (long t = 0; t < backoff && !*stop; t += 50)
                nap_ms(50);
            continue;
        }
        backoff = 0;
        if (rc == 0 && s->nall == 0) {
            for (long t = 0; t < s->cfg.tick_ms && !*stop; t += 50)
                nap_ms(50);
        }
    }
    sms_sender_drain(s, drain_timeout_ms);
}

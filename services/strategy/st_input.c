#include "st_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_calling.h"
#include "ecm_dnc.h"
#include "ecm_log.h"
#include "ecm_pgarray.h"
#include "ecm_pgval.h"
#include "ecm_phone.h"

static int field_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

/* Per item ($5, its index), a nested loop on the attempts' primary key
 * whatever the table's size (the generic plan of a join read every
 * attempt with a hash join, docs/performance.md): earlier attempts of the
 * round ($4:
 * round_first_attempt) with outcome $2, in all and on the number attempt
 * $3 dialled (attempts keep the number, not its index); and the earlier
 * counted attempts of the round on voice and on sms (NOT_ATTEMPTED never
 * counts). */
static const char SQL_OUTCOME_COUNTS[] =
    "SELECT u.i, h.* FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::int[])"
    " AS u (c, o, n, f, i) CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE a.outcome = u.o),"
    " count(*) FILTER (WHERE a.outcome = u.o AND a.phone = cur.phone),"
    " count(*) FILTER (WHERE a.channel <> 'sms' AND a.outcome <> 'NOT_ATTEMPTED'),"
    " count(*) FILTER (WHERE a.channel = 'sms' AND a.outcome <> 'NOT_ATTEMPTED')"
    " FROM attempts a, attempts cur"
    " WHERE a.contact_id = u.c AND a.attempt <> u.n AND a.attempt >= u.f"
    " AND cur.contact_id = u.c AND cur.attempt = u.n) h";

/* Per item ($4, its index), by the attempts' primary key (OFFSET 0 keeps
 * the subquery a nested loop): business dispatch times of the counted
 * attempts of the last days (ECM_DECIDE_DAY_LOOKBACK_MS $6 before $5,
 * business now): NOT_ATTEMPTED never counts, nor an attempt withdrawn from
 * the dialer undialled (status 'withdrawn'; one dialled all the same is
 * 'done' once its result is recorded), and the item's attempt only when its
 * result counts ($3). Rows written before dispatched_at existed fall back
 * to sending_at. */
static const char SQL_DAY_ATTEMPTS[] =
    "SELECT u.i, d.ms"
    " FROM unnest($1::bigint[], $2::int[], $3::boolean[], $4::int[]) AS u (c, a, counts, i)"
    " CROSS JOIN LATERAL (SELECT"
    "  floor(extract(epoch FROM coalesce(t.dispatched_at, t.sending_at)) * 1000)::bigint AS ms"
    "  FROM attempts t WHERE t.contact_id = u.c"
    "  AND coalesce(t.dispatched_at, t.sending_at) >="
    "   'epoch'::timestamptz + ($5::bigint - $6::bigint) * interval '1 millisecond'"
    "  AND t.outcome IS DISTINCT FROM 'NOT_ATTEMPTED' AND t.status <> 'withdrawn'"
    "  AND NOT (t.attempt = u.a AND NOT u.counts) OFFSET 0) d"
    " ORDER BY u.i";

/* Each number of the contact, in order, with its type and whether it is
 * on the SMS do-not-contact list: where an SMS after a switch may go. */
static const char SQL_SMS_NUMBERS[] = "SELECT u.t, " ECM_DNC_BLOCKED_SQL(
    "u.p", "k.campaign_id",
    "'sms'") " FROM contacts k,"
             " unnest(k.phones, k.phone_types) WITH ORDINALITY AS u (p, t, i)"
             " WHERE k.id = $1 AND u.p IS NOT NULL ORDER BY u.i";

void st_item_release(st_item *it)
{
    free(it->day);
    it->day = NULL;
    it->day_cap = 0;
    json_decref(it->zones.phone_zones_json);
    free(it->zones.phone_zones);
    free(it->zones.contact_tz);
    free(it->zones.campaign_tz);
    memset(&it->zones, 0, sizeof(it->zones));
    st_rules_data_destroy(&it->rules);
}

/* "voice" -> ECM_DECIDE_CH_VOICE, "sms" -> ECM_DECIDE_CH_SMS, else dflt. */
static ecm_decide_channel channel_of(const char *name, ecm_decide_channel dflt)
{
    if (name && strcmp(name, "voice") == 0)
        return ECM_DECIDE_CH_VOICE;
    if (name && strcmp(name, "sms") == 0)
        return ECM_DECIDE_CH_SMS;
    return dflt;
}

/* The callback time for the decision on r: the result's own callback_at
 * when it is ahead of now_ms, else the one stored on the contact (POST
 * /api/v1/contacts/{id}/callback) when that is ahead, else 0 (none). A time
 * already past was used by the dispatch that led to this result, or came
 * too late to matter. */
static int64_t callback_time(const st_result *r, const PGresult *k, int row, int64_t now_ms)
{
    if (r->callback_at_ms > now_ms)
        return r->callback_at_ms;
    int64_t stored = ecm_pgval_ll(k, row, K_CALLBACK_AT_MS, 0);
    return stored > now_ms ? stored : 0;
}

void st_input_base(st_item *it, const PGresult *k, int64_t now_ms)
{
    ecm_decide_in *in = &it->in;
    const st_result *r = it->r;
    int row = it->row;
    memset(in, 0, sizeof(*in));
    in->counted_attempts = (int)ecm_pgval_ll(k, row, K_COUNTED, 0);
    in->phone_index = (int)ecm_pgval_ll(k, row, K_PHONE_INDEX, 0);
    in->phone_count = (int)ecm_pgval_ll(k, row, K_PHONE_COUNT, 0);
    in->end_at_ms = ecm_pgval_ll(k, row, K_END_AT_MS, 0);
    in->now_ms = now_ms;
    in->max_attempts = (int)ecm_pgval_ll(k, row, K_MAX_ATTEMPTS, 1);
    in->max_attempts_per_day = (int)ecm_pgval_ll(k, row, K_MAX_PER_DAY, 1);
    if (PQgetisnull(k, row, K_RULE_ACTION))
        in->rule.action = ECM_DECIDE_RULE_NONE;
    else
        in->rule.action = strcmp(PQgetvalue(k, row, K_RULE_ACTION), "retry") == 0
                              ? ECM_DECIDE_RULE_RETRY
                              : ECM_DECIDE_RULE_CLOSE;
    in->rule.delay_seconds = (int)ecm_pgval_ll(k, row, K_RULE_DELAY, 0);
    in->rule.max_attempts = (int)ecm_pgval_ll(k, row, K_RULE_MAX, 1);
    in->rule.next_phone = field_bool(k, row, K_RULE_NEXT_PHONE);
    in->rule.switch_to =
        channel_of(ecm_pgval_str(k, row, K_RULE_SWITCH_CHANNEL), ECM_DECIDE_CH_NONE);
    in->rule.switch_after = (int)ecm_pgval_ll(k, row, K_RULE_SWITCH_AFTER, 1);
    in->max_voice_attempts = (int)ecm_pgval_ll(k, row, K_MAX_VOICE, 0);
    in->max_sms_attempts = (int)ecm_pgval_ll(k, row, K_MAX_SMS, 0);
    /* the attempt's own channel: voice_ivr and voice_agent are voice */
    const char *ach = ecm_pgval_str(k, row, K_ATTEMPT_CHANNEL);
    in->channel = ach && strcmp(ach, "sms") == 0 ? ECM_DECIDE_CH_SMS : ECM_DECIDE_CH_VOICE;
    in->outcome = r->outcome;
    in->counts_as_attempt = r->counts_as_attempt;
    in->callback_at_ms = callback_time(r, k, row, now_ms);
    it->history = ecm_decide_needs_history(in);
    const char *first = ecm_pgval_str(k, row, K_ROUND_FIRST);
    it->round_first = first ? (int)strtol(first, NULL, 10) : -1;
}

/* Index i of a statement's row, checked against n; -1 when out of range. */
static long item_index(const PGresult *res, int row, size_t n)
{
    long long i = ecm_pgval_ll(res, row, 0, -1);
    return i >= 0 && (size_t)i < n ? (long)i : -1;
}

/* Arrays of one statement, built together. */
typedef struct {
    ecm_pgarr a[4];
    size_t n;
} arrays;

static void arrays_init(arrays *x, size_t n)
{
    x->n = n;
    for (size_t i = 0; i < n; i++)
        ecm_pgarr_init(&x->a[i]);
}

static void arrays_destroy(arrays *x)
{
    for (size_t i = 0; i < x->n; i++)
        ecm_pgarr_destroy(&x->a[i]);
}

static int wants_history(const st_item *it)
{
    return it->current && it->history;
}

static int load_counts(ecm_pg *pg, st_item *items, size_t n, const char *contacts,
                       const char *attempts, const char *indexes)
{
    arrays x;
    arrays_init(&x, 2);
    for (size_t i = 0; i < n; i++) {
        if (!wants_history(&items[i]))
            continue;
        ecm_pgarr_add_str(&x.a[0], items[i].outcome);
        if (items[i].round_first < 0)
            ecm_pgarr_add_str(&x.a[1], NULL);
        else
            ecm_pgarr_add_int(&x.a[1], items[i].round_first);
    }
    const char *outcomes = ecm_pgarr_finish(&x.a[0]), *firsts = ecm_pgarr_finish(&x.a[1]);
    PGresult *res = NULL;
    if (outcomes != NULL && firsts != NULL) {
        const char *p[] = {contacts, outcomes, attempts, firsts, indexes};
        res = ecm_pg_exec(pg, SQL_OUTCOME_COUNTS, 5, p);
    }
    arrays_destroy(&x);
    if (res == NULL)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        long i = item_index(res, row, n);
        if (i < 0)
            continue;
        ecm_decide_in *in = &items[i].in;
        in->outcome_attempts = (int)ecm_pgval_ll(res, row, 1, 0);
        in->phone_outcome_attempts = (int)ecm_pgval_ll(res, row, 2, 0);
        in->channel_attempts[ECM_DECIDE_CH_VOICE] = (int)ecm_pgval_ll(res, row, 3, 0);
        in->channel_attempts[ECM_DECIDE_CH_SMS] = (int)ecm_pgval_ll(res, row, 4, 0);
    }
    PQclear(res);
    return 0;
}

static int add_day(st_item *it, int64_t ms)
{
    if (it->in.counted_dispatches == it->day_cap) {
        size_t cap = it->day_cap ? it->day_cap * 2 : 8;
        int64_t *d = realloc(it->day, cap * sizeof(*d));
        if (d == NULL)
            return -1;
        it->day = d;
        it->day_cap = cap;
    }
    it->day[it->in.counted_dispatches++] = ms;
    it->in.counted_dispatch_ms = it->day;
    return 0;
}

static int load_days(ecm_pg *pg, st_item *items, size_t n, int64_t now_ms, const char *contacts,
                     const char *attempts, const char *indexes)
{
    ecm_pgarr counts;
    ecm_pgarr_init(&counts);
    for (size_t i = 0; i < n; i++)
        if (wants_history(&items[i]))
            ecm_pgarr_add_str(&counts, items[i].r->counts_as_attempt ? "true" : "false");
    char now_s[24], lookback_s[24];
    snprintf(now_s, sizeof(now_s), "%lld", (long long)now_ms);
    snprintf(lookback_s, sizeof(lookback_s), "%lld", (long long)ECM_DECIDE_DAY_LOOKBACK_MS);
    const char *counts_s = ecm_pgarr_finish(&counts);
    PGresult *res = NULL;
    if (counts_s != NULL) {
        const char *p[] = {contacts, attempts, counts_s, indexes, now_s, lookback_s};
        res = ecm_pg_exec(pg, SQL_DAY_ATTEMPTS, 6, p);
    }
    ecm_pgarr_destroy(&counts);
    if (res == NULL)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples(res) && rc == 0; row++) {
        long i = item_index(res, row, n);
        if (i >= 0)
            rc = add_day(&items[i], ecm_pgval_ll(res, row, 1, 0));
    }
    PQclear(res);
    return rc;
}

int st_input_history(ecm_pg *pg, st_item *items, size_t n, int64_t now_ms)
{
    arrays x;
    arrays_init(&x, 3);
    size_t wanted = 0;
    for (size_t i = 0; i < n; i++) {
        if (!wants_history(&items[i]))
            continue;
        wanted++;
        ecm_pgarr_add_int(&x.a[0], items[i].r->contact_id);
        ecm_pgarr_add_int(&x.a[1], items[i].r->attempt);
        ecm_pgarr_add_int(&x.a[2], (long long)i);
    }
    const char *contacts = ecm_pgarr_finish(&x.a[0]), *attempts = ecm_pgarr_finish(&x.a[1]),
               *indexes = ecm_pgarr_finish(&x.a[2]);
    int rc = 0;
    if (wanted > 0)
        rc = contacts == NULL || attempts == NULL || indexes == NULL ||
                     load_counts(pg, items, n, contacts, attempts, indexes) != 0 ||
                     load_days(pg, items, n, now_ms, contacts, attempts, indexes) != 0
                 ? -1
                 : 0;
    arrays_destroy(&x);
    return rc;
}

static char *dup_field(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

/* Fills it->in.calling from the locked contact row. Without a usable
 * window (no cache, a row edited by hand, out of memory) the window stays
 * NULL: the retry is then only bounded by end_at, and the dispatcher, which
 * refuses the same window, holds the contact. */
static void calling_of(const st_results_ctx *ctx, st_item *it, const PGresult *k)
{
    ecm_decide_calling *out = &it->in.calling;
    st_zones *z = &it->zones;
    int row = it->row, phone_count = it->in.phone_count;
    memset(out, 0, sizeof(*out));
    z->contact_tz = dup_field(k, row, K_CONTACT_TZ);
    z->campaign_tz = dup_field(k, row, K_CAMPAIGN_TZ);
    out->contact_tz = z->contact_tz;
    out->campaign_tz = z->campaign_tz;

    if (!PQgetisnull(k, row, K_PHONE_ZONES) && phone_count > 0) {
        z->phone_zones_json = json_loads(PQgetvalue(k, row, K_PHONE_ZONES), 0, NULL);
        z->phone_zones = calloc((size_t)phone_count, sizeof(*z->phone_zones));
        if (json_is_array(z->phone_zones_json) && z->phone_zones != NULL) {
            for (int i = 0; i < phone_count && (size_t)i < json_array_size(z->phone_zones_json);
                 i++)
                z->phone_zones[i] = json_string_value(json_array_get(z->phone_zones_json, i));
            out->phone_zones = z->phone_zones;
        }
    }

    if (ctx->calling == NULL)
        return;
    char errstr[256];
    out->window = ecm_calling_cache_get(
        ctx->calling, it->campaign_id, PQgetvalue(k, row, K_VERSION),
        ecm_pgval_str(k, row, K_CALL_WINDOW), ecm_pgval_str(k, row, K_START_AT_MS),
        ecm_pgval_str(k, row, K_END_AT_MS), errstr, sizeof(errstr));
    if (out->window == NULL)
        ecm_log_warn("campaign calling window unusable; retry bounded by end_at only",
                     "campaign %lld: %s", (long long)it->campaign_id, errstr);
}

/* Whether the rule's switch (in->rule.switch_to, another channel than the
 * attempt's) is possible for the locked contact, the channel caps aside
 * (ecm_decide checks those): in->switch_blocked NULL, or why not; for sms
 * in->switch_phone_index is the first number that may be mobile
 * (ecm_phone_type_may_be_mobile, the upload's test for SMS campaigns) and
 * is not on the SMS do-not-contact list. Returns 0, or -1 when the
 * statement fails (the caller rolls back). */
static int switch_check(ecm_pg *pg, st_item *it, const PGresult *k)
{
    ecm_decide_in *in = &it->in;
    in->switch_blocked = NULL;
    in->switch_phone_index = in->phone_index;
    if (in->rule.switch_to == ECM_DECIDE_CH_NONE || in->rule.switch_to == in->channel)
        return 0;
    if (in->rule.switch_to == ECM_DECIDE_CH_VOICE) {
        if (!field_bool(k, it->row, K_HAS_VOICE))
            in->switch_blocked = "campaign has no Cisco target";
        return 0;
    }
    if (!field_bool(k, it->row, K_HAS_SMS)) {
        in->switch_blocked = "campaign has no SMS template";
        return 0;
    }
    const char *p[] = {it->contact};
    PGresult *n = ecm_pg_exec(pg, SQL_SMS_NUMBERS, 1, p);
    if (n == NULL)
        return -1;
    int mobiles = 0, first = -1;
    for (int i = 0; i < PQntuples(n); i++) {
        const char *type = ecm_pgval_str(n, i, 0);
        if (!type || !ecm_phone_type_may_be_mobile(ecm_phone_type_from_name(type)))
            continue;
        mobiles++;
        if (!field_bool(n, i, 1)) {
            first = i;
            break;
        }
    }
    PQclear(n);
    if (mobiles == 0)
        in->switch_blocked = "no mobile number";
    else if (first < 0)
        in->switch_blocked = "every mobile number is on the SMS do-not-contact list";
    else
        in->switch_phone_index = first;
    return 0;
}

int st_input_calendar(ecm_pg *pg, const st_results_ctx *ctx, st_item *it, const PGresult *k,
                      int64_t generation)
{
    /* The switch comes first: the contact rules are those of the next
     * attempt's channel. */
    calling_of(ctx, it, k);
    if (switch_check(pg, it, k) != 0)
        return -1;
    return st_rules_of(pg, ctx->rules, generation, k, it->row, K_RULES_FIRST, it->r->contact_id,
                       it->campaign_id, it->in.now_ms, ecm_decide_next_channel(&it->in),
                       &it->in.calling, &it->rules);
}

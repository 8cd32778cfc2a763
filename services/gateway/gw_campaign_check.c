#include "gw_campaign_check.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_clock.h"
#include "ecm_odbc.h"
#include "ecm_phone.h"
#include "ecm_sms.h"
#include "ecm_utf8.h"
#include "ecm_window.h"
#include "gw_rule_check.h"

#define GW_CAMPAIGN_NAME_MAX 200
/* Far beyond Kannel's 10 concatenated parts once rendered; a bound all the
 * same. */
#define GW_SMS_TEMPLATE_MAX 4096
#define GW_SMS_SENDER_MAX 16
#define GW_DLR_TIMEOUT_MAX (7 * 86400)

int gw_rfc3339_parse(const char *s, int64_t *ms)
{
    /* The API takes RFC 3339 only; ecm_clock_parse_time also reads integer
     * milliseconds, which a campaign's schedule must not be written as. */
    if (strlen(s) < 20 || s[4] != '-') {
        return -1;
    }
    return ecm_clock_parse_time(s, ms);
}

/* Characters of a client's key quoted in a reason, and the bytes they take. */
#define GW_KEY_SHOWN_CHARS 40
#define GW_KEY_SHOWN_SIZE (GW_KEY_SHOWN_CHARS * 4 + 4)

static int fail(const char **field, const char *name, char *reason, size_t reason_size,
                const char *msg)
{
    *field = name;
    (void)snprintf(reason, reason_size, "%s", msg);
    return -1;
}

/* An unknown member key of the object name: quoted by characters (a key is
 * the client's text), so the reason stays valid UTF-8. Returns -1. */
static int fail_unknown(const char **field, const char *name, const char *key, char *reason,
                        size_t reason_size)
{
    char shown[GW_KEY_SHOWN_SIZE];
    *field = name;
    (void)ecm_utf8_format(reason, reason_size, "unknown member '%s'",
                          ecm_utf8_quote(shown, sizeof(shown), key, GW_KEY_SHOWN_CHARS));
    return -1;
}

/* A member that must be a non-empty string when present. Returns 1 when
 * present and good, 0 when absent or null, -1 when bad. */
static int opt_string(const json_t *body, const char *key, const char **out)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

int gw_region_known(const char *region)
{
    if (!region || strlen(region) != 2 || !isupper((unsigned char)region[0]) ||
        !isupper((unsigned char)region[1])) {
        return 0;
    }
    /* libphonenumber checks the default region before it reads the number,
     * and a number written with '+' parses whatever the region: so this
     * fails exactly when it does not know the region. */
    ecm_phone_info info;
    char err[80];
    return ecm_phone_normalize("+12125550100", region, &info, err, sizeof(err)) == 0;
}

/* call_window: null/absent (every day, legal hours only) or a weekly window
 * with some open time inside the legal hours; stored canonical. */
static int validate_window(const json_t *body, const ecm_legal_hours *legal, gw_campaign_input *out,
                           const char **field, char *reason, size_t reason_size)
{
    json_t *w = json_object_get(body, "call_window");
    out->call_window = NULL;
    if (!w || json_is_null(w)) {
        return 0;
    }
    if (!json_is_object(w)) {
        return fail(field, "call_window", reason, reason_size,
                    "must be null or an object such as {\"mon\": [[\"09:00\", \"17:00\"]]}");
    }
    ecm_window *win = NULL;
    char err[160];
    if (ecm_window_parse_json(w, &win, err, sizeof(err)) != 0) {
        *field = "call_window";
        (void)snprintf(reason, reason_size, "%s", err);
        return -1;
    }
    ecm_legal_hours hours = {ECM_WINDOW_LEGAL_START_DEFAULT, ECM_WINDOW_LEGAL_END_DEFAULT};
    if (legal) {
        hours = *legal;
    }
    int open =
        ecm_window_set_legal_hours(win, hours.start_min, hours.end_min, err, sizeof(err)) == 0 &&
        ecm_window_has_open_time(win);
    json_t *canon = open ? ecm_window_to_json(win) : NULL;
    ecm_window_destroy(win);
    if (!open) {
        *field = "call_window";
        (void)snprintf(reason, reason_size,
                       "no open time inside the legal calling hours (%02d:%02d-%02d:%02d local): "
                       "nobody would ever be called",
                       hours.start_min / 60, hours.start_min % 60, hours.end_min / 60,
                       hours.end_min % 60);
        return -1;
    }
    char *text = canon ? json_dumps(canon, JSON_COMPACT) : NULL;
    json_decref(canon);
    if (!text) {
        return fail(field, "call_window", reason, reason_size, "out of memory");
    }
    int n = snprintf(out->call_window_buf, sizeof(out->call_window_buf), "%s", text);
    free(text);
    if (n < 0 || (size_t)n >= sizeof(out->call_window_buf)) {
        return fail(field, "call_window", reason, reason_size, "too many ranges");
    }
    out->call_window = out->call_window_buf;
    return 0;
}

/* The Cisco campaign id: a positive integer (JSON number or digits), kept
 * as text; it goes into Cisco's URLs and tables. Returns 0 or -1. */
static int cisco_campaign_id(const json_t *id, gw_campaign_input *out)
{
    if (json_is_integer(id) && json_integer_value(id) > 0) {
        int n = snprintf(out->cisco_id_buf, sizeof(out->cisco_id_buf), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(id));
        if (n < 0 || (size_t)n >= sizeof(out->cisco_id_buf) || n > 10) {
            return -1;
        }
        out->cisco_campaign_id = out->cisco_id_buf;
        return 0;
    }
    const char *s = json_string_value(id);
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > 10 || s[0] == '0' || strspn(s, "0123456789") != len) {
        return -1;
    }
    out->cisco_campaign_id = s;
    return 0;
}

/* The optional table name member `key` of a ucce_db target into *out;
 * `what` ("cisco.<key>", a literal: *field keeps it) names it in errors.
 * Returns 0 or -1 (reason written). */
static int cisco_table(const json_t *cisco, const char *key, const char *what, const char *kind,
                       const char **out, const char **field, char *reason, size_t reason_size)
{
    const char *v = NULL;
    int has = opt_string(cisco, key, &v);
    if (has < 0) {
        return fail(field, what, reason, reason_size, "must be a string");
    }
    if (has == 0) {
        return 0;
    }
    if (strcmp(kind, "ucce_db") != 0) {
        return fail(field, what, reason, reason_size, "only a ucce_db target has one");
    }
    char err[160];
    if (ecm_odbc_validate_identifier(v, err, sizeof err) != 0) {
        return fail(field, what, reason, reason_size, err);
    }
    *out = v;
    return 0;
}

static int validate_cisco(const json_t *cisco, gw_campaign_input *out, const char **field,
                          char *reason, size_t reason_size)
{
    static const char *const known[] = {"kind", "campaign_id", "import_table", "dialing_list"};
    if (!json_is_object(cisco)) {
        return fail(field, "cisco", reason, reason_size,
                    "must be an object {\"kind\": \"uccx\", \"campaign_id\": \"...\"}");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)cisco, key, v)
    {
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(key, known[k]) != 0) {
            k++;
        }
        if (k == sizeof known / sizeof known[0]) {
            return fail_unknown(field, "cisco", key, reason, reason_size);
        }
    }
    const char *kind = NULL;
    if (opt_string(cisco, "kind", &kind) != 1 ||
        (strcmp(kind, "uccx") != 0 && strcmp(kind, "ucce_api") != 0 &&
         strcmp(kind, "ucce_db") != 0)) {
        return fail(field, "cisco.kind", reason, reason_size,
                    "must be \"uccx\", \"ucce_api\" or \"ucce_db\"");
    }
    if (cisco_campaign_id(json_object_get(cisco, "campaign_id"), out) != 0) {
        return fail(field, "cisco.campaign_id", reason, reason_size,
                    "required: the Cisco campaign's id, a positive integer (at most 10 digits)");
    }
    if (cisco_table(cisco, "import_table", "cisco.import_table", kind, &out->cisco_import_table,
                    field, reason, reason_size) != 0 ||
        cisco_table(cisco, "dialing_list", "cisco.dialing_list", kind, &out->cisco_dialing_list,
                    field, reason, reason_size) != 0) {
        return -1;
    }
    if (strcmp(kind, "ucce_db") == 0 && !out->cisco_import_table) {
        return fail(field, "cisco.import_table", reason, reason_size,
                    "required for ucce_db: the import table the Campaign Manager's import rule "
                    "reads");
    }
    out->cisco_kind = kind;
    return 0;
}

static int count_placeholder(void *ctx, const char *name)
{
    (void)name;
    (*(size_t *)ctx)++;
    return 0;
}

static int validate_sms(const json_t *sms, gw_campaign_input *out, const char **field, char *reason,
                        size_t reason_size)
{
    static const char *const known[] = {"template", "sender", "gateway", "dlr_timeout_s"};
    if (!json_is_object(sms)) {
        return fail(field, "sms", reason, reason_size,
                    "must be an object {\"template\": \"Hello {first_name}\", ...}");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)sms, key, v)
    {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(known[k], key) != 0) {
            k++;
        }
        if (k == sizeof(known) / sizeof(known[0])) {
            return fail_unknown(field, "sms", key, reason, reason_size);
        }
    }
    if (opt_string(sms, "template", &out->sms_template) != 1) {
        return fail(field, "sms.template", reason, reason_size,
                    "required: the message text, e.g. \"Hello {first_name}\"");
    }
    if (strlen(out->sms_template) > GW_SMS_TEMPLATE_MAX) {
        return fail(field, "sms.template", reason, reason_size, "at most 4096 bytes");
    }
    char err[160];
    size_t nfields = 0;
    if (ecm_sms_template_foreach(out->sms_template, count_placeholder, &nfields, err,
                                 sizeof(err)) != 0) {
        *field = "sms.template";
        (void)snprintf(reason, reason_size, "%s", err);
        return -1;
    }
    int rs = opt_string(sms, "sender", &out->sms_sender);
    if (rs < 0 || (rs == 1 && strlen(out->sms_sender) > GW_SMS_SENDER_MAX)) {
        return fail(field, "sms.sender", reason, reason_size,
                    "must be a sender id or number of at most 16 characters");
    }
    if (rs == 1) {
        for (const char *p = out->sms_sender; *p; p++) {
            if (*p < ' ' || *p > '~') {
                return fail(field, "sms.sender", reason, reason_size,
                            "must be printable ASCII (an SMS sender id)");
            }
        }
    }
    out->sms_gateway = "kannel";
    if (opt_string(sms, "gateway", &out->sms_gateway) < 0 ||
        (strcmp(out->sms_gateway, "kannel") != 0 && strcmp(out->sms_gateway, "http") != 0)) {
        return fail(field, "sms.gateway", reason, reason_size, "must be \"kannel\" or \"http\"");
    }
    out->dlr_timeout_s = GW_DLR_TIMEOUT_DEFAULT;
    json_t *t = json_object_get(sms, "dlr_timeout_s");
    if (t && !json_is_null(t)) {
        if (!json_is_integer(t) || json_integer_value(t) < 1 ||
            json_integer_value(t) > GW_DLR_TIMEOUT_MAX) {
            return fail(field, "sms.dlr_timeout_s", reason, reason_size,
                        "must be a number of seconds from 1 to 604800 (7 days)");
        }
        out->dlr_timeout_s = (long long)json_integer_value(t);
    }
    return 0;
}

int gw_campaign_validate(const json_t *body, gw_campaign_input *out, const char **field,
                         char *reason, size_t reason_size)
{
    return gw_campaign_validate_legal(body, NULL, out, field, reason, reason_size);
}

/* Every member of body is one a campaign has. Returns 0 or -1 (field,
 * reason). */
static int validate_members(const json_t *body, const char **field, char *reason,
                            size_t reason_size)
{
    static const char *const known[] = {"name",          "channel",     "strategy",  "strategy_id",
                                        "cisco",         "region",      "time_zone", "start_at",
                                        "end_at",        "call_window", "sms",       "rule_sets",
                                        "blackout_dates"};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(known[k], key) != 0) {
            k++;
        }
        if (k == sizeof(known) / sizeof(known[0])) {
            return fail_unknown(field, "body", key, reason, reason_size);
        }
    }
    return 0;
}

/* name, channel and strategy (a name, default "Default", or an id). */
static int validate_identity(const json_t *body, gw_campaign_input *out, const char **field,
                             char *reason, size_t reason_size)
{
    if (opt_string(body, "name", &out->name) != 1) {
        return fail(field, "name", reason, reason_size, "required: a non-empty string");
    }
    if (strlen(out->name) > GW_CAMPAIGN_NAME_MAX || isspace((unsigned char)out->name[0])) {
        return fail(field, "name", reason, reason_size,
                    "at most 200 bytes, not starting with a space");
    }
    if (opt_string(body, "channel", &out->channel) != 1 ||
        (strcmp(out->channel, "voice_ivr") != 0 && strcmp(out->channel, "voice_agent") != 0 &&
         strcmp(out->channel, "sms") != 0)) {
        return fail(field, "channel", reason, reason_size,
                    "required: \"voice_ivr\", \"voice_agent\" or \"sms\"");
    }
    json_t *sid = json_object_get(body, "strategy_id");
    if (sid && !json_is_null(sid)) {
        if (!json_is_integer(sid) || json_integer_value(sid) <= 0) {
            return fail(field, "strategy_id", reason, reason_size, "must be a strategy's id");
        }
        json_t *sname = json_object_get(body, "strategy");
        if (sname && !json_is_null(sname)) {
            return fail(field, "strategy", reason, reason_size,
                        "give either strategy (a name) or strategy_id, not both");
        }
        out->strategy_id = (long long)json_integer_value(sid);
        return 0;
    }
    out->strategy = "Default";
    if (opt_string(body, "strategy", &out->strategy) < 0) {
        return fail(field, "strategy", reason, reason_size, "must be a strategy name");
    }
    return 0;
}

/* The Cisco target: required for a voice campaign; optional for sms (the
 * calls of contacts its strategy switches to voice go there). */
static int validate_target(const json_t *body, gw_campaign_input *out, const char **field,
                           char *reason, size_t reason_size)
{
    json_t *cisco = json_object_get(body, "cisco");
    if (cisco && !json_is_null(cisco)) {
        if (validate_cisco(cisco, out, field, reason, reason_size) != 0) {
            return -1;
        }
    } else if (strcmp(out->channel, "sms") != 0) {
        return fail(field, "cisco", reason, reason_size,
                    "required for voice campaigns: {\"kind\": \"uccx\", \"campaign_id\": \"...\"}");
    }
    return 0;
}

/* region (upper-cased into region_buf), time_zone (default UTC), start_at
 * and end_at. */
static int validate_place_period(const json_t *body, gw_campaign_input *out, const char **field,
                                 char *reason, size_t reason_size)
{
    const char *region = NULL;
    int rr = opt_string(body, "region", &region);
    if (rr == 1 && strlen(region) == 2) {
        out->region_buf[0] = (char)toupper((unsigned char)region[0]);
        out->region_buf[1] = (char)toupper((unsigned char)region[1]);
        out->region_buf[2] = '\0';
        out->region = out->region_buf;
    }
    if (rr < 0 || (rr == 1 && !gw_region_known(out->region))) {
        out->region = NULL;
        return fail(field, "region", reason, reason_size,
                    "must be an ISO 3166 alpha-2 country code such as \"US\"");
    }
    out->time_zone = "UTC";
    char canonical[128];
    if (opt_string(body, "time_zone", &out->time_zone) < 0 ||
        ecm_window_tz_canonical(out->time_zone, canonical, sizeof(canonical)) != 0) {
        return fail(field, "time_zone", reason, reason_size,
                    "must be an IANA time zone name such as \"America/New_York\"");
    }
    int rs = opt_string(body, "start_at", &out->start_at);
    if (rs < 0 || (rs == 1 && gw_rfc3339_parse(out->start_at, &out->start_ms) != 0)) {
        return fail(field, "start_at", reason, reason_size,
                    "must be an RFC 3339 date-time with offset, e.g. \"2026-11-24T09:00:00Z\"");
    }
    int re = opt_string(body, "end_at", &out->end_at);
    if (re < 0 || (re == 1 && gw_rfc3339_parse(out->end_at, &out->end_ms) != 0)) {
        return fail(field, "end_at", reason, reason_size,
                    "must be an RFC 3339 date-time with offset, e.g. \"2026-11-30T18:00:00Z\"");
    }
    if (rs == 1 && re == 1 && out->end_ms <= out->start_ms) {
        return fail(field, "end_at", reason, reason_size, "must be after start_at");
    }
    return 0;
}

/* A reason about item i of the list named list ("rule_sets[2]"). Returns
 * -1. field must stay valid: it is the caller's buffer of the input. */
static int item_fail(const char **field, char *field_buf, size_t field_size, const char *list,
                     size_t i, const char *member, char *reason, size_t reason_size,
                     const char *msg)
{
    (void)snprintf(field_buf, field_size, "%s[%zu]%s%s", list, i, member ? "." : "",
                   member ? member : "");
    *field = field_buf;
    (void)snprintf(reason, reason_size, "%s", msg);
    return -1;
}

static int validate_rule_sets(const json_t *body, gw_campaign_input *out, const char **field,
                              char *reason, size_t reason_size)
{
    json_t *list = json_object_get(body, "rule_sets");
    if (!list || json_is_null(list)) {
        return 0;
    }
    if (!json_is_array(list) || json_array_size(list) > GW_CAMPAIGN_RULE_SETS_MAX) {
        return fail(field, "rule_sets", reason, reason_size,
                    "must be a list of at most 50 rule sets, each a name or an id, e.g. "
                    "[\"US federal (TCPA)\"]");
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        json_t *id = json_is_object(v) ? json_object_get(v, "id") : v;
        int good = (json_is_string(v) && json_string_length(v) > 0 &&
                    json_string_length(v) <= GW_RULE_SET_NAME_MAX) ||
                   (json_is_integer(id) && json_integer_value(id) > 0);
        if (!good) {
            return item_fail(field, out->field_buf, sizeof(out->field_buf), "rule_sets", i, NULL,
                             reason, reason_size,
                             "must be a rule set's name, its id, or {\"id\": id}");
        }
    }
    out->rule_sets = list;
    return 0;
}

static int validate_blackouts(const json_t *body, gw_campaign_input *out, const char **field,
                              char *reason, size_t reason_size)
{
    json_t *list = json_object_get(body, "blackout_dates");
    if (!list || json_is_null(list)) {
        return 0;
    }
    if (!json_is_array(list) || json_array_size(list) > GW_CAMPAIGN_BLACKOUTS_MAX) {
        return fail(field, "blackout_dates", reason, reason_size,
                    "must be a list of at most 1000 days, e.g. [{\"date\": \"2026-12-24\", "
                    "\"reason\": \"office closed\"}]");
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        char *fb = out->field_buf;
        size_t fs = sizeof(out->field_buf);
        if (!json_is_object(v)) {
            return item_fail(field, fb, fs, "blackout_dates", i, NULL, reason, reason_size,
                             "must be an object {\"date\": \"YYYY-MM-DD\", \"reason\": \"...\"}");
        }
        const char *key;
        json_t *m;
        json_object_foreach(v, key, m)
        {
            if (strcmp(key, "date") != 0 && strcmp(key, "reason") != 0) {
                char shown[GW_KEY_SHOWN_SIZE];
                (void)snprintf(fb, fs, "blackout_dates[%zu]", i);
                *field = fb;
                (void)ecm_utf8_format(
                    reason, reason_size, "unknown member '%s' (date, reason)",
                    ecm_utf8_quote(shown, sizeof(shown), key, GW_KEY_SHOWN_CHARS));
                return -1;
            }
        }
        const char *date = json_string_value(json_object_get(v, "date"));
        if (!date || !gw_rule_date_valid(date)) {
            return item_fail(field, fb, fs, "blackout_dates", i, "date", reason, reason_size,
                             "required: a calendar date YYYY-MM-DD (years 2000 to 2199)");
        }
        json_t *why = json_object_get(v, "reason");
        if (why && !json_is_null(why) &&
            (!json_is_string(why) || json_string_length(why) > GW_CAMPAIGN_BLACKOUT_REASON_MAX)) {
            return item_fail(field, fb, fs, "blackout_dates", i, "reason", reason, reason_size,
                             "must be a string of at most 200 bytes, or null");
        }
        for (size_t j = 0; j < i; j++) {
            const char *other = json_string_value(json_object_get(json_array_get(list, j), "date"));
            if (strcmp(other, date) == 0) {
                return item_fail(field, fb, fs, "blackout_dates", i, "date", reason, reason_size,
                                 "this date is in the list already");
            }
        }
    }
    out->blackout_dates = list;
    return 0;
}

static int cmp_blackout(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    return strcmp(json_string_value(json_object_get(x, "date")),
                  json_string_value(json_object_get(y, "date")));
}

json_t *gw_campaign_blackouts_canonical(const json_t *dates)
{
    size_t n = json_array_size(dates);
    json_t **items = calloc(n ? n : 1, sizeof(*items));
    json_t *out = json_array();
    if (!items || !out) {
        free(items);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        items[i] = json_array_get(dates, i);
    }
    qsort(items, n, sizeof(*items), cmp_blackout);
    for (size_t i = 0; i < n; i++) {
        const char *why = json_string_value(json_object_get(items[i], "reason"));
        json_t *d = json_pack("{sO ss}", "date", json_object_get(items[i], "date"), "reason",
                              why ? why : "");
        if (!d || json_array_append_new(out, d) != 0) {
            free(items);
            json_decref(out);
            return NULL;
        }
    }
    free(items);
    return out;
}

int gw_campaign_validate_legal(const json_t *body, const ecm_legal_hours *legal,
                               gw_campaign_input *out, const char **field, char *reason,
                               size_t reason_size)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(body)) {
        return fail(field, "body", reason, reason_size, "must be a JSON object");
    }
    if (validate_members(body, field, reason, reason_size) != 0 ||
        validate_identity(body, out, field, reason, reason_size) != 0 ||
        validate_target(body, out, field, reason, reason_size) != 0 ||
        validate_place_period(body, out, field, reason, reason_size) != 0 ||
        validate_window(body, legal, out, field, reason, reason_size) != 0 ||
        validate_rule_sets(body, out, field, reason, reason_size) != 0 ||
        validate_blackouts(body, out, field, reason, reason_size) != 0) {
        return -1;
    }
    /* Required for an sms campaign; optional for voice (the texts of
     * contacts its strategy switches to SMS). */
    int is_sms = strcmp(out->channel, "sms") == 0;
    json_t *sms = json_object_get(body, "sms");
    if (!is_sms && (!sms || json_is_null(sms))) {
        return 0;
    }
    if (!sms || json_is_null(sms)) {
        return fail(field, "sms", reason, reason_size,
                    "required for sms campaigns: {\"template\": \"Hello {first_name}\"}");
    }
    return validate_sms(sms, out, field, reason, reason_size);
}

/* Members a PATCH may name, and whether an active campaign may change them
 * (its schedule and name; what it is and how it reaches people wait for a
 * pause). */
static const struct {
    const char *name;
    int in_active;
} patchable[] = {
    {"name", 1},   {"call_window", 1}, {"time_zone", 1},   {"start_at", 1},
    {"end_at", 1}, {"strategy", 0},    {"strategy_id", 0}, {"region", 0},
    {"sms", 0},    {"cisco", 0},       {"rule_sets", 1},   {"blackout_dates", 1},
};

int gw_campaign_patch_check(const char *state, const json_t *patch, const char **field,
                            char *reason, size_t reason_size)
{
    if (!json_is_object(patch)) {
        return fail(field, "body", reason, reason_size, "must be a JSON object");
    }
    int editable = strcmp(state, "draft") == 0 || strcmp(state, "paused") == 0;
    int active = strcmp(state, "active") == 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)patch, key, v)
    {
        if (strcmp(key, "channel") == 0) {
            return fail(field, "channel", reason, reason_size,
                        "a campaign's channel never changes; create another campaign");
        }
        size_t k = 0;
        while (k < sizeof(patchable) / sizeof(patchable[0]) &&
               strcmp(patchable[k].name, key) != 0) {
            k++;
        }
        if (k == sizeof(patchable) / sizeof(patchable[0])) {
            return fail_unknown(field, "body", key, reason, reason_size);
        }
        if (!editable && !(active && patchable[k].in_active)) {
            *field = patchable[k].name;
            if (active) {
                (void)snprintf(reason, reason_size,
                               "can't change while the campaign is active; pause it first");
            } else {
                (void)snprintf(reason, reason_size, "the campaign is %.20s: it can't be changed",
                               state);
            }
            return 1;
        }
    }
    return 0;
}

json_t *gw_campaign_merge(const json_t *current, const json_t *patch)
{
    json_t *out = json_deep_copy(current);
    if (!out) {
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)patch, key, v)
    {
        json_t *cur = json_object_get(out, key);
        int rc;
        if ((strcmp(key, "sms") == 0 || strcmp(key, "cisco") == 0) && json_is_object(cur) &&
            json_is_object(v)) {
            rc = json_object_update(cur, v);
        } else {
            rc = json_object_set(out, key, v);
        }
        if (rc != 0) {
            json_decref(out);
            return NULL;
        }
        if (strcmp(key, "strategy") == 0) {
            (void)json_object_del(out, "strategy_id");
        } else if (strcmp(key, "strategy_id") == 0) {
            (void)json_object_del(out, "strategy");
        }
    }
    return out;
}

const char *gw_campaign_next_state(const char *from, const char *action)
{
    static const struct {
        const char *from, *action, *to;
    } moves[] = {
        {"draft", "activate", "active"}, {"paused", "activate", "active"},
        {"paused", "resume", "active"},  {"active", "pause", "paused"},
        {"active", "stop", "stopped"},   {"paused", "stop", "stopped"},
    };
    if (!from || !action) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
        if (strcmp(moves[i].from, from) == 0 && strcmp(moves[i].action, action) == 0) {
            return moves[i].to;
        }
    }
    return NULL;
}

#include "gw_rule_check.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecm_event.h"
#include "ecm_utf8.h"
#include "ecm_window.h"
#include "gw_json.h"

/* Characters of the client's text quoted in a reason. */
#define SHOWN_CHARS 40
#define SHOWN_SIZE (SHOWN_CHARS * 4 + 4)

/* Rule i's member ("rules[i].member", or "rules[i]" when member is "") and
 * the reason: "'<value>' <msg>" when value is given, else msg. */
static int rule_fail(const gw_why *w, size_t i, const char *member, const char *value,
                     const char *msg)
{
    char shown[SHOWN_SIZE];
    (void)ecm_utf8_format(w->field, w->field_size, "rules[%zu]%s%s", i, member[0] ? "." : "",
                          ecm_utf8_quote(shown, sizeof(shown), member, SHOWN_CHARS));
    if (value) {
        (void)ecm_utf8_format(w->reason, w->reason_size, "'%s' %s",
                              ecm_utf8_quote(shown, sizeof(shown), value, SHOWN_CHARS), msg);
    } else {
        (void)snprintf(w->reason, w->reason_size, "%s", msg);
    }
    return -1;
}

static int in_list(const char *key, const char *const *list)
{
    for (size_t i = 0; list[i]; i++) {
        if (strcmp(list[i], key) == 0) {
            return 1;
        }
    }
    return 0;
}

int gw_rule_hhmm_parse(const char *s, int end, int *minutes)
{
    if (!s || strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4])) {
        return -1;
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !end))) {
        return -1;
    }
    *minutes = h * 60 + m;
    return 0;
}

int gw_rule_date_valid(const char *s)
{
    static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return 0;
    }
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int mo = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 2000 || y > 2199 || mo < 1 || mo > 12 || d < 1) {
        return 0;
    }
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days_in[mo - 1] + (mo == 2 && leap);
}

int gw_rule_jurisdiction_valid(const char *s)
{
    if (!s) {
        return 0;
    }
    if (strcmp(s, "*") == 0) {
        return 1;
    }
    size_t n = strlen(s);
    if (n < 2 || !isupper((unsigned char)s[0]) || !isupper((unsigned char)s[1])) {
        return 0;
    }
    if (n == 2) {
        return 1;
    }
    if (n < 4 || n > 6 || s[2] != '-') {
        return 0;
    }
    for (size_t i = 3; i < n; i++) {
        if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* ---- one rule ----------------------------------------------------------- */

static const char *const KINDS[] = {"hours", "day_off", "cap", "quiet", NULL};
static const char *const COMMON[] = {"kind", "says", "source", "checked_on", "channel", "id", NULL};
static const char *const HOURS[] = {"wdays", "start", "end", NULL};
static const char *const DAY_OFF[] = {"day", NULL};
static const char *const CAP[] = {"max_attempts", "window_s", "window", "scope", NULL};
static const char *const QUIET[] = {"after_outcome", "quiet_s", "quiet", "scope", NULL};
static const char *const *const KIND_MEMBERS[] = {HOURS, DAY_OFF, CAP, QUIET};

/* Every member of rule i is one its kind (index k of KINDS) has. */
static int check_members(const json_t *rule, size_t i, size_t k, const gw_why *w)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)rule, key, v)
    {
        if (in_list(key, COMMON) || in_list(key, KIND_MEMBERS[k])) {
            continue;
        }
        for (size_t o = 0; o < 4; o++) {
            if (in_list(key, KIND_MEMBERS[o])) {
                char msg[96];
                (void)snprintf(msg, sizeof(msg), "belongs to a %s rule, not to a %s rule", KINDS[o],
                               KINDS[k]);
                return rule_fail(w, i, key, NULL, msg);
            }
        }
        return rule_fail(w, i, key, NULL,
                         "unknown member (a rule has kind, says, source, checked_on, channel and "
                         "its kind's members)");
    }
    return 0;
}

/* An optional string member: 1 present (into *out), 0 absent or null, -1
 * not a string. */
static int opt_text(const json_t *obj, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (!json_is_string(v)) {
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

/* A required integer member in [min, max] into *out. 0 or -1. */
static int req_int(const json_t *obj, const char *key, long long min, long long max, long long *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        return -1;
    }
    *out = (long long)json_integer_value(v);
    return 0;
}

/* Members every kind has: says, source, checked_on, channel; into doc and
 * row. */
static int check_common(const json_t *rule, size_t i, json_t *doc, json_t *row, const gw_why *w)
{
    const char *says = NULL, *source = NULL, *checked = NULL, *channel = "all";
    if (opt_text(rule, "says", &says) != 1 || !says[0]) {
        return rule_fail(w, i, "says", NULL,
                         "required: what the rule says in plain words, for the compliance "
                         "officer");
    }
    if (strlen(says) > GW_RULE_SAYS_MAX) {
        return rule_fail(w, i, "says", NULL, "at most 1000 bytes");
    }
    int rs = opt_text(rule, "source", &source);
    if (rs < 0 || (rs == 1 && strlen(source) > GW_RULE_SOURCE_MAX)) {
        return rule_fail(w, i, "source", NULL,
                         "must be a string of at most 2000 bytes (the citation), or null");
    }
    int rc = opt_text(rule, "checked_on", &checked);
    if (rc < 0) {
        return rule_fail(w, i, "checked_on", NULL, "must be a date YYYY-MM-DD, or null");
    }
    if (rc == 1 && !gw_rule_date_valid(checked)) {
        return rule_fail(w, i, "checked_on", checked, "is not a date (YYYY-MM-DD)");
    }
    int rch = opt_text(rule, "channel", &channel);
    if (rch < 0 || (strcmp(channel, "voice") != 0 && strcmp(channel, "sms") != 0 &&
                    strcmp(channel, "all") != 0)) {
        return rule_fail(w, i, "channel", NULL, "must be \"voice\", \"sms\" or \"all\"");
    }
    json_t *src = source && source[0] ? json_string(source) : json_null();
    json_t *chk = checked ? json_string(checked) : json_null();
    json_object_set_new(doc, "says", json_string(says));
    json_object_set(doc, "source", src);
    json_object_set(doc, "checked_on", chk);
    json_object_set_new(doc, "channel", json_string(channel));
    json_object_set_new(row, "says", json_string(says));
    json_object_set_new(row, "source", src);
    json_object_set_new(row, "checked_on", chk);
    json_object_set_new(row, "channel", json_string(channel));
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static int check_hours(const json_t *rule, size_t i, json_t *doc, json_t *row, const gw_why *w)
{
    json_t *wdays = json_object_get(rule, "wdays");
    static const char WDAYS_MSG[] =
        "required: the weekdays, a list of distinct numbers 0 (Sunday) to 6 (Saturday)";
    size_t n = json_array_size(wdays);
    if (!json_is_array(wdays) || n == 0 || n > 7) {
        return rule_fail(w, i, "wdays", NULL, WDAYS_MSG);
    }
    int days[7];
    int seen = 0;
    for (size_t d = 0; d < n; d++) {
        json_t *v = json_array_get(wdays, d);
        long long day = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
        if (day < 0 || day > 6 || (seen & (1 << day))) {
            return rule_fail(w, i, "wdays", NULL, WDAYS_MSG);
        }
        seen |= 1 << day;
        days[d] = (int)day;
    }
    qsort(days, n, sizeof(days[0]), cmp_int);
    const char *start = NULL, *end = NULL;
    int smin, emin;
    if (opt_text(rule, "start", &start) != 1) {
        return rule_fail(w, i, "start", NULL,
                         "required: the local time calls may start, \"HH:MM\"");
    }
    if (gw_rule_hhmm_parse(start, 0, &smin) != 0) {
        return rule_fail(w, i, "start", start, "is not a time (HH:MM, 00:00 to 23:59)");
    }
    if (opt_text(rule, "end", &end) != 1) {
        return rule_fail(w, i, "end", NULL,
                         "required: the local time calls must end by, \"HH:MM\" (24:00: midnight)");
    }
    if (gw_rule_hhmm_parse(end, 1, &emin) != 0) {
        return rule_fail(w, i, "end", end, "is not a time (HH:MM, 00:00 to 24:00)");
    }
    if (emin <= smin) {
        return rule_fail(w, i, "end", end,
                         "is not after start: the range would open no minute (24:00 ends the day)");
    }
    json_t *list = json_array();
    for (size_t d = 0; d < n; d++) {
        json_array_append_new(list, json_integer(days[d]));
    }
    json_object_set(doc, "wdays", list);
    json_object_set_new(row, "wdays", list);
    json_object_set_new(doc, "start", json_string(start));
    json_object_set_new(doc, "end", json_string(end));
    json_object_set_new(row, "start_min", json_integer(smin));
    json_object_set_new(row, "end_min", json_integer(emin));
    return 0;
}

static int check_day_off(const json_t *rule, size_t i, json_t *doc, json_t *row, const gw_why *w)
{
    const char *day = NULL;
    if (opt_text(rule, "day", &day) != 1) {
        return rule_fail(w, i, "day", NULL, "required: the local calendar day, \"YYYY-MM-DD\"");
    }
    if (!gw_rule_date_valid(day)) {
        return rule_fail(w, i, "day", day, "is not a date (YYYY-MM-DD, years 2000 to 2199)");
    }
    json_object_set_new(doc, "day", json_string(day));
    json_object_set_new(row, "day", json_string(day));
    return 0;
}

/* "scope" of a cap or quiet rule, default contact. */
static int check_scope(const json_t *rule, size_t i, json_t *doc, json_t *row, const gw_why *w)
{
    const char *scope = "contact";
    if (opt_text(rule, "scope", &scope) < 0 ||
        (strcmp(scope, "contact") != 0 && strcmp(scope, "subject") != 0 &&
         strcmp(scope, "phone") != 0)) {
        return rule_fail(w, i, "scope", NULL,
                         "must be \"contact\", \"subject\" (same subject_key, any campaign) or "
                         "\"phone\" (same number, any campaign)");
    }
    json_object_set_new(doc, "scope", json_string(scope));
    json_object_set_new(row, "scope", json_string(scope));
    return 0;
}

int gw_rule_duration_parse(const char *s, long long *seconds)
{
    static const struct {
        const char *unit;
        long long s;
    } units[] = {{"second", 1},    {"seconds", 1},   {"minute", 60}, {"minutes", 60},
                 {"hour", 3600},   {"hours", 3600},  {"day", 86400}, {"days", 86400},
                 {"week", 604800}, {"weeks", 604800}};
    long long total = 0;
    int parts = 0;
    const char *p = s;
    while (p && *p) {
        while (*p == ' ') {
            p++;
        }
        if (!*p) {
            break;
        }
        long long n = 0;
        const char *digits = p;
        while (isdigit((unsigned char)*p) && n < 1000000000LL) {
            n = n * 10 + (*p++ - '0');
        }
        if (p == digits || isdigit((unsigned char)*p) || *p != ' ') {
            return -1;
        }
        while (*p == ' ') {
            p++;
        }
        const char *word = p;
        while (*p && *p != ' ') {
            p++;
        }
        size_t len = (size_t)(p - word), u = 0;
        while (u < sizeof(units) / sizeof(units[0]) &&
               (strlen(units[u].unit) != len || strncmp(units[u].unit, word, len) != 0)) {
            u++;
        }
        if (u == sizeof(units) / sizeof(units[0])) {
            return -1;
        }
        total += n * units[u].s;
        if (total > 1000LL * 366 * 86400) {
            return -1;
        }
        parts++;
    }
    if (parts == 0) {
        return -1;
    }
    *seconds = total;
    return 0;
}

/* A cap's window or a quiet period: key_s ("<key>_s": seconds, a JSON integer) or key
 * ("24 hours", "7 days"), exactly one, from 1 s to 366 days. 0 or -1 (said,
 * naming what, "the rolling window" or "the quiet period"). */
static int check_period(const json_t *rule, size_t i, const char *key, const char *key_s,
                        const char *what, long long *out, const gw_why *w)
{
    char msg[200];
    json_t *words = json_object_get(rule, key);
    json_t *secs = json_object_get(rule, key_s);
    if (words && secs) {
        (void)snprintf(msg, sizeof(msg), "give %s or %s, not both", key, key_s);
        return rule_fail(w, i, key, NULL, msg);
    }
    if (words) {
        const char *text = json_string_value(words);
        if (!text || gw_rule_duration_parse(text, out) != 0) {
            return rule_fail(w, i, key, text,
                             text ? "is not a duration such as \"24 hours\" or \"7 days\" "
                                    "(seconds, minutes, hours, days, weeks)"
                                  : "must be a duration such as \"24 hours\" or \"7 days\"");
        }
        if (*out < 1 || *out > GW_RULE_PERIOD_MAX_S) {
            return rule_fail(w, i, key, text, "is not from 1 second to 366 days");
        }
        return 0;
    }
    if (req_int(rule, key_s, 1, GW_RULE_PERIOD_MAX_S, out) != 0) {
        (void)snprintf(msg, sizeof(msg),
                       "required (or %s in words): %s in seconds, from 1 to 31622400 (366 days)",
                       key, what);
        return rule_fail(w, i, key_s, NULL, msg);
    }
    return 0;
}

static int check_cap(const json_t *rule, size_t i, json_t *doc, json_t *row, const gw_why *w)
{
    long long max, window;
    if (req_int(rule, "max_attempts", 1, GW_RULE_MAX_ATTEMPTS, &max) != 0) {
        return rule_fail(w, i, "max_attempts", NULL,
                         "required: the most attempts in the window, an integer from 1 to 1000");
    }
    if (check_period(rule, i, "window", "window_s", "the rolling window", &window, w) != 0) {
        return -1;
    }
    json_object_set_new(doc, "max_attempts", json_integer(max));
    json_object_set_new(doc, "window_s", json_integer(window));
    json_object_set_new(row, "max_attempts", json_integer(max));
    json_object_set_new(row, "window_s", json_integer(window));
    return check_scope(rule, i, doc, row, w);
}

static int check_quiet(const json_t *rule, size_t i, json_t *doc, json_t *row, const gw_why *w)
{
    const char *outcome = NULL;
    if (opt_text(rule, "after_outcome", &outcome) != 1) {
        return rule_fail(w, i, "after_outcome", NULL,
                         "required: the outcome that starts the quiet period, e.g. \"CONNECTED\"");
    }
    Ecm__V1__Outcome o = ecm_event_outcome_from_name(outcome);
    if (o == ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED) {
        return rule_fail(w, i, "after_outcome", outcome,
                         "is not an outcome (CONNECTED, ABANDONED, NO_ANSWER, ...)");
    }
    if (o == ECM__V1__OUTCOME__OUTCOME_EXPIRED || o == ECM__V1__OUTCOME__OUTCOME_MAX_ATTEMPTS) {
        return rule_fail(w, i, "after_outcome", outcome,
                         "is how ECM closes a contact, not how an attempt ends");
    }
    long long quiet;
    if (check_period(rule, i, "quiet", "quiet_s", "the quiet period", &quiet, w) != 0) {
        return -1;
    }
    json_object_set_new(doc, "after_outcome", json_string(outcome));
    json_object_set_new(doc, "quiet_s", json_integer(quiet));
    json_object_set_new(row, "after_outcome", json_string(outcome));
    json_object_set_new(row, "quiet_s", json_integer(quiet));
    return check_scope(rule, i, doc, row, w);
}

/* Rule i: appended to docs and rows when good. */
static int check_rule(const json_t *rule, size_t i, json_t *docs, json_t *rows, const gw_why *w)
{
    if (!json_is_object(rule)) {
        return rule_fail(w, i, "", NULL,
                         "must be an object {\"kind\": \"hours\", \"says\": \"...\", ...}");
    }
    const char *kind = json_string_value(json_object_get(rule, "kind"));
    size_t k = 0;
    while (kind && KINDS[k] && strcmp(KINDS[k], kind) != 0) {
        k++;
    }
    if (!kind || !KINDS[k]) {
        return rule_fail(w, i, "kind", NULL,
                         "required: \"hours\", \"day_off\", \"cap\" or \"quiet\"");
    }
    if (check_members(rule, i, k, w) != 0) {
        return -1;
    }
    json_t *doc = json_pack("{ss}", "kind", kind);
    json_t *row = json_pack("{ss}", "kind", kind);
    if (!doc || !row) {
        json_decref(doc);
        json_decref(row);
        return gw_why_fail(w, "rules", "out of memory");
    }
    static int (*const by_kind[])(const json_t *, size_t, json_t *, json_t *, const gw_why *) = {
        check_hours, check_day_off, check_cap, check_quiet};
    if (check_common(rule, i, doc, row, w) != 0 || by_kind[k](rule, i, doc, row, w) != 0) {
        json_decref(doc);
        json_decref(row);
        return -1;
    }
    if (json_array_append_new(docs, doc) != 0 || json_array_append_new(rows, row) != 0) {
        return gw_why_fail(w, "rules", "out of memory");
    }
    return 0;
}

/* ---- the set ------------------------------------------------------------ */

static int check_top(const json_t *body, gw_rule_set_input *out, const gw_why *w)
{
    static const char *const known[] = {"name",       "jurisdiction", "description", "rules",
                                        "id",         "shipped",      "rule_count",  "campaigns",
                                        "created_at", "updated_at",   NULL};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (!in_list(key, known)) {
            char shown[SHOWN_SIZE];
            (void)snprintf(w->field, w->field_size, "body");
            (void)ecm_utf8_format(
                w->reason, w->reason_size,
                "unknown member '%s' (a rule set has name, jurisdiction, description, rules)",
                ecm_utf8_quote(shown, sizeof(shown), key, SHOWN_CHARS));
            return -1;
        }
    }
    if (opt_text(body, "name", &out->name) != 1 || !out->name[0]) {
        return gw_why_fail(w, "name", "required: a non-empty string");
    }
    if (strlen(out->name) > GW_RULE_SET_NAME_MAX || isspace((unsigned char)out->name[0])) {
        return gw_why_fail(w, "name", "at most 200 bytes, not starting with a space");
    }
    if (opt_text(body, "jurisdiction", &out->jurisdiction) != 1) {
        return gw_why_fail(w, "jurisdiction",
                           "required: \"*\" (everywhere), a country (\"US\") or a subdivision "
                           "(\"US-FL\"), ISO 3166, upper case");
    }
    if (!gw_rule_jurisdiction_valid(out->jurisdiction)) {
        char shown[SHOWN_SIZE];
        (void)snprintf(w->field, w->field_size, "jurisdiction");
        (void)ecm_utf8_format(w->reason, w->reason_size,
                              "'%s' is not \"*\", an ISO 3166-1 alpha-2 country (\"US\") or an "
                              "ISO 3166-2 subdivision (\"US-FL\"), upper case",
                              ecm_utf8_quote(shown, sizeof(shown), out->jurisdiction, SHOWN_CHARS));
        return -1;
    }
    out->description = "";
    int rd = opt_text(body, "description", &out->description);
    if (rd < 0 || strlen(out->description) > GW_RULE_SET_DESCRIPTION_MAX) {
        return gw_why_fail(w, "description", "must be a string of at most 2000 bytes, or null");
    }
    return 0;
}

int gw_rule_set_validate(const json_t *body, gw_rule_set_input *out, char *field, size_t field_size,
                         char *reason, size_t reason_size)
{
    const gw_why w = {field, reason, field_size, reason_size};
    memset(out, 0, sizeof(*out));
    if (!json_is_object(body)) {
        return gw_why_fail(&w, "body", "must be a JSON object");
    }
    if (check_top(body, out, &w) != 0) {
        return -1;
    }
    json_t *rules = json_object_get(body, "rules");
    if (!json_is_array(rules)) {
        return gw_why_fail(
            &w, "rules",
            "required: a list of rules [{\"kind\": \"hours\", \"says\": \"...\", "
            "\"wdays\": [1, 2, 3, 4, 5], \"start\": \"08:00\", \"end\": \"20:00\"}]");
    }
    if (json_array_size(rules) == 0 || json_array_size(rules) > GW_RULE_SET_RULES_MAX) {
        return gw_why_fail(&w, "rules", "from 1 to 2000 rules in one set");
    }
    json_t *docs = json_array();
    out->rows = json_array();
    out->doc = json_pack("{ss ss ss so}", "name", out->name, "jurisdiction", out->jurisdiction,
                         "description", out->description, "rules", docs);
    if (!out->doc || !out->rows) {
        gw_rule_set_input_clear(out);
        return gw_why_fail(&w, "rules", "out of memory");
    }
    size_t i;
    json_t *v;
    int ranges[7] = {0};
    json_array_foreach(rules, i, v)
    {
        if (check_rule(v, i, docs, out->rows, &w) != 0) {
            gw_rule_set_input_clear(out);
            return -1;
        }
        /* The evaluator holds at most ECM_WINDOW_MAX_RANGES ranges a weekday
         * (lib/rules/ecm_window.h); a set with more would not load, and its
         * campaigns' contacts would wait for a fix: refused here instead. */
        const json_t *row = json_array_get(out->rows, i);
        const json_t *wdays = json_object_get(row, "wdays");
        size_t d;
        const json_t *day;
        json_array_foreach(wdays, d, day)
        {
            long long wd = json_integer_value(day);
            if (wd >= 0 && wd < 7 && ++ranges[wd] > ECM_WINDOW_MAX_RANGES) {
                gw_rule_set_input_clear(out);
                return rule_fail(&w, i, "wdays", NULL,
                                 "more than 8 hours rules on one weekday: merge ranges");
            }
        }
    }
    return 0;
}

void gw_rule_set_input_clear(gw_rule_set_input *in)
{
    json_decref(in->doc);
    json_decref(in->rows);
    in->doc = NULL;
    in->rows = NULL;
}

/* ---- the audit's view of a replace ---------------------------------------- */

/* A rule of one side: its canonical text (keys sorted) and itself. */
typedef struct {
    char *text;
    size_t index; /* in its list */
} keyed_rule;

static int cmp_keyed(const void *a, const void *b)
{
    return strcmp(((const keyed_rule *)a)->text, ((const keyed_rule *)b)->text);
}

static void keyed_free(keyed_rule *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++) {
        free(k[i].text);
    }
    free(k);
}

/* The rules of list keyed and sorted by their text; NULL when out of
 * memory (n 0 gives a non-NULL empty array). */
static keyed_rule *keyed_sorted(const json_t *list, size_t n)
{
    keyed_rule *k = calloc(n ? n : 1, sizeof(*k));
    for (size_t i = 0; k && i < n; i++) {
        k[i].index = i;
        k[i].text = json_dumps(json_array_get(list, i), JSON_COMPACT | JSON_SORT_KEYS);
        if (!k[i].text) {
            keyed_free(k, i);
            return NULL;
        }
    }
    if (k) {
        qsort(k, n, sizeof(*k), cmp_keyed);
    }
    return k;
}

/* Appends to out the rules of list whose index is marked in only[]. */
static int append_marked(json_t *out, const json_t *list, const unsigned char *only, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (only[i] && json_array_append(out, json_array_get(list, i)) != 0) {
            return -1;
        }
    }
    return 0;
}

json_t *gw_rule_set_rules_diff(const json_t *before, const json_t *after)
{
    size_t nb = json_array_size(before), na = json_array_size(after);
    keyed_rule *b = keyed_sorted(before, nb);
    keyed_rule *a = b ? keyed_sorted(after, na) : NULL;
    unsigned char *gone = calloc(nb ? nb : 1, 1), *came = calloc(na ? na : 1, 1);
    json_t *removed = json_array(), *added = json_array();
    json_t *out = NULL;
    if (!a || !gone || !came || !removed || !added) {
        goto done;
    }
    /* A merge of the two sorted lists marks what only one side has; the
     * lists are then shown in their own order. */
    size_t i = 0, j = 0;
    while (i < nb || j < na) {
        int c = i == nb ? 1 : j == na ? -1 : strcmp(b[i].text, a[j].text);
        if (c < 0) {
            gone[b[i++].index] = 1;
        } else if (c > 0) {
            came[a[j++].index] = 1;
        } else {
            i++, j++;
        }
    }
    if (append_marked(removed, before, gone, nb) == 0 &&
        append_marked(added, after, came, na) == 0) {
        int reordered = json_array_size(removed) == 0 && json_array_size(added) == 0;
        out = json_pack("{sO sO}", "removed", removed, "added", added);
        if (out && reordered) {
            json_object_set_new(out, "reordered", json_true());
        }
    }
done:
    free(gone);
    free(came);
    json_decref(removed);
    json_decref(added);
    keyed_free(b, nb);
    keyed_free(a, na);
    return out;
}

/* What a rule set document must be, pure functions (no I/O): the body of
 * POST and PUT /api/v1/rule-sets, in the shape of the shipped files
 * rules/<name>.json:
 *   {"name": "US-FL Florida Telephone Solicitation Act", "jurisdiction": "US-FL",
 *    "description": "...",
 *    "rules": [{"kind": "hours", "says": "8 am to 8 pm", "source": "...",
 *               "checked_on": "2026-11-30", "channel": "all",
 *               "wdays": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "20:00"},
 *              {"kind": "day_off", "says": "...", "day": "2026-12-25"},
 *              {"kind": "cap", "says": "...", "max_attempts": 3, "window_s": 86400,
 *               "scope": "subject"},
 *              {"kind": "quiet", "says": "...", "after_outcome": "CONNECTED",
 *               "quiet_s": 604800, "scope": "contact"}]}
 * The checks are the rules table's CHECKs (db/016_contact_rules.sql) and
 * more: an hours range must open at least one minute, bounds on every
 * number, and a quiet period follows an outcome an attempt can end with.
 * Also the calendar dates of campaigns' blackout days. */
#ifndef GW_RULE_CHECK_H
#define GW_RULE_CHECK_H

#include <stddef.h>

#include <jansson.h>

#define GW_RULE_SET_NAME_MAX 200
#define GW_RULE_SET_DESCRIPTION_MAX 2000
#define GW_RULE_SET_RULES_MAX 2000
#define GW_RULE_SAYS_MAX 1000
#define GW_RULE_SOURCE_MAX 2000
#define GW_RULE_MAX_ATTEMPTS 1000
/* Cap windows and quiet periods: at most 366 days. */
#define GW_RULE_PERIOD_MAX_S (366LL * 86400)

/* A validated rule set body. name, jurisdiction and description point into
 * the document; doc and rows are new references (release with
 * gw_rule_set_input_clear()):
 *   doc:  the canonical document, {"name", "jurisdiction", "description",
 *         "rules": [...]}, each rule with every member of its kind, defaults
 *         filled in ("channel": "all", "scope": "contact", "source" and
 *         "checked_on" null when absent), wdays sorted: what GET answers
 *         for the set's rules, less their "id".
 *   rows: the rules as rules table rows (start_min, end_min instead of
 *         "start", "end"), in the order given, for jsonb_to_recordset. */
typedef struct {
    const char *name;
    const char *jurisdiction;
    const char *description; /* "" when absent or null */
    json_t *doc;
    json_t *rows;
} gw_rule_set_input;

/* Checks a POST or PUT body. Returns 0 and fills out (release it with
 * gw_rule_set_input_clear()), or -1 with field naming the offending member
 * ("name", "jurisdiction", "rules[2].start", "body") and a one-line reason
 * ("'25:00' is not a time (HH:MM, 00:00 to 24:00)"); out then holds nothing
 * to release. Refused: unknown members (the members GET adds, "id",
 * "shipped", "rule_count", "campaigns", "created_at", "updated_at" and a
 * rule's "id", are taken and ignored, so that a GET answer can be edited and
 * sent back), a member of another kind, a missing or empty name (at most
 * 200 bytes, not starting with a space), "rules" not a list of 1 to 2000, a jurisdiction other than
 * "*", an ISO 3166-1 alpha-2 code or an ISO 3166-2 subdivision ("US-FL"), a rule without "says";
 * hours: "wdays" not a non-empty list of distinct 0..6 (0 = Sunday), "start"/"end" not HH:MM, end
 * not after start (24:00 ends the day); day_off: "day" not a calendar date YYYY-MM-DD (years
 * 2000-2199); cap: "max_attempts" outside 1..1000, the window outside 1 s..366 days
 * ("window_s" in seconds or "window" in words, "24 hours", exactly one, as
 * the shipped files may say it; the canonical form is window_s); quiet:
 * "after_outcome" not an outcome an attempt ends with (UNSPECIFIED, EXPIRED
 * and MAX_ATTEMPTS are how ECM closes a contact), the period outside 1
 * s..366 days ("quiet_s" or "quiet"); "scope" other than contact, subject, phone (cap and quiet
 * only); "channel" other than voice, sms, all; "checked_on" not a date. */
int gw_rule_set_validate(const json_t *body, gw_rule_set_input *out, char *field, size_t field_size,
                         char *reason, size_t reason_size) __attribute__((warn_unused_result));

/* Releases what gw_rule_set_validate() put in in. in may be zeroed. */
void gw_rule_set_input_clear(gw_rule_set_input *in);

/* What changed between two lists of rules in the canonical shape (no ids),
 * for the audit row of a replace: {"removed": [rules only in before],
 * "added": [rules only in after]}, each in its list's order, a rule
 * counted as often as it appears; a changed rule is one removed and one added. When only the order
 * changed, both are empty and "reordered" is true. New reference, or NULL
 * when out of memory. */
json_t *gw_rule_set_rules_diff(const json_t *before, const json_t *after)
    __attribute__((warn_unused_result));

/* Parses "HH:MM" (two digits each) into minutes of the day: 00:00 to 23:59,
 * and 24:00 too when end is not 0 (the end of a range). Returns 0, or -1. */
int gw_rule_hhmm_parse(const char *s, int end, int *minutes) __attribute__((warn_unused_result));

/* Parses a duration in words, as the shipped files may give a window:
 * "24 hours", "7 days", "1 day 12 hours" (integers and the units second,
 * minute, hour, day, week, singular or plural, separated by spaces) into
 * seconds. Returns 0, or -1 for anything else or above 1000 x 366 days. */
int gw_rule_duration_parse(const char *s, long long *seconds) __attribute__((warn_unused_result));

/* 1 when s is a calendar date "YYYY-MM-DD" with a year from 2000 to 2199
 * (2026-02-29 is not one, 2028-02-29 is), else 0. */
int gw_rule_date_valid(const char *s);

/* 1 when s is a jurisdiction code a rule set may have: "*", "US", "US-FL",
 * "GB-ENG" (upper case, the subdivision 1 to 3 letters or digits), else 0. */
int gw_rule_jurisdiction_valid(const char *s);

#endif

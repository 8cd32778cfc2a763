/* What a campaign document must be, pure functions (no I/O): the POST body
 * and a campaign merged with a PATCH validated, the PATCH rules by state,
 * the merge, and the life cycle's state machine. The HTTP handlers
 * (gw_campaigns) apply them; tests and the fuzzer call them directly. */
#ifndef GW_CAMPAIGN_CHECK_H
#define GW_CAMPAIGN_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ecm_calling.h"

/* A campaign's DLR timeout when its "sms" member gives none (s). */
#define GW_DLR_TIMEOUT_DEFAULT 86400

/* Canonical call_window JSON (ecm_window_to_json) fits here: 7 days of at
 * most ECM_WINDOW_MAX_RANGES ranges. */
#define GW_CALL_WINDOW_TEXT_MAX 2048

/* A validated campaign document (POST body, or a campaign merged with a
 * PATCH). Strings point into the JSON document (or to defaults, or into the
 * buffers here) and live as long as both do. */
typedef struct {
    const char *name;
    const char *channel;            /* voice_ivr, voice_agent or sms */
    const char *strategy;           /* strategy name; NULL when strategy_id is given */
    long long strategy_id;          /* > 0 when given as "strategy_id" */
    const char *cisco_kind;         /* uccx, ucce_api or ucce_db; NULL when absent (sms only) */
    const char *cisco_campaign_id;  /* digits */
    const char *cisco_import_table; /* ucce_db only (required there); else NULL */
    const char *cisco_dialing_list; /* ucce_db only, optional; else NULL */
    const char *region;             /* ISO 3166 alpha-2, upper case; NULL: the gateway's default */
    const char *time_zone;          /* IANA name as written, "UTC" when absent */
    const char *start_at;           /* RFC 3339, or NULL */
    const char *end_at;
    int64_t start_ms, end_ms; /* the two above in ms since the epoch, when not NULL */
    const char *call_window;  /* canonical weekly window JSON, NULL: every day */
    char cisco_id_buf[32];    /* campaign_id given as a JSON number */
    char region_buf[4];
    char call_window_buf[GW_CALL_WINDOW_TEXT_MAX];
    char field_buf[48]; /* the field of a refused list item, "blackout_dates[3].date" */
    /* The "sms" member (required for sms campaigns, optional for voice);
     * NULL / 0 when absent. */
    const char *sms_template; /* required, syntax-checked */
    const char *sms_sender;   /* "from"; NULL: the gateway's default */
    const char *sms_gateway;  /* "kannel" (default) or "http" */
    long long dlr_timeout_s;  /* default 86400 */
    /* Contact rules (issue 16); NULL when absent or null: a new campaign
     * then gets the default (the shipped US federal set in the US). */
    const json_t *rule_sets;      /* [name | id | {"id": id, ...}, ...], checked */
    const json_t *blackout_dates; /* [{"date": "YYYY-MM-DD", "reason": "..."}], checked */
} gw_campaign_input;

/* The most rule sets a campaign picks, and blackout dates it has. */
#define GW_CAMPAIGN_RULE_SETS_MAX 50
#define GW_CAMPAIGN_BLACKOUTS_MAX 1000
#define GW_CAMPAIGN_BLACKOUT_REASON_MAX 200

/* Checks a campaign document. Returns 0 and fills out, or -1 with *field
 * set to the offending member ("channel", "cisco.campaign_id",
 * "sms.template", "call_window", or "body" for the document as a whole) and
 * a one-line reason. A voice campaign needs "cisco"; an sms campaign needs
 * "sms": {"template" (required), "sender", "gateway": "kannel"|"http",
 * "dlr_timeout_s"}. Either may carry the other channel's member too (null
 * or absent: none), checked the same way, for the contacts its strategy
 * switches to that channel; whether the strategy needs it is the caller's
 * to check (gw_campaigns: 422). "strategy" (a
 * name) and "strategy_id" are exclusive; whether the strategy exists is the
 * DB's to say. "time_zone" must be a zone ICU knows (ecm_window_tz_canonical);
 * "region" one libphonenumber knows; "call_window" null or a weekly window
 * (ecm_window_parse_json) with some open time inside the default legal
 * hours; "end_at" after "start_at". "rule_sets" null or a list of at most
 * 50 rule sets, each a name (a non-empty string), an id (a positive
 * integer) or an object with an "id" (as GET shows them; its "name" is
 * ignored): whether they exist is the DB's to say. "blackout_dates" null or
 * a list of at most 1000 {"date": "YYYY-MM-DD", "reason": at most 200
 * bytes or null}, no date twice. Whether end_at is past is the caller's to
 * check (it needs the business clock). */
int gw_campaign_validate(const json_t *body, gw_campaign_input *out, const char **field,
                         char *reason, size_t reason_size) __attribute__((warn_unused_result));

/* gw_campaign_validate() with the deployment's legal hours (ECM_LEGAL_HOURS)
 * instead of the default 08:00-21:00; legal NULL is the default. */
int gw_campaign_validate_legal(const json_t *body, const ecm_legal_hours *legal,
                               gw_campaign_input *out, const char **field, char *reason,
                               size_t reason_size) __attribute__((warn_unused_result));

/* 1 when region is an upper-case ISO 3166 alpha-2 code libphonenumber can
 * read numbers for ("US", "GB"), else 0. */
int gw_region_known(const char *region);

/* Checks a PATCH /api/v1/campaigns/{id} body against the campaign's state.
 * Returns 0 when every member may change; -1 (answer 400) when the body is
 * not an object, names an unknown member or "channel" (never changes); 1
 * (answer 409) when a member may not change in this state: in draft and
 * paused everything may, in active only "name", the schedule
 * ("call_window", "time_zone", "start_at", "end_at") and the contact rules
 * ("rule_sets", "blackout_dates": the dispatchers' caches follow
 * rules_generation, so no pause is needed), in stopped, completed and
 * expired nothing. *field and reason say which and why. */
int gw_campaign_patch_check(const char *state, const json_t *patch, const char **field,
                            char *reason, size_t reason_size) __attribute__((warn_unused_result));

/* The campaign document current (in the form POST takes) with the members
 * of patch applied: a member replaces the current one, except "sms" and
 * "cisco" objects, which are merged member by member; "strategy" replaces
 * "strategy_id" and the other way round. New reference, or NULL when out of
 * memory. Neither argument changes. */
json_t *gw_campaign_merge(const json_t *current, const json_t *patch)
    __attribute__((warn_unused_result));

/* The canonical form of a checked "blackout_dates" list: sorted by date,
 * each {"date", "reason"} with reason "" when absent or null. New reference
 * ([] for NULL), or NULL when out of memory. */
json_t *gw_campaign_blackouts_canonical(const json_t *dates) __attribute__((warn_unused_result));

/* Parses an RFC 3339 date-time with an explicit offset ("2026-11-24T04:00:00Z",
 * "2026-11-24T06:00:00.5+02:00") into ms since the epoch. Returns 0, or -1
 * when s is not one. */
int gw_rfc3339_parse(const char *s, int64_t *ms) __attribute__((warn_unused_result));

/* The campaign life cycle. action is "activate", "resume", "pause" or
 * "stop". Returns the state after the action, or NULL when the action is not
 * allowed from state from (draft->active by activate, paused->active by
 * resume or activate, active->paused, active|paused->stopped; nothing leaves
 * stopped, completed or expired). */
const char *gw_campaign_next_state(const char *from, const char *action);

#endif

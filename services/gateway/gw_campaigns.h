/* Campaigns: POST/GET /api/v1/campaigns, GET /api/v1/campaigns/{id} with
 * contact and attempt counts, and the state changes activate / pause / stop,
 * each written with its CampaignChanged event in one transaction (outbox).
 * The validation and the state machine are pure functions, for tests. */
#ifndef GW_CAMPAIGNS_H
#define GW_CAMPAIGNS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ecm_http.h"
#include "gw_app.h"

/* A validated POST body. Strings point into the JSON document (or to
 * defaults, or into cisco_id_buf) and live as long as it does. */
typedef struct {
    const char *name;
    const char *channel;    /* voice_ivr, voice_agent or sms */
    const char *strategy;   /* strategy name, "Default" when absent */
    const char *cisco_kind; /* uccx or cce; NULL when absent (sms) */
    const char *cisco_campaign_id;
    const char *region;    /* ISO 3166 alpha-2, "US" when absent */
    const char *time_zone; /* IANA name, "UTC" when absent */
    const char *start_at;  /* RFC 3339, or NULL */
    const char *end_at;
    char cisco_id_buf[32]; /* campaign_id given as a JSON number */
    /* SMS campaigns only ("sms" member); NULL / 0 for voice. */
    const char *sms_template; /* required, syntax-checked */
    const char *sms_sender;   /* "from"; NULL: the gateway's default */
    const char *sms_gateway;  /* "kannel" (default) or "http" */
    long long dlr_timeout_s;  /* default 86400 */
} gw_campaign_input;

/* Checks a POST /api/v1/campaigns body. Returns 0 and fills out, or -1 with
 * *field set to the offending member ("channel", "cisco.campaign_id",
 * "sms.template", or "body" for the document as a whole) and a one-line
 * reason. A voice campaign needs "cisco" and takes no "sms"; an sms campaign
 * needs "sms": {"template" (required), "sender", "gateway": "kannel"|"http",
 * "dlr_timeout_s"} and takes no "cisco". Whether the
 * strategy and time zone exist is the DB's to say, not checked here. */
int gw_campaign_validate(const json_t *body, gw_campaign_input *out, const char **field,
                         char *reason, size_t reason_size);

/* Parses an RFC 3339 date-time with an explicit offset ("2026-11-24T04:00:00Z",
 * "2026-11-24T06:00:00.5+02:00") into ms since the epoch. Returns 0, or -1
 * when s is not one. */
int gw_rfc3339_parse(const char *s, int64_t *ms);

/* The campaign life cycle. action is "activate", "pause" or "stop". Returns
 * the state after the action, or NULL when the action is not allowed from
 * state from (draft->active, active->paused, paused->active,
 * active|paused->stopped). */
const char *gw_campaign_next_state(const char *from, const char *action);

/* Adds the campaign routes to h. Returns 0, or -1 when the route table is
 * full. */
int gw_campaigns_register(ecm_http *h, const gw_app *app);

#endif

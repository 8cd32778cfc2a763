/* Strategies: what happens after each outcome of an attempt.
 *   GET    /api/v1/strategies?limit=..&cursor=..  (id order, Default first)
 *   GET    /api/v1/strategies/{id}
 *   POST   /api/v1/strategies                     201 + Location
 *   PUT    /api/v1/strategies/{id}                replace, rules in one transaction
 *   DELETE /api/v1/strategies/{id}                204; 409 for Default or in use
 * A strategy is {"name", "description", "max_attempts", "max_attempts_per_day",
 * "max_voice_attempts", "max_sms_attempts" (null: no cap per channel),
 * "rules": [{"outcome": "NO_ANSWER", "action": "retry"|"close",
 * "delay_seconds", "max_attempts", "next_phone", "switch_channel":
 * "sms"|"voice"|null, "switch_after"}]}. The strategy service reads
 * the rules on every result, so a change applies to the next result. Default
 * is editable but keeps its name and can't be deleted. */
#ifndef GW_STRATEGIES_H
#define GW_STRATEGIES_H

#include <stddef.h>

#include <jansson.h>

#include "ecm_http.h"
#include "gw_app.h"

/* Bounds of a strategy's numbers. */
#define GW_STRATEGY_MAX_ATTEMPTS 1000
#define GW_STRATEGY_MAX_DELAY_S (366LL * 24 * 3600)

/* A validated strategy body. name and description point into the document;
 * rules is a new reference (release with gw_strategy_input_clear()): the
 * rules with every member filled in (defaults delay_seconds 0, max_attempts
 * 1, next_phone false, switch_channel null, switch_after 1), in the order
 * given. */
typedef struct {
    const char *name;
    const char *description;        /* NULL when absent or null */
    long long max_attempts;         /* default 5 */
    long long max_attempts_per_day; /* default 3 */
    long long max_voice_attempts;   /* 0: none (null or absent) */
    long long max_sms_attempts;     /* 0: none (null or absent) */
    json_t *rules;
} gw_strategy_input;

/* Checks a POST or PUT body. Returns 0 and fills out (release it with
 * gw_strategy_input_clear()), or -1 with field naming the offending member
 * ("name", "max_attempts", "rules[2].outcome", "body") and a one-line reason
 * (out then holds nothing to release). Refused: unknown members (top level
 * and rules), a missing or empty name, caps outside 1..1000, an outcome that
 * is not a result of the Outcome enum (UNSPECIFIED, and EXPIRED and
 * MAX_ATTEMPTS which ECM sets itself when it closes a contact), the same
 * outcome twice, an action other than retry or close, a delay outside 0..366
 * days, a switch_channel other than "sms", "voice" or null (or on a close
 * rule), a switch_after outside 1..1000, per-channel caps outside 1..1000
 * (null: none). "rules" is required (an empty list closes a contact on any
 * result). */
int gw_strategy_validate(const json_t *body, gw_strategy_input *out, char *field, size_t field_size,
                         char *reason, size_t reason_size) __attribute__((warn_unused_result));

/* Releases what gw_strategy_validate() put in in. in may be zeroed. */
void gw_strategy_input_clear(gw_strategy_input *in);

/* Adds the strategy routes to h. Returns 0, or -1 when the route table is
 * full. */
int gw_strategies_register(ecm_http *h, const gw_app *app) __attribute__((warn_unused_result));

#endif

/* JSON bodies of the gateway API, through the pure checks the handlers call
 * after json_loadb(..., JSON_REJECT_DUPLICATES) (gw_body_json): campaigns
 * (gw_campaign_validate, gw_campaign_patch_check, gw_campaign_merge),
 * strategies (gw_strategy_validate) and RFC 3339 times (gw_rfc3339_parse).
 *
 * Input: byte 0 picks the check (0 campaign POST, 1 campaign PATCH, 2
 * strategy, 3 RFC 3339 text); the rest is the body.
 *
 * Properties:
 * - a refusal names a field and gives a non-empty reason, both valid UTF-8
 *   (they reach the client and the log);
 * - an accepted campaign has a known channel with its own settings (sms:
 *   a template and no cisco; voice: cisco kind uccx, ucce_api or ucce_db, the last with an import
 * table), start before end, a call window that parses again, valid UTF-8 strings; merged with
 *   itself it is accepted again, the same;
 * - a PATCH accepted for a valid campaign merges into a document that is
 *   checked like a POST without crashing, and a refused PATCH says why;
 * - an accepted strategy, written back as a body, is accepted again, the
 *   same (normalised rules are a fixed point);
 * - an accepted RFC 3339 time formats (ecm_clock_format_ms) to a text that
 *   parses to the same instant. */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "ecm_clock.h"
#include "ecm_window.h"
#include "fuzz_support.h"
#include "gw_campaigns.h"
#include "gw_strategies.h"

static void check_refusal(const char *field, const char *reason)
{
    FUZZ_CHECK(field && field[0] && fuzz_utf8_ok(field), "refusal field '%s' not valid UTF-8",
               field ? field : "(null)");
    FUZZ_CHECK(reason[0] && fuzz_utf8_ok(reason), "refusal reason for %s not valid UTF-8: '%s'",
               field, reason);
}

static int opt_ok(const char *s)
{
    return s == NULL || fuzz_utf8_ok(s);
}

static void check_campaign(const gw_campaign_input *in)
{
    FUZZ_CHECK(in->name && in->name[0] && fuzz_utf8_ok(in->name), "campaign name");
    FUZZ_CHECK(in->channel &&
                   (strcmp(in->channel, "voice_ivr") == 0 ||
                    strcmp(in->channel, "voice_agent") == 0 || strcmp(in->channel, "sms") == 0),
               "channel '%s'", in->channel ? in->channel : "(null)");
    /* Either channel may carry the other's settings (a strategy may switch
     * channel); its own are required. */
    if (strcmp(in->channel, "sms") == 0) {
        FUZZ_CHECK(in->sms_template != NULL, "sms campaign without a template");
    } else {
        FUZZ_CHECK(in->cisco_kind != NULL, "voice campaign without cisco kind");
    }
    if (in->sms_template) {
        FUZZ_CHECK(in->dlr_timeout_s > 0, "dlr_timeout_s %lld", in->dlr_timeout_s);
    }
    if (in->cisco_kind) {
        FUZZ_CHECK(strcmp(in->cisco_kind, "uccx") == 0 || strcmp(in->cisco_kind, "ucce_api") == 0 ||
                       strcmp(in->cisco_kind, "ucce_db") == 0,
                   "cisco kind '%s'", in->cisco_kind);
        FUZZ_CHECK((strcmp(in->cisco_kind, "ucce_db") == 0) == (in->cisco_import_table != NULL),
                   "import table without ucce_db, or ucce_db without one");
        FUZZ_CHECK(in->cisco_campaign_id && in->cisco_campaign_id[0], "no cisco campaign id");
        FUZZ_CHECK(strspn(in->cisco_campaign_id, "0123456789") == strlen(in->cisco_campaign_id),
                   "cisco campaign id '%s' not digits", in->cisco_campaign_id);
    }
    FUZZ_CHECK((in->strategy != NULL) != (in->strategy_id > 0) ||
                   (in->strategy == NULL && in->strategy_id == 0),
               "strategy and strategy_id");
    if (in->start_at && in->end_at) {
        FUZZ_CHECK(in->start_ms < in->end_ms, "start %lld not before end %lld",
                   (long long)in->start_ms, (long long)in->end_ms);
    }
    FUZZ_CHECK(in->region == NULL || gw_region_known(in->region), "region '%s'", in->region);
    FUZZ_CHECK(in->time_zone && fuzz_utf8_ok(in->time_zone), "time zone");
    FUZZ_CHECK(opt_ok(in->strategy) && opt_ok(in->cisco_campaign_id) && opt_ok(in->start_at) &&
                   opt_ok(in->end_at) && opt_ok(in->sms_template) && opt_ok(in->sms_sender) &&
                   opt_ok(in->sms_gateway),
               "accepted campaign with invalid UTF-8 text");
    if (in->call_window) {
        ecm_window *w = NULL;
        char err[256];
        FUZZ_CHECK(ecm_window_parse_json_text(in->call_window, &w, err, sizeof(err)) == 0,
                   "canonical call window '%s' does not parse: %s", in->call_window, err);
        ecm_window_destroy(w);
    }
}

static void fuzz_campaign(json_t *body)
{
    gw_campaign_input in;
    const char *field = NULL;
    char reason[512] = "";
    if (gw_campaign_validate(body, &in, &field, reason, sizeof(reason)) != 0) {
        check_refusal(field, reason);
        return;
    }
    check_campaign(&in);
    json_t *merged = gw_campaign_merge(body, body);
    FUZZ_CHECK(merged != NULL, "oom");
    gw_campaign_input again;
    FUZZ_CHECK(gw_campaign_validate(merged, &again, &field, reason, sizeof(reason)) == 0,
               "a campaign merged with itself is refused: %s: %s", field, reason);
    FUZZ_CHECK(strcmp(again.name, in.name) == 0 && strcmp(again.channel, in.channel) == 0 &&
                   again.start_ms == in.start_ms && again.end_ms == in.end_ms &&
                   ((!again.call_window && !in.call_window) ||
                    (again.call_window && in.call_window &&
                     strcmp(again.call_window, in.call_window) == 0)),
               "a campaign merged with itself changed");
    json_decref(merged);
}

static const char CURRENT[] =
    "{\"name\": \"c\", \"channel\": \"voice_ivr\", \"strategy\": \"default\","
    " \"cisco\": {\"kind\": \"uccx\", \"campaign_id\": \"7\"}, \"time_zone\": \"America/New_York\","
    " \"start_at\": \"2026-11-24T08:00:00Z\", \"end_at\": \"2026-12-24T08:00:00Z\","
    " \"call_window\": {\"mon\": [[\"09:00\", \"17:00\"]]}}";

static void fuzz_patch(json_t *patch)
{
    static const char *const states[] = {"draft", "active", "paused", "stopped", "completed"};
    const char *field = NULL;
    char reason[512];
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        reason[0] = '\0';
        field = NULL;
        if (gw_campaign_patch_check(states[i], patch, &field, reason, sizeof(reason)) != 0) {
            check_refusal(field, reason);
        }
    }
    json_t *current = json_loads(CURRENT, 0, NULL);
    FUZZ_CHECK(current != NULL, "fixed campaign does not parse");
    gw_campaign_input in;
    FUZZ_CHECK(gw_campaign_validate(current, &in, &field, reason, sizeof(reason)) == 0,
               "fixed campaign refused: %s", reason);
    if (json_is_object(patch)) {
        json_t *merged = gw_campaign_merge(current, patch);
        FUZZ_CHECK(merged != NULL, "oom");
        reason[0] = '\0';
        if (gw_campaign_validate(merged, &in, &field, reason, sizeof(reason)) == 0) {
            check_campaign(&in);
        } else {
            check_refusal(field, reason);
        }
        json_decref(merged);
    }
    json_decref(current);
}

static void fuzz_strategy(json_t *body)
{
    gw_strategy_input in;
    char field[64] = "", reason[512] = "";
    if (gw_strategy_validate(body, &in, field, sizeof(field), reason, sizeof(reason)) != 0) {
        check_refusal(field, reason);
        return;
    }
    FUZZ_CHECK(in.name && in.name[0] && fuzz_utf8_ok(in.name), "strategy name");
    FUZZ_CHECK(in.max_attempts >= 1 && in.max_attempts <= 1000 && in.max_attempts_per_day >= 1 &&
                   in.max_attempts_per_day <= 1000,
               "caps %lld %lld", in.max_attempts, in.max_attempts_per_day);
    json_t *back = json_pack("{ss so* sI sI sO}", "name", in.name, "description",
                             in.description ? json_string(in.description) : json_null(),
                             "max_attempts", (json_int_t)in.max_attempts, "max_attempts_per_day",
                             (json_int_t)in.max_attempts_per_day, "rules", in.rules);
    FUZZ_CHECK(back != NULL, "accepted strategy cannot be written back");
    gw_strategy_input again;
    FUZZ_CHECK(gw_strategy_validate(back, &again, field, sizeof(field), reason, sizeof(reason)) ==
                   0,
               "normalised strategy refused: %s: %s", field, reason);
    FUZZ_CHECK(json_equal(again.rules, in.rules) && strcmp(again.name, in.name) == 0 &&
                   again.max_attempts == in.max_attempts &&
                   again.max_attempts_per_day == in.max_attempts_per_day,
               "normalised strategy is not a fixed point");
    gw_strategy_input_clear(&again);
    json_decref(back);
    gw_strategy_input_clear(&in);
}

static void fuzz_rfc3339(const char *text)
{
    int64_t ms;
    if (gw_rfc3339_parse(text, &ms) != 0) {
        return;
    }
    char out[64];
    ecm_clock_format_ms(ms, out, sizeof(out));
    int64_t back;
    FUZZ_CHECK(gw_rfc3339_parse(out, &back) == 0, "'%s' -> %lld -> '%s' does not parse", text,
               (long long)ms, out);
    FUZZ_CHECK(back == ms, "'%s' -> %lld -> '%s' -> %lld", text, (long long)ms, out,
               (long long)back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    int mode = data[0] & 3;
    if (mode == 3) {
        char *text = fuzz_strndup(data + 1, size - 1);
        fuzz_rfc3339(text);
        free(text);
        return 0;
    }
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        return 0;
    }
    if (mode == 0) {
        fuzz_campaign(body);
    } else if (mode == 1) {
        fuzz_patch(body);
    } else {
        fuzz_strategy(body);
    }
    json_decref(body);
    return 0;
}

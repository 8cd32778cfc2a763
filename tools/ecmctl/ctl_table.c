#include "ctl_table.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ecm_utf8.h"

/* The contact states in the order a campaign's contacts move through. */
static const char *const STATES[] = {"pending", "queued",    "dispatched",
                                     "waiting", "retry_due", "closed"};

/* Appends the text of fmt to buf at *o, keeping it NUL-terminated; stops
 * at the end of buf. */
__attribute__((format(printf, 4, 5))) static void add(char *buf, size_t size, size_t *o,
                                                      const char *fmt, ...)
{
    if (*o + 1 >= size) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *o, size - *o, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *o = (size_t)n >= size - *o ? size - 1 : *o + (size_t)n;
    }
}

const char *ctl_table_fit(char *dst, size_t dst_size, const char *s, size_t width, bool right)
{
    if (dst_size == 0) {
        return dst;
    }
    char clean[1024];
    const char *text = s ? s : "-";
    size_t len = ecm_utf8_copy(clean, sizeof(clean), text, strlen(text));
    size_t chars = ecm_utf8_chars(clean, len);
    size_t keep_bytes = len, shown = chars;
    bool cut = chars > width;
    if (cut) {
        /* width - 1 characters, then "~" */
        size_t o = 0;
        for (size_t k = 0; k + 1 < width; k++) {
            uint32_t cp;
            o += ecm_utf8_next(clean + o, len - o, &cp);
        }
        keep_bytes = o;
        shown = width;
    }
    size_t pad = width > shown ? width - shown : 0;
    size_t o = 0;
    if (right) {
        add(dst, dst_size, &o, "%*s", (int)pad, "");
    }
    add(dst, dst_size, &o, "%.*s%s", (int)keep_bytes, clean, cut && width > 0 ? "~" : "");
    if (!right) {
        add(dst, dst_size, &o, "%*s", (int)pad, "");
    }
    dst[o < dst_size ? o : dst_size - 1] = '\0';
    return dst;
}

const char *ctl_table_campaign_header(void)
{
    return "    ID  NAME                          CHANNEL      STATE      CONTACTS    CLOSED  "
           "ATTEMPTS";
}

/* The campaign's counts.key (0 when absent). */
static long long count_of(const json_t *campaign, const char *key)
{
    return (long long)json_integer_value(json_object_get(json_object_get(campaign, "counts"), key));
}

const char *ctl_table_campaign_row(char *buf, size_t size, const json_t *campaign)
{
    char name[160], channel[48], state[48];
    const json_t *by_state = json_object_get(json_object_get(campaign, "counts"), "by_state");
    size_t o = 0;
    if (size) {
        buf[0] = '\0';
    }
    add(buf, size, &o, "%6lld  %s  %s  %s  %8lld  %8lld  %8lld",
        (long long)json_integer_value(json_object_get(campaign, "id")),
        ctl_table_fit(name, sizeof(name), json_string_value(json_object_get(campaign, "name")), 28,
                      false),
        ctl_table_fit(channel, sizeof(channel),
                      json_string_value(json_object_get(campaign, "channel")), 11, false),
        ctl_table_fit(state, sizeof(state), json_string_value(json_object_get(campaign, "state")),
                      9, false),
        count_of(campaign, "contacts"),
        (long long)json_integer_value(json_object_get(by_state, "closed")),
        count_of(campaign, "attempts"));
    return buf;
}

const char *ctl_table_counts_line(char *buf, size_t size, const json_t *campaign)
{
    const json_t *counts = json_object_get(campaign, "counts");
    const json_t *by_state = json_object_get(counts, "by_state");
    const char *state = json_string_value(json_object_get(campaign, "state"));
    size_t o = 0;
    if (size) {
        buf[0] = '\0';
    }
    add(buf, size, &o, "%s contacts=%lld", state ? state : "?", count_of(campaign, "contacts"));
    for (size_t i = 0; i < sizeof(STATES) / sizeof(STATES[0]); i++) {
        add(buf, size, &o, " %s=%lld", STATES[i],
            (long long)json_integer_value(json_object_get(by_state, STATES[i])));
    }
    add(buf, size, &o, " attempts=%lld", count_of(campaign, "attempts"));
    const json_t *by_outcome = json_object_get(counts, "by_outcome");
    const char *sep = " |";
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)by_outcome, k, v)
    {
        add(buf, size, &o, "%s %s=%lld", sep, k, (long long)json_integer_value(v));
        sep = "";
    }
    return buf;
}

bool ctl_table_campaign_done(const json_t *campaign)
{
    const char *state = json_string_value(json_object_get(campaign, "state"));
    if (state && (strcmp(state, "stopped") == 0 || strcmp(state, "completed") == 0 ||
                  strcmp(state, "expired") == 0)) {
        return true;
    }
    long long contacts = count_of(campaign, "contacts");
    const json_t *by_state = json_object_get(json_object_get(campaign, "counts"), "by_state");
    return contacts > 0 && json_integer_value(json_object_get(by_state, "closed")) >= contacts;
}

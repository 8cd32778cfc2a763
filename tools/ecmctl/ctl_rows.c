#include "ctl_rows.h"

#include <string.h>

void ctl_rows_init(ctl_rows *r, bool json)
{
    memset(r, 0, sizeof(*r));
    r->json = json;
}

/* Counts one byte of a CSV file. */
static void feed_csv(ctl_rows *r, char c)
{
    if (c == '"') {
        r->in_quotes = !r->in_quotes; /* "" inside quotes toggles twice */
        r->line_has_data = true;
    } else if (c == '\n' && !r->in_quotes) {
        if (r->line_has_data) {
            r->records++;
        }
        r->line_has_data = false;
    } else if (c != '\r') {
        r->line_has_data = true;
    }
}

/* Counts one byte of a JSON array. */
static void feed_json(ctl_rows *r, char c)
{
    if (r->in_quotes) {
        if (r->escaped) {
            r->escaped = false;
        } else if (c == '\\') {
            r->escaped = true;
        } else if (c == '"') {
            r->in_quotes = false;
        }
        return;
    }
    switch (c) {
    case '"':
        r->in_quotes = true;
        break;
    case '{':
        if (r->depth == 1) {
            r->items++;
        }
        r->depth++;
        break;
    case '[':
        r->depth++;
        break;
    case '}':
    case ']':
        if (r->depth > 0) {
            r->depth--;
        }
        break;
    default:
        break;
    }
}

void ctl_rows_feed(ctl_rows *r, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (r->json) {
            feed_json(r, data[i]);
        } else {
            feed_csv(r, data[i]);
        }
    }
}

long long ctl_rows_count(const ctl_rows *r, bool at_end)
{
    if (r->json) {
        return r->items;
    }
    long long records = r->records + (at_end && r->line_has_data ? 1 : 0);
    return records > 1 ? records - 1 : 0;
}

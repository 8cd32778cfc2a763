#include "gw_jsonarr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    ST_START, /* blanks, then '[' */
    ST_FIRST, /* after '[': blanks, then an item or ']' */
    ST_ITEM,  /* inside an item */
    ST_AFTER, /* after an item: blanks, then ',' or ']' */
    ST_NEXT,  /* after ',': blanks, then an item */
    ST_DONE,  /* after ']': blanks only */
} scan_state;

typedef enum {
    ITEM_NESTED, /* object or array: ends when depth returns to 0 */
    ITEM_STRING, /* ends at its closing quote */
    ITEM_SCALAR, /* number or literal: ends at a blank, ',' or ']' */
} item_shape;

struct gw_jsonarr {
    gw_jsonarr_item_fn fn;
    void *ctx;
    size_t max_item;
    scan_state st;
    long long offset; /* bytes consumed, BOM included */
    size_t bom_len;
    int bom_done;

    item_shape shape;
    long long depth;
    int in_string, escape;
    char *buf;
    size_t len, cap;
    long long items;

    int failed;
    long long error_item;
};

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

gw_jsonarr *gw_jsonarr_new(size_t max_item_bytes, gw_jsonarr_item_fn fn, void *ctx)
{
    gw_jsonarr *j = calloc(1, sizeof(*j));
    if (!j) {
        return NULL;
    }
    j->fn = fn;
    j->ctx = ctx;
    j->max_item = max_item_bytes;
    return j;
}

void gw_jsonarr_destroy(gw_jsonarr *j)
{
    if (!j) {
        return;
    }
    free(j->buf);
    free(j);
}

long long gw_jsonarr_items(const gw_jsonarr *j)
{
    return j->items;
}

long long gw_jsonarr_error_item(const gw_jsonarr *j)
{
    return j->failed ? j->error_item : 0;
}

static int fail(gw_jsonarr *j, char *errstr, size_t errstr_size, long long item, const char *msg)
{
    j->failed = 1;
    j->error_item = item;
    if (errstr_size) {
        if (item > 0) {
            (void)snprintf(errstr, errstr_size, "item %lld: %s", item, msg);
        } else {
            (void)snprintf(errstr, errstr_size, "byte %lld: %s", j->offset, msg);
        }
    }
    return -1;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int put(gw_jsonarr *j, char ch)
{
    if (j->len + 2 > j->cap) {
        size_t c = j->cap ? j->cap * 2 : 1024;
        if (c > j->max_item + 2) {
            c = j->max_item + 2;
        }
        char *b = realloc(j->buf, c);
        if (!b) {
            return -1;
        }
        j->buf = b;
        j->cap = c;
    }
    j->buf[j->len++] = ch;
    return 0;
}

static int emit(gw_jsonarr *j, char *errstr, size_t errstr_size)
{
    j->buf[j->len] = '\0';
    j->items++;
    j->st = ST_AFTER;
    if (j->fn(j->ctx, j->items, j->buf, j->len) != 0) {
        j->failed = 1;
        j->error_item = 0;
        if (errstr_size) {
            (void)snprintf(errstr, errstr_size, "stopped");
        }
        return -1;
    }
    j->len = 0;
    return 0;
}

static int start_item(gw_jsonarr *j, char ch, char *errstr, size_t errstr_size)
{
    if (ch == ',' || ch == ']' || ch == '}' || ch == ':') {
        char msg[48];
        (void)snprintf(msg, sizeof(msg), "expected an item, found '%c'", ch);
        return fail(j, errstr, errstr_size, j->items + 1, msg);
    }
    j->st = ST_ITEM;
    j->len = 0;
    j->depth = 0;
    j->in_string = 0;
    j->escape = 0;
    if (ch == '{' || ch == '[') {
        j->shape = ITEM_NESTED;
        j->depth = 1;
    } else if (ch == '"') {
        j->shape = ITEM_STRING;
        j->in_string = 1;
    } else {
        j->shape = ITEM_SCALAR;
    }
    return put(j, ch) == 0 ? 0 : fail(j, errstr, errstr_size, j->items + 1, "out of memory");
}

/* One byte inside an item. Returns 1 when the byte ended a scalar without
 * being part of it (the caller reads it again as a separator), else 0, or
 * -1 on failure. */
static int item_byte(gw_jsonarr *j, char ch, char *errstr, size_t errstr_size)
{
    if (j->shape == ITEM_SCALAR && (is_blank(ch) || ch == ',' || ch == ']')) {
        return emit(j, errstr, errstr_size) == 0 ? 1 : -1;
    }
    if (j->len >= j->max_item) {
        char msg[64];
        (void)snprintf(msg, sizeof(msg), "longer than %zu bytes", j->max_item);
        return fail(j, errstr, errstr_size, j->items + 1, msg);
    }
    if (put(j, ch) != 0) {
        return fail(j, errstr, errstr_size, j->items + 1, "out of memory");
    }
    int done = 0;
    if (j->in_string) {
        if (j->escape) {
            j->escape = 0;
        } else if (ch == '\\') {
            j->escape = 1;
        } else if (ch == '"') {
            j->in_string = 0;
            done = j->shape == ITEM_STRING;
        }
    } else if (j->shape == ITEM_NESTED) {
        if (ch == '"') {
            j->in_string = 1;
        } else if (ch == '{' || ch == '[') {
            j->depth++;
        } else if (ch == '}' || ch == ']') {
            done = --j->depth == 0;
        }
    }
    if (done) {
        return emit(j, errstr, errstr_size) == 0 ? 0 : -1;
    }
    return 0;
}

static int scan_byte(gw_jsonarr *j, char ch, char *errstr, size_t errstr_size)
{
    for (;;) {
        switch (j->st) {
        case ST_ITEM: {
            int rc = item_byte(j, ch, errstr, errstr_size);
            if (rc <= 0) {
                return rc;
            }
            continue; /* a scalar ended at ch: read ch as a separator */
        }
        case ST_START:
            if (is_blank(ch)) {
                return 0;
            }
            if (ch != '[') {
                return fail(j, errstr, errstr_size, 0,
                            "expected '[' (the body must be a JSON array of objects)");
            }
            j->st = ST_FIRST;
            return 0;
        case ST_FIRST:
            if (is_blank(ch)) {
                return 0;
            }
            if (ch == ']') {
                j->st = ST_DONE;
                return 0;
            }
            return start_item(j, ch, errstr, errstr_size);
        case ST_NEXT:
            if (is_blank(ch)) {
                return 0;
            }
            return start_item(j, ch, errstr, errstr_size);
        case ST_AFTER:
            if (is_blank(ch)) {
                return 0;
            }
            if (ch == ',') {
                j->st = ST_NEXT;
                return 0;
            }
            if (ch == ']') {
                j->st = ST_DONE;
                return 0;
            }
            return fail(j, errstr, errstr_size, 0, "expected ',' or ']' after an item");
        case ST_DONE:
            if (is_blank(ch)) {
                return 0;
            }
            return fail(j, errstr, errstr_size, 0, "data after the end of the array");
        }
        return -1;
    }
}

int gw_jsonarr_feed(gw_jsonarr *j, const char *data, size_t len, char *errstr, size_t errstr_size)
{
    if (j->failed) {
        if (errstr_size) {
            (void)snprintf(errstr, errstr_size, "reader already failed");
        }
        return -1;
    }
    size_t i = 0;
    while (!j->bom_done && i < len) {
        if ((unsigned char)data[i] != utf8_bom[j->bom_len]) {
            j->bom_done = 1;
            if (j->bom_len > 0) {
                /* Held bytes of a BOM that was not one can only be garbage
                 * before the '[' (0xEF is no JSON byte). */
                return fail(j, errstr, errstr_size, 0,
                            "expected '[' (the body must be a JSON array of objects)");
            }
            break;
        }
        j->bom_len++;
        j->offset++;
        i++;
        if (j->bom_len == sizeof(utf8_bom)) {
            j->bom_done = 1;
        }
    }
    for (; i < len; i++) {
        if (scan_byte(j, data[i], errstr, errstr_size) != 0) {
            return -1;
        }
        j->offset++;
    }
    return 0;
}

int gw_jsonarr_finish(gw_jsonarr *j, char *errstr, size_t errstr_size)
{
    if (j->failed) {
        if (errstr_size) {
            (void)snprintf(errstr, errstr_size, "reader already failed");
        }
        return -1;
    }
    if (j->st == ST_ITEM && j->shape == ITEM_SCALAR) {
        if (emit(j, errstr, errstr_size) != 0) {
            return -1;
        }
    }
    switch (j->st) {
    case ST_DONE:
        return 0;
    case ST_START:
        return fail(j, errstr, errstr_size, 0, "empty body (expected a JSON array of objects)");
    case ST_ITEM:
        return fail(j, errstr, errstr_size, j->items + 1, "the item is not closed at the end");
    default:
        return fail(j, errstr, errstr_size, 0, "the array is not closed at the end");
    }
}

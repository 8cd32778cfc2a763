/* The items of a JSON array streamed chunk by chunk, without ever holding the
 * whole array: a small scanner that tracks strings, escapes and nesting
 * depth cuts the top-level array into its items and hands each one's raw
 * text to a callback, which parses it (jansson json_loadb) on its own. So an
 * API client's upload of a million contacts costs one item of memory. The
 * scanner checks only what framing needs (brackets balance, strings close,
 * items are separated by commas); the item's own syntax is the callback's
 * business. A UTF-8 BOM before the array is skipped. Pure: no I/O; one thread
 * at a time. */
#ifndef GW_JSONARR_H
#define GW_JSONARR_H

#include <stddef.h>

typedef struct gw_jsonarr gw_jsonarr;

/* One item: its raw JSON text (len bytes, NUL-terminated at text[len], no
 * surrounding blanks) and its position in the array, from 1. The text is
 * valid during the call only. Return 0 to go on, or -1 to stop (the feed
 * then returns -1 with errstr "stopped"). */
typedef int (*gw_jsonarr_item_fn)(void *ctx, long long index, const char *text, size_t len);

/* Creates a scanner calling fn for each item; max_item_bytes bounds one
 * item. Returns NULL on allocation failure. */
gw_jsonarr *gw_jsonarr_new(size_t max_item_bytes, gw_jsonarr_item_fn fn, void *ctx)
    __attribute__((warn_unused_result));
void gw_jsonarr_destroy(gw_jsonarr *j);

/* Feeds the next chunk; items it completes are delivered before it returns.
 * Returns 0, or -1 with one line in errstr ("item 12: longer than 65536
 * bytes", "byte 0: expected '[' (the body must be a JSON array)"); after -1
 * the scanner is unusable. */
int gw_jsonarr_feed(gw_jsonarr *j, const char *data, size_t len, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Ends the input. Returns 0 when a whole array was read (followed by blanks
 * only), or -1 with errstr ("the array is not closed"). */
int gw_jsonarr_finish(gw_jsonarr *j, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Items delivered so far. */
long long gw_jsonarr_items(const gw_jsonarr *j);

/* The item a failed feed/finish was reading (from 1), or 0 when the failure
 * was outside any item. */
long long gw_jsonarr_error_item(const gw_jsonarr *j);

#endif

/* Text that ecmctl prints from the API's JSON: fixed-width table cells
 * (UTF-8 aware: widths count characters, never cut one in two), the
 * campaign table's rows, and the one-line counts of a campaign that
 * "ecmctl watch" prints. Pure: each writes into the caller's buffer. */
#ifndef CTL_TABLE_H
#define CTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Writes s (NULL: "-") into dst as exactly width characters: cut with a
 * trailing "~" when longer, padded with spaces on the right (or on the
 * left when right is true). Ill-formed UTF-8 shows as U+FFFD. Returns
 * dst; cut (NUL-terminated) when dst_size is too small. Can't fail. */
const char *ctl_table_fit(char *dst, size_t dst_size, const char *s, size_t width, bool right);

/* The campaign table's header line (no newline). Can't fail. */
const char *ctl_table_campaign_header(void);

/* Writes one campaign (an API Campaign object) as a row of the table into
 * buf (no newline): id, name, channel, state, contacts, closed,
 * attempts. Returns buf. Can't fail. */
const char *ctl_table_campaign_row(char *buf, size_t size, const json_t *campaign);

/* Writes a campaign's counts on one line into buf: its state, contacts,
 * contacts by state, attempts, and the closed contacts by outcome, e.g.
 * "active contacts=100 pending=0 queued=10 dispatched=5 waiting=0
 * retry_due=0 closed=85 attempts=120 | CONNECTED=60 NO_ANSWER=25".
 * Returns buf; cut when size is too small. Can't fail. */
const char *ctl_table_counts_line(char *buf, size_t size, const json_t *campaign);

/* true when the campaign is done: stopped, completed or expired, or every
 * one of its contacts (at least one) closed. */
bool ctl_table_campaign_done(const json_t *campaign);

#endif

/* The messages the SMS sender holds in memory (sms_item): made and freed
 * here, on the sender's list of every held item (whose leases it renews),
 * on a lane's waiting list, or on the sender's list of answers not yet
 * recorded. Not thread-safe: the sender's thread only. */
#ifndef SMS_HELD_H
#define SMS_HELD_H

#include "sms_state.h"

/* A new empty item of kind for lane ln, on s's list of every item. Returns
 * NULL when memory runs out. */
sms_item *sms_held_new(sms_sender *s, sms_item_kind kind, sms_lane *ln)
    __attribute__((warn_unused_result));

/* Takes it off s's list of every item and frees it with its strings. It
 * must be on no waiting or done list. Can't fail. */
void sms_held_destroy(sms_sender *s, sms_item *it);

/* Sets the text of it (takes ownership of text, malloc'd; freed here on
 * failure), copies phone and from (NULL: "") and measures the encoding
 * and segments. Returns 0, or -1 when the text can't be measured or
 * memory runs out (it is left for sms_held_destroy()). */
int sms_held_set_text(sms_item *it, const char *phone, const char *from, char *text)
    __attribute__((warn_unused_result));

/* Appends it to ln's waiting list. Can't fail. */
void sms_held_push_back(sms_lane *ln, sms_item *it);

/* Puts it first on ln's waiting list (a retry goes before the rest). Can't
 * fail. */
void sms_held_push_front(sms_lane *ln, sms_item *it);

/* Takes the first item off ln's waiting list. Returns NULL when empty. */
sms_item *sms_held_pop(sms_lane *ln);

/* Appends it (answered) to s's list of answers to record. Can't fail. */
void sms_held_done(sms_sender *s, sms_item *it);

#endif

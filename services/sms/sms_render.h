/* An SMS campaign's template rendered for one contact: the contact's
 * fields (first_name, last_name, account_number, phone) and its custom
 * JSON object's members ({{name}}; a string, number or boolean, never an
 * absent or null one as a blank). Pure: no DB, no state. */
#ifndef SMS_RENDER_H
#define SMS_RENDER_H

#include <stddef.h>

/* Renders tmpl (NULL: the campaign has none) for one contact; custom_json
 * may be NULL. Returns 0 with *text malloc'd (the caller frees it), or -1
 * with the reason in errstr. */
int sms_render_contact(const char *tmpl, const char *first, const char *last, const char *account,
                       const char *phone, const char *custom_json, char **text, char *errstr,
                       size_t errstr_size) __attribute__((warn_unused_result));

#endif

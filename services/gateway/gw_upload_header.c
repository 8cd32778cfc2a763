#include "gw_upload_header.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecm_sms.h"
#include "ecm_utf8.h"
#include "gw_upload_report.h"

#define GW_HEADER_MAX_COLUMNS 1000

/* The phone columns' names, phone1 .. phone10. */
static const char *const phone_names[] = {"phone1", "phone2", "phone3", "phone4", "phone5",
                                          "phone6", "phone7", "phone8", "phone9", "phone10"};
_Static_assert(sizeof(phone_names) / sizeof(phone_names[0]) == GW_PHONE_COLUMNS,
               "a name for every phone column");

void gw_upload_header_trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) {
        (*len)--;
    }
}

/* The names of the fields with several: a contact's jurisdiction, its
 * subject. */
static const struct {
    const char *name;
    gw_upload_field field;
} aliases[] = {
    {"state", GW_FIELD_REGION},        {"region", GW_FIELD_REGION},   {"province", GW_FIELD_REGION},
    {"subject_key", GW_FIELD_SUBJECT}, {"debt_id", GW_FIELD_SUBJECT},
};

int gw_upload_header_alias(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        if (gw_upload_header_name_is(name, len, aliases[i].name)) {
            return (int)aliases[i].field;
        }
    }
    return -1;
}

struct gw_upload_header {
    size_t ncols;
    int account, first, last, tz; /* column index or -1 */
    int region, subject;          /* column index or -1; also custom fields */
    int phone[GW_PHONE_COLUMNS];
    char **custom;           /* per column: the custom field name, or NULL when known */
    unsigned char *required; /* per column: the message template uses it; NULL: none */
};

void gw_upload_header_destroy(gw_upload_header *h)
{
    if (!h) {
        return;
    }
    if (h->custom) {
        for (size_t i = 0; i < h->ncols; i++) {
            free(h->custom[i]);
        }
    }
    free(h->custom);
    free(h->required);
    free(h);
}

int gw_upload_header_name_is(const char *s, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(s, name, len) == 0;
}

/* Writes the reason, frees h; returns NULL for the caller to pass on. */
static gw_upload_header *header_fail(gw_upload_header *h, char *errstr, size_t errstr_size,
                                     const char *msg)
{
    if (errstr_size) {
        (void)snprintf(errstr, errstr_size, "header: %s", msg);
    }
    gw_upload_header_destroy(h);
    return NULL;
}

gw_upload_header *gw_upload_header_parse(size_t nfields, const char *const *fields,
                                         const size_t *lens, char *errstr, size_t errstr_size)
{
    char msg[128];
    if (nfields > GW_HEADER_MAX_COLUMNS) {
        (void)ecm_utf8_format(msg, sizeof(msg), "more than %d columns", GW_HEADER_MAX_COLUMNS);
        return header_fail(NULL, errstr, errstr_size, msg);
    }
    gw_upload_header *h = calloc(1, sizeof(*h));
    if (!h || !(h->custom = calloc(nfields ? nfields : 1, sizeof(char *)))) {
        return header_fail(h, errstr, errstr_size, "out of memory");
    }
    h->ncols = nfields;
    h->account = h->first = h->last = h->tz = h->region = h->subject = -1;
    for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
        h->phone[k] = -1;
    }
    int nphones = 0;
    for (size_t i = 0; i < nfields; i++) {
        const char *s = fields[i];
        size_t len = lens[i];
        gw_upload_header_trim(&s, &len);
        if (!ecm_utf8_text_ok(s, len)) {
            (void)ecm_utf8_format(msg, sizeof(msg), "column %zu is not valid UTF-8", i + 1);
            return header_fail(h, errstr, errstr_size, msg);
        }
        if (len == 0) {
            (void)ecm_utf8_format(msg, sizeof(msg), "column %zu has no name", i + 1);
            return header_fail(h, errstr, errstr_size, msg);
        }
        for (size_t j = 0; j < i; j++) {
            const char *t = fields[j];
            size_t tlen = lens[j];
            gw_upload_header_trim(&t, &tlen);
            if (tlen == len && strncasecmp(s, t, len) == 0) {
                char shown[GW_UPLOAD_EXCERPT_SIZE];
                ecm_utf8_excerpt(shown, sizeof(shown), s, len, GW_UPLOAD_EXCERPT_CHARS);
                (void)ecm_utf8_format(msg, sizeof(msg), "column %zu: '%s' appears twice", i + 1,
                                      shown);
                return header_fail(h, errstr, errstr_size, msg);
            }
        }
        int *slot = NULL;
        if (gw_upload_header_name_is(s, len, "account_number")) {
            slot = &h->account;
        } else if (gw_upload_header_name_is(s, len, "first_name")) {
            slot = &h->first;
        } else if (gw_upload_header_name_is(s, len, "last_name")) {
            slot = &h->last;
        } else if (gw_upload_header_name_is(s, len, "time_zone")) {
            slot = &h->tz;
        } else {
            for (int k = 0; k < GW_PHONE_COLUMNS; k++) {
                if (gw_upload_header_name_is(s, len, gw_upload_header_phone_name(k))) {
                    slot = &h->phone[k];
                    nphones++;
                    break;
                }
            }
        }
        int alias = slot ? -1 : gw_upload_header_alias(s, len);
        if (alias >= 0) {
            int *aslot = alias == GW_FIELD_REGION ? &h->region : &h->subject;
            if (*aslot >= 0) {
                char a[GW_UPLOAD_EXCERPT_SIZE], b[GW_UPLOAD_EXCERPT_SIZE];
                const char *t = fields[*aslot];
                size_t tlen = lens[*aslot];
                gw_upload_header_trim(&t, &tlen);
                ecm_utf8_excerpt(a, sizeof(a), t, tlen, GW_UPLOAD_EXCERPT_CHARS);
                ecm_utf8_excerpt(b, sizeof(b), s, len, GW_UPLOAD_EXCERPT_CHARS);
                (void)ecm_utf8_format(msg, sizeof(msg), "column %zu: '%s' and '%s' name one field",
                                      i + 1, a, b);
                return header_fail(h, errstr, errstr_size, msg);
            }
            *aslot = (int)i;
        }
        if (slot) {
            *slot = (int)i;
        } else if (!(h->custom[i] = strndup(s, len))) {
            return header_fail(h, errstr, errstr_size, "out of memory");
        }
    }
    if (nphones == 0) {
        return header_fail(h, errstr, errstr_size, "no phone column (expected phone1 .. phone10)");
    }
    return h;
}

typedef struct {
    gw_upload_header *h;
    char *errstr;
    size_t errstr_size;
} template_ctx;

static int template_field(void *vctx, const char *name)
{
    template_ctx *t = vctx;
    gw_upload_header *h = t->h;
    int col = -1;
    if (strcmp(name, "account_number") == 0) {
        col = h->account;
    } else if (strcmp(name, "first_name") == 0) {
        col = h->first;
    } else if (strcmp(name, "last_name") == 0) {
        col = h->last;
    } else {
        for (size_t i = 0; i < h->ncols && col < 0; i++) {
            if (h->custom[i] && strcmp(h->custom[i], name) == 0) {
                col = (int)i;
            }
        }
    }
    if (col < 0) {
        char shown[GW_UPLOAD_EXCERPT_SIZE];
        (void)ecm_utf8_format(t->errstr, t->errstr_size,
                              "the message template uses {%s}, which is not a column of the file",
                              ecm_utf8_quote(shown, sizeof(shown), name, GW_UPLOAD_EXCERPT_CHARS));
        return 1;
    }
    h->required[col] = 1;
    return 0;
}

int gw_upload_header_use_template(gw_upload_header *h, const char *tmpl, char *errstr,
                                  size_t errstr_size)
{
    if (!h->required && !(h->required = calloc(h->ncols ? h->ncols : 1, 1))) {
        (void)snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    template_ctx t = {h, errstr, errstr_size};
    int rc = ecm_sms_template_foreach(tmpl, template_field, &t, errstr, errstr_size);
    return rc < 0 ? -1 : rc > 0 ? 1 : 0;
}

void gw_upload_header_unrequire(gw_upload_header *h)
{
    free(h->required);
    h->required = NULL;
}

size_t gw_upload_header_columns(const gw_upload_header *h)
{
    return h->ncols;
}

int gw_upload_header_field(const gw_upload_header *h, gw_upload_field f)
{
    const int idx[] = {h->account, h->first, h->last, h->tz, h->region, h->subject};
    return idx[f];
}

int gw_upload_header_phone(const gw_upload_header *h, int k)
{
    return h->phone[k];
}

const char *gw_upload_header_custom(const gw_upload_header *h, size_t col)
{
    return h->custom[col];
}

int gw_upload_header_required(const gw_upload_header *h, size_t col)
{
    return h->required ? h->required[col] : 0;
}

const char *gw_upload_header_phone_name(int k)
{
    return phone_names[k];
}

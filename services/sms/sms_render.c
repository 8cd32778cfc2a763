#include "sms_render.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ecm_sms.h"

typedef struct {
    const char *first_name, *last_name, *account_number, *phone;
    json_t *custom;
    char num[64];
} fields;

static const char *field_lookup(void *ctx, const char *name)
{
    fields *f = ctx;
    if (strcmp(name, "first_name") == 0)
        return f->first_name;
    if (strcmp(name, "last_name") == 0)
        return f->last_name;
    if (strcmp(name, "account_number") == 0)
        return f->account_number;
    if (strcmp(name, "phone") == 0)
        return f->phone;
    json_t *v = f->custom ? json_object_get(f->custom, name) : NULL;
    if (json_is_string(v))
        return json_string_value(v);
    /* A number that had to be cut is never rendered: absent instead. */
    if (json_is_integer(v))
        return (size_t)snprintf(f->num, sizeof f->num, "%lld", (long long)json_integer_value(v)) <
                       sizeof f->num
                   ? f->num
                   : NULL;
    if (json_is_real(v))
        return (size_t)snprintf(f->num, sizeof f->num, "%g", json_real_value(v)) < sizeof f->num
                   ? f->num
                   : NULL;
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL; /* absent or null: never rendered as a blank */
}

int sms_render_contact(const char *tmpl, const char *first, const char *last, const char *account,
                       const char *phone, const char *custom_json, char **text, char *errstr,
                       size_t errstr_size)
{
    fields f = {first, last, account, phone, NULL, {0}};
    if (custom_json)
        f.custom = json_loads(custom_json, 0, NULL);
    int rc = tmpl ? ecm_sms_render(tmpl, field_lookup, &f, text, errstr, errstr_size) : -1;
    if (!tmpl)
        snprintf(errstr, errstr_size, "campaign has no SMS template");
    json_decref(f.custom);
    return rc;
}

#include "dbx_name.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecm_utf8.h"

/* 1 when s ends with tail, case-insensitively. */
static int ends_with_ci(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcasecmp(s + n - k, tail) == 0;
}

int dbx_name_is_temp(const char *name)
{
    static const char *const tails[] = {".tmp",      ".part",       ".partial",
                                        ".filepart", ".crdownload", "~"};
    if (name[0] == '\0' || name[0] == '.') {
        return 1;
    }
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        if (ends_with_ci(name, tails[i])) {
            return 1;
        }
    }
    return 0;
}

const char *dbx_name_base(const char *rel_path)
{
    const char *slash = strrchr(rel_path, '/');
    return slash ? slash + 1 : rel_path;
}

/* The campaign id written in s[0..len): 1 to 18 digits, not 0. Returns 0 or
 * -1. */
static int parse_id(const char *s, size_t len, long long *id)
{
    if (len == 0 || len > 18 || strspn(s, "0123456789") < len) {
        return -1;
    }
    char digits[20];
    memcpy(digits, s, len);
    digits[len] = '\0';
    errno = 0;
    char *end;
    long long v = strtoll(digits, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0) {
        return -1;
    }
    *id = v;
    return 0;
}

int dbx_name_campaign(const char *rel_path, long long *campaign_id, char *why, size_t why_size)
{
    char shown[160];
    const char *slash = strchr(rel_path, '/');
    if (slash) {
        if (parse_id(rel_path, (size_t)(slash - rel_path), campaign_id) == 0) {
            return 0;
        }
        char dir[128];
        size_t n = (size_t)(slash - rel_path);
        /* trunc-ok: shown quoted to 100 characters anyway */
        (void)snprintf(dir, sizeof(dir), "%.*s", (int)(n < 100 ? n : 100), rel_path);
        (void)snprintf(why, why_size, "folder '%s' is not a campaign id",
                       ecm_utf8_quote(shown, sizeof(shown), dir, 100));
        return -1;
    }
    const char *us = strchr(rel_path, '_');
    if (us && parse_id(rel_path, (size_t)(us - rel_path), campaign_id) == 0) {
        return 0;
    }
    (void)snprintf(
        why, why_size,
        "file name '%s' does not start with a campaign id and '_' (e.g. 42_contacts.csv), "
        "and it is not in a campaign's folder",
        ecm_utf8_quote(shown, sizeof(shown), rel_path, 100));
    return -1;
}

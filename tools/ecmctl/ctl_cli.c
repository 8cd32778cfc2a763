#include "ctl_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ctl_cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

int ctl_cli_usage(ctl_cli_usage_fn usage, bool help)
{
    usage(help ? stdout : stderr);
    return help ? -1 : CTL_EXIT_USAGE;
}

int ctl_cli_parse_id(const char *s, long long *out)
{
    if (!s || *s < '0' || *s > '9') {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v <= 0) {
        return -1;
    }
    *out = v;
    return 0;
}

const char *ctl_cli_count(char *buf, size_t size, long long v)
{
    char digits[24];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int n = snprintf(digits, sizeof(digits), "%llu", u);
    size_t o = 0;
    if (size == 0) {
        return buf;
    }
    if (v < 0 && o + 1 < size) {
        buf[o++] = '-';
    }
    for (int i = 0; i < n && o + 1 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0 && o + 1 < size) {
            buf[o++] = ',';
        }
        if (o + 1 < size) {
            buf[o++] = digits[i];
        }
    }
    buf[o] = '\0';
    return buf;
}

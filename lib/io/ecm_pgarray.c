#include "ecm_pgarray.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void arr_put(ecm_pgarr *a, const char *s, size_t n)
{
    if (a->failed)
        return;
    if (a->len + n + 1 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        while (cap < a->len + n + 1)
            cap *= 2;
        char *p = realloc(a->s, cap);
        if (!p) {
            a->failed = 1;
            return;
        }
        a->s = p;
        a->cap = cap;
    }
    memcpy(a->s + a->len, s, n);
    a->len += n;
    a->s[a->len] = '\0';
}

void ecm_pgarr_init(ecm_pgarr *a)
{
    memset(a, 0, sizeof *a);
    arr_put(a, "{", 1);
}

void ecm_pgarr_add_int(ecm_pgarr *a, long long v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%s%lld", a->n > 0 ? "," : "", v);
    arr_put(a, num, (size_t)n);
    a->n++;
}

void ecm_pgarr_add_str(ecm_pgarr *a, const char *s)
{
    if (a->n > 0)
        arr_put(a, ",", 1);
    a->n++;
    if (!s) {
        arr_put(a, "NULL", 4);
        return;
    }
    arr_put(a, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            arr_put(a, "\\", 1);
        arr_put(a, p, 1);
    }
    arr_put(a, "\"", 1);
}

const char *ecm_pgarr_finish(ecm_pgarr *a)
{
    arr_put(a, "}", 1);
    return a->failed ? NULL : a->s;
}

void ecm_pgarr_free(ecm_pgarr *a)
{
    free(a->s);
    memset(a, 0, sizeof *a);
}

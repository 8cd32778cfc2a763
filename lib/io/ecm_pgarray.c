#include "ecm_pgarray.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* PostgreSQL refuses a value over 1 GB, so a longer literal could not be
 * sent anyway. */
#define PGARR_MAX (1u << 30)

/* Appends to the literal. A failure sticks in the buffer and
 * ecm_pgarr_finish() reports it, so nobody here needs to look. */
static void arr_put(ecm_pgarr *a, const char *s, size_t n)
{
    if (ecm_buf_add(&a->buf, s, n) != 0)
        return;
}

void ecm_pgarr_init(ecm_pgarr *a)
{
    ecm_pgarr_init_max(a, PGARR_MAX);
}

void ecm_pgarr_init_max(ecm_pgarr *a, size_t max)
{
    ecm_buf_init(&a->buf, max);
    a->n = 0;
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
    if (ecm_buf_add(&a->buf, "}", 1) != 0)
        return NULL;
    return ecm_buf_ptr(&a->buf);
}

void ecm_pgarr_destroy(ecm_pgarr *a)
{
    ecm_buf_destroy(&a->buf);
    a->n = 0;
}

char **ecm_pgarr_parse(const char *lit, int *n)
{
    *n = 0;
    if (!lit || !*lit)
        return calloc(1, sizeof(char *));
    const char *p = lit;
    if (*p == '[') { /* "[0:1]={...}": bounds other than 1 */
        p = strchr(p, '=');
        if (!p)
            return NULL;
        p++;
    }
    if (*p != '{')
        return NULL;
    size_t len = strlen(p), slots = 1;
    for (const char *c = p; *c; c++)
        slots += *c == ',';
    /* Decoded text is never longer than the literal, separators included. */
    char **out = malloc(slots * sizeof *out + len + 1);
    if (!out)
        return NULL;
    char *w = (char *)(out + slots);
    int k = 0;
    p++;
    if (*p == '}')
        return out;
    for (;;) {
        char *start = w;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                *w++ = *p;
            }
            if (*p != '"')
                goto bad;
            p++;
            *w++ = '\0';
            out[k++] = start;
        } else {
            const char *e = p;
            while (*e && *e != ',' && *e != '}')
                e++;
            if (e == p)
                goto bad;
            if (e - p == 4 && strncasecmp(p, "NULL", 4) == 0) {
                out[k++] = NULL;
            } else {
                memcpy(w, p, (size_t)(e - p));
                w += e - p;
                *w++ = '\0';
                out[k++] = start;
            }
            p = e;
        }
        if (*p == ',' && (size_t)k < slots) {
            p++;
            continue;
        }
        if (*p == '}')
            break;
        goto bad;
    }
    *n = k;
    return out;
bad:
    free(out);
    *n = 0;
    return NULL;
}

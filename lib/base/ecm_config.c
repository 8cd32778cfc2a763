#include "ecm_config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecm_log.h"

static const char *const type_names[] = {"string", "int", "bool", "double"};

static const char *cfg_type_name(ecm_cfg_type t)
{
    return (unsigned)t < 4 ? type_names[t] : "?";
}

static int has_range(const ecm_cfg_entry *e)
{
    return (e->type == ECM_CFG_INT || e->type == ECM_CFG_DOUBLE) && e->min <= e->max;
}

static void *field_ptr(const ecm_cfg_entry *e, void *base)
{
    return (char *)base + e->offset;
}

static const void *field_cptr(const ecm_cfg_entry *e, const void *base)
{
    return (const char *)base + e->offset;
}

/* Shown instead of the value in error messages about secret variables. */
static const char *shown(const ecm_cfg_entry *e, const char *value)
{
    return e->secret ? "(secret)" : value;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static void format_range(const ecm_cfg_entry *e, char *out, size_t size)
{
    if (!has_range(e)) {
        snprintf(out, size, "-");
    } else if (e->type == ECM_CFG_INT) {
        snprintf(out, size, "[%lld, %lld]", (long long)e->min, (long long)e->max);
    } else {
        snprintf(out, size, "[%g, %g]", e->min, e->max);
    }
}

/* Parses one value by type into the field. Returns 0, or -1 with errstr. */
static int load_one(const ecm_cfg_entry *e, const char *value, void *out, char *errstr,
                    size_t errstr_size)
{
    char range[96];
    switch (e->type) {
    case ECM_CFG_STRING: {
        char *copy = strdup(value);
        if (!copy) {
            snprintf(errstr, errstr_size, "%s: out of memory", e->env);
            return -1;
        }
        char **slot = field_ptr(e, out);
        free(*slot);
        *slot = copy;
        break;
    }
    case ECM_CFG_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (end == value || *end != '\0') {
            snprintf(errstr, errstr_size, "%s: '%s' is not an integer", e->env, shown(e, value));
            return -1;
        }
        format_range(e, range, sizeof range);
        if (errno == ERANGE) {
            snprintf(errstr, errstr_size, "%s: %s is out of range%s%s", e->env, shown(e, value),
                     has_range(e) ? " " : "", has_range(e) ? range : "");
            return -1;
        }
        if (has_range(e) && ((double)v < e->min || (double)v > e->max)) {
            snprintf(errstr, errstr_size, "%s: %s is out of range %s", e->env, shown(e, value),
                     range);
            return -1;
        }
        *(long long *)field_ptr(e, out) = v;
        break;
    }
    case ECM_CFG_BOOL: {
        int b;
        if (parse_bool(value, &b) != 0) {
            snprintf(errstr, errstr_size,
                     "%s: '%s' is not a boolean (true/false, 1/0, yes/no, on/off)", e->env,
                     shown(e, value));
            return -1;
        }
        *(int *)field_ptr(e, out) = b;
        break;
    }
    case ECM_CFG_DOUBLE: {
        char *end = NULL;
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || isnan(v)) {
            snprintf(errstr, errstr_size, "%s: '%s' is not a number", e->env, shown(e, value));
            return -1;
        }
        format_range(e, range, sizeof range);
        if (errno == ERANGE || isinf(v) || (has_range(e) && (v < e->min || v > e->max))) {
            snprintf(errstr, errstr_size, "%s: %s is out of range%s%s", e->env, shown(e, value),
                     has_range(e) ? " " : "", has_range(e) ? range : "");
            return -1;
        }
        *(double *)field_ptr(e, out) = v;
        break;
    }
    default:
        snprintf(errstr, errstr_size, "%s: unknown type in the configuration table", e->env);
        return -1;
    }
    return 0;
}

int ecm_config_load(const ecm_cfg_entry *table, size_t n, void *out, char *errstr,
                    size_t errstr_size)
{
    char reason[512];
    if (errstr && errstr_size) {
        errstr[0] = '\0';
    }
    for (size_t i = 0; i < n; i++) {
        const ecm_cfg_entry *e = &table[i];
        const char *value = getenv(e->env);
        /* An empty variable counts as unset: "VAR=" in a unit file or
         * compose file usually means "not configured". */
        if (!value || value[0] == '\0') {
            value = e->def;
        }
        if (!value) {
            snprintf(errstr, errstr_size, "%s: required but not set", e->env);
            return -1;
        }
        if (load_one(e, value, out, errstr, errstr_size) != 0) {
            return -1;
        }
        if (e->validate) {
            reason[0] = '\0';
            if (e->validate(value, reason, sizeof reason) != 0) {
                snprintf(errstr, errstr_size, "%s: %s", e->env,
                         reason[0] ? reason : "invalid value");
                return -1;
            }
        }
    }
    return 0;
}

void ecm_config_destroy(const ecm_cfg_entry *table, size_t n, void *out)
{
    if (!out) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (table[i].type == ECM_CFG_STRING) {
            char **slot = field_ptr(&table[i], out);
            free(*slot);
            *slot = NULL;
        }
    }
}

static void format_default(const ecm_cfg_entry *e, char *out, size_t size)
{
    if (!e->def) {
        snprintf(out, size, "required");
    } else if (e->def[0] == '\0') {
        snprintf(out, size, "\"\"");
    } else {
        snprintf(out, size, "%s", e->def);
    }
}

void ecm_config_print_help(FILE *f, const char *prog, const char *summary,
                           const ecm_cfg_entry *table, size_t n)
{
    char def[256], range[96];
    int wv = (int)strlen("VARIABLE"), wt = (int)strlen("TYPE"), wd = (int)strlen("DEFAULT"),
        wr = (int)strlen("RANGE");
    for (size_t i = 0; i < n; i++) {
        format_default(&table[i], def, sizeof def);
        format_range(&table[i], range, sizeof range);
        int l = (int)strlen(table[i].env);
        wv = l > wv ? l : wv;
        l = (int)strlen(cfg_type_name(table[i].type));
        wt = l > wt ? l : wt;
        l = (int)strlen(def);
        wd = l > wd ? l : wd;
        l = (int)strlen(range);
        wr = l > wr ? l : wr;
    }
    fprintf(f, "Usage: %s [--help]\n", prog ? prog : "ecm");
    if (summary) {
        fprintf(f, "\n%s\n", summary);
    }
    fprintf(f, "\nConfiguration is read from these environment variables:\n\n");
    fprintf(f, "  %-*s  %-*s  %-*s  %-*s  %s\n", wv, "VARIABLE", wt, "TYPE", wd, "DEFAULT", wr,
            "RANGE", "DESCRIPTION");
    for (size_t i = 0; i < n; i++) {
        format_default(&table[i], def, sizeof def);
        format_range(&table[i], range, sizeof range);
        fprintf(f, "  %-*s  %-*s  %-*s  %-*s  %s\n", wv, table[i].env, wt,
                cfg_type_name(table[i].type), wd, def, wr, range,
                table[i].desc ? table[i].desc : "");
    }
}

void ecm_config_log(const ecm_cfg_entry *table, size_t n, const void *cfg)
{
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (!out) {
        return;
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const ecm_cfg_entry *e = &table[i];
        char val[1024];
        if (e->type == ECM_CFG_STRING) {
            const char *s = *(char *const *)field_cptr(e, cfg);
            if (!s) {
                snprintf(val, sizeof val, "(unset)");
            } else if (e->secret) {
                snprintf(val, sizeof val, "***");
            } else {
                snprintf(val, sizeof val, "%s", s);
            }
        } else if (e->secret) {
            snprintf(val, sizeof val, "***");
        } else if (e->type == ECM_CFG_INT) {
            snprintf(val, sizeof val, "%lld", *(const long long *)field_cptr(e, cfg));
        } else if (e->type == ECM_CFG_BOOL) {
            snprintf(val, sizeof val, "%s", *(const int *)field_cptr(e, cfg) ? "true" : "false");
        } else {
            snprintf(val, sizeof val, "%g", *(const double *)field_cptr(e, cfg));
        }
        size_t need = strlen(e->env) + strlen(val) + 3;
        if (len + need >= cap) {
            size_t ncap = (len + need) * 2;
            char *grown = realloc(out, ncap);
            if (!grown) {
                free(out);
                return;
            }
            out = grown;
            cap = ncap;
        }
        int w = snprintf(out + len, cap - len, "%s%s=%s", len ? " " : "", e->env, val);
        if (w > 0) {
            len += (size_t)w;
        }
    }
    ecm_log_info("configuration", "%s", out);
    free(out);
}

int ecm_config_check_url_or_empty(const char *value, char *errstr, size_t errstr_size)
{
    if (value[0] == '\0' || strncmp(value, "http://", 7) == 0 || strncmp(value, "https://", 8) == 0)
        return 0;
    snprintf(errstr, errstr_size, "'%s' is not an http:// or https:// URL", value);
    return -1;
}

int ecm_config_check_url(const char *value, char *errstr, size_t errstr_size)
{
    if (value[0] == '\0') {
        snprintf(errstr, errstr_size, "must not be empty");
        return -1;
    }
    return ecm_config_check_url_or_empty(value, errstr, errstr_size);
}

/* Configuration as one declarative table per service (after librdkafka's
 * rdkafka_conf.c): each entry names the environment variable, its type, where
 * it goes in the service's config struct, its default, its range and a
 * description. The same table parses, validates and prints --help. */
#ifndef ECM_CONFIG_H
#define ECM_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    ECM_CFG_STRING, /* char *, malloc'd copy owned by the struct */
    ECM_CFG_INT,    /* long long, within [min, max] */
    ECM_CFG_BOOL,   /* int 0/1; accepts true/false/1/0/yes/no/on/off */
    ECM_CFG_DOUBLE, /* double, within [min, max] */
} ecm_cfg_type;

/* Optional extra check of a value already parsed by type. Returns 0, or -1
 * with a reason written to errstr. */
typedef int (*ecm_cfg_validator)(const char *value, char *errstr, size_t errstr_size);

typedef struct {
    const char *env; /* e.g. "ECM_PG_DSN" */
    ecm_cfg_type type;
    size_t offset;              /* offsetof() the field in the config struct */
    const char *def;            /* default as text; NULL makes the variable required */
    double min, max;            /* range for INT and DOUBLE (ignored when min > max) */
    const char *desc;           /* one line for --help */
    ecm_cfg_validator validate; /* may be NULL */
    int secret;                 /* 1: never print the value (passwords, DSNs) */
} ecm_cfg_entry;

/* Reads every entry from the environment into out (a zeroed struct).
 * Returns 0, or -1 with one line in errstr that names the variable, e.g.
 * "ECM_HTTP_PORT: 'abc' is not an integer". On failure nothing needs freeing
 * beyond ecm_config_destroy(). */
int ecm_config_load(const ecm_cfg_entry *table, size_t n, void *out, char *errstr,
                    size_t errstr_size) __attribute__((warn_unused_result));

/* Frees the strings ecm_config_load() stored in out. */
void ecm_config_destroy(const ecm_cfg_entry *table, size_t n, void *out);

/* Prints usage: the summary line, then every variable with type, default,
 * range and description. */
void ecm_config_print_help(FILE *f, const char *prog, const char *summary,
                           const ecm_cfg_entry *table, size_t n);

/* Validators for URL variables (ecm_cfg_validator): the value must start
 * with http:// or https://. ecm_config_check_url() also refuses an empty
 * value ("must not be empty"); ecm_config_check_url_or_empty() takes it
 * (a part left unconfigured). Return 0, or -1 with the reason in errstr.
 * Pure. */
int ecm_config_check_url(const char *value, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));
int ecm_config_check_url_or_empty(const char *value, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Logs the effective configuration (secrets masked) at info level. */
void ecm_config_log(const ecm_cfg_entry *table, size_t n, const void *cfg);

#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ecm_config.h"
#include "ecm_log.h"

typedef struct {
    char *dsn;
    char *name;
    long long port;
    int enabled;
    double ratio;
    char *mode;
} test_cfg;

static int validate_mode(const char *value, char *errstr, size_t errstr_size)
{
    if (strcmp(value, "fast") == 0 || strcmp(value, "slow") == 0) {
        return 0;
    }
    snprintf(errstr, errstr_size, "'%s' is not fast or slow", value);
    return -1;
}

static const ecm_cfg_entry table[] = {
    {"TCFG_DSN", ECM_CFG_STRING, offsetof(test_cfg, dsn), NULL, 0, -1, "connection string", NULL,
     1},
    {"TCFG_NAME", ECM_CFG_STRING, offsetof(test_cfg, name), "ecm", 0, -1, "a name", NULL, 0},
    {"TCFG_PORT", ECM_CFG_INT, offsetof(test_cfg, port), "8080", 1, 65535, "HTTP port", NULL, 0},
    {"TCFG_ENABLED", ECM_CFG_BOOL, offsetof(test_cfg, enabled), "false", 0, -1, "switch", NULL, 0},
    {"TCFG_RATIO", ECM_CFG_DOUBLE, offsetof(test_cfg, ratio), "0.5", 0, 1, "a fraction", NULL, 0},
    {"TCFG_MODE", ECM_CFG_STRING, offsetof(test_cfg, mode), "fast", 0, -1, "fast or slow",
     validate_mode, 0},
};
#define NTABLE (sizeof table / sizeof table[0])

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTABLE; i++) {
        unsetenv(table[i].env);
    }
    setenv("TCFG_DSN", "host=x password=hunter2", 1);
    return 0;
}

/* Loads with the current environment; returns the rc and leaves the error. */
static int load(test_cfg *cfg, char *err, size_t size)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = ecm_config_load(table, NTABLE, cfg, err, size);
    return rc;
}

static void expect_error(const char *var, const char *value, const char *want)
{
    test_cfg cfg;
    char err[256];
    setenv(var, value, 1);
    assert_int_equal(load(&cfg, err, sizeof err), -1);
    ecm_config_destroy(table, NTABLE, &cfg);
    unsetenv(var);
    if (strcmp(err, want) != 0) {
        fail_msg("for %s='%s' got \"%s\", want \"%s\"", var, value, err, want);
    }
}

static void test_config_defaults_apply_when_unset(void **state)
{
    (void)state;
    test_cfg cfg;
    char err[256];
    assert_int_equal(load(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.dsn, "host=x password=hunter2");
    assert_string_equal(cfg.name, "ecm");
    assert_int_equal(cfg.port, 8080);
    assert_int_equal(cfg.enabled, 0);
    assert_true(cfg.ratio == 0.5);
    assert_string_equal(cfg.mode, "fast");
    ecm_config_destroy(table, NTABLE, &cfg);
    assert_null(cfg.dsn);
    assert_null(cfg.name);
}

static void test_config_reads_environment_values(void **state)
{
    (void)state;
    test_cfg cfg;
    char err[256];
    setenv("TCFG_NAME", "feeder", 1);
    setenv("TCFG_PORT", "65535", 1);
    setenv("TCFG_ENABLED", "yes", 1);
    setenv("TCFG_RATIO", "1", 1);
    setenv("TCFG_MODE", "slow", 1);
    assert_int_equal(load(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, "feeder");
    assert_int_equal(cfg.port, 65535);
    assert_int_equal(cfg.enabled, 1);
    assert_true(cfg.ratio == 1.0);
    assert_string_equal(cfg.mode, "slow");
    ecm_config_destroy(table, NTABLE, &cfg);
}

static void test_config_empty_value_counts_as_unset(void **state)
{
    (void)state;
    test_cfg cfg;
    char err[256];
    setenv("TCFG_PORT", "", 1);
    assert_int_equal(load(&cfg, err, sizeof err), 0);
    assert_int_equal(cfg.port, 8080);
    ecm_config_destroy(table, NTABLE, &cfg);
    setenv("TCFG_DSN", "", 1);
    assert_int_equal(load(&cfg, err, sizeof err), -1);
    assert_string_equal(err, "TCFG_DSN: required but not set");
    ecm_config_destroy(table, NTABLE, &cfg);
}

static void test_config_required_variable_missing_names_it(void **state)
{
    (void)state;
    test_cfg cfg;
    char err[256];
    unsetenv("TCFG_DSN");
    assert_int_equal(load(&cfg, err, sizeof err), -1);
    assert_string_equal(err, "TCFG_DSN: required but not set");
    ecm_config_destroy(table, NTABLE, &cfg);
}

static void test_config_bool_accepts_every_documented_form(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "TRUE", "1", "yes", "Yes", "on", "ON"};
    static const char *const no[] = {"false", "False", "0", "no", "NO", "off", "Off"};
    test_cfg cfg;
    char err[256];
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        setenv("TCFG_ENABLED", yes[i], 1);
        assert_int_equal(load(&cfg, err, sizeof err), 0);
        assert_int_equal(cfg.enabled, 1);
        ecm_config_destroy(table, NTABLE, &cfg);
        setenv("TCFG_ENABLED", no[i], 1);
        assert_int_equal(load(&cfg, err, sizeof err), 0);
        assert_int_equal(cfg.enabled, 0);
        ecm_config_destroy(table, NTABLE, &cfg);
    }
}

static void test_config_errors_name_the_variable(void **state)
{
    (void)state;
    expect_error("TCFG_PORT", "abc", "TCFG_PORT: 'abc' is not an integer");
    expect_error("TCFG_PORT", "12abc", "TCFG_PORT: '12abc' is not an integer");
    expect_error("TCFG_PORT", "1.5", "TCFG_PORT: '1.5' is not an integer");
    expect_error("TCFG_PORT", "70000", "TCFG_PORT: 70000 is out of range [1, 65535]");
    expect_error("TCFG_PORT", "0", "TCFG_PORT: 0 is out of range [1, 65535]");
    expect_error("TCFG_PORT", "-1", "TCFG_PORT: -1 is out of range [1, 65535]");
    expect_error("TCFG_PORT", "99999999999999999999",
                 "TCFG_PORT: 99999999999999999999 is out of range [1, 65535]");
    expect_error("TCFG_ENABLED", "maybe",
                 "TCFG_ENABLED: 'maybe' is not a boolean (true/false, 1/0, yes/no, on/off)");
    expect_error("TCFG_RATIO", "x", "TCFG_RATIO: 'x' is not a number");
    expect_error("TCFG_RATIO", "nan", "TCFG_RATIO: 'nan' is not a number");
    expect_error("TCFG_RATIO", "1.5", "TCFG_RATIO: 1.5 is out of range [0, 1]");
    expect_error("TCFG_MODE", "medium", "TCFG_MODE: 'medium' is not fast or slow");
}

static void test_config_range_bounds_are_inclusive(void **state)
{
    (void)state;
    test_cfg cfg;
    char err[256];
    setenv("TCFG_PORT", "1", 1);
    setenv("TCFG_RATIO", "0", 1);
    assert_int_equal(load(&cfg, err, sizeof err), 0);
    assert_int_equal(cfg.port, 1);
    assert_true(cfg.ratio == 0.0);
    ecm_config_destroy(table, NTABLE, &cfg);
}

/* The help as one malloc'd string. Read back from a temporary file rather
 * than open_memstream(): gcc's -Wdangling-pointer (Release, -O3) takes the
 * stream's pointer to a local for one that outlives it once inlined. */
static char *help_text(void)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    ecm_config_print_help(f, "ecm-test", "Does test things.", table, NTABLE);
    long len = ftell(f);
    assert_true(len > 0);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    rewind(f);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static void test_config_help_lists_every_variable(void **state)
{
    (void)state;
    char *h = help_text();
    assert_non_null(strstr(h, "ecm-test"));
    assert_non_null(strstr(h, "Does test things."));
    for (size_t i = 0; i < NTABLE; i++) {
        const char *line = strstr(h, table[i].env);
        const char *eol = line ? strchr(line, '\n') : NULL;
        if (!line || !eol) {
            fail_msg("%s missing from help, or not a whole line", table[i].env);
            return; /* cmocka's fail_msg() is not declared noreturn */
        }
        char row[512];
        snprintf(row, sizeof row, "%.*s", (int)(eol - line), line);
        assert_non_null(strstr(row, table[i].desc));
    }
    assert_non_null(strstr(h, "required"));
    assert_non_null(strstr(h, "[1, 65535]"));
    assert_non_null(strstr(h, "8080"));
    free(h);
}

static void test_config_help_columns_are_aligned(void **state)
{
    (void)state;
    char *h = help_text();
    /* Every table row's description starts at the same column. */
    int col = -1;
    for (size_t i = 0; i < NTABLE; i++) {
        const char *line = strstr(h, table[i].env);
        while (line > h && line[-1] != '\n') {
            line--;
        }
        const char *d = strstr(line, table[i].desc);
        assert_non_null(d);
        int c = (int)(d - line);
        if (col < 0) {
            col = c;
        }
        assert_int_equal(c, col);
    }
    free(h);
}

static void test_config_log_masks_secrets(void **state)
{
    (void)state;
    test_cfg cfg;
    char err[256];
    int fds[2];
    assert_int_equal(load(&cfg, err, sizeof err), 0);
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    ecm_log_init("test", ECM_LOG_INFO);
    ecm_config_log(table, NTABLE, &cfg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char out[8192];
    ssize_t n = read(fds[0], out, sizeof out - 1);
    close(fds[0]);
    assert_true(n > 0);
    out[n] = '\0';
    assert_null(strstr(out, "hunter2"));
    assert_non_null(strstr(out, "TCFG_DSN=***"));
    assert_non_null(strstr(out, "TCFG_PORT=8080"));
    assert_non_null(strstr(out, "TCFG_NAME=ecm"));
    ecm_config_destroy(table, NTABLE, &cfg);
}

static void test_config_check_url_takes_http_and_https_only(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(
        ecm_config_check_url("http://127.0.0.1:13013/cgi-bin/sendsms", err, sizeof err), 0);
    assert_int_equal(ecm_config_check_url("https://gw.example/send", err, sizeof err), 0);
    assert_int_equal(ecm_config_check_url("ftp://gw.example/", err, sizeof err), -1);
    assert_string_equal(err, "'ftp://gw.example/' is not an http:// or https:// URL");
    assert_int_equal(ecm_config_check_url("HTTP:/x", err, sizeof err), -1);
    assert_int_equal(ecm_config_check_url("", err, sizeof err), -1);
    assert_string_equal(err, "must not be empty");
}

static void test_config_check_url_or_empty_takes_empty(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(ecm_config_check_url_or_empty("", err, sizeof err), 0);
    assert_int_equal(ecm_config_check_url_or_empty("https://gw.example", err, sizeof err), 0);
    assert_int_equal(ecm_config_check_url_or_empty("gw.example", err, sizeof err), -1);
    assert_string_equal(err, "'gw.example' is not an http:// or https:// URL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_config_defaults_apply_when_unset, setup),
        cmocka_unit_test_setup(test_config_reads_environment_values, setup),
        cmocka_unit_test_setup(test_config_empty_value_counts_as_unset, setup),
        cmocka_unit_test_setup(test_config_required_variable_missing_names_it, setup),
        cmocka_unit_test_setup(test_config_bool_accepts_every_documented_form, setup),
        cmocka_unit_test_setup(test_config_errors_name_the_variable, setup),
        cmocka_unit_test_setup(test_config_range_bounds_are_inclusive, setup),
        cmocka_unit_test_setup(test_config_help_lists_every_variable, setup),
        cmocka_unit_test_setup(test_config_help_columns_are_aligned, setup),
        cmocka_unit_test_setup(test_config_log_masks_secrets, setup),
        cmocka_unit_test(test_config_check_url_takes_http_and_https_only),
        cmocka_unit_test(test_config_check_url_or_empty_takes_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

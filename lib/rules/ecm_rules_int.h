/* Private to lib/rules/ecm_rules*.c: the rule collection's layout, shared
 * by the builders (ecm_rules.c) and the evaluation (ecm_rules_eval.c). */
#ifndef ECM_RULES_INT_H
#define ECM_RULES_INT_H

#include <stdint.h>

#include "ecm_rules.h"
#include "ecm_window.h"

#define MINUTE_MS 60000LL
#define DAY_MINUTES 1440
#define WEEK_BYTES (DAY_MINUTES / 8)
/* Longest cap window or quiet period: ten years. */
#define PERIOD_MAX_S (3660LL * 24 * 3600)

enum { K_HOURS, K_DAY_OFF, K_CAP, K_QUIET, K_BLACKOUT };

typedef struct {
    int64_t id;
    char *name;
    char jur[ECM_RULES_JURISDICTION_MAX + 1];
    /* Hours per channel ([0] voice, [1] sms), NULL when no hours rule of the
     * set covers that channel; and the same as minute bits per weekday, to
     * see at once when the sets' hours never meet. */
    ecm_window *win[2];
    unsigned char week[2][7][WEEK_BYTES];
} rset;

typedef struct {
    int64_t id;
    size_t set;
    int kind;
    char *says;
    unsigned channels;
    unsigned wdays;
    int start_min, end_min;
    int64_t day; /* day_off: days since 1970-01-01 */
    unsigned scope;
    int max;
    int64_t window_ms;
    char *outcome;
    int64_t quiet_ms;
} rule;

typedef struct {
    int64_t day;
    char *reason;
} blackout;

struct ecm_rules {
    rset *sets;
    size_t nsets, capsets;
    rule *rules;
    size_t nrules, caprules;
    blackout *blackouts;
    size_t nblackouts, capblackouts;
};

/* Days since 1970-01-01 of a proleptic Gregorian date. Can't fail. */
int64_t ecm_rules_days_from_civil(int64_t y, int m, int d);

/* Bits of ecm_rules_attempt.same an attempt needs to count for scope. */
unsigned ecm_rules_scope_mask(unsigned scope);

#endif

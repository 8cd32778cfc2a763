/* ecmctl rules: the rule sets (contact rules as data) over
 * /api/v1/rule-sets: list them, show one with its rules, and apply a JSON
 * file in the shape of rules/<name>.json (created when no set has its name,
 * else replaced). The text helpers are pure, for the tests. */
#ifndef CTL_RULES_H
#define CTL_RULES_H

#include <stddef.h>

#include <jansson.h>

/* The rule-set table's header line (no newline). Can't fail. */
const char *ctl_rules_header(void);

/* Writes one rule set (an API RuleSet or summary) as a row of the table
 * into buf: id, jurisdiction, shipped or own, rules, campaigns, name.
 * Returns buf; cut when size is too small. Can't fail. */
const char *ctl_rules_row(char *buf, size_t size, const json_t *set);

/* Writes what one rule (an API Rule) does on one line into buf, e.g.
 * "hours    Mon-Fri 08:00-20:00", "day_off  2026-12-25",
 * "cap      3 in 24 h, per subject", "quiet    7 d after CONNECTED, per
 * contact", with " [sms]" or " [voice]" for a rule of one channel. Returns
 * buf; cut when size is too small. Can't fail. */
const char *ctl_rules_rule_line(char *buf, size_t size, const json_t *rule);

/* Writes seconds as the largest whole unit: "7 d", "24 h", "90 min",
 * "45 s". Returns buf. Can't fail. */
const char *ctl_rules_duration(char *buf, size_t size, long long seconds);

/* Runs "rules" with its arguments (argv[0] is "rules"). Returns an exit
 * code (ctl_cli.h). */
int ctl_rules_main(int argc, char **argv);

#endif

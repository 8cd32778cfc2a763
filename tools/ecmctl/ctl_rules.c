#include "ctl_rules.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_api.h"
#include "ctl_cli.h"
#include "ctl_table.h"

#define PAGE_LIMIT 200

enum { OPT_JSON = 256, OPT_JURISDICTION };

/* Writes the verb's usage to out. */
static void usage(FILE *out)
{
    fprintf(out, "usage: ecmctl rules list [--jurisdiction CODE] [--json]\n"
                 "       ecmctl rules show ID|NAME [--json]\n"
                 "       ecmctl rules apply FILE [--json]\n"
                 "\n"
                 "Rule sets: when, how often and how soon again contacts may be reached, per\n"
                 "jurisdiction (\"*\", a country \"US\", a state \"US-FL\").\n"
                 "list   every set: id, jurisdiction, shipped (loaded from rules/) or own,\n"
                 "       rules, campaigns using it, name; --jurisdiction: of that one only\n"
                 "show   one set with what each rule does and says, and its source\n"
                 "apply  FILE (- for stdin) is a set in the shape of rules/<name>.json: it\n"
                 "       replaces the set of that name, or makes a new one (admin key). A\n"
                 "       shipped set edited becomes your own: later shipped updates leave it.\n"
                 "The shipped sets are a starting point for your compliance officer, not\n"
                 "legal advice. Campaigns pick sets with --rule-set (ecmctl campaigns create).\n"
                 "\n"
                 "--json prints the API's JSON instead.\n" CTL_EXIT_HELP);
}

/* Appends fmt to buf at *o, NUL-terminated, never past its end. */
__attribute__((format(printf, 4, 5))) static void add(char *buf, size_t size, size_t *o,
                                                      const char *fmt, ...)
{
    if (*o + 1 >= size) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *o, size - *o, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *o = (size_t)n >= size - *o ? size - 1 : *o + (size_t)n;
    }
}

const char *ctl_rules_header(void)
{
    return "    ID  JURISDICTION  KIND     RULES  CAMPAIGNS  NAME";
}

const char *ctl_rules_row(char *buf, size_t size, const json_t *set)
{
    char j[64], name[256];
    size_t o = 0;
    if (size) {
        buf[0] = '\0';
    }
    add(buf, size, &o, "%6lld  %s  %-7s  %5lld  %9lld  %s",
        (long long)json_integer_value(json_object_get(set, "id")),
        ctl_table_fit(j, sizeof(j), json_string_value(json_object_get(set, "jurisdiction")), 12,
                      false),
        json_is_true(json_object_get(set, "shipped")) ? "shipped" : "own",
        (long long)json_integer_value(json_object_get(set, "rule_count")),
        (long long)json_integer_value(json_object_get(set, "campaigns")),
        ctl_table_fit(name, sizeof(name), json_string_value(json_object_get(set, "name")), 60,
                      false));
    /* The name is the last cell: no padding after it. */
    while (o > 0 && buf[o - 1] == ' ') {
        buf[--o] = '\0';
    }
    return buf;
}

const char *ctl_rules_duration(char *buf, size_t size, long long seconds)
{
    if (seconds > 0 && seconds % 86400 == 0) {
        (void)snprintf(buf, size, "%lld d", seconds / 86400);
    } else if (seconds > 0 && seconds % 3600 == 0) {
        (void)snprintf(buf, size, "%lld h", seconds / 3600);
    } else if (seconds > 0 && seconds % 60 == 0) {
        (void)snprintf(buf, size, "%lld min", seconds / 60);
    } else {
        (void)snprintf(buf, size, "%lld s", seconds);
    }
    return buf;
}

/* Writes the weekdays of an hours rule: "every day", "Mon-Fri", "Sat,Sun",
 * "Sun,Tue-Thu". */
static void add_wdays(char *buf, size_t size, size_t *o, const json_t *wdays)
{
    static const char *const NAMES[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    bool on[7] = {false};
    size_t i;
    json_t *d;
    json_array_foreach(wdays, i, d)
    {
        json_int_t v = json_integer_value(d);
        if (v >= 0 && v <= 6) {
            on[v] = true;
        }
    }
    int n = 0;
    for (int k = 0; k < 7; k++) {
        n += on[k];
    }
    if (n == 7) {
        add(buf, size, o, "every day");
        return;
    }
    bool first = true;
    for (int k = 0; k < 7; k++) {
        if (!on[k]) {
            continue;
        }
        int end = k;
        while (end + 1 < 7 && on[end + 1]) {
            end++;
        }
        add(buf, size, o, "%s%s", first ? "" : ",", NAMES[k]);
        if (end > k) {
            add(buf, size, o, "%s%s", end > k + 1 ? "-" : ",", NAMES[end]);
        }
        first = false;
        k = end;
    }
}

const char *ctl_rules_rule_line(char *buf, size_t size, const json_t *rule)
{
    const char *kind = json_string_value(json_object_get(rule, "kind"));
    const char *scope = json_string_value(json_object_get(rule, "scope"));
    char d[32];
    size_t o = 0;
    if (size) {
        buf[0] = '\0';
    }
    kind = kind ? kind : "?";
    add(buf, size, &o, "%-8s ", kind);
    if (strcmp(kind, "hours") == 0) {
        add_wdays(buf, size, &o, json_object_get(rule, "wdays"));
        add(buf, size, &o, " %s-%s", json_string_value(json_object_get(rule, "start")),
            json_string_value(json_object_get(rule, "end")));
    } else if (strcmp(kind, "day_off") == 0) {
        add(buf, size, &o, "%s", json_string_value(json_object_get(rule, "day")));
    } else if (strcmp(kind, "cap") == 0) {
        add(buf, size, &o, "%lld in %s, per %s",
            (long long)json_integer_value(json_object_get(rule, "max_attempts")),
            ctl_rules_duration(d, sizeof(d),
                               (long long)json_integer_value(json_object_get(rule, "window_s"))),
            scope ? scope : "contact");
    } else if (strcmp(kind, "quiet") == 0) {
        add(buf, size, &o, "%s after %s, per %s",
            ctl_rules_duration(d, sizeof(d),
                               (long long)json_integer_value(json_object_get(rule, "quiet_s"))),
            json_string_value(json_object_get(rule, "after_outcome")), scope ? scope : "contact");
    }
    const char *channel = json_string_value(json_object_get(rule, "channel"));
    if (channel && strcmp(channel, "all") != 0) {
        add(buf, size, &o, " [%s]", channel);
    }
    return buf;
}

/* Parses --json (and --jurisdiction when j is not NULL). Returns 0,
 * CTL_EXIT_USAGE, or -1 for --help. Leaves optind at the first operand. */
static int parse_opts(int argc, char **argv, bool *json, const char **j)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"jurisdiction", required_argument, NULL, OPT_JURISDICTION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == OPT_JSON) {
            *json = true;
        } else if (c == OPT_JURISDICTION && j) {
            *j = optarg;
        } else {
            return ctl_cli_usage(usage, c == 'h');
        }
    }
    return 0;
}

/* Every rule set (summaries), or NULL after telling why (*rc). */
static json_t *all_sets(const char *what, const char *jurisdiction, int *rc)
{
    char path[128] = "/api/v1/rule-sets";
    if (jurisdiction) {
        char *q = ctl_api_escape(jurisdiction);
        if (!q) {
            *rc = CTL_EXIT_LOST;
            return NULL;
        }
        int n = snprintf(path, sizeof(path), "/api/v1/rule-sets?jurisdiction=%s", q);
        free(q);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            fprintf(stderr, "ecmctl %s: --jurisdiction '%.40s' is no jurisdiction code\n", what,
                    jurisdiction);
            *rc = CTL_EXIT_USAGE;
            return NULL;
        }
    }
    return ctl_api_list_told(what, path, PAGE_LIMIT, 0, rc);
}

static int list(int argc, char **argv)
{
    bool json = false;
    const char *jurisdiction = NULL;
    int rc = parse_opts(argc, argv, &json, &jurisdiction);
    if (rc != 0 || optind != argc) {
        if (rc == 0) {
            usage(stderr);
        }
        return rc < 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    json_t *sets = all_sets("rules list", jurisdiction, &rc);
    if (!sets) {
        return rc;
    }
    if (json) {
        rc = ctl_api_print_items(sets);
    } else {
        printf("%s\n", ctl_rules_header());
        size_t i;
        json_t *s;
        json_array_foreach(sets, i, s)
        {
            char row[512];
            printf("%s\n", ctl_rules_row(row, sizeof(row), s));
        }
    }
    json_decref(sets);
    return rc;
}

/* The id of the set named by arg (an id, or a set's name looked up in the
 * list), or 0 after telling why (*rc). */
static long long set_id_of(const char *what, const char *arg, int *rc)
{
    long long id;
    if (ctl_cli_parse_id(arg, &id) == 0) {
        return id;
    }
    json_t *sets = all_sets(what, NULL, rc);
    if (!sets) {
        return 0;
    }
    id = 0;
    size_t i;
    json_t *s;
    json_array_foreach(sets, i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        if (name && strcmp(name, arg) == 0) {
            id = (long long)json_integer_value(json_object_get(s, "id"));
        }
    }
    json_decref(sets);
    if (id == 0) {
        fprintf(stderr, "ecmctl %s: no rule set named '%s'\n", what, arg);
        *rc = CTL_EXIT_REFUSED;
    }
    return id;
}

/* Prints a RuleSet for people: the set, then one line a rule with what it
 * says and its source. */
static void print_set(const json_t *set)
{
    const char *desc = json_string_value(json_object_get(set, "description"));
    printf("rule set %lld  %s\n", (long long)json_integer_value(json_object_get(set, "id")),
           json_string_value(json_object_get(set, "name")));
    printf("  jurisdiction  %s\n", json_string_value(json_object_get(set, "jurisdiction")));
    printf("  shipped       %s\n", json_is_true(json_object_get(set, "shipped")) ? "yes" : "no");
    printf("  campaigns     %lld\n",
           (long long)json_integer_value(json_object_get(set, "campaigns")));
    if (desc && *desc) {
        printf("  description   %s\n", desc);
    }
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(set, "rules"), i, r)
    {
        char line[512];
        const char *source = json_string_value(json_object_get(r, "source"));
        const char *checked = json_string_value(json_object_get(r, "checked_on"));
        printf("  rule %lld  %s\n", (long long)json_integer_value(json_object_get(r, "id")),
               ctl_rules_rule_line(line, sizeof(line), r));
        printf("      says: %s\n", json_string_value(json_object_get(r, "says")));
        if (source) {
            printf("      source: %s%s%s%s\n", source, checked ? " (checked " : "",
                   checked ? checked : "", checked ? ")" : "");
        }
    }
}

static int show(int argc, char **argv)
{
    bool json = false;
    int rc = parse_opts(argc, argv, &json, NULL);
    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ecmctl rules show: give one rule set ID or NAME\n");
        return CTL_EXIT_USAGE;
    }
    long long id = set_id_of("rules show", argv[optind], &rc);
    if (!id) {
        return rc;
    }
    char path[64];
    (void)snprintf(path, sizeof(path), "/api/v1/rule-sets/%lld", id);
    ctl_api_answer a;
    rc = ctl_api_expect("rules show", "GET", path, NULL, 200, 0, &a);
    if (rc == CTL_EXIT_OK && json) {
        rc = ctl_api_print_raw(&a);
    } else if (rc == CTL_EXIT_OK) {
        print_set(a.body);
    }
    ctl_api_answer_destroy(&a);
    return rc;
}

/* Reads the set file path ("-": stdin). NULL after telling why. */
static json_t *load_set_file(const char *path)
{
    json_error_t jerr;
    json_t *j = strcmp(path, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                                       : json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(j)) {
        fprintf(stderr, "ecmctl rules apply: %s: %s\n", path, j ? "not a JSON object" : jerr.text);
        json_decref(j);
        return NULL;
    }
    if (!json_is_string(json_object_get(j, "name"))) {
        fprintf(stderr, "ecmctl rules apply: %s: no \"name\"\n", path);
        json_decref(j);
        return NULL;
    }
    return j;
}

static int apply(int argc, char **argv)
{
    bool json = false;
    int rc = parse_opts(argc, argv, &json, NULL);
    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ecmctl rules apply: give one FILE (- for stdin)\n");
        return CTL_EXIT_USAGE;
    }
    json_t *body = load_set_file(argv[optind]);
    if (!body) {
        return CTL_EXIT_USAGE;
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *sets = all_sets("rules apply", NULL, &rc);
    if (!sets) {
        json_decref(body);
        return rc;
    }
    long long id = 0;
    size_t i;
    json_t *s;
    json_array_foreach(sets, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0) {
            id = (long long)json_integer_value(json_object_get(s, "id"));
        }
    }
    json_decref(sets);
    char path[64] = "/api/v1/rule-sets";
    if (id) {
        (void)snprintf(path, sizeof(path), "/api/v1/rule-sets/%lld", id);
    }
    ctl_api_answer a;
    rc = ctl_api_expect("rules apply", id ? "PUT" : "POST", path, body, id ? 200 : 201, 0, &a);
    if (rc == CTL_EXIT_OK && json) {
        rc = ctl_api_print_raw(&a);
    } else if (rc == CTL_EXIT_OK) {
        const char *notice = json_string_value(json_object_get(a.body, "notice"));
        printf("rule set %lld %s: %lld rules\n",
               (long long)json_integer_value(json_object_get(a.body, "id")),
               id ? "replaced" : "created",
               (long long)json_integer_value(json_object_get(a.body, "rule_count")));
        if (notice) {
            fprintf(stderr, "ecmctl rules apply: %s\n", notice);
        }
    }
    ctl_api_answer_destroy(&a);
    json_decref(body);
    return rc;
}

int ctl_rules_main(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    if (ctl_cli_is_help(verb)) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    argc--, argv++;
    if (strcmp(verb, "list") == 0 || strcmp(verb, "ls") == 0) {
        return list(argc, argv);
    }
    if (strcmp(verb, "show") == 0) {
        return show(argc, argv);
    }
    if (strcmp(verb, "apply") == 0) {
        return apply(argc, argv);
    }
    if (*verb) {
        fprintf(stderr, "ecmctl rules: unknown verb '%s'\n", verb);
    }
    usage(stderr);
    return CTL_EXIT_USAGE;
}

#include "ctl_recycle.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_api.h"
#include "ctl_cli.h"

enum { OPT_JSON = 256, OPT_DRY_RUN, OPT_MAX_ROUNDS, OPT_DISABLED, OPT_OLDER_THAN, OPT_OUTCOME };

static void usage(FILE *out)
{
    fprintf(out, "usage: ecmctl recycle ID --outcome NAME[,NAME...] --older-than AGE\n"
                 "                      [--max-rounds N] [--dry-run] [--yes] [--json]\n"
                 "       ecmctl recycle-schedule show ID [--json]\n"
                 "       ecmctl recycle-schedule set ID --outcome NAME[,NAME...] --older-than AGE\n"
                 "                      [--max-rounds N] [--disabled] [--json]\n"
                 "       ecmctl recycle-schedule clear ID\n"
                 "(also as \"ecmctl campaigns recycle ...\" and \"ecmctl campaigns "
                 "recycle-schedule ...\")\n"
                 "\n"
                 "recycle   re-opens the campaign's closed contacts that ended with one of the\n"
                 "          outcomes (NO_ANSWER, BUSY, ...; never DNC) at least AGE ago by the\n"
                 "          business clock, for another round under the campaign's strategy.\n"
                 "          AGE is a whole number and a unit: 3d, 72h, 90m, 45s. --max-rounds N:\n"
                 "          only contacts re-opened fewer than N times before. It first shows\n"
                 "          the dry-run count by outcome and asks before re-opening; --yes does\n"
                 "          not ask; --dry-run only counts. A completed campaign becomes active.\n"
                 "recycle-schedule  the campaign's own recycle, run by the strategy service\n"
                 "          once per ECM_RECYCLE_INTERVAL_S of business time: show it, set it\n"
                 "          (--disabled keeps it stored but off), or clear it.\n"
                 "\n"
                 "--json prints the API's JSON instead of the summary.\n" CTL_EXIT_HELP);
}

json_t *ctl_recycle_outcomes(const char *list)
{
    json_t *a = json_array();
    if (!a || !list || !*list) {
        json_decref(a);
        return NULL;
    }
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 0 || json_array_append_new(a, json_stringn(p, n)) != 0) {
            json_decref(a);
            return NULL;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return a;
}

/* What the options of both verbs gave. */
typedef struct {
    const char *outcomes, *older_than;
    long long max_rounds; /* 0: not given */
    bool dry_run, yes, json, disabled;
    long long id;
} opts;

/* Parses argv's options into o and the one campaign ID operand. Returns 0,
 * -1 after --help, or an exit code after telling why. */
static int parse(int argc, char **argv, const char *what, opts *o)
{
    static const struct option longopts[] = {
        {"outcome", required_argument, NULL, OPT_OUTCOME},
        {"outcomes", required_argument, NULL, OPT_OUTCOME},
        {"older-than", required_argument, NULL, OPT_OLDER_THAN},
        {"max-rounds", required_argument, NULL, OPT_MAX_ROUNDS},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"disabled", no_argument, NULL, OPT_DISABLED},
        {"yes", no_argument, NULL, 'y'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "hy", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_OUTCOME:
            o->outcomes = optarg;
            break;
        case OPT_OLDER_THAN:
            o->older_than = optarg;
            break;
        case OPT_MAX_ROUNDS:
            if (ctl_cli_parse_id(optarg, &o->max_rounds) != 0) {
                fprintf(stderr, "ecmctl %s: --max-rounds takes a whole number >= 1\n", what);
                return CTL_EXIT_USAGE;
            }
            break;
        case OPT_DRY_RUN:
            o->dry_run = true;
            break;
        case OPT_DISABLED:
            o->disabled = true;
            break;
        case 'y':
            o->yes = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case 'h':
            return ctl_cli_usage(usage, true);
        default:
            return ctl_cli_usage(usage, false);
        }
    }
    if (optind != argc - 1 || ctl_cli_parse_id(argv[optind], &o->id) != 0) {
        fprintf(stderr, "ecmctl %s: give one campaign ID\n", what);
        return CTL_EXIT_USAGE;
    }
    return 0;
}

/* The recycle or schedule body of o (the caller's), or NULL after telling
 * why. */
static json_t *body_of(const opts *o, const char *what, bool schedule)
{
    json_t *outcomes = ctl_recycle_outcomes(o->outcomes);
    if (!outcomes || !o->older_than) {
        json_decref(outcomes);
        fprintf(stderr, "ecmctl %s: give --outcome NAME[,NAME...] and --older-than AGE (3d)\n",
                what);
        return NULL;
    }
    json_t *b = json_pack("{so ss}", "outcomes", outcomes, "older_than", o->older_than);
    if (b && o->max_rounds > 0)
        json_object_set_new(b, "max_rounds", json_integer(o->max_rounds));
    if (b && schedule)
        json_object_set_new(b, "enabled", json_boolean(!o->disabled));
    return b;
}

/* "NO_ANSWER 30, BUSY 10" from an answer's by_outcome into buf. */
static const char *by_outcome(const json_t *answer, char *buf, size_t size)
{
    const char *key;
    json_t *v;
    size_t used = 0;
    buf[0] = '\0';
    json_object_foreach(json_object_get(answer, "by_outcome"), key, v)
    {
        char n[32];
        int w = snprintf(buf + used, size - used, "%s%s %s", used ? ", " : "", key,
                         ctl_cli_count(n, sizeof n, (long long)json_integer_value(v)));
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* Asks on stderr whether to re-open count contacts; true on "y"/"yes". */
static bool confirmed(long long id, long long count)
{
    char n[32], line[16] = "";
    fprintf(stderr, "Re-open %s contacts of campaign %lld? [y/N] ",
            ctl_cli_count(n, sizeof n, count), id);
    fflush(stderr);
    if (!fgets(line, sizeof line, stdin)) {
        fprintf(stderr, "\nno answer on stdin: nothing re-opened (--yes runs without asking)\n");
        return false;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0;
}

int ctl_recycle_main(int argc, char **argv)
{
    opts o;
    int rc = parse(argc, argv, "recycle", &o);
    if (rc != 0)
        return rc < 0 ? CTL_EXIT_OK : rc;
    json_t *body = body_of(&o, "recycle", false);
    if (!body)
        return CTL_EXIT_USAGE;
    char path[96], counts[512], n[32];
    (void)snprintf(path, sizeof path, "/api/v1/campaigns/%lld/recycle", o.id);
    ctl_api_answer a = {0};
    if (!o.yes || o.dry_run) {
        json_object_set_new(body, "dry_run", json_true());
        rc = ctl_api_expect("recycle (dry run)", "POST", path, body, 200, 0, &a);
        if (rc == CTL_EXIT_OK && o.dry_run && o.json) {
            rc = ctl_api_print_raw(&a);
        } else if (rc == CTL_EXIT_OK) {
            long long count = (long long)json_integer_value(json_object_get(a.body, "contacts"));
            fprintf(o.dry_run ? stdout : stderr, "campaign %lld: %s contacts match (%s)\n", o.id,
                    ctl_cli_count(n, sizeof n, count), by_outcome(a.body, counts, sizeof counts));
            if (!o.dry_run && (count == 0 || !confirmed(o.id, count)))
                o.dry_run = true; /* nothing to do, or the user said no */
        }
        ctl_api_answer_destroy(&a);
        if (rc != CTL_EXIT_OK || o.dry_run) {
            json_decref(body);
            return rc;
        }
        json_object_set_new(body, "dry_run", json_false());
    }
    fprintf(stderr, "recycling campaign %lld ...\n", o.id);
    rc = ctl_api_expect("recycle", "POST", path, body, 200, 0, &a);
    json_decref(body);
    if (rc == CTL_EXIT_OK && o.json) {
        rc = ctl_api_print_raw(&a);
    } else if (rc == CTL_EXIT_OK) {
        const char *before = json_string_value(json_object_get(a.body, "previous_state"));
        const char *now = json_string_value(json_object_get(a.body, "campaign_state"));
        printf("campaign %lld: %s contacts re-opened (recycle %lld; %s)%s%s%s\n", o.id,
               ctl_cli_count(n, sizeof n,
                             (long long)json_integer_value(json_object_get(a.body, "contacts"))),
               (long long)json_integer_value(json_object_get(a.body, "recycle_id")),
               by_outcome(a.body, counts, sizeof counts),
               before && now && strcmp(before, now) != 0 ? "; campaign " : "",
               before && now && strcmp(before, now) != 0 ? before : "",
               before && now && strcmp(before, now) != 0 ? " -> active" : "");
    }
    ctl_api_answer_destroy(&a);
    return rc;
}

static void print_schedule(const json_t *s)
{
    json_t *rounds = json_object_get(s, "max_rounds");
    char *outcomes = json_dumps(json_object_get(s, "outcomes"), JSON_COMPACT);
    const char *last = json_string_value(json_object_get(s, "last_run_at"));
    printf("campaign %lld: recycle %s older than %s, %s%lld%s, %s; last run %s\n",
           (long long)json_integer_value(json_object_get(s, "campaign_id")),
           outcomes ? outcomes : "?", json_string_value(json_object_get(s, "older_than")),
           json_is_integer(rounds) ? "at most " : "no round limit",
           json_is_integer(rounds) ? (long long)json_integer_value(rounds) : 0LL,
           json_is_integer(rounds) ? " rounds" : "",
           json_is_true(json_object_get(s, "enabled")) ? "enabled" : "disabled",
           last ? last : "never");
    free(outcomes);
}

int ctl_recycle_schedule_main(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    if (ctl_cli_is_help(verb)) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    bool show = strcmp(verb, "show") == 0, set = strcmp(verb, "set") == 0,
         clear = strcmp(verb, "clear") == 0;
    if (!show && !set && !clear) {
        if (*verb)
            fprintf(stderr, "ecmctl recycle-schedule: unknown verb '%s'\n", verb);
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    opts o;
    int rc = parse(argc - 1, argv + 1, "recycle-schedule", &o);
    if (rc != 0)
        return rc < 0 ? CTL_EXIT_OK : rc;
    char path[112];
    (void)snprintf(path, sizeof path, "/api/v1/campaigns/%lld/recycle-schedule", o.id);
    ctl_api_answer a = {0};
    json_t *body = NULL;
    if (set && !(body = body_of(&o, "recycle-schedule set", true)))
        return CTL_EXIT_USAGE;
    if (show)
        rc = ctl_api_expect("recycle-schedule show", "GET", path, NULL, 200, 0, &a);
    else if (set)
        rc = ctl_api_expect("recycle-schedule set", "PUT", path, body, 200, 0, &a);
    else
        rc = ctl_api_expect("recycle-schedule clear", "DELETE", path, NULL, 204, 0, &a);
    json_decref(body);
    if (rc == CTL_EXIT_OK && clear)
        printf("campaign %lld: recycle schedule cleared\n", o.id);
    else if (rc == CTL_EXIT_OK && o.json)
        rc = ctl_api_print_raw(&a);
    else if (rc == CTL_EXIT_OK)
        print_schedule(a.body);
    ctl_api_answer_destroy(&a);
    return rc;
}

#include "ctl_campaigns.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_api.h"
#include "ctl_cli.h"
#include "ctl_table.h"

#define PAGE_LIMIT 200

static const char *const DAYS[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

enum { OPT_JSON = 256 };

/* Writes the verb's usage to out. */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: ecmctl campaigns list [--limit N] [--json]\n"
            "       ecmctl campaigns show ID [--json]\n"
            "       ecmctl campaigns create (--file JSON | --name NAME --channel CHANNEL ...)\n"
            "       ecmctl campaigns activate|pause|resume|stop ID [--json]\n"
            "\n"
            "list      every campaign, newest first, as a table (id, name, channel, state,\n"
            "          contacts, closed, attempts); --limit N: the newest N only\n"
            "show      one campaign with its counts by state and outcome\n"
            "create    a new campaign (draft); prints its id (--json: the campaign).\n"
            "          --file JSON (- for stdin) is the API's body; these flags set or\n"
            "          override its members:\n"
            "            --name NAME            --channel voice_ivr|voice_agent|sms\n"
            "            --strategy NAME        --cisco KIND:ID[:IMPORT_TABLE] (uccx:1, "
            "ucce_api:5001,\n"
            "                                   ucce_db:5002:Import_5002)\n"
            "            --region CC            --time-zone ZONE (IANA)\n"
            "            --start-at TIME        --end-at TIME (RFC 3339)\n"
            "            --window DAYS=HH:MM-HH:MM  repeatable: mon-fri=09:00-17:00, sat,sun=...\n"
            "            --sms-template TEXT    --sms-sender ID   --sms-gateway kannel|http\n"
            "            --rule-set NAME        repeatable: the rule sets it picks (ecmctl\n"
            "                                   rules list; none given: the default, US\n"
            "                                   federal (TCPA) in the US)\n"
            "            --blackout YYYY-MM-DD[:REASON]  repeatable: a day of no contact\n"
            "activate  draft or paused -> active     pause   active -> paused\n"
            "resume    paused -> active              stop    active or paused -> stopped (for "
            "good)\n"
            "\n"
            "--json prints the API's JSON instead of the table or summary.\n" CTL_EXIT_HELP);
}

/* Index (0 = mon) of the weekday named by s[0..n), or -1. */
static int day_index(const char *s, size_t n)
{
    for (int i = 0; i < 7; i++) {
        if (n == 3 && strncmp(s, DAYS[i], 3) == 0) {
            return i;
        }
    }
    return -1;
}

/* true when s is HH:MM (00:00 to 29:59; the API bounds the hour). */
static bool is_hhmm(const char *s)
{
    return strlen(s) == 5 && s[0] >= '0' && s[0] <= '2' && s[1] >= '0' && s[1] <= '9' &&
           s[2] == ':' && s[3] >= '0' && s[3] <= '5' && s[4] >= '0' && s[4] <= '9';
}

/* Sets days[i] for every weekday the DAYS part s[0..n) names. Returns 0
 * or -1. */
static int parse_days(const char *s, size_t n, bool days[7])
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != ',') {
            j++;
        }
        if (j == i || (j == n - 1 && s[j] == ',')) {
            return -1; /* an empty name: "mon,,tue", "mon," */
        }
        const char *dash = memchr(s + i, '-', j - i);
        int from = day_index(s + i, dash ? (size_t)(dash - (s + i)) : j - i);
        int to = dash ? day_index(dash + 1, (size_t)(s + j - (dash + 1))) : from;
        if (from < 0 || to < from) {
            return -1;
        }
        for (int d = from; d <= to; d++) {
            days[d] = true;
        }
        i = j + 1;
    }
    return n > 0 ? 0 : -1;
}

int ctl_campaigns_window_add(json_t *window, const char *spec, char *err, size_t err_size)
{
    const char *eq = strchr(spec, '=');
    bool days[7] = {false};
    char from[8] = "", to[8] = "";
    const char *range = eq ? eq + 1 : "";
    const char *dash = strchr(range, '-');
    if (!eq || parse_days(spec, (size_t)(eq - spec), days) != 0 || !dash || dash - range != 5 ||
        strlen(dash + 1) != 5) {
        (void)snprintf(err, err_size,
                       "--window '%s': give DAYS=HH:MM-HH:MM, e.g. mon-fri=09:00-17:00", spec);
        return -1;
    }
    memcpy(from, range, 5);
    memcpy(to, dash + 1, 5);
    if (!is_hhmm(from) || !is_hhmm(to) || strcmp(from, to) >= 0) {
        (void)snprintf(err, err_size, "--window '%s': times are HH:MM, the first before the second",
                       spec);
        return -1;
    }
    for (int d = 0; d < 7; d++) {
        if (!days[d]) {
            continue;
        }
        json_t *list = json_object_get(window, DAYS[d]);
        if (!list) {
            list = json_array();
            json_object_set_new(window, DAYS[d], list);
        }
        json_array_append_new(list, json_pack("[ss]", from, to));
    }
    return 0;
}

int ctl_campaigns_blackout_add(json_t *list, const char *spec, char *err, size_t err_size)
{
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    bool shape = n == 10 && spec[4] == '-' && spec[7] == '-';
    for (size_t i = 0; shape && i < n; i++) {
        shape = i == 4 || i == 7 || (spec[i] >= '0' && spec[i] <= '9');
    }
    if (!shape) {
        (void)snprintf(err, err_size,
                       "--blackout '%s': give YYYY-MM-DD or YYYY-MM-DD:REASON, e.g. "
                       "2026-12-24:office closed",
                       spec);
        return -1;
    }
    json_t *day = json_pack("{ss#}", "date", spec, (int)n);
    if (day && colon && colon[1]) {
        json_object_set_new(day, "reason", json_string(colon + 1));
    }
    if (!day || json_array_append_new(list, day) != 0) {
        (void)snprintf(err, err_size, "--blackout: out of memory");
        return -1;
    }
    return 0;
}

/* body's array member key ("rule_sets"), made when absent (borrowed). */
static json_t *array_of(json_t *body, const char *key)
{
    json_t *a = json_object_get(body, key);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(body, key, a);
    }
    return a;
}

/* Parses --json alone (and --help). Returns 0, CTL_EXIT_USAGE, or -1 for
 * --help. Leaves optind at the first operand. */
static int parse_read_opts(int argc, char **argv, bool *json, long long *limit)
{
    static const struct option opts[] = {{"json", no_argument, NULL, OPT_JSON},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == OPT_JSON) {
            *json = true;
        } else if (c == 'l' && limit && ctl_cli_parse_id(optarg, limit) == 0) {
            continue;
        } else {
            return ctl_cli_usage(usage, c == 'h');
        }
    }
    return 0;
}

/* campaigns list. Returns an exit code. */
static int list(int argc, char **argv)
{
    bool json = false;
    long long limit = 0;
    int rc = parse_read_opts(argc, argv, &json, &limit);
    if (rc != 0 || optind != argc) {
        if (rc == 0) {
            usage(stderr);
        }
        return rc < 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    json_t *all = ctl_api_list_told("campaigns list", "/api/v1/campaigns", PAGE_LIMIT, limit, &rc);
    if (!all) {
        return rc;
    }
    if (json) {
        rc = ctl_api_print_items(all);
    } else {
        printf("%s\n", ctl_table_campaign_header());
        size_t i;
        json_t *c;
        json_array_foreach(all, i, c)
        {
            char row[512];
            printf("%s\n", ctl_table_campaign_row(row, sizeof(row), c));
        }
    }
    json_decref(all);
    return rc;
}

/* Prints a Campaign object for people, one member a line. */
static void print_campaign(const json_t *c)
{
    const json_t *cisco = json_object_get(c, "cisco");
    const char *strategy = json_string_value(json_object_get(c, "strategy"));
    printf("campaign %lld  %s\n", (long long)json_integer_value(json_object_get(c, "id")),
           json_string_value(json_object_get(c, "name")));
    printf("  channel    %s\n", json_string_value(json_object_get(c, "channel")));
    printf("  state      %s\n", json_string_value(json_object_get(c, "state")));
    printf("  strategy   %s\n", strategy ? strategy : "-");
    if (json_is_object(cisco)) {
        printf("  cisco      %s:%s\n", json_string_value(json_object_get(cisco, "kind")),
               json_string_value(json_object_get(cisco, "campaign_id")));
    }
    static const char *const plain[] = {"region", "time_zone", "start_at", "end_at", "created_at"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        const char *v = json_string_value(json_object_get(c, plain[i]));
        printf("  %-10s %s\n", plain[i], v ? v : "-");
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(c, "rule_sets"), i, v)
    {
        printf("  %-10s %s (%lld)\n", i ? "" : "rule sets",
               json_string_value(json_object_get(v, "name")),
               (long long)json_integer_value(json_object_get(v, "id")));
    }
    json_array_foreach(json_object_get(c, "blackout_dates"), i, v)
    {
        const char *why = json_string_value(json_object_get(v, "reason"));
        printf("  %-10s %s%s%s\n", i ? "" : "blackouts",
               json_string_value(json_object_get(v, "date")), why && *why ? "  " : "",
               why ? why : "");
    }
    char line[1024];
    printf("  counts     %s\n", ctl_table_counts_line(line, sizeof(line), c));
}

/* Runs one request on a campaign id given as the only operand: show
 * (GET) or a state change (POST path/verb). */
static int on_one(int argc, char **argv, const char *method, const char *verb)
{
    bool json = false;
    int rc = parse_read_opts(argc, argv, &json, NULL);
    long long id;
    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    if (optind != argc - 1 || ctl_cli_parse_id(argv[optind], &id) != 0) {
        fprintf(stderr, "ecmctl campaigns %s: give one campaign ID\n", argv[0]);
        return CTL_EXIT_USAGE;
    }
    char path[96], what[64];
    (void)snprintf(path, sizeof(path), "/api/v1/campaigns/%lld%s%s", id, verb ? "/" : "",
                   verb ? verb : "");
    (void)snprintf(what, sizeof(what), "campaigns %s %lld", argv[0], id);
    ctl_api_answer a;
    rc = ctl_api_expect(what, method, path, NULL, 200, 0, &a);
    if (rc == CTL_EXIT_OK && json) {
        rc = ctl_api_print_raw(&a);
    } else if (rc == CTL_EXIT_OK && !verb) {
        print_campaign(a.body);
    } else if (rc == CTL_EXIT_OK) {
        printf("campaign %lld: %s\n", id, json_string_value(json_object_get(a.body, "state")));
    }
    ctl_api_answer_destroy(&a);
    return rc;
}

/* Sets member key of body to the text v. */
static void set_text(json_t *body, const char *key, const char *v)
{
    json_object_set_new(body, key, json_string(v));
}

/* body's object member key ("sms", "call_window"), made when absent
 * (borrowed). */
static json_t *object_of(json_t *body, const char *key)
{
    json_t *o = json_object_get(body, key);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(body, key, o);
    }
    return o;
}

/* The create flags that set one text member: getopt code, member, and
 * whether it is a member of body's "sms" object. */
static const struct {
    int code;
    const char *member;
    bool sms;
} TEXT_FLAGS[] = {
    {'n', "name", false},   {'c', "channel", false},   {'s', "strategy", false},
    {'r', "region", false}, {'z', "time_zone", false}, {'S', "start_at", false},
    {'E', "end_at", false}, {'T', "template", true},   {'F', "sender", true},
    {'G', "gateway", true},
};

/* Applies one create flag (getopt code c, value v) to body. Returns 0 or
 * CTL_EXIT_USAGE (said). */
static int create_flag(json_t *body, int c, const char *v)
{
    for (size_t i = 0; i < sizeof(TEXT_FLAGS) / sizeof(TEXT_FLAGS[0]); i++) {
        if (TEXT_FLAGS[i].code == c) {
            set_text(TEXT_FLAGS[i].sms ? object_of(body, "sms") : body, TEXT_FLAGS[i].member, v);
            return 0;
        }
    }
    char err[256];
    switch (c) {
    case 'w':
        if (ctl_campaigns_window_add(object_of(body, "call_window"), v, err, sizeof(err)) != 0) {
            fprintf(stderr, "ecmctl campaigns create: %s\n", err);
            return CTL_EXIT_USAGE;
        }
        return 0;
    case 'R':
        json_array_append_new(array_of(body, "rule_sets"), json_string(v));
        return 0;
    case 'B':
        if (ctl_campaigns_blackout_add(array_of(body, "blackout_dates"), v, err, sizeof(err)) !=
            0) {
            fprintf(stderr, "ecmctl campaigns create: %s\n", err);
            return CTL_EXIT_USAGE;
        }
        return 0;
    case 'k': {
        /* KIND:ID, or KIND:ID:IMPORT_TABLE for ucce_db; the gateway judges them. */
        const char *colon = strchr(v, ':');
        const char *table = colon ? strchr(colon + 1, ':') : NULL;
        if (!colon || colon == v || !colon[1] || colon[1] == ':' || (table && !table[1])) {
            fprintf(stderr, "ecmctl campaigns create: --cisco '%s': give KIND:ID, e.g. uccx:1\n",
                    v);
            return CTL_EXIT_USAGE;
        }
        int id_len = (int)(table ? table - colon - 1 : (long)strlen(colon + 1));
        json_t *cisco =
            json_pack("{ss# ss#}", "kind", v, (int)(colon - v), "campaign_id", colon + 1, id_len);
        if (cisco && table) {
            json_object_set_new(cisco, "import_table", json_string(table + 1));
        }
        json_object_set_new(body, "cisco", cisco);
        return 0;
    }
    default:
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
}

/* Reads --file path ("-": stdin) into *body. Returns 0 or CTL_EXIT_USAGE
 * (said). */
static int load_file(const char *path, json_t **body)
{
    json_error_t jerr;
    json_t *j =
        strcmp(path, "-") == 0 ? json_loadf(stdin, 0, &jerr) : json_load_file(path, 0, &jerr);
    if (!json_is_object(j)) {
        fprintf(stderr, "ecmctl campaigns create: %s: %s\n", path,
                j ? "not a JSON object" : jerr.text);
        json_decref(j);
        return CTL_EXIT_USAGE;
    }
    json_object_update(*body, j); /* flags given before --file lose to it */
    json_decref(j);
    return 0;
}

/* campaigns create. Returns an exit code. */
static int create(int argc, char **argv)
{
    static const struct option opts[] = {{"file", required_argument, NULL, 'f'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"channel", required_argument, NULL, 'c'},
                                         {"strategy", required_argument, NULL, 's'},
                                         {"cisco", required_argument, NULL, 'k'},
                                         {"region", required_argument, NULL, 'r'},
                                         {"time-zone", required_argument, NULL, 'z'},
                                         {"start-at", required_argument, NULL, 'S'},
                                         {"end-at", required_argument, NULL, 'E'},
                                         {"window", required_argument, NULL, 'w'},
                                         {"sms-template", required_argument, NULL, 'T'},
                                         {"sms-sender", required_argument, NULL, 'F'},
                                         {"sms-gateway", required_argument, NULL, 'G'},
                                         {"rule-set", required_argument, NULL, 'R'},
                                         {"blackout", required_argument, NULL, 'B'},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    json_t *body = json_object();
    bool json = false;
    int rc = 0, c;
    optind = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            json_decref(body);
            return CTL_EXIT_OK;
        }
        if (c == OPT_JSON) {
            json = true;
        } else if (c == 'f') {
            rc = load_file(optarg, &body);
        } else {
            rc = create_flag(body, c, optarg);
        }
    }
    if (rc == 0 && (optind != argc || json_object_size(body) == 0)) {
        fprintf(stderr, "ecmctl campaigns create: give --file JSON or --name and --channel\n");
        rc = CTL_EXIT_USAGE;
    }
    if (rc != 0) {
        json_decref(body);
        return rc;
    }
    ctl_api_answer a;
    rc = ctl_api_expect("campaigns create", "POST", "/api/v1/campaigns", body, 201, 0, &a);
    if (rc == CTL_EXIT_OK && json) {
        rc = ctl_api_print_raw(&a);
    } else if (rc == CTL_EXIT_OK) {
        printf("%lld\n", (long long)json_integer_value(json_object_get(a.body, "id")));
    }
    ctl_api_answer_destroy(&a);
    json_decref(body);
    return rc;
}

int ctl_campaigns_main(int argc, char **argv)
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
        return on_one(argc, argv, "GET", NULL);
    }
    if (strcmp(verb, "create") == 0) {
        return create(argc, argv);
    }
    static const char *const changes[] = {"activate", "pause", "resume", "stop"};
    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        if (strcmp(verb, changes[i]) == 0) {
            return on_one(argc, argv, "POST", changes[i]);
        }
    }
    if (*verb) {
        fprintf(stderr, "ecmctl campaigns: unknown verb '%s'\n", verb);
    }
    usage(stderr);
    return CTL_EXIT_USAGE;
}

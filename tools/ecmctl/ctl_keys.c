#include "ctl_keys.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_api.h"
#include "ctl_cli.h"
#include "ctl_table.h"

#define PAGE_LIMIT 1000

enum { OPT_JSON = 256, OPT_EXPIRES };

typedef struct {
    const char *role, *name, *expires_at;
    bool json;
} keys_opts;

/* Writes the verb's usage to out. */
static void usage(FILE *out)
{
    fprintf(out, "usage: ecmctl keys create --role admin|supervisor|viewer --name NAME\n"
                 "                          [--expires-at TIME] [--json]\n"
                 "       ecmctl keys ls [--json]\n"
                 "       ecmctl keys revoke KEY_ID\n"
                 "\n"
                 "API keys (all three need an admin key in ECM_API_KEY).\n"
                 "create   makes a key and prints it - only this once - alone on stdout, so\n"
                 "         that K=$(ecmctl keys create ...) keeps it; its id, role and expiry\n"
                 "         go to stderr (--json: the API's answer, key included)\n"
                 "ls       every key: id, name, role, state (active, expired, revoked), when\n"
                 "         created, expiring and last used\n"
                 "revoke   revokes KEY_ID (the 16 hex digits after 'ecm_'); a key cannot\n"
                 "         revoke itself\n"
                 "Roles: viewer reads; supervisor also changes campaigns, strategies,\n"
                 "uploads and adds DNC entries; admin also keys and removing DNC entries.\n"
                 "\n" CTL_EXIT_HELP);
}

/* Fills o from argv. Returns 0, CTL_EXIT_USAGE (said) or -1 for --help. */
static int parse_opts(int argc, char **argv, keys_opts *o)
{
    static const struct option opts[] = {{"role", required_argument, NULL, 'r'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"expires-at", required_argument, NULL, OPT_EXPIRES},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'r') {
            o->role = optarg;
        } else if (c == 'n') {
            o->name = optarg;
        } else if (c == OPT_EXPIRES) {
            o->expires_at = optarg;
        } else if (c == OPT_JSON) {
            o->json = true;
        } else {
            return ctl_cli_usage(usage, c == 'h');
        }
    }
    return 0;
}

/* keys create. Returns an exit code. */
static int create(const keys_opts *o)
{
    if (!o->role || !o->name) {
        fprintf(stderr, "ecmctl keys create: give --role and --name\n");
        return CTL_EXIT_USAGE;
    }
    json_t *body = json_pack("{ss ss}", "role", o->role, "name", o->name);
    if (o->expires_at) {
        json_object_set_new(body, "expires_at", json_string(o->expires_at));
    }
    ctl_api_answer a;
    int rc = ctl_api_expect("keys create", "POST", "/api/v1/keys", body, 201, 0, &a);
    if (rc == CTL_EXIT_OK && o->json) {
        rc = ctl_api_print_raw(&a);
    } else if (rc == CTL_EXIT_OK) {
        const char *exp = json_string_value(json_object_get(a.body, "expires_at"));
        printf("%s\n", json_string_value(json_object_get(a.body, "key")));
        fprintf(stderr, "key %s (%s, %s) created, %s; it is shown only this once\n",
                json_string_value(json_object_get(a.body, "id")),
                json_string_value(json_object_get(a.body, "name")),
                json_string_value(json_object_get(a.body, "role")),
                exp ? "expires" : "never expires");
        if (exp) {
            fprintf(stderr, "  expires at %s\n", exp);
        }
    }
    ctl_api_answer_destroy(&a);
    json_decref(body);
    return rc;
}

/* keys ls. Returns an exit code. */
static int ls(const keys_opts *o)
{
    int rc;
    json_t *items = ctl_api_list_told("keys ls", "/api/v1/keys", PAGE_LIMIT, 0, &rc);
    if (!items) {
        return rc;
    }
    if (o->json) {
        (void)ctl_api_print_items(items);
        json_decref(items);
        return CTL_EXIT_OK;
    }
    printf("%-16s  %-24s  %-10s  %-7s  %-24s  %-24s  %s\n", "ID", "NAME", "ROLE", "STATE",
           "CREATED", "EXPIRES", "LAST USED");
    size_t i;
    json_t *k;
    json_array_foreach(items, i, k)
    {
        char name[128];
        const char *exp = json_string_value(json_object_get(k, "expires_at"));
        const char *used = json_string_value(json_object_get(k, "last_used_at"));
        printf("%-16s  %s  %-10s  %-7s  %-24s  %-24s  %s\n",
               json_string_value(json_object_get(k, "id")),
               ctl_table_fit(name, sizeof(name), json_string_value(json_object_get(k, "name")), 24,
                             false),
               json_string_value(json_object_get(k, "role")),
               json_string_value(json_object_get(k, "state")),
               json_string_value(json_object_get(k, "created_at")), exp ? exp : "-",
               used ? used : "-");
    }
    json_decref(items);
    return CTL_EXIT_OK;
}

/* keys revoke ID. Returns an exit code. */
static int revoke(const char *id)
{
    char *escaped = ctl_api_escape(id);
    char path[128];
    int n = escaped ? snprintf(path, sizeof(path), "/api/v1/keys/%s", escaped) : -1;
    free(escaped);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fprintf(stderr, "ecmctl keys revoke: '%s' is not a key id\n", id);
        return CTL_EXIT_USAGE;
    }
    ctl_api_answer a;
    int rc = ctl_api_expect("keys revoke", "DELETE", path, NULL, 204, 0, &a);
    if (rc == CTL_EXIT_OK) {
        printf("key %s revoked\n", id);
    }
    ctl_api_answer_destroy(&a);
    return rc;
}

int ctl_keys_main(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    if (ctl_cli_is_help(verb)) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    argc--, argv++;
    keys_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    int operands = argc - optind;
    if (strcmp(verb, "create") == 0 && operands == 0) {
        return create(&o);
    }
    if ((strcmp(verb, "ls") == 0 || strcmp(verb, "list") == 0) && operands == 0) {
        return ls(&o);
    }
    if (strcmp(verb, "revoke") == 0 && operands == 1) {
        return revoke(argv[optind]);
    }
    fprintf(stderr, "ecmctl keys: give create, ls or revoke with their arguments\n");
    usage(stderr);
    return CTL_EXIT_USAGE;
}

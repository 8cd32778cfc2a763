#include "ctl_dnc.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_api.h"
#include "ctl_cli.h"
#include "ctl_upload.h"
#include "ecm_utf8.h"

#define PAGE_LIMIT 500

enum { OPT_JSON = 256, OPT_ALLOW_REJECTS, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_ALL };

/* The options of every dnc verb; which ones a verb takes is checked after
 * parsing. */
typedef struct {
    long long campaign_id; /* 0: the global list */
    long long limit;       /* ls: 0 for all */
    const char *reason;
    const char *region;
    const char *phone; /* ls --phone */
    bool json, all, allow_rejects;
    int progress; /* -1: on a terminal */
} dnc_opts;

/* Writes the verb's usage to out. */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: ecmctl dnc add NUMBER [--campaign ID] [--reason TEXT] [--region CC]\n"
            "       ecmctl dnc rm NUMBER [--campaign ID]\n"
            "       ecmctl dnc ls [--campaign ID | --all] [--phone NUMBER] [--limit N] [--json]\n"
            "       ecmctl dnc import FILE [--campaign ID] [--allow-rejects] [--progress]\n"
            "\n"
            "The global do-not-contact list, or campaign ID's with --campaign. A number\n"
            "is read in any form its list's region reads (--region CC for another) and\n"
            "kept as E.164; contacts waiting with it are closed (outcome DNC).\n"
            "\n"
            "add      put NUMBER on the list (says so when it was there already)\n"
            "rm       take NUMBER off the list (the global list or an SMS opt-out needs\n"
            "         an admin key)\n"
            "ls       the entries, newest first (--all: every list; --phone: one number)\n"
            "import   a CSV file with a 'phone' column (and optionally 'reason'), streamed\n"
            "         with a progress bar like 'ecmctl upload'; rejected rows exit 4\n"
            "         unless --allow-rejects\n"
            "\n"
            "--json prints the API's JSON instead of the table or summary.\n" CTL_EXIT_HELP);
}

/* Fills o from argv. Returns 0, CTL_EXIT_USAGE (said) or -1 for --help. */
static int parse_opts(int argc, char **argv, dnc_opts *o)
{
    static const struct option opts[] = {{"campaign", required_argument, NULL, 'c'},
                                         {"reason", required_argument, NULL, 'r'},
                                         {"region", required_argument, NULL, 'R'},
                                         {"phone", required_argument, NULL, 'p'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"all", no_argument, NULL, OPT_ALL},
                                         {"allow-rejects", no_argument, NULL, OPT_ALLOW_REJECTS},
                                         {"progress", no_argument, NULL, OPT_PROGRESS},
                                         {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->progress = -1;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
        case 'l':
            if (ctl_cli_parse_id(optarg, c == 'c' ? &o->campaign_id : &o->limit) != 0) {
                fprintf(stderr, "ecmctl dnc: '%s' is not a positive number\n", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case 'r':
            o->reason = optarg;
            break;
        case 'R':
            o->region = optarg;
            break;
        case 'p':
            o->phone = optarg;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_ALL:
            o->all = true;
            break;
        case OPT_ALLOW_REJECTS:
            o->allow_rejects = true;
            break;
        case OPT_PROGRESS:
        case OPT_NO_PROGRESS:
            o->progress = c == OPT_PROGRESS;
            break;
        default:
            return ctl_cli_usage(usage, c == 'h');
        }
    }
    return 0;
}

/* Writes which list o names ("the global DNC list", "campaign 7's
 * DNC list") into buf. Returns buf. */
static const char *list_name(const dnc_opts *o, char *buf, size_t size)
{
    if (o->campaign_id > 0) {
        (void)snprintf(buf, size, "campaign %lld's DNC list", o->campaign_id);
    } else {
        (void)snprintf(buf, size, "the global DNC list");
    }
    return buf;
}

/* dnc add NUMBER. Returns an exit code. */
static int add(const char *number, const dnc_opts *o)
{
    json_t *body = json_pack("{ss}", "phone", number);
    if (o->reason) {
        json_object_set_new(body, "reason", json_string(o->reason));
    }
    if (o->region) {
        json_object_set_new(body, "region", json_string(o->region));
    }
    char path[96], list[64];
    if (o->campaign_id > 0) {
        (void)snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/dnc", o->campaign_id);
    } else {
        (void)snprintf(path, sizeof(path), "/api/v1/dnc");
    }
    ctl_api_answer a;
    int rc = ctl_api_expect("dnc add", "POST", path, body, 201, 200, &a);
    if (rc == CTL_EXIT_OK && o->json) {
        rc = ctl_api_print_raw(&a);
    } else if (rc == CTL_EXIT_OK) {
        printf("%s %s %s\n", json_string_value(json_object_get(a.body, "phone")),
               a.status == 201 ? "added to" : "was already on", list_name(o, list, sizeof(list)));
    }
    ctl_api_answer_destroy(&a);
    json_decref(body);
    return rc;
}

/* dnc rm NUMBER. Returns an exit code. */
static int rm(const char *number, const dnc_opts *o)
{
    char *phone = ctl_api_escape(number);
    if (!phone) {
        fprintf(stderr, "ecmctl dnc rm: out of memory\n");
        return CTL_EXIT_LOST;
    }
    char path[256], list[64];
    int n;
    if (o->campaign_id > 0) {
        n = snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/dnc/%s", o->campaign_id, phone);
    } else {
        n = snprintf(path, sizeof(path), "/api/v1/dnc/%s", phone);
    }
    free(phone);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fprintf(stderr, "ecmctl dnc rm: '%s' is too long for a number\n", number);
        return CTL_EXIT_USAGE;
    }
    ctl_api_answer a;
    int rc = ctl_api_expect("dnc rm", "DELETE", path, NULL, 204, 0, &a);
    if (rc == CTL_EXIT_OK) {
        printf("%s removed from %s\n", number, list_name(o, list, sizeof(list)));
    }
    ctl_api_answer_destroy(&a);
    return rc;
}

/* dnc ls. Returns an exit code. */
static int ls(const dnc_opts *o)
{
    char path[256];
    char *phone = o->phone ? ctl_api_escape(o->phone) : NULL;
    int n;
    if (o->campaign_id > 0) {
        n = snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/dnc%s%s", o->campaign_id,
                     phone ? "?phone=" : "", phone ? phone : "");
    } else {
        n = snprintf(path, sizeof(path), "/api/v1/dnc?scope=%s%s%s", o->all ? "all" : "global",
                     phone ? "&phone=" : "", phone ? phone : "");
    }
    free(phone);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fprintf(stderr, "ecmctl dnc ls: the number is too long\n");
        return CTL_EXIT_USAGE;
    }
    int rc;
    json_t *items = ctl_api_list_told("dnc ls", path, PAGE_LIMIT, o->limit, &rc);
    if (!items) {
        return rc;
    }
    if (o->json) {
        (void)ctl_api_print_items(items);
    } else {
        printf("%8s  %-16s  %-8s  %-10s  %-24s  %s\n", "ID", "PHONE", "LIST", "SOURCE", "ADDED",
               "REASON");
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e)
        {
            char listed[24], reason[320];
            const json_t *cid = json_object_get(e, "campaign_id");
            if (json_is_integer(cid)) {
                (void)snprintf(listed, sizeof(listed), "c%lld", (long long)json_integer_value(cid));
            } else {
                (void)snprintf(listed, sizeof(listed), "global");
            }
            const char *r = json_string_value(json_object_get(e, "reason"));
            printf("%8lld  %-16s  %-8s  %-10s  %-24s  %s\n",
                   (long long)json_integer_value(json_object_get(e, "id")),
                   json_string_value(json_object_get(e, "phone")), listed,
                   json_string_value(json_object_get(e, "source")),
                   json_string_value(json_object_get(e, "created_at")),
                   r ? ecm_utf8_quote(reason, sizeof(reason), r, 60) : "-");
        }
    }
    json_decref(items);
    return CTL_EXIT_OK;
}

/* dnc import FILE. Returns an exit code. */
static int import(const char *file, const dnc_opts *o)
{
    char path[96];
    if (o->campaign_id > 0) {
        (void)snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/dnc/uploads", o->campaign_id);
    } else {
        (void)snprintf(path, sizeof(path), "/api/v1/dnc/uploads");
    }
    ctl_upload_job job = {.what = "dnc import",
                          .path = path,
                          .file = file,
                          .content_type = "text/csv",
                          .progress = o->progress,
                          .allow_rejects = o->allow_rejects,
                          .json = o->json};
    return ctl_upload_run(&job);
}

int ctl_dnc_main(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    if (ctl_cli_is_help(verb)) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    argc--, argv++;
    dnc_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    int operands = argc - optind;
    const char *arg = operands > 0 ? argv[optind] : NULL;
    if (strcmp(verb, "ls") == 0 || strcmp(verb, "list") == 0) {
        if (operands == 0) {
            return ls(&o);
        }
    } else if (strcmp(verb, "add") == 0 || strcmp(verb, "rm") == 0 || strcmp(verb, "import") == 0) {
        if (operands == 1) {
            return verb[0] == 'a' ? add(arg, &o) : verb[0] == 'r' ? rm(arg, &o) : import(arg, &o);
        }
    } else {
        fprintf(stderr, "ecmctl dnc: unknown verb '%s'\n", verb);
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    fprintf(stderr, "ecmctl dnc %s: wrong number of arguments\n", verb);
    usage(stderr);
    return CTL_EXIT_USAGE;
}

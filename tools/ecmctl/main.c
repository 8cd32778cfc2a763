/* ecmctl: the ECM command line, a client of the REST API ($ECM_URL, key
 * $ECM_API_KEY). One verb a module (ctl_<verb>.c); this file only
 * dispatches. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl_api.h"
#include "ctl_campaigns.h"
#include "ctl_cli.h"
#include "ctl_dnc.h"
#include "ctl_export.h"
#include "ctl_keys.h"
#include "ctl_recycle.h"
#include "ctl_rules.h"
#include "ctl_upload.h"
#include "ctl_watch.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} verb;

static const verb VERBS[] = {
    {"campaigns", ctl_campaigns_main, "list|show|create|activate|pause|resume|stop campaigns"},
    {"upload", ctl_upload_main, "send a contact file to a campaign (or resume an upload)"},
    {"watch", ctl_watch_main, "a campaign's live counts until it is done"},
    {"dnc", ctl_dnc_main, "add|rm|ls|import do-not-contact numbers"},
    {"export", ctl_export_main, "a campaign's attempts (or contacts) as CSV on stdout"},
    {"keys", ctl_keys_main, "create|ls|revoke API keys"},
    {"rules", ctl_rules_main, "list|show|apply rule sets (contact rules per jurisdiction)"},
    {"recycle", ctl_recycle_main, "re-open closed contacts of a campaign (dry run first)"},
    {"recycle-schedule", ctl_recycle_schedule_main, "show|set|clear a campaign's recycle schedule"},
};

/* Writes ecmctl's usage (the verbs, the environment, the exit codes)
 * to out. */
static void usage(FILE *out)
{
    fprintf(out, "usage: ecmctl VERB [ARGS]\n\nVerbs:\n");
    for (size_t i = 0; i < sizeof(VERBS) / sizeof(VERBS[0]); i++) {
        fprintf(out, "  %-10s %s\n", VERBS[i].name, VERBS[i].summary);
    }
    fprintf(out,
            "\n"
            "ecmctl VERB --help tells more. The API is at $ECM_URL (default %s);\n"
            "each request carries the API key in $ECM_API_KEY (Authorization: Bearer).\n"
            "\n" CTL_EXIT_HELP "watch ended by Ctrl-C exits 130.\n",
            CTL_API_URL_DEFAULT);
}

int main(int argc, char **argv)
{
    if (argc < 2 || ctl_cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
    }
    /* "campaigns recycle ..." and "campaigns recycle-schedule ..." are the
     * recycle verbs (ctl_recycle.c). */
    if (argc > 2 && strcmp(argv[1], "campaigns") == 0 &&
        (strcmp(argv[2], "recycle") == 0 || strcmp(argv[2], "recycle-schedule") == 0)) {
        argc--;
        argv++;
    }
    const verb *v = NULL;
    for (size_t i = 0; i < sizeof(VERBS) / sizeof(VERBS[0]); i++) {
        if (strcmp(argv[1], VERBS[i].name) == 0) {
            v = &VERBS[i];
        }
    }
    if (!v) {
        fprintf(stderr, "ecmctl: unknown verb '%s'\n", argv[1]);
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (curl_global_init(CURL_GLOBAL_ALL) != 0) {
        fprintf(stderr, "ecmctl: libcurl could not start\n");
        return CTL_EXIT_LOST;
    }
    int rc = v->run(argc - 1, argv + 1);
    curl_global_cleanup();
    return rc;
}

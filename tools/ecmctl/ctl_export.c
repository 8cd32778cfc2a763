#include "ctl_export.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl_api.h"
#include "ctl_cli.h"

/* Writes the verb's usage to out. */
static void usage(FILE *out)
{
    fprintf(out, "usage: ecmctl export CAMPAIGN [--contacts] [-o FILE] > attempts.csv\n"
                 "\n"
                 "Streams campaign CAMPAIGN's attempts (one row an attempt: contact, phone,\n"
                 "channel, times, raw code, outcome) as CSV to stdout, or its contacts with\n"
                 "--contacts. The API writes RFC 4180 (CRLF records, every value quoted) and\n"
                 "neutralises cells that a spreadsheet would read as formulas.\n"
                 "\n"
                 "  --contacts   the contacts instead of the attempts\n"
                 "  -o FILE      write to FILE instead of stdout\n"
                 "\n" CTL_EXIT_HELP "A failed write (disk full, closed pipe) exits 1.\n");
}

int ctl_export_main(int argc, char **argv)
{
    static const struct option opts[] = {{"contacts", no_argument, NULL, 'c'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool contacts = false;
    const char *file = NULL;
    long long id;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "co:h", opts, NULL)) != -1) {
        if (c == 'c') {
            contacts = true;
        } else if (c == 'o') {
            file = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return CTL_EXIT_OK;
        } else {
            usage(stderr);
            return CTL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || ctl_cli_parse_id(argv[optind], &id) != 0) {
        fprintf(stderr, "ecmctl export: give one CAMPAIGN id\n");
        return CTL_EXIT_USAGE;
    }
    FILE *out = file ? fopen(file, "wb") : stdout;
    if (!out) {
        fprintf(stderr, "ecmctl export: cannot write %s\n", file);
        return CTL_EXIT_USAGE;
    }
    char path[96], what[64];
    (void)snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/%s.csv", id,
                   contacts ? "contacts" : "attempts");
    (void)snprintf(what, sizeof(what), "export %lld", id);
    ctl_api_answer a;
    int got = ctl_api_get_to(path, out, &a);
    int rc = CTL_EXIT_OK;
    if (got != 0 && strstr(a.err, "write")) {
        fprintf(stderr, "ecmctl %s: %s\n", what, a.err);
        rc = CTL_EXIT_REFUSED;
    } else if (got != 0 || a.status != 200) {
        rc = ctl_api_fail(what, &a);
    }
    ctl_api_answer_destroy(&a);
    if (fflush(out) != 0 && rc == CTL_EXIT_OK) {
        fprintf(stderr, "ecmctl %s: the output could not be written\n", what);
        rc = CTL_EXIT_REFUSED;
    }
    if (file && fclose(out) != 0 && rc == CTL_EXIT_OK) {
        fprintf(stderr, "ecmctl %s: %s could not be written\n", what, file);
        rc = CTL_EXIT_REFUSED;
    }
    return rc;
}

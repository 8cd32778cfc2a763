/* ecmctl: the ECM command line, a client of the REST API ($ECM_URL).
 * One command a module (ctl_<command>.c); this file only dispatches. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl_api.h"
#include "ctl_upload.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ecmctl COMMAND [ARGS]\n"
            "\n"
            "Commands:\n"
            "  upload   send a contact file to a campaign, or resume an interrupted upload\n"
            "\n"
            "ecmctl COMMAND --help tells more. The API is at $ECM_URL (default %s);\n"
            "the API key is $ECM_API_KEY.\n",
            CTL_API_URL_DEFAULT);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "upload") != 0) {
        fprintf(stderr, "ecmctl: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (curl_global_init(CURL_GLOBAL_ALL) != 0) {
        fprintf(stderr, "ecmctl: libcurl could not start\n");
        return CTL_EXIT_LOST;
    }
    int rc = ctl_upload_main(argc - 1, argv + 1);
    curl_global_cleanup();
    return rc;
}

/* ecmctl upload: sends a contact file to a campaign, or resumes an
 * interrupted upload with the same file, streaming it from disk with a
 * progress bar on a terminal, then prints the counts and the report's
 * address. */
#ifndef CTL_UPLOAD_H
#define CTL_UPLOAD_H

#include <stdio.h>

/* Exit codes of the command. */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_REFUSED = 1, /* the API answered with an error */
    CTL_EXIT_USAGE = 2,
    CTL_EXIT_LOST = 3 /* no answer: connection refused or broken */
};

/* Writes the command's usage to out. */
void ctl_upload_usage(FILE *out);

/* Runs "upload" with its arguments (argv[0] is "upload"). Returns an exit
 * code above. */
int ctl_upload_main(int argc, char **argv);

#endif

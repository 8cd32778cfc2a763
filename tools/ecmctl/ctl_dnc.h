/* ecmctl dnc: the do-not-contact lists, global or one campaign's: add,
 * rm, ls and import (a CSV of numbers through the DNC upload routes, with
 * the upload's progress bar and report). */
#ifndef CTL_DNC_H
#define CTL_DNC_H

/* Runs "dnc" with its arguments (argv[0] is "dnc"). Returns an exit code
 * (ctl_cli.h). */
int ctl_dnc_main(int argc, char **argv);

#endif

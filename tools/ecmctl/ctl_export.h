/* ecmctl export: a campaign's attempts (or contacts) as CSV, streamed from
 * GET /api/v1/campaigns/{id}/attempts.csv (contacts.csv) to stdout or a
 * file as it arrives, in flat memory however large. */
#ifndef CTL_EXPORT_H
#define CTL_EXPORT_H

/* Runs "export" with its arguments (argv[0] is "export"). Returns an exit
 * code (ctl_cli.h). */
int ctl_export_main(int argc, char **argv);

#endif

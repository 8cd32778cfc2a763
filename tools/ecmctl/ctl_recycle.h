/* ecmctl recycle: re-opening closed contacts of a campaign by outcome and
 * age (POST /api/v1/campaigns/{id}/recycle), with a dry-run count shown and
 * confirmed before the run unless --yes; and the campaign's recycle
 * schedule (show, set, clear: /api/v1/campaigns/{id}/recycle-schedule).
 * Also reached as "ecmctl campaigns recycle" and "ecmctl campaigns
 * recycle-schedule". */
#ifndef CTL_RECYCLE_H
#define CTL_RECYCLE_H

#include <jansson.h>

/* Splits a comma list of outcome names ("NO_ANSWER,BUSY") into a new JSON
 * array of strings (the caller's). Returns it, or NULL when the list is
 * empty or has an empty name ("NO_ANSWER,,BUSY"). Pure. */
json_t *ctl_recycle_outcomes(const char *list) __attribute__((warn_unused_result));

/* Runs "recycle" with its arguments (argv[0] is "recycle"). Returns an exit
 * code (ctl_cli.h). */
int ctl_recycle_main(int argc, char **argv);

/* Runs "recycle-schedule" (argv[0]): show|set|clear ID. Returns an exit
 * code. */
int ctl_recycle_schedule_main(int argc, char **argv);

#endif

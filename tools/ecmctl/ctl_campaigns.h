/* ecmctl campaigns: list, show, create, and the state changes (activate,
 * pause, resume, stop) of campaigns, over /api/v1/campaigns. */
#ifndef CTL_CAMPAIGNS_H
#define CTL_CAMPAIGNS_H

#include <stddef.h>

#include <jansson.h>

/* Adds the calling window spec "DAYS=HH:MM-HH:MM" to window (a JSON
 * object of weekday -> [[from, to], ...], as the API takes it). DAYS is a
 * weekday (mon..sun), a range of them (mon-fri) or a comma list
 * (sat,sun). Returns 0, or -1 with why in err (window unchanged). */
int ctl_campaigns_window_add(json_t *window, const char *spec, char *err, size_t err_size)
    __attribute__((warn_unused_result));

/* Appends the blackout spec "YYYY-MM-DD[:reason]" to list (a JSON array
 * of {"date", "reason"}, as the API takes "blackout_dates"). The date is
 * only checked for its shape; the gateway judges the calendar. Returns 0,
 * or -1 with why in err (list unchanged). */
int ctl_campaigns_blackout_add(json_t *list, const char *spec, char *err, size_t err_size)
    __attribute__((warn_unused_result));

/* Runs "campaigns" with its arguments (argv[0] is "campaigns"). Returns an
 * exit code (ctl_cli.h). */
int ctl_campaigns_main(int argc, char **argv);

#endif

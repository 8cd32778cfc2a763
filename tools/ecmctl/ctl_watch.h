/* ecmctl watch: a campaign's counts (contacts by state and outcome,
 * attempts), polled from GET /api/v1/campaigns/{id} and redrawn in place
 * on a terminal, or printed as one line per change otherwise, until the
 * campaign is done (stopped, completed, expired, or every contact closed)
 * or Ctrl-C. No answer or a 503 (the gateway restarting) is told on
 * stderr and the watch goes on. */
#ifndef CTL_WATCH_H
#define CTL_WATCH_H

/* Runs "watch" with its arguments (argv[0] is "watch"). Returns an exit
 * code (ctl_cli.h); CTL_EXIT_INTERRUPTED after Ctrl-C. */
int ctl_watch_main(int argc, char **argv);

#endif

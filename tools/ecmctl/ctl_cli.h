/* What every ecmctl verb shares: the exit codes a script can rely on, and
 * the parsing of ids and numbers on the command line. No state. */
#ifndef CTL_CLI_H
#define CTL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes of every verb (printed by "ecmctl --help"). */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_REFUSED = 1,      /* the API answered with an error (its title/detail on stderr) */
    CTL_EXIT_USAGE = 2,        /* bad arguments, or a local file that cannot be read */
    CTL_EXIT_LOST = 3,         /* no answer: connection refused, broken or timed out */
    CTL_EXIT_REJECTED = 4,     /* an upload or DNC import finished with rejected rows */
    CTL_EXIT_INTERRUPTED = 130 /* watch ended by Ctrl-C */
};

/* The exit code list as "ecmctl --help" and every verb's --help print it. */
#define CTL_EXIT_HELP                                                                              \
    "Exit codes: 0 done; 1 refused by the API (its problem title and detail on\n"                  \
    "stderr; 401: set ECM_API_KEY); 2 usage; 3 no answer (connection refused,\n"                   \
    "broken or timed out); 4 rows rejected by an upload or DNC import (see\n"                      \
    "--allow-rejects).\n"

/* Writes a verb's usage to out. */
typedef void (*ctl_cli_usage_fn)(FILE *out);

/* true when arg asks for help: "--help", "-h" or "help". */
bool ctl_cli_is_help(const char *arg);

/* What a verb's option parser does with --help (help true: usage on
 * stdout, returns -1) or with an option it does not take (usage on
 * stderr, returns CTL_EXIT_USAGE). */
int ctl_cli_usage(ctl_cli_usage_fn usage, bool help);

/* Parses s as a positive decimal id into *out. Returns 0, or -1 (out
 * untouched) for anything else: empty, sign, trailing bytes, 0, overflow. */
int ctl_cli_parse_id(const char *s, long long *out) __attribute__((warn_unused_result));

/* Writes v with thousands separators ("1,234,567") into buf. Returns buf.
 * Cut (still NUL-terminated) when size is too small. Can't fail. */
const char *ctl_cli_count(char *buf, size_t size, long long v);

#endif

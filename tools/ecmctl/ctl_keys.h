/* ecmctl keys: API keys over /api/v1/keys (admin): create (the key is
 * printed once), ls, revoke. */
#ifndef CTL_KEYS_H
#define CTL_KEYS_H

/* Runs "keys" with its arguments (argv[0] is "keys"). Returns an exit code
 * (ctl_cli.h). */
int ctl_keys_main(int argc, char **argv);

#endif

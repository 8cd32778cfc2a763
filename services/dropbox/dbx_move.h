/* Moving a finished file out of the drop folder: into the archive folder
 * (renamed "<upload id>_<name>") or the failed folder (with
 * "<name>.reason.txt" beside it). A rename when both are on one file
 * system; across file systems (EXDEV: the archive on another mount) a copy
 * under a dot name that the scanner ignores, fsync'd, renamed into place,
 * then the source removed. */
#ifndef DBX_MOVE_H
#define DBX_MOVE_H

#include <stddef.h>

/* Creates dir and its missing parents (mode 0750). Returns 0, or -1 with
 * why. */
int dbx_move_mkdirs(const char *dir, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Moves the file src to dir/name (dir created when missing), never
 * replacing a file there: when dir/name exists, "<tag>_<name>" is used
 * instead (tag: e.g. the claim's id), and fails if that exists too.
 * moved_to (moved_to_size) gets the path written. Returns 0 (moved), 1 (src
 * was gone: another replica moved it), or -1 with why (nothing moved; a
 * partial copy is removed). */
int dbx_move_file(const char *src, const char *dir, const char *name, long long tag, char *moved_to,
                  size_t moved_to_size, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Writes text into "<path>.reason.txt" (a temporary, then rename).
 * Returns 0, or -1 with why. */
int dbx_move_write_reason(const char *path, const char *text, char *why, size_t why_size)
    __attribute__((warn_unused_result));

#endif

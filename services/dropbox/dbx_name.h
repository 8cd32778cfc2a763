/* Which names in the drop folder are files to load, and for which campaign.
 * Pure: no I/O.
 *
 * Layout under the drop folder: "<campaign id>/<file>" (a folder per
 * campaign) or "<campaign id>_<anything>" at the top (one folder, the
 * campaign in the file's name). A temporary name is never a file to load:
 * writers (cp/rsync/SFTP clients, browsers, editors) write under such a name
 * and rename when done. */
#ifndef DBX_NAME_H
#define DBX_NAME_H

#include <stddef.h>

/* 1 when name (a file or folder name, no '/') is a writer's temporary name:
 * a dot file (rsync's ".name.XXXXXX" included), or one ending in ".tmp",
 * ".part", ".partial", ".filepart", ".crdownload" (case-insensitively) or
 * "~"; else 0. An empty name counts as temporary. Can't fail. */
int dbx_name_is_temp(const char *name);

/* The campaign of a file at rel_path ("<dir>/<file>" or "<file>", relative
 * to the drop folder): *campaign_id from the folder's name (all digits) or
 * the top-level file's name ("<digits>_..."). Returns 0, or -1 with the
 * reason in plain words in why (e.g. "folder 'abc' is not a campaign id").
 * Pure. */
int dbx_name_campaign(const char *rel_path, long long *campaign_id, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* The last component of rel_path. Can't fail. */
const char *dbx_name_base(const char *rel_path);

#endif

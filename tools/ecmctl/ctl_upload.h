/* ecmctl upload: sends a contact file to a campaign, or resumes an
 * interrupted upload with the same file, streaming it from disk with a
 * progress bar (bytes and rows sent), then prints the report's counts,
 * its first rows not loaded and its address. The sending and the report
 * are shared with "ecmctl dnc import" (ctl_upload_run). */
#ifndef CTL_UPLOAD_H
#define CTL_UPLOAD_H

#include <stdbool.h>
#include <stdio.h>

/* One file to send and how to tell the outcome. */
typedef struct {
    const char *what;         /* the verb, for messages: "upload", "dnc import" */
    const char *path;         /* the API route the file is POSTed to */
    const char *file;         /* the file's name on disk */
    const char *content_type; /* NULL: application/json for *.json, else text/csv */
    int progress;             /* 1: draw the bar, 0: never, -1: when stderr is a terminal */
    bool allow_rejects;       /* rejected rows still exit 0 */
    bool json;                /* print the API's answer as JSON instead of the summary */
    long long resume_id;      /* the upload resumed (its counts are polled by id); 0: new */
} ctl_upload_job;

/* Sends job->file to job->path and tells the outcome: the summary (or the
 * JSON) on stdout, the bar, the first rows not loaded and any error on
 * stderr. Returns an exit code (ctl_cli.h): 0, 1 refused, 2 the file
 * cannot be read, 3 no answer, 4 rows rejected (unless allow_rejects). */
int ctl_upload_run(const ctl_upload_job *job) __attribute__((warn_unused_result));

/* Writes the command's usage to out. */
void ctl_upload_usage(FILE *out);

/* Runs "upload" with its arguments (argv[0] is "upload"). Returns an exit
 * code (ctl_cli.h). */
int ctl_upload_main(int argc, char **argv);

#endif

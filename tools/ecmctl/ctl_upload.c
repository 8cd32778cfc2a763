#include "ctl_upload.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_api.h"
#include "ctl_bar.h"
#include "ctl_cli.h"

/* Rows not loaded shown after the summary (the report has them all). */
#define ERRORS_SHOWN 5

enum { OPT_ALLOW_REJECTS = 256, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_JSON };

void ctl_upload_usage(FILE *out)
{
    fprintf(out, "usage: ecmctl upload CAMPAIGN FILE [OPTIONS]\n"
                 "       ecmctl upload --campaign CAMPAIGN FILE [OPTIONS]\n"
                 "       ecmctl upload --resume UPLOAD_ID FILE [OPTIONS]\n"
                 "\n"
                 "Sends FILE (CSV with a header, or a JSON array of objects) to campaign\n"
                 "CAMPAIGN, streamed from disk, with a progress bar on stderr: bytes and rows\n"
                 "sent. The API answers once the whole file is in; then the report's counts\n"
                 "(rows read, loaded, rejected, duplicate, DNC) go to stdout and its first\n"
                 "rows not loaded, with their line and reason, to stderr. --resume continues\n"
                 "an upload that reads 'interrupted' (its gateway stopped): send the same\n"
                 "file; the rows already loaded are skipped.\n"
                 "\n"
                 "  --campaign ID         the campaign the contacts go to\n"
                 "  --resume UPLOAD_ID    resume that interrupted upload\n"
                 "  --content-type TYPE   default: application/json for *.json, else text/csv\n"
                 "  --allow-rejects       exit 0 even when rows were rejected\n"
                 "  --progress            draw the bar even when stderr is not a terminal\n"
                 "  --no-progress         never draw it\n"
                 "  --json                print the API's answer (JSON) instead of the summary\n"
                 "\n"
                 "Rejected rows make the exit code 4 (the good rows are loaded all the same);\n"
                 "duplicates and DNC numbers are reported, not rejected.\n" CTL_EXIT_HELP);
}

/* true when s ends with tail. */
static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* o's integer member key (0 when absent). */
static long long jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* Says where a resume goes on from (best effort: the API refuses a resume
 * it cannot do anyway). */
static void say_resume_point(const char *resume_path)
{
    char path[96];
    size_t n = strlen(resume_path) - strlen("/resume");
    if (snprintf(path, sizeof(path), "%.*s", (int)n, resume_path) >= (int)sizeof(path)) {
        return;
    }
    ctl_api_answer a;
    if (ctl_api_get(path, &a) == 0 && a.status == 200) {
        const char *state = json_string_value(json_object_get(a.body, "state"));
        fprintf(stderr, "upload %lld is %s; %lld rows loaded up to line %lld\n",
                jint(a.body, "upload_id"), state ? state : "?", jint(a.body, "rows_loaded"),
                jint(a.body, "committed_line"));
    }
    ctl_api_answer_destroy(&a);
}

/* Prints the summary of an accepted upload's answer. */
static void print_summary(const ctl_upload_job *job, const json_t *body)
{
    char c[5][32];
    const char *state = json_string_value(json_object_get(body, "state"));
    printf("%s %lld %s: %s rows read, %s loaded, %s rejected, %s duplicate, %s dnc",
           strcmp(job->what, "upload") == 0 ? "upload" : "dnc upload", jint(body, "upload_id"),
           state ? state : "?", ctl_cli_count(c[0], sizeof(c[0]), jint(body, "rows_read")),
           ctl_cli_count(c[1], sizeof(c[1]), jint(body, "rows_loaded")),
           ctl_cli_count(c[2], sizeof(c[2]), jint(body, "rows_rejected")),
           ctl_cli_count(c[3], sizeof(c[3]), jint(body, "rows_duplicate")),
           ctl_cli_count(c[4], sizeof(c[4]), jint(body, "rows_dnc")));
    if (json_object_get(body, "contacts_closed")) {
        printf(", %lld waiting contacts closed", jint(body, "contacts_closed"));
    }
    const char *report = json_string_value(json_object_get(body, "report_url"));
    printf("\nreport: %s%s\n", ctl_api_base(), report ? report : "");
    const json_t *errors = json_object_get(body, "errors");
    size_t i;
    const json_t *e;
    json_array_foreach(errors, i, e)
    {
        if (i == ERRORS_SHOWN) {
            fprintf(stderr, "  ... (the report has every row not loaded)\n");
            break;
        }
        const char *reason = json_string_value(json_object_get(e, "reason"));
        fprintf(stderr, "  line %lld: %s\n", jint(e, "line"), reason ? reason : "?");
    }
}

/* Opens job->file: *fp and *size. Returns 0, or CTL_EXIT_USAGE (said). */
static int open_file(const ctl_upload_job *job, FILE **fp, long long *size)
{
    struct stat st;
    *fp = fopen(job->file, "rb");
    if (!*fp || fstat(fileno(*fp), &st) != 0) {
        char why[128];
        if (strerror_r(errno, why, sizeof(why)) != 0) {
            (void)snprintf(why, sizeof(why), "error %d", errno);
        }
        fprintf(stderr, "ecmctl %s: %s: %s\n", job->what, job->file, why);
        if (*fp) {
            fclose(*fp);
        }
        return CTL_EXIT_USAGE;
    }
    *size = (long long)st.st_size;
    return 0;
}

/* Where the bar reads the server's counts while the body streams. */
typedef struct {
    char path[160];
} count_poll;

/* The rows the server has rejected so far, from the upload's list entry
 * (a new upload, found by its ECM-Upload-Ref) or its report (a resume);
 * -1 when not known yet (the first batch is not in, or no answer). */
static long long poll_rejected(void *ctx)
{
    const count_poll *p = ctx;
    ctl_api_answer a;
    long long n = -1;
    if (ctl_api_get(p->path, &a) == 0 && a.status == 200 && a.body) {
        json_t *items = json_object_get(a.body, "items");
        const json_t *u = items ? json_array_get(items, 0) : a.body;
        json_t *v = u ? json_object_get(u, "rows_rejected") : NULL;
        n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    }
    ctl_api_answer_destroy(&a);
    return n;
}

/* A new upload's reference (ECM-Upload-Ref: 32 random hex digits) into
 * header, and the poll path that finds it; a resume is polled by its id.
 * Returns 0, or -1 when no random bytes came (then no counts while it
 * streams: header "" and no poll). */
static int upload_ref(const ctl_upload_job *job, char *header, size_t header_size, count_poll *poll)
{
    header[0] = '\0';
    if (job->resume_id > 0) {
        return snprintf(poll->path, sizeof(poll->path), "/api/v1/uploads/%lld?limit=1",
                        job->resume_id) < (int)sizeof(poll->path)
                   ? 0
                   : -1;
    }
    unsigned char raw[16];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        return -1;
    }
    char ref[33];
    for (size_t i = 0; i < sizeof(raw); i++) {
        (void)snprintf(ref + 2 * i, 3, "%02x", raw[i]); /* trunc-ok: 2 digits */
    }
    if (snprintf(header, header_size, "ECM-Upload-Ref: %s", ref) >= (int)header_size ||
        snprintf(poll->path, sizeof(poll->path), "/api/v1/uploads?client_ref=%s&limit=1", ref) >=
            (int)sizeof(poll->path)) {
        header[0] = '\0';
        return -1;
    }
    return 0;
}

int ctl_upload_run(const ctl_upload_job *job)
{
    FILE *fp;
    long long size;
    if (open_file(job, &fp, &size) != 0) {
        return CTL_EXIT_USAGE;
    }
    const char *ct = job->content_type;
    if (!ct) {
        ct = ends_with(job->file, ".json") ? "application/json" : "text/csv";
    }
    bool on = job->progress > 0 || (job->progress < 0 && isatty(STDERR_FILENO));
    ctl_bar bar;
    ctl_bar_init(&bar, on, stderr, size, strstr(ct, "json") != NULL);
    char ref_header[64];
    count_poll poll;
    int polled = on && upload_ref(job, ref_header, sizeof(ref_header), &poll) == 0;
    if (polled) {
        ctl_bar_set_poll(&bar, poll_rejected, &poll);
    }
    ctl_api_answer a;
    int sent = ctl_api_post_file(job->path, ct, polled && ref_header[0] ? ref_header : NULL, fp,
                                 size, ctl_bar_feed, &bar, &a);
    fclose(fp);
    if (sent == 0 && a.status == 202 && json_is_integer(json_object_get(a.body, "rows_rejected"))) {
        bar.rejected = jint(a.body, "rows_rejected"); /* the last word */
    }
    ctl_bar_finish(&bar);
    if (sent != 0) {
        int rc = ctl_api_fail(job->what, &a);
        if (strcmp(job->what, "upload") == 0) {
            fprintf(stderr,
                    "ecmctl: if the gateway stopped, the upload reads 'interrupted' once its "
                    "lease is past (GET /api/v1/uploads/ID); continue it with\n"
                    "  ecmctl upload --resume ID %s\n",
                    job->file);
        }
        ctl_api_answer_destroy(&a);
        return rc;
    }
    if (a.status != 202) {
        int rc = ctl_api_fail(job->what, &a);
        ctl_api_answer_destroy(&a);
        return rc;
    }
    if (job->json) {
        (void)ctl_api_print_raw(&a);
    } else {
        print_summary(job, a.body);
    }
    long long rejected = jint(a.body, "rows_rejected");
    ctl_api_answer_destroy(&a);
    if (rejected > 0 && !job->allow_rejects) {
        fprintf(stderr, "ecmctl %s: rows rejected: %lld (exit 4; --allow-rejects accepts that)\n",
                job->what, rejected);
        return CTL_EXIT_REJECTED;
    }
    return CTL_EXIT_OK;
}

/* Fills job and the ids from argv. Returns 0, or CTL_EXIT_USAGE (said on
 * stderr), or -1 for --help (usage printed). */
static int parse_args(int argc, char **argv, ctl_upload_job *job, long long *campaign_id,
                      long long *resume_id)
{
    static const struct option opts[] = {{"campaign", required_argument, NULL, 'c'},
                                         {"resume", required_argument, NULL, 'r'},
                                         {"content-type", required_argument, NULL, 't'},
                                         {"allow-rejects", no_argument, NULL, OPT_ALLOW_REJECTS},
                                         {"progress", no_argument, NULL, OPT_PROGRESS},
                                         {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *campaign_id = *resume_id = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:r:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
        case 'r':
            if (ctl_cli_parse_id(optarg, c == 'c' ? campaign_id : resume_id) != 0) {
                fprintf(stderr, "ecmctl upload: '%s' is not an id\n", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case 't':
            job->content_type = optarg;
            break;
        case OPT_ALLOW_REJECTS:
            job->allow_rejects = true;
            break;
        case OPT_PROGRESS:
        case OPT_NO_PROGRESS:
            job->progress = c == OPT_PROGRESS;
            break;
        case OPT_JSON:
            job->json = true;
            break;
        default:
            return ctl_cli_usage(ctl_upload_usage, c == 'h');
        }
    }
    int left = argc - optind;
    if (left == 2 && *campaign_id == 0 && *resume_id == 0) {
        if (ctl_cli_parse_id(argv[optind], campaign_id) != 0) {
            fprintf(stderr, "ecmctl upload: '%s' is not a campaign id\n", argv[optind]);
            return CTL_EXIT_USAGE;
        }
        optind++;
        left--;
    }
    if (left != 1 || (*campaign_id > 0) == (*resume_id > 0)) {
        fprintf(stderr, "ecmctl upload: give CAMPAIGN FILE, --campaign ID FILE or --resume ID "
                        "FILE\n");
        ctl_upload_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    job->file = argv[optind];
    return 0;
}

int ctl_upload_main(int argc, char **argv)
{
    ctl_upload_job job = {.what = "upload", .progress = -1};
    long long campaign_id, resume_id;
    int rc = parse_args(argc, argv, &job, &campaign_id, &resume_id);
    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    char path[96];
    if (resume_id > 0) {
        (void)snprintf(path, sizeof(path), "/api/v1/uploads/%lld/resume", resume_id);
        say_resume_point(path);
    } else {
        (void)snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", campaign_id);
    }
    job.path = path;
    job.resume_id = resume_id;
    return ctl_upload_run(&job);
}

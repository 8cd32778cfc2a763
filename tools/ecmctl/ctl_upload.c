#include "ctl_upload.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_api.h"

#define BAR_WIDTH 30

typedef struct {
    long long campaign_id; /* 0: not given */
    long long resume_id;   /* 0: not given */
    const char *content_type;
    const char *file;
} upload_args;

/* The progress bar on stderr, redrawn at most every 200 ms. */
typedef struct {
    int on;
    struct timespec last;
    int drawn;
} bar;

void ctl_upload_usage(FILE *out)
{
    fprintf(out,
            "usage: ecmctl upload --campaign ID [--content-type TYPE] FILE\n"
            "       ecmctl upload --resume UPLOAD_ID [--content-type TYPE] FILE\n"
            "\n"
            "Sends FILE (CSV with a header, or a JSON array of objects) to campaign ID,\n"
            "streamed, and prints the counts and where the row report is. --resume\n"
            "continues an upload that reads 'interrupted' (its gateway stopped): send\n"
            "the same file; the rows already loaded are skipped.\n"
            "\n"
            "  --campaign ID         the campaign the contacts go to\n"
            "  --resume UPLOAD_ID    resume that interrupted upload\n"
            "  --content-type TYPE   default: application/json for *.json, else text/csv\n"
            "\n"
            "The API is at $ECM_URL (default %s).\n"
            "Exit: 0 done, 1 refused or failed (the API says why), 2 usage, 3 no answer\n"
            "(connection refused or lost).\n",
            CTL_API_URL_DEFAULT);
}

static int parse_id(const char *s, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v <= 0) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Fills a from argv. Returns 0, or CTL_EXIT_USAGE (said on stderr), or -1
 * for --help (usage printed). */
static int parse_args(int argc, char **argv, upload_args *a)
{
    static const struct option opts[] = {{"campaign", required_argument, NULL, 'c'},
                                         {"resume", required_argument, NULL, 'r'},
                                         {"content-type", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:r:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
        case 'r':
            if (parse_id(optarg, c == 'c' ? &a->campaign_id : &a->resume_id) != 0) {
                fprintf(stderr, "ecmctl upload: '%s' is not an id\n", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case 't':
            a->content_type = optarg;
            break;
        case 'h':
            ctl_upload_usage(stdout);
            return -1;
        default:
            ctl_upload_usage(stderr);
            return CTL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || (a->campaign_id > 0) == (a->resume_id > 0)) {
        fprintf(stderr, "ecmctl upload: give one FILE and either --campaign or --resume\n");
        ctl_upload_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    a->file = argv[optind];
    if (!a->content_type) {
        size_t n = strlen(a->file);
        a->content_type =
            n >= 5 && strcmp(a->file + n - 5, ".json") == 0 ? "application/json" : "text/csv";
    }
    return 0;
}

static void bar_draw(void *ctx, long long sent, long long total)
{
    bar *b = ctx;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms =
        (now.tv_sec - b->last.tv_sec) * 1000LL + (now.tv_nsec - b->last.tv_nsec) / 1000000;
    if (!b->on || total <= 0 || (b->drawn && ms < 200 && sent < total)) {
        return;
    }
    b->last = now;
    b->drawn = 1;
    int fill = (int)(sent * BAR_WIDTH / total);
    char cells[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++) {
        cells[i] = i < fill ? '#' : '.';
    }
    cells[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %3lld%%  %.1f / %.1f MB", cells, sent * 100 / total, sent / 1e6,
            total / 1e6);
    fflush(stderr);
}

static long long jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* Says where a resume goes on from (best effort: the API refuses a resume
 * it cannot do anyway). */
static void say_resume_point(long long id)
{
    char path[64];
    (void)snprintf(path, sizeof(path), "/api/v1/uploads/%lld", id);
    ctl_api_answer a;
    if (ctl_api_get(path, &a) == 0 && a.status == 200) {
        const char *state = json_string_value(json_object_get(a.body, "state"));
        fprintf(stderr, "upload %lld is %s; %lld rows loaded up to line %lld\n", id,
                state ? state : "?", jint(a.body, "rows_loaded"), jint(a.body, "committed_line"));
    }
    ctl_api_answer_free(&a);
}

int ctl_upload_main(int argc, char **argv)
{
    upload_args args;
    int rc = parse_args(argc, argv, &args);
    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    FILE *fp = fopen(args.file, "rb");
    struct stat st;
    if (!fp || fstat(fileno(fp), &st) != 0) {
        char why[128];
        if (strerror_r(errno, why, sizeof(why)) != 0) {
            (void)snprintf(why, sizeof(why), "error %d", errno);
        }
        fprintf(stderr, "ecmctl upload: %s: %s\n", args.file, why);
        if (fp) {
            fclose(fp);
        }
        return CTL_EXIT_USAGE;
    }
    char path[96];
    if (args.resume_id > 0) {
        say_resume_point(args.resume_id);
        (void)snprintf(path, sizeof(path), "/api/v1/uploads/%lld/resume", args.resume_id);
    } else {
        (void)snprintf(path, sizeof(path), "/api/v1/campaigns/%lld/uploads", args.campaign_id);
    }
    bar b = {isatty(STDERR_FILENO), {0, 0}, 0};
    ctl_api_answer a;
    int sent =
        ctl_api_post_file(path, args.content_type, fp, (long long)st.st_size, bar_draw, &b, &a);
    fclose(fp);
    if (b.drawn) {
        fputc('\n', stderr);
    }
    if (sent != 0) {
        ctl_api_print_problem(stderr, "upload", &a);
        fprintf(stderr,
                "ecmctl: no answer came. If the gateway stopped, the upload reads 'interrupted' "
                "once its lease is past (GET /api/v1/uploads/ID); continue it with\n"
                "  ecmctl upload --resume ID %s\n",
                args.file);
        return CTL_EXIT_LOST;
    }
    if (a.status != 202) {
        ctl_api_print_problem(stderr, "upload", &a);
        ctl_api_answer_free(&a);
        return CTL_EXIT_REFUSED;
    }
    const char *state = json_string_value(json_object_get(a.body, "state"));
    const char *report = json_string_value(json_object_get(a.body, "report_url"));
    printf("upload %lld %s: %lld rows read, %lld loaded, %lld rejected, %lld duplicate, %lld dnc\n",
           jint(a.body, "upload_id"), state ? state : "?", jint(a.body, "rows_read"),
           jint(a.body, "rows_loaded"), jint(a.body, "rows_rejected"),
           jint(a.body, "rows_duplicate"), jint(a.body, "rows_dnc"));
    printf("report: %s%s\n", ctl_api_base(), report ? report : "");
    ctl_api_answer_free(&a);
    return CTL_EXIT_OK;
}

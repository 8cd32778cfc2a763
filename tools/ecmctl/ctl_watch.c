#include "ctl_watch.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_api.h"
#include "ctl_cli.h"
#include "ctl_table.h"

enum { OPT_JSON = 256 };

/* Set by SIGINT: the one mutable global STYLE.md allows. */
static volatile sig_atomic_t interrupted;

/* SIGINT: ends the watch after the current request. */
static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Writes the verb's usage to out. */
static void usage(FILE *out)
{
    fprintf(out, "usage: ecmctl watch CAMPAIGN [--interval SECONDS] [--json]\n"
                 "\n"
                 "Shows campaign CAMPAIGN's counts - contacts by state (pending, queued,\n"
                 "dispatched, waiting, retry_due, closed), closed contacts by outcome, and\n"
                 "attempts - until the campaign is stopped, completed or expired, or every\n"
                 "contact is closed, or Ctrl-C. On a terminal the counts are redrawn in\n"
                 "place; otherwise one line is printed per change, with the time. Without\n"
                 "an answer (or with a 503) it says so on stderr and keeps asking.\n"
                 "\n"
                 "  --interval SECONDS   how often to ask the API (default 2, 1 to 3600)\n"
                 "  --json               one line of the API's campaign JSON per change\n"
                 "\n" CTL_EXIT_HELP "Ctrl-C ends it with exit code 130.\n");
}

/* Sleeps seconds, or less when Ctrl-C comes. */
static void nap(long seconds)
{
    struct timespec ts = {seconds, 0};
    while (!interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Draws the counts block on a terminal, over the previous one (lines
 * drawn last time in *lines). */
static void draw_block(const json_t *c, long long id, int *lines)
{
    if (*lines > 0) {
        printf("\033[%dA\033[J", *lines);
    }
    const json_t *counts = json_object_get(c, "counts");
    const json_t *by_state = json_object_get(counts, "by_state");
    char name[160];
    printf(
        "campaign %lld  %s  %s\n", id,
        ctl_table_fit(name, sizeof(name), json_string_value(json_object_get(c, "name")), 40, false),
        json_string_value(json_object_get(c, "state")));
    printf("  contacts %lld  attempts %lld\n",
           (long long)json_integer_value(json_object_get(counts, "contacts")),
           (long long)json_integer_value(json_object_get(counts, "attempts")));
    printf("  by state  ");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)by_state, k, v)
    {
        printf(" %s=%lld", k, (long long)json_integer_value(v));
    }
    printf("\n  by outcome");
    json_object_foreach(json_object_get(counts, "by_outcome"), k, v)
    {
        printf(" %s=%lld", k, (long long)json_integer_value(v));
    }
    printf("\n");
    fflush(stdout);
    *lines = 4;
}

/* Prints a line for c when it differs from the last one (kept in last). */
static void print_change(const ctl_api_answer *a, bool json, char *last, size_t last_size)
{
    char line[2048];
    if (json) {
        char *text = json_dumps(a->body, JSON_COMPACT);
        /* trunc-ok: only compared with the next one */
        (void)snprintf(line, sizeof(line), "%s", text ? text : "");
        if (strcmp(line, last) != 0) {
            printf("%s\n", text ? text : "");
        }
        free(text);
    } else {
        ctl_table_counts_line(line, sizeof(line), a->body);
        if (strcmp(line, last) != 0) {
            time_t now = time(NULL);
            struct tm tm;
            char at[16] = "";
            if (localtime_r(&now, &tm)) {
                (void)strftime(at, sizeof(at), "%H:%M:%S", &tm);
            }
            printf("%s %s\n", at, line);
        }
    }
    fflush(stdout);
    /* trunc-ok: a cut line only redraws once more */
    (void)snprintf(last, last_size, "%s", line);
}

/* Fills *id, *interval and *json from argv. Returns 0, CTL_EXIT_USAGE
 * (said), or -1 for --help. */
static int parse_args(int argc, char **argv, long long *id, long *interval, bool *json)
{
    static const struct option opts[] = {{"interval", required_argument, NULL, 'i'},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    long long v;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
        if (c == 'i' && ctl_cli_parse_id(optarg, &v) == 0 && v <= 3600) {
            *interval = (long)v;
        } else if (c == OPT_JSON) {
            *json = true;
        } else {
            return ctl_cli_usage(usage, c == 'h');
        }
    }
    if (optind != argc - 1 || ctl_cli_parse_id(argv[optind], id) != 0) {
        fprintf(stderr, "ecmctl watch: give one CAMPAIGN id\n");
        return CTL_EXIT_USAGE;
    }
    return 0;
}

int ctl_watch_main(int argc, char **argv)
{
    long long id;
    long interval = 2;
    bool json = false;
    int rc = parse_args(argc, argv, &id, &interval, &json);
    if (rc != 0) {
        return rc < 0 ? CTL_EXIT_OK : rc;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: the nap ends at once */
    char path[64], last[2048] = "";
    (void)snprintf(path, sizeof(path), "/api/v1/campaigns/%lld", id);
    bool block = !json && isatty(STDOUT_FILENO);
    int lines = 0;
    while (!interrupted) {
        ctl_api_answer a;
        int got = ctl_api_get(path, &a);
        if (got != 0 || a.status == 503) {
            /* The gateway restarting or its database away: say so, go on. */
            (void)ctl_api_fail("watch (trying again)", &a);
            ctl_api_answer_destroy(&a);
            lines = 0;
            nap(interval);
            continue;
        }
        if (a.status != 200) {
            rc = ctl_api_fail("watch", &a);
            ctl_api_answer_destroy(&a);
            return rc;
        }
        if (block) {
            draw_block(a.body, id, &lines);
        } else {
            print_change(&a, json, last, sizeof(last));
        }
        bool done = ctl_table_campaign_done(a.body);
        ctl_api_answer_destroy(&a);
        if (done) {
            return CTL_EXIT_OK;
        }
        nap(interval);
    }
    return CTL_EXIT_INTERRUPTED;
}

/* ecm_phone_subdivision() per number, as the upload calls it: NANP numbers
 * the first time their NPA-NXX is seen (the geocoder), then again (the
 * cache), and numbers of other countries (libphonenumber's region); with
 * ecm_phone_normalize() of the same numbers for scale. Prints figures;
 * never passes or fails on them. Built and run by bench/phone_subdivision.sh. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ecm_phone.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The i-th US/CA number: NPAs of a handful of states and provinces, every
 * NXX from 200, line i. */
static void nanp_number(long i, char *out, size_t n)
{
    static const char *const npa[] = {"305", "212", "416", "415", "312", "713", "514", "617"};
    long nxx = 200 + (i / 8) % 800;
    (void)snprintf(out, n, "+1%s%03ld%04ld", npa[i % 8], nxx, i % 10000);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    if (n < 6400) {
        n = 6400;
    }
    char e164[32], out[ECM_PHONE_JURISDICTION_LEN];
    long ok = 0;
    ecm_phone_info info;
    char err[96];
    /* libphonenumber's and ecm_phone's one-time set-up, not measured. */
    double t0 = now_s();
    ok += ecm_phone_normalize("+12125550100", NULL, &info, err, sizeof err) == 0;
    ok += ecm_phone_subdivision("+442079460958", out, sizeof out) == 0;
    printf("set-up (first calls): %.3f s\n", now_s() - t0);
    ok = 0;

    /* Cold: 8 NPAs x 800 NXX, each NPA-NXX asked once. */
    t0 = now_s();
    for (long i = 0; i < 6400; i++) {
        nanp_number(i, e164, sizeof e164);
        ok += ecm_phone_subdivision(e164, out, sizeof out) == 0;
    }
    double cold = now_s() - t0;
    printf("nanp first of its NPA-NXX: %ld numbers in %.3f s: %.2f us a number (%ld answered)\n",
           6400L, cold, cold * 1e6 / 6400, ok);

    ok = 0;
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        nanp_number(i * 7919, e164, sizeof e164);
        ok += ecm_phone_subdivision(e164, out, sizeof out) == 0;
    }
    double warm = now_s() - t0;
    printf(
        "nanp cached: %ld numbers in %.3f s: %.0f ns a number, %.1f M numbers/s (%ld answered)\n",
        n, warm, warm * 1e9 / (double)n, (double)n / warm / 1e6, ok);

    long m = n / 10;
    ok = 0;
    t0 = now_s();
    for (long i = 0; i < m; i++) {
        (void)snprintf(e164, sizeof e164, "+4420794%05ld", i % 100000);
        ok += ecm_phone_subdivision(e164, out, sizeof out) == 0;
    }
    double gb = now_s() - t0;
    printf("gb (region code): %ld numbers in %.3f s: %.2f us a number (%ld answered)\n", m, gb,
           gb * 1e6 / (double)m, ok);

    ok = 0;
    double norm_gb = 0, of_gb = 0;
    for (long i = 0; i < m; i++) {
        (void)snprintf(e164, sizeof e164, "+4420794%05ld", i % 100000);
        t0 = now_s();
        int rc = ecm_phone_normalize(e164, NULL, &info, err, sizeof err);
        double t1 = now_s();
        ok += rc == 0 && ecm_phone_subdivision_of(&info, out, sizeof out) == 0;
        norm_gb += t1 - t0;
        of_gb += now_s() - t1;
    }
    printf("gb as the upload asks (normalize, then subdivision_of): %.2f us + %.3f us a number "
           "(%ld answered)\n",
           norm_gb * 1e6 / (double)m, of_gb * 1e6 / (double)m, ok);

    ok = 0;
    t0 = now_s();
    for (long i = 0; i < m; i++) {
        nanp_number(i * 7919, e164, sizeof e164);
        ok += ecm_phone_normalize(e164, "US", &info, err, sizeof err) == 0;
    }
    double norm = now_s() - t0;
    printf("for scale, ecm_phone_normalize of nanp numbers: %.2f us a number (%ld valid)\n",
           norm * 1e6 / (double)m, ok);
    return 0;
}

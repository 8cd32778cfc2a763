#define _GNU_SOURCE /* dladdr, RTLD_DEFAULT */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_phone.h"

/* Normalises raw and checks the whole result. */
static void expect_number(const char *raw, const char *region, const char *e164,
                          ecm_phone_type type, const char *number_region, int cc)
{
    ecm_phone_info info;
    char err[128] = "";
    int rc = ecm_phone_normalize(raw, region, &info, err, sizeof err);
    if (rc != 0) {
        fail_msg("\"%s\" (%s) refused: %s", raw, region ? region : "NULL", err);
    }
    assert_string_equal(info.e164, e164);
    assert_string_equal(ecm_phone_type_name(info.type), ecm_phone_type_name(type));
    assert_string_equal(info.region, number_region);
    assert_int_equal(info.country_code, cc);
}

/* Normalisation fails with exactly reason, and the output is zeroed. */
static void expect_refused(const char *raw, const char *region, const char *reason)
{
    ecm_phone_info info;
    memset(&info, 0x5a, sizeof info);
    char err[128] = "";
    int rc = ecm_phone_normalize(raw, region, &info, err, sizeof err);
    if (rc == 0) {
        fail_msg("\"%s\" (%s) accepted as %s, expected \"%s\"", raw ? raw : "NULL",
                 region ? region : "NULL", info.e164, reason);
    }
    assert_int_equal(rc, -1);
    assert_string_equal(err, reason);
    assert_string_equal(info.e164, "");
    assert_string_equal(info.region, "");
    assert_int_equal(info.country_code, 0);
}

static void test_phone_us_national_format_with_region_us(void **state)
{
    (void)state;
    expect_number("(212) 555-0100", "US", "+12125550100", ECM_PHONE_FIXED_LINE_OR_MOBILE, "US", 1);
    expect_number("212.555.0100", "US", "+12125550100", ECM_PHONE_FIXED_LINE_OR_MOBILE, "US", 1);
    expect_number("1 212 555 0100", "US", "+12125550100", ECM_PHONE_FIXED_LINE_OR_MOBILE, "US", 1);
}

static void test_phone_default_region_is_case_insensitive(void **state)
{
    (void)state;
    expect_number("(212) 555-0100", "us", "+12125550100", ECM_PHONE_FIXED_LINE_OR_MOBILE, "US", 1);
}

static void test_phone_plus_number_ignores_default_region(void **state)
{
    (void)state;
    expect_number("+44 20 7946 0958", "US", "+442079460958", ECM_PHONE_FIXED_LINE, "GB", 44);
    expect_number("+44 20 7946 0958", NULL, "+442079460958", ECM_PHONE_FIXED_LINE, "GB", 44);
    expect_number("+44 20 7946 0958", "", "+442079460958", ECM_PHONE_FIXED_LINE, "GB", 44);
}

static void test_phone_international_prefix_00_in_fr_and_de(void **state)
{
    (void)state;
    expect_number("00 33 1 42 68 53 00", "FR", "+33142685300", ECM_PHONE_FIXED_LINE, "FR", 33);
    expect_number("00 33 1 42 68 53 00", "DE", "+33142685300", ECM_PHONE_FIXED_LINE, "FR", 33);
    expect_number("0044 20 7946 0958", "GB", "+442079460958", ECM_PHONE_FIXED_LINE, "GB", 44);
}

static void test_phone_00_is_not_an_international_prefix_in_us(void **state)
{
    (void)state;
    /* The US dials 011 abroad: "00 33..." reads as a far too long US number. */
    expect_refused("00 33 1 42 68 53 00", "US", "too long");
    expect_number("011 44 20 7946 0958", "US", "+442079460958", ECM_PHONE_FIXED_LINE, "GB", 44);
}

static void test_phone_without_region_needs_plus(void **state)
{
    (void)state;
    expect_refused("2125550100", NULL, "no region for a number without +");
    expect_refused("00 33 1 42 68 53 00", "", "no region for a number without +");
    expect_number("+1 212 555 0100", NULL, "+12125550100", ECM_PHONE_FIXED_LINE_OR_MOBILE, "US", 1);
}

static void test_phone_letters_are_refused_even_vanity(void **state)
{
    (void)state;
    expect_refused("1-800-FLOWERS", "US", "contains letters");
    expect_refused("212 555 O1OO", "US", "contains letters");
    expect_refused("tel:+1-212-555-0100", "US", "contains letters");
    expect_refused("abc", "US", "contains letters");
}

static void test_phone_extension_is_refused(void **state)
{
    (void)state;
    expect_refused("212 555 0100 ext. 5", "US", "has an extension");
    expect_refused("212 555 0100 x5", "US", "has an extension");
    expect_refused("212 555 0100 #5", "US", "has an extension");
}

static void test_phone_stray_punctuation_is_refused(void **state)
{
    (void)state;
    expect_refused("212-555-0100;", "US", "unexpected character ';'");
    expect_refused("212 555 0100, 212 555 0101", "US", "unexpected character ','");
    expect_refused("212\x01"
                   "5550100",
                   "US", "unexpected control character");
}

static void test_phone_too_short_and_too_long(void **state)
{
    (void)state;
    expect_refused("12", "US", "too short");
    expect_refused("555", "US", "too short");
    expect_refused("555-0100", "US", "too short"); /* local only: no area code */
    expect_refused("+1 212 555 0100 000000", "US", "too long");
    expect_refused("+44 7400 12345678", "GB", "too long");
}

static void test_phone_empty_and_not_a_number(void **state)
{
    (void)state;
    expect_refused("", "US", "empty");
    expect_refused("   ", "US", "empty");
    expect_refused(NULL, "US", "empty");
    expect_refused("--", "US", "not a number");
    expect_refused("+", "US", "not a number");
    expect_refused("212 555 0100 \xd0\xbf\xd1\x80\xd0\xb8", "US", "not a number");
    expect_refused("\xff\xfe 212", "US", "not a number");
}

static void test_phone_invalid_numbers_name_the_region(void **state)
{
    (void)state;
    expect_refused("+44 20 7946 095", "GB", "invalid for region GB");
    expect_refused("(212) 155-0100", "US", "invalid for region US"); /* exchange can't start 1 */
    expect_refused("+999 1234 5678", "US", "invalid country code");
}

static void test_phone_bad_default_region_is_refused(void **state)
{
    (void)state;
    expect_refused("2125550100", "XX", "invalid default region \"XX\"");
    expect_refused("2125550100", "USA", "invalid default region \"USA\"");
    expect_refused("2125550100", "1", "invalid default region \"1\"");
}

static void test_phone_full_width_digits_are_read(void **state)
{
    (void)state;
    expect_number("\xef\xbc\x92\xef\xbc\x91\xef\xbc\x92 \xef\xbc\x95\xef\xbc\x95\xef\xbc\x95 "
                  "\xef\xbc\x90\xef\xbc\x91\xef\xbc\x90\xef\xbc\x90",
                  "US", "+12125550100", ECM_PHONE_FIXED_LINE_OR_MOBILE, "US", 1);
}

static void test_phone_number_types(void **state)
{
    (void)state;
    expect_number("07400 123456", "GB", "+447400123456", ECM_PHONE_MOBILE, "GB", 44);
    expect_number("1-800-555-0199", "US", "+18005550199", ECM_PHONE_TOLL_FREE, "US", 1);
    expect_number("+1 900 555 0100", "US", "+19005550100", ECM_PHONE_PREMIUM_RATE, "US", 1);
    expect_number("06 12 34 56 78", "FR", "+33612345678", ECM_PHONE_MOBILE, "FR", 33);
    expect_number("+800 1234 5678", NULL, "+80012345678", ECM_PHONE_TOLL_FREE, "001", 800);
}

static void test_phone_type_names_round_trip(void **state)
{
    (void)state;
    for (int t = ECM_PHONE_UNKNOWN; t <= ECM_PHONE_VOICEMAIL; t++) {
        const char *name = ecm_phone_type_name((ecm_phone_type)t);
        assert_int_equal(ecm_phone_type_from_name(name), t);
    }
    assert_string_equal(ecm_phone_type_name(ECM_PHONE_MOBILE), "mobile");
    assert_string_equal(ecm_phone_type_name(ECM_PHONE_TOLL_FREE), "toll_free");
    assert_string_equal(ecm_phone_type_name((ecm_phone_type)99), "unknown");
    assert_int_equal(ecm_phone_type_from_name("satellite"), ECM_PHONE_UNKNOWN);
    assert_int_equal(ecm_phone_type_from_name(NULL), ECM_PHONE_UNKNOWN);
}

static void test_phone_only_mobile_types_may_take_sms(void **state)
{
    (void)state;
    assert_true(ecm_phone_type_may_be_mobile(ECM_PHONE_MOBILE));
    assert_true(ecm_phone_type_may_be_mobile(ECM_PHONE_FIXED_LINE_OR_MOBILE));
    assert_false(ecm_phone_type_may_be_mobile(ECM_PHONE_FIXED_LINE));
    assert_false(ecm_phone_type_may_be_mobile(ECM_PHONE_TOLL_FREE));
    assert_false(ecm_phone_type_may_be_mobile(ECM_PHONE_UNKNOWN));
}

static void test_phone_reason_is_cut_to_small_buffer(void **state)
{
    (void)state;
    ecm_phone_info info;
    char err[6];
    memset(err, 'x', sizeof err);
    assert_int_equal(ecm_phone_normalize("1-800-FLOWERS", "US", &info, err, sizeof err), -1);
    assert_string_equal(err, "conta");
    /* No buffer at all is allowed too. */
    assert_int_equal(ecm_phone_normalize("1-800-FLOWERS", "US", &info, NULL, 0), -1);
}

static int has_zone(char **zones, size_t n, const char *zone)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(zones[i], zone) == 0) {
            return 1;
        }
    }
    return 0;
}

static void test_phone_zones_single_zone_countries(void **state)
{
    (void)state;
    char **zones;
    size_t n;
    assert_int_equal(ecm_phone_time_zones("+442079460958", &zones, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(zones[0], "Europe/London");
    ecm_phone_zones_destroy(zones, n);

    assert_int_equal(ecm_phone_time_zones("+922134567890", &zones, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(zones[0], "Asia/Karachi");
    ecm_phone_zones_destroy(zones, n);

    char tz[64];
    assert_int_equal(ecm_phone_time_zone("+442079460958", tz, sizeof tz), 0);
    assert_string_equal(tz, "Europe/London");
    assert_int_equal(ecm_phone_time_zone("+922134567890", tz, sizeof tz), 0);
    assert_string_equal(tz, "Asia/Karachi");
    /* Too small a buffer is a failure, not a cut zone name. */
    assert_int_equal(ecm_phone_time_zone("+442079460958", tz, 5), -1);
    assert_string_equal(tz, "");
}

static void test_phone_zones_of_us_and_au_are_ambiguous(void **state)
{
    (void)state;
    char **zones;
    size_t n;
    assert_int_equal(ecm_phone_time_zones("+12125550100", &zones, &n), 0);
    assert_true(n > 1);
    assert_true(has_zone(zones, n, "America/New_York"));
    assert_true(has_zone(zones, n, "America/Los_Angeles"));
    assert_false(has_zone(zones, n, "Europe/London"));
    for (size_t i = 1; i < n; i++) {
        assert_true(strcmp(zones[i - 1], zones[i]) < 0);
    }
    ecm_phone_zones_destroy(zones, n);

    assert_int_equal(ecm_phone_time_zones("+61293744000", &zones, &n), 0);
    assert_true(n > 1);
    assert_true(has_zone(zones, n, "Australia/Sydney"));
    assert_true(has_zone(zones, n, "Australia/Perth"));
    ecm_phone_zones_destroy(zones, n);

    char tz[64] = "junk";
    assert_int_equal(ecm_phone_time_zone("+12125550100", tz, sizeof tz), 1);
    assert_string_equal(tz, "");
    assert_int_equal(ecm_phone_time_zone("+61293744000", tz, sizeof tz), 1);
}

static void test_phone_zones_of_non_geographic_and_invalid(void **state)
{
    (void)state;
    char **zones = (char **)1;
    size_t n = 7;
    assert_int_equal(ecm_phone_time_zones("+80012345678", &zones, &n), 0);
    assert_int_equal(n, 0);
    assert_null(zones);

    const char *bad[] = {"2125550100", "+1212", "+1 212 555 0100", "", "+", "+44207946095"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zones = (char **)1;
        n = 7;
        assert_int_equal(ecm_phone_time_zones(bad[i], &zones, &n), -1);
        assert_null(zones);
        assert_int_equal(n, 0);
    }
    assert_int_equal(ecm_phone_time_zones(NULL, &zones, &n), -1);
    char tz[64];
    assert_int_equal(ecm_phone_time_zone("+80012345678", tz, sizeof tz), -1);
    ecm_phone_zones_destroy(NULL, 0);
}

typedef struct {
    int ok;
} thread_result;

static void *normalize_many(void *arg)
{
    thread_result *r = arg;
    r->ok = 1;
    for (int i = 0; i < 300; i++) {
        ecm_phone_info info;
        char err[64];
        if (ecm_phone_normalize("(212) 555-0100", "US", &info, err, sizeof err) != 0 ||
            strcmp(info.e164, "+12125550100") != 0 ||
            ecm_phone_normalize("07400 123456", "GB", &info, err, sizeof err) != 0 ||
            info.type != ECM_PHONE_MOBILE ||
            ecm_phone_normalize("12", "US", &info, err, sizeof err) != -1 ||
            strcmp(err, "too short") != 0) {
            r->ok = 0;
        }
    }
    return NULL;
}

static void test_phone_normalize_is_thread_safe(void **state)
{
    (void)state;
    enum { N = 4 };
    pthread_t th[N];
    thread_result res[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, normalize_many, &res[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(res[i].ok);
    }
}

/* ecm_phone.cc replaces libstdc++'s std::tr1::hash<std::string>, which
 * libphonenumber's pattern cache calls for every match: the dynamic linker
 * must bind that symbol to the definition linked into this executable (the
 * one ecm_phone_normalize is in), not to libstdc++'s. */
static void test_phone_pattern_hash_is_ours(void **state)
{
    (void)state;
    void *hash = dlsym(RTLD_DEFAULT, "_ZNKSt3tr14hashINSt7__cxx1112basic_stringIcSt11char_"
                                     "traitsIcESaIcEEEEclES6_");
    assert_non_null(hash);
    Dl_info bound, ours;
    assert_int_not_equal(dladdr(hash, &bound), 0);
    assert_int_not_equal(dladdr((void *)&ecm_phone_normalize, &ours), 0);
    assert_ptr_equal(bound.dli_fbase, ours.dli_fbase);
    assert_string_not_equal(bound.dli_fname, "");
    /* and the numbers still come out right through it */
    expect_number("(212) 555-0100", "US", "+12125550100", ECM_PHONE_FIXED_LINE_OR_MOBILE, "US", 1);
    expect_number("+44 7400 123456", NULL, "+447400123456", ECM_PHONE_MOBILE, "GB", 44);
}

/* The type and region ecm_phone_normalize() finds, each region's patterns
 * matched once, are libphonenumber's GetNumberType() and
 * GetRegionCodeForNumber() for every example number of every region and type
 * and the numbers a digit away from them. */
static void test_phone_lookup_agrees_with_libphonenumber(void **state)
{
    (void)state;
    char err[256] = "";
    long n = ecm_phone_check_lookup(1, err, sizeof err);
    if (n < 0) {
        fail_msg("%s", err);
    }
    /* ~250 regions with up to 12 examples each, and ~40 variants of each */
    assert_true(n > 20000);
    long quick = ecm_phone_check_lookup(0, err, sizeof err);
    assert_true(quick > 1000);
    assert_true(quick < n);
}

/* The fast read of plain NANP numbers (ten digits in US or CA, "+1" and ten
 * digits anywhere), which skips libphonenumber's Parse(), gives the number,
 * type, region and reason that reading through Parse() gives: on every
 * example number of the +1 regions and every area code 000-999 with
 * exchanges across the range, bare in several default regions and after
 * "+1". */
static void test_phone_fast_path_agrees_with_parse(void **state)
{
    (void)state;
    char err[256] = "";
    long n = ecm_phone_check_fast(1, err, sizeof err);
    if (n < 0) {
        fail_msg("%s", err);
    }
    /* 1,000 area codes x 11 exchanges x (6 regions + 3 "+1" forms) */
    assert_true(n > 90000);
    long quick = ecm_phone_check_fast(0, err, sizeof err);
    assert_true(quick > 500);
    assert_true(quick < n);
    /* The forms it reads, and one it leaves to Parse() (a leading 1). */
    expect_number("2125550100", "US", "+12125550100", ECM_PHONE_FIXED_LINE_OR_MOBILE, "US", 1);
    expect_number("+15062345678", NULL, "+15062345678", ECM_PHONE_FIXED_LINE_OR_MOBILE, "CA", 1);
    expect_number("12125550100", "US", "+12125550100", ECM_PHONE_FIXED_LINE_OR_MOBILE, "US", 1);
}

/* Under +1 the area code does not always decide the region: 800 numbers
 * starting 800-14 and 800-88 are the Dominican Republic's toll-free numbers
 * (its leading digits are 8001 and 8[024]9), the rest are the US's. */
static void test_phone_region_within_a_shared_area_code(void **state)
{
    (void)state;
    expect_number("+1 800 234 5678", NULL, "+18002345678", ECM_PHONE_TOLL_FREE, "US", 1);
    expect_number("+1 800 143 4567", NULL, "+18001434567", ECM_PHONE_TOLL_FREE, "DO", 1);
    expect_number("+1 800 234 5679", NULL, "+18002345679", ECM_PHONE_TOLL_FREE, "US", 1);
    expect_number("(416) 555-0199", "CA", "+14165550199", ECM_PHONE_FIXED_LINE_OR_MOBILE, "CA", 1);
    expect_number("+1 268 460 1234", NULL, "+12684601234", ECM_PHONE_FIXED_LINE, "AG", 1);
    expect_number("+1 268 464 1234", NULL, "+12684641234", ECM_PHONE_MOBILE, "AG", 1);
}

/* A stored number is a fixed point: its E.164 normalises to itself. With
 * the national prefix written after the country code ("+52 01 ..."),
 * libphonenumber strips "01" and then, parsing its own +521..., a "1" more:
 * the number is kept as the second answer, so a DNC entry written either way
 * matches it (found by fuzz_phone). */
static void test_phone_result_normalises_to_itself(void **state)
{
    (void)state;
    static const char *const raw[] = {"+520113452345678", "+52 1 345 234 5678", "+523452345678"};
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        ecm_phone_info a, b;
        char why[128];
        assert_int_equal(ecm_phone_normalize(raw[i], "US", &a, why, sizeof(why)), 0);
        assert_string_equal(a.e164, "+523452345678");
        assert_int_equal(ecm_phone_normalize(a.e164, NULL, &b, why, sizeof(why)), 0);
        assert_string_equal(b.e164, a.e164);
        assert_int_equal(b.type, a.type);
        assert_string_equal(b.region, a.region);
    }
}

/* ---- jurisdiction of a number (ecm_phone_subdivision) ---------------- */

static void expect_subdivision(const char *e164, const char *code)
{
    char out[ECM_PHONE_JURISDICTION_LEN];
    int rc = ecm_phone_subdivision(e164, out, sizeof out);
    if (rc != 0) {
        fail_msg("%s: no jurisdiction (rc %d), expected %s", e164, rc, code);
    }
    assert_string_equal(out, code);
}

static void expect_no_subdivision(const char *e164, int want_rc)
{
    char out[ECM_PHONE_JURISDICTION_LEN];
    memset(out, 'x', sizeof out);
    assert_int_equal(ecm_phone_subdivision(e164, out, sizeof out), want_rc);
    assert_string_equal(out, "");
}

static void test_phone_subdivision_of_us_and_canadian_numbers(void **state)
{
    (void)state;
    expect_subdivision("+13055550100", "US-FL"); /* geocoder: "Florida" */
    expect_subdivision("+12125550100", "US-NY"); /* "New York, NY" */
    expect_subdivision("+12065550100", "US-WA"); /* "Washington State" */
    expect_subdivision("+12025550100", "US-DC"); /* "Washington D.C." */
    expect_subdivision("+14165550100", "CA-ON"); /* "Ontario" */
    expect_subdivision("+15146667777", "CA-QC"); /* "Quebec" */
}

static void test_phone_subdivision_of_us_territories(void **state)
{
    (void)state;
    expect_subdivision("+17875550100", "US-PR");
    expect_subdivision("+13405550100", "US-VI");
    expect_subdivision("+16715550100", "US-GU");
    expect_subdivision("+16705550100", "US-MP");
    expect_subdivision("+16846221234", "US-AS"); /* the geocoder says nothing for it */
}

static void test_phone_subdivision_unknown_state_is_the_bare_country(void **state)
{
    (void)state;
    expect_subdivision("+18005550100", "US"); /* toll-free: "United States" */
    expect_subdivision("+18885550100", "US");
    expect_subdivision("+19025550100", "CA"); /* "Nova Scotia/Prince Edward Island" */
    expect_subdivision("+18675550100", "CA"); /* "Northwest Territories/Nunavut/Yukon" */
}

static void test_phone_subdivision_of_other_numbers_is_their_region(void **state)
{
    (void)state;
    expect_subdivision("+442079460958", "GB");
    expect_subdivision("+33142685300", "FR");
    expect_subdivision("+18765550100", "JM"); /* NANP, but not the US or Canada */
    expect_no_subdivision("+80012345678", 1); /* non-geographic: no place */
}

static void test_phone_subdivision_refuses_garbage(void **state)
{
    (void)state;
    expect_no_subdivision(NULL, -1);
    expect_no_subdivision("", -1);
    expect_no_subdivision("garbage", -1);
    expect_no_subdivision("+1", -1);
    expect_no_subdivision("+1305555010", -1);   /* nine digits */
    expect_no_subdivision("+130555501000", -1); /* eleven */
    expect_no_subdivision("+13055550100x", -1);
    expect_no_subdivision("13055550100", -1);  /* no '+' */
    expect_no_subdivision("+10555550100", -1); /* NPA starting 0 */
    expect_no_subdivision("+4412", -1);
    char small[ECM_PHONE_JURISDICTION_LEN - 1];
    assert_int_equal(ecm_phone_subdivision("+13055550100", small, sizeof small), -1);
}

/* The geocoder answers per NPA-NXX, and so does the cache: 201-631 is New
 * York's although the rest of 201 is New Jersey's; asked in both orders,
 * twice (the second answer comes from the cache). */
static void test_phone_subdivision_is_per_npa_nxx(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        expect_subdivision("+12015550100", "US-NJ");
        expect_subdivision("+12016311234", "US-NY");
        expect_subdivision("+12016319876", "US-NY");
        expect_subdivision("+12015559876", "US-NJ");
    }
}

/* The upload's entry point gives ecm_phone_subdivision()'s answers from a
 * normalised number without reading it again. */
static void test_phone_subdivision_of_normalised_numbers_agrees(void **state)
{
    (void)state;
    static const char *const raw[] = {
        "(305) 555-0100", "+1 416 555 0100",  "787 555 0100",
        "1-800-555-0100", "+44 20 7946 0958", "+33 1 42 68 53 00",
        "+800 1234 5678", "+1 876 555 0100",  "201 631 1234",
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        ecm_phone_info info;
        char err[96];
        assert_int_equal(ecm_phone_normalize(raw[i], "US", &info, err, sizeof err), 0);
        char a[ECM_PHONE_JURISDICTION_LEN], b[ECM_PHONE_JURISDICTION_LEN];
        int ra = ecm_phone_subdivision_of(&info, a, sizeof a);
        int rb = ecm_phone_subdivision(info.e164, b, sizeof b);
        if (ra != rb || strcmp(a, b) != 0) {
            fail_msg("%s: subdivision_of %d '%s', subdivision %d '%s'", info.e164, ra, a, rb, b);
        }
    }
    /* A number written otherwise than ecm_phone_normalize() writes it. */
    expect_no_subdivision("+44 20 7946 0958", -1);
    expect_no_subdivision("+440207946 0958", -1);
}

#define GEO_THREADS 4
#define GEO_NUMBERS 2000

static void *subdivide_many(void *arg)
{
    int *bad = arg;
    for (int i = 0; i < GEO_NUMBERS; i++) {
        char e164[16], out[ECM_PHONE_JURISDICTION_LEN];
        /* 305 and 416 at every NXX from 200 on: every thread misses, races
         * the others to fill the same cells, then hits. */
        int canada = i % 2;
        (void)snprintf(e164, sizeof e164, "+1%s%03d%04d", canada ? "416" : "305", 200 + i / 4 % 800,
                       i % 10000);
        if (ecm_phone_subdivision(e164, out, sizeof out) == 0 &&
            strcmp(out, canada ? "CA-ON" : "US-FL") != 0) {
            (*bad)++;
        }
    }
    return NULL;
}

static void test_phone_subdivision_is_thread_safe(void **state)
{
    (void)state;
    pthread_t th[GEO_THREADS];
    int bad[GEO_THREADS] = {0};
    for (int i = 0; i < GEO_THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, subdivide_many, &bad[i]), 0);
    }
    for (int i = 0; i < GEO_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(bad[i], 0);
    }
}

/* ---- a contact list's state column (ecm_phone_jurisdiction_read) ----- */

static void expect_read(const char *text, const char *country, const char *code)
{
    char out[ECM_PHONE_JURISDICTION_LEN], err[128] = "";
    int rc =
        ecm_phone_jurisdiction_read(text, strlen(text), country, out, sizeof out, err, sizeof err);
    if (rc != 0) {
        fail_msg("'%s' in %s refused: %s", text, country ? country : "NULL", err);
    }
    assert_string_equal(out, code);
}

static void expect_read_refused(const char *text, const char *country, const char *reason)
{
    char out[ECM_PHONE_JURISDICTION_LEN], err[128] = "";
    int rc =
        ecm_phone_jurisdiction_read(text, strlen(text), country, out, sizeof out, err, sizeof err);
    if (rc != 1) {
        fail_msg("'%s' in %s: rc %d (%s), expected refused: %s", text, country ? country : "NULL",
                 rc, out, reason);
    }
    assert_string_equal(out, "");
    assert_string_equal(err, reason);
}

static void test_phone_jurisdiction_read_state_codes_in_the_campaigns_country(void **state)
{
    (void)state;
    expect_read("FL", "US", "US-FL");
    expect_read(" fl ", "US", "US-FL");
    expect_read("Florida", "US", "US-FL");
    expect_read("CA", "US", "US-CA"); /* California, not Canada, in a US campaign */
    expect_read("PR", "US", "US-PR");
    expect_read("DC", "us", "US-DC");
    expect_read("ON", "CA", "CA-ON");
    expect_read("Qu\xc3\xa9"
                "bec",
                "CA", "CA-QC");
}

static void test_phone_jurisdiction_read_full_codes_and_countries(void **state)
{
    (void)state;
    expect_read("US-FL", "CA", "US-FL");
    expect_read("us-ny", NULL, "US-NY");
    expect_read("CA-ON", "US", "CA-ON");
    expect_read("GB", "US", "GB");
    expect_read("US", "US", "US");
    expect_read("GB-SCT", "GB", "GB-SCT"); /* no list of GB's: taken by its shape */
}

static void test_phone_jurisdiction_read_refuses_unknown_codes(void **state)
{
    (void)state;
    expect_read_refused("ZZ", "US", "unknown state or province 'ZZ' in US");
    expect_read_refused("US-ZZ", NULL, "unknown state or province 'ZZ' in US");
    expect_read_refused("CA-FL", "US", "unknown state or province 'FL' in CA");
    expect_read_refused("Atlantis", "US", "unknown state or province 'Atlantis' in US");
    expect_read_refused("XX-1", "US", "'XX-1' is not a region code");
    expect_read_refused("US-F!", "US", "'US-F!' is not a region code");
    expect_read_refused("SCT", "GB", "'SCT' is not a region code (write a subdivision as XX-YYY)");
    expect_read_refused("", "US", "unknown state or province '' in US");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phone_us_national_format_with_region_us),
        cmocka_unit_test(test_phone_result_normalises_to_itself),
        cmocka_unit_test(test_phone_fast_path_agrees_with_parse),
        cmocka_unit_test(test_phone_default_region_is_case_insensitive),
        cmocka_unit_test(test_phone_plus_number_ignores_default_region),
        cmocka_unit_test(test_phone_international_prefix_00_in_fr_and_de),
        cmocka_unit_test(test_phone_00_is_not_an_international_prefix_in_us),
        cmocka_unit_test(test_phone_without_region_needs_plus),
        cmocka_unit_test(test_phone_letters_are_refused_even_vanity),
        cmocka_unit_test(test_phone_extension_is_refused),
        cmocka_unit_test(test_phone_stray_punctuation_is_refused),
        cmocka_unit_test(test_phone_too_short_and_too_long),
        cmocka_unit_test(test_phone_empty_and_not_a_number),
        cmocka_unit_test(test_phone_invalid_numbers_name_the_region),
        cmocka_unit_test(test_phone_bad_default_region_is_refused),
        cmocka_unit_test(test_phone_full_width_digits_are_read),
        cmocka_unit_test(test_phone_number_types),
        cmocka_unit_test(test_phone_type_names_round_trip),
        cmocka_unit_test(test_phone_only_mobile_types_may_take_sms),
        cmocka_unit_test(test_phone_reason_is_cut_to_small_buffer),
        cmocka_unit_test(test_phone_zones_single_zone_countries),
        cmocka_unit_test(test_phone_zones_of_us_and_au_are_ambiguous),
        cmocka_unit_test(test_phone_zones_of_non_geographic_and_invalid),
        cmocka_unit_test(test_phone_normalize_is_thread_safe),
        cmocka_unit_test(test_phone_pattern_hash_is_ours),
        cmocka_unit_test(test_phone_lookup_agrees_with_libphonenumber),
        cmocka_unit_test(test_phone_region_within_a_shared_area_code),
        cmocka_unit_test(test_phone_subdivision_of_us_and_canadian_numbers),
        cmocka_unit_test(test_phone_subdivision_of_us_territories),
        cmocka_unit_test(test_phone_subdivision_unknown_state_is_the_bare_country),
        cmocka_unit_test(test_phone_subdivision_of_other_numbers_is_their_region),
        cmocka_unit_test(test_phone_subdivision_refuses_garbage),
        cmocka_unit_test(test_phone_subdivision_is_per_npa_nxx),
        cmocka_unit_test(test_phone_subdivision_of_normalised_numbers_agrees),
        cmocka_unit_test(test_phone_subdivision_is_thread_safe),
        cmocka_unit_test(test_phone_jurisdiction_read_state_codes_in_the_campaigns_country),
        cmocka_unit_test(test_phone_jurisdiction_read_full_codes_and_countries),
        cmocka_unit_test(test_phone_jurisdiction_read_refuses_unknown_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

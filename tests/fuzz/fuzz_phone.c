/* Phone numbers as people write them: ecm_phone_normalize (libphonenumber,
 * lib/ecm_phone.cc), gw_dnc_normalize (the DNC API) and
 * sms_mo_phone_normalize (an inbound SMS's sender).
 *
 * Input: byte 0 picks the default region (none, "", US, GB, FR, DE, IN, BR,
 * lower-case "us", unknown "XX"); the rest is the raw number.
 *
 * Properties:
 * - an accepted number is E.164 ('+', 1..15 digits, no leading 0), starts
 *   with its country code, has a region of 2 upper-case letters or "001",
 *   a type whose name reads back, and normalises to itself from E.164 with
 *   no region (same number, type, region: idempotent);
 * - a refused number leaves *out zeroed and gives a non-empty valid UTF-8
 *   reason; gw_dnc_normalize agrees with ecm_phone_normalize;
 * - a time zone is valid UTF-8, empty unless the answer is 0;
 * - sms_mo_phone_normalize keeps exactly the input's digits, with '+' only
 *   first, 7..20 of them, or refuses with an empty output. */
#include <stdint.h>
#include <string.h>

#include "ecm_phone.h"
#include "fuzz_support.h"
#include "gw_dnc.h"
#include "sms_mo.h"

static const char *const regions[] = {NULL, "", "US", "GB", "FR", "DE", "IN", "BR", "us", "XX"};

static void check_mo(const char *raw)
{
    char out[32];
    int rc = sms_mo_phone_normalize(raw, out, sizeof(out));
    if (rc != 0) {
        FUZZ_CHECK(out[0] == '\0', "refused sender left '%s'", out);
        return;
    }
    size_t digits = 0;
    for (const char *p = out; *p; p++) {
        FUZZ_CHECK((*p >= '0' && *p <= '9') || (*p == '+' && p == out), "sender '%s'", out);
        digits += *p != '+';
    }
    FUZZ_CHECK(digits >= 7 && digits <= 20, "sender '%s' has %zu digits", out, digits);
    /* The digits are the input's, in order. */
    const char *q = out;
    for (const char *p = raw; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            while (*q == '+') {
                q++;
            }
            FUZZ_CHECK(*q == *p, "sender digits differ: '%s' -> '%s'", raw, out);
            q++;
        }
    }
    FUZZ_CHECK(*q == '\0', "sender '%s' has digits the input lacks", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256) {
        return 0;
    }
    const char *region = regions[data[0] % (sizeof(regions) / sizeof(regions[0]))];
    char *raw = fuzz_strndup(data + 1, size - 1);

    ecm_phone_info info;
    char why[128];
    why[0] = '\0';
    int rc = ecm_phone_normalize(raw, region, &info, why, sizeof(why));
    char e164[32], why2[128];
    int drc = gw_dnc_normalize(raw, region, e164, sizeof(e164), why2, sizeof(why2));
    FUZZ_CHECK(drc == rc, "gw_dnc_normalize %d, ecm_phone_normalize %d", drc, rc);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1, "rc %d", rc);
        FUZZ_CHECK(why[0] && fuzz_utf8_ok(why), "reason not valid UTF-8: '%s'", why);
        FUZZ_CHECK(info.e164[0] == '\0' && info.region[0] == '\0' && info.country_code == 0,
                   "refused number left output behind");
        FUZZ_CHECK(e164[0] == '\0' && fuzz_utf8_ok(why2), "gw_dnc_normalize output on refusal");
    } else {
        FUZZ_CHECK(fuzz_e164_ok(info.e164), "'%s' -> '%s' is not E.164", raw, info.e164);
        FUZZ_CHECK(strcmp(e164, info.e164) == 0, "DNC gives %s, phone %s", e164, info.e164);
        char cc[16];
        int n = snprintf(cc, sizeof(cc), "+%d", info.country_code);
        FUZZ_CHECK(info.country_code > 0 && strncmp(info.e164, cc, (size_t)n) == 0,
                   "%s does not start with its country code %d", info.e164, info.country_code);
        size_t rl = strlen(info.region);
        FUZZ_CHECK((rl == 2 && info.region[0] >= 'A' && info.region[0] <= 'Z' &&
                    info.region[1] >= 'A' && info.region[1] <= 'Z') ||
                       strcmp(info.region, "001") == 0,
                   "%s: region '%s'", info.e164, info.region);
        FUZZ_CHECK(ecm_phone_type_from_name(ecm_phone_type_name(info.type)) == info.type,
                   "type %d does not read back", (int)info.type);
        ecm_phone_info again;
        int rc2 = ecm_phone_normalize(info.e164, NULL, &again, why, sizeof(why));
        FUZZ_CHECK(rc2 == 0, "%s (from '%s') refused on its own: %s", info.e164, raw, why);
        FUZZ_CHECK(strcmp(again.e164, info.e164) == 0 && again.type == info.type &&
                       strcmp(again.region, info.region) == 0 &&
                       again.country_code == info.country_code,
                   "%s normalises to %s (type %d/%d, region %s/%s)", info.e164, again.e164,
                   (int)info.type, (int)again.type, info.region, again.region);
        char zone[64];
        int zrc = ecm_phone_time_zone(info.e164, zone, sizeof(zone));
        FUZZ_CHECK(zrc >= -1 && zrc <= 1 && fuzz_utf8_ok(zone) && (zrc == 0 || zone[0] == '\0'),
                   "time zone %d '%s'", zrc, zone);
    }
    check_mo(raw);
    free(raw);
    return 0;
}

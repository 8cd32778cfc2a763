// The time zones of a number's region (ecm_phone.h): libphonenumber for
// the region, ICU for its zones. Every entry point catches everything, as in
// ecm_phone.cc.
#include "ecm_phone.h"

#include <phonenumbers/phonenumberutil.h>
#include <unicode/ucal.h>
#include <unicode/uenum.h>

#include <cstdlib>
#include <cstring>
#include <string>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

namespace
{

// libphonenumber's own singleton (made once, immutable after).
const PhoneNumberUtil &util()
{
    return *PhoneNumberUtil::GetInstance();
}

// Parses an E.164 string strictly: '+' and digits only, valid number.
bool parse_e164(const char *e164, PhoneNumber *n)
{
    if (e164 == nullptr || e164[0] != '+' || e164[1] == '\0') {
        return false;
    }
    for (const char *p = e164 + 1; *p; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
    }
    const PhoneNumberUtil &u = util();
    return u.Parse(e164, "ZZ", n) == PhoneNumberUtil::NO_PARSING_ERROR && u.IsValidNumber(*n);
}

void free_zones(char **zones, size_t n)
{
    if (zones == nullptr) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        std::free(zones[i]);
    }
    std::free(zones);
}

int zones_of(const char *e164, char ***zones, size_t *n)
{
    PhoneNumber num;
    if (!parse_e164(e164, &num)) {
        return -1;
    }
    std::string region;
    util().GetRegionCodeForNumber(num, &region);
    if (region.size() != 2) {
        return 0; // "001" (non-geographic) or "ZZ": no place, no zone
    }

    UErrorCode st = U_ZERO_ERROR;
    UEnumeration *en = ucal_openTimeZoneIDEnumeration(UCAL_ZONE_TYPE_CANONICAL_LOCATION,
                                                      region.c_str(), nullptr, &st);
    if (U_FAILURE(st)) {
        return -1;
    }
    int32_t count = uenum_count(en, &st);
    if (U_FAILURE(st) || count < 0) {
        uenum_close(en);
        return -1;
    }
    if (count == 0) {
        uenum_close(en);
        return 0;
    }
    char **list = static_cast<char **>(std::calloc(static_cast<size_t>(count), sizeof *list));
    if (list == nullptr) {
        uenum_close(en);
        return -1;
    }
    size_t got = 0;
    const char *z;
    int32_t len;
    while (got < static_cast<size_t>(count) && (z = uenum_next(en, &len, &st)) != nullptr &&
           U_SUCCESS(st)) {
        list[got] = strndup(z, static_cast<size_t>(len));
        if (list[got] == nullptr) {
            free_zones(list, got);
            uenum_close(en);
            return -1;
        }
        got++;
    }
    uenum_close(en);
    if (U_FAILURE(st)) {
        free_zones(list, got);
        return -1;
    }
    // ICU returns them in ID order already; sort anyway so the contract holds
    // whatever ICU's enumeration order becomes.
    std::qsort(list, got, sizeof *list, [](const void *a, const void *b) {
        return std::strcmp(*static_cast<char *const *>(a), *static_cast<char *const *>(b));
    });
    *zones = list;
    *n = got;
    return 0;
}

} // namespace

extern "C" int ecm_phone_time_zones(const char *e164, char ***zones, size_t *n)
{
    if (zones == nullptr || n == nullptr) {
        return -1;
    }
    *zones = nullptr;
    *n = 0;
    try {
        return zones_of(e164, zones, n);
    } catch (...) {
        return -1;
    }
}

extern "C" void ecm_phone_zones_destroy(char **zones, size_t n)
{
    free_zones(zones, n);
}

extern "C" int ecm_phone_time_zone(const char *e164, char *out, size_t out_size)
{
    if (out == nullptr || out_size == 0) {
        return -1;
    }
    out[0] = '\0';
    char **zones;
    size_t n;
    if (ecm_phone_time_zones(e164, &zones, &n) != 0 || n == 0) {
        return -1;
    }
    int rc;
    if (n > 1) {
        rc = 1;
    } else if (std::strlen(zones[0]) < out_size) {
        std::memcpy(out, zones[0], std::strlen(zones[0]) + 1);
        rc = 0;
    } else {
        rc = -1;
    }
    ecm_phone_zones_destroy(zones, n);
    return rc;
}

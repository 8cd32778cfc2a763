// The one C++ file of ECM: libphonenumber behind the C API of ecm_phone.h.
// Every entry point catches everything, because a C++ exception unwinding
// into C frames is undefined behaviour.
#include "ecm_phone.h"

#include <phonenumbers/phonenumberutil.h>
#include <unicode/ucal.h>
#include <unicode/uenum.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <string>
#include <tr1/functional>
#include <unordered_map>

// libphonenumber (Debian's build, 8.12) keeps its compiled patterns in a
// cache keyed by the pattern text, a std::tr1::unordered_map, and looks a
// pattern up for every match: about ten times a number. libstdc++'s
// std::tr1::hash<std::string> is FNV-1a over every byte, and the patterns
// that decide a number's type run to a few kilobytes (the US fixed-line
// pattern lists every area code), so hashing the key was a third of
// GetNumberType() and an eighth of an upload's validation CPU (perf).
//
// libstdc++ defines that hash out of line and libphonenumber calls it
// through the PLT, so the definition below, linked into every executable
// that uses this file, is the one the dynamic linker binds it to. It reads
// the length and sixteen words spread over the string instead of every
// byte: any function of the key is correct for a hash table (equal keys
// still compare in full); this one keeps the few hundred patterns apart
// while costing a constant. No other code in ECM hashes std::strings
// through std::tr1. test_phone checks that the definition is the one bound.
namespace std
{
namespace tr1
{
template <> size_t hash<std::string>::operator()(std::string s) const
{
    const unsigned char *p = reinterpret_cast<const unsigned char *>(s.data());
    size_t n = s.size();
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    auto mix = [&h](uint64_t v) {
        h = (h ^ v) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    };
    if (n < 8) {
        for (size_t i = 0; i < n; i++) {
            mix(p[i]);
        }
        return static_cast<size_t>(h);
    }
    const size_t words = 16;
    for (size_t i = 0; i < words; i++) {
        uint64_t v;
        std::memcpy(&v, p + i * (n - 8) / (words - 1), sizeof v);
        mix(v);
    }
    return static_cast<size_t>(h);
}
} // namespace tr1
} // namespace std

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

namespace
{

// A C++11 function-local static is initialised exactly once even when several
// threads call first; PhoneNumberUtil itself is immutable after that.
const PhoneNumberUtil &util()
{
    static const PhoneNumberUtil *const instance = PhoneNumberUtil::GetInstance();
    return *instance;
}

__attribute__((format(printf, 3, 4))) void set_err(char *errstr, size_t errstr_size,
                                                   const char *fmt, ...)
{
    if (errstr == nullptr || errstr_size == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    // A reason longer than the caller's buffer is cut; it stays NUL-terminated.
    int n = std::vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
    if (n < 0) {
        errstr[0] = '\0';
    }
}

bool is_ascii_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Characters people put between digits. Bytes >= 0x80 are left to
// libphonenumber, which reads full-width digits and rejects other scripts.
bool is_allowed_ascii(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == ' ' || c == '\t' || c == '+' || c == '-' || c == '(' ||
           c == ')' || c == '.' || c == '/';
}

ecm_phone_type map_type(PhoneNumberUtil::PhoneNumberType t)
{
    switch (t) {
    case PhoneNumberUtil::FIXED_LINE:
        return ECM_PHONE_FIXED_LINE;
    case PhoneNumberUtil::MOBILE:
        return ECM_PHONE_MOBILE;
    case PhoneNumberUtil::FIXED_LINE_OR_MOBILE:
        return ECM_PHONE_FIXED_LINE_OR_MOBILE;
    case PhoneNumberUtil::TOLL_FREE:
        return ECM_PHONE_TOLL_FREE;
    case PhoneNumberUtil::PREMIUM_RATE:
        return ECM_PHONE_PREMIUM_RATE;
    case PhoneNumberUtil::SHARED_COST:
        return ECM_PHONE_SHARED_COST;
    case PhoneNumberUtil::VOIP:
        return ECM_PHONE_VOIP;
    case PhoneNumberUtil::PERSONAL_NUMBER:
        return ECM_PHONE_PERSONAL_NUMBER;
    case PhoneNumberUtil::PAGER:
        return ECM_PHONE_PAGER;
    case PhoneNumberUtil::UAN:
        return ECM_PHONE_UAN;
    case PhoneNumberUtil::VOICEMAIL:
        return ECM_PHONE_VOICEMAIL;
    case PhoneNumberUtil::UNKNOWN:
        break;
    }
    return ECM_PHONE_UNKNOWN;
}

const char *const type_names[] = {
    "unknown",         "fixed_line",   "mobile",      "fixed_line_or_mobile",
    "toll_free",       "premium_rate", "shared_cost", "voip",
    "personal_number", "pager",        "uan",         "voicemail",
};
const size_t type_count = sizeof type_names / sizeof type_names[0];

// The region of a valid number. A calling code with one region needs no
// matching at all. Under +1 (the NANP) the area code alone decides the
// region, because every area code is assigned to one country or territory,
// so the answer is remembered per area code in a small per-thread map
// (no lock; at most the 800-odd NANP area codes). Other shared codes (+44
// for GB, GG, IM, JE; +7; +61...) are matched in full each time.
std::string region_for_valid(const PhoneNumber &n)
{
    const PhoneNumberUtil &u = util();
    std::string r;
    if (n.country_code() == 1 && n.national_number() >= 2000000000ULL &&
        n.national_number() <= 9999999999ULL) {
        thread_local std::unordered_map<unsigned, std::string> by_area;
        unsigned area = static_cast<unsigned>(n.national_number() / 10000000ULL);
        auto it = by_area.find(area);
        if (it != by_area.end()) {
            return it->second;
        }
        u.GetRegionCodeForNumber(n, &r);
        by_area.emplace(area, r);
        return r;
    }
    std::list<std::string> regions;
    u.GetRegionCodesForCountryCallingCode(n.country_code(), &regions);
    if (regions.size() == 1) {
        return regions.front();
    }
    u.GetRegionCodeForNumber(n, &r);
    return r;
}

// Region of the country code, for messages: "invalid for region US".
std::string region_of(const PhoneNumber &n)
{
    std::string r;
    util().GetRegionCodeForCountryCode(n.country_code(), &r);
    return r;
}

int normalize(const char *raw, const char *default_region, ecm_phone_info *out, char *errstr,
              size_t errstr_size)
{
    const PhoneNumberUtil &u = util();

    std::string region = "ZZ"; // libphonenumber's "unknown region": '+' required
    if (default_region != nullptr && default_region[0] != '\0') {
        const unsigned char *r = reinterpret_cast<const unsigned char *>(default_region);
        if (std::strlen(default_region) != 2 || !is_ascii_letter(r[0]) || !is_ascii_letter(r[1])) {
            set_err(errstr, errstr_size, "invalid default region \"%.8s\"", default_region);
            return -1;
        }
        region.assign(default_region);
        for (char &c : region) {
            if (c >= 'a' && c <= 'z') {
                c = static_cast<char>(c - 'a' + 'A');
            }
        }
        if (u.GetCountryCodeForRegion(region) == 0) {
            set_err(errstr, errstr_size, "invalid default region \"%s\"", region.c_str());
            return -1;
        }
    }

    if (raw == nullptr) {
        set_err(errstr, errstr_size, "empty");
        return -1;
    }
    bool blank = true, letters = false;
    unsigned char stray = 0;
    for (const unsigned char *p = reinterpret_cast<const unsigned char *>(raw); *p; p++) {
        if (*p != ' ' && *p != '\t') {
            blank = false;
        }
        if (is_ascii_letter(*p)) {
            letters = true;
        } else if (*p < 0x80 && !is_allowed_ascii(*p) && stray == 0) {
            stray = *p;
        }
    }
    if (blank) {
        set_err(errstr, errstr_size, "empty");
        return -1;
    }

    PhoneNumber n;
    PhoneNumberUtil::ErrorType perr = u.Parse(raw, region, &n);
    if (perr == PhoneNumberUtil::NO_PARSING_ERROR && n.has_extension()) {
        set_err(errstr, errstr_size, "has an extension");
        return -1;
    }
    // Letters are refused even where libphonenumber would read a vanity number:
    // in a contact list "212 555 O1OO" is a typo for zeros, and converting it
    // would call a stranger.
    if (letters) {
        set_err(errstr, errstr_size, "contains letters");
        return -1;
    }
    if (stray != 0) {
        if (stray >= 0x20 && stray < 0x7f) {
            set_err(errstr, errstr_size, "unexpected character '%c'", stray);
        } else {
            set_err(errstr, errstr_size, "unexpected control character");
        }
        return -1;
    }
    switch (perr) {
    case PhoneNumberUtil::NO_PARSING_ERROR:
        break;
    case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
        if (region == "ZZ") {
            set_err(errstr, errstr_size, "no region for a number without +");
        } else {
            set_err(errstr, errstr_size, "invalid country code");
        }
        return -1;
    case PhoneNumberUtil::NOT_A_NUMBER:
        set_err(errstr, errstr_size, "not a number");
        return -1;
    case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
    case PhoneNumberUtil::TOO_SHORT_NSN:
        set_err(errstr, errstr_size, "too short");
        return -1;
    case PhoneNumberUtil::TOO_LONG_NSN:
        set_err(errstr, errstr_size, "too long");
        return -1;
    }

    // IsValidNumber() is GetNumberType() != UNKNOWN with the same region
    // lookup and pattern matching inside; asking once for the type and once
    // for the region (GetNumberType() finds it but does not return it)
    // matches the number's patterns three times instead of five, which is
    // most of the cost of an upload row. A valid number is always of a
    // possible length, so the length is asked about only to explain an
    // invalid one.
    PhoneNumberUtil::PhoneNumberType type = u.GetNumberType(n);
    if (type == PhoneNumberUtil::UNKNOWN) {
        switch (u.IsPossibleNumberWithReason(n)) {
        case PhoneNumberUtil::IS_POSSIBLE:
            set_err(errstr, errstr_size, "invalid for region %s", region_of(n).c_str());
            break;
        case PhoneNumberUtil::IS_POSSIBLE_LOCAL_ONLY:
        case PhoneNumberUtil::TOO_SHORT:
            set_err(errstr, errstr_size, "too short");
            break;
        case PhoneNumberUtil::TOO_LONG:
            set_err(errstr, errstr_size, "too long");
            break;
        case PhoneNumberUtil::INVALID_LENGTH:
            set_err(errstr, errstr_size, "invalid length for region %s", region_of(n).c_str());
            break;
        case PhoneNumberUtil::INVALID_COUNTRY_CODE:
            set_err(errstr, errstr_size, "invalid country code");
            break;
        }
        return -1;
    }
    std::string e164, number_region = region_for_valid(n);
    u.Format(n, PhoneNumberUtil::E164, &e164);
    if (e164.size() >= sizeof out->e164 || number_region.size() >= sizeof out->region) {
        set_err(errstr, errstr_size, "too long");
        return -1;
    }
    std::memcpy(out->e164, e164.c_str(), e164.size() + 1);
    std::memcpy(out->region, number_region.c_str(), number_region.size() + 1);
    out->type = map_type(type);
    out->country_code = n.country_code();
    return 0;
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

extern "C" int ecm_phone_normalize(const char *raw, const char *default_region, ecm_phone_info *out,
                                   char *errstr, size_t errstr_size)
{
    if (out == nullptr) {
        set_err(errstr, errstr_size, "no output");
        return -1;
    }
    std::memset(out, 0, sizeof *out);
    int rc;
    try {
        rc = normalize(raw, default_region, out, errstr, errstr_size);
    } catch (const std::bad_alloc &) {
        set_err(errstr, errstr_size, "out of memory");
        rc = -1;
    } catch (...) {
        set_err(errstr, errstr_size, "not a number");
        rc = -1;
    }
    if (rc != 0) {
        std::memset(out, 0, sizeof *out);
    }
    return rc;
}

extern "C" const char *ecm_phone_type_name(ecm_phone_type t)
{
    size_t i = static_cast<size_t>(t);
    return i < type_count ? type_names[i] : type_names[0];
}

extern "C" ecm_phone_type ecm_phone_type_from_name(const char *name)
{
    if (name == nullptr) {
        return ECM_PHONE_UNKNOWN;
    }
    for (size_t i = 0; i < type_count; i++) {
        if (std::strcmp(name, type_names[i]) == 0) {
            return static_cast<ecm_phone_type>(i);
        }
    }
    return ECM_PHONE_UNKNOWN;
}

extern "C" int ecm_phone_type_may_be_mobile(ecm_phone_type t)
{
    return t == ECM_PHONE_MOBILE || t == ECM_PHONE_FIXED_LINE_OR_MOBILE;
}

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

extern "C" void ecm_phone_zones_free(char **zones, size_t n)
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
    ecm_phone_zones_free(zones, n);
    return rc;
}

// Phone numbers: libphonenumber behind the C API of ecm_phone.h (reading,
// validation, E.164, type names and the self-checks; a number's type and
// region by ecm_phone_lookup.cc, its place by ecm_phone_geo.cc, its zones by
// ecm_phone_zones.cc). Every entry point catches everything, because a C++
// exception unwinding into C frames is undefined behaviour.
#include "ecm_phone.h"
#include "ecm_phone_int.hh"

extern "C" {
#include "ecm_log.h"
}

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <list>
#include <new>
#include <string>
#include <tr1/functional>
#include <vector>

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

using namespace ecm_phone_int;

void ecm_phone_int::set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr == nullptr || errstr_size == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
    if (n < 0) {
        errstr[0] = '\0';
    }
}

namespace
{

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

// Region of the country code, for messages: "invalid for region US".
std::string region_of(const PhoneNumber &n)
{
    std::string r;
    util().GetRegionCodeForCountryCode(n.country_code(), &r);
    return r;
}

// The region a number without '+' is read in: default_region upper-cased,
// or "ZZ" (libphonenumber's "unknown region": '+' required) when none is
// given. Returns 0, or -1 with errstr when it is not a known region.
int pick_region(const char *default_region, std::string *region, char *errstr, size_t errstr_size)
{
    region->assign("ZZ");
    if (default_region == nullptr || default_region[0] == '\0') {
        return 0;
    }
    const unsigned char *r = reinterpret_cast<const unsigned char *>(default_region);
    if (std::strlen(default_region) != 2 || !is_ascii_letter(r[0]) || !is_ascii_letter(r[1])) {
        set_err(errstr, errstr_size, "invalid default region \"%.8s\"", default_region);
        return -1;
    }
    region->assign(default_region);
    for (char &c : *region) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    if (util().GetCountryCodeForRegion(*region) == 0) {
        set_err(errstr, errstr_size, "invalid default region \"%s\"", region->c_str());
        return -1;
    }
    return 0;
}

// What the raw text holds besides a number: nothing but blanks, ASCII
// letters, or the first ASCII character a number never has (0 if none).
struct raw_scan {
    bool blank = true;
    bool letters = false;
    unsigned char stray = 0;
};

raw_scan scan_raw(const char *raw)
{
    raw_scan s;
    for (const unsigned char *p = reinterpret_cast<const unsigned char *>(raw); *p; p++) {
        if (*p != ' ' && *p != '\t') {
            s.blank = false;
        }
        if (is_ascii_letter(*p)) {
            s.letters = true;
        } else if (*p < 0x80 && !is_allowed_ascii(*p) && s.stray == 0) {
            s.stray = *p;
        }
    }
    return s;
}

// Refuses what libphonenumber could not parse. Returns 0 for
// NO_PARSING_ERROR, else -1 with errstr.
int refuse_parse_error(PhoneNumberUtil::ErrorType perr, const std::string &region, char *errstr,
                       size_t errstr_size)
{
    switch (perr) {
    case PhoneNumberUtil::NO_PARSING_ERROR:
        return 0;
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
    return 0;
}

// Why a parsed number is not valid, into errstr. A valid number is always
// of a possible length, so the length is asked about only to explain an
// invalid one.
void explain_invalid(const PhoneNumber &n, char *errstr, size_t errstr_size)
{
    switch (util().IsPossibleNumberWithReason(n)) {
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
}

int normalize(const char *raw, const char *default_region, ecm_phone_info *out, char *errstr,
              size_t errstr_size, bool fast)
{
    const PhoneNumberUtil &u = util();
    std::string region;
    if (pick_region(default_region, &region, errstr, errstr_size) != 0) {
        return -1;
    }
    if (raw == nullptr) {
        set_err(errstr, errstr_size, "empty");
        return -1;
    }
    raw_scan scan = scan_raw(raw);
    if (scan.blank) {
        set_err(errstr, errstr_size, "empty");
        return -1;
    }

    PhoneNumber n;
    PhoneNumberUtil::ErrorType perr = fast && plain_nanp(raw, region, &n)
                                          ? PhoneNumberUtil::NO_PARSING_ERROR
                                          : u.Parse(raw, region, &n);
    if (perr == PhoneNumberUtil::NO_PARSING_ERROR && n.has_extension()) {
        set_err(errstr, errstr_size, "has an extension");
        return -1;
    }
    // Letters are refused even where libphonenumber would read a vanity number:
    // in a contact list "212 555 O1OO" is a typo for zeros, and converting it
    // would call a stranger.
    if (scan.letters) {
        set_err(errstr, errstr_size, "contains letters");
        return -1;
    }
    if (scan.stray != 0) {
        if (scan.stray >= 0x20 && scan.stray < 0x7f) {
            set_err(errstr, errstr_size, "unexpected character '%c'", scan.stray);
        } else {
            set_err(errstr, errstr_size, "unexpected control character");
        }
        return -1;
    }
    if (refuse_parse_error(perr, region, errstr, errstr_size) != 0) {
        return -1;
    }

    // Valid means a type other than UNKNOWN (IsValidNumber() is exactly that).
    std::string number_region;
    PhoneNumberUtil::PhoneNumberType type = type_and_region(n, &number_region);
    if (type == PhoneNumberUtil::UNKNOWN) {
        explain_invalid(n, errstr, errstr_size);
        return -1;
    }
    std::string e164;
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

} // namespace

namespace
{

// True when raw's ASCII digits are the number's own (its country code and
// national digits, or the national digits alone): libphonenumber took
// nothing out of them, so parsing the E.164 again would find the same
// number. Anything else (a national prefix, "+52 01 ...", a carrier code,
// other digit forms) needs that check.
bool digits_are_the_numbers(const char *raw, const ecm_phone_info *out)
{
    char digits[64];
    size_t n = 0;
    for (const char *p = raw; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (n + 1 >= sizeof digits) {
                return false;
            }
            digits[n++] = *p;
        } else if (static_cast<unsigned char>(*p) >= 0x80) {
            return false;
        }
    }
    digits[n] = '\0';
    const char *e = out->e164 + 1; // country code and national digits
    char cc[8];
    int ccn = std::snprintf(cc, sizeof cc, "%d", out->country_code);
    const char *national = e + ccn;
    return std::strcmp(digits, e) == 0 || std::strcmp(digits, national) == 0;
}

// The number whose E.164 parses back to itself. libphonenumber may strip a
// national prefix from digits that follow a country code, and do so again
// when the E.164 it gave is parsed ("+52 01 1 345 234 5678" gives
// +5213452345678, which reads as +523452345678): stored numbers must be that
// fixed point, or one number is kept two ways and a DNC entry misses it.
int normalize_stable(const char *raw, const char *default_region, ecm_phone_info *out, char *errstr,
                     size_t errstr_size, bool fast)
{
    int rc = normalize(raw, default_region, out, errstr, errstr_size, fast);
    if (rc != 0 || digits_are_the_numbers(raw, out)) {
        return rc;
    }
    for (int i = 0; i < 3; i++) {
        ecm_phone_info again;
        std::memset(&again, 0, sizeof again);
        char e164[sizeof out->e164];
        std::memcpy(e164, out->e164, sizeof e164);
        if (normalize(e164, nullptr, &again, errstr, errstr_size, fast) != 0) {
            return -1; // a number whose own E.164 is refused is no number
        }
        if (std::strcmp(again.e164, out->e164) == 0) {
            return 0;
        }
        *out = again;
    }
    set_err(errstr, errstr_size, "not a stable number");
    return -1;
}

// 1 when both readings of raw in region (plain_nanp() or Parse()) give the
// same answer, number, type, region and reason; else 0 with *why.
int fast_agrees(const char *raw, const char *region, std::string *why)
{
    ecm_phone_info a, b;
    char ea[128] = "", eb[128] = "";
    std::memset(&a, 0, sizeof a);
    std::memset(&b, 0, sizeof b);
    int ra = normalize_stable(raw, region, &a, ea, sizeof ea, true);
    int rb = normalize_stable(raw, region, &b, eb, sizeof eb, false);
    if (ra == rb && (ra != 0 || std::memcmp(&a, &b, sizeof a) == 0) &&
        (ra == 0 || std::strcmp(ea, eb) == 0)) {
        return 1;
    }
    *why = std::string(raw) + " in " + (region ? region : "(none)") + ": fast " + a.e164 + " " +
           ea + ", Parse() " + b.e164 + " " + eb;
    return 0;
}

// The ten-digit national numbers plain_nanp() is checked on: every example
// number of every +1 region and type, and with thorough every area code
// 000-999 (those starting 0 or 1 are left to Parse()) with exchanges across
// 000-999 (N11 and 555 among them).
std::vector<std::string> fast_samples(bool thorough)
{
    const PhoneNumberUtil &u = util();
    std::vector<std::string> out;
    std::list<std::string> regions_of_1;
    u.GetRegionCodesForCountryCallingCode(1, &regions_of_1);
    PhoneNumber n;
    for (const std::string &region : regions_of_1) {
        for (int t = PhoneNumberUtil::FIXED_LINE; t <= PhoneNumberUtil::VOICEMAIL; t++) {
            if (u.GetExampleNumberForType(region, static_cast<PhoneNumberUtil::PhoneNumberType>(t),
                                          &n)) {
                out.push_back(std::to_string(n.national_number()));
            }
        }
        if (u.GetInvalidExampleNumber(region, &n)) {
            out.push_back(std::to_string(n.national_number()));
        }
    }
    for (int npa = 0; thorough && npa <= 999; npa++) {
        for (int nxx : {0, 123, 200, 211, 234, 456, 555, 789, 911, 958, 999}) {
            char d[16];
            std::snprintf(d, sizeof d, "%03d%03d%04d", npa, nxx, 100 + npa % 97);
            out.push_back(d);
        }
    }
    return out;
}

// Compares both readings on fast_samples(), as written bare in every
// default region plain_nanp() reads and in a few it does not, and after
// "+1" with and without a default region. Returns the count or -1 (*why).
long check_fast(bool thorough, std::string *why)
{
    const std::vector<std::string> *plain = plain_regions();
    if (plain == nullptr) {
        *why = "libphonenumber's metadata could not be read";
        return -1;
    }
    std::vector<std::string> regions = *plain;
    regions.insert(regions.end(), {"JM", "DO", "GB", "PR"});
    long count = 0;
    for (const std::string &nsn : fast_samples(thorough)) {
        for (const std::string &region : regions) {
            count++;
            if (!fast_agrees(nsn.c_str(), region.c_str(), why)) {
                return -1;
            }
        }
        const std::string plus = "+1" + nsn;
        for (const char *region : {static_cast<const char *>(nullptr), "US", "FR"}) {
            count++;
            if (!fast_agrees(plus.c_str(), region, why)) {
                return -1;
            }
        }
    }
    return count;
}

// plain_nanp() is used once it agreed with Parse() on the example numbers
// (checked at first use, like the type lookup).
bool fast_verified()
{
    static const bool ok = [] {
        std::string why;
        if (check_fast(false, &why) < 0) {
            ecm_log_warn("phone number fast path disagrees with libphonenumber; using Parse() "
                         "for every number",
                         "detail=%s", why.c_str());
            return false;
        }
        return true;
    }();
    return ok;
}

} // namespace

namespace
{

// Runs one of the self-checks (f gets where to say why it failed): its
// count, or -1 with the reason in errstr. Catches everything.
template <typename F> long run_check(F f, char *errstr, size_t errstr_size)
{
    try {
        std::string why;
        long n = f(&why);
        if (n < 0) {
            set_err(errstr, errstr_size, "%s", why.c_str());
        }
        return n;
    } catch (...) {
        set_err(errstr, errstr_size, "exception");
        return -1;
    }
}

} // namespace

extern "C" long ecm_phone_check_fast(int thorough, char *errstr, size_t errstr_size)
{
    return run_check([thorough](std::string *why) { return check_fast(thorough != 0, why); },
                     errstr, errstr_size);
}

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
        rc = normalize_stable(raw, default_region, out, errstr, errstr_size, fast_verified());
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

extern "C" long ecm_phone_check_lookup(int thorough, char *errstr, size_t errstr_size)
{
    return run_check([thorough](std::string *why) { return check_lookup(thorough != 0, why); },
                     errstr, errstr_size);
}

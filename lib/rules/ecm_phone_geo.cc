// A number's jurisdiction (ecm_phone_subdivision) and a contact list's
// state column (ecm_phone_jurisdiction_read): libphonenumber's offline
// geocoder, whose English descriptions ("Florida", "New York, NY",
// "Ontario", "United States") a table here maps to ISO 3166-2 codes.
// Every entry point catches everything: a C++ exception unwinding into C
// frames is undefined behaviour.
#include "ecm_phone.h"
#include "ecm_phone_int.hh"

#include <phonenumbers/geocoding/phonenumber_offline_geocoder.h>
#include <phonenumbers/phonenumberutil.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <string>
#include <vector>

using ecm_phone_int::set_err;
using ecm_phone_int::util;
using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberOfflineGeocoder;
using i18n::phonenumbers::PhoneNumberUtil;

namespace
{

// A subdivision: its ISO 3166-2 code, its English name (as ISO and the
// geocoder write it) and another name the geocoder uses, if any.
struct Subdivision {
    const char *code;
    const char *name;
    const char *alias;
};

// ISO 3166-2:US: the states, the district and the outlying areas.
const Subdivision us_subdivisions[] = {
    {"US-AL", "Alabama", nullptr},
    {"US-AK", "Alaska", nullptr},
    {"US-AZ", "Arizona", nullptr},
    {"US-AR", "Arkansas", nullptr},
    {"US-CA", "California", nullptr},
    {"US-CO", "Colorado", nullptr},
    {"US-CT", "Connecticut", nullptr},
    {"US-DE", "Delaware", nullptr},
    {"US-FL", "Florida", nullptr},
    {"US-GA", "Georgia", nullptr},
    {"US-HI", "Hawaii", nullptr},
    {"US-ID", "Idaho", nullptr},
    {"US-IL", "Illinois", nullptr},
    {"US-IN", "Indiana", nullptr},
    {"US-IA", "Iowa", nullptr},
    {"US-KS", "Kansas", nullptr},
    {"US-KY", "Kentucky", nullptr},
    {"US-LA", "Louisiana", nullptr},
    {"US-ME", "Maine", nullptr},
    {"US-MD", "Maryland", nullptr},
    {"US-MA", "Massachusetts", nullptr},
    {"US-MI", "Michigan", nullptr},
    {"US-MN", "Minnesota", nullptr},
    {"US-MS", "Mississippi", nullptr},
    {"US-MO", "Missouri", nullptr},
    {"US-MT", "Montana", nullptr},
    {"US-NE", "Nebraska", nullptr},
    {"US-NV", "Nevada", nullptr},
    {"US-NH", "New Hampshire", nullptr},
    {"US-NJ", "New Jersey", nullptr},
    {"US-NM", "New Mexico", nullptr},
    {"US-NY", "New York", nullptr},
    {"US-NC", "North Carolina", nullptr},
    {"US-ND", "North Dakota", nullptr},
    {"US-OH", "Ohio", nullptr},
    {"US-OK", "Oklahoma", nullptr},
    {"US-OR", "Oregon", nullptr},
    {"US-PA", "Pennsylvania", nullptr},
    {"US-RI", "Rhode Island", nullptr},
    {"US-SC", "South Carolina", nullptr},
    {"US-SD", "South Dakota", nullptr},
    {"US-TN", "Tennessee", nullptr},
    {"US-TX", "Texas", nullptr},
    {"US-UT", "Utah", nullptr},
    {"US-VT", "Vermont", nullptr},
    {"US-VA", "Virginia", nullptr},
    {"US-WA", "Washington", "Washington State"},
    {"US-WV", "West Virginia", nullptr},
    {"US-WI", "Wisconsin", nullptr},
    {"US-WY", "Wyoming", nullptr},
    {"US-DC", "District of Columbia", "Washington D.C."},
    {"US-AS", "American Samoa", nullptr},
    {"US-GU", "Guam", nullptr},
    {"US-MP", "Northern Mariana Islands", nullptr},
    {"US-PR", "Puerto Rico", nullptr},
    {"US-UM", "United States Minor Outlying Islands", nullptr},
    {"US-VI", "Virgin Islands, U.S.", "U.S. Virgin Islands"},
};

// ISO 3166-2:CA: the provinces and territories.
const Subdivision ca_subdivisions[] = {
    {"CA-AB", "Alberta", nullptr},
    {"CA-BC", "British Columbia", nullptr},
    {"CA-MB", "Manitoba", nullptr},
    {"CA-NB", "New Brunswick", nullptr},
    {"CA-NL", "Newfoundland and Labrador", nullptr},
    {"CA-NS", "Nova Scotia", nullptr},
    {"CA-NT", "Northwest Territories", nullptr},
    {"CA-NU", "Nunavut", nullptr},
    {"CA-ON", "Ontario", nullptr},
    {"CA-PE", "Prince Edward Island", nullptr},
    {"CA-QC", "Quebec",
     "Qu\xc3\xa9"
     "bec"},
    {"CA-SK", "Saskatchewan", nullptr},
    {"CA-YT", "Yukon", nullptr},
};

// The NANP regions whose numbers are a US territory's (libphonenumber
// gives them region codes of their own).
const char *const us_territories[] = {"AS", "GU", "MP", "PR", "VI"};

struct Table {
    const char *country;
    const Subdivision *rows;
    size_t n;
};

const Table tables[] = {
    {"US", us_subdivisions, sizeof us_subdivisions / sizeof us_subdivisions[0]},
    {"CA", ca_subdivisions, sizeof ca_subdivisions / sizeof ca_subdivisions[0]},
};

const Table *table_of(const std::string &country)
{
    for (const Table &t : tables) {
        if (country == t.country) {
            return &t;
        }
    }
    return nullptr;
}

bool same_ci(const char *a, size_t alen, const char *b)
{
    if (std::strlen(b) != alen) {
        return false;
    }
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x >= 'a' && x <= 'z') {
            x = static_cast<unsigned char>(x - 'a' + 'A');
        }
        if (y >= 'a' && y <= 'z') {
            y = static_cast<unsigned char>(y - 'a' + 'A');
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

// The row of t whose code after "XX-" is abbrev[0..len), or whose name or
// alias is it (case-insensitive); nullptr when none.
const Subdivision *find(const Table &t, const char *s, size_t len)
{
    for (size_t i = 0; i < t.n; i++) {
        const Subdivision &d = t.rows[i];
        if (same_ci(s, len, d.code + 3) || same_ci(s, len, d.name) ||
            (d.alias != nullptr && same_ci(s, len, d.alias))) {
            return &d;
        }
    }
    return nullptr;
}

// Built at first use and never destroyed (no exit-order trouble); the
// geocoder locks its own lazily loaded maps.
const PhoneNumberOfflineGeocoder &geocoder()
{
    static const PhoneNumberOfflineGeocoder *const instance = new PhoneNumberOfflineGeocoder();
    return *instance;
}

// The jurisdiction of a valid NANP number of the US or Canada from the
// geocoder's description: "City, ST" names the state by its postal code,
// a description without a comma is a state's name (or the country's, or
// several: unmapped, so the bare country).
std::string nanp_subdivision(const PhoneNumber &n, const std::string &region)
{
    static const icu::Locale english("en");
    const Table *t = table_of(region);
    if (t == nullptr) {
        return region;
    }
    std::string d = geocoder().GetDescriptionForValidNumber(n, english);
    size_t comma = d.rfind(", ");
    const char *s = comma == std::string::npos ? d.c_str() : d.c_str() + comma + 2;
    size_t len = comma == std::string::npos ? d.size() : d.size() - comma - 2;
    const Subdivision *sub = find(*t, s, len);
    return sub != nullptr ? std::string(sub->code) : region;
}

// The jurisdiction of a valid number whose region libphonenumber gives.
std::string subdivision_of(const PhoneNumber &n, const std::string &region)
{
    if (n.country_code() != 1) {
        return region;
    }
    for (const char *t : us_territories) {
        if (region == t) {
            return std::string("US-") + t;
        }
    }
    return nanp_subdivision(n, region);
}

// ---- the NANP cache ----------------------------------------------------
//
// The geocoder answers per NPA-NXX (a scan of every NPA-NXX with four
// different line numbers found no prefix longer than that), takes about
// 7 us a number, and an upload asks for every number of every row: each
// NPA-NXX's answer is kept, as an index into the list of answers. This
// memoises a pure function of the compiled-in data, so it is process-wide:
// two threads that miss together compute the same answer and store it twice.

struct Answers {
    std::vector<std::string> codes; // index + 1 is what a cell holds
};

const Answers &answers()
{
    static const Answers *const instance = [] {
        Answers *a = new Answers;
        for (const Table &t : tables) {
            for (size_t i = 0; i < t.n; i++) {
                a->codes.emplace_back(t.rows[i].code);
            }
        }
        std::list<std::string> nanp;
        util().GetRegionCodesForCountryCallingCode(1, &nanp);
        for (const std::string &r : nanp) {
            a->codes.push_back(r);
        }
        return a;
    }();
    return *instance;
}

constexpr size_t kNanpCells = 800 * 800; // NPA 200..999 x NXX 200..999
std::atomic<uint8_t> nanp_cells[kNanpCells];

// The cell of a NANP number shaped "+1" NPA NXX XXXX (NPA, NXX 2-9 first),
// or -1 for any other string.
long nanp_cell(const char *e164)
{
    if (e164[0] != '+' || e164[1] != '1') {
        return -1;
    }
    for (int i = 2; i < 12; i++) {
        if (e164[i] < '0' || e164[i] > '9') {
            return -1;
        }
    }
    if (e164[12] != '\0' || e164[2] < '2' || e164[5] < '2') {
        return -1;
    }
    long npa = (e164[2] - '0') * 100 + (e164[3] - '0') * 10 + (e164[4] - '0');
    long nxx = (e164[5] - '0') * 100 + (e164[6] - '0') * 10 + (e164[7] - '0');
    return (npa - 200) * 800 + (nxx - 200);
}

int put(const std::string &code, char *out, size_t n)
{
    if (code.size() + 1 > n) {
        return -1;
    }
    std::memcpy(out, code.c_str(), code.size() + 1);
    return 0;
}

// The cached answer of a NANP cell (-1: none), or nullptr.
const std::string *cached(long cell)
{
    if (cell < 0) {
        return nullptr;
    }
    uint8_t k = nanp_cells[cell].load(std::memory_order_relaxed);
    return k != 0 ? &answers().codes[k - 1u] : nullptr;
}

// The answer of a number ecm_phone_normalize() gave (info); a NANP number's
// is cached under cell (-1: not a NANP shape).
int subdivision_info(const ecm_phone_info *info, long cell, char *out, size_t n)
{
    if (info->country_code != 1) {
        if (std::strlen(info->region) != 2) {
            return info->region[0] != '\0' ? 1 : -1; // "001": non-geographic
        }
        return put(info->region, out, n);
    }
    if (const std::string *c = cached(cell)) {
        return put(*c, out, n);
    }
    PhoneNumber num;
    if (std::strlen(info->region) != 2) {
        return -1;
    }
    if (cell >= 0) {
        // "+1" and ten digits, the first not 0: what Parse() would give
        // (country code 1, the ten digits as the national number), without
        // its dozen regular expressions (13 us, half of a first look-up).
        num.set_country_code(1);
        num.set_national_number(std::strtoull(info->e164 + 2, nullptr, 10));
    } else if (util().Parse(info->e164, "ZZ", &num) != PhoneNumberUtil::NO_PARSING_ERROR) {
        return -1;
    }
    std::string code = subdivision_of(num, info->region);
    if (cell >= 0) {
        const std::vector<std::string> &codes = answers().codes;
        for (size_t i = 0; i < codes.size() && i < 255; i++) {
            if (codes[i] == code) {
                nanp_cells[cell].store(static_cast<uint8_t>(i + 1), std::memory_order_relaxed);
                break;
            }
        }
    }
    return put(code, out, n);
}

int subdivision(const char *e164, char *out, size_t n)
{
    if (e164 == nullptr) {
        return -1;
    }
    long cell = nanp_cell(e164);
    if (const std::string *c = cached(cell)) {
        return put(*c, out, n);
    }
    // Valid, and written the way ecm_phone_normalize() writes it.
    ecm_phone_info info;
    char why[64];
    if (ecm_phone_normalize(e164, nullptr, &info, why, sizeof why) != 0 ||
        std::strcmp(info.e164, e164) != 0) {
        return -1;
    }
    return subdivision_info(&info, cell, out, n);
}

bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_alnum(char c)
{
    return is_letter(c) || (c >= '0' && c <= '9');
}

std::string upper(const char *s, size_t len)
{
    std::string u(s, len);
    for (char &c : u) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return u;
}

// 1 when cc (two upper-case letters) is a country libphonenumber knows.
bool known_country(const std::string &cc)
{
    return cc.size() == 2 && util().GetCountryCodeForRegion(cc) != 0;
}

// Printable ASCII excerpt of text for a reason ('?' for anything else).
std::string shown(const char *s, size_t len)
{
    std::string out;
    for (size_t i = 0; i < len && i < 24; i++) {
        out.push_back(s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
    }
    return out;
}

int jurisdiction_read(const char *text, size_t len, const char *country, char *out, size_t n,
                      char *errstr, size_t errstr_size)
{
    while (len > 0 && (*text == ' ' || *text == '\t')) {
        text++;
        len--;
    }
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t')) {
        len--;
    }
    std::string cc = country != nullptr ? upper(country, std::strlen(country)) : std::string();
    const Table *campaign = table_of(cc);
    // "US-FL": a country and a subdivision.
    if (len >= 4 && len <= 6 && is_letter(text[0]) && is_letter(text[1]) && text[2] == '-') {
        std::string code = upper(text, len);
        bool shape = true;
        for (size_t i = 3; i < len; i++) {
            shape = shape && is_alnum(text[i]);
        }
        std::string of = code.substr(0, 2);
        if (!shape || !known_country(of)) {
            set_err(errstr, errstr_size, "'%s' is not a region code", shown(text, len).c_str());
            return 1;
        }
        const Table *t = table_of(of);
        if (t != nullptr && find(*t, code.c_str() + 3, code.size() - 3) == nullptr) {
            set_err(errstr, errstr_size, "unknown state or province '%s' in %s", code.c_str() + 3,
                    of.c_str());
            return 1;
        }
        return put(code, out, n) == 0 ? 0 : -1;
    }
    // "FL", "Florida": a subdivision of the campaign's country first.
    if (campaign != nullptr && len > 0) {
        const Subdivision *d = find(*campaign, text, len);
        if (d != nullptr) {
            return put(d->code, out, n) == 0 ? 0 : -1;
        }
    }
    // "GB": a country of its own.
    if (len == 2 && known_country(upper(text, len))) {
        return put(upper(text, len), out, n) == 0 ? 0 : -1;
    }
    if (campaign != nullptr) {
        set_err(errstr, errstr_size, "unknown state or province '%s' in %s",
                shown(text, len).c_str(), cc.c_str());
    } else {
        set_err(errstr, errstr_size, "'%s' is not a region code (write a subdivision as XX-YYY)",
                shown(text, len).c_str());
    }
    return 1;
}

} // namespace

extern "C" int ecm_phone_subdivision(const char *e164, char *out, size_t n)
{
    if (out == nullptr || n < ECM_PHONE_JURISDICTION_LEN) {
        return -1;
    }
    out[0] = '\0';
    try {
        int rc = subdivision(e164, out, n);
        if (rc != 0) {
            out[0] = '\0';
        }
        return rc;
    } catch (...) {
        out[0] = '\0';
        return -1;
    }
}

extern "C" int ecm_phone_subdivision_of(const ecm_phone_info *info, char *out, size_t n)
{
    if (out == nullptr || n < ECM_PHONE_JURISDICTION_LEN) {
        return -1;
    }
    out[0] = '\0';
    if (info == nullptr) {
        return -1;
    }
    try {
        int rc = subdivision_info(info, nanp_cell(info->e164), out, n);
        if (rc != 0) {
            out[0] = '\0';
        }
        return rc;
    } catch (...) {
        out[0] = '\0';
        return -1;
    }
}

extern "C" int ecm_phone_jurisdiction_read(const char *text, size_t len, const char *country,
                                           char *out, size_t n, char *errstr, size_t errstr_size)
{
    if (out == nullptr || n < ECM_PHONE_JURISDICTION_LEN) {
        return -1;
    }
    out[0] = '\0';
    if (text == nullptr) {
        set_err(errstr, errstr_size, "empty");
        return 1;
    }
    try {
        int rc = jurisdiction_read(text, len, country, out, n, errstr, errstr_size);
        if (rc != 0) {
            out[0] = '\0';
        }
        return rc;
    } catch (...) {
        set_err(errstr, errstr_size, "out of memory");
        out[0] = '\0';
        return -1;
    }
}

// The one C++ file of ECM: libphonenumber behind the C API of ecm_phone.h.
// Every entry point catches everything, because a C++ exception unwinding
// into C frames is undefined behaviour.
#include "ecm_phone.h"

extern "C" {
#include "ecm_log.h"
}

#include <phonenumbers/phonemetadata.pb.h>
#include <phonenumbers/phonenumberutil.h>
#include <re2/re2.h>
#include <unicode/regex.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tr1/functional>
#include <unordered_map>
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

// The metadata PhoneNumberUtil loads at start, compiled into libphonenumber
// (its metadata.h, not installed by Debian, declares these).
namespace i18n
{
namespace phonenumbers
{
int metadata_size();
const void *metadata_get();
} // namespace phonenumbers
} // namespace i18n

using i18n::phonenumbers::PhoneMetadata;
using i18n::phonenumbers::PhoneMetadataCollection;
using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberDesc;
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

// ---- a number's type and region, each region's patterns matched once ----
//
// GetNumberType() first finds the number's region the way
// GetRegionCodeForNumber() does: the regions of the calling code in order,
// the first whose leading digits start the number or, for a region without
// leading digits, whose patterns give the number a type. Then it matches
// the found region's patterns again for the type. So a US number had the
// US patterns matched twice for its type, and a third time for its region:
// half of the validation of an upload row. Below is that search once, with
// libphonenumber's own pieces: its metadata (parsed from the same
// compiled-in data PhoneNumberUtil loads), its GetNumberTypeHelper() (the
// matching of a region's patterns), and ICU's regex for leading digits,
// which is what libphonenumber uses for them. The type found along the way
// is GetNumberType()'s; test_phone checks both answers against
// libphonenumber's for every example number of every region and type.

// GetNumberTypeHelper() is protected; naming it through a derived class
// gives a pointer to the member, which may then be called on the instance.
// The class is never instantiated (PhoneNumberUtil cannot be).
class TypeHelper : public PhoneNumberUtil
{
  public:
    using Fn = PhoneNumberUtil::PhoneNumberType (PhoneNumberUtil::*)(const std::string &,
                                                                     const PhoneMetadata &) const;
    static Fn fn()
    {
        return &TypeHelper::GetNumberTypeHelper;
    }
};

// A region's number descriptions with their patterns compiled by RE2, and
// GetNumberTypeHelper()'s decision over them (types_match() below).
// libphonenumber matches each pattern with ICU's backtracking engine
// through its pattern cache, about ten a number: 5 us of the 6 an upload
// spends on a plain US number (perf, bench/phone_subdivision.sh). RE2 is
// the other engine libphonenumber is written for (its patterns keep to the
// syntax both accept) and matches in linear time from a DFA. The decision
// follows GetNumberTypeHelper() of libphonenumber 8.12 step for step.
// A region's patterns are compiled when a number is first matched against
// them (all regions' take 6 MiB; a file's numbers mostly need a region or
// two); a region whose patterns RE2 refuses keeps libphonenumber's helper.
// The answers are checked against libphonenumber's with the rest of the
// lookup: per calling code at its first number (code_agrees()), and for
// every region in test_phone (ecm_phone_check_lookup).
enum {
    D_GENERAL,
    D_PREMIUM_RATE,
    D_TOLL_FREE,
    D_SHARED_COST,
    D_VOIP,
    D_PERSONAL_NUMBER,
    D_PAGER,
    D_UAN,
    D_VOICEMAIL,
    D_FIXED_LINE,
    D_MOBILE,
    D_COUNT
};

struct Desc {
    std::vector<int> lengths; // possible lengths; empty: any
    std::unique_ptr<RE2> re;  // null: an empty pattern (matches nothing)
};

struct Types {
    Desc d[D_COUNT];
    bool same_mobile_and_fixed_line;
};

// A region's Types, made once at first need (types_of()).
struct LazyTypes {
    std::once_flag once;
    std::unique_ptr<Types> types; // null after once: libphonenumber's helper
    std::string refused;          // why not, when null
};

struct RegionEntry {
    std::string code;                           // "US", or "001" (non-geographic)
    const PhoneMetadata *md;                    // into Regions::collection
    std::unique_ptr<icu::RegexPattern> leading; // its leading digits; none: null
    std::unique_ptr<LazyTypes> lazy;            // its patterns by RE2
};

struct CodeCheck {
    std::once_flag once;
    bool agrees = false;
};

struct Regions {
    PhoneMetadataCollection collection;
    std::unordered_map<int, std::vector<RegionEntry>> by_code; // calling code -> regions in order
    // The fast read of plain NANP numbers (plain_nanp() below): the default
    // regions whose bare ten digits it reads ("US", "CA"), and whether it
    // reads "+1" and ten digits (US metadata as required).
    std::vector<std::string> plain_regions;
    bool plain_plus1 = false;
    // Whether lookup() agrees with libphonenumber on a calling code's
    // example numbers, checked at the code's first number (code_agrees()).
    std::unordered_map<int, std::unique_ptr<CodeCheck>> checks;
    bool ok = false;
};

// A NANP region whose metadata plain_nanp() relies on: calling code 1,
// international prefix 011, national prefix (for parsing) 1, no transform.
bool plain_nanp_metadata(const PhoneMetadata &md)
{
    return md.country_code() == 1 && md.international_prefix() == "011" &&
           md.national_prefix_for_parsing() == "1" && !md.has_national_prefix_transform_rule();
}

// libphonenumber's IsNumberMatchingDesc(): a length the description does
// not list never matches (-1 alone: no number of the type); then the whole
// number against the pattern.
bool desc_matches(const Desc &d, const std::string &nsn)
{
    if (!d.lengths.empty()) {
        bool listed = false;
        for (int len : d.lengths) {
            listed = listed || static_cast<size_t>(len) == nsn.size();
        }
        if (!listed) {
            return false;
        }
    }
    return d.re && RE2::FullMatch(nsn, *d.re);
}

// GetNumberTypeHelper(nsn, md) over t.
PhoneNumberUtil::PhoneNumberType types_match(const Types &t, const std::string &nsn)
{
    static const struct {
        int desc;
        PhoneNumberUtil::PhoneNumberType type;
    } in_order[] = {
        {D_PREMIUM_RATE, PhoneNumberUtil::PREMIUM_RATE},
        {D_TOLL_FREE, PhoneNumberUtil::TOLL_FREE},
        {D_SHARED_COST, PhoneNumberUtil::SHARED_COST},
        {D_VOIP, PhoneNumberUtil::VOIP},
        {D_PERSONAL_NUMBER, PhoneNumberUtil::PERSONAL_NUMBER},
        {D_PAGER, PhoneNumberUtil::PAGER},
        {D_UAN, PhoneNumberUtil::UAN},
        {D_VOICEMAIL, PhoneNumberUtil::VOICEMAIL},
    };
    if (!desc_matches(t.d[D_GENERAL], nsn)) {
        return PhoneNumberUtil::UNKNOWN;
    }
    for (const auto &k : in_order) {
        if (desc_matches(t.d[k.desc], nsn)) {
            return k.type;
        }
    }
    if (desc_matches(t.d[D_FIXED_LINE], nsn)) {
        return t.same_mobile_and_fixed_line || desc_matches(t.d[D_MOBILE], nsn)
                   ? PhoneNumberUtil::FIXED_LINE_OR_MOBILE
                   : PhoneNumberUtil::FIXED_LINE;
    }
    return !t.same_mobile_and_fixed_line && desc_matches(t.d[D_MOBILE], nsn)
               ? PhoneNumberUtil::MOBILE
               : PhoneNumberUtil::UNKNOWN;
}

// md's descriptions compiled, or null when RE2 refuses one of its patterns.
std::unique_ptr<Types> types_build(const PhoneMetadata &md)
{
    const PhoneNumberDesc *descs[D_COUNT] = {
        &md.general_desc(), &md.premium_rate(),    &md.toll_free(), &md.shared_cost(),
        &md.voip(),         &md.personal_number(), &md.pager(),     &md.uan(),
        &md.voicemail(),    &md.fixed_line(),      &md.mobile(),
    };
    RE2::Options opt;
    opt.set_log_errors(false);
    opt.set_never_capture(true);
    std::unique_ptr<Types> t(new Types);
    t->same_mobile_and_fixed_line = md.same_mobile_and_fixed_line_pattern();
    for (int i = 0; i < D_COUNT; i++) {
        Desc &d = t->d[i];
        d.lengths.assign(descs[i]->possible_length().begin(), descs[i]->possible_length().end());
        const std::string &pattern = descs[i]->national_number_pattern();
        if (pattern.empty()) {
            continue;
        }
        d.re.reset(new RE2(pattern, opt));
        if (!d.re->ok()) {
            return nullptr;
        }
    }
    return t;
}

// e's Types (made at the first call, by whichever thread comes first), or
// null: libphonenumber's helper.
const Types *types_of(const RegionEntry &e)
{
    LazyTypes &lt = *e.lazy;
    std::call_once(lt.once, [&e, &lt] {
        lt.types = types_build(*e.md);
        if (!lt.types) {
            lt.refused = "RE2 refused a pattern of " + e.code;
            ecm_log_warn("phone number types: libphonenumber matches this region's patterns",
                         "region=%s reason=%s", e.code.c_str(), lt.refused.c_str());
        }
    });
    return lt.types.get();
}

// The type of nsn by e's patterns.
PhoneNumberUtil::PhoneNumberType type_in(const RegionEntry &e, const std::string &nsn)
{
    const Types *t = types_of(e);
    return t ? types_match(*t, nsn) : (util().*TypeHelper::fn())(nsn, *e.md);
}

Regions *regions_build()
{
    Regions *r = new Regions;
    const PhoneNumberUtil &u = util();
    if (!r->collection.ParseFromArray(i18n::phonenumbers::metadata_get(),
                                      i18n::phonenumbers::metadata_size())) {
        return r;
    }
    std::unordered_map<std::string, const PhoneMetadata *> by_region;
    std::unordered_map<int, const PhoneMetadata *> non_geo;
    for (const PhoneMetadata &md : r->collection.metadata()) {
        if (md.id() == "001") {
            non_geo[md.country_code()] = &md;
        } else {
            by_region[md.id()] = &md;
        }
    }
    std::set<int> codes;
    u.GetSupportedCallingCodes(&codes);
    for (int code : codes) {
        std::list<std::string> list;
        u.GetRegionCodesForCountryCallingCode(code, &list);
        std::vector<RegionEntry> &v = r->by_code[code];
        r->checks[code].reset(new CodeCheck);
        for (const std::string &region : list) {
            RegionEntry e;
            e.code = region;
            e.md = nullptr;
            if (region == "001") {
                auto ng = non_geo.find(code);
                e.md = ng == non_geo.end() ? nullptr : ng->second;
            } else {
                auto g = by_region.find(region);
                e.md = g == by_region.end() ? nullptr : g->second;
            }
            if (e.md == nullptr) {
                return r;
            }
            if (e.md->has_leading_digits()) {
                UParseError perr;
                UErrorCode st = U_ZERO_ERROR;
                e.leading.reset(icu::RegexPattern::compile(
                    icu::UnicodeString::fromUTF8(e.md->leading_digits()), 0, perr, st));
                if (U_FAILURE(st) || !e.leading) {
                    return r;
                }
            }
            e.lazy.reset(new LazyTypes);
            v.push_back(std::move(e));
        }
    }
    for (const auto &g : by_region) {
        if (plain_nanp_metadata(*g.second)) {
            r->plain_regions.push_back(g.first);
            r->plain_plus1 = r->plain_plus1 || (g.first == "US" && !r->by_code[1].empty() &&
                                                r->by_code[1].front().code == "US");
        }
    }
    r->ok = true;
    return r;
}

bool leading_digits_match(const icu::RegexPattern &p, const std::string &nsn)
{
    UErrorCode st = U_ZERO_ERROR;
    icu::UnicodeString in = icu::UnicodeString::fromUTF8(nsn);
    std::unique_ptr<icu::RegexMatcher> m(p.matcher(in, st));
    return U_SUCCESS(st) && m && m->lookingAt(st) && U_SUCCESS(st);
}

// GetNumberType(n), with *region set to GetRegionCodeForNumber(n), from r
// (which must be ok).
PhoneNumberUtil::PhoneNumberType lookup(const Regions &r, const PhoneNumber &n, std::string *region)
{
    const PhoneNumberUtil &u = util();
    auto it = r.by_code.find(n.country_code());
    if (it == r.by_code.end() || it->second.empty()) {
        u.GetRegionCodeForNumber(n, region);
        return u.GetNumberType(n);
    }
    const std::vector<RegionEntry> &list = it->second;
    std::string nsn;
    u.GetNationalSignificantNumber(n, &nsn);
    if (list.size() == 1) {
        *region = list.front().code;
        return type_in(list.front(), nsn);
    }
    for (const RegionEntry &e : list) {
        if (e.leading) {
            if (leading_digits_match(*e.leading, nsn)) {
                *region = e.code;
                return type_in(e, nsn);
            }
            continue;
        }
        PhoneNumberUtil::PhoneNumberType t = type_in(e, nsn);
        if (t != PhoneNumberUtil::UNKNOWN) {
            *region = e.code;
            return t;
        }
    }
    *region = "ZZ";
    return PhoneNumberUtil::UNKNOWN;
}

// 1 when lookup() gives n the type and region libphonenumber gives it; else
// 0 with *why naming the number and both answers.
int agrees(const Regions &r, const PhoneNumber &n, std::string *why)
{
    const PhoneNumberUtil &u = util();
    std::string ours, theirs;
    PhoneNumberUtil::PhoneNumberType t = lookup(r, n, &ours);
    u.GetRegionCodeForNumber(n, &theirs);
    PhoneNumberUtil::PhoneNumberType want = u.GetNumberType(n);
    if (t == want && ours == theirs) {
        return 1;
    }
    std::string e164;
    u.Format(n, PhoneNumberUtil::E164, &e164);
    *why = e164 + ": type " + std::to_string(static_cast<int>(t)) + " region " + ours +
           ", libphonenumber: type " + std::to_string(static_cast<int>(want)) + " region " + theirs;
    return 0;
}

// Checks lookup() against libphonenumber on the example number of every
// region and type, every non-geographic entity's, and every region's
// invalid example (of the calling code only_code alone, unless 0);
// thorough adds, for each, the numbers with one of its first four digits
// or its last one changed (which crosses leading digits, regions of a
// shared calling code and validity). Returns the count of numbers
// compared, or -1 with *why.
long check(const Regions &r, bool thorough, int only_code, std::string *why)
{
    if (!r.ok) {
        *why = "libphonenumber's metadata could not be read";
        return -1;
    }
    const PhoneNumberUtil &u = util();
    std::vector<PhoneNumber> base;
    std::set<std::string> supported;
    u.GetSupportedRegions(&supported);
    PhoneNumber n;
    for (const std::string &region : supported) {
        if (only_code != 0 && u.GetCountryCodeForRegion(region) != only_code) {
            continue;
        }
        for (int t = PhoneNumberUtil::FIXED_LINE; t <= PhoneNumberUtil::VOICEMAIL; t++) {
            if (u.GetExampleNumberForType(region, static_cast<PhoneNumberUtil::PhoneNumberType>(t),
                                          &n)) {
                base.push_back(n);
            }
        }
        if (u.GetInvalidExampleNumber(region, &n)) {
            base.push_back(n);
        }
    }
    std::set<int> global;
    u.GetSupportedGlobalNetworkCallingCodes(&global);
    for (int code : global) {
        if ((only_code == 0 || code == only_code) && u.GetExampleNumberForNonGeoEntity(code, &n)) {
            base.push_back(n);
        }
    }
    long count = 0;
    for (const PhoneNumber &b : base) {
        count++;
        if (!agrees(r, b, why)) {
            return -1;
        }
        if (!thorough) {
            continue;
        }
        std::string nsn;
        u.GetNationalSignificantNumber(b, &nsn);
        const std::string prefix = "+" + std::to_string(b.country_code());
        for (size_t pos : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, nsn.size() - 1}) {
            if (pos >= nsn.size()) {
                continue;
            }
            for (char d = '0'; d <= '9'; d++) {
                std::string v = nsn;
                if (v[pos] == d) {
                    continue;
                }
                v[pos] = d;
                PhoneNumber vn;
                if (u.Parse(prefix + v, "ZZ", &vn) != PhoneNumberUtil::NO_PARSING_ERROR) {
                    continue;
                }
                count++;
                if (!agrees(r, vn, why)) {
                    return -1;
                }
            }
        }
    }
    return count;
}

// Built at first use; immutable after, but for what is made once at first
// need (a region's RE2 patterns, a calling code's check), each under its
// std::call_once (ICU patterns may be shared between threads; each match
// makes its own matcher).
const Regions &regions()
{
    static const Regions *const instance = regions_build();
    return *instance;
}

// Whether lookup() agrees with libphonenumber on code's example numbers,
// checked at the first call for code. Should it ever disagree (a
// libphonenumber whose GetNumberType() works otherwise), the code's numbers
// go through GetNumberType() instead. A check of every code at first use
// would compile the patterns of every region in libphonenumber's cache
// and ours (7 MiB) where an upload needs a few.
bool code_agrees(const Regions &r, int code)
{
    auto it = r.checks.find(code);
    if (it == r.checks.end()) {
        return false;
    }
    CodeCheck &c = *it->second;
    std::call_once(c.once, [&r, &c, code] {
        std::string why;
        c.agrees = check(r, false, code, &why) >= 0;
        if (!c.agrees) {
            ecm_log_warn("phone number lookup disagrees with libphonenumber; using "
                         "GetNumberType() for this calling code",
                         "calling_code=%d detail=%s", code, why.c_str());
        }
    });
    return c.agrees;
}

// GetNumberType(n), with *region set to GetRegionCodeForNumber(n).
PhoneNumberUtil::PhoneNumberType type_and_region(const PhoneNumber &n, std::string *region)
{
    const Regions &r = regions();
    if (!r.ok || !code_agrees(r, n.country_code())) {
        util().GetRegionCodeForNumber(n, region);
        return util().GetNumberType(n);
    }
    return lookup(r, n, region);
}

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

// The number Parse() gives for the commonest contact-list forms, read
// without it (Parse() runs a dozen regular expressions, most of a number's
// cost): ten ASCII digits, the first 2-9 (an area code), in a default
// region listed in r.plain_regions, or "+1" and those ten digits in any.
// For these Parse() extracts no country code (no '+', no 011, no leading
// 1), strips no national prefix (the metadata's is 1) and sets nothing but
// the country code 1 and the national number, which is all this does.
// Validation is untouched: the caller checks the number as any other.
// test_phone and the first use (regions()) compare both readings
// (ecm_phone_check_fast). Returns true with *n set, or false: use Parse().
bool plain_nanp(const Regions &r, const char *raw, const std::string &region, PhoneNumber *n)
{
    const char *d = raw;
    if (raw[0] == '+' && raw[1] == '1') {
        if (!r.plain_plus1) {
            return false;
        }
        d = raw + 2;
    } else {
        bool listed = false;
        for (const std::string &p : r.plain_regions) {
            listed = listed || p == region;
        }
        if (!listed) {
            return false;
        }
    }
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (d[i] < '0' || d[i] > '9') {
            return false;
        }
        v = v * 10 + static_cast<uint64_t>(d[i] - '0');
    }
    if (d[10] != '\0' || d[0] < '2') {
        return false;
    }
    n->set_country_code(1);
    n->set_national_number(v);
    return true;
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
    const Regions &r = regions();
    PhoneNumberUtil::ErrorType perr = fast && r.ok && plain_nanp(r, raw, region, &n)
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
long check_fast(const Regions &r, bool thorough, std::string *why)
{
    if (!r.ok) {
        *why = "libphonenumber's metadata could not be read";
        return -1;
    }
    std::vector<std::string> regions = r.plain_regions;
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
        if (check_fast(regions(), false, &why) < 0) {
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
    return run_check(
        [thorough](std::string *why) { return check_fast(regions(), thorough != 0, why); }, errstr,
        errstr_size);
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
    return run_check(
        [thorough](std::string *why) {
            std::unique_ptr<Regions> r(regions_build());
            long n = check(*r, thorough != 0, 0, why);
            for (const auto &code : r->by_code) {
                for (const RegionEntry &e : code.second) {
                    if (n >= 0 && !types_of(e)) {
                        *why = e.lazy->refused;
                        n = -1;
                    }
                }
            }
            return n;
        },
        errstr, errstr_size);
}

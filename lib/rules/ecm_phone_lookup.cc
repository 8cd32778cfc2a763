// A number's type and region without libphonenumber's per-match costs:
// each region's patterns matched once and by RE2, and the commonest NANP
// forms read without Parse(). Both are checked against libphonenumber (per
// calling code at its first number, in full by test_phone). Used through
// ecm_phone_int.hh by ecm_phone.cc.
#include "ecm_phone_int.hh"

extern "C" {
#include "ecm_log.h"
}

#include <phonenumbers/phonemetadata.pb.h>
#include <re2/re2.h>
#include <unicode/regex.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

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
using i18n::phonenumbers::PhoneNumberDesc;
using namespace ecm_phone_int;

namespace
{

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
    std::unique_ptr<Types> types; // null after once: RE2 refused a pattern
};

struct RegionEntry {
    std::string code;                           // "US", or "001" (non-geographic)
    const PhoneMetadata *md;                    // into Regions::collection
    std::unique_ptr<icu::RegexPattern> leading; // its leading digits; none: null
    std::unique_ptr<LazyTypes> lazy;            // its patterns by RE2
};

// A calling code's regions in libphonenumber's order, and whether lookup()
// agrees with libphonenumber on the code's example numbers (checked at the
// code's first number, code_agrees()).
struct CallingCode {
    std::vector<RegionEntry> regions;
    mutable std::once_flag checked; // the only state made after regions_build()
    mutable bool agrees = false;
};

struct Regions {
    PhoneMetadataCollection collection;
    // Made in place by operator[] and never moved (a node of the map).
    std::unordered_map<int, CallingCode> by_code;
    // The fast read of plain NANP numbers (plain_nanp() below): the default
    // regions whose bare ten digits it reads ("US", "CA"), and whether it
    // reads "+1" and ten digits (US metadata as required).
    std::vector<std::string> plain_regions;
    bool plain_plus1 = false;
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
            ecm_log_warn("phone number types: libphonenumber matches this region's patterns",
                         "region=%s reason=%s", e.code.c_str(), "RE2 refused a pattern");
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
        std::vector<RegionEntry> &v = r->by_code[code].regions;
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
            r->plain_plus1 = r->plain_plus1 || (g.first == "US" && !r->by_code[1].regions.empty() &&
                                                r->by_code[1].regions.front().code == "US");
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
    if (it == r.by_code.end() || it->second.regions.empty()) {
        u.GetRegionCodeForNumber(n, region);
        return u.GetNumberType(n);
    }
    const std::vector<RegionEntry> &list = it->second.regions;
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
    auto it = r.by_code.find(code);
    if (it == r.by_code.end()) {
        return false;
    }
    const CallingCode &c = it->second;
    std::call_once(c.checked, [&r, &c, code] {
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

// The number Parse() gives for the commonest contact-list forms, read
// without it (Parse() runs a dozen regular expressions, most of a number's
// cost): ten ASCII digits, the first 2-9 (an area code), in a default
// region listed in r.plain_regions, or "+1" and those ten digits in any.
// For these Parse() extracts no country code (no '+', no 011, no leading
// 1), strips no national prefix (the metadata's is 1) and sets nothing but
// the country code 1 and the national number, which is all this does.
// Validation is untouched: the caller checks the number as any other.
// test_phone and ecm_phone.cc's first use compare both readings
// (ecm_phone_check_fast). Returns true with *n set, or false: use Parse().
bool plain_nanp_in(const Regions &r, const char *raw, const std::string &region, PhoneNumber *n)
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

} // namespace

namespace ecm_phone_int
{

PhoneNumberUtil::PhoneNumberType type_and_region(const PhoneNumber &n, std::string *region)
{
    const Regions &r = regions();
    if (!r.ok || !code_agrees(r, n.country_code())) {
        util().GetRegionCodeForNumber(n, region);
        return util().GetNumberType(n);
    }
    return lookup(r, n, region);
}

bool plain_nanp(const char *raw, const std::string &region, PhoneNumber *n)
{
    const Regions &r = regions();
    return r.ok && plain_nanp_in(r, raw, region, n);
}

const std::vector<std::string> *plain_regions()
{
    const Regions &r = regions();
    return r.ok ? &r.plain_regions : nullptr;
}

long check_lookup(bool thorough, std::string *why)
{
    std::unique_ptr<Regions> r(regions_build());
    long n = check(*r, thorough, 0, why);
    for (const auto &code : r->by_code) {
        for (const RegionEntry &e : code.second.regions) {
            if (n >= 0 && !types_of(e)) {
                *why = "RE2 refused a pattern of " + e.code;
                n = -1;
            }
        }
    }
    return n;
}

} // namespace ecm_phone_int

// Internal to lib/rules' C++ files (ecm_phone.cc, ecm_phone_lookup.cc,
// ecm_phone_geo.cc): what they share behind the C API of ecm_phone.h.
// Nothing here crosses into C; every C entry point catches exceptions.
#ifndef ECM_PHONE_INT_HH
#define ECM_PHONE_INT_HH

#include <phonenumbers/phonenumberutil.h>

#include <cstddef>
#include <string>
#include <vector>

namespace ecm_phone_int
{

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

// libphonenumber's instance. A C++11 function-local static is initialised
// exactly once even when several threads call first; PhoneNumberUtil is
// immutable after that. (An inline function's static is one object in the
// whole program.)
inline const PhoneNumberUtil &util()
{
    static const PhoneNumberUtil *const instance = PhoneNumberUtil::GetInstance();
    return *instance;
}

// printf into the caller's reason buffer; a reason longer than it is cut and
// stays NUL-terminated. Nothing when errstr is null or errstr_size 0.
__attribute__((format(printf, 3, 4))) void set_err(char *errstr, size_t errstr_size,
                                                   const char *fmt, ...);

// ---- ecm_phone_lookup.cc: a number's type and region, and the fast read ----

// GetNumberType(n), with *region set to GetRegionCodeForNumber(n): each
// region's patterns matched once, by RE2 (libphonenumber's own decision
// otherwise; see ecm_phone_lookup.cc).
PhoneNumberUtil::PhoneNumberType type_and_region(const PhoneNumber &n, std::string *region);

// The number Parse() gives for ten plain NANP digits read in one of
// plain_regions(), or "+1" and ten digits: true with *n set, or false (use
// Parse()). Checked against Parse() by ecm_phone.cc's check_fast().
bool plain_nanp(const char *raw, const std::string &region, PhoneNumber *n);

// The default regions plain_nanp() reads bare ten digits in ("US", "CA",
// ...), or null when libphonenumber's metadata could not be read.
const std::vector<std::string> *plain_regions();

// ecm_phone_check_lookup's check on a fresh copy of the tables: the count of
// numbers compared, or -1 with *why (also when RE2 refuses a region).
long check_lookup(bool thorough, std::string *why);

} // namespace ecm_phone_int

#endif

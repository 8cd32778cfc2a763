/* Phone numbers: the plain C face of libphonenumber (lib/rules/ecm_phone*.cc
 * are the only C++ in ECM: reading and validation in ecm_phone.cc, a
 * number's type and region in ecm_phone_lookup.cc, the geocoder in
 * ecm_phone_geo.cc, zones in ecm_phone_zones.cc). Every
 * number ECM stores or sends is E.164 ("+12125550100"), normalised here
 * from whatever a contact list holds.
 *
 * Letters are refused ("contains letters"), vanity numbers included, although
 * libphonenumber would convert "1-800-FLOWERS" the way a keypad does: in a
 * contact list a letter is far more often a typo ("212 555 O1OO" for zeros)
 * than a vanity number, and converting it would call a stranger. Numbers with
 * an extension are refused too ("has an extension"): a dialer cannot dial one.
 *
 * Time zones: Debian's libphonenumber (C++) has no PhoneNumberToTimeZonesMapper
 * (only the Java library ships one), so ecm_phone_time_zones() gives the
 * zones of the number's region from ICU: exactly one ("+44..." -> Europe/London,
 * "+92..." -> Asia/Karachi) is an answer, several ("+1 212..." -> every US
 * zone) mean "ambiguous: use the contact's or the campaign's zone".
 *
 * All functions are thread-safe and never throw into C. */
#ifndef ECM_PHONE_H
#define ECM_PHONE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest E.164 number is 15 digits: '+', 15 digits, NUL. */
#define ECM_PHONE_E164_LEN 17
/* Region codes are ISO 3166 alpha-2 ("US"), or "001" for non-geographic
 * numbers such as +800. */
#define ECM_PHONE_REGION_LEN 4

typedef enum {
    ECM_PHONE_UNKNOWN = 0,
    ECM_PHONE_FIXED_LINE,
    ECM_PHONE_MOBILE,
    /* US, CA and a few others do not tell the two apart from the number. */
    ECM_PHONE_FIXED_LINE_OR_MOBILE,
    ECM_PHONE_TOLL_FREE,
    ECM_PHONE_PREMIUM_RATE,
    ECM_PHONE_SHARED_COST,
    ECM_PHONE_VOIP,
    ECM_PHONE_PERSONAL_NUMBER,
    ECM_PHONE_PAGER,
    ECM_PHONE_UAN,
    ECM_PHONE_VOICEMAIL,
} ecm_phone_type;

typedef struct {
    char e164[ECM_PHONE_E164_LEN];
    ecm_phone_type type;
    char region[ECM_PHONE_REGION_LEN]; /* region of the number, not the default */
    int country_code;                  /* 1, 44, 33... */
} ecm_phone_info;

/* Normalises raw (UTF-8, as written in a contact list) to E.164.
 * default_region ("US", case-insensitive) is how a number without an
 * international prefix is read; with NULL or "" only numbers written with
 * '+' are accepted, because an international prefix such as 00 is
 * region-specific. The region's own prefix is understood ("00 33 1 42 68 53
 * 00" for FR or DE, "011 44 ..." for US). The E.164 given is a fixed point:
 * normalising it again gives the same number, type and region (a national
 * prefix written after the country code can otherwise leave one that
 * libphonenumber reads differently the second time).
 * Returns 0 and fills *out; or -1, *out zeroed, with a short reason in
 * errstr: "empty", "not a number", "contains letters", "has an extension",
 * "unexpected character ';'" (only digits, spaces and + - ( ) . / are read),
 * "too short", "too long", "invalid length for region US", "invalid country
 * code", "no region for a number without +", "invalid for region US",
 * "invalid default region \"XX\"", "not a stable number", "out of memory". */
int ecm_phone_normalize(const char *raw, const char *default_region, ecm_phone_info *out,
                        char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Name stored in the DB and shown by the API ("mobile", "fixed_line",
 * "fixed_line_or_mobile", "toll_free", "premium_rate", "shared_cost", "voip",
 * "personal_number", "pager", "uan", "voicemail", "unknown"). Can't fail. */
const char *ecm_phone_type_name(ecm_phone_type t);

/* The inverse of ecm_phone_type_name(); an unknown name gives
 * ECM_PHONE_UNKNOWN. Can't fail. */
ecm_phone_type ecm_phone_type_from_name(const char *name);

/* 1 when a number of this type may reach a mobile handset (MOBILE or
 * FIXED_LINE_OR_MOBILE), which is what an SMS campaign needs; else 0. */
int ecm_phone_type_may_be_mobile(ecm_phone_type t);

/* The IANA time zones of the region of e164 (a number as
 * ecm_phone_normalize() writes it), sorted, as a malloc'd array of malloc'd
 * strings in *zones, their count in *n; free with ecm_phone_zones_destroy().
 * Non-geographic numbers (+800...) have no zones: returns 0 with *n = 0 and
 * *zones = NULL. Returns -1 (nothing allocated, *zones NULL, *n 0) when e164
 * is not a valid E.164 number or memory runs out. */
int ecm_phone_time_zones(const char *e164, char ***zones, size_t *n)
    __attribute__((warn_unused_result));

/* Frees what ecm_phone_time_zones() returned. zones may be NULL. */
void ecm_phone_zones_destroy(char **zones, size_t n);

/* The one time zone of e164's region into out: returns 0 with the zone, 1
 * when the region has several zones (ambiguous; out is ""), -1 when it has
 * none, e164 is invalid or out is too small (out is ""). */
int ecm_phone_time_zone(const char *e164, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* Jurisdiction codes: ISO 3166-1 alpha-2 ("GB") or ISO 3166-2 ("US-FL"):
 * at most two letters, '-', three letters or digits, NUL. */
#define ECM_PHONE_JURISDICTION_LEN 8

/* The jurisdiction of e164 (a number as ecm_phone_normalize() writes it),
 * from libphonenumber's offline geocoder (English descriptions) mapped by a
 * table in ecm_phone_geo.cc:
 *   NANP numbers of the US and Canada: the state, district or province,
 *     "US-FL", "US-DC", "CA-ON"; the bare country, "US" or "CA", when the
 *     geocoder names none or names several ("Nova Scotia/Prince Edward
 *     Island", toll-free "United States");
 *   NANP numbers of the US territories: "US-PR", "US-VI", "US-GU",
 *     "US-AS", "US-MP" (ISO 3166-2:US), whatever the geocoder says;
 *   any other number: its region code ("GB", "JM", "JE").
 * Returns 0 with the code in out; 1 with out "" when the number has no
 * place (non-geographic, "+800..."); -1 with out "" when e164 is no valid
 * E.164 number or out is smaller than ECM_PHONE_JURISDICTION_LEN.
 * e164 must be written as ecm_phone_normalize() writes it ("+1 212..." is
 * refused). Fast: the answer of a NANP number is kept per NPA-NXX (the
 * geocoder's own granularity) for the life of the process, so a NANP
 * number whose NPA-NXX was answered before is checked for its shape ("+1",
 * ten digits, NPA and NXX not starting 0 or 1) only, not for its validity:
 * pass numbers ecm_phone_normalize() gave. Thread-safe. */
int ecm_phone_subdivision(const char *e164, char *out, size_t n)
    __attribute__((warn_unused_result));

/* ecm_phone_subdivision() of a number ecm_phone_normalize() just gave in
 * *info, without reading it again: a number of another country than +1 is
 * answered from info->region alone, so this is what the upload calls. Same
 * returns. */
int ecm_phone_subdivision_of(const ecm_phone_info *info, char *out, size_t n)
    __attribute__((warn_unused_result));

/* Reads text, a jurisdiction as a contact list writes it, into its code:
 * "US-FL" or "us-fl" as is (upper-cased); "FL", "Florida" in country ("US",
 * the campaign's region) as "US-FL"; "US" or "GB" (a country of its own) as
 * is. Subdivisions of the US (the 50 states, DC and the five inhabited
 * territories) and of Canada are checked against the table; another
 * country's are taken by their shape (two letters, '-', one to three
 * letters or digits) since ECM holds no list of them. Blanks around text
 * are ignored. Returns 0 with the code in out; 1 with a short reason in
 * errstr ("unknown state or province 'ZZ' in US", "not a region code")
 * and out ""; -1 when out is smaller than ECM_PHONE_JURISDICTION_LEN. */
int ecm_phone_jurisdiction_read(const char *text, size_t len, const char *country, char *out,
                                size_t n, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Checks the shortcut ecm_phone_normalize() takes to a number's type and
 * region (each pattern of the calling code's regions matched once, where
 * libphonenumber's GetNumberType() matches the number's region twice) against
 * libphonenumber's own GetNumberType() and GetRegionCodeForNumber(): on the
 * example number of every region and type and every region's invalid example
 * (which ecm_phone_normalize() also does, for a calling code's regions, at
 * the code's first number: on a disagreement the code's numbers go through
 * GetNumberType()), and with thorough, on each of those with one of its
 * first four digits or its last one changed. The types are matched with
 * RE2; a region whose patterns RE2 refuses keeps libphonenumber's own
 * matching, which this check reports as a failure (a slower upload, not a
 * wrong answer). Returns how many numbers agreed, or -1 with the first that
 * did not, or the region RE2 refused, in errstr. */
long ecm_phone_check_lookup(int thorough, char *errstr, size_t errstr_size);

/* Checks the fast read ecm_phone_normalize() makes of plain NANP numbers
 * (ten digits, the first 2-9, with a default region whose national prefix
 * is 1, "US" or "CA"; or "+1" and ten digits), which skips libphonenumber's
 * Parse() and validates the number as any other, against the reading
 * through Parse(): the same number, type, region and reason, on the example
 * number of every +1 region and type (also done once at first use: on a
 * disagreement every number goes through Parse()) and, with thorough, on
 * every area code 000-999 with a few exchanges each, in several default
 * regions. Returns how many readings agreed, or -1 with the first that did
 * not in errstr. */
long ecm_phone_check_fast(int thorough, char *errstr, size_t errstr_size);

#ifdef __cplusplus
}
#endif

#endif

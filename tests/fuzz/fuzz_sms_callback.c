/* The sms service's gateway callbacks (GET/POST /sms/dlr and /sms/mo): the
 * arguments of a form or JSON body (sms_args_parse_body, form decoding),
 * the MO keyword (sms_mo_parse) and the DLR code (sms_dlr_classify). The
 * query string itself is libmicrohttpd's to split.
 *
 * Input: byte 0 picks the check (bits 0-1) and its variant (bits 2-7);
 * the rest is the text.
 *   0 body: variant picks the Content-Type (none, form, JSON);
 *   1 keyword: the text, then one of the keywords dressed with the input;
 *   2 form escape: the text percent-encoded and decoded back;
 *   3 DLR code: the text as a status number (variant even); callback
 *     authentication (variant odd): the text is a message id, a line break
 *     and a token or MO key as a forger would send it.
 *
 * Properties:
 * - a refused body has a non-empty valid UTF-8 reason; a form body's
 *   arguments are the first occurrence of each name, %-decoded, among its
 *   first 32 non-empty pairs (an independent reading of the body agrees);
 *   a JSON body's arguments are valid UTF-8;
 * - a keyword answer is the text with ASCII whitespace and punctuation
 *   trimmed, compared without case: NONE unless that equals the keyword
 *   returned, which is upper case; and every keyword, in any case and with
 *   any such padding, is read as itself;
 * - form decoding inverts percent-encoding, and never lengthens a text;
 * - a DLR token authorises its own message id, under the current or the
 *   previous secret, and nothing else: a forged token passes only if it is
 *   the right one; an MO key passes only if it is the current or previous
 *   key; an absent one is MISSING, never BAD_TOKEN or OK;
 * - DLR codes 1, 2, 16 are final (delivered, undelivered, rejected), 4 and
 *   8 intermediate, anything else unknown. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz_support.h"
#include "sms_args.h"
#include "sms_auth.h"
#include "sms_dlr.h"
#include "sms_mo.h"

static const char *const names[] = {"msgid", "message_id", "status", "detail",
                                    "from",  "to",         "text",   "token"};

/* The value of name in a form body as an independent reading gives it:
 * malloc'd, or NULL when absent. */
static char *form_model(const char *body, size_t len, const char *name)
{
    const char *p = body, *end = body + len;
    int pairs = 0;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            if (pairs++ == 32) {
                return NULL;
            }
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *nend = eq ? eq : stop;
            char *n = fuzz_strndup((const uint8_t *)p, (size_t)(nend - p));
            (void)sms_args_form_decode(n);
            int match = strcmp(n, name) == 0;
            free(n);
            if (match) {
                const char *v = eq ? eq + 1 : stop;
                char *value = fuzz_strndup((const uint8_t *)v, (size_t)(stop - v));
                (void)sms_args_form_decode(value);
                return value;
            }
        }
        p = stop + 1;
    }
    return NULL;
}

static void fuzz_body(int variant, const char *body, size_t len)
{
    static const char *const types[] = {NULL, "application/x-www-form-urlencoded",
                                        "application/json; charset=utf-8"};
    const char *ct = types[variant % 3];
    char err[128];
    sms_args *a = sms_args_parse_body(ct, body, len, err, sizeof(err));
    if (a == NULL) {
        FUZZ_CHECK(err[0] && fuzz_utf8_ok(err), "refusal reason not valid UTF-8: '%s'", err);
        return;
    }
    size_t skip = 0;
    while (skip < len && memchr(" \t\r\n", body[skip], 4)) {
        skip++;
    }
    int json = variant % 3 == 2 || (skip < len && body[skip] == '{');
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = sms_args_get(a, names[i]);
        if (json) {
            FUZZ_CHECK(v == NULL || fuzz_utf8_ok(v), "JSON argument %s not valid UTF-8", names[i]);
        } else {
            char *want = form_model(body, len, names[i]);
            FUZZ_CHECK((v == NULL && want == NULL) || (v && want && strcmp(v, want) == 0),
                       "form argument %s: got '%s', an independent reading gives '%s'", names[i],
                       v ? v : "(absent)", want ? want : "(absent)");
            free(want);
        }
    }
    sms_args_destroy(a);
}

static int trimmable(unsigned char c)
{
    return isspace(c) || (ispunct(c) && c < 0x80);
}

static const char *const keywords[] = {"STOP",   "STOPALL", "END",    "CANCEL", "UNSUBSCRIBE",
                                       "QUIT",   "REVOKE",  "OPTOUT", "START",  "YES",
                                       "UNSTOP", "HELP",    "INFO"};

static void fuzz_keyword(int variant, const char *text, size_t len)
{
    const char *kw = NULL;
    sms_mo_action act = sms_mo_parse(text, &kw);
    FUZZ_CHECK((act == SMS_MO_NONE) == (kw == NULL), "action %d with keyword %s", (int)act,
               kw ? kw : "(none)");
    const char *s = text;
    size_t n = strlen(text);
    while (n > 0 && trimmable((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && trimmable((unsigned char)s[n - 1])) {
        n--;
    }
    int is_keyword = 0;
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        is_keyword |= strlen(keywords[i]) == n && strncasecmp(s, keywords[i], n) == 0;
    }
    FUZZ_CHECK(is_keyword == (act != SMS_MO_NONE), "'%s': keyword %s, trimmed text is %s one", text,
               kw ? kw : "(none)", is_keyword ? "" : "not");
    if (kw) {
        FUZZ_CHECK(strlen(kw) == n && strncasecmp(s, kw, n) == 0, "'%s' read as %s", text, kw);
        for (const char *p = kw; *p; p++) {
            FUZZ_CHECK(*p >= 'A' && *p <= 'Z', "keyword %s not upper case", kw);
        }
    }
    (void)len;

    /* A keyword dressed by the input: case from its bits, padding from
     * its trimmable bytes. */
    const char *k = keywords[(size_t)variant % (sizeof(keywords) / sizeof(keywords[0]))];
    char dressed[256];
    size_t d = 0;
    size_t half = strlen(text) / 2;
    for (size_t i = 0; i < half && d < 100; i++) {
        if (trimmable((unsigned char)text[i])) {
            dressed[d++] = text[i];
        }
    }
    for (size_t i = 0; k[i]; i++) {
        unsigned char bit = i < strlen(text) ? (unsigned char)text[i] & 1 : 0;
        dressed[d++] = bit ? (char)tolower((unsigned char)k[i]) : k[i];
    }
    for (size_t i = half; text[i] && d < 250; i++) {
        if (trimmable((unsigned char)text[i])) {
            dressed[d++] = text[i];
        }
    }
    dressed[d] = '\0';
    const char *kw2 = NULL;
    (void)sms_mo_parse(dressed, &kw2);
    FUZZ_CHECK(kw2 && strcmp(kw2, k) == 0, "'%s' is not read as %s (got %s)", dressed, k,
               kw2 ? kw2 : "none");
}

static void fuzz_form_escape(const char *text, size_t len)
{
    /* Percent-encoding of the text up to its first NUL. */
    size_t n = strlen(text);
    char *enc = malloc(n * 3 + 1);
    FUZZ_CHECK(enc != NULL, "oom");
    size_t e = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ') {
            enc[e++] = '+';
        } else if (isalnum(c) && c < 0x80) {
            enc[e++] = (char)c;
        } else {
            (void)snprintf(enc + e, 4, "%%%02X", c);
            e += 3;
        }
    }
    enc[e] = '\0';
    FUZZ_CHECK(sms_args_form_decode(enc) == 0, "well-formed escapes refused: %s", enc);
    FUZZ_CHECK(strcmp(enc, text) == 0, "decode(encode(x)) != x");
    free(enc);
    /* The raw text decoded: never longer. */
    char *raw = fuzz_strndup((const uint8_t *)text, len);
    (void)sms_args_form_decode(raw);
    FUZZ_CHECK(strlen(raw) <= n, "decoding lengthened a text");
    free(raw);
}

static void fuzz_dlr_code(const char *text)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    int status = (int)(v > 100000 ? 100000 : v < -100000 ? -100000 : v);
    Ecm__V1__Outcome o = ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED;
    int rc = sms_dlr_classify(status, &o);
    int want = status == 1 || status == 2 || status == 16 ? 1 : status == 4 || status == 8 ? 0 : -1;
    FUZZ_CHECK(rc == want, "code %d classified %d", status, rc);
    if (rc == 1) {
        FUZZ_CHECK((status == 1 && o == ECM__V1__OUTCOME__OUTCOME_SMS_DELIVERED) ||
                       (status == 2 && o == ECM__V1__OUTCOME__OUTCOME_SMS_UNDELIVERED) ||
                       (status == 16 && o == ECM__V1__OUTCOME__OUTCOME_SMS_REJECTED),
                   "code %d gives outcome %d", status, (int)o);
    } else {
        FUZZ_CHECK(o == ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED, "non-final code set an outcome");
    }
}

static void fuzz_auth(const char *text)
{
    static const char secret[] = "fuzz-dlr-secret-0123456789abcdef0123";
    static const char previous[] = "fuzz-dlr-secret-previous-0123456789ab";
    static const char key[] = "fuzz-mo-key-0123456789abcdef0123456789";
    static const char key_prev[] = "fuzz-mo-key-previous-0123456789abcdef";
    static sms_auth *a;
    if (!a) {
        sms_auth_config cfg = {secret, previous, key, key_prev, NULL};
        a = sms_auth_new(&cfg);
        FUZZ_CHECK(a != NULL, "sms_auth_new");
    }
    const char *nl = strchr(text, '\n');
    char *mid = fuzz_strndup((const uint8_t *)text, nl ? (size_t)(nl - text) : strlen(text));
    const char *given = nl ? nl + 1 : "";
    char tok[SMS_AUTH_TOKEN_LEN + 1], tok_prev[SMS_AUTH_TOKEN_LEN + 1];
    FUZZ_CHECK(sms_auth_token(secret, mid, tok, sizeof(tok)) == 0 &&
                   sms_auth_token(previous, mid, tok_prev, sizeof(tok_prev)) == 0,
               "no token for '%s'", mid);
    FUZZ_CHECK(strlen(tok) == SMS_AUTH_TOKEN_LEN && strspn(tok, "0123456789abcdef") == strlen(tok),
               "token '%s' is not 32 lower-case hex digits", tok);
    FUZZ_CHECK(sms_auth_check_dlr(a, mid, tok) == SMS_AUTH_OK &&
                   sms_auth_check_dlr(a, mid, tok_prev) == SMS_AUTH_OK,
               "the right token of '%s' is refused", mid);
    FUZZ_CHECK(sms_auth_check_dlr(a, mid, "") == SMS_AUTH_MISSING &&
                   sms_auth_check_dlr(a, mid, NULL) == SMS_AUTH_MISSING,
               "an absent token is not MISSING");
    sms_auth_verdict v = sms_auth_check_dlr(a, mid, given);
    int right = strcmp(given, tok) == 0 || strcmp(given, tok_prev) == 0;
    FUZZ_CHECK(given[0] == '\0' ? v == SMS_AUTH_MISSING
                                : (v == SMS_AUTH_OK) == right && v != SMS_AUTH_MISSING,
               "token '%s' for '%s': verdict %d", given, mid, (int)v);
    /* Another message's token never passes. */
    char *other = malloc(strlen(mid) + 2);
    FUZZ_CHECK(other != NULL, "oom");
    (void)snprintf(other, strlen(mid) + 2, "%sx", mid);
    FUZZ_CHECK(sms_auth_check_dlr(a, other, tok) == SMS_AUTH_BAD_TOKEN,
               "the token of '%s' passes for '%s'", mid, other);
    free(other);
    v = sms_auth_check_mo(a, given);
    right = strcmp(given, key) == 0 || strcmp(given, key_prev) == 0;
    FUZZ_CHECK(given[0] == '\0' ? v == SMS_AUTH_MISSING
                                : (v == SMS_AUTH_OK) == right && v != SMS_AUTH_MISSING,
               "MO key '%s': verdict %d", given, (int)v);
    FUZZ_CHECK(sms_auth_check_mo(a, key) == SMS_AUTH_OK &&
                   sms_auth_check_mo(a, key_prev) == SMS_AUTH_OK,
               "the MO key is refused");
    free(mid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    int mode = data[0] & 3, variant = data[0] >> 2;
    char *text = fuzz_strndup(data + 1, size - 1);
    size_t len = size - 1;
    switch (mode) {
    case 0:
        fuzz_body(variant, text, len);
        break;
    case 1:
        fuzz_keyword(variant, text, len);
        break;
    case 2:
        fuzz_form_escape(text, len);
        break;
    default:
        if (variant & 1) {
            fuzz_auth(text);
        } else {
            fuzz_dlr_code(text);
        }
        break;
    }
    free(text);
    return 0;
}

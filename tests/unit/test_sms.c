/* SMS text (lib/ecm_sms.h): GSM-7 vs UCS-2 detection, septet and
 * UTF-16 unit counts, segment boundaries, UTF-8 validation, and templates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_sms.h"
#include "ecm_utf8.h"

/* A string of n copies of unit (a UTF-8 sequence). */
static char *rep(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

static ecm_sms_info measure(const char *text)
{
    ecm_sms_info info;
    memset(&info, 0xAB, sizeof info);
    assert_int_equal(ecm_sms_measure(text, &info), 0);
    return info;
}

static void test_plain_ascii_is_gsm7_one_septet_each(void **state)
{
    (void)state;
    ecm_sms_info i = measure("Hello Ann, your balance is $12.50 @ ECM!");
    assert_int_equal(i.encoding, ECM_SMS_GSM7);
    assert_int_equal(i.units, 40);
    assert_int_equal(i.chars, 40);
    assert_int_equal(i.segments, 1);
    assert_string_equal(ecm_sms_encoding_name(i.encoding), "GSM7");
}

static void test_extension_characters_cost_two_septets(void **state)
{
    (void)state;
    /* € ^ { } [ ] ~ | \ : all in the extension table. */
    ecm_sms_info i = measure("\xE2\x82\xAC^{}[]~|\\");
    assert_int_equal(i.encoding, ECM_SMS_GSM7);
    assert_int_equal(i.chars, 9);
    assert_int_equal(i.units, 18);
    ecm_sms_info e = measure("Price: 5\xE2\x82\xAC");
    assert_int_equal(e.units, 10);
}

static void test_gsm7_basic_latin1_and_greek_letters_stay_gsm7(void **state)
{
    (void)state;
    /* é à ü Ñ ß £ ¥ § ¿ ¡ Δ Ω: in the default alphabet. */
    ecm_sms_info i = measure("\xC3\xA9\xC3\xA0\xC3\xBC\xC3\x91\xC3\x9F\xC2\xA3\xC2\xA5\xC2\xA7"
                             "\xC2\xBF\xC2\xA1\xCE\x94\xCE\xA9");
    assert_int_equal(i.encoding, ECM_SMS_GSM7);
    assert_int_equal(i.units, 12);
}

static void test_characters_outside_gsm7_switch_to_ucs2(void **state)
{
    (void)state;
    /* A backtick is ASCII but not GSM-7; so is a tab; á is not in the table. */
    assert_int_equal(measure("a`b").encoding, ECM_SMS_UCS2);
    assert_int_equal(measure("a\tb").encoding, ECM_SMS_UCS2);
    ecm_sms_info i = measure("\xC3\xA1");
    assert_int_equal(i.encoding, ECM_SMS_UCS2);
    assert_int_equal(i.units, 1);
    assert_string_equal(ecm_sms_encoding_name(i.encoding), "UCS2");
}

static void test_arabic_is_ucs2_one_unit_per_letter(void **state)
{
    (void)state;
    /* "مرحبا" (5 letters) */
    ecm_sms_info i = measure("\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7");
    assert_int_equal(i.encoding, ECM_SMS_UCS2);
    assert_int_equal(i.chars, 5);
    assert_int_equal(i.units, 5);
    assert_int_equal(i.segments, 1);
}

static void test_emoji_outside_bmp_counts_two_units(void **state)
{
    (void)state;
    ecm_sms_info i = measure("Hi \xF0\x9F\x98\x80"); /* U+1F600 */
    assert_int_equal(i.encoding, ECM_SMS_UCS2);
    assert_int_equal(i.chars, 4);
    assert_int_equal(i.units, 5);
}

static void test_gsm7_segment_boundaries(void **state)
{
    (void)state;
    struct {
        size_t n;
        int segments;
    } cases[] = {{0, 1},   {1, 1},   {160, 1}, {161, 2},    {306, 2},
                 {307, 3}, {459, 3}, {460, 4}, {153 * 7, 7}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *s = rep("a", cases[k].n);
        ecm_sms_info i = measure(s);
        assert_int_equal(i.encoding, ECM_SMS_GSM7);
        assert_int_equal(i.units, cases[k].n);
        assert_int_equal(i.segments, cases[k].segments);
        assert_int_equal(ecm_sms_segments(ECM_SMS_GSM7, cases[k].n), cases[k].segments);
        free(s);
    }
}

static void test_ucs2_segment_boundaries(void **state)
{
    (void)state;
    struct {
        size_t n;
        int segments;
    } cases[] = {{70, 1}, {71, 2}, {134, 2}, {135, 3}, {201, 3}, {202, 4}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *s = rep("\xD8\xB3", cases[k].n); /* Arabic seen */
        ecm_sms_info i = measure(s);
        assert_int_equal(i.encoding, ECM_SMS_UCS2);
        assert_int_equal(i.units, cases[k].n);
        assert_int_equal(i.segments, cases[k].segments);
        assert_int_equal(ecm_sms_segments(ECM_SMS_UCS2, cases[k].n), cases[k].segments);
        free(s);
    }
}

static void test_extension_char_at_160_septets_needs_two_segments(void **state)
{
    (void)state;
    char *s = rep("a", 159);
    char buf[200];
    memcpy(buf, s, 159);
    memcpy(buf + 159, "\xE2\x82\xAC", 4); /* € -> 161 septets */
    ecm_sms_info i = measure(buf);
    assert_int_equal(i.units, 161);
    assert_int_equal(i.segments, 2);
    memcpy(buf + 158, "\xE2\x82\xAC", 4); /* 158 + 2 = 160 septets */
    assert_int_equal(measure(buf).segments, 1);
    free(s);
}

static void test_escape_never_straddles_a_part(void **state)
{
    (void)state;
    /* 152 'a' then € (2 septets) then 'b': 155 septets. Packed: part 1 can
     * take only 152 + (no room for 2 in 153) -> € starts part 2. Total 155
     * septets but more than 160, so 2 parts either way; with 152 + € + 152
     * 'a' = 306 septets plain arithmetic says 2, packing says 3. */
    char *a = rep("a", 152);
    char buf[400];
    size_t k = 0;
    memcpy(buf, a, 152);
    k = 152;
    memcpy(buf + k, "\xE2\x82\xAC", 3);
    k += 3;
    memcpy(buf + k, a, 152);
    k += 152;
    buf[k] = '\0';
    ecm_sms_info i = measure(buf);
    assert_int_equal(i.units, 306);
    assert_int_equal(ecm_sms_segments(ECM_SMS_GSM7, 306), 2);
    assert_int_equal(i.segments, 3);
    free(a);
}

static void test_surrogate_pair_never_straddles_a_part(void **state)
{
    (void)state;
    /* 66 Arabic letters, an emoji (2 units), 66 more: 134 units, plain
     * arithmetic 2 parts; the emoji can't be split at unit 67, so 3. */
    char *a = rep("\xD8\xB3", 66);
    char buf[400];
    size_t k = strlen(a);
    memcpy(buf, a, k);
    memcpy(buf + k, "\xF0\x9F\x98\x80", 4);
    k += 4;
    memcpy(buf + k, a, strlen(a));
    k += strlen(a);
    buf[k] = '\0';
    ecm_sms_info i = measure(buf);
    assert_int_equal(i.units, 134);
    assert_int_equal(i.segments, 3);
    free(a);
}

static void test_invalid_utf8_is_refused(void **state)
{
    (void)state;
    ecm_sms_info i;
    assert_int_equal(ecm_sms_measure("a\xC3", &i), -1);            /* truncated */
    assert_int_equal(ecm_sms_measure("\xC0\xAF", &i), -1);         /* overlong '/' */
    assert_int_equal(ecm_sms_measure("\xED\xA0\x80", &i), -1);     /* surrogate */
    assert_int_equal(ecm_sms_measure("\xF4\x90\x80\x80", &i), -1); /* > U+10FFFF */
    assert_int_equal(ecm_sms_measure("\xFF", &i), -1);
    assert_true(ecm_utf8_valid("\xE2\x82\xAC", 3));
    assert_false(ecm_utf8_valid("\xE2\x82", 2));
}

/* ---- templates ---- */

typedef struct {
    const char *names[4];
    const char *values[4];
} fake_contact;

static const char *lookup(void *ctx, const char *name)
{
    fake_contact *c = ctx;
    for (int i = 0; i < 4 && c->names[i]; i++) {
        if (strcmp(c->names[i], name) == 0)
            return c->values[i];
    }
    return NULL;
}

static void test_render_replaces_fields_and_custom_fields(void **state)
{
    (void)state;
    fake_contact c = {{"first_name", "due_date", "amount", NULL}, {"Ann", "1 May", "12.50", NULL}};
    char *out = NULL;
    char err[128];
    assert_int_equal(ecm_sms_render("Hi {first_name}, pay {amount} by { due_date }.", lookup, &c,
                                    &out, err, sizeof err),
                     0);
    assert_string_equal(out, "Hi Ann, pay 12.50 by 1 May.");
    free(out);
}

static void test_render_double_braces_are_literal(void **state)
{
    (void)state;
    fake_contact c = {{"x", NULL}, {"1", NULL}};
    char *out = NULL;
    char err[128];
    assert_int_equal(ecm_sms_render("{{x}} is {x}; }}{{", lookup, &c, &out, err, sizeof err), 0);
    assert_string_equal(out, "{x} is 1; }{");
    free(out);
}

static void test_render_missing_field_is_an_error_not_a_blank(void **state)
{
    (void)state;
    fake_contact c = {{"first_name", NULL}, {"Ann", NULL}};
    char *out = (char *)1;
    char err[128];
    assert_int_equal(
        ecm_sms_render("Hi {first_name} {nickname}", lookup, &c, &out, err, sizeof err), -1);
    assert_null(out);
    assert_string_equal(err, "missing field 'nickname'");
}

static void test_render_syntax_errors(void **state)
{
    (void)state;
    fake_contact c = {{"a", NULL}, {"1", NULL}};
    const char *bad[] = {"Hi {a", "Hi }", "Hi {}", "Hi { }", "{a{b}}", "x\xC3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        char err[128] = "";
        assert_int_equal(ecm_sms_render(bad[i], lookup, &c, &out, err, sizeof err), -1);
        assert_null(out);
        assert_true(strlen(err) > 0);
    }
}

static void test_render_empty_template_gives_empty_text(void **state)
{
    (void)state;
    fake_contact c = {{NULL}, {NULL}};
    char *out = NULL;
    char err[64];
    assert_int_equal(ecm_sms_render("", lookup, &c, &out, err, sizeof err), 0);
    assert_string_equal(out, "");
    free(out);
}

static void test_template_check_names_first_unknown_field(void **state)
{
    (void)state;
    const char *fields[] = {"first_name", "last_name", "account_number", "due_date"};
    char err[128];
    assert_int_equal(ecm_sms_template_check("Hi {first_name}, due {due_date} {{ok}}", fields, 4,
                                            err, sizeof err),
                     0);
    assert_int_equal(
        ecm_sms_template_check("Hi {first_name} {balance} {other}", fields, 4, err, sizeof err), 1);
    assert_string_equal(err, "unknown field 'balance'");
    assert_int_equal(ecm_sms_template_check("Hi {first_name", fields, 4, err, sizeof err), -1);
}

static int collect(void *ctx, const char *name)
{
    char *acc = ctx;
    size_t l = strlen(acc);
    snprintf(acc + l, 128 - l, "%s;", name);
    return 0;
}

static void test_foreach_visits_placeholders_in_order(void **state)
{
    (void)state;
    char acc[128] = "";
    char err[64];
    assert_int_equal(ecm_sms_template_foreach("{b} {{c}} {a} {b}", collect, acc, err, sizeof err),
                     0);
    assert_string_equal(acc, "b;a;b;");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_ascii_is_gsm7_one_septet_each),
        cmocka_unit_test(test_extension_characters_cost_two_septets),
        cmocka_unit_test(test_gsm7_basic_latin1_and_greek_letters_stay_gsm7),
        cmocka_unit_test(test_characters_outside_gsm7_switch_to_ucs2),
        cmocka_unit_test(test_arabic_is_ucs2_one_unit_per_letter),
        cmocka_unit_test(test_emoji_outside_bmp_counts_two_units),
        cmocka_unit_test(test_gsm7_segment_boundaries),
        cmocka_unit_test(test_ucs2_segment_boundaries),
        cmocka_unit_test(test_extension_char_at_160_septets_needs_two_segments),
        cmocka_unit_test(test_escape_never_straddles_a_part),
        cmocka_unit_test(test_surrogate_pair_never_straddles_a_part),
        cmocka_unit_test(test_invalid_utf8_is_refused),
        cmocka_unit_test(test_render_replaces_fields_and_custom_fields),
        cmocka_unit_test(test_render_double_braces_are_literal),
        cmocka_unit_test(test_render_missing_field_is_an_error_not_a_blank),
        cmocka_unit_test(test_render_syntax_errors),
        cmocka_unit_test(test_render_empty_template_gives_empty_text),
        cmocka_unit_test(test_template_check_names_first_unknown_field),
        cmocka_unit_test(test_foreach_visits_placeholders_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

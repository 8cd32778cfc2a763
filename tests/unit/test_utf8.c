#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_utf8.h"

#define FFFD ECM_UTF8_REPLACEMENT

static void test_utf8_valid_follows_rfc_3629(void **state)
{
    (void)state;
    static const char *const good[] = {
        "", "plain", "Jos\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_true(ecm_utf8_valid(good[i], strlen(good[i])));
    }
    static const char *const bad[] = {
        "\xC3",             /* cut */
        "\xE2\x82",         /* cut */
        "\xC0\xAF",         /* overlong '/' */
        "\xE0\x80\xAF",     /* overlong */
        "\xED\xA0\x80",     /* surrogate */
        "\xF4\x90\x80\x80", /* past U+10FFFF */
        "\x80",             /* lone continuation */
        "\xFF",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(ecm_utf8_valid(bad[i], strlen(bad[i])));
    }
    assert_true(ecm_utf8_valid("a\0b", 3));
    assert_false(ecm_utf8_text_ok("a\0b", 3));
    assert_true(ecm_utf8_text_ok("ab", 2));
    uint32_t cp = 0;
    assert_int_equal(ecm_utf8_next("\xE2\x82\xAC", 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(ecm_utf8_next("\xE2\x82\xAC", 2, &cp), 0);
}

static void test_utf8_cut_never_splits_a_character(void **state)
{
    (void)state;
    const char *s = "a\xC3\xA9\xE2\x82\xAC"; /* a, e-acute, euro: 1 + 2 + 3 bytes */
    size_t len = strlen(s);
    assert_int_equal(ecm_utf8_cut(s, len, 0), 0);
    assert_int_equal(ecm_utf8_cut(s, len, 1), 1);
    assert_int_equal(ecm_utf8_cut(s, len, 2), 1);
    assert_int_equal(ecm_utf8_cut(s, len, 3), 3);
    assert_int_equal(ecm_utf8_cut(s, len, 5), 3);
    assert_int_equal(ecm_utf8_cut(s, len, 6), 6);
    assert_int_equal(ecm_utf8_cut(s, len, 100), 6);
    assert_int_equal(ecm_utf8_chars(s, len), 3);
    assert_int_equal(ecm_utf8_chars("\xFF\xFE", 2), 2);
    assert_int_equal(ecm_utf8_chars("\xE2\x82z", 3), 2); /* one cut euro, one z */
}

static void test_utf8_copy_replaces_ill_formed_bytes_and_nul(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(ecm_utf8_copy(out, sizeof(out), "a\xC3z\0b", 5), 9);
    assert_string_equal(out, "a" FFFD "z" FFFD "b");
    /* Too small: cut before a character that does not fit, never inside. */
    assert_int_equal(ecm_utf8_copy(out, 4, "\xC3\xA9\xC3\xA9", 4), 2);
    assert_string_equal(out, "\xC3\xA9");
    /* A cut sequence is one U+FFFD; a byte that starts nothing is one each. */
    assert_int_equal(ecm_utf8_copy(out, sizeof(out), "\xF0\x9F\x98z\xC0\xAF", 6), 10);
    assert_string_equal(out, FFFD "z" FFFD FFFD);
    assert_int_equal(ecm_utf8_copy(out, 1, "abc", 3), 0);
    assert_string_equal(out, "");
    assert_int_equal(ecm_utf8_copy(out, 0, "abc", 3), 0);
}

static void test_utf8_excerpt_counts_characters(void **state)
{
    (void)state;
    char in[200] = "a";
    for (int k = 0; k < 60; k++) {
        memcpy(in + 1 + 2 * k, "\xC3\xA9", 3); /* with the NUL */
    }
    char out[200];
    size_t n = ecm_utf8_excerpt(out, sizeof(out), in, strlen(in), 40);
    assert_int_equal(n, 1 + 39 * 2 + 3);
    assert_int_equal(ecm_utf8_chars(out, n), 43);
    assert_memory_equal(out + n - 3, "...", 3);
    /* Short enough: whole, no ellipsis. */
    n = ecm_utf8_excerpt(out, sizeof(out), in, 1 + 20, 40);
    assert_int_equal(n, 21);
    assert_memory_equal(out, in, 21);
    /* A small buffer still ends in a whole character and the ellipsis. */
    n = ecm_utf8_excerpt(out, 10, in, strlen(in), 40);
    assert_true(n <= 9);
    assert_true(ecm_utf8_valid(out, n));
    assert_memory_equal(out + n - 3, "...", 3);
    assert_string_equal(ecm_utf8_quote(out, sizeof(out), NULL, 5), "");
    assert_string_equal(ecm_utf8_quote(out, sizeof(out), "abcdefg", 5), "abcde...");
}

static void test_utf8_format_never_leaves_half_a_character(void **state)
{
    (void)state;
    char out[8];
    /* "x" + three e-acutes is 7 bytes; a 6-byte room would split the third. */
    size_t n = ecm_utf8_format(out, 7, "x%s", "\xC3\xA9\xC3\xA9\xC3\xA9");
    assert_int_equal(n, 5);
    assert_string_equal(out, "x\xC3\xA9\xC3\xA9");
    n = ecm_utf8_format(out, sizeof(out), "%s", "a\xFF");
    assert_string_equal(out, "a" FFFD);
    assert_int_equal(n, 4);
    char buf[16] = "ok \xE2\x82";
    assert_int_equal(ecm_utf8_fix(buf, sizeof(buf)), 6);
    assert_string_equal(buf, "ok " FFFD);
}

/* Every byte string of up to 3 bytes: copy and fix always give valid UTF-8,
 * and leave valid input as it was. */
static void test_utf8_copy_is_valid_for_every_short_input(void **state)
{
    (void)state;
    for (unsigned v = 0; v < (1u << 24); v += 97) {
        char in[3] = {(char)(v >> 16), (char)(v >> 8), (char)v};
        char out[16];
        size_t n = ecm_utf8_copy(out, sizeof(out), in, 3);
        assert_true(ecm_utf8_text_ok(out, n));
        if (ecm_utf8_text_ok(in, 3)) {
            assert_int_equal(n, 3);
            assert_memory_equal(out, in, 3);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid_follows_rfc_3629),
        cmocka_unit_test(test_utf8_cut_never_splits_a_character),
        cmocka_unit_test(test_utf8_copy_replaces_ill_formed_bytes_and_nul),
        cmocka_unit_test(test_utf8_excerpt_counts_characters),
        cmocka_unit_test(test_utf8_format_never_leaves_half_a_character),
        cmocka_unit_test(test_utf8_copy_is_valid_for_every_short_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

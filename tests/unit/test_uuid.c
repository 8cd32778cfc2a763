#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_uuid.h"

static int is_uuid_v4_lower(const char *s)
{
    if (strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static void test_uuid_is_lowercase_v4(void **state)
{
    (void)state;
    char u[ECM_UUID_LEN];
    for (int i = 0; i < 100; i++) {
        ecm_uuid_new(u);
        assert_true(is_uuid_v4_lower(u));
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_uuid_is_unique_over_many_calls(void **state)
{
    (void)state;
    enum { N = 10000 };
    char(*ids)[ECM_UUID_LEN] = malloc(sizeof(*ids) * N);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        ecm_uuid_new(ids[i]);
    }
    qsort(ids, N, sizeof(*ids), cmp_str);
    for (int i = 1; i < N; i++) {
        assert_string_not_equal(ids[i - 1], ids[i]);
    }
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid_is_lowercase_v4),
        cmocka_unit_test(test_uuid_is_unique_over_many_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

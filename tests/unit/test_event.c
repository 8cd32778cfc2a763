#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_event.h"

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

static void test_now_ms_is_current_wall_clock(void **state)
{
    (void)state;
    int64_t a = ecm_now_ms();
    /* 2024-01-01 .. 2100-01-01 */
    assert_true(a > 1704067200000LL);
    assert_true(a < 4102444800000LL);
    int64_t b = ecm_now_ms();
    assert_true(b >= a);
}

static void test_time_format_is_rfc3339_utc_with_ms(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(ecm_time_format_ms(0, out, sizeof out), "1970-01-01T00:00:00.000Z");
    assert_string_equal(ecm_time_format_ms(1795492800123LL, out, sizeof out),
                        "2026-11-24T04:00:00.123Z");
    assert_string_equal(ecm_time_format_ms(-1, out, sizeof out), "1969-12-31T23:59:59.999Z");
    assert_string_equal(ecm_time_format_ms(951782400999LL, out, sizeof out),
                        "2000-02-29T00:00:00.999Z");
}

static void test_outcome_name_round_trips_every_enum_value(void **state)
{
    (void)state;
    const ProtobufCEnumDescriptor *d = &ecm__v1__outcome__descriptor;
    assert_true(d->n_values > 10);
    for (unsigned i = 0; i < d->n_values; i++) {
        const ProtobufCEnumValue *v = &d->values[i];
        const char *name = ecm_outcome_name((Ecm__V1__Outcome)v->value);
        assert_string_equal(name, v->name + strlen("OUTCOME_"));
        assert_int_equal(ecm_outcome_from_name(name), v->value);
    }
    assert_string_equal(ecm_outcome_name(ECM__V1__OUTCOME__OUTCOME_NO_ANSWER), "NO_ANSWER");
    assert_int_equal(ecm_outcome_from_name("BUSY"), ECM__V1__OUTCOME__OUTCOME_BUSY);
}

static void test_outcome_unknown_values_and_names(void **state)
{
    (void)state;
    assert_string_equal(ecm_outcome_name((Ecm__V1__Outcome)9999), "UNSPECIFIED");
    assert_string_equal(ecm_outcome_name((Ecm__V1__Outcome)-1), "UNSPECIFIED");
    assert_int_equal(ecm_outcome_from_name("NOPE"), ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED);
    assert_int_equal(ecm_outcome_from_name(""), ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED);
    assert_int_equal(ecm_outcome_from_name(NULL), ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED);
    assert_int_equal(ecm_outcome_from_name("no_answer"), ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED);
    assert_int_equal(ecm_outcome_from_name("OUTCOME_BUSY"), ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED);
}

static void test_channel_names_match_descriptor(void **state)
{
    (void)state;
    const ProtobufCEnumDescriptor *d = &ecm__v1__channel__descriptor;
    for (unsigned i = 0; i < d->n_values; i++) {
        const ProtobufCEnumValue *v = &d->values[i];
        if (v->value == 0) {
            continue;
        }
        const char *name = ecm_channel_name((Ecm__V1__Channel)v->value);
        const char *proto = v->name + strlen("CHANNEL_");
        assert_int_equal(strlen(name), strlen(proto));
        for (size_t k = 0; proto[k]; k++) {
            char lower = (proto[k] >= 'A' && proto[k] <= 'Z') ? (char)(proto[k] + 32) : proto[k];
            assert_int_equal(name[k], lower);
        }
        assert_int_equal(ecm_channel_from_name(name), v->value);
    }
    assert_string_equal(ecm_channel_name(ECM__V1__CHANNEL__CHANNEL_VOICE_IVR), "voice_ivr");
    assert_string_equal(ecm_channel_name(ECM__V1__CHANNEL__CHANNEL_VOICE_AGENT), "voice_agent");
    assert_string_equal(ecm_channel_name(ECM__V1__CHANNEL__CHANNEL_SMS), "sms");
    assert_int_equal(ecm_channel_from_name("fax"), ECM__V1__CHANNEL__CHANNEL_UNSPECIFIED);
    assert_int_equal(ecm_channel_from_name(NULL), ECM__V1__CHANNEL__CHANNEL_UNSPECIFIED);
}

static void test_event_pack_round_trips(void **state)
{
    (void)state;
    Ecm__V1__ContactsUploaded msg = ECM__V1__CONTACTS_UPLOADED__INIT;
    char id[ECM_UUID_LEN];
    ecm_uuid_new(id);
    int64_t ids[] = {123456789, 7, INT64_MAX};
    msg.event_id = id;
    msg.occurred_at = 1700000000123;
    msg.campaign_id = 42;
    msg.upload_id = 9;
    msg.channel = ECM__V1__CHANNEL__CHANNEL_SMS;
    msg.n_contact_ids = 3;
    msg.contact_ids = ids;
    msg.first_line = 2;
    msg.last_line = 5001;
    size_t len = 0;
    uint8_t *buf = ecm_event_pack(&msg.base, &len);
    assert_non_null(buf);
    assert_true(len > 36);
    Ecm__V1__ContactsUploaded *back = ecm__v1__contacts_uploaded__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_string_equal(back->event_id, id);
    assert_int_equal(back->occurred_at, 1700000000123);
    assert_int_equal(back->campaign_id, 42);
    assert_int_equal(back->upload_id, 9);
    assert_int_equal(back->channel, ECM__V1__CHANNEL__CHANNEL_SMS);
    assert_int_equal(back->n_contact_ids, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(back->contact_ids[i], ids[i]); /* listed in order */
    }
    assert_int_equal(back->first_line, 2);
    assert_int_equal(back->last_line, 5001);
    ecm__v1__contacts_uploaded__free_unpacked(back, NULL);
    free(buf);

    Ecm__V1__ContactsUploaded empty = ECM__V1__CONTACTS_UPLOADED__INIT;
    buf = ecm_event_pack(&empty.base, &len);
    assert_non_null(buf);
    assert_int_equal(len, 0);
    free(buf);
}

/* Outside text in an event (a gateway's DLR detail, a Cisco call GUID) may
 * carry ill-formed UTF-8; a proto3 string may not, or subscribers in other
 * languages refuse the event. It is packed with U+FFFD instead; the
 * caller's message is left alone. */
static void test_event_pack_makes_every_string_valid_utf8(void **state)
{
    (void)state;
    Ecm__V1__SmsResult msg = ECM__V1__SMS_RESULT__INIT;
    char detail[] = "err \xC3 at \xFF";
    msg.event_id = "e1";
    msg.message_id = "m-\xE2\x82\xAC";
    msg.detail = detail;
    msg.campaign_id = 3;
    size_t len = 0;
    uint8_t *buf = ecm_event_pack(&msg.base, &len);
    assert_non_null(buf);
    assert_string_equal(detail, "err \xC3 at \xFF");
    Ecm__V1__SmsResult *back = ecm__v1__sms_result__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_string_equal(back->detail, "err \xEF\xBF\xBD at \xEF\xBF\xBD");
    assert_string_equal(back->message_id, "m-\xE2\x82\xAC");
    assert_string_equal(back->event_id, "e1");
    assert_int_equal(back->campaign_id, 3);
    ecm__v1__sms_result__free_unpacked(back, NULL);
    free(buf);
}

static void test_account_number_formats_and_parses_back(void **state)
{
    (void)state;
    char out[64];
    int64_t id;
    int att;
    assert_int_equal(ecm_account_number(out, sizeof out, 42, 3), 0);
    assert_string_equal(out, "42-3");
    assert_int_equal(ecm_account_number_parse(out, &id, &att), 0);
    assert_int_equal(id, 42);
    assert_int_equal(att, 3);

    /* The longest possible one is exactly 30 characters. */
    assert_int_equal(ecm_account_number(out, 31, INT64_MAX, INT32_MAX), 0);
    assert_string_equal(out, "9223372036854775807-2147483647");
    assert_int_equal(strlen(out), 30);
    assert_int_equal(ecm_account_number_parse(out, &id, &att), 0);
    assert_true(id == INT64_MAX);
    assert_int_equal(att, INT32_MAX);

    assert_int_equal(ecm_account_number(out, sizeof out, 0, 1), 0);
    assert_string_equal(out, "0-1");
}

static void test_account_number_rejects_bad_input(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(ecm_account_number(out, 30, 1, 1), -1);
    assert_int_equal(ecm_account_number(out, sizeof out, 1, 0), -1);
    assert_int_equal(ecm_account_number(out, sizeof out, 1, -2), -1);
    assert_int_equal(ecm_account_number(out, sizeof out, -5, 1), -1);
}

static void test_account_number_parse_is_strict(void **state)
{
    (void)state;
    int64_t id = 77;
    int att = 77;
    static const char *const bad[] = {
        "",
        "-",
        "1-",
        "-1",
        "1-0",
        "12",
        "a-1",
        "1-a",
        "1-2-3",
        " 1-2",
        "1-2 ",
        "+1-2",
        "1-+2",
        "1--2",
        "01-2",
        "1-02",
        "9223372036854775808-1",  /* int64 overflow */
        "99999999999999999999-1", /* 20 digits */
        "1-2147483648",           /* int overflow */
        "1-99999999999",
        "12345678901234567890123456789-1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ecm_account_number_parse(bad[i], &id, &att) != -1) {
            fail_msg("'%s' was accepted", bad[i]);
        }
    }
    assert_int_equal(ecm_account_number_parse(NULL, &id, &att), -1);
    assert_int_equal(id, 77);
    assert_int_equal(att, 77);
    assert_int_equal(ecm_account_number_parse("0-1", &id, &att), 0);
    assert_int_equal(id, 0);
    assert_int_equal(att, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid_is_lowercase_v4),
        cmocka_unit_test(test_uuid_is_unique_over_many_calls),
        cmocka_unit_test(test_now_ms_is_current_wall_clock),
        cmocka_unit_test(test_time_format_is_rfc3339_utc_with_ms),
        cmocka_unit_test(test_outcome_name_round_trips_every_enum_value),
        cmocka_unit_test(test_outcome_unknown_values_and_names),
        cmocka_unit_test(test_channel_names_match_descriptor),
        cmocka_unit_test(test_event_pack_round_trips),
        cmocka_unit_test(test_event_pack_makes_every_string_valid_utf8),
        cmocka_unit_test(test_account_number_formats_and_parses_back),
        cmocka_unit_test(test_account_number_rejects_bad_input),
        cmocka_unit_test(test_account_number_parse_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

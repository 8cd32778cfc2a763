/* ecm_intake's decoding for both owners: each service takes its own
 * channel's contacts, leaves the other's alone, and an event without a
 * channel is dead-lettered by the voice side only (so exactly once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_intake.h"

static const char UP[] = "contacts.uploaded";
static const char RT[] = "contacts.retry";

static ecm_intake_kind decode_uploaded(ecm_intake_channel owner, Ecm__V1__Channel channel)
{
    Ecm__V1__ContactUploaded up = ECM__V1__CONTACT_UPLOADED__INIT;
    up.contact_id = 5;
    up.attempt = 1;
    up.channel = channel;
    uint8_t buf[128];
    size_t len = ecm__v1__contact_uploaded__pack(&up, buf);
    ecm_intake_item it;
    memset(&it, 0, sizeof it);
    ecm_intake_decode(owner, UP, UP, RT, buf, len, &it);
    return it.kind;
}

static void test_intake_each_owner_takes_only_its_channel(void **state)
{
    (void)state;
    assert_int_equal(decode_uploaded(ECM_INTAKE_SMS, ECM__V1__CHANNEL__CHANNEL_SMS),
                     ECM_INTAKE_UPLOADED);
    assert_int_equal(decode_uploaded(ECM_INTAKE_SMS, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR),
                     ECM_INTAKE_IGNORE);
    assert_int_equal(decode_uploaded(ECM_INTAKE_VOICE, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR),
                     ECM_INTAKE_UPLOADED);
    assert_int_equal(decode_uploaded(ECM_INTAKE_VOICE, ECM__V1__CHANNEL__CHANNEL_SMS),
                     ECM_INTAKE_IGNORE);
}

static void test_intake_missing_channel_is_dead_lettered_by_voice_only(void **state)
{
    (void)state;
    assert_int_equal(decode_uploaded(ECM_INTAKE_VOICE, ECM__V1__CHANNEL__CHANNEL_UNSPECIFIED),
                     ECM_INTAKE_BAD);
    assert_int_equal(decode_uploaded(ECM_INTAKE_SMS, ECM__V1__CHANNEL__CHANNEL_UNSPECIFIED),
                     ECM_INTAKE_IGNORE);
}

static void test_intake_sms_retry_carries_attempt_and_phone(void **state)
{
    (void)state;
    Ecm__V1__ContactRetry rt = ECM__V1__CONTACT_RETRY__INIT;
    rt.contact_id = 9;
    rt.attempt = 2;
    rt.phone_index = 1;
    rt.channel = ECM__V1__CHANNEL__CHANNEL_SMS;
    uint8_t buf[128];
    size_t len = ecm__v1__contact_retry__pack(&rt, buf);
    ecm_intake_item it;
    memset(&it, 0, sizeof it);
    ecm_intake_decode(ECM_INTAKE_SMS, RT, UP, RT, buf, len, &it);
    assert_int_equal(it.kind, ECM_INTAKE_RETRY);
    assert_int_equal(it.contact_id, 9);
    assert_int_equal(it.attempt, 2);
    assert_int_equal(it.phone_index, 1);
}

static int decode_retry_attempt(int32_t attempt)
{
    Ecm__V1__ContactRetry rt = ECM__V1__CONTACT_RETRY__INIT;
    rt.contact_id = 9;
    rt.attempt = attempt;
    rt.channel = ECM__V1__CHANNEL__CHANNEL_VOICE_IVR;
    uint8_t buf[128];
    size_t len = ecm__v1__contact_retry__pack(&rt, buf);
    ecm_intake_item it;
    memset(&it, 0, sizeof it);
    ecm_intake_decode(ECM_INTAKE_VOICE, RT, UP, RT, buf, len, &it);
    return it.kind;
}

static void test_intake_retry_of_a_deferred_first_attempt_is_taken(void **state)
{
    (void)state;
    /* A first attempt deferred to its window comes back as retry attempt 1. */
    assert_int_equal(decode_retry_attempt(1), ECM_INTAKE_RETRY);
    assert_int_equal(decode_retry_attempt(3), ECM_INTAKE_RETRY);
    assert_int_equal(decode_retry_attempt(0), ECM_INTAKE_BAD);
    assert_int_equal(decode_retry_attempt(-4), ECM_INTAKE_BAD);
}

static void test_intake_garbage_is_bad_with_a_reason(void **state)
{
    (void)state;
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x01};
    ecm_intake_item it;
    memset(&it, 0, sizeof it);
    ecm_intake_decode(ECM_INTAKE_SMS, RT, UP, RT, garbage, sizeof garbage, &it);
    assert_int_equal(it.kind, ECM_INTAKE_BAD);
    assert_non_null(strstr(it.reason, "undecodable ecm.v1.ContactRetry"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intake_each_owner_takes_only_its_channel),
        cmocka_unit_test(test_intake_missing_channel_is_dead_lettered_by_voice_only),
        cmocka_unit_test(test_intake_sms_retry_carries_attempt_and_phone),
        cmocka_unit_test(test_intake_retry_of_a_deferred_first_attempt_is_taken),
        cmocka_unit_test(test_intake_garbage_is_bad_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

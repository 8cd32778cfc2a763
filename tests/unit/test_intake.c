/* ecm_intake's decoding for both owners: only contacts.retry is consumed
 * (uploaded contacts are loaded 'queued' and need no event); each service
 * takes its own channel's retries, leaves the other's alone, and a retry
 * without a channel is dead-lettered by the voice side only (so exactly
 * once). Garbage, or any other topic, is dead-lettered by both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_intake.h"

static const char RT[] = "contacts.retry";

static ecm_intake_kind decode_retry(ecm_intake_channel owner, Ecm__V1__Channel channel,
                                    int32_t attempt)
{
    Ecm__V1__ContactRetry rt = ECM__V1__CONTACT_RETRY__INIT;
    rt.contact_id = 9;
    rt.attempt = attempt;
    rt.channel = channel;
    uint8_t buf[128];
    size_t len = ecm__v1__contact_retry__pack(&rt, buf);
    ecm_intake_item it;
    memset(&it, 0, sizeof it);
    ecm_intake_decode(owner, RT, RT, buf, len, &it);
    return it.kind;
}

static void test_intake_each_owner_takes_only_its_channel(void **state)
{
    (void)state;
    assert_int_equal(decode_retry(ECM_INTAKE_SMS, ECM__V1__CHANNEL__CHANNEL_SMS, 2),
                     ECM_INTAKE_RETRY);
    assert_int_equal(decode_retry(ECM_INTAKE_SMS, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, 2),
                     ECM_INTAKE_IGNORE);
    assert_int_equal(decode_retry(ECM_INTAKE_SMS, ECM__V1__CHANNEL__CHANNEL_VOICE_AGENT, 2),
                     ECM_INTAKE_IGNORE);
    assert_int_equal(decode_retry(ECM_INTAKE_VOICE, ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, 2),
                     ECM_INTAKE_RETRY);
    assert_int_equal(decode_retry(ECM_INTAKE_VOICE, ECM__V1__CHANNEL__CHANNEL_VOICE_AGENT, 2),
                     ECM_INTAKE_RETRY);
    assert_int_equal(decode_retry(ECM_INTAKE_VOICE, ECM__V1__CHANNEL__CHANNEL_SMS, 2),
                     ECM_INTAKE_IGNORE);
}

static void test_intake_missing_channel_is_dead_lettered_by_voice_only(void **state)
{
    (void)state;
    assert_int_equal(decode_retry(ECM_INTAKE_VOICE, ECM__V1__CHANNEL__CHANNEL_UNSPECIFIED, 2),
                     ECM_INTAKE_BAD);
    assert_int_equal(decode_retry(ECM_INTAKE_SMS, ECM__V1__CHANNEL__CHANNEL_UNSPECIFIED, 2),
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
    ecm_intake_decode(ECM_INTAKE_SMS, RT, RT, buf, len, &it);
    assert_int_equal(it.kind, ECM_INTAKE_RETRY);
    assert_int_equal(it.contact_id, 9);
    assert_int_equal(it.attempt, 2);
    assert_int_equal(it.phone_index, 1);
}

static void test_intake_retry_of_a_deferred_first_attempt_is_taken(void **state)
{
    (void)state;
    /* A first attempt deferred to its window comes back as retry attempt 1. */
    Ecm__V1__Channel voice = ECM__V1__CHANNEL__CHANNEL_VOICE_IVR;
    assert_int_equal(decode_retry(ECM_INTAKE_VOICE, voice, 1), ECM_INTAKE_RETRY);
    assert_int_equal(decode_retry(ECM_INTAKE_VOICE, voice, 3), ECM_INTAKE_RETRY);
    assert_int_equal(decode_retry(ECM_INTAKE_VOICE, voice, 0), ECM_INTAKE_BAD);
    assert_int_equal(decode_retry(ECM_INTAKE_VOICE, voice, -4), ECM_INTAKE_BAD);
}

static void test_intake_retry_without_contact_is_bad(void **state)
{
    (void)state;
    Ecm__V1__ContactRetry rt = ECM__V1__CONTACT_RETRY__INIT;
    rt.attempt = 2;
    rt.channel = ECM__V1__CHANNEL__CHANNEL_SMS;
    uint8_t buf[128];
    size_t len = ecm__v1__contact_retry__pack(&rt, buf);
    ecm_intake_item it;
    memset(&it, 0, sizeof it);
    ecm_intake_decode(ECM_INTAKE_SMS, RT, RT, buf, len, &it);
    assert_int_equal(it.kind, ECM_INTAKE_BAD);
    assert_non_null(strstr(it.reason, "invalid ecm.v1.ContactRetry: no contact_id"));
}

static void test_intake_garbage_on_retry_is_bad_for_both_owners(void **state)
{
    (void)state;
    /* Garbage has no channel to sort it by: both consumers of
     * contacts.retry dead-letter it, each in its own group. */
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x01};
    const ecm_intake_channel owners[] = {ECM_INTAKE_SMS, ECM_INTAKE_VOICE};
    for (size_t i = 0; i < 2; i++) {
        ecm_intake_item it;
        memset(&it, 0, sizeof it);
        ecm_intake_decode(owners[i], RT, RT, garbage, sizeof garbage, &it);
        assert_int_equal(it.kind, ECM_INTAKE_BAD);
        assert_non_null(strstr(it.reason, "undecodable ecm.v1.ContactRetry"));
        assert_non_null(strstr(it.reason, "(5 bytes)"));
    }
}

static void test_intake_contacts_uploaded_is_not_consumed(void **state)
{
    (void)state;
    /* A valid ContactsUploaded is not work for the intake: should one reach
     * it (a subscription by mistake), it is dead-lettered, never queued. */
    int64_t ids[] = {5, 6};
    Ecm__V1__ContactsUploaded up = ECM__V1__CONTACTS_UPLOADED__INIT;
    up.campaign_id = 1;
    up.channel = ECM__V1__CHANNEL__CHANNEL_SMS;
    up.n_contact_ids = 2;
    up.contact_ids = ids;
    uint8_t buf[128];
    size_t len = ecm__v1__contacts_uploaded__pack(&up, buf);
    ecm_intake_item it;
    memset(&it, 0, sizeof it);
    ecm_intake_decode(ECM_INTAKE_SMS, "contacts.uploaded", RT, buf, len, &it);
    assert_int_equal(it.kind, ECM_INTAKE_BAD);
    assert_string_equal(it.reason, "unexpected topic contacts.uploaded");
    assert_int_equal(it.contact_id, 0);

    memset(&it, 0, sizeof it);
    ecm_intake_decode(ECM_INTAKE_VOICE, NULL, RT, buf, len, &it);
    assert_int_equal(it.kind, ECM_INTAKE_BAD);
    assert_string_equal(it.reason, "unexpected topic (none)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intake_each_owner_takes_only_its_channel),
        cmocka_unit_test(test_intake_missing_channel_is_dead_lettered_by_voice_only),
        cmocka_unit_test(test_intake_sms_retry_carries_attempt_and_phone),
        cmocka_unit_test(test_intake_retry_of_a_deferred_first_attempt_is_taken),
        cmocka_unit_test(test_intake_retry_without_contact_is_bad),
        cmocka_unit_test(test_intake_garbage_on_retry_is_bad_for_both_owners),
        cmocka_unit_test(test_intake_contacts_uploaded_is_not_consumed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ecm_event.h"
#include "ecm_uuid.h"

static void test_outcome_name_round_trips_every_enum_value(void **state)
{
    (void)state;
    const ProtobufCEnumDescriptor *d = &ecm__v1__outcome__descriptor;
    assert_true(d->n_values > 10);
    for (unsigned i = 0; i < d->n_values; i++) {
        const ProtobufCEnumValue *v = &d->values[i];
        const char *name = ecm_event_outcome_name((Ecm__V1__Outcome)v->value);
        assert_string_equal(name, v->name + strlen("OUTCOME_"));
        assert_int_equal(ecm_event_outcome_from_name(name), v->value);
    }
    assert_string_equal(ecm_event_outcome_name(ECM__V1__OUTCOME__OUTCOME_NO_ANSWER), "NO_ANSWER");
    assert_int_equal(ecm_event_outcome_from_name("BUSY"), ECM__V1__OUTCOME__OUTCOME_BUSY);
}

static void test_outcome_unknown_values_and_names(void **state)
{
    (void)state;
    assert_string_equal(ecm_event_outcome_name((Ecm__V1__Outcome)9999), "UNSPECIFIED");
    assert_string_equal(ecm_event_outcome_name((Ecm__V1__Outcome)-1), "UNSPECIFIED");
    assert_int_equal(ecm_event_outcome_from_name("NOPE"), ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED);
    assert_int_equal(ecm_event_outcome_from_name(""), ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED);
    assert_int_equal(ecm_event_outcome_from_name(NULL), ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED);
    assert_int_equal(ecm_event_outcome_from_name("no_answer"),
                     ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED);
    assert_int_equal(ecm_event_outcome_from_name("OUTCOME_BUSY"),
                     ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED);
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
        const char *name = ecm_event_channel_name((Ecm__V1__Channel)v->value);
        const char *proto = v->name + strlen("CHANNEL_");
        assert_int_equal(strlen(name), strlen(proto));
        for (size_t k = 0; proto[k]; k++) {
            char lower = (proto[k] >= 'A' && proto[k] <= 'Z') ? (char)(proto[k] + 32) : proto[k];
            assert_int_equal(name[k], lower);
        }
        assert_int_equal(ecm_event_channel_from_name(name), v->value);
    }
    assert_string_equal(ecm_event_channel_name(ECM__V1__CHANNEL__CHANNEL_VOICE_IVR), "voice_ivr");
    assert_string_equal(ecm_event_channel_name(ECM__V1__CHANNEL__CHANNEL_VOICE_AGENT),
                        "voice_agent");
    assert_string_equal(ecm_event_channel_name(ECM__V1__CHANNEL__CHANNEL_SMS), "sms");
    assert_int_equal(ecm_event_channel_from_name("fax"), ECM__V1__CHANNEL__CHANNEL_UNSPECIFIED);
    assert_int_equal(ecm_event_channel_from_name(NULL), ECM__V1__CHANNEL__CHANNEL_UNSPECIFIED);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcome_name_round_trips_every_enum_value),
        cmocka_unit_test(test_outcome_unknown_values_and_names),
        cmocka_unit_test(test_channel_names_match_descriptor),
        cmocka_unit_test(test_event_pack_round_trips),
        cmocka_unit_test(test_event_pack_makes_every_string_valid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

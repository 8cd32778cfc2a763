/* The protobuf events ECM consumes (ecm.v1, protobuf-c): ContactRetry on
 * contacts.retry (ecm_intake_decode, feeder and sms), CallResult on
 * call.results and SmsResult on sms.results (st_results_decode, strategy);
 * and every event type through ecm_event_pack, which sends what another
 * service or a subscriber will decode.
 *
 * Input: byte 0 picks the event type (mod 9: ContactsUploaded, ContactRetry,
 * ContactDispatched, CallResult, SmsResult, ContactClosed, CampaignChanged,
 * UploadInterrupted, ContactsRecycled);
 * the rest is the Kafka payload.
 *
 * Properties:
 * - a consumer never fails to answer: a refused payload has a non-empty
 *   valid UTF-8 reason (it goes into the dead-letter header); an accepted
 *   retry has contact_id > 0, attempt >= 1, phone_index >= 0 and a voice
 *   channel for the feeder, sms for the sms service (never both); an
 *   accepted result has contact_id > 0 and attempt >= 1;
 * - a payload that decodes, packed again by ecm_event_pack (without the
 *   unknown fields protobuf-c keeps, as ECM never forwards one), decodes to a
 *   message whose strings are all valid UTF-8, and packing that again gives
 *   the same bytes (what ECM sends is stable and readable by any proto3
 *   decoder). */
#include <stdint.h>
#include <string.h>

#include "ecm/v1/events.pb-c.h"
#include "ecm_event.h"
#include "ecm_intake.h"
#include "fuzz_support.h"
#include "st_results.h"

static const ProtobufCMessageDescriptor *const types[] = {
    &ecm__v1__contacts_uploaded__descriptor,  &ecm__v1__contact_retry__descriptor,
    &ecm__v1__contact_dispatched__descriptor, &ecm__v1__call_result__descriptor,
    &ecm__v1__sms_result__descriptor,         &ecm__v1__contact_closed__descriptor,
    &ecm__v1__campaign_changed__descriptor,   &ecm__v1__upload_interrupted__descriptor,
    &ecm__v1__contacts_recycled__descriptor};

/* 1 when every string of m (nested and repeated ones too) is valid UTF-8. */
static int strings_ok(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) {
            continue;
        }
        const char *base = (const char *)m;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id) {
            continue;
        }
        size_t n = 1;
        void *const *items = (void *const *)(const void *)(base + f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(const void *)(base + f->quantifier_offset);
            items = *(void *const *const *)(const void *)(base + f->offset);
        }
        for (size_t k = 0; k < n; k++) {
            if (items[k] == NULL) {
                continue;
            }
            int ok =
                f->type == PROTOBUF_C_TYPE_STRING ? fuzz_utf8_ok(items[k]) : strings_ok(items[k]);
            if (!ok) {
                return 0;
            }
        }
    }
    return 1;
}

static void check_repack(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
    if (!m) {
        return;
    }
    /* ECM packs only messages it builds, which carry no unknown fields;
     * protobuf-c keeps a decoded message's (even a field number 0 read from
     * an overlong tag) and writes them back as bytes it then refuses. */
    unsigned n_unknown = m->n_unknown_fields;
    m->n_unknown_fields = 0;
    size_t n1 = 0;
    uint8_t *p1 = ecm_event_pack(m, &n1);
    m->n_unknown_fields = n_unknown;
    FUZZ_CHECK(p1 != NULL, "%s: a decoded event cannot be packed", d->name);
    ProtobufCMessage *m2 = protobuf_c_message_unpack(d, NULL, n1, p1);
    FUZZ_CHECK(m2 != NULL, "%s: what ecm_event_pack wrote does not decode", d->name);
    FUZZ_CHECK(strings_ok(m2), "%s: ecm_event_pack sent a string that is not valid UTF-8", d->name);
    size_t n2 = 0;
    uint8_t *p2 = ecm_event_pack(m2, &n2);
    FUZZ_CHECK(p2 && n2 == n1 && memcmp(p1, p2, n1) == 0, "%s: packing is not stable (%zu, %zu)",
               d->name, n1, n2);
    free(p1);
    free(p2);
    protobuf_c_message_free_unpacked(m2, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void check_intake(const uint8_t *data, size_t len)
{
    ecm_intake_item voice, sms;
    ecm_intake_decode(ECM_INTAKE_VOICE, "contacts.retry", "contacts.retry", data, len, &voice);
    ecm_intake_decode(ECM_INTAKE_SMS, "contacts.retry", "contacts.retry", data, len, &sms);
    const ecm_intake_item *both[] = {&voice, &sms};
    for (int i = 0; i < 2; i++) {
        const ecm_intake_item *it = both[i];
        if (it->kind == ECM_INTAKE_BAD) {
            FUZZ_CHECK(it->reason[0] && fuzz_utf8_ok(it->reason), "retry refused: reason '%s'",
                       it->reason);
        } else if (it->kind == ECM_INTAKE_RETRY) {
            FUZZ_CHECK(it->contact_id > 0 && it->attempt >= 1 && it->phone_index >= 0,
                       "retry taken: contact %lld attempt %d phone %d", (long long)it->contact_id,
                       (int)it->attempt, (int)it->phone_index);
        } else {
            FUZZ_CHECK(it->kind == ECM_INTAKE_IGNORE, "kind %d", (int)it->kind);
        }
    }
    FUZZ_CHECK(voice.kind != ECM_INTAKE_RETRY || sms.kind != ECM_INTAKE_RETRY,
               "one retry taken by both the feeder and the sms service");
    FUZZ_CHECK(voice.kind != ECM_INTAKE_IGNORE || sms.kind != ECM_INTAKE_IGNORE,
               "a retry neither service takes nor dead-letters");
    ecm_intake_item other;
    ecm_intake_decode(ECM_INTAKE_VOICE, "contacts.other", "contacts.retry", data, len, &other);
    FUZZ_CHECK(other.kind == ECM_INTAKE_BAD && fuzz_utf8_ok(other.reason), "unexpected topic");
}

static void check_results(const char *topic, const uint8_t *data, size_t len)
{
    st_results_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.topic_call_results = "call.results";
    ctx.topic_sms_results = "sms.results";
    st_result r;
    char reason[256] = "";
    if (st_results_decode(&ctx, topic, data, len, &r, reason, sizeof(reason)) != 0) {
        FUZZ_CHECK(reason[0] && fuzz_utf8_ok(reason), "%s refused: reason '%s'", topic, reason);
        return;
    }
    FUZZ_CHECK(r.contact_id > 0 && r.attempt >= 1, "%s taken: contact %lld attempt %d", topic,
               (long long)r.contact_id, r.attempt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t type = data[0] % (sizeof(types) / sizeof(types[0]));
    const uint8_t *payload = data + 1;
    size_t len = size - 1;
    check_repack(types[type], payload, len);
    if (type == 1) {
        check_intake(payload, len);
    } else if (type == 3) {
        check_results("call.results", payload, len);
    } else if (type == 4) {
        check_results("sms.results", payload, len);
    }
    return 0;
}

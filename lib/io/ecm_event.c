#include "ecm_event.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ecm_log.h"
#include "ecm_utf8.h"

#define OUTCOME_PREFIX "OUTCOME_"
#define CHANNEL_PREFIX "CHANNEL_"

const char *ecm_event_outcome_name(Ecm__V1__Outcome o)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&ecm__v1__outcome__descriptor, (int)o);
    if (!v || strncmp(v->name, OUTCOME_PREFIX, strlen(OUTCOME_PREFIX)) != 0) {
        return "UNSPECIFIED";
    }
    return v->name + strlen(OUTCOME_PREFIX);
}

Ecm__V1__Outcome ecm_event_outcome_from_name(const char *name)
{
    char full[64];
    if (!name) {
        return ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED;
    }
    int n = snprintf(full, sizeof full, "%s%s", OUTCOME_PREFIX, name);
    if (n < 0 || (size_t)n >= sizeof full) {
        return ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED;
    }
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value_by_name(&ecm__v1__outcome__descriptor, full);
    return v ? (Ecm__V1__Outcome)v->value : ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED;
}

/* The DB names are the lower-case proto names without CHANNEL_; kept as
 * literals because the returned strings must outlive the call. The test
 * checks them against the enum descriptor. */
static const struct {
    Ecm__V1__Channel value;
    const char *name;
} channel_names[] = {
    {ECM__V1__CHANNEL__CHANNEL_VOICE_IVR, "voice_ivr"},
    {ECM__V1__CHANNEL__CHANNEL_VOICE_AGENT, "voice_agent"},
    {ECM__V1__CHANNEL__CHANNEL_SMS, "sms"},
};

const char *ecm_event_channel_name(Ecm__V1__Channel c)
{
    for (size_t i = 0; i < sizeof channel_names / sizeof channel_names[0]; i++) {
        if (channel_names[i].value == c) {
            return channel_names[i].name;
        }
    }
    return "unspecified";
}

Ecm__V1__Channel ecm_event_channel_from_name(const char *name)
{
    if (!name) {
        return ECM__V1__CHANNEL__CHANNEL_UNSPECIFIED;
    }
    for (size_t i = 0; i < sizeof channel_names / sizeof channel_names[0]; i++) {
        if (strcmp(channel_names[i].name, name) == 0) {
            return channel_names[i].value;
        }
    }
    return ECM__V1__CHANNEL__CHANNEL_UNSPECIFIED;
}

/* Calls fn on every string field set in m and in the messages it holds
 * (repeated ones included); stops at the first non-zero answer and returns
 * it. A oneof member counts only when it is the case set. */
static int each_string(ProtobufCMessage *m, int (*fn)(char **s, void *ctx), void *ctx)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) {
            continue;
        }
        char *base = (char *)m;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id) {
            continue;
        }
        size_t n = 1;
        void **items = (void **)(void *)(base + f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(const void *)(base + f->quantifier_offset);
            items = *(void ***)(void *)(base + f->offset);
        }
        for (size_t k = 0; k < n; k++) {
            if (items[k] == NULL) {
                continue;
            }
            int rc = f->type == PROTOBUF_C_TYPE_STRING ? fn((char **)&items[k], ctx)
                                                       : each_string(items[k], fn, ctx);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int string_is_bad(char **s, void *ctx)
{
    (void)ctx;
    return !ecm_utf8_valid(*s, strlen(*s));
}

/* Replaces an ill-formed string of a message unpacked with the system
 * allocator by a valid malloc'd copy (protobuf_c_message_free_unpacked()
 * frees it like the original). */
static int string_fix(char **s, void *ctx)
{
    (void)ctx;
    size_t len = strlen(*s);
    if (ecm_utf8_valid(*s, len)) {
        return 0;
    }
    size_t size = len * 3 + 1; /* each byte may become U+FFFD */
    char *fixed = malloc(size);
    if (!fixed) {
        return -1;
    }
    ecm_utf8_copy(fixed, size, *s, len);
    free(*s);
    *s = fixed;
    return 0;
}

static uint8_t *pack_as_is(const ProtobufCMessage *msg, size_t *len)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    /* An all-default message packs to 0 bytes; malloc(0) may return NULL. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        return NULL;
    }
    size_t packed = protobuf_c_message_pack(msg, buf);
    if (len) {
        *len = packed;
    }
    return buf;
}

uint8_t *ecm_event_pack(const ProtobufCMessage *msg, size_t *len)
{
    if (!msg) {
        return NULL;
    }
    /* A proto3 string must be valid UTF-8: subscribers in other languages
     * refuse the whole event otherwise. The rare event that carries outside
     * text with ill-formed bytes is packed with them replaced by U+FFFD,
     * through an unpacked copy, since msg belongs to the caller. */
    if (each_string((ProtobufCMessage *)msg, string_is_bad, NULL) == 0) {
        return pack_as_is(msg, len);
    }
    size_t raw_len = 0;
    uint8_t *raw = pack_as_is(msg, &raw_len);
    if (!raw) {
        return NULL;
    }
    ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, raw_len, raw);
    free(raw);
    if (!copy) {
        return NULL;
    }
    uint8_t *buf = NULL;
    if (each_string(copy, string_fix, NULL) == 0) {
        buf = pack_as_is(copy, len);
        ecm_log_warn("event text was not valid UTF-8", "type=%s: packed with U+FFFD",
                     msg->descriptor->name);
    }
    protobuf_c_message_free_unpacked(copy, NULL);
    return buf;
}

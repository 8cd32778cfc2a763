/* Helpers for the ecm.v1 events: ids, clocks, names of enums, and packing. */
#ifndef ECM_EVENT_H
#define ECM_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "ecm/v1/events.pb-c.h"

#define ECM_UUID_LEN 37 /* 36 characters and the NUL */

/* Writes a new random (v4) UUID, lower-case, into out. Can't fail. */
void ecm_uuid_new(char out[ECM_UUID_LEN]);

/* UTC wall clock in milliseconds since the epoch. */
int64_t ecm_now_ms(void);

/* Formats ms as RFC 3339 UTC with milliseconds ("2026-11-24T04:00:00.123Z")
 * into out (at least 25 bytes). Returns out. */
char *ecm_time_format_ms(int64_t ms, char *out, size_t out_size);

/* Outcome enum <-> the name stored in the DB ("NO_ANSWER"). The name of an
 * unknown value is "UNSPECIFIED"; an unknown name gives
 * ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED. */
const char *ecm_outcome_name(Ecm__V1__Outcome o);
Ecm__V1__Outcome ecm_outcome_from_name(const char *name);

/* Channel enum <-> DB name ("voice_ivr", "voice_agent", "sms"). */
const char *ecm_channel_name(Ecm__V1__Channel c);
Ecm__V1__Channel ecm_channel_from_name(const char *name);

/* Packs msg into a malloc'd buffer; *len gets its size. NULL on OOM. */
uint8_t *ecm_event_pack(const ProtobufCMessage *msg, size_t *len);

/* Account number sent to the dialer: "<contact_id>-<attempt>". Returns 0, or
 * -1 when it would not fit (out_size < 31 is never enough). */
int ecm_account_number(char *out, size_t out_size, int64_t contact_id, int attempt)
    __attribute__((warn_unused_result));
/* Parses an account number back. Returns 0, or -1 when it is not ours. */
int ecm_account_number_parse(const char *s, int64_t *contact_id, int *attempt)
    __attribute__((warn_unused_result));

#endif

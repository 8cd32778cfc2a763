/* The ecm.v1 events: packing them, and the names their enums have in the
 * database. */
#ifndef ECM_EVENT_H
#define ECM_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "ecm/v1/events.pb-c.h"

/* Outcome enum <-> the name stored in the DB ("NO_ANSWER"). The name of an
 * unknown value is "UNSPECIFIED"; an unknown name gives
 * ECM__V1__OUTCOME__OUTCOME_UNSPECIFIED. */
const char *ecm_event_outcome_name(Ecm__V1__Outcome o);
Ecm__V1__Outcome ecm_event_outcome_from_name(const char *name);

/* Channel enum <-> DB name ("voice_ivr", "voice_agent", "sms"). */
const char *ecm_event_channel_name(Ecm__V1__Channel c);
Ecm__V1__Channel ecm_event_channel_from_name(const char *name);

/* Packs msg into a malloc'd buffer; *len gets its size. NULL on OOM. */
uint8_t *ecm_event_pack(const ProtobufCMessage *msg, size_t *len);

#endif

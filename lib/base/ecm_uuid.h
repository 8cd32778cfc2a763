/* Random identifiers: event ids, upload ids, message ids. */
#ifndef ECM_UUID_H
#define ECM_UUID_H

#define ECM_UUID_LEN 37 /* 36 characters and the NUL */

/* Writes a new random (v4) UUID, lower-case, into out. Can't fail. */
void ecm_uuid_new(char out[ECM_UUID_LEN]);

#endif

#include "ecm_uuid.h"

#include <uuid/uuid.h>

void ecm_uuid_new(char out[ECM_UUID_LEN])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

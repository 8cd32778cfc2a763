#include "rs_logger_time.h"

#include "ecm_zone.h"

int rs_logger_time_utc_ms(const char *zone, int year, int month, int day, int hour, int minute,
                          int second, int64_t *out)
{
    return ecm_zone_local_to_utc_ms(zone, year, month, day, hour, minute, second, out);
}

int rs_logger_time_validate_zone(const char *zone, char *errstr, size_t errstr_size)
{
    return ecm_zone_validate(zone, errstr, errstr_size);
}

/* One contact as UCCE's Outbound Option imports it (the Outbound API's CSV
 * and the import table take the same fields): AccountNumber (<= 30 bytes),
 * FirstName and LastName (<= 50 characters, no delimiter), Phone01 (digits,
 * '#' and '*', <= 20 bytes), TimeZoneBias (minutes, UTC = local + bias,
 * -780..720) and DstObserved (docs/cisco-research.md §3.2-3.3). Shared by
 * the ucce_api and ucce_db writers. */
#ifndef FD_UCCE_H
#define FD_UCCE_H

#include <stdint.h>

#include "fd_writer.h"

#define FD_UCCE_ACCOUNT_MAX 30 /* bytes */
#define FD_UCCE_NAME_MAX 50    /* characters */
#define FD_UCCE_PHONE_MAX 20   /* bytes */
#define FD_UCCE_BIAS_MIN (-780)
#define FD_UCCE_BIAS_MAX 720

typedef struct {
    char account[FD_UCCE_ACCOUNT_MAX + 1];
    char first_name[FD_UCCE_NAME_MAX * 4 + 1];
    char last_name[FD_UCCE_NAME_MAX * 4 + 1];
    char phone[FD_UCCE_PHONE_MAX + 1];
    int has_bias; /* 0: TimeZoneBias and DstObserved left empty */
    int bias;
    int dst;
    char bias_text[8]; /* bias as text ("" without) */
    char dst_text[2];  /* "1"/"0" ("" without) */
} fd_ucce_record;

/* From zone (IANA) at at_ms: *bias = -(standard UTC offset in minutes),
 * *dst = 1 when the zone has daylight saving time in at_ms's year (its
 * offset differs between January and July). Returns 0, -1 when ICU does not
 * know the zone, -2 when the bias is outside -780..720 (UTC+14: Cisco can't
 * express it; *bias and *dst are set all the same). */
int fd_ucce_tz(const char *zone, int64_t at_ms, int *bias, int *dst)
    __attribute__((warn_unused_result));

/* c as UCCE takes it, at import time at_ms: names cut to 50 characters with
 * the delimiter (','), line breaks and other control characters replaced by
 * spaces and the noncharacters U+FFFE/U+FFFF by U+FFFD; the phone's '+',
 * spaces and punctuation dropped. A zone UCCE can't express (or unknown)
 * leaves both time fields empty: the dialer then takes the zone from the
 * phone's region prefix, else the campaign's (Cisco's rule); logged.
 * Returns 0, or -1 when the record can't be imported (account longer than
 * 30 bytes, no usable phone digits, or more than 20). */
int fd_ucce_record_make(const fd_contact *c, int64_t at_ms, fd_ucce_record *out)
    __attribute__((warn_unused_result));

#endif

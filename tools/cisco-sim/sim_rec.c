#include "sim_rec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ecm_utf8.h"

/* Copies len bytes of text into dst (size dst_size, len < dst_size). */
static void rec_copy(char *dst, const char *text, size_t len)
{
    if (len > 0) {
        memcpy(dst, text, len);
    }
    dst[len] = '\0';
}

static const char *rec_set_phone(sim_rules system, char *dst, const char *text, size_t len)
{
    size_t max = system == SIM_RULES_UCCE ? SIM_UCCE_PHONE_MAX : SIM_UCCX_PHONE_MAX;
    if (len > max) {
        return system == SIM_RULES_UCCE ? "phone longer than 20 bytes"
                                        : "phone longer than 28 characters";
    }
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        int ok = (ch >= '0' && ch <= '9') || ch == '#' || ch == '*';
        /* UCCX takes E.164 numbers: a leading + means international. */
        ok |= system == SIM_RULES_UCCX && ch == '+' && i == 0;
        if (!ok) {
            return system == SIM_RULES_UCCE ? "phone has a character other than 0-9 # *"
                                            : "phone is not a valid number";
        }
    }
    rec_copy(dst, text, len);
    return NULL;
}

const char *sim_rec_set_field(sim_rules system, sim_contact *c, int field, const char *text,
                              size_t len)
{
    if (memchr(text, '\0', len) || !ecm_utf8_valid(text, len)) {
        return "field is not valid UTF-8 text";
    }
    if (field == 0) {
        size_t max = system == SIM_RULES_UCCE ? SIM_UCCE_ACCOUNT_MAX : SIM_UCCX_ACCOUNT_MAX;
        if (len > max) {
            return system == SIM_RULES_UCCE ? "AccountNumber longer than 30 bytes"
                                            : "Account Number longer than 25 characters";
        }
        rec_copy(c->account_number, text, len);
        return NULL;
    }
    if (field == 1 || field == 2) {
        if (ecm_utf8_chars(text, len) > SIM_NAME_CHARS) {
            return field == 1 ? "first name longer than 50 characters"
                              : "last name longer than 50 characters";
        }
        rec_copy(field == 1 ? c->first_name : c->last_name, text, len);
        return NULL;
    }
    int nphones = system == SIM_RULES_UCCE ? SIM_UCCE_PHONES : SIM_UCCX_PHONES;
    if (field >= 10 && field < 10 + nphones) {
        return rec_set_phone(system, c->phone[field - 10], text, len);
    }
    return "unknown field";
}

const char *sim_rec_set_tz_text(sim_contact *c, const char *bias, const char *dst)
{
    c->has_tz = 0;
    c->tz_bias = 0;
    c->dst_observed = 0;
    if (bias[0]) {
        char *end = NULL;
        errno = 0;
        long v = strtol(bias, &end, 10);
        if (errno != 0 || end == bias || *end != '\0') {
            return "TimeZoneBias is not an integer";
        }
        if (v < SIM_TZ_BIAS_MIN || v > SIM_TZ_BIAS_MAX) {
            return "TimeZoneBias outside -780..720";
        }
        c->has_tz = 1;
        c->tz_bias = (int)v;
    }
    if (dst[0]) {
        if (!c->has_tz) {
            return "DstObserved without TimeZoneBias";
        }
        if (strcasecmp(dst, "true") == 0) {
            c->dst_observed = 1;
        } else if (strcasecmp(dst, "false") != 0) {
            return "DstObserved is neither true nor false";
        }
    }
    return NULL;
}

const char *sim_rec_check(sim_rules system, const sim_contact *c)
{
    if (c->account_number[0] == '\0') {
        return "account number is empty";
    }
    if (system == SIM_RULES_UCCX) {
        return c->phone[0][0] ? NULL : "Phone1 is empty";
    }
    for (int p = 0; p < SIM_UCCE_PHONES; p++) {
        if (c->phone[p][0]) {
            return NULL;
        }
    }
    return "no phone number";
}

int sim_rec_gmt_offset(int tz_bias)
{
    if (tz_bias > 0) {
        return 1440 - tz_bias;
    }
    return -tz_bias;
}

int sim_rec_uccx_result(int ucce_code)
{
    /* UCCE CallResult (docs/cisco-research.md §4.5) -> UCCX callResult (§1.4). */
    static const signed char map[34] = {
        [0] = 17,  [1] = 17,  [2] = 17,  [3] = 4,   [4] = 17,  [5] = 4,   [6] = 17,
        [7] = 4,   [8] = 15,  [9] = 11,  [10] = 1,  [11] = 2,  [12] = 3,  [13] = 16,
        [14] = 8,  [15] = 8,  [16] = 16, [17] = 17, [18] = 9,  [19] = 10, [20] = 16,
        [21] = 18, [22] = 3,  [23] = 6,  [24] = 7,  [25] = 17, [26] = 5,  [27] = 17,
        [28] = 15, [29] = 17, [30] = 17, [31] = 17, [32] = 17, [33] = 12,
    };
    if (ucce_code < 0 || ucce_code >= (int)sizeof map) {
        return 17;
    }
    return map[ucce_code];
}

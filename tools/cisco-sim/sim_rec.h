/* One contact record as the simulator's Cisco systems take it, and Cisco's
 * validation rules for it: UCCE's (Outbound API import and import rule,
 * docs/cisco-research.md §3.2) and UCCX's (REST import, §2.2), plus the one
 * table that translates the dialer's UCCE CallResult into a UCCX callResult.
 * Pure functions: no allocation, thread-safe. */
#ifndef SIM_REC_H
#define SIM_REC_H

#include <stddef.h>

/* UCCE: AccountNumber <= 30 bytes, names <= 50 characters, Phone01..10
 * <= 20 bytes of 0-9 # *. UCCX: Account Number <= 25, names <= 50, Phone1..3
 * <= 28. Buffers hold the larger of both. */
#define SIM_UCCE_ACCOUNT_MAX 30
#define SIM_UCCX_ACCOUNT_MAX 25
#define SIM_NAME_CHARS 50
#define SIM_UCCE_PHONE_MAX 20
#define SIM_UCCX_PHONE_MAX 28
#define SIM_UCCE_PHONES 10
#define SIM_UCCX_PHONES 3
#define SIM_TZ_BIAS_MIN (-780)
#define SIM_TZ_BIAS_MAX 720

#define SIM_ACCOUNT_BUF (SIM_UCCE_ACCOUNT_MAX + 1)
#define SIM_NAME_BUF (SIM_NAME_CHARS * 4 + 1)
#define SIM_PHONE_BUF (SIM_UCCX_PHONE_MAX + 1)

typedef struct {
    char account_number[SIM_ACCOUNT_BUF];
    char first_name[SIM_NAME_BUF];
    char last_name[SIM_NAME_BUF];
    char phone[SIM_UCCE_PHONES][SIM_PHONE_BUF]; /* "" when absent */
    int has_tz;                                 /* TimeZoneBias given */
    int tz_bias;                                /* minutes, UTC = local + bias */
    int dst_observed;                           /* 0/1; 0 when not given */
} sim_contact;

/* Which Cisco system's rules apply. */
typedef enum { SIM_RULES_UCCE = 0, SIM_RULES_UCCX = 1 } sim_rules;

/* Sets one field of c from text of len bytes under system's limits.
 * field: 0 account, 1 first name, 2 last name, 10..19 phone 1..10 (UCCX:
 * 10..12). Returns NULL, or the reason it is refused (static text). */
const char *sim_rec_set_field(sim_rules system, sim_contact *c, int field, const char *text,
                              size_t len);

/* UCCE TimeZoneBias / DstObserved as text ("" = absent). Returns NULL or the
 * reason (static text). */
const char *sim_rec_set_tz_text(sim_contact *c, const char *bias, const char *dst);

/* Whole-record checks after every field is set: a non-empty account number,
 * at least one phone (UCCX: Phone1). Returns NULL or the reason. */
const char *sim_rec_check(sim_rules system, const sim_contact *c);

/* Cisco's Import API gmtOffset of a TimeZoneBias: minutes east of UTC
 * wrapped into 0..1439 (positive bias: 1440 - bias; negative: -bias). */
int sim_rec_gmt_offset(int tz_bias) __attribute__((warn_unused_result));

/* The UCCX callResult (1..18) of a UCCE CallResult the dialer decided; codes
 * with no UCCX meaning go to the nearest one (docs/cisco-sim.md). */
int sim_rec_uccx_result(int ucce_code) __attribute__((warn_unused_result));

#endif

/* A token bucket: `rate` tokens a second, holding at most `burst`. Pure
 * (the caller passes the clock), so it is tested without sleeping. One per
 * SMS gateway paces sends to the gateway's configured rate. */
#ifndef SMS_BUCKET_H
#define SMS_BUCKET_H

#include <stdint.h>

typedef struct {
    double rate;   /* tokens per second, > 0 */
    double burst;  /* capacity, >= 1 */
    double tokens; /* current level */
    int64_t last_ms;
} sms_bucket;

/* Starts full at now_ms. burst < 1 is taken as 1; rate <= 0 as 1. Can't fail. */
void sms_bucket_init(sms_bucket *b, double rate, double burst, int64_t now_ms);

/* Takes one token if there is one at now_ms. Returns 1 when taken, else 0.
 * A clock that goes backwards adds nothing. */
int sms_bucket_take(sms_bucket *b, int64_t now_ms);

/* Milliseconds from now_ms until one token is there (0 if one is). */
int64_t sms_bucket_wait_ms(sms_bucket *b, int64_t now_ms);

#endif

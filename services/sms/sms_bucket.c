#include "sms_bucket.h"

#include <math.h>

static void refill(sms_bucket *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ms = now_ms;
    }
}

void sms_bucket_init(sms_bucket *b, double rate, double burst, int64_t now_ms)
{
    b->rate = rate > 0 ? rate : 1;
    b->burst = burst >= 1 ? burst : 1;
    b->tokens = b->burst;
    b->last_ms = now_ms;
}

int sms_bucket_take(sms_bucket *b, int64_t now_ms)
{
    refill(b, now_ms);
    if (b->tokens < 1.0)
        return 0;
    b->tokens -= 1.0;
    return 1;
}

int64_t sms_bucket_wait_ms(sms_bucket *b, int64_t now_ms)
{
    refill(b, now_ms);
    if (b->tokens >= 1.0)
        return 0;
    return (int64_t)ceil((1.0 - b->tokens) * 1000.0 / b->rate);
}

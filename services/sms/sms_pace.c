#include "sms_pace.h"

#include "ecm_clock.h"
#include "sms_held.h"

#define SMS_REFILL_MS 20
#define SMS_REFILL_MAX_DONE 256
#define SMS_IDLE_WAIT_MS 20

int sms_pace_inflight(const sms_sender *s)
{
    int n = 0;
    for (size_t i = 0; i < s->nlanes; i++)
        n += sms_gw_inflight(s->lanes[i].gw);
    return n;
}

int sms_pace_submit(sms_lane *ln, int64_t now)
{
    int n = 0;
    while (ln->wait_head && !ln->wait_head->recheck && now >= ln->paused_until_ms &&
           sms_gw_room(ln->gw) > 0) {
        if (!sms_bucket_take(&ln->bucket, now))
            break;
        sms_item *it = sms_held_pop(ln);
        sms_gw_msg m = {it->message_id, it->phone, it->from, it->text, it->encoding};
        if (sms_gw_submit(ln->gw, &m, it) < 0) {
            /* Local failure (memory): try again on a later pass. */
            sms_held_push_front(ln, it);
            break;
        }
        n++;
    }
    return n;
}

void sms_pace_refill(sms_sender *s)
{
    if (s->draining)
        return;
    int64_t until = ecm_clock_mono_ms() + SMS_REFILL_MS;
    for (;;) {
        int64_t now = ecm_clock_mono_ms();
        if (now >= until || s->ndone >= SMS_REFILL_MAX_DONE || sms_pace_inflight(s) == 0)
            break;
        for (size_t i = 0; i < s->nlanes; i++)
            sms_pace_submit(&s->lanes[i], now);
        int left = (int)(until - now);
        for (size_t i = 0; i < s->nlanes; i++) {
            sms_lane *ln = &s->lanes[i];
            if (sms_gw_inflight(ln->gw) > 0)
                sms_gw_poll(ln->gw, left / (int)s->nlanes);
        }
    }
}

void sms_pace_idle(void *arg, int fd)
{
    sms_sender *s = arg;
    int64_t now = ecm_clock_mono_ms();
    if (!s->draining && s->ndone < SMS_REFILL_MAX_DONE) {
        for (size_t i = 0; i < s->nlanes; i++)
            sms_pace_submit(&s->lanes[i], now);
    }
    sms_lane *wait_on = &s->lanes[0];
    for (size_t i = 0; i < s->nlanes; i++) {
        if (sms_gw_inflight(s->lanes[i].gw) > 0) {
            wait_on = &s->lanes[i];
            break;
        }
    }
    for (size_t i = 0; i < s->nlanes; i++) {
        if (&s->lanes[i] != wait_on && sms_gw_inflight(s->lanes[i].gw) > 0)
            sms_gw_poll(s->lanes[i].gw, 0);
    }
    sms_gw_poll_fd(wait_on->gw, fd, SMS_IDLE_WAIT_MS);
}

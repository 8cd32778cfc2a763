/* The SMS sender's state, shared by the files that make it up: sms_held
 * (the messages it holds), sms_take (taking queued work), sms_lease and
 * sms_recover (leases, crashed senders' attempts), sms_judge and sms_recheck
 * (judging recorded attempts again), sms_answer (the gateways' answers),
 * sms_pace (sending at each gateway's rate) and sms_sender (the loop).
 * Nothing outside the sender includes it: the rest of the service sees the
 * opaque sms_sender of sms_sender.h. Types only. */
#ifndef SMS_STATE_H
#define SMS_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_gate.h"
#include "ecm_metrics.h"
#include "ecm_pg.h"
#include "ecm_sms.h"
#include "sms_bucket.h"
#include "sms_gw.h"
#include "sms_sender.h"

#define SMS_MESSAGE_ID_MAX 64

typedef enum { SMS_ITEM_CONTACT, SMS_ITEM_SYSTEM } sms_item_kind;

typedef struct sms_lane sms_lane;

/* One message this process holds: waiting for its turn, in flight, or
 * answered and not yet recorded. Its attempt is 'sending' in the DB the
 * whole time, under this process's lease. */
typedef struct sms_item {
    struct sms_item *next;                /* in a lane's waiting list or the done list */
    struct sms_item *all_prev, *all_next; /* every held item (lease renewal) */
    sms_item_kind kind;
    sms_lane *lane;
    int64_t contact_id, campaign_id, system_id;
    int attempt;
    int segments;
    ecm_sms_encoding encoding;
    char message_id[SMS_MESSAGE_ID_MAX];
    char *phone, *from, *text;
    int tries;
    /* Before the next send (after a retry, or recovered): judged again,
     * since the number may have opted out, the calling window closed or the
     * campaign been paused meanwhile. */
    int recheck;
    sms_gw_result res;
} sms_item;

/* One gateway, the messages waiting for it and its pace. */
struct sms_lane {
    sms_sender *owner;
    sms_gw *gw;
    const char *name;
    sms_bucket bucket;
    int64_t paused_until_ms;
    /* After a take found nothing, the campaigns are asked again from then
     * on (SMS_TAKE_IDLE_MS later; sms_sender.c). */
    int64_t idle_until_ms;
    long backoff_ms;
    sms_item *wait_head, *wait_tail;
    size_t nwait;
    size_t hold; /* messages to keep ready */
    size_t rr;   /* campaign to start with next time (fairness) */
    /* Age of a crashed sender's lease after which its attempt (or system
     * message) is sent again: resend_after_s for Kannel, stale_s for the
     * generic gateway (sms_sender_config). */
    long resend_after_s;
    ecm_metric *sent;
};

struct sms_sender {
    ecm_pg *pg;
    sms_sender_config cfg;
    sms_lane lanes[SMS_SENDER_MAX_GATEWAYS];
    size_t nlanes;
    sms_lane *system_lane;
    sms_item *done_head, *done_tail;
    size_t ndone;
    sms_item *all;
    size_t nall;
    int64_t next_lease_ms, next_recover_ms;
    int draining;
    ecm_metric *rejected, *inflight, *recovered, *dnc_blocked, *render_failed;
    ecm_gate *gate;
};

#endif

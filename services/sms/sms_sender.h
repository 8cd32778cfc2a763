/* DB -> SMS gateways. Takes queued contacts of active SMS campaigns through
 * the dispatch gate (ecm_gate: a number on a DNC list is skipped, a contact
 * whose numbers are all on one is closed DNC, one outside its calling
 * window waits for it, one past the campaign's end_at is closed EXPIRED;
 * none of them is sent), renders the campaign's template, records each
 * attempt 'sending' with a new message id and commits BEFORE the request
 * goes out; then sends at each gateway's rate, concurrently. Accepted ->
 * 'sent' + ContactDispatched; a final reject -> 'done' +
 * SmsResult(SMS_REJECTED) for the strategy; 503, timeout, refused -> the
 * same attempt, same message id, again after a per-gateway backoff. System
 * messages (opt-out confirmations, HELP answers) go the same way. All events
 * through the outbox.
 *
 * Pausing: contacts are taken with their campaign row share-locked and
 * state 'active' checked in the same statement, so a pause either waits for
 * the batch being taken or stops the next one. Messages taken before the
 * pause (at most the lanes' hold) still go out: they were recorded while
 * the campaign was active. A message held for a retry is not (below).
 *
 * Recovery: an attempt left 'sending' by a sender that died is taken over
 * once its lease is stale_s old. One that got a DLR (any code) was taken by
 * the gateway: it is recorded 'sent', never sent again. The others are sent
 * again with the same message id, on a Kannel lane only once the lease is
 * resend_after_s old (a late DLR closes the attempt meanwhile), and judged
 * again before they go: only for a campaign that is
 * active (a paused or stopped one's wait untouched, like its other open
 * contacts), only inside the calling window in the contact's zone for the
 * recorded number (outside it, it stays 'sending' with its lease pushed
 * towards the opening, and is judged again then), and only before end_at
 * (after it, or in an expired campaign: the attempt is done and the
 * contact closed EXPIRED).
 *
 * Retries: a message held in memory after a retryable answer (or just
 * recovered) is judged again the same way before it goes out, in one
 * statement per lane pass for all of them: its number on DNC now -> the
 * attempt done and the contact closed DNC; its campaign paused or stopped
 * meanwhile -> not sent, dropped from memory, the attempt left 'sending'
 * and recovered once the campaign is resumed; its calling window closed
 * meanwhile -> not sent, dropped from memory, the attempt left 'sending'
 * with its lease running out at the opening, when recovery sends it (same
 * message id); past end_at -> closed EXPIRED. */
#ifndef SMS_SENDER_H
#define SMS_SENDER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ecm_calling.h"
#include "ecm_pg.h"
#include "ecm_pgarray.h"
#include "sms_ctx.h"
#include "sms_gw.h"

#define SMS_SENDER_MAX_GATEWAYS 2

typedef struct {
    sms_gw_config gw; /* gw.name is the gateway's name in campaigns.sms_gateway */
    double rate;      /* messages per second */
} sms_lane_config;

typedef struct {
    const sms_ctx *ctx; /* topics, source, metrics, system sender */
    sms_lane_config lanes[SMS_SENDER_MAX_GATEWAYS];
    size_t nlanes;
    const char *default_gateway; /* for campaigns whose sms_gateway is NULL */
    const char *system_gateway;  /* for system messages */
    long batch;                  /* most contacts taken per transaction */
    long tick_ms;                /* idle wait between passes */
    /* An attempt 'sending' whose lease (sending_at) is older than this
     * belongs to no live sender (crash) and is sent again by whoever finds
     * it. Must exceed the request timeout by a good margin. */
    long stale_s;
    /* Kannel can't be asked whether it took a message and would send a
     * re-sent one twice: a crashed sender's attempt on a Kannel lane is
     * sent again only once its lease is this old (>= stale_s), so that a
     * late DLR closes it first. An attempt that got any DLR is recorded
     * 'sent' after stale_s instead, on every lane. The generic gateway
     * recognises a message id it already has and keeps stale_s. */
    long resend_after_s;
    long backoff_max_ms; /* cap on a gateway's backoff after a retryable failure */
    /* A lane whose take found no queued contact asks again this much later
     * (< 1: SMS_TAKE_IDLE_MS, 100 ms; sms_sender.c says why). */
    long take_idle_ms;
    /* The deployment's legal hours (ECM_LEGAL_HOURS); all zero: 08:00-21:00. */
    ecm_legal_hours legal;
} sms_sender_config;

typedef struct sms_sender sms_sender;

/* Creates the sender on pg (not owned; used from the sender's thread only)
 * with one gateway per lane. Returns NULL (logged) on failure. */
sms_sender *sms_sender_new(ecm_pg *pg, const sms_sender_config *cfg)
    __attribute__((warn_unused_result));

/* Finishes nothing: requests in flight are dropped (their attempts stay
 * 'sending' and are recovered as a crashed sender's: after stale_s, on a
 * Kannel lane after resend_after_s). Use sms_sender_drain() first
 * for an orderly stop. */
void sms_sender_destroy(sms_sender *s);

/* One pass: records results that came in, renews leases and recovers stale
 * attempts when due, takes more work where a gateway has room, submits
 * what the rate allows, and waits up to wait_ms for answers. Returns the
 * number of messages taken, answered or recorded (0 when idle), or -1
 * when the DB failed (the caller backs off; nothing is lost; a caller that
 * only drives the sender, as tests do, may ignore the result). */
int sms_sender_step(sms_sender *s, int wait_ms);

/* Stops taking work and waits (bounded by timeout_ms) for requests in
 * flight to be answered and recorded. What is left stays 'sending' for
 * recovery; what was never submitted is handed back for any sender's next
 * recovery pass (sms_lease_release_unsent). */
void sms_sender_drain(sms_sender *s, long timeout_ms);

/* Loops sms_sender_step() until *stop, backing off (capped) after DB
 * failures, then drains. */
void sms_sender_run(sms_sender *s, volatile sig_atomic_t *stop, long drain_timeout_ms);

/* Requests in flight plus messages held for sending (for tests). */
size_t sms_sender_pending(const sms_sender *s);

#endif

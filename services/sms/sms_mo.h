/* Inbound messages (MO): GET /sms/mo?key=..&from=..&to=..&text=.. (Kannel's
 * get-url, a GET by Kannel's design) and POST /sms/mo with a form or JSON
 * {"from","to","text"} (the generic gateway). The MO key (ECM_SMS_MO_KEY)
 * comes as the key argument (query or body) or the X-ECM-Key header;
 * without it the answer is 403 and nothing changes.
 * Opt-out keywords (CTIA, plus the FCC's 2024 list) put the sender on the
 * global DNC list at once and close every open contact with that number, in
 * any campaign, as DNC; opt-in keywords take the number off again; HELP
 * gets the configured help text. Confirmations and answers are queued in
 * sms_system_messages, in the same transaction, for the sender to send,
 * within the reply limits of sms_ctx (per number and kind, and in all per
 * business minute): over a limit the keyword still takes effect, only the
 * reply is held back (ecm_sms_replies_suppressed_total{kind,reason}). */
#ifndef SMS_MO_H
#define SMS_MO_H

#include <stddef.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "sms_ctx.h"

typedef enum {
    SMS_MO_NONE = 0, /* not a keyword: recorded only */
    SMS_MO_OPT_OUT,  /* STOP, STOPALL, END, CANCEL, UNSUBSCRIBE, QUIT, REVOKE, OPTOUT */
    SMS_MO_OPT_IN,   /* START, YES, UNSTOP */
    SMS_MO_HELP,     /* HELP, INFO */
} sms_mo_action;

/* Reads text as a keyword: leading and trailing whitespace and ASCII
 * punctuation are ignored, case too, and the whole rest must be the keyword
 * ("Stop!" and " stop. " are STOP; "stop it" and "STOPPED" are not).
 * *keyword (may be NULL) gets the keyword in upper case, or NULL for
 * SMS_MO_NONE. text NULL is SMS_MO_NONE. Pure, can't fail. */
sms_mo_action sms_mo_parse(const char *text, const char **keyword);

/* The name stored in sms_inbound.action: "opt_out", "opt_in", "help",
 * "none". */
const char *sms_mo_action_name(sms_mo_action a);

/* Normalises a sender number as the gateway gives it ("+1 555-123-0001",
 * "15551230001") to digits with an optional leading '+'. Returns 0, or -1
 * when raw is not a phone number (letters, fewer than 7 or more than 20
 * digits: an alphanumeric sender can't be put on the DNC list). */
int sms_mo_phone_normalize(const char *raw, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* The header a generic gateway may carry the MO key in. */
#define SMS_MO_KEY_HEADER "X-ECM-Key"

typedef enum {
    SMS_MO_REPLY_NONE = 0,   /* no reply was due */
    SMS_MO_REPLY_SENT,       /* queued */
    SMS_MO_REPLY_PER_NUMBER, /* held back: this number had one of this kind recently */
    SMS_MO_REPLY_GLOBAL,     /* held back: the cap on replies per minute is reached */
} sms_mo_reply;

typedef struct {
    sms_mo_action action;
    int dnc_changed;    /* opt-out: number added; opt-in: number removed */
    int closed;         /* contacts closed DNC */
    int replies;        /* messages queued in sms_system_messages (0 or 1) */
    sms_mo_reply reply; /* what became of the reply due, if any */
} sms_mo_info;

/* Handles one inbound message in one transaction on pg: records it in
 * sms_inbound and, for a keyword from a phone number, applies it. Opt-out:
 * a revoke of every channel on every campaign goes into the consent ledger
 * (source stop_keyword, actor sms-mo; db/017), every contact not closed
 * with that number among its phones (compared by digits), voice or SMS, is
 * closed DNC with a ContactClosed event on ctx->common->topic_closed, and
 * the confirmation ctx->optout_text is queued only when the number was not
 * revoked on both channels already (a repeated STOP is recorded, gets no
 * second one). Opt-in: a grant of the channels whose revokes since their
 * last grant were all STOP keywords (an administrator's or an agent's
 * revoke stays) and ctx->optin_text queued when there was one; closed
 * contacts stay closed. HELP: ctx->help_text is queued. An empty or NULL text in ctx
 * queues nothing. Each reply is queued only within ctx->reply_interval_s
 * per number and kind and ctx->reply_max_per_minute in all (business
 * clock, rows in sms_reply_log / sms_reply_window); info->reply says what
 * became of it, and a held-back one counts
 * ecm_sms_replies_suppressed_total{kind,reason}. A deadlock or lost
 * connection is retried. Returns 0 with info filled (may be NULL), or -1
 * after a rollback (logged). */
int sms_mo_apply(ecm_pg *pg, const sms_ctx *ctx, const char *from, const char *to, const char *text,
                 sms_mo_info *info) __attribute__((warn_unused_result));

/* Adds GET and POST /sms/mo to http; ctx must outlive it. Returns 0, or -1
 * when the route table is full. */
int sms_mo_register(ecm_http *http, const sms_ctx *ctx) __attribute__((warn_unused_result));

#endif

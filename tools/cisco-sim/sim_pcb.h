/* UCCE personal callbacks in the simulator: Cisco's Personal_Callback_List
 * table (docs/cisco-research.md §4.3), which ECM writes over ODBC when
 * Outbound HA is off, and the Personal Callback API (§3.5,
 * POST/GET /unifiedconfig/config/personalcallback) it uses when HA is on.
 * The dialer (sim_store_dial_batch) dials a pending callback once its
 * CallbackDateTime, in the Logger's time zone (ECM_SIM_LOGGER_TIME_ZONE),
 * has come, writing a Dialer_Detail row with DialingListID =
 * PersonalCallbackListID and AgentPeripheralNumber = the agent. */
#ifndef SIM_PCB_H
#define SIM_PCB_H

#include <stddef.h>

#include "ecm_http.h"
#include "ecm_pg.h"
#include "sim_rec.h"
#include "sim_store.h"

/* Cisco: Phone <= 20 bytes of 0-9 # *, AccountNumber <= 30 bytes (API),
 * names <= 50, a callback time 15 minutes or more in the past refused. */
#define SIM_PCB_PHONE_MAX 20
#define SIM_PCB_ACCOUNT_MAX 30
#define SIM_PCB_PAST_LIMIT_MIN 15
/* "yyyy-MM-ddTHH:mm:ss" */
#define SIM_PCB_TIME_LEN 19

/* One personal callback. */
typedef struct {
    long long id; /* PersonalCallbackListID (0 before insertion) */
    int campaign_id;
    long long agent_id; /* the agent's peripheral number (see docs/cisco-sim.md) */
    char phone[SIM_PCB_PHONE_MAX + 1];
    char account[SIM_PCB_ACCOUNT_MAX + 3]; /* the table takes 32 */
    int max_attempts;
    char callback[SIM_PCB_TIME_LEN + 1]; /* Logger-local "yyyy-MM-ddTHH:mm:ss" */
    char first_name[SIM_NAME_BUF];
    char last_name[SIM_NAME_BUF];
    char call_status; /* 'P' pending, 'C' closed, ... */
    int call_result;
} sim_pcb;

/* Parses the API's <personalCallback> body (campaign and agent as
 * <campaign><refURL>…/campaign/{id}</refURL></campaign>, <agent> likewise,
 * phone, accountNumber, maxAttempts, callbackDateTime, firstName, lastName)
 * with Cisco's validation: phone, maxAttempts (> 0), callbackDateTime
 * (yyyy-MM-ddTHH:mm:ss, a real time), campaign and agent required; limits
 * as above. Does not judge the time against now (sim_store_pcb_insert does).
 * Returns 0 with *out, or -1 with one line in errstr. */
int sim_pcb_parse(const char *body, size_t len, sim_pcb *out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Inserts p as Cisco's API does: CallStatus 'P', InsertedIntoDBDateTime =
 * now in logger_zone, SentToDialerDateTime left NULL; refused when
 * p->callback is SIM_PCB_PAST_LIMIT_MIN minutes or more before now in
 * logger_zone. Returns 0 with *id, 1 when refused for the time, -1 (logged). */
int sim_store_pcb_insert(sim_store *s, const sim_pcb *p, const char *logger_zone, long long *id)
    __attribute__((warn_unused_result));

/* Pages through Personal_Callback_List by PersonalCallbackListID: rows
 * whose AccountNumber contains account (case-insensitive, Cisco's search;
 * NULL: all), from start, at most count; *total matching rows. Returns 0
 * or -1 (logged). */
typedef int (*sim_pcb_visit_fn)(void *ctx, const sim_pcb *p);
int sim_store_pcb_list(sim_store *s, const char *account, long long start, long long count,
                       long long *total, sim_pcb_visit_fn fn, void *ctx)
    __attribute__((warn_unused_result));

/* Inside the dialing tick's transaction: dials up to limit pending
 * personal callbacks (CallStatus 'P', MaxAttempts > 0) whose
 * CallbackDateTime has come in logger_zone, earliest first: decide(pcb = 1)
 * gives the result; the row gets CallStatus 'C', CallResult,
 * MaxAttempts - 1, SentToDialerDateTime; one Dialer_Detail row each
 * (DialingListID = PersonalCallbackListID, AgentPeripheralNumber = AgentID,
 * CampaignID, Phone, AccountNumber). codes[code]++ per dial. Returns 0 with
 * *dialed, or -1 (the caller rolls back). */
int store_pcb_dial(ecm_pg *pg, long long limit, const char *logger_zone, sim_dial_decide_fn decide,
                   void *ctx, int codes[SIM_STATS_MAX_CODES], size_t *dialed)
    __attribute__((warn_unused_result));

typedef struct {
    const char *user;
    const char *password;
    const char *logger_zone;
} sim_pcb_api_config;

/* Adds POST and GET /unifiedconfig/config/personalcallback (HTTP Basic) to
 * h; cfg's strings and store must outlive h. Returns 0 or -1. */
int sim_pcb_add_routes(ecm_http *h, const sim_pcb_api_config *cfg, sim_store *store)
    __attribute__((warn_unused_result));

#endif

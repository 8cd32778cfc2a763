/* The earlier attempts a contact's rules look at (caps, quiet periods), read
 * for a whole batch of contacts with one statement inside the caller's
 * transaction: each contact's own attempts, those of every contact with the
 * same subject key (a debt, any campaign) and those to the same number (any
 * campaign), dispatched since a given instant. Each attempt carries which of
 * the three it shares with the contact (ECM_RULES_SAME_* bits), so a rule
 * counts only its own scope.
 *
 * Two dispatchers (the feeder and the sms service, or two replicas) judging
 * contacts of one subject or one number at the same time would each see the
 * other's attempt missing and could pass a cap together. So the load first
 * takes a transaction advisory lock per distinct subject and number (sorted,
 * so that two batches never wait on each other in a circle); the second
 * dispatcher then reads the first one's attempt once it commits. */
#ifndef ECM_HISTORY_H
#define ECM_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_pg.h"
#include "ecm_rules.h"

/* Who a contact is for the history: any field may be NULL or "" (not
 * looked at). */
typedef struct {
    int64_t contact_id;
    const char *subject_key; /* contacts.subject_key */
    const char *phone_key;   /* digits of the number about to be used */
} ecm_history_key;

typedef struct ecm_history ecm_history;

/* The digits of phone (attempts.phone_key, dnc.phone_key), a new string the
 * caller frees; NULL when out of memory. */
char *ecm_history_phone_key(const char *phone) __attribute__((warn_unused_result));

/* Inside the caller's open transaction: when lock is 1, locks the subjects
 * and numbers of keys (pg_advisory_xact_lock, released at the caller's
 * commit or rollback: a dispatcher does, a scheduler need not) and reads
 * the attempts in scope of each key dispatched, or given their outcome
 * (attempts.outcome_at), at or after since_ms (business time). The keys'
 * strings are copied. Returns the history (ecm_history_destroy), or NULL
 * when a statement fails (the caller rolls back) or memory runs out. n 0
 * gives an empty history. */
ecm_history *ecm_history_load(ecm_pg *pg, const ecm_history_key *keys, size_t n, int64_t since_ms,
                              int lock) __attribute__((warn_unused_result));

/* The attempts of key i (any order); *count gets their number. The array
 * stays valid until the next ecm_history_add_dispatch() or
 * ecm_history_destroy(). i out of range gives NULL and 0. Can't fail. */
const ecm_rules_attempt *ecm_history_of(const ecm_history *h, size_t i, size_t *count);

/* Records that key i was just given a dispatch at at_ms on channel ch (in
 * this batch, not yet in the table): every key sharing its contact, subject
 * or number sees it from now on, with the matching bits, so a batch cannot
 * pass a cap by itself. Returns 0, or -1 when memory runs out (h is
 * unchanged for the keys not yet extended: the caller fails the batch). */
int ecm_history_add_dispatch(ecm_history *h, size_t i, int64_t at_ms, ecm_rules_channel ch)
    __attribute__((warn_unused_result));

/* Frees h. h may be NULL. */
void ecm_history_destroy(ecm_history *h);

#endif

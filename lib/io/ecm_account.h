/* The account number ECM gives the dialer with each contact and reads back
 * from its results: "<contact_id>-<attempt>", so that a result names both
 * the contact and the attempt it answers. */
#ifndef ECM_ACCOUNT_H
#define ECM_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

/* Writes the account number of attempt (1-based) on contact_id into out.
 * Returns 0, or -1 with out "" when it would not fit (out_size < 31 is never
 * enough) or an argument is out of range. */
int ecm_account_format(char *out, size_t out_size, int64_t contact_id, int attempt)
    __attribute__((warn_unused_result));

/* Parses an account number back (either out pointer may be NULL). Returns 0,
 * or -1 when it is not one of ours (leading zeros, signs, overflow, anything
 * after the attempt). */
int ecm_account_parse(const char *s, int64_t *contact_id, int *attempt)
    __attribute__((warn_unused_result));

#endif

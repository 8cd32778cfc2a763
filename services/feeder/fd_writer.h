/* How the feeder hands contacts to a Cisco dialer, whatever the interface:
 * one writer per target kind (uccx: UCCX REST import, ucce_api: the UCCE
 * Outbound API import, ucce_db: rows in the campaign's import table over
 * ODBC), each answering the same three questions: take this batch, which of
 * these accounts do you already have (pending or already dialled), and how
 * long have you answered every request since one you may still carry out.
 * The dispatcher and the reconciler only see this interface.
 *
 * A target is "<kind>:<cisco_campaign_id>" (attempts.target). A writer is
 * used by one thread at a time. */
#ifndef FD_WRITER_H
#define FD_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_odbc.h"
#include "ecm_pg.h"
#include "fd_uccx.h"

typedef enum {
    FD_KIND_UCCX = 0,
    FD_KIND_UCCE_API,
    FD_KIND_UCCE_DB,
    FD_KIND_N,
} fd_kind;

/* "uccx", "ucce_api", "ucce_db" (campaigns.cisco_kind); "?" out of range.
 * Can't fail. */
const char *fd_kind_name(fd_kind k);

/* The kind named by the first len bytes of s. Returns 0, or -1 when none. */
int fd_kind_parse(const char *s, size_t len, fd_kind *out) __attribute__((warn_unused_result));

/* Longest Cisco campaign id a target carries. */
#define FD_CISCO_ID_MAX 63

/* One target with what its campaigns say about it. */
typedef struct {
    fd_kind kind;
    char cisco_id[FD_CISCO_ID_MAX + 1];
    /* ucce_db: the import table the campaigns name (the active one with the
     * lowest id; campaigns sharing a target must name the same table) and
     * the dialing list Cisco builds from it (cisco_dialing_list, default
     * DL_<cisco_id>_1). Both validated by ecm_odbc_validate_identifier().
     * Empty for other kinds. */
    char import_table[ECM_ODBC_IDENT_MAX + 1];
    char dialing_list[ECM_ODBC_IDENT_MAX + 1];
} fd_target;

/* Parses "<kind>:<id>" into t (tables left empty). Returns 0, or -1 when the
 * kind is unknown or the id empty or too long. */
int fd_target_parse(const char *target, fd_target *t) __attribute__((warn_unused_result));

/* Formats t's "<kind>:<id>" into out. Returns 0, or -1 when it does not fit. */
int fd_target_format(const fd_target *t, char *out, size_t out_size)
    __attribute__((warn_unused_result));

/* For ucce_db: reads the import table and dialing list of t's campaigns from
 * the ECM DB (outside or inside the caller's transaction) and validates
 * them. Other kinds: nothing to do, 0. Returns 0, -1 (DB; logged) or -2 (no
 * campaign names a usable import table; logged). */
int fd_target_load(ecm_pg *pg, fd_target *t) __attribute__((warn_unused_result));

/* One contact to hand over. Strings are borrowed; any may be NULL except
 * account_number. ECM sends one number per attempt (the gate's pick). */
typedef struct {
    const char *account_number;
    const char *first_name;
    const char *last_name;
    const char *phone;
    const char *time_zone; /* IANA zone of the contact (else its campaign's) */
    /* A personal callback (UCCE, fd_pcb.h): the agent's peripheral number
     * (NULL or "": an ordinary contact) and its time (UTC ms). */
    const char *pcb_agent;
    int64_t pcb_at_ms;
} fd_contact;

/* What a writer implements. Statuses and results are fd_uccx's, for every
 * kind: OK taken; UNAVAILABLE not taken now (res->settled says whether it
 * may still land); REJECTED refused for good; FAILED a local failure. */
typedef struct {
    fd_uccx_status (*post)(void *impl, const fd_target *t, const fd_contact *c, size_t n,
                           fd_uccx_result *res);
    /* present[i] = 1 when the dialer has accounts[i] (pending or dialled),
     * else 0. Anything other than OK means "don't know": a source that could
     * not be read never passes for an empty one. */
    fd_uccx_status (*find)(void *impl, const fd_target *t, const char *const *accounts, size_t n,
                           int *present, fd_uccx_result *res);
    /* Takes back from the dialer records it has not dialled yet, where the
     * interface allows: with whole = 1 (the caller made sure no ECM campaign
     * that wants its records dialled uses t) every record of t's Cisco
     * campaign not dialled yet (UCCX: DELETE …/contacts; Outbound API:
     * DELETE …/import); the import table's rows of the n accounts whatever
     * whole says (ucce_db: not imported yet). *withdrew = 1 when the dialer
     * was asked (the caller then decides each account from find()), 0 when
     * the interface can't withdraw here (nothing asked). NULL: never. */
    fd_uccx_status (*withdraw)(void *impl, const fd_target *t, const char *const *accounts,
                               size_t n, int whole, int *withdrew, fd_uccx_result *res);
    /* fd_uccx_answering_ms()'s meaning. */
    long long (*answering_ms)(const void *impl);
    void (*destroy)(void *impl);
} fd_writer_ops;

typedef struct fd_writer fd_writer;

/* A writer of kind over impl (ownership passes to the writer: ops->destroy
 * frees it with the writer, also when this fails). NULL when memory runs out. */
fd_writer *fd_writer_new(fd_kind kind, const fd_writer_ops *ops, void *impl)
    __attribute__((warn_unused_result));

/* Frees w and its impl; NULL is ignored. */
void fd_writer_destroy(fd_writer *w);

fd_kind fd_writer_kind(const fd_writer *w);

/* ops->post; n must be at most the kind's request limit. */
fd_uccx_status fd_writer_post(fd_writer *w, const fd_target *t, const fd_contact *c, size_t n,
                              fd_uccx_result *res);

/* ops->find. */
fd_uccx_status fd_writer_find(fd_writer *w, const fd_target *t, const char *const *accounts,
                              size_t n, int *present, fd_uccx_result *res);

/* ops->withdraw; a writer without one: OK, *withdrew = 0. */
fd_uccx_status fd_writer_withdraw(fd_writer *w, const fd_target *t, const char *const *accounts,
                                  size_t n, int whole, int *withdrew, fd_uccx_result *res);

/* ops->answering_ms. Can't fail. */
long long fd_writer_answering_ms(const fd_writer *w);

/* The uccx writer: REST import and contact list through u, and db_cra's
 * dialinglist and dialinglisthistory by accountnumber through cra when it is
 * not NULL (when NULL only the REST list is asked, which lists pending
 * records only: a record already dialled looks missing). Takes ownership of
 * u and cra. NULL when memory runs out (both freed). */
fd_writer *fd_writer_uccx_new(fd_uccx *u, ecm_odbc *cra) __attribute__((warn_unused_result));

/* Lookup in chunks over ODBC: sets present[i] = 1 for each accounts[i] that
 * table has in column (rows filtered by `filter_col = filter_val` too when
 * filter_col is not NULL), leaving the others as they are. At most
 * FD_LOOKUP_CHUNK accounts a statement (one more parameter is the filter),
 * well inside ecm_odbc's ECM_ODBC_PARAMS_MAX and SQL Server's 2,100
 * parameters a statement. table and columns must be valid identifiers (the
 * caller checked them). Returns 0, or -1 (logged). */
#define FD_LOOKUP_CHUNK 500
int fd_lookup_odbc(ecm_odbc *o, const char *table, const char *column, const char *filter_col,
                   const char *filter_val, const char *const *accounts, size_t n, int *present)
    __attribute__((warn_unused_result));

/* fd_uccx_answering_ms()'s bookkeeping for a writer that talks ODBC: a
 * statement that failed may have landed (its commit's answer lost). */
typedef struct {
    long long answering_since; /* 0: not since the last doubtful failure */
    int doubted;
} fd_answering;

/* Records a statement's outcome: ok = 1 answered, 0 failed. Can't fail. */
void fd_answering_note(fd_answering *a, int ok);

/* As fd_uccx_answering_ms(). Can't fail. */
long long fd_answering_ms(const fd_answering *a);

#endif

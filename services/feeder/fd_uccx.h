/* The Cisco UCCX Outbound REST client of the feeder: builds the
 * campaignContacts XML (CSV inside csvdata), POSTs it, and lists a campaign's
 * contacts so that an attempt left 'sending' can be reconciled instead of
 * re-sent blindly. One handle keeps one libcurl connection alive; a handle is
 * used by one thread at a time. */
#ifndef FD_UCCX_H
#define FD_UCCX_H

#include <stddef.h>

/* The CSV header line UCCX expects in csvdata. */
#define FD_UCCX_CSV_HEADER "Account Number,First Name,Last Name,Phone1,Phone2,Phone3"

/* One contact row. Strings are borrowed; any may be NULL (an empty field)
 * except account_number. */
typedef struct {
    const char *account_number;
    const char *first_name;
    const char *last_name;
    const char *phone1;
    const char *phone2;
    const char *phone3;
} fd_uccx_contact;

typedef enum {
    FD_UCCX_OK = 0,           /* 200 or 202: UCCX took the request */
    FD_UCCX_UNAVAILABLE = -1, /* timeout, refused, 5xx: try again later */
    FD_UCCX_REJECTED = -2,    /* 4xx: UCCX refused the request itself */
    FD_UCCX_FAILED = -3,      /* local failure (memory, XML), or an answer we can't read */
} fd_uccx_status;

/* What happened on the wire. */
typedef struct {
    long http_status; /* 0 when no HTTP answer arrived */
    /* 1 when UCCX can no longer act on the request: it answered (any status)
     * or was never reached (connection refused, name not resolved). 0 after
     * a timeout or a connection lost mid-request: UCCX may still take it. */
    int settled;
    char detail[512]; /* libcurl's error, or the start of the answer body, for logs */
} fd_uccx_result;

/* Builds the POST body for n contacts:
 * <campaignContacts><campaign name="..."><refURL>...</refURL></campaign>
 * <allowDuplicateContacts>true</allowDuplicateContacts>
 * <csvdata>header + one CSV line a contact</csvdata></campaignContacts>.
 * UCCX's phone rule (a record whose phone matches one pending or dialled
 * since midnight is not imported) is off: ECM retries the same number.
 * XML escaping is libxml2's; CSV fields are quoted (RFC 4180) when they hold a
 * comma, a quote, a line break or edge spaces. Control characters that XML
 * 1.0 cannot carry are replaced by spaces, the noncharacters U+FFFE and
 * U+FFFF by U+FFFD. Returns a malloc'd NUL-terminated
 * string (its length in *len when len is not NULL), or NULL on failure. */
char *fd_uccx_build_contacts_xml(const char *campaign_name, const char *ref_url,
                                 const fd_uccx_contact *contacts, size_t n, size_t *len);

/* The account numbers of a campaign's contact list. */
typedef struct fd_uccx_list fd_uccx_list;

/* Parses a contact list document, streamed. Two shapes are read: elements
 * named accountNumber (case, ' ', '_' and '-' ignored, so AccountNumber and
 * account_number match too), each adding its trimmed text; and a csvdata
 * (or fileContent) element holding CSV whose header names an "Account
 * Number" column (the
 * shape of an import body, which the Cisco simulator answers with). Returns
 * the list (possibly empty), or NULL when the document is not well-formed
 * XML, the CSV is malformed or has rows but no account column, or memory
 * runs out. */
fd_uccx_list *fd_uccx_list_parse(const char *xml, size_t len);

/* Number of account numbers (duplicates count once). */
size_t fd_uccx_list_count(const fd_uccx_list *l);

/* 1 when account_number is in the list, else 0. Can't fail. */
int fd_uccx_list_contains(const fd_uccx_list *l, const char *account_number);

void fd_uccx_list_destroy(fd_uccx_list *l);

typedef struct fd_uccx fd_uccx;

/* base_url: e.g. "http://127.0.0.1:8700" (a trailing '/' is ignored). user
 * empty or NULL: no authentication, else HTTP basic. timeout_ms bounds each
 * request. Initialises libcurl and libxml2 globally on first use, so the
 * first call must come before other threads use either. Returns NULL on
 * failure (logged). */
fd_uccx *fd_uccx_new(const char *base_url, const char *user, const char *password, long timeout_ms)
    __attribute__((warn_unused_result));
void fd_uccx_destroy(fd_uccx *u);

/* POST {base}/adminapi/campaign/{campaign_id}/contacts with the contacts.
 * Returns FD_UCCX_OK only on 200/201/202; res (may be NULL) says what happened. */
fd_uccx_status fd_uccx_post_contacts(fd_uccx *u, const char *campaign_id,
                                     const fd_uccx_contact *contacts, size_t n,
                                     fd_uccx_result *res);

/* How long (ms) UCCX has answered every request of this client since the
 * last one that reached it without an answer (a timeout: UCCX may still
 * carry it out); -1 when it has not answered since such a request, LLONG_MAX
 * when there never was one. A request that found no UCCX to connect to
 * changes nothing. The reconciler re-sends what a contact list lacks only
 * once this is long enough for such a request to be over. Can't fail. */
long long fd_uccx_answering_ms(const fd_uccx *u);

/* Marks u's server as one that queues imports and answers each in its turn
 * (the Outbound API: a queue of 30, 503 beyond): a 503, a list or any other
 * answer then says nothing about an earlier import still in its queue, so
 * only a later POST it took (2xx) starts fd_uccx_answering_ms()'s clock; and
 * a POST waits up to post_timeout_ms for its answer (other requests keep
 * the handle's timeout). Can't fail. */
void fd_uccx_set_queueing(fd_uccx *u, int on, long post_timeout_ms);

/* GET {base}/adminapi/campaign/{campaign_id}/contacts, parsed as the answer
 * streams in. On FD_UCCX_OK *list is set (free with fd_uccx_list_destroy);
 * otherwise *list is NULL. A 404 (UCCX has no such campaign, so nothing of
 * ours is in it) is FD_UCCX_OK with an empty list. A 200 whose body can't be
 * read is FD_UCCX_FAILED: a list we can't read must never pass for an empty
 * one. */
fd_uccx_status fd_uccx_list_contacts(fd_uccx *u, const char *campaign_id, fd_uccx_list **list,
                                     fd_uccx_result *res);

/* The same client for another Cisco HTTP API of the same shape (the UCCE
 * Outbound API: XML bodies, HTTP basic, the same answers): POSTs body (len
 * bytes) to {base}{path} (path starts with '/', already escaped). Status as
 * fd_uccx_post_contacts(): 200/201/202 OK, 4xx REJECTED, 5xx (503 queue full)
 * and timeouts UNAVAILABLE (res->settled 1 when answered). */
fd_uccx_status fd_uccx_post_body(fd_uccx *u, const char *path, const char *body, size_t len,
                                 fd_uccx_result *res);

/* DELETE {base}{path} (path starts with '/', already escaped): Cisco's
 * delete of a campaign's records (UCCX DELETE …/contacts, the Outbound API's
 * DELETE …/import). Status as fd_uccx_post_body(). */
fd_uccx_status fd_uccx_delete(fd_uccx *u, const char *path, fd_uccx_result *res);

/* GETs {base}{path} and parses it as fd_uccx_list_contacts() does (a 404 is
 * an empty list). */
fd_uccx_status fd_uccx_get_list(fd_uccx *u, const char *path, fd_uccx_list **list,
                                fd_uccx_result *res);

#endif

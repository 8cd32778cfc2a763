/* What uploads may take of one gateway process: how many run at once, and
 * a budget of validating threads they share. Thread-safe; one per process,
 * owned by main() (or a test). A NULL handle means no limits. */
#ifndef GW_UPLOAD_LIMITS_H
#define GW_UPLOAD_LIMITS_H

typedef struct gw_upload_limits gw_upload_limits;

/* statement_timeout of an upload's batch transactions: a batch may wait for
 * the campaign's lock while other uploads load theirs, longer than the
 * pool's ECM_PG_STATEMENT_TIMEOUT_MS; still bounded. */
#define GW_UPLOAD_STATEMENT_TIMEOUT_MS 600000L

/* max_uploads at once (at least 1); validate_threads threads validating rows
 * in all, the uploads' own request threads included (at least 1). Returns
 * NULL when out of memory. */
gw_upload_limits *gw_upload_limits_new(int max_uploads, int validate_threads)
    __attribute__((warn_unused_result));
void gw_upload_limits_destroy(gw_upload_limits *l);

/* Takes an upload slot: 1, or 0 when max_uploads are under way (the caller
 * answers 429). Every 1 is given back with gw_upload_limits_leave(). */
int gw_upload_limits_enter(gw_upload_limits *l) __attribute__((warn_unused_result));
void gw_upload_limits_leave(gw_upload_limits *l);

/* Takes up to want helper threads from the shared budget, without waiting:
 * returns how many (0..want; want when l is NULL). An upload always
 * validates on its own thread too, so it never stops for lack of helpers;
 * one upload alone gets the whole budget. Give them back with
 * gw_upload_limits_threads_give(). */
int gw_upload_limits_threads_take(gw_upload_limits *l, int want);
void gw_upload_limits_threads_give(gw_upload_limits *l, int n);

/* The connections uploads may take beyond one each, for a second batch
 * loading beside the first (gw_upload_flush): the pool's connections left
 * once every upload has one and the API keeps a few. None until set. */
void gw_upload_limits_set_loaders(gw_upload_limits *l, int n);

/* Takes one of those connections without waiting: 1, or 0 when none is
 * free (the batch waits for the one loading instead); 1 when l is NULL.
 * Every 1 is given back with gw_upload_limits_loader_give(). */
int gw_upload_limits_loader_take(gw_upload_limits *l) __attribute__((warn_unused_result));
void gw_upload_limits_loader_give(gw_upload_limits *l);

/* The most of those connections taken at once since they were set (tests,
 * logs). */
int gw_upload_limits_loaders_peak(gw_upload_limits *l);

/* Uploads under way now (tests, logs). */
int gw_upload_limits_running(gw_upload_limits *l);

/* Admits one upload asked for by req: takes a slot (gw_upload_limits_enter)
 * and returns 1, or returns 0 after answering 429 (problem+json with
 * Retry-After) when max_uploads are under way. The caller gives a 1 back
 * with gw_upload_limits_leave() when its upload ends, or at once when it
 * cannot build it. */
struct ecm_http_req;
int gw_upload_limits_admit(gw_upload_limits *l, struct ecm_http_req *req)
    __attribute__((warn_unused_result));

#endif

/* CSV records with the physical line each one starts on, fed chunk by chunk.
 * libcsv does the RFC 4180 parsing (quotes, doubled quotes, quoted newlines,
 * CRLF or LF); this module adds what an upload report needs: the line number
 * of every record, a UTF-8 BOM stripped, empty lines skipped, and a hard cap
 * on the size of one record so that memory stays bounded for any input (an
 * unterminated quote would otherwise swallow the rest of the file). Pure: no
 * I/O, no DB; safe to use from any one thread at a time. */
#ifndef GW_CSV_H
#define GW_CSV_H

#include <stddef.h>

typedef struct gw_csv gw_csv;

/* One record: fields[i] is NUL-terminated (lens[i] excludes the NUL; a field
 * may itself contain NUL bytes, which lens reveals). line is 1-based, the
 * physical line the record starts on. Pointers are valid during the call
 * only. Return 0 to go on, or -1 to stop feeding (gw_csv_feed then returns
 * -1 with errstr "stopped"). */
typedef int (*gw_csv_record_fn)(void *ctx, long long line, size_t nfields,
                                const char *const *fields, const size_t *lens);

/* Creates a reader calling fn for each record. max_record_bytes bounds one
 * record (all its fields and line breaks). Returns NULL on allocation
 * failure. */
gw_csv *gw_csv_new(size_t max_record_bytes, gw_csv_record_fn fn, void *ctx)
    __attribute__((warn_unused_result));
void gw_csv_destroy(gw_csv *c);

/* Feeds the next chunk. Records completed by it are delivered before it
 * returns. Returns 0, or -1 with one line in errstr naming the line
 * ("line 12: record longer than 1048576 bytes (unterminated quote?)"); after
 * -1 the reader is unusable. */
int gw_csv_feed(gw_csv *c, const char *data, size_t len, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Ends the input: delivers a last record without a final line break. Returns
 * 0, or -1 with errstr (an unterminated quoted field at the end). */
int gw_csv_finish(gw_csv *c, char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* The line a failed gw_csv_feed/finish named, or 0 (no failure, or a stop
 * asked by the record callback). */
long long gw_csv_error_line(const gw_csv *c);

/* Physical lines seen so far (a final line without a line break counts). */
long long gw_csv_lines(const gw_csv *c);

#endif

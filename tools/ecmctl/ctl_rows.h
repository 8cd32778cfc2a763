/* Counts the rows of a contact or DNC file as its bytes go by, for the
 * upload's progress bar: CSV records (RFC 4180: a line break inside
 * quotes does not end one; blank lines are not rows; the header is not a
 * row) or the objects of a JSON array. Pure; no allocation. */
#ifndef CTL_ROWS_H
#define CTL_ROWS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    bool json;
    bool in_quotes;     /* CSV: inside a quoted field; JSON: inside a string */
    bool escaped;       /* JSON: the previous byte was a backslash in a string */
    bool line_has_data; /* CSV: the current record has a byte other than CR */
    int depth;          /* JSON: nesting of arrays and objects */
    long long records;  /* CSV: records ended so far, the header included */
    long long items;    /* JSON: objects started inside the top-level array */
} ctl_rows;

/* Starts counting a CSV file, or a JSON array when json is true. Can't
 * fail. */
void ctl_rows_init(ctl_rows *r, bool json);

/* Counts the bytes data[0..len), the file's next piece. Can't fail. */
void ctl_rows_feed(ctl_rows *r, const char *data, size_t len);

/* Rows seen so far: complete CSV records after the header, or JSON
 * objects begun; with at_end true, a last CSV record without a line break
 * counts too. Can't fail. */
long long ctl_rows_count(const ctl_rows *r, bool at_end);

#endif

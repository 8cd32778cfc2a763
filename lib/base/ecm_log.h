/* JSON-lines logging to stderr, one object a line:
 * {"ts":"2026-11-24T04:00:00.123Z","level":"info","service":"feeder","msg":"...","detail":"..."}
 *
 * The logger is process-wide and set once by ecm_log_init() before any thread
 * starts; after that it is read-only, so logging is thread-safe (each line is
 * written with one write(2)). Library code logs, it never prints. */
#ifndef ECM_LOG_H
#define ECM_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
    ECM_LOG_DEBUG = 0,
    ECM_LOG_INFO = 1,
    ECM_LOG_WARN = 2,
    ECM_LOG_ERROR = 3,
} ecm_log_level;

/* Sets the service name and minimum level. Call once from main(). */
void ecm_log_init(const char *service, ecm_log_level level);

/* The service name set by ecm_log_init() ("ecm" before it). */
const char *ecm_log_service(void);

/* Parses "debug", "info", "warn", "error". Returns 0 and sets *out, or -1
 * leaving *out alone (a caller with a default may ignore the result). */
int ecm_log_level_parse(const char *name, ecm_log_level *out);

/* Writes one line when level >= the configured level. msg is a short fixed
 * sentence; detail_fmt (may be NULL) is printf-formatted into "detail". The
 * level is checked before any formatting. */
void ecm_log(ecm_log_level level, const char *msg, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ecm_logv(ecm_log_level level, const char *msg, const char *detail_fmt, va_list ap);

/* Like ecm_log with an extra "hint" field. */
void ecm_log_hint(ecm_log_level level, const char *msg, const char *hint, const char *detail_fmt,
                  ...) __attribute__((format(printf, 4, 5)));

#define ecm_log_debug(msg, ...) ecm_log(ECM_LOG_DEBUG, msg, __VA_ARGS__)
#define ecm_log_info(msg, ...) ecm_log(ECM_LOG_INFO, msg, __VA_ARGS__)
#define ecm_log_warn(msg, ...) ecm_log(ECM_LOG_WARN, msg, __VA_ARGS__)
#define ecm_log_error(msg, ...) ecm_log(ECM_LOG_ERROR, msg, __VA_ARGS__)

/* Escapes s as the inside of a JSON string into out (always NUL-terminated,
 * truncated on a character boundary if out is too small). Returns the length
 * written. Exposed for tests and for other writers of JSON text. */
size_t ecm_log_json_escape(char *out, size_t out_size, const char *s);

#endif

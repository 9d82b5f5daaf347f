/*
 * log: one line per event on stderr, with journald level prefixes
 * ("<3>" .. "<7>") so that systemd files each line at the right priority.
 * Secrets never reach these functions: callers redact first.
 */
#ifndef VSAMPD_LOG_H
#define VSAMPD_LOG_H

#include <stdarg.h>

#define LOG_LVL_ERR 3
#define LOG_LVL_WARNING 4
#define LOG_LVL_NOTICE 5
#define LOG_LVL_INFO 6
#define LOG_LVL_DEBUG 7

/* Set the program name and the most verbose level printed. */
void log_init(const char *progname, int level);
/* Raise or lower the level at run time (-v, -d). */
void log_setlevel(int level);
int log_getlevel(void);

/* log_warn appends strerror(errno); log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at an explicit level (librdkafka's syslog levels map straight in). */
void log_at(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Exit with status 1; fatal appends strerror(errno). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif

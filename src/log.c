/*
 * log: stderr logging with journald level prefixes.
 *
 * Every line is written with one write(2) so that lines from librdkafka's
 * log queue and ours never interleave mid-line.
 *
 * The only module that writes the log; it never exits except in
 * fatal()/fatalx(), which are for start-up and broken invariants.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *log_progname = "vsampd";
static int log_level = LOG_LVL_INFO;

void
log_init(const char *progname, int level)
{
	log_progname = progname;
	log_level = level;
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return log_level;
}

static void log_vwrite(int, const char *, va_list, const char *)
    __attribute__((format(printf, 2, 0)));

static void
log_vwrite(int level, const char *fmt, va_list ap, const char *suffix)
{
	char line[4096];
	int n, m;
	ssize_t w;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "<%d>", level);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (suffix != NULL) {
		m = snprintf(
		    line + n, sizeof(line) - (size_t)n, ": %s", suffix);
		if (m > 0)
			n += m;
		if ((size_t)n >= sizeof(line) - 2)
			n = (int)sizeof(line) - 2;
	}
	/* One event, one line, and no raw control bytes (an escape
	 * sequence from a job's text must not reach a terminal): newlines
	 * fold into spaces, every other C0 byte and DEL become '?'. */
	for (int i = 3; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\n' || c == '\r')
			line[i] = ' ';
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			line[i] = '?';
	}
	line[n++] = '\n';
	w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

#define LOG_BODY(level, suffix)                         \
	do {                                            \
		va_list ap;                             \
		va_start(ap, fmt);                      \
		log_vwrite((level), fmt, ap, (suffix)); \
		va_end(ap);                             \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	const char *err = strerror(errno);

	LOG_BODY(LOG_LVL_WARNING, err);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARNING, NULL);
}

void
log_notice(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_NOTICE, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_INFO, NULL);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_DEBUG, NULL);
}

void
log_at(int level, const char *fmt, ...)
{
	if (level < 0)
		level = 0;
	LOG_BODY(level, NULL);
}

void
fatal(const char *fmt, ...)
{
	const char *err = strerror(errno);

	LOG_BODY(LOG_LVL_ERR, err);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERR, NULL);
	exit(1);
}

/*
 * dlq: the DLQ copy as `vsampctl replay` sees it (see dlq.h). The
 * headers are named here once, for the daemon that writes them and the
 * tool that reads them. Times are kept in milliseconds since the epoch,
 * as Kafka's message timestamps are; the calendar arithmetic is done
 * here rather than with timegm(), which C11 lacks, so that the module
 * stays pure and its answers do not depend on the local time zone.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq.h"
#include "result.h"

#define MS_PER_DAY INT64_C(86400000)
#define DAYS_PER_400Y 146097

static const char *const verdict_names[DLQ_NVERDICTS] = {
    "replay",
    "code",
    "time",
    "empty",
    "foreign",
};

void
dlq_filter_init(struct dlq_filter *f)
{
	f->codes = dlq_codes_default();
	f->since_ms = DLQ_NO_SINCE;
	f->until_ms = DLQ_NO_UNTIL;
}

void
dlq_copy_init(struct dlq_copy *cp, int64_t ts_ms)
{
	memset(cp, 0, sizeof(*cp));
	cp->code = ERR_COUNT;
	cp->ts_ms = ts_ms;
}

/* Whether the header value equals s. */
static int
value_is(const void *value, size_t len, const char *s)
{
	return value != NULL && len == strlen(s) && memcmp(value, s, len) == 0;
}

void
dlq_copy_header(
    struct dlq_copy *cp, const char *name, const void *value, size_t len)
{
	char num[16];
	char *end;
	unsigned long n;

	if (strcmp(name, DLQ_HDR_ERROR) == 0) {
		cp->has_error = 1;
		cp->code = ERR_COUNT;
		for (int c = ERR_NONE + 1; c < ERR_COUNT; c++)
			if (value_is(value, len, err_code_name(c)))
				cp->code = (enum err_code)c;
	} else if (strcmp(name, DLQ_HDR_ORIGINAL_SIZE) == 0) {
		cp->empty = 1;
	} else if (strcmp(name, DLQ_HDR_REPLAYED) == 0) {
		/* A job replayed before that failed again: its copy carries
		 * the job's headers, this one among them. */
		if (value == NULL || len == 0 || len >= sizeof(num))
			return;
		memcpy(num, value, len);
		num[len] = '\0';
		errno = 0;
		n = strtoul(num, &end, 10);
		if (errno == 0 && *end == '\0' && num[0] >= '0' &&
		    num[0] <= '9' && n < 1000000)
			cp->replays = (unsigned)n;
	}
}

enum dlq_verdict
dlq_verdict(const struct dlq_filter *f, const struct dlq_copy *cp)
{
	if (!cp->has_error)
		return DLQ_SKIP_FOREIGN;
	if (cp->empty)
		return DLQ_SKIP_EMPTY;
	if (cp->code == ERR_COUNT || (f->codes & (1u << cp->code)) == 0)
		return DLQ_SKIP_CODE;
	if (f->since_ms != DLQ_NO_SINCE || f->until_ms != DLQ_NO_UNTIL) {
		/* A copy with no timestamp cannot be placed in the window. */
		if (cp->ts_ms < 0 || cp->ts_ms < f->since_ms ||
		    cp->ts_ms >= f->until_ms)
			return DLQ_SKIP_TIME;
	}
	return DLQ_REPLAY;
}

const char *
dlq_verdict_name(enum dlq_verdict v)
{
	if ((int)v < 0 || v >= DLQ_NVERDICTS)
		return "?";
	return verdict_names[v];
}

int
dlq_header_ours(const char *name)
{
	return strncmp(name, DLQ_HDR_PREFIX, strlen(DLQ_HDR_PREFIX)) == 0;
}

/* ---- error codes ---- */

unsigned
dlq_codes_default(void)
{
	unsigned codes = 0;

	for (int c = ERR_NONE + 1; c < ERR_COUNT; c++)
		if (c != ERR_BAD_JOB && c != ERR_POISON)
			codes |= 1u << c;
	return codes;
}

/* "bad_job, backend, ..." into buf. */
static void
codes_list(char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int c = ERR_NONE + 1; c < ERR_COUNT && off < len; c++) {
		int n = snprintf(buf + off, len - off, "%s%s",
		    c > ERR_NONE + 1 ? ", " : "", err_code_name(c));

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

int
dlq_codes_parse(const char *list, unsigned *codes, char *errstr, size_t errlen)
{
	const char *p = list, *comma;
	char name[32], valid[160];
	unsigned out = 0;

	codes_list(valid, sizeof(valid));
	for (;;) {
		size_t n;
		enum err_code c;

		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0) {
			snprintf(errstr, errlen,
			    "an empty error code in \"%s\" (valid: %s)", list,
			    valid);
			return -1;
		}
		if (n >= sizeof(name) ||
		    (memcpy(name, p, n), name[n] = '\0',
			err_code_parse(name, &c) == -1) ||
		    c == ERR_NONE) {
			snprintf(errstr, errlen,
			    "unknown error code \"%.*s\" (valid: %s)",
			    n > 40 ? 40 : (int)n, p, valid);
			return -1;
		}
		out |= 1u << c;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*codes = out;
	return 0;
}

/* ---- times ---- */

static int
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int64_t y, int m)
{
	static const int days[12] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Leap years in 1..y (y >= 0). */
static int64_t
leaps_through(int64_t y)
{
	return y / 4 - y / 100 + y / 400;
}

/* Days from 1970-01-01 to y-m-d (y >= 1970). */
static int64_t
days_since_epoch(int64_t y, int m, int d)
{
	int64_t days;

	days = 365 * (y - 1970) + leaps_through(y - 1) - leaps_through(1969);
	for (int i = 1; i < m; i++)
		days += month_days(y, i);
	return days + d - 1;
}

/* n decimal digits at *p into *out; advances *p. -1 if not digits. */
static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

#define TIME_FORMS                                                       \
	"give RFC 3339 (2026-05-01T10:00:00Z, 2026-05-01T12:00:00+02:00, " \
	"2026-05-01) or a duration ago (30s, 30m, 2h, 7d)"

/* A duration ago: digits and one unit. 1: not one; 0 ok; -1 error. */
static int
time_relative(const char *s, int64_t now_ms, int64_t *ms, char *errstr,
    size_t errlen)
{
	const char *p = s;
	int64_t n = 0, unit;

	if (*p < '0' || *p > '9')
		return 1;
	while (*p >= '0' && *p <= '9') {
		if (n > INT64_MAX / 10 - 9) {
			snprintf(errstr, errlen, "\"%.40s\": too long ago", s);
			return -1;
		}
		n = n * 10 + (*p++ - '0');
	}
	if (p[0] == '\0')
		return -2;
	if (p[1] != '\0')
		return 1; /* more than a unit: a date, maybe */
	switch (*p) {
	case 's':
		unit = 1000;
		break;
	case 'm':
		unit = 60 * 1000;
		break;
	case 'h':
		unit = 3600 * 1000;
		break;
	case 'd':
		unit = MS_PER_DAY;
		break;
	default:
		snprintf(errstr, errlen,
		    "\"%.40s\": unknown unit '%c' (s, m, h or d)", s, *p);
		return -1;
	}
	if (n > (now_ms < 0 ? 0 : now_ms) / unit) {
		snprintf(errstr, errlen, "\"%.40s\": before 1970", s);
		return -1;
	}
	*ms = now_ms - n * unit;
	return 0;
}

/* RFC 3339 date-time (or a full-date alone); 0, or -1 with errstr. */
static int
time_rfc3339(const char *s, int64_t *ms, char *errstr, size_t errlen)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
	int oh, om;
	int64_t t;

	if (digits(&p, 4, &y) == -1 || *p++ != '-' ||
	    digits(&p, 2, &mo) == -1 || *p++ != '-' || digits(&p, 2, &d) == -1)
		goto bad;
	if (y < 1970) {
		snprintf(errstr, errlen, "\"%.40s\": before 1970", s);
		return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo)) {
		snprintf(errstr, errlen, "\"%.40s\": no such date", s);
		return -1;
	}
	if (*p != '\0') {
		if (*p != 'T' && *p != 't' && *p != ' ')
			goto bad;
		p++;
		if (digits(&p, 2, &h) == -1 || *p++ != ':' ||
		    digits(&p, 2, &mi) == -1 || *p++ != ':' ||
		    digits(&p, 2, &sec) == -1)
			goto bad;
		/* 60: a leap second, as RFC 3339 allows. */
		if (h > 23 || mi > 59 || sec > 60) {
			snprintf(errstr, errlen, "\"%.40s\": no such time", s);
			return -1;
		}
		if (*p == '.') {
			int scale = 100;

			if (*++p < '0' || *p > '9')
				goto bad;
			for (; *p >= '0' && *p <= '9'; p++) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1;

			if (digits(&p, 2, &oh) == -1 || *p++ != ':' ||
			    digits(&p, 2, &om) == -1)
				goto bad;
			if (oh > 23 || om > 59) {
				snprintf(errstr, errlen,
				    "\"%.40s\": no such UTC offset", s);
				return -1;
			}
			off = sign * (oh * 60 + om);
		} else {
			snprintf(errstr, errlen,
			    "\"%.40s\": no time zone (end with Z or +hh:mm)",
			    s);
			return -1;
		}
		if (*p != '\0')
			goto bad;
	}
	t = days_since_epoch(y, mo, d) * MS_PER_DAY +
	    ((int64_t)h * 3600 + mi * 60 + sec - (int64_t)off * 60) * 1000 +
	    frac;
	if (t < 0) {
		snprintf(errstr, errlen, "\"%.40s\": before 1970", s);
		return -1;
	}
	*ms = t;
	return 0;
bad:
	snprintf(errstr, errlen, "\"%.40s\": not a time: " TIME_FORMS, s);
	return -1;
}

int
dlq_time_parse(
    const char *s, int64_t now_ms, int64_t *ms, char *errstr, size_t errlen)
{
	int rc;

	rc = time_relative(s, now_ms, ms, errstr, errlen);
	if (rc == -2) {
		snprintf(errstr, errlen,
		    "\"%.40s\": a duration needs a unit (s, m, h or d)", s);
		return -1;
	}
	if (rc != 1)
		return rc;
	return time_rfc3339(s, ms, errstr, errlen);
}

void
dlq_time_format(int64_t ms, char *buf, size_t len)
{
	int64_t days, y;
	int m, rem, yl;

	if (ms < 0)
		ms = 0;
	days = ms / MS_PER_DAY;
	rem = (int)(ms % MS_PER_DAY);
	/* Any 400 years of the Gregorian calendar have the same days. */
	y = 1970 + 400 * (days / DAYS_PER_400Y);
	days %= DAYS_PER_400Y;
	while (days >= (yl = is_leap(y) ? 366 : 365)) {
		days -= yl;
		y++;
	}
	for (m = 1; days >= month_days(y, m); m++)
		days -= month_days(y, m);
	snprintf(buf, len, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", y,
	    m, (int)days + 1, rem / 3600000, rem / 60000 % 60,
	    rem / 1000 % 60, rem % 1000);
}

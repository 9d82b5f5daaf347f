/*
 * retry: when to try a backend request again. The backoff with full
 * jitter, and the parsers of the headers that say how long to wait
 * (Retry-After; the rate-limit reset headers). It computes delays and
 * does nothing else: the backend owns the requests and the timers.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "retry.h"

uint64_t
retry_backoff(unsigned attempt, uint64_t base_ms, uint64_t cap_ms,
    uint64_t retry_after_ms, uint64_t max_retry_after_ms, uint64_t *rng)
{
	uint64_t d = base_ms, x;

	for (unsigned i = 1; i < attempt && d < cap_ms; i++)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	/* xorshift64*: cheap, and jitter needs no quality beyond spread. */
	x = *rng ? *rng : HASH_GOLDEN_GAMMA;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*rng = x;
	x *= 0x2545f4914f6cdd1dULL;
	/* Full jitter over the upper half keeps a floor under the delay. */
	d = d / 2 + (d > 1 ? (x >> 11) % (d / 2 + 1) : 0);
	if (retry_after_ms > max_retry_after_ms)
		retry_after_ms = max_retry_after_ms;
	if (d < retry_after_ms)
		d = retry_after_ms;
	return d;
}

uint64_t
retry_after_ms(const char *value)
{
	char *end;
	unsigned long long secs;
	time_t when, now;

	if (value == NULL || *value == '\0')
		return 0;
	if (*value >= '0' && *value <= '9') {
		errno = 0;
		secs = strtoull(value, &end, 10);
		if (errno != 0 || (*end != '\0' && *end != ' '))
			return 0;
		if (secs > 86400)
			secs = 86400;
		return (uint64_t)secs * 1000;
	}
	when = curl_getdate(value, NULL);
	now = time(NULL);
	if (when == -1 || when <= now)
		return 0;
	return (uint64_t)(when - now) * 1000;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static long long
days_from_civil(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (long long)era * 146097 + doe - 719468;
}

/* Parse a rate-limit reset (see retry.h). */
long
retry_reset_ms(const char *v, long long now_s)
{
	int y, mo, d, h, mi;
	double sec, total = 0;
	const char *p = v;

	if (v == NULL || *v == '\0')
		return -1;
	if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%lf", &y, &mo, &d, &h, &mi, &sec) ==
	    6) {
		long long t =
		    days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
		double ms = ((double)(t - now_s) + sec) * 1000.0;
		const char *tz = strpbrk(v + 19, "Zz+-");

		/* An offset other than Z: shift to UTC. */
		if (tz != NULL && (*tz == '+' || *tz == '-')) {
			int oh = 0, om = 0;

			if (sscanf(tz + 1, "%2d:%2d", &oh, &om) >= 1)
				ms -= (*tz == '+' ? 1 : -1) *
				    (oh * 3600.0 + om * 60.0) * 1000.0;
		}
		return ms > 0 ? (long)ms : 0;
	}
	/* Go-style durations: 1h2m3.5s, 20ms. */
	while (*p != '\0') {
		char *end;
		double n = strtod(p, &end);

		if (end == p || n < 0)
			return -1;
		p = end;
		if (strncmp(p, "ms", 2) == 0) {
			total += n;
			p += 2;
		} else if (*p == 's') {
			total += n * 1000;
			p++;
		} else if (*p == 'm') {
			total += n * 60000;
			p++;
		} else if (*p == 'h') {
			total += n * 3600000;
			p++;
		} else
			return -1;
	}
	return (long)total;
}

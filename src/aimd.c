/*
 * aimd: additive increase, multiplicative decrease, with slow start and
 * a latency signal (see aimd.h).
 *
 * A leaf module: pure arithmetic on the numbers it is given; the
 * backend owns the clock and applies the limit.
 */
#include <stdlib.h>
#include <string.h>

#include "aimd.h"

static void
aimd_window(struct aimd *a)
{
	a->wsize = a->limit > AIMD_MIN_WINDOW ? a->limit : AIMD_MIN_WINDOW;
	a->window = a->wsize;
	a->over = 0;
	a->used = 0;
}

void
aimd_init(struct aimd *a, int max)
{
	memset(a, 0, sizeof(*a));
	a->max = max < 1 ? 1 : max;
	a->limit = a->max < AIMD_START ? a->max : AIMD_START;
	a->slow_start = 1;
	aimd_window(a);
}

int
aimd_limit(const struct aimd *a)
{
	return a->limit;
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

double
aimd_median(const struct aimd *a)
{
	double tmp[AIMD_SAMPLES];

	if (a->nlat == 0)
		return 0;
	memcpy(tmp, a->lat, a->nlat * sizeof(*tmp));
	qsort(tmp, a->nlat, sizeof(*tmp), cmp_double);
	if (a->nlat % 2)
		return tmp[a->nlat / 2];
	return (tmp[a->nlat / 2 - 1] + tmp[a->nlat / 2]) / 2;
}

static int
decrease(struct aimd *a)
{
	int old = a->limit;

	a->slow_start = 0;
	/* The requests already in flight were sent under the old limit:
	 * their failures are this same signal. */
	a->cooldown = old;
	a->limit = (int)(a->limit * AIMD_DECREASE);
	if (a->limit < 1)
		a->limit = 1;
	aimd_window(a);
	/* Latency is judged afresh at the new limit. */
	a->nlat = a->next = 0;
	a->base = 0;
	a->decreases++;
	return a->limit != old;
}

/* The end of a window: a latency cut, or growth if the limit was used. */
static int
window_end(struct aimd *a)
{
	double med = aimd_median(a);

	if (a->base > 0 && a->nlat == AIMD_SAMPLES &&
	    med > AIMD_LATENCY_FACTOR * a->base &&
	    med - a->base > AIMD_LATENCY_SLACK_MS)
		return decrease(a);
	if (!a->used || a->limit >= a->max) {
		aimd_window(a);
		return 0;
	}
	/* Latency holds: grow, and remember what it was. */
	if (a->nlat > 0)
		a->base = med;
	a->limit = a->slow_start ? a->limit * 2 : a->limit + 1;
	if (a->limit > a->max)
		a->limit = a->max;
	aimd_window(a);
	a->increases++;
	return 1;
}

int
aimd_success(struct aimd *a, double latency_ms, size_t inflight)
{
	int used = inflight * 2 >= (size_t)a->limit;

	/* Answers to requests sent under the limit before the last cut
	 * belong to that signal: none of them counts in the new window. */
	if (a->cooldown > 0) {
		a->cooldown--;
		return 0;
	}
	if (used) {
		a->used = 1;
		a->lat[a->next] = latency_ms;
		a->next = (a->next + 1) % AIMD_SAMPLES;
		if (a->nlat < AIMD_SAMPLES)
			a->nlat++;
	}
	if (--a->window > 0)
		return 0;
	return window_end(a);
}

int
aimd_overload(struct aimd *a, size_t inflight)
{
	/* Sent under the limit that a burst already cut: counted. */
	if (a->cooldown > 0) {
		a->cooldown--;
		return 0;
	}
	if (++a->over > AIMD_OVERLOAD_RATE * a->wsize)
		return decrease(a);
	if (inflight * 2 >= (size_t)a->limit)
		a->used = 1;
	if (--a->window > 0)
		return 0;
	return window_end(a);
}

int
aimd_other(struct aimd *a)
{
	if (a->cooldown > 0) {
		a->cooldown--;
		return 0;
	}
	if (--a->window > 0)
		return 0;
	return window_end(a);
}

void
aimd_set_max(struct aimd *a, int max)
{
	a->max = max < 1 ? 1 : max;
	if (a->limit > a->max) {
		a->limit = a->max;
		aimd_window(a);
	}
}

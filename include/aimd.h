/*
 * aimd: a backend's adaptive concurrency limit, within [1, max].
 *
 * It starts at min(max, AIMD_START) and grows by slow start (doubling
 * once per window of `limit` successes) until the first sign of
 * overload, then by one per window (additive increase). A 429, a
 * timeout, or a median latency of the last AIMD_SAMPLES successes above
 * AIMD_LATENCY_FACTOR times the median measured at the last increase
 * cuts it by AIMD_DECREASE (multiplicative decrease), at most once per
 * window, so that one burst of failures counts once. Latency only
 * counts while the limit is actually used (in flight near the limit):
 * an idle backend tells nothing about its capacity.
 * Leaf module: no clock, no I/O.
 */
#ifndef VSAMPD_AIMD_H
#define VSAMPD_AIMD_H

#include <stddef.h>
#include <stdint.h>

#define AIMD_START 8
#define AIMD_SAMPLES 50
#define AIMD_LATENCY_FACTOR 1.5
#define AIMD_DECREASE 0.7

struct aimd {
	int limit;
	int max;
	int slow_start; /* doubling until the first overload */
	int window; /* completions left before the next change */
	double lat[AIMD_SAMPLES]; /* latencies (ms), a ring */
	size_t nlat, next;
	double base; /* median latency at the last increase; 0: none yet */
	int cooldown; /* completions before another decrease may come */
	unsigned decreases, increases;
};

void aimd_init(struct aimd *a, int max);
/* The current limit. */
int aimd_limit(const struct aimd *a);
/*
 * A request succeeded after latency_ms, with inflight requests in flight
 * when it was sent (including itself). Returns 1 when the limit changed.
 */
int aimd_success(struct aimd *a, double latency_ms, size_t inflight);
/* A 429 or a timeout: overload. Returns 1 when the limit changed. */
int aimd_overload(struct aimd *a);
/* A new max (reload); the limit is clamped to it. */
void aimd_set_max(struct aimd *a, int max);
/* The median of the recorded latencies, 0 with none. */
double aimd_median(const struct aimd *a);

#endif

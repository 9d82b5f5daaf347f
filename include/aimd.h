/*
 * aimd: a backend's adaptive concurrency limit, within [1, max].
 *
 * It starts at min(max, AIMD_START) and grows by slow start (doubling
 * once per window) until the first decrease, then by one per window
 * (additive increase). A window is max(limit, AIMD_MIN_WINDOW) answers.
 * The limit is cut by AIMD_DECREASE (multiplicative decrease) when more
 * than AIMD_OVERLOAD_RATE of a window's answers are overload signals
 * (429s and timeouts), or when the median latency of the last
 * AIMD_SAMPLES successes is above AIMD_LATENCY_FACTOR times the median
 * measured at the last increase (and AIMD_LATENCY_SLACK_MS above it, so
 * that a sub-millisecond backend's jitter is not taken for load). A rate
 * rather than every single 429: a backend that fails a steady share of
 * requests for reasons of its own would otherwise drive the limit to 1,
 * the way random loss starves TCP. The answers to requests sent under
 * the old limit count as one signal with the one that cut it. Latency
 * only counts while the limit is actually used (in flight near the
 * limit): an idle backend tells nothing about its capacity.
 * Leaf module: no clock, no I/O.
 */
#ifndef VSAMPD_AIMD_H
#define VSAMPD_AIMD_H

#include <stddef.h>
#include <stdint.h>

#define AIMD_START 8
#define AIMD_SAMPLES 50
#define AIMD_LATENCY_FACTOR 1.5
#define AIMD_LATENCY_SLACK_MS 5.0
#define AIMD_DECREASE 0.7
#define AIMD_MIN_WINDOW 20
#define AIMD_OVERLOAD_RATE 0.25

struct aimd {
	int limit;
	int max;
	int slow_start; /* doubling until the first overload */
	int window; /* answers left in this window */
	int wsize; /* the window's size */
	int over; /* overload signals in this window */
	int used; /* an answer of this window came with the limit in use */
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
/* A 429 or a timeout: an overload signal, for a request sent with
 * inflight in flight. Returns 1 when the limit changed. */
int aimd_overload(struct aimd *a, size_t inflight);
/* Any other answer (a 5xx, a refused connection): neither a success
 * nor overload, but one of the window's answers, so that the overload
 * rate is a share of all of them. Returns 1 when the limit changed. */
int aimd_other(struct aimd *a);
/* A new max (reload); the limit is clamped to it. */
void aimd_set_max(struct aimd *a, int max);
/* The median of the recorded latencies, 0 with none. */
double aimd_median(const struct aimd *a);

#endif

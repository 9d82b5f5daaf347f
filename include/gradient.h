/*
 * gradient: a backend's concurrency limit that looks for the knee of
 * its throughput curve, within [1, max]: the least concurrency that
 * gives the throughput of any larger one.
 *
 * A batching model server answers more per second the more sequences
 * it decodes together, up to its batch size; past that, more in flight
 * only queues, and latency grows with no gain. Latency alone does not
 * show where (it also grows below the knee, slowly), and the ratio to
 * the lowest latency ever seen (Vegas) reads the batch filling up as a
 * queue. So this limiter measures what the knee is made of: the
 * throughput at each limit, by Little's law from its own answers (mean
 * in flight at send over mean latency, no clock needed), and follows
 * its gradient:
 *
 *   - grow: double per window while the throughput rises by more than
 *     GRADIENT_GAIN (slow start);
 *   - bisect: once a doubling brings no gain, the knee lies between the
 *     limit two doublings back and the last one that gained; bisect
 *     (geometrically) for the least limit within GRADIENT_GAIN of the
 *     best throughput seen, to a bracket of GRADIENT_BRACKET;
 *   - hold: stay there, and every GRADIENT_PROBE_EVERY windows try one
 *     step of GRADIENT_STEP up or down, alternately: up is kept when it
 *     gains, down when it loses nothing, so the limit follows a backend
 *     that changes. The requests a step up adds wait in the server's
 *     queue: that wait is the price of following, and it shows in the
 *     tail of the latency (a p99 above the p95).
 *
 * A window is max(limit, GRADIENT_MIN_WINDOW) answers, after the
 * answers to requests sent under the previous limit. It counts only
 * when the limit was in use (in flight at send at least GRADIENT_USED
 * of it): a backend given less work than it could take says nothing of
 * its capacity. A latency that rose by less than GRADIENT_SLACK_MS
 * counts as a gain, so that a fast backend's jitter is not read as a
 * knee. Overload is cut as aimd.h does: past GRADIENT_OVERLOAD_RATE of
 * a window's answers being 429s or timeouts, the limit goes to
 * GRADIENT_DECREASE of itself and holds there.
 * Leaf module: no clock, no I/O.
 */
#ifndef VSAMPD_GRADIENT_H
#define VSAMPD_GRADIENT_H

#include <stddef.h>

#define GRADIENT_START 8
#define GRADIENT_MIN_WINDOW 32
#define GRADIENT_GAIN 0.04
#define GRADIENT_SLACK_MS 5.0
#define GRADIENT_BRACKET 1.15
#define GRADIENT_STEP 1.2
#define GRADIENT_PROBE_EVERY 8
#define GRADIENT_USED 0.9
#define GRADIENT_DECREASE 0.7
#define GRADIENT_OVERLOAD_RATE 0.25

enum gradient_phase {
	GRADIENT_GROW,
	GRADIENT_BISECT,
	GRADIENT_HOLD,
	GRADIENT_PROBE_UP,
	GRADIENT_PROBE_DOWN
};

/* One window's measurement: a limit and what it gave. */
struct gradient_point {
	int limit; /* 0: none */
	double x; /* throughput, answers per ms */
	double rtt; /* mean latency, ms */
};

struct gradient {
	int limit;
	int max;
	enum gradient_phase phase;
	int settle; /* answers still due under the previous limit */
	int window; /* answers left in this window */
	int wsize; /* the window's size */
	int over; /* overload signals in this window */
	int n; /* successes in this window */
	double sum_inflight, sum_rtt;
	struct gradient_point prev, prev2; /* grow: the last two */
	struct gradient_point lo, hi, best; /* bisect */
	struct gradient_point home; /* hold: the limit settled on */
	int holds; /* windows at home since the last probe */
	int down; /* the next probe goes down */
	unsigned decreases, increases, probes;
};

void gradient_init(struct gradient *g, int max);
/* The current limit. */
int gradient_limit(const struct gradient *g);
/*
 * A request succeeded after latency_ms, with inflight requests in flight
 * when it was sent (including itself). Returns 1 when the limit changed.
 */
int gradient_success(struct gradient *g, double latency_ms, size_t inflight);
/* A 429 or a timeout. Returns 1 when the limit changed. */
int gradient_overload(struct gradient *g);
/* Any other answer (a 5xx, a refused connection): one of the window's
 * answers, neither a success nor overload. Returns 1 when it changed. */
int gradient_other(struct gradient *g);

#endif

/*
 * gradient: a concurrency limit that climbs the throughput curve to its
 * knee and stays there (see gradient.h).
 *
 * A leaf module: pure arithmetic on the numbers it is given; the
 * backend owns the clock and applies the limit.
 */
#include <math.h>
#include <string.h>

#include "gradient.h"

static void
gradient_window(struct gradient *g)
{
	g->wsize = g->limit > GRADIENT_MIN_WINDOW ? g->limit
						  : GRADIENT_MIN_WINDOW;
	g->window = g->wsize;
	g->over = 0;
	g->n = 0;
	g->sum_inflight = g->sum_rtt = 0;
}

void
gradient_init(struct gradient *g, int max)
{
	memset(g, 0, sizeof(*g));
	g->max = max < 1 ? 1 : max;
	g->limit = g->max < GRADIENT_START ? g->max : GRADIENT_START;
	g->phase = GRADIENT_GROW;
	gradient_window(g);
}

int
gradient_limit(const struct gradient *g)
{
	return g->limit;
}

static int
clamp(const struct gradient *g, double l)
{
	if (l < 1)
		return 1;
	if (l > g->max)
		return g->max;
	return (int)l;
}

/*
 * Move to limit l; the answers to the requests sent under the old one
 * (as many as it allowed) are not this limit's. Returns 1 on a change.
 */
static int
set_limit(struct gradient *g, int l)
{
	int old = g->limit;

	g->limit = l;
	if (l != old)
		g->settle = old;
	gradient_window(g);
	if (l > old)
		g->increases++;
	return l != old;
}

/*
 * Whether the higher limit b did better than the lower a: more than
 * GRADIENT_GAIN more throughput, or a latency that did not rise enough
 * to tell a queue from jitter.
 */
static int
gains(const struct gradient_point *a, const struct gradient_point *b)
{
	return b->x > a->x * (1 + GRADIENT_GAIN) ||
	    b->rtt - a->rtt < GRADIENT_SLACK_MS;
}

/* Settle at p and hold there. */
static int
hold(struct gradient *g, const struct gradient_point *p)
{
	g->phase = GRADIENT_HOLD;
	g->home = *p;
	g->holds = 0;
	return set_limit(g, p->limit);
}

/* Narrow the bracket, or settle at its top when it is narrow enough. */
static int
bisect(struct gradient *g)
{
	if (g->hi.limit <= g->lo.limit + 1 ||
	    (double)g->hi.limit < GRADIENT_BRACKET * g->lo.limit)
		return hold(g, &g->hi);
	g->phase = GRADIENT_BISECT;
	return set_limit(g, clamp(g, sqrt((double)g->lo.limit * g->hi.limit)));
}

/* A probe of one step from home, up or down. */
static int
probe(struct gradient *g, int down)
{
	int l;

	if (down)
		l = clamp(g, g->home.limit / GRADIENT_STEP);
	else
		l = clamp(g, ceil(g->home.limit * GRADIENT_STEP));
	if (l == g->home.limit) {
		g->phase = GRADIENT_HOLD;
		gradient_window(g);
		return 0;
	}
	g->probes++;
	g->phase = down ? GRADIENT_PROBE_DOWN : GRADIENT_PROBE_UP;
	return set_limit(g, l);
}

/* What a measured window at the current limit decides. */
static int
decide(struct gradient *g, const struct gradient_point *m)
{
	switch (g->phase) {
	case GRADIENT_GROW:
		if (g->prev.limit > 0 && !gains(&g->prev, m)) {
			/* No gain from prev to m: prev is past the knee, and
			 * the one before it (which gained) below it. */
			g->hi = g->prev;
			g->best = g->prev.x >= m->x ? g->prev : *m;
			g->lo = g->prev2;
			if (g->lo.limit == 0)
				g->lo.limit = clamp(g, g->prev.limit / 2);
			return bisect(g);
		}
		g->prev2 = g->prev;
		g->prev = *m;
		if (g->limit >= g->max)
			return hold(g, m);
		return set_limit(g, clamp(g, 2.0 * g->limit));
	case GRADIENT_BISECT:
		if (gains(m, &g->best))
			g->lo = *m;
		else
			g->hi = *m;
		if (m->x > g->best.x)
			g->best = *m;
		return bisect(g);
	case GRADIENT_HOLD:
		g->home = *m;
		if (++g->holds < GRADIENT_PROBE_EVERY) {
			gradient_window(g);
			return 0;
		}
		g->holds = 0;
		g->down = !g->down;
		return probe(g, g->down);
	case GRADIENT_PROBE_UP:
		if (!gains(&g->home, m))
			return hold(g, &g->home);
		/* Higher is better: keep it, and try higher still. */
		g->home = *m;
		return probe(g, 0);
	case GRADIENT_PROBE_DOWN:
		if (gains(m, &g->home))
			return hold(g, &g->home);
		/* Lower loses nothing: keep it, and try lower still. */
		g->home = *m;
		return probe(g, 1);
	}
	return 0;
}

/* The end of a window: measured if the limit was in use. */
static int
window_end(struct gradient *g)
{
	struct gradient_point m;

	if (g->n == 0 || g->sum_rtt <= 0 ||
	    g->sum_inflight < GRADIENT_USED * g->limit * g->n) {
		/* Demand-limited, or no successes: nothing learnt. */
		gradient_window(g);
		return 0;
	}
	m.limit = g->limit;
	m.x = g->sum_inflight / g->sum_rtt;
	m.rtt = g->sum_rtt / g->n;
	return decide(g, &m);
}

/* One of the window's answers has come. */
static int
answered(struct gradient *g)
{
	if (--g->window > 0)
		return 0;
	return window_end(g);
}

int
gradient_success(struct gradient *g, double latency_ms, size_t inflight)
{
	if (g->settle > 0) {
		g->settle--;
		return 0;
	}
	g->n++;
	g->sum_inflight += (double)inflight;
	g->sum_rtt += latency_ms;
	return answered(g);
}

int
gradient_overload(struct gradient *g)
{
	struct gradient_point p = {0, 0, 0};

	if (g->settle > 0) {
		g->settle--;
		return 0;
	}
	if (++g->over <= GRADIENT_OVERLOAD_RATE * g->wsize)
		return answered(g);
	/* Too many: cut, and hold there (measured afresh). */
	g->decreases++;
	p.limit = clamp(g, g->limit * GRADIENT_DECREASE);
	g->prev.limit = g->prev2.limit = 0;
	g->settle = 0;
	return hold(g, &p);
}

int
gradient_other(struct gradient *g)
{
	if (g->settle > 0) {
		g->settle--;
		return 0;
	}
	return answered(g);
}

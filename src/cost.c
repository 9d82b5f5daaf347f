/*
 * cost: a reply's cost is prompt_tokens * price.prompt / 1e6 +
 * completion_tokens * price.completion / 1e6, a job's the sum over its
 * replies in the order they came. The arithmetic is float64 and written
 * out here once, so that a test (or a consumer) doing the same
 * operations in the same order gets the same bits.
 *
 * A job is priced only when all of its replies were: a reply from an
 * unpriced backend (a fallback without a price, say), or one that
 * reported no usage, makes the job's cost nil rather than the priced
 * part, which would be too low and look like the whole.
 * vsampd_cost_total still counts the priced part, per backend.
 */
#include <math.h>
#include <stddef.h>

#include "cost.h"

#define PER_TOKENS 1e6

/* An unpriced price: NAN in both. */
void
price_init(struct price *p)
{
	p->prompt = NAN;
	p->completion = NAN;
}

/* 1 when both prices are finite numbers, else 0. */
int
price_set(const struct price *p)
{
	return isfinite(p->prompt) && isfinite(p->completion);
}

/* One reply's cost at p (NULL: unpriced), or NAN when unpriced. */
double
cost_of(const struct price *p, uint64_t prompt_tokens,
    uint64_t completion_tokens)
{
	if (p == NULL || !price_set(p))
		return NAN;
	return (double)prompt_tokens * p->prompt / PER_TOKENS +
	    (double)completion_tokens * p->completion / PER_TOKENS;
}

/* c counts nothing yet. */
void
cost_init(struct cost *c)
{
	c->sum = 0.0;
	c->priced = 0;
	c->unpriced = 0;
}

/* Count one reply into c; returns its cost, NAN when unpriced. */
double
cost_add(struct cost *c, const struct price *p, uint64_t prompt_tokens,
    uint64_t completion_tokens)
{
	double v = cost_of(p, prompt_tokens, completion_tokens);

	if (isnan(v)) {
		c->unpriced++;
		return v;
	}
	c->sum += v;
	c->priced++;
	return v;
}

/* The sum when every reply was priced and there was one, else NAN. */
double
cost_total(const struct cost *c)
{
	if (c->unpriced > 0 || c->priced == 0)
		return NAN;
	return c->sum;
}

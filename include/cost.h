/*
 * cost: what the requests of a job cost, from the tokens each reply
 * reports and the price of the backend that served it (docs/schema.md,
 * usage.cost). Prices are per million tokens, in whatever currency the
 * config's prices are in. A backend without a price is unpriced, and a
 * job that had a reply from one (or a reply that reported no usage) has
 * no cost (nil), never a partial sum that would read as the whole. Leaf
 * module: arithmetic only.
 */
#ifndef VSAMPD_COST_H
#define VSAMPD_COST_H

#include <stdint.h>

/* A backend profile's price, per million tokens; NAN in both: unpriced. */
struct price {
	double prompt;
	double completion;
};

/* The cost of a job so far: the sum over its priced replies, and how
 * many replies of each kind were counted. */
struct cost {
	double sum;
	unsigned priced;
	unsigned unpriced; /* or of unknown cost: no usage reported */
};

/* An unpriced price. */
void price_init(struct price *p);
/* Whether p holds a price (both numbers finite). */
int price_set(const struct price *p);

/* The cost of one reply's tokens at price p, or NAN when p is unpriced. */
double cost_of(const struct price *p, uint64_t prompt_tokens,
    uint64_t completion_tokens);

/* Nothing counted yet. */
void cost_init(struct cost *c);
/*
 * Count one reply that reported these tokens, served by a backend of
 * price p; p NULL when its cost cannot be known (the reply reported no
 * usage). Returns its cost (cost_of), NAN when unpriced or unknown.
 */
double cost_add(struct cost *c, const struct price *p, uint64_t prompt_tokens,
    uint64_t completion_tokens);
/*
 * The job's cost: the sum when every reply counted was priced and there
 * was at least one, else NAN (nil: unknown or not applicable).
 */
double cost_total(const struct cost *c);

#endif

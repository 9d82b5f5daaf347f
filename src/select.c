/*
 * select: drawing one candidate, deterministically from a seed.
 *
 * The seed defaults to a hash of the job id (docs/methods.md), so a
 * redelivered job with the same candidates selects the same one. Each
 * pick uses one draw of splitmix64 seeded with the seed: no state is kept
 * between calls, and the choice depends on nothing but the arguments.
 * Leaf module.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "hash.h"
#include "select.h"

/*
 * FNV-1a over the id bytes spreads short ids poorly in the high bits, so
 * the splitmix64 finaliser (without the gamma step) mixes the result.
 */
uint64_t
select_seed(const char *id, size_t len)
{
	return hash_bytes(id, len);
}

/* The first splitmix64 output for seed, as a double in [0,1) with 53
 * random bits. */
static double
draw(uint64_t seed)
{
	return (double)(hash_mix64(seed + HASH_GOLDEN_GAMMA) >> 11) * 0x1.0p-53;
}

static int
usable(double v)
{
	return isfinite(v) && v > 0.0;
}

/*
 * Pick an index into p[0..n) by mode (see select.h). Weighted draws skip
 * values that are not positive and finite; when none is, the pick is
 * uniform. Only the first INT_MAX entries can be picked.
 */
int
select_pick(enum select_mode mode, const double *p, size_t n, uint64_t seed)
{
	double u, total = 0.0, acc = 0.0;
	size_t idx;
	int last = -1, best = 0;

	if (n == 0 || mode == SELECT_NONE)
		return -1;
	if (n > INT_MAX)
		n = INT_MAX;
	u = draw(seed);
	switch (mode) {
	case SELECT_WEIGHTED:
		for (size_t i = 0; i < n; i++)
			if (usable(p[i]))
				total += p[i];
		if (!(total > 0.0))
			break; /* nothing to weigh: uniform */
		for (size_t i = 0; i < n; i++) {
			if (!usable(p[i]))
				continue;
			acc += p[i];
			last = (int)i;
			if (acc > u * total)
				return (int)i;
		}
		/* Rounding left u * total at or above the sum. */
		return last;
	case SELECT_TOP:
		for (size_t i = 1; i < n; i++)
			if (p[i] > p[best] || (isnan(p[best]) && !isnan(p[i])))
				best = (int)i;
		return best;
	case SELECT_UNIFORM:
	case SELECT_NONE:
		break;
	}
	idx = (size_t)(u * (double)n);
	return (int)(idx < n ? idx : n - 1);
}

static const char *select_names[] = {"weighted", "uniform", "top", "none"};

/* "weighted" etc.; NULL for an out-of-range value. */
const char *
select_mode_name(enum select_mode m)
{
	if ((int)m < 0 || m > SELECT_NONE)
		return NULL;
	return select_names[m];
}

/* Parse a selection mode name; returns 0 and sets *m, or -1. */
int
select_mode_parse(const char *s, enum select_mode *m)
{
	for (int i = 0; i <= SELECT_NONE; i++) {
		if (strcmp(s, select_names[i]) == 0) {
			*m = (enum select_mode)i;
			return 0;
		}
	}
	return -1;
}

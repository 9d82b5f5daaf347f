/*
 * prob: from the numbers a model verbalized to the probabilities of a
 * result (docs/methods.md, Probabilities: steps 1-3 and 8).
 *
 * Models give probabilities that are missing, out of range or do not add
 * up; these steps make them a distribution without discarding what the
 * model did say. Leaf module: pure arithmetic.
 */
#include <math.h>

#include "prob.h"

/*
 * Step 0: a reply that gave bare percentages ("70, 20, 10") reads as
 * percentages. It does when every finite value is 0 or above 1 and at
 * most 100, at least one is above 1, and together they make 100 within
 * PCT_SLACK (models round). Anything else is left to the clamp.
 */
#define PCT_SLACK 10.0

static int
bare_percentages(const double *verbalized, size_t n)
{
	double sum = 0.0;
	int above = 0;

	for (size_t i = 0; i < n; i++) {
		double v = verbalized[i];

		if (!isfinite(v))
			continue;
		if (v > 1.0 && v <= 100.0)
			above = 1;
		else if (v != 0.0)
			return 0;
		sum += v;
	}
	return above && fabs(sum - 100.0) <= PCT_SLACK;
}

/*
 * Steps 0-3 for one call. A missing (NAN or infinite) value is marked
 * NAN in p during the first pass, so p may alias verbalized.
 */
void
prob_call(const double *verbalized, size_t n, double *p)
{
	double given = 0.0, share, total = 0.0, scale = 1.0;
	size_t missing = 0;

	if (n == 0)
		return;
	/* 0. bare percentages become fractions. */
	if (bare_percentages(verbalized, n))
		scale = 0.01;
	/* 1. clamp; NaN and inf count as missing. */
	for (size_t i = 0; i < n; i++) {
		double v = verbalized[i] * scale;

		if (!isfinite(v)) {
			p[i] = NAN;
			missing++;
			continue;
		}
		if (v < 0.0)
			v = 0.0;
		else if (v > 1.0)
			v = 1.0;
		p[i] = v;
		given += v;
	}
	/* 2. the missing ones share what is left, or get 1/count. */
	if (missing > 0) {
		share = (1.0 - given) / (double)missing;
		if (!(share > 0.0))
			share = 1.0 / (double)n;
		for (size_t i = 0; i < n; i++)
			if (isnan(p[i]))
				p[i] = share;
	}
	/* 3. normalise within the call; all zero becomes uniform. */
	for (size_t i = 0; i < n; i++)
		total += p[i];
	for (size_t i = 0; i < n; i++)
		p[i] = total > 0.0 ? p[i] / total : 1.0 / (double)n;
}

/*
 * Step 8. Values that are not finite and non-negative (which the steps
 * before never produce) are taken as 0 rather than poisoning the sum.
 */
void
prob_renormalise(double *p, size_t n)
{
	double total = 0.0;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(p[i]) || p[i] < 0.0)
			p[i] = 0.0;
		total += p[i];
	}
	for (size_t i = 0; i < n; i++)
		p[i] = total > 0.0 ? p[i] / total : 1.0 / (double)n;
}

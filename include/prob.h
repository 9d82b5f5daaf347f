/*
 * prob: turning verbalized probabilities into the normalised ones of a
 * result, in the order of docs/methods.md (Probabilities):
 *   0. bare percentages (all above 1, summing to about 100) become
 *      fractions;
 *   1. clamp to [0,1] (NaN/inf count as missing);
 *   2. missing ones share (1 - sum of those given) equally, or 1/count
 *      when that is not positive;
 *   3. normalise within the call;
 *   4. divide by the number of calls;
 *   5. apply min_probability;
 *   6-7. dedup (elsewhere);
 *   8. renormalise over what is kept.
 * Leaf module.
 */
#ifndef VSAMPD_PROB_H
#define VSAMPD_PROB_H

#include <stddef.h>

/* Steps 0-3 for one call: from verbalized[0..n) (NAN = missing) write
 * probabilities summing to 1 into p[0..n). Methods without verbalized
 * probabilities pass all-NAN and get a uniform split. */
void prob_call(const double *verbalized, size_t n, double *p);

/* Step 8 (and 4, which it makes moot for the final figures but keeps for
 * min_probability): scale p[0..n) to sum to 1; all-zero becomes uniform.
 * n == 0 is a no-op. */
void prob_renormalise(double *p, size_t n);

#endif

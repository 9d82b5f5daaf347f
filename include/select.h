/*
 * select: drawing one candidate by the verbalized distribution.
 * Deterministic: the same seed and probabilities give the same choice, so
 * a redelivered job selects the same way. Leaf module.
 */
#ifndef VSAMPD_SELECT_H
#define VSAMPD_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

/* The default seed of a job: a 64-bit hash (FNV-1a then a splitmix64
 * finaliser) of its id bytes. */
uint64_t select_seed(const char *id, size_t len);

/*
 * Pick an index into p[0..n) (probabilities summing to ~1):
 *   weighted: by p; uniform: each equally; top: the highest p (the first
 *   on ties); none: no selection.
 * Returns the index, or -1 for SELECT_NONE or n == 0.
 */
int select_pick(
    enum select_mode mode, const double *p, size_t n, uint64_t seed);

#endif

/*
 * select: drawing one candidate by the verbalized distribution.
 * Deterministic: the same seed and probabilities give the same choice, so
 * a redelivered job selects the same way. Leaf module.
 */
#ifndef VSAMPD_SELECT_H
#define VSAMPD_SELECT_H

#include <stddef.h>
#include <stdint.h>

/* How a job picks its one candidate (the job's `select`). */
enum select_mode {
	SELECT_WEIGHTED = 0,
	SELECT_UNIFORM,
	SELECT_TOP,
	SELECT_NONE
};

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

/* "weighted" etc.; NULL for an out-of-range value. */
const char *select_mode_name(enum select_mode m);
/* Parse a selection mode name; returns 0 and sets *m, or -1. */
int select_mode_parse(const char *s, enum select_mode *m);

#endif

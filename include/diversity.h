/*
 * diversity: how different the candidates of one result are, as the
 * Verbalized Sampling paper measures it (the exact
 * definitions are in docs/diversity.md): semantic diversity from embeddings,
 * pairwise-mean ROUGE-L F1 and distinct-1/2/3 over the tokens of
 * tokens.h. Leaf module: no I/O, no globals.
 */
#ifndef VSAMPD_DIVERSITY_H
#define VSAMPD_DIVERSITY_H

#include <stddef.h>

#include "tokens.h"

/* One result's scores; NAN is nil. distinct[0..2] are distinct_1..3. */
struct diversity {
	double semantic;
	double rouge_l;
	double distinct[3];
};

/*
 * Score the n texts (texts[i] of lens[i] bytes, not NUL-terminated; a
 * NULL text is allowed when its length is 0). Fills out->rouge_l (mean
 * ROUGE-L F1 over the pairs i < j, NAN when n < 2) and out->distinct
 * (pooled unique / total n-grams, NAN when there are none) and sets
 * out->semantic to NAN. Never fails.
 */
void diversity_lexical(const char *const *texts, const size_t *lens, size_t n,
    struct diversity *out);

/*
 * Mean over the pairs i < j of 1 - clip(cos(v_i, v_j), 0, 1), where
 * vecs holds n vectors of dim floats, row after row. A zero vector, or a
 * cosine that is not finite, counts as cosine 0. NAN when n < 2.
 */
double diversity_semantic(const float *vecs, size_t n, size_t dim);

/*
 * ROUGE-L F1 of the token sequences a (target) and b (prediction), as
 * rouge-score computes it: P = lcs/|b|, R = lcs/|a|, 2PR/(P+R), 0 when
 * either side is empty or nothing matches. Symmetric.
 */
double diversity_rouge_l_f1(const struct tokens *a, const struct tokens *b);

/*
 * Length of the longest common subsequence of a and b, bit-parallel
 * (Allison-Dix / Hyyro: 64-bit words over the shorter sequence, per-pair
 * symbol bitmasks). O(|a| |b| / 64) time, memory linear in |a| + |b|.
 */
size_t diversity_lcs_length(const struct tokens *a, const struct tokens *b);

/*
 * The same length by the plain O(|a| |b|) dynamic programme (two rows of
 * the table): the reference for tests and the baseline of the benchmark.
 */
size_t diversity_lcs_length_dp(const struct tokens *a, const struct tokens *b);

#endif

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

/* NoveltyBench's lexical rule: two texts are one class of answers when
 * their ROUGE-1 F1 is above this. */
#define DIVERSITY_CLASS_ROUGE1 0.458

/* One result's scores; NAN is nil. distinct[0..2] are distinct_1..3. */
struct diversity {
	double semantic;
	double rouge_l;
	double distinct[3];
	double vendi; /* from embeddings, like semantic */
	int classes; /* distinct classes of answers; -1: nil (no text) */
};

/*
 * Score the n texts (texts[i] of lens[i] bytes, not NUL-terminated; a
 * NULL text is allowed when its length is 0). Fills out->rouge_l (mean
 * ROUGE-L F1 over the pairs i < j, NAN when n < 2), out->distinct
 * (pooled unique / total n-grams, NAN when there are none) and
 * out->classes (below; -1 when n == 0), and sets out->semantic and
 * out->vendi to NAN. Never fails.
 *
 * classes: NoveltyBench's partition with its lexical rule. In text
 * order, each text joins the first class whose first text it matches
 * (ROUGE-1 F1 above DIVERSITY_CLASS_ROUGE1, on the tokens of tokens.h),
 * else it starts a class of its own; the count of classes.
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
 * The Vendi score (Friedman and Dieng, 2023) of n vectors of dim floats:
 * exp of the Shannon entropy of the eigenvalues of K/n, where K is the
 * matrix of cosines of the vectors, unclipped (so K is positive
 * semi-definite), with 0 log 0 = 0. 1 when the vectors all point the same
 * way, n when they are orthogonal. The eigenvalues are those of the
 * min(n, dim)-square Gram matrix, by cyclic Jacobi rotations; a zero
 * vector has no direction and counts for nothing (the eigenvalues are
 * scaled by the trace). NAN when n == 0 or every vector is zero.
 */
double diversity_vendi(const float *vecs, size_t n, size_t dim);

/* The eigenvalues of the symmetric m x m matrix a (row-major; destroyed)
 * into w[0..m), by cyclic Jacobi rotations. For tests. */
void diversity_sym_eigenvalues(double *a, size_t m, double *w);

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

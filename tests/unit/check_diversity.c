/*
 * check_diversity: the diversity measures against values worked out by
 * hand, against rouge-score's output on the sets of
 * tests/data/diversity/golden.json (made by make_golden.py; no Python at
 * run time), and the bit-parallel LCS against the DP table on random
 * sequences, including ones long enough to cross words and stripes.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diversity.h"
#include "tokens.h"

#define TOL 1e-12
#define GOLDEN_TOL 1e-6

static uint64_t rng_state;

/* xorshift64*, so the random cases are the same on every run. */
static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t
rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static void
tok(struct tokens *t, const char *s)
{
	tokens_init(t);
	tokens_split(t, s, strlen(s));
}

/* t becomes n tokens with the given hash values. */
static void
tok_vals(struct tokens *t, const uint64_t *v, size_t n)
{
	tokens_init(t);
	t->h = calloc(n ? n : 1, sizeof(*t->h));
	ck_assert_ptr_nonnull(t->h);
	if (n)
		memcpy(t->h, v, n * sizeof(*v));
	t->n = t->cap = n;
}

static void
assert_nan_or(double got, double want, double tol, const char *what)
{
	if (isnan(want)) {
		ck_assert_msg(isnan(got), "%s: got %.17g, want nil", what, got);
		return;
	}
	ck_assert_msg(!isnan(got) && fabs(got - want) <= tol,
	    "%s: got %.17g, want %.17g", what, got, want);
}

static void
lexical(const char *const *texts, size_t n, struct diversity *d)
{
	size_t lens[64];

	ck_assert_uint_le(n, 64);
	for (size_t i = 0; i < n; i++)
		lens[i] = texts[i] ? strlen(texts[i]) : 0;
	diversity_lexical(texts, lens, n, d);
}

/* ---- LCS and ROUGE-L F1 by hand ---- */

START_TEST(test_lcs_hand)
{
	struct tokens a, b;

	/* The textbook pair: ABCBDAB / BDCABA, LCS 4 (e.g. BCBA). */
	tok(&a, "a b c b d a b");
	tok(&b, "b d c a b a");
	ck_assert_uint_eq(diversity_lcs_length(&a, &b), 4);
	ck_assert_uint_eq(diversity_lcs_length(&b, &a), 4);
	ck_assert_uint_eq(diversity_lcs_length_dp(&a, &b), 4);
	tokens_free(&a);
	tokens_free(&b);

	tok(&a, "");
	tok(&b, "x y z");
	ck_assert_uint_eq(diversity_lcs_length(&a, &b), 0);
	ck_assert_uint_eq(diversity_lcs_length(&b, &a), 0);
	ck_assert_uint_eq(diversity_lcs_length_dp(&a, &b), 0);
	ck_assert_uint_eq(diversity_lcs_length(&a, &a), 0);
	tokens_free(&a);

	tok(&a, "Z");
	ck_assert_uint_eq(diversity_lcs_length(&a, &b), 1);
	tokens_free(&a);
	tok(&a, "q");
	ck_assert_uint_eq(diversity_lcs_length(&a, &b), 0);
	tokens_free(&a);
	tokens_free(&b);
}
END_TEST

/* Identical, reversed, repeated and thinned sequences across words. */
START_TEST(test_lcs_long)
{
	static const size_t lens[] = {
	    1, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 2048, 2049, 3001};
	uint64_t *v = malloc(3001 * sizeof(*v)), *w;
	struct tokens a, b;

	ck_assert_ptr_nonnull(v);
	w = malloc(3001 * sizeof(*w));
	ck_assert_ptr_nonnull(w);
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t n = lens[li], m;

		/* Distinct tokens: identical -> n, reversed -> 1. */
		for (size_t i = 0; i < n; i++) {
			v[i] = i * 0x9e3779b97f4a7c15ULL;
			w[n - 1 - i] = v[i];
		}
		tok_vals(&a, v, n);
		tok_vals(&b, v, n);
		ck_assert_uint_eq(diversity_lcs_length(&a, &b), n);
		tokens_free(&b);
		tok_vals(&b, w, n);
		ck_assert_uint_eq(diversity_lcs_length(&a, &b), 1);
		ck_assert_uint_eq(diversity_lcs_length(&b, &a), 1);
		tokens_free(&b);

		/* Every third token dropped: b is a subsequence of a. */
		m = 0;
		for (size_t i = 0; i < n; i++)
			if (i % 3 != 2)
				w[m++] = v[i];
		tok_vals(&b, w, m);
		ck_assert_uint_eq(diversity_lcs_length(&a, &b), m);
		ck_assert_uint_eq(diversity_lcs_length(&b, &a), m);
		tokens_free(&b);
		tokens_free(&a);

		/* One repeated token against a shorter run of it. */
		for (size_t i = 0; i < n; i++)
			v[i] = 0;
		tok_vals(&a, v, n);
		tok_vals(&b, v, n / 2 + 1);
		ck_assert_uint_eq(diversity_lcs_length(&a, &b), n / 2 + 1);
		tokens_free(&a);
		tokens_free(&b);
	}
	free(v);
	free(w);
}
END_TEST

/*
 * The i-th symbol of the random sequences: 0 and UINT64_MAX come first,
 * so no hash value may serve as a sentinel.
 */
static uint64_t
sym(size_t i)
{
	if (i == 0)
		return 0;
	if (i == 1)
		return UINT64_MAX;
	return i * 0x9e3779b97f4a7c15ULL;
}

/* Large alphabets leave words without a symbol, so carries cross them. */
static void
random_lcs_pair(size_t maxlen, size_t minlen)
{
	static const size_t alpha[] = {1, 2, 3, 4, 5, 8, 12, 26, 64, 200};
	size_t na = minlen + rnd_below(maxlen - minlen + 1);
	size_t nb = minlen + rnd_below(maxlen - minlen + 1);
	size_t k = alpha[rnd_below(sizeof(alpha) / sizeof(alpha[0]))];
	uint64_t *va = malloc((na + 1) * sizeof(*va));
	uint64_t *vb = malloc((nb + 1) * sizeof(*vb));
	struct tokens a, b;
	size_t want, got, got2;

	ck_assert_ptr_nonnull(va);
	ck_assert_ptr_nonnull(vb);
	for (size_t i = 0; i < na; i++)
		va[i] = sym(rnd_below(k));
	for (size_t i = 0; i < nb; i++)
		vb[i] = sym(rnd_below(k));
	/*
	 * Half the time b is a with a few edits: long runs of matches make
	 * the long carry chains (across words) that random pairs rarely do.
	 */
	if (rnd() & 1)
		for (size_t i = 0; i < nb && i < na; i++)
			if (rnd_below(16) != 0)
				vb[i] = va[i];
	/*
	 * A quarter of the time a has a run of symbols that b lacks: the
	 * words over it stay all ones, and carries must pass through them.
	 */
	if (rnd_below(4) == 0 && na > 64) {
		size_t from = rnd_below(na - 64), len = 64 + rnd_below(70);

		for (size_t i = from; i < na && i < from + len; i++)
			va[i] = sym(1000 + i);
	}
	tok_vals(&a, va, na);
	tok_vals(&b, vb, nb);
	want = diversity_lcs_length_dp(&a, &b);
	got = diversity_lcs_length(&a, &b);
	got2 = diversity_lcs_length(&b, &a);
	ck_assert_msg(got == want && got2 == want,
	    "lcs(%zu, %zu tokens, alphabet %zu) = %zu / %zu, dp %zu", na, nb, k,
	    got, got2, want);
	ck_assert_uint_eq(diversity_lcs_length_dp(&b, &a), want);
	tokens_free(&a);
	tokens_free(&b);
	free(va);
	free(vb);
}

START_TEST(test_lcs_random)
{
	rng_state = 0x243f6a8885a308d3ULL;
	for (int i = 0; i < 5000; i++)
		random_lcs_pair(300, 0);
}
END_TEST

START_TEST(test_lcs_random_long)
{
	rng_state = 0x13198a2e03707344ULL;
	for (int i = 0; i < 12; i++)
		random_lcs_pair(2600, 1000);
}
END_TEST

START_TEST(test_rouge_l_f1_hand)
{
	struct tokens a, b, e;

	/* LCS 5; P = 5/5, R = 5/6; F = 2 (5/6) / (11/6) = 10/11. */
	tok(&a, "The cat sat on the mat.");
	tok(&b, "the cat, on the mat");
	tok(&e, " -- ");
	ck_assert_double_eq_tol(diversity_rouge_l_f1(&a, &b), 10.0 / 11.0, TOL);
	ck_assert_double_eq_tol(diversity_rouge_l_f1(&b, &a), 10.0 / 11.0, TOL);
	ck_assert_double_eq(diversity_rouge_l_f1(&a, &a), 1.0);
	ck_assert_double_eq(diversity_rouge_l_f1(&a, &e), 0.0);
	ck_assert_double_eq(diversity_rouge_l_f1(&e, &a), 0.0);
	ck_assert_double_eq(diversity_rouge_l_f1(&e, &e), 0.0);
	tokens_free(&b);
	tok(&b, "dog");
	ck_assert_double_eq(diversity_rouge_l_f1(&a, &b), 0.0);
	tokens_free(&b);
	/* LCS 1 of 6 and 1: P = 1, R = 1/6, F = (1/3) / (7/6) = 2/7. */
	tok(&b, "MAT");
	ck_assert_double_eq_tol(diversity_rouge_l_f1(&a, &b), 2.0 / 7.0, TOL);
	tokens_free(&a);
	tokens_free(&b);
	tokens_free(&e);
}
END_TEST

/* ---- diversity_lexical by hand ---- */

START_TEST(test_lexical_hand)
{
	/*
	 * Pairs: (0,1) LCS 2 of 3 and 3 -> 2/3; the others 0: mean 2/9.
	 * 9 unigrams, 7 unique; bigrams ab bc ab bd xy yz: 5 of 6;
	 * trigrams abc abd xyz: 3 of 3.
	 */
	const char *t[] = {"a b c", "A, b; D!", "x y z"};
	struct diversity d;

	lexical(t, 3, &d);
	ck_assert(isnan(d.semantic));
	ck_assert_double_eq_tol(d.rouge_l, 2.0 / 9.0, TOL);
	ck_assert_double_eq_tol(d.distinct[0], 7.0 / 9.0, TOL);
	ck_assert_double_eq_tol(d.distinct[1], 5.0 / 6.0, TOL);
	ck_assert_double_eq_tol(d.distinct[2], 1.0, TOL);
}
END_TEST

START_TEST(test_lexical_repeated)
{
	/*
	 * "la" x4, x3, x1: pairs (4,3) LCS 3: P 1, R 3/4 -> 6/7;
	 * (4,1): P 1, R 1/4 -> 2/5; (3,1): P 1, R 1/3 -> 1/2.
	 * 8 unigrams, 1 unique; 5 bigrams, 1; 3 trigrams, 1.
	 */
	const char *t[] = {"la la la la", "la la la", "la"};
	struct diversity d;

	lexical(t, 3, &d);
	ck_assert_double_eq_tol(d.rouge_l, (6.0 / 7 + 2.0 / 5 + 0.5) / 3, TOL);
	ck_assert_double_eq_tol(d.distinct[0], 1.0 / 8, TOL);
	ck_assert_double_eq_tol(d.distinct[1], 1.0 / 5, TOL);
	ck_assert_double_eq_tol(d.distinct[2], 1.0 / 3, TOL);
}
END_TEST

START_TEST(test_lexical_identical_and_case)
{
	const char *t[] = {
	    "Hello, World!", "hello world", "HELLO\nworld?", "hello world"};
	struct diversity d;

	/* Four times the same two tokens: F 1 everywhere; no trigram. */
	lexical(t, 4, &d);
	ck_assert_double_eq(d.rouge_l, 1.0);
	ck_assert_double_eq_tol(d.distinct[0], 2.0 / 8, TOL);
	ck_assert_double_eq_tol(d.distinct[1], 1.0 / 4, TOL);
	ck_assert(isnan(d.distinct[2]));
}
END_TEST

START_TEST(test_lexical_nil)
{
	const char *one[] = {"only one here"};
	const char *empty[] = {"", "?!", NULL};
	const char *some[] = {"", "one two three", "one two"};
	struct diversity d;

	/* No candidates: everything nil. */
	lexical(NULL, 0, &d);
	ck_assert(isnan(d.semantic) && isnan(d.rouge_l));
	ck_assert(isnan(d.distinct[0]) && isnan(d.distinct[1]) &&
	    isnan(d.distinct[2]));

	/* One: rouge_l nil, distinct over its own n-grams. */
	lexical(one, 1, &d);
	ck_assert(isnan(d.rouge_l));
	ck_assert_double_eq(d.distinct[0], 1.0);
	ck_assert_double_eq(d.distinct[1], 1.0);
	ck_assert_double_eq(d.distinct[2], 1.0);
	lexical((const char *const[]){""}, 1, &d);
	ck_assert(isnan(d.rouge_l) && isnan(d.distinct[0]));

	/* No tokens at all: pairs score 0, distinct nil. */
	lexical(empty, 3, &d);
	ck_assert_double_eq(d.rouge_l, 0.0);
	ck_assert(isnan(d.distinct[0]) && isnan(d.distinct[1]) &&
	    isnan(d.distinct[2]));

	/* (0,1) 0, (0,2) 0, (1,2) P 1 R 2/3 -> 4/5: mean 4/15. */
	lexical(some, 3, &d);
	ck_assert_double_eq_tol(d.rouge_l, 4.0 / 15, TOL);
	ck_assert_double_eq_tol(d.distinct[0], 3.0 / 5, TOL);
	ck_assert_double_eq_tol(d.distinct[1], 2.0 / 3, TOL);
	ck_assert_double_eq_tol(d.distinct[2], 1.0, TOL);
}
END_TEST

/* Naive unique / total n-grams over token lists: O(total^2). */
static double
ref_distinct(struct tokens *t, size_t n, size_t k)
{
	size_t total = 0, uniq = 0;

	for (size_t i = 0; i < n; i++) {
		for (size_t p = 0; p + k <= t[i].n; p++) {
			int seen = 0;

			total++;
			/* Seen before (earlier text, or earlier here)? */
			for (size_t j = 0; j <= i && !seen; j++) {
				size_t end = j == i ? p : t[j].n + 1 - k;

				if (t[j].n < k)
					continue;
				for (size_t q = 0; q < end && !seen; q++)
					if (memcmp(t[i].h + p, t[j].h + q,
						k * sizeof(uint64_t)) == 0)
						seen = 1;
			}
			if (!seen)
				uniq++;
		}
	}
	return total ? (double)uniq / total : NAN;
}

/* The fast path of diversity_lexical against the slow definitions. */
START_TEST(test_lexical_random)
{
	static const char *words[] = {"the", "a", "of", "cat", "Cat", "dog",
	    "sat", "on", "mat", "2024", "x1", "and", "river", "light"};
	static const char *seps[] = {
	    " ", " ", " ", ", ", ". ", "\n", " -- ", "\xc3\xa9"};
	struct diversity d;

	rng_state = 0xa4093822299f31d0ULL;
	for (int iter = 0; iter < 300; iter++) {
		size_t n = rnd_below(9);
		char *texts[8];
		size_t lens[8];
		struct tokens t[8];
		double sum = 0.0;

		for (size_t i = 0; i < n; i++) {
			size_t nw = rnd_below(81), len = 0;
			char *s = malloc(nw * 16 + 1);

			ck_assert_ptr_nonnull(s);
			for (size_t w = 0; w < nw; w++) {
				const char *x = words[rnd_below(14)];
				const char *y = seps[rnd_below(8)];

				memcpy(s + len, x, strlen(x));
				len += strlen(x);
				memcpy(s + len, y, strlen(y));
				len += strlen(y);
			}
			texts[i] = s;
			lens[i] = len;
			tokens_init(&t[i]);
			tokens_split(&t[i], s, len);
		}
		diversity_lexical((const char *const *)texts, lens, n, &d);
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++) {
				size_t l =
				    diversity_lcs_length_dp(&t[i], &t[j]);
				double p, r;

				if (t[i].n == 0 || t[j].n == 0)
					continue;
				p = (double)l / t[j].n;
				r = (double)l / t[i].n;
				if (p + r > 0)
					sum += 2 * p * r / (p + r);
			}
		assert_nan_or(d.rouge_l,
		    n < 2 ? NAN : sum / (n * (n - 1) / 2.0), TOL, "rouge_l");
		for (size_t k = 0; k < 3; k++)
			assert_nan_or(d.distinct[k], ref_distinct(t, n, k + 1),
			    0.0, "distinct");
		for (size_t i = 0; i < n; i++) {
			free(texts[i]);
			tokens_free(&t[i]);
		}
	}
}
END_TEST

/* ---- against rouge-score ---- */

static json_t *
load(const char *name)
{
	char path[1024];
	json_error_t err;
	json_t *j;

	snprintf(
	    path, sizeof(path), "%s/tests/data/diversity/%s", SRCDIR, name);
	j = json_load_file(path, 0, &err);
	ck_assert_msg(j != NULL, "%s:%d: %s", path, err.line, err.text);
	ck_assert(json_is_array(j));
	return j;
}

static double
num_or_nan(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	ck_assert_msg(v != NULL, "golden key %s missing", key);
	if (json_is_null(v))
		return NAN;
	ck_assert(json_is_number(v));
	return json_number_value(v);
}

START_TEST(test_golden)
{
	json_t *fix = load("fixtures.json"), *gold = load("golden.json");
	size_t nset = json_array_size(gold);

	ck_assert_uint_ge(nset, 30);
	ck_assert_uint_eq(json_array_size(fix), nset);
	for (size_t s = 0; s < nset; s++) {
		json_t *g = json_array_get(gold, s);
		json_t *f = json_array_get(fix, s);
		json_t *gt = json_object_get(g, "texts");
		json_t *nt = json_object_get(g, "ntokens");
		const char *name =
		    json_string_value(json_object_get(g, "name"));
		size_t n = json_array_size(gt);
		const char **texts = calloc(n + 1, sizeof(*texts));
		size_t *lens = calloc(n + 1, sizeof(*lens));
		struct diversity d;
		char what[128];

		ck_assert_ptr_nonnull(name);
		ck_assert_ptr_nonnull(texts);
		ck_assert_ptr_nonnull(lens);
		ck_assert_msg(json_equal(gt, json_object_get(f, "texts")) &&
			json_equal(json_object_get(g, "name"),
			    json_object_get(f, "name")),
		    "%s: golden.json is stale; rerun make_golden.py", name);
		for (size_t i = 0; i < n; i++) {
			json_t *x = json_array_get(gt, i);
			struct tokens t;

			texts[i] = json_string_value(x);
			lens[i] = json_string_length(x);
			/* The tokeniser agrees with rouge-score's count. */
			tokens_init(&t);
			tokens_split(&t, texts[i], lens[i]);
			ck_assert_msg(t.n ==
				(size_t)json_integer_value(
				    json_array_get(nt, i)),
			    "%s: text %zu has %zu tokens", name, i, t.n);
			tokens_free(&t);
		}
		diversity_lexical(texts, lens, n, &d);
		ck_assert(isnan(d.semantic));
		snprintf(what, sizeof(what), "%s rouge_l", name);
		assert_nan_or(
		    d.rouge_l, num_or_nan(g, "rouge_l"), GOLDEN_TOL, what);
		for (int k = 0; k < 3; k++) {
			char key[16];

			snprintf(key, sizeof(key), "distinct_%d", k + 1);
			snprintf(what, sizeof(what), "%s %s", name, key);
			assert_nan_or(d.distinct[k], num_or_nan(g, key),
			    GOLDEN_TOL, what);
		}
		free(texts);
		free(lens);
	}
	json_decref(fix);
	json_decref(gold);
}
END_TEST

/* ---- semantic ---- */

START_TEST(test_semantic_hand)
{
	/* cos(e1,e2) 0, cos(e1,e3) = cos(e2,e3) = 1/sqrt 2. */
	const float v[] = {1, 0, 0, 1, 1, 1};
	const float opp[] = {1, 0, -1, 0};
	const float zero[] = {0, 0, 3, 4};
	const float same[] = {3, 4, 6, 8, 0.3f, 0.4f};
	const float bad[] = {NAN, 1, 1, 1};
	double want = (1.0 + 2 * (1 - 1 / sqrt(2.0))) / 3;
	double got;

	ck_assert_double_eq_tol(diversity_semantic(v, 3, 2), want, TOL);
	/* Negative cosine is clipped to 0: distance 1. */
	ck_assert_double_eq(diversity_semantic(opp, 2, 2), 1.0);
	/* A zero vector counts as cosine 0. */
	ck_assert_double_eq(diversity_semantic(zero, 2, 2), 1.0);
	ck_assert_double_eq(diversity_semantic(zero, 2, 1), 1.0);
	/* Parallel vectors of any length: 0 (never below). */
	got = diversity_semantic(same, 3, 2);
	ck_assert(got >= 0.0 && got < 1e-7);
	/* A NaN component makes the cosine not finite: counts as 0. */
	ck_assert_double_eq(diversity_semantic(bad, 2, 2), 1.0);
	/* Fewer than two vectors: nil. */
	ck_assert(isnan(diversity_semantic(v, 1, 2)));
	ck_assert(isnan(diversity_semantic(NULL, 0, 2)));
	/* dim 0: all vectors are zero. */
	ck_assert_double_eq(diversity_semantic(v, 3, 0), 1.0);
}
END_TEST

/* exp(-sum p log p) of eigenvalues l[0..m) of K/n, computed apart. */
static double
vendi_of(const double *l, size_t m)
{
	double h = 0.0;

	for (size_t i = 0; i < m; i++)
		if (l[i] > 0)
			h -= l[i] * log(l[i]);
	return exp(h);
}

START_TEST(test_vendi)
{
	const float same[] = {3, 4, 6, 8, 0.3f, 0.4f};
	const float orth[] = {1, 0, 0, 0, 2, 0, 0, 0, 5};
	/* cos = 0.5: K = [[1, .5], [.5, 1]], eigenvalues 1.5 and 0.5. */
	const float half[] = {1, 0, 0.5f, (float)(sqrt(3.0) / 2)};
	const double lh[] = {0.75, 0.25};
	/* Four vectors in two dimensions (the Gram side): e1 twice, e2
	 * twice; K/4 has eigenvalues 1/2, 1/2, 0, 0. */
	const float four[] = {1, 0, 2, 0, 0, 1, 0, 3};
	/* Opposite vectors: cosine -1, unclipped: eigenvalues 2 and 0. */
	const float opp[] = {1, 0, -1, 0};
	const float zero[] = {0, 0, 0, 0};
	const float withzero[] = {1, 0, 0, 0, 0, 1};

	ck_assert_double_eq_tol(diversity_vendi(same, 3, 2), 1.0, 1e-6);
	ck_assert_double_eq_tol(diversity_vendi(orth, 3, 3), 3.0, 1e-9);
	ck_assert_double_eq_tol(
	    diversity_vendi(half, 2, 2), vendi_of(lh, 2), 1e-6);
	ck_assert_double_eq_tol(diversity_vendi(four, 4, 2), 2.0, 1e-9);
	ck_assert_double_eq_tol(diversity_vendi(opp, 2, 2), 1.0, 1e-9);
	ck_assert_double_eq_tol(diversity_vendi(orth, 1, 3), 1.0, 1e-12);
	/* A zero vector counts for nothing: e1 and e2 give 2. */
	ck_assert_double_eq_tol(diversity_vendi(withzero, 3, 2), 2.0, 1e-9);
	ck_assert(isnan(diversity_vendi(zero, 2, 2)));
	ck_assert(isnan(diversity_vendi(NULL, 0, 2)));
}
END_TEST

START_TEST(test_vendi_random)
{
	/* 12 random unit vectors in 5 dimensions, both sides of the Gram
	 * trick: the n x n and the dim x dim matrix agree, and the score
	 * lies between 1 and min(n, dim). */
	float v[12 * 5];
	uint64_t s = 88172645463325252ULL;
	double a, b;

	for (size_t i = 0; i < 12 * 5; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		v[i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
	}
	a = diversity_vendi(v, 5, 5); /* n x n, n == dim */
	b = diversity_vendi(v, 12, 5); /* dim x dim */
	ck_assert(a > 1 && a <= 5 + 1e-9);
	ck_assert(b > 1 && b <= 5 + 1e-9);
	/* The same 5 vectors as 5 rows of a 12-column layout padded with
	 * zeros would be n x n too: the score does not depend on padding. */
	{
		float p[5 * 12];

		memset(p, 0, sizeof(p));
		for (size_t i = 0; i < 5; i++)
			memcpy(p + i * 12, v + i * 5, 5 * sizeof(float));
		ck_assert_double_eq_tol(diversity_vendi(p, 5, 12), a, 1e-9);
	}
}
END_TEST

START_TEST(test_eigenvalues)
{
	/* Tridiagonal 2, 1: eigenvalues 2 - sqrt 2, 2, 2 + sqrt 2. */
	double a[9] = {2, 1, 0, 1, 2, 1, 0, 1, 2}, w[3], t;

	diversity_sym_eigenvalues(a, 3, w);
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (w[j] < w[i]) {
				t = w[i];
				w[i] = w[j];
				w[j] = t;
			}
	ck_assert_double_eq_tol(w[0], 2 - sqrt(2.0), 1e-12);
	ck_assert_double_eq_tol(w[1], 2, 1e-12);
	ck_assert_double_eq_tol(w[2], 2 + sqrt(2.0), 1e-12);
}
END_TEST

static int
classes_of(const char *const *t, size_t n)
{
	size_t lens[16];
	struct diversity d;

	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(t[i]);
	diversity_lexical(t, lens, n, &d);
	return d.classes;
}

START_TEST(test_classes)
{
	const char *same[] = {"The cat sat.", "the cat sat", "THE CAT SAT!"};
	const char *apart[] = {"red apples in autumn", "a train leaves at noon",
	    "quiet snow on pines", "my uncle sells boats"};
	/* F1 of the first two: 5 of 6 unigrams shared, 0.833. */
	const char *near[] = {"the cat sat on the mat", "the cat sat on a mat",
	    "dogs bark at night"};
	/* a~b (F1 0.6), b~c (0.6), a!~c (0.2): c is compared with a, the
	 * first of the class, so it starts a class of its own. */
	const char *chain[] = {"w1 w2 w3 w4 w5", "w3 w4 w5 w6 w7",
	    "w5 w6 w7 w8 w9"};
	/* Half the words shared (F1 0.5) is above 0.458: one class; two
	 * of five (F1 0.4) is not. */
	const char *half[] = {"a b c d", "a b e f"};
	const char *less[] = {"a b c d e", "a b f g h"};

	ck_assert_int_eq(classes_of(same, 3), 1);
	ck_assert_int_eq(classes_of(apart, 4), 4);
	ck_assert_int_eq(classes_of(near, 3), 2);
	ck_assert_int_eq(classes_of(chain, 3), 2);
	ck_assert_int_eq(classes_of(half, 2), 1);
	ck_assert_int_eq(classes_of(less, 2), 2);
	ck_assert_int_eq(classes_of(apart, 1), 1);
	ck_assert_int_eq(classes_of(apart, 0), -1);
}
END_TEST

static Suite *
diversity_suite(void)
{
	Suite *s = suite_create("diversity");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lcs_hand);
	tcase_add_test(tc, test_lcs_long);
	tcase_add_test(tc, test_lcs_random);
	tcase_add_test(tc, test_lcs_random_long);
	tcase_add_test(tc, test_rouge_l_f1_hand);
	tcase_add_test(tc, test_lexical_hand);
	tcase_add_test(tc, test_lexical_repeated);
	tcase_add_test(tc, test_lexical_identical_and_case);
	tcase_add_test(tc, test_lexical_nil);
	tcase_add_test(tc, test_lexical_random);
	tcase_add_test(tc, test_golden);
	tcase_add_test(tc, test_semantic_hand);
	tcase_add_test(tc, test_vendi);
	tcase_add_test(tc, test_vendi_random);
	tcase_add_test(tc, test_eigenvalues);
	tcase_add_test(tc, test_classes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(diversity_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

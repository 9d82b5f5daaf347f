/*
 * diversity: semantic and lexical diversity of a candidate set.
 *
 * The lexical scores must be cheap enough to run on every result, so
 * diversity_lexical() tokenises each text once, gives every distinct
 * token of the job a small integer id (one hash table sized to the total),
 * counts unique n-grams in one hash set of packed ids (no quadratic
 * scan), and scores each pair with a bit-parallel LCS whose symbol lookup
 * is an array index.
 *
 * The LCS follows Hyyro's form of the Allison-Dix recurrence: with V a
 * bit vector over the shorter sequence a (all ones at the start) and
 * M[c] the positions of symbol c in a, every symbol c of b does
 *	V = (V + (V & M[c])) | (V & ~M[c])
 * and the LCS length is the number of zero bits left in V. Pairs are
 * grouped by their shorter text, whose masks are built once for all of
 * them. V is processed in stripes of at most STRIPE_WORDS words, the
 * carry out of each stripe at each step of b kept in a byte array, so the
 * masks never take more than (STRIPE_BITS + 1) x STRIPE_WORDS words
 * (about 128 KiB), however long the texts are. Time stays O(|a| |b| / 64) per
 * pair and quadratic in the number of candidates (docs/diversity.md).
 *
 * A leaf module: no I/O. The embeddings come from the pipeline, which
 * asked the embeddings backend for them.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "diversity.h"
#include "hash.h"
#include "tokens.h"
#include "xmalloc.h"

#define ID_NONE UINT32_MAX
#define STRIPE_WORDS 16
#define STRIPE_BITS (STRIPE_WORDS * 64)

/* Token hash -> dense id, open addressing; vals[i] == ID_NONE is empty. */
struct idmap {
	uint64_t *keys;
	uint32_t *vals;
	size_t mask;
	uint32_t n;
};

/* Scratch of the LCS, reused across the pairs of one job. */
struct lcs_ws {
	uint32_t *lut; /* id -> symbol in the current stripe, 0 if none */
	uint64_t *masks; /* symbol-major, nw words each; symbol 0 is empty */
	size_t masks_cap;
	unsigned char *carry; /* carry into the next stripe, per step of b */
	size_t carry_cap;
};

/* A power of two at least twice want (load factor <= 1/2), at least 16. */
static size_t
table_size(size_t want)
{
	size_t cap = 16;

	while (cap < want * 2)
		cap *= 2;
	return cap;
}

static void
idmap_init(struct idmap *m, size_t expect)
{
	size_t cap = table_size(expect);

	m->keys = xreallocarray(NULL, cap, sizeof(*m->keys));
	m->vals = xreallocarray(NULL, cap, sizeof(*m->vals));
	memset(m->vals, 0xff, cap * sizeof(*m->vals));
	m->mask = cap - 1;
	m->n = 0;
}

static void
idmap_free(struct idmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
}

/*
 * The id of key; a new one when add is set and key is new, else ID_NONE.
 * Token hashes are already mixed (tokens.c), so their low bits index the
 * table directly.
 */
static uint32_t
idmap_find(struct idmap *m, uint64_t key, int add)
{
	size_t i = (size_t)key & m->mask;

	while (m->vals[i] != ID_NONE) {
		if (m->keys[i] == key)
			return m->vals[i];
		i = (i + 1) & m->mask;
	}
	if (!add)
		return ID_NONE;
	m->keys[i] = key;
	m->vals[i] = m->n;
	return m->n++;
}

static void
lcs_ws_init(struct lcs_ws *ws, size_t nid)
{
	/* One more slot for the id that stands for "not in a". */
	ws->lut = xcalloc(nid + 1, sizeof(*ws->lut));
	ws->masks = NULL;
	ws->masks_cap = 0;
	ws->carry = NULL;
	ws->carry_cap = 0;
}

static void
lcs_ws_free(struct lcs_ws *ws)
{
	free(ws->lut);
	free(ws->masks);
	free(ws->carry);
	ws->lut = NULL;
	ws->masks = NULL;
	ws->carry = NULL;
}

/*
 * Give the distinct ids of one stripe a[0..sm) (sm <= STRIPE_BITS)
 * symbols 1, 2, ... in ws->lut and their position masks in ws->masks.
 * Every other id keeps symbol 0, whose mask is empty: the scans below
 * run it through the same arithmetic (it leaves V unchanged but for a
 * carry), which costs less than a branch that cannot be predicted.
 */
static void
stripe_build(const uint32_t *a, size_t sm, struct lcs_ws *ws)
{
	size_t nw = (sm + 63) / 64;
	uint32_t *lut = ws->lut, nsym = 1;
	uint64_t *masks;

	/* At most sm symbols and the empty one, of nw words each. */
	if (ws->masks_cap < (sm + 1) * nw) {
		ws->masks_cap = (sm + 1) * nw;
		ws->masks =
		    xreallocarray(ws->masks, ws->masks_cap, sizeof(*ws->masks));
	}
	masks = ws->masks;
	for (size_t w = 0; w < nw; w++)
		masks[w] = 0;
	for (size_t p = 0; p < sm; p++) {
		uint32_t s = lut[a[p]];

		if (s == 0) {
			s = lut[a[p]] = nsym++;
			for (size_t w = 0; w < nw; w++)
				masks[(size_t)s * nw + w] = 0;
		}
		masks[(size_t)s * nw + p / 64] |= 1ULL << (p % 64);
	}
}

/* Put ws->lut back to all 0 after stripe_build(a, sm). */
static void
stripe_reset(const uint32_t *a, size_t sm, struct lcs_ws *ws)
{
	for (size_t p = 0; p < sm; p++)
		ws->lut[a[p]] = 0;
}

/* Zero bits among the low sm bits of v[0..nw): the matches. */
static size_t
count_zeros(const uint64_t *v, size_t nw, size_t sm)
{
	size_t z = 0;

	for (size_t w = 0; w < nw; w++) {
		size_t bits = w + 1 < nw ? 64 : sm - w * 64;
		uint64_t real = bits == 64 ? ~0ULL : (1ULL << bits) - 1;

		z += bits - (size_t)__builtin_popcountll(v[w] & real);
	}
	return z;
}

/*
 * Hyyro's update of one word of V for a symbol with mask m, the carry
 * of the addition coming in and going out through c.
 */
static inline void
lcs_word(uint64_t *v, uint64_t m, uint64_t *c)
{
	uint64_t vw = *v, x = vw + (vw & m), y = x + *c;

	*c = (x < vw) | (y < x);
	*v = y | (vw & ~m);
}

/*
 * One stripe of sm bits that is the whole of a, so no carry comes in or
 * goes out. NW is a constant in the callers below, so the compiler keeps
 * V in registers. Bits above sm in the top word start as ones and never
 * match, so they stay ones.
 */
static inline size_t
scan_whole(const uint32_t *b, size_t n, size_t sm, const uint32_t *lut,
    const uint64_t *masks, const size_t NW)
{
	uint64_t v[4] = {~0ULL, ~0ULL, ~0ULL, ~0ULL};
	uint64_t v0 = ~0ULL, v1 = ~0ULL, v2 = ~0ULL, v3 = ~0ULL;

	for (size_t t = 0; t < n; t++) {
		const uint64_t *mk = masks + (size_t)lut[b[t]] * NW;
		uint64_t c = 0;

		lcs_word(&v0, mk[0], &c);
		if (NW > 1)
			lcs_word(&v1, mk[1], &c);
		if (NW > 2)
			lcs_word(&v2, mk[2], &c);
		if (NW > 3)
			lcs_word(&v3, mk[3], &c);
	}
	v[0] = v0;
	v[1] = v1;
	v[2] = v2;
	v[3] = v3;
	return count_zeros(v, NW, sm);
}

/*
 * Run all of b through the stripe that stripe_build() set up and return
 * its matches. With first unset the carry into each step comes from
 * ws->carry; with last unset the carry out goes there (the carry out of
 * bit sm - 1 leaves the top word unchanged, through the padding ones).
 */
static size_t
stripe_scan(const uint32_t *b, size_t n, size_t sm, int first, int last,
    struct lcs_ws *ws)
{
	const uint32_t *lut = ws->lut;
	const uint64_t *masks = ws->masks;
	size_t nw = (sm + 63) / 64;
	uint64_t v[STRIPE_WORDS];

	if (first && last) {
		switch (nw) {
		case 1:
			return scan_whole(b, n, sm, lut, masks, 1);
		case 2:
			return scan_whole(b, n, sm, lut, masks, 2);
		case 3:
			return scan_whole(b, n, sm, lut, masks, 3);
		case 4:
			return scan_whole(b, n, sm, lut, masks, 4);
		}
	}
	for (size_t w = 0; w < nw; w++)
		v[w] = ~0ULL;
	for (size_t t = 0; t < n; t++) {
		const uint64_t *mk = masks + (size_t)lut[b[t]] * nw;
		uint64_t c = first ? 0 : ws->carry[t];

		for (size_t w = 0; w < nw; w++)
			lcs_word(&v[w], mk[w], &c);
		if (!last)
			ws->carry[t] = (unsigned char)c;
	}
	return count_zeros(v, nw, sm);
}

/*
 * LCS length of the id sequences a (m, the bit side) and b (n), stripe
 * by stripe. Every id must have a slot in ws->lut, which holds 0
 * everywhere on entry and on return.
 */
static size_t
lcs_ids(
    const uint32_t *a, size_t m, const uint32_t *b, size_t n, struct lcs_ws *ws)
{
	size_t lcs = 0;

	if (m == 0 || n == 0)
		return 0;
	if (m > STRIPE_BITS) {
		if (ws->carry_cap < n) {
			ws->carry = xreallocarray(ws->carry, n, 1);
			ws->carry_cap = n;
		}
	}
	for (size_t s0 = 0; s0 < m; s0 += STRIPE_BITS) {
		size_t sm = m - s0 < STRIPE_BITS ? m - s0 : STRIPE_BITS;

		stripe_build(a + s0, sm, ws);
		lcs += stripe_scan(b, n, sm, s0 == 0, s0 + sm == m, ws);
		stripe_reset(a + s0, sm, ws);
	}
	return lcs;
}

/* rouge-score's F1, in its order of operations (scoring.fmeasure). */
static double
f1(size_t lcs, size_t ntarget, size_t npred)
{
	double p, r;

	if (ntarget == 0 || npred == 0)
		return 0.0;
	p = (double)lcs / (double)npred;
	r = (double)lcs / (double)ntarget;
	if (p + r > 0)
		return 2 * p * r / (p + r);
	return 0.0;
}

size_t
diversity_lcs_length(const struct tokens *a, const struct tokens *b)
{
	const struct tokens *x = a, *y = b;
	struct idmap map;
	struct lcs_ws ws;
	uint32_t *xi, *yi;
	size_t lcs;

	if (a->n == 0 || b->n == 0)
		return 0;
	/* The bits go over the shorter sequence. */
	if (y->n < x->n) {
		x = b;
		y = a;
	}
	idmap_init(&map, x->n);
	xi = xreallocarray(NULL, x->n, sizeof(*xi));
	yi = xreallocarray(NULL, y->n, sizeof(*yi));
	for (size_t i = 0; i < x->n; i++)
		xi[i] = idmap_find(&map, x->h[i], 1);
	/* Tokens of y that x lacks all share the id map.n: never matched. */
	for (size_t i = 0; i < y->n; i++) {
		uint32_t id = idmap_find(&map, y->h[i], 0);

		yi[i] = id == ID_NONE ? map.n : id;
	}
	lcs_ws_init(&ws, map.n);
	lcs = lcs_ids(xi, x->n, yi, y->n, &ws);
	lcs_ws_free(&ws);
	free(xi);
	free(yi);
	idmap_free(&map);
	return lcs;
}

size_t
diversity_lcs_length_dp(const struct tokens *a, const struct tokens *b)
{
	const struct tokens *x = a, *y = b;
	size_t *prev, *cur, *tmp, lcs;

	/* Rows over the shorter sequence. */
	if (y->n > x->n) {
		x = b;
		y = a;
	}
	prev = xcalloc(y->n + 1, sizeof(*prev));
	cur = xcalloc(y->n + 1, sizeof(*cur));
	for (size_t i = 0; i < x->n; i++) {
		for (size_t j = 0; j < y->n; j++) {
			if (x->h[i] == y->h[j])
				cur[j + 1] = prev[j] + 1;
			else
				cur[j + 1] =
				    prev[j + 1] > cur[j] ? prev[j + 1] : cur[j];
		}
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	lcs = prev[y->n];
	free(prev);
	free(cur);
	return lcs;
}

double
diversity_rouge_l_f1(const struct tokens *a, const struct tokens *b)
{
	if (a->n == 0 || b->n == 0)
		return 0.0;
	return f1(diversity_lcs_length(a, b), a->n, b->n);
}

/*
 * Unique / total n-grams of length k over the id sequences, or NAN when
 * there are none. An n-gram's key packs its ids exactly (21 bits each
 * for trigrams while the ids fit, else a 64-bit hash of them).
 */
static double
distinct_k(
    const uint32_t *ids, const size_t *off, size_t n, size_t k, uint32_t nid)
{
	uint64_t *set;
	size_t total = 0, uniq = 0, mask, cap;

	for (size_t i = 0; i < n; i++) {
		size_t len = off[i + 1] - off[i];

		if (len >= k)
			total += len - k + 1;
	}
	if (total == 0)
		return NAN;
	if (k == 1)
		return (double)nid / (double)total;

	/* UINT64_MAX marks an empty slot; no key below can take it. */
	cap = table_size(total);
	mask = cap - 1;
	set = xreallocarray(NULL, cap, sizeof(*set));
	memset(set, 0xff, cap * sizeof(*set));
	for (size_t i = 0; i < n; i++) {
		for (size_t p = off[i]; p + k <= off[i + 1]; p++) {
			uint64_t key;
			size_t s;

			if (k == 2)
				key = (uint64_t)ids[p] << 32 | ids[p + 1];
			else if (nid <= (1U << 21))
				key = (uint64_t)ids[p] << 42 |
				    (uint64_t)ids[p + 1] << 21 | ids[p + 2];
			else {
				key = hash_mix64(
				    hash_mix64(
					(uint64_t)ids[p] << 32 | ids[p + 1]) ^
				    ids[p + 2]);
				if (key == UINT64_MAX)
					key--;
			}
			for (s = hash_mix64(key) & mask; set[s] != UINT64_MAX;
			     s = (s + 1) & mask)
				if (set[s] == key)
					break;
			if (set[s] == UINT64_MAX) {
				set[s] = key;
				uniq++;
			}
		}
	}
	free(set);
	return (double)uniq / (double)total;
}

/* True when text a is the bit side of the pair (a, b): the shorter. */
static int
bit_side(const size_t *off, size_t a, size_t b)
{
	size_t la = off[a + 1] - off[a], lb = off[b + 1] - off[b];

	return la < lb || (la == lb && a < b);
}

/*
 * Mean ROUGE-L F1 over the pairs of the n >= 2 id sequences. Pairs are
 * grouped by their bit side, so a text that fits one stripe has its
 * symbol masks built once for all the pairs where it is the shorter.
 */
static double
pairs_rouge_l(const uint32_t *ids, const size_t *off, size_t n, uint32_t nid)
{
	struct lcs_ws ws;
	double sum = 0.0;

	lcs_ws_init(&ws, nid);
	for (size_t a = 0; a < n; a++) {
		const uint32_t *sa = ids + off[a];
		size_t ma = off[a + 1] - off[a];

		if (ma == 0)
			continue; /* every pair with an empty side scores 0 */
		if (ma <= STRIPE_BITS)
			stripe_build(sa, ma, &ws);
		for (size_t b = 0; b < n; b++) {
			size_t nb = off[b + 1] - off[b], lcs;

			if (b == a || !bit_side(off, a, b))
				continue;
			if (ma <= STRIPE_BITS)
				lcs = stripe_scan(
				    ids + off[b], nb, ma, 1, 1, &ws);
			else
				lcs = lcs_ids(sa, ma, ids + off[b], nb, &ws);
			/* Target is the lower index, as in golden.json. */
			sum += a < b ? f1(lcs, ma, nb) : f1(lcs, nb, ma);
		}
		if (ma <= STRIPE_BITS)
			stripe_reset(sa, ma, &ws);
	}
	lcs_ws_free(&ws);
	return sum / ((double)n * (double)(n - 1) / 2.0);
}

/*
 * Distinct classes (diversity.h): each text is compared with the first
 * text of each class so far, by ROUGE-1 F1 over its sorted token
 * hashes (a multiset: repeats count).
 */
static int
classes_count(const struct tokens *tk, size_t n)
{
	uint64_t **s = xcalloc(n, sizeof(*s));
	size_t *rep = xreallocarray(NULL, n, sizeof(*rep)), nrep = 0;

	for (size_t i = 0; i < n; i++) {
		s[i] = xreallocarray(NULL, tk[i].n ? tk[i].n : 1, sizeof(**s));
		if (tk[i].n > 0)
			memcpy(s[i], tk[i].h, tk[i].n * sizeof(**s));
		dedup_sort_hashes(s[i], tk[i].n);
	}
	for (size_t j = 0; j < n; j++) {
		size_t r;

		for (r = 0; r < nrep; r++) {
			size_t i = rep[r];
			size_t o = dedup_sorted_overlap(
			    s[i], tk[i].n, s[j], tk[j].n);

			if (f1(o, tk[i].n, tk[j].n) > DIVERSITY_CLASS_ROUGE1)
				break;
		}
		if (r == nrep)
			rep[nrep++] = j;
	}
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
	free(rep);
	return (int)nrep;
}

void
diversity_lexical(const char *const *texts, const size_t *lens, size_t n,
    struct diversity *out)
{
	struct tokens *tk;
	struct idmap map;
	uint32_t *ids;
	size_t *off, total = 0;

	out->semantic = NAN;
	out->vendi = NAN;
	out->rouge_l = NAN;
	out->classes = -1;
	for (size_t k = 0; k < 3; k++)
		out->distinct[k] = NAN;
	if (n == 0)
		return;

	tk = xcalloc(n, sizeof(*tk));
	for (size_t i = 0; i < n; i++) {
		tokens_init(&tk[i]);
		tokens_split(&tk[i], texts[i], lens[i]);
		total += tk[i].n;
	}
	/*
	 * Ids are 32-bit; 2^32 tokens would take far more than any reply
	 * cap allows (and 32 GiB of hashes), so such a set is not scored.
	 */
	if (total >= ID_NONE)
		goto done_tokens;

	idmap_init(&map, total);
	ids = xreallocarray(NULL, total ? total : 1, sizeof(*ids));
	off = xreallocarray(NULL, n + 1, sizeof(*off));
	off[0] = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < tk[i].n; j++)
			ids[off[i] + j] = idmap_find(&map, tk[i].h[j], 1);
		off[i + 1] = off[i] + tk[i].n;
	}
	for (size_t k = 0; k < 3; k++)
		out->distinct[k] = distinct_k(ids, off, n, k + 1, map.n);

	if (n >= 2)
		out->rouge_l = pairs_rouge_l(ids, off, n, map.n);
	out->classes = classes_count(tk, n);
	free(off);
	free(ids);
	idmap_free(&map);
done_tokens:
	for (size_t i = 0; i < n; i++)
		tokens_free(&tk[i]);
	free(tk);
}

double
diversity_semantic(const float *vecs, size_t n, size_t dim)
{
	double *norm, sum = 0.0;

	if (n < 2)
		return NAN;
	norm = xreallocarray(NULL, n, sizeof(*norm));
	for (size_t i = 0; i < n; i++) {
		double s = 0.0;

		for (size_t d = 0; d < dim; d++)
			s += (double)vecs[i * dim + d] * vecs[i * dim + d];
		norm[i] = sqrt(s);
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			const float *x = vecs + i * dim, *y = vecs + j * dim;
			double dot = 0.0, c = 0.0;

			if (norm[i] > 0 && norm[j] > 0) {
				for (size_t d = 0; d < dim; d++)
					dot += (double)x[d] * y[d];
				c = dot / (norm[i] * norm[j]);
			}
			if (!isfinite(c) || c < 0)
				c = 0.0;
			else if (c > 1)
				c = 1.0;
			sum += 1.0 - c;
		}
	}
	free(norm);
	return sum / ((double)n * (double)(n - 1) / 2.0);
}

/*
 * Cyclic Jacobi: rotate away each off-diagonal element in turn until the
 * off-diagonal mass is negligible next to the diagonal (at most 64
 * sweeps; a few suffice for the small matrices of one job).
 */
void
diversity_sym_eigenvalues(double *a, size_t m, double *w)
{
	for (int sweep = 0; sweep < 64; sweep++) {
		double off = 0.0, diag = 0.0;

		for (size_t p = 0; p < m; p++) {
			diag += a[p * m + p] * a[p * m + p];
			for (size_t q = p + 1; q < m; q++)
				off += a[p * m + q] * a[p * m + q];
		}
		if (off <= 1e-30 * (diag > 0 ? diag : 1.0))
			break;
		for (size_t p = 0; p < m; p++) {
			for (size_t q = p + 1; q < m; q++) {
				double apq = a[p * m + q], theta, t, c, sn;

				if (fabs(apq) < 1e-300)
					continue;
				theta = (a[q * m + q] - a[p * m + p]) / (2 * apq);
				t = (theta >= 0 ? 1.0 : -1.0) /
				    (fabs(theta) + sqrt(theta * theta + 1));
				c = 1 / sqrt(t * t + 1);
				sn = t * c;
				for (size_t k = 0; k < m; k++) {
					double akp = a[k * m + p], akq = a[k * m + q];

					a[k * m + p] = c * akp - sn * akq;
					a[k * m + q] = sn * akp + c * akq;
				}
				for (size_t k = 0; k < m; k++) {
					double apk = a[p * m + k], aqk = a[q * m + k];

					a[p * m + k] = c * apk - sn * aqk;
					a[q * m + k] = sn * apk + c * aqk;
				}
			}
		}
	}
	for (size_t p = 0; p < m; p++)
		w[p] = a[p * m + p];
}

double
diversity_vendi(const float *vecs, size_t n, size_t dim)
{
	size_t m = n <= dim ? n : dim;
	double *x, *g, *w, trace = 0.0, h = 0.0;

	if (n == 0 || dim == 0)
		return NAN;
	/* The unit vectors, row after row (zero rows stay zero). */
	x = xreallocarray(NULL, n * dim, sizeof(*x));
	for (size_t i = 0; i < n; i++) {
		double s = 0.0;

		for (size_t d = 0; d < dim; d++)
			s += (double)vecs[i * dim + d] * vecs[i * dim + d];
		s = sqrt(s);
		for (size_t d = 0; d < dim; d++)
			x[i * dim + d] = s > 0 && isfinite(s)
			    ? (double)vecs[i * dim + d] / s
			    : 0.0;
	}
	/* X X^T (n x n) or X^T X (dim x dim): the same nonzero
	 * eigenvalues, in the smaller matrix. */
	g = xcalloc(m * m, sizeof(*g));
	for (size_t p = 0; p < m; p++) {
		for (size_t q = p; q < m; q++) {
			double s = 0.0;

			if (n <= dim)
				for (size_t d = 0; d < dim; d++)
					s += x[p * dim + d] * x[q * dim + d];
			else
				for (size_t i = 0; i < n; i++)
					s += x[i * dim + p] * x[i * dim + q];
			g[p * m + q] = g[q * m + p] = s;
		}
	}
	for (size_t p = 0; p < m; p++)
		trace += g[p * m + p];
	if (!(trace > 0)) {
		free(g);
		free(x);
		return NAN;
	}
	w = xreallocarray(NULL, m, sizeof(*w));
	diversity_sym_eigenvalues(g, m, w);
	for (size_t p = 0; p < m; p++) {
		double l = w[p] / trace;

		if (l > 1e-12)
			h -= l * log(l);
	}
	free(w);
	free(g);
	free(x);
	return exp(h);
}

/*
 * dedup: exact and near duplicates inside one job.
 *
 * The contract (docs/dedup.md) asks for exact Jaccard similarity of
 * token sets in a job, so that the counts in a result are deterministic.
 * A job holds at most 1000 candidates, so the pairwise comparison against
 * the kept ones is affordable: each text becomes a sorted array of its
 * distinct token hashes, and two arrays are compared with one merge. The
 * exact test is a 64-bit hash of the normalised form, computed while
 * normalising so no copy of the text is made. Leaf module.
 */
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "hash.h"
#include "xmalloc.h"

/* ispunct() in the C locale, without depending on the current locale. */
static int
is_punct(unsigned char c)
{
	return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) ||
	    (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/* isspace() in the C locale: space, \t, \n, \v, \f, \r. */
static int
is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * The one normaliser: writes to out when it is not NULL and returns the
 * FNV-1a state over the bytes it produced, so the hash and the written
 * form can never disagree. *outlen gets the length.
 */
static uint64_t
normalise(const char *text, size_t len, char *out, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)text;
	uint64_t h = HASH_FNV_OFFSET;
	size_t o = 0;
	int pending = 0, any = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (is_punct(c))
			continue;
		if (is_space(c)) {
			/* Only a space between two kept bytes survives. */
			pending = any;
			continue;
		}
		if (pending) {
			if (out != NULL)
				out[o] = ' ';
			o++;
			h = hash_fnv1a_byte(h, ' ');
			pending = 0;
		}
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (out != NULL)
			out[o] = (char)c;
		o++;
		h = hash_fnv1a_byte(h, c);
		any = 1;
	}
	*outlen = o;
	return h;
}

/*
 * Normalise text[0..len) into out (room for len bytes); see dedup.h for
 * the rules. Returns the length written.
 */
size_t
dedup_normalise(const char *text, size_t len, char *out)
{
	size_t o;

	(void)normalise(text, len, out, &o);
	return o;
}

/* The 64-bit hash of the normalised form of text[0..len); see dedup.h. */
uint64_t
dedup_norm_hash(const char *text, size_t len)
{
	size_t o;

	return hash_mix64(normalise(text, len, NULL, &o));
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Write the distinct token hashes of tok to out (room for tok->n), sorted
 * ascending. Returns the count.
 */
size_t
dedup_token_set(const struct tokens *tok, uint64_t *out)
{
	size_t n = 0;

	if (tok->n == 0)
		return 0;
	memcpy(out, tok->h, tok->n * sizeof(*out));
	dedup_sort_hashes(out, tok->n);
	for (size_t i = 0; i < tok->n; i++)
		if (n == 0 || out[n - 1] != out[i])
			out[n++] = out[i];
	return n;
}

void
dedup_sort_hashes(uint64_t *h, size_t n)
{
	if (n > 1)
		qsort(h, n, sizeof(*h), cmp_u64);
}

size_t
dedup_sorted_overlap(
    const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
	size_t i = 0, j = 0, c = 0;

	while (i < na && j < nb) {
		if (a[i] < b[j])
			i++;
		else if (a[i] > b[j])
			j++;
		else {
			c++;
			i++;
			j++;
		}
	}
	return c;
}

/*
 * Jaccard similarity of two sorted sets of distinct values, as the double
 * quotient of the intersection and union sizes; 0 when either is empty.
 */
double
dedup_jaccard(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
	size_t c;

	if (na == 0 || nb == 0)
		return 0.0;
	c = dedup_sorted_overlap(a, na, b, nb);
	return (double)c / (double)(na + nb - c);
}

struct kept {
	uint64_t exact;
	size_t off; /* into the set arena */
	size_t n; /* distinct tokens */
};

/*
 * Whether a candidate (exact hash, token set s[0..ns)) duplicates the
 * kept one k. The size test is safe with rounding: J <= min/max, and
 * correctly rounded division keeps that order, so skipping when min/max
 * falls below the threshold never skips a pair that would pass.
 */
static int
is_dup(const struct kept *k, const uint64_t *arena, uint64_t exact,
    const uint64_t *s, size_t ns, int near, double t)
{
	size_t lo, hi;

	if (k->exact == exact)
		return 1;
	if (!near || ns == 0 || k->n == 0)
		return 0;
	lo = ns < k->n ? ns : k->n;
	hi = ns < k->n ? k->n : ns;
	if ((double)lo / (double)hi < t)
		return 0;
	return dedup_jaccard(arena + k->off, k->n, s, ns) >= t;
}

/*
 * Mark duplicates among texts[0..n) in keep[] (1 kept, 0 dropped), first
 * occurrence kept; returns the number dropped. See dedup.h.
 */
size_t
dedup_in_job(const char *const *texts, const size_t *lens, size_t n,
    double near_threshold, unsigned char *keep)
{
	struct tokens tok;
	struct kept *kept;
	uint64_t *arena = NULL;
	size_t nkept = 0, used = 0, cap = 0, dropped = 0;
	/* NaN compares false, so it turns near matching off as well. */
	int near = near_threshold <= 1.0;

	if (n == 0)
		return 0;
	tokens_init(&tok);
	kept = xreallocarray(NULL, n, sizeof(*kept));
	for (size_t i = 0; i < n; i++) {
		uint64_t exact, *s;
		size_t ns;
		int dup = 0;

		tokens_split(&tok, texts[i], lens[i]);
		if (used + tok.n > cap) {
			cap = (used + tok.n) * 2;
			arena = xreallocarray(arena, cap, sizeof(*arena));
		}
		/* The set goes at the arena's end; it stays only if kept. */
		s = arena == NULL ? NULL : arena + used;
		ns = s == NULL ? 0 : dedup_token_set(&tok, s);
		exact = dedup_norm_hash(texts[i], lens[i]);
		for (size_t j = 0; j < nkept && !dup; j++)
			dup = is_dup(&kept[j], arena, exact, s, ns, near,
			    near_threshold);
		if (dup) {
			keep[i] = 0;
			dropped++;
			continue;
		}
		keep[i] = 1;
		kept[nkept].exact = exact;
		kept[nkept].off = used;
		kept[nkept].n = ns;
		nkept++;
		used += ns;
	}
	free(arena);
	free(kept);
	tokens_free(&tok);
	return dropped;
}

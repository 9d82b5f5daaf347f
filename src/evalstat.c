/*
 * evalstat: the statistics of vsampctl eval (docs/eval.md, Statistics).
 *
 * The bootstrap is the plain percentile bootstrap. Its randomness is
 * splitmix64 (hash.h's mixer over a state stepped by the golden gamma),
 * and an index below n is drawn by rejection so that no index is more
 * likely than another: the intervals depend on the data and the seed
 * only, bit for bit. The mean and the ratio share one resampling loop,
 * so that the same seed resamples the same prompts for both, and the
 * intervals of several methods over the same prompts are paired.
 *
 * Leaf module: no I/O, no globals.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalstat.h"
#include "hash.h"
#include "xmalloc.h"

/* ---- the bootstrap -------------------------------------------------- */

/* The next splitmix64 output of the stream in *state. */
static uint64_t
rng_next(uint64_t *state)
{
	*state += HASH_GOLDEN_GAMMA;
	return hash_mix64(*state);
}

/*
 * A uniform index below n (n > 0): outputs below 2^64 mod n are drawn
 * again, so that the rest split evenly into the n residues.
 */
static size_t
rng_below(uint64_t *state, size_t n)
{
	uint64_t bound = (uint64_t)n, skip = (0 - bound) % bound, r;

	do
		r = rng_next(state);
	while (r < skip);
	return (size_t)(r % bound);
}

static void
ci_nil(struct evalstat_ci *out)
{
	out->point = NAN;
	out->lo = NAN;
	out->hi = NAN;
	out->resamples = 0;
	out->skipped = 0;
}

/* 0 when v[0..n) are all finite, else -1 with a message naming the
 * first that is not. */
static int
check_finite(const double *v, size_t n, const char *name, char *errstr,
    size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (isfinite(v[i]))
			continue;
		snprintf(errstr, errlen, "%s[%zu] is not a finite number (%g)",
		    name, i, v[i]);
		return -1;
	}
	return 0;
}

static int
check_resamples(size_t resamples, char *errstr, size_t errlen)
{
	if (resamples >= 1 && resamples <= EVALSTAT_RESAMPLES_MAX)
		return 0;
	snprintf(errstr, errlen, "resamples is %zu, not between 1 and %d",
	    resamples, EVALSTAT_RESAMPLES_MAX);
	return -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The percentile q of sorted[0..n); see evalstat.h. */
double
evalstat_percentile(const double *sorted, size_t n, double q)
{
	double h;
	size_t k;

	if (n == 0)
		return NAN;
	h = (double)(n - 1) * q;
	k = (size_t)floor(h);
	if (k + 1 >= n)
		return sorted[n - 1];
	return sorted[k] + (h - (double)k) * (sorted[k + 1] - sorted[k]);
}

/*
 * The statistic of a sample whose values sum to sx (and, for a ratio,
 * whose values of y sum to sy) into *v: the mean sx / n, or the ratio of
 * the means sx / sy. Returns 0 when there is none (sy is 0), else 1.
 */
static int
statistic(double sx, double sy, size_t n, int ratio, double *v)
{
	if (!ratio) {
		*v = sx / (double)n;
		return 1;
	}
	if (sy == 0.0)
		return 0;
	*v = sx / sy;
	return 1;
}

/*
 * Draw resamples samples of n indices (n >= 2) from seed and fill out's
 * lo, hi, resamples and skipped with the statistic of each sample: of x,
 * or with y the ratio of x to y; a sample without one is skipped.
 */
static void
bootstrap(const double *x, const double *y, size_t n, size_t resamples,
    uint64_t seed, struct evalstat_ci *out)
{
	double *stat = xcalloc(resamples, sizeof(*stat));
	uint64_t state = seed;
	size_t kept = 0;

	for (size_t b = 0; b < resamples; b++) {
		double sx = 0.0, sy = 0.0;

		for (size_t i = 0; i < n; i++) {
			size_t k = rng_below(&state, n);

			sx += x[k];
			if (y != NULL)
				sy += y[k];
		}
		kept += statistic(sx, sy, n, y != NULL, &stat[kept]);
	}
	qsort(stat, kept, sizeof(*stat), cmp_double);
	out->lo = evalstat_percentile(stat, kept, EVALSTAT_CI_LO);
	out->hi = evalstat_percentile(stat, kept, EVALSTAT_CI_HI);
	out->resamples = resamples;
	out->skipped = resamples - kept;
	free(stat);
}

/* The statistic of x[0..n) (y NULL: the mean; else the ratio of the
 * means of x and y) with its interval: evalstat_mean_ci() and
 * evalstat_ratio_ci(). */
static int
estimate(const double *x, const double *y, size_t n, size_t resamples,
    uint64_t seed, struct evalstat_ci *out, char *errstr, size_t errlen)
{
	double sx = 0.0, sy = 0.0;

	ci_nil(out);
	if (check_resamples(resamples, errstr, errlen) == -1 ||
	    check_finite(x, n, "x", errstr, errlen) == -1 ||
	    (y != NULL && check_finite(y, n, "y", errstr, errlen) == -1))
		return -1;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		sx += x[i];
		if (y != NULL)
			sy += y[i];
	}
	if (!statistic(sx, sy, n, y != NULL, &out->point))
		return 0;
	if (n == 1) {
		out->lo = out->hi = out->point;
		return 0;
	}
	bootstrap(x, y, n, resamples, seed, out);
	return 0;
}

/* The bootstrap interval of the mean of x; see evalstat.h. */
int
evalstat_mean_ci(const double *x, size_t n, size_t resamples, uint64_t seed,
    struct evalstat_ci *out, char *errstr, size_t errlen)
{
	return estimate(x, NULL, n, resamples, seed, out, errstr, errlen);
}

/* The ratio of the means of x and y with its paired bootstrap interval;
 * see evalstat.h. */
int
evalstat_ratio_ci(const double *x, const double *y, size_t n,
    size_t resamples, uint64_t seed, struct evalstat_ci *out, char *errstr,
    size_t errlen)
{
	return estimate(x, y, n, resamples, seed, out, errstr, errlen);
}

/* ---- wins ------------------------------------------------------------ */

/* Wins, ties and losses of x against y; see evalstat.h. */
int
evalstat_wins(const double *x, const double *y, size_t n,
    struct evalstat_wins *out, char *errstr, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (check_finite(x, n, "x", errstr, errlen) == -1 ||
	    check_finite(y, n, "y", errstr, errlen) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (x[i] > y[i])
			out->wins++;
		else if (x[i] < y[i])
			out->losses++;
		else
			out->ties++;
	}
	return 0;
}

/* ---- enumerative prompts -------------------------------------------- */

static void
enum_nil(struct evalstat_enum *out)
{
	memset(out, 0, sizeof(*out));
	out->coverage = NAN;
	out->kl = NAN;
}

/* Coverage and KL(P || U) of draws over m answers; see evalstat.h. */
int
evalstat_enum(const int *draws, size_t ndraws, size_t m, double *p,
    struct evalstat_enum *out, char *errstr, size_t errlen)
{
	size_t *count;
	double kl = 0.0;

	enum_nil(out);
	if (m == 0) {
		snprintf(errstr, errlen, "the answer set is empty");
		return -1;
	}
	for (size_t i = 0; i < ndraws; i++) {
		if (draws[i] < -1 || (draws[i] >= 0 && (size_t)draws[i] >= m)) {
			snprintf(errstr, errlen, "draws[%zu] is %d, neither -1 "
			    "nor an answer index below %zu", i, draws[i], m);
			return -1;
		}
	}
	count = xcalloc(m, sizeof(*count));
	for (size_t i = 0; i < ndraws; i++) {
		if (draws[i] == -1) {
			out->invalid++;
			continue;
		}
		if (count[draws[i]]++ == 0)
			out->distinct++;
		out->valid++;
	}
	out->coverage = (double)out->distinct / (double)m;
	for (size_t a = 0; a < m; a++) {
		double pa;

		if (out->valid == 0) {
			if (p != NULL)
				p[a] = NAN;
			continue;
		}
		pa = (double)count[a] / (double)out->valid;
		if (p != NULL)
			p[a] = pa;
		/* P(a) m as count m / valid: exactly 1 when P(a) is 1/m. */
		if (count[a] > 0)
			kl += pa * log((double)count[a] * (double)m /
			    (double)out->valid);
	}
	/* The sum cannot be negative; rounding near uniform could make it. */
	if (out->valid > 0)
		out->kl = kl > 0.0 ? kl : 0.0;
	free(count);
	return 0;
}

/* ---- the answer matcher --------------------------------------------- */

/* ASCII whitespace: space, \t, \n, \v, \f, \r. */
static int
is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int
is_trailing_punct(unsigned char c)
{
	return c != '\0' && strchr(".!?,;:", c) != NULL;
}

/* The quotes that may surround an answer, as byte strings. */
static const struct {
	const char *open, *close;
} quotes[] = {
	{"\"", "\""},
	{"'", "'"},
	{"\xe2\x80\x9c", "\xe2\x80\x9d"}, /* U+201C, U+201D */
	{"\xe2\x80\x98", "\xe2\x80\x99"}, /* U+2018, U+2019 */
};

/* The matching form of a text, read a byte at a time: p[i..e) is what
 * is left after trimming, with no whitespace at either end. */
struct form {
	const unsigned char *p;
	size_t i, e;
};

static void
form_init(struct form *f, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t b = 0, e = len, ol, cl;
	int changed;

	do {
		changed = 0;
		while (b < e && is_space(p[b]))
			b++;
		while (e > b && is_space(p[e - 1]))
			e--;
		while (e > b && is_trailing_punct(p[e - 1])) {
			e--;
			changed = 1;
		}
		for (size_t q = 0; q < sizeof(quotes) / sizeof(quotes[0]);
		    q++) {
			ol = strlen(quotes[q].open);
			cl = strlen(quotes[q].close);
			if (e - b >= ol + cl &&
			    memcmp(p + b, quotes[q].open, ol) == 0 &&
			    memcmp(p + e - cl, quotes[q].close, cl) == 0) {
				b += ol;
				e -= cl;
				changed = 1;
				break;
			}
		}
	} while (changed);
	f->p = p;
	f->i = b;
	f->e = e;
}

/* The next byte of the form, or -1 at its end. */
static int
form_next(struct form *f)
{
	unsigned char c;

	if (f->i >= f->e)
		return -1;
	c = f->p[f->i++];
	if (is_space(c)) {
		/* Inside the form a run of whitespace is one space. */
		while (f->i < f->e && is_space(f->p[f->i]))
			f->i++;
		return ' ';
	}
	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	return c;
}

/* The matching form of text into out; see evalstat.h. */
size_t
evalstat_normalise(const char *text, size_t len, char *out)
{
	struct form f;
	size_t o = 0;
	int c;

	form_init(&f, text, len);
	while ((c = form_next(&f)) != -1)
		out[o++] = (char)c;
	return o;
}

/* 1 when the forms of a and b are equal. */
static int
form_equal(struct form a, struct form b)
{
	int ca, cb;

	do {
		ca = form_next(&a);
		cb = form_next(&b);
		if (ca != cb)
			return 0;
	} while (ca != -1);
	return 1;
}

/* The answer that text names, or -1; see evalstat.h. */
int
evalstat_match(const char *text, size_t len, const char *const *answers,
    size_t m, const struct evalstat_alias *aliases, size_t naliases)
{
	struct form t, f;

	form_init(&t, text, len);
	if (t.i == t.e)
		return -1;
	if (m > INT_MAX)
		m = INT_MAX;
	for (size_t a = 0; a < m; a++) {
		form_init(&f, answers[a], strlen(answers[a]));
		if (form_equal(t, f))
			return (int)a;
	}
	for (size_t k = 0; k < naliases; k++) {
		if (aliases[k].answer >= m)
			continue;
		form_init(&f, aliases[k].text, strlen(aliases[k].text));
		if (form_equal(t, f))
			return (int)aliases[k].answer;
	}
	return -1;
}

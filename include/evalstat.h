/*
 * evalstat: the statistics of an evaluation of sampling methods over a
 * set of prompts (docs/eval.md, Statistics): a bootstrap percentile
 * interval of a mean, the ratio of a method's mean to direct's with a
 * paired bootstrap interval, wins against direct, the coverage and KL
 * divergence from uniform of the draws of an enumerative prompt, and the
 * matcher that turns an answer text into an index of its answer set.
 *
 * Every function is deterministic: the bootstrap draws from splitmix64
 * seeded by the caller, so a seed gives the same interval on every run
 * and machine. Leaf module: no I/O, no globals.
 */
#ifndef VSAMPD_EVALSTAT_H
#define VSAMPD_EVALSTAT_H

#include <stddef.h>
#include <stdint.h>

/* The number of bootstrap resamples to use unless there is a reason not
 * to, and the most a caller may ask for. */
#define EVALSTAT_RESAMPLES 2000
#define EVALSTAT_RESAMPLES_MAX 1000000

/* The percentile interval's ends: 95%. */
#define EVALSTAT_CI_LO 0.025
#define EVALSTAT_CI_HI 0.975

/* A statistic with its bootstrap interval; NAN is nil. */
struct evalstat_ci {
	double point; /* the statistic on the data itself */
	double lo, hi; /* percentiles EVALSTAT_CI_LO, EVALSTAT_CI_HI */
	size_t resamples; /* resamples drawn */
	size_t skipped; /* of those, left out (ratio: mean of y is 0) */
};

/*
 * The bootstrap interval of the mean of x[0..n): resamples samples of n
 * values drawn with replacement (the indices from splitmix64 seeded with
 * seed, see docs/eval.md), the mean of each, and the percentiles
 * EVALSTAT_CI_LO and EVALSTAT_CI_HI of those means
 * (evalstat_percentile). n == 0: everything NAN, nothing drawn. n == 1:
 * lo == hi == point == x[0], nothing drawn. Returns 0, or -1 with a
 * message in errstr when a value is not finite or resamples is not in
 * 1..EVALSTAT_RESAMPLES_MAX (out is then all NAN).
 */
int evalstat_mean_ci(const double *x, size_t n, size_t resamples,
    uint64_t seed, struct evalstat_ci *out, char *errstr, size_t errlen);

/*
 * The ratio mean(x) / mean(y) of a method's scores x to direct's y on
 * the same n prompts (x[i] and y[i] belong to prompt i), with a paired
 * bootstrap interval: each resample draws n prompts with replacement
 * and takes both x and y of them. The indices are those that
 * evalstat_mean_ci() draws with the same seed and n. A resample whose
 * mean of y is 0 has no ratio: it is left out of the percentiles and
 * counted in out->skipped; when all are, lo and hi are NAN. When the
 * mean of y itself is 0 (or n == 0), everything is NAN and nothing is
 * drawn. n == 1: lo == hi == point. Errors as evalstat_mean_ci(),
 * naming x or y.
 */
int evalstat_ratio_ci(const double *x, const double *y, size_t n,
    size_t resamples, uint64_t seed, struct evalstat_ci *out, char *errstr,
    size_t errlen);

/*
 * The percentile q (0 <= q <= 1) of sorted[0..n) (ascending), by linear
 * interpolation between the closest ranks: with h = (n - 1) q and
 * k = floor(h), sorted[k] + (h - k) (sorted[k + 1] - sorted[k]). NAN
 * when n == 0.
 */
double evalstat_percentile(const double *sorted, size_t n, double q);

/* How a method did against direct, prompt by prompt. */
struct evalstat_wins {
	size_t wins; /* x[i] > y[i] */
	size_t ties; /* x[i] == y[i] */
	size_t losses; /* x[i] < y[i] */
};

/*
 * Count the prompts i < n on which x[i] (the method) is above, equal to
 * (exactly) or below y[i] (direct). Returns 0, or -1 with a message when
 * a value is not finite (out is then all 0).
 */
int evalstat_wins(const double *x, const double *y, size_t n,
    struct evalstat_wins *out, char *errstr, size_t errlen);

/* The enumerative measures of one prompt's draws (docs/eval.md). */
struct evalstat_enum {
	size_t valid; /* draws of an answer of the set */
	size_t invalid; /* draws of -1: no answer of the set */
	size_t distinct; /* answers drawn at least once */
	double coverage; /* distinct / m */
	double kl; /* KL(P || U) in nats; NAN when valid == 0 */
};

/*
 * The measures of ndraws draws over an answer set of m answers: draws[i]
 * is the index (0..m-1) of the answer drawn, or -1 for a draw that names
 * none of them. Invalid draws are counted in out->invalid and left out
 * of everything else. P is the empirical distribution of the valid
 * draws, P(a) = count(a) / valid, and U the uniform one over the m
 * answers:
 *   coverage = distinct / m (0 when valid == 0),
 *   kl = KL(P || U) = sum over a of P(a) ln(P(a) m), with 0 ln 0 = 0,
 *        from 0 (uniform) to ln m (one answer only); NAN when valid == 0.
 * p, when not NULL, gets P(a) for every a < m (all NAN when valid == 0).
 * Returns 0, or -1 with a message when m == 0 or a draw is neither -1
 * nor below m (out then holds zeros and NANs, p is untouched).
 */
int evalstat_enum(const int *draws, size_t ndraws, size_t m, double *p,
    struct evalstat_enum *out, char *errstr, size_t errlen);

/*
 * Write the matching form of text[0..len) to out (room for len bytes;
 * no NUL added) and return its length. ASCII whitespace is trimmed from
 * both ends, then, again and again until nothing changes: trailing
 * . ! ? , ; : are dropped, a pair of surrounding quotes ("..." '...'
 * U+201C...U+201D U+2018...U+2019) is dropped, and whitespace is trimmed
 * again. Inside, every run of ASCII whitespace becomes one space and
 * ASCII letters are lower-cased; every other byte is kept as it is.
 */
size_t evalstat_normalise(const char *text, size_t len, char *out);

/* An alias of answer number answer: another spelling that matches it. */
struct evalstat_alias {
	const char *text;
	size_t answer;
};

/*
 * The index of the answer text[0..len) names: the first of answers[0..m)
 * (NUL-terminated) whose matching form (evalstat_normalise) equals that
 * of text, else the answer of the first of aliases[0..naliases) whose
 * form equals it, else -1. A text whose form is empty matches nothing.
 * An alias whose answer is not below m is never matched, nor an answer
 * past INT_MAX (the index must fit the int of a draw).
 */
int evalstat_match(const char *text, size_t len, const char *const *answers,
    size_t m, const struct evalstat_alias *aliases, size_t naliases);

#endif

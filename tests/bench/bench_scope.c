/*
 * bench_scope: speed and memory of the scope index, and the error of its
 * SimHash approximation of the Jaccard rule.
 *
 *   bench_scope [-t | -e] [results-file]
 *
 * -t runs only the speed test, -e only the error measurement; the default
 * runs both. Figures are printed and appended to results-file (default
 * tests/bench/results.txt).
 *
 * Speed: a 1,000,000-entry index of one scope (the worst case: every
 * lookup meets the most band neighbours) is filled, then 2,000,000
 * checks run: a third exact duplicates, a third near duplicates (1-3
 * SimHash bits flipped), a third new keys (inserted, evicting the oldest).
 * Keys are precomputed, so this measures the index, not tokenising.
 * Bytes per entry are the growth of the resident set (/proc/self/statm)
 * over the fill. Each figure is the median of RUNS runs.
 *
 * Error: pairs of texts with known Jaccard similarity (random distinct
 * words, so the set sizes are exact), each pair in its own scope:
 * insert one text, look the other up, and count how often the index calls
 * them duplicates, per Jaccard bin and for several SimHash distances.
 * Then a false-positive rate for unrelated texts that share common words
 * (Zipf-distributed vocabulary) against a full index of one scope.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -O2 -Iinclude src/log.c src/xmalloc.c
 *   src/tokens.c src/dedup.c src/scope.c tests/bench/bench_scope.c -lm
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dedup.h"
#include "scope.h"
#include "tokens.h"
#include "xmalloc.h"

#define FILL 1000000
#define OPS 2000000
#define RUNS 5
#define THRESHOLD 0.8

static uint64_t rng_state = 42;

static uint64_t
rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static size_t
rnd_below(size_t n)
{
	return (size_t)(rnd() % n);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = 0;
	fclose(f);
	return res * sysconf(_SC_PAGESIZE);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* ---- speed and memory ---- */

struct op {
	struct scope_key k;
	uint64_t job;
	size_t target;
};

/* Entry i, and an op aimed at entry i, belong to scope i mod nscopes. */
#define SCOPE_OF(i) ((uint64_t)(i) % nscopes)

static void
bench_speed(FILE *out, size_t nscopes)
{
	double ops_s[RUNS], fill_s[RUNS], bpe[RUNS];
	struct scope_key *init;
	struct op *ops;
	size_t dups = 0, expect_dups = 0;

	init = xreallocarray(NULL, FILL, sizeof(*init));
	ops = xreallocarray(NULL, OPS, sizeof(*ops));
	for (size_t i = 0; i < FILL; i++) {
		init[i].exact = rnd();
		init[i].sim = rnd();
	}
	for (size_t i = 0; i < OPS; i++) {
		/* Targets among the newest 300,000: never evicted here. */
		size_t ti = FILL - 1 - rnd_below(300000);
		const struct scope_key *t = &init[ti];

		ops[i].job = UINT64_C(1) << 40 | i;
		ops[i].target = ti;
		switch (i % 3) {
		case 0:
			ops[i].k = *t;
			expect_dups++;
			break;
		case 1:
			ops[i].k.exact = rnd();
			ops[i].k.sim = t->sim;
			for (int b = 0, nb = 1 + (int)rnd_below(3); b < nb; b++)
				ops[i].k.sim ^= UINT64_C(1) << rnd_below(64);
			if (ops[i].k.sim == 0)
				ops[i].k.sim = 1;
			expect_dups++;
			break;
		default:
			ops[i].k.exact = rnd();
			ops[i].k.sim = rnd();
			ops[i].target = rnd();
		}
	}
	for (int r = 0; r < RUNS; r++) {
		struct scope *s;
		long before, after;
		double t0, t1, t2;

		before = rss_bytes();
		s = scope_new(FILL);
		t0 = now();
		for (size_t i = 0; i < FILL; i++)
			(void)scope_check_insert_key(
			    s, SCOPE_OF(i), i / 10, &init[i], THRESHOLD);
		t1 = now();
		after = rss_bytes();
		dups = 0;
		for (size_t i = 0; i < OPS; i++)
			dups += (size_t)scope_check_insert_key(s,
			    SCOPE_OF(ops[i].target), ops[i].job, &ops[i].k,
			    THRESHOLD);
		t2 = now();
		fill_s[r] = FILL / (t1 - t0);
		ops_s[r] = OPS / (t2 - t1);
		bpe[r] = (double)(after - before) / FILL;
		printf("run %d: fill %.0f/s, checks %.0f/s, %.1f bytes/entry, "
		       "%zu duplicates (%zu planted), %zu held\n",
		    r + 1, fill_s[r], ops_s[r], bpe[r], dups, expect_dups,
		    scope_count(s));
		scope_free(s);
	}
	printf("%zu scope(s), median of %d: %.0f lookups+inserts/s (target "
	       ">= 1000000), fill %.0f inserts/s, %.1f bytes/entry (target "
	       "<= 64)\n",
	    nscopes, RUNS, median(ops_s, RUNS), median(fill_s, RUNS),
	    median(bpe, RUNS));
	fprintf(out,
	    "speed: 1e6 entries in %zu scope(s): %.0f lookups+inserts/s, fill "
	    "%.0f inserts/s, %.1f bytes/entry (RSS growth), median of %d\n",
	    nscopes, median(ops_s, RUNS), median(fill_s, RUNS),
	    median(bpe, RUNS), RUNS);
	free(init);
	free(ops);
}

/* ---- error of the SimHash rule ---- */

#define PAIRS 200000
#define NBINS 10 /* Jaccard [0.5, 1.0) in steps of 0.05, and 1.0 */
#define NDIST 5
#define NTHR 3

static const int dists[NDIST] = {3, 4, 6, 8, 9};
static const double thrs[NTHR] = {0.7, 0.8, 0.9};

/* Append word number w ("w" and base-36 digits) and a space. */
static void
add_word(struct buf *b, uint64_t w)
{
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[w % 36];
		w /= 36;
	} while (w > 0);
	buf_append(b, "w", 1);
	while (n > 0)
		buf_append(b, &tmp[--n], 1);
	buf_append(b, " ", 1);
}

static int
bands_shared(uint64_t a, uint64_t b)
{
	for (int i = 0; i < 4; i++)
		if (((a ^ b) >> (16 * i) & 0xffff) == 0)
			return 1;
	return 0;
}

static void
bench_error(FILE *out)
{
	/* Per bin: pairs, flagged by the index, flagged per distance. */
	size_t pairs[NBINS + 1] = {0}, hit[NBINS + 1] = {0};
	size_t hitd[NDIST][NBINS + 1] = {{0}}, ideal[NBINS + 1] = {0};
	size_t pos[NTHR] = {0}, fn[NTHR] = {0}, neg[NTHR] = {0}, fp[NTHR] = {0};
	struct tokens ta, tb;
	struct buf ba, bb;
	uint64_t *sa, *sb;
	struct scope *s = scope_new(PAIRS);
	int d = scope_near_distance(THRESHOLD);

	tokens_init(&ta);
	tokens_init(&tb);
	buf_init(&ba);
	buf_init(&bb);
	sa = xreallocarray(NULL, 512, sizeof(*sa));
	sb = xreallocarray(NULL, 512, sizeof(*sb));
	for (size_t p = 0; p < PAIRS; p++) {
		size_t ma = 5 + rnd_below(116), mb, c, na, nb;
		double jt = 0.5 + 0.5 * (double)rnd() / 18446744073709551616.0;
		double j;
		struct scope_key ka, kb;
		uint64_t base = rnd() >> 20;
		int bin, h;

		/* B keeps c words of A and adds mb - c new ones. */
		mb = ma + rnd_below(ma / 5 + 1) - ma / 10;
		c = (size_t)lround(jt * (double)(ma + mb) / (1.0 + jt));
		if (c > ma)
			c = ma;
		if (c > mb)
			c = mb;
		buf_reset(&ba);
		buf_reset(&bb);
		for (size_t i = 0; i < ma; i++)
			add_word(&ba, base + i);
		for (size_t i = 0; i < c; i++)
			add_word(&bb, base + ma - 1 - i);
		for (size_t i = c; i < mb; i++)
			add_word(&bb, base + ma + i);
		tokens_split(&ta, ba.data, ba.len);
		tokens_split(&tb, bb.data, bb.len);
		na = dedup_token_set(&ta, sa);
		nb = dedup_token_set(&tb, sb);
		j = dedup_jaccard(sa, na, sb, nb);
		scope_key_make(&ka, ba.data, ba.len, &ta);
		scope_key_make(&kb, bb.data, bb.len, &tb);
		/* Each pair in its own scope: nothing else can match. */
		(void)scope_check_insert_key(s, p, 1, &ka, THRESHOLD);
		bin = j >= 1.0 ? NBINS : (int)floor((j - 0.5) / 0.05);
		if (bin < 0)
			continue;
		h = __builtin_popcountll(ka.sim ^ kb.sim);
		pairs[bin]++;
		hit[bin] += (size_t)scope_lookup_key(s, p, 2, &kb, THRESHOLD);
		ideal[bin] += h <= d;
		for (int i = 0; i < NDIST; i++)
			hitd[i][bin] += h <= dists[i] &&
			    bands_shared(ka.sim, kb.sim);
		for (int i = 0; i < NTHR; i++) {
			int f = scope_lookup_key(s, p, 2, &kb, thrs[i]);

			if (j >= thrs[i]) {
				pos[i]++;
				fn[i] += !f;
			} else if (j >= thrs[i] - 0.2) {
				neg[i]++;
				fp[i] += (size_t)f;
			}
		}
	}
	printf("\npairs of known Jaccard (5-120 distinct words each), share "
	       "flagged as duplicates;\nthe index at near_threshold %.2f "
	       "(d = %d), H <= d alone (no band lookup), and per d:\n",
	    THRESHOLD, d);
	printf("Jaccard       pairs  index  H<=d  ");
	for (int i = 0; i < NDIST; i++)
		printf("  d=%-2d ", dists[i]);
	printf("\n");
	fprintf(out, "error: %d pairs of known Jaccard, index at %.2f (d = %d)"
		     "\n",
	    PAIRS, THRESHOLD, d);
	for (int b = 0; b <= NBINS; b++) {
		char label[32];

		if (pairs[b] == 0)
			continue;
		if (b == NBINS)
			snprintf(label, sizeof(label), "1.00");
		else
			snprintf(label, sizeof(label), "%.2f-%.2f",
			    0.5 + 0.05 * b, 0.55 + 0.05 * b);
		printf("%-11s %7zu %5.1f%% %5.1f%% ", label, pairs[b],
		    100.0 * hit[b] / pairs[b], 100.0 * ideal[b] / pairs[b]);
		fprintf(out, "  J %s: flagged %.1f%%;", label,
		    100.0 * hit[b] / pairs[b]);
		for (int i = 0; i < NDIST; i++) {
			printf(" %5.1f%%", 100.0 * hitd[i][b] / pairs[b]);
			fprintf(out, " d=%d %.1f%%", dists[i],
			    100.0 * hitd[i][b] / pairs[b]);
		}
		printf("\n");
		fprintf(out, "\n");
	}
	for (int i = 0; i < NTHR; i++) {
		printf("near_threshold %.2f (d = %d): J >= %.2f missed %.1f%% "
		       "of %zu; J in [%.2f, %.2f) flagged %.1f%% of %zu\n",
		    thrs[i], scope_near_distance(thrs[i]), thrs[i],
		    100.0 * fn[i] / pos[i], pos[i], thrs[i] - 0.2, thrs[i],
		    100.0 * fp[i] / neg[i], neg[i]);
		fprintf(out,
		    "  near_threshold %.2f (d = %d): false negatives (J >= "
		    "%.2f) %.1f%%, false positives (J in [%.2f, %.2f)) "
		    "%.1f%%\n",
		    thrs[i], scope_near_distance(thrs[i]), thrs[i],
		    100.0 * fn[i] / pos[i], thrs[i] - 0.2, thrs[i],
		    100.0 * fp[i] / neg[i]);
	}
	scope_free(s);
	free(sa);
	free(sb);
	buf_free(&ba);
	buf_free(&bb);
	tokens_free(&ta);
	tokens_free(&tb);
}

#define ZIPF_VOCAB 20000
#define ZIPF_HELD 1000000
#define ZIPF_PROBES 20000

/* A word number drawn with probability proportional to 1 / rank. */
static uint64_t
zipf_word(const double *cdf)
{
	double u = (double)rnd() / 18446744073709551616.0;
	size_t lo = 0, hi = ZIPF_VOCAB - 1;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
zipf_text(struct buf *b, const double *cdf)
{
	size_t n = 15 + rnd_below(46);

	buf_reset(b);
	for (size_t i = 0; i < n; i++)
		add_word(b, zipf_word(cdf));
}

/* Unrelated texts that share common words, against a full index. */
static void
bench_unrelated(FILE *out)
{
	static const double ts[] = {0.7, 0.8, 0.9};
	/* Closest-text checks are brute force: only the first few. */
	double *cdf = xreallocarray(NULL, ZIPF_VOCAB, sizeof(*cdf));
	double sum = 0.0, acc = 0.0;
	struct scope *s = scope_new(ZIPF_HELD);
	struct tokens t;
	struct buf b;
	struct scope_key *probe;
	uint64_t *arena, *q;
	size_t *off, used = 0, flagged, close = 0, checked = 0;

	for (size_t i = 0; i < ZIPF_VOCAB; i++)
		sum += 1.0 / (double)(i + 1);
	for (size_t i = 0; i < ZIPF_VOCAB; i++) {
		acc += 1.0 / (double)(i + 1) / sum;
		cdf[i] = acc;
	}
	tokens_init(&t);
	buf_init(&b);
	/* Every text's token set is kept, to check what the index flags. */
	arena = xreallocarray(NULL, (size_t)ZIPF_HELD * 61, sizeof(*arena));
	off = xreallocarray(NULL, ZIPF_HELD + 1, sizeof(*off));
	q = xreallocarray(NULL, ZIPF_PROBES * 61, sizeof(*q));
	probe = xreallocarray(NULL, ZIPF_PROBES, sizeof(*probe));
	for (size_t i = 0; i < ZIPF_HELD; i++) {
		struct scope_key k;

		zipf_text(&b, cdf);
		tokens_split(&t, b.data, b.len);
		off[i] = used;
		used += dedup_token_set(&t, arena + used);
		scope_key_make(&k, b.data, b.len, &t);
		/* Near matching off: every distinct text is held. */
		(void)scope_check_insert_key(s, 1, i, &k, 2.0);
	}
	off[ZIPF_HELD] = used;
	for (size_t i = 0; i < ZIPF_PROBES; i++) {
		zipf_text(&b, cdf);
		tokens_split(&t, b.data, b.len);
		scope_key_make(&probe[i], b.data, b.len, &t);
		/* At most 60 words: the 61st value holds the set size. */
		q[i * 61 + 60] = dedup_token_set(&t, q + i * 61);
	}
	printf("\nunrelated Zipf texts (15-60 words of %d) against %zu held in "
	       "one scope:\n",
	    ZIPF_VOCAB, scope_count(s));
	fprintf(out, "  unrelated Zipf texts against %zu held in one scope:\n",
	    scope_count(s));
	for (size_t ti = 0; ti < sizeof(ts) / sizeof(ts[0]); ti++) {
		flagged = 0;
		for (size_t i = 0; i < ZIPF_PROBES; i++) {
			int f = scope_lookup_key(
			    s, 1, UINT64_C(1) << 40 | i, &probe[i], ts[ti]);
			double best = 0.0;

			flagged += (size_t)f;
			if (!f || ts[ti] != THRESHOLD || checked >= 100)
				continue;
			/* How similar is the closest held text really? */
			for (size_t h = 0; h < ZIPF_HELD; h++) {
				double j = dedup_jaccard(arena + off[h],
				    off[h + 1] - off[h], q + i * 61,
				    (size_t)q[i * 61 + 60]);

				best = j > best ? j : best;
			}
			checked++;
			close += best >= 0.5;
		}
		printf("  near_threshold %.2f (d = %d): %.3f%% flagged (%zu of "
		       "%d)\n",
		    ts[ti], scope_near_distance(ts[ti]),
		    100.0 * flagged / ZIPF_PROBES, flagged, ZIPF_PROBES);
		fprintf(out, "    near_threshold %.2f (d = %d): %.3f%% flagged\n",
		    ts[ti], scope_near_distance(ts[ti]),
		    100.0 * flagged / ZIPF_PROBES);
	}
	printf("  of those flagged at %.2f, %zu of %zu have a held text with "
	       "Jaccard >= 0.5\n",
	    THRESHOLD, close, checked);
	fprintf(out,
	    "    flagged at %.2f with a held text of Jaccard >= 0.5: %zu of "
	    "%zu\n",
	    THRESHOLD, close, checked);
	scope_free(s);
	tokens_free(&t);
	buf_free(&b);
	free(cdf);
	free(arena);
	free(off);
	free(q);
	free(probe);
}

int
main(int argc, char **argv)
{
	const char *path = "tests/bench/results.txt";
	int speed = 1, error = 1, i = 1;
	FILE *out;
	time_t t = time(NULL);
	char when[64];

	if (i < argc && strcmp(argv[i], "-t") == 0) {
		error = 0;
		i++;
	} else if (i < argc && strcmp(argv[i], "-e") == 0) {
		speed = 0;
		i++;
	}
	if (i < argc)
		path = argv[i];
	if ((out = fopen(path, "a")) == NULL) {
		perror(path);
		return 1;
	}
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	fprintf(out, "bench_scope %s\n", when);
	if (speed) {
		bench_speed(out, 1000);
		bench_speed(out, 1);
	}
	if (error) {
		bench_error(out);
		bench_unrelated(out);
	}
	fclose(out);
	return 0;
}

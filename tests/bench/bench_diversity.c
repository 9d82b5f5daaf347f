/*
 * bench_diversity: how long lexical scoring takes on candidate sets of
 * the size Verbalized Sampling produces, and what the bit-parallel LCS
 * buys over the DP table. A standalone program, not a test: it prints
 * the medians and appends them to a results file (argv[1], else
 * tests/bench/results.txt). See tests/bench/README.md.
 *
 * The texts are English-like: sentences of 6 to 16 words drawn, with a
 * skew towards the common ones, from a fixed word list by a fixed
 * xorshift generator, so every run scores the same sets.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diversity.h"
#include "tokens.h"
#include "xmalloc.h"

#define RUNS 11
#define NTEXTS 100
#define WORDS_PER_TEXT 150

static const char *words[] = {"the", "of", "and", "a", "to", "in", "was", "he",
    "she", "it", "that", "with", "for", "on", "as", "his", "her", "at", "by",
    "from", "they", "we", "this", "had", "not", "but", "one", "all", "were",
    "when", "there", "out", "up", "into", "over", "after", "before", "under",
    "again", "never", "still", "only", "time", "night", "day", "light", "water",
    "river", "city", "house", "door", "window", "road", "garden", "forest",
    "mountain", "snow", "rain", "wind", "fire", "stone", "tree", "bird", "bear",
    "fox", "dog", "horse", "boat", "bridge", "letter", "key", "map", "clock",
    "mirror", "song", "story", "dream", "secret", "voice", "hand", "face",
    "eyes", "heart", "child", "woman", "man", "stranger", "king", "queen",
    "sailor", "farmer", "baker", "teacher", "doctor", "friend", "mother",
    "father", "old", "new", "small", "large", "quiet", "loud", "cold", "warm",
    "dark", "bright", "green", "blue", "red", "golden", "silver", "long",
    "short", "first", "last", "every", "walked", "ran", "found", "lost",
    "carried", "opened", "closed", "saw", "heard", "remembered", "forgot",
    "wanted", "waited", "sang", "whispered", "laughed", "cried", "built",
    "broke", "held", "left", "kept", "moved", "turned", "slowly", "quickly",
    "softly", "almost", "once", "seven", "three", "twenty", "morning",
    "evening", "winter", "summer", "village", "harbor", "market", "library",
    "museum", "kitchen", "attic", "staircase", "lantern", "candle", "bread",
    "coffee", "apple", "shadow", "memory", "promise"};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

/* A word index skewed towards the front of the list (u^2). */
static const char *
word(void)
{
	size_t nw = sizeof(words) / sizeof(words[0]);
	double u = (double)(rnd() >> 11) / 9007199254740992.0;

	return words[(size_t)(u * u * nw)];
}

/* About WORDS_PER_TEXT words of sentences with capitals and punctuation. */
static char *
gen_text(size_t *lenp)
{
	static const char *ends[] = {". ", ". ", ". ", "! ", "? ", "; "};
	struct buf b;
	size_t count = 0;

	buf_init(&b);
	while (count < WORDS_PER_TEXT) {
		size_t n = 6 + (size_t)(rnd() % 11);

		for (size_t i = 0; i < n; i++) {
			const char *w = word();

			if (i == 0)
				buf_printf(&b, "%c%s", w[0] - 'a' + 'A', w + 1);
			else
				buf_printf(
				    &b, " %s%s", w, rnd() % 12 == 0 ? "," : "");
		}
		buf_puts(&b, ends[rnd() % 6]);
		count += n;
	}
	return buf_release(&b, lenp);
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
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
	return v[n / 2];
}

/* Median over RUNS of the mean time of one diversity_lexical call. */
static double
bench_lexical(
    char **texts, const size_t *lens, size_t k, int reps, struct diversity *d)
{
	double t[RUNS];

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_us();

		for (int i = 0; i < reps; i++)
			diversity_lexical(
			    (const char *const *)texts, lens, k, d);
		t[r] = (now_us() - t0) / reps;
	}
	return median(t, RUNS);
}

/* Median over RUNS of the time for all pairs of tk with one LCS. */
static double
bench_lcs(const struct tokens *tk, size_t k,
    size_t (*lcs)(const struct tokens *, const struct tokens *), int reps,
    size_t *sum)
{
	double t[RUNS];

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_us();

		*sum = 0;
		for (int x = 0; x < reps; x++)
			for (size_t i = 0; i < k; i++)
				for (size_t j = i + 1; j < k; j++)
					*sum += lcs(&tk[i], &tk[j]);
		t[r] = (now_us() - t0) / reps;
		*sum /= (size_t)reps;
	}
	return median(t, RUNS);
}

int
main(int argc, char *argv[])
{
	const char *path = argc > 1 ? argv[1] : "tests/bench/results.txt";
	char *texts[NTEXTS], line[5][160], stamp[32];
	size_t lens[NTEXTS], ntok = 0, sum_bp, sum_dp;
	struct tokens tk[NTEXTS];
	struct diversity d5, d20, d100;
	double t5, t20, t100, bp, dp;
	time_t now = time(NULL);
	FILE *f;

	for (size_t i = 0; i < NTEXTS; i++) {
		texts[i] = gen_text(&lens[i]);
		tokens_init(&tk[i]);
		tokens_split(&tk[i], texts[i], lens[i]);
		if (i < 20)
			ntok += tk[i].n;
	}

	t5 = bench_lexical(texts, lens, 5, 4000, &d5);
	t20 = bench_lexical(texts, lens, 20, 400, &d20);
	t100 = bench_lexical(texts, lens, NTEXTS, 20, &d100);
	bp = bench_lcs(tk, 20, diversity_lcs_length, 50, &sum_bp);
	dp = bench_lcs(tk, 20, diversity_lcs_length_dp, 5, &sum_dp);
	if (sum_bp != sum_dp) {
		fprintf(stderr, "lcs mismatch: %zu != %zu\n", sum_bp, sum_dp);
		return 1;
	}

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	snprintf(line[0], sizeof(line[0]),
	    "lexical k=5 (%zu tokens): %.1f us (target <= 50 us: %s) "
	    "rouge_l %.4f distinct %.4f/%.4f/%.4f",
	    tk[0].n + tk[1].n + tk[2].n + tk[3].n + tk[4].n, t5,
	    t5 <= 50 ? "ok" : "MISSED", d5.rouge_l, d5.distinct[0],
	    d5.distinct[1], d5.distinct[2]);
	snprintf(line[1], sizeof(line[1]),
	    "lexical k=20 (%zu tokens): %.1f us (target <= 500 us: %s) "
	    "rouge_l %.4f",
	    ntok, t20, t20 <= 500 ? "ok" : "MISSED", d20.rouge_l);
	snprintf(line[2], sizeof(line[2]),
	    "lcs k=20, 190 pairs: bit-parallel %.1f us, dp table %.1f us, "
	    "speed-up %.1fx",
	    bp, dp, dp / bp);
	snprintf(line[3], sizeof(line[3]),
	    "lexical k=%d (for scale, no target): %.1f us rouge_l %.4f", NTEXTS,
	    t100, d100.rouge_l);
	snprintf(
	    line[4], sizeof(line[4]), "median of %d runs, %s", RUNS, stamp);

	for (int i = 0; i < 5; i++)
		printf("%s\n", line[i]);
	if ((f = fopen(path, "a")) == NULL) {
		perror(path);
		return 1;
	}
	fprintf(f, "# bench_diversity %s\n", stamp);
	for (int i = 0; i < 4; i++)
		fprintf(f, "%s\n", line[i]);
	fclose(f);

	for (size_t i = 0; i < NTEXTS; i++) {
		free(texts[i]);
		tokens_free(&tk[i]);
	}
	return 0;
}

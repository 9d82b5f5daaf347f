/*
 * check_dedup: normalisation, the exact and near rules, and in-job
 * duplicate removal, each against values worked out by hand. The near
 * cases are built from distinct words so that their Jaccard similarity is
 * known exactly (4/5 = 0.8, 79/100 = 0.79, ...).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "tokens.h"
#include "xmalloc.h"

/* ---- helpers ---- */

static void
assert_norm(const char *in, size_t len, const char *want, size_t wantlen)
{
	char *out = xmalloc(len + 1);
	size_t n = dedup_normalise(in, len, out);

	ck_assert_msg(n == wantlen && memcmp(out, want, n) == 0,
	    "normalise(\"%s\"): got %zu bytes \"%.*s\", want \"%s\"", in, n,
	    (int)n, out, want);
	free(out);
}

#define NORM(in, want) assert_norm(in, strlen(in), want, strlen(want))

/* The reference: FNV-1a then splitmix64, written out separately. */
static uint64_t
ref_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

/* "w<first> w<first+1> ... " : n distinct words. */
static char *
words(int first, int n)
{
	struct buf b;

	buf_init(&b);
	for (int i = 0; i < n; i++)
		buf_printf(&b, "w%d ", first + i);
	return buf_release(&b, NULL);
}

/* Run dedup_in_job over NUL-terminated texts. */
static size_t
run(const char *const *texts, size_t n, double t, unsigned char *keep)
{
	size_t *lens = xreallocarray(NULL, n ? n : 1, sizeof(*lens));
	size_t r;

	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(texts[i]);
	r = dedup_in_job(texts, lens, n, t, keep);
	free(lens);
	return r;
}

static void
assert_keep(const unsigned char *keep, const unsigned char *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(keep[i] == want[i], "keep[%zu] = %d, want %d", i,
		    keep[i], want[i]);
}

/* ---- normalisation ---- */

START_TEST(test_norm_basic)
{
	NORM("Hello, World!", "hello world");
	NORM("  a \t\n b  ", "a b");
	NORM("don't", "dont");
	NORM("a , b", "a b");
	NORM("a-b", "ab");
	NORM("a - b", "a b");
	NORM("x\v\f\ry", "x y");
	NORM("ALL CAPS", "all caps");
	NORM("", "");
	NORM("   ", "");
	NORM("...", "");
	NORM(" !a! ", "a");
	NORM("3.14 is pi", "314 is pi");
}
END_TEST

START_TEST(test_norm_punct_set)
{
	/* Exactly the 32 ASCII punctuation characters are deleted. */
	const char *p = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
	char keep[2];

	NORM(p, "");
	for (int c = 1; c < 128; c++) {
		char out[2];
		int punct = strchr(p, c) != NULL;
		int space = c == ' ' || (c >= '\t' && c <= '\r');

		keep[0] = (char)c;
		if (punct || space)
			ck_assert_uint_eq(dedup_normalise(keep, 1, out), 0);
		else {
			ck_assert_uint_eq(dedup_normalise(keep, 1, out), 1);
			ck_assert_int_eq(out[0], c >= 'A' && c <= 'Z'
				? c - 'A' + 'a'
				: c);
		}
	}
}
END_TEST

START_TEST(test_norm_bytes_kept)
{
	/* Non-ASCII bytes, control characters and NUL pass unchanged;
	 * non-ASCII letters are not lower-cased. */
	assert_norm("\xc3\x9c" "BER", 5, "\xc3\x9c" "ber", 5);
	assert_norm("a\x01" "B", 3, "a\x01" "b", 3);
	assert_norm("a\0b", 3, "a\0b", 3);
	assert_norm("\xff \xfe", 3, "\xff \xfe", 3);
}
END_TEST

START_TEST(test_norm_hash)
{
	const char *in = "Hello,  World!";

	/* The hash is of the normalised form, and it never changes. */
	ck_assert_uint_eq(dedup_norm_hash(in, strlen(in)),
	    ref_hash("hello world", 11));
	ck_assert_uint_eq(dedup_norm_hash(in, strlen(in)),
	    UINT64_C(0x05cb585112be1151));
	ck_assert_uint_eq(dedup_norm_hash("", 0), ref_hash("", 0));
	ck_assert_uint_eq(dedup_norm_hash("!? ", 3), ref_hash("", 0));
	ck_assert_uint_eq(dedup_norm_hash("hello world", 11),
	    dedup_norm_hash("  HELLO\tworld.", 14));
	ck_assert_uint_ne(dedup_norm_hash("hello world", 11),
	    dedup_norm_hash("helloworld", 10));
}
END_TEST

/* ---- sets and Jaccard ---- */

START_TEST(test_token_set)
{
	struct tokens t;
	uint64_t set[16];
	size_t n;

	tokens_init(&t);
	tokens_split(&t, "b a b A c a", 11);
	ck_assert_uint_eq(t.n, 6);
	n = dedup_token_set(&t, set);
	ck_assert_uint_eq(n, 3);
	ck_assert(set[0] < set[1] && set[1] < set[2]);
	tokens_split(&t, "...", 3);
	ck_assert_uint_eq(dedup_token_set(&t, set), 0);
	tokens_free(&t);
}
END_TEST

START_TEST(test_jaccard)
{
	const uint64_t a[] = {1, 2, 3, 4}, b[] = {1, 2, 3, 4, 5};
	const uint64_t c[] = {2, 4, 6, 8}, d[] = {9};

	ck_assert(dedup_jaccard(a, 4, b, 5) == 0.8);
	ck_assert(dedup_jaccard(a, 4, a, 4) == 1.0);
	ck_assert(dedup_jaccard(a, 4, c, 4) == 2.0 / 6.0);
	ck_assert(dedup_jaccard(a, 4, d, 1) == 0.0);
	ck_assert(dedup_jaccard(a, 0, a, 4) == 0.0);
	ck_assert(dedup_jaccard(a, 0, a, 0) == 0.0);
}
END_TEST

/* ---- in-job ---- */

START_TEST(test_exact)
{
	const char *t[] = {"Hello world", "hello, WORLD!", "other",
	    "  Hello   World ", "Other."};
	const unsigned char want[] = {1, 0, 1, 0, 0};
	unsigned char keep[5];

	/* Near matching off: only normalised equality counts. */
	ck_assert_uint_eq(run(t, 5, 2.0, keep), 3);
	assert_keep(keep, want, 5);
}
END_TEST

START_TEST(test_near_edges)
{
	char *a = words(0, 5), *b = words(0, 4);
	char *c = words(0, 100), *d = words(0, 79);
	const char *t1[2], *t2[2];
	unsigned char keep[2];

	/* J = 4/5 = 0.8: a duplicate at 0.8, not just above it. */
	t1[0] = a;
	t1[1] = b;
	ck_assert_uint_eq(run(t1, 2, 0.8, keep), 1);
	ck_assert_int_eq(keep[1], 0);
	ck_assert_uint_eq(run(t1, 2, nextafter(0.8, 1.0), keep), 0);
	ck_assert_int_eq(keep[1], 1);
	ck_assert_uint_eq(run(t1, 2, 0.79, keep), 1);
	/* J = 79/100 = 0.79: not a duplicate at 0.8, one at 0.79. */
	t2[0] = c;
	t2[1] = d;
	ck_assert_uint_eq(run(t2, 2, 0.8, keep), 0);
	ck_assert_int_eq(keep[1], 1);
	ck_assert_uint_eq(run(t2, 2, 0.79, keep), 1);
	ck_assert_int_eq(keep[1], 0);
	/* The later one may be the bigger set: same answers. */
	t2[0] = d;
	t2[1] = c;
	ck_assert_uint_eq(run(t2, 2, 0.8, keep), 0);
	ck_assert_uint_eq(run(t2, 2, 0.79, keep), 1);
	free(a);
	free(b);
	free(c);
	free(d);
}
END_TEST

START_TEST(test_near_sets)
{
	/* Sets, not bags or sequences: {a,b,c,d} vs {a,b,c,d,e} = 0.8. */
	const char *t[] = {"a a b c d", "E, d c b a!"};
	/* |{1..8,9} and {1..8,10}| = 8 / 10. */
	const char *u[] = {"w1 w2 w3 w4 w5 w6 w7 w8 w9",
	    "w10 w8 w7 w6 w5 w4 w3 w2 w1"};
	/* 3/4 vs 2/3 at 0.75. */
	const char *v[] = {"a b c d", "a b c", "a b"};
	const unsigned char wantv[] = {1, 0, 1};
	unsigned char keep[3];

	ck_assert_uint_eq(run(t, 2, 0.8, keep), 1);
	ck_assert_uint_eq(run(t, 2, 0.81, keep), 0);
	ck_assert_uint_eq(run(u, 2, 0.8, keep), 1);
	ck_assert_uint_eq(run(u, 2, 0.81, keep), 0);
	ck_assert_uint_eq(run(v, 3, 0.75, keep), 1);
	assert_keep(keep, wantv, 3);
}
END_TEST

START_TEST(test_first_kept)
{
	/*
	 * B is near A (9/11) and dropped; C is near B (9/11) but not A
	 * (8/12), and is kept: only KEPT candidates count. D duplicates C
	 * exactly, E duplicates A exactly; both go.
	 */
	const char *t[] = {
	    "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10",
	    "w1 w2 w3 w4 w5 w6 w7 w8 w9 w11",
	    "w1 w2 w3 w4 w5 w6 w7 w8 w11 w12",
	    "W1 w2 w3 w4 w5 w6 w7 w8 w11 w12.",
	    "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10",
	};
	const unsigned char want[] = {1, 0, 1, 0, 0};
	unsigned char keep[5];

	ck_assert_uint_eq(run(t, 5, 0.8, keep), 3);
	assert_keep(keep, want, 5);
}
END_TEST

START_TEST(test_empty_texts)
{
	/* "", "   " and "!!!" all normalise to "": exact duplicates. Texts
	 * of non-ASCII bytes only have no tokens: duplicates only when
	 * their forms are equal; never near a text with tokens. */
	const char *t[] = {"", "", "   ", "!!!", "a", "\xc3\xbc",
	    "\xc3\xa9", "\xc3\xbc!"};
	const unsigned char want[] = {1, 0, 0, 0, 1, 1, 1, 0};
	unsigned char keep[8];

	ck_assert_uint_eq(run(t, 8, 0.0, keep), 4);
	assert_keep(keep, want, 8);
	ck_assert_uint_eq(run(t, 0, 0.8, keep), 0);
}
END_TEST

START_TEST(test_threshold_extremes)
{
	const char *t[] = {"a b", "b a", "c d"};
	const char *u[] = {"apple", "pear"};
	unsigned char keep[3];

	/* Near matching off above 1 and for NaN: "b a" stays. */
	ck_assert_uint_eq(run(t, 3, 1.5, keep), 0);
	ck_assert_uint_eq(run(t, 3, NAN, keep), 0);
	/* At 1, identical sets only. */
	ck_assert_uint_eq(run(t, 3, 1.0, keep), 1);
	ck_assert_int_eq(keep[1], 0);
	/* At 0, any two texts with tokens. */
	ck_assert_uint_eq(run(u, 2, 0.0, keep), 1);
	ck_assert_uint_eq(run(t, 3, 0.0, keep), 2);
}
END_TEST

START_TEST(test_lengths_not_nul)
{
	/* lens[] rules, not NULs: the second text is "ab" + NUL + "c". */
	const char *t[] = {"ab", "ab\0c", "ab\0c"};
	const size_t lens[] = {2, 4, 4};
	unsigned char keep[3];

	ck_assert_uint_eq(dedup_in_job(t, lens, 3, 2.0, keep), 1);
	ck_assert_int_eq(keep[0], 1);
	ck_assert_int_eq(keep[1], 1);
	ck_assert_int_eq(keep[2], 0);
}
END_TEST

/* A text of 20-80 words from a 3000-word vocabulary. */
static char *
random_text(uint64_t *state)
{
	struct buf b;
	int n;

	buf_init(&b);
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	n = 20 + (int)((*state >> 33) % 61);
	for (int i = 0; i < n; i++) {
		*state = *state * 6364136223846793005ULL +
		    1442695040888963407ULL;
		buf_printf(&b, "%s%d ", i % 7 == 0 ? "The " : "",
		    (int)((*state >> 33) % 3000));
	}
	return buf_release(&b, NULL);
}

START_TEST(test_deterministic)
{
	enum { N = 1000 };
	char **texts = xreallocarray(NULL, N, sizeof(*texts));
	size_t *lens = xreallocarray(NULL, N, sizeof(*lens));
	unsigned char k1[N], k2[N];
	uint64_t st = 7;
	size_t d1, d2;

	for (size_t i = 0; i < N; i++) {
		/* Every tenth text repeats an earlier one, case changed. */
		if (i % 10 == 9) {
			texts[i] = xstrdup(texts[i - 5]);
			texts[i][0] = 'X';
		} else
			texts[i] = random_text(&st);
		lens[i] = strlen(texts[i]);
	}
	/* Speed is measured by tests/bench, not asserted here. */
	d1 = dedup_in_job((const char *const *)texts, lens, N, 0.8, k1);
	d2 = dedup_in_job((const char *const *)texts, lens, N, 0.8, k2);
	ck_assert_uint_eq(d1, d2);
	ck_assert_mem_eq(k1, k2, N);
	/* The 100 near-copies (one token changed of 20-80) all go. */
	ck_assert_uint_ge(d1, 100);
	for (size_t i = 9; i < N; i += 10)
		ck_assert_int_eq(k1[i], 0);
	for (size_t i = 0; i < N; i++)
		free(texts[i]);
	free(texts);
	free(lens);
}
END_TEST

static Suite *
dedup_suite(void)
{
	Suite *s = suite_create("dedup");
	TCase *tc = tcase_create("dedup");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_norm_basic);
	tcase_add_test(tc, test_norm_punct_set);
	tcase_add_test(tc, test_norm_bytes_kept);
	tcase_add_test(tc, test_norm_hash);
	tcase_add_test(tc, test_token_set);
	tcase_add_test(tc, test_jaccard);
	tcase_add_test(tc, test_exact);
	tcase_add_test(tc, test_near_edges);
	tcase_add_test(tc, test_near_sets);
	tcase_add_test(tc, test_first_kept);
	tcase_add_test(tc, test_empty_texts);
	tcase_add_test(tc, test_threshold_extremes);
	tcase_add_test(tc, test_lengths_not_nul);
	tcase_add_test(tc, test_deterministic);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dedup_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

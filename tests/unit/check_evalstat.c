/*
 * check_evalstat: the statistics of vsampctl eval (docs/eval.md).
 *
 * The pinned bootstrap values were computed by a separate
 * implementation of the algorithm that docs/eval.md states (splitmix64,
 * rejection, sums in draw order, the interpolated percentile), so they
 * check the definition and not only that the code stays the same; the
 * other cases check what any correct bootstrap must do.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evalstat.h"

static const double x10[] = {0.12, 0.35, 0.41, 0.58, 0.77, 0.23, 0.66, 0.91,
    0.05, 0.49};
static const double y10[] = {0.10, 0.30, 0.45, 0.50, 0.60, 0.25, 0.70, 0.80,
    0.08, 0.40};

START_TEST(test_percentile)
{
	const double s[] = {1, 2, 3, 4, 5};
	const double one[] = {7.5};

	ck_assert_double_eq(evalstat_percentile(s, 5, 0.0), 1.0);
	ck_assert_double_eq(evalstat_percentile(s, 5, 1.0), 5.0);
	ck_assert_double_eq(evalstat_percentile(s, 5, 0.5), 3.0);
	ck_assert_double_eq(evalstat_percentile(s, 5, 0.25), 2.0);
	/* h = 0.4: 40% of the way from 1 to 2 */
	ck_assert_double_eq_tol(evalstat_percentile(s, 5, 0.1), 1.4, 1e-15);
	ck_assert_double_eq_tol(evalstat_percentile(s, 5, 0.975), 4.9, 1e-15);
	ck_assert_double_eq(evalstat_percentile(one, 1, 0.025), 7.5);
	ck_assert(isnan(evalstat_percentile(s, 0, 0.5)));
}
END_TEST

START_TEST(test_mean_pinned)
{
	struct evalstat_ci ci, again, other;
	char err[128];

	ck_assert_int_eq(evalstat_mean_ci(x10, 10, EVALSTAT_RESAMPLES, 42, &ci,
	    err, sizeof(err)), 0);
	ck_assert_double_eq_tol(ci.point, 0.457, 1e-15);
	ck_assert_double_eq(ci.lo, 0.29900000000000004);
	ck_assert_double_eq(ci.hi, 0.62102499999999994);
	ck_assert_uint_eq(ci.resamples, 2000);
	ck_assert_uint_eq(ci.skipped, 0);
	/* the same seed: the same bits; another seed: another interval */
	evalstat_mean_ci(x10, 10, EVALSTAT_RESAMPLES, 42, &again, err,
	    sizeof(err));
	ck_assert(memcmp(&ci, &again, sizeof(ci)) == 0);
	evalstat_mean_ci(x10, 10, EVALSTAT_RESAMPLES, 43, &other, err,
	    sizeof(err));
	ck_assert(other.lo != ci.lo || other.hi != ci.hi);
	ck_assert_double_eq(other.point, ci.point);
}
END_TEST

/* A spread of values in [0, 1] without a pattern the bootstrap sees. */
static double *
spread(size_t n)
{
	double *x = calloc(n, sizeof(*x));

	for (size_t i = 0; i < n; i++)
		x[i] = (double)((i * 37 + 11) % 101) / 100.0;
	return x;
}

START_TEST(test_mean_sanity)
{
	struct evalstat_ci small, large;
	double *a = spread(10), *b = spread(1000);
	char err[128];

	ck_assert_int_eq(evalstat_mean_ci(a, 10, EVALSTAT_RESAMPLES, 1, &small,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(evalstat_mean_ci(b, 1000, EVALSTAT_RESAMPLES, 1,
	    &large, err, sizeof(err)), 0);
	ck_assert(small.lo < small.point && small.point < small.hi);
	ck_assert(large.lo < large.point && large.point < large.hi);
	/* the width goes as 1 / sqrt(n): 10 times narrower, give or take */
	ck_assert(large.hi - large.lo < (small.hi - small.lo) / 5);
	ck_assert(large.hi - large.lo > (small.hi - small.lo) / 20);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_mean_degenerate)
{
	const double c[] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
	const double one[] = {0.625};
	struct evalstat_ci ci;
	char err[128];

	/* constant data: every resample has the same mean */
	ck_assert_int_eq(evalstat_mean_ci(c, 7, 500, 9, &ci, err, sizeof(err)),
	    0);
	ck_assert_double_eq(ci.lo, ci.hi);
	ck_assert_double_eq(ci.lo, ci.point);
	ck_assert_double_eq_tol(ci.point, 0.1, 1e-15);
	/* one value: the interval is that value, nothing is drawn */
	ck_assert_int_eq(evalstat_mean_ci(one, 1, 500, 9, &ci, err,
	    sizeof(err)), 0);
	ck_assert_double_eq(ci.point, 0.625);
	ck_assert_double_eq(ci.lo, 0.625);
	ck_assert_double_eq(ci.hi, 0.625);
	ck_assert_uint_eq(ci.resamples, 0);
	/* no value: nil */
	ck_assert_int_eq(evalstat_mean_ci(NULL, 0, 500, 9, &ci, err,
	    sizeof(err)), 0);
	ck_assert(isnan(ci.point) && isnan(ci.lo) && isnan(ci.hi));
}
END_TEST

START_TEST(test_mean_errors)
{
	const double bad[] = {1.0, 2.0, NAN, 4.0};
	const double inf[] = {1.0, INFINITY};
	struct evalstat_ci ci;
	char err[128];

	ck_assert_int_eq(evalstat_mean_ci(bad, 4, 100, 1, &ci, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "x[2]") != NULL, "%s", err);
	ck_assert(isnan(ci.point));
	ck_assert_int_eq(evalstat_mean_ci(inf, 2, 100, 1, &ci, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "x[1]") != NULL, "%s", err);
	ck_assert_int_eq(evalstat_mean_ci(x10, 10, 0, 1, &ci, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "resamples") != NULL, "%s", err);
	ck_assert_int_eq(evalstat_mean_ci(x10, 10, EVALSTAT_RESAMPLES_MAX + 1,
	    1, &ci, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "resamples") != NULL, "%s", err);
}
END_TEST

START_TEST(test_ratio)
{
	const double x[] = {2, 4, 6, 9};
	const double y[] = {1, 2, 3, 4.5};
	struct evalstat_ci ci;
	char err[128];

	/* (2 + 4 + 6 + 9) / (1 + 2 + 3 + 4.5) = 2, and x = 2y on every
	 * prompt: a paired resample has ratio 2 every time */
	ck_assert_int_eq(evalstat_ratio_ci(x, y, 4, EVALSTAT_RESAMPLES, 5, &ci,
	    err, sizeof(err)), 0);
	ck_assert_double_eq(ci.point, 2.0);
	ck_assert_double_eq(ci.lo, 2.0);
	ck_assert_double_eq(ci.hi, 2.0);
	ck_assert_uint_eq(ci.skipped, 0);

	/* the ratio of the means, not the mean of the ratios: x10 / y10
	 * is 4.57 / 4.18 */
	ck_assert_int_eq(evalstat_ratio_ci(x10, y10, 10, EVALSTAT_RESAMPLES,
	    42, &ci, err, sizeof(err)), 0);
	ck_assert_double_eq_tol(ci.point, 4.57 / 4.18, 1e-15);
	ck_assert_double_eq(ci.lo, 0.99255583126550884);
	ck_assert_double_eq(ci.hi, 1.1805608974358976);
	ck_assert(ci.lo < ci.point && ci.point < ci.hi);
	ck_assert_uint_eq(ci.skipped, 0);
}
END_TEST

START_TEST(test_ratio_pairs_like_mean)
{
	double ones[10];
	struct evalstat_ci r, m;
	char err[128];

	/* y = 1: sum x / sum y is the mean of x on the same indices */
	for (size_t i = 0; i < 10; i++)
		ones[i] = 1.0;
	evalstat_ratio_ci(x10, ones, 10, 777, 3, &r, err, sizeof(err));
	evalstat_mean_ci(x10, 10, 777, 3, &m, err, sizeof(err));
	ck_assert_double_eq(r.lo, m.lo);
	ck_assert_double_eq(r.hi, m.hi);
	ck_assert_double_eq(r.point, m.point);
}
END_TEST

START_TEST(test_ratio_zero_direct)
{
	const double x[] = {1, 1, 1, 1};
	const double y[] = {0, 0, 0, 1};
	const double zero[] = {0, 0, 0, 0};
	const double bad[] = {0, INFINITY, 0, 0};
	struct evalstat_ci ci;
	char err[128];

	/* a resample of only the first three prompts has no ratio: about
	 * (3/4)^4 of 2000, i.e. 633 give or take 21 */
	ck_assert_int_eq(evalstat_ratio_ci(x, y, 4, EVALSTAT_RESAMPLES, 7, &ci,
	    err, sizeof(err)), 0);
	ck_assert_double_eq(ci.point, 4.0);
	ck_assert_uint_eq(ci.resamples, 2000);
	ck_assert_uint_eq(ci.skipped, 611);
	ck_assert_double_eq_tol(ci.lo, 4.0 / 3.0, 1e-15);
	ck_assert_double_eq(ci.hi, 4.0);

	/* direct's mean is 0: no ratio at all */
	ck_assert_int_eq(evalstat_ratio_ci(x, zero, 4, EVALSTAT_RESAMPLES, 7,
	    &ci, err, sizeof(err)), 0);
	ck_assert(isnan(ci.point) && isnan(ci.lo) && isnan(ci.hi));
	ck_assert_uint_eq(ci.resamples, 0);

	ck_assert_int_eq(evalstat_ratio_ci(x, bad, 4, EVALSTAT_RESAMPLES, 7,
	    &ci, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "y[1]") != NULL, "%s", err);
	ck_assert_int_eq(evalstat_ratio_ci(bad, y, 4, EVALSTAT_RESAMPLES, 7,
	    &ci, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "x[1]") != NULL, "%s", err);
}
END_TEST

START_TEST(test_wins)
{
	const double x[] = {1, 2, 3, 4, 0.5};
	const double y[] = {0, 2, 5, 4.5, 0.25};
	const double bad[] = {1, 2, 3, NAN, 0};
	struct evalstat_wins w;
	char err[128];

	ck_assert_int_eq(evalstat_wins(x, y, 5, &w, err, sizeof(err)), 0);
	ck_assert_uint_eq(w.wins, 2);
	ck_assert_uint_eq(w.ties, 1);
	ck_assert_uint_eq(w.losses, 2);
	/* the other way round */
	evalstat_wins(y, x, 5, &w, err, sizeof(err));
	ck_assert_uint_eq(w.wins, 2);
	ck_assert_uint_eq(w.losses, 2);
	ck_assert_int_eq(evalstat_wins(x, bad, 5, &w, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "y[3]") != NULL, "%s", err);
	ck_assert_uint_eq(w.wins + w.ties + w.losses, 0);
}
END_TEST

START_TEST(test_enum_uniform_and_one)
{
	const int all[] = {0, 1, 2, 3, 3, 2, 1, 0};
	const int one[] = {2, 2, 2, 2, 2};
	struct evalstat_enum e;
	double p[4];
	char err[128];

	ck_assert_int_eq(evalstat_enum(all, 8, 4, p, &e, err, sizeof(err)), 0);
	ck_assert_double_eq(e.kl, 0.0);
	ck_assert_double_eq(e.coverage, 1.0);
	ck_assert_uint_eq(e.valid, 8);
	ck_assert_uint_eq(e.invalid, 0);
	ck_assert_uint_eq(e.distinct, 4);
	for (size_t a = 0; a < 4; a++)
		ck_assert_double_eq(p[a], 0.25);

	ck_assert_int_eq(evalstat_enum(one, 5, 4, p, &e, err, sizeof(err)), 0);
	ck_assert_double_eq_tol(e.kl, log(4.0), 1e-15);
	ck_assert_double_eq(e.coverage, 0.25);
	ck_assert_uint_eq(e.distinct, 1);
	ck_assert_double_eq(p[2], 1.0);
	ck_assert_double_eq(p[0], 0.0);
}
END_TEST

START_TEST(test_enum_invalid_draws)
{
	const int d[] = {0, -1, 0, 1, -1};
	const int none[] = {-1, -1};
	struct evalstat_enum e;
	double p[4], want;
	char err[128];

	/* P = (2/3, 1/3, 0, 0) over m = 4; the two -1 are left out */
	ck_assert_int_eq(evalstat_enum(d, 5, 4, p, &e, err, sizeof(err)), 0);
	ck_assert_uint_eq(e.valid, 3);
	ck_assert_uint_eq(e.invalid, 2);
	ck_assert_uint_eq(e.distinct, 2);
	ck_assert_double_eq(e.coverage, 0.5);
	ck_assert_double_eq_tol(p[0], 2.0 / 3.0, 1e-15);
	ck_assert_double_eq_tol(p[1], 1.0 / 3.0, 1e-15);
	ck_assert_double_eq(p[3], 0.0);
	want = 2.0 / 3.0 * log(8.0 / 3.0) + 1.0 / 3.0 * log(4.0 / 3.0);
	ck_assert_double_eq_tol(e.kl, want, 1e-15);
	/* ln m minus the entropy of P */
	ck_assert_double_eq_tol(e.kl, log(4.0) + 2.0 / 3.0 * log(2.0 / 3.0) +
	    1.0 / 3.0 * log(1.0 / 3.0), 1e-15);

	/* no valid draw: no distribution, coverage 0 */
	ck_assert_int_eq(evalstat_enum(none, 2, 4, p, &e, err, sizeof(err)),
	    0);
	ck_assert(isnan(e.kl));
	ck_assert_double_eq(e.coverage, 0.0);
	ck_assert_uint_eq(e.invalid, 2);
	ck_assert(isnan(p[0]) && isnan(p[3]));
	/* no draw at all, and no p wanted */
	ck_assert_int_eq(evalstat_enum(NULL, 0, 4, NULL, &e, err, sizeof(err)),
	    0);
	ck_assert(isnan(e.kl));
	ck_assert_uint_eq(e.valid + e.invalid, 0);
}
END_TEST

START_TEST(test_enum_errors)
{
	const int big[] = {0, 4};
	const int neg[] = {-2};
	struct evalstat_enum e;
	double p[4] = {9, 9, 9, 9};
	char err[128];

	ck_assert_int_eq(evalstat_enum(big, 2, 4, p, &e, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "draws[1] is 4") != NULL, "%s", err);
	ck_assert_double_eq(p[0], 9.0);
	ck_assert(isnan(e.kl) && isnan(e.coverage));
	ck_assert_int_eq(evalstat_enum(neg, 1, 4, p, &e, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "draws[0] is -2") != NULL, "%s", err);
	ck_assert_int_eq(evalstat_enum(big, 2, 0, p, &e, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "answer set is empty") != NULL, "%s", err);
}
END_TEST

/* The form of the NUL-terminated s, as a new string. */
static char *
form(const char *s)
{
	char *out = calloc(strlen(s) + 1, 1);

	out[evalstat_normalise(s, strlen(s), out)] = '\0';
	return out;
}

static void
check_form(const char *in, const char *want)
{
	char *got = form(in);

	ck_assert_msg(strcmp(got, want) == 0, "form of \"%s\" is \"%s\", "
	    "not \"%s\"", in, got, want);
	free(got);
}

START_TEST(test_normalise)
{
	check_form("Mars", "mars");
	check_form("  New \t  York\n", "new york");
	check_form("Jupiter.", "jupiter");
	check_form("Saturn!!", "saturn");
	check_form("Venus?", "venus");
	check_form("\"Mercury\"", "mercury");
	check_form("'Pluto'.", "pluto");
	check_form("\"Neptune.\"", "neptune");
	check_form(" \" Uranus ! \" . ", "uranus");
	check_form("\xe2\x80\x9c" "Earth" "\xe2\x80\x9d", "earth");
	check_form("\xe2\x80\x98" "Earth" "\xe2\x80\x99!", "earth");
	/* only trailing punctuation, only paired quotes */
	check_form("St. Louis.", "st. louis");
	check_form("Washington, D.C.", "washington, d.c");
	check_form("Achilles'", "achilles'");
	check_form("\"Paris", "\"paris");
	check_form("rock 'n' roll", "rock 'n' roll");
	/* non-ASCII bytes stay as they are: only ASCII is folded */
	check_form("Caf\xc3\xa9", "caf\xc3\xa9");
	check_form("CAF\xc3\x89", "caf\xc3\x89");
	/* nothing left */
	check_form("", "");
	check_form(" ... ", "");
	check_form("\"\"", "");
	check_form("\"", "\"");
}
END_TEST

/* evalstat_match() of the NUL-terminated s. */
static int
match(const char *s, const char *const *answers, size_t m,
    const struct evalstat_alias *al, size_t nal)
{
	return evalstat_match(s, strlen(s), answers, m, al, nal);
}

START_TEST(test_match)
{
	const char *planets[] = {"Mercury", "Venus", "Earth", "Mars",
	    "Jupiter", "Saturn", "Uranus", "Neptune"};
	const char *states[] = {"New York", "New Jersey", "Washington"};
	const struct evalstat_alias al[] = {
		{"NY", 0},
		{"N.Y.", 0},
		{"Washington State", 2},
		{"Jersey", 7}, /* no such answer: never matched */
	};

	ck_assert_int_eq(match("Mars", planets, 8, NULL, 0), 3);
	ck_assert_int_eq(match(" mars. ", planets, 8, NULL, 0), 3);
	ck_assert_int_eq(match("\"NEPTUNE!\"", planets, 8, NULL, 0), 7);
	ck_assert_int_eq(match("Pluto", planets, 8, NULL, 0), -1);
	ck_assert_int_eq(match("Mars bar", planets, 8, NULL, 0), -1);
	ck_assert_int_eq(match("Ma rs", planets, 8, NULL, 0), -1);
	/* the length is the text's, not up to a NUL */
	ck_assert_int_eq(evalstat_match("Marsupial", 4, planets, 8, NULL, 0),
	    3);
	ck_assert_int_eq(match("", planets, 8, NULL, 0), -1);
	ck_assert_int_eq(match("...", planets, 8, NULL, 0), -1);

	ck_assert_int_eq(match("new  york", states, 3, al, 4), 0);
	ck_assert_int_eq(match("ny", states, 3, al, 4), 0);
	ck_assert_int_eq(match("N.Y.", states, 3, al, 4), 0);
	ck_assert_int_eq(match("washington state.", states, 3, al, 4), 2);
	ck_assert_int_eq(match("Jersey", states, 3, al, 4), -1);
	ck_assert_int_eq(match("NY", states, 3, NULL, 0), -1);
}
END_TEST

START_TEST(test_match_utf8)
{
	const char *cities[] = {"Z\xc3\xbcrich", "S\xc3\xa3o Paulo",
	    "\xe6\x9d\xb1\xe4\xba\xac"};

	ck_assert_int_eq(match("Z\xc3\xbcrich", cities, 3, NULL, 0), 0);
	ck_assert_int_eq(match("Z\xc3\xbcRICH.", cities, 3, NULL, 0), 0);
	/* U+00DC is not folded to U+00FC */
	ck_assert_int_eq(match("\x5a\xc3\x9c" "rich", cities, 3, NULL, 0), -1);
	ck_assert_int_eq(match("\xe2\x80\x9c" "s\xc3\xa3o  paulo"
	    "\xe2\x80\x9d", cities, 3, NULL, 0), 1);
	ck_assert_int_eq(match("\xe6\x9d\xb1\xe4\xba\xac!", cities,
	    3, NULL, 0), 2);
	/* a byte short of the last character matches nothing */
	ck_assert_int_eq(evalstat_match("\xe6\x9d\xb1\xe4\xba", 5, cities, 3,
	    NULL, 0), -1);
}
END_TEST

static Suite *
evalstat_suite(void)
{
	Suite *s = suite_create("evalstat");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_percentile);
	tcase_add_test(tc, test_mean_pinned);
	tcase_add_test(tc, test_mean_sanity);
	tcase_add_test(tc, test_mean_degenerate);
	tcase_add_test(tc, test_mean_errors);
	tcase_add_test(tc, test_ratio);
	tcase_add_test(tc, test_ratio_pairs_like_mean);
	tcase_add_test(tc, test_ratio_zero_direct);
	tcase_add_test(tc, test_wins);
	tcase_add_test(tc, test_enum_uniform_and_one);
	tcase_add_test(tc, test_enum_invalid_draws);
	tcase_add_test(tc, test_enum_errors);
	tcase_add_test(tc, test_normalise);
	tcase_add_test(tc, test_match);
	tcase_add_test(tc, test_match_utf8);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(evalstat_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

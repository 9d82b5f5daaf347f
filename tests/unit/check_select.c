/*
 * check_select: selection (fixed seeds, the default seed hash, observed
 * frequencies) and the probability steps of prob.c, each against values
 * worked out by hand.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prob.h"
#include "select.h"

#define DRAWS 100000
#define TOL 1e-12

/* ---- prob ---- */

static void
assert_p(const double *p, const double *want, size_t n)
{
	double sum = 0.0;

	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(fabs(p[i] - want[i]) < TOL,
		    "p[%zu] = %.17g, want %.17g", i, p[i], want[i]);
		sum += p[i];
	}
	if (n > 0)
		ck_assert_double_eq_tol(sum, 1.0, TOL);
}

START_TEST(test_prob_given_normalised)
{
	const double v[] = {0.5, 0.3};
	const double want[] = {0.625, 0.375};
	double p[2];

	prob_call(v, 2, p);
	assert_p(p, want, 2);
}
END_TEST

START_TEST(test_prob_clamp)
{
	/* 1.5 -> 1, -0.5 -> 0; nothing missing; sum 1 already. */
	const double v[] = {1.5, -0.5};
	const double want[] = {1.0, 0.0};
	/* 70 -> 1, 0.25 stays: normalised 1/1.25 and 0.25/1.25. */
	const double v2[] = {70.0, 0.25};
	const double want2[] = {0.8, 0.2};
	double p[2];

	prob_call(v, 2, p);
	assert_p(p, want, 2);
	prob_call(v2, 2, p);
	assert_p(p, want2, 2);
}
END_TEST

START_TEST(test_prob_bare_percentages)
{
	/* 70, 20, 10 sum to 100: percentages, not three clamped 1s. */
	const double v[] = {70.0, 20.0, 10.0};
	const double want[] = {0.7, 0.2, 0.1};
	/* Rounded to 99, with a 0: still percentages, then normalised. */
	const double v2[] = {50.0, 49.0, 0.0};
	const double want2[] = {50.0 / 99, 49.0 / 99, 0.0};
	/* A missing one shares what the percentages left: 100-95 = 5. */
	const double v3[] = {60.0, 35.0, NAN};
	const double want3[] = {0.6, 0.35, 0.05};
	/* Sum 150 is not about 100: clamped to 1 each, uniform. */
	const double v4[] = {70.0, 50.0, 30.0};
	const double t3[] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
	/* A fraction among them (0.5) means they are not percentages. */
	const double v5[] = {60.0, 39.5, 0.5};
	const double want5[] = {1.0 / 2.5, 1.0 / 2.5, 0.5 / 2.5};
	/* Above 100 is not a percentage. */
	const double v6[] = {120.0, NAN};
	double p[3];

	prob_call(v, 3, p);
	assert_p(p, want, 3);
	prob_call(v2, 3, p);
	assert_p(p, want2, 3);
	prob_call(v3, 3, p);
	assert_p(p, want3, 3);
	prob_call(v4, 3, p);
	assert_p(p, t3, 3);
	prob_call(v5, 3, p);
	assert_p(p, want5, 3);
	/* 120 -> 1, the missing one gets 1/2: {1, 0.5} / 1.5. */
	prob_call(v6, 2, p);
	ck_assert_double_eq_tol(p[0], 2.0 / 3.0, TOL);
}
END_TEST

START_TEST(test_prob_missing_share)
{
	/* 1 - 0.6 = 0.4 left, shared by two missing: 0.2 each. */
	const double v[] = {0.6, NAN, NAN};
	const double want[] = {0.6, 0.2, 0.2};
	/* inf and -inf count as missing: 1 - 0.1 = 0.9 over two, 0.45. */
	const double v2[] = {INFINITY, 0.1, -INFINITY};
	const double want2[] = {0.45, 0.1, 0.45};
	double p[3];

	prob_call(v, 3, p);
	assert_p(p, want, 3);
	prob_call(v2, 3, p);
	assert_p(p, want2, 3);
}
END_TEST

START_TEST(test_prob_share_fallback)
{
	/* Given sum 1.2: nothing left, so the missing one gets 1/3;
	 * then {0.7, 0.5, 1/3} / (1.2 + 1/3). */
	const double v[] = {0.7, 0.5, NAN};
	const double tot = 1.2 + 1.0 / 3.0;
	const double want[] = {0.7 / tot, 0.5 / tot, (1.0 / 3.0) / tot};
	/* Given exactly 1: share 0 is not positive, so 1/2:
	 * {1, 0.5} / 1.5. */
	const double v2[] = {1.0, NAN};
	const double want2[] = {2.0 / 3.0, 1.0 / 3.0};
	/* Clamp first: 2 -> 1, then both missing get 1/3:
	 * {1, 1/3, 1/3} / (5/3) = {0.6, 0.2, 0.2}. */
	const double v3[] = {2.0, NAN, INFINITY};
	const double want3[] = {0.6, 0.2, 0.2};
	double p[3];

	prob_call(v, 3, p);
	assert_p(p, want, 3);
	ck_assert_double_eq_tol(p[0], 0.45652173913043476, 1e-15);
	prob_call(v2, 2, p);
	assert_p(p, want2, 2);
	prob_call(v3, 3, p);
	assert_p(p, want3, 3);
}
END_TEST

START_TEST(test_prob_uniform)
{
	const double nan4[] = {NAN, NAN, NAN, NAN};
	const double zero3[] = {0.0, 0.0, -1.0};
	const double q4[] = {0.25, 0.25, 0.25, 0.25};
	const double t3[] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
	double p[4] = {9, 9, 9, 9};

	/* All missing: 1/4 each, already a distribution. */
	prob_call(nan4, 4, p);
	assert_p(p, q4, 4);
	/* All zero after clamping: nothing to share, uniform. */
	prob_call(zero3, 3, p);
	assert_p(p, t3, 3);
	/* n == 0 touches nothing. */
	p[0] = 9;
	prob_call(nan4, 0, p);
	ck_assert_double_eq(p[0], 9);
}
END_TEST

START_TEST(test_prob_alias)
{
	double v[] = {0.6, NAN, NAN};
	const double want[] = {0.6, 0.2, 0.2};

	prob_call(v, 3, v);
	assert_p(v, want, 3);
}
END_TEST

START_TEST(test_prob_renormalise)
{
	double a[] = {0.1, 0.3};
	const double wa[] = {0.25, 0.75};
	double b[] = {0.0, 0.0, 0.0};
	const double wb[] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
	double c[] = {NAN, 0.2, -0.1, 0.2};
	const double wc[] = {0.0, 0.5, 0.0, 0.5};
	double d[] = {7.0};

	prob_renormalise(a, 2);
	assert_p(a, wa, 2);
	prob_renormalise(b, 3);
	assert_p(b, wb, 3);
	prob_renormalise(c, 4);
	assert_p(c, wc, 4);
	prob_renormalise(d, 0);
	ck_assert_double_eq(d[0], 7.0);
}
END_TEST

/* ---- select ---- */

/*
 * Values worked out independently (Python):
 *   h = 0xcbf29ce484222325; for b in id: h = ((h ^ b) * 0x100000001b3) % 2**64
 *   z = h; z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9 % 2**64
 *   z = (z ^ z >> 27) * 0x94d049bb133111eb % 2**64; z ^ z >> 31
 */
START_TEST(test_seed_known)
{
	ck_assert_uint_eq(
	    select_seed("job-1", 5), UINT64_C(0xfed2e199023f9450));
	ck_assert_uint_eq(select_seed("", 0), UINT64_C(0xf52a15e9a9b5e89b));
	ck_assert_uint_eq(select_seed("a", 1), UINT64_C(0x02c0bdbf481420f8));
	/* Only the given bytes count. */
	ck_assert_uint_eq(select_seed("job-1xyz", 5), select_seed("job-1", 5));
	ck_assert_uint_ne(select_seed("job-2", 5), select_seed("job-1", 5));
}
END_TEST

/*
 * The first draw u for a seed is (splitmix64(seed) >> 11) * 2^-53:
 * seed 42 -> 0.7416, 7 -> 0.3898, 0xdeadbeef -> 0.2925,
 * select_seed("job-1") -> 0.9579.
 */
START_TEST(test_pick_fixed)
{
	const double p[] = {0.2, 0.3, 0.5};
	const double q[] = {0.5, 0.3, 0.2};

	ck_assert_int_eq(select_pick(SELECT_WEIGHTED, p, 3, 42), 2);
	ck_assert_int_eq(select_pick(SELECT_WEIGHTED, p, 3, 7), 1);
	ck_assert_int_eq(select_pick(SELECT_WEIGHTED, p, 3, 0xdeadbeef), 1);
	ck_assert_int_eq(select_pick(SELECT_WEIGHTED, q, 3, 42), 1);
	ck_assert_int_eq(select_pick(SELECT_WEIGHTED, q, 3, 0xdeadbeef), 0);
	ck_assert_int_eq(
	    select_pick(SELECT_WEIGHTED, p, 3, select_seed("job-1", 5)), 2);
	ck_assert_int_eq(select_pick(SELECT_UNIFORM, p, 7, 42), 5);
	ck_assert_int_eq(select_pick(SELECT_UNIFORM, p, 7, 7), 2);
	ck_assert_int_eq(
	    select_pick(SELECT_UNIFORM, p, 7, select_seed("job-1", 5)), 6);
	/* Same arguments, same answer. */
	for (uint64_t s = 0; s < 1000; s++)
		ck_assert_int_eq(select_pick(SELECT_WEIGHTED, p, 3, s),
		    select_pick(SELECT_WEIGHTED, p, 3, s));
}
END_TEST

START_TEST(test_pick_weighted_freq)
{
	const double p[] = {0.1, 0.2, 0.3, 0.4, 0.0};
	size_t count[5] = {0};

	for (uint64_t s = 0; s < DRAWS; s++) {
		int i = select_pick(SELECT_WEIGHTED, p, 5, s);

		ck_assert_int_ge(i, 0);
		ck_assert_int_lt(i, 5);
		count[i]++;
	}
	for (size_t i = 0; i < 5; i++)
		ck_assert_msg(fabs((double)count[i] / DRAWS - p[i]) < 0.01,
		    "index %zu drawn %zu times", i, count[i]);
	ck_assert_uint_eq(count[4], 0);
}
END_TEST

START_TEST(test_pick_weighted_seeds_from_ids)
{
	const double p[] = {0.7, 0.05, 0.25};
	size_t count[3] = {0};
	char id[32];

	for (int k = 0; k < DRAWS; k++) {
		int n = snprintf(id, sizeof(id), "job-%d", k);

		count[select_pick(
		    SELECT_WEIGHTED, p, 3, select_seed(id, (size_t)n))]++;
	}
	for (size_t i = 0; i < 3; i++)
		ck_assert_msg(fabs((double)count[i] / DRAWS - p[i]) < 0.01,
		    "index %zu drawn %zu times", i, count[i]);
}
END_TEST

START_TEST(test_pick_uniform_freq)
{
	/* The probabilities are ignored. */
	const double p[] = {0.97, 0.01, 0.01, 0.01};
	size_t count[4] = {0};

	for (uint64_t s = 0; s < DRAWS; s++)
		count[select_pick(SELECT_UNIFORM, p, 4, s * 7919)]++;
	for (size_t i = 0; i < 4; i++)
		ck_assert_msg(fabs((double)count[i] / DRAWS - 0.25) < 0.01,
		    "index %zu drawn %zu times", i, count[i]);
}
END_TEST

START_TEST(test_pick_weighted_degenerate)
{
	const double one[] = {0.0, 1.0, 0.0};
	const double zero[] = {0.0, 0.0, 0.0};
	const double odd[] = {NAN, -1.0, 0.5};
	const double small[] = {0.1, 0.1}; /* not summing to 1 */
	size_t count[2] = {0};

	for (uint64_t s = 0; s < 1000; s++) {
		int z = select_pick(SELECT_WEIGHTED, zero, 3, s);

		ck_assert_int_eq(select_pick(SELECT_WEIGHTED, one, 3, s), 1);
		ck_assert_int_eq(select_pick(SELECT_WEIGHTED, odd, 3, s), 2);
		ck_assert(z >= 0 && z < 3);
		count[select_pick(SELECT_WEIGHTED, small, 2, s)]++;
	}
	ck_assert_uint_gt(count[0], 400);
	ck_assert_uint_gt(count[1], 400);
}
END_TEST

START_TEST(test_pick_top)
{
	const double p[] = {0.2, 0.35, 0.35, 0.1};
	const double q[] = {NAN, 0.1, 0.3};
	const double all[] = {0.25, 0.25, 0.25, 0.25};

	ck_assert_int_eq(select_pick(SELECT_TOP, p, 4, 0), 1);
	ck_assert_int_eq(select_pick(SELECT_TOP, p, 4, 12345), 1);
	ck_assert_int_eq(select_pick(SELECT_TOP, q, 3, 0), 2);
	ck_assert_int_eq(select_pick(SELECT_TOP, all, 4, 99), 0);
	ck_assert_int_eq(select_pick(SELECT_TOP, p, 1, 0), 0);
}
END_TEST

START_TEST(test_pick_none)
{
	const double p[] = {1.0};

	ck_assert_int_eq(select_pick(SELECT_NONE, p, 1, 0), -1);
	ck_assert_int_eq(select_pick(SELECT_WEIGHTED, p, 0, 0), -1);
	ck_assert_int_eq(select_pick(SELECT_UNIFORM, NULL, 0, 0), -1);
	ck_assert_int_eq(select_pick(SELECT_TOP, NULL, 0, 0), -1);
	ck_assert_int_eq(select_pick(SELECT_WEIGHTED, p, 1, 5), 0);
	ck_assert_int_eq(select_pick(SELECT_UNIFORM, p, 1, 5), 0);
}
END_TEST

static Suite *
prob_suite(void)
{
	Suite *s = suite_create("prob");
	TCase *tc = tcase_create("steps");

	tcase_add_test(tc, test_prob_given_normalised);
	tcase_add_test(tc, test_prob_clamp);
	tcase_add_test(tc, test_prob_bare_percentages);
	tcase_add_test(tc, test_prob_missing_share);
	tcase_add_test(tc, test_prob_share_fallback);
	tcase_add_test(tc, test_prob_uniform);
	tcase_add_test(tc, test_prob_alias);
	tcase_add_test(tc, test_prob_renormalise);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
select_suite(void)
{
	Suite *s = suite_create("select");
	TCase *tc = tcase_create("pick");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_seed_known);
	tcase_add_test(tc, test_pick_fixed);
	tcase_add_test(tc, test_pick_weighted_freq);
	tcase_add_test(tc, test_pick_weighted_seeds_from_ids);
	tcase_add_test(tc, test_pick_uniform_freq);
	tcase_add_test(tc, test_pick_weighted_degenerate);
	tcase_add_test(tc, test_pick_top);
	tcase_add_test(tc, test_pick_none);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(select_suite());
	int failed;

	srunner_add_suite(sr, prob_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

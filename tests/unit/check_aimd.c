/*
 * check_aimd: slow start, additive increase after the first decrease,
 * multiplicative decrease past an overload rate and on latency, one
 * decrease per burst, a steady share of random failures that does not
 * starve the limit, and the bounds.
 */
#include <check.h>
#include <stdlib.h>

#include "aimd.h"

/* n successes at latency ms with the limit fully used. */
static int
succeed(struct aimd *a, int n, double ms)
{
	int changed = 0;

	for (int i = 0; i < n; i++)
		changed += aimd_success(a, ms, (size_t)aimd_limit(a));
	return changed;
}

START_TEST(test_slow_start_to_max)
{
	struct aimd a;

	aimd_init(&a, 1024);
	ck_assert_int_eq(aimd_limit(&a), AIMD_START);
	/* Doubling once per window: max(limit, AIMD_MIN_WINDOW) answers. */
	succeed(&a, AIMD_MIN_WINDOW - 1, 100);
	ck_assert_int_eq(aimd_limit(&a), 8);
	succeed(&a, 1, 100);
	ck_assert_int_eq(aimd_limit(&a), 16);
	succeed(&a, 20, 100);
	ck_assert_int_eq(aimd_limit(&a), 32);
	succeed(&a, 32, 100);
	ck_assert_int_eq(aimd_limit(&a), 64);
	succeed(&a, 5000, 100);
	ck_assert_int_eq(aimd_limit(&a), 1024);
	/* Never above max. */
	succeed(&a, 5000, 100);
	ck_assert_int_eq(aimd_limit(&a), 1024);
	aimd_init(&a, 3);
	ck_assert_int_eq(aimd_limit(&a), 3);
}
END_TEST

/* Reach limit 64 by slow start. */
static void
to_64(struct aimd *a)
{
	aimd_init(a, 1000);
	succeed(a, 20 + 20 + 32, 100);
	ck_assert_int_eq(aimd_limit(a), 64);
}

START_TEST(test_overload_rate)
{
	struct aimd a;
	int n = 0;

	to_64(&a);
	/* A few 429s in a window of 64 answers (up to a quarter) do not
	 * cut the limit, */
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(aimd_overload(&a, (size_t)aimd_limit(&a)), 0);
	ck_assert_int_eq(aimd_limit(&a), 64);
	/* the 17th does: 64 * 0.7, */
	ck_assert_int_eq(aimd_overload(&a, (size_t)aimd_limit(&a)), 1);
	ck_assert_int_eq(aimd_limit(&a), 44);
	ck_assert_uint_eq(a.decreases, 1);
	/* and the rest of the burst (sent under 64) counts with it: none of
	 * those 64 answers, successes included, is in the new window. */
	for (int i = 0; i < 32; i++)
		ck_assert_int_eq(aimd_overload(&a, (size_t)aimd_limit(&a)), 0);
	ck_assert_int_eq(succeed(&a, 32, 100), 0);
	ck_assert_int_eq(aimd_limit(&a), 44);
	ck_assert_int_eq(a.window, 44);
	/* A burst past the rate cuts again: a backend that only says 429
	 * brings the limit down to 1 and keeps it there. */
	for (int i = 0; i < 5000; i++)
		n += aimd_overload(&a, (size_t)aimd_limit(&a));
	ck_assert_int_ge(n, 5);
	ck_assert_int_eq(aimd_limit(&a), 1);
	/* Additive from there: one per window of AIMD_MIN_WINDOW. */
	succeed(&a, 64 + 20, 100); /* the cooldown of the last cut, then */
	ck_assert_int_ge(aimd_limit(&a), 2);
	ck_assert_int_le(aimd_limit(&a), 6);
}
END_TEST

/*
 * The soak's chaotic fake, regardless of load: 15% of requests answered
 * with 429 or never (overload signals), 30% with 500 (other answers,
 * counted in the window), the rest ok. The limit is not starved, since
 * its windows seldom go past a quarter. 60% overload keeps it down.
 */
START_TEST(test_random_failures)
{
	struct aimd a;
	uint64_t x = 88172645463325252ULL;
	int lo = 1000;

	for (int pass = 0; pass < 2; pass++) {
		unsigned share = pass == 0 ? 15 : 60;

		aimd_init(&a, 1000);
		aimd_overload(&a,
		    (size_t)aimd_limit(
			&a)); /* out of slow start, the hard case */
		for (int i = 0; i < 200000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (x % 100 < share)
				aimd_overload(&a, (size_t)aimd_limit(&a));
			else if (pass == 0 && x % 100 < share + 30)
				aimd_other(&a);
			else
				aimd_success(&a, 100, (size_t)aimd_limit(&a));
			if (pass == 0 && i >= 100000 && aimd_limit(&a) < lo)
				lo = aimd_limit(&a);
		}
		if (pass == 0) {
			/* Additive growth from 20, cut now and then. */
			ck_assert_int_ge(lo, 100);
		} else {
			ck_assert_int_le(aimd_limit(&a), 4);
		}
	}
}
END_TEST

START_TEST(test_latency)
{
	struct aimd a;
	int lim;

	aimd_init(&a, 1000);
	to_64(&a);
	for (int i = 0; i < 17; i++)
		aimd_overload(&a,
		    (size_t)aimd_limit(&a)); /* leave slow start: limit 44 */
	succeed(&a, 64, 100); /* the cooldown */
	succeed(&a, 400, 100); /* grows, base median 100 ms */
	lim = aimd_limit(&a);
	ck_assert_int_gt(lim, 44);
	/* 1.4x keeps growing; 2x cuts. */
	succeed(&a, 400, 140);
	ck_assert_int_gt(aimd_limit(&a), lim);
	lim = aimd_limit(&a);
	succeed(&a, 200, 300);
	ck_assert_int_lt(aimd_limit(&a), lim);
	ck_assert_uint_ge(a.decreases, 2);
}
END_TEST

/* A sub-millisecond backend: 1 ms then 2 ms is jitter, not load. */
START_TEST(test_latency_slack)
{
	struct aimd a;

	aimd_init(&a, 1000);
	succeed(&a, 2000, 1);
	ck_assert_int_eq(aimd_limit(&a), 1000);
	succeed(&a, 5000, 2);
	ck_assert_int_eq(aimd_limit(&a), 1000);
	ck_assert_uint_eq(a.decreases, 0);
	/* Well past the slack, it does count. */
	succeed(&a, 5000, 40);
	ck_assert_uint_ge(a.decreases, 1);
}
END_TEST

START_TEST(test_idle_does_not_grow)
{
	struct aimd a;

	aimd_init(&a, 1000);
	/* One request at a time says nothing about capacity, nor does an
	 * occasional 429 to one. */
	for (int i = 0; i < 1000; i++) {
		if (i % 10 == 0)
			aimd_overload(&a, 1);
		else
			aimd_success(&a, 50, 1);
	}
	ck_assert_int_eq(aimd_limit(&a), AIMD_START);
	aimd_set_max(&a, 4);
	ck_assert_int_eq(aimd_limit(&a), 4);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("aimd");
	TCase *tc = tcase_create("aimd");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_slow_start_to_max);
	tcase_add_test(tc, test_overload_rate);
	tcase_add_test(tc, test_random_failures);
	tcase_add_test(tc, test_latency);
	tcase_add_test(tc, test_latency_slack);
	tcase_add_test(tc, test_idle_does_not_grow);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

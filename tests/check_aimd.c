/*
 * check_aimd: slow start, additive increase after the first overload,
 * multiplicative decrease on 429s and on latency, one decrease per
 * burst, and the bounds.
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
	/* Doubling once per window of `limit` successes. */
	succeed(&a, 8, 100);
	ck_assert_int_eq(aimd_limit(&a), 16);
	succeed(&a, 16, 100);
	ck_assert_int_eq(aimd_limit(&a), 32);
	succeed(&a, 5000, 100);
	ck_assert_int_eq(aimd_limit(&a), 1024);
	/* Never above max. */
	succeed(&a, 5000, 100);
	ck_assert_int_eq(aimd_limit(&a), 1024);
	aimd_init(&a, 3);
	ck_assert_int_eq(aimd_limit(&a), 3);
}
END_TEST

START_TEST(test_overload_then_additive)
{
	struct aimd a;

	aimd_init(&a, 1000);
	succeed(&a, 8 + 16 + 32, 100);
	ck_assert_int_eq(aimd_limit(&a), 64);
	ck_assert_int_eq(aimd_overload(&a), 1);
	ck_assert_int_eq(aimd_limit(&a), 44); /* 64 * 0.7 */
	/* The rest of the burst (sent under 64) counts once. */
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(aimd_overload(&a), 0);
	ck_assert_int_eq(aimd_limit(&a), 44);
	/* Now additive: one per window. */
	succeed(&a, 44 + 44, 100);
	ck_assert_int_ge(aimd_limit(&a), 45);
	ck_assert_int_le(aimd_limit(&a), 46);
	/* Down to 1 at the least. */
	for (int i = 0; i < 200; i++) {
		aimd_overload(&a);
		succeed(&a, aimd_limit(&a) * 2, 100);
		aimd_overload(&a);
	}
	ck_assert_int_ge(aimd_limit(&a), 1);
}
END_TEST

START_TEST(test_latency)
{
	struct aimd a;
	int lim;

	aimd_init(&a, 1000);
	aimd_overload(&a); /* leave slow start: limit 5 */
	succeed(&a, 200, 100); /* grows, base median 100 ms */
	lim = aimd_limit(&a);
	ck_assert_int_gt(lim, 5);
	/* 1.4x keeps growing; 2x cuts. */
	succeed(&a, 200, 140);
	ck_assert_int_gt(aimd_limit(&a), lim);
	lim = aimd_limit(&a);
	succeed(&a, 100, 300);
	ck_assert_int_lt(aimd_limit(&a), lim);
	ck_assert_uint_ge(a.decreases, 2);
}
END_TEST

START_TEST(test_idle_does_not_grow)
{
	struct aimd a;

	aimd_init(&a, 1000);
	/* One request at a time says nothing about capacity. */
	for (int i = 0; i < 1000; i++)
		aimd_success(&a, 50, 1);
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
	tcase_add_test(tc, test_overload_then_additive);
	tcase_add_test(tc, test_latency);
	tcase_add_test(tc, test_idle_does_not_grow);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

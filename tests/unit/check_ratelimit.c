/*
 * check_ratelimit: the sliding rpm window (never more than rpm sends in
 * any 60 s), the tpm bucket with its corrections, and backend-imposed
 * closures.
 */
#include <check.h>
#include <stdlib.h>

#include "ratelimit.h"

START_TEST(test_unlimited)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 0, 0, 0);
	for (int i = 0; i < 10000; i++) {
		ck_assert_uint_eq(ratelimit_wait_ms(&rl, 5, 1000), 0);
		ratelimit_take(&rl, 5, 1000);
	}
	ratelimit_free(&rl);
}
END_TEST

START_TEST(test_rpm_window)
{
	struct ratelimit rl;
	uint64_t t = 1000;
	int sent = 0;

	ratelimit_init(&rl, 60, 0, t);
	/* 60 go at once, the 61st waits until the first leaves. */
	for (int i = 0; i < 60; i++) {
		ck_assert_uint_eq(ratelimit_wait_ms(&rl, t + (uint64_t)i, 1), 0);
		ratelimit_take(&rl, t + (uint64_t)i, 1);
	}
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, t + 100, 1),
	    60000 + RATELIMIT_SLACK_MS - 100);
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, t + 60000, 1),
	    RATELIMIT_SLACK_MS);
	ck_assert_uint_eq(
	    ratelimit_wait_ms(&rl, t + 60000 + RATELIMIT_SLACK_MS, 1), 0);
	ratelimit_free(&rl);

	/* A greedy sender over 10 simulated minutes, millisecond steps:
	 * never more than 60 in any window. */
	ratelimit_init(&rl, 60, 0, 0);
	{
		uint64_t *times = calloc(1000, sizeof(*times));

		for (uint64_t now = 0; now < 600000; now++) {
			while (ratelimit_wait_ms(&rl, now, 1) == 0) {
				ratelimit_take(&rl, now, 1);
				times[sent++] = now;
				ck_assert_int_lt(sent, 1000);
			}
		}
		/* 60 a window of 60.25 s: 600 in 10 minutes, less one
		 * window's worth of slack. */
		ck_assert_int_ge(sent, 540);
		ck_assert_int_le(sent, 600);
		for (int i = 60; i < sent; i++)
			ck_assert_uint_ge(times[i] - times[i - 60],
			    60000 + RATELIMIT_SLACK_MS);
		free(times);
	}
	ratelimit_free(&rl);
}
END_TEST

START_TEST(test_tpm_bucket)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 0, 6000, 0); /* 100 tokens a second */
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, 0, 5000), 0);
	ratelimit_take(&rl, 0, 5000);
	/* 1000 left: 3000 more need 2000 tokens of refill, 20 s. */
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, 0, 3000), 20001);
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, 20001, 3000), 0);
	/* The reply used less than estimated: the rest comes back. */
	ratelimit_correct(&rl, 5000, 1000);
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, 0, 5000), 0);
	/* More than the whole bucket waits for a full one, not forever. */
	ratelimit_take(&rl, 0, 5000);
	ck_assert_uint_gt(ratelimit_wait_ms(&rl, 0, 100000), 0);
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, 60000, 100000), 0);
	ratelimit_free(&rl);
}
END_TEST

START_TEST(test_close)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 0, 0, 0);
	ratelimit_close(&rl, 1000, 2500);
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, 1000, 1), 2500);
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, 3500, 1), 0);
	/* Capped at a minute, whatever the backend says. */
	ratelimit_close(&rl, 0, 3600000);
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, 0, 1), 60000);
	ratelimit_free(&rl);
	ck_assert_int_eq(ratelimit_estimate(400, 0), 101);
	ck_assert_int_eq(ratelimit_estimate(400, 50), 151);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("ratelimit");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_unlimited);
	tcase_add_test(tc, test_rpm_window);
	tcase_add_test(tc, test_tpm_bucket);
	tcase_add_test(tc, test_close);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

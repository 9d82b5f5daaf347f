/*
 * check_breaker: every transition of the circuit breaker.
 */
#include <check.h>
#include <stdlib.h>

#include "breaker.h"

START_TEST(test_opens_after_threshold)
{
	struct breaker b;

	breaker_init(&b);
	for (int i = 0; i < BREAKER_THRESHOLD - 1; i++) {
		ck_assert_int_eq(breaker_failure(&b, 0), BREAKER_CLOSED);
		ck_assert(breaker_allow(&b, 0));
	}
	/* A success in between resets the count. */
	breaker_success(&b);
	for (int i = 0; i < BREAKER_THRESHOLD - 1; i++)
		breaker_failure(&b, 0);
	/* Enough failures, but all within BREAKER_SPAN_MS of the first:
	 * still closed; */
	ck_assert_int_eq(breaker_failure(&b, 10), BREAKER_CLOSED);
	ck_assert_int_eq(
	    breaker_failure(&b, BREAKER_SPAN_MS - 1), BREAKER_CLOSED);
	/* the run goes on past it: open. */
	ck_assert_int_eq(breaker_failure(&b, BREAKER_SPAN_MS), BREAKER_OPEN);
	ck_assert_uint_eq(b.opened, 1);
	/* BREAKER_BURST at once open it too, but not timeouts: requests
	 * sent together time out together. */
	breaker_init(&b);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(breaker_timeout(&b, 5), BREAKER_CLOSED);
	for (int i = 0; i < BREAKER_BURST - 1; i++)
		ck_assert_int_eq(breaker_failure(&b, 5), BREAKER_CLOSED);
	ck_assert_int_eq(breaker_failure(&b, 5), BREAKER_OPEN);
	/* Timeouts that go on past the span do open it (a hung backend). */
	breaker_init(&b);
	for (int i = 0; i < BREAKER_THRESHOLD; i++)
		breaker_timeout(&b, (uint64_t)i * 300);
	ck_assert_int_eq(b.state, BREAKER_OPEN);
	/* From here, cool-downs count from when it opened. */
	breaker_init(&b);
	for (int i = 0; i < BREAKER_THRESHOLD - 1; i++)
		breaker_failure(&b, 0);
	ck_assert_int_eq(breaker_failure(&b, 1000), BREAKER_OPEN);
	ck_assert(!breaker_allow(&b, 1000));
	ck_assert(breaker_is_open(&b, 1000));
	ck_assert_uint_eq(
	    breaker_wait_ms(&b, 2000), BREAKER_COOLDOWN_MS - 1000);
	ck_assert_uint_eq(b.opened, 1);
}
END_TEST

START_TEST(test_half_open_probe)
{
	struct breaker b;
	uint64_t t = 0;

	breaker_init(&b);
	for (int i = 0; i < BREAKER_THRESHOLD; i++)
		breaker_failure(&b, t + i * BREAKER_SPAN_MS);
	t += (BREAKER_THRESHOLD - 1) * BREAKER_SPAN_MS + BREAKER_COOLDOWN_MS;
	/* One probe, and only one. */
	ck_assert(breaker_allow(&b, t));
	ck_assert_int_eq(b.state, BREAKER_HALF_OPEN);
	ck_assert(!breaker_allow(&b, t));
	ck_assert(breaker_is_open(&b, t));
	/* It fails: open again, for twice as long. */
	ck_assert_int_eq(breaker_failure(&b, t), BREAKER_OPEN);
	ck_assert(!breaker_allow(&b, t + BREAKER_COOLDOWN_MS));
	ck_assert(breaker_allow(&b, t + 2 * BREAKER_COOLDOWN_MS));
	/* An abandoned probe frees the slot for another. */
	breaker_abandon(&b);
	ck_assert(breaker_allow(&b, t + 2 * BREAKER_COOLDOWN_MS));
	/* It succeeds: closed, cool-down back to the start. */
	ck_assert_int_eq(breaker_success(&b), BREAKER_CLOSED);
	ck_assert(breaker_allow(&b, 0));
	ck_assert_uint_eq(b.cooldown_ms, BREAKER_COOLDOWN_MS);
}
END_TEST

START_TEST(test_cooldown_capped)
{
	struct breaker b;
	uint64_t t = 0;

	breaker_init(&b);
	for (int i = 0; i < BREAKER_THRESHOLD; i++)
		breaker_failure(&b, t + i * BREAKER_SPAN_MS);
	t += (BREAKER_THRESHOLD - 1) * BREAKER_SPAN_MS;
	for (int i = 0; i < 20; i++) {
		t += breaker_wait_ms(&b, t);
		ck_assert(breaker_allow(&b, t));
		breaker_failure(&b, t);
	}
	ck_assert_uint_eq(b.cooldown_ms, BREAKER_COOLDOWN_MAX_MS);
	/* Late failures of requests sent before it opened change nothing. */
	ck_assert_int_eq(breaker_failure(&b, t), BREAKER_OPEN);
	ck_assert_uint_eq(breaker_wait_ms(&b, t), BREAKER_COOLDOWN_MAX_MS);
}
END_TEST

/*
 * 35% of answers failing at random (the soak's chaotic fake), 100 a
 * second: runs of 5 failures come every few seconds, but none lasts a
 * second, so the breaker stays closed. The backend dies: it opens.
 */
START_TEST(test_random_failures)
{
	struct breaker b;
	uint64_t x = 88172645463325252ULL, t = 0;

	breaker_init(&b);
	for (int i = 0; i < 360000; i++, t += 10) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (x % 100 < 35)
			breaker_failure(&b, t);
		else
			breaker_success(&b);
	}
	ck_assert_uint_eq(b.opened, 0);
	for (int i = 0; i < 101 && b.state == BREAKER_CLOSED; i++, t += 100)
		breaker_failure(&b, t);
	ck_assert_int_eq(b.state, BREAKER_OPEN);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("breaker");
	TCase *tc = tcase_create("breaker");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_opens_after_threshold);
	tcase_add_test(tc, test_half_open_probe);
	tcase_add_test(tc, test_cooldown_capped);
	tcase_add_test(tc, test_random_failures);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * check_batchmodel: the step/queue arithmetic of the benchmarks' batching
 * fake (tests/bench/batchmodel.h): steps of t0 + c * b, admission at step
 * boundaries from a FIFO queue, the figures /stats reports, and, in a
 * closed loop of N clients, the throughput and queue that make the knee
 * at N = B.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "batchmodel.h"

START_TEST(test_steps_by_hand)
{
	struct bmodel m;
	uint64_t done[2];

	/* B = 2, steps of 10 ms + 1 ms per sequence, three replies of two
	 * tokens each arriving together at t = 0. */
	ck_assert_int_eq(bm_init(&m, 2, 10, 1, 0), 0);
	ck_assert_double_eq(bm_step_us(&m, 2), 12000);
	ck_assert_int_eq(bm_submit(&m, 0, 1, 2), 1); /* starts a step */
	ck_assert_int_eq(bm_submit(&m, 0, 2, 2), 0); /* waits for it */
	ck_assert_int_eq(bm_submit(&m, 0, 3, 2), 0);
	ck_assert_uint_eq(m.st.peak_queue, 2);
	/* Step 1: request 1 alone, 11 ms. */
	ck_assert_uint_eq(bm_due(&m), 11000);
	ck_assert_int_eq(bm_step_end(&m, 11000, done), 0);
	/* Step 2: requests 1 and 2 (2 joined at the boundary), 12 ms. */
	ck_assert_uint_eq(bm_due(&m), 23000);
	ck_assert_int_eq(bm_step_end(&m, 23000, done), 1);
	ck_assert_uint_eq(done[0], 1);
	/* Step 3: requests 2 and 3. */
	ck_assert_uint_eq(bm_due(&m), 35000);
	ck_assert_int_eq(bm_step_end(&m, 35000, done), 1);
	ck_assert_uint_eq(done[0], 2);
	/* Step 4: request 3 alone. */
	ck_assert_uint_eq(bm_due(&m), 46000);
	ck_assert_int_eq(bm_step_end(&m, 46000, done), 1);
	ck_assert_uint_eq(done[0], 3);
	ck_assert_uint_eq(bm_due(&m), 0); /* idle */
	ck_assert_int_eq(bm_step_end(&m, 50000, done), 0);

	ck_assert_uint_eq(m.st.steps, 4);
	ck_assert_uint_eq(m.st.tokens, 6);
	ck_assert_double_eq_tol(bm_mean_batch(&m), 1.5, 1e-9);
	/* Queue: 2 for 11 ms, then 1 for 12 ms, over 46 ms. */
	ck_assert_double_eq_tol(bm_mean_queue(&m, 46000), 34.0 / 46, 1e-9);
	/* Latencies 23, 35 and 46 ms. */
	ck_assert_double_eq(bm_latency_pct(&m, 50), 35);
	ck_assert_double_eq(bm_latency_pct(&m, 99), 46);
	ck_assert_double_eq(bm_latency_pct(&m, 10), 23);
	ck_assert_double_eq_tol(m.st.latency_sum_us, 104000, 1e-6);

	/* A reset clears the figures from then on. */
	bm_stats_reset(&m, 46000);
	ck_assert_uint_eq(m.st.done, 0);
	ck_assert_double_eq(bm_latency_pct(&m, 50), 0);
	ck_assert_double_eq(bm_mean_queue(&m, 50000), 0);
	bm_free(&m);
}
END_TEST

START_TEST(test_queue_grows)
{
	struct bmodel m;
	uint64_t done[4];

	/* The ring buffer grows past its first 64 slots in FIFO order. */
	ck_assert_int_eq(bm_init(&m, 4, 1, 0, 0), 0);
	for (uint64_t i = 0; i < 200; i++)
		bm_submit(&m, 0, i, 1);
	ck_assert_uint_eq(m.qlen, 199);
	for (uint64_t want = 0; want < 200;) {
		int n = bm_step_end(&m, bm_due(&m), done);
		ck_assert_int_ge(n, 1);
		for (int i = 0; i < n; i++)
			ck_assert_uint_eq(done[i], want++);
	}
	ck_assert_uint_eq(m.st.done, 200);
	ck_assert_uint_eq(m.st.peak_queue, 199);
	bm_free(&m);
}
END_TEST

/*
 * n clients, each sending its next request the moment its reply comes,
 * replies of tokens tokens: after a warm-up, the throughput (req/s),
 * the mean batch and the mean queue.
 */
static void
closed_loop(int B, double t0, double c, long tokens, int n, double *rps,
    double *batch, double *queue)
{
	struct bmodel m;
	uint64_t *done = calloc((size_t)B, sizeof(*done)), t = 0, t1;

	ck_assert_ptr_nonnull(done);
	ck_assert_int_eq(bm_init(&m, B, t0, c, 0), 0);
	for (int i = 0; i < n; i++)
		bm_submit(&m, 0, (uint64_t)i, tokens);
	for (int warm = 1; warm >= 0; warm--) {
		t1 = t + 60 * 1000000u; /* a minute of the model's time */
		while (t < t1) {
			t = bm_due(&m);
			int k = bm_step_end(&m, t, done);
			for (int i = 0; i < k; i++)
				bm_submit(&m, t, done[i], tokens);
		}
		if (warm)
			bm_stats_reset(&m, t);
	}
	*rps = (double)m.st.done / ((double)(t - m.st.since_us) / 1e6);
	*batch = bm_mean_batch(&m);
	*queue = bm_mean_queue(&m, t);
	bm_free(&m);
	free(done);
}

START_TEST(test_closed_loop_knee)
{
	const int B = 32;
	const double t0 = 15, c = 0.25;
	const long T = 20;
	double rps, batch, queue;
	double peak = B / (T * (t0 + c * B) / 1000);

	/* One client: the engine is idle when its request comes, so it
	 * decodes at once: T steps of t0 + c. */
	closed_loop(B, t0, c, T, 1, &rps, &batch, &queue);
	ck_assert_double_eq_tol(rps, 1 / (T * (t0 + c) / 1000), 0.01 * rps);
	ck_assert_double_eq_tol(queue, 0, 1e-6);
	/* 2..B clients: a request that comes at a step boundary waits for
	 * the next one (the step has started), so each client is in the
	 * queue one step of every T + 1 and decoding the other T: n T /
	 * (T + 1) decode together, n / (T + 1) are answered per step. */
	for (int n = 2; n <= B; n *= 2) {
		double act = n * T / (double)(T + 1);
		closed_loop(B, t0, c, T, n, &rps, &batch, &queue);
		ck_assert_double_eq_tol(rps,
		    n / (double)(T + 1) / ((t0 + c * act) / 1000), 0.01 * rps);
		ck_assert_double_eq_tol(batch, act, 0.01 * act);
		ck_assert_double_eq_tol(queue, n / (double)(T + 1), 0.02 * n);
		ck_assert_double_lt(rps, peak);
	}
	/* Above B, the batch is full, the throughput stays at its peak and
	 * the rest waits: the queue holds N - B. */
	for (int n = 2 * B; n <= 8 * B; n *= 2) {
		closed_loop(B, t0, c, T, n, &rps, &batch, &queue);
		ck_assert_double_eq_tol(rps, peak, 0.01 * peak);
		ck_assert_double_eq_tol(batch, B, 1e-6);
		ck_assert_double_eq_tol(queue, n - B, 0.02 * n);
	}
}
END_TEST

static Suite *
batchmodel_suite(void)
{
	Suite *s = suite_create("batchmodel");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_steps_by_hand);
	tcase_add_test(tc, test_queue_grows);
	tcase_add_test(tc, test_closed_loop_knee);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(batchmodel_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

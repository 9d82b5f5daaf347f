/*
 * check_gradient: the knee-finding concurrency limit. Slow start to max
 * on a backend whose latency does not grow; no growth while the limit is
 * not used; the cut on overload; and, against the benchmarks' batching
 * model (tests/bench/batchmodel.h) in a closed loop of simulated time,
 * that it settles near the batch size B, where the throughput peaks and
 * nothing queues, for a small and a large batch, and follows the knee
 * when the batch changes.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "batchmodel.h"
#include "gradient.h"

START_TEST(test_grow_to_max)
{
	struct gradient g;
	int n = 0;

	gradient_init(&g, 1024);
	ck_assert_int_eq(gradient_limit(&g), GRADIENT_START);
	/* A backend whose latency does not move: doubling per window of
	 * max(limit, GRADIENT_MIN_WINDOW) answers, up to max. */
	for (int i = 0; i < GRADIENT_MIN_WINDOW - 1; i++)
		n += gradient_success(&g, 100, (size_t)gradient_limit(&g));
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(gradient_limit(&g), 8);
	gradient_success(&g, 100, 8);
	ck_assert_int_eq(gradient_limit(&g), 16);
	for (int i = 0; i < 100000; i++)
		gradient_success(&g, 100, (size_t)gradient_limit(&g));
	ck_assert_int_eq(gradient_limit(&g), 1024);
	/* Bounds. */
	gradient_init(&g, 3);
	ck_assert_int_eq(gradient_limit(&g), 3);
	gradient_init(&g, 0);
	ck_assert_int_eq(gradient_limit(&g), 1);
}
END_TEST

START_TEST(test_unused_does_not_grow)
{
	struct gradient g;

	/* Two requests in flight under a limit of 8: nothing learnt. */
	gradient_init(&g, 1024);
	for (int i = 0; i < 10000; i++)
		gradient_success(&g, 100, 2);
	ck_assert_int_eq(gradient_limit(&g), GRADIENT_START);
}
END_TEST

START_TEST(test_overload)
{
	struct gradient g;
	int changed = 0;

	gradient_init(&g, 1024);
	for (int i = 0; i < 2000; i++)
		gradient_success(&g, 100, (size_t)gradient_limit(&g));
	ck_assert_int_eq(gradient_limit(&g), 1024);
	/* From the start of a window: */
	while (g.settle > 0 || g.window != g.wsize)
		gradient_success(&g, 100, 1024);
	/* a quarter of a window's answers as overload is tolerated... */
	for (int i = 0; i < 1024 / 4; i++)
		changed += gradient_overload(&g);
	ck_assert_int_eq(changed, 0);
	ck_assert_int_eq(gradient_limit(&g), 1024);
	/* ...one more cuts, once for the burst. */
	ck_assert_int_eq(gradient_overload(&g), 1);
	ck_assert_int_eq(gradient_limit(&g), (int)(1024 * GRADIENT_DECREASE));
	for (int i = 0; i < 1024; i++)
		ck_assert_int_eq(gradient_overload(&g), 0);
	ck_assert_uint_eq(g.decreases, 1);
	/* A steady 10% of 429s does not starve it. */
	gradient_init(&g, 256);
	for (int i = 0; i < 20000; i++) {
		if (i % 10 == 0)
			gradient_overload(&g);
		else
			gradient_success(&g, 50, (size_t)gradient_limit(&g));
	}
	ck_assert_int_eq(gradient_limit(&g), 256);
}
END_TEST

/* A closed loop: the limiter's limit is how many requests are kept in
 * the model; its answers teach the limiter. */
struct sim {
	struct bmodel m;
	struct gradient g;
	uint64_t *sent_us; /* by slot */
	size_t *sent_inflight;
	uint64_t *freeslots;
	size_t nfree, cap, inflight;
	uint64_t *done;
	uint64_t t;
};

static void
sim_init(struct sim *s, int B, int max)
{
	s->cap = (size_t)max;
	ck_assert_int_eq(bm_init(&s->m, B, 15, 0.25, 0), 0);
	gradient_init(&s->g, max);
	s->sent_us = calloc(s->cap, sizeof(*s->sent_us));
	s->sent_inflight = calloc(s->cap, sizeof(*s->sent_inflight));
	s->freeslots = calloc(s->cap, sizeof(*s->freeslots));
	s->done = calloc((size_t)B, sizeof(*s->done));
	for (size_t i = 0; i < s->cap; i++)
		s->freeslots[i] = s->cap - 1 - i;
	s->nfree = s->cap;
	s->inflight = 0;
	s->t = 0;
}

static void
sim_fill(struct sim *s)
{
	while (s->inflight < (size_t)gradient_limit(&s->g)) {
		uint64_t slot = s->freeslots[--s->nfree];
		s->inflight++;
		s->sent_us[slot] = s->t;
		s->sent_inflight[slot] = s->inflight;
		ck_assert_int_ge(bm_submit(&s->m, s->t, slot, 20), 0);
	}
}

/* Run the loop for secs of model time. */
static void
sim_run(struct sim *s, double secs)
{
	uint64_t end = s->t + (uint64_t)(secs * 1e6);

	sim_fill(s);
	while (s->t < end) {
		s->t = bm_due(&s->m);
		int n = bm_step_end(&s->m, s->t, s->done);
		for (int i = 0; i < n; i++) {
			uint64_t slot = s->done[i];
			s->inflight--;
			s->freeslots[s->nfree++] = slot;
			gradient_success(&s->g,
			    (double)(s->t - s->sent_us[slot]) / 1000,
			    s->sent_inflight[slot]);
			/* As the backend does: a freed slot is used at once. */
			sim_fill(s);
		}
	}
}

static void
sim_free(struct sim *s)
{
	bm_free(&s->m);
	free(s->sent_us);
	free(s->sent_inflight);
	free(s->freeslots);
	free(s->done);
}

/* After a minute of model time, over two more: the throughput against
 * the peak, the mean queue, and the p95 and p99 latency against the
 * latency at the knee (B in flight). */
static void
knee(int B, double *ratio, double *queue, double *p95_ratio,
    double *p99_ratio)
{
	struct sim s;
	double peak = B / (20 * (15 + 0.25 * B) / 1000);
	double knee_ms = 20 * (15 + 0.25 * B);

	sim_init(&s, B, 4 * B);
	sim_run(&s, 60);
	bm_stats_reset(&s.m, s.t);
	sim_run(&s, 120);
	*ratio = (double)s.m.st.done / 120 / peak;
	*queue = bm_mean_queue(&s.m, s.t);
	*p95_ratio = bm_latency_pct(&s.m, 95) / knee_ms;
	*p99_ratio = bm_latency_pct(&s.m, 99) / knee_ms;
	sim_free(&s);
}

/* A small and a large batch: the targets of tests/bench/README.md. */
START_TEST(test_knee_batches)
{
	static const int batches[] = {32, 256};
	double ratio, queue, p95, p99;

	for (size_t i = 0; i < 2; i++) {
		int B = batches[i];
		knee(B, &ratio, &queue, &p95, &p99);
		ck_assert_double_ge(ratio, 0.95);
		ck_assert_double_le(queue, B / 4.0);
		/* The probes up queue a few percent of the requests (see
		 * gradient.h): the p95 holds the knee's latency, the p99
		 * pays. */
		ck_assert_double_le(p95, 1.5);
		ck_assert_double_le(p99, 2.0);
	}
}
END_TEST

START_TEST(test_knee_follows)
{
	struct sim s;

	/* Settle at B = 64, then the server is restarted with B = 128 (the
	 * queue and batch carry over): the probes climb to it. */
	sim_init(&s, 64, 1024);
	sim_run(&s, 60);
	ck_assert_int_ge(gradient_limit(&s.g), 56);
	ck_assert_int_le(gradient_limit(&s.g), 90);
	struct bm_req *act = s.m.act;
	s.m.act = calloc(128, sizeof(*act));
	memcpy(s.m.act, act, (size_t)s.m.nact * sizeof(*act));
	free(act);
	free(s.done);
	s.done = calloc(128, sizeof(*s.done));
	s.m.B = 128;
	sim_run(&s, 240);
	ck_assert_int_ge(gradient_limit(&s.g), 112);
	ck_assert_int_le(gradient_limit(&s.g), 180);
	sim_free(&s);
}
END_TEST

static Suite *
gradient_suite(void)
{
	Suite *s = suite_create("gradient");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_grow_to_max);
	tcase_add_test(tc, test_unused_does_not_grow);
	tcase_add_test(tc, test_overload);
	tcase_add_test(tc, test_knee_batches);
	tcase_add_test(tc, test_knee_follows);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(gradient_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

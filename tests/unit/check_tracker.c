/*
 * check_tracker: the partition watermark, against hand-worked cases and
 * against a simple reference over 100k offsets completed in random order.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "tracker.h"

START_TEST(test_empty)
{
	struct tracker *t = tracker_new();

	ck_assert_int_eq(tracker_watermark(t), -1);
	ck_assert_uint_eq(tracker_pending(t), 0);
	ck_assert_int_eq(tracker_done(t, 0), -1);
	ck_assert_int_eq(tracker_watermark(t), -1);
	tracker_free(t);
	tracker_free(NULL);
}
END_TEST

START_TEST(test_in_order)
{
	struct tracker *t = tracker_new();

	for (int64_t o = 100; o < 110; o++)
		ck_assert_int_eq(tracker_add(t, o), 0);
	ck_assert_uint_eq(tracker_pending(t), 10);
	ck_assert_int_eq(tracker_watermark(t), -1);
	for (int64_t o = 100; o < 110; o++) {
		ck_assert_int_eq(tracker_done(t, o), 0);
		ck_assert_int_eq(tracker_watermark(t), o + 1);
		ck_assert_uint_eq(tracker_pending(t), (size_t)(109 - o));
	}
	tracker_free(t);
}
END_TEST

START_TEST(test_out_of_order)
{
	struct tracker *t = tracker_new();

	for (int64_t o = 0; o < 5; o++)
		ck_assert_int_eq(tracker_add(t, o), 0);
	ck_assert_int_eq(tracker_done(t, 3), 0);
	ck_assert_int_eq(tracker_watermark(t), -1);
	ck_assert_int_eq(tracker_done(t, 1), 0);
	ck_assert_int_eq(tracker_watermark(t), -1);
	ck_assert_uint_eq(tracker_pending(t), 3);
	ck_assert_int_eq(tracker_done(t, 0), 0);
	ck_assert_int_eq(tracker_watermark(t), 2);
	ck_assert_int_eq(tracker_done(t, 4), 0);
	ck_assert_int_eq(tracker_watermark(t), 2);
	ck_assert_int_eq(tracker_done(t, 2), 0);
	ck_assert_int_eq(tracker_watermark(t), 5);
	ck_assert_uint_eq(tracker_pending(t), 0);
	tracker_free(t);
}
END_TEST

/* docs/delivery.md: 5, 6, 9, 10 with 5, 6 and 9 done gives 10. */
START_TEST(test_gaps)
{
	struct tracker *t = tracker_new();

	ck_assert_int_eq(tracker_add(t, 5), 0);
	ck_assert_int_eq(tracker_add(t, 6), 0);
	ck_assert_int_eq(tracker_add(t, 9), 0);
	ck_assert_int_eq(tracker_add(t, 10), 0);
	ck_assert_int_eq(tracker_done(t, 9), 0);
	ck_assert_int_eq(tracker_watermark(t), -1);
	ck_assert_int_eq(tracker_done(t, 6), 0);
	ck_assert_int_eq(tracker_done(t, 5), 0);
	ck_assert_int_eq(tracker_watermark(t), 10);
	ck_assert_uint_eq(tracker_pending(t), 1);
	/* Offsets inside a gap were never received. */
	ck_assert_int_eq(tracker_done(t, 7), -1);
	ck_assert_int_eq(tracker_done(t, 8), -1);
	ck_assert_int_eq(tracker_done(t, 10), 0);
	ck_assert_int_eq(tracker_watermark(t), 11);
	tracker_free(t);
}
END_TEST

START_TEST(test_repeated_done)
{
	struct tracker *t = tracker_new();

	tracker_add(t, 1);
	tracker_add(t, 2);
	ck_assert_int_eq(tracker_done(t, 2), 0);
	ck_assert_int_eq(tracker_done(t, 2), -1); /* done, still held */
	ck_assert_uint_eq(tracker_pending(t), 1);
	ck_assert_int_eq(tracker_done(t, 1), 0);
	ck_assert_int_eq(tracker_done(t, 1), -1); /* released */
	ck_assert_int_eq(tracker_done(t, 2), -1);
	ck_assert_int_eq(tracker_watermark(t), 3);
	ck_assert_uint_eq(tracker_pending(t), 0);
	tracker_free(t);
}
END_TEST

START_TEST(test_unknown_done)
{
	struct tracker *t = tracker_new();

	tracker_add(t, 10);
	tracker_add(t, 20);
	ck_assert_int_eq(tracker_done(t, 5), -1); /* below everything */
	ck_assert_int_eq(tracker_done(t, 15), -1); /* between */
	ck_assert_int_eq(tracker_done(t, 25), -1); /* above everything */
	ck_assert_int_eq(tracker_done(t, -1), -1);
	ck_assert_uint_eq(tracker_pending(t), 2);
	ck_assert_int_eq(tracker_watermark(t), -1);
	tracker_free(t);
}
END_TEST

/* After a seek back, the redelivered offsets are refused and ignored. */
START_TEST(test_add_lower)
{
	struct tracker *t = tracker_new();

	ck_assert_int_eq(tracker_add(t, 7), 0);
	ck_assert_int_eq(tracker_add(t, 8), 0);
	ck_assert_int_eq(tracker_add(t, 8), -1);
	ck_assert_int_eq(tracker_add(t, 3), -1);
	ck_assert_uint_eq(tracker_pending(t), 2);
	ck_assert_int_eq(tracker_done(t, 3), -1);
	ck_assert_int_eq(tracker_done(t, 7), 0);
	ck_assert_int_eq(tracker_done(t, 8), 0);
	ck_assert_int_eq(tracker_watermark(t), 9);
	/* Still refused once everything before has been released. */
	ck_assert_int_eq(tracker_add(t, 8), -1);
	ck_assert_int_eq(tracker_add(t, 0), -1);
	ck_assert_int_eq(tracker_add(t, 9), 0);
	ck_assert_uint_eq(tracker_pending(t), 1);
	tracker_free(t);
}
END_TEST

START_TEST(test_bounds)
{
	struct tracker *t = tracker_new();

	ck_assert_int_eq(tracker_add(t, -5), -1);
	ck_assert_int_eq(tracker_add(t, INT64_MAX), -1);
	ck_assert_int_eq(tracker_add(t, 0), 0);
	ck_assert_int_eq(tracker_add(t, INT64_MAX - 1), 0);
	ck_assert_int_eq(tracker_done(t, INT64_MAX - 1), 0);
	ck_assert_int_eq(tracker_done(t, 0), 0);
	ck_assert_int_eq(tracker_watermark(t), INT64_MAX);
	tracker_free(t);
}
END_TEST

/* The ring wraps, grows and shrinks without losing its order. */
START_TEST(test_wrap_and_resize)
{
	struct tracker *t = tracker_new();
	int64_t next = 0, low = 0;

	for (int round = 0; round < 50; round++) {
		int burst = (round % 7) * 37 + 3;

		for (int i = 0; i < burst; i++)
			ck_assert_int_eq(tracker_add(t, next++), 0);
		/* Finish all but the last 2, newest first. */
		for (int64_t o = next - 3; o >= low; o--)
			ck_assert_int_eq(tracker_done(t, o), 0);
		ck_assert_int_eq(tracker_watermark(t), next - 2);
		ck_assert_uint_eq(tracker_pending(t), 2);
		low = next - 2;
		ck_assert_int_eq(tracker_done(t, low), 0);
		ck_assert_int_eq(tracker_done(t, low + 1), 0);
		ck_assert_int_eq(tracker_watermark(t), next);
		low = next;
	}
	tracker_free(t);
}
END_TEST

/* A small deterministic generator, so that failures reproduce. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * 100k offsets with random gaps; adds and completions interleaved, each
 * completion of a random pending offset. The reference keeps a done flag
 * per offset and walks a cursor over the done prefix.
 */
START_TEST(test_random)
{
	enum { N = 100000 };
	struct tracker *t = tracker_new();
	int64_t *offs = malloc(N * sizeof(*offs));
	size_t *pend = malloc(N * sizeof(*pend)); /* indices not yet done */
	char *done = calloc(N, 1);
	size_t npend = 0, nadded = 0, cursor = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
	int64_t o = (int64_t)(rnd(&seed) % 1000);

	for (size_t i = 0; i < N; i++) {
		offs[i] = o;
		/* Mostly contiguous, sometimes a gap, now and then a big one.
		 */
		switch (rnd(&seed) % 8) {
		case 0:
			o += 2 + (int64_t)(rnd(&seed) % 5);
			break;
		case 1:
			o += 1 + (int64_t)(rnd(&seed) % 100000);
			break;
		default:
			o++;
		}
	}
	while (cursor < N) {
		/* Windows of varying size: sometimes add, sometimes finish. */
		int add = nadded < N &&
		    (npend == 0 || rnd(&seed) % 100 < (uint64_t)(_i * 20 + 30));

		if (add) {
			ck_assert_int_eq(tracker_add(t, offs[nadded]), 0);
			pend[npend++] = nadded++;
		} else {
			size_t j = rnd(&seed) % npend;
			size_t k = pend[j];

			pend[j] = pend[--npend];
			ck_assert_int_eq(tracker_done(t, offs[k]), 0);
			done[k] = 1;
			while (cursor < nadded && done[cursor])
				cursor++;
			ck_assert_int_eq(tracker_watermark(t),
			    cursor == 0 ? -1 : offs[cursor - 1] + 1);
			/* A repeat is refused and changes nothing. */
			if (k % 97 == 0)
				ck_assert_int_eq(tracker_done(t, offs[k]), -1);
		}
		ck_assert_uint_eq(tracker_pending(t), npend);
	}
	ck_assert_int_eq(tracker_watermark(t), offs[N - 1] + 1);
	ck_assert_uint_eq(tracker_pending(t), 0);
	free(offs);
	free(pend);
	free(done);
	tracker_free(t);
}
END_TEST

static Suite *
tracker_suite(void)
{
	Suite *s = suite_create("tracker");
	TCase *tc;

	tc = tcase_create("cases");
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_in_order);
	tcase_add_test(tc, test_out_of_order);
	tcase_add_test(tc, test_gaps);
	tcase_add_test(tc, test_repeated_done);
	tcase_add_test(tc, test_unknown_done);
	tcase_add_test(tc, test_add_lower);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_wrap_and_resize);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 60);
	/* _i sets the seed and how far adds run ahead of completions. */
	tcase_add_loop_test(tc, test_random, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(tracker_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * check_cost: the cost of a reply at a price per million tokens, the sum
 * over a job's replies, and nil (NAN) for a job with no reply or with a
 * reply from an unpriced backend.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "cost.h"

START_TEST(test_price_init_unpriced)
{
	struct price p;

	price_init(&p);
	ck_assert(!price_set(&p));
	ck_assert(isnan(cost_of(&p, 1000, 1000)));
	ck_assert(isnan(cost_of(NULL, 1000, 1000)));
	p.prompt = 1.0;
	ck_assert(!price_set(&p)); /* both numbers are needed */
	p.completion = 0.0;
	ck_assert(price_set(&p));
}
END_TEST

START_TEST(test_cost_of)
{
	struct price p = {2.5, 10.0};

	/* 1M prompt tokens at 2.5, 1M completion tokens at 10 */
	ck_assert_double_eq(cost_of(&p, 1000000, 0), 2.5);
	ck_assert_double_eq(cost_of(&p, 0, 1000000), 10.0);
	ck_assert_double_eq(cost_of(&p, 1000000, 2000000), 22.5);
	/* 1200 * 2.5 / 1e6 + 300 * 10 / 1e6, in that order */
	ck_assert_double_eq(cost_of(&p, 1200, 300),
	    1200.0 * 2.5 / 1e6 + 300.0 * 10.0 / 1e6);
	ck_assert_double_eq_tol(cost_of(&p, 1200, 300), 0.006, 1e-15);
	ck_assert_double_eq(cost_of(&p, 0, 0), 0.0);
	/* a free backend costs 0, and that 0 is real */
	p.prompt = 0.0;
	p.completion = 0.0;
	ck_assert_double_eq(cost_of(&p, 5000, 5000), 0.0);
	/* large counts stay finite */
	p.prompt = 1e6;
	p.completion = 1e6;
	ck_assert(isfinite(cost_of(&p, UINT64_MAX, UINT64_MAX)));
}
END_TEST

START_TEST(test_cost_sum)
{
	struct price a = {2.5, 10.0}, b = {0.15, 0.6};
	struct cost c;
	double want;

	cost_init(&c);
	ck_assert(isnan(cost_total(&c))); /* no reply: nil, not 0 */
	ck_assert_double_eq(cost_add(&c, &a, 100, 40), 100 * 2.5 / 1e6 +
		40 * 10.0 / 1e6);
	/* a fallback at another price: each reply at its own backend's */
	cost_add(&c, &b, 100, 40);
	cost_add(&c, &a, 7, 3);
	want = 100 * 2.5 / 1e6 + 40 * 10.0 / 1e6;
	want += 100 * 0.15 / 1e6 + 40 * 0.6 / 1e6;
	want += 7 * 2.5 / 1e6 + 3 * 10.0 / 1e6;
	ck_assert_double_eq(cost_total(&c), want);
	ck_assert_uint_eq(c.priced, 3);
	ck_assert_uint_eq(c.unpriced, 0);
}
END_TEST

START_TEST(test_cost_unpriced_is_nil)
{
	struct price a = {2.5, 10.0}, none;
	struct cost c;

	price_init(&none);
	cost_init(&c);
	ck_assert(isnan(cost_add(&c, &none, 100, 40)));
	ck_assert(isnan(cost_total(&c)));
	/* partly priced: nil, never the priced part */
	cost_init(&c);
	ck_assert_double_eq_tol(cost_add(&c, &a, 100, 40), 0.00065, 1e-18);
	ck_assert(!isnan(cost_total(&c)));
	cost_add(&c, &none, 100, 40);
	ck_assert(isnan(cost_total(&c)));
	/* and it stays nil whatever comes after */
	cost_add(&c, &a, 100, 40);
	ck_assert(isnan(cost_total(&c)));
	ck_assert_uint_eq(c.priced, 2);
	ck_assert_uint_eq(c.unpriced, 1);
	/* a reply that reported no usage (NULL): unknown, so nil too */
	cost_init(&c);
	cost_add(&c, &a, 100, 40);
	ck_assert(isnan(cost_add(&c, NULL, 0, 0)));
	ck_assert(isnan(cost_total(&c)));
	/* a priced reply of no tokens costs a real 0 */
	cost_init(&c);
	cost_add(&c, &a, 0, 0);
	ck_assert(!isnan(cost_total(&c)));
	ck_assert_double_eq(cost_total(&c), 0.0);
}
END_TEST

static Suite *
cost_suite(void)
{
	Suite *s = suite_create("cost");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_price_init_unpriced);
	tcase_add_test(tc, test_cost_of);
	tcase_add_test(tc, test_cost_sum);
	tcase_add_test(tc, test_cost_unpriced_is_nil);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cost_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

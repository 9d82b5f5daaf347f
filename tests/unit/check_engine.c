/*
 * check_engine: the pure parts of the engine: the event loop's timers
 * and fd dispatch, the backend's backoff and Retry-After rules, and the
 * dialect a backend takes from its profile's type.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "blob.h"
#include "chat.h"
#include "conf.h"
#include "loop.h"
#include "retry.h"

static int fired[16];
static int nfired;

static void
on_timer(void *arg)
{
	fired[nfired++] = (int)(intptr_t)arg;
}

START_TEST(test_timers_fire_in_due_order)
{
	struct loop *l = loop_new();
	struct loop_timer *t[5];
	uint64_t ms[5] = {40, 10, 30, 0, 20};
	uint64_t t0 = loop_clock_ms();

	nfired = 0;
	for (int i = 0; i < 5; i++) {
		t[i] = loop_timer_new(l, on_timer, (void *)(intptr_t)i);
		loop_timer_set(t[i], ms[i]);
	}
	/* Re-arming moves a timer; stopping removes it. */
	loop_timer_set(t[1], 50);
	loop_timer_stop(t[2]);
	ck_assert_int_eq(loop_timer_armed(t[2]), 0);
	while (nfired < 4 && loop_clock_ms() - t0 < 5000)
		ck_assert_int_eq(loop_run_once(l, 100), 0);
	ck_assert_int_eq(nfired, 4);
	ck_assert_int_eq(fired[0], 3);
	ck_assert_int_eq(fired[1], 4);
	ck_assert_int_eq(fired[2], 0);
	ck_assert_int_eq(fired[3], 1);
	ck_assert_uint_ge(loop_clock_ms() - t0, 50);
	for (int i = 0; i < 5; i++)
		loop_timer_free(t[i]);
	loop_free(l);
}
END_TEST

static struct loop_io *io_b;
static int io_calls;

/* The first handler deletes the other io of the same epoll batch: its
 * event must not be dispatched (and nothing is used after free). */
static void
on_io_a(int fd, uint32_t ev, void *arg)
{
	char c;

	io_calls++;
	(void)read(fd, &c, 1);
	loop_io_del(io_b);
	io_b = NULL;
}

static void
on_io_b(int fd, uint32_t ev, void *arg)
{
	char c;

	io_calls++;
	(void)read(fd, &c, 1);
	loop_io_del(arg);
}

START_TEST(test_io_deleted_during_dispatch)
{
	struct loop *l = loop_new();
	int a[2], b[2];
	struct loop_io *io_a;

	ck_assert_int_eq(pipe(a), 0);
	ck_assert_int_eq(pipe(b), 0);
	io_a = loop_io_add(l, a[0], EPOLLIN, on_io_a, NULL);
	io_b = loop_io_add(l, b[0], EPOLLIN, on_io_b, NULL);
	ck_assert_ptr_nonnull(io_a);
	ck_assert_ptr_nonnull(io_b);
	/* Both are ready in one batch. If a runs first it deletes b, whose
	 * event must then not be dispatched; if b runs first, both run. */
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	ck_assert_int_eq(write(b[1], "y", 1), 1);
	io_calls = 0;
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_ge(io_calls, 1);
	ck_assert_int_le(io_calls, 2);
	loop_io_del(io_a);
	loop_io_del(io_b);
	loop_run_once(l, 0);
	loop_free(l);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}
END_TEST

START_TEST(test_backoff_bounds)
{
	uint64_t rng = 42;

	for (int i = 0; i < 1000; i++) {
		/* Retry 1: within [base/2, base]. */
		uint64_t d = retry_backoff(1, 250, 30000, 0, 60000, &rng);

		ck_assert_uint_ge(d, 125);
		ck_assert_uint_le(d, 250);
		/* Retry 4: 250 * 8 = 2000 -> [1000, 2000]. */
		d = retry_backoff(4, 250, 30000, 0, 60000, &rng);
		ck_assert_uint_ge(d, 1000);
		ck_assert_uint_le(d, 2000);
		/* Far retries stay under the cap. */
		d = retry_backoff(40, 250, 30000, 0, 60000, &rng);
		ck_assert_uint_ge(d, 15000);
		ck_assert_uint_le(d, 30000);
		/* Retry-After is a floor, capped by max_retry_after_ms. */
		d = retry_backoff(1, 250, 30000, 5000, 60000, &rng);
		ck_assert_uint_eq(d, 5000);
		d = retry_backoff(1, 250, 30000, 120000, 60000, &rng);
		ck_assert_uint_eq(d, 60000);
	}
}
END_TEST

START_TEST(test_backoff_jitter_spreads)
{
	uint64_t rng = 7, lo = UINT64_MAX, hi = 0;

	for (int i = 0; i < 1000; i++) {
		uint64_t d = retry_backoff(3, 250, 30000, 0, 60000, &rng);

		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	/* [500, 1000]: a thousand draws cover most of the range. */
	ck_assert_uint_lt(lo, 550);
	ck_assert_uint_gt(hi, 950);
}
END_TEST

START_TEST(test_retry_after_values)
{
	char date[64];
	time_t when = time(NULL) + 120;
	uint64_t ms;

	ck_assert_uint_eq(retry_after_ms(NULL), 0);
	ck_assert_uint_eq(retry_after_ms(""), 0);
	ck_assert_uint_eq(retry_after_ms("3"), 3000);
	ck_assert_uint_eq(retry_after_ms("0"), 0);
	ck_assert_uint_eq(retry_after_ms("12abc"), 0);
	ck_assert_uint_eq(retry_after_ms("junk"), 0);
	ck_assert_uint_eq(retry_after_ms("99999999999"), 86400000);
	strftime(
	    date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&when));
	ms = retry_after_ms(date);
	ck_assert_uint_ge(ms, 118000);
	ck_assert_uint_le(ms, 120000);
	/* A date in the past means now. */
	when = time(NULL) - 3600;
	strftime(
	    date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&when));
	ck_assert_uint_eq(retry_after_ms(date), 0);
}
END_TEST

/* The body a backend of type `type` renders for a two-message chat. */
static char *
dialect_body(struct backend_shared *sh, const char *type)
{
	char name[] = "x", url[] = "http://127.0.0.1:9/v1/", ty[16], err[256];
	struct conf_backend p;
	struct chat_params cp = {.model = "m",
	    .temperature = NAN,
	    .top_p = NAN,
	    .default_top_p = 0.5,
	    .max_tokens = 0,
	    .schema = NULL};
	struct backend *b;
	struct blob *body;
	struct chat c;
	char *s;

	snprintf(ty, sizeof(ty), "%s", type);
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.type = ty;
	p.url = url;
	p.max_inflight = 1;
	b = backend_new(sh, &p, err, sizeof(err));
	if (b == NULL)
		return strdup(err);
	chat_init(&c);
	chat_add(&c, ROLE_SYSTEM, "S", 1);
	chat_add(&c, ROLE_USER, "hi", 2);
	body = backend_chat_body(b, &c, &cp);
	ck_assert_uint_eq(body->len, strlen(body->data));
	s = strdup(body->data);
	blob_unref(body);
	chat_free(&c);
	backend_free(b);
	return s;
}

START_TEST(test_backend_dialect)
{
	struct loop *l = loop_new();
	struct backend_shared *sh = backend_shared_new(l, NULL);
	char *s;

	ck_assert_ptr_nonnull(sh);
	/* The profile's type picks the body's dialect, and the config's
	 * top_p is the OpenAI dialect's only. */
	s = dialect_body(sh, "openai");
	ck_assert_str_eq(s,
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"system\","
	    "\"content\":\"S\"},{\"role\":\"user\",\"content\":\"hi\"}],"
	    "\"top_p\":0.5}");
	free(s);
	s = dialect_body(sh, "anthropic");
	ck_assert_str_eq(s,
	    "{\"model\":\"m\",\"system\":\"S\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"hi\"}],\"max_tokens\":2048}");
	free(s);
	s = dialect_body(sh, "gemini");
	ck_assert_str_eq(s, "backend x: unsupported type gemini");
	free(s);
	backend_shared_free(sh);
	loop_free(l);
}
END_TEST

static Suite *
engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("loop");

	tcase_add_test(tc, test_timers_fire_in_due_order);
	tcase_add_test(tc, test_io_deleted_during_dispatch);
	suite_add_tcase(s, tc);
	tc = tcase_create("backoff");
	tcase_add_test(tc, test_backoff_bounds);
	tcase_add_test(tc, test_backoff_jitter_spreads);
	tcase_add_test(tc, test_retry_after_values);
	suite_add_tcase(s, tc);
	tc = tcase_create("dialect");
	tcase_add_test(tc, test_backend_dialect);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

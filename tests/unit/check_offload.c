/*
 * check_offload: the worker thread and the in-flight record. Tasks run
 * off the loop and come back through it exactly once, cancelled or not;
 * the record counts unclean exits in a row, per offset, and forgets them
 * at a clean exit.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inflight.h"
#include "loop.h"
#include "offload.h"

struct t {
	int ran;
	int done;
	int cancelled;
	unsigned sleep_ms;
};

static void
work(void *arg)
{
	struct t *t = arg;

	if (t->sleep_ms)
		usleep(t->sleep_ms * 1000);
	t->ran++;
}

static void
done(void *arg, int cancelled)
{
	struct t *t = arg;

	t->done++;
	t->cancelled = cancelled;
}

static void
run_until(struct loop *l, const int *flag, int want)
{
	for (int i = 0; i < 500 && *flag < want; i++)
		loop_run_once(l, 10);
}

START_TEST(test_tasks_come_back)
{
	struct loop *l = loop_new();
	struct offload *o = offload_new(l);
	struct t ts[20];

	ck_assert_ptr_nonnull(o);
	memset(ts, 0, sizeof(ts));
	for (int i = 0; i < 20; i++)
		offload_submit(o, work, done, &ts[i]);
	ck_assert_uint_eq(offload_pending(o), 20);
	run_until(l, &ts[19].done, 1);
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(ts[i].ran, 1);
		ck_assert_int_eq(ts[i].done, 1);
		ck_assert_int_eq(ts[i].cancelled, 0);
	}
	ck_assert_uint_eq(offload_pending(o), 0);
	offload_free(o);
	loop_free(l);
}
END_TEST

START_TEST(test_cancel)
{
	struct loop *l = loop_new();
	struct offload *o = offload_new(l);
	struct t slow = {0, 0, 0, 200}, queued = {0, 0, 0, 0};
	struct offload_task *a, *b;

	a = offload_submit(o, work, done, &slow);
	b = offload_submit(o, work, done, &queued);
	usleep(50 * 1000); /* the slow one is running */
	offload_cancel(b);
	offload_cancel(a);
	run_until(l, &queued.done, 1);
	/* Not started: never runs, and comes back cancelled at once. */
	ck_assert_int_eq(queued.ran, 0);
	ck_assert_int_eq(queued.done, 1);
	ck_assert_int_eq(queued.cancelled, 1);
	run_until(l, &slow.done, 1);
	/* Running: it finishes, and comes back cancelled. */
	ck_assert_int_eq(slow.ran, 1);
	ck_assert_int_eq(slow.done, 1);
	ck_assert_int_eq(slow.cancelled, 1);
	offload_free(o);
	loop_free(l);
}
END_TEST

START_TEST(test_free_and_wait)
{
	struct loop *l = loop_new();
	struct offload *o = offload_new(l);
	struct t ts[5];

	memset(ts, 0, sizeof(ts));
	for (int i = 0; i < 5; i++) {
		ts[i].sleep_ms = 20;
		offload_submit(o, work, done, &ts[i]);
	}
	offload_wait(o);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(ts[i].done, 1);
	/* Freed with work queued: every done function is still called. */
	memset(ts, 0, sizeof(ts));
	for (int i = 0; i < 5; i++) {
		ts[i].sleep_ms = 20;
		offload_submit(o, work, done, &ts[i]);
	}
	offload_free(o);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(ts[i].done, 1);
	ck_assert_int_eq(ts[4].cancelled || ts[4].ran, 1);
	offload_free(NULL);
	loop_free(l);
}
END_TEST

static char path[256];

static void
setup(void)
{
	snprintf(path, sizeof(path), "/tmp/check_offload.%d.inflight",
	    (int)getpid());
	unlink(path);
}

static void
teardown(void)
{
	unlink(path);
}

static struct inflight *crashed; /* the child's, still reachable */

/*
 * One run of a daemon that dies uncleanly: a child opens the record,
 * checks what the last exit left (want[i] exits for offsets[i]; exit
 * status 1 when it differs), records adds[] in flight and _exits without
 * closing, as SIGKILL would leave it.
 */
static int
crashed_run(const char *topic, const int64_t *offsets, const unsigned *want,
    size_t nwant, const int64_t *adds, size_t nadds)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		char err[256];

		crashed = inflight_open(path, topic, 64, err, sizeof(err));
		if (crashed == NULL)
			_exit(2);
		for (size_t i = 0; i < nwant; i++)
			if (inflight_exits(crashed, 0, offsets[i]) != want[i])
				_exit(1);
		for (size_t i = 0; i < nadds; i++)
			(void)inflight_add(crashed, 0, adds[i]);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_inflight_counts)
{
	const int64_t o[] = {10, 11, 12};
	const unsigned none[] = {0, 0, 0}, one[] = {1, 1, 0}, two[] = {2, 0, 0};
	char err[256];
	struct inflight *f;

	/* Run 1 dies with 10 and 11 in flight (12 came and went). */
	ck_assert_int_eq(crashed_run("t", o, none, 3, o, 2), 0);
	/* Run 2 sees one exit each; it dies with only 10 in flight. */
	ck_assert_int_eq(crashed_run("t", o, one, 3, o, 1), 0);
	/* Run 3: 10 at two exits in a row, 11's count ended. */
	ck_assert_int_eq(crashed_run("t", o, two, 3, o, 1), 0);
	/* A record of another jobs topic counts nothing. */
	ck_assert_int_eq(crashed_run("other", o, none, 3, o, 1), 0);
	/* A clean exit ends every count. */
	f = inflight_open(path, "other", 64, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	ck_assert_uint_eq(inflight_exits(f, 0, 10), 1);
	ck_assert_uint_eq(inflight_nsuspects(f), 1);
	(void)inflight_add(f, 0, 10);
	inflight_close(f);
	f = inflight_open(path, "other", 64, err, sizeof(err));
	ck_assert_uint_eq(inflight_nsuspects(f), 0);
	inflight_close(f);
	inflight_close(NULL);
}
END_TEST

START_TEST(test_inflight_slots)
{
	char err[256];
	struct inflight *f = inflight_open(path, "t", 3, err, sizeof(err));
	int s[4];

	for (int i = 0; i < 3; i++)
		ck_assert_int_ge(s[i] = inflight_add(f, 0, i), 0);
	/* Full: the job goes unrecorded, nothing breaks. */
	ck_assert_int_eq(s[3] = inflight_add(f, 0, 3), -1);
	inflight_del(f, s[3]);
	inflight_del(f, s[1]);
	ck_assert_int_ge(inflight_add(f, 0, 4), 0);
	inflight_close(f);
	ck_assert_ptr_null(
	    inflight_open("/nonexistent/dir/x", "t", 3, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/x"));
}
END_TEST

static Suite *
offload_suite(void)
{
	Suite *s = suite_create("offload");
	TCase *tc = tcase_create("offload");
	TCase *inf = tcase_create("inflight");

	tcase_add_test(tc, test_tasks_come_back);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_free_and_wait);
	tcase_add_checked_fixture(inf, setup, teardown);
	tcase_add_test(inf, test_inflight_counts);
	tcase_add_test(inf, test_inflight_slots);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, inf);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(offload_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

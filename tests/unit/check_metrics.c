/*
 * check_metrics: the registry's text exposition, byte for byte (HELP
 * and TYPE lines, label escaping, cumulative buckets with inclusive
 * bounds, value formatting), and vsampd's metric set counting a result
 * the way docs/metrics.md says.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "result.h"
#include "stats.h"
#include "xmalloc.h"

static char *
render(const struct metrics *m)
{
	struct buf b;

	buf_init(&b);
	metrics_render(m, &b);
	return buf_release(&b, NULL);
}

START_TEST(test_counter_gauge)
{
	struct metrics *m = metrics_new();
	const char *lab[] = {"status"};
	struct metrics_family *c = metrics_family(m, METRICS_COUNTER,
	    "x_total", "Things.", 1, lab, NULL, 0);
	struct metrics_family *g =
	    metrics_family(m, METRICS_GAUGE, "y", "A level.", 0, NULL, NULL, 0);
	struct metrics_series *ok = metrics_get1(c, "ok");
	char *out;

	(void)metrics_get1(c, "error");
	ck_assert_ptr_eq(metrics_get1(c, "ok"), ok); /* found, not made */
	metrics_add(ok, 2);
	metrics_add(ok, 1);
	metrics_add(ok, -5);  /* counters never go down */
	metrics_add(ok, NAN); /* nor become NaN */
	ck_assert(metrics_value(ok) == 3.0);
	metrics_set(metrics_get(g), 0.25);
	metrics_add(metrics_get(g), -1);
	out = render(m);
	ck_assert_str_eq(out, "# HELP x_total Things.\n"
			      "# TYPE x_total counter\n"
			      "x_total{status=\"ok\"} 3\n"
			      "x_total{status=\"error\"} 0\n"
			      "# HELP y A level.\n"
			      "# TYPE y gauge\n"
			      "y -0.75\n");
	free(out);
	metrics_free(m);
	metrics_free(NULL);
}
END_TEST

START_TEST(test_histogram)
{
	struct metrics *m = metrics_new();
	const double b[] = {0.1, 1, 10};
	const char *lab[] = {"backend"};
	struct metrics_family *h = metrics_family(m, METRICS_HISTOGRAM,
	    "d_seconds", "Durations.", 1, lab, b, 3);
	struct metrics_series *s = metrics_get1(h, "a");
	char *out;

	metrics_observe(s, 0.1); /* le is inclusive: bucket 0.1 */
	metrics_observe(s, 0.5);
	metrics_observe(s, 1);
	metrics_observe(s, 99);
	metrics_observe(s, NAN); /* ignored */
	ck_assert(metrics_value(s) == 4.0);
	out = render(m);
	ck_assert_str_eq(out, "# HELP d_seconds Durations.\n"
			      "# TYPE d_seconds histogram\n"
			      "d_seconds_bucket{backend=\"a\",le=\"0.1\"} 1\n"
			      "d_seconds_bucket{backend=\"a\",le=\"1\"} 3\n"
			      "d_seconds_bucket{backend=\"a\",le=\"10\"} 3\n"
			      "d_seconds_bucket{backend=\"a\",le=\"+Inf\"} 4\n"
			      "d_seconds_sum{backend=\"a\"} 100.6\n"
			      "d_seconds_count{backend=\"a\"} 4\n");
	free(out);
	metrics_free(m);
}
END_TEST

START_TEST(test_escaping)
{
	struct metrics *m = metrics_new();
	const char *lab[] = {"a", "b"};
	struct metrics_family *c = metrics_family(m, METRICS_COUNTER,
	    "e_total", "Back\\slash\nand \"quotes\".", 2, lab, NULL, 0);
	char *out;

	metrics_add(metrics_get2(c, "q\"uote", "new\nline\\"), 1);
	out = render(m);
	ck_assert_str_eq(out,
	    "# HELP e_total Back\\\\slash\\nand \"quotes\".\n"
	    "# TYPE e_total counter\n"
	    "e_total{a=\"q\\\"uote\",b=\"new\\nline\\\\\"} 1\n");
	free(out);
	metrics_free(m);
}
END_TEST

START_TEST(test_values)
{
	struct metrics *m = metrics_new();
	struct metrics_family *g =
	    metrics_family(m, METRICS_GAUGE, "v", "V.", 0, NULL, NULL, 0);
	struct metrics_series *s = metrics_get(g);
	char *out;

	metrics_set(s, 1e15 + 1);
	out = render(m);
	ck_assert_ptr_nonnull(strstr(out, "\nv 1000000000000001\n"));
	free(out);
	metrics_set(s, 1.0 / 3.0);
	out = render(m);
	/* Round-trips: 17 significant digits when 15 are not enough. */
	ck_assert_double_eq(strtod(strstr(out, "\nv ") + 3, NULL), 1.0 / 3.0);
	free(out);
	metrics_set(s, INFINITY);
	out = render(m);
	ck_assert_ptr_nonnull(strstr(out, "\nv +Inf\n"));
	free(out);
	metrics_free(m);
}
END_TEST

/* The value of the series of name with this one label (or none). */
static double
value(struct stats *st, const char *name, const char *label)
{
	struct buf b;
	char *text, *line, want[256];
	double v = -1;

	buf_init(&b);
	stats_render(st, &b);
	text = buf_release(&b, NULL);
	if (label != NULL)
		snprintf(want, sizeof(want), "\n%s{%s} ", name, label);
	else
		snprintf(want, sizeof(want), "\n%s ", name);
	if ((line = strstr(text, want)) != NULL)
		v = strtod(line + strlen(want), NULL);
	free(text);
	return v;
}

START_TEST(test_stats_from_start)
{
	struct stats *st = stats_new("1.2.3");

	stats_backend(st, "local", 64);
	/* Every counter is there at 0 from start. */
	ck_assert(value(st, "vsampd_jobs_total", "status=\"ok\"") == 0);
	ck_assert(value(st, "vsampd_jobs_total", "status=\"error\"") == 0);
	ck_assert(value(st, "vsampd_job_errors_total", "code=\"bad_job\"") ==
	    0);
	ck_assert(value(st, "vsampd_job_errors_total", "code=\"internal\"") ==
	    0);
	ck_assert(value(st, "vsampd_dlq_messages_total", "code=\"parse\"") ==
	    0);
	ck_assert(value(st, "vsampd_duplicates_total", "where=\"in_scope\"") ==
	    0);
	ck_assert(value(st, "vsampd_backend_requests_total",
		      "backend=\"local\",code=\"timeout\"") == 0);
	ck_assert(value(st, "vsampd_backend_tokens_total",
		      "backend=\"local\",kind=\"completion\"") == 0);
	ck_assert(value(st, "vsampd_backend_concurrency_limit",
		      "backend=\"local\"") == 64);
	ck_assert(value(st, "vsampd_backend_circuit_open",
		      "backend=\"local\"") == 0);
	ck_assert(value(st, "vsampd_parse_failures_total",
		      "backend=\"local\"") == 0);
	ck_assert(value(st, "vsampd_embedding_failures_total", NULL) == 0);
	ck_assert(value(st, "vsampd_candidates_total", NULL) == 0);
	ck_assert(value(st, "vsampd_kafka_partitions_paused", NULL) == 0);
	ck_assert(value(st, "vsampd_build_info", "version=\"1.2.3\"") == 1);
	stats_free(st);
	stats_free(NULL);
}
END_TEST

START_TEST(test_stats_results)
{
	struct stats *st = stats_new("x");
	struct result *ok = result_new(), *bad = result_new();

	ok->backend = xstrdup("local");
	ok->ncands = 4;
	ok->has_dedup = 1;
	ok->dedup_in_job = 2;
	ok->dedup_in_scope = 1;
	ok->has_diversity = 1;
	ok->rouge_l = 0.25;
	ok->semantic = NAN; /* not computed: not observed */
	ok->prompt_tokens = 10;
	ok->completion_tokens = 30;
	ok->latency_ms = 1500;
	for (int i = 0; i < 3; i++)
		stats_job_done(st, ok);
	result_set_error(bad, ERR_BAD_JOB, "field k: not an integer");
	stats_job_done(st, bad);
	stats_dlq(st, ERR_BAD_JOB);
	stats_backend_request(st, "local", "200", 0.2);
	stats_backend_request(st, "local", "429", 0.01);
	stats_parse_failure(st, "local");
	stats_embedding_failure(st);
	stats_set_partitions(st, 4, 1);
	ck_assert(value(st, "vsampd_jobs_total", "status=\"ok\"") == 3);
	ck_assert(value(st, "vsampd_jobs_total", "status=\"error\"") == 1);
	ck_assert(value(st, "vsampd_job_errors_total", "code=\"bad_job\"") ==
	    1);
	ck_assert(value(st, "vsampd_dlq_messages_total", "code=\"bad_job\"") ==
	    1);
	ck_assert(value(st, "vsampd_candidates_total", NULL) == 12);
	ck_assert(value(st, "vsampd_duplicates_total", "where=\"in_job\"") ==
	    6);
	ck_assert(value(st, "vsampd_duplicates_total", "where=\"in_scope\"") ==
	    3);
	ck_assert(value(st, "vsampd_backend_tokens_total",
		      "backend=\"local\",kind=\"prompt\"") == 30);
	ck_assert(value(st, "vsampd_backend_tokens_total",
		      "backend=\"local\",kind=\"completion\"") == 90);
	ck_assert(value(st, "vsampd_backend_requests_total",
		      "backend=\"local\",code=\"429\"") == 1);
	ck_assert(value(st, "vsampd_job_duration_seconds_count", NULL) == 4);
	/* Cumulative: the error result (0 ms) and three of 1.5 s. */
	ck_assert(value(st, "vsampd_job_duration_seconds_bucket",
		      "le=\"1\"") == 1);
	ck_assert(value(st, "vsampd_job_duration_seconds_bucket",
		      "le=\"2.5\"") == 4);
	ck_assert(value(st, "vsampd_diversity_rouge_l_count", NULL) == 3);
	ck_assert(value(st, "vsampd_diversity_semantic_count", NULL) == 0);
	ck_assert(value(st, "vsampd_parse_failures_total",
		      "backend=\"local\"") == 1);
	ck_assert(value(st, "vsampd_embedding_failures_total", NULL) == 1);
	ck_assert(value(st, "vsampd_kafka_partitions_assigned", NULL) == 4);
	ck_assert(value(st, "vsampd_kafka_partitions_paused", NULL) == 1);
	ok->ncands = 0; /* counted only; no candidate array to free */
	result_free(ok);
	result_free(bad);
	stats_free(st);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_add_test(tc, test_counter_gauge);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_stats_from_start);
	tcase_add_test(tc, test_stats_results);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

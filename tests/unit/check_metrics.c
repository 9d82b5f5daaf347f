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

START_TEST(test_max_labels)
{
	struct metrics *m = metrics_new();
	const char *lab[METRICS_MAX_LABELS] = {"a", "b", "c", "d"};
	const char *v1[] = {"1", "2", "3", "4"}, *v2[] = {"1", "2", "3", "5"};
	struct metrics_family *c = metrics_family(m, METRICS_COUNTER,
	    "f_total", "Four.", METRICS_MAX_LABELS, lab, NULL, 0);
	struct metrics_series *s1 = metrics_series(c, v1);
	char *out;

	ck_assert_int_eq(METRICS_MAX_LABELS, 4);
	/* Only the last label differs: a series of its own. */
	ck_assert_ptr_ne(metrics_series(c, v2), s1);
	ck_assert_ptr_eq(metrics_series(c, v1), s1);
	metrics_add(s1, 2);
	out = render(m);
	ck_assert_str_eq(out, "# HELP f_total Four.\n"
			      "# TYPE f_total counter\n"
			      "f_total{a=\"1\",b=\"2\",c=\"3\",d=\"4\"} 2\n"
			      "f_total{a=\"1\",b=\"2\",c=\"3\",d=\"5\"} 0\n");
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

/*
 * The sum of the series of name whose labels include every pair of
 * want (`a="x",b="y"`, any order; NULL: any series), and in *np how many
 * there are. The sum is -1 when none matches.
 */
static double
total(struct stats *st, const char *name, const char *want, int *np)
{
	struct buf b;
	char *text, *save = NULL, head[128];
	double sum = 0;
	int n = 0;

	buf_init(&b);
	stats_render(st, &b);
	buf_append(&b, "", 1);
	text = buf_release(&b, NULL);
	snprintf(head, sizeof(head), "%s{", name);
	for (char *l = strtok_r(text, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		char pairs[256], *psave = NULL, *end;
		int all = 1;

		if (strncmp(l, head, strlen(head)) != 0)
			continue;
		end = strchr(l, '}');
		ck_assert_ptr_nonnull(end);
		snprintf(pairs, sizeof(pairs), "%s", want ? want : "");
		for (char *p = strtok_r(pairs, ",", &psave); p != NULL;
		     p = strtok_r(NULL, ",", &psave)) {
			char *at = strstr(l, p);

			/* A whole pair, inside the braces. */
			if (at == NULL || at > end ||
			    (at[-1] != '{' && at[-1] != ','))
				all = 0;
		}
		if (!all)
			continue;
		sum += strtod(end + 2, NULL);
		n++;
	}
	free(text);
	if (np != NULL)
		*np = n;
	return n > 0 ? sum : -1;
}

START_TEST(test_stats_from_start)
{
	struct stats *st = stats_new("1.2.3");

	stats_backend(st, "local", 64);
	stats_model(st, "local", "m1");
	/* Every counter is there at 0 from start. */
	ck_assert(total(st, "vsampd_jobs_total", "status=\"ok\"", NULL) == 0);
	ck_assert(
	    total(st, "vsampd_jobs_total", "status=\"error\"", NULL) == 0);
	ck_assert(value(st, "vsampd_job_errors_total", "code=\"bad_job\"") ==
	    0);
	ck_assert(value(st, "vsampd_job_errors_total", "code=\"internal\"") ==
	    0);
	ck_assert(value(st, "vsampd_dlq_messages_total", "code=\"parse\"") ==
	    0);
	ck_assert(total(st, "vsampd_duplicates_total", "where=\"in_scope\"",
		      NULL) == 0);
	ck_assert(value(st, "vsampd_backend_requests_total",
		      "backend=\"local\",code=\"timeout\"") == 0);
	ck_assert(total(st, "vsampd_backend_tokens_total",
		      "backend=\"local\",kind=\"completion\"", NULL) == 0);
	ck_assert(value(st, "vsampd_backend_concurrency_limit",
		      "backend=\"local\"") == 64);
	ck_assert(value(st, "vsampd_backend_circuit_open",
		      "backend=\"local\"") == 0);
	ck_assert(total(st, "vsampd_parse_failures_total",
		      "backend=\"local\"", NULL) == 0);
	ck_assert(value(st, "vsampd_embedding_failures_total", NULL) == 0);
	ck_assert(total(st, "vsampd_candidates_total", NULL, NULL) == 0);
	ck_assert(value(st, "vsampd_kafka_partitions_paused", NULL) == 0);
	ck_assert(value(st, "vsampd_build_info", "version=\"1.2.3\"") == 1);
	stats_free(st);
	stats_free(NULL);
}
END_TEST

/* The series of each method with each configured model, and no others. */
START_TEST(test_stats_models)
{
	struct stats *st = stats_new("x");
	const char *methods[] = {"direct", "direct_cot", "sequence",
	    "multi_turn", "vs_standard", "vs_cot", "vs_multi", "ssot"};
	const int nm = (int)(sizeof(methods) / sizeof(methods[0]));
	int n;

	stats_backend(st, "a", 8);
	stats_backend(st, "b", 8);
	stats_backend(st, "emb", 8); /* embeddings: no model of its own */
	stats_model(st, "a", "m1");
	stats_model(st, "b", "m2");
	stats_model(st, "a", "m1"); /* a reload: nothing new */
	/* Before any job: only the error series of a job with neither. */
	ck_assert(total(st, "vsampd_jobs_total",
		      "method=\"none\",model=\"none\"", &n) == 0);
	ck_assert_int_eq(n, 1);
	ck_assert(total(st, "vsampd_jobs_total",
		      "status=\"error\",method=\"none\"", NULL) == 0);
	ck_assert(total(st, "vsampd_jobs_total", NULL, &n) == 0);
	ck_assert_int_eq(n, 2 * nm * 2 + 1);
	for (int i = 0; i < nm; i++) {
		char want[128];

		snprintf(want, sizeof(want), "method=\"%s\",model=\"m2\"",
		    methods[i]);
		ck_assert(total(st, "vsampd_jobs_total", want, &n) == 0);
		ck_assert_int_eq(n, 2);
		ck_assert(total(st, "vsampd_job_duration_seconds_count", want,
			      &n) == 0);
		ck_assert_int_eq(n, 1);
		ck_assert(total(st, "vsampd_candidates_total", want, &n) == 0);
		ck_assert_int_eq(n, 1);
		ck_assert(total(st, "vsampd_duplicates_total", want, &n) == 0);
		ck_assert_int_eq(n, 2);
		ck_assert(total(st, "vsampd_diversity_semantic_count", want,
			      &n) == 0);
		ck_assert_int_eq(n, 1);
		ck_assert(total(st, "vsampd_diversity_rouge_l_count", want,
			      &n) == 0);
		ck_assert_int_eq(n, 1);
	}
	/* Tokens and parse failures: each backend with its own model. */
	ck_assert(total(st, "vsampd_backend_tokens_total",
		      "backend=\"a\",model=\"m1\"", &n) == 0);
	ck_assert_int_eq(n, nm * 2);
	ck_assert(total(st, "vsampd_backend_tokens_total",
		      "backend=\"a\",model=\"m2\"", &n) == -1);
	ck_assert(total(st, "vsampd_backend_tokens_total",
		      "backend=\"emb\"", &n) == -1);
	ck_assert(total(st, "vsampd_parse_failures_total",
		      "backend=\"b\",method=\"vs_cot\",model=\"m2\"",
		      &n) == 0);
	ck_assert_int_eq(n, 1);
	ck_assert(total(st, "vsampd_parse_failures_total", NULL, &n) == 0);
	ck_assert_int_eq(n, nm * 2);
	/* A reload that adds a model adds its series. */
	ck_assert(total(st, "vsampd_jobs_total", "model=\"m3\"", NULL) == -1);
	stats_model(st, "b", "m3");
	ck_assert(total(st, "vsampd_jobs_total", "model=\"m3\"", &n) == 0);
	ck_assert_int_eq(n, 2 * nm);
	ck_assert(total(st, "vsampd_backend_tokens_total",
		      "backend=\"b\",model=\"m3\"", &n) == 0);
	ck_assert_int_eq(n, nm * 2);
	/* No "other" until something counts as other. */
	ck_assert(total(st, "vsampd_jobs_total", "model=\"other\"", NULL) ==
	    -1);
	stats_model(NULL, "a", "m1");
	stats_model(st, "a", NULL);
	stats_free(st);
}
END_TEST

/* A new result of backend, method and model, as the pipeline makes it. */
static struct result *
labelled(const char *backend, const char *method, const char *model)
{
	struct result *r = result_new();

	r->backend = xstrdup(backend);
	r->method = xstrdup(method);
	r->model = xstrdup(model);
	return r;
}

/* A result is counted under its method and model, bounded. */
START_TEST(test_stats_labels)
{
	struct stats *st = stats_new("x");
	struct result *r = labelled("a", "vs_cot", "m1"), *bad = result_new();

	stats_model(st, "a", "m1");
	r->ncands = 3;
	r->prompt_tokens = 7;
	r->completion_tokens = 11;
	r->latency_ms = 200;
	stats_job_done(st, r);
	ck_assert(total(st, "vsampd_jobs_total",
		      "status=\"ok\",method=\"vs_cot\",model=\"m1\"",
		      NULL) == 1);
	ck_assert(total(st, "vsampd_jobs_total", "status=\"ok\"", NULL) == 1);
	ck_assert(total(st, "vsampd_candidates_total",
		      "method=\"vs_cot\",model=\"m1\"", NULL) == 3);
	ck_assert(total(st, "vsampd_job_duration_seconds_count",
		      "method=\"vs_cot\",model=\"m1\"", NULL) == 1);
	ck_assert(total(st, "vsampd_backend_tokens_total",
		      "backend=\"a\",kind=\"completion\",method=\"vs_cot\","
		      "model=\"m1\"",
		      NULL) == 11);
	/* A model no profile has (a job's own "model"), and a method that
	 * is none of ours, are "other": the label set stays bounded. */
	free(r->model);
	r->model = xstrdup("gpt-from-a-job");
	stats_job_done(st, r);
	free(r->method);
	r->method = xstrdup("no-such-method");
	stats_job_done(st, r);
	ck_assert(total(st, "vsampd_jobs_total",
		      "method=\"vs_cot\",model=\"other\"", NULL) == 1);
	ck_assert(total(st, "vsampd_jobs_total",
		      "method=\"other\",model=\"other\"", NULL) == 1);
	ck_assert(total(st, "vsampd_jobs_total", "model=\"gpt-from-a-job\"",
		      NULL) == -1);
	ck_assert(total(st, "vsampd_backend_tokens_total",
		      "kind=\"prompt\",model=\"other\"", NULL) == 14);
	/* A job that failed before its method and model were known. */
	result_set_error(bad, ERR_BAD_JOB, "not msgpack");
	stats_job_done(st, bad);
	ck_assert(total(st, "vsampd_jobs_total",
		      "status=\"error\",method=\"none\",model=\"none\"",
		      NULL) == 1);
	ck_assert(total(st, "vsampd_job_duration_seconds_count",
		      "method=\"none\",model=\"none\"", NULL) == 1);
	/* Parse failures: labelled the same way. */
	stats_parse_failure(st, "a", "direct", "m1");
	stats_parse_failure(st, "a", "direct", "m9");
	stats_parse_failure(st, "a", NULL, NULL);
	ck_assert(total(st, "vsampd_parse_failures_total",
		      "backend=\"a\",method=\"direct\",model=\"m1\"",
		      NULL) == 1);
	ck_assert(total(st, "vsampd_parse_failures_total",
		      "method=\"direct\",model=\"other\"", NULL) == 1);
	ck_assert(total(st, "vsampd_parse_failures_total",
		      "method=\"none\",model=\"none\"", NULL) == 1);
	/* A model a reload adds is itself from then on. */
	stats_model(st, "a", "gpt-from-a-job");
	free(r->method);
	r->method = xstrdup("direct");
	stats_job_done(st, r);
	ck_assert(total(st, "vsampd_jobs_total",
		      "method=\"direct\",model=\"gpt-from-a-job\"",
		      NULL) == 1);
	r->ncands = 0; /* counted only; no candidate array to free */
	result_free(r);
	result_free(bad);
	stats_free(st);
}
END_TEST

START_TEST(test_stats_results)
{
	struct stats *st = stats_new("x");
	struct result *ok = labelled("local", "vs_standard", "fake");
	struct result *bad = result_new();

	stats_model(st, "local", "fake");
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
	stats_parse_failure(st, "local", "vs_standard", "fake");
	stats_embedding_failure(st);
	stats_set_partitions(st, 4, 1);
	ck_assert(total(st, "vsampd_jobs_total", "status=\"ok\"", NULL) == 3);
	ck_assert(
	    total(st, "vsampd_jobs_total", "status=\"error\"", NULL) == 1);
	ck_assert(value(st, "vsampd_job_errors_total", "code=\"bad_job\"") ==
	    1);
	ck_assert(value(st, "vsampd_dlq_messages_total", "code=\"bad_job\"") ==
	    1);
	ck_assert(total(st, "vsampd_candidates_total", NULL, NULL) == 12);
	ck_assert(total(st, "vsampd_duplicates_total", "where=\"in_job\"",
		      NULL) == 6);
	ck_assert(total(st, "vsampd_duplicates_total", "where=\"in_scope\"",
		      NULL) == 3);
	ck_assert(total(st, "vsampd_backend_tokens_total",
		      "backend=\"local\",kind=\"prompt\"", NULL) == 30);
	ck_assert(total(st, "vsampd_backend_tokens_total",
		      "backend=\"local\",kind=\"completion\"", NULL) == 90);
	ck_assert(value(st, "vsampd_backend_requests_total",
		      "backend=\"local\",code=\"429\"") == 1);
	ck_assert(total(st, "vsampd_job_duration_seconds_count", NULL, NULL) ==
	    4);
	/* Cumulative: the error result (0 ms) and three of 1.5 s. */
	ck_assert(total(st, "vsampd_job_duration_seconds_bucket",
		      "le=\"1\"", NULL) == 1);
	ck_assert(total(st, "vsampd_job_duration_seconds_bucket",
		      "le=\"2.5\"", NULL) == 4);
	ck_assert(total(st, "vsampd_job_duration_seconds_bucket",
		      "method=\"vs_standard\",model=\"fake\",le=\"2.5\"",
		      NULL) == 3);
	ck_assert(total(st, "vsampd_diversity_rouge_l_count", NULL, NULL) == 3);
	ck_assert(total(st, "vsampd_diversity_semantic_count", NULL, NULL) ==
	    0);
	ck_assert(total(st, "vsampd_parse_failures_total",
		      "backend=\"local\"", NULL) == 1);
	ck_assert(value(st, "vsampd_embedding_failures_total", NULL) == 1);
	ck_assert(value(st, "vsampd_kafka_partitions_assigned", NULL) == 4);
	ck_assert(value(st, "vsampd_kafka_partitions_paused", NULL) == 1);
	ok->ncands = 0; /* counted only; no candidate array to free */
	result_free(ok);
	result_free(bad);
	stats_free(st);
}
END_TEST

/* vsampd_cost_total: a series for each priced backend from start, none
 * for an unpriced one, and each reply's cost added to its backend's. */
START_TEST(test_stats_cost)
{
	struct stats *st = stats_new("x");
	double a = 1200 * 2.5 / 1e6 + 300 * 10.0 / 1e6, b = 0.000125;
	int n;

	stats_backend(st, "priced", 8);
	stats_backend(st, "free", 8);
	stats_backend(st, "unpriced", 8);
	stats_cost_backend(st, "priced");
	stats_cost_backend(st, "free");
	stats_cost_backend(st, "priced"); /* a reload: nothing new */
	ck_assert(total(st, "vsampd_cost_total", NULL, &n) == 0);
	ck_assert_int_eq(n, 2);
	ck_assert(value(st, "vsampd_cost_total", "backend=\"priced\"") == 0);
	ck_assert(value(st, "vsampd_cost_total", "backend=\"free\"") == 0);
	ck_assert(value(st, "vsampd_cost_total", "backend=\"unpriced\"") ==
	    -1);
	stats_cost(st, "priced", a);
	stats_cost(st, "priced", b);
	stats_cost(st, "free", 0.0);
	stats_cost(st, "priced", NAN); /* unpriced: not counted */
	ck_assert(value(st, "vsampd_cost_total", "backend=\"priced\"") ==
	    a + b);
	ck_assert(value(st, "vsampd_cost_total", "backend=\"free\"") == 0);
	ck_assert(total(st, "vsampd_cost_total", NULL, &n) == a + b);
	ck_assert_int_eq(n, 2);
	stats_cost(NULL, "priced", a);
	stats_cost_backend(NULL, "priced");
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
	tcase_add_test(tc, test_max_labels);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_stats_from_start);
	tcase_add_test(tc, test_stats_models);
	tcase_add_test(tc, test_stats_labels);
	tcase_add_test(tc, test_stats_results);
	tcase_add_test(tc, test_stats_cost);
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

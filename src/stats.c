/*
 * stats: the families of docs/metrics.md, declared as data
 * in one place, and the few events that move them. Latency buckets run
 * from 50 ms to 10 minutes: LLM calls take seconds to minutes, and a
 * job of many calls, or one that waited for retries, longer.
 *
 * It moves numbers and renders them (through metrics.c); it serves
 * nothing and reads no clock.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"
#include "metrics.h"
#include "stats.h"
#include "xmalloc.h"

static const double latency_bounds[] = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
static const double score_bounds[] = {
    0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The backend codes every backend exports from start. */
static const char *const backend_codes[] = {"200", "timeout", "connect", "tls"};

/*
 * The method and model labels of a job (docs/metrics.md): a method of
 * method.c, a model of a configured chat profile, "other" for anything
 * else, and "none" for a job that failed before they were known. Both
 * sets are bounded by the code and the config, never by what jobs say.
 */
#define LABEL_NONE "none"
#define LABEL_OTHER "other"

enum fam {
	F_JOBS,
	F_JOB_ERRORS,
	F_INFLIGHT,
	F_JOB_DURATION,
	F_BE_REQUESTS,
	F_BE_DURATION,
	F_BE_TOKENS,
	F_COST,
	F_BE_LIMIT,
	F_BE_CIRCUIT,
	F_CANDIDATES,
	F_DUPLICATES,
	F_PARSE_FAILURES,
	F_EMBED_FAILURES,
	F_DIV_SEMANTIC,
	F_DIV_ROUGE,
	F_PAUSED,
	F_ASSIGNED,
	F_DLQ,
	F_DELIVERY_FAILURES,
	F_SCOPE_ENTRIES,
	F_RESTORING,
	F_RESTORE_RECORDS,
	F_CHANGELOG,
	F_RELOADS,
	F_HEARTBEAT,
	F_RESULTS_BLOCKED,
	F_BUILD_INFO,
	F_COUNT
};

/* One row per family: the whole metric set as data. */
static const struct famdef {
	enum metrics_type type;
	const char *name;
	const char *help;
	size_t nlabels;
	const char *labels[METRICS_MAX_LABELS];
	const double *bounds;
	size_t nbounds;
} famdefs[F_COUNT] = {
    [F_JOBS] = {METRICS_COUNTER, "vsampd_jobs_total",
	"Jobs answered with a result, by status, method and model.", 3,
	{"status", "method", "model"}, NULL, 0},
    [F_JOB_ERRORS] = {METRICS_COUNTER, "vsampd_job_errors_total",
	"Error results, by error code.", 1, {"code"}, NULL, 0},
    [F_INFLIGHT] = {METRICS_GAUGE, "vsampd_jobs_inflight",
	"Jobs consumed and not yet acknowledged.", 0, {NULL}, NULL, 0},
    [F_JOB_DURATION] = {METRICS_HISTOGRAM, "vsampd_job_duration_seconds",
	"Time from consuming a job to its result, by method and model.", 2,
	{"method", "model"}, latency_bounds, NELEM(latency_bounds)},
    [F_BE_REQUESTS] = {METRICS_COUNTER, "vsampd_backend_requests_total",
	"HTTP attempts to backends (retries included), by backend and "
	"HTTP status or timeout, connect, tls.",
	2, {"backend", "code"}, NULL, 0},
    [F_BE_DURATION] = {METRICS_HISTOGRAM,
	"vsampd_backend_request_duration_seconds",
	"Duration of one HTTP attempt to a backend.", 1, {"backend"},
	latency_bounds, NELEM(latency_bounds)},
    [F_BE_TOKENS] = {METRICS_COUNTER, "vsampd_backend_tokens_total",
	"Tokens reported by backends in usage, by kind, method and model.", 4,
	{"backend", "kind", "method", "model"}, NULL, 0},
    [F_COST] = {METRICS_COUNTER, "vsampd_cost_total",
	"Cost of the replies of priced backends, at the profile's price per "
	"million tokens, in its currency, by backend.",
	1, {"backend"}, NULL, 0},
    [F_BE_LIMIT] = {METRICS_GAUGE, "vsampd_backend_concurrency_limit",
	"Current limit of concurrent requests to a backend.", 1, {"backend"},
	NULL, 0},
    [F_BE_CIRCUIT] = {METRICS_GAUGE, "vsampd_backend_circuit_open",
	"1 while a backend's circuit breaker is open.", 1, {"backend"}, NULL,
	0},
    [F_CANDIDATES] = {METRICS_COUNTER, "vsampd_candidates_total",
	"Candidates in ok results, after dedup, by method and model.", 2,
	{"method", "model"}, NULL, 0},
    [F_DUPLICATES] = {METRICS_COUNTER, "vsampd_duplicates_total",
	"Candidates dropped as duplicates, in the job or in its "
	"dedup_scope, by method and model.",
	3, {"where", "method", "model"}, NULL, 0},
    [F_PARSE_FAILURES] = {METRICS_COUNTER, "vsampd_parse_failures_total",
	"Backend replies that did not parse, by method and model.", 3,
	{"backend", "method", "model"}, NULL, 0},
    [F_EMBED_FAILURES] = {METRICS_COUNTER, "vsampd_embedding_failures_total",
	"Jobs whose embeddings request failed (semantic left nil).", 0, {NULL},
	NULL, 0},
    [F_DIV_SEMANTIC] = {METRICS_HISTOGRAM, "vsampd_diversity_semantic",
	"Semantic diversity of ok results where it is defined, by method "
	"and model.",
	2, {"method", "model"}, score_bounds, NELEM(score_bounds)},
    [F_DIV_ROUGE] = {METRICS_HISTOGRAM, "vsampd_diversity_rouge_l",
	"Mean pairwise ROUGE-L F1 of ok results where it is defined, by "
	"method and model.",
	2, {"method", "model"}, score_bounds, NELEM(score_bounds)},
    [F_PAUSED] = {METRICS_GAUGE, "vsampd_kafka_partitions_paused",
	"Assigned partitions paused for backpressure.", 0, {NULL}, NULL, 0},
    [F_ASSIGNED] = {METRICS_GAUGE, "vsampd_kafka_partitions_assigned",
	"Partitions of the jobs topic assigned to this instance.", 0, {NULL},
	NULL, 0},
    [F_DLQ] = {METRICS_COUNTER, "vsampd_dlq_messages_total",
	"Job copies produced to the dead letter topic, by error code.", 1,
	{"code"}, NULL, 0},
    [F_DELIVERY_FAILURES] = {METRICS_COUNTER,
	"vsampd_kafka_delivery_failures_total",
	"Messages that failed delivery for good, by topic.", 1, {"topic"}, NULL,
	0},
    [F_SCOPE_ENTRIES] = {METRICS_GAUGE, "vsampd_dedup_scope_entries",
	"Entries held by the cross-job dedup index.", 0, {NULL}, NULL, 0},
    [F_RESTORING] = {METRICS_GAUGE, "vsampd_dedup_partitions_restoring",
	"Assigned partitions whose dedup index is being restored from the "
	"changelog (kafka.scope_topic); their jobs wait.",
	0, {NULL}, NULL, 0},
    [F_RESTORE_RECORDS] = {METRICS_COUNTER,
	"vsampd_dedup_restore_records_total",
	"Changelog records read to restore dedup indexes.", 0, {NULL}, NULL, 0},
    [F_CHANGELOG] = {METRICS_COUNTER, "vsampd_dedup_changelog_records_total",
	"Records produced to the dedup changelog, by kind (entry, "
	"tombstone).",
	1, {"kind"}, NULL, 0},
    [F_RELOADS] = {METRICS_COUNTER, "vsampd_config_reloads_total",
	"Configuration reloads (SIGHUP), by result.", 1, {"result"}, NULL, 0},
    [F_HEARTBEAT] = {METRICS_GAUGE, "vsampd_loop_heartbeat_age_seconds",
	"Seconds since the event loop last ran its periodic tick.", 0, {NULL},
	NULL, 0},
    [F_RESULTS_BLOCKED] = {METRICS_GAUGE, "vsampd_results_blocked",
	"Results and DLQ copies held back because their topic refuses "
	"writes; their partitions commit nothing past them.",
	0, {NULL}, NULL, 0},
    [F_BUILD_INFO] = {METRICS_GAUGE, "vsampd_build_info",
	"Always 1; the version is in the label.", 1, {"version"}, NULL, 0},
};

struct stats {
	struct metrics *m;
	struct metrics_family *f[F_COUNT];
	/* The models of chat profiles configured since start (owned): the
	 * values the model label takes besides "other" and "none". */
	char **models;
	size_t nmodels;
	/* Series without labels, or with one fixed label set. */
	struct metrics_series *errors[ERR_COUNT];
	struct metrics_series *dlq[ERR_COUNT];
	struct metrics_series *inflight, *embed_failures;
	struct metrics_series *paused, *assigned;
	struct metrics_series *scope_entries, *reload_ok, *reload_err;
	struct metrics_series *heartbeat, *blocked;
	struct metrics_series *restoring, *restore_records;
	struct metrics_series *log_entry, *log_tombstone;
};

static struct metrics_series *
series3(
    struct stats *st, enum fam f, const char *a, const char *b, const char *c)
{
	const char *v[3] = {a, b, c};

	return metrics_series(st->f[f], v);
}

static struct metrics_series *
tokens(struct stats *st, const char *backend, const char *kind,
    const char *method, const char *model)
{
	const char *v[4] = {backend, kind, method, model};

	return metrics_series(st->f[F_BE_TOKENS], v);
}

static const char *
method_label(const char *method)
{
	enum method m;

	if (method == NULL)
		return LABEL_NONE;
	if (method_parse(method, &m) != 0)
		return LABEL_OTHER;
	return method_name(m);
}

static int
model_known(const struct stats *st, const char *model)
{
	for (size_t i = 0; i < st->nmodels; i++)
		if (strcmp(st->models[i], model) == 0)
			return 1;
	return 0;
}

static const char *
model_label(const struct stats *st, const char *model)
{
	if (model == NULL)
		return LABEL_NONE;
	return model_known(st, model) ? model : LABEL_OTHER;
}

struct stats *
stats_new(const char *version)
{
	struct stats *st = xcalloc(1, sizeof(*st));

	st->m = metrics_new();
	for (int i = 0; i < F_COUNT; i++) {
		const struct famdef *d = &famdefs[i];

		st->f[i] = metrics_family(st->m, d->type, d->name, d->help,
		    d->nlabels, d->labels, d->bounds, d->nbounds);
	}
	/* Jobs that fail before their method and model are known. */
	(void)series3(st, F_JOBS, "error", LABEL_NONE, LABEL_NONE);
	(void)metrics_get2(st->f[F_JOB_DURATION], LABEL_NONE, LABEL_NONE);
	for (int c = ERR_NONE + 1; c < ERR_COUNT; c++) {
		st->errors[c] = metrics_get1(
		    st->f[F_JOB_ERRORS], err_code_name((enum err_code)c));
		st->dlq[c] =
		    metrics_get1(st->f[F_DLQ], err_code_name((enum err_code)c));
	}
	st->inflight = metrics_get(st->f[F_INFLIGHT]);
	st->embed_failures = metrics_get(st->f[F_EMBED_FAILURES]);
	st->paused = metrics_get(st->f[F_PAUSED]);
	st->assigned = metrics_get(st->f[F_ASSIGNED]);
	st->scope_entries = metrics_get(st->f[F_SCOPE_ENTRIES]);
	st->reload_ok = metrics_get1(st->f[F_RELOADS], "ok");
	st->reload_err = metrics_get1(st->f[F_RELOADS], "error");
	st->heartbeat = metrics_get(st->f[F_HEARTBEAT]);
	st->blocked = metrics_get(st->f[F_RESULTS_BLOCKED]);
	st->restoring = metrics_get(st->f[F_RESTORING]);
	st->restore_records = metrics_get(st->f[F_RESTORE_RECORDS]);
	st->log_entry = metrics_get1(st->f[F_CHANGELOG], "entry");
	st->log_tombstone = metrics_get1(st->f[F_CHANGELOG], "tombstone");
	metrics_set(metrics_get1(st->f[F_BUILD_INFO], version), 1);
	return st;
}

void
stats_free(struct stats *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nmodels; i++)
		free(st->models[i]);
	free(st->models);
	metrics_free(st->m);
	free(st);
}

struct metrics *
stats_metrics(struct stats *st)
{
	return st->m;
}

/* Pre-create a backend's series; set its concurrency limit. */
void
stats_backend(struct stats *st, const char *name, int limit)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < NELEM(backend_codes); i++)
		(void)metrics_get2(
		    st->f[F_BE_REQUESTS], name, backend_codes[i]);
	(void)metrics_get1(st->f[F_BE_DURATION], name);
	metrics_set(metrics_get1(st->f[F_BE_LIMIT], name), limit);
	(void)metrics_get1(st->f[F_BE_CIRCUIT], name);
}

/* Create backend's cost series at 0 (see stats.h). */
void
stats_cost_backend(struct stats *st, const char *backend)
{
	if (st != NULL && backend != NULL)
		(void)metrics_get1(st->f[F_COST], backend);
}

/* Add one reply's cost to its backend's series (see stats.h). */
void
stats_cost(struct stats *st, const char *backend, double cost)
{
	if (st != NULL && backend != NULL && isfinite(cost))
		metrics_add(metrics_get1(st->f[F_COST], backend), cost);
}

/* Make model known and create its series at 0 (see stats.h). */
void
stats_model(struct stats *st, const char *backend, const char *model)
{
	if (st == NULL || backend == NULL || model == NULL)
		return;
	if (!model_known(st, model)) {
		st->models = xreallocarray(
		    st->models, st->nmodels + 1, sizeof(*st->models));
		st->models[st->nmodels++] = xstrdup(model);
	}
	for (int i = 0; i < METHOD_COUNT; i++) {
		const char *me = method_name((enum method)i);

		(void)series3(st, F_JOBS, "ok", me, model);
		(void)series3(st, F_JOBS, "error", me, model);
		(void)metrics_get2(st->f[F_JOB_DURATION], me, model);
		(void)metrics_get2(st->f[F_CANDIDATES], me, model);
		(void)series3(st, F_DUPLICATES, "in_job", me, model);
		(void)series3(st, F_DUPLICATES, "in_scope", me, model);
		(void)metrics_get2(st->f[F_DIV_SEMANTIC], me, model);
		(void)metrics_get2(st->f[F_DIV_ROUGE], me, model);
		(void)tokens(st, backend, "prompt", me, model);
		(void)tokens(st, backend, "completion", me, model);
		(void)series3(st, F_PARSE_FAILURES, backend, me, model);
	}
}

/* Count a result (see stats.h). */
void
stats_job_done(struct stats *st, const struct result *r)
{
	const char *me, *mo;

	if (st == NULL)
		return;
	me = method_label(r->method);
	mo = model_label(st, r->model);
	metrics_observe(metrics_get2(st->f[F_JOB_DURATION], me, mo),
	    (double)r->latency_ms / 1000.0);
	if (r->backend != NULL && (r->prompt_tokens || r->completion_tokens)) {
		metrics_add(tokens(st, r->backend, "prompt", me, mo),
		    (double)r->prompt_tokens);
		metrics_add(tokens(st, r->backend, "completion", me, mo),
		    (double)r->completion_tokens);
	}
	if (r->code != ERR_NONE) {
		metrics_add(series3(st, F_JOBS, "error", me, mo), 1);
		if (r->code > ERR_NONE && r->code < ERR_COUNT)
			metrics_add(st->errors[r->code], 1);
		return;
	}
	metrics_add(series3(st, F_JOBS, "ok", me, mo), 1);
	metrics_add(
	    metrics_get2(st->f[F_CANDIDATES], me, mo), (double)r->ncands);
	if (r->has_dedup) {
		metrics_add(series3(st, F_DUPLICATES, "in_job", me, mo),
		    r->dedup_in_job);
		metrics_add(series3(st, F_DUPLICATES, "in_scope", me, mo),
		    r->dedup_in_scope);
	}
	if (r->has_diversity) {
		if (!isnan(r->semantic))
			metrics_observe(
			    metrics_get2(st->f[F_DIV_SEMANTIC], me, mo),
			    r->semantic);
		if (!isnan(r->rouge_l))
			metrics_observe(
			    metrics_get2(st->f[F_DIV_ROUGE], me, mo),
			    r->rouge_l);
	}
}

void
stats_backend_request(
    struct stats *st, const char *backend, const char *code, double seconds)
{
	if (st == NULL)
		return;
	metrics_add(metrics_get2(st->f[F_BE_REQUESTS], backend, code), 1);
	metrics_observe(metrics_get1(st->f[F_BE_DURATION], backend), seconds);
}

void
stats_backend_state(
    struct stats *st, const char *backend, int limit, int circuit_open)
{
	if (st == NULL)
		return;
	metrics_set(metrics_get1(st->f[F_BE_LIMIT], backend), limit);
	metrics_set(metrics_get1(st->f[F_BE_CIRCUIT], backend), circuit_open);
}

void
stats_parse_failure(struct stats *st, const char *backend, const char *method,
    const char *model)
{
	if (st != NULL)
		metrics_add(series3(st, F_PARSE_FAILURES, backend,
				method_label(method), model_label(st, model)),
		    1);
}

void
stats_embedding_failure(struct stats *st)
{
	if (st != NULL)
		metrics_add(st->embed_failures, 1);
}

void
stats_dlq(struct stats *st, enum err_code code)
{
	if (st != NULL && code > ERR_NONE && code < ERR_COUNT)
		metrics_add(st->dlq[code], 1);
}

void
stats_delivery_failure_topic(struct stats *st, const char *topic)
{
	if (st != NULL)
		(void)metrics_get1(st->f[F_DELIVERY_FAILURES], topic);
}

void
stats_delivery_failure(struct stats *st, const char *topic)
{
	if (st != NULL)
		metrics_add(metrics_get1(st->f[F_DELIVERY_FAILURES], topic), 1);
}

void
stats_reload(struct stats *st, int ok)
{
	if (st != NULL)
		metrics_add(ok ? st->reload_ok : st->reload_err, 1);
}

void
stats_set_inflight(struct stats *st, size_t n)
{
	if (st != NULL)
		metrics_set(st->inflight, (double)n);
}

void
stats_set_partitions(struct stats *st, size_t assigned, size_t paused)
{
	if (st == NULL)
		return;
	metrics_set(st->assigned, (double)assigned);
	metrics_set(st->paused, (double)paused);
}

void
stats_set_scope_entries(struct stats *st, size_t n)
{
	if (st != NULL)
		metrics_set(st->scope_entries, (double)n);
}

void
stats_set_restoring(struct stats *st, size_t n)
{
	if (st != NULL)
		metrics_set(st->restoring, (double)n);
}

void
stats_restore_records(struct stats *st, uint64_t n)
{
	if (st != NULL && n > 0)
		metrics_add(st->restore_records, (double)n);
}

void
stats_changelog(struct stats *st, uint64_t entries, uint64_t tombstones)
{
	if (st == NULL)
		return;
	if (entries > 0)
		metrics_add(st->log_entry, (double)entries);
	if (tombstones > 0)
		metrics_add(st->log_tombstone, (double)tombstones);
}

void
stats_set_heartbeat_age(struct stats *st, double seconds)
{
	if (st != NULL)
		metrics_set(st->heartbeat, seconds);
}

void
stats_set_results_blocked(struct stats *st, size_t n)
{
	if (st != NULL)
		metrics_set(st->blocked, (double)n);
}

void
stats_render(struct stats *st, struct buf *out)
{
	if (st != NULL)
		metrics_render(st->m, out);
}

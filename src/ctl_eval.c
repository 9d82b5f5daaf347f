/*
 * ctl_eval: `vsampctl eval`, the comparison of sampling methods
 * (docs/eval.md). Every prompt of a prompt file (tests/data/eval/README.md
 * gives the format) goes through every method of -m as one job (an
 * enumerative prompt as --draws jobs, each of whose `selected` is one
 * draw), through `vsampctl run`'s embedded pipeline: we write the jobs to
 * DIR/jobs.jsonl and call ctl_run() on them, so eval runs exactly what run
 * runs. Then the results are read back, measured per prompt and method,
 * and summed up with evalstat's bootstrap intervals, ratios to direct and
 * wins, into DIR/report.txt, DIR/report.json and DIR/report.svg
 * (ctl_eval_report.c).
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "ctl_eval_int.h"
#include "evalstat.h"
#include "method.h"
#include "prompt.h"
#include "xmalloc.h"

#define EVAL_DEFAULT_METHODS \
	"direct,sequence,vs_standard,vs_cot,vs_multi,ssot"
#define EVAL_LINE_MAX (16 << 20)

const struct eval_measure eval_measures[EVAL_M_COUNT] = {
    [EVAL_M_SEMANTIC] = {"semantic", 1, 0},
    [EVAL_M_VENDI] = {"vendi", 1, 0},
    [EVAL_M_CLASSES] = {"classes", 1, 0},
    [EVAL_M_ROUGE_L] = {"rouge_l", -1, 0},
    [EVAL_M_DISTINCT_1] = {"distinct_1", 1, 0},
    [EVAL_M_DISTINCT_2] = {"distinct_2", 1, 0},
    [EVAL_M_DISTINCT_3] = {"distinct_3", 1, 0},
    [EVAL_M_DUPLICATES] = {"duplicates", -1, 0},
    [EVAL_M_PARSE_FAILURES] = {"parse_failures", -1, 0},
    [EVAL_M_TOKENS] = {"tokens_per_candidate", -1, 0},
    [EVAL_M_COST] = {"cost", -1, 0},
    [EVAL_M_COVERAGE] = {"coverage", 1, 1},
    [EVAL_M_KL] = {"kl_uniform", -1, 1},
};

static const char *const eval_tasks[] = {
    "poem", "story", "joke", "dialogue", "enumerative"};
#define EVAL_NTASKS (sizeof(eval_tasks) / sizeof(eval_tasks[0]))

static void
eval_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vsampctl eval [-q] [-f conf] [-m methods] [-k K] "
	    "[-o dir]\n"
	    "                     [--draws D] [--max-requests R] "
	    "[--seed S] [--no-embed]\n"
	    "                     PROMPTS\n"
	    "\n"
	    "Run every prompt of the JSON-lines file PROMPTS through each\n"
	    "method, through vsampd's pipeline against the config's\n"
	    "default backend (no Kafka), and compare the methods: raw\n"
	    "results and a report with 95%% bootstrap intervals, ratios to\n"
	    "direct and wins per measure (docs/eval.md).\n"
	    "\n"
	    "  -f FILE            the vsampd config (default %s)\n"
	    "  -m LIST            methods, comma-separated (default\n"
	    "                     %s)\n"
	    "  -k K               candidates per call (default defaults.k)\n"
	    "  -o DIR             output directory (default ./eval-out):\n"
	    "                     jobs.jsonl, results.jsonl, report.txt,\n"
	    "                     report.json, report.svg\n"
	    "  --draws D          jobs per method of an enumerative prompt\n"
	    "                     (default 20)\n"
	    "  --max-requests R   refuse to start when the plan makes more\n"
	    "                     than R backend calls\n"
	    "  --seed S           seed of the bootstrap and the draws\n"
	    "                     (default 1)\n"
	    "  --no-embed         no embeddings (no semantic, vendi)\n"
	    "  -q                 no progress bar, no report on stdout\n"
	    "\n"
	    "Exit status: 0 when every job has a result, 1 on an input or\n"
	    "output error, 2 on a usage or config error.\n",
	    CONF_DEFAULT_PATH, EVAL_DEFAULT_METHODS);
}

/* ---- the prompt file ---- */

static int
eval_task_ok(const char *t)
{
	for (size_t i = 0; i < EVAL_NTASKS; i++)
		if (strcmp(t, eval_tasks[i]) == 0)
			return 1;
	return 0;
}

/* Read the answers and aliases of an enumerative prompt into p. */
static int
eval_answers(struct eval_prompt *p, char *errstr, size_t errlen)
{
	json_t *a = json_object_get(p->job, "answers");
	json_t *al = json_object_get(p->job, "aliases");
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) == 0) {
		snprintf(errstr, errlen,
		    "\"answers\": a non-empty array of strings is required "
		    "for an enumerative prompt");
		return -1;
	}
	p->nanswers = json_array_size(a);
	p->answers = xcalloc(p->nanswers, sizeof(*p->answers));
	json_array_foreach(a, i, v) {
		if (!json_is_string(v)) {
			snprintf(errstr, errlen,
			    "\"answers\"[%zu]: not a string", i);
			return -1;
		}
		p->answers[i] = json_string_value(v);
	}
	if (al == NULL || json_is_null(al))
		return 0;
	if (!json_is_object(al)) {
		snprintf(errstr, errlen, "\"aliases\": not an object");
		return -1;
	}
	json_object_foreach(al, key, v) {
		size_t ans, j;
		json_t *s;

		for (ans = 0; ans < p->nanswers; ans++)
			if (strcmp(p->answers[ans], key) == 0)
				break;
		if (ans == p->nanswers) {
			snprintf(errstr, errlen,
			    "\"aliases\": \"%s\" is not one of the answers",
			    key);
			return -1;
		}
		if (!json_is_array(v)) {
			snprintf(errstr, errlen,
			    "\"aliases\".\"%s\": not an array", key);
			return -1;
		}
		json_array_foreach(v, j, s) {
			if (!json_is_string(s)) {
				snprintf(errstr, errlen,
				    "\"aliases\".\"%s\"[%zu]: not a string",
				    key, j);
				return -1;
			}
			p->aliases = xreallocarray(p->aliases,
			    p->naliases + 1, sizeof(*p->aliases));
			p->aliases[p->naliases].text = json_string_value(s);
			p->aliases[p->naliases].answer = ans;
			p->naliases++;
		}
	}
	return 0;
}

/* Check one line's object and fill p (which takes a reference to o). */
static int
eval_prompt_parse(
    struct eval *ev, json_t *o, struct eval_prompt *p, char *err, size_t len)
{
	json_t *id = json_object_get(o, "id");
	json_t *task = json_object_get(o, "task");
	json_t *pr = json_object_get(o, "prompt");
	json_t *msgs = json_object_get(o, "messages");

	p->job = json_incref(o);
	if (!json_is_string(id) || json_string_length(id) == 0) {
		snprintf(err, len, "\"id\": a non-empty string is required");
		return -1;
	}
	p->id = json_string_value(id);
	for (size_t i = 0; i < ev->nprompts; i++)
		if (strcmp(ev->prompts[i].id, p->id) == 0) {
			snprintf(err, len,
			    "\"id\": \"%s\" is already the id of line %zu",
			    p->id, ev->prompts[i].lineno);
			return -1;
		}
	if (!json_is_string(task) || !eval_task_ok(json_string_value(task))) {
		snprintf(err, len,
		    "\"task\": one of poem, story, joke, dialogue, "
		    "enumerative is required");
		return -1;
	}
	p->task = json_string_value(task);
	if (!json_is_string(pr) && !json_is_array(msgs)) {
		snprintf(err, len,
		    "\"prompt\" (a string) or \"messages\" (an array) is "
		    "required");
		return -1;
	}
	p->enumerative = strcmp(p->task, "enumerative") == 0;
	if (p->enumerative && eval_answers(p, err, len) == -1)
		return -1;
	return 0;
}

static void
eval_prompt_clear(struct eval_prompt *p)
{
	free(p->answers);
	p->answers = NULL;
	free(p->aliases);
	p->aliases = NULL;
	json_decref(p->job);
	p->job = NULL;
}

/* Read the prompt file; errors name the file and line. Returns 0 or -1. */
static int
eval_read_prompts(struct eval *ev, const char *path)
{
	char err[512];
	struct ctl_reader *in = ctl_reader_open(path, err, sizeof(err));
	size_t lineno = 0;
	char *line;
	long n;
	int cut, rc = 0;

	if (in == NULL) {
		fprintf(stderr, "vsampctl: eval: %s\n", err);
		return -1;
	}
	while (rc == 0 &&
	    (n = ctl_reader_next(in, &line, EVAL_LINE_MAX, &cut)) >= 0) {
		struct eval_prompt p;
		json_error_t je;
		json_t *o;

		lineno++;
		if (n == 0 || strspn(line, " \t\r") == (size_t)n)
			continue;
		memset(&p, 0, sizeof(p));
		p.lineno = lineno;
		o = cut ? NULL : json_loadb(line, (size_t)n, 0, &je);
		if (cut)
			snprintf(err, sizeof(err), "line longer than %d bytes",
			    EVAL_LINE_MAX);
		else if (o == NULL)
			snprintf(err, sizeof(err), "not JSON: %s", je.text);
		else if (!json_is_object(o))
			snprintf(err, sizeof(err), "not a JSON object");
		if (o == NULL || !json_is_object(o) ||
		    eval_prompt_parse(ev, o, &p, err, sizeof(err)) == -1) {
			fprintf(stderr, "vsampctl: eval: %s:%zu: %s\n", path,
			    lineno, err);
			eval_prompt_clear(&p);
			rc = -1;
		} else {
			ev->prompts = xreallocarray(ev->prompts,
			    ev->nprompts + 1, sizeof(*ev->prompts));
			ev->prompts[ev->nprompts++] = p;
		}
		json_decref(o);
	}
	ctl_reader_close(in);
	if (rc == 0 && ev->nprompts == 0) {
		fprintf(stderr, "vsampctl: eval: %s: no prompts\n", path);
		rc = -1;
	}
	return rc;
}

/* ---- the plan and the jobs ---- */

static int
eval_parse_methods(struct eval *ev, const char *list)
{
	char *copy = xstrdup(list), *s = copy, *tok;
	int rc = 0;

	while (rc == 0 && (tok = strsep(&s, ",")) != NULL) {
		enum method m;

		if (method_parse(tok, &m) == -1) {
			fprintf(stderr,
			    "vsampctl: eval: -m: unknown method \"%s\"\n", tok);
			rc = -1;
			break;
		}
		for (size_t i = 0; i < ev->nmethods; i++)
			if (ev->methods[i] == m) {
				fprintf(stderr,
				    "vsampctl: eval: -m: \"%s\" given twice\n",
				    tok);
				rc = -1;
			}
		if (rc == 0)
			ev->methods[ev->nmethods++] = m;
	}
	free(copy);
	return rc;
}

/* The jobs of prompt p per method: --draws when enumerative, else 1. */
size_t
eval_njobs(const struct eval *ev, const struct eval_prompt *p)
{
	return p->enumerative ? (size_t)ev->draws : 1;
}

/* Every job of the plan. */
static size_t
eval_total_jobs(const struct eval *ev)
{
	size_t n = 0;

	for (size_t pi = 0; pi < ev->nprompts; pi++)
		n += eval_njobs(ev, &ev->prompts[pi]) * ev->nmethods;
	return n;
}

/* Backend calls the whole plan makes (prompt_ncalls of every job). */
static unsigned long long
eval_planned_calls(const struct eval *ev, const struct conf *conf)
{
	const struct conf_backend *be =
	    conf_backend_find(conf, conf->default_backend);
	unsigned long long total = 0;

	for (size_t mi = 0; mi < ev->nmethods; mi++) {
		struct prompt_params pp = {.method = ev->methods[mi],
		    .k = ev->k,
		    .n = ev->k,
		    .tail = NAN,
		    .chunk = be != NULL && be->supports_n ? be->n_chunk : 1};
		int calls = prompt_ncalls(&pp);

		for (size_t pi = 0; pi < ev->nprompts; pi++)
			total += (unsigned long long)calls *
			    eval_njobs(ev, &ev->prompts[pi]);
	}
	return total;
}

static uint64_t
eval_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The selection seed of draw d of a prompt: from --seed, the prompt id
 * and d, below 2^63 so that JSON carries it exactly. */
static long long
eval_draw_seed(const struct eval *ev, const char *id, int d)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *s = id; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (long long)(eval_mix(ev->seed ^ eval_mix(h + (uint64_t)d)) >>
	    1);
}

static json_t *
eval_job(const struct eval *ev, const struct eval_prompt *p, size_t mi,
    int draw)
{
	const char *mname = method_name(ev->methods[mi]);
	json_t *job = json_object(), *meta = json_object();
	char id[512];

	if (p->enumerative)
		snprintf(id, sizeof(id), "%s/%s/%d", p->id, mname, draw);
	else
		snprintf(id, sizeof(id), "%s/%s", p->id, mname);
	json_object_set_new(job, "id", json_string(id));
	if (json_object_get(p->job, "messages") != NULL)
		json_object_set(
		    job, "messages", json_object_get(p->job, "messages"));
	if (json_is_string(json_object_get(p->job, "prompt")))
		json_object_set(
		    job, "prompt", json_object_get(p->job, "prompt"));
	json_object_set_new(job, "method", json_string(mname));
	json_object_set_new(job, "k", json_integer(ev->k));
	if (ev->embed)
		json_object_set_new(job, "embed", json_true());
	if (p->enumerative)
		json_object_set_new(job, "seed",
		    json_integer(eval_draw_seed(ev, p->id, draw)));
	json_object_set_new(meta, "prompt", json_string(p->id));
	json_object_set_new(meta, "task", json_string(p->task));
	json_object_set_new(meta, "method", json_string(mname));
	json_object_set_new(
	    meta, "draw", p->enumerative ? json_integer(draw) : json_null());
	json_object_set_new(job, "metadata", json_pack("{s:o}", "eval", meta));
	return job;
}

static int
eval_write_jobs(const struct eval *ev, const char *path)
{
	FILE *fp = fopen(path, "w");
	int rc = 0;

	if (fp == NULL) {
		fprintf(stderr, "vsampctl: eval: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	for (size_t pi = 0; pi < ev->nprompts; pi++)
		for (size_t mi = 0; mi < ev->nmethods; mi++)
			for (size_t d = 0; d < eval_njobs(ev, &ev->prompts[pi]);
			    d++) {
				json_t *job =
				    eval_job(ev, &ev->prompts[pi], mi, (int)d);
				char *s = json_dumps(job, JSON_COMPACT);

				if (s == NULL || fprintf(fp, "%s\n", s) < 0)
					rc = -1;
				free(s);
				json_decref(job);
			}
	if (fclose(fp) != 0)
		rc = -1;
	if (rc == -1)
		fprintf(stderr, "vsampctl: eval: writing %s: %s\n", path,
		    strerror(errno));
	return rc;
}

/* ---- measuring the results ---- */

static double
eval_num(json_t *v)
{
	return json_is_number(v) ? json_number_value(v) : NAN;
}

static void
eval_add(struct eval_cell *c, int m, double x)
{
	if (isfinite(x)) {
		c->sum[m] += x;
		c->count[m]++;
	}
}

static size_t
eval_method_index(const struct eval *ev, const char *name)
{
	enum method m;

	if (name == NULL || method_parse(name, &m) == -1)
		return SIZE_MAX;
	for (size_t i = 0; i < ev->nmethods; i++)
		if (ev->methods[i] == m)
			return i;
	return SIZE_MAX;
}

static size_t
eval_prompt_index(const struct eval *ev, const char *id)
{
	for (size_t i = 0; id != NULL && i < ev->nprompts; i++)
		if (strcmp(ev->prompts[i].id, id) == 0)
			return i;
	return SIZE_MAX;
}

/* Measure one result into its prompt's and method's cell. */
static void
eval_result(struct eval *ev, json_t *r)
{
	const char *pid =
	    json_string_value(ctl_json_get(r, "metadata.eval.prompt"));
	const char *mn =
	    json_string_value(ctl_json_get(r, "metadata.eval.method"));
	size_t pi = eval_prompt_index(ev, pid), mi = eval_method_index(ev, mn);
	const struct eval_prompt *p;
	struct eval_cell *c;
	json_t *div, *cands, *sel;
	const char *code;
	size_t ncand;
	double tok, fails;

	if (pi == SIZE_MAX || mi == SIZE_MAX) {
		ev->stray++;
		return;
	}
	p = &ev->prompts[pi];
	c = EVAL_CELL(ev, pi, mi);
	c->results++;
	if (ev->model[0] == '\0' &&
	    json_is_string(json_object_get(r, "model")))
		snprintf(ev->model, sizeof(ev->model), "%s",
		    json_string_value(json_object_get(r, "model")));
	code = json_string_value(ctl_json_get(r, "error.code"));
	if (code != NULL)
		c->errors++;
	div = json_object_get(r, "diversity");
	for (size_t i = 0; i < EVAL_M_DISTINCT_3 + 1; i++)
		eval_add(c, (int)i,
		    eval_num(json_object_get(div, eval_measures[i].name)));
	eval_add(
	    c, EVAL_M_DUPLICATES, eval_num(ctl_json_get(r, "dedup.in_job")));
	/* A parse error's failed call is in failed_calls already: count it
	 * once, and at least once when an older result lacks the count. */
	fails = eval_num(json_object_get(r, "failed_calls"));
	if (code != NULL && strcmp(code, "parse") == 0 && !(fails >= 1))
		fails = 1;
	eval_add(c, EVAL_M_PARSE_FAILURES, fails);
	cands = json_object_get(r, "candidates");
	ncand = json_array_size(cands);
	tok = eval_num(ctl_json_get(r, "usage.prompt_tokens")) +
	    eval_num(ctl_json_get(r, "usage.completion_tokens"));
	if (ncand > 0)
		eval_add(c, EVAL_M_TOKENS, tok / (double)ncand);
	eval_add(c, EVAL_M_COST, eval_num(ctl_json_get(r, "usage.cost")));
	if (!p->enumerative)
		return;
	sel = json_object_get(r, "selected");
	if (c->ndraws >= (size_t)ev->draws)
		return;
	c->draws[c->ndraws] = -1;
	if (json_is_integer(sel) && json_integer_value(sel) >= 0 &&
	    (size_t)json_integer_value(sel) < ncand) {
		json_t *t = json_object_get(
		    json_array_get(cands, (size_t)json_integer_value(sel)),
		    "text");

		if (json_is_string(t))
			c->draws[c->ndraws] = evalstat_match(
			    json_string_value(t), json_string_length(t),
			    p->answers, p->nanswers, p->aliases, p->naliases);
	}
	c->ndraws++;
}

static int
eval_read_results(struct eval *ev, const char *path)
{
	char err[512];
	struct ctl_reader *in = ctl_reader_open(path, err, sizeof(err));
	char *line;
	long n;
	int cut;

	if (in == NULL) {
		fprintf(stderr, "vsampctl: eval: %s\n", err);
		return -1;
	}
	while ((n = ctl_reader_next(in, &line, 256 << 20, &cut)) >= 0) {
		json_t *r;

		if (n == 0)
			continue;
		r = json_loadb(line, (size_t)n, 0, NULL);
		if (!json_is_object(r))
			ev->stray++;
		else
			eval_result(ev, r);
		json_decref(r);
	}
	ctl_reader_close(in);
	/* The per-prompt values: means over the jobs, and the draws. */
	for (size_t pi = 0; pi < ev->nprompts; pi++)
		for (size_t mi = 0; mi < ev->nmethods; mi++) {
			struct eval_cell *c = EVAL_CELL(ev, pi, mi);
			struct evalstat_enum en;

			for (int m = 0; m < EVAL_M_COUNT; m++)
				c->value[m] = c->count[m] > 0
				    ? c->sum[m] / (double)c->count[m]
				    : NAN;
			ev->results += c->results;
			ev->errors += c->errors;
			if (!ev->prompts[pi].enumerative)
				continue;
			if (evalstat_enum(c->draws, c->ndraws,
				ev->prompts[pi].nanswers, NULL, &en, err,
				sizeof(err)) == -1) {
				fprintf(stderr, "vsampctl: eval: %s: %s\n",
				    ev->prompts[pi].id, err);
				continue;
			}
			c->valid = en.valid;
			c->invalid = en.invalid;
			c->value[EVAL_M_COVERAGE] =
			    c->ndraws > 0 ? en.coverage : NAN;
			c->value[EVAL_M_KL] = en.kl;
		}
	return 0;
}

/* ---- main ---- */

static int
eval_mkdir(const char *dir)
{
	if (mkdir(dir, 0777) == -1 && errno != EEXIST) {
		fprintf(stderr, "vsampctl: eval: %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
eval_number(const char *flag, const char *s, long long lo, long long hi,
    long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *out < lo || *out > hi) {
		fprintf(stderr,
		    "vsampctl: eval: %s: \"%s\" is not an integer from %lld "
		    "to %lld\n",
		    flag, s, lo, hi);
		return -1;
	}
	return 0;
}

/*
 * Run the jobs file through ctl_run(); its exit status. At most as many
 * jobs are in flight as the backend takes requests at once: a job's
 * worker.job_timeout_ms counts from its start, so jobs started all at
 * once against a slow backend would time out waiting for each other.
 */
static int
eval_run_jobs(const struct ctl_common *co, const char *jobs,
    const char *results, long inflight)
{
	char *av[11], jbuf[24];
	int ac = 0;

	snprintf(jbuf, sizeof(jbuf), "%ld", inflight < 1 ? 1 : inflight);
	av[ac++] = "run";
	av[ac++] = "-j";
	av[ac++] = jbuf;
	if (co->conf_path != NULL) {
		av[ac++] = "-f";
		av[ac++] = (char *)co->conf_path;
	}
	av[ac++] = "-o";
	av[ac++] = (char *)results;
	if (co->quiet)
		av[ac++] = "-q";
	av[ac++] = (char *)jobs;
	av[ac] = NULL;
	optind = 0; /* glibc: start getopt afresh for run's options */
	return ctl_run(ac, av);
}

static void
eval_free(struct eval *ev)
{
	for (size_t i = 0; i < ev->nprompts; i++)
		eval_prompt_clear(&ev->prompts[i]);
	free(ev->prompts);
	if (ev->cells != NULL)
		for (size_t i = 0; i < ev->nprompts * ev->nmethods; i++)
			free(ev->cells[i].draws);
	free(ev->cells);
}

static char *
eval_path(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

int
ctl_eval(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"draws", required_argument, NULL, 'D'},
	    {"max-requests", required_argument, NULL, 'R'},
	    {"seed", required_argument, NULL, 'S'},
	    {"no-embed", no_argument, NULL, 'E'}, {NULL, 0, NULL, 0}};
	struct ctl_common common = {0}, *co = &common;
	struct eval ev;
	const char *methods = NULL, *dir = "eval-out";
	char *jobs = NULL, *results = NULL;
	long long k = 0, maxreq = -1, v;
	unsigned long long planned;
	struct conf *conf = NULL;
	const struct conf_backend *be;
	int ch, no_embed = 0, status = 2;

	memset(&ev, 0, sizeof(ev));
	ev.draws = 20;
	ev.seed = 1;
	while (
	    (ch = ctl_getopt(co, argc, argv, "f:m:k:o:qh", longopts)) != -1) {
		switch (ch) {
		case 'm':
			methods = optarg;
			break;
		case 'k':
			if (eval_number("-k", optarg, 1, 100, &k) == -1)
				return 2;
			break;
		case 'o':
			dir = optarg;
			break;
		case 'D':
			if (eval_number("--draws", optarg, 1, 100000, &v) == -1)
				return 2;
			ev.draws = (int)v;
			break;
		case 'R':
			if (eval_number("--max-requests", optarg, 0, LLONG_MAX,
				&maxreq) == -1)
				return 2;
			break;
		case 'S':
			if (eval_number("--seed", optarg, 0, LLONG_MAX, &v) ==
			    -1)
				return 2;
			ev.seed = (uint64_t)v;
			break;
		case 'E':
			no_embed = 1;
			break;
		case 'h':
			eval_usage(stdout);
			return 0;
		default:
			eval_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "vsampctl: eval: one PROMPTS file is "
				"required\n\n");
		eval_usage(stderr);
		return 2;
	}
	if (methods == NULL)
		methods = EVAL_DEFAULT_METHODS;
	if (eval_parse_methods(&ev, methods) == -1 ||
	    eval_read_prompts(&ev, argv[optind]) == -1)
		goto out;
	if ((conf = ctl_load_conf(co, 0)) == NULL)
		goto out;
	ev.k = k > 0 ? (int)k : conf->default_k;
	ev.embed = conf->has_embeddings && !no_embed;
	planned = eval_planned_calls(&ev, conf);
	if (maxreq >= 0 && planned > (unsigned long long)maxreq) {
		fprintf(stderr,
		    "vsampctl: eval: the plan makes %llu backend calls, more "
		    "than --max-requests %lld; not starting\n",
		    planned, maxreq);
		goto out;
	}
	status = 1;
	if (eval_mkdir(dir) == -1)
		goto out;
	jobs = eval_path(dir, "jobs.jsonl");
	results = eval_path(dir, "results.jsonl");
	if (eval_write_jobs(&ev, jobs) == -1)
		goto out;
	if (!co->quiet)
		fprintf(stderr,
		    "vsampctl: eval: %zu prompts, %zu methods, %llu backend "
		    "calls planned\n",
		    ev.nprompts, ev.nmethods, planned);
	be = conf_backend_find(conf, conf->default_backend);
	status = eval_run_jobs(
	    co, jobs, results, be != NULL ? (long)be->max_inflight : 1);
	if (status == 2)
		goto out;
	ev.cells = xcalloc(ev.nprompts * ev.nmethods, sizeof(*ev.cells));
	for (size_t i = 0; i < ev.nprompts * ev.nmethods; i++)
		ev.cells[i].draws =
		    xcalloc((size_t)ev.draws, sizeof(*ev.cells[i].draws));
	if (eval_read_results(&ev, results) == -1 ||
	    eval_report(&ev, dir, co->quiet) == -1)
		status = 1;
	else if (ev.results < eval_total_jobs(&ev)) {
		fprintf(stderr,
		    "vsampctl: eval: %zu of %zu jobs have no result in %s\n",
		    eval_total_jobs(&ev) - ev.results, eval_total_jobs(&ev),
		    results);
		status = 1;
	}
out:
	free(jobs);
	free(results);
	conf_free(conf);
	eval_free(&ev);
	return status;
}

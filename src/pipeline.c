/*
 * pipeline: from job bytes to a result.
 *
 * A job is planned as a number of calls: independent calls (direct,
 * direct_cot, ssot, sequence, vs_standard, vs_cot) all start at once and
 * the backends' concurrency limits queue them; conversations (multi_turn,
 * vs_multi) run one turn after another, each turn carrying the earlier
 * replies verbatim. A reply that arrives but cannot be parsed is asked
 * again while the profile's max_retries allows: one budget of
 * max_retries + 1 HTTP attempts per call, HTTP-level retries (done by
 * the backend) and these together. When every call has ended, the
 * candidates are normalised (prob.c), filtered, selected, and the result
 * goes to the callback.
 *
 * It owns its jobs, the config generations they run on and the worker
 * thread; it asks the backends for chat completions and embeddings in
 * chat.h's terms and must not know a URL, a header or a wire format
 * (backend.h and the dialects own those), nor block the loop: heavy
 * scoring and large replies' candidates go to the worker thread.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <jansson.h>

#include "backend.h"
#include "blob.h"
#include "chat.h"
#include "conf.h"
#include "cost.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "offload.h"
#include "pipeline.h"
#include "pipeline_int.h"
#include "prompt.h"
#include "reply.h"
#include "result.h"
#include "scope.h"
#include "select.h"
#include "stats.h"
#include "xmalloc.h"

static void pgen_reap(void *arg);

static void
pgen_free(struct pgen *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->nbackends; i++)
		backend_free(g->backends[i]);
	free(g->backends);
	backend_free(g->embed);
	conf_free(g->owned);
	free(g);
}

/* Count g's backends into st, make its chat models known there, and
 * the cost series of its priced profiles. */
static void
pgen_set_stats(struct pgen *g, struct stats *st)
{
	for (size_t i = 0; i < g->nbackends; i++) {
		const struct conf_backend *prof =
		    backend_profile(g->backends[i]);

		backend_set_stats(g->backends[i], st);
		stats_model(st, backend_name(g->backends[i]), prof->model);
		if (price_set(&prof->price))
			stats_cost_backend(st, prof->name);
	}
	if (g->embed != NULL)
		backend_set_stats(g->embed, st);
}

/* A generation for conf, its backends counted in st; NULL with errstr
 * when a profile cannot be used. */
static struct pgen *
pgen_new(
    struct pipeline *p, const struct conf *conf, char *errstr, size_t errlen)
{
	struct pgen *g = xcalloc(1, sizeof(*g));

	g->conf = conf;
	g->nbackends = conf->nbackends;
	g->backends = xcalloc(g->nbackends, sizeof(*g->backends));
	for (size_t i = 0; i < conf->nbackends; i++) {
		g->backends[i] =
		    backend_new(p->shared, &conf->backends[i], errstr, errlen);
		if (g->backends[i] == NULL) {
			pgen_free(g);
			return NULL;
		}
	}
	if (conf->has_embeddings) {
		g->embed =
		    backend_new(p->shared, &conf->embeddings, errstr, errlen);
		if (g->embed == NULL) {
			pgen_free(g);
			return NULL;
		}
	}
	pgen_set_stats(g, p->st);
	return g;
}

struct pipeline *
pipeline_new(struct loop *loop, const struct conf *conf, pipeline_done_cb cb,
    void *arg, char *errstr, size_t errlen)
{
	struct pipeline *p;

	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->cb = cb;
	p->arg = arg;
	TAILQ_INIT(&p->jobs);
	TAILQ_INIT(&p->retired);
	p->reap = loop_timer_new(loop, pgen_reap, p);
	if ((p->off = offload_new(loop)) == NULL)
		log_warn("no worker thread: large jobs are scored on the loop");
	if ((p->shared = backend_shared_new(loop, p->off)) == NULL) {
		snprintf(errstr, errlen, "cannot initialise libcurl");
		offload_free(p->off);
		loop_timer_free(p->reap);
		free(p);
		return NULL;
	}
	if ((p->cur = pgen_new(p, conf, errstr, errlen)) == NULL) {
		pipeline_free(p);
		return NULL;
	}
	p->scope = scope_new((size_t)conf->scope_capacity);
	return p;
}

/*
 * A retired generation goes after its last job does, from a timer of
 * its own: the job usually ends inside a callback of one of the
 * generation's backends, which must not be freed under its feet.
 */
static void
pgen_reap(void *arg)
{
	struct pipeline *p = arg;
	struct pgen *g, *next;

	for (g = TAILQ_FIRST(&p->retired); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		if (g->refs == 0) {
			TAILQ_REMOVE(&p->retired, g, entry);
			pgen_free(g);
		}
	}
}

static void
pgen_release(struct pipeline *p, struct pgen *g)
{
	if (g == NULL)
		return;
	if (g->refs == 0)
		fatalx("pipeline: generation released more often than held");
	if (--g->refs == 0 && g != p->cur)
		loop_timer_set(p->reap, 0);
}

/* Swap in a new config (see pipeline.h). */
int
pipeline_set_conf(struct pipeline *p, const struct conf *conf, struct conf *old,
    char *errstr, size_t errlen)
{
	struct pgen *g, *prev = p->cur;

	if ((g = pgen_new(p, conf, errstr, errlen)) == NULL)
		return -1;
	prev->owned = old;
	p->cur = g;
	TAILQ_INSERT_TAIL(&p->retired, prev, entry);
	if (prev->refs == 0)
		loop_timer_set(p->reap, 0);
	return 0;
}

struct offload *
pipeline_offload(struct pipeline *p)
{
	return p->off;
}

struct scope *
pipeline_scope(struct pipeline *p)
{
	return p->scope;
}

/* Count into st (borrowed; NULL stops counting). */
void
pipeline_set_stats(struct pipeline *p, struct stats *st)
{
	struct pgen *g;

	p->st = st;
	pgen_set_stats(p->cur, st);
	TAILQ_FOREACH(g, &p->retired, entry)
	{
		pgen_set_stats(g, st);
	}
}

uint64_t
pipeline_embed_failures(const struct pipeline *p)
{
	return p->embed_failures;
}

static void
pjob_free(struct pjob *j)
{
	struct pipeline *p = j->p;

	TAILQ_REMOVE(&p->jobs, j, entry);
	p->njobs--;
	for (int i = 0; i < j->ncalls; i++) {
		backend_cancel(j->calls[i].req);
		offload_cancel(j->calls[i].ptask);
		/* Before the reply: it says how many items there are. */
		pcall_free_item_finish(&j->calls[i]);
		reply_free(&j->calls[i].reply);
		free(j->calls[i].finish_reason);
	}
	free(j->calls);
	offload_cancel(j->task);
	free(j->probs);
	blob_unref(j->body);
	backend_cancel(j->embed_req);
	json_decref((json_t *)j->op.schema);
	chat_free(&j->chat);
	loop_timer_free(j->timeout);
	job_free(j->job);
	result_free(j->res);
	pgen_release(p, j->gen);
	free(j->tag);
	free(j);
}

void
pipeline_free(struct pipeline *p)
{
	struct pjob *j;
	struct pgen *g;

	if (p == NULL)
		return;
	while ((j = TAILQ_FIRST(&p->jobs)) != NULL)
		pjob_free(j);
	/* Cancelled scoring tasks come back here, and are freed. */
	offload_free(p->off);
	p->off = NULL;
	while ((g = TAILQ_FIRST(&p->retired)) != NULL) {
		TAILQ_REMOVE(&p->retired, g, entry);
		pgen_free(g);
	}
	loop_timer_free(p->reap);
	pgen_free(p->cur);
	scope_free(p->scope);
	backend_shared_free(p->shared);
	free(p);
}

void
pipeline_cancel(struct pipeline *p, struct pjob *j)
{
	(void)p;
	if (j != NULL)
		pjob_free(j);
}

size_t
pipeline_inflight(const struct pipeline *p)
{
	return p->njobs;
}

/* Hand the result over and forget the job. */
void
pjob_finish(struct pjob *j)
{
	struct pipeline *p = j->p;
	struct result *r = j->res;
	void *token = j->token;

	r->latency_ms = loop_clock_ms() - j->started;
	result_stamp(r);
	j->res = NULL;
	pjob_free(j);
	p->cb(p->arg, token, r);
}

void
pjob_fail(struct pjob *j, enum err_code code, const char *msg)
{
	result_set_error(j->res, code, msg);
	pjob_finish(j);
}

static void
pjob_timeout(void *arg)
{
	struct pjob *j = arg;
	char msg[128];

	snprintf(msg, sizeof(msg),
	    "job exceeded worker.job_timeout_ms (%ld ms)",
	    j->gen->conf->job_timeout_ms);
	pjob_fail(j, ERR_TIMEOUT, msg);
}

/* The most choices one request to be may ask for: its profile's
 * n_chunk when it has supports_n, else 1. */
int
pjob_chunk(const struct backend *be)
{
	const struct conf_backend *prof = backend_profile(be);

	return prof->supports_n ? prof->n_chunk : 1;
}

static struct backend *
pgen_backend(const struct pgen *g, const char *name)
{
	for (size_t i = 0; i < g->nbackends; i++)
		if (strcmp(backend_name(g->backends[i]), name) == 0)
			return g->backends[i];
	return NULL;
}

static double
pick_double(double job, double profile, double dflt)
{
	if (!isnan(job))
		return job;
	if (!isnan(profile))
		return profile;
	return dflt;
}

/* The provenance of what the job's requests now carry. */
static void
pjob_note_decoding(struct pjob *j)
{
	struct provenance *pv = &j->res->prov;
	struct chat_sent sent;

	backend_chat_sent(j->be, &j->op, &sent);
	pv->has_decoding = 1;
	pv->temperature = sent.temperature;
	pv->top_p = sent.top_p;
	pv->max_tokens = sent.max_tokens;
	pv->structured = sent.structured;
}

/*
 * Count the usage of reply rep of backend be (its tokens are already in
 * the result): its cost at be's price goes to the job's usage.cost and
 * to be's vsampd_cost_total. A reply from an unpriced backend, or one
 * that reported no usage, has no known cost, and the job's is nil from
 * then on (cost.h). A job that fails over pays each reply at its own
 * backend's price.
 */
void
pjob_add_cost(
    struct pjob *j, const struct backend *be, const struct chat_reply *rep)
{
	const struct conf_backend *prof = backend_profile(be);
	double v;

	v = cost_add(&j->cost, rep->has_usage ? &prof->price : NULL,
	    rep->prompt_tokens, rep->completion_tokens);
	if (!isnan(v))
		stats_cost(j->p->st, prof->name, v);
	j->res->cost = cost_total(&j->cost);
}

/*
 * Run the job's calls on backend be: the result names it, and the
 * model and decoding settings come from the job, else be's profile,
 * else the defaults (also when a job fails over to a fallback).
 */
void
pjob_use_backend(struct pjob *j, struct backend *be)
{
	const struct conf_backend *prof = backend_profile(be);
	const struct conf *conf = j->gen->conf;
	const struct job *job = j->job;

	j->be = be;
	free(j->res->backend);
	free(j->res->model);
	j->res->backend = xstrdup(prof->name);
	j->res->model = xstrdup(job->model ? job->model : prof->model);
	j->op.model = j->res->model;
	j->op.temperature = pick_double(
	    job->temperature, prof->temperature, conf->default_temperature);
	j->op.top_p = pick_double(job->top_p, prof->top_p, NAN);
	j->op.default_top_p = conf->default_top_p;
	j->op.max_tokens = job->max_tokens ? job->max_tokens
	    : prof->max_tokens		   ? prof->max_tokens
					   : conf->default_max_tokens;
	json_decref((json_t *)j->op.schema);
	j->op.schema = prof->structured_output
	    ? prompt_schema(j->pp.method, j->pp.k)
	    : NULL;
	pjob_note_decoding(j);
}

/*
 * The backend for the job's next call: its own while its breaker lets
 * requests through, else the first available of its profile's
 * fallbacks, else its own still (the call then waits for the probe).
 * *more is set when a fallback exists and is up, so that a call that
 * an opening breaker refuses comes back to move.
 */
struct backend *
pjob_pick_backend(struct pjob *j, int *more)
{
	const struct conf_backend *prof = backend_profile(j->primary);
	int up = backend_available(j->primary), any = 0;
	struct backend *fb;

	*more = 0;
	for (size_t i = 0; i < prof->nfallback; i++) {
		if ((fb = pgen_backend(j->gen, prof->fallback[i])) == NULL ||
		    fb == j->primary)
			continue;
		any = 1;
		if (!up && backend_available(fb)) {
			*more = 1;
			return fb;
		}
	}
	/* Everything down: wait in the primary's queue, not fail fast
	 * (which would only come back here). */
	*more = up && any;
	return j->primary;
}

/* A job record for the bytes about to be decoded, its result started. */
static struct pjob *
pjob_new(struct pipeline *p, const struct pipeline_src *src, void *token)
{
	struct pjob *j = xcalloc(1, sizeof(*j));

	j->p = p;
	j->gen = p->cur;
	j->gen->refs++;
	j->token = token;
	j->started = loop_clock_ms();
	j->res = result_new();
	cost_init(&j->cost);
	chat_init(&j->chat);
	TAILQ_INSERT_TAIL(&p->jobs, j, entry);
	p->njobs++;
	j->scope = src != NULL && src->scope != NULL ? src->scope : p->scope;
	j->journal = src != NULL ? src->journal : NULL;
	if (src != NULL && src->topic != NULL) {
		j->res->source_topic = xstrdup(src->topic);
		j->res->source_partition = src->partition;
		j->res->source_offset = src->offset;
	}
	return j;
}

/*
 * Decode the job's bytes: its id, log tag and metadata go into the
 * result. Returns 0, or -1 with *code and errstr.
 */
static int
pjob_decode(struct pjob *j, const void *buf, size_t len, enum err_code *code,
    char *errstr, size_t errlen)
{
	const struct conf *conf = j->gen->conf;
	struct job *job;
	char *id = NULL;

	if (len > (size_t)conf->max_message_bytes) {
		snprintf(errstr, errlen,
		    "job of %zu bytes exceeds worker.max_message_bytes (%ld)",
		    len, conf->max_message_bytes);
		*code = ERR_TOO_LARGE;
		return -1;
	}
	if ((job = job_decode(buf, len, &id, errstr, errlen)) == NULL) {
		j->res->id = id;
		*code = ERR_BAD_JOB;
		return -1;
	}
	j->job = job;
	j->res->id = xstrdup(job->id);
	/* Every per-job log line says where the job came from; the id is
	 * validated UTF-8 without control bytes. */
	if (j->res->source_topic != NULL)
		j->tag = xasprintf("job %s topic %s partition %" PRId32
				   " offset %" PRId64,
		    job->id, j->res->source_topic, j->res->source_partition,
		    j->res->source_offset);
	else
		j->tag = xasprintf("job %s", job->id);
	if (job->metadata != NULL) {
		j->res->metadata = xmalloc(job->metadata_len);
		memcpy(j->res->metadata, job->metadata, job->metadata_len);
		j->res->metadata_len = job->metadata_len;
	}
	return 0;
}

/*
 * Resolve the job against the config's defaults and its backend, and
 * plan its calls. Returns 0, or -1 with errstr (a bad job).
 */
static int
pjob_resolve(struct pjob *j, char *errstr, size_t errlen)
{
	const struct conf *conf = j->gen->conf;
	struct job *job = j->job;
	const char *bname;

	if (job->method < 0)
		job->method = conf->default_method;
	if (job->k == 0)
		job->k = conf->default_k;
	if (job->n == 0)
		job->n = job->k;
	if (job->select < 0)
		job->select = SELECT_WEIGHTED;
	if (job->embed < 0)
		job->embed = conf->default_embed >= 0 ? conf->default_embed
						      : conf->has_embeddings;
	bname = job->backend != NULL ? job->backend : conf->default_backend;
	if ((j->be = pgen_backend(j->gen, bname)) == NULL) {
		snprintf(
		    errstr, errlen, "backend: no backend profile of that name");
		return -1;
	}
	j->res->method = xstrdup(method_name((enum method)job->method));
	j->res->prov.template_id =
	    xstrdup(prompt_template_id((enum method)job->method));
	j->res->prov.has_seed = 1;
	j->res->prov.seed =
	    job->has_seed ? job->seed : select_seed(job->id, strlen(job->id));

	j->pp.method = (enum method)job->method;
	j->pp.k = job->k;
	j->pp.n = job->n;
	j->pp.tail = job->tail;
	j->pp.instructions = job->instructions;
	/* Planned for the job's own backend; a fallback asks for what it
	 * can (pcall_body). */
	j->pp.chunk = pjob_chunk(j->be);
	j->kind = prompt_reply_kind(j->pp.method);
	j->conversation = prompt_is_conversation(j->pp.method);
	j->ncalls = prompt_ncalls(&j->pp);

	j->primary = j->be;
	pjob_use_backend(j, j->be);
	j->calls = xcalloc((size_t)j->ncalls, sizeof(*j->calls));
	for (int i = 0; i < j->ncalls; i++) {
		j->calls[i].job = j;
		j->calls[i].idx = i;
		j->calls[i].asked = prompt_asked(&j->pp, i);
		j->calls[i].choices = prompt_choices(&j->pp, i);
		j->nplanned += j->calls[i].choices;
	}
	return 0;
}

/*
 * Render the first prompt: a conversation's opening turn, or (validated
 * once, so that a call never fails to render) an independent call's.
 * Returns 0, or -1 with errstr (a bad job).
 */
static int
pjob_first_prompt(struct pjob *j, char *errstr, size_t errlen)
{
	struct chat probe;
	int rc;

	if (j->conversation)
		return prompt_build(&j->pp, j->job, j->calls[0].asked, &j->chat,
		    errstr, errlen);
	chat_init(&probe);
	rc = prompt_build(
	    &j->pp, j->job, j->calls[0].asked, &probe, errstr, errlen);
	chat_free(&probe);
	return rc;
}

/* Arm the job's timeout and start its first calls. */
static void
pjob_launch(struct pjob *j)
{
	const struct conf_backend *prof = backend_profile(j->be);

	j->timeout = loop_timer_new(j->p->loop, pjob_timeout, j);
	loop_timer_set(j->timeout, (uint64_t)j->gen->conf->job_timeout_ms);
	log_debug("%s: %s, k=%d n=%d, %d call(s) on %s", j->tag, j->res->method,
	    j->job->k, j->job->n, j->ncalls, prof->name);
	if (j->conversation) {
		pcall_start(&j->calls[0]);
		return;
	}
	/* At most a window of independent calls at once, as many as the
	 * backend takes: the rest start as calls end, so a job of a
	 * thousand calls holds a window's replies, not a thousand. */
	j->window =
	    prof->max_inflight < j->ncalls ? prof->max_inflight : j->ncalls;
	if (j->window < 1)
		j->window = 1;
	while (j->next_call < j->window)
		pcall_start(&j->calls[j->next_call++]);
}

struct pjob *
pipeline_submit(struct pipeline *p, const void *buf, size_t len,
    const struct pipeline_src *src, void *token)
{
	struct pjob *j = pjob_new(p, src, token);
	enum err_code code = ERR_BAD_JOB;
	char err[256];

	if (pjob_decode(j, buf, len, &code, err, sizeof(err)) == -1 ||
	    pjob_resolve(j, err, sizeof(err)) == -1 ||
	    pjob_first_prompt(j, err, sizeof(err)) == -1) {
		pjob_fail(j, code, err);
		return NULL;
	}
	pjob_launch(j);
	return j;
}

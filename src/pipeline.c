/*
 * pipeline: from job bytes to a result.
 *
 * A job is planned as a number of calls: independent calls (direct,
 * direct_cot, sequence, vs_standard, vs_cot) all start at once and the
 * backends' concurrency limits queue them; conversations (multi_turn,
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
#include "dedup.h"
#include "diversity.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "offload.h"
#include "pipeline.h"
#include "prob.h"
#include "prompt.h"
#include "reply.h"
#include "result.h"
#include "scope.h"
#include "select.h"
#include "stats.h"
#include "tokens.h"
#include "xmalloc.h"

struct pjob;

/*
 * A generation: one config and the backends made from it. A reload makes
 * a new one; jobs keep the generation they started with, and a retired
 * generation is freed (with its config, when the pipeline owns it) once
 * its last job ends. So a job never sees its backend or profile change
 * under it, and no request is dropped by a reload.
 */
struct pgen {
	const struct conf *conf;
	struct conf *owned; /* freed with the generation, or NULL */
	struct backend **backends; /* parallel to conf->backends */
	size_t nbackends;
	struct backend *embed; /* the embeddings profile, or NULL */
	size_t refs; /* jobs started on it */
	TAILQ_ENTRY(pgen) entry;
};

TAILQ_HEAD(pgens, pgen);

struct pcall {
	struct pjob *job;
	int idx;
	int asked;
	int tries; /* content-level tries (parse failures) */
	unsigned attempts; /* HTTP attempts over all tries: one budget */
	struct backend *be; /* where this call was sent */
	struct backend_req *req;
	struct offload_task *ptask; /* its candidates parsed off the loop */
	int ok;
	struct reply reply;
};

struct pjob {
	struct pipeline *p;
	struct pgen *gen; /* the generation the job started on */
	char *tag; /* "job ID topic T partition P offset O", for logs */
	void *token;
	struct job *job;
	struct result *res;
	struct backend *be; /* the backend of the calls now */
	struct backend *primary; /* the job's own (fallbacks are its) */
	struct prompt_params pp;
	struct chat_params op;
	enum reply_kind kind;
	int ncalls;
	int conversation;
	struct pcall *calls;
	int next_call; /* independent calls: the next one not yet started */
	int window; /* independent calls started at most at once */
	double *probs; /* the candidates' probabilities, once gathered */
	struct offload_task *task; /* scoring on the worker thread */
	struct blob *body; /* the last request body rendered, shared by */
	int body_asked; /* the calls that ask this many ... */
	struct backend *body_be; /* ... of this backend */
	int outstanding;
	int nok;
	int nfailed;
	enum err_code last_code;
	char last_err[320];
	struct chat chat; /* the conversation so far (conversations) */
	struct backend_req *embed_req;
	struct loop_timer *timeout;
	uint64_t started;
	TAILQ_ENTRY(pjob) entry;
};

TAILQ_HEAD(pjobs, pjob);

struct pipeline {
	struct loop *loop;
	struct pgen *cur; /* new jobs start here */
	struct pgens retired; /* older generations with jobs left */
	struct loop_timer *reap; /* frees unused retired generations */
	struct backend_shared *shared; /* what the backends share */
	pipeline_done_cb cb;
	void *arg;
	struct scope *scope; /* the dedup_scope index */
	struct offload *off; /* the worker thread, or NULL (all inline) */
	uint64_t embed_failures;
	struct stats *st; /* borrowed; NULL: not counted */
	struct pjobs jobs;
	size_t njobs;
};

static void pcall_start(struct pcall *c);
static void pgen_reap(void *arg);
static void pjob_use_backend(struct pjob *j, struct backend *be);
static struct backend *pjob_pick_backend(struct pjob *j, int *more);

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
		backend_set_stats(g->backends[i], p->st);
	}
	if (conf->has_embeddings) {
		g->embed =
		    backend_new(p->shared, &conf->embeddings, errstr, errlen);
		if (g->embed == NULL) {
			pgen_free(g);
			return NULL;
		}
		backend_set_stats(g->embed, p->st);
	}
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
	for (size_t i = 0; i < p->cur->nbackends; i++)
		backend_set_stats(p->cur->backends[i], st);
	if (p->cur->embed != NULL)
		backend_set_stats(p->cur->embed, st);
	TAILQ_FOREACH(g, &p->retired, entry)
	{
		for (size_t i = 0; i < g->nbackends; i++)
			backend_set_stats(g->backends[i], st);
		if (g->embed != NULL)
			backend_set_stats(g->embed, st);
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
		reply_free(&j->calls[i].reply);
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
static void
pjob_finish(struct pjob *j)
{
	struct pipeline *p = j->p;
	struct result *r = j->res;
	void *token = j->token;

	r->latency_ms = loop_clock_ms() - j->started;
	j->res = NULL;
	pjob_free(j);
	p->cb(p->arg, token, r);
}

static void
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

/* Drop candidate i of r (and its probability) in place. */
static void
cands_compact(struct result *r, double *p, const unsigned char *keep)
{
	size_t w = 0;

	for (size_t i = 0; i < r->ncands; i++) {
		if (!keep[i]) {
			free(r->cands[i].text);
			continue;
		}
		r->cands[w] = r->cands[i];
		p[w] = p[i];
		w++;
	}
	r->ncands = w;
}

static void
pjob_on_embeddings(void *arg, const struct backend_reply *rep)
{
	struct pjob *j = arg;
	struct result *r = j->res;

	j->embed_req = NULL;
	if (rep->ok)
		r->semantic =
		    diversity_semantic(rep->vecs, r->ncands, rep->dim);
	if (isnan(r->semantic)) {
		/* The result goes out all the same, without `semantic`. */
		j->p->embed_failures++;
		stats_embedding_failure(j->p->st);
		log_info("%s: embeddings failed, semantic diversity not "
			 "computed: %s",
		    j->tag, rep->errmsg);
	}
	pjob_finish(j);
}

/* Ask the embeddings backend for one vector per candidate, in one
 * request. Returns 0 when asked (the job finishes in the callback). */
static int
pjob_embed(struct pjob *j)
{
	struct result *r = j->res;
	const char **texts;
	size_t *lens;

	if (!j->job->embed || r->ncands < 2 || j->gen->embed == NULL)
		return -1;
	texts = xcalloc(r->ncands, sizeof(*texts));
	lens = xcalloc(r->ncands, sizeof(*lens));
	for (size_t i = 0; i < r->ncands; i++) {
		texts[i] = r->cands[i].text;
		lens[i] = r->cands[i].len;
	}
	j->embed_req = backend_embed(
	    j->gen->embed, texts, lens, r->ncands, pjob_on_embeddings, j);
	free(texts);
	free(lens);
	return 0;
}

/*
 * Scoring work (in-job dedup, lexical diversity) grows with the square
 * of the candidates and with their length: five short candidates take
 * microseconds, a thousand of a thousand words each take seconds. Above
 * this many token comparisons (pairs x mean tokens, a token taken as six
 * bytes) the work goes to the worker thread (offload.c), so that the
 * loop never stalls; below it, it runs at once (no hand-over cost).
 */
#define SCORE_OFFLOAD_WORK 4e6

static int
score_heavy(const struct pipeline *p, const struct result *r)
{
	size_t bytes = 0;
	double pairs;

	if (p->off == NULL || r->ncands < 2)
		return 0;
	for (size_t i = 0; i < r->ncands; i++)
		bytes += r->cands[i].len;
	pairs = (double)r->ncands * (double)(r->ncands - 1) / 2.0;
	return pairs * ((double)bytes / (double)r->ncands / 6.0) >
	    SCORE_OFFLOAD_WORK;
}

/* A scoring task: copies of the texts, and room for what it finds. It
 * touches nothing else, so the job may go while it runs. */
struct score {
	struct pjob *job; /* valid in pjob_scored unless cancelled */
	char *buf; /* the texts, one after another */
	const char **texts;
	size_t *lens;
	size_t n;
	double threshold;
	int dedup; /* the in-job dedup first (step 6) */
	int lexical; /* then the lexical scores of what it keeps */
	unsigned char *keep;
	size_t dropped;
	struct diversity div;
};

static struct score *
score_new(struct pjob *j, int dedup, int lexical)
{
	const struct result *r = j->res;
	struct score *s = xcalloc(1, sizeof(*s));
	size_t total = 0, off = 0;

	s->job = j;
	s->n = r->ncands;
	s->threshold = j->gen->conf->near_threshold;
	s->dedup = dedup;
	s->lexical = lexical;
	for (size_t i = 0; i < s->n; i++)
		total += r->cands[i].len;
	s->buf = xmalloc(total + 1);
	s->texts = xcalloc(s->n, sizeof(*s->texts));
	s->lens = xcalloc(s->n, sizeof(*s->lens));
	s->keep = xcalloc(s->n, 1);
	for (size_t i = 0; i < s->n; i++) {
		if (r->cands[i].len > 0)
			memcpy(s->buf + off, r->cands[i].text, r->cands[i].len);
		s->texts[i] = s->buf + off;
		s->lens[i] = r->cands[i].len;
		off += r->cands[i].len;
	}
	return s;
}

static void
score_free(struct score *s)
{
	free(s->buf);
	free(s->texts);
	free(s->lens);
	free(s->keep);
	free(s);
}

/* On the worker thread. */
static void
score_work(void *arg)
{
	struct score *s = arg;
	size_t w = 0;

	if (s->dedup)
		s->dropped = dedup_in_job(
		    s->texts, s->lens, s->n, s->threshold, s->keep);
	else
		memset(s->keep, 1, s->n);
	if (!s->lexical)
		return;
	/* Score what is kept: compact the copies in place. */
	for (size_t i = 0; i < s->n; i++) {
		if (!s->keep[i])
			continue;
		s->texts[w] = s->texts[i];
		s->lens[w] = s->lens[i];
		w++;
	}
	diversity_lexical(s->texts, s->lens, w, &s->div);
}

static void pjob_after_dedup(struct pjob *j, const struct diversity *div);
static void pjob_scored_finish(struct pjob *j);

/* Back on the loop: take the task's findings. */
static void
pjob_scored(void *arg, int cancelled)
{
	struct score *s = arg;
	struct pjob *j = s->job;
	struct result *r;

	if (cancelled) {
		score_free(s);
		return;
	}
	j->task = NULL;
	r = j->res;
	if (s->dedup) {
		r->dedup_in_job = (unsigned)s->dropped;
		cands_compact(r, j->probs, s->keep);
		pjob_after_dedup(j, s->lexical ? &s->div : NULL);
	} else {
		r->rouge_l = s->div.rouge_l;
		for (int i = 0; i < 3; i++)
			r->distinct[i] = s->div.distinct[i];
		pjob_scored_finish(j);
	}
	score_free(s);
}

/* Step 6 off the loop (and the lexical scores too, with no scope to
 * check in between); the job goes on in pjob_scored(). */
static void
pjob_offload(struct pjob *j, int dedup, int lexical)
{
	j->task = offload_submit(
	    j->p->off, score_work, pjob_scored, score_new(j, dedup, lexical));
}

/* Step 7: duplicates of earlier jobs of the same dedup_scope (the scope
 * index, approximate for near duplicates). Returns how many went. */
static size_t
pjob_dedup_scope(struct pjob *j)
{
	struct pipeline *pl = j->p;
	struct result *r = j->res;
	uint64_t sid, jh;
	struct tokens tok;
	unsigned char *keep;
	size_t before = r->ncands;

	if (j->job->dedup_scope == NULL || pl->scope == NULL || r->ncands == 0)
		return 0;
	sid = scope_id_hash(j->job->dedup_scope, strlen(j->job->dedup_scope));
	jh = scope_job_hash(j->job->id, strlen(j->job->id));
	keep = xcalloc(r->ncands, 1);
	tokens_init(&tok);
	for (size_t i = 0; i < r->ncands; i++) {
		tokens_split(&tok, r->cands[i].text, r->cands[i].len);
		keep[i] =
		    !scope_check_insert(pl->scope, sid, jh, r->cands[i].text,
			r->cands[i].len, &tok, j->gen->conf->near_threshold);
		if (!keep[i])
			r->dedup_in_scope++;
	}
	tokens_free(&tok);
	cands_compact(r, j->probs, keep);
	free(keep);
	return before - r->ncands;
}

/* The lexical scores of the candidates kept (step 8 done): at once, or
 * on the worker thread for a heavy set. */
static void
pjob_lexical(struct pjob *j)
{
	struct result *r = j->res;
	const char **texts;
	size_t *lens;
	struct diversity div;

	if (score_heavy(j->p, r)) {
		pjob_offload(j, 0, 1);
		return;
	}
	texts = xcalloc(r->ncands, sizeof(*texts));
	lens = xcalloc(r->ncands, sizeof(*lens));
	for (size_t i = 0; i < r->ncands; i++) {
		texts[i] = r->cands[i].text;
		lens[i] = r->cands[i].len;
	}
	diversity_lexical(texts, lens, r->ncands, &div);
	r->rouge_l = div.rouge_l;
	for (int i = 0; i < 3; i++)
		r->distinct[i] = div.distinct[i];
	free(texts);
	free(lens);
	pjob_scored_finish(j);
}

/*
 * After step 6: step 7, step 8 (renormalise), selection, and the
 * diversity of what is kept. div holds the lexical scores the worker
 * computed with the dedup, valid only when step 7 removed nothing.
 */
static void
pjob_after_dedup(struct pjob *j, const struct diversity *div)
{
	struct result *r = j->res;
	struct job *job = j->job;
	size_t kept;
	uint64_t seed;

	if (pjob_dedup_scope(j) > 0)
		div = NULL;
	kept = r->ncands;
	prob_renormalise(j->probs, kept);
	for (size_t i = 0; i < kept; i++)
		r->cands[i].probability = j->probs[i];
	seed =
	    job->has_seed ? job->seed : select_seed(job->id, strlen(job->id));
	r->selected = kept == 0
	    ? -1
	    : select_pick((enum select_mode)job->select, j->probs, kept, seed);
	/* Diversity of what is kept; nil as a whole with no candidates. */
	r->has_diversity = kept > 0;
	if (kept == 0) {
		pjob_scored_finish(j);
		return;
	}
	if (div != NULL) {
		r->rouge_l = div->rouge_l;
		for (int i = 0; i < 3; i++)
			r->distinct[i] = div->distinct[i];
		pjob_scored_finish(j);
		return;
	}
	pjob_lexical(j);
}

/* Scored: the embeddings (semantic diversity), or the result now. */
static void
pjob_scored_finish(struct pjob *j)
{
	if (pjob_embed(j) == 0)
		return;
	pjob_finish(j);
}

/* Gather the candidates of every successful call into the result
 * (steps 1 to 5), then dedup them in the job (step 6). */
static void
pjob_complete(struct pjob *j)
{
	struct result *r = j->res;
	struct job *job = j->job;
	size_t total = 0, kept = 0, cap = (size_t)j->pp.n;
	const char **texts;
	size_t *lens;
	unsigned char *keep;
	double *p;

	/* Turns of a conversation after a failed one are never taken:
	 * they did not fail, and are not counted. */
	r->failed_calls = (unsigned)j->nfailed;
	if (j->nok == 0) {
		pjob_fail(j, j->last_code ? j->last_code : ERR_INTERNAL,
		    j->last_err[0] ? j->last_err : "no call succeeded");
		return;
	}
	for (int i = 0; i < j->ncalls; i++)
		if (j->calls[i].ok)
			total += j->calls[i].reply.n;
	r->cands = xcalloc(total, sizeof(*r->cands));
	p = j->probs = xcalloc(total + 1, sizeof(*p));
	for (int i = 0; i < j->ncalls && kept < cap; i++) {
		struct reply *rp = &j->calls[i].reply;
		double *v, *cp;

		if (!j->calls[i].ok)
			continue;
		v = xcalloc(rp->n, sizeof(*v));
		cp = xcalloc(rp->n, sizeof(*cp));
		for (size_t k = 0; k < rp->n; k++)
			v[k] = rp->items[k].verbalized;
		prob_call(v, rp->n, cp);
		for (size_t k = 0; k < rp->n && kept < cap; k++) {
			/* Step 4: divide by the number of calls. */
			double q = cp[k] / j->ncalls;

			/* Step 5: min_probability, on the call-level figure. */
			if (!isnan(job->min_probability) &&
			    q < job->min_probability)
				continue;
			r->cands[kept].text = rp->items[k].text;
			r->cands[kept].len = rp->items[k].len;
			rp->items[k].text = NULL;
			r->cands[kept].verbalized = rp->items[k].verbalized;
			r->cands[kept].turn = i;
			p[kept] = q;
			kept++;
		}
		free(v);
		free(cp);
	}
	r->ncands = kept;
	r->has_dedup = 1;
	/* Step 6: duplicates inside the job (exact Jaccard), the first
	 * occurrence kept; heavy sets on the worker thread, with their
	 * lexical scores too when no scope check comes in between. */
	if (score_heavy(j->p, r)) {
		pjob_offload(
		    j, 1, job->dedup_scope == NULL || j->p->scope == NULL);
		return;
	}
	if (kept > 0) {
		texts = xcalloc(kept, sizeof(*texts));
		lens = xcalloc(kept, sizeof(*lens));
		keep = xcalloc(kept, 1);
		for (size_t i = 0; i < kept; i++) {
			texts[i] = r->cands[i].text;
			lens[i] = r->cands[i].len;
		}
		r->dedup_in_job = (unsigned)dedup_in_job(
		    texts, lens, kept, j->gen->conf->near_threshold, keep);
		cands_compact(r, p, keep);
		free(texts);
		free(lens);
		free(keep);
	}
	pjob_after_dedup(j, NULL);
}

/* One call (or turn) has ended, well or not. */
static void
pjob_call_ended(struct pjob *j, struct pcall *c)
{
	j->outstanding--;
	if (j->conversation) {
		int next = c->idx + 1;

		if (c->ok && next < j->ncalls) {
			pcall_start(&j->calls[next]);
			return;
		}
		pjob_complete(j);
		return;
	}
	/* The window moves: the next call starts as one ends. */
	if (j->next_call < j->ncalls) {
		pcall_start(&j->calls[j->next_call++]);
		return;
	}
	if (j->outstanding == 0)
		pjob_complete(j);
}

static void
pcall_failed(struct pcall *c, enum err_code code, const char *msg)
{
	struct pjob *j = c->job;

	j->nfailed++;
	j->last_code = code;
	snprintf(j->last_err, sizeof(j->last_err), "%s", msg);
	log_info("%s: call %d failed: %s", j->tag, c->idx, msg);
	pjob_call_ended(j, c);
}

/*
 * A reply's candidates, parsed out of its text. Pure, so that a large
 * text (a hundred long candidates is most of a megabyte of JSON) is
 * parsed on the worker thread instead of holding the loop.
 */
struct parse {
	struct pcall *call; /* valid in pcall_parse_done unless cancelled */
	char *copy; /* the text, owned, when parsed off the loop */
	const char *text;
	size_t len;
	enum reply_kind kind;
	size_t asked;
	int failed;
	char err[256];
	struct reply reply;
};

static void
parse_run(void *arg)
{
	struct parse *pa = arg;

	pa->failed = reply_parse(pa->text, pa->len, pa->kind, pa->asked,
			 &pa->reply, pa->err, sizeof(pa->err)) == -1;
}

static void
parse_free(struct parse *pa)
{
	free(pa->copy);
	reply_free(&pa->reply);
	free(pa);
}

/*
 * A reply that came but is of no use (it did not parse): asked again
 * while the call's budget of max_retries + 1 HTTP attempts lasts, else
 * the call fails with code and msg.
 */
static void
pcall_retry(struct pcall *c, enum err_code code, const char *msg)
{
	struct pjob *j = c->job;
	const struct conf_backend *prof = backend_profile(c->be);

	stats_parse_failure(j->p->st, prof->name);
	if (c->attempts <= (unsigned)prof->max_retries) {
		log_debug("%s: call %d: %s, asking again", j->tag, c->idx, msg);
		pcall_start(c);
		return;
	}
	pcall_failed(c, code, msg);
}

/* What a parsed reply means for its call (on the loop). */
static void
pcall_parsed(struct pcall *c, struct parse *pa)
{
	struct pjob *j = c->job;
	char msg[320];

	if (pa->failed) {
		snprintf(msg, sizeof(msg), "backend %s: unparseable reply: %s",
		    backend_name(c->be), pa->err);
		pcall_retry(c, ERR_PARSE, msg);
		return;
	}
	reply_free(&c->reply);
	c->reply = pa->reply;
	memset(&pa->reply, 0, sizeof(pa->reply));
	c->ok = 1;
	j->nok++;
	if (j->conversation && c->idx + 1 < j->ncalls)
		prompt_next_turn(&j->pp, &j->chat, pa->text, pa->len,
		    j->calls[c->idx + 1].asked);
	pjob_call_ended(j, c);
}

static void
pcall_parse_done(void *arg, int cancelled)
{
	struct parse *pa = arg;

	if (!cancelled) {
		pa->call->ptask = NULL;
		pcall_parsed(pa->call, pa);
	}
	parse_free(pa);
}

/* Parse the candidates of reply text (valid for this call only). */
static void
pcall_parse(struct pcall *c, const char *text, size_t len)
{
	struct pjob *j = c->job;
	struct parse *pa;

	pa = xcalloc(1, sizeof(*pa));
	pa->call = c;
	pa->text = text;
	pa->len = len;
	pa->kind = j->kind;
	pa->asked = (size_t)c->asked;
	if (len > BACKEND_OFFLOAD_BYTES && j->p->off != NULL) {
		pa->copy = xmalloc(len + 1);
		memcpy(pa->copy, text, len);
		pa->copy[len] = '\0';
		pa->text = pa->copy;
		c->ptask =
		    offload_submit(j->p->off, parse_run, pcall_parse_done, pa);
		return;
	}
	parse_run(pa);
	pcall_parsed(c, pa);
	parse_free(pa);
}

static void
pcall_on_reply(void *arg, const struct backend_reply *rep)
{
	struct pcall *c = arg;
	struct pjob *j = c->job;

	c->req = NULL;
	/* Every attempt counts, and in the call's one budget, also those of
	 * a request the breaker then refused. */
	j->res->attempts += rep->attempts;
	j->res->requests += rep->attempts;
	c->attempts += rep->attempts;
	if (!rep->ok && rep->circuit_open) {
		/* Refused unsent by an opening breaker: to a fallback now
		 * (or back in the queue for the probe). */
		c->tries--;
		if (c->tries == 0)
			j->outstanding--;
		pcall_start(c);
		return;
	}
	if (!rep->ok && rep->unparsed) {
		pcall_retry(c, rep->code, rep->errmsg);
		return;
	}
	if (!rep->ok) {
		pcall_failed(c, rep->code, rep->errmsg);
		return;
	}
	j->res->prompt_tokens += rep->chat.prompt_tokens;
	j->res->completion_tokens += rep->chat.completion_tokens;
	pcall_parse(c, rep->chat.content, rep->chat.len);
}

/*
 * The request body of call c on the job's backend now. Independent calls
 * that ask for as many candidates of the same backend send the same
 * bytes: the body is rendered once and shared (a reference is returned).
 * A conversation's turns differ, and are rendered each time.
 */
static struct blob *
pcall_body(struct pcall *c)
{
	struct pjob *j = c->job;
	struct chat one;
	const struct chat *chat;
	struct blob *body;
	char err[256];

	if (!j->conversation && j->body != NULL && j->body_be == j->be &&
	    j->body_asked == c->asked)
		return blob_ref(j->body);
	chat_init(&one);
	if (j->conversation)
		chat = &j->chat;
	else {
		/* The last call may ask for fewer than k: its own prompt. */
		if (prompt_build(
			&j->pp, j->job, c->asked, &one, err, sizeof(err)) == -1)
			fatalx("job %s: prompt failed after validation: %s",
			    j->job->id, err);
		chat = &one;
	}
	if (j->op.schema != NULL) {
		json_decref((json_t *)j->op.schema);
		j->op.schema = prompt_schema(j->pp.method, c->asked);
	}
	body = backend_chat_body(j->be, chat, &j->op);
	chat_free(&one);
	if (j->conversation)
		return body;
	blob_unref(j->body);
	j->body = body;
	j->body_be = j->be;
	j->body_asked = c->asked;
	return blob_ref(j->body);
}

/* Send one call (again, on a retry). */
static void
pcall_start(struct pcall *c)
{
	struct pjob *j = c->job;
	struct blob *body;
	struct backend *be;
	int failfast;

	be = pjob_pick_backend(j, &failfast);
	if (be != j->be) {
		log_info("%s: backend %s unavailable, using %s", j->tag,
		    backend_name(j->be), backend_name(be));
		pjob_use_backend(j, be);
	}
	body = pcall_body(c);
	if (c->tries == 0)
		j->outstanding++;
	c->tries++;
	c->be = j->be;
	c->req = backend_chat(c->be, body, j->op.max_tokens,
	    failfast ? BACKEND_FAILFAST : 0, c->attempts, pcall_on_reply, c);
	blob_unref(body);
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

/*
 * Run the job's calls on backend be: the result names it, and the
 * model and decoding settings come from the job, else be's profile,
 * else the defaults (also when a job fails over to a fallback).
 */
static void
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
}

/*
 * The backend for the job's next call: its own while its breaker lets
 * requests through, else the first available of its profile's
 * fallbacks, else its own still (the call then waits for the probe).
 * *more is set when a fallback exists and is up, so that a call that
 * an opening breaker refuses comes back to move.
 */
static struct backend *
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
	chat_init(&j->chat);
	TAILQ_INSERT_TAIL(&p->jobs, j, entry);
	p->njobs++;
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
		job->embed = conf->default_embed;
	bname = job->backend != NULL ? job->backend : conf->default_backend;
	if ((j->be = pgen_backend(j->gen, bname)) == NULL) {
		snprintf(
		    errstr, errlen, "backend: no backend profile of that name");
		return -1;
	}
	j->res->method = xstrdup(method_name((enum method)job->method));

	j->pp.method = (enum method)job->method;
	j->pp.k = job->k;
	j->pp.n = job->n;
	j->pp.tail = job->tail;
	j->pp.instructions = job->instructions;
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

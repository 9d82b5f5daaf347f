/*
 * pipeline_score: what a job does once its calls have ended. Its
 * candidates' probabilities are normalised and filtered, duplicates are
 * dropped in the job and in its dedup_scope, the embeddings backend is
 * asked for vectors when `embed` is on, the diversity scores are made,
 * and one candidate is selected (the eight steps of docs/methods.md). A
 * heavy set is scored on the worker thread, from a copy.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "conf.h"
#include "dedup.h"
#include "diversity.h"
#include "job.h"
#include "log.h"
#include "offload.h"
#include "pipeline.h"
#include "pipeline_int.h"
#include "prob.h"
#include "result.h"
#include "scope.h"
#include "select.h"
#include "stats.h"
#include "tokens.h"
#include "xmalloc.h"

/* Drop candidate i of r (and its probability) in place. */
static void
cands_compact(struct result *r, double *p, const unsigned char *keep)
{
	size_t w = 0;

	for (size_t i = 0; i < r->ncands; i++) {
		if (!keep[i]) {
			free(r->cands[i].text);
			free(r->cands[i].finish_reason);
			continue;
		}
		r->cands[w] = r->cands[i];
		p[w] = p[i];
		w++;
	}
	r->ncands = w;
}

/* The lexical scores of div into the result. */
static void
take_lexical(struct result *r, const struct diversity *div)
{
	r->rouge_l = div->rouge_l;
	for (int i = 0; i < 3; i++)
		r->distinct[i] = div->distinct[i];
	r->classes = div->classes;
}

static void
pjob_on_embeddings(void *arg, const struct backend_reply *rep)
{
	struct pjob *j = arg;
	struct result *r = j->res;

	j->embed_req = NULL;
	if (rep->ok) {
		r->semantic =
		    diversity_semantic(rep->vecs, r->ncands, rep->dim);
		if (!isnan(r->semantic))
			r->vendi =
			    diversity_vendi(rep->vecs, r->ncands, rep->dim);
	}
	if (isnan(r->semantic)) {
		/* The result goes out all the same, without `semantic`. */
		j->p->embed_failures++;
		stats_embedding_failure(j->p->st);
		log_info("%s: embeddings failed, semantic diversity not "
			 "computed: %s",
		    j->tag, rep->ok ? "no usable vectors" : rep->errmsg);
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
		take_lexical(r, &s->div);
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
	struct result *r = j->res;
	uint64_t sid, jh;
	struct tokens tok;
	unsigned char *keep;
	size_t before = r->ncands;

	if (j->job->dedup_scope == NULL || j->scope == NULL || r->ncands == 0)
		return 0;
	sid = scope_id_hash(j->job->dedup_scope, strlen(j->job->dedup_scope));
	jh = scope_job_hash(j->job->id, strlen(j->job->id));
	keep = xcalloc(r->ncands, 1);
	tokens_init(&tok);
	for (size_t i = 0; i < r->ncands; i++) {
		struct scope_key k;
		struct scope_change ch;

		tokens_split(&tok, r->cands[i].text, r->cands[i].len);
		scope_key_make(&k, r->cands[i].text, r->cands[i].len, &tok);
		keep[i] = !scope_check_insert_change(
		    j->scope, sid, jh, &k, j->gen->conf->near_threshold, &ch);
		if (j->journal != NULL)
			scope_journal_add(j->journal, &ch);
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
	take_lexical(r, &div);
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

	if (pjob_dedup_scope(j) > 0)
		div = NULL;
	kept = r->ncands;
	prob_renormalise(j->probs, kept);
	for (size_t i = 0; i < kept; i++)
		r->cands[i].probability = j->probs[i];
	r->selected = kept == 0 ? -1
				: select_pick((enum select_mode)job->select,
				      j->probs, kept, r->prov.seed);
	/* Diversity of what is kept; nil as a whole with no candidates. */
	r->has_diversity = kept > 0;
	if (kept == 0) {
		pjob_scored_finish(j);
		return;
	}
	if (div != NULL) {
		take_lexical(r, div);
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

/*
 * Step 5: which of the total candidates (call-level probabilities q, in
 * reply order) pass min_probability; when fewer than the job's min_keep
 * pass, the min_keep most probable do instead (the first on ties).
 * Returns a malloc'ed flag per candidate.
 */
static unsigned char *
min_probability_pass(const struct job *job, const double *q, size_t total)
{
	unsigned char *pass = xcalloc(total + 1, 1);
	size_t npass = 0, want;

	for (size_t i = 0; i < total; i++) {
		pass[i] = isnan(job->min_probability) ||
		    q[i] >= job->min_probability;
		npass += pass[i];
	}
	if (job->min_keep <= 0 || npass >= (size_t)job->min_keep)
		return pass;
	want = (size_t)job->min_keep < total ? (size_t)job->min_keep : total;
	memset(pass, 0, total);
	/* want picks of the largest left, by a scan each: want <= 1000. */
	for (size_t w = 0; w < want; w++) {
		size_t best = total;

		for (size_t i = 0; i < total; i++)
			if (!pass[i] && (best == total || q[i] > q[best]))
				best = i;
		pass[best] = 1;
	}
	return pass;
}

/* Gather the candidates of every successful call into the result
 * (steps 1 to 5), then dedup them in the job (step 6). */
void
pjob_complete(struct pjob *j)
{
	struct result *r = j->res;
	struct job *job = j->job;
	size_t total = 0, kept = 0, cap = (size_t)j->pp.n, at = 0;
	const char **texts;
	size_t *lens;
	unsigned char *keep, *pass;
	double *p, *q;

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
	/* Steps 1-4 for every candidate of every ok call, in order. */
	q = xcalloc(total + 1, sizeof(*q));
	for (int i = 0; i < j->ncalls; i++) {
		struct pcall *c = &j->calls[i];
		struct reply *rp = &c->reply;
		double *v;

		if (!c->ok)
			continue;
		v = xcalloc(rp->n, sizeof(*v));
		for (size_t k = 0; k < rp->n; k++)
			v[k] = rp->items[k].verbalized;
		if (c->item_finish != NULL) {
			/* Each choice is a call of its own (steps 0-3). */
			for (size_t k = 0; k < rp->n; k++)
				prob_call(&v[k], 1, &q[at + k]);
		} else
			prob_call(v, rp->n, &q[at]);
		/* Step 4: divide by the number of calls planned, each
		 * choice of a call one. */
		for (size_t k = 0; k < rp->n; k++)
			q[at + k] /= j->nplanned;
		at += rp->n;
		free(v);
	}
	pass = min_probability_pass(job, q, total);
	/* Keep what passed, in reply order, at most n. */
	at = 0;
	for (int i = 0; i < j->ncalls; i++) {
		struct pcall *c = &j->calls[i];
		struct reply *rp = &c->reply;

		if (!c->ok)
			continue;
		for (size_t k = 0; k < rp->n; k++, at++) {
			const char *fr = c->item_finish != NULL
			    ? c->item_finish[k]
			    : c->finish_reason;

			if (!pass[at] || kept == cap)
				continue;
			r->cands[kept].text = rp->items[k].text;
			r->cands[kept].len = rp->items[k].len;
			rp->items[k].text = NULL;
			r->cands[kept].verbalized = rp->items[k].verbalized;
			r->cands[kept].turn = i;
			if (fr != NULL)
				r->cands[kept].finish_reason = xstrdup(fr);
			p[kept] = q[at];
			kept++;
		}
	}
	free(pass);
	free(q);
	r->ncands = kept;
	r->has_dedup = 1;
	/* Step 6: duplicates inside the job (exact Jaccard), the first
	 * occurrence kept; heavy sets on the worker thread, with their
	 * lexical scores too when no scope check comes in between. */
	if (score_heavy(j->p, r)) {
		pjob_offload(
		    j, 1, job->dedup_scope == NULL || j->scope == NULL);
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

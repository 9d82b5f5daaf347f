/*
 * pipeline_call: one call (or turn) of a job. It gets the request body
 * from the backend (shared by the calls that ask alike), sends it,
 * takes the parsed reply, turns its text into candidates (on the worker
 * thread when the text is large), and asks again, within the call's one
 * budget of attempts, when the reply cannot be parsed. A conversation's
 * next turn starts when its last one ends. It knows no wire format: the
 * backend's dialect does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backend.h"
#include "blob.h"
#include "chat.h"
#include "conf.h"
#include "job.h"
#include "log.h"
#include "offload.h"
#include "pipeline.h"
#include "pipeline_int.h"
#include "prompt.h"
#include "reply.h"
#include "result.h"
#include "stats.h"
#include "xmalloc.h"

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
 * A reply's candidates, parsed out of its text, or out of the text of
 * each of its choices. Pure, so that a large text (a hundred long
 * candidates is most of a megabyte of JSON) is parsed on the worker
 * thread instead of holding the loop.
 */
struct parse {
	struct pcall *call; /* valid in pcall_parse_done unless cancelled */
	char *copy; /* the texts, owned, when parsed off the loop */
	size_t ntexts; /* the reply's choices */
	const char **texts;
	size_t *lens;
	const char *text; /* texts and lens of a reply of one choice */
	size_t len;
	char **finish; /* several choices: each one's finish reason, owned
			* (entries NULL for nil) */
	enum reply_kind kind;
	size_t asked;
	int failed;
	size_t ndropped; /* choices that did not parse */
	char err[256];
	struct reply reply;
	char **item_finish; /* several choices: per item of reply, owned */
};

/* Parse choice i of pa and append its items to pa->reply; -1 when it
 * does not parse (the first such fault stays in pa->err). */
static int
parse_choice(struct parse *pa, size_t i)
{
	struct reply one;
	char err[200];
	size_t n;

	if (reply_parse(pa->texts[i], pa->lens[i], pa->kind, pa->asked, &one,
		err, sizeof(err)) == -1) {
		if (pa->ndropped++ == 0)
			snprintf(pa->err, sizeof(pa->err), "choice %zu: %s", i,
			    err);
		return -1;
	}
	n = pa->reply.n + one.n;
	pa->reply.items =
	    xreallocarray(pa->reply.items, n, sizeof(*pa->reply.items));
	pa->item_finish =
	    xreallocarray(pa->item_finish, n, sizeof(*pa->item_finish));
	for (size_t k = 0; k < one.n; k++) {
		pa->reply.items[pa->reply.n + k] = one.items[k];
		pa->item_finish[pa->reply.n + k] =
		    pa->finish[i] != NULL ? xstrdup(pa->finish[i]) : NULL;
	}
	pa->reply.n = n;
	/* The items are moved; a direct_cot reasoning is never kept. */
	free(one.items);
	free(one.reasoning);
	return 0;
}

static void
parse_run(void *arg)
{
	struct parse *pa = arg;

	if (pa->ntexts == 1) {
		pa->failed = reply_parse(pa->text, pa->len, pa->kind,
				 pa->asked, &pa->reply, pa->err,
				 sizeof(pa->err)) == -1;
		return;
	}
	/* A choice that does not parse is left out, as one the backend
	 * did not send; the call is asked again only when none parses. */
	for (size_t i = 0; i < pa->ntexts; i++)
		(void)parse_choice(pa, i);
	pa->failed = pa->reply.n == 0;
}

static void
free_strings(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
parse_free(struct parse *pa)
{
	free(pa->copy);
	if (pa->ntexts > 1) {
		free(pa->texts);
		free(pa->lens);
		free_strings(pa->finish, pa->ntexts);
	}
	free_strings(pa->item_finish, pa->reply.n);
	reply_free(&pa->reply);
	free(pa);
}

/* Free c's per-item finish reasons (NULL is a no-op). */
void
pcall_free_item_finish(struct pcall *c)
{
	free_strings(c->item_finish, c->reply.n);
	c->item_finish = NULL;
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

	stats_parse_failure(j->p->st, prof->name, j->res->method,
	    j->job->model != NULL ? j->job->model : prof->model);
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
	if (pa->ndropped > 0)
		log_info("%s: call %d: %zu of %zu choices unparseable, left "
			 "out: %s",
		    j->tag, c->idx, pa->ndropped, pa->ntexts, pa->err);
	pcall_free_item_finish(c);
	reply_free(&c->reply);
	c->reply = pa->reply;
	c->item_finish = pa->item_finish;
	memset(&pa->reply, 0, sizeof(pa->reply));
	pa->item_finish = NULL;
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

/* The texts of pa into one buffer that pa owns, for the worker. */
static void
parse_copy(struct parse *pa)
{
	size_t total = 0, off = 0;

	for (size_t i = 0; i < pa->ntexts; i++)
		total += pa->lens[i] + 1;
	pa->copy = xmalloc(total);
	for (size_t i = 0; i < pa->ntexts; i++) {
		memcpy(pa->copy + off, pa->texts[i], pa->lens[i]);
		pa->copy[off + pa->lens[i]] = '\0';
		pa->texts[i] = pa->copy + off;
		off += pa->lens[i] + 1;
	}
	pa->text = pa->texts[0];
	pa->len = pa->lens[0];
}

/* Parse the candidates of reply rep (valid for this call only): the
 * text of each of its choices. */
static void
pcall_parse(struct pcall *c, const struct chat_reply *rep)
{
	struct pjob *j = c->job;
	struct parse *pa;
	size_t total = 0;

	pa = xcalloc(1, sizeof(*pa));
	pa->call = c;
	pa->ntexts = chat_reply_nchoices(rep);
	pa->text = rep->content;
	pa->len = rep->len;
	pa->texts = &pa->text;
	pa->lens = &pa->len;
	if (pa->ntexts > 1) {
		pa->texts = xcalloc(pa->ntexts, sizeof(*pa->texts));
		pa->lens = xcalloc(pa->ntexts, sizeof(*pa->lens));
		pa->finish = xcalloc(pa->ntexts, sizeof(*pa->finish));
		for (size_t i = 0; i < pa->ntexts; i++) {
			const char *fr;

			chat_reply_choice(
			    rep, i, &pa->texts[i], &pa->lens[i], &fr);
			pa->finish[i] = fr != NULL ? xstrdup(fr) : NULL;
		}
	}
	pa->kind = j->kind;
	pa->asked = (size_t)c->asked;
	for (size_t i = 0; i < pa->ntexts; i++)
		total += pa->lens[i];
	if (total > BACKEND_OFFLOAD_BYTES && j->p->off != NULL) {
		parse_copy(pa);
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
	pjob_add_cost(j, c->be, &rep->chat);
	free(c->finish_reason);
	c->finish_reason = rep->chat.finish_reason != NULL
	    ? xstrdup(rep->chat.finish_reason)
	    : NULL;
	if (chat_reply_nchoices(&rep->chat) < (size_t)c->sent_choices)
		log_debug("%s: call %d: %zu of %d choices came", j->tag,
		    c->idx, chat_reply_nchoices(&rep->chat), c->sent_choices);
	pcall_parse(c, &rep->chat);
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
	int choices;

	/* What this backend can ask for: a fallback may take fewer. */
	choices = pjob_chunk(j->be);
	if (choices > c->choices)
		choices = c->choices;
	c->sent_choices = choices;
	if (!j->conversation && j->body != NULL && j->body_be == j->be &&
	    j->body_asked == c->asked && j->body_choices == choices)
		return blob_ref(j->body);
	j->op.n_choices = choices;
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
	j->body_choices = choices;
	return blob_ref(j->body);
}

/* Send one call (again, on a retry). */
void
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
	c->req = backend_chat(c->be, body, j->op.max_tokens, c->sent_choices,
	    failfast ? BACKEND_FAILFAST : 0, c->attempts, pcall_on_reply, c);
	blob_unref(body);
}

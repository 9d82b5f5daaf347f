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
	pjob_add_cost(j, c->be, &rep->chat);
	free(c->finish_reason);
	c->finish_reason = rep->chat.finish_reason != NULL
	    ? xstrdup(rep->chat.finish_reason)
	    : NULL;
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
	c->req = backend_chat(c->be, body, j->op.max_tokens,
	    failfast ? BACKEND_FAILFAST : 0, c->attempts, pcall_on_reply, c);
	blob_unref(body);
}

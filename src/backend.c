/*
 * backend: concurrency limit, queueing and HTTP retries for one profile,
 * in the dialect its type names (include/backend.h). The dialect builds
 * the bodies and parses the replies; this file knows none of their
 * JSON, only where each goes and which headers it takes. It must not
 * block the loop: a large reply is parsed on the worker thread.
 *
 * A request is in one of four places: the wait queue (no slot yet, or
 * its retry is due and it waits for a slot again), in flight (an HTTP
 * transfer), sleeping on its backoff timer, or its reply being parsed
 * on the worker thread. Only transfers in flight hold a slot of
 * max_inflight, so a backend that is backing off does not keep its slots
 * idle for other requests.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "backend.h"
#include "blob.h"
#include "conf.h"
#include "aimd.h"
#include "gradient.h"
#include "breaker.h"
#include "dialect.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "offload.h"
#include "ratelimit.h"
#include "retry.h"
#include "stats.h"
#include "xmalloc.h"

#define BACKOFF_BASE_MS 250
#define BACKOFF_CAP_MS 30000

enum breq_state {
	BREQ_WAITING = 0,
	BREQ_INFLIGHT,
	BREQ_SLEEPING,
	BREQ_FAILING, /* refused by the open breaker, answered next */
	BREQ_PARSING /* its reply on the worker thread */
};

struct backend_req {
	struct backend *b;
	enum breq_state state;
	char *url;
	struct blob *body; /* referenced */
	int embed; /* an embeddings request, of nembed inputs */
	size_t nembed;
	int choices; /* a chat request: the choices it asks for (n) */
	unsigned attempts;
	unsigned used; /* attempts spent on the call before this request */
	int flags;
	long est; /* tokens the budget is charged per attempt */
	uint64_t sent_at;
	size_t sent_inflight; /* requests in flight when sent, itself too */
	struct http_req *http;
	struct offload_task *task; /* BREQ_PARSING */
	struct loop_timer *timer;
	backend_cb cb;
	void *arg;
	TAILQ_ENTRY(backend_req) entry; /* in waiting or all */
};

TAILQ_HEAD(backend_reqs, backend_req);

struct backend_shared {
	struct loop *loop;
	struct http *http;
	struct offload *off; /* borrowed, or NULL */
};

struct backend {
	struct loop *loop;
	struct http *http;
	struct offload *off; /* borrowed, or NULL: parse on the loop */
	const struct conf_backend *p;
	const struct dialect *d;
	char *base; /* url without trailing '/' */
	char *auth; /* the dialect's key header with the key, or NULL */
	const char **headers; /* NULL-terminated */
	struct backend_reqs waiting;
	size_t nwaiting;
	size_t inflight;
	size_t sleeping;
	uint64_t rng;
	struct stats *st; /* borrowed; NULL: not counted */
	struct ratelimit rl;
	int conc; /* enum conf_concurrency */
	struct aimd aimd;
	struct gradient grad;
	struct breaker br;
	struct loop_timer *wake; /* dispatch again when a budget frees */
	struct backend_reqs failing; /* refused, to be answered */
	struct loop_timer *fail_timer;
};

static void backend_dispatch(struct backend *b);

/*
 * The concurrency limit, by the profile's `concurrency`: a limiter's
 * (aimd.h, gradient.h), or max_inflight itself ("fixed"). The answers below teach
 * it; a fixed limit learns nothing.
 */
static int
flow_limit(const struct backend *b)
{
	if (b->conc == CONF_CONC_FIXED)
		return b->p->max_inflight;
	if (b->conc == CONF_CONC_GRADIENT)
		return gradient_limit(&b->grad);
	return aimd_limit(&b->aimd);
}

/* A success after latency_ms, sent with inflight in flight. */
static void
flow_success(struct backend *b, double latency_ms, size_t inflight)
{
	if (b->conc == CONF_CONC_AIMD)
		aimd_success(&b->aimd, latency_ms, inflight);
	else if (b->conc == CONF_CONC_GRADIENT)
		gradient_success(&b->grad, latency_ms, inflight);
}

/* A 429 or a timeout: overload. */
static void
flow_overload(struct backend *b, size_t inflight)
{
	if (b->conc == CONF_CONC_AIMD)
		aimd_overload(&b->aimd, inflight);
	else if (b->conc == CONF_CONC_GRADIENT)
		gradient_overload(&b->grad);
}

/* Any other answer. */
static void
flow_other(struct backend *b)
{
	if (b->conc == CONF_CONC_AIMD)
		aimd_other(&b->aimd);
	else if (b->conc == CONF_CONC_GRADIENT)
		gradient_other(&b->grad);
}
static void backend_on_wake(void *arg);
static void backend_on_fail(void *arg);

struct backend_shared *
backend_shared_new(struct loop *loop, struct offload *off)
{
	struct backend_shared *s = xcalloc(1, sizeof(*s));

	if ((s->http = http_new(loop)) == NULL) {
		free(s);
		return NULL;
	}
	s->loop = loop;
	s->off = off;
	return s;
}

void
backend_shared_free(struct backend_shared *s)
{
	if (s == NULL)
		return;
	http_free(s->http);
	free(s);
}

/* Content-Type, the dialect's own headers, then the key (if any). */
static void
backend_headers(struct backend *b)
{
	size_t n = 0, i = 0;

	while (b->d->headers[n] != NULL)
		n++;
	b->headers = xcalloc(n + 3, sizeof(*b->headers));
	b->headers[i++] = "Content-Type: application/json";
	for (size_t k = 0; k < n; k++)
		b->headers[i++] = b->d->headers[k];
	if (b->p->api_key != NULL && b->p->api_key[0] != '\0') {
		b->auth = xasprintf("%s%s", b->d->key_header, b->p->api_key);
		b->headers[i++] = b->auth;
	}
	b->headers[i] = NULL;
}

struct backend *
backend_new(struct backend_shared *s, const struct conf_backend *p,
    char *errstr, size_t errlen)
{
	const struct dialect *d;
	struct backend *b;
	size_t ul;

	if ((d = dialect_find(p->type)) == NULL) {
		snprintf(errstr, errlen, "backend %s: unsupported type %s",
		    p->name, p->type);
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	b->loop = s->loop;
	b->http = s->http;
	b->off = s->off;
	b->p = p;
	b->d = d;
	ul = strlen(p->url);
	while (ul > 0 && p->url[ul - 1] == '/')
		ul--;
	b->base = xstrndup(p->url, ul);
	backend_headers(b);
	TAILQ_INIT(&b->waiting);
	TAILQ_INIT(&b->failing);
	b->rng = loop_clock_ms() ^ (uint64_t)(uintptr_t)b;
	ratelimit_init(&b->rl, p->rpm, p->tpm, loop_clock_ms());
	/* conf.c has checked the name. */
	b->conc = conf_concurrency(p->concurrency);
	aimd_init(&b->aimd, p->max_inflight);
	gradient_init(&b->grad, p->max_inflight);
	breaker_init(&b->br);
	b->wake = loop_timer_new(b->loop, backend_on_wake, b);
	b->fail_timer = loop_timer_new(b->loop, backend_on_fail, b);
	return b;
}

static void
breq_free(struct backend_req *r)
{
	loop_timer_free(r->timer);
	free(r->url);
	blob_unref(r->body);
	free(r);
}

void
backend_cancel(struct backend_req *r)
{
	struct backend *b;

	if (r == NULL)
		return;
	b = r->b;
	switch (r->state) {
	case BREQ_WAITING:
		TAILQ_REMOVE(&b->waiting, r, entry);
		b->nwaiting--;
		break;
	case BREQ_INFLIGHT:
		http_cancel(r->http);
		b->inflight--;
		break;
	case BREQ_SLEEPING:
		b->sleeping--;
		break;
	case BREQ_FAILING:
		TAILQ_REMOVE(&b->failing, r, entry);
		break;
	case BREQ_PARSING:
		/* The task frees what it holds when it comes back. */
		offload_cancel(r->task);
		break;
	}
	if (r->state == BREQ_INFLIGHT && b->br.state == BREAKER_HALF_OPEN)
		breaker_abandon(&b->br);
	breq_free(r);
	backend_dispatch(b);
}

void
backend_free(struct backend *b)
{
	struct backend_req *r;

	if (b == NULL)
		return;
	/* Requests in flight, sleeping or parsed belong to their callers, who
	 * cancel them before freeing the backend; waiting ones too. */
	while ((r = TAILQ_FIRST(&b->waiting)) != NULL) {
		TAILQ_REMOVE(&b->waiting, r, entry);
		breq_free(r);
	}
	while ((r = TAILQ_FIRST(&b->failing)) != NULL) {
		TAILQ_REMOVE(&b->failing, r, entry);
		breq_free(r);
	}
	loop_timer_free(b->wake);
	loop_timer_free(b->fail_timer);
	ratelimit_free(&b->rl);
	if (b->auth != NULL) {
		/* The key does not linger in freed memory. */
		memset(b->auth, 0, strlen(b->auth));
		free(b->auth);
	}
	free(b->headers);
	free(b->base);
	free(b);
}

const char *
backend_name(const struct backend *b)
{
	return b->p->name;
}

/* Count this backend's requests in st (borrowed; NULL stops counting). */
void
backend_set_stats(struct backend *b, struct stats *st)
{
	b->st = st;
	stats_backend(st, b->p->name, flow_limit(b));
}

const struct conf_backend *
backend_profile(const struct backend *b)
{
	return b->p;
}

void
backend_chat_sent(const struct backend *b, const struct chat_params *p,
    struct chat_sent *out)
{
	b->d->chat_sent(p, out);
}

int
backend_available(const struct backend *b)
{
	return !breaker_is_open(&b->br, loop_clock_ms());
}

int
backend_limit(const struct backend *b)
{
	return flow_limit(b);
}

size_t
backend_inflight(const struct backend *b)
{
	return b->inflight;
}

size_t
backend_waiting(const struct backend *b)
{
	return b->nwaiting + b->sleeping;
}

static void
breq_finish(struct backend_req *r, struct backend_reply *rep)
{
	backend_cb cb = r->cb;
	void *arg = r->arg;

	rep->attempts = r->attempts;
	breq_free(r);
	cb(arg, rep);
}

static void
breq_wake(void *arg)
{
	struct backend_req *r = arg;
	struct backend *b = r->b;

	b->sleeping--;
	r->state = BREQ_WAITING;
	/* A retry goes to the front: it has waited longest. */
	TAILQ_INSERT_HEAD(&b->waiting, r, entry);
	b->nwaiting++;
	backend_dispatch(b);
}

static int
backend_curl_retriable(int cc)
{
	switch ((CURLcode)cc) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* Count one HTTP attempt: its HTTP status, or why none came. */
static void
breq_count(struct backend *b, const struct http_resp *resp)
{
	char code[32];

	if (b->st == NULL)
		return;
	if (resp->status > 0)
		snprintf(code, sizeof(code), "%ld", resp->status);
	else if (resp->timed_out || resp->stalled)
		snprintf(code, sizeof(code), "timeout");
	else if (resp->tls_failed)
		snprintf(code, sizeof(code), "tls");
	else
		snprintf(code, sizeof(code), "connect");
	stats_backend_request(
	    b->st, b->p->name, code, (double)resp->elapsed_ms / 1000.0);
}

/* Publish the limit and breaker state when they change. */
static void
backend_publish(struct backend *b)
{
	stats_backend_state(b->st, b->p->name, flow_limit(b),
	    b->br.state == BREAKER_OPEN);
}

/*
 * What one attempt teaches the flow control: the breaker counts
 * transport failures, timeouts and 5xx (the backend is down or broken),
 * and closes on any answer below 500 other than 429 (it is up); the
 * concurrency limit backs off on 429 and timeouts (overload) and learns
 * latency from successes; rate-limit headers close the budget until
 * their reset when nothing is left.
 */
static void
breq_learn(
    struct backend *b, struct backend_req *r, const struct http_resp *resp)
{
	uint64_t now = loop_clock_ms();
	int lim = flow_limit(b), open = b->br.state;
	long reset;

	if (resp->timed_out || resp->stalled) {
		/* A reply that stopped mid-body is a timeout too. */
		flow_overload(b, r->sent_inflight);
		breaker_timeout(&b->br, now);
	} else if (resp->status == 429) {
		/* Its Retry-After delays this request's retry (breq_on_http),
		 * not the profile: a backend out of quota says so in its
		 * rate-limit headers, below. */
		flow_overload(b, r->sent_inflight);
		breaker_success(&b->br);
	} else if (resp->status == 0 || resp->status >= 500) {
		flow_other(b);
		breaker_failure(&b->br, now);
	} else {
		breaker_success(&b->br);
		if (resp->status >= 200 && resp->status < 300)
			flow_success(b, (double)(now - r->sent_at),
			    r->sent_inflight);
		else
			flow_other(b);
	}
	/* "Nothing left" from the backend's own headers. */
	if (strcmp(resp->rl_requests, "0") == 0 &&
	    (reset = retry_reset_ms(
		 resp->rl_reset_requests, (long long)time(NULL))) > 0)
		ratelimit_close(&b->rl, now, (uint64_t)reset);
	if (strcmp(resp->rl_tokens, "0") == 0 &&
	    (reset = retry_reset_ms(
		 resp->rl_reset_tokens, (long long)time(NULL))) > 0)
		ratelimit_close(&b->rl, now, (uint64_t)reset);
	if (flow_limit(b) != lim || (int)b->br.state != open) {
		if (b->br.state == BREAKER_OPEN && open != BREAKER_OPEN)
			log_warnx("backend %s: circuit open after %s; retrying "
				  "in %llu ms",
			    b->p->name,
			    resp->timed_out    ? "a timeout"
				: resp->status ? "server errors"
					       : "connection failures",
			    (unsigned long long)b->br.cooldown_ms);
		else if (b->br.state == BREAKER_CLOSED &&
		    open != BREAKER_CLOSED)
			log_notice("backend %s: circuit closed", b->p->name);
		if (flow_limit(b) != lim)
			log_debug("backend %s: concurrency limit %d -> %d",
			    b->p->name, lim, flow_limit(b));
		backend_publish(b);
	}
}

/*
 * A reply body's parse in the request's dialect: on the worker thread
 * for a large one, so it holds copies and touches nothing else (the
 * request may be cancelled meanwhile).
 */
struct bparse {
	struct backend_req *r; /* valid in bparse_done unless cancelled */
	const struct dialect *d;
	int embed;
	size_t nembed;
	int choices;
	char *copy; /* the body, owned, when parsed off the loop */
	const char *body;
	size_t len;
	long status;
	int rc;
	char err[256];
	struct chat_reply chat;
	float *vecs;
	size_t dim;
};

static void
bparse_run(void *arg)
{
	struct bparse *pa = arg;

	if (pa->embed)
		pa->rc = pa->d->embed_parse(pa->body, pa->len, pa->nembed,
		    &pa->vecs, &pa->dim, pa->err, sizeof(pa->err));
	else if (pa->choices > 1 && pa->d->chat_parse_choices != NULL)
		pa->rc = pa->d->chat_parse_choices(pa->body, pa->len,
		    (size_t)pa->choices, &pa->chat, pa->err, sizeof(pa->err));
	else
		pa->rc = pa->d->chat_parse(
		    pa->body, pa->len, &pa->chat, pa->err, sizeof(pa->err));
}

static void
bparse_free(struct bparse *pa)
{
	free(pa->copy);
	chat_reply_free(&pa->chat);
	free(pa->vecs);
	free(pa);
}

/* Answer r with its parsed reply (on the loop). */
static void
breq_parsed(struct backend_req *r, struct bparse *pa)
{
	struct backend *b = r->b;
	struct backend_reply rep;

	memset(&rep, 0, sizeof(rep));
	rep.status = pa->status;
	if (pa->rc == -1) {
		rep.code = ERR_BACKEND;
		rep.unparsed = 1;
		snprintf(rep.errmsg, sizeof(rep.errmsg), "backend %s: %s",
		    b->p->name, pa->err);
		breq_finish(r, &rep);
		return;
	}
	rep.ok = 1;
	rep.chat = pa->chat;
	rep.vecs = pa->vecs;
	rep.dim = pa->dim;
	/* The budget was charged an estimate; the reply says what it was. */
	if (pa->chat.prompt_tokens || pa->chat.completion_tokens)
		ratelimit_correct(&b->rl, r->est,
		    (long)(pa->chat.prompt_tokens +
			pa->chat.completion_tokens));
	breq_finish(r, &rep);
}

static void
bparse_done(void *arg, int cancelled)
{
	struct bparse *pa = arg;

	if (!cancelled) {
		pa->r->task = NULL;
		breq_parsed(pa->r, pa);
	}
	bparse_free(pa);
}

/* Parse a 2xx reply (body valid for this call only) and answer r. */
static void
breq_parse(struct backend_req *r, const char *body, size_t len, long status)
{
	struct bparse *pa = xcalloc(1, sizeof(*pa));

	pa->r = r;
	pa->d = r->b->d;
	pa->embed = r->embed;
	pa->nembed = r->nembed;
	pa->choices = r->choices;
	pa->body = body;
	pa->len = len;
	pa->status = status;
	if (len > BACKEND_OFFLOAD_BYTES && r->b->off != NULL) {
		pa->copy = xmalloc(len + 1);
		memcpy(pa->copy, body, len);
		pa->copy[len] = '\0';
		pa->body = pa->copy;
		r->state = BREQ_PARSING;
		r->task =
		    offload_submit(r->b->off, bparse_run, bparse_done, pa);
		return;
	}
	bparse_run(pa);
	breq_parsed(r, pa);
	bparse_free(pa);
}

static void
breq_on_http(void *arg, const struct http_resp *resp)
{
	struct backend_req *r = arg;
	struct backend *b = r->b;
	const struct conf_backend *p = b->p;
	struct backend_reply rep;
	int retry = 0;
	uint64_t delay;

	r->http = NULL;
	b->inflight--;
	breq_count(b, resp);
	breq_learn(b, r, resp);
	memset(&rep, 0, sizeof(rep));
	rep.status = resp->status;
	if (resp->too_large &&
	    !(resp->status == 429 || resp->status == 408 ||
		resp->status >= 500)) {
		rep.code = ERR_TOO_LARGE;
		snprintf(rep.errmsg, sizeof(rep.errmsg),
		    "backend %s: reply larger than max_reply_bytes (%ld)",
		    p->name, p->max_reply_bytes);
	} else if (resp->curl_code != 0) {
		rep.code = resp->timed_out ? ERR_TIMEOUT : ERR_BACKEND;
		snprintf(rep.errmsg, sizeof(rep.errmsg), "backend %s: %s",
		    p->name,
		    resp->timed_out ? "request timed out" : resp->error);
		/* Only transport failures heal by retrying; a bad URL, an
		 * unsupported protocol or a TLS error does not. */
		retry = backend_curl_retriable(resp->curl_code);
	} else if (resp->status >= 200 && resp->status < 300) {
		/* Dispatch first, as below. */
		backend_dispatch(b);
		breq_parse(r, resp->body, resp->len, resp->status);
		return;
	} else {
		rep.code = resp->status == 429 ? ERR_RATE_LIMITED : ERR_BACKEND;
		snprintf(rep.errmsg, sizeof(rep.errmsg), "backend %s: HTTP %ld",
		    p->name, resp->status);
		retry = resp->status == 429 || resp->status == 408 ||
		    resp->status >= 500;
	}
	if (!rep.ok && retry &&
	    r->used + r->attempts <= (unsigned)p->max_retries) {
		delay = retry_backoff(r->used + r->attempts, BACKOFF_BASE_MS,
		    BACKOFF_CAP_MS, retry_after_ms(resp->retry_after),
		    (uint64_t)p->max_retry_after_ms, &b->rng);
		log_debug("backend %s: attempt %u failed (%s), retrying in "
			  "%llu ms",
		    p->name, r->used + r->attempts, rep.errmsg,
		    (unsigned long long)delay);
		r->state = BREQ_SLEEPING;
		b->sleeping++;
		if (r->timer == NULL)
			r->timer = loop_timer_new(b->loop, breq_wake, r);
		loop_timer_set(r->timer, delay);
		backend_dispatch(b);
		return;
	}
	if (!rep.ok && r->used + r->attempts > 1) {
		size_t l = strlen(rep.errmsg);

		snprintf(rep.errmsg + l, sizeof(rep.errmsg) - l,
		    " after %u attempts", r->used + r->attempts);
	}
	/* Dispatch first: the callback may end the last job of a retired
	 * config generation, which frees this backend. */
	backend_dispatch(b);
	breq_finish(r, &rep);
}

static void
backend_on_wake(void *arg)
{
	backend_dispatch(arg);
}

/* Answer the requests the open breaker refused (from a timer, so that
 * their callbacks never run inside a dispatch). */
static void
backend_on_fail(void *arg)
{
	struct backend *b = arg;
	struct backend_req *r;

	while ((r = TAILQ_FIRST(&b->failing)) != NULL) {
		struct backend_reply rep;

		TAILQ_REMOVE(&b->failing, r, entry);
		memset(&rep, 0, sizeof(rep));
		rep.code = ERR_BACKEND;
		rep.circuit_open = 1;
		snprintf(rep.errmsg, sizeof(rep.errmsg),
		    "backend %s: circuit open", b->p->name);
		breq_finish(r, &rep);
	}
}

/* Move the waiting fail-fast requests to `failing`, answered (as
 * circuit_open) from a timer so that no callback runs in a dispatch. */
static void
backend_sweep_failfast(struct backend *b)
{
	struct backend_req *n, *q;
	int moved = 0;

	for (q = TAILQ_FIRST(&b->waiting); q != NULL; q = n) {
		n = TAILQ_NEXT(q, entry);
		if (!(q->flags & BACKEND_FAILFAST))
			continue;
		TAILQ_REMOVE(&b->waiting, q, entry);
		b->nwaiting--;
		q->state = BREQ_FAILING;
		TAILQ_INSERT_TAIL(&b->failing, q, entry);
		moved = 1;
	}
	if (moved)
		loop_timer_set(b->fail_timer, 0);
}

/*
 * Send what may go now: within the concurrency limit, the budgets and
 * the breaker. When a budget or the breaker holds the queue, the wake
 * timer dispatches again when it frees.
 */
static void
backend_dispatch(struct backend *b)
{
	struct backend_req *r;
	struct http_opts o;
	uint64_t now = loop_clock_ms(), wait;
	int limit = flow_limit(b);

	if (limit > b->p->max_inflight)
		limit = b->p->max_inflight;
	/* Open breaker first: fail-fast requests move to their fallback at
	 * once, whether or not a slot or budget is free here. */
	if (!TAILQ_EMPTY(&b->waiting) && breaker_is_open(&b->br, now))
		backend_sweep_failfast(b);
	while (b->inflight < (size_t)limit &&
	    (r = TAILQ_FIRST(&b->waiting)) != NULL) {
		if ((wait = ratelimit_wait_ms(&b->rl, now, r->est)) > 0) {
			if (!loop_timer_armed(b->wake))
				loop_timer_set(b->wake, wait);
			break;
		}
		if (!breaker_allow(&b->br, now)) {
			/* Open: fail-fast requests go to their fallback; the
			 * rest wait for the probe. */
			backend_sweep_failfast(b);
			wait = breaker_wait_ms(&b->br, now);
			if (!loop_timer_armed(b->wake))
				loop_timer_set(b->wake, wait ? wait : 100);
			break;
		}
		TAILQ_REMOVE(&b->waiting, r, entry);
		b->nwaiting--;
		ratelimit_take(&b->rl, now, r->est);
		memset(&o, 0, sizeof(o));
		o.url = r->url;
		o.body = r->body;
		o.headers = b->headers;
		o.timeout_ms = b->p->timeout_ms;
		o.max_body = (size_t)b->p->max_reply_bytes;
		o.ca_file = b->p->ca_file;
		r->attempts++;
		r->state = BREQ_INFLIGHT;
		b->inflight++;
		r->sent_at = now;
		r->sent_inflight = b->inflight;
		r->http = http_post(b->http, &o, breq_on_http, r);
	}
}

/* A request for path, not yet queued. */
static struct backend_req *
breq_new(struct backend *b, const char *path, struct blob *body,
    long max_tokens, int flags, unsigned used, backend_cb cb, void *arg)
{
	struct backend_req *r;

	r = xcalloc(1, sizeof(*r));
	r->b = b;
	r->used = used;
	r->url = xasprintf("%s%s", b->base, path);
	r->body = blob_ref(body);
	r->flags = flags;
	r->est = ratelimit_estimate(body->len, max_tokens);
	r->cb = cb;
	r->arg = arg;
	return r;
}

static void
breq_queue(struct backend_req *r)
{
	struct backend *b = r->b;

	r->state = BREQ_WAITING;
	TAILQ_INSERT_TAIL(&b->waiting, r, entry);
	b->nwaiting++;
	backend_dispatch(b);
}

struct blob *
backend_chat_body(
    const struct backend *b, const struct chat *c, const struct chat_params *p)
{
	size_t len;
	char *data;

	/* Two steps: len is set by the request builder. */
	data = b->d->chat_request(c, p, &len);
	return blob_own(data, len);
}

struct backend_req *
backend_chat(struct backend *b, struct blob *body, long max_tokens,
    int choices, int flags, unsigned used, backend_cb cb, void *arg)
{
	struct backend_req *r;

	if (choices < 1 || b->d->chat_parse_choices == NULL)
		choices = 1;
	/* Each choice may take max_tokens; the prompt is counted once. */
	r = breq_new(b, b->d->chat_path, body, max_tokens * choices, flags,
	    used, cb, arg);
	r->choices = choices;
	breq_queue(r);
	return r;
}

struct backend_req *
backend_embed(struct backend *b, const char *const *texts, const size_t *lens,
    size_t n, backend_cb cb, void *arg)
{
	struct backend_req *r;
	struct blob *body;
	size_t len;
	char *data;

	if (b->d->embed_path == NULL)
		fatalx("backend %s: type %s has no embeddings", b->p->name,
		    b->d->name);
	data = b->d->embed_request(b->p->model, texts, lens, n, &len);
	body = blob_own(data, len);
	r = breq_new(b, b->d->embed_path, body, 0, 0, 0, cb, arg);
	blob_unref(body);
	r->embed = 1;
	r->nembed = n;
	breq_queue(r);
	return r;
}

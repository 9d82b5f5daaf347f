/*
 * fakebackend: a fast fake OpenAI-compatible chat-completions server for
 * the throughput, Little's-law and soak benchmarks (tests/bench/bench.py).
 *
 * tests/fakes/fake_model.py is the scriptable fake of the integration tests;
 * in Python it would be the bottleneck of a benchmark. This one is a
 * single-threaded epoll HTTP/1.1 server, so that at a few thousand
 * requests a second it costs a small fraction of a core.
 *
 *   fakebackend [--port N] [--latency-ms N] [--chaos] [--seed N]
 *               [--parent-pid PID] [--words N] [--vocab N]
 *               [--batch B [--step-ms T0] [--step-per-seq-ms C]
 *                [--reply-tokens N|max]]
 *
 * POST /v1/chat/completions (and /chat/completions): a chat completion
 * whose content is a verbalized-sampling reply,
 * {"responses": [{"text": ..., "probability": ...}, ...]}, with k items:
 * the largest "maxItems" in the request body, else the largest number
 * written before "responses" ("Generate 5 responses"), else 5 (1..100).
 * Texts vary with a counter, so that dedup never drops them; "usage" is
 * filled in. A request with "n" (1..128) gets n such choices, the
 * prompt counted once in usage and the completions summed. GET /stats: counters as JSON; POST /reset clears them.
 *
 * --latency-ms N holds every answer N ms (a timer heap, no sleeping).
 * --words N makes each text N words long; --vocab N draws them from N
 * synthetic words ("w0" .. "wN-1") instead of 64 English ones, so that
 * long texts are distinct sets (the scoring benchmark's worst case).
 * --chaos is the soak's mix: 30% 500, 10% 429 with Retry-After: 1, 5%
 * never answered (the client's timeout fires), 5% a 200 whose body is
 * malformed JSON, the rest good.
 *
 * --batch B models a batching model server instead of a fixed latency
 * (batchmodel.h): up to B sequences decode together, a step with b of
 * them takes T0 + C * b ms (default 15 + 0.25 b, so 15..31 ms at B = 64,
 * as a vLLM server on one GPU), a reply needs N steps (--reply-tokens,
 * default 20; "max": the request's max_tokens, else 20), and requests
 * beyond B wait in a FIFO queue for a free slot at a step boundary. A
 * request whose connection closes keeps decoding (its answer is
 * dropped). /stats then adds "batch": throughput, mean batch, mean and
 * peak queue, latency percentiles (arrival to answer). Exclusive with
 * --latency-ms and --chaos.
 *
 * HTTP: keep-alive, Content-Length bodies, "Expect: 100-continue"
 * answered, no chunked request bodies (rejected with 411), pipelined
 * requests answered in order. Binds 127.0.0.1 only and prints
 * "PORT n" once listening. Standalone: gcc -O2 -o fakebackend
 * fakebackend.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "batchmodel.h"

#define MAX_REQ (4 << 20) /* request head + body cap */
#define MAX_EVENTS 256

enum outcome { OUT_OK = 0, OUT_500, OUT_429, OUT_HANG, OUT_MALFORMED };

struct buf {
	char *p;
	size_t len, cap;
};

struct conn {
	int fd;
	unsigned gen;
	struct buf in;
	struct buf out;
	size_t outoff;
	int waiting; /* a response is pending in the timer heap */
	int hanging; /* this request is never answered */
	int close_after;
	int want_out; /* EPOLLOUT registered */
	struct buf pending; /* the response held until its timer fires */
	int pending_close;
	int continued; /* "100 Continue" sent for the request being read */
};

struct timer {
	uint64_t due_us;
	int fd;
	unsigned gen;
};

static struct conn **conns;
static size_t nconns_cap;
static int epfd;
static long latency_ms;
static int chaos;
static int nwords = 24;
static unsigned vocab = 0; /* 0: the 64 words below */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t counter;
static int batching; /* --batch: the engine below answers */
static struct bmodel engine;
static double step_ms = 15, step_per_seq_ms = 0.25;
static long reply_tokens = 20; /* 0: the request's max_tokens */

static struct timer *heap;
static size_t heap_len, heap_cap;

/* Counters for /stats. */
static struct {
	uint64_t requests, ok, s500, s429, hang, malformed, other;
	uint64_t accepted, closed;
	long open, max_open;
	long inflight, max_inflight; /* requests received, not yet answered */
	double inflight_integral_us; /* in-flight x time, for Little's law */
	uint64_t t_last_us, t_reset_us;
} st;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t
rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (q == NULL) {
		perror("fakebackend: realloc");
		exit(2);
	}
	return q;
}

static void
buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t c = b->cap ? b->cap : 1024;
	while (c < b->len + extra + 1)
		c *= 2;
	b->p = xrealloc(b->p, c);
	b->cap = c;
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_printf(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	buf_reserve(b, 256);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- in-flight accounting (time integral for Little's law) ---------- */

static void
inflight_add(long d)
{
	uint64_t t = now_us();

	if (st.t_last_us != 0)
		st.inflight_integral_us +=
		    (double)st.inflight * (double)(t - st.t_last_us);
	st.t_last_us = t;
	st.inflight += d;
	if (st.inflight > st.max_inflight)
		st.max_inflight = st.inflight;
}

/* ---- timer heap ----------------------------------------------------- */

static void
heap_push(struct timer t)
{
	size_t i;

	if (heap_len == heap_cap) {
		heap_cap = heap_cap ? heap_cap * 2 : 1024;
		heap = xrealloc(heap, heap_cap * sizeof(*heap));
	}
	i = heap_len++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (heap[p].due_us <= t.due_us)
			break;
		heap[i] = heap[p];
		i = p;
	}
	heap[i] = t;
}

static struct timer
heap_pop(void)
{
	struct timer top = heap[0], last = heap[--heap_len];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t mv = last.due_us;
		if (l < heap_len && heap[l].due_us < mv) {
			m = l;
			mv = heap[l].due_us;
		}
		if (r < heap_len && heap[r].due_us < mv)
			m = r;
		if (m == i)
			break;
		heap[i] = heap[m];
		i = m;
	}
	if (heap_len > 0)
		heap[i] = last;
	return top;
}

/* ---- connections ---------------------------------------------------- */

static void
conn_close(struct conn *c)
{
	if (c->waiting)
		inflight_add(-1);
	if (c->hanging)
		inflight_add(-1);
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	conns[c->fd] = NULL;
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->pending);
	st.closed++;
	st.open--;
	free(c);
}

static void
conn_events(struct conn *c)
{
	struct epoll_event ev = {0};
	int want = c->out.len > c->outoff;

	if (want == c->want_out)
		return;
	ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
	ev.data.fd = c->fd;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = want;
}

/* Write what is buffered; 0, or -1 when the connection was closed. */
static int
conn_flush(struct conn *c)
{
	while (c->outoff < c->out.len) {
		ssize_t n =
		    write(c->fd, c->out.p + c->outoff, c->out.len - c->outoff);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(c);
			return -1;
		}
		c->outoff += (size_t)n;
	}
	if (c->outoff == c->out.len) {
		c->out.len = 0;
		c->outoff = 0;
		if (c->close_after) {
			conn_close(c);
			return -1;
		}
	}
	conn_events(c);
	return 0;
}

/* ---- request handling ----------------------------------------------- */

/* The largest number after "maxItems", else before "responses", else 5. */
static int
guess_k(const char *body, size_t len)
{
	const char *p, *end = body + len;
	long best = 0;

	for (p = body; (p = memmem(p, (size_t)(end - p), "maxItems", 8));
	     p += 8) {
		const char *q = p + 8;
		while (q < end &&
		    (*q == '"' || *q == ':' || *q == ' ' || *q == '\\'))
			q++;
		long v = 0;
		int any = 0;
		while (q < end && *q >= '0' && *q <= '9' && v < 100000) {
			v = v * 10 + (*q++ - '0');
			any = 1;
		}
		if (any && v > best)
			best = v;
	}
	if (best == 0) {
		for (p = body;
		     (p = memmem(p, (size_t)(end - p), "responses", 9));
		     p += 9) {
			const char *q = p;
			while (q > body && q[-1] == ' ')
				q--;
			const char *e = q;
			while (q > body && q[-1] >= '0' && q[-1] <= '9' &&
			    e - q < 4)
				q--;
			if (q == e)
				continue;
			long v = strtol(q, NULL, 10);
			if (v > best)
				best = v;
		}
	}
	if (best <= 0)
		best = 5;
	if (best > 100)
		best = 100;
	return (int)best;
}

/* The request's "max_tokens", or 0 when it has none. */
static long
request_max_tokens(const char *body, size_t len)
{
	const char *p = memmem(body, len, "\"max_tokens\"", 12);
	const char *end = body + len;
	long v = 0;

	if (p == NULL)
		return 0;
	for (p += 12; p < end && (*p == ' ' || *p == ':'); p++)
		;
	while (p < end && *p >= '0' && *p <= '9' && v < 1000000)
		v = v * 10 + (*p++ - '0');
	return v;
}

static const char *const words[64] = {"sea", "salt", "tide", "moon", "harbor",
    "gull", "wave", "foam", "amber", "lantern", "quiet", "storm", "drift",
    "coral", "shell", "night", "morning", "silver", "anchor", "rope", "sail",
    "wind", "island", "reef", "blue", "deep", "echo", "shore", "stone", "sand",
    "light", "house", "keeper", "fog", "horn", "river", "mouth", "ocean",
    "wild", "slow", "green", "glass", "bottle", "letter", "far", "home",
    "return", "dream", "whale", "song", "ember", "ash", "cold", "warm",
    "current", "north", "south", "star", "map", "ink", "paper", "boat", "oar",
    "dawn"};

/* The choices a request asks for: its "n" (1..128), else 1. A key "n"
 * can only be the request's own: inside a string its quotes are
 * escaped. */
static int
guess_n(const char *body, size_t len)
{
	const char *p = memmem(body, len, "\"n\":", 4);
	long v;

	if (p == NULL)
		return 1;
	v = strtol(p + 4, NULL, 10);
	return v < 1 ? 1 : v > 128 ? 128 : (int)v;
}

/* The content of one reply with k responses, a new id's, escaped as a
 * JSON string's inside; *ntok gets its tokens. */
static void
reply_content(struct buf *content, int k, int *ntok)
{
	uint64_t id = ++counter;
	double probs[100], sum = 0;
	int i;

	for (i = 0; i < k; i++) {
		probs[i] = 1.0 + (double)(rng() % 1000) / 250.0;
		sum += probs[i];
	}
	buf_add(content, "{\\\"responses\\\": [", 17);
	for (i = 0; i < k; i++) {
		uint64_t s = id * 1000003u + (uint64_t)i * 7919u + 1;
		buf_printf(content,
		    "%s{\\\"text\\\": \\\"Reply %llu.%d:", i ? ", " : "",
		    (unsigned long long)id, i);
		for (int w = 0; w < nwords; w++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			if (vocab > 0)
				buf_printf(
				    content, " w%u", (unsigned)(s % vocab));
			else
				buf_printf(content, " %s", words[s & 63]);
		}
		*ntok += nwords + 3;
		buf_printf(content, ".\\\", \\\"probability\\\": %.3f}",
		    probs[i] / sum);
	}
	buf_add(content, "]}", 2);
	*ntok += 8 * k;
}

/* One chat completion of nchoices choices with k responses each,
 * appended to b as a body: the prompt counted once in usage, the
 * completions summed. */
static void
completion_body(struct buf *b, int k, int nchoices, int malformed)
{
	struct buf content = {0};
	int ntok = 0;

	if (malformed) {
		/* A body cut short: not JSON at all. */
		reply_content(&content, k, &ntok);
		buf_printf(b,
		    "{\"id\":\"chatcmpl-%llu\",\"object\":\"chat.completion\","
		    "\"choices\":[{\"index\":0,\"message\":{\"role\":"
		    "\"assistant\",\"content\":\"%.*s",
		    (unsigned long long)counter, (int)(content.len / 2),
		    content.p);
		buf_free(&content);
		return;
	}
	buf_printf(b,
	    "{\"id\":\"chatcmpl-%llu\",\"object\":\"chat.completion\","
	    "\"created\":%ld,\"model\":\"fake\",\"choices\":[",
	    (unsigned long long)counter + 1, (long)time(NULL));
	for (int i = 0; i < nchoices; i++) {
		content.len = 0;
		reply_content(&content, k, &ntok);
		buf_printf(b,
		    "%s{\"index\":%d,\"message\":{\"role\":\"assistant\","
		    "\"content\":\"%.*s\"},\"finish_reason\":\"stop\"}",
		    i ? "," : "", i, (int)content.len, content.p);
	}
	buf_printf(b,
	    "],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,"
	    "\"total_tokens\":%d}}",
	    120, ntok, 120 + ntok);
	buf_free(&content);
}

static void
response(struct buf *out, int status, const char *reason,
    const char *extra_hdrs, const char *body, size_t blen, int close)
{
	buf_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n%s%s\r\n",
	    status, reason, blen, extra_hdrs ? extra_hdrs : "",
	    close ? "Connection: close\r\n" : "");
	buf_add(out, body, blen);
}

static void
stats_body(struct buf *b)
{
	uint64_t t = now_us();
	double el;

	inflight_add(0);
	el = (double)(t - st.t_reset_us) / 1e6;
	buf_printf(b,
	    "{\"requests\":%llu,\"ok\":%llu,\"s500\":%llu,\"s429\":%llu,"
	    "\"hang\":%llu,\"malformed\":%llu,\"other\":%llu,"
	    "\"accepted\":%llu,\"closed\":%llu,\"open\":%ld,\"max_open\":%ld,"
	    "\"inflight\":%ld,\"max_inflight\":%ld,\"elapsed_s\":%.6f,"
	    "\"avg_inflight\":%.3f,\"inflight_s\":%.6f,\"latency_ms\":%ld}",
	    (unsigned long long)st.requests, (unsigned long long)st.ok,
	    (unsigned long long)st.s500, (unsigned long long)st.s429,
	    (unsigned long long)st.hang, (unsigned long long)st.malformed,
	    (unsigned long long)st.other, (unsigned long long)st.accepted,
	    (unsigned long long)st.closed, st.open, st.max_open, st.inflight,
	    st.max_inflight, el,
	    el > 0 ? st.inflight_integral_us / (el * 1e6) : 0.0,
	    st.inflight_integral_us / 1e6, latency_ms);
	if (batching) {
		double bel = (double)(t - engine.st.since_us) / 1e6;
		double mq = bm_mean_queue(&engine, t);

		b->len--; /* reopen the object */
		buf_printf(b,
		    ",\"batch\":{\"B\":%d,\"t0_ms\":%.3f,\"c_ms\":%.3f,"
		    "\"reply_tokens\":%ld,\"elapsed_s\":%.6f,\"steps\":%llu,"
		    "\"done\":%llu,\"tokens\":%llu,\"throughput_rps\":%.3f,"
		    "\"tokens_per_s\":%.1f,\"mean_batch\":%.3f,"
		    "\"busy\":%.4f,\"mean_queue\":%.3f,\"peak_queue\":%zu,"
		    "\"queue\":%zu,\"active\":%d,\"latency_ms_mean\":%.1f,"
		    "\"latency_ms_p50\":%.0f,\"latency_ms_p99\":%.0f}}",
		    engine.B, engine.t0_us / 1000, engine.c_us / 1000,
		    reply_tokens, bel, (unsigned long long)engine.st.steps,
		    (unsigned long long)engine.st.done,
		    (unsigned long long)engine.st.tokens,
		    bel > 0 ? (double)engine.st.done / bel : 0.0,
		    bel > 0 ? (double)engine.st.tokens / bel : 0.0,
		    bm_mean_batch(&engine),
		    bel > 0 ? engine.st.busy_us / (bel * 1e6) : 0.0, mq,
		    engine.st.peak_queue, engine.qlen, engine.nact,
		    engine.st.done ? engine.st.latency_sum_us /
			    (double)engine.st.done / 1000
				   : 0.0,
		    bm_latency_pct(&engine, 50), bm_latency_pct(&engine, 99));
	}
}

static void
stats_reset(void)
{
	long open = st.open, inflight = st.inflight;

	memset(&st, 0, sizeof(st));
	st.open = st.max_open = open;
	st.inflight = st.max_inflight = inflight;
	st.t_reset_us = st.t_last_us = now_us();
	if (batching)
		bm_stats_reset(&engine, st.t_reset_us);
}

static enum outcome
pick_outcome(void)
{
	unsigned r;

	if (!chaos)
		return OUT_OK;
	r = (unsigned)(rng() % 100);
	if (r < 30)
		return OUT_500;
	if (r < 40)
		return OUT_429;
	if (r < 45)
		return OUT_HANG;
	if (r < 50)
		return OUT_MALFORMED;
	return OUT_OK;
}

/*
 * Handle one complete request (head of hlen bytes, body of blen bytes).
 * The response goes to c->out now, or to c->pending and the timer heap.
 */
static void
handle(struct conn *c, const char *head, size_t hlen, const char *body,
    size_t blen, int close)
{
	struct buf *dst;
	int is_post = hlen > 5 && memcmp(head, "POST ", 5) == 0;
	int is_get = hlen > 4 && memcmp(head, "GET ", 4) == 0;
	const char *path = head + (is_post ? 5 : is_get ? 4 : 0);
	size_t plen = strcspn(path, " \r\n");
	int chat = is_post &&
	    ((plen == 20 && memcmp(path, "/v1/chat/completions", 20) == 0) ||
		(plen == 17 && memcmp(path, "/chat/completions", 17) == 0));

	if (!chat) {
		struct buf b = {0};
		if (is_get && plen == 6 && memcmp(path, "/stats", 6) == 0) {
			stats_body(&b);
			response(&c->out, 200, "OK", NULL, b.p, b.len, close);
		} else if (is_post && plen == 6 &&
		    memcmp(path, "/reset", 6) == 0) {
			stats_reset();
			response(&c->out, 200, "OK", NULL, "{}", 2, close);
		} else {
			response(&c->out, 404, "Not Found", NULL,
			    "{\"error\":{\"message\":\"not found\"}}", 33,
			    close);
		}
		buf_free(&b);
		c->close_after = close;
		return;
	}

	st.requests++;
	enum outcome o = pick_outcome();
	if (o == OUT_HANG) {
		st.hang++;
		c->hanging = 1;
		inflight_add(1);
		return;
	}
	dst = latency_ms > 0 || batching ? &c->pending : &c->out;
	switch (o) {
	case OUT_500: {
		static const char e[] =
		    "{\"error\":{\"message\":\"chaos: "
		    "internal error\",\"type\":\"server_error\"}}";
		st.s500++;
		response(dst, 500, "Internal Server Error", NULL, e,
		    sizeof(e) - 1, close);
		break;
	}
	case OUT_429: {
		static const char e[] = "{\"error\":{\"message\":\"chaos: rate "
					"limited\",\"type\":\"rate_limit\"}}";
		st.s429++;
		response(dst, 429, "Too Many Requests", "Retry-After: 1\r\n", e,
		    sizeof(e) - 1, close);
		break;
	}
	default: {
		struct buf b = {0};
		if (o == OUT_MALFORMED)
			st.malformed++;
		else
			st.ok++;
		completion_body(&b, guess_k(body, blen), guess_n(body, blen),
		    o == OUT_MALFORMED);
		response(dst, 200, "OK", NULL, b.p, b.len, close);
		buf_free(&b);
		break;
	}
	}
	if (batching) {
		long n = reply_tokens;
		if (n == 0 && (n = request_max_tokens(body, blen)) == 0)
			n = 20;
		c->waiting = 1;
		c->pending_close = close;
		inflight_add(1);
		if (bm_submit(&engine, now_us(),
			(uint64_t)c->gen << 32 | (uint32_t)c->fd, n) < 0) {
			perror("fakebackend: batch queue");
			exit(2);
		}
	} else if (latency_ms > 0) {
		struct timer t = {
		    now_us() + (uint64_t)latency_ms * 1000u, c->fd, c->gen};
		c->waiting = 1;
		c->pending_close = close;
		inflight_add(1);
		heap_push(t);
	} else {
		c->close_after = close;
	}
}

/* Find a header's value in head (case-insensitive name); NULL if absent. */
static const char *
header(const char *head, size_t hlen, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *p = memchr(head, '\n', hlen), *end = head + hlen;

	while (p != NULL && p + 1 < end) {
		const char *line = p + 1;
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
		    strncasecmp(line, name, nlen) == 0) {
			const char *v = line + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol < end ? eol : NULL;
	}
	return NULL;
}

/* Parse and answer the complete requests in c->in. 0, or -1: closed. */
static int
process(struct conn *c)
{
	size_t off = 0;

	while (!c->waiting && !c->hanging && !c->close_after) {
		char *base = c->in.p + off;
		size_t avail = c->in.len - off;
		char *eoh = avail ? memmem(base, avail, "\r\n\r\n", 4) : NULL;
		if (eoh == NULL)
			break;
		size_t hlen = (size_t)(eoh - base) + 4, vlen = 0, clen = 0;
		const char *v;
		int close = 0;

		if ((v = header(base, hlen, "Transfer-Encoding", &vlen))) {
			static const char e[] =
			    "{\"error\":{\"message\":\"chunked bodies are not "
			    "supported\"}}";
			response(&c->out, 411, "Length Required", NULL, e,
			    sizeof(e) - 1, 1);
			c->close_after = 1;
			off = c->in.len;
			break;
		}
		if ((v = header(base, hlen, "Content-Length", &vlen)))
			clen = strtoul(v, NULL, 10);
		if ((v = header(base, hlen, "Connection", &vlen)) &&
		    vlen == 5 && strncasecmp(v, "close", 5) == 0)
			close = 1;
		if (memmem(base, hlen, " HTTP/1.0\r\n", 11) != NULL &&
		    !((v = header(base, hlen, "Connection", &vlen)) &&
			vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0))
			close = 1;
		if (hlen + clen > MAX_REQ) {
			static const char e[] =
			    "{\"error\":{\"message\":\"too large\"}}";
			response(&c->out, 413, "Payload Too Large", NULL, e,
			    sizeof(e) - 1, 1);
			c->close_after = 1;
			off = c->in.len;
			break;
		}
		if (avail < hlen + clen) {
			if ((v = header(base, hlen, "Expect", &vlen)) &&
			    vlen == 12 &&
			    strncasecmp(v, "100-continue", 12) == 0 &&
			    !c->continued) {
				c->continued = 1;
				buf_add(&c->out,
				    "HTTP/1.1 100 Continue\r\n\r\n", 25);
			}
			break;
		}
		c->continued = 0;
		handle(c, base, hlen, base + hlen, clen, close);
		off += hlen + clen;
	}
	if (off > 0) {
		memmove(c->in.p, c->in.p + off, c->in.len - off);
		c->in.len -= off;
	}
	if (c->out.len > c->outoff)
		return conn_flush(c);
	return 0;
}

static void
conn_read(struct conn *c)
{
	for (;;) {
		buf_reserve(&c->in, 16384);
		ssize_t n =
		    read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(c);
			return;
		}
		if (n == 0) {
			conn_close(c);
			return;
		}
		c->in.len += (size_t)n;
		c->in.p[c->in.len] = '\0';
		if (c->in.len > MAX_REQ + 65536) {
			conn_close(c);
			return;
		}
		if ((size_t)n < c->in.cap - c->in.len)
			break;
	}
	process(c);
}

static void
accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				perror("fakebackend: accept4");
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((size_t)fd >= nconns_cap) {
			size_t n = nconns_cap ? nconns_cap : 1024;
			while (n <= (size_t)fd)
				n *= 2;
			conns = xrealloc(conns, n * sizeof(*conns));
			memset(conns + nconns_cap, 0,
			    (n - nconns_cap) * sizeof(*conns));
			nconns_cap = n;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		static unsigned gen;
		c->fd = fd;
		c->gen = ++gen;
		conns[fd] = c;
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
		st.accepted++;
		if (++st.open > st.max_open)
			st.max_open = st.open;
	}
}

/* Send the response held for connection fd of generation gen, if it
 * is still there. */
static void
deliver(int fd, unsigned gen)
{
	struct conn *c = fd >= 0 && (size_t)fd < nconns_cap ? conns[fd] : NULL;

	if (c == NULL || c->gen != gen || !c->waiting)
		return;
	c->waiting = 0;
	inflight_add(-1);
	buf_add(&c->out, c->pending.p, c->pending.len);
	c->pending.len = 0;
	c->close_after = c->pending_close;
	if (conn_flush(c) == 0 && c->in.len > 0)
		process(c);
}

/* Answer what is due; the ms until the next timer, or -1 with none. */
static int
run_timers(void)
{
	uint64_t t = now_us(), due;

	while (heap_len > 0 && heap[0].due_us <= t) {
		struct timer tm = heap_pop();
		deliver(tm.fd, tm.gen);
	}
	while (batching && (due = bm_due(&engine)) != 0 && due <= t) {
		uint64_t *done = xrealloc(NULL, (size_t)engine.B * 8);
		/* The step ends when it was due, not when we woke. */
		int n = bm_step_end(&engine, due, done);
		for (int i = 0; i < n; i++)
			deliver((int)(uint32_t)done[i],
			    (unsigned)(done[i] >> 32));
		free(done);
	}
	due = heap_len > 0 ? heap[0].due_us : 0;
	if (batching && bm_due(&engine) != 0 &&
	    (due == 0 || bm_due(&engine) < due))
		due = bm_due(&engine);
	if (due == 0)
		return -1;
	return due > t ? (int)((due - t + 999) / 1000) : 0;
}

/* A number option's value within [min, max], else a clear exit. */
static double
num_arg(const char *opt, const char *v, double min, double max)
{
	char *end;
	double d = strtod(v, &end);

	if (end == v || *end != '\0' || d < min || d > max) {
		fprintf(stderr, "fakebackend: %s: \"%s\" is not a number in "
				"[%g, %g]\n", opt, v, min, max);
		exit(2);
	}
	return d;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: fakebackend [--port N] [--latency-ms N] "
	    "[--chaos] [--seed N] [--parent-pid PID] [--words N] "
	    "[--vocab N]\n"
	    "       [--batch B [--step-ms T0] [--step-per-seq-ms C] "
	    "[--reply-tokens N|max]]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int port = 0, lfd, one = 1;
	long parent = 0;
	struct sockaddr_in sa = {0};
	socklen_t salen = sizeof(sa);
	struct rlimit rl;
	uint64_t last_check = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--chaos") == 0) {
			chaos = 1;
			continue;
		}
		if (v == NULL)
			usage();
		if (strcmp(a, "--port") == 0)
			port = (int)strtol(v, NULL, 10);
		else if (strcmp(a, "--latency-ms") == 0)
			latency_ms = strtol(v, NULL, 10);
		else if (strcmp(a, "--seed") == 0)
			rng_state =
			    strtoull(v, NULL, 0) * 0x9e3779b97f4a7c15ULL | 1;
		else if (strcmp(a, "--parent-pid") == 0)
			parent = strtol(v, NULL, 10);
		else if (strcmp(a, "--batch") == 0)
			batching = (int)num_arg(a, v, 1, 1000000);
		else if (strcmp(a, "--step-ms") == 0)
			step_ms = num_arg(a, v, 0, 60000);
		else if (strcmp(a, "--step-per-seq-ms") == 0)
			step_per_seq_ms = num_arg(a, v, 0, 60000);
		else if (strcmp(a, "--reply-tokens") == 0)
			reply_tokens = strcmp(v, "max") == 0
			    ? 0
			    : (long)num_arg(a, v, 1, 1000000);
		else if (strcmp(a, "--vocab") == 0)
			vocab = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--words") == 0) {
			nwords = (int)strtol(v, NULL, 10);
			if (nwords < 1)
				nwords = 1;
		} else
			usage();
		i++;
	}

	if (batching && (latency_ms > 0 || chaos)) {
		fprintf(stderr, "fakebackend: --batch models its own latency: "
				"it cannot be used with --latency-ms or "
				"--chaos\n");
		return 2;
	}
	if (batching &&
	    bm_init(&engine, batching, step_ms, step_per_seq_ms, now_us()) < 0) {
		perror("fakebackend: batch");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (parent > 0)
		prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("fakebackend: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		perror("fakebackend: bind/listen");
		return 1;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
	stats_reset();
	printf("PORT %d\n", ntohs(sa.sin_port));
	fflush(stdout);

	for (;;) {
		struct epoll_event evs[MAX_EVENTS];
		int timeout = run_timers();
		if (timeout < 0 || timeout > 1000)
			timeout = 1000;
		int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			perror("fakebackend: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				accept_all(lfd);
				continue;
			}
			struct conn *c =
			    (size_t)fd < nconns_cap ? conns[fd] : NULL;
			if (c == NULL)
				continue;
			if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
				conn_close(c);
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				if (conn_flush(c) < 0)
					continue;
				if (c->in.len > 0 && process(c) < 0)
					continue;
			}
			if (evs[i].events & EPOLLIN)
				conn_read(c);
		}
		if (parent > 0) {
			uint64_t t = now_us();
			if (t - last_check > 1000000) {
				last_check = t;
				if (kill((pid_t)parent, 0) < 0 &&
				    errno == ESRCH)
					return 0;
			}
		}
	}
}

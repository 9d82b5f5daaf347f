/*
 * http: libcurl multi interface on the event loop.
 *
 * curl tells us which sockets to watch (socket callback) and when to call
 * it back (timer callback); we translate both into loop ios and one loop
 * timer, and hand socket events to curl_multi_socket_action(). Finished
 * transfers are collected with curl_multi_info_read() after every action.
 *
 * Stalls are ours to detect, not curl's: CURLOPT_LOW_SPEED_TIME counts
 * from the start of the transfer, so it would also abort a model that
 * takes longer than the window to generate a reply it sends at once.
 * Our per-request timer starts at the first body byte instead.
 *
 * It owns the multi handle, its connections and the transfers; what the
 * bodies say is the backend's and its dialect's business, not this
 * file's.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "blob.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "xmalloc.h"

#define HTTP_STALL_MIN_MS 1000
#define HTTP_STALL_MAX_MS 30000
/* Finished easy handles kept for the next requests, so that each request
 * does not allocate and free a handle's state and buffers. The pool
 * holds at most as many as were ever in flight at once. */
#define HTTP_POOL_MAX 1024

struct http_req {
	struct http *http;
	CURL *easy;
	struct curl_slist *headers;
	struct blob *body; /* referenced */
	struct buf reply;
	size_t max_body;
	int too_large;
	char retry_after[64];
	char rl_requests[32];
	char rl_tokens[32];
	char rl_reset_requests[64];
	char rl_reset_tokens[64];
	char errbuf[CURL_ERROR_SIZE];
	char why[CURL_ERROR_SIZE + 64]; /* resp.error when we word it */
	uint64_t started;
	uint64_t last_rx; /* last body byte */
	uint64_t stall_ms; /* longest gap allowed once the body began */
	struct loop_timer *stall; /* armed at the first body byte */
	int stalled;
	http_cb cb;
	void *arg;
	TAILQ_ENTRY(http_req) entry;
};

TAILQ_HEAD(http_reqs, http_req);

struct http {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer *timer;
	struct http_reqs reqs;
	size_t inflight;
	CURL *pool[HTTP_POOL_MAX]; /* reset, ready for reuse */
	size_t npool;
};

static void http_check_done(struct http *h);
static void http_finish(struct http_req *r, CURLcode cc);

static void
http_on_io(int fd, uint32_t events, void *arg)
{
	struct http *h = arg;
	int mask = 0, running;

	if (events & EPOLLIN)
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		mask |= CURL_CSELECT_ERR;
	curl_multi_socket_action(h->multi, fd, mask, &running);
	http_check_done(h);
}

static int
http_socket_cb(
    CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct loop_io *io = socketp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		loop_io_del(io);
		curl_multi_assign(h->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (io == NULL) {
		/* epoll refusing a fresh socket is a broken invariant; an
		 * error returned to curl would kill the whole multi handle. */
		if ((io = loop_io_add(h->loop, s, ev, http_on_io, h)) == NULL)
			fatal("http: cannot watch socket %d", s);
		curl_multi_assign(h->multi, s, io);
	} else if (loop_io_mod(io, ev) == -1)
		fatal("http: cannot change events of socket %d", s);
	return 0;
}

static int
http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	if (timeout_ms < 0)
		loop_timer_stop(h->timer);
	else
		loop_timer_set(h->timer, (uint64_t)timeout_ms);
	return 0;
}

static void
http_on_timer(void *arg)
{
	struct http *h = arg;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_check_done(h);
}

struct http *
http_new(struct loop *loop)
{
	struct http *h;

	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	TAILQ_INIT(&h->reqs);
	if ((h->multi = curl_multi_init()) == NULL) {
		free(h);
		return NULL;
	}
	h->timer = loop_timer_new(loop, http_on_timer, h);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	/* Keep enough idle connections for every backend's concurrency. */
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 1024L);
	return h;
}

static void
http_req_free(struct http_req *r)
{
	struct http *h = r->http;

	TAILQ_REMOVE(&h->reqs, r, entry);
	h->inflight--;
	curl_multi_remove_handle(h->multi, r->easy);
	if (h->npool < HTTP_POOL_MAX) {
		/* Options back to their defaults; its buffers stay. */
		curl_easy_reset(r->easy);
		h->pool[h->npool++] = r->easy;
	} else
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	loop_timer_free(r->stall);
	blob_unref(r->body);
	buf_free(&r->reply);
	free(r);
}

void
http_free(struct http *h)
{
	struct http_req *r;

	if (h == NULL)
		return;
	while ((r = TAILQ_FIRST(&h->reqs)) != NULL)
		http_req_free(r);
	while (h->npool > 0)
		curl_easy_cleanup(h->pool[--h->npool]);
	curl_multi_cleanup(h->multi);
	loop_timer_free(h->timer);
	free(h);
}

/*
 * The stall timer: fires stall_ms after the first body byte, then again
 * for whatever is left of the window after the last byte; a full window
 * without a byte ends the request.
 */
static void
http_on_stall(void *arg)
{
	struct http_req *r = arg;
	uint64_t idle = loop_clock_ms() - r->last_rx;

	if (idle < r->stall_ms) {
		loop_timer_set(r->stall, r->stall_ms - idle);
		return;
	}
	r->stalled = 1;
	http_finish(r, CURLE_OPERATION_TIMEDOUT);
}

static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * nmemb;

	r->last_rx = loop_clock_ms();
	if (r->stall == NULL) {
		r->stall = loop_timer_new(r->http->loop, http_on_stall, r);
		loop_timer_set(r->stall, r->stall_ms);
	}
	if (r->reply.len + len > r->max_body) {
		/* Keep what fits, then make curl abort the transfer. */
		buf_append(&r->reply, data, r->max_body - r->reply.len);
		r->too_large = 1;
		return 0;
	}
	buf_append(&r->reply, data, len);
	return len;
}

/* Copy the value of header `name` out of line (if that is the header). */
static void
http_header_value(
    const char *line, size_t len, const char *name, char *dst, size_t dstlen)
{
	size_t nl = strlen(name), i, j;

	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return;
	i = nl + 1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	j = len;
	while (j > i &&
	    (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' '))
		j--;
	if (j - i >= dstlen)
		j = i + dstlen - 1;
	memcpy(dst, line + i, j - i);
	dst[j - i] = '\0';
}

static size_t
http_header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * nmemb;

	http_header_value(
	    line, len, "retry-after", r->retry_after, sizeof(r->retry_after));
	http_header_value(line, len, "x-ratelimit-remaining-requests",
	    r->rl_requests, sizeof(r->rl_requests));
	http_header_value(line, len, "x-ratelimit-remaining-tokens",
	    r->rl_tokens, sizeof(r->rl_tokens));
	http_header_value(line, len, "x-ratelimit-reset-requests",
	    r->rl_reset_requests, sizeof(r->rl_reset_requests));
	http_header_value(line, len, "x-ratelimit-reset-tokens",
	    r->rl_reset_tokens, sizeof(r->rl_reset_tokens));
	/* Anthropic's names for the same (RFC 3339 reset times). */
	http_header_value(line, len, "anthropic-ratelimit-requests-remaining",
	    r->rl_requests, sizeof(r->rl_requests));
	http_header_value(line, len, "anthropic-ratelimit-tokens-remaining",
	    r->rl_tokens, sizeof(r->rl_tokens));
	http_header_value(line, len, "anthropic-ratelimit-requests-reset",
	    r->rl_reset_requests, sizeof(r->rl_reset_requests));
	http_header_value(line, len, "anthropic-ratelimit-tokens-reset",
	    r->rl_reset_tokens, sizeof(r->rl_reset_tokens));
	return len;
}

struct http_req *
http_post(struct http *h, const struct http_opts *o, http_cb cb, void *arg)
{
	struct http_req *r;
	long connect_ms;

	r = xcalloc(1, sizeof(*r));
	r->http = h;
	r->cb = cb;
	r->arg = arg;
	r->max_body = o->max_body;
	buf_init(&r->reply);
	r->body = blob_ref(o->body);
	if (h->npool > 0)
		r->easy = h->pool[--h->npool];
	else if ((r->easy = curl_easy_init()) == NULL)
		fatalx("http: curl_easy_init failed");
	for (const char *const *hp = o->headers; hp != NULL && *hp != NULL;
	     hp++) {
		struct curl_slist *n = curl_slist_append(r->headers, *hp);

		if (n == NULL)
			fatalx("http: out of memory");
		r->headers = n;
	}
	/* Send the body at once: no "Expect: 100-continue" round trip. */
	{
		struct curl_slist *n = curl_slist_append(r->headers, "Expect:");

		if (n == NULL)
			fatalx("http: out of memory");
		r->headers = n;
	}
	connect_ms = o->timeout_ms < 10000 ? o->timeout_ms : 10000;
	r->stall_ms = (uint64_t)(o->timeout_ms / 4);
	if (r->stall_ms < HTTP_STALL_MIN_MS)
		r->stall_ms = HTTP_STALL_MIN_MS;
	if (r->stall_ms > HTTP_STALL_MAX_MS)
		r->stall_ms = HTTP_STALL_MAX_MS;
	curl_easy_setopt(r->easy, CURLOPT_URL, o->url);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body->data);
	curl_easy_setopt(
	    r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body->len);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "vsampd/" PACKAGE_VERSION);
	/* libcurl's defaults, spelled out: a peer is always verified. */
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file != NULL) {
		/* Only this file: drop the built-in CA directory as well. */
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, o->ca_file);
		curl_easy_setopt(r->easy, CURLOPT_CAPATH, NULL);
#if LIBCURL_VERSION_NUM >= 0x075700
		/* Read it at each new connection, not once a day, so that a
		 * replaced file counts; a private CA file is small. */
		curl_easy_setopt(r->easy, CURLOPT_CA_CACHE_TIMEOUT, 0L);
#endif
	}
	r->started = loop_clock_ms();
	TAILQ_INSERT_TAIL(&h->reqs, r, entry);
	h->inflight++;
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
		fatalx("http: curl_multi_add_handle failed");
	return r;
}

void
http_cancel(struct http_req *r)
{
	if (r != NULL)
		http_req_free(r);
}

size_t
http_inflight(const struct http *h)
{
	return h->inflight;
}

/*
 * The error text for a failed transfer: curl's, prefixed with what went
 * wrong in words for TLS failures, or ours for a stall. Points into r.
 */
static const char *
http_error(struct http_req *r, CURLcode cc)
{
	const char *e = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);

	if (r->stalled)
		snprintf(r->why, sizeof(r->why),
		    "reply stalled mid-body (nothing for %llu ms, "
		    "%zu bytes in)",
		    (unsigned long long)r->stall_ms, r->reply.len);
	else if (cc == CURLE_PEER_FAILED_VERIFICATION)
		snprintf(r->why, sizeof(r->why),
		    "TLS certificate verification failed: %s", e);
	else if (cc == CURLE_SSL_CACERT_BADFILE)
		snprintf(r->why, sizeof(r->why),
		    "TLS CA file (ca_file) unusable: %s", e);
	else if (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CERTPROBLEM)
		snprintf(r->why, sizeof(r->why), "TLS handshake failed: %s", e);
	else
		return e;
	return r->why;
}

/* Answer r's callback with the outcome cc, then free r. */
static void
http_finish(struct http_req *r, CURLcode cc)
{
	struct http_resp resp;

	memset(&resp, 0, sizeof(resp));
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
	resp.curl_code = (int)cc;
	resp.too_large = r->too_large;
	if (cc == CURLE_OK || r->too_large)
		resp.error = "";
	else
		resp.error = http_error(r, cc);
	resp.stalled = r->stalled;
	resp.timed_out = cc == CURLE_OPERATION_TIMEDOUT && !r->stalled;
	resp.conn_failed = cc == CURLE_COULDNT_CONNECT ||
	    cc == CURLE_COULDNT_RESOLVE_HOST ||
	    cc == CURLE_COULDNT_RESOLVE_PROXY;
	resp.tls_failed = cc == CURLE_SSL_CONNECT_ERROR ||
	    cc == CURLE_PEER_FAILED_VERIFICATION ||
	    cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_CACERT_BADFILE;
	if (cc != CURLE_OK && !r->too_large)
		resp.status = 0;
	resp.body = r->reply.data ? r->reply.data : "";
	resp.len = r->reply.len;
	memcpy(resp.retry_after, r->retry_after, sizeof(resp.retry_after));
	memcpy(resp.rl_requests, r->rl_requests, sizeof(resp.rl_requests));
	memcpy(resp.rl_tokens, r->rl_tokens, sizeof(resp.rl_tokens));
	memcpy(resp.rl_reset_requests, r->rl_reset_requests,
	    sizeof(resp.rl_reset_requests));
	memcpy(resp.rl_reset_tokens, r->rl_reset_tokens,
	    sizeof(resp.rl_reset_tokens));
	resp.elapsed_ms = loop_clock_ms() - r->started;
	r->cb(r->arg, &resp);
	http_req_free(r);
}

static void
http_check_done(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct http_req *r = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(
		    msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		http_finish(r, msg->data.result);
	}
}

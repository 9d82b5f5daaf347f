/*
 * http: HTTP POSTs on libcurl's multi interface, driven by the event loop
 * (curl's sockets in epoll, curl's timer as a loop timer). Many requests
 * are in flight at once; connections are kept alive in the multi handle's
 * cache and reused. Every reply body has a hard cap.
 *
 * https peers are always verified (certificate chain and host name). A
 * reply whose body stops arriving is aborted after a stall window
 * derived from the timeout, without waiting for the timeout itself.
 */
#ifndef VSAMPD_HTTP_H
#define VSAMPD_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct blob;

struct loop;
struct http;
struct http_req;

struct http_resp {
	long status; /* HTTP status; 0 when no response arrived */
	int curl_code; /* CURLcode; 0 when the transfer completed */
	const char *error; /* curl's error text (TLS and stalls: ours), or "" */
	int timed_out; /* the transfer hit its timeout */
	int stalled; /* the body stopped arriving (curl_code 28, error says) */
	int conn_failed; /* no connection could be made */
	int tls_failed; /* a TLS/certificate error; error says which */
	int too_large; /* body exceeded max_body; body holds the prefix */
	const char *body; /* valid during the callback only */
	size_t len;
	char retry_after[64]; /* Retry-After header value, or "" */
	char rl_requests[32]; /* x-ratelimit-remaining-requests, or "" */
	char rl_tokens[32]; /* x-ratelimit-remaining-tokens, or "" */
	char rl_reset_requests[64]; /* x-ratelimit-reset-requests, or "" */
	char rl_reset_tokens[64]; /* x-ratelimit-reset-tokens, or "" */
	uint64_t elapsed_ms;
};

typedef void (*http_cb)(void *arg, const struct http_resp *resp);

struct http_opts {
	const char *url;
	struct blob *body; /* referenced by http_post until the request
			    * ends: curl sends it in place */
	const char *const *headers; /* NULL-terminated "Name: value" list */
	long timeout_ms;
	size_t max_body;
	const char *ca_file; /* NULL: system store; else only this file */
};

/* Returns NULL when curl cannot be initialised. */
struct http *http_new(struct loop *loop);
/* Cancels every request (no callbacks) and frees. NULL is a no-op. */
void http_free(struct http *h);

/*
 * Start a POST. cb is called exactly once, from the loop (never from
 * inside http_post), unless the request is cancelled first. Returns the
 * request handle (valid until cb returns or http_cancel).
 *
 * Once the reply body has begun, a gap without a byte longer than a
 * quarter of timeout_ms (at least 1 s, at most 30 s) aborts the transfer
 * with stalled set. The wait for the first body byte (a model generating
 * a reply that is not streamed) is bounded by timeout_ms alone.
 */
struct http_req *http_post(
    struct http *h, const struct http_opts *o, http_cb cb, void *arg);
/* Abort a request; its callback is not called. */
void http_cancel(struct http_req *r);
/* Requests in flight. */
size_t http_inflight(const struct http *h);

#endif

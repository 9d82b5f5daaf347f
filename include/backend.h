/*
 * backend: one model backend profile (an OpenAI-compatible HTTP API).
 * It owns a queue of requests waiting to be sent and decides when each
 * goes, within
 *   - its concurrency limit: adaptive (aimd.h) within max_inflight;
 *   - its budgets: rpm and tpm (ratelimit.h), and what the backend's
 *     rate-limit headers say is left;
 *   - its circuit breaker (breaker.h): while open, nothing is sent, and
 *     requests posted with BACKEND_FAILFAST fail at once (circuit_open)
 *     so that their job can move to a fallback; others wait for the
 *     half-open probe.
 * and the HTTP-level retries: 429, 5xx, timeouts and connection failures
 * are retried with exponential backoff, full jitter and Retry-After
 * (capped by max_retry_after_ms).
 */
#ifndef VSAMPD_BACKEND_H
#define VSAMPD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct loop;
struct http;
struct conf_backend;
struct backend;
struct backend_req;

struct backend_reply {
	int ok; /* 1: HTTP 2xx with a body in `body` */
	enum err_code code; /* when !ok: backend, timeout, rate_limited,
			       too_large */
	char errmsg[256]; /* when !ok: what went wrong, no secrets */
	long status; /* last HTTP status, 0 when none */
	const char *body; /* valid during the callback only */
	size_t len;
	unsigned attempts; /* HTTP attempts made by this request, retries
			    * included */
	int circuit_open; /* refused: the breaker is open (FAILFAST) */
	long est_tokens; /* what the budget was charged (see below) */
};

/* backend_post_ex() flags. */
#define BACKEND_FAILFAST 0x1 /* fail at once while the breaker is open */

typedef void (*backend_cb)(void *arg, const struct backend_reply *reply);

/*
 * A backend for profile p (borrowed: p must outlive the backend; on reload
 * a new backend is made). Returns NULL with errstr when the profile cannot
 * be used.
 */
struct backend *backend_new(struct loop *loop, struct http *http,
    const struct conf_backend *p, char *errstr, size_t errlen);
/* Cancels every request without callbacks. NULL is a no-op. */
void backend_free(struct backend *b);

const char *backend_name(const struct backend *b);
/* Count every HTTP attempt in st (borrowed, must outlive b; NULL stops
 * counting), and create this backend's series there. */
struct stats;
void backend_set_stats(struct backend *b, struct stats *st);
const struct conf_backend *backend_profile(const struct backend *b);

/*
 * POST body (referenced, not copied: calls that send the same bytes
 * share them) to the profile's base URL + path (e.g.
 * "/chat/completions"). cb is called once from the loop with the final
 * outcome after retries, unless backend_cancel is called first.
 */
struct blob;
struct backend_req *backend_post(struct backend *b, const char *path,
    struct blob *body, backend_cb cb, void *arg);
/* backend_post() with flags; max_tokens (0: none) counts in the token
 * estimate the tpm budget is charged. used: HTTP attempts already spent
 * on the same call (a reply that did not parse is asked again): the
 * profile's max_retries is one budget for all of them. */
struct backend_req *backend_post_ex(struct backend *b, const char *path,
    struct blob *body, long max_tokens, int flags, unsigned used, backend_cb cb,
    void *arg);
/* The reply of a request charged est tokens reported used (its usage):
 * the tpm budget is corrected. */
void backend_correct_tokens(struct backend *b, long est, long used);
/* 0 while the circuit breaker refuses requests, else 1. */
int backend_available(const struct backend *b);
/* The current concurrency limit. */
int backend_limit(const struct backend *b);
/* 1 for type "anthropic" (the Messages API), 0 for "openai". */
int backend_is_anthropic(const struct backend *b);
void backend_cancel(struct backend_req *r);

/* Requests sent and not yet answered; requests waiting for a slot or a
 * retry. */
size_t backend_inflight(const struct backend *b);
size_t backend_waiting(const struct backend *b);

/* The delay before retry number `attempt` (1-based): exponential from
 * base_ms, capped at cap_ms, with full jitter drawn from *rng; at least the
 * Retry-After value (ms, 0 when none) capped at max_retry_after_ms.
 * Exposed for tests. */
uint64_t backend_backoff(unsigned attempt, uint64_t base_ms, uint64_t cap_ms,
    uint64_t retry_after_ms, uint64_t max_retry_after_ms, uint64_t *rng);

/* Parse a Retry-After value (delta-seconds or an HTTP date) into ms from
 * now; 0 when absent or unparseable. */
uint64_t backend_retry_after_ms(const char *value);

/* Parse a rate-limit reset: a duration ("1s", "6m0s", "20ms", "1.5s")
 * or an RFC 3339 time ("2026-12-01T18:00:05Z"), into ms from now_s
 * (seconds since the epoch); -1 when unparseable. */
long backend_reset_ms(const char *value, long long now_s);

#endif

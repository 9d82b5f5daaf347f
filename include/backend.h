/*
 * backend: one model backend profile, and the wire dialect it speaks
 * (dialect.h, chosen by the profile's type). The pipeline asks it for a
 * chat completion or embeddings in neutral terms (chat.h) and gets the
 * parsed reply back; URLs, headers, request bodies and reply formats
 * stay behind it. It owns a queue of requests waiting to be sent and
 * decides when each goes, within
 *   - its concurrency limit: adaptive (aimd.h) within max_inflight;
 *   - its budgets: rpm and tpm (ratelimit.h), and what the backend's
 *     rate-limit headers say is left; the tpm budget is corrected by
 *     the usage a reply reports;
 *   - its circuit breaker (breaker.h): while open, nothing is sent, and
 *     requests posted with BACKEND_FAILFAST fail at once (circuit_open)
 *     so that their job can move to a fallback; others wait for the
 *     half-open probe.
 * and the HTTP-level retries: 429, 5xx, timeouts and connection failures
 * are retried with exponential backoff, full jitter and Retry-After
 * (capped by max_retry_after_ms). A reply over BACKEND_OFFLOAD_BYTES is
 * parsed on the worker thread (offload.h).
 */
#ifndef VSAMPD_BACKEND_H
#define VSAMPD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "chat.h"
#include "result.h"

/* A reply, or a reply's text, larger than this is parsed off the loop. */
#define BACKEND_OFFLOAD_BYTES (256 * 1024)

struct blob;
struct loop;
struct offload;
struct conf_backend;
struct backend;
struct backend_req;
struct backend_shared;

struct backend_reply {
	int ok; /* 1: HTTP 2xx with a reply that parsed, in chat or vecs */
	enum err_code code; /* when !ok: backend, timeout, rate_limited,
			       too_large */
	char errmsg[320]; /* when !ok: what went wrong, no secrets */
	long status; /* last HTTP status, 0 when none */
	unsigned attempts; /* HTTP attempts made by this request, retries
			    * included */
	int circuit_open; /* refused: the breaker is open (FAILFAST) */
	int unparsed; /* HTTP 2xx whose body did not parse (errmsg says
		       * why): asking again may help */
	struct chat_reply chat; /* backend_chat(), ok: valid during the
				 * callback only */
	const float *vecs; /* backend_embed(), ok: n rows of dim floats,
			    * valid during the callback only */
	size_t dim;
};

/* backend_chat() flags. */
#define BACKEND_FAILFAST 0x1 /* fail at once while the breaker is open */

typedef void (*backend_cb)(void *arg, const struct backend_reply *reply);

/*
 * What the backends of a pipeline share: the loop, one HTTP client (its
 * connections kept alive across backends and reloads) and the worker
 * thread off (borrowed; NULL: every reply is parsed on the loop). It
 * must outlive every backend made with it. NULL when libcurl cannot be
 * initialised.
 */
struct backend_shared *backend_shared_new(
    struct loop *loop, struct offload *off);
/* NULL is a no-op. */
void backend_shared_free(struct backend_shared *s);

/*
 * A backend for profile p (borrowed: p must outlive the backend; on reload
 * a new backend is made). Returns NULL with errstr when the profile cannot
 * be used (a type with no dialect).
 */
struct backend *backend_new(struct backend_shared *s,
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
 * The request body that asks b for a chat completion of conversation c
 * with parameters p, in b's dialect: a new blob (one reference, the
 * caller's) to pass to backend_chat(), as often as the same thing is to
 * be asked: calls that send the same bytes share them.
 */
struct blob *backend_chat_body(
    const struct backend *b, const struct chat *c, const struct chat_params *p);
/*
 * Ask for a chat completion with body (from backend_chat_body() of the
 * same backend; referenced, not copied). choices: what the body asks
 * for (chat_params.n_choices, 1 when it asks for one; a dialect without
 * several choices takes 1), the most the reply keeps. max_tokens (0:
 * none), once per choice, counts in the token estimate the tpm budget
 * is charged. used: HTTP attempts
 * already spent on the same call (a reply that did not parse is asked
 * again): the profile's max_retries is one budget for all of them. cb
 * is called once from the loop with the parsed reply or the final
 * failure after retries, unless backend_cancel is called first.
 */
struct backend_req *backend_chat(struct backend *b, struct blob *body,
    long max_tokens, int choices, int flags, unsigned used, backend_cb cb,
    void *arg);
/*
 * Ask for one embedding of each of texts[0..n) (texts[i] is lens[i]
 * bytes; copied as needed) with the profile's model; cb as for
 * backend_chat(), the vectors in vecs. The profile's dialect must have
 * embeddings (the config checks).
 */
struct backend_req *backend_embed(struct backend *b, const char *const *texts,
    const size_t *lens, size_t n, backend_cb cb, void *arg);
/* 0 while the circuit breaker refuses requests, else 1. */
int backend_available(const struct backend *b);
/* The decoding parameters a chat request of b with p carries. */
void backend_chat_sent(const struct backend *b, const struct chat_params *p,
    struct chat_sent *out);
/* The current concurrency limit. */
int backend_limit(const struct backend *b);
/* Drop a request: its callback is not called. NULL is a no-op. */
void backend_cancel(struct backend_req *r);

/* Requests sent and not yet answered; requests waiting for a slot or a
 * retry. */
size_t backend_inflight(const struct backend *b);
size_t backend_waiting(const struct backend *b);

#endif

/*
 * ratelimit: a backend's request and token budgets (issue: rpm, tpm).
 * Requests per minute are counted over an exact sliding 60-second
 * window of send times, retries included; tokens per minute are a
 * bucket of tpm tokens refilled continuously, charged an estimate of a
 * request's tokens when it is sent and corrected with the usage its
 * reply reports. A backend's own rate-limit headers (remaining requests
 * or tokens at 0, with a reset time) close the budget until then.
 * Time is passed in (milliseconds, any fixed origin), so the module is
 * pure. Leaf module.
 */
#ifndef VSAMPD_RATELIMIT_H
#define VSAMPD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_WINDOW_MS 60000
/* A send leaves the window this much later than 60 s after it was made:
 * the backend counts arrivals, and a request on a fresh connection
 * arrives later than one on a kept-alive connection, so without the
 * margin a window measured at the backend could hold rpm + 1. */
#define RATELIMIT_SLACK_MS 250

struct ratelimit {
	int rpm; /* 0: unlimited */
	long tpm; /* 0: unlimited */
	uint64_t *sent; /* ring of the last rpm send times */
	size_t head, n;
	double tokens; /* tokens available now (may go negative) */
	uint64_t refilled; /* time of the last refill */
	uint64_t closed_until; /* the backend said: nothing before then */
};

void ratelimit_init(struct ratelimit *rl, int rpm, long tpm, uint64_t now);
void ratelimit_free(struct ratelimit *rl);

/*
 * 0 when a request estimated at est_tokens may be sent at now, else the
 * milliseconds to wait before asking again. A request larger than the
 * whole bucket waits for a full bucket, never forever.
 */
uint64_t ratelimit_wait_ms(struct ratelimit *rl, uint64_t now, long est_tokens);
/* Record a request sent at now, charged est_tokens. */
void ratelimit_take(struct ratelimit *rl, uint64_t now, long est_tokens);
/* The reply of a request charged est reported used tokens. */
void ratelimit_correct(struct ratelimit *rl, long est, long used);
/* The backend says it has nothing left until now + reset_ms. */
void ratelimit_close(struct ratelimit *rl, uint64_t now, uint64_t reset_ms);
/* Requests sent within the window ending at now. */
size_t ratelimit_in_window(struct ratelimit *rl, uint64_t now);

/* A rough prompt-token estimate of a request body: a token per 4 bytes,
 * plus max_tokens for the reply (0: none given). */
long ratelimit_estimate(size_t body_len, long max_tokens);

#endif

/*
 * ratelimit: sliding-window rpm and a refilled tpm bucket.
 *
 * A leaf module: it keeps counts against the times it is given; the
 * backend waits, it never does.
 */
#include <stdlib.h>

#include "ratelimit.h"
#include "xmalloc.h"

void
ratelimit_init(struct ratelimit *rl, int rpm, long tpm, uint64_t now)
{
	rl->rpm = rpm > 0 ? rpm : 0;
	rl->tpm = tpm > 0 ? tpm : 0;
	rl->sent = rl->rpm ? xcalloc((size_t)rl->rpm, sizeof(*rl->sent)) : NULL;
	rl->head = rl->n = 0;
	rl->tokens = (double)rl->tpm;
	rl->refilled = now;
	rl->closed_until = 0;
}

void
ratelimit_free(struct ratelimit *rl)
{
	free(rl->sent);
	rl->sent = NULL;
}

/* Forget send times that left the window. */
static void
expire(struct ratelimit *rl, uint64_t now)
{
	while (rl->n > 0 &&
	    rl->sent[rl->head] + RATELIMIT_WINDOW_MS + RATELIMIT_SLACK_MS <=
		now) {
		rl->head = (rl->head + 1) % (size_t)rl->rpm;
		rl->n--;
	}
}

static void
refill(struct ratelimit *rl, uint64_t now)
{
	if (rl->tpm == 0 || now <= rl->refilled)
		return;
	rl->tokens += (double)(now - rl->refilled) * (double)rl->tpm /
	    RATELIMIT_WINDOW_MS;
	if (rl->tokens > (double)rl->tpm)
		rl->tokens = (double)rl->tpm;
	rl->refilled = now;
}

uint64_t
ratelimit_wait_ms(struct ratelimit *rl, uint64_t now, long est_tokens)
{
	uint64_t wait = 0;

	if (rl->closed_until > now)
		wait = rl->closed_until - now;
	if (rl->rpm > 0) {
		expire(rl, now);
		if (rl->n >= (size_t)rl->rpm) {
			uint64_t w = rl->sent[rl->head] + RATELIMIT_WINDOW_MS +
			    RATELIMIT_SLACK_MS - now;

			if (w > wait)
				wait = w;
		}
	}
	if (rl->tpm > 0) {
		double need = (double)est_tokens;

		refill(rl, now);
		if (need > (double)rl->tpm)
			need = (double)rl->tpm;
		if (rl->tokens < need) {
			uint64_t w = (uint64_t)((need - rl->tokens) *
				RATELIMIT_WINDOW_MS / (double)rl->tpm) + 1;

			if (w > wait)
				wait = w;
		}
	}
	return wait;
}

void
ratelimit_take(struct ratelimit *rl, uint64_t now, long est_tokens)
{
	if (rl->rpm > 0) {
		expire(rl, now);
		if (rl->n == (size_t)rl->rpm) {
			/* Over budget (a caller that did not wait): the
			 * oldest time makes room. */
			rl->head = (rl->head + 1) % (size_t)rl->rpm;
			rl->n--;
		}
		rl->sent[(rl->head + rl->n) % (size_t)rl->rpm] = now;
		rl->n++;
	}
	if (rl->tpm > 0) {
		refill(rl, now);
		rl->tokens -= (double)est_tokens;
	}
}

void
ratelimit_correct(struct ratelimit *rl, long est, long used)
{
	if (rl->tpm > 0 && used >= 0)
		rl->tokens -= (double)(used - est);
}

void
ratelimit_close(struct ratelimit *rl, uint64_t now, uint64_t reset_ms)
{
	if (reset_ms > RATELIMIT_WINDOW_MS)
		reset_ms = RATELIMIT_WINDOW_MS;
	if (now + reset_ms > rl->closed_until)
		rl->closed_until = now + reset_ms;
}

size_t
ratelimit_in_window(struct ratelimit *rl, uint64_t now)
{
	if (rl->rpm == 0)
		return 0;
	expire(rl, now);
	return rl->n;
}

long
ratelimit_estimate(size_t body_len, long max_tokens)
{
	return (long)(body_len / 4) + 1 + (max_tokens > 0 ? max_tokens : 0);
}

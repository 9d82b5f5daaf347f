/*
 * breaker: closed -> open -> half-open -> closed or open again.
 *
 * A leaf module: it keeps the state and the times it is given; the
 * backend decides what counts as a failure.
 */
#include "breaker.h"

void
breaker_init(struct breaker *b)
{
	b->state = BREAKER_CLOSED;
	b->failures = b->quick = 0;
	b->cooldown_ms = BREAKER_COOLDOWN_MS;
	b->open_until = 0;
	b->probing = 0;
	b->opened = 0;
}

int
breaker_allow(struct breaker *b, uint64_t now)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		return 1;
	case BREAKER_OPEN:
		if (now < b->open_until)
			return 0;
		b->state = BREAKER_HALF_OPEN;
		b->probing = 0;
		/* FALLTHROUGH */
	case BREAKER_HALF_OPEN:
		if (b->probing)
			return 0;
		b->probing = 1;
		return 1;
	}
	return 0;
}

int
breaker_is_open(const struct breaker *b, uint64_t now)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		return 0;
	case BREAKER_OPEN:
		return now < b->open_until;
	case BREAKER_HALF_OPEN:
		return b->probing;
	}
	return 0;
}

uint64_t
breaker_wait_ms(const struct breaker *b, uint64_t now)
{
	if (b->state == BREAKER_OPEN && now < b->open_until)
		return b->open_until - now;
	return 0;
}

enum breaker_state
breaker_success(struct breaker *b)
{
	b->state = BREAKER_CLOSED;
	b->failures = b->quick = 0;
	b->probing = 0;
	b->cooldown_ms = BREAKER_COOLDOWN_MS;
	return b->state;
}

static void
trip(struct breaker *b, uint64_t now)
{
	b->state = BREAKER_OPEN;
	b->open_until = now + b->cooldown_ms;
	b->probing = 0;
	b->opened++;
}

static enum breaker_state
fail(struct breaker *b, uint64_t now, int timeout)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		if (b->failures++ == 0)
			b->since = now;
		if (!timeout)
			b->quick++;
		if (b->quick >= BREAKER_BURST ||
		    (b->failures >= BREAKER_THRESHOLD &&
			now - b->since >= BREAKER_SPAN_MS))
			trip(b, now);
		break;
	case BREAKER_HALF_OPEN:
		b->cooldown_ms *= 2;
		if (b->cooldown_ms > BREAKER_COOLDOWN_MAX_MS)
			b->cooldown_ms = BREAKER_COOLDOWN_MAX_MS;
		trip(b, now);
		break;
	case BREAKER_OPEN:
		/* A request sent before it opened: nothing new. */
		break;
	}
	return b->state;
}

enum breaker_state
breaker_failure(struct breaker *b, uint64_t now)
{
	return fail(b, now, 0);
}

enum breaker_state
breaker_timeout(struct breaker *b, uint64_t now)
{
	return fail(b, now, 1);
}

void
breaker_abandon(struct breaker *b)
{
	if (b->state == BREAKER_HALF_OPEN)
		b->probing = 0;
}

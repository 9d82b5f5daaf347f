/*
 * breaker: a backend's circuit breaker. Closed, it lets requests
 * through and counts consecutive failures (transport errors, timeouts,
 * 5xx; a 429 is not a failure of the backend, only of the budget);
 * BREAKER_THRESHOLD of them open it once the run has lasted
 * BREAKER_SPAN_MS (a backend that fails a share of requests at random
 * answers some of them within that time; a dead one answers none), and
 * BREAKER_BURST of them at once (many requests in flight to a backend
 * that died: 0.35^15 is about 10^-7). Timeouts count for the first rule
 * only: requests sent together time out together, so a burst of them
 * says when they were sent, not that the backend is down. Open, it
 * refuses everything for a cool-down (BREAKER_COOLDOWN_MS, doubling on every
 * failed probe up to BREAKER_COOLDOWN_MAX_MS); then half-open, it lets exactly
 * one probe through. The probe's success closes it; its failure opens it again.
 * Time is passed in. Leaf module.
 */
#ifndef VSAMPD_BREAKER_H
#define VSAMPD_BREAKER_H

#include <stdint.h>

#define BREAKER_THRESHOLD 5
#define BREAKER_SPAN_MS 1000
#define BREAKER_BURST 15
#define BREAKER_COOLDOWN_MS 5000
#define BREAKER_COOLDOWN_MAX_MS 60000

enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker {
	enum breaker_state state;
	int failures; /* consecutive, while closed */
	int quick; /* of them, failures other than timeouts */
	uint64_t since; /* when the first of them came */
	uint64_t cooldown_ms;
	uint64_t open_until;
	int probing; /* half-open: the probe is out */
	unsigned opened; /* times opened, for logs and tests */
};

void breaker_init(struct breaker *b);
/* 1 when a request may be sent at now (in half-open state, the probe:
 * the caller must report its outcome). */
int breaker_allow(struct breaker *b, uint64_t now);
/* Whether requests would be refused at now, without taking the probe. */
int breaker_is_open(const struct breaker *b, uint64_t now);
/* Milliseconds until an open breaker lets a probe through (0: now). */
uint64_t breaker_wait_ms(const struct breaker *b, uint64_t now);
/* Outcomes. Each returns the new state. */
enum breaker_state breaker_success(struct breaker *b);
enum breaker_state breaker_failure(struct breaker *b, uint64_t now);
/* A failure that is a timeout (see above). */
enum breaker_state breaker_timeout(struct breaker *b, uint64_t now);
/* A request let through that ended with neither (cancelled). */
void breaker_abandon(struct breaker *b);

#endif

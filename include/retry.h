/*
 * retry: the delay before a backend request is tried again, and the
 * parsers of the headers that set it (Retry-After, rate-limit resets).
 */
#ifndef VSAMPD_RETRY_H
#define VSAMPD_RETRY_H

#include <stdint.h>

/* The delay before retry number `attempt` (1-based): exponential from
 * base_ms, capped at cap_ms, with full jitter drawn from *rng; at least the
 * Retry-After value (ms, 0 when none) capped at max_retry_after_ms.
 */
uint64_t retry_backoff(unsigned attempt, uint64_t base_ms, uint64_t cap_ms,
    uint64_t retry_after_ms, uint64_t max_retry_after_ms, uint64_t *rng);

/* Parse a Retry-After value (delta-seconds or an HTTP date) into ms from
 * now; 0 when absent or unparseable. */
uint64_t retry_after_ms(const char *value);

/* Parse a rate-limit reset: a duration ("1s", "6m0s", "20ms", "1.5s")
 * or an RFC 3339 time ("2026-12-01T18:00:05Z"), into ms from now_s
 * (seconds since the epoch); -1 when unparseable. */
long retry_reset_ms(const char *value, long long now_s);

#endif

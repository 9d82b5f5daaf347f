/*
 * progress: a one-line progress bar with rate and ETA on a terminal
 * (stderr), for vsampctl. Nothing is drawn when stderr is not a tty, so
 * logs and pipes stay clean. Redraws at most 10 times a second.
 */
#ifndef VSAMPD_PROGRESS_H
#define VSAMPD_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

struct progress {
	int enabled;
	const char *what; /* "jobs" */
	size_t total; /* 0: unknown, no bar or ETA */
	uint64_t t0_ms;
	uint64_t last_ms;
	int drawn;
};

/* Start; enabled only when stderr is a terminal and show != 0. */
void progress_init(
    struct progress *p, const char *what, size_t total, int show);
/* Redraw with done items (ok and failed of them), unless drawn < 100 ms
 * ago; force != 0 draws anyway. */
void progress_update(struct progress *p, size_t done, size_t failed, int force);
/* Finish the line (a newline) if anything was drawn. */
void progress_end(struct progress *p);

#endif

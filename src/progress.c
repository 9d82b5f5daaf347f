/*
 * progress: "\r[#####.....]  42/100 jobs, 2 failed, 3.1/s, ETA 19s".
 *
 * vsampctl only: it formats the line and writes it to stderr when that
 * is a terminal; it does no other I/O.
 */
#include <stdio.h>
#include <unistd.h>

#include "loop.h"
#include "progress.h"

#define BAR 24

void
progress_init(struct progress *p, const char *what, size_t total, int show)
{
	p->enabled = show && isatty(STDERR_FILENO);
	p->what = what;
	p->total = total;
	p->t0_ms = loop_clock_ms();
	p->last_ms = 0;
	p->drawn = 0;
}

void
progress_update(struct progress *p, size_t done, size_t failed, int force)
{
	uint64_t now = loop_clock_ms();
	double secs, rate;
	char bar[BAR + 1];

	if (!p->enabled || (!force && now - p->last_ms < 100))
		return;
	p->last_ms = now;
	secs = (double)(now - p->t0_ms) / 1000.0;
	rate = secs > 0 ? (double)done / secs : 0.0;
	if (p->total > 0) {
		size_t fill = done >= p->total ? BAR : done * BAR / p->total;

		for (size_t i = 0; i < BAR; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[BAR] = '\0';
		fprintf(stderr, "\r[%s] %zu/%zu %s", bar, done, p->total,
		    p->what);
	} else
		fprintf(stderr, "\r%zu %s", done, p->what);
	if (failed > 0)
		fprintf(stderr, ", %zu failed", failed);
	fprintf(stderr, ", %.1f/s", rate);
	if (p->total > 0 && done < p->total && rate > 0)
		fprintf(stderr, ", ETA %.0fs",
		    (double)(p->total - done) / rate);
	fprintf(stderr, "\033[K");
	fflush(stderr);
	p->drawn = 1;
}

void
progress_end(struct progress *p)
{
	if (p->enabled && p->drawn)
		fputc('\n', stderr);
	p->drawn = 0;
}

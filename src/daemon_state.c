/*
 * daemon_state: what the daemon keeps on disk between runs. The dedup
 * state file is saved in slices across loop turns and finished on the
 * offload thread, so that saving never stalls the loop; the in-flight
 * record (worker.inflight_file) counts the unclean exits for
 * worker.poison_exits. The file formats belong to scope_file.c and
 * inflight.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "conf.h"
#include "daemon_int.h"
#include "inflight.h"
#include "log.h"
#include "loop.h"
#include "offload.h"
#include "pipeline.h"
#include "scope.h"
#include "scope_file.h"
#include "xmalloc.h"

#define SAVE_INTERVAL_MS 60000
#define SAVE_SLICE 65536 /* state-file entries written per loop turn */

/* The end of a save: the trailer, fsync and rename, on the worker
 * thread (they may take long on a busy disk). */
struct save_task {
	struct daemon *d;
	struct scope_file_saver *sv;
	int rc;
	char err[512];
};

static void
save_work(void *arg)
{
	struct save_task *t = arg;

	t->rc = scope_file_save_finish(t->sv, t->err, sizeof(t->err));
}

static void
daemon_saved(
    struct daemon *d, struct scope_file_saver *sv, int rc, const char *err)
{
	if (rc == 0)
		log_debug("dedup state saved to %s: %zu entries",
		    d->conf->state_file, scope_file_save_written(sv));
	else
		log_warnx("dedup state %s: %s", d->conf->state_file, err);
	scope_file_save_free(sv);
}

static void
save_done(void *arg, int cancelled)
{
	struct save_task *t = arg;
	struct daemon *d = t->d;

	if (!cancelled)
		daemon_saved(d, t->sv, t->rc, t->err);
	else
		scope_file_save_free(t->sv);
	d->saver = NULL;
	d->save_task = NULL;
	free(t);
}

static int
range_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/*
 * One partition's checkpoint, for a save beginning now. Its entries are
 * those of the index but the ones of jobs still in flight (their
 * records may never be acknowledged, or be aborted); its offset is where
 * a restore must read on so that it misses no acknowledged record of
 * theirs: the offset after every record acknowledged, or the first of an
 * in-flight job's, whichever is lower. Records read again on restore are
 * entries already held, and skipped. *rangesp gets the skip ranges
 * (free() them).
 */
static void
checkpoint_section(
    struct dpart *p, struct scope_file_section *sec, uint64_t **rangesp)
{
	struct djob *j;
	uint64_t *r = NULL;
	size_t n = 0, cap = 0;
	int64_t off = p->scope_next;

	TAILQ_FOREACH(j, &p->jobs, pentry)
	{
		if (j->has_scope_lo && j->scope_lo < off)
			off = j->scope_lo;
		if (j->jr.nadded == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			r = xreallocarray(r, cap, 2 * sizeof(*r));
		}
		r[2 * n] = j->jr.first;
		r[2 * n + 1] = j->jr.first + j->jr.nadded;
		n++;
	}
	if (n > 1)
		qsort(r, n, 2 * sizeof(*r), range_cmp);
	memset(sec, 0, sizeof(*sec));
	sec->partition = p->partition;
	sec->offset = off;
	sec->s = p->scope;
	sec->skip = r;
	sec->nskip = n;
	*rangesp = r;
}

/*
 * With the changelog: a checkpoint per restored partition, and the
 * checkpoints loaded at start that no assignment took (still valid for
 * their partitions). Partitions still restoring have none yet.
 */
static struct scope_file_saver *
daemon_save_begin_parts(struct daemon *d, char *err, size_t errlen)
{
	size_t n = 0, max = d->nparts + d->nckpt;
	struct scope_file_section *secs;
	uint64_t **ranges;
	struct scope_file_saver *sv;

	secs = xcalloc(max + 1, sizeof(*secs));
	ranges = xcalloc(max + 1, sizeof(*ranges));
	for (size_t i = 0; i < d->nparts; i++) {
		struct dpart *p = d->parts[i];

		if (p == NULL || p->scope == NULL || p->restoring)
			continue;
		checkpoint_section(p, &secs[n], &ranges[n]);
		n++;
	}
	for (size_t i = 0; i < d->nckpt; i++) {
		secs[n].partition = d->ckpt[i].partition;
		secs[n].offset = d->ckpt[i].offset;
		secs[n].s = d->ckpt[i].s;
		n++;
	}
	sv = scope_file_save_begin_parts(
	    d->conf->state_file, d->conf->scope_topic, secs, n, err, errlen);
	for (size_t i = 0; i < n; i++)
		free(ranges[i]);
	free(ranges);
	free(secs);
	return sv;
}

/*
 * A partition's index is about to be freed or cleared: a save that
 * still reads it is given up (the next one starts afresh). One whose
 * end is being written on the worker no longer reads any index.
 */
void
daemon_save_abandon(struct daemon *d)
{
	if (d->saver == NULL || d->save_task != NULL)
		return;
	scope_file_save_free(d->saver);
	d->saver = NULL;
}

/*
 * The dedup state file: a save starts every SAVE_INTERVAL_MS and writes
 * SAVE_SLICE entries per tick, so that saving never stalls the loop.
 * finish != 0 (the drain) writes everything now.
 */
void
daemon_save_state(struct daemon *d, int finish)
{
	struct scope *sc = pipeline_scope(d->pl);
	struct offload *off = pipeline_offload(d->pl);
	const char *path = d->conf->state_file;
	char err[512];
	int rc;

	if (path == NULL || *path == '\0' || sc == NULL)
		return;
	if (d->save_task != NULL) {
		/* Its end is being written; at the drain, wait for it. */
		if (!finish)
			return;
		offload_wait(off);
	}
	if (d->saver == NULL) {
		if (!finish &&
		    loop_clock_ms() - d->last_save < SAVE_INTERVAL_MS)
			return;
		/* Not while an index restores: the file keeps its
		 * checkpoint meanwhile. */
		if (d->nrestoring > 0)
			return;
		d->last_save = loop_clock_ms();
		if (d->rcons != NULL)
			d->saver = daemon_save_begin_parts(d, err, sizeof(err));
		else if (scope_count(sc) == 0)
			return;
		else
			d->saver =
			    scope_file_save_begin(sc, path, err, sizeof(err));
		if (d->saver == NULL) {
			log_warnx("dedup state %s: %s", path, err);
			return;
		}
		scope_file_save_defer_finish(d->saver);
	}
	do {
		rc = scope_file_save_step(
		    d->saver, SAVE_SLICE, err, sizeof(err));
	} while (finish && rc == 1);
	if (rc == 1)
		return;
	if (rc == 2 && !finish && off != NULL) {
		struct save_task *t = xcalloc(1, sizeof(*t));

		t->d = d;
		t->sv = d->saver;
		d->save_task = offload_submit(off, save_work, save_done, t);
		return;
	}
	if (rc == 2)
		rc = scope_file_save_finish(d->saver, err, sizeof(err));
	daemon_saved(d, d->saver, rc, err);
	d->saver = NULL;
}

void
daemon_load_state(struct daemon *d)
{
	struct scope *sc = pipeline_scope(d->pl);
	const char *path = d->conf->state_file;
	char err[512];

	/* With the changelog, the checkpoints are loaded once the
	 * partition count is known (daemon_scope_check()). */
	d->last_save = loop_clock_ms();
	if (path == NULL || *path == '\0' || sc == NULL ||
	    d->conf->scope_topic != NULL)
		return;
	if (scope_file_load(sc, path, err, sizeof(err)) == -1)
		log_warnx("dedup state %s ignored: %s", path, err);
	else if (scope_count(sc) > 0)
		log_info("dedup state loaded from %s: %zu entries", path,
		    scope_count(sc));
	d->last_save = loop_clock_ms();
}

/*
 * The in-flight record (worker.inflight_file, by default beside the
 * dedup state file), for worker.poison_exits. Without a file the rule
 * is off, and start-up says so.
 */
void
daemon_open_inflight(struct daemon *d)
{
	const struct conf *c = d->conf;
	char *path, err[512];
	size_t slots = 4 * (size_t)c->max_inflight + 1024;

	if (c->poison_exits == 0)
		return;
	if (c->inflight_file != NULL)
		path = xstrdup(c->inflight_file);
	else if (c->state_file != NULL && *c->state_file != '\0')
		path = xasprintf("%s.inflight", c->state_file);
	else
		path = xstrdup("");
	if (*path == '\0') {
		log_info("worker.poison_exits is off: no worker.inflight_file "
			 "or dedup.state_file to record jobs in flight");
		free(path);
		return;
	}
	d->inf = inflight_open(path, c->jobs_topic, slots, err, sizeof(err));
	if (d->inf == NULL)
		log_warnx(
		    "worker.poison_exits is off: in-flight record %s", err);
	else if (inflight_nsuspects(d->inf) > 0)
		log_warnx("in-flight record %s: %zu job(s) were in flight at "
			  "the last exit, which was unclean (suspects)",
		    path, inflight_nsuspects(d->inf));
	free(path);
}

/*
 * daemon_consume: the consuming half of the daemon. It keeps the assigned
 * partitions and their trackers, turns each job message into a job slot
 * (struct djob) and hands it to the pipeline, applies backpressure (the
 * gate, then pausing), quarantines poison jobs, and handles rebalances.
 * A slot ends in djob_release(), which moves the partition's watermark.
 * It never produces: results go out through daemon_produce.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "conf.h"
#include "daemon_int.h"
#include "inflight.h"
#include "kafka.h"
#include "log.h"
#include "loop.h"
#include "pipeline.h"
#include "result.h"
#include "tracker.h"
#include "xmalloc.h"

/* At worker.max_inflight, stop taking messages; still there after this
 * long, pause the partitions (see daemon_backpressure). */
#define GATE_MS 1000

static void daemon_forget_revoked(struct daemon *d);
static void djob_forget(struct daemon *d, struct djob *j);

/* ---- partitions ---- */

static struct dpart *
dpart_get(struct daemon *d, int32_t partition)
{
	if (partition < 0 || (size_t)partition >= d->nparts)
		return NULL;
	return d->parts[partition];
}

void
dpart_store(struct daemon *d, struct dpart *p)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;
	int64_t wm = tracker_watermark(p->tr);

	/* Exactly-once commits offsets in its transactions, never here. */
	if (d->eos || wm < 0 || wm <= p->stored)
		return;
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, d->conf->jobs_topic, p->partition)
	    ->offset = wm;
	err = rd_kafka_offsets_store(d->cons, l);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].err == 0)
		p->stored = wm;
	else
		log_debug("topic %s partition %" PRId32 ": cannot store "
			  "offset %" PRId64 ": %s",
		    d->conf->jobs_topic, p->partition, wm,
		    rd_kafka_err2str(err ? err : l->elems[0].err));
	rd_kafka_topic_partition_list_destroy(l);
}

/*
 * An offset at or below the last one received: the partition's log went
 * back (the topic deleted and created again, its log truncated by an
 * unclean leader election, an offset reset). The job is processed, not
 * dropped as already seen: the partition starts a new epoch with a new
 * tracker, so offsets are stored from the new sequence. Jobs of the old
 * epoch still produce their results (at-least-once) but store no offset;
 * in exactly-once mode they are forgotten, as on a revocation.
 */
static void
dpart_new_epoch(struct daemon *d, struct dpart *p, int64_t offset)
{
	struct djob *j;
	size_t n = 0;

	TAILQ_FOREACH(j, &p->jobs, pentry)
	n++;
	log_warnx("topic %s partition %" PRId32 ": offset went back from "
		  "%" PRId64 " to %" PRId64 " (topic recreated, log truncated "
		  "or offset reset): processing from %" PRId64 "; %zu job(s) "
		  "consumed before store no offset",
	    d->conf->jobs_topic, p->partition, p->last, offset, offset, n);
	tracker_free(p->tr);
	p->tr = tracker_new();
	p->epoch++;
	p->stored = -1;
	if (d->eos) {
		while ((j = TAILQ_FIRST(&p->jobs)) != NULL)
			djob_forget(d, j);
		daemon_forget_revoked(d);
	}
}

/* ---- jobs ---- */

/* A suspect still waiting to run alone that is forgotten (revoked,
 * rewound) never runs: it is released like any forgotten job, and the
 * loop takes messages again. */
void
djob_unsuspect(struct daemon *d, struct djob *j)
{
	if (!j->waiting)
		return;
	j->waiting = 0;
	j->in_pipeline = 0;
	if (d->suspect == j)
		d->suspect = NULL;
}

/* j's partition is gone: its result, if it comes, is dropped; the
 * pipeline work stops at daemon_forget_revoked(). */
static void
djob_forget(struct daemon *d, struct djob *j)
{
	TAILQ_REMOVE(&j->part->jobs, j, pentry);
	j->part = NULL;
	j->forgotten = 1;
	TAILQ_INSERT_TAIL(&d->forgotten, j, pentry);
	djob_unsuspect(d, j);
}

void
djob_free(struct djob *j)
{
	struct daemon *d = j->d;

	if (j->part != NULL)
		TAILQ_REMOVE(&j->part->jobs, j, pentry);
	else if (j->forgotten)
		TAILQ_REMOVE(&d->forgotten, j, pentry);
	TAILQ_REMOVE(&d->jobs, j, dentry);
	if (j->hdrs != NULL)
		rd_kafka_headers_destroy(j->hdrs);
	result_free(j->res);
	for (int w = 0; w < OUT_N; w++)
		pmsg_free(j->orig[w]);
	scope_journal_free(&j->jr);
	inflight_del(d->inf, j->slot);
	if (d->suspect == j) {
		/* Done: take messages again. */
		d->suspect = NULL;
		if (d->feed != NULL)
			loop_timer_set(d->feed, 0);
	}
	free(j->key);
	free(j->value);
	free(j->id);
	free(j);
	d->inflight--;
}

static void
daemon_set_paused(struct daemon *d, int pause)
{
	rd_kafka_topic_partition_list_t *l;

	l = rd_kafka_topic_partition_list_new((int)d->nparts);
	for (size_t i = 0; i < d->nparts; i++) {
		struct dpart *p = d->parts[i];

		/* A partition restoring its dedup index stays paused
		 * until the restore ends (daemon_scope.c). */
		if (p == NULL || p->paused == pause || (!pause && p->restoring))
			continue;
		rd_kafka_topic_partition_list_add(
		    l, d->conf->jobs_topic, p->partition);
		p->paused = pause;
	}
	if (l->cnt > 0) {
		if (pause)
			rd_kafka_pause_partitions(d->cons, l);
		else
			rd_kafka_resume_partitions(d->cons, l);
		log_debug("%s %d partition(s) at %zu jobs in flight",
		    pause ? "paused" : "resumed", l->cnt, d->inflight);
	}
	rd_kafka_topic_partition_list_destroy(l);
	d->bp_paused = pause;
}

/*
 * Backpressure, in two steps. At worker.max_inflight the gate closes:
 * the loop stops taking messages from the consumer queue, and what
 * librdkafka has prefetched waits there, so that a freed slot is filled
 * at once. Pausing instead would drop the prefetched messages, and
 * fetching them again waits behind the outstanding fetch request
 * (fetch.wait.max.ms), which caps throughput near max_inflight per half
 * second. While the gate is closed the consumer is not polled; when it
 * stays closed for GATE_MS (nothing finished), the partitions are paused
 * and polling goes on, as max.poll.interval.ms and rebalances need. They
 * resume at worker.resume_inflight.
 */
void
daemon_backpressure(struct daemon *d)
{
	uint64_t now;

	/* A suspect (see daemon_quarantine) closes the gate as a full
	 * window does, and the partitions pause after GATE_MS, so that
	 * polling goes on while it runs alone. */
	int hold = d->suspect != NULL;

	if (d->state != D_RUNNING)
		return;
	if (d->bp_paused) {
		if (!hold && d->inflight <= (size_t)d->conf->resume_inflight) {
			daemon_set_paused(d, 0);
			loop_timer_set(d->feed, 0);
		}
		return;
	}
	if (!hold && d->inflight < (size_t)d->conf->max_inflight) {
		if (d->gated) {
			d->gated = 0;
			loop_timer_set(d->feed, 0);
		}
		return;
	}
	now = loop_clock_ms();
	if (!d->gated) {
		d->gated = 1;
		d->gated_since = now;
	} else if (now - d->gated_since >= GATE_MS) {
		d->gated = 0;
		daemon_set_paused(d, 1);
		loop_timer_set(d->feed, 0);
	}
}

/* Hand a job's bytes to the pipeline, with its partition's dedup index
 * when the changelog is on. */
void
djob_submit(struct daemon *d, struct djob *j, const void *buf, size_t len)
{
	struct pipeline_src src;
	struct pjob *pj;

	memset(&src, 0, sizeof(src));
	src.topic = d->conf->jobs_topic;
	src.partition = j->partition;
	src.offset = j->offset;
	if (j->part != NULL && j->part->scope != NULL) {
		src.scope = j->part->scope;
		src.journal = &j->jr;
	}

	/* Recorded before the pipeline sees it: a crash inside counts. A
	 * suspect is recorded only now that it runs, so that another job's
	 * crash while it waits is not charged to it. */
	if (j->slot == -1)
		j->slot = inflight_add(d->inf, j->partition, j->offset);
	j->in_pipeline = 1;
	j->waiting = 0;
	/* NULL: it ended at once, and j may be gone with it. */
	if ((pj = pipeline_submit(d->pl, buf, len, &src, j)) != NULL)
		j->pj = pj;
}

/* A suspect waits until it is the only job in flight (and its
 * partition's index is restored), then runs. */
void
daemon_run_suspect(struct daemon *d)
{
	struct djob *j = d->suspect;

	if (j == NULL || !j->waiting || d->inflight != 1 || d->pl == NULL ||
	    j->part == NULL || j->part->restoring)
		return;
	log_info("job at topic %s partition %" PRId32 " offset %" PRId64
		 ": running it alone",
	    d->conf->jobs_topic, j->partition, j->offset);
	djob_submit(d, j, j->value, j->vlen);
}

/* Both references are gone: the job is done (or forgotten). */
void
djob_release(struct djob *j)
{
	struct daemon *d = j->d;

	if (j->in_pipeline || j->acks > 0)
		return;
	/* Exactly-once: a result waits for its transaction. */
	if (j->res != NULL && j->part != NULL)
		return;
	/* A job of an earlier epoch (offsets went back since) has no
	 * place in the partition's new sequence. */
	if (j->part != NULL && j->epoch == j->part->epoch) {
		tracker_done(j->part->tr, j->offset);
		dpart_store(d, j->part);
	}
	djob_free(j);
	daemon_run_suspect(d);
	daemon_backpressure(d);
	daemon_check_drained(d);
}

/* ---- consuming ---- */

/*
 * worker.poison_exits: a job that was in flight at that many unclean
 * exits in a row is not run again. It gets a `poison` error result (id
 * nil: the job is not decoded, since decoding may be what crashes) and
 * its DLQ copy, and the partition moves on.
 */
static void
daemon_quarantine(struct daemon *d, struct djob *j, unsigned exits)
{
	struct result *r = result_new();
	char msg[200];

	snprintf(msg, sizeof(msg),
	    "job was in flight at %u unclean exits in a row "
	    "(worker.poison_exits = %d): quarantined, not run again",
	    exits, d->conf->poison_exits);
	log_warnx("job at topic %s partition %" PRId32 " offset %" PRId64
		  ": %s",
	    d->conf->jobs_topic, j->partition, j->offset, msg);
	r->source_topic = xstrdup(d->conf->jobs_topic);
	r->source_partition = j->partition;
	r->source_offset = j->offset;
	result_set_error(r, ERR_POISON, msg);
	j->in_pipeline = 0;
	if (d->eos) {
		j->res = r; /* goes out in the next transaction */
		return;
	}
	daemon_emit(d, j, r);
	result_free(r);
	djob_release(j);
}

static void
daemon_on_message(struct daemon *d, rd_kafka_message_t *m)
{
	struct dpart *p;
	struct djob *j;
	rd_kafka_headers_t *h;
	unsigned exits, alone;

	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_warnx("kafka consumer: %s", rd_kafka_message_errstr(m));
		return;
	}
	if (d->state != D_RUNNING)
		return; /* not started: redelivered after restart */
	if ((p = dpart_get(d, m->partition)) == NULL)
		return; /* not ours (any more) */
	if (tracker_add(p->tr, m->offset) == -1) {
		dpart_new_epoch(d, p, m->offset);
		(void)tracker_add(p->tr, m->offset);
	}
	p->last = m->offset;
	j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->part = p;
	j->epoch = p->epoch;
	j->partition = m->partition;
	j->offset = m->offset;
	if (m->key != NULL) {
		j->key = xstrndup(m->key, m->key_len);
		j->keylen = m->key_len;
	}
	j->vlen = m->len;
	if (m->len <= (size_t)d->conf->max_message_bytes)
		j->value = xstrndup(m->payload ? m->payload : "", m->len);
	if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
		j->hdrs = rd_kafka_headers_copy(h);
	TAILQ_INSERT_TAIL(&p->jobs, j, pentry);
	TAILQ_INSERT_TAIL(&d->jobs, j, dentry);
	d->inflight++;
	j->slot = -1;
	exits = inflight_exits(d->inf, m->partition, m->offset);
	if (exits > 0 && d->conf->poison_exits > 0 &&
	    exits >= (unsigned)d->conf->poison_exits) {
		daemon_quarantine(d, j, exits);
		return;
	}
	/* A suspect's last chance (one exit short of poison_exits, and
	 * never the first: one kill of a busy daemon must not make its
	 * restart crawl) runs alone, so that a crash it causes is pinned
	 * on it and on no other job: it starts once the others have
	 * ended, and no message is taken until it ends. */
	alone = d->conf->poison_exits > 2 ? d->conf->poison_exits - 1 : 1;
	if (exits > 0)
		log_warnx("job at topic %s partition %" PRId32
			  " offset %" PRId64 " was in flight at %u unclean "
			  "exit(s) in a row%s",
		    d->conf->jobs_topic, m->partition, m->offset, exits,
		    exits >= alone && j->value != NULL ? ": it runs alone"
						       : "");
	if (exits >= alone && exits > 0 && j->value != NULL) {
		j->waiting = 1;
		j->in_pipeline = 1;
		d->suspect = j;
		daemon_run_suspect(d);
		daemon_backpressure(d);
		return;
	}
	/* Its partition's dedup index is not restored yet: it waits, and
	 * runs once the restore ends (a job too large to keep fails at
	 * once, without the index). */
	if (p->restoring && j->value != NULL) {
		j->restore_wait = 1;
		daemon_backpressure(d);
		return;
	}
	djob_submit(d, j, m->payload ? m->payload : "", m->len);
	daemon_backpressure(d);
}

void
daemon_poll_consumer(struct daemon *d)
{
	rd_kafka_message_t *m;

	/* The pipe is written only when the queue goes from empty to not
	 * empty: drain it all, or up to the gate (daemon_backpressure),
	 * which then drains the rest when it opens. */
	while (!d->gated && (m = rd_kafka_consumer_poll(d->cons, 0)) != NULL) {
		daemon_on_message(d, m);
		rd_kafka_message_destroy(m);
	}
}

void
daemon_on_feed(void *arg)
{
	daemon_poll_consumer(arg);
}

void
daemon_on_consumer_fd(int fd, uint32_t events, void *arg)
{
	kafka_pipe_drain(fd);
	daemon_poll_consumer(arg);
}

/* Pause (pause != 0) the newly assigned parts, or resume those of them
 * that we had paused before they were revoked. */
static void
daemon_assign_pause(
    struct daemon *d, rd_kafka_topic_partition_list_t *parts, int pause)
{
	rd_kafka_topic_partition_list_t *l;

	l = rd_kafka_topic_partition_list_new(parts->cnt > 0 ? parts->cnt : 1);
	for (int i = 0; i < parts->cnt; i++) {
		int32_t n = parts->elems[i].partition;
		struct dpart *p = dpart_get(d, n);

		if (p == NULL)
			continue;
		if (pause) {
			p->paused = 1;
			d->paused_gone[n] = 0;
		} else if (!d->paused_gone[n])
			continue;
		d->paused_gone[n] = 0;
		rd_kafka_topic_partition_list_add(l, parts->elems[i].topic, n);
	}
	if (l->cnt > 0) {
		if (pause)
			rd_kafka_pause_partitions(d->cons, l);
		else
			rd_kafka_resume_partitions(d->cons, l);
	}
	rd_kafka_topic_partition_list_destroy(l);
}

void
daemon_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct daemon *d = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		int pause = d->bp_paused || d->state != D_RUNNING;

		for (int i = 0; i < parts->cnt; i++) {
			int32_t n = parts->elems[i].partition;
			struct dpart *p;

			if (n < 0)
				continue;
			if ((size_t)n >= d->nparts) {
				d->parts = xreallocarray(
				    d->parts, (size_t)n + 1, sizeof(*d->parts));
				memset(d->parts + d->nparts, 0,
				    ((size_t)n + 1 - d->nparts) *
					sizeof(*d->parts));
				d->paused_gone = xreallocarray(d->paused_gone,
				    (size_t)n + 1, sizeof(*d->paused_gone));
				memset(d->paused_gone + d->nparts, 0,
				    (size_t)n + 1 - d->nparts);
				d->nparts = (size_t)n + 1;
			}
			if (d->parts[n] != NULL)
				continue;
			p = xcalloc(1, sizeof(*p));
			p->partition = n;
			p->tr = tracker_new();
			p->stored = -1;
			p->last = -1;
			TAILQ_INIT(&p->jobs);
			d->parts[n] = p;
		}
		rd_kafka_assign(rk, parts);
		/* librdkafka keeps a partition's pause flag across unassign:
		 * one we paused before a revoke would stay paused, so it is
		 * resumed; any other (paused by someone else, e.g. an
		 * interceptor) is left as it is. Over max_inflight, every
		 * new partition is paused, and then it is ours. */
		daemon_assign_pause(d, parts, pause);
		/* With the changelog, each new partition's index is
		 * restored before its jobs run (daemon_scope.c). */
		for (int i = 0; i < parts->cnt; i++) {
			struct dpart *p =
			    dpart_get(d, parts->elems[i].partition);

			if (p != NULL && p->scope == NULL)
				daemon_scope_assigned(d, p);
		}
		log_info("assigned %d partition(s) of %s", parts->cnt,
		    d->conf->jobs_topic);
	} else {
		/* Exactly-once: what is finished goes out, with its offsets,
		 * before the partitions do (or is aborted and redone). Not
		 * when the assignment was lost (the session timed out): the
		 * group has moved on, and the new owner redoes those jobs. */
		if (d->eos && rd_kafka_assignment_lost(rk)) {
			size_t n = 0;
			struct djob *j;

			TAILQ_FOREACH(j, &d->jobs, dentry)
			n += j->res != NULL && !j->in_txn && j->part != NULL;
			log_warnx("exactly-once: the assignment was lost; %zu "
				  "finished result(s) not committed, their "
				  "partitions' next owner redoes them",
			    n);
		} else if (d->eos)
			daemon_txn_commit(d);
		for (int i = 0; i < parts->cnt; i++) {
			struct dpart *p =
			    dpart_get(d, parts->elems[i].partition);
			struct djob *j;

			if (p == NULL)
				continue;
			dpart_store(d, p);
			d->paused_gone[p->partition] = p->paused != 0;
			/* In-flight jobs of this partition are forgotten:
			 * their results, if they come, are dropped. */
			while ((j = TAILQ_FIRST(&p->jobs)) != NULL)
				djob_forget(d, j);
			/* Their pipeline work ends before the index goes. */
			daemon_forget_revoked(d);
			daemon_scope_revoked(d, p);
			tracker_free(p->tr);
			free(p);
			d->parts[parts->elems[i].partition] = NULL;
		}
		if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
			log_warnx("rebalance error: %s", rd_kafka_err2str(err));
		rd_kafka_assign(rk, NULL);
		log_info("revoked %d partition(s) of %s", parts->cnt,
		    d->conf->jobs_topic);
		daemon_forget_revoked(d);
	}
	daemon_set_ready(d);
}

/*
 * Stop the pipeline work of the jobs forgotten since (their partition
 * revoked): the next owner answers them, so their backend calls are
 * wasted and would hold in-flight slots for up to job_timeout_ms. Jobs
 * already producing keep their messages (duplicates are allowed) and are
 * freed when acked. The work is per forgotten job, each O(1), never a
 * scan of every job in flight.
 */
static void
daemon_forget_revoked(struct daemon *d)
{
	struct djob *j;

	while ((j = TAILQ_FIRST(&d->forgotten)) != NULL) {
		TAILQ_REMOVE(&d->forgotten, j, pentry);
		j->forgotten = 0;
		if (j->in_pipeline && d->pl != NULL) {
			pipeline_cancel(d->pl, j->pj);
			j->pj = NULL;
			j->in_pipeline = 0;
		}
		if (j->acks == 0)
			djob_release(j);
	}
}

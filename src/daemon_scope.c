/*
 * daemon_scope: the dedup changelog (kafka.scope_topic, docs/dedup.md).
 *
 * With the changelog on, every assigned partition of the jobs topic has
 * a dedup index of its own, and the changelog topic, partitioned like
 * the jobs topic, holds its entries: partition n's index is logged to
 * changelog partition n. Whichever instance owns a partition owns its
 * index, the way a Kafka Streams task owns its state store:
 *
 *  - on assignment, the index is restored before any job of the
 *    partition runs: from the partition's checkpoint in the state file
 *    and the changelog records after its offset, or from the start of
 *    the changelog. A dedicated consumer (kafka_restore_consumer_new())
 *    reads them, in slices of RESTORE_SLICE records per loop turn, so the
 *    jobs of other partitions keep flowing. Jobs of the partition that
 *    arrive meanwhile wait in their slots (restore_wait);
 *  - a job's records (an entry for each text its dedup inserted, and a
 *    tombstone for each entry evicted to make room) are produced with its
 *    result, to the job's own changelog partition, and count among the
 *    job's acks: its offset is stored only once they are acknowledged
 *    too (in exactly-once mode they are in its transaction);
 *  - on revocation the index is dropped; after an aborted transaction
 *    every index is restored again from what the changelog committed.
 *
 * Replaying a partition's records in order, inserting each entry into an
 * index of the same capacity, rebuilds the index: it evicts the oldest
 * entries exactly when the live index did. Tombstones are therefore not
 * needed to restore, and are skipped; they exist so that compaction
 * bounds the topic. An entry is put only while it is still held when its
 * job produces, so no tombstone ever precedes its entry.
 *
 * The state file is then a checkpoint of the changelog (daemon_state.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "conf.h"
#include "daemon_int.h"
#include "kafka.h"
#include "log.h"
#include "loop.h"
#include "pipeline.h"
#include "scope.h"
#include "scope_file.h"
#include "scopelog.h"
#include "stats.h"
#include "xmalloc.h"

#define RESTORE_SLICE 20000 /* changelog records read per loop turn */
#define EMIT_CHUNK 64 /* entries read back from the index at a time */

static void restore_begin(struct daemon *d, struct dpart *p, int64_t from);

static struct dpart *
scope_part(const struct daemon *d, int32_t partition)
{
	if (partition < 0 || (size_t)partition >= d->nparts)
		return NULL;
	return d->parts[partition];
}

static const char *
offset_name(int64_t off, char *buf, size_t len)
{
	if (off == RD_KAFKA_OFFSET_BEGINNING)
		return "the start";
	snprintf(buf, len, "offset %" PRId64, off);
	return buf;
}

/* ---- start and stop ---- */

/* Start-up: the restore consumer. */
void
daemon_scope_start(struct daemon *d)
{
	char err[512];

	if (d->conf->scope_topic == NULL)
		return;
	d->rcons = kafka_restore_consumer_new(d->conf, err, sizeof(err));
	if (d->rcons == NULL)
		fatalx("kafka.scope_topic: %s", err);
}

/* The checkpoints of the state file, for the partitions assigned later. */
static void
scope_load_checkpoints(struct daemon *d)
{
	const char *path = d->conf->state_file;
	struct scope_file_part *parts = NULL;
	size_t n = 0, entries = 0;
	char *topic = NULL, err[512];

	if (path == NULL || *path == '\0')
		return;
	if (scope_file_load_parts(path, d->scope_cap, &topic, &parts, &n, err,
		sizeof(err)) == -1) {
		log_warnx("dedup state %s ignored: %s; each partition restores "
			  "its index from the start of %s",
		    path, err, d->conf->scope_topic);
		return;
	}
	if (n > 0 && strcmp(topic, d->conf->scope_topic) != 0) {
		log_warnx("dedup state %s ignored: it checkpoints changelog "
			  "%s, not %s; each partition restores its index from "
			  "the start",
		    path, topic, d->conf->scope_topic);
		scope_file_parts_free(parts, n);
		free(topic);
		return;
	}
	free(topic);
	for (size_t i = 0; i < n; i++)
		entries += scope_count(parts[i].s);
	d->ckpt = parts;
	d->nckpt = n;
	if (n > 0)
		log_info("dedup state loaded from %s: checkpoints of %zu "
			 "partition(s), %zu entries",
		    path, n, entries);
}

/*
 * The topics exist: the changelog must have the jobs topic's partition
 * count, or partition n's index could not be logged to partition n. A
 * mismatch ends the start before anything is consumed (exit status 1).
 */
void
daemon_scope_check(struct daemon *d, int jobs_parts, int scope_parts)
{
	long cap = d->conf->scope_capacity;

	if (jobs_parts != scope_parts)
		fatalx("kafka.scope_topic: changelog %s has %d partition(s) "
		       "and jobs topic %s has %d: the changelog must have as "
		       "many partitions as the jobs topic (docs/dedup.md); "
		       "not starting",
		    d->conf->scope_topic, scope_parts, d->conf->jobs_topic,
		    jobs_parts);
	d->scope_nparts = jobs_parts;
	/* dedup.scope_capacity bounds the whole topic's entries, split
	 * evenly: an instance holds at most that many, whichever
	 * partitions it owns, and an index evicts the same entries
	 * whoever owns it. */
	d->scope_cap = (size_t)((cap + jobs_parts - 1) / jobs_parts);
	log_info("dedup changelog %s: %d partition(s), each index holds at "
		 "most %zu entries",
	    d->conf->scope_topic, jobs_parts, d->scope_cap);
	scope_load_checkpoints(d);
}

static void restore_on_fd(int fd, uint32_t events, void *arg);
static void restore_on_feed(void *arg);

/* Put the restore consumer's queue on the loop. */
void
daemon_scope_wire(struct daemon *d)
{
	if (d->rcons == NULL)
		return;
	d->rq = rd_kafka_queue_get_consumer(d->rcons);
	if ((d->rfd = kafka_queue_pipe(d->rq, &d->rwfd)) == -1)
		fatal("pipe");
	if ((d->rio = loop_io_add(
		 d->loop, d->rfd, EPOLLIN, restore_on_fd, d)) == NULL)
		fatal("epoll_ctl");
	d->rfeed = loop_timer_new(d->loop, restore_on_feed, d);
}

void
daemon_scope_unwire(struct daemon *d)
{
	if (d->rcons == NULL)
		return;
	loop_io_del(d->rio);
	d->rio = NULL;
	loop_timer_free(d->rfeed);
	d->rfeed = NULL;
	rd_kafka_queue_io_event_enable(d->rq, -1, NULL, 0);
	rd_kafka_queue_destroy(d->rq);
	d->rq = NULL;
}

/* Free the restore consumer and the unused checkpoints. */
void
daemon_scope_free(struct daemon *d)
{
	scope_file_parts_free(d->ckpt, d->nckpt);
	d->ckpt = NULL;
	d->nckpt = 0;
	if (d->rcons != NULL) {
		rd_kafka_assign(d->rcons, NULL);
		rd_kafka_consumer_close(d->rcons);
		rd_kafka_destroy(d->rcons);
		d->rcons = NULL;
	}
	if (d->rfd != -1)
		close(d->rfd);
	if (d->rwfd != -1)
		close(d->rwfd);
	d->rfd = d->rwfd = -1;
}

/* Entries held by the dedup indexes now. */
size_t
daemon_scope_entries(const struct daemon *d)
{
	size_t n = 0;

	if (d->rcons == NULL)
		return d->pl != NULL && pipeline_scope(d->pl) != NULL
		    ? scope_count(pipeline_scope(d->pl))
		    : 0;
	for (size_t i = 0; i < d->nparts; i++)
		if (d->parts[i] != NULL && d->parts[i]->scope != NULL)
			n += scope_count(d->parts[i]->scope);
	return n;
}

/* ---- restoring ---- */

/* Add (add != 0) or remove p from the restore consumer's assignment,
 * leaving the other partitions' fetches as they are. */
static void
restore_assign(struct daemon *d, struct dpart *p, int add)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_error_t *e;

	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, d->conf->scope_topic, p->partition)
	    ->offset = p->restore_pos;
	e = add ? rd_kafka_incremental_assign(d->rcons, l)
		: rd_kafka_incremental_unassign(d->rcons, l);
	if (e != NULL)
		fatalx("dedup changelog %s partition %" PRId32 ": cannot %s "
		       "the restore consumer: %s",
		    d->conf->scope_topic, p->partition,
		    add ? "assign" : "unassign", rd_kafka_error_string(e));
	rd_kafka_topic_partition_list_destroy(l);
	if (d->rfeed != NULL && d->nrestoring > 0)
		loop_timer_set(d->rfeed, 0);
}

/* Pause or resume one partition of the jobs topic. */
static void
scope_pause(struct daemon *d, struct dpart *p, int pause)
{
	rd_kafka_topic_partition_list_t *l;

	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, d->conf->jobs_topic, p->partition);
	if (pause)
		rd_kafka_pause_partitions(d->cons, l);
	else
		rd_kafka_resume_partitions(d->cons, l);
	rd_kafka_topic_partition_list_destroy(l);
	p->paused = pause;
}

/* Start restoring p's index from changelog offset `from` (or
 * RD_KAFKA_OFFSET_BEGINNING); its jobs wait until the end. */
static void
restore_begin(struct daemon *d, struct dpart *p, int64_t from)
{
	char b[48];

	if (p->restoring)
		restore_assign(d, p, 0); /* again, from `from` */
	else {
		p->restoring = 1;
		d->nrestoring++;
	}
	p->restore_from = p->restore_pos = from;
	p->restore_t0 = loop_clock_ms();
	p->restore_records = p->restore_bad = 0;
	if (!p->paused)
		scope_pause(d, p, 1);
	log_debug("partition %" PRId32 ": restoring its dedup index from %s "
		  "of %s (%zu entries from the state file)",
	    p->partition, offset_name(from, b, sizeof(b)), d->conf->scope_topic,
	    scope_count(p->scope));
	restore_assign(d, p, 1);
}

/* Take the checkpoint of partition n out of the loaded ones, or NULL. */
static struct scope *
scope_take_checkpoint(struct daemon *d, int32_t n, int64_t *offset)
{
	for (size_t i = 0; i < d->nckpt; i++) {
		struct scope *s;

		if (d->ckpt[i].partition != n)
			continue;
		s = d->ckpt[i].s;
		*offset = d->ckpt[i].offset;
		d->ckpt[i] = d->ckpt[--d->nckpt];
		return s;
	}
	return NULL;
}

/* A new partition: its index, restored before its jobs run. */
void
daemon_scope_assigned(struct daemon *d, struct dpart *p)
{
	int64_t from = RD_KAFKA_OFFSET_BEGINNING;

	if (d->rcons == NULL)
		return;
	if (p->partition >= d->scope_nparts)
		fatalx("jobs topic %s now has partition %" PRId32 " but the "
		       "changelog %s has %d partition(s): add the same "
		       "partitions to the changelog (docs/dedup.md); exiting",
		    d->conf->jobs_topic, p->partition, d->conf->scope_topic,
		    d->scope_nparts);
	p->scope = scope_take_checkpoint(d, p->partition, &from);
	if (p->scope == NULL) {
		from = RD_KAFKA_OFFSET_BEGINNING;
		if ((p->scope = scope_new(d->scope_cap)) == NULL)
			fatalx("dedup index of %zu entries", d->scope_cap);
	}
	p->scope_next = 0;
	restore_begin(d, p, from);
}

/*
 * Run the jobs that waited for p's restore, in offset order. The extra
 * count in inflight keeps daemon_run_suspect() from starting (and maybe
 * ending) another job while the list is walked: a job that ends at once
 * frees itself alone.
 */
static void
restore_release_jobs(struct daemon *d, struct dpart *p, int run)
{
	struct djob *j, *next;

	d->inflight++;
	for (j = TAILQ_FIRST(&p->jobs); j != NULL; j = next) {
		next = TAILQ_NEXT(j, pentry);
		if (!j->restore_wait)
			continue;
		j->restore_wait = 0;
		if (run) {
			djob_submit(d, j, j->value, j->vlen);
			continue;
		}
		/* Draining: it never ran, so it stores nothing and is
		 * redelivered after the restart. */
		TAILQ_REMOVE(&p->jobs, j, pentry);
		j->part = NULL;
		djob_release(j);
	}
	d->inflight--;
	daemon_run_suspect(d);
	daemon_backpressure(d);
	daemon_check_drained(d);
}

/* p's restore reached the end of its changelog partition (end: the
 * offset after its last record). */
static void
restore_finish(struct daemon *d, struct dpart *p, int64_t end)
{
	double secs = (double)(loop_clock_ms() - p->restore_t0) / 1000.0;
	char b[48];

	p->restoring = 0;
	d->nrestoring--;
	p->scope_next = end >= 0 ? end : 0;
	restore_assign(d, p, 0);
	log_info("partition %" PRId32 ": dedup index restored, %zu entries "
		 "(%" PRIu64 " changelog records read from %s of %s%s) in "
		 "%.2f s",
	    p->partition, scope_count(p->scope), p->restore_records,
	    offset_name(p->restore_from, b, sizeof(b)), d->conf->scope_topic,
	    p->restore_bad > 0 ? ", some skipped as not ours" : "", secs);
	if (d->state == D_RUNNING && !d->bp_paused)
		scope_pause(d, p, 0);
	restore_release_jobs(d, p, d->state == D_RUNNING);
}

/* An event of the restore consumer that is not a record. */
static void
restore_event(struct daemon *d, struct dpart *p, const rd_kafka_message_t *m)
{
	char b[48];

	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		if (p != NULL && p->restoring)
			restore_finish(d, p, m->offset);
		return;
	}
	if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && p != NULL &&
	    p->restoring && p->restore_from != RD_KAFKA_OFFSET_BEGINNING) {
		/* The checkpoint's offset is not in the changelog any more
		 * (or not yet): it is stale, and the index starts over. */
		log_warnx("partition %" PRId32 ": the dedup state's %s is out "
			  "of range in %s (%s): restoring its index from the "
			  "start",
		    p->partition, offset_name(p->restore_from, b, sizeof(b)),
		    d->conf->scope_topic, rd_kafka_message_errstr(m));
		daemon_save_abandon(d);
		scope_clear(p->scope);
		restore_begin(d, p, RD_KAFKA_OFFSET_BEGINNING);
		return;
	}
	log_warnx("dedup changelog %s: %s", d->conf->scope_topic,
	    rd_kafka_message_errstr(m));
}

/* One record or event of the restore consumer. Returns 1 for a record
 * read. */
static int
restore_message(struct daemon *d, const rd_kafka_message_t *m)
{
	struct dpart *p = scope_part(d, m->partition);
	struct scope_entry e;
	char err[128];
	int rc;

	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		restore_event(d, p, m);
		return 0;
	}
	if (p == NULL || !p->restoring ||
	    (p->restore_pos >= 0 && m->offset < p->restore_pos))
		return 0; /* a partition no longer restoring, or old */
	p->restore_pos = m->offset + 1;
	p->restore_records++;
	rc = scopelog_decode(
	    m->key, m->key_len, m->payload, m->len, &e, err, sizeof(err));
	if (rc == 1)
		(void)scope_restore(p->scope, &e);
	else if (rc == -1 && p->restore_bad++ == 0)
		log_warnx("dedup changelog %s partition %" PRId32
			  " offset %" PRId64 ": record skipped: %s",
		    d->conf->scope_topic, m->partition, m->offset, err);
	return 1;
}

/* Read a slice of the restore consumer's queue; the rest waits for the
 * next loop turn, so that restoring never stalls the loop. */
static void
restore_poll(struct daemon *d)
{
	rd_kafka_message_t *m;
	size_t n = 0, records = 0;

	while (n < RESTORE_SLICE &&
	    (m = rd_kafka_consumer_poll(d->rcons, 0)) != NULL) {
		records += (size_t)restore_message(d, m);
		rd_kafka_message_destroy(m);
		n++;
	}
	stats_restore_records(d->st, records);
	if (n == RESTORE_SLICE)
		loop_timer_set(d->rfeed, 0);
}

static void
restore_on_fd(int fd, uint32_t events, void *arg)
{
	(void)events;
	kafka_pipe_drain(fd);
	restore_poll(arg);
}

static void
restore_on_feed(void *arg)
{
	restore_poll(arg);
}

/* ---- revocation, rewind, drain ---- */

/* p is revoked: its index goes (the next owner restores it). Its jobs'
 * pipeline work has been cancelled already. */
void
daemon_scope_revoked(struct daemon *d, struct dpart *p)
{
	if (p->scope == NULL)
		return;
	if (p->restoring) {
		p->restoring = 0;
		d->nrestoring--;
		restore_assign(d, p, 0);
	}
	daemon_save_abandon(d);
	log_debug("partition %" PRId32 ": dedup index dropped (%zu entries)",
	    p->partition, scope_count(p->scope));
	scope_free(p->scope);
	p->scope = NULL;
}

/* Exactly-once, after an abort: the indexes may hold entries of jobs
 * whose transaction never committed; each restores from the start of
 * what the changelog committed. */
void
daemon_scope_rewind(struct daemon *d)
{
	if (d->rcons == NULL)
		return;
	daemon_save_abandon(d);
	for (size_t i = 0; i < d->nparts; i++) {
		struct dpart *p = d->parts[i];

		if (p == NULL || p->scope == NULL)
			continue;
		scope_clear(p->scope);
		restore_begin(d, p, RD_KAFKA_OFFSET_BEGINNING);
	}
}

/* The drain: jobs still waiting for a restore never run. */
void
daemon_scope_drain(struct daemon *d)
{
	for (size_t i = 0; i < d->nparts; i++)
		if (d->parts[i] != NULL && d->parts[i]->restoring)
			restore_release_jobs(d, d->parts[i], 0);
}

/* ---- logging ---- */

/* Produce one record of j's partition: e's entry, or its tombstone. */
static void
scope_produce(struct daemon *d, struct djob *j, const struct scope_entry *e,
    int tombstone)
{
	unsigned char key[SCOPELOG_KEY_LEN], value[SCOPELOG_VALUE_LEN];

	scopelog_key(e, key);
	if (!tombstone)
		scopelog_value(e, value);
	daemon_produce_to(d, d->conf->scope_topic, j->partition,
	    (const char *)key, sizeof(key),
	    tombstone ? NULL : (const char *)value,
	    tombstone ? 0 : sizeof(value), NULL, j);
}

/*
 * With j's result: a tombstone for each entry its dedup evicted, and an
 * entry record for each it inserted that the index still holds (one
 * evicted since has its tombstone from the job that evicted it, and
 * needs no record). Once per job.
 */
void
daemon_scope_emit(struct daemon *d, struct djob *j)
{
	struct dpart *p = j->part;
	struct scope_entry buf[EMIT_CHUNK];
	uint64_t from, end;
	uint64_t puts = 0;
	size_t n;

	if (d->rcons == NULL || j->scope_sent || p == NULL || p->scope == NULL)
		return;
	j->scope_sent = 1;
	for (size_t i = 0; i < j->jr.nevicted; i++)
		scope_produce(d, j, &j->jr.evicted[i], 1);
	from = j->jr.first;
	end = j->jr.first + j->jr.nadded;
	if (from < scope_first(p->scope))
		from = scope_first(p->scope);
	while (from < end &&
	    (n = scope_entries(p->scope, from, buf,
		 end - from < EMIT_CHUNK ? (size_t)(end - from) : EMIT_CHUNK)) >
		0) {
		for (size_t i = 0; i < n; i++)
			scope_produce(d, j, &buf[i], 0);
		from += n;
		puts += n;
	}
	stats_changelog(d->st, puts, j->jr.nevicted);
}

/* A record of j's was acknowledged at offset of changelog partition:
 * the checkpoint's offset moves past it (daemon_state.c). */
void
daemon_scope_delivered(
    struct daemon *d, struct djob *j, int32_t partition, int64_t offset)
{
	struct dpart *p = j->part;

	(void)d;
	if (p == NULL || p->partition != partition || offset < 0)
		return;
	if (offset + 1 > p->scope_next)
		p->scope_next = offset + 1;
	if (!j->has_scope_lo || offset < j->scope_lo) {
		j->scope_lo = offset;
		j->has_scope_lo = 1;
	}
}

/*
 * daemon_txn: exactly-once mode (kafka.exactly_once). Every
 * transaction_ms, one transaction carries each partition's contiguous
 * prefix of finished results and the offsets after them; a failure
 * aborts it and rewinds every partition to its committed offset. These
 * are the only blocking Kafka calls made on the loop (docs/delivery.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "conf.h"
#include "daemon_int.h"
#include "kafka.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "pipeline.h"
#include "result.h"
#include "stats.h"
#include "tracker.h"

/* Each transaction call waits at most this long at a time; a retriable
 * failure is retried until TXN_DEADLINE_MS, pinging the watchdog between
 * tries, and then the process ends (a restart resumes from the committed
 * offsets). The unit's WatchdogSec is 30 s. */
#define TXN_CALL_MS 5000
#define TXN_DEADLINE_MS 60000

/*
 * An offset whose result the broker refused for good (too large for the
 * topic, invalid record, not authorised): after the abort it is answered
 * with an internal error result instead, or every transaction would
 * fail on it again.
 */
static int
daemon_is_poison(const struct daemon *d, int32_t partition, int64_t offset)
{
	for (size_t i = 0; i < d->npoison; i++)
		if (d->poison[i].partition == partition &&
		    d->poison[i].offset == offset)
			return 1;
	return 0;
}

static void
daemon_add_poison(struct daemon *d, int32_t partition, int64_t offset)
{
	if (daemon_is_poison(d, partition, offset))
		return;
	if (d->npoison == POISON_MAX) {
		memmove(d->poison, d->poison + 1,
		    (POISON_MAX - 1) * sizeof(*d->poison));
		d->npoison--;
	}
	d->poison[d->npoison].partition = partition;
	d->poison[d->npoison].offset = offset;
	d->npoison++;
}

static void
txn_ping(struct daemon *d)
{
	d->heartbeat = loop_clock_ms();
	if (d->watchdog_ms > 0)
		notify_send("WATCHDOG=1");
}

/*
 * Forget every job and seek every assigned partition back to its
 * committed offset: after an aborted transaction nothing of what was in
 * flight may count, and the jobs are consumed again. When the committed
 * offsets cannot be read or sought to, going on would skip the dropped
 * jobs: the process ends instead, and its restart resumes from them.
 */
static void
daemon_txn_rewind(struct daemon *d)
{
	rd_kafka_topic_partition_list_t *l;
	struct djob *j, *next;
	rd_kafka_resp_err_t err;
	rd_kafka_error_t *e;

	for (j = TAILQ_FIRST(&d->jobs); j != NULL; j = TAILQ_NEXT(j, dentry)) {
		djob_unsuspect(d, j);
		if (j->in_pipeline && d->pl != NULL) {
			pipeline_cancel(d->pl, j->pj);
			j->pj = NULL;
			j->in_pipeline = 0;
		}
		result_free(j->res);
		j->res = NULL;
		if (j->part != NULL) {
			TAILQ_REMOVE(&j->part->jobs, j, pentry);
			j->part = NULL;
		}
	}
	for (j = TAILQ_FIRST(&d->jobs); j != NULL; j = next) {
		next = TAILQ_NEXT(j, dentry);
		if (j->acks == 0)
			djob_release(j);
	}
	l = rd_kafka_topic_partition_list_new((int)d->nparts);
	for (size_t i = 0; i < d->nparts; i++) {
		if (d->parts[i] == NULL)
			continue;
		tracker_free(d->parts[i]->tr);
		d->parts[i]->tr = tracker_new();
		rd_kafka_topic_partition_list_add(
		    l, d->conf->jobs_topic, d->parts[i]->partition);
	}
	if (l->cnt == 0) {
		rd_kafka_topic_partition_list_destroy(l);
		return;
	}
	err = rd_kafka_committed(d->cons, l, TXN_CALL_MS);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		fatalx("exactly-once: cannot read the committed offsets after "
		       "an abort: %s; exiting so that a restart resumes there",
		    rd_kafka_err2str(err));
	for (int i = 0; i < l->cnt; i++) {
		if (l->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
			fatalx("exactly-once: committed offset of partition "
			       "%" PRId32 ": %s; exiting",
			    l->elems[i].partition,
			    rd_kafka_err2str(l->elems[i].err));
		/* Nothing committed yet: where auto.offset.reset says. */
		if (l->elems[i].offset < 0)
			l->elems[i].offset = kafka_offset_reset(d->conf);
	}
	txn_ping(d);
	if ((e = rd_kafka_seek_partitions(d->cons, l, TXN_CALL_MS)) != NULL)
		fatalx("exactly-once: seek after an abort: %s; exiting",
		    rd_kafka_error_string(e));
	for (int i = 0; i < l->cnt; i++)
		if (l->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
			fatalx("exactly-once: seek of partition %" PRId32
			       ": %s; exiting",
			    l->elems[i].partition,
			    rd_kafka_err2str(l->elems[i].err));
	rd_kafka_topic_partition_list_destroy(l);
	/* The indexes may hold entries of the aborted jobs: each is
	 * restored again from what the changelog committed. */
	daemon_scope_rewind(d);
	daemon_backpressure(d);
}

/*
 * What a failed transaction call means (librdkafka's error classes): 1
 * retry the same call, 0 abort and rewind; a fatal error ends the process
 * as a fatal producer error must. e is destroyed.
 */
static int
txn_failed(
    struct daemon *d, rd_kafka_error_t *e, const char *what, uint64_t deadline)
{
	int retry;

	if (rd_kafka_error_is_fatal(e))
		fatalx("exactly-once: fatal error in %s: %s", what,
		    rd_kafka_error_string(e));
	retry = rd_kafka_error_is_retriable(e) &&
	    !rd_kafka_error_txn_requires_abort(e);
	if (retry && loop_clock_ms() >= deadline)
		fatalx("exactly-once: %s still failing after %d s: %s; exiting "
		       "so that a restart resumes from the committed offsets",
		    what, TXN_DEADLINE_MS / 1000, rd_kafka_error_string(e));
	log_warnx("exactly-once: %s: %s%s", what, rd_kafka_error_string(e),
	    retry ? "; trying again" : "; aborting");
	rd_kafka_error_destroy(e);
	txn_ping(d);
	return retry;
}

/* Abort the open transaction and consume again from the committed
 * offsets. */
static void
daemon_txn_abort(struct daemon *d)
{
	uint64_t deadline = loop_clock_ms() + TXN_DEADLINE_MS;
	rd_kafka_error_t *e;

	while ((e = rd_kafka_abort_transaction(d->prod, TXN_CALL_MS)) != NULL) {
		if (rd_kafka_error_is_fatal(e) ||
		    !rd_kafka_error_is_retriable(e) ||
		    loop_clock_ms() >= deadline)
			fatalx("exactly-once: cannot abort: %s",
			    rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		txn_ping(d);
	}
	daemon_txn_rewind(d);
}

/* The offsets a transaction commits: after each assigned partition's
 * contiguous prefix of finished jobs not yet in a transaction. NULL:
 * nothing to commit. */
static rd_kafka_topic_partition_list_t *
txn_offsets(struct daemon *d)
{
	rd_kafka_topic_partition_list_t *offs;
	struct djob *j;

	offs = rd_kafka_topic_partition_list_new(4);
	for (size_t i = 0; i < d->nparts; i++) {
		struct dpart *p = d->parts[i];
		int64_t last = -1;

		if (p == NULL)
			continue;
		TAILQ_FOREACH(j, &p->jobs, pentry)
		{
			if (j->in_txn)
				continue;
			if (j->res == NULL)
				break;
			last = j->offset;
		}
		if (last >= 0)
			rd_kafka_topic_partition_list_add(
			    offs, d->conf->jobs_topic, p->partition)
			    ->offset = last + 1;
	}
	if (offs->cnt == 0) {
		rd_kafka_topic_partition_list_destroy(offs);
		return NULL;
	}
	return offs;
}

/* Produce, inside the open transaction, the results of each partition's
 * contiguous prefix of finished jobs. Returns how many. */
static size_t
txn_produce(struct daemon *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nparts; i++) {
		struct dpart *p = d->parts[i];
		struct djob *j, *next;

		if (p == NULL)
			continue;
		for (j = TAILQ_FIRST(&p->jobs); j != NULL; j = next) {
			struct result *r = j->res;

			next = TAILQ_NEXT(j, pentry);
			if (j->in_txn)
				continue;
			if (r == NULL)
				break;
			j->res = NULL;
			j->in_txn = 1;
			if (daemon_is_poison(d, j->partition, j->offset)) {
				/* Refused for good last time: an error
				 * result, and no second DLQ attempt. */
				result_set_error(r, ERR_INTERNAL,
				    "result could not be delivered (refused "
				    "by the broker)");
				free(r->metadata);
				r->metadata = NULL;
				r->metadata_len = 0;
				j->dlq_sent = 1;
				j->replaced = 1;
			}
			j->acks++; /* held while it is produced */
			daemon_emit(d, j, r);
			result_free(r);
			n++;
			if (--j->acks == 0)
				djob_release(j);
		}
	}
	return n;
}

/* Everything must be queued before the commit flushes it; the watchdog
 * hears from us while we wait. */
static void
txn_queue_all(struct daemon *d, uint64_t deadline)
{
	while (!TAILQ_EMPTY(&d->pending)) {
		rd_kafka_poll(d->prod, 10);
		daemon_flush_pending(d);
		if (loop_clock_ms() >= deadline)
			fatalx(
			    "exactly-once: the producer queue does not drain");
		if (loop_clock_ms() - d->heartbeat >= 1000)
			txn_ping(d);
	}
}

/* Send offs to the open transaction and commit it. Returns 0, or -1
 * when it must be aborted. */
static int
txn_finish(
    struct daemon *d, rd_kafka_topic_partition_list_t *offs, uint64_t deadline)
{
	rd_kafka_consumer_group_metadata_t *cgmd;
	rd_kafka_error_t *e;

	cgmd = rd_kafka_consumer_group_metadata(d->cons);
	while ((e = rd_kafka_send_offsets_to_transaction(
		    d->prod, offs, cgmd, TXN_CALL_MS)) != NULL) {
		if (!txn_failed(d, e, "send offsets", deadline)) {
			rd_kafka_consumer_group_metadata_destroy(cgmd);
			return -1;
		}
	}
	rd_kafka_consumer_group_metadata_destroy(cgmd);
	txn_ping(d);
	while (
	    (e = rd_kafka_commit_transaction(d->prod, TXN_CALL_MS)) != NULL) {
		if (!txn_failed(d, e, "commit", deadline))
			return -1;
	}
	return 0;
}

/*
 * One transaction: the results (and DLQ copies) of each assigned
 * partition's contiguous prefix of finished jobs, and the offsets after
 * them. These are the only blocking Kafka calls in the loop
 * (docs/delivery.md, Exactly-once); the watchdog is pinged between them.
 */
void
daemon_txn_commit(struct daemon *d)
{
	rd_kafka_topic_partition_list_t *offs;
	rd_kafka_error_t *e;
	uint64_t deadline = loop_clock_ms() + TXN_DEADLINE_MS;
	size_t n;

	if ((offs = txn_offsets(d)) == NULL)
		return;
	while ((e = rd_kafka_begin_transaction(d->prod)) != NULL) {
		if (!txn_failed(d, e, "begin transaction", deadline))
			goto abort;
	}
	n = txn_produce(d);
	txn_queue_all(d, deadline);
	/* A message the producer refused at once fails the transaction
	 * as a failed delivery would: abort, and redo its jobs. */
	if (d->txn_doomed) {
		d->txn_doomed = 0;
		goto abort;
	}
	if (txn_finish(d, offs, deadline) == -1)
		goto abort;
	log_debug("exactly-once: committed %zu result(s) and %d offset(s)", n,
	    offs->cnt);
	rd_kafka_topic_partition_list_destroy(offs);
	return;
abort:
	rd_kafka_topic_partition_list_destroy(offs);
	daemon_txn_abort(d);
}

void
daemon_on_txn_timer(void *arg)
{
	struct daemon *d = arg;

	daemon_txn_commit(d);
	loop_timer_set(d->txn_timer, (uint64_t)d->conf->transaction_ms);
}

/* Start-up, blocking: fences an older instance of the same
 * transactional_id and aborts what it left open. */
void
daemon_txn_init(struct daemon *d)
{
	rd_kafka_error_t *e;

	e = rd_kafka_init_transactions(d->prod, TXN_DEADLINE_MS);
	if (e != NULL)
		fatalx("exactly-once: cannot initialise transactions for %s: "
		       "%s",
		    d->conf->transactional_id, rd_kafka_error_string(e));
	log_info("exactly-once: transactional id %s, a transaction every "
		 "%ld ms",
	    d->conf->transactional_id, d->conf->transaction_ms);
}

/* Exactly-once: errors that fail a transaction but not the message for
 * good (its job is redone after the abort). */
static int
dr_retriable(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
	case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
	case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
	case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
	case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
	case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
		return 1;
	default:
		return 0;
	}
}

/*
 * A delivery report of job j's message to topic, in exactly-once mode:
 * a failed message fails its transaction, which is aborted and its jobs
 * consumed again; one refused for good is remembered, so that its job is
 * answered with an error result next time instead of failing again. The
 * caller gives up the job's ack.
 */
void
daemon_txn_delivered(struct daemon *d, const struct djob *j, const char *topic,
    rd_kafka_resp_err_t err)
{
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR ||
	    err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
	    err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT || dr_retriable(err))
		return;
	log_warnx("job %s topic %s partition %" PRId32 " offset %" PRId64
		  ": delivery to %s failed for good: %s",
	    j->id ? j->id : "-", d->conf->jobs_topic, j->partition, j->offset,
	    topic, rd_kafka_err2str(err));
	stats_delivery_failure(d->st, topic);
	daemon_add_poison(d, j->partition, j->offset);
}

/*
 * The producer refused job j's message to topic at once (err), in
 * exactly-once mode: the transaction fails, and is aborted at its
 * commit; a message refused for good (for_good) makes its job's result
 * an error next time. Gives up the job's ack for the message.
 */
void
daemon_txn_produce_failed(struct daemon *d, struct djob *j, const char *topic,
    rd_kafka_resp_err_t err, int for_good)
{
	log_warnx("job %s topic %s partition %" PRId32 " offset %" PRId64
		  ": producing to %s failed (%s): the transaction will be "
		  "aborted",
	    j->id ? j->id : "-", d->conf->jobs_topic, j->partition, j->offset,
	    topic, rd_kafka_err2str(err));
	if (for_good)
		daemon_add_poison(d, j->partition, j->offset);
	d->txn_doomed = 1;
	j->acks--;
}

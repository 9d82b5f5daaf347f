/*
 * daemon: the loop that joins Kafka, the pipeline and the producer.
 *
 * Ownership: a struct djob exists from the moment a job message is
 * consumed until its result (and DLQ copy) is acknowledged by the broker,
 * or until it is forgotten (revoked partition, drain deadline). It is
 * referenced by the pipeline (as the token) and by the producer (as the
 * message opaque); `in_pipeline` and `acks` count those references, and
 * the djob is freed when both are zero.
 *
 * At-least-once: a partition's offset is stored only up to the contiguous
 * prefix of jobs whose every produced message was acknowledged
 * (tracker.c). librdkafka's auto-commit commits what is stored.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "conf.h"
#include "confdiff.h"
#include "daemon.h"
#include "httpd.h"
#include "inflight.h"
#include "kafka.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "offload.h"
#include "pipeline.h"
#include "result.h"
#include "scope.h"
#include "stats.h"
#include "tracker.h"
#include "xmalloc.h"

#define TICK_MS 500
/* At worker.max_inflight, stop taking messages; still there after this
 * long, pause the partitions (see daemon_backpressure). */
#define GATE_MS 1000
#define FLUSH_MS 5000
#define CLOSE_MS 10000
#define SAVE_INTERVAL_MS 60000
#define SAVE_SLICE 65536 /* state-file entries written per loop turn */
#define HEALTH_STALE_MS 10000 /* /healthz fails past this tick age */

enum dstate { D_RUNNING = 0, D_DRAINING, D_DONE };

/* The two messages a job may produce (see "producing" below). */
enum { OUT_RESULT = 0, OUT_DLQ = 1 };

struct pmsg;

struct dpart;

struct djob {
	struct daemon *d;
	struct dpart *part; /* NULL once forgotten */
	int32_t partition;
	int64_t offset;
	char *key;
	size_t keylen;
	char *value; /* the job bytes, for the DLQ copy; NULL if too big */
	size_t vlen;
	rd_kafka_headers_t *hdrs; /* the job's headers, or NULL */
	char *id; /* the job id once known, for logs */
	int in_pipeline;
	int acks; /* produced messages not yet acknowledged */
	int replaced; /* the result was replaced by an internal error */
	int dlq_sent; /* the DLQ copy was produced */
	struct result *res; /* exactly-once: waiting for its transaction */
	int in_txn; /* exactly-once: produced in a transaction */
	int stage[2]; /* by OUT_*: 1 while the small fallback is out */
	struct pmsg *orig[2]; /* the refused original, meanwhile */
	int tries[2]; /* failed deliveries in a row, for the backoff */
	unsigned epoch; /* the partition's epoch when consumed */
	struct pjob *pj; /* the pipeline's job while in_pipeline */
	int slot; /* in the in-flight record, or -1 */
	int waiting; /* a suspect waiting to run alone (not submitted) */
	int forgotten; /* in daemon->forgotten (pentry) */
	TAILQ_ENTRY(djob) pentry; /* in part->jobs while assigned */
	TAILQ_ENTRY(djob) dentry; /* in daemon->jobs always */
};

TAILQ_HEAD(djobs, djob);

struct dpart {
	int32_t partition;
	struct tracker *tr;
	int paused;
	int64_t stored;
	int64_t last; /* the last offset received, or -1 */
	unsigned epoch; /* bumped when offsets go backwards */
	struct djobs jobs;
};

/* A message waiting for room in the producer queue. */
struct pmsg {
	char *topic;
	char *key;
	size_t keylen;
	char *value;
	size_t vlen;
	rd_kafka_headers_t *hdrs;
	struct djob *job;
	uint64_t retry_at; /* held: when to produce it again */
	TAILQ_ENTRY(pmsg) entry;
};

TAILQ_HEAD(pmsgs, pmsg);

struct daemon {
	struct conf *conf;
	struct loop *loop;
	struct pipeline *pl;
	rd_kafka_t *cons;
	rd_kafka_t *prod;
	rd_kafka_queue_t *cq;
	rd_kafka_queue_t *pq;
	int cfd, cwfd, pfd, pwfd, sfd;
	struct loop_io *cio, *pio, *sio;
	struct loop_timer *tick;
	struct dpart **parts; /* by partition number */
	unsigned char *paused_gone; /* by number: revoked while we had it
				     * paused (librdkafka keeps the flag) */
	size_t nparts;
	struct djobs jobs; /* every live djob */
	struct djobs forgotten; /* revoked, their work not yet stopped */
	size_t inflight; /* live djobs */
	struct pmsgs pending; /* waiting for room in the producer queue */
	struct pmsgs held; /* refused by their topic, retried later */
	size_t nheld[2]; /* by OUT_* */
	uint64_t blocked_since[2]; /* by OUT_*: the topic refuses, or 0 */
	struct inflight *inf; /* the in-flight record, or NULL (off) */
	struct djob *suspect; /* a suspect job, run alone, or NULL */
	struct loop_timer *retry; /* produces the held messages again */
	uint64_t retry_at; /* when it fires, or 0 */
	uint64_t delivery_failures;
	struct scope_saver *saver; /* a state-file save in progress */
	struct offload_task *save_task; /* its end, on the worker thread */
	uint64_t last_save;
	int bp_paused; /* partitions are paused for backpressure */
	int gated; /* at max_inflight: messages stay in the consumer queue */
	uint64_t gated_since;
	struct loop_timer *feed; /* drains the consumer queue once the gate
				  * opens (never from inside a callback) */
	int ready;
	enum dstate state;
	uint64_t deadline;
	uint64_t watchdog_ms;
	uint64_t last_watchdog;
	struct stats *st;
	struct httpd *httpd; /* NULL: metrics.listen is off */
	uint64_t heartbeat; /* loop_clock_ms() of the last tick */
	int eos; /* kafka.exactly_once */
	int txn_doomed; /* exactly-once: a produce failed at once */
	struct loop_timer *txn_timer; /* commits every transaction_ms */
	struct {
		int32_t partition;
		int64_t offset;
	} poison[1024]; /* results refused for good (POISON_MAX) */
	size_t npoison;
};

static void daemon_produce(struct daemon *d, const char *topic, const char *key,
    size_t keylen, const char *value, size_t vlen, rd_kafka_headers_t *hdrs,
    struct djob *j);
static void daemon_check_drained(struct daemon *d);
static void pmsg_free(struct pmsg *m);
static void daemon_forget_revoked(struct daemon *d);
static void djob_forget(struct daemon *d, struct djob *j);
static void djob_forget_offset(struct djob *j);
static void daemon_txn_commit(struct daemon *d);
static void daemon_add_poison(
    struct daemon *d, int32_t partition, int64_t offset);

/* ---- partitions ---- */

static struct dpart *
dpart_get(struct daemon *d, int32_t partition)
{
	if (partition < 0 || (size_t)partition >= d->nparts)
		return NULL;
	return d->parts[partition];
}

static void
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
static void
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

static void
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
	pmsg_free(j->orig[OUT_RESULT]);
	pmsg_free(j->orig[OUT_DLQ]);
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

		if (p == NULL || p->paused == pause)
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
static void
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

/* Hand a job's bytes to the pipeline. */
static void
djob_submit(struct daemon *d, struct djob *j, const void *buf, size_t len)
{
	struct pipeline_src src;

	src.topic = d->conf->jobs_topic;
	src.partition = j->partition;
	src.offset = j->offset;
	struct pjob *pj;

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

/* A suspect waits until it is the only job in flight, then runs. */
static void
daemon_run_suspect(struct daemon *d)
{
	struct djob *j = d->suspect;

	if (j == NULL || !j->waiting || d->inflight != 1 || d->pl == NULL ||
	    j->part == NULL)
		return;
	log_info("job at topic %s partition %" PRId32 " offset %" PRId64
		 ": running it alone",
	    d->conf->jobs_topic, j->partition, j->offset);
	djob_submit(d, j, j->value, j->vlen);
}

/* Both references are gone: the job is done (or forgotten). */
static void
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

static void
djob_log_result(const struct djob *j, const struct result *r, const char *topic)
{
	if (r->code == ERR_NONE)
		log_debug("job %s topic %s partition %" PRId32
			  " offset %" PRId64 ": ok, %zu candidate(s), %" PRIu64
			  " ms",
		    r->id ? r->id : "-", topic, j->partition, j->offset,
		    r->ncands, r->latency_ms);
	else
		log_info("job %s topic %s partition %" PRId32 " offset %" PRId64
			 ": error %s: %s",
		    r->id ? r->id : "-", topic, j->partition, j->offset,
		    err_code_name(r->code), r->errmsg ? r->errmsg : "");
}

static rd_kafka_headers_t *
dlq_headers(const struct djob *j, const struct result *r, const struct conf *c)
{
	rd_kafka_headers_t *h;
	char num[32];

	h = j->hdrs != NULL ? rd_kafka_headers_copy(j->hdrs)
			    : rd_kafka_headers_new(8);
	rd_kafka_header_add(h, "vsampd-error", -1, err_code_name(r->code), -1);
	rd_kafka_header_add(
	    h, "vsampd-error-message", -1, r->errmsg ? r->errmsg : "", -1);
	snprintf(num, sizeof(num), "%u", r->attempts);
	rd_kafka_header_add(h, "vsampd-attempts", -1, num, -1);
	rd_kafka_header_add(h, "vsampd-source-topic", -1, c->jobs_topic, -1);
	snprintf(num, sizeof(num), "%" PRId32, j->partition);
	rd_kafka_header_add(h, "vsampd-source-partition", -1, num, -1);
	snprintf(num, sizeof(num), "%" PRId64, j->offset);
	rd_kafka_header_add(h, "vsampd-source-offset", -1, num, -1);
	if (j->value == NULL) {
		snprintf(num, sizeof(num), "%zu", j->vlen);
		rd_kafka_header_add(h, "vsampd-original-size", -1, num, -1);
	}
	return h;
}

/* Encode r and produce it (and the DLQ copy of a failed job). */
static void
daemon_emit(struct daemon *d, struct djob *j, struct result *r)
{
	const struct conf *c = d->conf;
	rd_kafka_headers_t *h;
	char *buf, msg[160];
	size_t len;
	const char *key;
	size_t keylen;

	buf = result_encode(r, &len);
	if (len > (size_t)c->max_result_bytes) {
		free(buf);
		snprintf(msg, sizeof(msg),
		    "result of %zu bytes exceeds "
		    "worker.max_result_bytes (%ld)",
		    len, c->max_result_bytes);
		result_set_error(r, ERR_TOO_LARGE, msg);
		/* Metadata alone may be what is too large. */
		free(r->metadata);
		r->metadata = NULL;
		r->metadata_len = 0;
		buf = result_encode(r, &len);
	}
	if (r->id != NULL) {
		key = r->id;
		keylen = strlen(r->id);
		if (j->id == NULL)
			j->id = xstrdup(r->id);
	} else {
		key = j->key;
		keylen = j->keylen;
	}
	djob_log_result(j, r, c->jobs_topic);
	/* A replacement for an undeliverable result was counted already. */
	if (!j->replaced)
		stats_job_done(d->st, r);
	h = rd_kafka_headers_new(1);
	rd_kafka_header_add(h, "vsampd-schema", -1, "1", 1);
	daemon_produce(d, c->results_topic, key, keylen, buf, len, h, j);
	free(buf);
	if (r->code != ERR_NONE && c->dlq_topic != NULL && !j->dlq_sent) {
		j->dlq_sent = 1;
		stats_dlq(d->st, r->code);
		h = dlq_headers(j, r, c);
		daemon_produce(d, c->dlq_topic, j->key, j->keylen,
		    j->value ? j->value : "", j->value ? j->vlen : 0, h, j);
	}
}

/* The pipeline's result callback. */
static void
daemon_on_result(void *arg, void *token, struct result *r)
{
	struct daemon *d = arg;
	struct djob *j = token;

	j->in_pipeline = 0;
	j->pj = NULL;
	if (j->part == NULL || d->state == D_DONE) {
		/* Revoked meanwhile: the next owner redoes the job. Past the
		 * drain's deadline it produces nothing, so it stores nothing
		 * either: it is redelivered after the restart. */
		if (d->state == D_DONE)
			djob_forget_offset(j);
		result_free(r);
		djob_release(j);
		return;
	}
	if (d->eos) {
		/* Produced with its offset in the next transaction, once
		 * every earlier offset of its partition is done too. */
		j->res = r;
		return;
	}
	daemon_emit(d, j, r);
	result_free(r);
	djob_release(j);
}

/* ---- producing ---- */

/*
 * Every message of a job is one of two: its result (OUT_RESULT) or its
 * DLQ copy (OUT_DLQ). A job is done only when each of them is
 * acknowledged, so a failed delivery is never the end of a message:
 *
 *  - a message-level refusal (this message too large for the topic, an
 *    invalid record) of the original message is answered with a small
 *    fallback: an internal error result instead of the result, an empty
 *    copy with vsampd-original-size instead of the DLQ copy. The
 *    original is kept meanwhile;
 *  - when the fallback is refused at message level too, the topic
 *    refuses everything (e.g. max.message.bytes below any result): that
 *    is a topic-level refusal like the rest;
 *  - anything else (the topic missing, writing not authorised, the
 *    broker's retriable errors after librdkafka's own retries) holds the
 *    message: it keeps its job's slot and bytes and is produced again
 *    with capped exponential backoff, from the original when there is
 *    one. Its partition commits nothing past it, /readyz is 503 and
 *    vsampd_results_blocked counts it while its topic is blocked.
 *
 * After the drain's deadline (D_DONE) nothing is retried: a message
 * that fails then forgets its job's offset, so that no offset is stored
 * past a job without its result.
 */
#define HOLD_BASE_MS 250
#define HOLD_MAX_MS 8000

static int
out_which(const struct daemon *d, const char *topic)
{
	return strcmp(topic, d->conf->results_topic) == 0 ? OUT_RESULT
							  : OUT_DLQ;
}

static const char *
out_topic(const struct daemon *d, int which)
{
	return which == OUT_RESULT ? d->conf->results_topic
				   : d->conf->dlq_topic;
}

/* The broker refused this one message, not the topic. */
static int
dr_message_level(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
		return 1;
	default:
		return 0;
	}
}

/* A copy of a message; takes ownership of hdrs. */
static struct pmsg *
pmsg_new(const char *topic, const char *key, size_t keylen, const void *value,
    size_t vlen, rd_kafka_headers_t *hdrs, struct djob *j)
{
	struct pmsg *q = xcalloc(1, sizeof(*q));

	q->topic = xstrdup(topic);
	q->key = key ? xstrndup(key, keylen) : NULL;
	q->keylen = keylen;
	q->value = xmalloc(vlen + 1);
	if (vlen > 0)
		memcpy(q->value, value, vlen);
	q->value[vlen] = '\0';
	q->vlen = vlen;
	q->hdrs = hdrs;
	q->job = j;
	return q;
}

static void
pmsg_free(struct pmsg *m)
{
	if (m == NULL)
		return;
	if (m->hdrs != NULL)
		rd_kafka_headers_destroy(m->hdrs);
	free(m->topic);
	free(m->key);
	free(m->value);
	free(m);
}

static size_t
daemon_nheld(const struct daemon *d)
{
	return d->nheld[OUT_RESULT] + d->nheld[OUT_DLQ];
}

/* Produce again, soon, what is held for the topic `which` (-1: every
 * topic whose time has come). */
static void
daemon_arm_retry(struct daemon *d, uint64_t at)
{
	uint64_t now = loop_clock_ms();

	if (d->retry_at != 0 && d->retry_at <= at)
		return;
	d->retry_at = at;
	loop_timer_set(d->retry, at > now ? at - now : 0);
}

/*
 * Hold m (taken) for a later try. Its job keeps the ack it had, so the
 * job stays in flight and its partition's watermark stays behind it.
 */
static void
daemon_hold(struct daemon *d, struct pmsg *m, rd_kafka_resp_err_t err)
{
	struct djob *j = m->job;
	int w = out_which(d, m->topic);
	uint64_t now = loop_clock_ms(), delay;
	int n = j->tries[w]++;

	delay = n >= 5 ? HOLD_MAX_MS : (uint64_t)HOLD_BASE_MS << n;
	if (delay > HOLD_MAX_MS)
		delay = HOLD_MAX_MS;
	m->retry_at = now + delay;
	TAILQ_INSERT_TAIL(&d->held, m, entry);
	d->nheld[w]++;
	stats_set_results_blocked(d->st, daemon_nheld(d));
	if (d->blocked_since[w] == 0) {
		d->blocked_since[w] = now;
		log_warnx("topic %s refuses writes (%s): holding its messages "
			  "and retrying with backoff; their partitions commit "
			  "nothing past them",
		    m->topic, rd_kafka_err2str(err));
	} else
		log_debug("job %s topic %s partition %" PRId32
			  " offset %" PRId64 ": delivery to %s failed (%s), "
			  "again in %" PRIu64 " ms",
		    j->id ? j->id : "-", d->conf->jobs_topic, j->partition,
		    j->offset, m->topic, rd_kafka_err2str(err), delay);
	daemon_arm_retry(d, m->retry_at);
}

/* A delivery to topic `which` of job j was acknowledged. */
static void
daemon_delivered(struct daemon *d, struct djob *j, int w)
{
	struct pmsg *m;
	uint64_t now = loop_clock_ms();

	j->tries[w] = 0;
	pmsg_free(j->orig[w]); /* the fallback went out instead */
	j->orig[w] = NULL;
	j->stage[w] = 0;
	if (d->blocked_since[w] == 0)
		return;
	log_info("topic %s accepts writes again after %.1f s: producing "
		 "the %zu message(s) held for it",
	    out_topic(d, w), (double)(now - d->blocked_since[w]) / 1000.0,
	    d->nheld[w]);
	d->blocked_since[w] = 0;
	TAILQ_FOREACH(m, &d->held, entry)
	{
		if (out_which(d, m->topic) == w) {
			m->retry_at = now;
			m->job->tries[w] = 0;
		}
	}
	if (d->nheld[w] > 0)
		daemon_arm_retry(d, now);
}

/* Stop tracking j's offset: it can no longer be done (D_DONE). */
static void
djob_forget_offset(struct djob *j)
{
	if (j->part == NULL)
		return;
	TAILQ_REMOVE(&j->part->jobs, j, pentry);
	j->part = NULL;
}

/* The small internal error result that replaces an undeliverable one. */
static void
daemon_replace_result(struct daemon *d, struct djob *j, rd_kafka_resp_err_t err)
{
	struct result *r;
	char msg[160];

	j->replaced = 1;
	r = result_new();
	r->id = j->id ? xstrdup(j->id) : NULL;
	r->source_topic = xstrdup(d->conf->jobs_topic);
	r->source_partition = j->partition;
	r->source_offset = j->offset;
	snprintf(msg, sizeof(msg), "result could not be delivered: %s",
	    rd_kafka_err2str(err));
	result_set_error(r, ERR_INTERNAL, msg);
	daemon_emit(d, j, r);
	result_free(r);
}

/*
 * A message of job j failed (err): its bytes are borrowed, its headers
 * hdrs are taken. The job's ack for it is kept when the message is held
 * or replaced by its fallback, and given up otherwise; the caller
 * releases the job.
 */
static void
daemon_delivery_failed(struct daemon *d, struct djob *j, const char *topic,
    const char *key, size_t keylen, const void *value, size_t vlen,
    rd_kafka_headers_t *hdrs, rd_kafka_resp_err_t err)
{
	int w = out_which(d, topic);
	struct pmsg *m;

	if (d->eos) {
		/* Exactly-once: the transaction fails, and is aborted at its
		 * commit; a message refused for good makes its job's result
		 * an error next time. */
		log_warnx("job %s topic %s partition %" PRId32
			  " offset %" PRId64 ": producing to %s failed (%s): "
			  "the transaction will be aborted",
		    j->id ? j->id : "-", d->conf->jobs_topic, j->partition,
		    j->offset, topic, rd_kafka_err2str(err));
		if (dr_message_level(err))
			daemon_add_poison(d, j->partition, j->offset);
		if (hdrs != NULL)
			rd_kafka_headers_destroy(hdrs);
		d->txn_doomed = 1;
		j->acks--;
		return;
	}
	if (d->state == D_DONE) {
		log_warnx("job %s topic %s partition %" PRId32
			  " offset %" PRId64 ": delivery to %s failed at "
			  "shutdown (%s): its offset is not stored",
		    j->id ? j->id : "-", d->conf->jobs_topic, j->partition,
		    j->offset, topic, rd_kafka_err2str(err));
		d->delivery_failures++;
		stats_delivery_failure(d->st, topic);
		if (hdrs != NULL)
			rd_kafka_headers_destroy(hdrs);
		djob_forget_offset(j);
		j->acks--;
		return;
	}
	if (dr_message_level(err) && j->stage[w] == 0) {
		log_warnx("job %s topic %s partition %" PRId32
			  " offset %" PRId64 ": %s refused the %s (%s); "
			  "sending a small one instead",
		    j->id ? j->id : "-", d->conf->jobs_topic, j->partition,
		    j->offset, topic, w == OUT_RESULT ? "result" : "DLQ copy",
		    rd_kafka_err2str(err));
		d->delivery_failures++;
		stats_delivery_failure(d->st, topic);
		j->orig[w] = pmsg_new(topic, key, keylen, value, vlen, hdrs, j);
		j->stage[w] = 1;
		j->acks--;
		if (w == OUT_RESULT) {
			daemon_replace_result(d, j, err);
		} else {
			char num[32];
			rd_kafka_headers_t *h = hdrs != NULL
			    ? rd_kafka_headers_copy(hdrs)
			    : rd_kafka_headers_new(1);

			rd_kafka_header_remove(h, "vsampd-original-size");
			snprintf(num, sizeof(num), "%zu", j->vlen);
			rd_kafka_header_add(
			    h, "vsampd-original-size", -1, num, -1);
			daemon_produce(d, topic, key, keylen, "", 0, h, j);
		}
		return;
	}
	if (dr_message_level(err) && j->orig[w] != NULL) {
		/* Even the fallback is refused: hold the original. */
		if (hdrs != NULL)
			rd_kafka_headers_destroy(hdrs);
		m = j->orig[w];
		j->orig[w] = NULL;
		j->stage[w] = 0;
		daemon_hold(d, m, err);
		return;
	}
	daemon_hold(d, pmsg_new(topic, key, keylen, value, vlen, hdrs, j), err);
}

/* Returns 0 when produced (or failed, and handled), -1 on QUEUE_FULL.
 * The headers are taken either way but on QUEUE_FULL. */
static int
daemon_try_produce(struct daemon *d, struct pmsg *m)
{
	rd_kafka_resp_err_t err;
	rd_kafka_headers_t *h = m->hdrs;

	err = rd_kafka_producev(d->prod, RD_KAFKA_V_TOPIC(m->topic),
	    RD_KAFKA_V_KEY(m->key, m->keylen),
	    RD_KAFKA_V_VALUE(m->value, m->vlen), RD_KAFKA_V_HEADERS(m->hdrs),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(m->job),
	    RD_KAFKA_V_END);
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return -1;
	/* On success librdkafka owns the headers; on failure they stay
	 * ours, and go to the failure's handling. */
	m->hdrs = NULL;
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		daemon_delivery_failed(d, m->job, m->topic, m->key, m->keylen,
		    m->value, m->vlen, h, err);
	return 0;
}

/* Retry what waited for room in the producer queue, in order. */
static void
daemon_flush_pending(struct daemon *d)
{
	struct pmsg *m;

	while ((m = TAILQ_FIRST(&d->pending)) != NULL) {
		struct djob *j = m->job;

		if (daemon_try_produce(d, m) == -1)
			return;
		TAILQ_REMOVE(&d->pending, m, entry);
		pmsg_free(m);
		djob_release(j); /* in case it was forgotten */
	}
}

/* The retry timer: produce again what is held and due. */
static void
daemon_on_retry(void *arg)
{
	struct daemon *d = arg;
	struct pmsg *m, *next;
	uint64_t now = loop_clock_ms(), soonest = 0;

	d->retry_at = 0;
	for (m = TAILQ_FIRST(&d->held); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (m->retry_at > now) {
			if (soonest == 0 || m->retry_at < soonest)
				soonest = m->retry_at;
			continue;
		}
		TAILQ_REMOVE(&d->held, m, entry);
		d->nheld[out_which(d, m->topic)]--;
		/* Behind whatever waits for room already, in order. */
		TAILQ_INSERT_TAIL(&d->pending, m, entry);
	}
	stats_set_results_blocked(d->st, daemon_nheld(d));
	daemon_flush_pending(d);
	if (soonest != 0)
		daemon_arm_retry(d, soonest);
}

/* Produce a copy of value; takes ownership of hdrs. */
static void
daemon_produce(struct daemon *d, const char *topic, const char *key,
    size_t keylen, const char *value, size_t vlen, rd_kafka_headers_t *hdrs,
    struct djob *j)
{
	struct pmsg m = {(char *)topic, (char *)key, keylen, (char *)value,
	    vlen, hdrs, j, 0, {NULL, NULL}};

	j->acks++;
	if (TAILQ_EMPTY(&d->pending) && daemon_try_produce(d, &m) == 0)
		return;
	/* QUEUE_FULL: keep a copy; the producer's queue event and the tick
	 * retry it (never poll here: we may be inside a delivery report). */
	TAILQ_INSERT_TAIL(&d->pending,
	    pmsg_new(topic, key, keylen, value, vlen, hdrs, j), entry);
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

static void
daemon_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct daemon *d = opaque;
	struct djob *j = m->_private;
	const char *topic = rd_kafka_topic_name(m->rkt);
	rd_kafka_headers_t *h = NULL, *copy = NULL;

	(void)rk;
	if (d->eos) {
		/* Exactly-once: a failed message fails its transaction,
		 * which is aborted and its jobs consumed again; one refused
		 * for good is remembered, so that its job is answered with
		 * an error result next time instead of failing again. */
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
		    m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
		    m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT &&
		    !dr_retriable(m->err)) {
			log_warnx("job %s topic %s partition %" PRId32
				  " offset %" PRId64
				  ": delivery to %s failed for good: %s",
			    j->id ? j->id : "-", d->conf->jobs_topic,
			    j->partition, j->offset, topic,
			    rd_kafka_err2str(m->err));
			stats_delivery_failure(d->st, topic);
			daemon_add_poison(d, j->partition, j->offset);
		}
		j->acks--;
		djob_release(j);
		return;
	}
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		daemon_delivered(d, j, out_which(d, topic));
		j->acks--;
		djob_release(j);
		return;
	}
	if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
		copy = rd_kafka_headers_copy(h);
	daemon_delivery_failed(
	    d, j, topic, m->key, m->key_len, m->payload, m->len, copy, m->err);
	djob_release(j);
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
	djob_submit(d, j, m->payload ? m->payload : "", m->len);
	daemon_backpressure(d);
}

static void
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

static void
daemon_on_feed(void *arg)
{
	daemon_poll_consumer(arg);
}

static void
daemon_poll_producer(struct daemon *d)
{
	while (rd_kafka_poll(d->prod, 0) > 0)
		;
	daemon_flush_pending(d);
}

static void
daemon_on_consumer_fd(int fd, uint32_t events, void *arg)
{
	kafka_pipe_drain(fd);
	daemon_poll_consumer(arg);
}

static void
daemon_on_producer_fd(int fd, uint32_t events, void *arg)
{
	kafka_pipe_drain(fd);
	daemon_poll_producer(arg);
}

static void
daemon_set_ready(struct daemon *d)
{
	if (d->ready)
		return;
	d->ready = 1;
	notify_send("READY=1\nSTATUS=consuming");
	log_info("ready: consuming %s in group %s", d->conf->jobs_topic,
	    d->conf->group_id);
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

static void
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

/* ---- exactly-once (kafka.exactly_once) ---- */

/* Each transaction call waits at most this long at a time; a retriable
 * failure is retried until TXN_DEADLINE_MS, pinging the watchdog between
 * tries, and then the process ends (a restart resumes from the committed
 * offsets). The unit's WatchdogSec is 30 s. */
#define TXN_CALL_MS 5000
#define TXN_DEADLINE_MS 60000
#define POISON_MAX 1024

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

/*
 * One transaction: the results (and DLQ copies) of each assigned
 * partition's contiguous prefix of finished jobs, and the offsets after
 * them. These are the only blocking Kafka calls in the loop (docs/delivery.md,
 * Exactly-once); the watchdog is pinged between them.
 */
static void
daemon_txn_commit(struct daemon *d)
{
	rd_kafka_topic_partition_list_t *offs;
	rd_kafka_consumer_group_metadata_t *cgmd;
	rd_kafka_error_t *e;
	uint64_t deadline = loop_clock_ms() + TXN_DEADLINE_MS;
	struct djob *j;
	size_t n = 0;

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
		return;
	}
	while ((e = rd_kafka_begin_transaction(d->prod)) != NULL) {
		if (!txn_failed(d, e, "begin transaction", deadline)) {
			rd_kafka_topic_partition_list_destroy(offs);
			daemon_txn_abort(d);
			return;
		}
	}
	for (size_t i = 0; i < d->nparts; i++) {
		struct dpart *p = d->parts[i];
		struct djob *next;

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
	/* Everything must be queued before the commit flushes it; the
	 * watchdog hears from us while we wait. */
	while (!TAILQ_EMPTY(&d->pending)) {
		rd_kafka_poll(d->prod, 10);
		daemon_flush_pending(d);
		if (loop_clock_ms() >= deadline)
			fatalx(
			    "exactly-once: the producer queue does not drain");
		if (loop_clock_ms() - d->heartbeat >= 1000)
			txn_ping(d);
	}
	/* A message the producer refused at once fails the transaction
	 * as a failed delivery would: abort, and redo its jobs. */
	if (d->txn_doomed) {
		d->txn_doomed = 0;
		rd_kafka_topic_partition_list_destroy(offs);
		daemon_txn_abort(d);
		return;
	}
	cgmd = rd_kafka_consumer_group_metadata(d->cons);
	while ((e = rd_kafka_send_offsets_to_transaction(
		    d->prod, offs, cgmd, TXN_CALL_MS)) != NULL) {
		if (!txn_failed(d, e, "send offsets", deadline)) {
			rd_kafka_consumer_group_metadata_destroy(cgmd);
			rd_kafka_topic_partition_list_destroy(offs);
			daemon_txn_abort(d);
			return;
		}
	}
	rd_kafka_consumer_group_metadata_destroy(cgmd);
	txn_ping(d);
	while (
	    (e = rd_kafka_commit_transaction(d->prod, TXN_CALL_MS)) != NULL) {
		if (!txn_failed(d, e, "commit", deadline)) {
			rd_kafka_topic_partition_list_destroy(offs);
			daemon_txn_abort(d);
			return;
		}
	}
	log_debug("exactly-once: committed %zu result(s) and %d offset(s)", n,
	    offs->cnt);
	rd_kafka_topic_partition_list_destroy(offs);
}

static void
daemon_on_txn_timer(void *arg)
{
	struct daemon *d = arg;

	daemon_txn_commit(d);
	loop_timer_set(d->txn_timer, (uint64_t)d->conf->transaction_ms);
}

/* ---- metrics and health ---- */

/* Bring the gauges up to date for a scrape. */
static void
daemon_update_gauges(struct daemon *d)
{
	size_t assigned = 0, paused = 0;

	for (size_t i = 0; i < d->nparts; i++) {
		if (d->parts[i] == NULL)
			continue;
		assigned++;
		paused += d->parts[i]->paused != 0;
	}
	stats_set_partitions(d->st, assigned, paused);
	stats_set_inflight(d->st, d->inflight);
	if (d->pl != NULL && pipeline_scope(d->pl) != NULL)
		stats_set_scope_entries(
		    d->st, scope_count(pipeline_scope(d->pl)));
	stats_set_heartbeat_age(
	    d->st, (double)(loop_clock_ms() - d->heartbeat) / 1000.0);
}

/*
 * GET /metrics, /healthz and /readyz (docs/metrics.md). The answer
 * comes from the loop itself; /healthz also fails when the periodic
 * tick is overdue, i.e. the loop turns but something starves it.
 */
static void
daemon_on_http(void *arg, const char *path, struct httpd_answer *a)
{
	struct daemon *d = arg;
	uint64_t age = loop_clock_ms() - d->heartbeat;

	if (strcmp(path, "/metrics") == 0) {
		daemon_update_gauges(d);
		a->content_type = "text/plain; version=0.0.4; charset=utf-8";
		stats_render(d->st, &a->body);
	} else if (strcmp(path, "/healthz") == 0) {
		if (age > HEALTH_STALE_MS)
			a->status = 503;
		buf_printf(&a->body, "%s: loop heartbeat %" PRIu64 " ms ago\n",
		    a->status == 200 ? "ok" : "stalled", age);
	} else if (strcmp(path, "/readyz") == 0) {
		if (!d->ready)
			buf_puts(&a->body, "not ready: waiting for kafka\n");
		else if (d->state != D_RUNNING)
			buf_puts(&a->body, "not ready: draining\n");
		else if (d->blocked_since[OUT_RESULT] != 0 ||
		    d->blocked_since[OUT_DLQ] != 0)
			buf_printf(&a->body,
			    "not ready: topic %s refuses writes, %zu "
			    "message(s) held\n",
			    out_topic(d,
				d->blocked_since[OUT_RESULT] ? OUT_RESULT
							     : OUT_DLQ),
			    daemon_nheld(d));
		else
			buf_puts(&a->body, "ready\n");
		if (!d->ready || d->state != D_RUNNING ||
		    d->blocked_since[OUT_RESULT] != 0 ||
		    d->blocked_since[OUT_DLQ] != 0)
			a->status = 503;
	} else if (strcmp(path, "/") == 0) {
		buf_puts(&a->body, "vsampd: /metrics /healthz /readyz\n");
	} else {
		a->status = 404;
		buf_puts(&a->body, "not found\n");
	}
}

/* ---- drain ---- */

static void
daemon_begin_drain(struct daemon *d)
{
	rd_kafka_topic_partition_list_t *l;

	if (d->state != D_RUNNING) {
		/* A second signal: stop waiting for in-flight jobs. */
		log_notice("second stop signal: not waiting any longer");
		d->deadline = loop_clock_ms();
		return;
	}
	notify_send("STOPPING=1\nSTATUS=draining");
	log_info("draining: %zu job(s) in flight, waiting up to %ld ms",
	    d->inflight, d->conf->shutdown_timeout_ms);
	d->state = D_DRAINING;
	d->gated = 0; /* polling goes on, with every partition paused */
	d->deadline = loop_clock_ms() + (uint64_t)d->conf->shutdown_timeout_ms;
	if (rd_kafka_assignment(d->cons, &l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (l->cnt > 0)
			rd_kafka_pause_partitions(d->cons, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
	daemon_check_drained(d);
}

static void
daemon_check_drained(struct daemon *d)
{
	if (d->state != D_DRAINING)
		return;
	if (d->inflight == 0 || loop_clock_ms() >= d->deadline)
		d->state = D_DONE;
}

/* ---- reload ---- */

static void
reload_warn(void *arg, const char *msg)
{
	(void)arg;
	log_warnx("reload: %s", msg);
}

/* The changes of a reload, logged once it is applied. */
struct reload_log {
	int applied;
	int restart;
	struct buf lines; /* "R" or "A", then the line, NUL-separated */
};

static void
reload_change(
    void *arg, const char *path, const char *was, const char *now, int restart)
{
	struct reload_log *rl = arg;

	if (restart) {
		rl->restart++;
		buf_printf(&rl->lines,
		    "R%s changed (%s -> %s): needs a restart, keeping %s", path,
		    was, now, was);
	} else {
		rl->applied++;
		buf_printf(&rl->lines, "A%s: %s -> %s", path, was, now);
	}
	buf_append(&rl->lines, "", 1);
}

static void
reload_print(const struct reload_log *rl)
{
	for (size_t off = 0; off < rl->lines.len;) {
		const char *l = rl->lines.data + off;

		if (l[0] == 'R')
			log_warnx("reload: %s", l + 1);
		else
			log_notice("reload: %s", l + 1);
		off += strlen(l) + 1;
	}
}

/*
 * SIGHUP: re-read the config file and apply what can change without
 * reconnecting Kafka (backends, defaults, worker limits, dedup
 * threshold). A config that does not load, or whose backends cannot be
 * made, is rejected whole and the running one stays. Restart-only keys
 * keep their running values. Jobs in flight finish on the config they
 * started with.
 */
static void
daemon_reload(struct daemon *d)
{
	struct conf *next, *old = d->conf;
	struct reload_log rl;
	char err[1024];

	memset(&rl, 0, sizeof(rl));
	buf_init(&rl.lines);
	log_info("SIGHUP: reloading %s", old->path);
	next = conf_load(
	    old->path, CONF_NEED_KAFKA, reload_warn, NULL, err, sizeof(err));
	if (next == NULL) {
		log_warnx("reload rejected, the running configuration stays: "
			  "%s",
		    err);
		stats_reload(d->st, 0);
		return;
	}
	(void)confdiff_each(old, next, reload_change, &rl);
	confdiff_keep_restart(next, old);
	if (pipeline_set_conf(d->pl, next, old, err, sizeof(err)) == -1) {
		confdiff_keep_restart(next, old); /* give them back */
		conf_free(next);
		buf_free(&rl.lines);
		log_warnx("reload rejected, the running configuration stays: "
			  "%s",
		    err);
		stats_reload(d->st, 0);
		return;
	}
	/* old now belongs to the pipeline, freed after its last job. */
	d->conf = next;
	reload_print(&rl);
	buf_free(&rl.lines);
	log_info("reload applied: %d change(s)%s", rl.applied,
	    rl.restart ? ", some need a restart (see above)" : "");
	stats_reload(d->st, 1);
	daemon_backpressure(d);
}

static void
daemon_on_signal(int fd, uint32_t events, void *arg)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("received %s",
			    si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			daemon_begin_drain(d);
			break;
		case SIGHUP:
			daemon_reload(d);
			break;
		default:
			break;
		}
	}
}

/*
 * The dedup state file: a save starts every SAVE_INTERVAL_MS and writes
 * SAVE_SLICE entries per tick, so that saving never stalls the loop.
 * finish != 0 (the drain) writes everything now.
 */
/* The end of a save: the trailer, fsync and rename, on the worker
 * thread (they may take long on a busy disk). */
struct save_task {
	struct daemon *d;
	struct scope_saver *sv;
	int rc;
	char err[512];
};

static void
save_work(void *arg)
{
	struct save_task *t = arg;

	t->rc = scope_save_finish(t->sv, t->err, sizeof(t->err));
}

static void
daemon_saved(struct daemon *d, struct scope_saver *sv, int rc, const char *err)
{
	if (rc == 0)
		log_debug("dedup state saved to %s: %zu entries",
		    d->conf->state_file, scope_save_written(sv));
	else
		log_warnx("dedup state %s: %s", d->conf->state_file, err);
	scope_save_free(sv);
}

static void
save_done(void *arg, int cancelled)
{
	struct save_task *t = arg;
	struct daemon *d = t->d;

	if (!cancelled)
		daemon_saved(d, t->sv, t->rc, t->err);
	else
		scope_save_free(t->sv);
	d->saver = NULL;
	d->save_task = NULL;
	free(t);
}

static void
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
		d->last_save = loop_clock_ms();
		if (scope_count(sc) == 0)
			return;
		d->saver = scope_save_begin(sc, path, err, sizeof(err));
		if (d->saver == NULL) {
			log_warnx("dedup state %s: %s", path, err);
			return;
		}
		scope_save_defer_finish(d->saver);
	}
	do {
		rc = scope_save_step(d->saver, SAVE_SLICE, err, sizeof(err));
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
		rc = scope_save_finish(d->saver, err, sizeof(err));
	daemon_saved(d, d->saver, rc, err);
	d->saver = NULL;
}

static void
daemon_load_state(struct daemon *d)
{
	struct scope *sc = pipeline_scope(d->pl);
	const char *path = d->conf->state_file;
	char err[512];

	if (path == NULL || *path == '\0' || sc == NULL)
		return;
	if (scope_load(sc, path, err, sizeof(err)) == -1)
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
static void
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

static void
daemon_on_tick(void *arg)
{
	struct daemon *d = arg;
	uint64_t now = loop_clock_ms();

	d->heartbeat = now;
	/* librdkafka leaves the group if the consumer is not polled within
	 * max.poll.interval.ms, even while idle or paused: a gate closed
	 * for GATE_MS turns into a pause here, and polling goes on. */
	daemon_backpressure(d);
	daemon_poll_consumer(d);
	daemon_poll_producer(d);
	if (d->watchdog_ms > 0 &&
	    now - d->last_watchdog >= d->watchdog_ms / 2) {
		notify_send("WATCHDOG=1");
		d->last_watchdog = now;
	}
	daemon_save_state(d, 0);
	daemon_check_drained(d);
	loop_timer_set(d->tick, TICK_MS);
}

/* ---- start and stop ---- */

static int
daemon_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Wait until the topics exist; a stop signal meanwhile ends the wait. */
static int
daemon_wait_topics(struct daemon *d)
{
	const char *names[3];
	size_t n = 0;
	char err[256];
	int warned = 0;

	names[n++] = d->conf->jobs_topic;
	names[n++] = d->conf->results_topic;
	if (d->conf->dlq_topic != NULL)
		names[n++] = d->conf->dlq_topic;
	for (;;) {
		struct signalfd_siginfo si;

		if (kafka_topics_exist(
			d->prod, names, n, 1000, err, sizeof(err)) == 0)
			return 0;
		if (!warned++)
			log_warnx("waiting for kafka: %s", err);
		else
			log_debug("still waiting for kafka: %s", err);
		notify_send("STATUS=waiting for topics");
		for (int i = 0; i < 10; i++) {
			if (read(d->sfd, &si, sizeof(si)) ==
			    (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGTERM ||
				    si.ssi_signo == SIGINT)
					return -1;
				if (si.ssi_signo == SIGHUP)
					daemon_reload(d);
			}
			rd_kafka_poll(d->prod, 0);
			/* The endpoint answers meanwhile (/readyz 503). */
			d->heartbeat = loop_clock_ms();
			if (loop_run_once(d->loop, 100) == -1)
				fatal("epoll_wait");
		}
	}
}

static void
daemon_close(struct daemon *d)
{
	struct pmsg *m;
	uint64_t until;

	struct djob *j;

	/* Save the dedup index while it exists; nothing adds to it now.
	 * A save in progress restarts so that it includes every entry
	 * (one whose end the worker is writing is let finish first). */
	if (d->save_task != NULL)
		offload_wait(pipeline_offload(d->pl));
	scope_save_free(d->saver);
	d->saver = NULL;
	daemon_save_state(d, 1);
	/* The last finished jobs' transaction. */
	if (d->eos)
		daemon_txn_commit(d);
	/* Jobs cut off by the deadline produce nothing. */
	pipeline_free(d->pl);
	d->pl = NULL;
	TAILQ_FOREACH(j, &d->jobs, dentry)
	j->in_pipeline = 0;
	daemon_flush_pending(d);
	if (rd_kafka_flush(d->prod, FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warnx("%d message(s) not delivered at shutdown",
		    rd_kafka_outq_len(d->prod));
	for (size_t i = 0; i < d->nparts; i++)
		if (d->parts[i] != NULL)
			dpart_store(d, d->parts[i]);
	if (d->cons != NULL) {
		rd_kafka_error_t *cerr;

		/* Commit what is stored now; closing waits for commits in
		 * flight, and bounds the wait, unlike a synchronous commit. */
		if (!d->eos)
			rd_kafka_commit(d->cons, NULL, 1);
		cerr = rd_kafka_consumer_close_queue(d->cons, d->cq);
		until = loop_clock_ms() + CLOSE_MS;
		if (cerr != NULL) {
			log_warnx("closing the consumer: %s",
			    rd_kafka_error_string(cerr));
			rd_kafka_error_destroy(cerr);
			until = 0;
		}
		while (!rd_kafka_consumer_closed(d->cons) &&
		    loop_clock_ms() < until) {
			rd_kafka_message_t *msg;

			msg = rd_kafka_consumer_poll(d->cons, 100);
			if (msg != NULL)
				rd_kafka_message_destroy(msg);
		}
	}
	while ((m = TAILQ_FIRST(&d->pending)) != NULL) {
		TAILQ_REMOVE(&d->pending, m, entry);
		pmsg_free(m);
	}
	/* Held messages were never delivered: their jobs store nothing. */
	while ((m = TAILQ_FIRST(&d->held)) != NULL) {
		TAILQ_REMOVE(&d->held, m, entry);
		pmsg_free(m);
	}
	d->nheld[OUT_RESULT] = d->nheld[OUT_DLQ] = 0;
	/* Forget every remaining job before the handles go. */
	while ((j = TAILQ_FIRST(&d->jobs)) != NULL)
		djob_free(j);
	for (size_t i = 0; i < d->nparts; i++) {
		struct dpart *p = d->parts[i];

		if (p == NULL)
			continue;
		tracker_free(p->tr);
		free(p);
	}
	free(d->parts);
	d->parts = NULL;
	free(d->paused_gone);
	d->paused_gone = NULL;
	/* A clean exit: what was in flight was drained or cut off on
	 * purpose, and is no suspect. */
	inflight_close(d->inf);
	d->inf = NULL;
	d->nparts = 0;
}

int
daemon_run(struct conf *conf)
{
	struct daemon dd, *d = &dd;
	rd_kafka_topic_partition_list_t *topics;
	char err[512];
	int status = 0;

	memset(d, 0, sizeof(*d));
	d->conf = conf;
	d->cfd = d->cwfd = d->pfd = d->pwfd = -1;
	TAILQ_INIT(&d->pending);
	TAILQ_INIT(&d->held);
	TAILQ_INIT(&d->jobs);
	TAILQ_INIT(&d->forgotten);
	if ((d->sfd = daemon_signalfd()) == -1)
		fatal("signalfd");
	if ((d->loop = loop_new()) == NULL)
		fatal("epoll");
	d->pl =
	    pipeline_new(d->loop, conf, daemon_on_result, d, err, sizeof(err));
	if (d->pl == NULL)
		fatalx("%s", err);
	d->st = stats_new(PACKAGE_VERSION);
	pipeline_set_stats(d->pl, d->st);
	stats_delivery_failure_topic(d->st, conf->results_topic);
	if (conf->dlq_topic != NULL)
		stats_delivery_failure_topic(d->st, conf->dlq_topic);
	d->heartbeat = loop_clock_ms();
	if (conf->metrics_listen != NULL && *conf->metrics_listen != '\0') {
		d->httpd = httpd_new(d->loop, conf->metrics_listen,
		    daemon_on_http, d, err, sizeof(err));
		if (d->httpd == NULL)
			fatalx("%s", err);
		log_info("metrics endpoint on http://%s/metrics",
		    conf->metrics_listen);
	}
	d->prod =
	    kafka_producer_new(conf, daemon_on_delivery, d, err, sizeof(err));
	if (d->prod == NULL)
		fatalx("%s", err);
	d->eos = conf->exactly_once;
	if (d->eos) {
		rd_kafka_error_t *e;

		/* Blocking, at start: fences an older instance of the same
		 * transactional_id and aborts what it left open. */
		e = rd_kafka_init_transactions(d->prod, TXN_DEADLINE_MS);
		if (e != NULL)
			fatalx("exactly-once: cannot initialise transactions "
			       "for %s: %s",
			    conf->transactional_id, rd_kafka_error_string(e));
		log_info("exactly-once: transactional id %s, a transaction "
			 "every %ld ms",
		    conf->transactional_id, conf->transaction_ms);
	}
	d->cons = kafka_consumer_new(
	    conf, conf->group_id, daemon_rebalance, d, err, sizeof(err));
	if (d->cons == NULL)
		fatalx("%s", err);

	daemon_load_state(d);
	daemon_open_inflight(d);
	if (daemon_wait_topics(d) == -1) {
		log_info("stopped while waiting for kafka");
		goto out;
	}
	d->cq = rd_kafka_queue_get_consumer(d->cons);
	d->pq = rd_kafka_queue_get_main(d->prod);
	if ((d->cfd = kafka_queue_pipe(d->cq, &d->cwfd)) == -1 ||
	    (d->pfd = kafka_queue_pipe(d->pq, &d->pwfd)) == -1)
		fatal("pipe");
	d->cio =
	    loop_io_add(d->loop, d->cfd, EPOLLIN, daemon_on_consumer_fd, d);
	d->pio =
	    loop_io_add(d->loop, d->pfd, EPOLLIN, daemon_on_producer_fd, d);
	d->sio = loop_io_add(d->loop, d->sfd, EPOLLIN, daemon_on_signal, d);
	if (d->cio == NULL || d->pio == NULL || d->sio == NULL)
		fatal("epoll_ctl");
	d->tick = loop_timer_new(d->loop, daemon_on_tick, d);
	d->feed = loop_timer_new(d->loop, daemon_on_feed, d);
	d->retry = loop_timer_new(d->loop, daemon_on_retry, d);
	loop_timer_set(d->tick, TICK_MS);
	if (d->eos) {
		d->txn_timer = loop_timer_new(d->loop, daemon_on_txn_timer, d);
		loop_timer_set(d->txn_timer, (uint64_t)conf->transaction_ms);
	}
	d->watchdog_ms = notify_watchdog_ms();

	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(
	    topics, conf->jobs_topic, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(d->cons, topics) != RD_KAFKA_RESP_ERR_NO_ERROR)
		fatalx("cannot subscribe to %s", conf->jobs_topic);
	rd_kafka_topic_partition_list_destroy(topics);
	log_info("started: brokers %s, group %s, jobs %s, results %s",
	    conf->brokers, conf->group_id, conf->jobs_topic,
	    conf->results_topic);

	/* Serve whatever was queued before the pipes were set up. */
	daemon_poll_consumer(d);
	daemon_poll_producer(d);
	while (d->state != D_DONE) {
		if (loop_run_once(d->loop, -1) == -1)
			fatal("epoll_wait");
	}
	log_info("drained: %zu job(s) left unfinished", d->inflight);
	daemon_close(d);
	loop_io_del(d->cio);
	loop_io_del(d->pio);
	loop_io_del(d->sio);
	loop_timer_free(d->tick);
	loop_timer_free(d->feed);
	loop_timer_free(d->retry);
	loop_timer_free(d->txn_timer);
	rd_kafka_queue_io_event_enable(d->cq, -1, NULL, 0);
	rd_kafka_queue_io_event_enable(d->pq, -1, NULL, 0);
	rd_kafka_queue_destroy(d->cq);
	rd_kafka_queue_destroy(d->pq);
out:
	httpd_free(d->httpd);
	pipeline_free(d->pl);
	if (d->cons != NULL)
		rd_kafka_destroy(d->cons);
	if (d->prod != NULL)
		rd_kafka_destroy(d->prod);
	{
		int fds[] = {d->cfd, d->cwfd, d->pfd, d->pwfd, d->sfd};

		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
			if (fds[i] != -1)
				close(fds[i]);
	}
	loop_free(d->loop);
	stats_free(d->st);
	conf_free(d->conf); /* after the pipeline, which borrows it */
	log_info("stopped");
	return status;
}

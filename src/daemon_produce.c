/*
 * daemon_produce: the producing half of the daemon. It encodes a job's
 * result (and the DLQ copy of a failed one), hands them to the producer,
 * and turns delivery reports into the job's acks: a message-level
 * refusal gets a small fallback, a topic-level one holds the message and
 * retries it with backoff (docs/delivery.md). It never consumes and never
 * commits: a job's offset moves only when djob_release() sees every ack.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "conf.h"
#include "daemon_int.h"
#include "dlq.h"
#include "kafka.h"
#include "log.h"
#include "loop.h"
#include "result.h"
#include "stats.h"
#include "xmalloc.h"

static void daemon_produce(struct daemon *d, const char *topic, const char *key,
    size_t keylen, const char *value, size_t vlen, rd_kafka_headers_t *hdrs,
    struct djob *j);
static void daemon_delivery_failed(struct daemon *d, struct djob *j,
    const char *topic, int32_t partition, const char *key, size_t keylen,
    const void *value, size_t vlen, rd_kafka_headers_t *hdrs,
    rd_kafka_resp_err_t err);
static void djob_forget_offset(struct djob *j);

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
	rd_kafka_header_add(h, DLQ_HDR_ERROR, -1, err_code_name(r->code), -1);
	rd_kafka_header_add(
	    h, DLQ_HDR_ERROR_MESSAGE, -1, r->errmsg ? r->errmsg : "", -1);
	snprintf(num, sizeof(num), "%u", r->attempts);
	rd_kafka_header_add(h, DLQ_HDR_ATTEMPTS, -1, num, -1);
	rd_kafka_header_add(h, DLQ_HDR_SOURCE_TOPIC, -1, c->jobs_topic, -1);
	snprintf(num, sizeof(num), "%" PRId32, j->partition);
	rd_kafka_header_add(h, DLQ_HDR_SOURCE_PARTITION, -1, num, -1);
	snprintf(num, sizeof(num), "%" PRId64, j->offset);
	rd_kafka_header_add(h, DLQ_HDR_SOURCE_OFFSET, -1, num, -1);
	if (j->value == NULL) {
		snprintf(num, sizeof(num), "%zu", j->vlen);
		rd_kafka_header_add(h, DLQ_HDR_ORIGINAL_SIZE, -1, num, -1);
	}
	return h;
}

/* Encode r and produce it (and the DLQ copy of a failed job). */
void
daemon_emit(struct daemon *d, struct djob *j, struct result *r)
{
	const struct conf *c = d->conf;
	rd_kafka_headers_t *h;
	char *buf, msg[160];
	size_t len;
	const char *key;
	size_t keylen;

	result_stamp(r);
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
	/* Its entries of the dedup changelog, once (not again with a
	 * replacement result). */
	daemon_scope_emit(d, j);
}

/* The pipeline's result callback. */
void
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
	if (strcmp(topic, d->conf->results_topic) == 0)
		return OUT_RESULT;
	if (d->conf->scope_topic != NULL &&
	    strcmp(topic, d->conf->scope_topic) == 0)
		return OUT_SCOPE;
	return OUT_DLQ;
}

const char *
out_topic(const struct daemon *d, int which)
{
	if (which == OUT_SCOPE)
		return d->conf->scope_topic;
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
pmsg_new(const char *topic, int32_t partition, const char *key, size_t keylen,
    const void *value, size_t vlen, rd_kafka_headers_t *hdrs, struct djob *j)
{
	struct pmsg *q = xcalloc(1, sizeof(*q));

	q->topic = xstrdup(topic);
	q->partition = partition;
	q->key = key ? xstrndup(key, keylen) : NULL;
	q->keylen = keylen;
	/* NULL stays NULL: a changelog tombstone has no value at all. */
	if (value != NULL) {
		q->value = xmalloc(vlen + 1);
		if (vlen > 0)
			memcpy(q->value, value, vlen);
		q->value[vlen] = '\0';
	}
	q->vlen = vlen;
	q->hdrs = hdrs;
	q->job = j;
	return q;
}

void
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

size_t
daemon_nheld(const struct daemon *d)
{
	return d->nheld[OUT_RESULT] + d->nheld[OUT_DLQ] + d->nheld[OUT_SCOPE];
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
    int32_t partition, const char *key, size_t keylen, const void *value,
    size_t vlen, rd_kafka_headers_t *hdrs, rd_kafka_resp_err_t err)
{
	int w = out_which(d, topic);
	struct pmsg *m;

	if (d->eos) {
		daemon_txn_produce_failed(
		    d, j, topic, err, dr_message_level(err));
		if (hdrs != NULL)
			rd_kafka_headers_destroy(hdrs);
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
	/* A changelog record is tiny and has no smaller fallback: its
	 * refusal is the topic's, and holds it. */
	if (dr_message_level(err) && j->stage[w] == 0 && w != OUT_SCOPE) {
		log_warnx("job %s topic %s partition %" PRId32
			  " offset %" PRId64 ": %s refused the %s (%s); "
			  "sending a small one instead",
		    j->id ? j->id : "-", d->conf->jobs_topic, j->partition,
		    j->offset, topic, w == OUT_RESULT ? "result" : "DLQ copy",
		    rd_kafka_err2str(err));
		d->delivery_failures++;
		stats_delivery_failure(d->st, topic);
		j->orig[w] = pmsg_new(
		    topic, partition, key, keylen, value, vlen, hdrs, j);
		j->stage[w] = 1;
		j->acks--;
		if (w == OUT_RESULT) {
			daemon_replace_result(d, j, err);
		} else {
			char num[32];
			rd_kafka_headers_t *h = hdrs != NULL
			    ? rd_kafka_headers_copy(hdrs)
			    : rd_kafka_headers_new(1);

			rd_kafka_header_remove(h, DLQ_HDR_ORIGINAL_SIZE);
			snprintf(num, sizeof(num), "%zu", j->vlen);
			rd_kafka_header_add(
			    h, DLQ_HDR_ORIGINAL_SIZE, -1, num, -1);
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
	daemon_hold(d,
	    pmsg_new(topic, partition, key, keylen, value, vlen, hdrs, j), err);
}

/* Returns 0 when produced (or failed, and handled), -1 on QUEUE_FULL.
 * The headers are taken either way but on QUEUE_FULL. */
static int
daemon_try_produce(struct daemon *d, struct pmsg *m)
{
	rd_kafka_resp_err_t err;
	rd_kafka_headers_t *h = m->hdrs;

	err = rd_kafka_producev(d->prod, RD_KAFKA_V_TOPIC(m->topic),
	    RD_KAFKA_V_PARTITION(m->partition),
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
		daemon_delivery_failed(d, m->job, m->topic, m->partition,
		    m->key, m->keylen, m->value, m->vlen, h, err);
	return 0;
}

/* Retry what waited for room in the producer queue, in order. */
void
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
void
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

/*
 * Produce a copy of value for job j to topic's partition (the
 * partitioner's with RD_KAFKA_PARTITION_UA); takes ownership of hdrs.
 * The job holds an ack for it until it is delivered.
 */
void
daemon_produce_to(struct daemon *d, const char *topic, int32_t partition,
    const char *key, size_t keylen, const char *value, size_t vlen,
    rd_kafka_headers_t *hdrs, struct djob *j)
{
	struct pmsg m;

	memset(&m, 0, sizeof(m));
	m.topic = (char *)topic;
	m.partition = partition;
	m.key = (char *)key;
	m.keylen = keylen;
	m.value = (char *)value;
	m.vlen = vlen;
	m.hdrs = hdrs;
	m.job = j;
	j->acks++;
	if (TAILQ_EMPTY(&d->pending) && daemon_try_produce(d, &m) == 0)
		return;
	/* QUEUE_FULL: keep a copy; the producer's queue event and the tick
	 * retry it (never poll here: we may be inside a delivery report). */
	TAILQ_INSERT_TAIL(&d->pending,
	    pmsg_new(topic, partition, key, keylen, value, vlen, hdrs, j),
	    entry);
}

/* daemon_produce_to() the partitioner's partition. */
static void
daemon_produce(struct daemon *d, const char *topic, const char *key,
    size_t keylen, const char *value, size_t vlen, rd_kafka_headers_t *hdrs,
    struct djob *j)
{
	daemon_produce_to(
	    d, topic, RD_KAFKA_PARTITION_UA, key, keylen, value, vlen, hdrs, j);
}

void
daemon_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct daemon *d = opaque;
	struct djob *j = m->_private;
	const char *topic = rd_kafka_topic_name(m->rkt);
	rd_kafka_headers_t *h = NULL, *copy = NULL;
	int w;

	(void)rk;
	if (d->eos) {
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    out_which(d, topic) == OUT_SCOPE)
			daemon_scope_delivered(d, j, m->partition, m->offset);
		daemon_txn_delivered(d, j, topic, m->err);
		j->acks--;
		djob_release(j);
		return;
	}
	w = out_which(d, topic);
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		daemon_delivered(d, j, w);
		if (w == OUT_SCOPE)
			daemon_scope_delivered(d, j, m->partition, m->offset);
		j->acks--;
		djob_release(j);
		return;
	}
	if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
		copy = rd_kafka_headers_copy(h);
	/* A result's partition is the partitioner's again; a changelog
	 * record's is the job's. */
	daemon_delivery_failed(d, j, topic,
	    w == OUT_SCOPE ? m->partition : RD_KAFKA_PARTITION_UA, m->key,
	    m->key_len, m->payload, m->len, copy, m->err);
	djob_release(j);
}

void
daemon_poll_producer(struct daemon *d)
{
	while (rd_kafka_poll(d->prod, 0) > 0)
		;
	daemon_flush_pending(d);
}

void
daemon_on_producer_fd(int fd, uint32_t events, void *arg)
{
	kafka_pipe_drain(fd);
	daemon_poll_producer(arg);
}
